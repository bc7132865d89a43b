/* client.c: connections to sharenad. A connection names arenas and receives
 * their memfds; the data path never touches it. Requests on one connection
 * are serialised by a mutex (one request, one reply), so a connection may be
 * shared by the threads of a process.
 *
 * fork(): a child inherits the parent's socket and arena mappings but not the
 * right to use the parent's client slot. A pthread_atfork child handler
 * closes the child's copy of every connection's socket at once, without a
 * word to the broker (fork_child), so that the broker sees the parent's
 * socket close the moment the parent dies, and recovers its locks even
 * while the child lives on. The child's first request on such a connection,
 * or its first lock on an arena that came from it, opens a connection of
 * its own (when the broker's path is known) with a slot of its own, and its
 * first lock on each such arena has the broker attach that slot to it
 * (sharena__conn_reslot). Where that fails (a delegated connection, no
 * broker) its locks carry LOCAL | pid (sharena__owner()), whose liveness
 * the library checks itself. A child that never uses sharena never talks
 * to the broker.
 *
 * A broker restart: a connection made by path is watched by one thread per
 * process (watch_main), which sees the broker's end close, reconnects with
 * a bounded backoff (20 ms doubling to 1 s), says RESUME with the slot and
 * token of the broker before, and ADOPTs every arena this process holds
 * read-write through it, passing the arena's fd (docs/protocol.md). The
 * data path never waits for any of it: locks and data stay in the
 * mappings. A request made meanwhile tries the reconnection itself first.
 * Where RESUME is refused (no state on the new broker), the connection
 * says HELLO and its arenas lock under the new slot from then on. */
#include "proto.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <pwd.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

extern char **environ;

#define CONN_TIMEOUT_MS 5000 /* a broker that does not answer in 5 s is gone */

struct sharena_conn {
    pthread_mutex_t mu;
    int fd;
    pid_t pid;      /* process that made the connection */
    uint32_t slot;  /* client slot from WELCOME */
    uint32_t flags; /* SHARENA__WELCOME_* */
    uint32_t seq;
    bool delegated; /* adopted fd whose peer is unnamed: a broker socketpair */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* "" if none */
    uint32_t token; /* WELCOME's: what a RESUME of the slot shows */
    int broker_pid; /* WELCOME's */
    bool lost;      /* the broker went away: fd is -1, reconnect */
    uint32_t backoff_ms;
    uint64_t retry_ns; /* CLOCK_MONOTONIC of the next attempt */
    /* arenas opened through this connection and still mapped */
    sharena_arena **arenas;
    size_t narenas, cap;
    /* the process's list of live connections (conns, under conns_mu) */
    sharena_conn *next, *prev;
};

/* ---- fork ---------------------------------------------------------------
 * Every live connection of this process, so that a forked child can drop
 * its copies of their sockets. A socket being made into a connection (from
 * socket() or dup() until it is listed), or being unlisted and closed, is
 * counted in `making` (making_begin/making_end). Lock order: making_mu,
 * conns_mu, a connection's mu. Around fork() the prepare handler stops new
 * makers, waits until none is left, and takes the mutexes, waiting for
 * connects and requests in flight in other threads (each at most
 * CONN_TIMEOUT_MS): the child gets every socket of the process listed,
 * each connection in a consistent state, and no mutex that a vanished
 * thread held. (Not a rwlock: readers that overlap without end would
 * starve fork, and writer preference is not portable.) */
static pthread_mutex_t making_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t making_cv = PTHREAD_COND_INITIALIZER;
static unsigned making; /* makers at work, under making_mu */
static bool forking;    /* a fork is waiting for them: no new ones */
static pthread_mutex_t conns_mu = PTHREAD_MUTEX_INITIALIZER;
static sharena_conn *conns;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void)
{
    pthread_mutex_lock(&making_mu);
    forking = true;
    while (making)
        pthread_cond_wait(&making_cv, &making_mu);
    pthread_mutex_lock(&conns_mu);
    for (sharena_conn *c = conns; c; c = c->next)
        pthread_mutex_lock(&c->mu);
}

static void fork_parent(void)
{
    for (sharena_conn *c = conns; c; c = c->next)
        pthread_mutex_unlock(&c->mu);
    pthread_mutex_unlock(&conns_mu);
    forking = false;
    pthread_cond_broadcast(&making_cv);
    pthread_mutex_unlock(&making_mu);
}

/* In the child, the only thread: close its copy of each socket (the
 * parent's stays open; the kernel closes the connection when the last copy
 * goes, so the broker now sees the parent's death). No message: the broker
 * must not mistake the child for the parent. c->pid still names the parent,
 * which is how ensure_own() and sharena__owner() know to get the child a
 * connection and slot of its own on first use. */
static void watch_forget(void);

static void fork_child(void)
{
    watch_forget();
    for (sharena_conn *c = conns; c; c = c->next) {
        if (c->fd >= 0)
            close(c->fd);
        c->fd = -1;
        pthread_mutex_unlock(&c->mu); /* the forking thread's, and ours */
    }
    pthread_mutex_unlock(&conns_mu);
    making = 0;
    forking = false;
    /* threads of the parent may have waited on it: not ours */
    pthread_cond_init(&making_cv, NULL);
    pthread_mutex_unlock(&making_mu);
}

