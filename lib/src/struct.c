/* struct.c: shapes (field descriptors stored in the arena, so every
 * language sees names and types) and structs (one 8-byte cell per field).
 * A shape never changes after creation. A struct's string and bytes cells
 * hold ids of objects the struct owns and never change either; number and
 * bool cells are single atomic words written under the struct's lock.
 * A nullable field holds null when its bit in the struct's null bitmap is
 * set (its cell is then unused); a set of a value clears the bit in the
 * same write. */
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
    uint64_t index;   /* FIELD: which; FIND: found (UINT64_MAX: none) */
    const char *find; /* FIND: the name wanted */
    size_t nlen;
    char *name; /* FIELD: name out (may be NULL), cap bytes */
    size_t cap;
    int type;         /* FIELD */
    uint64_t size;    /* FIELD */
    bool nullable;    /* FIELD */
    uint64_t nfields; /* always */
    uint8_t *types;   /* ALL: every field's type, size, nullability */
    uint64_t *sizes;
    bool *nullables;
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
            o->nullables[i] = f.nullable;
        } else if (o->kind == SHAPE_FIND) {
            if (o->index == UINT64_MAX && f.name_len == o->nlen &&
                sharena__rcmp(f.name, o->find, o->nlen) == 0)
                o->index = i;
        } else if (o->kind == SHAPE_FIELD && i == o->index) {
            o->type = f.type;
            o->size = f.size;
            o->nullable = f.nullable;
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
    return t == SHARENA_T_STRUCT ? SHARENA_ECORRUPT
           : t < 0               ? t
                                 : SHARENA_ESTALE;
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
        f->flags = (uint8_t)d->fields[i].flags;
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
    const uint64_t *nulls; /* SHARENA__STRUCT_NULL_WORDS(n) words */
};

static void struct_init(sharena_arena *a, void *p, const void *ctx)
{
    (void)a;
    const struct cells *c = ctx;
    struct sharena__struct *st = p;
    st->shape = c->shape;
    st->nfields = c->n;
    memcpy(st->cells, c->cells, c->n * 8);
    memcpy(&st->cells[c->n], c->nulls, SHARENA__STRUCT_NULL_WORDS(c->n) * 8);
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
        if ((f->flags & ~SHARENA_FIELD_NULLABLE) ||
            ((f->flags & SHARENA_FIELD_NULLABLE) && f->type == SHARENA_T_BYTES))
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
    struct shape_op o = {
        .kind = SHAPE_FIELD, .index = index, .name = name, .cap = cap};
    int r = shape_do(a, id, &o);
    if (r < 0)
        return r;
    if (type)
        *type = o.type;
    if (size)
        *size = o.size;
    return 0;
}

int sharena_shape_field_flags(const sharena_arena *a, sharena_id id,
                              size_t index, sharena_field_flags *flags)
{
    struct shape_op o = {.kind = SHAPE_FIELD, .index = index};
    int r = shape_do(a, id, &o);
    if (r < 0)
        return r;
    if (flags)
        *flags = o.nullable ? SHARENA_FIELD_NULLABLE : (sharena_field_flags)0;
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
    bool nullables[SHARENA_FIELDS_MAX];
    struct shape_op o = {.kind = SHAPE_ALL,
                         .types = types,
                         .sizes = sizes,
                         .nullables = nullables};
    int r = sharena__read(a, shape, SHARENA_T_SHAPE, shape_read, &o);
    if (r < 0)
        return r;
    uint64_t n = o.nfields;
    uint64_t cells[SHARENA_FIELDS_MAX] = {0};
    uint64_t nulls[SHARENA__STRUCT_NULL_WORDS(SHARENA_FIELDS_MAX)] = {0};
    for (uint64_t i = 0; i < n && r == 0; i++) {
        if (nullables[i])
            nulls[i / 64] |= UINT64_C(1) << (i % 64);
        sharena_id child = 0;
        if (types[i] == SHARENA_T_STRING)
            r = sharena_string_new(a, "", 0, &child);
        else if (types[i] == SHARENA_T_BYTES)
            r = sharena_bytes_new(a, sizes[i], &child);
        cells[i] = child; /* ids of objects made here, 0 for the rest */
    }
    struct cells c = {shape, n, cells, nulls};
    if (r == 0)
        r = sharena__obj_new(a, SHARENA_T_STRUCT, SHARENA__STRUCT_SIZE(n), 0,
                             struct_init, &c, out);
    if (r < 0) {
        for (uint64_t i = 0; i < n; i++)
            if (cells[i])
                sharena_drop(a, cells[i], 0);
        return r;
    }
    return 0;
}

