/* test_gw_httphdr.c - the two request headers the dashboard's files depend on: If-None-Match
 * (lists, weak tags, "*", malformed values) and Accept-Encoding (q-values, "*", refusals),
 * and the embedded files' table (index at "/", types, ETags, gzip no bigger than the file). */
#include <string.h>

#include "assets.h"
#include "check.h"

static const char tag[] = "\"0123abcd\"";

static void test_etag(void)
{
    CHECK(gw_etag_matches("\"0123abcd\"", tag));
    CHECK(gw_etag_matches("W/\"0123abcd\"", tag));
    CHECK(gw_etag_matches("\"x\", \"0123abcd\"", tag));
    CHECK(gw_etag_matches(" \"x\" ,W/\"0123abcd\" ", tag));
    CHECK(gw_etag_matches("*", tag));
    CHECK(!gw_etag_matches("\"0123abce\"", tag));
    CHECK(!gw_etag_matches("\"0123abcd", tag)); /* unterminated */
    CHECK(!gw_etag_matches("0123abcd", tag));   /* unquoted */
    CHECK(!gw_etag_matches("\"0123abc\"", tag));
    CHECK(!gw_etag_matches("\"x\" \"0123abcd\"", tag)); /* no comma */
    CHECK(!gw_etag_matches("", tag));
    CHECK(!gw_etag_matches("*, \"x\"", tag));
    CHECK(!gw_etag_matches("\"x\",", tag));
}

static void test_gzip(void)
{
    CHECK(gw_accepts_gzip("gzip"));
    CHECK(gw_accepts_gzip("gzip, deflate, br"));
    CHECK(gw_accepts_gzip("br;q=1.0, GZIP;q=0.5"));
    CHECK(gw_accepts_gzip("x-gzip"));
    CHECK(gw_accepts_gzip("*"));
    CHECK(gw_accepts_gzip("deflate, *;q=0.1"));
    CHECK(!gw_accepts_gzip(""));
    CHECK(!gw_accepts_gzip("identity"));
    CHECK(!gw_accepts_gzip("gzip;q=0"));
    CHECK(!gw_accepts_gzip("gzip;q=0.000"));
    CHECK(!gw_accepts_gzip("*;q=0"));
    CHECK(!gw_accepts_gzip("gzip;q=0, *")); /* the explicit refusal wins */
    CHECK(gw_accepts_gzip("*;q=0, gzip"));  /* and so does an explicit yes */
    CHECK(!gw_accepts_gzip("gzip;q=2"));    /* malformed: not accepted */
    CHECK(!gw_accepts_gzip("gzip;q=abc"));  /* malformed */
    CHECK(!gw_accepts_gzip("gzipped"));     /* another coding */
    CHECK(gw_accepts_gzip("gzip;level=9")); /* another parameter is skipped */
}

static void test_assets(void)
{
    const gw_asset *index = gw_asset_find("/");
    CHECK(index != NULL);
    CHECK(gw_asset_find("/index.html") == NULL); /* served at / only */
    CHECK(gw_asset_find("/nope.js") == NULL);
    if (index) {
        CHECK(strstr(index->ctype, "text/html") == index->ctype);
        CHECK(index->len > 0 && memcmp(index->body, "<!doctype html>", 15) == 0);
    }
    const gw_asset *js = gw_asset_find("/app.js"), *css = gw_asset_find("/app.css");
    CHECK(js && strstr(js->ctype, "text/javascript"));
    CHECK(css && strstr(css->ctype, "text/css"));
    for (size_t i = 0; i < gw_assets_count; i++) {
        const gw_asset *a = &gw_assets[i];
        CHECK(a->etag[0] == '"' && strlen(a->etag) == 22 && a->etag[21] == '"');
        CHECK(gw_etag_matches(a->etag, a->etag));
        CHECK(a->gz == NULL || (a->gz_len < a->len && a->gz[0] == 0x1f && a->gz[1] == 0x8b));
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(a->etag, gw_assets[j].etag) != 0);
    }
}

int main(void)
{
    test_etag();
    test_gzip();
    test_assets();
    return CHECK_DONE();
}
