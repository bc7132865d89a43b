/* Unit tests of the arena API: every type's operations and error paths,
 * ids and generations, full arenas, big maps, shapes, UTF-8, layouts. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sharena.h"

static sharena_arena *A;

static void up(void)
{
    cr_assert_eq(sharena_arena_create("unit", 0, &A), 0);
}
static void down(void)
{
    sharena_fsck_report rep;
    cr_expect_eq(sharena_fsck(A, 0, NULL, NULL, &rep), 0,
                 "fsck after the test");
    sharena_arena_close(A);
}
TestSuite(values, .init = up, .fini = down);

Test(values, strings_utf8_and_lengths)
{
    sharena_id s;
    const char *t = "h\xc3\xa9llo \xf0\x9f\x8e\x89";
    cr_assert_eq(sharena_string_new(A, t, strlen(t), &s), 0);
    char buf[64];
    size_t len;
    cr_assert_eq(sharena_string_get(A, s, buf, sizeof buf, &len), 0);
    cr_assert_eq(len, strlen(t));
    cr_assert_eq(memcmp(buf, t, len), 0);
    cr_assert_eq(sharena_string_len(A, s, &len), 0);
    cr_assert_eq(len, strlen(t));
    /* too small a buffer: an error with the needed length, nothing torn */
    cr_assert_eq(sharena_string_get(A, s, buf, 3, &len), SHARENA_ERANGE);
    /* invalid UTF-8 is refused at the edge, the old text stays */
    const char bad[][4] = {"\xc3", "\xff", "\xed\xa0\x80", "\xc0\xaf"};
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(sharena_string_set(A, s, bad[i], strlen(bad[i])),
                     SHARENA_EILSEQ, "bad sequence %zu", i);
    char *d;
    cr_assert_eq(sharena_string_dup(A, s, &d, &len), 0);
    cr_assert_str_eq(d, t);
    free(d);
    /* growing and shrinking in place keeps the id */
    char big[5000];
    memset(big, 'x', sizeof big);
    big[0] = 'a';
    big[sizeof big - 1] = 'z';
    /* both paths: text up to 4 KiB is set inside one arena-locked
     * section, longer text is copied outside it */
    static const size_t sizes[] = {4095, 4096, 4097, sizeof big, 1, 17};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        cr_assert_eq(sharena_string_set(A, s, big + sizeof big - n, n), 0);
        char *back;
        cr_assert_eq(sharena_string_dup(A, s, &back, &len), 0);
        cr_assert_eq(len, n);
        cr_assert_eq(memcmp(back, big + sizeof big - n, n), 0, "size %zu", n);
        free(back);
    }
    cr_assert_eq(sharena_string_set(A, s, "", 0), 0);
    cr_assert_eq(sharena_string_len(A, s, &len), 0);
    cr_assert_eq(len, 0);
    cr_assert(sharena_utf8_valid(t, strlen(t)));
    cr_assert_not(sharena_utf8_valid("\xe2\x82", 2));
}

Test(values, numbers_exact_and_atomic_ops)
{
    sharena_id n;
    const double v[] = {
        0.0, -0.0, 1.5, 1e308, -5e-324, INFINITY, 9007199254740993.0};
    cr_assert_eq(sharena_number_new(A, 0, &n), 0);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        double d;
        cr_assert_eq(sharena_number_set(A, n, v[i]), 0);
        cr_assert_eq(sharena_number_get(A, n, &d), 0);
        cr_assert_eq(memcmp(&d, &v[i], sizeof d), 0, "value %zu", i);
    }
    double r;
    cr_assert_eq(sharena_number_set(A, n, 10), 0);
    cr_assert_eq(sharena_number_add(A, n, 2.5, &r), 0);
    cr_assert_eq(r, 12.5);
    bool swapped;
    double actual;
    cr_assert_eq(sharena_number_cas(A, n, 1, 2, &swapped, &actual), 0);
    cr_assert_not(swapped);
    cr_assert_eq(actual, 12.5);
    cr_assert_eq(sharena_number_cas(A, n, 12.5, 2, &swapped, &actual), 0);
    cr_assert(swapped);
    cr_assert_eq(sharena_number_get(A, n, &r), 0);
    cr_assert_eq(r, 2);
    cr_assert_eq(sharena_number_set(A, n, NAN), 0);
    cr_assert_eq(sharena_number_get(A, n, &r), 0);
    cr_assert(isnan(r));
}

