/*
 * internal.h: what the library's modules, the broker and the in-tree bindings
 * share beyond the public header. Names carry the sharena__ prefix.
 */
#ifndef SHARENA_INTERNAL_H
#define SHARENA_INTERNAL_H

#include "layout.h"
#include "sharena.h"
#include "sharena_broker.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#define SHARENA__LIKELY(x) __builtin_expect(!!(x), 1)
#define SHARENA__UNLIKELY(x) __builtin_expect(!!(x), 0)

#define sharena__cleanup(f) __attribute__((cleanup(f)))

/* Seqlock readers copy data that a writer may be changing and then discard
 * the copy when the sequence counter moved: a race by design, which TSan
 * cannot tell from a bug. Their plain reads are not instrumented; the
 * sequence counter accesses stay atomic. */
#if defined(__SANITIZE_THREAD__)
#define SHARENA__SEQLOCK_READER __attribute__((no_sanitize_thread))
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SHARENA__SEQLOCK_READER __attribute__((no_sanitize("thread")))
#endif
#endif
#ifndef SHARENA__SEQLOCK_READER
#define SHARENA__SEQLOCK_READER
#endif

/* Copies and compares inside seqlock readers: plain memcpy/memcmp, except
 * under TSan, whose interceptors would report the designed-in race. */
#if defined(__SANITIZE_THREAD__)
__attribute__((no_sanitize_thread,
               optimize("no-tree-loop-distribute-patterns"))) static inline void
sharena__rcopy(void *dst, const void *src, size_t n)
{
    char *d = dst;
    const volatile char *s = src;
    for (size_t i = 0; i < n; i++)
        d[i] = s[i];
}
__attribute__((no_sanitize_thread,
               optimize("no-tree-loop-distribute-patterns"))) static inline int
sharena__rcmp(const void *x, const void *y, size_t n)
{
    const volatile unsigned char *p = x;
    const unsigned char *q = y;
    for (size_t i = 0; i < n; i++)
        if (p[i] != q[i])
            return p[i] < q[i] ? -1 : 1;
    return 0;
}
#else
#define sharena__rcopy memcpy
#define sharena__rcmp memcmp
#endif

/* ---- loads from shared memory (DESIGN 10, docs/security.md) ---------------
 * Code rule: read once.
 * Any process that can write an arena may change any byte at any moment,
 * between a check and a use included. So a field of the arena is read
 * exactly once, through SHARENA__LD (a relaxed atomic load: the compiler may
 * neither repeat nor split it), into a local; the local is validated, and
 * only the local is used afterwards: pointers, lengths, loop bounds. A second
 * read of the same field is a second SHARENA__LD, visible in review, and
 * must be validated again. Plain `p->field` reads of arena memory are wrong
 * outside code that holds the only copy (a block just allocated under the
 * arena lock and not yet published).
 * Objects are reached through the checked views of view.h (a view is the
 * set of locals, checked), and lock-free reads through sharena__read()
 * below, which confirms a view against the sequence counter.
 *
 * In a SHARENA_FUZZ_LOADS build (tests/fuzz) each SHARENA__LD may return a
 * mutated value, to show that validation holds whatever a load returns.
 * Lock words and sequence counters keep their own ordered atomics and are
 * never mutated. SHARENA__ST is the matching store. */
#ifdef SHARENA_FUZZ_LOADS
uint64_t sharena__fuzz_load(uint64_t v, unsigned size);
#define SHARENA__LD_ORDER(f, order)                                            \
    ((__typeof__(f))sharena__fuzz_load((uint64_t)__atomic_load_n(&(f), order), \
                                       sizeof(f)))
#else
#define SHARENA__LD_ORDER(f, order) __atomic_load_n(&(f), order)
#endif
#define SHARENA__LD(f) SHARENA__LD_ORDER(f, __ATOMIC_RELAXED)
/* The same, ordered before later loads (pairs with a release store that
 * published what the field points to). */
#define SHARENA__LD_ACQ(f) SHARENA__LD_ORDER(f, __ATOMIC_ACQUIRE)
#define SHARENA__ST(f, v) __atomic_store_n(&(f), (v), __ATOMIC_RELAXED)
/* A full fence. GCC refuses atomic_thread_fence under -fsanitize=thread
 * (TSan does not model fences): there, a seq_cst read-modify-write of a
 * private word stands in, a full barrier on the architectures we support. */
