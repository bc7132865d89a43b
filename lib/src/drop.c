/* drop.c: freeing objects. Dropping a container also drops the children it
 * owns (SHARENA_DROP_RECURSIVE: every child), iteratively with an explicit
 * work list, so deep nesting cannot overflow the stack and a cycle in a
 * corrupt arena ends (the second visit finds a stale id). */
#include "view.h"

#include <stdlib.h>

struct work {
    sharena_id *ids;
    size_t n, cap;
    bool oom;
};

static void push(struct work *w, uint64_t ref, bool all)
{
    if (!(ref & SHARENA__REF_OWNED) && !all)
        return;
    sharena_id id = ref & SHARENA__REF_ID_MASK;
    if (!id)
        return;
    if (w->n == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 16;
        sharena_id *p = realloc(w->ids, nc * sizeof *p);
        if (!p) {
            w->oom = true; /* leave the rest allocated: fsck finds it */
            return;
        }
        w->ids = p;
        w->cap = nc;
    }
    w->ids[w->n++] = id;
}

/* Collect the children of the container of @p type whose block is at
 * @p off, and free its auxiliary blocks (keys). The container is locked;
 * its fields are still read once and checked (a peer can ignore locks). */
static void children(sharena_arena *a, int type, uint64_t off, bool all,
                     struct work *w)
{
    switch (type) {
    case SHARENA_T_MAP: {
        struct sharena__map_view t;
        if (!sharena__map_at(a, off, &t))
            return;
        uint64_t n = SHARENA__LD(t.m->count);
        if (n > t.cap)
            n = t.cap;
        /* detach first: repair must not see entries whose key blocks are
         * freed (a dropper dying here leaves them to repair's sweep) */
        SHARENA__ST(t.m->count, 0);
        for (uint64_t i = 0; i < n; i++) {
            struct sharena__map_entry *e = &t.e[i];
            if (SHARENA__LD(e->vkind) == SHARENA__V_REF)
                push(w, SHARENA__LD(e->value.w[0]), all);
            if (SHARENA__LD(e->klen) == SHARENA__KEY_BLOCK)
                sharena__free(a, SHARENA__LD(e->key.off));
        }
        break;
    }
    case SHARENA_T_VECTOR: {
        struct sharena__vector_view v;
        if (!sharena__vector_at(a, off, &v))
            return;
        for (uint64_t i = 0; i < v.len; i++) {
            uint64_t it = SHARENA__LD(v.v->items[i]);
            if (sharena__item_is_ref(it)) /* not a number in place */
                push(w, it, all);
        }
        SHARENA__ST(v.v->len, 0);
        break;
    }
    case SHARENA_T_STRUCT: {
        struct sharena__struct_view st;
        if (!sharena__struct_at(a, off, &st))
            return;
        for (uint64_t i = 0; i < st.nfields; i++) {
            sharena_type ftype = SHARENA_T_NONE;
            if (sharena_shape_field(a, st.shape & SHARENA__REF_ID_MASK, i, NULL,
                                    0, &ftype, NULL) < 0)
                break;
            if (ftype == SHARENA_T_STRING || ftype == SHARENA_T_BYTES)
                push(w, SHARENA__LD(st.st->cells[i]) | SHARENA__REF_OWNED,
                     true);
        }
        break;
    }
    default:
        break;
    }
}

static bool has_block(int type)
{
    return type != SHARENA_T_NUMBER && type != SHARENA_T_BOOL &&
           type != SHARENA_T_NULL;
}

static int drop_one(sharena_arena *a, sharena_id id, bool all, struct work *w)
{
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, id, 0, &s);
    if (nested < 0)
        return nested;
    int type = SHARENA__LD(s->type);
    uint64_t off = has_block(type) ? SHARENA__LD(s->word) : 0;
    children(a, type, off, all, w);
    SHARENA__HOOK("drop:detached");
    sharena__obj_kill(s);
    SHARENA__HOOK("drop:killed");
    /* Reclaim while still holding the lock, so a dead dropper's slot is
     * recognisable (killed, not listed, lock owner dead) and a reused slot
     * never sees our seq change. */
    sharena__write_finish(a, s);
    sharena__obj_reclaim(a, s, off);
    if (!nested)
        sharena__unlock(a, &s->lock);
    return 0;
}

static int drop_tree(sharena_arena *a, sharena_id id, unsigned flags)
{
    struct work w = {0}, shapes = {0};
    bool all = flags & SHARENA_DROP_RECURSIVE;
    int r = drop_one(a, id, all, &w);
    /* Children: a stale one was dropped by someone else; go on. Shapes go
     * last: a struct in the same tree needs its shape to find the string
     * and bytes children it owns (a container owning a shape and structs
     * of it would otherwise leak those when the shape went first). */
    while (r == 0 && w.n) {
        sharena_id child = w.ids[--w.n];
        if (child == SHARENA__LD(sharena__hdr(a)->roots_id))
            continue;
        if (sharena_type_of(a, child) == SHARENA_T_SHAPE) {
            push(&shapes, child | SHARENA__REF_OWNED, true);
            if (!shapes.oom)
                continue;
        }
        drop_one(a, child, all, &w);
    }
    for (size_t i = 0; r == 0 && i < shapes.n; i++)
        drop_one(a, shapes.ids[i], all, &w); /* a shape has no children */
    free(w.ids);
    free(shapes.ids);
    return r;
}

int sharena__drop_ref(sharena_arena *a, uint64_t ref, unsigned flags)
{
    sharena_id id = ref & SHARENA__REF_ID_MASK;
    if (id == SHARENA__LD(sharena__hdr(a)->roots_id))
        return SHARENA_EINVAL;
    return drop_tree(a, id, flags);
}

int sharena_drop(sharena_arena *a, sharena_id id, sharena_drop_flags flags)
{
    if (!a)
        return SHARENA_EINVAL;
    if (a->readonly)
        return SHARENA_EROFS;
    if (a->closed)
        return SHARENA_ECLOSED;
    if (id == SHARENA__LD(sharena__hdr(a)->roots_id))
        return SHARENA_EINVAL;
    return drop_tree(a, id, flags);
}
