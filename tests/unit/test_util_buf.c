#include <stdlib.h>

#include "check.h"
#include "util.h"

int main(void)
{
    buf_t b;
    buf_init(&b, 0);
    CHECK_EQ(b.len, 0);
    CHECK(b.data == NULL);

    CHECK_EQ(buf_append(&b, "abc", 3), 0);
    CHECK_EQ(buf_push(&b, 'd'), 0);
    CHECK_EQ(buf_puts(&b, "ef"), 0);
    CHECK_EQ(buf_append(&b, NULL, 0), 0);
    CHECK_EQ(b.len, 6);
    CHECK_STR_EQ(buf_cstr(&b), "abcdef");
    CHECK_EQ(b.len, 6);

    CHECK_EQ(buf_printf(&b, "-%d-%s", 42, "x"), 0);
    CHECK_STR_EQ(buf_cstr(&b), "abcdef-42-x");

    /* growth across many appends keeps the content */
    buf_clear(&b);
    int pushed = 1, same = 1;
    for (int i = 0; i < 10000; i++)
        pushed &= buf_push(&b, (uint8_t)i) == 0;
    CHECK(pushed);
    CHECK_EQ(b.len, 10000);
    for (int i = 0; i < 10000; i++)
        same &= b.data[i] == (uint8_t)i;
    CHECK(same);

    size_t len = 0;
    uint8_t *p = buf_steal(&b, &len);
    CHECK_EQ(len, 10000);
    CHECK(p != NULL);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
    free(p);
    buf_free(&b);

    /* the bound: appends that would pass it fail and change nothing */
    buf_init(&b, 8);
    CHECK_EQ(buf_append(&b, "12345678", 8), 0);
    CHECK_EQ(buf_push(&b, '9'), -1);
    CHECK_EQ(buf_printf(&b, "x"), -1);
    CHECK_EQ(b.len, 8);
    CHECK_STR_EQ(buf_cstr(&b), "12345678"); /* the NUL is allowed past the bound */
    CHECK_EQ(buf_reserve(&b, SIZE_MAX), -1);
    buf_clear(&b);
    CHECK_EQ(buf_append(&b, "123456789", 9), -1);
    CHECK_EQ(b.len, 0);
    buf_free(&b);

    /* overflow of len + extra is refused */
    buf_init(&b, 0);
    CHECK_EQ(buf_push(&b, 1), 0);
    CHECK_EQ(buf_reserve(&b, SIZE_MAX), -1);
    buf_free(&b);

    /* an empty buffer frees and steals cleanly */
    buf_init(&b, 0);
    CHECK(buf_steal(&b, &len) == NULL);
    CHECK_EQ(len, 0);
    buf_free(&b);

    return CHECK_DONE();
}
