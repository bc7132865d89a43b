/* value.c: typed reads (sharena_value_read and its map and vector forms).
 *
 * The one rule every binding needs to turn an arena value into a language
 * value: type and value come from one consistent read of the value's slot
 * (a slot's type never changes while its generation holds), and an entry
 * whose value was replaced and dropped between the container's read and
 * the value's is looked up again. Only the same id found stale twice in a
 * row is a dangling entry (SHARENA_ESTALE): a racing writer never shows
 * through as an error (docs/locking.md, "What a read reports"). */
#include "view.h"

/* Re-lookups of an entry whose value keeps being replaced before it can be
 * read; each one means a writer finished a replacement, so the bound is
 * only reached by an entry replaced without pause (SHARENA_EBUSY). */
#define VALUE_RELOOKUPS 10000

SHARENA__SEQLOCK_READER
int sharena_value_read(const sharena_arena *a, sharena_id id, char *buf,
                       size_t cap, sharena_value *out)
{
    if (!out || (cap && !buf))
        return SHARENA_EINVAL;
    struct sharena__slot *s;
    int r = sharena__resolve(a, id, 0, &s);
    if (SHARENA__UNLIKELY(r < 0))
        return r;
    uint8_t t = __atomic_load_n(&s->type, __ATOMIC_ACQUIRE);
    if (t == SHARENA_T_NUMBER || t == SHARENA_T_BOOL) {
        /* the word is the value: one load, confirmed by the generation
         * (a drop moves it before the slot is reused) */
        uint64_t w = __atomic_load_n(&s->word, __ATOMIC_ACQUIRE);
        if (SHARENA__UNLIKELY(__atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) !=
                                  sharena__id_gen(id) ||
                              SHARENA__LD(s->type) != t))
            return SHARENA_ESTALE;
        out->type = t;
        out->id = id;
        if (t == SHARENA_T_NUMBER)
            memcpy(&out->number, &w, 8);
        else
            out->boolean = w != 0;
        return 0;
    }
    if (t == SHARENA_T_STRING) {
        struct sharena__text_copy c = {buf, cap, 0};
        /* the slot is resolved already: one attempt here, and the whole
         * seqlock read (resolving again) only when it was not confirmed */
        uint32_t seq = sharena__read_begin(s);
        r = 1;
        if (SHARENA__LIKELY(!(seq & 1))) {
            r = sharena__text_copy_read(a, SHARENA__LD(s->word), &c);
            if (SHARENA__UNLIKELY(!sharena__read_ok(s, seq) ||
                                  __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) !=
                                      sharena__id_gen(id) ||
                                  SHARENA__LD(s->type) != t))
                r = 1;
        }
        if (SHARENA__UNLIKELY(r == 1))
            r = sharena__read(a, id, SHARENA_T_STRING, sharena__text_copy_read,
                              &c);
        if (r == 0 || r == SHARENA_ERANGE) {
            out->type = t;
            out->id = id;
            out->len = c.len;
        }
        return r;
    }
    /* containers, bytes, structs, shapes: the type, while the id holds */
    if (t == 0 ||
        __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) != sharena__id_gen(id))
        return SHARENA_ESTALE;
    if (t >= SHARENA_T__COUNT)
        return SHARENA_ECORRUPT;
    out->type = t;
    out->id = id;
    return 0;
}

int sharena__mval_read(const struct sharena__mval *v, char *buf, size_t cap,
                       sharena_value *out)
{
    out->id = 0; /* stored in its container: no id until one is asked for */
    out->len = 0;
    switch (v->kind) {
    case SHARENA__V_NUMBER:
        out->type = SHARENA_T_NUMBER;
        out->number = sharena__u2d(v->w[0]);
        return 0;
    case SHARENA__V_BOOL:
        out->type = SHARENA_T_BOOL;
        out->boolean = v->w[0] != 0;
        return 0;
    case SHARENA__V_NULL:
        out->type = SHARENA_T_NULL;
        return 0;
    case SHARENA__V_STRING:
        out->type = SHARENA_T_STRING;
        out->len = v->len;
        if (cap <= v->len)
            return SHARENA_ERANGE;
        memcpy(buf, v->w, v->len);
        buf[v->len] = 0;
        return 0;
    default:
        return SHARENA_ECORRUPT;
    }
}

