/* hostile_heap.c: a peer with write access flips one class of allocator or
 * handle-table field between a valid and a hostile value, as fast as it can,
 * while other processes allocate, free, create and drop objects, take over a
 * dead owner's arena lock (sharena__arena_recover_locked: alloc_rebuild, the
 * slot FIFO rebuild, the sweep), open the arena afresh and run fsck. Every
 * process runs under an alarm() watchdog, so a hang is a SIGALRM; every
 * result must be 0 or a known error code; afterwards fsck --repair leaves an
 * arena in which objects can be made and read again.
 *
 * Before the read-once work (docs/security.md) block_size failed: a size
 * flipped after alloc_rebuild's first pass sent the second pass into the
 * zeros of a payload, where it spun for ever (workers and the lock taker
 * killed by the watchdog's SIGALRM). */
#include "internal.h"
#include "sharena.h"
#include "../support/test_util.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CAPACITY (UINT64_C(1) << 20)
#define FLIP_S 1.5    /* how long the flipper flips */
#define HOLD_S 0.3    /* then it holds its last hostile value this long */
#define WATCHDOG_S 60 /* alarm() of every process: a hang is a signal */
#define NSTR 48

/* What the processes share (set up by the parent before it forks). */
static struct {
    sharena_arena *a;
    sharena_id map;
    uint64_t bytes_block; /* block offset of a 16 KiB zero-filled object */
    unsigned fl, sl;      /* a size class with several free blocks */
} g;

static void bad_rc(int r, const char *what)
{
    if (r > 0 || (r < 0 && !strcmp(sharena_errname(r), "EUNKNOWN"))) {
        fprintf(stderr, "%s returned %d\n", what, r);
        _exit(3);
    }
}

/* ---- the processes that use the arena ---------------------------------- */

static void worker(unsigned seed, double until)
{
    sharena_arena *a = g.a;
    srand(seed);
    char buf[256];
    while (test_now_s() < until) {
        sharena_id x, y;
        double d = rand() % 1000, got;
        int r = sharena_number_new(a, d, &x);
        bad_rc(r, "number_new");
        if (r == 0) {
            bad_rc(sharena_number_get(a, x, &got), "number_get");
            bad_rc(sharena_drop(a, x, 0), "drop number");
        }
        size_t n = 1 + (size_t)rand() % 200, len = 0;
        memset(buf, 'a' + rand() % 26, n);
        r = sharena_string_new(a, buf, n, &x);
        bad_rc(r, "string_new");
        if (r == 0) {
            /* (the flipper may have written into this string's block:
             * only the code is checked, not the content) */
            bad_rc(sharena_string_get(a, x, buf, sizeof buf, &len),
                   "string_get");
            bad_rc(sharena_drop(a, x, 0), "drop string");
        }
        r = sharena_bytes_new(a, (uint64_t)(rand() % 4096), &y);
        bad_rc(r, "bytes_new");
        if (r == 0) {
            void *p = NULL;
            size_t sz = 0;
            r = sharena_bytes_ptr(a, y, &p, &sz);
            bad_rc(r, "bytes_ptr");
            if (r == 0 && ((uint8_t *)p < a->base ||
                           (uint8_t *)p + sz > a->base + a->size)) {
                fprintf(stderr, "bytes_ptr: a view past the mapping\n");
                _exit(4);
            }
            bad_rc(sharena_drop(a, y, 0), "drop bytes");
        }
        char k[16];
        int kl = sprintf(k, "k%d", rand() % 64);
        bad_rc(sharena_map_set_number(a, g.map, k, (size_t)kl, d), "map_set");
        bad_rc(sharena_map_get(a, g.map, k, (size_t)kl, &x), "map_get");
        if (rand() % 4 == 0)
            bad_rc(sharena_map_remove(a, g.map, k, (size_t)kl, NULL),
                   "map_remove");
        int t = sharena_type_of(a, (sharena_id)(rand() % 512) |
                                       ((sharena_id)(rand() % 4) << 32));
        if (t > 0 && t >= SHARENA_T__COUNT)
            _exit(4);
        if (t < 0)
            bad_rc(t, "type_of");
    }
}

/* Hand the arena lock over as if its owner died holding it, again and
 * again: every next locker runs the arena-lock recovery (alloc_rebuild,
 * the slot FIFO rebuild and the sweep) on whatever the flipper left. */
