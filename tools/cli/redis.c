/* redis.c: `sharena export ARENA --redis URL [--prefix P]` and
 * `sharena import --redis URL --prefix P NAME`, through hiredis: the way
 * out to many hosts (docs/scaling.md; the mapping is in docs/cli.md,
 * "export and import: Redis").
 *
 * Both go through dump's exact JSON encoding, so that one set of rules
 * (jsonload.c) decides what a valid tree is:
 * - export renders the arena as `dump` does, checks the tree (a cycle or an
 *   unreadable value is refused before Redis is touched), and writes every
 *   key in one MULTI/EXEC transaction: all of it or none appears;
 * - import reads the whole export in one MULTI/EXEC (a consistent view),
 *   turns it back into the same JSON, and creates the arena through
 *   load_tree(): checked first, created exclusively, built in one step,
 *   deleted again on failure. An import that fails creates nothing.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef SHARENA_HAVE_HIREDIS

static int not_built(struct cli *c)
{
    cli_err(c, "this sharena was built without hiredis: export and import "
               "--redis are not built in (install libhiredis-dev and "
               "rebuild)");
    return EXIT_FAIL;
}

int cmd_export(struct cli *c, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return not_built(c);
}

int cmd_import(struct cli *c, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return not_built(c);
}

#else

#include <hiredis/hiredis.h>

#define FORMAT_FIELD "$format"
#define FORMAT_VALUE "sharena 1"
#define TYPES_SUFFIX ":$types"

/* ---- small helpers --------------------------------------------------------
 */

struct str {
    char *p;
    size_t len, cap;
};

static int str_add(struct str *s, const char *p, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        size_t c = s->cap ? s->cap : 64;
        while (c < s->len + n + 1)
            c *= 2;
        char *q = realloc(s->p, c);
        if (!q)
            return -1;
        s->p = q;
        s->cap = c;
    }
    if (n)
        memcpy(s->p + s->len, p, n);
    s->len += n;
    s->p[s->len] = 0;
    return 0;
}

/* Append one path component, '/'-separated, with '/' and '\' escaped as
 * in the CLI's PATH syntax (docs/cli.md, "PATH"). */
static int path_add(struct str *s, const char *comp, size_t n)
{
    if (s->len && str_add(s, "/", 1) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if ((comp[i] == '/' || comp[i] == '\\') && str_add(s, "\\", 1) < 0)
            return -1;
        if (str_add(s, comp + i, 1) < 0)
            return -1;
    }
    return 0;
}

static int path_index_add(struct str *s, size_t i)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%zu", i);
    return path_add(s, b, (size_t)n);
}

/* Arguments of one Redis command (copies). */
struct args {
    char **v;
    size_t *l;
    size_t n, cap;
};

static int args_add(struct args *a, const char *p, size_t n)
{
    if (a->n == a->cap) {
        size_t c = a->cap ? a->cap * 2 : 8;
        char **v = realloc(a->v, c * sizeof *v);
        if (!v)
            return -1;
        a->v = v;
        size_t *l = realloc(a->l, c * sizeof *l);
        if (!l)
            return -1;
        a->l = l;
        a->cap = c;
    }
    char *q = malloc(n + 1);
    if (!q)
        return -1;
    if (n)
        memcpy(q, p, n);
    q[n] = 0;
    a->v[a->n] = q;
    a->l[a->n++] = n;
    return 0;
}

static int args_str(struct args *a, const char *s)
{
    return args_add(a, s, strlen(s));
}

static void args_free(struct args *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    free(a->l);
    memset(a, 0, sizeof *a);
}

/* The shortest text that reads back to @p d (finite). */
static void num_text(double d, char *buf, size_t cap)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            return;
    }
}

/* "unix:///path/to.sock" or "redis://host[:port]" */
static redisContext *rconnect(struct cli *c, const char *url)
{
    struct timeval tv = {.tv_sec = c->timeout > 0 ? c->timeout : 3600};
    redisContext *rc = NULL;
    if (strncmp(url, "unix://", 7) == 0 && url[7] == '/') {
        rc = redisConnectUnixWithTimeout(url + 7, tv);
    } else if (strncmp(url, "redis://", 8) == 0 && url[8]) {
        char host[256];
        int port = 6379;
        const char *h = url + 8, *colon = strrchr(h, ':');
        size_t hl = colon ? (size_t)(colon - h) : strlen(h);
        if (hl && h[hl - 1] == '/')
            hl--;
        if (hl == 0 || hl >= sizeof host) {
            cli_usage(c, "bad --redis URL '%s'", url);
            return NULL;
        }
        memcpy(host, h, hl);
        host[hl] = 0;
        if (colon) {
            char *end;
            long p = strtol(colon + 1, &end, 10);
            if (end == colon + 1 || (*end && strcmp(end, "/")) || p < 1 ||
                p > 65535) {
                cli_usage(c, "bad port in --redis URL '%s'", url);
                return NULL;
            }
            port = (int)p;
        }
        rc = redisConnectWithTimeout(host, port, tv);
    } else {
        cli_usage(c,
                  "bad --redis URL '%s' (unix:///path/to.sock or "
                  "redis://host:port)",
                  url);
        return NULL;
    }
    if (!rc || rc->err) {
        cli_err(c, "cannot connect to Redis at %s: %s", url,
                rc ? rc->errstr : "out of memory");
        redisFree(rc);
        return NULL;
    }
    if (c->timeout > 0)
        redisSetTimeout(rc, tv);
    return rc;
}

