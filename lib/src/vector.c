/* vector.c: ordered items in one block {len, cap, items[cap]}. Growth
 * allocates a block twice as large and swaps it in whole. Items are written
 * before `len` grows and `len` shrinks before items move down, so a reader
 * (or repair after a dead writer) never sees an index past valid items.
 * An item is a ref or a number stored in place (layout.h,
 * sharena__item_is_ref): every item word is loaded once and classified from
 * the local. A number in place has no id; asking for one (sharena_vector_get,
 * pop) makes it a number object under the vector's lock ("promotion"). */
#include "view.h"

#include <stdlib.h>

static void vec_init(sharena_arena *a, void *p, const void *ctx)
{
    (void)a;
    struct sharena__vector *v = p;
    v->len = 0;
    v->cap = *(const uint64_t *)ctx;
}

static int vec_block(sharena_arena *a, uint64_t cap, uint32_t tag,
                     uint64_t *off)
{
    if (cap > (a->heap_end - a->heap_start) / 8)
        return SHARENA_EFULL;
    int r = sharena__alloc(a, sizeof(struct sharena__vector) + cap * 8, tag,
                           off);
    if (r == 0)
        vec_init(a, a->base + *off, &cap);
    return r;
}

int sharena_vector_new(sharena_arena *a, sharena_id *out)
{
    if (!a || !out)
        return SHARENA_EINVAL;
    static const uint64_t cap = 4;
    return sharena__obj_new(a, SHARENA_T_VECTOR,
                            sizeof(struct sharena__vector) + cap * 8, 0,
                            vec_init, &cap, out);
}

struct vec_ctx {
    uint64_t index; /* item wanted (UINT64_MAX: none) */
    uint64_t len, item;
};

SHARENA__SEQLOCK_READER
static int vec_read_fn(const sharena_arena *a, uint64_t word, void *ctx)
{
    struct vec_ctx *c = ctx;
    struct sharena__vector_view v;
    if (!sharena__vector_at(a, word, &v))
        return SHARENA_ECORRUPT;
    c->len = v.len;
    c->item = c->index < v.len ? SHARENA__LD(v.v->items[c->index]) : 0;
    return 0;
}

/* Seqlock read of (len, item @p index). */
SHARENA__SEQLOCK_READER
static int vec_read(const sharena_arena *a, sharena_id id, uint64_t index,
                    uint64_t *len, uint64_t *item)
{
    struct vec_ctx c = {index, 0, 0};
    int r = sharena__read(a, id, SHARENA_T_VECTOR, vec_read_fn, &c);
    if (r < 0)
        return r;
    *len = c.len;
    if (item)
        *item = c.item;
    return 0;
}

int sharena_vector_len(const sharena_arena *a, sharena_id vec, uint64_t *len)
{
    if (!len)
        return SHARENA_EINVAL;
    return vec_read(a, vec, UINT64_MAX, len, NULL);
}

int sharena__vector_item(const sharena_arena *a, sharena_id vec, uint64_t index,
                         uint64_t *item)
{
    uint64_t len;
    int r = vec_read(a, vec, index, &len, item);
    if (r < 0)
        return r;
    return index < len ? 0 : SHARENA_ERANGE;
}

/* Give the number stored in place at @p index an id: under the vector's
 * lock, a number object with its value replaces it (owned). The item is
 * loaded again under the lock: a writer may have changed it since the
 * caller's read (a ref now is returned as it is). A failed creation
 * changes nothing. */
static int promote(sharena_arena *a, sharena_id vec, uint64_t index,
                   uint64_t *item)
{
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, vec, SHARENA_T_VECTOR, &s);
    if (nested < 0)
        return nested;
    int r = 0;
    struct sharena__vector_view v;
    if (!sharena__vector_at(a, SHARENA__LD(s->word), &v)) {
        r = SHARENA_ECORRUPT;
    } else if (index >= v.len) {
        r = SHARENA_ERANGE;
    } else {
        uint64_t it = SHARENA__LD(v.v->items[index]);
        if (!sharena__item_is_ref(it)) {
            sharena_id id;
            r = sharena_number_new(a, sharena__u2d(it), &id);
            if (r == 0) {
                it = id | SHARENA__REF_OWNED;
                SHARENA__HOOK("vector:promote-made");
                __atomic_store_n(&v.v->items[index], it, __ATOMIC_RELEASE);
            }
        }
        *item = it;
    }
    sharena__write_end(a, s, nested);
    return r;
}