static void taker(unsigned seed, double until)
{
    sharena_arena *a = g.a;
    uint32_t *w = &sharena__hdr(a)->arena_lock;
    srand(seed);
    while (test_now_s() < until) {
        uint32_t zero = 0;
        __atomic_compare_exchange_n(
            w, &zero, SHARENA__LOCK_DIED | SHARENA__LOCK_LOCAL | 1u, false,
            __ATOMIC_RELEASE, __ATOMIC_RELAXED);
        sharena_id x;
        int r = sharena_number_new(a, 1, &x);
        bad_rc(r, "number_new after takeover");
        if (r == 0)
            bad_rc(sharena_drop(a, x, 0), "drop after takeover");
    }
}

/* Open the arena afresh (header checks, a new chunk cache) and use it; and
 * run fsck (check only: it walks every list and the heap). */
static void opener(unsigned seed, double until)
{
    srand(seed);
    setenv("SHARENA_FSCK_WAIT_MS", "200", 1);
    while (test_now_s() < until) {
        sharena_arena *b;
        int r = sharena_arena_from_fd(g.a->fd, 0, &b);
        bad_rc(r, "arena_from_fd");
        if (r == 0) {
            sharena_id x;
            bad_rc(sharena_map_get(b, g.map, "k1", 2, &x), "map_get (fresh)");
            sharena_arena_info info;
            bad_rc(sharena_arena_info_get(b, &info), "info");
            sharena_arena_close(b);
        }
        sharena_fsck_report rep;
        bad_rc(sharena_fsck(g.a, 0, NULL, NULL, &rep), "fsck");
    }
}

/* ---- the flipper ----------------------------------------------------------
 * flip(i) stores the valid value for even i and a hostile one for odd i;
 * flip(-1) restores the valid value at the end. */
typedef void (*flip_fn)(long i);

static pid_t spawn(void (*fn)(unsigned, double), unsigned seed, double until)
{
    pid_t p = fork();
    cr_assert(p >= 0);
    if (p == 0) {
        alarm(WATCHDOG_S);
        fn(seed, until);
        _exit(0);
    }
    return p;
}

static void run(flip_fn flip)
{
    double start = test_now_s();
    double flip_end = start + FLIP_S, end = flip_end + HOLD_S + 0.3;
    pid_t kids[5];
    kids[0] = spawn(worker, 1, end);
    kids[1] = spawn(worker, 2, end);
    kids[2] = spawn(taker, 3, end);
    kids[3] = spawn(opener, 4, end);
    kids[4] = fork();
    cr_assert(kids[4] >= 0);
    if (kids[4] == 0) {
        alarm(WATCHDOG_S);
        long i = 0;
        while (test_now_s() < flip_end)
            for (int j = 0; j < 64; j++)
                flip(i++);
        flip(1); /* hold a hostile value while the others go on */
        while (test_now_s() < flip_end + HOLD_S)
            usleep(1000);
        flip(-1);
        _exit(0);
    }
    const char *names[] = {"worker", "worker", "taker", "opener", "flipper"};
    for (int i = 0; i < 5; i++) {
        int st;
        cr_assert_eq(waitpid(kids[i], &st, 0), kids[i]);
        cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: %s %d", names[i],
                  WIFSIGNALED(st) ? "killed by signal" : "exit status",
                  WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    }
    /* the arena is usable again after a repair */
    setenv("SHARENA_FSCK_WAIT_MS", "1000", 1);
    sharena_fsck_report rep;
    (void)sharena_fsck(g.a, SHARENA_FSCK_REPAIR, NULL, NULL, &rep);
    sharena_id x;
    double d = 0;
    cr_expect_eq(sharena_number_new(g.a, 42, &x), 0);
    cr_expect_eq(sharena_number_get(g.a, x, &d), 0);
    cr_expect_eq(d, 42);
    cr_expect_eq(sharena_fsck(g.a, 0, NULL, NULL, &rep), 0,
                 "%lu errors after repair", (unsigned long)rep.errors);
}

static int find_bytes(void *ctx, uint64_t off, uint64_t size, bool free,
                      uint32_t tag)
{
    (void)tag;
    if (!free && size >= 16384)
        *(uint64_t *)ctx = off - 16;
    return 0;
}

