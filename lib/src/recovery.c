/* recovery.c: marking a dead owner's locks (the broker's bounded marking
 * step and the tools' whole-arena calls), repairing what dead owners left
 * behind, and listing held locks. fsck is in fsck.c; the lock helpers both
 * use are declared in recovery.h. */
#include "internal.h"
#include "recovery.h"

#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <fcntl.h>

uint64_t sharena__slot_limit(const sharena_arena *a)
{
    uint64_t n = __atomic_load_n(&sharena__hdr(a)->slot_count,
                                 __ATOMIC_ACQUIRE);
    uint64_t max = (a->heap_end - a->heap_start) / sizeof(struct sharena__slot);
    return n < max ? n : max;
}

/* Set DIED on @p w if it still names @p owner; 0 if not, 1 if set, 2 if
 * set and waiters were woken. Only a word with WAITERS has sleepers (a
 * waiter sets it before FUTEX_WAIT, and the CAS changes the word under
 * it), so a word without it costs no system call. */
int sharena__mark_died(uint32_t *w, uint32_t owner)
{
    for (int tries = 0; tries < 1000; tries++) {
        uint32_t v = __atomic_load_n(w, __ATOMIC_ACQUIRE);
        if ((v & SHARENA__LOCK_OWNER_MASK) != owner || (v & SHARENA__LOCK_DIED))
            return 0;
        if (__atomic_compare_exchange_n(w, &v, v | SHARENA__LOCK_DIED, false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            if (!(v & SHARENA__LOCK_WAITERS))
                return 1;
            syscall(SYS_futex, w, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
            return 2;
        }
    }
    return 0;
}

/* Take lock @p w if it still holds @p from, without ever waiting: it then
 * names this process (keeping a waiters bit) and is on this thread's list
 * of held locks, with its hold time stamped. */
bool sharena__take_if(sharena_arena *a, uint32_t *w, uint32_t from)
{
    uint32_t me = sharena__owner(a) | (from & SHARENA__LOCK_WAITERS);
    if (!__atomic_compare_exchange_n(w, &from, me, false, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
        return false;
    sharena__held_push(w);
    sharena__lock_stamp(a, w);
    return true;
}

/* Take a lock whose owner died, without ever waiting: only when the word
 * still says DIED. */
bool sharena__take_died(sharena_arena *a, uint32_t *w)
{
    uint32_t v = __atomic_load_n(w, __ATOMIC_ACQUIRE);
    return (v & SHARENA__LOCK_DIED) && sharena__take_if(a, w, v);
}

/* Repair what a dead owner left behind, now, instead of leaving it to the
 * next locker. Never waits for a live owner: when the repair needs the
 * arena lock and a live client holds it, the object goes back marked
 * owner-died (and its write still unfinished) for its next locker. */
void sharena__repair_died(sharena_arena *a, uint32_t *w,
                          struct sharena__slot *s, bool nowait)
{
    uint32_t dead = __atomic_load_n(w, __ATOMIC_ACQUIRE);
    uint32_t *sincep = sharena__lock_since(a, w);
    uint32_t since = __atomic_load_n(sincep, __ATOMIC_RELAXED);
    if (!sharena__take_died(a, w))
        return;
    if (s) {
        bool was = sharena__lock_nowait(nowait);
        int r = sharena__repair(a, s);
        sharena__lock_nowait(was);
        if (r < 0) {
            /* not finished (a lock it needed was busy, or no memory): the
             * write stays flagged unfinished, and the lock goes back in
             * the dead owner's name, with its time, for the next locker */
            __atomic_store_n(sincep, since, __ATOMIC_RELAXED);
            sharena__unlock_died(a, w, dead);
        } else {
            sharena__unlock(a, w);
        }
    } else {
        struct sharena__header *h = sharena__hdr(a);
        sharena__arena_recover_locked(a);
        h->arena_seq = (h->arena_seq + 1) & ~1u;
        sharena__unlock(a, w);
    }
}

static bool died(const uint32_t *w)
{
    return (__atomic_load_n(w, __ATOMIC_ACQUIRE) & SHARENA__LOCK_DIED) != 0;
}

/* Mark owner-died every lock word still naming @p owner, without
 * repairing anything: the next locker repairs (lock.c). O(capacity): a
 * library call for tools, not what the broker runs on its event loop (it
 * runs sharena_recover_mark in bounded steps). */
static int mark_owner(sharena_arena *a, uint32_t owner)
{
    struct sharena__header *h = sharena__hdr(a);
    int marked = sharena__mark_died(&h->arena_lock, owner) != 0;
    uint64_t lim = sharena__slot_limit(a);
    for (uint64_t i = 1; i < lim; i++) {
        struct sharena__slot *s = sharena__slot_at(a, i);
        if (s && sharena__mark_died(&s->lock, owner))
            marked++;
    }
    return marked;
}

int sharena_recover_owner(sharena_arena *a, uint32_t owner)
{
    if (!a || !owner || (owner & ~SHARENA__LOCK_OWNER_MASK))
        return SHARENA_EINVAL;
    if (a->readonly)
        return SHARENA_EROFS;
    return mark_owner(a, owner);
}

/* ---- the broker's bounded marking step --------------------------------------
 * The broker marks the locks of clients that went away, and nothing else: it
 * never repairs an object or the allocator in its own process (a hostile
 * arena could crash or hang it there), and no single step may cost more
 * than a fixed budget, whatever the arena's capacity or header says. The
 * walk goes chunk by chunk through the handle table (each chunk offset
 * loaded once and validated against the mapping, whatever slot_count
 * says), and skips the memfd's holes (SEEK_DATA/SEEK_HOLE): a hole holds no
 * lock word, and reading it through the mapping would allocate pages. */

static bool dead_has(const uint64_t *dead, uint32_t owner)
{
    return owner < SHARENA__MAX_BROKER_SLOTS &&
           (dead[owner / 64] & (UINT64_C(1) << (owner % 64)));
}

/* Mark @p w owner-died when it names a broker slot set in @p dead
 * (mark_died's result). */
static int mark_if_dead(uint32_t *w, const uint64_t *dead)
{
    uint32_t v = __atomic_load_n(w, __ATOMIC_ACQUIRE);
    if (!v || (v & (SHARENA__LOCK_DIED | SHARENA__LOCK_LOCAL)))
        return 0;
    uint32_t owner = v & SHARENA__LOCK_OWNER_MASK;
    return dead_has(dead, owner) ? sharena__mark_died(w, owner) : 0;
}

/* A wake (a system call) costs a step as much as this many slots. */
#define MARK_WAKE_COST 16

/* [*lo, *hi): the first stretch of the memfd holding data inside
 * [from, to), or false when there is none. Without SEEK_DATA (an error
 * other than ENXIO) the whole range counts as data. */
static bool data_range(const sharena_arena *a, uint64_t from, uint64_t to,
                       uint64_t *lo, uint64_t *hi)
{
    *lo = from;
    *hi = to;
    if (a->fd < 0)
        return true;
    off_t d = lseek(a->fd, (off_t)from, SEEK_DATA);
    if (d < 0)
        return errno != ENXIO;
    if ((uint64_t)d >= to)
        return false;
    off_t e = lseek(a->fd, d, SEEK_HOLE);
    *lo = (uint64_t)d;
    if (e > d && (uint64_t)e < to)
        *hi = (uint64_t)e;
    return true;
}

/* What a walk does with each lock word it finds; returns 0 (nothing), 1
 * (counted) or 2 (counted, and it cost a system call). */
typedef int (*lock_visit)(sharena_arena *a, struct sharena__slot *s, void *ctx);

/* Walk the handle table from slot @p i on, chunk by chunk and skipping the
 * memfd's holes, calling @p visit for each slot while *@p left lasts (a
 * chunk looked at costs one, a slot one, a visit that made a system call
 * MARK_WAKE_COST more). @p strict: a chunk must be an allocated block
 * (what lockers accept, sharena__slot_at); else only inside the mapping
 * (what the broker's marking needs: a scribbled block header must not
 * hide lock words). Returns where to go on, SHARENA_RECOVER_DONE at the
 * end; *count adds the visits that counted. */
static uint64_t walk_table(sharena_arena *a, uint64_t i, uint64_t *left,
                           bool strict, lock_visit visit, void *ctx, int *count)
{
    struct sharena__header *h = sharena__hdr(a);
    while (*left) {
        uint64_t j = i / SHARENA__SLOT_CHUNK0 + 1;
        unsigned k = 63u - (unsigned)__builtin_clzll(j);
        if (k >= SHARENA__SLOT_CHUNKS)
            return SHARENA_RECOVER_DONE;
        uint64_t first = (uint64_t)SHARENA__SLOT_CHUNK0 *
                         ((UINT64_C(1) << k) - 1);
        uint64_t nslots = (uint64_t)SHARENA__SLOT_CHUNK0 << k;
        uint64_t end = first + nslots;
        --*left; /* every chunk looked at costs one, found or not */
        uint64_t off = SHARENA__LD(h->slot_chunks[k]);
        struct sharena__slot *c = NULL;
        if (off)
            c = strict ? sharena__payload(a, off, nslots * sizeof *c)
                       : sharena__ptr(a, off, nslots * sizeof *c, 16);
        uint64_t base = c ? (uint64_t)((uint8_t *)c - a->base) : 0, lo, hi;
        if (!c || !data_range(a, base + (i - first) * sizeof *c,
                              base + nslots * sizeof *c, &lo, &hi)) {
            i = end;
            continue;
        }
        /* from the slot holding the first data byte to the one holding
         * the last, while the budget lasts */
        i = first + (lo - base) / sizeof *c;
        uint64_t stop = first + (hi - base + sizeof *c - 1) / sizeof *c;
        if (stop > end)
            stop = end;
        for (; i < stop && *left; i++) {
            --*left;
            int r = visit(a, &c[i - first], ctx);
            *count += r != 0;
            if (r == 2)
                *left -= *left < MARK_WAKE_COST ? *left : MARK_WAKE_COST;
        }
    }
    return i;
}

static int visit_mark(sharena_arena *a, struct sharena__slot *s, void *dead)
{
    (void)a;
    return mark_if_dead(&s->lock, dead);
}

int sharena_recover_mark(sharena_arena *a, const uint64_t *dead, size_t nwords,
                         uint64_t *cursor, uint32_t budget)
{
    if (!a || !dead || !cursor || nwords != SHARENA__MAX_BROKER_SLOTS / 64)
        return SHARENA_EINVAL;
    if (a->readonly)
        return SHARENA_EROFS;
    uint64_t i = *cursor;
    if (i == SHARENA_RECOVER_DONE)
        return 0;
    int marked = 0;
    if (i == 0) {
        marked += mark_if_dead(&sharena__hdr(a)->arena_lock, dead) != 0;
        i = 1;
    }
    uint64_t left = budget < 2 ? 2 : budget; /* a chunk, then a slot */
    *cursor = walk_table(a, i, &left, false, visit_mark, (void *)dead, &marked);
    return marked;
}

/* Repair one object marked owner-died; counts it when it stays marked. */
static int visit_repair(sharena_arena *a, struct sharena__slot *s, void *ctx)
{
    (void)ctx;
    if (!died(&s->lock))
        return 0;
    sharena__repair_died(a, &s->lock, s, true);
    return died(&s->lock);
}

/* Repair every object marked owner-died, never waiting for a lock a live
 * client holds (repair_died's no-wait mode gives the object back marked
 * for its next locker), walking only the table's data (the holes of a
 * huge arena are never touched). The arena lock first: object repair may
 * need to allocate. Returns how many stay marked. */
int sharena_recover_pending(sharena_arena *a)
{
    if (!a)
        return SHARENA_EINVAL;
    if (a->readonly)
        return SHARENA_EROFS;
    struct sharena__header *h = sharena__hdr(a);
    int left = 0;
    if (died(&h->arena_lock)) {
        sharena__repair_died(a, &h->arena_lock, NULL, true);
        left += died(&h->arena_lock);
    }
    uint64_t budget = UINT64_MAX;
    walk_table(a, 1, &budget, true, visit_repair, NULL, &left);
    return left;
}

static void lock_info(const sharena_arena *a, sharena_lock_info *li, uint32_t v,
                      const uint32_t *since)
{
    li->owner = v & SHARENA__LOCK_OWNER_MASK;
    li->pid = (v & SHARENA__LOCK_LOCAL) ? (v & 0x1fffffffu) : 0;
    li->waiters = (v & SHARENA__LOCK_WAITERS) != 0;
    li->died = (v & SHARENA__LOCK_DIED) != 0;
    const struct sharena__header *h = sharena__hdr(a);
    uint32_t now = sharena__clock_now();
    uint32_t at = SHARENA__LD(*since);
    uint32_t clock = SHARENA__LD(h->lock_clock);
    /* a stamp from the future is another clock (time namespace) or garbage */
    li->held_known = at != 0 && at <= now;
    li->held_s = li->held_known ? now - at : 0;
    li->held_exact = li->held_known &&
                     __atomic_load_n(&h->slots_managed, __ATOMIC_RELAXED) &&
                     clock <= now && now - clock <= 2;
}

int sharena_locks(const sharena_arena *a,
                  int (*fn)(void *ctx, const sharena_lock_info *info),
                  void *ctx)
{
    if (!a || !fn)
        return SHARENA_EINVAL;
    sharena_lock_info li;
    struct sharena__header *h = sharena__hdr(a);
    uint32_t v = __atomic_load_n(&h->arena_lock, __ATOMIC_ACQUIRE);
    if (v) {
        memset(&li, 0, sizeof li);
        lock_info(a, &li, v, &h->arena_lock_since);
        int r = fn(ctx, &li);
        if (r)
            return r;
    }
    uint64_t lim = sharena__slot_limit(a);
    for (uint64_t i = 1; i < lim; i++) {
        struct sharena__slot *s = sharena__slot_at(a, i);
        if (!s)
            continue;
        v = __atomic_load_n(&s->lock, __ATOMIC_ACQUIRE);
        if (!v)
            continue;
        memset(&li, 0, sizeof li);
        li.id = sharena__id_make(i, SHARENA__LD(s->gen) & SHARENA__GEN_MAX);
        li.type = SHARENA__LD(s->type);
        lock_info(a, &li, v, &s->since);
        int r = fn(ctx, &li);
        if (r)
            return r;
    }
    return 0;
}
