/* error.c: error names and messages (one X-macro table), UTF-8 and name
 * validation, type names. */
#include "internal.h"
#include "proto.h"

#include <stdio.h>
#include <time.h>

void (*sharena__hook)(const char *point);

/* The last SHARENA_EDROPPED this thread got, with its reason. */
static __thread char dropped_msg[256];

int sharena__dropped(const char *reason)
{
    snprintf(dropped_msg, sizeof dropped_msg, "%s: %s",
             "the broker closed this delegated connection", reason);
    return SHARENA_EDROPPED;
}

const char *sharena_strerror(int err)
{
    /* EPROTO from this thread's last handshake with a broker of another
     * protocol version: the text names both versions. */
    if (err == SHARENA_EPROTO && sharena__proto_mismatch())
        return sharena__proto_mismatch();
    if (err == SHARENA_EDROPPED && dropped_msg[0])
        return dropped_msg;
    switch (err) {
    case 0:
        return "success";
#define SHARENA__ERR_MSG(name, value, msg)                                     \
    case SHARENA_##name:                                                       \
        return msg;
        SHARENA_ERRNO_MAP(SHARENA__ERR_MSG)
#undef SHARENA__ERR_MSG
    default:
        return "unknown error";
    }
}

const char *sharena_errname(int err)
{
    switch (err) {
    case 0:
        return "OK";
#define SHARENA__ERR_NAME(name, value, msg)                                    \
    case SHARENA_##name:                                                       \
        return #name;
        SHARENA_ERRNO_MAP(SHARENA__ERR_NAME)
#undef SHARENA__ERR_NAME
    default:
        return "EUNKNOWN";
    }
}

const char *sharena_type_name(sharena_type type)
{
    static const char *const names[SHARENA_T__COUNT] = {
        [SHARENA_T_NONE] = "none",     [SHARENA_T_STRING] = "string",
        [SHARENA_T_NUMBER] = "number", [SHARENA_T_BOOL] = "bool",
        [SHARENA_T_MAP] = "map",       [SHARENA_T_VECTOR] = "vector",
        [SHARENA_T_STRUCT] = "struct", [SHARENA_T_BYTES] = "bytes",
        [SHARENA_T_SHAPE] = "shape",
    };
    if (type <= 0 || type >= SHARENA_T__COUNT)
        return "none";
    return names[type];
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, <= U+10FFFF.
 * ASCII runs are checked eight bytes at a time. */
bool sharena_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    if (len && !s)
        return false;
    while (i < len) {
        if (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & UINT64_C(0x8080808080808080))) {
                i += 8;
                continue;
            }
        }
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            if (c == 0xe0)
                lo = 0xa0; /* overlong */
            if (c == 0xed)
                hi = 0x9f; /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            if (c == 0xf0)
                lo = 0x90;
            if (c == 0xf4)
                hi = 0x8f; /* > U+10FFFF */
        } else {
            return false;
        }
        if (len - i - 1 < n)
            return false;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= n; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
        i += n + 1;
    }
    return true;
}

bool sharena_name_valid(const char *name)
{
    if (!name)
        return false;
    size_t n = 0;
    for (; name[n]; n++) {
        char c = name[n];
        if (n >= SHARENA_NAME_MAX)
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return n > 0;
}

int sharena__check_name(const char *name)
{
    if (!name)
        return SHARENA_EINVAL;
    if (strnlen(name, SHARENA_NAME_MAX + 1) > SHARENA_NAME_MAX)
        return SHARENA_ENAMETOOLONG;
    return sharena_name_valid(name) ? 0 : SHARENA_EINVAL;
}

uint64_t sharena__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
