/* broker.c: sharenad's event loop, client state machine, arena registry and
 * recovery of clients that go away. docs/protocol.md is the contract.
 *
 * Rules that keep one client from hurting the others: every socket is
 * non-blocking; a client gets at most a few requests served per wakeup; a
 * reply that cannot be sent at once (the client does not read) drops that
 * client; anything malformed drops that client; nothing a client sends is
 * read before sharena__proto_check() accepted it. */
#include "broker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifdef SHARENA_HAVE_LIBBSD
#include <bsd/unistd.h>
#endif

#define REQUESTS_PER_WAKEUP 16

/* ---------------------------------------------------------------- slots */

static uint32_t slot_alloc(struct broker *b)
{
    for (uint32_t i = 0; i < BROKER_MAX_SLOTS - 1; i++) {
        uint32_t s = 1 + (b->slot_cursor + i) % (BROKER_MAX_SLOTS - 1);
        if (!(b->slot_used[s / 64] & (UINT64_C(1) << (s % 64)))) {
            b->slot_used[s / 64] |= UINT64_C(1) << (s % 64);
            /* Hand out slots round-robin, so a slot just freed is the last
             * to come back: a reader of an old lock word sees a dead slot,
             * not a stranger. */
            b->slot_cursor = s;
            return s;
        }
    }
    return 0;
}

static void slot_free(struct broker *b, uint32_t s)
{
    if (s)
        b->slot_used[s / 64] &= ~(UINT64_C(1) << (s % 64));
}

/* ------------------------------------------------------------- registry */

static struct arena_rec *arena_find(struct broker *b, const char *name)
{
    for (uint32_t i = 0; i < b->narenas; i++)
        if (strcmp(b->arenas[i]->name, name) == 0)
            return b->arenas[i];
    return NULL;
}

static void arena_unref(struct broker *b, struct arena_rec *ar)
{
    if (--ar->refs)
        return;
    if (ar->all_prev)
        ar->all_prev->all_next = ar->all_next;
    else
        b->all = ar->all_next;
    if (ar->all_next)
        ar->all_next->all_prev = ar->all_prev;
    sharena_arena_close(ar->a);
    if (ar->ro_fd >= 0)
        close(ar->ro_fd);
    free(ar);
}

static void arena_unlink(struct broker *b, struct arena_rec *ar)
{
    for (uint32_t i = 0; i < b->narenas; i++) {
        if (b->arenas[i] == ar) {
            memmove(&b->arenas[i], &b->arenas[i + 1],
                    (b->narenas - i - 1) * sizeof(*b->arenas));
            b->narenas--;
            ar->deleted = true;
            arena_unref(b, ar);
            return;
        }
    }
}

static uint32_t owner_arenas(struct broker *b, uid_t uid)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < b->narenas; i++)
        n += b->arenas[i]->uid == uid;
    return n;
}

static uint64_t owner_capacity(struct broker *b, uid_t uid)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < b->narenas; i++) {
        if (b->arenas[i]->uid == uid) {
            sharena_arena_info info;
            if (sharena_arena_info_get(b->arenas[i]->a, &info) == 0)
                sum += info.capacity;
        }
    }
    return sum;
}

/* ---------------------------------------------------------------- access */

static bool in_groups(const struct client *c, gid_t g)
{
    if (c->gid == g)
        return true;
    for (int i = 0; i < c->ngroups; i++)
        if (c->groups[i] == g)
            return true;
    return false;
}

static bool delegated_allows(const struct client *c, const char *name)
{
    if (!c->delegated)
        return true;
    for (uint32_t i = 0; i < c->nallowed; i++)
        if (strcmp(c->allowed[i], name) == 0)
            return true;
    return false;
}

/* What @p c may do with @p ar: 0 nothing, 1 read, 2 read and write. */
static int access_for(const struct broker *b, const struct client *c,
                      const struct arena_rec *ar)
{
    if (!delegated_allows(c, ar->name))
        return 0;
    int acc;
    if (c->uid == 0 || c->uid == ar->uid) {
        acc = 2;
    } else {
        unsigned bits = in_groups(c, ar->gid) ? (ar->mode >> 3) & 7
                                              : ar->mode & 7;
        acc = (bits & 4) ? ((bits & 2) ? 2 : 1) : 0;
        int p = policy_access(b->policy, ar->name, c);
        if (p > acc)
            acc = p;
    }
    if (c->delegated_ro && acc > 1)
        acc = 1;
    return acc;
}

/* ------------------------------------------------------------ messaging */

