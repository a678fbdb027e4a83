/* test_wasm_ops.c - the operand counts of ops.h describe the code the compiler emits: a walk
 * that steps over each op by its count (wasm_code_check) lands on every op boundary and
 * exactly at the end, over modules that use the variable-length and address-sum ops and over
 * every example in examples/.
 *
 * The module is a small binary made with wat2wasm; its text is in the comment above it. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "compile.h"
#include "ops.h"
#include "wasm.h"

/*
 * (module
 *   (memory 1)
 *   (func (export "lea") (param i32 i32) (result i32)
 *     (i32.add (i32.add (local.get 0) (i32.shl (local.get 1) (i32.const 2))) (i32.const 8)))
 *   (func (export "lea_n") (param i32) (result i32)
 *     (i32.add (i32.shl (local.get 0) (i32.const 3)) (i32.const 16)))
 *   (func (export "lea_s") (param i32 i32) (result i32)
 *     (i32.add (i32.sub (local.get 0) (local.get 1)) (i32.const 4)))
 *   (func (export "pick") (param i32) (result i32)
 *     (block (block (block (br_table 0 1 2 (local.get 0))) (return (i32.const 10)))
 *       (return (i32.const 20)))
 *     (i32.const 30))
 *   (func (export "pool") (param i64) (result i64) (local i64 i64 i64 i64 i64 i64 i64 i64 i64)
 *     (local.set 1 (i64.mul (local.get 0) (i64.const 0x123456789)))
 *     (local.set 2 (i64.sub (i64.const 0x987654321) (local.get 1)))
 *     (i64.add (local.get 2) (local.get 9))))
 */
static const uint8_t ops_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x11, 0x03, 0x60, 0x02, 0x7f, 0x7f,
    0x01, 0x7f, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x01, 0x7e, 0x01, 0x7e, 0x03, 0x06, 0x05,
    0x00, 0x01, 0x00, 0x01, 0x02, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x25, 0x05, 0x03, 0x6c,
    0x65, 0x61, 0x00, 0x00, 0x05, 0x6c, 0x65, 0x61, 0x5f, 0x6e, 0x00, 0x01, 0x05, 0x6c, 0x65,
    0x61, 0x5f, 0x73, 0x00, 0x02, 0x04, 0x70, 0x69, 0x63, 0x6b, 0x00, 0x03, 0x04, 0x70, 0x6f,
    0x6f, 0x6c, 0x00, 0x04, 0x0a, 0x61, 0x05, 0x0d, 0x00, 0x20, 0x00, 0x20, 0x01, 0x41, 0x02,
    0x74, 0x6a, 0x41, 0x08, 0x6a, 0x0b, 0x0a, 0x00, 0x20, 0x00, 0x41, 0x03, 0x74, 0x41, 0x10,
    0x6a, 0x0b, 0x0a, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6b, 0x41, 0x04, 0x6a, 0x0b, 0x1a, 0x00,
    0x02, 0x40, 0x02, 0x40, 0x02, 0x40, 0x20, 0x00, 0x0e, 0x02, 0x00, 0x01, 0x02, 0x0b, 0x41,
    0x0a, 0x0f, 0x0b, 0x41, 0x14, 0x0f, 0x0b, 0x41, 0x1e, 0x0b, 0x20, 0x01, 0x09, 0x7e, 0x20,
    0x00, 0x42, 0x89, 0xcf, 0x95, 0x9a, 0x12, 0x7e, 0x21, 0x01, 0x42, 0xa1, 0x86, 0x95, 0xbb,
    0x98, 0x01, 0x20, 0x01, 0x7d, 0x21, 0x02, 0x20, 0x02, 0x20, 0x09, 0x7c, 0x0b,
};

static uint32_t counts[OP_COUNT_];

/* Loads bytes, walks its code; counts[] gets the ops met. */
static bool walk(const uint8_t *bytes, size_t len, const char *what)
{
    wasm_error err;
    wasm_module *m = wasm_module_load(bytes, len, &err);
    if (!m) {
        fprintf(stderr, "%s: %s\n", what, err.msg);
        return false;
    }
    char why[160] = "";
    bool ok = wasm_code_check(m, counts, why, sizeof why);
    if (!ok)
        fprintf(stderr, "%s: %s\n", what, why);
    wasm_module_free(m);
    return ok;
}

static int32_t call_i32(wasm_store *s, wasm_instance *inst, const char *name, int32_t a, int32_t b)
{
    wasm_extern ext;
    if (!wasm_instance_export(inst, name, &ext) || ext.kind != WASM_EXTERN_FUNC)
        return INT32_MIN;
    wasm_func *f = ext.of.func;
    wasm_value args[2] = {{.type = WASM_I32, .of.i32 = a}, {.type = WASM_I32, .of.i32 = b}};
    wasm_value res[1];
    wasm_error err;
    uint32_t n = wasm_functype_param_count(wasm_func_type(f));
    if (wasm_func_call(s, f, args, n, res, 1, &err) != WASM_OK)
        return INT32_MIN;
    return res[0].of.i32;
}

/* The module compiles to every op whose length is in question, and each still computes. */
static void test_module(void)
{
    memset(counts, 0, sizeof counts);
    CHECK(walk(ops_wasm, sizeof ops_wasm, "ops"));
    /* the walk met the ops it is meant to check (else it proves nothing about them) */
    CHECK(counts[OP_LEA] > 0);
    CHECK(counts[OP_LEA_N] > 0);
    CHECK(counts[OP_LEA_S] > 0);
    CHECK(counts[OP_BR_TABLE] > 0);
    CHECK(counts[OP_PROLOGUE] > 0);

    wasm_error err;
    wasm_module *m = wasm_module_load(ops_wasm, sizeof ops_wasm, &err);
    wasm_store *s = wasm_store_new(NULL);
    wasm_instance *inst = m && s ? wasm_instantiate(s, m, NULL, NULL, &err) : NULL;
    CHECK(inst != NULL);
    if (inst) {
        CHECK_EQ(call_i32(s, inst, "lea", 100, 3), 120);
        CHECK_EQ(call_i32(s, inst, "lea_n", 5, 0), 56);
        CHECK_EQ(call_i32(s, inst, "lea_s", 100, 30), 74);
        CHECK_EQ(call_i32(s, inst, "pick", 0, 0), 10);
        CHECK_EQ(call_i32(s, inst, "pick", 1, 0), 20);
        CHECK_EQ(call_i32(s, inst, "pick", 7, 0), 30);
    }
    wasm_store_free(s);
    wasm_module_free(m);
}

/* Every example module walks cleanly, and between them they use many kinds of op. */
static void test_examples(void)
{
    const char *dir = SWARM_SOURCE_DIR "/examples";
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d)
        return;
    memset(counts, 0, sizeof counts);
    int modules = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".wasm") != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        CHECK(f != NULL);
        if (!f)
            continue;
        uint8_t *buf = malloc(1 << 20);
        size_t len = buf ? fread(buf, 1, 1 << 20, f) : 0;
        fclose(f);
        CHECK(len > 8 && len < (1 << 20));
        CHECK(walk(buf, len, e->d_name));
        free(buf);
        modules++;
    }
    closedir(d);
    CHECK(modules >= 10);
    int kinds = 0;
    for (int op = 0; op < OP_COUNT_; op++)
        kinds += counts[op] > 0;
    CHECK(kinds >= 50);
    printf("examples: %d modules, %d kinds of op\n", modules, kinds);
}

int main(void)
{
    test_module();
    test_examples();
    return CHECK_DONE();
}
