/* crashpoints.c: a writer is killed (SIGKILL) at each named step inside a
 * map insert, a map growth, a removal, a vector push and growth, a string
 * set, an allocation, a free, a drop and a handle-table growth. Afterwards
 * the next operation on the same objects succeeds, fsck reports a
 * consistent arena, and every value fully written before is still there. */
#if SHARENA_CRASH_BROKER
#include "broker_fixture.h"
#endif
#include "internal.h"
#include "sharena.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *target;
static int hits, when;

static void kill_at(const char *point)
{
    if (strcmp(point, target) == 0 && ++hits == when)
        raise(SIGKILL);
}

static void fsck_line(void *ctx, const char *p)
{
    (void)ctx;
    cr_log_error("fsck: %s", p);
}

/* Parameters are copied into another process image by Criterion: no
 * pointers in them. */
struct point {
    char name[32];
    int nth;
};

/* The writer reports each finished iteration of its first loop here, so
 * that the test knows which of its own writes must have survived. */
static int progress_fd = -1;

static void workload(sharena_arena *a, sharena_id m, sharena_id v, sharena_id s)
{
    for (int i = 0; i < 40; i++) {
        char k[16];
        int n = sprintf(k, "k%d", i);
        sharena_id x;
        sharena_map_set_number(a, m, k, (size_t)n, i);
        /* a value stored in the entry changing kind (recorded), and given
         * an id (promoted) */
        sharena_map_set_string(a, m, "kind", 4, "text", 4);
        sharena_map_set_number(a, m, "kind", 4, i);
        sharena_map_get(a, m, "kind", 4, &x);
        sharena_number_new(a, i, &x);
        sharena_vector_push(a, v, x, SHARENA_OWNED);
        sharena_string_set(a, s, "hello world again", 17);
        if (i % 3 == 0) {
            sharena_map_remove(a, m, k, (size_t)n, NULL);
            sharena_vector_pop(a, v, &x);
            sharena_drop(a, x, 0);
        }
        sharena_map_remove(a, m, "pre0", 4, NULL);
        sharena_map_set_number(a, m, "pre0", 4, 0);
        if (progress_fd >= 0 && write(progress_fd, &i, sizeof i) != sizeof i)
            _exit(3);
    }
    /* Removals that shift a probe chain depend on the arena's random hash
     * seed; with 300 keys in the table some chain certainly collides. */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 300; i++) {
            char k[16];
            int n = sprintf(k, "z%d", i);
            sharena_id x;
            if (pass == 0) {
                /* objects: enough of them to need a second handle chunk */
                if (sharena_number_new(a, i, &x) == 0 &&
                    sharena_map_set(a, m, k, (size_t)n, x, SHARENA_OWNED, NULL))
                    sharena_drop(a, x, 0);
            } else
                sharena_map_remove(a, m, k, (size_t)n, NULL);
        }
    }
}

#if SHARENA_CRASH_BROKER
/* The broker for the run_point variant through a broker. */
static struct test_broker B;
#endif

/* Kill a writer at the @p nth time it reaches @p name, then check: the next
 * operations succeed, fsck passes, what was written before is there, and
 * so is what the writer itself finished. Locally, the dead writer is found
 * by its pid; @p broker: the writer is a broker client of its own, and the
 * broker marks and repairs what it held when its socket closes. */
