/* watch.c: change notifications for JavaScript without blocking the event
 * loop. Each environment gets one watcher per arena it watches, with a
 * private mapping of the arena's memfd. The watcher compares the versions
 * of the objects it watches whenever the arena-wide change counter moves
 * and hands what changed to the JavaScript dispatcher. It waits in one of
 * two ways:
 *
 * - Poll mode (sharena_notifier_open() works: Linux 6.7+, a writable
 *   arena): the notifier's eventfd is a uv_poll_t on the environment's
 *   loop. A writer's FUTEX_WAKE completes the notifier's io_uring futex
 *   wait and the loop wakes directly: one wake-up, no thread. Everything
 *   runs on the JavaScript thread; events go out through napi_make_callback.
 *   The handles are closed asynchronously, so teardown uses an async
 *   cleanup hook that Node waits for before it closes the loop.
 *
 * - Thread mode (the fallback: older kernels, sandboxes, read-only arenas,
 *   SHARENA_NO_IO_URING=1): a helper thread sleeps in sharena_wait_any() and
 *   posts to JavaScript through a napi_threadsafe_function. Stopping it is
 *   sharena_arena_cancel_waits() on its private mapping: the wait returns
 *   SHARENA_ECLOSED at once, the thread exits, and we join it. Node
 *   finalises a threadsafe function in its own env cleanup hook; each
 *   watcher registers its cleanup hook after creating its function, so ours
 *   runs first (hooks run in reverse order) and the thread is joined before
 *   the function can go away. */
#include "sn.h"

#include <stdlib.h>
#include <uv.h>

struct sn_wentry {
    uint32_t token;
    sharena_id id; /* 0: anything in the arena changed */
    uint64_t last;
    bool once; /* a changed() promise, not a watch() subscription */
    bool keep; /* keeps the event loop alive */
    struct sn_wentry *next;
};

struct sn_event {
    uint32_t token;
    int code;
    double version;
};

/* Events found by one scan in poll mode, delivered after the scan. */
struct sn_evbuf {
    struct sn_event *ev;
    size_t n, cap;
};

struct sn_watcher {
    struct sn_env *e;
    uint32_t handle;
    sharena_arena *priv; /* the watcher's own mapping of the arena */
    pthread_mutex_t mu;  /* list, nkeep, stop (thread mode: vs the thread) */
    bool stop;
    struct sn_wentry *list;
    unsigned nkeep;
    bool refd; /* keeping the loop alive (touched on the JS thread only) */
    struct sn_watcher *next;
    /* thread mode */
    pthread_t thread;
    pthread_cond_t cv;
    napi_threadsafe_function tsfn;
    /* poll mode (notif != NULL); JS thread only */
    sharena_notifier *notif;
    uint32_t seen;   /* arena version the last scan covered */
    uv_poll_t poll;  /* the notifier's fd */
    uv_timer_t kick; /* a scan soon, for changes found in watchAdd */
    unsigned open_handles;
    napi_async_context actx;
    napi_async_cleanup_hook_handle teardown; /* NULL once removed */
    struct sn_evbuf *sink; /* where scan_locked() puts events */
};

static uint32_t next_token = 1;

/* JS thread: keep the loop alive while a keepAlive entry is pending. */
static void update_ref(napi_env env, struct sn_watcher *w)
{
    pthread_mutex_lock(&w->mu);
    bool want = w->nkeep > 0 && !w->stop;
    pthread_mutex_unlock(&w->mu);
    if (want == w->refd)
        return;
    if (w->notif) {
        if (want)
            uv_ref((uv_handle_t *)&w->poll);
        else
            uv_unref((uv_handle_t *)&w->poll);
    } else if ((want ? napi_ref_threadsafe_function(env, w->tsfn)
                     : napi_unref_threadsafe_function(env, w->tsfn)) !=
               napi_ok) {
        return; /* the env is going away: nothing to keep alive */
    }
    w->refd = want;
}

