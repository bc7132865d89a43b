/* build.c: a parsed JSON value becomes a detached tree of arena objects
 * through the library's value builder (sharena_build_*), the same one the
 * Node and Python bindings use: string -> string, number -> number,
 * true/false -> bool, object -> map, array -> vector, every child owned by
 * its container, null -> null. A failure (arena
 * full, ...) leaves nothing behind; the caller attaches the tree in one
 * step. */
#include "cli.h"

#include <string.h>

static void walk(sharena_builder *b, const struct jval *v, size_t depth)
{
    if (sharena_build_error(b))
        return; /* the first failure is kept: stop */
    switch (v->t) {
    case J_BOOL:
        sharena_build_bool(b, v->b);
        break;
    case J_NUM:
        sharena_build_number(b, v->n);
        break;
    case J_STR:
        sharena_build_string(b, v->s, v->slen);
        break;
    case J_ARR:
        if (sharena_build_vector(b) < 0)
            break;
        for (size_t i = 0; i < v->len; i++)
            walk(b, &v->items[i], depth + 1);
        sharena_build_end(b);
        break;
    case J_OBJ:
        if (sharena_build_map(b) < 0)
            break;
        for (size_t i = 0; i < v->len; i++) {
            sharena_build_key(b, v->keys[i], v->klens[i]);
            walk(b, &v->items[i], depth + 1);
        }
        sharena_build_end(b);
        break;
    default: /* J_NULL */
        sharena_build_null(b);
        break;
    }
}

int build_value(sharena_arena *a, const struct jval *v, sharena_id *out)
{
    sharena_builder *b;
    int r = sharena_build_begin(a, &b);
    if (r < 0)
        return r;
    walk(b, v, 0);
    return sharena_build_finish(b, out);
}
