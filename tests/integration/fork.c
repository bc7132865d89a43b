/* A forked child does not keep its dead parent's locks held (DESIGN 10):
 * the child's copy of the parent's broker connection is closed at fork, so
 * when the parent is killed holding a lock, the broker sees it go at once
 * and a third process's write completes while the child still lives.
 *
 * Each case: a parent process P (forked by the test, so that it can be
 * SIGKILLed) connects, opens arenas and holds a lock; P forks a child C that
 * lives on; the test kills P; a writer W (a fresh process with a connection
 * of its own) writes the locked object. W is given a hang guard of 10 s:
 * before the fork handler existed it blocked until C exited. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker_fixture.h"
#include "sharena.h"

static struct test_broker B;

static void up(void)
{
    cr_assert_eq(test_broker_start(&B, NULL), 0);
}
static void down(void)
{
    cr_expect_eq(test_broker_stop(&B), 0, "broker exited uncleanly");
}

TestSuite(fork, .init = up, .fini = down, .timeout = 120);

static int wait_child(pid_t pid)
{
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* waitpid with a hang guard: the exit status, or -1 when @p pid had not
 * exited after @p secs seconds (then it is killed and reaped). */
static int wait_child_for(pid_t pid, int secs)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec >= secs) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        usleep(10000);
    }
}

static int count_lock(void *ctx, const sharena_lock_info *info)
{
    (void)info;
    ++*(int *)ctx;
    return 0;
}

/* Locks held in arena @p name, as `sharena locks` lists them. */
static int held_locks(const char *name)
{
    sharena_conn *c;
    sharena_arena *a;
    cr_assert_eq(sharena_connect(B.socket, &c), 0);
    cr_assert_eq(sharena_open(c, name, NULL, &a), 0);
    int n = 0;
    cr_assert_eq(sharena_locks(a, count_lock, &n), 0);
    sharena_arena_close(a);
    sharena_disconnect(c);
    return n;
}

/* A writer in a process of its own: sets key "after" of root map "m" in
 * arena @p name. Its exit status, or -1 if it was still blocked after 10 s. */
static int write_from_third_process(const char *name)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        sharena_conn *c;
        sharena_arena *a;
        sharena_id m;
        if (sharena_connect(B.socket, &c) || sharena_open(c, name, NULL, &a) ||
            sharena_root_get(a, "m", &m))
            _exit(2);
        int r = sharena_map_set_number(a, m, "after", 5, 7);
        _exit(r == 0 ? 0 : 3);
    }
    return wait_child_for(pid, 10);
}

/* Does the process holding the write end of @p rfd still live? (Nobody
 * writes: POLLHUP means its last holder exited.) */
static bool still_lives(int rfd)
{
    struct pollfd p = {.fd = rfd, .events = POLLIN};
    return poll(&p, 1, 0) == 0;
}

enum { FORK_BEFORE_LOCK, FORK_INSIDE_LOCK, FORK_FROM_THREADS };

struct busy {
    sharena_conn *c;
    const char *name;
    volatile bool stop;
};

/* Another thread of P that keeps requests in flight on the connection
 * (its mutex held) while P forks. */
static void *busy_requests(void *arg)
{
    struct busy *b = arg;
    sharena_arena_stat st;
    while (!b->stop)
        (void)sharena_stat(b->c, b->name, &st);
    return NULL;
}

/* P: open @p name (and a second arena on the same connection), lock map
 * "m" in both, fork C the way @p how says, tell the test C's pid on
 * @p ready and wait to be killed. C reports on @p ready too, then lives
 * until the test closes @p hold: it holds @p alive open while it lives. */
