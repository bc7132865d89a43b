/* lock.c: futex lock words and the seqlock write side.
 *
 * A lock word is 0 when free, else owner | WAITERS | DIED (layout.h). The
 * owner is the broker-assigned client slot, or LOCAL | pid for a process
 * that has no broker connection. Uncontended lock+unlock is one CAS and one
 * exchange. Waiters set WAITERS and sleep in FUTEX_WAIT (shared futex: the
 * word lives in a MAP_SHARED mapping). A lock whose owner died is handed to
 * the next locker with SHARENA_EOWNERDEAD: the broker sets DIED for owners
 * that disconnected; a LOCAL owner whose pid is gone is detected by the
 * waiter itself. Each thread remembers the words it holds so that taking a
 * lock twice is reported (SHARENA_EDEADLK) and library operations inside a
 * user's sharena_lock() section do not wait on themselves. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define HELD_MAX 16
/* initial-exec: one thread-pointer-relative load instead of a call to
 * __tls_get_addr on every lock and unlock (the library is often dlopen()ed
 * by Node and Python; these 200 bytes fit glibc's surplus static TLS).
 * depth[i]: how many sharena_lock_nested() calls beyond the first hold
 * words[i] (each sharena_unlock() takes one back before the lock goes). */
#define SHARENA__TLS __attribute__((tls_model("initial-exec")))
static __thread SHARENA__TLS struct {
    const uint32_t *words[HELD_MAX];
    uint32_t depth[HELD_MAX];
    unsigned n;
} held;

static pid_t cached_pid;

static void atfork_child(void)
{
    cached_pid = (pid_t)syscall(SYS_getpid);
    held.n = 0; /* the child holds none of the parent's locks */
}

static pthread_once_t pid_once = PTHREAD_ONCE_INIT;
static void pid_init(void)
{
    cached_pid = (pid_t)syscall(SYS_getpid);
    pthread_atfork(NULL, NULL, atfork_child);
}

pid_t sharena__getpid(void)
{
    if (SHARENA__UNLIKELY(!__atomic_load_n(&cached_pid, __ATOMIC_ACQUIRE)))
        pthread_once(&pid_once, pid_init);
    return cached_pid;
}

uint32_t sharena__owner(const sharena_arena *a)
{
    pid_t pid = sharena__getpid();
    if (SHARENA__LIKELY(__atomic_load_n(&a->owner_pid, __ATOMIC_ACQUIRE) ==
                        pid)) {
        uint32_t o = __atomic_load_n(&a->owner, __ATOMIC_RELAXED);
        if (o)
            return o;
    } else if (__atomic_load_n(&a->owner, __ATOMIC_RELAXED) && a->conn) {
        /* A forked child must not lock as its parent's broker slot: it
         * gets one of its own first (DESIGN 3), or locks as LOCAL | pid. */
        sharena__conn_reslot((sharena_arena *)a);
        if (__atomic_load_n(&a->owner_pid, __ATOMIC_ACQUIRE) == pid) {
            uint32_t o = __atomic_load_n(&a->owner, __ATOMIC_RELAXED);
            if (o)
                return o;
        }
    }
    return SHARENA__LOCK_LOCAL | ((uint32_t)pid & 0x1fffffffu);
}

static int held_index(const uint32_t *w)
{
    for (unsigned i = 0; i < held.n; i++)
        if (held.words[i] == w)
            return (int)i;
    return -1;
}
static bool held_has(const uint32_t *w)
{
    return held_index(w) >= 0;
}
void sharena__held_push(const uint32_t *w)
{
    if (held.n < HELD_MAX) {
        held.depth[held.n] = 0;
        held.words[held.n++] = w;
    }
}

/* ---- hold times --------------------------------------------------------------
 * A locker copies the header's lock_clock (whole seconds, kept current by
 * the broker once a second) next to the lock word it took: one load from a
 * read-mostly cache line and one store into the line the CAS already owns,
 * instead of a clock read on every lock. `sharena locks` subtracts it from
 * its own clock: exact to about a second while a broker ticks, an upper
 * bound otherwise (docs/locking.md). */
uint32_t sharena__clock_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
    return (uint32_t)t.tv_sec + 1;
}

uint32_t *sharena__lock_since(const sharena_arena *a, uint32_t *w)
{
    struct sharena__header *h = sharena__hdr(a);
    if (w == &h->arena_lock)
        return &h->arena_lock_since;
    return &((struct sharena__slot *)((char *)w -
                                      offsetof(struct sharena__slot, lock)))
                ->since;
}

void sharena__lock_stamp(const sharena_arena *a, uint32_t *w)
{
    /* (the value is only copied: any value is harmless) */
    uint32_t now = SHARENA__LD(sharena__hdr(a)->lock_clock);
    SHARENA__ST(*sharena__lock_since(a, w), now);
}

