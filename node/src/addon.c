/* addon.c: module set-up, the process-wide arena table, broker connections,
 * and the error table that turns SHARENA_E* codes into JavaScript Errors.
 *
 * Every environment (main thread, each worker_thread) loads the module once;
 * they share the table below, so an id made in one thread is usable in
 * another. The default arena is created by the first environment and closed
 * when the last one is torn down (env cleanup hooks). */
#include "sn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sn_arena sn_arenas[SN_MAX_ARENAS];
pthread_mutex_t sn_lock = PTHREAD_MUTEX_INITIALIZER;

/* Broker connections, one per socket path, shared by the arenas opened
 * through them and by every environment (a connection is thread-safe). */
struct sn_conn {
    char path[256]; /* "" = the default path */
    sharena_conn *c;
    bool delegated; /* the default path with $SHARENA_FD: a delegated one */
    unsigned refs;
    struct sn_conn *next;
};
static struct sn_conn *conns;

/* Capacity of the default in-process arena: sparse, so a large value costs
 * nothing until used. SHARENA_NODE_CAPACITY (bytes) overrides it. */
#define SN_DEFAULT_CAPACITY (UINT64_C(1) << 30)

/* ------------------------------------------------------------------------ */
/* Errors: the library's table (SHARENA_ERRNO_MAP) gives each code its name
 * and message, and sharena_strerror_hint() what a caller can do about it:
 * the same advice in every language. */

const char *sn_hint(int err)
{
    return sharena_strerror_hint(err);
}

napi_value sn_throw_msg(napi_env env, const char *code, const char *msg)
{
    napi_throw_error(env, code, msg);
    return NULL;
}

static napi_value throw_hint(napi_env env, int err, const char *op,
                             const char *hint)
{
    char msg[768];
    snprintf(msg, sizeof msg, "%s: %s (%s)", op, sharena_strerror(err), hint);
    return sn_throw_msg(env, sharena_errname(err), msg);
}

napi_value sn_throw(napi_env env, int err, const char *op)
{
    return throw_hint(env, err, op, sn_hint(err));
}

/* Why a mapping is read-only, as far as this process can tell. */
static void readonly_cause(const struct sn_arena *e, char *buf, size_t cap)
{
    if (e->asked_ro)
        snprintf(buf, cap,
                 "it was opened with { readonly: true }; open it "
                 "without readonly to write");
    else if (e->origin == SN_FROM_FD)
        snprintf(buf, cap,
                 "Arena.fromFd was given a read-only file "
                 "descriptor; pass a read-write one to write");
    else if (e->conn && e->conn->delegated)
        snprintf(buf, cap,
                 "the delegated connection (SHARENA_FD) grants "
                 "only read access; ask the process that "
                 "delegated it for write access");
    else
        snprintf(buf, cap,
                 "the broker granted only read access: the "
                 "arena's mode lets this uid read but not write; "
                 "its owner can create it with a mode that "
                 "grants write (e.g. { mode: 0o666 }), or the "
                 "broker's policy can grant it");
}

napi_value sn_throw_arena(napi_env env, int err, const char *op,
                          const sharena_arena *a)
{
    if (err != SHARENA_EROFS || !a)
        return sn_throw(env, err, op);
    char cause[400];
    snprintf(cause, sizeof cause, "%s", sn_hint(err));
    pthread_mutex_lock(&sn_lock);
    for (uint32_t i = 0; i < SN_MAX_ARENAS; i++) {
        if (sn_arenas[i].a == a) {
            readonly_cause(&sn_arenas[i], cause, sizeof cause);
            break;
        }
    }
    pthread_mutex_unlock(&sn_lock);
    return throw_hint(env, err, op, cause);
}

/* errorTable() -> [[code, name, message, hint], ...] for every code of the
 * library's table: watch and wait events carry bare codes, and JavaScript
 * turns them into Errors with this. */
static napi_value js_error_table(napi_env env, napi_callback_info info)
{
    static const int codes[] = {
#define SN_ERR_CODE(name, value, msg) SHARENA_##name,
        SHARENA_ERRNO_MAP(SN_ERR_CODE)
#undef SN_ERR_CODE
    };
    (void)info;
    napi_value arr;
    SN_TRY(napi_create_array_with_length(env, sizeof codes / sizeof codes[0],
                                         &arr));
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        napi_value row, v;
        SN_TRY(napi_create_array_with_length(env, 4, &row));
        SN_TRY(napi_create_int32(env, codes[i], &v));
        SN_TRY(napi_set_element(env, row, 0, v));
        const char *s[3] = {sharena_errname(codes[i]),
                            sharena_strerror(codes[i]), sn_hint(codes[i])};
        for (uint32_t k = 0; k < 3; k++) {
            SN_TRY(napi_create_string_utf8(env, s[k], NAPI_AUTO_LENGTH, &v));
            SN_TRY(napi_set_element(env, row, k + 1, v));
        }
        SN_TRY(napi_set_element(env, arr, (uint32_t)i, row));
    }
    return arr;
}

/* ------------------------------------------------------------------------ */
/* Argument and result helpers. */

