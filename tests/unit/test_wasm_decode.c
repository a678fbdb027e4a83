/*
 * test_wasm_decode.c — the binary decoder alone (wasm_decode), on modules
 * built byte by byte: fields of good modules, and clean failures (status,
 * message, offset inside the input) on malformed ones.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "module.h"
#include "wasm_build.h"

/* ---- helpers ---------------------------------------------------------- */

static wasm_error last_err;

static bool decode(wasm_module *m, const buf *o)
{
    memset(&last_err, 0, sizeof last_err);
    return wasm_decode(m, o->b, o->n, &last_err);
}

/* Decoding must fail with status and a message starting with msg. */
static bool fails_with(const buf *o, wasm_status status, const char *msg)
{
    wasm_module m;
    if (decode(&m, o)) {
        wasm_module_clear(&m);
        fprintf(stderr, "    decoded, expected \"%s\"\n", msg);
        return false;
    }
    bool ok = last_err.status == status && strncmp(last_err.msg, msg, strlen(msg)) == 0 &&
              last_err.offset <= o->n && last_err.has_offset;
    if (!ok)
        fprintf(stderr, "    got %s \"%s\" @%zu, expected \"%s\"\n",
                wasm_status_name(last_err.status), last_err.msg, last_err.offset, msg);
    return ok;
}

#define MALFORMED(o, msg) CHECK(fails_with((o), WASM_ERR_MALFORMED, (msg)))

static size_t full_funcsec; /* where build_full's function section starts */

/* A module using every section. */
static void build_full(buf *o)
{
    buf s;
    header(o);
    RAWSEC(o, 0,
           "\x04note"
           "payload");
    /* types: 0 (i32 i64)->(f32), 1 ()->(), 2 (i32 i64)->(f32) again, 3 ()->(i32 i32) */
    s.n = 0;
    put(&s,
        "\x04"
        "\x60\x02\x7f\x7e\x01\x7d"
        "\x60\x00\x00"
        "\x60\x02\x7f\x7e\x01\x7d"
        "\x60\x00\x02\x7f\x7f",
        1 + 6 + 3 + 6 + 5);
    section(o, 1, &s);
    /* imports: func, table, memory, global */
    s.n = 0;
    uleb(&s, 4);
    name(&s, "env");
    name(&s, "f");
    put(&s, "\x00\x01", 2);
    name(&s, "env");
    name(&s, "t");
    put(&s, "\x01\x6f\x01\x02\x05", 5); /* externref, min 2 max 5 */
    name(&s, "env");
    name(&s, "m");
    put(&s, "\x02\x00\x01", 3); /* min 1 */
    name(&s, "env");
    name(&s, "g");
    put(&s, "\x03\x7e\x01", 3); /* mut i64 */
    section(o, 2, &s);
    full_funcsec = o->n;
    RAWSEC(o, 3, "\x02\x00\x01");         /* funcs 1, 2 */
    RAWSEC(o, 4, "\x01\x70\x00\x0a");     /* funcref min 10 */
    RAWSEC(o, 5, "\x01\x01\x01\x80\x02"); /* min 1 max 256 */
    RAWSEC(o, 0, "\x01x");                /* custom in the middle */
    /* globals: i32 = -2; f64 = 1.0; funcref = ref.func 2; i64 = global.get 0 */
    RAWSEC(o, 6,
           "\x04"
           "\x7f\x00\x41\x7e\x0b"
           "\x7c\x00\x44\x00\x00\x00\x00\x00\x00\xf0\x3f\x0b"
           "\x70\x00\xd2\x02\x0b"
           "\x7e\x00\x23\x00\x0b");
    s.n = 0;
    uleb(&s, 2);
    name(&s, "run");
    put(&s, "\x00\x01", 2);
    put(&s, "\x03\x61\x00\x62\x02\x00", 6); /* "a\0b" -> memory 0 */
    section(o, 7, &s);
    RAWSEC(o, 8, "\x01"); /* start: func 1 */
    /* elems: form 0 (offset 1, funcs 0 2), form 1 (passive, func 1),
     * form 5 (passive externref, ref.null extern), form 3 (declarative, func 0) */
    RAWSEC(o, 9,
           "\x04"
           "\x00\x41\x01\x0b\x02\x00\x02"
           "\x01\x00\x01\x01"
           "\x05\x6f\x01\xd0\x6f\x0b"
           "\x03\x00\x01\x00");
    RAWSEC(o, 12, "\x02"); /* data count */
    /* code: func 1 with locals (2 i32, 1 f64), func 2 with none */
    RAWSEC(o, 10,
           "\x02"
           "\x07\x02\x02\x7f\x01\x7c\x01\x0b"
           "\x02\x00\x0b");
    /* data: active at 8 "hi", passive "xyz" */
    RAWSEC(o, 11,
           "\x02"
           "\x00\x41\x08\x0b\x02hi"
           "\x01\x03xyz");
}

