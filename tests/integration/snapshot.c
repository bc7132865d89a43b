/* Snapshots (issue 18, "Snapshots and restore"): sharena_save() and
 * sharena_load() through a real sharenad. Every value type survives a round
 * trip; a writer running during a save only waits and the image holds a
 * consistent state; a truncated image, a flipped bit, a foreign version and
 * a hostile image with a valid checksum are each refused, and no arena is
 * left behind. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker_fixture.h"
#include "internal.h"
#include "layout.h"
#include "sharena.h"

static struct test_broker B;
static char img[128];

static void up(void)
{
    cr_assert_eq(test_broker_start(&B, NULL), 0);
    snprintf(img, sizeof img, "%s/a.img", B.dir);
}
static void down(void)
{
    unlink(img);
    cr_expect_eq(test_broker_stop(&B), 0, "broker exited uncleanly");
}

static sharena_conn *conn(void)
{
    sharena_conn *c;
    int r = sharena_connect(B.socket, &c);
    cr_assert_eq(r, 0, "connect: %s", sharena_strerror(r));
    return c;
}

static sharena_arena *make(sharena_conn *c, const char *name, uint64_t cap)
{
    sharena_open_opts o = {.flags = SHARENA_CREATE | SHARENA_EXCL,
                           .capacity = cap};
    sharena_arena *a;
    int r = sharena_open(c, name, &o, &a);
    cr_assert_eq(r, 0, "open %s: %s", name, sharena_strerror(r));
    return a;
}

#define OK(x)                                                                  \
    do {                                                                       \
        int r_ = (x);                                                          \
        cr_assert_eq(r_, 0, "%s: %s", #x, sharena_strerror(r_));               \
    } while (0)

/* a little of everything, under roots */
static void fill(sharena_arena *a)
{
    sharena_id id, m, v, sh, st, s;
    OK(sharena_number_new(a, 42.5, &id));
    OK(sharena_root_set(a, "num", id, SHARENA_OWNED));
    OK(sharena_bool_new(a, true, &id));
    OK(sharena_root_set(a, "flag", id, SHARENA_OWNED));
    OK(sharena_string_new(a, "héllo", strlen("héllo"), &id));
    OK(sharena_root_set(a, "str", id, SHARENA_OWNED));
    OK(sharena_bytes_new(a, 100000, &id));
    uint8_t pat[100000];
    for (size_t i = 0; i < sizeof pat; i++)
        pat[i] = (uint8_t)(i * 7 + 3);
    OK(sharena_bytes_write(a, id, 0, pat, sizeof pat));
    OK(sharena_root_set(a, "bytes", id, SHARENA_OWNED));
    OK(sharena_map_new(a, &m));
    for (int i = 0; i < 100; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        OK(sharena_map_set_number(a, m, k, strlen(k), i));
    }
    OK(sharena_vector_new(a, &v));
    OK(sharena_string_new(a, "inner", 5, &s));
    OK(sharena_vector_push(a, v, s, SHARENA_OWNED));
    OK(sharena_map_set(a, m, "vec", 3, v, SHARENA_OWNED, NULL));
    OK(sharena_map_set_null(a, m, "none", 4));
    OK(sharena_null_new(a, &id));
    OK(sharena_vector_push(a, v, id, SHARENA_OWNED));
    OK(sharena_root_set(a, "map", m, SHARENA_OWNED));
    OK(sharena_null_new(a, &id));
    OK(sharena_root_set(a, "nul", id, SHARENA_OWNED));
    sharena_field_def f[] = {
        {"x", SHARENA_T_NUMBER, 0, 0},
        {"ok", SHARENA_T_BOOL, 0, 0},
        {"label", SHARENA_T_STRING, 0, 0},
        {"opt", SHARENA_T_NUMBER, 0, SHARENA_FIELD_NULLABLE},
        {"was", SHARENA_T_STRING, 0, SHARENA_FIELD_NULLABLE}};
    OK(sharena_shape_new(a, f, 5, &sh));
    OK(sharena_root_set(a, "shape", sh, SHARENA_OWNED));
    OK(sharena_struct_new(a, sh, &st));
    OK(sharena_struct_set_number(a, st, 0, -7.25));
    OK(sharena_struct_set_bool(a, st, 1, true));
    OK(sharena_struct_set_string(a, st, 2, "lbl", 3));
    OK(sharena_struct_set_string(a, st, 4, "w", 1));
    OK(sharena_root_set(a, "st", st, SHARENA_OWNED));
}

