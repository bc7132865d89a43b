/* views.c: the view base type (an arena and an object id) and the Ref,
 * Bytes, Struct and Shape views. Maps and vectors are in map_view.c and
 * vector_view.c. */
#include "_sharena.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int sh_wait(ArenaObject *ar, sharena_id id, uint64_t last, int64_t timeout_ns,
            uint64_t *version);
int sh_timeout_ns(PyObject *timeout, int64_t *out);
int sh_map_init(PyObject *m);
int sh_vector_init(PyObject *m);

/* ---- the base: View -------------------------------------------------------- */

static void view_dealloc(ViewObject *v)
{
    Py_XDECREF(v->arena);
    Py_TYPE(v)->tp_free((PyObject *)v);
}

static PyObject *view_repr(ViewObject *v)
{
    return PyUnicode_FromFormat("<%s id=%llu arena=%R>", Py_TYPE(v)->tp_name,
                                (unsigned long long)v->id, v->arena->name);
}

static PyObject *view_get_id(ViewObject *v, void *u)
{
    (void)u;
    return PyLong_FromUnsignedLongLong(v->id);
}

static PyObject *view_get_arena(ViewObject *v, void *u)
{
    (void)u;
    return Py_NewRef(v->arena);
}

static PyObject *view_get_type(ViewObject *v, void *u)
{
    (void)u;
    if (sh_arena_ok(v->arena) < 0)
        return NULL;
    int t = sharena_type_of(v->arena->a, v->id);
    if (t < 0)
        return sh_raise(t, SH_W_NONE, NULL);
    return PyUnicode_FromString(sharena_type_name(t));
}

static PyObject *view_get_alive(ViewObject *v, void *u)
{
    (void)u;
    if (!v->arena->a || v->arena->closing)
        Py_RETURN_FALSE;
    return PyBool_FromLong(sharena_type_of(v->arena->a, v->id) > 0);
}

static PyObject *view_get_version(ViewObject *v, void *u)
{
    (void)u;
    if (sh_arena_ok(v->arena) < 0)
        return NULL;
    uint64_t ver;
    int r = sharena_change_count(v->arena->a, v->id, &ver);
    if (r < 0)
        return sh_raise(r, SH_W_NONE, NULL);
    return PyLong_FromUnsignedLongLong(ver);
}

static PyObject *view_drop(ViewObject *v, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"recursive", NULL};
    int rec = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|p:drop", kwlist, &rec))
        return NULL;
    ArenaObject *ar = v->arena;
    if (sh_arena_ok(ar) < 0 || sh_check_free(ar, v->id, rec) < 0)
        return NULL;
    int r;
    if (SH_UNLOCKED(ar, r = sharena_drop(ar->a, v->id,
                                         rec ? SHARENA_DROP_RECURSIVE : 0)) < 0)
        return NULL;
    if (r < 0)
        return sh_raise(r, SH_W_NONE, NULL);
    Py_RETURN_NONE;
}

static PyObject *view_to_python(ViewObject *v, PyObject *unused)
{
    (void)unused;
    return sh_to_python(v->arena, v->id);
}

/* _lock(nested=False): the object's lock for `with view.locked()`,
 * waited for in slices (Ctrl-C and close() get through); counted in the
 * arena's locks_held until _unlock(), so that close() refuses meanwhile.
 * nested=True is sharena_lock_nested(): a lock this thread holds gets one
 * more level (the library counts); without it, DeadlockError. */