bool sn_get_id(napi_env env, napi_value v, sharena_id *out)
{
    double d;
    /* (d is in range before the cast, so the cast is defined; it and the
     * way back are two instructions, floor() a dozen) */
    if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 1) ||
        d > (double)SHARENA_ID_MAX || (double)(int64_t)d != d) {
        napi_throw_type_error(env, "EINVAL", "an id is a positive integer");
        return false;
    }
    *out = (sharena_id)d;
    return true;
}

bool sn_get_u64(napi_env env, napi_value v, uint64_t *out)
{
    double d;
    if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0) ||
        d > 9007199254740991.0 || (double)(int64_t)d != d) {
        napi_throw_range_error(env, "EINVAL",
                               "expected a non-negative integer");
        return false;
    }
    *out = (uint64_t)d;
    return true;
}

bool sn_get_str(napi_env env, napi_value v, struct sn_str *s)
{
    size_t n;
    s->p = s->buf;
    if (napi_get_value_string_utf8(env, v, s->buf, sizeof s->buf, &n) !=
        napi_ok) {
        napi_throw_type_error(env, "EINVAL", "expected a string");
        return false;
    }
    /* Certainly not truncated only if even a 4-byte character would have
     * fitted after it: V8 writes no partial character, so a 2-byte one
     * at the end of a full buffer left n = 254 (and a 256-byte string was
     * cut to 254 bytes). */
    if (n + 4 < sizeof s->buf) {
        s->len = n;
        return true;
    }
    if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok) {
        sn_napi_fail(env);
        return false;
    }
    s->p = malloc(n + 1);
    if (!s->p) {
        s->p = s->buf;
        sn_throw(env, SHARENA_ENOMEM, "string");
        return false;
    }
    if (napi_get_value_string_utf8(env, v, s->p, n + 1, &s->len) != napi_ok) {
        free(s->p);
        s->p = s->buf;
        sn_napi_fail(env);
        return false;
    }
    return true;
}

void sn_str_free(struct sn_str *s)
{
    if (s->p != s->buf)
        free(s->p);
}

napi_value sn_napi_fail(napi_env env)
{
    const napi_extended_error_info *info = NULL;
    char msg[256];
    snprintf(msg, sizeof msg, "sharena: a Node-API call failed (%s)",
             napi_get_last_error_info(env, &info) == napi_ok && info &&
                     info->error_message
                 ? info->error_message
                 : "unknown error");
    bool pending = true;
    if (napi_is_exception_pending(env, &pending) == napi_ok && !pending)
        (void)napi_throw_error(env, "ENAPI", msg); /* may fail: terminating */
    return NULL;
}

napi_value sn_num(napi_env env, double d)
{
    napi_value r = NULL;
    if (napi_create_double(env, d, &r) != napi_ok)
        return sn_napi_fail(env);
    return r;
}

napi_value sn_id(napi_env env, sharena_id id)
{
    return sn_num(env, (double)id);
}

napi_value sn_bool(napi_env env, bool b)
{
    napi_value r = NULL;
    if (napi_get_boolean(env, b, &r) != napi_ok)
        return sn_napi_fail(env);
    return r;
}

napi_value sn_undef(napi_env env)
{
    napi_value r = NULL;
    if (napi_get_undefined(env, &r) != napi_ok)
        return sn_napi_fail(env);
    return r;
}

napi_value sn_null(napi_env env)
{
    napi_value r = NULL;
    if (napi_get_null(env, &r) != napi_ok)
        return sn_napi_fail(env);
    return r;
}

napi_value sn_int(napi_env env, int32_t i)
{
    napi_value r = NULL;
    if (napi_create_int32(env, i, &r) != napi_ok)
        return sn_napi_fail(env);
    return r;
}

napi_value sn_uint(napi_env env, uint32_t u)
{
    napi_value r = NULL;
    if (napi_create_uint32(env, u, &r) != napi_ok)
        return sn_napi_fail(env);
    return r;
}

napi_value sn_string(napi_env env, const char *p, size_t len)
{
    napi_value r = NULL;
    if (napi_create_string_utf8(env, p, len, &r) != napi_ok)
        return sn_napi_fail(env);
    return r;
}

/* ------------------------------------------------------------------------ */
/* The arena table. */

sharena_arena *sn_arena_get(napi_env env, napi_value v, uint32_t *handle)
{
    uint32_t h;
    if (napi_get_value_uint32(env, v, &h) != napi_ok) {
        napi_throw_type_error(env, "EINVAL", "bad arena handle");
        return NULL;
    }
    struct sn_arena *e = &sn_arenas[h & (SN_MAX_ARENAS - 1)];
    sharena_arena *a = __atomic_load_n(&e->a, __ATOMIC_ACQUIRE);
    if (__builtin_expect(!a || e->gen != (h >> SN_IDX_BITS) ||
                             __atomic_load_n(&e->closed, __ATOMIC_ACQUIRE),
                         0)) {
        sn_throw(env, SHARENA_ECLOSED, "arena");
        return NULL;
    }
    if (handle)
        *handle = h;
    return a;
}