static void test_full_module(void)
{
    buf o;
    build_full(&o);
    wasm_module m;
    CHECK(decode(&m, &o));
    if (last_err.status != WASM_OK) {
        fprintf(stderr, "    %s @%zu\n", last_err.msg, last_err.offset);
        return;
    }
    CHECK_EQ(m.len, o.n);
    CHECK(m.bytes != o.b && memcmp(m.bytes, o.b, o.n) == 0);

    CHECK_EQ(m.ntypes, 4);
    CHECK_EQ(m.types[0].nparams, 2);
    CHECK_EQ(m.types[0].nresults, 1);
    CHECK_EQ(m.types[0].types[0], WASM_I32);
    CHECK_EQ(m.types[0].types[1], WASM_I64);
    CHECK_EQ(m.types[0].types[2], WASM_F32);
    CHECK_EQ(m.types[3].nresults, 2);
    CHECK_EQ(m.type_canon[0], 0);
    CHECK_EQ(m.type_canon[1], 1);
    CHECK_EQ(m.type_canon[2], 0);
    CHECK_EQ(m.type_canon[3], 3);

    CHECK_EQ(m.nimports, 4);
    CHECK_STR_EQ(m.imports[0].module, "env");
    CHECK_STR_EQ(m.imports[1].name, "t");
    CHECK_EQ(m.imports[0].kind, WASM_EXTERN_FUNC);
    CHECK_EQ(m.imports[0].desc.func_type, 1);
    CHECK_EQ(m.imports[1].desc.table.elem, WASM_EXTERNREF);
    CHECK_EQ(m.imports[1].desc.table.lim.max, 5);
    CHECK(m.imports[3].desc.global.mut);

    CHECK_EQ(m.nfuncs, 3);
    CHECK_EQ(m.nfunc_imports, 1);
    CHECK(m.funcs[0].imported);
    CHECK(!m.funcs[1].imported);
    CHECK_EQ(m.funcs[1].type, 0);
    CHECK_EQ(m.funcs[2].type, 1);
    CHECK_EQ(m.funcs[1].nlocals, 3);
    CHECK_EQ(m.funcs[1].local_types[0], WASM_I32);
    CHECK_EQ(m.funcs[1].local_types[1], WASM_I32);
    CHECK_EQ(m.funcs[1].local_types[2], WASM_F64);
    CHECK_EQ(m.funcs[1].end - m.funcs[1].body, 2); /* "\x01\x0b" */
    CHECK_EQ(m.funcs[1].body[0], 0x01);
    CHECK_EQ(m.funcs[1].end[-1], 0x0b);
    CHECK_EQ(m.funcs[1].body_offset, (size_t)(m.funcs[1].body - m.bytes));
    CHECK_EQ(m.funcs[2].nlocals, 0);
    CHECK(m.funcs[2].local_types == NULL);
    CHECK_EQ(m.funcs[2].end - m.funcs[2].body, 1);

    CHECK_EQ(m.ntables, 2);
    CHECK_EQ(m.ntable_imports, 1);
    CHECK_EQ(m.tables[0].elem, WASM_EXTERNREF);
    CHECK_EQ(m.tables[1].elem, WASM_FUNCREF);
    CHECK_EQ(m.tables[1].lim.min, 10);
    CHECK(!m.tables[1].lim.has_max);
    CHECK_EQ(m.nmems, 2);
    CHECK_EQ(m.mems[1].min, 1);
    CHECK(m.mems[1].has_max);
    CHECK_EQ(m.mems[1].max, 256);

    CHECK_EQ(m.nglobals, 5);
    CHECK_EQ(m.nglobal_imports, 1);
    CHECK_EQ(m.globals[0].init.op, 0);
    CHECK_EQ(m.globals[1].type.type, WASM_I32);
    CHECK_EQ(m.globals[1].init.op, 0x41);
    CHECK_EQ(m.globals[1].init.bits, 0xfffffffeu); /* -2 zero-extended */
    CHECK_EQ(m.globals[2].init.op, 0x44);
    CHECK_EQ(m.globals[2].init.bits, 0x3ff0000000000000ull);
    CHECK_EQ(m.globals[3].init.op, 0xd2);
    CHECK_EQ(m.globals[3].init.index, 2);
    CHECK_EQ(m.globals[4].init.op, 0x23);

    CHECK_EQ(m.nexports, 2);
    CHECK_STR_EQ(m.exports[0].name, "run");
    CHECK_EQ(m.exports[0].name_len, 3);
    CHECK_EQ(m.exports[0].index, 1);
    CHECK_EQ(m.exports[1].name_len, 3); /* "a\0b" */
    CHECK_MEM_EQ(m.exports[1].name, "a\0b", 4);
    CHECK_EQ(m.exports[1].kind, WASM_EXTERN_MEMORY);
    CHECK(m.has_start);
    CHECK_EQ(m.start, 1);

    CHECK_EQ(m.nelems, 4);
    CHECK_EQ(m.elems[0].mode, WASM_SEG_ACTIVE);
    CHECK_EQ(m.elems[0].table, 0);
    CHECK_EQ(m.elems[0].offset.op, 0x41);
    CHECK_EQ(m.elems[0].offset.bits, 1);
    CHECK_EQ(m.elems[0].count, 2);
    CHECK_EQ(m.elems[0].items[1].op, 0xd2);
    CHECK_EQ(m.elems[0].items[1].index, 2);
    CHECK_EQ(m.elems[1].mode, WASM_SEG_PASSIVE);
    CHECK_EQ(m.elems[2].type, WASM_EXTERNREF);
    CHECK_EQ(m.elems[2].items[0].op, 0xd0);
    CHECK_EQ(m.elems[2].items[0].reftype, WASM_EXTERNREF);
    CHECK_EQ(m.elems[3].mode, WASM_SEG_DECLARATIVE);

    CHECK(m.has_data_count);
    CHECK_EQ(m.data_count, 2);
    CHECK_EQ(m.ndatas, 2);
    CHECK_EQ(m.datas[0].mode, WASM_SEG_ACTIVE);
    CHECK_EQ(m.datas[0].offset.bits, 8);
    CHECK_EQ(m.datas[0].len, 2);
    CHECK_MEM_EQ(m.datas[0].bytes, "hi", 2);
    CHECK_EQ(m.datas[1].mode, WASM_SEG_PASSIVE);
    CHECK_MEM_EQ(m.datas[1].bytes, "xyz", 3);
    CHECK(m.datas[1].bytes >= m.bytes && m.datas[1].bytes < m.bytes + m.len);

    /* C.refs: ref.func in globals (2) and elems (0, 2, 1, 0), export of 1 */
    CHECK(m.func_declared[0] && m.func_declared[1] && m.func_declared[2]);
    wasm_module_clear(&m);
    CHECK(m.bytes == NULL && m.nfuncs == 0);
}