static bool url_ok(const char *url)
{
    return (strncmp(url, "unix://", 7) == 0 && url[7] == '/') ||
           (strncmp(url, "redis://", 8) == 0 && url[8]);
}

/* ---- export ----------------------------------------------------------------
 */

struct ex {
    redisContext *rc;
    const char *prefix;
    struct args types; /* HSET P:$types path tag ... */
    struct args keys;  /* every key written (to undo a failed EXEC) */
    size_t queued;
    char err[512];
};

static int ex_oom(struct ex *e)
{
    snprintf(e->err, sizeof e->err, "out of memory");
    return -1;
}

static int ex_type(struct ex *e, const struct str *path, const char *tag,
                   size_t tlen)
{
    if (args_add(&e->types, path->p ? path->p : "", path->len) < 0 ||
        args_add(&e->types, tag, tlen) < 0)
        return ex_oom(e);
    return 0;
}

/* The key of the value at @p path: "P:path". */
static int ex_key(struct ex *e, const struct str *path, struct str *key)
{
    key->len = 0;
    if (str_add(key, e->prefix, strlen(e->prefix)) < 0 ||
        str_add(key, ":", 1) < 0 || str_add(key, path->p, path->len) < 0)
        return ex_oom(e);
    return 0;
}

static int ex_send(struct ex *e, struct args *a)
{
    if (redisAppendCommandArgv(e->rc, (int)a->n, (const char **)a->v, a->l) !=
        REDIS_OK)
        return ex_oom(e);
    e->queued++;
    return 0;
}

static const struct jval *member(const struct jval *v, const char *k)
{
    size_t n = strlen(k);
    for (size_t i = 0; v->t == J_OBJ && i < v->len; i++)
        if (v->klens[i] == n && memcmp(v->keys[i], k, n) == 0)
            return &v->items[i];
    return NULL;
}

static bool tagged(const struct jval *v)
{
    for (size_t i = 0; v->t == J_OBJ && i < v->len; i++)
        if (v->klens[i] && v->keys[i][0] == '$')
            return true;
    return false;
}

/* A scalar's text in Redis: numbers shortest (NaN etc. as dump tags
 * them), bools true/false, bytes raw. *tag gets its type tag (NULL for a
 * string). */
static int ex_scalar(struct ex *e, const struct jval *v, struct args *out,
                     const char **tag)
{
    char num[40];
    const struct jval *t;
    *tag = NULL;
    if (v->t == J_STR)
        return args_add(out, v->s, v->slen) < 0 ? ex_oom(e) : 0;
    if (v->t == J_NULL) {
        *tag = "null";
        return args_str(out, "") < 0 ? ex_oom(e) : 0;
    }
    if (v->t == J_NUM) {
        num_text(v->n, num, sizeof num);
        *tag = "number";
        return args_str(out, num) < 0 ? ex_oom(e) : 0;
    }
    if (v->t == J_BOOL) {
        *tag = "bool";
        return args_str(out, v->b ? "true" : "false") < 0 ? ex_oom(e) : 0;
    }
    if ((t = member(v, "$number"))) {
        *tag = "number";
        return args_add(out, t->s, t->slen) < 0 ? ex_oom(e) : 0;
    }
    if ((t = member(v, "$bytes"))) {
        unsigned char *p;
        size_t n;
        if (json_base64_decode(t->s, t->slen, &p, &n) < 0)
            return ex_oom(e); /* checked before: cannot be bad */
        int r = args_add(out, (const char *)p, n);
        free(p);
        *tag = "bytes";
        return r < 0 ? ex_oom(e) : 0;
    }
    snprintf(e->err, sizeof e->err, "unexpected value");
    return -1;
}

