/* state.c: what lets a broker restart lose no arena, no name and no
 * recovery (docs/locking.md, "When the broker stops or restarts").
 *
 * The state file. The broker records, next to its socket, every named
 * arena (owner, group, mode, capacity, creation time, the memfd's device
 * and inode, and a random identity also written in the arena's header) and
 * every client slot attached read-write to one (slot, token, pid, uid).
 * It is written before an OPEN's reply hands out a new arena or attaches a
 * new slot, and after anything else changed, so that what any client holds
 * is on record when the broker dies, however it dies. Two files,
 * SOCKET.state.0 and SOCKET.state.1, are overwritten in turn, each with its
 * generation, length and checksum in a first line: a broker that dies in
 * the middle of a write leaves the other one whole, and the next broker
 * reads the newest whole one. No fsync: the state describes memfds, which
 * no reboot keeps (a state of another boot, by boot_id, is ignored), and a
 * write is visible to the next broker as soon as it returns. Both files are
 * opened before the seccomp filter goes on: writing them takes lseek, write
 * and ftruncate, which the filter allows already (no open, no rename).
 *
 * Re-adoption. A new broker reads the state at start, reserves the
 * recorded slots and waits --adopt-grace seconds (default 10) for their
 * clients: each reconnects by itself (client.c), says RESUME with its slot
 * and the token the old broker gave it (the pid and uid the kernel reports
 * must match the record), and ADOPTs every arena it holds read-write,
 * passing its descriptor. The broker takes an arena back only when that
 * descriptor is the very memfd the record names: same device and inode
 * (fstat: a client cannot forge them), owned by the broker's uid (only the
 * broker's uid or root can make such a memfd), the recorded size, open
 * read-write, sealed against shrinking, growing and further seals, a valid
 * header, and the recorded identity in it. Until a recorded name is taken
 * back or the grace period is over, OPEN of that name answers EAGAIN (the
 * library waits and retries): no second arena of that name is ever made.
 *
 * Recovery of clients that died while no broker ran. A recorded slot whose
 * process is gone (kill(pid, 0): ESRCH) is dead at once; one that has not
 * come back when the grace period ends is dead unless its process still
 * lives (then its locks stay its own until it exits: a live process that
 * cannot reconnect, say a sandboxed one, keeps working safely); a slot of a
 * delegated connection (no pid known) is dead at the end of the grace
 * period. A dead slot's locks are marked owner-died through the same
 * bounded scan as a disconnect's (broker.c, scan_add).
 *
 * The fd store. Under systemd (NOTIFY_SOCKET set and the unit's
 * FileDescriptorStoreMax= above 0) each arena's memfd is also handed to the
 * service manager (sd_notify FDSTORE=1, FDNAME=a<identity>), which gives
 * them back to the next broker (LISTEN_FDS, LISTEN_FDNAMES): the arenas
 * that no client holds survive a restart too. Those descriptors pass the
 * same checks against the record. */
#include "broker.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "layout.h"

#ifndef F_GET_SEALS
#define F_GET_SEALS 1034
#endif
#ifndef F_SEAL_SEAL
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#endif

#define STATE_MAX (64u << 20) /* a state file larger than this is refused */
#define STORE_MAX 65536       /* descriptors taken from the fd store */

enum { PS_WAIT, PS_BACK, PS_DEAD };

struct pend_slot {
    uint32_t slot, token;
    pid_t pid; /* 0: unknown (a delegated connection) */
    uid_t uid;
    int state; /* PS_* */
    bool warned;
};

struct pend_arena {
    char name[SHARENA_NAME_MAX + 1];
    uid_t uid;
    gid_t gid;
    uint32_t mode;
    uint64_t created_ns, capacity, dev, ino, id[2];
    struct arena_rec *ar; /* once taken back */
    bool gone;            /* not taken back in time, or deleted */
    uint32_t *slots;      /* slots recorded attached read-write */
    uint32_t nslots, capslots;
};

struct broker_state {
    int fd[2];    /* SOCKET.state.0 and .1 */
    int next;     /* the one the next write goes to */
    uint64_t gen; /* generation of the last write */
    bool dirty;
    bool frozen; /* the broker stops: no more writes */
    char path[PATH_MAX];
    char boot_id[40];
    struct pend_arena *pa;
    uint32_t npa;
    struct pend_slot *ps;
    uint32_t nps;
    time_t start_s; /* CLOCK_MONOTONIC_COARSE at start */
    bool grace_over;
    uint32_t unsettled; /* pend_slots in PS_WAIT */
    uint64_t adopted, refused;
    time_t ticked_s;
    /* the fd store */
    int notify_fd; /* connected to $NOTIFY_SOCKET, or -1 */
    int *store_fd; /* descriptors it gave back, until matched */
    char (*store_name)[64];
    uint32_t nstore;
    bool store_failed;
    bool oom;  /* the body could not be built */
    char *buf; /* the body being written */
    size_t buflen, bufcap;
};

static time_t mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
    return t.tv_sec;
}

static uint64_t fnv(const char *p, size_t n)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

static void id_hex(const uint64_t id[2], char out[33])
{
    snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, id[0], id[1]);
}

/* --------------------------------------------------------------- reading */

static struct pend_slot *pslot_find(struct broker_state *s, uint32_t slot)
{
    for (uint32_t i = 0; i < s->nps; i++)
        if (s->ps[i].slot == slot)
            return &s->ps[i];
    return NULL;
}

static int pa_add_slot(struct pend_arena *pa, uint32_t slot)
{
    for (uint32_t i = 0; i < pa->nslots; i++)
        if (pa->slots[i] == slot)
            return 0;
    if (pa->nslots == pa->capslots) {
        uint32_t nc = pa->capslots ? pa->capslots * 2 : 4;
        uint32_t *v = realloc(pa->slots, nc * sizeof(*v));
        if (!v)
            return -1;
        pa->slots = v;
        pa->capslots = nc;
    }
    pa->slots[pa->nslots++] = slot;
    return 0;
}

