/* mapinline.c: values stored in a map's entry (format 4, issue 21). A
 * number, boolean, null or string of up to 16 bytes set with the
 * sharena_map_set_* calls takes no object and has no id; reads of the
 * value (get_value, next_value, next_ref, get without an id) never make
 * one; an id asked for (map_get, map_next) makes one under the map's lock
 * (promotion), which stays valid and is the value. A read-only handle
 * reads but does not promote; a promotion that cannot make its object, and
 * a builder update that fails midway, change nothing. A value change of
 * more than one store is recorded in the table header (pend_set,
 * pend_entry), and repair finishes one a writer died in. fsck stays clean
 * throughout. Looks at the entries through the internal header. */
#include "internal.h"
#include "sharena.h"

#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static sharena_arena *A;

static void up(void)
{
    cr_assert_eq(sharena_arena_create("mapinline", 0, &A), 0);
}
static void down(void)
{
    sharena_arena_close(A);
}
TestSuite(mapinline, .init = up, .fini = down, .timeout = 120);

#define OK(x)                                                                  \
    do {                                                                       \
        int r_ = (x);                                                          \
        cr_assert_eq(r_, 0, "%s: %s", #x, sharena_strerror(r_));               \
    } while (0)

#define FAILS(x, err)                                                          \
    do {                                                                       \
        int r_ = (x);                                                          \
        cr_assert_eq(r_, (err), "%s: %d (%s), wanted %s", #x, r_,              \
                     sharena_strerror(r_), sharena_errname(err));              \
    } while (0)

static void fsck_clean(sharena_arena *a)
{
    sharena_fsck_report rep;
    OK(sharena_fsck(a, 0, NULL, NULL, &rep));
    cr_assert_eq(rep.errors, 0, "fsck found %lu problem(s)",
                 (unsigned long)rep.errors);
}

static sharena_arena_info info(sharena_arena *a)
{
    sharena_arena_info i;
    OK(sharena_arena_info_get(a, &i));
    return i;
}
static uint64_t live(sharena_arena *a)
{
    return info(a).objects;
}
static uint64_t used(sharena_arena *a)
{
    return info(a).used_bytes;
}

static uint64_t bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

/* The table of map @p m (tests look at the layout). */
static struct sharena__map *table_of(sharena_arena *a, sharena_id m)
{
    struct sharena__slot *s;
    OK(sharena__resolve(a, m, SHARENA_T_MAP, &s));
    return (void *)((uint8_t *)sharena_arena_base(a) + s->word);
}
static struct sharena__map_entry *entries_of(struct sharena__map *t)
{
    return (void *)((uint8_t *)t + SHARENA__MAP_ENTRIES(t->cap));
}

/* The entry of key @p k (inline or block key). */
static struct sharena__map_entry *entry_of(sharena_arena *a, sharena_id m,
                                           const char *k)
{
    struct sharena__map *t = table_of(a, m);
    struct sharena__map_entry *e = entries_of(t);
    const uint8_t *base = sharena_arena_base(a);
    for (uint64_t i = 0; i < t->count; i++) {
        const char *data = (const char *)e[i].key.inl;
        uint64_t len = e[i].klen;
        if (len == SHARENA__KEY_BLOCK) {
            const struct sharena__key *key = (const void *)(base +
                                                            e[i].key.off);
            data = key->data;
            len = key->len;
        }
        if (len == strlen(k) && memcmp(data, k, len) == 0)
            return &e[i];
    }
    cr_assert_fail("no key %s", k);
    return NULL;
}

/* get_value of @p k, which must work; a string into @p buf (256 bytes). */
static sharena_value getv(sharena_arena *a, sharena_id m, const char *k,
                          char *buf)
{
    sharena_value v;
    memset(&v, 0xa5, sizeof v);
    int r = sharena_map_get_value(a, m, k, strlen(k), buf, 256, &v);
    cr_assert_eq(r, 0, "get_value %s: %s", k, sharena_strerror(r));
    return v;
}

static double num_at(sharena_arena *a, sharena_id m, const char *k)
{
    char buf[256];
    sharena_value v = getv(a, m, k, buf);
    cr_assert_eq(v.type, SHARENA_T_NUMBER, "%s: type %d", k, v.type);
    return v.number;
}

/* The string at @p k is @p want, stored in the entry (no id). */
static void expect_inline_string(sharena_arena *a, sharena_id m, const char *k,
                                 const char *want, size_t wlen)
{
    char buf[256];
    sharena_value v = getv(a, m, k, buf);
    cr_assert_eq(v.type, SHARENA_T_STRING, "%s: type %d", k, v.type);
    cr_assert_eq(v.id, 0, "%s: stored in the entry, no id", k);
    cr_assert_eq(v.len, wlen, "%s: len %zu", k, v.len);
    cr_assert_eq(memcmp(buf, want, wlen), 0, "%s", k);
    cr_assert_eq(buf[wlen], 0);
    struct sharena__map_entry *e = entry_of(a, m, k);
    cr_assert_eq(e->vkind, SHARENA__V_STRING);
    cr_assert_eq(e->vlen, wlen);
    cr_assert_eq(memcmp(e->value.inl, want, wlen), 0);
    for (size_t i = wlen; i < SHARENA__VALUE_INLINE_MAX; i++)
        cr_assert_eq(e->value.inl[i], 0, "%s: byte %zu after the string", k, i);
}

/* ---- round trips ---------------------------------------------------------- */

Test(mapinline, every_kind_round_trips_in_the_entry)
{
    sharena_id m;
    OK(sharena_map_new(A, &m));
    uint64_t before = live(A);
    const double nums[] = {
        0.0,  -0.0,  NAN,     -NAN,     INFINITY,  -INFINITY,  1,
        -1.5, 1e300, DBL_MAX, -DBL_MIN, 0x1p-1074, -0x1p-1060, 0x1p53 + 2};
    size_t nn = sizeof nums / sizeof nums[0];
    char k[32];
    for (size_t i = 0; i < nn; i++) {
        snprintf(k, sizeof k, "n%zu", i);
        OK(sharena_map_set_number(A, m, k, strlen(k), nums[i]));
    }
    OK(sharena_map_set_bool(A, m, "t", 1, true));
    OK(sharena_map_set_bool(A, m, "f", 1, false));
    OK(sharena_map_set_null(A, m, "z", 1));
    static const struct {
        const char *k, *s;
    } strs[] = {
        {"s0", ""},
        {"s1", "a"},
        {"s16", "0123456789abcdef"},
        {"utf8", "\xc3\xa9\xe2\x86\x92\xf0\x9f\x98\x80"}, /* e-acute, arrow,
                                                          emoji: 9 bytes */
        {"utf16", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xe2\x82\xac"
                  "abc"}, /* 16 bytes of UTF-8 */
        {"nul", "a\0b"},  /* (len 3: a NUL inside is a character) */
    };
    size_t ns = sizeof strs / sizeof strs[0];
    for (size_t i = 0; i < ns; i++) {
        size_t len = strcmp(strs[i].k, "nul") ? strlen(strs[i].s) : 3;
        OK(sharena_map_set_string(A, m, strs[i].k, strlen(strs[i].k), strs[i].s,
                                  len));
    }
    cr_assert_eq(live(A), before, "values in entries take no objects");
    /* 17 bytes, ASCII and UTF-8: a string object */
    OK(sharena_map_set_string(A, m, "s17", 3, "0123456789abcdefg", 17));
    const char *u17 = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3"
                      "\xa9\xe2\x82\xac"; /* 14 + 3 bytes */
    cr_assert_eq(strlen(u17), 17);
    OK(sharena_map_set_string(A, m, "u17", 3, u17, 17));
    cr_assert_eq(live(A), before + 2, "two strings over 16 bytes");

    char buf[256];
    for (size_t i = 0; i < nn; i++) {
        snprintf(k, sizeof k, "n%zu", i);
        sharena_value v = getv(A, m, k, buf);
        cr_assert_eq(v.type, SHARENA_T_NUMBER);
        cr_assert_eq(v.id, 0);
        cr_assert_eq(bits(v.number), bits(nums[i]), "%s: bits %lx", k,
                     (unsigned long)bits(v.number));
        struct sharena__map_entry *e = entry_of(A, m, k);
        cr_assert_eq(e->vkind, SHARENA__V_NUMBER);
        cr_assert_eq(e->vlen, 0);
        cr_assert_eq(e->value.w[0], bits(nums[i]));
        cr_assert_eq(e->value.w[1], 0);
    }
    sharena_value v = getv(A, m, "t", buf);
    cr_assert(v.type == SHARENA_T_BOOL && v.boolean && v.id == 0);
    cr_assert_eq(entry_of(A, m, "t")->value.w[0], 1);
    v = getv(A, m, "f", buf);
    cr_assert(v.type == SHARENA_T_BOOL && !v.boolean && v.id == 0);
    v = getv(A, m, "z", buf);
    cr_assert(v.type == SHARENA_T_NULL && v.id == 0);
    cr_assert_eq(entry_of(A, m, "z")->vkind, SHARENA__V_NULL);
    for (size_t i = 0; i < ns; i++) {
        size_t len = strcmp(strs[i].k, "nul") ? strlen(strs[i].s) : 3;
        expect_inline_string(A, m, strs[i].k, strs[i].s, len);
    }
    v = getv(A, m, "s17", buf);
    cr_assert(v.type == SHARENA_T_STRING && v.len == 17 && v.id != 0);
    cr_assert_str_eq(buf, "0123456789abcdefg");
    cr_assert_eq(entry_of(A, m, "s17")->vkind, SHARENA__V_REF);
    v = getv(A, m, "u17", buf);
    cr_assert(v.len == 17 && v.id != 0);
    cr_assert_str_eq(buf, u17);
    /* a buffer too small: ERANGE with the length; 0 bytes to learn it */
    FAILS(sharena_map_get_value(A, m, "s16", 3, NULL, 0, &v), SHARENA_ERANGE);
    cr_assert_eq(v.len, 16);
    cr_assert_eq(v.type, SHARENA_T_STRING);
    FAILS(sharena_map_get_value(A, m, "s16", 3, buf, 16, &v), SHARENA_ERANGE);
    OK(sharena_map_get_value(A, m, "s16", 3, buf, 17, &v));
    OK(sharena_map_get_value(A, m, "s0", 2, buf, 1, &v));
    cr_assert_eq(v.len, 0);
    cr_assert_eq(buf[0], 0);
    FAILS(sharena_map_get_value(A, m, "nope", 4, buf, 256, &v), SHARENA_ENOENT);
    cr_assert_eq(live(A), before + 2, "reading made no objects");
    fsck_clean(A);
}

Test(mapinline, invalid_utf8_is_refused_and_changes_nothing)
{
    sharena_id m;
    OK(sharena_map_new(A, &m));
    OK(sharena_map_set_string(A, m, "s", 1, "keep", 4));
    OK(sharena_map_set_number(A, m, "n", 1, 7));
    struct sharena__map *t = table_of(A, m);
    struct sharena__map_entry saved[2];
    memcpy(saved, entries_of(t), sizeof saved);
    uint64_t objs = live(A), bytes = used(A);
    static const struct {
        const char *s;
        size_t len;
    } bad[] = {
        {"\xff", 1},
        {"\xc3", 1},                  /* truncated */
        {"\xc0\x80", 2},              /* overlong NUL */
        {"\xed\xa0\x80", 3},          /* a surrogate */
        {"\xf4\x90\x80\x80", 4},      /* past U+10FFFF */
        {"abcdefghijklmno\xff", 16},  /* at the end of the room */
        {"abcdefghijklmnop\xff", 17}, /* one past: would be an object */
        {"\xe2\x82", 2},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FAILS(sharena_map_set_string(A, m, "s", 1, bad[i].s, bad[i].len),
              SHARENA_EILSEQ);
        FAILS(sharena_map_set_string(A, m, "n", 1, bad[i].s, bad[i].len),
              SHARENA_EILSEQ);
        FAILS(sharena_map_set_string(A, m, "new", 3, bad[i].s, bad[i].len),
              SHARENA_EILSEQ);
        /* a key that is not UTF-8, whatever the value */
        FAILS(sharena_map_set_number(A, m, bad[i].s, bad[i].len, 1),
              SHARENA_EILSEQ);
        FAILS(sharena_map_set_string(A, m, bad[i].s, bad[i].len, "x", 1),
              SHARENA_EILSEQ);
        FAILS(sharena_map_set_bool(A, m, bad[i].s, bad[i].len, true),
              SHARENA_EILSEQ);
        FAILS(sharena_map_set_null(A, m, bad[i].s, bad[i].len), SHARENA_EILSEQ);
        FAILS(sharena_map_add_number(A, m, bad[i].s, bad[i].len, 1, 0, NULL),
              SHARENA_EILSEQ);
    }
    FAILS(sharena_map_set_string(A, m, "s", 1, NULL, 3), SHARENA_EINVAL);
    t = table_of(A, m);
    cr_assert_eq(t->count, 2);
    cr_assert_eq(memcmp(saved, entries_of(t), sizeof saved), 0,
                 "the entries are as they were");
    cr_assert_eq(live(A), objs);
    cr_assert_eq(used(A), bytes);
    expect_inline_string(A, m, "s", "keep", 4);
    cr_assert_eq(num_at(A, m, "n"), 7);
    fsck_clean(A);
}

/* ---- reads never write ---------------------------------------------------- */

/* A map with one key of each kind stored in the entry, and a ref. */
static sharena_id mixed_map(sharena_arena *a, sharena_id *ref)
{
    sharena_id m;
    OK(sharena_map_new(a, &m));
    OK(sharena_map_set_number(a, m, "n", 1, 2.5));
    OK(sharena_map_set_bool(a, m, "b", 1, true));
    OK(sharena_map_set_null(a, m, "z", 1));
    OK(sharena_map_set_string(a, m, "s", 1, "short", 5));
    OK(sharena_map_set_string(a, m, "long", 4, "a string over 16 bytes", 22));
    if (ref)
        OK(sharena_map_get(a, m, "long", 4, ref));
    return m;
}

Test(mapinline, reads_make_no_objects)
{
    sharena_id ref;
    sharena_id m = mixed_map(A, &ref);
    uint64_t objs = live(A), bytes = used(A);
    struct sharena__map *t = table_of(A, m);
    struct sharena__map_entry saved[5];
    memcpy(saved, entries_of(t), sizeof saved);
    char buf[256], key[64];
    for (int round = 0; round < 3; round++) {
        const char *keys[] = {"n", "b", "z", "s", "long"};
        for (int i = 0; i < 5; i++) {
            sharena_value v = getv(A, m, keys[i], buf);
            cr_assert_eq(v.id, i == 4 ? ref : 0, "%s", keys[i]);
            OK(sharena_map_get(A, m, keys[i], strlen(keys[i]), NULL));
        }
        uint64_t n;
        OK(sharena_map_len(A, m, &n));
        cr_assert_eq(n, 5);
        uint64_t cur = 0;
        size_t klen;
        sharena_value v;
        int seen = 0;
        while (sharena_map_next_value(A, m, &cur, key, sizeof key, &klen, buf,
                                      sizeof buf, &v) == 0) {
            cr_assert_eq(v.id, strcmp(key, "long") ? 0 : ref, "%s", key);
            seen++;
        }
        cr_assert_eq(seen, 5);
        cur = 0;
        seen = 0;
        sharena_id id;
        bool owned;
        while (sharena_map_next_ref(A, m, &cur, key, sizeof key, &klen, &id,
                                    &owned) == 0) {
            cr_assert_eq(id, strcmp(key, "long") ? 0 : ref, "%s", key);
            cr_assert(owned, "%s: the map's own", key);
            seen++;
        }
        cr_assert_eq(seen, 5);
        /* map_next without asking for the id: no write either */
        cur = 0;
        seen = 0;
        while (sharena_map_next(A, m, &cur, key, sizeof key, &klen, NULL,
                                &owned) == 0) {
            cr_assert(owned);
            seen++;
        }
        cr_assert_eq(seen, 5);
    }
    cr_assert_eq(live(A), objs, "reads made no objects");
    cr_assert_eq(used(A), bytes);
    cr_assert_eq(memcmp(saved, entries_of(table_of(A, m)), sizeof saved), 0,
                 "reads changed no entry");
}

/* ---- promotion ------------------------------------------------------------ */

Test(mapinline, promotion_gives_an_id_that_stays)
{
    sharena_id m = mixed_map(A, NULL);
    uint64_t objs = live(A);
    char buf[256];
    const char *keys[] = {"n", "b", "z", "s"};
    const int types[] = {SHARENA_T_NUMBER, SHARENA_T_BOOL, SHARENA_T_NULL,
                         SHARENA_T_STRING};
    sharena_id ids[4];
    for (int i = 0; i < 4; i++) {
        sharena_id id = 0, again = 0;
        OK(sharena_map_get(A, m, keys[i], 1, &id));
        cr_assert_neq(id, 0);
        cr_assert_eq(live(A), objs + (uint64_t)i + 1, "one object per key");
        cr_assert_eq(sharena_type_of(A, id), types[i], "%s", keys[i]);
        struct sharena__map_entry *e = entry_of(A, m, keys[i]);
        cr_assert_eq(e->vkind, SHARENA__V_REF);
        cr_assert_eq(e->value.w[0], id | SHARENA__REF_OWNED);
        cr_assert_eq(table_of(A, m)->pend_set, 0);
        OK(sharena_map_get(A, m, keys[i], 1, &again));
        cr_assert_eq(again, id, "the same id on a second get");
        cr_assert_eq(live(A), objs + (uint64_t)i + 1);
        sharena_value v = getv(A, m, keys[i], buf);
        cr_assert_eq(v.id, id, "get_value gives the id now");
        cr_assert_eq(v.type, types[i]);
        ids[i] = id;
    }
    double d;
    OK(sharena_number_get(A, ids[0], &d));
    cr_assert_eq(d, 2.5);
    bool b;
    OK(sharena_bool_get(A, ids[1], &b));
    cr_assert(b);
    size_t len;
    OK(sharena_string_get(A, ids[3], buf, sizeof buf, &len));
    cr_assert_eq(len, 5);
    cr_assert_str_eq(buf, "short");
    /* the id is the value: a change through it shows in the map */
    OK(sharena_number_set(A, ids[0], 8.5));
    cr_assert_eq(num_at(A, m, "n"), 8.5);
    OK(sharena_string_set(A, ids[3], "changed", 7));
    sharena_value v = getv(A, m, "s", buf);
    cr_assert_str_eq(buf, "changed");
    fsck_clean(A);
    /* a set over a promoted value drops its object, in the entry again */
    OK(sharena_map_set_number(A, m, "n", 1, 9));
    FAILS(sharena_number_get(A, ids[0], &d), SHARENA_ESTALE);
    cr_assert_eq(entry_of(A, m, "n")->vkind, SHARENA__V_NUMBER);
    v = getv(A, m, "n", buf);
    cr_assert(v.id == 0 && v.number == 9);
    OK(sharena_map_set_string(A, m, "b", 1, "x", 1));
    FAILS(sharena_bool_get(A, ids[1], &b), SHARENA_ESTALE);
    cr_assert_eq(live(A), objs + 2);
    /* a remove drops it */
    sharena_id old = 5;
    OK(sharena_map_remove(A, m, "s", 1, &old));
    cr_assert_eq(old, 0, "owned: dropped, not handed back");
    FAILS(sharena_type_of(A, ids[3]), SHARENA_ESTALE);
    OK(sharena_map_remove(A, m, "z", 1, NULL));
    FAILS(sharena_type_of(A, ids[2]), SHARENA_ESTALE);
    cr_assert_eq(live(A), objs, "every promoted object went");
    fsck_clean(A);
    OK(sharena_drop(A, m, 0));
    cr_assert_eq(live(A), objs - 2, "the map and its long string");
    fsck_clean(A);
}

Test(mapinline, map_next_promotes_by_entry)
{
    sharena_id ref;
    sharena_id m = mixed_map(A, &ref);
    uint64_t objs = live(A);
    char key[64];
    size_t klen;
    uint64_t cur = 0;
    sharena_id id;
    bool owned;
    int seen = 0;
    sharena_id got[5];
    while (sharena_map_next(A, m, &cur, key, sizeof key, &klen, &id, &owned) ==
           0) {
        cr_assert_neq(id, 0, "%s: an id", key);
        cr_assert(owned);
        struct sharena__map_entry *e = entry_of(A, m, key);
        cr_assert_eq(e->vkind, SHARENA__V_REF, "%s", key);
        cr_assert_eq(e->value.w[0], id | SHARENA__REF_OWNED);
        if (!strcmp(key, "long"))
            cr_assert_eq(id, ref);
        sharena_id again;
        OK(sharena_map_get(A, m, key, klen, &again));
        cr_assert_eq(again, id);
        got[seen++] = id;
    }
    cr_assert_eq(seen, 5);
    cr_assert_eq(live(A), objs + 4, "the four values in entries");
    /* next_ref now sees the same ids; a second next makes no more */
    cur = 0;
    for (int i = 0; i < 5; i++) {
        OK(sharena_map_next_ref(A, m, &cur, key, sizeof key, &klen, &id,
                                &owned));
        cr_assert_eq(id, got[i]);
        cr_assert(owned);
    }
    cur = 0;
    for (int i = 0; i < 5; i++)
        OK(sharena_map_next(A, m, &cur, key, sizeof key, &klen, &id, NULL));
    cr_assert_eq(live(A), objs + 4);
    double d;
    OK(sharena_number_get(A, got[0], &d));
    cr_assert_eq(d, 2.5);
    /* a key that does not fit: ERANGE, nothing promoted, cursor stays */
    OK(sharena_map_set_number(A, m, "a-key-longer-than-16", 20, 1));
    uint64_t before = live(A);
    cur = 5;
    FAILS(sharena_map_next(A, m, &cur, key, 4, &klen, &id, NULL),
          SHARENA_ERANGE);
    cr_assert_eq(cur, 5);
    cr_assert_eq(klen, 20);
    cr_assert_eq(live(A), before);
    OK(sharena_map_next(A, m, &cur, key, sizeof key, &klen, &id, NULL));
    cr_assert_eq(live(A), before + 1);
    OK(sharena_number_get(A, id, &d));
    cr_assert_eq(d, 1);
    fsck_clean(A);
    /* by entry: a key whose hash was scribbled cannot be looked up, but the
     * iteration that read it still promotes that entry */
    OK(sharena_map_set_bool(A, m, "h", 1, true));
    struct sharena__map_entry *e = entry_of(A, m, "h");
    e->hash ^= 0x5555;
    FAILS(sharena_map_get(A, m, "h", 1, &id), SHARENA_ENOENT);
    cur = 6;
    OK(sharena_map_next(A, m, &cur, key, sizeof key, &klen, &id, NULL));
    cr_assert_str_eq(key, "h");
    cr_assert_eq(e->vkind, SHARENA__V_REF);
    cr_assert_eq(e->value.w[0], id | SHARENA__REF_OWNED);
    bool b = false;
    OK(sharena_bool_get(A, id, &b));
    cr_assert(b);
    sharena_fsck_report rep;
    OK(sharena_fsck(A, SHARENA_FSCK_REPAIR, NULL, NULL, &rep));
    fsck_clean(A);
    sharena_id after = 0;
    OK(sharena_map_get(A, m, "h", 1, &after)); /* the hash repaired */
    cr_assert_eq(after, id);
}

Test(mapinline, readonly_handle_reads_but_does_not_promote)
{
    sharena_id ref;
    sharena_id m = mixed_map(A, &ref);
    sharena_arena *ro;
    OK(sharena_arena_from_fd(sharena_arena_fd(A), SHARENA_READONLY, &ro));
    uint64_t objs = live(A), bytes = used(A);
    struct sharena__map_entry saved[5];
    memcpy(saved, entries_of(table_of(A, m)), sizeof saved);
    char buf[256], key[64];
    size_t klen;
    const char *keys[] = {"n", "b", "z", "s"};
    for (int i = 0; i < 4; i++) {
        sharena_id id = 77;
        FAILS(sharena_map_get(ro, m, keys[i], 1, &id), SHARENA_EROFS);
        OK(sharena_map_get(ro, m, keys[i], 1, NULL));
        sharena_value v = getv(ro, m, keys[i], buf);
        cr_assert_eq(v.id, 0);
    }
    sharena_id id;
    OK(sharena_map_get(ro, m, "long", 4, &id)); /* a ref: no write */
    cr_assert_eq(id, ref);
    cr_assert_eq(num_at(ro, m, "n"), 2.5);
    expect_inline_string(ro, m, "s", "short", 5);
    /* next with an id: EROFS at the first entry in the map's own, the
     * cursor stays; next_value and next_ref read on */
    uint64_t cur = 0;
    bool owned;
    FAILS(sharena_map_next(ro, m, &cur, key, sizeof key, &klen, &id, &owned),
          SHARENA_EROFS);
    cr_assert_eq(cur, 0);
    sharena_value v;
    int seen = 0;
    while (sharena_map_next_value(ro, m, &cur, key, sizeof key, &klen, buf,
                                  sizeof buf, &v) == 0)
        seen++;
    cr_assert_eq(seen, 5);
    cur = 0;
    seen = 0;
    while (sharena_map_next_ref(ro, m, &cur, key, sizeof key, &klen, &id,
                                &owned) == 0)
        seen++;
    cr_assert_eq(seen, 5);
    FAILS(sharena_map_set_number(ro, m, "n", 1, 1), SHARENA_EROFS);
    FAILS(sharena_map_add_number(ro, m, "n", 1, 1, 0, NULL), SHARENA_EROFS);
    cr_assert_eq(live(A), objs);
    cr_assert_eq(used(A), bytes);
    cr_assert_eq(memcmp(saved, entries_of(table_of(A, m)), sizeof saved), 0);
    /* promoted through the writable handle: the read-only one gets the id */
    sharena_id wid, rid;
    OK(sharena_map_get(A, m, "s", 1, &wid));
    OK(sharena_map_get(ro, m, "s", 1, &rid));
    cr_assert_eq(rid, wid);
    OK(sharena_string_get(ro, rid, buf, sizeof buf, &klen));
    cr_assert_str_eq(buf, "short");
    sharena_arena_close(ro);
}

/* Fill @p a: its heap with byte buffers of shrinking sizes, then its handle
 * table with numbers, each until SHARENA_EFULL. *big and *num get one
 * filler of each kind to give back. */
static void fill(sharena_arena *a, sharena_id *big, sharena_id *num)
{
    static const uint64_t sizes[] = {4096, 256, 32, 1};
    sharena_id id;
    int r = 0;
    *big = 0;
    for (size_t s = 0; s < 4; s++) {
        for (int n = 0; n < 1000000; n++) {
            if ((r = sharena_bytes_new(a, sizes[s], &id)) < 0)
                break;
            if (s == 0)
                *big = id;
        }
        cr_assert_eq(r, SHARENA_EFULL, "%s", sharena_strerror(r));
    }
    cr_assert_neq(*big, 0);
    *num = 0;
    for (int n = 0; n < 10000000; n++) {
        if ((r = sharena_number_new(a, 1, &id)) < 0)
            break;
        *num = id;
    }
    cr_assert_eq(r, SHARENA_EFULL, "%s", sharena_strerror(r));
}

Test(mapinline, failed_promotion_in_a_full_arena_changes_nothing)
{
    sharena_arena *a;
    OK(sharena_arena_create("mapfull", SHARENA_MIN_CAPACITY, &a));
    sharena_id m = mixed_map(a, NULL), big, num;
    fill(a, &big, &num);
    uint64_t objs = live(a), bytes = used(a);
    struct sharena__map_entry saved[5];
    memcpy(saved, entries_of(table_of(a, m)), sizeof saved);
    const char *keys[] = {"n", "b", "z", "s"};
    sharena_id id = 0;
    char key[64];
    size_t klen;
    for (int i = 0; i < 4; i++)
        FAILS(sharena_map_get(a, m, keys[i], 1, &id), SHARENA_EFULL);
    uint64_t cur = 0;
    FAILS(sharena_map_next(a, m, &cur, key, sizeof key, &klen, &id, NULL),
          SHARENA_EFULL);
    cr_assert_eq(cur, 0, "the cursor stays");
    cr_assert_eq(live(a), objs);
    cr_assert_eq(used(a), bytes);
    cr_assert_eq(memcmp(saved, entries_of(table_of(a, m)), sizeof saved), 0,
                 "the entries are as they were");
    cr_assert_eq(num_at(a, m, "n"), 2.5);
    expect_inline_string(a, m, "s", "short", 5);
    /* a new key needs no object, a kind change none either: both work */
    OK(sharena_map_set_bool(a, m, "n", 1, false));
    OK(sharena_map_set_number(a, m, "n", 1, 2.5));
    fsck_clean(a);
    /* with room again, the same calls work */
    OK(sharena_drop(a, num, 0));
    OK(sharena_drop(a, big, 0));
    OK(sharena_map_get(a, m, "s", 1, &id));
    OK(sharena_string_get(a, id, key, sizeof key, &klen));
    cr_assert_str_eq(key, "short");
    fsck_clean(a);
    sharena_arena_close(a);
}

/* ---- add_number ----------------------------------------------------------- */

Test(mapinline, add_number_in_the_entry_and_promoted)
{
    sharena_id m = mixed_map(A, NULL);
    uint64_t objs = live(A);
    double res = -1;
    OK(sharena_map_add_number(A, m, "n", 1, 2, 0, &res));
    cr_assert_eq(res, 4.5);
    cr_assert_eq(num_at(A, m, "n"), 4.5);
    cr_assert_eq(entry_of(A, m, "n")->vkind, SHARENA__V_NUMBER);
    OK(sharena_map_add_number(A, m, "n", 1, -0.5, SHARENA_ADD_EXACT, &res));
    cr_assert_eq(res, 4);
    /* a new key: delta stored in the entry */
    OK(sharena_map_add_number(A, m, "new", 3, 3, 0, &res));
    cr_assert_eq(res, 3);
    cr_assert_eq(entry_of(A, m, "new")->vkind, SHARENA__V_NUMBER);
    cr_assert_eq(live(A), objs, "adds in the entry make no objects");
    /* SHARENA_ADD_EXACT overflow: nothing changes, *result the value */
    OK(sharena_map_set_number(A, m, "big", 3, 0x1p53));
    struct sharena__map_entry saved = *entry_of(A, m, "big");
    FAILS(sharena_map_add_number(A, m, "big", 3, 1, SHARENA_ADD_EXACT, &res),
          SHARENA_EOVERFLOW);
    cr_assert_eq(res, 0x1p53);
    cr_assert_eq(memcmp(&saved, entry_of(A, m, "big"), sizeof saved), 0);
    OK(sharena_map_set_number(A, m, "frac", 4, 0.1));
    FAILS(sharena_map_add_number(A, m, "frac", 4, 0.2, SHARENA_ADD_EXACT, &res),
          SHARENA_EOVERFLOW);
    cr_assert_eq(res, 0.1, "inexact: the value found");
    cr_assert_eq(num_at(A, m, "frac"), 0.1);
    FAILS(
        sharena_map_add_number(A, m, "nk", 2, 0x1p54, SHARENA_ADD_EXACT, &res),
        SHARENA_EOVERFLOW);
    cr_assert_eq(res, 0, "a new key: 0");
    FAILS(sharena_map_get(A, m, "nk", 2, NULL), SHARENA_ENOENT);
    /* a promoted number: added through its object, the id stays valid */
    sharena_id id, again;
    OK(sharena_map_get(A, m, "n", 1, &id));
    uint64_t promoted = live(A);
    OK(sharena_map_add_number(A, m, "n", 1, 10, 0, &res));
    cr_assert_eq(res, 14);
    double d;
    OK(sharena_number_get(A, id, &d));
    cr_assert_eq(d, 14);
    OK(sharena_map_get(A, m, "n", 1, &again));
    cr_assert_eq(again, id);
    cr_assert_eq(entry_of(A, m, "n")->value.w[0], id | SHARENA__REF_OWNED);
    OK(sharena_number_set(A, id, 0x1p53));
    FAILS(sharena_map_add_number(A, m, "n", 1, 1, SHARENA_ADD_EXACT, &res),
          SHARENA_EOVERFLOW);
    cr_assert_eq(res, 0x1p53);
    OK(sharena_number_get(A, id, &d));
    cr_assert_eq(d, 0x1p53);
    cr_assert_eq(live(A), promoted);
    /* not numbers: ETYPE, nothing changes */
    const char *keys[] = {"s", "b", "z", "long"};
    for (int i = 0; i < 4; i++) {
        struct sharena__map_entry before = *entry_of(A, m, keys[i]);
        res = -1;
        FAILS(
            sharena_map_add_number(A, m, keys[i], strlen(keys[i]), 1, 0, &res),
            SHARENA_ETYPE);
        cr_assert_eq(res, 0);
        cr_assert_eq(memcmp(&before, entry_of(A, m, keys[i]), sizeof before), 0,
                     "%s", keys[i]);
    }
    cr_assert_eq(live(A), promoted);
    fsck_clean(A);
}

/* ---- kind changes, growth ------------------------------------------------- */

Test(mapinline, kind_changes_keep_fsck_clean_and_bytes)
{
    sharena_id m;
    OK(sharena_map_new(A, &m));
    OK(sharena_map_set_number(A, m, "k", 1, 1));
    OK(sharena_map_set_number(A, m, "other", 5, 2));
    uint64_t objs = live(A), bytes = used(A);
    char buf[256];
    for (int round = 0; round < 3; round++) {
        OK(sharena_map_set_string(A, m, "k", 1, "sixteen-bytes-ok", 16));
        fsck_clean(A);
        expect_inline_string(A, m, "k", "sixteen-bytes-ok", 16);
        OK(sharena_map_set_string(A, m, "k", 1, "abc", 3));
        expect_inline_string(A, m, "k", "abc", 3); /* no bytes left over */
        OK(sharena_map_set_null(A, m, "k", 1));
        fsck_clean(A);
        cr_assert_eq(getv(A, m, "k", buf).type, SHARENA_T_NULL);
        struct sharena__map_entry *e = entry_of(A, m, "k");
        cr_assert(e->vlen == 0 && e->value.w[0] == 0 && e->value.w[1] == 0);
        OK(sharena_map_set_bool(A, m, "k", 1, true));
        fsck_clean(A);
        sharena_value v = getv(A, m, "k", buf);
        cr_assert(v.type == SHARENA_T_BOOL && v.boolean);
        if (round == 1) { /* promoted on the way */
            sharena_id id;
            OK(sharena_map_get(A, m, "k", 1, &id));
            cr_assert_eq(live(A), objs + 1);
        }
        OK(sharena_map_set_string(A, m, "k", 1, "a string of 17 b.", 17));
        cr_assert_eq(live(A), objs + 1, "a long string is an object");
        fsck_clean(A);
        OK(sharena_map_set_number(A, m, "k", 1, -3));
        cr_assert_eq(num_at(A, m, "k"), -3);
        e = entry_of(A, m, "k");
        cr_assert(e->vkind == SHARENA__V_NUMBER && e->vlen == 0 &&
                  e->value.w[1] == 0);
        cr_assert_eq(table_of(A, m)->pend_set, 0, "no change left recorded");
        fsck_clean(A);
        cr_assert_eq(live(A), objs, "round %d", round);
        cr_assert_eq(used(A), bytes, "round %d: %lu bytes more", round,
                     (unsigned long)(used(A) - bytes));
    }
    cr_assert_eq(num_at(A, m, "other"), 2);
}

static void key_of(char *k, size_t cap, int i)
{
    /* odd keys longer than the entry holds (key blocks) */
    snprintf(k, cap, i & 1 ? "key-number-%08d-long" : "k%d", i);
}

static void set_kind(sharena_arena *a, sharena_id m, int i)
{
    char k[64], s[32];
    key_of(k, sizeof k, i);
    switch (i % 5) {
    case 0:
        OK(sharena_map_set_number(a, m, k, strlen(k), i + 0.25));
        break;
    case 1:
        OK(sharena_map_set_bool(a, m, k, strlen(k), i & 2));
        break;
    case 2:
        OK(sharena_map_set_null(a, m, k, strlen(k)));
        break;
    case 3:
        snprintf(s, sizeof s, "v%d", i);
        OK(sharena_map_set_string(a, m, k, strlen(k), s, strlen(s)));
        break;
    default:
        snprintf(s, sizeof s, "value-%d-over-16-bytes", i);
        OK(sharena_map_set_string(a, m, k, strlen(k), s, strlen(s)));
    }
}

/* The value of key @p i is set_kind()'s; stored in the entry unless it
 * is a long string, or @p any_id (promoted meanwhile). */
static void check_kind_ids(sharena_arena *a, sharena_id m, int i, bool any_id)
{
    char k[64], s[32], buf[256];
    key_of(k, sizeof k, i);
    sharena_value v = getv(a, m, k, buf);
    switch (i % 5) {
    case 0:
        cr_assert(v.type == SHARENA_T_NUMBER && v.number == i + 0.25, "%s", k);
        break;
    case 1:
        cr_assert(v.type == SHARENA_T_BOOL && v.boolean == ((i & 2) != 0), "%s",
                  k);
        break;
    case 2:
        cr_assert_eq(v.type, SHARENA_T_NULL, "%s", k);
        break;
    case 3:
        snprintf(s, sizeof s, "v%d", i);
        cr_assert(v.type == SHARENA_T_STRING && (any_id || v.id == 0), "%s", k);
        cr_assert_str_eq(buf, s);
        break;
    default:
        snprintf(s, sizeof s, "value-%d-over-16-bytes", i);
        cr_assert(v.type == SHARENA_T_STRING && v.id != 0, "%s", k);
        cr_assert_str_eq(buf, s);
    }
    cr_assert(any_id || i % 5 == 4 || v.id == 0, "%s: in the entry", k);
}

static void check_kind(sharena_arena *a, sharena_id m, int i)
{
    check_kind_ids(a, m, i, false);
}

Test(mapinline, growth_keeps_every_value)
{
    enum { N = 5000 };
    sharena_id m;
    OK(sharena_map_new(A, &m));
    uint64_t objs = live(A);
    for (int i = 0; i < N; i++) {
        set_kind(A, m, i);
        if (i % 997 == 0) /* a promoted one carried along */
            OK(sharena_map_get(A, m, "k0", 2, NULL));
    }
    sharena_id p;
    OK(sharena_map_get(A, m, "k10", 3, &p)); /* promoted early ... */
    cr_assert_eq(live(A), objs + N / 5 + 1, "objects: the long strings");
    uint64_t n;
    OK(sharena_map_len(A, m, &n));
    cr_assert_eq(n, N);
    cr_assert_geq(table_of(A, m)->cap, N);
    for (int i = 0; i < N; i++)
        if (i != 10)
            check_kind(A, m, i);
    double d;
    OK(sharena_number_get(A, p, &d));
    cr_assert_eq(d, 10.25);
    /* iteration sees each once, in insertion order */
    uint64_t cur = 0;
    char key[64], want[64], buf[256];
    size_t klen;
    sharena_value v;
    for (int i = 0; i < N; i++) {
        OK(sharena_map_next_value(A, m, &cur, key, sizeof key, &klen, buf,
                                  sizeof buf, &v));
        key_of(want, sizeof want, i);
        cr_assert_str_eq(key, want);
    }
    fsck_clean(A);
    /* remove every other key; the rest keep their values */
    for (int i = 0; i < N; i += 2) {
        key_of(key, sizeof key, i);
        OK(sharena_map_remove(A, m, key, strlen(key), NULL));
    }
    for (int i = 1; i < N; i += 2)
        check_kind(A, m, i);
    FAILS(sharena_number_get(A, p, &d), SHARENA_ESTALE);
    fsck_clean(A);
}

/* ---- the builder ---------------------------------------------------------- */

Test(mapinline, builder_stores_scalars_in_entries)
{
    uint64_t objs = live(A);
    sharena_builder *b;
    OK(sharena_build_begin(A, &b));
    OK(sharena_build_map(b));
    OK(sharena_build_key(b, "n", 1));
    OK(sharena_build_number(b, -0.0));
    OK(sharena_build_key(b, "b", 1));
    OK(sharena_build_bool(b, true));
    OK(sharena_build_key(b, "z", 1));
    OK(sharena_build_null(b));
    OK(sharena_build_key(b, "s", 1));
    OK(sharena_build_string(b, "0123456789abcdef", 16));
    OK(sharena_build_key(b, "l", 1));
    OK(sharena_build_string(b, "0123456789abcdefg", 17));
    OK(sharena_build_key(b, "inner", 5));
    OK(sharena_build_map(b));
    OK(sharena_build_key(b, "x", 1));
    OK(sharena_build_number(b, 3));
    OK(sharena_build_end(b));
    OK(sharena_build_end(b));
    sharena_id m;
    OK(sharena_build_finish(b, &m));
    cr_assert_eq(live(A), objs + 3, "two maps and the long string");
    char buf[256];
    sharena_value v = getv(A, m, "n", buf);
    cr_assert(v.id == 0 && bits(v.number) == bits(-0.0));
    cr_assert_eq(getv(A, m, "b", buf).id, 0);
    cr_assert_eq(getv(A, m, "z", buf).type, SHARENA_T_NULL);
    expect_inline_string(A, m, "s", "0123456789abcdef", 16);
    cr_assert_neq(getv(A, m, "l", buf).id, 0);
    sharena_id inner;
    OK(sharena_map_get(A, m, "inner", 5, &inner));
    cr_assert_eq(num_at(A, inner, "x"), 3);
    cr_assert_eq(entry_of(A, inner, "x")->vkind, SHARENA__V_NUMBER);
    fsck_clean(A);

    /* an update with top-level scalars: in the entries; a promoted value
     * replaced is dropped */
    sharena_id pn;
    OK(sharena_map_get(A, m, "n", 1, &pn));
    uint64_t before = live(A);
    OK(sharena_build_begin(A, &b));
    OK(sharena_build_key(b, "n", 1));
    OK(sharena_build_string(b, "was a number", 12));
    OK(sharena_build_key(b, "new", 3));
    OK(sharena_build_number(b, 42));
    OK(sharena_build_key(b, "b", 1));
    OK(sharena_build_null(b));
    OK(sharena_build_key(b, "z", 1));
    OK(sharena_build_bool(b, false));
    OK(sharena_build_map_update(b, m));
    cr_assert_eq(live(A), before - 1, "no new objects; the promoted dropped");
    FAILS(sharena_type_of(A, pn), SHARENA_ESTALE);
    expect_inline_string(A, m, "n", "was a number", 12);
    cr_assert_eq(num_at(A, m, "new"), 42);
    cr_assert_eq(getv(A, m, "new", buf).id, 0);
    cr_assert_eq(getv(A, m, "b", buf).type, SHARENA_T_NULL);
    v = getv(A, m, "z", buf);
    cr_assert(v.type == SHARENA_T_BOOL && !v.boolean && v.id == 0);
    fsck_clean(A);
}

/* What a map is, for "nothing changed": header words, index and entries
 * (pend_entry keeps the last recorded value; it is not state). */
struct table_copy {
    uint64_t count, cap, pend_count, pend_set, moves;
    uint8_t rest[SHARENA__MAP_BYTES(64)];
    size_t len;
};
static void table_take(sharena_arena *a, sharena_id m, struct table_copy *c)
{
    struct sharena__map *t = table_of(a, m);
    cr_assert_leq(t->cap, 64);
    c->count = t->count;
    c->cap = t->cap;
    c->pend_count = t->pend_count;
    c->pend_set = t->pend_set;
    c->moves = t->moves;
    c->len = SHARENA__MAP_BYTES(t->cap) - sizeof *t;
    memcpy(c->rest, t->index, c->len);
}
static void table_same(const struct table_copy *x, const struct table_copy *y,
                       const char *what)
{
    cr_assert(x->count == y->count && x->cap == y->cap &&
                  x->pend_count == y->pend_count &&
                  x->pend_set == y->pend_set && x->moves == y->moves,
              "%s: header differs", what);
    cr_assert_eq(x->len, y->len, "%s", what);
    cr_assert_eq(memcmp(x->rest, y->rest, x->len), 0,
                 "%s: index or entries differ", what);
}

/* {a: 1, b: "x", c: true, d: <promoted 4>, e: null, f..h: numbers}: 8
 * keys, a full first table. */
static sharena_id eight(sharena_arena *a, sharena_id *d)
{
    sharena_id m;
    OK(sharena_map_new(a, &m));
    OK(sharena_map_set_number(a, m, "a", 1, 1));
    OK(sharena_map_set_string(a, m, "b", 1, "x", 1));
    OK(sharena_map_set_bool(a, m, "c", 1, true));
    OK(sharena_map_set_number(a, m, "d", 1, 4));
    OK(sharena_map_get(a, m, "d", 1, d));
    OK(sharena_map_set_null(a, m, "e", 1));
    OK(sharena_map_set_number(a, m, "f", 1, 6));
    OK(sharena_map_set_number(a, m, "g", 1, 7));
    OK(sharena_map_set_number(a, m, "h", 1, 8));
    cr_assert_eq(table_of(a, m)->cap, 8);
    return m;
}

/* Set new values for a..e, then @p last (a new key), in one update. */
static int update_then(sharena_arena *a, sharena_id m, const char *last)
{
    sharena_builder *b;
    OK(sharena_build_begin(a, &b));
    OK(sharena_build_key(b, "a", 1));
    OK(sharena_build_string(b, "now a string", 12));
    OK(sharena_build_key(b, "b", 1));
    OK(sharena_build_number(b, 2));
    OK(sharena_build_key(b, "c", 1));
    OK(sharena_build_null(b));
    OK(sharena_build_key(b, "d", 1));
    OK(sharena_build_bool(b, false));
    OK(sharena_build_key(b, "e", 1));
    OK(sharena_build_number(b, 5));
    int r = sharena_build_key(b, last, strlen(last));
    if (r == 0)
        r = sharena_build_number(b, 9);
    int u = sharena_build_map_update(b, m);
    cr_assert(r == 0 || u == r, "the kept error: %d, %d", r, u);
    return u;
}

static void expect_eight(sharena_arena *a, sharena_id m, sharena_id d)
{
    char buf[256];
    cr_assert_eq(num_at(a, m, "a"), 1);
    cr_assert_eq(getv(a, m, "a", buf).id, 0);
    expect_inline_string(a, m, "b", "x", 1);
    sharena_value v = getv(a, m, "c", buf);
    cr_assert(v.type == SHARENA_T_BOOL && v.boolean && v.id == 0);
    v = getv(a, m, "d", buf);
    cr_assert(v.type == SHARENA_T_NUMBER && v.number == 4 && v.id == d);
    double x;
    OK(sharena_number_get(a, d, &x));
    cr_assert_eq(x, 4);
    cr_assert_eq(getv(a, m, "e", buf).type, SHARENA_T_NULL);
    uint64_t n;
    OK(sharena_map_len(a, m, &n));
    cr_assert_eq(n, 8);
}

Test(mapinline, map_update_failure_restores_previous_values)
{
    sharena_id d;
    sharena_id m = eight(A, &d);
    struct table_copy t0, t1;
    table_take(A, m, &t0);
    uint64_t objs = live(A), bytes = used(A);
    /* a key that is not UTF-8: refused before anything is set */
    FAILS(update_then(A, m, "\xc3("), SHARENA_EILSEQ);
    table_take(A, m, &t1);
    table_same(&t0, &t1, "bad key");
    expect_eight(A, m, d);
    cr_assert_eq(live(A), objs);
    cr_assert_eq(used(A), bytes);

    /* in a full arena: a..e are set, the new key cannot grow the table,
     * the undo puts every previous value back (in the entry, or the
     * promoted ref, whose object lives on) */
    sharena_arena *a;
    OK(sharena_arena_create("mapupd", SHARENA_MIN_CAPACITY, &a));
    m = eight(a, &d);
    sharena_id big, num;
    fill(a, &big, &num);
    table_take(a, m, &t0);
    objs = live(a);
    bytes = used(a);
    FAILS(update_then(a, m, "i"), SHARENA_EFULL); /* the 9th key: growth */
    table_take(a, m, &t1);
    table_same(&t0, &t1, "growth failed");
    expect_eight(a, m, d);
    cr_assert_eq(live(a), objs);
    cr_assert_eq(used(a), bytes);
    fsck_clean(a);
    /* the same with a key block that cannot be allocated: remove h first
     * (room in the table), then a key longer than 16 bytes */
    OK(sharena_map_remove(a, m, "h", 1, NULL));
    FAILS(sharena_map_set_number(a, m, "a-key-longer-than-16", 20, 0),
          SHARENA_EFULL);
    table_take(a, m, &t0);
    FAILS(update_then(a, m, "a-key-longer-than-16"), SHARENA_EFULL);
    table_take(a, m, &t1);
    table_same(&t0, &t1, "key block failed");
    cr_assert_eq(live(a), objs);
    fsck_clean(a);
    /* with room, it applies whole */
    OK(sharena_drop(a, big, 0));
    OK(sharena_drop(a, num, 0));
    OK(update_then(a, m, "i"));
    char buf[256];
    expect_inline_string(a, m, "a", "now a string", 12);
    cr_assert_eq(num_at(a, m, "b"), 2);
    cr_assert_eq(getv(a, m, "c", buf).type, SHARENA_T_NULL);
    cr_assert_eq(getv(a, m, "d", buf).type, SHARENA_T_BOOL);
    FAILS(sharena_type_of(a, d), SHARENA_ESTALE);
    cr_assert_eq(num_at(a, m, "e"), 5);
    cr_assert_eq(num_at(a, m, "i"), 9);
    fsck_clean(a);
    sharena_arena_close(a);
}

/* ---- repair of a recorded value change ------------------------------------ */

struct problems {
    int n, pend;
};
static void on_problem(void *ctx, const char *p)
{
    struct problems *pr = ctx;
    pr->n++;
    if (strstr(p, "unfinished value change"))
        pr->pend++;
}

/* A plain fsck reports the record; a repairing one finishes it. */
static void fsck_finishes(sharena_arena *a)
{
    struct problems pr = {0, 0};
    sharena_fsck_report rep;
    FAILS(sharena_fsck(a, 0, on_problem, &pr, &rep), SHARENA_ECORRUPT);
    cr_assert_gt(rep.errors, 0);
    cr_assert_eq(pr.pend, 1, "fsck reports the unfinished value change");
    OK(sharena_fsck(a, SHARENA_FSCK_REPAIR, NULL, NULL, &rep));
    cr_assert_gt(rep.repaired, 0);
    fsck_clean(a);
}

/* A small map k0..k3 (numbers 0..3). */
static sharena_id four(sharena_arena *a)
{
    sharena_id m;
    OK(sharena_map_new(a, &m));
    for (int i = 0; i < 4; i++) {
        char k[3] = {'k', (char)('0' + i), 0};
        OK(sharena_map_set_number(a, m, k, 2, i));
    }
    return m;
}

static void record(struct sharena__map *t, uint64_t entry, uint8_t kind,
                   uint8_t vlen, uint64_t w0, uint64_t w1)
{
    t->pend_entry.vkind = kind;
    t->pend_entry.vlen = vlen;
    t->pend_entry.value.w[0] = w0;
    t->pend_entry.value.w[1] = w1;
    t->pend_set = entry + 1;
}

Test(mapinline, repair_finishes_a_recorded_value_change)
{
    sharena_id m = four(A);
    struct sharena__map *t = table_of(A, m);
    struct sharena__map_entry *e = entry_of(A, m, "k2");
    uint64_t i2 = (uint64_t)(e - entries_of(t));
    uint64_t hello[2] = {0, 0};
    memcpy(hello, "hello, world", 12);
    char buf[256];

    /* died after recording, before any store: the entry is all old */
    record(t, i2, SHARENA__V_STRING, 12, hello[0], hello[1]);
    fsck_finishes(A);
    cr_assert_eq(t->pend_set, 0);
    expect_inline_string(A, m, "k2", "hello, world", 12);

    /* died half-way: the kind stored, the words old (a number read as a
     * string would be its bits) */
    record(t, i2, SHARENA__V_NUMBER, 0, bits(6.5), 0);
    e->vkind = SHARENA__V_NUMBER;
    fsck_finishes(A);
    cr_assert_eq(num_at(A, m, "k2"), 6.5);
    cr_assert_eq(e->vlen, 0);
    cr_assert_eq(e->value.w[1], 0, "the string's bytes are gone");

    /* half-way the other way: words new, the kind still old */
    record(t, i2, SHARENA__V_BOOL, 0, 1, 0);
    e->value.w[0] = 1;
    fsck_finishes(A);
    sharena_value v = getv(A, m, "k2", buf);
    cr_assert(v.type == SHARENA_T_BOOL && v.boolean);

    /* a null over a bool whose word a reader would call corrupt */
    record(t, i2, SHARENA__V_NULL, 0, 0, 0);
    e->value.w[0] = 2;
    fsck_finishes(A);
    cr_assert_eq(getv(A, m, "k2", buf).type, SHARENA_T_NULL);

    /* a promotion that died between object and entry: the ref recorded */
    sharena_id obj;
    OK(sharena_number_new(A, 11, &obj));
    record(t, i2, SHARENA__V_REF, 0, obj | SHARENA__REF_OWNED, 0);
    e->vlen = 0;
    fsck_finishes(A);
    v = getv(A, m, "k2", buf);
    cr_assert(v.type == SHARENA_T_NUMBER && v.number == 11 && v.id == obj);

    /* the other keys never changed */
    cr_assert_eq(num_at(A, m, "k0"), 0);
    cr_assert_eq(num_at(A, m, "k1"), 1);
    cr_assert_eq(num_at(A, m, "k3"), 3);
    uint64_t n;
    OK(sharena_map_len(A, m, &n));
    cr_assert_eq(n, 4);

    /* a recorded value that is no value (a bool of 2): stored, then repair
     * removes the entry like any entry with an invalid value */
    record(t, i2, SHARENA__V_BOOL, 0, 2, 0);
    fsck_finishes(A);
    cr_assert_eq(t->pend_set, 0);
    FAILS(sharena_map_get(A, m, "k2", 2, NULL), SHARENA_ENOENT);
    OK(sharena_map_len(A, m, &n));
    cr_assert_eq(n, 3);
    cr_assert_eq(num_at(A, m, "k3"), 3);
}

Test(mapinline, repair_clears_a_record_past_the_count)
{
    sharena_id m = four(A);
    OK(sharena_map_set_string(A, m, "s", 1, "str", 3));
    OK(sharena_map_remove(A, m, "s", 1, NULL)); /* entry 4: stale bytes */
    struct sharena__map *t = table_of(A, m);
    const uint64_t past[] = {5,         6, 8, t->cap + 1, UINT64_C(1) << 32,
                             UINT64_MAX};
    for (size_t p = 0; p < sizeof past / sizeof past[0]; p++) {
        uint8_t saved[SHARENA__MAP_BYTES(8)];
        cr_assert_eq(t->cap, 8);
        record(t, 0, SHARENA__V_STRING, 3, 0x636261, 0);
        t->pend_set = past[p];
        memcpy(saved, t, sizeof saved);
        fsck_finishes(A);
        cr_assert_eq(t->pend_set, 0);
        /* nothing else changed: header (but pend_set), index, entries */
        cr_assert_eq(memcmp((uint8_t *)t + 48, saved + 48, sizeof saved - 48),
                     0, "pend_set %lu", (unsigned long)past[p]);
        cr_assert_eq(memcmp(t, saved, 40), 0);
        for (int i = 0; i < 4; i++) {
            char k[3] = {'k', (char)('0' + i), 0};
            cr_assert_eq(num_at(A, m, k), i);
        }
    }
}

/* Bytes a peer wrote into a string entry that are not UTF-8: read as they
 * are (get_value), but no object is made of them (ECORRUPT, not the
 * EILSEQ of a caller's bad argument); fsck reports them, and its repair
 * replaces the bad bytes with '?' as it does in string objects. */
Test(mapinline, a_string_entry_that_is_not_utf8_is_damage)
{
    sharena_id m = four(A);
    OK(sharena_map_set_string(A, m, "s", 1, "abcdefgh-ijklmno", 16));
    struct sharena__map_entry *e = entry_of(A, m, "s");
    e->value.inl[9] = 0xff;
    e->value.inl[3] = 0xc3;
    struct sharena__map_entry saved = *e;
    uint64_t objs = live(A);
    char buf[256];
    sharena_value v = getv(A, m, "s", buf);
    cr_assert_eq(v.len, 16);
    cr_assert_eq(memcmp(buf, saved.value.inl, 16), 0);
    sharena_id id = 0;
    FAILS(sharena_map_get(A, m, "s", 1, &id), SHARENA_ECORRUPT);
    uint64_t cur = 4;
    char key[8];
    FAILS(sharena_map_next(A, m, &cur, key, sizeof key, NULL, &id, NULL),
          SHARENA_ECORRUPT);
    cr_assert_eq(memcmp(&saved, e, sizeof saved), 0);
    cr_assert_eq(live(A), objs);
    struct problems pr = {0, 0};
    sharena_fsck_report rep;
    FAILS(sharena_fsck(A, 0, on_problem, &pr, &rep), SHARENA_ECORRUPT);
    cr_assert_eq(pr.n, 1);
    OK(sharena_fsck(A, SHARENA_FSCK_REPAIR, NULL, NULL, &rep));
    fsck_clean(A);
    expect_inline_string(A, m, "s", "abc?efgh-?jklmno", 16);
    OK(sharena_map_get(A, m, "s", 1, &id));
    OK(sharena_string_get(A, id, buf, sizeof buf, NULL));
    cr_assert_str_eq(buf, "abc?efgh-?jklmno");
}

/* Processes sharing the arena (fork) ask for the ids of the same values at
 * the same time, one forwards and one backwards, while this one reads
 * them: each value becomes one object, both get its id, reads see the
 * value throughout; a change through an id one process took shows in the
 * others' reads. */
Test(mapinline, processes_promoting_the_same_values_share_one_id,
     .timeout = 120)
{
    enum { N = 300, P = 2 };
    sharena_arena *a;
    OK(sharena_arena_create("mapprocs", UINT64_C(8) << 20, &a));
    sharena_id m;
    OK(sharena_map_new(a, &m));
    for (int i = 0; i < N; i++)
        set_kind(a, m, i);
    uint64_t objs = live(a);
    int go[2], out[P][2];
    cr_assert_eq(pipe(go), 0);
    pid_t pids[P];
    for (int w = 0; w < P; w++) {
        cr_assert_eq(pipe(out[w]), 0);
        pids[w] = fork();
        cr_assert_neq(pids[w], -1);
        if (pids[w] == 0) {
            char c;
            close(go[1]);
            if (read(go[0], &c, 1) != 0) /* the parent closes: go */
                _exit(3);
            sharena_id ids[N];
            for (int j = 0; j < N; j++) {
                int i = w ? N - 1 - j : j;
                char k[64];
                key_of(k, sizeof k, i);
                if (sharena_map_get(a, m, k, strlen(k), &ids[i]) != 0 ||
                    ids[i] == 0)
                    _exit(1);
            }
            if (write(out[w][1], ids, sizeof ids) != (ssize_t)sizeof ids)
                _exit(2);
            _exit(0);
        }
        close(out[w][1]);
    }
    close(go[0]);
    close(go[1]); /* go */
    for (int round = 0; round < 20; round++)
        for (int i = 0; i < N; i++)
            check_kind_ids(a, m, i, true);
    sharena_id ids[P][N];
    for (int w = 0; w < P; w++) {
        size_t got = 0;
        while (got < sizeof ids[w]) {
            ssize_t n = read(out[w][0], (char *)ids[w] + got,
                             sizeof ids[w] - got);
            cr_assert_gt(n, 0, "child %d sent %zu bytes", w, got);
            got += (size_t)n;
        }
        close(out[w][0]);
        int st;
        cr_assert_eq(waitpid(pids[w], &st, 0), pids[w]);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d: %d", w, st);
    }
    char buf[256];
    for (int i = 0; i < N; i++) {
        char k[64];
        key_of(k, sizeof k, i);
        cr_assert_eq(ids[0][i], ids[1][i], "%s: one object, one id", k);
        sharena_value v = getv(a, m, k, buf);
        cr_assert_eq(v.id, ids[0][i], "%s: the entry holds it", k);
        check_kind_ids(a, m, i, true);
    }
    cr_assert_eq(live(a), objs + N - N / 5,
                 "one object per value that was in its entry");
    /* a change through an id, made in another process */
    pid_t pid = fork();
    if (pid == 0)
        _exit(sharena_number_set(a, ids[1][0], -8) == 0 ? 0 : 1);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_eq(num_at(a, m, "k0"), -8);
    fsck_clean(a);
    sharena_arena_close(a);
}
