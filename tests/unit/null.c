/* null.c: null as a value (issue 16): SHARENA_T_NULL objects in maps,
 * vectors and roots, the builder, nullable struct fields (a refused store
 * changes nothing, version included), and what a scribbler can do to the
 * new layout: a null mark on a field that is not nullable, unknown field
 * flags, a null slot with a word, flipped while readers loop. Every result
 * must be the truth or an error, never a crash, and never a null that the
 * shape does not allow. Reaches the layout through the internal header. */
#include "internal.h"
#include "sharena.h"
#include "view.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static sharena_arena *A;

static void up(void)
{
    cr_assert_eq(sharena_arena_create("nulls", 0, &A), 0);
}
static void down(void)
{
    sharena_arena_close(A);
}
TestSuite(null, .init = up, .fini = down, .timeout = 120);

#define OK(x)                                                                  \
    do {                                                                       \
        int r_ = (x);                                                          \
        cr_assert_eq(r_, 0, "%s: %s", #x, sharena_strerror(r_));               \
    } while (0)

static void fsck_clean(void)
{
    sharena_fsck_report rep;
    OK(sharena_fsck(A, 0, NULL, NULL, &rep));
    cr_assert_eq(rep.errors, 0, "fsck found %lu problem(s)",
                 (unsigned long)rep.errors);
}

static uint64_t live(void)
{
    sharena_arena_info i;
    OK(sharena_arena_info_get(A, &i));
    return i.objects;
}

Test(null, a_value_in_maps_vectors_and_roots)
{
    cr_assert_str_eq(sharena_type_name(SHARENA_T_NULL), "null");
    uint64_t before = live();
    sharena_id n, m, v, got;
    OK(sharena_null_new(A, &n));
    cr_assert_eq(sharena_type_of(A, n), SHARENA_T_NULL);
    sharena_value val = {0};
    OK(sharena_value_read(A, n, NULL, 0, &val));
    cr_assert_eq(val.type, SHARENA_T_NULL);
    cr_assert_eq(val.id, n);
    /* not a number, bool or string */
    double d;
    bool b;
    cr_assert_eq(sharena_number_get(A, n, &d), SHARENA_ETYPE);
    cr_assert_eq(sharena_bool_get(A, n, &b), SHARENA_ETYPE);
    OK(sharena_map_new(A, &m));
    OK(sharena_map_set(A, m, "a", 1, n, SHARENA_OWNED, NULL));
    OK(sharena_map_set_null(A, m, "b", 1));
    OK(sharena_map_get_value(A, m, "b", 1, NULL, 0, &val));
    cr_assert_eq(val.type, SHARENA_T_NULL);
    OK(sharena_map_get(A, m, "a", 1, &got));
    cr_assert_eq(got, n);
    OK(sharena_vector_new(A, &v));
    OK(sharena_null_new(A, &n));
    OK(sharena_vector_push(A, v, n, SHARENA_OWNED));
    OK(sharena_vector_get_value(A, v, 0, NULL, 0, &val));
    cr_assert_eq(val.type, SHARENA_T_NULL);
    OK(sharena_map_set(A, m, "v", 1, v, SHARENA_OWNED, NULL));
    OK(sharena_root_set(A, "m", m, SHARENA_OWNED));
    /* a root may be null, made by root_ensure too */
    bool created;
    OK(sharena_root_ensure(A, "n", SHARENA_T_NULL, 0, &got, &created));
    cr_assert(created);
    cr_assert_eq(sharena_type_of(A, got), SHARENA_T_NULL);
    OK(sharena_root_ensure(A, "n", SHARENA_T_NULL, 0, &n, &created));
    cr_assert_not(created);
    cr_assert_eq(n, got);
    cr_assert_eq(sharena_root_ensure(A, "n", SHARENA_T_NUMBER, 0, &n, NULL),
                 SHARENA_ETYPE);
    fsck_clean();
    /* owned nulls go with their container; a dropped null is stale */
    OK(sharena_root_remove(A, "m"));
    OK(sharena_root_remove(A, "n"));
    cr_assert_eq(live(), before);
    cr_assert_eq(sharena_type_of(A, got), SHARENA_ESTALE);
    fsck_clean();
}

Test(null, builder_makes_nulls_and_a_failed_build_leaves_none)
{
    sharena_builder *b;
    sharena_id m, got;
    OK(sharena_map_new(A, &m));
    OK(sharena_build_begin(A, &b));
    OK(sharena_build_key(b, "x", 1));
    OK(sharena_build_null(b));
    OK(sharena_build_key(b, "list", 4));
    OK(sharena_build_vector(b));
    OK(sharena_build_null(b));
    OK(sharena_build_number(b, 1));
    OK(sharena_build_end(b));
    OK(sharena_build_map_update(b, m));
    sharena_value val;
    OK(sharena_map_get_value(A, m, "x", 1, NULL, 0, &val));
    cr_assert_eq(val.type, SHARENA_T_NULL);
    OK(sharena_map_get(A, m, "list", 4, &got));
    OK(sharena_vector_get_value(A, got, 0, NULL, 0, &val));
    cr_assert_eq(val.type, SHARENA_T_NULL);
    OK(sharena_vector_get_value(A, got, 1, NULL, 0, &val));
    cr_assert_eq(val.type, SHARENA_T_NUMBER);
    /* a build that fails after a null drops the null it made */
    uint64_t before = live();
    OK(sharena_build_begin(A, &b));
    OK(sharena_build_key(b, "y", 1));
    OK(sharena_build_null(b));
    cr_assert_eq(sharena_build_key(b, "\xff", 1), SHARENA_EILSEQ);
    cr_assert_eq(sharena_build_map_update(b, m), SHARENA_EILSEQ);
    cr_assert_eq(live(), before);
    cr_assert_eq(sharena_map_get(A, m, "y", 1, &got), SHARENA_ENOENT);
    fsck_clean();
}

/* A builder's null inside a struct goes into a nullable field of any type;
 * into another field it fails the build, which then leaves nothing. */
Test(null, builder_null_into_struct_fields)
{
    sharena_builder *b;
    sharena_id m, st;
    OK(sharena_map_new(A, &m));
    sharena_field_def f[] = {
        {"x", SHARENA_T_NUMBER, 0, SHARENA_FIELD_NULLABLE},
        {"s", SHARENA_T_STRING, 0, SHARENA_FIELD_NULLABLE},
        {"y", SHARENA_T_NUMBER, 0, 0},
    };
    OK(sharena_build_begin(A, &b));
    OK(sharena_build_key(b, "p", 1));
    OK(sharena_build_struct(b, f, 3));
    OK(sharena_build_key(b, "x", 1));
    OK(sharena_build_null(b));
    OK(sharena_build_key(b, "s", 1));
    OK(sharena_build_null(b));
    OK(sharena_build_key(b, "y", 1));
    OK(sharena_build_number(b, 2));
    OK(sharena_build_end(b));
    OK(sharena_build_map_update(b, m));
    OK(sharena_map_get(A, m, "p", 1, &st));
    sharena_value val;
    OK(sharena_struct_get_value(A, st, 0, NULL, 0, &val));
    cr_assert_eq(val.type, SHARENA_T_NULL);
    OK(sharena_struct_get_value(A, st, 1, NULL, 0, &val));
    cr_assert_eq(val.type, SHARENA_T_NULL);
    OK(sharena_struct_get_value(A, st, 2, NULL, 0, &val));
    cr_assert_eq(val.number, 2);
    uint64_t before = live();
    OK(sharena_build_begin(A, &b));
    OK(sharena_build_key(b, "q", 1));
    OK(sharena_build_struct(b, f, 3));
    OK(sharena_build_key(b, "y", 1));
    cr_assert_eq(sharena_build_null(b), SHARENA_ETYPE);
    cr_assert_eq(sharena_build_map_update(b, m), SHARENA_ETYPE);
    cr_assert_eq(live(), before);
    cr_assert_eq(sharena_map_get(A, m, "q", 1, &st), SHARENA_ENOENT);
    fsck_clean();
}

/* fields: 0 n number, 1 on nullable number, 2 os nullable string,
 * 3 ob nullable bool, 4 raw bytes */
static sharena_id shape5(void)
{
    sharena_field_def f[] = {
        {"n", SHARENA_T_NUMBER, 0, 0},
        {"on", SHARENA_T_NUMBER, 0, SHARENA_FIELD_NULLABLE},
        {"os", SHARENA_T_STRING, 0, SHARENA_FIELD_NULLABLE},
        {"ob", SHARENA_T_BOOL, 0, SHARENA_FIELD_NULLABLE},
        {"raw", SHARENA_T_BYTES, 8, 0},
    };
    sharena_id sh;
    OK(sharena_shape_new(A, f, 5, &sh));
    return sh;
}

Test(null, shapes_say_which_fields_are_nullable)
{
    sharena_id sh = shape5(), x;
    sharena_field_flags fl;
    OK(sharena_shape_field_flags(A, sh, 0, &fl));
    cr_assert_eq(fl, 0);
    OK(sharena_shape_field_flags(A, sh, 1, &fl));
    cr_assert_eq(fl, SHARENA_FIELD_NULLABLE);
    cr_assert_eq(sharena_shape_field_flags(A, sh, 5, &fl), SHARENA_ERANGE);
    /* a nullable bytes field, or an unknown flag: refused, nothing made */
    uint64_t before = live();
    sharena_field_def bad1[] = {
        {"b", SHARENA_T_BYTES, 4, SHARENA_FIELD_NULLABLE}};
    cr_assert_eq(sharena_shape_new(A, bad1, 1, &x), SHARENA_EINVAL);
    sharena_field_def bad2[] = {{"b", SHARENA_T_NUMBER, 0, 0x80}};
    cr_assert_eq(sharena_shape_new(A, bad2, 1, &x), SHARENA_EINVAL);
    cr_assert_eq(live(), before);
}

Test(null, nullable_fields_and_refused_stores_change_nothing)
{
    sharena_id sh = shape5(), st;
    OK(sharena_struct_new(A, sh, &st));
    sharena_value val;
    char buf[32];
    /* nullable fields start null; the others as before */
    for (size_t i = 1; i <= 3; i++) {
        OK(sharena_struct_get_value(A, st, i, buf, sizeof buf, &val));
        cr_assert_eq(val.type, SHARENA_T_NULL, "field %zu", i);
    }
    OK(sharena_struct_get_value(A, st, 0, NULL, 0, &val));
    cr_assert_eq(val.type, SHARENA_T_NUMBER);
    cr_assert_eq(val.number, 0);
    OK(sharena_struct_get_value(A, st, 4, NULL, 0, &val));
    cr_assert_eq(val.type, SHARENA_T_BYTES);
    cr_assert_neq(val.id, 0);
    cr_assert_eq(sharena_struct_get_value(A, st, 5, NULL, 0, &val),
                 SHARENA_ERANGE);
    /* a typed getter of a null field: ETYPE (its type is null) */
    double d;
    bool b;
    size_t len;
    cr_assert_eq(sharena_struct_get_number(A, st, 1, &d), SHARENA_ETYPE);
    cr_assert_eq(sharena_struct_get_bool(A, st, 3, &b), SHARENA_ETYPE);
    cr_assert_eq(sharena_struct_get_string(A, st, 2, buf, sizeof buf, &len),
                 SHARENA_ETYPE);
    /* a value clears null; null again */
    OK(sharena_struct_set_number(A, st, 1, 2.5));
    OK(sharena_struct_get_number(A, st, 1, &d));
    cr_assert_eq(d, 2.5);
    OK(sharena_struct_set_string(A, st, 2, "hi", 2));
    OK(sharena_struct_get_value(A, st, 2, buf, sizeof buf, &val));
    cr_assert_eq(val.type, SHARENA_T_STRING);
    cr_assert_str_eq(buf, "hi");
    cr_assert_eq(val.len, 2);
    OK(sharena_struct_get_value(A, st, 2, buf, 2, &val) == SHARENA_ERANGE ? 0
                                                                          : -1);
    OK(sharena_struct_set_bool(A, st, 3, true));
    OK(sharena_struct_set_null(A, st, 1));
    OK(sharena_struct_set_null(A, st, 2));
    OK(sharena_struct_get_value(A, st, 1, NULL, 0, &val));
    cr_assert_eq(val.type, SHARENA_T_NULL);
    OK(sharena_struct_get_value(A, st, 2, buf, sizeof buf, &val));
    cr_assert_eq(val.type, SHARENA_T_NULL);
    OK(sharena_struct_get_value(A, st, 3, NULL, 0, &val));
    cr_assert_eq(val.type, SHARENA_T_BOOL);
    cr_assert(val.boolean);
    /* null into a field that is not nullable: ETYPE, and nothing changes,
     * not even the struct's version or the arena's */
    OK(sharena_struct_set_number(A, st, 0, 7));
    uint64_t v0, v1, a0, a1, used0 = live();
    OK(sharena_change_count(A, st, &v0));
    OK(sharena_arena_version(A, &a0));
    cr_assert_eq(sharena_struct_set_null(A, st, 0), SHARENA_ETYPE);
    cr_assert_eq(sharena_struct_set_null(A, st, 4), SHARENA_ETYPE);
    cr_assert_eq(sharena_struct_set_null(A, st, 9), SHARENA_ERANGE);
    OK(sharena_change_count(A, st, &v1));
    OK(sharena_arena_version(A, &a1));
    cr_assert_eq(v1, v0);
    cr_assert_eq(a1, a0);
    cr_assert_eq(live(), used0);
    OK(sharena_struct_get_number(A, st, 0, &d));
    cr_assert_eq(d, 7);
    /* dropping a struct with null fields leaves nothing behind */
    OK(sharena_drop(A, st, 0));
    cr_assert_eq(live(), used0 - 3); /* the struct, its string, its bytes */
    fsck_clean();
}

/* ---- hostile peers ------------------------------------------------------- */

static uint64_t *struct_nulls(sharena_id st)
{
    struct sharena__slot *s;
    cr_assert_eq(sharena__resolve(A, st, SHARENA_T_STRUCT, &s), 0);
    struct sharena__struct_view v;
    cr_assert(sharena__struct_at(A, SHARENA__LD(s->word), &v));
    return v.nulls;
}

static struct sharena__field *shape_field(sharena_id sh, unsigned i)
{
    struct sharena__slot *s;
    cr_assert_eq(sharena__resolve(A, sh, SHARENA_T_SHAPE, &s), 0);
    struct sharena__shape *p = (void *)((uint8_t *)sharena_arena_base(A) +
                                        SHARENA__LD(s->word));
    return &p->fields[i];
}

Test(null, scribbled_marks_are_damage_not_nulls)
{
    sharena_id sh = shape5(), st;
    OK(sharena_struct_new(A, sh, &st));
    OK(sharena_struct_set_number(A, st, 0, 3));
    OK(sharena_root_set(A, "st", st, SHARENA_OWNED));
    uint64_t *nulls = struct_nulls(st);
    uint64_t good = __atomic_load_n(nulls, __ATOMIC_RELAXED);
    cr_assert_eq(good, 0xe, "fields 1..3 null");
    /* a null mark on field 0 (not nullable): corrupt, never null */
    __atomic_store_n(nulls, good | 1, __ATOMIC_RELAXED);
    double d;
    sharena_value val;
    cr_assert_eq(sharena_struct_get_number(A, st, 0, &d), SHARENA_ECORRUPT);
    cr_assert_eq(sharena_struct_get_value(A, st, 0, NULL, 0, &val),
                 SHARENA_ECORRUPT);
    /* and past the last field (bit 40): fsck sees it */
    __atomic_store_n(nulls, good | 1 | (UINT64_C(1) << 40), __ATOMIC_RELAXED);
    sharena_fsck_report rep;
    cr_assert_eq(sharena_fsck(A, 0, NULL, NULL, &rep), SHARENA_ECORRUPT);
    cr_assert_geq(rep.errors, 1);
    OK(sharena_fsck(A, SHARENA_FSCK_REPAIR, NULL, NULL, &rep));
    cr_assert_eq(__atomic_load_n(nulls, __ATOMIC_RELAXED), good,
                 "repair clears the bad marks only");
    OK(sharena_struct_get_number(A, st, 0, &d));
    cr_assert_eq(d, 3);
    fsck_clean();

    /* unknown field flags, or nullable on a bytes field: a corrupt shape */
    struct sharena__field *f = shape_field(sh, 1);
    uint8_t fl = __atomic_load_n(&f->flags, __ATOMIC_RELAXED);
    __atomic_store_n(&f->flags, (uint8_t)0x41, __ATOMIC_RELAXED);
    cr_assert_eq(sharena_struct_get_value(A, st, 1, NULL, 0, &val),
                 SHARENA_ECORRUPT);
    __atomic_store_n(&f->flags, fl, __ATOMIC_RELAXED);
    struct sharena__field *fb = shape_field(sh, 4);
    __atomic_store_n(&fb->flags, (uint8_t)SHARENA__FIELD_NULLABLE,
                     __ATOMIC_RELAXED);
    cr_assert_eq(sharena_struct_set_null(A, st, 4), SHARENA_ECORRUPT);
    __atomic_store_n(&fb->flags, (uint8_t)0, __ATOMIC_RELAXED);
    /* a flag taken away from a nullable field that holds null: corrupt */
    __atomic_store_n(&f->flags, (uint8_t)0, __ATOMIC_RELAXED);
    cr_assert_eq(sharena_struct_get_value(A, st, 1, NULL, 0, &val),
                 SHARENA_ECORRUPT);
    __atomic_store_n(&f->flags, fl, __ATOMIC_RELAXED);
    OK(sharena_struct_get_value(A, st, 1, NULL, 0, &val));
    cr_assert_eq(val.type, SHARENA_T_NULL);

    /* a null slot given a word: still null to readers, a problem to fsck */
    sharena_id n;
    OK(sharena_null_new(A, &n));
    OK(sharena_root_set(A, "n", n, SHARENA_OWNED));
    struct sharena__slot *s;
    OK(sharena__resolve(A, n, SHARENA_T_NULL, &s));
    SHARENA__ST(s->word, 12345);
    OK(sharena_value_read(A, n, NULL, 0, &val));
    cr_assert_eq(val.type, SHARENA_T_NULL);
    cr_assert_eq(sharena_fsck(A, 0, NULL, NULL, &rep), SHARENA_ECORRUPT);
    cr_assert_geq(rep.errors, 1);
    OK(sharena_fsck(A, SHARENA_FSCK_REPAIR, NULL, NULL, &rep));
    fsck_clean();
    /* a slot type past NULL: corrupt, not a type */
    SHARENA__ST(s->type, (uint8_t)SHARENA_T__COUNT);
    cr_assert_eq(sharena_type_of(A, n), SHARENA_ECORRUPT);
    cr_assert_eq(sharena_value_read(A, n, NULL, 0, &val), SHARENA_ECORRUPT);
    SHARENA__ST(s->type, (uint8_t)SHARENA_T_NULL);
}

/* A peer flips the null mark of a field that is not nullable while this
 * thread reads and writes it: every read is the number or ECORRUPT (never
 * null, never a crash), every write 0 or ECORRUPT. */
struct flip {
    uint64_t *word, good, bad;
    atomic_bool stop;
    atomic_ulong flips;
};
static void *flip_main(void *p)
{
    struct flip *f = p;
    while (!atomic_load(&f->stop)) {
        __atomic_store_n(f->word, f->bad, __ATOMIC_RELAXED);
        __atomic_store_n(f->word, f->good, __ATOMIC_RELAXED);
        atomic_fetch_add(&f->flips, 1);
    }
    return NULL;
}

Test(null, flipped_mark_while_reading)
{
    sharena_id sh = shape5(), st;
    OK(sharena_struct_new(A, sh, &st));
    OK(sharena_struct_set_number(A, st, 0, 11));
    uint64_t *nulls = struct_nulls(st);
    struct flip f = {nulls, 0xe, 0xf, false, 0};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, flip_main, &f), 0);
    while (atomic_load(&f.flips) == 0)
        sched_yield();
    unsigned long ok = 0, corrupt = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned i = 0; i < 200000; i++) {
        sharena_value val;
        int r = sharena_struct_get_value(A, st, 0, NULL, 0, &val);
        cr_assert(r == 0 || r == SHARENA_ECORRUPT || r == SHARENA_EBUSY,
                  "read: %s", sharena_strerror(r));
        if (r == 0) {
            cr_assert_eq(val.type, SHARENA_T_NUMBER, "never null");
            cr_assert_eq(val.number, 11);
            ok++;
        } else {
            corrupt++;
        }
        double d;
        r = sharena_struct_get_number(A, st, 0, &d);
        cr_assert(r == 0 || r == SHARENA_ECORRUPT || r == SHARENA_EBUSY);
        if (r == 0)
            cr_assert_eq(d, 11);
        r = sharena_struct_set_number(A, st, 0, 11);
        cr_assert(r == 0 || r == SHARENA_ECORRUPT);
        r = sharena_struct_set_null(A, st, 0);
        cr_assert(r == SHARENA_ETYPE || r == SHARENA_ECORRUPT, "null store: %s",
                  sharena_strerror(r));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (t1.tv_sec - t0.tv_sec > 3)
            break; /* bounded in time as in count */
    }
    atomic_store(&f.stop, true);
    pthread_join(t, NULL);
    __atomic_store_n(nulls, 0xe, __ATOMIC_RELAXED);
    cr_assert_gt(atomic_load(&f.flips), 0);
    cr_log_info("reads: %lu ok, %lu corrupt", ok, corrupt);
    double d;
    OK(sharena_struct_get_number(A, st, 0, &d));
    cr_assert_eq(d, 11);
    fsck_clean();
}

Test(null, another_format_version_is_refused_by_name)
{
    /* an arena whose header says format 1 (an older release's): refused at
     * open with a message naming both versions */
    sharena_id root;
    OK(sharena_roots(A, &root));
    struct sharena__header *h = (void *)sharena_arena_base(A);
    int fd = sharena_arena_fd(A);
    SHARENA__ST(h->format_version, 1u);
    sharena_arena *b = NULL;
    int r = sharena_arena_from_fd(fd, 0, &b);
    SHARENA__ST(h->format_version, (uint32_t)SHARENA__FORMAT_VERSION);
    cr_assert_eq(r, SHARENA_ELAYOUT);
    cr_assert_null(b);
    cr_assert(strstr(sharena_strerror(r), "format version 1") != NULL, "%s",
              sharena_strerror(r));
    char now[32];
    snprintf(now, sizeof now, "format version %u", SHARENA__FORMAT_VERSION);
    cr_assert(strstr(sharena_strerror(r), now) != NULL, "%s",
              sharena_strerror(r));
    OK(sharena_arena_from_fd(fd, 0, &b));
    sharena_arena_close(b);
}
