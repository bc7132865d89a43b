/* arena.c: the Arena and Connection types, and the module's functions. */
#include "_sharena.h"

#include <time.h>

int sh_convert_init(PyObject *module);
static PyTypeObject *arena_class = &ShArenaType;

/* ---- closing --------------------------------------------------------------- */

static void finish_close(ArenaObject *ar)
{
    sharena_arena *a = ar->a;
    ar->a = NULL;
    if (!a)
        return;
    /* a broker arena tells the broker: a round trip */
    Py_BEGIN_ALLOW_THREADS
    sharena_arena_close(a);
    Py_END_ALLOW_THREADS
}

static int users_of(ArenaObject *ar)
{
    return __atomic_load_n(&ar->users, __ATOMIC_ACQUIRE);
}

/* 0, or -1 with BusyError: this process holds locks on the arena. */
static int arena_close_now(ArenaObject *ar)
{
    if (!ar->a)
        return 0;
    if (ar->locks_held) {
        /* Releasing them would end mutual exclusion under the threads
         * that hold them; keeping them past the unmap would hold them
         * until this process exits. */
        PyObject *n = PyLong_FromLong(ar->locks_held);
        if (n) {
            sh_raise(SHARENA_EBUSY, SH_W_LOCKS, n);
            Py_DECREF(n);
        }
        return -1;
    }
    __atomic_store_n(&ar->closing, 1, __ATOMIC_RELEASE);
    /* Calls in progress finish their current step; waits and lock waits
     * notice the close within one slice. Checked again with the GIL: a
     * cleanup (sh_discard) may have entered meanwhile. */
    while (users_of(ar)) {
        Py_BEGIN_ALLOW_THREADS
        while (users_of(ar)) {
            struct timespec ts = {0, 100 * 1000};
            nanosleep(&ts, NULL);
        }
        Py_END_ALLOW_THREADS
    }
    if (ar->a && ar->exports == 0)
        finish_close(ar);
    /* else: unmapped when the last exported buffer is released */
    return 0;
}

void sh_arena_release_export(ArenaObject *ar)
{
    ar->exports--;
    if (ar->exports == 0 && ar->closing && ar->a && users_of(ar) == 0)
        finish_close(ar);
}

static PyObject *arena_close(ArenaObject *ar, PyObject *unused)
{
    (void)unused;
    if (arena_close_now(ar) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static void arena_dealloc(ArenaObject *ar)
{
    if (ar->weakrefs)
        PyObject_ClearWeakRefs((PyObject *)ar);
    if (ar->a) {
        __atomic_store_n(&ar->closing, 1, __ATOMIC_RELEASE);
        finish_close(ar);
    }
    Py_XDECREF(ar->exported);
    Py_XDECREF(ar->conn);
    Py_XDECREF(ar->name);
    Py_XDECREF(ar->socket);
    Py_TYPE(ar)->tp_free((PyObject *)ar);
}

static PyObject *arena_wrap(sharena_arena *a, PyObject *conn, PyObject *socket)
{
    ArenaObject *ar = (ArenaObject *)arena_class->tp_alloc(arena_class, 0);
    if (!ar) {
        Py_BEGIN_ALLOW_THREADS
        sharena_arena_close(a);
        Py_END_ALLOW_THREADS
        return NULL;
    }
    ar->a = a;
    ar->readonly = sharena_arena_readonly(a);
    ar->origin.size = sizeof ar->origin;
    sharena_arena_open_info(a, &ar->origin);
    ar->conn = conn ? Py_NewRef(conn) : NULL;
    ar->socket = Py_NewRef(socket ? socket : Py_None);
    ar->name = PyUnicode_FromString(sharena_arena_name(a));
    if (!ar->name) {
        Py_DECREF(ar);
        return NULL;
    }
    return (PyObject *)ar;
}

/* ---- waits --------------------------------------------------------------------- */

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int sh_timeout_ns(PyObject *timeout, int64_t *out)
{
    if (!timeout || timeout == Py_None) {
        *out = -1;
        return 0;
    }
    double t = PyFloat_AsDouble(timeout);
    if (t == -1.0 && PyErr_Occurred())
        return -1;
    if (t != t || t < 0) {
        PyErr_SetString(PyExc_ValueError, "timeout must be >= 0 or None");
        return -1;
    }
    *out = t > 1e9 ? (int64_t)1e18 : (int64_t)(t * 1e9);
    return 0;
}

/* Wait for object @p id (0: anything in the arena) to move past version
 * @p last. Sleeps without the GIL in slices, so that close() and Ctrl-C
 * (SIGINT makes the futex wait return EINTR) get through. */
int sh_wait(ArenaObject *ar, sharena_id id, uint64_t last, int64_t timeout_ns,
            uint64_t *version)
{
    int64_t deadline = timeout_ns < 0 ? -1 : mono_ns() + timeout_ns;
    for (;;) {
        if (sh_enter(ar) < 0)
            return -1;
        sharena_arena *a = ar->a;
        int r;
        bool more;
        Py_BEGIN_ALLOW_THREADS
        int64_t slice = SH_WAIT_SLICE_NS;
        if (deadline >= 0) {
            int64_t left = deadline - mono_ns();
            if (left < 0)
                left = 0;
            if (left < slice)
                slice = left;
        }
        r = id ? sharena_wait(a, id, last, slice, version)
               : sharena_wait_any(a, last, slice, version);
        more = r == SHARENA_ETIMEDOUT &&
               !__atomic_load_n(&ar->closing, __ATOMIC_ACQUIRE) &&
               (deadline < 0 || mono_ns() < deadline);
        Py_END_ALLOW_THREADS
        sh_leave(ar);
        /* After every slice, not only on EINTR: a signal that arrived
         * while this thread was between two futex waits interrupted none. */
        if (r == SHARENA_EINTR || more) {
            if (PyErr_CheckSignals() < 0)
                return -1;
            continue;
        }
        if (ar->closing || r == SHARENA_ECLOSED) {
            sh_raise_closed();
            return -1;
        }
        if (r < 0) {
            sh_raise(r, SH_W_NONE, NULL);
            return -1;
        }
        return 0;
    }
}

int sh_lock_wait(ArenaObject *ar, sharena_id id, bool nested)
{
    /* A free lock is taken at once, with the GIL (no sleep: a busy one
     * gives up after a few spins); only a wait releases it. (The caller
     * entered under the GIL: not closing yet.) */
    int r = nested ? sharena_lock_nested(ar->a, id, 0)
                   : sharena_lock_timeout(ar->a, id, 0);
    while (r == SHARENA_ETIMEDOUT) {
        if (ar->closing) {
            r = SHARENA_ECLOSED;
            break;
        }
        /* (runs the handlers on the main thread: Ctrl-C ends here) */
        if (PyErr_CheckSignals() < 0)
            return -1;
        Py_BEGIN_ALLOW_THREADS
        r = nested ? sharena_lock_nested(ar->a, id, SH_WAIT_SLICE_NS)
                   : sharena_lock_timeout(ar->a, id, SH_WAIT_SLICE_NS);
        Py_END_ALLOW_THREADS
        if (r == 0 && ar->closing) {
            (void)sharena_unlock(ar->a, id); /* taken as close() began */
            r = SHARENA_ECLOSED;
        }
    }
    if (r < 0) {
        sh_raise(r, SH_W_NONE, NULL);
        return -1;
    }
    return 0;
}

static PyObject *arena_wait(ArenaObject *ar, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"last", "timeout", NULL};
    unsigned long long last;
    PyObject *timeout = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "K|O:wait", kwlist, &last,
                                     &timeout))
        return NULL;
    int64_t t;
    uint64_t v;
    if (sh_timeout_ns(timeout, &t) < 0 || sh_wait(ar, 0, last, t, &v) < 0)
        return NULL;
    return PyLong_FromUnsignedLongLong(v);
}

