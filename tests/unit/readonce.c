/* readonce.c: shared memory is untrusted input (docs/security.md). Each test
 * starts a flipper thread that toggles one field of a live object between
 * its valid value and a hostile one, as fast as it can, while this thread
 * loops over the operations that read the field (readers and writers).
 * Every result must be the right value or an error code, never a signal
 * (each test runs in a process of its own), and every size or pointer
 * handed back must lie inside the mapping. On code that checks a field and
 * then reads it again, these crash or hand out views past the data. */
#include "internal.h"
#include "sharena.h"
#include "../support/test_util.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* small arena: a hostile offset or length lands outside it */
#define ARENA_CAP SHARENA_MIN_CAPACITY
#define ITERS 200000
#define SECONDS 1.5

#define HUGE_LEN (UINT64_C(1) << 40)

/* ---- the flipper --------------------------------------------------------- */

enum { RUN, PAUSE_ASKED, PAUSED, STOP };

struct flipper {
    pthread_t thread;
    void *_Atomic target;
    unsigned width; /* 1, 4 or 8 bytes */
    _Atomic uint64_t good;
    uint64_t bad;
    const uint64_t *bads; /* nbad > 0: the bad values, in turn */
    unsigned nbad;
    atomic_int state;
    atomic_ulong flips;
};

static void put(void *p, unsigned width, uint64_t v)
{
    if (width == 1)
        __atomic_store_n((uint8_t *)p, (uint8_t)v, __ATOMIC_RELAXED);
    else if (width == 4)
        __atomic_store_n((uint32_t *)p, (uint32_t)v, __ATOMIC_RELAXED);
    else
        __atomic_store_n((uint64_t *)p, v, __ATOMIC_RELAXED);
}

static void *flip_main(void *arg)
{
    struct flipper *f = arg;
    for (unsigned k = 0;; k++) {
        int st = atomic_load(&f->state);
        if (st == STOP)
            return NULL;
        if (st == PAUSE_ASKED) {
            /* the last pair ended on the good value */
            atomic_store(&f->state, PAUSED);
            continue;
        }
        if (st == PAUSED) {
            sched_yield();
            continue;
        }
        void *t = atomic_load_explicit(&f->target, memory_order_relaxed);
        uint64_t good = atomic_load_explicit(&f->good, memory_order_relaxed);
        put(t, f->width, f->nbad ? f->bads[k % f->nbad] : f->bad);
        put(t, f->width, good);
        atomic_fetch_add_explicit(&f->flips, 1, memory_order_relaxed);
    }
}

/* Flip between @p good and each of @p bads[0..nbad) in turn (nbad 0:
 * @p bad only). */
static void flip_start_n(struct flipper *f, void *target, unsigned width,
                         uint64_t good, uint64_t bad, const uint64_t *bads,
                         unsigned nbad)
{
    f->bads = bads;
    f->nbad = nbad;
    f->target = target;
    f->width = width;
    f->good = good;
    f->bad = bad;
    f->state = RUN;
    f->flips = 0;
    cr_assert_eq(pthread_create(&f->thread, NULL, flip_main, f), 0);
    while (atomic_load(&f->flips) == 0)
        sched_yield(); /* flipping before the first operation */
}

static void flip_start(struct flipper *f, void *target, unsigned width,
                       uint64_t good, uint64_t bad)
{
    flip_start_n(f, target, width, good, bad, NULL, 0);
}

/* Stop flipping (the field is left good) until flip_resume. */
static void flip_pause(struct flipper *f)
{
    int run = RUN;
    if (atomic_compare_exchange_strong(&f->state, &run, PAUSE_ASKED))
        while (atomic_load(&f->state) != PAUSED)
            sched_yield();
}

static void flip_resume(struct flipper *f, void *target, uint64_t good)
{
    atomic_store(&f->target, target);
    atomic_store(&f->good, good);
    unsigned long n = atomic_load(&f->flips);
    atomic_store(&f->state, RUN);
    while (atomic_load(&f->flips) == n)
        sched_yield();
}

static void flip_stop(struct flipper *f)
{
    atomic_store(&f->state, STOP);
    pthread_join(f->thread, NULL);
    put(f->target, f->width, f->good);
    cr_assert_gt(f->flips, 0, "the flipper never ran");
}

/* ---- helpers ------------------------------------------------------------- */

static sharena_arena *arena(uint64_t cap)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("readonce", cap, &a), 0);
    return a;
}

static struct sharena__slot *slot_of(sharena_arena *a, sharena_id id)
{
    struct sharena__slot *s;
    cr_assert_eq(sharena__resolve(a, id, 0, &s), 0);
    return s;
}

static uint8_t *payload_of(sharena_arena *a, sharena_id id)
{
    return (uint8_t *)sharena_arena_base(a) + slot_of(a, id)->word;
}

static bool inside(sharena_arena *a, const void *p, uint64_t len)
{
    sharena_arena_info info;
    cr_assert_eq(sharena_arena_info_get(a, &info), 0);
    const uint8_t *base = sharena_arena_base(a), *q = p;
    return q >= base && q <= base + info.capacity &&
           len <= (uint64_t)(base + info.capacity - q);
}

/* The loop bound: ITERS iterations or SECONDS, whichever ends first. */
#define FOR_A_WHILE(i)                                                         \
    for (double until_ = test_now_s() + SECONDS;                               \
         (i) < ITERS && ((i) % 64 || test_now_s() < until_); (i)++)

/* An error a flipped field may cause (never a signal, never wrong data). */
static bool flip_error(int r)
{
    return r == SHARENA_ECORRUPT || r == SHARENA_EBUSY || r == SHARENA_ESTALE;
}

#define EXPECT_OK_OR_FLIP(r, what)                                             \
    cr_assert((r) == 0 || flip_error(r), "%s: %d (%s)", what, (r),             \
              sharena_strerror(r))

/* A map with keys k0..k3 (numbers 0..3) in its first table (cap 8). */
static sharena_id small_map(sharena_arena *a, sharena_id vals[4])
{
    sharena_id m;
    cr_assert_eq(sharena_map_new(a, &m), 0);
    for (int i = 0; i < 4; i++) {
        char k[4] = {'k', (char)('0' + i), 0};
        cr_assert_eq(sharena_map_set_number(a, m, k, 2, i), 0);
        cr_assert_eq(sharena_map_get(a, m, k, 2, &vals[i]), 0);
    }
    return m;
}

/* ---- map capacity -------------------------------------------------------- */

Test(readonce, map_cap_readers, .timeout = 60)
{
    sharena_arena *a = arena(ARENA_CAP);
    sharena_id vals[4];
    sharena_id m = small_map(a, vals);
    struct sharena__map *t = (void *)payload_of(a, m);
    struct flipper f;
    flip_start(&f, &t->cap, 8, t->cap, HUGE_LEN);
    unsigned long ok = 0;
    long i = 0;
    FOR_A_WHILE(i)
    {
        sharena_id v = 0;
        int r = sharena_map_get(a, m, "k1", 2, &v);
        EXPECT_OK_OR_FLIP(r, "map_get");
        if (r == 0) {
            cr_assert_eq(v, vals[1]);
            ok++;
        }
        r = sharena_map_get(a, m, "absent", 6, &v);
        cr_assert(r == SHARENA_ENOENT || flip_error(r), "map_get absent: %d",
                  r);
        uint64_t n = 0;
        r = sharena_map_len(a, m, &n);
        EXPECT_OK_OR_FLIP(r, "map_len");
        cr_assert(r != 0 || n == 4, "map_len %lu", (unsigned long)n);
        uint64_t cur = 0;
        char key[16];
        size_t klen = 0;
        r = sharena_map_next(a, m, &cur, key, sizeof key, &klen, &v, NULL);
        EXPECT_OK_OR_FLIP(r, "map_next");
        if (r == 0) {
            cr_assert(klen == 2 && key[0] == 'k' && key[1] >= '0' &&
                      key[1] <= '3');
            cr_assert_eq(v, vals[key[1] - '0']);
        }
    }
    flip_stop(&f);
    cr_assert_gt(ok, 0);
    sharena_arena_close(a);
}

/* Add key k9 to a small_map() and remove it again: a write that inserts
 * and one that removes, each fine or an error a flip may cause. */
static void add_and_remove_k9(sharena_arena *a, sharena_id m)
{
    int r = sharena_map_set_number(a, m, "k9", 2, 9);
    EXPECT_OK_OR_FLIP(r, "map_set add");
    r = sharena_map_remove(a, m, "k9", 2, NULL);
    cr_assert(r == 0 || r == SHARENA_ENOENT || flip_error(r), "map_remove: %d",
              r);
}

Test(readonce, map_cap_writers, .timeout = 60)
{
    sharena_arena *a = arena(ARENA_CAP);
    sharena_id vals[4];
    sharena_id m = small_map(a, vals);
    struct sharena__map *t = (void *)payload_of(a, m);
    struct flipper f;
    flip_start(&f, &t->cap, 8, t->cap, HUGE_LEN);
    long i = 0;
    FOR_A_WHILE(i)
    {
        /* replace, add, remove: at most 5 keys, so the table never grows */
        int r = sharena_map_set_number(a, m, "k2", 2, 2);
        EXPECT_OK_OR_FLIP(r, "map_set replace");
        add_and_remove_k9(a, m);
    }
    flip_stop(&f);
    sharena_map_remove(a, m, "k9", 2, NULL);
    /* untouched keys kept their values; the table still checks */
    sharena_id v;
    cr_assert_eq(sharena_map_get(a, m, "k0", 2, &v), 0);
    cr_assert_eq(v, vals[0]);
    cr_assert_eq(sharena_map_get(a, m, "k3", 2, &v), 0);
    cr_assert_eq(v, vals[3]);
    uint64_t n;
    cr_assert_eq(sharena_map_len(a, m, &n), 0);
    cr_assert_eq(n, 4);
    sharena_arena_close(a);
}

