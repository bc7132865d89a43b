/* Unit tests of the value builder (sharena_build_*): a tree comes out as
 * built, and every failure (arena full at any point, bad UTF-8, a stale
 * ref, too deep, misuse) leaves the arena exactly as before: same used
 * bytes, same live objects, same content. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sharena.h"

/* A value stored in a map entry or vector item (no id), as dump() shows
 * it. */
static void show_stored(const sharena_value *v, const char *s, char *out,
                        size_t cap)
{
    size_t n = strlen(out);
    char *p = out + n;
    cap -= n;
    if (v->type == SHARENA_T_NUMBER)
        snprintf(p, cap, "%g", v->number);
    else if (v->type == SHARENA_T_BOOL)
        snprintf(p, cap, "%s", v->boolean ? "true" : "false");
    else if (v->type == SHARENA_T_STRING)
        snprintf(p, cap, "'%s'", s);
    else
        snprintf(p, cap, "null");
}

/* A container's content as text, deep (keys in table order). Reads only:
 * a value stored in a map entry is not given an id. */
static void dump(sharena_arena *a, sharena_id id, char *out, size_t cap)
{
    size_t n = strlen(out);
    char *p = out + n;
    cap -= n;
    switch (sharena_type_of(a, id)) {
    case SHARENA_T_NUMBER: {
        double d;
        cr_assert_eq(sharena_number_get(a, id, &d), 0);
        snprintf(p, cap, "%g", d);
        break;
    }
    case SHARENA_T_BOOL: {
        bool b;
        cr_assert_eq(sharena_bool_get(a, id, &b), 0);
        snprintf(p, cap, "%s", b ? "true" : "false");
        break;
    }
    case SHARENA_T_STRING: {
        char buf[256];
        size_t len;
        cr_assert_eq(sharena_string_get(a, id, buf, sizeof buf, &len), 0);
        snprintf(p, cap, "'%s'", buf);
        break;
    }
    case SHARENA_T_BYTES: {
        uint64_t size;
        cr_assert_eq(sharena_bytes_ptr(a, id, NULL, &size), 0);
        snprintf(p, cap, "b%llu", (unsigned long long)size);
        break;
    }
    case SHARENA_T_VECTOR: {
        uint64_t len;
        cr_assert_eq(sharena_vector_len(a, id, &len), 0);
        strncat(p, "[", cap - 1);
        for (uint64_t i = 0; i < len; i++) {
            sharena_value v;
            char s[256];
            cr_assert_eq(sharena_vector_get_value(a, id, i, s, sizeof s, &v),
                         0);
            if (v.id)
                dump(a, v.id, out, cap + n);
            else
                show_stored(&v, s, out, cap + n);
            strncat(out, ",", cap + n - strlen(out) - 1);
        }
        strncat(out, "]", cap + n - strlen(out) - 1);
        break;
    }
    case SHARENA_T_MAP: {
        uint64_t cur = 0;
        char key[128];
        size_t klen;
        sharena_value v;
        char s[256];
        strncat(p, "{", cap - 1);
        while (sharena_map_next_value(a, id, &cur, key, sizeof key, &klen, s,
                                      sizeof s, &v) == 0) {
            strncat(out, key, cap + n - strlen(out) - 1);
            strncat(out, ":", cap + n - strlen(out) - 1);
            if (v.id)
                dump(a, v.id, out, cap + n);
            else
                show_stored(&v, s, out, cap + n);
            strncat(out, ",", cap + n - strlen(out) - 1);
        }
        strncat(out, "}", cap + n - strlen(out) - 1);
        break;
    }
    default:
        snprintf(p, cap, "?");
    }
}

static char *content(sharena_arena *a, sharena_id id)
{
    static char buf[2][65536];
    static int which;
    char *b = buf[which ^= 1];
    b[0] = 0;
    dump(a, id, b, sizeof buf[0]);
    return b;
}

struct snap {
    uint64_t used, objects;
    char map[65536], vec[65536];
};

static void take(sharena_arena *a, sharena_id m, sharena_id v, struct snap *s)
{
    sharena_arena_info i;
    cr_assert_eq(sharena_arena_info_get(a, &i), 0);
    s->used = i.used_bytes;
    s->objects = i.objects;
    strcpy(s->map, content(a, m));
    strcpy(s->vec, content(a, v));
}

