/* build.c: a parsed JSON value becomes a detached tree of arena objects:
 * string -> string, number -> number, true/false -> bool, object -> map,
 * array -> vector, every child owned by its container. null has no sharena
 * type and is refused. The tree is attached by the caller in one step, so a
 * failure (arena full, ...) leaves nothing behind. */
#include "cli.h"

#include <string.h>

int build_value(sharena_arena *a, const struct jval *v, sharena_id *out)
{
    sharena_id id = 0, child;
    int r;
    switch (v->t) {
    case J_NULL:
        return SHARENA_EINVAL;
    case J_BOOL:
        return sharena_bool_new(a, v->b, out);
    case J_NUM:
        return sharena_number_new(a, v->n, out);
    case J_STR:
        return sharena_string_new(a, v->s, v->slen, out);
    case J_ARR:
        r = sharena_vector_new(a, &id);
        for (size_t i = 0; r == 0 && i < v->len; i++) {
            r = build_value(a, &v->items[i], &child);
            if (r == 0) {
                r = sharena_vector_push(a, id, child, SHARENA_OWNED);
                if (r < 0)
                    sharena_drop(a, child, 0);
            }
        }
        break;
    case J_OBJ:
        r = sharena_map_new(a, &id);
        for (size_t i = 0; r == 0 && i < v->len; i++) {
            r = build_value(a, &v->items[i], &child);
            if (r == 0) {
                r = sharena_map_set(a, id, v->keys[i], v->klens[i], child,
                                    SHARENA_OWNED, NULL);
                if (r < 0)
                    sharena_drop(a, child, 0);
            }
        }
        break;
    default:
        return SHARENA_EINVAL;
    }
    if (r < 0) {
        if (id)
            sharena_drop(a, id, 0); /* drops the owned children with it */
        return r;
    }
    *out = id;
    return 0;
}
