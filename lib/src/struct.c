/* struct.c: shapes (field descriptors stored in the arena, so every
 * language sees names and types) and structs (one 8-byte cell per field).
 * A shape never changes after creation. A struct's string and bytes cells
 * hold ids of objects the struct owns and never change either; number and
 * bool cells are single atomic words written under the struct's lock. */
#include "view.h"

/* The shape of a struct, for its cell accessors (inside the struct's
 * seqlock read, or under its lock): a shape never changes after creation,
 * so it is read without a seqlock of its own, and only the field used is
 * checked (sharena__field_at). The shape cell must name a valid SHAPE
 * (never another struct); anything else is a corrupt struct. */
SHARENA__SEQLOCK_READER
static int struct_shape(const sharena_arena *a, uint64_t ref,
                        struct sharena__shape_view *v)
{
    struct sharena__slot *s;
    if (sharena__resolve(a, ref & SHARENA__REF_ID_MASK, SHARENA_T_SHAPE, &s) <
            0 ||
        !sharena__shape_at(a, SHARENA__LD(s->word), v))
        return SHARENA_ECORRUPT;
    return 0;
}

/* The struct in the block at @p word (the slot's word, loaded once). */
SHARENA__SEQLOCK_READER
static int struct_view(const sharena_arena *a, uint64_t word, void *ctx)
{
    return sharena__struct_at(a, word, ctx) ? 0 : SHARENA_ECORRUPT;
}

/* The shape API reads a shape under its seqlock (a shape changes only when
 * it is dropped) and checks every field descriptor: one bad field makes the
 * shape corrupt. */
enum shape_op_kind { SHAPE_NFIELDS, SHAPE_FIELD, SHAPE_FIND, SHAPE_ALL };
struct shape_op {
    enum shape_op_kind kind;
    uint64_t index;     /* FIELD: which; FIND: found (UINT64_MAX: none) */
    const char *find;   /* FIND: the name wanted */
    size_t nlen;
    char *name;         /* FIELD: name out (may be NULL), cap bytes */
    size_t cap;
    int type;           /* FIELD */
    uint64_t size;      /* FIELD */
    uint64_t nfields;   /* always */
    uint8_t *types;     /* ALL: every field's type and size */
    uint64_t *sizes;
};

SHARENA__SEQLOCK_READER
static int shape_read(const sharena_arena *a, uint64_t word, void *ctx)
{
    struct shape_op *o = ctx;
    struct sharena__shape_view sh;
    if (!sharena__shape_at(a, word, &sh))
        return SHARENA_ECORRUPT;
    o->nfields = sh.nfields;
    if (o->kind == SHAPE_FIND)
        o->index = UINT64_MAX;
    int r = o->kind == SHAPE_FIELD && o->index >= sh.nfields ? SHARENA_ERANGE
                                                             : 0;
    for (uint64_t i = 0; i < sh.nfields; i++) {
        struct sharena__field_view f;
        if (!sharena__field_at(&sh, i, &f))
            return SHARENA_ECORRUPT;
        if (o->kind == SHAPE_ALL) {
            o->types[i] = (uint8_t)f.type;
            o->sizes[i] = f.size;
        } else if (o->kind == SHAPE_FIND) {
            if (o->index == UINT64_MAX && f.name_len == o->nlen &&
                sharena__rcmp(f.name, o->find, o->nlen) == 0)
                o->index = i;
        } else if (o->kind == SHAPE_FIELD && i == o->index) {
            o->type = f.type;
            o->size = f.size;
            if (o->name && o->cap <= f.name_len) {
                r = SHARENA_ERANGE;
            } else if (o->name) {
                sharena__rcopy(o->name, f.name, f.name_len);
                o->name[f.name_len] = 0;
            }
        }
    }
    return r;
}