int sharena_vector_get(const sharena_arena *a, sharena_id vec, uint64_t index,
                       sharena_id *value, bool *owned)
{
    uint64_t len, item;
    int r = vec_read(a, vec, index, &len, &item); /* (inlined, hot) */
    if (r < 0)
        return r;
    if (index >= len)
        return SHARENA_ERANGE;
    if (SHARENA__UNLIKELY(!sharena__item_is_ref(item))) {
        /* a number in place: the vector owns it; an id makes it an object
         * (the handle is const for the reader's sake: the arena is the
         * shared memory behind it, which promotion writes as any writer) */
        if (value) {
            if (a->readonly)
                return SHARENA_EROFS;
            r = promote((sharena_arena *)a, vec, index, &item);
            if (r < 0)
                return r;
        } else {
            item = SHARENA__REF_OWNED;
        }
    }
    if (value)
        *value = item & SHARENA__REF_ID_MASK;
    if (owned)
        *owned = (item & SHARENA__REF_OWNED) != 0;
    return 0;
}

struct vec_nums_ctx {
    uint64_t start, count;
    double *out;
};

/* Copy items [start, start + count) as numbers: a number in place is its
 * bits, a ref to a NUMBER object that object's word (one load, confirmed
 * by its generation); anything else is SHARENA_ETYPE. */
SHARENA__SEQLOCK_READER
static int vec_nums_fn(const sharena_arena *a, uint64_t word, void *ctx)
{
    struct vec_nums_ctx *c = ctx;
    struct sharena__vector_view v;
    if (!sharena__vector_at(a, word, &v))
        return SHARENA_ECORRUPT;
    if (c->start > v.len || c->count > v.len - c->start)
        return SHARENA_ERANGE;
    const uint64_t *items = &v.v->items[c->start];
    for (uint64_t i = 0; i < c->count; i++) {
        uint64_t it = SHARENA__LD(items[i]);
        if (SHARENA__LIKELY(!sharena__item_is_ref(it))) {
            c->out[i] = sharena__u2d(it);
            continue;
        }
        sharena_id id = it & SHARENA__REF_ID_MASK;
        struct sharena__slot *s = sharena__slot_at(a, sharena__id_slot(id));
        if (!s ||
            __atomic_load_n(&s->type, __ATOMIC_ACQUIRE) != SHARENA_T_NUMBER)
            return SHARENA_ETYPE;
        uint64_t w = __atomic_load_n(&s->word, __ATOMIC_ACQUIRE);
        if (__atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) != sharena__id_gen(id) ||
            SHARENA__LD(s->type) != SHARENA_T_NUMBER)
            return SHARENA_ETYPE; /* dropped: no number */
        c->out[i] = sharena__u2d(w);
    }
    return 0;
}

int sharena_vector_read_numbers(const sharena_arena *a, sharena_id vec,
                                uint64_t start, double *out, size_t count)
{
    if (!a || (count && !out))
        return SHARENA_EINVAL;
    struct vec_nums_ctx c = {start, count, out};
    return sharena__read(a, vec, SHARENA_T_VECTOR, vec_nums_fn, &c);
}

static uint64_t make_ref(sharena_id value, unsigned flags)
{
    return value | ((flags & SHARENA_OWNED) ? SHARENA__REF_OWNED : 0);
}

/* Make room for one more item; may swap in a larger block (*v becomes its
 * view). */
static int ensure_room(sharena_arena *a, struct sharena__slot *s,
                       struct sharena__vector_view *v)
{
    if (v->len < v->cap)
        return 0;
    uint64_t off, ncap = v->cap ? v->cap * 2 : 4;
    int r = vec_block(a, ncap, sharena__slot_index(a, s), &off);
    if (r < 0)
        return r;
    /* A scribbled allocator can hand out a block overlapping this one:
     * refuse it rather than copy over ourselves (fsck frees it). */
    if (off < v->off + sizeof *v->v + v->cap * 8 &&
        v->off < off + sizeof *v->v + ncap * 8)
        return SHARENA_ECORRUPT;
    struct sharena__vector *n = (void *)(a->base + off);
    sharena__rcopy(n->items, v->v->items, v->len * 8);
    n->len = v->len;
    SHARENA__HOOK("vector:grow-built");
    __atomic_store_n(&s->word, off, __ATOMIC_RELEASE);
    sharena__free(a, v->off);
    *v = (struct sharena__vector_view){n, off, ncap, v->len};
    return 0;
}

