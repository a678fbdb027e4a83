/*
 * test_wasm_validate.c — the validator (src/wasm/validate.c) on small modules.
 *
 * The embedded modules were produced by `wat2wasm --no-check` from the text
 * shown above each; the others are assembled here byte by byte, like the spec
 * suite's binary.wast, for things the text format cannot express (malformed
 * bodies, 100,000 nested blocks). Each check runs decode + validate and looks
 * at the status, the message prefix and, for body errors, the byte offset of
 * the offending instruction.
 */
#include <stdlib.h>

#include "check.h"
#include "module.h"

/* (module (memory 1) (func (drop (i32.load align=8 (i32.const 0))))) */
static const uint8_t m_align[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60,
    0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01, 0x0a,
    0x0a, 0x01, 0x08, 0x00, 0x41, 0x00, 0x28, 0x03, 0x00, 0x1a, 0x0b,
};

/* (module (func (block (result i32) (block (br_table 0 1 (i32.const 0) (i32.const 0))) (i32.const
 * 0)))) */
static const uint8_t m_br_table_arity[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
    0x03, 0x02, 0x01, 0x00, 0x0a, 0x14, 0x01, 0x12, 0x00, 0x02, 0x7f, 0x02, 0x40, 0x41,
    0x00, 0x41, 0x00, 0x0e, 0x01, 0x00, 0x01, 0x0b, 0x41, 0x00, 0x0b, 0x0b,
};

/* (module (func $f) (export "a" (func $f)) (export "a" (func $f))) */
static const uint8_t m_dup_export[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60,
    0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x07, 0x09, 0x02, 0x01, 0x61, 0x00,
    0x00, 0x01, 0x61, 0x00, 0x00, 0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b,
};

/* (module (table 1 funcref) (elem (i32.const 0) externref (ref.null extern))) */
static const uint8_t m_elem_type[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x04, 0x04, 0x01, 0x70, 0x00, 0x01,
    0x09, 0x0b, 0x01, 0x06, 0x00, 0x41, 0x00, 0x0b, 0x6f, 0x01, 0xd0, 0x6f, 0x0b,
};

/* (module (table 1 externref) (func (call_indirect (i32.const 0)))) */
static const uint8_t m_externref_table[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60,
    0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x04, 0x04, 0x01, 0x6f, 0x00, 0x01,
    0x0a, 0x09, 0x01, 0x07, 0x00, 0x41, 0x00, 0x11, 0x00, 0x00, 0x0b,
};

/* (module (global i32 (i32.const 0)) (func (global.set 0 (i32.const 1)))) */
static const uint8_t m_global_immutable[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60,
    0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x06, 0x06, 0x01, 0x7f, 0x00, 0x41,
    0x00, 0x0b, 0x0a, 0x08, 0x01, 0x06, 0x00, 0x41, 0x01, 0x24, 0x00, 0x0b,
};

/* (module (import "m" "g" (global (mut i32))) (global i32 (global.get 0))) */
static const uint8_t m_global_init_mut[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x02, 0x08, 0x01, 0x01, 0x6d,
    0x01, 0x67, 0x03, 0x7f, 0x01, 0x06, 0x06, 0x01, 0x7f, 0x00, 0x23, 0x00, 0x0b,
};

/* (module (func (result i32) (if (result i32) (i32.const 0) (then (i32.const 1))))) */
static const uint8_t m_if_no_else[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, 0x03,
    0x02, 0x01, 0x00, 0x0a, 0x0b, 0x01, 0x09, 0x00, 0x41, 0x00, 0x04, 0x7f, 0x41, 0x01, 0x0b, 0x0b,
};

/* (module (memory 1) (memory 1)) */
static const uint8_t m_multi_mem[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x05, 0x02, 0x00, 0x01, 0x00, 0x01,
};

/* (module (func (drop (memory.size)))) */
static const uint8_t m_no_memory[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
    0x03, 0x02, 0x01, 0x00, 0x0a, 0x07, 0x01, 0x05, 0x00, 0x3f, 0x00, 0x1a, 0x0b,
};

