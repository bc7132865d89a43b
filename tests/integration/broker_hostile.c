/* Integration tests: a hostile arena must not hurt the broker. The broker
 * only marks a dead client's lock words (in bounded steps) and repairs
 * nothing itself; a dead client's slot is not reused while lock words may
 * name it; the steady-state filter denies unlink. docs/security.md cites
 * these. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "broker_fixture.h"
#include "internal.h"
#include "proto.h"
#include "sharena.h"
#include "sharena_broker.h"

static struct test_broker B;

static void up(void)
{
    /* room for a 1 TiB arena next to small ones */
    cr_assert_eq(test_broker_start(&B, "--max-capacity", "2T", NULL), 0);
}
static void down(void)
{
    cr_expect_eq(test_broker_stop(&B), 0, "broker exited uncleanly");
}

static sharena_conn *conn(void)
{
    sharena_conn *c;
    int r = sharena_connect(B.socket, &c);
    cr_assert_eq(r, 0, "connect: %s", sharena_strerror(r));
    return c;
}

static sharena_arena *create(sharena_conn *c, const char *name, uint64_t cap)
{
    sharena_open_opts o = {.flags = SHARENA_CREATE, .capacity = cap};
    sharena_arena *a;
    int r = sharena_open(c, name, &o, &a);
    cr_assert_eq(r, 0, "open %s: %s", name, sharena_strerror(r));
    return a;
}

