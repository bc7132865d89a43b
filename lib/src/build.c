/* build.c: the value builder (sharena.h, "Building values"). A plain value
 * tree becomes arena objects, each linked owned into its container as soon
 * as it is made, so that everything made hangs below a top-level value and
 * dropping those drops it all. The top-level values are linked into the
 * target in one step (vector) or under its lock with an undo (map); any
 * failure drops what was made, so the arena is as it was before the build. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

struct build_top {
    sharena_id id;
    bool made;  /* made by the builder (dropped on failure) */
    bool owned; /* linked owned into the target */
    char *key;  /* NULL: none */
    size_t klen;
    /* kind V_REF: the object `id`; else a number, boolean, null or short
     * string kept as a value (id 0), stored in a map entry as it is, and
     * made an object only where one is needed (top_object) */
    struct sharena__mval v;
};

struct build_open {
    sharena_id id;
    int type; /* SHARENA_T_MAP, SHARENA_T_VECTOR or SHARENA_T_STRUCT */
};

/* A shape this build made, for structs of the same definition to share. */
struct build_shape {
    sharena_id id;
    sharena_field_def *defs; /* names copied */
    size_t n;
    bool placed; /* a value of the tree (dropped with it), not kept here */
};

struct sharena_builder {
    sharena_arena *a;
    int err; /* the first failure, kept */
    struct build_top *top;
    size_t ntop, ctop;
    struct build_open *open; /* the open containers, innermost last */
    size_t depth, copen;
    char *key; /* the pending key (malloc'd), or NULL */
    size_t klen;
    struct build_shape *shapes; /* shapes made for structs and shape values */
    size_t nshapes, cshapes;
};

int sharena_build_begin(sharena_arena *a, sharena_builder **out)
{
    if (!a || !out)
        return SHARENA_EINVAL;
    *out = NULL;
    if (sharena_arena_readonly(a))
        return SHARENA_EROFS;
    sharena_builder *b = calloc(1, sizeof *b);
    if (!b)
        return SHARENA_ENOMEM;
    b->a = a;
    *out = b;
    return 0;
}

int sharena_build_error(const sharena_builder *b)
{
    return b ? b->err : SHARENA_EINVAL;
}

static int fail(sharena_builder *b, int r)
{
    if (!b->err)
        b->err = r;
    return b->err;
}

int sharena_build_key(sharena_builder *b, const char *key, size_t klen)
{
    if (!b)
        return SHARENA_EINVAL;
    if (b->err)
        return b->err;
    if ((klen && !key) || b->key ||
        (b->depth && b->open[b->depth - 1].type == SHARENA_T_VECTOR))
        return fail(b, SHARENA_EINVAL);
    if (klen > UINT32_MAX)
        return fail(b, SHARENA_ERANGE);
    if (!sharena_utf8_valid(key, klen))
        return fail(b, SHARENA_EILSEQ);
    char *k = malloc(klen + 1);
    if (!k)
        return fail(b, SHARENA_ENOMEM);
    if (klen)
        memcpy(k, key, klen);
    k[klen] = 0;
    b->key = k;
    b->klen = klen;
    return 0;
}

/* Add a top-level value to the list (takes the pending key). */
static int top_add(sharena_builder *b, struct build_top t)
{
    if (b->ntop == b->ctop) {
        size_t n = b->ctop ? b->ctop * 2 : 8;
        struct build_top *nt = realloc(b->top, n * sizeof *nt);
        if (!nt) {
            free(b->key);
            b->key = NULL;
            return SHARENA_ENOMEM;
        }
        b->top = nt;
        b->ctop = n;
    }
    t.key = b->key;
    t.klen = b->klen;
    b->top[b->ntop++] = t;
    b->key = NULL;
    return 0;
}

/* Link @p id (made by us when @p made) where the next value goes: into the
 * innermost open container, owned, or onto the top-level list. A made
 * value that cannot be linked is dropped at once. */
