/* map.c: string key -> id hash tables.
 *
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones), load factor <= 3/4, doubling growth into a new block that is
 * swapped in whole. Readers look keys up under the map's seqlock without
 * locking; every probe loop is bounded by the table's capacity and every
 * offset is validated, so a corrupt table yields an error, never a hang.
 *
 * Write order (docs/locking.md): an entry's hash and value are written
 * before its key (key != 0 marks it used), and `count` after; repair
 * (sharena__map_repair) rebuilds the table from the entries it finds. */
#include "internal.h"

#include <stdlib.h>

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
    uint64_t h = sharena__hdr(a)->hash_seed ^ (len * UINT64_C(0x9e3779b97f4a7c15));
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

/* The map payload with its table, validated against its block. */
SHARENA__SEQLOCK_READER
static struct sharena__map *map_at(const sharena_arena *a, uint64_t off)
{
    uint64_t have = sharena__payload_size(a, off);
    if (have < sizeof(struct sharena__map))
        return NULL;
    struct sharena__map *m = (void *)(a->base + off);
    uint64_t cap = m->cap;
    if (cap < SHARENA__MAP_MIN_CAP || (cap & (cap - 1)) ||
        cap > (have - sizeof *m) / sizeof(struct sharena__map_entry))
        return NULL;
    return m;
}

SHARENA__SEQLOCK_READER
static const struct sharena__key *key_at(const sharena_arena *a, uint64_t off)
{
    uint64_t have = sharena__payload_size(a, off);
    if (have < sizeof(struct sharena__key))
        return NULL;
    const struct sharena__key *k = (const void *)(a->base + off);
    if (k->len > have - sizeof *k)
        return NULL;
    return k;
}

/* Index of @p key, or -1 when absent, or -2 when the table is corrupt. */
SHARENA__SEQLOCK_READER
static int64_t find(const sharena_arena *a, const struct sharena__map *m,
                    const char *key, size_t klen, uint64_t hash)
{
    uint64_t mask = m->cap - 1;
    uint64_t i = hash & mask;
    for (uint64_t n = 0; n <= mask; n++, i = (i + 1) & mask) {
        const struct sharena__map_entry *e = &m->entries[i];
        uint64_t ko = __atomic_load_n(&e->key, __ATOMIC_RELAXED);
        if (!ko)
            return -1;
        if (e->hash != hash)
            continue;
        const struct sharena__key *k = key_at(a, ko);
        if (!k)
            return -2;
        if (k->len == klen && sharena__rcmp(k->data, key, klen) == 0)
            return (int64_t)i;
    }
    return -1;
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
    return sizeof(struct sharena__map) + cap * sizeof(struct sharena__map_entry);
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

SHARENA__SEQLOCK_READER
int sharena_map_get(const sharena_arena *a, sharena_id map, const char *key,
                    size_t klen, sharena_id *value)
{
    if (klen && !key)
        return SHARENA_EINVAL;
    uint64_t hash = 0;
    for (unsigned attempt = 0;; attempt++) {
        struct sharena__slot *s;
        int r = sharena__resolve(a, map, SHARENA_T_MAP, &s);
        if (r < 0)
            return r;
        if (!hash)
            hash = sharena__hash(a, key, klen);
        uint32_t seq = sharena__read_begin(s);
        if (!(seq & 1)) {
            const struct sharena__map *m =
                map_at(a, __atomic_load_n(&s->word, __ATOMIC_RELAXED));
            int64_t i = m ? find(a, m, key, klen, hash) : -2;
            uint64_t v = i >= 0 ? m->entries[i].value : 0;
            if (sharena__read_ok(s, seq) &&
                __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) ==
                    sharena__id_gen(map)) {
                if (i == -2)
                    return SHARENA_ECORRUPT;
                if (i < 0)
                    return SHARENA_ENOENT;
                if (!(v & SHARENA__REF_ID_MASK))
                    return SHARENA_ECORRUPT; /* values are never id 0 */
                if (value)
                    *value = v & SHARENA__REF_ID_MASK;
                return 0;
            }
        }
        if (attempt == 200)
            sharena__read_settle(a, s);
        if (!sharena__read_backoff(attempt))
            return SHARENA_EBUSY;
    }
}