Test(readonce, map_cap_repair, .timeout = 60)
{
    sharena_arena *a = arena(ARENA_CAP);
    sharena_id vals[4];
    sharena_id m = small_map(a, vals);
    struct sharena__slot *s = slot_of(a, m);
    uint64_t word = s->word;
    struct sharena__map *t = (void *)payload_of(a, m);
    struct flipper f;
    /* a capacity whose table reaches far past the arena */
    flip_start(&f, &t->cap, 8, t->cap, UINT64_C(1) << 22);
    long i = 0;
    unsigned long rebuilt = 0;
    FOR_A_WHILE(i)
    {
        int r = sharena__map_repair(a, s);
        cr_assert(r == 0 || r == SHARENA_ENOMEM || r == SHARENA_EFULL,
                  "map_repair: %d", r);
        if (s->word != word) {
            /* it saw the hostile capacity and started a new table: put
             * the flipped one back (and free the new one) to go on */
            uint64_t fresh = s->word;
            s->word = word;
            sharena__free(a, fresh);
        } else if (r == 0) {
            rebuilt++;
        }
    }
    flip_stop(&f);
    cr_assert_gt(rebuilt, 0);
    /* a repair of a good table keeps every entry */
    cr_assert_eq(sharena__map_repair(a, s), 0);
    for (int k = 0; k < 4; k++) {
        char key[3] = {'k', (char)('0' + k), 0};
        sharena_id v;
        cr_assert_eq(sharena_map_get(a, m, key, 2, &v), 0);
        cr_assert_eq(v, vals[k]);
    }
    sharena_arena_close(a);
}

/* ---- map count, entries and key lengths ---------------------------------- */

Test(readonce, map_count, .timeout = 60)
{
    sharena_arena *a = arena(ARENA_CAP);
    sharena_id vals[4];
    sharena_id m = small_map(a, vals);
    struct sharena__map *t = (void *)payload_of(a, m);
    struct flipper f;
    flip_start(&f, &t->count, 8, t->count, HUGE_LEN);
    long i = 0;
    FOR_A_WHILE(i)
    {
        uint64_t n = 0;
        int r = sharena_map_len(a, m, &n);
        EXPECT_OK_OR_FLIP(r, "map_len");
        cr_assert(r != 0 || n == 4);
        /* a replace leaves the count alone; an insert must not grow the
         * table on a count it cannot trust */
        r = sharena_map_set_number(a, m, "k1", 2, 1);
        EXPECT_OK_OR_FLIP(r, "map_set replace");
        r = sharena_map_remove(a, m, "absent", 6, NULL);
        cr_assert(r == SHARENA_ENOENT || flip_error(r));
    }
    flip_stop(&f);
    sharena_arena_close(a);
}

