/* objects.c: typed operations on arena objects (strings, numbers, booleans,
 * bytes, maps, vectors, structs, roots). Each function converts its JS
 * arguments, calls one libsharena function and converts the result; the
 * argument checks users see first are in lib/ (JS). Every function takes the
 * arena handle first. Side results (a looked-up value's type) go to the
 * per-env scratch array instead of a new object. */
#include "sn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GET_A(i)                                                               \
    uint32_t handle;                                                           \
    sharena_arena *a = sn_arena_get(env, argv[i], &handle);                    \
    if (!a)                                                                    \
        return NULL;                                                           \
    (void)handle
#define GET_ID(var, i)                                                         \
    sharena_id var;                                                            \
    if (!sn_get_id(env, argv[i], &var))                                        \
    return NULL
/* After an operation that may have freed objects (an owned child replaced
 * or removed, a drop): detach zero-copy views of what is gone. */
#define FREED() sn_views_after_free(cbdata, handle)
#define CHECK(r, op)                                                           \
    do {                                                                       \
        int r_ = (r);                                                          \
        if (r_ < 0)                                                            \
            return sn_throw_arena(env, r_, op, a);                             \
    } while (0)

static bool get_double(napi_env env, napi_value v, double *d)
{
    if (napi_get_value_double(env, v, d) != napi_ok) {
        napi_throw_type_error(env, "EINVAL", "expected a number");
        return false;
    }
    return true;
}

static bool get_flag(napi_env env, napi_value v)
{
    bool b = false;
    /* anything but a boolean (undefined above all) is false: that is all
     * a failing status says here */
    if (napi_get_value_bool(env, v, &b) != napi_ok)
        b = false;
    return b;
}

/* A uint32 / int32 argument the JS layer always passes as a number. */
static bool get_u32(napi_env env, napi_value v, uint32_t *out)
{
    if (napi_get_value_uint32(env, v, out) != napi_ok) {
        napi_throw_type_error(env, "EINVAL", "expected a number");
        return false;
    }
    return true;
}
static bool get_i32(napi_env env, napi_value v, int32_t *out)
{
    if (napi_get_value_int32(env, v, out) != napi_ok) {
        napi_throw_type_error(env, "EINVAL", "expected a number");
        return false;
    }
    return true;
}

#define make_string sn_string

/* Report the type of a value just looked up (for the JS wrapper class). */
static napi_value found(napi_env env, struct sn_env *e, sharena_arena *a,
                        sharena_id id, const char *op)
{
    int t = sharena_type_of(a, id);
    CHECK(t, op);
    e->scratch[0] = t;
    return sn_id(env, id);
}

/* Report the id and type of an entry read with lib's typed read
 * (sharena_map_get_value/sharena_vector_get_value with no buffer: a value
 * replaced meanwhile is looked up again there, so a racing writer never
 * throws; a string's ERANGE only says its text was not asked for). */
static napi_value found_value(napi_env env, struct sn_env *e, sharena_arena *a,
                              int r, const sharena_value *v, const char *op)
{
    if (r == SHARENA_ERANGE && v->type == SHARENA_T_STRING)
        r = 0;
    CHECK(r, op);
    e->scratch[0] = v->type;
    return sn_id(env, v->id);
}

/* ------------------------------------------------------------------------ */
/* Generic */

static napi_value js_type_of(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    GET_A(0);
    GET_ID(id, 1);
    int t = sharena_type_of(a, id);
    CHECK(t, "typeOf");
    return sn_int(env, t);
}

/* typeOrError(h, id) -> type (> 0) or the negative error code: no throw */
static napi_value js_type_or_error(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    GET_A(0);
    GET_ID(id, 1);
    return sn_int(env, sharena_type_of(a, id));
}

static napi_value js_drop(napi_env env, napi_callback_info info)
{
    SN_ARGS(3);
    GET_A(0);
    GET_ID(id, 1);
    CHECK(sharena_drop(a, id,
                       get_flag(env, argv[2]) ? SHARENA_DROP_RECURSIVE : 0),
          "drop");
    FREED();
    return sn_undef(env);
}

static napi_value js_version(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    GET_A(0);
    GET_ID(id, 1);
    uint64_t v;
    CHECK(sharena_change_count(a, id, &v), "version");
    return sn_num(env, (double)v);
}

/* ------------------------------------------------------------------------ */
/* Strings */

static napi_value js_str_new(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    GET_A(0);
    struct sn_str s;
    if (!sn_get_str(env, argv[1], &s))
        return NULL;
    sharena_id id;
    int r = sharena_string_new(a, s.p, s.len, &id);
    sn_str_free(&s);
    CHECK(r, "StringRef");
    return sn_id(env, id);
}

static napi_value str_value(napi_env env, sharena_arena *a, sharena_id id,
                            const char *op)
{
    char buf[1024];
    size_t len;
    int r = sharena_string_get(a, id, buf, sizeof buf, &len);
    if (r == 0)
        return make_string(env, buf, len);
    if (r != SHARENA_ERANGE)
        return sn_throw(env, r, op);
    char *p;
    CHECK(sharena_string_dup(a, id, &p, &len), op);
    napi_value v = make_string(env, p, len);
    free(p);
    return v;
}

static napi_value js_str_get(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    GET_A(0);
    GET_ID(id, 1);
    return str_value(env, a, id, "StringRef.obtainValue");
}

static napi_value js_str_set(napi_env env, napi_callback_info info)
{
    SN_ARGS(3);
    GET_A(0);
    GET_ID(id, 1);
    struct sn_str s;
    if (!sn_get_str(env, argv[2], &s))
        return NULL;
    int r = sharena_string_set(a, id, s.p, s.len);
    sn_str_free(&s);
    CHECK(r, "StringRef.setValue");
    return sn_undef(env);
}

static napi_value js_str_len(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    GET_A(0);
    GET_ID(id, 1);
    size_t n;
    CHECK(sharena_string_len(a, id, &n), "StringRef.byteLength");
    return sn_num(env, (double)n);
}

/* ------------------------------------------------------------------------ */
/* Numbers and booleans */

static napi_value js_num_new(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    GET_A(0);
    double d;
    if (!get_double(env, argv[1], &d))
        return NULL;
    sharena_id id;
    CHECK(sharena_number_new(a, d, &id), "NumberRef");
    return sn_id(env, id);
}

static napi_value js_num_get(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    GET_A(0);
    GET_ID(id, 1);
    double d;
    CHECK(sharena_number_get(a, id, &d), "NumberRef.obtainValue");
    return sn_num(env, d);
}

static napi_value js_num_set(napi_env env, napi_callback_info info)
{
    SN_ARGS(3);
    GET_A(0);
    GET_ID(id, 1);
    double d;
    if (!get_double(env, argv[2], &d))
        return NULL;
    CHECK(sharena_number_set(a, id, d), "NumberRef.setValue");
    return sn_undef(env);
}

static napi_value js_num_add(napi_env env, napi_callback_info info)
{
    SN_ARGS(3);
    GET_A(0);
    GET_ID(id, 1);
    double d, res;
    if (!get_double(env, argv[2], &d))
        return NULL;
    CHECK(sharena_number_add(a, id, d, &res), "NumberRef.add");
    return sn_num(env, res);
}

/* numCas(h, id, expected, desired) -> swapped; fscratch[0] = value found */
static napi_value js_num_cas(napi_env env, napi_callback_info info)
{
    SN_ARGS(4);
    struct sn_env *e = cbdata;
    GET_A(0);
    GET_ID(id, 1);
    double x, y, actual;
    bool swapped;
    if (!get_double(env, argv[2], &x) || !get_double(env, argv[3], &y))
        return NULL;
    CHECK(sharena_number_cas(a, id, x, y, &swapped, &actual),
          "NumberRef.compareExchange");
    e->fscratch[0] = actual;
    return sn_bool(env, swapped);
}

static napi_value js_bool_new(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    GET_A(0);
    sharena_id id;
    CHECK(sharena_bool_new(a, get_flag(env, argv[1]), &id), "BoolRef");
    return sn_id(env, id);
}

static napi_value js_bool_get(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    GET_A(0);
    GET_ID(id, 1);
    bool b;
    CHECK(sharena_bool_get(a, id, &b), "BoolRef.obtainValue");
    return sn_bool(env, b);
}