static PyObject *arena_version(ArenaObject *ar, void *unused)
{
    (void)unused;
    if (sh_arena_ok(ar) < 0)
        return NULL;
    uint64_t v;
    int r = sharena_arena_version(ar->a, &v);
    if (r < 0)
        return sh_raise(r, SH_W_NONE, NULL);
    return PyLong_FromUnsignedLongLong(v);
}

/* ---- roots and objects ------------------------------------------------------ */

static const char *root_name(PyObject *name)
{
    if (!PyUnicode_Check(name)) {
        PyErr_Format(PyExc_TypeError, "root names are str, not %.100s",
                     Py_TYPE(name)->tp_name);
        return NULL;
    }
    const char *s = PyUnicode_AsUTF8(name);
    if (s && !sharena_name_valid(s)) {
        PyErr_Format(PyExc_ValueError,
                     "invalid root name %R: 1..128 bytes of [A-Za-z0-9._-]",
                     name);
        return NULL;
    }
    return s;
}

static sh_kind kind_of_type(int t)
{
    switch (t) {
    case SHARENA_T_MAP:
        return SH_K_MAP;
    case SHARENA_T_VECTOR:
        return SH_K_VECTOR;
    case SHARENA_T_BYTES:
        return SH_K_BYTES;
    case SHARENA_T_STRUCT:
        return SH_K_STRUCT;
    case SHARENA_T_SHAPE:
        return SH_K_SHAPE;
    default:
        return SH_K_REF;
    }
}

/* _root_ensure(name, type, size=0): a view (containers, bytes) or a Ref
 * (string, number, bool) on the root, created if missing. */
static PyObject *arena_root_ensure(ArenaObject *ar, PyObject *args)
{
    PyObject *name;
    int type;
    unsigned long long size = 0;
    if (!PyArg_ParseTuple(args, "Oi|K:_root_ensure", &name, &type, &size))
        return NULL;
    const char *n = root_name(name);
    if (!n)
        return NULL;
    sharena_id id;
    int r;
    if (SH_UNLOCKED(
            ar, r = sharena_root_ensure(ar->a, n, type, size, &id, NULL)) < 0)
        return NULL;
    if (r < 0)
        return sh_raise(r, SH_W_ROOT, name);
    PyObject *v = sh_view_new(ar, kind_of_type(type), id);
    if (v && type != SHARENA_T_MAP && type != SHARENA_T_VECTOR &&
        type != SHARENA_T_BYTES)
        (void)sharena_change_count(ar->a, id, &((ViewObject *)v)->version);
    return v;
}

