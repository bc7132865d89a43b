/* version.c: the release and the protocol version of this build. */
#include "internal.h"
#include "proto.h"

#include <stdio.h>
#include <string.h>

const char *sharena_library_version(void)
{
    return SHARENA_VERSION_STRING;
}

int sharena_protocol_version(void)
{
    return SHARENA__PROTO_VERSION;
}

/* The last protocol mismatch this thread met in a handshake, as words. */
static _Thread_local char mismatch[200];

int sharena__proto_other_version(const void *m, ssize_t n)
{
    mismatch[0] = 0;
    if (!m || n < (ssize_t)sizeof(struct sharena__msg_hdr))
        return 0;
    struct sharena__msg_hdr h;
    memcpy(&h, m, sizeof(h));
    if (h.magic != SHARENA__PROTO_MAGIC || h.version == SHARENA__PROTO_VERSION)
        return 0;
    snprintf(mismatch, sizeof(mismatch),
             "protocol version mismatch: the broker speaks protocol %u, this "
             "library (sharena %s) protocol %d; run a sharenad of the same "
             "release (sharenad --version)",
             (unsigned)h.version, SHARENA_VERSION_STRING,
             SHARENA__PROTO_VERSION);
    return 1;
}

const char *sharena__proto_mismatch(void)
{
    return mismatch[0] ? mismatch : NULL;
}
