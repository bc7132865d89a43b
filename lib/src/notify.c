/* notify.c: a pollable change notification. A futex cannot be polled, so an
 * event loop that waits on an arena's change counter needs a helper thread
 * and a second wake-up to reach the loop. io_uring's IORING_OP_FUTEX_WAIT
 * (Linux 6.7) queues the futex wait in the kernel instead; its completion
 * signals an eventfd registered on the ring, and the loop polls that
 * eventfd. One wake-up: writer -> waiting thread.
 *
 * Raw syscalls, no liburing. Debian 12's headers predate the futex opcodes,
 * so the opcode and the FUTEX2 flags are defined here (values from the
 * kernel's uapi: include/uapi/linux/io_uring.h and futex.h). SQE fields for
 * FUTEX_WAIT (io_uring/futex.c, io_futex_prep): addr = futex word, addr2 =
 * expected value, addr3 = wake mask (non-zero), fd = FUTEX2 flags; len,
 * op flags, buf_index and file_index must be 0.
 *
 * Registration follows wait.c: a notifier counts itself in the header's
 * change_waiters exactly while its FUTEX_WAIT is queued (writers only call
 * FUTEX_WAKE when that count is non-zero), re-checks the counter after
 * registering, and the kernel compares the word again when it queues the
 * wait, so no write between the check and the queueing is missed.
 *
 * Locking: one process-wide mutex guards every notifier's state and each
 * arena handle's list of notifiers. Arena close (sharena__wake_closing, any
 * thread) orphans the arena's notifiers under it, and a notifier outlives
 * its arena handle, so the lock cannot live in either. The sections are
 * short (no blocking call: submitting never waits for completions). */
#include "internal.h"

#include <errno.h>
#include <linux/io_uring.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#define __NR_io_uring_enter 426
#define __NR_io_uring_register 427
#endif

#define NOTIFY_OP_FUTEX_WAIT 51 /* IORING_OP_FUTEX_WAIT, Linux 6.7 */
#define NOTIFY_FUTEX2_SIZE_U32 0x02u
#define NOTIFY_FUTEX_MASK_ANY 0xffffffffu /* FUTEX_BITSET_MATCH_ANY */

enum { TAG_WAIT = 1, TAG_CANCEL = 2, TAG_PROBE = 3 };

struct ring {
    int fd;
    void *sq_map, *cq_map;
    size_t sq_len, cq_len;
    struct io_uring_sqe *sqes;
    size_t sqes_len;
    unsigned *sq_tail, *sq_mask, *sq_array;
    unsigned *cq_head, *cq_tail, *cq_mask;
    struct io_uring_cqe *cqes;
};

struct sharena_notifier {
    sharena_arena *a; /* NULL once the arena handle was closed */
    struct ring ring;
    int efd;
    bool armed; /* a FUTEX_WAIT is queued and counted in change_waiters */
    int failed; /* a completion reported this error: give it to arm() */
    pid_t pid;  /* the opener: a forked child's copy shares the ring and
                     the count with it and must touch neither */
    struct sharena_notifier *next;     /* in a->notifiers */
    struct sharena_notifier *all_next; /* in all_notifiers */
};

static pthread_mutex_t notify_mu = PTHREAD_MUTEX_INITIALIZER;
/* every open notifier of this process (notify_mu), for the exit hook */
static sharena_notifier *all_notifiers;

/* fork() while another thread holds notify_mu would leave the child's copy
 * locked forever (its next arena close would hang): hold it across fork. */
static void fork_prepare(void)
{
    pthread_mutex_lock(&notify_mu);
}
static void fork_parent(void)
{
    pthread_mutex_unlock(&notify_mu);
}
static void fork_child(void)
{
    pthread_mutex_unlock(&notify_mu); /* the forking thread's, and ours */
}

static void unregister_locked(sharena_notifier *n);

/* exit() (Node's process.exit, Python's sys.exit after atexit) with a wait
 * queued would leave the arena's change_waiters counting a waiter that is
 * gone, and every writer would pay a futex wake per write from then on.
 * (A process killed by a signal, or _exit(), still leaves it: like a
 * blocking waiter killed mid-wait.) */
static void exit_hook(void)
{
    pthread_mutex_lock(&notify_mu);
    for (sharena_notifier *n = all_notifiers; n; n = n->all_next)
        if (n->a)
            unregister_locked(n);
    pthread_mutex_unlock(&notify_mu);
}

