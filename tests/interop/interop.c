/* interop.c: the C side of the interop matrix (tests/interop/test_interop.py).
 *
 *   interop write ARENA        fill root map "w.c" with the reference values
 *   interop dump ARENA LANG    print root map "w.LANG" as canonical JSON
 *   interop hammer ARENA N W   add 1 to root number "count" N times and set
 *                              N keys "c.W.i" in root map "keys"
 *   interop dumproot ARENA ROOT
 *                              print root ROOT (any type) as canonical JSON
 *   interop ticks ARENA N      set root number "tick" to 1..N, one write each
 *   interop wait ARENA N       wait on root "tick" until it reaches N; print
 *                              {"final":v,"lost":k,"wakeups":w}; lost counts
 *                              timeouts that happened although it had changed
 *   interop badlayout CMD...   make an arena whose header carries another
 *                              layout hash, then run CMD with its fd in
 *                              $SHARENA_TEST_FD ("self": try it in C)
 *   interop fromfd             map $SHARENA_TEST_FD; print the error name
 *                              and message (what a binding shows a user)
 *   interop hostile ARENA SECONDS SEED
 *                              a peer of test_hostile.py: read and write the
 *                              roots "h.map", "h.vec", "h.str", "h.num",
 *                              "h.bytes" for SECONDS while they are being
 *                              scribbled on; every library error is allowed
 *                              and counted; print {"ops":n,"errors":{name:n}}
 *   interop fresh ARENA LANG   after repair: make root map "fresh.LANG",
 *                              write and read it back; print "OK"
 *   interop build ARENA        the value builder's script (test_build.py,
 *                              the same in every language, in a new
 *                              256 KiB arena): print {"tree": root map "m"
 *                              after a nested set, "unsupported"/"full":
 *                              "unchanged" when a set and a push failing
 *                              mid-tree (an unstorable value; a full arena)
 *                              left used bytes, objects, "m" and "v" as
 *                              they were, "final": {"m", "v"}}
 *
 * The broker is $SHARENA_SOCKET. Canonical JSON (the same in every
 * language): {"s": str} {"n": hex of the f64 bits} {"b": bool}
 * {"m": {key: value}} {"v": [values]} {"x": hex bytes} {"t": {field: value}},
 * plus "ids": what the ids stored under "num_id" and "gone_id" resolve to. */