/* An exception the dispatcher threw goes to process 'uncaughtException'
 * (none is pending when the env is terminating: then nothing happens). */
static void rethrow(napi_env env)
{
    napi_value exc;
    if (napi_get_and_clear_last_exception(env, &exc) == napi_ok &&
        napi_fatal_exception(env, exc) != napi_ok) {
        /* terminating: nobody is left to tell */
    }
}

/* JS thread, thread mode: deliver one event, then ref/unref the loop. */
static void call_js(napi_env env, napi_value fn, void *ctx, void *data)
{
    struct sn_event *ev = data;
    struct sn_watcher *w = ctx;
    napi_value args[3], recv, res;
    /* Each call fails while the env is being torn down (a worker being
     * terminated): the event is then dropped. */
    if (env && fn && napi_create_uint32(env, ev->token, &args[0]) == napi_ok &&
        napi_create_int32(env, ev->code, &args[1]) == napi_ok &&
        napi_create_double(env, ev->version, &args[2]) == napi_ok &&
        napi_get_undefined(env, &recv) == napi_ok) {
        if (napi_call_function(env, recv, fn, 3, args, &res) ==
            napi_pending_exception)
            rethrow(env);
        update_ref(env, w);
    }
    free(ev);
}

static void post(struct sn_watcher *w, uint32_t token, int code, double v)
{
    if (w->notif) {
        /* poll mode: collected, delivered by the caller after the scan */
        struct sn_evbuf *b = w->sink;
        if (!b)
            return;
        if (b->n == b->cap) {
            size_t cap = b->cap ? 2 * b->cap : 8;
            struct sn_event *ev = realloc(b->ev, cap * sizeof *ev);
            if (!ev)
                return;
            b->ev = ev;
            b->cap = cap;
        }
        b->ev[b->n++] = (struct sn_event){token, code, v};
        return;
    }
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
        int r = x->id ? sharena_change_count(w->priv, x->id, &v) : 0;
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

/* ---- poll mode ----------------------------------------------------------- */

/* Hand a scan's events to JavaScript, one napi_make_callback each (which
 * also runs the microtasks a resolved promise queued). A callback may stop
 * this watcher (arena.close()): the rest is dropped, and the memory stays
 * valid until the handles' close callbacks run. */
static void deliver(struct sn_watcher *w, struct sn_evbuf *b)
{
    if (!b->n)
        return;
    napi_env env = w->e->env;
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok)
        return;
    napi_value fn, recv;
    if (w->e->dispatch &&
        napi_get_reference_value(env, w->e->dispatch, &fn) == napi_ok &&
        fn && /* make_callback wants an object */
        napi_get_global(env, &recv) == napi_ok) {
        for (size_t i = 0; i < b->n && !w->stop; i++) {
            napi_value args[3], res;
            if (napi_create_uint32(env, b->ev[i].token, &args[0]) != napi_ok ||
                napi_create_int32(env, b->ev[i].code, &args[1]) != napi_ok ||
                napi_create_double(env, b->ev[i].version, &args[2]) != napi_ok)
                break; /* the env is going away: so are its waits */
            napi_status st = napi_make_callback(env, w->actx, recv, fn, 3, args,
                                                &res);
            if (st == napi_pending_exception)
                rethrow(env);
            else if (st != napi_ok)
                break;
        }
    }
    (void)napi_close_handle_scope(env, scope); /* (fails only on misuse) */
}

/* Scan (first, when asked: a change may have been seen without a scan) and
 * re-arm until the notifier is armed with nothing new; then deliver. */
