/* notifier.c: the Notifier type, a thin wrapper over sharena_notifier (a
 * file descriptor that turns readable when anything in the arena changes)
 * for asyncio's loop.add_reader(); and Ref._poll(), the non-blocking half
 * of wait() that the asyncio layer calls when the fd fires.
 *
 * A Notifier does not keep its arena alive: closing (or collecting) the
 * arena orphans it in the C library, its fd turns readable and arm()
 * raises ClosedError. arm() and close() belong to the thread that runs the
 * event loop. */
#include "_sharena.h"

int sh_timeout_ns(PyObject *timeout, int64_t *out); /* arena.c */

typedef struct {
    PyObject_HEAD sharena_notifier *n;
    uint32_t seen; /* arena version the caller has looked at */
} NotifierObject;

static PyTypeObject ShNotifierType;

static void notifier_dealloc(NotifierObject *self)
{
    sharena_notifier_close(self->n);
    self->n = NULL;
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ArenaBase._notifier() -> Notifier; raises the library's error
 * (ENOSYS: no io_uring futex wait here; EROFS: read-only arena). */
PyObject *sh_notifier_open(ArenaObject *ar, PyObject *unused)
{
    (void)unused;
    if (sh_arena_ok(ar) < 0)
        return NULL;
    NotifierObject *self = PyObject_New(NotifierObject, &ShNotifierType);
    if (!self)
        return NULL;
    self->n = NULL;
    uint64_t v = 0;
    sharena_arena_version(ar->a, &v);
    self->seen = (uint32_t)v;
    int r = sharena_notifier_open(ar->a, &self->n);
    if (r < 0) {
        Py_DECREF(self);
        return sh_raise(r, SH_W_NONE, NULL);
    }
    return (PyObject *)self;
}

static PyObject *notifier_fileno(NotifierObject *self, PyObject *unused)
{
    (void)unused;
    if (!self->n)
        return sh_raise_closed();
    return PyLong_FromLong(sharena_notifier_fd(self->n));
}

/* arm() -> True when the arena changed since the last call (look, then
 * call again), False when armed (wait for the fd). */
static PyObject *notifier_arm(NotifierObject *self, PyObject *unused)
{
    (void)unused;
    if (!self->n)
        return sh_raise_closed();
    int r = sharena_notifier_arm(self->n, &self->seen);
    if (r == SHARENA_ECLOSED)
        return sh_raise_closed();
    if (r < 0)
        return sh_raise(r, SH_W_NONE, NULL);
    return PyBool_FromLong(r);
}

static PyObject *notifier_close(NotifierObject *self, PyObject *unused)
{
    (void)unused;
    sharena_notifier_close(self->n);
    self->n = NULL;
    Py_RETURN_NONE;
}

static PyMethodDef notifier_methods[] = {
    {"fileno", (PyCFunction)notifier_fileno, METH_NOARGS,
     "the eventfd to watch for reading"},
    {"arm", (PyCFunction)notifier_arm, METH_NOARGS,
     "arm() -> bool: True if the arena changed since the last call, else "
     "False once a wait is queued (the fd turns readable at a change)"},
    {"close", (PyCFunction)notifier_close, METH_NOARGS,
     "cancel the wait and release the fds"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ShNotifierType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sharena._sharena.Notifier",
    .tp_basicsize = sizeof(NotifierObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A pollable change notification on one arena (io_uring "
              "futex wait + eventfd; Linux 6.7+).",
    .tp_dealloc = (destructor)notifier_dealloc,
    .tp_methods = notifier_methods,
};

/* Ref._poll() -> new version, or None: the object's version differs from
 * the one last seen (and is not mid-write); like wait(timeout=0) without
 * the exception. Raises StaleRefError when the object was dropped. */
PyObject *sh_ref_poll(ViewObject *v, PyObject *unused)
{
    (void)unused;
    ArenaObject *ar = v->arena;
    if (sh_arena_ok(ar) < 0)
        return NULL;
    uint64_t ver;
    int r = sharena_change_count(ar->a, v->id, &ver);
    if (r < 0)
        return sh_raise(r, SH_W_NONE, NULL);
    if ((ver & 1) || ver == v->version)
        Py_RETURN_NONE;
    v->version = ver;
    return PyLong_FromUnsignedLongLong(ver);
}

/* ---- WaitSet ------------------------------------------------------------ */

/* A wait set: a mapping of its own of an arena's memfd, to wait on from a
 * helper thread and cancel from another (sharena_arena_cancel_waits()):
 * the thread fallback of Ref.changed() waits here, so that cancelling the
 * awaiting task ends its thread at once instead of within a polling slice.
 * All fields are used under the GIL; only sharena_wait() runs without it,
 * counted in `busy` so that close() never unmaps under a wait. */
typedef struct {
    PyObject_HEAD sharena_arena *a; /* NULL once closed */
    int busy;                       /* waits running without the GIL */
    bool closing;
    PyObject *weakrefs; /* Arena.close() finds its sets in a WeakSet */
} WaitSetObject;

static PyTypeObject ShWaitSetType;

static void waitset_close_now(WaitSetObject *self)
{
    self->closing = true;
    if (!self->a)
        return;
    /* wakes a wait in progress; those to come return ECLOSED at once */
    (void)sharena_arena_cancel_waits(self->a);
    if (self->busy == 0) {
        sharena_arena_close(self->a); /* a local handle: no broker trip */
        self->a = NULL;
    } /* else: the last wait to return closes it */
}

static void waitset_dealloc(WaitSetObject *self)
{
    if (self->weakrefs)
        PyObject_ClearWeakRefs((PyObject *)self);
    waitset_close_now(self); /* busy is 0: a wait holds a reference */
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ArenaBase._wait_set() -> WaitSet: a second mapping of the arena (read
 * only when the arena is), whose waits can be cancelled apart. */
PyObject *sh_waitset_open(ArenaObject *ar, PyObject *unused)
{
    (void)unused;
    if (sh_arena_ok(ar) < 0)
        return NULL;
    WaitSetObject *self = PyObject_New(WaitSetObject, &ShWaitSetType);
    if (!self)
        return NULL;
    self->a = NULL;
    self->busy = 0;
    self->closing = false;
    self->weakrefs = NULL;
    int r = sharena_arena_from_fd(
        sharena_arena_fd(ar->a), ar->readonly ? SHARENA_READONLY : 0, &self->a);
    if (r < 0) {
        Py_DECREF(self);
        return sh_raise(r, SH_W_NONE, NULL);
    }
    return (PyObject *)self;
}

/* wait(ref, timeout) -> the new version (also stored as the version the
 * Ref last saw), or None when the set was cancelled. Raises like
 * Ref.wait(): TimedOutError, StaleRefError. Meant for a helper thread: no
 * slices, so a signal does not end it; cancel() does. */
static PyObject *waitset_wait(WaitSetObject *self, PyObject *args)
{
    PyObject *ref, *timeout = Py_None;
    if (!PyArg_ParseTuple(args, "O!|O:wait", &ShRefType, &ref, &timeout))
        return NULL;
    int64_t t;
    if (sh_timeout_ns(timeout, &t) < 0)
        return NULL;
    if (self->closing || !self->a)
        Py_RETURN_NONE;
    ViewObject *v = (ViewObject *)ref;
    sharena_arena *a = self->a;
    sharena_id id = v->id;
    uint64_t last = v->version, ver = 0;
    int r;
    self->busy++;
    Py_INCREF(self);
    Py_BEGIN_ALLOW_THREADS
    r = sharena_wait(a, id, last, t, &ver);
    Py_END_ALLOW_THREADS
    self->busy--;
    if (self->closing && self->busy == 0 && self->a) {
        sharena_arena_close(self->a);
        self->a = NULL;
    }
    Py_DECREF(self);
    if (r == SHARENA_ECLOSED)
        Py_RETURN_NONE;
    if (r < 0)
        return sh_raise(r, SH_W_NONE, NULL);
    v->version = ver;
    return PyLong_FromUnsignedLongLong(ver);
}

static PyObject *waitset_cancel(WaitSetObject *self, PyObject *unused)
{
    (void)unused;
    waitset_close_now(self);
    Py_RETURN_NONE;
}

static PyMethodDef waitset_methods[] = {
    {"wait", (PyCFunction)waitset_wait, METH_VARARGS,
     "wait(ref, timeout=None) -> new version, or None once cancelled"},
    {"cancel", (PyCFunction)waitset_cancel, METH_NOARGS,
     "end the wait in progress (it returns None) and every later one, and "
     "unmap the set once no wait uses it; any thread, idempotent"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ShWaitSetType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sharena._sharena.WaitSet",
    .tp_basicsize = sizeof(WaitSetObject),
    .tp_weaklistoffset = offsetof(WaitSetObject, weakrefs),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Waits on an arena that another thread can cancel at once "
              "(sharena_arena_cancel_waits on a mapping of their own).",
    .tp_dealloc = (destructor)waitset_dealloc,
    .tp_methods = waitset_methods,
};

int sh_notifier_init(PyObject *m)
{
    if (PyType_Ready(&ShNotifierType) < 0 || PyType_Ready(&ShWaitSetType) < 0)
        return -1;
    Py_INCREF(&ShNotifierType);
    if (PyModule_AddObject(m, "Notifier", (PyObject *)&ShNotifierType) < 0) {
        Py_DECREF(&ShNotifierType);
        return -1;
    }
    Py_INCREF(&ShWaitSetType);
    if (PyModule_AddObject(m, "WaitSet", (PyObject *)&ShWaitSetType) < 0) {
        Py_DECREF(&ShWaitSetType);
        return -1;
    }
    return 0;
}