static int reply(struct client *c, const void *msg, size_t len, int fd)
{
    int r = sharena__proto_send(c->fd, msg, len, fd);
    /* EAGAIN: the client does not read its replies; it is dropped rather
     * than allowed to make the broker wait. */
    return r;
}

static int reply_error(struct client *c, uint32_t seq, int code,
                       const char *text)
{
    struct sharena__msg_error e;
    sharena__proto_error(&e, seq, code, text ? text : sharena_strerror(code));
    return reply(c, &e, sizeof(e), -1);
}

static int reply_ok(struct client *c, uint32_t seq)
{
    struct sharena__msg_hdr h;
    sharena__proto_hdr(&h, SHARENA__MSG_OK, sizeof(h), seq);
    return reply(c, &h, sizeof(h), -1);
}

static struct open_rec *open_find(struct client *c, struct arena_rec *ar)
{
    for (uint32_t i = 0; i < c->nopens; i++)
        if (c->opens[i].ar == ar)
            return &c->opens[i];
    return NULL;
}

/* The client is gone or closed the arena: its slot no longer writes there.
 * Whatever lock it still holds is marked owner-died (and repaired by the
 * library) before the slot leaves the arena's live set. */
static void release_open(struct broker *b, struct client *c,
                         struct open_rec *o, bool unclean)
{
    struct arena_rec *ar = o->ar;
    /* A broker that stops closes connections of clients that are alive and
     * may hold locks: those stay theirs (and their slots stay live in the
     * arena), or another process would take a lock its holder is still
     * writing under. The price: one that dies after the broker has gone is
     * not recovered (docs/locking.md, Limits). */
    if (o->rw && !b->stopping) {
        int n = sharena_recover_owner(ar->a, c->slot);
        if (n > 0 && unclean)
            b->recovered++;
        if (n > 0)
            ar->pending = true; /* the tick finishes what could not be */
        if (n > 0)
            broker_log(b, BLOG_WARNING,
                       "client slot %u (pid %d, uid %u) went away holding %d "
                       "lock%s in arena '%s': marked owner-died (repaired now "
                       "or by the next locker)",
                       c->slot, (int)c->pid, (unsigned)c->uid, n,
                       n == 1 ? "" : "s", ar->name);
        else if (n < 0)
            broker_log(b, BLOG_ERROR,
                       "recovering client slot %u in arena '%s': %s", c->slot,
                       ar->name, sharena_strerror(n));
        sharena_owner_detach(ar->a, c->slot);
        ar->live[c->slot / 64] &= ~(UINT64_C(1) << (c->slot % 64));
    }
    ar->clients--;
    *o = c->opens[--c->nopens];
    arena_unref(b, ar);
}

static void set_title(struct broker *b)
{
#ifdef SHARENA_HAVE_LIBBSD
    if (b->title)
        setproctitle("%u arenas, %u clients", b->narenas, b->nclients);
#else
    (void)b;
#endif
}

/* ------------------------------------------------------------- requests */

static int do_hello(struct broker *b, struct client *c,
                    const struct sharena__msg_hello *m)
{
    if (m->layout_hash != sharena_layout_hash()) {
        reply_error(c, m->h.seq, SHARENA_ELAYOUT,
                    "client library built with a different arena layout");
        return SHARENA_ELAYOUT;
    }
    c->slot = slot_alloc(b);
    if (!c->slot) {
        reply_error(c, m->h.seq, SHARENA_ENOSPC, "no free client slot");
        return SHARENA_ENOSPC;
    }
    struct sharena__msg_welcome w;
    memset(&w, 0, sizeof(w));
    sharena__proto_hdr(&w.h, SHARENA__MSG_WELCOME, sizeof(w), m->h.seq);
    w.slot = c->slot;
    w.flags = (c->delegated ? SHARENA__WELCOME_DELEGATED : 0) |
              (c->delegated_ro ? SHARENA__WELCOME_READONLY : 0);
    w.layout_hash = sharena_layout_hash();
    w.broker_pid = (uint32_t)getpid();
    return reply(c, &w, sizeof(w), -1);
}