static void conn_unref_locked(struct sn_conn *c)
{
    if (!c || --c->refs)
        return;
    for (struct sn_conn **p = &conns; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    sharena_disconnect(c->c);
    free(c);
}

void sn_arena_ref(uint32_t h)
{
    pthread_mutex_lock(&sn_lock);
    sn_arenas[h & (SN_MAX_ARENAS - 1)].refs++;
    pthread_mutex_unlock(&sn_lock);
}

void sn_arena_unref(uint32_t h)
{
    pthread_mutex_lock(&sn_lock);
    struct sn_arena *e = &sn_arenas[h & (SN_MAX_ARENAS - 1)];
    if (e->refs && --e->refs == 0) {
        sharena_arena *a = e->a;
        __atomic_store_n(&e->a, NULL, __ATOMIC_RELEASE);
        e->gen = (e->gen + 1) & ((1u << (32 - SN_IDX_BITS)) - 1);
        e->closed = false;
        sharena_arena_close(a);
        conn_unref_locked(e->conn);
        e->conn = NULL;
    }
    pthread_mutex_unlock(&sn_lock);
}

/* Put @p a in a free entry (index 0 is the default arena's). */
static int table_insert_locked(sharena_arena *a, struct sn_conn *c,
                               uint32_t *handle)
{
    for (uint32_t i = 1; i < SN_MAX_ARENAS; i++) {
        struct sn_arena *e = &sn_arenas[i];
        if (e->a)
            continue;
        e->refs = 1;
        e->closed = false;
        e->asked_ro = false;
        e->origin = c ? SN_FROM_BROKER : SN_FROM_FD;
        e->conn = c;
        if (e->gen == 0)
            e->gen = 1;
        __atomic_store_n(&e->a, a, __ATOMIC_RELEASE);
        *handle = i | (e->gen << SN_IDX_BITS);
        return 0;
    }
    return SHARENA_ENOSPC;
}

static uint32_t default_handle(void)
{
    return 0 | (sn_arenas[0].gen << SN_IDX_BITS);
}

/* The first environment creates the default arena; each one holds a ref. */
static int default_acquire(void)
{
    int r = 0;
    pthread_mutex_lock(&sn_lock);
    struct sn_arena *e = &sn_arenas[0];
    if (!e->a) {
        uint64_t cap = SN_DEFAULT_CAPACITY;
        const char *env = getenv("SHARENA_NODE_CAPACITY");
        if (env && *env)
            cap = strtoull(env, NULL, 0);
        sharena_arena *a;
        r = sharena_arena_create("node-default", cap, &a);
        if (r == 0) {
            if (e->gen == 0)
                e->gen = 1;
            e->refs = 1;
            e->closed = false;
            e->origin = SN_FROM_DEFAULT;
            __atomic_store_n(&e->a, a, __ATOMIC_RELEASE);
        }
    } else {
        e->refs++;
    }
    pthread_mutex_unlock(&sn_lock);
    return r;
}

/* ------------------------------------------------------------------------ */
/* Arena functions exported to JS. */

static napi_value js_default_arena(napi_env env, napi_callback_info info)
{
    (void)info;
    return sn_uint(env, default_handle());
}

static struct sn_conn *conn_get_locked(const char *path, int *err)
{
    const char *key = path ? path : "";
    for (struct sn_conn *c = conns; c; c = c->next) {
        if (strcmp(c->path, key) == 0) {
            c->refs++;
            return c;
        }
    }
    struct sn_conn *c = calloc(1, sizeof *c);
    if (!c) {
        *err = SHARENA_ENOMEM;
        return NULL;
    }
    snprintf(c->path, sizeof c->path, "%s", key);
    *err = sharena_connect(path, &c->c);
    if (*err < 0) {
        free(c);
        return NULL;
    }
    const char *fd = getenv("SHARENA_FD"); /* what sharena_connect used */
    c->delegated = !path && fd && *fd;
    c->refs = 1;
    c->next = conns;
    conns = c;
    return c;
}

/* Optional socket path argument: undefined/null = the default. */
static bool get_socket(napi_env env, napi_value v, struct sn_str *s,
                       bool *given)
{
    napi_valuetype t;
    s->p = s->buf;
    if (napi_typeof(env, v, &t) != napi_ok) {
        sn_napi_fail(env);
        return false;
    }
    *given = !(t == napi_undefined || t == napi_null);
    if (!*given) {
        s->p = s->buf;
        return true;
    }
    if (!sn_get_str(env, v, s))
        return false;
    if (s->len == 0 || s->len >= 108 || memchr(s->p, 0, s->len)) {
        sn_str_free(s);
        napi_throw_type_error(env, "EINVAL", "bad socket path");
        return false;
    }
    return true;
}

/* Why the broker refused to open @p name, from what it still tells us:
 * STAT answers EACCES when the mode/policy grant nothing, ENOENT when a
 * delegated connection does not cover the name. Under sn_lock. */
static void open_denied_hint(struct sn_conn *c, const char *name,
                             const char *why, char *buf, size_t cap)
{
    sharena_arena_stat st;
    int r = sharena_stat(c->c, name, &st);
    if (*why && strcmp(why, sharena_strerror(SHARENA_EACCES)) != 0)
        snprintf(buf, cap, "%s", why); /* the broker's own explanation */
    else if (c->delegated)
        snprintf(buf, cap,
                 "this process's broker connection was delegated to it "
                 "(SHARENA_FD) and does not grant arena '%s', or grants only "
                 "read access and the arena does not exist yet (a read-only "
                 "connection cannot create it); ask the process that "
                 "delegated the connection to include it",
                 name);
    else if (r == SHARENA_EACCES)
        snprintf(buf, cap,
                 "arena '%s' belongs to another user and neither its mode "
                 "nor the broker's policy grants uid %u access; its owner "
                 "can create it with a mode that lets others in (e.g. "
                 "{ mode: 0o644 } to read, 0o666 to write), or the broker's "
                 "policy file can grant this uid",
                 name, (unsigned)getuid());
    else
        snprintf(buf, cap, "%s", sn_hint(SHARENA_EACCES));
}

/* What to do when nothing answers on the broker's socket: name the path
 * that was tried (the one given, or the default one), so that a wrong path
 * or a stopped broker shows. */
static void conn_refused_hint(bool has_sock, const char *path, char *buf,
                              size_t cap)
{
    char def[128];
    if (has_sock)
        snprintf(buf, cap,
                 "nothing answers at %s: start sharenad --socket %s, or pass "
                 "the socket of a running broker",
                 path, path);
    else if (sharena_default_socket(def, sizeof def) == 0)
        snprintf(buf, cap,
                 "nothing answers at %s, the default socket: start "
                 "sharenad, or pass { socket } (or set SHARENA_SOCKET) to "
                 "reach a running broker",
                 def);
    else
        snprintf(buf, cap, "%s", sn_hint(SHARENA_ECONNREFUSED));
}

/* Throw the error of a broker request @p op that failed with @p r. */
static napi_value throw_broker(napi_env env, int r, const char *op,
                               bool has_sock, const char *path)
{
    char hint[512];
    if (r != SHARENA_ECONNREFUSED)
        return sn_throw(env, r, op);
    conn_refused_hint(has_sock, path, hint, sizeof hint);
    return throw_hint(env, r, op, hint);
}

/* arenaOpen(socket|null, name, capacity, flags, mode) -> handle */
static napi_value js_arena_open(napi_env env, napi_callback_info info)
{
    SN_ARGS(5);
    struct sn_str sock, name;
    bool has_sock;
    uint64_t cap;
    uint32_t flags, mode;
    if (!get_socket(env, argv[0], &sock, &has_sock))
        return NULL;
    if (!sn_get_str(env, argv[1], &name)) {
        sn_str_free(&sock);
        return NULL;
    }
    napi_value result = NULL;
    if (!sn_get_u64(env, argv[2], &cap))
        goto out;
    if (napi_get_value_uint32(env, argv[3], &flags) != napi_ok ||
        napi_get_value_uint32(env, argv[4], &mode) != napi_ok) {
        napi_throw_type_error(env, "EINVAL", "bad open flags or mode");
        goto out;
    }
    char wire[SHARENA_NAME_MAX + 1];
    int q = strlen(name.p) == name.len
                ? sharena_name_qualify(name.p, wire, sizeof wire)
                : SHARENA_EINVAL;
    if (q == SHARENA_ENOENT) {
        char msg[300];
        snprintf(msg, sizeof msg, "Arena.open('%.200s'): no such user", name.p);
        sn_throw_msg(env, "ENOENT", msg);
        goto out;
    }
    if (q < 0) {
        sn_throw_msg(env, "EINVAL",
                     "Arena.open: an arena name is 1..128 bytes of "
                     "[A-Za-z0-9._-], or 'user:name' for another user's");
        goto out;
    }
    struct sn_env *e = cbdata;
    if (e->nowned >= sizeof e->owned / sizeof e->owned[0]) {
        sn_throw_msg(env, "ENOSPC",
                     "Arena.open: too many arenas open in this thread "
                     "(close some)");
        goto out;
    }
    int r;
    char hint[512], why[160] = "";
    pthread_mutex_lock(&sn_lock);
    struct sn_conn *c = conn_get_locked(has_sock ? sock.p : NULL, &r);
    sharena_arena *a = NULL;
    uint32_t h = 0;
    if (c) {
        sharena_open_opts o = {.capacity = cap, .flags = flags, .mode = mode};
        r = sharena_open(c->c, name.p, &o, &a);
        snprintf(why, sizeof why, "%s", sharena_broker_message());
        if (r == 0) {
            r = table_insert_locked(a, c, &h);
            if (r < 0)
                sharena_arena_close(a);
            else
                sn_arenas[h & (SN_MAX_ARENAS - 1)].asked_ro =
                    (flags & SHARENA_READONLY) != 0;
        }
        if (r == SHARENA_EACCES)
            open_denied_hint(c, name.p, why, hint, sizeof hint);
        if (r < 0)
            conn_unref_locked(c);
    }
    pthread_mutex_unlock(&sn_lock);
    if (r < 0) {
        char op[200];
        snprintf(op, sizeof op, "Arena.open('%s')", name.p);
        if (r == SHARENA_EACCES) {
            throw_hint(env, r, op, hint);
        } else if (r == SHARENA_EEXIST) {
            /* a create-or-open never hands over what was not asked for */
            if (strstr(why, "without create"))
                snprintf(hint, sizeof hint, "%s: pass { create: false }", why);
            else
                snprintf(hint, sizeof hint,
                         "%s; open it without { exclusive: true } to use the "
                         "existing one",
                         *why ? why : "the arena exists");
            throw_hint(env, r, op, hint);
        } else if (r == SHARENA_ENOENT && !(flags & SHARENA_CREATE)) {
            snprintf(hint, sizeof hint,
                     "no arena '%s' at the broker: check the name "
                     "(Arena.list() shows them), or pass { create: true } "
                     "to create it%s%s",
                     name.p, *why ? "; broker: " : "", why);
            throw_hint(env, r, op, hint);
        } else {
            throw_broker(env, r, op, has_sock, sock.p);
        }
        goto out;
    }
    e->owned[e->nowned++] = h;
    result = sn_uint(env, h); /* (on failure: closed with the env) */
out:
    sn_str_free(&sock);
    sn_str_free(&name);
    return result;
}

/* arenaFromFd(fd, readonly) -> handle: map an arena from a sealed memfd
 * another process passed (the fd is duplicated; the caller keeps its own). */
static napi_value js_arena_from_fd(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    int32_t fd;
    bool ro = false;
    if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
        napi_throw_type_error(env, "EINVAL",
                              "Arena.fromFd: expected a file descriptor");
        return NULL;
    }
    if (napi_get_value_bool(env, argv[1], &ro) != napi_ok) {
        napi_throw_type_error(env, "EINVAL",
                              "Arena.fromFd: readonly must be a boolean");
        return NULL;
    }
    struct sn_env *e = cbdata;
    if (e->nowned >= sizeof e->owned / sizeof e->owned[0]) {
        sn_throw_msg(env, "ENOSPC",
                     "Arena.fromFd: too many arenas open in this thread "
                     "(close some)");
        return NULL;
    }
    sharena_arena *a = NULL;
    int r = sharena_arena_from_fd(fd, ro ? SHARENA_READONLY : 0, &a);
    uint32_t h = 0;
    if (r == 0) {
        pthread_mutex_lock(&sn_lock);
        r = table_insert_locked(a, NULL, &h);
        if (r == 0)
            sn_arenas[h & (SN_MAX_ARENAS - 1)].asked_ro = ro;
        pthread_mutex_unlock(&sn_lock);
        if (r < 0)
            sharena_arena_close(a);
    }
    if (r < 0) {
        sn_throw(env, r, "Arena.fromFd");
        return NULL;
    }
    e->owned[e->nowned++] = h;
    return sn_uint(env, h); /* (on failure: closed with the env) */
}

