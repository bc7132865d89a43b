/* storm.c: the kill -9 storm. Writer processes do random inserts, updates,
 * removes, pushes, pops, string sets and drops on shared maps, vectors,
 * numbers and strings, while this driver SIGKILLs a random writer every few
 * milliseconds and restarts it. Writers report each operation's intent and
 * completion over a pipe. Afterwards the driver checks: fsck clean, no lock
 * held, every completed operation's effect present unless a later one
 * overwrote it, and 10,000 fresh operations succeed.
 *
 *   sharena-storm [--seconds N] [--writers N] [--seed N]
 *                 [--socket PATH | --sharenad PATH [--restart]]
 *
 * Without --socket the arena is a local memfd inherited by fork (dead lock
 * owners are found by pid); with --socket every writer connects to the
 * broker there, which recovers its locks when it dies. --sharenad starts a
 * broker of its own on a private socket instead; with --restart that
 * broker goes twice during the storm, first with SIGTERM, then with
 * SIGKILL, and another starts on the same socket each time: writers are
 * also killed while no broker runs (their locks must be recovered by the
 * next broker, which finds them dead), the others go on writing, every
 * name survives (the storm's arena and one more the driver makes before
 * each restart: a new client opens them by name and gets the same memfd
 * and data), new clients meet on the new broker, the kills go on, and the
 * final checks cover every operation completed before, during and after
 * the restarts. $SHARENA_STORM_SECONDS, when
 * set, overrides --seconds (a longer storm under ctest). Exit 0 when every
 * check passes; prints a summary line "N passed, N failed". */
#define _GNU_SOURCE
#include "sharena.h"
#if SHARENA_STORM_FIXTURE
#include "broker_fixture.h"
#endif
#include "../support/test_util.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_WRITERS 16
#define KEYS 48
#define MAXREC (1u << 22)

enum {
    OP_MAP_SET,
    OP_MAP_DEL,
    OP_VEC_PUSH,
    OP_VEC_POP,
    OP_ADD,
    OP_STR,
    OP_TEMP,
    OP__N
};
enum { K_INTENT = 1, K_DONE = 2, K_READERR = 3, K_READS = 4 };
/* K_READERR: a read failed (key = the read kind, value = the error);
 * K_READS: seq more reads completed (every process reports its count). */
enum {
    RD_MAP_GET,
    RD_MAP_ITER,
    RD_MAP_LEN,
    RD_VEC,
    RD_STR,
    RD_COUNTER,
    RD_STABLE,
    RD__N
};
static const char *const rd_names[RD__N] = {
    "map get",    "map iteration", "map len",   "vector get",
    "string get", "counter get",   "stable key"};
#define STABLE_KEYS 8
#define READER_ID 255

struct rec {
    uint8_t writer, kind, op, pad;
    uint32_t key;
    uint64_t seq;
    double value;
    uint64_t pad2;
};
_Static_assert(sizeof(struct rec) == 32, "rec");

static const char *opt_socket;
static const char *arena_name = "storm";
static volatile sig_atomic_t stop_writing; /* SIGTERM: stop after this op */

static void on_sigterm(int sig)
{
    (void)sig;
    stop_writing = 1;
}
static sharena_arena *arena; /* local mode: inherited by fork */

static void die(const char *what, int r)
{
    fprintf(stderr, "storm: %s: %s\n", what, sharena_strerror(r));
    exit(3);
}

static void report(int fd, const struct rec *r)
{
    ssize_t n;
    do
        n = write(fd, r, sizeof *r);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof *r)
        _exit(4);
}

static void keyname(char *buf, int w, uint32_t k)
{
    sprintf(buf, "w%dk%u", w, k);
}

static void strval(char *buf, int w, uint64_t seq)
{
    /* lengths vary so that sets reallocate */
    int len = sprintf(buf, "w%d-s%lu-", w, (unsigned long)seq);
    int pad = (int)(seq % 37);
    memset(buf + len, 'x', (size_t)pad);
    buf[len + pad] = 0;
}


/* ---- reads: by the readers and by every writer between its operations ----
 * Any error is a failure except the answers a live, consistent arena gives
 * a racing reader: ENOENT for a key removed meanwhile and ERANGE for an
 * index popped meanwhile. A value replaced (and dropped) between a lookup
 * and its read is looked up again, as the bindings do. */
static uint64_t reads_done;
static int read_fd = -1;

static void read_failed(int kind, int err)
{
    struct rec rc = {.writer = READER_ID,
                     .kind = K_READERR,
                     .key = (uint32_t)kind,
                     .value = err};
    report(read_fd, &rc);
}

/* The number at @p key of @p map read by value (0 when absent). */
static int read_value_at(sharena_arena *a, sharena_id map, const char *k,
                         double *d)
{
    sharena_value v;
    int r = sharena_map_get_value(a, map, k, strlen(k), NULL, 0, &v);
    if (r == SHARENA_ENOENT)
        return 0;
    if (r == 0 && v.type != SHARENA_T_NUMBER)
        r = SHARENA_ETYPE;
    if (r == 0)
        *d = v.number;
    return r;
}