Test(values, bools_and_bytes)
{
    sharena_id b, x;
    bool v;
    cr_assert_eq(sharena_bool_new(A, true, &b), 0);
    cr_assert_eq(sharena_bool_get(A, b, &v), 0);
    cr_assert(v);
    cr_assert_eq(sharena_bool_set(A, b, false), 0);
    cr_assert_eq(sharena_bool_get(A, b, &v), 0);
    cr_assert_not(v);
    cr_assert_eq(sharena_bytes_new(A, 100, &x), 0);
    void *p;
    uint64_t size;
    cr_assert_eq(sharena_bytes_ptr(A, x, &p, &size), 0);
    cr_assert_eq(size, 100);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(((uint8_t *)p)[i], 0, "zeroed");
    memset(p, 7, 100); /* zero-copy writes */
    uint8_t out[4];
    cr_assert_eq(sharena_bytes_read(A, x, 96, out, 4), 0);
    cr_assert_eq(out[3], 7);
    cr_assert_eq(sharena_bytes_write(A, x, 0, "ab", 2), 0);
    cr_assert_eq(((uint8_t *)p)[1], 'b');
    /* bounds: never past the buffer */
    cr_assert_eq(sharena_bytes_read(A, x, 97, out, 4), SHARENA_ERANGE);
    cr_assert_eq(sharena_bytes_write(A, x, 100, "a", 1), SHARENA_ERANGE);
    cr_assert_eq(sharena_bytes_read(A, x, UINT64_MAX, out, 1), SHARENA_ERANGE);
}

Test(values, maps)
{
    sharena_id m, v, old = 0;
    cr_assert_eq(sharena_map_new(A, &m), 0);
    cr_assert_eq(sharena_map_get(A, m, "k", 1, &v), SHARENA_ENOENT);
    cr_assert_eq(sharena_map_set_number(A, m, "k", 1, 1), 0);
    cr_assert_eq(sharena_map_set_string(A, m, "s", 1, "x", 1), 0);
    cr_assert_eq(sharena_map_set_bool(A, m, "", 0, true), 0); /* empty key */
    uint64_t len;
    cr_assert_eq(sharena_map_len(A, m, &len), 0);
    cr_assert_eq(len, 3);
    /* a value the map does not own survives its removal */
    sharena_id mine;
    cr_assert_eq(sharena_number_new(A, 5, &mine), 0);
    cr_assert_eq(sharena_map_set(A, m, "mine", 4, mine, 0, &old), 0);
    cr_assert_eq(sharena_map_remove(A, m, "mine", 4, &old), 0);
    cr_assert_eq(old, mine);
    double d;
    cr_assert_eq(sharena_number_get(A, mine, &d), 0);
    /* an owned value is dropped with its key */
    cr_assert_eq(sharena_map_get(A, m, "k", 1, &v), 0);
    cr_assert_eq(sharena_map_remove(A, m, "k", 1, NULL), 0);
    cr_assert_eq(sharena_number_get(A, v, &d), SHARENA_ESTALE);
    cr_assert_eq(sharena_map_remove(A, m, "k", 1, NULL), SHARENA_ENOENT);
    cr_assert_eq(sharena_map_set_number(A, m, "\xff", 1, 1), SHARENA_EILSEQ);
    /* iteration sees every key once */
    uint64_t cur = 0;
    char key[16];
    size_t kl;
    int seen = 0;
    while (sharena_map_next(A, m, &cur, key, sizeof key, &kl, &v, NULL) == 0)
        seen++;
    cr_assert_eq(seen, 2);
    sharena_drop(A, mine, 0);
}

Test(values, map_of_a_million_keys, .timeout = 120)
{
    sharena_arena *big;
    cr_assert_eq(sharena_arena_create("big", 512ull << 20, &big), 0);
    sharena_id m, v;
    cr_assert_eq(sharena_map_new(big, &m), 0);
    char key[32];
    for (int i = 0; i < 1000000; i++) {
        int n = snprintf(key, sizeof key, "key:%d", i);
        cr_assert_eq(sharena_map_set_number(big, m, key, (size_t)n, i), 0, "%d",
                     i);
    }
    uint64_t len;
    cr_assert_eq(sharena_map_len(big, m, &len), 0);
    cr_assert_eq(len, 1000000);
    for (int i = 0; i < 1000000; i += 9973) {
        int n = snprintf(key, sizeof key, "key:%d", i);
        double d;
        cr_assert_eq(sharena_map_get(big, m, key, (size_t)n, &v), 0);
        cr_assert_eq(sharena_number_get(big, v, &d), 0);
        cr_assert_eq(d, i);
    }
    sharena_arena_close(big);
}