static void run_point_in(const char *name, int nth, bool broker)
{
    sharena_arena *a;
    sharena_conn *conn = NULL;
    if (broker) {
#if SHARENA_CRASH_BROKER
        cr_assert_eq(test_broker_start(&B, NULL), 0);
        cr_assert_eq(sharena_connect(B.socket, &conn), 0);
        sharena_open_opts o = {.flags = SHARENA_CREATE};
        cr_assert_eq(sharena_open(conn, "crash", &o, &a), 0);
#endif
    } else {
        cr_assert_eq(sharena_arena_create("crash", 0, &a), 0);
    }
    sharena_id m, v, s;
    cr_assert_eq(sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL), 0);
    cr_assert_eq(sharena_root_ensure(a, "v", SHARENA_T_VECTOR, 0, &v, NULL), 0);
    cr_assert_eq(sharena_string_new(a, "hello", 5, &s), 0);
    cr_assert_eq(sharena_root_set(a, "s", s, SHARENA_OWNED), 0);
    for (int i = 0; i < 5; i++) {
        char k[16];
        int n = sprintf(k, "pre%d", i);
        cr_assert_eq(sharena_map_set_number(a, m, k, (size_t)n, i), 0);
    }
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t c = fork();
    cr_assert_neq(c, -1);
    if (c == 0) {
        close(p[0]);
        sharena_arena *wa = a;
#if SHARENA_CRASH_BROKER
        if (broker) {
            /* a client of its own, on its own mapping */
            sharena_conn *wc;
            if (sharena_connect(B.socket, &wc) ||
                sharena_open(wc, "crash", NULL, &wa))
                _exit(2);
        }
#endif
        progress_fd = p[1];
        target = name;
        when = nth;
        sharena__hook = kill_at;
        workload(wa, m, v, s);
        _exit(0);
    }
    close(p[1]);
    int st;
    cr_assert_eq(waitpid(c, &st, 0), c);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
              "the writer reached %s #%d and was killed there", name, nth);
    int done = -1, i;
    while (read(p[0], &i, sizeof i) == sizeof i)
        done = i;
    close(p[0]);
    if (broker) {
#if SHARENA_CRASH_BROKER
        /* the broker recovers the writer when it sees its socket close */
        cr_assert_eq(test_broker_wait_clients(conn, "crash", 1), 1,
                     "the broker released the writer");
#endif
    }

    /* The next process's operations succeed... */
    sharena_id x;
    cr_expect_eq(sharena_map_set_number(a, m, "after", 5, 1), 0);
    cr_expect_eq(sharena_number_new(a, 1, &x), 0);
    cr_expect_eq(sharena_vector_push(a, v, x, SHARENA_OWNED), 0);
    cr_expect_eq(sharena_string_set(a, s, "z", 1), 0);
    /* ...fsck passes... */
    sharena_fsck_report rep;
    cr_expect_eq(sharena_fsck(a, 0, fsck_line, NULL, &rep), 0,
                 "fsck after a kill at %s #%d", name, nth);
    /* ...what was fully written before is still there... */
    for (int k = 1; k < 5; k++) {
        char key[16];
        int n = sprintf(key, "pre%d", k);
        sharena_id y;
        double d = -1;
        cr_expect_eq(sharena_map_get(a, m, key, (size_t)n, &y), 0, "%s", key);
        cr_expect_eq(sharena_number_get(a, y, &d), 0);
        cr_expect_eq(d, k);
    }
    /* ...a value whose kind changed reads as one of the two... */
    sharena_value kv;
    char ks[16];
    if (done >= 0) {
        cr_expect_eq(sharena_map_get_value(a, m, "kind", 4, ks, sizeof ks, &kv),
                     0);
        cr_expect(kv.type == SHARENA_T_NUMBER ||
                      (kv.type == SHARENA_T_STRING && !strcmp(ks, "text")),
                  "kind: type %d", kv.type);
    }
    /* ...and so is what the writer finished: its keys k0..k<done> (those
     * it removed again, every third, are absent) */
    for (int k = 0; k <= done; k++) {
        char key[16];
        int n = sprintf(key, "k%d", k);
        sharena_id y;
        double d = -1;
        int r = sharena_map_get(a, m, key, (size_t)n, &y);
        if (k % 3 == 0) {
            cr_expect_eq(r, SHARENA_ENOENT, "%s was removed", key);
        } else {
            cr_expect_eq(r, 0, "%s, written before the kill", key);
            cr_expect_eq(sharena_number_get(a, y, &d), 0);
            cr_expect_eq(d, k);
        }
    }
    char buf[32];
    size_t len;
    cr_expect_eq(sharena_string_get(a, s, buf, sizeof buf, &len), 0);
    cr_expect_str_eq(buf, "z");
    sharena_arena_close(a);
