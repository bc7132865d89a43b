/* reads.c: what a read reports (docs/locking.md, "What a read reports").
 *
 * - The typed reads (sharena_value_read, sharena_map_get_value,
 *   sharena_vector_get_value): values, errors, dangling entries.
 * - Every read path a concurrent writer can race: a writer process
 *   replaces, grows, removes, pushes, pops and drops while this process
 *   reads; a read may answer only what the arena could have held at some
 *   moment (ENOENT for a key removed meanwhile, ERANGE for an index popped
 *   meanwhile), never ECORRUPT, ETYPE, EBUSY or ESTALE for a live object.
 * - A repair is a write: it moves the object's sequence counter, also when
 *   the dead writer left it even (readers retry instead of reading a table
 *   rebuilt in place).
 * - EBUSY is for a writer stopped mid-write (SIGSTOP), on writable and
 *   read-only handles; once it goes on, the same reads succeed. A writer
 *   that is only slow (running or sleeping mid-write) is waited for, and
 *   one killed but not reaped yet (a zombie) is gone: no EBUSY for either. */
#include "internal.h"
#include "sharena.h"
#include "../support/test_util.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- typed reads ----------------------------------------------------------- */

Test(reads, value_read_gives_type_and_value)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("reads", 1 << 20, &a), 0);
    sharena_id m, n, b, s, v, bytes;
    cr_assert_eq(sharena_map_new(a, &m), 0);
    cr_assert_eq(sharena_number_new(a, 2.5, &n), 0);
    cr_assert_eq(sharena_bool_new(a, true, &b), 0);
    cr_assert_eq(sharena_string_new(a, "hello", 5, &s), 0);
    cr_assert_eq(sharena_vector_new(a, &v), 0);
    cr_assert_eq(sharena_bytes_new(a, 16, &bytes), 0);
    sharena_value x;
    char buf[16];
    cr_expect_eq(sharena_value_read(a, n, NULL, 0, &x), 0);
    cr_expect_eq(x.type, SHARENA_T_NUMBER);
    cr_expect_eq(x.number, 2.5);
    cr_expect_eq(x.id, n);
    cr_expect_eq(sharena_value_read(a, b, NULL, 0, &x), 0);
    cr_expect(x.type == SHARENA_T_BOOL && x.boolean);
    cr_expect_eq(sharena_value_read(a, s, buf, sizeof buf, &x), 0);
    cr_expect(x.type == SHARENA_T_STRING && x.len == 5);
    cr_expect_str_eq(buf, "hello");
    /* too small: the type, id and length, and ERANGE */
    cr_expect_eq(sharena_value_read(a, s, buf, 5, &x), SHARENA_ERANGE);
    cr_expect(x.type == SHARENA_T_STRING && x.len == 5 && x.id == s);
    cr_expect_eq(sharena_value_read(a, s, NULL, 0, &x), SHARENA_ERANGE);
    cr_expect_eq(sharena_value_read(a, m, NULL, 0, &x), 0);
    cr_expect(x.type == SHARENA_T_MAP && x.id == m);
    cr_expect_eq(sharena_value_read(a, v, NULL, 0, &x), 0);
    cr_expect_eq(x.type, SHARENA_T_VECTOR);
    cr_expect_eq(sharena_value_read(a, bytes, NULL, 0, &x), 0);
    cr_expect_eq(x.type, SHARENA_T_BYTES);
    cr_expect_eq(sharena_value_read(a, n, NULL, 0, NULL), SHARENA_EINVAL);
    cr_expect_eq(sharena_value_read(a, n, NULL, 4, &x), SHARENA_EINVAL);
    cr_expect_eq(sharena_drop(a, n, 0), 0);
    cr_expect_eq(sharena_value_read(a, n, NULL, 0, &x), SHARENA_ESTALE);
    cr_expect_eq(sharena_value_read(a, sharena__id_make(60000, 0), NULL, 0, &x),
                 SHARENA_ENOENT);
    sharena_arena_close(a);
}