static void forget_owned(struct sn_env *e, uint32_t h)
{
    for (unsigned i = 0; i < e->nowned; i++) {
        if (e->owned[i] == h) {
            e->owned[i] = e->owned[--e->nowned];
            return;
        }
    }
}

/* arenaClose(handle): operations fail with ECLOSED from now on; the mapping
 * stays until zero-copy buffers made from it are collected. */
static napi_value js_arena_close(napi_env env, napi_callback_info info)
{
    SN_ARGS(1);
    struct sn_env *e = cbdata;
    uint32_t h;
    if (napi_get_value_uint32(env, argv[0], &h) != napi_ok)
        return sn_throw_msg(env, "EINVAL", "bad arena handle");
    bool mine = false;
    for (unsigned i = 0; i < e->nowned; i++)
        mine |= e->owned[i] == h;
    if (!mine) /* already closed, or the default arena: nothing to do */
        return sn_undef(env);
    if (sn_locks_on(e, h)) /* (it would unlock under fn, or keep them) */
        return sn_throw_msg(env, "EBUSY",
                            "arena.close(): this thread holds a lock on the "
                            "arena (inside ref.locked()); close it after "
                            "the locked() call returns");
    sn_watch_stop_arena(e, h);
    sn_views_sweep(e, h, true);
    pthread_mutex_lock(&sn_lock);
    __atomic_store_n(&sn_arenas[h & (SN_MAX_ARENAS - 1)].closed, true,
                     __ATOMIC_RELEASE);
    pthread_mutex_unlock(&sn_lock);
    forget_owned(e, h);
    sn_arena_unref(h);
    return sn_undef(env);
}

