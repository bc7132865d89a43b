/* map.c: string key -> id hash tables.
 *
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones), load factor <= 3/4, doubling growth into a new block that is
 * swapped in whole. Readers look keys up under the map's seqlock without
 * locking (sharena__read). The table is reached through a checked view
 * (view.h): its capacity is loaded once, and every probe loop is bounded by
 * that checked value; entries and keys are loaded once each and checked, so
 * a corrupt table, or one a peer changes meanwhile, yields an error, never
 * a fault or a hang.
 *
 * Write order (docs/locking.md): an entry's hash and value are written
 * before its key (key != 0 marks it used), and `count` after; repair
 * (sharena__map_repair) puts back in place, in the shared table itself,
 * what an interrupted shift left out of place. */
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

/* Where find() found a key: the entry's index, or -1 when the key is absent,
 * or -2 when an entry names no key block; and the key block's offset. */
struct hit {
    int64_t i;
    uint64_t key;
};

/* Look @p key up in the table of @p t, probing at most t->cap entries. */
SHARENA__SEQLOCK_READER
static struct hit find(const sharena_arena *a,
                       const struct sharena__map_view *t, const char *key,
                       size_t klen, uint64_t hash)
{
    const struct sharena__map_entry *e = t->m->entries;
    uint64_t mask = t->cap - 1;
    uint64_t i = hash & mask;
    for (uint64_t n = 0; n <= mask; n++, i = (i + 1) & mask) {
        uint64_t k = SHARENA__LD(e[i].key);
        if (!k)
            break;
        if (SHARENA__LD(e[i].hash) != hash)
            continue;
        struct sharena__text_view kv;
        if (!sharena__text_at(a, k, &kv))
            return (struct hit){-2, 0};
        if (kv.len == klen && sharena__rcmp(kv.data, key, klen) == 0)
            return (struct hit){(int64_t)i, k};
    }
    return (struct hit){-1, 0};
}

static int check_key(const char *key, size_t klen)
{
    if (klen && !key)
        return SHARENA_EINVAL;
    if (klen > UINT32_MAX)
        return SHARENA_ERANGE;
    return sharena_utf8_valid(key, klen) ? 0 : SHARENA_EILSEQ;
}

static uint64_t table_bytes(uint64_t cap)
{
    return sizeof(struct sharena__map) +
           cap * sizeof(struct sharena__map_entry);
}

static void table_init(sharena_arena *a, void *p, const void *ctx)
{
    (void)a;
    uint64_t cap = *(const uint64_t *)ctx;
    struct sharena__map *m = p;
    m->count = 0;
    m->cap = cap;
    memset(m->entries, 0, cap * sizeof(struct sharena__map_entry));
}

int sharena__map_init_block(sharena_arena *a, uint64_t cap, uint32_t tag,
                            uint64_t *off)
{
    int r = sharena__alloc(a, table_bytes(cap), tag, off);
    if (r == 0)
        table_init(a, a->base + *off, &cap);
    return r;
}

int sharena_map_new(sharena_arena *a, sharena_id *out)
{
    if (!a || !out)
        return SHARENA_EINVAL;
    static const uint64_t cap = SHARENA__MAP_MIN_CAP;
    return sharena__obj_new(a, SHARENA_T_MAP, table_bytes(cap), 0, table_init,
                            &cap, out);
}

struct get_ctx {
    const char *key;
    size_t klen;
    uint64_t hash;
    uint64_t ref;
};

SHARENA__SEQLOCK_READER
static int get_read(const sharena_arena *a, uint64_t word, void *ctx)
{
    struct get_ctx *c = ctx;
    struct sharena__map_view t;
    if (SHARENA__UNLIKELY(!sharena__map_at(a, word, &t)))
        return SHARENA_ECORRUPT;
    int64_t i = find(a, &t, c->key, c->klen, c->hash).i;
    if (i < 0)
        return i == -1 ? SHARENA_ENOENT : SHARENA_ECORRUPT;
    c->ref = SHARENA__LD(t.m->entries[i].value);
    return 0;
}

SHARENA__SEQLOCK_READER
int sharena_map_get(const sharena_arena *a, sharena_id map, const char *key,
                    size_t klen, sharena_id *value)
{
    if (!a || (klen && !key))
        return SHARENA_EINVAL;
    struct get_ctx c = {key, klen, sharena__hash(a, key, klen), 0};
    int r = sharena__read(a, map, SHARENA_T_MAP, get_read, &c);
    if (r < 0)
        return r;
    if (!(c.ref & SHARENA__REF_ID_MASK))
        return SHARENA_ECORRUPT; /* values are never id 0 */
    if (value)
        *value = c.ref & SHARENA__REF_ID_MASK;
    return 0;
}