Test(values, vectors)
{
    sharena_id vec, x, old;
    uint64_t len;
    cr_assert_eq(sharena_vector_new(A, &vec), 0);
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(sharena_number_new(A, i, &x), 0);
        cr_assert_eq(sharena_vector_push(A, vec, x, SHARENA_OWNED), 0);
    }
    cr_assert_eq(sharena_vector_len(A, vec, &len), 0);
    cr_assert_eq(len, 100);
    double d;
    cr_assert_eq(sharena_vector_get(A, vec, 42, &x, NULL), 0);
    cr_assert_eq(sharena_number_get(A, x, &d), 0);
    cr_assert_eq(d, 42);
    cr_assert_eq(sharena_vector_get(A, vec, 100, &x, NULL), SHARENA_ERANGE);
    /* insert at the front, remove in the middle, set, pop */
    cr_assert_eq(sharena_number_new(A, -1, &x), 0);
    cr_assert_eq(sharena_vector_insert(A, vec, 0, x, SHARENA_OWNED), 0);
    cr_assert_eq(sharena_vector_get(A, vec, 1, &x, NULL), 0);
    cr_assert_eq(sharena_number_get(A, x, &d), 0);
    cr_assert_eq(d, 0);
    cr_assert_eq(sharena_vector_remove(A, vec, 50, &old), 0);
    cr_assert_eq(sharena_vector_len(A, vec, &len), 0);
    cr_assert_eq(len, 100);
    cr_assert_eq(sharena_number_new(A, 7, &x), 0);
    cr_assert_eq(sharena_vector_set(A, vec, 99, x, SHARENA_OWNED, &old), 0);
    cr_assert_eq(sharena_vector_pop(A, vec, &x), 0);
    cr_assert_eq(sharena_number_get(A, x, &d), 0);
    cr_assert_eq(d, 7);
    sharena_drop(A, x, 0);
    cr_assert_eq(sharena_vector_insert(A, vec, 0, x, 0), SHARENA_ESTALE);
    cr_assert_eq(sharena_number_new(A, 8, &x), 0);
    cr_assert_eq(sharena_vector_insert(A, vec, 1000, x, 0), SHARENA_ERANGE);
    sharena_drop(A, x, 0);
    while (sharena_vector_pop(A, vec, &x) == 0)
        sharena_drop(A, x, 0);
    cr_assert_eq(sharena_vector_pop(A, vec, &x), SHARENA_ERANGE);
}

Test(values, structs_and_shapes)
{
    sharena_field_def f[] = {{"name", SHARENA_T_STRING, 0},
                             {"score", SHARENA_T_NUMBER, 0},
                             {"ok", SHARENA_T_BOOL, 0},
                             {"raw", SHARENA_T_BYTES, 16}};
    sharena_id shape, st;
    cr_assert_eq(sharena_shape_new(A, f, 4, &shape), 0);
    cr_assert_eq(sharena_struct_new(A, shape, &st), 0);
    size_t n, idx;
    cr_assert_eq(sharena_shape_nfields(A, st, &n), 0);
    cr_assert_eq(n, 4);
    cr_assert_eq(sharena_shape_find(A, shape, "score", 5, &idx), 0);
    cr_assert_eq(idx, 1);
    cr_assert_eq(sharena_shape_find(A, shape, "nope", 4, &idx), SHARENA_ENOENT);
    char name[64];
    sharena_type type;
    uint64_t size;
    cr_assert_eq(
        sharena_shape_field(A, shape, 3, name, sizeof name, &type, &size), 0);
    cr_assert_str_eq(name, "raw");
    cr_assert_eq(type, SHARENA_T_BYTES);
    cr_assert_eq(size, 16);
    cr_assert_eq(sharena_struct_set_string(A, st, 0, "ada", 3), 0);
    cr_assert_eq(sharena_struct_set_number(A, st, 1, 1.5), 0);
    cr_assert_eq(sharena_struct_set_bool(A, st, 2, true), 0);
    char buf[16];
    size_t len;
    double d;
    bool b;
    cr_assert_eq(sharena_struct_get_string(A, st, 0, buf, sizeof buf, &len), 0);
    cr_assert_eq(len, 3);
    cr_assert_eq(sharena_struct_get_number(A, st, 1, &d), 0);
    cr_assert_eq(d, 1.5);
    cr_assert_eq(sharena_struct_get_bool(A, st, 2, &b), 0);
    cr_assert(b);
    /* wrong field types and indexes */
    cr_assert_eq(sharena_struct_set_number(A, st, 0, 1), SHARENA_ETYPE);
    cr_assert_eq(sharena_struct_get_bool(A, st, 1, &b), SHARENA_ETYPE);
    cr_assert_eq(sharena_struct_set_number(A, st, 9, 1), SHARENA_ERANGE);
    sharena_id raw;
    cr_assert_eq(sharena_struct_field_id(A, st, 3, &raw), 0);
    cr_assert_eq(sharena_bytes_write(A, raw, 0, "zz", 2), 0);
    /* bad shapes */
    sharena_field_def dup[] = {{"a", SHARENA_T_NUMBER, 0},
                               {"a", SHARENA_T_BOOL, 0}};
    cr_assert_eq(sharena_shape_new(A, dup, 2, &shape), SHARENA_EEXIST);
    sharena_field_def badt[] = {{"m", SHARENA_T_MAP, 0}};
    cr_assert_eq(sharena_shape_new(A, badt, 1, &shape), SHARENA_EINVAL);
}