static int place(sharena_builder *b, sharena_id id, bool made, bool owned)
{
    int r = 0;
    if (b->depth) {
        struct build_open *p = &b->open[b->depth - 1];
        if (p->type == SHARENA_T_MAP)
            r = sharena_map_set(b->a, p->id, b->key, b->klen, id,
                                owned ? SHARENA_OWNED : 0, NULL);
        else
            r = sharena_vector_push(b->a, p->id, id, owned ? SHARENA_OWNED : 0);
        free(b->key);
        b->key = NULL;
    } else {
        r = top_add(b, (struct build_top){.id = id,
                                          .made = made,
                                          .owned = owned,
                                          .v = {SHARENA__V_REF, 0, {0, 0}}});
    }
    if (r < 0) {
        if (made)
            sharena_drop(b->a, id, 0);
        return fail(b, r);
    }
    return 0;
}

/* Checks before a value: no kept error, a key inside a map or struct. */
static int before_value(sharena_builder *b)
{
    if (!b)
        return SHARENA_EINVAL;
    if (b->err)
        return b->err;
    if (b->depth && b->open[b->depth - 1].type != SHARENA_T_VECTOR && !b->key)
        return fail(b, SHARENA_EINVAL);
    return 0;
}

static bool in_struct(const sharena_builder *b)
{
    return b->depth && b->open[b->depth - 1].type == SHARENA_T_STRUCT;
}

static bool in_map(const sharena_builder *b)
{
    return b->depth && b->open[b->depth - 1].type == SHARENA_T_MAP;
}

/* The open map, for a value stored in its entry under the pending key. */
static sharena_id open_map(const sharena_builder *b)
{
    return b->open[b->depth - 1].id;
}

/* A value at the top level kept as it is (no object yet): where it goes
 * decides (sharena_build_map_update stores it in the entry). */
static int place_stored(sharena_builder *b, const struct sharena__mval *v)
{
    int r = top_add(b, (struct build_top){.owned = true, .v = *v});
    return r < 0 ? fail(b, r) : 0;
}

/* Make top-level value @p t an object, if it was kept as a value. */
static int top_object(sharena_builder *b, struct build_top *t)
{
    if (t->v.kind == SHARENA__V_REF)
        return 0;
    int r = sharena__mval_object(b->a, &t->v, &t->id);
    if (r == 0) {
        t->made = true;
        t->v.kind = SHARENA__V_REF;
    }
    return r;
}

/* After a value was stored in the open map's entry (@p r the result). */
static int stored(sharena_builder *b, int r)
{
    free(b->key);
    b->key = NULL;
    return r < 0 ? fail(b, r) : 0;
}

/* Fail with @p r, dropping the pending key. */
static int fail_key(sharena_builder *b, int r)
{
    free(b->key);
    b->key = NULL;
    return fail(b, r);
}

/* Inside a struct: the index of the field the pending key names, which
 * must be of type @p want (SHARENA_ENOENT: no such field, SHARENA_ETYPE:
 * another type); *size gets a bytes field's size. Takes the key. */
static int struct_field(sharena_builder *b, sharena_type want, size_t *index,
                        uint64_t *size)
{
    sharena_id st = b->open[b->depth - 1].id;
    sharena_type t = SHARENA_T_NONE;
    int r = sharena_shape_find(b->a, st, b->key, b->klen, index);
    if (r == 0)
        r = sharena_shape_field(b->a, st, *index, NULL, 0, &t, size);
    if (r == 0 && t != want)
        r = SHARENA_ETYPE;
    if (r < 0)
        return fail_key(b, r);
    free(b->key);
    b->key = NULL;
    return 0;
}

/* A struct field holds a number, bool, string or bytes only. */
static int before_object(sharena_builder *b)
{
    int r = before_value(b);
    if (r == 0 && in_struct(b))
        r = fail_key(b, SHARENA_ETYPE);
    return r;
}

/* Place a value whose creation returned @p r. */
static int made(sharena_builder *b, int r, sharena_id id)
{
    if (r < 0) {
        free(b->key);
        b->key = NULL;
        return fail(b, r);
    }
    return place(b, id, true, true);
}

