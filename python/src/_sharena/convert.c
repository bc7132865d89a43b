/* convert.c: Python values <-> arena objects. */
#include "_sharena.h"

#include <stdlib.h>
#include <string.h>

PyTypeObject *sh_classes[SH_K__COUNT];
static PyObject *abc_mapping, *abc_sequence; /* collections.abc */


PyObject *sh_view_new(ArenaObject *ar, sh_kind k, sharena_id id)
{
    PyTypeObject *cls = sh_classes[k];
    ViewObject *v = (ViewObject *)cls->tp_alloc(cls, 0);
    if (!v)
        return NULL;
    v->arena = (ArenaObject *)Py_NewRef(ar);
    v->id = id;
    v->version = 0;
    v->exports = 0;
    return (PyObject *)v;
}

PyObject *sh_arena_text(const char *s, size_t len)
{
    PyObject *o = PyUnicode_DecodeUTF8(s, (Py_ssize_t)len, "strict");
    if (o || !PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
        return o;
    PyObject *t, *cause, *tb;
    PyErr_Fetch(&t, &cause, &tb);
    PyErr_NormalizeException(&t, &cause, &tb);
    Py_XDECREF(t);
    Py_XDECREF(tb);
    sh_raise(SHARENA_EILSEQ, SH_W_NONE, NULL);
    PyObject *t2, *v2, *tb2;
    PyErr_Fetch(&t2, &v2, &tb2);
    PyErr_NormalizeException(&t2, &v2, &tb2);
    if (v2 && cause) {
        PyException_SetContext(v2, Py_NewRef(cause));
        PyException_SetCause(v2, cause); /* steals */
    } else {
        Py_XDECREF(cause);
    }
    PyErr_Restore(t2, v2, tb2);
    return NULL;
}

/* A value as lib/ read it (sharena_value_read and its map and vector
 * forms: type and value in one consistent read) as a Python object. */
static inline __attribute__((always_inline)) PyObject *
from_value(ArenaObject *ar, const sharena_value *v, const char *text, int *err)
{
    switch (v->type) {
    case SHARENA_T_STRING:
        return sh_arena_text(text, v->len);
    case SHARENA_T_NUMBER:
        return PyFloat_FromDouble(v->number);
    case SHARENA_T_BOOL:
        return PyBool_FromLong(v->boolean);
    case SHARENA_T_NULL:
        Py_RETURN_NONE;
    case SHARENA_T_MAP:
        return sh_view_new(ar, SH_K_MAP, v->id);
    case SHARENA_T_VECTOR:
        return sh_view_new(ar, SH_K_VECTOR, v->id);
    case SHARENA_T_BYTES:
        return sh_view_new(ar, SH_K_BYTES, v->id);
    case SHARENA_T_STRUCT:
        return sh_view_new(ar, SH_K_STRUCT, v->id);
    case SHARENA_T_SHAPE:
        return sh_view_new(ar, SH_K_SHAPE, v->id);
    default:
        *err = SHARENA_ECORRUPT;
        return NULL;
    }
}

PyObject *sh_read(ArenaObject *ar, sh_read_kind kind, sharena_id id,
                  const char *k, size_t klen, uint64_t index, int *err)
{
    sharena_arena *a = ar->a;
    char stack[512];
    char *buf = stack;
    size_t cap = sizeof stack;
    sharena_value v = {0};
    int r;
    *err = 0;
    /* the string grew past the buffer: again with its length (bounded,
     * for a string that keeps growing) */
    for (int tries = 0;; tries++) {
        if (kind == SH_READ_KEY)
            r = sharena_map_get_value(a, id, k, klen, buf, cap, &v);
        else if (kind == SH_READ_INDEX)
            r = sharena_vector_get_value(a, id, index, buf, cap, &v);
        else
            r = sharena_value_read(a, id, buf, cap, &v);
        if (r != SHARENA_ERANGE || v.type != SHARENA_T_STRING || tries == 8)
            break;
        cap = v.len + 1 + v.len / 4;
        char *nb = buf == stack ? malloc(cap) : realloc(buf, cap);
        if (!nb) {
            if (buf != stack)
                free(buf);
            PyErr_NoMemory();
            return NULL;
        }
        buf = nb;
    }
    PyObject *o = NULL;
    if (r < 0)
        *err = r;
    else
        o = from_value(ar, &v, buf, err);
    if (buf != stack)
        free(buf);
    return o;
}

static int buf_grow(sh_buf *b, size_t need)
{
    char *n = b->p == b->stack ? malloc(need) : realloc(b->p, need);
    if (!n) {
        PyErr_NoMemory();
        return -1;
    }
    b->p = n;
    b->cap = need;
    return 0;
}

int sh_next_value(ArenaObject *ar, sharena_id map, uint64_t *cursor,
                  sh_buf *key, size_t *klen, sh_buf *text, sharena_value *v)
{
    /* a key or string that grew past its room: again with its length
     * (bounded, for one that keeps growing) */
    for (int tries = 0;; tries++) {
        int r = sharena_map_next_value(ar->a, map, cursor, key->p, key->cap,
                                       klen, text->p, text->cap, v);
        if (r != SHARENA_ERANGE || tries == 16)
            return r;
        if (*klen >= key->cap) {
            if (buf_grow(key, *klen + 1) < 0)
                return SH_PYERR;
        } else if (v->type == SHARENA_T_STRING && v->len >= text->cap) {
            if (buf_grow(text, v->len + 1 + v->len / 4) < 0)
                return SH_PYERR;
        } else {
            return r;
        }
    }
}

PyObject *sh_from_value(ArenaObject *ar, const sharena_value *v,
                        const char *text, int *err)
{
    *err = 0;
    return from_value(ar, v, text, err);
}

PyObject *sh_value(ArenaObject *ar, sharena_id id, int *err)
{
    return sh_read(ar, SH_READ_ID, id, NULL, 0, 0, err);
}

PyObject *sh_value_or_raise(ArenaObject *ar, sharena_id id)
{
    int err;
    PyObject *o = sh_value(ar, id, &err);
    if (!o && err)
        sh_raise(err, SH_W_NONE, NULL);
    return o;
}

/* ---- deep copies ------------------------------------------------------------ */

static PyObject *to_python_in(ArenaObject *ar, sharena_id id, PyObject *memo);

/* Remember the copy @p o of container @p id before its children are copied,
 * so that a child that reaches it again gets this very copy (a cycle in the
 * arena becomes the same cycle in Python, as copy.deepcopy makes it). */
static int memo_put(PyObject *memo, sharena_id id, PyObject *o)
{
    PyObject *k = PyLong_FromUnsignedLongLong(id);
    int r = k ? PyDict_SetItem(memo, k, o) : -1;
    Py_XDECREF(k);
    return r;
}

static PyObject *copy_map(ArenaObject *ar, sharena_id id, PyObject *memo)
{
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    if (memo_put(memo, id, d) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    sh_buf key, text;
    sh_buf_init(&key);
    sh_buf_init(&text);
    uint64_t cursor = 0;
    int r;
    for (;;) {
        size_t klen;
        sharena_value v;
        /* values as stored: one in its entry is copied, never given an
         * id; a replaced one is read again by lib/ */
        r = sh_next_value(ar, id, &cursor, &key, &klen, &text, &v);
        if (r == SHARENA_ENOENT)
            break;
        if (r == SH_PYERR)
            goto fail;
        if (r == SHARENA_ESTALE) {
            /* the entry names a dropped object: say which */
            PyObject *name = sh_arena_text(key.p, klen);
            if (name) {
                sh_raise(r, SH_W_ENTRY, name);
                Py_DECREF(name);
            }
            goto fail;
        }
        if (r < 0) {
            sh_raise(r, SH_W_NONE, NULL);
            goto fail;
        }
        int err = 0;
        bool scalar = v.type == SHARENA_T_NUMBER || v.type == SHARENA_T_BOOL ||
                      v.type == SHARENA_T_NULL || v.type == SHARENA_T_STRING;
        PyObject *val = scalar ? sh_from_value(ar, &v, text.p, &err)
                               : to_python_in(ar, v.id, memo);
        if (!val) {
            if (err)
                sh_raise(err, SH_W_NONE, NULL);
            goto fail;
        }
        PyObject *k = sh_arena_text(key.p, klen);
        int bad = !k || PyDict_SetItem(d, k, val) < 0;
        Py_XDECREF(k);
        Py_DECREF(val);
        if (bad)
            goto fail;
    }
    sh_buf_free(&key);
    sh_buf_free(&text);
    return d;
fail:
    sh_buf_free(&key);
    sh_buf_free(&text);
    Py_DECREF(d);
    return NULL;
}

static PyObject *copy_vector(ArenaObject *ar, sharena_id id, PyObject *memo)
{
    PyObject *l = PyList_New(0);
    if (!l)
        return NULL;
    if (memo_put(memo, id, l) < 0) {
        Py_DECREF(l);
        return NULL;
    }
    for (uint64_t i = 0;; i++) {
        sharena_id v;
        /* a number stored in the item is read as it is (asking for its id
         * would make it an object) */
        sharena_value nv = {0};
        int r = sharena_vector_get_value(ar->a, id, i, NULL, 0, &nv);
        if (r == SHARENA_ERANGE && nv.type == 0)
            break;
        if (r == 0 && nv.type == SHARENA_T_NUMBER && nv.id == 0) {
            PyObject *f = PyFloat_FromDouble(nv.number);
            int bad = !f || PyList_Append(l, f) < 0;
            Py_XDECREF(f);
            if (bad)
                goto fail;
            continue;
        }
        r = sharena_vector_get(ar->a, id, i, &v, NULL);
        if (r == SHARENA_ERANGE)
            break;
        if (r < 0) {
            sh_raise(r, SH_W_NONE, NULL);
            goto fail;
        }
        PyObject *val = to_python_in(ar, v, memo);
        if (!val)
            goto fail;
        int bad = PyList_Append(l, val);
        Py_DECREF(val);
        if (bad < 0)
            goto fail;
    }
    return l;
fail:
    Py_DECREF(l);
    return NULL;
}

static PyObject *copy_bytes(ArenaObject *ar, sharena_id id)
{
    uint64_t size;
    int r = sharena_bytes_ptr(ar->a, id, NULL, &size);
    if (r < 0)
        return sh_raise(r, SH_W_NONE, NULL);
    if (size > PY_SSIZE_T_MAX)
        return PyErr_NoMemory();
    PyObject *b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
    if (!b)
        return NULL;
    r = sharena_bytes_read(ar->a, id, 0, PyBytes_AS_STRING(b), (size_t)size);
    if (r < 0) {
        Py_DECREF(b);
        return sh_raise(r, SH_W_NONE, NULL);
    }
    return b;
}

PyObject *sh_struct_field_value(ArenaObject *ar, sharena_id st, size_t i,
                                bool deep);
PyObject *sh_shape_fields(ArenaObject *ar, sharena_id id);

static PyObject *copy_struct(ArenaObject *ar, sharena_id id)
{
    size_t n;
    int r = sharena_shape_nfields(ar->a, id, &n);
    if (r < 0)
        return sh_raise(r, SH_W_NONE, NULL);
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char name[SHARENA_FIELD_NAME_MAX + 1];
        sharena_type type;
        uint64_t size;
        r = sharena_shape_field(ar->a, id, i, name, sizeof name, &type, &size);
        if (r < 0) {
            sh_raise(r, SH_W_NONE, NULL);
            goto fail;
        }
        PyObject *v = sh_struct_field_value(ar, id, i, true);
        if (!v)
            goto fail;
        PyObject *k = sh_arena_text(name, strlen(name));
        int bad = !k || PyDict_SetItem(d, k, v) < 0;
        Py_XDECREF(k);
        Py_DECREF(v);
        if (bad < 0)
            goto fail;
    }
    return d;
fail:
    Py_DECREF(d);
    return NULL;
}

/* @p memo: id -> the copy made of it in this to_python() (NULL: none yet) */
static PyObject *to_python_in(ArenaObject *ar, sharena_id id, PyObject *memo)
{
    if (sh_arena_ok(ar) < 0)
        return NULL;
    int t = sharena_type_of(ar->a, id);
    if (t < 0)
        return sh_raise(t, SH_W_NONE, NULL);
    bool own_memo = false;
    if (t == SHARENA_T_MAP || t == SHARENA_T_VECTOR) {
        if (memo) {
            PyObject *k = PyLong_FromUnsignedLongLong(id);
            PyObject *seen = k ? PyDict_GetItemWithError(memo, k) : NULL;
            Py_XDECREF(k);
            if (seen)
                return Py_NewRef(seen); /* reached again: the same copy */
            if (PyErr_Occurred())
                return NULL;
        } else if (!(memo = PyDict_New())) {
            return NULL;
        } else {
            own_memo = true;
        }
    }
    if (Py_EnterRecursiveCall(" while copying a sharena object")) {
        if (own_memo)
            Py_DECREF(memo);
        return NULL;
    }
    PyObject *o;
    switch (t) {
    case SHARENA_T_MAP:
        o = copy_map(ar, id, memo);
        break;
    case SHARENA_T_VECTOR:
        o = copy_vector(ar, id, memo);
        break;
    case SHARENA_T_BYTES:
        o = copy_bytes(ar, id);
        break;
    case SHARENA_T_STRUCT:
        o = copy_struct(ar, id);
        break;
    case SHARENA_T_SHAPE:
        o = sh_shape_fields(ar, id);
        break;
    default:
        o = sh_value_or_raise(ar, id);
        break;
    }
    Py_LeaveRecursiveCall();
    if (own_memo)
        Py_DECREF(memo); /* the copies hold each other, not the memo */
    return o;
}

PyObject *sh_to_python(ArenaObject *ar, sharena_id id)
{
    return to_python_in(ar, id, NULL);
}

/* RecursionError if @p o is a view of the container @p c itself: a
 * container cannot hold itself directly (one level down, through another
 * container, it can, as a list can). Returns 0 or -1. */
int sh_check_not_self(ViewObject *c, PyObject *o)
{
    if (PyObject_TypeCheck(o, &ShViewType) &&
        ((ViewObject *)o)->arena == c->arena &&
        ((ViewObject *)o)->id == c->id) {
        PyErr_SetString(PyExc_RecursionError,
                        "a sharena container cannot hold itself (store a "
                        "copy of it: .to_python())");
        return -1;
    }
    return 0;
}

/* ---- storing ------------------------------------------------------------------ */

/* What a 0-d buffer exporter with a numeric format is: numpy scalars
 * (numpy.int64, numpy.float32, numpy.bool_, ...) and 0-d arrays. They export
 * the buffer protocol, but they are numbers, not byte strings. */
sh_scalar sh_scalar_kind(PyObject *o)
{
    PyNumberMethods *nb = Py_TYPE(o)->tp_as_number;
    if (!PyObject_CheckBuffer(o) || !nb || (!nb->nb_index && !nb->nb_float))
        return SH_SCALAR_NONE;
    Py_buffer view;
    if (PyObject_GetBuffer(o, &view, PyBUF_FULL_RO) < 0) {
        PyErr_Clear(); /* not ours to report: the caller stores it as bytes */
        return SH_SCALAR_NONE;
    }
    sh_scalar k = SH_SCALAR_NONE;
    const char *f = view.format ? view.format : "B";
    while (*f && strchr("@=<>!", *f))
        f++;
    if (view.ndim == 0 && f[0]) {
        if (f[0] == 'Z')
            k = SH_SCALAR_COMPLEX;
        else if (f[1] == 0 && f[0] == '?')
            k = SH_SCALAR_BOOL;
        else if (f[1] == 0 && strchr("bBhHiIlLqQnN", f[0]))
            k = SH_SCALAR_INT;
        else if (f[1] == 0 && strchr("efdg", f[0]))
            k = SH_SCALAR_FLOAT;
    }
    PyBuffer_Release(&view);
    return k;
}

static int refuse_complex(PyObject *o)
{
    PyErr_Format(PyExc_TypeError,
                 "cannot store a complex number (%.100s): sharena numbers "
                 "are real (float64); store .real and .imag separately",
                 Py_TYPE(o)->tp_name);
    return -1;
}

int sh_as_number(PyObject *o, double *out, bool *integer)
{
    *integer = false;
    if (PyFloat_Check(o)) {
        *out = PyFloat_AS_DOUBLE(o);
        return 0;
    }
    if (PyComplex_Check(o))
        return refuse_complex(o);
    sh_scalar k = PyLong_Check(o) ? SH_SCALAR_NONE : sh_scalar_kind(o);
    if (k == SH_SCALAR_COMPLEX)
        return refuse_complex(o); /* its __float__ would drop .imag */
    if (k == SH_SCALAR_FLOAT || k == SH_SCALAR_BOOL) {
        double d = PyFloat_AsDouble(o); /* numpy.float32, 0-d arrays */
        if (d == -1.0 && PyErr_Occurred())
            return -1;
        *out = d;
        return 0;
    }
    if (PyLong_Check(o) || (!PyBool_Check(o) && PyIndex_Check(o))) {
        PyObject *n = PyNumber_Index(o);
        if (!n)
            return -1;
        int ovf;
        long long v = PyLong_AsLongLongAndOverflow(n, &ovf);
        if (v == -1 && PyErr_Occurred()) {
            Py_DECREF(n);
            return -1;
        }
        /* compared as integers: (double)(2**53 + 1) rounds to 2**53 */
        if (ovf || v > (1LL << 53) || v < -(1LL << 53)) {
            sh_raise(SHARENA_EOVERFLOW, SH_W_NONE, n);
            Py_DECREF(n);
            return -1;
        }
        Py_DECREF(n);
        *out = (double)v;
        *integer = true;
        return 0;
    }
    if (!PyUnicode_Check(o) && !PyBytes_Check(o) && Py_TYPE(o)->tp_as_number &&
        Py_TYPE(o)->tp_as_number->nb_float) {
        double d = PyFloat_AsDouble(o); /* numpy.float32 and friends */
        if (d == -1.0 && PyErr_Occurred())
            return -1;
        *out = d;
        return 0;
    }
    PyErr_Format(PyExc_TypeError,
                 "expected a number (int or float), not %.100s",
                 Py_TYPE(o)->tp_name);
    return -1;
}

int sh_as_double(PyObject *o, double *out)
{
    bool integer;
    return sh_as_number(o, out, &integer);
}

int sh_as_bool(PyObject *o, bool *out)
{
    if (PyBool_Check(o)) {
        *out = o == Py_True;
        return 0;
    }
    if (sh_scalar_kind(o) == SH_SCALAR_BOOL) {
        int t = PyObject_IsTrue(o);
        if (t < 0)
            return -1;
        *out = t;
        return 0;
    }
    PyErr_Format(PyExc_TypeError, "expected a bool, not %.100s",
                 Py_TYPE(o)->tp_name);
    return -1;
}

int sh_check_unowned(PyObject *o, int own, const char *where)
{
    if (own != 0 || PyObject_TypeCheck(o, &ShViewType))
        return 0;
    PyErr_Format(PyExc_ValueError,
                 "owned=False is for objects you already own (views and refs, "
                 "e.g. from arena.new()): a plain %.100s stored now would have "
                 "no owner and leak; leave owned out or pass owned=True to let "
                 "the %s own it",
                 Py_TYPE(o)->tp_name, where);
    return -1;
}

int sh_map_recheck(ArenaObject *ar, sharena_id map, const char *k, size_t klen,
                   PyObject *key, sharena_id *v)
{
    sharena_id now;
    int r = sharena_map_get(ar->a, map, k, klen, &now);
    if (r == SHARENA_ENOENT)
        return 0;
    if (r < 0) {
        sh_raise(r, SH_W_NONE, NULL);
        return -1;
    }
    if (now != *v) {
        *v = now; /* replaced meanwhile */
        return 1;
    }
    PyObject *name = key ? Py_NewRef(key) : sh_arena_text(k, klen);
    if (name) {
        sh_raise(SHARENA_ESTALE, SH_W_ENTRY, name);
        Py_DECREF(name);
    }
    return -1;
}

void sh_discard(ArenaObject *ar, sharena_id id)
{
    int r;
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb); /* keep the error that made us discard */
    if (ar->a) {
        /* Also while closing (a failure may be the close itself): a user
         * that close() waits for, like any (it checks again after). */
        __atomic_add_fetch(&ar->users, 1, __ATOMIC_ACQ_REL);
        Py_BEGIN_ALLOW_THREADS
        r = sharena_drop(ar->a, id, 0);
        Py_END_ALLOW_THREADS
        sh_leave(ar);
    }
    (void)r;
    PyErr_Restore(et, ev, tb);
}

