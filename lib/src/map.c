/* map.c: string key -> id hash tables.
 *
 * A dense array of entries (keys of up to 16 bytes inline) and a u32 hash
 * index over it (linear probing, backward-shift deletion, load <= 1/2), in
 * one block that doubling growth replaces whole (layout.h). Readers look
 * keys up under the map's seqlock without locking (sharena__read). The
 * table is reached through a checked view (view.h): its capacity and count
 * are loaded once, every probe loop is bounded by the checked capacity, an
 * index slot must name an entry below the count, and entries and keys are
 * loaded once each and checked, so a corrupt table, or one a peer changes
 * meanwhile, yields an error, never a fault or a hang.
 *
 * Write order (docs/locking.md): an insertion fills entries[count], then
 * publishes count + 1, then the index slot; a removal records itself
 * (pend_count, pend_hole), moves the last entry into the hole, publishes
 * the new count and clears the record. The index is derived data: repair
 * (sharena__map_repair) finishes a recorded removal and rebuilds it. */
#include "view.h"

#include <math.h>


static inline uint64_t rd64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t mix(uint64_t x)
{
    x ^= x >> 32;
    x *= UINT64_C(0xd6e8feb86659fd93);
    x ^= x >> 32;
    x *= UINT64_C(0xd6e8feb86659fd93);
    x ^= x >> 32;
    return x;
}

uint64_t sharena__hash(const sharena_arena *a, const char *key, size_t len)
{
    uint64_t h = a->hash_seed ^ (len * UINT64_C(0x9e3779b97f4a7c15));
    while (len >= 8) {
        h = (h ^ rd64(key)) * UINT64_C(0xbf58476d1ce4e5b9);
        h ^= h >> 29;
        key += 8;
        len -= 8;
    }
    uint64_t t = 0;
    memcpy(&t, key, len);
    h = mix(h ^ t);
    return h ? h : 1;
}

/* Where find() stopped: the entry's number (>= 0), or -1 when the key is
 * absent, or -2 when the table is corrupt (an index slot past `count`, an
 * entry whose key is unusable); and the index position it stopped at (the
 * key's slot, or the empty slot an insertion takes). */
struct hit {
    int64_t e;
    uint64_t pos;
};

/* Does entry @p e hold @p key? 1 yes, 0 no, -1 its key is unusable. */
SHARENA__SEQLOCK_READER
static int key_is(const sharena_arena *a, const struct sharena__map_entry *e,
                  const char *key, size_t klen)
{
    struct sharena__text_view k;
    if (SHARENA__UNLIKELY(!sharena__map_key_at(a, e, &k)))
        return -1;
    return k.len == klen && sharena__rcmp(k.data, key, klen) == 0;
}

/* Look @p key up in the table of @p t whose count (loaded once, checked
 * against the capacity) is @p count, probing at most 2 * cap index slots. */
SHARENA__SEQLOCK_READER
static struct hit find(const sharena_arena *a,
                       const struct sharena__map_view *t, uint64_t count,
                       const char *key, size_t klen, uint32_t hash)
{
    uint64_t mask = 2 * t->cap - 1, i = hash & mask;
    for (uint64_t n = 0; n <= mask; n++, i = (i + 1) & mask) {
        uint32_t x = SHARENA__LD(t->idx[i]);
        if (!x)
            return (struct hit){-1, i};
        if (SHARENA__UNLIKELY(x > count))
            return (struct hit){-2, i};
        const struct sharena__map_entry *e = &t->e[x - 1];
        if (SHARENA__LD(e->hash) != hash)
            continue;
        int c = key_is(a, e, key, klen);
        if (c)
            return (struct hit){c > 0 ? (int64_t)x - 1 : -2, i};
    }
    return (struct hit){-2, 0}; /* no empty slot: more than count in use */
}

static int check_key(const char *key, size_t klen)
{
    if (klen && !key)
        return SHARENA_EINVAL;
    if (klen > UINT32_MAX)
        return SHARENA_ERANGE;
    return sharena_utf8_valid(key, klen) ? 0 : SHARENA_EILSEQ;
}

static void table_init(sharena_arena *a, void *p, const void *ctx)
{
    (void)a;
    uint64_t cap = *(const uint64_t *)ctx;
    memset(p, 0, SHARENA__MAP_BYTES(cap));
    ((struct sharena__map *)p)->cap = cap;
}

int sharena__map_init_block(sharena_arena *a, uint64_t cap, uint32_t tag,
                            uint64_t *off)
{
    int r = sharena__alloc(a, SHARENA__MAP_BYTES(cap), tag, off);
    if (r == 0)
        table_init(a, a->base + *off, &cap);
    return r;
}

int sharena_map_new(sharena_arena *a, sharena_id *out)
{
    if (!a || !out)
        return SHARENA_EINVAL;
    static const uint64_t cap = SHARENA__MAP_MIN_CAP;
    return sharena__obj_new(a, SHARENA_T_MAP, SHARENA__MAP_BYTES(cap), 0,
                            table_init, &cap, out);
}

/* The count of @p t, loaded once; UINT64_MAX when it exceeds the capacity
 * (scribbled). */
