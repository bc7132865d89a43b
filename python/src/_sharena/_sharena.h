/* _sharena.h: what the files of the sharena._sharena extension share.
 *
 * The extension is a thin layer over libsharena (compiled into it from the
 * same sources as lib/): arena handles, typed views that hold an object id,
 * and conversions between Python values and arena objects. Every rule about
 * the arena lives in the C library; this code only translates.
 *
 * Thread and lifetime rules (the reason for most of the bookkeeping here):
 * - Every call that can block (all writes take a futex lock; broker round
 *   trips; waits) runs with the GIL released. Such a call counts itself in
 *   the arena's `users` while it runs, so that close() can wait for it
 *   before unmapping. Reads are seqlock reads that do not block and keep
 *   the GIL (they are the fast path: ~100 ns).
 * - Arena.close() marks the arena closing (every later use raises
 *   ClosedError), waits until `users` drops to 0, then unmaps. Waits, and
 *   lock waits (sh_lock_wait), sleep in slices of SH_WAIT_SLICE_NS so that
 *   they notice a close, and handle signals (Ctrl-C), within a slice.
 * - Locks taken by `with view.locked()` are counted in `locks_held`; close()
 *   refuses (BusyError) while any is held, so that a lock is never released
 *   under the thread that holds it, nor kept after the arena is gone.
 * - After fork() the child has one thread: `users` and `locks_held` are
 *   reset (sharena/__init__.py calls _after_fork() in the child).
 * - Buffers exported by Bytes views keep the mapping alive: a close while
 *   some memoryview is still exported unmaps when the last one is released.
 */
#ifndef SHARENA_PY_H
#define SHARENA_PY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>
#include <stdint.h>

#include "sharena.h"

#if PY_VERSION_HEX < 0x030A0000
static inline PyObject *sh_newref(PyObject *o)
{
    Py_INCREF(o);
    return o;
}
#define Py_NewRef(o) sh_newref((PyObject *)(o))
#endif

/* How long one wait sleeps before re-checking for close() and signals. */
#define SH_WAIT_SLICE_NS (50LL * 1000 * 1000)

/* ---- objects --------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD sharena_conn *c;
    PyObject *path; /* str, or None for the default socket */
    PyObject *weakrefs;
} ConnObject;

typedef struct {
    PyObject_HEAD sharena_arena *a; /* NULL once closed */
    PyObject *conn;                 /* ConnObject or NULL (local arenas) */
    PyObject *name;                 /* str */
    PyObject *socket;               /* str or None */
    int readonly;
    int closing;        /* set under the GIL; read without it by waits */
    int users;          /* atomic: calls running without the GIL */
    int locks_held;     /* view._lock()s not yet _unlock()ed (GIL) */
    Py_ssize_t exports; /* buffers exported by its Bytes views */
    PyObject *exported; /* dict: bytes id -> buffers exported (exports.c) */
    PyObject *weakrefs;
    sharena_open_info origin; /* what the open said: created, owner, mode */
} ArenaObject;

/* Every view (Map, Vector, Bytes, Struct, Shape) and Ref. */
typedef struct {
    PyObject_HEAD ArenaObject *arena;
    sharena_id id;
    uint64_t version;   /* Ref: version last seen (wait() starts here) */
    Py_ssize_t exports; /* Bytes: buffers exported from this view */
} ViewObject;

typedef enum {
    SH_K_MAP,
    SH_K_VECTOR,
    SH_K_BYTES,
    SH_K_STRUCT,
    SH_K_SHAPE,
    SH_K_REF,
    SH_K__COUNT
} sh_kind;

extern PyTypeObject ShConnType;
extern PyTypeObject ShArenaType;
extern PyTypeObject ShViewType;
extern PyTypeObject ShMapType;
extern PyTypeObject ShVectorType;
extern PyTypeObject ShBytesType;
extern PyTypeObject ShStructType;
extern PyTypeObject ShShapeType;
extern PyTypeObject ShRefType;
extern PyTypeObject ShMapIterType;

/* The classes instances are made of: the Python layer registers its
 * subclasses (Map(MapBase, MutableMapping), ...) with _register(). */
