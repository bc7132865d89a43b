/**
 * @file sharena.h
 * @brief sharena: a typed heap shared by unrelated processes on one Linux host.
 *
 * An *arena* is one sealed memfd of fixed capacity that every client maps.
 * Objects in it (strings, numbers, booleans, maps, vectors, structs, byte
 * buffers) are addressed by 53-bit *ids* that stay valid across processes and
 * languages. Writers take a futex lock word per object; readers use the
 * object's sequence counter and never block writers.
 *
 * Conventions (libuv style):
 * - every function returns 0 (or a non-negative count where documented) on
 *   success and a negative `SHARENA_E*` code on failure; most codes equal a
 *   negative errno, the sharena-specific ones are below -10000;
 * - `sharena_strerror()` and `sharena_errname()` describe a code;
 * - every function is safe to call from several threads on the same arena,
 *   and from several processes that map the same arena;
 * - nothing returned by a failed call is half-written: an operation that
 *   fails leaves the arena as it was.
 */
#ifndef SHARENA_H
#define SHARENA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SHARENA_EXPORT __attribute__((visibility("default")))
#else
#define SHARENA_EXPORT
#endif

/* Each flag set is an enum type of its own (sharena_open_flags,
 * sharena_insert_flags, ...), so that a flag of one set passed where
 * another is expected draws a warning (-Wenum-conversion: on by default in
 * clang, with -Wextra in gcc 10+). Combining flags with | gives an int,
 * which converts silently; in C++ the operators below keep the type. */
#ifdef __cplusplus
#define SHARENA__FLAG_OPS(T)                                                   \
    extern "C++" {                                                             \
    inline T operator|(T a, T b)                                               \
    {                                                                          \
        return static_cast<T>(static_cast<unsigned>(a) |                       \
                              static_cast<unsigned>(b));                       \
    }                                                                          \
    }
#else
#define SHARENA__FLAG_OPS(T)
#endif

#define SHARENA_VERSION_MAJOR 0
#define SHARENA_VERSION_MINOR 1
#define SHARENA_VERSION_PATCH 0
/* The release as text, "MAJOR.MINOR.PATCH". These three lines are the one
 * source of the version: CMake's project() and the Python package read
 * them, node/package.json repeats it (tests/install checks all agree). */
#define SHARENA__VSTR(x) #x
#define SHARENA__VXSTR(x) SHARENA__VSTR(x)
#define SHARENA_VERSION_STRING                                                 \
    SHARENA__VXSTR(SHARENA_VERSION_MAJOR)                                      \
    "." SHARENA__VXSTR(SHARENA_VERSION_MINOR) "." SHARENA__VXSTR(              \
        SHARENA_VERSION_PATCH)

/* ------------------------------------------------------------------------ */
/** @name Errors
 * One X-macro table: symbol, value, message. Values that mirror errno are
 * `-E*`; sharena's own start at -10001. @{ */

#define SHARENA_ERRNO_MAP(XX)                                                  \
    XX(EPERM, -1, "operation not permitted")                                   \
    XX(ENOENT, -2, "no such arena, root, key or object")                       \
    XX(EINTR, -4, "interrupted")                                               \
    XX(EIO, -5, "input/output error")                                          \
    XX(EBADF, -9, "bad file descriptor")                                       \
    XX(EAGAIN, -11, "resource temporarily unavailable; try again")             \
    XX(ENOMEM, -12, "out of process memory")                                   \
    XX(EACCES, -13, "permission denied")                                       \
    XX(EBUSY, -16, "object busy: a writer kept it inconsistent too long")      \
    XX(EEXIST, -17, "already exists")                                          \
    XX(EINVAL, -22, "invalid argument")                                        \
    XX(ENOSPC, -28, "no space left (limit reached)")                           \
    XX(EROFS, -30, "arena is mapped read-only")                                \
    XX(ERANGE, -34, "index or size out of range")                              \
    XX(EDEADLK, -35, "this thread already holds that lock")                    \
    XX(ENAMETOOLONG, -36, "name too long (1..128 bytes)")                      \
    XX(ENOSYS, -38, "not supported by this kernel or sandbox")                 \
    XX(EPROTO, -71, "protocol error")                                          \
    XX(EOVERFLOW, -75, "value does not fit")                                   \
    XX(EILSEQ, -84, "invalid UTF-8")                                           \
    XX(ECONNREFUSED, -111, "no broker is listening on that socket")            \
    XX(ETIMEDOUT, -110, "timed out")                                           \
    XX(ESTALE, -116, "use after free: the object was dropped")                 \
    XX(ETYPE, -10001, "wrong type for this operation")                         \
    XX(EFULL, -10002, "arena is full")                                         \
    XX(ECORRUPT, -10003, "arena data is corrupt")                              \
    XX(ELAYOUT, -10004,                                                        \
       "arena was made by a build with another format version or layout")      \
    XX(EOWNERDEAD, -10005, "lock owner died; the object was repaired")         \
    XX(EUNSEALED, -10006, "arena fd is not sealed against resizing")           \
    XX(ECLOSED, -10007, "arena or connection is closed")                       \
    XX(EDROPPED, -10008, "the broker closed this delegated connection")

enum sharena_errno {
#define SHARENA__ERR_ENUM(name, value, msg) SHARENA_##name = (value),
    SHARENA_ERRNO_MAP(SHARENA__ERR_ENUM)
#undef SHARENA__ERR_ENUM
};

/** A human-readable message for @p err (never NULL). After this thread's
 * last sharena_connect() failed with SHARENA_EPROTO because the broker
 * speaks another protocol version, the message for SHARENA_EPROTO names
 * both versions (until the thread's next connect). After this thread's
 * last arena open failed with SHARENA_ELAYOUT because the arena has
 * another format version, the message for SHARENA_ELAYOUT names both
 * versions (until the thread's next open). For SHARENA_EDROPPED it
 * is the message of the last such error this thread got, with the reason:
 * "the broker closed this delegated connection: <reason>" (valid until
 * this thread's next sharena call).
 * Errors: none (a code not in the table gets a generic text).
 */
SHARENA_EXPORT const char *sharena_strerror(int err);
/** The symbolic name of @p err without prefix, e.g. "ESTALE" (never NULL;
 * "EUNKNOWN" for a code not in the table).
 * Errors: none.
 */
SHARENA_EXPORT const char *sharena_errname(int err);
/** What a caller can do about @p err, one short sentence for a human
 * (never NULL; e.g. for SHARENA_EFULL "nothing was written; drop objects
 * you no longer need, or create the arena with a larger capacity"). Every
 * code of SHARENA_ERRNO_MAP has one; the bindings append it to their error
 * messages, so C, Node and Python give the same advice. A code not in the
 * table gets a generic text.
 * Errors: none.
 */
SHARENA_EXPORT const char *sharena_strerror_hint(int err);
/** @} */

/* ------------------------------------------------------------------------ */
/** @name Ids and types @{ */

/** An object id: slot index (low 32 bits) and generation (next 21 bits).
 * 0 is never a valid id. Ids fit in 53 bits so JavaScript numbers hold them. */
typedef uint64_t sharena_id;

#define SHARENA_ID_MAX ((UINT64_C(1) << 53) - 1)

typedef enum sharena_type {
    SHARENA_T_NONE = 0,
    SHARENA_T_STRING = 1, /**< UTF-8 text, length-prefixed */
    SHARENA_T_NUMBER = 2, /**< IEEE-754 double, atomic */
    SHARENA_T_BOOL = 3,
    SHARENA_T_MAP = 4,    /**< string key -> id */
    SHARENA_T_VECTOR = 5, /**< ordered ids */
    SHARENA_T_STRUCT = 6, /**< fixed fields described by a shape */
    SHARENA_T_BYTES = 7,  /**< fixed-size raw buffer, zero-copy */
    SHARENA_T_SHAPE = 8,  /**< a struct's shape descriptor */
    SHARENA_T_NULL = 9,   /**< null (Python None, JS null, JSON null) */
    SHARENA_T__COUNT
} sharena_type;

/** Name of a type ("string", "map", ...; "none" for invalid).
 * Errors: none ("none" for a value that is no type).
 */
SHARENA_EXPORT const char *sharena_type_name(sharena_type type);

/** Flags for container insertions (map set, vector push/set/insert,
 * root set). */
typedef enum sharena_insert_flags {
    /** The container owns the value: removing or overwriting the entry, or
     * dropping the container, drops the value too. Without it the value
     * stays the caller's. */
    SHARENA_OWNED = 1u << 0,
} sharena_insert_flags;
SHARENA__FLAG_OPS(sharena_insert_flags)

/** Flags for sharena_drop(). */
typedef enum sharena_drop_flags {
    /** Also drop children the container does not own (everything
     * reachable). Without it only owned children are dropped. */
    SHARENA_DROP_RECURSIVE = 1u << 0,
} sharena_drop_flags;
SHARENA__FLAG_OPS(sharena_drop_flags)
/** @} */

/* ------------------------------------------------------------------------ */
/** @name Arenas
 * An arena handle is process-local; the memory behind it is shared. @{ */

typedef struct sharena_arena sharena_arena;
typedef struct sharena_conn sharena_conn;

/** Default capacity of a new arena: 64 MiB (sparse: pages cost memory only
 * once touched). */
#define SHARENA_DEFAULT_CAPACITY (UINT64_C(64) << 20)
/** Smallest capacity accepted. */
#define SHARENA_MIN_CAPACITY (UINT64_C(256) << 10)
/** Largest capacity accepted: 1 TiB. */
#define SHARENA_MAX_CAPACITY (UINT64_C(1) << 40)
/** Longest arena or root name in bytes (names are `[A-Za-z0-9._-]+`). */
#define SHARENA_NAME_MAX 128

/** Flags for opening arenas (sharena_open(), sharena_arena_from_fd(),
 * sharena_delegate()). */
typedef enum sharena_open_flags {
    SHARENA_CREATE = 1u << 0,   /**< create if missing (broker open) */
    SHARENA_EXCL = 1u << 1,     /**< with CREATE: fail with EEXIST if present */
    SHARENA_READONLY = 1u << 2, /**< map read-only; every write returns EROFS */
} sharena_open_flags;
SHARENA__FLAG_OPS(sharena_open_flags)

/**
 * Create a new arena in this process: a sealed memfd of @p capacity bytes
 * (0 = default), initialised with an empty heap and root directory.
 *
 * The arena needs no broker. It can be shared with children (fork) or with
 * other processes by passing sharena_arena_fd() over a Unix socket.
 *
 * @return 0, SHARENA_EINVAL (bad name or capacity), SHARENA_ENOMEM, or a
 *         negative errno from memfd_create/ftruncate/mmap.
 */
SHARENA_EXPORT int sharena_arena_create(const char *name, uint64_t capacity,
                                        sharena_arena **out);

/**
 * Map an arena from a memfd another process created. The fd is duplicated
 * (CLOEXEC); the caller keeps ownership of @p fd.
 *
 * Checks before mapping: the fd is sealed against shrinking and growing
 * (else SHARENA_EUNSEALED), its size is a valid capacity; after mapping: the
 * magic, the format version and the layout hash (else SHARENA_ELAYOUT), and
 * the header's internal consistency (else SHARENA_ECORRUPT).
 *
 * @param flags SHARENA_READONLY maps it PROT_READ (required for an fd opened
 *              O_RDONLY; detected automatically).
 */
SHARENA_EXPORT int sharena_arena_from_fd(int fd, sharena_open_flags flags,
                                         sharena_arena **out);

/** Unmap the arena and free the handle. Ids stay valid for other handles
 * and processes. NULL is accepted. Not safe while other threads still use
 * the same handle.
 * Errors: none; cancels the handle's waits first
 *         (sharena_arena_cancel_waits()).
 */
SHARENA_EXPORT void sharena_arena_close(sharena_arena *a);

/** The memfd behind the arena (owned by the handle; dup it to keep it).
 * @return the fd (>= 0), or SHARENA_EINVAL for NULL.
 */
SHARENA_EXPORT int sharena_arena_fd(const sharena_arena *a);

/** The arena's name as stored in its header.
 * @return "" for NULL.
 */
SHARENA_EXPORT const char *sharena_arena_name(const sharena_arena *a);

/** True when this handle maps the arena read-only.
 * @return false for NULL.
 */
SHARENA_EXPORT bool sharena_arena_readonly(const sharena_arena *a);

/** Base address of this process's mapping (for zero-copy bindings).
 * @return NULL for NULL.
 */
SHARENA_EXPORT void *sharena_arena_base(const sharena_arena *a);