static int create_arena(struct broker *b, struct client *c,
                        const struct sharena__msg_name *m,
                        struct arena_rec **out)
{
    if (c->delegated_ro)
        return SHARENA_EACCES;
    uint64_t cap = m->capacity ? m->capacity : SHARENA_DEFAULT_CAPACITY;
    if (owner_arenas(b, c->uid) >= b->lim.max_arenas)
        return SHARENA_ENOSPC;
    if (cap > b->lim.max_capacity ||
        owner_capacity(b, c->uid) > b->lim.max_capacity - cap)
        return SHARENA_ENOSPC;
    if (b->narenas == b->caparenas) {
        uint32_t nc = b->caparenas ? b->caparenas * 2 : 16;
        struct arena_rec **v = realloc(b->arenas, nc * sizeof(*v));
        if (!v)
            return SHARENA_ENOMEM;
        b->arenas = v;
        b->caparenas = nc;
    }
    struct arena_rec *ar = calloc(1, sizeof(*ar));
    if (!ar)
        return SHARENA_ENOMEM;
    int r = sharena_arena_create(m->name, cap, &ar->a);
    if (r < 0) {
        free(ar);
        return r;
    }
    memcpy(ar->name, m->name, strnlen(m->name, SHARENA_NAME_MAX)); /* checked */
    ar->ro_fd = -1;
    ar->uid = c->uid;
    ar->gid = c->gid;
    ar->mode = m->mode ? m->mode : 0600;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ar->created_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    ar->refs = 1;
    b->arenas[b->narenas++] = ar;
    ar->all_next = b->all;
    if (b->all)
        b->all->all_prev = ar;
    b->all = ar;
    *out = ar;
    return 0;
}

static int do_open(struct broker *b, struct client *c,
                   const struct sharena__msg_name *m)
{
    uint32_t seq = m->h.seq;
    struct arena_rec *ar = arena_find(b, m->name);
    bool created = false;
    int r;
    if (!delegated_allows(c, m->name))
        return reply_error(c, seq, SHARENA_EACCES,
                           "arena not granted to this delegated connection");
    if (!ar) {
        if (!(m->flags & SHARENA_CREATE))
            return reply_error(c, seq, SHARENA_ENOENT, "no such arena");
        r = create_arena(b, c, m, &ar);
        if (r == SHARENA_ENOSPC) {
            broker_log(b, BLOG_WARNING,
                       "refused to create arena '%s' for pid %d (uid %u): "
                       "arena or capacity limit of the user reached",
                       m->name, (int)c->pid, (unsigned)c->uid);
            return reply_error(c, seq, r,
                               "limit reached: arenas or capacity per user");
        }
        if (r < 0)
            return reply_error(c, seq, r, NULL);
        created = true;
        sharena_arena_info ci;
        sharena_arena_info_get(ar->a, &ci);
        broker_log(b, BLOG_INFO,
                   "arena '%s' created by pid %d (uid %u): %llu bytes, "
                   "mode %04o", ar->name, (int)c->pid, (unsigned)c->uid,
                   (unsigned long long)ci.capacity, (unsigned)ar->mode);
    } else if ((m->flags & SHARENA_CREATE) && (m->flags & SHARENA_EXCL)) {
        return reply_error(c, seq, SHARENA_EEXIST, "arena exists");
    }
    int acc = access_for(b, c, ar);
    if (acc == 0)
        return reply_error(c, seq, SHARENA_EACCES, NULL);
    bool rw = acc == 2 && !(m->flags & SHARENA_READONLY);
    int fd;
    if (rw) {
        fd = sharena_arena_fd(ar->a);
    } else {
        if (ar->ro_fd < 0)
            ar->ro_fd = reopen_readonly(b->reopen_fd, sharena_arena_fd(ar->a));
        if (ar->ro_fd < 0)
            return reply_error(c, seq, SHARENA_EIO,
                               "cannot make a read-only descriptor");
        fd = ar->ro_fd;
    }
    struct open_rec *o = open_find(c, ar);
    if (!o) {
        if (c->nopens == c->capopens) {
            uint32_t nc = c->capopens ? c->capopens * 2 : 4;
            struct open_rec *v = realloc(c->opens, nc * sizeof(*v));
            if (!v)
                return reply_error(c, seq, SHARENA_ENOMEM, NULL);
            c->opens = v;
            c->capopens = nc;
        }
        o = &c->opens[c->nopens++];
        *o = (struct open_rec){.ar = ar};
        ar->refs++;
        ar->clients++;
    }
    if (rw && !o->rw) {
        /* Before the fd leaves: from now on a lock word naming this slot
         * belongs to a live client. */
        sharena_owner_attach(ar->a, c->slot);
        ar->live[c->slot / 64] |= UINT64_C(1) << (c->slot % 64);
        o->rw = true;
    }
    o->count++;
    sharena_arena_info info;
    sharena_arena_info_get(ar->a, &info);
    struct sharena__msg_opened ok;
    memset(&ok, 0, sizeof(ok));
    sharena__proto_hdr(&ok.h, SHARENA__MSG_OPENED, sizeof(ok), seq);
    ok.capacity = info.capacity;
    ok.flags = rw ? 0 : SHARENA_READONLY;
    ok.created = created;
    set_title(b);
    return reply(c, &ok, sizeof(ok), fd);
}

