/* vecnum.c: numbers stored in vector items (format 4, issue 21). A number
 * pushed with the *_number calls takes no object; reads of the value never
 * make one; an id asked for makes one in the item's place (promotion),
 * which stays valid and reads the same number. Numbers whose bits would
 * read as a ref (subnormals) are number objects; NaN, infinities and -0
 * are stored in place. read_numbers copies one consistent range. A
 * read-only handle reads but does not promote; a promotion or pop that
 * cannot make its object changes nothing. fsck stays clean throughout. */
#include "internal.h"
#include "sharena.h"

#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static sharena_arena *A;

static void up(void)
{
    cr_assert_eq(sharena_arena_create("vecnum", 0, &A), 0);
}
static void down(void)
{
    sharena_arena_close(A);
}
TestSuite(vecnum, .init = up, .fini = down, .timeout = 120);

#define OK(x)                                                                  \
    do {                                                                       \
        int r_ = (x);                                                          \
        cr_assert_eq(r_, 0, "%s: %s", #x, sharena_strerror(r_));               \
    } while (0)

static void fsck_clean(sharena_arena *a)
{
    sharena_fsck_report rep;
    OK(sharena_fsck(a, 0, NULL, NULL, &rep));
    cr_assert_eq(rep.errors, 0, "fsck found %lu problem(s)",
                 (unsigned long)rep.errors);
}

static uint64_t live(sharena_arena *a)
{
    sharena_arena_info i;
    OK(sharena_arena_info_get(a, &i));
    return i.objects;
}

static uint64_t bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

/* The item word as stored (tests look at the layout). */
static uint64_t item(sharena_arena *a, sharena_id v, uint64_t i)
{
    uint64_t w;
    OK(sharena__vector_item(a, v, i, &w));
    return w;
}

/* The number at @p i, read without promotion; its id in *id. */
static double value_at(sharena_arena *a, sharena_id v, uint64_t i,
                       sharena_id *id)
{
    sharena_value val = {0};
    OK(sharena_vector_get_value(a, v, i, NULL, 0, &val));
    cr_assert_eq(val.type, SHARENA_T_NUMBER);
    if (id)
        *id = val.id;
    return val.number;
}

Test(vecnum, push_stores_in_place_and_reads_without_objects)
{
    sharena_id v;
    OK(sharena_vector_new(A, &v));
    uint64_t before = live(A);
    for (int i = 0; i < 100; i++)
        OK(sharena_vector_push_number(A, v, i * 1.5));
    cr_assert_eq(live(A), before, "numbers in place take no objects");
    uint64_t n;
    OK(sharena_vector_len(A, v, &n));
    cr_assert_eq(n, 100);
    for (uint64_t i = 0; i < 100; i++) {
        cr_assert_eq(item(A, v, i), bits((double)i * 1.5));
        sharena_id id = 99;
        cr_assert_eq(value_at(A, v, i, &id), (double)i * 1.5);
        cr_assert_eq(id, 0, "a value stored in the item has no id");
        bool owned = false;
        OK(sharena_vector_get(A, v, i, NULL, &owned));
        cr_assert(owned, "the vector owns its numbers");
    }
    cr_assert_eq(live(A), before, "reading made no objects");
    OK(sharena_vector_insert_number(A, v, 0, -7));
    OK(sharena_vector_insert_number(A, v, 101, 1e300));
    cr_assert_eq(sharena_vector_insert_number(A, v, 103, 1), SHARENA_ERANGE);
    cr_assert_eq(value_at(A, v, 0, NULL), -7);
    cr_assert_eq(value_at(A, v, 1, NULL), 0);
    cr_assert_eq(value_at(A, v, 101, NULL), 1e300);
    OK(sharena_vector_set_number(A, v, 1, 42));
    cr_assert_eq(value_at(A, v, 1, NULL), 42);
    cr_assert_eq(sharena_vector_set_number(A, v, 102, 1), SHARENA_ERANGE);
    cr_assert_eq(live(A), before);
    fsck_clean(A);
    OK(sharena_drop(A, v, 0));
    cr_assert_eq(live(A), before - 1);
    fsck_clean(A);
}

Test(vecnum, promotion_hands_out_an_id_that_stays)
{
    sharena_id v;
    OK(sharena_vector_new(A, &v));
    OK(sharena_vector_push_number(A, v, 3.25));
    OK(sharena_vector_push_number(A, v, -1));
    uint64_t before = live(A);
    sharena_id id0 = 1;
    cr_assert_eq(value_at(A, v, 0, &id0), 3.25);
    cr_assert_eq(id0, 0, "no id before promotion");

    sharena_id id = 0, again = 0;
    bool owned = false;
    OK(sharena_vector_get(A, v, 0, &id, &owned));
    cr_assert_neq(id, 0);
    cr_assert(owned);
    cr_assert_eq(live(A), before + 1, "promotion made one object");
    cr_assert_eq(sharena_type_of(A, id), SHARENA_T_NUMBER);
    cr_assert_eq(item(A, v, 0), id | SHARENA__REF_OWNED, "the item is a ref");
    double d = 0;
    OK(sharena_number_get(A, id, &d));
    cr_assert_eq(d, 3.25);
    /* a second get: the same object, no new one */
    OK(sharena_vector_get(A, v, 0, &again, NULL));
    cr_assert_eq(again, id);
    cr_assert_eq(live(A), before + 1);
    /* the value read says the same, now with its id */
    sharena_id vid = 0;
    cr_assert_eq(value_at(A, v, 0, &vid), 3.25);
    cr_assert_eq(vid, id);
    /* the id is the element: a change through it shows in the vector */
    OK(sharena_number_set(A, id, 8.5));
    cr_assert_eq(value_at(A, v, 0, NULL), 8.5);
    double out[2];
    OK(sharena_vector_read_numbers(A, v, 0, out, 2));
    cr_assert_eq(out[0], 8.5);
    cr_assert_eq(out[1], -1);
    fsck_clean(A);

    /* set over a promoted number drops its object (the vector owned it) */
    OK(sharena_vector_set_number(A, v, 0, 9));
    cr_assert_eq(sharena_number_get(A, id, &d), SHARENA_ESTALE);
    cr_assert_eq(live(A), before);
    cr_assert_eq(item(A, v, 0), bits(9));
    /* set of a ref over a number in place: nothing to drop or hand back */
    sharena_id s, old = 77;
    OK(sharena_string_new(A, "x", 1, &s));
    OK(sharena_vector_set(A, v, 1, s, SHARENA_OWNED, &old));
    cr_assert_eq(old, 0);
    cr_assert_eq(live(A), before + 1);
    fsck_clean(A);
    OK(sharena_drop(A, v, 0));
    cr_assert_eq(sharena_type_of(A, s), SHARENA_ESTALE);
}

Test(vecnum, special_numbers_round_trip)
{
    sharena_id v;
    OK(sharena_vector_new(A, &v));
    uint64_t before = live(A);
    const double sub = 0x1p-1074, nsub = -0x1.8p-1060, tiny = -0x1.fp-1022;
    double in[] = {NAN,  -NAN, INFINITY,  -INFINITY,  0.0, -0.0,    sub,
                   nsub, tiny, 0x1p-1021, -0x1p-1021, 1,   DBL_MAX, -DBL_MIN};
    size_t n = sizeof in / sizeof in[0];
    for (size_t i = 0; i < n; i++)
        OK(sharena_vector_push_number(A, v, in[i]));
    /* the three below 2^-1021 (but not 0) would read as refs: objects */
    cr_assert_eq(live(A), before + 4, "objects: %lu",
                 (unsigned long)(live(A) - before));
    double out[sizeof in / sizeof in[0]];
    OK(sharena_vector_read_numbers(A, v, 0, out, n));
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(bits(out[i]), bits(in[i]), "item %zu", i);
        sharena_id id;
        cr_assert_eq(bits(value_at(A, v, i, &id)), bits(in[i]), "item %zu", i);
        bool obj = sharena__item_is_ref(bits(in[i]));
        cr_assert_eq(id != 0, obj, "item %zu: id %lu", i, (unsigned long)id);
        cr_assert_eq(sharena__item_is_ref(item(A, v, i)), obj);
    }
    /* -DBL_MIN is 2^-1022 and negative: an object as well */
    cr_assert(sharena__item_is_ref(bits(-DBL_MIN)));
    fsck_clean(A);
    OK(sharena_drop(A, v, 0));
    cr_assert_eq(live(A), before - 1, "the number objects went with it");
}

