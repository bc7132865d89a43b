/* localmap.h: the process-local peer of the C benchmark.
 *
 * A plain open-addressing hash table (string key -> uint64 value) built the
 * way one would write it for a single process: linear probing, load factor
 * <= 3/4, doubling growth, keys copied into a private pool, a word-at-a-time
 * hash. It is what sharena's maps are compared against ("within 3x of a
 * process-local hash map"), so it does the same work per lookup that a map
 * in an arena does (hash, probe, compare the stored hash, then the key
 * bytes), minus everything that makes memory shareable: no locks, no
 * sequence counters, no bounds checks on offsets. */
#ifndef SHARENA_BENCH_LOCALMAP_H
#define SHARENA_BENCH_LOCALMAP_H

#include <stddef.h>
#include <stdint.h>

struct localmap_entry {
    uint64_t hash; /* 0 = empty */
    uint64_t key;  /* offset of the key in the pool */
    uint32_t klen;
    uint32_t pad;
    uint64_t value;
};

struct localmap {
    struct localmap_entry *entries;
    uint64_t cap; /* power of two */
    uint64_t count;
    char *pool; /* key bytes */
    uint64_t pool_len, pool_cap;
};

int localmap_init(struct localmap *m);
void localmap_free(struct localmap *m);
/* 0, or -ENOMEM. */
int localmap_set(struct localmap *m, const char *key, size_t klen,
                 uint64_t value);
/* 0 with *value set, or -ENOENT. */
int localmap_get(const struct localmap *m, const char *key, size_t klen,
                 uint64_t *value);

#endif
