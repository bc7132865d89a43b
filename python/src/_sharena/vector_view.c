/* vector_view.c: Vector, a live view of a sharena vector. Floats and ints
 * are stored in the items themselves (sharena_vector_*_number); reads take
 * values without asking for ids, which would make numbers objects. */
#include "_sharena.h"


static int vec_len(ArenaObject *ar, sharena_id id, Py_ssize_t *n)
{
    uint64_t len;
    int r = sharena_vector_len(ar->a, id, &len);
    if (r == 0 && len > (uint64_t)PY_SSIZE_T_MAX)
        r = SHARENA_ECORRUPT; /* never -1 without an exception */
    if (r < 0) {
        sh_raise(r, SH_W_NONE, NULL);
        return -1;
    }
    *n = (Py_ssize_t)len;
    return 0;
}

static Py_ssize_t vector_len(ViewObject *v)
{
    Py_ssize_t n;
    if (sh_arena_ok(v->arena) < 0 || vec_len(v->arena, v->id, &n) < 0)
        return -1;
    return n;
}

static PyObject *index_error(Py_ssize_t i)
{
    PyObject *d = PyLong_FromSsize_t(i);
    sh_raise(SHARENA_ERANGE, SH_W_INDEX, d);
    Py_XDECREF(d);
    return NULL;
}

/* Element @p i (>= 0); IndexError past the end. One read through lib/: a
 * value replaced between the lookup and the read is looked up again. */
static PyObject *item_at(ArenaObject *ar, sharena_id vec, Py_ssize_t i)
{
    int r;
    PyObject *o = sh_read(ar, SH_READ_INDEX, vec, NULL, 0, (uint64_t)i, &r);
    if (o || !r)
        return o;
    if (r == SHARENA_ERANGE)
        return index_error(i);
    return sh_raise(r, SH_W_NONE, NULL);
}

/* Normalise a possibly negative index (list semantics). */
static int norm_index(ViewObject *v, PyObject *key, Py_ssize_t *out)
{
    Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
    if (i == -1 && PyErr_Occurred())
        return -1;
    if (i < 0) {
        Py_ssize_t n;
        if (vec_len(v->arena, v->id, &n) < 0)
            return -1;
        if (i + n < 0) {
            index_error(i);
            return -1;
        }
        i += n;
    }
    *out = i;
    return 0;
}

static PyObject *vector_subscript(ViewObject *v, PyObject *key)
{
    ArenaObject *ar = v->arena;
    if (sh_arena_ok(ar) < 0)
        return NULL;
    if (PyIndex_Check(key)) {
        Py_ssize_t i;
        if (norm_index(v, key, &i) < 0)
            return NULL;
        return item_at(ar, v->id, i);
    }
    if (!PySlice_Check(key)) {
        PyErr_Format(PyExc_TypeError,
                     "sharena vector: list indices must be integers or slices, "
                     "not %.100s",
                     Py_TYPE(key)->tp_name);
        return NULL;
    }
    Py_ssize_t start, stop, step, n;
    if (PySlice_Unpack(key, &start, &stop, &step) < 0 ||
        vec_len(ar, v->id, &n) < 0)
        return NULL;
    Py_ssize_t count = PySlice_AdjustIndices(n, &start, &stop, step);
    PyObject *l = PyList_New(0);
    for (Py_ssize_t k = 0; l && k < count; k++) {
        /* not i += step: past the last index that overflows (v[::maxsize]) */
        PyObject *o = item_at(ar, v->id, start + k * step);
        if (!o && PyErr_ExceptionMatches(PyExc_IndexError)) {
            PyErr_Clear(); /* shrunk meanwhile */
            break;
        }
        if (!o || PyList_Append(l, o) < 0)
            Py_CLEAR(l);
        Py_XDECREF(o);
    }
    return l;
}

/* Store @p o and run @p op with it; drops what was made if @p op fails.
 * Called with the arena entered (a user). */
