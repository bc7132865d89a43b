/* main.c: sharenad's command line, socket set-up, daemonising, pidfile and
 * the switch into the sandboxed steady state. */
#include "broker.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef SHARENA_HAVE_LIBBSD
#include <bsd/libutil.h>
#include <bsd/unistd.h>
#endif

static const char usage[] =
    "usage: sharenad [options]\n"
    "\n"
    "The sharena broker: creates named arenas (sealed memfds), checks who may\n"
    "open them, passes their file descriptors to clients, and recovers the\n"
    "locks of clients that die.\n"
    "\n"
    "  --socket PATH        listen here (default: $SHARENA_SOCKET, else\n"
    "                       $XDG_RUNTIME_DIR/sharena/broker.sock, else\n"
    "                       /tmp/sharena-$UID/broker.sock)\n"
    "  --foreground         stay in the foreground, log to stderr\n"
    "  --policy FILE        extra grants: lines 'ARENA-GLOB USER|@GROUP "
    "rw|ro'\n"
    "  --pidfile FILE       write the broker's pid here (locked while "
    "running)\n"
    "  --max-arenas N       arenas per user (default 1024)\n"
    "  --max-capacity SIZE  total capacity of one user's arenas (default 1T;\n"
    "                       suffixes K, M, G, T)\n"
    "  --max-clients N      connections per user (default 1024)\n"
    "  --hello-timeout S    drop a connection that has not said HELLO after S\n"
    "                       seconds (default 10; a delegated connection\n"
    "                       waits for its holder as long as it is held)\n"
    "  --adopt-grace S      after a restart, wait up to S seconds (default "
    "10)\n"
    "                       for the clients of the broker before to bring its\n"
    "                       arenas back (SOCKET.state.0/.1 record them)\n"
    "  --state-dir DIR      keep arenas on disk: load every arena saved in "
    "DIR\n"
    "                       at start, save each one while it changes (--save)\n"
    "                       and every changed one at a clean stop\n"
    "  --save SECONDS:CHANGES  with --state-dir, save an arena when it "
    "changed\n"
    "                       at least CHANGES times and was last saved at "
    "least\n"
    "                       SECONDS ago (repeatable; default 3600:1 300:100\n"
    "                       60:10000; 'off': only at a clean stop)\n"
    "  --save-max-bytes SIZE  largest file a save may write (default: no\n"
    "                       limit); a larger one fails as a full disk does\n"
    "  --no-sandbox         do not install the seccomp filter (debugging)\n"
    "  --require-seccomp    refuse to start when the seccomp filters cannot "
    "be\n"
    "                       installed (built without libseccomp, or the "
    "kernel\n"
    "                       refuses them); without it the broker starts and\n"
    "                       logs that it runs unfiltered\n"
    "  --log-level LEVEL    silent, error, warning, info (default) or debug:\n"
    "                       one line per event on stderr (in the background\n"
    "                       without --foreground, stderr is /dev/null)\n"
    "  --help, --version\n"
    "\n"
    "Exit status: 0 after SIGTERM/SIGINT or `sharena broker stop`, 1 on a "
    "set-up\n"
    "error (another broker is running there, bad options, bad policy file).\n";

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* The socket's directory: created 0700 when missing; refused when someone
 * else could replace the socket in it. */
static int prepare_dir(const char *sock)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", sock);
    char *dir = dirname(buf);
    struct stat st;
    if (stat(dir, &st) < 0) {
        if (errno != ENOENT || mkdir(dir, 0700) < 0 || stat(dir, &st) < 0) {
            fprintf(stderr, "sharenad: cannot create %s: %s\n", dir,
                    strerror(errno));
            return -1;
        }
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "sharenad: %s is not a directory\n", dir);
        return -1;
    }
    if (st.st_uid != getuid() && st.st_uid != 0) {
        fprintf(stderr,
                "sharenad: %s belongs to uid %u, not to us: refusing to "
                "listen there\n",
                dir, (unsigned)st.st_uid);
        return -1;
    }
    if ((st.st_mode & 022) && !(st.st_mode & S_ISVTX)) {
        fprintf(stderr,
                "sharenad: %s is writable by others (and not sticky): "
                "refusing to listen there\n",
                dir);
        return -1;
    }
    return 0;
}