static void fork_init(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* Around making a socket into a listed connection, and around unlisting
 * and closing one (see making). */
static void making_begin(void)
{
    pthread_once(&fork_once, fork_init);
    pthread_mutex_lock(&making_mu);
    while (forking)
        pthread_cond_wait(&making_cv, &making_mu);
    making++;
    pthread_mutex_unlock(&making_mu);
}

static void making_end(void)
{
    pthread_mutex_lock(&making_mu);
    if (--making == 0 && forking)
        pthread_cond_broadcast(&making_cv);
    pthread_mutex_unlock(&making_mu);
}

/* Under making_begin() (conn_new, with the socket made). */
static void conns_add(sharena_conn *c)
{
    pthread_mutex_lock(&conns_mu);
    c->prev = NULL;
    c->next = conns;
    if (conns)
        conns->prev = c;
    conns = c;
    pthread_mutex_unlock(&conns_mu);
}

static void conns_remove(sharena_conn *c)
{
    pthread_mutex_lock(&conns_mu);
    if (c->prev)
        c->prev->next = c->next;
    else if (conns == c)
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    pthread_mutex_unlock(&conns_mu);
}

int sharena_default_socket(char *buf, size_t cap)
{
    const char *env = getenv("SHARENA_SOCKET");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n;
    if (!buf)
        return SHARENA_EINVAL;
    if (env && *env)
        n = snprintf(buf, cap, "%s", env);
    else if (xdg && *xdg == '/')
        n = snprintf(buf, cap, "%s/sharena/broker.sock", xdg);
    else
        n = snprintf(buf, cap, "/tmp/sharena-%u/broker.sock",
                     (unsigned)getuid());
    if (n < 0 || (size_t)n >= cap ||
        (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return SHARENA_ENAMETOOLONG;
    return 0;
}

static int set_timeouts(int fd, int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
        return -errno;
    return 0;
}

static int dial(const char *path, int *out)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return SHARENA_ENAMETOOLONG;
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        /* No socket file, or nobody listening: both mean "no broker". */
        return (e == ENOENT || e == ECONNREFUSED) ? SHARENA_ECONNREFUSED : -e;
    }
    *out = fd;
    return 0;
}

/* The text of the last ERROR this thread received (sharena_broker_message).
 * Per thread, like errno: a request and the read of its message are on the
 * same thread. */
static _Thread_local char broker_msg[SHARENA__PROTO_TEXT];

const char *sharena_broker_message(void)
{
    return broker_msg;
}

/* Map a reply to its error code, or check it has the expected type. */
static int expect(const union sharena__msg *m, ssize_t n, uint32_t seq,
                  int type)
{
    broker_msg[0] = 0;
    if (n == 0)
        return SHARENA_ECONNREFUSED; /* broker went away */
    if (n < 0)
        return n == -EAGAIN || n == -EWOULDBLOCK ? SHARENA_ETIMEDOUT : (int)n;
    int t = sharena__proto_check(m, (size_t)n);
    if (t < 0)
        return SHARENA_EPROTO;
    /* An ERROR numbered 0 is the broker refusing the connection itself
     * (a limit), sent before any request was read. */
    if (t == SHARENA__MSG_ERROR && (m->h.seq == seq || m->h.seq == 0)) {
        memcpy(broker_msg, m->error.text, sizeof broker_msg); /* checked: NUL */
        return m->error.code;
    }
    if (m->h.seq != seq)
        return SHARENA_EPROTO;
    return t == type ? 0 : SHARENA_EPROTO;
}

/* The peer closed the connection. One from sharena_delegate() (a
 * broker-made socketpair, adopted with sharena_connect_fd()): the broker
 * never times those out, so it closed because it exited or restarted, or
 * for the reason it sent first, an ERROR numbered 0 still queued (@p m,
 * @p n when already received). Any other: no broker listens there now. */
static int peer_closed(sharena_conn *c, const union sharena__msg *m, ssize_t n)
{
    if (!c->delegated)
        return SHARENA_ECONNREFUSED;
    union sharena__msg buf;
    if (!m && c->fd >= 0) {
        n = recv(c->fd, &buf, sizeof(buf), MSG_DONTWAIT);
        m = &buf;
    }
    if (m && n > 0 &&
        sharena__proto_check(m, (size_t)n) == SHARENA__MSG_ERROR &&
        m->h.seq == 0) {
        char why[SHARENA__PROTO_TEXT + 16];
        snprintf(why, sizeof(why), "%.*s", (int)SHARENA__PROTO_TEXT,
                 m->error.text[0] ? m->error.text : "no reason given");
        return sharena__dropped(why);
    }
    return sharena__dropped(
        "its broker exited or restarted (a delegated connection ends with "
        "the broker that made it); ask the delegating process for a new one");
}

/* A reply that is an ERROR numbered 0 on a delegated connection: the broker
 * closing it, with its reason (see peer_closed). */
static bool closing_error(const sharena_conn *c, const union sharena__msg *m,
                          ssize_t n)
{
    return c->delegated && n > 0 &&
           sharena__proto_check(m, (size_t)n) == SHARENA__MSG_ERROR &&
           m->h.seq == 0;
}

static int handshake(sharena_conn *c)
{
    sharena__proto_other_version(NULL, 0); /* forget the last mismatch */
    struct sharena__msg_hello hello;
    memset(&hello, 0, sizeof(hello));
    sharena__proto_hdr(&hello.h, SHARENA__MSG_HELLO, sizeof(hello), ++c->seq);
    hello.layout_hash = sharena_layout_hash();
    int r = sharena__proto_send(c->fd, &hello, sizeof(hello), -1);
    union sharena__msg m;
    ssize_t n;
    if ((r == -EPIPE || r == -ECONNRESET) && c->delegated)
        return peer_closed(c, NULL, 0);
    if (r == -EPIPE || r == -ECONNRESET) {
        /* Refused at accept (a limit): its ERROR may be queued. */
        n = recv(c->fd, &m, sizeof(m), MSG_DONTWAIT);
        if (n <= 0)
            return SHARENA_ECONNREFUSED;
        if (sharena__proto_other_version(&m, n))
            return SHARENA_EPROTO;
        return expect(&m, n, c->seq, SHARENA__MSG_WELCOME);
    }
    if (r < 0)
        return r;
    n = sharena__proto_recv(c->fd, &m, NULL);
    /* A broker that closes with our HELLO unread makes the first receive
     * report ECONNRESET; its ERROR, sent before, is still queued. */
    if (n == -ECONNRESET)
        n = sharena__proto_recv(c->fd, &m, NULL);
    if (n == -ECONNRESET || n == 0)
        return peer_closed(c, NULL, 0);
    if (sharena__proto_other_version(&m, n))
        return SHARENA_EPROTO;
    if (closing_error(c, &m, n))
        return peer_closed(c, &m, n);
    r = expect(&m, n, c->seq, SHARENA__MSG_WELCOME);
    if (r < 0)
        return r;
    c->slot = m.welcome.slot;
    c->flags = m.welcome.flags;
    c->token = m.welcome.token;
    c->broker_pid = (int)m.welcome.broker_pid;
    return 0;
}

static void watch_start(void);

static int conn_new(int fd, const char *path, sharena_conn **out)
{
    sharena_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return SHARENA_ENOMEM;
    }
    pthread_mutex_init(&c->mu, NULL);
    c->fd = fd;
    c->pid = getpid();
    if (path) {
        snprintf(c->path, sizeof(c->path), "%s", path);
    } else {
        /* sharena_delegate()'s end of a socketpair has no peer name; a
         * socket connected to the broker's path names it */
        struct sockaddr_un sa;
        socklen_t sl = sizeof(sa);
        c->delegated = getpeername(fd, (struct sockaddr *)&sa, &sl) == 0 &&
                       sl <= offsetof(struct sockaddr_un, sun_path);
    }
    int r = set_timeouts(fd, CONN_TIMEOUT_MS);
    if (r == 0)
        r = handshake(c);
    if (r < 0) {
        close(fd);
        pthread_mutex_destroy(&c->mu);
        free(c);
        return r;
    }
    conns_add(c);
    if (c->path[0])
        watch_start();
    *out = c;
    return 0;
}