static void test_func_declared(void)
{
    buf o;
    header(&o);
    RAWSEC(&o, 1, "\x01\x60\x00\x00");
    RAWSEC(&o, 3, "\x03\x00\x00\x00");
    RAWSEC(&o, 7, "\x01\x01\x65\x00\x02"); /* export func 2 */
    RAWSEC(&o, 10, "\x03\x02\x00\x0b\x02\x00\x0b\x02\x00\x0b");
    wasm_module m;
    CHECK(decode(&m, &o));
    CHECK(!m.func_declared[0] && !m.func_declared[1] && m.func_declared[2]);
    CHECK(!m.has_start && !m.has_data_count);
    wasm_module_clear(&m);
}

static void test_minimal(void)
{
    buf o;
    header(&o);
    wasm_module m;
    CHECK(decode(&m, &o));
    CHECK_EQ(m.ntypes, 0);
    CHECK_EQ(m.nfuncs, 0);
    CHECK(m.func_declared != NULL); /* always allocated */
    wasm_module_clear(&m);
}

/* Every proper prefix fails cleanly (or is itself a complete module). */
static void test_truncation(void)
{
    buf o;
    build_full(&o);
    size_t bad = 0, complete = 0;
    for (size_t k = 0; k < o.n; k++) {
        wasm_module m;
        wasm_error err;
        memset(&err, 0, sizeof err);
        uint8_t *copy = malloc(k ? k : 1); /* exact size so ASan sees overreads */
        memcpy(copy, o.b, k);
        if (wasm_decode(&m, copy, k, &err)) {
            wasm_module_clear(&m);
            /* cut at a section boundary before the function section: the
             * header, custom, type and import sections form a module */
            complete++;
            if (k > full_funcsec) {
                fprintf(stderr, "    prefix %zu of %zu decoded\n", k, o.n);
                bad++;
            }
        } else if (err.status != WASM_ERR_MALFORMED || err.offset > k || !err.msg[0]) {
            fprintf(stderr, "    prefix %zu: %s \"%s\" @%zu\n", k, wasm_status_name(err.status),
                    err.msg, err.offset);
            bad++;
        }
        free(copy);
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(complete, 4);

    buf t;
    header(&t);
    t.n = 3;
    MALFORMED(&t, "unexpected end");
    header(&t);
    t.n = 6;
    MALFORMED(&t, "unexpected end");
}

static void test_header(void)
{
    buf o;
    o.n = 0;
    put(&o, "\0asn\1\0\0\0", 8);
    MALFORMED(&o, "magic header not detected");
    o.n = 0;
    put(&o, "asm\0\1\0\0\0", 8);
    MALFORMED(&o, "magic header not detected");
    o.n = 0;
    put(&o, "\0asm\2\0\0\0", 8);
    MALFORMED(&o, "unknown binary version");
    o.n = 0;
    put(&o, "\0asm\1\0\0\0\0asm\1\0\0\0", 16); /* two modules back to back */
    MALFORMED(&o, "length out of bounds");

    wasm_module m;
    wasm_error err;
    CHECK(!wasm_decode(&m, NULL, 0, &err));
    CHECK_EQ(err.status, WASM_ERR_MALFORMED);
}

static void test_garbage(void)
{
    unsigned seed = 12345;
    size_t ok = 0;
    for (int it = 0; it < 2000; it++) {
        buf o;
        header(&o);
        size_t n = (size_t)(rand_r(&seed) % 64);
        for (size_t i = 0; i < n; i++)
            put8(&o, (uint8_t)rand_r(&seed));
        wasm_module m;
        wasm_error err;
        if (wasm_decode(&m, o.b, o.n, &err)) {
            ok++;
            wasm_module_clear(&m);
        } else if (err.offset > o.n) {
            CHECK(err.offset <= o.n);
        }
    }
    CHECK(ok < 2000);
    size_t bad_offsets = 0;
    /* random flips of a good module: no crashes, offsets inside */
    buf good;
    build_full(&good);
    for (int it = 0; it < 5000; it++) {
        buf o = good;
        for (int j = 0; j < 3; j++)
            o.b[8 + (size_t)rand_r(&seed) % (o.n - 8)] = (uint8_t)rand_r(&seed);
        wasm_module m;
        wasm_error err;
        if (wasm_decode(&m, o.b, o.n, &err))
            wasm_module_clear(&m);
        else if (err.offset > o.n)
            bad_offsets++;
    }
    CHECK_EQ(bad_offsets, 0);
}

static void test_leb(void)
{
    buf o;
    header(&o);
    RAWSEC(&o, 1, "\x81\x80\x80\x80\x80\x00"); /* type count, 6 bytes */
    MALFORMED(&o, "integer representation too long");
    header(&o);
    RAWSEC(&o, 5, "\x01\x00\x82\x80\x80\x80\x70"); /* min: unused bits set */
    MALFORMED(&o, "integer too large");
    header(&o);
    RAWSEC(&o, 6, "\x01\x7f\x00\x41\x80\x80\x80\x80\x70\x0b"); /* i32.const, bad sign bits */
    MALFORMED(&o, "integer too large");
    header(&o);
    RAWSEC(&o, 6, "\x01\x7f\x00\x41\x80\x80\x80\x80\x78\x0b"); /* INT32_MIN: fine */
    wasm_module m;
    CHECK(decode(&m, &o));
    if (last_err.status == WASM_OK) {
        CHECK_EQ(m.globals[0].init.bits, 0x80000000u);
        wasm_module_clear(&m);
    }
    header(&o);
    RAWSEC(&o, 6, "\x01\x7e\x00\x42\x80\x80\x80\x80\x80\x80\x80\x80\x80\x7f\x0b");
    CHECK(decode(&m, &o)); /* INT64_MIN */
    if (last_err.status == WASM_OK) {
        CHECK_EQ(m.globals[0].init.bits, 0x8000000000000000ull);
        wasm_module_clear(&m);
    }
    /* a section size LEB cut off by the end of the file */
    header(&o);
    put(&o, "\x01\x80\x80", 3);
    MALFORMED(&o, "unexpected end");
}

static void test_names(void)
{
    static const char *bad[] = {
        "\x80",             /* lone continuation */
        "\xc0\x80",         /* overlong NUL */
        "\xc1\xbf",         /* overlong */
        "\xe0\x80\xaf",     /* overlong 3-byte */
        "\xed\xa0\x80",     /* surrogate D800 */
        "\xf0\x8f\xbf\xbf", /* overlong 4-byte */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "\xf5\x80\x80\x80", /* invalid lead */
        "\xe2\x82",         /* truncated sequence */
        "\xc2\x41",         /* bad continuation */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        buf o, s;
        header(&o);
        s.n = 0;
        name(&s, bad[i]);
        section(&o, 0, &s);
        MALFORMED(&o, "malformed UTF-8 encoding");
        /* the same in an import field name */
        header(&o);
        s.n = 0;
        uleb(&s, 1);
        name(&s, "m");
        name(&s, bad[i]);
        put(&s, "\x03\x7f\x00", 3);
        section(&o, 2, &s);
        MALFORMED(&o, "malformed UTF-8 encoding");
    }
    static const char *good[] = {"",
                                 "a",
                                 "\xc2\x80",
                                 "\xe0\xa0\x80",
                                 "\xed\x9f\xbf",
                                 "\xee\x80\x80",
                                 "\xf0\x90\x80\x80",
                                 "\xf4\x8f\xbf\xbf"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        buf o, s;
        header(&o);
        s.n = 0;
        name(&s, good[i]);
        section(&o, 0, &s);
        wasm_module m;
        CHECK(decode(&m, &o));
        if (last_err.status == WASM_OK)
            wasm_module_clear(&m);
    }
    buf o;
    header(&o);
    RAWSEC(&o, 0,
           "\x05"
           "abc"); /* name longer than its section */
    MALFORMED(&o, "length out of bounds");
}

static void test_sections(void)
{
    buf o;
    header(&o);
    RAWSEC(&o, 3, "\x00");
    RAWSEC(&o, 1, "\x00"); /* type after function */
    MALFORMED(&o, "unexpected content after last section");
    header(&o);
    RAWSEC(&o, 1, "\x00");
    RAWSEC(&o, 1, "\x00"); /* twice */
    MALFORMED(&o, "unexpected content after last section");
    header(&o);
    RAWSEC(&o, 10, "\x00");
    RAWSEC(&o, 12, "\x00"); /* data count after code */
    MALFORMED(&o, "unexpected content after last section");
    header(&o);
    RAWSEC(&o, 13, "\x00");
    MALFORMED(&o, "malformed section id");
    header(&o);
    RAWSEC(&o, 1, "\x00\x00"); /* one byte left over */
    MALFORMED(&o, "section size mismatch");
    header(&o);
    put(&o, "\x01\x05\x00", 3); /* size past the end */
    MALFORMED(&o, "length out of bounds");

    /* data count and code around it in the right order */
    header(&o);
    RAWSEC(&o, 12, "\x00");
    RAWSEC(&o, 10, "\x00");
    RAWSEC(&o, 11, "\x00");
    wasm_module m;
    CHECK(decode(&m, &o));
    if (last_err.status == WASM_OK)
        wasm_module_clear(&m);
}

static void test_counts(void)
{
    buf o;
    header(&o);
    RAWSEC(&o, 1, "\xff\xff\xff\xff\x0f"); /* 2^32-1 types in 5 bytes */
    MALFORMED(&o, "unexpected end");
    header(&o);
    RAWSEC(&o, 3, "\xff\xff\xff\xff\x0f");
    MALFORMED(&o, "unexpected end");
    header(&o);
    RAWSEC(&o, 9, "\xff\xff\xff\xff\x0f");
    MALFORMED(&o, "unexpected end");
    header(&o);
    RAWSEC(&o, 11, "\x01\x01\xff\xff\xff\xff\x0f"); /* passive data of 4 GiB */
    MALFORMED(&o, "unexpected end");
    header(&o);
    RAWSEC(&o, 1, "\x01\x60\xff\xff\xff\xff\x0f"); /* params */
    MALFORMED(&o, "unexpected end");

    header(&o);
    RAWSEC(&o, 1, "\x01\x60\x00\x00");
    RAWSEC(&o, 3, "\x02\x00\x00");
    RAWSEC(&o, 10, "\x01\x02\x00\x0b");
    MALFORMED(&o, "function and code section have inconsistent lengths");
    header(&o);
    RAWSEC(&o, 1, "\x01\x60\x00\x00");
    RAWSEC(&o, 3, "\x01\x00");
    MALFORMED(&o, "function and code section have inconsistent lengths");
    header(&o);
    RAWSEC(&o, 10, "\x01\x02\x00\x0b");
    MALFORMED(&o, "function and code section have inconsistent lengths");

    header(&o);
    RAWSEC(&o, 12, "\x01");
    MALFORMED(&o, "data count and data section have inconsistent lengths");
    header(&o);
    RAWSEC(&o, 12, "\x02");
    RAWSEC(&o, 11, "\x01\x01\x00");
    MALFORMED(&o, "data count and data section have inconsistent lengths");
}

static void test_locals(void)
{
    buf o;
    header(&o);
    RAWSEC(&o, 1, "\x01\x60\x00\x00");
    RAWSEC(&o, 3, "\x01\x00");
    RAWSEC(&o, 10, "\x01\x0a\x02\xff\xff\xff\xff\x0f\x7f\x02\x7e\x0b"); /* 2^32-1 + 2 */
    MALFORMED(&o, "too many locals");
    header(&o);
    RAWSEC(&o, 1, "\x01\x60\x00\x00");
    RAWSEC(&o, 3, "\x01\x00");
    RAWSEC(&o, 10, "\x01\x06\x01\xd1\x86\x03\x7f\x0b"); /* 50001 */
    MALFORMED(&o, "too many locals");
    header(&o);
    RAWSEC(&o, 1, "\x01\x60\x00\x00");
    RAWSEC(&o, 3, "\x01\x00");
    RAWSEC(&o, 10, "\x01\x06\x01\xd0\x86\x03\x7f\x0b"); /* 50000: allowed */
    wasm_module m;
    CHECK(decode(&m, &o));
    if (last_err.status == WASM_OK) {
        CHECK_EQ(m.funcs[0].nlocals, 50000);
        CHECK_EQ(m.funcs[0].local_types[49999], WASM_I32);
        wasm_module_clear(&m);
    }
    header(&o);
    RAWSEC(&o, 1, "\x01\x60\x00\x00");
    RAWSEC(&o, 3, "\x01\x00");
    RAWSEC(&o, 10, "\x01\x04\x01\x01\x7b\x0b"); /* v128: no SIMD */
    MALFORMED(&o, "malformed value type");
    header(&o);
    RAWSEC(&o, 1, "\x01\x60\x00\x00");
    RAWSEC(&o, 3, "\x01\x00");
    RAWSEC(&o, 10, "\x01\x00"); /* empty body */
    MALFORMED(&o, "unexpected end");
    header(&o);
    RAWSEC(&o, 1, "\x01\x60\x00\x00");
    RAWSEC(&o, 3, "\x01\x00");
    RAWSEC(&o, 10, "\x01\x05\x00\x0b"); /* body size past section */
    MALFORMED(&o, "unexpected end");
}

static void test_types_and_kinds(void)
{
    buf o;
    header(&o);
    RAWSEC(&o, 1, "\x01\x61\x00\x00");
    MALFORMED(&o, "malformed function type");
    header(&o);
    RAWSEC(&o, 1, "\x01\x60\x01\x40\x00");
    MALFORMED(&o, "malformed value type");
    header(&o);
    RAWSEC(&o, 2, "\x01\x00\x00\x04\x00");
    MALFORMED(&o, "malformed import kind");
    header(&o);
    RAWSEC(&o, 7, "\x01\x00\x04\x00");
    MALFORMED(&o, "malformed export kind");
    header(&o);
    RAWSEC(&o, 4, "\x01\x7f\x00\x00");
    MALFORMED(&o, "malformed reference type");
    header(&o);
    RAWSEC(&o, 5, "\x01\x02\x00");
    MALFORMED(&o, "integer too large"); /* limits flag */
    header(&o);
    RAWSEC(&o, 5, "\x01\x81\x00\x00");
    MALFORMED(&o, "integer representation too long");
    header(&o);
    RAWSEC(&o, 6, "\x01\x7f\x02\x41\x00\x0b");
    MALFORMED(&o, "malformed mutability");
    header(&o);
    RAWSEC(&o, 9, "\x01\x08\x00");
    MALFORMED(&o, "malformed elements segment kind");
    header(&o);
    RAWSEC(&o, 9, "\x01\x01\x01\x00"); /* elemkind must be 0 */
    MALFORMED(&o, "malformed element kind");
    header(&o);
    RAWSEC(&o, 9, "\x01\x05\x7f\x00");
    MALFORMED(&o, "malformed reference type");
    header(&o);
    RAWSEC(&o, 11, "\x01\x03\x00");
    MALFORMED(&o, "malformed data segment kind");
}

static void test_constexpr(void)
{
    buf o;
    wasm_module m;
    /* a non-constant instruction: invalid, not malformed */
    header(&o);
    RAWSEC(&o, 6, "\x01\x7f\x00\x41\x01\x41\x02\x6a\x0b");
    CHECK(fails_with(&o, WASM_ERR_INVALID, "constant expression required"));
    CHECK_EQ(last_err.offset, o.n - 4); /* at the second i32.const */
    header(&o);
    RAWSEC(&o, 6, "\x01\x7f\x00\x01\x0b"); /* nop */
    CHECK(fails_with(&o, WASM_ERR_INVALID, "constant expression required"));
    header(&o);
    RAWSEC(&o, 6, "\x01\x7f\x00\xfc\x00\x0b"); /* i32.trunc_sat_f32_s */
    CHECK(fails_with(&o, WASM_ERR_INVALID, "constant expression required"));
    /* unknown opcodes are malformed */
    header(&o);
    RAWSEC(&o, 6, "\x01\x7f\x00\x06\x0b");
    MALFORMED(&o, "illegal opcode");
    header(&o);
    RAWSEC(&o, 6, "\x01\x7f\x00\xfc\x7f\x0b");
    MALFORMED(&o, "illegal opcode");
    header(&o);
    RAWSEC(&o, 9, "\x01\x05\x70\x01\xf3\x00\x0b");
    MALFORMED(&o, "illegal opcode");
    /* missing end */
    header(&o);
    RAWSEC(&o, 6, "\x01\x7f\x00\x41\x00");
    MALFORMED(&o, "unexpected end");
    /* empty expression is left to the validator */
    header(&o);
    RAWSEC(&o, 6, "\x01\x7f\x00\x0b");
    CHECK(decode(&m, &o));
    if (last_err.status == WASM_OK) {
        CHECK_EQ(m.globals[0].init.op, 0x0b);
        wasm_module_clear(&m);
    }
    /* f32 and ref.null func */
    header(&o);
    RAWSEC(&o, 6, "\x02\x7d\x00\x43\x00\x00\xc0\x7f\x0b\x70\x01\xd0\x70\x0b");
    CHECK(decode(&m, &o));
    if (last_err.status == WASM_OK) {
        CHECK_EQ(m.globals[0].init.bits, 0x7fc00000u);
        CHECK_EQ(m.globals[1].init.op, 0xd0);
        CHECK_EQ(m.globals[1].init.reftype, WASM_FUNCREF);
        CHECK(m.globals[1].type.mut);
        wasm_module_clear(&m);
    }
    header(&o);
    RAWSEC(&o, 6, "\x01\x70\x00\xd0\x7f\x0b");
    MALFORMED(&o, "malformed reference type");
}

static void test_elem_forms(void)
{
    buf o;
    wasm_module m;
    header(&o);
    /* form 2: table 1, offset, elemkind, funcs; form 6: table 1, offset, type, exprs;
     * form 4: offset, exprs; form 7: declarative exprs */
    RAWSEC(&o, 9,
           "\x04"
           "\x02\x01\x41\x00\x0b\x00\x01\x05"
           "\x06\x01\x23\x00\x0b\x70\x02\xd2\x03\x0b\xd0\x70\x0b"
           "\x04\x41\x02\x0b\x01\xd2\x00\x0b"
           "\x07\x70\x01\xd2\x09\x0b");
    CHECK(decode(&m, &o));
    if (last_err.status != WASM_OK)
        return;
    CHECK_EQ(m.nelems, 4);
    CHECK_EQ(m.elems[0].table, 1);
    CHECK_EQ(m.elems[0].mode, WASM_SEG_ACTIVE);
    CHECK_EQ(m.elems[0].items[0].index, 5);
    CHECK_EQ(m.elems[1].table, 1);
    CHECK_EQ(m.elems[1].offset.op, 0x23);
    CHECK_EQ(m.elems[1].count, 2);
    CHECK_EQ(m.elems[1].items[0].op, 0xd2);
    CHECK_EQ(m.elems[1].items[0].index, 3);
    CHECK_EQ(m.elems[1].items[1].op, 0xd0);
    CHECK_EQ(m.elems[2].table, 0);
    CHECK_EQ(m.elems[2].type, WASM_FUNCREF);
    CHECK_EQ(m.elems[3].mode, WASM_SEG_DECLARATIVE);
    CHECK_EQ(m.elems[3].items[0].index, 9);
    CHECK_EQ(m.elems[0].byte_offset, 8 + 3);
    wasm_module_clear(&m);

    /* data form 2 with memory index */
    header(&o);
    RAWSEC(&o, 11, "\x01\x02\x01\x41\x00\x0b\x01z");
    CHECK(decode(&m, &o));
    if (last_err.status == WASM_OK) {
        CHECK_EQ(m.datas[0].mem, 1);
        CHECK_EQ(m.datas[0].len, 1);
        wasm_module_clear(&m);
    }
}

int main(void)
{
    test_full_module();
    test_func_declared();
    test_minimal();
    test_truncation();
    test_header();
    test_garbage();
    test_leb();
    test_names();
    test_sections();
    test_counts();
    test_locals();
    test_types_and_kinds();
    test_constexpr();
    test_elem_forms();
    return CHECK_DONE();
}