static int wait_child(pid_t pid)
{
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The broker is running (not a zombie) and serves a whole round: a new
 * connection (HELLO), LIST, and OPEN+CLOSE of a healthy arena. */
static void broker_serves(const char *healthy)
{
    cr_assert_eq(waitpid(B.pid, NULL, WNOHANG), 0, "the broker died");
    sharena_conn *c = conn();
    sharena_arena_stat *v;
    size_t n;
    cr_assert_eq(sharena_list(c, &v, &n), 0);
    cr_assert_geq(n, 1);
    free(v);
    sharena_arena *a;
    cr_assert_eq(sharena_open(c, healthy, NULL, &a), 0);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

static bool word_died(const uint32_t *w)
{
    return __atomic_load_n(w, __ATOMIC_ACQUIRE) & SHARENA__LOCK_DIED;
}

TestSuite(broker_hostile, .init = up, .fini = down, .timeout = 120);

/* A client scribbles a map (capacity, count, entries, the arena's hash
 * seed) and the allocator (a block size of 0), holds the map's lock in the
 * middle of a write and the arena lock, and dies. The old broker repaired
 * both in its own process (map_repair on that memory: a crash; the
 * allocator rebuild: an endless loop). Now it marks the two locks and goes
 * on serving; whatever the next locker makes of the arena is its own
 * business. */
Test(broker_hostile, dead_scribbler_leaves_the_broker_serving)
{
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "victim", 1 << 20);
    sharena_arena *ok = create(c, "healthy", 1 << 20);
    sharena_id m;
    cr_assert_eq(sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL), 0);
    for (int i = 0; i < 40; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        cr_assert_eq(sharena_map_set_number(a, m, k, strlen(k), i), 0);
    }
    struct sharena__header *h = sharena__hdr(a);
    struct sharena__slot *s = sharena__slot_at(a, sharena__id_slot(m));
    cr_assert_not_null(s);

    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        sharena_conn *cc;
        sharena_arena *aa;
        if (sharena_connect(B.socket, &cc) ||
            sharena_open(cc, "victim", NULL, &aa) || sharena_lock(aa, m))
            _exit(1);
        struct sharena__header *hh = sharena__hdr(aa);
        uint32_t zero = 0, me = sharena_conn_slot(cc);
        if (!__atomic_compare_exchange_n(&hh->arena_lock, &zero, me, false,
                                         __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            _exit(2);
        struct sharena__slot *ss = sharena__slot_at(aa, sharena__id_slot(m));
        struct sharena__map *mp =
            (struct sharena__map *)((uint8_t *)sharena_arena_base(aa) +
                                    ss->word);
        __atomic_store_n(&ss->seq, ss->seq | 1,
                         __ATOMIC_RELEASE); /* mid-write */
        mp->cap = UINT64_C(1) << 40;
        mp->count = UINT64_C(1) << 39;
        mp->pend_count = UINT64_C(1) << 38;
        mp->pend_hole = ~UINT64_C(0);
        /* index slots naming entries far away, entries with block keys
         * far outside the mapping */
        for (int i = 0; i < 16; i++)
            mp->index[i] = 0x51515151u * (uint32_t)(i + 1);
        struct sharena__map_entry *ents = (void *)((uint8_t *)mp +
                                                   SHARENA__MAP_ENTRIES(8));
        for (int i = 0; i < 8; i++) {
            ents[i].hash = 0x51515151u * (uint32_t)(i + 1);
            ents[i].klen = SHARENA__KEY_BLOCK;
            ents[i].key.off = (UINT64_C(1) << 35) + 16 * (uint64_t)i;
            ents[i].value.w[0] = ~UINT64_C(0);
        }
        hh->hash_seed ^= 0xdeadbeefcafef00dull;
        /* the first block's size: 0 (a rebuild that trusts it never ends) */
        ((struct sharena__block *)((uint8_t *)sharena_arena_base(aa) +
                                   hh->heap_start))
            ->size_flags = 0;
        (void)!write(p[1], "S", 1);
        pause();
        _exit(0);
    }
    char ch;
    cr_assert_eq(read(p[0], &ch, 1), 1);
    kill(pid, SIGKILL);
    cr_assert_eq(wait_child(pid), 128 + SIGKILL);

    /* the broker marks both locks, and keeps serving meanwhile */
    int rounds = 0;
    while (!(word_died(&s->lock) && word_died(&h->arena_lock))) {
        broker_serves("healthy");
        cr_assert_lt(++rounds, 2000, "the locks were never marked");
        usleep(2000);
    }
    broker_serves("healthy");
    cr_assert(s->seq & 1, "the broker repaired nothing (the write is still "
                          "unfinished)");
    cr_assert(word_died(&s->lock), "the map's lock is marked although the "
                                   "block header of its table chunk is not "
                                   "a block any more");

    /* another client takes the map's lock over and deals with what it
     * finds (an error or a repaired map): in a child, since that is the
     * library's business, not what this test is about */
    pid = fork();
    if (pid == 0) {
        alarm(20);
        sharena_conn *cc;
        sharena_arena *aa;
        sharena_id v;
        if (sharena_connect(B.socket, &cc) ||
            sharena_open(cc, "victim", NULL, &aa))
            _exit(1);
        int r1 = sharena_map_get(aa, m, "k1", 2, &v);
        int r2 = sharena_map_set_number(aa, m, "new", 3, 1);
        printf("next locker: map_get %s, map_set %s\n", sharena_strerror(r1),
               sharena_strerror(r2));
        _exit(0);
    }
    int st = wait_child(pid);
    cr_log_info("the next locker of the scribbled map ended with status %d",
                st);
    broker_serves("healthy");
    sharena_arena_close(ok);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

/* The price of repairing nothing in the broker (docs/locking.md): a writer
 * dies in the middle of a write (its object's sequence counter odd); a
 * read-only reader cannot repair, so it gets SHARENA_EBUSY until a
 * read-write client touches the object, and then the value. */
Test(broker_hostile, read_only_reader_waits_for_a_read_write_locker)
{
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "rd", 1 << 20);
    sharena_id m, v;
    cr_assert_eq(sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL), 0);
    cr_assert_eq(sharena_map_set_number(a, m, "k", 1, 5), 0);
    struct sharena__slot *s = sharena__slot_at(a, sharena__id_slot(m));
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        sharena_conn *cc;
        sharena_arena *aa;
        struct sharena__slot *ss;
        if (sharena_connect(B.socket, &cc) ||
            sharena_open(cc, "rd", NULL, &aa) ||
            sharena__write_begin(aa, m, SHARENA_T_MAP, &ss) < 0)
            _exit(1);
        (void)!write(p[1], "W", 1); /* mid-write: seq odd, lock held */
        pause();
        _exit(0);
    }
    char ch;
    cr_assert_eq(read(p[0], &ch, 1), 1);
    kill(pid, SIGKILL);
    cr_assert_eq(wait_child(pid), 128 + SIGKILL);
    for (int tries = 0; !(s->lock & SHARENA__LOCK_DIED); tries++) {
        cr_assert_lt(tries, 2000, "never marked");
        usleep(5000);
    }
    sharena_open_opts ro = {.flags = SHARENA_READONLY};
    sharena_arena *r;
    cr_assert_eq(sharena_open(c, "rd", &ro, &r), 0);
    cr_assert_eq(sharena_map_get(r, m, "k", 1, &v), SHARENA_EBUSY,
                 "nobody repaired it: the reader cannot see a value");
    cr_assert(s->seq & 1, "the broker repaired nothing");
    cr_assert_eq(sharena_map_get(a, m, "k", 1, &v), 0); /* read-write reader */
    cr_assert_eq(sharena_map_get(r, m, "k", 1, &v), 0,
                 "repaired by that reader");
    double d = 0;
    cr_assert_eq(sharena_number_get(r, v, &d), 0);
    cr_assert_eq(d, 5);
    sharena_arena_close(r);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