/* Run @p o on the shape named by @p id: a SHAPE, or a STRUCT's shape. */
static int shape_do(const sharena_arena *a, sharena_id id, struct shape_op *o)
{
    int r = sharena__read(a, id, SHARENA_T_SHAPE, shape_read, o);
    if (r != SHARENA_ETYPE)
        return r;
    struct sharena__struct_view st = {0};
    r = sharena__read(a, id, SHARENA_T_STRUCT, struct_view, &st);
    if (r < 0)
        return r;
    r = sharena__read(a, st.shape & SHARENA__REF_ID_MASK, SHARENA_T_SHAPE,
                      shape_read, o);
    if (r == 0 || r == SHARENA_ERANGE)
        return r;
    /* a struct whose shape is not a good shape is corrupt, unless it was
     * dropped meanwhile */
    int t = sharena_type_of(a, id);
    return t == SHARENA_T_STRUCT ? SHARENA_ECORRUPT : t < 0 ? t : SHARENA_ESTALE;
}

struct defs {
    const sharena_field_def *fields;
    size_t n;
};

static void shape_init(sharena_arena *a, void *p, const void *ctx)
{
    (void)a;
    const struct defs *d = ctx;
    struct sharena__shape *sh = p;
    sh->nfields = d->n;
    sh->reserved = 0;
    for (size_t i = 0; i < d->n; i++) {
        struct sharena__field *f = &sh->fields[i];
        memset(f, 0, sizeof *f);
        f->type = (uint8_t)d->fields[i].type;
        size_t len = strlen(d->fields[i].name); /* checked: 1..55 */
        f->name_len = (uint8_t)len;
        f->size = d->fields[i].type == SHARENA_T_BYTES ? d->fields[i].size : 0;
        memcpy(f->name, d->fields[i].name, len);
    }
}

struct cells {
    sharena_id shape;
    uint64_t n;
    const uint64_t *cells;
};

static void struct_init(sharena_arena *a, void *p, const void *ctx)
{
    (void)a;
    const struct cells *c = ctx;
    struct sharena__struct *st = p;
    st->shape = c->shape;
    st->nfields = c->n;
    memcpy(st->cells, c->cells, c->n * 8);
}

int sharena_shape_new(sharena_arena *a, const sharena_field_def *fields,
                      size_t n, sharena_id *out)
{
    if (!a || !out || (n && !fields) || n > SHARENA_FIELDS_MAX)
        return SHARENA_EINVAL;
    for (size_t i = 0; i < n; i++) {
        const sharena_field_def *f = &fields[i];
        if (!f->name)
            return SHARENA_EINVAL;
        size_t len = strnlen(f->name, SHARENA_FIELD_NAME_MAX + 1);
        if (len == 0 || len > SHARENA_FIELD_NAME_MAX)
            return SHARENA_ENAMETOOLONG;
        if (!sharena_utf8_valid(f->name, len))
            return SHARENA_EILSEQ;
        if (f->type != SHARENA_T_STRING && f->type != SHARENA_T_NUMBER &&
            f->type != SHARENA_T_BOOL && f->type != SHARENA_T_BYTES)
            return SHARENA_EINVAL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(fields[j].name, f->name) == 0)
                return SHARENA_EEXIST;
    }
    struct defs d = {fields, n};
    return sharena__obj_new(a, SHARENA_T_SHAPE,
                            sizeof(struct sharena__shape) +
                                n * sizeof(struct sharena__field),
                            0, shape_init, &d, out);
}

int sharena_shape_nfields(const sharena_arena *a, sharena_id id, size_t *n)
{
    struct shape_op o = {.kind = SHAPE_NFIELDS};
    int r = shape_do(a, id, &o);
    if (r == 0 && n)
        *n = o.nfields;
    return r;
}

int sharena_shape_field(const sharena_arena *a, sharena_id id, size_t index,
                        char *name, size_t cap, sharena_type *type,
                        uint64_t *size)
{
    struct shape_op o = {.kind = SHAPE_FIELD, .index = index, .name = name,
                         .cap = cap};
    int r = shape_do(a, id, &o);
    if (r < 0)
        return r;
    if (type)
        *type = o.type;
    if (size)
        *size = o.size;
    return 0;
}

