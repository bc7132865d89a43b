/* handle.c: the handle table. Slots live in chunks that grow geometrically
 * (chunk k holds SLOT_CHUNK0 << k slots) and never move, so a slot index maps
 * to its chunk with one count-leading-zeros. Free slots form a FIFO through
 * their `word`, which spreads reuse over many slots and keeps generations
 * from wrapping quickly; a slot whose generation is exhausted is retired.
 *
 * Every field of the table and of the header is loaded once (SHARENA__LD)
 * and validated before use, under the arena lock too (a hostile peer does
 * not take it): slot numbers before they index a chunk, chunk offsets once
 * before they are cached, and loops over slots stop at the number of slots
 * that fit in the heap. The free FIFO is never walked here: taking a slot
 * reads one link, so a cycle in it costs a SHARENA_ECORRUPT, not a loop. */
#include "internal.h"

static inline unsigned chunk_of(uint64_t index, uint64_t *first)
{
    uint64_t j = index / SHARENA__SLOT_CHUNK0 + 1;
    unsigned k = 63u - (unsigned)__builtin_clzll(j);
    *first = (uint64_t)SHARENA__SLOT_CHUNK0 * ((UINT64_C(1) << k) - 1);
    return k;
}

static inline uint64_t chunk_bytes(unsigned k)
{
    return ((uint64_t)SHARENA__SLOT_CHUNK0 << k) * sizeof(struct sharena__slot);
}

void sharena__chunks_sync(sharena_arena *a)
{
    uint32_t ep = __atomic_load_n(&sharena__hdr(a)->layout_epoch,
                                  __ATOMIC_ACQUIRE);
    if (SHARENA__UNLIKELY(ep !=
                          __atomic_load_n(&a->chunk_epoch, __ATOMIC_RELAXED))) {
        for (unsigned j = 0; j < SHARENA__SLOT_CHUNKS; j++)
            __atomic_store_n(&a->chunks[j], NULL, __ATOMIC_RELEASE);
        __atomic_store_n(&a->chunk_epoch, ep, __ATOMIC_RELEASE);
    }
}

struct sharena__slot *sharena__slot_at_slow(const sharena_arena *a,
                                            uint64_t index)
{
    if (SHARENA__UNLIKELY(index == 0))
        return NULL;
    uint64_t first;
    unsigned k = chunk_of(index, &first);
    if (SHARENA__UNLIKELY(k >= SHARENA__SLOT_CHUNKS))
        return NULL;
    sharena_arena *m = (sharena_arena *)a; /* the cache is process-local */
    sharena__chunks_sync(m);
    /* Chunks never move while the arena is healthy, so each handle caches
     * them (and a scribbled offset in the header does not move them
     * either). fsck --repair may give one up, and a later allocation put a
     * new one elsewhere: it bumps layout_epoch, and a handle that sees a
     * new epoch forgets its cache rather than read and write slots in what
     * is now someone else's block (a long-lived broker scans slots when
     * clients leave). One load from a read-mostly header line. */
    struct sharena__slot *c = __atomic_load_n(&a->chunks[k], __ATOMIC_ACQUIRE);
    if (SHARENA__UNLIKELY(!c)) {
        /* loaded once, checked once, cached: later loads of the slot
         * use the cached pointer, never this field again */
        uint64_t off = /* acquire: pairs with the chunk's publish */
            SHARENA__LD_ACQ(sharena__hdr(a)->slot_chunks[k]);
        if (!off)
            return NULL;
        c = sharena__payload(a, off, chunk_bytes(k));
        if (!c)
            return NULL;
        __atomic_store_n(&m->chunks[k], c, __ATOMIC_RELEASE);
    }
    return &c[index - first];
}

