/* struct.c: shapes (field descriptors stored in the arena, so every
 * language sees names and types) and structs (one 8-byte cell per field).
 * A shape never changes after creation. A struct's string and bytes cells
 * hold ids of objects the struct owns and never change either; number and
 * bool cells are single atomic words written under the struct's lock. */
#include "internal.h"

static int shape_at(const sharena_arena *a, sharena_id id,
                    const struct sharena__shape **out);

/* A struct's shape: the cell must name a SHAPE (never another struct). */
static int struct_shape_at(const sharena_arena *a, uint64_t shape,
                           const struct sharena__shape **out)
{
    int t = sharena_type_of(a, shape & SHARENA__REF_ID_MASK);
    if (t != SHARENA_T_SHAPE)
        return SHARENA_ECORRUPT;
    return shape_at(a, shape & SHARENA__REF_ID_MASK, out);
}

static int shape_at(const sharena_arena *a, sharena_id id,
                    const struct sharena__shape **out)
{
    struct sharena__slot *s;
    int r = sharena__resolve(a, id, 0, &s);
    if (r < 0)
        return r;
    if (s->type == SHARENA_T_STRUCT) {
        uint64_t have = sharena__payload_size(a, s->word);
        if (have < sizeof(struct sharena__struct))
            return SHARENA_ECORRUPT;
        const struct sharena__struct *st = (const void *)(a->base + s->word);
        return struct_shape_at(a, st->shape, out) == 0 ? 0
                                                       : SHARENA_ECORRUPT;
    }
    if (s->type != SHARENA_T_SHAPE)
        return SHARENA_ETYPE;
    uint64_t have = sharena__payload_size(a, s->word);
    const struct sharena__shape *sh = (const void *)(a->base + s->word);
    if (have < sizeof *sh || sh->nfields > SHARENA_FIELDS_MAX ||
        sh->nfields * sizeof(struct sharena__field) > have - sizeof *sh)
        return SHARENA_ECORRUPT;
    for (uint64_t i = 0; i < sh->nfields; i++) {
        const struct sharena__field *f = &sh->fields[i];
        if (f->name_len == 0 || f->name_len > SHARENA_FIELD_NAME_MAX ||
            (f->type != SHARENA_T_STRING && f->type != SHARENA_T_NUMBER &&
             f->type != SHARENA_T_BOOL && f->type != SHARENA_T_BYTES))
            return SHARENA_ECORRUPT;
    }
    *out = sh;
    return 0;
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
        f->name_len = (uint8_t)strlen(d->fields[i].name);
        f->size = d->fields[i].type == SHARENA_T_BYTES ? d->fields[i].size : 0;
        memcpy(f->name, d->fields[i].name, f->name_len);
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
    const struct sharena__shape *sh;
    int r = shape_at(a, id, &sh);
    if (r == 0 && n)
        *n = sh->nfields;
    return r;
}

int sharena_shape_field(const sharena_arena *a, sharena_id id, size_t index,
                        char *name, size_t cap, int *type, uint64_t *size)
{
    const struct sharena__shape *sh;
    int r = shape_at(a, id, &sh);
    if (r < 0)
        return r;
    if (index >= sh->nfields)
        return SHARENA_ERANGE;
    const struct sharena__field *f = &sh->fields[index];
    if (name) {
        if (cap <= f->name_len)
            return SHARENA_ERANGE;
        memcpy(name, f->name, f->name_len);
        name[f->name_len] = 0;
    }
    if (type)
        *type = f->type;
    if (size)
        *size = f->size;
    return 0;
}

int sharena_shape_find(const sharena_arena *a, sharena_id id, const char *name,
                       size_t nlen, size_t *index)
{
    const struct sharena__shape *sh;
    int r = shape_at(a, id, &sh);
    if (r < 0)
        return r;
    if (!name)
        return SHARENA_EINVAL;
    for (uint64_t i = 0; i < sh->nfields; i++) {
        if (sh->fields[i].name_len == nlen &&
            memcmp(sh->fields[i].name, name, nlen) == 0) {
            if (index)
                *index = i;
            return 0;
        }
    }
    return SHARENA_ENOENT;
}

