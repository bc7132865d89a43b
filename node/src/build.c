/* build.c: plain JS values (string, number, boolean, null, Buffer/TypedArray/
 * DataView, array, plain object, refs inside them) become arena objects
 * through the library's value builder (sharena_build_*), the same one the
 * CLI and Python use: every value of a tree is made and linked owned into
 * its container, and the tree is linked into its target in one step; any
 * failure drops all it made. What is not a plain value goes to the JS
 * `resolve(value)` callback, which returns a ref's id (after checking its
 * arena) or throws the binding's TypeError. */
#include "sn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct walk {
    napi_env env;
    sharena_builder *b;
    napi_value resolve;  /* JS (value) -> id, or throws */
    napi_value objproto; /* Object.prototype */
};

static bool add_value(struct walk *w, napi_value v);

static bool add_ref(struct walk *w, napi_value v)
{
    napi_env env = w->env;
    napi_value undef, res;
    if (napi_get_undefined(env, &undef) != napi_ok ||
        napi_call_function(env, undef, w->resolve, 1, &v, &res) != napi_ok)
        return false; /* its exception is pending */
    sharena_id id;
    if (!sn_get_id(env, res, &id))
        return false;
    return sharena_build_ref(w->b, id, 0) == 0;
}

static size_t element_size(napi_typedarray_type t)
{
    switch (t) {
    case napi_int16_array:
    case napi_uint16_array:
        return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
        return 4;
    case napi_float64_array:
    case napi_bigint64_array:
    case napi_biguint64_array:
        return 8;
    default:
        return 1;
    }
}

/* A Buffer, TypedArray or DataView: its bytes. 1: done, 0: not a view,
 * -1: failed. */
static int add_view(struct walk *w, napi_value v)
{
    napi_env env = w->env;
    bool is;
    void *data = NULL;
    size_t n = 0;
    napi_value ab;
    size_t off;
    if (napi_is_typedarray(env, v, &is) != napi_ok)
        return -1;
    if (is) {
        napi_typedarray_type t;
        size_t len;
        if (napi_get_typedarray_info(env, v, &t, &len, &data, &ab, &off) !=
            napi_ok)
            return -1;
        n = len * element_size(t);
    } else {
        if (napi_is_dataview(env, v, &is) != napi_ok)
            return -1;
        if (!is)
            return 0;
        if (napi_get_dataview_info(env, v, &n, &data, &ab, &off) != napi_ok)
            return -1;
    }
    return sharena_build_bytes(w->b, data, n) == 0 ? 1 : -1;
}

static bool add_array(struct walk *w, napi_value v)
{
    napi_env env = w->env;
    uint32_t n;
    if (napi_get_array_length(env, v, &n) != napi_ok ||
        sharena_build_vector(w->b) < 0)
        return false;
    for (uint32_t i = 0; i < n; i++) {
        napi_value e;
        if (napi_get_element(env, v, i, &e) != napi_ok || !add_value(w, e))
            return false;
    }
    return sharena_build_end(w->b) == 0;
}

static bool add_object(struct walk *w, napi_value v)
{
    napi_env env = w->env;
    napi_value keys;
    uint32_t n;
    if (napi_get_all_property_names(env, v, napi_key_own_only,
                                    napi_key_enumerable | napi_key_skip_symbols,
                                    napi_key_numbers_to_strings,
                                    &keys) != napi_ok ||
        napi_get_array_length(env, keys, &n) != napi_ok ||
        sharena_build_map(w->b) < 0)
        return false;
    for (uint32_t i = 0; i < n; i++) {
        napi_value k, e;
        struct sn_str ks;
        if (napi_get_element(env, keys, i, &k) != napi_ok ||
            !sn_get_str(env, k, &ks))
            return false;
        int r = sharena_build_key(w->b, ks.p, ks.len);
        sn_str_free(&ks);
        if (r < 0 || napi_get_property(env, v, k, &e) != napi_ok ||
            !add_value(w, e))
            return false;
    }
    return sharena_build_end(w->b) == 0;
}

static bool add_value(struct walk *w, napi_value v)
{
    napi_env env = w->env;
    napi_valuetype t;
    if (napi_typeof(env, v, &t) != napi_ok)
        return false;
    switch (t) {
    case napi_string: {
        struct sn_str s;
        if (!sn_get_str(env, v, &s))
            return false;
        int r = sharena_build_string(w->b, s.p, s.len);
        sn_str_free(&s);
        return r == 0;
    }
    case napi_number: {
        double d;
        return napi_get_value_double(env, v, &d) == napi_ok &&
               sharena_build_number(w->b, d) == 0;
    }
    case napi_boolean: {
        bool b;
        return napi_get_value_bool(env, v, &b) == napi_ok &&
               sharena_build_bool(w->b, b) == 0;
    }
    case napi_null:
        return sharena_build_null(w->b) == 0;
    case napi_object: {
        bool is;
        if (napi_is_array(env, v, &is) != napi_ok)
            return false;
        if (is)
            return add_array(w, v);
        int view = add_view(w, v);
        if (view)
            return view > 0;
        napi_value proto;
        napi_valuetype pt;
        if (napi_get_prototype(env, v, &proto) != napi_ok ||
            napi_typeof(env, proto, &pt) != napi_ok ||
            (pt != napi_null &&
             napi_strict_equals(env, proto, w->objproto, &is) != napi_ok))
            return false;
        if (pt == napi_null || is)
            return add_object(w, v);
        return add_ref(w, v);
    }
    default:
        return add_ref(w, v); /* undefined, functions...: it throws */
    }
}

/* Throw for a failed build or commit: the library's error, but a tree too
 * deep is most likely a value that contains itself. */
