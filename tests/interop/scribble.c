/* scribble.c: the hostile peer of tests/interop/test_hostile.py.
 *
 *   interop_scribble ARENA SECONDS SEED
 *   interop_scribble badtext ARENA
 *
 * Opens ARENA through the broker ($SHARENA_SOCKET) read-write, like any
 * client with write access, and for SECONDS writes random bytes (and now and
 * then a random 32- or 64-bit word) at random offsets of the live arena:
 * the header's counters, allocator state, lock words and live-slot bitmap,
 * the handle table's slots (types, generations, lock and sequence words),
 * and the heap where blocks, map tables, vectors and strings live. The
 * header's identity (magic, version, layout hash, capacity, heap bounds,
 * name: bytes 0..199) is left alone: with those gone no process can open
 * the arena at all, which is a clear ELAYOUT/ECORRUPT, not what this test
 * exercises. A hit on a lock word (the arena lock or an object's) writes
 * an owner that no client is, as a stale or scribbled word would: lockers
 * must take it over, never wait for it. (A word naming a live client is
 * that client's lock as far as anyone can tell: docs/security.md 9.2.) Prints the seed and the number of writes as one JSON line;
 * exits 0 unless the arena cannot be opened.
 *
 * `badtext` is the deterministic case: it makes root string "t.str" and
 * root map "t.map" with one key, then overwrites the first byte of the
 * string's text and of the key with 0xff (never valid UTF-8), as a
 * scribbler could. Readers must report ECORRUPT or show the bytes, never
 * fail some other way. */
#include "internal.h"
#include "sharena.h"
#include "../support/test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* the same sequence for a seed on every machine */
static uint64_t rng_state;
static uint64_t rnd(void)
{
    return test_xorshift(&rng_state);
}

/* Scribble the broker's live-slot bitmap too ($SHARENA_HOSTILE_BITMAP=1).
 * Off by default: a bit set there for a slot no client holds, together with
 * a lock word scribbled to name that slot, makes lockers wait for an owner
 * that never goes away (the bitmap is the library's only evidence of
 * liveness for broker clients; see the report in docs/security.md). */
static bool bitmap;

/* A random offset in one of the regions; 0 when the region is unusable.
 * The header's allocator and handle-table fields are hit rarely: one
 * scribble there (a slot chunk's offset, say) makes most of the arena
 * ECORRUPT at once, and the peers should meet damaged objects of every
 * kind first. */
static uint64_t pick(const sharena_arena *a, uint64_t heap_span)
{
    const struct sharena__header *h = sharena__hdr(a);
    unsigned r = (unsigned)(rnd() % 64);
    if (r == 0) /* counters, lock word, allocator, slot chunk table, lists */
        return 200 + rnd() % (5120 - 200);
    if (r == 1) { /* the live-slot bitmap: the first words, where slots live */
        if (!bitmap)
            return 0;
        return 5120 + rnd() % 64;
    }
    if (r < 18) { /* the first slot chunk: types, generations, locks, seqs */
        uint64_t chunk = __atomic_load_n(&h->slot_chunks[0], __ATOMIC_RELAXED);
        uint64_t len = SHARENA__SLOT_CHUNK0 * sizeof(struct sharena__slot);
        if (chunk < a->heap_start || chunk > a->heap_end - len)
            return 0; /* already scribbled away */
        return chunk + rnd() % len;
    }
    /* the heap objects occupy: blocks, map tables, vectors, strings */
    return a->heap_start + rnd() % heap_span;
}

#define TEXT_MARK "sharena-text-mark-0123456789"
#define KEY_MARK "sharena-key-mark-0123456789"

/* Overwrite the first byte of the only copy of @p mark in the heap. */
static int spoil(sharena_arena *a, const char *mark)
{
    size_t n = strlen(mark);
    uint8_t *p = memmem(a->base + a->heap_start, a->heap_end - a->heap_start,
                        mark, n);
    if (!p)
        return SHARENA_ENOENT;
    *p = 0xff;
    return 0;
}

static int bad_text(const char *name)
{
    sharena_conn *c;
    sharena_arena *a;
    sharena_id s, m;
    int r = sharena_connect(NULL, &c);
    if (r == 0)
        r = sharena_open(c, name, NULL, &a);
    if (r == 0)
        r = sharena_root_ensure(a, "t.str", SHARENA_T_STRING, 0, &s, NULL);
    if (r == 0)
        r = sharena_string_set(a, s, TEXT_MARK, strlen(TEXT_MARK));
    if (r == 0)
        r = sharena_root_ensure(a, "t.map", SHARENA_T_MAP, 0, &m, NULL);
    if (r == 0)
        r = sharena_map_set_number(a, m, KEY_MARK, strlen(KEY_MARK), 1);
    if (r == 0)
        r = spoil(a, TEXT_MARK);
    if (r == 0)
        r = spoil(a, KEY_MARK);
    if (r < 0) {
        fprintf(stderr, "badtext: %s: %s\n", name, sharena_strerror(r));
        return 1;
    }
    printf("OK\n");
    return 0;
}