static PyObject *view_lock(ViewObject *v, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"nested", NULL};
    int nested = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|p:_lock", kwlist, &nested))
        return NULL;
    ArenaObject *ar = v->arena;
    if (sh_enter(ar) < 0)
        return NULL;
    int r = sh_lock_wait(ar, v->id, nested);
    if (r == 0)
        ar->locks_held++; /* (with the GIL, before close() can look) */
    sh_leave(ar);
    if (r < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *view_unlock(ViewObject *v, PyObject *unused)
{
    (void)unused;
    ArenaObject *ar = v->arena;
    /* (close() refuses while locks are held: a closed arena here held
     * none of this process's) */
    if (!ar->a)
        return sh_raise_closed();
    int r = sharena_unlock(ar->a, v->id);
    if (r < 0)
        return sh_raise(r, SH_W_NONE, NULL);
    if (ar->locks_held > 0)
        ar->locks_held--;
    Py_RETURN_NONE;
}

static PyObject *view_same(ViewObject *v, PyObject *o)
{
    if (!PyObject_TypeCheck(o, &ShViewType))
        Py_RETURN_FALSE;
    ViewObject *w = (ViewObject *)o;
    return PyBool_FromLong(w->arena == v->arena && w->id == v->id);
}

static PyMethodDef view_methods[] = {
    {"drop", (PyCFunction)(void (*)(void))view_drop,
     METH_VARARGS | METH_KEYWORDS,
     "drop(recursive=False): free the object in every process"},
    {"to_python", (PyCFunction)view_to_python, METH_NOARGS,
     "a plain, deep Python copy (dict, list, bytes, str, float, bool)"},
    {"_lock", (PyCFunction)(void (*)(void))view_lock,
     METH_VARARGS | METH_KEYWORDS, NULL},
    {"_unlock", (PyCFunction)view_unlock, METH_NOARGS, NULL},
    {"_same", (PyCFunction)view_same, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef view_getset[] = {
    {"id", (getter)view_get_id, NULL, "the object's id (shared with C/Node)",
     NULL},
    {"arena", (getter)view_get_arena, NULL, "the arena it lives in", NULL},
    {"type", (getter)view_get_type, NULL, "type name: 'map', 'string', ...",
     NULL},
    {"alive", (getter)view_get_alive, NULL, "False once dropped or closed",
     NULL},
    {"version", (getter)view_get_version, NULL,
     "the object's version (grows with every write)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject ShViewType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sharena._sharena.View",
    .tp_basicsize = sizeof(ViewObject),
    .tp_dealloc = (destructor)view_dealloc,
    .tp_repr = (reprfunc)view_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "An object in an arena, addressed by id.",
    .tp_methods = view_methods,
    .tp_getset = view_getset,
};

/* ---- Ref --------------------------------------------------------------------- */

static PyObject *ref_get_value(ViewObject *v, void *u)
{
    (void)u;
    ArenaObject *ar = v->arena;
    if (sh_arena_ok(ar) < 0)
        return NULL;
    /* remember the version first: a wait() after this read cannot miss a
     * write that the read did not see */
    uint64_t ver;
    int r = sharena_change_count(ar->a, v->id, &ver);
    if (r < 0)
        return sh_raise(r, SH_W_NONE, NULL);
    PyObject *o = sh_value_or_raise(ar, v->id);
    if (o)
        v->version = ver;
    return o;
}

static int ref_set_value(ViewObject *v, PyObject *o, void *u)
{
    (void)u;
    ArenaObject *ar = v->arena;
    if (!o) {
        PyErr_SetString(PyExc_AttributeError,
                        "cannot delete a value (use drop())");
        return -1;
    }
    if (sh_arena_ok(ar) < 0)
        return -1;
    int t = sharena_type_of(ar->a, v->id);
    if (t < 0) {
        sh_raise(t, SH_W_NONE, NULL);
        return -1;
    }
    int r = SHARENA_ETYPE, ok = 0;
    if (t == SHARENA_T_STRING && PyUnicode_Check(o)) {
        Py_ssize_t len;
        const char *s = PyUnicode_AsUTF8AndSize(o, &len);
        if (!s)
            return -1;
        ok = SH_WRITE(ar, v->id,
                      r = sharena_string_set(ar->a, v->id, s, (size_t)len));
    } else if (t == SHARENA_T_NUMBER && !PyUnicode_Check(o)) {
        double d;
        if (sh_as_double(o, &d) < 0)
            return -1;
        ok = SH_WRITE(ar, v->id, r = sharena_number_set(ar->a, v->id, d));
    } else if (t == SHARENA_T_BOOL &&
               (PyBool_Check(o) || sh_scalar_kind(o) == SH_SCALAR_BOOL)) {
        bool b;
        if (sh_as_bool(o, &b) < 0)
            return -1;
        ok = SH_WRITE(ar, v->id, r = sharena_bool_set(ar->a, v->id, b));
    } else if (t == SHARENA_T_BYTES && PyObject_CheckBuffer(o)) {
        Py_buffer buf;
        uint64_t size;
        if (PyObject_GetBuffer(o, &buf, PyBUF_CONTIG_RO) < 0)
            return -1;
        r = sharena_bytes_ptr(ar->a, v->id, NULL, &size);
        if (r == 0 && size != (uint64_t)buf.len) {
            PyBuffer_Release(&buf);
            PyErr_Format(PyExc_ValueError,
                         "bytes object has %llu bytes, value has %zd",
                         (unsigned long long)size, buf.len);
            return -1;
        }
        if (r == 0)
            ok = SH_WRITE(ar, v->id,
                          r = sharena_bytes_write(ar->a, v->id, 0, buf.buf,
                                                  (size_t)buf.len));
        PyBuffer_Release(&buf);
    } else if (t != SHARENA_T_STRING && t != SHARENA_T_NUMBER &&
               t != SHARENA_T_BOOL && t != SHARENA_T_BYTES) {
        PyErr_Format(PyExc_TypeError,
                     "cannot replace the value of a %s in place (assign "
                     "through its container)",
                     sharena_type_name(t));
        return -1;
    } else {
        PyErr_Format(PyExc_TypeError, "a %s cannot hold a %.100s",
                     sharena_type_name(t), Py_TYPE(o)->tp_name);
        return -1;
    }
    if (ok < 0)
        return -1;
    if (r < 0) {
        sh_raise(r, SH_W_NONE, NULL);
        return -1;
    }
    return 0;
}

int sh_number_add(sharena_arena *a, sharena_id id, double delta, bool integer,
                  double *res)
{
    /* an int delta counts: the library checks the sum is exact */
    return integer ? sharena_number_add_exact(a, id, delta, res)
                   : sharena_number_add(a, id, delta, res);
}

PyObject *sh_raise_add(int code, double value, double delta)
{
    if (code != SHARENA_EOVERFLOW)
        return sh_raise(code, SH_W_NONE, NULL);
    PyObject *d = Py_BuildValue("(dd)", value, delta);
    if (!d)
        return NULL;
    sh_raise(code, SH_W_ADD, d);
    Py_DECREF(d);
    return NULL;
}

static PyObject *ref_add(ViewObject *v, PyObject *args)
{
    PyObject *delta = NULL;
    if (!PyArg_ParseTuple(args, "|O:add", &delta))
        return NULL;
    double d = 1.0, res = 0;
    bool integer = true;
    if (delta && sh_as_number(delta, &d, &integer) < 0)
        return NULL;
    ArenaObject *ar = v->arena;
    int r;
    if (SH_WRITE(ar, v->id, r = sh_number_add(ar->a, v->id, d, integer, &res)) <
        0)
        return NULL;
    if (r < 0)
        return sh_raise_add(r, res, d);
    return PyFloat_FromDouble(res);
}

static PyObject *ref_cas(ViewObject *v, PyObject *args)
{
    PyObject *eo, *no;
    if (!PyArg_ParseTuple(args, "OO:compare_and_swap", &eo, &no))
        return NULL;
    double e, n, actual;
    if (sh_as_double(eo, &e) < 0 || sh_as_double(no, &n) < 0)
        return NULL;
    ArenaObject *ar = v->arena;
    bool swapped = false;
    int r;
    if (SH_WRITE(
            ar, v->id,
            r = sharena_number_cas(ar->a, v->id, e, n, &swapped, &actual)) < 0)
        return NULL;
    if (r < 0)
        return sh_raise(r, SH_W_NONE, NULL);
    return PyBool_FromLong(swapped);
}

static PyObject *ref_wait(ViewObject *v, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"timeout", "since", NULL};
    PyObject *timeout = Py_None, *since = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO:wait", kwlist, &timeout,
                                     &since))
        return NULL;
    int64_t t;
    if (sh_timeout_ns(timeout, &t) < 0)
        return NULL;
    uint64_t last = v->version;
    if (since != Py_None) {
        last = PyLong_AsUnsignedLongLong(since);
        if (last == (uint64_t)-1 && PyErr_Occurred())
            return NULL;
    }
    uint64_t ver;
    if (sh_wait(v->arena, v->id, last, t, &ver) < 0)
        return NULL;
    v->version = ver;
    return PyLong_FromUnsignedLongLong(ver);
}

static PyObject *ref_get_seen(ViewObject *v, void *u)
{
    (void)u;
    return PyLong_FromUnsignedLongLong(v->version);
}

static PyMethodDef ref_methods[] = {
    {"add", (PyCFunction)ref_add, METH_VARARGS,
     "add(delta=1): atomically add to a number; returns the new value"},
    {"compare_and_swap", (PyCFunction)ref_cas, METH_VARARGS,
     "compare_and_swap(expected, desired) -> bool"},
    {"wait", (PyCFunction)(void (*)(void))ref_wait,
     METH_VARARGS | METH_KEYWORDS,
     "wait(timeout=None, since=None) -> version: block until the object "
     "changes after the version last seen"},
    {"_poll", (PyCFunction)sh_ref_poll, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef ref_getset[] = {
    {"value", (getter)ref_get_value, (setter)ref_set_value,
     "the object's value (str, float, bool, or a view)", NULL},
    {"seen_version", (getter)ref_get_seen, NULL,
     "the version wait() compares against", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject ShRefType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sharena._sharena.RefBase",
    .tp_base = &ShViewType,
    .tp_basicsize = sizeof(ViewObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "A reference to one object, whatever its type.",
    .tp_methods = ref_methods,
    .tp_getset = ref_getset,
};

/* ---- Bytes: zero-copy through the buffer protocol ------------------------------ */

static int bytes_getbuffer(ViewObject *v, Py_buffer *view, int flags)
{
    ArenaObject *ar = v->arena;
    if (sh_arena_ok(ar) < 0) {
        view->obj = NULL;
        return -1;
    }
    void *p;
    uint64_t size;
    int r = sharena_bytes_ptr(ar->a, v->id, &p, &size);
    if (r < 0) {
        view->obj = NULL;
        sh_raise(r, SH_W_NONE, NULL);
        return -1;
    }
    if (size > PY_SSIZE_T_MAX) {
        view->obj = NULL;
        PyErr_SetString(PyExc_BufferError, "buffer too large");
        return -1;
    }
    if (sh_export_add(ar, v->id) < 0) {
        view->obj = NULL;
        return -1;
    }
    if (PyBuffer_FillInfo(view, (PyObject *)v, p, (Py_ssize_t)size,
                          ar->readonly, flags) < 0) {
        sh_export_remove(ar, v->id);
        sh_arena_release_export(ar);
        return -1;
    }
    v->exports++;
    return 0;
}

static void bytes_releasebuffer(ViewObject *v, Py_buffer *view)
{
    (void)view;
    v->exports--;
    sh_export_remove(v->arena, v->id);
    sh_arena_release_export(v->arena);
}

static PyBufferProcs bytes_as_buffer = {
    .bf_getbuffer = (getbufferproc)bytes_getbuffer,
    .bf_releasebuffer = (releasebufferproc)bytes_releasebuffer,
};

static int bytes_size(ViewObject *v, uint64_t *size)
{
    if (sh_arena_ok(v->arena) < 0)
        return -1;
    int r = sharena_bytes_ptr(v->arena->a, v->id, NULL, size);
    if (r == 0 && *size > (uint64_t)PY_SSIZE_T_MAX)
        r = SHARENA_ECORRUPT; /* never -1 without an exception */
    if (r < 0) {
        sh_raise(r, SH_W_NONE, NULL);
        return -1;
    }
    return 0;
}

static Py_ssize_t bytes_len(ViewObject *v)
{
    uint64_t size;
    if (bytes_size(v, &size) < 0)
        return -1;
    return (Py_ssize_t)size;
}

static PyObject *bytes_read(ViewObject *v, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"offset", "size", NULL};
    long long off = 0, n = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|LL:read", kwlist, &off, &n))
        return NULL;
    uint64_t size;
    if (bytes_size(v, &size) < 0)
        return NULL;
    if (off < 0 || (uint64_t)off > size) {
        PyErr_SetString(PyExc_ValueError, "offset out of range");
        return NULL;
    }
    if (n < 0 || (uint64_t)n > size - (uint64_t)off)
        n = (long long)(size - (uint64_t)off);
    PyObject *b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n);
    if (!b)
        return NULL;
    int r = sharena_bytes_read(v->arena->a, v->id, (uint64_t)off,
                               PyBytes_AS_STRING(b), (size_t)n);
    if (r < 0) {
        Py_DECREF(b);
        return sh_raise(r, SH_W_NONE, NULL);
    }
    return b;
}

static PyObject *bytes_write(ViewObject *v, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"data", "offset", NULL};
    Py_buffer buf;
    long long off = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*|L:write", kwlist, &buf,
                                     &off))
        return NULL;
    ArenaObject *ar = v->arena;
    int r = SHARENA_ERANGE;
    int ok = 0;
    if (off >= 0)
        ok = SH_WRITE(ar, v->id,
                      r = sharena_bytes_write(ar->a, v->id, (uint64_t)off,
                                              buf.buf, (size_t)buf.len));
    Py_ssize_t n = buf.len;
    PyBuffer_Release(&buf);
    if (ok < 0)
        return NULL;
    if (r < 0)
        return sh_raise(r, SH_W_INDEX, NULL);
    return PyLong_FromSsize_t(n);
}