/* A field of a struct, as cell_at finds it. */
struct cell_ref {
    uint64_t *cell;  /* the field's cell */
    uint64_t *nullw; /* the bitmap word that holds its null bit */
    uint64_t bit;    /* its null bit in *nullw */
    bool null;       /* the bit, loaded once (checked against nullable) */
    bool nullable;
    int type; /* the field's type */
};

/* The cell of field @p field (of type @p want, or STRING or BYTES when
 * @p want is WANT_CHILD, or any type when WANT_ANY) of the struct in the
 * block at @p word. A null mark on a field whose shape does not allow it
 * is damage (SHARENA_ECORRUPT), never read as null. */
#define WANT_CHILD (-1)
#define WANT_ANY (-2)
SHARENA__SEQLOCK_READER
static int cell_at(const sharena_arena *a, uint64_t word, size_t field,
                   int want, struct cell_ref *c)
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
    if (f.type != want && want != WANT_ANY &&
        !(want == WANT_CHILD &&
          (f.type == SHARENA_T_STRING || f.type == SHARENA_T_BYTES)))
        return SHARENA_ETYPE;
    c->cell = &st.st->cells[field];
    c->nullw = &st.nulls[field / 64];
    c->bit = UINT64_C(1) << (field % 64);
    c->null = (__atomic_load_n(c->nullw, __ATOMIC_ACQUIRE) & c->bit) != 0;
    c->nullable = f.nullable;
    c->type = f.type;
    if (c->null && !c->nullable)
        return SHARENA_ECORRUPT;
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
    bool null;     /* the field holds null */
    bool nullable; /* its shape allows null */
    int type;      /* the field's type */
};

SHARENA__SEQLOCK_READER
static int cell_read(const sharena_arena *a, uint64_t word, void *ctx)
{
    struct cell_ctx *c = ctx;
    struct cell_ref ref;
    int r = cell_at(a, word, c->field, c->want, &ref);
    if (r == 0) {
        c->value = __atomic_load_n(ref.cell, __ATOMIC_ACQUIRE);
        c->null = ref.null;
        c->nullable = ref.nullable;
        c->type = ref.type;
    }
    return r;
}

/* Read a field's cell and null mark in one consistent read. */
static int cell_read_all(const sharena_arena *a, sharena_id id,
                         struct cell_ctx *c)
{
    return sharena__read(a, id, SHARENA_T_STRUCT, cell_read, c);
}

/* The cell of a field that must hold a value: a null one is SHARENA_ETYPE
 * (its type is null, not the one asked for). */
static int cell_get(const sharena_arena *a, sharena_id id, size_t field,
                    int want, uint64_t *out)
{
    struct cell_ctx c = {.field = field, .want = want};
    int r = cell_read_all(a, id, &c);
    if (r == 0 && c.null)
        r = SHARENA_ETYPE;
    if (r == 0)
        *out = c.value;
    return r;
}

/* Clear a set null mark (the struct's lock held, inside its write). */
static void clear_null(const struct cell_ref *c)
{
    if (c->null)
        __atomic_store_n(c->nullw,
                         __atomic_load_n(c->nullw, __ATOMIC_RELAXED) & ~c->bit,
                         __ATOMIC_RELEASE);
}

static int cell_set(sharena_arena *a, sharena_id id, size_t field, int want,
                    uint64_t v)
{
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, id, SHARENA_T_STRUCT, &s);
    if (nested < 0)
        return nested;
    struct cell_ref c;
    int r = cell_at(a, SHARENA__LD(s->word), field, want, &c);
    if (r == 0) {
        __atomic_store_n(c.cell, v, __ATOMIC_RELEASE);
        clear_null(&c);
    }
    sharena__write_end(a, s, nested);
    return r;
}

int sharena_struct_get_number(const sharena_arena *a, sharena_id st,
                              size_t field, double *out)
{
    uint64_t v = 0;
    int r = cell_get(a, st, field, SHARENA_T_NUMBER, &v);
    if (r == 0 && out)
        memcpy(out, &v, 8);
    return r;
}

int sharena_struct_set_number(sharena_arena *a, sharena_id st, size_t field,
                              double d)
{
    uint64_t v = 0;
    memcpy(&v, &d, 8);
    return cell_set(a, st, field, SHARENA_T_NUMBER, v);
}