int sharena__resolve(const sharena_arena *a, sharena_id id, int type,
                     struct sharena__slot **out)
{
    if (SHARENA__UNLIKELY(!a || a->closed))
        return a ? SHARENA_ECLOSED : SHARENA_EINVAL;
    if (SHARENA__UNLIKELY(id == 0 || id > SHARENA_ID_MAX))
        return SHARENA_EINVAL;
    struct sharena__slot *s = sharena__slot_at(a, sharena__id_slot(id));
    if (SHARENA__UNLIKELY(!s))
        return SHARENA_ENOENT;
    uint32_t gen = __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE);
    uint8_t t = __atomic_load_n(&s->type, __ATOMIC_ACQUIRE);
    if (SHARENA__UNLIKELY(gen != sharena__id_gen(id)))
        return SHARENA_ESTALE;
    if (SHARENA__UNLIKELY(t == 0 || t >= SHARENA_T__COUNT ||
                          (type && t != type))) {
        /* The type may be a later object's: the slot freed and reused
         * between the two loads (the drop moves the generation first).
         * That is the id gone stale, not a wrong type or damage. */
        if (__atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) != gen)
            return SHARENA_ESTALE;
        if (t == 0)
            return (SHARENA__LD(s->flags) & SHARENA__SLOT_RETIRED) || gen
                       ? SHARENA_ESTALE
                       : SHARENA_ENOENT;
        return t >= SHARENA_T__COUNT ? SHARENA_ECORRUPT : SHARENA_ETYPE;
    }
    *out = s;
    return 0;
}

/* Take a slot off the free FIFO or extend the table. Arena lock held. */
static int slot_take(sharena_arena *a, uint64_t *index)
{
    struct sharena__header *h = sharena__hdr(a);
    uint64_t head = SHARENA__LD(h->slot_free_head);
    if (head) {
        struct sharena__slot *s = sharena__slot_at(a, head);
        if (!s || SHARENA__LD(s->type))
            return SHARENA_ECORRUPT;
        uint64_t next = SHARENA__LD(s->word);
        if (next == head || (next && !sharena__slot_at(a, next)))
            return SHARENA_ECORRUPT;
        SHARENA__ST(h->slot_free_head, next);
        if (!next)
            SHARENA__ST(h->slot_free_tail, 0);
        SHARENA__ST(s->flags,
                    (uint8_t)(SHARENA__LD(s->flags) & ~SHARENA__SLOT_LISTED));
        *index = head;
        return 0;
    }
    uint64_t idx = SHARENA__LD(h->slot_count);
    uint64_t first;
    if (idx == 0)
        return SHARENA_ECORRUPT;
    unsigned k = chunk_of(idx, &first);
    if (idx >= UINT32_MAX || k >= SHARENA__SLOT_CHUNKS)
        return SHARENA_EFULL;
    if (!SHARENA__LD(h->slot_chunks[k])) {
        if (idx != (first ? first : 1))
            return SHARENA_ECORRUPT;
        uint64_t off;
        int r = sharena__alloc_locked(a, chunk_bytes(k), 0, &off);
        if (r < 0)
            return r;
        /* Zeroed before it is published: a process dying in between
         * leaves a tag-0 block that no slot_chunks[] entry names, which
         * arena-lock recovery frees (arena_garbage). */
        SHARENA__HOOK("table:chunk-allocated");
        memset(a->base + off, 0, chunk_bytes(k));
        __atomic_store_n(&h->slot_chunks[k], off, __ATOMIC_RELEASE);
    }
    /* a slot past the count was never used: one in use means the count
     * was lowered under us (never hand a live slot out twice) */
    struct sharena__slot *s = sharena__slot_at(a, idx);
    if (!s || SHARENA__LD(s->type))
        return SHARENA_ECORRUPT;
    SHARENA__ST(h->slot_count, idx + 1);
    *index = idx;
    return 0;
}

static void slot_put(sharena_arena *a, uint64_t index, struct sharena__slot *s)
{
    struct sharena__header *h = sharena__hdr(a);
    SHARENA__ST(s->word, 0);
    uint8_t fl = SHARENA__LD(s->flags);
    if (fl & (SHARENA__SLOT_RETIRED | SHARENA__SLOT_LISTED))
        return;
    SHARENA__ST(s->flags, (uint8_t)(fl | SHARENA__SLOT_LISTED));
    uint64_t tail = SHARENA__LD(h->slot_free_tail);
    struct sharena__slot *t = tail && tail != index ? sharena__slot_at(a, tail)
                                                    : NULL;
    if (t && !SHARENA__LD(t->type)) {
        SHARENA__ST(t->word, index);
        SHARENA__ST(h->slot_free_tail, index);
    } else {
        /* empty (or damaged) list: start over with this slot */
        SHARENA__ST(h->slot_free_head, index);
        SHARENA__ST(h->slot_free_tail, index);
    }
}