#if SHARENA_CRASH_BROKER
    if (broker) {
        sharena_disconnect(conn);
        cr_expect_eq(test_broker_stop(&B), 0);
    }
#endif
}

static void run_point(const char *name, int nth)
{
    run_point_in(name, nth, false);
}

static struct point points[] = {
    {"alloc:split", 1},
    {"alloc:split", 5},
    {"alloc:unlinked", 1},
    {"alloc:unlinked", 6},
    {"free:merged-next", 1},
    {"free:merged-next", 4},
    {"map:key-allocated", 1},
    {"map:key-allocated", 7},
    {"map:entry-before-index", 1},
    {"map:entry-before-index", 9},
    {"map:entry-before-count", 2},
    {"map:entry-before-count", 8},
    {"map:grow-built", 1},
    {"map:grow-swapped", 1},
    {"map:remove-recorded", 1},
    {"map:remove-recorded", 3},
    {"map:remove-moved", 1},
    {"map:remove-moved", 2},
    {"map:value-recorded", 1},
    {"map:value-recorded", 4},
    {"map:value-stored", 1},
    {"map:value-stored", 3},
    {"map:promote-made", 1},
    {"map:promote-made", 2},
    {"vector:item-before-len", 1},
    {"vector:item-before-len", 5},
    {"vector:grow-built", 1},
    {"vector:grow-built", 2},
    {"string:swapped", 1},
    {"string:swapped", 3},
    {"drop:detached", 1},
    {"drop:detached", 4},
    {"drop:killed", 1},
    {"drop:killed", 5},
    {"table:chunk-allocated", 1},
};

ParameterizedTestParameters(crash, killed_at)
{
    return cr_make_param_array(struct point, points,
                               sizeof points / sizeof points[0]);
}

ParameterizedTest(struct point *p, crash, killed_at, .timeout = 30)
{
    run_point(p->name, p->nth);
}

#if SHARENA_CRASH_BROKER
/* The same points with the writer a broker client: the broker, not the
 * next locker's pid check, finds the dead owner. */
ParameterizedTestParameters(crash_broker, killed_at)
{
    return cr_make_param_array(struct point, points,
                               sizeof points / sizeof points[0]);
}

ParameterizedTest(struct point *p, crash_broker, killed_at, .timeout = 60)
{
    run_point_in(p->name, p->nth, true);
}
#endif

/* A writer dies holding a map's lock through sharena_lock(): the next
 * writer gets the lock (owner-died recovery) instead of hanging. */
Test(crash, dead_lock_holder_is_recovered, .timeout = 30)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("crash", 0, &a), 0);
    sharena_id m;
    cr_assert_eq(sharena_map_new(a, &m), 0);
    pid_t c = fork();
    if (c == 0) {
        sharena_lock(a, m);
        raise(SIGKILL);
    }
    waitpid(c, NULL, 0);
    cr_expect_eq(sharena_map_set_number(a, m, "k", 1, 1), 0);
    sharena_fsck_report rep;
    cr_expect_eq(sharena_fsck(a, 0, fsck_line, NULL, &rep), 0);
    sharena_arena_close(a);
}

/* A writer killed while promoting a number stored in a vector item (the
 * number object made, the item not yet its ref): the item still holds the
 * number, the next get promotes it, fsck passes. The dead writer's object
 * stays allocated, unlinked, as any object a dead process never linked. */