/* The entry of key @p k in map @p m's table (inline or block key). */
static struct sharena__map_entry *entry_of(sharena_arena *a, sharena_id m,
                                           const char *k)
{
    struct sharena__map *t = (void *)payload_of(a, m);
    struct sharena__map_entry *e = (void *)((uint8_t *)t +
                                            SHARENA__MAP_ENTRIES(t->cap));
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

/* Read k1 and iterate while a flipper changes a key: every error is one a
 * flip may cause, and every key iteration returns fits the buffer. */
static void read_keys_while_flipped(sharena_arena *a, sharena_id m,
                                    const sharena_id vals[4], const char *extra,
                                    sharena_id xval)
{
    sharena_id v = 0;
    int r = sharena_map_get(a, m, "k1", 2, &v);
    EXPECT_OK_OR_FLIP(r, "map_get");
    cr_assert(r != 0 || v == vals[1]);
    r = sharena_map_get(a, m, extra, strlen(extra), &v);
    EXPECT_OK_OR_FLIP(r, "map_get extra");
    cr_assert(r != 0 || v == xval);
    /* every key fits this buffer: ERANGE would be a length read twice */
    uint64_t cur = 0;
    char buf[64];
    size_t klen = 0;
    for (int k = 0; k < 8; k++) {
        r = sharena_map_next(a, m, &cur, buf, sizeof buf, &klen, &v, NULL);
        if (r == SHARENA_ENOENT)
            break;
        EXPECT_OK_OR_FLIP(r, "map_next");
        if (r < 0)
            break;
        cr_assert(klen == 2 || klen == strlen(extra), "map_next key length %zu",
                  klen);
        cr_assert_eq(strlen(buf), klen);
    }
}

#define LONG_KEY "a-key-longer-than-16-bytes"

/* small_map() and a fifth key, LONG_KEY (a key block), whose value's id
 * goes to *xval. */
static sharena_id map_with_long_key(sharena_arena *a, sharena_id vals[4],
                                    sharena_id *xval)
{
    sharena_id m = small_map(a, vals);
    cr_assert_eq(sharena_map_set_number(a, m, LONG_KEY, strlen(LONG_KEY), 9),
                 0);
    cr_assert_eq(sharena_map_get(a, m, LONG_KEY, strlen(LONG_KEY), xval), 0);
    return m;
}

Test(readonce, map_key_len, .timeout = 60)
{
    sharena_arena *a = arena(ARENA_CAP);
    sharena_id vals[4], xval;
    sharena_id m = map_with_long_key(a, vals, &xval);
    struct sharena__map_entry *e = entry_of(a, m, "k1");
    struct sharena__map_entry *x = entry_of(a, m, LONG_KEY);
    cr_assert_eq(e->klen, 2);
    cr_assert_eq(x->klen, SHARENA__KEY_BLOCK);
    struct sharena__key *key = (void *)((uint8_t *)sharena_arena_base(a) +
                                        x->key.off);
    /* an inline length that names a block (the key bytes as its offset),
     * one past the inline room, one of the unused ones; and the block's
     * length */
    static const uint8_t bad_klen[] = {SHARENA__KEY_BLOCK, 17, 200};
    for (unsigned b = 0; b < 4; b++) {
        struct flipper f;
        if (b < 3)
            flip_start(&f, &e->klen, 1, 2, bad_klen[b]);
        else
            flip_start(&f, &key->len, 8, strlen(LONG_KEY), HUGE_LEN);
        long i = 0;
        FOR_A_WHILE(i)
        {
            read_keys_while_flipped(a, m, vals, LONG_KEY, xval);
            /* a replace by the same value: k1 keeps vals[1] */
            int r = sharena_map_set(a, m, "k1", 2, vals[1], SHARENA_OWNED,
                                    NULL);
            EXPECT_OK_OR_FLIP(r, "map_set");
        }
        flip_stop(&f);
    }
    sharena_arena_close(a);
}

Test(readonce, map_entry_key, .timeout = 60)
{
    sharena_arena *a = arena(ARENA_CAP);
    sharena_id vals[4], xval;
    sharena_id m = map_with_long_key(a, vals, &xval);
    struct sharena__map_entry *x = entry_of(a, m, LONG_KEY);
    struct flipper f;
    /* the key block's offset: valid, then far outside the mapping */
    flip_start(&f, &x->key.off, 8, x->key.off, (UINT64_C(1) << 44) + 16);
    long i = 0;
    FOR_A_WHILE(i)
    {
        read_keys_while_flipped(a, m, vals, LONG_KEY, xval);
        int r = sharena_map_set_number(a, m, "k0", 2, 0);
        EXPECT_OK_OR_FLIP(r, "map_set");
    }
    flip_stop(&f);
    sharena_arena_close(a);
}

/* An index slot naming an entry past the count (or a huge one), and an
 * entry's value kind: readers and writers get errors, never a fault. */
Test(readonce, map_index_and_kind, .timeout = 60)
{
    sharena_arena *a = arena(ARENA_CAP);
    sharena_id vals[4];
    sharena_id m = small_map(a, vals);
    struct sharena__map *t = (void *)payload_of(a, m);
    struct sharena__map_entry *e = entry_of(a, m, "k2");
    uint32_t *slot = NULL;
    for (uint64_t j = 0; j < 2 * t->cap; j++)
        if (t->index[j] == (uint32_t)(e - entry_of(a, m, "k0")) + 1)
            slot = &t->index[j];
    cr_assert_not_null(slot);
    for (unsigned b = 0; b < 3; b++) {
        struct flipper f;
        if (b == 0)
            flip_start(&f, slot, 4, *slot, 7);
        else if (b == 1)
            flip_start(&f, slot, 4, *slot, UINT32_MAX);
        else
            flip_start(&f, &e->vkind, 1, SHARENA__V_REF, 0xee);
        long i = 0;
        FOR_A_WHILE(i)
        {
            sharena_id v = 0;
            int r = sharena_map_get(a, m, "k2", 2, &v);
            EXPECT_OK_OR_FLIP(r, "map_get");
            cr_assert(r != 0 || v == vals[2]);
            sharena_value val;
            r = sharena_map_get_value(a, m, "k2", 2, NULL, 0, &val);
            EXPECT_OK_OR_FLIP(r, "map_get_value");
            cr_assert(r != 0 || val.number == 2);
            add_and_remove_k9(a, m);
        }
        flip_stop(&f);
        sharena_map_remove(a, m, "k9", 2, NULL);
    }
    int r = sharena_map_set_number(a, m, "k2", 2, 2);
    EXPECT_OK_OR_FLIP(r, "map_set after");
    sharena_arena_close(a);
}

/* ---- values stored in map entries (format 4) ------------------------------
 * A peer flips an entry's value kind, string length or value words, or the
 * table's record of a value change (pend_set, pend_entry), while readers
 * (get_value, next_value, next_ref, map_get with and without an id, map_next
 * with one) and writers (set_number/string/bool/null, add_number, remove)
 * loop. Every read is what the entry holds at one moment (the good value or
 * one flipped field), or an error of the documented set; a string read
 * from an entry is never longer than the entry holds (16 bytes). */

#define VKEYS 7 /* + k9 coming and going: never more than the first table */
static const char *const VKEY[VKEYS] = {"kn", "ks", "kb", "kz",
                                        "kl", "w",  "cnt"};
enum { KN, KS, KB, KZ, KL, KW, KCNT };
#define KS_TEXT "0123456789abcdef" /* 16 bytes: the entry's whole room */
#define KL_TEXT "a string longer than an entry holds"

/* {kn: 2.5, ks: KS_TEXT, kb: true, kz: null, kl: KL_TEXT (an object),
 * w: 0, cnt: 0} in a table of 8 entries. */
static sharena_id value_map(sharena_arena *a, sharena_id *kl)
{
    sharena_id m;
    cr_assert_eq(sharena_map_new(a, &m), 0);
    cr_assert_eq(sharena_map_set_number(a, m, "kn", 2, 2.5), 0);
    cr_assert_eq(sharena_map_set_string(a, m, "ks", 2, KS_TEXT, 16), 0);
    cr_assert_eq(sharena_map_set_bool(a, m, "kb", 2, true), 0);
    cr_assert_eq(sharena_map_set_null(a, m, "kz", 2), 0);
    cr_assert_eq(
        sharena_map_set_string(a, m, "kl", 2, KL_TEXT, strlen(KL_TEXT)), 0);
    cr_assert_eq(sharena_map_get(a, m, "kl", 2, kl), 0);
    cr_assert_eq(sharena_map_set_number(a, m, "w", 1, 0), 0);
    cr_assert_eq(sharena_map_set_number(a, m, "cnt", 3, 0), 0);
    cr_assert_eq(((struct sharena__map *)payload_of(a, m))->cap, 8);
    return m;
}

/* Errors a read of a flipped entry may give (ENOENT: a ref flipped to an
 * id never issued; ESTALE: to a dropped object's). */
static bool value_error(int r)
{
    return r == SHARENA_ECORRUPT || r == SHARENA_EBUSY || r == SHARENA_ESTALE ||
           r == SHARENA_ENOENT;
}

/* The value fields of an entry, as a test sees them. */
struct vfields {
    uint8_t kind, vlen;
    uint64_t w[2];
};
enum vfield { VF_KIND, VF_VLEN, VF_W0, VF_W1 };

static struct vfields vfields_of(const struct sharena__map_entry *e)
{
    return (struct vfields){e->vkind, e->vlen, {e->value.w[0], e->value.w[1]}};
}

/* Is (r, v, buf) what a get_value of an entry holding @p e gives? */
static bool read_fits(const struct vfields *e, int r, const sharena_value *v,
                      const char *buf)
{
    if (r == SHARENA_EBUSY)
        return true;
    switch (e->kind) {
    case SHARENA__V_REF:
        if (!(e->w[0] & SHARENA__REF_ID_MASK))
            return r == SHARENA_ECORRUPT;
        /* read through the id: whatever that object is, or its error */
        return r != 0 ? value_error(r)
                      : v->id == (e->w[0] & SHARENA__REF_ID_MASK);
    case SHARENA__V_NUMBER:
        return r == 0 && v->id == 0 && v->type == SHARENA_T_NUMBER &&
               memcmp(&v->number, &e->w[0], 8) == 0;
    case SHARENA__V_BOOL:
        if (e->w[0] > 1)
            return r == SHARENA_ECORRUPT;
        return r == 0 && v->id == 0 && v->type == SHARENA_T_BOOL &&
               v->boolean == (e->w[0] == 1);
    case SHARENA__V_NULL:
        return r == 0 && v->id == 0 && v->type == SHARENA_T_NULL;
    case SHARENA__V_STRING:
        if (e->vlen > SHARENA__VALUE_INLINE_MAX)
            return r == SHARENA_ECORRUPT;
        return r == 0 && v->id == 0 && v->type == SHARENA_T_STRING &&
               v->len == e->vlen && memcmp(buf, e->w, e->vlen) == 0 &&
               buf[e->vlen] == 0;
    default:
        return r == SHARENA_ECORRUPT;
    }
}

/* Does the read fit the good entry @p g, or @p g with field @p f set to one
 * of @p bads? */
static bool read_fits_any(const struct vfields *g, enum vfield f,
                          const uint64_t *bads, unsigned nbad, int r,
                          const sharena_value *v, const char *buf)
{
    if (read_fits(g, r, v, buf))
        return true;
    for (unsigned i = 0; i < nbad; i++) {
        struct vfields e = *g;
        if (f == VF_KIND)
            e.kind = (uint8_t)bads[i];
        else if (f == VF_VLEN)
            e.vlen = (uint8_t)bads[i];
        else
            e.w[f == VF_W0 ? 0 : 1] = bads[i];
        if (read_fits(&e, r, v, buf))
            return true;
    }
    return false;
}

/* Set key @p k of value_map() to its own value again (the same words). */
static int set_same(sharena_arena *a, sharena_id m, int k)
{
    switch (k) {
    case KN:
        return sharena_map_set_number(a, m, "kn", 2, 2.5);
    case KS:
        return sharena_map_set_string(a, m, "ks", 2, KS_TEXT, 16);
    case KB:
        return sharena_map_set_bool(a, m, "kb", 2, true);
    case KZ:
        return sharena_map_set_null(a, m, "kz", 2);
    default:
        return 0; /* (a ref: never set, its object would go) */
    }
}

/* Writes around the flipped entry: "w" through every kind (a long string
 * an object coming and going), "cnt" added to, k9 added and removed (the
 * last entry: nothing moves). @p strict: every result must be 0. */
static void value_writes(sharena_arena *a, sharena_id m, long i, bool strict)
{
    int r;
    switch (i % 5) {
    case 0:
        r = sharena_map_set_number(a, m, "w", 1, (double)(i % 1000) + 0.5);
        break;
    case 1:
        r = sharena_map_set_string(a, m, "w", 1, "abc", 3);
        break;
    case 2:
        r = sharena_map_set_bool(a, m, "w", 1, i & 2);
        break;
    case 3:
        r = sharena_map_set_null(a, m, "w", 1);
        break;
    default:
        r = sharena_map_set_string(a, m, "w", 1, KL_TEXT, strlen(KL_TEXT));
    }
    cr_assert(r == 0 || (!strict && flip_error(r)), "set w: %d", r);
    double sum;
    r = sharena_map_add_number(a, m, "cnt", 3, 1, 0, &sum);
    cr_assert(r == 0 || (!strict && (flip_error(r) || r == SHARENA_ETYPE)),
              "add cnt: %d", r);
    r = sharena_map_set_number(a, m, "k9", 2, 9);
    cr_assert(r == 0 || (!strict && flip_error(r)), "set k9: %d", r);
    r = sharena_map_remove(a, m, "k9", 2, NULL);
    cr_assert(r == 0 || r == SHARENA_ENOENT || (!strict && flip_error(r)),
              "remove k9: %d", r);
}

/* Iterate with next_value and next_ref: errors of the set; a string read
 * from an entry holds at most 16 bytes; the flipped entry @p k (or -1)
 * reads as fits_any says. */
static void value_iterate(sharena_arena *a, sharena_id m, int k,
                          const struct vfields *g, enum vfield f,
                          const uint64_t *bads, unsigned nbad)
{
    char key[64], buf[256];
    size_t klen;
    uint64_t cur = 0;
    for (int n = 0; n < VKEYS + 2; n++) {
        sharena_value v;
        memset(buf, 0x5a, sizeof buf);
        int r = sharena_map_next_value(a, m, &cur, key, sizeof key, &klen, buf,
                                       sizeof buf, &v);
        if (r == SHARENA_ENOENT && cur >= VKEYS)
            break;
        if (k >= 0 && r != SHARENA_ENOENT && klen == 2 &&
            memcmp(key, VKEY[k], 2) == 0)
            cr_assert(read_fits_any(g, f, bads, nbad, r, &v, buf),
                      "next_value %s: %d type %d len %zu", VKEY[k], r, v.type,
                      v.len);
        cr_assert(r == 0 || value_error(r), "next_value: %d", r);
        cr_assert(r != 0 || v.type != SHARENA_T_STRING || v.id != 0 ||
                      (v.len <= SHARENA__VALUE_INLINE_MAX && buf[v.len] == 0),
                  "a string of %zu bytes from an entry", v.len);
        if (r < 0)
            cur++; /* past an entry that does not read */
    }
    cur = 0;
    for (int n = 0; n < VKEYS + 2; n++) {
        sharena_id id = 1;
        bool owned = false;
        int r = sharena_map_next_ref(a, m, &cur, key, sizeof key, &klen, &id,
                                     &owned);
        if (r == SHARENA_ENOENT && cur >= VKEYS)
            break;
        cr_assert(r == 0 || flip_error(r), "next_ref: %d", r);
        if (r < 0)
            cur++;
    }
}

/* Ask for the id of the flipped entry @p k (map_get, or map_next at its
 * position): a fresh object of what the entry held, or the ref it held;
 * then set it back to its own value (a ref made while the kind was
 * flipped would otherwise be read as the flipper's kind). */
static void value_promote(sharena_arena *a, sharena_id m, int k, long i)
{
    sharena_id id = 0;
    int r;
    if (i & 32) {
        r = sharena_map_get(a, m, VKEY[k], strlen(VKEY[k]), &id);
    } else {
        uint64_t cur = (uint64_t)k; /* value_map() inserted in VKEY order */
        char key[64];
        size_t klen;
        r = sharena_map_next(a, m, &cur, key, sizeof key, &klen, &id, NULL);
    }
    cr_assert(r == 0 || flip_error(r) || r == SHARENA_EFULL,
              "promote %s: %d (%s)", VKEY[k], r, sharena_strerror(r));
    cr_assert(r != 0 || id != 0);
    r = set_same(a, m, k);
    cr_assert(r == 0 || flip_error(r), "set back %s: %d", VKEY[k], r);
}

/* One round: flip field @p f of key @p k's entry between its value and
 * each of @p bads while reading and writing around it. */
static void value_round(sharena_arena *a, sharena_id m, int k, enum vfield f,
                        const uint64_t *bads, unsigned nbad)
{
    struct sharena__map_entry *e = entry_of(a, m, VKEY[k]);
    struct vfields g = vfields_of(e);
    void *target = f == VF_KIND   ? (void *)&e->vkind
                   : f == VF_VLEN ? (void *)&e->vlen
                                  : (void *)&e->value.w[f == VF_W0 ? 0 : 1];
    unsigned width = f <= VF_VLEN ? 1 : 8;
    uint64_t good = f == VF_KIND   ? g.kind
                    : f == VF_VLEN ? g.vlen
                                   : g.w[f == VF_W0 ? 0 : 1];
    struct flipper fl;
    flip_start_n(&fl, target, width, good, 0, bads, nbad);
    long i = 0;
    unsigned long fit = 0;
    FOR_A_WHILE(i)
    {
        char buf[256];
        sharena_value v;
        memset(buf, 0x5a, sizeof buf);
        int r = sharena_map_get_value(a, m, VKEY[k], strlen(VKEY[k]), buf,
                                      sizeof buf, &v);
        cr_assert(read_fits_any(&g, f, bads, nbad, r, &v, buf),
                  "get_value %s (field %d): %d (%s), type %d len %zu", VKEY[k],
                  f, r, sharena_strerror(r), v.type, v.len);
        fit += r == 0;
        r = sharena_map_get(a, m, VKEY[k], strlen(VKEY[k]), NULL);
        cr_assert(r == 0 || flip_error(r), "map_get: %d", r);
        value_iterate(a, m, k, &g, f, bads, nbad);
        if (i % 16 == 0 && k != KL)
            value_promote(a, m, k, i);
        value_writes(a, m, i, false);
        r = set_same(a, m, k);
        cr_assert(r == 0 || flip_error(r), "set %s: %d", VKEY[k], r);
        if (k == KN) {
            double sum;
            r = sharena_map_add_number(a, m, "kn", 2, 0, 0, &sum);
            /* (a kind flipped to a ref: number_add of whatever id that
             * is, ENOENT included) */
            cr_assert(r == 0 || value_error(r) || r == SHARENA_ETYPE,
                      "add kn: %d", r);
        }
    }
    flip_stop(&fl);
    cr_assert_gt(fit, 0, "%s never read", VKEY[k]);
    /* flipped back: the entry reads as it was, nothing else changed */
    cr_assert_eq(set_same(a, m, k), 0);
    struct vfields now = vfields_of(e);
    if (k == KL)
        cr_assert(now.kind == g.kind && now.vlen == g.vlen &&
                      now.w[0] == g.w[0] && now.w[1] == g.w[1],
                  "the ref is as it was");
    char buf[256];
    sharena_value v;
    int r = sharena_map_get_value(a, m, VKEY[k], strlen(VKEY[k]), buf,
                                  sizeof buf, &v);
    cr_assert(read_fits(&g, r, &v, buf), "after: %d", r);
    value_writes(a, m, 0, true);
}

/* The kinds a peer may write into vkind: every kind and junk. */
static const uint64_t ALL_KINDS[] = {SHARENA__V_REF,
                                     SHARENA__V_NUMBER,
                                     SHARENA__V_BOOL,
                                     SHARENA__V_NULL,
                                     SHARENA__V_STRING,
                                     SHARENA__V_COUNT,
                                     0x7f,
                                     0xff};

Test(readonce, map_value_kind, .timeout = 120)
{
    sharena_arena *a = arena(UINT64_C(8) << 20);
    sharena_id kl;
    sharena_id m = value_map(a, &kl);
    for (int k = KN; k <= KL; k++)
        value_round(a, m, k, VF_KIND, ALL_KINDS,
                    sizeof ALL_KINDS / sizeof ALL_KINDS[0]);
    sharena_fsck_report rep;
    cr_assert_eq(sharena_fsck(a, 0, NULL, NULL, &rep), 0);
    sharena_arena_close(a);
}

Test(readonce, map_value_len_and_words, .timeout = 120)
{
    sharena_arena *a = arena(UINT64_C(8) << 20);
    sharena_id kl, other, gone;
    sharena_id m = value_map(a, &kl);
    cr_assert_eq(sharena_string_new(a, "another", 7, &other), 0);
    cr_assert_eq(sharena_string_new(a, "dropped", 7, &gone), 0);
    cr_assert_eq(sharena_drop(a, gone, 0), 0);
    static const uint64_t lens[] = {0, 1, 5, 15, 17, 32, 128, 255};
    const unsigned nlens = sizeof lens / sizeof lens[0];
    value_round(a, m, KS, VF_VLEN, lens, nlens);
    value_round(a, m, KN, VF_VLEN, lens, nlens);
    /* a string's second word: other bytes, not UTF-8 ones, all ones */
    uint64_t junk;
    memcpy(&junk, "\xff\xfe\xc3\x28\xed\xa0\x80\x00", 8);
    const uint64_t w1s[] = {0, UINT64_MAX, junk, SHARENA__REF_OWNED};
    value_round(a, m, KS, VF_W1, w1s, 4);
    value_round(a, m, KN, VF_W1, w1s, 4);
    /* a boolean's word: 2 and more are corrupt */
    const uint64_t bools[] = {0, 2, 0xff, UINT64_MAX, SHARENA__REF_OWNED};
    value_round(a, m, KB, VF_W0, bools, 5);
    /* a number's word: any bits are a number */
    const uint64_t nums[] = {0, 5, UINT64_MAX, UINT64_C(0x7ff8000000000001)};
    value_round(a, m, KN, VF_W0, nums, 4);
    /* a ref's word: id 0 (owned or not), a dropped object, an id never
     * issued, another live object's */
    const uint64_t refs[] = {0, SHARENA__REF_OWNED, gone | SHARENA__REF_OWNED,
                             sharena__id_make(1u << 20, 0) | SHARENA__REF_OWNED,
                             other};
    value_round(a, m, KL, VF_W0, refs, 5);
    /* a string's first word: bytes of a ref */
    value_round(a, m, KS, VF_W0, refs, 5);
    sharena_fsck_report rep;
    cr_assert_eq(sharena_fsck(a, 0, NULL, NULL, &rep), 0);
    char buf[64];
    size_t len;
    cr_assert_eq(sharena_string_get(a, kl, buf, sizeof buf, &len), 0);
    cr_assert_str_eq(buf, KL_TEXT);
    sharena_arena_close(a);
}

/* The record of a value change: pend_set flipped to entries, past the
 * count and huge, and the recorded entry's fields flipped while pend_set
 * names an entry, with repair run now and then (the one reader of the
 * record): values may change (the record is the peer's), but nothing
 * crashes, reads give values or errors of the set, and a last repair
 * leaves a clean table. */
Test(readonce, map_value_record, .timeout = 120)
{
    sharena_arena *a = arena(UINT64_C(8) << 20);
    sharena_id kl;
    sharena_id m = value_map(a, &kl);
    struct sharena__slot *s = slot_of(a, m);
    struct sharena__map *t = (void *)payload_of(a, m);
    const uint64_t sets[] = {KN + 1,
                             KZ + 1,
                             KS + 1,
                             VKEYS + 1,
                             t->cap,
                             t->cap + 5,
                             UINT64_C(1) << 40,
                             UINT64_MAX};
    uint64_t junk;
    memcpy(&junk, "\xff\xfe\xc3\x28\xed\xa0\x80\x00", 8);
    const uint64_t w0s[] = {0, 2, SHARENA__REF_OWNED, junk, UINT64_MAX};
    const uint64_t lens[] = {0, 3, 16, 17, 255};
    for (int round = 0; round < 4; round++) {
        struct flipper fs, fe;
        bool second = round > 0;
        /* round 0: pend_set alone (writers record changes under it);
         * then pend_set to kz's entry with the record's kind, length or
         * first word flipped too */
        if (!second)
            flip_start_n(&fs, &t->pend_set, 8, 0, 0, sets,
                         sizeof sets / sizeof sets[0]);
        else
            flip_start(&fs, &t->pend_set, 8, 0, KZ + 1);
        if (round == 1)
            flip_start_n(&fe, &t->pend_entry.vkind, 1, SHARENA__V_NULL, 0,
                         ALL_KINDS, sizeof ALL_KINDS / sizeof ALL_KINDS[0]);
        else if (round == 2)
            flip_start_n(&fe, &t->pend_entry.vlen, 1, 0, 0, lens, 5);
        else if (round == 3)
            flip_start_n(&fe, &t->pend_entry.value.w[0], 8, 0, 0, w0s, 5);
        long i = 0;
        FOR_A_WHILE(i)
        {
            for (int k = 0; k < VKEYS; k++) {
                char buf[256];
                sharena_value v;
                memset(buf, 0x5a, sizeof buf);
                int r = sharena_map_get_value(a, m, VKEY[k], strlen(VKEY[k]),
                                              buf, sizeof buf, &v);
                cr_assert(r == 0 || value_error(r), "get_value %s: %d", VKEY[k],
                          r);
                cr_assert(
                    r != 0 || v.type != SHARENA_T_STRING || v.id ||
                        (v.len <= SHARENA__VALUE_INLINE_MAX && buf[v.len] == 0),
                    "%s: a string of %zu bytes from an entry", VKEY[k], v.len);
                r = sharena_map_get(a, m, VKEY[k], strlen(VKEY[k]), NULL);
                cr_assert(r == 0 || value_error(r), "map_get %s: %d", VKEY[k],
                          r);
            }
            value_iterate(a, m, -1, NULL, VF_KIND, NULL, 0);
            value_writes(a, m, i, false);
            for (int k = KN; k <= KZ; k++) {
                int r = set_same(a, m, k);
                cr_assert(r == 0 || flip_error(r), "set %s: %d", VKEY[k], r);
            }
            if (i % 16 == 0) {
                sharena_id id;
                int r = sharena_map_get(a, m, "kz", 2, &id);
                cr_assert(r == 0 || value_error(r) || r == SHARENA_EFULL,
                          "promote kz: %d (%s)", r, sharena_strerror(r));
                set_same(a, m, KZ);
            }
            if (i % 8 == 0) {
                /* (the table is never replaced: repair allocates nothing
                 * when its header holds) */
                cr_assert_eq(sharena_lock(a, m), 0);
                cr_assert_eq(sharena__map_repair(a, s), 0);
                sharena_unlock(a, m);
                cr_assert_eq((void *)payload_of(a, m), (void *)t);
            }
        }
        if (second)
            flip_stop(&fe);
        flip_stop(&fs);
        /* a repair, and the table is clean again */
        sharena_fsck_report rep;
        int r = sharena_fsck(a, SHARENA_FSCK_REPAIR, NULL, NULL, &rep);
        cr_assert(r == 0, "fsck repair: %d", r);
        cr_assert_eq(sharena_fsck(a, 0, NULL, NULL, &rep), 0);
        cr_assert_eq(t->pend_set, 0);
        /* put back what the peer's records changed (a key repair took out
         * for a junk value comes back too) */
        for (int k = KN; k <= KZ; k++)
            cr_assert_eq(set_same(a, m, k), 0);
        value_writes(a, m, 0, true);
    }
    sharena_arena_close(a);
}

/* ---- vectors ------------------------------------------------------------- */

/* A vector of 4 owned numbers 0..3 with room for 8. */
static sharena_id small_vector(sharena_arena *a, sharena_id items[4])
{
    sharena_id v, x;
    cr_assert_eq(sharena_vector_new(a, &v), 0);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(sharena_number_new(a, i, &x), 0);
        cr_assert_eq(sharena_vector_push(a, v, x, SHARENA_OWNED), 0);
        if (i < 4)
            items[i] = x;
    }
    cr_assert_eq(sharena_vector_pop(a, v, &x), 0);
    sharena_drop(a, x, 0);
    return v;
}