Test(reads, map_and_vector_get_value)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("reads", 1 << 20, &a), 0);
    sharena_id m, v, x, y;
    cr_assert_eq(sharena_map_new(a, &m), 0);
    cr_assert_eq(sharena_vector_new(a, &v), 0);
    cr_assert_eq(sharena_map_set_number(a, m, "n", 1, 7), 0);
    cr_assert_eq(sharena_map_set_string(a, m, "s", 1, "text", 4), 0);
    cr_assert_eq(sharena_string_new(a, "item", 4, &x), 0);
    cr_assert_eq(sharena_vector_push(a, v, x, SHARENA_OWNED), 0);
    sharena_value val;
    char buf[16];
    cr_expect_eq(sharena_map_get_value(a, m, "n", 1, NULL, 0, &val), 0);
    cr_expect(val.type == SHARENA_T_NUMBER && val.number == 7);
    cr_expect_eq(sharena_map_get_value(a, m, "s", 1, buf, sizeof buf, &val), 0);
    cr_expect_str_eq(buf, "text");
    cr_expect_eq(sharena_map_get_value(a, m, "none", 4, buf, sizeof buf, &val),
                 SHARENA_ENOENT);
    cr_expect_eq(sharena_vector_get_value(a, v, 0, buf, sizeof buf, &val), 0);
    cr_expect(val.type == SHARENA_T_STRING && val.id == x);
    cr_expect_str_eq(buf, "item");
    cr_expect_eq(sharena_vector_get_value(a, v, 1, buf, sizeof buf, &val),
                 SHARENA_ERANGE);
    cr_expect_eq(val.type, 0, "past the end: no type");
    cr_expect_eq(sharena_vector_get_value(a, m, 0, buf, sizeof buf, &val),
                 SHARENA_ETYPE);
    /* a dangling entry (a reference the user dropped) is ESTALE */
    cr_assert_eq(sharena_number_new(a, 1, &y), 0);
    cr_assert_eq(sharena_map_set(a, m, "ref", 3, y, 0, NULL), 0);
    cr_assert_eq(sharena_drop(a, y, 0), 0);
    cr_expect_eq(sharena_map_get_value(a, m, "ref", 3, NULL, 0, &val),
                 SHARENA_ESTALE);
    /* a dropped map is ESTALE too */
    cr_assert_eq(sharena_drop(a, m, 0), 0);
    cr_expect_eq(sharena_map_get_value(a, m, "n", 1, NULL, 0, &val),
                 SHARENA_ESTALE);
    sharena_arena_close(a);
}

/* ---- every read path against a concurrent writer ------------------------- */

#define KEYS 16
static const char *const texts[] = {
    "a", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
    "ccccccccccccccccccccccccccccccccccccccccccc"
    "ccccccccccccccccccccccccccccccccccccccccccc"
    "cccccccccccccccccccccccccccccc"};

static bool is_text(const char *s)
{
    for (unsigned i = 0; i < 3; i++)
        if (strcmp(s, texts[i]) == 0)
            return true;
    return false;
}

/* The writer: replaces values (number <-> string <-> map, so slots are
 * reused by other types), removes and re-adds keys (the table grows and is
 * rebuilt), pushes and pops (dropping what it pops), sets the string and
 * the struct's fields, until killed. */
static void race_writer(sharena_arena *a, sharena_id m, sharena_id v,
                        sharena_id s, sharena_id st)
{
    for (unsigned i = 0;; i++) {
        char k[16];
        int n = sprintf(k, "k%u", i % KEYS);
        switch (i % 7) {
        case 0:
            sharena_map_set_number(a, m, k, (size_t)n, i);
            break;
        case 1:
            sharena_map_set_string(a, m, k, (size_t)n, texts[i % 3],
                                   strlen(texts[i % 3]));
            break;
        case 2: {
            sharena_id t;
            if (sharena_map_new(a, &t) == 0 &&
                sharena_map_set(a, m, k, (size_t)n, t, SHARENA_OWNED, NULL))
                sharena_drop(a, t, 0);
            break;
        }
        case 3:
            sharena_map_remove(a, m, k, (size_t)n, NULL);
            break;
        case 4: {
            sharena_id x;
            if (sharena_number_new(a, i, &x) == 0 &&
                sharena_vector_push(a, v, x, SHARENA_OWNED))
                sharena_drop(a, x, 0);
            break;
        }
        case 5: {
            sharena_id x;
            if (sharena_vector_pop(a, v, &x) == 0)
                sharena_drop(a, x, 0);
            break;
        }
        default:
            sharena_string_set(a, s, texts[i % 3], strlen(texts[i % 3]));
            sharena_struct_set_number(a, st, 0, i);
            sharena_struct_set_string(a, st, 1, texts[i % 3],
                                      strlen(texts[i % 3]));
            break;
        }
    }
}