/* The item that stores number @p v: its bits, or, for a number whose bits
 * would read as a ref, an owned ref to a new number object (*made). */
static int number_item(sharena_arena *a, double v, uint64_t *item,
                       sharena_id *made)
{
    *made = 0;
    uint64_t bits = sharena__d2u(v);
    if (!sharena__item_is_ref(bits)) {
        *item = bits;
        return 0;
    }
    int r = sharena_number_new(a, v, made);
    *item = *made | SHARENA__REF_OWNED;
    return r;
}

/* The item that stores ref @p value, checked (not 0, not the vector). */
static int ref_item(sharena_arena *a, sharena_id vec, sharena_id value,
                    unsigned flags, uint64_t *item)
{
    if (!a)
        return SHARENA_EINVAL;
    struct sharena__slot *vs;
    int r = sharena__resolve(a, value, 0, &vs);
    if (r < 0)
        return r;
    if (value == vec)
        return SHARENA_EINVAL;
    *item = make_ref(value, flags);
    return 0;
}

/* Insert @p item before @p index; @p append puts it at the end whatever
 * len is. */
static int vec_insert(sharena_arena *a, sharena_id vec, uint64_t index,
                      uint64_t item, bool append)
{
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, vec, SHARENA_T_VECTOR, &s);
    if (nested < 0)
        return nested;
    int r = 0;
    struct sharena__vector_view v;
    if (!sharena__vector_at(a, SHARENA__LD(s->word), &v))
        r = SHARENA_ECORRUPT;
    else if (append)
        index = v.len;
    if (r == 0 && index > v.len)
        r = SHARENA_ERANGE;
    if (r == 0)
        r = ensure_room(a, s, &v);
    if (r == 0) {
        /* v.len < v.cap: items[0..n] lie inside the block */
        uint64_t *items = v.v->items, n = v.len;
        if (index < n) {
            /* duplicate the last item first so len never covers garbage */
            SHARENA__ST(items[n], SHARENA__LD(items[n - 1]));
            __atomic_store_n(&v.v->len, n + 1, __ATOMIC_RELEASE);
            memmove(&items[index + 1], &items[index], (n - 1 - index) * 8);
            SHARENA__ST(items[index], item);
        } else {
            SHARENA__ST(items[n], item);
            SHARENA__HOOK("vector:item-before-len");
            __atomic_store_n(&v.v->len, n + 1, __ATOMIC_RELEASE);
        }
    }
    sharena__write_end(a, s, nested);
    return r;
}

int sharena_vector_insert(sharena_arena *a, sharena_id vec, uint64_t index,
                          sharena_id value, sharena_insert_flags flags)
{
    uint64_t item;
    int r = ref_item(a, vec, value, flags, &item);
    return r < 0 ? r : vec_insert(a, vec, index, item, false);
}

int sharena_vector_push(sharena_arena *a, sharena_id vec, sharena_id value,
                        sharena_insert_flags flags)
{
    uint64_t item;
    int r = ref_item(a, vec, value, flags, &item);
    return r < 0 ? r : vec_insert(a, vec, 0, item, true);
}

/* Insert number @p v (append: at the end); a number object made for it is
 * dropped again when the insertion fails. */
static int vec_insert_number(sharena_arena *a, sharena_id vec, uint64_t index,
                             double v, bool append)
{
    if (!a)
        return SHARENA_EINVAL;
    uint64_t item;
    sharena_id made;
    int r = number_item(a, v, &item, &made);
    if (r == 0)
        r = vec_insert(a, vec, index, item, append);
    if (r < 0 && made)
        sharena_drop(a, made, 0);
    return r;
}

int sharena_vector_push_number(sharena_arena *a, sharena_id vec, double v)
{
    return vec_insert_number(a, vec, 0, v, true);
}

int sharena_vector_insert_number(sharena_arena *a, sharena_id vec,
                                 uint64_t index, double v)
{
    return vec_insert_number(a, vec, index, v, false);
}

/* Store @p item at @p index; the previous item, when it is a ref to
 * another object, is dropped (owned) or handed out in *old. */