Test(readonce, vector_len, .timeout = 60)
{
    sharena_arena *a = arena(ARENA_CAP);
    sharena_id items[4];
    sharena_id v = small_vector(a, items);
    struct sharena__vector *p = (void *)payload_of(a, v);
    cr_assert_eq(p->cap, 8);
    struct flipper f;
    flip_start(&f, &p->len, 8, 4, HUGE_LEN);
    long i = 0;
    FOR_A_WHILE(i)
    {
        uint64_t n = 0;
        int r = sharena_vector_len(a, v, &n);
        EXPECT_OK_OR_FLIP(r, "vector_len");
        cr_assert(r != 0 || n == 4);
        sharena_id x = 0;
        r = sharena_vector_get(a, v, 2, &x, NULL);
        EXPECT_OK_OR_FLIP(r, "vector_get");
        cr_assert(r != 0 || x == items[2]);
        r = sharena_vector_get(a, v, UINT64_C(1) << 36, &x, NULL);
        cr_assert(r == SHARENA_ERANGE || flip_error(r), "vector_get far: %d",
                  r);
        r = sharena_vector_set(a, v, 1, items[1], SHARENA_OWNED, NULL);
        EXPECT_OK_OR_FLIP(r, "vector_set");
        r = sharena_vector_set(a, v, UINT64_C(1) << 36, items[1], 0, NULL);
        cr_assert(r == SHARENA_ERANGE || flip_error(r), "vector_set far: %d",
                  r);
        r = sharena_vector_insert(a, v, UINT64_C(1) << 36, items[1], 0);
        cr_assert(r == SHARENA_ERANGE || flip_error(r), "vector_insert far: %d",
                  r);
        r = sharena_vector_remove(a, v, UINT64_C(1) << 36, NULL);
        cr_assert(r == SHARENA_ERANGE || flip_error(r), "vector_remove far: %d",
                  r);
    }
    flip_stop(&f);
    for (int k = 0; k < 4; k++) {
        sharena_id x;
        cr_assert_eq(sharena_vector_get(a, v, (uint64_t)k, &x, NULL), 0);
        cr_assert_eq(x, items[k]);
    }
    sharena_arena_close(a);
}