int sharena_struct_get_bool(const sharena_arena *a, sharena_id st, size_t field,
                            bool *out)
{
    uint64_t v = 0;
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

int sharena_struct_field_id(const sharena_arena *a, sharena_id st, size_t field,
                            sharena_id *out)
{
    uint64_t v = 0;
    int r = cell_get(a, st, field, WANT_CHILD, &v);
    if (r == 0 && out)
        *out = v & SHARENA__REF_ID_MASK;
    return r;
}

int sharena_struct_get_string(const sharena_arena *a, sharena_id st,
                              size_t field, char *buf, size_t cap, size_t *len)
{
    uint64_t child = 0;
    int r = cell_get(a, st, field, SHARENA_T_STRING, &child);
    if (r < 0)
        return r;
    r = sharena_string_get(a, child & SHARENA__REF_ID_MASK, buf, cap, len);
    if (r != SHARENA_ESTALE && r != SHARENA_ETYPE)
        return r;
    /* a struct owns its strings: one gone means the struct is gone too
     * (dropped meanwhile) or corrupt */
    int t = sharena_type_of(a, st);
    return t == SHARENA_T_STRUCT ? SHARENA_ECORRUPT
           : t < 0               ? t
                                 : SHARENA_ESTALE;
}

int sharena_struct_set_string(sharena_arena *a, sharena_id st, size_t field,
                              const char *str, size_t len)
{
    /* Hold the struct's lock so its version moves with the field. */
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, st, SHARENA_T_STRUCT, &s);
    if (nested < 0)
        return nested;
    struct cell_ref c;
    int r = cell_at(a, SHARENA__LD(s->word), field, SHARENA_T_STRING, &c);
    if (r == 0) {
        r = sharena_string_set(a, SHARENA__LD(*c.cell) & SHARENA__REF_ID_MASK,
                               str, len);
        if (r == SHARENA_ESTALE || r == SHARENA_ETYPE)
            r = SHARENA_ECORRUPT;
        if (r == 0)
            clear_null(&c);
    }
    sharena__write_end(a, s, nested);
    return r;
}

int sharena_struct_set_null(sharena_arena *a, sharena_id st, size_t field)
{
    /* Refused before the write begins, so a refusal changes nothing, not
     * even the struct's version (a shape never changes: the answer holds). */
    struct cell_ctx pre = {.field = field, .want = WANT_ANY};
    int r = cell_read_all(a, st, &pre);
    if (r < 0)
        return r;
    if (!pre.nullable)
        return SHARENA_ETYPE;
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, st, SHARENA_T_STRUCT, &s);
    if (nested < 0)
        return nested;
    struct cell_ref c;
    r = cell_at(a, SHARENA__LD(s->word), field, WANT_ANY, &c);
    if (r == 0 && !c.nullable)
        r = SHARENA_ECORRUPT; /* the shape said otherwise a moment ago */
    if (r == 0 && !c.null)
        __atomic_store_n(c.nullw,
                         __atomic_load_n(c.nullw, __ATOMIC_RELAXED) | c.bit,
                         __ATOMIC_RELEASE);
    sharena__write_end(a, s, nested);
    return r;
}

int sharena_struct_get_value(const sharena_arena *a, sharena_id st,
                             size_t field, char *buf, size_t cap,
                             sharena_value *out)
{
    if (!out || (cap && !buf))
        return SHARENA_EINVAL;
    out->type = 0;
    struct cell_ctx c = {.field = field, .want = WANT_ANY};
    int r = cell_read_all(a, st, &c);
    if (r < 0)
        return r;
    out->id = 0;
    out->len = 0;
    if (c.null) {
        out->type = SHARENA_T_NULL;
        return 0;
    }
    switch (c.type) {
    case SHARENA_T_NUMBER:
        memcpy(&out->number, &c.value, 8);
        break;
    case SHARENA_T_BOOL:
        out->boolean = c.value != 0;
        break;
    case SHARENA_T_BYTES:
        out->id = c.value & SHARENA__REF_ID_MASK;
        break;
    default: { /* STRING: the owned string's text, as get_string reads it */
        sharena_value v;
        r = sharena_value_read(a, c.value & SHARENA__REF_ID_MASK, buf, cap, &v);
        if (r == 0 || r == SHARENA_ERANGE) {
            if (v.type != SHARENA_T_STRING)
                r = SHARENA_ECORRUPT;
            out->len = v.len;
            out->id = v.id;
            break;
        }
        if (r != SHARENA_ESTALE && r != SHARENA_ENOENT)
            return r;
        /* a struct owns its strings: one gone means the struct is gone too
         * (dropped meanwhile) or corrupt */
        int t = sharena_type_of(a, st);
        return t == SHARENA_T_STRUCT ? SHARENA_ECORRUPT
               : t < 0               ? t
                                     : SHARENA_ESTALE;
    }
    }
    if (r == 0 || r == SHARENA_ERANGE)
        out->type = c.type;
    return r;
}
