/* bench.c: sharena's C benchmark.
 *
 * Measures the C API's cost per operation on an arena opened through a
 * private sharenad (started here, on a socket in a fresh mktemp directory),
 * next to a process-local peer measured in the same run: a plain
 * open-addressing hash table for maps (localmap.c), plain memory, a
 * growable array and a pthread mutex for the rest. Then read scaling (1 and
 * 2 reader processes on one named arena), the cost of opening an arena
 * through the broker, and the RAM a sparse 1 GiB arena holding 1 MiB uses.
 *
 * Output: one JSON object per line on stdout (bench/report.py reads them),
 * a human summary on stderr.
 *
 *   sharena_bench [--quick] [--only OP] [--sharenad PATH] [--no-scaling]
 *
 * --only OP runs one operation (its "op" id, or read_scaling, open_arena,
 * memory), for profiling with perf or callgrind.
 *
 * Method: each operation runs in a tight loop for >= 50 ms (15 ms with
 * --quick), 5 times (3), sharena and its peer interleaved so that load from
 * elsewhere on the machine hits both alike; ns/op is the best run, and the
 * median is reported too. SHARENA_BENCH_CLOCK=cpu times those runs in the
 * thread's CPU time instead of the wall clock (a loaded machine). */
#define _GNU_SOURCE
#include <sharena.h>

#include "localmap.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SHARENA_BENCH_SHARENAD
#define SHARENA_BENCH_SHARENAD ""
#endif

#define SMALL_KEYS 1024u    /* "map, 1k keys" */
#define BIG_KEYS (1u << 20) /* "map, 1M keys" */
#define VEC_LEN 1024u
#define BYTES_SIZE 4096u
#define BYTES_CHUNK 64u
#define ARENA_CAPACITY (UINT64_C(1) << 30)

static struct {
    int quick;
    int scaling;
    const char *only; /* run just this op (for profiling), or NULL */
    const char *sharenad;
    double target_ns; /* per timed run */
    int reps;
} opt = {0, 1, NULL, SHARENA_BENCH_SHARENAD, 50e6, 5};

static volatile uint64_t sink; /* results go here so no loop is dead code */

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sharena_bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void check(int r, const char *what)
{
    if (r < 0)
        die("%s: %s (%s)", what, sharena_strerror(r), sharena_errname(r));
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------------ */
/* The private broker */

static struct {
    char dir[64];
    char socket[96];
    pid_t pid;
} broker;

static int can_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len >= sizeof(sa.sun_path))
        return 0;
    memcpy(sa.sun_path, path, len);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static void broker_stop(void)
{
    if (broker.pid > 0) {
        kill(broker.pid, SIGTERM);
        int st;
        for (int i = 0; i < 300; i++) {
            if (waitpid(broker.pid, &st, WNOHANG) == broker.pid)
                goto reaped;
            usleep(10000);
        }
        kill(broker.pid, SIGKILL);
        waitpid(broker.pid, &st, 0);
    reaped:
        broker.pid = 0;
    }
    if (broker.dir[0]) {
        char path[256];
        snprintf(path, sizeof(path), "%s/sharenad.log", broker.dir);
        unlink(path);
        /* the broker's restart state sits beside its socket */
        for (int i = 0; i < 2; i++) {
            snprintf(path, sizeof(path), "%s.state.%d", broker.socket, i);
            unlink(path);
        }
        unlink(broker.socket);
        rmdir(broker.dir);
        broker.dir[0] = 0;
    }
}

static void broker_start(void)
{
    if (!opt.sharenad[0])
        die("no sharenad: pass --sharenad PATH");
    if (access(opt.sharenad, X_OK) != 0)
        die("%s: %s", opt.sharenad, strerror(errno));
    strcpy(broker.dir, "/tmp/sharena-bench.XXXXXX");
    if (!mkdtemp(broker.dir))
        die("mkdtemp: %s", strerror(errno));
    snprintf(broker.socket, sizeof(broker.socket), "%s/broker.sock",
             broker.dir);
    atexit(broker_stop);
    broker.pid = fork();
    if (broker.pid < 0)
        die("fork: %s", strerror(errno));
    if (broker.pid == 0) {
        char log[256];
        snprintf(log, sizeof(log), "%s/sharenad.log", broker.dir);
        if (!freopen(log, "w", stderr))
            _exit(126);
        execl(opt.sharenad, opt.sharenad, "--foreground", "--socket",
              broker.socket, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500; i++) {
        if (can_connect(broker.socket))
            return;
        int st;
        if (waitpid(broker.pid, &st, WNOHANG) == broker.pid) {
            broker.pid = 0;
            die("sharenad exited during start-up (status %d)", st);
        }
        usleep(10000);
    }
    die("sharenad did not listen on %s within 5 s", broker.socket);
}

/* ------------------------------------------------------------------------ */
/* Keys: "user:NNNNNNN" (12 bytes), stored back to back */

struct keys {
    char *buf;
    uint32_t n;
    uint32_t len; /* every key has this length */
};

static void keys_make(struct keys *k, uint32_t n, uint32_t seed)
{
    k->n = n;
    k->len = 12;
    k->buf = malloc((size_t)n * k->len + 1);
    if (!k->buf)
        die("out of memory");
    /* a multiplicative permutation so neighbours in the array are not
     * neighbours in key space */
    for (uint32_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)((i * UINT64_C(2654435761) + seed) % 10000000u);
        char tmp[16];
        snprintf(tmp, sizeof(tmp), "user:%07u", v);
        memcpy(k->buf + (size_t)i * k->len, tmp, k->len);
    }
}

