/*
 * view.h: checked views of the objects in an arena (docs/format.md, "Reading
 * the format").
 *
 * An object's fields are reached only through these accessors. Each loads
 * the fields it checks once (SHARENA__LD), checks them against the block the
 * object lives in, and returns the checked values in a local struct; the
 * caller uses those values, never `p->cap` again. A pointer is formed only
 * from checked values, and [data, data + len) always lies inside the block
 * (so inside the mapping), whatever another process writes meanwhile. A
 * second look at a field is a second accessor call (or SHARENA__LD), visible
 * in review, and is checked again.
 *
 * A view is a snapshot, not a lock: under the seqlock (sharena__read) it is
 * confirmed or discarded afterwards; under the object's lock a peer that
 * ignores the lock can still change the memory, but not the view's bounds.
 */
#ifndef SHARENA_VIEW_H
#define SHARENA_VIEW_H

#include "internal.h"

/* STRING payload and map key block: {len, data[len]}. */
struct sharena__text_view {
    const char *data;
    uint64_t len; /* <= block - 8 */
};
SHARENA__SEQLOCK_READER static inline bool
sharena__text_at(const sharena_arena *a, uint64_t off,
                 struct sharena__text_view *v)
{
    uint64_t have = sharena__payload_size(a, off);
    if (SHARENA__UNLIKELY(have < sizeof(struct sharena__string)))
        return false;
    const struct sharena__string *p = (const void *)(a->base + off);
    uint64_t len = SHARENA__LD(p->len);
    if (SHARENA__UNLIKELY(len > have - sizeof *p))
        return false;
    v->data = p->data;
    v->len = len;
    return true;
}

/* Copy a STRING payload out (a sharena__read callback, string.c): the
 * length always, the text NUL-terminated when it fits in @p cap (else
 * SHARENA_ERANGE). Used by sharena_string_get and the typed reads. */
struct sharena__text_copy {
    char *buf;
    size_t cap;
    uint64_t len;
};
int sharena__text_copy_read(const sharena_arena *a, uint64_t word, void *ctx);

/* BYTES payload: {size, reserved, data[size]}. */
struct sharena__bytes_view {
    uint8_t *data;
    uint64_t size; /* <= block - 16 */
};
static inline bool sharena__bytes_at(const sharena_arena *a, uint64_t off,
                                     struct sharena__bytes_view *v)
{
    uint64_t have = sharena__payload_size(a, off);
    if (SHARENA__UNLIKELY(have < sizeof(struct sharena__bytes)))
        return false;
    struct sharena__bytes *p = (void *)(a->base + off);
    uint64_t size = SHARENA__LD(p->size);
    if (SHARENA__UNLIKELY(size > have - sizeof *p))
        return false;
    v->data = p->data;
    v->size = size;
    return true;
}

/* MAP table: {count, cap, pend_count, pend_hole, index[2 cap],
 * entries[cap]}. `count` is not part of the view: whoever needs it loads
 * it once and checks it against `cap`. */
struct sharena__map_view {
    struct sharena__map *m;
    uint32_t *idx;                /* 2 * cap index slots */
    struct sharena__map_entry *e; /* cap entries */
    uint64_t off;                 /* the table's payload offset */
    uint64_t cap; /* a power of two in [MIN_CAP, MAX_CAP]; fits the block */
};
SHARENA__SEQLOCK_READER static inline bool
sharena__map_at(const sharena_arena *a, uint64_t off,
                struct sharena__map_view *v)
{
    uint64_t have = sharena__payload_size(a, off);
    if (SHARENA__UNLIKELY(have < sizeof(struct sharena__map)))
        return false;
    struct sharena__map *m = (void *)(a->base + off);
    uint64_t cap = SHARENA__LD(m->cap);
    if (SHARENA__UNLIKELY(cap < SHARENA__MAP_MIN_CAP ||
                          cap > SHARENA__MAP_MAX_CAP || (cap & (cap - 1)) ||
                          SHARENA__MAP_BYTES(cap) > have))
        return false;
    v->m = m;
    v->idx = m->index;
    v->e = (void *)((char *)m + SHARENA__MAP_ENTRIES(cap));
    v->off = off;
    v->cap = cap;
    return true;
}

/* A map entry's key, loaded once: inline bytes or a checked key block. */
SHARENA__SEQLOCK_READER static inline bool
sharena__map_key_at(const sharena_arena *a, const struct sharena__map_entry *e,
                    struct sharena__text_view *k)
{
    uint8_t klen = SHARENA__LD(e->klen);
    if (SHARENA__LIKELY(klen <= SHARENA__KEY_INLINE_MAX)) {
        k->data = (const char *)e->key.inl;
        k->len = klen;
        return true;
    }
    return klen == SHARENA__KEY_BLOCK &&
           sharena__text_at(a, SHARENA__LD(e->key.off), k);
}

/* A map entry's value, each field loaded once and checked: false when the
 * kind is unknown, a ref has id 0, a boolean is not 0 or 1, or a string is
 * longer than the room. */