int sharena_build_number(sharena_builder *b, double v)
{
    int r = before_value(b);
    if (r < 0)
        return r;
    if (in_struct(b)) {
        size_t i;
        if ((r = struct_field(b, SHARENA_T_NUMBER, &i, NULL)) < 0)
            return r;
        r = sharena_struct_set_number(b->a, b->open[b->depth - 1].id, i, v);
        return r < 0 ? fail(b, r) : 0;
    }
    if (in_map(b)) /* stored in the entry: no object */
        return stored(
            b, sharena_map_set_number(b->a, open_map(b), b->key, b->klen, v));
    if (b->depth && b->open[b->depth - 1].type == SHARENA_T_VECTOR) {
        /* stored in the item, no object (the vector is the builder's:
         * dropping it on failure drops nothing more) */
        r = sharena_vector_push_number(b->a, b->open[b->depth - 1].id, v);
        return r < 0 ? fail(b, r) : 0;
    }
    if (!b->depth) {
        struct sharena__mval sv = {SHARENA__V_NUMBER, 0, {sharena__d2u(v), 0}};
        return place_stored(b, &sv);
    }
    sharena_id id = 0;
    r = sharena_number_new(b->a, v, &id);
    return made(b, r, id);
}

int sharena_build_bool(sharena_builder *b, bool v)
{
    int r = before_value(b);
    if (r < 0)
        return r;
    if (in_struct(b)) {
        size_t i;
        if ((r = struct_field(b, SHARENA_T_BOOL, &i, NULL)) < 0)
            return r;
        r = sharena_struct_set_bool(b->a, b->open[b->depth - 1].id, i, v);
        return r < 0 ? fail(b, r) : 0;
    }
    if (in_map(b))
        return stored(
            b, sharena_map_set_bool(b->a, open_map(b), b->key, b->klen, v));
    if (!b->depth)
        return place_stored(
            b, &(struct sharena__mval){SHARENA__V_BOOL, 0, {v ? 1 : 0, 0}});
    sharena_id id = 0;
    r = sharena_bool_new(b->a, v, &id);
    return made(b, r, id);
}

int sharena_build_null(sharena_builder *b)
{
    int r = before_value(b);
    if (r < 0)
        return r;
    if (in_struct(b)) {
        /* a field of any type, if its shape says it is nullable */
        sharena_id st = b->open[b->depth - 1].id;
        size_t i;
        r = sharena_shape_find(b->a, st, b->key, b->klen, &i);
        if (r < 0)
            return fail_key(b, r);
        free(b->key);
        b->key = NULL;
        r = sharena_struct_set_null(b->a, st, i);
        return r < 0 ? fail(b, r) : 0;
    }
    if (in_map(b))
        return stored(b,
                      sharena_map_set_null(b->a, open_map(b), b->key, b->klen));
    if (!b->depth)
        return place_stored(
            b, &(struct sharena__mval){SHARENA__V_NULL, 0, {0, 0}});
    sharena_id id = 0;
    r = sharena_null_new(b->a, &id);
    return made(b, r, id);
}

int sharena_build_string(sharena_builder *b, const char *s, size_t len)
{
    int r = before_value(b);
    if (r < 0)
        return r;
    if (in_struct(b)) {
        size_t i;
        if ((r = struct_field(b, SHARENA_T_STRING, &i, NULL)) < 0)
            return r;
        r = sharena_struct_set_string(b->a, b->open[b->depth - 1].id, i, s,
                                      len);
        return r < 0 ? fail(b, r) : 0;
    }
    if (in_map(b)) /* a short one in the entry, a long one owned */
        return stored(b, sharena_map_set_string(b->a, open_map(b), b->key,
                                                b->klen, s, len));
    if (!b->depth && len <= SHARENA__VALUE_INLINE_MAX) {
        if (len && !s)
            return fail_key(b, SHARENA_EINVAL);
        if (!sharena_utf8_valid(s, len))
            return fail_key(b, SHARENA_EILSEQ);
        struct sharena__mval sv = {SHARENA__V_STRING, (uint8_t)len, {0, 0}};
        if (len)
            memcpy(sv.w, s, len);
        return place_stored(b, &sv);
    }
    sharena_id id = 0;
    r = sharena_string_new(b->a, s, len, &id);
    return made(b, r, id);
}

