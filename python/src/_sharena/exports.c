/* exports.c: buffers exported by Bytes views (memoryview, numpy), and the
 * check that keeps this process from freeing a Bytes object one of them
 * still uses.
 *
 * A memoryview of a Bytes object is a raw pointer into the arena. If the
 * object were freed while it exists, writes through it would land in
 * whatever object reuses the block. So every operation of this process that
 * can free objects (drop, del/replace of a map key, vector element or root,
 * pop, clear) first checks that nothing it would free is exported, and
 * raises BufferError otherwise, like bytearray does when resized while
 * exported. The check walks what the operation frees (an object and the
 * children it owns) only while some buffer of the arena is exported, so it
 * costs one comparison otherwise.
 *
 * What another process frees is outside this process's knowledge: not
 * freeing a buffer others still use is the application's contract there
 * (docs/api-python.md), as for Node's BytesRef.buffer(). */
#include "_sharena.h"

#include <stdlib.h>
#include <string.h>

int sh_export_add(ArenaObject *ar, sharena_id id)
{
    if (!ar->exported && !(ar->exported = PyDict_New()))
        return -1;
    PyObject *k = PyLong_FromUnsignedLongLong(id);
    if (!k)
        return -1;
    PyObject *n = PyDict_GetItemWithError(ar->exported, k);
    long count = n ? PyLong_AsLong(n) : 0;
    PyObject *c = (n || !PyErr_Occurred()) ? PyLong_FromLong(count + 1) : NULL;
    int r = c ? PyDict_SetItem(ar->exported, k, c) : -1;
    Py_XDECREF(c);
    Py_DECREF(k);
    if (r == 0)
        ar->exports++;
    return r;
}

void sh_export_remove(ArenaObject *ar, sharena_id id)
{
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    PyObject *k = PyLong_FromUnsignedLongLong(id);
    PyObject *n = k && ar->exported ? PyDict_GetItemWithError(ar->exported, k)
                                    : NULL;
    if (n) {
        long count = PyLong_AsLong(n);
        PyObject *c = count > 1 ? PyLong_FromLong(count - 1) : NULL;
        if (c)
            (void)PyDict_SetItem(ar->exported, k, c);
        else
            (void)PyDict_DelItem(ar->exported, k);
        Py_XDECREF(c);
    }
    Py_XDECREF(k);
    PyErr_Clear();
    PyErr_Restore(et, ev, tb);
}

static int is_exported(ArenaObject *ar, sharena_id id)
{
    PyObject *k = PyLong_FromUnsignedLongLong(id);
    if (!k)
        return -1;
    int r = PyDict_Contains(ar->exported, k);
    Py_DECREF(k);
    return r;
}

/* Is item @p i of vector @p vec a number stored in the item? Such an item
 * has no id; sharena_vector_get() would make it an object to give one. */
static bool number_in_item(sharena_arena *a, sharena_id vec, uint64_t i)
{
    sharena_value val = {0};
    return sharena_vector_get_value(a, vec, i, NULL, 0, &val) == 0 &&
           val.type == SHARENA_T_NUMBER && val.id == 0;
}

/* 1 with *hit set when freeing @p id would free an exported buffer (the
 * object itself, or a child it owns; every child if @p all), 0 if not, -1
 * with an exception. @p seen guards against cycles of a scribbled arena. */
static int walk(ArenaObject *ar, sharena_id id, bool all, PyObject *seen,
                sharena_id *hit)
{
    int r = is_exported(ar, id);
    if (r)
        return r < 0 ? -1 : (*hit = id, 1);
    PyObject *k = PyLong_FromUnsignedLongLong(id);
    if (!k)
        return -1;
    r = PySet_Contains(seen, k);
    if (r == 0)
        r = PySet_Add(seen, k);
    else if (r > 0)
        r = 1; /* already walked */
    Py_DECREF(k);
    if (r)
        return r < 0 ? -1 : 0;
    sharena_arena *a = ar->a;
    int t = sharena_type_of(a, id);
    if (t != SHARENA_T_MAP && t != SHARENA_T_VECTOR && t != SHARENA_T_STRUCT)
        return 0; /* no children (or gone already: nothing to free) */
    if (Py_EnterRecursiveCall(" while checking what a drop frees"))
        return -1;
    int found = 0;
    if (t == SHARENA_T_MAP) {
        char stack[256];
        char *key = stack;
        size_t kcap = sizeof stack, klen;
        uint64_t cursor = 0;
        while (!found) {
            sharena_id child;
            bool owned;
            /* refs only: a value stored in an entry has no children */
            r = sharena_map_next_ref(a, id, &cursor, key, kcap, &klen, &child,
                                     &owned);
            if (r == SHARENA_ERANGE) {
                char *nk = key == stack ? malloc(klen + 1)
                                        : realloc(key, klen + 1);
                if (!nk) {
                    PyErr_NoMemory();
                    found = -1;
                    break;
                }
                key = nk;
                kcap = klen + 1;
                continue;
            }
            if (r < 0)
                break; /* the end, or gone meanwhile */
            if (child && (owned || all))
                found = walk(ar, child, all, seen, hit);
        }
        if (key != stack)
            free(key);
    } else if (t == SHARENA_T_VECTOR) {
        for (uint64_t i = 0; !found; i++) {
            sharena_id child;
            bool owned;
            if (number_in_item(a, id, i))
                continue; /* frees nothing (and has no id to ask for) */
            if (sharena_vector_get(a, id, i, &child, &owned) < 0)
                break;
            if (owned || all)
                found = walk(ar, child, all, seen, hit);
        }
    } else {
        size_t n = 0;
        (void)sharena_shape_nfields(a, id, &n);
        for (size_t i = 0; !found && i < n; i++) {
            sharena_id child;
            if (sharena_struct_field_id(a, id, i, &child) == 0)
                found = walk(ar, child, all, seen, hit);
        }
    }
    Py_LeaveRecursiveCall();
    return found;
}

