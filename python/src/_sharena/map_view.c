/* map_view.c: Map, a live view of a sharena map (str -> value). */
#include "_sharena.h"

#include <stdlib.h>

/* ---- multi-step operations under the object's lock -------------------------------
 * The whole operation counts as one user of the arena (close() waits for
 * it), and a lock this thread already holds (inside `with m.locked()`) is
 * taken one level deeper (sharena_lock_nested: the library counts). */

int sh_lock_op(ArenaObject *ar, sharena_id id, bool *took)
{
    if (sh_enter(ar) < 0)
        return -1;
    /* interruptible; fails on close() */
    if (sh_lock_wait(ar, id, true) < 0) {
        sh_leave(ar);
        return -1;
    }
    *took = true;
    return 0;
}

void sh_unlock_op(ArenaObject *ar, sharena_id id, bool took)
{
    if (took)
        (void)sharena_unlock(ar->a, id);
    sh_leave(ar);
}

/* ---- lookups -------------------------------------------------------------------- */

/* A map read's ESTALE: the map itself was dropped, or (the map alive) its
 * entry at @p k names a dropped object, a dangling entry (StaleRefError
 * naming the key). @p key may be NULL (decoded from @p k). */
static PyObject *raise_stale(ArenaObject *ar, sharena_id map, const char *k,
                             size_t klen, PyObject *key)
{
    if (sharena_type_of(ar->a, map) != SHARENA_T_MAP)
        return sh_raise(SHARENA_ESTALE, SH_W_NONE, NULL);
    PyObject *name = key ? Py_NewRef(key) : sh_arena_text(k, klen);
    if (name) {
        sh_raise(SHARENA_ESTALE, SH_W_ENTRY, name);
        Py_DECREF(name);
    }
    return NULL;
}

/* The value at @p key: a new reference, NULL with KeyNotFoundError raised
 * when absent (if @p missing_ok, NULL with nothing raised), or NULL with
 * another exception. One read through lib/: a value replaced between the
 * lookup and the read is looked up again there. */
static PyObject *lookup(ViewObject *m, PyObject *key, bool missing_ok)
{
    ArenaObject *ar = m->arena;
    if (sh_arena_ok(ar) < 0)
        return NULL;
    Py_ssize_t klen;
    const char *k = sh_key(key, &klen);
    if (!k)
        return NULL;
    int r;
    PyObject *o = sh_read(ar, SH_READ_KEY, m->id, k, (size_t)klen, 0, &r);
    if (o || !r)
        return o;
    if (r == SHARENA_ENOENT)
        return missing_ok ? NULL : sh_raise(r, SH_W_KEY, key);
    if (r == SHARENA_ESTALE)
        return raise_stale(ar, m->id, k, (size_t)klen, key);
    return sh_raise(r, SH_W_NONE, NULL);
}

static PyObject *map_subscript(ViewObject *m, PyObject *key)
{
    return lookup(m, key, false);
}

static PyObject *map_get(ViewObject *m, PyObject *const *args, Py_ssize_t n)
{
    if (n < 1 || n > 2) {
        PyErr_SetString(PyExc_TypeError, "get(key, default=None)");
        return NULL;
    }
    PyObject *o = lookup(m, args[0], true);
    if (o || PyErr_Occurred())
        return o;
    return Py_NewRef(n == 2 ? args[1] : Py_None);
}

static int map_contains(ViewObject *m, PyObject *key)
{
    ArenaObject *ar = m->arena;
    if (sh_arena_ok(ar) < 0)
        return -1;
    if (!PyUnicode_Check(key))
        return 0;
    Py_ssize_t klen;
    const char *k = PyUnicode_AsUTF8AndSize(key, &klen);
    if (!k)
        return -1;
    /* (no id wanted: a value stored in the entry is not given one) */
    int r = sharena_map_get(ar->a, m->id, k, (size_t)klen, NULL);
    if (r == SHARENA_ENOENT)
        return 0;
    if (r < 0) {
        sh_raise(r, SH_W_NONE, NULL);
        return -1;
    }
    return 1;
}