static bool set_prop(napi_env env, napi_value o, const char *k, napi_value v)
{
    return v && napi_set_named_property(env, o, k, v) == napi_ok;
}

static bool set_prop_num(napi_env env, napi_value o, const char *k, double d)
{
    return set_prop(env, o, k, sn_num(env, d));
}

static napi_value js_arena_info(napi_env env, napi_callback_info info)
{
    SN_ARGS(1);
    sharena_arena *a = sn_arena_get(env, argv[0], NULL);
    if (!a)
        return NULL;
    sharena_arena_info in;
    int r = sharena_arena_info_get(a, &in);
    if (r < 0)
        return sn_throw(env, r, "arena.info");
    napi_value o;
    SN_TRY(napi_create_object(env, &o));
    if (!set_prop(env, o, "name", sn_string(env, in.name, strlen(in.name))) ||
        !set_prop_num(env, o, "capacity", (double)in.capacity) ||
        !set_prop_num(env, o, "heapBytes", (double)in.heap_bytes) ||
        !set_prop_num(env, o, "usedBytes", (double)in.used_bytes) ||
        !set_prop_num(env, o, "objects", (double)in.objects) ||
        !set_prop_num(env, o, "createdMs", (double)(in.created_ns / 1000000)) ||
        !set_prop_num(env, o, "changes", (double)in.changes) ||
        !set_prop(env, o, "readonly", sn_bool(env, in.readonly)))
        return sn_napi_fail(env);
    return o;
}