Test(crash, killed_in_promotion, .timeout = 30)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("crash", 0, &a), 0);
    sharena_id v, y;
    cr_assert_eq(sharena_vector_new(a, &v), 0);
    cr_assert_eq(sharena_vector_push_number(a, v, 2.5), 0);
    pid_t c = fork();
    if (c == 0) {
        target = "vector:promote-made";
        when = 1;
        sharena__hook = kill_at;
        sharena_vector_get(a, v, 0, &y, NULL);
        _exit(0);
    }
    int st;
    cr_assert_eq(waitpid(c, &st, 0), c);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
              "the writer was killed in the promotion");
    sharena_value val;
    cr_expect_eq(sharena_vector_get_value(a, v, 0, NULL, 0, &val), 0);
    cr_expect(val.type == SHARENA_T_NUMBER && val.number == 2.5 && !val.id,
              "still the number in place");
    double d = 0;
    cr_expect_eq(sharena_vector_get(a, v, 0, &y, NULL), 0);
    cr_expect_eq(sharena_number_get(a, y, &d), 0);
    cr_expect_eq(d, 2.5);
    sharena_fsck_report rep;
    cr_expect_eq(sharena_fsck(a, 0, fsck_line, NULL, &rep), 0);
    sharena_arena_close(a);
}

/* A writer killed in a builder's splice after the new block was built and
 * before it was swapped in: the vector keeps its old items (the next writer
 * repairs it), fsck passes. What the dead builder made stays allocated,
 * unlinked, as any object a dead process made and never linked. */
Test(crash, killed_in_build_splice, .timeout = 30)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("crash", 0, &a), 0);
    sharena_id v, x;
    cr_assert_eq(sharena_vector_new(a, &v), 0);
    cr_assert_eq(sharena_number_new(a, 7, &x), 0);
    cr_assert_eq(sharena_vector_push(a, v, x, SHARENA_OWNED), 0);
    pid_t c = fork();
    if (c == 0) {
        target = "vector:splice-built";
        when = 1;
        sharena__hook = kill_at;
        sharena_builder *b;
        if (sharena_build_begin(a, &b))
            _exit(2);
        sharena_build_map(b);
        sharena_build_key(b, "k", 1);
        sharena_build_number(b, 1);
        sharena_build_end(b);
        sharena_build_number(b, 2);
        sharena_build_vector_splice(b, v, 0, 1);
        _exit(0);
    }
    int st;
    cr_assert_eq(waitpid(c, &st, 0), c);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
              "the writer was killed in the splice");
    cr_expect_eq(sharena_number_new(a, 8, &x), 0);
    cr_expect_eq(sharena_vector_push(a, v, x, SHARENA_OWNED), 0);
    uint64_t len;
    sharena_id y;
    double d = 0;
    cr_expect_eq(sharena_vector_len(a, v, &len), 0);
    cr_expect_eq(len, 2, "the old item and the new push");
    cr_expect_eq(sharena_vector_get(a, v, 0, &y, NULL), 0);
    cr_expect_eq(sharena_number_get(a, y, &d), 0);
    cr_expect_eq(d, 7);
    sharena_fsck_report rep;
    cr_expect_eq(sharena_fsck(a, 0, fsck_line, NULL, &rep), 0);
    sharena_arena_close(a);
}

/* fsck run right after a death, before anyone else touched the arena,
 * recovers the pending lock instead of reporting damage. */
Test(crash, fsck_recovers_pending, .timeout = 30)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("crash", 0, &a), 0);
    sharena_id m;
    cr_assert_eq(sharena_map_new(a, &m), 0);
    pid_t c = fork();
    if (c == 0) {
        target = "map:entry-before-index";
        when = 1;
        sharena__hook = kill_at;
        sharena_map_set_number(a, m, "k", 1, 1);
        _exit(0);
    }
    waitpid(c, NULL, 0);
    sharena_fsck_report rep;
    cr_expect_eq(sharena_fsck(a, 0, fsck_line, NULL, &rep), 0);
    cr_expect_eq(rep.recovered, 1);
    uint64_t n;
    cr_expect_eq(sharena_map_len(a, m, &n), 0);
    cr_expect_eq(n, 1,
                 "the entry and its count were written: repair indexes it");
    sharena_arena_close(a);
}

/* A repairer killed half-way loses no key. A writer dies in the middle of
 * a removal, the last entry copied into the hole and the count not yet
 * lowered (that entry in two places, the index not yet fixed); each of
 * three next lockers is killed while its repair rebuilds the index (all
 * of it cleared, then part of it rebuilt); the last finishes. Every key
 * but the removed one is there, once, and fsck agrees. (The repair of the
 * format-2 table once rebuilt it from a private copy: a repairer killed
 * there took the keys it had not put back with it.) */
