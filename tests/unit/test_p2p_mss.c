/* Unit tests for src/p2p/mss.c: multistream-select framing, dialer and listener. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mss.h"

/* Appends one framed message (uvarint length, text, newline) to b. */
static void put_msg(buf_t *b, const char *text)
{
    buf_put_uvarint(b, strlen(text) + 1);
    buf_puts(b, text);
    buf_push(b, '\n');
}

/* A listener's protocol table: a NULL-terminated list of ids. */
static bool supports(void *user, const char *protocol)
{
    for (const char *const *p = user; *p; p++)
        if (strcmp(*p, protocol) == 0)
            return true;
    return false;
}

static const char *const LISTENER_PROTOS[] = {"/noise", "/yamux/1.0.0", NULL};

/* The bytes a well-behaved listener sends for header + echo of proto. */
static void expect_answer(buf_t *b, const char *proto)
{
    put_msg(b, MSS_HEADER);
    put_msg(b, proto);
}

static void test_dialer_first_write(void)
{
    mss m;
    buf_t out = {0};
    const char *protos[] = {"/noise"};
    CHECK_EQ(mss_dialer(&m, protos, 1, &out), 0);
    static const uint8_t want[] = {0x13, '/', 'm', 'u', 'l', 't', 'i', 's', 't', 'r',
                                   'e',  'a', 'm', '/', '1', '.', '0', '.', '0', '\n',
                                   0x07, '/', 'n', 'o', 'i', 's', 'e', '\n'};
    CHECK_EQ(out.len, sizeof want);
    CHECK(out.len == sizeof want && memcmp(out.data, want, sizeof want) == 0);
    CHECK_STR_EQ(mss_selected(&m), "");
    buf_free(&out);
}

static void test_dialer_bad_args(void)
{
    mss m;
    buf_t out = {0};
    const char *many[MSS_MAX_PROTOS + 1];
    for (size_t i = 0; i < MSS_MAX_PROTOS + 1; i++)
        many[i] = "/p";
    CHECK_EQ(mss_dialer(&m, many, 0, &out), -1);
    CHECK_EQ(mss_dialer(&m, many, MSS_MAX_PROTOS + 1, &out), -1);
    CHECK_EQ(mss_dialer(&m, many, MSS_MAX_PROTOS, &out), 0);
    buf_clear(&out);
    const char *empty[] = {""};
    CHECK_EQ(mss_dialer(&m, empty, 1, &out), -1);
    const char *nl[] = {"/a\n/b"};
    CHECK_EQ(mss_dialer(&m, nl, 1, &out), -1);
    char *longp = malloc(MSS_MAX_MSG + 1);
    memset(longp, 'x', MSS_MAX_MSG);
    longp[MSS_MAX_MSG] = '\0';
    const char *lp[] = {longp};
    CHECK_EQ(mss_dialer(&m, lp, 1, &out), -1);
    longp[MSS_MAX_MSG - 1] = '\0'; /* 1023 bytes + newline = 1024: the longest allowed */
    CHECK_EQ(mss_dialer(&m, lp, 1, &out), 0);
    buf_free(&out);
    free(longp);

    /* A buffer too small for header + proposal: refused, and nothing half-written. */
    buf_t small;
    buf_init(&small, 24);
    const char *one[] = {"/noise"};
    CHECK_EQ(mss_dialer(&m, one, 1, &small), -1);
    CHECK_EQ(small.len, 0);
    buf_free(&small);

    /* A dialer that failed to start refuses input cleanly. */
    char err[128] = "";
    size_t used = 99;
    uint8_t b = 0x03;
    CHECK_EQ(mss_feed(&m, &b, 1, &used, &out, err, sizeof err), MSS_FAIL);
    CHECK_EQ(used, 0);
    CHECK(strstr(err, "failed") != NULL);
    buf_free(&out);
}

static void test_dialer_one_chunk_with_trailing_data(void)
{
    mss m;
    buf_t out = {0}, in = {0};
    const char *protos[] = {"/noise"};
    CHECK_EQ(mss_dialer(&m, protos, 1, &out), 0);
    buf_clear(&out);
    expect_answer(&in, "/noise");
    size_t msgs = in.len;
    buf_append(&in, "\x00\x20payload", 9);
    size_t used = 0;
    char err[128] = "";
    CHECK_EQ(mss_feed(&m, in.data, in.len, &used, &out, err, sizeof err), MSS_DONE);
    CHECK_EQ(used, msgs);
    CHECK_STR_EQ(mss_selected(&m), "/noise");
    CHECK_EQ(out.len, 0);
    /* Feeding after DONE fails without crashing or consuming. */
    CHECK_EQ(mss_feed(&m, in.data + used, in.len - used, &used, &out, err, sizeof err), MSS_FAIL);
    CHECK_EQ(used, 0);
    CHECK(strstr(err, "finished") != NULL);
    buf_free(&out);
    buf_free(&in);
}

