/* hostile.c: a client with write access scribbles random bytes over random
 * parts of a live arena (header, handle table, allocator, maps, strings)
 * while other processes read and write it. Those get errors or stale data,
 * never a signal or a hang (each runs under an alarm() watchdog); afterwards
 * fsck reports the damage, fsck --repair leaves an arena that checks clean,
 * and objects can be created, written and read again. */
#include "internal.h"
#include "sharena.h"
#include "../support/test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEYS 200

static void populate(sharena_arena *a, sharena_id *m, sharena_id *v,
                     sharena_id *s)
{
    cr_assert_eq(sharena_root_ensure(a, "map", SHARENA_T_MAP, 0, m, NULL), 0);
    cr_assert_eq(sharena_root_ensure(a, "vec", SHARENA_T_VECTOR, 0, v, NULL),
                 0);
    cr_assert_eq(sharena_root_ensure(a, "str", SHARENA_T_STRING, 0, s, NULL),
                 0);
    for (int i = 0; i < KEYS; i++) {
        char k[16];
        int n = sprintf(k, "key%d", i);
        cr_assert_eq(sharena_map_set_string(a, *m, k, (size_t)n, "value", 5),
                     0);
        sharena_id x;
        cr_assert_eq(sharena_number_new(a, i, &x), 0);
        cr_assert_eq(sharena_vector_push(a, *v, x, SHARENA_OWNED), 0);
    }
}

/* Reader or writer: loops until @p until, every result allowed but a
 * signal. */
static void worker(sharena_arena *a, sharena_id m, sharena_id v, sharena_id s,
                   bool write, double until, unsigned seed)
{
    alarm(60); /* a hang kills us with SIGALRM: the test sees a signal */
    srand(seed);
    char buf[256];
    size_t len;
    while (test_now_s() < until) {
        char k[16];
        int n = sprintf(k, "key%d", rand() % KEYS);
        sharena_id x = 0, y;
        uint64_t cur = 0, l;
        double d;
        bool owned;
        sharena_map_get(a, m, k, (size_t)n, &x);
        sharena_string_get(a, x, buf, sizeof buf, &len);
        sharena_vector_len(a, v, &l);
        if (sharena_vector_get(a, v, (uint64_t)rand() % KEYS, &y, &owned) == 0)
            sharena_number_get(a, y, &d);
        sharena_map_next(a, m, &cur, buf, sizeof buf, &len, &y, &owned);
        sharena_string_get(a, s, buf, sizeof buf, &len);
        sharena_type_of(a, (sharena_id)rand());
        sharena_root_get(a, "map", &y);
        if (write) {
            sharena_map_set_number(a, m, k, (size_t)n, rand());
            sharena_string_set(a, s, k, (size_t)n);
            if (sharena_number_new(a, 1, &y) == 0 &&
                sharena_vector_push(a, v, y, SHARENA_OWNED) < 0)
                sharena_drop(a, y, 0);
            if (sharena_vector_pop(a, v, &y) == 0)
                sharena_drop(a, y, 0);
            sharena_map_remove(a, m, "temp", 4, NULL);
            sharena_map_set_string(a, m, "temp", 4, "t", 1);
        }
    }
    _exit(0);
}

static void scribbler(sharena_arena *a, double until, unsigned seed)
{
    alarm(60);
    srand(seed);
    struct sharena__header *h = sharena__hdr(a);
    uint64_t used_end = a->heap_start + 512 * 1024; /* where objects live */
    while (test_now_s() < until) {
        uint64_t off;
        switch (rand() % 4) {
        case 0: /* header: counters, allocator, chunk table, locks */
            off = 200 + (uint64_t)rand() % (SHARENA__HDR_SIZE - 200);
            break;
        default: /* heap: slots, blocks, tables, strings */
            off = a->heap_start + (uint64_t)rand() % (used_end - a->heap_start);
            break;
        }
        a->base[off] = (uint8_t)rand();
        (void)h;
        usleep(200);
    }
    _exit(0);
}

static void fsck_line(void *ctx, const char *p)
{
    (*(int *)ctx)++;
    (void)p;
}

static void after_line(void *ctx, const char *p)
{
    if ((*(int *)ctx)++ < 10)
        fprintf(stderr, "  still: %s\n", p);
}

