/* host_stats.c - p2p_host_get_stats: what the host holds now, read from the connection table
 * and the memory pool its yamux sessions share. */
#include "host_internal.h"

#include <string.h>

void p2p_host_get_stats(const p2p_host *h, p2p_host_stats *out)
{
    memset(out, 0, sizeof *out);
    for (const host_conn *c = h->conns; c; c = c->next) {
        out->conns++;
        if (c->ymx)
            out->streams += yamux_stream_count(c->ymx);
    }
    out->mem_queued = h->mem.queued;
    out->mem_held = h->mem.held;
    out->mem_sending = h->mem.sending;
}
