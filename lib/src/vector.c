/* vector.c: ordered ids in one block {len, cap, items[cap]}. Growth
 * allocates a block twice as large and swaps it in whole. Items are written
 * before `len` grows and `len` shrinks before items move down, so a reader
 * (or repair after a dead writer) never sees an index past valid items. */
#include "internal.h"

SHARENA__SEQLOCK_READER
static struct sharena__vector *vec_at(const sharena_arena *a, uint64_t off)
{
    uint64_t have = sharena__payload_size(a, off);
    if (have < sizeof(struct sharena__vector))
        return NULL;
    struct sharena__vector *v = (void *)(a->base + off);
    if (v->cap > (have - sizeof *v) / 8 || v->len > v->cap)
        return NULL;
    return v;
}

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

/* Seqlock read of (len, item @p index). */
SHARENA__SEQLOCK_READER
static int vec_read(const sharena_arena *a, sharena_id id, uint64_t index,
                    uint64_t *len, uint64_t *item)
{
    for (unsigned attempt = 0;; attempt++) {
        struct sharena__slot *s;
        int r = sharena__resolve(a, id, SHARENA_T_VECTOR, &s);
        if (r < 0)
            return r;
        uint32_t seq = sharena__read_begin(s);
        if (!(seq & 1)) {
            const struct sharena__vector *v =
                vec_at(a, __atomic_load_n(&s->word, __ATOMIC_RELAXED));
            uint64_t n = v ? v->len : 0;
            uint64_t it = v && index < n ? v->items[index] : 0;
            if (sharena__read_ok(s, seq) &&
                __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) ==
                    sharena__id_gen(id)) {
                if (!v)
                    return SHARENA_ECORRUPT;
                *len = n;
                if (item)
                    *item = it;
                return 0;
            }
        }
        if (attempt == 200)
            sharena__read_settle(a, s);
        if (!sharena__read_backoff(attempt))
            return SHARENA_EBUSY;
    }
}

int sharena_vector_len(const sharena_arena *a, sharena_id vec, uint64_t *len)
{
    if (!len)
        return SHARENA_EINVAL;
    return vec_read(a, vec, UINT64_MAX, len, NULL);
}

int sharena_vector_get(const sharena_arena *a, sharena_id vec, uint64_t index,
                       sharena_id *value, bool *owned)
{
    uint64_t len, item;
    int r = vec_read(a, vec, index, &len, &item);
    if (r < 0)
        return r;
    if (index >= len)
        return SHARENA_ERANGE;
    if (!(item & SHARENA__REF_ID_MASK))
        return SHARENA_ECORRUPT; /* elements are never id 0 */
    if (value)
        *value = item & SHARENA__REF_ID_MASK;
    if (owned)
        *owned = (item & SHARENA__REF_OWNED) != 0;
    return 0;
}

static uint64_t make_ref(sharena_id value, unsigned flags)
{
    return value | ((flags & SHARENA_OWNED) ? SHARENA__REF_OWNED : 0);
}

/* Make room for one more item; may swap in a larger block. */
static int ensure_room(sharena_arena *a, struct sharena__slot *s,
                       struct sharena__vector **vp)
{
    struct sharena__vector *v = *vp;
    if (v->len < v->cap)
        return 0;
    uint64_t off, ncap = v->cap ? v->cap * 2 : 4;
    uint64_t oldlen = v->len, oldend = s->word + sizeof *v + v->cap * 8;
    int r = vec_block(a, ncap, sharena__slot_index(a, s), &off);
    if (r < 0)
        return r;
    /* A scribbled allocator can hand out a block overlapping this one:
     * refuse it rather than copy over ourselves (fsck frees it). */
    if (off < oldend && s->word < off + sizeof *v + ncap * 8)
        return SHARENA_ECORRUPT;
    struct sharena__vector *n = (void *)(a->base + off);
    memcpy(n->items, v->items, oldlen * 8);
    n->len = oldlen;
    SHARENA__HOOK("vector:grow-built");
    uint64_t old = s->word;
    __atomic_store_n(&s->word, off, __ATOMIC_RELEASE);
    sharena__free(a, old);
    *vp = n;
    return 0;
}