static Py_ssize_t map_len(ViewObject *m)
{
    if (sh_arena_ok(m->arena) < 0)
        return -1;
    uint64_t n;
    int r = sharena_map_len(m->arena->a, m->id, &n);
    if (r == 0 && n > (uint64_t)PY_SSIZE_T_MAX)
        r = SHARENA_ECORRUPT; /* never -1 without an exception */
    if (r < 0) {
        sh_raise(r, SH_W_NONE, NULL);
        return -1;
    }
    return (Py_ssize_t)n;
}

/* ---- writes -------------------------------------------------------------------- */

/* Set @p key to @p o; @p own: -1 = the default (plain values owned, views
 * not), 0/1 = as told (for views). */
static int map_set(ViewObject *m, PyObject *key, PyObject *o, int own)
{
    ArenaObject *ar = m->arena;
    if (sh_arena_ok(ar) < 0)
        return -1;
    Py_ssize_t klen;
    const char *k = sh_key(key, &klen);
    if (!k || sh_check_unowned(o, own, "map") < 0 ||
        sh_check_free_key(ar, m->id, k, (size_t)klen) < 0)
        return -1;
    sharena_arena *a = ar->a;
    sharena_id id = m->id;
    int r, ok;
    /* one-call fast paths for scalars: made and set without a window */
    if (PyBool_Check(o)) {
        bool b = o == Py_True;
        ok = SH_WRITE(ar, id,
                      r = sharena_map_set_bool(a, id, k, (size_t)klen, b));
    } else if (o == Py_None) {
        ok = SH_WRITE(ar, id, r = sharena_map_set_null(a, id, k, (size_t)klen));
    } else if (PyFloat_Check(o) || PyLong_Check(o)) {
        double d;
        if (sh_as_double(o, &d) < 0)
            return -1;
        ok = SH_WRITE(ar, id,
                      r = sharena_map_set_number(a, id, k, (size_t)klen, d));
    } else if (PyUnicode_Check(o)) {
        Py_ssize_t slen;
        const char *s = PyUnicode_AsUTF8AndSize(o, &slen);
        if (!s)
            return -1;
        ok = SH_WRITE(ar, id,
                      r = sharena_map_set_string(a, id, k, (size_t)klen, s,
                                                 (size_t)slen));
    } else {
        sharena_id v;
        bool owned;
        if (sh_check_not_self(m, o) < 0 || sh_store(ar, o, &v, &owned) < 0)
            return -1;
        bool made = owned;
        if (own >= 0 && !made)
            owned = own;
        ok = SH_WRITE(ar, id,
                      r = sharena_map_set(a, id, k, (size_t)klen, v,
                                          owned ? SHARENA_OWNED : 0, NULL));
        if (ok == 0 && r < 0)
            sh_raise(r, SH_W_NONE, NULL);
        if ((ok < 0 || r < 0) && made)
            sh_discard(ar, v);
        return ok < 0 || r < 0 ? -1 : 0;
    }
    if (ok < 0)
        return -1;
    if (r < 0) {
        sh_raise(r, SH_W_NONE, NULL);
        return -1;
    }
    return 0;
}

static int map_del(ViewObject *m, PyObject *key)
{
    ArenaObject *ar = m->arena;
    if (sh_arena_ok(ar) < 0)
        return -1;
    Py_ssize_t klen;
    const char *k = sh_key(key, &klen);
    if (!k || sh_check_free_key(ar, m->id, k, (size_t)klen) < 0)
        return -1;
    int r;
    if (SH_WRITE(ar, m->id,
                 r = sharena_map_remove(ar->a, m->id, k, (size_t)klen, NULL)) <
        0)
        return -1;
    if (r < 0) {
        sh_raise(r, r == SHARENA_ENOENT ? SH_W_KEY : SH_W_NONE, key);
        return -1;
    }
    return 0;
}

static int map_ass(ViewObject *m, PyObject *key, PyObject *o)
{
    return o ? map_set(m, key, o, -1) : map_del(m, key);
}