static void check(sharena_arena *a)
{
    sharena_id id, m, v, st, s;
    double d;
    bool b;
    char buf[64];
    size_t len;
    OK(sharena_root_get(a, "num", &id));
    OK(sharena_number_get(a, id, &d));
    cr_assert_eq(d, 42.5);
    OK(sharena_root_get(a, "flag", &id));
    OK(sharena_bool_get(a, id, &b));
    cr_assert(b);
    OK(sharena_root_get(a, "str", &id));
    OK(sharena_string_get(a, id, buf, sizeof buf, &len));
    cr_assert_str_eq(buf, "héllo");
    OK(sharena_root_get(a, "bytes", &id));
    static uint8_t got[100000];
    OK(sharena_bytes_read(a, id, 0, got, sizeof got));
    for (size_t i = 0; i < sizeof got; i++)
        cr_assert_eq(got[i], (uint8_t)(i * 7 + 3), "byte %zu", i);
    OK(sharena_root_get(a, "map", &m));
    uint64_t n;
    OK(sharena_map_len(a, m, &n));
    cr_assert_eq(n, 102);
    sharena_value val;
    OK(sharena_map_get_value(a, m, "none", 4, NULL, 0, &val));
    cr_assert_eq(val.type, SHARENA_T_NULL);
    OK(sharena_root_get(a, "nul", &id));
    cr_assert_eq(sharena_type_of(a, id), SHARENA_T_NULL);
    OK(sharena_map_get(a, m, "k77", 3, &id));
    OK(sharena_number_get(a, id, &d));
    cr_assert_eq(d, 77);
    OK(sharena_map_get(a, m, "vec", 3, &v));
    OK(sharena_vector_get(a, v, 0, &s, NULL));
    OK(sharena_string_get(a, s, buf, sizeof buf, &len));
    cr_assert_str_eq(buf, "inner");
    OK(sharena_vector_get_value(a, v, 1, NULL, 0, &val));
    cr_assert_eq(val.type, SHARENA_T_NULL);
    OK(sharena_root_get(a, "st", &st));
    OK(sharena_struct_get_number(a, st, 0, &d));
    cr_assert_eq(d, -7.25);
    OK(sharena_struct_get_bool(a, st, 1, &b));
    cr_assert(b);
    OK(sharena_struct_get_string(a, st, 2, buf, sizeof buf, &len));
    cr_assert_str_eq(buf, "lbl");
    OK(sharena_struct_get_value(a, st, 3, NULL, 0, &val));
    cr_assert_eq(val.type, SHARENA_T_NULL, "nullable field stays null");
    OK(sharena_struct_get_value(a, st, 4, buf, sizeof buf, &val));
    cr_assert_eq(val.type, SHARENA_T_STRING);
    cr_assert_str_eq(buf, "w");
    size_t idx;
    OK(sharena_shape_find(a, st, "label", 5, &idx));
    cr_assert_eq(idx, 2);
}

static bool exists(sharena_conn *c, const char *name)
{
    sharena_arena_stat st;
    return sharena_stat(c, name, &st) == 0;
}

static uint64_t file_size(const char *p)
{
    struct stat st;
    cr_assert_eq(stat(p, &st), 0);
    return (uint64_t)st.st_size;
}

TestSuite(snapshot, .init = up, .fini = down, .timeout = 120);

