/* Unit tests of change waits in C (wait.c): sharena_wait() and
 * sharena_wait_any() return the new version when another process writes,
 * SHARENA_ETIMEDOUT when nobody does, SHARENA_ESTALE when the object is
 * dropped (while waiting, or before), SHARENA_ECLOSED when another thread
 * closes the arena; a read-only handle waits too, and no write is lost
 * between a read and the next wait. Each Criterion test is a process. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sharena.h"

/* a hang bound for waits that must end, not a latency threshold */
#define LONG_NS (20ll * 1000 * 1000 * 1000)

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static sharena_arena *arena(void)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("wait", 0, &a), 0);
    return a;
}

/* A child process writes @p n times to number @p id, @p gap_ms apart. */
static pid_t writer(sharena_arena *a, sharena_id id, int n, int gap_ms)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        for (int i = 1; i <= n; i++) {
            sleep_ms(gap_ms);
            if (sharena_number_set(a, id, i))
                _exit(1);
        }
        _exit(0);
    }
    return pid;
}

static void reap(pid_t pid)
{
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

Test(wait, another_process_write_wakes_the_waiter)
{
    sharena_arena *a = arena();
    sharena_id n;
    cr_assert_eq(sharena_number_new(a, 0, &n), 0);
    uint64_t v0, v;
    cr_assert_eq(sharena_change_count(a, n, &v0), 0);
    pid_t w = writer(a, n, 1, 50);
    cr_assert_eq(sharena_wait(a, n, v0, LONG_NS, &v), 0);
    cr_expect_gt(v, v0);
    double d = 0;
    cr_expect_eq(sharena_number_get(a, n, &d), 0);
    cr_expect_eq(d, 1, "the write that woke it is visible");
    reap(w);
    /* a version already past @p last returns at once */
    cr_expect_eq(sharena_wait(a, n, v0, 0, &v), 0);
    /* last 0: the current version, at once */
    uint64_t cur;
    cr_expect_eq(sharena_wait(a, n, 0, 0, &cur), 0);
    cr_expect_eq(cur, v);
    sharena_arena_close(a);
}

Test(wait, nobody_writes_times_out)
{
    sharena_arena *a = arena();
    sharena_id n;
    cr_assert_eq(sharena_number_new(a, 0, &n), 0);
    uint64_t v0, v = 0, any;
    cr_assert_eq(sharena_change_count(a, n, &v0), 0);
    cr_expect_eq(sharena_wait(a, n, v0, 20 * 1000 * 1000, &v),
                 SHARENA_ETIMEDOUT);
    cr_assert_eq(sharena_arena_version(a, &any), 0);
    cr_expect_eq(sharena_wait_any(a, any, 20 * 1000 * 1000, &v),
                 SHARENA_ETIMEDOUT);
    sharena_arena_close(a);
}

Test(wait, arena_wide_wait_sees_any_object)
{
    sharena_arena *a = arena();
    sharena_id n, m;
    cr_assert_eq(sharena_number_new(a, 0, &n), 0);
    cr_assert_eq(sharena_map_new(a, &m), 0);
    uint64_t any, v;
    cr_assert_eq(sharena_arena_version(a, &any), 0);
    pid_t pid = fork();
    if (pid == 0) {
        sleep_ms(50);
        _exit(sharena_map_set_number(a, m, "k", 1, 1) ? 1 : 0);
    }
    cr_assert_eq(sharena_wait_any(a, any, LONG_NS, &v), 0);
    cr_expect_neq(v, any);
    reap(pid);
    sharena_arena_close(a);
}

Test(wait, dropped_object_is_stale)
{
    sharena_arena *a = arena();
    sharena_id n;
    cr_assert_eq(sharena_number_new(a, 0, &n), 0);
    uint64_t v0, v;
    cr_assert_eq(sharena_change_count(a, n, &v0), 0);
    pid_t pid = fork();
    if (pid == 0) {
        sleep_ms(50);
        _exit(sharena_drop(a, n, 0) ? 1 : 0);
    }
    cr_expect_eq(sharena_wait(a, n, v0, LONG_NS, &v), SHARENA_ESTALE,
                 "dropped while waiting");
    reap(pid);
    cr_expect_eq(sharena_wait(a, n, v0, LONG_NS, &v), SHARENA_ESTALE,
                 "dropped before");
    /* the slot reused by another object: the old id stays stale */
    sharena_id again;
    cr_assert_eq(sharena_number_new(a, 5, &again), 0);
    cr_expect_eq(sharena_wait(a, n, 0, 0, &v), SHARENA_ESTALE);
    sharena_arena_close(a);
}

struct closer {
    sharena_arena *a;
    int ms;
};

static void *close_later(void *p)
{
    struct closer *c = p;
    sleep_ms(c->ms);
    sharena_arena_close(c->a);
    return NULL;
}

/* Closing a handle wakes the waits on it (in other threads) with
 * SHARENA_ECLOSED; close returns once they have left. */
Test(wait, closing_the_arena_ends_its_waits)
{
    sharena_arena *a = arena();
    sharena_id n;
    cr_assert_eq(sharena_number_new(a, 0, &n), 0);
    uint64_t v0, v;
    cr_assert_eq(sharena_change_count(a, n, &v0), 0);
    struct closer c = {a, 100};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, close_later, &c), 0);
    cr_expect_eq(sharena_wait(a, n, v0, LONG_NS, &v), SHARENA_ECLOSED);
    pthread_join(t, NULL);
}