/* Insert before @p index; @p append puts it at the end whatever len is. */
static int vec_insert(sharena_arena *a, sharena_id vec, uint64_t index,
                      sharena_id value, unsigned flags, bool append)
{
    if (!a)
        return SHARENA_EINVAL;
    struct sharena__slot *vs;
    int r = sharena__resolve(a, value, 0, &vs);
    if (r < 0)
        return r;
    if (value == vec)
        return SHARENA_EINVAL;
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, vec, SHARENA_T_VECTOR, &s);
    if (nested < 0)
        return nested;
    struct sharena__vector *v = vec_at(a, s->word);
    if (v && append)
        index = v->len;
    if (!v)
        r = SHARENA_ECORRUPT;
    else if (index > v->len)
        r = SHARENA_ERANGE;
    else
        r = ensure_room(a, s, &v);
    /* Check the block again before writing into it: on a scribbled arena
     * the allocator can hand out a block that overlaps this one. */
    if (r == 0 && ((v = vec_at(a, s->word)) == NULL || v->len >= v->cap ||
                   index > v->len))
        r = SHARENA_ECORRUPT;
    if (r == 0) {
        uint64_t n = v->len;
        if (index < n) {
            /* duplicate the last item first so len never covers garbage */
            v->items[n] = v->items[n - 1];
            __atomic_store_n(&v->len, n + 1, __ATOMIC_RELEASE);
            memmove(&v->items[index + 1], &v->items[index],
                    (n - 1 - index) * 8);
            v->items[index] = make_ref(value, flags);
        } else {
            v->items[n] = make_ref(value, flags);
            SHARENA__HOOK("vector:item-before-len");
            __atomic_store_n(&v->len, n + 1, __ATOMIC_RELEASE);
        }
    }
    sharena__write_end(a, s, nested);
    return r;
}

int sharena_vector_insert(sharena_arena *a, sharena_id vec, uint64_t index,
                          sharena_id value, unsigned flags)
{
    return vec_insert(a, vec, index, value, flags, false);
}

int sharena_vector_push(sharena_arena *a, sharena_id vec, sharena_id value,
                        unsigned flags)
{
    return vec_insert(a, vec, 0, value, flags, true);
}

int sharena_vector_set(sharena_arena *a, sharena_id vec, uint64_t index,
                       sharena_id value, unsigned flags, sharena_id *old)
{
    if (!a)
        return SHARENA_EINVAL;
    if (old)
        *old = 0;
    struct sharena__slot *vs;
    int r = sharena__resolve(a, value, 0, &vs);
    if (r < 0)
        return r;
    if (value == vec)
        return SHARENA_EINVAL;
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, vec, SHARENA_T_VECTOR, &s);
    if (nested < 0)
        return nested;
    uint64_t prev = 0;
    struct sharena__vector *v = vec_at(a, s->word);
    if (!v)
        r = SHARENA_ECORRUPT;
    else if (index >= v->len)
        r = SHARENA_ERANGE;
    else {
        prev = v->items[index];
        __atomic_store_n(&v->items[index], make_ref(value, flags),
                         __ATOMIC_RELEASE);
    }
    sharena__write_end(a, s, nested);
    if (r == 0 && prev && (prev & SHARENA__REF_ID_MASK) != value) {
        if (prev & SHARENA__REF_OWNED)
            sharena__drop_ref(a, prev, 0);
        else if (old)
            *old = prev & SHARENA__REF_ID_MASK;
    }
    return r;
}

/* Take item @p index out (index == UINT64_MAX: the last). */
static int vec_take(sharena_arena *a, sharena_id vec, uint64_t index,
                    uint64_t *ref)
{
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, vec, SHARENA_T_VECTOR, &s);
    if (nested < 0)
        return nested;
    int r = 0;
    struct sharena__vector *v = vec_at(a, s->word);
    if (!v) {
        r = SHARENA_ECORRUPT;
    } else {
        uint64_t n = v->len;
        if (index == UINT64_MAX)
            index = n ? n - 1 : 0;
        if (index >= n) {
            r = SHARENA_ERANGE;
        } else {
            *ref = v->items[index];
            memmove(&v->items[index], &v->items[index + 1],
                    (n - 1 - index) * 8);
            __atomic_store_n(&v->len, n - 1, __ATOMIC_RELEASE);
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
    int r = vec_take(a, vec, index, &ref);
    if (r < 0)
        return r;
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
    int r = vec_take(a, vec, UINT64_MAX, &ref);
    if (r < 0)
        return r;
    if (value)
        *value = ref & SHARENA__REF_ID_MASK;
    return 0;
}

int sharena__vector_repair(sharena_arena *a, struct sharena__slot *s)
{
    uint64_t have = sharena__payload_size(a, s->word);
    if (have < sizeof(struct sharena__vector)) {
        uint64_t off;
        int r = vec_block(a, 4, sharena__slot_index(a, s), &off);
        if (r < 0)
            return r;
        __atomic_store_n(&s->word, off, __ATOMIC_RELEASE);
        return 0;
    }
    struct sharena__vector *v = (void *)(a->base + s->word);
    uint64_t maxcap = (have - sizeof *v) / 8;
    if (v->cap > maxcap)
        v->cap = maxcap;
    if (v->len > v->cap)
        v->len = v->cap;
    return 0;
}
