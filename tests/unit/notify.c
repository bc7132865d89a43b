/* Unit tests of the pollable notifier (notify.c): a write in another
 * process makes the fd readable; 100k writes lose no wake-up; arena close
 * wakes it; read-only handles are refused; the arena's waiters count is
 * back to 0 whenever no wait is queued; SHARENA_NO_IO_URING forces a clean
 * SHARENA_ENOSYS. Each Criterion test runs in its own process. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h" /* the header's change_waiters */

/* How long a wake-up that must come may take before the test calls it
 * lost: a hang bound, not a latency threshold. */
#define GRACE_MS 10000

static void need_notifier(void)
{
    int r = sharena_notifier_supported();
    if (r == SHARENA_ENOSYS)
        cr_skip_test("io_uring futex wait unavailable here (Linux < 6.7, "
                     "sandbox or sysctl)");
    cr_assert_eq(r, 0, "%s", sharena_strerror(r));
}

static uint32_t waiters(sharena_arena *a)
{
    return __atomic_load_n(&sharena__hdr(a)->change_waiters, __ATOMIC_SEQ_CST);
}

static uint32_t version32(sharena_arena *a)
{
    uint64_t v;
    cr_assert_eq(sharena_arena_version(a, &v), 0);
    return (uint32_t)v;
}

static int poll_in(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r;
    do
        r = poll(&p, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    cr_assert_geq(r, 0);
    return r > 0 && (p.revents & POLLIN);
}

static void join(pid_t pid)
{
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
}

Test(notify, forked_writer_wakes_poll, .timeout = 60)
{
    need_notifier();
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("notify-fork", 1 << 20, &a), 0);
    sharena_id n;
    cr_assert_eq(sharena_root_ensure(a, "n", SHARENA_T_NUMBER, 0, &n, NULL), 0);
    sharena_notifier *no;
    cr_assert_eq(sharena_notifier_open(a, &no), 0);
    int fd = sharena_notifier_fd(no);
    cr_assert_geq(fd, 0);
    uint32_t seen = version32(a);
    cr_assert_eq(sharena_notifier_arm(no, &seen), 0);
    cr_assert_eq(waiters(a), 1);
    cr_assert_eq(poll_in(fd, 0), 0, "readable before any write");
    pid_t pid = fork();
    if (pid == 0)
        _exit(sharena_number_set(a, n, 42) == 0 ? 0 : 1);
    cr_assert_eq(poll_in(fd, GRACE_MS), 1, "no wake-up");
    join(pid);
    uint32_t before = seen;
    cr_assert_eq(sharena_notifier_arm(no, &seen), 1);
    cr_assert_neq(seen, before);
    cr_assert_eq(seen, version32(a));
    cr_assert_eq(waiters(a), 0, "the completed wait left change_waiters");
    /* nothing moved since: armed again, and not readable */
    cr_assert_eq(sharena_notifier_arm(no, &seen), 0);
    cr_assert_eq(poll_in(fd, 0), 0);
    cr_assert_eq(waiters(a), 1);
    /* arming twice queues one wait, not two */
    cr_assert_eq(sharena_notifier_arm(no, &seen), 0);
    cr_assert_eq(waiters(a), 1);
    sharena_notifier_close(no);
    cr_assert_eq(waiters(a), 0);
    sharena_arena_close(a);
}

/* A writer process makes 100k changes; this process re-arms and polls
 * with a timeout after each wake-up. A timeout while the counter already
 * differs from the armed value is a candidate lost wake-up: it is one if
 * the fd does not turn readable within a generous grace (a writer bumps
 * the counter and calls FUTEX_WAKE a few instructions apart). */
