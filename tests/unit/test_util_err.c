#include <errno.h>

#include "check.h"
#include "util.h"

int main(void)
{
    char err[64];

    CHECK_EQ(err_set(err, sizeof err, "bad %s at %d", "byte", 7), -1);
    CHECK_STR_EQ(err, "bad byte at 7");

    /* truncation keeps the buffer NUL-terminated */
    char small[8];
    err_set(small, sizeof small, "%s", "a long message that does not fit");
    CHECK_STR_EQ(small, "a long ");

    /* NULL or empty buffers are allowed */
    CHECK_EQ(err_set(NULL, 0, "ignored"), -1);
    CHECK_EQ(err_set(err, 0, "ignored"), -1);

    CHECK_EQ(err_errno(err, sizeof err, ENOENT, "open %s", "x"), -1);
    CHECK(strncmp(err, "open x: ", 8) == 0);
    CHECK(strlen(err) > 8);

    err_set(err, sizeof err, "inner");
    CHECK_EQ(err_prefix(err, sizeof err, "outer"), -1);
    CHECK_STR_EQ(err, "outer: inner");

    /* prefix that leaves room for only part of the message */
    err_set(small, sizeof small, "abcdef");
    err_prefix(small, sizeof small, "xy");
    CHECK_STR_EQ(small, "xy: abc");

    /* prefix longer than the buffer */
    err_set(small, sizeof small, "abc");
    err_prefix(small, sizeof small, "very long prefix");
    CHECK_STR_EQ(small, "very lo");

    return CHECK_DONE();
}
