/* sn.h: what the files of the Node addon share. The addon is a thin layer:
 * every rule about the arena lives in libsharena; this code converts values,
 * keeps a process-wide table of open arenas (so worker_threads share them)
 * and maps error codes to JavaScript Errors with a `code`. */
#ifndef SHARENA_NODE_SN_H
#define SHARENA_NODE_SN_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "sharena.h"

/* Arena handles given to JavaScript are small integers: table index in the
 * low SN_IDX_BITS bits, a generation above, so a handle of a closed arena
 * never reaches another arena that reused its entry. */
#define SN_IDX_BITS 12
#define SN_MAX_ARENAS (1u << SN_IDX_BITS)

/* One open arena. The default in-process arena is entry 0 and is shared by
 * every environment (main thread and workers) of the process; entries of
 * named arenas belong to the environment that opened them. `refs` counts the
 * JavaScript Arena (or, for the default arena, environments), zero-copy
 * buffers and watchers; the mapping goes away only when it reaches 0, so a
 * buffer never outlives its memory. */
struct sn_arena {
    sharena_arena *a; /* NULL when the entry is free */
    uint32_t gen;
    uint32_t refs;
    bool closed;    /* close() was called: operations fail with ECLOSED */
    bool asked_ro;  /* the caller asked for read-only (vs. was granted it) */
    uint8_t origin; /* SN_FROM_*: where the mapping came from (error hints) */
    struct sn_conn *conn;
};

enum { SN_FROM_DEFAULT, SN_FROM_BROKER, SN_FROM_FD };

/* Int32 scratch slots shared with JS: [0..3] side results of an operation,
 * [4..7] the fast-read state of the object just read (objects.c,
 * sn_fast_fill): counter index, counter, epoch index, epoch; [8..9] that of
 * the child a container lookup found: counter index, counter. */
#define SN_SCRATCH_INTS 12
#define SN_FAST 4
#define SN_FAST_CHILD 8
/* The JS view of a mapping covers at most this many bytes (a TypedArray
 * index must stay well inside what V8 addresses); objects whose counter
 * lies beyond it are read through the library every time. */
#define SN_FAST_VIEW_MAX (UINT64_C(1) << 30)

/* Per-environment state (napi instance data, also every function's data). */
struct sn_env {
    napi_env env;
    int32_t *scratch; /* Int32Array shared with JS: side results */
    double *fscratch; /* Float64Array shared with JS: side results */
    napi_ref scratch_ref, fscratch_ref;
    struct sn_watcher *watchers; /* watch.c */
    napi_ref dispatch;           /* JS function receiving watch events */
    napi_threadsafe_function views_tsfn; /* views.c: detach requests */
    uint32_t owned[64]; /* named arenas this env opened (handles) */
    unsigned nowned;
    /* Locks this env's thread holds through ref.locked() (objects.c): each
     * released at env teardown (a terminated worker), and close() of their
     * arena refused meanwhile. `depth` counts nested levels beyond the first. */
    struct sn_held {
        uint32_t handle;
        sharena_id id;
        uint32_t depth;
    } held[16];
    unsigned nheld;
    bool has_default;
};

extern struct sn_arena sn_arenas[SN_MAX_ARENAS];
extern pthread_mutex_t sn_lock;

/* Resolve a handle for an operation. On failure throws (ECLOSED / EINVAL)
 * and returns NULL. */
sharena_arena *sn_arena_get(napi_env env, napi_value v, uint32_t *handle);
/* Take / drop a reference on an entry (under sn_lock internally). */
void sn_arena_ref(uint32_t handle);
void sn_arena_unref(uint32_t handle);

/* Throw an Error with code = sharena_errname(err) and a message naming the
 * operation; returns NULL for `return sn_throw(...)`. */
napi_value sn_throw(napi_env env, int err, const char *op);
napi_value sn_throw_msg(napi_env env, const char *code, const char *msg);
/* sn_throw() for an operation on arena @p a: EROFS and EACCES messages
 * then say why the mapping is read-only (asked, granted, fd). */
napi_value sn_throw_arena(napi_env env, int err, const char *op,
                          const sharena_arena *a);
/* The hint appended to the library's message for @p err (never NULL). */
const char *sn_hint(int err);

