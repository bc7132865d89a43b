/* sandbox.c: what sharenad may still do once it serves clients, and the one
 * thing it must not do itself.
 *
 * The steady-state seccomp filter allows the system calls of the event loop,
 * of making and sealing memfds, of passing fds, and of lock recovery; any
 * other call fails with EPERM (exec, open/openat, socket/connect/bind,
 * ptrace, ...). docs/security.md lists the set.
 *
 * Read-only grants need an O_RDONLY descriptor of a memfd, and the only way
 * to get one is to open /proc/self/fd/N. Rather than allowing open() in the
 * broker, a helper process forked before the filter is installed does it:
 * it receives a memfd over a socketpair, opens its own /proc/self/fd/N
 * read-only, checks that it is the same inode, and sends the new fd back. It
 * never opens a path it was told, only the fd it was given, and runs under a
 * filter of its own; whether that filter loaded is the first thing it tells
 * the broker. It leaves the launcher's session (setsid), so that signals to
 * the terminal or process group that started the broker do not take it
 * away; if it dies anyway, read-only opens fail with a message saying so
 * (the broker, under its own filter, cannot start another).
 *
 * It also removes the broker's socket when the broker exits (asked at a
 * clean exit, or on EOF when the broker died), if the path still names the
 * socket the broker bound: the steady-state filter denies unlink. */
#include "broker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef SHARENA_HAVE_SECCOMP
#include <seccomp.h>
#endif

#ifdef SHARENA_HAVE_SECCOMP
static int allow(scmp_filter_ctx ctx, const int *calls, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i], 0);
        if (r < 0)
            return r;
    }
    return 0;
}
#endif

int broker_sandbox(void)
{
#ifdef SHARENA_HAVE_SECCOMP
    static const int calls[] = {
        /* event loop and requests */
        SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl),
        SCMP_SYS(accept4), SCMP_SYS(getsockopt), SCMP_SYS(setsockopt),
        SCMP_SYS(recvmsg), SCMP_SYS(sendmsg), SCMP_SYS(recvfrom),
        SCMP_SYS(sendto), SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(close),
        SCMP_SYS(poll), SCMP_SYS(ppoll), /* the log never blocks */
        /* arenas: make, seal, map, punch holes */
        SCMP_SYS(memfd_create), SCMP_SYS(fchmod), SCMP_SYS(ftruncate),
        SCMP_SYS(fcntl), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(madvise),
        SCMP_SYS(mprotect), SCMP_SYS(brk), SCMP_SYS(fallocate), SCMP_SYS(fstat),
        SCMP_SYS(newfstatat), SCMP_SYS(getrandom),
        /* locks and their recovery */
        SCMP_SYS(futex), SCMP_SYS(getpid), SCMP_SYS(gettid),
        SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
        SCMP_SYS(sched_yield),
        /* signals and exit */
        SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask), SCMP_SYS(exit),
        SCMP_SYS(exit_group), SCMP_SYS(getuid), SCMP_SYS(geteuid),
        /* lock scans skip the memfds' holes (SEEK_DATA) */
        SCMP_SYS(lseek),
        /* no unlink/unlinkat: the reopen helper removes the socket */
    };
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    /* Sanitizer runtimes read /proc/self/maps, clone and ptrace at exit
     * (LeakSanitizer's stop-the-world); refused, they abort and spin in
     * their own signal handler, and the broker never exits. Sanitizer
     * builds test memory safety: their filter only denies exec and network
     * sockets, so the broker still runs under seccomp mode 2. */
    (void)calls;
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        return -ENOMEM;
    static const int denied[] = {SCMP_SYS(execve), SCMP_SYS(execveat),
                                 SCMP_SYS(connect), SCMP_SYS(bind)};
    int r = 0;
    for (size_t i = 0; r == 0 && i < sizeof(denied) / sizeof(denied[0]); i++)
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), denied[i], 0);
    if (r == 0)
        r = seccomp_load(ctx);
    seccomp_release(ctx);
    return r;
