/* Broker integration tests, file descriptors: many and silent peers leak
 * none, running out of descriptors waits without spinning, start-up raises
 * the soft descriptor limit.
 * A real sharenad on a private socket per test, real memfds, real processes
 * (fork), real credentials (setuid when root). */
#include "broker_common.h"

TestSuite(broker, .init = up, .fini = down, .timeout = 60);

/* 500 connections at once, some silent, some half-open: the broker keeps
 * serving, and once they are gone it holds no more descriptors than
 * before. */
Test(broker, many_and_silent_peers_leak_nothing)
{
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "busy", 0);
    int before = count_fds(B.pid);
    enum { N = 500 };
    static int fds[N];
    for (int i = 0; i < N; i++) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        memcpy(sa.sun_path, B.socket, strlen(B.socket) + 1);
        fds[i] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        cr_assert_geq(fds[i], 0);
        cr_assert_eq(connect(fds[i], (struct sockaddr *)&sa, sizeof sa), 0,
                     "connection %d: %s", i, strerror(errno));
        if (i % 3 == 1)
            shutdown(fds[i], SHUT_WR); /* half-open */
    }
    /* served meanwhile */
    sharena_arena_stat st;
    cr_assert_eq(sharena_stat(c, "busy", &st), 0);
    sharena_conn *other = conn();
    sharena_disconnect(other);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    /* the broker notices every close */
    int now = broker_fds_back_to(before, 1000);
    cr_assert_leq(now, before, "broker fds: %d before, %d after", before, now);
    cr_assert_eq(sharena_stat(c, "busy", &st), 0);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

static long cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    cr_assert_not_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* fields after the command, which is in parentheses: 14 utime, 15 stime */
    char *p = strrchr(buf, ')');
    cr_assert_not_null(p);
    long ut = 0, st = 0;
    cr_assert_eq(sscanf(p + 2,
                        "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                        "%ld %ld",
                        &ut, &st),
                 2);
    return ut + st;
}

static int highest_fd(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    cr_assert_not_null(d);
    int max = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (atoi(e->d_name) > max)
            max = atoi(e->d_name);
    closedir(d);
    return max;
}

/* Out of file descriptors, the broker stops accepting (the connections
 * wait in the backlog) instead of waking up for them again and again; it
 * serves the clients it has, and accepts again once descriptors are free.
 * Busy-looping is told from waiting by the CPU time the broker uses in a
 * second (a spinning loop uses all of it). */
Test(broker_fds, out_of_descriptors_waits_without_spinning, .timeout = 60)
{
    cr_assert_eq(test_broker_start(&B, NULL), 0);
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "still", 0);
    int top = highest_fd(B.pid);
    struct rlimit old;
    cr_assert_eq(prlimit(B.pid, RLIMIT_NOFILE, NULL, &old), 0);
    struct rlimit rl = {(rlim_t)top + 6, old.rlim_max}; /* room for 5 more */
    cr_assert_eq(prlimit(B.pid, RLIMIT_NOFILE, &rl, NULL), 0, "%s",
                 strerror(errno));
    enum { N = 40 };
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = raw_connect(B.socket);
    sharena_arena_stat st;
    cr_assert_eq(sharena_stat(c, "still", &st), 0, "served");
    usleep(200000);
    long t0 = cpu_ticks(B.pid);
    sleep(1);
    long used = cpu_ticks(B.pid) - t0;
    cr_expect_lt(used, sysconf(_SC_CLK_TCK) / 2,
                 "the broker used %ld of %ld ticks in a second", used,
                 sysconf(_SC_CLK_TCK));
    cr_assert_eq(sharena_stat(c, "still", &st), 0, "still served");
    for (int i = 0; i < N; i++)
        close(fds[i]);
    cr_assert_eq(prlimit(B.pid, RLIMIT_NOFILE, &old, NULL), 0);
    sharena_conn *later = conn_eventually(); /* it resumes within a second */
    cr_assert_not_null(later, "accepting again");
    sharena_disconnect(later);
    sharena_arena_close(a);
    sharena_disconnect(c);
    cr_expect_eq(test_broker_stop(&B), 0);
}

/* The broker takes the hard limit on descriptors (at most 2^20) at
 * start-up, whatever soft limit it inherits: the usual soft 1024 is what
 * one uid's --max-clients alone allows. */
Test(broker_fds, start_up_raises_the_soft_descriptor_limit, .timeout = 60)
{
    struct rlimit old, low;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    if (old.rlim_max < 1024)
        cr_skip_test("hard descriptor limit %lu", (unsigned long)old.rlim_max);
    low = (struct rlimit){256, old.rlim_max};
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    int r = test_broker_start(&B, NULL); /* inherits the low soft limit */
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    cr_assert_eq(r, 0);
    struct rlimit now;
    cr_assert_eq(prlimit(B.pid, RLIMIT_NOFILE, NULL, &now), 0);
    rlim_t want = old.rlim_max > (1u << 20) ? (1u << 20) : old.rlim_max;
    cr_expect_eq(now.rlim_cur, want, "soft limit %lu, hard %lu",
                 (unsigned long)now.rlim_cur, (unsigned long)now.rlim_max);
    cr_expect_eq(test_broker_stop(&B), 0);
}