Test(readonce, vector_cap, .timeout = 60)
{
    sharena_arena *a = arena(ARENA_CAP);
    sharena_id items[4];
    sharena_id v = small_vector(a, items);
    struct sharena__vector *p = (void *)payload_of(a, v);
    struct flipper f;
    flip_start(&f, &p->cap, 8, 8, HUGE_LEN);
    long i = 0;
    FOR_A_WHILE(i)
    {
        sharena_id x, y;
        int r = sharena_vector_get(a, v, 3, &y, NULL);
        EXPECT_OK_OR_FLIP(r, "vector_get");
        cr_assert(r != 0 || y == items[3]);
        /* push then pop: at most 5 of 8, so the block never moves */
        cr_assert_eq(sharena_number_new(a, 7, &x), 0);
        r = sharena_vector_push(a, v, x, 0);
        EXPECT_OK_OR_FLIP(r, "vector_push");
        if (r == 0) {
            /* the pop may see the flipped capacity too: retry it */
            for (double until = test_now_s() + 20; test_now_s() < until;)
                if ((r = sharena_vector_pop(a, v, &y)) == 0)
                    break;
            cr_assert_eq(r, 0, "vector_pop: %d", r);
            cr_assert_eq(y, x);
        }
        sharena_drop(a, x, 0);
        r = sharena_vector_insert(a, v, 5, items[0], 0);
        cr_assert(r == SHARENA_ERANGE || flip_error(r), "vector_insert: %d", r);
    }
    flip_stop(&f);
    uint64_t n;
    cr_assert_eq(sharena_vector_len(a, v, &n), 0);
    cr_assert_eq(n, 4);
    sharena_arena_close(a);
}

/* Format 4: an item is a ref or a number in place, told apart by its bits.
 * A peer flips item 1 between a number (1.5 in place) and an owned ref to
 * a dropped object while readers classify it, copy the range, ask for its
 * id (promotion, under the lock) and writers change the items around it:
 * every result is the number or an error of the stale ref, never a crash
 * and never another number. */