int sharena_shape_find(const sharena_arena *a, sharena_id id, const char *name,
                       size_t nlen, size_t *index)
{
    if (!name)
        return SHARENA_EINVAL;
    struct shape_op o = {.kind = SHAPE_FIND, .find = name, .nlen = nlen};
    int r = shape_do(a, id, &o);
    if (r < 0)
        return r;
    if (o.index == UINT64_MAX)
        return SHARENA_ENOENT;
    if (index)
        *index = o.index;
    return 0;
}

int sharena_struct_new(sharena_arena *a, sharena_id shape, sharena_id *out)
{
    if (!a || !out)
        return SHARENA_EINVAL;
    if (a->readonly)
        return SHARENA_EROFS;
    /* the fields, copied out of the shape once */
    uint8_t types[SHARENA_FIELDS_MAX];
    uint64_t sizes[SHARENA_FIELDS_MAX];
    struct shape_op o = {.kind = SHAPE_ALL, .types = types, .sizes = sizes};
    int r = sharena__read(a, shape, SHARENA_T_SHAPE, shape_read, &o);
    if (r < 0)
        return r;
    uint64_t n = o.nfields;
    uint64_t cells[SHARENA_FIELDS_MAX] = {0};
    for (uint64_t i = 0; i < n && r == 0; i++) {
        sharena_id child = 0;
        if (types[i] == SHARENA_T_STRING)
            r = sharena_string_new(a, "", 0, &child);
        else if (types[i] == SHARENA_T_BYTES)
            r = sharena_bytes_new(a, sizes[i], &child);
        cells[i] = child; /* ids of objects made here, 0 for the rest */
    }
    struct cells c = {shape, n, cells};
    if (r == 0)
        r = sharena__obj_new(a, SHARENA_T_STRUCT,
                             sizeof(struct sharena__struct) + n * 8, 0,
                             struct_init, &c, out);
    if (r < 0) {
        for (uint64_t i = 0; i < n; i++)
            if (cells[i])
                sharena_drop(a, cells[i], 0);
        return r;
    }
    return 0;
}

/* The cell of field @p field (of type @p want, or STRING or BYTES when
 * @p want is WANT_CHILD) of the struct in the block at @p word. */
#define WANT_CHILD (-1)
SHARENA__SEQLOCK_READER
static int cell_at(const sharena_arena *a, uint64_t word, size_t field,
                   int want, uint64_t **cell)
{
    struct sharena__struct_view st;
    struct sharena__shape_view sh;
    struct sharena__field_view f;
    if (!sharena__struct_at(a, word, &st) ||
        struct_shape(a, st.shape, &sh) < 0 || sh.nfields != st.nfields)
        return SHARENA_ECORRUPT;
    if (field >= st.nfields)
        return SHARENA_ERANGE;
    if (!sharena__field_at(&sh, field, &f))
        return SHARENA_ECORRUPT;
    if (f.type != want &&
        !(want == WANT_CHILD &&
          (f.type == SHARENA_T_STRING || f.type == SHARENA_T_BYTES)))
        return SHARENA_ETYPE;
    *cell = &st.st->cells[field];
    return 0;
}

int sharena_struct_shape(const sharena_arena *a, sharena_id id,
                         sharena_id *shape)
{
    struct sharena__struct_view st = {0};
    int r = sharena__read(a, id, SHARENA_T_STRUCT, struct_view, &st);
    if (r == 0 && shape)
        *shape = st.shape & SHARENA__REF_ID_MASK;
    return r;
}

struct cell_ctx {
    size_t field;
    int want;
    uint64_t value;
};

