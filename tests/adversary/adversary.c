/* adversary.c: the concurrent adversary test (issue 13, DESIGN 10).
 *
 *   test_adversary [--seconds N] [--seed S] [--class NAME]
 *
 * Starts a private sharenad and runs rounds, one field class per round
 * (map, slot, size, alloc, lock, header, then "all" mixing them). Each
 * round creates a fresh arena (maps, a vector, strings, bytes, structs and
 * their shapes, a number, a bool) and runs at the same time:
 *
 *  - a flipper: a broker client with write access that toggles fields of
 *    the round's class between their valid value and hostile ones as fast
 *    as it can (valid -> hostile -> valid: a CAS each way, so a value a
 *    peer wrote meanwhile is left alone);
 *  - readers and writers in C, Node (adversary.js) and Python
 *    (adversary.py), looping over every kind of object (get, set, iterate,
 *    len, zero-copy views whose LAST byte they read); any error they get is
 *    fine, they only count operations;
 *  - a locker: a C client that takes object locks and writes under them,
 *    and is SIGKILLed while holding them, over and over, so that the broker
 *    recovers a dead client's locks while the flipper flips;
 *  - the checks: a worker killed by a signal is a crash (role, signal,
 *    round class); a worker whose progress counter (a heartbeat line on its
 *    stdout at least every 100 ms while it runs) stands still for 5 s is a
 *    hang (its main thread's backtrace is printed when gdb is around, then
 *    it is killed);
 *    a fresh client lists the broker's arenas every second and must get an
 *    answer within 5 s; the broker must not die. After the last round a
 *    fresh client creates, writes and reads an arena, and the broker must
 *    exit 0 on SIGTERM.
 *
 * Crashed or hung workers are started again while the round lasts. Pass:
 * 0 crashes, 0 hangs, the broker alive and answering throughout, every
 * worker role made progress. The last line is the summary.
 *
 * Environment: SHARENA_ADVERSARY_SECONDS (default 28: the total of the
 * rounds), SHARENA_ADVERSARY_SEED, SHARENA_ADVERSARY_LANGS (default
 * "c,node,py"), SHARENA_ADVERSARY_CLASS (one class only),
 * SHARENA_PYTHON (the Python with sharena installed; default python3),
 * SHARENA_NODE (default node), SHARENA_ADVERSARY_GDB=0 (no backtraces of
 * hung workers). tests/adversary/README.md says what it found. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "broker_fixture.h"
#include "internal.h"
#include "sharena.h"
#include "../support/test_util.h"

#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef ADVERSARY_DIR
#define ADVERSARY_DIR "."
#endif

#define HANG_S 5.0   /* no progress this long: a hang (issue 13) */
#define START_S 20.0 /* grace before the first heartbeat (node start-up) */
#define BEAT_S 0.1   /* heartbeat period of the workers */

static uint64_t rng;
static uint64_t rnd(void)
{
    return test_xorshift(&rng);
}
static uint64_t rndn(uint64_t n)
{
    return n ? rnd() % n : 0;
}

/* ---- the arena every round starts from ----------------------------------- */

#define NKEYS 300

/* Key @p i of the big map: odd ones longer than a map entry holds inline
 * (a key block), even ones inline. */
static int keyname(char *buf, size_t cap, int i)
{
    return snprintf(buf, cap, i % 2 ? "key%d-with-a-long-tail" : "key%d", i);
}
#define NITEMS 200
static const char *const ROOT_NAMES[] = {
    "m.big",   "m.small", "m.nested", "v.list",       "s.text",
    "s.long",  "b.small", "b.big",    "st.rec",       "st.blob",
    "n.count", "f.flag",  "st.shape", "st.blobshape",
};
#define NROOTS (sizeof ROOT_NAMES / sizeof ROOT_NAMES[0])
#define BIG_BYTES 65536u

static int populate(sharena_conn *c, const char *name)
{
    sharena_open_opts o = {.capacity = 16u << 20,
                           .flags = SHARENA_CREATE | SHARENA_EXCL};
    sharena_arena *a;
    int r = sharena_open(c, name, &o, &a);
    if (r < 0)
        return r;
    sharena_id m, id, v, sh, st;
    char key[32], text[4096];
    memset(text, 'x', sizeof text);
#define TRY(e)                                                                 \
    do {                                                                       \
        if ((r = (e)) < 0)                                                     \
            goto out;                                                          \
    } while (0)
    TRY(sharena_root_ensure(a, "m.big", SHARENA_T_MAP, 0, &m, NULL));
    for (int i = 0; i < NKEYS; i++) {
        int n = keyname(key, sizeof key, i);
        if (i % 3 == 0)
            TRY(sharena_map_set_number(a, m, key, (size_t)n, i));
        else if (i % 3 == 1)
            TRY(sharena_map_set_string(a, m, key, (size_t)n, text,
                                       (size_t)(i % 64)));
        else
            TRY(sharena_map_set_bool(a, m, key, (size_t)n, i & 1));
    }
    TRY(sharena_root_ensure(a, "m.small", SHARENA_T_MAP, 0, &m, NULL));
    for (int i = 0; i < 5; i++) {
        int n = snprintf(key, sizeof key, "key%d", i);
        TRY(sharena_map_set_number(a, m, key, (size_t)n, i));
    }
    /* values of every kind stored in the entry, and one promoted */
    TRY(sharena_map_set_string(a, m, "s", 1, "sixteen bytes ok", 16));
    TRY(sharena_map_set_bool(a, m, "b", 1, true));
    TRY(sharena_map_set_null(a, m, "z", 1));
    TRY(sharena_map_set_number(a, m, "p", 1, 0.5));
    TRY(sharena_map_get(a, m, "p", 1, &id));
    TRY(sharena_root_ensure(a, "m.nested", SHARENA_T_MAP, 0, &m, NULL));
    TRY(sharena_vector_new(a, &v));
    TRY(sharena_map_set(a, m, "vec", 3, v, SHARENA_OWNED, NULL));
    for (int i = 0; i < 10; i++) {
        TRY(sharena_string_new(a, "nested", 6, &id));
        TRY(sharena_vector_push(a, v, id, SHARENA_OWNED));
    }
    TRY(sharena_map_new(a, &id));
    TRY(sharena_map_set(a, m, "inner", 5, id, SHARENA_OWNED, NULL));
    TRY(sharena_map_set_string(a, id, "a", 1, "b", 1));
    TRY(sharena_root_ensure(a, "v.list", SHARENA_T_VECTOR, 0, &v, NULL));
    for (int i = 0; i < NITEMS; i++) {
        if (i % 2)
            TRY(sharena_number_new(a, i, &id));
        else
            TRY(sharena_string_new(a, text, (size_t)(i % 100), &id));
        TRY(sharena_vector_push(a, v, id, SHARENA_OWNED));
    }
    TRY(sharena_root_ensure(a, "s.text", SHARENA_T_STRING, 0, &id, NULL));
    TRY(sharena_string_set(a, id, "hello, adversary", 16));
    TRY(sharena_root_ensure(a, "s.long", SHARENA_T_STRING, 0, &id, NULL));
    TRY(sharena_string_set(a, id, text, sizeof text));
    TRY(sharena_root_ensure(a, "b.small", SHARENA_T_BYTES, 64, &id, NULL));
    TRY(sharena_root_ensure(a, "b.big", SHARENA_T_BYTES, BIG_BYTES, &id, NULL));
    sharena_field_def rec[] = {{"name", SHARENA_T_STRING, 0},
                               {"score", SHARENA_T_NUMBER, 0},
                               {"ok", SHARENA_T_BOOL, 0}};
    TRY(sharena_shape_new(a, rec, 3, &sh));
    TRY(sharena_struct_new(a, sh, &st));
    TRY(sharena_root_set(a, "st.rec", st, SHARENA_OWNED));
    TRY(sharena_root_set(a, "st.shape", sh, SHARENA_OWNED));
    TRY(sharena_struct_set_string(a, st, 0, "ada", 3));
    sharena_field_def blob[] = {{"label", SHARENA_T_STRING, 0},
                                {"n", SHARENA_T_NUMBER, 0},
                                {"data", SHARENA_T_BYTES, 256}};
    TRY(sharena_shape_new(a, blob, 3, &sh));
    TRY(sharena_struct_new(a, sh, &st));
    TRY(sharena_root_set(a, "st.blob", st, SHARENA_OWNED));
    TRY(sharena_root_set(a, "st.blobshape", sh, SHARENA_OWNED));
    TRY(sharena_root_ensure(a, "n.count", SHARENA_T_NUMBER, 0, &id, NULL));
    TRY(sharena_root_ensure(a, "f.flag", SHARENA_T_BOOL, 0, &id, NULL));
#undef TRY
out:
    sharena_arena_close(a);
    return r;
}

/* ---- worker side: heartbeats, crash reports -------------------------------- */

static uint64_t ops;
static double last_beat;
static const char *volatile cur_op = "start";
static const char *my_role = "?";

static void say(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0 && write(1, buf, (size_t)n) < 0)
        _exit(3); /* the driver is gone */
}

static void beat(void)
{
    double t = test_now_s();
    if (t - last_beat >= BEAT_S) {
        last_beat = t;
        say("P %" PRIu64 "\n", ops);
    }
}

/* Where a C worker died: its operation and a short backtrace (addresses
 * map to lines with addr2line -e test_adversary). Not under ASan, which
 * reports itself. */
#if !defined(__SANITIZE_ADDRESS__)
static void on_fatal(int sig)
{
    char buf[160];
    int n = snprintf(buf, sizeof buf,
                     "adversary: %s (pid %d) got signal %d in %s\n", my_role,
                     (int)getpid(), sig, cur_op);
    if (n > 0 && write(2, buf, (size_t)n) < 0) {
    }
    void *bt[12];
    int k = backtrace(bt, 12);
    backtrace_symbols_fd(bt, k, 2);
    signal(sig, SIG_DFL);
    raise(sig);
}
#endif