/* (module (func (param funcref) (drop (select (local.get 0) (local.get 0) (i32.const 1))))) */
static const uint8_t m_select_ref[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01,
    0x60, 0x01, 0x70, 0x00, 0x03, 0x02, 0x01, 0x00, 0x0a, 0x0c, 0x01,
    0x0a, 0x00, 0x20, 0x00, 0x20, 0x00, 0x41, 0x01, 0x1b, 0x1a, 0x0b,
};

/* (module (func $s (param i32)) (start $s)) */
static const uint8_t m_start_type[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x01, 0x7f,
    0x00, 0x03, 0x02, 0x01, 0x00, 0x08, 0x01, 0x00, 0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b,
};

/* (module (func (result i32) (i32.add (i32.const 1) (f32.const 2)))) */
static const uint8_t m_type_mismatch[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01,
    0x60, 0x00, 0x01, 0x7f, 0x03, 0x02, 0x01, 0x00, 0x0a, 0x0c, 0x01,
    0x0a, 0x00, 0x41, 0x01, 0x43, 0x00, 0x00, 0x00, 0x40, 0x6a, 0x0b,
};

/* (module (func $f) (func (drop (ref.func $f)))) */
static const uint8_t m_undeclared_ref[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x03,
    0x02, 0x00, 0x00, 0x0a, 0x0a, 0x02, 0x02, 0x00, 0x0b, 0x05, 0x00, 0xd2, 0x00, 0x1a, 0x0b,
};

/* (module (func (call 5))) */
static const uint8_t m_unknown_func[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00,
    0x00, 0x03, 0x02, 0x01, 0x00, 0x0a, 0x06, 0x01, 0x04, 0x00, 0x10, 0x05, 0x0b,
};

/* (module (func (block (br 2)))) */
static const uint8_t m_unknown_label[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03,
    0x02, 0x01, 0x00, 0x0a, 0x09, 0x01, 0x07, 0x00, 0x02, 0x40, 0x0c, 0x02, 0x0b, 0x0b,
};

/* (module (func (local i32) (drop (local.get 3)))) */
static const uint8_t m_unknown_local[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03,
    0x02, 0x01, 0x00, 0x0a, 0x09, 0x01, 0x07, 0x01, 0x01, 0x7f, 0x20, 0x03, 0x1a, 0x0b,
};

/*
(module
  (type $pair (func (param i32) (result i32 i64)))
  (memory 1)
  (table 2 funcref)
  (global $g (mut i32) (i32.const 0))
  (elem declare func $f)
  (func $f (param i32) (result i32)
    (local i64 f32)
    block $out (result i32)
      loop $l
        local.get 0
        i32.eqz
        br_if $l
      end
      local.get 0
      block (type $pair)
        i64.const 7
      end
      drop
      local.get 0
      br_table 0 0
    end)
  (func (result i32)
    unreachable
    i32.add
    drop
    (select (f32.const 1) (f32.const 2) (i32.const 0))
    drop
    (drop (ref.is_null (ref.func $f)))
    (memory.fill (i32.const 0) (i32.const 0) (i32.const 0))
    (i32.store offset=4 align=4 (i32.const 0) (i32.load8_u (i32.const 1)))
    (global.set $g (i32.trunc_sat_f64_s (f64.const 1)))
    (call_indirect (param i32) (result i32) (i32.const 1) (i32.const 0))))
 */
static const uint8_t m_valid_features[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x10, 0x03, 0x60, 0x01, 0x7f, 0x02, 0x7f,
    0x7e, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x01, 0x7f, 0x03, 0x03, 0x02, 0x01, 0x02, 0x04,
    0x04, 0x01, 0x70, 0x00, 0x02, 0x05, 0x03, 0x01, 0x00, 0x01, 0x06, 0x06, 0x01, 0x7f, 0x01, 0x41,
    0x00, 0x0b, 0x09, 0x05, 0x01, 0x03, 0x00, 0x01, 0x00, 0x0a, 0x60, 0x02, 0x1f, 0x02, 0x01, 0x7e,
    0x01, 0x7d, 0x02, 0x7f, 0x03, 0x40, 0x20, 0x00, 0x45, 0x0d, 0x00, 0x0b, 0x20, 0x00, 0x02, 0x00,
    0x42, 0x07, 0x0b, 0x1a, 0x20, 0x00, 0x0e, 0x01, 0x00, 0x00, 0x0b, 0x0b, 0x3e, 0x00, 0x00, 0x6a,
    0x1a, 0x43, 0x00, 0x00, 0x80, 0x3f, 0x43, 0x00, 0x00, 0x00, 0x40, 0x41, 0x00, 0x1b, 0x1a, 0xd2,
    0x00, 0xd1, 0x1a, 0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0xfc, 0x0b, 0x00, 0x41, 0x00, 0x41, 0x01,
    0x2d, 0x00, 0x00, 0x36, 0x02, 0x04, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f, 0xfc,
    0x02, 0x24, 0x00, 0x41, 0x01, 0x41, 0x00, 0x11, 0x01, 0x00, 0x0b,
};