/* The number at @p key of @p map (0 when absent), in steps: its id, then
 * the number object. A number stored in the entry is given an id by the
 * first step (a write); a read-only handle cannot, and reads it by value,
 * the documented answer (SHARENA_EROFS). */
static int read_number_at(sharena_arena *a, sharena_id map, const char *k,
                          double *d)
{
    sharena_id id;
    int r = sharena_map_get(a, map, k, strlen(k), &id);
    if (r == SHARENA_EROFS && sharena_arena_readonly(a))
        return read_value_at(a, map, k, d);
    for (int tries = 0;; tries++) {
        if (r == SHARENA_ENOENT)
            return 0;
        if (r < 0)
            return r;
        r = sharena_number_get(a, id, d);
        if (r != SHARENA_ESTALE || tries == 1000)
            return r;
        sharena_id now;
        r = sharena_map_get(a, map, k, strlen(k), &now);
        if (r == SHARENA_EROFS && sharena_arena_readonly(a))
            return read_value_at(a, map, k, d);
        if (r == 0 && now == id)
            return SHARENA_ESTALE; /* a dangling entry: never in the storm */
        id = now;
    }
}

static int read_one(sharena_arena *a, int kind, sharena_id map, int nwriters,
                    unsigned *rng)
{
    char k[32], s[256];
    int w = (int)(rand_r(rng) % (unsigned)nwriters);
    double d;
    int r = 0;
    switch (kind) {
    case RD_MAP_GET: {
        keyname(k, w, (uint32_t)(rand_r(rng) % KEYS));
        if (rand_r(rng) % 2) { /* as a binding does it: one call */
            sharena_value v;
            r = sharena_map_get_value(a, map, k, strlen(k), s, sizeof s, &v);
            if (r == 0 && v.type != SHARENA_T_NUMBER)
                r = SHARENA_ETYPE;
            if (r == SHARENA_ENOENT)
                r = 0;
        } else { /* in steps, looking up again on ESTALE */
            r = read_number_at(a, map, k, &d);
        }
        break;
    }
    case RD_STABLE: {
        unsigned i = rand_r(rng) % STABLE_KEYS;
        sprintf(k, "stable%u", i);
        r = read_number_at(a, map, k, &d);
        if (r == 0 && d != i)
            r = SHARENA_ECORRUPT; /* a wrong value is a failure too */
        break;
    }
    case RD_MAP_ITER: {
        uint64_t cur = 0;
        size_t klen;
        sharena_value v;
        int n = 0;
        /* values as stored: never given an id (read-only handles too) */
        while (n++ < 4 * KEYS * MAX_WRITERS &&
               (r = sharena_map_next_value(a, map, &cur, k, sizeof k, &klen, s,
                                           sizeof s, &v)) == 0) {
            if (v.type != SHARENA_T_NUMBER) {
                r = SHARENA_ETYPE;
                break;
            }
        }
        if (r == SHARENA_ENOENT)
            r = 0;
        break;
    }
    case RD_MAP_LEN: {
        uint64_t n;
        r = sharena_map_len(a, map, &n);
        break;
    }
    case RD_VEC: {
        sharena_id vec, x;
        uint64_t len;
        sprintf(k, "vec%d", w);
        if ((r = sharena_root_get(a, k, &vec)) == SHARENA_ENOENT)
            return 0; /* not made yet */
        if (r == 0)
            r = sharena_vector_len(a, vec, &len);
        if (r < 0 || !len)
            break;
        uint64_t i = rand_r(rng) % len;
        if (rand_r(rng) % 2) {
            sharena_value v;
            r = sharena_vector_get_value(a, vec, i, NULL, 0, &v);
            if (r == 0 && v.type != SHARENA_T_NUMBER)
                r = SHARENA_ETYPE;
            if (r == SHARENA_ERANGE)
                r = 0; /* popped meanwhile */
            break;
        }
        for (int tries = 0; tries < 1000; tries++) {
            r = sharena_vector_get(a, vec, i, &x, NULL);
            if (r == 0)
                r = sharena_number_get(a, x, &d);
            if (r != SHARENA_ESTALE)
                break;
            sharena_id now; /* popped and dropped meanwhile? */
            r = sharena_vector_get(a, vec, i, &now, NULL);
            if (r == 0 && now == x) {
                r = SHARENA_ESTALE;
                break;
            }
        }
        if (r == SHARENA_ERANGE)
            r = 0; /* popped meanwhile */
        break;
    }
    case RD_STR: {
        sharena_id str;
        size_t len;
        sprintf(k, "str%d", w);
        if ((r = sharena_root_get(a, k, &str)) == SHARENA_ENOENT)
            return 0;
        if (r == 0)
            r = sharena_string_get(a, str, s, sizeof s, &len);
        break;
    }
    default: {
        sharena_id c;
        if ((r = sharena_root_get(a, "counter", &c)) == SHARENA_ENOENT)
            return 0;
        if (r == 0)
            r = sharena_number_get(a, c, &d);
        break;
    }
    }
    return r;
}