/* Run a creation call without the GIL; raise on failure. */
#define SH_CALL(ar, expr)                                                      \
    ({                                                                         \
        int r_ = 0;                                                            \
        int ok_ = SH_UNLOCKED(ar, r_ = (expr));                                \
        if (ok_ == 0 && r_ < 0)                                                \
            sh_raise(r_, SH_W_NONE, NULL);                                     \
        ok_ < 0 || r_ < 0 ? -1 : 0;                                            \
    })

/* Python values go into the library's value builder (sharena_build_*),
 * which makes the objects, links each child into its container and, on any
 * failure, drops all it made: the same builder the CLI and Node use. Calls
 * that allocate run without the GIL (SH_CALL). */
static int build_value(ArenaObject *ar, sharena_builder *b, PyObject *o);

static int build_map(ArenaObject *ar, sharena_builder *b, PyObject *o)
{
    PyObject *items = PyMapping_Items(o); /* a snapshot: a list */
    if (!items)
        return -1;
    int rc = SH_CALL(ar, sharena_build_map(b));
    for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(items); i++) {
        PyObject *kv = PyList_GET_ITEM(items, i);
        if (!PyTuple_Check(kv) || PyTuple_GET_SIZE(kv) != 2) {
            PyErr_SetString(PyExc_TypeError, "mapping items must be pairs");
            rc = -1;
            break;
        }
        rc = sh_build_item(ar, b, PyTuple_GET_ITEM(kv, 0),
                           PyTuple_GET_ITEM(kv, 1));
    }
    if (rc == 0)
        rc = SH_CALL(ar, sharena_build_end(b));
    Py_DECREF(items);
    return rc;
}