static int do_close(struct broker *b, struct client *c,
                    const struct sharena__msg_name *m)
{
    struct arena_rec *ar = NULL;
    for (uint32_t i = 0; i < c->nopens && !ar; i++)
        if (strcmp(c->opens[i].ar->name, m->name) == 0)
            ar = c->opens[i].ar;
    struct open_rec *o = ar ? open_find(c, ar) : NULL;
    if (!o)
        return reply_error(c, m->h.seq, SHARENA_ENOENT,
                           "arena not open on this connection");
    if (--o->count == 0)
        release_open(b, c, o, false);
    set_title(b);
    return reply_ok(c, m->h.seq);
}

static int do_delete(struct broker *b, struct client *c,
                     const struct sharena__msg_name *m)
{
    struct arena_rec *ar = arena_find(b, m->name);
    if (!ar || !delegated_allows(c, m->name))
        return reply_error(c, m->h.seq, SHARENA_ENOENT, "no such arena");
    if (c->delegated || (c->uid != 0 && c->uid != ar->uid))
        return reply_error(c, m->h.seq, SHARENA_EACCES,
                           "only the arena's owner may delete it");
    broker_log(b, BLOG_INFO, "arena '%s' deleted by pid %d (uid %u); %u "
               "client%s keep it mapped", ar->name, (int)c->pid,
               (unsigned)c->uid, ar->clients, ar->clients == 1 ? "" : "s");
    arena_unlink(b, ar);
    set_title(b);
    return reply_ok(c, m->h.seq);
}

static void stat_fill(const struct arena_rec *ar, struct sharena__wire_stat *w)
{
    sharena_arena_info info;
    memset(w, 0, sizeof(*w));
    memset(&info, 0, sizeof(info));
    sharena_arena_info_get(ar->a, &info);
    memcpy(w->name, ar->name, strlen(ar->name));
    w->capacity = info.capacity;
    w->used_bytes = info.used_bytes;
    w->objects = info.objects;
    w->created_ns = ar->created_ns;
    w->clients = ar->clients;
    w->uid = ar->uid;
    w->gid = ar->gid;
    w->mode = ar->mode;
}

static int do_stat(struct broker *b, struct client *c,
                   const struct sharena__msg_name *m)
{
    struct arena_rec *ar = arena_find(b, m->name);
    if (!ar || !delegated_allows(c, m->name))
        return reply_error(c, m->h.seq, SHARENA_ENOENT, "no such arena");
    if (access_for(b, c, ar) == 0)
        return reply_error(c, m->h.seq, SHARENA_EACCES, NULL);
    struct sharena__msg_stated s;
    sharena__proto_hdr(&s.h, SHARENA__MSG_STATED, sizeof(s), m->h.seq);
    stat_fill(ar, &s.st);
    return reply(c, &s, sizeof(s), -1);
}

static int do_list(struct broker *b, struct client *c,
                   const struct sharena__msg_list *m)
{
    static union sharena__msg out; /* one thread; too big for the stack */
    uint32_t k = 0, i = m->start, next = 0;
    for (; i < b->narenas; i++) {
        if (access_for(b, c, b->arenas[i]) == 0)
            continue;
        if (k == SHARENA__PROTO_LIST_MAX) {
            next = i;
            break;
        }
        stat_fill(b->arenas[i], &out.listed.st[k++]);
    }
    size_t len = sizeof(out.listed) + k * sizeof(struct sharena__wire_stat);
    sharena__proto_hdr(&out.h, SHARENA__MSG_LISTED, len, m->h.seq);
    out.listed.count = k;
    out.listed.next = next;
    return reply(c, &out, len, -1);
}

static int cmp_wire_client(const void *x, const void *y)
{
    uint32_t a = ((const struct sharena__wire_client *)x)->slot;
    uint32_t b = ((const struct sharena__wire_client *)y)->slot;
    return (a > b) - (a < b);
}

/* Who has the arena open: the slots that own its locks, with the pid and
 * uid the kernel vouched for at connect (`sharena locks` names them). Same
 * visibility as STAT. */
