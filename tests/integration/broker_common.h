/* broker_common.h: what the broker integration tests (broker_*.c) share:
 * a real sharenad on a private socket per test (tests/support/broker_fixture.h),
 * and helpers to connect, create arenas and wait for children. Each
 * broker_*.c is its own program and ctest test; the suites keep the names
 * (broker/..., broker_fds/..., ...) that docs/security.md cites. */
#ifndef SHARENA_TEST_BROKER_COMMON_H
#define SHARENA_TEST_BROKER_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <criterion/criterion.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker_fixture.h"
#include "internal.h"
#include "proto.h"
#include "sharena.h"
#include "sharena_broker.h"

static struct test_broker B;

static inline void up(void)
{
    cr_assert_eq(test_broker_start(&B, NULL), 0);
}
static inline void down(void)
{
    cr_expect_eq(test_broker_stop(&B), 0, "broker exited uncleanly");
}

static inline sharena_conn *conn(void)
{
    sharena_conn *c;
    int r = sharena_connect(B.socket, &c);
    cr_assert_eq(r, 0, "connect: %s", sharena_strerror(r));
    return c;
}

static inline sharena_arena *create(sharena_conn *c, const char *name,
                                    uint32_t mode)
{
    sharena_open_opts o = {
        .flags = SHARENA_CREATE, .capacity = 1 << 20, .mode = mode};
    sharena_arena *a;
    int r = sharena_open(c, name, &o, &a);
    cr_assert_eq(r, 0, "open %s: %s", name, sharena_strerror(r));
    return a;
}

/* Connect, retrying while the broker has not yet seen that a place came
 * free (a hang guard of ~5 s); NULL if it never lets us in. */
static inline sharena_conn *conn_eventually(void)
{
    sharena_conn *c = NULL;
    for (int i = 0; i < 500 && sharena_connect(B.socket, &c) != 0; i++)
        usleep(10000);
    return c;
}

static inline int wait_child(pid_t pid)
{
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static inline int raw_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    cr_assert_lt(strlen(path), sizeof(sa.sun_path), "socket path too long");
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static inline int count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    int n = 0;
    DIR *d = opendir(path);
    cr_assert_not_null(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* Wait (a hang guard of @p tries x 10 ms, not a timing check) until the
 * broker holds no more descriptors than @p before; what it holds then. */
static inline int broker_fds_back_to(int before, int tries)
{
    int now = 0;
    for (int i = 0; i < tries; i++) {
        if ((now = count_fds(B.pid)) <= before)
            break;
        usleep(10000);
    }
    return now;
}

#endif
