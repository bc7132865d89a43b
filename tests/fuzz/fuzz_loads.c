/* fuzz_loads.c: random operations on in-process arenas in a
 * SHARENA_FUZZ_LOADS build, where any load of a shared field may return a
 * mutated value (fuzz_load_hook.c): the value a hostile peer could have
 * written between the library's check and its use.
 *
 *   fuzz_loads [--seconds N] [--seed S] [--threads T]
 *
 * Each thread makes an arena (maps, a vector, strings, bytes, a struct and
 * its shape), runs random operations on it (reads, writes, iteration,
 * locks, drops, fsck) and starts again with a fresh arena every few
 * thousand operations. Any error is fine. Asserted: no crash (a signal
 * ends the program), no hang (a watchdog aborts when an operation runs for
 * 10 s, naming it), and every size, length and pointer the library hands
 * back lies within the mapping. $SHARENA_FUZZ_LOADS_RATE (the probability
 * that a load is mutated; 0.01 when unset) and $SHARENA_FUZZ_LOADS_SEED
 * (--seed) reproduce a single-threaded run. Prints how many loads went
 * through SHARENA__LD and how many were mutated: a count of 0 means the
 * library does not route its loads through SHARENA__LD yet, and the run
 * tests little. */
#include "common.h"
#include "../support/test_util.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void sharena__fuzz_load_stats(uint64_t *loads, uint64_t *mutated);
void sharena__fuzz_load_pause(int on);

#define CAPACITY (UINT64_C(1) << 20)
#define MAXT 8

struct thr {
    pthread_t t;
    unsigned index;
    uint64_t rng;
    double until;
    uint64_t ops, arenas, errors;
    const char *volatile op;
    volatile double op_since;
};
static struct thr T[MAXT];

static uint64_t rnd(struct thr *t)
{
    return test_xorshift(&t->rng);
}
static uint64_t rndn(struct thr *t, uint64_t n)
{
    return n ? rnd(t) % n : 0;
}

/* A returned size or pointer outside the mapping: the library trusted a
 * value it loaded. Fatal. */
static void bad(struct thr *t, const char *what, uint64_t v)
{
    fprintf(stderr,
            "fuzz_loads: thread %u: %s: %" PRIu64 " (0x%" PRIx64
            ") is outside the mapping, in %s\n",
            t->index, what, v, v, t->op);
    abort();
}
#define CHECK_LEN(t, what, v)                                                  \
    do {                                                                       \
        if ((uint64_t)(v) > CAPACITY)                                          \
            bad(t, what, (uint64_t)(v));                                       \
    } while (0)

static const char *const ROOTS[] = {"m", "v", "s", "b", "st", "shape", "n"};

static int populate(sharena_arena *a)
{
    sharena_id m, v, id, shape, st;
    int r = sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL);
    for (int i = 0; r == 0 && i < 40; i++) {
        char k[8];
        int n = snprintf(k, sizeof k, "k%d", i);
        r = i % 2 ? sharena_map_set_number(a, m, k, (size_t)n, i)
                  : sharena_map_set_string(a, m, k, (size_t)n, "value", 5);
    }
    if (r == 0)
        r = sharena_root_ensure(a, "v", SHARENA_T_VECTOR, 0, &v, NULL);
    for (int i = 0; r == 0 && i < 40; i++) {
        r = sharena_string_new(a, "item", 4, &id);
        if (r == 0)
            r = sharena_vector_push(a, v, id, SHARENA_OWNED);
    }
    if (r == 0)
        r = sharena_root_ensure(a, "s", SHARENA_T_STRING, 0, &id, NULL);
    if (r == 0)
        r = sharena_string_set(a, id, "hello, fuzz", 11);
    if (r == 0)
        r = sharena_root_ensure(a, "b", SHARENA_T_BYTES, 512, &id, NULL);
    if (r == 0)
        r = sharena_root_ensure(a, "n", SHARENA_T_NUMBER, 0, &id, NULL);
    sharena_field_def f[] = {{"name", SHARENA_T_STRING, 0},
                             {"n", SHARENA_T_NUMBER, 0},
                             {"ok", SHARENA_T_BOOL, 0},
                             {"raw", SHARENA_T_BYTES, 64}};
    if (r == 0)
        r = sharena_shape_new(a, f, 4, &shape);
    if (r == 0)
        r = sharena_struct_new(a, shape, &st);
    if (r == 0)
        r = sharena_root_set(a, "st", st, SHARENA_OWNED);
    if (r == 0)
        r = sharena_root_set(a, "shape", shape, SHARENA_OWNED);
    return r;
}