typedef struct sharena_arena_info {
    char name[SHARENA_NAME_MAX + 1];
    uint32_t format_version;
    uint64_t layout_hash;
    uint64_t capacity;   /**< bytes mapped */
    uint64_t heap_bytes; /**< bytes available to objects at creation */
    uint64_t used_bytes; /**< bytes in allocated blocks, headers included */
    uint64_t objects;    /**< live objects (roots directory included) */
    uint64_t created_ns; /**< CLOCK_REALTIME at creation */
    uint64_t changes;    /**< arena-wide change counter */
    bool readonly;
    /** Room for fields of later releases without changing the struct's
     * size (the ABI): zeroed by this release. */
    uint64_t reserved[8];
} sharena_arena_info;

/** Fill @p out with a snapshot of the arena's header counters.
 * @return 0, SHARENA_EINVAL (NULL).
 */
SHARENA_EXPORT int sharena_arena_info_get(const sharena_arena *a,
                                          sharena_arena_info *out);

/** Layout hash of this build (what sharena_arena_from_fd() compares).
 * Errors: none.
 */
SHARENA_EXPORT uint64_t sharena_layout_hash(void);
/** The release of the library actually loaded, "MAJOR.MINOR.PATCH" (the
 * SHARENA_VERSION_STRING it was built with; sharenad --version and
 * sharena --version print the same). Not sharena_change_count(), which
 * counts an object's writes.
 * Errors: none.
 */
SHARENA_EXPORT const char *sharena_library_version(void);
/** The broker wire-protocol version this library speaks (docs/protocol.md;
 * sharenad --version prints the broker's).
 * Errors: none.
 */
SHARENA_EXPORT int sharena_protocol_version(void);
/** @} */

/* ------------------------------------------------------------------------ */
/** @name Objects: generic @{ */

/** Type of the object @p id: SHARENA_T_* (> 0), or a negative error
 * (SHARENA_ESTALE after drop, SHARENA_ENOENT for an id never issued).
 * @return the type (> 0), SHARENA_EINVAL, SHARENA_ECLOSED,
 *         SHARENA_ENOENT, SHARENA_ESTALE, SHARENA_ECORRUPT.
 */
SHARENA_EXPORT int sharena_type_of(const sharena_arena *a, sharena_id id);

/**
 * Drop an object: its memory is freed and every id of it fails with
 * SHARENA_ESTALE from then on, in every process. Containers and structs also
 * drop the children they own (with SHARENA_DROP_RECURSIVE: every child).
 * @return 0, SHARENA_ESTALE, SHARENA_EROFS, SHARENA_EINVAL (the roots
 *         directory cannot be dropped).
 */
SHARENA_EXPORT int sharena_drop(sharena_arena *a, sharena_id id,
                                sharena_drop_flags flags);

/**
 * The object's change count: its sequence counter, which grows by 2 with
 * each completed write (even when no write is in progress, odd during one).
 * What sharena_wait() takes and returns. Any thread, read-only handles too.
 * @return 0, SHARENA_ESTALE (dropped), SHARENA_ENOENT (never issued),
 *         SHARENA_ECORRUPT, SHARENA_ECLOSED, SHARENA_EINVAL (NULL).
 */
SHARENA_EXPORT int sharena_change_count(const sharena_arena *a, sharena_id id,
                                        uint64_t *count);
/** Version of the fast-read interface below (sharena_fastread). */
#define SHARENA_FASTREAD_VERSION 1

/**
 * What a binding may read of an object without calling the library
 * (docs/api-c.md, "Fast reads"): the offsets, in this process's mapping
 * (sharena_arena_base()), of two 32-bit words, and their values when the
 * object was resolved. A value read through the library after
 * sharena_fastread_get() is still the object's value as long as, loaded
 * with acquire (or stronger) ordering in this order, the word at
 * @c epoch_off equals @c epoch and the word at @c counter_off equals
 * @c counter (or the counter first, with acquire ordering, then the epoch
 * with any load after it: docs/api-c.md): every write of the object, and
 * its drop, moves the counter;
 * a repair that moves the handle table moves the epoch. An odd @c counter
 * means a write was in progress: do not cache. Nothing else of the arena
 * may be read, and nothing may ever be written, through these offsets. The
 * counter is 32 bits: a cache is wrong only if exactly a multiple of 2^31
 * writes happen between two of its reads. A peer that writes the mapping
 * without the lock can make a cache return an older value of the right
 * type, never something else.
 */
typedef struct sharena_fastread {
    uint32_t version;   /**< SHARENA_FASTREAD_VERSION */
    uint32_t epoch;     /**< the word at epoch_off, loaded first */
    uint32_t counter;   /**< the word at counter_off, loaded after epoch */
    int32_t type;       /**< the object's sharena_type */
    uint64_t epoch_off; /**< offset of the arena's layout epoch (4-aligned) */
    uint64_t
        counter_off; /**< offset of the object's change counter (4-aligned) */
} sharena_fastread;

/**
 * Resolve @p id for fast reads (sharena_fastread). Any thread, read-only
 * handles too; changes nothing.
 * @return 0, SHARENA_ESTALE (dropped), SHARENA_ENOENT (never issued),
 *         SHARENA_ECORRUPT, SHARENA_ECLOSED, SHARENA_EINVAL (NULL, id 0).
 */
SHARENA_EXPORT int sharena_fastread_get(const sharena_arena *a, sharena_id id,
                                        sharena_fastread *out);
/** Deprecated: the old name of sharena_change_count() (not the library's
 * release: that is sharena_library_version()). Kept for existing callers;
 * same function, same errors. */
#if defined(__GNUC__)
__attribute__((deprecated("renamed sharena_change_count()")))
#endif
SHARENA_EXPORT int
sharena_version(const sharena_arena *a, sharena_id id, uint64_t *version);

/**
 * Take the object's lock for a multi-step update. Operations on the same
 * object by the same thread proceed while it is held; other threads and
 * processes wait. Taking it twice from one thread returns SHARENA_EDEADLK
 * (sharena_lock_nested() counts a level instead). Readers are never
 * blocked.
 * @return 0, SHARENA_EDEADLK (this thread holds it), SHARENA_ENOSPC
 *         (this thread holds too many locks), SHARENA_EROFS (read-only
 *         handle), SHARENA_EINVAL (NULL, or id 0 or past SHARENA_ID_MAX),
 *         SHARENA_ECLOSED, SHARENA_ENOENT (id never issued), SHARENA_ESTALE
 *         (dropped), SHARENA_ECORRUPT (also: a dead owner's object that
 *         could not be repaired).
 */
SHARENA_EXPORT int sharena_lock(sharena_arena *a, sharena_id id);
/**
 * sharena_lock() that waits at most @p timeout_ns nanoseconds (0: only
 * takes a free lock, or a dead owner's; negative: as long as the owner
 * lives, like sharena_lock()). SHARENA_ETIMEDOUT when the lock was not
 * taken; nothing is then held or changed. For callers that wait in slices
 * to stay interruptible (signals, a close from another thread); the wait
 * is in steps of about 20 ms, so a slice shorter than that still waits
 * about that long.
 */
SHARENA_EXPORT int sharena_lock_timeout(sharena_arena *a, sharena_id id,
                                        int64_t timeout_ns);
/**
 * Take the object's lock, or, when this thread holds it already (through
 * this handle), count one more level of it: the depth-counted lock that a
 * nested `with view.locked()` (Python) is. Each successful call is
 * matched by one sharena_unlock(); the lock goes when the outermost one
 * does. This is the one deadlock rule of every binding: sharena_lock() and
 * sharena_lock_timeout() of a held lock return SHARENA_EDEADLK, this call
 * nests. @p timeout_ns as sharena_lock_timeout() (negative: wait as long
 * as the owner lives) for a lock not held yet.
 * @return 0, SHARENA_EOVERFLOW (2^32 levels), and the errors of
 *         sharena_lock_timeout() except SHARENA_EDEADLK.
 */
SHARENA_EXPORT int sharena_lock_nested(sharena_arena *a, sharena_id id,
                                       int64_t timeout_ns);
/** Release a lock taken with sharena_lock(), or one level of a lock taken
 * again with sharena_lock_nested(). SHARENA_EPERM if this thread
 * does not hold it.
 * @return 0, SHARENA_EPERM (not held by this thread: also for an id
 *         that names no slot), SHARENA_EINVAL (NULL).
 */
SHARENA_EXPORT int sharena_unlock(sharena_arena *a, sharena_id id);
/** @} */

/* ------------------------------------------------------------------------ */
/** @name Strings (UTF-8, validated on write) @{ */

/** Create a string from @p len bytes of UTF-8 (SHARENA_EILSEQ if invalid).
 * @return 0, SHARENA_EILSEQ (invalid UTF-8), SHARENA_EINVAL,
 *         SHARENA_EROFS, SHARENA_ECLOSED, SHARENA_EFULL (nothing allocated),
 *         SHARENA_ECORRUPT.
 */
SHARENA_EXPORT int sharena_string_new(sharena_arena *a, const char *s,
                                      size_t len, sharena_id *out);
/**
 * Copy the string into @p buf (NUL-terminated when it fits with room for the
 * NUL). *len receives the byte length. When @p cap is too small returns
 * SHARENA_ERANGE with *len set, and @p buf is unspecified.
 * @return 0, SHARENA_ERANGE (@p cap too small; *len set),
 *         SHARENA_EINVAL (NULL, or id 0 or past SHARENA_ID_MAX),
 *         SHARENA_ECLOSED, SHARENA_ENOENT (id never issued), SHARENA_ESTALE
 *         (dropped), SHARENA_ETYPE, SHARENA_ECORRUPT, SHARENA_EBUSY (a
 *         writer stopped mid-write).
 */
SHARENA_EXPORT int sharena_string_get(const sharena_arena *a, sharena_id id,
                                      char *buf, size_t cap, size_t *len);
/** Copy the string into a malloc'd, NUL-terminated buffer (*out; free()).
 * @return 0, SHARENA_EINVAL (NULL, or id 0 or past SHARENA_ID_MAX),
 *         SHARENA_ECLOSED, SHARENA_ENOENT (id never issued), SHARENA_ESTALE
 *         (dropped), SHARENA_ETYPE, SHARENA_ECORRUPT, SHARENA_EBUSY (a
 *         writer stopped mid-write), SHARENA_ENOMEM (malloc).
 */
SHARENA_EXPORT int sharena_string_dup(const sharena_arena *a, sharena_id id,
                                      char **out, size_t *len);
/** Replace the string's text; the id stays the same.
 * @return 0, SHARENA_EINVAL (NULL, or id 0 or past SHARENA_ID_MAX),
 *         SHARENA_ECLOSED, SHARENA_ENOENT (id never issued), SHARENA_ESTALE
 *         (dropped), SHARENA_ETYPE, SHARENA_ECORRUPT, SHARENA_EROFS,
 *         SHARENA_EILSEQ (invalid UTF-8), SHARENA_EFULL (the old text
 *         stays).
 */
SHARENA_EXPORT int sharena_string_set(sharena_arena *a, sharena_id id,
                                      const char *s, size_t len);
/** Byte length of the string.
 * @return 0, SHARENA_EINVAL (NULL, or id 0 or past SHARENA_ID_MAX),
 *         SHARENA_ECLOSED, SHARENA_ENOENT (id never issued), SHARENA_ESTALE
 *         (dropped), SHARENA_ETYPE, SHARENA_ECORRUPT, SHARENA_EBUSY (a
 *         writer stopped mid-write).
 */
SHARENA_EXPORT int sharena_string_len(const sharena_arena *a, sharena_id id,
                                      size_t *len);
/** @} */

/* ------------------------------------------------------------------------ */
/** @name Numbers and booleans (lock-free, atomic) @{ */

/** Create a number (an IEEE-754 f64, stored bit for bit: -0 and NaN
 * payloads survive). @return 0, SHARENA_EFULL (nothing allocated),
 * SHARENA_EROFS, SHARENA_ECLOSED, SHARENA_EINVAL. */
SHARENA_EXPORT int sharena_number_new(sharena_arena *a, double v,
                                      sharena_id *out);
/** Read a number with one atomic load (no lock; read-only handles too).
 * @return 0, SHARENA_ESTALE (dropped), SHARENA_ETYPE, SHARENA_EINVAL. */
SHARENA_EXPORT int sharena_number_get(const sharena_arena *a, sharena_id id,
                                      double *out);