SHARENA__SEQLOCK_READER
static inline uint64_t count_of(const struct sharena__map_view *t)
{
    uint64_t n = SHARENA__LD(t->m->count);
    return SHARENA__LIKELY(n <= t->cap) ? n : UINT64_MAX;
}

struct get_ctx {
    const char *key;
    size_t klen;
    uint32_t hash;
    bool ref_only; /* a REF needs only its word (sharena_map_get) */
    /* what was found, field by field (a struct copied whole after byte
     * stores to it stalls store forwarding: measurable on a hot get) */
    uint8_t kind, len;
    uint64_t w0, w1;
};

SHARENA__SEQLOCK_READER
static int get_read(const sharena_arena *a, uint64_t word, void *ctx)
{
    struct get_ctx *c = ctx;
    struct sharena__map_view t;
    if (SHARENA__UNLIKELY(!sharena__map_at(a, word, &t)))
        return SHARENA_ECORRUPT;
    uint64_t count = count_of(&t);
    if (SHARENA__UNLIKELY(count == UINT64_MAX))
        return SHARENA_ECORRUPT;
    int64_t i = find(a, &t, count, c->key, c->klen, c->hash).e;
    if (i < 0)
        return i == -1 ? SHARENA_ENOENT : SHARENA_ECORRUPT;
    const struct sharena__map_entry *e = &t.e[i];
    if (c->ref_only && SHARENA__LD(e->vkind) == SHARENA__V_REF) {
        uint64_t w = SHARENA__LD(e->value.w[0]);
        if (SHARENA__UNLIKELY(!(w & SHARENA__REF_ID_MASK)))
            return SHARENA_ECORRUPT; /* values are never id 0 */
        c->kind = SHARENA__V_REF;
        c->w0 = w;
        return 0;
    }
    struct sharena__mval v;
    if (SHARENA__UNLIKELY(!sharena__map_value_at(e, &v)))
        return SHARENA_ECORRUPT;
    c->kind = v.kind;
    c->len = v.len;
    c->w0 = v.w[0];
    c->w1 = v.w[1];
    return 0;
}

SHARENA__SEQLOCK_READER
int sharena__map_lookup(const sharena_arena *a, sharena_id map, const char *key,
                        size_t klen, struct sharena__mval *v)
{
    if (!a || (klen && !key))
        return SHARENA_EINVAL;
    struct get_ctx c = {
        key, klen, (uint32_t)sharena__hash(a, key, klen), false, 0, 0, 0, 0};
    int r = sharena__read(a, map, SHARENA_T_MAP, get_read, &c);
    if (r == 0) {
        v->kind = c.kind;
        v->len = c.len;
        v->w[0] = c.w0;
        v->w[1] = c.w1;
    }
    return r;
}

static int promote(sharena_arena *a, sharena_id map, const char *key,
                   size_t klen, int64_t at, uint64_t *ref);

SHARENA__SEQLOCK_READER
int sharena_map_get(const sharena_arena *a, sharena_id map, const char *key,
                    size_t klen, sharena_id *value)
{
    if (!a || (klen && !key))
        return SHARENA_EINVAL;
    struct get_ctx c = {
        key, klen, (uint32_t)sharena__hash(a, key, klen), true, 0, 0, 0, 0};
    int r = sharena__read(a, map, SHARENA_T_MAP, get_read, &c);
    if (r < 0 || !value)
        return r;
    uint64_t ref = c.w0;
    /* a value stored in the entry is given an id: a write (the handle is
     * the caller's, const only because most lookups never write) */
    if (c.kind != SHARENA__V_REF &&
        (r = promote((sharena_arena *)a, map, key, klen, -1, &ref)) < 0)
        return r;
    *value = ref & SHARENA__REF_ID_MASK;
    return 0;
}

/* The count and the removal count of a map, from one consistent read. */
struct header_ctx {
    uint64_t count, moves;
};

SHARENA__SEQLOCK_READER
static int header_read(const sharena_arena *a, uint64_t word, void *ctx)
{
    struct header_ctx *c = ctx;
    struct sharena__map_view t;
    if (!sharena__map_at(a, word, &t))
        return SHARENA_ECORRUPT;
    c->count = count_of(&t);
    if (c->count == UINT64_MAX)
        return SHARENA_ECORRUPT; /* a count past the capacity was scribbled */
    c->moves = SHARENA__LD(t.m->moves);
    return 0;
}

SHARENA__SEQLOCK_READER
int sharena_map_len(const sharena_arena *a, sharena_id map, uint64_t *len)
{
    if (!len)
        return SHARENA_EINVAL;
    struct header_ctx c;
    int r = sharena__read(a, map, SHARENA_T_MAP, header_read, &c);
    if (r == 0)
        *len = c.count;
    return r;
}

SHARENA__SEQLOCK_READER
int sharena_map_moves(const sharena_arena *a, sharena_id map, uint64_t *moves)
{
    if (!moves)
        return SHARENA_EINVAL;
    struct header_ctx c;
    int r = sharena__read(a, map, SHARENA_T_MAP, header_read, &c);
    if (r == 0)
        *moves = c.moves;
    return r;
}

/* Put entry number @p x (0-based) with hash @p hash into the first empty
 * index slot of its probe; false when there is none (an index a peer
 * filled). */
