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

/* Read what @p lookup finds, looking up again while it keeps finding a
 * value that was dropped before it could be read. */
#define READ_ENTRY(lookup)                                                     \
    do {                                                                       \
        sharena_id v = 0, prev = 0;                                            \
        for (unsigned n = 0; n < VALUE_RELOOKUPS; n++) {                       \
            int r_ = (lookup);                                                 \
            if (r_ < 0)                                                        \
                return r_;                                                     \
            if (v == prev)                                                     \
                return SHARENA_ESTALE; /* dangling: stale at rest */           \
            r_ = sharena_value_read(a, v, buf, cap, out);                      \
            if (SHARENA__LIKELY(r_ != SHARENA_ESTALE))                         \
                return r_;                                                     \
            prev = v; /* replaced or removed meanwhile? look again */          \
        }                                                                      \
        return SHARENA_EBUSY;                                                  \
    } while (0)

int sharena_map_get_value(const sharena_arena *a, sharena_id map,
                          const char *key, size_t klen, char *buf, size_t cap,
                          sharena_value *out)
{
    if (!out || (cap && !buf))
        return SHARENA_EINVAL;
    READ_ENTRY(sharena_map_get(a, map, key, klen, &v));
}

int sharena_vector_get_value(const sharena_arena *a, sharena_id vec,
                             uint64_t index, char *buf, size_t cap,
                             sharena_value *out)
{
    if (!out || (cap && !buf))
        return SHARENA_EINVAL;
    out->type = 0;
    /* READ_ENTRY's loop, with a number in place read from the item itself
     * (no promotion: it has no id, out->id is 0) */
    sharena_id prev = 0;
    for (unsigned n = 0; n < VALUE_RELOOKUPS; n++) {
        uint64_t item;
        int r = sharena__vector_item(a, vec, index, &item);
        if (r < 0)
            return r;
        if (!sharena__item_is_ref(item)) {
            out->type = SHARENA_T_NUMBER;
            out->id = 0;
            memcpy(&out->number, &item, 8);
            return 0;
        }
        sharena_id v = item & SHARENA__REF_ID_MASK;
        if (v == prev)
            return SHARENA_ESTALE; /* dangling: stale at rest */
        r = sharena_value_read(a, v, buf, cap, out);
        if (SHARENA__LIKELY(r != SHARENA_ESTALE))
            return r;
        prev = v; /* replaced or removed meanwhile? look again */
    }
    return SHARENA_EBUSY;
}