static void worker_setup(const char *role, uint64_t seed)
{
    my_role = role;
    rng = seed * UINT64_C(0x9E3779B97F4A7C15) + 1;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
#if !defined(__SANITIZE_ADDRESS__)
    int sigs[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], on_fatal);
#endif
}

/* Open @p name through the broker, retrying until @p until (a flipped
 * header can make an open fail for a moment). */
static sharena_arena *worker_open(const char *name, double until,
                                  sharena_conn **cp)
{
    for (;;) {
        sharena_conn *c = *cp;
        if (!c && sharena_connect(NULL, &c) < 0)
            c = NULL;
        *cp = c;
        sharena_arena *a = NULL;
        if (c && sharena_open(c, name, NULL, &a) == 0)
            return a;
        ops++; /* an error is progress too: only a stuck call is a hang */
        beat();
        if (test_now_s() > until)
            return NULL;
        usleep(10000);
    }
}

static sharena_id root(const sharena_arena *a, const char *name)
{
    sharena_id id = 0;
    cur_op = "root_get";
    sharena_root_get(a, name, &id);
    return id;
}

static volatile uint8_t sink;

/* The root to work on and its type (now and then a random type, to take
 * the type-mismatch paths too). */
static sharena_id pick_root(const sharena_arena *a, int *type)
{
    sharena_id id = root(a, ROOT_NAMES[rndn(NROOTS)]);
    cur_op = "type_of";
    *type = sharena_type_of(a, id);
    if (rndn(16) == 0)
        *type = (int)rndn(SHARENA_T__COUNT + 1);
    return id;
}

static void read_last_byte(const sharena_arena *a, sharena_id id)
{
    void *p;
    uint64_t size;
    cur_op = "bytes_ptr (last byte)";
    if (sharena_bytes_ptr(a, id, &p, &size) == 0 && size)
        sink = ((volatile uint8_t *)p)[size - 1];
}

/* Reads of the kind that fits a random root; errors are fine. */
/* A string read from a map entry (no id) fits the entry: a longer one
 * is a read past it. Counted as a crash (abort), with the operation. */
static void entry_string_fits(int r, const sharena_value *v, const char *buf)
{
    if (r == 0 && v->type == SHARENA_T_STRING && v->id == 0 &&
        (v->len > SHARENA__VALUE_INLINE_MAX || buf[v->len] != 0)) {
        say("%s: a string of %zu bytes from a map entry\n", cur_op, v->len);
        abort();
    }
}

/* A library call of a longer read came back (an error is progress too):
 * the heartbeat counts calls, so that only a call that is stuck, not a
 * read of several calls each waiting out a scribbled counter, is a hang. */
static void step(void)
{
    ops++;
    beat();
}

static void c_read(sharena_arena *a)
{
    char key[32], buf[8192];
    size_t klen, nf;
    int type;
    sharena_id v, id = pick_root(a, &type);
    bool owned, b;
    uint64_t n = 0;
    double d;
    switch (type) {
    case SHARENA_T_MAP: {
        cur_op = "map_get";
        keyname(key, sizeof key, (int)rndn(NKEYS));
        if (sharena_map_get(a, id, key, strlen(key), &v) == 0) {
            cur_op = "number_get(map value)";
            sharena_number_get(a, v, &d);
            cur_op = "string_get(map value)";
            sharena_string_get(a, v, buf, sizeof buf, &klen);
        }
        step();
        cur_op = "map_get_value";
        sharena_value val;
        keyname(key, sizeof key, (int)rndn(NKEYS));
        if (rndn(4) == 0) /* m.small's values stored in entries */
            snprintf(key, sizeof key, "%c", "sbzpk"[rndn(5)]);
        entry_string_fits(sharena_map_get_value(a, id, key, strlen(key), buf,
                                                sizeof buf, &val),
                          &val, buf);
        step();
        cur_op = "map_get(no id)";
        sharena_map_get(a, id, key, strlen(key), NULL);
        uint64_t cur = 0;
        step();
        cur_op = "map_next";
        for (int i = 0; i < 24; i++)
            if (sharena_map_next(a, id, &cur, key, sizeof key, &klen, &v,
                                 &owned) < 0)
                break;
        step();
        cur_op = "map_next_value";
        cur = 0;
        for (int i = 0; i < 24; i++) {
            int r = sharena_map_next_value(a, id, &cur, key, sizeof key, &klen,
                                           buf, sizeof buf, &val);
            entry_string_fits(r, &val, buf);
            if (r < 0)
                break;
        }
        step();
        cur_op = "map_next_ref";
        cur = 0;
        for (int i = 0; i < 24; i++)
            if (sharena_map_next_ref(a, id, &cur, key, sizeof key, &klen, &v,
                                     &owned) < 0)
                break;
        step();
        cur_op = "map_len";
        sharena_map_len(a, id, &n);
        break;
    }
    case SHARENA_T_VECTOR:
        cur_op = "vector_len";
        if (sharena_vector_len(a, id, &n) == 0) {
            cur_op = "vector_get";
            for (int i = 0; i < 16; i++)
                if (sharena_vector_get(a, id, rndn(n + 2), &v, &owned) == 0) {
                    cur_op = "string_len(vector item)";
                    sharena_string_len(a, v, &klen);
                }
            cur_op = "vector_get_value";
            sharena_value val;
            for (int i = 0; i < 8; i++)
                sharena_vector_get_value(a, id, rndn(n + 2), buf, sizeof buf,
                                         &val);
            cur_op = "vector_read_numbers";
            double nums[64];
            uint64_t k = n < 64 ? n : 64;
            sharena_vector_read_numbers(a, id, n - k, nums, (size_t)k);
        }
        break;
    case SHARENA_T_STRING: {
        cur_op = "string_get";
        sharena_string_get(a, id, buf, sizeof buf, &klen);
        cur_op = "string_len";
        sharena_string_len(a, id, &klen);
        char *str = NULL;
        cur_op = "string_dup";
        if (sharena_string_dup(a, id, &str, &klen) == 0)
            free(str);
        break;
    }
    case SHARENA_T_BYTES:
        read_last_byte(a, id);
        cur_op = "bytes_read";
        sharena_bytes_read(a, id, rndn(BIG_BYTES), buf, 8);
        break;
    case SHARENA_T_STRUCT:
    case SHARENA_T_SHAPE:
        cur_op = "shape_nfields";
        if (sharena_shape_nfields(a, id, &nf) == 0) {
            for (size_t i = 0; i < nf && i < 8; i++) {
                sharena_type t;
                uint64_t sz;
                cur_op = "shape_field";
                sharena_shape_field(a, id, i, key, sizeof key, &t, &sz);
                cur_op = "struct_get_number";
                sharena_struct_get_number(a, id, i, &d);
                cur_op = "struct_get_bool";
                sharena_struct_get_bool(a, id, i, &b);
                cur_op = "struct_get_string";
                sharena_struct_get_string(a, id, i, buf, sizeof buf, &klen);
                cur_op = "struct_field_id";
                if (sharena_struct_field_id(a, id, i, &v) == 0)
                    read_last_byte(a, v);
            }
        }
        cur_op = "shape_find";
        sharena_shape_find(a, id, "score", 5, &nf);
        break;
    case SHARENA_T_NUMBER:
    case SHARENA_T_BOOL:
        cur_op = "number_get";
        sharena_number_get(a, id, &d);
        cur_op = "bool_get";
        sharena_bool_get(a, id, &b);
        cur_op = "version";
        sharena_change_count(a, id, &n);
        break;
    default:
        switch (rndn(5)) {
        case 0: {
            cur_op = "roots iterate";
            sharena_id dir;
            uint64_t cur = 0;
            if (sharena_roots(a, &dir) == 0)
                for (int i = 0; i < 32; i++)
                    if (sharena_map_next(a, dir, &cur, key, sizeof key, &klen,
                                         &v, &owned) < 0)
                        break;
            break;
        }
        case 1: {
            cur_op = "type_of/version(random id)";
            sharena_id r = sharena__id_make(1 + rndn(600), (uint32_t)rndn(3));
            sharena_type_of(a, r);
            sharena_change_count(a, r, &n);
            break;
        }
        case 2: {
            sharena_arena_info info;
            cur_op = "arena_info_get";
            sharena_arena_info_get(a, &info);
            cur_op = "arena_version";
            sharena_arena_version(a, &n);
            break;
        }
        case 3:
            cur_op = "locks";
            sharena_locks(a, NULL, NULL);
            break;
        default:
            if (rndn(8) == 0) {
                sharena_fsck_report rep;
                cur_op = "fsck";
                sharena_fsck(a, 0, NULL, NULL, &rep);
            }
        }
    }
    cur_op = "loop";
}