static inline const char *key_at(const struct keys *k, uint64_t i)
{
    return k->buf + (size_t)i * k->len;
}

/* A random visiting order (Fisher-Yates with a fixed xorshift seed). */
static uint32_t *order_make(uint32_t n)
{
    uint32_t *o = malloc(sizeof(*o) * n);
    if (!o)
        die("out of memory");
    for (uint32_t i = 0; i < n; i++)
        o[i] = i;
    uint64_t x = 88172645463325252ull;
    for (uint32_t i = n - 1; i > 0; i--) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint32_t j = (uint32_t)(x % (i + 1));
        uint32_t t = o[i];
        o[i] = o[j];
        o[j] = t;
    }
    return o;
}

/* ------------------------------------------------------------------------ */
/* Benchmark state */

static struct state {
    sharena_conn *conn;
    sharena_arena *a;
    sharena_id num, str, map_small, map_big, vec_small, vec_push, bytes,
        lockobj, val1, val2, strct;
    struct keys small, big;
    uint32_t *big_order;

    /* local peers */
    double l_num;
    struct {
        size_t len;
        char data[64];
    } l_str;
    struct localmap l_small, l_big;
    uint64_t l_vec_small[VEC_LEN];
    uint64_t *l_vec;
    size_t l_vec_len, l_vec_cap;
    unsigned char l_bytes[BYTES_SIZE];
    pthread_mutex_t l_mu;
} st;

static const char STR_A[] = "hello, sharena!!"; /* 16 bytes */
static const char STR_B[] = "HELLO, SHARENA??";

typedef void (*body_fn)(uint64_t n);

/* ---- numbers ---- */
static void s_num_get(uint64_t n)
{
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        double d;
        if (sharena_number_get(st.a, st.num, &d) < 0)
            die("number_get");
        uint64_t u;
        memcpy(&u, &d, 8);
        acc ^= u;
    }
    sink = acc;
}
static void l_num_get(uint64_t n)
{
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        double d;
        __atomic_load(&st.l_num, &d, __ATOMIC_RELAXED);
        uint64_t u;
        memcpy(&u, &d, 8);
        acc ^= u;
    }
    sink = acc;
}
static void s_num_set(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (sharena_number_set(st.a, st.num, (double)i) < 0)
            die("number_set");
}
static void l_num_set(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        double d = (double)i;
        __atomic_store(&st.l_num, &d, __ATOMIC_RELAXED);
    }
}
static void s_num_add(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (sharena_number_add(st.a, st.num, 1.0, NULL) < 0)
            die("number_add");
}
/* a struct's number field (field 1 of { name: string, count: number }):
 * what Node's StructRef.setKey('count', i) does in the library */
static void s_struct_set(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (sharena_struct_set_number(st.a, st.strct, 1, (double)i) < 0)
            die("struct_set");
}
static void l_num_add(uint64_t n)
{
    /* an atomic f64 add: a CAS loop on the bits */
    uint64_t *p = (uint64_t *)&st.l_num;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t old = __atomic_load_n(p, __ATOMIC_RELAXED), nw;
        do {
            double d;
            memcpy(&d, &old, 8);
            d += 1.0;
            memcpy(&nw, &d, 8);
        } while (!__atomic_compare_exchange_n(
            p, &old, nw, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
    }
}

/* ---- strings ---- */
static void s_str_get(uint64_t n)
{
    char buf[64];
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        size_t len;
        if (sharena_string_get(st.a, st.str, buf, sizeof(buf), &len) < 0)
            die("string_get");
        acc += len + (unsigned char)buf[i & 7];
    }
    sink = acc;
}
static void l_str_get(uint64_t n)
{
    char buf[64];
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        size_t len = st.l_str.len;
        memcpy(buf, st.l_str.data, len);
        buf[len] = 0;
        __asm__ volatile("" ::"r"(buf) : "memory");
        acc += len + (unsigned char)buf[i & 7];
    }
    sink = acc;
}
static void s_str_set(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        const char *s = (i & 1) ? STR_B : STR_A;
        if (sharena_string_set(st.a, st.str, s, 16) < 0)
            die("string_set");
    }
}
static void l_str_set(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        const char *s = (i & 1) ? STR_B : STR_A;
        memcpy(st.l_str.data, s, 16);
        st.l_str.data[16] = 0;
        st.l_str.len = 16;
        __asm__ volatile("" ::: "memory");
    }
}