Test(hostile, scribbler_never_crashes_others, .timeout = 120)
{
    for (unsigned round = 0; round < 3; round++) {
        sharena_arena *a;
        cr_assert_eq(sharena_arena_create("hostile", 16u << 20, &a), 0);
        sharena_id m, v, s;
        populate(a, &m, &v, &s);
        double until = test_now_s() + 3;
        pid_t pids[4];
        for (int i = 0; i < 3; i++) {
            pids[i] = fork();
            if (pids[i] == 0)
                worker(a, m, v, s, i == 2, until, round * 10 + (unsigned)i);
        }
        pids[3] = fork();
        if (pids[3] == 0)
            scribbler(a, until, round);
        for (int i = 0; i < 4; i++) {
            int st;
            cr_assert_eq(waitpid(pids[i], &st, 0), pids[i]);
            cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                      "round %u process %d ended by %s %d", round, i,
                      WIFSIGNALED(st) ? "signal" : "status",
                      WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
        }
        /* fsck (in a child with a watchdog: it must answer) */
        pid_t f = fork();
        if (f == 0) {
            alarm(30);
            int problems = 0;
            sharena_fsck_report rep;
            sharena_fsck(a, 0, fsck_line, &problems, &rep);
            int r = sharena_fsck(a,
                                 SHARENA_FSCK_REPAIR | SHARENA_FSCK_BREAK_LOCKS,
                                 NULL, NULL, &rep);
            int left = 0;
            int again = sharena_fsck(a, 0, after_line, &left, &rep);
            fprintf(stderr, "after repair: %s, %d problems\n",
                    sharena_errname(again), left);
            /* a usable arena: new objects can be made, written and read */
            sharena_id nm, x;
            double d = 0;
            int u = sharena_map_new(a, &nm);
            if (u == 0)
                u = sharena_map_set_number(a, nm, "fresh", 5, 42);
            if (u == 0)
                u = sharena_map_get(a, nm, "fresh", 5, &x);
            if (u == 0)
                u = sharena_number_get(a, x, &d);
            fprintf(stderr,
                    "hostile round %u: %d problems found, repair %s, fresh "
                    "objects %s\n",
                    round, problems, sharena_errname(r), sharena_errname(u));
            _exit(r == 0 && again == 0 && u == 0 && d == 42 ? 0 : 1);
        }
        int st;
        cr_assert_eq(waitpid(f, &st, 0), f);
        cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "round %u: fsck/repair/fresh use: %s %d", round,
                  WIFSIGNALED(st) ? "signal" : "status",
                  WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
        sharena_arena_close(a);
    }
}

/* fsck --repair in one process gives up a handle-table chunk whose header
 * offset was scribbled; later allocations put a new chunk there. Another
 * process that had cached the old chunk must follow the header, not read
 * and write slots in memory that is now someone else's (the broker is
 * such a long-lived process: it scans slots when clients leave). Two
 * handles on one memfd stand for the two processes. */
Test(hostile, repair_elsewhere_refreshes_cached_chunks)
{
    sharena_arena *a, *b;
    cr_assert_eq(sharena_arena_create("chunks", 4u << 20, &a), 0);
    enum { OLD = 900 };
    static sharena_id ids[OLD];
    for (int i = 0; i < OLD; i++)
        cr_assert_eq(sharena_number_new(a, i, &ids[i]), 0);
    double d;
    cr_assert_eq(sharena_number_get(a, ids[OLD - 1], &d),
                 0); /* caches chunk 2 */
    cr_assert_eq(d, OLD - 1);
    cr_assert_eq(sharena_arena_from_fd(sharena_arena_fd(a), 0, &b), 0);

    /* the scribble: chunk 2 named inside chunk 1 */
    struct sharena__header *h = sharena__hdr(b);
    h->slot_chunks[2] = h->slot_chunks[1] + 64;
    cr_assert_eq(sharena_fsck(b, SHARENA_FSCK_REPAIR, NULL, NULL, NULL), 0);
    cr_assert_eq(sharena_fsck(b, 0, NULL, NULL, NULL), 0);
    /* the objects of chunk 2 are lost: the other handle, which had cached
     * chunk 2, must not reach them (its old block is free heap now) */
    cr_assert_eq(sharena_number_get(a, ids[OLD - 1], &d), SHARENA_ENOENT);
    cr_assert_eq(sharena_number_set(a, ids[OLD - 1], 5), SHARENA_ENOENT);
    cr_assert_eq(sharena_number_get(a, ids[0], &d), 0);
    cr_assert_eq(d, 0);
    enum { NEW = 300 };
    static sharena_id fresh[NEW];
    for (int i = 0; i < NEW; i++)
        cr_assert_eq(sharena_number_new(b, 1000 + i, &fresh[i]), 0);
    cr_assert_neq(h->slot_chunks[2], 0);

    /* the other handle sees what the header says */
    for (int i = 0; i < NEW; i++) {
        cr_assert_eq(sharena_number_get(a, fresh[i], &d), 0, "fresh %d", i);
        cr_assert_eq(d, 1000 + i);
        cr_assert_eq(sharena_number_set(a, fresh[i], -i), 0);
    }
    for (int i = 0; i < NEW; i++) {
        cr_assert_eq(sharena_number_get(b, fresh[i], &d), 0);
        cr_assert_eq(d, -i);
    }
    cr_assert_eq(sharena_fsck(a, 0, NULL, NULL, NULL), 0);
    cr_assert_eq(sharena_fsck(b, 0, NULL, NULL, NULL), 0);
    sharena_arena_close(b);
    sharena_arena_close(a);
}