static napi_value js_bool_set(napi_env env, napi_callback_info info)
{
    SN_ARGS(3);
    GET_A(0);
    GET_ID(id, 1);
    CHECK(sharena_bool_set(a, id, get_flag(env, argv[2])), "BoolRef.setValue");
    return sn_undef(env);
}

/* ------------------------------------------------------------------------ */
/* Bytes */

static napi_value js_bytes_new(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    GET_A(0);
    uint64_t n;
    if (!sn_get_u64(env, argv[1], &n))
        return NULL;
    sharena_id id;
    CHECK(sharena_bytes_new(a, n, &id), "BytesRef");
    return sn_id(env, id);
}

static napi_value js_bytes_size(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    GET_A(0);
    GET_ID(id, 1);
    void *p;
    uint64_t n;
    CHECK(sharena_bytes_ptr(a, id, &p, &n), "BytesRef.size");
    return sn_num(env, (double)n);
}

/* bytesView(h, id) -> an external ArrayBuffer over the arena memory
 * (views.c: detached when this process frees the object or closes the
 * arena; it keeps the mapping alive until collected). */
static napi_value js_bytes_view(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    GET_A(0);
    GET_ID(id, 1);
    if (sharena_arena_readonly(a))
        return sn_throw_msg(env, "EROFS",
                            "BytesRef.buffer: the arena is mapped read-only "
                            "and a Buffer would be writable (use "
                            "bytes.read() for a copy)");
    void *p;
    uint64_t n;
    CHECK(sharena_bytes_ptr(a, id, &p, &n), "BytesRef.buffer");
    if (n == 0) { /* V8 needs a non-NULL pointer only for non-empty buffers */
        napi_value ab;
        void *unused;
        /* fails with napi_pending_exception while this worker_thread is
         * being terminated: ab is then unset */
        SN_TRY(napi_create_arraybuffer(env, 0, &unused, &ab));
        return ab;
    }
    return sn_view_new(env, cbdata, handle, id, p, (size_t)n);
}

/* bytesRead(h, id, offset, length) -> Buffer (a copy) */
static napi_value js_bytes_read(napi_env env, napi_callback_info info)
{
    SN_ARGS(4);
    GET_A(0);
    GET_ID(id, 1);
    uint64_t off, len;
    if (!sn_get_u64(env, argv[2], &off) || !sn_get_u64(env, argv[3], &len))
        return NULL;
    if (len > (UINT64_C(1) << 32))
        return sn_throw(env, SHARENA_ERANGE, "BytesRef.read");
    void *dst;
    napi_value buf;
    SN_TRY(napi_create_buffer(env, (size_t)len, &dst, &buf));
    CHECK(sharena_bytes_read(a, id, off, dst, (size_t)len), "BytesRef.read");
    return buf;
}

/* The bytes of any ArrayBufferView: a Buffer, another TypedArray or a
 * DataView (the JS layer checks with ArrayBuffer.isView, so this accepts
 * exactly the same set). */
static bool view_bytes(napi_env env, napi_value v, void **p, size_t *len)
{
    bool is = false;
    napi_value ab;
    size_t off;
    if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
        napi_typedarray_type t;
        size_t n, el;
        if (napi_get_typedarray_info(env, v, &t, &n, p, &ab, &off) != napi_ok) {
            sn_napi_fail(env);
            return false;
        }
        switch (t) {
        case napi_int16_array:
        case napi_uint16_array:
            el = 2;
            break;
        case napi_int32_array:
        case napi_uint32_array:
        case napi_float32_array:
            el = 4;
            break;
        case napi_float64_array:
        case napi_bigint64_array:
        case napi_biguint64_array:
            el = 8;
            break;
        default:
            el = 1;
        }
        *len = n * el;
        return true;
    }
    if (napi_is_dataview(env, v, &is) == napi_ok && is) {
        if (napi_get_dataview_info(env, v, len, p, &ab, &off) != napi_ok) {
            sn_napi_fail(env);
            return false;
        }
        return true;
    }
    napi_throw_type_error(env, "EINVAL",
                          "BytesRef: expected a Buffer, TypedArray or "
                          "DataView");
    return false;
}

/* bytesWrite(h, id, offset, typedArrayOrBuffer) */
static napi_value js_bytes_write(napi_env env, napi_callback_info info)
{
    SN_ARGS(4);
    GET_A(0);
    GET_ID(id, 1);
    uint64_t off;
    if (!sn_get_u64(env, argv[2], &off))
        return NULL;
    void *src = NULL;
    size_t len = 0;
    if (!view_bytes(env, argv[3], &src, &len))
        return NULL;
    CHECK(sharena_bytes_write(a, id, off, src, len), "BytesRef.write");
    return sn_undef(env);
}

/* ------------------------------------------------------------------------ */
/* Maps */

static napi_value js_map_new(napi_env env, napi_callback_info info)
{
    SN_ARGS(1);
    GET_A(0);
    sharena_id id;
    CHECK(sharena_map_new(a, &id), "MapRef");
    return sn_id(env, id);
}

/* mapSet(h, map, key, valueId, owned) */
static napi_value js_map_set(napi_env env, napi_callback_info info)
{
    SN_ARGS(5);
    GET_A(0);
    GET_ID(m, 1);
    GET_ID(v, 3);
    struct sn_str k;
    if (!sn_get_str(env, argv[2], &k))
        return NULL;
    int r = sharena_map_set(a, m, k.p, k.len, v,
                            get_flag(env, argv[4]) ? SHARENA_OWNED : 0, NULL);
    sn_str_free(&k);
    CHECK(r, "MapRef.set");
    FREED();
    return sn_undef(env);
}

/* mapSetValue(h, map, key, string|number|boolean|null): a plain value, in
 * the map's entry (a string longer than 16 bytes: an owned object) */
static napi_value js_map_set_value(napi_env env, napi_callback_info info)
{
    SN_ARGS(4);
    GET_A(0);
    GET_ID(m, 1);
    struct sn_str k;
    if (!sn_get_str(env, argv[2], &k))
        return NULL;
    napi_valuetype t;
    if (napi_typeof(env, argv[3], &t) != napi_ok) {
        sn_str_free(&k);
        return sn_napi_fail(env);
    }
    int r;
    if (t == napi_string) {
        struct sn_str s;
        if (!sn_get_str(env, argv[3], &s)) {
            sn_str_free(&k);
            return NULL;
        }
        r = sharena_map_set_string(a, m, k.p, k.len, s.p, s.len);
        sn_str_free(&s);
    } else if (t == napi_number) {
        double d;
        r = napi_get_value_double(env, argv[3], &d) == napi_ok
                ? sharena_map_set_number(a, m, k.p, k.len, d)
                : SHARENA_EINVAL;
    } else if (t == napi_boolean) {
        r = sharena_map_set_bool(a, m, k.p, k.len, get_flag(env, argv[3]));
    } else if (t == napi_null) {
        r = sharena_map_set_null(a, m, k.p, k.len);
    } else {
        r = SHARENA_EINVAL;
    }
    sn_str_free(&k);
    CHECK(r, "MapRef.set");
    FREED();
    return sn_undef(env);
}

/* Tries of map_ref_at() while the entry keeps changing between its read and
 * the id given to it: each one means another writer stored a value in the
 * entry meanwhile, so only an entry rewritten without pause reaches it. */
#define SN_MAP_REF_TRIES 1000

static void sn_fast_fill(struct sn_env *e, const sharena_arena *a,
                         sharena_id id);

/* The id and type of the value at @p key, for a ref (MapRef.get, entries):
 * a value the map stores in its entry (a number, boolean or short string:
 * sharena_map_set_number() and its siblings) has no id, and is given one
 * through sharena_map_get() (under the map's lock it becomes an object the
 * map owns: a write, SHARENA_EROFS on a read-only mapping), then read
 * again, so that id and type come from one read. A null stored in the
 * entry is not given one: id 0 with type SHARENA_T_NULL (JavaScript null,
 * sn_ref_id()). With @p fast, the
 * map's fast-read state is taken before each read (objects.c,
 * sn_fast_fill), so a promotion's own change of the map is not taken for
 * a later one. SHARENA_ENOENT: no such key. */