#if defined(__SANITIZE_THREAD__)
static inline void sharena__fence(void)
{
    static uint32_t word;
    (void)__atomic_fetch_add(&word, 0, __ATOMIC_SEQ_CST);
}
#else
static inline void sharena__fence(void)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}
#endif

/* Process-local handle of a mapped arena. Bounds come from the mapping made
 * at open time, never from the (shared, untrusted) header afterwards. */
struct sharena_arena {
    uint8_t *base;
    uint64_t size;       /* bytes mapped == capacity */
    uint64_t heap_start; /* validated copies of header fields */
    uint64_t heap_end;
    uint64_t hash_seed; /* the header's, as read (once) at open */
    int fd;
    bool readonly;
    bool closed;
    uint32_t owner;     /* lock owner value used by this process */
    pid_t owner_pid;    /* pid that `owner` was computed for (fork check) */
    sharena_conn *conn; /* broker connection this arena came from, or NULL */
    uint64_t ino;       /* the memfd's inode (owner liveness checks) */
    /* waits in progress on this handle (close wakes them and waits): the
     * count in the low 32 bits, the pid of the process they are in above
     * it (a forked child's copy names the parent: the child has none of
     * those threads, wait.c) */
    uint64_t waiting;
    uint32_t *wait_words[32];
    /* notifiers open on this handle (notify.c; guarded by its mutex) */
    struct sharena_notifier *notifiers;
    /* cached, validated slot chunk pointers: chunks never move, except
     * when fsck --repair gives one up, which bumps the header's
     * layout_epoch (then every handle forgets its cache) */
    struct sharena__slot *chunks[SHARENA__SLOT_CHUNKS];
    uint32_t chunk_epoch;
    char name[SHARENA_NAME_MAX + 1];
    /* what made this handle (sharena_arena_open_info): a broker OPEN, which
     * says whether it created the arena and whose it is, or this process */
    bool via_broker;
    bool created;
    uint32_t owner_uid, owner_gid, owner_mode;
    /* the name on the broker, owner-qualified when it fits ("1000:cfg"):
     * CLOSE and a forked child's re-OPEN name exactly this arena */
    char wire_name[SHARENA_NAME_MAX + 1];
};

static inline struct sharena__header *sharena__hdr(const sharena_arena *a)
{
    return (struct sharena__header *)a->base;
}

/* Pointer to [off, off+len) inside the heap, or NULL when out of bounds or
 * misaligned to @p align (a power of two). */
static inline void *sharena__ptr(const sharena_arena *a, uint64_t off,
                                 uint64_t len, uint64_t align)
{
    if (SHARENA__UNLIKELY(off < a->heap_start || off > a->heap_end ||
                          len > a->heap_end - off || (off & (align - 1))))
        return NULL;
    return a->base + off;
}

/* Usable payload size of the allocated block whose payload starts at @p off,
 * or 0 if the block header there is not a plausible allocated block. */
uint64_t sharena__payload_size(const sharena_arena *a, uint64_t off);

/* Pointer to a payload of at least @p need bytes at @p off, after checking
 * the block header there; NULL if corrupt. */
static inline void *sharena__payload(const sharena_arena *a, uint64_t off,
                                     uint64_t need)
{
    uint64_t have = sharena__payload_size(a, off);
    if (SHARENA__UNLIKELY(have < need || have == 0))
        return NULL;
    return a->base + off;
}

/* ---- ids and slots (handle.c) ---------------------------------------------- */

static inline uint64_t sharena__id_slot(sharena_id id)
{
    return id & 0xffffffffu;
}
static inline uint32_t sharena__id_gen(sharena_id id)
{
    return (uint32_t)(id >> SHARENA__SLOT_BITS) & SHARENA__GEN_MAX;
}
static inline sharena_id sharena__id_make(uint64_t slot, uint32_t gen)
{
    return slot | ((uint64_t)gen << SHARENA__SLOT_BITS);
}

/* Rebuild the free-slot FIFO and live count from the table (arena lock
 * held; after a process died inside the handle table). */
void sharena__slot_fifo_rebuild(sharena_arena *a);
/* Recovery of the arena lock: rebuild the allocator and the free-slot FIFO,
 * then free blocks whose tag names a free slot (an object half-made by a
 * process that died in sharena__obj_new). Arena lock held. */