typedef enum { V_SET, V_INSERT, V_PUSH } vec_op;

/* A float or int goes into the item itself (no object). */
static int vec_put_number(ViewObject *v, vec_op op, Py_ssize_t i, double d)
{
    ArenaObject *ar = v->arena;
    int r;
    Py_BEGIN_ALLOW_THREADS
    switch (op) {
    case V_SET:
        r = sharena_vector_set_number(ar->a, v->id, (uint64_t)i, d);
        break;
    case V_INSERT:
        r = sharena_vector_insert_number(ar->a, v->id, (uint64_t)i, d);
        break;
    default:
        r = sharena_vector_push_number(ar->a, v->id, d);
        break;
    }
    Py_END_ALLOW_THREADS
    if (r == SHARENA_ERANGE)
        index_error(i);
    else if (r < 0)
        sh_raise(r, SH_W_NONE, NULL);
    return r < 0 ? -1 : 0;
}

static int vec_put(ViewObject *v, vec_op op, Py_ssize_t i, PyObject *o)
{
    ArenaObject *ar = v->arena;
    if (PyFloat_Check(o) || (PyLong_Check(o) && !PyBool_Check(o))) {
        double d;
        if (sh_as_double(o, &d) < 0)
            return -1;
        return vec_put_number(v, op, i, d);
    }
    sharena_id id;
    bool owned;
    if (sh_check_not_self(v, o) < 0 || sh_store(ar, o, &id, &owned) < 0)
        return -1;
    unsigned fl = owned ? SHARENA_OWNED : 0;
    int r;
    Py_BEGIN_ALLOW_THREADS
    switch (op) {
    case V_SET:
        r = sharena_vector_set(ar->a, v->id, (uint64_t)i, id, fl, NULL);
        break;
    case V_INSERT:
        r = sharena_vector_insert(ar->a, v->id, (uint64_t)i, id, fl);
        break;
    default:
        r = sharena_vector_push(ar->a, v->id, id, fl);
        break;
    }
    Py_END_ALLOW_THREADS
    if (r < 0) {
        if (r == SHARENA_ERANGE)
            index_error(i);
        else
            sh_raise(r, SH_W_NONE, NULL);
        if (owned)
            sh_discard(ar, id);
        return -1;
    }
    return 0;
}

static int vec_remove(ArenaObject *ar, sharena_id vec, Py_ssize_t i)
{
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = sharena_vector_remove(ar->a, vec, (uint64_t)i, NULL);
    Py_END_ALLOW_THREADS
    if (r == SHARENA_ERANGE) {
        index_error(i);
        return -1;
    }
    if (r < 0) {
        sh_raise(r, SH_W_NONE, NULL);
        return -1;
    }
    return 0;
}

/* The values of iterable @p o as a new list (a snapshot, so v.extend(v)
 * works), taken as list.extend takes them: a __length_hint__ is not
 * trusted to size anything. */
static PyObject *items_of(PyObject *o)
{
    if (PyList_CheckExact(o) || PyTuple_CheckExact(o))
        return PySequence_List(o);
    PyObject *it = PyObject_GetIter(o);
    if (!it)
        return NULL;
    PyObject *l = PyList_New(0), *x;
    while (l && (x = PyIter_Next(it))) {
        if (PyList_Append(l, x) < 0)
            Py_CLEAR(l);
        Py_DECREF(x);
    }
    Py_DECREF(it);
    if (l && PyErr_Occurred())
        Py_CLEAR(l);
    return l;
}

/* Add every value of list @p items to builder @p b. */
static int build_items(ViewObject *v, sharena_builder *b, PyObject *items)
{
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(items); k++)
        if (sh_check_not_self(v, PyList_GET_ITEM(items, k)) < 0 ||
            sh_build_item(v->arena, b, NULL, PyList_GET_ITEM(items, k)) < 0)
            return -1;
    return 0;
}