#include <sharena.h>

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHECK(expr)                                                            \
    do {                                                                       \
        int r_ = (expr);                                                       \
        if (r_ < 0) {                                                          \
            fprintf(stderr, "interop.c:%d: %s: %s\n", __LINE__, #expr,         \
                    sharena_strerror(r_));                                     \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

static sharena_arena *open_arena(const char *name)
{
    sharena_conn *c;
    sharena_arena *a;
    CHECK(sharena_connect(NULL, &c));
    sharena_open_opts o = {.flags = SHARENA_CREATE, .capacity = 16 << 20};
    CHECK(sharena_open(c, name, &o, &a));
    return a;
}

static void set_owned(sharena_arena *a, sharena_id map, const char *key,
                      sharena_id v)
{
    CHECK(sharena_map_set(a, map, key, strlen(key), v, SHARENA_OWNED, NULL));
}

static void write_values(sharena_arena *a)
{
    sharena_id m, id, inner, vec, list;
    CHECK(sharena_root_ensure(a, "w.c", SHARENA_T_MAP, 0, &m, NULL));
    const char *utf8 = "h\xc3\xa9llo w\xc3\xb6rld \xe6\x97\xa5\xe6\x9c\xac "
                       "\xf0\x9f\x8e\x89";
    CHECK(sharena_map_set_string(a, m, "s_ascii", 7, "hello", 5));
    CHECK(sharena_map_set_string(a, m, "s_utf8", 6, utf8, strlen(utf8)));
    CHECK(sharena_map_set_string(a, m, "s_empty", 7, "", 0));
    const struct {
        const char *k;
        double v;
    } nums[] = {{"n_pi", 3.141592653589793},
                {"n_neg0", -0.0},
                {"n_max", 1.7976931348623157e308},
                {"n_min", 5e-324},
                {"n_2p53", 9007199254740992.0},
                {"n_inf", INFINITY},
                {"n_ninf", -INFINITY},
                {"n_tenth", 0.1},
                {"n_nan", NAN}};
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
        CHECK(sharena_map_set_number(a, m, nums[i].k, strlen(nums[i].k),
                                     nums[i].v));
    CHECK(sharena_map_set_bool(a, m, "b_t", 3, true));
    CHECK(sharena_map_set_bool(a, m, "b_f", 3, false));
    /* nested: {"list": [1, "two", {"three": 3}], "empty": {}} */
    CHECK(sharena_map_new(a, &inner));
    CHECK(sharena_vector_new(a, &list));
    CHECK(sharena_number_new(a, 1, &id));
    CHECK(sharena_vector_push(a, list, id, SHARENA_OWNED));
    CHECK(sharena_string_new(a, "two", 3, &id));
    CHECK(sharena_vector_push(a, list, id, SHARENA_OWNED));
    CHECK(sharena_map_new(a, &id));
    CHECK(sharena_map_set_number(a, id, "three", 5, 3));
    CHECK(sharena_vector_push(a, list, id, SHARENA_OWNED));
    set_owned(a, inner, "list", list);
    CHECK(sharena_map_new(a, &id));
    set_owned(a, inner, "empty", id);
    set_owned(a, m, "nested", inner);
    /* an empty vector */
    CHECK(sharena_vector_new(a, &vec));
    set_owned(a, m, "v_empty", vec);
    /* bytes 0..15 */
    uint8_t raw[16];
    for (int i = 0; i < 16; i++)
        raw[i] = (uint8_t)(i * 17);
    CHECK(sharena_bytes_new(a, sizeof(raw), &id));
    CHECK(sharena_bytes_write(a, id, 0, raw, sizeof(raw)));
    set_owned(a, m, "bytes", id);
    /* struct {name: string, score: number, ok: bool} */
    sharena_field_def f[] = {{"name", SHARENA_T_STRING, 0},
                             {"score", SHARENA_T_NUMBER, 0},
                             {"ok", SHARENA_T_BOOL, 0}};
    sharena_id shape, st;
    CHECK(sharena_shape_new(a, f, 3, &shape));
    CHECK(sharena_struct_new(a, shape, &st));
    CHECK(sharena_struct_set_string(a, st, 0, "ada", 3));
    CHECK(sharena_struct_set_number(a, st, 1, 1.5));
    CHECK(sharena_struct_set_bool(a, st, 2, true));
    set_owned(a, m, "struct", st);
    /* null: a map value, vector items, nullable struct fields */
    CHECK(sharena_map_set_null(a, m, "z_null", 6));
    CHECK(sharena_vector_new(a, &vec));
    CHECK(sharena_null_new(a, &id));
    CHECK(sharena_vector_push(a, vec, id, SHARENA_OWNED));
    CHECK(sharena_number_new(a, 1, &id));
    CHECK(sharena_vector_push(a, vec, id, SHARENA_OWNED));
    set_owned(a, m, "v_nulls", vec);
    sharena_field_def fo[] = {
        {"maybe", SHARENA_T_NUMBER, 0, SHARENA_FIELD_NULLABLE},
        {"set", SHARENA_T_STRING, 0, SHARENA_FIELD_NULLABLE}};
    CHECK(sharena_shape_new(a, fo, 2, &shape));
    CHECK(sharena_struct_new(a, shape, &st));
    CHECK(sharena_struct_set_string(a, st, 1, "yes", 3));
    set_owned(a, m, "struct_opt", st);
    /* ids shared between languages: one live, one dropped */
    CHECK(sharena_number_new(a, 42, &id));
    CHECK(sharena_root_set(a, "num.c", id, SHARENA_OWNED));
    CHECK(sharena_map_set_number(a, m, "num_id", 6, (double)id));
    CHECK(sharena_string_new(a, "gone", 4, &id));
    CHECK(sharena_map_set_number(a, m, "gone_id", 7, (double)id));
    CHECK(sharena_drop(a, id, 0));
}

static void put_str(const char *s, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void put_num(double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    printf("{\"n\":\"%016" PRIx64 "\"}", bits);
}

static void dump(sharena_arena *a, sharena_id id)
{
    int t = sharena_type_of(a, id);
    CHECK(t);
    switch (t) {
    case SHARENA_T_STRING: {
        char *s;
        size_t n;
        CHECK(sharena_string_dup(a, id, &s, &n));
        printf("{\"s\":");
        put_str(s, n);
        printf("}");
        free(s);
        break;
    }
    case SHARENA_T_NUMBER: {
        double d;
        CHECK(sharena_number_get(a, id, &d));
        put_num(d);
        break;
    }
    case SHARENA_T_BOOL: {
        bool b;
        CHECK(sharena_bool_get(a, id, &b));
        printf("{\"b\":%s}", b ? "true" : "false");
        break;
    }
    case SHARENA_T_NULL:
        printf("{\"z\":null}");
        break;
    case SHARENA_T_MAP: {
        uint64_t cur = 0;
        char key[1024];
        size_t klen;
        sharena_id v;
        int r, first = 1;
        printf("{\"m\":{");
        while ((r = sharena_map_next(a, id, &cur, key, sizeof key, &klen, &v,
                                     NULL)) == 0) {
            printf(first ? "" : ",");
            first = 0;
            put_str(key, klen);
            putchar(':');
            dump(a, v);
        }
        if (r != SHARENA_ENOENT)
            CHECK(r);
        printf("}}");
        break;
    }
    case SHARENA_T_VECTOR: {
        uint64_t n;
        CHECK(sharena_vector_len(a, id, &n));
        printf("{\"v\":[");
        for (uint64_t i = 0; i < n; i++) {
            sharena_id v;
            CHECK(sharena_vector_get(a, id, i, &v, NULL));
            printf(i ? "," : "");
            dump(a, v);
        }
        printf("]}");
        break;
    }
    case SHARENA_T_BYTES: {
        void *p;
        uint64_t n;
        CHECK(sharena_bytes_ptr(a, id, &p, &n));
        uint8_t buf[4096];
        if (n > sizeof buf)
            n = sizeof buf;
        CHECK(sharena_bytes_read(a, id, 0, buf, n));
        printf("{\"x\":\"");
        for (uint64_t i = 0; i < n; i++)
            printf("%02x", buf[i]);
        printf("\"}");
        break;
    }
    case SHARENA_T_STRUCT: {
        size_t nf;
        CHECK(sharena_shape_nfields(a, id, &nf));
        printf("{\"t\":{");
        for (size_t i = 0; i < nf; i++) {
            char name[64];
            sharena_type ft;
            uint64_t size;
            CHECK(sharena_shape_field(a, id, i, name, sizeof name, &ft, &size));
            printf(i ? "," : "");
            put_str(name, strlen(name));
            putchar(':');
            sharena_value fv;
            int fr = sharena_struct_get_value(a, id, i, NULL, 0, &fv);
            if (fr != SHARENA_ERANGE)
                CHECK(fr);
            if (fv.type == SHARENA_T_NULL) {
                printf("{\"z\":null}");
            } else if (ft == SHARENA_T_STRING) {
                char s[1024];
                size_t n;
                CHECK(sharena_struct_get_string(a, id, i, s, sizeof s, &n));
                printf("{\"s\":");
                put_str(s, n);
                printf("}");
            } else if (ft == SHARENA_T_NUMBER) {
                double d;
                CHECK(sharena_struct_get_number(a, id, i, &d));
                put_num(d);
            } else if (ft == SHARENA_T_BOOL) {
                bool b;
                CHECK(sharena_struct_get_bool(a, id, i, &b));
                printf("{\"b\":%s}", b ? "true" : "false");
            } else {
                printf("null");
            }
        }
        printf("}}");
        break;
    }
    default:
        fprintf(stderr, "unexpected type %d\n", t);
        exit(1);
    }
}

static void resolve(sharena_arena *a, sharena_id m, const char *key)
{
    sharena_id holder, target;
    double d;
    CHECK(sharena_map_get(a, m, key, strlen(key), &holder));
    CHECK(sharena_number_get(a, holder, &d));
    target = (sharena_id)d;
    printf("\"%s\":", key);
    int t = sharena_type_of(a, target);
    if (t < 0)
        printf("{\"error\":\"%s\"}", sharena_errname(t));
    else
        dump(a, target);
}

static void dump_lang(sharena_arena *a, const char *lang)
{
    char root[32];
    sharena_id m;
    snprintf(root, sizeof root, "w.%s", lang);
    CHECK(sharena_root_get(a, root, &m));
    printf("{\"value\":");
    dump(a, m);
    printf(",\"ids\":{");
    resolve(a, m, "num_id");
    putchar(',');
    resolve(a, m, "gone_id");
    printf("}}\n");
}

static void dump_root(sharena_arena *a, const char *root)
{
    sharena_id id;
    CHECK(sharena_root_get(a, root, &id));
    dump(a, id);
    putchar('\n');
}

static void ticks(sharena_arena *a, long n)
{
    sharena_id t;
    CHECK(sharena_root_ensure(a, "tick", SHARENA_T_NUMBER, 0, &t, NULL));
    for (long i = 1; i <= n; i++)
        CHECK(sharena_number_set(a, t, (double)i));
}

static void wait_ticks(sharena_arena *a, long n)
{
    sharena_id t;
    CHECK(sharena_root_ensure(a, "tick", SHARENA_T_NUMBER, 0, &t, NULL));
    printf("READY\n");
    fflush(stdout);
    long lost = 0, wakeups = 0;
    double v = 0;
    for (;;) {
        uint64_t seen, now;
        CHECK(
            sharena_change_count(a, t, &seen)); /* version first, then value */
        CHECK(sharena_number_get(a, t, &v));
        if (v >= (double)n)
            break;
        int r = sharena_wait(a, t, seen, 2000000000LL, &now);
        if (r == SHARENA_ETIMEDOUT) {
            CHECK(sharena_change_count(a, t, &now));
            lost += now != seen; /* slept although it had changed */
            continue;
        }
        CHECK(r);
        wakeups++;
    }
    printf("{\"final\":%.17g,\"lost\":%ld,\"wakeups\":%ld}\n", v, lost,
           wakeups);
}

static int from_fd_report(void)
{
    const char *v = getenv("SHARENA_TEST_FD");
    sharena_arena *a;
    int r = v ? sharena_arena_from_fd(atoi(v), 0, &a) : SHARENA_EINVAL;
    if (r == 0) {
        printf("OK\n");
        return 0;
    }
    printf("%s: %s\n", sharena_errname(r), sharena_strerror(r));
    return 0;
}

/* With @p mod > 0 the keys cycle through mod names per writer and each step
 * also removes the key half a cycle away: a bounded churn for the storm. */
static void hammer(sharena_arena *a, long n, const char *w, long mod)
{
    sharena_id count, keys;
    CHECK(sharena_root_ensure(a, "count", SHARENA_T_NUMBER, 0, &count, NULL));
    CHECK(sharena_root_ensure(a, "keys", SHARENA_T_MAP, 0, &keys, NULL));
    for (long i = 0; i < n; i++) {
        char key[64];
        int len = snprintf(key, sizeof key, "c.%s.%ld", w, mod ? i % mod : i);
        CHECK(sharena_number_add(a, count, 1, NULL));
        CHECK(sharena_map_set_number(a, keys, key, (size_t)len, (double)i));
        if (mod) {
            len = snprintf(key, sizeof key, "c.%s.%ld", w, (i + mod / 2) % mod);
            int r = sharena_map_remove(a, keys, key, (size_t)len, NULL);
            if (r != SHARENA_ENOENT)
                CHECK(r);
        }
    }
}

static int bad_layout(char **cmd, bool version)
{
    sharena_arena *a;
    CHECK(sharena_arena_create("badlayout", 0, &a));
    if (version) {
        /* format version 1 (offset 8), an older release's arena */
        uint32_t old = 1;
        memcpy((char *)sharena_arena_base(a) + 8, &old, sizeof old);
    } else {
        /* The header's layout hash (offset 16, docs/format.md) of another
         * build: everything else about the arena is valid. */
        uint64_t other = sharena_layout_hash() ^ 0x5a5a5a5a5a5a5a5aull;
        memcpy((char *)sharena_arena_base(a) + 16, &other, sizeof other);
    }
    int fd = dup(sharena_arena_fd(a)); /* without FD_CLOEXEC */
    char num[16];
    snprintf(num, sizeof num, "%d", fd);
    setenv("SHARENA_TEST_FD", num, 1);
    if (strcmp(cmd[0], "self") == 0)
        return from_fd_report();
    execvp(cmd[0], cmd);
    perror(cmd[0]);
    return 127;
}

/* ---- hostile peers (test_hostile.py) ------------------------------------ */

static unsigned long errs[64];
static const char *errnames[64];

/* Count a library error by name; success and errors alike are allowed. */
static int tally(int r)
{
    if (r >= 0)
        return r;
    const char *n = sharena_errname(r);
    for (size_t i = 0; i < 64; i++) {
        if (!errnames[i])
            errnames[i] = n;
        if (errnames[i] == n || strcmp(errnames[i], n) == 0) {
            errs[i]++;
            break;
        }
    }
    return r;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void hostile(sharena_arena *a, double seconds, unsigned seed)
{
    srand(seed);
    unsigned long ops = 0;
    char buf[256];
    size_t len;
    double until = mono_s() + seconds;
    while (mono_s() < until) {
        sharena_id m = 0, v = 0, s = 0, n = 0, b = 0, x = 0, dir = 0;
        tally(sharena_root_get(a, "h.map", &m));
        tally(sharena_root_get(a, "h.vec", &v));
        tally(sharena_root_get(a, "h.str", &s));
        tally(sharena_root_get(a, "h.num", &n));
        tally(sharena_root_get(a, "h.bytes", &b));
        char k[32];
        int kl = snprintf(k, sizeof k, "key%d", rand() % 200);
        bool owned;
        double d;
        uint64_t cur = 0, l = 0;
        if (tally(sharena_map_get(a, m, k, (size_t)kl, &x)) == 0) {
            tally(sharena_type_of(a, x));
            tally(sharena_string_get(a, x, buf, sizeof buf, &len));
            tally(sharena_number_get(a, x, &d));
        }
        for (int i = 0; i < 50; i++) /* iterate (bounded by the library) */
            if (tally(sharena_map_next(a, m, &cur, buf, sizeof buf, &len, &x,
                                       &owned)) < 0)
                break;
        if (tally(sharena_vector_len(a, v, &l)) == 0 && l)
            if (tally(sharena_vector_get(a, v, (uint64_t)rand() % l, &x,
                                         &owned)) == 0)
                tally(sharena_number_get(a, x, &d));
        tally(sharena_string_get(a, s, buf, sizeof buf, &len));
        tally(sharena_number_get(a, n, &d));
        void *p;
        uint64_t size;
        if (tally(sharena_bytes_ptr(a, b, &p, &size)) == 0 && size >= 8)
            memcpy(&d, (char *)p + (size_t)rand() % (size - 7), 8);
        tally(sharena_roots(a, &dir));
        cur = 0;
        for (int i = 0; i < 50; i++)
            if (tally(sharena_map_next(a, dir, &cur, buf, sizeof buf, &len, &x,
                                       &owned)) < 0)
                break;
        tally(sharena_type_of(a, ((sharena_id)(rand() % 4) << 32) |
                                     (sharena_id)(rand() % 512)));
        /* writes */
        tally(sharena_map_set_number(a, m, k, (size_t)kl, rand()));
        tally(sharena_map_set_string(a, m, "c.temp", 6, k, (size_t)kl));
        tally(sharena_map_remove(a, m, "c.gone", 6, NULL));
        tally(sharena_map_set_bool(a, m, "c.gone", 6, true));
        if (tally(sharena_number_new(a, ops, &x)) == 0 &&
            tally(sharena_vector_push(a, v, x, SHARENA_OWNED)) < 0)
            tally(sharena_drop(a, x, 0));
        if (tally(sharena_vector_pop(a, v, &x)) == 0)
            tally(sharena_drop(a, x, 0));
        tally(sharena_string_set(a, s, k, (size_t)kl));
        tally(sharena_number_add(a, n, 1, NULL));
        if (tally(sharena_bytes_ptr(a, b, &p, &size)) == 0 && size >= 8)
            memcpy((char *)p + (size_t)rand() % (size - 7), &ops, 8);
        if (tally(sharena_string_new(a, "root", 4, &x)) == 0 &&
            tally(sharena_root_set(a, "h.c.tmp", x, SHARENA_OWNED)) < 0)
            tally(sharena_drop(a, x, 0));
        ops++;
    }
    printf("{\"ops\":%lu,\"errors\":{", ops);
    for (size_t i = 0; i < 64 && errnames[i]; i++)
        printf("%s\"%s\":%lu", i ? "," : "", errnames[i], errs[i]);
    printf("}}\n");
}

/* After repair the arena takes new objects and gives them back. */
static void fresh(sharena_arena *a, const char *lang)
{
    char name[64], buf[64];
    size_t len;
    sharena_id m, x;
    double d;
    snprintf(name, sizeof name, "fresh.%s", lang);
    CHECK(sharena_root_ensure(a, name, SHARENA_T_MAP, 0, &m, NULL));
    CHECK(sharena_map_set_number(a, m, "n", 1, 42));
    CHECK(sharena_map_set_string(a, m, "s", 1, "fresh", 5));
    CHECK(sharena_map_get(a, m, "n", 1, &x));
    CHECK(sharena_number_get(a, x, &d));
    CHECK(sharena_map_get(a, m, "s", 1, &x));
    CHECK(sharena_string_get(a, x, buf, sizeof buf, &len));
    if (d != 42 || len != 5 || memcmp(buf, "fresh", 5) != 0) {
        fprintf(stderr, "fresh: read back %g, %.*s\n", d, (int)len, buf);
        exit(1);
    }
    printf("OK\n");
}

/* ---- the value builder's script (test_build.py) ---------------------- */

/* A fingerprint of object @p id, deep, into @p f (snapshots to compare). */
static void fp(sharena_arena *a, sharena_id id, FILE *f)
{
    int t = sharena_type_of(a, id);
    fprintf(f, "<%d:", t);
    if (t == SHARENA_T_MAP) {
        uint64_t cur = 0;
        char key[256];
        size_t klen;
        sharena_id v;
        while (sharena_map_next(a, id, &cur, key, sizeof key, &klen, &v,
                                NULL) == 0) {
            fprintf(f, "%s=", key);
            fp(a, v, f);
        }
    } else if (t == SHARENA_T_VECTOR) {
        sharena_id v;
        for (uint64_t i = 0; sharena_vector_get(a, id, i, &v, NULL) == 0; i++)
            fp(a, v, f);
    } else {
        fprintf(f, "%" PRIu64, (uint64_t)id); /* scalars: the same object */
    }
    fputc('>', f);
}

struct snap {
    uint64_t used, objects;
    char *text;
};

static struct snap snap_take(sharena_arena *a, sharena_id m, sharena_id v)
{
    struct snap s = {0};
    sharena_arena_info i;
    CHECK(sharena_arena_info_get(a, &i));
    s.used = i.used_bytes;
    s.objects = i.objects;
    size_t n;
    FILE *f = open_memstream(&s.text, &n);
    if (!f)
        exit(1);
    fp(a, m, f);
    fp(a, v, f);
    fclose(f);
    return s;
}

static const char *snap_same(sharena_arena *a, sharena_id m, sharena_id v,
                             struct snap *before)
{
    struct snap now = snap_take(a, m, v);
    bool same = now.used == before->used && now.objects == before->objects &&
                strcmp(now.text, before->text) == 0;
    free(now.text);
    free(before->text);
    return same ? "unchanged" : "changed";
}

/* {"l": [1, {"d": <a failing value>}]}: @p bad is a stale id in C (what
 * None / null are in Python / Node: a value that cannot be stored). */
static void failing_tree(sharena_builder *b, sharena_id bad)
{
    sharena_build_map(b);
    sharena_build_key(b, "l", 1);
    sharena_build_vector(b);
    sharena_build_number(b, 1);
    sharena_build_map(b);
    sharena_build_key(b, "d", 1);
    sharena_build_ref(b, bad, 0);
    sharena_build_end(b);
    sharena_build_end(b);
    sharena_build_end(b);
}

static void big_tree(sharena_builder *b)
{
    static char big[4000];
    memset(big, 'x', sizeof big);
    sharena_build_map(b);
    sharena_build_key(b, "l", 1);
    sharena_build_vector(b);
    for (int i = 0; i < 4; i++)
        sharena_build_string(b, big, sizeof big);
    sharena_build_end(b);
    sharena_build_end(b);
}

static void build_script(const char *name)
{
    sharena_conn *c;
    sharena_arena *a;
    CHECK(sharena_connect(NULL, &c));
    sharena_open_opts o = {.flags = SHARENA_CREATE, .capacity = 256 << 10};
    CHECK(sharena_open(c, name, &o, &a));
    sharena_id m, v, w, x, fill;
    CHECK(sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL));
    CHECK(sharena_root_ensure(a, "v", SHARENA_T_VECTOR, 0, &v, NULL));
    CHECK(sharena_map_set_string(a, m, "keep", 4, "old", 3));
    CHECK(sharena_string_new(a, "a", 1, &x));
    CHECK(sharena_vector_push(a, v, x, SHARENA_OWNED));
    CHECK(sharena_string_new(a, "b", 1, &x));
    CHECK(sharena_vector_push(a, v, x, SHARENA_OWNED));
    /* a handle table that grows stays grown: grow it first */
    CHECK(sharena_root_ensure(a, "warm", SHARENA_T_VECTOR, 0, &w, NULL));
    for (int i = 0; i < 600; i++) {
        CHECK(sharena_bool_new(a, true, &x));
        CHECK(sharena_vector_push(a, w, x, SHARENA_OWNED));
    }
    CHECK(sharena_root_remove(a, "warm"));

    /* m["t"] = {"s": "héllo ✓", "n": 1.5, "neg": -0.0, "b": true,
     *           "l": [1, "x", {"deep": [false, 2]}], "e": {}, "z": [],
     *           "raw": b"\x00\xff"} */
    sharena_builder *b;
    CHECK(sharena_build_begin(a, &b));
    sharena_build_key(b, "t", 1);
    sharena_build_map(b);
    sharena_build_key(b, "s", 1);
    sharena_build_string(b, "h\xc3\xa9llo \xe2\x9c\x93", 10);
    sharena_build_key(b, "n", 1);
    sharena_build_number(b, 1.5);
    sharena_build_key(b, "neg", 3);
    sharena_build_number(b, -0.0);
    sharena_build_key(b, "b", 1);
    sharena_build_bool(b, true);
    sharena_build_key(b, "l", 1);
    sharena_build_vector(b);
    sharena_build_number(b, 1);
    sharena_build_string(b, "x", 1);
    sharena_build_map(b);
    sharena_build_key(b, "deep", 4);
    sharena_build_vector(b);
    sharena_build_bool(b, false);
    sharena_build_number(b, 2);
    sharena_build_end(b);
    sharena_build_end(b);
    sharena_build_end(b);
    sharena_build_key(b, "e", 1);
    sharena_build_map(b);
    sharena_build_end(b);
    sharena_build_key(b, "z", 1);
    sharena_build_vector(b);
    sharena_build_end(b);
    sharena_build_key(b, "raw", 3);
    sharena_build_bytes(b, "\x00\xff", 2);
    sharena_build_end(b);
    CHECK(sharena_build_map_update(b, m));
    printf("{\"tree\":");
    dump(a, m);

    /* an unstorable value mid-tree: a set and a push */
    sharena_id gone;
    CHECK(sharena_number_new(a, 0, &gone));
    CHECK(sharena_drop(a, gone, 0));
    struct snap s = snap_take(a, m, v);
    CHECK(sharena_build_begin(a, &b));
    sharena_build_key(b, "u", 1);
    failing_tree(b, gone);
    if (sharena_build_map_update(b, m) != SHARENA_ESTALE)
        exit(3);
    CHECK(sharena_build_begin(a, &b));
    failing_tree(b, gone);
    if (sharena_build_vector_splice(b, v, SHARENA_BUILD_END, 0) !=
        SHARENA_ESTALE)
        exit(3);
    printf(",\"unsupported\":\"%s\"", snap_same(a, m, v, &s));

    /* a full arena mid-tree: fill it, give one block back */
    CHECK(sharena_root_ensure(a, "fill", SHARENA_T_VECTOR, 0, &fill, NULL));
    for (;;) {
        int r = sharena_bytes_new(a, 4000, &x);
        if (r == SHARENA_EFULL)
            break;
        CHECK(r);
        r = sharena_vector_push(a, fill, x, SHARENA_OWNED);
        if (r == SHARENA_EFULL) {
            CHECK(sharena_drop(a, x, 0));
            break;
        }
        CHECK(r);
    }
    CHECK(sharena_vector_pop(a, fill, &x));
    CHECK(sharena_drop(a, x, 0));
    s = snap_take(a, m, v);
    CHECK(sharena_build_begin(a, &b));
    sharena_build_key(b, "t", 1);
    big_tree(b);
    if (sharena_build_map_update(b, m) != SHARENA_EFULL)
        exit(4);
    CHECK(sharena_build_begin(a, &b));
    big_tree(b);
    if (sharena_build_vector_splice(b, v, SHARENA_BUILD_END, 0) !=
        SHARENA_EFULL)
        exit(4);
    printf(",\"full\":\"%s\"", snap_same(a, m, v, &s));
    printf(",\"final\":{\"m\":");
    dump(a, m);
    printf(",\"v\":");
    dump(a, v);
    printf("}}\n");
    sharena_arena_close(a);
    sharena_disconnect(c);
}

/* Mode probe NAME: is the lock of root map "m" of arena NAME held (by
 * another process)? Prints "held" or "free" (taking and releasing it). */
static void probe_lock(sharena_arena *a)
{
    sharena_id m;
    CHECK(sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL));
    int r = sharena_lock_timeout(a, m, 0);
    if (r == 0)
        CHECK(sharena_unlock(a, m));
    else if (r != SHARENA_ETIMEDOUT)
        CHECK(r);
    printf("%s\n", r == 0 ? "free" : "held");
}

/* The probe of another process (this program, mode probe). */
static const char *probe_other(const char *name)
{
    static char out[16];
    char cmd[600];
    const char *self = getenv("SHARENA_INTEROP_C");
    snprintf(cmd, sizeof cmd, "'%s' probe '%s'", self ? self : "interop_c",
             name);
    FILE *p = popen(cmd, "r");
    if (!p || !fgets(out, sizeof out, p))
        snprintf(out, sizeof out, "error");
    if (p)
        pclose(p);
    out[strcspn(out, "\n")] = 0;
    return out;
}

/* Mode locks NAME: the one deadlock rule (see test_locks.py), as JSON:
 * a plain lock of a held lock, a nested one, what another process sees
 * after the inner and the outer unlock, an unlock too many. */
static void locks(sharena_arena *a, const char *name)
{
    sharena_id m;
    CHECK(sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL));
    CHECK(sharena_lock(a, m));
    printf("{\"twice\":\"%s\"", sharena_errname(sharena_lock(a, m)));
    printf(",\"twice_timeout\":\"%s\"",
           sharena_errname(sharena_lock_timeout(a, m, 0)));
    printf(",\"nested\":\"%s\"",
           sharena_errname(sharena_lock_nested(a, m, -1)));
    printf(",\"write_inside\":\"%s\"",
           sharena_errname(sharena_map_set_number(a, m, "k", 1, 1)));
    CHECK(sharena_unlock(a, m));
    printf(",\"after_inner_unlock\":\"%s\"", probe_other(name));
    CHECK(sharena_unlock(a, m));
    printf(",\"after_outer_unlock\":\"%s\"", probe_other(name));
    printf(",\"extra_unlock\":\"%s\"", sharena_errname(sharena_unlock(a, m)));
    CHECK(sharena_lock_nested(a, m, -1)); /* not held: taken */
    printf(",\"nested_first\":\"%s\"", probe_other(name));
    CHECK(sharena_unlock(a, m));
    printf(",\"nested_first_unlocked\":\"%s\"}\n", probe_other(name));
}

/* Mode hints: the library's hint for every code of the table, and the
 * code and hint of a real error (a number read after its drop), as JSON:
 * {"table":{"ESTALE":"...",...},"stale":{"code":"ESTALE","hint":"..."}}.
 * The hints hold no '"' or '\'. */
static void hints(sharena_arena *a)
{
    static const int codes[] = {
#define HINT_CODE(name, value, msg) SHARENA_##name,
        SHARENA_ERRNO_MAP(HINT_CODE)
#undef HINT_CODE
    };
    printf("{\"table\":{");
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        printf("%s\"%s\":\"%s\"", i ? "," : "", sharena_errname(codes[i]),
               sharena_strerror_hint(codes[i]));
    sharena_id id;
    double d;
    CHECK(sharena_number_new(a, 1, &id));
    CHECK(sharena_drop(a, id, 0));
    int r = sharena_number_get(a, id, &d);
    printf("},\"stale\":{\"code\":\"%s\",\"hint\":\"%s\"}}\n",
           sharena_errname(r), sharena_strerror_hint(r));
}

/* Mode add: the exact-integer rule of add (sharena_number_add_exact, the
 * one Python's add() of an int uses; issue 15), case by case as JSON:
 * {"CASE":{"code":"OK"|"EOVERFLOW"|...,"value":"<the number after, as the
 * hex of its big-endian bits>"},...}. */
static void add_cases(sharena_arena *a)
{
    static const struct {
        const char *name;
        double start, delta;
    } cases[] = {
        {"up_to_2p53", 9007199254740991.0, 1},
        {"past_2p53", 9007199254740992.0, 1},
        {"below_minus_2p53", -9007199254740992.0, -1},
        {"delta_past_2p53", 1, 9007199254740992.0},
        {"fraction", 0.5, 1},
        {"huge", 1e300, 1},
        {"infinite", INFINITY, 1},
        {"negative", 10, -25},
    };
    printf("{");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sharena_id id;
        double res = 0, after;
        CHECK(sharena_number_new(a, cases[i].start, &id));
        int r = sharena_number_add_exact(a, id, cases[i].delta, &res);
        CHECK(sharena_number_get(a, id, &after));
        uint64_t bits;
        memcpy(&bits, &after, sizeof bits);
        printf("%s\"%s\":{\"code\":\"%s\",\"value\":\"%016" PRIx64 "\"}",
               i ? "," : "", cases[i].name, r ? sharena_errname(r) : "OK",
               bits);
    }
    printf("}\n");
}

