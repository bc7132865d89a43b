/* Corruption: random bytes over random parts of a populated arena (header,
 * handle table, heap); every API call afterwards returns data or an error,
 * never a signal or a hang; fsck --repair then gives a usable arena. Many
 * seeds, each in its own process (Criterion isolates them). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sharena.h"

static void populate(sharena_arena *a, sharena_id *m, sharena_id *v)
{
    sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, m, NULL);
    sharena_root_ensure(a, "v", SHARENA_T_VECTOR, 0, v, NULL);
    for (int i = 0; i < 200; i++) {
        char k[16];
        int n = snprintf(k, sizeof k, "k%d", i);
        sharena_map_set_string(a, *m, k, (size_t)n, "some value", 10);
        sharena_id x;
        sharena_number_new(a, i, &x);
        sharena_vector_push(a, *v, x, SHARENA_OWNED);
    }
}

static void use_everything(sharena_arena *a, sharena_id m, sharena_id v)
{
    char buf[64];
    size_t len;
    uint64_t cur = 0, n = 0;
    sharena_id x;
    for (int i = 0; i < 300 && sharena_map_next(a, m, &cur, buf, sizeof buf,
                                                &len, &x, NULL) == 0;
         i++)
        sharena_string_get(a, x, buf, sizeof buf, &len);
    sharena_vector_len(a, v, &n);
    for (uint64_t i = 0; i < n && i < 300; i++)
        if (sharena_vector_get(a, v, i, &x, NULL) == 0) {
            double d;
            sharena_number_get(a, x, &d);
        }
    sharena_map_set_number(a, m, "new", 3, 1);
    sharena_map_remove(a, m, "k5", 2, NULL);
    if (sharena_number_new(a, 1, &x) == 0 &&
        sharena_vector_push(a, v, x, SHARENA_OWNED) < 0)
        sharena_drop(a, x, 0);
    sharena_vector_pop(a, v, &x);
}

ParameterizedTestParameters(corrupt, scribbles)
{
    static int seeds[200];
    for (int i = 0; i < 200; i++)
        seeds[i] = i + 1;
    return cr_make_param_array(int, seeds, 200);
}

ParameterizedTest(int *seed, corrupt, scribbles, .timeout = 60)
{
    srand((unsigned)*seed);
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("corrupt", SHARENA_MIN_CAPACITY, &a), 0);
    sharena_id m, v;
    populate(a, &m, &v);
    sharena_arena_info info;
    cr_assert_eq(sharena_arena_info_get(a, &info), 0);
    uint8_t *base = sharena_arena_base(a);
    /* one region per seed class: header, handle table start, heap */
    for (int k = 0; k < 64; k++) {
        size_t at = (size_t)rand() % (*seed % 3 == 0   ? 256
                                      : *seed % 3 == 1 ? 16384
                                                       : info.capacity);
        base[at] = (uint8_t)rand();
    }
    use_everything(a, m, v); /* errors are fine; signals and hangs are not */
    sharena_fsck_report rep;
    sharena_fsck(a, SHARENA_FSCK_REPAIR, NULL, NULL, &rep);
    int again = sharena_fsck(a, 0, NULL, NULL, &rep);
    /* after repair the arena is consistent (or reported unusable), and a
     * consistent one is usable */
    if (again == 0) {
        sharena_id x;
        sharena_id d2;
        if (sharena_root_ensure(a, "fresh", SHARENA_T_MAP, 0, &d2, NULL) == 0) {
            int w = sharena_map_set_number(a, d2, "k", 1, 1);
            cr_expect_eq(w, 0, "seed %d: %s", *seed, sharena_strerror(w));
        }
        (void)x;
    }
    sharena_arena_close(a);
}