SHARENA__SEQLOCK_READER static inline bool
sharena__map_value_at(const struct sharena__map_entry *e,
                      struct sharena__mval *v)
{
    v->kind = SHARENA__LD(e->vkind);
    v->len = SHARENA__LD(e->vlen);
    v->w[0] = SHARENA__LD(e->value.w[0]);
    v->w[1] = SHARENA__LD(e->value.w[1]);
    switch (v->kind) {
    case SHARENA__V_REF:
        return (v->w[0] & SHARENA__REF_ID_MASK) != 0;
    case SHARENA__V_NUMBER:
    case SHARENA__V_NULL:
        return true;
    case SHARENA__V_BOOL:
        return v->w[0] <= 1;
    case SHARENA__V_STRING:
        return v->len <= SHARENA__VALUE_INLINE_MAX;
    default:
        return false;
    }
}

/* VECTOR block: {len, cap, items[cap]}. */
struct sharena__vector_view {
    struct sharena__vector *v;
    uint64_t off;
    uint64_t cap; /* fits the block */
    uint64_t len; /* <= cap */
};
SHARENA__SEQLOCK_READER static inline bool
sharena__vector_at(const sharena_arena *a, uint64_t off,
                   struct sharena__vector_view *v)
{
    uint64_t have = sharena__payload_size(a, off);
    if (SHARENA__UNLIKELY(have < sizeof(struct sharena__vector)))
        return false;
    struct sharena__vector *p = (void *)(a->base + off);
    uint64_t cap = SHARENA__LD(p->cap), len = SHARENA__LD(p->len);
    if (SHARENA__UNLIKELY(cap > (have - sizeof *p) / 8 || len > cap))
        return false;
    v->v = p;
    v->off = off;
    v->cap = cap;
    v->len = len;
    return true;
}

/* STRUCT block: {shape, nfields, cells[nfields], nulls[words]}. */
struct sharena__struct_view {
    struct sharena__struct *st;
    uint64_t shape;   /* the shape's ref as stored (mask with REF_ID_MASK) */
    uint64_t nfields; /* <= SHARENA_FIELDS_MAX; cells and bitmap fit */
    uint64_t *nulls;  /* the null bitmap: SHARENA__STRUCT_NULL_WORDS words */
};
SHARENA__SEQLOCK_READER static inline bool
sharena__struct_at(const sharena_arena *a, uint64_t off,
                   struct sharena__struct_view *v)
{
    uint64_t have = sharena__payload_size(a, off);
    if (SHARENA__UNLIKELY(have < sizeof(struct sharena__struct)))
        return false;
    struct sharena__struct *p = (void *)(a->base + off);
    uint64_t n = SHARENA__LD(p->nfields);
    if (SHARENA__UNLIKELY(n > SHARENA_FIELDS_MAX ||
                          SHARENA__STRUCT_SIZE(n) > have))
        return false;
    v->st = p;
    v->shape = SHARENA__LD(p->shape);
    v->nfields = n;
    v->nulls = &p->cells[n];
    return true;
}

/* SHAPE block: {nfields, reserved, fields[nfields]}. */
struct sharena__shape_view {
    const struct sharena__shape *sh;
    uint64_t nfields; /* <= SHARENA_FIELDS_MAX; fits the block */
};
SHARENA__SEQLOCK_READER static inline bool
sharena__shape_at(const sharena_arena *a, uint64_t off,
                  struct sharena__shape_view *v)
{
    uint64_t have = sharena__payload_size(a, off);
    if (SHARENA__UNLIKELY(have < sizeof(struct sharena__shape)))
        return false;
    const struct sharena__shape *p = (const void *)(a->base + off);
    uint64_t n = SHARENA__LD(p->nfields);
    if (SHARENA__UNLIKELY(n > SHARENA_FIELDS_MAX ||
                          n > (have - sizeof *p) /
                                  sizeof(struct sharena__field)))
        return false;
    v->sh = p;
    v->nfields = n;
    return true;
}

/* One field descriptor of a shape view: index < view's nfields. */
struct sharena__field_view {
    const char *name; /* name_len bytes (not NUL-terminated in the view) */
    uint8_t name_len; /* 1..SHARENA_FIELD_NAME_MAX */
    int type;         /* STRING, NUMBER, BOOL or BYTES */
    bool nullable;    /* SHARENA__FIELD_NULLABLE (never on a BYTES field) */
    uint64_t size;    /* BYTES: the buffer size (unchecked: a request) */
};
SHARENA__SEQLOCK_READER static inline bool
sharena__field_at(const struct sharena__shape_view *sv, uint64_t index,
                  struct sharena__field_view *f)
{
    if (SHARENA__UNLIKELY(index >= sv->nfields))
        return false;
    const struct sharena__field *p = &sv->sh->fields[index];
    uint8_t len = SHARENA__LD(p->name_len), type = SHARENA__LD(p->type);
    uint8_t flags = SHARENA__LD(p->flags);
    if (SHARENA__UNLIKELY(len == 0 || len > SHARENA_FIELD_NAME_MAX ||
                          (type != SHARENA_T_STRING &&
                           type != SHARENA_T_NUMBER && type != SHARENA_T_BOOL &&
                           type != SHARENA_T_BYTES)))
        return false;
    if (SHARENA__UNLIKELY(
            (flags & ~SHARENA__FIELD_FLAGS_KNOWN) ||
            ((flags & SHARENA__FIELD_NULLABLE) && type == SHARENA_T_BYTES)))
        return false;
    f->name = p->name;
    f->name_len = len;
    f->type = type;
    f->nullable = (flags & SHARENA__FIELD_NULLABLE) != 0;
    f->size = SHARENA__LD(p->size);
    return true;
}

#endif /* SHARENA_VIEW_H */
