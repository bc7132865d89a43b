/* saver.c: the state directory's saver (--state-dir), a helper process.
 *
 * Saving an arena takes its save barrier and copies its pages, and loading
 * one checks the image and runs fsck over it: both read arena contents,
 * which the broker never does (DESIGN 10), and both can take long (a 1 GiB
 * arena, a writer that holds the barrier's drain up to 5 s), which the
 * broker's event loop must not wait for. So a process forked before the
 * broker's own seccomp filter goes on does it all: it opens the state
 * directory once, drops every capability (a root broker's saver writes only
 * where the directory's mode bits let it), takes a seccomp filter of its
 * own (no exec, no sockets, no opening of anything but names inside that
 * directory), and serves the broker's requests one at a time over a
 * socketpair. The broker passes it the memfd of the arena to save or to
 * fill; the saver never sees a client. docs/persistence.md.
 *
 * A file is "<uid>-<escaped name>.snap" (persist.c names it): a 512-byte
 * record (owner, group, mode, capacity, creation time, name, checksum),
 * then the arena's snapshot image (lib/src/snapshot.c, docs/format.md).
 * It is written as ".<file>.tmp", fsynced, renamed over the file, and the
 * directory fsynced: a crash, a full disk or a refused write leaves the
 * previous file whole. */
#include "broker.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#ifdef SHARENA_HAVE_SECCOMP
#include <seccomp.h>
#endif

#define REC_MAGIC "SHARSTAT"
#define REC_VERSION 1u

/* The record before the image in every file (little-endian, this host's). */
struct saver_rec {
    char magic[8];
    uint32_t version;
    uint32_t size; /* SAVER_REC_SIZE */
    uint32_t uid, gid, mode, reserved0;
    uint64_t capacity, created_ns, saved_ns, changes;
    char name[SHARENA__PROTO_NAME];
    uint8_t reserved[SAVER_REC_SIZE - 200 - 8];
    uint64_t hash; /* of the bytes before */
};
_Static_assert(sizeof(struct saver_rec) == SAVER_REC_SIZE, "saver record");

static uint64_t rec_hash(const struct saver_rec *r)
{
    const uint8_t *p = (const uint8_t *)r;
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < offsetof(struct saver_rec, hash); i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static int write_all(int fd, const void *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        p = (const char *)p + w;
        n -= (size_t)w;
    }
    return 0;
}

static void say(struct saver_msg *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(struct saver_msg *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->text, sizeof m->text, fmt, ap);
    va_end(ap);
}

/* Read and check the record at the start of @p fd. 0, or -1 with the reason
 * in @p m. */
static int rec_read(int fd, struct saver_rec *r, struct saver_msg *m)
{
    ssize_t n = pread(fd, r, sizeof *r, 0);
    if (n < 0) {
        say(m, "cannot read it: %s", strerror(errno));
        return -1;
    }
    if ((size_t)n < sizeof *r || memcmp(r->magic, REC_MAGIC, 8) != 0) {
        say(m, "not a sharenad state file (no record)");
        return -1;
    }
    if (r->hash != rec_hash(r)) {
        say(m, "its record's checksum does not match");
        return -1;
    }
    if (r->version != REC_VERSION || r->size != SAVER_REC_SIZE) {
        say(m, "record version %u; this build reads version %u", r->version,
            REC_VERSION);
        return -1;
    }
    r->name[sizeof r->name - 1] = 0;
    if (sharena__check_name(r->name) < 0 || (r->mode & ~0777u)) {
        say(m, "its record holds no valid arena name or mode");
        return -1;
    }
    return 0;
}

/* Put a file that could not be loaded aside (FILE.corrupt, or FILE.foreign
 * for another build's format), so the next start does not trip on it and a
 * new arena of that name does not overwrite it. */
static void set_aside(int dfd, const char *file, const char *suffix,
                      struct saver_msg *m)
{
    char to[SAVER_FILE_MAX + 16];
    snprintf(to, sizeof to, "%s%s", file, suffix);
    size_t len = strlen(m->text);
    if (renameat(dfd, file, dfd, to) == 0) {
        fsync(dfd);
        snprintf(m->text + len, sizeof m->text - len, "; set aside as %s", to);
    } else {
        snprintf(m->text + len, sizeof m->text - len,
                 "; could not be set aside as %s: %s", to, strerror(errno));
    }
}