static PyObject *arena_root_id(ArenaObject *ar, PyObject *name)
{
    const char *n = root_name(name);
    if (!n || sh_arena_ok(ar) < 0)
        return NULL;
    sharena_id id;
    int r = sharena_root_get(ar->a, n, &id);
    if (r < 0)
        return sh_raise(r, SH_W_ROOT, name);
    return PyLong_FromUnsignedLongLong(id);
}

static PyObject *arena_root_set(ArenaObject *ar, PyObject *args)
{
    PyObject *name, *value;
    int own = -1;
    if (!PyArg_ParseTuple(args, "OO|p:_root_set", &name, &value, &own))
        return NULL;
    const char *n = root_name(name);
    if (!n || sh_arena_ok(ar) < 0 ||
        sh_check_unowned(value, own, "roots directory") < 0 ||
        sh_check_free_root(ar, n) < 0)
        return NULL;
    sharena_id id;
    bool owned;
    if (sh_store(ar, value, &id, &owned) < 0)
        return NULL;
    bool made = owned;
    if (own >= 0)
        owned = own;
    int r;
    if (SH_UNLOCKED(ar, r = sharena_root_set(ar->a, n, id,
                                             owned ? SHARENA_OWNED : 0)) < 0)
        r = 0;
    else if (r < 0)
        sh_raise(r, SH_W_ROOT, name);
    if (PyErr_Occurred()) {
        if (made)
            sh_discard(ar, id);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *arena_root_remove(ArenaObject *ar, PyObject *name)
{
    const char *n = root_name(name);
    if (!n || sh_arena_ok(ar) < 0 || sh_check_free_root(ar, n) < 0)
        return NULL;
    int r;
    if (SH_UNLOCKED(ar, r = sharena_root_remove(ar->a, n)) < 0)
        return NULL;
    if (r < 0)
        return sh_raise(r, SH_W_ROOT, name);
    Py_RETURN_NONE;
}

static PyObject *arena_roots_id(ArenaObject *ar, void *unused)
{
    (void)unused;
    if (sh_arena_ok(ar) < 0)
        return NULL;
    sharena_id id;
    int r = sharena_roots(ar->a, &id);
    if (r < 0)
        return sh_raise(r, SH_W_NONE, NULL);
    return PyLong_FromUnsignedLongLong(id);
}

static int parse_id(PyObject *o, sharena_id *id)
{
    unsigned long long v = PyLong_AsUnsignedLongLong(o);
    if (v == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    if (v == 0 || v > SHARENA_ID_MAX) {
        PyErr_SetString(PyExc_ValueError, "ids are 1..2**53-1");
        return -1;
    }
    *id = v;
    return 0;
}

/* _get(id): the value of object id (str/float/bool or a view). */
static PyObject *arena_get(ArenaObject *ar, PyObject *o)
{
    sharena_id id;
    if (parse_id(o, &id) < 0 || sh_arena_ok(ar) < 0)
        return NULL;
    return sh_value_or_raise(ar, id);
}

/* _view(id): a view (containers) or a Ref (anything else) of object id. */
static PyObject *arena_view(ArenaObject *ar, PyObject *o)
{
    sharena_id id;
    if (parse_id(o, &id) < 0 || sh_arena_ok(ar) < 0)
        return NULL;
    int t = sharena_type_of(ar->a, id);
    if (t < 0)
        return sh_raise(t, SH_W_NONE, NULL);
    PyObject *v = sh_view_new(ar, kind_of_type(t), id);
    if (v)
        (void)sharena_change_count(ar->a, id, &((ViewObject *)v)->version);
    return v;
}

/* _ref(id): a Ref of object id, whatever its type. */
static PyObject *arena_ref(ArenaObject *ar, PyObject *o)
{
    sharena_id id;
    if (parse_id(o, &id) < 0 || sh_arena_ok(ar) < 0)
        return NULL;
    uint64_t ver;
    int r = sharena_change_count(ar->a, id, &ver);
    if (r < 0)
        return sh_raise(r, SH_W_NONE, NULL);
    PyObject *v = sh_view_new(ar, SH_K_REF, id);
    if (v)
        ((ViewObject *)v)->version = ver;
    return v;
}

/* _new(value): store value as a standalone object the caller owns; returns
 * its id. */
static PyObject *arena_new(ArenaObject *ar, PyObject *value)
{
    if (sh_arena_ok(ar) < 0)
        return NULL;
    if (PyObject_TypeCheck(value, &ShViewType)) {
        PyErr_SetString(PyExc_TypeError,
                        "new() stores plain values; this is already an object");
        return NULL;
    }
    sharena_id id;
    bool owned;
    if (sh_store(ar, value, &id, &owned) < 0)
        return NULL;
    return PyLong_FromUnsignedLongLong(id);
}

/* _shape(fields): fields is a sequence of (name, type, size[, flags]). */
static PyObject *arena_shape(ArenaObject *ar, PyObject *fields)
{
    PyObject *seq = PySequence_List(fields);
    if (!seq || sh_arena_ok(ar) < 0) {
        Py_XDECREF(seq);
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(seq);
    if (n < 1 || n > SHARENA_FIELDS_MAX) {
        Py_DECREF(seq);
        PyErr_Format(PyExc_ValueError, "a shape has 1..%d fields",
                     SHARENA_FIELDS_MAX);
        return NULL;
    }
    sharena_field_def *defs = PyMem_Calloc((size_t)n, sizeof *defs);
    if (!defs) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    PyObject *res = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *name;
        int type;
        unsigned long long size;
        unsigned int flags = 0;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(seq, i), "siK|I", &name, &type,
                              &size, &flags))
            goto out;
        defs[i].name = name;
        defs[i].type = type;
        defs[i].size = size;
        defs[i].flags = (sharena_field_flags)flags;
    }
    sharena_id id;
    int r;
    if (SH_UNLOCKED(ar, r = sharena_shape_new(ar->a, defs, (size_t)n, &id)) < 0)
        goto out;
    if (r < 0) {
        sh_raise(r, SH_W_NONE, NULL);
        goto out;
    }
    res = sh_view_new(ar, SH_K_SHAPE, id);
out:
    PyMem_Free(defs);
    Py_DECREF(seq);
    return res;
}

static PyObject *arena_info(ArenaObject *ar, PyObject *unused)
{
    (void)unused;
    if (sh_arena_ok(ar) < 0)
        return NULL;
    sharena_arena_info i;
    int r = sharena_arena_info_get(ar->a, &i);
    if (r < 0)
        return sh_raise(r, SH_W_NONE, NULL);
    return Py_BuildValue("{s:s,s:I,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:O}", "name",
                         i.name, "format_version", i.format_version,
                         "layout_hash", (unsigned long long)i.layout_hash,
                         "capacity", (unsigned long long)i.capacity,
                         "heap_bytes", (unsigned long long)i.heap_bytes,
                         "used_bytes", (unsigned long long)i.used_bytes,
                         "objects", (unsigned long long)i.objects, "created_ns",
                         (unsigned long long)i.created_ns, "changes",
                         (unsigned long long)i.changes, "readonly",
                         i.readonly ? Py_True : Py_False);
}

static void fsck_line(void *ctx, const char *problem)
{
    if (PyErr_Occurred())
        return; /* an earlier line failed: _fsck raises that */
    PyObject *l = ctx, *s = PyUnicode_DecodeUTF8(
                           problem, (Py_ssize_t)strlen(problem), "replace");
    if (s && PyList_Append(l, s) < 0) {
        /* (the error stays set: _fsck checks PyErr_Occurred) */
    }
    Py_XDECREF(s);
}

/* _fsck(repair): (ok, report dict, problems list). Runs with the GIL held
 * (the callback appends to a list); it is a maintenance call. */
static PyObject *arena_fsck(ArenaObject *ar, PyObject *args)
{
    int repair = 0;
    if (!PyArg_ParseTuple(args, "|p:_fsck", &repair) || sh_arena_ok(ar) < 0)
        return NULL;
    PyObject *problems = PyList_New(0);
    if (!problems)
        return NULL;
    sharena_fsck_report rep;
    memset(&rep, 0, sizeof rep);
    int r = sharena_fsck(ar->a, repair ? SHARENA_FSCK_REPAIR : 0, fsck_line,
                         problems, &rep);
    if (PyErr_Occurred()) {
        Py_DECREF(problems);
        return NULL;
    }
    if (r < 0 && r != SHARENA_ECORRUPT) {
        Py_DECREF(problems);
        return sh_raise(r, SH_W_NONE, NULL);
    }
    return Py_BuildValue("O{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K}N",
                         r == 0 ? Py_True : Py_False, "errors",
                         (unsigned long long)rep.errors, "repaired",
                         (unsigned long long)rep.repaired, "objects",
                         (unsigned long long)rep.objects, "blocks",
                         (unsigned long long)rep.blocks, "used_bytes",
                         (unsigned long long)rep.used_bytes, "free_bytes",
                         (unsigned long long)rep.free_bytes, "leaked_bytes",
                         (unsigned long long)rep.leaked_bytes, "locks_held",
                         (unsigned long long)rep.locks_held, "recovered",
                         (unsigned long long)rep.recovered, problems);
}

/* _save(path) -> (0, "", info) or (code, message, None): the Python layer
 * raises, with sharena_snapshot_message() in the text. */
static PyObject *arena_save(ArenaObject *ar, PyObject *args)
{
    PyObject *pathobj;
    if (!PyArg_ParseTuple(args, "O&:_save", PyUnicode_FSConverter, &pathobj))
        return NULL;
    if (sh_arena_ok(ar) < 0) {
        Py_DECREF(pathobj);
        return NULL;
    }
    const char *path = PyBytes_AS_STRING(pathobj);
    sharena_save_info si;
    char msg[256];
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = sharena_save(ar->a, path, &si);
    snprintf(msg, sizeof msg, "%s", r < 0 ? sharena_snapshot_message() : "");
    Py_END_ALLOW_THREADS
    Py_DECREF(pathobj);
    if (r < 0)
        return Py_BuildValue("isO", r, msg, Py_None);
    return Py_BuildValue("is{s:K,s:K,s:K}", 0, "", "bytes",
                         (unsigned long long)si.bytes, "image_bytes",
                         (unsigned long long)si.image_bytes, "barrier_ns",
                         (unsigned long long)si.barrier_ns);
}

static PyObject *arena_after_fork(ArenaObject *ar, PyObject *unused)
{
    (void)unused;
    /* threads that were inside a call, or held locks, did not come along
     * (the library forgets this thread's held locks itself: lock.c) */
    __atomic_store_n(&ar->users, 0, __ATOMIC_RELEASE);
    ar->locks_held = 0;
    Py_RETURN_NONE;
}

static PyObject *arena_get_closed(ArenaObject *ar, void *u)
{
    (void)u;
    return PyBool_FromLong(ar->a == NULL || ar->closing);
}
static PyObject *arena_get_name(ArenaObject *ar, void *u)
{
    (void)u;
    return Py_NewRef(ar->name);
}
static PyObject *arena_get_socket(ArenaObject *ar, void *u)
{
    (void)u;
    return Py_NewRef(ar->socket);
}
static PyObject *arena_get_readonly(ArenaObject *ar, void *u)
{
    (void)u;
    return PyBool_FromLong(ar->readonly);
}
static PyObject *arena_get_created(ArenaObject *ar, void *u)
{
    (void)u;
    return PyBool_FromLong(ar->origin.created);
}
static PyObject *arena_get_owner_uid(ArenaObject *ar, void *u)
{
    (void)u;
    return PyLong_FromUnsignedLong(ar->origin.uid);
}
static PyObject *arena_get_owner_gid(ArenaObject *ar, void *u)
{
    (void)u;
    return PyLong_FromUnsignedLong(ar->origin.gid);
}
static PyObject *arena_get_mode(ArenaObject *ar, void *u)
{
    (void)u;
    return PyLong_FromUnsignedLong(ar->origin.mode);
}
static PyObject *arena_get_qualified(ArenaObject *ar, void *u)
{
    (void)u;
    if (!ar->origin.name[0])
        Py_RETURN_NONE;
    return PyUnicode_FromString(ar->origin.name);
}
static PyObject *arena_get_brokered(ArenaObject *ar, void *u)
{
    (void)u;
    return PyBool_FromLong(ar->conn != NULL);
}
static PyObject *arena_get_conn(ArenaObject *ar, void *u)
{
    (void)u;
    return Py_NewRef(ar->conn ? ar->conn : Py_None);
}
static PyObject *arena_get_fd(ArenaObject *ar, void *u)
{
    (void)u;
    if (sh_arena_ok(ar) < 0)
        return NULL;
    return PyLong_FromLong(sharena_arena_fd(ar->a));
}

static PyMethodDef arena_methods[] = {
    {"close", (PyCFunction)arena_close, METH_NOARGS,
     "Unmap the arena; its views raise ClosedError from now on."},
    {"_wait", (PyCFunction)(void (*)(void))arena_wait,
     METH_VARARGS | METH_KEYWORDS, NULL},
    {"_notifier", (PyCFunction)sh_notifier_open, METH_NOARGS, NULL},
    {"_wait_set", (PyCFunction)sh_waitset_open, METH_NOARGS, NULL},
    {"_root_ensure", (PyCFunction)arena_root_ensure, METH_VARARGS, NULL},
    {"_root_id", (PyCFunction)arena_root_id, METH_O, NULL},
    {"_root_set", (PyCFunction)arena_root_set, METH_VARARGS, NULL},
    {"_root_remove", (PyCFunction)arena_root_remove, METH_O, NULL},
    {"_get", (PyCFunction)arena_get, METH_O, NULL},
    {"_view", (PyCFunction)arena_view, METH_O, NULL},
    {"_ref", (PyCFunction)arena_ref, METH_O, NULL},
    {"_new", (PyCFunction)arena_new, METH_O, NULL},
    {"_shape", (PyCFunction)arena_shape, METH_O, NULL},
    {"_info", (PyCFunction)arena_info, METH_NOARGS, NULL},
    {"_fsck", (PyCFunction)arena_fsck, METH_VARARGS, NULL},
    {"_save", (PyCFunction)arena_save, METH_VARARGS, NULL},
    {"_after_fork", (PyCFunction)arena_after_fork, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef arena_getset[] = {
    {"closed", (getter)arena_get_closed, NULL, "True once closed", NULL},
    {"name", (getter)arena_get_name, NULL, "the arena's name", NULL},
    {"socket", (getter)arena_get_socket, NULL, "broker socket or None", NULL},
    {"readonly", (getter)arena_get_readonly, NULL, "mapped read-only", NULL},
    {"brokered", (getter)arena_get_brokered, NULL, "opened via sharenad", NULL},
    {"created", (getter)arena_get_created, NULL,
     "this open created the arena (the broker said so)", NULL},
    {"owner_uid", (getter)arena_get_owner_uid, NULL, "the arena's owner", NULL},
    {"owner_gid", (getter)arena_get_owner_gid, NULL, "the arena's group", NULL},
    {"mode", (getter)arena_get_mode, NULL, "the arena's mode, like 0o600",
     NULL},
    {"qualified_name", (getter)arena_get_qualified, NULL,
     "'UID:name', which reaches it from any user (None: not via a broker)",
     NULL},
    {"_conn", (getter)arena_get_conn, NULL, NULL, NULL},
    {"fd", (getter)arena_get_fd, NULL, "the memfd (owned by the arena)", NULL},
    {"version", (getter)arena_version, NULL, "arena-wide change counter", NULL},
    {"_roots_id", (getter)arena_roots_id, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject ShArenaType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sharena._sharena.ArenaBase",
    .tp_basicsize = sizeof(ArenaObject),
    .tp_dealloc = (destructor)arena_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "A mapped arena (use sharena.open() or sharena.local()).",
    .tp_methods = arena_methods,
    .tp_getset = arena_getset,
    .tp_weaklistoffset = offsetof(ArenaObject, weakrefs),
};

/* ---- broker connections ---------------------------------------------------- */

static void conn_dealloc(ConnObject *c)
{
    if (c->weakrefs)
        PyObject_ClearWeakRefs((PyObject *)c);
    if (c->c) {
        sharena_conn *cc = c->c;
        c->c = NULL;
        Py_BEGIN_ALLOW_THREADS
        sharena_disconnect(cc);
        Py_END_ALLOW_THREADS
    }
    Py_XDECREF(c->path);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static PyObject *conn_open(ConnObject *c, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"name", "flags", "capacity", "mode", NULL};
    PyObject *name;
    unsigned int flags = 0, mode = 0;
    unsigned long long capacity = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "U|IKI:open", kwlist, &name,
                                     &flags, &capacity, &mode))
        return NULL;
    const char *n = PyUnicode_AsUTF8(name);
    if (!n)
        return NULL;
    sharena_open_opts o = {.capacity = capacity, .flags = flags, .mode = mode};
    sharena_arena *a = NULL;
    int r;
    char why[160] = "";
    Py_BEGIN_ALLOW_THREADS
    r = sharena_open(c->c, n, &o, &a);
    /* the broker's text, read on the thread that made the request */
    snprintf(why, sizeof why, "%s", sharena_broker_message());
    Py_END_ALLOW_THREADS
    if (r < 0 && why[0]) {
        /* (name, broker's explanation): whose it is, how to reach one */
        PyObject *detail = Py_BuildValue("(Os)", name, why);
        if (!detail)
            return NULL;
        sh_raise(r, SH_W_ARENA, detail);
        Py_DECREF(detail);
        return NULL;
    }
    if (r < 0)
        return sh_raise(r, SH_W_ARENA, name);
    return arena_wrap(a, (PyObject *)c, c->path);
}

static PyObject *conn_delete(ConnObject *c, PyObject *name)
{
    const char *n = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
    if (!n) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "arena names are str");
        return NULL;
    }
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = sharena_delete(c->c, n);
    Py_END_ALLOW_THREADS
    if (r < 0)
        return sh_raise(r, SH_W_ARENA, name);
    Py_RETURN_NONE;
}

