/* views.c: zero-copy ArrayBuffers over bytes objects (BytesRef.buffer()),
 * and detaching them when their object goes away.
 *
 * A view points into the arena mapping. When its object is freed, the
 * allocator may hand those bytes to a new object, so a view left attached
 * would let JavaScript scribble over someone else's data. Every view this
 * process makes is on one process-wide list; after any operation of this
 * process that can free objects (drop, a map or vector entry overwritten or
 * removed, a root replaced or removed) the list is swept: a view whose
 * object is no longer a live bytes object is detached (length 0). A view
 * belongs to the environment (thread) that made it, and only that thread
 * may detach it: views of the sweeping thread are detached before the
 * operation returns, views of other worker_threads through a call posted
 * to their event loop. Frees made by other processes are not seen here
 * (docs/api-node.md states that contract).
 *
 * Each view holds a reference on its arena entry, so the mapping outlives
 * every ArrayBuffer over it: a detached or stale view never points at
 * unmapped memory. */
#include "sn.h"

#include <stdlib.h>

struct sn_view {
    uint32_t handle;
    sharena_id id;
    struct sn_env *e; /* owning environment; NULL once it is torn down */
    napi_ref ab;      /* weak reference to the ArrayBuffer */
    bool dead;        /* object freed or arena closed: detach (pending) */
    bool released;    /* its arena reference was given back at detach */
    struct sn_view *next;
};

/* Guards the list, each entry's fields and every env's views_tsfn. Never
 * held while taking sn_lock. */
static pthread_mutex_t views_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sn_view *views;
uint32_t sn_nviews; /* views alive, all arenas (atomic reads) */

static void detach(napi_env env, struct sn_view *v)
{
    napi_value ab;
    bool gone;
    if (!v->ab || napi_get_reference_value(env, v->ab, &ab) != napi_ok || !ab)
        return; /* already collected */
    if (napi_is_detached_arraybuffer(env, ab, &gone) == napi_ok && !gone &&
        napi_detach_arraybuffer(env, ab) != napi_ok)
        v->dead = true; /* (the env is going away: so is the buffer) */
}

static bool is_detached(napi_env env, struct sn_view *v)
{
    napi_value ab;
    bool gone = false;
    if (!v->ab || napi_get_reference_value(env, v->ab, &ab) != napi_ok || !ab)
        return true; /* collected */
    return napi_is_detached_arraybuffer(env, ab, &gone) == napi_ok && gone;
}

/* The ArrayBuffer was collected (on its env's thread). */
static void view_finalize(napi_env env, void *data, void *hint)
{
    struct sn_view *v = hint;
    pthread_mutex_lock(&views_mu);
    for (struct sn_view **pp = &views; *pp; pp = &(*pp)->next) {
        if (*pp == v) {
            *pp = v->next;
            break;
        }
    }
    if (v->id)
        __atomic_sub_fetch(&sn_nviews, 1, __ATOMIC_RELEASE);
    if (v->e && v->ab)
        (void)napi_delete_reference(env, v->ab); /* a finalizer: no one to
                                                   tell; it goes with the env */
    bool released = v->released;
    pthread_mutex_unlock(&views_mu);
    if (!released)
        sn_arena_unref(v->handle);
    free(v);
}

/* In env @p e's thread: detach its views marked dead by another thread. */
static void views_call_js(napi_env env, napi_value fn, void *ctx, void *data)
{
    struct sn_env *e = ctx;
    if (!env)
        return; /* the function is being torn down */
    pthread_mutex_lock(&views_mu);
    for (struct sn_view *v = views; v; v = v->next)
        if (v->e == e && v->dead)
            detach(env, v);
    pthread_mutex_unlock(&views_mu);
}

/* Runs before Node's own cleanup of the threadsafe function (hooks run in
 * reverse order of registration), so no other thread posts to it after. */
static void views_env_hook(void *arg)
{
    struct sn_env *e = arg;
    pthread_mutex_lock(&views_mu);
    napi_threadsafe_function f = e->views_tsfn;
    e->views_tsfn = NULL;
    pthread_mutex_unlock(&views_mu);
    if (f)
        (void)napi_release_threadsafe_function(f,
                                               napi_tsfn_abort); /* teardown */
}

static bool views_tsfn_make(napi_env env, struct sn_env *e)
{
    if (e->views_tsfn)
        return true;
    napi_value name;
    napi_threadsafe_function f;
    if (napi_create_string_utf8(env, "sharena.views", NAPI_AUTO_LENGTH,
                                &name) != napi_ok ||
        napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL,
                                        e, views_call_js, &f) != napi_ok)
        return false;
    /* never keeps the loop alive; the hook releases it before Node's own
     * cleanup (without the hook, no view can be made) */
    if (napi_unref_threadsafe_function(env, f) != napi_ok ||
        napi_add_env_cleanup_hook(env, views_env_hook, e) != napi_ok) {
        (void)napi_release_threadsafe_function(f, napi_tsfn_abort);
        return false;
    }
    pthread_mutex_lock(&views_mu);
    e->views_tsfn = f;
    pthread_mutex_unlock(&views_mu);
    return true;
}