/* One read of each path; returns 0 or the error no live arena explains. */
static int race_read(sharena_arena *a, unsigned i, sharena_id m, sharena_id v,
                     sharena_id s, sharena_id st, sharena_id b)
{
    char k[16], buf[256];
    int n = sprintf(k, "k%u", i % KEYS);
    sharena_value val;
    sharena_id x;
    size_t len;
    uint64_t u;
    double d;
    int r;
    switch (i % 10) {
    case 0:
        r = sharena_map_get_value(a, m, k, (size_t)n, buf, sizeof buf, &val);
        if (r == 0 && val.type == SHARENA_T_STRING && !is_text(buf))
            return SHARENA_ECORRUPT; /* torn */
        return r == SHARENA_ENOENT ? 0 : r;
    case 1:
        r = sharena_map_get(a, m, k, (size_t)n, &x);
        /* a value stored in the entry has no id, and a read-only handle
         * cannot give it one: the documented answer */
        if (r == SHARENA_EROFS && sharena_arena_readonly(a))
            r = 0;
        return r == SHARENA_ENOENT ? 0 : r;
    case 2:
        return sharena_map_len(a, m, &u);
    case 3: {
        uint64_t cur = 0;
        for (int j = 0; j < 4 * KEYS; j++) {
            char key[256];
            r = sharena_map_next_value(a, m, &cur, key, sizeof key, &len, buf,
                                       sizeof buf, &val);
            if (r == SHARENA_ENOENT)
                return 0;
            if (r < 0)
                return r;
            if (val.type == SHARENA_T_STRING && !is_text(buf))
                return SHARENA_ECORRUPT; /* torn */
        }
        return 0;
    }
    case 4:
        r = sharena_vector_len(a, v, &u);
        if (r == 0)
            r = sharena_vector_get_value(a, v, i % 8, NULL, 0, &val);
        if (r == 0 && val.type != SHARENA_T_NUMBER)
            return SHARENA_ETYPE;
        return r == SHARENA_ERANGE ? 0 : r;
    case 5:
        r = sharena_vector_get(a, v, i % 8, &x, NULL);
        return r == SHARENA_ERANGE ? 0 : r;
    case 6:
        r = sharena_string_get(a, s, buf, sizeof buf, &len);
        if (r == 0 && !is_text(buf))
            return SHARENA_ECORRUPT;
        return r;
    case 7:
        return sharena_struct_get_number(a, st, 0, &d);
    case 8:
        r = sharena_struct_get_string(a, st, 1, buf, sizeof buf, &len);
        if (r == 0 && !is_text(buf))
            return SHARENA_ECORRUPT;
        return r;
    default:
        return sharena_bytes_read(a, b, 0, buf, 8);
    }
}

static void race(bool readonly)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("reads", 8 << 20, &a), 0);
    sharena_id m, v, s, st, b, shape;
    cr_assert_eq(sharena_map_new(a, &m), 0);
    cr_assert_eq(sharena_vector_new(a, &v), 0);
    cr_assert_eq(sharena_string_new(a, "a", 1, &s), 0);
    cr_assert_eq(sharena_bytes_new(a, 64, &b), 0);
    sharena_field_def f[] = {{"n", SHARENA_T_NUMBER, 0},
                             {"s", SHARENA_T_STRING, 0}};
    cr_assert_eq(sharena_shape_new(a, f, 2, &shape), 0);
    cr_assert_eq(sharena_struct_new(a, shape, &st), 0);
    cr_assert_eq(sharena_struct_set_string(a, st, 1, "a", 1), 0);
    pid_t w = fork();
    cr_assert_neq(w, -1);
    if (w == 0) {
        race_writer(a, m, v, s, st);
        _exit(0);
    }
    sharena_arena *r = a;
    if (readonly) {
        char path[64];
        sprintf(path, "/proc/self/fd/%d", sharena_arena_fd(a));
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        cr_assert_geq(fd, 0);
        cr_assert_eq(sharena_arena_from_fd(fd, SHARENA_READONLY, &r), 0);
        close(fd);
    }
    unsigned errors = 0, reads = 0;
    double end = test_now_s() + 2;
    for (unsigned i = 0; test_now_s() < end; i++, reads++) {
        int e = race_read(r, i, m, v, s, st, b);
        if (e < 0 && errors++ < 10)
            cr_log_error("read %u (path %u): %s", i, i % 10,
                         sharena_errname(e));
    }
    kill(w, SIGKILL);
    waitpid(w, NULL, 0);
    cr_expect_eq(errors, 0, "%u of %u racing reads failed", errors, reads);
    sharena_fsck_report rep;
    cr_expect_eq(sharena_fsck(a, 0, NULL, NULL, &rep), 0);
    if (r != a)
        sharena_arena_close(r);
    sharena_arena_close(a);
}