static void parent_process(const char *name, int how, int ready, int hold,
                           int alive)
{
    sharena_conn *c;
    sharena_arena *a, *b;
    sharena_open_opts o = {.flags = SHARENA_CREATE, .capacity = 1 << 20};
    sharena_id m, bm;
    char other[64];
    snprintf(other, sizeof other, "%s.other", name);
    if (sharena_connect(B.socket, &c) || sharena_open(c, name, &o, &a) ||
        sharena_open(c, other, &o, &b) ||
        sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL) ||
        sharena_root_ensure(b, "m", SHARENA_T_MAP, 0, &bm, NULL))
        _exit(20);
    struct busy busy = {.c = c, .name = name};
    pthread_t th;
    if (how == FORK_FROM_THREADS &&
        pthread_create(&th, NULL, busy_requests, &busy) != 0)
        _exit(21);
    if (how != FORK_INSIDE_LOCK && how != FORK_FROM_THREADS) {
        pid_t pid = fork();
        if (pid == 0)
            goto child;
    }
    if (sharena_lock(a, m) || sharena_lock(b, bm))
        _exit(22);
    if (how == FORK_INSIDE_LOCK || how == FORK_FROM_THREADS) {
        /* with threads: fork many times while the other thread's requests
         * hold the connection's mutex; each child must get a usable
         * connection (no mutex left locked) */
        int forks = how == FORK_FROM_THREADS ? 20 : 1;
        for (int i = 0; i < forks - 1; i++) {
            pid_t k = fork();
            if (k == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                sharena_arena_stat st;
                _exit(sharena_stat(c, name, &st) == 0 ? 0 : 1);
            }
            int st;
            if (k < 0 || waitpid(k, &st, 0) != k || !WIFEXITED(st) ||
                WEXITSTATUS(st) != 0)
                _exit(23);
        }
        pid_t pid = fork();
        if (pid == 0)
            goto child;
    }
    (void)!write(ready, "P", 1);
    for (;;)
        pause();
child:
    (void)alive; /* inherited: held open for as long as C lives */
    (void)!write(ready, "C", 1);
    char ch;
    (void)!read(hold, &ch, 1); /* never touches sharena; ends at EOF */
    _exit(0);
}

static void killed_parent_child_lives(const char *name, int how)
{
    int ready[2], hold[2], alive[2];
    cr_assert_eq(pipe(ready), 0);
    cr_assert_eq(pipe(hold), 0);
    cr_assert_eq(pipe(alive), 0);
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) {
        /* P ends with the test even when the test fails (C ends at EOF
         * on hold) */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(ready[0]);
        close(hold[1]);
        close(alive[0]);
        parent_process(name, how, ready[1], hold[0], alive[1]);
    }
    close(ready[1]);
    close(hold[0]);
    close(alive[1]);
    char got[2] = {0, 0};
    cr_assert_eq(read(ready[0], &got[0], 1), 1);
    cr_assert_eq(read(ready[0], &got[1], 1), 1, "P and C both ready");
    cr_assert(got[0] != got[1]);
    cr_assert_eq(held_locks(name), 1, "P holds the lock");
    kill(p, SIGKILL);
    cr_assert_eq(wait_child(p), 128 + SIGKILL);
    cr_assert(still_lives(alive[0]), "C lives on after P's death");

    cr_assert_eq(write_from_third_process(name), 0,
                 "a third process's write completes while the child lives "
                 "(-1: still blocked after 10 s)");
    cr_assert(still_lives(alive[0]), "C still lives");
    cr_assert_eq(held_locks(name), 0, "nothing is held afterwards");
    char other[64];
    snprintf(other, sizeof other, "%s.other", name);
    /* the second arena on the same connection: recovered too */
    int r = 0;
    {
        pid_t w = fork();
        if (w == 0) {
            sharena_conn *c;
            sharena_arena *a;
            sharena_id m;
            if (sharena_connect(B.socket, &c) ||
                sharena_open(c, other, NULL, &a) ||
                sharena_root_get(a, "m", &m))
                _exit(2);
            _exit(sharena_map_set_number(a, m, "after", 5, 1) ? 3 : 0);
        }
        r = wait_child_for(w, 10);
    }
    cr_assert_eq(r, 0, "the other arena's lock was recovered too");
    cr_assert_eq(held_locks(other), 0);
    cr_assert(still_lives(alive[0]), "C still lives");
    close(hold[1]); /* C exits */
    char ch;
    cr_assert_eq(read(alive[0], &ch, 1), 0, "C exited");
    close(ready[0]);
    close(alive[0]);
}