static volatile uint8_t sink;

static void check_bytes(struct thr *t, sharena_arena *a, sharena_id id)
{
    void *p;
    uint64_t size;
    t->op = "bytes_ptr";
    if (sharena_bytes_ptr(a, id, &p, &size) < 0)
        return;
    uint8_t *base = sharena_arena_base(a);
    CHECK_LEN(t, "bytes size", size);
    if ((uint8_t *)p < base || (uint8_t *)p > base + CAPACITY ||
        size > (uint64_t)(base + CAPACITY - (uint8_t *)p))
        bad(t, "bytes view end offset", (uint64_t)((uint8_t *)p - base) + size);
    if (size)
        sink = ((volatile uint8_t *)p)[size - 1];
}

static void one_op(struct thr *t, sharena_arena *a)
{
    char key[16], buf[512], text[300];
    memset(text, 'x', sizeof text);
    size_t len, nf;
    uint64_t n;
    double d;
    bool b;
    sharena_id id = 0, v;
    t->op = "root_get";
    if (sharena_root_get(a, ROOTS[rndn(t, 7)], &id) < 0)
        t->errors++;
    int klen = snprintf(key, sizeof key, "k%u", (unsigned)rndn(t, 60));
    switch (rndn(t, 24)) {
    case 0:
        t->op = "map_set_number";
        sharena_map_set_number(a, id, key, (size_t)klen, 1);
        break;
    case 1:
        t->op = "map_set_string";
        sharena_map_set_string(a, id, key, (size_t)klen, text, rndn(t, 300));
        break;
    case 2:
        t->op = "map_get";
        if (sharena_map_get(a, id, key, (size_t)klen, &v) == 0) {
            t->op = "string_get (map value)";
            int r = sharena_string_get(a, v, buf, sizeof buf, &len);
            if (r == 0 || r == SHARENA_ERANGE)
                CHECK_LEN(t, "string length", len);
        }
        break;
    case 3:
        t->op = "map_remove";
        sharena_map_remove(a, id, key, (size_t)klen, NULL);
        break;
    case 4: {
        t->op = "map_next";
        uint64_t cur = 0;
        for (int i = 0; i < 100; i++) {
            len = 0;
            int r = sharena_map_next(a, id, &cur, buf, sizeof buf, &len, &v,
                                     &b);
            if (r == 0 || r == SHARENA_ERANGE)
                CHECK_LEN(t, "key length", len);
            if (r < 0)
                break;
        }
        t->op = "map_len";
        if (sharena_map_len(a, id, &n) == 0)
            CHECK_LEN(t, "map length", n);
        break;
    }
    case 5:
        t->op = "vector_push";
        if (sharena_number_new(a, 2, &v) == 0 &&
            sharena_vector_push(a, id, v, SHARENA_OWNED) < 0)
            sharena_drop(a, v, 0);
        break;
    case 6:
        t->op = "vector_len/get";
        if (sharena_vector_len(a, id, &n) == 0) {
            CHECK_LEN(t, "vector length", n);
            for (int i = 0; i < 8; i++)
                if (sharena_vector_get(a, id, rndn(t, n + 1), &v, &b) == 0) {
                    t->op = "string_len (vector item)";
                    if (sharena_string_len(a, v, &len) == 0)
                        CHECK_LEN(t, "string length", len);
                }
        }
        break;
    case 7:
        t->op = "vector_pop";
        if (sharena_vector_pop(a, id, &v) == 0)
            sharena_drop(a, v, 0);
        break;
    case 8:
        t->op = "vector_insert/remove/set";
        if (sharena_vector_len(a, id, &n) == 0) {
            if (sharena_number_new(a, 3, &v) == 0 &&
                sharena_vector_insert(a, id, rndn(t, n + 1), v, SHARENA_OWNED) <
                    0)
                sharena_drop(a, v, 0);
            sharena_vector_remove(a, id, rndn(t, n + 1), NULL);
            if (sharena_number_new(a, 4, &v) == 0 &&
                sharena_vector_set(a, id, rndn(t, n + 1), v, SHARENA_OWNED,
                                   NULL) < 0)
                sharena_drop(a, v, 0);
        }
        break;
    case 9:
        t->op = "string_set";
        sharena_string_set(a, id, text, rndn(t, 300));
        break;
    case 10: {
        t->op = "string_get/len/dup";
        int r = sharena_string_get(a, id, buf, sizeof buf, &len);
        if (r == 0 || r == SHARENA_ERANGE)
            CHECK_LEN(t, "string length", len);
        if (r == 0 && len >= sizeof buf)
            bad(t, "string copied past its buffer", len);
        if (sharena_string_len(a, id, &len) == 0)
            CHECK_LEN(t, "string length", len);
        char *s = NULL;
        if (sharena_string_dup(a, id, &s, &len) == 0) {
            CHECK_LEN(t, "string length", len);
            free(s);
        }
        break;
    }
    case 11:
        check_bytes(t, a, id);
        t->op = "bytes_read/write";
        sharena_bytes_read(a, id, rndn(t, 600), buf, 8);
        sharena_bytes_write(a, id, rndn(t, 600), "abcdefgh", 8);
        break;
    case 12: {
        t->op = "shape_nfields/field";
        if (sharena_shape_nfields(a, id, &nf) == 0) {
            CHECK_LEN(t, "field count", nf);
            for (size_t i = 0; i < nf && i < 8; i++) {
                sharena_type ty;
                uint64_t sz;
                char name[SHARENA_FIELD_NAME_MAX + 1];
                t->op = "shape_field";
                if (sharena_shape_field(a, id, i, name, sizeof name, &ty,
                                        &sz) == 0 &&
                    ty == SHARENA_T_BYTES)
                    CHECK_LEN(t, "bytes field size", sz);
                t->op = "struct_get_*";
                sharena_struct_get_number(a, id, i, &d);
                sharena_struct_get_bool(a, id, i, &b);
                int r = sharena_struct_get_string(a, id, i, buf, sizeof buf,
                                                  &len);
                if (r == 0 || r == SHARENA_ERANGE)
                    CHECK_LEN(t, "string field length", len);
                t->op = "struct_field_id";
                if (sharena_struct_field_id(a, id, i, &v) == 0)
                    check_bytes(t, a, v);
            }
        }
        break;
    }
    case 13:
        t->op = "struct_set_*";
        sharena_struct_set_number(a, id, rndn(t, 5), 1.5);
        sharena_struct_set_bool(a, id, rndn(t, 5), true);
        sharena_struct_set_string(a, id, rndn(t, 5), text, rndn(t, 100));
        break;
    case 14:
        t->op = "number_add/get/cas";
        sharena_number_add(a, id, 1, &d);
        sharena_number_get(a, id, &d);
        sharena_number_cas(a, id, d, d + 1, &b, &d);
        break;
    case 15:
        t->op = "lock/write/unlock";
        if (sharena_lock(a, id) >= 0) {
            sharena_map_set_number(a, id, "locked", 6, 1);
            sharena_unlock(a, id);
        }
        break;
    case 16:
        t->op = "root_set/remove";
        if (sharena_string_new(a, "tmp", 3, &v) == 0 &&
            sharena_root_set(a, "tmp", v, SHARENA_OWNED) < 0)
            sharena_drop(a, v, 0);
        if (rndn(t, 2))
            sharena_root_remove(a, "tmp");
        break;
    case 17:
        t->op = "map_new/drop";
        if (sharena_map_new(a, &v) == 0) {
            for (int i = 0; i < 10; i++) {
                klen = snprintf(key, sizeof key, "t%d", i);
                sharena_map_set_number(a, v, key, (size_t)klen, i);
            }
            sharena_drop(a, v, SHARENA_DROP_RECURSIVE);
        }
        break;
    case 18:
        t->op = "walk";
        fuzz_walk_roots(a);
        break;
    case 19: {
        sharena_arena_info info;
        t->op = "arena_info/version/type_of";
        if (sharena_arena_info_get(a, &info) == 0) {
            CHECK_LEN(t, "used bytes", info.used_bytes);
        }
        sharena_arena_version(a, &n);
        sharena_type_of(a, (rnd(t) & 0xffff) | (rndn(t, 3) << 32));
        sharena_change_count(a, id, &n);
        break;
    }
    case 20:
        t->op = "locks";
        sharena_locks(a, NULL, NULL);
        break;
    case 21:
        if (rndn(t, 8) == 0) {
            sharena_fsck_report rep;
            t->op = "fsck";
            sharena_fsck(a, rndn(t, 2) ? SHARENA_FSCK_REPAIR : 0, NULL, NULL,
                         &rep);
        }
        break;
    case 22:
        t->op = "drop";
        if (sharena_string_new(a, text, rndn(t, 200), &v) == 0)
            sharena_drop(a, v, 0);
        break;
    default:
        t->op = "bool/number new";
        if (sharena_bool_new(a, true, &v) == 0) {
            sharena_bool_get(a, v, &b);
            sharena_drop(a, v, 0);
        }
        break;
    }
    t->op = "between operations";
}