/* Slice assignment and deletion, under the vector's lock. */
static int vector_ass_slice(ViewObject *v, PyObject *key, PyObject *o)
{
    ArenaObject *ar = v->arena;
    PyObject *items = NULL;
    if (o) {
        /* any iterable, str and bytes included, as list takes it */
        if (!(items = items_of(o)))
            return -1;
    }
    Py_ssize_t start, stop, step, n;
    if (PySlice_Unpack(key, &start, &stop, &step) < 0) {
        Py_XDECREF(items);
        return -1;
    }
    /* A contiguous assignment builds every new value first (detached),
     * then replaces the range in one step: a value that cannot be stored
     * changes nothing. */
    sharena_builder *b = NULL;
    if (items && step == 1 &&
        (sh_build_begin(ar, &b) < 0 || build_items(v, b, items) < 0)) {
        if (b)
            sh_build_abort(ar, b);
        Py_DECREF(items);
        return -1;
    }
    /* An extended slice's values are built first too, into a detached
     * vector they are then moved out of (setting an element allocates
     * nothing, so the sets cannot run out of room half-way). */
    sharena_id tmp = 0;
    if (items && step != 1) {
        bool owned;
        PyObject *t = PyList_AsTuple(items);
        int bad = !t || sh_store(ar, t, &tmp, &owned) < 0;
        Py_XDECREF(t);
        if (bad) {
            Py_DECREF(items);
            return -1;
        }
    }
    bool took;
    if (sh_lock_op(ar, v->id, &took) < 0) {
        if (b)
            sh_build_abort(ar, b);
        if (tmp)
            sh_discard(ar, tmp);
        Py_XDECREF(items);
        return -1;
    }
    int rc = -1;
    if (vec_len(ar, v->id, &n) < 0)
        goto out;
    Py_ssize_t count = PySlice_AdjustIndices(n, &start, &stop, step);
    /* every element the slice frees, checked before any is touched (a
     * contiguous assignment replaces [start, stop), whatever its length) */
    bool contiguous = step == 1 && items;
    Py_ssize_t nfreed = contiguous ? stop - start : count;
    for (Py_ssize_t k = 0; k < nfreed; k++)
        if (sh_check_free_index(
                ar, v->id, (uint64_t)(start + k * (contiguous ? 1 : step))) < 0)
            goto out;
    if (step == 1 && items) {
        int r;
        uint64_t cnt = stop > start ? (uint64_t)(stop - start) : 0;
        Py_BEGIN_ALLOW_THREADS
        r = sharena_build_vector_splice(b, v->id, (uint64_t)start, cnt);
        Py_END_ALLOW_THREADS
        b = NULL;     /* freed by the splice, whatever its result */
        sh_leave(ar); /* the build's user */
        if (r < 0) {
            sh_raise(r, SH_W_NONE, NULL);
            goto out;
        }
    } else if (items) {
        if (PyList_GET_SIZE(items) != count) {
            PyErr_Format(PyExc_ValueError,
                         "attempt to assign sequence of size %zd to extended "
                         "slice of size %zd",
                         PyList_GET_SIZE(items), count);
            goto out;
        }
        int r = 0;
        Py_BEGIN_ALLOW_THREADS
        /* from the end: each element leaves tmp (pop hands it over, not
         * dropped) as it goes into v, owned as tmp held it */
        for (Py_ssize_t k = count; r == 0 && k-- > 0;) {
            sharena_id e;
            bool owned;
            sharena_value val = {0};
            uint64_t at = (uint64_t)(start + k * step);
            /* a number stored in tmp's item moves as a number (asking for
             * its id would make it an object) */
            int rv = sharena_vector_get_value(ar->a, tmp, (uint64_t)k, NULL, 0,
                                              &val);
            if (rv == 0 && val.type == SHARENA_T_NUMBER && val.id == 0) {
                r = sharena_vector_set_number(ar->a, v->id, at, val.number);
            } else {
                r = sharena_vector_get(ar->a, tmp, (uint64_t)k, &e, &owned);
                if (r == 0)
                    r = sharena_vector_set(ar->a, v->id, at, e,
                                           owned ? SHARENA_OWNED : 0, NULL);
            }
            if (r == 0)
                r = sharena_vector_pop(ar->a, tmp, NULL);
        }
        Py_END_ALLOW_THREADS
        if (r < 0) {
            sh_raise(r, SH_W_NONE, NULL);
            goto out;
        }
    } else {
        /* delete from the highest index down so the others stay put */
        Py_ssize_t first = start, last = start + (count - 1) * step;
        if (step < 0) {
            Py_ssize_t t = first;
            first = last;
            last = t;
            step = -step;
        }
        for (Py_ssize_t k = 0, i = last; k < count; k++, i -= step)
            if (vec_remove(ar, v->id, i) < 0)
                goto out;
        (void)first;
    }
    rc = 0;
out:
    sh_unlock_op(ar, v->id, took);
    if (b)
        sh_build_abort(ar, b);
    if (tmp)
        sh_discard(ar, tmp); /* what was not moved: all of it after a
                              * size mismatch */
    Py_XDECREF(items);
    return rc;
}