/* Decodes and validates; returns the status (WASM_OK if both pass) and fills *err. */
static wasm_status load(const uint8_t *bytes, size_t len, wasm_error *err)
{
    wasm_module m;
    memset(err, 0, sizeof *err);
    if (!wasm_decode(&m, bytes, len, err))
        return err->status;
    bool ok = wasm_validate(&m, err);
    wasm_module_clear(&m);
    return ok ? WASM_OK : err->status;
}

/* Expects rejection with status, a message starting with prefix and, unless
 * offset is (size_t)-1, that byte offset. */
#define EXPECT(bytes, len, status_, prefix, offset_)          \
    do {                                                      \
        wasm_error e_;                                        \
        CHECK_EQ(load((bytes), (len), &e_), (status_));       \
        if (strncmp(e_.msg, (prefix), strlen(prefix)) != 0) { \
            CHECK(!"message prefix: " prefix);                \
            fprintf(stderr, "    got: %s\n", e_.msg);         \
        }                                                     \
        if ((size_t)(offset_) != (size_t)-1)                  \
            CHECK_EQ(e_.offset, (offset_));                   \
    } while (0)

#define EXPECT_M(arr, status_, prefix, offset_) EXPECT(arr, sizeof arr, status_, prefix, offset_)
#define ANY                                     ((size_t)-1)

/* ---- a tiny module assembler for hand-made bodies ---------------------- */

typedef struct bin {
    uint8_t *p;
    size_t len, cap;
} bin;

static void put(bin *b, const void *src, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort(); /* test harness only */
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void put_u8(bin *b, uint8_t v)
{
    put(b, &v, 1);
}

static void put_leb(bin *b, uint64_t v)
{
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        put_u8(b, byte | (v ? 0x80 : 0));
    } while (v);
}

static void put_section(bin *b, uint8_t id, const bin *payload)
{
    put_u8(b, id);
    put_leb(b, payload->len);
    put(b, payload->p, payload->len);
}

enum { WITH_MEMORY = 1, WITH_DATA = 2, WITH_DATA_COUNT = 4 };

/* A module with type 0 = [] -> [], nbodies functions of type 0 whose code
 * (after an empty locals vector) is bodies[i], and the extras in flags.
 * offsets[i], if given, receives the offset of each body's first instruction. */
static bin assemble(const bin *bodies, int nbodies, int flags, size_t *offsets)
{
    bin m = {0}, s = {0};
    put(&m, "\0asm\1\0\0\0", 8);
    put(&s, "\x01\x60\x00\x00", 4);
    put_section(&m, 1, &s);
    s.len = 0;
    put_leb(&s, (uint64_t)nbodies);
    for (int i = 0; i < nbodies; i++)
        put_u8(&s, 0);
    put_section(&m, 3, &s);
    if (flags & WITH_MEMORY) {
        s.len = 0;
        put(&s, "\x01\x00\x01", 3);
        put_section(&m, 5, &s);
    }
    if (flags & WITH_DATA_COUNT) {
        s.len = 0;
        put_u8(&s, 1);
        put_section(&m, 12, &s);
    }
    s.len = 0;
    put_leb(&s, (uint64_t)nbodies);
    size_t rel[16];
    for (int i = 0; i < nbodies; i++) {
        put_leb(&s, bodies[i].len + 1);
        put_u8(&s, 0); /* no locals */
        rel[i] = s.len;
        put(&s, bodies[i].p, bodies[i].len);
    }
    put_u8(&m, 10);
    put_leb(&m, s.len);
    for (int i = 0; offsets && i < nbodies; i++)
        offsets[i] = m.len + rel[i];
    put(&m, s.p, s.len);
    if (flags & WITH_DATA) {
        s.len = 0;
        put(&s, "\x01\x01\x01\x00", 4); /* one passive segment of one byte */
        put_section(&m, 11, &s);
    }
    free(s.p);
    return m;
}