/* Find sharenad: $SHARENA_SHARENAD; then next to the code that holds this
 * function: in the same directory (the Python package and the npm package
 * install their own broker beside the extension module / addon), the build
 * tree's lib/../broker/sharenad, an install's lib/../bin/sharenad; then
 * PATH; then the bin directory this library was configured to install into.
 * When this function is linked into the executable (the CLI), dladdr names
 * it by argv[0], which may be relative or bare: /proc/self/exe is used. */
static int find_sharenad(char *buf, size_t cap)
{
    const char *env = getenv("SHARENA_SHARENAD");
    if (env && *env) {
        snprintf(buf, cap, "%s", env);
        return access(buf, X_OK) == 0 ? 0 : SHARENA_ENOENT;
    }
    Dl_info info;
    if (dladdr((void *)find_sharenad, &info) && info.dli_fname) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", info.dli_fname);
        if (strcmp(info.dli_fname, program_invocation_name) == 0) {
            ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
            dir[n > 0 ? n : 0] = 0;
        }
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = 0;
            static const char *const rel[] = {
                "/sharenad", "/../broker/sharenad", "/../bin/sharenad"};
            for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
                if ((size_t)snprintf(buf, cap, "%s%s", dir, rel[i]) < cap &&
                    access(buf, X_OK) == 0)
                    return 0;
            }
        }
    }
    const char *p = getenv("PATH");
    while (p && *p) {
        const char *e = strchrnul(p, ':');
        if ((size_t)snprintf(buf, cap, "%.*s/sharenad", (int)(e - p), p) <
                cap &&
            access(buf, X_OK) == 0)
            return 0;
        p = *e ? e + 1 : e;
    }
#ifdef SHARENA_INSTALL_BINDIR
    if ((size_t)snprintf(buf, cap, "%s/sharenad", SHARENA_INSTALL_BINDIR) <
            cap &&
        access(buf, X_OK) == 0)
        return 0;
#endif
    return SHARENA_ENOENT;
}

/* Start a per-user broker on @p path and wait until it answers. sharenad
 * (without --foreground) returns once it listens, so waiting for it to exit
 * is waiting for readiness. */
static int autostart(const char *path)
{
    char exe[PATH_MAX];
    if (find_sharenad(exe, sizeof(exe)) < 0)
        return SHARENA_ECONNREFUSED;
    char *argv[] = {exe, (char *)"--socket", (char *)path, NULL};
    pid_t pid;
    if (posix_spawn(&pid, exe, NULL, NULL, argv, environ) != 0)
        return SHARENA_ECONNREFUSED;
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    /* Exit status 0: it listens. Another status: usually another broker
     * won the race, which is as good. Either way, try to connect. */
    return 0;
}

static int adopt(int fd, sharena_conn **out);

int sharena_connect(const char *path, sharena_conn **out)
{
    if (!out)
        return SHARENA_EINVAL;
    *out = NULL;
    char buf[sizeof(((struct sockaddr_un *)0)->sun_path)];
    if (!path) {
        const char *fdenv = getenv("SHARENA_FD");
        if (fdenv && *fdenv) {
            char *end;
            long fd = strtol(fdenv, &end, 10);
            if (*end || fd < 0 || fd > INT_MAX || fcntl((int)fd, F_GETFD) < 0)
                return SHARENA_EBADF;
            making_begin();
            int dup_fd = fcntl((int)fd, F_DUPFD_CLOEXEC, 0);
            int r = dup_fd < 0 ? -errno : adopt(dup_fd, out);
            making_end();
            return r;
        }
        int r = sharena_default_socket(buf, sizeof(buf));
        if (r < 0)
            return r;
        path = buf;
    }
    int fd = -1;
    making_begin();
    int r = dial(path, &fd);
    if (r == SHARENA_ECONNREFUSED && path == buf) {
        making_end(); /* not across autostart and its waits */
        const char *as = getenv("SHARENA_AUTOSTART");
        bool started = !(as && strcmp(as, "0") == 0) && autostart(path) == 0;
        for (int i = 0; started && i < 100; i++) {
            making_begin();
            r = dial(path, &fd);
            if (r != SHARENA_ECONNREFUSED)
                break; /* (still making) */
            making_end();
            usleep(20000);
        }
        if (r == SHARENA_ECONNREFUSED)
            return r;
    }
    if (r == 0)
        r = conn_new(fd, path, out);
    making_end();
    return r;
}

int sharena_connect_fd(int fd, sharena_conn **out)
{
    if (!out || fd < 0)
        return SHARENA_EINVAL;
    *out = NULL;
    making_begin();
    int r = adopt(fd, out);
    making_end();
    return r;
}

/* sharena_connect_fd() under making_begin(). */
static int adopt(int fd, sharena_conn **out)
{
    int type;
    socklen_t len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
        type != SOCK_SEQPACKET) {
        close(fd);
        return SHARENA_EBADF;
    }
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    return conn_new(fd, NULL, out);
}

uint32_t sharena_conn_slot(const sharena_conn *c)
{
    return c ? c->slot : 0;
}

int sharena_conn_broker_pid(const sharena_conn *c)
{
    return c && c->broker_pid > 0 ? c->broker_pid : 0;
}

int sharena_broker_path(char *buf, size_t cap)
{
    if (!buf)
        return SHARENA_EINVAL;
    char exe[PATH_MAX];
    int r = find_sharenad(exe, sizeof(exe));
    if (r < 0)
        return r;
    if ((size_t)snprintf(buf, cap, "%s", exe) >= cap)
        return SHARENA_ENAMETOOLONG;
    return 0;
}