/* extend(iterable): every value is built first, then all are appended in
 * one step; a value that cannot be stored (or a full arena) appends
 * nothing. */
static PyObject *vector_extend(ViewObject *v, PyObject *arg)
{
    ArenaObject *ar = v->arena;
    if (sh_arena_ok(ar) < 0)
        return NULL;
    PyObject *items = items_of(arg); /* a snapshot (v.extend(v)) */
    if (!items)
        return NULL;
    sharena_builder *b;
    if (sh_build_begin(ar, &b) < 0) {
        Py_DECREF(items);
        return NULL;
    }
    if (build_items(v, b, items) < 0) {
        sh_build_abort(ar, b);
        Py_DECREF(items);
        return NULL;
    }
    Py_DECREF(items);
    int r = 1; /* 1: the splice did not run (the lock was not taken) */
    if (SH_WRITE(ar, v->id,
                 r = sharena_build_vector_splice(b, v->id, SHARENA_BUILD_END,
                                                 0)) < 0 &&
        r == 1) {
        sh_build_abort(ar, b);
        return NULL;
    }
    sh_leave(ar); /* the build's user (b is freed) */
    if (r < 0)
        return sh_raise(r, SH_W_NONE, NULL);
    Py_RETURN_NONE;
}

static int vector_ass(ViewObject *v, PyObject *key, PyObject *o)
{
    ArenaObject *ar = v->arena;
    if (sh_arena_ok(ar) < 0)
        return -1;
    if (PySlice_Check(key))
        return vector_ass_slice(v, key, o);
    if (!PyIndex_Check(key)) {
        PyErr_Format(PyExc_TypeError,
                     "sharena vector: list indices must be integers or slices, "
                     "not %.100s",
                     Py_TYPE(key)->tp_name);
        return -1;
    }
    Py_ssize_t i;
    if (norm_index(v, key, &i) < 0)
        return -1;
    if (sh_check_free_index(ar, v->id, (uint64_t)i) < 0 || sh_enter(ar) < 0)
        return -1;
    int rc = o ? vec_put(v, V_SET, i, o) : vec_remove(ar, v->id, i);
    sh_leave(ar);
    return rc;
}

static PyObject *vector_append(ViewObject *v, PyObject *o)
{
    if (sh_enter(v->arena) < 0)
        return NULL;
    int rc = vec_put(v, V_PUSH, 0, o);
    sh_leave(v->arena);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *vector_insert(ViewObject *v, PyObject *const *args,
                               Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "insert(index, value)");
        return NULL;
    }
    ArenaObject *ar = v->arena;
    Py_ssize_t i = PyNumber_AsSsize_t(args[0], PyExc_OverflowError);
    if (i == -1 && PyErr_Occurred())
        return NULL;
    bool took;
    if (sh_lock_op(ar, v->id, &took) < 0)
        return NULL;
    Py_ssize_t n;
    int rc = vec_len(ar, v->id, &n);
    if (rc == 0) {
        /* list.insert clamps */
        if (i < 0)
            i = i + n < 0 ? 0 : i + n;
        if (i > n)
            i = n;
        rc = vec_put(v, V_INSERT, i, args[1]);
    }
    sh_unlock_op(ar, v->id, took);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* pop(index=-1): an owned element comes back as a plain copy (the removal
 * frees it), one the vector did not own as itself. */