static PyObject *bytes_get_exports(ViewObject *v, void *u)
{
    (void)u;
    return PyLong_FromSsize_t(v->exports);
}

static PySequenceMethods bytes_as_sequence = {
    .sq_length = (lenfunc)bytes_len,
};

static PyMethodDef bytes_methods[] = {
    {"read", (PyCFunction)(void (*)(void))bytes_read,
     METH_VARARGS | METH_KEYWORDS, "read(offset=0, size=-1) -> bytes (a copy)"},
    {"write", (PyCFunction)(void (*)(void))bytes_write,
     METH_VARARGS | METH_KEYWORDS,
     "write(data, offset=0) -> int: copy data in (bounds-checked)"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef bytes_getset[] = {
    {"_exports", (getter)bytes_get_exports, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject ShBytesType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sharena._sharena.BytesBase",
    .tp_base = &ShViewType,
    .tp_basicsize = sizeof(ViewObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "A fixed-size byte buffer, zero-copy via the buffer protocol.",
    .tp_as_buffer = &bytes_as_buffer,
    .tp_as_sequence = &bytes_as_sequence,
    .tp_methods = bytes_methods,
    .tp_getset = bytes_getset,
};

/* ---- Shape -------------------------------------------------------------------- */

PyObject *sh_shape_fields(ArenaObject *ar, sharena_id id)
{
    size_t n;
    int r = sharena_shape_nfields(ar->a, id, &n);
    if (r < 0)
        return sh_raise(r, SH_W_NONE, NULL);
    PyObject *l = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; l && i < n; i++) {
        char name[SHARENA_FIELD_NAME_MAX + 1];
        sharena_type type;
        uint64_t size;
        r = sharena_shape_field(ar->a, id, i, name, sizeof name, &type, &size);
        if (r < 0) {
            Py_CLEAR(l);
            return sh_raise(r, SH_W_NONE, NULL);
        }
        sharena_field_flags flags = 0;
        r = sharena_shape_field_flags(ar->a, id, i, &flags);
        if (r < 0) {
            Py_CLEAR(l);
            return sh_raise(r, SH_W_NONE, NULL);
        }
        /* a nullable field's type reads "number?" (what a shape spec says) */
        char tname[24];
        snprintf(tname, sizeof tname, "%s%s", sharena_type_name(type),
                 flags & SHARENA_FIELD_NULLABLE ? "?" : "");
        PyObject *fname = sh_arena_text(name, strlen(name));
        PyObject *t = fname ? Py_BuildValue("(NsK)", fname, tname,
                                            (unsigned long long)size)
                            : NULL;
        if (!t)
            Py_CLEAR(l);
        else
            PyList_SET_ITEM(l, (Py_ssize_t)i, t);
    }
    return l;
}

static PyObject *shape_get_fields(ViewObject *v, void *u)
{
    (void)u;
    if (sh_arena_ok(v->arena) < 0)
        return NULL;
    return sh_shape_fields(v->arena, v->id);
}

static PyObject *shape_new_struct(ViewObject *v, PyObject *unused)
{
    (void)unused;
    ArenaObject *ar = v->arena;
    sharena_id id;
    int r;
    if (SH_UNLOCKED(ar, r = sharena_struct_new(ar->a, v->id, &id)) < 0)
        return NULL;
    if (r < 0)
        return sh_raise(r, SH_W_NONE, NULL);
    return sh_view_new(ar, SH_K_STRUCT, id);
}

static PyMethodDef shape_methods[] = {
    {"_new", (PyCFunction)shape_new_struct, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};
static PyGetSetDef shape_getset[] = {
    {"fields", (getter)shape_get_fields, NULL,
     "list of (name, type, size) tuples", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject ShShapeType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sharena._sharena.ShapeBase",
    .tp_base = &ShViewType,
    .tp_basicsize = sizeof(ViewObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "A struct shape: field names and types stored in the arena.",
    .tp_methods = shape_methods,
    .tp_getset = shape_getset,
};

/* ---- Struct ------------------------------------------------------------------- */

/* Find field @p name: index and type, or raise KeyNotFoundError. */
static int struct_field(ViewObject *v, PyObject *name, size_t *index,
                        sharena_type *type, uint64_t *size)
{
    if (sh_arena_ok(v->arena) < 0)
        return -1;
    Py_ssize_t nlen;
    const char *n = PyUnicode_Check(name) ? PyUnicode_AsUTF8AndSize(name, &nlen)
                                          : NULL;
    if (!n) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "field names are str, not %.100s",
                         Py_TYPE(name)->tp_name);
        return -1;
    }
    sharena_arena *a = v->arena->a;
    int r = sharena_shape_find(a, v->id, n, (size_t)nlen, index);
    char buf[SHARENA_FIELD_NAME_MAX + 1];
    if (r == 0)
        r = sharena_shape_field(a, v->id, *index, buf, sizeof buf, type, size);
    if (r < 0) {
        sh_raise(r, SH_W_KEY, name);
        return -1;
    }
    return 0;
}

PyObject *sh_struct_field_value(ArenaObject *ar, sharena_id st, size_t i,
                                bool deep)
{
    char name[SHARENA_FIELD_NAME_MAX + 1];
    sharena_type type;
    uint64_t size;
    sharena_arena *a = ar->a;
    int r = sharena_shape_field(a, st, i, name, sizeof name, &type, &size);
    if (r < 0)
        return sh_raise(r, SH_W_NONE, NULL);
    if (type != SHARENA_T_BYTES) {
        /* null or the value, in one typed read (a string grown past the
         * buffer: again with its length, bounded) */
        char stack[256];
        char *buf = stack;
        size_t cap = sizeof stack;
        sharena_value v = {0};
        for (int tries = 0;; tries++) {
            r = sharena_struct_get_value(a, st, i, buf, cap, &v);
            if (r != SHARENA_ERANGE || v.type != SHARENA_T_STRING || tries == 8)
                break;
            cap = v.len + 1 + v.len / 4;
            char *nb = buf == stack ? malloc(cap) : realloc(buf, cap);
            if (!nb) {
                if (buf != stack)
                    free(buf);
                return PyErr_NoMemory();
            }
            buf = nb;
        }
        PyObject *o = NULL;
        if (r == 0) {
            if (v.type == SHARENA_T_NULL)
                o = Py_NewRef(Py_None);
            else if (v.type == SHARENA_T_NUMBER)
                o = PyFloat_FromDouble(v.number);
            else if (v.type == SHARENA_T_BOOL)
                o = PyBool_FromLong(v.boolean);
            else
                o = sh_arena_text(buf, v.len);
        }
        if (buf != stack)
            free(buf);
        return r < 0 ? sh_raise(r, SH_W_NONE, NULL) : o;
    }
    switch (type) {
    default: {
        sharena_id fid;
        if ((r = sharena_struct_field_id(a, st, i, &fid)) < 0)
            break;
        if (type == SHARENA_T_BYTES && !deep)
            return sh_view_new(ar, SH_K_BYTES, fid);
        return deep ? sh_to_python(ar, fid) : sh_value_or_raise(ar, fid);
    }
    }
    return sh_raise(r, SH_W_NONE, NULL);
}

static PyObject *struct_subscript(ViewObject *v, PyObject *name)
{
    size_t i;
    sharena_type type;
    uint64_t size;
    if (struct_field(v, name, &i, &type, &size) < 0)
        return NULL;
    return sh_struct_field_value(v->arena, v->id, i, false);
}

static int struct_ass(ViewObject *v, PyObject *name, PyObject *o)
{
    if (!o) {
        PyErr_SetString(PyExc_TypeError, "struct fields cannot be deleted");
        return -1;
    }
    size_t i;
    sharena_type type;
    uint64_t size;
    if (struct_field(v, name, &i, &type, &size) < 0)
        return -1;
    ArenaObject *ar = v->arena;
    int r = 0, ok = 0;
    if (o == Py_None) {
        sharena_field_flags flags = 0;
        r = sharena_shape_field_flags(ar->a, v->id, i, &flags);
        if (r == 0 && !(flags & SHARENA_FIELD_NULLABLE)) {
            PyErr_Format(PyExc_TypeError,
                         "field %R is not nullable: its shape does not allow "
                         "None (declare it as '%s?')",
                         name, sharena_type_name(type));
            return -1;
        }
        if (r == 0)
            ok = SH_WRITE(ar, v->id,
                          r = sharena_struct_set_null(ar->a, v->id, i));
    } else if (type == SHARENA_T_NUMBER) {
        double d;
        if (PyUnicode_Check(o) || sh_as_double(o, &d) < 0) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "number field needs a number");
            return -1;
        }
        ok = SH_WRITE(ar, v->id,
                      r = sharena_struct_set_number(ar->a, v->id, i, d));
    } else if (type == SHARENA_T_BOOL) {
        bool b;
        if (sh_as_bool(o, &b) < 0)
            return -1;
        ok = SH_WRITE(ar, v->id,
                      r = sharena_struct_set_bool(ar->a, v->id, i, b));
    } else if (type == SHARENA_T_STRING) {
        Py_ssize_t len;
        const char *s = PyUnicode_Check(o) ? PyUnicode_AsUTF8AndSize(o, &len)
                                           : NULL;
        if (!s) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_TypeError,
                             "string field needs a str, not %.100s",
                             Py_TYPE(o)->tp_name);
            return -1;
        }
        ok = SH_WRITE(
            ar, v->id,
            r = sharena_struct_set_string(ar->a, v->id, i, s, (size_t)len));
    } else {
        Py_buffer buf;
        if (PyObject_GetBuffer(o, &buf, PyBUF_CONTIG_RO) < 0)
            return -1;
        if ((uint64_t)buf.len != size) {
            PyBuffer_Release(&buf);
            PyErr_Format(PyExc_ValueError,
                         "bytes field has %llu bytes, value has %zd",
                         (unsigned long long)size, buf.len);
            return -1;
        }
        sharena_id fid;
        r = sharena_struct_field_id(ar->a, v->id, i, &fid);
        if (r == 0)
            ok = SH_WRITE(ar, fid,
                          r = sharena_bytes_write(ar->a, fid, 0, buf.buf,
                                                  (size_t)buf.len));
        PyBuffer_Release(&buf);
    }
    if (ok < 0)
        return -1;
    if (r < 0) {
        sh_raise(r, SH_W_NONE, NULL);
        return -1;
    }
    return 0;
}