/* Advance the arena's lock clock to now (never backwards; no store when it
 * is already current, so a ticking process does not bounce the line). */
static void clock_tick(sharena_arena *a)
{
    uint32_t *c = &sharena__hdr(a)->lock_clock;
    uint32_t now = sharena__clock_now();
    uint32_t v = __atomic_load_n(c, __ATOMIC_RELAXED);
    while (v < now && !__atomic_compare_exchange_n(
                          c, &v, now, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

int sharena_clock_tick(sharena_arena *a)
{
    if (!a)
        return SHARENA_EINVAL;
    if (a->readonly)
        return SHARENA_EROFS;
    clock_tick(a);
    return 0;
}
static bool held_pop(const uint32_t *w)
{
    for (unsigned i = held.n; i-- > 0;) {
        if (held.words[i] == w) {
            held.words[i] = held.words[--held.n];
            held.depth[i] = held.depth[held.n];
            return true;
        }
    }
    return false;
}

static long futex(uint32_t *w, int op, uint32_t val, const struct timespec *ts)
{
    return syscall(SYS_futex, w, op, val, ts, NULL, 0);
}

/* Is the owner named by lock value @p v known to be gone? */
bool sharena__owner_gone(const sharena_arena *a, uint32_t v)
{
    if (!(v & SHARENA__LOCK_LOCAL)) {
        /* A broker slot: abandoned unless the broker lists it as live in
         * this arena (a scribbled or stale owner never hangs us). */
        uint32_t slot = v & SHARENA__LOCK_OWNER_MASK;
        const struct sharena__header *h = sharena__hdr(a);
        if (!__atomic_load_n(&h->slots_managed, __ATOMIC_ACQUIRE))
            return true; /* no broker manages this arena: no such owner */
        if (slot == 0 || slot >= SHARENA__MAX_BROKER_SLOTS)
            return true;
        uint64_t bits = __atomic_load_n(&sharena__hdr(a)->live_slots[slot / 64],
                                        __ATOMIC_ACQUIRE);
        return !(bits & (UINT64_C(1) << (slot % 64)));
    }
    pid_t pid = (pid_t)(v & 0x1fffffffu);
    if (pid <= 0)
        return true;
    if (pid == sharena__getpid())
        return false;
    if (kill(pid, 0) == -1)
        return errno == ESRCH;
    /* A killed process stays a zombie until its parent reaps it, which a
     * busy parent can delay for seconds: it runs no code any more. (A
     * zombie thread-group leader whose other threads live is not gone.) */
    return sharena__pid_state(pid) == 'Z';
}

/* What /proc/PID/stat says of process @p pid: its state letter ('R'
 * running or runnable, 'D' in the kernel, 'S' sleeping, 'T'/'t' stopped),
 * 'Z' when every thread of it has exited (a zombie waiting to be reaped),
 * or 0 when /proc cannot tell (no such process, no /proc, a sandbox). */
int sharena__pid_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    /* "pid (comm) S ppid ...": comm may hold anything, ')' included */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || !p[2])
        return 0;
    int state = (unsigned char)p[2];
    if (state == 'X')
        state = 'Z';
    if (state == 'Z') {
        /* field 20, num_threads: 1 once only the leader's remains */
        long threads = 0;
        if (sscanf(p + 2,
                   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u "
                   "%*u %*d %*d %*d %*d %ld",
                   &threads) != 1 ||
            threads > 1)
            return 'S'; /* a zombie leader whose other threads run on */
    }
    return state;
}

/* Does process @p pid map this arena? Read from /proc/PID/maps (the memfd's
 * inode). Used only after a LOCAL owner held a lock unchanged for long, to
 * tell a live holder from a pid that a scribbled or stale word names. When
 * /proc cannot tell (sandbox, other user), assume it does. */
static bool pid_maps_arena(const sharena_arena *a, pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return true;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        unsigned long ino = 0;
        /* addr perms offset dev inode path */
        if (sscanf(line, "%*s %*s %*s %*s %lu", &ino) == 1 &&
            ino == (unsigned long)a->ino && strstr(line, "memfd:"))
            found = true;
    }
    fclose(f);
    return found;
}

bool sharena__owner_live(const sharena_arena *a, uint32_t v,
                         struct sharena__owner_cache *c)
{
    if (!v || (v & SHARENA__LOCK_DIED) || sharena__owner_gone(a, v))
        return false;
    if (!(v & SHARENA__LOCK_LOCAL))
        return true;
    pid_t pid = (pid_t)(v & 0x1fffffffu);
    if (pid == sharena__getpid())
        return true; /* (another thread of ours) */
    for (unsigned i = 0; i < c->n; i++)
        if (c->pid[i] == pid)
            return c->maps[i];
    bool maps = pid_maps_arena(a, pid);
    if (c->n < sizeof c->pid / sizeof c->pid[0]) {
        c->pid[c->n] = pid;
        c->maps[c->n++] = maps;
    }
    return maps;
}