/* One state file's body into s->pa / s->ps. Every value is checked; a
 * line that does not parse makes the whole file invalid (the other one, or
 * none, is used). */
static int parse_body(struct broker_state *s, char *body, size_t len)
{
    char *end = body + len, *line = body;
    while (line < end) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        if (!nl)
            return -1;
        *nl = 0;
        if (line[0] == 'a') {
            struct pend_arena pa;
            memset(&pa, 0, sizeof pa);
            unsigned uid, gid, mode, idx;
            char name[SHARENA_NAME_MAX + 2] = "";
            int n = 0;
            if (sscanf(line,
                       "a %u %u %u %o %" SCNu64 " %" SCNu64 " %" SCNu64
                       " %" SCNu64 " %16" SCNx64 "%16" SCNx64 " %129s%n",
                       &idx, &uid, &gid, &mode, &pa.created_ns, &pa.capacity,
                       &pa.dev, &pa.ino, &pa.id[0], &pa.id[1], name,
                       &n) != 11 ||
                line[n] || idx != s->npa || mode > 0777 ||
                !sharena_name_valid(name) ||
                pa.capacity < SHARENA_MIN_CAPACITY ||
                pa.capacity > SHARENA_MAX_CAPACITY ||
                (pa.id[0] == 0 && pa.id[1] == 0))
                return -1;
            memcpy(pa.name, name, strlen(name) + 1); /* valid: <= 128 */
            pa.uid = uid;
            pa.gid = gid;
            pa.mode = mode;
            struct pend_arena *v = realloc(s->pa, (s->npa + 1) * sizeof(*v));
            if (!v)
                return -1;
            s->pa = v;
            s->pa[s->npa++] = pa;
        } else if (line[0] == 's') {
            struct pend_slot ps;
            memset(&ps, 0, sizeof ps);
            unsigned slot, token, uid;
            int pid, n = 0;
            if (sscanf(line, "s %u %u %d %u%n", &slot, &token, &pid, &uid,
                       &n) != 4 ||
                line[n] || slot == 0 || slot >= BROKER_MAX_SLOTS ||
                token == 0 || pid < 0 || pslot_find(s, slot))
                return -1;
            ps.slot = slot;
            ps.token = token;
            ps.pid = pid;
            ps.uid = uid;
            struct pend_slot *v = realloc(s->ps, (s->nps + 1) * sizeof(*v));
            if (!v)
                return -1;
            s->ps = v;
            s->ps[s->nps++] = ps;
        } else if (line[0] == 'l') {
            unsigned idx, slot;
            int n = 0;
            if (sscanf(line, "l %u %u%n", &idx, &slot, &n) != 2 || line[n] ||
                idx >= s->npa || !pslot_find(s, slot) ||
                pa_add_slot(&s->pa[idx], slot) < 0)
                return -1;
        } else {
            return -1;
        }
        line = nl + 1;
    }
    return 0;
}

static void pend_free(struct broker_state *s)
{
    for (uint32_t i = 0; i < s->npa; i++)
        free(s->pa[i].slots);
    free(s->pa);
    free(s->ps);
    s->pa = NULL;
    s->ps = NULL;
    s->npa = s->nps = 0;
}

/* A whole state file: its generation (0 when it is not whole or of
 * another boot); the body is left in *body. */
static uint64_t read_one(struct broker_state *s, int fd, char **body,
                         size_t *blen)
{
    struct stat st;
    *body = NULL;
    if (fstat(fd, &st) < 0 || st.st_size <= 0 ||
        (uint64_t)st.st_size > STATE_MAX)
        return 0;
    size_t size = (size_t)st.st_size;
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    size_t got = 0;
    while (got < size) {
        ssize_t n = pread(fd, buf + got, size - got, (off_t)got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = 0;
    uint64_t gen, len, sum;
    char boot[40];
    int n = 0;
    if (sscanf(buf,
               "sharenad-state 1 %" SCNu64 " %" SCNu64 " %" SCNx64 " %39s\n%n",
               &gen, &len, &sum, boot, &n) != 4 ||
        n <= 0 || (uint64_t)n + len != got || fnv(buf + n, len) != sum ||
        strcmp(boot, s->boot_id) != 0 || gen == 0) {
        free(buf);
        return 0;
    }
    memmove(buf, buf + n, len);
    *body = buf;
    *blen = len;
    return gen;
}

static int open_state_file(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & 077)) {
        close(fd);
        errno = EPERM;
        return -1;
    }
    return fd;
}

/* ------------------------------------------------------------- fd store */