/* arenaOwner(h) -> { created, uid, gid, mode, qualifiedName, broker }: what
 * the broker said when the arena was opened (sharena_arena_open_info). */
static napi_value js_arena_owner(napi_env env, napi_callback_info info)
{
    SN_ARGS(1);
    sharena_arena *a = sn_arena_get(env, argv[0], NULL);
    if (!a)
        return NULL;
    sharena_open_info in = {.size = sizeof in};
    int r = sharena_arena_open_info(a, &in);
    if (r < 0)
        return sn_throw(env, r, "arena.owner");
    napi_value o, s;
    napi_create_object(env, &o);
    napi_set_named_property(env, o, "created", sn_bool(env, in.created));
    napi_set_named_property(env, o, "broker", sn_bool(env, in.broker));
    set_prop_num(env, o, "uid", in.uid);
    set_prop_num(env, o, "gid", in.gid);
    set_prop_num(env, o, "mode", in.mode);
    napi_create_string_utf8(env, in.name, NAPI_AUTO_LENGTH, &s);
    napi_set_named_property(env, o, "qualifiedName", s);
    return o;
}

/* arenaReadonly(h) -> whether the mapping is read-only (what was granted,
 * not what was asked for). */
static napi_value js_arena_readonly(napi_env env, napi_callback_info info)
{
    SN_ARGS(1);
    sharena_arena *a = sn_arena_get(env, argv[0], NULL);
    if (!a)
        return NULL;
    return sn_bool(env, sharena_arena_readonly(a));
}

/* arenaFd(h) -> the memfd behind the arena (owned by it: dup to keep). */
static napi_value js_arena_fd(napi_env env, napi_callback_info info)
{
    SN_ARGS(1);
    sharena_arena *a = sn_arena_get(env, argv[0], NULL);
    if (!a)
        return NULL;
    return sn_int(env, sharena_arena_fd(a));
}

/* arenaDelete(socket|null, name): unlink a named arena at the broker. */
static napi_value js_arena_delete(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    struct sn_str sock, name;
    bool has_sock;
    if (!get_socket(env, argv[0], &sock, &has_sock))
        return NULL;
    if (!sn_get_str(env, argv[1], &name)) {
        sn_str_free(&sock);
        return NULL;
    }
    int r;
    pthread_mutex_lock(&sn_lock);
    struct sn_conn *c = conn_get_locked(has_sock ? sock.p : NULL, &r);
    if (c) {
        r = sharena_delete(c->c, name.p);
        conn_unref_locked(c);
    }
    pthread_mutex_unlock(&sn_lock);
    napi_value result;
    if (r == SHARENA_EACCES)
        result = throw_hint(env, r, "Arena.delete",
                            "only the arena's owner (or root) may delete it, "
                            "and not over a delegated connection");
    else if (r < 0)
        result = throw_broker(env, r, "Arena.delete", has_sock, sock.p);
    else
        result = sn_undef(env);
    sn_str_free(&sock);
    sn_str_free(&name);
    return result;
}

/* arenaList(socket|null) -> [{ name, capacity, usedBytes, objects, clients,
 * uid, mode }] */
static napi_value js_arena_list(napi_env env, napi_callback_info info)
{
    SN_ARGS(1);
    struct sn_str sock;
    bool has_sock;
    if (!get_socket(env, argv[0], &sock, &has_sock))
        return NULL;
    int r;
    sharena_arena_stat *st = NULL;
    size_t n = 0;
    pthread_mutex_lock(&sn_lock);
    struct sn_conn *c = conn_get_locked(has_sock ? sock.p : NULL, &r);
    if (c) {
        r = sharena_list(c->c, &st, &n);
        conn_unref_locked(c);
    }
    pthread_mutex_unlock(&sn_lock);
    if (r < 0)
        throw_broker(env, r, "Arena.list", has_sock, sock.p);
    sn_str_free(&sock);
    if (r < 0)
        return NULL;
    napi_value arr = NULL;
    if (napi_create_array_with_length(env, n, &arr) != napi_ok)
        arr = NULL;
    for (size_t i = 0; arr && i < n; i++) {
        napi_value o;
        if (napi_create_object(env, &o) != napi_ok ||
            !set_prop(env, o, "name",
                      sn_string(env, st[i].name, strlen(st[i].name))) ||
            !set_prop_num(env, o, "capacity", (double)st[i].capacity) ||
            !set_prop_num(env, o, "usedBytes", (double)st[i].used_bytes) ||
            !set_prop_num(env, o, "objects", (double)st[i].objects) ||
            !set_prop_num(env, o, "clients", st[i].clients) ||
            !set_prop_num(env, o, "uid", st[i].uid) ||
            !set_prop_num(env, o, "mode", st[i].mode) ||
            napi_set_element(env, arr, (uint32_t)i, o) != napi_ok)
            arr = NULL;
    }
    free(st);
    return arr ? arr : sn_napi_fail(env);
}

/* The per-env Int32Array / Float64Array for side results (a map lookup's
 * type, a compare-exchange's actual value) that would otherwise cost an
 * object allocation per call. */
