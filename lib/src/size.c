/* size.c: sizes as people write them ("65536", "64M", "1GiB"): one rule for
 * the CLI's --capacity and the broker's size options. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>

int sharena_parse_size(const char *s, uint64_t *out)
{
    if (!s || !out)
        return SHARENA_EINVAL;
    /* strtoull takes a sign (and wraps "-1" to 2^64 - 1) and skips leading
     * space: only digits may start a size */
    if (*s < '0' || *s > '9')
        return SHARENA_EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return SHARENA_ERANGE;
    int shift = 0;
    switch (*end) {
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    case 't':
    case 'T':
        shift = 40;
        break;
    }
    if (shift) {
        end++;
        if ((*end == 'i' || *end == 'I') && (end[1] == 'b' || end[1] == 'B'))
            end += 2; /* "64MiB" */
        else if (*end == 'b' || *end == 'B')
            end++; /* "64MB" (binary anyway) */
    }
    if (*end)
        return SHARENA_EINVAL;
    if (v > (UINT64_MAX >> shift))
        return SHARENA_ERANGE;
    *out = (uint64_t)v << shift;
    return 0;
}