static int do_clients(struct broker *b, struct client *c,
                      const struct sharena__msg_clients *m)
{
    static union sharena__msg out; /* one thread; too big for the stack */
    static struct sharena__wire_client all[BROKER_MAX_SLOTS];
    struct arena_rec *ar = arena_find(b, m->name);
    if (!ar || !delegated_allows(c, m->name))
        return reply_error(c, m->h.seq, SHARENA_ENOENT, "no such arena");
    if (access_for(b, c, ar) == 0)
        return reply_error(c, m->h.seq, SHARENA_EACCES, NULL);
    size_t n = 0;
    for (struct client *o = b->clients; o && n < BROKER_MAX_SLOTS; o = o->next) {
        const struct open_rec *rec = open_find(o, ar);
        if (!rec || !o->slot || o->slot < m->start)
            continue;
        /* another user's pid and uid only for root and the arena's owner:
         * read access to the data is not a licence to map its users */
        bool show = c->uid == 0 || c->uid == ar->uid || c->uid == o->uid;
        all[n++] = (struct sharena__wire_client){
            .slot = o->slot,
            .pid = show && !o->delegated ? (uint32_t)o->pid : 0,
            .uid = show ? (uint32_t)o->uid : 0,
            .flags = (rec->rw ? SHARENA__CLIENT_RW : 0) |
                     (o->delegated ? SHARENA__CLIENT_DELEGATED : 0) |
                     (show ? 0 : SHARENA__CLIENT_HIDDEN)};
    }
    qsort(all, n, sizeof(all[0]), cmp_wire_client);
    uint32_t k = n < SHARENA__PROTO_CLIENTS_MAX ? (uint32_t)n
                                                : SHARENA__PROTO_CLIENTS_MAX;
    memcpy(out.client_list.cl, all, k * sizeof(all[0]));
    size_t len = sizeof(out.client_list) + k * sizeof(all[0]);
    sharena__proto_hdr(&out.h, SHARENA__MSG_CLIENT_LIST, len, m->h.seq);
    out.client_list.count = k;
    out.client_list.next = k < n ? all[k].slot : 0;
    return reply(c, &out, len, -1);
}

static int do_delegate(struct broker *b, struct client *c,
                       const struct sharena__msg_delegate *m)
{
    for (uint32_t i = 0; i < m->count; i++)
        if (!delegated_allows(c, m->names[i]))
            return reply_error(c, m->h.seq, SHARENA_EACCES,
                               "cannot delegate an arena not granted");
    uint32_t same = 0;
    for (struct client *o = b->clients; o; o = o->next)
        same += o->uid == c->uid;
    if (same >= b->lim.max_clients || b->nclients >= b->lim.max_conns)
        return reply_error(c, m->h.seq, SHARENA_ENOSPC,
                           "limit reached: connections per user");
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
                   sv) < 0)
        return reply_error(c, m->h.seq, -errno, NULL);
    struct client *d = broker_add_client(b, sv[0], c->uid, c->gid, 0);
    if (!d) {
        close(sv[0]);
        close(sv[1]);
        return reply_error(c, m->h.seq, SHARENA_ENOMEM, NULL);
    }
    memcpy(d->groups, c->groups, sizeof(d->groups));
    d->ngroups = c->ngroups;
    d->delegated = true;
    d->delegated_ro = c->delegated_ro || (m->flags & SHARENA_READONLY);
    d->allowed = calloc(m->count, sizeof(*d->allowed));
    if (!d->allowed) {
        broker_drop_client(b, d);
        close(sv[1]);
        return reply_error(c, m->h.seq, SHARENA_ENOMEM, NULL);
    }
    for (uint32_t i = 0; i < m->count; i++)
        memcpy(d->allowed[i], m->names[i],
               strnlen(m->names[i], SHARENA_NAME_MAX));
    d->nallowed = m->count;
    /* The new connection's socket need not stay non-blocking in the
     * receiver's hands: clear it on the end we give away. */
    int fl = fcntl(sv[1], F_GETFL);
    if (fl >= 0)
        fcntl(sv[1], F_SETFL, fl & ~O_NONBLOCK);
    struct sharena__msg_hdr h;
    sharena__proto_hdr(&h, SHARENA__MSG_DELEGATED, sizeof(h), m->h.seq);
    int r = reply(c, &h, sizeof(h), sv[1]);
    close(sv[1]);
    return r;
}

