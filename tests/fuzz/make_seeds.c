/* make_seeds.c: writes the seed corpora of the fuzz targets into DIR
 * (tests/fuzz/corpus): valid message sequences for the broker and the
 * client, real arena images, and op streams. Run after a format or
 * protocol change: make_seeds tests/fuzz/corpus. */
#include "proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char dir[512];

static FILE *seed(const char *target, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, target);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", dir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(1);
    }
    return f;
}

/* one record of the broker/client targets: [op][len u16][bytes] */
static void rec(FILE *f, uint8_t op, const void *msg, size_t len)
{
    uint8_t h[3] = {op, (uint8_t)len, (uint8_t)(len >> 8)};
    fwrite(h, 1, 3, f);
    fwrite(msg, 1, len, f);
}

static void name_msg(struct sharena__msg_name *m, int type, const char *name,
                     uint32_t seq, uint32_t flags)
{
    memset(m, 0, sizeof *m);
    sharena__proto_hdr(&m->h, type, sizeof *m, seq);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->flags = flags;
    if (type == SHARENA__MSG_OPEN && (flags & SHARENA_CREATE))
        m->capacity = SHARENA_MIN_CAPACITY;
}

static void broker_seeds(void)
{
    struct sharena__msg_hello hello = {0};
    sharena__proto_hdr(&hello.h, SHARENA__MSG_HELLO, sizeof hello, 1);
    hello.layout_hash = sharena_layout_hash();
    struct sharena__msg_name m;
    FILE *f = seed("broker", "session");
    rec(f, 0, &hello, sizeof hello);
    name_msg(&m, SHARENA__MSG_OPEN, "a", 2, SHARENA_CREATE);
    rec(f, 0, &m, sizeof m);
    name_msg(&m, SHARENA__MSG_STAT, "a", 3, 0);
    rec(f, 0, &m, sizeof m);
    struct sharena__msg_list l = {0};
    sharena__proto_hdr(&l.h, SHARENA__MSG_LIST, sizeof l, 4);
    rec(f, 0, &l, sizeof l);
    struct {
        struct sharena__msg_delegate d;
        char names[1][SHARENA__PROTO_NAME];
    } d = {0};
    sharena__proto_hdr(&d.d.h, SHARENA__MSG_DELEGATE, sizeof d, 5);
    d.d.count = 1;
    strcpy(d.names[0], "a");
    rec(f, 0, &d, sizeof d);
    name_msg(&m, SHARENA__MSG_CLOSE, "a", 6, 0);
    rec(f, 0, &m, sizeof m);
    name_msg(&m, SHARENA__MSG_DELETE, "a", 7, 0);
    rec(f, 0, &m, sizeof m);
    fclose(f);

    f = seed("broker", "crash-recovery");
    rec(f, 0, &hello, sizeof hello);
    name_msg(&m, SHARENA__MSG_OPEN, "b", 2, SHARENA_CREATE | SHARENA_EXCL);
    rec(f, 0, &m, sizeof m);
    rec(f, 3, NULL, 0); /* the next client */
    rec(f, 0, &hello, sizeof hello);
    name_msg(&m, SHARENA__MSG_OPEN, "b", 2, SHARENA_READONLY);
    rec(f, 0, &m, sizeof m);
    rec(f, 2, NULL, 0);              /* it dies */
    rec(f, 1, &hello, sizeof hello); /* an fd with HELLO */
    fclose(f);
}