int sharena_build_bytes(sharena_builder *b, const void *data, size_t len)
{
    int r = before_value(b);
    if (r < 0)
        return r;
    if (len && !data)
        return fail_key(b, SHARENA_EINVAL);
    if (in_struct(b)) {
        size_t i;
        uint64_t size = 0;
        sharena_id fid = 0;
        if ((r = struct_field(b, SHARENA_T_BYTES, &i, &size)) < 0)
            return r;
        if (size != len)
            return fail(b, SHARENA_ERANGE);
        r = sharena_struct_field_id(b->a, b->open[b->depth - 1].id, i, &fid);
        if (r == 0 && len)
            r = sharena_bytes_write(b->a, fid, 0, data, len);
        return r < 0 ? fail(b, r) : 0;
    }
    sharena_id id = 0;
    r = sharena_bytes_new(b->a, len, &id);
    if (r == 0 && len) {
        r = sharena_bytes_write(b->a, id, 0, data, len);
        if (r < 0)
            sharena_drop(b->a, id, 0);
    }
    return made(b, r, id);
}

int sharena_build_ref(sharena_builder *b, sharena_id id, unsigned flags)
{
    int r = before_object(b);
    if (r < 0)
        return r;
    if ((flags & ~(unsigned)SHARENA_OWNED) ||
        ((flags & SHARENA_OWNED) && b->depth)) {
        free(b->key);
        b->key = NULL;
        return fail(b, SHARENA_EINVAL);
    }
    int t = sharena_type_of(b->a, id);
    if (t < 0) {
        free(b->key);
        b->key = NULL;
        return fail(b, t);
    }
    return place(b, id, false, (flags & SHARENA_OWNED) != 0);
}

/* Open a container of @p type (a struct: of @p shape), placed as the next
 * value. */
static int open_container(sharena_builder *b, int type, sharena_id shape)
{
    int r = before_object(b);
    if (r < 0)
        return r;
    if (b->depth == SHARENA_BUILD_DEPTH_MAX)
        return fail_key(b, SHARENA_EOVERFLOW);
    if (b->depth == b->copen) {
        size_t n = b->copen ? b->copen * 2 : 8;
        struct build_open *o = realloc(b->open, n * sizeof *o);
        if (!o)
            return fail_key(b, SHARENA_ENOMEM);
        b->open = o;
        b->copen = n;
    }
    sharena_id id = 0;
    r = type == SHARENA_T_MAP      ? sharena_map_new(b->a, &id)
        : type == SHARENA_T_VECTOR ? sharena_vector_new(b->a, &id)
                                   : sharena_struct_new(b->a, shape, &id);
    if ((r = made(b, r, id)) < 0)
        return r;
    b->open[b->depth++] = (struct build_open){id, type};
    return 0;
}

int sharena_build_map(sharena_builder *b)
{
    return open_container(b, SHARENA_T_MAP, 0);
}

int sharena_build_vector(sharena_builder *b)
{
    return open_container(b, SHARENA_T_VECTOR, 0);
}

static bool same_defs(const struct build_shape *s,
                      const sharena_field_def *fields, size_t n)
{
    if (s->n != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!fields[i].name || strcmp(s->defs[i].name, fields[i].name) != 0 ||
            s->defs[i].type != fields[i].type ||
            (fields[i].type == SHARENA_T_BYTES &&
             s->defs[i].size != fields[i].size))
            return false;
    return true;
}

static void shape_free(struct build_shape *s)
{
    for (size_t i = 0; i < s->n; i++)
        free((char *)s->defs[i].name);
    free(s->defs);
}

/* A shape of this definition: one this build made (that is not a value of
 * the tree already, when @p unplaced), else a new one, recorded. */