Test(reads, every_path_races_a_writer, .timeout = 60)
{
    race(false);
}

Test(reads, every_path_races_a_writer_read_only, .timeout = 60)
{
    race(true);
}

/* ---- a repair is a write ------------------------------------------------- */

/* A writer that dies holding a map's lock with its counter even (between
 * taking the lock and opening its write, or after closing it) leaves a
 * table the next locker rebuilds in place: the rebuild opens the counter
 * like any write, so a reader retries instead of missing keys. The counter
 * moves by 2 for the repair and 2 for the write that found it. */
Test(reads, repair_moves_the_counter_when_left_even, .timeout = 30)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("reads", 1 << 20, &a), 0);
    sharena_id m, x;
    cr_assert_eq(sharena_map_new(a, &m), 0);
    cr_assert_eq(sharena_map_set_number(a, m, "k", 1, 1), 0);
    uint64_t v0, v1;
    cr_assert_eq(sharena_change_count(a, m, &v0), 0);
    pid_t c = fork();
    if (c == 0)
        _exit(sharena_lock(a, m) == 0 ? 0 : 1); /* dies holding it */
    int st;
    cr_assert_eq(waitpid(c, &st, 0), c);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_eq(sharena_change_count(a, m, &v1), 0);
    cr_expect_eq(v1, v0, "the dead locker wrote nothing");
    cr_assert_eq(sharena_map_set_number(a, m, "j", 1, 2), 0);
    cr_assert_eq(sharena_change_count(a, m, &v1), 0);
    cr_expect_eq(v1, v0 + 4,
                 "repair and write each moved the counter by 2 "
                 "(moved by %lu)",
                 (unsigned long)(v1 - v0));
    cr_expect_eq(sharena_map_get(a, m, "k", 1, &x), 0);
    sharena_arena_close(a);
}

/* ---- EBUSY: a writer stopped on purpose ---------------------------------- */

/* An arena with a map {"before": 1}, and a read-only handle of it. */
static void map_with_before(sharena_arena **a, sharena_arena **ro,
                            sharena_id *m)
{
    cr_assert_eq(sharena_arena_create("reads", 1 << 20, a), 0);
    cr_assert_eq(sharena_map_new(*a, m), 0);
    cr_assert_eq(sharena_map_set_number(*a, *m, "before", 6, 1), 0);
    char path[64];
    sprintf(path, "/proc/self/fd/%d", sharena_arena_fd(*a));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    cr_assert_eq(sharena_arena_from_fd(fd, SHARENA_READONLY, ro), 0);
    close(fd);
}

static void stop_at(const char *point)
{
    if (strcmp(point, "map:key-allocated") == 0)
        raise(SIGSTOP);
}

/* A live writer stopped (SIGSTOP) in the middle of an insert keeps the
 * map's lock and its counter odd: a read cannot wait for it forever and
 * gives up with EBUSY (writable and read-only handles alike; the writable
 * one does not take a live owner's lock). When the writer goes on, the
 * same reads succeed and see its insert. */
Test(reads, stopped_writer_gives_ebusy_then_values, .timeout = 60)
{
    sharena_arena *a, *ro;
    sharena_id m, x;
    map_with_before(&a, &ro, &m);
    pid_t c = fork();
    if (c == 0) {
        sharena__hook = stop_at;
        _exit(sharena_map_set_number(a, m, "during", 6, 2) == 0 ? 0 : 1);
    }
    int st;
    cr_assert_eq(waitpid(c, &st, WUNTRACED), c);
    cr_assert(WIFSTOPPED(st), "the writer stopped inside its insert");
    sharena_value v;
    uint64_t n;
    cr_expect_eq(sharena_map_get(a, m, "before", 6, &x), SHARENA_EBUSY);
    cr_expect_eq(sharena_map_get_value(a, m, "before", 6, NULL, 0, &v),
                 SHARENA_EBUSY);
    cr_expect_eq(sharena_map_len(ro, m, &n), SHARENA_EBUSY);
    cr_expect_eq(sharena_map_get_value(ro, m, "before", 6, NULL, 0, &v),
                 SHARENA_EBUSY);
    kill(c, SIGCONT);
    cr_assert_eq(waitpid(c, &st, 0), c);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the insert finished");
    cr_expect_eq(sharena_map_get_value(a, m, "during", 6, NULL, 0, &v), 0);
    cr_expect_eq(v.number, 2);
    cr_expect_eq(sharena_map_get_value(ro, m, "before", 6, NULL, 0, &v), 0);
    cr_expect_eq(v.number, 1);
    sharena_arena_close(ro);
    sharena_arena_close(a);
}