static bool index_put(const struct sharena__map_view *t, uint32_t hash,
                      uint64_t x)
{
    uint64_t mask = 2 * t->cap - 1, i = hash & mask;
    for (uint64_t n = 0; n <= mask; n++, i = (i + 1) & mask) {
        if (SHARENA__LD(t->idx[i]))
            continue;
        SHARENA__ST(t->idx[i], (uint32_t)(x + 1));
        return true;
    }
    return false;
}

/* Empty index slot @p pos by backward shift (Knuth's algorithm R): a slot
 * further along the run moves back into the hole unless its entry's home
 * lies cyclically in (hole, slot]. Entries of `count` or more (none on a
 * consistent table) end the shift. */
static void index_del(const struct sharena__map_view *t, uint64_t count,
                      uint64_t pos)
{
    uint64_t mask = 2 * t->cap - 1, i = pos, j = pos;
    for (uint64_t n = 0; n < mask; n++) {
        j = (j + 1) & mask;
        uint32_t x = SHARENA__LD(t->idx[j]);
        if (!x || x > count)
            break;
        uint64_t k = SHARENA__LD(t->e[x - 1].hash) & mask;
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays)
            continue;
        SHARENA__ST(t->idx[i], x);
        i = j;
    }
    SHARENA__ST(t->idx[i], 0);
}

/* Point the index slot that names entry @p from at entry @p to instead. */
static void index_repoint(const struct sharena__map_view *t, uint64_t from,
                          uint64_t to)
{
    uint64_t mask = 2 * t->cap - 1;
    uint32_t hash = SHARENA__LD(t->e[from].hash); /* the moving entry's */
    uint64_t i = hash & mask;
    for (uint64_t n = 0; n <= mask; n++, i = (i + 1) & mask) {
        uint32_t x = SHARENA__LD(t->idx[i]);
        if (!x)
            return; /* not indexed (a peer's doing): repair will */
        if (x == from + 1) {
            SHARENA__ST(t->idx[i], (uint32_t)(to + 1));
            return;
        }
    }
}

/* Copy entry @p from over entry @p to, field by field (each loaded once). */
static void entry_copy(const struct sharena__map_view *t, uint64_t from,
                       uint64_t to)
{
    const struct sharena__map_entry *f = &t->e[from];
    struct sharena__map_entry *d = &t->e[to];
    SHARENA__ST(d->hash, SHARENA__LD(f->hash));
    SHARENA__ST(d->klen, SHARENA__LD(f->klen));
    SHARENA__ST(d->vkind, SHARENA__LD(f->vkind));
    SHARENA__ST(d->key.w[0], SHARENA__LD(f->key.w[0]));
    SHARENA__ST(d->key.w[1], SHARENA__LD(f->key.w[1]));
    SHARENA__ST(d->vlen, SHARENA__LD(f->vlen));
    SHARENA__ST(d->value.w[0], SHARENA__LD(f->value.w[0]));
    SHARENA__ST(d->value.w[1], SHARENA__LD(f->value.w[1]));
}

/* Remove entry @p hole of the dense array: the last entry moves into it.
 * The removal is recorded first (pend_count, pend_hole) and cleared last,
 * so repair finishes one that was interrupted (finish_removal). The index
 * is not touched: the caller fixes it, or repair rebuilds it. */
static void dense_remove(const struct sharena__map_view *t, uint64_t count,
                         uint64_t hole)
{
    SHARENA__ST(t->m->pend_hole, hole);
    __atomic_store_n(&t->m->pend_count, count, __ATOMIC_RELEASE);
    SHARENA__ST(t->m->moves, SHARENA__LD(t->m->moves) + 1);
    SHARENA__HOOK("map:remove-recorded");
    if (hole != count - 1)
        entry_copy(t, count - 1, hole);
    SHARENA__HOOK("map:remove-moved");
    __atomic_store_n(&t->m->count, count - 1, __ATOMIC_RELEASE);
    __atomic_store_n(&t->m->pend_count, 0, __ATOMIC_RELEASE);
}

/* Finish a removal a dead writer recorded: if its count still stands, the
 * move and the new count are (re)done; the record is cleared. */
static void finish_removal(const struct sharena__map_view *t)
{
    uint64_t pc = SHARENA__LD(t->m->pend_count);
    if (!pc)
        return;
    uint64_t hole = SHARENA__LD(t->m->pend_hole);
    if (pc <= t->cap && hole < pc && SHARENA__LD(t->m->count) == pc)
        dense_remove(t, pc, hole);
    SHARENA__ST(t->m->pend_count, 0);
}

/* Grow the table @p t (@p count entries) of the locked map in slot @p s to
 * twice its capacity; *t becomes the new table's view. */