__attribute__((constructor)) static void notify_init(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    atexit(exit_hook);
}

static int ring_setup(struct ring *r, unsigned entries)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    memset(r, 0, sizeof *r);
    r->fd = -1;
    long fd = syscall(__NR_io_uring_setup, entries, &p);
    if (fd < 0)
        return -errno;
    r->fd = (int)fd;
    r->sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    r->cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    bool single = p.features & IORING_FEAT_SINGLE_MMAP;
    if (single && r->cq_len > r->sq_len)
        r->sq_len = r->cq_len;
    r->sq_map = mmap(NULL, r->sq_len, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
    if (r->sq_map == MAP_FAILED) {
        r->sq_map = NULL;
        return -errno;
    }
    if (single) {
        r->cq_map = r->sq_map;
    } else {
        r->cq_map = mmap(NULL, r->cq_len, PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
        if (r->cq_map == MAP_FAILED) {
            r->cq_map = NULL;
            return -errno;
        }
    }
    r->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
    r->sqes = mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
    if (r->sqes == MAP_FAILED) {
        r->sqes = NULL;
        return -errno;
    }
    uint8_t *sq = r->sq_map, *cq = r->cq_map;
    r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
    r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
    r->sq_array = (unsigned *)(sq + p.sq_off.array);
    r->cq_head = (unsigned *)(cq + p.cq_off.head);
    r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
    r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    return 0;
}

static void ring_free(struct ring *r)
{
    if (r->sqes)
        munmap(r->sqes, r->sqes_len);
    if (r->cq_map && r->cq_map != r->sq_map)
        munmap(r->cq_map, r->cq_len);
    if (r->sq_map)
        munmap(r->sq_map, r->sq_len);
    if (r->fd >= 0)
        close(r->fd); /* the kernel cancels what is still queued */
    r->fd = -1;
}

/* Queue one SQE and submit it. The caller is the only producer (the SQ is
 * only touched under notify_mu, or before the notifier is published). */
static int ring_submit(struct ring *r, const struct io_uring_sqe *sqe)
{
    unsigned tail = *r->sq_tail;
    unsigned idx = tail & *r->sq_mask;
    r->sqes[idx] = *sqe;
    r->sq_array[idx] = idx;
    __atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
    for (;;) {
        long n = syscall(__NR_io_uring_enter, r->fd, 1, 0, 0, NULL, 0);
        if (n == 1)
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        /* not consumed: take it back so the ring stays consistent */
        __atomic_store_n(r->sq_tail, tail, __ATOMIC_RELEASE);
        return n < 0 ? -errno : SHARENA_EAGAIN;
    }
}

/* Pop one completion; false when the CQ is empty. */
static bool ring_reap(struct ring *r, struct io_uring_cqe *out)
{
    unsigned head = *r->cq_head;
    if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE))
        return false;
    *out = r->cqes[head & *r->cq_mask];
    __atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
    return true;
}

static void prep_futex_wait(struct io_uring_sqe *sqe, uint32_t *word,
                            uint32_t val, uint64_t tag)
{
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = NOTIFY_OP_FUTEX_WAIT;
    sqe->addr = (uint64_t)(uintptr_t)word;
    sqe->addr2 = val;
    sqe->addr3 = NOTIFY_FUTEX_MASK_ANY;
    /* shared (not FUTEX2_PRIVATE): writers in other processes wake it */
    sqe->fd = (int32_t)NOTIFY_FUTEX2_SIZE_U32;
    sqe->user_data = tag;
}

/* Does this kernel (and sandbox) run IORING_OP_FUTEX_WAIT? A wait on a word
 * that does not hold the expected value must complete at once with
 * -EAGAIN; an unknown opcode or flag completes with -EINVAL/-EOPNOTSUPP.
 * 1 = yes, SHARENA_ENOSYS = no, other negative = could not tell now. */