/* ---- maps ---- */
static void s_map_get_small(uint64_t n)
{
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        sharena_id v;
        if (sharena_map_get(st.a, st.map_small,
                            key_at(&st.small, i & (SMALL_KEYS - 1)),
                            st.small.len, &v) < 0)
            die("map_get");
        acc += v;
    }
    sink = acc;
}
static void l_map_get_small(uint64_t n)
{
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t v;
        if (localmap_get(&st.l_small, key_at(&st.small, i & (SMALL_KEYS - 1)),
                         st.small.len, &v) < 0)
            die("localmap_get");
        acc += v;
    }
    sink = acc;
}
static void s_map_set_small(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (sharena_map_set(
                st.a, st.map_small, key_at(&st.small, i & (SMALL_KEYS - 1)),
                st.small.len, (i & 1) ? st.val2 : st.val1, 0, NULL) < 0)
            die("map_set");
}
static void l_map_set_small(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (localmap_set(&st.l_small, key_at(&st.small, i & (SMALL_KEYS - 1)),
                         st.small.len, (i & 1) ? st.val2 : st.val1) < 0)
            die("localmap_set");
}
static void s_map_get_big(uint64_t n)
{
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        sharena_id v;
        if (sharena_map_get(st.a, st.map_big,
                            key_at(&st.big, st.big_order[i & (BIG_KEYS - 1)]),
                            st.big.len, &v) < 0)
            die("map_get (1M)");
        acc += v;
    }
    sink = acc;
}
static void l_map_get_big(uint64_t n)
{
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t v;
        if (localmap_get(&st.l_big,
                         key_at(&st.big, st.big_order[i & (BIG_KEYS - 1)]),
                         st.big.len, &v) < 0)
            die("localmap_get (1M)");
        acc += v;
    }
    sink = acc;
}
static void s_map_set_big(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (sharena_map_set(st.a, st.map_big,
                            key_at(&st.big, st.big_order[i & (BIG_KEYS - 1)]),
                            st.big.len, (i & 1) ? st.val2 : st.val1, 0,
                            NULL) < 0)
            die("map_set (1M)");
}
static void l_map_set_big(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (localmap_set(&st.l_big,
                         key_at(&st.big, st.big_order[i & (BIG_KEYS - 1)]),
                         st.big.len, (i & 1) ? st.val2 : st.val1) < 0)
            die("localmap_set (1M)");
}
/* Inserting 1M new keys into an empty map (growth included). */
static void s_map_insert_reset(void)
{
    if (st.map_big)
        check(sharena_drop(st.a, st.map_big, 0), "drop big map");
    check(sharena_map_new(st.a, &st.map_big), "map_new");
}
static void l_map_insert_reset(void)
{
    localmap_free(&st.l_big);
    if (localmap_init(&st.l_big) < 0)
        die("out of memory");
}
static void s_map_insert(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (sharena_map_set(st.a, st.map_big, key_at(&st.big, i), st.big.len,
                            st.val1, 0, NULL) < 0)
            die("map_set (insert)");
}
static void l_map_insert(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (localmap_set(&st.l_big, key_at(&st.big, i), st.big.len, st.val1) <
            0)
            die("localmap_set (insert)");
}

/* ---- vectors ---- */
static void s_vec_push_reset(void)
{
    if (st.vec_push)
        check(sharena_drop(st.a, st.vec_push, 0), "drop vector");
    check(sharena_vector_new(st.a, &st.vec_push), "vector_new");
}
static void l_vec_push_reset(void)
{
    free(st.l_vec);
    st.l_vec = NULL;
    st.l_vec_len = st.l_vec_cap = 0;
}
static void s_vec_push(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (sharena_vector_push(st.a, st.vec_push, st.val1, 0) < 0)
            die("vector_push");
}
static void l_vec_push(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        if (st.l_vec_len == st.l_vec_cap) {
            size_t ncap = st.l_vec_cap ? st.l_vec_cap * 2 : 8;
            uint64_t *p = realloc(st.l_vec, ncap * sizeof(*p));
            if (!p)
                die("out of memory");
            st.l_vec = p;
            st.l_vec_cap = ncap;
        }
        st.l_vec[st.l_vec_len++] = st.val1;
    }
}
static void s_vec_get(uint64_t n)
{
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        sharena_id v;
        if (sharena_vector_get(st.a, st.vec_small, i & (VEC_LEN - 1), &v,
                               NULL) < 0)
            die("vector_get");
        acc += v;
    }
    sink = acc;
}
static void l_vec_get(uint64_t n)
{
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        acc += st.l_vec_small[i & (VEC_LEN - 1)];
        __asm__ volatile("" ::: "memory");
    }
    sink = acc;
}