static int build_vector(ArenaObject *ar, sharena_builder *b, PyObject *o)
{
    PyObject *items = PySequence_List(o); /* a snapshot */
    if (!items)
        return -1;
    int rc = SH_CALL(ar, sharena_build_vector(b));
    for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(items); i++)
        rc = build_value(ar, b, PyList_GET_ITEM(items, i));
    if (rc == 0)
        rc = SH_CALL(ar, sharena_build_end(b));
    Py_DECREF(items);
    return rc;
}

static int build_bytes(ArenaObject *ar, sharena_builder *b, PyObject *o)
{
    Py_buffer view;
    if (PyObject_GetBuffer(o, &view, PyBUF_CONTIG_RO) < 0)
        return -1;
    int rc = SH_CALL(ar, sharena_build_bytes(b, view.buf, (size_t)view.len));
    PyBuffer_Release(&view);
    return rc;
}

/* A container is built through build_value(): a value that contains
 * itself would recurse until the C stack ends (the builder's depth limit
 * is deeper than Python's), so nesting counts against Python's recursion
 * limit and a cycle raises RecursionError. */
static int build_nested(ArenaObject *ar, sharena_builder *b, PyObject *o,
                        int (*fn)(ArenaObject *, sharena_builder *, PyObject *))
{
    if (Py_EnterRecursiveCall(" while storing a nested value in a sharena "
                              "arena (does it contain itself?)"))
        return -1;
    int r = fn(ar, b, o);
    Py_LeaveRecursiveCall();
    return r;
}