SHARENA__SEQLOCK_READER
int sharena_map_len(const sharena_arena *a, sharena_id map, uint64_t *len)
{
    if (!len)
        return SHARENA_EINVAL;
    for (unsigned attempt = 0;; attempt++) {
        struct sharena__slot *s;
        int r = sharena__resolve(a, map, SHARENA_T_MAP, &s);
        if (r < 0)
            return r;
        uint32_t seq = sharena__read_begin(s);
        if (!(seq & 1)) {
            const struct sharena__map *m =
                map_at(a, __atomic_load_n(&s->word, __ATOMIC_RELAXED));
            uint64_t n = m ? m->count : 0;
            uint64_t cap = m ? m->cap : 0;
            if (sharena__read_ok(s, seq) &&
                __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) ==
                    sharena__id_gen(map)) {
                /* a count past the table's capacity was scribbled */
                if (!m || n > cap)
                    return SHARENA_ECORRUPT;
                *len = n;
                return 0;
            }
        }
        if (attempt == 200)
            sharena__read_settle(a, s);
        if (!sharena__read_backoff(attempt))
            return SHARENA_EBUSY;
    }
}

/* Put @p ref into a table known to have room; no allocation. */
static void place(struct sharena__map *m, uint64_t hash, uint64_t key,
                  uint64_t ref)
{
    uint64_t mask = m->cap - 1;
    uint64_t i = hash & mask;
    for (uint64_t n = 0; n <= mask; n++, i = (i + 1) & mask) {
        struct sharena__map_entry *e = &m->entries[i];
        if (!e->key) {
            e->hash = hash;
            e->value = ref;
            SHARENA__HOOK("map:entry-before-key");
            __atomic_store_n(&e->key, key, __ATOMIC_RELEASE);
            SHARENA__HOOK("map:entry-before-count");
            m->count++;
            return;
        }
    }
}

/* Grow the table of the locked map in slot @p s to twice its capacity. */
static int grow(sharena_arena *a, struct sharena__slot *s,
                struct sharena__map **mp)
{
    struct sharena__map *m = *mp;
    uint64_t cap = m->cap, ncap = cap * 2, off;
    uint64_t oldend = s->word + sizeof *m + cap * sizeof m->entries[0];
    int r = sharena__map_init_block(a, ncap, sharena__slot_index(a, s), &off);
    if (r < 0)
        return r;
    /* A scribbled allocator can hand out a block overlapping this table:
     * refuse it rather than rebuild the table over itself (fsck frees it). */
    if (off < oldend && s->word < off + sizeof *m + ncap * sizeof m->entries[0])
        return SHARENA_ECORRUPT;
    struct sharena__map *n = (void *)(a->base + off);
    for (uint64_t i = 0; i < cap; i++)
        if (m->entries[i].key)
            place(n, m->entries[i].hash, m->entries[i].key,
                  m->entries[i].value);
    SHARENA__HOOK("map:grow-built");
    uint64_t old = s->word;
    __atomic_store_n(&s->word, off, __ATOMIC_RELEASE);
    SHARENA__HOOK("map:grow-swapped");
    sharena__free(a, old);
    *mp = n;
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
    struct sharena__map *m = map_at(a, s->word);
    if (!m) {
        r = SHARENA_ECORRUPT;
        goto out;
    }
    int64_t i = find(a, m, key, klen, hash);
    if (i == -2) {
        r = SHARENA_ECORRUPT;
        goto out;
    }
    if (i >= 0) {
        *old = m->entries[i].value;
        if (mode == SHARENA__PUT_IF_ABSENT) {
            r = SHARENA_EEXIST;
            goto out;
        }
        __atomic_store_n(&m->entries[i].value, ref, __ATOMIC_RELEASE);
        goto out;
    }
    if ((m->count + 1) * 4 > m->cap * 3 && (r = grow(a, s, &m)) < 0)
        goto out;
    uint64_t koff;
    r = sharena__alloc(a, sizeof(struct sharena__key) + klen + 1,
                       sharena__slot_index(a, s), &koff);
    if (r < 0)
        goto out;
    struct sharena__key *k = (void *)(a->base + koff);
    k->len = klen;
    if (klen)
        memcpy(k->data, key, klen);
    k->data[klen] = 0;
    SHARENA__HOOK("map:key-allocated");
    /* Check the table again before writing into it: on a scribbled arena
     * the key's block can overlap it. */
    if ((m = map_at(a, s->word)) == NULL || m->count >= m->cap) {
        r = SHARENA_ECORRUPT;
        goto out;
    }
    place(m, hash, koff, ref);
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
    uint64_t koff;
    struct sharena__map *m = map_at(a, s->word);
    int64_t found = m ? find(a, m, key, klen, hash) : -2;
    if (found < 0) {
        r = found == -1 ? SHARENA_ENOENT : SHARENA_ECORRUPT;
        goto out;
    }
    uint64_t mask = m->cap - 1, i = (uint64_t)found, j = i;
    *old = m->entries[i].value;
    koff = m->entries[i].key;
    /* Backward-shift deletion (Knuth's algorithm R). */
    for (uint64_t n = 0; n < mask; n++) {
        j = (j + 1) & mask;
        struct sharena__map_entry *e = &m->entries[j];
        if (!e->key)
            break;
        uint64_t k = e->hash & mask;
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays)
            continue;
        m->entries[i] = *e;
        SHARENA__HOOK("map:remove-shifting");
        i = j;
    }
    m->entries[i].key = 0;
    m->entries[i].hash = 0;
    m->entries[i].value = 0;
    if (m->count)
        m->count--;
    /* under the lock: a writer dying here leaves a block tagged with this
     * map, which repair frees */
    sharena__free(a, koff);