/* A map count scribbled past its table's capacity is corruption, not a
 * length: bindings that turn lengths into signed sizes (Python's len())
 * would otherwise see -1 and fail without an exception. */
Test(hostile, scribbled_map_count_is_corrupt)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("count", 1u << 20, &a), 0);
    sharena_id m;
    cr_assert_eq(sharena_map_new(a, &m), 0);
    cr_assert_eq(sharena_map_set_number(a, m, "k", 1, 1), 0);
    uint64_t n;
    cr_assert_eq(sharena_map_len(a, m, &n), 0);
    cr_assert_eq(n, 1);
    struct sharena__slot *s = sharena__slot_at(a, sharena__id_slot(m));
    struct sharena__map *mp = (void *)(a->base + s->word);
    mp->count = UINT64_MAX;
    cr_assert_eq(sharena_map_len(a, m, &n), SHARENA_ECORRUPT);
    cr_assert_eq(sharena_fsck(a, SHARENA_FSCK_REPAIR, NULL, NULL, NULL), 0);
    cr_assert_eq(sharena_map_len(a, m, &n), 0);
    cr_assert_eq(n, 1);
    sharena_arena_close(a);
}

/* A map value scribbled to id 0 is corruption: no API call hands out id 0
 * as a value (the bindings refuse it as an id); so are a boolean stored in
 * a map entry that is neither 0 nor 1, and a string stored there that
 * claims more than the entry's room. A vector item so scribbled is a
 * number (see below). */
Test(hostile, scribbled_zero_value_is_corrupt)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("zero", 1u << 20, &a), 0);
    sharena_id m, v, x, got;
    cr_assert_eq(sharena_map_new(a, &m), 0);
    cr_assert_eq(sharena_vector_new(a, &v), 0);
    cr_assert_eq(sharena_number_new(a, 1, &x), 0);
    cr_assert_eq(sharena_map_set(a, m, "k", 1, x, SHARENA_OWNED, NULL), 0);
    cr_assert_eq(sharena_map_set_bool(a, m, "b", 1, true), 0);
    cr_assert_eq(sharena_map_set_string(a, m, "s", 1, "short", 5), 0);
    cr_assert_eq(sharena_number_new(a, 2, &x), 0);
    cr_assert_eq(sharena_vector_push(a, v, x, SHARENA_OWNED), 0);
    struct sharena__slot *ms = sharena__slot_at(a, sharena__id_slot(m));
    struct sharena__map *mp = (void *)(a->base + ms->word);
    struct sharena__map_entry *me = (void *)((uint8_t *)mp +
                                             SHARENA__MAP_ENTRIES(mp->cap));
    cr_assert_eq(mp->count, 3);
    me[0].value.w[0] &= ~SHARENA__REF_ID_MASK;  /* a ref to id 0 */
    me[1].value.w[0] = 2;                       /* a boolean that is 2 */
    me[2].vlen = SHARENA__VALUE_INLINE_MAX + 1; /* a string past its room */
    sharena_value val;
    char buf[64];
    const char *keys[] = {"b", "s"};
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(
            sharena_map_get_value(a, m, keys[i], 1, buf, sizeof buf, &val),
            SHARENA_ECORRUPT, "%s", keys[i]);
        cr_assert_eq(sharena_map_get(a, m, keys[i], 1, &got), SHARENA_ECORRUPT,
                     "%s", keys[i]);
    }
    struct sharena__slot *vs = sharena__slot_at(a, sharena__id_slot(v));
    struct sharena__vector *vp = (void *)(a->base + vs->word);
    vp->items[0] &= ~SHARENA__REF_ID_MASK;
    cr_assert_eq(sharena_map_get(a, m, "k", 1, &got), SHARENA_ECORRUPT);
    /* Format 4: a vector item with its id bits cleared is no longer
     * corrupt: every word that is not a ref is a number in place, and
     * OWNED | id 0 is the number -0.0. No vector item word is corrupt; the
     * vector reads that number (the object it named is unreachable now,
     * a leak, not damage). */
    cr_assert_eq(sharena_vector_get_value(a, v, 0, NULL, 0, &val), 0);
    cr_assert_eq(val.type, SHARENA_T_NUMBER);
    cr_assert_eq(val.id, 0);
    cr_assert(val.number == 0 && signbit(val.number));
    double d = 1;
    cr_assert_eq(sharena_vector_read_numbers(a, v, 0, &d, 1), 0);
    cr_assert(d == 0 && signbit(d));
    cr_assert_eq(sharena_vector_get(a, v, 0, &got, NULL), 0);
    cr_assert_neq(got, x);
    cr_assert_eq(sharena_number_get(a, got, &d), 0);
    cr_assert(d == 0 && signbit(d));
    sharena_arena_close(a);
}