static void read_some(sharena_arena *a, sharena_id map, int nwriters,
                      unsigned *rng, int n)
{
    for (int i = 0; i < n; i++) {
        int kind = (int)(rand_r(rng) % RD__N);
        int r = read_one(a, kind, map, nwriters, rng);
        if (r < 0)
            read_failed(kind, r);
        if (++reads_done % 256 == 0) {
            struct rec rc = {.writer = READER_ID, .kind = K_READS, .seq = 256};
            report(read_fd, &rc);
        }
    }
}

static int opt_writers = 4;

/* A reader process: only reads, until SIGTERM. Odd-numbered readers map
 * the arena read-only (they cannot take a lock: the seqlock alone). */
static void reader(int i, int fd, unsigned seed)
{
    sharena_arena *a = arena;
    sharena_conn *c = NULL;
    int r;
    read_fd = fd;
    signal(SIGTERM, on_sigterm);
    bool ro = i % 2;
#if SHARENA_STORM_BROKER
    if (opt_socket) {
        sharena_open_opts oo = {.flags = ro ? SHARENA_READONLY : 0};
        if ((r = sharena_connect(opt_socket, &c)) < 0)
            die("reader connect", r);
        if ((r = sharena_open(c, arena_name, &oo, &a)) < 0)
            die("reader open", r);
    } else
#endif
        if (ro) {
        char path[64];
        sprintf(path, "/proc/self/fd/%d", sharena_arena_fd(arena));
        int rfd = open(path, O_RDONLY | O_CLOEXEC);
        if (rfd < 0 ||
            (r = sharena_arena_from_fd(rfd, SHARENA_READONLY, &a)) < 0)
            die("reader read-only map", rfd < 0 ? -errno : r);
        close(rfd);
    }
    (void)c;
    sharena_id map;
    while ((r = sharena_root_get(a, "map", &map)) == SHARENA_ENOENT &&
           !stop_writing)
        usleep(1000);
    if (r < 0 && !stop_writing)
        die("reader root", r);
    while (!stop_writing)
        read_some(a, map, opt_writers, &seed, 64);
    struct rec rc = {
        .writer = READER_ID, .kind = K_READS, .seq = reads_done % 256};
    report(fd, &rc);
    _exit(0);
}

/* One writer incarnation: never returns (it exits on SIGTERM, between two
 * operations). */
static void writer(int w, int fd, uint64_t seq0, unsigned seed)
{
    sharena_arena *a = arena;
    sharena_conn *c = NULL;
    int r;
    signal(SIGTERM, on_sigterm);
    read_fd = fd;
#if SHARENA_STORM_BROKER
    if (opt_socket) {
        if ((r = sharena_connect(opt_socket, &c)) < 0)
            die("connect", r);
        if ((r = sharena_open(c, arena_name, NULL, &a)) < 0)
            die("open", r);
    }
#else
    (void)c;
#endif
    char name[32];
    sharena_id map, vec, counter, str;
    if ((r = sharena_root_ensure(a, "map", SHARENA_T_MAP, 0, &map, NULL)) ||
        (r = sharena_root_ensure(a, "counter", SHARENA_T_NUMBER, 0, &counter,
                                 NULL)))
        die("roots", r);
    sprintf(name, "vec%d", w);
    if ((r = sharena_root_ensure(a, name, SHARENA_T_VECTOR, 0, &vec, NULL)))
        die("vec root", r);
    sprintf(name, "str%d", w);
    if ((r = sharena_root_ensure(a, name, SHARENA_T_STRING, 0, &str, NULL)))
        die("str root", r);
    srand(seed);
    unsigned rng = seed;
    for (uint64_t seq = seq0; !stop_writing; seq++) {
        read_some(a, map, opt_writers, &rng, 1); /* writers read too */
        struct rec rc = {.writer = (uint8_t)w,
                         .kind = K_INTENT,
                         .op = (uint8_t)(rand() % OP__N),
                         .key = (uint32_t)(rand() % KEYS),
                         .seq = seq,
                         .value = (double)(w * 1000000000ull + seq)};
        report(fd, &rc);
        char k[32], s[96];
        keyname(k, w, rc.key);
        sharena_id x;
        switch (rc.op) {
        case OP_MAP_SET:
            r = sharena_map_set_number(a, map, k, strlen(k), rc.value);
            break;
        case OP_MAP_DEL:
            r = sharena_map_remove(a, map, k, strlen(k), NULL);
            if (r == SHARENA_ENOENT)
                r = 0;
            break;
        case OP_VEC_PUSH:
            r = sharena_number_new(a, rc.value, &x);
            if (r == 0 && (r = sharena_vector_push(a, vec, x, SHARENA_OWNED)))
                sharena_drop(a, x, 0);
            break;
        case OP_VEC_POP:
            r = sharena_vector_pop(a, vec, &x);
            if (r == 0)
                r = sharena_drop(a, x, 0);
            else if (r == SHARENA_ERANGE)
                r = 0;
            break;
        case OP_ADD:
            r = sharena_number_add(a, counter, 1, NULL);
            break;
        case OP_STR:
            strval(s, w, seq);
            r = sharena_string_set(a, str, s, strlen(s));
            break;
        default: {
            sharena_id t;
            r = sharena_map_new(a, &t);
            for (int i = 0; r == 0 && i < 12; i++) {
                sprintf(k, "t%d", i);
                r = sharena_map_set_string(a, t, k, strlen(k), "temporary", 9);
            }
            if (r == 0)
                r = sharena_drop(a, t, 0);
            break;
        }
        }
        if (r < 0)
            die("operation", r);
        rc.kind = K_DONE;
        report(fd, &rc);
    }
    _exit(0);
}