static int map_ref_at(struct sn_env *e, const sharena_arena *a, sharena_id m,
                      const char *key, size_t klen, bool fast, sharena_value *v)
{
    for (unsigned i = 0; i < SN_MAP_REF_TRIES; i++) {
        if (fast)
            sn_fast_fill(e, a, m);
        int r = sharena_map_get_value(a, m, key, klen, NULL, 0, v);
        /* (a string's ERANGE only says its text was not asked for) */
        if (r == SHARENA_ERANGE && v->type == SHARENA_T_STRING)
            r = 0;
        /* a null read from the entry needs no id: JavaScript's null is
         * all a ref of it could give */
        if (r < 0 || v->id || v->type == SHARENA_T_NULL)
            return r;
        sharena_id id;
        if ((r = sharena_map_get(a, m, key, klen, &id)) < 0)
            return r;
    }
    return SHARENA_EBUSY;
}

/* The id map_ref_at() found, for JavaScript: null for a null stored in the
 * entry (wrap() reads any null as null), else the id. */
/* As map_ref_at(), for the entry at @p at that held @p key when an
 * iteration read it: its value as an id (given one, by its position: see
 * sharena_map_next()), or a null stored in the entry as it is.
 * SHARENA_ENOENT: the entry holds another key now. */
static int map_ref_next(const sharena_arena *a, sharena_id m, uint64_t at,
                        const char *key, size_t klen, size_t kcap,
                        sharena_value *v)
{
    char *k2 = malloc(kcap);
    if (!k2)
        return SHARENA_ENOMEM;
    size_t kl2 = 0;
    uint64_t c = at;
    int r = sharena_map_next_value(a, m, &c, k2, kcap, &kl2, NULL, 0, v);
    if (r == SHARENA_ERANGE && v->type == SHARENA_T_STRING)
        r = 0;
    if (r == 0 && (kl2 != klen || memcmp(k2, key, klen)))
        r = SHARENA_ENOENT; /* another key moved there */
    if (r == 0 && !v->id && v->type != SHARENA_T_NULL) {
        sharena_id id;
        c = at;
        r = sharena_map_next(a, m, &c, k2, kcap, &kl2, &id, NULL);
        if (r == 0 && (kl2 != klen || memcmp(k2, key, klen)))
            r = SHARENA_ENOENT;
        if (r == 0) {
            v->id = id;
            int t = sharena_type_of(a, id);
            r = t < 0 ? t : 0;
            v->type = t;
        }
    }
    free(k2);
    return r;
}

static napi_value sn_ref_id(napi_env env, const sharena_value *v)
{
    return v->id ? sn_id(env, v->id) : sn_null(env);
}

/* Throw map_ref_at()'s error @p r for @p op: EROFS says why a read of a
 * ref writes and what reads without writing. */
static napi_value throw_map_ref(napi_env env, int r, const char *op,
                                const sharena_arena *a, const char *key,
                                size_t klen)
{
    if (r != SHARENA_EROFS)
        return sn_throw_arena(env, r, op, a);
    char msg[320];
    snprintf(msg, sizeof msg,
             "%s: the value at key '%.*s%s' is stored in the map's entry and "
             "has no id; a ref needs one, and giving it one is a write (read "
             "the value with getValue() or toObject(), which never write)",
             op, klen > 64 ? 64 : (int)klen, key, klen > 64 ? "..." : "");
    return sn_throw_arena(env, r, msg, a);
}

/* mapGet(h, map, key) -> id or 0 when missing (null for a null stored in
 * the entry); scratch[0] = its type. A value stored in the entry is given
 * an id (map_ref_at). */
static napi_value js_map_get(napi_env env, napi_callback_info info)
{
    SN_ARGS(3);
    struct sn_env *e = cbdata;
    GET_A(0);
    GET_ID(m, 1);
    struct sn_str k;
    if (!sn_get_str(env, argv[2], &k))
        return NULL;
    sharena_value v;
    int r = map_ref_at(e, a, m, k.p, k.len, false, &v);
    napi_value out;
    if (r == SHARENA_ENOENT) {
        out = sn_num(env, 0);
    } else if (r < 0) {
        out = throw_map_ref(env, r, "MapRef.get", a, k.p, k.len);
    } else {
        e->scratch[0] = v.type;
        out = sn_ref_id(env, &v);
    }
    sn_str_free(&k);
    return out;
}

/* A typed read's value (@p text: a string's) as a plain JS value: null,
 * a number, a boolean or a string; for any other type its id (the JS
 * layer wraps or snapshots it). */
static napi_value plain_value(napi_env env, const sharena_value *v,
                              const char *text)
{
    switch (v->type) {
    case SHARENA_T_NULL:
        return sn_null(env);
    case SHARENA_T_NUMBER:
        return sn_num(env, v->number);
    case SHARENA_T_BOOL:
        return sn_bool(env, v->boolean);
    case SHARENA_T_STRING:
        return make_string(env, text, v->len);
    default:
        return sn_id(env, v->id);
    }
}

/* One typed read of a container's entry (sharena_map_get_value or
 * sharena_vector_get_value, through @p ctx). */
typedef int (*typed_read_fn)(const sharena_arena *a, const void *ctx, char *buf,
                             size_t cap, sharena_value *v);

/* @p read into *buf, which starts as @p stack and is made larger (malloc)
 * for a string longer than it: again with its length, a string that keeps
 * growing meanwhile ending as SHARENA_EBUSY. The caller frees *buf when it
 * is not @p stack. */
static int read_grown(const sharena_arena *a, typed_read_fn read,
                      const void *ctx, char *stack, size_t scap, char **buf,
                      sharena_value *v)
{
    size_t cap = scap;
    *buf = stack;
    for (int i = 0;; i++) {
        int r = read(a, ctx, *buf, cap, v);
        if (r != SHARENA_ERANGE || v->type != SHARENA_T_STRING)
            return r;
        if (*buf != stack)
            free(*buf);
        *buf = stack;
        if (i == 8)
            return SHARENA_EBUSY;
        cap = v->len + 1;
        char *nb = malloc(cap);
        if (!nb)
            return SHARENA_ENOMEM;
        *buf = nb;
    }
}

struct map_key_read {
    sharena_id map;
    const char *key;
    size_t klen;
};

static int map_key_read(const sharena_arena *a, const void *ctx, char *buf,
                        size_t cap, sharena_value *v)
{
    const struct map_key_read *k = ctx;
    return sharena_map_get_value(a, k->map, k->key, k->klen, buf, cap, v);
}

struct vec_index_read {
    sharena_id vec;
    uint64_t index;
};

static int vec_index_read(const sharena_arena *a, const void *ctx, char *buf,
                          size_t cap, sharena_value *v)
{
    const struct vec_index_read *x = ctx;
    return sharena_vector_get_value(a, x->vec, x->index, buf, cap, v);
}

/* mapGetValue(h, map, key) -> the plain value at key in one consistent
 * library read (sharena_map_get_value: type and value together, a value
 * replaced meanwhile looked up again): undefined (no key, scratch[0] = 0),
 * null, a number, a boolean or a string; for another type its id, with
 * scratch[0] = its type (the caller snapshots it). */
static napi_value js_map_get_value(napi_env env, napi_callback_info info)
{
    SN_ARGS(3);
    struct sn_env *e = cbdata;
    GET_A(0);
    GET_ID(m, 1);
    struct sn_str k;
    if (!sn_get_str(env, argv[2], &k))
        return NULL;
    char stack[1024], *buf;
    sharena_value v;
    struct map_key_read kr = {m, k.p, k.len};
    int r = read_grown(a, map_key_read, &kr, stack, sizeof stack, &buf, &v);
    sn_str_free(&k);
    napi_value out = NULL;
    e->scratch[0] = r == 0 ? v.type : 0;
    if (r == SHARENA_ENOENT)
        out = sn_undef(env);
    else if (r < 0)
        sn_throw(env, r, "MapRef.getValue");
    else
        out = plain_value(env, &v, buf);
    if (buf != stack)
        free(buf);
    return out;
}