Test(vecnum, pop_remove_and_set_of_numbers_in_place)
{
    sharena_id v, got;
    OK(sharena_vector_new(A, &v));
    for (int i = 0; i < 5; i++)
        OK(sharena_vector_push_number(A, v, i + 0.5));
    uint64_t before = live(A);
    /* pop hands out a new number object, the caller's */
    OK(sharena_vector_pop(A, v, &got));
    cr_assert_eq(live(A), before + 1);
    double d;
    OK(sharena_number_get(A, got, &d));
    cr_assert_eq(d, 4.5);
    OK(sharena_drop(A, got, 0));
    /* pop without wanting it: just gone */
    OK(sharena_vector_pop(A, v, NULL));
    cr_assert_eq(live(A), before);
    /* remove: nothing to drop or hand back */
    sharena_id old = 5;
    OK(sharena_vector_remove(A, v, 0, &old));
    cr_assert_eq(old, 0);
    cr_assert_eq(live(A), before);
    uint64_t n;
    OK(sharena_vector_len(A, v, &n));
    cr_assert_eq(n, 2);
    cr_assert_eq(value_at(A, v, 0, NULL), 1.5);
    cr_assert_eq(value_at(A, v, 1, NULL), 2.5);
    /* a promoted number popped: the object itself moves to the caller */
    sharena_id id;
    OK(sharena_vector_get(A, v, 1, &id, NULL));
    OK(sharena_vector_pop(A, v, &got));
    cr_assert_eq(got, id);
    OK(sharena_number_get(A, got, &d));
    cr_assert_eq(d, 2.5);
    OK(sharena_drop(A, got, 0));
    cr_assert_eq(sharena_vector_remove(A, v, 3, NULL), SHARENA_ERANGE);
    OK(sharena_vector_pop(A, v, NULL));
    cr_assert_eq(sharena_vector_pop(A, v, &got), SHARENA_ERANGE);
    cr_assert_eq(live(A), before);
    fsck_clean(A);
}