static int probe_kernel(void)
{
    struct ring r;
    int efd = -1;
    int ret = ring_setup(&r, 2);
    if (ret == 0) {
        /* everything open() will need: an eventfd registered on the ring */
        efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (efd < 0)
            ret = -errno;
        else if (syscall(__NR_io_uring_register, r.fd, IORING_REGISTER_EVENTFD,
                         &efd, 1) < 0)
            ret = -errno;
    }
    if (ret == 0) {
        uint32_t word = 0;
        struct io_uring_sqe sqe;
        prep_futex_wait(&sqe, &word, 1, TAG_PROBE);
        ret = ring_submit(&r, &sqe);
        struct io_uring_cqe cqe;
        if (ret == 0 && ring_reap(&r, &cqe))
            ret = cqe.res == -EAGAIN ? 1 : SHARENA_ENOSYS;
        else if (ret == 0)
            ret = SHARENA_ENOSYS; /* should have completed inline */
    }
    /* Out of memory or descriptors says nothing about the kernel (ask
     * again later); any other refusal (no io_uring, io_uring_disabled, a
     * seccomp filter on setup, enter or register, an unknown opcode) means
     * the process cannot use it: SHARENA_ENOSYS, remembered. */
    if (ret < 0 && ret != SHARENA_ENOSYS && ret != -ENOMEM && ret != -EMFILE &&
        ret != -ENFILE && ret != -EAGAIN && ret != -EINTR)
        ret = SHARENA_ENOSYS;
    if (efd >= 0)
        close(efd);
    ring_free(&r);
    return ret;
}

static int probe_once(void)
{
    /* 0 = not probed yet; the answer does not change within a process */
    static int cached;
    int c = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);
    if (c)
        return c;
    c = probe_kernel();
    if (c == 1 || c == SHARENA_ENOSYS)
        __atomic_store_n(&cached, c, __ATOMIC_RELEASE);
    return c;
}

static bool forced_off(void)
{
    const char *e = getenv("SHARENA_NO_IO_URING");
    return e && *e && strcmp(e, "0") != 0;
}

int sharena_notifier_supported(void)
{
    if (forced_off())
        return SHARENA_ENOSYS;
    int r = probe_once();
    return r == 1 ? 0 : r;
}

int sharena_notifier_open(sharena_arena *a, sharena_notifier **out)
{
    if (!a || !out)
        return SHARENA_EINVAL;
    *out = NULL;
    if (a->readonly)
        return SHARENA_EROFS;
    int r = sharena_notifier_supported();
    if (r < 0)
        return r;
    sharena_notifier *n = calloc(1, sizeof *n);
    if (!n)
        return SHARENA_ENOMEM;
    n->efd = -1;
    n->pid = getpid();
    r = ring_setup(&n->ring, 4);
    if (r == 0) {
        n->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (n->efd < 0)
            r = -errno;
    }
    if (r == 0 && syscall(__NR_io_uring_register, n->ring.fd,
                          IORING_REGISTER_EVENTFD, &n->efd, 1) < 0)
        r = -errno;
    if (r < 0) {
        ring_free(&n->ring);
        if (n->efd >= 0)
            close(n->efd);
        free(n);
        return r;
    }
    pthread_mutex_lock(&notify_mu);
    if (__atomic_load_n(&a->closed, __ATOMIC_ACQUIRE)) {
        r = SHARENA_ECLOSED;
    } else {
        n->a = a;
        n->next = a->notifiers;
        a->notifiers = n;
        n->all_next = all_notifiers;
        all_notifiers = n;
    }
    pthread_mutex_unlock(&notify_mu);
    if (r < 0) {
        sharena_notifier_close(n);
        return r;
    }
    *out = n;
    return 0;
}

int sharena_notifier_fd(const sharena_notifier *n)
{
    return n ? n->efd : SHARENA_EINVAL;
}

/* Leave change_waiters (notify_mu held, arena still mapped). In a forked
 * child the queued wait is the parent's: leave it and its count alone. */
static void unregister_locked(sharena_notifier *n)
{
    if (!n->armed)
        return;
    n->armed = false;
    if (n->pid != getpid())
        return;
    __atomic_sub_fetch(&sharena__hdr(n->a)->change_waiters, 1,
                       __ATOMIC_SEQ_CST);
}