/* mapHas(h, map, key) -> boolean */
static napi_value js_map_has(napi_env env, napi_callback_info info)
{
    SN_ARGS(3);
    GET_A(0);
    GET_ID(m, 1);
    struct sn_str k;
    if (!sn_get_str(env, argv[2], &k))
        return NULL;
    /* (no value asked for: a value stored in the entry gets no id, nothing
     * is written) */
    int r = sharena_map_get(a, m, k.p, k.len, NULL);
    sn_str_free(&k);
    if (r == SHARENA_ENOENT)
        return sn_bool(env, false);
    CHECK(r, "MapRef.has");
    return sn_bool(env, true);
}

static napi_value js_map_remove(napi_env env, napi_callback_info info)
{
    SN_ARGS(3);
    GET_A(0);
    GET_ID(m, 1);
    struct sn_str k;
    if (!sn_get_str(env, argv[2], &k))
        return NULL;
    sharena_id old;
    int r = sharena_map_remove(a, m, k.p, k.len, &old);
    sn_str_free(&k);
    if (r == SHARENA_ENOENT)
        return sn_bool(env, false);
    CHECK(r, "MapRef.remove");
    FREED();
    return sn_bool(env, true);
}

static napi_value js_map_len(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    GET_A(0);
    GET_ID(m, 1);
    uint64_t n;
    CHECK(sharena_map_len(a, m, &n), "MapRef.len");
    return sn_num(env, (double)n);
}

/* A key buffer for an iteration: grown to @p need bytes (false: no
 * memory). */
static bool key_room(char **key, size_t *kcap, size_t need)
{
    if (need <= *kcap)
        return true;
    char *k2 = realloc(*key, need);
    if (!k2)
        return false;
    *key = k2;
    *kcap = need;
    return true;
}

/* Append @p n values to @p arr at *at. */
static bool push_all(napi_env env, napi_value arr, uint32_t *at,
                     const napi_value *vals, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (!vals[i] || napi_set_element(env, arr, (*at)++, vals[i]) != napi_ok)
            return false;
    return true;
}

/* mapEntries(h, map) -> [key0, id0, type0, key1, ...] (a snapshot of refs:
 * each key of the iteration, then its value looked up by key with
 * map_ref_at(), which gives a value stored in its entry an id: a write,
 * EROFS on a read-only mapping; id null for a null there). A key whose
 * value vanished meanwhile (removed, or a dangling ref) is left out. */
static napi_value js_map_entries(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    struct sn_env *e = cbdata;
    GET_A(0);
    GET_ID(m, 1);
    napi_value arr;
    SN_TRY(napi_create_array(env, &arr));
    uint64_t cursor = 0;
    uint32_t n = 0;
    size_t kcap = 256;
    char *key = malloc(kcap);
    if (!key)
        return sn_throw(env, SHARENA_ENOMEM, "MapRef.entries");
    for (;;) {
        size_t klen;
        int r = sharena_map_next(a, m, &cursor, key, kcap, &klen, NULL, NULL);
        if (r == SHARENA_ENOENT)
            break;
        if (r == SHARENA_ERANGE) {
            if (!key_room(&key, &kcap, klen + 1)) {
                free(key);
                return sn_throw(env, SHARENA_ENOMEM, "MapRef.entries");
            }
            continue;
        }
        sharena_value v;
        if (r == 0) {
            /* by the key's entry (where the cursor read it: an entry is
             * reached even when its hash was scribbled), else by key */
            r = map_ref_next(a, m, cursor - 1, key, klen, kcap, &v);
            if (r == SHARENA_ENOENT)
                r = map_ref_at(e, a, m, key, klen, false, &v);
            if (r == SHARENA_ENOENT || r == SHARENA_ESTALE)
                continue; /* removed meanwhile, or dangling (a map dropped
                           * meanwhile: the next sharena_map_next says) */
        }
        if (r < 0) {
            napi_value x = throw_map_ref(env, r, "MapRef.entries", a, key,
                                         klen);
            free(key);
            return x;
        }
        napi_value kv[3] = {make_string(env, key, klen), sn_ref_id(env, &v),
                            sn_int(env, v.type)};
        if (!push_all(env, arr, &n, kv, 3)) {
            free(key);
            return sn_napi_fail(env);
        }
    }
    free(key);
    return arr;
}

/* mapKeys(h, map) -> [key0, key1, ...] (a snapshot; no value is read, so
 * none is given an id). */
static napi_value js_map_keys(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    GET_A(0);
    GET_ID(m, 1);
    napi_value arr;
    SN_TRY(napi_create_array(env, &arr));
    uint64_t cursor = 0;
    uint32_t n = 0;
    size_t kcap = 256;
    char *key = malloc(kcap);
    if (!key)
        return sn_throw(env, SHARENA_ENOMEM, "MapRef.keys");
    for (;;) {
        size_t klen;
        int r = sharena_map_next(a, m, &cursor, key, kcap, &klen, NULL, NULL);
        if (r == SHARENA_ENOENT)
            break;
        if (r == SHARENA_ERANGE) {
            if (!key_room(&key, &kcap, klen + 1)) {
                free(key);
                return sn_throw(env, SHARENA_ENOMEM, "MapRef.keys");
            }
            continue;
        }
        if (r < 0) {
            free(key);
            return sn_throw_arena(env, r, "MapRef.keys", a);
        }
        napi_value kv = make_string(env, key, klen);
        if (!push_all(env, arr, &n, &kv, 1)) {
            free(key);
            return sn_napi_fail(env);
        }
    }
    free(key);
    return arr;
}

/* Retries of one entry of mapItems whose string value keeps growing past
 * the room made for it (then EBUSY), as in mapGetValue. */
#define SN_ITEM_GROW_TRIES 8

/* mapItems(h, map) -> [key0, value0, type0, key1, ...]: the map's values
 * read without giving any an id (sharena_map_next_value(): a read, also on
 * a read-only mapping; a map of a million numbers makes no object). A
 * null, number, boolean or string is the value itself; another type (map,
 * vector, struct, bytes) is its id, which the caller snapshots. A key
 * whose value is a dangling ref (dropped by its owner, at rest) is left
 * out, as in mapEntries. */
static napi_value js_map_items(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    GET_A(0);
    GET_ID(m, 1);
    napi_value arr;
    SN_TRY(napi_create_array(env, &arr));
    uint64_t cursor = 0;
    uint32_t n = 0;
    size_t kcap = 256, cap = 256;
    char *key = malloc(kcap), *buf = malloc(cap);
    unsigned grows = 0;
    int r = 0;
    if (!key || !buf)
        r = SHARENA_ENOMEM;
    while (r == 0) {
        size_t klen = 0;
        sharena_value v;
        r = sharena_map_next_value(a, m, &cursor, key, kcap, &klen, buf, cap,
                                   &v);
        if (r == SHARENA_ENOENT) {
            r = 1; /* the end */
            break;
        }
        if (r == SHARENA_ERANGE) {
            /* the key (type 0) or a string value did not fit: the cursor
             * stayed, again with room for both */
            r = 0;
            if (++grows > SN_ITEM_GROW_TRIES)
                r = SHARENA_EBUSY;
            else if (!key_room(&key, &kcap, klen + 1) ||
                     (v.type == SHARENA_T_STRING &&
                      !key_room(&buf, &cap, v.len + 1)))
                r = SHARENA_ENOMEM;
            continue;
        }
        if (r == SHARENA_ESTALE) {
            /* a dangling ref at rest: left out (a stale map is the error) */
            uint64_t len;
            r = sharena_map_len(a, m, &len);
            cursor++;
            continue;
        }
        if (r < 0)
            break;
        grows = 0;
        napi_value kv[3] = {make_string(env, key, klen),
                            plain_value(env, &v, buf), sn_int(env, v.type)};
        if (!push_all(env, arr, &n, kv, 3)) {
            free(key);
            free(buf);
            return sn_napi_fail(env);
        }
    }
    free(key);
    free(buf);
    if (r < 0)
        return sn_throw_arena(env, r, "MapRef.toObject", a);
    return arr;
}

/* ------------------------------------------------------------------------ */
/* Vectors */

static napi_value js_vec_new(napi_env env, napi_callback_info info)
{
    SN_ARGS(1);
    GET_A(0);
    sharena_id id;
    CHECK(sharena_vector_new(a, &id), "VectorRef");
    return sn_id(env, id);
}