Test(readonce, vector_item_kind, .timeout = 60)
{
    sharena_arena *a = arena(ARENA_CAP);
    sharena_id v, gone;
    cr_assert_eq(sharena_vector_new(a, &v), 0);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(sharena_vector_push_number(a, v, i + 0.5), 0);
    cr_assert_eq(sharena_vector_pop(a, v, NULL), 0); /* cap 8, len 4 */
    cr_assert_eq(sharena_number_new(a, 9, &gone), 0);
    cr_assert_eq(sharena_drop(a, gone, 0), 0);
    struct sharena__vector *p = (void *)payload_of(a, v);
    cr_assert_eq(p->cap, 8);
    double good = 1.5;
    uint64_t gbits, bad = gone | SHARENA__REF_OWNED;
    memcpy(&gbits, &good, 8);
    cr_assert(!sharena__item_is_ref(gbits) && sharena__item_is_ref(bad));
    struct flipper f;
    flip_start(&f, &p->items[1], 8, gbits, bad);
    long i = 0;
    unsigned long numbers = 0, refs = 0;
    FOR_A_WHILE(i)
    {
        sharena_value val = {0};
        int r = sharena_vector_get_value(a, v, 1, NULL, 0, &val);
        cr_assert(r == 0 || flip_error(r), "get_value: %d", r);
        cr_assert(r != 0 || (val.type == SHARENA_T_NUMBER && val.number == 1.5),
                  "get_value read type %d, %g", val.type, val.number);
        double out[4];
        r = sharena_vector_read_numbers(a, v, 0, out, 4);
        cr_assert(r == 0 || r == SHARENA_ETYPE || flip_error(r),
                  "read_numbers: %d", r);
        if (r == 0) {
            cr_assert(out[0] == 0.5 && out[1] == 1.5 && out[2] == 2.5,
                      "read_numbers: %g %g %g", out[0], out[1], out[2]);
            numbers++;
        } else {
            refs++;
        }
        bool owned = false;
        r = sharena_vector_get(a, v, 1, NULL, &owned);
        cr_assert(r == 0 && owned, "get owned: %d", r);
        if (i % 16 == 0) {
            /* an id: a number object made under the lock, or the stale
             * ref as stored (the flipper then overwrites the item: the
             * object made is a leak, not damage) */
            sharena_id id = 0;
            r = sharena_vector_get(a, v, 1, &id, NULL);
            /* (EFULL: those leaks can fill this small arena) */
            cr_assert(r == 0 || flip_error(r) || r == SHARENA_EFULL,
                      "get id: %d", r);
            double d;
            if (r == 0 && sharena_number_get(a, id, &d) == 0)
                cr_assert_eq(d, 1.5);
        }
        r = sharena_vector_set_number(a, v, 3, (double)i);
        EXPECT_OK_OR_FLIP(r, "set_number");
        r = sharena_vector_push_number(a, v, 7.5);
        EXPECT_OK_OR_FLIP(r, "push_number");
        if (r == 0) {
            for (double until = test_now_s() + 20; test_now_s() < until;)
                if ((r = sharena_vector_pop(a, v, NULL)) == 0)
                    break;
            cr_assert_eq(r, 0, "pop: %d", r);
        }
    }
    flip_stop(&f);
    cr_assert_gt(numbers, 0, "never read the number");
    sharena_value val = {0};
    cr_assert_eq(sharena_vector_get_value(a, v, 1, NULL, 0, &val), 0);
    cr_assert_eq(val.number, 1.5);
    uint64_t n;
    cr_assert_eq(sharena_vector_len(a, v, &n), 0);
    cr_assert_eq(n, 4);
    sharena_arena_close(a);
}

/* ---- strings and bytes --------------------------------------------------- */

Test(readonce, string_len, .timeout = 60)
{
    sharena_arena *a = arena(ARENA_CAP);
    sharena_id s;
    cr_assert_eq(sharena_string_new(a, "hello", 5, &s), 0);
    struct sharena__string *p = (void *)payload_of(a, s);
    struct flipper f;
    flip_start(&f, &p->len, 8, 5, HUGE_LEN);
    long i = 0;
    FOR_A_WHILE(i)
    {
        char buf[64];
        size_t len = 0;
        int r = sharena_string_get(a, s, buf, sizeof buf, &len);
        EXPECT_OK_OR_FLIP(r, "string_get");
        if (r == 0)
            cr_assert(len == 5 && strcmp(buf, "hello") == 0);
        r = sharena_string_len(a, s, &len);
        EXPECT_OK_OR_FLIP(r, "string_len");
        cr_assert(r != 0 || len == 5);
        char *d = NULL;
        r = sharena_string_dup(a, s, &d, &len);
        EXPECT_OK_OR_FLIP(r, "string_dup");
        if (r == 0)
            cr_assert(len == 5 && strcmp(d, "hello") == 0);
        free(d);
    }
    flip_stop(&f);
    sharena_arena_close(a);
}

Test(readonce, bytes_size, .timeout = 60)
{
    sharena_arena *a = arena(ARENA_CAP);
    sharena_id b;
    cr_assert_eq(sharena_bytes_new(a, 64, &b), 0);
    uint8_t pattern[64];
    for (int k = 0; k < 64; k++)
        pattern[k] = (uint8_t)k;
    cr_assert_eq(sharena_bytes_write(a, b, 0, pattern, 64), 0);
    struct sharena__bytes *p = (void *)payload_of(a, b);
    struct flipper f;
    flip_start(&f, &p->size, 8, 64, UINT64_C(1) << 30);
    long i = 0;
    FOR_A_WHILE(i)
    {
        void *ptr = NULL;
        uint64_t size = 0;
        int r = sharena_bytes_ptr(a, b, &ptr, &size);
        EXPECT_OK_OR_FLIP(r, "bytes_ptr");
        if (r == 0) {
            /* the size that sizes a Buffer or memoryview */
            cr_assert(inside(a, ptr, size),
                      "view of %lu bytes past the mapping",
                      (unsigned long)size);
            cr_assert_eq(size, 64);
        }
        uint8_t buf[64];
        r = sharena_bytes_read(a, b, 0, buf, 64);
        EXPECT_OK_OR_FLIP(r, "bytes_read");
        cr_assert(r != 0 || memcmp(buf, pattern, 64) == 0);
        r = sharena_bytes_read(a, b, UINT64_C(1) << 29, buf, 16);
        cr_assert(r == SHARENA_ERANGE || flip_error(r), "bytes_read far: %d",
                  r);
        r = sharena_bytes_write(a, b, 0, pattern, 64);
        EXPECT_OK_OR_FLIP(r, "bytes_write");
        r = sharena_bytes_write(a, b, UINT64_C(1) << 29, pattern, 16);
        cr_assert(r == SHARENA_ERANGE || flip_error(r), "bytes_write far: %d",
                  r);
    }
    flip_stop(&f);
    sharena_arena_close(a);
}

/* ---- structs and shapes -------------------------------------------------- */

static sharena_id shape3(sharena_arena *a)
{
    sharena_field_def defs[] = {
        {.name = "n", .type = SHARENA_T_NUMBER},
        {.name = "b", .type = SHARENA_T_BOOL},
        {.name = "s", .type = SHARENA_T_STRING},
    };
    sharena_id sh;
    cr_assert_eq(sharena_shape_new(a, defs, 3, &sh), 0);
    return sh;
}

static sharena_id struct3(sharena_arena *a, sharena_id sh)
{
    sharena_id st;
    cr_assert_eq(sharena_struct_new(a, sh, &st), 0);
    cr_assert_eq(sharena_struct_set_number(a, st, 0, 42), 0);
    cr_assert_eq(sharena_struct_set_bool(a, st, 1, true), 0);
    cr_assert_eq(sharena_struct_set_string(a, st, 2, "hi", 2), 0);
    return st;
}

/* Reads and writes of struct @p st (shape @p sh), every result checked. */
static void use_struct(sharena_arena *a, sharena_id st, sharena_id sh)
{
    double d = 0;
    int r = sharena_struct_get_number(a, st, 0, &d);
    EXPECT_OK_OR_FLIP(r, "struct_get_number");
    cr_assert(r != 0 || d == 42);
    r = sharena_struct_set_number(a, st, 0, 42);
    EXPECT_OK_OR_FLIP(r, "struct_set_number");
    bool b = false;
    r = sharena_struct_get_bool(a, st, 1, &b);
    EXPECT_OK_OR_FLIP(r, "struct_get_bool");
    cr_assert(r != 0 || b);
    r = sharena_struct_set_bool(a, st, 1, true);
    EXPECT_OK_OR_FLIP(r, "struct_set_bool");
    char buf[16];
    size_t len = 0;
    r = sharena_struct_get_string(a, st, 2, buf, sizeof buf, &len);
    EXPECT_OK_OR_FLIP(r, "struct_get_string");
    cr_assert(r != 0 || (len == 2 && strcmp(buf, "hi") == 0));
    sharena_id x = 0;
    r = sharena_struct_field_id(a, st, 2, &x);
    EXPECT_OK_OR_FLIP(r, "struct_field_id");
    cr_assert(r != 0 || sharena_type_of(a, x) == SHARENA_T_STRING);
    r = sharena_struct_shape(a, st, &x);
    EXPECT_OK_OR_FLIP(r, "struct_shape");
    cr_assert(r != 0 || x == sh);
    r = sharena_struct_get_number(a, st, (size_t)1 << 30, &d);
    cr_assert(r == SHARENA_ERANGE || flip_error(r), "far field: %d", r);
    r = sharena_struct_set_number(a, st, (size_t)1 << 30, 1);
    cr_assert(r == SHARENA_ERANGE || flip_error(r), "far field set: %d", r);
}

Test(readonce, struct_slot_word, .timeout = 60)
{
    sharena_arena *a = arena(ARENA_CAP);
    sharena_id sh = shape3(a), st = struct3(a, sh);
    struct sharena__slot *s = slot_of(a, st);
    struct flipper f;
    /* the struct's block offset: valid, then (aligned) far outside */
    flip_start(&f, &s->word, 8, s->word, (UINT64_C(1) << 44) + 16);
    long i = 0;
    FOR_A_WHILE(i)
    use_struct(a, st, sh);
    flip_stop(&f);
    use_struct(a, st, sh);
    sharena_arena_close(a);
}

Test(readonce, struct_nfields, .timeout = 60)
{
    sharena_arena *a = arena(ARENA_CAP);
    sharena_id sh = shape3(a), st = struct3(a, sh);
    struct sharena__struct *p = (void *)payload_of(a, st);
    struct flipper f;
    flip_start(&f, &p->nfields, 8, 3, UINT64_C(1) << 40);
    long i = 0;
    FOR_A_WHILE(i)
    use_struct(a, st, sh);
    flip_stop(&f);
    sharena_arena_close(a);
}

