/* web.c - serves the dashboard's embedded files (assets.h): ETag and 304, Cache-Control, and
 * the gzip bytes made at build time when the client accepts them. */
#include <stdio.h>
#include <string.h>

#include "assets.h"
#include "gw_internal.h"

const gw_asset *gw_asset_find(const char *path)
{
    for (size_t i = 0; i < gw_assets_count; i++)
        if (strcmp(gw_assets[i].path, path) == 0)
            return &gw_assets[i];
    return NULL;
}

bool gw_serve_asset(gw *g, gw_req *r)
{
    const gw_asset *a = gw_asset_find(gw_req_path(r));
    if (!a)
        return false;
    /* no-cache: the names carry no version, so a browser asks each time and gets a 304 while
     * the build is the same; the page may only load what it was built with */
    char headers[512];
    int n = snprintf(headers, sizeof headers,
                     "ETag: %s\r\nCache-Control: no-cache\r\nVary: Accept-Encoding\r\n"
                     "X-Content-Type-Options: nosniff\r\n"
                     "Content-Security-Policy: default-src 'self'; img-src 'self' data:; "
                     "frame-ancestors 'none'",
                     a->etag);
    char value[512];
    if (gw_req_header(r, GW_HDR_IF_NONE_MATCH, value, sizeof value) &&
        gw_etag_matches(value, a->etag)) {
        g->requests[3]++;
        gw_req_respond_static(r, 304, a->ctype, NULL, 0, headers);
        return true;
    }
    g->requests[2]++;
    if (a->gz && gw_req_header(r, GW_HDR_ACCEPT_ENCODING, value, sizeof value) &&
        gw_accepts_gzip(value) && n > 0 && (size_t)n + 26 < sizeof headers) {
        strcat(headers, "\r\nContent-Encoding: gzip");
        gw_req_respond_static(r, 200, a->ctype, a->gz, a->gz_len, headers);
        return true;
    }
    gw_req_respond_static(r, 200, a->ctype, a->body, a->len, headers);
    return true;
}