static void do_list(int sock, int dfd)
{
    int d = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
    DIR *dir = d >= 0 ? fdopendir(d) : NULL;
    struct saver_msg m;
    if (!dir) {
        memset(&m, 0, sizeof m);
        m.op = 'e';
        m.err = -errno;
        say(&m, "cannot list it: %s", strerror(errno));
        if (d >= 0)
            close(d);
        sharena__proto_send(sock, &m, sizeof m, -1);
        return;
    }
    struct dirent *e;
    while ((e = readdir(dir))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.') {
            /* a temporary file of a save that a crash interrupted */
            if (len > 5 && strcmp(e->d_name + len - 4, ".tmp") == 0)
                unlinkat(dfd, e->d_name, 0);
            continue;
        }
        if (len < 6 || len >= SAVER_FILE_MAX ||
            strcmp(e->d_name + len - 5, ".snap") != 0)
            continue;
        memset(&m, 0, sizeof m);
        m.op = 'l';
        memcpy(m.file, e->d_name, len + 1);
        int fd = openat(dfd, e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct saver_rec r;
        struct stat st;
        if (fd < 0) {
            m.err = -errno;
            say(&m, "cannot open it: %s", strerror(errno));
        } else if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
            m.err = SHARENA_EINVAL;
            say(&m, "not a regular file");
        } else if (rec_read(fd, &r, &m) < 0) {
            m.err = SHARENA_ECORRUPT;
            set_aside(dfd, e->d_name, ".corrupt", &m);
        } else {
            m.uid = r.uid;
            m.gid = r.gid;
            m.mode = r.mode;
            m.capacity = r.capacity;
            m.created_ns = r.created_ns;
            m.saved_ns = r.saved_ns;
            m.bytes = (uint64_t)st.st_size;
            memcpy(m.name, r.name, sizeof m.name);
        }
        if (fd >= 0)
            close(fd);
        sharena__proto_send(sock, &m, sizeof m, -1);
    }
    closedir(dir);
    memset(&m, 0, sizeof m);
    m.op = 'e';
    sharena__proto_send(sock, &m, sizeof m, -1);
}

