/* watch.c: change notifications for JavaScript without blocking the event
 * loop. Each environment gets one helper thread per arena it watches. The
 * thread sleeps in sharena_wait_any() on the arena-wide change counter (a
 * futex in the shared mapping, so writers in any process wake it), then
 * compares the versions of the objects it watches and posts what changed to
 * JavaScript through a napi_threadsafe_function.
 *
 * The thread waits on a private mapping of the same memfd. Stopping it is
 * sharena__wake_closing() on that mapping: the wait returns SHARENA_ECLOSED
 * at once, the thread exits, and we join it; no polling, no signals.
 *
 * Teardown order matters: Node finalises a threadsafe function in its own
 * env cleanup hook. Each watcher registers its cleanup hook after creating
 * its function, so ours runs first (hooks run in reverse order) and the
 * thread is joined before the function can go away. */
#include "sn.h"

#include "internal.h" /* sharena__wake_closing() */

#include <stdlib.h>

struct sn_wentry {
    uint32_t token;
    sharena_id id; /* 0: anything in the arena changed */
    uint64_t last;
    bool once; /* a changed() promise, not a watch() subscription */
    bool keep; /* keeps the event loop alive */
    struct sn_wentry *next;
};

struct sn_watcher {
    struct sn_env *e;
    uint32_t handle;
    sharena_arena *priv; /* this thread's own mapping of the arena */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    struct sn_wentry *list;
    unsigned nkeep;
    bool refd; /* tsfn ref'd (touched on the JS thread only) */
    napi_threadsafe_function tsfn;
    struct sn_watcher *next;
};

struct sn_event {
    uint32_t token;
    int code;
    double version;
};

static uint32_t next_token = 1;

/* JS thread: deliver one event, then ref/unref the loop as needed. */
static void call_js(napi_env env, napi_value fn, void *ctx, void *data)
{
    struct sn_event *ev = data;
    struct sn_watcher *w = ctx;
    if (env && fn) {
        napi_value args[3], recv, res;
        napi_create_uint32(env, ev->token, &args[0]);
        napi_create_int32(env, ev->code, &args[1]);
        napi_create_double(env, ev->version, &args[2]);
        napi_get_undefined(env, &recv);
        if (napi_call_function(env, recv, fn, 3, args, &res) ==
            napi_pending_exception) {
            napi_value exc;
            napi_get_and_clear_last_exception(env, &exc);
            napi_fatal_exception(env, exc);
        }
        pthread_mutex_lock(&w->mu);
        bool want = w->nkeep > 0 && !w->stop;
        pthread_mutex_unlock(&w->mu);
        if (want != w->refd) {
            if (want)
                napi_ref_threadsafe_function(env, w->tsfn);
            else
                napi_unref_threadsafe_function(env, w->tsfn);
            w->refd = want;
        }
    }
    free(ev);
}

static void post(struct sn_watcher *w, uint32_t token, int code, double v)
{
    struct sn_event *ev = malloc(sizeof *ev);
    if (!ev)
        return;
    ev->token = token;
    ev->code = code;
    ev->version = v;
    if (napi_call_threadsafe_function(w->tsfn, ev, napi_tsfn_nonblocking) !=
        napi_ok)
        free(ev);
}

static void remove_entry_locked(struct sn_watcher *w, struct sn_wentry **pp)
{
    struct sn_wentry *x = *pp;
    *pp = x->next;
    if (x->keep)
        w->nkeep--;
    free(x);
}

/* Compare every watched version with the last one reported. */
static void scan_locked(struct sn_watcher *w, uint64_t arena_version)
{
    for (struct sn_wentry **pp = &w->list; *pp;) {
        struct sn_wentry *x = *pp;
        uint64_t v = arena_version;
        int r = x->id ? sharena_version(w->priv, x->id, &v) : 0;
        if (r < 0) {
            post(w, x->token, r, 0);
            remove_entry_locked(w, pp);
            continue;
        }
        if ((v & 1 && x->id) || v == x->last) { /* unchanged or mid-write */
            pp = &x->next;
            continue;
        }
        post(w, x->token, 0, (double)v);
        if (x->once) {
            remove_entry_locked(w, pp);
            continue;
        }
        x->last = v;
        pp = &x->next;
    }
}

