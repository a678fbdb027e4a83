/*
 * native_main.c - runs an example's execute() natively, for comparison.
 *
 *   gcc -O2 bench/native_main.c examples/X.c -o X-native [-DEXAMPLE_I64] -lm
 *   ./X-native A..B        (or: ./X-native A B)
 *
 * Prints execute(A, B) in decimal, as `swarm run X.wasm --range A..B` does.
 * The example is compiled as its own translation unit, so execute is called
 * across a real call boundary as the wasm engine calls it. EXAMPLE_I64
 * selects the (int64_t, int64_t) -> int64_t ABI instead of 32-bit.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef EXAMPLE_I64
typedef int64_t word;
#define WORD_MIN INT64_MIN
#define WORD_MAX INT64_MAX
#else
typedef int32_t word;
#define WORD_MIN INT32_MIN
#define WORD_MAX INT32_MAX
#endif

word execute(word start, word end);

static int parse_word(const char *s, const char *stop, word *out)
{
    char *after;
    errno = 0;
    long long v = strtoll(s, &after, 10);
    if (after == s || errno != 0 || (stop ? after != stop : *after != '\0') || v < WORD_MIN ||
        v > WORD_MAX)
        return -1;
    *out = (word)v;
    return 0;
}

int main(int argc, char **argv)
{
    word start, end;
    const char *dots = argc == 2 ? strstr(argv[1], "..") : NULL;
    if (dots) {
        if (parse_word(argv[1], dots, &start) < 0 || parse_word(dots + 2, NULL, &end) < 0)
            goto usage;
    } else if (argc == 3) {
        if (parse_word(argv[1], NULL, &start) < 0 || parse_word(argv[2], NULL, &end) < 0)
            goto usage;
    } else {
        goto usage;
    }
    printf("%" PRId64 "\n", (int64_t)execute(start, end));
    return 0;
usage:
    fprintf(stderr, "usage: %s A..B  (or: %s A B)\n", argv[0], argv[0]);
    return 2;
}