static PyObject *map_set_method(ViewObject *m, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"key", "value", "owned", NULL};
    PyObject *key, *o, *owned = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|$O:set", kwlist, &key, &o,
                                     &owned))
        return NULL;
    int own = -1;
    if (owned != Py_None && (own = PyObject_IsTrue(owned)) < 0)
        return NULL;
    if (map_set(m, key, o, own) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* pop(key[, default]): remove and return the value. An owned value is
 * freed by the removal, so what comes back is a plain copy; a value the map
 * did not own comes back as itself (a view for containers). */
static PyObject *map_pop(ViewObject *m, PyObject *const *args, Py_ssize_t n)
{
    if (n < 1 || n > 2) {
        PyErr_SetString(PyExc_TypeError, "pop(key[, default])");
        return NULL;
    }
    ArenaObject *ar = m->arena;
    PyObject *key = args[0];
    Py_ssize_t klen;
    const char *k = sh_arena_ok(ar) < 0 ? NULL : sh_key(key, &klen);
    if (!k)
        return NULL;
    bool took;
    if (sh_lock_op(ar, m->id, &took) < 0)
        return NULL;
    PyObject *res = NULL;
    sharena_id v, old = 0;
    sharena_value peek;
    int r = sharena_map_get_value(ar->a, m->id, k, (size_t)klen, NULL, 0,
                                  &peek);
    if ((r == 0 || r == SHARENA_ERANGE) && !peek.id) {
        /* stored in the entry: its value, read under the lock, then gone
         * (it is given no id on the way) */
        int err;
        res = sh_read(ar, SH_READ_KEY, m->id, k, (size_t)klen, 0, &err);
        if (!res) {
            if (err)
                sh_raise(err, SH_W_NONE, NULL);
            goto out;
        }
        Py_BEGIN_ALLOW_THREADS
        r = sharena_map_remove(ar->a, m->id, k, (size_t)klen, NULL);
        Py_END_ALLOW_THREADS
        if (r < 0) {
            Py_CLEAR(res);
            sh_raise(r, SH_W_NONE, NULL);
        }
        goto out;
    }
    r = r == SHARENA_ENOENT
            ? r
            : sharena_map_get(ar->a, m->id, k, (size_t)klen, &v);
    if (r == SHARENA_ENOENT && n == 2) {
        res = Py_NewRef(args[1]);
        goto out;
    }
    if (r < 0) {
        sh_raise(r, r == SHARENA_ENOENT ? SH_W_KEY : SH_W_NONE, key);
        goto out;
    }
    if (sh_check_free_key(ar, m->id, k, (size_t)klen) < 0)
        goto out;
    if (sharena_type_of(ar->a, v) == SHARENA_ESTALE) {
        /* under the map's lock it cannot be a replacement: dangling */
        (void)sh_map_recheck(ar, m->id, k, (size_t)klen, key, &v);
        goto out;
    }
    res = sh_to_python(ar, v);
    if (!res)
        goto out;
    Py_BEGIN_ALLOW_THREADS
    r = sharena_map_remove(ar->a, m->id, k, (size_t)klen, &old);
    Py_END_ALLOW_THREADS
    if (r < 0) {
        Py_CLEAR(res);
        sh_raise(r, SH_W_NONE, NULL);
    } else if (old) {
        /* not owned: it lives on; hand back the object itself */
        Py_DECREF(res);
        res = sh_value_or_raise(ar, old);
    }
out:
    sh_unlock_op(ar, m->id, took);
    return res;
}

/* setdefault(key, default=None), atomic across processes. */
static PyObject *map_setdefault(ViewObject *m, PyObject *const *args,
                                Py_ssize_t n)
{
    if (n < 1 || n > 2) {
        PyErr_SetString(PyExc_TypeError, "setdefault(key, default=None)");
        return NULL;
    }
    PyObject *o = lookup(m, args[0], true);
    if (o || PyErr_Occurred())
        return o;
    ArenaObject *ar = m->arena;
    bool took;
    if (sh_lock_op(ar, m->id, &took) < 0)
        return NULL;
    o = lookup(m, args[0], true);
    if (!o && !PyErr_Occurred() &&
        map_set(m, args[0], n == 2 ? args[1] : Py_None, -1) == 0)
        o = lookup(m, args[0], false);
    sh_unlock_op(ar, m->id, took);
    return o;
}

/* add(key, delta=1): atomic add to the number at key; a missing key starts
 * at 0 (created under the map's lock, so no increment is lost). */
static PyObject *map_add(ViewObject *m, PyObject *const *args, Py_ssize_t n)
{
    if (n < 1 || n > 2) {
        PyErr_SetString(PyExc_TypeError, "add(key, delta=1)");
        return NULL;
    }
    ArenaObject *ar = m->arena;
    double delta = 1.0, res = 0;
    bool integer = true;
    if (n == 2 && sh_as_number(args[1], &delta, &integer) < 0)
        return NULL;
    Py_ssize_t klen;
    const char *k = sh_arena_ok(ar) < 0 ? NULL : sh_key(args[0], &klen);
    if (!k)
        return NULL;
    /* One user for the whole operation (it releases the GIL, and a close()
     * must not unmap meanwhile); the get-or-create and the add are one
     * library call under the map's lock. */
    if (sh_enter(ar) < 0)
        return NULL;
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = sharena_map_add_number(ar->a, m->id, k, (size_t)klen, delta,
                               integer ? SHARENA_ADD_EXACT : 0, &res);
    Py_END_ALLOW_THREADS
    sh_leave(ar);
    if (r < 0)
        return sh_raise_add(r, res, delta);
    return PyFloat_FromDouble(res);
}

static PyObject *map_ref(ViewObject *m, PyObject *key)
{
    ArenaObject *ar = m->arena;
    if (sh_arena_ok(ar) < 0)
        return NULL;
    Py_ssize_t klen;
    const char *k = sh_key(key, &klen);
    if (!k)
        return NULL;
    sharena_id v;
    uint64_t ver;
    int r = sharena_map_get(ar->a, m->id, k, (size_t)klen, &v);
    if (r == 0)
        r = sharena_change_count(ar->a, v, &ver);
    if (r < 0)
        return sh_raise(r, r == SHARENA_ENOENT ? SH_W_KEY : SH_W_NONE, key);
    PyObject *o = sh_view_new(ar, SH_K_REF, v);
    if (o)
        ((ViewObject *)o)->version = ver;
    return o;
}

/* All keys, a snapshot. */
static PyObject *map_keys_list(ArenaObject *ar, sharena_id id)
{
    PyObject *l = PyList_New(0);
    if (!l)
        return NULL;
    char stack[256];
    char *key = stack;
    size_t kcap = sizeof stack, klen;
    uint64_t cursor = 0;
    for (;;) {
        int r = sharena_map_next(ar->a, id, &cursor, key, kcap, &klen, NULL,
                                 NULL);
        if (r == SHARENA_ERANGE) {
            char *nk = malloc(klen + 1);
            if (!nk) {
                PyErr_NoMemory();
                break;
            }
            if (key != stack)
                free(key);
            key = nk;
            kcap = klen + 1;
            continue;
        }
        if (r == SHARENA_ENOENT) {
            if (key != stack)
                free(key);
            return l;
        }
        if (r < 0) {
            sh_raise(r, SH_W_NONE, NULL);
            break;
        }
        PyObject *s = sh_arena_text(key, klen);
        if (!s || PyList_Append(l, s) < 0) {
            Py_XDECREF(s);
            break;
        }
        Py_DECREF(s);
    }
    if (key != stack)
        free(key);
    Py_DECREF(l);
    return NULL;
}

static PyObject *map_clear(ViewObject *m, PyObject *unused)
{
    (void)unused;
    ArenaObject *ar = m->arena;
    if (sh_arena_ok(ar) < 0)
        return NULL;
    bool took;
    if (sh_lock_op(ar, m->id, &took) < 0)
        return NULL;
    if (sh_check_free_children(ar, m->id) < 0) {
        sh_unlock_op(ar, m->id, took);
        return NULL;
    }
    PyObject *keys = map_keys_list(ar, m->id);
    int r = 0;
    for (Py_ssize_t i = 0; keys && r == 0 && i < PyList_GET_SIZE(keys); i++) {
        Py_ssize_t klen;
        const char *k = PyUnicode_AsUTF8AndSize(PyList_GET_ITEM(keys, i),
                                                &klen);
        if (!k)
            break;
        Py_BEGIN_ALLOW_THREADS
        r = sharena_map_remove(ar->a, m->id, k, (size_t)klen, NULL);
        Py_END_ALLOW_THREADS
        if (r == SHARENA_ENOENT)
            r = 0;
    }
    sh_unlock_op(ar, m->id, took);
    if (r < 0)
        sh_raise(r, SH_W_NONE, NULL);
    bool failed = !keys || PyErr_Occurred();
    Py_XDECREF(keys);
    if (failed)
        return NULL;
    Py_RETURN_NONE;
}

/* ---- iteration ------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD ViewObject *map;
    uint64_t cursor;
    int mode; /* 0 keys, 1 values, 2 items */
    /* Changes made while iterating, as dict detects them: the map's change
     * count when last checked, its length when iteration began, and how
     * many keys may still come (more than that: keys were replaced). */
    uint64_t count;
    uint64_t len0;
    uint64_t moves0; /* the map's removals when iteration began */
    uint64_t remaining;
    bool done;
} MapIterObject;