static int vec_set(sharena_arena *a, sharena_id vec, uint64_t index,
                   uint64_t item, sharena_id *old)
{
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, vec, SHARENA_T_VECTOR, &s);
    if (nested < 0)
        return nested;
    int r = 0;
    uint64_t prev = 0;
    struct sharena__vector_view v;
    if (!sharena__vector_at(a, SHARENA__LD(s->word), &v))
        r = SHARENA_ECORRUPT;
    else if (index >= v.len)
        r = SHARENA_ERANGE;
    else {
        prev = SHARENA__LD(v.v->items[index]);
        __atomic_store_n(&v.v->items[index], item, __ATOMIC_RELEASE);
    }
    sharena__write_end(a, s, nested);
    uint64_t id = sharena__item_is_ref(item) ? item & SHARENA__REF_ID_MASK : 0;
    if (r == 0 && sharena__item_is_ref(prev) &&
        (prev & SHARENA__REF_ID_MASK) != id) {
        if (prev & SHARENA__REF_OWNED)
            sharena__drop_ref(a, prev, 0);
        else if (old)
            *old = prev & SHARENA__REF_ID_MASK;
    }
    return r;
}

int sharena_vector_set(sharena_arena *a, sharena_id vec, uint64_t index,
                       sharena_id value, sharena_insert_flags flags,
                       sharena_id *old)
{
    if (old)
        *old = 0;
    uint64_t item;
    int r = ref_item(a, vec, value, flags, &item);
    return r < 0 ? r : vec_set(a, vec, index, item, old);
}

int sharena_vector_set_number(sharena_arena *a, sharena_id vec, uint64_t index,
                              double v)
{
    if (!a)
        return SHARENA_EINVAL;
    uint64_t item;
    sharena_id made;
    int r = number_item(a, v, &item, &made);
    if (r == 0)
        r = vec_set(a, vec, index, item, NULL);
    if (r < 0 && made)
        sharena_drop(a, made, 0);
    return r;
}

/* Take item @p index out (index == UINT64_MAX: the last). With @p promote,
 * a number in place comes out as a new number object (made before anything
 * moves: a failure changes nothing). */
static int vec_take(sharena_arena *a, sharena_id vec, uint64_t index,
                    bool promote, uint64_t *ref)
{
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, vec, SHARENA_T_VECTOR, &s);
    if (nested < 0)
        return nested;
    int r = 0;
    struct sharena__vector_view v;
    if (!sharena__vector_at(a, SHARENA__LD(s->word), &v)) {
        r = SHARENA_ECORRUPT;
    } else {
        uint64_t n = v.len, *items = v.v->items;
        if (index == UINT64_MAX)
            index = n ? n - 1 : 0;
        if (index >= n) {
            r = SHARENA_ERANGE;
        } else {
            uint64_t it = SHARENA__LD(items[index]);
            if (promote && !sharena__item_is_ref(it)) {
                sharena_id id;
                r = sharena_number_new(a, sharena__u2d(it), &id);
                it = id | SHARENA__REF_OWNED;
            }
            if (r == 0) {
                *ref = it;
                memmove(&items[index], &items[index + 1], (n - 1 - index) * 8);
                __atomic_store_n(&v.v->len, n - 1, __ATOMIC_RELEASE);
            }
        }
    }
    sharena__write_end(a, s, nested);
    return r;
}

int sharena_vector_remove(sharena_arena *a, sharena_id vec, uint64_t index,
                          sharena_id *old)
{
    if (!a)
        return SHARENA_EINVAL;
    if (old)
        *old = 0;
    if (index == UINT64_MAX)
        return SHARENA_ERANGE;
    uint64_t ref = 0;
    int r = vec_take(a, vec, index, false, &ref);
    if (r < 0)
        return r;
    if (!sharena__item_is_ref(ref))
        return 0; /* a number in place: nothing to drop */
    if (ref & SHARENA__REF_OWNED)
        sharena__drop_ref(a, ref, 0);
    else if (old)
        *old = ref & SHARENA__REF_ID_MASK;
    return 0;
}

int sharena_vector_pop(sharena_arena *a, sharena_id vec, sharena_id *value)
{
    if (!a)
        return SHARENA_EINVAL;
    uint64_t ref = 0;
    int r = vec_take(a, vec, UINT64_MAX, value != NULL, &ref);
    if (r < 0)
        return r;
    if (value)
        *value = ref & SHARENA__REF_ID_MASK;
    return 0;
}