/* Bind, replacing a stale socket of a dead broker but never a live one. */
static int listen_on(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "sharenad: socket path too long: %s\n", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    mode_t old = umask(0077); /* the socket: 0600 until chmod below */
    int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    if (r < 0 && errno == EADDRINUSE) {
        int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (probe >= 0 &&
            connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            fprintf(stderr,
                    "sharenad: another broker is already running on %s\n",
                    path);
            close(probe);
            close(fd);
            umask(old);
            return -2;
        }
        if (probe >= 0)
            close(probe);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
            unlink(path); /* stale: its broker is gone */
            r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        }
    }
    umask(old);
    if (r < 0 || listen(fd, 128) < 0) {
        fprintf(stderr, "sharenad: cannot listen on %s: %s\n", path,
                strerror(errno));
        close(fd);
        return -1;
    }
    /* Anyone who can reach the directory may connect; the broker checks
     * each peer's credentials itself. */
    chmod(path, 0666);
    return fd;
}

/* systemd: LISTEN_FDS=N for this pid means fds 3..3+N-1: the listening
 * socket (socket activation) and the arenas the fd store gave back
 * (state.c takes those; the environment stays until it has). */
static int activated_socket(void)
{
    const char *pid = getenv("LISTEN_PID");
    const char *n = getenv("LISTEN_FDS");
    if (!pid || !n || atol(pid) != (long)getpid() || atoi(n) < 1)
        return -1;
    int count = atoi(n);
    for (int fd = 3; fd < 3 + count && fd < 3 + 65536; fd++) {
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) {
            fcntl(fd, F_SETFD, FD_CLOEXEC);
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
            return fd;
        }
    }
    return -1;
}

/* Every connection costs the broker a descriptor and every arena one or
 * two, so take the hard limit on descriptors instead of the usual soft 1024
 * (the broker uses epoll, not select). Done before the socket listens: a
 * client that can connect meets a broker with its limit already raised. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    rlim_t want = rl.rlim_max > (1u << 20) ? (1u << 20) : rl.rlim_max;
    if (rl.rlim_cur < want) {
        struct rlimit n = {want, rl.rlim_max};
        (void)setrlimit(RLIMIT_NOFILE, &n);
    }
}

/* Say so (once the log is open) when even the raised limit is below what
 * the limits allow: connections beyond it wait in the listen backlog
 * (broker.c, pause_accepting) instead of being served or refused. */
static void fit_fd_limit(const struct broker *b)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    uint64_t need = (uint64_t)b->lim.max_conns + 2ull * b->lim.max_arenas + 32;
    if (rl.rlim_cur < need)
        broker_log(b, BLOG_WARNING,
                   "the descriptor limit (%llu) is below what %u connections "
                   "and %u arenas need (%llu): raise it (LimitNOFILE=, "
                   "ulimit -n) or lower --max-arenas",
                   (unsigned long long)rl.rlim_cur, b->lim.max_conns,
                   b->lim.max_arenas, (unsigned long long)need);
}

/* Started with 0, 1 or 2 closed (a parent whose stdio is close-on-exec,
 * as Node's is when it autostarts the broker), the first sockets would
 * take those numbers, and the daemon's redirection of its stdio to
 * /dev/null would then close the listening socket. */
static void open_stdio(void)
{
    for (;;) {
        int fd = open("/dev/null", O_RDWR);
        if (fd < 0)
            return;
        if (fd > 2) {
            close(fd);
            return;
        }
    }
}

/* What the command line asked for, beyond the broker's own fields. */
struct options {
    const char *sock, *policy, *pidpath;
    struct persist_conf persist; /* .dir NULL: no --state-dir */
    bool foreground, sandbox, require_seccomp;
};

/* What set-up made for the steady state and the exit. */
struct start {
#ifdef SHARENA_HAVE_LIBBSD
    struct pidfh *pfh;
#endif
    int activated;     /* a socket-activated listening fd, or -1 */
    int helper_filter; /* reopen_helper_start()'s filter state */
    int ready;         /* write end of the daemon's ready pipe, or -1 */
};

static void broker_defaults(struct broker *b)
{
    memset(b, 0, sizeof(*b));
    b->log_level = BLOG_INFO;
    b->log_fd = -1;
    b->listen_fd = b->epoll_fd = b->signal_fd = b->reopen_fd = -1;
    b->lim = (struct broker_limits){.max_arenas = 1024,
                                    .max_capacity = UINT64_C(1) << 40,
                                    .max_clients = 1024,
                                    .max_conns = 8192,
                                    .hello_timeout = 10};
}

