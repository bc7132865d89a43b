/* Delegated connections live until their holder closes them (DESIGN 10),
 * not until the broker's --hello-timeout; when the broker did close one,
 * the error says so, with the reason. The broker runs with
 * --hello-timeout 1 and the holder first uses its connection 2.5 s later. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker_fixture.h"
#include "proto.h"
#include "sharena.h"

#define CLOSED_BY_BROKER "the broker closed this delegated connection: "

static struct test_broker B;

static void up(void)
{
    cr_assert_eq(test_broker_start(&B, "--hello-timeout", "1", NULL), 0);
}
static void down(void)
{
    cr_expect_eq(test_broker_stop(&B), 0, "broker exited uncleanly");
}

TestSuite(delegate, .init = up, .fini = down, .timeout = 60);

static int wait_child(pid_t pid)
{
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static sharena_conn *conn(void)
{
    sharena_conn *c;
    int r = sharena_connect(B.socket, &c);
    cr_assert_eq(r, 0, "connect: %s", sharena_strerror(r));
    return c;
}

static sharena_arena *create_with_number(sharena_conn *c, const char *name,
                                         double v)
{
    sharena_open_opts o = {.flags = SHARENA_CREATE, .capacity = 1 << 20};
    sharena_arena *a;
    sharena_id n;
    cr_assert_eq(sharena_open(c, name, &o, &a), 0);
    cr_assert_eq(sharena_root_ensure(a, "n", SHARENA_T_NUMBER, 0, &n, NULL), 0);
    cr_assert_eq(sharena_number_set(a, n, v), 0);
    return a;
}

/* A child that starts after the HELLO timeout: its delegated connection
 * still works. A plain connection that stays as silent as long is dropped
 * (so the timeout was in force). */
Test(delegate, outlives_the_hello_timeout)
{
    sharena_conn *c = conn();
    sharena_arena *a = create_with_number(c, "late", 42);
    const char *names[] = {"late"};
    int dfd;
    cr_assert_eq(sharena_delegate(c, names, 1, 0, &dfd), 0);

    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    cr_assert_lt(strlen(B.socket), sizeof sa.sun_path);
    memcpy(sa.sun_path, B.socket, strlen(B.socket) + 1);
    int silent = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    cr_assert_geq(silent, 0);
    cr_assert_eq(connect(silent, (struct sockaddr *)&sa, sizeof sa), 0);

    pid_t pid = fork();
    if (pid == 0) {
        sleep(3); /* starts late: the broker's HELLO timeout is 1 s */
        sharena_conn *cc;
        sharena_arena *aa;
        sharena_id n;
        double d;
        if (sharena_connect_fd(dfd, &cc))
            _exit(1);
        if (sharena_open(cc, "late", NULL, &aa) ||
            sharena_root_get(aa, "n", &n) || sharena_number_get(aa, n, &d) ||
            d != 42)
            _exit(2);
        if (sharena_number_set(aa, n, 43))
            _exit(3);
        sharena_arena_close(aa);
        sharena_disconnect(cc);
        _exit(0);
    }
    close(dfd);
    cr_assert_eq(wait_child(pid), 0, "the late child used its connection");
    sharena_id n;
    double d;
    cr_assert_eq(sharena_root_get(a, "n", &n), 0);
    cr_assert_eq(sharena_number_get(a, n, &d), 0);
    cr_assert_eq(d, 43);

    /* the silent plain connection was dropped by now: EOF */
    char buf[256];
    ssize_t got = recv(silent, buf, sizeof buf, MSG_DONTWAIT);
    cr_assert(got == 0 || (got < 0 && errno == ECONNRESET),
              "a silent plain connection is dropped at the HELLO timeout "
              "(recv: %zd, %s)",
              got, got < 0 ? strerror(errno) : "");
    close(silent);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

/* The broker restarts: a delegated connection from the old one fails with
 * SHARENA_EDROPPED and says so, whether its holder had said HELLO or not;
 * a connection by path reconnects as usual. */
Test(delegate, closed_by_a_broker_restart_says_so)
{
    sharena_conn *c = conn();
    sharena_arena *a = create_with_number(c, "gone", 1);
    const char *names[] = {"gone"};
    int used_fd, unused_fd;
    cr_assert_eq(sharena_delegate(c, names, 1, 0, &used_fd), 0);
    cr_assert_eq(sharena_delegate(c, names, 1, 0, &unused_fd), 0);
    sharena_conn *used;
    cr_assert_eq(sharena_connect_fd(used_fd, &used), 0);
    sharena_arena_close(a);
    sharena_disconnect(c);

    cr_assert_geq(test_broker_restart(&B), 0);

    sharena_arena_stat st;
    int r = sharena_stat(used, "gone", &st);
    cr_assert_eq(r, SHARENA_EDROPPED, "%s", sharena_strerror(r));
    const char *msg = sharena_strerror(r);
    cr_assert(strncmp(msg, CLOSED_BY_BROKER, strlen(CLOSED_BY_BROKER)) == 0,
              "%s", msg);
    cr_assert(strstr(msg, "exited or restarted"), "%s", msg);
    r = sharena_stat(used, "gone", &st);
    cr_assert_eq(r, SHARENA_EDROPPED, "again: %s", sharena_strerror(r));
    sharena_disconnect(used);

    sharena_conn *late;
    r = sharena_connect_fd(unused_fd, &late);
    cr_assert_eq(r, SHARENA_EDROPPED, "%s", sharena_strerror(r));
    cr_assert(strstr(sharena_strerror(r), CLOSED_BY_BROKER), "%s",
              sharena_strerror(r));
    cr_assert_str_eq(sharena_errname(r), "EDROPPED");
}

/* A broker that closes a delegated connection with a reason (an ERROR
 * numbered 0 sent first): the error carries it. The "broker" here is the
 * test, on the other end of a socketpair. */
Test(delegate, reason_sent_before_closing_is_reported)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    struct sharena__msg_error e;
    sharena__proto_error(&e, 0, SHARENA_ETIMEDOUT,
                         "not used within its 30 s lifetime");
    cr_assert_eq(send(sv[0], &e, sizeof e, 0), (ssize_t)sizeof e);
    close(sv[0]);
    sharena_conn *c;
    int r = sharena_connect_fd(sv[1], &c);
    cr_assert_eq(r, SHARENA_EDROPPED, "%s", sharena_strerror(r));
    cr_assert_str_eq(sharena_strerror(r),
                     CLOSED_BY_BROKER "not used within its 30 s lifetime");
}

/* A socket connected by path and adopted with sharena_connect_fd() is no
 * delegated connection: when nothing answers, it is ECONNREFUSED as for
 * sharena_connect(). */
Test(delegate, adopted_path_socket_is_not_called_delegated)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    cr_assert_lt(strlen(B.socket), sizeof sa.sun_path);
    memcpy(sa.sun_path, B.socket, strlen(B.socket) + 1);
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    cr_assert_geq(s, 0);
    cr_assert_eq(connect(s, (struct sockaddr *)&sa, sizeof sa), 0);
    sleep(3); /* the broker drops it at its HELLO timeout of 1 s */
    sharena_conn *c;
    int r = sharena_connect_fd(s, &c);
    cr_assert_eq(r, SHARENA_ECONNREFUSED, "%s", sharena_strerror(r));
}
