/* cmd_broker.c: broker start | stop | status.
 *
 * A client of the public API like every other command: sharena_connect()
 * with the socket's path spelled out (it starts a broker only for a NULL
 * path, and asking whether a broker runs must not start one), the broker's
 * pid from sharena_conn_broker_pid(), sharena_broker_shutdown() to stop it,
 * and sharena_broker_path() for the sharenad to run: the one the library
 * would start itself.
 */
#include "cli.h"

#include <sharena_broker.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define WAIT_MS 10000 /* how long start/stop wait for the broker */

static int socket_path(const struct cli *c, char *buf, size_t cap)
{
    if (c->socket) {
        if ((size_t)snprintf(buf, cap, "%s", c->socket) >= cap ||
            strlen(c->socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
            return SHARENA_ENAMETOOLONG;
        return 0;
    }
    return sharena_default_socket(buf, cap);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Connect (the library says HELLO). On success *conn is the connection
 * and *pid the broker's pid. */
static int probe(const char *path, sharena_conn **conn, pid_t *pid)
{
    *pid = 0;
    int r = sharena_connect(path, conn);
    if (r == 0)
        *pid = (pid_t)sharena_conn_broker_pid(*conn);
    return r;
}

/* Whether a broker answers on @p path; *pid its pid if so. */
static bool answers(const char *path, pid_t *pid)
{
    sharena_conn *conn;
    if (probe(path, &conn, pid) < 0)
        return false;
    sharena_disconnect(conn);
    return true;
}

/* A pid is gone when it does not exist or is a zombie nobody reaped. */
static bool pid_gone(pid_t pid)
{
    if (pid <= 0)
        return true;
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return true;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/* The pid in PATH.pid when a live broker holds that pidfile (it keeps it
 * locked), else 0: a stale pidfile never gets an unrelated process killed. */
static pid_t pidfile_pid(const char *pidpath)
{
    int fd = open(pidpath, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    pid_t pid = 0;
    if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
        char buf[32];
        ssize_t n = read(fd, buf, sizeof buf - 1);
        if (n > 0) {
            buf[n] = 0;
            long v = strtol(buf, NULL, 10);
            if (v > 0 && v < INT_MAX)
                pid = (pid_t)v;
        }
    }
    close(fd);
    return pid;
}

static void report(const struct cli *c, const char *path, bool running,
                   pid_t pid, const char *what)
{
    if (c->json) {
        printf("{\"socket\":");
        json_put_string(stdout, path, strlen(path));
        printf(",\"running\":%s", running ? "true" : "false");
        if (running)
            printf(",\"pid\":%d", (int)pid);
        puts("}");
    } else if (running) {
        printf("%s on %s (pid %d)\n", what, path, (int)pid);
    } else {
        printf("%s on %s\n", what, path);
    }
}

static int broker_start(struct cli *c, const char *path, int nextra,
                        char **extra)
{
    pid_t pid;
    if (answers(path, &pid)) {
        report(c, path, true, pid, "a broker is already running");
        return cli_flush(c);
    }
    char exe[PATH_MAX];
    if (sharena_broker_path(exe, sizeof exe) < 0) {
        cli_err(c, "cannot find sharenad (set $SHARENA_SHARENAD, or install "
                   "it next to sharena or on PATH)");
        return EXIT_FAIL;
    }
    /* The pidfile lives next to the socket; sharenad opens it before it
     * creates the socket's directory, so make that directory (0700, as
     * sharenad would) first. */
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
            cli_err(c, "cannot create %s: %s", dir, strerror(errno));
            return EXIT_FAIL;
        }
    }
    char pidpath[PATH_MAX];
    snprintf(pidpath, sizeof pidpath, "%s.pid", path);
    char **argv = calloc((size_t)nextra + 7, sizeof *argv);
    if (!argv)
        return cli_fail(c, "starting sharenad", SHARENA_ENOMEM);
    int k = 0;
    argv[k++] = exe;
    argv[k++] = (char *)"--socket";
    argv[k++] = (char *)path;
    argv[k++] = (char *)"--pidfile";
    argv[k++] = pidpath;
    for (int i = 0; i < nextra; i++)
        argv[k++] = extra[i];
    argv[k] = NULL;
    /* sharenad gets default signal dispositions (we ignore SIGPIPE) */
    posix_spawnattr_t attr;
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setsigdefault(&attr, &def);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
    pid_t child;
    int e = posix_spawn(&child, exe, NULL, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    free(argv);
    if (e) {
        cli_err(c, "cannot run %s: %s", exe, strerror(e));
        return EXIT_FAIL;
    }
    /* sharenad returns once it serves (it forks into the background). */
    int st;
    cli_watchdog(c, true);
    while (waitpid(child, &st, 0) < 0 && errno == EINTR)
        ;
    cli_watchdog(c, false);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        cli_err(c, "sharenad did not start (%s %d; its message is above)",
                WIFEXITED(st) ? "exit status" : "signal",
                WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        return EXIT_FAIL;
    }
    for (int ms = 0; ms < WAIT_MS; ms += 20) {
        if (answers(path, &pid)) {
            report(c, path, true, pid, "broker started");
            return cli_flush(c);
        }
        sleep_ms(20);
    }
    cli_err(c, "sharenad started but does not answer on %s", path);
    return EXIT_FAIL;
}

static int wait_gone(const char *path, pid_t pid)
{
    for (int ms = 0; ms < WAIT_MS; ms += 20) {
        pid_t p2;
        if (!answers(path, &p2) && pid_gone(pid))
            return 0;
        sleep_ms(20);
    }
    return -1;
}

static int broker_stop(struct cli *c, const char *path)
{
    char pidpath[PATH_MAX];
    snprintf(pidpath, sizeof pidpath, "%s.pid", path);
    sharena_conn *conn;
    pid_t pid = 0;
    int r = probe(path, &conn, &pid);
    if (r == 0) {
        r = sharena_broker_shutdown(conn);
        sharena_disconnect(conn);
        if (r == SHARENA_EACCES) {
            cli_err(c,
                    "the broker on %s (pid %d) belongs to another user; "
                    "only its user or root may stop it",
                    path, (int)pid);
            return EXIT_FAIL;
        }
        if (r < 0) {
            /* fall back to the pidfile below */
            pid_t pp = pidfile_pid(pidpath);
            if (!pp)
                return cli_fail(c, "asking the broker to stop", r);
            pid = pp;
            kill(pid, SIGTERM);
        }
    } else {
        pid = pidfile_pid(pidpath);
        if (!pid) {
            report(c, path, false, 0, "no broker is running");
            return cli_flush(c);
        }
        if (kill(pid, SIGTERM) < 0 && errno != ESRCH) {
            cli_err(c, "cannot signal the broker (pid %d): %s", (int)pid,
                    strerror(errno));
            return EXIT_FAIL;
        }
    }
    if (wait_gone(path, pid) < 0) {
        cli_err(c, "the broker (pid %d) did not stop within %d s", (int)pid,
                WAIT_MS / 1000);
        return EXIT_FAIL;
    }
    if (c->json)
        report(c, path, false, 0, "");
    else
        printf("broker on %s (pid %d) stopped\n", path, (int)pid);
    return cli_flush(c);
}

static int broker_status(struct cli *c, const char *path)
{
    sharena_conn *conn;
    pid_t pid;
    int r = probe(path, &conn, &pid);
    if (r == 0) {
        sharena_disconnect(conn);
        report(c, path, true, pid, "a broker is running");
        return cli_flush(c);
    }
    if (r == SHARENA_ECONNREFUSED) {
        report(c, path, false, 0, "no broker is running");
        cli_flush(c);
        return EXIT_FAIL;
    }
    cli_err(c, "a broker on %s does not answer properly: %s (%s)", path,
            sharena_strerror(r), sharena_errname(r));
    return EXIT_FAIL;
}

int cmd_broker(struct cli *c, int argc, char **argv)
{
    /* broker ACTION [-- SHARENAD-OPTIONS] */
    int split = argc;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--") == 0) {
            split = i;
            break;
        }
    const char *pos[1];
    int np = cli_parse(c, split, argv, NULL, pos, 1);
    if (np < 0)
        return EXIT_USAGE;
    if (np != 1)
        return cli_usage(c, "expected start, stop or status");
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    if (socket_path(c, path, sizeof path) < 0)
        return cli_usage(c, "socket path too long");
    int nextra = split < argc ? argc - split - 1 : 0;
    if (nextra && strcmp(pos[0], "start") != 0)
        return cli_usage(c, "sharenad options only go with `broker start`");
    if (strcmp(pos[0], "start") == 0)
        return broker_start(c, path, nextra, argv + split + 1);
    if (strcmp(pos[0], "stop") == 0)
        return broker_stop(c, path);
    if (strcmp(pos[0], "status") == 0)
        return broker_status(c, path);
    return cli_usage(c, "unknown action '%s' (start, stop or status)", pos[0]);
}