/** Replace a number's value (one atomic store under the object's lock, so
 * that its version advances and waiters wake). @return 0, SHARENA_ESTALE,
 * SHARENA_ETYPE, SHARENA_EROFS, SHARENA_EINVAL. */
SHARENA_EXPORT int sharena_number_set(sharena_arena *a, sharena_id id,
                                      double v);
/** Atomically add @p delta; *result (may be NULL) receives the new value.
 * @return 0, SHARENA_EINVAL (NULL, or id 0 or past SHARENA_ID_MAX),
 *         SHARENA_ECLOSED, SHARENA_ENOENT (id never issued), SHARENA_ESTALE
 *         (dropped), SHARENA_ETYPE, SHARENA_ECORRUPT, SHARENA_EROFS.
 */
SHARENA_EXPORT int sharena_number_add(sharena_arena *a, sharena_id id,
                                      double delta, double *result);
/** sharena_number_add() for counting: the sum must be exact (nothing lost
 * to rounding) and within +-2^53, the range where a double counts every
 * integer; else SHARENA_EOVERFLOW, nothing changes and *result (may be
 * NULL) receives the value found. An infinite or NaN operand is added as
 * by sharena_number_add(). Checked and added in one step under the
 * object's lock. What the bindings' add() of an integer uses. */
SHARENA_EXPORT int sharena_number_add_exact(sharena_arena *a, sharena_id id,
                                            double delta, double *result);
/**
 * Atomically replace the value with @p desired if it equals @p expected
 * (bitwise comparison, so NaN compares equal to the same NaN and -0 differs
 * from +0). *swapped tells whether it did; *actual (may be NULL) receives the
 * value found.
 * @return 0 (whether or not it swapped), SHARENA_EINVAL (NULL, or id
 *         0 or past SHARENA_ID_MAX), SHARENA_ECLOSED, SHARENA_ENOENT (id
 *         never issued), SHARENA_ESTALE (dropped), SHARENA_ETYPE,
 *         SHARENA_ECORRUPT, SHARENA_EROFS.
 */
SHARENA_EXPORT int sharena_number_cas(sharena_arena *a, sharena_id id,
                                      double expected, double desired,
                                      bool *swapped, double *actual);

/** Create a boolean. Errors as sharena_number_new(). */
SHARENA_EXPORT int sharena_bool_new(sharena_arena *a, bool v, sharena_id *out);
/** Create a null: the value Python's None, JavaScript's null and JSON's
 * null stand for. Like a number it is an object with an id and no block
 * (one handle slot), so it goes wherever an id goes: a map value, a vector
 * item, a root; sharena_value_read() and sharena_type_of() report
 * SHARENA_T_NULL. It has no value to read or set; drop it like any object.
 * @return 0, SHARENA_EFULL (nothing allocated), SHARENA_EROFS,
 *         SHARENA_ECLOSED, SHARENA_EINVAL (NULL), SHARENA_ECORRUPT. */
SHARENA_EXPORT int sharena_null_new(sharena_arena *a, sharena_id *out);
/** Read a boolean (one atomic load; any stored word but 0 reads as true).
 * Errors as sharena_number_get(). */
SHARENA_EXPORT int sharena_bool_get(const sharena_arena *a, sharena_id id,
                                    bool *out);
/** Replace a boolean's value. Errors as sharena_number_set(). */
SHARENA_EXPORT int sharena_bool_set(sharena_arena *a, sharena_id id, bool v);
/** @} */

/* ------------------------------------------------------------------------ */
/** @name Byte buffers (fixed size, zero-copy) @{ */

/** Create a zero-filled buffer of @p size bytes (0 allowed).
 * @return 0, SHARENA_EINVAL, SHARENA_EROFS, SHARENA_ECLOSED,
 *         SHARENA_EFULL (nothing allocated; also for a @p size past the
 *         arena's capacity), SHARENA_ECORRUPT.
 */
SHARENA_EXPORT int sharena_bytes_new(sharena_arena *a, uint64_t size,
                                     sharena_id *out);
/**
 * Address and size of the buffer in this process's mapping, for zero-copy
 * use. The pointer stays valid until the arena handle is closed; after
 * sharena_drop() it points at freed arena memory (reads return garbage,
 * writes corrupt whatever reuses it), so drop only when no view is in use.
 * On a read-only handle the memory is mapped PROT_READ.
 * @return 0, SHARENA_EINVAL (NULL, or id 0 or past SHARENA_ID_MAX),
 *         SHARENA_ECLOSED, SHARENA_ENOENT (id never issued), SHARENA_ESTALE
 *         (dropped), SHARENA_ETYPE, SHARENA_ECORRUPT.
 */
SHARENA_EXPORT int sharena_bytes_ptr(const sharena_arena *a, sharena_id id,
                                     void **ptr, uint64_t *size);
/** Copy @p len bytes at @p offset out of the buffer (bounds-checked).
 * @return 0, SHARENA_ERANGE (past the end), SHARENA_EINVAL (NULL, or
 *         id 0 or past SHARENA_ID_MAX), SHARENA_ECLOSED, SHARENA_ENOENT (id
 *         never issued), SHARENA_ESTALE (dropped), SHARENA_ETYPE,
 *         SHARENA_ECORRUPT.
 */
SHARENA_EXPORT int sharena_bytes_read(const sharena_arena *a, sharena_id id,
                                      uint64_t offset, void *dst, size_t len);
/** Copy @p len bytes into the buffer at @p offset (bounds-checked).
 * @return 0, SHARENA_ERANGE (past the end), SHARENA_EINVAL (NULL, or
 *         id 0 or past SHARENA_ID_MAX), SHARENA_ECLOSED, SHARENA_ENOENT (id
 *         never issued), SHARENA_ESTALE (dropped), SHARENA_ETYPE,
 *         SHARENA_ECORRUPT, SHARENA_EROFS.
 */
SHARENA_EXPORT int sharena_bytes_write(sharena_arena *a, sharena_id id,
                                       uint64_t offset, const void *src,
                                       size_t len);
/** @} */

/* ------------------------------------------------------------------------ */
/** @name Maps: UTF-8 string key -> id @{ */

/** Create an empty map.
 * @return 0, SHARENA_EINVAL, SHARENA_EROFS, SHARENA_ECLOSED,
 *         SHARENA_EFULL (nothing allocated), SHARENA_ECORRUPT.
 */

SHARENA_EXPORT int sharena_map_new(sharena_arena *a, sharena_id *out);
/**
 * Set @p key to @p value. With SHARENA_OWNED the map owns @p value. A
 * previous value the map owned is dropped; *old (may be NULL) receives the
 * previous id when it was not owned (else 0).
 * @return 0, SHARENA_EINVAL (NULL, or id 0 or past SHARENA_ID_MAX),
 *         SHARENA_ECLOSED, SHARENA_ENOENT (id never issued), SHARENA_ESTALE
 *         (dropped), SHARENA_ETYPE, SHARENA_ECORRUPT, SHARENA_EROFS (for @p
 *         map); for @p value: SHARENA_ENOENT, SHARENA_ESTALE, SHARENA_EINVAL
 *         (0, or the container itself); SHARENA_EILSEQ (key not UTF-8),
 *         SHARENA_ERANGE (key over 4 GiB), SHARENA_EFULL (the map is as it
 *         was).
 */
SHARENA_EXPORT int sharena_map_set(sharena_arena *a, sharena_id map,
                                   const char *key, size_t klen,
                                   sharena_id value, sharena_insert_flags flags,
                                   sharena_id *old);
/** Look @p key up: 0 and *value, or SHARENA_ENOENT.
 * A number, boolean, null or short string that the map stores in its entry
 * (sharena_map_set_number() and its siblings; docs/format.md) has no id
 * until one is asked for: with @p value non-NULL it becomes an object the
 * map owns, under the map's lock, and that id stays valid until the key is
 * set again or removed. This is a write: on a read-only handle it fails
 * with SHARENA_EROFS; read such values with sharena_map_get_value() or
 * sharena_map_next_value(), which never give out ids. With @p value NULL
 * nothing is written (a membership test).
 * @return 0, SHARENA_ENOENT (no such key; a key that is not UTF-8 is
 *         none), SHARENA_EINVAL (NULL, or id 0 or past SHARENA_ID_MAX),
 *         SHARENA_ECLOSED, SHARENA_ENOENT (id never issued), SHARENA_ESTALE
 *         (dropped), SHARENA_ETYPE, SHARENA_ECORRUPT, SHARENA_EBUSY (a
 *         writer stopped mid-write); giving an id: SHARENA_EROFS (read-only
 *         handle), SHARENA_EFULL (no room for the object: nothing changes).
 */
SHARENA_EXPORT int sharena_map_get(const sharena_arena *a, sharena_id map,
                                   const char *key, size_t klen,
                                   sharena_id *value);
/** Remove @p key (its value is dropped if the map owned it; else *old gets
 * it). SHARENA_ENOENT if missing.
 * @return 0, SHARENA_ENOENT (no such key),
 *         SHARENA_EINVAL (NULL, or id 0 or past SHARENA_ID_MAX),
 *         SHARENA_ECLOSED, SHARENA_ENOENT (id never issued), SHARENA_ESTALE
 *         (dropped), SHARENA_ETYPE, SHARENA_ECORRUPT, SHARENA_EROFS.
 */
SHARENA_EXPORT int sharena_map_remove(sharena_arena *a, sharena_id map,
                                      const char *key, size_t klen,
                                      sharena_id *old);
/** Number of keys.
 * @return 0, SHARENA_EINVAL (NULL, or id 0 or past SHARENA_ID_MAX),
 *         SHARENA_ECLOSED, SHARENA_ENOENT (id never issued), SHARENA_ESTALE
 *         (dropped), SHARENA_ETYPE, SHARENA_ECORRUPT, SHARENA_EBUSY (a
 *         writer stopped mid-write).
 */
SHARENA_EXPORT int sharena_map_len(const sharena_arena *a, sharena_id map,
                                   uint64_t *len);
/**
 * Iterate: start with *cursor = 0; each call yields one entry and advances
 * the cursor; returns SHARENA_ENOENT at the end. Keys are copied into
 * @p key (SHARENA_ERANGE with *klen set if @p kcap is too small; the cursor
 * is then not advanced). Entries come in insertion order, except that a
 * removal moves the last entry into the removed one's place: a removal
 * during an iteration may make it skip or repeat the key that moved (see
 * sharena_map_moves()); insertions and replacements never do. A torn key
 * is never returned. *owned (may be NULL) tells whether the map owns the
 * value (a value stored in the entry is owned). With @p value non-NULL a
 * value stored in the entry is given an id, as sharena_map_get() does (a
 * write; SHARENA_EROFS on a read-only handle): to iterate without writing,
 * use sharena_map_next_value().
 * @return 0, SHARENA_ENOENT (no more entries), SHARENA_ERANGE (@p
 *         kcap too small; *klen set), SHARENA_EINVAL (NULL, or id 0 or past
 *         SHARENA_ID_MAX), SHARENA_ECLOSED, SHARENA_ENOENT (id never
 *         issued), SHARENA_ESTALE (dropped), SHARENA_ETYPE,
 *         SHARENA_ECORRUPT, SHARENA_EBUSY (a writer stopped mid-write).
 */
SHARENA_EXPORT int sharena_map_next(const sharena_arena *a, sharena_id map,
                                    uint64_t *cursor, char *key, size_t kcap,
                                    size_t *klen, sharena_id *value,
                                    bool *owned);
/**
 * As sharena_map_next(), but a value stored in the entry is not given an
 * id: *value is 0 for it (and *owned true: the map's own). For walkers
 * that follow refs only (a read: read-only handles too).
 * @return as sharena_map_next().
 */
SHARENA_EXPORT int sharena_map_next_ref(const sharena_arena *a, sharena_id map,
                                        uint64_t *cursor, char *key,
                                        size_t kcap, size_t *klen,
                                        sharena_id *value, bool *owned);
/**
 * How many removals the map has had (each moves an entry): an iteration
 * that reads the same count before and after visited every key that was
 * there throughout exactly once.
 * @return 0, and the errors of sharena_map_len().
 */
SHARENA_EXPORT int sharena_map_moves(const sharena_arena *a, sharena_id map,
                                     uint64_t *moves);

/** Convenience: set a string at @p key in one call. A string of up to 16
 * bytes is stored in the map's entry (no object, no id until
 * sharena_map_get() asks for one); a longer one becomes an owned string
 * object. A value the map owned before is dropped. Nothing is left behind
 * if the set fails.
 * @return 0, the errors of sharena_string_new() and
 *         sharena_map_set().
 */