Test(vecnum, read_numbers_ranges_and_types)
{
    sharena_id v, s, num;
    OK(sharena_vector_new(A, &v));
    for (int i = 0; i < 10; i++)
        OK(sharena_vector_push_number(A, v, i));
    double out[12];
    memset(out, 0, sizeof out);
    OK(sharena_vector_read_numbers(A, v, 0, out, 10));
    for (int i = 0; i < 10; i++)
        cr_assert_eq(out[i], i);
    OK(sharena_vector_read_numbers(A, v, 7, out, 3));
    cr_assert_eq(out[0], 7);
    cr_assert_eq(out[2], 9);
    OK(sharena_vector_read_numbers(A, v, 10, out, 0));
    cr_assert_eq(sharena_vector_read_numbers(A, v, 0, out, 11), SHARENA_ERANGE);
    cr_assert_eq(sharena_vector_read_numbers(A, v, 11, out, 0), SHARENA_ERANGE);
    cr_assert_eq(sharena_vector_read_numbers(A, v, 9, out, 2), SHARENA_ERANGE);
    cr_assert_eq(sharena_vector_read_numbers(A, v, 0, NULL, 1), SHARENA_EINVAL);
    /* a number object pushed by id counts as a number */
    OK(sharena_number_new(A, 11, &num));
    OK(sharena_vector_push(A, v, num, SHARENA_OWNED));
    OK(sharena_vector_read_numbers(A, v, 9, out, 2));
    cr_assert_eq(out[1], 11);
    /* a string does not */
    OK(sharena_string_new(A, "s", 1, &s));
    OK(sharena_vector_insert(A, v, 5, s, SHARENA_OWNED));
    cr_assert_eq(sharena_vector_read_numbers(A, v, 0, out, 12), SHARENA_ETYPE);
    OK(sharena_vector_read_numbers(A, v, 0, out, 5));
    OK(sharena_vector_read_numbers(A, v, 6, out, 6));
    cr_assert_eq(out[5], 11);
    /* a dangling ref (an unowned number dropped) is no number either */
    sharena_id gone;
    OK(sharena_number_new(A, 1, &gone));
    OK(sharena_vector_push(A, v, gone, 0));
    OK(sharena_drop(A, gone, 0));
    cr_assert_eq(sharena_vector_read_numbers(A, v, 12, out, 1), SHARENA_ETYPE);
    sharena_value val;
    cr_assert_eq(sharena_vector_get_value(A, v, 12, NULL, 0, &val),
                 SHARENA_ESTALE);
    /* not a vector */
    cr_assert_eq(sharena_vector_read_numbers(A, s, 0, out, 0), SHARENA_ETYPE);
    fsck_clean(A);
}