Test(crash, killed_in_map_repair_loses_no_key, .timeout = 60)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("crash", 0, &a), 0);
    sharena_id m;
    cr_assert_eq(sharena_map_new(a, &m), 0);
    enum { N = 40 };
    for (int i = 0; i < N; i++) {
        char k[16];
        int n = sprintf(k, "key%d", i);
        cr_assert_eq(sharena_map_set_number(a, m, k, (size_t)n, i), 0);
    }
    pid_t c = fork();
    if (c == 0) {
        target = "map:remove-moved";
        when = 1;
        sharena__hook = kill_at;
        sharena_map_remove(a, m, "key3", 4, NULL);
        _exit(3);
    }
    int st;
    cr_assert_eq(waitpid(c, &st, 0), c);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
              "the writer died mid-removal (%d)", st);
    static const char *const at[] = {"map:repair-cleared", "map:repair-indexed",
                                     "map:repair-indexed"};
    static const int nth[] = {1, 10, 30};
    for (int round = 0; round < 3; round++) {
        c = fork();
        if (c == 0) {
            target = at[round];
            when = nth[round];
            hits = 0;
            sharena__hook = kill_at;
            sharena_map_set_number(a, m, "after", 5, 1);
            _exit(0);
        }
        cr_assert_eq(waitpid(c, &st, 0), c);
        cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
                  "repairer %d was killed at %s #%d", round, at[round],
                  nth[round]);
    }
    cr_expect_eq(sharena_map_set_number(a, m, "after", 5, 1), 0);
    int present = 0;
    for (int i = 0; i < N; i++) {
        char k[16];
        int n = sprintf(k, "key%d", i);
        sharena_id y;
        double d = -1;
        if (sharena_map_get(a, m, k, (size_t)n, &y) == 0 &&
            sharena_number_get(a, y, &d) == 0 && d == i)
            present++;
    }
    cr_expect_eq(present, N - 1, "every key but the removed one (%d of %d)",
                 present, N - 1);
    uint64_t len;
    cr_expect_eq(sharena_map_len(a, m, &len), 0);
    cr_expect_eq(len, N, "N - 1 keys and 'after' (%lu)", (unsigned long)len);
    /* each key once: iteration meets N distinct keys */
    uint64_t cur = 0;
    int seen = 0;
    char key[32];
    size_t klen;
    sharena_id v;
    while (sharena_map_next(a, m, &cur, key, sizeof key, &klen, &v, NULL) == 0)
        seen++;
    cr_expect_eq(seen, N);
    sharena_fsck_report rep;
    cr_expect_eq(sharena_fsck(a, 0, fsck_line, NULL, &rep), 0);
    cr_expect_eq(rep.errors, 0);
    sharena_arena_close(a);
}

/* A thread that takes a lock twice gets EDEADLK, not a hang. */
Test(crash, relock_is_edeadlk)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("crash", 0, &a), 0);
    sharena_id m;
    cr_assert_eq(sharena_map_new(a, &m), 0);
    cr_assert_eq(sharena_lock(a, m), 0);
    cr_expect_eq(sharena_lock(a, m), SHARENA_EDEADLK);
    cr_expect_eq(sharena_map_set_number(a, m, "k", 1, 1), 0,
                 "operations inside one's own lock proceed");
    cr_expect_eq(sharena_unlock(a, m), 0);
    cr_expect_eq(sharena_unlock(a, m), SHARENA_EPERM);
    sharena_arena_close(a);
}

/* ---- fsck on an arena that others are writing or recovering ------------- */

static void stop_at(const char *point)
{
    if (strcmp(point, target) == 0 && ++hits == when)
        raise(SIGSTOP);
}

static int count_lock(void *ctx, const sharena_lock_info *li)
{
    (void)li;
    (*(int *)ctx)++;
    return 0;
}