Test(snapshot, round_trip_every_type)
{
    sharena_conn *c = conn();
    sharena_arena *a = make(c, "src", 64 << 20);
    fill(a);
    sharena_save_info info;
    OK(sharena_save(a, img, &info));
    /* sparse: 64 MiB of capacity, a few hundred KiB written */
    cr_assert_lt(file_size(img), 4u << 20, "image of %llu bytes",
                 (unsigned long long)file_size(img));
    cr_assert_eq(info.image_bytes, file_size(img));
    sharena_arena *b;
    OK(sharena_load(c, img, "copy", NULL, &b));
    check(b);
    /* and it is writable (its lock words are free), apart from the source */
    sharena_id id;
    double d;
    OK(sharena_root_get(b, "flag", &id));
    OK(sharena_bool_set(b, id, false));
    OK(sharena_root_get(a, "flag", &id));
    bool fl;
    OK(sharena_bool_get(a, id, &fl));
    cr_assert(fl);
    OK(sharena_bool_set(b, id, true));
    (void)d;
    cr_assert_str_eq(sharena_arena_name(b), "copy");
    sharena_fsck_report rep;
    OK(sharena_fsck(b, 0, NULL, NULL, &rep));
    cr_assert_eq(rep.errors, 0);
    /* the name is taken now: EEXIST, and the arena stays as it is */
    cr_assert_eq(sharena_load(c, img, "copy", NULL, NULL), SHARENA_EEXIST);
    check(b);
    sharena_arena_close(b);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

/* A writer fills a 1 MiB bytes object with one byte value after another,
 * each fill one write; every save taken while it runs must hold a buffer of
 * one value (a torn write would mix two). */
#define BIG (1u << 20)
struct writer {
    sharena_arena *a;
    sharena_id buf;
    volatile bool stop;
    volatile unsigned long writes;
};
static void *write_loop(void *p)
{
    struct writer *w = p;
    uint8_t *src = malloc(BIG);
    while (!w->stop) {
        memset(src, (int)(w->writes % 251) + 1, BIG);
        OK(sharena_bytes_write(w->a, w->buf, 0, src, BIG));
        w->writes++;
    }
    free(src);
    return NULL;
}

Test(snapshot, writer_during_save_waits_and_image_is_consistent)
{
    sharena_conn *c = conn();
    sharena_arena *a = make(c, "busy", 16 << 20);
    struct writer w = {.a = a};
    OK(sharena_bytes_new(a, BIG, &w.buf));
    OK(sharena_root_set(a, "buf", w.buf, SHARENA_OWNED));
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, write_loop, &w), 0);
    uint8_t *got = malloc(BIG);
    for (int i = 0; i < 10; i++) {
        unsigned long before = w.writes;
        while (w.writes == before)
            usleep(100);
        OK(sharena_save(a, img, NULL));
        char name[16];
        snprintf(name, sizeof name, "busy%d", i);
        sharena_arena *b;
        OK(sharena_load(c, img, name, NULL, &b));
        sharena_id id;
        OK(sharena_root_get(b, "buf", &id));
        OK(sharena_bytes_read(b, id, 0, got, BIG));
        for (size_t j = 1; j < BIG; j++)
            cr_assert_eq(got[j], got[0], "save %d: torn at byte %zu", i, j);
        sharena_arena_close(b);
        OK(sharena_delete(c, name));
    }
    unsigned long at_end = w.writes;
    while (w.writes < at_end + 3) /* the writer goes on afterwards */
        usleep(100);
    w.stop = true;
    pthread_join(t, NULL);
    free(got);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

static void save_small(sharena_conn *c)
{
    sharena_arena *a = make(c, "small", 1 << 20);
    fill(a);
    OK(sharena_save(a, img, NULL));
    sharena_arena_close(a);
}