Test(vecnum, readonly_handle_reads_but_does_not_promote)
{
    sharena_id v;
    OK(sharena_vector_new(A, &v));
    OK(sharena_vector_push_number(A, v, 6.5));
    sharena_arena *ro;
    OK(sharena_arena_from_fd(sharena_arena_fd(A), SHARENA_READONLY, &ro));
    uint64_t before = live(A);
    sharena_id id = 5;
    cr_assert_eq(sharena_vector_get(ro, v, 0, &id, NULL), SHARENA_EROFS);
    cr_assert_eq(live(A), before);
    cr_assert_eq(item(A, v, 0), bits(6.5), "the item is unchanged");
    bool owned = false;
    OK(sharena_vector_get(ro, v, 0, NULL, &owned));
    cr_assert(owned);
    cr_assert_eq(value_at(ro, v, 0, NULL), 6.5);
    double d = 0;
    OK(sharena_vector_read_numbers(ro, v, 0, &d, 1));
    cr_assert_eq(d, 6.5);
    cr_assert_eq(sharena_vector_push_number(ro, v, 1), SHARENA_EROFS);
    cr_assert_eq(sharena_vector_set_number(ro, v, 0, 1), SHARENA_EROFS);
    /* a number promoted through the writable handle reads by id on both */
    OK(sharena_vector_get(A, v, 0, &id, NULL));
    sharena_id rid = 0;
    OK(sharena_vector_get(ro, v, 0, &rid, NULL));
    cr_assert_eq(rid, id);
    OK(sharena_number_get(ro, rid, &d));
    cr_assert_eq(d, 6.5);
    sharena_arena_close(ro);
}

/* With no handle slot left, promotion and pop cannot make their object:
 * they fail and the vector is as it was. */
Test(vecnum, failed_promotion_changes_nothing)
{
    sharena_arena *a;
    OK(sharena_arena_create("vecfull", SHARENA_MIN_CAPACITY, &a));
    sharena_id v, id, filler;
    OK(sharena_vector_new(a, &v));
    for (int i = 0; i < 8; i++)
        OK(sharena_vector_push_number(a, v, i * 2.0));
    uint64_t made = 0, last = 0;
    int r = 0;
    for (; made < 10u * 1000 * 1000; made++) {
        if ((r = sharena_number_new(a, 1, &filler)) < 0)
            break;
        last = filler;
    }
    cr_assert_eq(r, SHARENA_EFULL, "%s after %lu", sharena_strerror(r),
                 (unsigned long)made);
    uint64_t before = live(a);
    cr_assert_eq(sharena_vector_get(a, v, 3, &id, NULL), SHARENA_EFULL);
    cr_assert_eq(sharena_vector_pop(a, v, &id), SHARENA_EFULL);
    cr_assert_eq(live(a), before);
    uint64_t n;
    OK(sharena_vector_len(a, v, &n));
    cr_assert_eq(n, 8, "pop changed nothing");
    for (uint64_t i = 0; i < 8; i++) {
        cr_assert_eq(item(a, v, i), bits(i * 2.0), "item %lu",
                     (unsigned long)i);
    }
    /* a subnormal needs an object too: refused, nothing pushed */
    cr_assert_eq(sharena_vector_push_number(a, v, 0x1p-1070), SHARENA_EFULL);
    OK(sharena_vector_len(a, v, &n));
    cr_assert_eq(n, 8);
    fsck_clean(a);
    /* with a slot free again, the same calls work */
    OK(sharena_drop(a, last, 0));
    OK(sharena_vector_get(a, v, 3, &id, NULL));
    double d;
    OK(sharena_number_get(a, id, &d));
    cr_assert_eq(d, 6);
    fsck_clean(a);
    sharena_arena_close(a);
}