static void same(const struct snap *x, const struct snap *y, const char *what)
{
    cr_assert_eq(x->used, y->used, "%s: used bytes %llu -> %llu", what,
                 (unsigned long long)x->used, (unsigned long long)y->used);
    cr_assert_eq(x->objects, y->objects, "%s: objects", what);
    cr_assert_str_eq(x->map, y->map, "%s: map", what);
    cr_assert_str_eq(x->vec, y->vec, "%s: vector", what);
}

/* {"n": 1.5, "list": [true, "x", {"deep": [1, 2]}], "raw": b"abc"} */
static void tree(sharena_builder *b)
{
    sharena_build_map(b);
    sharena_build_key(b, "n", 1);
    sharena_build_number(b, 1.5);
    sharena_build_key(b, "list", 4);
    sharena_build_vector(b);
    sharena_build_bool(b, true);
    sharena_build_string(b, "x", 1);
    sharena_build_map(b);
    sharena_build_key(b, "deep", 4);
    sharena_build_vector(b);
    for (int i = 1; i <= 2; i++)
        sharena_build_number(b, i);
    sharena_build_end(b);
    sharena_build_end(b);
    sharena_build_end(b);
    sharena_build_key(b, "raw", 3);
    sharena_build_bytes(b, "abc", 3);
    sharena_build_end(b);
}

static sharena_arena *A;
static sharena_id M, V;
static struct snap S0, S1;

static void objects(void)
{
    cr_assert_eq(sharena_map_new(A, &M), 0);
    cr_assert_eq(sharena_map_set_string(A, M, "keep", 4, "old", 3), 0);
    cr_assert_eq(sharena_map_set_number(A, M, "n", 1, 7), 0);
    cr_assert_eq(sharena_vector_new(A, &V), 0);
    const char *items[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++) {
        sharena_id s;
        cr_assert_eq(sharena_string_new(A, items[i], 1, &s), 0);
        cr_assert_eq(sharena_vector_push(A, V, s, SHARENA_OWNED), 0);
    }
}
static void up(void)
{
    cr_assert_eq(sharena_arena_create("build", 0, &A), 0);
    objects();
}
static void down(void)
{
    sharena_fsck_report rep;
    cr_expect_eq(sharena_fsck(A, 0, NULL, NULL, &rep), 0,
                 "fsck after the test");
    sharena_arena_close(A);
}
TestSuite(build, .init = up, .fini = down);

Test(build, tree_as_built)
{
    sharena_builder *b;
    cr_assert_eq(sharena_build_begin(A, &b), 0);
    tree(b);
    sharena_id t;
    cr_assert_eq(sharena_build_finish(b, &t), 0);
    const char *c = content(A, t); /* keys come in table order */
    cr_assert_neq(strstr(c, "n:1.5,"), NULL, "%s", c);
    cr_assert_neq(strstr(c, "list:[true,'x',{deep:[1,2,],},],"), NULL, "%s", c);
    cr_assert_neq(strstr(c, "raw:b3,"), NULL, "%s", c);
    cr_assert_eq(strlen(c),
                 strlen("{n:1.5,list:[true,'x',{deep:[1,2,],},],raw:b3,}"));
    /* the tree is one owner's: dropping the top drops all */
    sharena_arena_info i0, i1;
    cr_assert_eq(sharena_arena_info_get(A, &i0), 0);
    cr_assert_eq(sharena_drop(A, t, 0), 0);
    cr_assert_eq(sharena_arena_info_get(A, &i1), 0);
    /* (n's 1.5 is stored in the map's entry, 1 and 2 in the vector's
     * items: no objects of their own) */
    cr_assert_eq(i0.objects - i1.objects, 7);
}

Test(build, update_and_splice)
{
    sharena_builder *b;
    cr_assert_eq(sharena_build_begin(A, &b), 0);
    sharena_build_key(b, "n", 1);
    sharena_build_string(b, "seven", 5);
    sharena_build_key(b, "t", 1);
    tree(b);
    cr_assert_eq(sharena_build_map_update(b, M), 0);
    cr_assert_str_eq(content(A, M), content(A, M)); /* stable */
    sharena_id v;
    cr_assert_eq(sharena_map_get(A, M, "n", 1, &v), 0);
    cr_assert_eq(sharena_type_of(A, v), SHARENA_T_STRING);
    cr_assert_eq(sharena_map_get(A, M, "keep", 4, &v), 0);

    /* v[1:3] = [1, v[3]]: the moved item stays alive and owned */
    sharena_id d;
    cr_assert_eq(sharena_vector_get(A, V, 3, &d, NULL), 0);
    cr_assert_eq(sharena_build_begin(A, &b), 0);
    sharena_build_number(b, 1);
    sharena_build_ref(b, d, 0);
    cr_assert_eq(sharena_build_vector_splice(b, V, 1, 3), 0);
    cr_assert_str_eq(content(A, V), "['a',1,'d',]");
    bool owned;
    cr_assert_eq(sharena_vector_get(A, V, 2, &v, &owned), 0);
    cr_assert_eq(v, d);
    cr_assert(owned, "the item kept its owner");
    /* append */
    cr_assert_eq(sharena_build_begin(A, &b), 0);
    sharena_build_bool(b, false);
    cr_assert_eq(sharena_build_vector_splice(b, V, SHARENA_BUILD_END, 0), 0);
    cr_assert_str_eq(content(A, V), "['a',1,'d',false,]");
}