int sharena__arena_recover_locked(sharena_arena *a);
/* Slot pointer -> slot number (0 if not in a cached chunk). */
uint32_t sharena__slot_index(const sharena_arena *a,
                             const struct sharena__slot *s);
/* Slot number -> slot pointer (NULL if never allocated or corrupt). Every
 * id lookup starts here, twice per lock+unlock: the common case (the chunk
 * cached, no new layout epoch) is inline; the rest is handle.c's. */
struct sharena__slot *sharena__slot_at_slow(const sharena_arena *a,
                                            uint64_t index);
static inline struct sharena__slot *sharena__slot_at(const sharena_arena *a,
                                                     uint64_t index)
{
    uint64_t j = index / SHARENA__SLOT_CHUNK0 + 1;
    unsigned k = 63u - (unsigned)__builtin_clzll(j);
    if (SHARENA__LIKELY(index != 0 && k < SHARENA__SLOT_CHUNKS) &&
        SHARENA__LIKELY(
            __atomic_load_n(&sharena__hdr(a)->layout_epoch, __ATOMIC_ACQUIRE) ==
            __atomic_load_n(&a->chunk_epoch, __ATOMIC_RELAXED))) {
        struct sharena__slot *c = __atomic_load_n(&a->chunks[k],
                                                  __ATOMIC_ACQUIRE);
        if (SHARENA__LIKELY(c != NULL))
            return &c[index - (uint64_t)SHARENA__SLOT_CHUNK0 *
                                  ((UINT64_C(1) << k) - 1)];
    }
    return sharena__slot_at_slow(a, index);
}

/* Resolve @p id: checks slot range, generation (ESTALE), and, unless
 * @p type is 0, the type (ETYPE). */
int sharena__resolve(const sharena_arena *a, sharena_id id, int type,
                     struct sharena__slot **out);

/* Allocate a slot + a payload block of @p payload bytes (0: no block, the
 * word is set to @p word) under the arena lock, fill the payload with
 * @p init (may be NULL) and only then publish the type, all under the arena
 * lock: an object is never visible half-made, and a process dying in here
 * leaves only what arena-lock recovery sweeps. */
typedef void (*sharena__init_fn)(sharena_arena *a, void *payload,
                                 const void *ctx);
int sharena__obj_new(sharena_arena *a, int type, uint64_t payload,
                     uint64_t word, sharena__init_fn init, const void *ctx,
                     sharena_id *id);

/* Dropping an object is two steps: kill (generation bump, type 0; every id
 * is stale from here) under the object's lock, then, after unlocking,
 * reclaim (free its block if @p off != 0 and put the slot on the free list)
 * so that a reused slot never inherits a held lock or an odd seq. */
void sharena__obj_kill(struct sharena__slot *s);
void sharena__obj_reclaim(sharena_arena *a, struct sharena__slot *s,
                          uint64_t off);

/* ---- allocator (alloc.c) ----------------------------------------------------
 * Callers hold the arena lock (sharena__arena_lock). Offsets are payload
 * offsets. */
int sharena__alloc_locked(sharena_arena *a, uint64_t size, uint32_t tag,
                          uint64_t *off);
void sharena__free_locked(sharena_arena *a, uint64_t off);
/* Convenience wrappers taking the arena lock themselves. */
int sharena__alloc(sharena_arena *a, uint64_t size, uint32_t tag,
                   uint64_t *off);
void sharena__free(sharena_arena *a, uint64_t off);
/* Rebuild the free lists from a walk of the heap (repair after a dead
 * owner). Returns 0 or SHARENA_ECORRUPT. Caller holds the arena lock. */
int sharena__alloc_rebuild(sharena_arena *a);
uint64_t sharena__alloc_check(const sharena_arena *a);
/* Lockers of this thread give up with SHARENA_ETIMEDOUT after this many ns
 * (0: wait as long as the owner lives). Used by fsck. */
void sharena__lock_deadline(int64_t ns_from_now);
void sharena__alloc_init(sharena_arena *a);
/* Walk every block of the heap (fsck, tests); stops at the first non-zero
 * return of @p fn. SHARENA_ECORRUPT if the chain is broken. */
int sharena__heap_walk(const sharena_arena *a,
                       int (*fn)(void *ctx, uint64_t off, uint64_t size,
                                 bool free, uint32_t tag),
                       void *ctx);