/* Id 0 names the view of a whole mapping (sn_view_map); @p quiet: fail
 * without throwing (only N-API's own failures then throw). */
static napi_value view_make(napi_env env, struct sn_env *e, uint32_t handle,
                            sharena_id id, void *p, size_t n, bool quiet)
{
    struct sn_view *v = calloc(1, sizeof *v);
    if (!v || !views_tsfn_make(env, e)) {
        free(v);
        if (quiet)
            return NULL;
        return sn_throw_msg(env, "ENOMEM",
                            "BytesRef.buffer: out of memory; use "
                            "bytes.read() for a copy");
    }
    v->handle = handle;
    v->id = id;
    v->e = e;
    sn_arena_ref(handle);
    napi_value ab;
    if (napi_create_external_arraybuffer(env, p, n, view_finalize, v, &ab) !=
        napi_ok) {
        sn_arena_unref(handle);
        free(v);
        if (quiet) /* (e.g. no external buffers in this runtime) */
            return NULL;
        return sn_throw_msg(env, "ENOMEM",
                            "BytesRef.buffer: cannot make an external "
                            "ArrayBuffer; use bytes.read() for a copy");
    }
    /* From here the finalizer owns v: it unlinks it whenever it runs. A
     * view without its weak reference cannot be detached: none is handed
     * out (the ArrayBuffer is left to the collector). */
    if (napi_create_reference(env, ab, 0, &v->ab) != napi_ok) {
        v->ab = NULL;
        v->e = NULL; /* (the finalizer then frees it off the list) */
        pthread_mutex_lock(&views_mu);
        v->next = views;
        views = v;
        if (id) /* (mapping views need no sweep after frees) */
            __atomic_add_fetch(&sn_nviews, 1, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&views_mu);
        return sn_napi_fail(env);
    }
    pthread_mutex_lock(&views_mu);
    v->next = views;
    views = v;
    if (id)
        __atomic_add_fetch(&sn_nviews, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&views_mu);
    return ab;
}

napi_value sn_view_new(napi_env env, struct sn_env *e, uint32_t handle,
                       sharena_id id, void *p, size_t n)
{
    return view_make(env, e, handle, id, p, n, false);
}

napi_value sn_view_map(napi_env env, struct sn_env *e, uint32_t handle, void *p,
                       size_t n)
{
    return view_make(env, e, handle, 0, p, n, true);
}

void sn_views_sweep(struct sn_env *e, uint32_t handle, bool all)
{
    unsigned release = 0;
    pthread_mutex_lock(&views_mu);
    for (struct sn_view *v = views; v; v = v->next) {
        if (v->dead || !v->e || (all && v->handle != handle) ||
            (!all && v->id == 0))
            continue; /* (a mapping's view goes only with its arena) */
        /* Every view, not only those of @p handle: another handle (fromFd
         * of the same memfd) may map the same memory. Each is checked
         * through its own mapping, which its arena reference keeps. */
        const sharena_arena *va = __atomic_load_n(
            &sn_arenas[v->handle & (SN_MAX_ARENAS - 1)].a, __ATOMIC_ACQUIRE);
        if (!all && va && sharena_type_of(va, v->id) == SHARENA_T_BYTES)
            continue;
        v->dead = true;
        if (v->e == e) {
            detach(e->env, v);
            /* A mapping's view, detached here (close): V8 holds no
             * pointer into the mapping any more, so the arena reference
             * goes now, not when the collector gets to the buffer (the
             * arena closes at close(), as it did before such views). */
            if (!v->id && !v->released && is_detached(e->env, v)) {
                v->released = true;
                release++;
            }
        } else if (v->e->views_tsfn && napi_call_threadsafe_function(
                                           v->e->views_tsfn, NULL,
                                           napi_tsfn_nonblocking) != napi_ok) {
            /* closing: that env is going away, and its buffers with it */
        }
    }
    pthread_mutex_unlock(&views_mu);
    while (release--) /* (takes sn_lock: not under views_mu) */
        sn_arena_unref(handle);
}

void sn_views_env_gone(struct sn_env *e)
{
    pthread_mutex_lock(&views_mu);
    for (struct sn_view *v = views; v; v = v->next) {
        if (v->e != e)
            continue;
        if (v->ab) /* (the env is going: nothing to do on failure) */
            (void)napi_delete_reference(e->env, v->ab);
        v->ab = NULL;
        v->e = NULL;
    }
    pthread_mutex_unlock(&views_mu);
}