static void refused(sharena_conn *c, int want, const char *what)
{
    int r = sharena_load(c, img, "bad", NULL, NULL);
    cr_assert_eq(r, want, "%s: got %s (%s)", what, sharena_errname(r),
                 sharena_snapshot_message());
    cr_assert_neq(sharena_snapshot_message()[0], 0, "%s: no message", what);
    cr_assert(!exists(c, "bad"), "%s: an arena was left behind", what);
}

static void rewrite(size_t off, const void *p, size_t n)
{
    int fd = open(img, O_WRONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pwrite(fd, p, n, (off_t)off), (ssize_t)n);
    close(fd);
}

Test(snapshot, truncated_image_refused)
{
    sharena_conn *c = conn();
    save_small(c);
    uint64_t n = file_size(img);
    uint64_t cuts[] = {0, 64, 128, 200, n / 2, n - 33, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        cr_assert_eq(truncate(img, (off_t)cuts[i]), 0);
        refused(c, SHARENA_ECORRUPT, "truncated");
        OK(sharena_delete(c, "small"));
        save_small(c);
    }
    sharena_disconnect(c);
}

Test(snapshot, flipped_bit_refused)
{
    sharena_conn *c = conn();
    save_small(c);
    uint64_t n = file_size(img);
    /* a bit in the body, one in the header, one in the trailer */
    uint64_t at[] = {128 + 16 + 5000, 40, n - 10};
    for (size_t i = 0; i < 3; i++) {
        int fd = open(img, O_RDWR);
        uint8_t byte;
        cr_assert_eq(pread(fd, &byte, 1, (off_t)at[i]), 1);
        byte ^= 0x10;
        cr_assert_eq(pwrite(fd, &byte, 1, (off_t)at[i]), 1);
        close(fd);
        refused(c, SHARENA_ECORRUPT, "flipped bit");
        byte ^= 0x10;
        rewrite(at[i], &byte, 1);
    }
    /* restored, it loads */
    OK(sharena_load(c, img, "good", NULL, NULL));
    cr_assert(exists(c, "good"));
    sharena_disconnect(c);
}

/* The image's header hash, recomputed (the same function as snapshot.c) */
static uint64_t snap_hash(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = (h ^ w) * UINT64_C(0x9e3779b97f4a7c15);
        h ^= h >> 31;
    }
    return h;
}
#define SNAP_SEED UINT64_C(0x736861726e617631)

Test(snapshot, foreign_version_refused)
{
    sharena_conn *c = conn();
    save_small(c);
    uint8_t h[128];
    int fd = open(img, O_RDONLY);
    cr_assert_eq(pread(fd, h, 128, 0), 128);
    close(fd);
    /* arena format version + 1, with a valid header hash */
    uint32_t v;
    memcpy(&v, h + 16, 4);
    v++;
    memcpy(h + 16, &v, 4);
    uint64_t hh = snap_hash(SNAP_SEED, h, 120);
    memcpy(h + 120, &hh, 8);
    rewrite(0, h, 128);
    refused(c, SHARENA_ELAYOUT, "arena format version");
    /* image version 2 */
    v--;
    memcpy(h + 16, &v, 4);
    uint32_t iv = 2;
    memcpy(h + 8, &iv, 4);
    hh = snap_hash(SNAP_SEED, h, 120);
    memcpy(h + 120, &hh, 8);
    rewrite(0, h, 128);
    refused(c, SHARENA_ELAYOUT, "image version");
    sharena_disconnect(c);
}

/* A checksum-valid image whose arena is damaged: the roots id points past
 * the handle table. The body hash is made again over the edited body. */