static int build_number(ArenaObject *ar, sharena_builder *b, PyObject *o)
{
    double d;
    if (sh_as_double(o, &d) < 0)
        return -1;
    return SH_CALL(ar, sharena_build_number(b, d));
}

static int build_value(ArenaObject *ar, sharena_builder *b, PyObject *o)
{
    if (PyObject_TypeCheck(o, &ShViewType)) {
        ViewObject *v = (ViewObject *)o;
        if (v->arena != ar) {
            PyErr_SetString(PyExc_ValueError,
                            "that object belongs to another arena (copy it "
                            "with .to_python() first)");
            return -1;
        }
        /* a reference: it stays whoever's it was */
        return SH_CALL(ar, sharena_build_ref(b, v->id, 0));
    }
    if (PyBool_Check(o))
        return SH_CALL(ar, sharena_build_bool(b, o == Py_True));
    if (PyFloat_Check(o) || PyLong_Check(o))
        return build_number(ar, b, o);
    if (PyUnicode_Check(o)) {
        Py_ssize_t len;
        const char *s = PyUnicode_AsUTF8AndSize(o, &len);
        if (!s)
            return -1;
        return SH_CALL(ar, sharena_build_string(b, s, (size_t)len));
    }
    if (o == Py_None)
        return SH_CALL(ar, sharena_build_null(b));
    if (PyDict_Check(o))
        return build_nested(ar, b, o, build_map);
    if (PyList_Check(o) || PyTuple_Check(o))
        return build_nested(ar, b, o, build_vector);
    if (PyObject_CheckBuffer(o)) {
        bool v;
        switch (sh_scalar_kind(o)) {
        case SH_SCALAR_BOOL:
            if (sh_as_bool(o, &v) < 0)
                return -1;
            return SH_CALL(ar, sharena_build_bool(b, v));
        case SH_SCALAR_INT:
        case SH_SCALAR_FLOAT:
            return build_number(ar, b, o);
        case SH_SCALAR_COMPLEX:
            return refuse_complex(o);
        default:
            return build_bytes(ar, b, o);
        }
    }
    int is = PyObject_IsInstance(o, abc_mapping);
    if (is < 0)
        return -1;
    if (is)
        return build_nested(ar, b, o, build_map);
    is = PyObject_IsInstance(o, abc_sequence);
    if (is < 0)
        return -1;
    if (is)
        return build_nested(ar, b, o, build_vector);
    if (PyComplex_Check(o))
        return refuse_complex(o);
    if (PyIndex_Check(o) ||
        (Py_TYPE(o)->tp_as_number && Py_TYPE(o)->tp_as_number->nb_float))
        return build_number(ar, b, o);
    PyErr_Format(PyExc_TypeError,
                 "cannot store a %.100s in a sharena arena (None, str, int, "
                 "float, bool, bytes, dict, list and sharena views can be "
                 "stored)",
                 Py_TYPE(o)->tp_name);
    return -1;
}