/* A 1 TiB arena (allowed: memfds are sparse) whose header was scribbled
 * (slot_count huge, a 512 MiB handle-table chunk placed far into the heap)
 * and whose dead client's slot sits in 1.5 million lock words. Marking
 * them all takes the broker a while, in steps: other clients' requests are
 * answered while it goes on. Reports the longest round trip seen. */
Test(broker_hostile, huge_arena_scan_lets_others_be_served, .timeout = 240)
{
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "huge", SHARENA_MAX_CAPACITY);
    sharena_arena *ok = create(c, "healthy", 1 << 20);
    enum { K = 16 }; /* 256 << 16 slots */
    const uint64_t chunk = (uint64_t)SHARENA__SLOT_CHUNK0 << K;
    const uint64_t words = (48u << 20) / sizeof(struct sharena__slot);
    const uint64_t off = UINT64_C(256) << 30; /* 256 GiB into the heap */
    struct sharena__slot *t =
        (struct sharena__slot *)((uint8_t *)sharena_arena_base(a) + off);

    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        sharena_conn *cc;
        sharena_arena *aa;
        if (sharena_connect(B.socket, &cc) ||
            sharena_open(cc, "huge", NULL, &aa))
            _exit(1);
        uint8_t *base = sharena_arena_base(aa);
        struct sharena__header *hh = sharena__hdr(aa);
        struct sharena__block *blk = (struct sharena__block *)(base + off - 16);
        blk->size_flags = chunk * sizeof(struct sharena__slot) + 16;
        struct sharena__slot *tt = (struct sharena__slot *)(base + off);
        uint32_t me = sharena_conn_slot(cc);
        for (uint64_t i = 0; i < words; i++) /* each mark: a wake too */
            tt[i].lock = me | SHARENA__LOCK_WAITERS;
        __atomic_store_n(&hh->slot_chunks[K], off, __ATOMIC_RELEASE);
        hh->slot_count = UINT64_C(1) << 62;
        (void)!write(p[1], "S", 1);
        pause();
        _exit(0);
    }
    char ch;
    cr_assert_eq(read(p[0], &ch, 1), 1);
    double t0 = now_s(), worst = 0;
    kill(pid, SIGKILL);
    cr_assert_eq(wait_child(pid), 128 + SIGKILL);

    unsigned during = 0, rounds = 0;
    while (!word_died(&t[words - 1].lock)) {
        double r0 = now_s();
        broker_serves("healthy");
        double dt = now_s() - r0;
        if (dt > worst)
            worst = dt;
        /* answered, and the scan is still not done: progress while it goes */
        if (!word_died(&t[words - 1].lock))
            during++;
        cr_assert_lt(++rounds, 200000, "the scan never finished");
    }
    double total = now_s() - t0;
    cr_assert(word_died(&t[0].lock) && word_died(&t[words / 2].lock));
    cr_assert_geq(during, 5,
                  "only %u rounds were served while the scan went on "
                  "(a broker that scans in one go serves none)",
                  during);
    fprintf(stderr,
            "huge_arena_scan: %llu lock words marked in %.2f s; %u request "
            "rounds served meanwhile; longest round (HELLO+LIST+OPEN+CLOSE) "
            "%.1f ms\n",
            (unsigned long long)words, total, during, worst * 1e3);
    broker_serves("healthy");
    sharena_arena_close(ok);
    sharena_arena_close(a);
    sharena_disconnect(c);
    sharena_delete(conn(), "huge"); /* (the connection closes at exit) */
}