Test(notify, no_lost_wakeup_in_100k_changes, .timeout = 240)
{
    need_notifier();
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("notify-100k", 1 << 20, &a), 0);
    sharena_id n;
    cr_assert_eq(sharena_root_ensure(a, "n", SHARENA_T_NUMBER, 0, &n, NULL), 0);
    sharena_notifier *no;
    cr_assert_eq(sharena_notifier_open(a, &no), 0);
    int fd = sharena_notifier_fd(no);
    enum { N = 100000 };
    uint32_t seen = version32(a);
    cr_assert_eq(sharena_notifier_arm(no, &seen), 0);
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 1; i <= N; i++)
            if (sharena_number_set(a, n, i))
                _exit(1);
        _exit(0);
    }
    unsigned wakeups = 0, timeouts = 0, lost = 0;
    double value = 0;
    while (value < N) {
        int r = sharena_notifier_arm(no, &seen);
        cr_assert_geq(r, 0, "%s", sharena_strerror(r));
        if (r == 1) {
            wakeups++;
            cr_assert_eq(sharena_number_get(a, n, &value), 0);
            continue;
        }
        if (poll_in(fd, 100))
            continue;
        timeouts++;
        if (version32(a) != seen && !poll_in(fd, GRACE_MS))
            lost++;
        cr_assert_eq(lost, 0, "lost a wake-up after %u wake-ups", wakeups);
        cr_assert_eq(sharena_number_get(a, n, &value), 0);
    }
    join(pid);
    cr_log_info("%u wake-ups, %u timeouts", wakeups, timeouts);
    cr_assert_eq(lost, 0, "%u lost wake-ups (%u timeouts, %u wake-ups)", lost,
                 timeouts, wakeups);
    cr_assert_eq(value, N);
    cr_assert_gt(wakeups, 0);
    /* the last write's wake-up, if still queued, is reaped here */
    while (sharena_notifier_arm(no, &seen) == 1)
        ;
    cr_assert_eq(seen, version32(a));
    cr_assert_eq(waiters(a), 1);
    sharena_notifier_close(no);
    cr_assert_eq(waiters(a), 0);
    sharena_arena_close(a);
}

Test(notify, arena_close_wakes_and_unregisters, .timeout = 60)
{
    need_notifier();
    sharena_arena *a, *other;
    cr_assert_eq(sharena_arena_create("notify-close", 1 << 20, &a), 0);
    /* a second handle on the same memory, to look at the header after the
     * first one is gone */
    int fd2 = dup(sharena_arena_fd(a));
    cr_assert_geq(fd2, 0);
    cr_assert_eq(sharena_arena_from_fd(fd2, 0, &other), 0);
    sharena_notifier *n1, *n2;
    cr_assert_eq(sharena_notifier_open(a, &n1), 0);
    cr_assert_eq(sharena_notifier_open(a, &n2), 0);
    uint32_t s1 = version32(a), s2 = s1;
    cr_assert_eq(sharena_notifier_arm(n1, &s1), 0);
    cr_assert_eq(sharena_notifier_arm(n2, &s2), 0);
    cr_assert_eq(waiters(other), 2);
    sharena_arena_close(a);
    cr_assert_eq(waiters(other), 0, "arena close left change_waiters");
    cr_assert_eq(poll_in(sharena_notifier_fd(n1), GRACE_MS), 1);
    cr_assert_eq(poll_in(sharena_notifier_fd(n2), GRACE_MS), 1);
    cr_assert_eq(sharena_notifier_arm(n1, &s1), SHARENA_ECLOSED);
    cr_assert_eq(sharena_notifier_arm(n1, &s1), SHARENA_ECLOSED);
    /* still readable: a loop that polls again sees it again */
    cr_assert_eq(poll_in(sharena_notifier_fd(n1), 0), 1);
    sharena_notifier_close(n1);
    sharena_notifier_close(n2);
    /* writes through the other handle after all this pay no wake */
    sharena_id x;
    cr_assert_eq(sharena_root_ensure(other, "x", SHARENA_T_NUMBER, 0, &x, NULL),
                 0);
    cr_assert_eq(waiters(other), 0);
    sharena_arena_close(other);
}

Test(notify, close_while_armed_then_fds_are_released, .timeout = 60)
{
    need_notifier();
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("notify-fds", 1 << 20, &a), 0);
    int probe = dup(0);
    cr_assert_geq(probe, 0);
    close(probe);
    for (int i = 0; i < 50; i++) {
        sharena_notifier *no;
        cr_assert_eq(sharena_notifier_open(a, &no), 0);
        uint32_t seen = version32(a);
        cr_assert_eq(sharena_notifier_arm(no, &seen), 0);
        sharena_notifier_close(no);
    }
    int after = dup(0);
    cr_assert_eq(after, probe, "fds leaked: next fd %d, was %d", after, probe);
    close(after);
    cr_assert_eq(waiters(a), 0);
    sharena_arena_close(a);
}

Test(notify, readonly_handle_refused, .timeout = 30)
{
    need_notifier();
    sharena_arena *a, *ro;
    cr_assert_eq(sharena_arena_create("notify-ro", 1 << 20, &a), 0);
    int fd = dup(sharena_arena_fd(a));
    cr_assert_eq(sharena_arena_from_fd(fd, SHARENA_READONLY, &ro), 0);
    sharena_notifier *no = (sharena_notifier *)&fd; /* must be reset */
    cr_assert_eq(sharena_notifier_open(ro, &no), SHARENA_EROFS);
    cr_assert_null(no);
    cr_assert_eq(waiters(a), 0);
    sharena_arena_close(ro);
    sharena_arena_close(a);
}