extern PyTypeObject *sh_classes[SH_K__COUNT];

/* ---- errors (errors.c) ---------------------------------------------------- */

/* What a failed call was about, for the exception class and message. */
typedef enum {
    SH_W_NONE = 0,
    SH_W_KEY,   /* a map key: ENOENT -> KeyNotFoundError(key) */
    SH_W_ROOT,  /* a root name: ENOENT -> KeyNotFoundError(name) */
    SH_W_ARENA, /* an arena name: ENOENT -> ArenaNotFoundError */
    SH_W_INDEX, /* a vector index: ERANGE -> IndexError subclass */
    SH_W_ADD,   /* an add: EOVERFLOW with detail (value, delta) */
    SH_W_ENTRY, /* a map key whose value was dropped: ESTALE */
    SH_W_LOCKS, /* close() with locks held: EBUSY with their number */
} sh_what;

/* Raise the exception for sharena error @p code (negative); @p detail (may
 * be NULL) is the key, name or index concerned. Returns NULL. */
PyObject *sh_raise(int code, sh_what what, PyObject *detail);
PyObject *sh_raise_closed(void);
int sh_errors_init(PyObject *module);
PyObject *sh_set_error_factory(PyObject *self, PyObject *factory);

/* ---- arenas (arena.c) ---------------------------------------------------- */

/* 0 if the arena can be used, else raises ClosedError and returns -1. */
static inline int sh_arena_ok(ArenaObject *ar)
{
    if (__builtin_expect(ar->a == NULL || ar->closing, 0)) {
        sh_raise_closed();
        return -1;
    }
    return 0;
}

/* Bracket a call that runs without the GIL (see the top of this file). */
static inline int sh_enter(ArenaObject *ar)
{
    if (sh_arena_ok(ar) < 0)
        return -1;
    __atomic_add_fetch(&ar->users, 1, __ATOMIC_ACQ_REL);
    return 0;
}
static inline void sh_leave(ArenaObject *ar)
{
    __atomic_sub_fetch(&ar->users, 1, __ATOMIC_ACQ_REL);
}

/* Take object @p id's lock, for a caller counted as a user (sh_enter),
 * waiting in slices without the GIL: a close() fails it with ClosedError
 * (a lock taken just as close() began is given back), a signal runs its
 * handler (KeyboardInterrupt...). 0 with the lock held, 1 when this thread
 * holds it already (SHARENA_EDEADLK), -1 with an exception. */
int sh_lock_wait(ArenaObject *ar, sharena_id id, bool nested);

/* Run STMT (which sets `r`) without the GIL, counted as a user. Evaluates
 * to -1 with ClosedError raised when the arena is closed. */
#define SH_UNLOCKED(ar, STMT)                                                  \
    (sh_enter(ar) < 0 ? -1 : ({                                                \
        Py_BEGIN_ALLOW_THREADS                                                 \
        STMT;                                                                  \
        Py_END_ALLOW_THREADS                                                   \
        sh_leave(ar);                                                          \
        0;                                                                     \
    }))

/* A multi-step operation under object @p id's lock (map_view.c): one user
 * of the arena from sh_lock_op() to sh_unlock_op(); the lock is waited for
 * with sh_lock_wait(), and a lock this thread holds already (inside `with
 * view.locked()`) is reused (*took false). -1 with an exception. */
int sh_lock_op(ArenaObject *ar, sharena_id id, bool *took);
void sh_unlock_op(ArenaObject *ar, sharena_id id, bool took);

/* SH_UNLOCKED for a write to object @p id: its lock is taken first with
 * sh_lock_wait(), so that waiting for a lock another process holds stays
 * interruptible (signals) and ends on close(); STMT then runs nested under
 * it. Evaluates to -1 with an exception raised when the lock was not
 * taken. */
#define SH_WRITE(ar, id, STMT)                                                 \
    ({                                                                         \
        bool took_;                                                            \
        sh_lock_op(ar, id, &took_) < 0 ? -1 : ({                               \
            Py_BEGIN_ALLOW_THREADS                                             \
            STMT;                                                              \
            Py_END_ALLOW_THREADS                                               \
            sh_unlock_op(ar, id, took_);                                       \
            0;                                                                 \
        });                                                                    \
    })