Test(readonce, shape_field_name_len, .timeout = 60)
{
    sharena_arena *a = arena(ARENA_CAP);
    sharena_id sh = shape3(a), st = struct3(a, sh);
    struct sharena__shape *p = (void *)payload_of(a, sh);
    struct flipper f;
    flip_start(&f, &p->fields[0].name_len, 1, 1, 255);
    long i = 0;
    FOR_A_WHILE(i)
    {
        /* a name buffer with a guard behind it */
        struct {
            char name[SHARENA_FIELD_NAME_MAX + 1];
            char guard[256];
        } out;
        memset(out.guard, 0x5a, sizeof out.guard);
        sharena_type type = SHARENA_T_NONE;
        int r = sharena_shape_field(a, sh, 0, out.name, sizeof out.name, &type,
                                    NULL);
        EXPECT_OK_OR_FLIP(r, "shape_field");
        for (size_t k = 0; k < sizeof out.guard; k++)
            cr_assert_eq(out.guard[k], 0x5a, "name copied past its buffer");
        cr_assert(r != 0 ||
                  (strcmp(out.name, "n") == 0 && type == SHARENA_T_NUMBER));
        size_t index = 9;
        r = sharena_shape_find(a, sh, "n", 1, &index);
        cr_assert(r == 0 || r == SHARENA_ENOENT || flip_error(r));
        cr_assert(r != 0 || index == 0);
        size_t n = 0;
        r = sharena_shape_nfields(a, sh, &n);
        EXPECT_OK_OR_FLIP(r, "shape_nfields");
        cr_assert(r != 0 || n == 3);
        use_struct(a, st, sh);
    }
    flip_stop(&f);
    sharena_arena_close(a);
}

Test(readonce, shape_nfields, .timeout = 60)
{
    sharena_arena *a = arena(ARENA_CAP);
    sharena_id sh = shape3(a), st = struct3(a, sh);
    struct sharena__shape *p = (void *)payload_of(a, sh);
    struct flipper f;
    flip_start(&f, &p->nfields, 8, 3, 200);
    long i = 0;
    FOR_A_WHILE(i)
    {
        char name[SHARENA_FIELD_NAME_MAX + 1];
        int r = sharena_shape_field(a, sh, 150, name, sizeof name, NULL, NULL);
        cr_assert(r == SHARENA_ERANGE || flip_error(r), "shape_field: %d", r);
        sharena_id x;
        r = sharena_struct_new(a, sh, &x);
        /* a count flipped to 200 asks for a struct of 200 cells and null
         * bits, which the minimum-capacity arena may not have room for */
        cr_assert(r == 0 || r == SHARENA_EFULL || flip_error(r),
                  "struct_new: %d (%s)", r, sharena_strerror(r));
        if (r == 0)
            cr_assert_eq(sharena_drop(a, x, 0), 0);
        use_struct(a, st, sh);
    }
    flip_stop(&f);
    sharena_arena_close(a);
}

/* ---- numbers ------------------------------------------------------------- */

Test(readonce, number_slot_type, .timeout = 60)
{
    sharena_arena *a = arena(ARENA_CAP);
    sharena_id x;
    cr_assert_eq(sharena_number_new(a, 5, &x), 0);
    struct sharena__slot *s = slot_of(a, x);
    struct flipper f;
    flip_start(&f, &s->type, 1, SHARENA_T_NUMBER, SHARENA_T_MAP);
    long i = 0;
    FOR_A_WHILE(i)
    {
        double d = 0;
        int r = sharena_number_get(a, x, &d);
        cr_assert(r == 0 || r == SHARENA_ETYPE || flip_error(r), "get: %d", r);
        cr_assert(r != 0 || d == 5);
        r = sharena_number_add(a, x, 0, &d);
        cr_assert(r == 0 || r == SHARENA_ETYPE || flip_error(r), "add: %d", r);
    }
    flip_stop(&f);
    sharena_arena_close(a);
}

/* ---- drop (a writer under the lock that walks the children) -------------- */

static struct flipper *drop_flipper;

static void pause_before_free(const char *point)
{
    /* after the children are collected, before the blocks are freed: the
     * flipper must not write into memory given back */
    if (drop_flipper && strcmp(point, "drop:detached") == 0)
        flip_pause(drop_flipper);
}

Test(readonce, drop_map_cap, .timeout = 60)
{
    sharena_arena *a = arena(UINT64_C(4) << 20);
    sharena_id vals[4];
    struct flipper f;
    sharena_id m = small_map(a, vals);
    flip_start(&f, &((struct sharena__map *)payload_of(a, m))->cap, 8, 8,
               HUGE_LEN);
    drop_flipper = &f;
    sharena__hook = pause_before_free;
    long i = 0;
    FOR_A_WHILE(i)
    {
        if (i > 2000)
            break;
        cr_assert_eq(sharena_drop(a, m, SHARENA_DROP_RECURSIVE), 0);
        /* the children went with it, or (the flipped capacity seen) were
         * left for fsck: never anything else */
        for (int k = 0; k < 4; k++) {
            int t = sharena_type_of(a, vals[k]);
            cr_assert(t == SHARENA_T_NUMBER || t == SHARENA_ESTALE);
            if (t == SHARENA_T_NUMBER)
                sharena_drop(a, vals[k], 0);
        }
        m = small_map(a, vals);
        flip_resume(&f, &((struct sharena__map *)payload_of(a, m))->cap, 8);
    }
    sharena__hook = NULL;
    flip_stop(&f);
    sharena_arena_close(a);
}

Test(readonce, drop_vector_len, .timeout = 60)
{
    sharena_arena *a = arena(UINT64_C(4) << 20);
    sharena_id items[4];
    struct flipper f;
    sharena_id v = small_vector(a, items);
    flip_start(&f, &((struct sharena__vector *)payload_of(a, v))->len, 8, 4,
               HUGE_LEN);
    drop_flipper = &f;
    sharena__hook = pause_before_free;
    long i = 0;
    FOR_A_WHILE(i)
    {
        if (i > 2000)
            break;
        cr_assert_eq(sharena_drop(a, v, SHARENA_DROP_RECURSIVE), 0);
        for (int k = 0; k < 4; k++) {
            int t = sharena_type_of(a, items[k]);
            cr_assert(t == SHARENA_T_NUMBER || t == SHARENA_ESTALE);
            if (t == SHARENA_T_NUMBER)
                sharena_drop(a, items[k], 0);
        }
        v = small_vector(a, items);
        flip_resume(&f, &((struct sharena__vector *)payload_of(a, v))->len, 4);
    }
    sharena__hook = NULL;
    flip_stop(&f);
    sharena_arena_close(a);
}

/* ---- ECORRUPT only for a stable inconsistency ----------------------------
 * A writer thread uses the API as it should (no flipping) while this thread
 * reads: whatever the reader catches mid-write (a table being swapped, a
 * block just freed and reused) is retried or reported as the object's drop
 * (ESTALE), never as corruption. */

struct churn {
    pthread_t thread;
    sharena_arena *a;
    atomic_bool stop;
    sharena_id _Atomic obj; /* what the writer works on (it may replace it) */
    void (*step)(struct churn *c, unsigned long i);
};

static void *churn_main(void *arg)
{
    struct churn *c = arg;
    for (unsigned long i = 0; !atomic_load(&c->stop); i++)
        c->step(c, i);
    return NULL;
}

static void churn_start(struct churn *c, sharena_arena *a, sharena_id obj,
                        void (*step)(struct churn *, unsigned long))
{
    c->a = a;
    c->stop = false;
    c->obj = obj;
    c->step = step;
    cr_assert_eq(pthread_create(&c->thread, NULL, churn_main, c), 0);
}

static void churn_stop(struct churn *c)
{
    atomic_store(&c->stop, true);
    pthread_join(c->thread, NULL);
}

static void map_churn(struct churn *c, unsigned long i)
{
    char k[16];
    int n = snprintf(k, sizeof k, "w%lu", i % 300);
    if (i % 600 < 300)
        sharena_map_set_number(c->a, c->obj, k, (size_t)n, 1);
    else
        sharena_map_remove(c->a, c->obj, k, (size_t)n, NULL);
}

Test(readonce, writers_never_make_map_readers_see_corrupt, .timeout = 60)
{
    sharena_arena *a = arena(UINT64_C(4) << 20);
    sharena_id m, x;
    cr_assert_eq(sharena_map_new(a, &m), 0);
    cr_assert_eq(sharena_map_set_number(a, m, "stable", 6, 7), 0);
    cr_assert_eq(sharena_map_get(a, m, "stable", 6, &x), 0);
    struct churn c;
    churn_start(&c, a, m, map_churn);
    long i = 0;
    FOR_A_WHILE(i)
    {
        sharena_id v = 0;
        int r = sharena_map_get(a, m, "stable", 6, &v);
        cr_assert(r == 0 || r == SHARENA_EBUSY, "map_get: %d", r);
        cr_assert(r != 0 || v == x);
        uint64_t cur = 0, n;
        char key[16];
        size_t klen;
        r = sharena_map_next(a, m, &cur, key, sizeof key, &klen, &v, NULL);
        cr_assert(r == 0 || r == SHARENA_EBUSY, "map_next: %d", r);
        r = sharena_map_len(a, m, &n);
        cr_assert(r == 0 || r == SHARENA_EBUSY, "map_len: %d", r);
    }
    churn_stop(&c);
    sharena_arena_close(a);
}