SHARENA__SEQLOCK_READER
static int cell_read(const sharena_arena *a, uint64_t word, void *ctx)
{
    struct cell_ctx *c = ctx;
    uint64_t *cell;
    int r = cell_at(a, word, c->field, c->want, &cell);
    if (r == 0)
        c->value = __atomic_load_n(cell, __ATOMIC_ACQUIRE);
    return r;
}

static int cell_get(const sharena_arena *a, sharena_id id, size_t field,
                    int want, uint64_t *out)
{
    struct cell_ctx c = {field, want, 0};
    int r = sharena__read(a, id, SHARENA_T_STRUCT, cell_read, &c);
    if (r == 0)
        *out = c.value;
    return r;
}

static int cell_set(sharena_arena *a, sharena_id id, size_t field, int want,
                    uint64_t v)
{
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, id, SHARENA_T_STRUCT, &s);
    if (nested < 0)
        return nested;
    uint64_t *cell;
    int r = cell_at(a, SHARENA__LD(s->word), field, want, &cell);
    if (r == 0)
        __atomic_store_n(cell, v, __ATOMIC_RELEASE);
    sharena__write_end(a, s, nested);
    return r;
}

int sharena_struct_get_number(const sharena_arena *a, sharena_id st,
                              size_t field, double *out)
{
    uint64_t v;
    int r = cell_get(a, st, field, SHARENA_T_NUMBER, &v);
    if (r == 0 && out)
        memcpy(out, &v, 8);
    return r;
}

int sharena_struct_set_number(sharena_arena *a, sharena_id st, size_t field,
                              double d)
{
    uint64_t v;
    memcpy(&v, &d, 8);
    return cell_set(a, st, field, SHARENA_T_NUMBER, v);
}

int sharena_struct_get_bool(const sharena_arena *a, sharena_id st,
                            size_t field, bool *out)
{
    uint64_t v;
    int r = cell_get(a, st, field, SHARENA_T_BOOL, &v);
    if (r == 0 && out)
        *out = v != 0;
    return r;
}

int sharena_struct_set_bool(sharena_arena *a, sharena_id st, size_t field,
                            bool b)
{
    return cell_set(a, st, field, SHARENA_T_BOOL, b ? 1 : 0);
}

int sharena_struct_field_id(const sharena_arena *a, sharena_id st,
                            size_t field, sharena_id *out)
{
    uint64_t v;
    int r = cell_get(a, st, field, WANT_CHILD, &v);
    if (r == 0 && out)
        *out = v & SHARENA__REF_ID_MASK;
    return r;
}

int sharena_struct_get_string(const sharena_arena *a, sharena_id st,
                              size_t field, char *buf, size_t cap,
                              size_t *len)
{
    uint64_t child;
    int r = cell_get(a, st, field, SHARENA_T_STRING, &child);
    if (r < 0)
        return r;
    r = sharena_string_get(a, child & SHARENA__REF_ID_MASK, buf, cap, len);
    if (r != SHARENA_ESTALE && r != SHARENA_ETYPE)
        return r;
    /* a struct owns its strings: one gone means the struct is gone too
     * (dropped meanwhile) or corrupt */
    int t = sharena_type_of(a, st);
    return t == SHARENA_T_STRUCT ? SHARENA_ECORRUPT : t < 0 ? t : SHARENA_ESTALE;
}

int sharena_struct_set_string(sharena_arena *a, sharena_id st, size_t field,
                              const char *str, size_t len)
{
    /* Hold the struct's lock so its version moves with the field. */
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, st, SHARENA_T_STRUCT, &s);
    if (nested < 0)
        return nested;
    uint64_t *cell;
    int r = cell_at(a, SHARENA__LD(s->word), field, SHARENA_T_STRING, &cell);
    if (r == 0) {
        r = sharena_string_set(a, SHARENA__LD(*cell) & SHARENA__REF_ID_MASK,
                               str, len);
        if (r == SHARENA_ESTALE || r == SHARENA_ETYPE)
            r = SHARENA_ECORRUPT;
    }
    sharena__write_end(a, s, nested);
    return r;
}