/* Writes of the kind that fits a random root; errors are fine. */
static void c_write(sharena_arena *a)
{
    char key[32], text[4096];
    memset(text, 'y', sizeof text);
    int type;
    sharena_id v, id = pick_root(a, &type);
    if (rndn(16) == 0) { /* under the object's lock, as a user would */
        cur_op = "lock";
        if (sharena_lock(a, id) >= 0) {
            cur_op = "string_set/map_set_number (locked)";
            sharena_string_set(a, id, text, rndn(64));
            sharena_map_set_number(a, id, "locked", 6, 1);
            sharena_unlock(a, id);
        }
        cur_op = "loop";
        return;
    }
    switch (type) {
    case SHARENA_T_MAP: {
        int n = keyname(key, sizeof key, (int)rndn(NKEYS + 50));
        if (rndn(4) == 0) /* m.small's values stored in entries */
            n = snprintf(key, sizeof key, "%c", "sbzpk"[rndn(5)]);
        switch (rndn(8)) {
        case 4:
            cur_op = "map_set_bool/null";
            if (rndn(2))
                sharena_map_set_bool(a, id, key, (size_t)n, ops & 1);
            else
                sharena_map_set_null(a, id, key, (size_t)n);
            break;
        case 5:
            cur_op = "map_set_string (in the entry)";
            sharena_map_set_string(a, id, key, (size_t)n, text, rndn(17));
            break;
        case 6: {
            double sum;
            cur_op = "map_add_number";
            sharena_map_add_number(a, id, key, (size_t)n, 1,
                                   rndn(2) ? SHARENA_ADD_EXACT : 0, &sum);
            break;
        }
        case 0:
            cur_op = "map_set_number";
            sharena_map_set_number(a, id, key, (size_t)n, (double)ops);
            break;
        case 1:
            cur_op = "map_set_string";
            sharena_map_set_string(a, id, key, (size_t)n, text, rndn(200));
            break;
        case 2:
            cur_op = "map_remove";
            sharena_map_remove(a, id, key, (size_t)n, NULL);
            break;
        default:
            cur_op = "map_new+set+drop";
            if (sharena_map_new(a, &v) == 0) {
                for (int i = 0; i < 12; i++) {
                    n = snprintf(key, sizeof key, "k%d", i);
                    sharena_map_set_number(a, v, key, (size_t)n, i);
                }
                sharena_drop(a, v, SHARENA_DROP_RECURSIVE);
            }
        }
        break;
    }
    case SHARENA_T_VECTOR: {
        uint64_t n = 0;
        sharena_vector_len(a, id, &n);
        switch (rndn(3)) {
        case 0:
            cur_op = "vector_push";
            if (sharena_number_new(a, (double)ops, &v) == 0 &&
                sharena_vector_push(a, id, v, SHARENA_OWNED) < 0)
                sharena_drop(a, v, 0);
            cur_op = "vector_push_number";
            sharena_vector_push_number(a, id, (double)ops + 0.5);
            cur_op = "vector_set_number";
            sharena_vector_set_number(a, id, rndn(n + 1), -(double)ops);
            cur_op = "vector_pop";
            if (sharena_vector_pop(a, id, &v) == 0)
                sharena_drop(a, v, 0);
            if (sharena_vector_pop(a, id, &v) == 0)
                sharena_drop(a, v, 0);
            break;
        case 1:
            cur_op = "vector_insert/remove";
            if (sharena_number_new(a, 1, &v) == 0 &&
                sharena_vector_insert(a, id, rndn(n + 1), v, SHARENA_OWNED) < 0)
                sharena_drop(a, v, 0);
            sharena_vector_remove(a, id, rndn(n + 1), NULL);
            break;
        default:
            cur_op = "vector_set";
            if (sharena_string_new(a, text, rndn(40), &v) == 0 &&
                sharena_vector_set(a, id, rndn(n + 1), v, SHARENA_OWNED, NULL) <
                    0)
                sharena_drop(a, v, 0);
        }
        break;
    }
    case SHARENA_T_STRING:
        cur_op = "string_set";
        sharena_string_set(a, id, text, rndn(sizeof text));
        break;
    case SHARENA_T_BYTES: {
        uint8_t x = (uint8_t)ops;
        void *p;
        uint64_t size;
        cur_op = "bytes_write";
        sharena_bytes_write(a, id, rndn(BIG_BYTES), &x, 1);
        cur_op = "bytes_ptr write (last byte)";
        if (sharena_bytes_ptr(a, id, &p, &size) == 0 && size)
            ((volatile uint8_t *)p)[size - 1] = x;
        break;
    }
    case SHARENA_T_STRUCT:
        cur_op = "struct_set_number";
        sharena_struct_set_number(a, id, rndn(4), (double)ops);
        cur_op = "struct_set_bool";
        sharena_struct_set_bool(a, id, rndn(4), ops & 1);
        cur_op = "struct_set_string";
        sharena_struct_set_string(a, id, rndn(4), text, rndn(300));
        break;
    case SHARENA_T_NUMBER:
    case SHARENA_T_BOOL:
        cur_op = "number_add";
        sharena_number_add(a, id, 1, NULL);
        cur_op = "bool_set";
        sharena_bool_set(a, id, ops & 1);
        break;
    default:
        cur_op = "root_set/remove";
        if (sharena_string_new(a, text, rndn(100), &v) == 0 &&
            sharena_root_set(a, "tmp.c", v, SHARENA_OWNED) < 0)
            sharena_drop(a, v, 0);
        if (rndn(2))
            sharena_root_remove(a, "tmp.c");
        break;
    }
    cur_op = "loop";
}

static int run_worker(const char *role, const char *name, double seconds,
                      uint64_t seed)
{
    worker_setup(role, seed);
    double until = test_now_s() + seconds;
    sharena_conn *c = NULL;
    sharena_arena *a = worker_open(name, until, &c);
    say("P %" PRIu64 "\n", ops);
    bool writer = strcmp(role, "c-writer") == 0;
    while (a && test_now_s() < until) {
        if (writer && rndn(4))
            c_write(a);
        else
            c_read(a);
        ops++;
        beat();
    }
    say("P %" PRIu64 "\nE ops=%" PRIu64 "\n", ops + 1, ops);
    _exit(0); /* no atexit work (and no LSan: the point is signals) */
}

/* The locker: take locks, write under them, and wait to be SIGKILLed. */
static int run_locker(const char *name, uint64_t seed)
{
    worker_setup("locker", seed);
    double until = test_now_s() + 60; /* the driver kills it long before */
    sharena_conn *c = NULL;
    sharena_arena *a = worker_open(name, until, &c);
    if (!a)
        _exit(0);
    char text[256];
    memset(text, 'z', sizeof text);
    while (test_now_s() < until) {
        sharena_id held[3];
        int n = 0;
        static const char *const locked[] = {"m.big",  "m.small", "m.nested",
                                             "v.list", "s.text",  "st.rec"};
        for (int i = 0; i < 3; i++) {
            /* mostly maps: what the broker repaired in its own process */
            sharena_id id = root(a,
                                 rndn(2) ? locked[rndn(3)] : locked[rndn(6)]);
            cur_op = "lock";
            if (id && sharena_lock(a, id) >= 0)
                held[n++] = id;
        }
        for (int i = 0; i < n; i++) {
            cur_op = "write under lock";
            sharena_map_set_number(a, held[i], "locker", 6, (double)ops);
            sharena_string_set(a, held[i], text, rndn(sizeof text));
            sharena_vector_pop(a, held[i], NULL);
        }
        ops++;
        say("P %" PRIu64 "\n", ops); /* holding: kill me now */
        usleep((useconds_t)rndn(3000));
        cur_op = "unlock";
        for (int i = 0; i < n; i++)
            sharena_unlock(a, held[i]);
    }
    _exit(0);
}

/* ---- the flipper ------------------------------------------------------------ */

/* Rounds take the classes in order; "none" (the flipper only watches) is
 * not one of them: SHARENA_ADVERSARY_CLASS=none checks the harness itself
 * (it must pass on any code). */
enum {
    CL_MAP,
    CL_SLOT,
    CL_SIZE,
    CL_ALLOC,
    CL_LOCK,
    CL_HEADER,
    CL_ALL,
    CL_NONE,
    NCLASS
};
#define NROTATE CL_NONE
static const char *const CLASS_NAMES[NCLASS] = {
    "map", "slot", "size", "alloc", "lock", "header", "all", "none"};

struct obj {
    uint64_t slot;    /* offset of the slot */
    uint64_t index;   /* slot number */
    uint64_t payload; /* offset (heap types), else 0 */
    uint64_t psize;   /* usable payload bytes */
    uint32_t gen;
    uint8_t type;
};

#define MAXOBJ 4096
static struct {
    sharena_arena *a;
    uint8_t *base;
    uint64_t hs, he;
    struct sharena__header *h;
    uint32_t me; /* our broker slot: a live owner */
    struct obj o[MAXOBJ];
    unsigned n;
    unsigned by_type[SHARENA_T__COUNT][MAXOBJ];
    unsigned nt[SHARENA_T__COUNT];
    uint64_t free_slots[64];
    unsigned nfree;
    /* the objects the readers and writers reach first (roots, struct
     * fields): most flips go there */
    uint64_t hot[48];
    unsigned nhot;
    unsigned hot_by_type[SHARENA_T__COUNT][48];
    unsigned nht[SHARENA_T__COUNT];
    uint64_t flips[NCLASS];
} F;

static uint64_t toggles;

static bool in_heap(uint64_t off, uint64_t len)
{
    return off >= F.hs && off <= F.he && len <= F.he - off;
}

#define LD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* Find the objects of the arena (the flipper's own view, as bounds-checked
 * as anybody's: it flips memory that writers change under it). */