int sharena__obj_new(sharena_arena *a, int type, uint64_t payload,
                     uint64_t word, sharena__init_fn init, const void *ctx,
                     sharena_id *id)
{
    if (SHARENA__UNLIKELY(a->readonly))
        return SHARENA_EROFS;
    if (SHARENA__UNLIKELY(a->closed))
        return SHARENA_ECLOSED;
    int r = sharena__arena_lock(a);
    if (r < 0)
        return r;
    uint64_t index, boff = 0;
    r = slot_take(a, &index);
    if (r == 0 && payload) {
        r = sharena__alloc_locked(a, payload, (uint32_t)index, &boff);
        if (r < 0) {
            /* give the slot back at the head: nothing changes */
            struct sharena__header *h = sharena__hdr(a);
            struct sharena__slot *s = sharena__slot_at(a, index);
            uint64_t fhead = SHARENA__LD(h->slot_free_head);
            if (index + 1 == SHARENA__LD(h->slot_count) && !fhead) {
                SHARENA__ST(h->slot_count, index); /* undo the extension */
            } else if (s) { /* (NULL: the table went away under a scribbler) */
                SHARENA__ST(s->word, fhead != index ? fhead : 0);
                SHARENA__ST(s->flags, (uint8_t)(SHARENA__LD(s->flags) |
                                                SHARENA__SLOT_LISTED));
                SHARENA__ST(h->slot_free_head, index);
                if (!SHARENA__LD(h->slot_free_tail))
                    SHARENA__ST(h->slot_free_tail, index);
            }
        }
    }
    if (r < 0) {
        sharena__arena_unlock(a);
        return r;
    }
    struct sharena__slot *s = sharena__slot_at(a, index);
    if (SHARENA__UNLIKELY(!s)) { /* its chunk went away under a scribbler */
        sharena__arena_unlock(a);
        return SHARENA_ECORRUPT;
    }
    /* the id is made from this copy: a generation scribbled past
     * GEN_MAX is cut back (ids must fit 53 bits), one changed later does
     * not change the id handed out */
    uint32_t gen = SHARENA__LD(s->gen);
    if (SHARENA__UNLIKELY(gen > SHARENA__GEN_MAX)) {
        gen &= SHARENA__GEN_MAX;
        __atomic_store_n(&s->gen, gen, __ATOMIC_RELEASE);
    }
    if (payload && init)
        init(a, a->base + boff, ctx);
    SHARENA__ST(s->word, payload ? boff : word);
    SHARENA__ST(s->flags, 0);
    SHARENA__ST(s->waiters, 0);
    uint32_t seq = SHARENA__LD(s->seq);
    if (seq & 1)
        __atomic_store_n(&s->seq, seq + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&s->type, (uint8_t)type, __ATOMIC_RELEASE);
    struct sharena__header *h = sharena__hdr(a);
    SHARENA__ST(h->live_objects, SHARENA__LD(h->live_objects) + 1);
    sharena__arena_unlock(a);
    *id = sharena__id_make(index, gen);
    return 0;
}

void sharena__obj_kill(struct sharena__slot *s)
{
    uint32_t gen = SHARENA__LD(s->gen);
    if (gen >= SHARENA__GEN_MAX)
        /* type 0 keeps its ids stale */
        SHARENA__ST(s->flags,
                    (uint8_t)(SHARENA__LD(s->flags) | SHARENA__SLOT_RETIRED));
    else
        gen++;
    /* Generation first: a reader that sees the slot change sees it stale. */
    __atomic_store_n(&s->gen, gen, __ATOMIC_RELEASE);
    __atomic_store_n(&s->type, 0, __ATOMIC_RELEASE);
}