void sh_arena_release_export(ArenaObject *ar);

/* ---- exported buffers (exports.c) -------------------------------------------
 * Each check returns 0 when the operation frees no buffer this process has
 * exported, else raises BufferError and returns -1. Cheap (one test) while
 * nothing is exported. */
int sh_export_add(ArenaObject *ar, sharena_id id);
void sh_export_remove(ArenaObject *ar, sharena_id id);
/* Dropping @p id (what it owns; every child if @p all). */
int sh_check_free(ArenaObject *ar, sharena_id id, bool all);
/* Removing every child of container @p id (clear()). */
int sh_check_free_children(ArenaObject *ar, sharena_id id);
/* Removing or replacing the value at a map key / vector index / root. */
int sh_check_free_key(ArenaObject *ar, sharena_id map, const char *k,
                      size_t klen);
int sh_check_free_index(ArenaObject *ar, sharena_id vec, uint64_t i);
int sh_check_free_root(ArenaObject *ar, const char *name);

/* ---- values (convert.c) ---------------------------------------------------- */

/* A view of kind @p k on object @p id. */
PyObject *sh_view_new(ArenaObject *ar, sh_kind k, sharena_id id);
/* The Python value of object @p id: str, float, bool, or a view for
 * containers. On a sharena error returns NULL with *err set and NO Python
 * exception; on a Python error returns NULL with *err = 0 and the
 * exception set. */
PyObject *sh_value(ArenaObject *ar, sharena_id id, int *err);
/* What sh_read() reads: object @p id itself, the value at key @p k of
 * map @p id, or item @p index of vector @p id. */
typedef enum { SH_READ_ID, SH_READ_KEY, SH_READ_INDEX } sh_read_kind;
/* One consistent typed read through lib/ (sharena_value_read and its map
 * and vector forms, which look an entry up again when its value is
 * replaced meanwhile), as sh_value() returns it: on a sharena error NULL
 * with *err set and no Python exception (SHARENA_ENOENT: no such key;
 * SHARENA_ERANGE: no such index; SHARENA_ESTALE: the container, or the
 * object its entry names, was dropped). */
/* A buffer that starts on the stack and grows on the heap. */
typedef struct sh_buf {
    char *p;
    size_t cap;
    char stack[256];
} sh_buf;
static inline void sh_buf_init(sh_buf *b)
{
    b->p = b->stack;
    b->cap = sizeof b->stack;
}
static inline void sh_buf_free(sh_buf *b)
{
    if (b->p != b->stack)
        free(b->p);
    sh_buf_init(b);
}
/* The entry of map @p map at *cursor as sharena_map_next_value() reads it
 * (no value is given an id), making room in @p key and @p text as needed.
 * Returns 0 (the cursor advanced), a sharena error (SHARENA_ENOENT: the
 * end) with no Python exception, or SH_PYERR with one set. */
#define SH_PYERR 1
int sh_next_value(ArenaObject *ar, sharena_id map, uint64_t *cursor,
                  sh_buf *key, size_t *klen, sh_buf *text, sharena_value *v);
/* A value sh_next_value() read, as sh_value() returns it. */
PyObject *sh_from_value(ArenaObject *ar, const sharena_value *v,
                        const char *text, int *err);
PyObject *sh_read(ArenaObject *ar, sh_read_kind kind, sharena_id id,
                  const char *k, size_t klen, uint64_t index, int *err);
/* As sh_value() but raising on every error. */
PyObject *sh_value_or_raise(ArenaObject *ar, sharena_id id);
/* A plain, deep Python copy: dict, list, bytes, str, float, bool; structs
 * become dicts. Raises on error. */
PyObject *sh_to_python(ArenaObject *ar, sharena_id id);
int sh_check_not_self(ViewObject *c, PyObject *o);

/* Store @p o as an arena object: *id receives it and *owned whether the
 * container it goes into should own it (plain values: yes; views of this
 * arena: no, they stay whoever's they were). Raises and returns -1 on
 * error, leaving nothing behind. Runs writes without the GIL. */