/* "struct [...]" / "shape [...]": the tag carrying the shape as JSON. */
static char *shape_tag(const char *kind, const struct jval *shape, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        return NULL;
    fprintf(f, "%s ", kind);
    json_put_value(f, shape);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Write the value at @p path; its text in the parent goes to @p out. */
static int ex_value(struct ex *e, struct str *path, const struct jval *v,
                    struct args *out)
{
    bool is_map = v->t == J_OBJ && (!tagged(v) || member(v, "$map"));
    const struct jval *st = member(v, "$struct"), *sh = member(v, "$shape");
    if (!is_map && v->t != J_ARR && !st && !sh) {
        const char *tag;
        if (ex_scalar(e, v, out, &tag) < 0)
            return -1;
        return tag ? ex_type(e, path, tag, strlen(tag)) : 0;
    }
    if (sh && !st) { /* a shape: its JSON inline, and in the tag */
        size_t n;
        char *t = shape_tag("shape", sh, &n);
        if (!t)
            return ex_oom(e);
        int r = ex_type(e, path, t, n);
        if (r == 0 && args_add(out, t + 6, n - 6) < 0)
            r = ex_oom(e);
        free(t);
        return r;
    }
    /* a container: a key of its own, named in the parent */
    struct str key = {0};
    struct args a = {0};
    int r = ex_key(e, path, &key);
    if (r == 0 && (args_str(&a, v->t == J_ARR ? "RPUSH" : "HSET") < 0 ||
                   args_add(&a, key.p, key.len) < 0 ||
                   args_add(&e->keys, key.p, key.len) < 0 ||
                   args_add(out, key.p, key.len) < 0))
        r = ex_oom(e);
    size_t base = path->len;
    if (r == 0 && v->t == J_ARR) {
        for (size_t i = 0; r == 0 && i < v->len; i++) {
            if (path_index_add(path, i) < 0)
                r = ex_oom(e);
            else
                r = ex_value(e, path, &v->items[i], &a);
            path->len = base;
            if (path->p)
                path->p[base] = 0;
        }
        if (r == 0)
            r = ex_type(e, path, "vector", 6);
    } else if (r == 0 && is_map) {
        const struct jval *m = member(v, "$map");
        if (!m)
            m = v;
        for (size_t i = 0; r == 0 && i < m->len; i++) {
            if (args_add(&a, m->keys[i], m->klens[i]) < 0 ||
                path_add(path, m->keys[i], m->klens[i]) < 0)
                r = ex_oom(e);
            else
                r = ex_value(e, path, &m->items[i], &a);
            path->len = base;
            if (path->p)
                path->p[base] = 0;
        }
        if (r == 0)
            r = ex_type(e, path, "map", 3);
    } else if (r == 0) { /* a struct: its fields in a hash */
        for (size_t i = 0; r == 0 && i < st->len; i++) {
            const char *tag;
            if (st->items[i].t == J_NULL)
                continue; /* a nullable field holding null: no hash field */
            if (args_add(&a, st->keys[i], st->klens[i]) < 0)
                r = ex_oom(e);
            else
                r = ex_scalar(e, &st->items[i], &a, &tag);
        }
        size_t n;
        char *t = r == 0 ? shape_tag("struct", sh, &n) : NULL;
        if (r == 0 && !t)
            r = ex_oom(e);
        if (r == 0)
            r = ex_type(e, path, t, n);
        free(t);
    }
    /* an empty container has no key in Redis: its tag says what it is */
    if (r == 0 && a.n > 2)
        r = ex_send(e, &a);
    args_free(&a);
    free(key.p);
    return r;
}

/* Is anything stored under the prefix already? */
static int prefix_used(redisContext *rc, const char *prefix, char *what,
                       size_t cap)
{
    redisReply *x = redisCommand(rc, "EXISTS %s %s%s", prefix, prefix,
                                 TYPES_SUFFIX);
    if (!x || x->type != REDIS_REPLY_INTEGER) {
        snprintf(what, cap, "%s", x ? x->str : rc->errstr);
        freeReplyObject(x);
        return -1;
    }
    long long n = x->integer;
    freeReplyObject(x);
    if (n) {
        snprintf(what, cap, "%s", prefix);
        return 1;
    }
    /* a glob that matches the prefix literally, then ":*" */
    struct str pat = {0};
    for (const char *p = prefix; *p; p++) {
        if (strchr("*?[]\\", *p) && str_add(&pat, "\\", 1) < 0)
            return -1;
        if (str_add(&pat, p, 1) < 0)
            return -1;
    }
    if (str_add(&pat, ":*", 2) < 0)
        return -1;
    char cursor[32] = "0";
    int found = 0;
    for (int rounds = 0; rounds < 1000000 && !found; rounds++) {
        x = redisCommand(rc, "SCAN %s MATCH %b COUNT 1000", cursor, pat.p,
                         pat.len);
        if (!x || x->type != REDIS_REPLY_ARRAY || x->elements != 2) {
            snprintf(what, cap, "%s", x && x->str ? x->str : rc->errstr);
            freeReplyObject(x);
            free(pat.p);
            return -1;
        }
        snprintf(cursor, sizeof cursor, "%s", x->element[0]->str);
        if (x->element[1]->elements) {
            snprintf(what, cap, "%s", x->element[1]->element[0]->str);
            found = 1;
        }
        freeReplyObject(x);
        if (strcmp(cursor, "0") == 0)
            break;
    }
    free(pat.p);
    return found;
}

/* Render the arena as dump does and parse it back: the tree to export. */
static int arena_tree(struct cli *c, const char *name, struct jval *tree)
{
    sharena_arena *a;
    if (cli_open(c, name, SHARENA_READONLY, false, &a) < 0)
        return EXIT_FAIL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        sharena_arena_close(a);
        cli_err(c, "out of memory");
        return EXIT_FAIL;
    }
    cli_watchdog(c, true);
    struct render rd;
    render_init(&rd, a, f, false);
    rd.exact = true;
    int r = render_roots(&rd);
    cli_watchdog(c, false);
    sharena_arena_close(a);
    fclose(f);
    if (r < 0 || rd.truncated || rd.errors) {
        free(buf);
        if (r < 0)
            return cli_fail(c, name, r);
        cli_err(c, "%s: %s; nothing was exported (see `sharena fsck`)", name,
                rd.truncated ? "more than the dump limits"
                             : "some values could not be read");
        return EXIT_FAIL;
    }
    char err[256];
    r = json_parse(buf, len, tree, err, sizeof err);
    free(buf);
    if (r < 0) {
        cli_err(c, "%s: internal error: the dump does not parse: %s", name,
                err);
        return EXIT_FAIL;
    }
    char msg[1024];
    if (json_tree_check(tree, msg, sizeof msg) < 0) {
        json_free(tree);
        cli_err(c, "%s: %s; nothing was exported", name, msg);
        return EXIT_FAIL;
    }
    return 0;
}