/* Free every allocated block tagged @p tag (a slot index) except those whose
 * payload offsets are in @p keep (sorted in place). Arena lock held. Returns
 * how many were freed. */
int sharena__sweep_tag_locked(sharena_arena *a, uint32_t tag, uint64_t *keep,
                              size_t nkeep);
/* Free every allocated block for which @p garbage says so (tag 0, the
 * handle table's chunks, included: the callback decides). */
int sharena__sweep_locked(sharena_arena *a,
                          bool (*garbage)(sharena_arena *a, uint64_t off,
                                          uint32_t tag, void *ctx),
                          void *ctx);
/* Zero memory of the mapping (punching holes for large runs). */
void sharena__zero(sharena_arena *a, void *p, uint64_t len);

/* ---- locks (lock.c) ---------------------------------------------------------
 * lock returns 0, or SHARENA_EOWNERDEAD when the previous owner died: the
 * caller now holds the lock and must repair before unlocking. Nested: when
 * this thread already holds @p word through sharena_lock(), returns 1 and the
 * caller must not unlock. */
int sharena__lock(const sharena_arena *a, uint32_t *word);
void sharena__unlock(const sharena_arena *a, uint32_t *word);
int sharena__arena_lock(sharena_arena *a);
void sharena__arena_unlock(sharena_arena *a);
uint32_t sharena__owner(const sharena_arena *a);
/* Owner liveness: false only when @p v names an owner known to be gone (a
 * LOCAL pid that no longer exists, a broker slot not live in this arena). */
bool sharena__owner_gone(const sharena_arena *a, uint32_t v);
/* /proc/PID/stat's state letter of @p pid ('Z' only when every thread has
 * exited), 0 when /proc cannot tell. */
int sharena__pid_state(pid_t pid);
/* Is lock value @p v held by an owner that lives: not marked owner-died,
 * not gone, and for a LOCAL owner a process that maps this arena (a
 * scribbled word naming some unrelated live pid is not an owner)? Answers
 * about pids are kept in @p c, so a scan over many words reads each
 * process's /proc/PID/maps once. For maintenance scans (fsck, salvage),
 * not for lockers. */
struct sharena__owner_cache {
    pid_t pid[8];
    bool maps[8];
    unsigned n;
};
bool sharena__owner_live(const sharena_arena *a, uint32_t v,
                         struct sharena__owner_cache *c);
/* No-wait mode for this thread (returns the previous setting): a lock that
 * a live owner holds fails with SHARENA_EBUSY instead of waiting. */
bool sharena__lock_nowait(bool on);
/* Give lock @p w (held by this thread) back marked owner-died, in the name
 * of the dead @p owner, so that its next locker repairs what this thread
 * could not finish. */
void sharena__unlock_died(const sharena_arena *a, uint32_t *w, uint32_t owner);
/* Forget this handle's cached handle-table chunks when fsck --repair (in
 * any process) has bumped the header's layout_epoch since (handle.c). */
void sharena__chunks_sync(sharena_arena *a);
/* Record a lock taken outside sharena__lock() as held by this thread. */
void sharena__held_push(const uint32_t *w);
/* Note when lock @p w was taken (sharena__lock() does; a lock taken by a
 * bare CAS must call it). */
void sharena__lock_stamp(const sharena_arena *a, uint32_t *w);
/* The word that records when lock @p w (the arena lock or an object's) was
 * last taken, in the header's lock_clock units. */
uint32_t *sharena__lock_since(const sharena_arena *a, uint32_t *w);
/* The lock clock now: CLOCK_MONOTONIC seconds + 1 (never 0). */
uint32_t sharena__clock_now(void);
/* getpid() cached per process (refreshed in fork children). */
pid_t sharena__getpid(void);

/* Lock an object slot for writing: resolves, locks, re-checks generation and
 * type after locking, repairs on EOWNERDEAD, and opens the seq (odd).
 * Returns 0 (or 1 when nested under the caller's own sharena_lock) with the
 * slot in *out. */
/* The save barrier (lock.c): raise it (writers then wait in write_begin;
 * returns once every write begun before is finished), and drop it. */
int sharena__barrier_raise(sharena_arena *a);
void sharena__barrier_drop(sharena_arena *a);
int sharena__write_begin(sharena_arena *a, sharena_id id, int type,
                         struct sharena__slot **out);