Test(fork, child_forked_before_the_lock_does_not_keep_it)
{
    killed_parent_child_lives("fork-before", FORK_BEFORE_LOCK);
}

Test(fork, child_forked_inside_a_locked_block_does_not_keep_it)
{
    killed_parent_child_lives("fork-inside", FORK_INSIDE_LOCK);
}

Test(fork, fork_while_other_threads_use_the_connection)
{
    killed_parent_child_lives("fork-threads", FORK_FROM_THREADS);
}

/* A child that never uses sharena never talks to the broker: the broker
 * does not count it among the arena's clients; one that does gets a slot
 * of its own through a new connection, and the parent's is intact. */
Test(fork, quiet_child_is_not_a_client_busy_child_gets_its_own)
{
    sharena_conn *c;
    sharena_arena *a;
    sharena_open_opts o = {.flags = SHARENA_CREATE, .capacity = 1 << 20};
    cr_assert_eq(sharena_connect(B.socket, &c), 0);
    cr_assert_eq(sharena_open(c, "quiet", &o, &a), 0);
    uint32_t slot = sharena_conn_slot(c);
    int hold[2];
    cr_assert_eq(pipe(hold), 0);
    pid_t quiet = fork();
    if (quiet == 0) {
        close(hold[1]);
        char ch;
        (void)!read(hold[0], &ch, 1);
        _exit(0);
    }
    close(hold[0]);
    sharena_arena_stat st;
    cr_assert_eq(sharena_stat(c, "quiet", &st), 0);
    cr_assert_eq(st.clients, 1, "the quiet child is no client");
    pid_t busy = fork();
    if (busy == 0) {
        sharena_id n;
        if (sharena_root_ensure(a, "n", SHARENA_T_NUMBER, 0, &n, NULL))
            _exit(1);
        if (sharena_conn_slot(c) == slot || sharena_conn_slot(c) == 0)
            _exit(2);
        if (sharena_stat(c, "quiet", &st) || st.clients != 2)
            _exit(3);
        _exit(0);
    }
    cr_assert_eq(wait_child(busy), 0);
    close(hold[1]);
    cr_assert_eq(wait_child(quiet), 0);
    cr_assert_eq(sharena_stat(c, "quiet", &st), 0, "the parent's connection");
    cr_assert_eq(sharena_conn_slot(c), slot);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

struct connector {
    volatile bool stop;
    int made;
};

static void *connect_loop(void *arg)
{
    struct connector *k = arg;
    while (!k->stop) {
        sharena_conn *c;
        if (sharena_connect(B.socket, &c) == 0) {
            k->made++;
            sharena_disconnect(c);
        }
    }
    return NULL;
}

/* Does this process hold a socket connected to the broker? (Async-signal-
 * safe: for a child of a threaded process.) */
static bool holds_broker_socket(void)
{
    for (int fd = 0; fd < 1024; fd++) {
        struct sockaddr_un sa;
        socklen_t sl = sizeof sa;
        if (getpeername(fd, (struct sockaddr *)&sa, &sl) == 0 &&
            sa.sun_family == AF_UNIX &&
            sl > offsetof(struct sockaddr_un, sun_path) &&
            strncmp(sa.sun_path, B.socket, sizeof sa.sun_path) == 0)
            return true;
    }
    return false;
}

/* fork() while other threads connect (a socket made but its connection not
 * yet listed) and use connections: no child keeps a socket to the broker. */
Test(fork, no_child_keeps_a_socket_of_a_connect_in_flight)
{
    struct connector k = {0};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, connect_loop, &k), 0);
    int kept = 0, forks = 0;
    for (int i = 0; i < 200 && kept == 0; i++) {
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0)
            _exit(holds_broker_socket() ? 1 : 0);
        forks++;
        if (wait_child(pid) != 0)
            kept++;
    }
    k.stop = true;
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    cr_assert_gt(k.made, 0, "the threads connected");
    cr_assert_eq(kept, 0,
                 "a child forked while threads connect holds no "
                 "broker socket (%d of %d did)",
                 kept, forks);
}