/* Parse the command line into @p b's limits and log level and @p op.
 * @return -1 to go on, else the exit status (--help, --version, an error,
 * said on stderr). */
static int parse_options(int argc, char **argv, struct broker *b,
                         struct options *op)
{
    static const struct option opts[] = {
        {"socket", required_argument, 0, 's'},
        {"foreground", no_argument, 0, 'f'},
        {"policy", required_argument, 0, 'p'},
        {"pidfile", required_argument, 0, 'P'},
        {"max-arenas", required_argument, 0, 'a'},
        {"max-capacity", required_argument, 0, 'c'},
        {"max-clients", required_argument, 0, 'n'},
        {"hello-timeout", required_argument, 0, 'H'},
        {"adopt-grace", required_argument, 0, 'G'},
        {"no-sandbox", no_argument, 0, 'S'},
        {"require-seccomp", no_argument, 0, 'R'},
        {"log-level", required_argument, 0, 'L'},
        {"state-dir", required_argument, 0, 'D'},
        {"save", required_argument, 0, 'W'},
        {"save-max-bytes", required_argument, 0, 'M'},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    *op = (struct options){.sandbox = true, .persist = {.nrules = -1}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 's':
            op->sock = optarg;
            break;
        case 'f':
            op->foreground = true;
            break;
        case 'p':
            op->policy = optarg;
            break;
        case 'P':
            op->pidpath = optarg;
            break;
        case 'S':
            op->sandbox = false;
            break;
        case 'R':
            op->require_seccomp = true;
            break;
        case 'D':
            op->persist.dir = optarg;
            break;
        case 'W':
            if (persist_parse_rule(optarg, &op->persist) < 0) {
                fprintf(stderr,
                        "sharenad: bad value for --save: '%s' "
                        "(SECONDS:CHANGES, both above 0, or off)\n",
                        optarg);
                return 1;
            }
            break;
        case 'M':
            if (sharena_parse_size(optarg, &op->persist.max_file) < 0 ||
                op->persist.max_file < 4096) {
                fprintf(stderr,
                        "sharenad: bad value for --save-max-bytes: "
                        "'%s'\n",
                        optarg);
                return 1;
            }
            break;
        case 'L':
            if ((b->log_level = broker_log_level(optarg)) < 0) {
                fprintf(stderr,
                        "sharenad: bad value for --log-level: '%s' "
                        "(silent, error, warning, info or debug)\n",
                        optarg);
                return 1;
            }
            break;
        case 'a':
            if (parse_u32(optarg, &b->lim.max_arenas) < 0)
                goto bad;
            break;
        case 'n':
            if (parse_u32(optarg, &b->lim.max_clients) < 0)
                goto bad;
            break;
        case 'H':
            if (parse_u32(optarg, &b->lim.hello_timeout) < 0 ||
                b->lim.hello_timeout == 0)
                goto bad;
            break;
        case 'G': {
            uint32_t g;
            if (parse_u32(optarg, &g) < 0 || g > 3600) {
                fprintf(stderr,
                        "sharenad: bad value for --adopt-grace: "
                        "'%s' (1..3600 seconds)\n",
                        optarg);
                return 1;
            }
            b->adopt_grace = g;
        } break;
        case 'c':
            if (sharena_parse_size(optarg, &b->lim.max_capacity) < 0 ||
                b->lim.max_capacity < SHARENA_MIN_CAPACITY)
                goto bad;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        case 'V':
            printf("sharenad %d.%d.%d (protocol %d)\n", SHARENA_VERSION_MAJOR,
                   SHARENA_VERSION_MINOR, SHARENA_VERSION_PATCH,
                   SHARENA__PROTO_VERSION);
            return 0;
        default:
            fputs(usage, stderr);
            return 1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "sharenad: unexpected argument '%s'\n", argv[optind]);
        return 1;
    }
    if ((op->persist.nrules >= 0 || op->persist.max_file) && !op->persist.dir) {
        fprintf(stderr, "sharenad: --save and --save-max-bytes need "
                        "--state-dir\n");
        return 1;
    }
    if (op->require_seccomp && !op->sandbox) {
        fprintf(stderr, "sharenad: --require-seccomp and --no-sandbox "
                        "contradict each other\n");
        return 1;
    }
    return -1;
bad:
    fprintf(stderr, "sharenad: bad value for --%s: '%s'\n",
            opts[o == 'a'   ? 4
                 : o == 'c' ? 5
                 : o == 'n' ? 6
                            : 7]
                .name,
            optarg);
    return 1;
}