static void setup(void)
{
    cr_assert_eq(sharena_arena_create("hostile-heap", CAPACITY, &g.a), 0);
    sharena_arena *a = g.a;
    cr_assert_eq(sharena_map_new(a, &g.map), 0);
    for (int i = 0; i < 64; i++) {
        char k[16];
        int kl = sprintf(k, "k%d", i);
        cr_assert_eq(sharena_map_set_number(a, g.map, k, (size_t)kl, i), 0);
    }
    sharena_id b;
    cr_assert_eq(sharena_bytes_new(a, 16384, &b), 0);
    g.bytes_block = 0;
    cr_assert_eq(sharena__heap_walk(a, find_bytes, &g.bytes_block), 0);
    cr_assert(g.bytes_block);
    /* strings of one size class, every other one dropped: a free list of
     * several blocks */
    sharena_id s[NSTR];
    char buf[100];
    memset(buf, 'x', sizeof buf);
    for (int i = 0; i < NSTR; i++)
        cr_assert_eq(sharena_string_new(a, buf, sizeof buf, &s[i]), 0);
    for (int i = 0; i < NSTR; i += 2)
        cr_assert_eq(sharena_drop(a, s[i], 0), 0);
    const struct sharena__header *h = sharena__hdr(a);
    g.fl = g.sl = 0;
    for (unsigned fl = 0; fl < 2 && !g.fl && !g.sl; fl++)
        for (unsigned sl = 0; sl < SHARENA__SL_COUNT; sl++) {
            uint64_t b0 = h->free_heads[fl][sl];
            if (b0 && *(uint64_t *)(a->base + b0 + 16)) {
                g.fl = fl;
                g.sl = sl;
                break;
            }
        }
    cr_assert(g.fl || g.sl, "no free list with two blocks");
    cr_assert_eq(sharena_fsck(a, 0, NULL, NULL, NULL), 0);
}

static void teardown(void)
{
    sharena_arena_close(g.a);
}

#define ST64(p, v)                                                             \
    __atomic_store_n((uint64_t *)(p), (uint64_t)(v), __ATOMIC_RELAXED)
#define LD64(p) __atomic_load_n((uint64_t *)(p), __ATOMIC_RELAXED)

static uint8_t *at(uint64_t off)
{
    return g.a->base + off;
}

/* ---- block sizes: 0, past the heap, a size that ends inside the block's
 * own zero-filled payload, a too-small one marked free ------------------- */
static uint64_t size_good;
static void flip_size(long i)
{
    uint64_t *sf = (uint64_t *)at(g.bytes_block);
    uint64_t keep = size_good & ~SHARENA__BLOCK_SIZE_MASK & ~UINT64_C(15);
    static const uint64_t hostile[] = {48, 0, UINT64_C(1) << 40, 0x10 | 1};
    if (i < 0 || !(i & 1))
        ST64(sf, size_good);
    else
        ST64(sf, keep | hostile[(i / 2) % 4]);
}
Test(hostile_heap, block_size, .init = setup, .fini = teardown, .timeout = 120)
{
    size_good = LD64(at(g.bytes_block));
    run(flip_size);
}

/* ---- free lists: the head's successor points back to the head, the head
 * to itself, a link to the middle of a block ------------------------------ */
static void flip_links(long i)
{
    struct sharena__header *h = sharena__hdr(g.a);
    static uint64_t saved_at, saved;
    if (saved_at) {
        ST64(at(saved_at), saved); /* undo the last hostile store */
        saved_at = 0;
    }
    if (i < 0 || !(i & 1))
        return;
    uint64_t b0 = LD64(&h->free_heads[g.fl][g.sl]);
    if (!b0 || b0 >= g.a->size - 64)
        return;
    uint64_t b1 = LD64(at(b0 + 16));
    uint64_t target = b0 + 16, val = b0; /* head -> head */
    switch ((i / 2) % 3) {
    case 1:
        if (b1 && b1 < g.a->size - 64 && !(b1 & 15)) {
            target = b1 + 16; /* head -> next -> head */
            val = b0;
        }
        break;
    case 2:
        val = b0 + 8; /* misaligned */
        break;
    }
    saved_at = target;
    saved = LD64(at(target));
    ST64(at(target), val);
}
Test(hostile_heap, free_list_cycle, .init = setup, .fini = teardown,
     .timeout = 120)
{
    run(flip_links);
}

/* ---- prev_phys: blocks that follow a free block claim another, a
 * misaligned, an out-of-heap and their own offset as previous ------------- */
static uint64_t prev_targets[64];
static unsigned nprev;
static int find_after_free(void *ctx, uint64_t off, uint64_t size, bool free,
                           uint32_t tag)
{
    (void)size;
    (void)tag;
    bool *was_free = ctx;
    if (!free && *was_free && nprev < 64)
        prev_targets[nprev++] = off - 16;
    *was_free = free;
    return 0;
}
static void flip_prev(long i)
{
    static uint64_t saved_at, saved;
    if (saved_at) {
        ST64(at(saved_at + 8), saved);
        saved_at = 0;
    }
    if (i < 0 || !(i & 1) || !nprev)
        return;
    uint64_t b = prev_targets[(i / 8) % nprev];
    uint64_t old = LD64(at(b + 8));
    uint64_t tag = old & ~SHARENA__BLOCK_OFF_MASK;
    static const uint64_t hostile[] = {16, 8, UINT64_C(1) << 42, 0};
    uint64_t v = hostile[(i / 2) % 4];
    if (v == 0)
        v = b; /* itself */
    if (v == 16)
        v = g.bytes_block;
    saved_at = b;
    saved = old;
    ST64(at(b + 8), tag | (v & SHARENA__BLOCK_OFF_MASK) | (v & 8));
}
Test(hostile_heap, prev_phys_lies, .init = setup, .fini = teardown,
     .timeout = 120)
{
    bool was_free = false;
    nprev = 0;
    cr_assert_eq(sharena__heap_walk(g.a, find_after_free, &was_free), 0);
    cr_assert(nprev > 0);
    run(flip_prev);
}