/* ---- the model ------------------------------------------------------------ */

struct keystate {
    bool present; /* after the last completed op */
    double value;
    int nalt; /* in-flight ops after it: alternatives */
    bool alt_present[64];
    double alt_value[64];
};

struct wmodel {
    struct keystate keys[KEYS];
    uint64_t done_adds, inflight_adds;
    int64_t vec_len;  /* after completed pushes/pops (clamped at 0) */
    int vec_slack;    /* in-flight pushes/pops */
    uint64_t str_seq; /* last completed string set (0: none) */
    uint64_t str_alt[64];
    int nstr_alt;
    struct rec pending; /* intent without done yet */
    bool has_pending;
};

static struct wmodel model[MAX_WRITERS];
static uint64_t records, completed;

static void settle_pending(struct wmodel *m)
{
    /* the incarnation died with this op in flight */
    if (!m->has_pending)
        return;
    struct rec *p = &m->pending;
    struct keystate *ks = &m->keys[p->key];
    switch (p->op) {
    case OP_MAP_SET:
    case OP_MAP_DEL:
        if (ks->nalt < 64) {
            ks->alt_present[ks->nalt] = p->op == OP_MAP_SET;
            ks->alt_value[ks->nalt++] = p->value;
        }
        break;
    case OP_VEC_PUSH:
    case OP_VEC_POP:
        m->vec_slack++;
        break;
    case OP_ADD:
        m->inflight_adds++;
        break;
    case OP_STR:
        if (m->nstr_alt < 64)
            m->str_alt[m->nstr_alt++] = p->seq;
        break;
    default:
        break;
    }
    m->has_pending = false;
}

static uint64_t read_errors, reads_total;
static uint64_t read_errors_by[RD__N];
static void apply(const struct rec *r)
{
    records++;
    if (r->kind == K_READS) {
        reads_total += r->seq;
        return;
    }
    if (r->kind == K_READERR) {
        int kind = r->key < RD__N ? (int)r->key : 0;
        read_errors++;
        read_errors_by[kind]++;
        if (read_errors <= 20)
            fprintf(stderr, "storm: read error: %s: %s\n", rd_names[kind],
                    sharena_errname((int)r->value));
        return;
    }
    struct wmodel *m = &model[r->writer];
    if (r->kind == K_INTENT) {
        settle_pending(m); /* a previous intent never completed */
        m->pending = *r;
        m->has_pending = true;
        return;
    }
    completed++;
    m->has_pending = false;
    struct keystate *ks = &m->keys[r->key];
    switch (r->op) {
    case OP_MAP_SET:
        ks->present = true;
        ks->value = r->value;
        ks->nalt = 0;
        break;
    case OP_MAP_DEL:
        ks->present = false;
        ks->nalt = 0;
        break;
    case OP_VEC_PUSH:
        m->vec_len++;
        break;
    case OP_VEC_POP:
        if (m->vec_len > 0)
            m->vec_len--;
        break;
    case OP_ADD:
        m->done_adds++;
        break;
    case OP_STR:
        m->str_seq = r->seq;
        m->nstr_alt = 0;
        break;
    default:
        break;
    }
}

static void drain(int fd)
{
    static struct rec buf[1024];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            return;
        for (ssize_t i = 0; i < n / (ssize_t)sizeof *buf; i++)
            apply(&buf[i]);
    }
}