/* After fork(): the child must not share the parent's socket (fork_child
 * closed its copy already) nor its slot: a connection of its own. */
static int ensure_own(sharena_conn *c)
{
    if (c->pid == getpid())
        return 0;
    if (c->fd >= 0)
        close(c->fd); /* the child's copy only */
    c->fd = -1;
    if (!c->path[0])
        return SHARENA_ECLOSED; /* a delegated connection cannot be redone */
    int fd;
    int r = dial(c->path, &fd);
    if (r < 0)
        return r;
    c->fd = fd;
    c->pid = getpid();
    c->seq = 0;
    c->lost = false;
    if ((r = set_timeouts(fd, CONN_TIMEOUT_MS)) < 0 || (r = handshake(c)) < 0) {
        close(fd);
        c->fd = -1;
        return r;
    }
    watch_start();
    /* Arenas mapped before the fork are not open on the new connection
     * until their first lock in this process (sharena__conn_reslot) opens
     * them there. They stay on the list all the same, so that
     * sharena_disconnect() still detaches them (a CLOSE of one never
     * re-opened gets an ERROR from the broker, which close ignores). */
    return 0;
}

/* ---- reconnection after a broker restart ------------------------------ */

static uint64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* The broker's end closed (c->mu held): from now on reconnect. */
static void conn_lost(sharena_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    __atomic_store_n(&c->fd, -1, __ATOMIC_RELAXED);
    if (!c->lost) {
        __atomic_store_n(&c->lost, true, __ATOMIC_RELAXED);
        c->backoff_ms = 20;
        __atomic_store_n(&c->retry_ns, mono_ns(), __ATOMIC_RELAXED);
    }
}

static void conn_backoff(sharena_conn *c)
{
    __atomic_store_n(&c->retry_ns,
                     mono_ns() + (uint64_t)c->backoff_ms * 1000000u,
                     __ATOMIC_RELAXED);
    c->backoff_ms = c->backoff_ms >= 500 ? 1000 : c->backoff_ms * 2;
}

/* One request and its reply on a connection being made again. */
static int exchange(sharena_conn *c, void *msg, size_t len, int fd,
                    union sharena__msg *reply, int type)
{
    struct sharena__msg_hdr *h = msg;
    h->seq = ++c->seq;
    int r = sharena__proto_send(c->fd, msg, len, fd);
    if (r < 0)
        return r == -EPIPE || r == -ECONNRESET ? SHARENA_ECONNREFUSED : r;
    ssize_t n = sharena__proto_recv(c->fd, reply, NULL);
    return expect(reply, n, h->seq, type);
}

/* c->mu held, c->lost: dial the broker again, take the slot back (RESUME;
 * HELLO when the new broker cannot give it back), and ADOPT every arena
 * this process holds read-write through the connection, passing its fd:
 * the broker takes back only the very memfd it recorded. An ADOPT refused
 * leaves that arena as it is (mapped, working; the broker does not know
 * it). 0, or a negative error: still lost. */