static void test_dialer_byte_by_byte(void)
{
    mss m;
    buf_t out = {0}, in = {0};
    const char *protos[] = {"/yamux/1.0.0"};
    CHECK_EQ(mss_dialer(&m, protos, 1, &out), 0);
    expect_answer(&in, "/yamux/1.0.0");
    buf_push(&in, 'Z');
    char err[128] = "";
    size_t i, used, total = 0;
    mss_status st = MSS_MORE;
    for (i = 0; i < in.len && st == MSS_MORE; i++) {
        st = mss_feed(&m, in.data + i, 1, &used, &out, err, sizeof err);
        total += used;
    }
    CHECK_EQ(st, MSS_DONE);
    CHECK_EQ(i, in.len - 1); /* DONE on the last newline, not after the trailing 'Z' */
    CHECK_EQ(total, in.len - 1);
    CHECK_STR_EQ(mss_selected(&m), "/yamux/1.0.0");
    buf_free(&out);
    buf_free(&in);
}

static void test_dialer_na_then_second(void)
{
    mss m;
    buf_t out = {0}, in = {0}, want = {0};
    const char *protos[] = {"/tls/1.0.0", "/noise"};
    CHECK_EQ(mss_dialer(&m, protos, 2, &out), 0);
    buf_clear(&out);
    put_msg(&in, MSS_HEADER);
    put_msg(&in, "na");
    size_t used;
    char err[128] = "";
    CHECK_EQ(mss_feed(&m, in.data, in.len, &used, &out, err, sizeof err), MSS_MORE);
    CHECK_EQ(used, in.len);
    put_msg(&want, "/noise");
    CHECK(out.len == want.len && memcmp(out.data, want.data, want.len) == 0);
    CHECK_STR_EQ(mss_selected(&m), "");
    buf_clear(&in);
    put_msg(&in, "/noise");
    CHECK_EQ(mss_feed(&m, in.data, in.len, &used, &out, err, sizeof err), MSS_DONE);
    CHECK_STR_EQ(mss_selected(&m), "/noise");
    buf_free(&out);
    buf_free(&in);
    buf_free(&want);
}

static void test_dialer_none_supported(void)
{
    mss m;
    buf_t out = {0}, in = {0};
    const char *protos[] = {"/a/1", "/b/1"};
    CHECK_EQ(mss_dialer(&m, protos, 2, &out), 0);
    put_msg(&in, MSS_HEADER);
    put_msg(&in, "na");
    put_msg(&in, "na");
    size_t used;
    char err[128] = "";
    CHECK_EQ(mss_feed(&m, in.data, in.len, &used, &out, err, sizeof err), MSS_FAIL);
    CHECK_STR_EQ(err, "multistream: peer supports none of: /a/1, /b/1");
    CHECK_STR_EQ(mss_selected(&m), "");
    CHECK_EQ(mss_feed(&m, in.data, in.len, &used, &out, err, sizeof err), MSS_FAIL);
    CHECK(strstr(err, "failed") != NULL);
    buf_free(&out);
    buf_free(&in);
}

static void test_dialer_unexpected_answer(void)
{
    mss m;
    buf_t out = {0}, in = {0};
    const char *protos[] = {"/a/1", "/b/1"};
    CHECK_EQ(mss_dialer(&m, protos, 2, &out), 0);
    put_msg(&in, MSS_HEADER);
    put_msg(&in, "/b/1"); /* an answer to a proposal we have not made yet */
    size_t used;
    char err[128] = "";
    CHECK_EQ(mss_feed(&m, in.data, in.len, &used, &out, err, sizeof err), MSS_FAIL);
    CHECK(strstr(err, "\"/b/1\"") != NULL);
    buf_free(&out);
    buf_free(&in);
}

static void test_listener_optimistic_chunk(void)
{
    mss m;
    buf_t out = {0}, in = {0}, want = {0};
    mss_listener(&m, supports, (void *)LISTENER_PROTOS);
    put_msg(&in, MSS_HEADER);
    put_msg(&in, "/noise");
    size_t msgs = in.len;
    buf_append(&in, "\x00\x20hello", 7);
    size_t used;
    char err[128] = "";
    CHECK_EQ(mss_feed(&m, in.data, in.len, &used, &out, err, sizeof err), MSS_DONE);
    CHECK_EQ(used, msgs);
    CHECK_STR_EQ(mss_selected(&m), "/noise");
    expect_answer(&want, "/noise");
    CHECK(out.len == want.len && memcmp(out.data, want.data, want.len) == 0);
    buf_free(&out);
    buf_free(&in);
    buf_free(&want);
}