/* Build {"keep": "new", "n": 8, "t": tree} into M, then [tree, 9] into V
 * replacing [1:3]: the failure comes where @p bad says. */
static int try_update(int bad)
{
    sharena_builder *b;
    cr_assert_eq(sharena_build_begin(A, &b), 0);
    sharena_build_key(b, "keep", 4);
    sharena_build_string(b, "new", 3);
    sharena_build_key(b, "n", 1);
    sharena_build_number(b, 8);
    sharena_build_key(b, "t", 1);
    sharena_build_map(b);
    sharena_build_key(b, "x", 1);
    tree(b);
    if (bad == 1)
        sharena_build_string(b, "\xff", 1); /* no key: misuse */
    if (bad == 2) {
        sharena_build_key(b, "y", 1);
        sharena_build_string(b, "\xc3", 1); /* bad UTF-8 */
    }
    if (bad == 3) {
        sharena_build_key(b, "y", 1);
        sharena_build_ref(b, (sharena_id)1 << 40, 0); /* no such object */
    }
    if (bad == 4)
        for (int i = 0; i < SHARENA_BUILD_DEPTH_MAX + 1; i++) {
            sharena_build_key(b, "z", 1);
            sharena_build_map(b);
        }
    sharena_build_end(b);
    return sharena_build_map_update(b, M);
}

/* Make room in the handle table for @p n objects: a table that grows stays
 * grown (its chunks are not given back), which is the one change a failed
 * build may leave (more free slots, not more objects). */
static void warm_up(int n)
{
    sharena_builder *b;
    cr_assert_eq(sharena_build_begin(A, &b), 0);
    sharena_build_vector(b);
    for (int i = 0; i < n; i++)
        sharena_build_bool(b, true);
    sharena_build_end(b);
    sharena_id t;
    cr_assert_eq(sharena_build_finish(b, &t), 0);
    cr_assert_eq(sharena_drop(A, t, 0), 0);
}

Test(build, failures_change_nothing)
{
    warm_up(1100);
    take(A, M, V, &S0);
    cr_assert_eq(try_update(1), SHARENA_EINVAL);
    take(A, M, V, &S1);
    same(&S0, &S1, "no key");
    cr_assert_eq(try_update(2), SHARENA_EILSEQ);
    take(A, M, V, &S1);
    same(&S0, &S1, "bad UTF-8");
    cr_assert_eq(try_update(3), SHARENA_ENOENT);
    take(A, M, V, &S1);
    same(&S0, &S1, "stale ref");
    cr_assert_eq(try_update(4), SHARENA_EOVERFLOW);
    take(A, M, V, &S1);
    same(&S0, &S1, "too deep");
    /* the map itself as a value; splice past the end */
    sharena_builder *b;
    cr_assert_eq(sharena_build_begin(A, &b), 0);
    sharena_build_key(b, "self", 4);
    sharena_build_ref(b, M, 0);
    cr_assert_eq(sharena_build_map_update(b, M), SHARENA_EINVAL);
    cr_assert_eq(sharena_build_begin(A, &b), 0);
    tree(b);
    cr_assert_eq(sharena_build_vector_splice(b, V, 5, 0), SHARENA_ERANGE);
    /* an owned ref below the top level is refused; abort drops the rest */
    cr_assert_eq(sharena_build_begin(A, &b), 0);
    sharena_build_vector(b);
    cr_assert_eq(sharena_build_ref(b, V, SHARENA_OWNED), SHARENA_EINVAL);
    sharena_build_abort(b);
    take(A, M, V, &S1);
    same(&S0, &S1, "refused");
    cr_assert_eq(try_update(0), 0);
}

/* Fill a small arena, then give back one filler block at a time and try
 * the update and the splice: each either applies whole or changes nothing,
 * whichever step runs out of room (a child, the map growing, a key, the
 * vector's new block). */
