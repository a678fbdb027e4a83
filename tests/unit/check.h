/* check.h - the unit tests' tiny harness. Each tests/unit/test_*.c is a plain program:
 *
 *     int main(void) { CHECK(1 + 1 == 2); CHECK_EQ(f(), 3); return CHECK_DONE(); }
 *
 * A failing check prints file:line and the expression and the test goes on; CHECK_DONE prints
 * "N passed, N failed" and returns 1 if anything failed, else 0. */
#ifndef SWARM_TEST_CHECK_H
#define SWARM_TEST_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int check_passed_, check_failed_;

static inline int check_report_(int ok, const char *file, int line, const char *expr)
{
    if (ok) {
        check_passed_++;
    } else {
        check_failed_++;
        fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, expr);
    }
    return ok;
}

/* True expression. */
#define CHECK(expr) ((void)check_report_(!!(expr), __FILE__, __LINE__, #expr))

/* Two integers (any width or signedness) compare equal; prints both values on failure. */
#define CHECK_EQ(a, b)                                                                            \
    do {                                                                                          \
        intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b);                                          \
        if (!check_report_(a_ == b_, __FILE__, __LINE__, #a " == " #b))                           \
            fprintf(stderr, "    left: %jd (0x%jx), right: %jd (0x%jx)\n", a_, (uintmax_t)a_, b_, \
                    (uintmax_t)b_);                                                               \
    } while (0)

/* Two NUL-terminated strings are equal. */
#define CHECK_STR_EQ(a, b)                                                           \
    do {                                                                             \
        const char *a_ = (a), *b_ = (b);                                             \
        int ok_ = a_ && b_ && strcmp(a_, b_) == 0;                                   \
        if (!check_report_(ok_, __FILE__, __LINE__, #a " == " #b))                   \
            fprintf(stderr, "    left: \"%s\", right: \"%s\"\n", a_ ? a_ : "(null)", \
                    b_ ? b_ : "(null)");                                             \
    } while (0)

/* Two byte ranges of length n are equal. */
#define CHECK_MEM_EQ(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)

/* Prints the tally; returns main's exit code. */
#define CHECK_DONE() check_done_()

static inline int check_done_(void)
{
    printf("%d passed, %d failed\n", check_passed_, check_failed_);
    return check_failed_ ? 1 : 0;
}

#endif