SHARENA__SEQLOCK_READER
static int len_read(const sharena_arena *a, uint64_t word, void *ctx)
{
    struct sharena__map_view t;
    if (!sharena__map_at(a, word, &t))
        return SHARENA_ECORRUPT;
    uint64_t n = SHARENA__LD(t.m->count);
    if (n > t.cap)
        return SHARENA_ECORRUPT; /* a count past the capacity was scribbled */
    *(uint64_t *)ctx = n;
    return 0;
}

SHARENA__SEQLOCK_READER
int sharena_map_len(const sharena_arena *a, sharena_id map, uint64_t *len)
{
    if (!len)
        return SHARENA_EINVAL;
    uint64_t n = 0;
    int r = sharena__read(a, map, SHARENA_T_MAP, len_read, &n);
    if (r == 0)
        *len = n;
    return r;
}

/* Put @p ref into the first empty entry of its probe run; false when there
 * is none (a table a peer filled behind the count). No allocation. */
static bool place(const struct sharena__map_view *t, uint64_t hash,
                  uint64_t key, uint64_t ref)
{
    struct sharena__map_entry *e = t->m->entries;
    uint64_t mask = t->cap - 1;
    uint64_t i = hash & mask;
    for (uint64_t n = 0; n <= mask; n++, i = (i + 1) & mask) {
        if (SHARENA__LD(e[i].key))
            continue;
        SHARENA__ST(e[i].hash, hash);
        SHARENA__ST(e[i].value, ref);
        SHARENA__HOOK("map:entry-before-key");
        __atomic_store_n(&e[i].key, key, __ATOMIC_RELEASE);
        SHARENA__HOOK("map:entry-before-count");
        uint64_t count = SHARENA__LD(t->m->count);
        SHARENA__ST(t->m->count, count + 1);
        return true;
    }
    return false;
}

/* Grow the table @p t of the locked map in slot @p s to twice its
 * capacity; *t becomes the new table's view. */
static int grow(sharena_arena *a, struct sharena__slot *s,
                struct sharena__map_view *t)
{
    uint64_t cap = t->cap, ncap = cap * 2, off;
    int r = sharena__map_init_block(a, ncap, sharena__slot_index(a, s), &off);
    if (r < 0)
        return r;
    /* A scribbled allocator can hand out a block overlapping this table:
     * refuse it rather than rebuild the table over itself (fsck frees it). */
    if (off < t->off + table_bytes(cap) && t->off < off + table_bytes(ncap))
        return SHARENA_ECORRUPT;
    struct sharena__map_view n = {(void *)(a->base + off), off, ncap};
    const struct sharena__map_entry *e = t->m->entries;
    for (uint64_t i = 0; i < cap; i++) {
        uint64_t key = SHARENA__LD(e[i].key);
        /* (cap entries always fit 2 * cap: place cannot fail here) */
        if (key)
            place(&n, SHARENA__LD(e[i].hash), key, SHARENA__LD(e[i].value));
    }
    SHARENA__HOOK("map:grow-built");
    __atomic_store_n(&s->word, off, __ATOMIC_RELEASE);
    SHARENA__HOOK("map:grow-swapped");
    sharena__free(a, t->off);
    *t = n;
    return 0;
}

/* Insert or replace under the map's lock. On replace *old receives the
 * previous ref (with its OWNED bit); on SHARENA__PUT_IF_ABSENT with the key present,
 * returns SHARENA_EEXIST and *old = existing ref. */