static int reconnect(sharena_conn *c)
{
    int fd;
    int r = dial(c->path, &fd);
    if (r < 0)
        return r;
    __atomic_store_n(&c->fd, fd, __ATOMIC_RELAXED);
    c->seq = 0;
    union sharena__msg m;
    bool resumed = false;
    if ((r = set_timeouts(fd, CONN_TIMEOUT_MS)) < 0)
        goto fail;
    if (c->token && c->slot) {
        struct sharena__msg_resume rs;
        memset(&rs, 0, sizeof rs);
        sharena__proto_hdr(&rs.h, SHARENA__MSG_RESUME, sizeof rs, 0);
        rs.layout_hash = sharena_layout_hash();
        rs.slot = c->slot;
        rs.token = c->token;
        r = exchange(c, &rs, sizeof rs, -1, &m, SHARENA__MSG_WELCOME);
        if (r == 0 && m.welcome.slot != c->slot)
            r = SHARENA_EPROTO;
        if (r == 0) {
            resumed = true;
            c->token = m.welcome.token;
        } else if (r != SHARENA_ENOENT) {
            goto fail;
        }
    }
    if (!resumed && (r = handshake(c)) < 0)
        goto fail;
    pid_t me = getpid();
    for (size_t i = 0; i < c->narenas; i++) {
        sharena_arena *a = c->arenas[i];
        if (a->readonly || a->fd < 0 ||
            __atomic_load_n(&a->owner_pid, __ATOMIC_ACQUIRE) != me)
            continue;
        struct sharena__msg_adopt ad;
        memset(&ad, 0, sizeof ad);
        sharena__proto_hdr(&ad.h, SHARENA__MSG_ADOPT, sizeof ad, 0);
        if (sharena__proto_put_name(ad.name, a->wire_name) < 0)
            continue;
        int e = exchange(c, &ad, sizeof ad, a->fd, &m, SHARENA__MSG_OK);
        if (e == SHARENA_ECONNREFUSED || e == SHARENA_ETIMEDOUT ||
            e == SHARENA_EPROTO) {
            r = e;
            goto fail;
        }
        if (e == 0 && !resumed) /* locks taken from now on: the new slot */
            __atomic_store_n(&a->owner, c->slot, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&c->lost, false, __ATOMIC_RELAXED);
    return 0;
fail:
    close(c->fd);
    __atomic_store_n(&c->fd, -1, __ATOMIC_RELAXED);
    return r < 0 ? r : SHARENA_ECONNREFUSED;
}

/* The watcher: one thread per process while it has connections made by
 * path. It polls their sockets for the broker's end closing (never reads
 * them: replies are the requesters'), and reconnects lost ones with the
 * backoff. It takes a connection's mutex only with trylock: a request in
 * flight sees the end of stream itself. Signals are blocked in it. */
#define WATCH_MAX 256
static pthread_mutex_t watch_mu = PTHREAD_MUTEX_INITIALIZER;
static bool watch_on;
static int watch_pipe[2] = {-1, -1};

static void watch_forget(void)
{
    /* fork child: the parent's watcher is not here; its mutex may have
     * been held by it */
    pthread_mutex_init(&watch_mu, NULL);
    watch_on = false;
    for (int i = 0; i < 2; i++) {
        if (watch_pipe[i] >= 0)
            close(watch_pipe[i]);
        watch_pipe[i] = -1;
    }
}

static bool socket_ended(int fd)
{
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 ||
           (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void *watch_main(void *arg)
{
    (void)arg;
    struct pollfd pf[WATCH_MAX + 1];
    sharena_conn *who[WATCH_MAX + 1];
    for (;;) {
        int n = 0, timeout = 1000, live = 0;
        uint64_t now = mono_ns();
        pid_t me = getpid();
        pthread_mutex_lock(&conns_mu);
        pf[n] = (struct pollfd){.fd = watch_pipe[0], .events = POLLIN};
        who[n++] = NULL;
        for (sharena_conn *c = conns; c; c = c->next) {
            if (!c->path[0] || c->pid != me)
                continue;
            live++;
            /* (read without c->mu: written under it with atomic stores) */
            int cfd = __atomic_load_n(&c->fd, __ATOMIC_RELAXED);
            uint64_t retry = __atomic_load_n(&c->retry_ns, __ATOMIC_RELAXED);
            if (__atomic_load_n(&c->lost, __ATOMIC_RELAXED)) {
                uint64_t ms = retry > now ? (retry - now) / 1000000u + 1 : 0;
                if (ms < (uint64_t)timeout)
                    timeout = (int)ms;
            } else if (cfd >= 0 && n <= WATCH_MAX) {
                pf[n] = (struct pollfd){.fd = cfd, .events = POLLRDHUP};
                who[n++] = c;
            }
        }
        if (!live) {
            pthread_mutex_lock(&watch_mu);
            watch_on = false;
            pthread_mutex_unlock(&watch_mu);
            pthread_mutex_unlock(&conns_mu);
            return NULL;
        }
        pthread_mutex_unlock(&conns_mu);
        (void)poll(pf, (nfds_t)n, timeout);
        if (pf[0].revents & POLLIN) {
            char buf[64];
            while (read(watch_pipe[0], buf, sizeof buf) > 0)
                ;
        }
        pthread_mutex_lock(&conns_mu);
        for (sharena_conn *c = conns; c; c = c->next) {
            if (!c->path[0] || c->pid != me)
                continue;
            bool hup = false;
            int cfd = __atomic_load_n(&c->fd, __ATOMIC_RELAXED);
            for (int i = 1; i < n; i++)
                if (who[i] == c && pf[i].fd == cfd &&
                    (pf[i].revents & (POLLHUP | POLLRDHUP | POLLERR)))
                    hup = true;
            if (!hup &&
                !(__atomic_load_n(&c->lost, __ATOMIC_RELAXED) &&
                  __atomic_load_n(&c->retry_ns, __ATOMIC_RELAXED) <= mono_ns()))
                continue;
            if (pthread_mutex_trylock(&c->mu) != 0)
                continue;
            if (hup && c->fd >= 0 && socket_ended(c->fd))
                conn_lost(c);
            if (c->lost && c->retry_ns <= mono_ns() && reconnect(c) < 0)
                conn_backoff(c);
            pthread_mutex_unlock(&c->mu);
        }
        pthread_mutex_unlock(&conns_mu);
    }
}

static void watch_kick(void)
{
    pthread_mutex_lock(&watch_mu);
    if (watch_on && watch_pipe[1] >= 0)
        (void)!write(watch_pipe[1], "w", 1);
    pthread_mutex_unlock(&watch_mu);
}

static void watch_start(void)
{
    pthread_mutex_lock(&watch_mu);
    if (watch_pipe[0] < 0 && pipe2(watch_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        watch_pipe[0] = watch_pipe[1] = -1;
        pthread_mutex_unlock(&watch_mu);
        return;
    }
    if (!watch_on) {
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pthread_t t;
        if (pthread_create(&t, &at, watch_main, NULL) == 0)
            watch_on = true;
        pthread_attr_destroy(&at);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    } else {
        (void)!write(watch_pipe[1], "w", 1);
    }
    pthread_mutex_unlock(&watch_mu);
}

/* One request, one reply. */
static int request(sharena_conn *c, void *msg, size_t len,
                   union sharena__msg *reply, int *fd, int type)
{
    if (fd)
        *fd = -1;
    broker_msg[0] = 0;
    struct sharena__msg_hdr *h = msg;
    int r = ensure_own(c);
    if (r < 0)
        return r;
    bool again = c->path[0] != 0;
    if (c->fd < 0 && c->lost && again && reconnect(c) < 0) {
        static const char gone[] = "the broker went away; this connection "
                                   "is taken back by the next broker started "
                                   "on its socket";
        memcpy(broker_msg, gone, sizeof gone);
        return SHARENA_ECONNREFUSED;
    }
    if (c->fd < 0)
        return SHARENA_ECLOSED;
    h->seq = ++c->seq;
    r = sharena__proto_send(c->fd, msg, len, -1);
    if ((r == -EPIPE || r == -ECONNRESET) && again) {
        /* never delivered: the broker went; once more on a new one */
        conn_lost(c);
        if (reconnect(c) == 0) {
            h->seq = ++c->seq;
            r = sharena__proto_send(c->fd, msg, len, -1);
        }
    }
    if (r < 0)
        return r == -EPIPE || r == -ECONNRESET ? peer_closed(c, NULL, 0) : r;
    ssize_t n = sharena__proto_recv(c->fd, reply, fd);
    if ((n == 0 || n == -ECONNRESET) && again)
        conn_lost(c);
    if (n == 0 || (n == -ECONNRESET && c->delegated))
        r = peer_closed(c, NULL, 0);
    else if (closing_error(c, reply, n))
        r = peer_closed(c, reply, n);
    else
        r = expect(reply, n, h->seq, type);
    if (r < 0 && fd && *fd >= 0) {
        close(*fd);
        *fd = -1;
    }
    return r;
}

int sharena_name_qualify(const char *name, char *buf, size_t cap)
{
    if (!name || !buf)
        return SHARENA_EINVAL;
    const char *colon = strchr(name, ':');
    const char *plain = colon ? colon + 1 : name;
    if (!sharena_name_valid(plain))
        return strlen(plain) > SHARENA_NAME_MAX ? SHARENA_ENAMETOOLONG
                                                : SHARENA_EINVAL;
    size_t n;
    if (!colon) {
        n = strlen(name);
        if (n >= cap)
            return SHARENA_ENAMETOOLONG;
        memcpy(buf, name, n + 1);
        return 0;
    }
    size_t ulen = (size_t)(colon - name);
    char user[256];
    if (ulen == 0 || ulen >= sizeof user)
        return SHARENA_EINVAL;
    memcpy(user, name, ulen);
    user[ulen] = 0;
    unsigned long long uid = 0;
    bool digits = true;
    for (size_t i = 0; i < ulen; i++)
        digits = digits && user[i] >= '0' && user[i] <= '9';
    if (digits) {
        if (ulen > 10)
            return SHARENA_EINVAL;
        uid = strtoull(user, NULL, 10);
        if (uid >= UINT32_MAX)
            return SHARENA_EINVAL;
    } else {
        struct passwd pw, *res = NULL;
        char pwbuf[4096];
        int e = getpwnam_r(user, &pw, pwbuf, sizeof pwbuf, &res);
        if (e || !res)
            return e && e != ENOENT && e != ESRCH ? -e : SHARENA_ENOENT;
        uid = res->pw_uid;
    }
    int k = snprintf(buf, cap, "%llu:%s", uid, plain);
    if (k < 0 || (size_t)k >= cap || (size_t)k > SHARENA_NAME_MAX)
        return SHARENA_ENAMETOOLONG;
    return 0;
}

/* A request naming an arena: "USER:name" goes out as "UID:name". */
static int name_msg(struct sharena__msg_name *m, int type, const char *name)
{
    char wire[SHARENA__PROTO_NAME];
    memset(m, 0, sizeof(*m));
    sharena__proto_hdr(&m->h, type, sizeof(*m), 0);
    int r = sharena_name_qualify(name, wire, sizeof wire);
    return r < 0 ? r : sharena__proto_put_name(m->name, wire);
}

static int track(sharena_conn *c, sharena_arena *a)
{
    for (size_t i = 0; i < c->narenas; i++)
        if (c->arenas[i] == a)
            return 0; /* (re-opened after fork: already listed) */
    if (c->narenas == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 8;
        sharena_arena **n = realloc(c->arenas, ncap * sizeof(*n));
        if (!n)
            return SHARENA_ENOMEM;
        c->arenas = n;
        c->cap = ncap;
    }
    c->arenas[c->narenas++] = a;
    return 0;
}

/* sharena_open_opts.reserved: zero in this release, so that a later one
 * can give it a meaning without a caller's garbage being taken for it. */
static bool reserved_zero(const sharena_open_opts *o)
{
    for (size_t i = 0; i < sizeof o->reserved / sizeof o->reserved[0]; i++)
        if (o->reserved[i])
            return false;
    return true;
}

int sharena_open(sharena_conn *c, const char *name,
                 const sharena_open_opts *opts, sharena_arena **out)
{
    if (!c || !out)
        return SHARENA_EINVAL;
    *out = NULL;
    struct sharena__msg_name m;
    int r = name_msg(&m, SHARENA__MSG_OPEN, name);
    if (r < 0)
        return r;
    if (opts) {
        if (opts->flags &
                ~(unsigned)(SHARENA_CREATE | SHARENA_EXCL | SHARENA_READONLY) ||
            opts->mode > 0777 || !reserved_zero(opts) ||
            (opts->capacity && (opts->capacity < SHARENA_MIN_CAPACITY ||
                                opts->capacity > SHARENA_MAX_CAPACITY)))
            return SHARENA_EINVAL;
        m.flags = opts->flags;
        if (opts->flags & SHARENA_CREATE) {
            m.capacity = opts->capacity;
            m.mode = opts->mode;
        }
    }
    union sharena__msg reply;
    int fd;
    pthread_mutex_lock(&c->mu);
    /* EAGAIN: the broker restarted and the name is one it is taking back
     * from the clients that hold it; wait (up to 30 s; its grace period
     * is shorter) rather than make or miss a second arena of that name */
    for (int tries = 0;; tries++) {
        r = request(c, &m, sizeof(m), &reply, &fd, SHARENA__MSG_OPENED);
        if (r != SHARENA_EAGAIN || tries >= 600)
            break;
        pthread_mutex_unlock(&c->mu);
        usleep(50000);
        pthread_mutex_lock(&c->mu);
    }
    if (r == 0 && fd < 0)
        r = SHARENA_EPROTO; /* OPENED without its fd */
    sharena_arena *a = NULL;
    if (r == 0) {
        unsigned flags = reply.opened.flags & SHARENA_READONLY;
        r = sharena__arena_map(fd, flags, &a);
        close(fd);
    }
    if (r == 0 && a->size != reply.opened.capacity)
        r = SHARENA_EPROTO;
    if (r == 0) {
        /* From now on this handle names the arena by its owner: a CLOSE or a
         * forked child's re-OPEN means this very arena, whatever the policy
         * shares under the plain name. */
        a->via_broker = true;
        a->created = reply.opened.created != 0;
        a->owner_uid = reply.opened.uid;
        a->owner_gid = reply.opened.gid;
        a->owner_mode = reply.opened.mode;
        int64_t owner;
        const char *plain = sharena__proto_name_split(m.name, &owner);
        int k = snprintf(a->wire_name, sizeof a->wire_name, "%u:%s",
                         (unsigned)reply.opened.uid, plain);
        if (k < 0 || (size_t)k >= sizeof a->wire_name) /* checked: fits */
            memcpy(a->wire_name, m.name, sizeof a->wire_name);
        r = track(c, a);
    }
    if (r == 0) {
        a->conn = c;
        if (!a->readonly) {
            a->owner = c->slot;
            a->owner_pid = c->pid;
        }
        *out = a;
    }
    pthread_mutex_unlock(&c->mu);
    if (r < 0 && a) {
        a->conn = NULL;
        sharena_arena_close(a);
    }
    return r;
}

/* After fork(), before the child's first lock on @p a (sharena__owner): a
 * connection of the child's own (ensure_own) and an OPEN of the arena by
 * name on it, so that the broker attaches the child's slot to the arena
 * (marks it live, and recovers its locks when it dies) like any client's.
 * The fd that OPEN returns only proves it is the same arena (same inode:
 * the name may have been deleted or reused since) and is closed; the child
 * keeps the mapping it inherited. When anything fails, the child locks as
 * LOCAL | pid, whose death lockers detect by its pid. */
void sharena__conn_reslot(sharena_arena *a)
{
    sharena_conn *c = a->conn;
    pid_t pid = getpid();
    /* trylock: never wait here for a mutex a vanished thread might hold
     * (fork_prepare makes that not happen; this is the second guard) */
    if (pthread_mutex_trylock(&c->mu) != 0) {
        __atomic_store_n(&a->owner, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&a->owner_pid, pid, __ATOMIC_RELEASE);
        return;
    }
    if (__atomic_load_n(&a->owner_pid, __ATOMIC_ACQUIRE) == pid) {
        pthread_mutex_unlock(&c->mu); /* another thread of ours did it */
        return;
    }
    struct sharena__msg_name m;
    union sharena__msg reply;
    int fd = -1;
    uint32_t slot = 0;
    int r = ensure_own(c);
    if (r == 0)
        r = name_msg(&m, SHARENA__MSG_OPEN, a->wire_name);
    if (r == 0)
        r = request(c, &m, sizeof(m), &reply, &fd, SHARENA__MSG_OPENED);
    if (r == 0) {
        struct stat st;
        bool same = fd >= 0 && fstat(fd, &st) == 0 &&
                    (uint64_t)st.st_ino == a->ino &&
                    !(reply.opened.flags & SHARENA_READONLY);
        if (same && track(c, a) == 0) {
            slot = c->slot;
        } else if (name_msg(&m, SHARENA__MSG_CLOSE, a->wire_name) == 0) {
            (void)request(c, &m, sizeof(m), &reply, NULL, SHARENA__MSG_OK);
        }
    }
    if (fd >= 0)
        close(fd);
    __atomic_store_n(&a->owner, slot, __ATOMIC_RELAXED);
    __atomic_store_n(&a->owner_pid, pid, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&c->mu);
}

/* Called by sharena_arena_close() for an arena that came from @p c: tell
 * the broker, which stops counting this client among the arena's users
 * (its locks are released: closing with a lock held is a caller bug). */
void sharena__conn_arena_closed(sharena_conn *c, sharena_arena *a)
{
    pthread_mutex_lock(&c->mu);
    bool found = false;
    for (size_t i = 0; i < c->narenas; i++) {
        if (c->arenas[i] == a) {
            c->arenas[i] = c->arenas[--c->narenas];
            found = true;
            break;
        }
    }
    if (found && c->pid == getpid() && c->fd >= 0) {
        struct sharena__msg_name m;
        union sharena__msg reply;
        if (name_msg(&m, SHARENA__MSG_CLOSE, a->wire_name) == 0)
            (void)request(c, &m, sizeof(m), &reply, NULL, SHARENA__MSG_OK);
    }
    pthread_mutex_unlock(&c->mu);
}

int sharena_arena_open_info(const sharena_arena *a, sharena_open_info *out)
{
    if (!a || !out ||
        out->size < offsetof(sharena_open_info, created) + sizeof(bool))
        return SHARENA_EINVAL;
    sharena_open_info i;
    memset(&i, 0, sizeof i);
    i.size = out->size < sizeof i ? out->size : (uint32_t)sizeof i;
    i.broker = a->via_broker;
    i.created = a->created;
    i.readonly = a->readonly;
    if (a->via_broker) {
        i.uid = a->owner_uid;
        i.gid = a->owner_gid;
        i.mode = a->owner_mode;
        memcpy(i.name, a->wire_name, sizeof i.name);
    } else {
        struct stat st;
        if (fstat(a->fd, &st) == 0) {
            i.uid = (uint32_t)st.st_uid;
            i.gid = (uint32_t)st.st_gid;
            i.mode = (uint32_t)st.st_mode & 0777;
        }
    }
    memcpy(out, &i, i.size);
    return 0;
}

void sharena_disconnect(sharena_conn *c)
{
    if (!c)
        return;
    /* unlisted and closed with no fork in between (see making) */
    making_begin();
    conns_remove(c);
    /* the watcher may be reconnecting it: wait for that to end */
    pthread_mutex_lock(&c->mu);
    pthread_mutex_unlock(&c->mu);
    /* Arenas stay mapped; from now on they lock as LOCAL | pid, because the
     * broker frees this slot (and recovers anything it still holds). */
    for (size_t i = 0; i < c->narenas; i++) {
        c->arenas[i]->conn = NULL;
        c->arenas[i]->owner = 0;
    }
    if (c->fd >= 0) {
        /* the watcher's poll() holds a reference to the socket until it
         * wakes: shut it down, so that the broker sees the end now */
        if (c->pid == getpid())
            shutdown(c->fd, SHUT_RDWR);
        close(c->fd);
        watch_kick();
    }
    making_end();
    pthread_mutex_destroy(&c->mu);
    free(c->arenas);
    free(c);
}

static int simple(sharena_conn *c, int type, const char *name)
{
    if (!c)
        return SHARENA_EINVAL;
    struct sharena__msg_name m;
    int r = name_msg(&m, type, name);
    if (r < 0)
        return r;
    union sharena__msg reply;
    pthread_mutex_lock(&c->mu);
    r = request(c, &m, sizeof(m), &reply, NULL, SHARENA__MSG_OK);
    pthread_mutex_unlock(&c->mu);
    return r;
}

int sharena_delete(sharena_conn *c, const char *name)
{
    return simple(c, SHARENA__MSG_DELETE, name);
}

int sharena_broker_shutdown(sharena_conn *c)
{
    if (!c)
        return SHARENA_EINVAL;
    struct sharena__msg_hdr h;
    sharena__proto_hdr(&h, SHARENA__MSG_SHUTDOWN, sizeof(h), 0);
    union sharena__msg reply;
    pthread_mutex_lock(&c->mu);
    int r = request(c, &h, sizeof(h), &reply, NULL, SHARENA__MSG_OK);
    pthread_mutex_unlock(&c->mu);
    return r;
}

static void stat_from_wire(sharena_arena_stat *o,
                           const struct sharena__wire_stat *w)
{
    memset(o, 0, sizeof(*o));
    memcpy(o->name, w->name, SHARENA_NAME_MAX);
    o->name[SHARENA_NAME_MAX] = 0;
    o->capacity = w->capacity;
    o->used_bytes = w->used_bytes;
    o->objects = w->objects;
    o->clients = w->clients;
    o->uid = w->uid;
    o->gid = w->gid;
    o->mode = w->mode;
    o->created_ns = w->created_ns;
}

int sharena_stat(sharena_conn *c, const char *name, sharena_arena_stat *out)
{
    if (!c || !out)
        return SHARENA_EINVAL;
    struct sharena__msg_name m;
    int r = name_msg(&m, SHARENA__MSG_STAT, name);
    if (r < 0)
        return r;
    union sharena__msg reply;
    pthread_mutex_lock(&c->mu);
    r = request(c, &m, sizeof(m), &reply, NULL, SHARENA__MSG_STATED);
    pthread_mutex_unlock(&c->mu);
    if (r == 0)
        stat_from_wire(out, &reply.stated.st);
    return r;
}

int sharena_list(sharena_conn *c, sharena_arena_stat **out, size_t *n)
{
    if (!c || !out || !n)
        return SHARENA_EINVAL;
    *out = NULL;
    *n = 0;
    sharena_arena_stat *v = NULL;
    size_t len = 0;
    uint32_t start = 0;
    int r = 0;
    union sharena__msg *reply = malloc(sizeof(*reply));
    if (!reply)
        return SHARENA_ENOMEM;
    pthread_mutex_lock(&c->mu);
    /* Pages of at most SHARENA__PROTO_LIST_MAX; bounded by the broker's
     * arena limit, and by a sanity cap against a broker that never ends. */
    for (int pages = 0; pages < 1 << 16; pages++) {
        struct sharena__msg_list m;
        memset(&m, 0, sizeof(m));
        sharena__proto_hdr(&m.h, SHARENA__MSG_LIST, sizeof(m), 0);
        m.start = start;
        r = request(c, &m, sizeof(m), reply, NULL, SHARENA__MSG_LISTED);
        if (r < 0)
            break;
        uint32_t k = reply->listed.count;
        sharena_arena_stat *nv = realloc(v, (len + k + 1) * sizeof(*v));
        if (!nv) {
            r = SHARENA_ENOMEM;
            break;
        }
        v = nv;
        for (uint32_t i = 0; i < k; i++)
            stat_from_wire(&v[len++], &reply->listed.st[i]);
        if (reply->listed.next == 0)
            break;
        if (reply->listed.next <= start) {
            r = SHARENA_EPROTO;
            break;
        }
        start = reply->listed.next;
    }
    pthread_mutex_unlock(&c->mu);
    free(reply);
    if (r < 0) {
        free(v);
        return r;
    }
    *out = v;
    *n = len;
    return 0;
}

int sharena_clients(sharena_conn *c, const char *name,
                    sharena_client_info **out, size_t *n)
{
    if (!c || !out || !n)
        return SHARENA_EINVAL;
    *out = NULL;
    *n = 0;
    struct sharena__msg_clients m;
    memset(&m, 0, sizeof(m));
    char wire[SHARENA__PROTO_NAME];
    int r = sharena_name_qualify(name, wire, sizeof wire);
    if (r == 0)
        r = sharena__proto_put_name(m.name, wire);
    if (r < 0)
        return r;
    sharena_client_info *v = NULL;
    size_t len = 0;
    union sharena__msg *reply = malloc(sizeof(*reply));
    if (!reply)
        return SHARENA_ENOMEM;
    pthread_mutex_lock(&c->mu);
    /* Pages in ascending slot order; `next` must move forward, so at most
     * 65535 slots in 128 pages of 512 (proto_check enforces the order). */
    for (uint32_t start = 1;;) {
        sharena__proto_hdr(&m.h, SHARENA__MSG_CLIENTS, sizeof(m), 0);
        m.start = start;
        r = request(c, &m, sizeof(m), reply, NULL, SHARENA__MSG_CLIENT_LIST);
        if (r < 0)
            break;
        uint32_t k = reply->client_list.count;
        if (k && reply->client_list.cl[0].slot < start) {
            r = SHARENA_EPROTO;
            break;
        }
        sharena_client_info *nv = realloc(v, (len + k + 1) * sizeof(*v));
        if (!nv) {
            r = SHARENA_ENOMEM;
            break;
        }
        v = nv;
        for (uint32_t i = 0; i < k; i++) {
            const struct sharena__wire_client *w = &reply->client_list.cl[i];
            v[len++] = (sharena_client_info){
                .slot = w->slot,
                .pid = w->pid,
                .uid = w->uid,
                .writable = (w->flags & SHARENA__CLIENT_RW) != 0,
                .delegated = (w->flags & SHARENA__CLIENT_DELEGATED) != 0,
                .hidden = (w->flags & SHARENA__CLIENT_HIDDEN) != 0};
        }
        if (reply->client_list.next == 0)
            break;
        if (reply->client_list.next <= start) {
            r = SHARENA_EPROTO;
            break;
        }
        start = reply->client_list.next;
    }
    pthread_mutex_unlock(&c->mu);
    free(reply);
    if (r < 0) {
        free(v);
        return r;
    }
    *out = v;
    *n = len;
    return 0;
}

int sharena_delegate(sharena_conn *c, const char *const *names, size_t n,
                     sharena_open_flags flags, int *fd)
{
    if (!c || !fd || !names || n == 0 || n > SHARENA__PROTO_DELEGATE_MAX ||
        (flags & ~(unsigned)SHARENA_READONLY))
        return SHARENA_EINVAL;
    *fd = -1;
    size_t len = sizeof(struct sharena__msg_delegate) + n * SHARENA__PROTO_NAME;
    struct sharena__msg_delegate *m = calloc(1, len);
    union sharena__msg *reply = malloc(sizeof(*reply));
    int r = 0;
    if (!m || !reply)
        r = SHARENA_ENOMEM;
    for (size_t i = 0; r == 0 && i < n; i++) {
        char wire[SHARENA__PROTO_NAME];
        r = sharena_name_qualify(names[i], wire, sizeof wire);
        if (r == 0)
            r = sharena__proto_put_name(m->names[i], wire);
    }
    if (r == 0) {
        sharena__proto_hdr(&m->h, SHARENA__MSG_DELEGATE, len, 0);
        m->flags = flags;
        m->count = (uint32_t)n;
        pthread_mutex_lock(&c->mu);
        r = request(c, m, len, reply, fd, SHARENA__MSG_DELEGATED);
        pthread_mutex_unlock(&c->mu);
        if (r == 0 && *fd < 0)
            r = SHARENA_EPROTO;
    }
    free(m);
    free(reply);
    return r;
}
