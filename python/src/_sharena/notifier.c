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

typedef struct {
    PyObject_HEAD
    sharena_notifier *n;
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

int sh_notifier_init(PyObject *m)
{
    if (PyType_Ready(&ShNotifierType) < 0)
        return -1;
    Py_INCREF(&ShNotifierType);
    if (PyModule_AddObject(m, "Notifier", (PyObject *)&ShNotifierType) < 0) {
        Py_DECREF(&ShNotifierType);
        return -1;
    }
    return 0;
}