int sharena__map_put(sharena_arena *a, sharena_id map, const char *key,
                     size_t klen, uint64_t ref, int mode, uint64_t *old)
{
    int r = check_key(key, klen);
    if (r < 0)
        return r;
    uint64_t hash = sharena__hash(a, key, klen);
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, map, SHARENA_T_MAP, &s);
    if (nested < 0)
        return nested;
    *old = 0;
    struct sharena__map_view t;
    if (!sharena__map_at(a, SHARENA__LD(s->word), &t)) {
        r = SHARENA_ECORRUPT;
        goto out;
    }
    int64_t i = find(a, &t, key, klen, hash).i;
    if (i == -2) {
        r = SHARENA_ECORRUPT;
        goto out;
    }
    if (i >= 0) {
        *old = SHARENA__LD(t.m->entries[i].value);
        if (mode == SHARENA__PUT_IF_ABSENT) {
            r = SHARENA_EEXIST;
            goto out;
        }
        __atomic_store_n(&t.m->entries[i].value, ref, __ATOMIC_RELEASE);
        goto out;
    }
    uint64_t count = SHARENA__LD(t.m->count);
    if (count >= t.cap) {
        r = SHARENA_ECORRUPT;
        goto out;
    }
    if ((count + 1) * 4 > t.cap * 3 && (r = grow(a, s, &t)) < 0)
        goto out;
    uint64_t koff, kbytes = sizeof(struct sharena__key) + klen + 1;
    r = sharena__alloc(a, kbytes, sharena__slot_index(a, s), &koff);
    if (r < 0)
        goto out;
    struct sharena__key *k = (void *)(a->base + koff);
    k->len = klen;
    if (klen)
        memcpy(k->data, key, klen);
    k->data[klen] = 0;
    SHARENA__HOOK("map:key-allocated");
    /* On a scribbled arena the allocator can hand out a key block that
     * overlaps the table (left to fsck), or a peer may have filled the
     * table behind the count (the key is given back). */
    if (koff < t.off + table_bytes(t.cap) && t.off < koff + kbytes) {
        r = SHARENA_ECORRUPT;
        goto out;
    }
    if (!place(&t, hash, koff, ref)) {
        sharena__free(a, koff);
        r = SHARENA_ECORRUPT;
    }
out:
    sharena__write_end(a, s, nested);
    return r;
}

/* Remove @p key under the lock; *old receives its ref. */
static int map_del(sharena_arena *a, sharena_id map, const char *key,
                   size_t klen, uint64_t *old)
{
    if (klen && !key)
        return SHARENA_EINVAL;
    uint64_t hash = sharena__hash(a, key, klen);
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, map, SHARENA_T_MAP, &s);
    if (nested < 0)
        return nested;
    int r = 0;
    struct sharena__map_view t;
    struct hit found = {-2, 0};
    if (sharena__map_at(a, SHARENA__LD(s->word), &t))
        found = find(a, &t, key, klen, hash);
    if (found.i < 0) {
        r = found.i == -1 ? SHARENA_ENOENT : SHARENA_ECORRUPT;
        goto out;
    }
    struct sharena__map_entry *e = t.m->entries;
    uint64_t mask = t.cap - 1, i = (uint64_t)found.i, j = i;
    *old = SHARENA__LD(e[i].value);
    /* Backward-shift deletion (Knuth's algorithm R). The hole is emptied
     * before an entry moves into it, so a writer dying mid-move leaves the
     * entry in one place or two (repair keeps one), never a stale key with
     * another key's value. */
    for (uint64_t n = 0; n < mask; n++) {
        j = (j + 1) & mask;
        uint64_t ko = SHARENA__LD(e[j].key);
        if (!ko)
            break;
        uint64_t h = SHARENA__LD(e[j].hash), k = h & mask;
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays)
            continue;
        SHARENA__ST(e[i].key, 0);
        SHARENA__ST(e[i].hash, h);
        SHARENA__ST(e[i].value, SHARENA__LD(e[j].value));
        __atomic_store_n(&e[i].key, ko, __ATOMIC_RELEASE);
        SHARENA__HOOK("map:remove-shifting");
        i = j;
    }
    SHARENA__ST(e[i].key, 0);
    SHARENA__ST(e[i].hash, 0);
    SHARENA__ST(e[i].value, 0);
    uint64_t count = SHARENA__LD(t.m->count);
    if (count)
        SHARENA__ST(t.m->count, count - 1);
    /* under the lock: a writer dying here leaves a block tagged with this
     * map, which repair frees */
    sharena__free(a, found.key);
out:
    sharena__write_end(a, s, nested);
    return r;
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
    uint64_t prev;
    uint64_t ref = value | ((flags & SHARENA_OWNED) ? SHARENA__REF_OWNED : 0);
    r = sharena__map_put(a, map, key, klen, ref, SHARENA__PUT_SET, &prev);
    if (r < 0)
        return r;
    if (prev && (prev & SHARENA__REF_ID_MASK) != value) {
        if (prev & SHARENA__REF_OWNED)
            sharena__drop_ref(a, prev, 0);
        else if (old)
            *old = prev & SHARENA__REF_ID_MASK;
    }
    return 0;
}