Test(wait, arena_wide_wait_ends_on_close_too)
{
    sharena_arena *a = arena();
    uint64_t any, v;
    cr_assert_eq(sharena_arena_version(a, &any), 0);
    struct closer c = {a, 100};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, close_later, &c), 0);
    cr_expect_eq(sharena_wait_any(a, any, LONG_NS, &v), SHARENA_ECLOSED);
    pthread_join(t, NULL);
}

/* sharena_arena_cancel_waits(): the waits on one handle (a wait set of
 * its own, mapped from the same memfd) end with SHARENA_ECLOSED, whether
 * they were asleep or began after the cancel; another handle of the same
 * arena keeps working and still sees writes. */
struct cwaiter {
    sharena_arena *a;
    sharena_id id; /* 0: sharena_wait_any() */
    uint64_t last;
    int r;
};

static void *cwait_forever(void *p)
{
    struct cwaiter *w = p;
    uint64_t v;
    w->r = w->id ? sharena_wait(w->a, w->id, w->last, -1, &v)
                 : sharena_wait_any(w->a, w->last, -1, &v);
    return NULL;
}

Test(wait, cancel_waits_ends_the_waits_of_one_handle_only)
{
    sharena_arena *a = arena();
    sharena_id n;
    cr_assert_eq(sharena_number_new(a, 0, &n), 0);
    sharena_arena *set;
    cr_assert_eq(sharena_arena_from_fd(sharena_arena_fd(a), 0, &set), 0);
    uint64_t v0, any;
    cr_assert_eq(sharena_change_count(a, n, &v0), 0);
    cr_assert_eq(sharena_arena_version(a, &any), 0);
    struct cwaiter w1 = {set, n, v0, 1}, w2 = {set, 0, any, 1};
    pthread_t t1, t2;
    cr_assert_eq(pthread_create(&t1, NULL, cwait_forever, &w1), 0);
    cr_assert_eq(pthread_create(&t2, NULL, cwait_forever, &w2), 0);
    sleep_ms(50); /* usually asleep by now; either way they must end */
    cr_assert_eq(sharena_arena_cancel_waits(set), 0);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    cr_expect_eq(w1.r, SHARENA_ECLOSED);
    cr_expect_eq(w2.r, SHARENA_ECLOSED);
    /* later waits on the cancelled handle end at once too */
    uint64_t v;
    cr_expect_eq(sharena_wait(set, n, v0, -1, &v), SHARENA_ECLOSED);
    cr_expect_eq(sharena_wait_any(set, any, -1, &v), SHARENA_ECLOSED);
    cr_expect_eq(sharena_arena_cancel_waits(set), 0); /* idempotent */
    /* the other handle is untouched: writes, and its waits see them */
    cr_assert_eq(sharena_number_set(a, n, 7), 0);
    cr_expect_eq(sharena_wait(a, n, v0, LONG_NS, &v), 0);
    cr_expect_gt(v, v0);
    cr_expect_eq(sharena_wait(a, n, v, 0, &v), SHARENA_ETIMEDOUT);
    cr_expect_eq(sharena_arena_cancel_waits(NULL), SHARENA_EINVAL);
    sharena_arena_close(set);
    sharena_arena_close(a);
}

/* A read-only handle of the same memfd cannot register as a waiter (it
 * cannot write the arena), so it polls; it still sees every change. */