int broker_handle(struct broker *b, struct client *c, union sharena__msg *m,
                  size_t len, int fd)
{
    if (fd >= 0)
        close(fd); /* clients never pass descriptors to the broker */
    int t = sharena__proto_check(m, len);
    if (t < 0)
        return SHARENA_EPROTO;
    if (!c->slot) {
        if (t != SHARENA__MSG_HELLO)
            return SHARENA_EPROTO;
        int r = do_hello(b, c, &m->hello);
        return r < 0 ? r : 0;
    }
    int r;
    switch (t) {
    case SHARENA__MSG_OPEN:
        r = do_open(b, c, &m->name);
        break;
    case SHARENA__MSG_CLOSE:
        r = do_close(b, c, &m->name);
        break;
    case SHARENA__MSG_DELETE:
        r = do_delete(b, c, &m->name);
        break;
    case SHARENA__MSG_STAT:
        r = do_stat(b, c, &m->name);
        break;
    case SHARENA__MSG_LIST:
        r = do_list(b, c, &m->list);
        break;
    case SHARENA__MSG_DELEGATE:
        r = do_delegate(b, c, &m->delegate);
        break;
    case SHARENA__MSG_CLIENTS:
        r = do_clients(b, c, &m->clients);
        break;
    case SHARENA__MSG_SHUTDOWN:
        if (c->delegated || (c->uid != 0 && c->uid != b->self_uid)) {
            r = reply_error(c, m->h.seq, SHARENA_EACCES,
                            "only the broker's user may stop it");
        } else {
            broker_log(b, BLOG_INFO, "stopping: asked by pid %d (uid %u)",
                       (int)c->pid, (unsigned)c->uid);
            b->stop = true;
            r = reply_ok(c, m->h.seq);
        }
        break;
    default: /* replies, or a second HELLO: not something a client sends */
        return SHARENA_EPROTO;
    }
    return r < 0 ? r : 0;
}

/* -------------------------------------------------------------- clients */

struct client *broker_add_client(struct broker *b, int fd, uid_t uid,
                                 gid_t gid, pid_t pid)
{
    struct client *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->fd = fd;
    c->uid = uid;
    c->gid = gid;
    c->pid = pid;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    c->since = now.tv_sec;
    if (b->epoll_fd >= 0) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP,
                                 .data.ptr = c};
        if (epoll_ctl(b->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            free(c);
            return NULL;
        }
    }
    c->next = b->clients;
    if (b->clients)
        b->clients->prev = c;
    b->clients = c;
    b->nclients++;
    set_title(b);
    return c;
}

/* Out of descriptors (EMFILE, ENFILE): the pending connection stays in the
 * listen backlog, so a level-triggered listener would wake the loop again
 * at once, forever. Stop listening until a descriptor is freed (a client
 * leaves) or a second has passed (resume_accepting). */
static void pause_accepting(struct broker *b, int err)
{
    struct epoll_event ev = {.events = 0, .data.ptr = NULL};
    if (b->accept_paused ||
        epoll_ctl(b->epoll_fd, EPOLL_CTL_MOD, b->listen_fd, &ev) < 0)
        return;
    b->accept_paused = true;
    if (b->fd_pauses++ && b->fd_warned_s == b->ticked_s)
        return; /* one line a second at most */
    b->fd_warned_s = b->ticked_s;
    broker_log(b, BLOG_WARNING,
               "out of file descriptors (%s) with %u connections: new "
               "connections wait until some close (raise the limit with "
               "LimitNOFILE= or ulimit -n, or lower --max-clients)",
               strerror(err), b->nclients);
}

static void resume_accepting(struct broker *b)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (b->accept_paused &&
        epoll_ctl(b->epoll_fd, EPOLL_CTL_MOD, b->listen_fd, &ev) == 0)
        b->accept_paused = false;
}