static uint64_t now_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* 'W': write the arena behind @p fd to m->file. */
static void do_save(int dfd, struct saver_msg *m, int fd)
{
    uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    sharena_arena *a = NULL;
    int r = fd >= 0 ? sharena_arena_from_fd(fd, 0, &a) : SHARENA_EINVAL;
    if (fd >= 0)
        close(fd);
    if (r < 0) {
        m->err = r;
        say(m, "the arena cannot be mapped: %s", sharena_strerror(r));
        return;
    }
    char tmp[SAVER_FILE_MAX + 8];
    snprintf(tmp, sizeof tmp, ".%s.tmp", m->file);
    const char *step = "create";
    int t = openat(dfd, tmp,
                   O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    r = t < 0 ? -errno : 0;
    if (r == 0) {
        struct saver_rec rec;
        memset(&rec, 0, sizeof rec);
        memcpy(rec.magic, REC_MAGIC, 8);
        rec.version = REC_VERSION;
        rec.size = SAVER_REC_SIZE;
        rec.uid = m->uid;
        rec.gid = m->gid;
        rec.mode = m->mode;
        sharena_arena_info info;
        sharena_arena_info_get(a, &info);
        rec.capacity = info.capacity;
        rec.created_ns = m->created_ns;
        rec.saved_ns = now_ns(CLOCK_REALTIME);
        rec.changes = m->changes;
        memcpy(rec.name, m->name, sizeof rec.name);
        rec.name[sizeof rec.name - 1] = 0;
        rec.hash = rec_hash(&rec);
        step = "write";
        r = write_all(t, &rec, sizeof rec);
    }
    sharena_save_info si;
    memset(&si, 0, sizeof si);
    if (r == 0) {
        step = "snapshot";
        r = sharena_save_fd(a, t, &si);
    }
    if (r == 0 && fsync(t) < 0) {
        step = "fsync";
        r = -errno;
    }
    if (t >= 0 && close(t) < 0 && r == 0) {
        step = "close";
        r = -errno;
    }
    if (r == 0 && renameat(dfd, tmp, dfd, m->file) < 0) {
        step = "rename";
        r = -errno;
    }
    if (r == 0) {
        fsync(dfd); /* the rename survives a crash */
        m->bytes = si.image_bytes + SAVER_REC_SIZE;
        m->ms = (now_ns(CLOCK_MONOTONIC) - t0) / 1000000u;
        m->saved_ns = si.barrier_ns;
    } else {
        if (t >= 0)
            unlinkat(dfd, tmp, 0);
        m->err = r;
        const char *why = sharena_snapshot_message();
        say(m, "%s%s%s: %s", step, strcmp(step, "snapshot") ? " " : "",
            strcmp(step, "snapshot") ? tmp : "",
            r == -EFBIG
                ? "file too large (--save-max-bytes, or the file system's "
                  "limit)"
            : *why ? why
                   : sharena_strerror(r));
    }
    sharena_arena_close(a);
}

/* 'F': fill the new arena behind @p fd from m->file. */
static void do_fill(int dfd, struct saver_msg *m, int fd)
{
    sharena_arena *a = NULL;
    int r = fd >= 0 ? sharena_arena_from_fd(fd, 0, &a) : SHARENA_EINVAL;
    if (fd >= 0)
        close(fd);
    if (r < 0) {
        m->err = r;
        say(m, "the new arena cannot be mapped: %s", sharena_strerror(r));
        return;
    }
    int f = openat(dfd, m->file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct saver_rec rec;
    if (f < 0) {
        m->err = -errno;
        say(m, "cannot open it: %s", strerror(errno));
    } else if (rec_read(f, &rec, m) < 0 || rec.uid != m->uid ||
               strcmp(rec.name, m->name) != 0) {
        if (!m->text[0])
            say(m, "it changed since it was listed");
        m->err = SHARENA_ECORRUPT;
        set_aside(dfd, m->file, ".corrupt", m);
    } else if (lseek(f, SAVER_REC_SIZE, SEEK_SET) < 0) {
        m->err = -errno;
        say(m, "cannot seek: %s", strerror(errno));
    } else if ((r = sharena__load_into(a, f)) < 0) {
        m->err = r;
        say(m, "%s",
            *sharena_snapshot_message() ? sharena_snapshot_message()
                                        : sharena_strerror(r));
        if (r == SHARENA_ECORRUPT)
            set_aside(dfd, m->file, ".corrupt", m);
        else if (r == SHARENA_ELAYOUT)
            set_aside(dfd, m->file, ".foreign", m);
    }
    if (f >= 0)
        close(f);
    sharena_arena_close(a);
}

static void serve(int sock, int dfd)
{
    for (;;) {
        union sharena__msg buf;
        int fd = -1;
        ssize_t n = sharena__proto_recv(sock, &buf, &fd);
        if (n <= 0)
            _exit(0); /* the broker is gone */
        struct saver_msg *m = (struct saver_msg *)&buf;
        if ((size_t)n != sizeof *m) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        m->name[sizeof m->name - 1] = 0;
        m->file[sizeof m->file - 1] = 0;
        m->text[0] = 0;
        m->err = 0;
        char op = m->op;
        if (op == 'L') {
            if (fd >= 0)
                close(fd);
            do_list(sock, dfd);
            continue;
        }
        if (strchr(m->file, '/') || m->file[0] == '.' || !m->file[0]) {
            /* persist.c never asks this: refuse rather than leave the
             * directory */
            m->err = SHARENA_EINVAL;
            say(m, "bad file name");
            if (fd >= 0)
                close(fd);
        } else if (op == 'W') {
            do_save(dfd, m, fd);
        } else if (op == 'F') {
            do_fill(dfd, m, fd);
        } else if (op == 'U') {
            if (fd >= 0)
                close(fd);
            if (unlinkat(dfd, m->file, 0) == 0)
                fsync(dfd);
            else if (errno != ENOENT) {
                m->err = -errno;
                say(m, "cannot remove it: %s", strerror(errno));
            }
        } else if (op == 'Q') {
            m->op = 'q';
            sharena__proto_send(sock, m, sizeof *m, -1);
            _exit(0);
        }
        m->op = (char)(op | 0x20);
        sharena__proto_send(sock, m, sizeof *m, -1);
    }
}

static int saver_filter(void)
{
#ifdef SHARENA_HAVE_SECCOMP
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return -2; /* sanitizer runtimes need calls of their own (sandbox.c) */
#endif
    static const int calls[] = {
        SCMP_SYS(recvmsg),
        SCMP_SYS(sendmsg),
        SCMP_SYS(read),
        SCMP_SYS(write),
        SCMP_SYS(pread64),
        SCMP_SYS(lseek),
        SCMP_SYS(openat),
        SCMP_SYS(close),
        SCMP_SYS(fstat),
        SCMP_SYS(newfstatat),
        SCMP_SYS(fsync),
        SCMP_SYS(fdatasync),
        SCMP_SYS(renameat),
        SCMP_SYS(renameat2),
        SCMP_SYS(unlinkat),
        SCMP_SYS(getdents64),
        SCMP_SYS(fcntl),
        SCMP_SYS(dup),
        SCMP_SYS(mmap),
        SCMP_SYS(munmap),
        SCMP_SYS(mremap),
        SCMP_SYS(madvise),
        SCMP_SYS(mprotect),
        SCMP_SYS(brk),
        SCMP_SYS(fallocate),
        SCMP_SYS(membarrier),
        SCMP_SYS(futex),
        SCMP_SYS(clock_gettime),
        SCMP_SYS(clock_nanosleep),
        SCMP_SYS(nanosleep),
        SCMP_SYS(sched_yield),
        SCMP_SYS(getpid),
        SCMP_SYS(gettid),
        SCMP_SYS(getuid),
        SCMP_SYS(geteuid),
        SCMP_SYS(rt_sigreturn),
        SCMP_SYS(rt_sigprocmask),
        SCMP_SYS(exit),
        SCMP_SYS(exit_group),
    };
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    int r = ctx ? 0 : -ENOMEM;
    for (size_t i = 0; r == 0 && i < sizeof calls / sizeof calls[0]; i++)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i], 0);
    /* kill(pid, 0): is a lock's or a barrier's owner alive */
    if (r == 0)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
                             SCMP_A1(SCMP_CMP_EQ, 0));
    if (r == 0)
        r = seccomp_load(ctx);
    if (ctx)
        seccomp_release(ctx);
    return r == 0 ? 1 : -1;