int cmd_export(struct cli *c, int argc, char **argv)
{
    const char *pos[1], *url = NULL, *prefix = NULL;
    const struct cli_opt opts[] = {
        {"--redis", true, &url, NULL},
        {"--prefix", true, &prefix, NULL},
        {0},
    };
    int np = cli_parse(c, argc, argv, opts, pos, 1);
    if (np < 0)
        return EXIT_USAGE;
    if (np != 1 || !url)
        return cli_usage(c, "sharena export ARENA --redis URL [--prefix P]");
    if (!url_ok(url))
        return cli_usage(c,
                         "bad --redis URL '%s' (unix:///path/to.sock or "
                         "redis://host:port)",
                         url);
    char defprefix[SHARENA_NAME_MAX + 16];
    if (!prefix) {
        snprintf(defprefix, sizeof defprefix, "sharena:%s", pos[0]);
        prefix = defprefix;
    }
    if (!*prefix)
        return cli_usage(c, "--prefix must not be empty");

    struct jval tree;
    int ex = arena_tree(c, pos[0], &tree);
    if (ex)
        return ex;
    struct ex e = {.prefix = prefix};
    e.rc = rconnect(c, url);
    if (!e.rc) {
        json_free(&tree);
        return EXIT_FAIL;
    }
    ex = EXIT_FAIL;
    char what[512];
    int used = prefix_used(e.rc, prefix, what, sizeof what);
    if (used != 0) {
        if (used > 0)
            cli_err(c,
                    "Redis already holds keys under prefix '%s' (%s); "
                    "nothing was exported (delete them, or choose another "
                    "--prefix)",
                    prefix, what);
        else
            cli_err(c, "Redis at %s: %s", url, what);
        goto out;
    }

    /* one transaction: every key or none */
    struct str path = {0}, tkey = {0};
    struct args roots = {0};
    int r = 0;
    if (redisAppendCommand(e.rc, "MULTI") != REDIS_OK ||
        args_str(&roots, "HSET") < 0 || args_str(&roots, prefix) < 0 ||
        args_str(&e.keys, prefix) < 0 || args_str(&e.types, "HSET") < 0 ||
        str_add(&tkey, prefix, strlen(prefix)) < 0 ||
        str_add(&tkey, TYPES_SUFFIX, strlen(TYPES_SUFFIX)) < 0 ||
        args_add(&e.types, tkey.p, tkey.len) < 0 ||
        args_add(&e.keys, tkey.p, tkey.len) < 0 ||
        args_str(&e.types, FORMAT_FIELD) < 0 ||
        args_str(&e.types, FORMAT_VALUE) < 0)
        r = ex_oom(&e);
    for (size_t i = 0; r == 0 && i < tree.len; i++) {
        path.len = 0;
        if (args_add(&roots, tree.keys[i], tree.klens[i]) < 0 ||
            path_add(&path, tree.keys[i], tree.klens[i]) < 0)
            r = ex_oom(&e);
        else
            r = ex_value(&e, &path, &tree.items[i], &roots);
    }
    if (r == 0 && roots.n > 2)
        r = ex_send(&e, &roots);
    if (r == 0)
        r = ex_send(&e, &e.types);
    if (r == 0 && redisAppendCommand(e.rc, "EXEC") != REDIS_OK)
        r = ex_oom(&e);
    free(path.p);
    free(tkey.p);
    args_free(&roots);
    if (r < 0) {
        cli_err(c, "exporting '%s': %s; nothing was exported", pos[0], e.err);
        goto out;
    }
    /* the replies: +OK, QUEUED per command, then EXEC's array */
    redisReply *x = NULL;
    const char *fail = NULL;
    for (size_t i = 0; i < e.queued + 2; i++) {
        if (redisGetReply(e.rc, (void **)&x) != REDIS_OK) {
            fail = e.rc->errstr;
            break;
        }
        if (i == e.queued + 1) {
            if (x->type != REDIS_REPLY_ARRAY) {
                snprintf(what, sizeof what, "%s",
                         x->type == REDIS_REPLY_ERROR ? x->str
                                                      : "the transaction "
                                                        "was not run");
                fail = what;
            }
            for (size_t k = 0;
                 !fail && x->type == REDIS_REPLY_ARRAY && k < x->elements; k++)
                if (x->element[k]->type == REDIS_REPLY_ERROR) {
                    snprintf(what, sizeof what, "%s", x->element[k]->str);
                    fail = what;
                }
        } else if (x->type == REDIS_REPLY_ERROR && !fail) {
            snprintf(what, sizeof what, "%s", x->str);
            fail = what;
        }
        freeReplyObject(x);
        x = NULL;
    }
    if (fail) {
        /* a command failed inside EXEC (others ran): take it all back */
        if (e.rc->err == 0) {
            redisReply *d = redisCommandArgv(e.rc, 0, NULL, NULL);
            freeReplyObject(d);
            struct args del = {0};
            if (args_str(&del, "DEL") == 0) {
                for (size_t i = 0; i < e.keys.n; i++)
                    args_add(&del, e.keys.v[i], e.keys.l[i]);
                d = redisCommandArgv(e.rc, (int)del.n, (const char **)del.v,
                                     del.l);
                freeReplyObject(d);
            }
            args_free(&del);
        }
        cli_err(c, "exporting '%s' to %s: %s; nothing was exported", pos[0],
                url, fail);
        goto out;
    }
    if (c->json) {
        printf("{\"arena\":");
        json_put_string(stdout, pos[0], strlen(pos[0]));
        printf(",\"prefix\":");
        json_put_string(stdout, prefix, strlen(prefix));
        printf(",\"roots\":%zu,\"keys\":%zu}\n", tree.len, e.keys.n);
    } else {
        printf("exported arena '%s' to %s under prefix '%s': %zu root%s, "
               "%zu keys\n",
               pos[0], url, prefix, tree.len, tree.len == 1 ? "" : "s",
               e.keys.n);
    }
    ex = cli_flush(c);
out:
    args_free(&e.types);
    args_free(&e.keys);
    redisFree(e.rc);
    json_free(&tree);
    return ex;
}