void broker_drop_client(struct broker *b, struct client *c)
{
    if (c->slot)
        broker_log(b, BLOG_DEBUG, "client slot %u (pid %d) disconnected%s",
                   c->slot, (int)c->pid,
                   c->nopens ? " without closing its arenas" : "");
    /* Recovery first, then the slot becomes free: never reused before its
     * locks were marked. */
    while (c->nopens)
        release_open(b, c, &c->opens[c->nopens - 1], true);
    slot_free(b, c->slot);
    if (b->epoll_fd >= 0)
        epoll_ctl(b->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (b->epoll_fd >= 0)
        resume_accepting(b); /* a descriptor came free */
    if (c->prev)
        c->prev->next = c->next;
    else
        b->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    b->nclients--;
    free(c->opens);
    free(c->allowed);
    free(c);
    set_title(b);
}

static void accept_clients(struct broker *b)
{
    for (int i = 0; i < 64; i++) {
        int fd = accept4(b->listen_fd, NULL, NULL,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                pause_accepting(b, errno);
            return; /* EAGAIN: nothing more pending */
        }
        struct ucred cr;
        socklen_t len = sizeof(cr);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
            close(fd);
            continue;
        }
        uint32_t same = 0;
        for (struct client *o = b->clients; o; o = o->next)
            same += o->uid == cr.uid;
        /* Limits hold for every uid, root included: a root broker's
         * clients are mostly root's own processes. */
        if (b->nclients >= b->lim.max_conns || same >= b->lim.max_clients) {
            broker_log(b, BLOG_WARNING,
                       "refused a connection from pid %d (uid %u): %s",
                       (int)cr.pid, (unsigned)cr.uid,
                       b->nclients >= b->lim.max_conns
                           ? "connection limit of the broker reached"
                           : "connection limit for this user reached");
            struct sharena__msg_error e;
            sharena__proto_error(&e, 0, SHARENA_ENOSPC,
                                 "limit reached: connections per user");
            sharena__proto_send(fd, &e, sizeof(e), -1);
            close(fd);
            continue;
        }
        struct client *c = broker_add_client(b, fd, cr.uid, cr.gid, cr.pid);
        if (!c) {
            broker_log(b, BLOG_ERROR, "out of memory for a new connection");
            close(fd);
            continue;
        }
        broker_log(b, BLOG_DEBUG, "connection from pid %d (uid %u)",
                   (int)cr.pid, (unsigned)cr.uid);
        gid_t groups[64];
        socklen_t glen = sizeof(groups);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0) {
            c->ngroups = (int)(glen / sizeof(gid_t));
            memcpy(c->groups, groups, glen);
        }
    }
}

/* Why a client is dropped, for the log: NULL when it simply went away (a
 * client killed after sending a request is gone before its reply is; that
 * is a disconnection, logged as one, not a misbehaving peer). */
static const char *drop_reason(int r)
{
    switch (r) {
    case 0:
    case -ECONNRESET:
    case -EPIPE:
        return NULL;
    case SHARENA_EPROTO:
        return "it broke the protocol";
    case -EAGAIN:
        return "it does not read its replies";
    case SHARENA_ELAYOUT:
        return "its library has another arena layout";
    case SHARENA_ENOSPC:
        return "no free client slot";
    default:
        return sharena_strerror(r);
    }
}

static void serve_client(struct broker *b, struct client *c, uint32_t events)
{
    static union sharena__msg m;
    for (int i = 0; i < REQUESTS_PER_WAKEUP; i++) {
        int fd = -1;
        ssize_t n = sharena__proto_recv(c->fd, &m, &fd);
        if (n == -EAGAIN || n == -EWOULDBLOCK) {
            if (events & (EPOLLHUP | EPOLLERR))
                break;
            return;
        }
        int r = n > 0 ? broker_handle(b, c, &m, (size_t)n, fd) : 0;
        if (n <= 0 || r < 0) {
            const char *why = n > 0 ? drop_reason(r)
                              : n < 0 && n != -ECONNRESET
                                  ? "its message could not be read"
                                  : NULL;
            if (why)
                broker_log(b, BLOG_WARNING,
                           "dropping client slot %u (pid %d, uid %u): %s",
                           c->slot, (int)c->pid, (unsigned)c->uid, why);
            broker_drop_client(b, c); /* gone, or broke the protocol */
            return;
        }
        if (b->stop)
            return;
    }
    /* Served its share: if more is queued (even after a hang-up, such as a
     * last CLOSE), epoll reports it again; at end of stream it is gone. */
    int pending = 0;
    ssize_t p = recv(c->fd, &pending, 1, MSG_PEEK | MSG_DONTWAIT);
    if (p > 0 || (p < 0 && errno == EAGAIN &&
                  !(events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))))
        return;
    broker_drop_client(b, c);
}

int broker_init(struct broker *b)
{
    b->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (b->epoll_fd < 0)
        return -errno;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(b->epoll_fd, EPOLL_CTL_ADD, b->listen_fd, &ev) < 0)
        return -errno;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    b->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (b->signal_fd < 0)
        return -errno;
    ev.data.ptr = &b->signal_fd;
    if (epoll_ctl(b->epoll_fd, EPOLL_CTL_ADD, b->signal_fd, &ev) < 0)
        return -errno;
    b->self_uid = getuid();
    return 0;
}

/* A connection that has not said HELLO within --hello-timeout seconds is
 * dropped: a peer that connects and never speaks holds no more than a
 * descriptor (and a place in its uid's --max-clients) for that long.
 * Delegated connections are not: one is made for a child that may start
 * much later (DESIGN 10), and lives until every holder of its socket has
 * closed it (we see that as EOF). It was asked for by a client that said
 * HELLO, and counts in that uid's --max-clients like any other. */