/* The lock word that covers @p off, if any: the arena lock or a slot's. */
static uint32_t *lock_word_at(const sharena_arena *a, uint64_t off)
{
    struct sharena__header *h = sharena__hdr(a);
    uint64_t arena_lock = offsetof(struct sharena__header, arena_lock);
    if (off >= arena_lock && off < arena_lock + 4)
        return &h->arena_lock;
    uint64_t chunk = __atomic_load_n(&h->slot_chunks[0], __ATOMIC_RELAXED);
    uint64_t len = SHARENA__SLOT_CHUNK0 * sizeof(struct sharena__slot);
    if (chunk < a->heap_start || chunk > a->heap_end - len || off < chunk ||
        off >= chunk + len)
        return NULL;
    struct sharena__slot *s = (struct sharena__slot *)(a->base + chunk) +
                              (off - chunk) / sizeof(struct sharena__slot);
    uint64_t in = (off - chunk) % sizeof(struct sharena__slot);
    if (in >= offsetof(struct sharena__slot, lock) &&
        in < offsetof(struct sharena__slot, lock) + 4)
        return &s->lock;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "badtext") == 0)
        return bad_text(argv[2]);
    if (argc != 4) {
        fprintf(stderr,
                "usage: interop_scribble ARENA SECONDS SEED | badtext ARENA\n");
        return 2;
    }
    double seconds = atof(argv[2]);
    const char *b = getenv("SHARENA_HOSTILE_BITMAP");
    bitmap = b && strcmp(b, "1") == 0;
    unsigned long long seed = strtoull(argv[3], NULL, 0);
    rng_state = seed * UINT64_C(0x9e3779b97f4a7c15) + 1;
    printf("{\"seed\":%llu", seed);
    fflush(stdout);

    sharena_conn *c;
    sharena_arena *a;
    int r = sharena_connect(NULL, &c);
    if (r == 0)
        r = sharena_open(c, argv[1], NULL, &a);
    if (r < 0) {
        fprintf(stderr, "scribble: %s: %s\n", argv[1], sharena_strerror(r));
        return 1;
    }
    /* objects live near the start of the heap: aim at twice what they use
     * now (the peers allocate as they go) */
    sharena_arena_info info;
    uint64_t heap_span = UINT64_C(64) << 10;
    if (sharena_arena_info_get(a, &info) == 0 &&
        info.used_bytes * 2 > heap_span)
        heap_span = info.used_bytes * 2;
    if (heap_span > a->heap_end - a->heap_start)
        heap_span = a->heap_end - a->heap_start;

    unsigned long writes = 0;
    double until = test_now_s() + seconds;
    while (test_now_s() < until) {
        uint64_t off = pick(a, heap_span);
        if (!off)
            continue;
        uint64_t v = rnd();
        uint32_t *lock = lock_word_at(a, off);
        if (lock) {
            /* a lock word always names an owner no client is: a broker slot
             * far above the few this test's broker hands out (a word naming
             * a live client is a lock that client holds: it may keep it) */
            __atomic_store_n(lock, 0xc000u + (uint32_t)(v >> 40) % 0x3000u,
                             __ATOMIC_RELAXED);
            writes++;
            usleep(1000);
            continue;
        }
        switch (v % 16) {
        case 0: /* a word: a plausible size, offset, owner or count */
            off &= ~UINT64_C(3);
            if (off + 4 <= a->size)
                memcpy(a->base + off, &(uint32_t){(uint32_t)(v >> 40) % 4096},
                       4);
            break;
        case 1: /* a wild 64-bit value */
            off &= ~UINT64_C(7);
            if (off + 8 <= a->size)
                memcpy(a->base + off, &v, 8);
            break;
        default:
            a->base[off] = (uint8_t)(v >> 32);
            break;
        }
        writes++;
        usleep(1000);
    }
    printf(",\"writes\":%lu}\n", writes);
    /* a clean close: the broker does not treat this writer's locks (it
     * holds none) as a crash */
    sharena_arena_close(a);
    sharena_disconnect(c);
    return 0;
}