/* A writer changes "x" through every kind stored in the entry (each change
 * of kind several stores under the map's lock), makes it an object now and
 * then (promotion) and a long string; a reader never sees a mix of two
 * values (a kind with another kind's words), nor ECORRUPT. */
#define X16 "sixteen-byte-str"
static void value_churn(struct churn *c, unsigned long i)
{
    sharena_arena *a = c->a;
    sharena_id m = c->obj;
    switch (i % 7) {
    case 0:
        sharena_map_set_number(a, m, "x", 1, 1.5);
        break;
    case 1:
        sharena_map_set_string(a, m, "x", 1, X16, 16);
        break;
    case 2:
        sharena_map_set_bool(a, m, "x", 1, true);
        break;
    case 3:
        sharena_map_set_null(a, m, "x", 1);
        break;
    case 4:
        sharena_map_set_string(a, m, "x", 1, "ab", 2);
        break;
    case 5:
        sharena_map_get(a, m, "x", 1, &(sharena_id){0}); /* promotion */
        break;
    default:
        sharena_map_set_string(a, m, "x", 1, X16 "+tail", 21);
    }
}

/* Is @p v one of the values value_churn() stores? */
static bool churn_value(const sharena_value *v, const char *buf)
{
    switch (v->type) {
    case SHARENA_T_NUMBER:
        return v->number == 1.5;
    case SHARENA_T_BOOL:
        return v->boolean;
    case SHARENA_T_NULL:
        return true;
    case SHARENA_T_STRING:
        return (v->len == 16 && strcmp(buf, X16) == 0) ||
               (v->len == 2 && strcmp(buf, "ab") == 0) ||
               (v->len == 21 && strcmp(buf, X16 "+tail") == 0 && v->id);
    default:
        return false;
    }
}

Test(readonce, writers_changing_value_kinds_never_show_torn_values,
     .timeout = 60)
{
    sharena_arena *a = arena(UINT64_C(4) << 20);
    sharena_id m;
    cr_assert_eq(sharena_map_new(a, &m), 0);
    cr_assert_eq(sharena_map_set_number(a, m, "x", 1, 1.5), 0);
    struct churn c;
    churn_start(&c, a, m, value_churn);
    long i = 0;
    unsigned long kinds[8] = {0};
    FOR_A_WHILE(i)
    {
        char buf[64], key[8];
        sharena_value v;
        int r = sharena_map_get_value(a, m, "x", 1, buf, sizeof buf, &v);
        /* ESTALE: a promoted value read by id after a set dropped it, twice
         * in a row */
        cr_assert(r == 0 || r == SHARENA_EBUSY || r == SHARENA_ESTALE,
                  "get_value: %d", r);
        cr_assert(r != 0 || churn_value(&v, buf), "get_value: type %d len %zu",
                  v.type, v.len);
        if (r == 0)
            kinds[v.type & 7]++;
        uint64_t cur = 0;
        size_t klen;
        r = sharena_map_next_value(a, m, &cur, key, sizeof key, &klen, buf,
                                   sizeof buf, &v);
        cr_assert(r == 0 || r == SHARENA_EBUSY || r == SHARENA_ESTALE,
                  "next_value: %d", r);
        cr_assert(r != 0 || churn_value(&v, buf), "next_value: type %d",
                  v.type);
        sharena_id id = 0;
        bool owned;
        cur = 0;
        r = sharena_map_next_ref(a, m, &cur, key, sizeof key, &klen, &id,
                                 &owned);
        cr_assert(r == 0 || r == SHARENA_EBUSY, "next_ref: %d", r);
        cr_assert(r != 0 || owned);
    }
    churn_stop(&c);
    unsigned seen = 0;
    for (int k = 0; k < 8; k++)
        seen += kinds[k] > 0;
    cr_assert_geq(seen, 2, "the reader saw the kinds change");
    sharena_fsck_report rep;
    cr_assert_eq(sharena_fsck(a, 0, NULL, NULL, &rep), 0);
    sharena_arena_close(a);
}

static void string_churn(struct churn *c, unsigned long i)
{
    static const char text[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    sharena_string_set(c->a, c->obj, text, i % 37);
}

static void vector_churn(struct churn *c, unsigned long i)
{
    /* grows and shrinks: blocks swapped and freed */
    sharena_id x;
    if (i % 200 < 100) {
        if (sharena_number_new(c->a, 1, &x) == 0 &&
            sharena_vector_push(c->a, c->obj, x, SHARENA_OWNED) < 0)
            sharena_drop(c->a, x, 0);
    } else {
        sharena_vector_remove(c->a, c->obj, 1, NULL);
    }
}

Test(readonce, writers_never_make_string_or_vector_readers_see_corrupt,
     .timeout = 60)
{
    sharena_arena *a = arena(UINT64_C(4) << 20);
    sharena_id s, v, first;
    cr_assert_eq(sharena_string_new(a, "", 0, &s), 0);
    cr_assert_eq(sharena_vector_new(a, &v), 0);
    cr_assert_eq(sharena_number_new(a, 0, &first), 0);
    cr_assert_eq(sharena_vector_push(a, v, first, SHARENA_OWNED), 0);
    struct churn cs, cv;
    churn_start(&cs, a, s, string_churn);
    churn_start(&cv, a, v, vector_churn);
    long i = 0;
    FOR_A_WHILE(i)
    {
        char buf[64];
        size_t len = 0;
        int r = sharena_string_get(a, s, buf, sizeof buf, &len);
        cr_assert(r == 0 || r == SHARENA_EBUSY, "string_get: %d", r);
        cr_assert(r != 0 || (len <= 36 && strlen(buf) == len));
        sharena_id x = 0;
        r = sharena_vector_get(a, v, 0, &x, NULL);
        cr_assert(r == 0 || r == SHARENA_EBUSY, "vector_get: %d", r);
        cr_assert(r != 0 || x == first);
    }
    churn_stop(&cs);
    churn_stop(&cv);
    sharena_arena_close(a);
}

/* Drop the object and make another of the same kind (its id published in
 * c->obj): the reader's id goes stale, its block is freed and reused. */
static void bytes_churn(struct churn *c, unsigned long i)
{
    sharena_id old = c->obj, b;
    if (sharena_bytes_new(c->a, 32 + 16 * (i % 4), &b) == 0) {
        atomic_store(&c->obj, b);
        sharena_drop(c->a, old, 0);
    }
}

Test(readonce, a_drop_racing_a_bytes_read_is_stale_not_corrupt, .timeout = 60)
{
    sharena_arena *a = arena(UINT64_C(4) << 20);
    sharena_id b;
    cr_assert_eq(sharena_bytes_new(a, 32, &b), 0);
    struct churn c;
    churn_start(&c, a, b, bytes_churn);
    long i = 0;
    FOR_A_WHILE(i)
    {
        sharena_id id = atomic_load(&c.obj);
        void *p;
        uint64_t size;
        uint8_t buf[32];
        int r = sharena_bytes_ptr(a, id, &p, &size);
        cr_assert(r == 0 || r == SHARENA_ESTALE, "bytes_ptr: %d", r);
        cr_assert(r != 0 || inside(a, p, size));
        r = sharena_bytes_read(a, id, 0, buf, sizeof buf);
        cr_assert(r == 0 || r == SHARENA_ESTALE, "bytes_read: %d", r);
    }
    churn_stop(&c);
    sharena_arena_close(a);
}

static sharena_id churn_shape;

/* A read of an id whose object was dropped meanwhile: the value, ESTALE,
 * or ETYPE (sharena__resolve loads gen, then type: a slot reused between
 * the two loads shows the new object's type), or EBUSY. Never ECORRUPT. */
static bool dropped_or_ok(int r)
{
    return r == 0 || r == SHARENA_ESTALE || r == SHARENA_ETYPE ||
           r == SHARENA_EBUSY;
}

static void struct_churn(struct churn *c, unsigned long i)
{
    (void)i;
    sharena_id old = c->obj, st;
    if (sharena_struct_new(c->a, churn_shape, &st) == 0) {
        atomic_store(&c->obj, st);
        sharena_drop(c->a, old, 0);
    }
}

Test(readonce, a_drop_racing_a_struct_read_is_stale_not_corrupt, .timeout = 60)
{
    sharena_arena *a = arena(UINT64_C(4) << 20);
    churn_shape = shape3(a);
    sharena_id st;
    cr_assert_eq(sharena_struct_new(a, churn_shape, &st), 0);
    struct churn c;
    churn_start(&c, a, st, struct_churn);
    long i = 0;
    FOR_A_WHILE(i)
    {
        sharena_id id = atomic_load(&c.obj);
        double d;
        char buf[16];
        size_t len;
        int r = sharena_struct_get_number(a, id, 0, &d);
        cr_assert(dropped_or_ok(r), "struct_get_number: %d", r);
        cr_assert(r != 0 || d == 0);
        r = sharena_struct_get_string(a, id, 2, buf, sizeof buf, &len);
        cr_assert(dropped_or_ok(r), "struct_get_string: %d", r);
        size_t n;
        r = sharena_shape_nfields(a, id, &n);
        cr_assert(dropped_or_ok(r), "shape_nfields: %d", r);
    }
    churn_stop(&c);
    sharena_arena_close(a);
}