static int passed, failed;
static void check(bool ok, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void check(bool ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (!ok) {
        fprintf(stderr, "FAIL: ");
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        failed++;
    } else {
        passed++;
    }
    va_end(ap);
}

static void fsck_line(void *ctx, const char *p)
{
    (void)ctx;
    fprintf(stderr, "  fsck: %s\n", p);
}

/* Count the locks held, saying whose each is: a failure in CI must be
 * diagnosable from its log alone. */
static int count_lock(void *ctx, const sharena_lock_info *li)
{
    (*(int *)ctx)++;
    fprintf(stderr, "  held: %s %lu (%s), owner %#x%s%s%s, for %us\n",
            li->id ? "object" : "arena lock", (unsigned long)li->id,
            li->id ? sharena_type_name(li->type) : "allocator", li->owner,
            li->pid ? " (a pid without a broker slot)" : " (broker slot)",
            li->died ? ", owner died" : "", li->waiters ? ", waiters" : "",
            li->held_s);
    return 0;
}

static void verify(sharena_arena *a, int nwriters)
{
    sharena_fsck_report rep;
    int r = sharena_fsck(a, 0, fsck_line, NULL, &rep);
    check(r == 0, "fsck after the storm: %s (%lu problems)", sharena_errname(r),
          (unsigned long)rep.errors);
    printf("storm: fsck recovered %lu dead owners' locks, %lu objects, "
           "%lu bytes used\n",
           (unsigned long)rep.recovered, (unsigned long)rep.objects,
           (unsigned long)rep.used_bytes);
    int held = 0;
    sharena_locks(a, count_lock, &held);
    check(held == 0, "%d locks still held after the storm", held);

    sharena_id map, counter;
    check(sharena_root_get(a, "map", &map) == 0, "root 'map' exists");
    /* the keys no writer touches are all still there, with their values */
    for (unsigned i = 0; i < STABLE_KEYS; i++) {
        char k[32];
        sprintf(k, "stable%u", i);
        sharena_id id;
        double d = -1;
        int r2 = sharena_map_get(a, map, k, strlen(k), &id);
        if (r2 == 0)
            r2 = sharena_number_get(a, id, &d);
        check(r2 == 0 && d == i, "stable key %s after the storm: %s, %g", k,
              sharena_errname(r2), d);
    }
    check(sharena_root_get(a, "counter", &counter) == 0, "root 'counter'");
    uint64_t adds = 0, inflight = 0;
    int bad_keys = 0;
    for (int w = 0; w < nwriters; w++) {
        struct wmodel *m = &model[w];
        settle_pending(m);
        adds += m->done_adds;
        inflight += m->inflight_adds;
        for (uint32_t k = 0; k < KEYS; k++) {
            struct keystate *ks = &m->keys[k];
            char name[32];
            keyname(name, w, k);
            sharena_id id;
            double d = 0;
            bool present = sharena_map_get(a, map, name, strlen(name), &id) ==
                           0;
            if (present && sharena_number_get(a, id, &d) < 0) {
                bad_keys++;
                fprintf(stderr, "key %s: value unreadable\n", name);
                continue;
            }
            bool ok = present == ks->present && (!present || d == ks->value);
            for (int i = 0; !ok && i < ks->nalt; i++)
                ok = present == ks->alt_present[i] &&
                     (!present || d == ks->alt_value[i]);
            if (!ok) {
                bad_keys++;
                fprintf(stderr,
                        "key %s: found %s %.0f, expected %s %.0f (+%d "
                        "in-flight alternatives)\n",
                        name, present ? "present" : "absent", d,
                        ks->present ? "present" : "absent", ks->value,
                        ks->nalt);
            }
        }
        char name[32];
        sprintf(name, "vec%d", w);
        sharena_id vec;
        uint64_t len = 0;
        if (sharena_root_get(a, name, &vec) == 0 &&
            sharena_vector_len(a, vec, &len) == 0) {
            int64_t lo = m->vec_len - m->vec_slack,
                    hi = m->vec_len + m->vec_slack;
            check((int64_t)len >= (lo < 0 ? 0 : lo) && (int64_t)len <= hi,
                  "writer %d vector length %lu within [%ld, %ld]", w,
                  (unsigned long)len, (long)lo, (long)hi);
            for (uint64_t i = 0; i < len; i++) {
                sharena_id x;
                double d;
                if (sharena_vector_get(a, vec, i, &x, NULL) < 0 ||
                    sharena_number_get(a, x, &d) < 0) {
                    check(false, "writer %d vector item %lu readable", w,
                          (unsigned long)i);
                    break;
                }
            }
        }
        sprintf(name, "str%d", w);
        sharena_id str;
        char *text = NULL;
        if (sharena_root_get(a, name, &str) == 0 &&
            sharena_string_dup(a, str, &text, NULL) == 0) {
            char want[96];
            bool ok = false;
            if (m->str_seq) {
                strval(want, w, m->str_seq);
                ok = strcmp(text, want) == 0;
            } else {
                ok = text[0] == 0;
            }
            for (int i = 0; !ok && i < m->nstr_alt; i++) {
                strval(want, w, m->str_alt[i]);
                ok = strcmp(text, want) == 0;
            }
            check(ok, "writer %d string '%s' is its last completed value", w,
                  text);
            free(text);
        }
    }
    check(bad_keys == 0, "%d map keys differ from the completed operations",
          bad_keys);
    double c = 0;
    sharena_number_get(a, counter, &c);
    check(c >= (double)adds && c <= (double)(adds + inflight),
          "counter %.0f within [%lu, %lu]", c, (unsigned long)adds,
          (unsigned long)(adds + inflight));

    /* A fresh process (this one) does 10,000 operations. */
    int errs = 0;
    for (int i = 0; i < 10000; i++) {
        char k[32];
        sprintf(k, "fresh%d", i % 500);
        if (sharena_map_set_number(a, map, k, strlen(k), i) < 0 ||
            sharena_number_add(a, counter, 1, NULL) < 0)
            errs++;
    }
    check(errs == 0, "10,000 operations after the storm: %d failed", errs);
    r = sharena_fsck(a, 0, fsck_line, NULL, &rep);
    check(r == 0, "fsck after the fresh operations: %s", sharena_errname(r));
}

/* ---- a broker of our own (--sharenad) ------------------------------------ */

static const char *opt_sharenad;
#if SHARENA_STORM_FIXTURE
static struct test_broker B; /* tests/support: private socket, restart */
#endif

#if SHARENA_STORM_BROKER
/* Wait until the broker counts @p want clients of the arena (it recovers a
 * dead writer when it sees its socket close, after our waitpid). */
static unsigned wait_clients(sharena_conn *conn, unsigned want)
{
    sharena_arena_stat st = {0};
    double deadline = test_now_s() + 30;
    /* (a STAT may fail while the connection or the name comes back after
     * a restart: tried again until the hang guard) */
    for (;;) {
        int r = sharena_stat(conn, arena_name, &st);
        if ((r == 0 && st.clients == want) || test_now_s() > deadline)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return st.clients;
}

static pid_t spawn_reader(int i, int pfd[2], unsigned seed)
{
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        reader(i, pfd[1], seed);
    }
    return pid;
}

static pid_t spawn_writer(int w, int pfd[2], uint64_t seq, unsigned seed)
{
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        writer(w, pfd[1], seq, seed);
    }
    return pid;
}