int sharena__vector_repair(sharena_arena *a, struct sharena__slot *s)
{
    uint64_t off = SHARENA__LD(s->word);
    uint64_t have = sharena__payload_size(a, off);
    if (have < sizeof(struct sharena__vector)) {
        int r = vec_block(a, 4, sharena__slot_index(a, s), &off);
        if (r < 0)
            return r;
        __atomic_store_n(&s->word, off, __ATOMIC_RELEASE);
        return 0;
    }
    /* clamp cap to the block and len to cap */
    struct sharena__vector *v = (void *)(a->base + off);
    uint64_t maxcap = (have - sizeof *v) / 8;
    uint64_t cap = SHARENA__LD(v->cap), len = SHARENA__LD(v->len);
    if (cap > maxcap)
        SHARENA__ST(v->cap, cap = maxcap);
    if (len > cap)
        SHARENA__ST(v->len, cap);
    return 0;
}

/* Replace items [start, start + count) with @p refs[0..n) (items: refs or
 * numbers in place) in one write
 * (build.c's splice). The new contents go into a fresh block that is swapped
 * in whole, as growth does: a failure (EFULL above all) changes nothing, and
 * a writer dying here leaves the old block or the new one, never a mix.
 * start == UINT64_MAX appends; count is clamped to the items there are. An
 * unowned ref to an object that an owned removed item held takes the
 * ownership over (v[0:1] = [v[0]] keeps the object). *removed (malloc'd,
 * the caller frees it) receives the items taken out, *nremoved their
 * number; the caller drops the owned refs among them after this returns. */
int sharena__vector_splice(sharena_arena *a, sharena_id vec, uint64_t start,
                           uint64_t count, uint64_t *refs, uint64_t n,
                           uint64_t **removed, uint64_t *nremoved)
{
    *removed = NULL;
    *nremoved = 0;
    if (n > (a->heap_end - a->heap_start) / 8)
        return SHARENA_EFULL;
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, vec, SHARENA_T_VECTOR, &s);
    if (nested < 0)
        return nested;
    int r = 0;
    uint64_t *gone = NULL;
    struct sharena__vector_view v;
    if (!sharena__vector_at(a, SHARENA__LD(s->word), &v)) {
        r = SHARENA_ECORRUPT;
        goto out;
    }
    if (start == UINT64_MAX)
        start = v.len;
    if (start > v.len) {
        r = SHARENA_ERANGE;
        goto out;
    }
    if (count > v.len - start)
        count = v.len - start;
    uint64_t tail = v.len - start - count, nlen = start + n + tail;
    if (count && !(gone = malloc(count * 8))) {
        r = SHARENA_ENOMEM;
        goto out;
    }
    if (count)
        sharena__rcopy(gone, &v.v->items[start], count * 8);
    uint64_t off, ncap = v.cap > nlen ? v.cap : nlen;
    if (ncap < 4)
        ncap = 4;
    r = vec_block(a, ncap, sharena__slot_index(a, s), &off);
    if (r < 0)
        goto out;
    if (off < v.off + sizeof *v.v + v.cap * 8 &&
        v.off < off + sizeof *v.v + ncap * 8) {
        r = SHARENA_ECORRUPT; /* as ensure_room() */
        goto out;
    }
    struct sharena__vector *nv = (void *)(a->base + off);
    sharena__rcopy(nv->items, v.v->items, start * 8);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t ref = refs[i];
        if (sharena__item_is_ref(ref) && !(ref & SHARENA__REF_OWNED)) {
            for (uint64_t j = 0; j < count; j++) {
                if (sharena__item_is_ref(gone[j]) &&
                    (gone[j] & SHARENA__REF_OWNED) &&
                    (gone[j] & SHARENA__REF_ID_MASK) == ref) {
                    gone[j] &= ~SHARENA__REF_OWNED;
                    ref |= SHARENA__REF_OWNED;
                    break;
                }
            }
        }
        SHARENA__ST(nv->items[start + i], ref);
    }
    sharena__rcopy(&nv->items[start + n], &v.v->items[start + count], tail * 8);
    SHARENA__ST(nv->len, nlen);
    SHARENA__HOOK("vector:splice-built");
    __atomic_store_n(&s->word, off, __ATOMIC_RELEASE);
    sharena__free(a, v.off);
out:
    sharena__write_end(a, s, nested);
    if (r < 0) {
        free(gone);
        return r;
    }
    *removed = gone;
    *nremoved = count;
    return 0;
}