static int grow(sharena_arena *a, struct sharena__slot *s,
                struct sharena__map_view *t, uint64_t count)
{
    uint64_t cap = t->cap, ncap = cap * 2, off;
    if (ncap > SHARENA__MAP_MAX_CAP)
        return SHARENA_EFULL;
    int r = sharena__map_init_block(a, ncap, sharena__slot_index(a, s), &off);
    if (r < 0)
        return r;
    /* A scribbled allocator can hand out a block overlapping this table:
     * refuse it rather than build the table over itself (fsck frees it). */
    if (off < t->off + SHARENA__MAP_BYTES(cap) &&
        t->off < off + SHARENA__MAP_BYTES(ncap))
        return SHARENA_ECORRUPT;
    struct sharena__map_view n;
    if (!sharena__map_at(a, off, &n))
        return SHARENA_ECORRUPT;
    for (uint64_t i = 0; i < count; i++) {
        const struct sharena__map_entry *f = &t->e[i];
        struct sharena__map_entry *d = &n.e[i];
        uint32_t h = SHARENA__LD(f->hash);
        d->hash = h;
        d->klen = SHARENA__LD(f->klen);
        d->vkind = SHARENA__LD(f->vkind);
        d->key.w[0] = SHARENA__LD(f->key.w[0]);
        d->key.w[1] = SHARENA__LD(f->key.w[1]);
        d->vlen = SHARENA__LD(f->vlen);
        d->value.w[0] = SHARENA__LD(f->value.w[0]);
        d->value.w[1] = SHARENA__LD(f->value.w[1]);
        index_put(&n, h, i); /* (count <= cap entries always fit) */
    }
    n.m->count = count;
    n.m->moves = SHARENA__LD(t->m->moves);
    SHARENA__HOOK("map:grow-built");
    __atomic_store_n(&s->word, off, __ATOMIC_RELEASE);
    SHARENA__HOOK("map:grow-swapped");
    sharena__free(a, t->off);
    *t = n;
    return 0;
}

/* Store value @p v into entry @p e (not yet visible, or under a
 * recorded change). */
static void value_store(struct sharena__map_entry *e,
                        const struct sharena__mval *v)
{
    SHARENA__ST(e->vlen, v->kind == SHARENA__V_STRING ? v->len : 0);
    SHARENA__ST(e->value.w[0], v->w[0]);
    SHARENA__ST(e->value.w[1], v->w[1]);
    SHARENA__ST(e->vkind, v->kind);
}

/* Replace the value of entry @p i with @p v. One word of the same kind is
 * one store; anything else is recorded first (pend_set, pend_entry) and
 * cleared last, so repair finishes a change a writer died in (finish_set)
 * and a reader or repair never sees a kind with another kind's bits. */
static void value_set(const struct sharena__map_view *t, uint64_t i,
                      const struct sharena__mval *v)
{
    struct sharena__map_entry *e = &t->e[i];
    if (SHARENA__LD(e->vkind) == v->kind && v->kind != SHARENA__V_STRING) {
        __atomic_store_n(&e->value.w[0], v->w[0], __ATOMIC_RELEASE);
        return;
    }
    value_store(&t->m->pend_entry, v);
    __atomic_store_n(&t->m->pend_set, i + 1, __ATOMIC_RELEASE);
    SHARENA__HOOK("map:value-recorded");
    value_store(e, v);
    SHARENA__HOOK("map:value-stored");
    __atomic_store_n(&t->m->pend_set, 0, __ATOMIC_RELEASE);
}

/* Finish a value change a dead writer recorded: the recorded value is
 * stored (again) into its entry, if that entry is still in use; the
 * record is cleared. Repair checks the value afterwards like any other. */
static void finish_set(const struct sharena__map_view *t)
{
    uint64_t ps = SHARENA__LD(t->m->pend_set);
    if (!ps)
        return;
    uint64_t count = SHARENA__LD(t->m->count);
    if (count <= t->cap && ps - 1 < count) {
        const struct sharena__map_entry *p = &t->m->pend_entry;
        struct sharena__mval v = {
            SHARENA__LD(p->vkind),
            SHARENA__LD(p->vlen),
            {SHARENA__LD(p->value.w[0]), SHARENA__LD(p->value.w[1])}};
        value_store(&t->e[ps - 1], &v);
    }
    SHARENA__ST(t->m->pend_set, 0);
}

/* Fill entry @p e with @p key and @p v; a key longer than the inline
 * room goes into a block tagged with the map's slot (*kblock its offset). */
static int entry_fill(sharena_arena *a, struct sharena__slot *s,
                      const struct sharena__map_view *t,
                      struct sharena__map_entry *e, const char *key,
                      size_t klen, uint32_t hash, const struct sharena__mval *v,
                      uint64_t *kblock)
{
    *kblock = 0;
    uint64_t kw[2] = {0, 0};
    uint8_t kl;
    if (klen <= SHARENA__KEY_INLINE_MAX) {
        if (klen)
            memcpy(kw, key, klen);
        kl = (uint8_t)klen;
    } else {
        uint64_t koff, kbytes = sizeof(struct sharena__key) + klen + 1;
        int r = sharena__alloc(a, kbytes, sharena__slot_index(a, s), &koff);
        if (r < 0)
            return r;
        /* On a scribbled arena the allocator can hand out a key block that
         * overlaps the table (left to fsck). */
        if (koff < t->off + SHARENA__MAP_BYTES(t->cap) &&
            t->off < koff + kbytes) {
            return SHARENA_ECORRUPT;
        }
        struct sharena__key *k = (void *)(a->base + koff);
        k->len = klen;
        memcpy(k->data, key, klen);
        k->data[klen] = 0;
        kw[0] = koff;
        kl = SHARENA__KEY_BLOCK;
        *kblock = koff;
    }
    SHARENA__HOOK("map:key-allocated");
    SHARENA__ST(e->hash, hash);
    SHARENA__ST(e->klen, kl);
    SHARENA__ST(e->key.w[0], kw[0]);
    SHARENA__ST(e->key.w[1], kw[1]);
    value_store(e, v);
    return 0;
}