Test(values, ids_generations_and_types)
{
    sharena_id a, b;
    double d;
    cr_assert_eq(sharena_number_new(A, 1, &a), 0);
    cr_assert_lt(a, (sharena_id)1 << 53);
    cr_assert_eq(sharena_drop(A, a, 0), 0);
    cr_assert_eq(sharena_number_get(A, a, &d), SHARENA_ESTALE);
    cr_assert_eq(sharena_drop(A, a, 0), SHARENA_ESTALE);
    /* the slot is reused with a new generation: the old id stays stale */
    for (int i = 0; i < 64; i++) {
        cr_assert_eq(sharena_number_new(A, 2, &b), 0);
        cr_assert_neq(b, a);
        cr_assert_eq(sharena_number_get(A, a, &d), SHARENA_ESTALE);
    }
    cr_assert_eq(sharena_number_new(A, 3, &b), 0);
    bool v;
    char buf[8];
    size_t len;
    cr_assert_eq(sharena_bool_get(A, b, &v), SHARENA_ETYPE);
    cr_assert_eq(sharena_string_get(A, b, buf, sizeof buf, &len),
                 SHARENA_ETYPE);
    cr_assert_eq(sharena_map_set_number(A, b, "k", 1, 1), SHARENA_ETYPE);
    cr_assert_eq(sharena_number_get(A, 0, &d),
                 SHARENA_EINVAL); /* no object has id 0 */
    cr_assert_eq(sharena_number_get(A, (sharena_id)1 << 52, &d),
                 SHARENA_ENOENT);
    cr_assert_eq(sharena_type_of(A, b), SHARENA_T_NUMBER);
}

Test(values, full_arena_at_the_boundary)
{
    sharena_arena *s;
    cr_assert_eq(sharena_arena_create("small", SHARENA_MIN_CAPACITY, &s), 0);
    sharena_arena_info before, after;
    cr_assert_eq(sharena_arena_info_get(s, &before), 0);
    /* fill with bytes buffers until one does not fit, then the largest that
     * does: the boundary is exact, and a failed allocation changes nothing */
    sharena_id x;
    uint64_t size = 4096;
    int made = 0;
    while (sharena_bytes_new(s, size, &x) == 0)
        made++;
    cr_assert_gt(made, 10);
    cr_assert_eq(sharena_bytes_new(s, size, &x), SHARENA_EFULL);
    cr_assert_eq(sharena_arena_info_get(s, &after), 0);
    uint64_t lo = 0, hi = size;
    while (lo + 1 < hi) { /* largest size that still fits */
        uint64_t mid = (lo + hi) / 2;
        if (sharena_bytes_new(s, mid, &x) == 0) {
            sharena_drop(s, x, 0);
            lo = mid;
        } else {
            hi = mid;
        }
    }
    sharena_arena_info mid;
    cr_assert_eq(sharena_arena_info_get(s, &mid), 0);
    cr_assert_eq(mid.used_bytes, after.used_bytes,
                 "failed allocations leak nothing");
    cr_assert_lt(lo, size);
    if (lo > 0) /* lo fits, lo + 1 did not: the exact boundary */
        cr_assert_eq(sharena_bytes_new(s, lo, &x), 0);
    sharena_fsck_report rep;
    cr_assert_eq(sharena_fsck(s, 0, NULL, NULL, &rep), 0);
    sharena_arena_close(s);
}