int sh_build_item(ArenaObject *ar, sharena_builder *b, PyObject *key,
                  PyObject *o)
{
    if (key) {
        Py_ssize_t klen;
        const char *k = sh_key(key, &klen);
        if (!k || SH_CALL(ar, sharena_build_key(b, k, (size_t)klen)) < 0)
            return -1;
    }
    return build_value(ar, b, o);
}

/* A build counts as a user of the arena from sh_build_begin() to its
 * commit or sh_build_abort(), so that close() waits for it: a failure half
 * way (ClosedError included) can still drop what was made. */
int sh_build_begin(ArenaObject *ar, sharena_builder **b)
{
    if (sh_enter(ar) < 0)
        return -1;
    int r = sharena_build_begin(ar->a, b);
    if (r < 0) {
        sh_leave(ar);
        sh_raise(r, SH_W_NONE, NULL);
        return -1;
    }
    return 0;
}

void sh_build_abort(ArenaObject *ar, sharena_builder *b)
{
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb); /* keep the error that made us abort */
    Py_BEGIN_ALLOW_THREADS
    sharena_build_abort(b);
    Py_END_ALLOW_THREADS
    sh_leave(ar);
    PyErr_Restore(et, ev, tb);
}

int sh_store(ArenaObject *ar, PyObject *o, sharena_id *id, bool *owned)
{
    *owned = true;
    if (PyObject_TypeCheck(o, &ShViewType)) {
        ViewObject *v = (ViewObject *)o;
        if (v->arena != ar) {
            PyErr_SetString(PyExc_ValueError,
                            "that object belongs to another arena (copy it "
                            "with .to_python() first)");
            return -1;
        }
        *owned = false; /* a reference: it stays whoever's it was */
        *id = v->id;
        return 0;
    }
    /* one scalar is one object: nothing to undo, no builder needed */
    if (PyBool_Check(o))
        return SH_CALL(ar, sharena_bool_new(ar->a, o == Py_True, id));
    if (PyFloat_Check(o)) {
        double d = PyFloat_AS_DOUBLE(o);
        return SH_CALL(ar, sharena_number_new(ar->a, d, id));
    }
    if (PyUnicode_Check(o)) {
        Py_ssize_t len;
        const char *s = PyUnicode_AsUTF8AndSize(o, &len);
        if (!s)
            return -1;
        return SH_CALL(ar, sharena_string_new(ar->a, s, (size_t)len, id));
    }
    sharena_builder *b;
    if (sh_build_begin(ar, &b) < 0)
        return -1;
    if (build_value(ar, b, o) < 0) {
        sh_build_abort(ar, b);
        return -1;
    }
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = sharena_build_finish(b, id);
    Py_END_ALLOW_THREADS
    sh_leave(ar); /* the build's user (b is freed) */
    if (r < 0) {
        sh_raise(r, SH_W_NONE, NULL);
        return -1;
    }
    return 0;
}

int sh_convert_init(PyObject *module)
{
    (void)module;
    PyObject *abc = PyImport_ImportModule("collections.abc");
    if (!abc)
        return -1;
    abc_mapping = PyObject_GetAttrString(abc, "Mapping");
    abc_sequence = PyObject_GetAttrString(abc, "Sequence");
    Py_DECREF(abc);
    return abc_mapping && abc_sequence ? 0 : -1;
}