SHARENA_EXPORT int sharena_map_set_string(sharena_arena *a, sharena_id map,
                                          const char *key, size_t klen,
                                          const char *s, size_t slen);
/** As sharena_map_set_string(), for a number (always stored in the
 * entry).
 * @return 0, the errors of sharena_map_set().
 */
SHARENA_EXPORT int sharena_map_set_number(sharena_arena *a, sharena_id map,
                                          const char *key, size_t klen,
                                          double v);
/** How sharena_map_add_number() adds. */
typedef enum sharena_add_flags {
    /** As sharena_number_add_exact(): the sum must be exact and within
     * +-2^53 (a new key: |delta| <= 2^53), else SHARENA_EOVERFLOW. */
    SHARENA_ADD_EXACT = 1,
} sharena_add_flags;
/** Add @p delta to the number at @p key, or store @p delta as a new number
 * there when the key is absent: one step under the map's lock (a thread
 * that holds it already nests, as sharena_lock_nested()), so two adders
 * never both create the key and a value replaced meanwhile is never added
 * to. *result (may be NULL) receives the new value (with
 * SHARENA_EOVERFLOW: the value found, 0 for a new key).
 * @return 0, SHARENA_ETYPE (@p map is not a map, or the value is not a
 *         number: nothing changes), SHARENA_EOVERFLOW (SHARENA_ADD_EXACT:
 *         nothing changes), or the errors of sharena_map_set_number(),
 *         sharena_number_add() and sharena_lock().
 */
SHARENA_EXPORT int sharena_map_add_number(sharena_arena *a, sharena_id map,
                                          const char *key, size_t klen,
                                          double delta, sharena_add_flags flags,
                                          double *result);
/** As sharena_map_set_number(), for a boolean.
 * @return 0, the errors of sharena_map_set().
 */
SHARENA_EXPORT int sharena_map_set_bool(sharena_arena *a, sharena_id map,
                                        const char *key, size_t klen, bool v);
/** As sharena_map_set_number(), for a null.
 * @return 0, the errors of sharena_map_set().
 */
SHARENA_EXPORT int sharena_map_set_null(sharena_arena *a, sharena_id map,
                                        const char *key, size_t klen);
/** @} */

/* ------------------------------------------------------------------------ */
/** @name Vectors: ordered ids and numbers @{
 *
 * An item is a ref (an id, owned or not) or a number stored in the item
 * itself, with no object behind it (8 bytes per number). A number in place
 * has no id until something asks for one: sharena_vector_get() (and
 * sharena_vector_pop()) then make it a number object, owned by the vector,
 * in the item's place ("promotion", under the vector's lock). An id handed
 * out stays valid while the item holds it. Reads that want the value, not
 * an id, use sharena_vector_get_value() or sharena_vector_read_numbers(),
 * which never promote. */

/** Create an empty vector. @return 0, SHARENA_EFULL, SHARENA_EROFS,
 * SHARENA_ECLOSED, SHARENA_EINVAL. */
SHARENA_EXPORT int sharena_vector_new(sharena_arena *a, sharena_id *out);
/** Number of items (a consistent read through the sequence counter).
 * @return 0, SHARENA_ESTALE, SHARENA_ETYPE, SHARENA_ECORRUPT (a length past
 * its block), SHARENA_EBUSY (a writer stopped mid-write). */
SHARENA_EXPORT int sharena_vector_len(const sharena_arena *a, sharena_id vec,
                                      uint64_t *len);
/** Append @p value (SHARENA_OWNED: the vector owns it).
 * @return 0, SHARENA_EINVAL (NULL, or id 0 or past SHARENA_ID_MAX),
 *         SHARENA_ECLOSED, SHARENA_ENOENT (id never issued), SHARENA_ESTALE
 *         (dropped), SHARENA_ETYPE, SHARENA_ECORRUPT, SHARENA_EROFS (for @p
 *         vec); for @p value: SHARENA_ENOENT, SHARENA_ESTALE, SHARENA_EINVAL
 *         (0, or the container itself); SHARENA_EFULL (the vector is as it
 *         was).
 */
SHARENA_EXPORT int sharena_vector_push(sharena_arena *a, sharena_id vec,
                                       sharena_id value,
                                       sharena_insert_flags flags);
/** Element at @p index (SHARENA_ERANGE past the end). *owned may be NULL.
 * A number stored in place has no id: with @p value, it is made a number
 * object (owned by the vector) under the vector's lock, which takes a
 * writable handle (SHARENA_EROFS on a read-only one: read it with
 * sharena_vector_get_value()) and may fail as sharena_number_new() does
 * (then nothing changed). With @p value NULL nothing is made: *owned is
 * true for a number in place (the vector owns it).
 * @return 0, SHARENA_ERANGE (past the end), SHARENA_EINVAL (NULL, or
 *         id 0 or past SHARENA_ID_MAX), SHARENA_ECLOSED, SHARENA_ENOENT (id
 *         never issued), SHARENA_ESTALE (dropped), SHARENA_ETYPE,
 *         SHARENA_ECORRUPT, SHARENA_EBUSY (a writer stopped mid-write);
 *         promotion: SHARENA_EROFS, SHARENA_EFULL.
 */
SHARENA_EXPORT int sharena_vector_get(const sharena_arena *a, sharena_id vec,
                                      uint64_t index, sharena_id *value,
                                      bool *owned);
/** Replace element @p index; an owned previous value is dropped, else *old
 * (may be NULL) receives it.
 * @return 0, SHARENA_ERANGE (past the end), SHARENA_EINVAL (NULL, or
 *         id 0 or past SHARENA_ID_MAX), SHARENA_ECLOSED, SHARENA_ENOENT (id
 *         never issued), SHARENA_ESTALE (dropped), SHARENA_ETYPE,
 *         SHARENA_ECORRUPT, SHARENA_EROFS (for @p vec); for @p value:
 *         SHARENA_ENOENT, SHARENA_ESTALE, SHARENA_EINVAL (0, or the
 *         container itself).
 */
SHARENA_EXPORT int sharena_vector_set(sharena_arena *a, sharena_id vec,
                                      uint64_t index, sharena_id value,
                                      sharena_insert_flags flags,
                                      sharena_id *old);
/** Insert before @p index (== len appends).
 * @return 0, SHARENA_ERANGE (@p index past the length),
 *         SHARENA_EINVAL (NULL, or id 0 or past SHARENA_ID_MAX),
 *         SHARENA_ECLOSED, SHARENA_ENOENT (id never issued), SHARENA_ESTALE
 *         (dropped), SHARENA_ETYPE, SHARENA_ECORRUPT, SHARENA_EROFS (for @p
 *         vec); for @p value: SHARENA_ENOENT, SHARENA_ESTALE, SHARENA_EINVAL
 *         (0, or the container itself); SHARENA_EFULL.
 */
SHARENA_EXPORT int sharena_vector_insert(sharena_arena *a, sharena_id vec,
                                         uint64_t index, sharena_id value,
                                         sharena_insert_flags flags);
/** Remove element @p index; an owned value is dropped, else *old gets it.
 * @return 0, SHARENA_ERANGE (past the end), SHARENA_EINVAL (NULL, or
 *         id 0 or past SHARENA_ID_MAX), SHARENA_ECLOSED, SHARENA_ENOENT (id
 *         never issued), SHARENA_ESTALE (dropped), SHARENA_ETYPE,
 *         SHARENA_ECORRUPT, SHARENA_EROFS.
 */
SHARENA_EXPORT int sharena_vector_remove(sharena_arena *a, sharena_id vec,
                                         uint64_t index, sharena_id *old);
/** Remove the last element and hand it to the caller (ownership moves to
 * the caller: it is not dropped). SHARENA_ERANGE when empty. A number
 * stored in place comes out as a new number object (made before the item
 * is removed: SHARENA_EFULL leaves the vector as it was); with @p value
 * NULL it is just removed.
 * @return 0, SHARENA_ERANGE (empty), SHARENA_EINVAL (NULL, or id 0
 *         or past SHARENA_ID_MAX), SHARENA_ECLOSED, SHARENA_ENOENT (id never
 *         issued), SHARENA_ESTALE (dropped), SHARENA_ETYPE,
 *         SHARENA_ECORRUPT, SHARENA_EROFS, SHARENA_EFULL.
 */
SHARENA_EXPORT int sharena_vector_pop(sharena_arena *a, sharena_id vec,
                                      sharena_id *value);
/** Append the number @p v, stored in the item itself (no object). A number
 * whose bits would read as a ref (a magnitude below 2^-1021 other than
 * +-0, docs/format.md) is stored as an owned number object instead, which
 * reads the same.
 * @return 0, SHARENA_EINVAL (NULL, or id 0 or past SHARENA_ID_MAX),
 *         SHARENA_ECLOSED, SHARENA_ENOENT (id never issued), SHARENA_ESTALE
 *         (dropped), SHARENA_ETYPE, SHARENA_ECORRUPT, SHARENA_EROFS,
 *         SHARENA_EFULL (the vector is as it was).
 */
SHARENA_EXPORT int sharena_vector_push_number(sharena_arena *a, sharena_id vec,
                                              double v);
/** Replace element @p index by the number @p v (stored as
 * sharena_vector_push_number() does); an owned previous value is dropped,
 * as sharena_vector_set() does.
 * @return 0, SHARENA_ERANGE (past the end), and the errors of
 *         sharena_vector_push_number().
 */
SHARENA_EXPORT int sharena_vector_set_number(sharena_arena *a, sharena_id vec,
                                             uint64_t index, double v);
/** Insert the number @p v before @p index (== len appends), stored as
 * sharena_vector_push_number() does.
 * @return 0, SHARENA_ERANGE (@p index past the length), and the errors of
 *         sharena_vector_push_number().
 */
SHARENA_EXPORT int sharena_vector_insert_number(sharena_arena *a,
                                                sharena_id vec, uint64_t index,
                                                double v);
/** Copy @p count numbers from index @p start into @p out, from one
 * consistent read of the vector (its items as they were at one moment,
 * never a mix of two writes). A number stored in place is copied as it
 * is; an item that is a number object (a promoted number, or one pushed
 * by id) is read with one load of that object's value while the copy is
 * made: the value it had at some moment during the read (a number object
 * can change through its id, sharena_number_set(), without the vector
 * changing). Lock-free, read-only handles too; a long copy under a busy
 * writer is retried, and eventually made under the vector's lock, as
 * every seqlock read (docs/locking.md).
 * @return 0, SHARENA_ERANGE (@p start + @p count past the end: nothing is
 *         copied), SHARENA_ETYPE (an item in the range is no number, or
 *         @p vec is no vector; @p out may be partly written), SHARENA_EINVAL
 *         (NULL), SHARENA_ECLOSED, SHARENA_ENOENT, SHARENA_ESTALE,
 *         SHARENA_ECORRUPT, SHARENA_EBUSY.
 */
SHARENA_EXPORT int sharena_vector_read_numbers(const sharena_arena *a,
                                               sharena_id vec, uint64_t start,
                                               double *out, size_t count);
/** @} */

/* ------------------------------------------------------------------------ */
/** @name Typed reads: type and value in one consistent read @{
 *
 * What a binding needs to turn an arena value into a language value, in
 * one call: the value's type and, for a number, boolean or string, the
 * value itself, read consistently (docs/locking.md, "What a read
 * reports"). A container's entry whose value is replaced (and dropped)
 * while it is read is looked up again, so a racing writer never turns
 * into an error: SHARENA_ESTALE means the entry really names a dropped
 * object (a reference the user dropped). Lock-free, read-only handles
 * too. */

/** One value as read by sharena_value_read() and its container forms. */
typedef struct sharena_value {
    int type;      /**< SHARENA_T_*: the value's type */
    sharena_id id; /**< the value object's id (a map, vector, ... to open);
                      0 for a value stored in its map entry or vector item,
                      which has no id until one is asked for */
    double number; /**< SHARENA_T_NUMBER: the number */
    bool boolean;  /**< SHARENA_T_BOOL: the boolean */
    size_t len;    /**< SHARENA_T_STRING: its length in bytes */
} sharena_value;

/**
 * Read object @p id: its type, and for a number or boolean its value; a
 * string is copied into @p buf (NUL-terminated; @p buf may be NULL with
 * @p cap 0 to learn the length). Other types give their type and id only.
 * @return 0; SHARENA_ERANGE when the string does not fit @p cap (out->type,
 *         out->id and out->len are set: call again with len + 1 bytes);
 *         SHARENA_ESTALE (dropped), SHARENA_ENOENT (never issued),
 *         SHARENA_EINVAL, SHARENA_ECLOSED, SHARENA_EBUSY (a writer stopped
 *         mid-write), SHARENA_ECORRUPT (damage that holds at a stable
 *         sequence: fsck reports it too).
 */