Test(values, layout_hash_mismatch_is_refused)
{
    uint64_t other = sharena_layout_hash() ^ 1;
    memcpy((char *)sharena_arena_base(A) + 16, &other, sizeof other);
    sharena_arena *b;
    cr_assert_eq(sharena_arena_from_fd(sharena_arena_fd(A), 0, &b),
                 SHARENA_ELAYOUT);
    other ^= 1;
    memcpy((char *)sharena_arena_base(A) + 16, &other, sizeof other);
    cr_assert_eq(sharena_arena_from_fd(sharena_arena_fd(A), 0, &b), 0);
    sharena_arena_close(b);
}

/* Ownership (DESIGN 2): dropping a container drops the children it owns,
 * at every depth, and leaves the ones it only refers to; with
 * SHARENA_DROP_RECURSIVE every child goes; overwriting or removing an
 * owned child frees it, a referenced one stays the caller's; a struct owns
 * its string and bytes fields. */
static bool live(sharena_id id)
{
    return sharena_type_of(A, id) > 0;
}

Test(values, ownership_of_children)
{
    sharena_id m, inner, owned, ref, deep, v;
    cr_assert_eq(sharena_map_new(A, &m), 0);
    cr_assert_eq(sharena_map_new(A, &inner), 0);
    cr_assert_eq(sharena_string_new(A, "owned", 5, &owned), 0);
    cr_assert_eq(sharena_string_new(A, "mine", 4, &ref), 0);
    cr_assert_eq(sharena_number_new(A, 1, &deep), 0);
    cr_assert_eq(
        sharena_map_set(A, inner, "deep", 4, deep, SHARENA_OWNED, NULL), 0);
    cr_assert_eq(sharena_map_set(A, m, "inner", 5, inner, SHARENA_OWNED, NULL),
                 0);
    cr_assert_eq(sharena_map_set(A, m, "owned", 5, owned, SHARENA_OWNED, NULL),
                 0);
    cr_assert_eq(sharena_map_set(A, m, "ref", 3, ref, 0, NULL), 0);
    cr_assert_eq(sharena_drop(A, m, 0), 0);
    cr_expect(!live(m) && !live(inner) && !live(deep) && !live(owned),
              "owned children go with their container, at every depth");
    cr_expect(live(ref), "a child the container only refers to stays");
    cr_expect_eq(sharena_type_of(A, owned), SHARENA_ESTALE);

    /* recursive: the referenced child goes too */
    cr_assert_eq(sharena_vector_new(A, &v), 0);
    cr_assert_eq(sharena_vector_push(A, v, ref, 0), 0);
    cr_assert_eq(sharena_drop(A, v, SHARENA_DROP_RECURSIVE), 0);
    cr_expect(!live(v) && !live(ref));

    /* overwrite and remove free an owned value, not a referenced one */
    sharena_id a1, a2, r1, old;
    cr_assert_eq(sharena_map_new(A, &m), 0);
    cr_assert_eq(sharena_number_new(A, 1, &a1), 0);
    cr_assert_eq(sharena_number_new(A, 2, &a2), 0);
    cr_assert_eq(sharena_number_new(A, 3, &r1), 0);
    cr_assert_eq(sharena_map_set(A, m, "k", 1, a1, SHARENA_OWNED, NULL), 0);
    cr_assert_eq(sharena_map_set(A, m, "k", 1, a2, SHARENA_OWNED, &old), 0);
    cr_expect(!live(a1), "an overwritten owned value is freed");
    cr_assert_eq(sharena_map_set(A, m, "r", 1, r1, 0, NULL), 0);
    cr_assert_eq(sharena_map_remove(A, m, "r", 1, NULL), 0);
    cr_expect(live(r1), "a removed reference stays the caller's");
    cr_assert_eq(sharena_map_remove(A, m, "k", 1, NULL), 0);
    cr_expect(!live(a2), "a removed owned value is freed");
    cr_assert_eq(sharena_drop(A, r1, 0), 0);
    cr_assert_eq(sharena_drop(A, m, 0), 0);

    /* a struct owns its string and bytes fields */
    sharena_field_def f[] = {{"name", SHARENA_T_STRING, 0},
                             {"blob", SHARENA_T_BYTES, 4}};
    sharena_id shape, st, name_id, blob_id;
    cr_assert_eq(sharena_shape_new(A, f, 2, &shape), 0);
    cr_assert_eq(sharena_struct_new(A, shape, &st), 0);
    cr_assert_eq(sharena_struct_field_id(A, st, 0, &name_id), 0);
    cr_assert_eq(sharena_struct_field_id(A, st, 1, &blob_id), 0);
    cr_assert_eq(sharena_drop(A, st, 0), 0);
    cr_expect(!live(name_id) && !live(blob_id), "fields go with their struct");
    cr_expect(live(shape), "the shape stays (others may use it)");
    cr_assert_eq(sharena_drop(A, shape, 0), 0);
}