static void scan(void)
{
    F.n = 0;
    F.nfree = 0;
    memset(F.nt, 0, sizeof F.nt);
    memset(F.nht, 0, sizeof F.nht);
    uint64_t count = LD(F.h->slot_count);
    for (unsigned k = 0; k < SHARENA__SLOT_CHUNKS && F.n < MAXOBJ; k++) {
        uint64_t off = LD(F.h->slot_chunks[k]);
        uint64_t cnt = (uint64_t)SHARENA__SLOT_CHUNK0 << k;
        uint64_t first = (uint64_t)SHARENA__SLOT_CHUNK0 *
                         ((UINT64_C(1) << k) - 1);
        if (!off || first >= count)
            break;
        if ((off & 15) || !in_heap(off, cnt * sizeof(struct sharena__slot)))
            continue;
        for (uint64_t i = 0; i < cnt && F.n < MAXOBJ; i++) {
            uint64_t idx = first + i;
            if (idx >= count)
                break;
            if (idx == 0)
                continue;
            struct sharena__slot *s = (struct sharena__slot *)(F.base + off) +
                                      i;
            uint8_t t = LD(s->type);
            if (t == 0) {
                if (F.nfree < 64)
                    F.free_slots[F.nfree++] = off + i * sizeof *s;
                continue;
            }
            if (t >= SHARENA_T__COUNT)
                continue;
            struct obj *o = &F.o[F.n];
            o->slot = off + i * sizeof *s;
            o->index = idx;
            o->type = t;
            o->gen = LD(s->gen);
            o->payload = o->psize = 0;
            if (t != SHARENA_T_NUMBER && t != SHARENA_T_BOOL) {
                uint64_t w = LD(s->word);
                if ((w & 15) || !in_heap(w, 0) || w < F.hs + 16)
                    continue;
                struct sharena__block *b = (void *)(F.base + w - 16);
                uint64_t sz = LD(b->size_flags) & SHARENA__BLOCK_SIZE_MASK;
                if (sz < 32 || !in_heap(w - 16, sz))
                    continue;
                o->payload = w;
                o->psize = sz - 16;
            }
            F.by_type[t][F.nt[t]++] = F.n;
            for (unsigned j = 0; j < F.nhot; j++)
                if (F.hot[j] == idx && F.nht[t] < 48)
                    F.hot_by_type[t][F.nht[t]++] = F.n;
            F.n++;
        }
    }
}

static struct obj *pick(int type)
{
    if (rndn(4)) { /* a hot one */
        if (type == 0)
            type = 1 + (int)rndn(SHARENA_T__COUNT - 1);
        if (F.nht[type])
            return &F.o[F.hot_by_type[type][rndn(F.nht[type])]];
    }
    if (type == 0)
        return F.n ? &F.o[rndn(F.n)] : NULL;
    return F.nt[type] ? &F.o[F.by_type[type][rndn(F.nt[type])]] : NULL;
}

/* Before the first flip: the slots of the roots, the roots directory, the
 * struct fields and the nested containers. */
static void find_hot(void)
{
    sharena_id id, v;
    F.nhot = 0;
    if (sharena_roots(F.a, &id) == 0)
        F.hot[F.nhot++] = sharena__id_slot(id);
    for (unsigned i = 0; i < NROOTS; i++) {
        if (sharena_root_get(F.a, ROOT_NAMES[i], &id) < 0)
            continue;
        F.hot[F.nhot++] = sharena__id_slot(id);
        for (size_t k = 0; k < 3; k++)
            if (sharena_struct_field_id(F.a, id, k, &v) == 0 && F.nhot < 48)
                F.hot[F.nhot++] = sharena__id_slot(v);
        if (sharena_map_get(F.a, id, "vec", 3, &v) == 0 && F.nhot < 48)
            F.hot[F.nhot++] = sharena__id_slot(v);
        if (sharena_map_get(F.a, id, "inner", 5, &v) == 0 && F.nhot < 48)
            F.hot[F.nhot++] = sharena__id_slot(v);
    }
}

static sharena_id obj_id(const struct obj *o)
{
    return sharena__id_make(o->index, o->gen);
}

/* Keep the hostile value in place for a moment, or (mostly) not. */
static void hold(void)
{
    uint64_t r = rndn(256);
    if (r < 248)
        return;
    for (uint64_t i = rndn(r == 255 ? 20000 : 500); i > 0; i--)
        __asm__ __volatile__("" ::: "memory");
}

/* Toggle a field between its value and @p bad, a burst of times in a row
 * (as fast as it goes), or until a peer writes it: each way is a CAS, so a
 * value a peer stored meanwhile stays. */