/* A lock word scribbled to name a live process that maps the arena, over
 * an odd sequence counter, looks like a writer stopped mid-write: readers
 * of a read-write mapping give up with SHARENA_EBUSY after their back-off
 * instead of sleeping on the lock for as long as that process lives. */
Test(hostile, reader_never_sleeps_on_a_live_owners_lock, .timeout = 30)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("hostile", 0, &a), 0);
    sharena_id m, v, s;
    populate(a, &m, &v, &s);
    pid_t live = fork(); /* maps the arena; never touches it */
    if (live == 0) {
        pause();
        _exit(0);
    }
    struct sharena__slot *sl = sharena__slot_at(a, sharena__id_slot(m));
    __atomic_store_n(&sl->lock, SHARENA__LOCK_LOCAL | (uint32_t)live,
                     __ATOMIC_RELEASE);
    __atomic_store_n(&sl->seq, sl->seq | 1, __ATOMIC_RELEASE);
    uint64_t n = 0;
    sharena_id x;
    cr_expect_eq(sharena_map_len(a, m, &n), SHARENA_EBUSY);
    cr_expect_eq(sharena_map_get(a, m, "key1", 4, &x), SHARENA_EBUSY);
    /* other objects are not affected */
    cr_expect_eq(sharena_vector_len(a, v, &n), 0);
    cr_expect_eq(n, KEYS);
    kill(live, SIGKILL);
    waitpid(live, NULL, 0);
    /* its owner gone, the next reader takes the lock over and repairs */
    cr_expect_eq(sharena_map_len(a, m, &n), 0);
    cr_expect_eq(n, KEYS);
    sharena_arena_close(a);
}

/* A writer dies mid-write (its lock held, the object's counter odd) while a
 * block header elsewhere in the heap is damaged, so the repair's sweep for
 * the blocks that writer left unlinked cannot walk the heap. The object
 * itself is whole: the repair finishes and readers get its value (the
 * damaged heap is fsck's to mend). Before, the failed sweep failed the
 * repair and every read of the object waited out its retry rules and
 * ended in SHARENA_EBUSY, for as long as the heap stayed damaged (issue
 * 13's adversary saw the waits as hangs in its 'alloc' round). */
Test(hostile, a_damaged_heap_does_not_keep_a_dead_writers_object_unreadable,
     .timeout = 60)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("sweep", 1u << 20, &a), 0);
    sharena_id n, m, b;
    cr_assert_eq(sharena_number_new(a, 42, &n), 0);
    cr_assert_eq(sharena_map_new(a, &m), 0);
    cr_assert_eq(sharena_map_set_number(a, m, "k", 1, 7), 0);
    cr_assert_eq(sharena_bytes_new(a, 4096, &b), 0);
    struct sharena__slot *bs = sharena__slot_at(a, sharena__id_slot(b));
    struct sharena__block *bh = (void *)(a->base + bs->word - 16);
    pid_t c = fork();
    if (c == 0) {
        /* dies holding both locks, mid-write */
        struct sharena__slot *ns = sharena__slot_at(a, sharena__id_slot(n));
        struct sharena__slot *ms = sharena__slot_at(a, sharena__id_slot(m));
        if (sharena_lock(a, n) || sharena_lock(a, m))
            _exit(2);
        __atomic_store_n(&ns->seq, ns->seq | 1, __ATOMIC_RELEASE);
        __atomic_store_n(&ms->seq, ms->seq | 1, __ATOMIC_RELEASE);
        _exit(0);
    }
    int st;
    cr_assert_eq(waitpid(c, &st, 0), c);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    uint64_t saved = bh->size_flags;
    bh->size_flags = 0; /* a block of size 0: the heap walk stops there */
    double d = 0;
    cr_expect_eq(sharena_number_get(a, n, &d), 0, "read of the number");
    cr_expect_eq(d, 42);
    sharena_value val;
    cr_expect_eq(sharena_map_get_value(a, m, "k", 1, NULL, 0, &val), 0,
                 "read of the map");
    cr_expect_eq(val.number, 7);
    cr_expect_eq(sharena_number_set(a, n, 43), 0);
    bh->size_flags = saved;
    sharena_fsck_report rep;
    cr_expect_eq(sharena_fsck(a, 0, NULL, NULL, &rep), 0);
    cr_expect_eq(rep.locks_held, 0);
    sharena_arena_close(a);
}