int sharena_map_remove(sharena_arena *a, sharena_id map, const char *key,
                       size_t klen, sharena_id *old)
{
    if (!a)
        return SHARENA_EINVAL;
    if (old)
        *old = 0;
    uint64_t prev = 0;
    int r = map_del(a, map, key, klen, &prev);
    if (r < 0)
        return r;
    if (prev & SHARENA__REF_OWNED)
        sharena__drop_ref(a, prev, 0);
    else if (old)
        *old = prev & SHARENA__REF_ID_MASK;
    return 0;
}

struct next_ctx {
    uint64_t from; /* the cursor: first entry to look at */
    char *key;
    size_t kcap;
    uint64_t at, klen, ref; /* what was found */
};

SHARENA__SEQLOCK_READER
static int next_read(const sharena_arena *a, uint64_t word, void *ctx)
{
    struct next_ctx *c = ctx;
    struct sharena__map_view t;
    if (!sharena__map_at(a, word, &t))
        return SHARENA_ECORRUPT;
    const struct sharena__map_entry *e = t.m->entries;
    for (uint64_t i = c->from; i < t.cap; i++) {
        uint64_t ko = SHARENA__LD(e[i].key);
        if (!ko)
            continue;
        struct sharena__text_view k;
        if (!sharena__text_at(a, ko, &k))
            return SHARENA_ECORRUPT;
        c->at = i;
        c->klen = k.len;
        c->ref = SHARENA__LD(e[i].value);
        if (!c->key || k.len >= c->kcap)
            return SHARENA_ERANGE;
        sharena__rcopy(c->key, k.data, k.len);
        c->key[k.len] = 0;
        return 0;
    }
    return SHARENA_ENOENT;
}