static void notify_open(struct broker_state *s)
{
    s->notify_fd = -1;
    const char *e = getenv("NOTIFY_SOCKET");
    if (!e || !*e)
        return;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(e);
    if (n >= sizeof sa.sun_path || (e[0] != '/' && e[0] != '@'))
        return;
    memcpy(sa.sun_path, e, n);
    if (e[0] == '@')
        sa.sun_path[0] = 0;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    /* connected now, before the filter: the steady state only sends */
    if (connect(fd, (struct sockaddr *)&sa,
                (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0) {
        close(fd);
        return;
    }
    s->notify_fd = fd;
}

/* sd_notify without libsystemd: one datagram, the fd as SCM_RIGHTS. */
static int notify(struct broker_state *s, const char *text, int fd)
{
    if (s->notify_fd < 0)
        return -ENOTCONN;
    struct iovec iov = {.iov_base = (void *)text, .iov_len = strlen(text)};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        memset(&u, 0, sizeof u);
        mh.msg_control = u.buf;
        mh.msg_controllen = sizeof u.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    ssize_t n;
    do
        n = sendmsg(s->notify_fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : 0;
}

static void store_arena(struct broker *b, struct arena_rec *ar)
{
    struct broker_state *s = b->state;
    if (!s || s->notify_fd < 0)
        return;
    char hex[33], text[128];
    id_hex(ar->id, hex);
    snprintf(text, sizeof text, "FDSTORE=1\nFDNAME=a%s", hex);
    int r = notify(s, text, sharena_arena_fd(ar->a));
    if (r < 0 && !s->store_failed) {
        s->store_failed = true;
        broker_log(b, BLOG_WARNING,
                   "cannot hand arena '%s' to the service manager's fd "
                   "store: %s (FileDescriptorStoreMax= of the unit?); a "
                   "restart keeps only arenas that clients hold",
                   ar->name, strerror(-r));
    }
}

static void unstore_arena(struct broker *b, const uint64_t id[2])
{
    struct broker_state *s = b->state;
    if (!s || s->notify_fd < 0)
        return;
    char hex[33], text[128];
    id_hex(id, hex);
    snprintf(text, sizeof text, "FDSTOREREMOVE=1\nFDNAME=a%s", hex);
    (void)notify(s, text, -1);
}

/* LISTEN_FDS from the service manager: main.c took the listening socket;
 * the rest are stored arenas, kept here until start matches them. */
static void take_stored(struct broker_state *s)
{
    const char *pid = getenv("LISTEN_PID");
    const char *n = getenv("LISTEN_FDS");
    const char *names = getenv("LISTEN_FDNAMES");
    if (!pid || !n || atol(pid) != (long)getpid())
        return;
    long count = atol(n);
    if (count <= 0 || count > STORE_MAX)
        return;
    s->store_fd = calloc((size_t)count, sizeof(*s->store_fd));
    s->store_name = calloc((size_t)count, sizeof(*s->store_name));
    if (!s->store_fd || !s->store_name)
        return;
    const char *p = names ? names : "";
    for (long i = 0; i < count; i++) {
        const char *e = strchrnul(p, ':');
        int fd = 3 + (int)i;
        struct stat st;
        bool memfd = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
        if (memfd && e - p > 1 && e - p < 64 && p[0] == 'a') {
            fcntl(fd, F_SETFD, FD_CLOEXEC);
            memcpy(s->store_name[s->nstore], p, (size_t)(e - p));
            s->store_fd[s->nstore++] = fd;
        } else if (memfd) {
            close(fd); /* not ours: nothing to keep it for */
        }
        p = *e ? e + 1 : e;
    }
}

/* --------------------------------------------------------------- writing */

static void put(struct broker_state *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void put(struct broker_state *s, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = s->bufcap - s->buflen;
        int n = vsnprintf(s->buf ? s->buf + s->buflen : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < room) {
            s->buflen += (size_t)n;
            return;
        }
        size_t nc = s->bufcap ? s->bufcap * 2 : 4096;
        while (nc - s->buflen <= (size_t)n)
            nc *= 2;
        char *v = realloc(s->buf, nc);
        if (!v) {
            s->oom = true; /* this state is not written (the last stays) */
            return;
        }
        s->buf = v;
        s->bufcap = nc;
    }
}

static void put_arena(struct broker_state *s, uint32_t idx, const char *name,
                      uid_t uid, gid_t gid, uint32_t mode, uint64_t created,
                      uint64_t cap, uint64_t dev, uint64_t ino,
                      const uint64_t id[2])
{
    put(s,
        "a %u %u %u %o %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
        " %016" PRIx64 "%016" PRIx64 " %s\n",
        idx, (unsigned)uid, (unsigned)gid, mode, created, cap, dev, ino, id[0],
        id[1], name);
}

static bool client_has_rw(const struct client *c)
{
    for (uint32_t i = 0; i < c->nopens; i++)
        if (c->opens[i].rw && !c->opens[i].ar->deleted)
            return true;
    return false;
}

static bool slot_connected(const struct broker *b, uint32_t slot)
{
    for (const struct client *c = b->clients; c; c = c->next)
        if (c->slot == slot)
            return true;
    return false;
}

static int write_all(int fd, const char *p, size_t n)
{
    if (lseek(fd, 0, SEEK_SET) < 0)
        return -errno;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void write_state(struct broker *b)
{
    struct broker_state *s = b->state;
    s->buflen = 0;
    s->oom = false;
    uint32_t idx = 0;
    /* the arenas: named ones, then recorded ones not yet taken back */
    for (uint32_t i = 0; i < b->narenas; i++) {
        struct arena_rec *ar = b->arenas[i];
        sharena_arena_info info;
        memset(&info, 0, sizeof info);
        sharena_arena_info_get(ar->a, &info);
        ar->state_idx = idx;
        put_arena(s, idx++, ar->name, ar->uid, ar->gid, ar->mode,
                  ar->created_ns, info.capacity, ar->dev, ar->ino, ar->id);
    }
    for (uint32_t i = 0; i < s->npa; i++) {
        struct pend_arena *pa = &s->pa[i];
        if (pa->ar || pa->gone)
            continue;
        put_arena(s, idx++, pa->name, pa->uid, pa->gid, pa->mode,
                  pa->created_ns, pa->capacity, pa->dev, pa->ino, pa->id);
    }
    /* the slots: connected clients that write somewhere, then recorded
     * ones that have not come back (and are not known dead) */
    for (const struct client *c = b->clients; c; c = c->next)
        if (c->slot && client_has_rw(c))
            put(s, "s %u %u %d %u\n", c->slot, c->token ? c->token : 1,
                c->delegated ? 0 : (int)c->pid, (unsigned)c->uid);
    for (uint32_t i = 0; i < s->nps; i++)
        if (s->ps[i].state == PS_WAIT && !slot_connected(b, s->ps[i].slot))
            put(s, "s %u %u %d %u\n", s->ps[i].slot, s->ps[i].token,
                (int)s->ps[i].pid, (unsigned)s->ps[i].uid);
    /* who is attached where */
    for (const struct client *c = b->clients; c; c = c->next)
        for (uint32_t i = 0; c->slot && i < c->nopens; i++)
            if (c->opens[i].rw && !c->opens[i].ar->deleted)
                put(s, "l %u %u\n", c->opens[i].ar->state_idx, c->slot);
    idx = b->narenas;
    for (uint32_t i = 0; i < s->npa; i++) {
        struct pend_arena *pa = &s->pa[i];
        if (pa->gone)
            continue;
        uint32_t k = pa->ar ? pa->ar->state_idx : idx++;
        if (pa->ar && pa->ar->deleted)
            continue;
        for (uint32_t j = 0; j < pa->nslots; j++) {
            struct pend_slot *ps = pslot_find(s, pa->slots[j]);
            if (ps && ps->state == PS_WAIT && !slot_connected(b, ps->slot))
                put(s, "l %u %u\n", k, ps->slot);
        }
    }
    if (s->oom) {
        broker_log(b, BLOG_ERROR,
                   "out of memory writing the state file; "
                   "a restart may lose arenas");
        return;
    }
    char head[160];
    int hn = snprintf(head, sizeof head,
                      "sharenad-state 1 %" PRIu64 " %zu %016" PRIx64 " %s\n",
                      s->gen + 1, s->buflen, fnv(s->buf, s->buflen),
                      s->boot_id);
    int fd = s->fd[s->next];
    /* header and body in one buffer: one write */
    size_t total = (size_t)hn + s->buflen;
    char *all = malloc(total);
    int r = all ? 0 : -ENOMEM;
    if (all) {
        memcpy(all, head, (size_t)hn);
        if (s->buflen)
            memcpy(all + hn, s->buf, s->buflen);
        r = write_all(fd, all, total);
        if (r == 0 && ftruncate(fd, (off_t)total) < 0)
            r = -errno;
        free(all);
    }
    if (r < 0) {
        broker_log(b, BLOG_ERROR,
                   "cannot write the state file %s.%d: %s; a restart may "
                   "lose arenas",
                   s->path, s->next, strerror(-r));
        return;
    }
    s->gen++;
    s->next ^= 1;
    s->dirty = false;
}

void state_dirty(struct broker *b)
{
    if (b->state)
        b->state->dirty = true;
}

void state_sync(struct broker *b)
{
    struct broker_state *s = b->state;
    if (s && s->dirty && !s->frozen)
        write_state(b);
}

/* ------------------------------------------------------------ the start */

static void read_boot_id(char out[40])
{
    snprintf(out, 40, "unknown");
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[64];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = 0;
    buf[strcspn(buf, "\n")] = 0;
    size_t len = strlen(buf);
    if (buf[0] && len < 40 && !strchr(buf, ' '))
        memcpy(out, buf, len + 1); /* (snprintf: -Wformat-truncation) */
}

static struct pend_arena *pend_find(struct broker_state *s, uid_t uid,
                                    const char *name)
{
    for (uint32_t i = 0; i < s->npa; i++)
        if (!s->pa[i].gone && !s->pa[i].ar && s->pa[i].uid == uid &&
            strcmp(s->pa[i].name, name) == 0)
            return &s->pa[i];
    return NULL;
}

static int take_back(struct broker *b, struct pend_arena *pa, int fd,
                     const char **why);

/* The fd store's descriptors: each is checked against its record like a
 * client's; one without a record (or that fails a check) is removed from
 * the store and closed. */
static void adopt_stored(struct broker *b)
{
    struct broker_state *s = b->state;
    for (uint32_t i = 0; i < s->nstore; i++) {
        int fd = s->store_fd[i];
        struct pend_arena *pa = NULL;
        for (uint32_t j = 0; j < s->npa && !pa; j++) {
            char hex[33];
            id_hex(s->pa[j].id, hex);
            if (!s->pa[j].ar && !s->pa[j].gone &&
                strcmp(s->store_name[i] + 1, hex) == 0)
                pa = &s->pa[j];
        }
        const char *why = "no record of it in the state file";
        if (pa && take_back(b, pa, fd, &why) == 0) {
            broker_log(b, BLOG_INFO,
                       "arena '%s' (uid %u) taken back from the service "
                       "manager's fd store",
                       pa->name, (unsigned)pa->uid);
        } else {
            broker_log(b, BLOG_WARNING,
                       "a descriptor from the fd store (%s) is not taken "
                       "back: %s",
                       s->store_name[i], why);
            uint64_t id[2] = {0, 0};
            if (sscanf(s->store_name[i] + 1, "%16" SCNx64 "%16" SCNx64, &id[0],
                       &id[1]) == 2)
                unstore_arena(b, id);
        }
        close(fd);
    }
    free(s->store_fd);
    free(s->store_name);
    s->store_fd = NULL;
    s->store_name = NULL;
    s->nstore = 0;
}

int state_open(struct broker *b, bool fdstore)
{
    struct broker_state *s = calloc(1, sizeof(*s));
    if (!s)
        return -1;
    s->fd[0] = s->fd[1] = s->notify_fd = -1;
    read_boot_id(s->boot_id);
    snprintf(s->path, sizeof s->path, "%s.state", b->socket_path);
    for (int i = 0; i < 2; i++) {
        char p[PATH_MAX + 8];
        snprintf(p, sizeof p, "%s.%d", s->path, i);
        s->fd[i] = open_state_file(p);
        if (s->fd[i] < 0) {
            /* serve all the same, and say what that costs */
            broker_log(b, BLOG_WARNING,
                       "cannot keep the state file %s: %s; a restart of "
                       "this broker loses every arena no client holds, "
                       "every name, and the recovery of clients that die "
                       "meanwhile",
                       p, strerror(errno));
            if (s->fd[0] >= 0)
                close(s->fd[0]);
            free(s);
            return 0;
        }
    }
    char *body[2];
    size_t blen[2] = {0, 0};
    uint64_t g0 = read_one(s, s->fd[0], &body[0], &blen[0]);
    uint64_t g1 = read_one(s, s->fd[1], &body[1], &blen[1]);
    int pick = g1 > g0 ? 1 : 0;
    uint64_t g = pick ? g1 : g0;
    if (g && parse_body(s, body[pick], blen[pick]) < 0) {
        pend_free(s);
        /* the other one, if whole */
        int other = pick ^ 1;
        uint64_t go = other ? g1 : g0;
        if (go && parse_body(s, body[other], blen[other]) == 0)
            g = go, pick = other;
        else
            pend_free(s), g = 0;
    }
    free(body[0]);
    free(body[1]);
    s->gen = g;
    s->next = pick ^ 1; /* never overwrite the newest whole one first */
    s->start_s = mono_s();
    b->state = s;
    if (fdstore) {
        notify_open(s);
        take_stored(s);
    }
    /* the recorded slots are not handed to anyone else meanwhile */
    for (uint32_t i = 0; i < s->nps; i++) {
        uint32_t sl = s->ps[i].slot;
        b->slot_used[sl / 64] |= UINT64_C(1) << (sl % 64);
        s->unsettled++;
    }
    if (!b->adopt_grace)
        b->adopt_grace = 10;
    adopt_stored(b);
    uint32_t waiting = 0;
    for (uint32_t i = 0; i < s->npa; i++)
        waiting += !s->pa[i].ar;
    if (s->npa || s->nps)
        broker_log(b, BLOG_INFO,
                   "state file %s: %u arena%s and %u client slot%s of the "
                   "broker before; %u arena%s to be brought back by "
                   "clients (waiting up to %u s)",
                   s->path, s->npa, s->npa == 1 ? "" : "s", s->nps,
                   s->nps == 1 ? "" : "s", waiting, waiting == 1 ? "" : "s",
                   b->adopt_grace);
    state_tick(b);
    s->dirty = true;
    state_sync(b);
    return 0;
}

/* ------------------------------------------------------- taking it back */

static int check_memfd(struct broker *b, const struct pend_arena *pa, int fd,
                       const char **why)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        *why = "not a memfd";
        return -1;
    }
    if ((uint64_t)st.st_dev != pa->dev || (uint64_t)st.st_ino != pa->ino) {
        *why = "not the memfd the broker made (device and inode differ)";
        return -1;
    }
    if (st.st_uid != geteuid()) {
        *why = "not a memfd of the broker's user";
        return -1;
    }
    if ((uint64_t)st.st_size != pa->capacity) {
        *why = "not the recorded size";
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_ACCMODE) != O_RDWR) {
        *why = "not open read-write";
        return -1;
    }
    int seals = fcntl(fd, F_GET_SEALS);
    int want = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
    if (seals < 0 || (seals & want) != want) {
        *why = "not sealed as the broker seals";
        return -1;
    }
    (void)b;
    return 0;
}

/* Stand-in for a recorded client, for broker_scan_add's log line. */
static struct client stand_in(const struct pend_slot *ps)
{
    struct client c;
    memset(&c, 0, sizeof c);
    c.slot = ps->slot;
    c.pid = ps->pid;
    c.uid = ps->uid;
    return c;
}

static void slot_leaves(struct broker *b, struct arena_rec *ar,
                        const struct pend_slot *ps)
{
    if (!(ar->live[ps->slot / 64] & (UINT64_C(1) << (ps->slot % 64))))
        return;
    sharena_owner_detach(ar->a, ps->slot);
    ar->live[ps->slot / 64] &= ~(UINT64_C(1) << (ps->slot % 64));
    struct client c = stand_in(ps);
    if (broker_scan_add(b, ar, &c) < 0)
        broker_log(b, BLOG_ERROR,
                   "out of memory queueing the recovery of client slot %u "
                   "in arena '%s'",
                   ps->slot, ar->name);
}

/* Check @p fd against @p pa and make it a named arena again. */
static int take_back(struct broker *b, struct pend_arena *pa, int fd,
                     const char **why)
{
    struct broker_state *s = b->state;
    if (check_memfd(b, pa, fd, why) < 0)
        return -1;
    sharena_arena *a = NULL;
    int r = sharena__arena_map(fd, 0, &a);
    if (r < 0) {
        *why = "its header is not a valid arena's";
        return -1;
    }
    struct sharena__header *h = sharena__hdr(a);
    uint64_t id0 = SHARENA__LD(h->arena_id[0]);
    uint64_t id1 = SHARENA__LD(h->arena_id[1]);
    if (id0 != pa->id[0] || id1 != pa->id[1]) {
        sharena_arena_close(a);
        *why = "its identity is not the recorded one";
        return -1;
    }
    if (b->narenas == b->caparenas) {
        uint32_t nc = b->caparenas ? b->caparenas * 2 : 16;
        struct arena_rec **v = realloc(b->arenas, nc * sizeof(*v));
        if (!v) {
            sharena_arena_close(a);
            *why = "out of memory";
            return -1;
        }
        b->arenas = v;
        b->caparenas = nc;
    }
    struct arena_rec *ar = calloc(1, sizeof(*ar));
    if (!ar) {
        sharena_arena_close(a);
        *why = "out of memory";
        return -1;
    }
    ar->a = a;
    snprintf(ar->name, sizeof ar->name, "%s", pa->name);
    ar->ro_fd = -1;
    ar->uid = pa->uid;
    ar->gid = pa->gid;
    ar->mode = pa->mode;
    ar->created_ns = pa->created_ns;
    ar->refs = 1;
    ar->id[0] = pa->id[0];
    ar->id[1] = pa->id[1];
    ar->dev = pa->dev;
    ar->ino = pa->ino;
    b->arenas[b->narenas++] = ar;
    ar->all_next = b->all;
    if (b->all)
        b->all->all_prev = ar;
    b->all = ar;
    pa->ar = ar;
    /* Who was attached stays live (their locks are theirs) until they come
     * back or are found dead; those found dead already are scanned now. */
    for (uint32_t i = 0; i < pa->nslots; i++) {
        uint32_t sl = pa->slots[i];
        ar->live[sl / 64] |= UINT64_C(1) << (sl % 64);
    }
    sharena_owner_sync(a, ar->live, BROKER_MAX_SLOTS / 64);
    for (uint32_t i = 0; i < pa->nslots; i++) {
        struct pend_slot *ps = pslot_find(s, pa->slots[i]);
        if (ps && ps->state == PS_DEAD)
            slot_leaves(b, ar, ps);
    }
    s->adopted++;
    s->dirty = true;
    if (s->notify_fd >= 0)
        store_arena(b, ar);
    return 0;
}

uint32_t state_token(struct broker *b)
{
    if (!b->state)
        return 0;
    uint32_t t = 0;
    while (t == 0)
        if (getrandom(&t, sizeof t, 0) != sizeof t)
            t = (uint32_t)mono_s() ^ (uint32_t)b->nclients ^ 0x5a5a5a5au;
    return t;
}

void state_arena_made(struct broker *b, struct arena_rec *ar)
{
    struct broker_state *s = b->state;
    if (!s)
        return;
    while (ar->id[0] == 0 && ar->id[1] == 0)
        if (getrandom(ar->id, sizeof ar->id, 0) != sizeof ar->id)
            ar->id[0] = (uint64_t)mono_s() ^ (uintptr_t)ar;
    struct sharena__header *h = sharena__hdr(ar->a);
    SHARENA__ST(h->arena_id[0], ar->id[0]);
    SHARENA__ST(h->arena_id[1], ar->id[1]);
    struct stat st;
    if (fstat(sharena_arena_fd(ar->a), &st) == 0) {
        ar->dev = (uint64_t)st.st_dev;
        ar->ino = (uint64_t)st.st_ino;
    }
    s->dirty = true;
    store_arena(b, ar);
}

void state_arena_gone(struct broker *b, struct arena_rec *ar)
{
    struct broker_state *s = b->state;
    if (!s || s->frozen)
        return;
    unstore_arena(b, ar->id);
    for (uint32_t i = 0; i < s->npa; i++) {
        if (s->pa[i].ar == ar) {
            s->pa[i].ar = NULL; /* (it may be freed soon) */
            s->pa[i].gone = true;
        }
    }
    s->dirty = true;
}

bool state_settling(const struct broker *b, uid_t uid, const char *name)
{
    struct broker_state *s = b->state;
    if (!s || s->grace_over)
        return false;
    return pend_find(s, uid, name) != NULL;
}

bool state_awaits(const struct broker *b, uid_t uid, const char *name)
{
    struct broker_state *s = b->state;
    if (!s || s->grace_over)
        return false;
    struct pend_arena *pa = pend_find(s, uid, name);
    return pa && pa->nslots > 0;
}

void state_superseded(struct broker *b, uid_t uid, const char *name)
{
    struct broker_state *s = b->state;
    struct pend_arena *pa = s ? pend_find(s, uid, name) : NULL;
    if (pa) {
        pa->gone = true;
        s->dirty = true;
    }
}

bool state_busy(const struct broker *b)
{
    return b->state && (!b->state->grace_over || b->state->unsettled);
}

static int send_error(struct client *c, uint32_t seq, int code,
                      const char *text)
{
    struct sharena__msg_error e;
    sharena__proto_error(&e, seq, code, text);
    return sharena__proto_send(c->fd, &e, sizeof e, -1);
}

int state_resume(struct broker *b, struct client *c,
                 const struct sharena__msg_resume *m)
{
    struct broker_state *s = b->state;
    uint32_t seq = m->h.seq;
    if (m->layout_hash != sharena_layout_hash()) {
        send_error(c, seq, SHARENA_ELAYOUT,
                   "client library built with a different arena layout");
        return SHARENA_ELAYOUT;
    }
    struct pend_slot *ps = s ? pslot_find(s, m->slot) : NULL;
    const char *why = NULL;
    if (!s)
        why = "this broker keeps no state: say HELLO";
    else if (!ps || ps->state != PS_WAIT || slot_connected(b, m->slot))
        why = "no such client slot waiting to come back: say HELLO";
    else if (c->delegated || ps->token != m->token || ps->uid != c->uid ||
             ps->pid != c->pid)
        why = "that client slot was another process's: say HELLO";
    if (why) {
        broker_log(b, BLOG_DEBUG,
                   "pid %d (uid %u) cannot resume client "
                   "slot %u: %s",
                   (int)c->pid, (unsigned)c->uid, m->slot, why);
        return send_error(c, seq, SHARENA_ENOENT, why);
    }
    c->slot = ps->slot;
    c->token = ps->token;
    ps->state = PS_BACK;
    s->unsettled--;
    s->dirty = true;
    broker_log(b, BLOG_INFO, "client slot %u (pid %d, uid %u) came back",
               c->slot, (int)c->pid, (unsigned)c->uid);
    struct sharena__msg_welcome w;
    memset(&w, 0, sizeof(w));
    sharena__proto_hdr(&w.h, SHARENA__MSG_WELCOME, sizeof(w), seq);
    w.slot = c->slot;
    w.layout_hash = sharena_layout_hash();
    w.broker_pid = (uint32_t)getpid();
    w.token = c->token;
    return sharena__proto_send(c->fd, &w, sizeof w, -1);
}

/* Attach @p c's slot to @p ar read-write, as an OPEN would (no fd sent:
 * the client has its own). */
static int attach(struct broker *b, struct client *c, struct arena_rec *ar)
{
    struct open_rec *o = NULL;
    for (uint32_t i = 0; i < c->nopens && !o; i++)
        if (c->opens[i].ar == ar)
            o = &c->opens[i];
    if (!o) {
        if (c->nopens == c->capopens) {
            uint32_t nc = c->capopens ? c->capopens * 2 : 4;
            struct open_rec *v = realloc(c->opens, nc * sizeof(*v));
            if (!v)
                return SHARENA_ENOMEM;
            c->opens = v;
            c->capopens = nc;
        }
        o = &c->opens[c->nopens++];
        *o = (struct open_rec){.ar = ar};
        ar->refs++;
        ar->clients++;
    }
    if (!o->rw) {
        broker_scan_forget(b, ar, c->slot);
        sharena_owner_attach(ar->a, c->slot);
        ar->live[c->slot / 64] |= UINT64_C(1) << (c->slot % 64);
        o->rw = true;
    }
    o->count++;
    return 0;
}

int state_adopt(struct broker *b, struct client *c,
                const struct sharena__msg_adopt *m, int fd)
{
    struct broker_state *s = b->state;
    uint32_t seq = m->h.seq;
    char text[SHARENA__PROTO_TEXT];
    int64_t owner;
    const char *plain = sharena__proto_name_split(m->name, &owner);
    uid_t uid = (uid_t)owner;
    int r;
    if (fd < 0)
        return send_error(c, seq, SHARENA_EBADF,
                          "ADOPT without the arena's descriptor");
    struct arena_rec *ar = NULL;
    for (uint32_t i = 0; i < b->narenas && !ar; i++)
        if (b->arenas[i]->uid == uid && strcmp(b->arenas[i]->name, plain) == 0)
            ar = b->arenas[i];
    if (!ar) {
        struct pend_arena *pa = s ? pend_find(s, uid, plain) : NULL;
        if (!pa) {
            close(fd);
            snprintf(text, sizeof text,
                     "no record of arena '%.40s' of uid %u: a broker takes "
                     "back only arenas it made",
                     plain, (unsigned)uid);
            return send_error(c, seq, SHARENA_ENOENT, text);
        }
        /* the access the record grants, before anything is looked at */
        struct arena_rec probe;
        memset(&probe, 0, sizeof probe);
        snprintf(probe.name, sizeof probe.name, "%s", pa->name);
        probe.uid = pa->uid;
        probe.gid = pa->gid;
        probe.mode = pa->mode;
        if (broker_access(b, c, &probe) < 2) {
            close(fd);
            return send_error(c, seq, SHARENA_EACCES,
                              "no write access to that arena");
        }
        const char *why = "";
        if (take_back(b, pa, fd, &why) < 0) {
            close(fd);
            s->refused++;
            broker_log(b, BLOG_WARNING,
                       "refused to take arena '%s' (uid %u) back from pid %d "
                       "(uid %u): %s",
                       pa->name, (unsigned)pa->uid, (int)c->pid,
                       (unsigned)c->uid, why);
            snprintf(text, sizeof text, "arena '%.40s' not taken back: %s",
                     pa->name, why);
            return send_error(c, seq, SHARENA_EPERM, text);
        }
        ar = pa->ar;
        broker_log(b, BLOG_INFO,
                   "arena '%s' (uid %u) taken back from pid %d (client slot "
                   "%u)",
                   ar->name, (unsigned)ar->uid, (int)c->pid, c->slot);
    } else {
        struct stat st;
        if (fstat(fd, &st) < 0 || (uint64_t)st.st_dev != ar->dev ||
            (uint64_t)st.st_ino != ar->ino) {
            close(fd);
            snprintf(text, sizeof text,
                     "arena '%.40s' on this broker is another memfd than "
                     "yours",
                     ar->name);
            return send_error(c, seq, SHARENA_EEXIST, text);
        }
    }
    close(fd);
    if (broker_access(b, c, ar) < 2)
        return send_error(c, seq, SHARENA_EACCES,
                          "no write access to that arena");
    r = attach(b, c, ar);
    if (r < 0)
        return send_error(c, seq, r, NULL);
    state_dirty(b);
    struct sharena__msg_hdr h;
    sharena__proto_hdr(&h, SHARENA__MSG_OK, sizeof h, seq);
    return sharena__proto_send(c->fd, &h, sizeof h, -1);
}

static const struct client *client_of(const struct broker *b, uint32_t slot)
{
    for (const struct client *c = b->clients; c; c = c->next)
        if (c->slot == slot)
            return c;
    return NULL;
}

static void slot_dead(struct broker *b, struct pend_slot *ps, const char *how)
{
    struct broker_state *s = b->state;
    ps->state = PS_DEAD;
    s->unsettled--;
    s->dirty = true;
    uint32_t now = 0, later = 0;
    for (uint32_t i = 0; i < s->npa; i++) {
        struct pend_arena *pa = &s->pa[i];
        for (uint32_t j = 0; j < pa->nslots; j++) {
            if (pa->slots[j] != ps->slot || pa->gone)
                continue;
            if (pa->ar) {
                now++;
                slot_leaves(b, pa->ar, ps);
            } else {
                later++; /* take_back scans it */
            }
        }
    }
    broker_log(b, BLOG_INFO,
               "client slot %u (pid %d, uid %u) of the broker before %s: "
               "its locks are marked owner-died in %u arena%s now and in "
               "%u more as they are taken back",
               ps->slot, (int)ps->pid, (unsigned)ps->uid, how, now,
               now == 1 ? "" : "s", later);
}

/* Is @p pid gone? kill(pid, 0) says so for a process that was reaped; at
 * start, before the filter, /proc also tells a zombie (dead, not yet
 * reaped by its parent) from a live process. */
static bool pid_gone(pid_t pid, bool at_start)
{
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return true;
    if (!at_start)
        return false;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = 0;
    const char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

void state_tick(struct broker *b)
{
    struct broker_state *s = b->state;
    if (!s || (s->grace_over && !s->unsettled))
        return;
    time_t now = mono_s();
    if (now == s->ticked_s)
        return;
    bool at_start = s->ticked_s == 0;
    s->ticked_s = now;
    bool over = now - s->start_s >= (time_t)b->adopt_grace;
    for (uint32_t i = 0; i < s->nps; i++) {
        struct pend_slot *ps = &s->ps[i];
        if (ps->state != PS_WAIT)
            continue;
        if (ps->pid > 0 && pid_gone(ps->pid, at_start))
            slot_dead(b, ps, "died while no broker ran");
        else if (over && ps->pid == 0)
            slot_dead(b, ps, "(a delegated connection) did not come back");
        else if (over && !ps->warned) {
            ps->warned = true;
            broker_log(b, BLOG_WARNING,
                       "client slot %u (pid %d, uid %u) has not come back, "
                       "but its process lives: its locks stay its own until "
                       "it exits",
                       ps->slot, (int)ps->pid, (unsigned)ps->uid);
        }
    }
    if (over && !s->grace_over) {
        s->grace_over = true;
        uint32_t lost = 0;
        for (uint32_t i = 0; i < s->npa; i++) {
            struct pend_arena *pa = &s->pa[i];
            if (pa->gone)
                continue;
            if (!pa->ar) {
                pa->gone = true;
                lost++;
                broker_log(b, BLOG_WARNING,
                           "arena '%s' (uid %u) was not brought back within "
                           "%u s: no live client holds it, its data went "
                           "with the last process that did; the name is "
                           "free",
                           pa->name, (unsigned)pa->uid, b->adopt_grace);
                continue;
            }
            /* came back, but not to this arena: it no longer holds it */
            for (uint32_t j = 0; j < pa->nslots; j++) {
                struct pend_slot *ps = pslot_find(s, pa->slots[j]);
                const struct client *c = ps && ps->state == PS_BACK
                                             ? client_of(b, ps->slot)
                                             : NULL;
                bool there = false;
                for (uint32_t k = 0; c && k < c->nopens; k++)
                    there = there ||
                            (c->opens[k].ar == pa->ar && c->opens[k].rw);
                if (ps && ps->state == PS_BACK && !there)
                    slot_leaves(b, pa->ar, ps);
            }
        }
        s->dirty = true;
        if (s->npa || s->nps)
            broker_log(b, lost ? BLOG_WARNING : BLOG_INFO,
                       "restart settled: %" PRIu64 " of %u recorded arena%s "
                       "taken back, %u not; %u client slot%s still to come "
                       "back",
                       s->adopted, s->npa, s->npa == 1 ? "" : "s", lost,
                       s->unsettled, s->unsettled == 1 ? "" : "s");
    }
    if (s->grace_over) {
        /* reserved slots found dead go back to the pool (their scans,
         * if any, keep them out of it until done) */
        for (uint32_t i = 0; i < s->nps; i++) {
            struct pend_slot *ps = &s->ps[i];
            if (ps->state == PS_DEAD && ps->slot &&
                !slot_connected(b, ps->slot)) {
                b->slot_used[ps->slot / 64] &= ~(UINT64_C(1)
                                                 << (ps->slot % 64));
                ps->slot = 0; /* (released once) */
            }
        }
    }
}

void state_stop(struct broker *b)
{
    struct broker_state *s = b->state;
    uint32_t open = 0;
    for (uint32_t i = 0; i < b->narenas; i++)
        open += b->arenas[i]->clients > 0;
    if (s) {
        s->dirty = true;
        state_sync(b);
        s->frozen = true;
    }
    if (!b->stop)
        return;
    bool stored = s && s->notify_fd >= 0 && !s->store_failed;
    if (!s)
        broker_log(b, BLOG_INFO,
                   "%u arena%s (%u in use, %u connection%s): clients keep "
                   "their mappings, data and locks; without a state file "
                   "the names go with the broker, arenas no client holds "
                   "are lost, and the locks of a client that dies after "
                   "this are not recovered",
                   b->narenas, b->narenas == 1 ? "" : "s", open, b->nclients,
                   b->nclients == 1 ? "" : "s");
    else
        broker_log(b, BLOG_INFO,
                   "%u arena%s (%u in use, %u connection%s) recorded in "
                   "%s.0/.1: clients keep their mappings, data and locks; "
                   "a broker started on this socket takes back %s, and "
                   "recovers the locks of clients that die meanwhile%s",
                   b->narenas, b->narenas == 1 ? "" : "s", open, b->nclients,
                   b->nclients == 1 ? "" : "s", s->path,
                   stored ? "every arena (the service manager's fd store "
                            "holds them) with its name"
                          : "every arena a client still holds, with its "
                            "name",
                   stored || open == b->narenas ? ""
                   : b->state_dir_saved
                       ? "; an arena that no client holds comes back from "
                         "the state directory"
                       : "; an arena that no client holds is lost now");
}

void state_close(struct broker *b)
{
    struct broker_state *s = b->state;
    if (!s)
        return;
    for (int i = 0; i < 2; i++)
        if (s->fd[i] >= 0)
            close(s->fd[i]);
    if (s->notify_fd >= 0)
        close(s->notify_fd);
    for (uint32_t i = 0; i < s->nstore; i++)
        close(s->store_fd[i]);
    free(s->store_fd);
    free(s->store_name);
    pend_free(s);
    free(s->buf);
    free(s);
    b->state = NULL;
}