Test(wait, read_only_handle_waits_too)
{
    sharena_arena *a = arena();
    sharena_id n;
    cr_assert_eq(sharena_number_new(a, 0, &n), 0);
    sharena_arena *ro;
    cr_assert_eq(
        sharena_arena_from_fd(sharena_arena_fd(a), SHARENA_READONLY, &ro), 0);
    cr_assert(sharena_arena_readonly(ro));
    uint64_t v0, v;
    cr_assert_eq(sharena_change_count(ro, n, &v0), 0);
    pid_t w = writer(a, n, 1, 50);
    cr_assert_eq(sharena_wait(ro, n, v0, LONG_NS, &v), 0);
    cr_expect_gt(v, v0);
    double d = 0;
    cr_expect_eq(sharena_number_get(ro, n, &d), 0);
    cr_expect_eq(d, 1);
    reap(w);
    cr_expect_eq(sharena_wait(ro, n, v, 20 * 1000 * 1000, &v),
                 SHARENA_ETIMEDOUT);
    sharena_arena_close(ro);
    sharena_arena_close(a);
}

/* Read, then wait from the version read: a write between the two is never
 * slept through (5,000 writes, the reader ends on the last value without
 * a timed-out wait while writes were pending). */
Test(wait, no_write_is_lost_between_read_and_wait, .timeout = 120)
{
    sharena_arena *a = arena();
    sharena_id n;
    cr_assert_eq(sharena_number_new(a, 0, &n), 0);
    enum { N = 5000 };
    pid_t w = writer(a, n, N, 0);
    uint64_t v;
    cr_assert_eq(sharena_change_count(a, n, &v), 0);
    double d = 0;
    int lost = 0;
    while (d < N) {
        cr_assert_eq(sharena_number_get(a, n, &d), 0);
        if (d >= N)
            break;
        int r = sharena_wait(a, n, v, LONG_NS, &v);
        if (r == SHARENA_ETIMEDOUT)
            lost++;
        else
            cr_assert_eq(r, 0, "%s", sharena_strerror(r));
    }
    cr_expect_eq(d, N);
    cr_expect_eq(lost, 0);
    reap(w);
    sharena_arena_close(a);
}

struct waiter {
    sharena_arena *a;
    sharena_id id;
    uint64_t last;
    int r;
};

static void *wait_thread(void *p)
{
    struct waiter *w = p;
    uint64_t v;
    w->r = sharena_wait(w->a, w->id, w->last, LONG_NS, &v);
    return NULL;
}

/* Fork while another thread waits: the child has the handle but not the
 * waiting thread, and its close returns at once (it waited for a count it
 * copied from the parent, forever: issue 22). The parent's wait goes on. */
Test(wait, forked_child_closes_at_once_while_the_parent_waits)
{
    sharena_arena *a = arena();
    sharena_id n;
    cr_assert_eq(sharena_number_new(a, 0, &n), 0);
    struct waiter w = {a, n, 0, 1};
    cr_assert_eq(sharena_change_count(a, n, &w.last), 0);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, wait_thread, &w), 0);
    sleep_ms(50); /* (most likely asleep in the wait by now; either way) */
    for (int i = 0; i < 5; i++) {
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0) {
            sharena_arena_close(a);
            _exit(0);
        }
        int st = 0;
        pid_t got = 0;
        for (int ms = 0; ms < 20000 && (got = waitpid(pid, &st, WNOHANG)) == 0;
             ms += 5)
            sleep_ms(5); /* a hang bound, not a timing check */
        if (got == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
        }
        cr_expect_eq(got, pid, "the child's close returned");
    }
    cr_assert_eq(sharena_number_set(a, n, 1), 0);
    pthread_join(t, NULL);
    cr_expect_eq(w.r, 0, "the parent's wait saw the write");
    sharena_arena_close(a);
}

/* sharena_lock_timeout(): gives up with ETIMEDOUT (holding nothing) while
 * a live process holds the lock, takes it once the holder died. */
Test(wait, lock_timeout_gives_up_then_takes_a_dead_owners_lock)
{
    sharena_arena *a = arena();
    sharena_id n;
    cr_assert_eq(sharena_number_new(a, 0, &n), 0);
    int ready[2];
    cr_assert_eq(pipe(ready), 0);
    pid_t pid = fork();
    if (pid == 0) {
        if (sharena_lock(a, n) != 0)
            _exit(1);
        (void)!write(ready[1], "x", 1);
        pause();
        _exit(0);
    }
    char c;
    cr_assert_eq(read(ready[0], &c, 1), 1);
    cr_expect_eq(sharena_lock_timeout(a, n, 0), SHARENA_ETIMEDOUT);
    cr_expect_eq(sharena_lock_timeout(a, n, 30 * 1000 * 1000),
                 SHARENA_ETIMEDOUT);
    cr_expect_eq(sharena_unlock(a, n), SHARENA_EPERM, "nothing held");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    cr_expect_eq(sharena_lock_timeout(a, n, LONG_NS), 0);
    cr_expect_eq(sharena_lock_timeout(a, n, 0), SHARENA_EDEADLK);
    cr_expect_eq(sharena_unlock(a, n), 0);
    cr_expect_eq(sharena_lock_timeout(a, n, -1), 0, "negative: no bound");
    cr_expect_eq(sharena_unlock(a, n), 0);
    close(ready[0]);
    close(ready[1]);
    sharena_arena_close(a);
}