static void throw_build(napi_env env, int r, const char *op,
                        const sharena_arena *a)
{
    if (r == SHARENA_EOVERFLOW) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "%s: the value is nested deeper than %d levels (does it "
                 "contain itself?)",
                 op, SHARENA_BUILD_DEPTH_MAX);
        sn_throw_msg(env, "EOVERFLOW", msg);
    } else {
        sn_throw_arena(env, r, op, a);
    }
}

/* Start a walk into a new builder (*w->b). false with an exception. */
static bool walk_begin(napi_env env, sharena_arena *a, napi_value resolve,
                       const char *op, struct walk *w)
{
    *w = (struct walk){env, NULL, resolve, NULL};
    napi_value global, object;
    int r = sharena_build_begin(a, &w->b);
    if (r < 0) {
        throw_build(env, r, op, a);
        return false;
    }
    if (napi_get_global(env, &global) != napi_ok ||
        napi_get_named_property(env, global, "Object", &object) != napi_ok ||
        napi_get_named_property(env, object, "prototype", &w->objproto) !=
            napi_ok) {
        sharena_build_abort(w->b);
        sn_napi_fail(env);
        return false;
    }
    return true;
}

/* After the walk (@p ok: it went through): true to go on to the commit,
 * which reports a failure the builder kept (dropping all it made); false
 * with the builder gone and an exception thrown or pending (a JS exception
 * from resolve() or N-API). */
static bool walk_end(napi_env env, struct walk *w, bool ok)
{
    if (ok)
        return true;
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && !pending &&
        sharena_build_error(w->b))
        return true;
    sharena_build_abort(w->b);
    if (!pending)
        sn_napi_fail(env);
    return false;
}

#define GET_A(i)                                                               \
    uint32_t handle;                                                           \
    sharena_arena *a = sn_arena_get(env, argv[i], &handle);                    \
    if (!a)                                                                    \
    return NULL

/* buildNew(h, value, resolve, op) -> id of a detached tree (the caller
 * links it, or drops it) */
static napi_value js_build_new(napi_env env, napi_callback_info info)
{
    SN_ARGS(4);
    GET_A(0);
    (void)handle;
    struct sn_str op;
    if (!sn_get_str(env, argv[3], &op))
        return NULL;
    struct walk w;
    napi_value ret = NULL;
    if (walk_begin(env, a, argv[2], op.p, &w) &&
        walk_end(env, &w, add_value(&w, argv[1]))) {
        sharena_id id = 0;
        int r = sharena_build_finish(w.b, &id);
        if (r < 0)
            throw_build(env, r, op.p, a);
        else
            ret = sn_id(env, id);
    }
    sn_str_free(&op);
    return ret;
}

/* buildSet(h, map, key, value, resolve, op): map[key] = the tree, in one
 * step; an owned previous value is dropped */
static napi_value js_build_set(napi_env env, napi_callback_info info)
{
    SN_ARGS(6);
    GET_A(0);
    sharena_id m;
    if (!sn_get_id(env, argv[1], &m))
        return NULL;
    struct sn_str op, k;
    if (!sn_get_str(env, argv[5], &op))
        return NULL;
    if (!sn_get_str(env, argv[2], &k)) {
        sn_str_free(&op);
        return NULL;
    }
    struct walk w;
    napi_value ret = NULL;
    if (walk_begin(env, a, argv[4], op.p, &w) &&
        walk_end(env, &w,
                 sharena_build_key(w.b, k.p, k.len) == 0 &&
                     add_value(&w, argv[3]))) {
        int r = sharena_build_map_update(w.b, m);
        if (r < 0) {
            throw_build(env, r, op.p, a);
        } else {
            sn_views_after_free(cbdata, handle);
            ret = sn_undef(env);
        }
    }
    sn_str_free(&k);
    sn_str_free(&op);
    return ret;
}

/* buildSplice(h, vec, start (-1: the end), count, values (array), resolve,
 * op): replace [start, start + count) with the trees, in one step */
static napi_value js_build_splice(napi_env env, napi_callback_info info)
{
    SN_ARGS(7);
    GET_A(0);
    sharena_id vec;
    double start, count;
    if (!sn_get_id(env, argv[1], &vec))
        return NULL;
    if (napi_get_value_double(env, argv[2], &start) != napi_ok ||
        napi_get_value_double(env, argv[3], &count) != napi_ok) {
        napi_throw_type_error(env, "EINVAL", "expected numbers");
        return NULL;
    }
    struct sn_str op;
    if (!sn_get_str(env, argv[6], &op))
        return NULL;
    struct walk w;
    napi_value ret = NULL;
    if (walk_begin(env, a, argv[5], op.p, &w)) {
        uint32_t n = 0;
        bool ok = napi_get_array_length(env, argv[4], &n) == napi_ok;
        for (uint32_t i = 0; ok && i < n; i++) {
            napi_value e;
            ok = napi_get_element(env, argv[4], i, &e) == napi_ok &&
                 add_value(&w, e);
        }
        if (walk_end(env, &w, ok)) {
            uint64_t s = start < 0 ? SHARENA_BUILD_END : (uint64_t)start;
            int r = sharena_build_vector_splice(
                w.b, vec, s, count < 0 ? 0 : (uint64_t)count);
            if (r < 0) {
                throw_build(env, r, op.p, a);
            } else {
                sn_views_after_free(cbdata, handle);
                ret = sn_undef(env);
            }
        }
    }
    sn_str_free(&op);
    return ret;
}

const struct sn_fn sn_build_fns[] = {
    {"buildNew", js_build_new},
    {"buildSet", js_build_set},
    {"buildSplice", js_build_splice},
    {NULL, NULL},
};
