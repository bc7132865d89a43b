/* drop.c: freeing objects. Dropping a container also drops the children it
 * owns (SHARENA_DROP_RECURSIVE: every child), iteratively with an explicit
 * work list, so deep nesting cannot overflow the stack and a cycle in a
 * corrupt arena ends (the second visit finds a stale id). */
#include "internal.h"

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

/* Collect a container's children and free its auxiliary blocks (keys). */
static void children(sharena_arena *a, struct sharena__slot *s, bool all,
                     struct work *w)
{
    uint64_t off = s->word, have = sharena__payload_size(a, off);
    switch (s->type) {
    case SHARENA_T_MAP: {
        struct sharena__map *m = (void *)(a->base + off);
        if (have < sizeof *m || m->cap > (have - sizeof *m) / sizeof m->entries[0])
            return;
        for (uint64_t i = 0; i < m->cap; i++) {
            if (!m->entries[i].key)
                continue;
            uint64_t key = m->entries[i].key;
            push(w, m->entries[i].value, all);
            m->entries[i].key = 0; /* detach first: repair must not see it */
            sharena__free(a, key);
        }
        m->count = 0;
        break;
    }
    case SHARENA_T_VECTOR: {
        struct sharena__vector *v = (void *)(a->base + off);
        if (have < sizeof *v || v->len > (have - sizeof *v) / 8)
            return;
        for (uint64_t i = 0; i < v->len; i++)
            push(w, v->items[i], all);
        v->len = 0;
        break;
    }
    case SHARENA_T_STRUCT: {
        struct sharena__struct *st = (void *)(a->base + off);
        if (have < sizeof *st || st->nfields > (have - sizeof *st) / 8)
            return;
        for (uint64_t i = 0; i < st->nfields; i++) {
            char name[SHARENA_FIELD_NAME_MAX + 1];
            int type = 0;
            if (sharena_shape_field(a, st->shape & SHARENA__REF_ID_MASK, i,
                                    name, sizeof name, &type, NULL) < 0)
                break;
            if (type == SHARENA_T_STRING || type == SHARENA_T_BYTES)
                push(w, st->cells[i] | SHARENA__REF_OWNED, true);
        }
        break;
    }
    default:
        break;
    }
}

static bool has_block(int type)
{
    return type != SHARENA_T_NUMBER && type != SHARENA_T_BOOL;
}

static int drop_one(sharena_arena *a, sharena_id id, bool all, struct work *w)
{
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, id, 0, &s);
    if (nested < 0)
        return nested;
    int type = s->type;
    uint64_t off = has_block(type) ? s->word : 0;
    children(a, s, all, w);
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
    struct work w = {0};
    bool all = flags & SHARENA_DROP_RECURSIVE;
    int r = drop_one(a, id, all, &w);
    /* Children: a stale one was dropped by someone else; go on. */
    while (r == 0 && w.n) {
        sharena_id child = w.ids[--w.n];
        if (child != sharena__hdr(a)->roots_id)
            drop_one(a, child, all, &w);
    }
    free(w.ids);
    return r;
}

int sharena__drop_ref(sharena_arena *a, uint64_t ref, unsigned flags)
{
    sharena_id id = ref & SHARENA__REF_ID_MASK;
    if (id == sharena__hdr(a)->roots_id)
        return SHARENA_EINVAL;
    return drop_tree(a, id, flags);
}

int sharena_drop(sharena_arena *a, sharena_id id, unsigned flags)
{
    if (!a)
        return SHARENA_EINVAL;
    if (a->readonly)
        return SHARENA_EROFS;
    if (a->closed)
        return SHARENA_ECLOSED;
    if (id == __atomic_load_n(&sharena__hdr(a)->roots_id, __ATOMIC_RELAXED))
        return SHARENA_EINVAL;
    return drop_tree(a, id, flags);
}