static PyObject *vector_pop(ViewObject *v, PyObject *const *args,
                            Py_ssize_t nargs)
{
    if (nargs > 1) {
        PyErr_SetString(PyExc_TypeError, "pop(index=-1)");
        return NULL;
    }
    ArenaObject *ar = v->arena;
    Py_ssize_t i = -1;
    if (nargs == 1) {
        i = PyNumber_AsSsize_t(args[0], PyExc_IndexError);
        if (i == -1 && PyErr_Occurred())
            return NULL;
    }
    bool took;
    if (sh_lock_op(ar, v->id, &took) < 0)
        return NULL;
    PyObject *res = NULL;
    Py_ssize_t n;
    if (vec_len(ar, v->id, &n) < 0)
        goto out;
    if (n == 0) {
        PyErr_SetString(PyExc_IndexError, "pop from empty vector");
        goto out;
    }
    if (i < 0)
        i += n;
    if (i < 0 || i >= n) {
        index_error(i);
        goto out;
    }
    sharena_id id;
    bool owned;
    sharena_value val = {0};
    int r = sharena_vector_get_value(ar->a, v->id, (uint64_t)i, NULL, 0, &val);
    if (r == 0 && val.type == SHARENA_T_NUMBER && val.id == 0) {
        /* a number stored in the item: its value, no object made */
        res = PyFloat_FromDouble(val.number);
        if (res && vec_remove(ar, v->id, i) < 0)
            Py_CLEAR(res);
        goto out;
    }
    r = sharena_vector_get(ar->a, v->id, (uint64_t)i, &id, &owned);
    if (r < 0) {
        sh_raise(r, SH_W_NONE, NULL);
        goto out;
    }
    if (owned && sh_check_free(ar, id, false) < 0)
        goto out;
    res = owned ? sh_to_python(ar, id) : sh_value_or_raise(ar, id);
    if (res && vec_remove(ar, v->id, i) < 0)
        Py_CLEAR(res);
out:
    sh_unlock_op(ar, v->id, took);
    return res;
}