/* A root whose object was dropped is no root: root_get says ENOENT and
 * root_ensure makes it again (it said EBUSY forever: issue 22), also when
 * the caller holds the directory's lock, and for a root that another
 * process made again meanwhile it returns that one. */
Test(values, dropped_root_is_made_again)
{
    sharena_id r1, r2, got, dir;
    bool created;
    cr_assert_eq(sharena_root_ensure(A, "r", SHARENA_T_NUMBER, 0, &r1, NULL),
                 0);
    cr_assert_eq(sharena_number_set(A, r1, 7), 0);
    cr_assert_eq(sharena_drop(A, r1, 0), 0);
    cr_assert_eq(sharena_root_get(A, "r", &got), SHARENA_ENOENT);
    cr_assert_eq(
        sharena_root_ensure(A, "r", SHARENA_T_NUMBER, 0, &r2, &created), 0);
    cr_assert(created);
    cr_assert_neq(r2, r1);
    double v = -1;
    cr_assert_eq(sharena_number_get(A, r2, &v), 0);
    cr_assert_eq(v, 0);
    cr_assert_eq(sharena_root_get(A, "r", &got), 0);
    cr_assert_eq(got, r2);
    /* again, as another type, while this thread holds the directory */
    cr_assert_eq(sharena_drop(A, r2, 0), 0);
    cr_assert_eq(sharena_roots(A, &dir), 0);
    cr_assert_eq(sharena_lock(A, dir), 0);
    cr_assert_eq(
        sharena_root_ensure(A, "r", SHARENA_T_BYTES, 16, &r1, &created), 0);
    cr_assert_eq(sharena_unlock(A, dir), 0);
    cr_assert(created);
    cr_assert_eq(sharena_type_of(A, r1), SHARENA_T_BYTES);
    /* an existing root is not made again */
    cr_assert_eq(
        sharena_root_ensure(A, "r", SHARENA_T_BYTES, 16, &r2, &created), 0);
    cr_assert(!created);
    cr_assert_eq(r2, r1);
    /* removing a dropped root works, and then it is simply missing */
    cr_assert_eq(sharena_drop(A, r1, 0), 0);
    cr_assert_eq(sharena_root_remove(A, "r"), 0);
    cr_assert_eq(sharena_root_get(A, "r", &got), SHARENA_ENOENT);
}

/* The exact add that the bindings' add() of an integer uses: a sum that
 * would round, or leave +-2^53, is refused and changes nothing. */