/* Handle every completion; notify_mu held, n->a set. */
static void reap_locked(sharena_notifier *n)
{
    struct io_uring_cqe cqe;
    while (ring_reap(&n->ring, &cqe)) {
        if (cqe.user_data != TAG_WAIT)
            continue; /* a cancel's own result */
        unregister_locked(n);
        /* 0: woken; -EAGAIN: the word had moved; -ECANCELED: the arming
         * thread exited. Anything else will not get better by retrying. */
        if (cqe.res < 0 && cqe.res != -EAGAIN && cqe.res != -ECANCELED &&
            cqe.res != -EINTR)
            n->failed = cqe.res == -EINVAL || cqe.res == -EOPNOTSUPP
                            ? SHARENA_ENOSYS
                            : cqe.res;
    }
}

int sharena_notifier_arm(sharena_notifier *n, uint32_t *seen)
{
    if (!n || !seen)
        return SHARENA_EINVAL;
    if (n->pid != getpid())
        return SHARENA_EPERM; /* a forked child: open a notifier of its own */
    pthread_mutex_lock(&notify_mu);
    int ret = 0;
    if (n->a) {
        /* (an orphan's fd stays readable: whoever polls it sees the end) */
        uint64_t drained;
        while (read(n->efd, &drained, sizeof drained) < 0 && errno == EINTR)
            ;
    }
    for (;;) {
        if (!n->a) {
            ret = SHARENA_ECLOSED;
            break;
        }
        reap_locked(n);
        if (n->failed) {
            ret = n->failed;
            break;
        }
        struct sharena__header *h = sharena__hdr(n->a);
        uint32_t c = __atomic_load_n(&h->changes, __ATOMIC_SEQ_CST);
        if (c != *seen) {
            /* a wait still queued stays so: it completes at the next
             * write, which is what the caller wants next anyway */
            *seen = c;
            ret = 1;
            break;
        }
        if (n->armed)
            break; /* queued, and nothing moved since: keep sleeping */
        /* register, re-check, then queue (wait.c's protocol) */
        __atomic_add_fetch(&h->change_waiters, 1, __ATOMIC_SEQ_CST);
        n->armed = true;
        if (__atomic_load_n(&h->changes, __ATOMIC_SEQ_CST) != c) {
            unregister_locked(n); /* moved meanwhile: reported above */
            continue;
        }
        struct io_uring_sqe sqe;
        prep_futex_wait(&sqe, &h->changes, c, TAG_WAIT);
        int r = ring_submit(&n->ring, &sqe);
        if (r < 0) {
            unregister_locked(n);
            ret = r;
            break;
        }
        /* a word that moved before the kernel queued the wait completes
         * inline: loop once more to see it */
    }
    pthread_mutex_unlock(&notify_mu);
    return ret;
}

/* Called by sharena__wake_closing(): the handle is going away. Each of its
 * notifiers leaves change_waiters, gets its wait cancelled and its fd made
 * readable; their next arm() returns SHARENA_ECLOSED. */
void sharena__notify_closing(sharena_arena *a)
{
    pthread_mutex_lock(&notify_mu);
    for (sharena_notifier *n = a->notifiers; n; n = n->next) {
        if (n->armed && n->pid == getpid()) {
            struct io_uring_sqe sqe;
            memset(&sqe, 0, sizeof sqe);
            sqe.opcode = IORING_OP_ASYNC_CANCEL;
            sqe.addr = TAG_WAIT;
            sqe.user_data = TAG_CANCEL;
            ring_submit(&n->ring, &sqe); /* else: ring close cancels it */
            unregister_locked(n);
        }
        n->a = NULL;
        uint64_t one = 1; /* (a forked child's eventfd is the parent's) */
        while (n->pid == getpid() && write(n->efd, &one, sizeof one) < 0 &&
               errno == EINTR)
            ;
    }
    a->notifiers = NULL;
    pthread_mutex_unlock(&notify_mu);
}

void sharena_notifier_close(sharena_notifier *n)
{
    if (!n)
        return;
    pthread_mutex_lock(&notify_mu);
    if (n->a) {
        unregister_locked(n);
        for (sharena_notifier **pp = &n->a->notifiers; *pp; pp = &(*pp)->next) {
            if (*pp == n) {
                *pp = n->next;
                break;
            }
        }
        n->a = NULL;
    }
    for (sharena_notifier **pp = &all_notifiers; *pp; pp = &(*pp)->all_next) {
        if (*pp == n) {
            *pp = n->all_next;
            break;
        }
    }
    pthread_mutex_unlock(&notify_mu);
    ring_free(&n->ring);
    if (n->efd >= 0)
        close(n->efd);
    free(n);
}