SHARENA_EXPORT int sharena_value_read(const sharena_arena *a, sharena_id id,
                                      char *buf, size_t cap,
                                      sharena_value *out);
/**
 * sharena_map_get() and sharena_value_read() of what it finds, as one
 * read: a value replaced or removed between the two is looked up again.
 * @return 0; SHARENA_ENOENT (no such key, or removed meanwhile);
 *         SHARENA_ERANGE (the string does not fit: out->len is set);
 *         SHARENA_ESTALE (the map was dropped, or its entry names an object
 *         that was dropped: a dangling reference); SHARENA_ETYPE (@p map is
 *         no map); SHARENA_EINVAL, SHARENA_ECLOSED, SHARENA_EBUSY (a
 *         writer stopped mid-write, or the entry replaced faster than it
 *         could be read), SHARENA_ECORRUPT (damage at a stable sequence).
 */
SHARENA_EXPORT int sharena_map_get_value(const sharena_arena *a, sharena_id map,
                                         const char *key, size_t klen,
                                         char *buf, size_t cap,
                                         sharena_value *out);
/**
 * sharena_map_next() and sharena_value_read() as one read, without giving
 * any value an id (a read: read-only handles too). The key is copied into
 * @p key as sharena_map_next() does, a string value into @p buf.
 * @return 0 (the cursor advances); SHARENA_ENOENT (no more entries);
 *         SHARENA_ERANGE when the key does not fit @p kcap (*klen set,
 *         out->type 0) or the string value does not fit @p cap (*klen and
 *         out->len set): the cursor is not advanced, call again with more
 *         room; and the errors of sharena_map_get_value().
 */
SHARENA_EXPORT int sharena_map_next_value(const sharena_arena *a,
                                          sharena_id map, uint64_t *cursor,
                                          char *key, size_t kcap, size_t *klen,
                                          char *buf, size_t cap,
                                          sharena_value *out);
/**
 * sharena_vector_get() and sharena_value_read() as one read, like
 * sharena_map_get_value(). A number stored in the item is read from it
 * (out->id is 0): this never promotes, and works on read-only handles.
 * @return as sharena_map_get_value(), with SHARENA_ERANGE also for an index
 * past the end (then out->type is 0).
 */
SHARENA_EXPORT int sharena_vector_get_value(const sharena_arena *a,
                                            sharena_id vec, uint64_t index,
                                            char *buf, size_t cap,
                                            sharena_value *out);
/** @} */

/* ------------------------------------------------------------------------ */
/** @name Structs: a shape stored in the arena, fields inline @{ */

/** Longest field name in bytes. */
#define SHARENA_FIELD_NAME_MAX 55
/** Most fields in one shape. */
#define SHARENA_FIELDS_MAX 256

/** Flags of a struct field (sharena_field_def.flags). */
typedef enum sharena_field_flags {
    /** The field may hold null (sharena_struct_set_null()); a struct is
     * made with it null. STRING, NUMBER and BOOL fields only (a BYTES
     * field is a fixed buffer, always there). Without it, storing null is
     * refused with SHARENA_ETYPE. */
    SHARENA_FIELD_NULLABLE = 1u << 0,
} sharena_field_flags;
SHARENA__FLAG_OPS(sharena_field_flags)

typedef struct sharena_field_def {
    const char *name;          /**< 1..SHARENA_FIELD_NAME_MAX bytes, UTF-8 */
    sharena_type type;         /**< STRING, NUMBER, BOOL or BYTES */
    uint64_t size;             /**< BYTES only: the buffer size */
    sharena_field_flags flags; /**< SHARENA_FIELD_NULLABLE, or 0 */
} sharena_field_def;

/** Create a shape; field names must be distinct.
 * @return 0, SHARENA_EINVAL (NULL, no fields or more than
 *         SHARENA_FIELDS_MAX, a NULL name, a type other than STRING, NUMBER,
 *         BOOL or BYTES, unknown flags, a nullable BYTES field),
 *         SHARENA_ENAMETOOLONG (a name over
 *         SHARENA_FIELD_NAME_MAX), SHARENA_EILSEQ (a name not UTF-8),
 *         SHARENA_EEXIST (two fields of one name), SHARENA_EROFS,
 *         SHARENA_ECLOSED, SHARENA_EFULL, SHARENA_ECORRUPT.
 */
SHARENA_EXPORT int sharena_shape_new(sharena_arena *a,
                                     const sharena_field_def *fields,
                                     size_t nfields, sharena_id *out);
/** Number of fields of a shape or of a struct's shape.
 * @return 0, SHARENA_EINVAL (NULL, or id 0 or past SHARENA_ID_MAX),
 *         SHARENA_ECLOSED, SHARENA_ENOENT (id never issued), SHARENA_ESTALE
 *         (dropped), SHARENA_ETYPE, SHARENA_ECORRUPT, SHARENA_EBUSY (a
 *         writer stopped mid-write) (SHARENA_ETYPE: neither a shape nor a
 *         struct).
 */
SHARENA_EXPORT int sharena_shape_nfields(const sharena_arena *a,
                                         sharena_id shape_or_struct, size_t *n);
/** Describe field @p index: name copied into @p name (cap >=
 * SHARENA_FIELD_NAME_MAX + 1), type and bytes size.
 * @return 0, SHARENA_ERANGE (no field @p index), SHARENA_EINVAL
 *         (NULL, or id 0 or past SHARENA_ID_MAX), SHARENA_ECLOSED,
 *         SHARENA_ENOENT (id never issued), SHARENA_ESTALE (dropped),
 *         SHARENA_ETYPE, SHARENA_ECORRUPT, SHARENA_EBUSY (a writer stopped
 *         mid-write) (SHARENA_ETYPE: neither a shape nor a struct).
 */
SHARENA_EXPORT int sharena_shape_field(const sharena_arena *a,
                                       sharena_id shape_or_struct, size_t index,
                                       char *name, size_t cap,
                                       sharena_type *type, uint64_t *size);
/** Flags of field @p index (SHARENA_FIELD_NULLABLE or 0) into *flags.
 * @return as sharena_shape_field().
 */
SHARENA_EXPORT int sharena_shape_field_flags(const sharena_arena *a,
                                             sharena_id shape_or_struct,
                                             size_t index,
                                             sharena_field_flags *flags);
/** Index of the field called @p name (SHARENA_ENOENT if none).
 * @return 0, SHARENA_ENOENT (no such field), SHARENA_EINVAL (NULL,
 *         or id 0 or past SHARENA_ID_MAX), SHARENA_ECLOSED, SHARENA_ENOENT
 *         (id never issued), SHARENA_ESTALE (dropped), SHARENA_ETYPE,
 *         SHARENA_ECORRUPT, SHARENA_EBUSY (a writer stopped mid-write).
 */
SHARENA_EXPORT int sharena_shape_find(const sharena_arena *a,
                                      sharena_id shape_or_struct,
                                      const char *name, size_t nlen,
                                      size_t *index);

/** Create a struct of @p shape; nullable fields null, strings empty,
 * numbers 0, bools false, bytes zeroed. The struct owns its field values.
 * @return 0, SHARENA_EINVAL, SHARENA_EROFS, SHARENA_ECLOSED,
 *         SHARENA_EFULL (nothing allocated), SHARENA_ECORRUPT, and for @p
 *         shape SHARENA_ENOENT, SHARENA_ESTALE, SHARENA_ETYPE (not a shape).
 */
SHARENA_EXPORT int sharena_struct_new(sharena_arena *a, sharena_id shape,
                                      sharena_id *out);
/** The struct's shape id.
 * @return 0, SHARENA_EINVAL (NULL, or id 0 or past SHARENA_ID_MAX),
 *         SHARENA_ECLOSED, SHARENA_ENOENT (id never issued), SHARENA_ESTALE
 *         (dropped), SHARENA_ETYPE, SHARENA_ECORRUPT, SHARENA_EBUSY (a
 *         writer stopped mid-write).
 */
SHARENA_EXPORT int sharena_struct_shape(const sharena_arena *a, sharena_id st,
                                        sharena_id *shape);
/** Read number field @p field (an index; sharena_shape_find() maps a name
 * to it). @return 0, SHARENA_ESTALE, SHARENA_ETYPE (not a struct, the
 * field is not a number, or it holds null), SHARENA_ERANGE (no such
 * field), SHARENA_ECORRUPT (also: a null mark on a field that is not
 * nullable). */
SHARENA_EXPORT int sharena_struct_get_number(const sharena_arena *a,
                                             sharena_id st, size_t field,
                                             double *out);
/** Set number field @p field (a null field stops being null, in the same
 * write). Errors as sharena_struct_get_number(), and SHARENA_EROFS. */
SHARENA_EXPORT int sharena_struct_set_number(sharena_arena *a, sharena_id st,
                                             size_t field, double v);
/** Read boolean field @p field. Errors as sharena_struct_get_number(). */
SHARENA_EXPORT int sharena_struct_get_bool(const sharena_arena *a,
                                           sharena_id st, size_t field,
                                           bool *out);
/** Set boolean field @p field. Errors as sharena_struct_set_number(). */
SHARENA_EXPORT int sharena_struct_set_bool(sharena_arena *a, sharena_id st,
                                           size_t field, bool v);
/** Copy a string field out, as sharena_string_get().
 * @return 0, SHARENA_ERANGE (no such field, or @p cap too small with
 *         *len set), SHARENA_EINVAL (NULL, or id 0 or past SHARENA_ID_MAX),
 *         SHARENA_ECLOSED, SHARENA_ENOENT (id never issued), SHARENA_ESTALE
 *         (dropped), SHARENA_ETYPE, SHARENA_ECORRUPT, SHARENA_EBUSY (a
 *         writer stopped mid-write) (SHARENA_ETYPE: not a struct, or not a
 *         string field).
 */
SHARENA_EXPORT int sharena_struct_get_string(const sharena_arena *a,
                                             sharena_id st, size_t field,
                                             char *buf, size_t cap,
                                             size_t *len);
/** Replace a string field's text (UTF-8, as sharena_string_set()).
 * Errors as sharena_struct_set_number(), and SHARENA_EILSEQ, SHARENA_EFULL
 * (the old text stays). */
SHARENA_EXPORT int sharena_struct_set_string(sharena_arena *a, sharena_id st,
                                             size_t field, const char *s,
                                             size_t len);
/** Store null in field @p field, which must be nullable
 * (SHARENA_FIELD_NULLABLE); the struct's version moves like for any set.
 * A string field keeps its string object (sharena_struct_field_id()) for
 * the next sharena_struct_set_string(), which makes the field a string
 * again.
 * @return 0, SHARENA_ETYPE (not a struct, or the field is not nullable:
 *         nothing changes), SHARENA_ERANGE (no such field), SHARENA_EROFS,
 *         SHARENA_EINVAL, SHARENA_ECLOSED, SHARENA_ENOENT, SHARENA_ESTALE,
 *         SHARENA_ECORRUPT.
 */
SHARENA_EXPORT int sharena_struct_set_null(sharena_arena *a, sharena_id st,
                                           size_t field);
/** Typed read of field @p field, as sharena_value_read(): out->type is
 * SHARENA_T_NULL for a field that holds null, else the field's type with
 * its value (a number, a boolean, a string copied into @p buf with its
 * length in out->len; a BYTES field gives out->id, the buffer's id).
 * @return 0, SHARENA_ERANGE (no such field: out->type 0; or the string
 *         does not fit @p cap: out->len set), and the errors of
 *         sharena_struct_get_string().
 */
SHARENA_EXPORT int sharena_struct_get_value(const sharena_arena *a,
                                            sharena_id st, size_t field,
                                            char *buf, size_t cap,
                                            sharena_value *out);
/** Id of the owned object behind a string or bytes field (use it with the
 * string/bytes functions; do not drop it).
 * @return 0, SHARENA_ERANGE (no such field), SHARENA_EINVAL (NULL,
 *         or id 0 or past SHARENA_ID_MAX), SHARENA_ECLOSED, SHARENA_ENOENT
 *         (id never issued), SHARENA_ESTALE (dropped), SHARENA_ETYPE,
 *         SHARENA_ECORRUPT, SHARENA_EBUSY (a writer stopped mid-write)
 *         (SHARENA_ETYPE: not a struct, or a number or bool field).
 */
