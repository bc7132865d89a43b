/* number.c: numbers and booleans live in the slot's word itself: a read is
 * one atomic load plus a generation check; writes take the object's lock so
 * that a concurrent drop can never have its slot overwritten. */
#include "internal.h"

#include <math.h>

static int word_get(const sharena_arena *a, sharena_id id, int type,
                    uint64_t *out)
{
    struct sharena__slot *s;
    int r = sharena__resolve(a, id, type, &s);
    if (SHARENA__UNLIKELY(r < 0))
        return r;
    uint64_t w = __atomic_load_n(&s->word, __ATOMIC_ACQUIRE);
    if (SHARENA__UNLIKELY(__atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) !=
                              sharena__id_gen(id) ||
                          SHARENA__LD(s->type) != type))
        return SHARENA_ESTALE;
    *out = w;
    return 0;
}

int sharena_number_new(sharena_arena *a, double v, sharena_id *out)
{
    if (!a || !out)
        return SHARENA_EINVAL;
    return sharena__obj_new(a, SHARENA_T_NUMBER, 0, sharena__d2u(v), NULL, NULL,
                            out);
}

int sharena_number_get(const sharena_arena *a, sharena_id id, double *out)
{
    uint64_t w;
    if (!out)
        return SHARENA_EINVAL;
    int r = word_get(a, id, SHARENA_T_NUMBER, &w);
    if (r == 0)
        *out = sharena__u2d(w);
    return r;
}

int sharena_number_set(sharena_arena *a, sharena_id id, double v)
{
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, id, SHARENA_T_NUMBER, &s);
    if (nested < 0)
        return nested;
    __atomic_store_n(&s->word, sharena__d2u(v), __ATOMIC_RELAXED);
    sharena__write_end(a, s, nested);
    return 0;
}

int sharena_number_add(sharena_arena *a, sharena_id id, double delta,
                       double *result)
{
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, id, SHARENA_T_NUMBER, &s);
    if (nested < 0)
        return nested;
    double v = sharena__u2d(SHARENA__LD(s->word)) + delta;
    __atomic_store_n(&s->word, sharena__d2u(v), __ATOMIC_RELAXED);
    sharena__write_end(a, s, nested);
    if (result)
        *result = v;
    return 0;
}

int sharena__add_exact(double cur, double delta, double *sum)
{
    /* TwoSum: err is what rounding lost from cur + delta (an infinite or
     * NaN operand is float arithmetic, not counting: it goes through) */
    double v = cur + delta, bb = v - cur;
    double err = (cur - (v - bb)) + (delta - bb);
    if (isfinite(v) && (err != 0 || v > 0x1p53 || v < -0x1p53)) {
        *sum = cur;
        return SHARENA_EOVERFLOW;
    }
    *sum = v;
    return 0;
}

int sharena_number_add_exact(sharena_arena *a, sharena_id id, double delta,
                             double *result)
{
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, id, SHARENA_T_NUMBER, &s);
    if (nested < 0)
        return nested;
    double v;
    int r = sharena__add_exact(sharena__u2d(SHARENA__LD(s->word)), delta, &v);
    if (r == 0)
        __atomic_store_n(&s->word, sharena__d2u(v), __ATOMIC_RELAXED);
    sharena__write_end(a, s, nested);
    if (result)
        *result = v;
    return r;
}

int sharena_number_cas(sharena_arena *a, sharena_id id, double expected,
                       double desired, bool *swapped, double *actual)
{
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, id, SHARENA_T_NUMBER, &s);
    if (nested < 0)
        return nested;
    uint64_t cur = SHARENA__LD(s->word);
    bool ok = cur == sharena__d2u(expected);
    if (ok)
        __atomic_store_n(&s->word, sharena__d2u(desired), __ATOMIC_RELAXED);
    sharena__write_end(a, s, nested);
    if (swapped)
        *swapped = ok;
    if (actual)
        *actual = sharena__u2d(cur);
    return 0;
}

int sharena_bool_new(sharena_arena *a, bool v, sharena_id *out)
{
    if (!a || !out)
        return SHARENA_EINVAL;
    return sharena__obj_new(a, SHARENA_T_BOOL, 0, v ? 1 : 0, NULL, NULL, out);
}

int sharena_null_new(sharena_arena *a, sharena_id *out)
{
    if (!a || !out)
        return SHARENA_EINVAL;
    return sharena__obj_new(a, SHARENA_T_NULL, 0, 0, NULL, NULL, out);
}

int sharena_bool_get(const sharena_arena *a, sharena_id id, bool *out)
{
    uint64_t w;
    if (!out)
        return SHARENA_EINVAL;
    int r = word_get(a, id, SHARENA_T_BOOL, &w);
    if (r == 0)
        *out = w != 0;
    return r;
}

int sharena_bool_set(sharena_arena *a, sharena_id id, bool v)
{
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, id, SHARENA_T_BOOL, &s);
    if (nested < 0)
        return nested;
    __atomic_store_n(&s->word, v ? 1 : 0, __ATOMIC_RELAXED);
    sharena__write_end(a, s, nested);
    return 0;
}