SHARENA__SEQLOCK_READER
int sharena_map_next(const sharena_arena *a, sharena_id map, uint64_t *cursor,
                     char *key, size_t kcap, size_t *klen, sharena_id *value,
                     bool *owned)
{
    if (!cursor)
        return SHARENA_EINVAL;
    struct next_ctx c = {*cursor, key, kcap, 0, 0, 0};
    int r = sharena__read(a, map, SHARENA_T_MAP, next_read, &c);
    if (r != 0 && r != SHARENA_ERANGE)
        return r;
    if (klen)
        *klen = c.klen;
    if (r == SHARENA_ERANGE)
        return r;
    if (!(c.ref & SHARENA__REF_ID_MASK))
        return SHARENA_ECORRUPT; /* values are never id 0 */
    if (value)
        *value = c.ref & SHARENA__REF_ID_MASK;
    if (owned)
        *owned = (c.ref & SHARENA__REF_OWNED) != 0;
    *cursor = c.at + 1;
    return 0;
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

int sharena_map_set_string(sharena_arena *a, sharena_id map, const char *key,
                           size_t klen, const char *str, size_t slen)
{
    sharena_id v = 0;
    int r = check_key(key, klen);
    if (r < 0)
        return r;
    return set_new(a, map, key, klen, sharena_string_new(a, str, slen, &v), &v);
}

int sharena_map_set_number(sharena_arena *a, sharena_id map, const char *key,
                           size_t klen, double d)
{
    sharena_id v = 0;
    int r = check_key(key, klen);
    if (r < 0)
        return r;
    return set_new(a, map, key, klen, sharena_number_new(a, d, &v), &v);
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
    sharena_id v;
    r = sharena_map_get(a, map, key, klen, &v);
    if (r == SHARENA_ENOENT) {
        /* 2^53: the last integer a double holds with all below it */
        if ((flags & SHARENA_ADD_EXACT) && !(fabs(delta) <= 0x1p53))
            r = isnan(delta) || isinf(delta) ? 0 : SHARENA_EOVERFLOW;
        else
            r = 0;
        if (r == 0)
            r = sharena_map_set_number(a, map, key, klen, delta);
        if (r == 0 && result)
            *result = delta;
    } else if (r == 0) {
        r = (flags & SHARENA_ADD_EXACT)
                ? sharena_number_add_exact(a, v, delta, result)
                : sharena_number_add(a, v, delta, result);
    }
    sharena_unlock(a, map);
    return r;
}

int sharena_map_set_bool(sharena_arena *a, sharena_id map, const char *key,
                         size_t klen, bool b)
{
    sharena_id v = 0;
    int r = check_key(key, klen);
    if (r < 0)
        return r;
    return set_new(a, map, key, klen, sharena_bool_new(a, b, &v), &v);
}

int sharena_map_set_null(sharena_arena *a, sharena_id map, const char *key,
                         size_t klen)
{
    sharena_id v = 0;
    int r = check_key(key, klen);
    if (r < 0)
        return r;
    return set_new(a, map, key, klen, sharena_null_new(a, &v), &v);
}

/* Does the entry at @p j hold the key @p k (the same block, or the same
 * text)? */
static bool same_key(const sharena_arena *a, uint64_t kj, uint64_t k,
                     const struct sharena__text_view *kv)
{
    if (kj == k)
        return true;
    struct sharena__text_view w;
    return sharena__text_at(a, kj, &w) && w.len == kv->len &&
           sharena__rcmp(w.data, kv->data, kv->len) == 0;
}

/* One pass of the repair over every entry, in probe order from an empty
 * position: an entry whose key block is unusable is cleared (nothing can
 * find it); one that a probe from its home would not reach (a hole left
 * by an interrupted shift) moves to the first empty position of that
 * probe; one that a probe from its home meets again earlier (the second
 * copy an interrupted shift leaves) is cleared. A move writes the new
 * place first (its key last) and clears the old one after, so a repairer
 * killed at any point leaves every key in the shared table at least once,
 * for the next repair to finish. Returns how many entries it changed. */
static uint64_t repair_pass(sharena_arena *a, const struct sharena__map_view *t)
{
    struct sharena__map_entry *e = t->m->entries;
    uint64_t mask = t->cap - 1, start = 0, moved = 0;
    while (start <= mask && SHARENA__LD(e[start].key))
        start++;
    if (start > mask)
        start = 0; /* full (a peer's doing): no moves, duplicates only */
    for (uint64_t n = 1; n <= t->cap; n++) {
        uint64_t i = (start + n) & mask;
        uint64_t k = SHARENA__LD(e[i].key);
        if (!k)
            continue;
        struct sharena__text_view kv;
        if (!sharena__text_at(a, k, &kv)) {
            SHARENA__ST(e[i].key, 0);
            moved++;
            continue;
        }
        uint64_t h = sharena__hash(a, kv.data, kv.len);
        uint64_t j = h & mask;
        for (; j != i; j = (j + 1) & mask) {
            uint64_t kj = SHARENA__LD(e[j].key);
            if (!kj || same_key(a, kj, k, &kv))
                break;
        }
        if (j == i) {
            if (SHARENA__LD(e[i].hash) != h)
                SHARENA__ST(e[i].hash, h);
            continue; /* reached from its home: it stays */
        }
        if (!SHARENA__LD(e[j].key)) {
            SHARENA__ST(e[j].hash, h);
            SHARENA__ST(e[j].value, SHARENA__LD(e[i].value));
            __atomic_store_n(&e[j].key, k, __ATOMIC_RELEASE);
            SHARENA__HOOK("map:repair-moved");
        }
        /* moved to j, or j holds this key already: this copy goes */
        SHARENA__ST(e[i].key, 0);
        SHARENA__ST(e[i].hash, 0);
        SHARENA__ST(e[i].value, 0);
        moved++;
    }
    return moved;
}

/* At most this many passes (each moves an entry only nearer its home, so
 * the repair of what crashes leave ends within two or three). */
#define REPAIR_PASSES 64

/* Repair the table of a map whose writer died, in place and without a
 * private copy: every entry stays in the shared table at every moment, so
 * a repairer that dies half-way loses nothing (a rebuild from a private
 * copy lost the keys it had not put back yet). Then recount. The caller
 * holds the lock; fsck and salvage call it with the arena lock held too,
 * so it allocates nothing. */
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
    for (unsigned pass = 0; pass < REPAIR_PASSES; pass++)
        if (!repair_pass(a, &t))
            break;
    uint64_t used = 0;
    for (uint64_t i = 0; i < t.cap; i++)
        used += SHARENA__LD(t.m->entries[i].key) != 0;
    SHARENA__ST(t.m->count, used);
    return 0;
}

/* Remove @p key and hand its ref (with its OWNED bit) to the caller, who
 * decides about dropping it (build.c's undo of an update). */
int sharena__map_take(sharena_arena *a, sharena_id map, const char *key,
                      size_t klen, uint64_t *old)
{
    *old = 0;
    return map_del(a, map, key, klen, old);
}