/* load(path, name, mode) -> (code, message): create arena `name` from an
 * image (the Python layer raises, and opens it). */
static PyObject *conn_load(ConnObject *c, PyObject *args)
{
    PyObject *pathobj;
    const char *name;
    unsigned int mode = 0;
    if (!PyArg_ParseTuple(args, "O&s|I:load", PyUnicode_FSConverter, &pathobj,
                          &name, &mode))
        return NULL;
    const char *path = PyBytes_AS_STRING(pathobj);
    sharena_open_opts o = {.mode = mode};
    char msg[256];
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = sharena_load(c->c, path, name, &o, NULL);
    snprintf(msg, sizeof msg, "%s", r < 0 ? sharena_snapshot_message() : "");
    Py_END_ALLOW_THREADS
    Py_DECREF(pathobj);
    return Py_BuildValue("is", r, msg);
}

static PyObject *stat_dict(const sharena_arena_stat *s)
{
    return Py_BuildValue("{s:s,s:K,s:K,s:K,s:I,s:I,s:I,s:I,s:K}", "name",
                         s->name, "capacity", (unsigned long long)s->capacity,
                         "used_bytes", (unsigned long long)s->used_bytes,
                         "objects", (unsigned long long)s->objects, "clients",
                         s->clients, "uid", s->uid, "gid", s->gid, "mode",
                         s->mode, "created_ns",
                         (unsigned long long)s->created_ns);
}