/* Close the seq (even) and wake waiters, keeping the lock. */
void sharena__write_finish(sharena_arena *a, struct sharena__slot *s);
/* Close the seq (even) and unlock unless @p nested. */
void sharena__write_end(sharena_arena *a, struct sharena__slot *s, int nested);

/* Seqlock read side. */
static inline uint32_t sharena__read_begin(const struct sharena__slot *s)
{
    return __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
}
static inline bool sharena__read_ok(const struct sharena__slot *s, uint32_t seq)
{
#if defined(__SANITIZE_THREAD__)
    /* TSan does not model fences; a seq_cst load orders the same on the
     * architectures we support */
    return !(seq & 1) && __atomic_load_n(&s->seq, __ATOMIC_SEQ_CST) == seq;
#else
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return !(seq & 1) && __atomic_load_n(&s->seq, __ATOMIC_RELAXED) == seq;
#endif
}
/* Bounded read retries before a writable handle falls back to the lock. */
#define SHARENA__READ_SPINS 64
/* Wait a little for a writer to finish (spin, then yield, then sleep 1 ms
 * at a time); returns false after ~1 s of attempts (readers outside
 * sharena__read, which give up with EBUSY then). */
bool sharena__read_backoff(unsigned attempt);

/* Attempts after which a reader on a writable handle reads under the
 * object's lock (sharena__read_retry), so that an object whose writer died
 * mid-write is repaired, and busy writers do not starve its readers. */
#define SHARENA__READ_SETTLE_AFTER 200

/* ---- the seqlock read: one loop for every lock-free reader ----------------
 * sharena__read() resolves @p id (of @p type, or any type when 0), opens the
 * read at an even seq, loads the slot's word once and hands it to @p fn,
 * which copies what the caller needs into @p ctx through validated views
 * (view.h) and returns a result (0 or a negative error, ECORRUPT included).
 * That result is returned only when seq and generation are confirmed
 * unchanged afterwards: whatever @p fn saw in a torn state (a table being
 * swapped, a block just freed) is retried, never reported, so ECORRUPT means
 * the inconsistency is in the stable object (docs/locking.md, "What a read
 * reports").
 * The loop is inline; sharena__read_retry decides between attempts: it
 * backs off, and a writable handle reads under the object's lock after
 * SHARENA__READ_SETTLE_AFTER attempts (repairing a dead writer's object on
 * the way), so live writers never starve it. A read gives up with EBUSY
 * only when the object stayed mid-write at the same sequence for
 * SHARENA__READ_STUCK_NS (a stopped writer, a scribbled word), or found no
 * consistent moment in SHARENA__READ_GIVEUP_NS.
 * @p fn runs possibly many times: it may write only to @p ctx (and the
 * caller's buffers, which the last confirmed attempt fills). Inlined, so a
 * constant @p fn is inlined too: the hot reads pay no call. */
typedef int (*sharena__read_fn)(const sharena_arena *a, uint64_t word,
                                void *ctx);
#define SHARENA__READ_STUCK_NS (1000ll * 1000 * 1000)
#define SHARENA__READ_GIVEUP_NS (2000ll * 1000 * 1000)
/* How long a read waits on a writer that is alive and not stopped (only
 * slow: preempted, or waiting for the arena lock), and the bound of a read
 * that cannot take the lock while writers keep going. */
#define SHARENA__READ_LIMIT_NS (10000ll * 1000 * 1000)
/* The retry state of one read (sharena__read_retry's; attempt 0: none). */
struct sharena__read_state {
    unsigned attempt, quiet, slow;
    uint32_t last;
    bool locked; /* this read holds the object's lock (unlock when done) */
    int64_t start, quiet_since;
    int64_t owner_ok_until; /* the writer was seen alive and not stopped */
};
/* After a failed attempt at @p seq on slot @p s: wait, or take the
 * object's lock for the next attempt; SHARENA_EBUSY when the read gives up
 * (nothing held then). Out of line: @p fn is never passed as a pointer, so
 * it stays inlined into its one caller. */
int sharena__read_retry(const sharena_arena *a, struct sharena__slot *s,
                        uint32_t seq, struct sharena__read_state *st);
/* Release the lock a read took (st->locked). */
void sharena__read_unlock(const sharena_arena *a, struct sharena__slot *s,
                          struct sharena__read_state *st);