SHARENA_EXPORT int sharena_struct_field_id(const sharena_arena *a,
                                           sharena_id st, size_t field,
                                           sharena_id *out);
/** @} */

/* ------------------------------------------------------------------------ */
/** @name Building values: a plain value tree in one all-or-nothing step
 *
 * A builder turns a nested plain value (what JSON, a Python dict/list or a
 * JS object/array holds) into arena objects, each owned by its container,
 * and links the finished values into a container in one step. Every binding
 * and the CLI build through it, so a tree means the same in every language.
 *
 * Calls describe the tree depth first: a scalar call (number, bool, string,
 * bytes, ref) adds one value, sharena_build_map()/sharena_build_vector()
 * open a container that the following values go into, sharena_build_end()
 * closes it. Inside a map, sharena_build_key() names the next value. At the
 * top level a sequence of values is built (with keys when it is to become
 * map entries); a commit call then links them all:
 * sharena_build_finish() (one detached value, for a root or a ref),
 * sharena_build_map_update() or sharena_build_vector_splice().
 *
 * The first failure (SHARENA_EFULL, SHARENA_EILSEQ, a stale ref, a tree
 * deeper than SHARENA_BUILD_DEPTH_MAX, a misuse) is kept: every later call
 * returns it and does nothing, so a binding may stop at once or go on. A
 * commit call, or sharena_build_abort(), always frees the builder; when it
 * fails, every object the builder made is dropped and the target is as it
 * was: used bytes and live objects return to their values before the
 * build. A builder is used by one thread at a time. @{ */

/** Deepest nesting a builder accepts (SHARENA_EOVERFLOW past it: a value
 * that contains itself ends there). */
#define SHARENA_BUILD_DEPTH_MAX 1000
/** sharena_build_vector_splice()'s start for "at the end" (an append). */
#define SHARENA_BUILD_END UINT64_MAX

typedef struct sharena_builder sharena_builder;

/** Start a build on a writable arena. @return 0, SHARENA_EINVAL,
 * SHARENA_EROFS, SHARENA_ENOMEM. */
SHARENA_EXPORT int sharena_build_begin(sharena_arena *a, sharena_builder **out);
/** Name the next value: required before each value inside a map, and
 * before each top-level value that sharena_build_map_update() will set.
 * @return 0, SHARENA_EILSEQ (not UTF-8), SHARENA_EINVAL (inside a vector,
 *         or a key already pending), SHARENA_ENOMEM, or the kept error. */
SHARENA_EXPORT int sharena_build_key(sharena_builder *b, const char *key,
                                     size_t klen);
/** Add a number. @return 0, SHARENA_EFULL, SHARENA_EINVAL (no key inside
 * a map), or the kept error; likewise for the other value calls. */
SHARENA_EXPORT int sharena_build_number(sharena_builder *b, double v);
/** Add a boolean. */
SHARENA_EXPORT int sharena_build_bool(sharena_builder *b, bool v);
/** Add a null (sharena_null_new()); inside a struct, into a nullable field
 * (SHARENA_ETYPE for a field that is not: the build fails, nothing is kept). */
SHARENA_EXPORT int sharena_build_null(sharena_builder *b);
/** Add a string of @p len bytes of UTF-8 (SHARENA_EILSEQ if invalid). */
SHARENA_EXPORT int sharena_build_string(sharena_builder *b, const char *s,
                                        size_t len);
/** Add a byte buffer holding a copy of @p data[0..len). */
SHARENA_EXPORT int sharena_build_bytes(sharena_builder *b, const void *data,
                                       size_t len);
/** Add an existing object @p id (a reference: it stays the caller's and is
 * never dropped by a failure). SHARENA_OWNED hands it to the container on
 * success; it is allowed at the top level only (SHARENA_EINVAL deeper).
 * @return 0, SHARENA_ESTALE, SHARENA_ENOENT, or as sharena_build_number(). */
SHARENA_EXPORT int sharena_build_ref(sharena_builder *b, sharena_id id,
                                     unsigned flags);
/** Open a map: the next values (each after a key) go into it. */
SHARENA_EXPORT int sharena_build_map(sharena_builder *b);
/** Open a vector: the next values go into it. */
SHARENA_EXPORT int sharena_build_vector(sharena_builder *b);
/** Open a struct whose shape has @p fields (as sharena_shape_new()): the
 * next values, each after a sharena_build_key() naming a field, set its
 * fields (a number, bool, string, or bytes of exactly the field's size);
 * fields not set keep their defaults; sharena_build_end() closes it.
 * Structs of one definition in one build share one shape, made by the
 * build: it is dropped when the build fails and stays in the arena when it
 * succeeds (detached like one from sharena_shape_new(), unless
 * sharena_build_shape() made it a value of the tree).
 * @return 0, the errors of sharena_shape_new(), SHARENA_ETYPE (a struct
 *         inside a struct), or as sharena_build_number(). Inside a struct,
 *         a value call fails with SHARENA_ENOENT (no field of that name),
 *         SHARENA_ETYPE (the field holds another type; a map, vector,
 *         struct, shape or ref) or SHARENA_ERANGE (bytes of another size). */
SHARENA_EXPORT int sharena_build_struct(sharena_builder *b,
                                        const sharena_field_def *fields,
                                        size_t nfields);
/** Add a shape with @p fields as the next value (owned by its container
 * like any value made). A shape of the same definition that this build made
 * for structs only becomes that value, so the structs and the value share
 * it. @return 0, the errors of sharena_shape_new(), or as
 * sharena_build_number(). */
SHARENA_EXPORT int sharena_build_shape(sharena_builder *b,
                                       const sharena_field_def *fields,
                                       size_t nfields);
/** Close the innermost open map, vector or struct (SHARENA_EINVAL if
 * none). */
SHARENA_EXPORT int sharena_build_end(sharena_builder *b);
/** The kept error (0 while the build is going well). */
SHARENA_EXPORT int sharena_build_error(const sharena_builder *b);

/** Hand over the one top-level value (detached: the caller owns it and
 * links or drops it) and free the builder. @return 0, the kept error,
 * SHARENA_EINVAL (not exactly one value, a container left open, or the
 * value is a ref). */
SHARENA_EXPORT int sharena_build_finish(sharena_builder *b, sharena_id *out);
/** Set every top-level (key, value) in @p map under its lock, all or
 * nothing, and free the builder. Values the map owned and that are
 * replaced are dropped once all are set. Readers may see the entries
 * appear one by one while it runs; a failure takes back the ones set.
 * @return 0, the kept error, SHARENA_EINVAL (a value without a key, a
 *         container left open, the map itself as a value), SHARENA_ESTALE,
 *         SHARENA_ETYPE, SHARENA_EFULL, SHARENA_EROFS. */
SHARENA_EXPORT int sharena_build_map_update(sharena_builder *b, sharena_id map);
/** Replace items [@p start, @p start + @p count) of @p vec (count clamped
 * to the items there are; start SHARENA_BUILD_END appends) with the
 * top-level values, in one write: readers see the old items or the new
 * ones. Owned items taken out are dropped, except one that a new item
 * refers to (it moves, owned). Frees the builder. @return 0, the kept
 * error, SHARENA_ERANGE (start past the end), SHARENA_EINVAL, SHARENA_ESTALE,
 * SHARENA_ETYPE, SHARENA_EFULL, SHARENA_EROFS. */
SHARENA_EXPORT int sharena_build_vector_splice(sharena_builder *b,
                                               sharena_id vec, uint64_t start,
                                               uint64_t count);
/** Drop everything built and free the builder (NULL is fine). */
SHARENA_EXPORT void sharena_build_abort(sharena_builder *b);
/** @} */

/* ------------------------------------------------------------------------ */
/** @name Named roots: where processes meet @{ */

/** Look up root @p name (SHARENA_ENOENT if none, or if its object was
 * dropped: a dropped root is no root).
 * @return 0, SHARENA_ENOENT, SHARENA_EINVAL (NULL or not a name),
 *         SHARENA_ENAMETOOLONG, SHARENA_ECLOSED, SHARENA_ECORRUPT,
 *         SHARENA_EBUSY.
 */
SHARENA_EXPORT int sharena_root_get(const sharena_arena *a, const char *name,
                                    sharena_id *out);
/**
 * Get root @p name, creating it as an empty object of @p type if missing
 * (MAP, VECTOR, STRING, NUMBER, BOOL, NULL, or BYTES of @p size bytes; missing on
 * a read-only arena: SHARENA_EROFS). An existing
 * root of another type gives SHARENA_ETYPE (a BYTES root of another size:
 * SHARENA_ERANGE). *created (may be NULL) tells whether it was made now.
 * Two processes racing for the same name get the same object. A root whose
 * object was dropped (sharena_drop()) is made again, like a missing one.
 */
SHARENA_EXPORT int sharena_root_ensure(sharena_arena *a, const char *name,
                                       sharena_type type, uint64_t size,
                                       sharena_id *out, bool *created);
/** Bind @p name to an existing object (replacing any previous binding, whose
 * object is dropped if the directory owned it). With SHARENA_OWNED the
 * directory owns @p id.
 * @return 0, SHARENA_EINVAL (not a name, or @p id is the roots
 *         directory), SHARENA_ENAMETOOLONG, and the errors of
 *         sharena_map_set().
 */
SHARENA_EXPORT int sharena_root_set(sharena_arena *a, const char *name,
                                    sharena_id id, sharena_insert_flags flags);
/** Remove root @p name, dropping its object if the directory owns it.
 * @return 0, SHARENA_ENOENT (no such root), SHARENA_EINVAL (not a
 *         name), SHARENA_ENAMETOOLONG, and the errors of
 *         sharena_map_remove().
 */
SHARENA_EXPORT int sharena_root_remove(sharena_arena *a, const char *name);
/** The roots directory (a map: iterate it with sharena_map_next()).
 * @return 0, SHARENA_EINVAL (NULL), SHARENA_ECLOSED,
 *         SHARENA_ECORRUPT.
 */
SHARENA_EXPORT int sharena_roots(const sharena_arena *a, sharena_id *dir);
/** @} */

/* ------------------------------------------------------------------------ */
/** @name Change notifications (wait.c)
 * An object's version is its change count (sharena_change_count()); it grows
 * with every completed write. Waiting sleeps in FUTEX_WAIT on that word, so
 * a writer in any process wakes a waiter with no broker round trip; writers
 * pay for the wake only when someone waits. @{ */

/**
 * Wait until object @p id's version differs from @p last (pass the value
 * from sharena_change_count(), or 0 to return at once with the current version)
 * or @p timeout_ns passes (< 0: forever).
 * @return 0 with *version set, SHARENA_ETIMEDOUT, SHARENA_ESTALE when the
 *         object was dropped, SHARENA_EINTR when a signal arrived (the
 *         caller decides whether to retry), SHARENA_ECLOSED when the arena
 *         handle is being closed or its waits were cancelled
 *         (sharena_arena_cancel_waits()), SHARENA_EINVAL, SHARENA_ENOENT,
 *         SHARENA_ECORRUPT.
 * Read-only handles can wait too: they cannot announce themselves to
 * writers, so they re-check every 2 ms instead of being woken.
 */
SHARENA_EXPORT int sharena_wait(sharena_arena *a, sharena_id id, uint64_t last,
                                int64_t timeout_ns, uint64_t *version);
/** Arena-wide version: a counter bumped by every completed write.
 * @return 0, SHARENA_EINVAL (NULL).
 */
SHARENA_EXPORT int sharena_arena_version(const sharena_arena *a,
                                         uint64_t *version);
/** Wait until the arena-wide version differs from @p last; as
 * sharena_wait().
 * @return as sharena_wait(), without SHARENA_ESTALE.
 */
SHARENA_EXPORT int sharena_wait_any(sharena_arena *a, uint64_t last,
                                    int64_t timeout_ns, uint64_t *version);
/**
 * Cancel every wait on handle @p a, in progress and to come: each
 * sharena_wait() and sharena_wait_any() in any thread returns
 * SHARENA_ECLOSED at once, and the handle's notifiers turn readable (their
 * next sharena_notifier_arm() returns SHARENA_ECLOSED). Returns once the
 * waits in progress have left the handle. From then on the handle serves
 * nothing but sharena_arena_close() (other calls return SHARENA_ECLOSED);
 * the memory and other handles of the same arena are not affected.
 *
 * A handle is the wait set: to cancel some waits apart from the rest, wait
 * on a handle of their own (sharena_arena_from_fd(sharena_arena_fd(a), ...)),
 * cancel it from any thread, then close it. sharena_arena_close() cancels
 * the waits of the handle it closes the same way. Idempotent.
 * @return 0, SHARENA_EINVAL (NULL).
 */