/* The table of the locked map in slot @p s and where @p key is in it;
 * .e == -2 when the table or the index is unusable. */
static struct hit locate(const sharena_arena *a, struct sharena__slot *s,
                         const char *key, size_t klen, uint32_t hash,
                         struct sharena__map_view *t, uint64_t *count)
{
    *count = UINT64_MAX;
    if (!sharena__map_at(a, SHARENA__LD(s->word), t) ||
        (*count = count_of(t)) == UINT64_MAX)
        return (struct hit){-2, 0};
    return find(a, t, *count, key, klen, hash);
}

static const struct sharena__mval no_value = {SHARENA__V_REF, 0, {0, 0}};

/* Insert or replace under the map's lock. *old receives the previous
 * value (a ref with its OWNED bit, or a value stored in the entry;
 * no_value when absent); on SHARENA__PUT_IF_ABSENT with the key present,
 * returns SHARENA_EEXIST. */
int sharena__map_put(sharena_arena *a, sharena_id map, const char *key,
                     size_t klen, const struct sharena__mval *v, int mode,
                     struct sharena__mval *old)
{
    *old = no_value;
    int r = check_key(key, klen);
    if (r < 0)
        return r;
    uint32_t hash = (uint32_t)sharena__hash(a, key, klen);
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, map, SHARENA_T_MAP, &s);
    if (nested < 0)
        return nested;
    struct sharena__map_view t;
    uint64_t count;
    struct hit h = locate(a, s, key, klen, hash, &t, &count);
    if (h.e == -2) {
        r = SHARENA_ECORRUPT;
        goto out;
    }
    if (h.e >= 0) {
        if (!sharena__map_value_at(&t.e[h.e], old))
            *old = no_value; /* (unusable: nothing to drop) */
        if (mode == SHARENA__PUT_IF_ABSENT) {
            r = SHARENA_EEXIST;
            goto out;
        }
        value_set(&t, (uint64_t)h.e, v);
        goto out;
    }
    if (count == t.cap) {
        if ((r = grow(a, s, &t, count)) < 0)
            goto out;
        h = find(a, &t, count, key, klen, hash);
        if (h.e != -1) {
            r = SHARENA_ECORRUPT; /* (a fresh table: only if scribbled) */
            goto out;
        }
    }
    uint64_t kblock;
    r = entry_fill(a, s, &t, &t.e[count], key, klen, hash, v, &kblock);
    if (r < 0)
        goto out;
    SHARENA__HOOK("map:entry-before-count");
    __atomic_store_n(&t.m->count, count + 1, __ATOMIC_RELEASE);
    SHARENA__HOOK("map:entry-before-index");
    SHARENA__ST(t.idx[h.pos], (uint32_t)(count + 1));
out:
    sharena__write_end(a, s, nested);
    return r;
}

int sharena__mval_object(sharena_arena *a, const struct sharena__mval *v,
                         sharena_id *id)
{
    switch (v->kind) {
    case SHARENA__V_NUMBER: {
        return sharena_number_new(a, sharena__u2d(v->w[0]), id);
    }
    case SHARENA__V_BOOL:
        return sharena_bool_new(a, v->w[0] != 0, id);
    case SHARENA__V_NULL:
        return sharena_null_new(a, id);
    case SHARENA__V_STRING: {
        char buf[SHARENA__VALUE_INLINE_MAX];
        memcpy(buf, v->w, sizeof buf);
        /* bytes a peer wrote into the entry: not UTF-8 is damage (fsck
         * reports it), not the caller's EILSEQ */
        if (!sharena_utf8_valid(buf, v->len))
            return SHARENA_ECORRUPT;
        return sharena_string_new(a, buf, v->len, id);
    }
    default:
        return SHARENA_ECORRUPT;
    }
}

/* Give the value stored in the entry of @p key an id: under the map's
 * lock it becomes an object the map owns, whose ref the entry then holds
 * (*ref). A value that is a ref already (another process was first) is
 * returned as it is. On a read-only handle: SHARENA_EROFS. A failure
 * changes nothing. @p at >= 0: the entry an iteration read the key from,
 * taken when it still holds that key (so an entry is reached by its
 * position even when its hash was scribbled); else the key is looked up. */