static int refuse(sharena_id hit)
{
    PyErr_Format(PyExc_BufferError,
                 "cannot free bytes object %llu: a memoryview or numpy array "
                 "of this process still uses its memory (release it first: "
                 "mv.release() or a with-block, and del the arrays made from "
                 "it); nothing was changed",
                 (unsigned long long)hit);
    return -1;
}

int sh_check_free(ArenaObject *ar, sharena_id id, bool all)
{
    if (ar->exports == 0 || !ar->exported || !ar->a)
        return 0;
    PyObject *seen = PySet_New(NULL);
    if (!seen)
        return -1;
    sharena_id hit = 0;
    int r = walk(ar, id, all, seen, &hit);
    Py_DECREF(seen);
    return r > 0 ? refuse(hit) : r;
}

int sh_check_free_children(ArenaObject *ar, sharena_id id)
{
    if (ar->exports == 0 || !ar->exported || !ar->a)
        return 0;
    /* a map, vector or struct is never exported itself: what walk() finds
     * is among the children it owns */
    return sh_check_free(ar, id, false);
}

/* Whether map @p map owns its value at @p key (a scan: only called when
 * that value holds an export). */
static int map_owns_key(ArenaObject *ar, sharena_id map, const char *k,
                        size_t klen, bool *owned)
{
    char *key = malloc(klen + 1);
    if (!key) {
        PyErr_NoMemory();
        return -1;
    }
    uint64_t cursor = 0;
    size_t len;
    int r;
    *owned = false;
    for (;;) {
        bool o;
        r = sharena_map_next(ar->a, map, &cursor, key, klen + 1, &len, NULL,
                             &o);
        if (r == SHARENA_ERANGE) { /* a longer key: not ours; skip it */
            cursor++;
            continue;
        }
        if (r < 0)
            break;
        if (len == klen && memcmp(key, k, klen) == 0) {
            *owned = o;
            break;
        }
    }
    free(key);
    return 0;
}

int sh_check_free_key(ArenaObject *ar, sharena_id map, const char *k,
                      size_t klen)
{
    if (ar->exports == 0 || !ar->exported || !ar->a)
        return 0;
    /* (a value stored in the entry has no id, is never exported, and is
     * not given an id here) */
    sharena_value val;
    int r0 = sharena_map_get_value(ar->a, map, k, klen, NULL, 0, &val);
    if ((r0 < 0 && r0 != SHARENA_ERANGE) || !val.id)
        return 0;
    sharena_id v = val.id;
    PyObject *seen = PySet_New(NULL);
    if (!seen)
        return -1;
    sharena_id hit = 0;
    int r = walk(ar, v, false, seen, &hit);
    Py_DECREF(seen);
    if (r <= 0)
        return r;
    bool owned;
    if (map_owns_key(ar, map, k, klen, &owned) < 0)
        return -1;
    return owned ? refuse(hit) : 0; /* a reference: removing frees nothing */
}

int sh_check_free_index(ArenaObject *ar, sharena_id vec, uint64_t i)
{
    if (ar->exports == 0 || !ar->exported || !ar->a)
        return 0;
    sharena_id v;
    bool owned;
    if (number_in_item(ar->a, vec, i) ||
        sharena_vector_get(ar->a, vec, i, &v, &owned) < 0 || !owned)
        return 0;
    return sh_check_free(ar, v, false);
}

int sh_check_free_root(ArenaObject *ar, const char *name)
{
    sharena_id dir;
    if (ar->exports == 0 || !ar->a || sharena_roots(ar->a, &dir) < 0)
        return 0;
    return sh_check_free_key(ar, dir, name, strlen(name));
}