/* Mode typed-writer ARENA N: replace the value at key "k" of root map
 * "typed" N times, by turns a number i (i % 3 != 0) and a string "text i"
 * (i % 3 == 0), each replacement dropping the value before; then the
 * string "end". */
static void typed_writer(sharena_arena *a, long n)
{
    sharena_id m;
    CHECK(sharena_root_ensure(a, "typed", SHARENA_T_MAP, 0, &m, NULL));
    char text[32];
    for (long i = 1; i <= n; i++) {
        if (i % 3) {
            CHECK(sharena_map_set_number(a, m, "k", 1, (double)i));
        } else {
            int len = snprintf(text, sizeof text, "text %ld", i);
            CHECK(sharena_map_set_string(a, m, "k", 1, text, (size_t)len));
        }
    }
    CHECK(sharena_map_set_string(a, m, "k", 1, "end", 3));
}

/* Mode typed-reader ARENA MAX: print READY, then read "k" of root map
 * "typed" (one typed read each: sharena_map_get_value) until it is "end"
 * or MAX reads, and print {"reads":N,"numbers":N,"strings":N,"wrong":N,
 * "errors":{"CODE":N,...},"end":true|false}. A value is wrong when its type
 * and value do not go together as the writer stores them (a number i with
 * i % 3 == 0, a string other than "text i" with i % 3 == 0); a missing key
 * is an error once a value was seen. */