Test(notify, env_var_forces_clean_enosys, .timeout = 30)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("notify-off", 1 << 20, &a), 0);
    cr_assert_eq(setenv("SHARENA_NO_IO_URING", "1", 1), 0);
    cr_assert_eq(sharena_notifier_supported(), SHARENA_ENOSYS);
    sharena_notifier *no = (sharena_notifier *)a;
    cr_assert_eq(sharena_notifier_open(a, &no), SHARENA_ENOSYS);
    cr_assert_null(no);
    cr_assert_str_eq(sharena_errname(SHARENA_ENOSYS), "ENOSYS");
    cr_assert_eq(waiters(a), 0);
    /* "0" and "" mean not set */
    cr_assert_eq(setenv("SHARENA_NO_IO_URING", "0", 1), 0);
    int r = sharena_notifier_supported();
    cr_assert(r == 0 || r == SHARENA_ENOSYS);
    if (r == 0) {
        cr_assert_eq(sharena_notifier_open(a, &no), 0);
        sharena_notifier_close(no);
    }
    /* the fallback still works: a blocking wait sees a change */
    uint64_t v0, v1;
    cr_assert_eq(sharena_arena_version(a, &v0), 0);
    sharena_id x;
    cr_assert_eq(sharena_root_ensure(a, "x", SHARENA_T_NUMBER, 0, &x, NULL), 0);
    cr_assert_eq(sharena_wait_any(a, v0, 0, &v1), 0);
    cr_assert_neq(v0, v1);
    sharena_arena_close(a);
}

Test(notify, bad_arguments, .timeout = 30)
{
    sharena_notifier *no;
    uint32_t seen = 0;
    cr_assert_eq(sharena_notifier_open(NULL, &no), SHARENA_EINVAL);
    cr_assert_eq(sharena_notifier_fd(NULL), SHARENA_EINVAL);
    cr_assert_eq(sharena_notifier_arm(NULL, &seen), SHARENA_EINVAL);
    sharena_notifier_close(NULL);
}

/* A forked child inherits the notifier (same ring, same eventfd, the
 * parent's queued wait). Its copy must not be armed, and closing it -- or
 * the arena -- in the child must leave the parent registered and wakeable. */
Test(notify, forked_child_leaves_the_parents_wait_alone, .timeout = 60)
{
    need_notifier();
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("notify-forkcopy", 1 << 20, &a), 0);
    sharena_id n;
    cr_assert_eq(sharena_root_ensure(a, "n", SHARENA_T_NUMBER, 0, &n, NULL), 0);
    sharena_notifier *no;
    cr_assert_eq(sharena_notifier_open(a, &no), 0);
    uint32_t seen = version32(a);
    cr_assert_eq(sharena_notifier_arm(no, &seen), 0);
    cr_assert_eq(waiters(a), 1);
    pid_t pid = fork();
    if (pid == 0) {
        uint32_t s = seen;
        int bad = sharena_notifier_arm(no, &s) != SHARENA_EPERM;
        sharena_notifier_close(no);
        sharena_arena_close(a); /* the mapping stays: fork copied it */
        _exit(bad);
    }
    join(pid);
    cr_assert_eq(waiters(a), 1, "the child's close unregistered the parent");
    cr_assert_eq(poll_in(sharena_notifier_fd(no), 0), 0);
    pid = fork();
    if (pid == 0)
        _exit(sharena_number_set(a, n, 1) == 0 ? 0 : 1);
    cr_assert_eq(poll_in(sharena_notifier_fd(no), GRACE_MS), 1, "no wake-up");
    join(pid);
    cr_assert_eq(sharena_notifier_arm(no, &seen), 1);
    sharena_notifier_close(no);
    cr_assert_eq(waiters(a), 0);
    sharena_arena_close(a);
}

/* A process that exits (exit(), as Node's process.exit and Python's
 * sys.exit end in) with a wait queued takes its count back: otherwise every
 * writer would pay a futex wake per write for good. */
Test(notify, exit_with_a_wait_queued_unregisters, .timeout = 60)
{
    need_notifier();
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("notify-exit", 1 << 20, &a), 0);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        sharena_notifier *no;
        uint32_t seen = version32(a);
        if (sharena_notifier_open(a, &no) || sharena_notifier_arm(no, &seen))
            _exit(1);
        (void)!write(p[1], "A", 1);
        exit(0); /* no close, no arena close: the exit hook */
    }
    char ch;
    cr_assert_eq(read(p[0], &ch, 1), 1);
    join(pid);
    cr_assert_eq(waiters(a), 0, "the exited process still counts as a waiter");
    sharena_arena_close(a);
}