static Py_ssize_t struct_len(ViewObject *v)
{
    if (sh_arena_ok(v->arena) < 0)
        return -1;
    size_t n;
    int r = sharena_shape_nfields(v->arena->a, v->id, &n);
    if (r < 0) {
        sh_raise(r, SH_W_NONE, NULL);
        return -1;
    }
    return (Py_ssize_t)n;
}

static PyObject *struct_iter(ViewObject *v)
{
    if (sh_arena_ok(v->arena) < 0)
        return NULL;
    PyObject *fields = sh_shape_fields(v->arena, v->id);
    if (!fields)
        return NULL;
    PyObject *names = PyList_New(PyList_GET_SIZE(fields));
    for (Py_ssize_t i = 0; names && i < PyList_GET_SIZE(fields); i++)
        PyList_SET_ITEM(
            names, i,
            Py_NewRef(PyTuple_GET_ITEM(PyList_GET_ITEM(fields, i), 0)));
    Py_DECREF(fields);
    if (!names)
        return NULL;
    PyObject *it = PyObject_GetIter(names);
    Py_DECREF(names);
    return it;
}

static int struct_contains(ViewObject *v, PyObject *name)
{
    if (!PyUnicode_Check(name) || sh_arena_ok(v->arena) < 0)
        return PyErr_Occurred() ? -1 : 0;
    Py_ssize_t nlen;
    const char *n = PyUnicode_AsUTF8AndSize(name, &nlen);
    if (!n)
        return -1;
    size_t i;
    int r = sharena_shape_find(v->arena->a, v->id, n, (size_t)nlen, &i);
    if (r == SHARENA_ENOENT)
        return 0;
    if (r < 0) {
        sh_raise(r, SH_W_NONE, NULL);
        return -1;
    }
    return 1;
}