static void pump(struct sn_watcher *w, bool scan_first)
{
    if (w->stop)
        return;
    struct sn_evbuf b = {0};
    pthread_mutex_lock(&w->mu);
    w->sink = &b;
    if (scan_first)
        scan_locked(w, w->seen);
    for (;;) {
        int r = sharena_notifier_arm(w->notif, &w->seen);
        if (r == 1 && w->list) {
            scan_locked(w, w->seen);
            continue;
        }
        if (r < 0) {
            /* the notifier broke (it does not mend): end every wait */
            while (w->list) {
                post(w, w->list->token, r, 0);
                remove_entry_locked(w, &w->list);
            }
        }
        /* r == 0: a wait is queued. r == 1 with nothing watched: none is,
         * and writers pay nothing until watchAdd arms again. */
        break;
    }
    w->sink = NULL;
    pthread_mutex_unlock(&w->mu);
    update_ref(w->e->env, w);
    deliver(w, &b);
    free(b.ev);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    (void)status; /* an error shows as a failing arm() */
    (void)events;
    pump(h->data, false);
}

static void on_kick(uv_timer_t *t)
{
    pump(t->data, true);
}

/* Ask for a scan on the next turn of the loop (never call JS from
 * watchAdd itself: the caller registers its token after it returns). */
static void kick(struct sn_watcher *w)
{
    uv_timer_start(&w->kick, on_kick, 0, 0);
}

static void poll_handle_closed(uv_handle_t *h)
{
    struct sn_watcher *w = h->data;
    if (--w->open_handles)
        return;
    if (w->teardown && /* env teardown: tell Node we are done */
        napi_remove_async_cleanup_hook(w->teardown) != napi_ok) {
        /* (only for a handle Node no longer knows: nothing to undo) */
    }
    pthread_mutex_destroy(&w->mu);
    free(w);
}

/* ---- both modes -------------------------------------------------------- */

/* Stop waiting; free the entries; unlink from the env. In thread mode the
 * thread is joined here; in poll mode @p w is freed once its handles have
 * closed (thread mode: when Node finalises the tsfn). */