static int promote(sharena_arena *a, sharena_id map, const char *key,
                   size_t klen, int64_t at, uint64_t *ref)
{
    uint32_t hash = (uint32_t)sharena__hash(a, key, klen);
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, map, SHARENA_T_MAP, &s);
    if (nested < 0)
        return nested;
    int r = 0;
    struct sharena__map_view t;
    uint64_t count;
    struct hit h = locate(a, s, key, klen, hash, &t, &count);
    if (h.e != -2 && at >= 0 && (uint64_t)at < count &&
        key_is(a, &t.e[at], key, klen) > 0)
        h.e = at;
    struct sharena__mval v;
    if (h.e < 0 || !sharena__map_value_at(&t.e[h.e], &v)) {
        r = h.e == -1 ? SHARENA_ENOENT : SHARENA_ECORRUPT;
        goto out;
    }
    if (v.kind != SHARENA__V_REF) {
        sharena_id id;
        if ((r = sharena__mval_object(a, &v, &id)) < 0)
            goto out;
        /* (dying here leaves the object unreferenced: the entry keeps its
         * value) */
        SHARENA__HOOK("map:promote-made");
        v = (struct sharena__mval){
            SHARENA__V_REF, 0, {id | SHARENA__REF_OWNED, 0}};
        value_set(&t, (uint64_t)h.e, &v);
    }
    *ref = v.w[0];
out:
    sharena__write_end(a, s, nested);
    return r;
}

/* Remove @p key under the lock; *old receives its value. */
static int map_del(sharena_arena *a, sharena_id map, const char *key,
                   size_t klen, struct sharena__mval *old)
{
    *old = no_value;
    if (klen && !key)
        return SHARENA_EINVAL;
    uint32_t hash = (uint32_t)sharena__hash(a, key, klen);
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, map, SHARENA_T_MAP, &s);
    if (nested < 0)
        return nested;
    int r = 0;
    struct sharena__map_view t;
    uint64_t count;
    struct hit h = locate(a, s, key, klen, hash, &t, &count);
    if (h.e < 0) {
        r = h.e == -1 ? SHARENA_ENOENT : SHARENA_ECORRUPT;
        goto out;
    }
    uint64_t e = (uint64_t)h.e, last = count - 1;
    if (!sharena__map_value_at(&t.e[e], old))
        *old = no_value; /* (unusable: nothing to drop) */
    uint64_t kblock = 0;
    if (SHARENA__LD(t.e[e].klen) == SHARENA__KEY_BLOCK)
        kblock = SHARENA__LD(t.e[e].key.off);
    index_del(&t, count, h.pos);
    if (e != last)
        index_repoint(&t, last, e);
    dense_remove(&t, count, e);
    /* under the lock: a writer dying here leaves a block tagged with this
     * map, which repair frees */
    if (kblock)
        sharena__free(a, kblock);
out:
    sharena__write_end(a, s, nested);
    return r;
}

/* Drop a replaced or removed value the map owned (a ref other than
 * @p keep); else hand a ref it did not own to *old. */
static void release(sharena_arena *a, const struct sharena__mval *prev,
                    sharena_id keep, sharena_id *old)
{
    if (prev->kind != SHARENA__V_REF || !prev->w[0] ||
        (prev->w[0] & SHARENA__REF_ID_MASK) == keep)
        return;
    if (prev->w[0] & SHARENA__REF_OWNED)
        sharena__drop_ref(a, prev->w[0], 0);
    else if (old)
        *old = prev->w[0] & SHARENA__REF_ID_MASK;
}

int sharena_map_set(sharena_arena *a, sharena_id map, const char *key,
                    size_t klen, sharena_id value, sharena_insert_flags flags,
                    sharena_id *old)
{
    if (!a)
        return SHARENA_EINVAL;
    if (old)
        *old = 0;
    struct sharena__slot *vs;
    int r = sharena__resolve(a, value, 0, &vs);
    if (r < 0)
        return r;
    if (value == map)
        return SHARENA_EINVAL;
    struct sharena__mval v = {
        SHARENA__V_REF,
        0,
        {value | ((flags & SHARENA_OWNED) ? SHARENA__REF_OWNED : 0), 0}};
    struct sharena__mval prev;
    r = sharena__map_put(a, map, key, klen, &v, SHARENA__PUT_SET, &prev);
    if (r == 0)
        release(a, &prev, value, old);
    return r;
}

int sharena_map_remove(sharena_arena *a, sharena_id map, const char *key,
                       size_t klen, sharena_id *old)
{
    if (!a)
        return SHARENA_EINVAL;
    if (old)
        *old = 0;
    struct sharena__mval prev;
    int r = map_del(a, map, key, klen, &prev);
    if (r == 0)
        release(a, &prev, 0, old);
    return r;
}

struct next_ctx {
    uint64_t from; /* the cursor: the entry number to read */
    char *key;
    size_t kcap;
    uint64_t klen; /* what was found */
    struct sharena__mval v;
};

SHARENA__SEQLOCK_READER
static int next_read(const sharena_arena *a, uint64_t word, void *ctx)
{
    struct next_ctx *c = ctx;
    struct sharena__map_view t;
    if (!sharena__map_at(a, word, &t))
        return SHARENA_ECORRUPT;
    uint64_t count = count_of(&t);
    if (count == UINT64_MAX)
        return SHARENA_ECORRUPT;
    if (c->from >= count)
        return SHARENA_ENOENT;
    const struct sharena__map_entry *e = &t.e[c->from];
    struct sharena__text_view k;
    if (!sharena__map_key_at(a, e, &k) || !sharena__map_value_at(e, &c->v))
        return SHARENA_ECORRUPT;
    c->klen = k.len;
    if (!c->key || k.len >= c->kcap)
        return SHARENA_ERANGE;
    sharena__rcopy(c->key, k.data, k.len);
    c->key[k.len] = 0;
    return 0;
}