static int find_shape(sharena_builder *b, const sharena_field_def *fields,
                      size_t n, bool unplaced, struct build_shape **out)
{
    if (!fields && n)
        return SHARENA_EINVAL;
    for (size_t i = 0; i < b->nshapes; i++)
        if ((!unplaced || !b->shapes[i].placed) &&
            same_defs(&b->shapes[i], fields, n)) {
            *out = &b->shapes[i];
            return 0;
        }
    if (b->nshapes == b->cshapes) {
        size_t c = b->cshapes ? b->cshapes * 2 : 4;
        struct build_shape *t = realloc(b->shapes, c * sizeof *t);
        if (!t)
            return SHARENA_ENOMEM;
        b->shapes = t;
        b->cshapes = c;
    }
    struct build_shape *s = &b->shapes[b->nshapes];
    memset(s, 0, sizeof *s);
    int r = sharena_shape_new(b->a, fields, n, &s->id);
    if (r < 0)
        return r;
    /* copied after the library checked the definition */
    s->defs = calloc(n ? n : 1, sizeof *s->defs);
    for (size_t i = 0; s->defs && i < n; i++, s->n++) {
        s->defs[i] = fields[i];
        if (!(s->defs[i].name = strdup(fields[i].name)))
            break;
    }
    if (!s->defs || s->n < n) {
        shape_free(s);
        sharena_drop(b->a, s->id, 0);
        return SHARENA_ENOMEM;
    }
    b->nshapes++;
    *out = s;
    return 0;
}

int sharena_build_struct(sharena_builder *b, const sharena_field_def *fields,
                         size_t nfields)
{
    int r = before_object(b);
    if (r < 0)
        return r;
    struct build_shape *s;
    if ((r = find_shape(b, fields, nfields, false, &s)) < 0)
        return fail_key(b, r);
    return open_container(b, SHARENA_T_STRUCT, s->id);
}

int sharena_build_shape(sharena_builder *b, const sharena_field_def *fields,
                        size_t nfields)
{
    int r = before_object(b);
    if (r < 0)
        return r;
    struct build_shape *s;
    if ((r = find_shape(b, fields, nfields, true, &s)) < 0)
        return fail_key(b, r);
    /* from now on the tree drops it on failure (place() does at once) */
    s->placed = true;
    return place(b, s->id, true, true);
}

int sharena_build_end(sharena_builder *b)
{
    if (!b)
        return SHARENA_EINVAL;
    if (b->err)
        return b->err;
    if (!b->depth || b->key)
        return fail(b, SHARENA_EINVAL);
    b->depth--;
    return 0;
}

static void build_free(sharena_builder *b)
{
    for (size_t i = 0; i < b->nshapes; i++)
        shape_free(&b->shapes[i]);
    free(b->shapes);
    for (size_t i = 0; i < b->ntop; i++)
        free(b->top[i].key);
    free(b->top);
    free(b->open);
    free(b->key);
    free(b);
}

/* Drop what was made (the top-level values; everything else hangs below
 * them), free the builder, return @p r. */
static int undo(sharena_builder *b, int r)
{
    for (size_t i = b->ntop; i-- > 0;)
        if (b->top[i].made && b->top[i].id)
            sharena_drop(b->a, b->top[i].id, 0);
    /* shapes made for structs only: after the structs that use them */
    for (size_t i = b->nshapes; i-- > 0;)
        if (!b->shapes[i].placed)
            sharena_drop(b->a, b->shapes[i].id, 0);
    build_free(b);
    return r;
}

void sharena_build_abort(sharena_builder *b)
{
    if (b)
        undo(b, 0);
}

/* The checks every commit makes first. */
static int ready(sharena_builder *b)
{
    if (b->err)
        return b->err;
    if (b->depth || b->key)
        return SHARENA_EINVAL;
    return 0;
}

int sharena_build_finish(sharena_builder *b, sharena_id *out)
{
    if (!b)
        return SHARENA_EINVAL;
    int r = ready(b);
    if (r == 0 && (!out || b->ntop != 1 ||
                   (!b->top[0].made && b->top[0].v.kind == SHARENA__V_REF)))
        r = SHARENA_EINVAL;
    if (r == 0) /* a value kept as it is: the caller wants an id */
        r = top_object(b, &b->top[0]);
    if (r < 0)
        return undo(b, r);
    *out = b->top[0].id;
    build_free(b);
    return 0;
}

static uint64_t top_ref(const struct build_top *t)
{
    return t->id | (t->owned ? SHARENA__REF_OWNED : 0);
}