static napi_value js_scratch(napi_env env, napi_callback_info info)
{
    SN_ARGS(0);
    struct sn_env *e = cbdata;
    napi_value r, a, b;
    SN_TRY(napi_get_reference_value(env, e->scratch_ref, &a));
    SN_TRY(napi_get_reference_value(env, e->fscratch_ref, &b));
    SN_TRY(napi_create_array_with_length(env, 2, &r));
    SN_TRY(napi_set_element(env, r, 0, a));
    SN_TRY(napi_set_element(env, r, 1, b));
    return r;
}

/* ---- snapshots (sharena_save / sharena_load) ---------------------------- */

static napi_value throw_snapshot(napi_env env, int r, const char *op)
{
    const char *why = sharena_snapshot_message();
    return *why ? throw_hint(env, r, op, why) : sn_throw(env, r, op);
}

/* arenaSave(handle, path) -> { bytes, imageBytes, barrierNs } */
static napi_value js_arena_save(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    sharena_arena *a = sn_arena_get(env, argv[0], NULL);
    if (!a)
        return NULL;
    struct sn_str path;
    if (!sn_get_str(env, argv[1], &path))
        return NULL;
    sharena_save_info si;
    int r = strlen(path.p) == path.len ? sharena_save(a, path.p, &si)
                                       : SHARENA_EINVAL;
    sn_str_free(&path);
    if (r < 0)
        return throw_snapshot(env, r, "Arena.save");
    napi_value o, v;
    SN_TRY(napi_create_object(env, &o));
    SN_TRY(napi_create_double(env, (double)si.bytes, &v));
    SN_TRY(napi_set_named_property(env, o, "bytes", v));
    SN_TRY(napi_create_double(env, (double)si.image_bytes, &v));
    SN_TRY(napi_set_named_property(env, o, "imageBytes", v));
    SN_TRY(napi_create_double(env, (double)si.barrier_ns, &v));
    SN_TRY(napi_set_named_property(env, o, "barrierNs", v));
    return o;
}

/* arenaLoad(socket|null, path, name, mode): create arena `name` from the
 * image (the caller opens it afterwards). */
static napi_value js_arena_load(napi_env env, napi_callback_info info)
{
    SN_ARGS(4);
    struct sn_str sock, path, name;
    bool has_sock;
    uint32_t mode;
    if (!get_socket(env, argv[0], &sock, &has_sock))
        return NULL;
    if (!sn_get_str(env, argv[1], &path)) {
        sn_str_free(&sock);
        return NULL;
    }
    if (!sn_get_str(env, argv[2], &name)) {
        sn_str_free(&sock);
        sn_str_free(&path);
        return NULL;
    }
    napi_value result = NULL;
    if (napi_get_value_uint32(env, argv[3], &mode) != napi_ok || mode > 0777 ||
        strlen(path.p) != path.len || strlen(name.p) != name.len) {
        napi_throw_type_error(env, "EINVAL",
                              "Arena.load: bad path, name or mode");
        goto out;
    }
    int r;
    pthread_mutex_lock(&sn_lock);
    struct sn_conn *c = conn_get_locked(has_sock ? sock.p : NULL, &r);
    if (c) {
        sharena_open_opts o = {.mode = mode};
        r = sharena_load(c->c, path.p, name.p, &o, NULL);
        conn_unref_locked(c);
    }
    pthread_mutex_unlock(&sn_lock);
    if (r < 0) {
        char op[300];
        snprintf(op, sizeof op, "Arena.load('%.200s')", name.p);
        result = *sharena_snapshot_message()
                     ? throw_snapshot(env, r, op)
                     : throw_broker(env, r, op, has_sock, sock.p);
    } else {
        result = sn_undef(env);
    }
out:
    sn_str_free(&sock);
    sn_str_free(&path);
    sn_str_free(&name);
    return result;
}

const struct sn_fn sn_arena_fns[] = {
    {"defaultArena", js_default_arena},
    {"arenaOpen", js_arena_open},
    {"arenaFromFd", js_arena_from_fd},
    {"arenaClose", js_arena_close},
    {"arenaInfo", js_arena_info},
    {"arenaReadonly", js_arena_readonly},
    {"arenaOwner", js_arena_owner},
    {"arenaFd", js_arena_fd},
    {"errorTable", js_error_table},
    {"arenaDelete", js_arena_delete},
    {"arenaList", js_arena_list},
    {"scratch", js_scratch},
    {"arenaSave", js_arena_save},
    {"arenaLoad", js_arena_load},
    {NULL, NULL},
};

/* ------------------------------------------------------------------------ */
/* Environment life cycle. */

static void env_cleanup(void *arg)
{
    struct sn_env *e = arg;
    sn_locks_release_env(e); /* before the arenas go */
    sn_watch_stop_env(e);
    sn_views_env_gone(e);
    while (e->nowned) {
        uint32_t h = e->owned[--e->nowned];
        pthread_mutex_lock(&sn_lock);
        __atomic_store_n(&sn_arenas[h & (SN_MAX_ARENAS - 1)].closed, true,
                         __ATOMIC_RELEASE);
        pthread_mutex_unlock(&sn_lock);
        sn_arena_unref(h);
    }
    if (e->has_default)
        sn_arena_unref(default_handle());
    e->has_default = false;
}