/* sharena_version(), the old name of sharena_change_count(), still links
 * and gives the same count (callers get a deprecation warning). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
Test(wait, old_name_sharena_version_is_the_change_count)
{
    sharena_arena *a = arena();
    sharena_id n;
    cr_assert_eq(sharena_number_new(a, 0, &n), 0);
    cr_assert_eq(sharena_number_set(a, n, 1), 0);
    uint64_t c = 0, v = 1;
    cr_assert_eq(sharena_change_count(a, n, &c), 0);
    cr_assert_eq(sharena_version(a, n, &v), 0);
    cr_expect_eq(c, v);
    cr_expect_gt(c, 0);
    cr_expect_eq(sharena_change_count(a, n, NULL), SHARENA_EINVAL);
    sharena_arena_close(a);
}
#pragma GCC diagnostic pop

/* Whether another process can take @p id's lock at once: 0 it could (and
 * gave it back), 1 it is held. */
static int held_elsewhere(sharena_arena *a, sharena_id id)
{
    pid_t pid = fork();
    if (pid == 0) {
        int r = sharena_lock_timeout(a, id, 0);
        _exit(r == SHARENA_ETIMEDOUT ? 1 : r == 0 ? 0 : 2);
    }
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) < 2);
    return WEXITSTATUS(st);
}

/* sharena_lock_nested(): the one deadlock rule. A plain lock of a held lock
 * is EDEADLK; a nested one counts a level; the lock stays held until the
 * outermost unlock; the levels stay with their lock when another lock of
 * the thread is released first. */
Test(wait, nested_lock_counts_levels)
{
    sharena_arena *a = arena();
    sharena_id x, y;
    cr_assert_eq(sharena_number_new(a, 0, &x), 0);
    cr_assert_eq(sharena_number_new(a, 0, &y), 0);
    cr_expect_eq(sharena_lock_nested(a, x, -1), 0, "not held: taken");
    cr_expect_eq(sharena_lock(a, x), SHARENA_EDEADLK);
    cr_expect_eq(sharena_lock_timeout(a, x, 0), SHARENA_EDEADLK);
    cr_expect_eq(sharena_lock_nested(a, x, 0), 0);
    cr_expect_eq(sharena_lock_nested(a, x, -1), 0);
    cr_expect_eq(sharena_number_set(a, x, 1), 0, "writes inside proceed");
    cr_expect_eq(sharena_unlock(a, x), 0);
    cr_expect_eq(sharena_unlock(a, x), 0);
    cr_expect_eq(held_elsewhere(a, x), 1, "one level left: still held");
    cr_expect_eq(sharena_unlock(a, x), 0);
    cr_expect_eq(held_elsewhere(a, x), 0, "outermost unlock released it");
    cr_expect_eq(sharena_unlock(a, x), SHARENA_EPERM);

    /* x, then y nested twice; x released first moves y's entry */
    cr_assert_eq(sharena_lock(a, x), 0);
    cr_assert_eq(sharena_lock(a, y), 0);
    cr_assert_eq(sharena_lock_nested(a, y, -1), 0);
    cr_expect_eq(sharena_unlock(a, x), 0);
    cr_expect_eq(sharena_unlock(a, y), 0);
    cr_expect_eq(held_elsewhere(a, y), 1, "y kept its level");
    cr_expect_eq(sharena_unlock(a, y), 0);
    cr_expect_eq(held_elsewhere(a, y), 0);
    cr_expect_eq(held_elsewhere(a, x), 0);

    cr_expect_eq(sharena_lock_nested(NULL, x, 0), SHARENA_EINVAL);
    cr_expect_eq(sharena_drop(a, y, 0), 0);
    cr_expect_eq(sharena_lock_nested(a, y, 0), SHARENA_ESTALE);
    sharena_arena_close(a);
}