#else
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (!ctx)
        return -ENOMEM;
    int r = allow(ctx, calls, sizeof(calls) / sizeof(calls[0]));
    /* socketpair for DELEGATE: Unix sockets only. */
    if (r == 0)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1,
                             SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
    /* kill(pid, 0) probes a LOCAL lock owner's liveness; no real signals. */
    if (r == 0)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
                             SCMP_A1(SCMP_CMP_EQ, 0));
    if (r == 0)
        r = seccomp_load(ctx);
    seccomp_release(ctx);
    return r;
#endif
#else
    return -ENOSYS;
#endif
}

/* What the helper tells the broker first. */
enum {
    HELPER_FILTER_ON = 1,
    HELPER_FILTER_NONE = 2,
    HELPER_FILTER_FAILED = 3,
    HELPER_FILTER_SANITIZER = 4
};

static int helper_sandbox(void)
{
#ifdef SHARENA_HAVE_SECCOMP
    static const int calls[] = {
        SCMP_SYS(recvmsg),
        SCMP_SYS(sendmsg),
        SCMP_SYS(openat),
        SCMP_SYS(open),
        SCMP_SYS(close),
        SCMP_SYS(fstat),
        SCMP_SYS(newfstatat),
        SCMP_SYS(exit),
        SCMP_SYS(exit_group),
        SCMP_SYS(rt_sigreturn),
        SCMP_SYS(write),
        /* the socket, at the end */
        SCMP_SYS(lstat),
        SCMP_SYS(unlink),
        SCMP_SYS(unlinkat),
    };
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    /* Sanitizer runtimes need calls of their own (sigaltstack, mmap, ...)
     * and abort when refused: a sanitized helper would die at its first
     * request and every read-only open would fail with EIO. Sanitizer
     * builds test memory safety, not this filter. */
    (void)calls;
    return HELPER_FILTER_SANITIZER;
#endif
    int r = -ENOMEM;
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (ctx && (r = allow(ctx, calls, sizeof(calls) / sizeof(calls[0]))) == 0)
        r = seccomp_load(ctx);
    if (ctx)
        seccomp_release(ctx);
    return r == 0 ? HELPER_FILTER_ON : HELPER_FILTER_FAILED;
#else
    return HELPER_FILTER_NONE;
#endif
}

/* Requests: 'R' with an fd (reopen it read-only), 'S' or 'P' + a path (the
 * broker's socket or pidfile, to remove at the end), 'Q' (remove them now
 * and say so). */
static void helper_loop(int sock)
{
    static char path[2][sizeof(union sharena__msg)];
    struct stat own_st[2];
    bool own[2] = {false, false};
    for (;;) {
        union sharena__msg m;
        int fd = -1;
        ssize_t n = sharena__proto_recv(sock, &m, &fd);
        const char *req = (const char *)&m;
        if (n <= 0 || req[0] == 'Q') {
            /* a clean exit, or the broker is gone: its files go, if they
             * are still the ones it made */
            for (int i = 0; i < 2; i++) {
                struct stat st;
                /* (for the socket, the change time too: a broker started
                 * after this one died may have bound a new socket that
                 * got the freed inode number; it must stay. The pidfile
                 * is written after it was named here.) */
                if (own[i] && lstat(path[i], &st) == 0 &&
                    st.st_dev == own_st[i].st_dev &&
                    st.st_ino == own_st[i].st_ino &&
                    (i == 1 ||
                     (st.st_ctim.tv_sec == own_st[i].st_ctim.tv_sec &&
                      st.st_ctim.tv_nsec == own_st[i].st_ctim.tv_nsec)))
                    unlink(path[i]);
            }
            if (n > 0)
                sharena__proto_send(sock, "q", 1, -1);
            _exit(0);
        }
        if ((req[0] == 'S' || req[0] == 'P') && fd < 0) {
            int i = req[0] == 'P';
            size_t len = (size_t)n - 1 < sizeof(path[i]) - 1
                             ? (size_t)n - 1
                             : sizeof(path[i]) - 1;
            memcpy(path[i], req + 1, len);
            path[i][len] = 0;
            own[i] = lstat(path[i], &own_st[i]) == 0 &&
                     (i ? S_ISREG(own_st[i].st_mode)
                        : S_ISSOCK(own_st[i].st_mode));
            sharena__proto_send(sock, own[i] ? "s" : "", own[i] ? 1 : 0, -1);
            continue;
        }
        int ro = -1;
        if (fd >= 0) {
            char p[64];
            snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
            ro = open(p, O_RDONLY | O_CLOEXEC);
            struct stat a, b;
            if (ro >= 0 && (fstat(fd, &a) < 0 || fstat(ro, &b) < 0 ||
                            a.st_ino != b.st_ino || a.st_dev != b.st_dev)) {
                close(ro);
                ro = -1;
            }
            close(fd);
        }
        char byte = ro >= 0 ? 1 : 0;
        sharena__proto_send(sock, &byte, 1, ro);
        if (ro >= 0)
            close(ro);
    }
}

