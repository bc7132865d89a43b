/* roots.c: named roots, where processes meet. The directory is an ordinary
 * map (header.roots_id) that owns what it names unless told otherwise.
 *
 * A root whose object was dropped (sharena_drop() on it: the directory
 * keeps an entry naming a dead id) is no root: sharena_root_get() reports
 * SHARENA_ENOENT, and sharena_root_ensure() replaces the entry with a new
 * object, under the directory's lock so that no other process's new root
 * is overwritten. */
#include "internal.h"


static int dir(const sharena_arena *a, sharena_id *out)
{
    if (!a)
        return SHARENA_EINVAL;
    if (a->closed)
        return SHARENA_ECLOSED;
    /* read once; an id out of range or naming anything but a map is a
     * scribbled header */
    sharena_id d = SHARENA__LD(sharena__hdr(a)->roots_id);
    if (d == 0 || d > SHARENA_ID_MAX || sharena_type_of(a, d) != SHARENA_T_MAP)
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

/* Look up @p name; an entry naming a dropped object is reported as
 * SHARENA_ENOENT (one that was replaced meanwhile is looked up again). */
static int lookup(const sharena_arena *a, sharena_id d, const char *name,
                  size_t nlen, sharena_id *out)
{
    sharena_id id = 0;
    for (int tries = 0; tries < 8; tries++) {
        sharena_id prev = id;
        int r = sharena_map_get(a, d, name, nlen, &id);
        if (r < 0)
            return r;
        if (sharena_type_of(a, id) != SHARENA_ESTALE) {
            *out = id;
            return 0;
        }
        if (id == prev)
            return SHARENA_ENOENT; /* dropped: ids never come back */
    }
    return SHARENA_EBUSY;
}

int sharena_root_get(const sharena_arena *a, const char *name, sharena_id *out)
{
    sharena_id d;
    int r = sharena__check_name(name);
    if (r < 0 || (r = dir(a, &d)) < 0)
        return r;
    if (!out)
        return SHARENA_EINVAL;
    return lookup(a, d, name, strlen(name), out);
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
    case SHARENA_T_NULL:
        return sharena_null_new(a, id);
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

/* The entry of @p name names @p dead, a dropped object: under the
 * directory's lock, if it still does, point it at a new object of @p type
 * (owned by the directory). SHARENA_EAGAIN when the entry changed meanwhile
 * (look again). */
static int replace_dropped(sharena_arena *a, sharena_id d, const char *name,
                           size_t nlen, sharena_id dead, int type,
                           uint64_t size, sharena_id *out)
{
    int l = sharena_lock(a, d);
    if (l < 0 && l != SHARENA_EDEADLK) /* (EDEADLK: the caller holds it) */
        return l;
    sharena_id cur, id;
    int r = sharena_map_get(a, d, name, nlen, &cur);
    if (r == SHARENA_ENOENT || (r == 0 && cur != dead))
        r = SHARENA_EAGAIN;
    if (r == 0)
        r = make(a, type, size, &id);
    if (r == 0) {
        struct sharena__mval v = {SHARENA__V_REF,
                                  0,
                                  {id | SHARENA__REF_OWNED, 0}},
                             old;
        r = sharena__map_put(a, d, name, nlen, &v, SHARENA__PUT_SET, &old);
        if (r < 0)
            sharena_drop(a, id, 0);
        else
            *out = id; /* (old names the dead object: nothing to free) */
    }
    if (l == 0)
        sharena_unlock(a, d);
    return r;
}

int sharena_root_ensure(sharena_arena *a, const char *name, sharena_type type,
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
            if (r == SHARENA_ESTALE && a->readonly) {
                /* dropped: it would have to be made; else replaced under
                 * us: look again */
                sharena_id again;
                r = lookup(a, d, name, nlen, &again);
                if (r < 0)
                    return r == SHARENA_ENOENT ? SHARENA_EROFS : r;
                continue;
            }
            if (r == SHARENA_ESTALE) {
                /* dropped (then make it again), or replaced under us */
                r = replace_dropped(a, d, name, nlen, id, type, size, out);
                if (r == SHARENA_EAGAIN)
                    continue;
                if (r == 0 && created)
                    *created = true;
                return r;
            }
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
        struct sharena__mval v = {SHARENA__V_REF,
                                  0,
                                  {id | SHARENA__REF_OWNED, 0}},
                             old;
        r = sharena__map_put(a, d, name, nlen, &v, SHARENA__PUT_IF_ABSENT,
                             &old);
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
                     sharena_insert_flags flags)
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