/* The writers and their incarnations, for the kill loops. */
static pid_t pids[MAX_WRITERS];
static uint64_t next_seq[MAX_WRITERS];
static unsigned kills, storm_seed;
static int nwriters = 4;
static int nreaders = 2; /* reader processes (broker clients too) */

/* SIGKILL writer @p w and wait for it; with @p respawn start its next
 * incarnation at once. */
static void kill_writer(int pfd[2], int w, bool respawn)
{
    kill(pids[w], SIGKILL);
    int st;
    while (waitpid(pids[w], &st, 0) < 0 && errno == EINTR)
        ;
    kills++;
    if (!WIFSIGNALED(st)) {
        fprintf(stderr, "storm: writer %d exited with %d\n", w,
                WEXITSTATUS(st));
        failed++;
    }
    drain(pfd[0]);
    settle_pending(&model[w]);
    /* sequence numbers continue above anything reported so far */
    next_seq[w] += 1u << 20;
    pids[w] = 0;
    if (respawn)
        pids[w] = spawn_writer(w, pfd, next_seq[w],
                               storm_seed + kills * 131u + (unsigned)w);
}

static void kill_loop(int pfd[2], double until)
{
    while (test_now_s() < until) {
        struct timespec ts = {0, (2 + rand() % 4) * 1000 * 1000};
        nanosleep(&ts, NULL);
        drain(pfd[0]);
        kill_writer(pfd, rand() % nwriters, true);
    }
}

#define MAX_ROUNDS 2
static sharena_arena *named[MAX_ROUNDS]; /* the driver holds them */

/* With --restart: the broker goes (SIGTERM, or SIGKILL with @p crash) and
 * another comes on the same socket. Writers are killed while none runs;
 * every name comes back; new clients meet on the new broker. */
