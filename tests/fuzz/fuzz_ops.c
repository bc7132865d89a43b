/* fuzz_ops.c: API operations on a valid arena whose bytes the input also
 * overwrites between operations (a hostile writer in another process).
 *
 * Input: a stream of ops [op u8][a u8][b u8][c u8] on a fresh local arena
 * holding a map, a vector, a string and a struct. Op 0..1: write byte c at
 * offset (a<<10 | b<<2) of the mapping (header, slot table, heap); others:
 * map set/get/remove, vector push/get/pop, string set/get, struct fields,
 * drop, root lookups, walk, fsck with repair. Every call must return (an
 * error is fine): no crash, no hang, no sanitizer report. */
#include "common.h"

#include <stdio.h>
#include <string.h>

static void null_line(void *ctx, const char *line)
{
    (void)ctx;
    (void)line;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sharena_arena *a;
    if (sharena_arena_create("fuzz-ops", SHARENA_MIN_CAPACITY, &a) < 0)
        abort();
    uint8_t *base = sharena_arena_base(a);
    sharena_id m = 0, v = 0, s = 0, shape = 0, st = 0, last = 0;
    sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL);
    sharena_root_ensure(a, "v", SHARENA_T_VECTOR, 0, &v, NULL);
    sharena_root_ensure(a, "s", SHARENA_T_STRING, 0, &s, NULL);
    sharena_field_def f[] = {{"name", SHARENA_T_STRING, 0},
                             {"n", SHARENA_T_NUMBER, 0},
                             {"raw", SHARENA_T_BYTES, 8}};
    if (sharena_shape_new(a, f, 3, &shape) == 0 &&
        sharena_struct_new(a, shape, &st) == 0)
        sharena_root_set(a, "st", st, SHARENA_OWNED);
    for (int i = 0; i < 8; i++) {
        char k[8];
        int n = snprintf(k, sizeof k, "k%d", i);
        sharena_map_set_number(a, m, k, (size_t)n, i);
    }
    for (size_t off = 0; off + 4 <= size; off += 4) {
        uint8_t op = data[off] % 16, x = data[off + 1], y = data[off + 2],
                z = data[off + 3];
        char key[8];
        int klen = snprintf(key, sizeof key, "k%u", x % 32);
        sharena_id id = 0;
        double d;
        char buf[64];
        size_t len;
        switch (op) {
        case 0:
        case 1: {
            size_t at = ((size_t)x << 10 | (size_t)y << 2) %
                        SHARENA_MIN_CAPACITY;
            base[at] = z;
            break;
        }
        case 2:
            sharena_map_set_number(a, m, key, (size_t)klen, z);
            break;
        case 3:
            if (sharena_map_get(a, m, key, (size_t)klen, &id) == 0)
                sharena_number_get(a, id, &d), last = id;
            break;
        case 4:
            sharena_map_remove(a, m, key, (size_t)klen, NULL);
            break;
        case 5:
            if (sharena_string_new(a, "value", (size_t)(z % 6), &id) == 0 &&
                sharena_vector_push(a, v, id, SHARENA_OWNED) < 0)
                sharena_drop(a, id, 0);
            break;
        case 6:
            if (sharena_vector_get(a, v, x, &id, NULL) == 0)
                sharena_string_get(a, id, buf, sizeof buf, &len), last = id;
            break;
        case 7:
            if (sharena_vector_pop(a, v, &id) == 0)
                sharena_drop(a, id, 0);
            break;
        case 8:
            sharena_string_set(a, s, "some text here", (size_t)(z % 15));
            break;
        case 9:
            sharena_string_get(a, s, buf, sizeof buf, &len);
            break;
        case 10:
            sharena_struct_set_number(a, st, x % 4, z);
            sharena_struct_set_string(a, st, y % 4, "abc", z % 4);
            break;
        case 11:
            sharena_struct_get_number(a, st, x % 4, &d);
            sharena_struct_get_string(a, st, y % 4, buf, sizeof buf, &len);
            break;
        case 12:
            if (last)
                sharena_drop(a, last, z & 1 ? SHARENA_DROP_RECURSIVE : 0);
            last = 0;
            break;
        case 13:
            sharena_root_get(a, "m", &id);
            sharena_root_get(a, "st", &id);
            break;
        case 14:
            fuzz_walk_roots(a);
            break;
        case 15: {
            sharena_fsck_report rep;
            sharena_fsck(a, z & 1 ? SHARENA_FSCK_REPAIR : 0, null_line, NULL,
                         &rep);
            break;
        }
        }
    }
    fuzz_walk_roots(a);
    sharena_arena_close(a);
    return 0;
}