out:
    sharena__write_end(a, s, nested);
    return r;
}

int sharena_map_set(sharena_arena *a, sharena_id map, const char *key,
                    size_t klen, sharena_id value, unsigned flags,
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

SHARENA__SEQLOCK_READER
int sharena_map_next(const sharena_arena *a, sharena_id map, uint64_t *cursor,
                     char *key, size_t kcap, size_t *klen, sharena_id *value,
                     bool *owned)
{
    if (!cursor)
        return SHARENA_EINVAL;
    for (unsigned attempt = 0;; attempt++) {
        struct sharena__slot *s;
        int r = sharena__resolve(a, map, SHARENA_T_MAP, &s);
        if (r < 0)
            return r;
        uint32_t seq = sharena__read_begin(s);
        if (!(seq & 1)) {
            const struct sharena__map *m =
                map_at(a, __atomic_load_n(&s->word, __ATOMIC_RELAXED));
            int res = m ? SHARENA_ENOENT : SHARENA_ECORRUPT;
            uint64_t i = *cursor, ref = 0, n = 0;
            for (; m && i < m->cap; i++) {
                uint64_t ko = m->entries[i].key;
                if (!ko)
                    continue;
                const struct sharena__key *k = key_at(a, ko);
                if (!k) {
                    res = SHARENA_ECORRUPT;
                    break;
                }
                n = k->len;
                ref = m->entries[i].value;
                if (key && n < kcap) {
                    sharena__rcopy(key, k->data, n);
                    key[n] = 0;
                    res = 0;
                } else {
                    res = SHARENA_ERANGE;
                }
                break;
            }
            if (sharena__read_ok(s, seq) &&
                __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) ==
                    sharena__id_gen(map)) {
                if (res == 0 || res == SHARENA_ERANGE) {
                    if (klen)
                        *klen = n;
                    if (res == SHARENA_ERANGE)
                        return res;
                    if (!(ref & SHARENA__REF_ID_MASK))
                        return SHARENA_ECORRUPT; /* values are never id 0 */
                    if (value)
                        *value = ref & SHARENA__REF_ID_MASK;
                    if (owned)
                        *owned = (ref & SHARENA__REF_OWNED) != 0;
                    *cursor = i + 1;
                }
                return res;
            }
        }
        if (attempt == 200)
            sharena__read_settle(a, s);
        if (!sharena__read_backoff(attempt))
            return SHARENA_EBUSY;
    }
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

int sharena_map_set_bool(sharena_arena *a, sharena_id map, const char *key,
                         size_t klen, bool b)
{
    sharena_id v = 0;
    int r = check_key(key, klen);
    if (r < 0)
        return r;
    return set_new(a, map, key, klen, sharena_bool_new(a, b, &v), &v);
}

/* Rebuild the table of a map whose writer died: keep every entry whose key
 * block is valid, once, and recount. The caller holds the lock. */
int sharena__map_repair(sharena_arena *a, struct sharena__slot *s)
{
    struct sharena__map *m = map_at(a, s->word);
    if (!m) {
        /* table unusable: start an empty one (entries are lost) */
        uint64_t off;
        int r = sharena__map_init_block(a, SHARENA__MAP_MIN_CAP,
                                        sharena__slot_index(a, s), &off);
        if (r < 0)
            return r;
        __atomic_store_n(&s->word, off, __ATOMIC_RELEASE);
        return 0;
    }
    uint64_t cap = m->cap;
    struct sharena__map_entry *copy = malloc(cap * sizeof *copy);
    if (!copy)
        return SHARENA_ENOMEM;
    memcpy(copy, m->entries, cap * sizeof *copy);
    memset(m->entries, 0, cap * sizeof *copy);
    m->count = 0;
    for (uint64_t i = 0; i < cap; i++) {
        const struct sharena__key *k = copy[i].key ? key_at(a, copy[i].key) : NULL;
        if (!k)
            continue;
        uint64_t h = sharena__hash(a, k->data, k->len);
        if (find(a, m, k->data, k->len, h) != -1)
            continue; /* duplicate left by an interrupted shift */
        if ((m->count + 1) * 4 > cap * 3)
            break;
        place(m, h, copy[i].key, copy[i].value);
    }
    free(copy);
    return 0;
}