static napi_value js_vec_push(napi_env env, napi_callback_info info)
{
    SN_ARGS(4);
    GET_A(0);
    GET_ID(vec, 1);
    GET_ID(v, 2);
    CHECK(sharena_vector_push(a, vec, v,
                              get_flag(env, argv[3]) ? SHARENA_OWNED : 0),
          "VectorRef.push");
    return sn_undef(env);
}

/* A number stored in vector item @p i has no id: a ref to it asks lib/ for
 * one, which makes it a number object in the item's place (promotion;
 * SHARENA_EROFS on a read-only arena). */
static int vec_promote(sharena_arena *a, sharena_id vec, uint64_t i,
                       sharena_value *v)
{
    int r = 0;
    /* the object made (or found) may be replaced and dropped by a writer
     * before its type is read: look again, as lib's typed reads do (a
     * dangling item, stale every time, ends the loop as ESTALE) */
    for (int k = 0; k < 1000; k++) {
        sharena_id id;
        r = sharena_vector_get(a, vec, i, &id, NULL);
        if (r == 0)
            r = sharena_value_read(a, id, NULL, 0, v);
        if (r != SHARENA_ESTALE)
            break;
    }
    if (r == SHARENA_ERANGE && v->type == SHARENA_T_STRING)
        r = 0; /* replaced by a string meanwhile: its text is not wanted */
    return r;
}

/* vecGet(h, vec, index) -> id, or 0 past the end; scratch[0] = type */
static napi_value js_vec_get(napi_env env, napi_callback_info info)
{
    SN_ARGS(3);
    struct sn_env *e = cbdata;
    GET_A(0);
    GET_ID(vec, 1);
    double d;
    if (napi_get_value_double(env, argv[2], &d) != napi_ok)
        return sn_throw_msg(env, "EINVAL",
                            "VectorRef.index: expected a number");
    if (!(d >= 0) || d != (double)(uint64_t)d) {
        uint64_t n; /* still report a stale vector as such */
        CHECK(sharena_vector_len(a, vec, &n), "VectorRef.index");
        return sn_num(env, 0);
    }
    sharena_value v;
    int r = sharena_vector_get_value(a, vec, (uint64_t)d, NULL, 0, &v);
    if (r == SHARENA_ERANGE && v.type == 0)
        return sn_num(env, 0); /* past the end */
    if (r == 0 && v.id == 0)
        r = vec_promote(a, vec, (uint64_t)d, &v);
    return found_value(env, e, a, r, &v, "VectorRef.index");
}

static napi_value js_vec_len(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    GET_A(0);
    GET_ID(vec, 1);
    uint64_t n;
    CHECK(sharena_vector_len(a, vec, &n), "VectorRef.len");
    return sn_num(env, (double)n);
}

/* vecSet(h, vec, index, id, owned) */
static napi_value js_vec_set(napi_env env, napi_callback_info info)
{
    SN_ARGS(5);
    GET_A(0);
    GET_ID(vec, 1);
    uint64_t i;
    if (!sn_get_u64(env, argv[2], &i))
        return NULL;
    GET_ID(v, 3);
    CHECK(sharena_vector_set(a, vec, i, v,
                             get_flag(env, argv[4]) ? SHARENA_OWNED : 0, NULL),
          "VectorRef.set");
    FREED();
    return sn_undef(env);
}

static napi_value js_vec_insert(napi_env env, napi_callback_info info)
{
    SN_ARGS(5);
    GET_A(0);
    GET_ID(vec, 1);
    uint64_t i;
    if (!sn_get_u64(env, argv[2], &i))
        return NULL;
    GET_ID(v, 3);
    CHECK(sharena_vector_insert(a, vec, i, v,
                                get_flag(env, argv[4]) ? SHARENA_OWNED : 0),
          "VectorRef.insert");
    return sn_undef(env);
}

/* vecRemove(h, vec, index) -> removed id if not owned (else 0) */
static napi_value js_vec_remove(napi_env env, napi_callback_info info)
{
    SN_ARGS(3);
    GET_A(0);
    GET_ID(vec, 1);
    uint64_t i;
    if (!sn_get_u64(env, argv[2], &i))
        return NULL;
    sharena_id old = 0;
    CHECK(sharena_vector_remove(a, vec, i, &old), "VectorRef.remove");
    FREED();
    return sn_id(env, old);
}

/* vecPop(h, vec) -> id (ownership moves to the caller) or 0 when empty;
 * scratch[0] = type */
static napi_value js_vec_pop(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    struct sn_env *e = cbdata;
    GET_A(0);
    GET_ID(vec, 1);
    sharena_id v;
    int r = sharena_vector_pop(a, vec, &v);
    if (r == SHARENA_ERANGE)
        return sn_num(env, 0);
    CHECK(r, "VectorRef.pop");
    return found(env, e, a, v, "VectorRef.pop");
}

/* vecPushNumber(h, vec, number): stored in the item itself (no object) */
static napi_value js_vec_push_number(napi_env env, napi_callback_info info)
{
    SN_ARGS(3);
    GET_A(0);
    GET_ID(vec, 1);
    double d;
    SN_TRY(napi_get_value_double(env, argv[2], &d));
    CHECK(sharena_vector_push_number(a, vec, d), "VectorRef.push");
    return sn_undef(env);
}

/* vecSetNumber(h, vec, index, number) */
static napi_value js_vec_set_number(napi_env env, napi_callback_info info)
{
    SN_ARGS(4);
    GET_A(0);
    GET_ID(vec, 1);
    uint64_t i;
    double d;
    if (!sn_get_u64(env, argv[2], &i))
        return NULL;
    SN_TRY(napi_get_value_double(env, argv[3], &d));
    CHECK(sharena_vector_set_number(a, vec, i, d), "VectorRef.set");
    FREED();
    return sn_undef(env);
}

/* vecInsertNumber(h, vec, index, number) */
static napi_value js_vec_insert_number(napi_env env, napi_callback_info info)
{
    SN_ARGS(4);
    GET_A(0);
    GET_ID(vec, 1);
    uint64_t i;
    double d;
    if (!sn_get_u64(env, argv[2], &i))
        return NULL;
    SN_TRY(napi_get_value_double(env, argv[3], &d));
    CHECK(sharena_vector_insert_number(a, vec, i, d), "VectorRef.insert");
    return sn_undef(env);
}

/* vecGetValue(h, vec, index) -> the plain value (a number, string, boolean,
 * null), a container's id (scratch[0] = its type), or undefined past the
 * end (scratch[0] = 0). Never asks for an id: a number stored in the item
 * stays there. */
static napi_value js_vec_get_value(napi_env env, napi_callback_info info)
{
    SN_ARGS(3);
    struct sn_env *e = cbdata;
    GET_A(0);
    GET_ID(vec, 1);
    uint64_t i;
    if (!sn_get_u64(env, argv[2], &i))
        return NULL;
    char stack[1024], *buf;
    sharena_value v;
    struct vec_index_read xr = {vec, i};
    int r = read_grown(a, vec_index_read, &xr, stack, sizeof stack, &buf, &v);
    napi_value out = NULL;
    e->scratch[0] = r == 0 ? v.type : 0;
    if (r == SHARENA_ERANGE)
        out = sn_undef(env);
    else if (r < 0)
        sn_throw_arena(env, r, "VectorRef.getValue", a);
    else
        out = plain_value(env, &v, buf);
    if (buf != stack)
        free(buf);
    return out;
}

/* vecReadNumbers(h, vec, start, count) -> a new Float64Array: a copy of
 * items [start, start + count) from one consistent read (ERANGE past the
 * end, ETYPE when one is no number). A copy, never a view: another process
 * can grow the vector and free its items block at any moment. */
static napi_value js_vec_read_numbers(napi_env env, napi_callback_info info)
{
    SN_ARGS(4);
    GET_A(0);
    GET_ID(vec, 1);
    uint64_t start, count;
    if (!sn_get_u64(env, argv[2], &start) || !sn_get_u64(env, argv[3], &count))
        return NULL;
    if (count > (UINT64_C(1) << 32))
        return sn_throw(env, SHARENA_ERANGE, "VectorRef.toFloat64Array");
    void *p;
    napi_value ab, ta;
    SN_TRY(napi_create_arraybuffer(env, (size_t)count * 8, &p, &ab));
    CHECK(sharena_vector_read_numbers(a, vec, start, p, (size_t)count),
          "VectorRef.toFloat64Array");
    SN_TRY(napi_create_typedarray(env, napi_float64_array, (size_t)count, ab, 0,
                                  &ta));
    return ta;
}