static void restart_broker(int pfd[2], sharena_conn *conn, int round,
                           bool crash)
{
#if SHARENA_STORM_FIXTURE
    char name[32];
    sprintf(name, "named-%d", round);
    sharena_open_opts no = {.flags = SHARENA_CREATE, .capacity = 1 << 20};
    sharena_id n;
    int r = sharena_open(conn, name, &no, &named[round]);
    if (r == 0)
        r = sharena_root_ensure(named[round], "n", SHARENA_T_NUMBER, 0, &n,
                                NULL);
    if (r == 0)
        r = sharena_number_set(named[round], n, 100 + round);
    check(r == 0, "arena %s made before restart %d: %s", name, round,
          sharena_strerror(r));
    /* every writer alive has the arena open, every dead one is recovered
     * (the readers are broker clients too; after a restart the read-only
     * ones, odd-numbered, are not registered again: a read-only holder
     * cannot ADOPT, docs/locking.md "When the broker stops or restarts") */
    unsigned want = (unsigned)(nwriters + nreaders) + 1;
    if (round > 0)
        want -= (unsigned)nreaders / 2;
    unsigned c = wait_clients(conn, want);
    check(c == want,
          "before restart %d, the broker counts %u clients (%u "
          "wanted)",
          round, c, want);
    int st;
    kill(B.pid, crash ? SIGKILL : SIGTERM);
    while (waitpid(B.pid, &st, 0) < 0 && errno == EINTR)
        ;
    B.pid = 0;
    if (!crash)
        check(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "the broker stopped cleanly on SIGTERM (status %d)", st);
    /* no broker: writers die holding whatever they hold; the others go
     * on in their mappings */
    int victims = nwriters > 1 ? (nwriters > 2 ? 2 : 1) : 0;
    int first = rand() % nwriters;
    for (int i = 0; i < victims; i++)
        kill_writer(pfd, (first + i) % nwriters, false);
    uint64_t before = completed;
    for (int i = 0; i < 10; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        drain(pfd[0]);
    }
    if (test_broker_restart(&B) < 0)
        die("sharenad did not start again", SHARENA_ECONNREFUSED);
    printf("storm: broker %s and started again; %d writer%s killed while "
           "none ran, %lu operations completed meanwhile\n",
           crash ? "killed (SIGKILL)" : "stopped (SIGTERM)", victims,
           victims == 1 ? "" : "s", (unsigned long)(completed - before));
    for (int w = 0; w < nwriters; w++)
        if (!pids[w])
            pids[w] = spawn_writer(w, pfd, next_seq[w],
                                   storm_seed + kills * 131u + (unsigned)w);
    /* every name comes back: the same memfd, the same data */
    sharena_conn *c1 = NULL, *c2 = NULL;
    sharena_arena *a1 = NULL, *a2 = NULL, *old = NULL;
    r = sharena_connect(opt_socket, &c1);
    if (r == 0)
        r = sharena_open(c1, arena_name, NULL, &old);
    struct stat s1, s2;
    check(r == 0 && fstat(sharena_arena_fd(old), &s1) == 0 &&
              fstat(sharena_arena_fd(arena), &s2) == 0 &&
              s1.st_ino == s2.st_ino,
          "after restart %d, '%s' is the same arena: %s (%s)", round,
          arena_name, sharena_strerror(r), sharena_broker_message());
    sharena_arena_close(old);
    for (int k = 0; k <= round; k++) {
        sprintf(name, "named-%d", k);
        double d = 0;
        sharena_arena *x = NULL;
        r = c1 ? sharena_open(c1, name, NULL, &x) : SHARENA_ECONNREFUSED;
        if (r == 0)
            r = sharena_root_get(x, "n", &n);
        if (r == 0)
            r = sharena_number_get(x, n, &d);
        check(r == 0 && d == 100 + k, "after restart %d, '%s' holds %g: %s",
              round, name, d, sharena_strerror(r));
        sharena_arena_close(x);
    }
    /* new clients meet on the new broker */
    sprintf(name, "after-restart-%d", round);
    double d = 0;
    r = c1 ? sharena_open(c1, name, &no, &a1) : SHARENA_ECONNREFUSED;
    if (r == 0)
        r = sharena_root_ensure(a1, "n", SHARENA_T_NUMBER, 0, &n, NULL);
    if (r == 0)
        r = sharena_number_set(a1, n, 42);
    if (r == 0)
        r = sharena_connect(opt_socket, &c2);
    if (r == 0)
        r = sharena_open(c2, name, NULL, &a2);
    if (r == 0)
        r = sharena_root_get(a2, "n", &n);
    if (r == 0)
        r = sharena_number_get(a2, n, &d);
    check(r == 0 && d == 42, "new clients meet on the new broker: %s",
          sharena_strerror(r));
    sharena_arena_close(a2);
    sharena_arena_close(a1);
    sharena_disconnect(c2);
    sharena_disconnect(c1);
#else
    (void)pfd, (void)conn, (void)round, (void)crash;
#endif
}
#endif /* SHARENA_STORM_BROKER */

