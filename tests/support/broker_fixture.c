/* broker_fixture.c: see broker_fixture.h. */
#define _GNU_SOURCE
#include "broker_fixture.h"
#include "sharena.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *test_sharenad_path(void)
{
    const char *env = getenv("SHARENA_SHARENAD");
    return env && *env ? env : SHARENA_SHARENAD_PATH;
}

static int can_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return 0;
    memcpy(sa.sun_path, path, strlen(path));
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* Start sharenad on b->socket with b->args and wait until it accepts. */
static int spawn(struct test_broker *b)
{
    const char *argv[4 + TEST_BROKER_MAX_ARGS + 1] = {
        test_sharenad_path(), "--foreground", "--socket", b->socket};
    int argc = 4;
    for (int i = 0; i < b->nargs; i++)
        argv[argc++] = b->args[i];
    argv[argc] = NULL;
    b->pid = fork();
    if (b->pid < 0)
        return -1;
    if (b->pid == 0) {
        /* A test that fails an assertion exits without stopping its
         * broker: the broker dies with it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1)
            _exit(126);
        execv(argv[0], (char **)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    for (int i = 0; i < 500; i++) { /* up to 5 s */
        if (can_connect(b->socket))
            return 0;
        int st;
        if (waitpid(b->pid, &st, WNOHANG) == b->pid) {
            fprintf(stderr, "sharenad exited during start-up (%d)\n", st);
            b->pid = 0;
            return -1;
        }
        usleep(10000);
    }
    fprintf(stderr, "sharenad did not start listening on %s\n", b->socket);
    return -1;
}

/* Directories of brokers not stopped yet, removed at exit by the process
 * that made them (a test that fails an assertion never reaches its stop;
 * its broker dies with it, PR_SET_PDEATHSIG, but leaves its state files). */
#define LEFT_MAX 16
static struct {
    char dir[sizeof(((struct test_broker *)0)->dir)];
    pid_t owner;
} left[LEFT_MAX];

static void remove_dir(const char *dir)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

static void remove_left(void)
{
    for (int i = 0; i < LEFT_MAX; i++)
        if (left[i].dir[0] && left[i].owner == getpid()) {
            remove_dir(left[i].dir);
            left[i].dir[0] = 0;
        }
}

static void left_add(const char *dir)
{
    static bool registered;
    if (!registered)
        registered = atexit(remove_left) == 0;
    for (int i = 0; i < LEFT_MAX; i++)
        if (!left[i].dir[0]) {
            snprintf(left[i].dir, sizeof left[i].dir, "%s", dir);
            left[i].owner = getpid();
            return;
        }
}

static void left_remove(const char *dir)
{
    for (int i = 0; i < LEFT_MAX; i++)
        if (left[i].dir[0] && strcmp(left[i].dir, dir) == 0)
            left[i].dir[0] = 0;
}

int test_broker_start(struct test_broker *b, ...)
{
    memset(b, 0, sizeof(*b));
    strcpy(b->dir, "/tmp/sharena-test.XXXXXX");
    if (!mkdtemp(b->dir)) {
        perror("mkdtemp");
        return -1;
    }
    left_add(b->dir);
    snprintf(b->socket, sizeof(b->socket), "%s/broker.sock", b->dir);
    va_list ap;
    va_start(ap, b);
    const char *a;
    while ((a = va_arg(ap, const char *)) && b->nargs < TEST_BROKER_MAX_ARGS)
        b->args[b->nargs++] = a;
    va_end(ap);
    if (spawn(b) < 0) {
        test_broker_stop(b);
        return -1;
    }
    return 0;
}

/* SIGTERM, then SIGKILL after 5 s; the broker's exit status. */
static int terminate(struct test_broker *b)
{
    int status = 0;
    if (b->pid > 0) {
        kill(b->pid, SIGTERM);
        int i;
        for (i = 0; i < 500; i++) {
            if (waitpid(b->pid, &status, WNOHANG) == b->pid)
                break;
            usleep(10000);
        }
        if (i == 500) {
            kill(b->pid, SIGKILL);
            waitpid(b->pid, &status, 0);
        }
    }
    b->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int test_broker_restart(struct test_broker *b)
{
    int status = terminate(b);
    return spawn(b) < 0 ? -1 : status;
}

int test_broker_stop(struct test_broker *b)
{
    int status = terminate(b);
    if (b->dir[0]) {
        remove_dir(b->dir);
        left_remove(b->dir);
    }
    return status;
}

unsigned test_broker_wait_clients(struct sharena_conn *c, const char *name,
                                  unsigned want)
{
    sharena_arena_stat st = {0};
    for (int i = 0; i < 500; i++) {
        if (sharena_stat(c, name, &st) == 0 && st.clients == want)
            break;
        usleep(10000);
    }
    return st.clients;
}