/* sharena_recover_mark, directly: each step marks only words naming a dead
 * slot, looks at no more than its budget, skips holes, and a pass ends.
 * Also measures the worst step (every word in it marked: a CAS and a
 * FUTEX_WAKE each) for docs/security.md. */
Test(recover_mark, steps_are_bounded_and_cover_the_table)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("marks", 64 << 20, &a), 0);
    /* objects, so that the table has a chunk; then fake lock words */
    sharena_id ids[600];
    for (int i = 0; i < 600; i++)
        cr_assert_eq(sharena_number_new(a, i, &ids[i]), 0);
    uint64_t dead[SHARENA__MAX_BROKER_SLOTS / 64] = {0};
    dead[7 / 64] |= UINT64_C(1) << 7;
    unsigned expect = 0;
    for (int i = 0; i < 600; i++) {
        struct sharena__slot *s = sharena__slot_at(a, sharena__id_slot(ids[i]));
        cr_assert_not_null(s);
        /* a dead slot's, a live slot's, a LOCAL owner's, already marked */
        uint32_t v = i % 4 == 0   ? 7
                     : i % 4 == 1 ? 8
                     : i % 4 == 2 ? (SHARENA__LOCK_LOCAL | 7)
                                  : (7 | SHARENA__LOCK_DIED);
        s->lock = v;
        expect += i % 4 == 0;
    }
    uint64_t cursor = 0;
    unsigned marked = 0, steps = 0;
    while (cursor != SHARENA_RECOVER_DONE) {
        uint64_t before = cursor;
        int n = sharena_recover_mark(a, dead, SHARENA__MAX_BROKER_SLOTS / 64,
                                     &cursor, 16);
        cr_assert_geq(n, 0);
        cr_assert_leq(n, 16, "a step looked at more than its budget");
        cr_assert(cursor > before, "no progress");
        marked += (unsigned)n;
        cr_assert_lt(++steps, 100000);
    }
    cr_assert_eq(marked, expect);
    for (int i = 0; i < 600; i++) {
        struct sharena__slot *s = sharena__slot_at(a, sharena__id_slot(ids[i]));
        uint32_t v = __atomic_load_n(&s->lock, __ATOMIC_RELAXED);
        cr_assert_eq(!!(v & SHARENA__LOCK_DIED), i % 4 == 0 || i % 4 == 3,
                     "slot %d: %#x", i, v);
        s->lock = 0;
    }
    cr_assert_eq(sharena_recover_mark(a, dead, 3, &cursor, 16), SHARENA_EINVAL);

    /* the worst step: 4096 slots' worth, every word naming the dead slot
     * and saying it has waiters (a FUTEX_WAKE each) */
    struct sharena__header *h = sharena__hdr(a);
    uint64_t nslots = (uint64_t)SHARENA__SLOT_CHUNK0 << 10;
    uint64_t off = h->heap_end - nslots * sizeof(struct sharena__slot) - 4096;
    off &= ~UINT64_C(4095);
    uint8_t *base = sharena_arena_base(a);
    ((struct sharena__block *)(base + off - 16))->size_flags =
        nslots * sizeof(struct sharena__slot) + 16;
    struct sharena__slot *t = (struct sharena__slot *)(base + off);
    for (uint64_t i = 0; i < nslots; i++)
        t[i].lock = 7 | SHARENA__LOCK_WAITERS;
    h->slot_chunks[10] = off;
    double worst = 0;
    cursor = (uint64_t)SHARENA__SLOT_CHUNK0 * ((UINT64_C(1) << 10) - 1);
    marked = 0;
    while (cursor != SHARENA_RECOVER_DONE) {
        double t0 = now_s();
        int n = sharena_recover_mark(a, dead, SHARENA__MAX_BROKER_SLOTS / 64,
                                     &cursor, 4096);
        double dt = now_s() - t0;
        cr_assert_geq(n, 0);
        marked += (unsigned)n;
        if (dt > worst)
            worst = dt;
    }
    cr_assert_eq(marked, nslots);
    fprintf(stderr,
            "recover_mark: worst step (budget 4096, every word "
            "marked with a wake): %.2f ms\n",
            worst * 1e3);
    sharena_arena_close(a);
}

/* The steady-state filter (broker/sandbox.c, compiled into this test): the
 * calls the broker needs pass, unlink, open, exec and fork do not. */