uint32_t sharena__slot_index(const sharena_arena *a,
                             const struct sharena__slot *s)
{
    for (unsigned k = 0; k < SHARENA__SLOT_CHUNKS; k++) {
        const struct sharena__slot *c = a->chunks[k];
        if (!c) {
            /* the cache was dropped (a new layout epoch): refill it, or
             * blocks made for this slot would be tagged 0 */
            sharena__slot_at(a, (uint64_t)SHARENA__SLOT_CHUNK0 *
                                        ((UINT64_C(1) << k) - 1) +
                                    (k == 0));
            c = __atomic_load_n(&a->chunks[k], __ATOMIC_ACQUIRE);
        }
        uint64_t n = (uint64_t)SHARENA__SLOT_CHUNK0 << k;
        if (c && s >= c && s < c + n)
            return (uint32_t)((uint64_t)SHARENA__SLOT_CHUNK0 *
                                  ((UINT64_C(1) << k) - 1) +
                              (uint64_t)(s - c));
    }
    return 0;
}

void sharena__obj_reclaim(sharena_arena *a, struct sharena__slot *s,
                          uint64_t off)
{
    struct sharena__header *h = sharena__hdr(a);
    if (sharena__arena_lock(a) < 0)
        return; /* leak the block and slot rather than corrupt the heap */
    if (off)
        sharena__free_locked(a, off);
    uint64_t live = SHARENA__LD(h->live_objects);
    if (live)
        SHARENA__ST(h->live_objects, live - 1);
    uint64_t index = sharena__slot_index(a, s);
    if (index && !SHARENA__LD(s->type))
        slot_put(a, index, s);
    sharena__arena_unlock(a);
}

int sharena_type_of(const sharena_arena *a, sharena_id id)
{
    struct sharena__slot *s;
    int r = sharena__resolve(a, id, 0, &s);
    if (r < 0)
        return r;
    /* a second load of the type (resolve checked its own): checked again,
     * and it is this id's only while the generation has not moved */
    uint8_t t = __atomic_load_n(&s->type, __ATOMIC_ACQUIRE);
    if (t == 0 ||
        __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) != sharena__id_gen(id))
        return SHARENA_ESTALE;
    return t < SHARENA_T__COUNT ? t : SHARENA_ECORRUPT;
}

int sharena_change_count(const sharena_arena *a, sharena_id id, uint64_t *count)
{
    if (!count)
        return SHARENA_EINVAL;
    struct sharena__slot *s;
    int r = sharena__resolve(a, id, 0, &s);
    if (r < 0)
        return r;
    *count = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
    return 0;
}

int sharena_fastread_get(const sharena_arena *a, sharena_id id,
                         sharena_fastread *out)
{
    if (!a || !out)
        return SHARENA_EINVAL;
    /* The epoch before the slot is found (the chunk cache is validated
     * against it), the counter after; the generation once more after the
     * counter, so a drop racing with this is ESTALE, not a counter of a
     * reused slot. */
    struct sharena__header *h = sharena__hdr(a);
    uint32_t ep = __atomic_load_n(&h->layout_epoch, __ATOMIC_ACQUIRE);
    struct sharena__slot *s;
    int r = sharena__resolve(a, id, 0, &s);
    if (r < 0)
        return r;
    uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
    uint8_t t = __atomic_load_n(&s->type, __ATOMIC_ACQUIRE);
    if (t == 0 ||
        __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) != sharena__id_gen(id))
        return SHARENA_ESTALE;
    if (t >= SHARENA_T__COUNT)
        return SHARENA_ECORRUPT;
    out->version = SHARENA_FASTREAD_VERSION;
    out->epoch = ep;
    out->counter = seq;
    out->type = t;
    out->epoch_off = (uint64_t)((const uint8_t *)&h->layout_epoch - a->base);
    out->counter_off = (uint64_t)((const uint8_t *)&s->seq - a->base);
    return 0;
}

/* The old name (sharena.h marks it deprecated); defined here, where that
 * attribute is not in the way. */
int sharena_version(const sharena_arena *a, sharena_id id, uint64_t *version)
{
    return sharena_change_count(a, id, version);
}