/* The socket path (the default one unless given), kept in memory of its
 * own, and the policy file. 0, or -1 said on stderr. */
static int setup_config(struct broker *b, struct options *op)
{
    char defpath[sizeof(((struct sockaddr_un *)0)->sun_path)];
    if (!op->sock) {
        if (sharena_default_socket(defpath, sizeof(defpath)) < 0) {
            fprintf(stderr, "sharenad: default socket path too long\n");
            return -1;
        }
        op->sock = defpath;
    }
    /* setproctitle() reuses argv's memory, where --socket points: keep a
     * copy, or the socket is not unlinked at exit once the title changed. */
    static char sockcopy[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
    snprintf(sockcopy, sizeof(sockcopy), "%s", op->sock);
    op->sock = sockcopy;
    b->socket_path = op->sock;
    if (op->policy) {
        char err[512];
        if (policy_load(op->policy, &b->policy, err, sizeof(err)) < 0) {
            fprintf(stderr, "sharenad: %s\n", err);
            return -1;
        }
    }
    return 0;
}

/* The pidfile (locked; written once the daemon runs). 0, or -1 said on
 * stderr. */
static int setup_pidfile(const struct options *op, struct start *st)
{
#ifdef SHARENA_HAVE_LIBBSD
    st->pfh = NULL;
    if (op->pidpath) {
        pid_t other;
        st->pfh = pidfile_open(op->pidpath, 0644, &other);
        if (!st->pfh) {
            if (errno == EEXIST)
                fprintf(stderr, "sharenad: already running, pid %d (%s)\n",
                        (int)other, op->pidpath);
            else
                fprintf(stderr, "sharenad: pidfile %s: %s\n", op->pidpath,
                        strerror(errno));
            return -1;
        }
    }
#else
    (void)st;
    if (op->pidpath) {
        fprintf(stderr, "sharenad: built without libbsd: no --pidfile\n");
        return -1;
    }
#endif
    return 0;
}

/* The reopen helper, then the listening socket (an activated one, or one
 * made here). 0, or -1 said on stderr. */
static int setup_listen(struct broker *b, const struct options *op,
                        struct start *st)
{
    st->activated = activated_socket();
    /* The reopen helper first, while the broker holds no other fds. */
    st->helper_filter = 0;
    b->reopen_fd = reopen_helper_start(&b->reopen_pid, &st->helper_filter);
    if (b->reopen_fd < 0) {
        fprintf(stderr,
                "sharenad: cannot start the read-only reopen helper: "
                "%s\n",
                strerror(-b->reopen_fd));
        return -1;
    }
    if (st->helper_filter < 1 && op->require_seccomp) {
        fprintf(stderr, "sharenad: --require-seccomp: %s\n",
                st->helper_filter == -1 ? "the reopen helper's seccomp filter "
                                          "could not be loaded"
                : st->helper_filter == -2 ? "a sanitizer build runs the reopen "
                                            "helper without a filter"
                                          : "built without libseccomp");
        reopen_helper_stop(b->reopen_fd);
        return -1;
    }
#ifdef SHARENA_HAVE_LIBBSD
    if (st->pfh)
        reopen_helper_own(b->reopen_fd, true, op->pidpath);
#endif
    if (st->activated >= 0) {
        b->listen_fd = st->activated;
    } else {
        if (prepare_dir(op->sock) < 0)
            return -1;
        b->listen_fd = listen_on(op->sock);
        if (b->listen_fd < 0)
            return -1;
        /* the steady state may not unlink: the helper removes it at exit */
        reopen_helper_own(b->reopen_fd, false, op->sock);
    }
    return 0;
}

/* Unless in the foreground: fork; the parent exits once the child serves
 * (st->ready is the child's end of that pipe). 0 in the process that goes
 * on, -1 on failure. */
static int daemonize(const struct options *op, struct start *st)
{
    int ready[2] = {-1, -1};
    st->ready = -1;
    if (op->foreground)
        return 0;
    if (pipe2(ready, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0) {
        /* The parent returns once the child serves: callers (and
         * sharena_connect's autostart) can connect right away. */
        close(ready[1]);
        char c;
        ssize_t n;
        while ((n = read(ready[0], &c, 1)) < 0 && errno == EINTR)
            ;
        _exit(n == 1 ? 0 : 1);
    }
    close(ready[0]);
    st->ready = ready[1];
    setsid();
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
        close(devnull);
    }
    return 0;
}

/* The log, the broker's state, the sandbox: everything before serving.
 * 0, or -1 said on stderr. */
static int setup_steady_state(struct broker *b, const struct options *op,
                              const struct start *st)
{
    broker_log_open(b);
    fit_fd_limit(b);
    if (broker_init(b) < 0) {
        fprintf(stderr, "sharenad: init: %s\n", strerror(errno));
        return -1;
    }
    /* the state of the broker before (and the fd store's arenas), while
     * files may still be opened */
    if (state_open(b, true) < 0) {
        reopen_helper_stop(b->reopen_fd);
        return -1;
    }
    /* the state directory: its saver is forked now, before the filter;
     * the saved arenas load once the loop runs */
    struct persist_conf pc = op->persist;
    pc.require_seccomp = op->require_seccomp;
    if (pc.dir && persist_open(b, &pc) < 0) {
        state_close(b);
        reopen_helper_stop(b->reopen_fd);
        return -1;
    }
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    /* What the log says about the filters is what is true of them. */
    char seccomp[160] = "off (--no-sandbox)";
    if (op->sandbox) {
        int r = broker_sandbox();
        if (r < 0 && op->require_seccomp) {
            fprintf(stderr, "sharenad: --require-seccomp: %s\n",
                    r == -ENOSYS ? "built without libseccomp" : strerror(-r));
            reopen_helper_stop(b->reopen_fd);
            return -1;
        }
        if (r == -ENOSYS)
            snprintf(seccomp, sizeof(seccomp),
                     "off (built without libseccomp)");
        else if (r < 0)
            snprintf(seccomp, sizeof(seccomp),
                     "off (the filter could not be loaded: %s)", strerror(-r));
        else
            snprintf(seccomp, sizeof(seccomp), "on");
    }
    broker_log(b,
               op->sandbox && strcmp(seccomp, "on") ? BLOG_WARNING : BLOG_INFO,
               "listening on %s%s; seccomp %s%s", op->sock,
               st->activated >= 0 ? " (socket-activated)" : "", seccomp,
               st->helper_filter == -1   ? "; the reopen helper's filter could "
                                           "not be loaded"
               : st->helper_filter == -2 ? "; the reopen helper runs "
                                           "unfiltered (sanitizer build)"
                                         : "");
    return 0;
}

/* Tell the waiting parent we serve, run the event loop, shut down.
 * @return the exit status. */
static int run(struct broker *b, const struct options *op, struct start *st)
{
    if (st->ready >= 0) {
        (void)!write(st->ready, "r", 1);
        close(st->ready);
        st->ready = -1;
    }
    int r = broker_run(b);
    if (r < 0)
        broker_log(b, BLOG_ERROR, "event loop: %s", strerror(-r));
    broker_fini(b);
    broker_log(b, BLOG_INFO, "exiting");
    /* the helper removes the socket and the pidfile (if they are still
     * ours) and exits; pidfile_remove then only closes (and unlocks) it */
    if (reopen_helper_stop(b->reopen_fd) < 0 && st->activated < 0)
        broker_log(b, BLOG_WARNING,
                   "%s is left behind: the reopen helper, "
                   "which removes it, is gone (the next broker replaces it)",
                   op->sock);
#ifdef SHARENA_HAVE_LIBBSD
    if (st->pfh)
        pidfile_remove(st->pfh);
#endif
    return r < 0 ? 1 : 0;
}

int main(int argc, char **argv, char **envp)
{
    open_stdio();
    struct broker b;
    struct options op;
    struct start st = {.activated = -1, .ready = -1};
    broker_defaults(&b);
    int status = parse_options(argc, argv, &b, &op);
    if (status >= 0)
        return status;
    raise_fd_limit();
    if (setup_config(&b, &op) < 0 || setup_pidfile(&op, &st) < 0 ||
        setup_listen(&b, &op, &st) < 0 || daemonize(&op, &st) < 0)
        return 1;
#ifdef SHARENA_HAVE_LIBBSD
    if (st.pfh)
        pidfile_write(st.pfh);
    setproctitle_init(argc, argv, envp);
    b.title = true;
#else
    (void)envp;
#endif
    if (setup_steady_state(&b, &op, &st) < 0)
        return 1;
    return run(&b, &op, &st);
}