/* Entry number *cursor: its key (into @p key) and value as stored, from
 * one consistent read; *klen is set with SHARENA_ERANGE too. */
SHARENA__SEQLOCK_READER
static int next_entry(const sharena_arena *a, sharena_id map, uint64_t cursor,
                      char *key, size_t kcap, size_t *klen,
                      struct sharena__mval *v)
{
    struct next_ctx c = {cursor, key, kcap, 0, {0}};
    int r = sharena__read(a, map, SHARENA_T_MAP, next_read, &c);
    if (r != 0 && r != SHARENA_ERANGE)
        return r;
    if (klen)
        *klen = c.klen;
    *v = c.v;
    return r;
}

SHARENA__SEQLOCK_READER
int sharena_map_next(const sharena_arena *a, sharena_id map, uint64_t *cursor,
                     char *key, size_t kcap, size_t *klen, sharena_id *value,
                     bool *owned)
{
    if (!cursor)
        return SHARENA_EINVAL;
    struct sharena__mval v;
    size_t kl = 0;
    int r = next_entry(a, map, *cursor, key, kcap, &kl, &v);
    if (klen)
        *klen = kl;
    if (r < 0)
        return r;
    uint64_t ref = v.w[0];
    if (v.kind != SHARENA__V_REF) {
        ref = SHARENA__REF_OWNED; /* stored in the entry: the map's own */
        /* an id is wanted: give it one (a write; the entry may have been
         * replaced or removed since the read: then as the map is now) */
        if (value && (r = promote((sharena_arena *)a, map, key, kl,
                                  (int64_t)*cursor, &ref)) < 0)
            return r;
    }
    if (value)
        *value = ref & SHARENA__REF_ID_MASK;
    if (owned)
        *owned = (ref & SHARENA__REF_OWNED) != 0;
    *cursor += 1;
    return 0;
}

SHARENA__SEQLOCK_READER
int sharena_map_next_ref(const sharena_arena *a, sharena_id map,
                         uint64_t *cursor, char *key, size_t kcap, size_t *klen,
                         sharena_id *value, bool *owned)
{
    if (!cursor)
        return SHARENA_EINVAL;
    struct sharena__mval v;
    int r = next_entry(a, map, *cursor, key, kcap, klen, &v);
    if (r < 0)
        return r;
    bool ref = v.kind == SHARENA__V_REF;
    if (value)
        *value = ref ? v.w[0] & SHARENA__REF_ID_MASK : 0;
    if (owned)
        *owned = !ref || (v.w[0] & SHARENA__REF_OWNED);
    *cursor += 1;
    return 0;
}

SHARENA__SEQLOCK_READER
int sharena__map_next_stored(const sharena_arena *a, sharena_id map,
                             uint64_t cursor, char *key, size_t kcap,
                             size_t *klen, struct sharena__mval *v)
{
    return next_entry(a, map, cursor, key, kcap, klen, v);
}

/* Set a value just created (@p r is its creation's result) as owned; drop
 * it again on failure. */
static int set_new(sharena_arena *a, sharena_id map, const char *key,
                   size_t klen, int r, const sharena_id *vp)
{
    if (r < 0)
        return r;
    sharena_id v = *vp;
    r = sharena_map_set(a, map, key, klen, v, SHARENA_OWNED, NULL);
    if (r < 0)
        sharena_drop(a, v, 0);
    return r;
}

/* Store @p v in the entry of @p key (no object); a value the map owned
 * before is dropped. */
static int set_stored(sharena_arena *a, sharena_id map, const char *key,
                      size_t klen, const struct sharena__mval *v)
{
    if (!a)
        return SHARENA_EINVAL;
    struct sharena__mval prev;
    int r = sharena__map_put(a, map, key, klen, v, SHARENA__PUT_SET, &prev);
    if (r == 0)
        release(a, &prev, 0, NULL);
    return r;
}

int sharena_map_set_string(sharena_arena *a, sharena_id map, const char *key,
                           size_t klen, const char *str, size_t slen)
{
    sharena_id v = 0;
    int r = check_key(key, klen);
    if (r < 0)
        return r;
    if (slen <= SHARENA__VALUE_INLINE_MAX) {
        if (slen && !str)
            return SHARENA_EINVAL;
        if (!sharena_utf8_valid(str, slen))
            return SHARENA_EILSEQ;
        struct sharena__mval sv = {SHARENA__V_STRING, (uint8_t)slen, {0, 0}};
        if (slen)
            memcpy(sv.w, str, slen);
        return set_stored(a, map, key, klen, &sv);
    }
    return set_new(a, map, key, klen, sharena_string_new(a, str, slen, &v), &v);
}

int sharena_map_set_number(sharena_arena *a, sharena_id map, const char *key,
                           size_t klen, double d)
{
    struct sharena__mval v = {SHARENA__V_NUMBER, 0, {sharena__d2u(d), 0}};
    return set_stored(a, map, key, klen, &v);
}