static void typed_reader(sharena_arena *a, long max)
{
    sharena_id m;
    CHECK(sharena_root_ensure(a, "typed", SHARENA_T_MAP, 0, &m, NULL));
    printf("READY\n");
    fflush(stdout);
    long reads = 0, numbers = 0, strings = 0, wrong = 0;
    int codes[8] = {0};
    long counts[8] = {0};
    bool end = false;
    char buf[64];
    while (reads < max && !end) {
        sharena_value v;
        int r = sharena_map_get_value(a, m, "k", 1, buf, sizeof buf, &v);
        reads++;
        if (r == SHARENA_ENOENT && numbers + strings == 0)
            continue; /* the writer has not begun */
        if (r < 0) {
            for (int i = 0; i < 8; i++) {
                if (!codes[i] || codes[i] == r) {
                    codes[i] = r;
                    counts[i]++;
                    break;
                }
            }
            continue;
        }
        long i;
        char rest;
        if (v.type == SHARENA_T_NUMBER) {
            numbers++;
            i = (long)v.number;
            wrong += (double)i != v.number || i % 3 == 0;
        } else if (v.type == SHARENA_T_STRING) {
            strings++;
            end = strcmp(buf, "end") == 0;
            wrong += !end &&
                     (sscanf(buf, "text %ld%c", &i, &rest) != 1 || i % 3 != 0);
        } else {
            wrong++;
        }
    }
    printf("{\"reads\":%ld,\"numbers\":%ld,\"strings\":%ld,\"wrong\":%ld,"
           "\"errors\":{",
           reads, numbers, strings, wrong);
    for (int i = 0; i < 8 && codes[i]; i++)
        printf("%s\"%s\":%ld", i ? "," : "", sharena_errname(codes[i]),
               counts[i]);
    printf("},\"end\":%s}\n", end ? "true" : "false");
}