Test(values, number_add_exact)
{
    sharena_id n;
    double r = 0;
    cr_assert_eq(sharena_number_new(A, 0x1p53 - 2, &n), 0);
    cr_assert_eq(sharena_number_add_exact(A, n, 1, &r), 0);
    cr_assert_eq(r, 0x1p53 - 1);
    cr_assert_eq(sharena_number_add_exact(A, n, 1, &r), 0);
    cr_assert_eq(r, 0x1p53);
    cr_assert_eq(sharena_number_add_exact(A, n, 1, &r), SHARENA_EOVERFLOW);
    cr_assert_eq(r, 0x1p53, "the value found");
    cr_assert_eq(sharena_number_get(A, n, &r), 0);
    cr_assert_eq(r, 0x1p53, "nothing changed");
    cr_assert_eq(sharena_number_add_exact(A, n, -0x1p54, &r), 0);
    cr_assert_eq(r, -0x1p53);
    cr_assert_eq(sharena_number_add_exact(A, n, -1, &r), SHARENA_EOVERFLOW);
    cr_assert_eq(sharena_number_set(A, n, 0.1), 0);
    cr_assert_eq(sharena_number_add_exact(A, n, 0.2, &r), SHARENA_EOVERFLOW,
                 "0.1 + 0.2 rounds");
    cr_assert_eq(sharena_number_set(A, n, INFINITY), 0);
    cr_assert_eq(sharena_number_add_exact(A, n, 1, &r), 0, "float arithmetic");
    cr_assert_eq(sharena_number_add_exact(A, n, 1, NULL), 0);
    cr_assert_eq(sharena_drop(A, n, 0), 0);
    cr_assert_eq(sharena_number_add_exact(A, n, 1, &r), SHARENA_ESTALE);
}

/* Add to the number at a key, creating it: one step under the map's lock,
 * so concurrent adders lose no increment, also the first ones. */
struct adder {
    sharena_id m;
    int n;
};

static void *add_many(void *p)
{
    struct adder *ad = p;
    for (int i = 0; i < ad->n; i++)
        if (sharena_map_add_number(A, ad->m, "hits", 4, 1, SHARENA_ADD_EXACT,
                                   NULL) != 0)
            return (void *)1;
    return NULL;
}

Test(values, map_add_number)
{
    sharena_id m, x;
    double r = -1;
    cr_assert_eq(sharena_map_new(A, &m), 0);
    cr_assert_eq(sharena_map_add_number(A, m, "k", 1, 2, 0, &r), 0);
    cr_assert_eq(r, 2, "a new key starts at delta");
    cr_assert_eq(sharena_map_add_number(A, m, "k", 1, 0.5, 0, &r), 0);
    cr_assert_eq(r, 2.5);
    cr_assert_eq(
        sharena_map_add_number(A, m, "k", 1, 0.25, SHARENA_ADD_EXACT, &r), 0,
        "exact: 2.75 is exact");
    cr_assert_eq(
        sharena_map_add_number(A, m, "big", 3, 0x1p60, SHARENA_ADD_EXACT, &r),
        SHARENA_EOVERFLOW);
    cr_assert_eq(sharena_map_get(A, m, "big", 3, &x), SHARENA_ENOENT,
                 "a refused add creates nothing");
    cr_assert_eq(sharena_map_set_string(A, m, "s", 1, "x", 1), 0);
    cr_assert_eq(sharena_map_add_number(A, m, "s", 1, 1, 0, &r), SHARENA_ETYPE);
    cr_assert_eq(sharena_map_add_number(A, m, "k", 1, 1, 4, &r), SHARENA_EINVAL,
                 "unknown flags");
    /* inside the caller's own lock: nests */
    cr_assert_eq(sharena_lock(A, m), 0);
    cr_assert_eq(sharena_map_add_number(A, m, "k", 1, 1, 0, &r), 0);
    cr_assert_eq(sharena_unlock(A, m), 0);
    cr_assert_eq(r, 3.75);
    /* racing adders on a key none of them finds at first */
    enum { T = 4, N = 5000 };
    pthread_t t[T];
    struct adder ad = {m, N};
    for (int i = 0; i < T; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, add_many, &ad), 0);
    for (int i = 0; i < T; i++) {
        void *rv;
        pthread_join(t[i], &rv);
        cr_assert_null(rv);
    }
    cr_assert_eq(sharena_map_get(A, m, "hits", 4, &x), 0);
    cr_assert_eq(sharena_number_get(A, x, &r), 0);
    cr_assert_eq(r, T * N, "no increment lost (%g)", r);
}

/* The fast-read interface (sharena_fastread, version 1): the two words it
 * names hold its values, every write and the drop move the counter, and
 * nothing else does; a read-only handle gets the same offsets. */