/* Assembles a one-function module from a byte string and checks it. */
static wasm_status load_body(const char *code, size_t n, int flags, wasm_error *err,
                             size_t *body_at)
{
    bin body = {(uint8_t *)code, n, n};
    bin m = assemble(&body, 1, flags, body_at);
    wasm_status st = load(m.p, m.len, err);
    free(m.p);
    return st;
}

#define BODY(code, flags, status_, prefix, rel_offset)                           \
    do {                                                                         \
        wasm_error e_;                                                           \
        size_t at_;                                                              \
        CHECK_EQ(load_body(code, sizeof code - 1, flags, &e_, &at_), (status_)); \
        if (strncmp(e_.msg, (prefix), strlen(prefix)) != 0) {                    \
            CHECK(!"message prefix: " prefix);                                   \
            fprintf(stderr, "    got: %s\n", e_.msg);                            \
        }                                                                        \
        if ((size_t)(rel_offset) != ANY)                                         \
            CHECK_EQ(e_.offset, at_ + (rel_offset));                             \
    } while (0)

static void test_embedded(void)
{
    wasm_error e;
    CHECK_EQ(load(m_valid_features, sizeof m_valid_features, &e), WASM_OK);

    EXPECT_M(m_type_mismatch, WASM_ERR_INVALID, "type mismatch", 0x1f);
    EXPECT_M(m_unknown_local, WASM_ERR_INVALID, "unknown local 3", 0x19);
    EXPECT_M(m_global_immutable, WASM_ERR_INVALID, "global is immutable", 0x21);
    EXPECT_M(m_unknown_label, WASM_ERR_INVALID, "unknown label", 0x19);
    EXPECT_M(m_unknown_func, WASM_ERR_INVALID, "unknown function 5", 0x17);
    EXPECT_M(m_align, WASM_ERR_INVALID, "alignment must not be larger than natural", 0x1e);
    EXPECT_M(m_undeclared_ref, WASM_ERR_INVALID, "undeclared function reference", 0x1b);
    EXPECT_M(m_if_no_else, WASM_ERR_INVALID, "type mismatch", 0x1e);
    EXPECT_M(m_select_ref, WASM_ERR_INVALID, "type mismatch", 0x1e);
    EXPECT_M(m_br_table_arity, WASM_ERR_INVALID, "type mismatch", 0x1f);
    EXPECT_M(m_no_memory, WASM_ERR_INVALID, "unknown memory", 0x17);
    EXPECT_M(m_externref_table, WASM_ERR_INVALID, "type mismatch", 0x1f);
    /* module-level rules: the offset is that of the section */
    EXPECT_M(m_dup_export, WASM_ERR_INVALID, "duplicate export name", 0x12);
    EXPECT_M(m_multi_mem, WASM_ERR_INVALID, "multiple memories", ANY);
    EXPECT_M(m_start_type, WASM_ERR_INVALID, "start function", ANY);
    EXPECT_M(m_global_init_mut, WASM_ERR_INVALID, "constant expression required", ANY);
    EXPECT_M(m_elem_type, WASM_ERR_INVALID, "type mismatch", ANY);
}