/* ---- bytes ---- */
static void s_bytes_ptr(uint64_t n)
{
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        void *p;
        uint64_t size;
        if (sharena_bytes_ptr(st.a, st.bytes, &p, &size) < 0)
            die("bytes_ptr");
        acc += (uintptr_t)p + size;
    }
    sink = acc;
}
static void s_bytes_read(uint64_t n)
{
    unsigned char buf[BYTES_CHUNK];
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t off = (i * BYTES_CHUNK) & (BYTES_SIZE - 1);
        if (sharena_bytes_read(st.a, st.bytes, off, buf, sizeof(buf)) < 0)
            die("bytes_read");
        acc += buf[i & 63];
    }
    sink = acc;
}
static void l_bytes_read(uint64_t n)
{
    unsigned char buf[BYTES_CHUNK];
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t off = (i * BYTES_CHUNK) & (BYTES_SIZE - 1);
        memcpy(buf, st.l_bytes + off, sizeof(buf));
        __asm__ volatile("" ::"r"(buf) : "memory");
        acc += buf[i & 63];
    }
    sink = acc;
}
static void s_bytes_write(uint64_t n)
{
    unsigned char buf[BYTES_CHUNK];
    memset(buf, 0xab, sizeof(buf));
    for (uint64_t i = 0; i < n; i++) {
        uint64_t off = (i * BYTES_CHUNK) & (BYTES_SIZE - 1);
        buf[0] = (unsigned char)i;
        if (sharena_bytes_write(st.a, st.bytes, off, buf, sizeof(buf)) < 0)
            die("bytes_write");
    }
}
static void l_bytes_write(uint64_t n)
{
    unsigned char buf[BYTES_CHUNK];
    memset(buf, 0xab, sizeof(buf));
    for (uint64_t i = 0; i < n; i++) {
        uint64_t off = (i * BYTES_CHUNK) & (BYTES_SIZE - 1);
        buf[0] = (unsigned char)i;
        memcpy(st.l_bytes + off, buf, sizeof(buf));
        __asm__ volatile("" ::: "memory");
    }
}

/* ---- locks ---- */
static void s_lock(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        if (sharena_lock(st.a, st.lockobj) < 0)
            die("lock");
        if (sharena_unlock(st.a, st.lockobj) < 0)
            die("unlock");
    }
}
static void l_lock(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        pthread_mutex_lock(&st.l_mu);
        pthread_mutex_unlock(&st.l_mu);
    }
}

/* ------------------------------------------------------------------------ */
/* Timing */

struct bench_op {
    const char *op;    /* machine id */
    const char *group; /* human name */
    body_fn s;
    void (*s_reset)(void);
    const char *peer; /* name of the local peer, or NULL */
    body_fn l;
    void (*l_reset)(void);
    uint64_t fixed_n; /* run exactly this many (no calibration) */
    uint64_t max_n;
};

/* The clock of the per-operation runs: the wall clock, or this thread's
 * CPU time with SHARENA_BENCH_CLOCK=cpu (as bench/node/bench.js: on a
 * machine loaded with other work, time spent descheduled does not count). */