SHARENA_EXPORT int sharena_arena_cancel_waits(sharena_arena *a);
/** @} */

/* ------------------------------------------------------------------------ */
/** @name Pollable change notifications (notify.c)
 * A file descriptor that becomes readable (POLLIN) when the arena-wide
 * change counter moves, for event loops (epoll, libuv, asyncio) that must
 * not block a thread in sharena_wait_any(). Built on io_uring's
 * IORING_OP_FUTEX_WAIT (Linux 6.7+) with an eventfd registered on the ring:
 * a writer's FUTEX_WAKE completes the queued wait and the eventfd wakes the
 * loop directly, with no helper thread in between.
 *
 * Use: open; loop { r = arm(&seen); if r == 1 handle the change (and arm
 * again at once); if r == 0 poll the fd for POLLIN, then arm again }.
 *
 * Threads and processes: call arm() and close() from one thread at a time
 * (arena close may run concurrently in another thread). The kernel delivers
 * a completion to the thread that last armed the wait, as task work: a
 * system call that thread is blocked in may return EINTR (epoll_wait does;
 * event loops retry), and if that thread exits the wait is cancelled, which
 * also makes the fd readable (arm() queues a new one). A notifier is not
 * usable in a child after fork() (arm() returns SHARENA_EPERM there; closing
 * the child's copy leaves the parent's wait alone): open a new one. @{ */

/** An io_uring futex wait on one arena handle's change counter. */
typedef struct sharena_notifier sharena_notifier;

/**
 * Whether notifiers work in this process: 0, or SHARENA_ENOSYS when
 * io_uring or its futex wait is unavailable (kernel before 6.7, io_uring
 * disabled by sysctl kernel.io_uring_disabled, a seccomp filter, or the
 * environment variable SHARENA_NO_IO_URING set to anything but "" or "0",
 * which forces the fallback for tests). The kernel is probed once per
 * process; the variable is read at every call.
 */
SHARENA_EXPORT int sharena_notifier_supported(void);

/**
 * Open a notifier on arena @p a. Nothing is registered with writers until
 * the first sharena_notifier_arm().
 * @return 0 with *out set; SHARENA_ENOSYS (see
 *         sharena_notifier_supported(): use a thread in sharena_wait_any()
 *         instead); SHARENA_EROFS for a read-only handle (it cannot count
 *         itself in the arena's waiters: use sharena_wait_any(), which polls);
 *         SHARENA_ECLOSED when @p a is being closed; SHARENA_EINVAL; or a
 *         negative errno from io_uring_setup(), eventfd() or mmap() (e.g.
 *         -EMFILE, -ENOMEM).
 */
SHARENA_EXPORT int sharena_notifier_open(sharena_arena *a,
                                         sharena_notifier **out);

/** The eventfd to poll for POLLIN (owned by the notifier: do not close or
 * read it). SHARENA_EINVAL for NULL. */
SHARENA_EXPORT int sharena_notifier_fd(const sharena_notifier *n);

/**
 * Drain the fd and the ring's completions, then: if the arena-wide version
 * (32 bits, as sharena_arena_version() truncated) differs from *@p seen,
 * store it in *@p seen and return 1; otherwise make sure a futex wait for a
 * change from *@p seen is queued and return 0 (poll the fd, then call this
 * again). Start with *seen from sharena_arena_version() to be told about
 * changes after that point only.
 *
 * While a wait is queued the notifier counts in the arena's waiters, so
 * writers wake it; it leaves that count when the wait completes (seen by
 * the next arm()), at sharena_notifier_close() and at arena close. No change
 * is lost: the waiter registers, re-checks the counter, and the kernel
 * compares it once more when it queues the wait. A readable fd may be
 * spurious (arm() then returns 0 again).
 * @return 1 (changed), 0 (armed), SHARENA_ECLOSED once the arena handle was
 *         closed (the fd stays readable; only sharena_notifier_close() is
 *         left to do), SHARENA_EPERM in a child after fork() (the ring and
 *         the queued wait are the parent's), SHARENA_EINVAL, or a negative
 *         errno from io_uring_enter().
 */
SHARENA_EXPORT int sharena_notifier_arm(sharena_notifier *n, uint32_t *seen);

/** Cancel the queued wait, leave the arena's waiters and free the notifier
 * (before or after its arena handle was closed). NULL is a no-op.
 * Errors: none.
 */
SHARENA_EXPORT void sharena_notifier_close(sharena_notifier *n);
/** @} */

/* ------------------------------------------------------------------------ */
/** @name Consistency checks and lock inspection (recovery.c)
 * The calls only the broker and the tools need (recovering dead owners'
 * locks, the live-slot set, the lock clock) are in sharena_broker.h. @{ */

/** One held lock, as reported by sharena_locks(). */
typedef struct sharena_lock_info {
    sharena_id id;     /**< object id, 0 for the arena (allocator) lock */
    sharena_type type; /**< the object's type, 0 for the arena lock */
    uint32_t owner;    /**< owner value: client slot, or LOCAL|pid
                           (SHARENA_OWNER_LOCAL, sharena_broker.h) */
    uint32_t pid;      /**< pid for LOCAL owners, else 0 */
    bool waiters;      /**< someone is waiting */
    bool died;         /**< owner died; recovery pending */
    /** Seconds the lock has been held: exact to about a second while a
     * broker keeps the arena's lock clock (held_exact), otherwise an upper
     * bound (the clock was last advanced before the lock was taken).
     * Meaningful only when held_known. */
    uint32_t held_s;
    bool held_known;      /**< the locker recorded when it took the lock */
    bool held_exact;      /**< a broker keeps the lock clock current */
    uint32_t reserved[4]; /**< for later fields (ABI); zeroed */
} sharena_lock_info;

/** Call @p fn for every lock currently held (a snapshot). Stops early and
 * returns @p fn's value when it is non-zero.
 * @return 0, @p fn's non-zero value, SHARENA_EINVAL (NULL).
 */
SHARENA_EXPORT int
sharena_locks(const sharena_arena *a,
              int (*fn)(void *ctx, const sharena_lock_info *info), void *ctx);

/** Flags for sharena_fsck(). */
typedef enum sharena_fsck_flags {
    SHARENA_FSCK_REPAIR = 1u << 0, /**< fix what can be fixed */
    /** With REPAIR: treat locks held by broker client slots as abandoned
     * (use only when no client of this arena is alive). */
    SHARENA_FSCK_BREAK_LOCKS = 1u << 1,
} sharena_fsck_flags;
SHARENA__FLAG_OPS(sharena_fsck_flags)

typedef struct sharena_fsck_report {
    uint64_t errors;       /**< problems found */
    uint64_t repaired;     /**< problems fixed (REPAIR) */
    uint64_t objects;      /**< live objects */
    uint64_t blocks;       /**< allocated blocks */
    uint64_t used_bytes;   /**< bytes in allocated blocks */
    uint64_t free_bytes;   /**< bytes in free blocks */
    uint64_t leaked_bytes; /**< allocated but referenced by nothing */
    uint64_t locks_held;   /**< objects locked by live owners (not checked) */
    uint64_t recovered;    /**< dead owners' locks recovered */
    uint64_t reserved[7];  /**< for later fields (ABI); zeroed */
} sharena_fsck_report;

/**
 * Check every invariant of the format (header, handle table, allocator
 * accounting: every byte either free or owned by exactly one live object,
 * maps, vectors, structs and shapes, roots). @p fn (may be NULL) receives one
 * line per problem. Locks whose owner died are recovered the way a locker
 * would (that is not an error). Each object is checked under its own lock,
 * taken without waiting; one that a live client holds is counted in
 * locks_held and skipped (a write in progress is not damage), and one whose
 * dead owner someone else is still recovering is settled by another pass
 * (up to 4).
 * Never waits more than about 5 s for a lock a live owner (or a scribbled
 * lock word naming one) keeps: it then gives up with SHARENA_ETIMEDOUT
 * ($SHARENA_FSCK_WAIT_MS sets another bound, in milliseconds).
 * @return 0 when consistent (after repair, with REPAIR), SHARENA_ECORRUPT
 *         when problems remain, SHARENA_ETIMEDOUT, or another negative
 *         error.
 */
SHARENA_EXPORT int sharena_fsck(sharena_arena *a, sharena_fsck_flags flags,
                                void (*fn)(void *ctx, const char *problem),
                                void *ctx, sharena_fsck_report *report);
/** @} */

/* ------------------------------------------------------------------------ */
/** @name Broker connections (client.c; protocol in docs/protocol.md)
 * A connection to `sharenad` names arenas, checks access and hands out their
 * memfds; the data path never goes through it. @{ */

/**
 * Write the default broker socket path into @p buf: `$SHARENA_SOCKET`, else
 * `$XDG_RUNTIME_DIR/sharena/broker.sock`, else `/tmp/sharena-$UID/broker.sock`.
 * @return 0 or SHARENA_ENAMETOOLONG.
 */
SHARENA_EXPORT int sharena_default_socket(char *buf, size_t cap);

/**
 * Connect to the broker at @p path (NULL: the default path, starting a
 * per-user `sharenad` there when none answers, unless SHARENA_AUTOSTART=0;
 * `$SHARENA_FD`, when set, names an inherited delegated connection and takes
 * precedence for NULL). Performs HELLO and receives this connection's client
 * slot, the owner value its locks carry.
 * @return 0, SHARENA_ECONNREFUSED, SHARENA_EPROTO (version mismatch), or a
 *         negative errno.
 */
SHARENA_EXPORT int sharena_connect(const char *path, sharena_conn **out);
/** Adopt an already-connected socket (e.g. from sharena_delegate() passed
 * to a child). Takes ownership of @p fd. When the broker has closed that
 * connection (it stopped or restarted since it delegated it), this and
 * every request on it fail with SHARENA_EDROPPED, whose sharena_strerror()
 * says why.
 * @return 0, SHARENA_EINVAL (NULL, or @p fd < 0), SHARENA_EBADF (not
 *         a SOCK_SEQPACKET socket; @p fd is closed), SHARENA_ENOMEM,
 *         SHARENA_EDROPPED, and the errors of the HELLO exchange as
 *         sharena_connect().
 */
SHARENA_EXPORT int sharena_connect_fd(int fd, sharena_conn **out);
/** Close the connection. Arenas opened through it stay mapped and usable
 * for data; the broker treats their locks as released (a clean close).
 * Errors: none; NULL is accepted.
 */
SHARENA_EXPORT void sharena_disconnect(sharena_conn *c);
/** The client slot the broker assigned (1..65535).
 * @return the slot, 0 for NULL.
 */
SHARENA_EXPORT uint32_t sharena_conn_slot(const sharena_conn *c);

typedef struct sharena_open_opts {
    uint64_t capacity; /**< with CREATE: bytes (0 = SHARENA_DEFAULT_CAPACITY) */
    sharena_open_flags flags; /**< SHARENA_CREATE | SHARENA_EXCL |
                                   SHARENA_READONLY */
    uint32_t mode; /**< with CREATE: access mode like 0600 (0 = 0600) */
    /** Room for options of later releases without changing the struct's
     * size (the ABI): must be zero (initialise the struct with `= {...}`
     * or memset), else sharena_open() returns SHARENA_EINVAL. */
    uint64_t reserved[4];
} sharena_open_opts;

/**
 * Open the arena called @p name through the broker (@p opts may be NULL:
 * open existing, read-write). Verifies the fd's seals, magic, version and
 * layout hash before mapping it (PROT_READ when read-only).
 *
 * Names: every user has a namespace of their own. A plain "name" is the
 * caller's own arena (or the one the broker's policy file shares under that
 * name); "USER:name" (login name or uid) is USER's. With SHARENA_CREATE, an
 * arena is created only in the caller's own namespace, and an existing one
 * is opened only if it is the caller's own and (when @p opts->mode is not
 * 0) has that mode: else SHARENA_EEXIST (sharena_broker_message() names the
 * owner and mode); open another user's arena without SHARENA_CREATE.
 * sharena_arena_open_info() tells whether this open created the arena and
 * whose it is.
 * @return 0, SHARENA_ENOENT, SHARENA_EEXIST, SHARENA_EACCES, SHARENA_ELAYOUT,
 *         SHARENA_EUNSEALED, SHARENA_EINVAL, ...
 */
