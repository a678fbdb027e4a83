/* util.h - the public header of src/util: small libc-only helpers every layer may use.
 *
 * Conventions: functions that can fail return 0 (or a count) on success and a negative value
 * on failure, writing a message into a caller-supplied `char *err, size_t errlen` where they
 * take one (see err.h). Nothing aborts on bad input. Each header says who frees what. */
#ifndef SWARM_UTIL_H
#define SWARM_UTIL_H

#include "err.h"
#include "buf.h"
#include "varint.h"
#include "base64.h"
#include "base58.h"
#include "base32.h"
#include "hex.h"
#include "file.h"
#include "clock.h"

#endif