static void client_seeds(void)
{
    struct sharena__msg_welcome w = {0};
    sharena__proto_hdr(&w.h, SHARENA__MSG_WELCOME, sizeof w, 1);
    w.slot = 7;
    w.layout_hash = sharena_layout_hash();
    struct sharena__msg_opened o = {0};
    sharena__proto_hdr(&o.h, SHARENA__MSG_OPENED, sizeof o, 2);
    o.capacity = SHARENA_MIN_CAPACITY;
    o.created = 1;
    struct sharena__msg_stated st = {0};
    sharena__proto_hdr(&st.h, SHARENA__MSG_STATED, sizeof st, 4);
    strcpy(st.st.name, "x");
    st.st.capacity = SHARENA_MIN_CAPACITY;
    st.st.mode = 0600;
    struct sharena__msg_error e = {0};
    sharena__proto_hdr(&e.h, SHARENA__MSG_ERROR, sizeof e, 5);
    e.code = SHARENA_ENOENT;
    strcpy(e.text, "no such arena");
    FILE *f = seed("client", "session");
    rec(f, 0, &w, sizeof w);
    rec(f, 1, &o, sizeof o); /* with a real arena fd */
    rec(f, 0, &st, sizeof st);
    rec(f, 0, &e, sizeof e);
    fclose(f);
    f = seed("client", "clients");
    struct sharena__msg_hdr ok;
    sharena__proto_hdr(&ok, SHARENA__MSG_OK, sizeof ok, 3);
    struct sharena__msg_listed ls = {0};
    sharena__proto_hdr(&ls.h, SHARENA__MSG_LISTED, sizeof ls, 5);
    struct {
        struct sharena__msg_client_list m;
        struct sharena__wire_client cl[2];
    } cl = {0};
    sharena__proto_hdr(&cl.m.h, SHARENA__MSG_CLIENT_LIST, sizeof cl, 6);
    cl.m.count = 2;
    cl.cl[0] = (struct sharena__wire_client){.slot = 7, .pid = 100, .flags = 1};
    cl.cl[1] = (struct sharena__wire_client){.slot = 9, .pid = 0, .flags = 2};
    rec(f, 0, &w, sizeof w);
    rec(f, 1, &o, sizeof o);
    rec(f, 0, &ok, sizeof ok);
    rec(f, 0, &st, sizeof st);
    rec(f, 0, &ls, sizeof ls);
    rec(f, 0, &cl, sizeof cl);
    fclose(f);
    f = seed("client", "refused");
    sharena__proto_hdr(&e.h, SHARENA__MSG_ERROR, sizeof e, 0);
    e.code = SHARENA_ENOSPC;
    rec(f, 0, &e, sizeof e);
    fclose(f);
}

static void image_seeds(void)
{
    sharena_arena *a;
    if (sharena_arena_create("seed", SHARENA_MIN_CAPACITY, &a) < 0)
        exit(1);
    sharena_id m, v, s, id, shape, st;
    sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL);
    sharena_root_ensure(a, "v", SHARENA_T_VECTOR, 0, &v, NULL);
    sharena_map_set_string(a, m, "s", 1, "h\xc3\xa9llo", 6);
    sharena_map_set_number(a, m, "n", 1, 42);
    sharena_map_set_bool(a, m, "b", 1, true);
    sharena_map_set_null(a, m, "z", 1);
    for (int i = 0; i < 4; i++) {
        sharena_string_new(a, "item", 4, &s);
        sharena_vector_push(a, v, s, SHARENA_OWNED);
    }
    sharena_bytes_new(a, 32, &id);
    sharena_root_set(a, "raw", id, SHARENA_OWNED);
    sharena_field_def f[] = {
        {"name", SHARENA_T_STRING, 0, 0},
        {"n", SHARENA_T_NUMBER, 0, 0},
        {"opt", SHARENA_T_NUMBER, 0, SHARENA_FIELD_NULLABLE}};
    sharena_shape_new(a, f, 3, &shape);
    sharena_struct_new(a, shape, &st);
    sharena_root_set(a, "st", st, SHARENA_OWNED);
    /* the image up to its last non-zero byte (the rest is zero anyway) */
    const uint8_t *base = sharena_arena_base(a);
    size_t n = SHARENA_MIN_CAPACITY;
    while (n && !base[n - 1])
        n--;
    FILE *o = seed("image", "populated");
    fwrite(base, 1, n, o);
    fclose(o);
    sharena_arena_close(a);
    if (sharena_arena_create("empty", SHARENA_MIN_CAPACITY, &a) < 0)
        exit(1);
    base = sharena_arena_base(a);
    n = SHARENA_MIN_CAPACITY;
    while (n && !base[n - 1])
        n--;
    o = seed("image", "empty");
    fwrite(base, 1, n, o);
    fclose(o);
    sharena_arena_close(a);
}

static void ops_seeds(void)
{
    FILE *f = seed("ops", "every-op");
    for (int op = 2; op < 16; op++) {
        uint8_t r[4] = {(uint8_t)op, (uint8_t)(op * 7), 3, (uint8_t)op};
        fwrite(r, 1, 4, f);
    }
    fclose(f);
    f = seed("ops", "scribble-then-use");
    for (int i = 0; i < 64; i++) {
        uint8_t r[4] = {(uint8_t)(i % 2 ? 2 + i % 14 : 0), (uint8_t)i,
                        (uint8_t)(i * 13), (uint8_t)(i * 31)};
        fwrite(r, 1, 4, f);
    }
    fclose(f);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds DIR\n");
        return 2;
    }
    snprintf(dir, sizeof dir, "%s", argv[1]);
    mkdir(dir, 0755);
    broker_seeds();
    client_seeds();
    image_seeds();
    ops_seeds();
    return 0;
}