void sharena__slot_fifo_rebuild(sharena_arena *a)
{
    struct sharena__header *h = sharena__hdr(a);
    /* at most as many slots as fit in the heap, whatever slot_count says */
    uint64_t lim = SHARENA__LD(h->slot_count);
    uint64_t max = (a->heap_end - a->heap_start) / sizeof(struct sharena__slot);
    if (lim > max)
        lim = max;
    uint64_t head = 0, tail = 0, live = 0;
    for (uint64_t i = 1; i < lim; i++) {
        struct sharena__slot *s = sharena__slot_at(a, i);
        if (!s)
            continue;
        if (SHARENA__LD(s->type)) {
            live++;
            continue;
        }
        /* retired slots stay out; a killed slot whose dropper still holds
         * its lock is the dropper's to put back */
        uint8_t fl = SHARENA__LD(s->flags);
        if ((fl & SHARENA__SLOT_RETIRED) ||
            (!(fl & SHARENA__SLOT_LISTED) &&
             __atomic_load_n(&s->lock, __ATOMIC_ACQUIRE))) {
            SHARENA__ST(s->flags, (uint8_t)(fl & ~SHARENA__SLOT_LISTED));
            continue;
        }
        SHARENA__ST(s->flags, (uint8_t)(fl | SHARENA__SLOT_LISTED));
        SHARENA__ST(s->word, 0);
        struct sharena__slot *t = tail ? sharena__slot_at(a, tail) : NULL;
        if (t)
            SHARENA__ST(t->word, i);
        else
            head = i; /* (or the table went away: start the list over) */
        tail = i;
    }
    SHARENA__ST(h->slot_free_head, head);
    SHARENA__ST(h->slot_free_tail, tail);
    SHARENA__ST(h->live_objects, live);
}

/* What a process that died holding the arena lock can have left allocated
 * but unreferenced: the payload of an object it was creating (tagged with a
 * slot that is free again after the FIFO rebuild), or the handle-table
 * chunk it was adding (slot_take): a tag-0 block of that chunk's size. At
 * most one such chunk can exist; sharena__arena_recover_locked looks for
 * one only in the state slot_take dies in (see there). */
struct arena_sweep {
    uint64_t chunk_bytes; /* 0: no chunk can be pending */
    bool chunk_freed;
};

static bool arena_garbage(sharena_arena *a, uint64_t off, uint32_t tag,
                          void *ctx)
{
    struct arena_sweep *w = ctx;
    if (tag == 0) {
        uint64_t have = sharena__payload_size(a, off);
        if (w->chunk_freed || !w->chunk_bytes || have < w->chunk_bytes ||
            have >= 2 * w->chunk_bytes)
            return false;
        w->chunk_freed = true;
        return true;
    }
    struct sharena__slot *s = sharena__slot_at(a, tag);
    return s && !SHARENA__LD(s->type) &&
           (SHARENA__LD(s->flags) & SHARENA__SLOT_LISTED);
}

int sharena__arena_recover_locked(sharena_arena *a)
{
    int r = sharena__alloc_rebuild(a);
    if (r < 0)
        return r;
    sharena__slot_fifo_rebuild(a);
    struct sharena__header *h = sharena__hdr(a);
    struct arena_sweep w = {0};
    uint64_t first, n = SHARENA__LD(h->slot_count);
    unsigned k = n ? chunk_of(n, &first) : SHARENA__SLOT_CHUNKS;
    /* slot_take dies there only with the slot count at the chunk's first
     * slot, the chunk unpublished, and (so no live chunk whose offset a
     * scribbler cleared is taken for it) none cached by this process */
    if (n && n == (first ? first : 1) && k < SHARENA__SLOT_CHUNKS &&
        !SHARENA__LD(h->slot_chunks[k]) &&
        !__atomic_load_n(&a->chunks[k], __ATOMIC_ACQUIRE))
        w.chunk_bytes = chunk_bytes(k);
    r = sharena__sweep_locked(a, arena_garbage, &w);
    return r < 0 ? r : 0;
}