/* ---- TLSF bitmaps: every bit set (lists that are empty), bits past both
 * levels' counts, none --------------------------------------------------- */
static void flip_bitmaps(long i)
{
    struct sharena__header *h = sharena__hdr(g.a);
    static uint64_t fl_saved;
    static uint32_t sl_saved[SHARENA__FL_COUNT];
    static bool dirty;
    if (dirty) {
        __atomic_store_n(&h->fl_bitmap, fl_saved, __ATOMIC_RELAXED);
        for (unsigned k = 0; k < SHARENA__FL_COUNT; k++)
            __atomic_store_n(&h->sl_bitmap[k], sl_saved[k], __ATOMIC_RELAXED);
        dirty = false;
    }
    if (i < 0 || !(i & 1))
        return;
    fl_saved = __atomic_load_n(&h->fl_bitmap, __ATOMIC_RELAXED);
    for (unsigned k = 0; k < SHARENA__FL_COUNT; k++)
        sl_saved[k] = __atomic_load_n(&h->sl_bitmap[k], __ATOMIC_RELAXED);
    dirty = true;
    uint64_t fv = (i / 2) % 3 == 0   ? ~UINT64_C(0)
                  : (i / 2) % 3 == 1 ? 0
                                     : fl_saved | (UINT64_C(1) << 63);
    __atomic_store_n(&h->fl_bitmap, fv, __ATOMIC_RELAXED);
    for (unsigned k = 0; k < SHARENA__FL_COUNT; k++)
        __atomic_store_n(&h->sl_bitmap[k], (i / 2) % 3 == 1 ? 0 : 0xffffffffu,
                         __ATOMIC_RELAXED);
}
Test(hostile_heap, bitmap_bits_without_lists, .init = setup, .fini = teardown,
     .timeout = 120)
{
    run(flip_bitmaps);
}

/* ---- the free-slot FIFO: a head that is a live slot, a head whose link
 * is itself, a head far past the table ----------------------------------- */
static void flip_fifo(long i)
{
    struct sharena__header *h = sharena__hdr(g.a);
    static uint64_t saved_head, saved_word, word_slot;
    static bool dirty;
    if (dirty) {
        ST64(&h->slot_free_head, saved_head);
        if (word_slot) {
            struct sharena__slot *s = sharena__slot_at(g.a, word_slot);
            if (s)
                ST64(&s->word, saved_word);
        }
        dirty = false;
        word_slot = 0;
    }
    if (i < 0 || !(i & 1))
        return;
    saved_head = LD64(&h->slot_free_head);
    dirty = true;
    switch ((i / 2) % 4) {
    case 0:
        ST64(&h->slot_free_head, sharena__id_slot(g.map)); /* live */
        break;
    case 1: {
        struct sharena__slot *s = saved_head && saved_head < 256
                                      ? sharena__slot_at(g.a, saved_head)
                                      : NULL;
        if (s) { /* head -> head */
            word_slot = saved_head;
            saved_word = LD64(&s->word);
            ST64(&s->word, saved_head);
        }
        break;
    }
    case 2:
        ST64(&h->slot_free_head, UINT64_C(1) << 40);
        break;
    case 3:
        ST64(&h->slot_free_head, UINT32_MAX);
        break;
    }
}
Test(hostile_heap, slot_fifo_cycle, .init = setup, .fini = teardown,
     .timeout = 120)
{
    run(flip_fifo);
}

/* ---- slot_count: huge, zero, below the slots in use --------------------- */
static void flip_slot_count(long i)
{
    struct sharena__header *h = sharena__hdr(g.a);
    static uint64_t saved;
    static bool dirty;
    if (dirty) {
        ST64(&h->slot_count, saved);
        dirty = false;
    }
    if (i < 0 || !(i & 1))
        return;
    saved = LD64(&h->slot_count);
    dirty = true;
    static const uint64_t hostile[] = {~UINT64_C(0), UINT64_C(1) << 40, 0, 2,
                                       UINT32_MAX - 1};
    ST64(&h->slot_count, hostile[(i / 2) % 5]);
}
Test(hostile_heap, slot_count_huge, .init = setup, .fini = teardown,
     .timeout = 120)
{
    run(flip_slot_count);
}