int main(int argc, char **argv)
{
    double seconds = 10;
    bool restart = false;
    unsigned seed = (unsigned)time(NULL);
    static const struct option lo[] = {
        {"seconds", required_argument, NULL, 't'},
        {"writers", required_argument, NULL, 'w'},
        {"readers", required_argument, NULL, 'd'},
        {"socket", required_argument, NULL, 's'},
        {"sharenad", required_argument, NULL, 'b'},
        {"restart", no_argument, NULL, 'R'},
        {"seed", required_argument, NULL, 'r'},
        {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (o) {
        case 't':
            seconds = atof(optarg);
            break;
        case 'w':
            nwriters = atoi(optarg);
            break;
        case 'd':
            nreaders = atoi(optarg);
            break;
        case 's':
            opt_socket = optarg;
            break;
        case 'b':
            opt_sharenad = optarg;
            break;
        case 'R':
            restart = true;
            break;
        case 'r':
            seed = (unsigned)strtoul(optarg, NULL, 0);
            break;
        default:
            fprintf(stderr,
                    "usage: %s [--seconds N] [--writers N] "
                    "[--readers N] [--seed N] "
                    "[--socket PATH | --sharenad PATH [--restart]]\n",
                    argv[0]);
            return 2;
        }
    }
    const char *env = getenv("SHARENA_STORM_SECONDS");
    if (env && *env)
        seconds = atof(env); /* wins over --seconds: ctest passes one */
    if (nwriters < 1 || nwriters > MAX_WRITERS)
        nwriters = 4;
    if (nreaders < 0 || nreaders > MAX_WRITERS)
        nreaders = 2;
    opt_writers = nwriters;
    if ((restart && !opt_sharenad) || (opt_sharenad && opt_socket)) {
        fprintf(stderr, "storm: --restart needs --sharenad (and not "
                        "--socket)\n");
        return 2;
    }
#if !SHARENA_STORM_FIXTURE
    if (opt_sharenad)
        die("--sharenad", SHARENA_EINVAL); /* built without the broker */
#else
    if (opt_sharenad) {
        setenv("SHARENA_SHARENAD", opt_sharenad, 1); /* the fixture's */
        if (test_broker_start(&B, NULL) < 0)
            die("sharenad did not start", SHARENA_ECONNREFUSED);
        opt_socket = B.socket;
    }
#endif
    srand(seed);
    printf("storm: %d writers, %d readers, %.0f s, seed %u, %s%s\n", nwriters,
           nreaders, seconds, seed,
           opt_socket ? "through the broker" : "local arena",
           restart ? ", restarted half-way" : "");

    int r;
    sharena_conn *conn = NULL;
#if SHARENA_STORM_BROKER
    if (opt_socket) {
        sharena_open_opts oo = {
            .capacity = 256u << 20, .flags = SHARENA_CREATE, .mode = 0600};
        if ((r = sharena_connect(opt_socket, &conn)) < 0)
            die("connect", r);
        sharena_delete(conn, arena_name);
        if ((r = sharena_open(conn, arena_name, &oo, &arena)) < 0)
            die("open", r);
    } else
#else
    if (opt_socket)
        die("--socket", SHARENA_EINVAL); /* built without the broker client */
#endif
        if ((r = sharena_arena_create(arena_name, 256u << 20, &arena)) < 0) {
        die("create", r);
    }

    /* keys no writer touches: a reader must always find them, each with
     * its value (a repair must never hide a key from a reader) */
    sharena_id map0;
    if ((r = sharena_root_ensure(arena, "map", SHARENA_T_MAP, 0, &map0, NULL)) <
        0)
        die("map root", r);
    for (unsigned i = 0; i < STABLE_KEYS; i++) {
        char k[32];
        sprintf(k, "stable%u", i);
        if ((r = sharena_map_set_number(arena, map0, k, strlen(k), i)) < 0)
            die("stable keys", r);
    }

    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return 3;
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    fcntl(pfd[0], F_SETPIPE_SZ, 1 << 20);
    storm_seed = seed;
    pid_t rpids[MAX_WRITERS];
    for (int i = 0; i < nreaders; i++)
        rpids[i] = spawn_reader(i, pfd, seed * 7u + (unsigned)i);
    for (int w = 0; w < nwriters; w++) {
        next_seq[w] = 1;
        pids[w] = spawn_writer(w, pfd, next_seq[w], seed + (unsigned)w);
    }
    double start = test_now_s(), end = start + seconds;
#if SHARENA_STORM_BROKER
    if (restart) {
        /* kills, restart (SIGTERM), kills, restart (SIGKILL), kills */
        for (int round = 0; round < MAX_ROUNDS; round++) {
            kill_loop(pfd, start + seconds * (round + 1) / (MAX_ROUNDS + 1));
            restart_broker(pfd, conn, round, round == 1);
        }
    }
#endif
    kill_loop(pfd, end);
    /* Readers stop first, while writers still run: the last kill below
     * can leave an object mid-write that nobody repairs any more, which a
     * read-only reader would wait for (docs/locking.md). */
    for (int i = 0; i < nreaders; i++) {
        int st;
        kill(rpids[i], SIGTERM);
        /* a reader may be blocked writing its count into a full pipe:
         * keep draining it until the reader has exited */
        for (;;) {
            drain(pfd[0]);
            pid_t got = waitpid(rpids[i], &st, WNOHANG);
            if (got == rpids[i] || (got < 0 && errno != EINTR))
                break;
            usleep(1000);
        }
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
            fprintf(stderr, "storm: reader %d did not stop cleanly (%d)\n", i,
                    st);
            failed++;
        }
    }
    for (int w = 0; w < nwriters; w++) {
        int st;
        kill(pids[w], SIGKILL);
        while (waitpid(pids[w], &st, 0) < 0 && errno == EINTR)
            ;
    }
    close(pfd[1]);
    fcntl(pfd[0], F_SETFL, 0);
    drain(pfd[0]);
    printf("storm: %u kills, %lu operations completed, %lu reads, %lu read "
           "errors\n",
           kills, (unsigned long)completed, (unsigned long)reads_total,
           (unsigned long)read_errors);
    for (int k = 0; k < RD__N; k++)
        if (read_errors_by[k])
            printf("storm: %lu read errors in %s\n",
                   (unsigned long)read_errors_by[k], rd_names[k]);
    check(read_errors == 0, "no read failed during the storm (%lu did)",
          (unsigned long)read_errors);
    check(reads_total > 0, "reads completed during the storm");
#if SHARENA_STORM_BROKER
    /* The broker recovers a dead writer's locks when it sees the socket
     * close, which is after waitpid() returned here: wait until it has
     * released every writer's open (only ours is left), or fsck would see
     * a live-listed owner mid-write. */
    if (conn) {
        unsigned n = wait_clients(conn, 1);
        check(n == 1, "the broker released every dead writer (%u opens left)",
              n);
    }
#endif
    check(completed > 0, "writers completed operations");
    verify(arena, nwriters);
    sharena_arena_close(arena);
#if SHARENA_STORM_BROKER
    if (conn) {
        for (int k = 0; k < MAX_ROUNDS; k++) {
            sharena_arena_close(named[k]);
            char name[32];
            sprintf(name, "named-%d", k);
            if (named[k])
                sharena_delete(conn, name);
        }
        sharena_delete(conn, arena_name);
        sharena_disconnect(conn);
    }
#else
    (void)conn;
#endif
#if SHARENA_STORM_FIXTURE
    if (opt_sharenad) {
        int st = test_broker_stop(&B);
        check(st == 0, "the broker stopped cleanly (status %d)", st);
    }
#endif
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