/* Raise RuntimeError, as dict does, if the map's size changed since the
 * iteration began: a removal shifts entries back (and an insertion may
 * grow the table), so the cursor could skip keys silently. The change
 * count tells cheaply whether anything was written at all; writes that
 * only replace values leave the length, and the iteration, alone.
 * Returns 0, or -1 with an exception set. */
static int mapiter_check(MapIterObject *it)
{
    ArenaObject *ar = it->map->arena;
    uint64_t c, n;
    int r = sharena_change_count(ar->a, it->map->id, &c);
    if (r == 0 && c == it->count)
        return 0;
    uint64_t mv;
    if (r == 0)
        r = sharena_map_len(ar->a, it->map->id, &n);
    if (r == 0)
        r = sharena_map_moves(ar->a, it->map->id, &mv);
    if (r < 0) {
        sh_raise(r, SH_W_NONE, NULL);
        return -1;
    }
    if (n != it->len0) {
        it->done = true;
        PyErr_SetString(PyExc_RuntimeError,
                        "map changed size during iteration");
        return -1;
    }
    /* a removal moved an entry under the cursor (the size restored by an
     * insertion since): keys may be skipped or repeated */
    if (mv != it->moves0) {
        it->done = true;
        PyErr_SetString(PyExc_RuntimeError,
                        "map keys changed during iteration");
        return -1;
    }
    it->count = c;
    return 0;
}