static void env_finalize(napi_env env, void *data, void *hint)
{
    struct sn_env *e = data;
    (void)hint;
    /* (statuses: a finalizer has nobody to report to; a reference that
     * cannot be deleted goes with the environment) */
    if (e->scratch_ref)
        (void)napi_delete_reference(env, e->scratch_ref);
    if (e->fscratch_ref)
        (void)napi_delete_reference(env, e->fscratch_ref);
    if (e->dispatch)
        (void)napi_delete_reference(env, e->dispatch);
    free(e);
}

static bool add_fns(napi_env env, napi_value exports, struct sn_env *e,
                    const struct sn_fn *fns)
{
    for (; fns->name; fns++) {
        napi_value f;
        if (napi_create_function(env, fns->name, NAPI_AUTO_LENGTH, fns->cb, e,
                                 &f) != napi_ok ||
            napi_set_named_property(env, exports, fns->name, f) != napi_ok)
            return false;
    }
    return true;
}

static napi_value init(napi_env env, napi_value exports)
{
    struct sn_env *e = calloc(1, sizeof *e);
    if (!e)
        return sn_throw(env, SHARENA_ENOMEM, "sharena");
    e->env = env;
    napi_value ab, ta, fab, fta;
    void *p, *fp;
    if (napi_create_arraybuffer(env, SN_SCRATCH_INTS * sizeof(int32_t), &p,
                                &ab) != napi_ok ||
        napi_create_typedarray(env, napi_int32_array, SN_SCRATCH_INTS, ab, 0,
                               &ta) != napi_ok ||
        napi_create_arraybuffer(env, 4 * sizeof(double), &fp, &fab) !=
            napi_ok ||
        napi_create_typedarray(env, napi_float64_array, 4, fab, 0, &fta) !=
            napi_ok) {
        free(e);
        return NULL;
    }
    e->scratch = p;
    e->fscratch = fp;
    if (napi_create_reference(env, ta, 1, &e->scratch_ref) != napi_ok ||
        napi_create_reference(env, fta, 1, &e->fscratch_ref) != napi_ok ||
        napi_set_instance_data(env, e, env_finalize, NULL) != napi_ok) {
        if (e->scratch_ref)
            (void)napi_delete_reference(env, e->scratch_ref);
        free(e);
        return sn_napi_fail(env);
    }
    int r = default_acquire();
    if (r < 0)
        return sn_throw(env, r, "sharena: creating the in-process arena");
    e->has_default = true;
    if (napi_add_env_cleanup_hook(env, env_cleanup, e) != napi_ok) {
        env_cleanup(e);
        return sn_napi_fail(env);
    }
    if (!add_fns(env, exports, e, sn_arena_fns) ||
        !add_fns(env, exports, e, sn_object_fns) ||
        !add_fns(env, exports, e, sn_watch_fns) ||
        !add_fns(env, exports, e, sn_build_fns))
        return sn_napi_fail(env);
    napi_value v = sn_uint(env, SHARENA_VERSION_MAJOR * 10000 +
                                    SHARENA_VERSION_MINOR * 100 +
                                    SHARENA_VERSION_PATCH);
    if (!v || napi_set_named_property(env, exports, "libVersion", v) != napi_ok)
        return sn_napi_fail(env);
    /* The header's type tags and open flags, so that node/lib keeps no
     * copy of them: types.{NONE..NULL}, openFlags.{CREATE,EXCL,READONLY},
     * fieldFlags.NULLABLE. */
    static const struct {
        const char *obj, *name;
        int32_t value;
    } consts[] = {
        {"types", "NONE", SHARENA_T_NONE},
        {"types", "STRING", SHARENA_T_STRING},
        {"types", "NUMBER", SHARENA_T_NUMBER},
        {"types", "BOOL", SHARENA_T_BOOL},
        {"types", "MAP", SHARENA_T_MAP},
        {"types", "VECTOR", SHARENA_T_VECTOR},
        {"types", "STRUCT", SHARENA_T_STRUCT},
        {"types", "BYTES", SHARENA_T_BYTES},
        {"types", "SHAPE", SHARENA_T_SHAPE},
        {"types", "NULL", SHARENA_T_NULL},
        {"fieldFlags", "NULLABLE", SHARENA_FIELD_NULLABLE},
        {"openFlags", "CREATE", SHARENA_CREATE},
        {"openFlags", "EXCL", SHARENA_EXCL},
        {"openFlags", "READONLY", SHARENA_READONLY},
    };
    napi_value objs[3];
    const char *names[3] = {"types", "openFlags", "fieldFlags"};
    for (int k = 0; k < 3; k++) {
        if (napi_create_object(env, &objs[k]) != napi_ok)
            return sn_napi_fail(env);
        for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++) {
            napi_value n;
            if (strcmp(consts[i].obj, names[k]) != 0)
                continue;
            if (napi_create_int32(env, consts[i].value, &n) != napi_ok ||
                napi_set_named_property(env, objs[k], consts[i].name, n) !=
                    napi_ok)
                return sn_napi_fail(env);
        }
        if (napi_set_named_property(env, exports, names[k], objs[k]) != napi_ok)
            return sn_napi_fail(env);
    }
    return exports;
}

NAPI_MODULE_INIT()
{
    return init(env, exports);
}