static void *run(void *arg)
{
    struct thr *t = arg;
    while (test_now_s() < t->until) {
        sharena_arena *a;
        t->op = "arena_create";
        t->op_since = test_now_s();
        /* the arena is made unmutated (creation reads back what it
         * wrote); everything done to it afterwards is fuzzed */
        sharena__fuzz_load_pause(1);
        int made = sharena_arena_create("fuzz-loads", CAPACITY, &a);
        sharena__fuzz_load_pause(0);
        if (made < 0) {
            fprintf(stderr, "fuzz_loads: cannot create an arena: %s\n",
                    sharena_strerror(made));
            abort();
        }
        t->op = "populate";
        populate(a); /* may fail half-way under mutation: fine */
        t->arenas++;
        for (int i = 0; i < 3000 && test_now_s() < t->until; i++) {
            t->op_since = test_now_s();
            one_op(t, a);
            t->ops++;
        }
        t->op = "arena_close";
        sharena_arena_close(a);
    }
    t->op = "done";
    t->op_since = 0;
    return NULL;
}

int main(int argc, char **argv)
{
    double seconds = 10;
    uint64_t seed = (uint64_t)time(NULL);
    unsigned threads = 2;
    const char *e = getenv("SHARENA_FUZZ_LOADS_SEED");
    if (e && *e)
        seed = strtoull(e, NULL, 0);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 0);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = (unsigned)atoi(argv[++i]);
        else {
            fprintf(stderr,
                    "usage: %s [--seconds N] [--seed S] [--threads T]\n",
                    argv[0]);
            return 2;
        }
    }
    if (threads < 1 || threads > MAXT)
        threads = 2;
    char s[32];
    snprintf(s, sizeof s, "%" PRIu64, seed);
    setenv("SHARENA_FUZZ_LOADS_SEED", s, 1); /* before the first load */
    if (!getenv("SHARENA_FUZZ_LOADS_RATE"))
        setenv("SHARENA_FUZZ_LOADS_RATE", "0.01", 1);
    printf("fuzz_loads: seed %" PRIu64 ", rate %s, %u threads, %.0f s\n", seed,
           getenv("SHARENA_FUZZ_LOADS_RATE"), threads, seconds);
    fflush(stdout);
    double until = test_now_s() + seconds;
    for (unsigned i = 0; i < threads; i++) {
        T[i].index = i;
        T[i].rng = seed * UINT64_C(0x9E3779B97F4A7C15) + i + 1;
        T[i].until = until;
        if (pthread_create(&T[i].t, NULL, run, &T[i]) != 0) {
            perror("pthread_create");
            return 2;
        }
    }
    /* the watchdog: an operation that runs for 10 s is a hang */
    for (;;) {
        sleep(1);
        bool running = false;
        for (unsigned i = 0; i < threads; i++) {
            double since = T[i].op_since;
            if (since == 0)
                continue;
            running = true;
            if (test_now_s() - since > 10) {
                fprintf(stderr,
                        "fuzz_loads: HANG: thread %u in %s for %.0f s (seed "
                        "%" PRIu64 ")\n",
                        i, T[i].op, test_now_s() - since, seed);
                abort();
            }
        }
        if (!running || test_now_s() > until + 60)
            break;
    }
    uint64_t ops = 0, arenas = 0, loads, mutated;
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(T[i].t, NULL);
        ops += T[i].ops;
        arenas += T[i].arenas;
    }
    sharena__fuzz_load_stats(&loads, &mutated);
    printf(
        "fuzz_loads: ok: %" PRIu64 " operations on %" PRIu64 " arenas; %" PRIu64
        " shared loads through SHARENA__LD, %" PRIu64 " of them mutated%s\n",
        ops, arenas, loads, mutated,
        loads ? "" : " (no code uses SHARENA__LD yet: this run tested little)");
    return 0;
}