/* vecItems(h, vec) -> [id0, type0, id1, type1, ...] */
static napi_value js_vec_items(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    GET_A(0);
    GET_ID(vec, 1);
    uint64_t n;
    CHECK(sharena_vector_len(a, vec, &n), "VectorRef.values");
    napi_value arr;
    SN_TRY(napi_create_array(env, &arr));
    uint32_t k = 0;
    for (uint64_t i = 0; i < n; i++) {
        sharena_id v;
        int r = sharena_vector_get(a, vec, i, &v, NULL);
        if (r == SHARENA_ERANGE)
            break; /* shrank meanwhile */
        CHECK(r, "VectorRef.values");
        int t = sharena_type_of(a, v);
        if (t < 0)
            continue;
        napi_value iv = sn_id(env, v), tv = sn_int(env, t);
        if (!iv || !tv)
            return NULL;
        SN_TRY(napi_set_element(env, arr, k++, iv));
        SN_TRY(napi_set_element(env, arr, k++, tv));
    }
    return arr;
}

/* ------------------------------------------------------------------------ */
/* Structs */

/* shapeNew(h, [name...], [type...]) -> id; a type is its tag | flags << 8
 * (fieldFlags.NULLABLE << 8: the field may hold null) */
static napi_value js_shape_new(napi_env env, napi_callback_info info)
{
    SN_ARGS(3);
    GET_A(0);
    uint32_t n, n2;
    if (napi_get_array_length(env, argv[1], &n) != napi_ok ||
        napi_get_array_length(env, argv[2], &n2) != napi_ok || n != n2 ||
        n > SHARENA_FIELDS_MAX)
        return sn_throw_msg(env, "EINVAL", "bad struct definition");
    sharena_field_def defs[SHARENA_FIELDS_MAX];
    char names[SHARENA_FIELDS_MAX][SHARENA_FIELD_NAME_MAX + 1];
    for (uint32_t i = 0; i < n; i++) {
        napi_value nv, tv;
        size_t len;
        int32_t t;
        SN_TRY(napi_get_element(env, argv[1], i, &nv));
        SN_TRY(napi_get_element(env, argv[2], i, &tv));
        if (napi_get_value_string_utf8(env, nv, names[i], sizeof names[i],
                                       &len) != napi_ok ||
            napi_get_value_int32(env, tv, &t) != napi_ok)
            return sn_throw_msg(env, "EINVAL", "bad struct definition");
        if (len == SHARENA_FIELD_NAME_MAX) { /* maybe truncated */
            size_t full;
            SN_TRY(napi_get_value_string_utf8(env, nv, NULL, 0, &full));
            if (full > SHARENA_FIELD_NAME_MAX)
                return sn_throw_msg(env, "ENAMETOOLONG",
                                    "struct field names are at most 55 bytes");
        }
        defs[i].name = names[i];
        defs[i].type = (sharena_type)(t & 0xff);
        defs[i].size = 0;
        defs[i].flags = (sharena_field_flags)((uint32_t)t >> 8);
    }
    sharena_id id;
    CHECK(sharena_shape_new(a, defs, n, &id), "StructFactory");
    return sn_id(env, id);
}

/* shapeFields(h, shapeOrStruct) -> [name0, type0, ...], each type its tag
 * | flags << 8 as shapeNew takes it */
static napi_value js_shape_fields(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    GET_A(0);
    GET_ID(id, 1);
    size_t n;
    CHECK(sharena_shape_nfields(a, id, &n), "struct shape");
    napi_value arr;
    SN_TRY(napi_create_array_with_length(env, 2 * n, &arr));
    for (size_t i = 0; i < n; i++) {
        char name[SHARENA_FIELD_NAME_MAX + 1];
        sharena_type t;
        uint64_t size;
        CHECK(sharena_shape_field(a, id, i, name, sizeof name, &t, &size),
              "struct shape");
        sharena_field_flags fl = 0;
        CHECK(sharena_shape_field_flags(a, id, i, &fl), "struct shape");
        napi_value nv = make_string(env, name, strlen(name)),
                   tv = sn_int(env, (int32_t)t | (int32_t)fl << 8);
        if (!nv || !tv)
            return NULL;
        SN_TRY(napi_set_element(env, arr, (uint32_t)(2 * i), nv));
        SN_TRY(napi_set_element(env, arr, (uint32_t)(2 * i + 1), tv));
    }
    return arr;
}

static napi_value js_struct_new(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    GET_A(0);
    GET_ID(shape, 1);
    sharena_id id;
    CHECK(sharena_struct_new(a, shape, &id), "StructFactory.new");
    return sn_id(env, id);
}

static napi_value js_struct_shape(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    GET_A(0);
    GET_ID(id, 1);
    sharena_id shape;
    CHECK(sharena_struct_shape(a, id, &shape), "struct shape");
    return sn_id(env, shape);
}

/* Field @p f (of type @p t, the JS layer's) of struct @p st as a JS value:
 * null or the value, in one typed read. */
static napi_value struct_value(napi_env env, sharena_arena *a, sharena_id st,
                               uint32_t f, int32_t t)
{
    if (t != SHARENA_T_NUMBER && t != SHARENA_T_BOOL && t != SHARENA_T_STRING)
        return sn_throw(env, SHARENA_ETYPE, "struct.getKey");
    char buf[1024];
    sharena_value v = {0};
    int r = sharena_struct_get_value(a, st, f, buf, sizeof buf, &v);
    if (r == SHARENA_ERANGE && v.type == SHARENA_T_STRING)
        return str_value(env, a, v.id, "struct.getKey"); /* a long one */
    CHECK(r, "struct.getKey");
    switch (v.type) {
    case SHARENA_T_NULL:
        return sn_null(env);
    case SHARENA_T_NUMBER:
        return sn_num(env, v.number);
    case SHARENA_T_BOOL:
        return sn_bool(env, v.boolean);
    case SHARENA_T_STRING:
        return make_string(env, buf, v.len);
    default:
        return sn_throw(env, SHARENA_ETYPE, "struct.getKey");
    }
}

/* structGet(h, st, field, type) */
static napi_value js_struct_get(napi_env env, napi_callback_info info)
{
    SN_ARGS(4);
    GET_A(0);
    GET_ID(st, 1);
    uint32_t f;
    int32_t t;
    if (!get_u32(env, argv[2], &f) || !get_i32(env, argv[3], &t))
        return NULL;
    return struct_value(env, a, st, f, t & 0xff);
}

/* structSet(h, st, field, type, value) */
static napi_value js_struct_set(napi_env env, napi_callback_info info)
{
    SN_ARGS(5);
    GET_A(0);
    GET_ID(st, 1);
    uint32_t f;
    int32_t t;
    if (!get_u32(env, argv[2], &f) || !get_i32(env, argv[3], &t))
        return NULL;
    int r;
    if (t == SHARENA_T_NUMBER) {
        double d;
        if (!get_double(env, argv[4], &d))
            return NULL;
        r = sharena_struct_set_number(a, st, f, d);
    } else if (t == SHARENA_T_BOOL) {
        r = sharena_struct_set_bool(a, st, f, get_flag(env, argv[4]));
    } else if (t == SHARENA_T_STRING) {
        struct sn_str s;
        if (!sn_get_str(env, argv[4], &s))
            return NULL;
        r = sharena_struct_set_string(a, st, f, s.p, s.len);
        sn_str_free(&s);
    } else {
        r = SHARENA_ETYPE;
    }
    CHECK(r, "struct.setKey");
    return sn_undef(env);
}

/* structSetNull(h, st, field): ETYPE for a field that is not nullable */
static napi_value js_struct_set_null(napi_env env, napi_callback_info info)
{
    SN_ARGS(3);
    GET_A(0);
    GET_ID(st, 1);
    uint32_t f;
    if (!get_u32(env, argv[2], &f))
        return NULL;
    CHECK(sharena_struct_set_null(a, st, f), "struct.setKey");
    return sn_undef(env);
}