/* ---- import -----------------------------------------------------------------
 */

struct kv {
    const char *k; /* path */
    size_t klen;
    const redisReply *v;
};

static int cmp_kv(const void *x, const void *y)
{
    const struct kv *a = x, *b = y;
    size_t n = a->klen < b->klen ? a->klen : b->klen;
    int c = memcmp(a->k, b->k, n);
    return c ? c : (a->klen > b->klen) - (a->klen < b->klen);
}

struct im {
    struct kv *types; /* path -> tag */
    size_t ntypes;
    struct kv *data; /* container path -> its reply */
    size_t ndata;
    FILE *f;
    unsigned depth; /* containers open: Redis data is bounded like JSON */
    char err[512];
};

static const redisReply *find(const struct kv *t, size_t n, const char *k,
                              size_t klen)
{
    struct kv key = {k, klen, NULL};
    const struct kv *hit = bsearch(&key, t, n, sizeof *t, cmp_kv);
    return hit ? hit->v : NULL;
}

static int im_bad(struct im *m, const struct str *path, const char *what)
{
    /* a long path is cut at its start: the end says where */
    size_t n = path->len;
    const char *p = n ? path->p : "(roots)";
    snprintf(m->err, sizeof m->err, "%s%s: %s", n > 200 ? "..." : "",
             n > 200 ? p + n - 200 : p, what);
    return -1;
}

/* A number's text as Redis holds it, written as dump writes it. */
static int im_number(struct im *m, const struct str *path, const char *s,
                     size_t n)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return im_bad(m, path, "not a number");
    memcpy(buf, s, n);
    buf[n] = 0;
    if (!strcmp(buf, "NaN") || !strcmp(buf, "Infinity") ||
        !strcmp(buf, "-Infinity") ||
        (n == 18 && buf[0] == '0' && buf[1] == 'x')) {
        fputs("{\"$number\":", m->f);
        json_put_string(m->f, buf, n);
        putc('}', m->f);
        return 0;
    }
    char *end;
    errno = 0;
    double d = strtod(buf, &end);
    if (*end || !isfinite(d) || buf[0] == ' ' || buf[0] == '\t')
        return im_bad(m, path, "not a number");
    json_put_number(m->f, d);
    return 0;
}

static void im_bytes(struct im *m, const char *s, size_t n)
{
    fputs("{\"$bytes\":\"", m->f);
    json_put_base64_part(m->f, (const unsigned char *)s, n);
    fprintf(m->f, "\",\"$size\":%zu}", n);
}

