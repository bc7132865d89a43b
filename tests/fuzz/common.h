/* common.h: helpers shared by the arena fuzz targets. */
#ifndef SHARENA_FUZZ_COMMON_H
#define SHARENA_FUZZ_COMMON_H

#include <sharena.h>
#include <stdlib.h>

/* Read every object reachable from the roots (depth- and count-bounded),
 * as a reader in another process would; results are ignored, only crashes,
 * hangs and sanitizer reports matter. */
static void fuzz_walk(const sharena_arena *a, sharena_id id, int depth,
                      int *budget)
{
    if (depth > 8 || --*budget < 0)
        return;
    char buf[256];
    size_t len;
    double d;
    bool b;
    switch (sharena_type_of(a, id)) {
    case SHARENA_T_STRING:
        sharena_string_get(a, id, buf, sizeof buf, &len);
        break;
    case SHARENA_T_NUMBER:
        sharena_number_get(a, id, &d);
        break;
    case SHARENA_T_BOOL:
        sharena_bool_get(a, id, &b);
        break;
    case SHARENA_T_BYTES: {
        void *p;
        uint64_t n;
        if (sharena_bytes_ptr(a, id, &p, &n) == 0 && n)
            sharena_bytes_read(a, id, n - 1, buf, 1);
        break;
    }
    case SHARENA_T_MAP: {
        uint64_t cur = 0;
        sharena_id v;
        for (int i = 0; i < 64 && sharena_map_next(a, id, &cur, buf, sizeof buf,
                                                   &len, &v, NULL) == 0;
             i++)
            fuzz_walk(a, v, depth + 1, budget);
        break;
    }
    case SHARENA_T_VECTOR: {
        uint64_t n = 0;
        sharena_id v;
        sharena_vector_len(a, id, &n);
        for (uint64_t i = 0; i < n && i < 64; i++)
            if (sharena_vector_get(a, id, i, &v, NULL) == 0)
                fuzz_walk(a, v, depth + 1, budget);
        break;
    }
    case SHARENA_T_STRUCT: {
        size_t nf = 0;
        sharena_shape_nfields(a, id, &nf);
        for (size_t i = 0; i < nf && i < 16; i++) {
            sharena_type t;
            uint64_t size;
            if (sharena_shape_field(a, id, i, buf, sizeof buf, &t, &size))
                continue;
            if (t == SHARENA_T_NUMBER)
                sharena_struct_get_number(a, id, i, &d);
            else if (t == SHARENA_T_BOOL)
                sharena_struct_get_bool(a, id, i, &b);
            else if (t == SHARENA_T_STRING)
                sharena_struct_get_string(a, id, i, buf, sizeof buf, &len);
        }
        break;
    }
    default:
        break;
    }
}

static void fuzz_walk_roots(const sharena_arena *a)
{
    sharena_id dir;
    int budget = 2000;
    if (sharena_roots(a, &dir) == 0)
        fuzz_walk(a, dir, 0, &budget);
}

#endif
