/* roots.c: named roots, where processes meet. The directory is an ordinary
 * map (header.roots_id) that owns what it names unless told otherwise. */
#include "internal.h"


static int dir(const sharena_arena *a, sharena_id *out)
{
    if (!a)
        return SHARENA_EINVAL;
    if (a->closed)
        return SHARENA_ECLOSED;
    sharena_id d = __atomic_load_n(&sharena__hdr(a)->roots_id, __ATOMIC_ACQUIRE);
    if (sharena_type_of(a, d) != SHARENA_T_MAP)
        return SHARENA_ECORRUPT;
    *out = d;
    return 0;
}

int sharena_roots(const sharena_arena *a, sharena_id *out)
{
    if (!out)
        return SHARENA_EINVAL;
    return dir(a, out);
}

int sharena_root_get(const sharena_arena *a, const char *name, sharena_id *out)
{
    sharena_id d;
    int r = sharena__check_name(name);
    if (r < 0 || (r = dir(a, &d)) < 0)
        return r;
    return sharena_map_get(a, d, name, strlen(name), out);
}

static int make(sharena_arena *a, int type, uint64_t size, sharena_id *id)
{
    switch (type) {
    case SHARENA_T_MAP:
        return sharena_map_new(a, id);
    case SHARENA_T_VECTOR:
        return sharena_vector_new(a, id);
    case SHARENA_T_STRING:
        return sharena_string_new(a, "", 0, id);
    case SHARENA_T_NUMBER:
        return sharena_number_new(a, 0, id);
    case SHARENA_T_BOOL:
        return sharena_bool_new(a, false, id);
    case SHARENA_T_BYTES:
        return sharena_bytes_new(a, size, id);
    default:
        return SHARENA_EINVAL;
    }
}

static int check_existing(const sharena_arena *a, sharena_id id, int type,
                          uint64_t size)
{
    int t = sharena_type_of(a, id);
    if (t < 0)
        return t;
    if (t != type)
        return SHARENA_ETYPE;
    if (type == SHARENA_T_BYTES) {
        uint64_t have;
        int r = sharena_bytes_ptr(a, id, NULL, &have);
        if (r < 0)
            return r;
        if (have != size)
            return SHARENA_ERANGE;
    }
    return 0;
}

int sharena_root_ensure(sharena_arena *a, const char *name, int type,
                        uint64_t size, sharena_id *out, bool *created)
{
    sharena_id d, id;
    int r = sharena__check_name(name);
    if (r < 0 || (r = dir(a, &d)) < 0)
        return r;
    if (!out)
        return SHARENA_EINVAL;
    if (created)
        *created = false;
    size_t nlen = strlen(name);
    for (int tries = 0; tries < 8; tries++) {
        r = sharena_map_get(a, d, name, nlen, &id);
        if (r == 0) {
            r = check_existing(a, id, type, size);
            if (r == SHARENA_ESTALE)
                continue; /* replaced under us: look again */
            if (r == 0)
                *out = id;
            return r;
        }
        if (r != SHARENA_ENOENT)
            return r;
        if (a->readonly)
            return SHARENA_EROFS; /* it would have to be made */
        r = make(a, type, size, &id);
        if (r < 0)
            return r;
        uint64_t old;
        r = sharena__map_put(a, d, name, nlen, id | SHARENA__REF_OWNED,
                             SHARENA__PUT_IF_ABSENT, &old);
        if (r == 0) {
            *out = id;
            if (created)
                *created = true;
            return 0;
        }
        sharena_drop(a, id, 0); /* lost the race, or failed */
        if (r != SHARENA_EEXIST)
            return r;
    }
    return SHARENA_EBUSY;
}

int sharena_root_set(sharena_arena *a, const char *name, sharena_id id,
                     unsigned flags)
{
    sharena_id d;
    int r = sharena__check_name(name);
    if (r < 0 || (r = dir(a, &d)) < 0)
        return r;
    if (id == d)
        return SHARENA_EINVAL;
    return sharena_map_set(a, d, name, strlen(name), id, flags, NULL);
}

int sharena_root_remove(sharena_arena *a, const char *name)
{
    sharena_id d;
    int r = sharena__check_name(name);
    if (r < 0 || (r = dir(a, &d)) < 0)
        return r;
    return sharena_map_remove(a, d, name, strlen(name), NULL);
}