static void mapiter_dealloc(MapIterObject *it)
{
    Py_XDECREF(it->map);
    PyObject_Free(it);
}

static PyObject *mapiter_next(MapIterObject *it)
{
    ArenaObject *ar = it->map->arena;
    if (it->done)
        return NULL;
    if (sh_arena_ok(ar) < 0 || mapiter_check(it) < 0)
        return NULL;
    sh_buf key, text;
    sh_buf_init(&key);
    sh_buf_init(&text);
    size_t klen;
    sharena_value v;
    PyObject *res = NULL, *val = NULL;
    /* keys only, or values as stored (one in its entry is copied, never
     * given an id; a replaced one is read again by lib/) */
    int r = it->mode ? sh_next_value(ar, it->map->id, &it->cursor, &key, &klen,
                                     &text, &v)
                     : SHARENA_ERANGE;
    for (int tries = 0; !it->mode && r == SHARENA_ERANGE && tries < 16;
         tries++) {
        r = sharena_map_next(ar->a, it->map->id, &it->cursor, key.p, key.cap,
                             &klen, NULL, NULL);
        if (r == SHARENA_ERANGE) {
            sh_buf_free(&key);
            char *nk = malloc(klen + 1);
            if (!nk) {
                PyErr_NoMemory();
                r = SH_PYERR;
                break;
            }
            key.p = nk;
            key.cap = klen + 1;
        }
    }
    if (r == SHARENA_ENOENT) {
        /* the end, unless a change since the last check made it skip
         * (the size changed), or keys were removed and others added
         * (fewer keys came than the map had, and it has as many) */
        if (mapiter_check(it) == 0) {
            it->done = true;
            if (it->remaining != 0)
                PyErr_SetString(PyExc_RuntimeError,
                                "map keys changed during iteration");
        }
        goto out;
    }
    if (r == SH_PYERR)
        goto out;
    if (r < 0) {
        if (r == SHARENA_ESTALE) /* the entry names a dropped object */
            raise_stale(ar, it->map->id, key.p, klen, NULL);
        else
            sh_raise(r, SH_W_NONE, NULL);
        goto out;
    }
    if (it->remaining == 0) {
        /* more keys than the map had: keys were removed and others
         * added (same size), and the table moved under the cursor */
        it->done = true;
        PyErr_SetString(PyExc_RuntimeError,
                        "map keys changed during iteration");
        goto out;
    }
    it->remaining--;
    if (it->mode) {
        int err;
        val = sh_from_value(ar, &v, text.p, &err);
        if (!val) {
            if (err)
                sh_raise(err, SH_W_NONE, NULL);
            goto out;
        }
        if (it->mode == 1) {
            res = val;
            val = NULL;
            goto out;
        }
    }
    PyObject *k = sh_arena_text(key.p, klen);
    if (!k || !it->mode) {
        res = k;
        goto out;
    }
    res = PyTuple_Pack(2, k, val);
    Py_DECREF(k);
out:
    Py_XDECREF(val);
    sh_buf_free(&key);
    sh_buf_free(&text);
    return res;
}