/* Argument helpers: each throws and returns false on bad input. */
bool sn_get_id(napi_env env, napi_value v, sharena_id *out);
bool sn_get_u64(napi_env env, napi_value v, uint64_t *out);

/* A UTF-8 copy of a JS string: small ones on the stack. */
struct sn_str {
    char *p;
    size_t len;
    char buf[256];
};
bool sn_get_str(napi_env env, napi_value v, struct sn_str *s);
void sn_str_free(struct sn_str *s);

/* Values for JavaScript; NULL (with sn_napi_fail()) when N-API fails. */
napi_value sn_num(napi_env env, double d);
napi_value sn_id(napi_env env, sharena_id id);
napi_value sn_bool(napi_env env, bool b);
napi_value sn_undef(napi_env env);
napi_value sn_null(napi_env env);
napi_value sn_int(napi_env env, int32_t i);
napi_value sn_uint(napi_env env, uint32_t u);
napi_value sn_string(napi_env env, const char *p, size_t len);

/* Registration of each file's functions. */
struct sn_fn {
    const char *name;
    napi_callback cb;
};
extern const struct sn_fn sn_object_fns[];
extern const struct sn_fn sn_arena_fns[];
extern const struct sn_fn sn_watch_fns[];
extern const struct sn_fn sn_build_fns[]; /* build.c: the value builder */

/* views.c: zero-copy ArrayBuffers over bytes objects. Register one made in
 * env @p e (takes an arena reference until it is collected); sweep after an
 * operation that may have freed objects (views of freed objects, in any
 * arena handle, are detached: at once in env @p e, through a posted call in
 * other environments); with @p all, detach every view of arena @p handle
 * (close). */
napi_value sn_view_new(napi_env env, struct sn_env *e, uint32_t handle,
                       sharena_id id, void *p, size_t n);
void sn_views_sweep(struct sn_env *e, uint32_t handle, bool all);
/* A view of the first @p n bytes of arena @p handle's mapping, for fast
 * reads (detached at close like the others, never by a sweep of frees);
 * NULL without throwing when none can be made. */
napi_value sn_view_map(napi_env env, struct sn_env *e, uint32_t handle, void *p,
                       size_t n);
extern uint32_t sn_nviews;
static inline void sn_views_after_free(struct sn_env *e, uint32_t handle)
{
    if (__atomic_load_n(&sn_nviews, __ATOMIC_ACQUIRE))
        sn_views_sweep(e, handle, false);
}
/* Env teardown: views of @p e are forgotten (their ArrayBuffers die with
 * the environment); no detach request reaches @p e afterwards. */
void sn_views_env_gone(struct sn_env *e);

/* objects.c: release every lock env @p e's thread holds through
 * ref.locked() (env teardown, on that thread); count those on arena
 * @p handle (close refuses while there are any). */
void sn_locks_release_env(struct sn_env *e);
unsigned sn_locks_on(const struct sn_env *e, uint32_t handle);

/* watch.c: stop every watcher of @p env (env teardown), or those of one
 * arena handle (arena close: pending waits fail with ECLOSED). */
void sn_watch_stop_env(struct sn_env *e);
void sn_watch_stop_arena(struct sn_env *e, uint32_t handle);

/* N-API statuses. Every call's status is checked: a call that fails leaves
 * its out-parameter unset, and using it crashes the process. The common
 * failure is napi_pending_exception while a worker_thread is being
 * terminated (every later call fails too); the rule is then to return NULL
 * at once, which Node turns into the pending exception, or into nothing
 * for a thread that is going away. sn_napi_fail() throws an Error (code
 * ENAPI) when no exception is pending yet, and returns NULL. The one status
 * left unchecked is a throw's (napi_throw_*): it fails only when an
 * exception is pending already, which is then the one thrown. */
napi_value sn_napi_fail(napi_env env);
#define SN_TRY(call)                                                           \
    do {                                                                       \
        if ((call) != napi_ok)                                                 \
            return sn_napi_fail(env);                                          \
    } while (0)

#define SN_ARGS(n)                                                             \
    size_t argc = (n);                                                         \
    napi_value argv[(n) > 0 ? (n) : 1];                                        \
    void *cbdata;                                                              \
    SN_TRY(napi_get_cb_info(env, info, &argc, argv, NULL, &cbdata));           \
    (void)cbdata

#endif