Test(build, full_arena_at_every_point)
{
    sharena_arena *s;
    cr_assert_eq(sharena_arena_create("small", SHARENA_MIN_CAPACITY, &s), 0);
    sharena_arena *keep = A;
    A = s;
    sharena_id m = M, v = V;
    objects(); /* M, V in the small arena */
    warm_up(300);
    static sharena_id fill[8192];
    size_t nfill = 0;
    while (nfill < 8192 && sharena_bytes_new(A, 200, &fill[nfill]) == 0)
        nfill++;
    cr_assert_lt(nfill, 8192, "the arena filled up");
    int fails = 0, done = 0;
    for (size_t k = nfill; k-- > 0 && done < 2;) {
        cr_assert_eq(sharena_drop(A, fill[k], 0), 0);
        take(A, M, V, &S0);
        int r = done ? 0 : try_update(0);
        if (r == 0 && !done) {
            done = 1;
            cr_assert_neq(strstr(content(A, M), "keep:'new'"), NULL);
            take(A, M, V, &S0);
        } else if (r < 0) {
            cr_assert_eq(r, SHARENA_EFULL);
            fails++;
            take(A, M, V, &S1);
            same(&S0, &S1, "update in a full arena");
            continue;
        }
        if (done == 1 && r == 0 && k) {
            sharena_builder *b;
            cr_assert_eq(sharena_build_begin(A, &b), 0);
            tree(b);
            for (int i = 0; i < 40; i++)
                sharena_build_number(b, i);
            r = sharena_build_vector_splice(b, V, 1, 2);
            if (r == 0) {
                done = 2;
                cr_assert_eq(strncmp(content(A, V), "['a',{", 6), 0);
            } else {
                cr_assert_eq(r, SHARENA_EFULL);
                fails++;
                take(A, M, V, &S1);
                same(&S0, &S1, "splice in a full arena");
            }
        }
    }
    cr_assert_eq(done, 2, "both fit in the end");
    cr_assert_gt(fails, 5, "some attempts failed first");
    down();
    A = keep;
    M = m;
    V = v;
}

/* Structs and shapes in a tree: fields set by name, structs of one
 * definition share one shape (the shape value when the tree has one), and
 * every misuse or failure leaves the arena as it was, the shapes made for
 * structs included. */
static const sharena_field_def PT[] = {
    {"x", SHARENA_T_NUMBER, 0},
    {"on", SHARENA_T_BOOL, 0},
    {"label", SHARENA_T_STRING, 0},
    {"blob", SHARENA_T_BYTES, 3},
};

/* [struct{x: @p x, on, label, blob}, struct{x}, shape] */
static void structs(sharena_builder *b, double x)
{
    sharena_build_vector(b);
    sharena_build_struct(b, PT, 4);
    sharena_build_key(b, "x", 1);
    sharena_build_number(b, x);
    sharena_build_key(b, "on", 2);
    sharena_build_bool(b, true);
    sharena_build_key(b, "label", 5);
    sharena_build_string(b, "pt", 2);
    sharena_build_key(b, "blob", 4);
    sharena_build_bytes(b, "abc", 3);
    sharena_build_end(b);
    sharena_build_struct(b, PT, 4);
    sharena_build_key(b, "x", 1);
    sharena_build_number(b, -1);
    sharena_build_end(b);
    sharena_build_shape(b, PT, 4);
    sharena_build_end(b);
}