static int im_string(struct im *m, const struct str *path, const char *s,
                     size_t n)
{
    if (!sharena_utf8_valid(s, n))
        return im_bad(m, path,
                      "not UTF-8 text (a string must be; bytes are tagged "
                      "'bytes' in the $types hash)");
    json_put_string(m->f, s, n);
    return 0;
}

static int im_bool(struct im *m, const struct str *path, const char *s,
                   size_t n)
{
    if (n == 4 && !memcmp(s, "true", 4))
        fputs("true", m->f);
    else if (n == 5 && !memcmp(s, "false", 5))
        fputs("false", m->f);
    else
        return im_bad(m, path, "not true or false");
    return 0;
}

static int im_value(struct im *m, struct str *path, const char *raw,
                    size_t rlen);
static int im_container(struct im *m, struct str *path, const char *tag,
                        size_t tlen);

static int im_container_in(struct im *m, struct str *path, const char *tag,
                           size_t tlen)
{
    const redisReply *x = find(m->data, m->ndata, path->p, path->len);
    bool vec = tlen == 6 && memcmp(tag, "vector", 6) == 0;
    bool st = tlen > 7 && memcmp(tag, "struct ", 7) == 0;
    if (!x || x->type != REDIS_REPLY_ARRAY || (!vec && x->elements % 2))
        return im_bad(m, path,
                      x && x->type == REDIS_REPLY_ERROR
                          ? x->str
                          : "its key does not hold what $types says");
    size_t base = path->len;
    int r = 0;
    if (vec) {
        putc('[', m->f);
        for (size_t i = 0; r == 0 && i < x->elements; i++) {
            const redisReply *e = x->element[i];
            if (i)
                putc(',', m->f);
            if (path_index_add(path, i) < 0)
                return im_bad(m, path, "out of memory");
            r = im_value(m, path, e->str, e->len);
            path->len = base;
            path->p[base] = 0;
        }
        putc(']', m->f);
        return r;
    }
    if (st) {
        /* the shape is in the tag: fields typed by it */
        struct jval shape;
        char err[128];
        if (json_parse(tag + 7, tlen - 7, &shape, err, sizeof err) < 0 ||
            shape.t != J_ARR)
            return im_bad(m, path,
                          "the struct's shape in $types is not a "
                          "JSON array");
        fputs("{\"$struct\":{", m->f);
        for (size_t i = 0; r == 0 && i + 1 < x->elements; i += 2) {
            const redisReply *k = x->element[i], *v = x->element[i + 1];
            const struct jval *type = NULL;
            for (size_t j = 0; j < shape.len && !type; j++) {
                const struct jval *nm = member(&shape.items[j], "name");
                if (nm && nm->t == J_STR && nm->slen == k->len &&
                    memcmp(nm->s, k->str, k->len) == 0)
                    type = member(&shape.items[j], "type");
            }
            if (i)
                putc(',', m->f);
            json_put_string(m->f, k->str, k->len);
            putc(':', m->f);
            if (path_add(path, k->str, k->len) < 0) {
                r = im_bad(m, path, "out of memory");
                break;
            }
            const char *ts = type && type->t == J_STR ? type->s : "";
            if (!strcmp(ts, "number"))
                r = im_number(m, path, v->str, v->len);
            else if (!strcmp(ts, "bool"))
                r = im_bool(m, path, v->str, v->len);
            else if (!strcmp(ts, "string"))
                r = im_string(m, path, v->str, v->len);
            else if (!strcmp(ts, "bytes"))
                im_bytes(m, v->str, v->len);
            else
                r = im_bad(m, path, "the shape has no such field");
            path->len = base;
            path->p[base] = 0;
        }
        /* a nullable field the hash does not hold holds null */
        bool any = x->elements > 0;
        for (size_t j = 0; r == 0 && j < shape.len; j++) {
            const struct jval *nm = member(&shape.items[j], "name"),
                              *nl = member(&shape.items[j], "nullable");
            if (!nm || nm->t != J_STR || !nl || nl->t != J_BOOL || !nl->b)
                continue;
            bool held = false;
            for (size_t i = 0; !held && i + 1 < x->elements; i += 2)
                held = x->element[i]->len == nm->slen &&
                       memcmp(x->element[i]->str, nm->s, nm->slen) == 0;
            if (held)
                continue;
            if (any)
                putc(',', m->f);
            json_put_string(m->f, nm->s, nm->slen);
            fputs(":null", m->f);
            any = true;
        }
        fputs("},\"$shape\":", m->f);
        json_put_value(m->f, &shape);
        putc('}', m->f);
        json_free(&shape);
        return r;
    }
    /* a map */
    bool wrap = false;
    for (size_t i = 0; i < x->elements && !wrap; i += 2)
        wrap = x->element[i]->len && x->element[i]->str[0] == '$';
    fputs(wrap ? "{\"$map\":{" : "{", m->f);
    for (size_t i = 0; r == 0 && i + 1 < x->elements; i += 2) {
        const redisReply *k = x->element[i], *v = x->element[i + 1];
        if (i)
            putc(',', m->f);
        if (!sharena_utf8_valid(k->str, k->len))
            return im_bad(m, path, "a key that is not UTF-8");
        json_put_string(m->f, k->str, k->len);
        putc(':', m->f);
        if (path_add(path, k->str, k->len) < 0)
            return im_bad(m, path, "out of memory");
        r = im_value(m, path, v->str, v->len);
        path->len = base;
        path->p[base] = 0;
    }
    fputs(wrap ? "}}" : "}", m->f);
    return r;
}