/* Mode cancel: a wait with no timeout on root number "n", in a thread of
 * its own, ended by cancelling the handle's waits from this thread
 * (sharena_arena_cancel_waits: what closing the handle does too); then a
 * read on that handle, and a read through a new handle of the same arena:
 * {"wait":"ECLOSED","after":"ECLOSED","other_handle":"OK"}. */
struct cancel_wait {
    sharena_arena *a;
    sharena_id id;
    uint64_t last;
    int r;
};

static void *cancel_waiter(void *p)
{
    struct cancel_wait *w = p;
    uint64_t v;
    w->r = sharena_wait(w->a, w->id, w->last, -1, &v);
    return NULL;
}

static void cancel_waits(const char *name)
{
    sharena_arena *a = open_arena(name);
    sharena_id n;
    CHECK(sharena_root_ensure(a, "n", SHARENA_T_NUMBER, 0, &n, NULL));
    struct cancel_wait w = {.a = a, .id = n};
    CHECK(sharena_change_count(a, n, &w.last));
    pthread_t t;
    if (pthread_create(&t, NULL, cancel_waiter, &w) != 0)
        exit(1);
    /* (a wait that begins after the cancel ends at once all the same) */
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    CHECK(sharena_arena_cancel_waits(a));
    pthread_join(t, NULL);
    double d;
    int after = sharena_number_get(a, n, &d);
    sharena_arena_close(a);
    sharena_arena *b = open_arena(name);
    int other = sharena_number_get(b, n, &d);
    sharena_arena_close(b);
    printf("{\"wait\":\"%s\",\"after\":\"%s\",\"other_handle\":\"%s\"}\n",
           w.r ? sharena_errname(w.r) : "OK",
           after ? sharena_errname(after) : "OK",
           other ? sharena_errname(other) : "OK");
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "write") == 0) {
        write_values(open_arena(argv[2]));
    } else if (argc >= 4 && strcmp(argv[1], "dump") == 0) {
        dump_lang(open_arena(argv[2]), argv[3]);
    } else if (argc >= 4 && strcmp(argv[1], "dumproot") == 0) {
        dump_root(open_arena(argv[2]), argv[3]);
    } else if (argc >= 5 && strcmp(argv[1], "hammer") == 0) {
        hammer(open_arena(argv[2]), atol(argv[3]), argv[4],
               argc > 5 ? atol(argv[5]) : 0);
    } else if (argc >= 4 && strcmp(argv[1], "ticks") == 0) {
        ticks(open_arena(argv[2]), atol(argv[3]));
    } else if (argc >= 4 && strcmp(argv[1], "wait") == 0) {
        wait_ticks(open_arena(argv[2]), atol(argv[3]));
    } else if (argc >= 3 && strcmp(argv[1], "badlayout") == 0) {
        return bad_layout(argv + 2, false);
    } else if (argc >= 3 && strcmp(argv[1], "badversion") == 0) {
        return bad_layout(argv + 2, true);
    } else if (argc >= 2 && strcmp(argv[1], "fromfd") == 0) {
        return from_fd_report();
    } else if (argc >= 5 && strcmp(argv[1], "hostile") == 0) {
        hostile(open_arena(argv[2]), atof(argv[3]),
                (unsigned)strtoul(argv[4], NULL, 0));
    } else if (argc >= 4 && strcmp(argv[1], "fresh") == 0) {
        fresh(open_arena(argv[2]), argv[3]);
    } else if (argc >= 3 && strcmp(argv[1], "probe") == 0) {
        probe_lock(open_arena(argv[2]));
    } else if (argc >= 3 && strcmp(argv[1], "locks") == 0) {
        locks(open_arena(argv[2]), argv[2]);
    } else if (argc >= 3 && strcmp(argv[1], "hints") == 0) {
        hints(open_arena(argv[2]));
    } else if (argc >= 3 && strcmp(argv[1], "build") == 0) {
        build_script(argv[2]);
    } else if (argc >= 3 && strcmp(argv[1], "add") == 0) {
        add_cases(open_arena(argv[2]));
    } else if (argc >= 3 && strcmp(argv[1], "cancel") == 0) {
        cancel_waits(argv[2]);
    } else if (argc >= 4 && strcmp(argv[1], "typed-writer") == 0) {
        typed_writer(open_arena(argv[2]), atol(argv[3]));
    } else if (argc >= 4 && strcmp(argv[1], "typed-reader") == 0) {
        typed_reader(open_arena(argv[2]), atol(argv[3]));
    } else {
        fprintf(stderr, "usage: interop write ARENA | dump ARENA LANG | "
                        "hammer ARENA N WORKER [MOD]\n");
        return 2;
    }
    return 0;
}
