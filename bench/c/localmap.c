/* localmap.c: see localmap.h. */
#include "localmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static inline uint64_t load64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Word-at-a-time multiply/xor-shift hash with a final avalanche; never 0
 * (0 marks an empty entry). */
static uint64_t hash_key(const char *key, size_t len)
{
    uint64_t h = UINT64_C(0x243f6a8885a308d3) ^
                 (len * UINT64_C(0x9e3779b97f4a7c15));
    while (len >= 8) {
        h ^= load64(key);
        h *= UINT64_C(0xff51afd7ed558ccd);
        h ^= h >> 31;
        key += 8;
        len -= 8;
    }
    uint64_t tail = 0;
    memcpy(&tail, key, len);
    h ^= tail;
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 29;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 32;
    return h ? h : 1;
}

int localmap_init(struct localmap *m)
{
    memset(m, 0, sizeof(*m));
    m->cap = 8;
    m->entries = calloc(m->cap, sizeof(*m->entries));
    m->pool_cap = 256;
    m->pool = malloc(m->pool_cap);
    if (!m->entries || !m->pool) {
        localmap_free(m);
        return -ENOMEM;
    }
    return 0;
}

void localmap_free(struct localmap *m)
{
    free(m->entries);
    free(m->pool);
    memset(m, 0, sizeof(*m));
}

static int64_t find(const struct localmap *m, const char *key, size_t klen,
                    uint64_t hash)
{
    uint64_t mask = m->cap - 1;
    for (uint64_t i = hash & mask;; i = (i + 1) & mask) {
        const struct localmap_entry *e = &m->entries[i];
        if (!e->hash)
            return -(int64_t)i - 1; /* the free entry where it would go */
        if (e->hash == hash && e->klen == klen &&
            memcmp(m->pool + e->key, key, klen) == 0)
            return (int64_t)i;
    }
}

static int grow(struct localmap *m)
{
    uint64_t ncap = m->cap * 2;
    struct localmap_entry *n = calloc(ncap, sizeof(*n));
    if (!n)
        return -ENOMEM;
    for (uint64_t i = 0; i < m->cap; i++) {
        const struct localmap_entry *e = &m->entries[i];
        if (!e->hash)
            continue;
        uint64_t j = e->hash & (ncap - 1);
        while (n[j].hash)
            j = (j + 1) & (ncap - 1);
        n[j] = *e;
    }
    free(m->entries);
    m->entries = n;
    m->cap = ncap;
    return 0;
}

int localmap_set(struct localmap *m, const char *key, size_t klen,
                 uint64_t value)
{
    uint64_t hash = hash_key(key, klen);
    int64_t i = find(m, key, klen, hash);
    if (i >= 0) {
        m->entries[i].value = value;
        return 0;
    }
    if ((m->count + 1) * 4 > m->cap * 3) {
        if (grow(m) < 0)
            return -ENOMEM;
        i = find(m, key, klen, hash);
    }
    if (m->pool_len + klen > m->pool_cap) {
        uint64_t ncap = m->pool_cap * 2 + klen;
        char *p = realloc(m->pool, ncap);
        if (!p)
            return -ENOMEM;
        m->pool = p;
        m->pool_cap = ncap;
    }
    memcpy(m->pool + m->pool_len, key, klen);
    struct localmap_entry *e = &m->entries[-i - 1];
    e->key = m->pool_len;
    e->klen = (uint32_t)klen;
    e->value = value;
    e->hash = hash;
    m->pool_len += klen;
    m->count++;
    return 0;
}

int localmap_get(const struct localmap *m, const char *key, size_t klen,
                 uint64_t *value)
{
    int64_t i = find(m, key, klen, hash_key(key, klen));
    if (i < 0)
        return -ENOENT;
    *value = m->entries[i].value;
    return 0;
}
