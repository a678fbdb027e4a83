/* assets.h - internal to src/gateway: the dashboard's files, embedded at build time by
 * cmake/embed_web.cmake from src/gateway/web/ (the generated web_assets.c defines the table),
 * and the serving of them (web.c). */
#ifndef SWARM_GW_ASSETS_H
#define SWARM_GW_ASSETS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *path;  /* URL path: "/" for index.html, else "/<file name>" */
    const char *ctype; /* Content-Type */
    const unsigned char *body;
    size_t len;
    const unsigned char *gz; /* gzip -9n of body, or NULL when gzip was missing or no smaller */
    size_t gz_len;
    const char *etag; /* quoted, e.g. "\"3f2a...\"": a hash of body */
} gw_asset;

extern const gw_asset gw_assets[];
extern const size_t gw_assets_count;

/* The asset served at path, or NULL. */
const gw_asset *gw_asset_find(const char *path);

/* Whether an If-None-Match value (a list of entity tags, W/ prefixes allowed, or "*") names
 * etag (quoted). Anything malformed matches nothing. */
bool gw_etag_matches(const char *if_none_match, const char *etag);

/* Whether an Accept-Encoding value accepts gzip: "gzip" or "*" with a q-value above 0
 * ("gzip;q=0" refuses it; an explicit gzip entry wins over "*"). */
bool gw_accepts_gzip(const char *accept_encoding);

#endif