static void watcher_shutdown(struct sn_watcher *w)
{
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    if (!w->notif)
        pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (w->notif) {
        uv_close((uv_handle_t *)&w->poll, poll_handle_closed);
        uv_close((uv_handle_t *)&w->kick, poll_handle_closed);
        sharena_notifier_close(w->notif); /* cancels, leaves the waiters */
        (void)napi_async_destroy(w->e->env, w->actx); /* teardown: the
                                                         context goes anyway */
    } else {
        (void)sharena_arena_cancel_waits(w->priv);
        pthread_join(w->thread, NULL);
    }
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

/* Poll mode, env teardown: Node keeps running the loop until the handles'
 * close callbacks remove this hook (a worker's loop must have no handles
 * left when it is closed). */
__attribute__((unused)) static void
watcher_async_env_hook(napi_async_cleanup_hook_handle h, void *arg)
{
    struct sn_watcher *w = arg;
    w->teardown = h;
    watcher_shutdown(w);
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
    /* (statuses: removing a hook registered here and releasing our own
     * function fail only for a handle Node no longer has, and then there
     * is nothing to undo) */
    if (w->notif) {
        (void)napi_remove_async_cleanup_hook(w->teardown);
        w->teardown = NULL;
        watcher_shutdown(w);
        return;
    }
    (void)napi_remove_env_cleanup_hook(env, watcher_env_hook, w);
    watcher_shutdown(w);
    (void)napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
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

/* Poll mode, if the notifier opens: false to fall back to a thread. */
static bool watcher_start_poll(napi_env env, struct sn_watcher *w)
{
    if (sharena_notifier_open(w->priv, &w->notif) < 0)
        return false; /* ENOSYS, EROFS, EMFILE, ...: a thread will do */
    uv_loop_t *loop = NULL;
    napi_value res;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop ||
        napi_create_string_utf8(env, "sharena.watch", NAPI_AUTO_LENGTH, &res) !=
            napi_ok ||
        napi_async_init(env, NULL, res, &w->actx) != napi_ok)
        goto fail;
    if (uv_poll_init(loop, &w->poll, sharena_notifier_fd(w->notif)) != 0)
        goto fail_ctx;
    w->poll.data = w;
    uv_timer_init(loop, &w->kick);
    w->kick.data = w;
    w->open_handles = 2;
    uv_unref((uv_handle_t *)&w->poll);
    uv_unref((uv_handle_t *)&w->kick);
    uint64_t v = 0;
    sharena_arena_version(w->priv, &v);
    w->seen = (uint32_t)v;
    if (uv_poll_start(&w->poll, UV_READABLE, on_readable) != 0 ||
        napi_add_async_cleanup_hook(env, watcher_async_env_hook, w,
                                    &w->teardown) != napi_ok) {
        /* rare enough to give up on this watcher rather than fall back */
        uv_close((uv_handle_t *)&w->poll, poll_handle_closed);
        uv_close((uv_handle_t *)&w->kick, poll_handle_closed);
        sharena_notifier_close(w->notif);
        (void)napi_async_destroy(env, w->actx); /* (ours: cannot fail) */
        sharena_arena_close(w->priv);
        w->priv = NULL;
        return true; /* w is freed by the close callbacks */
    }
    return true;
fail_ctx:
    (void)napi_async_destroy(env, w->actx); /* (ours: cannot fail) */
fail:
    sharena_notifier_close(w->notif);
    w->notif = NULL;
    return false;
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
    int r = sharena_arena_from_fd(
        sharena_arena_fd(a), sharena_arena_readonly(a) ? SHARENA_READONLY : 0,
        &w->priv);
    if (r < 0) {
        pthread_mutex_destroy(&w->mu);
        free(w);
        sn_throw(env, r, "watch");
        return NULL;
    }
    if (watcher_start_poll(env, w)) {
        if (!w->priv) {
            sn_throw(env, SHARENA_ENOMEM, "watch: cannot poll the notifier");
            return NULL;
        }
        w->next = e->watchers;
        e->watchers = w;
        return w;
    }
    pthread_cond_init(&w->cv, NULL);
    napi_value fn, name;
    if (napi_get_reference_value(env, e->dispatch, &fn) != napi_ok ||
        napi_create_string_utf8(env, "sharena.watch", NAPI_AUTO_LENGTH,
                                &name) != napi_ok ||
        napi_create_threadsafe_function(env, fn, NULL, name, 0, 1, w,
                                        watcher_finalize, w, call_js,
                                        &w->tsfn) != napi_ok) {
        sharena_arena_close(w->priv);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
        sn_throw_msg(env, "ENOMEM",
                     "watch: cannot create a threadsafe "
                     "function");
        return NULL;
    }
    if (napi_unref_threadsafe_function(env, w->tsfn) != napi_ok) {
        sharena_arena_close(w->priv);
        (void)napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
        sn_napi_fail(env);
        return NULL;
    }
    if (pthread_create(&w->thread, NULL, watch_thread, w) != 0) {
        sharena_arena_close(w->priv);
        (void)napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
        sn_throw(env, SHARENA_EAGAIN, "watch: cannot start a thread");
        return NULL;
    }
    if (napi_add_env_cleanup_hook(env, watcher_env_hook, w) != napi_ok) {
        /* no hook, no watcher: it would outlive the env */
        pthread_mutex_lock(&w->mu);
        w->stop = true;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        (void)sharena_arena_cancel_waits(w->priv);
        pthread_join(w->thread, NULL);
        sharena_arena_close(w->priv);
        (void)napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
        sn_napi_fail(env);
        return NULL;
    }
    w->next = e->watchers;
    e->watchers = w;
    return w;
}

/* watchInit(dispatch(token, code, version)) */
static napi_value js_watch_init(napi_env env, napi_callback_info info)
{
    SN_ARGS(1);
    struct sn_env *e = cbdata;
    napi_ref old = e->dispatch;
    SN_TRY(napi_create_reference(env, argv[0], 1, &e->dispatch));
    if (old)
        SN_TRY(napi_delete_reference(env, old));
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
    if (napi_get_value_double(env, argv[1], &idd) != napi_ok ||
        napi_get_value_double(env, argv[2], &lastd) != napi_ok) {
        napi_throw_type_error(env, "EINVAL", "watch: expected numbers");
        return NULL;
    }
    sharena_id id = 0;
    if (idd != 0 && !sn_get_id(env, argv[1], &id))
        return NULL;
    uint64_t last;
    int r = id ? sharena_change_count(a, id, &last)
               : sharena_arena_version(a, &last);
    if (r < 0)
        return sn_throw(env, r, id ? "changed" : "arena.watch");
    uint64_t cur = last;
    if (lastd >= 0)
        last = (uint64_t)lastd;
    bool once = false, keep = false;
    if (napi_get_value_bool(env, argv[3], &once) != napi_ok ||
        napi_get_value_bool(env, argv[4], &keep) != napi_ok) {
        napi_throw_type_error(env, "EINVAL", "watch: expected booleans");
        return NULL;
    }
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
    if (w->notif) {
        /* poll mode: the entry goes on the list as it is; a change since
         * `last` is found by a scan on the next turn of the loop */
        uint32_t token = x->token;
        pthread_mutex_lock(&w->mu);
        x->next = w->list;
        w->list = x;
        if (keep)
            w->nkeep++;
        pthread_mutex_unlock(&w->mu);
        update_ref(env, w);
        if (cur != last || sharena_notifier_arm(w->notif, &w->seen) != 0)
            kick(w); /* changed, or the notifier failed: the scan reports */
        return sn_uint(env, token);
    }
    if (cur != last) {
        /* Changed since the version the caller gave: the watcher thread may
         * be asleep on the arena's counter and no further write need come,
         * so report it now (delivered after this call returns). */
        post(w, x->token, 0, (double)cur);
        if (once) {
            uint32_t token = x->token;
            free(x);
            return sn_uint(env, token);
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
    if (want)
        update_ref(env, w);
    return sn_uint(env, token);
}

/* watchRemove(h, token) -> whether it was still registered */
static napi_value js_watch_remove(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    struct sn_env *e = cbdata;
    uint32_t h, token;
    if (napi_get_value_uint32(env, argv[0], &h) != napi_ok ||
        napi_get_value_uint32(env, argv[1], &token) != napi_ok) {
        napi_throw_type_error(env, "EINVAL", "watch: expected numbers");
        return NULL;
    }
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
        pthread_mutex_unlock(&w->mu);
        update_ref(env, w);
    }
    return sn_bool(env, found);
}

/* watchModes() -> ['poll' | 'thread', ...]: how each of this env's
 * watchers waits (for tests and troubleshooting) */
static napi_value js_watch_modes(napi_env env, napi_callback_info info)
{
    SN_ARGS(0);
    struct sn_env *e = cbdata;
    napi_value arr;
    SN_TRY(napi_create_array(env, &arr));
    uint32_t i = 0;
    for (struct sn_watcher *w = e->watchers; w; w = w->next) {
        napi_value m;
        SN_TRY(napi_create_string_utf8(env, w->notif ? "poll" : "thread",
                                       NAPI_AUTO_LENGTH, &m));
        SN_TRY(napi_set_element(env, arr, i++, m));
    }
    return arr;
}

/* notifierSupported() -> 0 or a negative code (SHARENA_ENOSYS) */
static napi_value js_notifier_supported(napi_env env, napi_callback_info info)
{
    (void)info;
    return sn_int(env, sharena_notifier_supported());
}

const struct sn_fn sn_watch_fns[] = {
    {"watchInit", js_watch_init},
    {"watchAdd", js_watch_add},
    {"watchRemove", js_watch_remove},
    {"watchModes", js_watch_modes},
    {"notifierSupported", js_notifier_supported},
    {NULL, NULL},
};