static int held_locks(sharena_arena *a)
{
    int n = 0;
    sharena_locks(a, count_lock, &n);
    return n;
}

/* A writer in a child process, stopped (SIGSTOP) in the middle of
 * inserting "during" = 2 into @p m: its key block allocated, not linked,
 * the map's seq odd and its lock held by a live process. */
static pid_t stopped_inserter(sharena_arena *a, sharena_id m)
{
    pid_t c = fork();
    cr_assert_neq(c, -1);
    if (c == 0) {
        target = "map:key-allocated";
        when = 1;
        sharena__hook = stop_at;
        _exit(sharena_map_set_number(a, m, "during", 6, 2) == 0 ? 0 : 1);
    }
    int st;
    cr_assert_eq(waitpid(c, &st, WUNTRACED), c);
    cr_assert(WIFSTOPPED(st), "the writer stopped inside its insert");
    return c;
}

/* Let it go on: its insert completes, and the value is there. */
static void finish_insert(sharena_arena *a, sharena_id m, pid_t c)
{
    int st;
    kill(c, SIGCONT);
    cr_assert_eq(waitpid(c, &st, 0), c);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the insert finished");
    sharena_id x;
    double d = 0;
    cr_expect_eq(sharena_map_get(a, m, "during", 6, &x), 0);
    cr_expect_eq(sharena_number_get(a, x, &d), 0);
    cr_expect_eq(d, 2);
}

/* A live writer stopped in the middle of a map insert (its key block
 * allocated, not yet linked, the map's seq odd) is a write in progress,
 * not damage: fsck and fsck --repair leave it alone and report the arena
 * consistent, and the writer finishes as if nothing happened. */
Test(fsck_live, writer_mid_insert_is_busy_not_damage, .timeout = 30)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("crash", 0, &a), 0);
    sharena_id m;
    cr_assert_eq(sharena_map_new(a, &m), 0);
    cr_assert_eq(sharena_map_set_number(a, m, "before", 6, 1), 0);
    pid_t c = stopped_inserter(a, m);

    sharena_fsck_report rep;
    cr_expect_eq(sharena_fsck(a, 0, fsck_line, NULL, &rep), 0,
                 "a write in progress is not damage");
    cr_expect_eq(rep.locks_held, 1);
    cr_expect_eq(rep.leaked_bytes, 0, "its key block is not a leak");
    cr_expect_eq(rep.recovered, 0);
    cr_expect_eq(sharena_fsck(a, SHARENA_FSCK_REPAIR, fsck_line, NULL, &rep),
                 0);
    cr_expect_eq(rep.repaired, 0, "--repair does not touch a live write");

    finish_insert(a, m, c);
    sharena_id x;
    cr_expect_eq(sharena_map_get(a, m, "before", 6, &x), 0);
    cr_expect_eq(sharena_fsck(a, 0, fsck_line, NULL, &rep), 0);
    cr_expect_eq(rep.locks_held, 0);
    sharena_arena_close(a);
}

/* What the broker leaves when it takes a dead client's lock to repair the
 * object while fsck holds the arena lock: it gives the object back
 * owner-died, write unfinished. The hooks do that to a map during a pass:
 * right after fsck settled the locks it saw, or (the broker holding the
 * lock, a live owner, while the pass checks the slots) just before the pass
 * ends. fsck must still end consistent, with the lock recovered and none
 * left held. */
static sharena_arena *hand_back_arena;
static sharena_id hand_back_map;
static pid_t dead_pid, live_pid;
static bool held_during_check;

static void set_lock(uint32_t v)
{
    struct sharena__slot *s = sharena__slot_at(hand_back_arena,
                                               sharena__id_slot(hand_back_map));
    __atomic_store_n(&s->seq, s->seq | 1, __ATOMIC_RELEASE);
    __atomic_store_n(&s->lock, v, __ATOMIC_RELEASE);
}