#define LONG_HOLD_NS (2ll * 1000 * 1000 * 1000)

static int64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* 0: lockers wait as long as the owner lives; else a CLOCK_MONOTONIC time
 * after which a locker of this thread gives up with SHARENA_ETIMEDOUT
 * (fsck, which must answer on any arena, even one whose lock words were
 * scribbled to name a live process). */
static __thread SHARENA__TLS int64_t lock_deadline;

void sharena__lock_deadline(int64_t ns_from_now)
{
    lock_deadline = ns_from_now > 0 ? mono_ns() + ns_from_now : 0;
}

/* While set, a locker of this thread that would have to sleep gives up
 * with SHARENA_EBUSY instead (the broker repairing a dead client's objects:
 * its one thread must never wait on a lock a live client holds). */
static __thread SHARENA__TLS bool lock_nowait;

bool sharena__lock_nowait(bool on)
{
    bool was = lock_nowait;
    lock_nowait = on;
    return was;
}

void sharena__unlock_died(const sharena_arena *a, uint32_t *w, uint32_t owner)
{
    held_pop(w);
    uint32_t v = __atomic_load_n(w, __ATOMIC_RELAXED), nv;
    do {
        nv = (owner & SHARENA__LOCK_OWNER_MASK) | (v & SHARENA__LOCK_WAITERS) |
             SHARENA__LOCK_DIED;
    } while (!__atomic_compare_exchange_n(w, &v, nv, true, __ATOMIC_RELEASE,
                                          __ATOMIC_RELAXED));
    (void)a;
    /* every waiter: the first to look takes it over as owner-died */
    if (v & SHARENA__LOCK_WAITERS)
        futex(w, FUTEX_WAKE, INT32_MAX, NULL);
}