static PyObject *conn_stat(ConnObject *c, PyObject *name)
{
    const char *n = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
    if (!n) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "arena names are str");
        return NULL;
    }
    sharena_arena_stat s;
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = sharena_stat(c->c, n, &s);
    Py_END_ALLOW_THREADS
    if (r < 0)
        return sh_raise(r, SH_W_ARENA, name);
    return stat_dict(&s);
}

static PyObject *conn_list(ConnObject *c, PyObject *unused)
{
    (void)unused;
    sharena_arena_stat *v = NULL;
    size_t n = 0;
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = sharena_list(c->c, &v, &n);
    Py_END_ALLOW_THREADS
    if (r < 0)
        return sh_raise(r, SH_W_NONE, NULL);
    PyObject *l = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; l && i < n; i++) {
        PyObject *d = stat_dict(&v[i]);
        if (!d) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, d);
    }
    free(v);
    return l;
}

static PyObject *conn_get_slot(ConnObject *c, void *u)
{
    (void)u;
    return PyLong_FromUnsignedLong(sharena_conn_slot(c->c));
}
static PyObject *conn_get_path(ConnObject *c, void *u)
{
    (void)u;
    return Py_NewRef(c->path);
}

static PyMethodDef conn_methods[] = {
    {"open", (PyCFunction)(void (*)(void))conn_open,
     METH_VARARGS | METH_KEYWORDS, NULL},
    {"delete", (PyCFunction)conn_delete, METH_O, NULL},
    {"load", (PyCFunction)conn_load, METH_VARARGS, NULL},
    {"stat", (PyCFunction)conn_stat, METH_O, NULL},
    {"list", (PyCFunction)conn_list, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};
static PyGetSetDef conn_getset[] = {
    {"slot", (getter)conn_get_slot, NULL, NULL, NULL},
    {"path", (getter)conn_get_path, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject ShConnType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sharena._sharena.Connection",
    .tp_basicsize = sizeof(ConnObject),
    .tp_dealloc = (destructor)conn_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A connection to sharenad.",
    .tp_methods = conn_methods,
    .tp_getset = conn_getset,
    .tp_weaklistoffset = offsetof(ConnObject, weakrefs),
};

/* ---- module functions ---------------------------------------------------------- */

static PyObject *mod_connect(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *path = Py_None;
    if (!PyArg_ParseTuple(args, "|O:connect", &path))
        return NULL;
    const char *p = NULL;
    if (path != Py_None) {
        PyObject *fs;
        if (!PyUnicode_FSConverter(path, &fs))
            return NULL;
        path = PyUnicode_DecodeFSDefault(PyBytes_AS_STRING(fs));
        Py_DECREF(fs);
        if (!path)
            return NULL;
        p = PyUnicode_AsUTF8(path);
        if (!p) {
            Py_DECREF(path);
            return NULL;
        }
    } else {
        Py_INCREF(path);
    }
    sharena_conn *c = NULL;
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = sharena_connect(p, &c);
    Py_END_ALLOW_THREADS
    if (r < 0) {
        sh_raise(r, SH_W_NONE, path);
        Py_DECREF(path);
        return NULL;
    }
    ConnObject *co = PyObject_New(ConnObject, &ShConnType);
    if (!co) {
        sharena_disconnect(c);
        Py_DECREF(path);
        return NULL;
    }
    co->c = c;
    co->path = path;
    co->weakrefs = NULL;
    return (PyObject *)co;
}

static PyObject *mod_create_local(PyObject *self, PyObject *args)
{
    (void)self;
    const char *name;
    unsigned long long cap = 0;
    if (!PyArg_ParseTuple(args, "s|K:create_local", &name, &cap))
        return NULL;
    sharena_arena *a;
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = sharena_arena_create(name, cap, &a);
    Py_END_ALLOW_THREADS
    if (r < 0)
        return sh_raise(r, SH_W_NONE, NULL);
    return arena_wrap(a, NULL, NULL);
}

static PyObject *mod_from_fd(PyObject *self, PyObject *args)
{
    (void)self;
    int fd, ro = 0;
    if (!PyArg_ParseTuple(args, "i|p:from_fd", &fd, &ro))
        return NULL;
    sharena_arena *a;
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = sharena_arena_from_fd(fd, ro ? SHARENA_READONLY : 0, &a);
    Py_END_ALLOW_THREADS
    if (r < 0)
        return sh_raise(r, SH_W_NONE, NULL);
    return arena_wrap(a, NULL, NULL);
}

static PyObject *mod_register(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"arena",  "map",   "vector", "bytes",
                             "struct", "shape", "ref",    NULL};
    PyTypeObject *t[7] = {0};
    if (!PyArg_ParseTupleAndKeywords(
            args, kw, "|O!O!O!O!O!O!O!:_register", kwlist, &PyType_Type, &t[0],
            &PyType_Type, &t[1], &PyType_Type, &t[2], &PyType_Type, &t[3],
            &PyType_Type, &t[4], &PyType_Type, &t[5], &PyType_Type, &t[6]))
        return NULL;
    PyTypeObject *bases[7] = {&ShArenaType, &ShMapType,    &ShVectorType,
                              &ShBytesType, &ShStructType, &ShShapeType,
                              &ShRefType};
    for (int i = 0; i < 7; i++) {
        if (t[i] && !PyType_IsSubtype(t[i], bases[i])) {
            PyErr_Format(PyExc_TypeError, "%s must subclass %s", kwlist[i],
                         bases[i]->tp_name);
            return NULL;
        }
    }
    if (t[0]) {
        Py_INCREF(t[0]);
        arena_class = t[0];
    }
    static const sh_kind kinds[] = {SH_K_MAP,    SH_K_VECTOR, SH_K_BYTES,
                                    SH_K_STRUCT, SH_K_SHAPE,  SH_K_REF};
    for (int i = 1; i < 7; i++) {
        if (t[i]) {
            Py_INCREF(t[i]);
            sh_classes[kinds[i - 1]] = t[i];
        }
    }
    Py_RETURN_NONE;
}

static PyObject *mod_strerror(PyObject *self, PyObject *arg)
{
    (void)self;
    long c = PyLong_AsLong(arg);
    if (c == -1 && PyErr_Occurred())
        return NULL;
    return PyUnicode_FromString(sharena_strerror((int)c));
}

static PyObject *mod_strerror_hint(PyObject *self, PyObject *arg)
{
    (void)self;
    long c = PyLong_AsLong(arg);
    if (c == -1 && PyErr_Occurred())
        return NULL;
    return PyUnicode_FromString(sharena_strerror_hint((int)c));
}

static PyObject *mod_default_socket(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    char buf[256];
    int r = sharena_default_socket(buf, sizeof buf);
    if (r < 0)
        return sh_raise(r, SH_W_NONE, NULL);
    return PyUnicode_DecodeFSDefault(buf);
}

static PyObject *mod_layout_hash(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyLong_FromUnsignedLongLong(sharena_layout_hash());
}

static PyMethodDef module_methods[] = {
    {"connect", mod_connect, METH_VARARGS,
     "connect(path=None) -> Connection to sharenad"},
    {"create_local", mod_create_local, METH_VARARGS,
     "create_local(name, capacity=0) -> arena made in this process"},
    {"from_fd", mod_from_fd, METH_VARARGS,
     "from_fd(fd, readonly=False) -> arena mapped from a sealed memfd"},
    {"_register", (PyCFunction)(void (*)(void))mod_register,
     METH_VARARGS | METH_KEYWORDS, NULL},
    {"_set_error_factory", sh_set_error_factory, METH_O, NULL},
    {"strerror", mod_strerror, METH_O, "message for a sharena error code"},
    {"strerror_hint", mod_strerror_hint, METH_O,
     "what to do about a sharena error code (the library's hint)"},
    {"default_socket", mod_default_socket, METH_NOARGS,
     "the broker socket path used when none is given"},
    {"layout_hash", mod_layout_hash, METH_NOARGS,
     "the arena layout hash of this build"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "sharena._sharena",
    "C core of the sharena package (use the sharena module).",
    -1,
    module_methods,
};

PyMODINIT_FUNC PyInit__sharena(void)
{
    PyObject *m = PyModule_Create(&module_def);
    if (!m)
        return NULL;
    if (PyType_Ready(&ShArenaType) < 0 || PyType_Ready(&ShConnType) < 0 ||
        sh_errors_init(m) < 0 || sh_views_init(m) < 0 ||
        sh_convert_init(m) < 0 || sh_notifier_init(m) < 0)
        goto fail;
    Py_INCREF(&ShArenaType);
    if (PyModule_AddObject(m, "ArenaBase", (PyObject *)&ShArenaType) < 0)
        goto fail;
    Py_INCREF(&ShConnType);
    if (PyModule_AddObject(m, "Connection", (PyObject *)&ShConnType) < 0)
        goto fail;
    struct {
        const char *n;
        long v;
    } consts[] = {
        {"T_STRING", SHARENA_T_STRING},
        {"T_NUMBER", SHARENA_T_NUMBER},
        {"T_BOOL", SHARENA_T_BOOL},
        {"T_MAP", SHARENA_T_MAP},
        {"T_VECTOR", SHARENA_T_VECTOR},
        {"T_STRUCT", SHARENA_T_STRUCT},
        {"T_BYTES", SHARENA_T_BYTES},
        {"T_SHAPE", SHARENA_T_SHAPE},
        {"T_NULL", SHARENA_T_NULL},
        {"FIELD_NULLABLE", SHARENA_FIELD_NULLABLE},
        {"CREATE", SHARENA_CREATE},
        {"EXCL", SHARENA_EXCL},
        {"READONLY", SHARENA_READONLY},
        {"DEFAULT_CAPACITY", (long)SHARENA_DEFAULT_CAPACITY},
        {"MIN_CAPACITY", (long)SHARENA_MIN_CAPACITY},
        {"MAX_CAPACITY", (long)SHARENA_MAX_CAPACITY},
        {"ID_MAX", (long)SHARENA_ID_MAX},
        {"FIELD_NAME_MAX", SHARENA_FIELD_NAME_MAX},
        {"FIELDS_MAX", SHARENA_FIELDS_MAX},
    };
    for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++)
        if (PyModule_AddIntConstant(m, consts[i].n, consts[i].v) < 0)
            goto fail;
    /* the release of the library compiled into this module */
    if (PyModule_AddStringConstant(m, "LIBRARY_VERSION",
                                   sharena_library_version()) < 0)
        goto fail;
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