int reopen_helper_start(pid_t *pid_out, int *filter)
{
    int sv[2];
    *filter = 0;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        return -e;
    }
    if (pid == 0) {
        close(sv[0]);
        /* No PR_SET_PDEATHSIG: without --foreground the process that forked
         * this helper exits once the daemon serves, which would kill the
         * helper. It ends on EOF from the broker instead (helper_loop).
         * Its own session: a signal to the launcher's process group or
         * terminal (Ctrl-C, a hang-up, kill -- -PGID) is not for it. */
        setsid();
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        /* The helper prints nothing: it must not hold the caller's stdio,
         * or a caller reading sharenad's output to EOF (subprocess capture,
         * $(...) around a program whose autostart started the daemon)
         * waits as long as the broker lives. */
        int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
            dup2(devnull, 2);
            if (devnull > 2)
                close(devnull);
        }
        char st = (char)helper_sandbox();
        sharena__proto_send(sv[1], &st, 1, -1);
        helper_loop(sv[1]);
        _exit(0);
    }
    close(sv[1]);
    union sharena__msg m;
    ssize_t n = sharena__proto_recv(sv[0], &m, NULL);
    if (n != 1) {
        close(sv[0]);
        return n < 0 ? (int)n : -EPIPE;
    }
    switch (((const char *)&m)[0]) {
    case HELPER_FILTER_ON:
        *filter = 1;
        break;
    case HELPER_FILTER_NONE:
        *filter = 0;
        break;
    case HELPER_FILTER_SANITIZER:
        *filter = -2;
        break;
    default:
        *filter = -1;
        break;
    }
    *pid_out = pid;
    return sv[0];
}

int reopen_helper_own(int helper, bool pidfile, const char *path)
{
    char buf[sizeof(union sharena__msg)];
    size_t len = strlen(path);
    if (helper < 0 || len + 1 > sizeof(buf))
        return -EINVAL;
    buf[0] = pidfile ? 'P' : 'S';
    memcpy(buf + 1, path, len);
    int r = sharena__proto_send(helper, buf, len + 1, -1);
    if (r < 0)
        return r;
    union sharena__msg m;
    ssize_t n = sharena__proto_recv(helper, &m, NULL);
    return n == 1 ? 0 : n < 0 ? (int)n : n == 0 ? -ENOENT : -EPIPE;
}

int reopen_helper_stop(int helper)
{
    if (helper < 0)
        return -EPIPE;
    int r = sharena__proto_send(helper, "Q", 1, -1);
    union sharena__msg m;
    ssize_t n = r < 0 ? r : sharena__proto_recv(helper, &m, NULL);
    close(helper);
    return n == 1 ? 0 : -EPIPE;
}

int reopen_readonly(int helper, int fd)
{
    if (helper < 0)
        return -EPIPE;
    int r = sharena__proto_send(helper, "R", 1, fd);
    if (r < 0)
        return -EPIPE; /* the helper is gone */
    union sharena__msg m;
    int ro = -1;
    ssize_t n = sharena__proto_recv(helper, &m, &ro);
    if (n <= 0)
        return -EPIPE;
    if (n != 1 || ro < 0) {
        if (ro >= 0)
            close(ro);
        return -EINVAL; /* refused: not the same inode */
    }
    return ro;
}