int sharena_map_add_number(sharena_arena *a, sharena_id map, const char *key,
                           size_t klen, double delta, sharena_add_flags flags,
                           double *result)
{
    if (result)
        *result = 0;
    if (flags & ~SHARENA_ADD_EXACT)
        return SHARENA_EINVAL;
    int r = check_key(key, klen);
    if (r < 0)
        return r;
    if ((r = sharena_lock_nested(a, map, -1)) < 0)
        return r;
    struct sharena__mval v;
    double cur = 0, sum = 0;
    r = sharena__map_lookup(a, map, key, klen, &v);
    if (r == SHARENA_ENOENT) {
        /* 2^53: the last integer a double holds with all below it */
        if ((flags & SHARENA_ADD_EXACT) && !(fabs(delta) <= 0x1p53))
            r = isnan(delta) || isinf(delta) ? 0 : SHARENA_EOVERFLOW;
        else
            r = 0;
        if (r == 0)
            r = sharena_map_set_number(a, map, key, klen, delta);
        if (r == 0)
            sum = delta;
    } else if (r == 0 && v.kind == SHARENA__V_NUMBER) {
        /* stored in the entry: add here, under the map's lock */
        cur = sharena__u2d(v.w[0]);
        if (flags & SHARENA_ADD_EXACT)
            r = sharena__add_exact(cur, delta, &sum);
        else
            sum = cur + delta;
        if (r == 0)
            r = sharena_map_set_number(a, map, key, klen, sum);
        else
            sum = cur;
    } else if (r == 0 && v.kind == SHARENA__V_REF) {
        sharena_id id = v.w[0] & SHARENA__REF_ID_MASK;
        r = (flags & SHARENA_ADD_EXACT)
                ? sharena_number_add_exact(a, id, delta, &sum)
                : sharena_number_add(a, id, delta, &sum);
    } else if (r == 0) {
        r = SHARENA_ETYPE;
    }
    if (result && (r == 0 || r == SHARENA_EOVERFLOW))
        *result = sum;
    sharena_unlock(a, map);
    return r;
}

int sharena_map_set_bool(sharena_arena *a, sharena_id map, const char *key,
                         size_t klen, bool b)
{
    struct sharena__mval v = {SHARENA__V_BOOL, 0, {b ? 1 : 0, 0}};
    return set_stored(a, map, key, klen, &v);
}

int sharena_map_set_null(sharena_arena *a, sharena_id map, const char *key,
                         size_t klen)
{
    struct sharena__mval v = {SHARENA__V_NULL, 0, {0, 0}};
    return set_stored(a, map, key, klen, &v);
}

/* Repair the table of a map whose writer died: finish a recorded removal,
 * then go over entries[0..count) in place: an entry whose key or value
 * kind is unusable, or whose key an earlier entry holds already, is removed
 * (the last entry moves into it, recorded as any removal is); the others
 * get their hash recomputed and go into the index, which is cleared first
 * and rebuilt. Every entry stays in the shared array at every moment, so a
 * repairer that dies half-way loses nothing: the next repair starts over.
 * The caller holds the lock; fsck and salvage call it with the arena lock
 * held too, so it allocates nothing. */
int sharena__map_repair(sharena_arena *a, struct sharena__slot *s)
{
    struct sharena__map_view t;
    if (!sharena__map_at(a, SHARENA__LD(s->word), &t)) {
        /* table unusable: start an empty one (entries are lost) */
        uint64_t off;
        int r = sharena__map_init_block(a, SHARENA__MAP_MIN_CAP,
                                        sharena__slot_index(a, s), &off);
        if (r < 0)
            return r;
        __atomic_store_n(&s->word, off, __ATOMIC_RELEASE);
        return 0;
    }
    finish_set(&t);
    finish_removal(&t);
    uint64_t count = SHARENA__LD(t.m->count);
    if (count > t.cap) {
        count = t.cap;
        SHARENA__ST(t.m->count, count);
    }
    for (uint64_t i = 0; i < 2 * t.cap; i++)
        SHARENA__ST(t.idx[i], 0);
    SHARENA__HOOK("map:repair-cleared");
    for (uint64_t i = 0; i < count;) {
        struct sharena__map_entry *e = &t.e[i];
        struct sharena__text_view k;
        struct sharena__mval v;
        bool ok = sharena__map_key_at(a, e, &k) && sharena__map_value_at(e, &v);
        uint32_t h = 0;
        if (ok) {
            h = (uint32_t)sharena__hash(a, k.data, k.len);
            ok = find(a, &t, i, k.data, k.len, h).e == -1;
        }
        if (!ok) {
            dense_remove(&t, count, i);
            count--;
            SHARENA__HOOK("map:repair-moved");
            continue;
        }
        if (SHARENA__LD(e->hash) != h)
            SHARENA__ST(e->hash, h);
        index_put(&t, h, i);
        SHARENA__HOOK("map:repair-indexed");
        i++;
    }
    return 0;
}

/* Remove @p key and hand its value (a ref with its OWNED bit) to the caller, who
 * decides about dropping it (build.c's undo of an update). */
int sharena__map_take(sharena_arena *a, sharena_id map, const char *key,
                      size_t klen, struct sharena__mval *old)
{
    return map_del(a, map, key, klen, old);
}