static void test_bodies(void)
{
    wasm_error e;
    size_t at;

    /* unreachable code is polymorphic: i32.add pops two unknowns */
    CHECK_EQ(load_body("\x00\x6a\x1a\x0b", 4, 0, &e, &at), WASM_OK);
    BODY("\x00\x43\0\0\0\0\x6a\x1a\x0b", 0, WASM_ERR_INVALID, "type mismatch", 6);
    /* an opcode that does not exist, also inside unreachable code */
    BODY("\x00\x06\x0b", 0, WASM_ERR_MALFORMED, "illegal opcode", 1);
    BODY("\xfc\x12\x0b", 0, WASM_ERR_MALFORMED, "illegal opcode", 0);
    /* memory.size's reserved byte */
    BODY("\x3f\x01\x1a\x0b", WITH_MEMORY, WASM_ERR_MALFORMED, "zero byte expected", 1);
    BODY("\x3f\x80\x00\x1a\x0b", WITH_MEMORY, WASM_ERR_MALFORMED, "zero byte expected", 1);
    /* truncated or overlong immediates */
    BODY("\x41\x80\x80\x80\x80\x80\x00\x0b", 0, WASM_ERR_MALFORMED,
         "integer representation too long", 1);
    BODY("\x41\x80", 0, WASM_ERR_MALFORMED, "unexpected end", 1);
    /* the body must end exactly with the function's end */
    BODY("\x41\x01\x1a", 0, WASM_ERR_MALFORMED, "unexpected end", 3);
    BODY("\x0b\x01", 0, WASM_ERR_MALFORMED, "section size mismatch", 1);
    BODY("\x02\x40\x05\x0b\x0b", 0, WASM_ERR_MALFORMED, "END opcode expected", 2);
    /* data.drop needs the data count section; without segments it is just invalid */
    BODY("\xfc\x09\x00\x0b", WITH_MEMORY | WITH_DATA, WASM_ERR_MALFORMED,
         "data count section required", 0);
    BODY("\xfc\x09\x00\x0b", WITH_MEMORY, WASM_ERR_INVALID, "unknown data segment", 0);
    CHECK_EQ(load_body("\xfc\x09\x00\x0b", 4, WITH_MEMORY | WITH_DATA | WITH_DATA_COUNT, &e, &at),
             WASM_OK);
    BODY("\xfc\x09\x01\x0b", WITH_MEMORY | WITH_DATA | WITH_DATA_COUNT, WASM_ERR_INVALID,
         "unknown data segment 1", 0);
    /* typed select takes exactly one type */
    BODY("\x41\x00\x41\x00\x41\x00\x1c\x02\x7f\x7f\x1a\x0b", 0, WASM_ERR_INVALID,
         "invalid result arity", 6);
    /* a block type naming a missing type */
    BODY("\x02\x05\x0b\x0b", 0, WASM_ERR_INVALID, "unknown type", 0);

    /* a malformed body wins over an earlier invalid one, as in the reference
     * interpreter, which decodes everything before validating */
    bin two[2] = {{(uint8_t *)"\x6a\x0b", 2, 2}, {(uint8_t *)"\x06\x0b", 2, 2}};
    size_t offs[2];
    bin m = assemble(two, 2, 0, offs);
    CHECK_EQ(load(m.p, m.len, &e), WASM_ERR_MALFORMED);
    CHECK_EQ(e.offset, offs[1]);
    free(m.p);

    /* errors without a wasm_error to fill */
    wasm_module mod;
    m = assemble(two, 1, 0, NULL);
    CHECK(wasm_decode(&mod, m.p, m.len, &e));
    CHECK(!wasm_validate(&mod, NULL));
    wasm_module_clear(&mod);
    free(m.p);
}

static void test_deep_nesting(void)
{
    enum { N = 100000 };
    bin body = {0};
    for (int i = 0; i < N; i++)
        put(&body, "\x02\x40", 2); /* block */
    size_t inner = body.len;
    for (int i = 0; i <= N; i++)
        put_u8(&body, 0x0b); /* N ends, then the function's */
    size_t at;
    bin m = assemble(&body, 1, 0, &at);
    wasm_error e;
    CHECK_EQ(load(m.p, m.len, &e), WASM_OK);
    free(m.p);

    /* the same with an i32.add in the innermost block */
    bin bad = {0};
    put(&bad, body.p, inner);
    put_u8(&bad, 0x6a);
    put(&bad, body.p + inner, body.len - inner);
    m = assemble(&bad, 1, 0, &at);
    CHECK_EQ(load(m.p, m.len, &e), WASM_ERR_INVALID);
    CHECK_EQ(e.offset, at + inner);
    free(m.p);

    /* one end short: every block stays open to the end of the body */
    m = assemble(&(bin){body.p, body.len - 1, 0}, 1, 0, &at);
    CHECK_EQ(load(m.p, m.len, &e), WASM_ERR_MALFORMED);
    free(m.p);
    free(body.p);
    free(bad.p);
}

int main(void)
{
    test_embedded();
    test_bodies();
    test_deep_nesting();
    return CHECK_DONE();
}
