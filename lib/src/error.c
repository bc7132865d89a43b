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

/* The last arena this thread refused for its format version. */
static __thread char layout_msg[192];

int sharena__layout_refused(uint32_t found)
{
    if (!found)
        layout_msg[0] = 0;
    else
        snprintf(layout_msg, sizeof layout_msg,
                 "arena format version %u; this library reads format "
                 "version %u only (docs/format.md, \"Format versions\")",
                 (unsigned)found, (unsigned)SHARENA__FORMAT_VERSION);
    return SHARENA_ELAYOUT;
}

const char *sharena_strerror(int err)
{
    /* EPROTO from this thread's last handshake with a broker of another
     * protocol version: the text names both versions. */
    if (err == SHARENA_EPROTO && sharena__proto_mismatch())
        return sharena__proto_mismatch();
    if (err == SHARENA_EDROPPED && dropped_msg[0])
        return dropped_msg;
    if (err == SHARENA_ELAYOUT && layout_msg[0])
        return layout_msg;
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

/* What to do about each error: one table for every binding (Node and
 * Python append these to their messages). Neutral wording: an option is
 * named by what it does, not by one language's spelling of it. */
static const struct {
    int err;
    const char *hint;
} hints[] = {
    {SHARENA_EPERM, "this process may not do that; check the arena's owner "
                    "and mode"},
    {SHARENA_ENOENT, "check the name or id"},
    {SHARENA_EINTR, "a signal interrupted the call; retry it"},
    {SHARENA_EIO, "the broker or the system failed; see the broker's log"},
    {SHARENA_EBADF, "the file descriptor is not open; pass a valid fd"},
    {SHARENA_EAGAIN, "retry later"},
    {SHARENA_ENOMEM, "free memory in this process and retry"},
    {SHARENA_EACCES, "the arena's owner and mode, the broker's policy or a "
                     "delegated connection's grants do not allow this; its "
                     "creator can pass a mode that shares it"},
    {SHARENA_EBUSY, "a writer is stopped mid-write (SIGSTOP, a debugger) or "
                    "died mid-write on a read-only mapping; retry, and see "
                    "`sharena locks` for who holds the object"},
    {SHARENA_EEXIST, "open it without the exclusive option to use the "
                     "existing one"},
    {SHARENA_EINVAL, "check the arguments"},
    {SHARENA_ENOSPC, "a limit of the broker was reached (arenas, capacity or "
                     "clients per user): delete arenas you no longer use, or "
                     "raise sharenad's limits"},
    {SHARENA_EROFS, "the arena is mapped read-only; open it without the "
                    "read-only option to write"},
    {SHARENA_ERANGE, "stay within the object's size or length"},
    {SHARENA_EDEADLK, "this thread already holds that object's lock; take "
                      "it nested (a nested lock counts levels) or release "
                      "it first"},
    {SHARENA_ENAMETOOLONG, "use a shorter name"},
    {SHARENA_ENOSYS, "this kernel or sandbox lacks io_uring's futex wait "
                     "(Linux 6.7+); waits fall back to a helper thread"},
    {SHARENA_EPROTO, "the broker speaks another protocol version: run a "
                     "sharenad of the same sharena version"},
    {SHARENA_EOVERFLOW, "numbers are IEEE-754 doubles: integers are exact "
                        "only within +-2**53; use a smaller value"},
    {SHARENA_EILSEQ, "text must be valid UTF-8, which sharena never writes "
                     "otherwise: invalid text in an arena means another "
                     "writer damaged it; fsck lists the object"},
    {SHARENA_ECONNREFUSED, "start sharenad, or point the socket option (or "
                           "$SHARENA_SOCKET) at a running broker"},
    {SHARENA_ETIMEDOUT, "nothing happened in time; retry or wait longer"},
    {SHARENA_ESTALE, "the object was dropped here or in another process; "
                     "look it up again from its map, vector or root"},
    {SHARENA_ETYPE, "the id names an object of another type; check its type "
                    "first"},
    {SHARENA_EFULL, "nothing was written; drop objects you no longer need, "
                    "or create the arena with a larger capacity"},
    {SHARENA_ECORRUPT, "run fsck on the arena to see the damage, with repair "
                       "to fix what can be fixed (sharena fsck --repair)"},
    {SHARENA_ELAYOUT, "use the same sharena version in every process that "
                      "opens the arena"},
    {SHARENA_EOWNERDEAD, "a writer died holding the lock; the object was "
                         "repaired, retry"},
    {SHARENA_EUNSEALED, "pass the fd of a sealed sharena arena (the arena's "
                        "fd in another process)"},
    {SHARENA_ECLOSED, "the arena was closed; open it again"},
    {SHARENA_EDROPPED, "ask the process that delegated it (SHARENA_FD) for "
                       "a new one"},
};

const char *sharena_strerror_hint(int err)
{
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++)
        if (hints[i].err == err)
            return hints[i].hint;
    return "see the list of errors in docs/api-c.md";
}

const char *sharena_type_name(sharena_type type)
{
    static const char *const names[SHARENA_T__COUNT] = {
        [SHARENA_T_NONE] = "none",     [SHARENA_T_STRING] = "string",
        [SHARENA_T_NUMBER] = "number", [SHARENA_T_BOOL] = "bool",
        [SHARENA_T_MAP] = "map",       [SHARENA_T_VECTOR] = "vector",
        [SHARENA_T_STRUCT] = "struct", [SHARENA_T_BYTES] = "bytes",
        [SHARENA_T_SHAPE] = "shape",   [SHARENA_T_NULL] = "null",
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
