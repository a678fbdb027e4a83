/* httphdr.c - the two request headers the dashboard's files depend on (assets.h): entity
 * tags of If-None-Match and codings of Accept-Encoding, parsed by RFC 9110's grammar. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "assets.h"

static const char *skip_ows(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

bool gw_etag_matches(const char *inm, const char *etag)
{
    size_t elen = strlen(etag);
    const char *s = skip_ows(inm);
    if (*s == '*')
        return *skip_ows(s + 1) == '\0';
    for (;;) {
        s = skip_ows(s);
        if (strncmp(s, "W/", 2) == 0) /* If-None-Match compares weakly */
            s += 2;
        if (*s != '"')
            return false;
        const char *close = strchr(s + 1, '"');
        if (!close)
            return false;
        size_t len = (size_t)(close - s) + 1;
        if (len == elen && memcmp(s, etag, elen) == 0)
            return true;
        s = skip_ows(close + 1);
        if (*s == '\0')
            return false;
        if (*s != ',')
            return false;
        s++;
    }
}

/* The q-value of the parameters after a coding (";q=0.5"); 1 without one, -1 if malformed. */
static double qvalue(const char *params, const char *end)
{
    const char *s = params;
    double q = 1;
    while (s < end) {
        s = skip_ows(s);
        if (s >= end)
            break;
        if (*s != ';')
            return -1;
        s = skip_ows(s + 1);
        if ((s[0] == 'q' || s[0] == 'Q') && s[1] == '=') {
            char *qend;
            q = strtod(s + 2, &qend);
            if (qend == s + 2 || q < 0 || q > 1)
                return -1;
            s = qend;
        } else { /* another parameter: skip it */
            while (s < end && *s != ';')
                s++;
        }
    }
    return q;
}

bool gw_accepts_gzip(const char *ae)
{
    double gzip = -1, star = -1;
    const char *s = ae;
    while (*s) {
        s = skip_ows(s);
        const char *end = strchr(s, ',');
        if (!end)
            end = s + strlen(s);
        size_t n = strcspn(s, ";, \t");
        if (n > (size_t)(end - s))
            n = (size_t)(end - s);
        double q = qvalue(s + n, end);
        if ((n == 4 && strncasecmp(s, "gzip", 4) == 0) ||
            (n == 6 && strncasecmp(s, "x-gzip", 6) == 0))
            gzip = q;
        else if (n == 1 && *s == '*')
            star = q;
        s = *end ? end + 1 : end;
    }
    return gzip >= 0 ? gzip > 0 : star > 0;
}
