/* version.c: the release and the protocol version of this build. */
#include "internal.h"
#include "proto.h"

const char *sharena_library_version(void)
{
    return SHARENA_VERSION_STRING;
}

int sharena_protocol_version(void)
{
    return SHARENA__PROTO_VERSION;
}
