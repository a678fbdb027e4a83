/* The JSON lines of `swarm node`: escaping, U+FFFD for invalid UTF-8, arrays, numbers, and the
 * fallback line when an event outgrows its bound. node_json.c belongs to the swarm binary, not a
 * library, so it is compiled into this test directly. */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "../../src/cli/node_json.c"

/* The JSON string nj_quote makes of s[0..n), as a NUL-terminated string (static storage). */
static const char *quote(const char *s, size_t n)
{
    static char out[512];
    buf_t b;
    buf_init(&b, 0);
    if (nj_quote(&b, s, n) != 0 || b.len >= sizeof out) {
        buf_free(&b);
        return "(failed)";
    }
    memcpy(out, b.data, b.len);
    out[b.len] = '\0';
    buf_free(&b);
    return out;
}

#define Q(lit) quote(lit, sizeof lit - 1)

/* Runs nj_end into a memory stream and returns the line (static storage). */
static const char *finish(nj_line *j, int *rc)
{
    static char line[4096];
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    *rc = nj_end(j, f);
    fclose(f);
    snprintf(line, sizeof line, "%s", mem ? mem : "");
    free(mem);
    return line;
}

int main(void)
{
    /* plain text, escapes, control characters and DEL */
    CHECK_STR_EQ(Q("swarm/0.1.0"), "\"swarm/0.1.0\"");
    CHECK_STR_EQ(Q(""), "\"\"");
    CHECK_STR_EQ(Q("a\"b\\c/d"), "\"a\\\"b\\\\c/d\"");
    CHECK_STR_EQ(Q("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\"");
    CHECK_STR_EQ(Q("\x01\x1f\x7f"), "\"\\u0001\\u001f\\u007f\"");
    CHECK_STR_EQ(Q("a\0b"), "\"a\\u0000b\"");
    CHECK_STR_EQ(Q("\x1b[31mred"), "\"\\u001b[31mred\"");

    /* valid UTF-8 passes through: 2, 3 and 4 bytes, the edges of each range */
    CHECK_STR_EQ(Q("\xc3\xa9"), "\"\xc3\xa9\"");
    CHECK_STR_EQ(Q("\xe2\x82\xac\xef\xbf\xbf"), "\"\xe2\x82\xac\xef\xbf\xbf\"");
    CHECK_STR_EQ(Q("\xf0\x9f\x90\x9d"), "\"\xf0\x9f\x90\x9d\"");
    CHECK_STR_EQ(Q("\xf4\x8f\xbf\xbf"), "\"\xf4\x8f\xbf\xbf\"");
    CHECK_STR_EQ(Q("\xed\x9f\xbf"), "\"\xed\x9f\xbf\""); /* U+D7FF, just below surrogates */

    /* invalid UTF-8 becomes U+FFFD, one per maximal subpart */
#define FFFD "\xef\xbf\xbd"
    CHECK_STR_EQ(Q("\xff"), "\"" FFFD "\"");
    CHECK_STR_EQ(Q("a\x80z"), "\"a" FFFD "z\"");
    CHECK_STR_EQ(Q("\xc0\xaf"), "\"" FFFD FFFD "\"");                   /* overlong '/' */
    CHECK_STR_EQ(Q("\xe0\x80\xaf"), "\"" FFFD FFFD FFFD "\"");          /* overlong, 3 bytes */
    CHECK_STR_EQ(Q("\xed\xa0\x80"), "\"" FFFD FFFD FFFD "\"");          /* surrogate U+D800 */
    CHECK_STR_EQ(Q("\xf4\x90\x80\x80"), "\"" FFFD FFFD FFFD FFFD "\""); /* past U+10FFFF */
    CHECK_STR_EQ(Q("\xf5\x80"), "\"" FFFD FFFD "\"");
    CHECK_STR_EQ(Q("\xe2\x82"), "\"" FFFD "\"");           /* truncated at the end */
    CHECK_STR_EQ(Q("\xe2\x82x"), "\"" FFFD "x\"");         /* truncated, then ASCII */
    CHECK_STR_EQ(Q("\xf0\x9f\x90\""), "\"" FFFD "\\\"\""); /* truncated, then a quote */
    CHECK_STR_EQ(Q("\xc3"), "\"" FFFD "\"");

    /* whole lines: fields, arrays, null, numbers, booleans */
    nj_line j;
    int rc;
    nj_begin(&j, "identified");
    nj_str(&j, "peer", "12D3KooWabc");
    nj_str(&j, "agent", "bad\xff\n");
    nj_array_begin(&j, "protocols");
    nj_item(&j, "/ipfs/id/1.0.0");
    nj_item(&j, "/ipfs/ping/1.0.0");
    nj_array_end(&j);
    nj_array_begin(&j, "listen_addrs");
    nj_array_end(&j);
    nj_str(&j, "observed", NULL);
    nj_bool(&j, "ok", true);
    nj_int(&j, "n", -42);
    CHECK_STR_EQ(finish(&j, &rc),
                 "{\"event\":\"identified\",\"peer\":\"12D3KooWabc\",\"agent\":\"bad" FFFD
                 "\\n\",\"protocols\":[\"/ipfs/id/1.0.0\",\"/ipfs/ping/1.0.0\"],"
                 "\"listen_addrs\":[],\"observed\":null,\"ok\":true,\"n\":-42}\n");
    CHECK_EQ(rc, 0);

    nj_begin(&j, "ping");
    nj_num(&j, "rtt_ms", 0.4125);
    nj_num(&j, "whole", 12.0);
    nj_num(&j, "nan", 0.0 / 0.0);
    nj_num(&j, "inf", 1.0 / 0.0);
    CHECK_STR_EQ(finish(&j, &rc),
                 "{\"event\":\"ping\",\"rtt_ms\":0.412,\"whole\":12,\"nan\":null,\"inf\":null}\n");
    CHECK_EQ(rc, 0);

    /* an event past NJ_LINE_MAX is replaced by a short line that says so */
    size_t big = NJ_LINE_MAX;
    char *huge = malloc(big + 1);
    CHECK(huge != NULL);
    if (huge) {
        memset(huge, 'x', big);
        huge[big] = '\0';
        nj_begin(&j, "identified");
        nj_str(&j, "agent", huge);
        nj_str(&j, "after", "more");
        CHECK_STR_EQ(finish(&j, &rc), "{\"event\":\"identified\",\"truncated\":true}\n");
        CHECK_EQ(rc, 0);
        free(huge);
    }

    /* a stream that refuses the write is reported */
    FILE *ro = fopen("/dev/null", "r");
    CHECK(ro != NULL);
    if (ro) {
        nj_begin(&j, "listening");
        CHECK_EQ(nj_end(&j, ro), -1);
        fclose(ro);
    }

    /* a line-buffered pipe whose reader went away after the first line: glibc's fwrite then
     * takes the bytes and fflush succeeds, so only ferror tells */
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    signal(SIGPIPE, SIG_IGN);
    FILE *w = fdopen(fds[1], "w");
    CHECK(w != NULL);
    if (w) {
        setvbuf(w, NULL, _IOLBF, 0);
        nj_begin(&j, "listening");
        CHECK_EQ(nj_end(&j, w), 0);
        close(fds[0]);
        nj_begin(&j, "connected");
        nj_str(&j, "peer", "12D3KooWabc");
        CHECK_EQ(nj_end(&j, w), -1);
        fclose(w);
    }
    return CHECK_DONE();
}