Test(snapshot, hostile_image_refused_by_fsck)
{
    sharena_conn *c = conn();
    save_small(c);
    uint64_t n = file_size(img);
    uint8_t *f = malloc(n);
    int fd = open(img, O_RDONLY);
    cr_assert_eq(pread(fd, f, n, 0), (ssize_t)n);
    close(fd);
    /* first run: offset 0, the arena header at image offset 128 + 16 */
    uint64_t off0;
    memcpy(&off0, f + 128, 8);
    cr_assert_eq(off0, 0);
    struct sharena__header *ah = (struct sharena__header *)(f + 144);
    ah->used_bytes += 4096; /* accounting that does not add up */
    uint64_t body = n - 128 - 32;
    uint64_t bh = snap_hash(SNAP_SEED, f + 128, body);
    memcpy(f + n - 32 + 16, &bh, 8);
    fd = open(img, O_WRONLY | O_TRUNC);
    cr_assert_eq(write(fd, f, n), (ssize_t)n);
    close(fd);
    free(f);
    int r = sharena_load(c, img, "bad", NULL, NULL);
    cr_assert_eq(r, SHARENA_ECORRUPT, "got %s", sharena_errname(r));
    cr_assert(strstr(sharena_snapshot_message(), "fsck"), "%s",
              sharena_snapshot_message());
    cr_assert(!exists(c, "bad"));
    sharena_disconnect(c);
}