static double op_clock_ns(void)
{
    static int cpu = -1;
    if (cpu < 0) {
        const char *c = getenv("SHARENA_BENCH_CLOCK");
        cpu = c && !strcmp(c, "cpu");
    }
    if (!cpu)
        return now_ns();
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double run_once(body_fn f, void (*reset)(void), uint64_t n)
{
    if (reset)
        reset();
    double t0 = op_clock_ns();
    f(n);
    return (op_clock_ns() - t0) / (double)n;
}

static uint64_t size_for(double per, uint64_t max_n)
{
    double want = opt.target_ns / (per > 0.01 ? per : 0.01);
    uint64_t m = want < 1 ? 1 : (uint64_t)want;
    return m > max_n ? max_n : m;
}

static uint64_t calibrate(body_fn f, void (*reset)(void), uint64_t max_n)
{
    uint64_t n = 256;
    for (;;) {
        double per = run_once(f, reset, n);
        double total = per * (double)n;
        if (total >= opt.target_ns / 8 || n >= max_n) {
            uint64_t m = size_for(per, max_n);
            /* one more run at the projected length, to size it from a warm
             * loop */
            return m > n ? size_for(run_once(f, reset, m), max_n) : m;
        }
        n *= 4;
    }
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static void emit(const char *op, const char *group, const char *impl,
                 const double *runs, int nruns, uint64_t iters)
{
    double sorted[16];
    memcpy(sorted, runs, sizeof(double) * (size_t)nruns);
    qsort(sorted, (size_t)nruns, sizeof(double), cmp_double);
    printf("{\"bench\":\"c\",\"op\":\"%s\",\"group\":\"%s\",\"impl\":\"%s\","
           "\"ns_per_op\":%.3f,\"median_ns\":%.3f,\"iters\":%llu,"
           "\"runs\":%d}\n",
           op, group, impl, sorted[0], sorted[nruns / 2],
           (unsigned long long)iters, nruns);
    fflush(stdout);
}

static void run_op(const struct bench_op *b)
{
    uint64_t max_n = b->max_n ? b->max_n : UINT64_C(1) << 34;
    uint64_t ns_n = b->fixed_n ? b->fixed_n
                               : calibrate(b->s, b->s_reset, max_n);
    uint64_t nl_n = 0;
    if (b->l)
        nl_n = b->fixed_n ? b->fixed_n : calibrate(b->l, b->l_reset, max_n);
    int reps = b->fixed_n ? (opt.quick ? 1 : 2) : opt.reps;
    double sr[16], lr[16];
    for (int r = 0; r < reps; r++) {
        sr[r] = run_once(b->s, b->s_reset, ns_n);
        if (b->l)
            lr[r] = run_once(b->l, b->l_reset, nl_n);
    }
    emit(b->op, b->group, "sharena", sr, reps, ns_n);
    double best_s = sr[0], best_l = b->l ? lr[0] : 0;
    for (int r = 1; r < reps; r++) {
        best_s = sr[r] < best_s ? sr[r] : best_s;
        if (b->l)
            best_l = lr[r] < best_l ? lr[r] : best_l;
    }
    if (b->l) {
        emit(b->op, b->group, b->peer, lr, reps, nl_n);
        fprintf(stderr, "  %-28s sharena %9.1f ns   %-16s %9.1f ns   x%.2f\n",
                b->group, best_s, b->peer, best_l, best_s / best_l);
    } else {
        fprintf(stderr, "  %-28s sharena %9.1f ns\n", b->group, best_s);
    }
}

/* ------------------------------------------------------------------------ */
/* Set-up */

static void setup(void)
{
    check(sharena_connect(broker.socket, &st.conn), "connect");
    sharena_open_opts o = {.capacity = ARENA_CAPACITY,
                           .flags = SHARENA_CREATE | SHARENA_EXCL};
    check(sharena_open(st.conn, "bench-ops", &o, &st.a), "open bench-ops");

    check(sharena_number_new(st.a, 1.5, &st.num), "number_new");
    check(sharena_number_new(st.a, 1.0, &st.val1), "number_new");
    check(sharena_number_new(st.a, 2.0, &st.val2), "number_new");
    check(sharena_string_new(st.a, STR_A, 16, &st.str), "string_new");
    check(sharena_bytes_new(st.a, BYTES_SIZE, &st.bytes), "bytes_new");
    check(sharena_map_new(st.a, &st.lockobj), "map_new");
    const sharena_field_def fields[] = {
        {.name = "name", .type = SHARENA_T_STRING},
        {.name = "count", .type = SHARENA_T_NUMBER},
    };
    sharena_id shape;
    check(sharena_shape_new(st.a, fields, 2, &shape), "shape_new");
    check(sharena_struct_new(st.a, shape, &st.strct), "struct_new");

    keys_make(&st.small, SMALL_KEYS, 17);
    keys_make(&st.big, BIG_KEYS, 4242);
    st.big_order = order_make(BIG_KEYS);

    check(sharena_map_new(st.a, &st.map_small), "map_new");
    if (localmap_init(&st.l_small) < 0 || localmap_init(&st.l_big) < 0)
        die("out of memory");
    for (uint32_t i = 0; i < SMALL_KEYS; i++) {
        check(sharena_map_set(st.a, st.map_small, key_at(&st.small, i),
                              st.small.len, st.val1, 0, NULL),
              "map_set");
        if (localmap_set(&st.l_small, key_at(&st.small, i), st.small.len,
                         st.val1) < 0)
            die("out of memory");
    }
    check(sharena_vector_new(st.a, &st.vec_small), "vector_new");
    for (uint32_t i = 0; i < VEC_LEN; i++) {
        check(sharena_vector_push(st.a, st.vec_small, st.val1, 0),
              "vector_push");
        st.l_vec_small[i] = st.val1;
    }
    st.l_num = 1.5;
    memcpy(st.l_str.data, STR_A, 17);
    st.l_str.len = 16;
    pthread_mutex_init(&st.l_mu, NULL);
}

/* ------------------------------------------------------------------------ */
/* Read scaling: k reader processes doing map gets on one named arena */

struct reader_result {
    uint64_t ops;
    double ns;     /* wall clock */
    double cpu_ns; /* CPU time the reader got meanwhile */
};

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void reader_child(int ready_w, int start_r, int result_w, double dur)
{
    sharena_conn *c;
    sharena_arena *a;
    sharena_id map;
    sharena_open_opts o = {.flags = SHARENA_READONLY};
    if (sharena_connect(broker.socket, &c) < 0 ||
        sharena_open(c, "bench-scale", &o, &a) < 0 ||
        sharena_root_get(a, "m", &map) < 0)
        _exit(2);
    uint64_t acc = 0;
    for (uint32_t i = 0; i < SMALL_KEYS; i++) { /* warm up */
        sharena_id v;
        if (sharena_map_get(a, map, key_at(&st.small, i), st.small.len, &v) < 0)
            _exit(3);
        acc += v;
    }
    char x = 1;
    if (write(ready_w, &x, 1) != 1 || read(start_r, &x, 1) != 0)
        _exit(4);
    struct reader_result res = {0, 0, 0};
    double c0 = cpu_ns(), t0 = now_ns(), t;
    do {
        for (uint32_t i = 0; i < 4096; i++) {
            sharena_id v;
            if (sharena_map_get(a, map, key_at(&st.small, i & (SMALL_KEYS - 1)),
                                st.small.len, &v) < 0)
                _exit(5);
            acc += v;
        }
        res.ops += 4096;
        t = now_ns();
    } while (t - t0 < dur);
    res.ns = t - t0;
    res.cpu_ns = cpu_ns() - c0;
    sink = acc;
    if (write(result_w, &res, sizeof(res)) != (ssize_t)sizeof(res))
        _exit(6);
    _exit(0);
}

/* Aggregate map gets per second of @p k concurrent readers; *cores gets
 * how many cores they had on average (CPU time over wall time, summed). */
static double scaling_run(int k, double dur, double *cores)
{
    int ready[2], start[2], result[2];
    if (pipe2(ready, O_CLOEXEC) || pipe2(start, O_CLOEXEC) ||
        pipe2(result, O_CLOEXEC))
        die("pipe: %s", strerror(errno));
    pid_t pids[8];
    for (int i = 0; i < k; i++) {
        fflush(NULL);
        pids[i] = fork();
        if (pids[i] < 0)
            die("fork: %s", strerror(errno));
        if (pids[i] == 0) {
            close(ready[0]);
            close(start[1]);
            close(result[0]);
            reader_child(ready[1], start[0], result[1], dur);
        }
    }
    close(ready[1]);
    close(start[0]);
    close(result[1]);
    for (int i = 0; i < k; i++) {
        char x;
        if (read(ready[0], &x, 1) != 1)
            die("a reader failed to start");
    }
    close(start[1]); /* go */
    double rate = 0;
    *cores = 0;
    for (int i = 0; i < k; i++) {
        struct reader_result res;
        if (read(result[0], &res, sizeof(res)) != (ssize_t)sizeof(res))
            die("a reader failed");
        rate += (double)res.ops / res.ns * 1e9;
        *cores += res.cpu_ns / res.ns;
    }
    for (int i = 0; i < k; i++) {
        int status;
        waitpid(pids[i], &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            die("reader exited with status %d", status);
    }
    close(ready[0]);
    close(result[0]);
    return rate;
}

static void bench_scaling(sharena_arena **scale_arena)
{
    sharena_open_opts o = {.flags = SHARENA_CREATE | SHARENA_EXCL};
    sharena_arena *a;
    check(sharena_open(st.conn, "bench-scale", &o, &a), "open bench-scale");
    sharena_id map, v;
    check(sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &map, NULL),
          "root_ensure");
    check(sharena_number_new(a, 7, &v), "number_new");
    for (uint32_t i = 0; i < SMALL_KEYS; i++)
        check(sharena_map_set(a, map, key_at(&st.small, i), st.small.len, v, 0,
                              NULL),
              "map_set");
    *scale_arena = a;
    if (!opt.scaling)
        return;

    double dur = opt.quick ? 0.25e9 : 0.5e9;
    int reps = opt.quick ? 2 : 3;
    double best[3] = {0, 0, 0}, cores[3] = {0, 0, 0};
    for (int r = 0; r < reps; r++)
        for (int k = 1; k <= 2; k++) {
            double c;
            double rate = scaling_run(k, dur, &c);
            if (rate > best[k]) {
                best[k] = rate;
                cores[k] = c;
            }
        }
    /* cores < k means the machine's other load took CPU from the readers:
     * the wall-clock rate then understates what k readers can do. */
    for (int k = 1; k <= 2; k++)
        printf("{\"bench\":\"c\",\"op\":\"read_scaling\",\"group\":\"read "
               "scaling (map get, 1k keys)\",\"impl\":\"sharena\","
               "\"readers\":%d,\"ops_per_s\":%.0f,\"ns_per_op\":%.3f,"
               "\"cores\":%.3f}\n",
               k, best[k], 1e9 * k / best[k], cores[k]);
    fflush(stdout);
    fprintf(stderr,
            "  read scaling: 1 reader %.1f M gets/s (%.2f cores), 2 readers "
            "%.1f M gets/s (%.2f cores): x%.2f\n",
            best[1] / 1e6, cores[1], best[2] / 1e6, cores[2],
            best[2] / best[1]);
}

/* ------------------------------------------------------------------------ */
/* Broker round trips: open an existing arena, close it; connect */

static void bench_open(void)
{
    int n = opt.quick ? 200 : 1000;
    double runs_open[3], runs_close[3], runs_conn[3];
    int reps = 3;
    for (int r = 0; r < reps; r++) {
        double t_open = 0, t_close = 0;
        for (int i = 0; i < n; i++) {
            sharena_arena *a;
            double t0 = now_ns();
            check(sharena_open(st.conn, "bench-scale", NULL, &a), "open");
            double t1 = now_ns();
            sharena_arena_close(a);
            t_close += now_ns() - t1;
            t_open += t1 - t0;
        }
        runs_open[r] = t_open / n;
        runs_close[r] = t_close / n;
        double t0 = now_ns();
        for (int i = 0; i < n / 4; i++) {
            sharena_conn *c;
            check(sharena_connect(broker.socket, &c), "connect");
            sharena_disconnect(c);
        }
        runs_conn[r] = (now_ns() - t0) / (n / 4);
    }
    emit("open_arena", "open existing arena via broker", "sharena", runs_open,
         reps, (uint64_t)n);
    emit("close_arena", "close arena", "sharena", runs_close, reps,
         (uint64_t)n);
    emit("connect", "connect + HELLO + disconnect", "sharena", runs_conn, reps,
         (uint64_t)n / 4);
    qsort(runs_open, (size_t)reps, sizeof(double), cmp_double);
    qsort(runs_close, (size_t)reps, sizeof(double), cmp_double);
    qsort(runs_conn, (size_t)reps, sizeof(double), cmp_double);
    fprintf(stderr,
            "  open existing arena %.1f us, close %.1f us, connect+"
            "disconnect %.1f us\n",
            runs_open[0] / 1e3, runs_close[0] / 1e3, runs_conn[0] / 1e3);
}

/* ------------------------------------------------------------------------ */
/* Memory: what a 1 GiB-capacity arena holding 1 MiB of data costs in RAM.
 * The memfd's allocated blocks are exactly the shared pages it occupies. */

static uint64_t memfd_bytes(const sharena_arena *a)
{
    struct stat sb;
    if (fstat(sharena_arena_fd(a), &sb) != 0)
        die("fstat: %s", strerror(errno));
    return (uint64_t)sb.st_blocks * 512;
}

static void bench_memory(void)
{
    sharena_open_opts o = {.capacity = UINT64_C(1) << 30,
                           .flags = SHARENA_CREATE | SHARENA_EXCL};
    sharena_arena *a;
    check(sharena_open(st.conn, "bench-mem", &o, &a), "open bench-mem");
    uint64_t empty = memfd_bytes(a);
    sharena_id map;
    check(sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &map, NULL),
          "root_ensure");
    char val[1024];
    memset(val, 'x', sizeof(val));
    uint64_t data = 0;
    for (uint32_t i = 0; i < 1024; i++) { /* 1024 x 1 KiB strings */
        check(sharena_map_set_string(a, map, key_at(&st.small, i), st.small.len,
                                     val, sizeof(val)),
              "map_set_string");
        data += sizeof(val) + st.small.len;
    }
    uint64_t full = memfd_bytes(a);
    printf("{\"bench\":\"c\",\"op\":\"memory\",\"group\":\"RAM of a 1 GiB "
           "arena holding 1 MiB\",\"impl\":\"sharena\",\"capacity\":%llu,"
           "\"data_bytes\":%llu,\"ram_empty\":%llu,\"ram_bytes\":%llu}\n",
           (unsigned long long)o.capacity, (unsigned long long)data,
           (unsigned long long)empty, (unsigned long long)full);
    fflush(stdout);
    fprintf(stderr,
            "  memory: 1 GiB arena: %.0f KiB empty, %.0f KiB with %.0f KiB of "
            "keys and strings\n",
            empty / 1024.0, full / 1024.0, data / 1024.0);
    sharena_arena_close(a);
    check(sharena_delete(st.conn, "bench-mem"), "delete");
}

/* ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fputs("usage: sharena_bench [--quick] [--only OP] [--sharenad PATH] "
          "[--no-scaling]\n"
          "Runs sharena's C benchmark against a private sharenad; prints "
          "JSON lines\non stdout and a summary on stderr.\n",
          f);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            opt.quick = 1;
        } else if (!strcmp(argv[i], "--no-scaling")) {
            opt.scaling = 0;
        } else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
            opt.only = argv[++i];
        } else if (!strcmp(argv[i], "--sharenad") && i + 1 < argc) {
            opt.sharenad = argv[++i];
        } else if (!strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (opt.quick) {
        opt.target_ns = 15e6;
        opt.reps = 3;
    }
    setenv("SHARENA_AUTOSTART", "0", 1);
    broker_start();
    setup();

    const struct bench_op ops[] = {
        {"number_get", "number get", s_num_get, NULL, "local memory", l_num_get,
         NULL, 0, 0},
        {"number_set", "number set", s_num_set, NULL, "local memory", l_num_set,
         NULL, 0, 0},
        {"number_add", "number add", s_num_add, NULL, "local memory", l_num_add,
         NULL, 0, 0},
        {"struct_set", "struct set (number field)", s_struct_set, NULL,
         "local memory", l_num_set, NULL, 0, 0},
        {"string_get", "string get (16 B)", s_str_get, NULL, "local memory",
         l_str_get, NULL, 0, 0},
        {"string_set", "string set (16 B)", s_str_set, NULL, "local memory",
         l_str_set, NULL, 0, 0},
        {"map_get", "map get (1k keys)", s_map_get_small, NULL,
         "local hash map", l_map_get_small, NULL, 0, 0},
        {"map_set", "map set (1k keys)", s_map_set_small, NULL,
         "local hash map", l_map_set_small, NULL, 0, 0},
        {"map_insert_1m", "map insert 1M keys", s_map_insert,
         s_map_insert_reset, "local hash map", l_map_insert, l_map_insert_reset,
         BIG_KEYS, 0},
        {"map_get_1m", "map get (1M keys, random)", s_map_get_big, NULL,
         "local hash map", l_map_get_big, NULL, 0, 0},
        {"map_set_1m", "map set (1M keys, random)", s_map_set_big, NULL,
         "local hash map", l_map_set_big, NULL, 0, 0},
        {"vector_push", "vector push", s_vec_push, s_vec_push_reset,
         "local array", l_vec_push, l_vec_push_reset, 0, 1u << 22},
        {"vector_get", "vector get", s_vec_get, NULL, "local array", l_vec_get,
         NULL, 0, 0},
        {"bytes_ptr", "bytes pointer lookup", s_bytes_ptr, NULL, NULL, NULL,
         NULL, 0, 0},
        {"bytes_read", "bytes read (64 B)", s_bytes_read, NULL, "local memory",
         l_bytes_read, NULL, 0, 0},
        {"bytes_write", "bytes write (64 B)", s_bytes_write, NULL,
         "local memory", l_bytes_write, NULL, 0, 0},
        {"lock_unlock", "lock + unlock", s_lock, NULL, "pthread mutex", l_lock,
         NULL, 0, 0},
    };
    sharena_arena *scale = NULL;
    fprintf(stderr, "C benchmark (%s)\n", opt.quick ? "quick" : "full");
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        /* the 1M-key gets and sets need the map the insert op fills */
        bool needed = !opt.only || !strcmp(opt.only, ops[i].op) ||
                      (!strncmp(opt.only, "map_", 4) &&
                       strstr(opt.only, "_1m") &&
                       !strcmp(ops[i].op, "map_insert_1m"));
        if (needed)
            run_op(&ops[i]);
    }
    if (opt.only) {
        opt.scaling = opt.scaling && !strcmp(opt.only, "read_scaling");
        if (strcmp(opt.only, "read_scaling") &&
            strcmp(opt.only, "open_arena") && strcmp(opt.only, "memory"))
            goto done;
    }

    bench_scaling(&scale);
    if (!opt.only || !strcmp(opt.only, "open_arena"))
        bench_open();
    if (!opt.only || !strcmp(opt.only, "memory"))
        bench_memory();
    sharena_arena_close(scale);
done:
    sharena_arena_close(st.a);
    if (scale)
        check(sharena_delete(st.conn, "bench-scale"), "delete");
    check(sharena_delete(st.conn, "bench-ops"), "delete");
    sharena_disconnect(st.conn);
    localmap_free(&st.l_small);
    localmap_free(&st.l_big);
    free(st.l_vec);
    free(st.small.buf);
    free(st.big.buf);
    free(st.big_order);
    broker_stop();
    return 0;
}