int sharena_struct_new(sharena_arena *a, sharena_id shape, sharena_id *out)
{
    if (!a || !out)
        return SHARENA_EINVAL;
    if (a->readonly)
        return SHARENA_EROFS;
    struct sharena__slot *ss;
    int r = sharena__resolve(a, shape, SHARENA_T_SHAPE, &ss);
    if (r < 0)
        return r;
    const struct sharena__shape *sh;
    r = shape_at(a, shape, &sh);
    if (r < 0)
        return r;
    uint64_t n = sh->nfields;
    uint64_t cells[SHARENA_FIELDS_MAX] = {0};
    for (uint64_t i = 0; i < n && r == 0; i++) {
        sharena_id child = 0;
        if (sh->fields[i].type == SHARENA_T_STRING)
            r = sharena_string_new(a, "", 0, &child);
        else if (sh->fields[i].type == SHARENA_T_BYTES)
            r = sharena_bytes_new(a, sh->fields[i].size, &child);
        cells[i] = child;
    }
    struct cells c = {shape, n, cells};
    if (r == 0)
        r = sharena__obj_new(a, SHARENA_T_STRUCT,
                             sizeof(struct sharena__struct) + n * 8, 0,
                             struct_init, &c, out);
    if (r < 0) {
        for (uint64_t i = 0; i < n; i++)
            if (cells[i] && sh->fields[i].type != SHARENA_T_NUMBER &&
                sh->fields[i].type != SHARENA_T_BOOL)
                sharena_drop(a, cells[i], 0);
        return r;
    }
    return 0;
}

/* Resolve struct + field; *cell points at the field's 8-byte cell. */
static int field_at(const sharena_arena *a, sharena_id id, size_t field,
                    int want, struct sharena__slot **sp, uint64_t **cell)
{
    struct sharena__slot *s;
    int r = sharena__resolve(a, id, SHARENA_T_STRUCT, &s);
    if (r < 0)
        return r;
    uint64_t have = sharena__payload_size(a, s->word);
    struct sharena__struct *st = (void *)(a->base + s->word);
    if (have < sizeof *st || st->nfields > (have - sizeof *st) / 8)
        return SHARENA_ECORRUPT;
    const struct sharena__shape *sh;
    r = struct_shape_at(a, st->shape, &sh);
    if (r < 0)
        return r;
    if (sh->nfields != st->nfields)
        return SHARENA_ECORRUPT;
    if (field >= st->nfields)
        return SHARENA_ERANGE;
    if (sh->fields[field].type != want)
        return SHARENA_ETYPE;
    *sp = s;
    *cell = &st->cells[field];
    return 0;
}

int sharena_struct_shape(const sharena_arena *a, sharena_id id,
                         sharena_id *shape)
{
    struct sharena__slot *s;
    int r = sharena__resolve(a, id, SHARENA_T_STRUCT, &s);
    if (r < 0)
        return r;
    uint64_t have = sharena__payload_size(a, s->word);
    if (have < sizeof(struct sharena__struct))
        return SHARENA_ECORRUPT;
    if (shape)
        *shape = ((const struct sharena__struct *)(a->base + s->word))->shape &
                 SHARENA__REF_ID_MASK;
    return 0;
}

static int cell_get(const sharena_arena *a, sharena_id id, size_t field,
                    int want, uint64_t *out)
{
    struct sharena__slot *s;
    uint64_t *cell;
    int r = field_at(a, id, field, want, &s, &cell);
    if (r < 0)
        return r;
    uint64_t v = __atomic_load_n(cell, __ATOMIC_ACQUIRE);
    if (__atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) != sharena__id_gen(id))
        return SHARENA_ESTALE;
    *out = v;
    return 0;
}

static int cell_set(sharena_arena *a, sharena_id id, size_t field, int want,
                    uint64_t v)
{
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, id, SHARENA_T_STRUCT, &s);
    if (nested < 0)
        return nested;
    uint64_t *cell;
    int r = field_at(a, id, field, want, &s, &cell);
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
    struct sharena__slot *s;
    uint64_t *cell;
    int r = field_at(a, st, field, SHARENA_T_STRING, &s, &cell);
    if (r == SHARENA_ETYPE)
        r = field_at(a, st, field, SHARENA_T_BYTES, &s, &cell);
    if (r < 0)
        return r;
    if (out)
        *out = *cell & SHARENA__REF_ID_MASK;
    return 0;
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
    return r == SHARENA_ESTALE || r == SHARENA_ETYPE ? SHARENA_ECORRUPT : r;
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
    int r = field_at(a, st, field, SHARENA_T_STRING, &s, &cell);
    if (r == 0) {
        r = sharena_string_set(a, *cell & SHARENA__REF_ID_MASK, str, len);
        if (r == SHARENA_ESTALE || r == SHARENA_ETYPE)
            r = SHARENA_ECORRUPT;
    }
    sharena__write_end(a, s, nested);
    return r;
}