/* ------------------------------------------------------------------------ */
/* Named roots */

/* rootGet(h, name) -> id or 0; scratch[0] = type */
static napi_value js_root_get(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    struct sn_env *e = cbdata;
    GET_A(0);
    struct sn_str n;
    if (!sn_get_str(env, argv[1], &n))
        return NULL;
    sharena_id id;
    int r = sharena_root_get(a, n.p, &id);
    sn_str_free(&n);
    if (r == SHARENA_ENOENT)
        return sn_num(env, 0);
    CHECK(r, "arena.root");
    return found(env, e, a, id, "arena.root");
}

/* rootEnsure(h, name, type, size) -> id */
static napi_value js_root_ensure(napi_env env, napi_callback_info info)
{
    SN_ARGS(4);
    GET_A(0);
    struct sn_str n;
    int32_t t;
    uint64_t size = 0;
    if (napi_get_value_int32(env, argv[2], &t) != napi_ok)
        return sn_throw_msg(env, "EINVAL", "bad root type");
    napi_valuetype vt;
    SN_TRY(napi_typeof(env, argv[3], &vt));
    if (vt == napi_number && !sn_get_u64(env, argv[3], &size))
        return NULL;
    if (!sn_get_str(env, argv[1], &n))
        return NULL;
    sharena_id id;
    int r = sharena_root_ensure(a, n.p, t, size, &id, NULL);
    sn_str_free(&n);
    CHECK(r, "arena root");
    return sn_id(env, id);
}

/* rootSet(h, name, id, owned) */
static napi_value js_root_set(napi_env env, napi_callback_info info)
{
    SN_ARGS(4);
    GET_A(0);
    GET_ID(id, 2);
    struct sn_str n;
    if (!sn_get_str(env, argv[1], &n))
        return NULL;
    int r = sharena_root_set(a, n.p, id,
                             get_flag(env, argv[3]) ? SHARENA_OWNED : 0);
    sn_str_free(&n);
    CHECK(r, "arena.setRoot");
    FREED();
    return sn_undef(env);
}

static napi_value js_root_remove(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    GET_A(0);
    struct sn_str n;
    if (!sn_get_str(env, argv[1], &n))
        return NULL;
    int r = sharena_root_remove(a, n.p);
    sn_str_free(&n);
    if (r == SHARENA_ENOENT)
        return sn_bool(env, false);
    CHECK(r, "arena.removeRoot");
    FREED();
    return sn_bool(env, true);
}

/* rootsDir(h) -> the roots directory's map id */
static napi_value js_roots_dir(napi_env env, napi_callback_info info)
{
    SN_ARGS(1);
    GET_A(0);
    sharena_id dir;
    CHECK(sharena_roots(a, &dir), "arena.roots");
    return sn_id(env, dir);
}

/* ------------------------------------------------------------------------ */
/* ref.locked(fn): the object's lock around a synchronous function. The
 * nesting and deadlock rule is lib's (sharena_lock_nested: a lock this
 * thread holds gets one more level); this file only remembers what the
 * env's thread holds, so that a worker terminated inside fn releases it
 * (its env teardown runs on its own thread, which the library's per-thread
 * lock table belongs to) and close() of the arena is refused meanwhile. */

static struct sn_held *held_find(struct sn_env *e, uint32_t handle,
                                 sharena_id id)
{
    for (unsigned i = 0; i < e->nheld; i++)
        if (e->held[i].handle == handle && e->held[i].id == id)
            return &e->held[i];
    return NULL;
}

/* lock(h, id): take the object's lock, or one more level of it. Waits as
 * long as a live owner holds it (a dead owner's is recovered). */
static napi_value js_lock(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    struct sn_env *e = cbdata;
    GET_A(0);
    GET_ID(id, 1);
    struct sn_held *h = held_find(e, handle, id);
    if (!h && e->nheld == sizeof e->held / sizeof e->held[0])
        return sn_throw(env, SHARENA_ENOSPC, "locked");
    CHECK(sharena_lock_nested(a, id, -1), "locked");
    if (h) {
        h->depth++;
    } else {
        h = &e->held[e->nheld++];
        h->handle = handle;
        h->id = id;
        h->depth = 0;
    }
    return sn_undef(env);
}

/* unlock(h, id): give back one level taken by lock(). */
static napi_value js_unlock(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    struct sn_env *e = cbdata;
    GET_A(0);
    GET_ID(id, 1);
    struct sn_held *h = held_find(e, handle, id);
    if (!h)
        return sn_throw(env, SHARENA_EPERM, "locked");
    CHECK(sharena_unlock(a, id), "locked");
    if (h->depth) {
        h->depth--;
    } else {
        *h = e->held[--e->nheld];
    }
    return sn_undef(env);
}

void sn_locks_release_env(struct sn_env *e)
{
    while (e->nheld) {
        struct sn_held *h = &e->held[--e->nheld];
        /* (the arena reference this env holds keeps the mapping) */
        sharena_arena *a = __atomic_load_n(
            &sn_arenas[h->handle & (SN_MAX_ARENAS - 1)].a, __ATOMIC_ACQUIRE);
        for (uint32_t d = 0; a && d <= h->depth; d++)
            (void)sharena_unlock(a, h->id); /* (teardown: nobody to tell) */
    }
}

unsigned sn_locks_on(const struct sn_env *e, uint32_t handle)
{
    unsigned n = 0;
    for (unsigned i = 0; i < e->nheld; i++)
        n += e->held[i].handle == handle;
    return n;
}

/* ------------------------------------------------------------------------ */
/* Fast reads (docs/api-node.md, "Fast reads"). JS keeps each ref's last
 * value with the object's change counter and the arena's layout epoch
 * (lib's sharena_fastread, version 1) and checks both words through a view
 * of the mapping before trusting it: the view is only ever read, and the
 * values in it are only compared, never decoded, in JS. */

/* arenaView(h) -> ArrayBuffer over the start of the mapping, or null (too
 * big a runtime refuses external buffers: every read is then a call). */
static napi_value js_arena_view(napi_env env, napi_callback_info info)
{
    SN_ARGS(1);
    GET_A(0);
    sharena_arena_info in;
    CHECK(sharena_arena_info_get(a, &in), "arena");
    uint64_t n = in.capacity < SN_FAST_VIEW_MAX ? in.capacity
                                                : SN_FAST_VIEW_MAX;
    napi_value v = sn_view_map(env, cbdata, handle, sharena_arena_base(a),
                               (size_t)n);
    if (!v) {
        bool pending = false;
        if (napi_is_exception_pending(env, &pending) != napi_ok || pending)
            return NULL;
        napi_value nul;
        SN_TRY(napi_get_null(env, &nul));
        return nul;
    }
    return v;
}

/* Before a read of @p id: its fast-read state into scratch[SN_FAST..+3]
 * (counter index -1: keep nothing; the read itself reports errors). */
static void sn_fast_fill(struct sn_env *e, const sharena_arena *a,
                         sharena_id id)
{
    sharena_fastread f;
    int32_t *x = e->scratch + SN_FAST;
    x[0] = -1;
    if (sharena_fastread_get(a, id, &f) < 0 ||
        f.version != SHARENA_FASTREAD_VERSION || (f.counter & 1) ||
        f.counter_off % 4 || f.epoch_off % 4 ||
        f.counter_off + 4 > SN_FAST_VIEW_MAX ||
        f.epoch_off + 4 > SN_FAST_VIEW_MAX)
        return;
    x[0] = (int32_t)(f.counter_off / 4);
    x[1] = (int32_t)f.counter;
    x[2] = (int32_t)(f.epoch_off / 4);
    x[3] = (int32_t)f.epoch;
}

/* strGetF / numGetF / boolGetF (h, id): strGet etc. with the fast-read
 * state taken first (so the value is at least as new as the counter). */
static napi_value js_str_get_f(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    GET_A(0);
    GET_ID(id, 1);
    sn_fast_fill(cbdata, a, id);
    return str_value(env, a, id, "StringRef.obtainValue");
}