SHARENA_EXPORT int sharena_open(sharena_conn *c, const char *name,
                                const sharena_open_opts *opts,
                                sharena_arena **out);
/**
 * Who an arena belongs to and whether opening it created it, as the broker
 * said when this handle was opened (docs/security.md, "Names on a shared
 * broker"). Set @p out->size to sizeof(sharena_open_info) first: the struct
 * may grow, and only the first @p out->size bytes are written.
 */
typedef struct sharena_open_info {
    uint32_t size; /**< in: sizeof(sharena_open_info) */
    bool broker;   /**< opened through a broker (sharena_open()); false
                           for sharena_arena_create()/_from_fd(), whose
                           uid, gid and mode are the memfd's own */
    bool created;  /**< this open created the arena (for a handle from
                           sharena_arena_create(): true) */
    bool readonly; /**< mapped read-only */
    uint32_t uid;  /**< the arena's owner */
    uint32_t gid;
    uint32_t mode; /**< its access mode, like 0600 */
    /** the name that reaches this arena from any user: "UID:name" (plain
     * when that would be longer than SHARENA_NAME_MAX; "" when not opened
     * through a broker) */
    char name[SHARENA_NAME_MAX + 1];
} sharena_open_info;

/** Fill @p out (see sharena_open_info). Any thread; no broker round trip.
 * @return 0, or SHARENA_EINVAL (NULL, or @p out->size too small to hold
 *         even `created`). */
SHARENA_EXPORT int sharena_arena_open_info(const sharena_arena *a,
                                           sharena_open_info *out);

/**
 * Turn an arena name as a user writes it into the form the broker takes:
 * "name" stays as it is (the caller's own arena, or one the broker's policy
 * file shares under that name), "USER:name" (USER a login name or a uid)
 * becomes "UID:name". sharena_open() and the other calls taking a name do
 * this themselves; bindings use it to check a name early.
 * @return 0, SHARENA_EINVAL (not a name), SHARENA_ENOENT (no such user),
 *         SHARENA_ENAMETOOLONG (the result is over SHARENA_NAME_MAX bytes
 *         or does not fit @p cap).
 */
SHARENA_EXPORT int sharena_name_qualify(const char *name, char *buf,
                                        size_t cap);

/** The text of the last ERROR the broker sent to this thread, in reply to
 * any request ("" when the last request succeeded): it says more than the
 * code, e.g. whose an arena is when an OPEN with CREATE was refused.
 * @return never NULL.
 */
SHARENA_EXPORT const char *sharena_broker_message(void);

/** Unlink @p name from the broker; mappings stay valid until closed.
 * @return 0, SHARENA_EINVAL (NULL or not a name),
 *         SHARENA_ENAMETOOLONG, SHARENA_ENOENT (no such arena, or USER in
 *         "USER:name" unknown), SHARENA_EACCES (not the caller's, or not allowed on a
 *         delegated connection), SHARENA_ECONNREFUSED (the broker went
 *         away), SHARENA_ECLOSED, SHARENA_EPROTO, or a negative errno from
 *         the socket.
 */
SHARENA_EXPORT int sharena_delete(sharena_conn *c, const char *name);
/* ------------------------------------------------------------------------ */
/** @name Snapshots (snapshot.c; image format in docs/format.md)
 * An image is an arena's bytes (only its non-zero pages) with a header
 * (magic, image version, arena format version, layout hash, capacity) and a
 * checksum. @{ */

/** What sharena_save() did (for logs and measurements). */
typedef struct sharena_save_info {
    uint64_t bytes;       /**< arena bytes written (non-zero pages) */
    uint64_t runs;        /**< runs of pages */
    uint64_t image_bytes; /**< size of the image */
    uint64_t drain_ns;    /**< time to raise the barrier: writes begun
                               before it finishing */
    uint64_t barrier_ns;  /**< time writers were held off in all */
    uint64_t reserved[3];
} sharena_save_info;

/**
 * Write a consistent image of @p a to @p path: a temporary file in the same
 * directory, fsync, rename, fsync of the directory (an existing file is
 * replaced only by a complete image). The image is taken under the save
 * barrier: writers of this arena wait in their write (for about the time it
 * takes to write the image; docs/locking.md gives numbers), readers never
 * do. @p info may be NULL.
 * Errors: SHARENA_EROFS (a read-only handle cannot raise the barrier),
 * SHARENA_EBUSY (another save is running, a write did not finish within
 * 5 s, or a dead writer left an object half-written: run fsck --repair),
 * SHARENA_ENOSYS (no membarrier(2) in this kernel or sandbox), negative
 * errno of the file system. sharena_snapshot_message() says more.
 * Thread-safe; writers in this process wait like any other.
 */
SHARENA_EXPORT int sharena_save(sharena_arena *a, const char *path,
                                sharena_save_info *info);
/** As sharena_save(), to an open file descriptor (a pipe will do): no
 * temporary file, no fsync. */
SHARENA_EXPORT int sharena_save_fd(sharena_arena *a, int fd,
                                   sharena_save_info *info);
/**
 * Create arena @p name through the broker from the image at @p path. The
 * whole image is checked (header, versions, every run, checksum) before
 * anything is created; the arena is then created exclusively with the
 * image's capacity and @p opts->mode (opts may be NULL; opts->capacity must
 * be 0 or the image's; opts->flags may only hold SHARENA_READONLY, for the
 * handle returned), filled, given its own name and identity, every lock
 * word cleared, and checked with sharena_fsck() (no repair) as a hostile
 * arena would be: any problem and it is deleted again. On success *@p out
 * (if not NULL) is an open handle. On failure nothing is left behind.
 * Errors: SHARENA_ECORRUPT (not an image, truncated, checksum mismatch, or
 * fsck found problems), SHARENA_ELAYOUT (another image or arena format
 * version), SHARENA_EEXIST (the name is taken), errors of sharena_open()
 * and of reading the file. sharena_snapshot_message() says which.
 * Another client may open the name while it loads; it sees an arena being
 * filled (validated as any arena is).
 */
SHARENA_EXPORT int sharena_load(sharena_conn *c, const char *path,
                                const char *name, const sharena_open_opts *opts,
                                sharena_arena **out);
/** The last sharena_save()/sharena_load() failure of this thread in words
 * ("image checksum mismatch: the body is damaged"), or "". */
SHARENA_EXPORT const char *sharena_snapshot_message(void);
/** @} */

/** Ask the broker to exit: it stops accepting, answers OK, closes every
 * connection and removes its socket (and pidfile). Only the broker's own uid
 * (or root) may, and not over a delegated connection: SHARENA_EACCES. */
SHARENA_EXPORT int sharena_broker_shutdown(sharena_conn *c);

typedef struct sharena_arena_stat {
    char name[SHARENA_NAME_MAX + 1];
    uint64_t capacity;
    uint64_t used_bytes;
    uint64_t objects;
    uint32_t clients; /**< connections that have it open */
    uint32_t uid;     /**< owner */
    uint32_t gid;
    uint32_t mode;
    uint64_t created_ns;
    uint64_t reserved[4]; /**< for later fields (ABI); zeroed */
} sharena_arena_stat;

/** Describe one arena.
 * @return 0, SHARENA_EINVAL (NULL or not a name),
 *         SHARENA_ENAMETOOLONG, SHARENA_ENOENT (no such arena, or USER in
 *         "USER:name" unknown), SHARENA_EACCES (not visible to the caller),
 *         SHARENA_ECONNREFUSED (the broker went away), SHARENA_ECLOSED,
 *         SHARENA_EPROTO, or a negative errno from the socket.
 */
SHARENA_EXPORT int sharena_stat(sharena_conn *c, const char *name,
                                sharena_arena_stat *out);
/** Describe every arena this client may see: *out is malloc'd (free()).
 * @return 0, SHARENA_EINVAL (NULL), SHARENA_ENOMEM,
 *         SHARENA_ECONNREFUSED (the broker went away), SHARENA_ECLOSED,
 *         SHARENA_EPROTO, or a negative errno from the socket.
 */
SHARENA_EXPORT int sharena_list(sharena_conn *c, sharena_arena_stat **out,
                                size_t *n);
/** One connection that has an arena open, as reported by sharena_clients(). */
typedef struct sharena_client_info {
    uint32_t slot; /**< its client slot: the owner value of its locks */
    uint32_t pid;  /**< its process (kernel-checked at connect); 0 when it
                         is a delegated connection (the broker cannot know) */
    uint32_t uid;
    bool writable;        /**< it holds a read-write mapping (can own locks) */
    bool delegated;       /**< it came from sharena_delegate() */
    bool hidden;          /**< another user's connection: pid and uid withheld
                         (shown to root, the arena's owner and that user) */
    uint32_t reserved[4]; /**< for later fields (ABI); zeroed */
} sharena_client_info;

/**
 * List the connections that have arena @p name open, in slot order: which
 * process a lock owner's slot (sharena_lock_info.owner) belongs to. Visible
 * to whoever may see the arena (like sharena_stat()). *out is malloc'd
 * (free()); *n may be 0.
 * @return 0, SHARENA_ENOENT, SHARENA_EACCES, SHARENA_EPROTO, ...
 */
SHARENA_EXPORT int sharena_clients(sharena_conn *c, const char *name,
                                   sharena_client_info **out, size_t *n);
/**
 * Ask for a new, attenuated connection limited to @p names (read-only when
 * @p flags has SHARENA_READONLY) and receive its socket fd (CLOEXEC) in
 * *fd, to hand to a sandboxed child (`SHARENA_FD=N`). The connection lives
 * until every holder of the fd has closed it, however late its holder first
 * uses it (the broker's --hello-timeout does not apply to it), or until the
 * broker exits: then its holder gets SHARENA_EDROPPED.
 * @return 0, SHARENA_EINVAL (NULL, no names or too many, a flag
 *         other than SHARENA_READONLY), the name errors of
 *         sharena_name_qualify(), SHARENA_EACCES (a name this connection may
 *         not reach, or a delegated connection delegating again),
 *         SHARENA_ENOSPC (the broker's connection limit), SHARENA_ENOMEM,
 *         SHARENA_ECONNREFUSED (the broker went away), SHARENA_EDROPPED,
 *         SHARENA_ECLOSED, SHARENA_EPROTO, or a negative errno from the
 *         socket.
 */
SHARENA_EXPORT int sharena_delegate(sharena_conn *c, const char *const *names,
                                    size_t n, sharena_open_flags flags,
                                    int *fd);
/** @} */

/* ------------------------------------------------------------------------ */
/** @name Sandboxes (sandbox.c) @{ */

/**
 * Add to an application's own libseccomp filter (@p seccomp_ctx is a
 * `scmp_filter_ctx`) rules allowing exactly the system calls a sharena client
 * needs once connected and mapped: futex, mmap/munmap/madvise, sendmsg/
 * recvmsg/close/getsockopt/setsockopt on its broker socket, fcntl (seals,
 * dup), fstat, fallocate
 * (hole punching), getpid/kill with signal 0 (lock-owner liveness), clocks,
 * nanosleep and sched_yield. Documented in docs/security.md.
 * @return 0, SHARENA_EINVAL, a negative errno from libseccomp, or
 *         SHARENA_EPERM when the library was built without libseccomp.
 */
SHARENA_EXPORT int sharena_sandbox_allow(void *seccomp_ctx);
/** @} */

/* ------------------------------------------------------------------------ */
/** @name Utilities @{ */

/** True when @p s[0..len) is valid UTF-8 (no overlongs, no surrogates).
 * Errors: none (false for NULL with @p len > 0).
 */
SHARENA_EXPORT bool sharena_utf8_valid(const char *s, size_t len);
/** True when @p name is a valid arena or root name: 1..128 bytes of
 * `[A-Za-z0-9._-]`.
 * Errors: none (false for NULL).
 */
SHARENA_EXPORT bool sharena_name_valid(const char *name);
/** Parse a size as the CLI and the broker take it: decimal digits, then
 * optionally K, M, G or T (powers of 1024), optionally followed by "iB"
 * or "B" ("64M", "64MiB" and "64MB" are all 64 << 20). Nothing else: no
 * sign, no space, no fraction.
 * @return 0 with *out set; SHARENA_EINVAL (NULL, or not a size; *out
 *         untouched), SHARENA_ERANGE (above 2^64 - 1).
 */
SHARENA_EXPORT int sharena_parse_size(const char *s, uint64_t *out);
/** @} */

#ifdef __cplusplus
}
#endif
#endif /* SHARENA_H */