int sh_store(ArenaObject *ar, PyObject *o, sharena_id *id, bool *owned);
/* The value builder (sharena_build_*, convert.c). sh_build_begin() raises
 * on failure, else counts a user of the arena (sh_enter) until the build
 * ends: sh_build_abort(), or a commit call followed by sh_leave().
 * sh_build_item() adds @p o (after @p key, when not NULL) with its whole
 * tree, -1 with an exception (the builder then only wants
 * sh_build_abort(), which drops all it made and keeps the exception). */
int sh_build_begin(ArenaObject *ar, sharena_builder **b);
int sh_build_item(ArenaObject *ar, sharena_builder *b, PyObject *key,
                  PyObject *o);
void sh_build_abort(ArenaObject *ar, sharena_builder *b);
/* -1 with ValueError when owned=False (@p own == 0) comes with a plain
 * value: the object stored for it would have no owner at all. */
int sh_check_unowned(PyObject *o, int own, const char *where);
/* After the value @p *v at map key @p k was found dropped (ESTALE): 1 when
 * the key now holds another object (*v updated: read again), 0 when the key
 * is gone, -1 with StaleRefError raised when the entry still names the
 * dropped object (a dangling entry: its key is listed, its value cannot be
 * read). @p key may be NULL (decoded from @p k for the message). */
int sh_map_recheck(ArenaObject *ar, sharena_id map, const char *k, size_t klen,
                   PyObject *key, sharena_id *v);
/* Drop an object made by sh_store() after a failed insertion. */
void sh_discard(ArenaObject *ar, sharena_id id);

/* A Python int or float (or a numpy scalar) as a double: ints must be
 * exact (|v| <= 2**53, else ValueTooLargeError); complex numbers are
 * refused. *integer tells whether it was an int. Returns -1 with an
 * exception. */
int sh_as_number(PyObject *o, double *out, bool *integer);
int sh_as_double(PyObject *o, double *out);
/* True/False or a numpy bool; TypeError for anything else. */
int sh_as_bool(PyObject *o, bool *out);

/* Numeric scalars that also export a (0-d) buffer: numpy scalars and 0-d
 * arrays. They are stored as numbers and bools, not as Bytes. */
typedef enum {
    SH_SCALAR_NONE = 0,
    SH_SCALAR_BOOL,
    SH_SCALAR_INT,
    SH_SCALAR_FLOAT,
    SH_SCALAR_COMPLEX,
} sh_scalar;
sh_scalar sh_scalar_kind(PyObject *o);

/* Text read from the arena (a string, key or field name) as a str. The
 * library validates UTF-8 when text is written, so bytes that do not decode
 * were scribbled over by some process: EncodingError (EILSEQ; a sharena
 * Error and a UnicodeError, its __cause__ the UnicodeDecodeError), never a
 * bare UnicodeDecodeError. */
PyObject *sh_arena_text(const char *s, size_t len);

/* Key of a map as UTF-8; raises TypeError for non-str. */
static inline const char *sh_key(PyObject *key, Py_ssize_t *len)
{
    if (!PyUnicode_Check(key)) {
        PyErr_Format(PyExc_TypeError, "sharena map keys are str, not %.100s",
                     Py_TYPE(key)->tp_name);
        return NULL;
    }
    return PyUnicode_AsUTF8AndSize(key, len);
}

/* Atomically add @p delta to number @p id; *res receives the new value.
 * With @p integer (an int delta) the sum must be exact and within 2**53,
 * else SHARENA_EOVERFLOW with *res = the value found (nothing changes).
 * Call without the GIL. */
int sh_number_add(sharena_arena *a, sharena_id id, double delta, bool integer,
                  double *res);
/* Raise the error of a failed sh_number_add(). */
PyObject *sh_raise_add(int code, double value, double delta);

int sh_views_init(PyObject *module);

/* ---- asyncio change notifications (notifier.c) ---------------------------- */
int sh_notifier_init(PyObject *module);
PyObject *sh_notifier_open(ArenaObject *ar, PyObject *unused);
PyObject *sh_waitset_open(ArenaObject *ar, PyObject *unused);
PyObject *sh_ref_poll(ViewObject *v, PyObject *unused);
int sh_arena_init(PyObject *module);

#endif