static void hand_back(const char *point)
{
    const uint32_t died = SHARENA__LOCK_LOCAL | (uint32_t)dead_pid |
                          SHARENA__LOCK_DIED;
    if (strcmp(point, "fsck:settled") == 0 && hits++ == 0)
        set_lock(held_during_check ? SHARENA__LOCK_LOCAL | (uint32_t)live_pid
                                   : died);
    else if (strcmp(point, "fsck:checked") == 0 && hits == 1 &&
             held_during_check)
        set_lock(died);
}

static void run_hand_back(bool during_check)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("crash", 0, &a), 0);
    sharena_id m;
    cr_assert_eq(sharena_map_new(a, &m), 0);
    cr_assert_eq(sharena_map_set_number(a, m, "k", 1, 7), 0);
    pid_t c = fork();
    if (c == 0)
        _exit(0);
    cr_assert_eq(waitpid(c, NULL, 0), c);
    dead_pid = c;
    live_pid = fork(); /* the "broker": alive while the pass runs */
    if (live_pid == 0) {
        pause();
        _exit(0);
    }
    /* another object whose owner died before fsck: recovered in pass 1 */
    sharena_id other;
    cr_assert_eq(sharena_map_new(a, &other), 0);
    sharena__slot_at(a, sharena__id_slot(other))->lock = SHARENA__LOCK_LOCAL |
                                                         (uint32_t)dead_pid;
    hand_back_arena = a;
    hand_back_map = m;
    held_during_check = during_check;
    hits = 0;
    sharena__hook = hand_back;
    sharena_fsck_report rep;
    int r = sharena_fsck(a, 0, fsck_line, NULL, &rep);
    sharena__hook = NULL;
    kill(live_pid, SIGKILL);
    waitpid(live_pid, NULL, 0);
    cr_expect_eq(r, 0, "a recovery pending during the pass is not damage");
    cr_expect_eq(hits, 2, "a second pass settled it");
    cr_expect_eq(rep.recovered, 2, "one lock in each pass");
    cr_expect_eq(held_locks(a), 0, "no lock left held or owner-died");
    sharena_id x;
    double d = 0;
    cr_expect_eq(sharena_map_get(a, m, "k", 1, &x), 0);
    cr_expect_eq(sharena_number_get(a, x, &d), 0);
    cr_expect_eq(d, 7);
    sharena_arena_close(a);
}

Test(fsck_live, lock_handed_back_after_settling_is_recovered, .timeout = 30)
{
    run_hand_back(false);
}

Test(fsck_live, lock_handed_back_during_the_check_is_recovered, .timeout = 30)
{
    run_hand_back(true);
}

/* --repair of damage elsewhere (here a bool holding 5) salvages the heap;
 * the blocks and the table of an object a live writer holds stay as they
 * are, and its write completes. */
Test(fsck_live, repair_elsewhere_keeps_a_live_write, .timeout = 30)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("crash", 0, &a), 0);
    sharena_id m, b;
    cr_assert_eq(sharena_map_new(a, &m), 0);
    cr_assert_eq(sharena_map_set_number(a, m, "before", 6, 1), 0);
    cr_assert_eq(sharena_bool_new(a, true, &b), 0);
    pid_t c = stopped_inserter(a, m);
    sharena__slot_at(a, sharena__id_slot(b))->word = 5;
    sharena_fsck_report rep;
    /* (no fsck_line: the bool is an expected problem, and Criterion counts
     * a logged error against the run) */
    cr_expect_eq(sharena_fsck(a, SHARENA_FSCK_REPAIR, NULL, NULL, &rep), 0);
    cr_expect_eq(rep.errors, 1, "the bool");
    cr_expect_eq(rep.repaired, 1);
    cr_expect_eq(rep.locks_held, 1);
    finish_insert(a, m, c);
    cr_expect_eq(sharena_fsck(a, 0, fsck_line, NULL, &rep), 0);
    sharena_arena_close(a);
}

/* A dropper puts the slot back on the free list before it unlocks (here it
 * stops in between, inside its own sharena_lock() section): the free-slot
 * list still adds up. */