#else
    return 0;
#endif
}

static void drop_caps(void)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    syscall(SYS_capset, &h, d);
}

/* One broker per state directory: two would overwrite each other's files.
 * The saver holds DIR/lock (flock) while it lives. The saver of a broker
 * that just died may still be finishing a save: wait for it a while. */
static int lock_dir(int dfd)
{
    int fd = openat(dfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                    0600);
    if (fd < 0)
        fd = openat(dfd, "lock", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return 0; /* a directory no lock can be made in: this broker cannot
                   * save there either (said at start) */
    for (int i = 0; i < 300; i++) { /* 30 s */
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return 0; /* (fd stays open: the lock lives with the saver) */
        if (errno != EWOULDBLOCK && errno != EINTR)
            break;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    int e = errno;
    close(fd);
    errno = e == EWOULDBLOCK ? EBUSY : e;
    return -1;
}

int saver_start(const char *dir, uint64_t max_file, pid_t *pid_out, int *filter,
                char *err, size_t errlen)
{
    int sv[2];
    *filter = 0;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        snprintf(err, errlen, "socketpair: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        /* as the reopen helper (sandbox.c): its own session, no signal of
         * the launcher's, no stdio; it ends on EOF from the broker */
        setsid();
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        signal(SIGXFSZ, SIG_IGN); /* a file size limit is an EFBIG */
        int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
            dup2(devnull, 2);
            if (devnull > 2)
                close(devnull);
        }
        /* nothing of the broker's but this socket (the reopen helper's
         * socket, the pidfile): their other ends must see EOF when the
         * broker is gone */
        int s = sv[1];
        if (s > 3)
            syscall(SYS_close_range, 3u, (unsigned)s - 1, 0u);
        syscall(SYS_close_range, (unsigned)s + 1, ~0u, 0u);
        drop_caps();
        if (max_file) {
            struct rlimit rl = {max_file, max_file};
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        struct saver_msg m;
        memset(&m, 0, sizeof m);
        m.op = '!';
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
            m.err = -errno;
            say(&m, "cannot open the state directory %s: %s", dir,
                strerror(errno));
        } else if (lock_dir(dfd) < 0) {
            m.err = -errno;
            say(&m,
                errno == EBUSY ? "the state directory %s is in use by "
                                 "another sharenad (its saver holds "
                                 "%s/lock)"
                               : "the state directory %s: cannot lock "
                                 "%s/lock: %s",
                dir, dir, strerror(errno));
        } else {
            struct stat st;
            if (fstat(dfd, &st) == 0 && (st.st_mode & 077))
                say(&m,
                    "the state directory %s is mode %04o: other users "
                    "may read or change the saved arenas (0700 is meant)",
                    dir, (unsigned)st.st_mode & 07777);
            else if (faccessat(dfd, ".", W_OK, AT_EACCESS) < 0)
                say(&m,
                    "the state directory %s is not writable (%s): "
                    "arenas are loaded but saves will fail",
                    dir, strerror(errno));
            m.mode = (uint32_t)saver_filter() & 0xff;
        }
        sharena__proto_send(s, &m, sizeof m, -1);
        if (dfd < 0)
            _exit(1);
        serve(s, dfd);
        _exit(0);
    }
    close(sv[1]);
    union sharena__msg buf;
    ssize_t n = sharena__proto_recv(sv[0], &buf, NULL);
    const struct saver_msg *m = (const struct saver_msg *)&buf;
    if (n != (ssize_t)sizeof *m || m->err) {
        snprintf(err, errlen, "%s",
                 n == (ssize_t)sizeof *m ? m->text
                                         : "the saver died while starting");
        close(sv[0]);
        return -1;
    }
    *filter = (int)(int8_t)m->mode;
    snprintf(err, errlen, "%s", m->text); /* a warning, or "" */
    *pid_out = pid;
    return sv[0];
}