static PyObject *struct_get_shape(ViewObject *v, void *u)
{
    (void)u;
    if (sh_arena_ok(v->arena) < 0)
        return NULL;
    sharena_id shape;
    int r = sharena_struct_shape(v->arena->a, v->id, &shape);
    if (r < 0)
        return sh_raise(r, SH_W_NONE, NULL);
    return sh_view_new(v->arena, SH_K_SHAPE, shape);
}

static PyMappingMethods struct_as_mapping = {
    .mp_length = (lenfunc)struct_len,
    .mp_subscript = (binaryfunc)struct_subscript,
    .mp_ass_subscript = (objobjargproc)struct_ass,
};
static PySequenceMethods struct_as_sequence = {
    .sq_contains = (objobjproc)struct_contains,
};
static PyGetSetDef struct_getset[] = {
    {"shape", (getter)struct_get_shape, NULL, "the struct's Shape", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject ShStructType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sharena._sharena.StructBase",
    .tp_base = &ShViewType,
    .tp_basicsize = sizeof(ViewObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "A struct: fields by name, as described by its shape.",
    .tp_as_mapping = &struct_as_mapping,
    .tp_as_sequence = &struct_as_sequence,
    .tp_iter = (getiterfunc)struct_iter,
    .tp_getset = struct_getset,
};

/* ---- registration ------------------------------------------------------------- */

int sh_views_init(PyObject *m)
{
    PyTypeObject *types[] = {&ShViewType, &ShRefType, &ShBytesType,
                             &ShShapeType, &ShStructType};
    const char *names[] = {"View", "RefBase", "BytesBase", "ShapeBase",
                           "StructBase"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (PyType_Ready(types[i]) < 0)
            return -1;
        Py_INCREF(types[i]);
        if (PyModule_AddObject(m, names[i], (PyObject *)types[i]) < 0)
            return -1;
    }
    sh_classes[SH_K_REF] = &ShRefType;
    sh_classes[SH_K_BYTES] = &ShBytesType;
    sh_classes[SH_K_SHAPE] = &ShShapeType;
    sh_classes[SH_K_STRUCT] = &ShStructType;
    return sh_map_init(m) < 0 || sh_vector_init(m) < 0 ? -1 : 0;
}