Test(vecnum, builder_puts_numbers_in_items)
{
    sharena_id v, top;
    OK(sharena_vector_new(A, &v));
    OK(sharena_vector_push_number(A, v, 100));
    OK(sharena_vector_get(A, v, 0, &top, NULL)); /* promoted: an object */
    uint64_t before = live(A);
    sharena_builder *b;
    /* a vector built with numbers: one object, the vector */
    OK(sharena_build_begin(A, &b));
    OK(sharena_build_vector(b));
    for (int i = 0; i < 50; i++)
        OK(sharena_build_number(b, i));
    OK(sharena_build_end(b));
    sharena_id nv;
    OK(sharena_build_finish(b, &nv));
    cr_assert_eq(live(A), before + 1);
    double out[50];
    OK(sharena_vector_read_numbers(A, nv, 0, out, 50));
    for (int i = 0; i < 50; i++)
        cr_assert_eq(out[i], i);
    OK(sharena_drop(A, nv, 0));
    /* a splice of top-level numbers replaces a promoted one: its object is
     * dropped, the new numbers take none */
    OK(sharena_build_begin(A, &b));
    OK(sharena_build_number(b, 1));
    OK(sharena_build_number(b, 0x1p-1070)); /* stays an object */
    OK(sharena_build_number(b, 3));
    OK(sharena_build_vector_splice(b, v, 0, 1));
    cr_assert_eq(sharena_type_of(A, top), SHARENA_ESTALE);
    cr_assert_eq(live(A), before - 1 + 1, "only the subnormal's object");
    OK(sharena_vector_read_numbers(A, v, 0, out, 3));
    cr_assert_eq(out[0], 1);
    cr_assert_eq(out[1], 0x1p-1070);
    cr_assert_eq(out[2], 3);
    cr_assert_eq(item(A, v, 0), bits(1));
    /* many top-level numbers: never objects, not even for a moment (the
     * handle table would grow for them, and a table never shrinks) */
    sharena_arena_info i0, i1;
    OK(sharena_arena_info_get(A, &i0));
    OK(sharena_build_begin(A, &b));
    for (int i = 0; i < 5000; i++)
        OK(sharena_build_number(b, i));
    OK(sharena_build_vector_splice(b, v, SHARENA_BUILD_END, 0));
    OK(sharena_arena_info_get(A, &i1));
    cr_assert_lt(i1.used_bytes - i0.used_bytes, 5003 * 8 * 2 + 4096,
                 "used %lu bytes more",
                 (unsigned long)(i1.used_bytes - i0.used_bytes));
    OK(sharena_vector_read_numbers(A, v, 3 + 4999, out, 1));
    cr_assert_eq(out[0], 4999);
    /* a failed splice changes nothing and leaves no objects */
    OK(sharena_build_begin(A, &b));
    OK(sharena_build_number(b, 5));
    cr_assert_eq(sharena_build_vector_splice(b, v, 99999, 0), SHARENA_ERANGE);
    cr_assert_eq(live(A), before);
    uint64_t n;
    OK(sharena_vector_len(A, v, &n));
    cr_assert_eq(n, 5003);
    fsck_clean(A);
}