/* ---- no EBUSY for a writer that is only slow, or already dead ------------ */

static int slow_pipe = -1;

/* In the middle of an insert (the map's counter odd): tell the parent, then
 * stay there for 2.5 s, first running (a writer preempted on a busy machine
 * looks the same to a reader: state R), then sleeping (waiting for the
 * arena lock: state S). */
static void slow_at(const char *point)
{
    if (strcmp(point, "map:key-allocated") != 0)
        return;
    if (write(slow_pipe, "x", 1) != 1)
        _exit(3);
    double end = test_now_s() + 1.25;
    while (test_now_s() < end)
        ;
    struct timespec ts = {1, 250 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* A writer that stays in the middle of a write for longer than a read's
 * one-second rule, but is alive and not stopped, is waited for: the reads
 * (writable and read-only) answer the values, never EBUSY. */
Test(reads, slow_writer_is_waited_for, .timeout = 60)
{
    sharena_arena *a, *ro;
    sharena_id m;
    map_with_before(&a, &ro, &m);
    for (int round = 0; round < 2; round++) {
        int p[2];
        cr_assert_eq(pipe(p), 0);
        pid_t c = fork();
        if (c == 0) {
            close(p[0]);
            slow_pipe = p[1];
            sharena__hook = slow_at;
            char k[16];
            sprintf(k, "during%d", round);
            _exit(sharena_map_set_number(a, m, k, strlen(k), 2) == 0 ? 0 : 1);
        }
        close(p[1]);
        char b;
        cr_assert_eq(read(p[0], &b, 1), 1, "the writer is inside its insert");
        close(p[0]);
        sharena_value v;
        sharena_arena *h = round ? ro : a;
        int r = sharena_map_get_value(h, m, "before", 6, NULL, 0, &v);
        cr_expect_eq(r, 0, "%s handle: %s", round ? "read-only" : "writable",
                     sharena_errname(r));
        cr_expect_eq(v.number, 1);
        int st;
        cr_assert_eq(waitpid(c, &st, 0), c);
        cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the insert finished");
    }
    sharena_arena_close(ro);
    sharena_arena_close(a);
}

static void die_at(const char *point)
{
    if (strcmp(point, "map:key-allocated") == 0)
        raise(SIGKILL);
}

/* A writer killed in the middle of a write whose parent has not reaped it
 * yet (a zombie) runs no code any more: its lock is taken over at once and
 * the object repaired, so a read answers the values, never EBUSY. */
Test(reads, killed_unreaped_writer_is_gone, .timeout = 60)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("reads", 1 << 20, &a), 0);
    sharena_id m;
    cr_assert_eq(sharena_map_new(a, &m), 0);
    cr_assert_eq(sharena_map_set_number(a, m, "before", 6, 1), 0);
    pid_t c = fork();
    if (c == 0) {
        sharena__hook = die_at;
        _exit(sharena_map_set_number(a, m, "during", 6, 2) == 0 ? 0 : 1);
    }
    siginfo_t si;
    cr_assert_eq(waitid(P_PID, (id_t)c, &si, WEXITED | WNOWAIT), 0);
    cr_assert_eq(si.si_code, CLD_KILLED, "the writer died inside its insert");
    cr_expect_eq(sharena__pid_state(c), 'Z', "it is a zombie until reaped");
    sharena_value v;
    int r = sharena_map_get_value(a, m, "before", 6, NULL, 0, &v);
    cr_expect_eq(r, 0, "%s", sharena_errname(r));
    cr_expect_eq(v.number, 1);
    uint64_t n;
    cr_expect_eq(sharena_map_len(a, m, &n), 0);
    cr_expect_eq(n, 1, "the unfinished insert is not in the map");
    cr_assert_eq(waitpid(c, NULL, 0), c);
    sharena_arena_close(a);
}