int sharena_build_map_update(sharena_builder *b, sharena_id map)
{
    if (!b)
        return SHARENA_EINVAL;
    sharena_arena *a = b->a;
    int r = ready(b);
    for (size_t i = 0; r == 0 && i < b->ntop; i++)
        if (!b->top[i].key || b->top[i].id == map)
            r = SHARENA_EINVAL;
    if (r == 0 && (r = sharena_type_of(a, map)) >= 0)
        r = r == SHARENA_T_MAP ? 0 : SHARENA_ETYPE;
    struct sharena__mval *prev = NULL;
    if (r == 0 && b->ntop && !(prev = calloc(b->ntop, sizeof *prev)))
        r = SHARENA_ENOMEM;
    if (r < 0)
        return undo(b, r);
    /* Under the map's lock (unless this thread holds it already), so no
     * other writer sees or changes the entries between the sets and the
     * undo. */
    int locked = sharena_lock(a, map);
    if (locked < 0 && locked != SHARENA_EDEADLK) {
        free(prev);
        return undo(b, locked);
    }
    size_t done = 0;
    for (; done < b->ntop; done++) {
        struct build_top *t = &b->top[done];
        struct sharena__mval v = {SHARENA__V_REF, 0, {top_ref(t), 0}};
        r = sharena__map_put(a, map, t->key, t->klen,
                             t->v.kind == SHARENA__V_REF ? &v : &t->v,
                             SHARENA__PUT_SET, &prev[done]);
        if (r < 0)
            break;
    }
    if (r < 0) {
        /* Back out in reverse order, so a key set twice ends with its
         * first previous value. Neither step allocates. */
        for (size_t i = done; i-- > 0;) {
            struct build_top *t = &b->top[i];
            struct sharena__mval got;
            if (prev[i].kind != SHARENA__V_REF || prev[i].w[0])
                sharena__map_put(a, map, t->key, t->klen, &prev[i],
                                 SHARENA__PUT_SET, &got);
            else
                sharena__map_take(a, map, t->key, t->klen, &got);
        }
    }
    if (locked != SHARENA_EDEADLK)
        sharena_unlock(a, map);
    if (r < 0) {
        free(prev);
        return undo(b, r);
    }
    /* Replaced values the map owned go now, as sharena_map_set() does. */
    for (size_t i = 0; i < b->ntop; i++)
        if (prev[i].kind == SHARENA__V_REF &&
            (prev[i].w[0] & SHARENA__REF_OWNED) &&
            (prev[i].w[0] & SHARENA__REF_ID_MASK) != b->top[i].id)
            sharena__drop_ref(a, prev[i].w[0], 0);
    free(prev);
    build_free(b);
    return 0;
}

int sharena_build_vector_splice(sharena_builder *b, sharena_id vec,
                                uint64_t start, uint64_t count)
{
    if (!b)
        return SHARENA_EINVAL;
    sharena_arena *a = b->a;
    int r = ready(b);
    uint64_t *refs = NULL;
    if (r == 0 && b->ntop && !(refs = malloc(b->ntop * sizeof *refs)))
        r = SHARENA_ENOMEM;
    /* top-level numbers go into the items themselves, but for those whose
     * bits would read as a ref: those, and other values kept as values,
     * are made objects first (undo() drops them on failure) */
    for (size_t i = 0; r == 0 && i < b->ntop; i++) {
        if (b->top[i].id == vec)
            r = SHARENA_EINVAL;
        else if (b->top[i].v.kind == SHARENA__V_NUMBER &&
                 !sharena__item_is_ref(b->top[i].v.w[0]))
            refs[i] = b->top[i].v.w[0]; /* stored in the item */
        else
            r = top_object(b, &b->top[i]);
        if (b->top[i].v.kind == SHARENA__V_REF)
            refs[i] = top_ref(&b->top[i]);
    }
    uint64_t *gone = NULL, ngone = 0;
    if (r == 0)
        r = sharena__vector_splice(a, vec, start, count, refs, b->ntop, &gone,
                                   &ngone);
    free(refs);
    if (r < 0)
        return undo(b, r);
    for (uint64_t i = 0; i < ngone; i++)
        if (sharena__item_is_ref(gone[i]) && (gone[i] & SHARENA__REF_OWNED))
            sharena__drop_ref(a, gone[i], 0);
    free(gone);
    build_free(b);
    return 0;
}