static void *watch_thread(void *arg)
{
    struct sn_watcher *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->stop && !w->list)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->stop)
            break;
        /* Read the arena version before the scan: a write after the scan
         * changes it, so the wait below cannot miss it. */
        uint64_t av = 0;
        sharena_arena_version(w->priv, &av);
        scan_locked(w, av);
        bool idle = !w->list;
        pthread_mutex_unlock(&w->mu);
        int r = idle ? 0 : sharena_wait_any(w->priv, av, -1, NULL);
        pthread_mutex_lock(&w->mu);
        if (r == SHARENA_ECLOSED)
            break;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Stop and join the thread; free the entries; unlink from the env. */
static void watcher_shutdown(struct sn_watcher *w)
{
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    sharena__wake_closing(w->priv);
    pthread_join(w->thread, NULL);
    sharena_arena_close(w->priv);
    w->priv = NULL;
    while (w->list)
        remove_entry_locked(w, &w->list);
    for (struct sn_watcher **pp = &w->e->watchers; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
}

static void watcher_env_hook(void *arg)
{
    watcher_shutdown(arg); /* Node finalises the tsfn right after */
}

static void watcher_finalize(napi_env env, void *data, void *hint)
{
    struct sn_watcher *w = data;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}

static void watcher_stop(struct sn_watcher *w)
{
    napi_env env = w->e->env;
    napi_remove_env_cleanup_hook(env, watcher_env_hook, w);
    watcher_shutdown(w);
    napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
}

void sn_watch_stop_arena(struct sn_env *e, uint32_t handle)
{
    for (struct sn_watcher *w = e->watchers, *next; w; w = next) {
        next = w->next;
        if (w->handle == handle)
            watcher_stop(w);
    }
}

void sn_watch_stop_env(struct sn_env *e)
{
    while (e->watchers)
        watcher_stop(e->watchers);
}

static struct sn_watcher *watcher_get(napi_env env, struct sn_env *e,
                                      sharena_arena *a, uint32_t handle)
{
    for (struct sn_watcher *w = e->watchers; w; w = w->next)
        if (w->handle == handle)
            return w;
    if (!e->dispatch) {
        sn_throw_msg(env, "EINVAL", "watch: not initialised");
        return NULL;
    }
    struct sn_watcher *w = calloc(1, sizeof *w);
    if (!w) {
        sn_throw(env, SHARENA_ENOMEM, "watch");
        return NULL;
    }
    w->e = e;
    w->handle = handle;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    int r = sharena_arena_from_fd(sharena_arena_fd(a),
                                  sharena_arena_readonly(a) ? SHARENA_READONLY
                                                            : 0,
                                  &w->priv);
    if (r < 0) {
        free(w);
        sn_throw(env, r, "watch");
        return NULL;
    }
    napi_value fn, name;
    napi_get_reference_value(env, e->dispatch, &fn);
    napi_create_string_utf8(env, "sharena.watch", NAPI_AUTO_LENGTH, &name);
    if (napi_create_threadsafe_function(env, fn, NULL, name, 0, 1, w,
                                        watcher_finalize, w, call_js,
                                        &w->tsfn) != napi_ok) {
        sharena_arena_close(w->priv);
        free(w);
        sn_throw_msg(env, "ENOMEM", "watch: cannot create a threadsafe "
                                    "function");
        return NULL;
    }
    napi_unref_threadsafe_function(env, w->tsfn);
    if (pthread_create(&w->thread, NULL, watch_thread, w) != 0) {
        sharena_arena_close(w->priv);
        napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
        sn_throw(env, SHARENA_EAGAIN, "watch: cannot start a thread");
        return NULL;
    }
    napi_add_env_cleanup_hook(env, watcher_env_hook, w);
    w->next = e->watchers;
    e->watchers = w;
    return w;
}

/* watchInit(dispatch(token, code, version)) */
static napi_value js_watch_init(napi_env env, napi_callback_info info)
{
    SN_ARGS(1);
    struct sn_env *e = cbdata;
    if (e->dispatch)
        napi_delete_reference(env, e->dispatch);
    napi_create_reference(env, argv[0], 1, &e->dispatch);
    return sn_undef(env);
}

/* watchAdd(h, id (0 = arena), last (-1 = current), once, keepAlive)
 * -> token. The current version is read here, on the caller's thread, so a
 * change made after this call is never missed. */
static napi_value js_watch_add(napi_env env, napi_callback_info info)
{
    SN_ARGS(5);
    struct sn_env *e = cbdata;
    uint32_t handle;
    sharena_arena *a = sn_arena_get(env, argv[0], &handle);
    if (!a)
        return NULL;
    double idd, lastd;
    napi_get_value_double(env, argv[1], &idd);
    napi_get_value_double(env, argv[2], &lastd);
    sharena_id id = 0;
    if (idd != 0 && !sn_get_id(env, argv[1], &id))
        return NULL;
    uint64_t last;
    int r = id ? sharena_version(a, id, &last) : sharena_arena_version(a, &last);
    if (r < 0)
        return sn_throw(env, r, id ? "changed" : "arena.watch");
    uint64_t cur = last;
    if (lastd >= 0)
        last = (uint64_t)lastd;
    bool once = false, keep = false;
    napi_get_value_bool(env, argv[3], &once);
    napi_get_value_bool(env, argv[4], &keep);
    struct sn_watcher *w = watcher_get(env, e, a, handle);
    if (!w)
        return NULL;
    struct sn_wentry *x = calloc(1, sizeof *x);
    if (!x)
        return sn_throw(env, SHARENA_ENOMEM, "watch");
    do
        x->token = __atomic_fetch_add(&next_token, 1, __ATOMIC_RELAXED);
    while (!x->token);
    x->id = id;
    x->last = last;
    x->once = once;
    x->keep = keep;
    if (cur != last) {
        /* Changed since the version the caller gave: the watcher thread may
         * be asleep on the arena's counter and no further write need come,
         * so report it now (delivered after this call returns). */
        post(w, x->token, 0, (double)cur);
        if (once) {
            napi_value t;
            napi_create_uint32(env, x->token, &t);
            free(x);
            return t;
        }
        x->last = cur;
    }
    /* Once the entry is on the list the watcher thread may report it and
     * free it at any moment: nothing below may touch x. */
    uint32_t token = x->token;
    pthread_mutex_lock(&w->mu);
    x->next = w->list;
    w->list = x;
    if (keep)
        w->nkeep++;
    bool want = w->nkeep > 0;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (want && !w->refd) {
        napi_ref_threadsafe_function(env, w->tsfn);
        w->refd = true;
    }
    napi_value t;
    napi_create_uint32(env, token, &t);
    return t;
}

/* watchRemove(h, token) -> whether it was still registered */
static napi_value js_watch_remove(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    struct sn_env *e = cbdata;
    uint32_t h, token;
    napi_get_value_uint32(env, argv[0], &h);
    napi_get_value_uint32(env, argv[1], &token);
    bool found = false;
    for (struct sn_watcher *w = e->watchers; w; w = w->next) {
        if (w->handle != h)
            continue;
        pthread_mutex_lock(&w->mu);
        for (struct sn_wentry **pp = &w->list; *pp; pp = &(*pp)->next) {
            if ((*pp)->token == token) {
                remove_entry_locked(w, pp);
                found = true;
                break;
            }
        }
        bool want = w->nkeep > 0;
        pthread_mutex_unlock(&w->mu);
        if (!want && w->refd) {
            napi_unref_threadsafe_function(env, w->tsfn);
            w->refd = false;
        }
    }
    return sn_bool(env, found);
}

const struct sn_fn sn_watch_fns[] = {
    {"watchInit", js_watch_init},
    {"watchAdd", js_watch_add},
    {"watchRemove", js_watch_remove},
    {NULL, NULL},
};