static PyObject *vector_clear(ViewObject *v, PyObject *unused)
{
    (void)unused;
    ArenaObject *ar = v->arena;
    bool took;
    if (sh_arena_ok(ar) < 0 || sh_lock_op(ar, v->id, &took) < 0)
        return NULL;
    Py_ssize_t n;
    int rc = sh_check_free_children(ar, v->id);
    if (rc == 0)
        rc = vec_len(ar, v->id, &n);
    while (rc == 0 && n-- > 0)
        rc = vec_remove(ar, v->id, n);
    sh_unlock_op(ar, v->id, took);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* reverse(): elements keep their ownership (pop hands it over, push gives
 * it back), which swapping through get/set could not do; numbers stored in
 * items stay numbers in items (no ids asked for). */
struct rev_item {
    sharena_id id; /* 0: the number below, stored in place */
    bool owned;
    double number;
};

static PyObject *vector_reverse(ViewObject *v, PyObject *unused)
{
    (void)unused;
    ArenaObject *ar = v->arena;
    bool took;
    if (sh_arena_ok(ar) < 0 || sh_lock_op(ar, v->id, &took) < 0)
        return NULL;
    Py_ssize_t n;
    struct rev_item *it = NULL;
    int r = 0, rc = vec_len(ar, v->id, &n);
    if (rc == 0 && n > 1) {
        it = PyMem_Malloc((size_t)n * sizeof *it);
        if (!it) {
            PyErr_NoMemory();
            rc = -1;
        }
        for (Py_ssize_t i = 0; rc == 0 && i < n; i++) {
            sharena_value val = {0};
            r = sharena_vector_get_value(ar->a, v->id, (uint64_t)i, NULL, 0,
                                         &val);
            if (r == 0 && val.type == SHARENA_T_NUMBER && val.id == 0) {
                it[i] = (struct rev_item){0, true, val.number};
                continue;
            }
            if ((r = sharena_vector_get(ar->a, v->id, (uint64_t)i, &it[i].id,
                                        &it[i].owned)) < 0)
                rc = -1;
        }
        if (rc == 0) {
            Py_BEGIN_ALLOW_THREADS
            for (Py_ssize_t i = 0; r == 0 && i < n; i++)
                r = sharena_vector_pop(ar->a, v->id, NULL);
            for (Py_ssize_t i = n; r == 0 && i-- > 0;)
                r = it[i].id
                        ? sharena_vector_push(ar->a, v->id, it[i].id,
                                              it[i].owned ? SHARENA_OWNED : 0)
                        : sharena_vector_push_number(ar->a, v->id,
                                                     it[i].number);
            Py_END_ALLOW_THREADS
            if (r < 0)
                rc = -1;
        }
        if (r < 0)
            sh_raise(r, SH_W_NONE, NULL);
    }
    PyMem_Free(it);
    sh_unlock_op(ar, v->id, took);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *vector_ref(ViewObject *v, PyObject *key)
{
    ArenaObject *ar = v->arena;
    Py_ssize_t i;
    if (sh_arena_ok(ar) < 0 || norm_index(v, key, &i) < 0)
        return NULL;
    sharena_id id;
    uint64_t ver;
    int r = sharena_vector_get(ar->a, v->id, (uint64_t)i, &id, NULL);
    if (r == SHARENA_ERANGE)
        return index_error(i);
    if (r == 0)
        r = sharena_change_count(ar->a, id, &ver);
    if (r < 0)
        return sh_raise(r, SH_W_NONE, NULL);
    PyObject *o = sh_view_new(ar, SH_K_REF, id);
    if (o)
        ((ViewObject *)o)->version = ver;
    return o;
}

/* The buffer protocol: a read-only 1-D buffer of doubles ("d") holding a
 * COPY of the elements, made by one consistent read
 * (sharena_vector_read_numbers); BufferError when an element is no number.
 * Not a view of the arena: another process may grow the vector at any
 * moment, which frees the items block, so a pointer into it could read (or
 * let a writer scribble over) memory the allocator has handed to something
 * else. The copy lives as long as the buffer. */
struct vec_buffer {
    Py_ssize_t shape, stride;
    double data[];
};

static int vector_getbuffer(ViewObject *v, Py_buffer *view, int flags)
{
    ArenaObject *ar = v->arena;
    view->obj = NULL;
    if ((flags & PyBUF_WRITABLE) == PyBUF_WRITABLE) {
        PyErr_SetString(PyExc_BufferError,
                        "a sharena vector exports a read-only copy of its "
                        "numbers");
        return -1;
    }
    if (sh_arena_ok(ar) < 0)
        return -1;
    struct vec_buffer *b = NULL;
    Py_ssize_t n = 0;
    int r = 0;
    /* the length, then the copy: again when it changed in between, so the
     * copy is the whole vector as it was at one moment (bounded: a vector
     * resized without pause gives the last copy made) */
    for (int tries = 0; tries < 64; tries++) {
        if (vec_len(ar, v->id, &n) < 0)
            goto fail;
        if ((size_t)n > (PY_SSIZE_T_MAX - sizeof *b) / sizeof(double)) {
            PyErr_NoMemory();
            goto fail;
        }
        PyMem_Free(b);
        b = PyMem_Malloc(sizeof *b + (size_t)n * sizeof(double));
        if (!b) {
            PyErr_NoMemory();
            goto fail;
        }
        Py_BEGIN_ALLOW_THREADS
        r = sharena_vector_read_numbers(ar->a, v->id, 0, b->data, (size_t)n);
        Py_END_ALLOW_THREADS
        if (r == SHARENA_ERANGE)
            continue; /* shrunk meanwhile */
        if (r < 0)
            break;
        Py_ssize_t now;
        if (vec_len(ar, v->id, &now) < 0)
            goto fail;
        if (now == n)
            break;
    }
    if (r == SHARENA_ETYPE) {
        PyErr_SetString(PyExc_BufferError,
                        "the sharena vector holds an element that is not a "
                        "number");
        goto fail;
    }
    if (r < 0) {
        sh_raise(r, SH_W_NONE, NULL);
        goto fail;
    }
    b->shape = n;
    b->stride = sizeof(double);
    view->buf = b->data;
    view->obj = Py_NewRef((PyObject *)v);
    view->len = n * (Py_ssize_t)sizeof(double);
    view->readonly = 1;
    view->itemsize = sizeof(double);
    view->format = (flags & PyBUF_FORMAT) == PyBUF_FORMAT ? "d" : NULL;
    view->ndim = 1;
    view->shape = (flags & PyBUF_ND) == PyBUF_ND ? &b->shape : NULL;
    view->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ? &b->stride
                                                             : NULL;
    view->suboffsets = NULL;
    view->internal = b;
    return 0;
fail:
    PyMem_Free(b);
    return -1;
}

static void vector_releasebuffer(ViewObject *v, Py_buffer *view)
{
    (void)v;
    PyMem_Free(view->internal);
    view->internal = NULL;
}

static PyBufferProcs vector_as_buffer = {
    .bf_getbuffer = (getbufferproc)vector_getbuffer,
    .bf_releasebuffer = (releasebufferproc)vector_releasebuffer,
};

static PyMappingMethods vector_as_mapping = {
    .mp_length = (lenfunc)vector_len,
    .mp_subscript = (binaryfunc)vector_subscript,
    .mp_ass_subscript = (objobjargproc)vector_ass,
};
static PySequenceMethods vector_as_sequence = {
    .sq_length = (lenfunc)vector_len,
};

static PyMethodDef vector_methods[] = {
    {"append", (PyCFunction)vector_append, METH_O, "append(value)"},
    {"extend", (PyCFunction)vector_extend, METH_O,
     "extend(iterable): append every value, all or none"},
    {"insert", (PyCFunction)(void (*)(void))vector_insert, METH_FASTCALL,
     "insert(index, value)"},
    {"pop", (PyCFunction)(void (*)(void))vector_pop, METH_FASTCALL,
     "pop(index=-1): remove and return (a plain copy when owned)"},
    {"clear", (PyCFunction)vector_clear, METH_NOARGS, "remove every element"},
    {"reverse", (PyCFunction)vector_reverse, METH_NOARGS, "reverse in place"},
    {"ref", (PyCFunction)vector_ref, METH_O,
     "ref(index) -> Ref to the object now at index"},
    {NULL, NULL, 0, NULL},
};

PyTypeObject ShVectorType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sharena._sharena.VectorBase",
    .tp_base = &ShViewType,
    .tp_basicsize = sizeof(ViewObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "A live view of a sharena vector.",
    .tp_as_mapping = &vector_as_mapping,
    .tp_as_sequence = &vector_as_sequence,
    .tp_as_buffer = &vector_as_buffer,
    .tp_methods = vector_methods,
};

int sh_vector_init(PyObject *m)
{
    if (PyType_Ready(&ShVectorType) < 0)
        return -1;
    Py_INCREF(&ShVectorType);
    if (PyModule_AddObject(m, "VectorBase", (PyObject *)&ShVectorType) < 0)
        return -1;
    sh_classes[SH_K_VECTOR] = &ShVectorType;
    return 0;
}