Test(broker_filter, steady_state_denies_unlink_open_exec_and_fork)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    cr_skip_test("sanitizer builds load a permissive filter");
#else
    char path[] = "/tmp/sharena-filter-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    pid_t pid = fork();
    if (pid == 0) {
        if (broker_sandbox() != 0)
            _exit(10);
        if (unlink(path) == 0 || errno != EPERM)
            _exit(11);
        if (unlinkat(AT_FDCWD, path, 0) == 0 || errno != EPERM)
            _exit(12);
        if (open(path, O_RDONLY) >= 0 || errno != EPERM)
            _exit(13);
        if (lseek(fd, 0, SEEK_DATA) < 0 && errno == EPERM)
            _exit(14); /* the lock scans need it */
        char *argv[] = {"/bin/true", NULL};
        if (execv(argv[0], argv) == 0 || errno != EPERM)
            _exit(15);
        if (fork() >= 0 || errno != EPERM)
            _exit(16); /* (a child would exit at once: not reached) */
        _exit(0);
    }
    int st = wait_child(pid);
    unlink(path);
    close(fd);
    cr_assert_eq(st, 0,
                 "status %d (10: no filter, 11/12: unlink allowed, "
                 "13: open allowed, 14: lseek denied, 15: exec "
                 "allowed, 16: fork allowed)",
                 st);
#endif
}

/* ---- slot quarantine, on a broker driven in-process ---------------------- */

static struct client *hello(struct broker *b, int *peer)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    struct client *c = broker_add_client(b, sv[0], getuid(), getgid(),
                                         getpid());
    cr_assert_not_null(c);
    union sharena__msg m;
    memset(&m, 0, sizeof m);
    sharena__proto_hdr(&m.hello.h, SHARENA__MSG_HELLO, sizeof m.hello, 1);
    m.hello.layout_hash = sharena_layout_hash();
    cr_assert_eq(broker_handle(b, c, &m, sizeof m.hello, -1), 0);
    *peer = sv[1];
    return c;
}

static void open_rw(struct broker *b, struct client *c, const char *name)
{
    union sharena__msg m;
    memset(&m, 0, sizeof m);
    sharena__proto_hdr(&m.name.h, SHARENA__MSG_OPEN, sizeof m.name, 2);
    strcpy(m.name.name, name);
    m.name.flags = SHARENA_CREATE;
    m.name.capacity = 1 << 20;
    cr_assert_eq(broker_handle(b, c, &m, sizeof m.name, -1), 0);
}

/* A client that went away holding arena access: its slot is not handed
 * out again (not even after every other slot was) until the scan of its
 * lock words has finished; then it is. */
Test(broker_slots, departed_slot_waits_for_its_scan)
{
    struct broker *b = calloc(1, sizeof(*b));
    int lsv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, lsv), 0);
    b->listen_fd = lsv[0];
    b->reopen_fd = -1;
    b->lim = (struct broker_limits){.max_arenas = 4,
                                    .max_capacity = 8u << 20,
                                    .max_clients = 8,
                                    .max_conns = 16};
    cr_assert_eq(broker_init(b), 0);
    int peer;
    struct client *c = hello(b, &peer);
    open_rw(b, c, "q");
    uint32_t gone = c->slot;
    broker_drop_client(b, c); /* unclean: it had "q" open read-write */
    close(peer);
    cr_assert_eq(b->scanning, 1);
    /* a round through every other slot (they are handed out round-robin)
     * and on: never the departed one */
    for (int i = 0; i < BROKER_MAX_SLOTS + 16; i++) {
        c = hello(b, &peer);
        cr_assert_neq(c->slot, gone, "slot %u reused before its scan ended",
                      gone);
        broker_drop_client(b, c);
        close(peer);
    }
    int steps = 0;
    while (broker_recover_step(b))
        cr_assert_lt(++steps, 1000);
    cr_assert_eq(b->scanning, 0);
    bool back = false;
    for (int i = 0; i < BROKER_MAX_SLOTS && !back; i++) {
        c = hello(b, &peer);
        back = c->slot == gone;
        broker_drop_client(b, c);
        close(peer);
    }
    cr_assert(back, "slot %u never came back after its scan", gone);
    broker_fini(b);
    close(lsv[1]);
    free(b);
}