static void test_listener_byte_by_byte(void)
{
    mss m;
    buf_t out = {0}, in = {0}, want = {0};
    mss_listener(&m, supports, (void *)LISTENER_PROTOS);
    put_msg(&in, MSS_HEADER);
    put_msg(&in, "/tls/1.0.0");
    put_msg(&in, "ls");
    put_msg(&in, "/yamux/1.0.0");
    buf_push(&in, 0x80); /* protocol data that happens to look like a varint start */
    char err[128] = "";
    size_t i, used, total = 0;
    mss_status st = MSS_MORE;
    for (i = 0; i < in.len && st == MSS_MORE; i++) {
        st = mss_feed(&m, in.data + i, 1, &used, &out, err, sizeof err);
        total += used;
        if (i == 0)
            CHECK_EQ(out.len, 0); /* nothing is said before the dialer's header is complete */
    }
    CHECK_EQ(st, MSS_DONE);
    CHECK_EQ(total, in.len - 1);
    CHECK_STR_EQ(mss_selected(&m), "/yamux/1.0.0");
    put_msg(&want, MSS_HEADER);
    put_msg(&want, "na");
    put_msg(&want, "na"); /* we answer "ls" with "na" */
    put_msg(&want, "/yamux/1.0.0");
    CHECK(out.len == want.len && memcmp(out.data, want.data, want.len) == 0);
    buf_free(&out);
    buf_free(&in);
    buf_free(&want);
}

static void test_listener_too_many_tries(void)
{
    mss m;
    buf_t out = {0}, in = {0};
    mss_listener(&m, supports, (void *)LISTENER_PROTOS);
    put_msg(&in, MSS_HEADER);
    for (int i = 0; i < MSS_MAX_TRIES; i++)
        put_msg(&in, "/nope");
    size_t used;
    char err[128] = "";
    CHECK_EQ(mss_feed(&m, in.data, in.len, &used, &out, err, sizeof err), MSS_MORE);
    CHECK_EQ(used, in.len);
    buf_clear(&in);
    put_msg(&in, "/nope");
    CHECK_EQ(mss_feed(&m, in.data, in.len, &used, &out, err, sizeof err), MSS_FAIL);
    CHECK(strstr(err, "proposals") != NULL);
    buf_free(&out);
    buf_free(&in);
}

static void test_listener_null_supported(void)
{
    mss m;
    buf_t out = {0}, in = {0};
    mss_listener(&m, NULL, NULL); /* supports nothing */
    put_msg(&in, MSS_HEADER);
    put_msg(&in, "/noise");
    size_t used;
    char err[128] = "";
    CHECK_EQ(mss_feed(&m, in.data, in.len, &used, &out, err, sizeof err), MSS_MORE);
    CHECK_EQ(used, in.len);
    buf_free(&out);
    buf_free(&in);
}

static void test_listener_out_refused(void)
{
    mss m;
    buf_t out, in = {0};
    buf_init(&out, 4);
    mss_listener(&m, supports, (void *)LISTENER_PROTOS);
    put_msg(&in, MSS_HEADER);
    size_t used;
    char err[128] = "";
    CHECK_EQ(mss_feed(&m, in.data, in.len, &used, &out, err, sizeof err), MSS_FAIL);
    CHECK(strstr(err, "refused") != NULL);
    buf_free(&out);
    buf_free(&in);
}

/* Feeds raw bytes to a fresh listener and dialer; both must fail with err containing want. */
static void expect_malformed(const uint8_t *p, size_t n, const char *want)
{
    for (int dialer = 0; dialer < 2; dialer++) {
        mss m;
        buf_t out = {0};
        const char *protos[] = {"/noise"};
        if (dialer)
            mss_dialer(&m, protos, 1, &out);
        else
            mss_listener(&m, supports, (void *)LISTENER_PROTOS);
        size_t used = 0;
        char err[160] = "";
        CHECK_EQ(mss_feed(&m, p, n, &used, &out, err, sizeof err), MSS_FAIL);
        CHECK(used <= n);
        if (!check_report_(strstr(err, want) != NULL, __FILE__, __LINE__, want))
            fprintf(stderr, "    got: %s\n", err);
        buf_free(&out);
    }
}

