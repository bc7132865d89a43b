/* wait.c: waiting for changes. A waiter registers in the word's waiters
 * count (so writers know to FUTEX_WAKE), re-checks the version, and sleeps
 * in FUTEX_WAIT on the sequence counter. Spurious wake-ups and lost races
 * are handled by re-checking the version after every wake-up. */
#include "internal.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define RO_SLICE_NS (2 * 1000 * 1000) /* read-only handles poll this often */
/* Writable handles sleep at most this long before they look again: the
 * waiters count that tells writers to wake them lives in the arena, and a
 * peer that zeroes it costs a waiter a late wake-up, never a lost one. */
#define RW_SLICE_NS (1000ll * 1000 * 1000)

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The waits in progress on @p a in this process. A forked child inherits
 * the handle with its parent's count, but not the threads it counts: a
 * count tagged with another pid is none (the child's close returns at
 * once), and the child's first wait starts its own. */
static uint64_t pid_tag(void)
{
    return (uint64_t)(uint32_t)sharena__getpid() << 32;
}
static uint32_t waiting_here(const sharena_arena *a)
{
    uint64_t v = __atomic_load_n(&a->waiting, __ATOMIC_ACQUIRE);
    return (v & ~UINT64_C(0xffffffff)) == pid_tag() ? (uint32_t)v : 0;
}