SHARENA__SEQLOCK_READER __attribute__((always_inline)) static inline int
sharena__read(const sharena_arena *a, sharena_id id, int type,
              sharena__read_fn fn, void *ctx)
{
    struct sharena__read_state st;
    st.attempt = 0;
    st.locked = false;
    st.owner_ok_until = 0;
    for (;;) {
        struct sharena__slot *s;
        int r = sharena__resolve(a, id, type, &s);
        if (SHARENA__UNLIKELY(r < 0)) {
            if (SHARENA__UNLIKELY(st.locked))
                sharena__read_unlock(a, NULL, &st);
            return r;
        }
        uint32_t seq = sharena__read_begin(s);
        if (SHARENA__LIKELY(!(seq & 1))) {
            r = fn(a, SHARENA__LD(s->word), ctx);
            if (SHARENA__LIKELY(sharena__read_ok(s, seq) &&
                                __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) ==
                                    sharena__id_gen(id))) {
                if (SHARENA__UNLIKELY(st.locked))
                    sharena__read_unlock(a, s, &st);
                return r;
            }
        }
        r = sharena__read_retry(a, s, seq, &st);
        if (SHARENA__UNLIKELY(r < 0))
            return r;
    }
}

/* For the few reads outside the seqlock (bytes, zero-copy; blocks that
 * never move): did the object's generation move since @p id resolved to
 * @p s (it was dropped), after everything this thread loaded before? Then
 * whatever was read (or found inconsistent) belonged to the drop racing the
 * read: the answer is ESTALE, not the data and not ECORRUPT. */
static inline bool sharena__gen_moved(const struct sharena__slot *s,
                                      sharena_id id)
{
#if defined(__SANITIZE_THREAD__)
    /* TSan does not model fences (as in sharena__read_ok) */
    return __atomic_load_n(&s->gen, __ATOMIC_SEQ_CST) != sharena__id_gen(id);
#else
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return __atomic_load_n(&s->gen, __ATOMIC_RELAXED) != sharena__id_gen(id);
#endif
}
static inline int sharena__corrupt_or_stale(const struct sharena__slot *s,
                                            sharena_id id)
{
    return sharena__gen_moved(s, id) ? SHARENA_ESTALE : SHARENA_ECORRUPT;
}

/* Repair hook for an object whose writer died (repair.c). */
int sharena__repair(sharena_arena *a, struct sharena__slot *s);

/* ---- containers -------------------------------------------------------------
 */
uint64_t sharena__hash(const sharena_arena *a, const char *key, size_t len);
/* Drop the object in slot @p s (already resolved) and, per flags, children. */
int sharena__drop_ref(sharena_arena *a, uint64_t ref, unsigned flags);
int sharena__map_repair(sharena_arena *a, struct sharena__slot *s);
int sharena__vector_repair(sharena_arena *a, struct sharena__slot *s);

/* A number's f64 bits, as slot words, map entries and vector items hold
 * them, and back. */