static void test_malformed(void)
{
    expect_malformed((const uint8_t *)"\x00", 1, "bad message length 0");
    expect_malformed((const uint8_t *)"\x80\x00", 2, "minimal");
    expect_malformed((const uint8_t *)"\x81\x08", 2, "bad message length 1025");
    expect_malformed((const uint8_t *)"\x80\x80\x01", 3, "longer than 1024");
    expect_malformed((const uint8_t *)"\xff\xff\xff\xff", 4, "longer than 1024");
    expect_malformed((const uint8_t *)"\x03nax", 4, "newline");
    expect_malformed((const uint8_t *)"\x04n\na\n", 5, "newline or NUL");
    expect_malformed((const uint8_t *)"\x04n\0a\n", 5, "newline or NUL");
    expect_malformed((const uint8_t *)"\x13/multistream/2.0.0\n", 20,
                     "expected header \"/multistream/1.0.0\", got \"/multistream/2.0.0\"");
    expect_malformed((const uint8_t *)"\x03na\n", 4, "got \"na\"");
    expect_malformed((const uint8_t *)"\x01\n", 2, "got \"\"");
    expect_malformed((const uint8_t *)"\x04\x01\xff\"\n", 5, "got \"\\x01\\xff\\x22\"");

    /* A long wrong header is shown shortened. */
    buf_t in = {0};
    char text[1001];
    memset(text, 'a', 1000);
    text[1000] = '\0';
    put_msg(&in, text);
    expect_malformed(in.data, in.len, "got \"aaaa");
    mss m;
    buf_t out = {0};
    char err[512] = "";
    size_t used;
    mss_listener(&m, supports, (void *)LISTENER_PROTOS);
    CHECK_EQ(mss_feed(&m, in.data, in.len, &used, &out, err, sizeof err), MSS_FAIL);
    CHECK(strlen(err) < 150);
    CHECK(strstr(err, "...\"") != NULL);
    buf_free(&in);
    buf_free(&out);

    /* The longest message is fine (as a refused proposal). */
    buf_t ok = {0};
    put_msg(&ok, MSS_HEADER);
    char big[MSS_MAX_MSG];
    memset(big, 'p', MSS_MAX_MSG - 1);
    big[MSS_MAX_MSG - 1] = '\0';
    put_msg(&ok, big);
    mss_listener(&m, supports, (void *)LISTENER_PROTOS);
    CHECK_EQ(mss_feed(&m, ok.data, ok.len, &used, &out, err, sizeof err), MSS_MORE);
    CHECK_EQ(used, ok.len);
    buf_free(&ok);
    buf_free(&out);
}

/* Moves bytes between a dialer and a listener in chunks of varying sizes until both finish. */
static void test_loop(size_t chunk)
{
    mss d, l;
    buf_t to_l = {0}, to_d = {0};
    const char *protos[] = {"/tls/1.0.0", "/mplex/6.7.0", "/yamux/1.0.0"};
    CHECK_EQ(mss_dialer(&d, protos, 3, &to_l), 0);
    mss_listener(&l, supports, (void *)LISTENER_PROTOS);
    mss_status sd = MSS_MORE, sl = MSS_MORE;
    char err[128] = "";
    bool appended = false;
    for (int round = 0; round < 10000 && (to_l.len || to_d.len); round++) {
        if (to_l.len && sl == MSS_MORE) {
            size_t n = to_l.len < chunk ? to_l.len : chunk, used;
            sl = mss_feed(&l, to_l.data, n, &used, &to_d, err, sizeof err);
            CHECK(used <= n);
            memmove(to_l.data, to_l.data + used, to_l.len - used);
            to_l.len -= used;
        }
        if (to_d.len && sd == MSS_MORE) {
            size_t n = to_d.len < chunk ? to_d.len : chunk, used;
            sd = mss_feed(&d, to_d.data, n, &used, &to_l, err, sizeof err);
            CHECK(used <= n);
            memmove(to_d.data, to_d.data + used, to_d.len - used);
            to_d.len -= used;
            if (sd == MSS_DONE && !appended) {
                buf_puts(&to_l, "DATA"); /* the protocol starts right away */
                appended = true;
            }
        }
        if (sl != MSS_MORE && (sd != MSS_MORE || to_d.len == 0))
            break;
    }
    CHECK_EQ(sd, MSS_DONE);
    CHECK_EQ(sl, MSS_DONE);
    CHECK_STR_EQ(mss_selected(&d), "/yamux/1.0.0");
    CHECK_STR_EQ(mss_selected(&l), "/yamux/1.0.0");
    CHECK_EQ(to_d.len, 0);
    CHECK(to_l.len == 4 && memcmp(to_l.data, "DATA", 4) == 0);
    buf_free(&to_l);
    buf_free(&to_d);
}

int main(void)
{
    test_dialer_first_write();
    test_dialer_bad_args();
    test_dialer_one_chunk_with_trailing_data();
    test_dialer_byte_by_byte();
    test_dialer_na_then_second();
    test_dialer_none_supported();
    test_dialer_unexpected_answer();
    test_listener_optimistic_chunk();
    test_listener_byte_by_byte();
    test_listener_too_many_tries();
    test_listener_null_supported();
    test_listener_out_refused();
    test_malformed();
    for (size_t chunk = 1; chunk <= 64; chunk = chunk * 2 + 1)
        test_loop(chunk);
    test_loop(100000);
    return CHECK_DONE();
}
