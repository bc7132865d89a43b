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
        if (!(b->slot_used[s / 64] & (UINT64_C(1) << (s % 64))) &&
            !b->slot_scans[s]) {
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

/* ----------------------------------------------------------- lock scans */

/* Each step looks at this many handle-table slots at most (a wake counts
 * 17; docs/security.md has the measured worst case). Between steps the
 * loop serves events. */
#define RECOVER_BUDGET 4096

static bool bit_has(const uint64_t *set, uint32_t s)
{
    return set[s / 64] & (UINT64_C(1) << (s % 64));
}

static void bit_put(uint64_t *set, uint32_t s, bool on)
{
    if (on)
        set[s / 64] |= UINT64_C(1) << (s % 64);
    else
        set[s / 64] &= ~(UINT64_C(1) << (s % 64));
}

/* Client slot @p slot no longer has read-write access to @p ar: queue the
 * marking of its lock words there. O(1); the work is done in steps. */
static int scan_add(struct broker *b, struct arena_rec *ar,
                    const struct client *c)
{
    uint32_t slot = c->slot;
    struct lock_scan *sc = ar->scan;
    if (!sc) {
        sc = ar->scan = calloc(1, sizeof(*sc));
        if (!sc)
            return SHARENA_ENOMEM;
        b->scanning++;
    }
    if (bit_has(sc->cur, slot) || bit_has(sc->next, slot))
        return 0;
    /* a pass that has begun went past some of this slot's words */
    int pass = sc->cursor != 0;
    uint32_t *n = pass ? &sc->nnext : &sc->ncur;
    bit_put(pass ? sc->next : sc->cur, slot, true);
    if (*n < 4)
        sc->who[pass][*n] = (struct lock_scan_who){slot, c->pid, c->uid};
    ++*n;
    b->slot_scans[slot]++;
    return 0;
}

static void scan_free(struct broker *b, struct arena_rec *ar)
{
    free(ar->scan);
    ar->scan = NULL;
    b->scanning--;
}

/* The slot takes read-write access again before its scan ended (a client
 * that closed and reopened the arena): what still names it is its own. */
static void scan_forget(struct broker *b, struct arena_rec *ar, uint32_t slot)
{
    struct lock_scan *sc = ar->scan;
    if (!sc)
        return;
    if (bit_has(sc->cur, slot)) {
        bit_put(sc->cur, slot, false);
        sc->ncur--;
        b->slot_scans[slot]--;
    } else if (bit_has(sc->next, slot)) {
        bit_put(sc->next, slot, false);
        sc->nnext--;
        b->slot_scans[slot]--;
    }
    if (!sc->ncur && !sc->nnext)
        scan_free(b, ar);
}

/* Give back every slot a scan holds: the pass ended, or the arena is
 * gone (then nothing names them any more). */
static void scan_release(struct broker *b, uint64_t *set, uint32_t *n)
{
    for (uint32_t w = 0; w < BROKER_MAX_SLOTS / 64 && *n; w++) {
        for (uint64_t bits = set[w]; bits; bits &= bits - 1) {
            uint32_t s = w * 64 + (uint32_t)__builtin_ctzll(bits);
            b->slot_scans[s]--;
            --*n;
        }
        set[w] = 0;
    }
}

static void scan_pass_done(struct broker *b, struct arena_rec *ar)
{
    struct lock_scan *sc = ar->scan;
    if (sc->marked) {
        b->recovered++;
        char who[200] = "";
        size_t len = 0;
        for (uint32_t i = 0; i < sc->ncur && i < 4 && len < sizeof(who); i++)
            len += (size_t)snprintf(who + len, sizeof(who) - len,
                                    "%s%u (pid %d, uid %u)", i ? ", " : "",
                                    sc->who[0][i].slot, (int)sc->who[0][i].pid,
                                    (unsigned)sc->who[0][i].uid);
        broker_log(b, BLOG_WARNING,
                   "client slot%s %s%s went away holding %u lock%s in arena "
                   "'%s': marked owner-died (the next locker repairs)",
                   sc->ncur == 1 ? "" : "s", who,
                   sc->ncur > 4 ? " and more" : "", sc->marked,
                   sc->marked == 1 ? "" : "s", ar->name);
    }
    scan_release(b, sc->cur, &sc->ncur);
    memcpy(sc->who[0], sc->who[1], sizeof(sc->who[0]));
    memcpy(sc->cur, sc->next, sizeof(sc->cur));
    memset(sc->next, 0, sizeof(sc->next));
    sc->ncur = sc->nnext;
    sc->nnext = 0;
    sc->cursor = 0;
    sc->marked = 0;
    if (!sc->ncur)
        scan_free(b, ar);
}

bool broker_recover_step(struct broker *b)
{
    if (!b->scanning)
        return false;
    uint32_t budget = b->scan_budget ? b->scan_budget : RECOVER_BUDGET;
    /* round-robin: a huge arena's scan does not keep the others waiting */
    uint32_t skip = b->scan_turn++ % b->scanning;
    struct arena_rec *ar = b->all;
    for (; ar; ar = ar->all_next)
        if (ar->scan && skip-- == 0)
            break;
    if (!ar)
        return b->scanning > 0;
    struct lock_scan *sc = ar->scan;
    b->scan_steps++;
    int n = sharena_recover_mark(ar->a, sc->cur, BROKER_MAX_SLOTS / 64,
                                 &sc->cursor, budget);
    if (n > 0)
        sc->marked += (uint32_t)n;
    if (n < 0 || sc->cursor == SHARENA_RECOVER_DONE) {
        if (n < 0)
            broker_log(b, BLOG_ERROR,
                       "marking dead clients' locks in arena "
                       "'%s': %s",
                       ar->name, sharena_strerror(n));
        scan_pass_done(b, ar);
    }
    return b->scanning > 0;
}

/* ------------------------------------------------------------- registry */

/* Every user has a namespace of their own: an arena is known by its
 * owner's uid and its name. */
struct arena_key {
    uid_t uid;
    const char *name; /* plain */
};

static struct arena_rec *arena_find(struct broker *b, struct arena_key k)
{
    for (uint32_t i = 0; i < b->narenas; i++)
        if (b->arenas[i]->uid == k.uid &&
            strcmp(b->arenas[i]->name, k.name) == 0)
            return b->arenas[i];
    return NULL;
}

/* The arena a request's name field means for @p c: "UID:name" is that
 * uid's; a plain name is the arena of the owner the policy file shares it
 * from (an "OWNER:glob" rule naming @p c), else @p c's own. A delegated
 * connection has its delegator's uid and groups, so it resolves alike. */
static struct arena_key resolve_name(const struct broker *b,
                                     const struct client *c,
                                     const char field[SHARENA__PROTO_NAME])
{
    int64_t owner;
    struct arena_key k;
    k.name = sharena__proto_name_split(field, &owner);
    if (owner >= 0)
        k.uid = (uid_t)owner;
    else if (!policy_owner(b->policy, k.name, c, &k.uid))
        k.uid = c->uid;
    return k;
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
    if (ar->scan) {
        /* no mapping of it is left: nothing names those slots any more */
        scan_release(b, ar->scan->cur, &ar->scan->ncur);
        scan_release(b, ar->scan->next, &ar->scan->nnext);
        scan_free(b, ar);
    }
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
            state_arena_gone(b, ar);
            if (!b->stopping)
                persist_arena_gone(b, ar);
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

static bool delegated_allows(const struct client *c, struct arena_key k)
{
    if (!c->delegated)
        return true;
    for (uint32_t i = 0; i < c->nallowed; i++)
        if (c->allowed_uid[i] == k.uid && strcmp(c->allowed[i], k.name) == 0)
            return true;
    return false;
}

/* What @p c may do with @p ar: 0 nothing, 1 read, 2 read and write. */
static int access_for(const struct broker *b, const struct client *c,
                      const struct arena_rec *ar)
{
    if (!delegated_allows(c, (struct arena_key){ar->uid, ar->name}))
        return 0;
    int acc;
    if (c->uid == 0 || c->uid == ar->uid) {
        acc = 2;
    } else {
        unsigned bits = in_groups(c, ar->gid) ? (ar->mode >> 3) & 7
                                              : ar->mode & 7;
        acc = (bits & 4) ? ((bits & 2) ? 2 : 1) : 0;
        int p = policy_access(b->policy, ar->uid, ar->name, c);
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
 * It leaves the arena's live set at once (so a waiter on one of its locks
 * takes the lock over at its next 20 ms check), and the marking of the lock
 * words that still name it is queued (broker_recover_step): O(1) here. The
 * broker never repairs objects itself; their next lockers do. */
static void release_open(struct broker *b, struct client *c, struct open_rec *o,
                         bool unclean)
{
    struct arena_rec *ar = o->ar;
    /* A broker that stops closes connections of clients that are alive and
     * may hold locks: those stay theirs (and their slots stay live in the
     * arena), or another process would take a lock its holder is still
     * writing under. One that dies after the broker has gone is recovered
     * by the next broker on this socket, which finds its recorded slot
     * dead (state.c). */
    if (o->rw && !b->stopping) {
        state_dirty(b);
        sharena_owner_detach(ar->a, c->slot);
        ar->live[c->slot / 64] &= ~(UINT64_C(1) << (c->slot % 64));
        if (scan_add(b, ar, c) < 0)
            broker_log(b, BLOG_ERROR,
                       "out of memory queueing the recovery of client slot %u "
                       "in arena '%s': its lockers take its locks over as "
                       "abandoned",
                       c->slot, ar->name);
        else
            broker_log(b, BLOG_DEBUG,
                       "client slot %u (pid %d) left arena '%s'%s: marking "
                       "its locks",
                       c->slot, (int)c->pid, ar->name,
                       unclean ? " without closing it" : "");
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
    c->token = state_token(b);
    w.token = c->token;
    return reply(c, &w, sizeof(w), -1);
}

/* A zeroed record, with room made for it in b->arenas (NULL: no memory). */
static struct arena_rec *arena_rec_new(struct broker *b)
{
    if (b->narenas == b->caparenas) {
        uint32_t nc = b->caparenas ? b->caparenas * 2 : 16;
        struct arena_rec **v = realloc(b->arenas, nc * sizeof(*v));
        if (!v)
            return NULL;
        b->arenas = v;
        b->caparenas = nc;
    }
    return calloc(1, sizeof(struct arena_rec));
}

/* Name @p ar (its fields set, b->arenas has room). */
static void arena_register(struct broker *b, struct arena_rec *ar)
{
    ar->refs = 1;
    b->arenas[b->narenas++] = ar;
    ar->all_next = b->all;
    if (b->all)
        b->all->all_prev = ar;
    b->all = ar;
    state_arena_made(b, ar); /* its identity, on record before the reply */
}

static int create_arena(struct broker *b, struct client *c,
                        const struct sharena__msg_name *m, struct arena_key k,
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
    struct arena_rec *ar = arena_rec_new(b);
    if (!ar)
        return SHARENA_ENOMEM;
    int r = sharena_arena_create(k.name, cap, &ar->a);
    if (r < 0) {
        free(ar);
        return r;
    }
    memcpy(ar->name, k.name, strnlen(k.name, SHARENA_NAME_MAX)); /* checked */
    ar->ro_fd = -1;
    ar->uid = c->uid;
    ar->gid = c->gid;
    ar->mode = m->mode ? m->mode : 0600;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ar->created_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    arena_register(b, ar);
    persist_arena_made(b, ar);
    *out = ar;
    return 0;
}

int broker_arena_restore(struct broker *b, sharena_arena *a, const char *name,
                         uid_t uid, gid_t gid, uint32_t mode,
                         uint64_t created_ns, struct arena_rec **out)
{
    sharena_arena_info info; /* (the capacity is the mapping's size) */
    if (sharena_arena_info_get(a, &info) < 0 || strlen(name) > SHARENA_NAME_MAX)
        return SHARENA_EINVAL;
    if (arena_find(b, (struct arena_key){uid, name}))
        return SHARENA_EEXIST;
    if (owner_arenas(b, uid) >= b->lim.max_arenas ||
        info.capacity > b->lim.max_capacity ||
        owner_capacity(b, uid) > b->lim.max_capacity - info.capacity)
        return SHARENA_ENOSPC;
    struct arena_rec *ar = arena_rec_new(b);
    if (!ar)
        return SHARENA_ENOMEM;
    ar->a = a;
    snprintf(ar->name, sizeof ar->name, "%s", name);
    ar->ro_fd = -1;
    ar->uid = uid;
    ar->gid = gid;
    ar->mode = mode;
    ar->created_ns = created_ns;
    arena_register(b, ar);
    *out = ar;
    return 0;
}

struct arena_rec *broker_arena_find(struct broker *b, uid_t uid,
                                    const char *name)
{
    return arena_find(b, (struct arena_key){uid, name});
}

void broker_arena_ref(struct arena_rec *ar)
{
    ar->refs++;
}

void broker_arena_unref(struct broker *b, struct arena_rec *ar)
{
    arena_unref(b, ar);
}

/* The read-only reopen helper died (killed, or a failure of its own):
 * said once, loudly. The broker, under its filter, cannot start another;
 * read-only opens of arenas that had none made yet fail from now on. */
void reopen_helper_gone(struct broker *b)
{
    if (b->reopen_fd < 0)
        return;
    if (b->epoll_fd >= 0)
        epoll_ctl(b->epoll_fd, EPOLL_CTL_DEL, b->reopen_fd, NULL);
    close(b->reopen_fd);
    b->reopen_fd = -1;
    broker_log(b, BLOG_ERROR,
               "the read-only reopen helper (pid %d) is gone: read-only opens "
               "of arenas not opened read-only before now fail (restart the "
               "broker to get it back)",
               (int)b->reopen_pid);
}

/* ENOENT for a name that is not in the caller's namespace: when another
 * user's arena of that name is one the caller may open, say how to reach
 * it (it is never reached by the plain name: that could be anyone's). */
static int reply_no_arena(struct broker *b, struct client *c, uint32_t seq,
                          struct arena_key k, bool qualified)
{
    char text[SHARENA__PROTO_TEXT];
    for (uint32_t i = 0; i < b->narenas && !qualified; i++) {
        struct arena_rec *o = b->arenas[i];
        if (o->uid != k.uid && strcmp(o->name, k.name) == 0 &&
            access_for(b, c, o) > 0) {
            snprintf(text, sizeof text,
                     "no arena '%s' of uid %u; uid %u has one: open it as "
                     "'%u:%s'",
                     k.name, (unsigned)k.uid, (unsigned)o->uid,
                     (unsigned)o->uid, k.name);
            return reply_error(c, seq, SHARENA_ENOENT, text);
        }
    }
    snprintf(text, sizeof text, "no such arena: '%s' of uid %u", k.name,
             (unsigned)k.uid);
    return reply_error(c, seq, SHARENA_ENOENT, text);
}

/* OPEN with CREATE of an arena that exists: it opens only what the caller
 * would have made itself, an arena of its own and, when it asked for a
 * mode, of that mode. Anything else must be opened without CREATE, so
 * nobody is handed another user's arena believing it is theirs. */
static bool create_conflict(const struct client *c,
                            const struct sharena__msg_name *m,
                            const struct arena_rec *ar,
                            char text[SHARENA__PROTO_TEXT])
{
    if (ar->uid != c->uid) {
        snprintf(text, SHARENA__PROTO_TEXT,
                 "arena '%.40s' exists and belongs to uid %u (mode %04o), "
                 "not to you: open it without create",
                 ar->name, (unsigned)ar->uid, (unsigned)ar->mode & 0777);
    } else if (m->flags & SHARENA_EXCL) {
        snprintf(text, SHARENA__PROTO_TEXT, "arena '%.40s' exists (mode %04o)",
                 ar->name, (unsigned)ar->mode & 0777);
    } else if (m->mode && m->mode != ar->mode) {
        snprintf(text, SHARENA__PROTO_TEXT,
                 "arena '%.40s' exists with mode %04o, not %04o: open it "
                 "without create",
                 ar->name, (unsigned)ar->mode & 0777, (unsigned)m->mode & 0777);
    } else {
        return false;
    }
    return true;
}

static int do_open(struct broker *b, struct client *c,
                   const struct sharena__msg_name *m)
{
    uint32_t seq = m->h.seq;
    struct arena_key k = resolve_name(b, c, m->name);
    bool qualified = strchr(m->name, ':') != NULL;
    struct arena_rec *ar = arena_find(b, k);
    bool created = false;
    int r;
    if (!delegated_allows(c, k))
        return reply_error(c, seq, SHARENA_EACCES,
                           "arena not granted to this delegated connection");
    if (!ar && (state_settling(b, k.uid, k.name) ||
                persist_loading(b, k.uid, k.name))) {
        /* a broker before this one had it: never a second arena of that
         * name while the clients that hold it may still bring it back */
        char text[SHARENA__PROTO_TEXT];
        snprintf(text, sizeof text,
                 "arena '%.40s' is being taken back after a broker restart: "
                 "retry in a moment",
                 k.name);
        /* (or loaded from the state directory: the same answer) */
        return reply_error(c, seq, SHARENA_EAGAIN, text);
    }
    if (!ar) {
        if (!(m->flags & SHARENA_CREATE))
            return reply_no_arena(b, c, seq, k, qualified);
        if (k.uid != c->uid) {
            /* an arena belongs to who creates it: none is made in another
             * user's namespace, by root neither */
            char text[SHARENA__PROTO_TEXT];
            snprintf(text, sizeof text,
                     "'%s' is in uid %u's namespace, which has no such "
                     "arena: only uid %u may create it",
                     k.name, (unsigned)k.uid, (unsigned)k.uid);
            return reply_error(c, seq, SHARENA_EACCES, text);
        }
        r = create_arena(b, c, m, k, &ar);
        if (r == SHARENA_ENOSPC) {
            broker_log(b, BLOG_WARNING,
                       "refused to create arena '%s' for pid %d (uid %u): "
                       "arena or capacity limit of the user reached",
                       k.name, (int)c->pid, (unsigned)c->uid);
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
                   "mode %04o",
                   ar->name, (int)c->pid, (unsigned)c->uid,
                   (unsigned long long)ci.capacity, (unsigned)ar->mode);
    } else if (access_for(b, c, ar) > 0 && (m->flags & SHARENA_CREATE)) {
        /* (what it may not see at all is denied below, telling nothing) */
        char text[SHARENA__PROTO_TEXT];
        if (create_conflict(c, m, ar, text))
            return reply_error(c, seq, SHARENA_EEXIST, text);
    }
    int acc = access_for(b, c, ar);
    if (acc == 0)
        return reply_error(c, seq, SHARENA_EACCES, NULL);
    bool rw = acc == 2 && !(m->flags & SHARENA_READONLY);
    int fd;
    if (rw) {
        fd = sharena_arena_fd(ar->a);
    } else {
        if (ar->ro_fd < 0) {
            r = reopen_readonly(b->reopen_fd, sharena_arena_fd(ar->a));
            if (r == -EPIPE)
                reopen_helper_gone(b);
            if (r < 0)
                return reply_error(
                    c, seq, SHARENA_EIO,
                    r == -EPIPE ? "cannot make a read-only descriptor: the "
                                  "broker's reopen helper is gone (see its "
                                  "log; restart the broker)"
                                : "cannot make a read-only descriptor");
            ar->ro_fd = r;
        }
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
        scan_forget(b, ar, c->slot);
        sharena_owner_attach(ar->a, c->slot);
        ar->live[c->slot / 64] |= UINT64_C(1) << (c->slot % 64);
        o->rw = true;
        state_dirty(b);
    }
    o->count++;
    /* what the fd gives (a new arena, a newly attached slot) is on record
     * before the fd leaves */
    state_sync(b);
    sharena_arena_info info;
    sharena_arena_info_get(ar->a, &info);
    struct sharena__msg_opened ok;
    memset(&ok, 0, sizeof(ok));
    sharena__proto_hdr(&ok.h, SHARENA__MSG_OPENED, sizeof(ok), seq);
    ok.capacity = info.capacity;
    ok.flags = rw ? 0 : SHARENA_READONLY;
    ok.created = created;
    ok.uid = (uint32_t)ar->uid;
    ok.gid = (uint32_t)ar->gid;
    ok.mode = ar->mode;
    set_title(b);
    return reply(c, &ok, sizeof(ok), fd);
}

static int do_close(struct broker *b, struct client *c,
                    const struct sharena__msg_name *m)
{
    struct arena_key k = resolve_name(b, c, m->name);
    struct arena_rec *ar = NULL;
    for (uint32_t i = 0; i < c->nopens && !ar; i++)
        if (c->opens[i].ar->uid == k.uid &&
            strcmp(c->opens[i].ar->name, k.name) == 0)
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
    struct arena_key k = resolve_name(b, c, m->name);
    struct arena_rec *ar = arena_find(b, k);
    if (!ar || !delegated_allows(c, k))
        return reply_error(c, m->h.seq, SHARENA_ENOENT, "no such arena");
    if (c->delegated || (c->uid != 0 && c->uid != ar->uid))
        return reply_error(c, m->h.seq, SHARENA_EACCES,
                           "only the arena's owner may delete it");
    broker_log(b, BLOG_INFO,
               "arena '%s' deleted by pid %d (uid %u); %u "
               "client%s keep it mapped",
               ar->name, (int)c->pid, (unsigned)c->uid, ar->clients,
               ar->clients == 1 ? "" : "s");
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
    struct arena_key k = resolve_name(b, c, m->name);
    struct arena_rec *ar = arena_find(b, k);
    if (!ar || !delegated_allows(c, k))
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
    struct arena_key key = resolve_name(b, c, m->name);
    struct arena_rec *ar = arena_find(b, key);
    if (!ar || !delegated_allows(c, key))
        return reply_error(c, m->h.seq, SHARENA_ENOENT, "no such arena");
    if (access_for(b, c, ar) == 0)
        return reply_error(c, m->h.seq, SHARENA_EACCES, NULL);
    size_t n = 0;
    for (struct client *o = b->clients; o && n < BROKER_MAX_SLOTS;
         o = o->next) {
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
        if (!delegated_allows(c, resolve_name(b, c, m->names[i])))
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
    d->allowed_uid = calloc(m->count, sizeof(*d->allowed_uid));
    if (!d->allowed || !d->allowed_uid) {
        broker_drop_client(b, d);
        close(sv[1]);
        return reply_error(c, m->h.seq, SHARENA_ENOMEM, NULL);
    }
    /* names resolved now, in the delegator's namespace: what the child
     * may open cannot change with the policy or the child's own names */
    for (uint32_t i = 0; i < m->count; i++) {
        struct arena_key k = resolve_name(b, c, m->names[i]);
        memcpy(d->allowed[i], k.name, strnlen(k.name, SHARENA_NAME_MAX));
        d->allowed_uid[i] = k.uid;
    }
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
    int t = sharena__proto_check(m, len);
    /* clients pass descriptors to the broker only with ADOPT */
    if (fd >= 0 && (t != SHARENA__MSG_ADOPT || !c->slot)) {
        close(fd);
        fd = -1;
    }
    if (t < 0) {
        /* A first message of another protocol version: say so, in this
         * version's ERROR (the client library names both versions from
         * its header), then drop the connection. */
        if (!c->slot && len >= sizeof(struct sharena__msg_hdr) &&
            m->h.magic == SHARENA__PROTO_MAGIC &&
            m->h.version != SHARENA__PROTO_VERSION) {
            char text[SHARENA__PROTO_TEXT];
            snprintf(text, sizeof(text),
                     "this broker (sharenad %s) speaks protocol %d, the "
                     "client protocol %u",
                     SHARENA_VERSION_STRING, SHARENA__PROTO_VERSION,
                     (unsigned)m->h.version);
            reply_error(c, m->h.seq, SHARENA_EPROTO, text);
            broker_log(b, BLOG_WARNING,
                       "refused pid %d (uid %u): it speaks protocol %u, this "
                       "broker (sharenad %s) protocol %d",
                       (int)c->pid, (unsigned)c->uid, (unsigned)m->h.version,
                       SHARENA_VERSION_STRING, SHARENA__PROTO_VERSION);
        }
        return SHARENA_EPROTO;
    }
    if (!c->slot) {
        if (t == SHARENA__MSG_RESUME) {
            int r = state_resume(b, c, &m->resume);
            return r < 0 ? r : 0;
        }
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
    case SHARENA__MSG_ADOPT:
        r = state_adopt(b, c, &m->adopt, fd);
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

struct client *broker_add_client(struct broker *b, int fd, uid_t uid, gid_t gid,
                                 pid_t pid)
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
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
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
    /* Recovery queued first, then the slot is free: slot_alloc hands it
     * out again only once every arena's scan has marked its locks. */
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
    free(c->allowed_uid);
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
    if (b->reopen_fd >= 0) {
        /* only a hang-up is ever reported: requests are synchronous */
        struct epoll_event hev = {.events = EPOLLRDHUP,
                                  .data.ptr = &b->reopen_fd};
        epoll_ctl(b->epoll_fd, EPOLL_CTL_ADD, b->reopen_fd, &hev);
    }
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
                   "within %u s",
                   (int)c->pid, (unsigned)c->uid, limit);
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
        if (sharena_owner_sync(ar->a, ar->live, BROKER_MAX_SLOTS / 64) > 0) {
            b->resynced++;
            broker_log(b, BLOG_WARNING,
                       "arena '%s': its live-client set was overwritten by a "
                       "client; restored",
                       ar->name);
        }
    }
}

int broker_run(struct broker *b)
{
    struct epoll_event evs[64];
    time_t paused_s = 0;
    while (!b->stop) {
        tick_clocks(b);
        state_tick(b);
        persist_tick(b);
        state_sync(b);
        if (b->accept_paused && b->ticked_s != paused_s) {
            /* once a second: a descriptor may have come free elsewhere */
            paused_s = b->ticked_s;
            resume_accepting(b);
        }
        /* idle (no arena, no connection, listening): sleep until something
         * happens; else wake at least once a second for the upkeep */
        /* while a lock scan has work: one bounded step, then whatever
         * events are ready (without sleeping), then the next step */
        bool scanning = broker_recover_step(b);
        int n = epoll_wait(b->epoll_fd, evs, 64,
                           scanning ? 0
                           : b->all || b->clients || b->accept_paused ||
                                   state_busy(b) || persist_busy(b)
                               ? 1000
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
            } else if (p == &b->reopen_fd) {
                reopen_helper_gone(b);
            } else if (p == (void *)&b->persist) {
                persist_event(b);
            } else if (p == &b->signal_fd) {
                struct signalfd_siginfo si;
                while (read(b->signal_fd, &si, sizeof(si)) == sizeof(si)) {
                    if (si.ssi_signo == SIGHUP)
                        continue;
                    if (!b->stop)
                        broker_log(b, BLOG_INFO, "stopping on %s from pid %u",
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
    /* every arena that changed since its last save, to the state
     * directory, while its clients are still connected */
    persist_stop(b);
    b->stopping = true;
    /* the last state, then what survives, as it is */
    state_stop(b);
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
    state_close(b);
}

/* ------------------------------------------------------- for state.c */

int broker_scan_add(struct broker *b, struct arena_rec *ar,
                    const struct client *c)
{
    return scan_add(b, ar, c);
}

void broker_scan_forget(struct broker *b, struct arena_rec *ar, uint32_t slot)
{
    scan_forget(b, ar, slot);
}

int broker_access(const struct broker *b, const struct client *c,
                  const struct arena_rec *ar)
{
    return access_for(b, c, ar);
}