static unsigned burst(void)
{
    return 1 + (unsigned)rndn(rndn(4) ? 256 : 4096);
}
#define FLIP(name, T)                                                          \
    static bool name(void *pv, T bad)                                          \
    {                                                                          \
        T *p = pv, v = LD(*p);                                                 \
        if (v == bad)                                                          \
            bad ^= 1;                                                          \
        for (unsigned n = burst(); n > 0; n--) {                               \
            T want = v;                                                        \
            if (!__atomic_compare_exchange_n(                                  \
                    p, &want, bad, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) \
                return false;                                                  \
            toggles++;                                                         \
            hold();                                                            \
            want = bad;                                                        \
            if (!__atomic_compare_exchange_n(                                  \
                    p, &want, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))   \
                return false;                                                  \
        }                                                                      \
        return true;                                                           \
    }
FLIP(flip64, uint64_t)
FLIP(flip32, uint32_t)
FLIP(flip8, uint8_t)

/* The same for a lock word, whose waiters add SHARENA__LOCK_WAITERS to
 * whatever value they wait on: the restore keeps that bit (else a hostile
 * owner that looks alive would stay, and the flipper would be a lock holder
 * that never lets go: a live holder, not a hostile value, docs/security.md).
 * No hostile value that names a live client may outlive the flip. */
static bool flip_lockword(uint32_t *p, uint32_t bad)
{
    uint32_t v = LD(*p);
    if (v == bad)
        bad ^= 1;
    if (bad == 0) {
        /* A held lock made free: no way back, or the holder's own unlock
         * (which stores 0) would be undone and its owner value left in a
         * word nobody holds any more, naming a live client for good. */
        return __atomic_compare_exchange_n(p, &v, 0, false, __ATOMIC_RELAXED,
                                           __ATOMIC_RELAXED);
    }
    for (unsigned n = burst(); n > 0; n--) {
        uint32_t want = v;
        if (!__atomic_compare_exchange_n(p, &want, bad, false, __ATOMIC_RELAXED,
                                         __ATOMIC_RELAXED))
            return false;
        toggles++;
        hold();
        want = bad;
        if (__atomic_compare_exchange_n(p, &want, v, false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            continue;
        want = bad | SHARENA__LOCK_WAITERS;
        if (want != bad && __atomic_compare_exchange_n(
                               p, &want, v | SHARENA__LOCK_WAITERS, false,
                               __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            return true; /* (v now has WAITERS: stop here) */
        return false;
    }
    return true;
}

/* A hostile size or length, near @p v or the room @p room there is. */
static uint64_t bad_size(uint64_t v, uint64_t room)
{
    switch (rndn(14)) {
    case 0:
        return 0;
    case 1:
        return UINT64_MAX;
    case 2:
        return v + 1;
    case 3:
        return v + 16;
    case 4:
        return v - 16;
    case 5:
        return room + 1;
    case 6:
        return room + 4096;
    case 7:
        return UINT64_C(1) << 30;
    case 8:
        return UINT64_C(1) << 40;
    case 9:
        return UINT64_C(1) << 62;
    case 10:
        return v ^ (UINT64_C(1) << rndn(64));
    case 11:
        return UINT64_MAX - 15;
    case 12:
        return F.he;
    default:
        return rnd();
    }
}

/* A hostile offset into (or out of) the heap. */
static uint64_t bad_off(uint64_t v)
{
    struct obj *o;
    switch (rndn(13)) {
    case 0:
        return 0;
    case 1:
        return F.he;
    case 2:
        return F.he - 8;
    case 3:
        return F.he - 16;
    case 4:
        return (F.hs + rndn(F.he - F.hs)) & ~UINT64_C(15);
    case 5:
        return v + 16;
    case 6:
        return v - 16;
    case 7:
        return v + 1;
    case 8: /* another object's payload (a string's len reads as a key) */
        o = pick(0);
        return o && o->payload ? o->payload : v + 32;
    case 9:
        return UINT64_MAX - 15;
    case 10:
        return F.hs - 16;
    case 11:
        return v ^ (UINT64_C(1) << rndn(44));
    default:
        return rnd();
    }
}

/* A hostile id: another object's, stale, of another type, out of range. */
static uint64_t bad_id(uint64_t v)
{
    struct obj *o = pick(0);
    switch (rndn(9)) {
    case 0:
        return 0;
    case 1:
        return o ? obj_id(o) : 1;
    case 2:
        return o ? obj_id(o) | SHARENA__REF_OWNED : 1;
    case 3:
        return o ? sharena__id_make(o->index, o->gen + 1) : 2;
    case 4:
        return sharena__id_make(LD(F.h->slot_count) + rndn(1000), 0);
    case 5:
        return SHARENA__REF_ID_MASK;
    case 6:
        return v ^ (UINT64_C(1) << rndn(64));
    case 7:
        return rnd();
    default:
        return v | SHARENA__REF_OWNED;
    }
}

/* A hostile word for a string's bytes: zeros, all ones, bytes that are not
 * UTF-8, one byte's top bit flipped, random. */
static uint64_t bad_word(uint64_t v)
{
    uint64_t junk;
    switch (rndn(5)) {
    case 0:
        return 0;
    case 1:
        return UINT64_MAX;
    case 2:
        memcpy(&junk, "\xff\xfe\xc3\x28\xed\xa0\x80\xc0", 8);
        return junk;
    case 3:
        return v ^ (UINT64_C(0x80) << (8 * rndn(8)));
    default:
        return rnd();
    }
}

/* A hostile first value word for an entry of kind @p kind: a boolean of 2
 * or more, a ref of id 0 or another object's, string bytes. */
static uint64_t bad_value(uint8_t kind, uint64_t v)
{
    switch (kind) {
    case SHARENA__V_REF:
        return rndn(4) ? bad_id(v) : (v & SHARENA__REF_OWNED);
    case SHARENA__V_BOOL:
        return rndn(2) ? 2 + rndn(3) : rndn(2) ? v ^ 1 : rnd();
    case SHARENA__V_STRING:
        return bad_word(v);
    default: /* a number's bits, a null's unused word: ids, NaNs, junk */
        return rndn(2)   ? bad_id(v)
               : rndn(2) ? UINT64_C(0x7ff8000000000001)
                         : rnd();
    }
}

/* Flip one value field of map entry @p e (the table's or its record's). */
static void flip_value(struct sharena__map_entry *e)
{
    switch (rndn(4)) {
    case 0: /* every kind, the first unknown one, junk */
        flip8(&e->vkind,
              rndn(3) ? (uint8_t)rndn(SHARENA__V_COUNT + 1) : (uint8_t)rnd());
        break;
    case 1: /* a string's length: 0..17, or anything up to 255 */
        flip8(&e->vlen, rndn(2) ? (uint8_t)rndn(SHARENA__VALUE_INLINE_MAX + 2)
                                : (uint8_t)rnd());
        break;
    case 2:
        flip64(&e->value.w[1], bad_word(LD(e->value.w[1])));
        break;
    default:
        flip64(&e->value.w[0], bad_value(LD(e->vkind), LD(e->value.w[0])));
    }
}

static void flip_map(void)
{
    struct obj *o = pick(SHARENA_T_MAP);
    if (!o || o->psize < sizeof(struct sharena__map))
        return;
    struct sharena__map *m = (void *)(F.base + o->payload);
    uint64_t cap = LD(m->cap);
    /* the capacity the block would hold, and the entries of the one it
     * says, where they fit */
    uint64_t room = (o->psize - sizeof *m) /
                    (8 + sizeof(struct sharena__map_entry));
    bool fits = cap >= SHARENA__MAP_MIN_CAP && cap <= room;
    struct sharena__map_entry *ents =
        fits ? (void *)((uint8_t *)m + SHARENA__MAP_ENTRIES(cap)) : NULL;
    struct sharena__map_entry *e = ents ? &ents[rndn(cap)] : NULL;
    switch (rndn(14)) {
    case 0:
    case 1: {
        static const uint64_t mult[] = {0, 1, 2, 3, 1024, 1u << 20};
        uint64_t bad;
        switch (rndn(5)) {
        case 0:
            bad = cap * mult[rndn(6)];
            break;
        case 1:
            bad = room + rndn(3) * room;
            break;
        case 2:
            bad = UINT64_C(1) << rndn(64);
            break;
        case 3:
            bad = cap - 1;
            break;
        default:
            bad = bad_size(cap, room);
        }
        flip64(&m->cap, bad);
        break;
    }
    case 2:
        if (rndn(2))
            flip64(&m->count, bad_size(LD(m->count), room));
        else
            flip64(&m->pend_count, rndn(2) ? LD(m->count) : rnd());
        break;
    case 3:
        if (fits)
            flip32(&m->index[rndn(2 * cap)],
                   rndn(2) ? (uint32_t)rndn(cap + 2) : (uint32_t)rnd());
        break;
    case 4:
        if (e && LD(e->klen) == SHARENA__KEY_BLOCK)
            flip64(&e->key.off, bad_off(LD(e->key.off)));
        else if (e)
            flip8(&e->klen, rndn(2) ? SHARENA__KEY_BLOCK : (uint8_t)rnd());
        break;
    case 5:
        if (e)
            flip32(&e->hash, rndn(2) ? (uint32_t)rnd() : ~LD(e->hash));
        break;
    case 6:
    case 7:
    case 8:
        /* mostly an entry holding a value of its own (a string's length
         * and bytes are where a read past the entry would be) */
        for (int tries = 0; e && tries < 8 && rndn(4); tries++) {
            if (LD(e->vkind) == SHARENA__V_STRING)
                break;
            e = &ents[rndn(cap)];
        }
        if (e)
            flip_value(e);
        break;
    case 9: { /* the record of a value change: an entry, past the count,
               * huge; repair (a dead locker's) reads it */
        uint64_t count = LD(m->count);
        static const uint64_t far[] = {UINT64_MAX, UINT64_C(1) << 40,
                                       UINT64_C(1) << 63};
        flip64(&m->pend_set, rndn(2)   ? 1 + rndn(count + 1)
                             : rndn(2) ? cap + rndn(cap + 1)
                                       : far[rndn(3)]);
        break;
    }
    case 10: /* the recorded value */
        flip_value(&m->pend_entry);
        break;
    default:
        if (e)
            flip64(&e->value.w[0], bad_value(LD(e->vkind), LD(e->value.w[0])));
        break;
    }
}

static void flip_slot(void)
{
    struct obj *o = pick(0);
    if (!o)
        return;
    struct sharena__slot *s = (void *)(F.base + o->slot);
    switch (rndn(6)) {
    case 0:
    case 1:
        if (rndn(3) == 0) {
            struct obj *p = pick(0);
            if (p && p->payload) {
                flip64(&s->word, p->payload); /* another object's payload */
                break;
            }
        }
        flip64(&s->word, bad_off(LD(s->word)));
        break;
    case 2: {
        uint32_t g = LD(s->gen);
        uint32_t bad[] = {g + 1,      g - 1,          0, SHARENA__GEN_MAX,
                          UINT32_MAX, (uint32_t)rnd()};
        flip32(&s->gen, bad[rndn(6)]);
        break;
    }
    case 3:
        flip8(&s->type,
              rndn(4) ? (uint8_t)(1 + rndn(SHARENA_T__COUNT)) : (uint8_t)rnd());
        break;
    case 4:
        flip8(&s->flags, (uint8_t)rndn(256));
        break;
    default:
        if (F.nfree) { /* a free slot made to look live, or relinked */
            struct sharena__slot *f = (void *)(F.base +
                                               F.free_slots[rndn(F.nfree)]);
            if (rndn(2))
                flip8(&f->type, (uint8_t)(1 + rndn(SHARENA_T__COUNT - 1)));
            else
                flip64(&f->word,
                       rndn(2) ? rnd() : rndn(LD(F.h->slot_count) + 8));
        }
        break;
    }
}

static void flip_size(void)
{
    struct obj *o;
    switch (rndn(9)) {
    case 0:
    case 1:
        if ((o = pick(SHARENA_T_STRING)) && o->psize >= 8) {
            uint64_t *len = (void *)(F.base + o->payload);
            flip64(len, bad_size(LD(*len), o->psize - 8));
        }
        break;
    case 2:
    case 3:
        if ((o = pick(SHARENA_T_BYTES)) && o->psize >= 16) {
            uint64_t *size = (void *)(F.base + o->payload);
            uint64_t bad = rndn(3) ? (UINT64_C(1) << 30) + rndn(2) * 4096
                                   : bad_size(LD(*size), o->psize - 16);
            flip64(size, bad);
        }
        break;
    case 4:
        if ((o = pick(SHARENA_T_VECTOR)) && o->psize >= 16) {
            struct sharena__vector *v = (void *)(F.base + o->payload);
            uint64_t room = (o->psize - 16) / 8;
            uint64_t cap = LD(v->cap);
            switch (rndn(3)) {
            case 0:
                flip64(&v->len, bad_size(LD(v->len), room));
                break;
            case 1:
                flip64(&v->cap, bad_size(cap, room));
                break;
            default:
                /* an item (format 4): a ref <-> a number stored in place,
                 * or a hostile ref; readers classify each load */
                if (cap && cap <= room) {
                    uint64_t *it = &v->items[rndn(cap)];
                    uint64_t cur = LD(*it), bad;
                    if (rndn(2))
                        bad = bad_id(cur);
                    else
                        bad = rnd() | (UINT64_C(1) << (53 + rndn(10)));
                    flip64(it, bad);
                }
                break;
            }
        }
        break;
    case 5:
        if ((o = pick(SHARENA_T_STRUCT)) && o->psize >= 16) {
            struct sharena__struct *st = (void *)(F.base + o->payload);
            uint64_t room = (o->psize - 16) / 8;
            uint64_t nf = LD(st->nfields);
            switch (rndn(4)) {
            case 0:
                flip64(&st->nfields, bad_size(nf, room));
                break;
            case 1:
                flip64(&st->shape, bad_id(LD(st->shape)));
                break;
            default:
                if (room) {
                    uint64_t *cell = &st->cells[rndn(room)];
                    flip64(cell, bad_id(LD(*cell)));
                }
            }
        }
        break;
    case 6:
        if ((o = pick(SHARENA_T_SHAPE)) && o->psize >= 16) {
            struct sharena__shape *sh = (void *)(F.base + o->payload);
            uint64_t room = (o->psize - 16) / sizeof(struct sharena__field);
            if (rndn(3) == 0 || !room) {
                flip64(&sh->nfields, bad_size(LD(sh->nfields), room));
                break;
            }
            struct sharena__field *fd = &sh->fields[rndn(room)];
            switch (rndn(3)) {
            case 0:
                flip8(&fd->type, (uint8_t)rndn(256));
                break;
            case 1:
                flip8(&fd->name_len, (uint8_t)(rndn(2) ? 0 : 56 + rndn(200)));
                break;
            default:
                flip64(&fd->size, bad_size(LD(fd->size), o->psize));
            }
        }
        break;
    default: /* a map key's length (a key in a block) */
        if ((o = pick(SHARENA_T_MAP)) &&
            o->psize > sizeof(struct sharena__map)) {
            struct sharena__map *m = (void *)(F.base + o->payload);
            uint64_t cap = LD(m->cap);
            if (cap < SHARENA__MAP_MIN_CAP ||
                SHARENA__MAP_BYTES(cap) > o->psize)
                break;
            struct sharena__map_entry *ents =
                (void *)((uint8_t *)m + SHARENA__MAP_ENTRIES(cap));
            struct sharena__map_entry *e = &ents[rndn(cap)];
            uint64_t k = LD(e->key.off);
            if (LD(e->klen) == SHARENA__KEY_BLOCK && k && !(k & 7) &&
                in_heap(k, 8) && k >= F.hs + 16) {
                uint64_t *len = (void *)(F.base + k);
                uint64_t sz = LD(((struct sharena__block *)(F.base + k - 16))
                                     ->size_flags) &
                              SHARENA__BLOCK_SIZE_MASK;
                flip64(len, bad_size(LD(*len), sz));
            }
        }
        break;
    }
}

static void flip_alloc(void)
{
    struct sharena__header *h = F.h;
    switch (rndn(7)) {
    case 0:
    case 1:
    case 2: { /* an allocated block's header, or the block after it */
        struct obj *o = pick(0);
        if (!o || !o->payload)
            break;
        uint64_t b = o->payload - 16;
        if (rndn(3) == 0) {
            uint64_t sz =
                LD(((struct sharena__block *)(F.base + b))->size_flags) &
                SHARENA__BLOCK_SIZE_MASK;
            if (!in_heap(b + sz, 32))
                break;
            b += sz;
        }
        struct sharena__block *k = (void *)(F.base + b);
        uint64_t sf = LD(k->size_flags);
        uint64_t sz = sf & SHARENA__BLOCK_SIZE_MASK,
                 keep = sf & ~SHARENA__BLOCK_SIZE_MASK;
        static const uint64_t sizes[] = {0, 16, 32};
        uint64_t nsz;
        switch (rndn(7)) {
        case 0:
            nsz = sizes[rndn(3)];
            break;
        case 1:
            nsz = sz + 16;
            break;
        case 2:
            nsz = sz - 16;
            break;
        case 3:
            nsz = sz * 2;
            break;
        case 4:
            nsz = F.he - F.hs;
            break;
        case 5:
            nsz = UINT64_C(1) << 40;
            break;
        default:
            nsz = rnd();
        }
        uint64_t bad = keep | (nsz & SHARENA__BLOCK_SIZE_MASK);
        if (rndn(4) == 0)
            bad = sf ^ SHARENA__BLOCK_FREE;
        if (rndn(8) == 0)
            flip64(&k->prev_phys, bad_off(LD(k->prev_phys)));
        else
            flip64(&k->size_flags, bad);
        break;
    }
    case 3:
    case 4: { /* a free block's list links */
        unsigned fl = (unsigned)rndn(SHARENA__FL_COUNT);
        uint64_t b = 0;
        for (unsigned i = 0; i < SHARENA__FL_COUNT && !b; i++) {
            for (unsigned sl = 0; sl < SHARENA__SL_COUNT && !b; sl++)
                b = LD(h->free_heads[(fl + i) % SHARENA__FL_COUNT][sl]);
        }
        if (!b || (b & 15) || !in_heap(b, 32))
            break;
        struct sharena__block *k = (void *)(F.base + b);
        struct sharena__free_links *l = (void *)(F.base + b + 16);
        switch (rndn(4)) {
        case 0:
            flip64(&l->next, rndn(2) ? b : bad_off(LD(l->next)));
            break;
        case 1:
            flip64(&l->prev, bad_off(LD(l->prev)));
            break;
        case 2: {
            uint64_t sf = LD(k->size_flags);
            uint64_t nsz = rndn(2) ? 0 : (rnd() & SHARENA__BLOCK_SIZE_MASK);
            flip64(&k->size_flags, (sf & ~SHARENA__BLOCK_SIZE_MASK) | nsz);
            break;
        }
        default:
            flip64(&k->size_flags,
                   LD(k->size_flags) & ~(uint64_t)SHARENA__BLOCK_FREE);
        }
        break;
    }
    case 5: {
        unsigned fl = (unsigned)rndn(SHARENA__FL_COUNT),
                 sl = (unsigned)rndn(SHARENA__SL_COUNT);
        flip64(&h->free_heads[fl][sl], bad_off(LD(h->free_heads[fl][sl])));
        break;
    }
    default:
        if (rndn(2))
            flip64(&h->fl_bitmap, rndn(2) ? UINT64_MAX : rnd());
        else {
            unsigned fl = (unsigned)rndn(SHARENA__FL_COUNT);
            flip32(&h->sl_bitmap[fl], rndn(2) ? UINT32_MAX : (uint32_t)rnd());
        }
        break;
    }
}

static uint32_t bad_lock(uint32_t v)
{
    switch (rndn(11)) {
    case 0:
        return SHARENA__LOCK_DIED | (uint32_t)rndn(64);
    case 1:
        return SHARENA__LOCK_LOCAL | 1; /* init: alive */
    case 2:
        return SHARENA__LOCK_LOCAL | 0x1fffffffu; /* no such pid */
    case 3:
        return (uint32_t)(1 +
                          rndn(SHARENA__MAX_BROKER_SLOTS - 1)); /* not live */
    case 4:
        return F.me; /* live: us */
    case 5:
        return SHARENA__LOCK_WAITERS;
    case 6:
        return 0;
    case 7:
        return UINT32_MAX;
    case 8:
        return SHARENA__LOCK_DIED | F.me;
    case 9:
        return SHARENA__LOCK_LOCAL | (uint32_t)getpid();
    default:
        return v ^ (1u << rndn(32));
    }
}

static uint32_t bad_seq(uint32_t v)
{
    uint32_t bad[] = {v | 1, v + 2, 0, UINT32_MAX, (uint32_t)rnd(), v - 2};
    return bad[rndn(6)];
}

static void flip_lock(void)
{
    struct sharena__header *h = F.h;
    struct obj *o = pick(0);
    struct sharena__slot *s = o ? (void *)(F.base + o->slot) : NULL;
    switch (rndn(9)) {
    case 0:
    case 1:
    case 2:
        if (s)
            flip_lockword(&s->lock, bad_lock(LD(s->lock)));
        break;
    case 3:
        flip_lockword(&h->arena_lock, bad_lock(LD(h->arena_lock)));
        break;
    case 4:
    case 5:
        if (s)
            flip32(&s->seq, bad_seq(LD(s->seq)));
        break;
    case 6:
        flip32(&h->arena_seq, bad_seq(LD(h->arena_seq)));
        break;
    case 7: { /* the broker's live-slot bits: dead owners made to look
               * alive, live ones dead; then back, leaving the bits the
               * broker changed meanwhile as it set them */
        uint64_t *w = &h->live_slots[rndn(8)];
        uint64_t mask = rndn(2) ? UINT64_MAX : rnd();
        for (unsigned n = burst(); n > 0; n--, toggles++) {
            if (rndn(2)) {
                uint64_t added = mask &
                                 ~__atomic_fetch_or(w, mask, __ATOMIC_RELAXED);
                hold();
                __atomic_fetch_and(w, ~added, __ATOMIC_RELAXED);
            } else {
                uint64_t removed = mask & __atomic_fetch_and(w, ~mask,
                                                             __ATOMIC_RELAXED);
                hold();
                __atomic_fetch_or(w, removed, __ATOMIC_RELAXED);
            }
        }
        break;
    }
    default:
        switch (rndn(5)) {
        case 0:
            flip32(&h->slots_managed, (uint32_t)rndn(3));
            break;
        case 1:
            if (s)
                flip32(&s->since, rndn(2) ? 0 : UINT32_MAX);
            break;
        case 2:
            flip32(&h->arena_lock_since, (uint32_t)rnd());
            break;
        case 3:
            flip32(&h->lock_clock, rndn(2) ? 0 : UINT32_MAX);
            break;
        default:
            if (s)
                flip32(&s->waiters, rndn(2) ? UINT32_MAX : 0);
        }
        break;
    }
}

static void flip_header(void)
{
    struct sharena__header *h = F.h;
    uint64_t count = LD(h->slot_count);
    switch (rndn(11)) {
    case 0:
    case 1: {
        uint64_t bad[] = {0,           1,         count + 1,
                          count + 256, count - 1, UINT64_C(1) << 32,
                          UINT64_MAX,  rnd()};
        flip64(&h->slot_count, bad[rndn(8)]);
        break;
    }
    case 2:
    case 3: {
        unsigned k = (unsigned)rndn(3); /* the chunks in use, and the next */
        uint64_t v = LD(h->slot_chunks[k]);
        uint64_t bad = rndn(4) ? bad_off(v) : LD(h->slot_chunks[(k + 1) % 3]);
        flip64(&h->slot_chunks[k], bad);
        break;
    }
    case 4:
        if (rndn(2))
            flip64(&h->slot_free_head, rndn(2) ? rnd() : rndn(count + 8));
        else
            flip64(&h->slot_free_tail, rndn(2) ? UINT64_MAX : rndn(count + 8));
        break;
    case 5:
    case 6:
        flip64(&h->roots_id, bad_id(LD(h->roots_id)));
        break;
    case 7:
        flip64(&h->hash_seed, rnd());
        break;
    case 8:
        if (rndn(2))
            flip64(&h->used_bytes, bad_size(LD(h->used_bytes), F.he));
        else
            flip64(&h->live_objects, bad_size(LD(h->live_objects), count));
        break;
    case 9:
        switch (rndn(4)) {
        case 0:
            flip32(&h->layout_epoch, LD(h->layout_epoch) + 1);
            break;
        case 1:
            flip32(&h->changes, (uint32_t)rnd());
            break;
        case 2:
            flip32(&h->change_waiters, UINT32_MAX);
            break;
        default:
            flip64(&h->free_heads[rndn(SHARENA__FL_COUNT)]
                                 [rndn(SHARENA__SL_COUNT)],
                   bad_off(0));
        }
        break;
    default: /* identity and bounds: what a new open checks */
        switch (rndn(4)) {
        case 0:
            flip64(&h->capacity, bad_size(LD(h->capacity), F.he));
            break;
        case 1:
            flip64(&h->heap_end, bad_size(LD(h->heap_end), F.he));
            break;
        case 2:
            flip64(&h->heap_start, bad_off(LD(h->heap_start)));
            break;
        default:
            flip32(&h->format_version, (uint32_t)rnd());
        }
        break;
    }
}

static int run_flipper(const char *name, int cls, double seconds, uint64_t seed)
{
    worker_setup("flipper", seed);
    double until = test_now_s() + seconds;
    sharena_conn *c = NULL;
    F.a = worker_open(name, until, &c);
    say("P %" PRIu64 "\n", ops);
    if (!F.a)
        _exit(4);
    F.base = sharena_arena_base(F.a);
    F.hs = F.a->heap_start;
    F.he = F.a->heap_end;
    F.h = sharena__hdr(F.a);
    F.me = sharena_conn_slot(c);
    find_hot();
    void (*const fn[])(void) = {flip_map,   flip_slot, flip_size,
                                flip_alloc, flip_lock, flip_header};
    uint64_t n = 0;
    while (test_now_s() < until) {
        if (cls == CL_NONE) {
            usleep(1000);
            ops = ++n;
            beat();
            continue;
        }
        if ((n & 63) == 0)
            scan();
        int k = cls == CL_ALL ? (int)rndn(CL_ALL) : cls;
        cur_op = CLASS_NAMES[k];
        fn[k]();
        F.flips[k]++;
        ops = ++n;
        beat();
    }
    say("P %" PRIu64 "\nE ops=%" PRIu64 " toggles=%" PRIu64 "\n", ops + 1, n,
        toggles);
    _exit(0);
}

/* ---- the driver --------------------------------------------------------------- */

enum {
    R_FLIPPER,
    R_LOCKER,
    R_C_READER,
    R_C_WRITER,
    R_NODE_READER,
    R_NODE_WRITER,
    R_PY_READER,
    R_PY_WRITER,
    NROLE
};
static const char *const ROLE_NAMES[NROLE] = {
    "flipper",     "locker",      "c-reader",  "c-writer",
    "node-reader", "node-writer", "py-reader", "py-writer"};

struct worker {
    pid_t pid;
    int fd;
    double spawned, last, kill_at;
    uint64_t ops;
    bool beat; /* a first heartbeat came */
    const char *role;
    char buf[1024];
    size_t blen;
};

static struct {
    struct test_broker b;
    sharena_conn *c;
    uint64_t seed;
    bool lang_node, lang_py;
    bool gdb, verbose;
    int gdb_left;
    const char *self;
    /* results */
    unsigned crashes, hangs, exits, broker_late, broker_errors, locker_kills;
    unsigned crash_by[NROLE][NCLASS], hang_by[NROLE][NCLASS];
    unsigned sigs[65];
    uint64_t role_ops[NROLE];
    bool broker_dead;
    int broker_status;
    pid_t ping;
    double ping_at, next_ping;
    uint64_t flips;
} D;

static bool role_on(int r)
{
    if (r == R_NODE_READER || r == R_NODE_WRITER)
        return D.lang_node;
    if (r == R_PY_READER || r == R_PY_WRITER)
        return D.lang_py;
    return true;
}

static void spawn(struct worker *w, int role, const char *arena, int cls,
                  double seconds)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        perror("pipe");
        exit(2);
    }
    char secs[32], seed[32], clsbuf[16];
    snprintf(secs, sizeof secs, "%.3f", seconds);
    snprintf(seed, sizeof seed, "%" PRIu64, D.seed + rnd() % 1000000);
    snprintf(clsbuf, sizeof clsbuf, "%d", cls);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        dup2(p[1], 1);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        /* The flipper at full speed on one core, the others sharing the
         * rest: what a hostile peer with a core of its own does. */
        if (role != R_FLIPPER && nice(4) == -1) {
        }
        const char *role_name = ROLE_NAMES[role];
        const char *node = getenv("SHARENA_NODE");
        const char *py = getenv("SHARENA_PYTHON");
        const char *mode = strstr(role_name, "writer") ? "writer" : "reader";
        switch (role) {
        case R_NODE_READER:
        case R_NODE_WRITER:
            node = node && *node ? node : "node";
            execlp(node, node, ADVERSARY_DIR "/adversary.js", mode, arena, secs,
                   seed, (char *)NULL);
            break;
        case R_PY_READER:
        case R_PY_WRITER:
            py = py && *py ? py : "python3";
            execlp(py, py, "-X", "faulthandler", ADVERSARY_DIR "/adversary.py",
                   mode, arena, secs, seed, (char *)NULL);
            break;
        case R_FLIPPER:
            execl(D.self, D.self, "--role", role_name, arena, secs, seed,
                  clsbuf, (char *)NULL);
            break;
        default:
            execl(D.self, D.self, "--role", role_name, arena, secs, seed,
                  (char *)NULL);
        }
        fprintf(stderr, "adversary: exec for %s: %s\n", role_name,
                strerror(errno));
        _exit(127);
    }
    close(p[1]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    memset(w, 0, sizeof *w);
    w->pid = pid;
    w->fd = p[0];
    w->role = ROLE_NAMES[role];
    w->spawned = w->last = test_now_s();
}

/* Read heartbeats: "P <ops>" (progress) and "E ..." (the end). */
static void drain(struct worker *w)
{
    for (;;) {
        if (w->blen == sizeof w->buf - 1)
            w->blen = 0;
        ssize_t n = read(w->fd, w->buf + w->blen, sizeof w->buf - 1 - w->blen);
        if (n <= 0)
            break;
        w->blen += (size_t)n;
        w->buf[w->blen] = 0;
        char *line = w->buf, *nl;
        while ((nl = strchr(line, '\n'))) {
            *nl = 0;
            unsigned long long v;
            if (line[0] == 'E' && D.verbose)
                printf("adversary: %s: %s\n", w->role, line + 2);
            if (sscanf(line, "P %llu", &v) == 1) {
                if (!w->beat || v > w->ops)
                    w->last = test_now_s();
                if (v > w->ops)
                    w->ops = v;
                w->beat = true;
            }
            line = nl + 1;
        }
        w->blen = strlen(line);
        memmove(w->buf, line, w->blen);
    }
}

static void backtrace_of(pid_t pid)
{
    if (!D.gdb || D.gdb_left <= 0)
        return;
    D.gdb_left--;
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "timeout 60 gdb -p %d -batch -ex 'thread 1' -ex 'bt 24' "
             "2>/dev/null | grep -E '^#' | head -24 >&2",
             (int)pid);
    if (system(cmd) != 0) {
    }
}

/* A worker ended (status @p st): a signal is a crash unless we sent it. */
static void ended(struct worker *w, int role, int cls, int st, bool ours)
{
    D.role_ops[role] += w->ops;
    close(w->fd);
    w->pid = 0;
    if (WIFSIGNALED(st) && !ours) {
        int sig = WTERMSIG(st);
        D.crashes++;
        D.crash_by[role][cls]++;
        D.sigs[sig < 65 ? sig : 0]++;
        fprintf(stderr,
                "adversary: CRASH: %s killed by signal %d (%s) in round '%s'\n",
                ROLE_NAMES[role], sig, strsignal(sig), CLASS_NAMES[cls]);
    } else if (WIFEXITED(st) && WEXITSTATUS(st) != 0) {
        D.exits++;
        fprintf(stderr,
                "adversary: FAILED: %s exited with status %d in round '%s'\n",
                ROLE_NAMES[role], WEXITSTATUS(st), CLASS_NAMES[cls]);
    }
}

/* A fresh client lists the broker's arenas: the child's pid. */
static pid_t ping_start(void)
{
    pid_t p = fork();
    if (p == 0) {
        sharena_conn *c;
        sharena_arena_stat *st;
        size_t n;
        if (sharena_connect(D.b.socket, &c) < 0 || sharena_list(c, &st, &n) < 0)
            _exit(1);
        _exit(0);
    }
    return p;
}

/* The broker: alive (its pid), answering (a fresh client lists the arenas
 * within HANG_S, one every second). With @p final: wait for the LIST in
 * flight, then one more, waited for. */
static void check_broker(bool final)
{
    if (!D.broker_dead && D.b.pid > 0) {
        int st;
        if (waitpid(D.b.pid, &st, WNOHANG) == D.b.pid) {
            D.broker_dead = true;
            D.broker_status = st;
            D.b.pid = 0;
            fprintf(stderr, "adversary: BROKER DIED: %s %d\n",
                    WIFSIGNALED(st) ? "signal" : "exit status",
                    WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
        }
    }
    for (int pass = 0; pass < (final ? 2 : 1); pass++) {
        double t = test_now_s();
        if (!D.ping && !D.broker_dead && (final || t >= D.next_ping)) {
            D.next_ping = t + 1.0;
            D.ping_at = t;
            D.ping = ping_start();
        }
        while (D.ping) {
            int st;
            pid_t r = waitpid(D.ping, &st, WNOHANG);
            if (r == D.ping) {
                D.ping = 0;
                if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                    D.broker_errors++;
                    fprintf(stderr, "adversary: BROKER: a fresh client could "
                                    "not list arenas\n");
                }
            } else if (test_now_s() - D.ping_at > HANG_S) {
                D.broker_late++;
                fprintf(
                    stderr,
                    "adversary: BROKER HANG: no answer to LIST for %.0f s\n",
                    HANG_S);
                if (D.b.pid > 0)
                    backtrace_of(D.b.pid);
                kill(D.ping, SIGKILL);
                waitpid(D.ping, &st, 0);
                D.ping = 0;
            } else if (final) {
                usleep(10000);
                continue;
            }
            break;
        }
    }
}

static void run_round(int round, int cls, double seconds)
{
    char arena[64];
    snprintf(arena, sizeof arena, "adv.r%d", round);
    int r = populate(D.c, arena);
    if (r < 0) {
        fprintf(stderr, "adversary: cannot make arena %s: %s\n", arena,
                sharena_strerror(r));
        D.exits++;
        return;
    }
    struct worker w[NROLE];
    memset(w, 0, sizeof w);
    double start = test_now_s(), until = start + seconds;
    for (int i = 0; i < NROLE; i++)
        if (role_on(i))
            spawn(&w[i], i, arena, cls, seconds);
    for (;;) {
        double t = test_now_s();
        bool any = false;
        struct pollfd pf[NROLE];
        int np = 0;
        for (int i = 0; i < NROLE; i++)
            if (w[i].pid) {
                pf[np++] = (struct pollfd){.fd = w[i].fd, .events = POLLIN};
                any = true;
            }
        if (!any)
            break;
        poll(pf, (nfds_t)np, 20);
        t = test_now_s();
        for (int i = 0; i < NROLE; i++) {
            if (!w[i].pid)
                continue;
            drain(&w[i]);
            int st;
            if (waitpid(w[i].pid, &st, WNOHANG) == w[i].pid) {
                drain(&w[i]);
                bool ours = i == R_LOCKER && w[i].kill_at > 0 &&
                            WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
                if (ours)
                    D.locker_kills++;
                ended(&w[i], i, cls, st, ours);
                /* again while the round lasts: the locker always, the
                 * others after a crash */
                if (until - t > 1.0 && (i == R_LOCKER || WIFSIGNALED(st)))
                    spawn(&w[i], i, arena, cls, until - t);
                continue;
            }
            /* the locker: killed while it holds its locks */
            if (i == R_LOCKER) {
                if (w[i].ops && !w[i].kill_at)
                    w[i].kill_at = t + (double)rndn(200) / 1000;
                if (t >= until && !w[i].kill_at)
                    w[i].kill_at = t;
                if (w[i].kill_at && t >= w[i].kill_at)
                    kill(w[i].pid, SIGKILL);
            }
            double idle = t - w[i].last;
            if ((w[i].beat && idle > HANG_S) ||
                (!w[i].beat && idle > START_S) ||
                t > until + START_S + HANG_S) {
                D.hangs++;
                D.hang_by[i][cls]++;
                fprintf(stderr,
                        "adversary: HANG: %s (pid %d) made no progress for "
                        "%.1f s in round '%s'%s\n",
                        ROLE_NAMES[i], (int)w[i].pid, idle, CLASS_NAMES[cls],
                        w[i].beat ? "" : " (never started)");
                backtrace_of(w[i].pid);
                kill(w[i].pid, SIGKILL);
                waitpid(w[i].pid, &st, 0);
                ended(&w[i], i, cls, st, true);
                if (until - test_now_s() > 1.0)
                    spawn(&w[i], i, arena, cls, until - test_now_s());
            }
        }
        check_broker(false);
    }
    if (!D.broker_dead) {
        r = sharena_delete(D.c, arena);
        if (r < 0 && r != SHARENA_ENOENT)
            fprintf(stderr, "adversary: delete %s: %s\n", arena,
                    sharena_strerror(r));
    }
}

/* After the rounds: a fresh client creates, writes and reads an arena. */
static bool broker_serves(void)
{
    pid_t p = fork();
    if (p == 0) {
        alarm(30);
        sharena_conn *c;
        sharena_arena *a;
        sharena_open_opts o = {.flags = SHARENA_CREATE, .capacity = 1u << 20};
        sharena_id m, v;
        double d = 0;
        if (sharena_connect(D.b.socket, &c) < 0 ||
            sharena_open(c, "adv.after", &o, &a) < 0 ||
            sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL) < 0 ||
            sharena_map_set_number(a, m, "k", 1, 42) < 0 ||
            sharena_map_get(a, m, "k", 1, &v) < 0 ||
            sharena_number_get(a, v, &d) < 0 || d != 42)
            _exit(1);
        sharena_delete(c, "adv.after");
        _exit(0);
    }
    int st;
    waitpid(p, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static bool lang_listed(const char *langs, const char *l)
{
    size_t n = strlen(l);
    for (const char *p = langs; (p = strstr(p, l)); p += n)
        if ((p == langs || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
            return true;
    return false;
}

int main(int argc, char **argv)
{
    if (argc >= 6 && strcmp(argv[1], "--role") == 0) {
        double secs = atof(argv[4]);
        uint64_t seed = strtoull(argv[5], NULL, 10);
        if (strcmp(argv[2], "flipper") == 0 && argc >= 7)
            return run_flipper(argv[3], atoi(argv[6]), secs, seed);
        if (strcmp(argv[2], "locker") == 0)
            return run_locker(argv[3], seed);
        return run_worker(argv[2], argv[3], secs, seed);
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    double total = 28;
    const char *e = getenv("SHARENA_ADVERSARY_SECONDS");
    if (e && *e)
        total = atof(e);
    D.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
    if ((e = getenv("SHARENA_ADVERSARY_SEED")) && *e)
        D.seed = strtoull(e, NULL, 10);
    int only = -1;
    if ((e = getenv("SHARENA_ADVERSARY_CLASS")) && *e)
        for (int i = 0; i < NCLASS; i++)
            if (strcmp(e, CLASS_NAMES[i]) == 0)
                only = i;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            total = atof(argv[++i]);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            D.seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--class") == 0 && i + 1 < argc) {
            const char *c = argv[++i];
            for (int k = 0; k < NCLASS; k++)
                if (strcmp(c, CLASS_NAMES[k]) == 0)
                    only = k;
            if (only < 0) {
                fprintf(stderr, "adversary: no class %s\n", c);
                return 2;
            }
        } else {
            fprintf(stderr,
                    "usage: %s [--seconds N] [--seed S] [--class NAME]\n",
                    argv[0]);
            return 2;
        }
    }
    rng = D.seed * UINT64_C(0x9E3779B97F4A7C15) + 7;
    const char *langs = getenv("SHARENA_ADVERSARY_LANGS");
    if (!langs || !*langs)
        langs = "c,node,py";
    D.lang_node = lang_listed(langs, "node");
    D.lang_py = lang_listed(langs, "py");
    e = getenv("SHARENA_ADVERSARY_GDB");
    D.gdb = !(e && strcmp(e, "0") == 0) &&
            system("command -v gdb >/dev/null 2>&1") == 0;
    D.gdb_left = 3;
    e = getenv("SHARENA_ADVERSARY_VERBOSE");
    D.verbose = e && *e && strcmp(e, "0") != 0;
    static char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        perror("readlink /proc/self/exe");
        return 2;
    }
    self[n] = 0;
    D.self = self;
    signal(SIGPIPE, SIG_IGN);

    if (test_broker_start(&D.b, "--log-level", "error", NULL) < 0)
        return 2;
    setenv("SHARENA_SOCKET", D.b.socket, 1);
    setenv("SHARENA_AUTOSTART", "0", 1);
    int r = sharena_connect(D.b.socket, &D.c);
    if (r < 0) {
        fprintf(stderr, "adversary: connect: %s\n", sharena_strerror(r));
        test_broker_stop(&D.b);
        return 2;
    }
    int rounds = only >= 0 ? 1 : NROTATE;
    double per = total / rounds;
    if (per < 4) /* node needs a moment to start */
        per = 4;
    if (per > 10 && only < 0) /* long runs: the classes again and again */
        per = 10;
    rounds = (int)(total / per + 0.5);
    if (rounds < 1)
        rounds = 1;
    printf("adversary: seed %" PRIu64
           ", %d rounds of %.1f s, languages %s%s%s\n",
           D.seed, rounds, per, "c", D.lang_node ? ",node" : "",
           D.lang_py ? ",py" : "");
    int ran = 0;
    for (int i = 0; i < rounds && !D.broker_dead; i++, ran++) {
        int cls = only >= 0 ? only : i % NROTATE;
        printf("adversary: round %d: %s\n", i, CLASS_NAMES[cls]);
        run_round(i, cls, per);
    }
    check_broker(true);
    bool serves = !D.broker_dead && broker_serves();
    sharena_disconnect(D.c);
    int stop = D.broker_dead ? -1 : test_broker_stop(&D.b);
    if (D.broker_dead)
        test_broker_stop(&D.b); /* removes the directory */

    /* the report */
    for (int k = 0; k < NCLASS; k++) {
        unsigned c = 0, h = 0;
        for (int i = 0; i < NROLE; i++) {
            c += D.crash_by[i][k];
            h += D.hang_by[i][k];
        }
        if (c || h) {
            printf("adversary: class %-6s: %u crashes, %u hangs (",
                   CLASS_NAMES[k], c, h);
            const char *sep = "";
            for (int i = 0; i < NROLE; i++)
                if (D.crash_by[i][k] || D.hang_by[i][k]) {
                    printf("%s%s %u/%u", sep, ROLE_NAMES[i], D.crash_by[i][k],
                           D.hang_by[i][k]);
                    sep = ", ";
                }
            printf(")\n");
        }
    }
    bool idle = false;
    printf("adversary: ops:");
    for (int i = 0; i < NROLE; i++) {
        if (!role_on(i))
            continue;
        printf(" %s=%" PRIu64, ROLE_NAMES[i], D.role_ops[i]);
        if (D.role_ops[i] == 0)
            idle = true;
    }
    printf(", locker kills=%u\n", D.locker_kills);
    if (D.crashes) {
        printf("adversary: signals:");
        for (int s = 0; s < 65; s++)
            if (D.sigs[s])
                printf(" %s=%u", sigabbrev_np(s) ? sigabbrev_np(s) : "?",
                       D.sigs[s]);
        printf("\n");
    }
    bool broker_ok = !D.broker_dead && !D.broker_late && !D.broker_errors &&
                     serves && stop == 0;
    bool ok = !D.crashes && !D.hangs && !D.exits && broker_ok && !idle &&
              D.locker_kills > 0;
    printf("adversary: %s: %d rounds, %u crashes, %u hangs, %u failed workers, "
           "broker %s (%u late, %u refused, serves %s, stop status %d)%s%s\n",
           ok ? "PASS" : "FAIL", ran, D.crashes, D.hangs, D.exits,
           D.broker_dead ? "DEAD" : "alive", D.broker_late, D.broker_errors,
           serves ? "yes" : "no", stop, idle ? ", a role made no progress" : "",
           D.locker_kills ? "" : ", the locker was never killed holding locks");
    return ok ? 0 : 1;
}