static void drop_silent_peers(struct broker *b, time_t now)
{
    uint32_t limit = b->lim.hello_timeout ? b->lim.hello_timeout : 10;
    for (struct client *c = b->clients, *next; c; c = next) {
        next = c->next;
        if (c->slot || c->delegated || now - c->since < (time_t)limit)
            continue;
        broker_log(b, BLOG_INFO,
                   "dropping a connection from pid %d (uid %u): no HELLO "
                   "within %u s", (int)c->pid, (unsigned)c->uid, limit);
        broker_drop_client(b, c);
    }
}

/* Once a second, for every arena: advance its lock clock (lockers copy it
 * next to the locks they take, which is how `sharena locks` tells for how
 * long a lock has been held), and re-impose its live-slot set, which a
 * writer may have scribbled (a dead slot marked live would make waiters on
 * its locks wait forever; a live one marked dead lets its locks be taken
 * over). */
static void tick_clocks(struct broker *b)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
    if (t.tv_sec == b->ticked_s)
        return;
    b->ticked_s = t.tv_sec;
    drop_silent_peers(b, t.tv_sec);
    /* deleted arenas that clients still have open included */
    for (struct arena_rec *ar = b->all; ar; ar = ar->all_next) {
        sharena_clock_tick(ar->a);
        if (ar->pending)
            ar->pending = sharena_recover_pending(ar->a) > 0;
        if (sharena_owner_sync(ar->a, ar->live, BROKER_MAX_SLOTS / 64) > 0) {
            b->resynced++;
            broker_log(b, BLOG_WARNING,
                       "arena '%s': its live-client set was overwritten by a "
                       "client; restored", ar->name);
        }
    }
}

int broker_run(struct broker *b)
{
    struct epoll_event evs[64];
    time_t paused_s = 0;
    while (!b->stop) {
        tick_clocks(b);
        if (b->accept_paused && b->ticked_s != paused_s) {
            /* once a second: a descriptor may have come free elsewhere */
            paused_s = b->ticked_s;
            resume_accepting(b);
        }
        /* idle (no arena, no connection, listening): sleep until something
         * happens; else wake at least once a second for the upkeep */
        int n = epoll_wait(b->epoll_fd, evs, 64,
                           b->all || b->clients || b->accept_paused ? 1000
                                                                    : -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        for (int i = 0; i < n && !b->stop; i++) {
            void *p = evs[i].data.ptr;
            if (p == NULL) {
                accept_clients(b);
            } else if (p == &b->signal_fd) {
                struct signalfd_siginfo si;
                while (read(b->signal_fd, &si, sizeof(si)) == sizeof(si)) {
                    if (si.ssi_signo == SIGHUP)
                        continue;
                    if (!b->stop)
                        broker_log(b, BLOG_INFO,
                                   "stopping on %s from pid %u",
                                   si.ssi_signo == SIGTERM ? "SIGTERM"
                                                           : "SIGINT",
                                   (unsigned)si.ssi_pid);
                    b->stop = true;
                }
            } else {
                /* A client dropped earlier in this batch cannot appear
                 * again: epoll_ctl DEL happened before its free, and the
                 * events array was filled before; guard by re-checking. */
                struct client *c = p, *o;
                for (o = b->clients; o && o != c; o = o->next)
                    ;
                if (o)
                    serve_client(b, c, evs[i].events);
            }
        }
    }
    return 0;
}

void broker_fini(struct broker *b)
{
    b->stopping = true;
    if (b->stop) {
        /* what a user wants to hear before the broker goes: nothing lost */
        uint32_t open = 0;
        for (uint32_t i = 0; i < b->narenas; i++)
            open += b->arenas[i]->clients > 0;
        broker_log(b, BLOG_INFO,
                   "%u arena%s (%u in use, %u connection%s): clients keep "
                   "their mappings, data and locks and go on working, nothing "
                   "is lost; the names go with the broker, and the locks of "
                   "a client that dies after this are not recovered (sharena "
                   "fsck --repair --break-locks, with no client alive)",
                   b->narenas, b->narenas == 1 ? "" : "s", open, b->nclients,
                   b->nclients == 1 ? "" : "s");
    }
    while (b->clients)
        broker_drop_client(b, b->clients);
    while (b->narenas)
        arena_unlink(b, b->arenas[b->narenas - 1]);
    free(b->arenas);
    policy_free(b->policy);
    if (b->epoll_fd >= 0)
        close(b->epoll_fd);
    if (b->signal_fd >= 0)
        close(b->signal_fd);
}