static napi_value js_num_get_f(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    GET_A(0);
    GET_ID(id, 1);
    sn_fast_fill(cbdata, a, id);
    double d;
    CHECK(sharena_number_get(a, id, &d), "NumberRef.obtainValue");
    return sn_num(env, d);
}

static napi_value js_bool_get_f(napi_env env, napi_callback_info info)
{
    SN_ARGS(2);
    GET_A(0);
    GET_ID(id, 1);
    sn_fast_fill(cbdata, a, id);
    bool b;
    CHECK(sharena_bool_get(a, id, &b), "BoolRef.obtainValue");
    return sn_bool(env, b);
}

/* After a container lookup found @p child: its counter into
 * scratch[SN_FAST_CHILD..+1] (index -1: keep nothing), valid with the
 * container's epoch only. */
static void sn_fast_child(struct sn_env *e, const sharena_arena *a,
                          sharena_id child)
{
    sharena_fastread f;
    int32_t *x = e->scratch + SN_FAST_CHILD;
    x[0] = -1;
    if (e->scratch[SN_FAST] < 0 || sharena_fastread_get(a, child, &f) < 0 ||
        f.version != SHARENA_FASTREAD_VERSION || (f.counter & 1) ||
        f.counter_off % 4 || f.counter_off + 4 > SN_FAST_VIEW_MAX ||
        (int32_t)f.epoch != e->scratch[SN_FAST + 3])
        return;
    x[0] = (int32_t)(f.counter_off / 4);
    x[1] = (int32_t)f.counter;
}

/* mapGetF(h, map, key): mapGet with the map's fast-read state taken before
 * the lookup (again after a promotion: map_ref_at) and the child's after
 * it. */
static napi_value js_map_get_f(napi_env env, napi_callback_info info)
{
    SN_ARGS(3);
    struct sn_env *e = cbdata;
    GET_A(0);
    GET_ID(m, 1);
    struct sn_str k;
    if (!sn_get_str(env, argv[2], &k))
        return NULL;
    sharena_value v;
    int r = map_ref_at(e, a, m, k.p, k.len, true, &v);
    napi_value out;
    if (r == SHARENA_ENOENT) {
        out = sn_num(env, 0);
    } else if (r < 0) {
        out = throw_map_ref(env, r, "MapRef.get", a, k.p, k.len);
    } else {
        if (v.id) {
            sn_fast_child(e, a, v.id);
        } else {
            /* a null stored in the entry changes only with the map: its
             * "child" counter is the map's own */
            e->scratch[SN_FAST_CHILD] = e->scratch[SN_FAST];
            e->scratch[SN_FAST_CHILD + 1] = e->scratch[SN_FAST + 1];
        }
        e->scratch[0] = v.type;
        out = sn_ref_id(env, &v);
    }
    sn_str_free(&k);
    return out;
}

/* vecGetF(h, vec, i): vecGet with the vector's fast-read state taken before
 * the lookup and the child's after it (an index that is no integer keeps
 * nothing). */
static napi_value js_vec_get_f(napi_env env, napi_callback_info info)
{
    SN_ARGS(3);
    struct sn_env *e = cbdata;
    GET_A(0);
    GET_ID(vec, 1);
    double d;
    if (napi_get_value_double(env, argv[2], &d) != napi_ok)
        return sn_throw_msg(env, "EINVAL",
                            "VectorRef.index: expected a number");
    e->scratch[SN_FAST] = -1;
    if (!(d >= 0) || d != (double)(uint64_t)d) {
        uint64_t n; /* still report a stale vector as such */
        CHECK(sharena_vector_len(a, vec, &n), "VectorRef.index");
        return sn_num(env, 0);
    }
    sn_fast_fill(e, a, vec);
    sharena_value v;
    int r = sharena_vector_get_value(a, vec, (uint64_t)d, NULL, 0, &v);
    if (r == SHARENA_ERANGE && v.type == 0)
        return sn_num(env, 0); /* past the end */
    if (r == 0 && v.id == 0) {
        /* a number stored in the item: the ref made for it is a write to
         * the vector, after the state taken above: keep nothing */
        r = vec_promote(a, vec, (uint64_t)d, &v);
        e->scratch[SN_FAST] = -1;
    }
    if (r == 0 || (r == SHARENA_ERANGE && v.type == SHARENA_T_STRING))
        sn_fast_child(e, a, v.id);
    return found_value(env, e, a, r, &v, "VectorRef.index");
}

/* structGetF(h, st, field, type): structGet with the struct's fast-read
 * state taken before the read and, for a string field, its string's
 * (a struct's string is an object of its own, whose counter a write of
 * that id moves without the struct's) taken before the text is read. A
 * null field or another type keeps no child (index -1): only a write
 * through the struct changes those. */
static napi_value js_struct_get_f(napi_env env, napi_callback_info info)
{
    SN_ARGS(4);
    struct sn_env *e = cbdata;
    GET_A(0);
    GET_ID(st, 1);
    uint32_t f;
    int32_t t;
    if (!get_u32(env, argv[2], &f) || !get_i32(env, argv[3], &t))
        return NULL;
    t &= 0xff;
    sn_fast_fill(e, a, st);
    e->scratch[SN_FAST_CHILD] = -1;
    sharena_id child;
    if (t == SHARENA_T_STRING && e->scratch[SN_FAST] >= 0 &&
        sharena_struct_field_id(a, st, f, &child) == 0)
        sn_fast_child(e, a, child);
    return struct_value(env, a, st, f, t);
}

const struct sn_fn sn_object_fns[] = {
    {"structGetF", js_struct_get_f},
    {"vecGetF", js_vec_get_f},
    {"mapGetF", js_map_get_f},
    {"arenaView", js_arena_view},
    {"strGetF", js_str_get_f},
    {"numGetF", js_num_get_f},
    {"boolGetF", js_bool_get_f},
    {"lock", js_lock},
    {"unlock", js_unlock},
    {"typeOf", js_type_of},
    {"typeOrError", js_type_or_error},
    {"drop", js_drop},
    {"version", js_version},
    {"strNew", js_str_new},
    {"strGet", js_str_get},
    {"strSet", js_str_set},
    {"strLen", js_str_len},
    {"numNew", js_num_new},
    {"numGet", js_num_get},
    {"numSet", js_num_set},
    {"numAdd", js_num_add},
    {"numCas", js_num_cas},
    {"boolNew", js_bool_new},
    {"boolGet", js_bool_get},
    {"boolSet", js_bool_set},
    {"bytesNew", js_bytes_new},
    {"bytesSize", js_bytes_size},
    {"bytesView", js_bytes_view},
    {"bytesRead", js_bytes_read},
    {"bytesWrite", js_bytes_write},
    {"mapNew", js_map_new},
    {"mapSet", js_map_set},
    {"mapSetValue", js_map_set_value},
    {"mapGet", js_map_get},
    {"mapGetValue", js_map_get_value},
    {"mapHas", js_map_has},
    {"mapRemove", js_map_remove},
    {"mapLen", js_map_len},
    {"mapEntries", js_map_entries},
    {"mapKeys", js_map_keys},
    {"mapItems", js_map_items},
    {"vecNew", js_vec_new},
    {"vecPush", js_vec_push},
    {"vecGet", js_vec_get},
    {"vecLen", js_vec_len},
    {"vecSet", js_vec_set},
    {"vecInsert", js_vec_insert},
    {"vecRemove", js_vec_remove},
    {"vecPop", js_vec_pop},
    {"vecItems", js_vec_items},
    {"vecPushNumber", js_vec_push_number},
    {"vecSetNumber", js_vec_set_number},
    {"vecInsertNumber", js_vec_insert_number},
    {"vecGetValue", js_vec_get_value},
    {"vecReadNumbers", js_vec_read_numbers},
    {"shapeNew", js_shape_new},
    {"shapeFields", js_shape_fields},
    {"structNew", js_struct_new},
    {"structShape", js_struct_shape},
    {"structGet", js_struct_get},
    {"structSet", js_struct_set},
    {"structSetNull", js_struct_set_null},
    {"rootGet", js_root_get},
    {"rootEnsure", js_root_ensure},
    {"rootSet", js_root_set},
    {"rootRemove", js_root_remove},
    {"rootsDir", js_roots_dir},
    {NULL, NULL},
};