Test(values, fastread_words_move_with_every_write_and_drop)
{
    sharena_id n, s;
    cr_assert_eq(sharena_number_new(A, 1.0, &n), 0);
    cr_assert_eq(sharena_string_new(A, "a", 1, &s), 0);
    sharena_fastread f, g;
    cr_assert_eq(sharena_fastread_get(A, n, &f), 0);
    cr_assert_eq(f.version, SHARENA_FASTREAD_VERSION);
    cr_assert_eq(f.type, SHARENA_T_NUMBER);
    cr_assert_eq(f.counter % 2, 0);
    cr_assert_eq(f.counter_off % 4, 0);
    cr_assert_eq(f.epoch_off % 4, 0);
    const uint8_t *base = sharena_arena_base(A);
    sharena_arena_info in;
    cr_assert_eq(sharena_arena_info_get(A, &in), 0);
    cr_assert_lt(f.counter_off + 4, in.capacity + 1);
    cr_assert_lt(f.epoch_off + 4, in.capacity + 1);
    uint32_t c, e;
    memcpy(&c, base + f.counter_off, 4);
    memcpy(&e, base + f.epoch_off, 4);
    cr_assert_eq(c, f.counter);
    cr_assert_eq(e, f.epoch);
    uint64_t cc;
    cr_assert_eq(sharena_change_count(A, n, &cc), 0);
    cr_assert_eq(cc, f.counter);
    /* a write of another object moves nothing of this one */
    cr_assert_eq(sharena_string_set(A, s, "b", 1), 0);
    memcpy(&c, base + f.counter_off, 4);
    cr_assert_eq(c, f.counter);
    cr_assert_eq(sharena_fastread_get(A, s, &g), 0);
    cr_assert_neq(g.counter_off, f.counter_off);
    cr_assert_eq(g.epoch_off, f.epoch_off);
    /* each write of it does, to the next even value */
    cr_assert_eq(sharena_number_set(A, n, 2.0), 0);
    memcpy(&c, base + f.counter_off, 4);
    cr_assert_eq(c, f.counter + 2);
    double d;
    cr_assert_eq(sharena_number_add(A, n, 1.0, &d), 0);
    memcpy(&c, base + f.counter_off, 4);
    cr_assert_eq(c, f.counter + 4);
    /* the drop too; the id is then stale */
    cr_assert_eq(sharena_drop(A, n, 0), 0);
    memcpy(&c, base + f.counter_off, 4);
    cr_assert_neq(c, f.counter + 4);
    cr_assert_eq(sharena_fastread_get(A, n, &f), SHARENA_ESTALE);
    cr_assert_eq(sharena_fastread_get(A, 0, &f), SHARENA_EINVAL);
    cr_assert_eq(sharena_fastread_get(A, s, NULL), SHARENA_EINVAL);
    cr_assert_eq(sharena_fastread_get(NULL, s, &f), SHARENA_EINVAL);
}

/* One size rule for the CLI and the broker: digits, then K/M/G/T with an
 * optional "iB" or "B"; no sign, space or fraction ("-1" once wrapped to
 * 2^64 - 1 in the broker's own parser). */
Test(values, parse_size)
{
    static const struct {
        const char *s;
        uint64_t v;
    } ok[] = {
        {"0", 0},
        {"65536", 65536},
        {"64K", 64 << 10},
        {"64k", 64 << 10},
        {"64M", 64 << 20},
        {"64MiB", 64 << 20},
        {"64MB", 64 << 20},
        {"1G", UINT64_C(1) << 30},
        {"1T", UINT64_C(1) << 40},
        {"16777215T", UINT64_C(16777215) << 40},
        {"18446744073709551615", UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 1;
        cr_assert_eq(sharena_parse_size(ok[i].s, &v), 0, "%s", ok[i].s);
        cr_assert_eq(v, ok[i].v, "%s", ok[i].s);
    }
    static const char *const bad[] = {"",   "-1",  "+1",   " 1",
                                      "1 ", "1.5", "1Q",   "1MiBB",
                                      "M",  "1iB", "0x10", "1KM"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 7;
        cr_assert_eq(sharena_parse_size(bad[i], &v), SHARENA_EINVAL, "'%s'",
                     bad[i]);
        cr_assert_eq(v, 7, "'%s' changed nothing", bad[i]);
    }
    uint64_t v = 7;
    cr_assert_eq(sharena_parse_size("16777216T", &v), SHARENA_ERANGE);
    cr_assert_eq(sharena_parse_size("18446744073709551616", &v),
                 SHARENA_ERANGE);
    cr_assert_eq(v, 7);
    cr_assert_eq(sharena_parse_size(NULL, &v), SHARENA_EINVAL);
    cr_assert_eq(sharena_parse_size("1", NULL), SHARENA_EINVAL);
}