/* The JSON reader takes 512 levels; a deeper export is refused here,
 * before the recursion could exhaust the stack. */
static int im_container(struct im *m, struct str *path, const char *tag,
                        size_t tlen)
{
    if (m->depth >= 500)
        return im_bad(m, path, "nested deeper than 500 levels");
    m->depth++;
    int r = im_container_in(m, path, tag, tlen);
    m->depth--;
    return r;
}

static int im_value(struct im *m, struct str *path, const char *raw,
                    size_t rlen)
{
    const redisReply *t = find(m->types, m->ntypes, path->p, path->len);
    if (!t)
        return im_string(m, path, raw, rlen);
    const char *tag = t->str;
    size_t tlen = t->len;
    if (tlen == 6 && !memcmp(tag, "number", 6))
        return im_number(m, path, raw, rlen);
    if (tlen == 4 && !memcmp(tag, "bool", 4))
        return im_bool(m, path, raw, rlen);
    if (tlen == 4 && !memcmp(tag, "null", 4)) {
        fputs("null", m->f);
        return 0;
    }
    if (tlen == 5 && !memcmp(tag, "bytes", 5)) {
        im_bytes(m, raw, rlen);
        return 0;
    }
    if (tlen > 6 && !memcmp(tag, "shape ", 6)) {
        fputs("{\"$shape\":", m->f);
        fwrite(tag + 6, 1, tlen - 6, m->f); /* checked as JSON later */
        putc('}', m->f);
        return 0;
    }
    if ((tlen == 3 && !memcmp(tag, "map", 3)) ||
        (tlen == 6 && !memcmp(tag, "vector", 6)) ||
        (tlen > 7 && !memcmp(tag, "struct ", 7)))
        return im_container(m, path, tag, tlen);
    return im_bad(m, path, "unknown type in the $types hash");
}

/* Pairs of a HGETALL reply as sorted (key, value) records. */
static int pairs(const redisReply *x, struct kv **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!x || x->type != REDIS_REPLY_ARRAY || x->elements % 2)
        return -1;
    struct kv *k = calloc(x->elements / 2 + 1, sizeof *k);
    if (!k)
        return -1;
    for (size_t i = 0; i + 1 < x->elements; i += 2)
        k[i / 2] = (struct kv){x->element[i]->str, x->element[i]->len,
                               x->element[i + 1]};
    *n = x->elements / 2;
    qsort(k, *n, sizeof *k, cmp_kv);
    *out = k;
    return 0;
}

static bool is_container_tag(const redisReply *t)
{
    return (t->len == 3 && !memcmp(t->str, "map", 3)) ||
           (t->len == 6 && !memcmp(t->str, "vector", 6)) ||
           (t->len > 7 && !memcmp(t->str, "struct ", 7));
}

static bool same_reply(const redisReply *a, const redisReply *b)
{
    if (a->type != b->type || a->elements != b->elements)
        return false;
    for (size_t i = 0; i < a->elements; i++)
        if (a->element[i]->len != b->element[i]->len ||
            memcmp(a->element[i]->str, b->element[i]->str, a->element[i]->len))
            return false;
    return true;
}