PyTypeObject ShMapIterType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sharena._sharena.MapIterator",
    .tp_basicsize = sizeof(MapIterObject),
    .tp_dealloc = (destructor)mapiter_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)mapiter_next,
};

static PyObject *mapiter_new(ViewObject *m, int mode)
{
    if (sh_arena_ok(m->arena) < 0)
        return NULL;
    /* the count first: a write between the two reads is then seen as a
     * change at the first step, measured against a length that has it */
    uint64_t c, n, mv;
    int r = sharena_change_count(m->arena->a, m->id, &c);
    if (r == 0)
        r = sharena_map_len(m->arena->a, m->id, &n);
    if (r == 0)
        r = sharena_map_moves(m->arena->a, m->id, &mv);
    if (r < 0)
        return sh_raise(r, SH_W_NONE, NULL);
    MapIterObject *it = PyObject_New(MapIterObject, &ShMapIterType);
    if (!it)
        return NULL;
    it->map = (ViewObject *)Py_NewRef(m);
    it->cursor = 0;
    it->mode = mode;
    it->count = c;
    it->len0 = n;
    it->moves0 = mv;
    it->remaining = n;
    it->done = false;
    return (PyObject *)it;
}

static PyObject *map_iter(ViewObject *m)
{
    return mapiter_new(m, 0);
}
static PyObject *map_iter_values(ViewObject *m, PyObject *u)
{
    (void)u;
    return mapiter_new(m, 1);
}
static PyObject *map_iter_items(ViewObject *m, PyObject *u)
{
    (void)u;
    return mapiter_new(m, 2);
}

static PyMappingMethods map_as_mapping = {
    .mp_length = (lenfunc)map_len,
    .mp_subscript = (binaryfunc)map_subscript,
    .mp_ass_subscript = (objobjargproc)map_ass,
};
static PySequenceMethods map_as_sequence = {
    .sq_contains = (objobjproc)map_contains,
};

/* Add the pairs of @p src to builder @p b: a mapping (anything with
 * keys()) or an iterable of (key, value) pairs, as dict.update() takes. */
static int build_pairs(ViewObject *m, sharena_builder *b, PyObject *src)
{
    ArenaObject *ar = m->arena;
    int has_keys = PyObject_HasAttrString(src, "keys");
    /* as dict.update: a mapping is read through keys() and [] only */
    PyObject *items = has_keys ? PyMapping_Keys(src) : PySequence_List(src);
    if (!items)
        return -1;
    int rc = 0;
    for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(items); i++) {
        PyObject *kv;
        if (has_keys) {
            PyObject *k = PyList_GET_ITEM(items, i);
            PyObject *v = PyObject_GetItem(src, k);
            kv = v ? PyTuple_Pack(2, k, v) : NULL;
            Py_XDECREF(v);
        } else {
            kv = PySequence_Tuple(PyList_GET_ITEM(items, i));
        }
        if (!kv || PyTuple_GET_SIZE(kv) != 2) {
            if (kv)
                PyErr_Format(PyExc_ValueError,
                             "dictionary update sequence element #%zd has "
                             "length %zd; 2 is required",
                             i, PyTuple_GET_SIZE(kv));
            Py_XDECREF(kv);
            rc = -1;
            break;
        }
        rc = sh_check_not_self(m, PyTuple_GET_ITEM(kv, 1));
        if (rc == 0)
            rc = sh_build_item(ar, b, PyTuple_GET_ITEM(kv, 0),
                               PyTuple_GET_ITEM(kv, 1));
        Py_DECREF(kv);
    }
    Py_DECREF(items);
    return rc;
}