/* ---- handle-table chunk offsets: past the heap, misaligned, zero, another
 * object's block; each change under a new layout epoch, so every handle
 * drops its cached chunks and loads the offset again ---------------------- */
static void flip_chunks(long i)
{
    struct sharena__header *h = sharena__hdr(g.a);
    static uint64_t good;
    if (!good)
        good = LD64(&h->slot_chunks[0]);
    static const uint64_t hostile[] = {CAPACITY + 4096, 8, 0, 1};
    uint64_t v = hostile[(i / 2) % 4];
    if (v == 8)
        v = good + 8;
    if (v == 1)
        v = g.bytes_block + 16;
    ST64(&h->slot_chunks[0], i < 0 || !(i & 1) ? good : v);
    __atomic_add_fetch(&h->layout_epoch, 1, __ATOMIC_RELEASE);
}
Test(hostile_heap, chunk_offsets_out_of_range, .init = setup, .fini = teardown,
     .timeout = 120)
{
    run(flip_chunks);
}

/* ---- header fields read at open and by the allocator and fsck ------------ */
static void flip_header(long i)
{
    struct sharena__header *h = sharena__hdr(g.a);
    enum { N = 9 };
    static uint64_t saved[N];
    static bool init;
    /* (format_version and header_size flip together as one word) */
    uint64_t *f[N] = {&h->heap_start,
                      &h->heap_end,
                      &h->capacity,
                      &h->hash_seed,
                      &h->used_bytes,
                      &h->live_objects,
                      &h->roots_id,
                      (uint64_t *)&h->name[128],
                      (uint64_t *)&h->format_version};
    if (!init) {
        for (int k = 0; k < N; k++)
            saved[k] = LD64(f[k]);
        init = true;
    }
    for (int k = 0; k < N; k++)
        ST64(f[k], saved[k]);
    if (i < 0 || !(i & 1))
        return;
    int k = (int)((i / 2) % N);
    static const uint64_t hostile[] = {0, 8, ~UINT64_C(0), UINT64_C(1) << 40};
    uint64_t v = hostile[(i / (2 * N)) % 4];
    if (k == 7)
        v = UINT64_C(0x4141414141414141); /* an unterminated name */
    ST64(f[k], v);
}
Test(hostile_heap, header_fields, .init = setup, .fini = teardown,
     .timeout = 120)
{
    run(flip_header);
}

/* ---- the arena lock word and the live broker slots: owners that are a
 * broker slot past the table, a dead pid, a live pid that does not map the
 * arena, owner-died marks; the slot bitmap all set and all clear. (Taking
 * the lock word away from an honest holder also breaks mutual exclusion
 * between honest processes: the allocator's checks must hold then too.) */
static void flip_lock_words(long i)
{
    struct sharena__header *h = sharena__hdr(g.a);
    static uint32_t hostile_set;
    static uint32_t saved;
    if (hostile_set) {
        uint32_t exp = hostile_set;
        __atomic_compare_exchange_n(&h->arena_lock, &exp, saved, false,
                                    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
        hostile_set = 0;
    }
    uint64_t bits = (i / 2) % 2 ? ~UINT64_C(0) : 0;
    for (unsigned k = 0; k < 4; k++)
        __atomic_store_n(&h->live_slots[k * 255], bits, __ATOMIC_RELAXED);
    if (i < 0 || !(i & 1))
        return;
    static const uint32_t hostile[] = {
        0x3ffffff0u,                       /* a slot past 65535 */
        SHARENA__LOCK_LOCAL | 0x1ffffff0u, /* no such pid */
        SHARENA__LOCK_LOCAL | 1u,          /* init: no mapping */
        SHARENA__LOCK_DIED | SHARENA__LOCK_WAITERS | 7u,
        SHARENA__LOCK_WAITERS | 64u, /* a slot, maybe live */
    };
    uint32_t v = hostile[(i / 2) % 5];
    saved = __atomic_exchange_n(&h->arena_lock, v, __ATOMIC_ACQ_REL);
    hostile_set = v;
}
Test(hostile_heap, lock_words, .init = setup, .fini = teardown, .timeout = 120)
{
    __atomic_store_n(&sharena__hdr(g.a)->slots_managed, 1, __ATOMIC_RELEASE);
    run(flip_lock_words);
}