static inline uint64_t sharena__d2u(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}
static inline double sharena__u2d(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* Map insertion modes (map.c), used by roots.c and build.c. @p v and *old
 * are struct sharena__mval (view.h): a ref or a value stored in the entry;
 * *old has kind V_REF and w[0] 0 when the key was absent. */
enum { SHARENA__PUT_SET, SHARENA__PUT_IF_ABSENT };
/* A map entry's value: a ref (SHARENA__V_REF: w[0] = id | OWNED) or a
 * number, boolean, null or short string stored in the entry (layout.h). */
struct sharena__mval {
    uint8_t kind; /* SHARENA__V_* */
    uint8_t len;  /* V_STRING: bytes in w */
    uint64_t w[2];
};
int sharena__map_put(sharena_arena *a, sharena_id map, const char *key,
                     size_t klen, const struct sharena__mval *v, int mode,
                     struct sharena__mval *old);
/* The value at @p key as stored (a ref, or a value in the entry), from one
 * consistent read, without giving an in-place value an id. */
int sharena__map_lookup(const sharena_arena *a, sharena_id map, const char *key,
                        size_t klen, struct sharena__mval *v);
/* Entry number @p cursor of a map: its key (copied into @p key, NUL-ended;
 * SHARENA_ERANGE with *klen set when it does not fit) and its value as
 * stored, from one consistent read (map.c). */
int sharena__map_next_stored(const sharena_arena *a, sharena_id map,
                             uint64_t cursor, char *key, size_t kcap,
                             size_t *klen, struct sharena__mval *v);
/* A new object holding @p v, a value stored in an entry (map.c). */
int sharena__mval_object(sharena_arena *a, const struct sharena__mval *v,
                         sharena_id *id);
/* A value stored in a container, as a typed read gives it (value.c). */
int sharena__mval_read(const struct sharena__mval *v, char *buf, size_t cap,
                       sharena_value *out);
/* cur + delta when exact and within +-2^53 (number.c). */
int sharena__add_exact(double cur, double delta, double *sum);
int sharena__map_init_block(sharena_arena *a, uint64_t cap, uint32_t tag,
                            uint64_t *off);
/* The value builder's linking steps (build.c): a map entry taken out
 * without dropping it (map.c), and a vector range replaced in one write
 * (vector.c). */
int sharena__map_take(sharena_arena *a, sharena_id map, const char *key,
                      size_t klen, struct sharena__mval *old);
int sharena__vector_splice(sharena_arena *a, sharena_id vec, uint64_t start,
                           uint64_t count, uint64_t *refs, uint64_t n,
                           uint64_t **removed, uint64_t *nremoved);
/* Item @p index of a vector as stored (a ref, or a number in place: see
 * sharena__item_is_ref), from one consistent read; SHARENA_ERANGE past the
 * end (vector.c). */
int sharena__vector_item(const sharena_arena *a, sharena_id vec, uint64_t index,
                         uint64_t *item);

/* ---- crash-point hooks (tests) ------------------------------------------
 * Tests set sharena__hook to stop or kill a writer at a named step inside an
 * operation (docs/locking.md lists the steps). Costs one predictable branch. */
extern void (*sharena__hook)(const char *point);
#define SHARENA__HOOK(point)                                                   \
    do {                                                                       \
        if (SHARENA__UNLIKELY(sharena__hook != NULL))                          \
            sharena__hook(point);                                              \
    } while (0)

/* Rebuild the heap from the object graph (salvage.c). The caller holds the
 * arena lock word; *fixed counts what was changed. */
int sharena__salvage(sharena_arena *a, uint64_t *fixed);

/* Wake this handle's waiters and wait until they returned (wait.c). */
void sharena__wake_closing(sharena_arena *a);
/* Orphan this handle's notifiers: their fd turns readable and their next
 * arm() returns SHARENA_ECLOSED (notify.c; called by the above). */
void sharena__notify_closing(sharena_arena *a);

/* ---- misc -------------------------------------------------------------------
 */
int sharena__check_name(const char *name);
uint64_t sharena__now_ns(void);
/* Fill @p h with a fresh header for an arena of @p capacity bytes and
 * initialise the heap; used by sharena_arena_create and the broker. */
int sharena__arena_format(sharena_arena *a, const char *name);
/* Map @p fd as an arena handle (checks seals and header). */
int sharena__arena_map(int fd, unsigned flags, sharena_arena **out);
/* snapshot.c, for sharenad's saver: fill @p a, a new arena no one else
 * uses yet, from the image at @p fd's current offset (checked whole first,
 * then copied, then checked with fsck; capacities must match). 0, or the
 * errors of sharena_load(); sharena_snapshot_message() says more. */
int sharena__load_into(sharena_arena *a, int fd);
/* Called by sharena_arena_close() for arenas opened through a broker
 * connection (client.c defines it; a weak no-op stands in otherwise). */
void sharena__conn_arena_closed(sharena_conn *c, sharena_arena *a);
/* In a forked child, before its first lock on an arena that came from a
 * broker connection: get a client slot of its own and have the broker
 * attach it to the arena (sets a->owner and a->owner_pid; on failure the
 * child locks as LOCAL | pid). client.c; a weak no-op otherwise. */
void sharena__conn_reslot(sharena_arena *a);
/* Record why the broker closed a delegated connection, for this thread's
 * sharena_strerror(SHARENA_EDROPPED); returns SHARENA_EDROPPED. error.c */
int sharena__dropped(const char *reason);
/* Note (per thread) the format version of the arena this thread last
 * refused for it (0: none, or its last open passed that check): the text
 * of SHARENA_ELAYOUT then names both versions. Returns SHARENA_ELAYOUT. */
int sharena__layout_refused(uint32_t found);

#endif /* SHARENA_INTERNAL_H */