static int lock_slow(const sharena_arena *a, uint32_t *w, uint32_t me)
{
    uint32_t seen = 0; /* owner value we have been waiting on, and since */
    int64_t since = 0;
    struct timespec ts = {0, 20 * 1000 * 1000};
    uint32_t extra = 0; /* WAITERS once we have slept */
    bool checked = false;
    for (unsigned spin = 0;; spin++) {
        uint32_t v = __atomic_load_n(w, __ATOMIC_RELAXED);
        if (v == 0) {
            if (__atomic_compare_exchange_n(w, &v, me | extra, false,
                                            __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
                return 0;
            continue;
        }
        if (v & SHARENA__LOCK_DIED) {
            if (__atomic_compare_exchange_n(
                    w, &v, me | (v & SHARENA__LOCK_WAITERS), false,
                    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
                return SHARENA_EOWNERDEAD;
            continue;
        }
        if (spin < 32) {
#if defined(__x86_64__)
            __builtin_ia32_pause();
#elif defined(__aarch64__)
            __asm__ __volatile__("yield");
#endif
            continue;
        }
        if (lock_nowait && !sharena__owner_gone(a, v))
            return SHARENA_EBUSY;
        if (!(v & SHARENA__LOCK_WAITERS)) {
            if (!__atomic_compare_exchange_n(w, &v, v | SHARENA__LOCK_WAITERS,
                                             false, __ATOMIC_RELAXED,
                                             __ATOMIC_RELAXED))
                continue;
            v |= SHARENA__LOCK_WAITERS;
        }
        extra = SHARENA__LOCK_WAITERS;
        /* Check a LOCAL owner's pid before the first sleep and after every
         * timeout: a dead owner is taken over at once, not after a wait. */
        long r = checked ? futex(w, FUTEX_WAIT, v, &ts) : -1;
        if (!checked)
            errno = ETIMEDOUT;
        checked = true;
        bool gone = false;
        if (r == -1 && errno == ETIMEDOUT) {
            /* keep the hold-time clock going where no broker does */
            if (!a->readonly)
                clock_tick((sharena_arena *)a);
            gone = sharena__owner_gone(a, v);
            uint32_t o = v & SHARENA__LOCK_OWNER_MASK;
            if (o != seen) {
                seen = o;
                since = mono_ns();
            } else if (!gone && (o & SHARENA__LOCK_LOCAL) &&
                       mono_ns() - since > LONG_HOLD_NS) {
                gone = !pid_maps_arena(a, (pid_t)(o & 0x1fffffffu));
                since = mono_ns();
            }
        }
        if (gone) {
            /* The owner died without a broker to notice: claim it. */
            if (__atomic_compare_exchange_n(w, &v, me | SHARENA__LOCK_WAITERS,
                                            false, __ATOMIC_ACQUIRE,
                                            __ATOMIC_RELAXED))
                return SHARENA_EOWNERDEAD;
        }
        if (lock_deadline && mono_ns() > lock_deadline)
            return SHARENA_ETIMEDOUT;
    }
}

int sharena__lock(const sharena_arena *a, uint32_t *w)
{
    if (SHARENA__UNLIKELY(held.n) && held_has(w))
        return 1;
    uint32_t me = sharena__owner(a);
    uint32_t zero = 0;
    int r = 0;
    if (!__atomic_compare_exchange_n(w, &zero, me, false, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
        r = lock_slow(a, w, me);
    if (r == SHARENA_ETIMEDOUT || r == SHARENA_EBUSY)
        return r; /* not taken */
    sharena__held_push(w);
    sharena__lock_stamp(a, w);
    return r;
}

void sharena__unlock(const sharena_arena *a, uint32_t *w)
{
    (void)a;
    held_pop(w);
    uint32_t v = __atomic_exchange_n(w, 0, __ATOMIC_RELEASE);
    if (v & SHARENA__LOCK_WAITERS)
        futex(w, FUTEX_WAKE, 1, NULL);
}

int sharena__arena_lock(sharena_arena *a)
{
    struct sharena__header *h = sharena__hdr(a);
    int r = sharena__lock(a, &h->arena_lock);
    if (r == 1)
        return SHARENA_EDEADLK; /* never nested by design */
    if (r == SHARENA_ETIMEDOUT || r == SHARENA_EBUSY)
        return r; /* not taken (a deadline or no-wait mode) */
    if (r == SHARENA_EOWNERDEAD) {
        /* A process died inside the allocator or the handle table. */
        r = sharena__arena_recover_locked(a);
        SHARENA__ST(h->arena_seq, (SHARENA__LD(h->arena_seq) + 1) & ~1u);
        if (r < 0) {
            sharena__unlock(a, &h->arena_lock);
            return r;
        }
    }
    return 0;
}

void sharena__arena_unlock(sharena_arena *a)
{
    sharena__unlock(a, &sharena__hdr(a)->arena_lock);
}

static void barrier_wait(sharena_arena *a);

int sharena__write_begin(sharena_arena *a, sharena_id id, int type,
                         struct sharena__slot **out)
{
    if (SHARENA__UNLIKELY(a->readonly))
        return SHARENA_EROFS;
    struct sharena__slot *s;
    int r = sharena__resolve(a, id, type, &s);
    if (r < 0)
        return r;
    int nested = sharena__lock(a, &s->lock);
    if (nested == SHARENA_ETIMEDOUT || nested == SHARENA_EBUSY)
        return nested; /* not taken (a deadline or no-wait mode) */
    if (nested == SHARENA_EOWNERDEAD) {
        nested = 0;
        if (__atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) == sharena__id_gen(id) &&
            __atomic_load_n(&s->type, __ATOMIC_ACQUIRE)) {
            r = sharena__repair(a, s);
            if (r < 0) {
                sharena__unlock_died(a, &s->lock, sharena__owner(a));
                return r;
            }
        } else {
            uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
            if (seq & 1)
                __atomic_store_n(&s->seq, seq + 1, __ATOMIC_RELEASE);
        }
    }
    /* Re-check now that no honest writer can change it (one load each:
     * the type checked is the type the caller gets). */
    uint8_t t = __atomic_load_n(&s->type, __ATOMIC_ACQUIRE);
    if (__atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) != sharena__id_gen(id) ||
        !t || (type && t != type)) {
        if (!nested)
            sharena__unlock(a, &s->lock);
        return SHARENA_ESTALE;
    }
    struct sharena__header *h = sharena__hdr(a);
    for (;;) {
        uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
#if defined(__SANITIZE_THREAD__)
        __atomic_store_n(&s->seq, seq + 1, __ATOMIC_SEQ_CST);
#else
        __atomic_store_n(&s->seq, seq + 1, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_RELEASE);
#endif
        /* The save barrier: one load of a read-mostly word. Only a compiler
         * fence orders it after the seq store here; the saver's
         * membarrier(GLOBAL) supplies the CPU fence (barrier_raise). */
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        if (SHARENA__LIKELY(
                !__atomic_load_n(&h->write_barrier, __ATOMIC_RELAXED)))
            break;
        /* A snapshot is being taken: nothing was written, so step seq on
         * to even again (readers retry once) and wait for it to end, still
         * holding the object lock (the saver never takes object locks). */
        __atomic_store_n(&s->seq, seq + 2, __ATOMIC_RELEASE);
        barrier_wait(a);
    }
    *out = s;
    return nested;
}

/* ---- The save barrier (docs/locking.md, "Snapshots") ---------------------
 * A writer makes seq odd, then loads write_barrier; the saver stores
 * write_barrier, then (after membarrier) loads every seq. One of them sees
 * the other: either the writer backs off, or the saver waits for the odd
 * seq to become even. membarrier(MEMBARRIER_CMD_GLOBAL) makes every running
 * thread of the system pass a full memory barrier, which is what lets the
 * writer's side go without one. */

#define BARRIER_DRAIN_NS (5ll * 1000 * 1000 * 1000)

static void barrier_wait(sharena_arena *a)
{
    struct sharena__header *h = sharena__hdr(a);
    struct timespec ts = {0, 50 * 1000 * 1000};
    for (;;) {
        uint32_t v = __atomic_load_n(&h->write_barrier, __ATOMIC_ACQUIRE);
        if (!v)
            return;
        long r = futex(&h->write_barrier, FUTEX_WAIT, v, &ts);
        if (r == -1 && errno == ETIMEDOUT && sharena__owner_gone(a, v))
            /* the saver died: lift its barrier */
            __atomic_compare_exchange_n(&h->write_barrier, &v, 0, false,
                                        __ATOMIC_RELEASE, __ATOMIC_RELAXED);
    }
}

void sharena__barrier_drop(sharena_arena *a)
{
    struct sharena__header *h = sharena__hdr(a);
    __atomic_store_n(&h->write_barrier, 0, __ATOMIC_SEQ_CST);
    futex(&h->write_barrier, FUTEX_WAKE, INT32_MAX, NULL);
}

int sharena__barrier_raise(sharena_arena *a)
{
    if (a->readonly)
        return SHARENA_EROFS;
    struct sharena__header *h = sharena__hdr(a);
    uint32_t me = sharena__owner(a);
    int64_t deadline = mono_ns() + BARRIER_DRAIN_NS;
    for (;;) {
        uint32_t v = 0;
        if (__atomic_compare_exchange_n(&h->write_barrier, &v, me, false,
                                        __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
            break;
        if (v == me)
            return SHARENA_EBUSY; /* another thread of ours is saving */
        if (sharena__owner_gone(a, v)) {
            __atomic_compare_exchange_n(&h->write_barrier, &v, 0, false,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED);
            continue;
        }
        if (mono_ns() > deadline)
            return SHARENA_EBUSY; /* another save takes long */
        struct timespec ts = {0, 10 * 1000 * 1000};
        futex(&h->write_barrier, FUTEX_WAIT, v, &ts);
    }
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) != 0) {
        sharena__barrier_drop(a);
        return SHARENA_ENOSYS;
    }
    /* Drain the writes that began before the barrier. The table is read
     * through validated slot pointers, bounded by what the mapping holds. */
    uint64_t n = SHARENA__LD(h->slot_count);
    uint64_t max = a->size / sizeof(struct sharena__slot);
    if (n > max)
        n = max;
    for (uint64_t i = 1; i < n; i++) {
        struct sharena__slot *s = sharena__slot_at(a, i);
        if (!s)
            continue;
        for (unsigned spin = 0; __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) & 1;
             spin++) {
            if (spin > 64) {
                /* a dead writer's half-finished write (fsck --repair
                 * first), or a writer that does not finish: give up */
                uint32_t o = __atomic_load_n(&s->lock, __ATOMIC_RELAXED);
                if (!o || (o & SHARENA__LOCK_DIED) ||
                    sharena__owner_gone(a, o) || mono_ns() > deadline) {
                    sharena__barrier_drop(a);
                    return SHARENA_EBUSY;
                }
                struct timespec ts = {0, 100 * 1000};
                nanosleep(&ts, NULL);
            }
        }
    }
    return 0;
}

void sharena__write_finish(sharena_arena *a, struct sharena__slot *s)
{
    uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&s->seq, seq + 1, __ATOMIC_RELEASE);
    struct sharena__header *h = sharena__hdr(a);
    __atomic_add_fetch(&h->changes, 1, __ATOMIC_SEQ_CST);
    /* Pairs with the waiter's increment-then-recheck (wait.c): either it
     * sees the new value or we see its registration. */
    if (__atomic_load_n(&s->waiters, __ATOMIC_SEQ_CST))
        futex(&s->seq, FUTEX_WAKE, INT32_MAX, NULL);
    if (__atomic_load_n(&h->change_waiters, __ATOMIC_SEQ_CST))
        futex(&h->changes, FUTEX_WAKE, INT32_MAX, NULL);
}

void sharena__write_end(sharena_arena *a, struct sharena__slot *s, int nested)
{
    sharena__write_finish(a, s);
    if (!nested)
        sharena__unlock(a, &s->lock);
}

bool sharena__read_backoff(unsigned attempt)
{
    if (attempt < 64) {
#if defined(__x86_64__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ __volatile__("yield");
#endif
        return true;
    }
    if (attempt < 64 + 2000) {
        sched_yield();
        return true;
    }
    if (attempt < 64 + 2000 + 1000) {
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
        return true;
    }
    return false;
}

/* How long one lock wait of a slow reader lasts before it goes back to
 * reading lock-free (a stopped writer keeps its lock). */
#define READ_LOCK_WAIT_NS (50ll * 1000 * 1000)
/* Lock-free attempts a reader makes before its first lock wait, and
 * between two lock waits. */
#define READ_LOCK_EVERY 128
/* Attempts (most of them 1 ms sleeps) that must also have passed, without
 * the counter moving, before a read gives up: on a machine so busy that
 * the reader itself hardly runs, a preempted writer is given as many
 * chances to finish as the reader had to look (docs/locking.md). */
#define READ_STUCK_ATTEMPTS 1000
/* Slow attempts a read makes, at least one of them under the object's lock
 * on a writable handle (READ_SETTLE_AFTER), before it gives up for want of
 * a consistent moment while the counter keeps moving. */
#define READ_GIVEUP_ATTEMPTS 200
/* Slow attempts (after the spins) that only yield the CPU; later ones sleep
 * 1 ms each, so that a reader waiting for a stopped writer does not spin. */
#define READ_YIELDS 200

/* The lock a read holds was taken on this slot; @p s may be NULL (the id
 * stopped resolving: the slot it locked is remembered). */
static __thread SHARENA__TLS struct sharena__slot *read_locked_slot;

void sharena__read_unlock(const sharena_arena *a, struct sharena__slot *s,
                          struct sharena__read_state *st)
{
    (void)s;
    if (st->locked && read_locked_slot)
        sharena__unlock(a, &read_locked_slot->lock);
    read_locked_slot = NULL;
    st->locked = false;
}

/* Take the object's lock in @p s for the next attempt of a reader that
 * found no consistent moment lock-free: honest writers are held off, and
 * an object whose writer died is repaired first. Waits until @p deadline
 * (a live owner that keeps it, a stopped writer, is left to it). A
 * caller's own sooner deadline (fsck) stays. */
static void read_lock(const sharena_arena *ca, struct sharena__slot *s,
                      int64_t deadline, struct sharena__read_state *st)
{
    sharena_arena *a = (sharena_arena *)ca;
    if (a->readonly)
        return;
    int64_t was = lock_deadline;
    if (!was || was > deadline)
        lock_deadline = deadline > 0 ? deadline : 1;
    int r = sharena__lock(a, &s->lock);
    lock_deadline = was;
    if (r == SHARENA_ETIMEDOUT || r == SHARENA_EBUSY || r == 1)
        return; /* not taken, or held by this thread already */
    if (r == SHARENA_EOWNERDEAD &&
        __atomic_load_n(&s->type, __ATOMIC_ACQUIRE) &&
        sharena__repair(a, s) < 0) {
        sharena__unlock_died(a, &s->lock, sharena__owner(a));
        return; /* the next locker tries again */
    }
    /* no honest writer is inside: an odd counter is a dead one's */
    uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
    if (seq & 1)
        __atomic_store_n(&s->seq, seq + 1, __ATOMIC_RELEASE);
    read_locked_slot = s;
    st->locked = true;
}

int sharena__read_retry(const sharena_arena *a, struct sharena__slot *s,
                        uint32_t seq, struct sharena__read_state *st)
{
    /* an attempt under the lock that still failed (a peer ignoring locks)
     * gives the lock back and goes on like any */
    if (st->locked)
        sharena__read_unlock(a, s, st);
    unsigned attempt = ++st->attempt;
    if (attempt < SHARENA__READ_SPINS) {
#if defined(__x86_64__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ __volatile__("yield");
#endif
        return 0;
    }
    /* the clock runs only once spinning is over: the common retry (a
     * writer that finishes within microseconds) never reads it */
    int64_t now = mono_ns();
    if (attempt == SHARENA__READ_SPINS) {
        st->start = st->quiet_since = now;
        st->last = seq;
        st->quiet = 0;
        st->slow = 0;
    } else if (seq != st->last) {
        /* writers are getting on: not stuck, whatever the time */
        st->last = seq;
        st->quiet_since = now;
        st->quiet = 0;
    } else {
        st->quiet++;
    }
    st->slow++;
    uint32_t v = __atomic_load_n(&s->lock, __ATOMIC_RELAXED);
    /* A writable handle takes over the lock of a writer that died at once
     * (repairing its object), not after READ_SETTLE_AFTER attempts: readers
     * that cannot repair wait for it. */
    if (attempt == SHARENA__READ_SPINS && (seq & 1) && !a->readonly && v &&
        ((v & SHARENA__LOCK_DIED) ||
         ((v & SHARENA__LOCK_LOCAL) && sharena__owner_gone(a, v)))) {
        read_lock(a, s, now + READ_LOCK_WAIT_NS, st);
        return 0;
    }
    /* Stuck: the same write in progress for a second of the clock and a
     * thousand looks of ours, and its writer is not merely slow: stopped
     * (SIGSTOP, a debugger) or a scribbled word. A writer of this host
     * that is alive, not stopped and maps this arena (preempted on a busy
     * machine, waiting for the arena lock) gets up to
     * SHARENA__READ_LIMIT_NS; a dead one (repaired by the next read-write
     * locker, which a read-only reader waits for) and a broker client
     * three seconds. Or no consistent moment at all for two seconds while
     * the counter kept moving (a peer flipping it; a counter that stopped
     * moving is the stuck case), and two hundred looks. */
    bool stuck = now - st->quiet_since >= SHARENA__READ_STUCK_NS &&
                 st->quiet >= READ_STUCK_ATTEMPTS;
    bool starved = now - st->start >= SHARENA__READ_GIVEUP_NS &&
                   st->slow >= READ_GIVEUP_ATTEMPTS &&
                   now - st->quiet_since < SHARENA__READ_STUCK_NS;
    if (stuck && now < st->owner_ok_until)
        stuck = false; /* its owner was seen working a moment ago */
    if (stuck) {
        int64_t held_for = now - st->quiet_since;
        pid_t pid = (pid_t)(v & 0x1fffffffu);
        int state = 0;
        if (!v) {
            /* odd with nobody holding the lock: no honest writer leaves
             * that (a writable handle's read_lock mends it) */
        } else if (held_for >= SHARENA__READ_LIMIT_NS) {
            /* long enough for anything but a stopped writer */
        } else if (!(v & (SHARENA__LOCK_DIED | SHARENA__LOCK_LOCAL))) {
            /* A broker client's death is known only once the broker has
             * handled its closed socket, which a loaded machine can delay
             * past a second: its lock is given three times as long. */
            stuck = held_for >= 3 * SHARENA__READ_STUCK_NS;
        } else if ((v & SHARENA__LOCK_DIED) ||
                   (state = sharena__pid_state(pid)) == 0 || state == 'Z') {
            /* A dead owner: a read-write handle has taken its lock over to
             * repair (a repair that could not finish is not waited for); a
             * read-only one waits three times as long for one that does. */
            stuck = !a->readonly || held_for >= 3 * SHARENA__READ_STUCK_NS;
        } else if (state != 'T' && state != 't' && pid != sharena__getpid() &&
                   pid_maps_arena(a, pid)) {
            /* alive, not stopped, and another process of this arena: a
             * writer that is only slow (a scribbled word naming some other
             * live process, or this one, is not waited for) */
            stuck = false;
            st->owner_ok_until = now + 100ll * 1000 * 1000;
        }
    }
    if (stuck || starved)
        return SHARENA_EBUSY;
    if (attempt >= SHARENA__READ_SETTLE_AFTER &&
        (attempt - SHARENA__READ_SETTLE_AFTER) % READ_LOCK_EVERY == 0) {
        read_lock(a, s, now + READ_LOCK_WAIT_NS, st);
        return 0;
    }
    if (st->slow < READ_YIELDS) {
        sched_yield();
    } else {
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* The slot of the object a lock call names: SHARENA_EINVAL, SHARENA_EROFS
 * or the id's error when there is none to lock. */
static int lock_target(sharena_arena *a, sharena_id id,
                       struct sharena__slot **s)
{
    if (!a)
        return SHARENA_EINVAL;
    if (a->readonly)
        return SHARENA_EROFS;
    return sharena__resolve(a, id, 0, s);
}

int sharena_lock(sharena_arena *a, sharena_id id)
{
    struct sharena__slot *s;
    int r = lock_target(a, id, &s);
    if (r < 0)
        return r;
    if (held_has(&s->lock))
        return SHARENA_EDEADLK;
    if (held.n >= HELD_MAX)
        return SHARENA_ENOSPC;
    r = sharena__lock(a, &s->lock);
    if (r == SHARENA_ETIMEDOUT || r == SHARENA_EBUSY)
        return r; /* not taken (a deadline or no-wait mode) */
    if (r == SHARENA_EOWNERDEAD &&
        __atomic_load_n(&s->type, __ATOMIC_ACQUIRE) &&
        (r = sharena__repair(a, s)) < 0) {
        sharena__unlock_died(a, &s->lock, sharena__owner(a));
        return r;
    }
    if (__atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) != sharena__id_gen(id) ||
        !__atomic_load_n(&s->type, __ATOMIC_ACQUIRE)) {
        sharena__unlock(a, &s->lock);
        return SHARENA_ESTALE;
    }
    return 0;
}

int sharena_unlock(sharena_arena *a, sharena_id id)
{
    if (!a)
        return SHARENA_EINVAL;
    struct sharena__slot *s = sharena__slot_at(a, sharena__id_slot(id));
    int i = s ? held_index(&s->lock) : -1;
    if (i < 0)
        return SHARENA_EPERM;
    if (held.depth[i]) {
        held.depth[i]--; /* a nested level: the lock stays held */
        return 0;
    }
    sharena__unlock(a, &s->lock);
    return 0;
}

/* The one deadlock rule: a thread that holds an object's lock (through this
 * handle) and asks for it again gets SHARENA_EDEADLK from sharena_lock()
 * and sharena_lock_timeout(), and one more level from this call; each
 * level is given back by one sharena_unlock(). */
int sharena_lock_nested(sharena_arena *a, sharena_id id, int64_t timeout_ns)
{
    struct sharena__slot *s;
    int r = lock_target(a, id, &s);
    if (r < 0)
        return r;
    int i = held_index(&s->lock);
    if (i < 0)
        return sharena_lock_timeout(a, id, timeout_ns);
    if (held.depth[i] == UINT32_MAX)
        return SHARENA_EOVERFLOW;
    held.depth[i]++;
    return 0;
}

int sharena_owner_attach(sharena_arena *a, uint32_t slot)
{
    if (!a || slot == 0 || slot >= SHARENA__MAX_BROKER_SLOTS)
        return SHARENA_EINVAL;
    if (a->readonly)
        return SHARENA_EROFS;
    struct sharena__header *h = sharena__hdr(a);
    __atomic_or_fetch(&h->live_slots[slot / 64], UINT64_C(1) << (slot % 64),
                      __ATOMIC_RELEASE);
    __atomic_store_n(&h->slots_managed, 1, __ATOMIC_RELEASE);
    return 0;
}

int sharena_owner_sync(sharena_arena *a, const uint64_t *live, size_t nwords)
{
    if (!a || !live || nwords != SHARENA__MAX_BROKER_SLOTS / 64)
        return SHARENA_EINVAL;
    if (a->readonly)
        return SHARENA_EROFS;
    struct sharena__header *h = sharena__hdr(a);
    int fixed = 0;
    for (size_t i = 0; i < nwords; i++) {
        uint64_t want = live[i] & (i ? ~UINT64_C(0) : ~UINT64_C(1));
        if (__atomic_load_n(&h->live_slots[i], __ATOMIC_RELAXED) != want) {
            __atomic_store_n(&h->live_slots[i], want, __ATOMIC_RELEASE);
            fixed++;
        }
    }
    /* (a first sync of an arena nobody opened read-write yet is not a
     * correction) */
    if (!__atomic_load_n(&h->slots_managed, __ATOMIC_RELAXED))
        __atomic_store_n(&h->slots_managed, 1, __ATOMIC_RELEASE);
    return fixed;
}

int sharena_owner_detach(sharena_arena *a, uint32_t slot)
{
    if (!a || slot == 0 || slot >= SHARENA__MAX_BROKER_SLOTS)
        return SHARENA_EINVAL;
    if (a->readonly)
        return SHARENA_EROFS;
    __atomic_and_fetch(&sharena__hdr(a)->live_slots[slot / 64],
                       ~(UINT64_C(1) << (slot % 64)), __ATOMIC_RELEASE);
    return 0;
}

/* sharena_lock() with a deadline: the object's lock wait alone is bounded
 * (a repair after an owner died, and the arena lock it takes, are not: they
 * are short and must finish). A separate function so that sharena_lock()
 * stays exactly as it was. */
int sharena_lock_timeout(sharena_arena *a, sharena_id id, int64_t timeout_ns)
{
    if (timeout_ns < 0)
        return sharena_lock(a, id);
    struct sharena__slot *s;
    int r = lock_target(a, id, &s);
    if (r < 0)
        return r;
    if (held_has(&s->lock))
        return SHARENA_EDEADLK;
    if (held.n >= HELD_MAX)
        return SHARENA_ENOSPC;
    /* A caller's own sooner deadline (fsck) stays. */
    int64_t was = lock_deadline, bound = mono_ns() + timeout_ns;
    if (!was || was > bound)
        lock_deadline = bound ? bound : 1;
    r = sharena__lock(a, &s->lock);
    lock_deadline = was;
    if (r == SHARENA_ETIMEDOUT || r == SHARENA_EBUSY)
        return r; /* not taken */
    if (r == SHARENA_EOWNERDEAD && SHARENA__LD(s->type) &&
        (r = sharena__repair(a, s)) < 0) {
        sharena__unlock_died(a, &s->lock, sharena__owner(a));
        return r;
    }
    if (__atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) != sharena__id_gen(id) ||
        !SHARENA__LD(s->type)) {
        sharena__unlock(a, &s->lock);
        return SHARENA_ESTALE;
    }
    return 0;
}