/* Track the word in the handle so sharena_arena_close() can wake us. */
static int enter(sharena_arena *a, uint32_t *w)
{
    uint64_t me = pid_tag();
    uint64_t v = __atomic_load_n(&a->waiting, __ATOMIC_RELAXED), nv;
    do
        nv = (v & ~UINT64_C(0xffffffff)) == me ? v + 1 : (me | 1);
    while (!__atomic_compare_exchange_n(&a->waiting, &v, nv, true,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
    if (__atomic_load_n(&a->closed, __ATOMIC_ACQUIRE)) {
        __atomic_sub_fetch(&a->waiting, 1, __ATOMIC_ACQ_REL);
        return -1;
    }
    for (int i = 0; i < 32; i++) {
        uint32_t *none = NULL;
        if (__atomic_compare_exchange_n(&a->wait_words[i], &none, w, false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            return i;
    }
    return 32; /* no room: we sleep in slices instead */
}

static void leave(sharena_arena *a, int slot)
{
    if (slot >= 0 && slot < 32)
        __atomic_store_n(&a->wait_words[slot], NULL, __ATOMIC_RELEASE);
    if (slot >= 0)
        __atomic_sub_fetch(&a->waiting, 1, __ATOMIC_ACQ_REL);
}

/* Sleep while *w == seen. @p waiters is the shared waiters count (NULL for
 * read-only handles). Returns 0 (woken or value changed), ETIMEDOUT, EINTR
 * or ECLOSED. */
static int sleep_on(sharena_arena *a, uint32_t *w, uint32_t *waiters,
                    uint32_t seen, int64_t deadline)
{
    int slot = enter(a, w);
    if (slot < 0)
        return SHARENA_ECLOSED;
    if (waiters)
        __atomic_add_fetch(waiters, 1, __ATOMIC_SEQ_CST);
    int r = 0;
    if (__atomic_load_n(w, __ATOMIC_SEQ_CST) == seen) {
        int64_t left = deadline < 0 ? -1 : deadline - mono_ns();
        int64_t slice = left;
        if (!waiters || slot == 32)
            slice = slice < 0 || slice > RO_SLICE_NS ? RO_SLICE_NS : slice;
        else
            slice = slice < 0 || slice > RW_SLICE_NS ? RW_SLICE_NS : slice;
        if (left == 0 || (deadline >= 0 && left < 0)) {
            r = SHARENA_ETIMEDOUT;
        } else {
            struct timespec ts, *tp = NULL;
            if (slice >= 0) {
                ts.tv_sec = slice / 1000000000;
                ts.tv_nsec = slice % 1000000000;
                tp = &ts;
            }
            long f = syscall(SYS_futex, w, FUTEX_WAIT, seen, tp, NULL, 0);
            if (f == -1 && errno == EINTR)
                r = SHARENA_EINTR;
            else if (f == -1 && errno == ETIMEDOUT && deadline >= 0 &&
                     mono_ns() >= deadline)
                r = SHARENA_ETIMEDOUT;
        }
    }
    if (waiters)
        __atomic_sub_fetch(waiters, 1, __ATOMIC_SEQ_CST);
    /* Last touch of the handle: after leave() a closer may free it. */
    if (r == 0 && __atomic_load_n(&a->closed, __ATOMIC_ACQUIRE))
        r = SHARENA_ECLOSED;
    leave(a, slot);
    return r;
}

int sharena_wait(sharena_arena *a, sharena_id id, uint64_t last,
                 int64_t timeout_ns, uint64_t *version)
{
    if (!a)
        return SHARENA_EINVAL;
    int64_t deadline = timeout_ns < 0 ? -1 : mono_ns() + timeout_ns;
    for (;;) {
        struct sharena__slot *s;
        int r = sharena__resolve(a, id, 0, &s);
        if (r < 0)
            return r;
        uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_SEQ_CST);
        if (!(seq & 1) && seq != (uint32_t)last) {
            if (version)
                *version = seq;
            return 0;
        }
        r = sleep_on(a, &s->seq, a->readonly ? NULL : &s->waiters, seq,
                     deadline);
        if (r == SHARENA_ECLOSED)
            return r; /* the handle may be gone: touch nothing */
        if (r < 0) {
            /* a drop wakes waiters: report it as such, not as a timeout */
            struct sharena__slot *t;
            int g = sharena__resolve(a, id, 0, &t);
            return g < 0 ? g : r;
        }
    }
}

int sharena_arena_version(const sharena_arena *a, uint64_t *version)
{
    if (!a || !version)
        return SHARENA_EINVAL;
    *version = __atomic_load_n(&sharena__hdr(a)->changes, __ATOMIC_ACQUIRE);
    return 0;
}

int sharena_wait_any(sharena_arena *a, uint64_t last, int64_t timeout_ns,
                     uint64_t *version)
{
    if (!a)
        return SHARENA_EINVAL;
    if (a->closed)
        return SHARENA_ECLOSED;
    struct sharena__header *h = sharena__hdr(a);
    int64_t deadline = timeout_ns < 0 ? -1 : mono_ns() + timeout_ns;
    for (;;) {
        uint32_t c = __atomic_load_n(&h->changes, __ATOMIC_SEQ_CST);
        if (c != (uint32_t)last) {
            if (version)
                *version = c;
            return 0;
        }
        int r = sleep_on(a, &h->changes,
                         a->readonly ? NULL : &h->change_waiters, c, deadline);
        if (r < 0)
            return r;
    }
}

int sharena_arena_cancel_waits(sharena_arena *a)
{
    if (!a)
        return SHARENA_EINVAL;
    sharena__wake_closing(a);
    return 0;
}

/* Called by sharena_arena_close() and sharena_arena_cancel_waits(): wake
 * this handle's waiters and wait for them to leave before the mapping goes
 * away. A second call finds nothing left to wake. */
void sharena__wake_closing(sharena_arena *a)
{
    __atomic_store_n(&a->closed, true, __ATOMIC_RELEASE);
    sharena__notify_closing(a);
    for (int spins = 0; waiting_here(a); spins++) {
        for (int i = 0; i < 32; i++) {
            uint32_t *w = __atomic_load_n(&a->wait_words[i], __ATOMIC_ACQUIRE);
            if (w)
                syscall(SYS_futex, w, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
        }
        struct timespec ts = {0, 100 * 1000};
        nanosleep(&ts, NULL);
    }
}
