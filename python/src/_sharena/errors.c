/* errors.c: sharena error codes -> Python exceptions.
 *
 * The table itself lives in one place, sharena/errors.py: it registers a
 * factory with _set_error_factory(), and every error raised here goes
 * through it. This file only exports the codes (from the C X-macro table)
 * and calls the factory. */
#include "_sharena.h"

static PyObject *factory; /* callable(code, what, detail) -> exception */

static const char *const what_names[] = {
    [SH_W_NONE] = NULL,     [SH_W_KEY] = "key",     [SH_W_ROOT] = "root",
    [SH_W_ARENA] = "arena", [SH_W_INDEX] = "index", [SH_W_ADD] = "add",
    [SH_W_ENTRY] = "entry", [SH_W_LOCKS] = "locks",
};

PyObject *sh_raise(int code, sh_what what, PyObject *detail)
{
    if (code == SHARENA_ENOMEM)
        return PyErr_NoMemory();
    if (!factory) {
        PyErr_Format(PyExc_RuntimeError, "sharena error %d: %s", code,
                     sharena_strerror(code));
        return NULL;
    }
    const char *w = what_names[what];
    PyObject *exc = PyObject_CallFunction(factory, "isO", code, w,
                                          detail ? detail : Py_None);
    if (!exc)
        return NULL;
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return NULL;
}

PyObject *sh_raise_closed(void)
{
    return sh_raise(SHARENA_ECLOSED, SH_W_NONE, NULL);
}

PyObject *sh_set_error_factory(PyObject *self, PyObject *f)
{
    (void)self;
    if (!PyCallable_Check(f)) {
        PyErr_SetString(PyExc_TypeError, "error factory must be callable");
        return NULL;
    }
    Py_XSETREF(factory, Py_NewRef(f));
    Py_RETURN_NONE;
}

int sh_errors_init(PyObject *m)
{
    PyObject *names = PyDict_New(), *msgs = PyDict_New();
    if (!names || !msgs)
        goto fail;
#define SH_ERR_ADD(name, value, msg)                                           \
    {                                                                          \
        PyObject *k = PyLong_FromLong(value);                                  \
        PyObject *n = PyUnicode_FromString(#name);                             \
        PyObject *s = PyUnicode_FromString(msg);                               \
        int bad = !k || !n || !s || PyDict_SetItem(names, k, n) < 0 ||         \
                  PyDict_SetItem(msgs, k, s) < 0 ||                            \
                  PyModule_AddIntConstant(m, #name, value) < 0;                \
        Py_XDECREF(k);                                                         \
        Py_XDECREF(n);                                                         \
        Py_XDECREF(s);                                                         \
        if (bad)                                                               \
            goto fail;                                                         \
    }
    SHARENA_ERRNO_MAP(SH_ERR_ADD)
#undef SH_ERR_ADD
    if (PyModule_AddObject(m, "errnames", names) < 0)
        goto fail;
    names = NULL;
    if (PyModule_AddObject(m, "errmessages", msgs) < 0)
        goto fail;
    return 0;
fail:
    Py_XDECREF(names);
    Py_XDECREF(msgs);
    return -1;
}