int cmd_import(struct cli *c, int argc, char **argv)
{
    const char *pos[1], *url = NULL, *prefix = NULL, *mode = NULL,
                        *capacity = NULL;
    const struct cli_opt opts[] = {
        {"--redis", true, &url, NULL},
        {"--prefix", true, &prefix, NULL},
        {"--mode", true, &mode, NULL},
        {"--capacity", true, &capacity, NULL},
        {0},
    };
    int np = cli_parse(c, argc, argv, opts, pos, 1);
    if (np < 0)
        return EXIT_USAGE;
    if (np != 1 || !url || !prefix || !*prefix)
        return cli_usage(c, "sharena import --redis URL --prefix P NAME");
    if (!url_ok(url))
        return cli_usage(c,
                         "bad --redis URL '%s' (unix:///path/to.sock or "
                         "redis://host:port)",
                         url);
    redisContext *rc = rconnect(c, url);
    if (!rc)
        return EXIT_FAIL;
    int ex = EXIT_FAIL;
    redisReply *types = NULL, *all = NULL;
    struct im m = {0};
    char *text = NULL;
    size_t tlen = 0;
    char where[600];
    snprintf(where, sizeof where, "%s prefix '%s'", url, prefix);
    for (int attempt = 0; attempt < 5; attempt++) {
        freeReplyObject(types);
        freeReplyObject(all);
        all = NULL;
        free(m.types);
        m.types = NULL;
        types = redisCommand(rc, "HGETALL %s%s", prefix, TYPES_SUFFIX);
        if (!types || types->type != REDIS_REPLY_ARRAY ||
            pairs(types, &m.types, &m.ntypes) < 0) {
            cli_err(c, "%s: %s", where,
                    types && types->type == REDIS_REPLY_ERROR ? types->str
                    : types ? "the $types hash is not a hash"
                            : rc->errstr);
            goto out;
        }
        const redisReply *fmt = find(m.types, m.ntypes, FORMAT_FIELD,
                                     strlen(FORMAT_FIELD));
        if (!fmt || fmt->len != strlen(FORMAT_VALUE) ||
            memcmp(fmt->str, FORMAT_VALUE, fmt->len)) {
            cli_err(c,
                    "%s: no sharena export there (%s%s is missing or not "
                    "written by `sharena export`); nothing was created",
                    where, prefix, TYPES_SUFFIX);
            goto out;
        }
        /* one transaction: the $types hash again, the roots, every
         * container: a consistent view of the export */
        redisAppendCommand(rc, "MULTI");
        redisAppendCommand(rc, "HGETALL %s%s", prefix, TYPES_SUFFIX);
        redisAppendCommand(rc, "HGETALL %s", prefix);
        size_t nq = 2;
        for (size_t i = 0; i < m.ntypes; i++) {
            const redisReply *t = m.types[i].v;
            if (!is_container_tag(t))
                continue;
            bool vec = t->len == 6 && !memcmp(t->str, "vector", 6);
            if (vec)
                redisAppendCommand(rc, "LRANGE %s:%b 0 -1", prefix,
                                   m.types[i].k, m.types[i].klen);
            else
                redisAppendCommand(rc, "HGETALL %s:%b", prefix, m.types[i].k,
                                   m.types[i].klen);
            nq++;
        }
        redisAppendCommand(rc, "EXEC");
        redisReply *x = NULL;
        bool ok = true;
        for (size_t i = 0; i < nq + 2; i++) {
            if (redisGetReply(rc, (void **)&x) != REDIS_OK) {
                cli_err(c, "%s: %s", where, rc->errstr);
                goto out;
            }
            if (i == nq + 1)
                all = x;
            else
                freeReplyObject(x);
        }
        if (!all || all->type != REDIS_REPLY_ARRAY || all->elements != nq) {
            cli_err(c, "%s: the transaction did not run: %s", where,
                    all && all->type == REDIS_REPLY_ERROR ? all->str : "?");
            goto out;
        }
        ok = same_reply(all->element[0], types);
        if (ok)
            break; /* else: the export changed between the two reads */
        if (attempt == 4) {
            cli_err(c, "%s: the export keeps changing while it is read", where);
            goto out;
        }
    }
    /* the containers' replies, by path */
    m.data = calloc(m.ntypes + 1, sizeof *m.data);
    if (!m.data) {
        cli_err(c, "out of memory");
        goto out;
    }
    for (size_t i = 0, q = 2; i < m.ntypes; i++)
        if (is_container_tag(m.types[i].v))
            m.data[m.ndata++] = (struct kv){m.types[i].k, m.types[i].klen,
                                            all->element[q++]};
    /* the roots as dump's JSON */
    const redisReply *roots = all->element[1];
    if (roots->type != REDIS_REPLY_ARRAY || roots->elements % 2) {
        cli_err(c, "%s: key '%s' is not a hash of roots; nothing was created",
                where, prefix);
        goto out;
    }
    m.f = open_memstream(&text, &tlen);
    if (!m.f) {
        cli_err(c, "out of memory");
        goto out;
    }
    struct str path = {0};
    int r = 0;
    putc('{', m.f);
    for (size_t i = 0; r == 0 && i + 1 < roots->elements; i += 2) {
        const redisReply *k = roots->element[i], *v = roots->element[i + 1];
        if (i)
            putc(',', m.f);
        json_put_string(m.f, k->str, k->len);
        putc(':', m.f);
        path.len = 0;
        if (path_add(&path, k->str, k->len) < 0)
            r = im_bad(&m, &path, "out of memory");
        else
            r = im_value(&m, &path, v->str, v->len);
    }
    putc('}', m.f);
    free(path.p);
    fclose(m.f);
    m.f = NULL;
    if (r < 0) {
        cli_err(c, "%s: %s; nothing was created", where, m.err);
        goto out;
    }
    struct jval tree;
    char err[256];
    if (json_parse(text, tlen, &tree, err, sizeof err) < 0) {
        cli_err(c,
                "%s: a shape in the $types hash is not JSON: %s; nothing "
                "was created",
                where, err);
        goto out;
    }
    /* checked whole, created exclusively, built in one step */
    ex = load_tree(c, &tree, where, pos[0], mode, capacity);
    json_free(&tree);
out:
    free(text);
    free(m.types);
    free(m.data);
    freeReplyObject(types);
    freeReplyObject(all);
    redisFree(rc);
    return ex;
}

#endif