Test(snapshot, not_an_image_refused)
{
    sharena_conn *c = conn();
    int fd = open(img, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const char junk[200] = "{\"not\": \"an image\"}";
    cr_assert_eq(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
    close(fd);
    refused(c, SHARENA_ECORRUPT, "junk");
    sharena_disconnect(c);
}

/* Random damage with a valid checksum (the hash made again): every load
 * either gives an arena that checks clean or is refused with nothing left;
 * none crashes or hangs. Fixed seed: a failure is reproducible. */
Test(snapshot, random_damage_with_valid_checksum)
{
    sharena_conn *c = conn();
    save_small(c);
    uint64_t n = file_size(img);
    uint8_t *orig = malloc(n), *f = malloc(n);
    int fd = open(img, O_RDONLY);
    cr_assert_eq(pread(fd, orig, n, 0), (ssize_t)n);
    close(fd);
    unsigned seed = 18;
    int loaded = 0, refused_n = 0;
    for (int i = 0; i < 150; i++) {
        memcpy(f, orig, n);
        int flips = 1 + rand_r(&seed) % 8;
        for (int k = 0; k < flips; k++) {
            /* mostly the arena header and the handle table (the first
             * pages), sometimes anywhere in the body */
            uint64_t span = rand_r(&seed) % 2 ? 20000 : n - 128 - 32;
            if (span > n - 128 - 32)
                span = n - 128 - 32;
            uint64_t at = 128 + (uint64_t)rand_r(&seed) % span;
            f[at] ^= (uint8_t)(1u << (rand_r(&seed) % 8));
        }
        uint64_t bh = snap_hash(SNAP_SEED, f + 128, n - 128 - 32);
        memcpy(f + n - 32 + 16, &bh, 8);
        fd = open(img, O_WRONLY | O_TRUNC);
        cr_assert_eq(write(fd, f, n), (ssize_t)n);
        close(fd);
        sharena_arena *b = NULL;
        int r = sharena_load(c, img, "rnd", NULL, &b);
        if (r == 0) {
            sharena_fsck_report rep;
            cr_assert_eq(sharena_fsck(b, 0, NULL, NULL, &rep), 0,
                         "iteration %d: loaded but fsck fails", i);
            sharena_id roots;
            cr_assert_eq(sharena_roots(b, &roots), 0);
            sharena_arena_close(b);
            OK(sharena_delete(c, "rnd"));
            loaded++;
        } else {
            cr_assert(!exists(c, "rnd"), "iteration %d: %s left an arena", i,
                      sharena_errname(r));
            refused_n++;
        }
    }
    cr_log_info("random damage: %d loaded clean, %d refused", loaded,
                refused_n);
    cr_assert_gt(refused_n, 0);
    free(orig);
    free(f);
    sharena_disconnect(c);
}

/* The writer is another process, with its own broker connection: it waits
 * for the barrier like a thread of the saver does, and every image holds
 * one whole write. It stops when root "stop" becomes true. */
Test(snapshot, writer_in_another_process)
{
    sharena_conn *c = conn();
    sharena_arena *a = make(c, "xproc", 16 << 20);
    sharena_id buf, stop, count;
    OK(sharena_bytes_new(a, BIG, &buf));
    OK(sharena_root_set(a, "buf", buf, SHARENA_OWNED));
    OK(sharena_bool_new(a, false, &stop));
    OK(sharena_root_set(a, "stop", stop, SHARENA_OWNED));
    OK(sharena_number_new(a, 0, &count));
    OK(sharena_root_set(a, "count", count, SHARENA_OWNED));
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        /* never outlive a failed test: die with it, and stop after 120 s */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        time_t until = time(NULL) + 120;
        sharena_conn *cc;
        sharena_arena *ca;
        if (sharena_connect(B.socket, &cc) < 0 ||
            sharena_open(cc, "xproc", NULL, &ca) < 0)
            _exit(2);
        uint8_t *src = malloc(BIG);
        bool done = false;
        for (unsigned long i = 0; !done && time(NULL) < until; i++) {
            memset(src, (int)(i % 251) + 1, BIG);
            double d;
            if (sharena_bytes_write(ca, buf, 0, src, BIG) < 0 ||
                sharena_number_add(ca, count, 1, &d) < 0 ||
                sharena_bool_get(ca, stop, &done) < 0)
                _exit(3);
        }
        _exit(0);
    }
    uint8_t *got = malloc(BIG);
    double n0 = 0, n;
    for (int i = 0; i < 8; i++) {
        do { /* the child is writing */
            usleep(200);
            OK(sharena_number_get(a, count, &n));
        } while (n == n0);
        n0 = n;
        OK(sharena_save(a, img, NULL));
        sharena_arena *b;
        OK(sharena_load(c, img, "xcopy", NULL, &b));
        sharena_id id;
        OK(sharena_root_get(b, "buf", &id));
        OK(sharena_bytes_read(b, id, 0, got, BIG));
        for (size_t j = 1; j < BIG; j++)
            cr_assert_eq(got[j], got[0], "save %d: torn at byte %zu", i, j);
        sharena_arena_close(b);
        OK(sharena_delete(c, "xcopy"));
    }
    OK(sharena_bool_set(a, stop, true));
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer status %d", st);
    free(got);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

/* A saver that dies with the barrier up (here: a child that raises it and
 * exits) does not stop writers for good: the first writer that waits sees
 * its owner gone and lifts it. */
Test(snapshot, dead_saver_barrier_is_lifted)
{
    sharena_conn *c = conn();
    sharena_arena *a = make(c, "dead", 1 << 20);
    sharena_id x;
    OK(sharena_number_new(a, 0, &x));
    OK(sharena_root_set(a, "x", x, SHARENA_OWNED));
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        sharena_conn *cc;
        sharena_arena *ca;
        if (sharena_connect(B.socket, &cc) < 0 ||
            sharena_open(cc, "dead", NULL, &ca) < 0 ||
            sharena__barrier_raise(ca) < 0)
            _exit(2);
        (void)!write(p[1], "u", 1);
        _exit(0); /* with the barrier up */
    }
    close(p[1]);
    char ch;
    cr_assert_eq(read(p[0], &ch, 1), 1, "the child did not raise it");
    close(p[0]);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    const struct sharena__header *h = sharena_arena_base(a);
    cr_assert_neq(__atomic_load_n(&h->write_barrier, __ATOMIC_ACQUIRE), 0,
                  "the barrier should still be up");
    /* this write waits until the broker has dropped the child's slot */
    OK(sharena_number_set(a, x, 5));
    double d;
    OK(sharena_number_get(a, x, &d));
    cr_assert_eq(d, 5);
    cr_assert_eq(__atomic_load_n(&h->write_barrier, __ATOMIC_ACQUIRE), 0);
    /* and a save works again */
    OK(sharena_save(a, img, NULL));
    sharena_arena_close(a);
    sharena_disconnect(c);
}