Test(fsck_live, slot_freed_but_still_locked_is_counted_free, .timeout = 30)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("crash", 0, &a), 0);
    sharena_id s;
    cr_assert_eq(sharena_string_new(a, "hello", 5, &s), 0);
    pid_t c = fork();
    cr_assert_neq(c, -1);
    if (c == 0) {
        sharena_lock(a, s);
        sharena_drop(a, s, 0); /* nested in our lock: it stays held */
        raise(SIGSTOP);
        _exit(0);
    }
    int st;
    cr_assert_eq(waitpid(c, &st, WUNTRACED), c);
    sharena_fsck_report rep;
    cr_expect_eq(sharena_fsck(a, 0, fsck_line, NULL, &rep), 0);
    cr_expect_eq(rep.locks_held, 1);
    kill(c, SIGCONT);
    waitpid(c, &st, 0);
    cr_expect_eq(sharena_fsck(a, 0, fsck_line, NULL, &rep), 0);
    sharena_arena_close(a);
}

/* A lock word naming a live process that does not map the arena (a
 * scribble, a reused pid) is no owner: fsck recovers it and the object is
 * checked and repaired instead of hidden as busy. */
Test(fsck_live, lock_of_a_process_without_the_arena_is_recovered, .timeout = 30)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("crash", 0, &a), 0);
    sharena_id m;
    cr_assert_eq(sharena_map_new(a, &m), 0);
    cr_assert_eq(sharena_map_set_number(a, m, "k", 1, 1), 0);
    struct sharena__slot *sl = sharena__slot_at(a, sharena__id_slot(m));
    struct sharena__map *mp = (void *)(a->base + sl->word);
    mp->count = 77; /* damage the lock's next taker repairs */
    pid_t p;
    char *argv[] = {"sleep", "30", NULL};
    extern char **environ;
    cr_assert_eq(posix_spawnp(&p, "sleep", NULL, NULL, argv, environ), 0);
    sl->lock = SHARENA__LOCK_LOCAL | (uint32_t)p;
    sharena_fsck_report rep;
    int r = sharena_fsck(a, 0, fsck_line, NULL, &rep);
    kill(p, SIGKILL);
    waitpid(p, NULL, 0);
    cr_expect_eq(r, 0);
    cr_expect_eq(rep.locks_held, 0, "not a live owner's lock");
    cr_expect_eq(rep.recovered, 1);
    cr_expect_eq(held_locks(a), 0);
    uint64_t n = 0;
    cr_expect_eq(sharena_map_len(a, m, &n), 0);
    cr_expect_eq(n, 1, "the map was repaired");
    sharena_arena_close(a);
}

/* Arena-lock recovery frees a handle-table chunk that a writer killed in
 * slot_take left unpublished, never one in use whose offset a scribbler
 * cleared in the header. */
Test(crash, scribbled_chunk_offset_is_not_freed_by_recovery, .timeout = 30)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("crash", 0, &a), 0);
    sharena_id ids[300];
    for (int i = 0; i < 300; i++)
        cr_assert_eq(sharena_number_new(a, i, &ids[i]), 0);
    cr_assert_eq(sharena_drop(a, ids[0], 0), 0); /* a free slot to reuse */
    struct sharena__header *h = sharena__hdr(a);
    uint64_t c1 = h->slot_chunks[1];
    cr_assert_neq(c1, 0);
    h->slot_chunks[1] = 0;
    pid_t c = fork();
    if (c == 0)
        _exit(0);
    waitpid(c, NULL, 0);
    h->arena_lock = SHARENA__LOCK_LOCAL | (uint32_t)c; /* died holding it */
    sharena_id s;
    cr_expect_eq(sharena_string_new(a, "after", 5, &s), 0);
    cr_expect_neq(sharena__payload_size(a, c1), 0, "the chunk stays allocated");
    double d = -1;
    cr_expect_eq(sharena_number_get(a, ids[299], &d), 0);
    cr_expect_eq(d, 299);
    cr_expect_neq(sharena__slot_at(a, sharena__id_slot(s))->word, c1,
                  "the new string is not in the chunk");
    sharena_arena_close(a);
}