Test(build, structs_and_shapes)
{
    sharena_builder *b;
    cr_assert_eq(sharena_build_begin(A, &b), 0);
    structs(b, 2.5);
    sharena_id t, s0, s1, sh, shape0, shape1;
    cr_assert_eq(sharena_build_finish(b, &t), 0);
    cr_assert_eq(sharena_vector_get(A, t, 0, &s0, NULL), 0);
    cr_assert_eq(sharena_vector_get(A, t, 1, &s1, NULL), 0);
    cr_assert_eq(sharena_vector_get(A, t, 2, &sh, NULL), 0);
    cr_assert_eq(sharena_type_of(A, s0), SHARENA_T_STRUCT);
    cr_assert_eq(sharena_type_of(A, sh), SHARENA_T_SHAPE);
    cr_assert_eq(sharena_struct_shape(A, s0, &shape0), 0);
    cr_assert_eq(sharena_struct_shape(A, s1, &shape1), 0);
    cr_assert_eq(shape0, shape1, "one shape for one definition");
    cr_assert_eq(shape0, sh, "the shape value is the structs' shape");
    double d;
    bool on;
    char buf[16];
    size_t len;
    cr_assert_eq(sharena_struct_get_number(A, s0, 0, &d), 0);
    cr_assert_eq(d, 2.5);
    cr_assert_eq(sharena_struct_get_bool(A, s0, 1, &on), 0);
    cr_assert(on);
    cr_assert_eq(sharena_struct_get_string(A, s0, 2, buf, sizeof buf, &len), 0);
    cr_assert_str_eq(buf, "pt");
    sharena_id fid;
    cr_assert_eq(sharena_struct_field_id(A, s0, 3, &fid), 0);
    cr_assert_eq(sharena_bytes_read(A, fid, 0, buf, 3), 0);
    cr_assert_eq(memcmp(buf, "abc", 3), 0);
    cr_assert_eq(sharena_struct_get_number(A, s1, 0, &d), 0);
    cr_assert_eq(d, -1);
    cr_assert_eq(sharena_struct_get_bool(A, s1, 1, &on), 0);
    cr_assert(!on, "a field not set keeps its default");
    /* the tree owns all: dropping it drops the structs and the shape */
    sharena_arena_info i0, i1;
    cr_assert_eq(sharena_arena_info_get(A, &i0), 0);
    cr_assert_eq(sharena_drop(A, t, 0), 0);
    cr_assert_eq(sharena_arena_info_get(A, &i1), 0);
    /* vector, 2 structs with a string and bytes each, the shape */
    cr_assert_eq(i0.objects - i1.objects, 8, "%llu",
                 (unsigned long long)(i0.objects - i1.objects));

    /* without a shape value the shape stays, detached, after success */
    cr_assert_eq(sharena_build_begin(A, &b), 0);
    sharena_build_struct(b, PT, 2);
    sharena_build_end(b);
    cr_assert_eq(sharena_build_finish(b, &t), 0);
    cr_assert_eq(sharena_struct_shape(A, t, &shape0), 0);
    cr_assert_eq(sharena_type_of(A, shape0), SHARENA_T_SHAPE);
    cr_assert_eq(sharena_drop(A, t, 0), 0);
    cr_assert_eq(sharena_drop(A, shape0, 0), 0);
}

/* One misuse inside a struct, as @p bad says. */
static int try_struct(int bad)
{
    sharena_builder *b;
    cr_assert_eq(sharena_build_begin(A, &b), 0);
    sharena_build_key(b, "t", 1);
    sharena_build_map(b);
    sharena_build_key(b, "s", 1);
    structs(b, 1);
    sharena_build_key(b, "z", 1);
    sharena_build_struct(b, PT, 4);
    sharena_build_key(b,
                      bad == 1   ? "nope"
                      : bad == 2 ? "on"
                                 : "blob",
                      bad == 1   ? 4
                      : bad == 2 ? 2
                                 : 4);
    if (bad == 1 || bad == 2)
        sharena_build_number(b, 1); /* no such field; a bool field */
    else if (bad == 3)
        sharena_build_bytes(b, "ab", 2); /* another size */
    else
        sharena_build_map(b); /* no map in a struct */
    sharena_build_end(b);
    sharena_build_end(b);
    return sharena_build_map_update(b, M);
}

Test(build, struct_misuse_changes_nothing)
{
    warm_up(100);
    take(A, M, V, &S0);
    cr_assert_eq(try_struct(1), SHARENA_ENOENT);
    take(A, M, V, &S1);
    same(&S0, &S1, "no such field");
    cr_assert_eq(try_struct(2), SHARENA_ETYPE);
    take(A, M, V, &S1);
    same(&S0, &S1, "another type");
    cr_assert_eq(try_struct(3), SHARENA_ERANGE);
    take(A, M, V, &S1);
    same(&S0, &S1, "bytes of another size");
    cr_assert_eq(try_struct(4), SHARENA_ETYPE);
    take(A, M, V, &S1);
    same(&S0, &S1, "a map in a struct");
    /* a bad definition */
    sharena_field_def dup[] = {{"a", SHARENA_T_NUMBER, 0},
                               {"a", SHARENA_T_BOOL, 0}};
    sharena_builder *b;
    cr_assert_eq(sharena_build_begin(A, &b), 0);
    structs(b, 1);
    cr_assert_eq(sharena_build_struct(b, dup, 2), SHARENA_EEXIST);
    sharena_id t;
    cr_assert_eq(sharena_build_finish(b, &t), SHARENA_EEXIST);
    take(A, M, V, &S1);
    same(&S0, &S1, "struct misuse");
}