/* Where a container's value comes from: fills *v with the value as
 * stored (a ref, or a value in the entry) for read_stored(). */
typedef int (*stored_fn)(const sharena_arena *a, const void *ctx,
                         struct sharena__mval *v);

/* Read the value @p lookup finds: one stored in its container directly; a
 * ref through sharena_value_read(), looking up again while it keeps
 * finding a value that was dropped before it could be read. */
static int read_stored(const sharena_arena *a, stored_fn lookup,
                       const void *ctx, char *buf, size_t cap,
                       sharena_value *out)
{
    sharena_id prev = 0;
    for (unsigned n = 0; n < VALUE_RELOOKUPS; n++) {
        struct sharena__mval v;
        int r = lookup(a, ctx, &v);
        if (r < 0)
            return r;
        if (v.kind != SHARENA__V_REF)
            return sharena__mval_read(&v, buf, cap, out);
        sharena_id id = v.w[0] & SHARENA__REF_ID_MASK;
        if (id == prev)
            return SHARENA_ESTALE; /* dangling: stale at rest */
        r = sharena_value_read(a, id, buf, cap, out);
        if (SHARENA__LIKELY(r != SHARENA_ESTALE))
            return r;
        prev = id; /* replaced or removed meanwhile? look again */
    }
    return SHARENA_EBUSY;
}

struct map_key {
    sharena_id map;
    const char *key;
    size_t klen;
};

static int map_key_lookup(const sharena_arena *a, const void *ctx,
                          struct sharena__mval *v)
{
    const struct map_key *k = ctx;
    return sharena__map_lookup(a, k->map, k->key, k->klen, v);
}

int sharena_map_get_value(const sharena_arena *a, sharena_id map,
                          const char *key, size_t klen, char *buf, size_t cap,
                          sharena_value *out)
{
    if (!out || (cap && !buf))
        return SHARENA_EINVAL;
    struct map_key k = {map, key, klen};
    return read_stored(a, map_key_lookup, &k, buf, cap, out);
}

struct map_cursor {
    sharena_id map;
    uint64_t cursor;
    char *key;
    size_t kcap, *klen;
};

static int map_cursor_lookup(const sharena_arena *a, const void *ctx,
                             struct sharena__mval *v)
{
    const struct map_cursor *c = ctx;
    return sharena__map_next_stored(a, c->map, c->cursor, c->key, c->kcap,
                                    c->klen, v);
}

int sharena_map_next_value(const sharena_arena *a, sharena_id map,
                           uint64_t *cursor, char *key, size_t kcap,
                           size_t *klen, char *buf, size_t cap,
                           sharena_value *out)
{
    if (!cursor || !out || (cap && !buf))
        return SHARENA_EINVAL;
    size_t kl = 0;
    struct map_cursor c = {map, *cursor, key, kcap, &kl};
    out->type = 0;
    int r = read_stored(a, map_cursor_lookup, &c, buf, cap, out);
    if (klen)
        *klen = kl;
    if (r == 0)
        *cursor += 1;
    return r;
}

struct vec_index {
    sharena_id vec;
    uint64_t index;
};

/* A vector item as stored: a ref, or a number in place (as a map entry's
 * NUMBER, so read_stored() treats both containers alike). */
static int vec_index_lookup(const sharena_arena *a, const void *ctx,
                            struct sharena__mval *v)
{
    const struct vec_index *x = ctx;
    uint64_t item;
    int r = sharena__vector_item(a, x->vec, x->index, &item);
    if (r < 0)
        return r;
    *v = (struct sharena__mval){sharena__item_is_ref(item) ? SHARENA__V_REF
                                                           : SHARENA__V_NUMBER,
                                0,
                                {item, 0}};
    return 0;
}

int sharena_vector_get_value(const sharena_arena *a, sharena_id vec,
                             uint64_t index, char *buf, size_t cap,
                             sharena_value *out)
{
    if (!out || (cap && !buf))
        return SHARENA_EINVAL;
    out->type = 0;
    struct vec_index x = {vec, index};
    return read_stored(a, vec_index_lookup, &x, buf, cap, out);
}