/* update([other], **kw): every value is built first, then all keys are set
 * under the map's lock; a value that cannot be stored (or a full arena)
 * sets none. */
static PyObject *map_update(ViewObject *m, PyObject *args, PyObject *kw)
{
    ArenaObject *ar = m->arena;
    if (sh_arena_ok(ar) < 0)
        return NULL;
    PyObject *src = NULL;
    if (!PyArg_UnpackTuple(args, "update", 0, 1, &src))
        return NULL;
    sharena_builder *b;
    if (sh_build_begin(ar, &b) < 0)
        return NULL;
    if ((src && build_pairs(m, b, src) < 0) ||
        (kw && build_pairs(m, b, kw) < 0)) {
        sh_build_abort(ar, b);
        return NULL;
    }
    int r = 1; /* 1: the update did not run (the lock was not taken) */
    if (SH_WRITE(ar, m->id, r = sharena_build_map_update(b, m->id)) < 0 &&
        r == 1) {
        sh_build_abort(ar, b);
        return NULL;
    }
    sh_leave(ar); /* the build's user (b is freed) */
    if (r < 0)
        return sh_raise(r, SH_W_NONE, NULL);
    Py_RETURN_NONE;
}

static PyMethodDef map_methods[] = {
    {"get", (PyCFunction)(void (*)(void))map_get, METH_FASTCALL,
     "get(key, default=None)"},
    {"pop", (PyCFunction)(void (*)(void))map_pop, METH_FASTCALL,
     "pop(key[, default]): remove key and return its value (a plain copy "
     "when the map owned it)"},
    {"setdefault", (PyCFunction)(void (*)(void))map_setdefault, METH_FASTCALL,
     "setdefault(key, default=None), atomic across processes"},
    {"add", (PyCFunction)(void (*)(void))map_add, METH_FASTCALL,
     "add(key, delta=1) -> float: atomically add to the number at key "
     "(missing keys start at 0)"},
    {"ref", (PyCFunction)map_ref, METH_O,
     "ref(key) -> Ref to the object now at key"},
    {"set", (PyCFunction)(void (*)(void))map_set_method,
     METH_VARARGS | METH_KEYWORDS,
     "set(key, value, *, owned=None): like m[key] = value; owned=True makes "
     "the map own an object you created"},
    {"clear", (PyCFunction)map_clear, METH_NOARGS, "remove every key"},
    {"update", (PyCFunction)(void (*)(void))map_update,
     METH_VARARGS | METH_KEYWORDS,
     "update([other], **kw): set every key, all or none"},
    {"_values", (PyCFunction)map_iter_values, METH_NOARGS, NULL},
    {"_items", (PyCFunction)map_iter_items, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

PyTypeObject ShMapType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sharena._sharena.MapBase",
    .tp_base = &ShViewType,
    .tp_basicsize = sizeof(ViewObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "A live view of a sharena map.",
    .tp_as_mapping = &map_as_mapping,
    .tp_as_sequence = &map_as_sequence,
    .tp_iter = (getiterfunc)map_iter,
    .tp_methods = map_methods,
};

int sh_map_init(PyObject *m)
{
    if (PyType_Ready(&ShMapType) < 0 || PyType_Ready(&ShMapIterType) < 0)
        return -1;
    Py_INCREF(&ShMapType);
    if (PyModule_AddObject(m, "MapBase", (PyObject *)&ShMapType) < 0)
        return -1;
    sh_classes[SH_K_MAP] = &ShMapType;
    return 0;
}
