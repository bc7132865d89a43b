/* jsonload.c: `sharena load --json FILE NAME`: a new arena from the JSON
 * that `sharena dump` writes (the encoding is in docs/cli.md, "The JSON
 * encoding").
 *
 * The whole text is parsed and checked first (every tag, every base64
 * text, every struct against its shape, every root name) without touching
 * any arena; only then is the arena created (exclusively), and the roots
 * are built through the library's value builder and linked in one step.
 * A failure after the create (the arena too small) deletes the arena
 * again: a refused load leaves nothing behind.
 *
 * One pass does both: decode() walks the JSON and, when l->b is set, calls
 * the builder; with l->b NULL it only checks (and sums the room needed).
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct ld {
    sharena_builder *b; /* NULL: check only */
    char where[512];    /* the path of the value being decoded */
    size_t wlen;
    char msg[1024]; /* the first problem */
    uint64_t need;  /* bytes of arena the tree needs (an estimate) */
};

__attribute__((format(printf, 2, 3))) static int bad(struct ld *l,
                                                     const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(l->msg, sizeof l->msg, "%s: %s", l->wlen ? l->where : "(top)",
             what);
    return -1;
}

/* Enter a path component (a key, or an index when @p key is NULL). Returns
 * the length to go back to. */
static size_t enter(struct ld *l, const char *key, size_t klen, size_t index)
{
    size_t old = l->wlen;
    char comp[80];
    if (key)
        snprintf(comp, sizeof comp, "%.*s%s", klen > 64 ? 64 : (int)klen, key,
                 klen > 64 ? "..." : "");
    else
        snprintf(comp, sizeof comp, "%zu", index);
    int n = snprintf(l->where + old, sizeof l->where - old, "%s%s",
                     old ? "/" : "", comp);
    if (n > 0)
        l->wlen = old + (size_t)n < sizeof l->where ? old + (size_t)n
                                                    : sizeof l->where - 1;
    return old;
}

static void leave(struct ld *l, size_t old)
{
    l->wlen = old;
    l->where[old] = 0;
}

static bool is_tag(const char *k, size_t klen)
{
    return klen && k[0] == '$';
}

/* The value of key @p k in object @p v, or NULL. */
static const struct jval *member(const struct jval *v, const char *k)
{
    size_t n = strlen(k);
    for (size_t i = 0; i < v->len; i++)
        if (v->klens[i] == n && memcmp(v->keys[i], k, n) == 0)
            return &v->items[i];
    return NULL;
}

static int cmp_key(const void *x, const void *y, void *keys)
{
    const size_t a = *(const size_t *)x, b = *(const size_t *)y;
    const struct jval *o = keys;
    size_t n = o->klens[a] < o->klens[b] ? o->klens[a] : o->klens[b];
    int c = memcmp(o->keys[a], o->keys[b], n);
    return c ? c : (o->klens[a] > o->klens[b]) - (o->klens[a] < o->klens[b]);
}

/* A key twice in one object: a map cannot hold both, so the text is
 * refused rather than one silently lost. */
static int no_duplicates(struct ld *l, const struct jval *v)
{
    if (v->len < 2)
        return 0;
    size_t *ix = malloc(v->len * sizeof *ix);
    if (!ix)
        return bad(l, "out of memory");
    for (size_t i = 0; i < v->len; i++)
        ix[i] = i;
    qsort_r(ix, v->len, sizeof *ix, cmp_key, (void *)v);
    int r = 0;
    for (size_t i = 1; i < v->len && r == 0; i++)
        if (cmp_key(&ix[i - 1], &ix[i], (void *)v) == 0) {
            size_t k = ix[i];
            r = bad(l, "key \"%.*s\" appears twice",
                    v->klens[k] > 64 ? 64 : (int)v->klens[k], v->keys[k]);
        }
    free(ix);
    return r;
}

static int decode(struct ld *l, const struct jval *v, size_t depth);

/* ---- scalars with a tag ---------------------------------------------------
 */

/* {"$number": "NaN" | "Infinity" | "-Infinity" | "0x<16 hex digits>"} */
static int tagged_number(struct ld *l, const struct jval *t, double *out)
{
    if (t->t != J_STR)
        return bad(l, "\"$number\" takes \"NaN\", \"Infinity\", "
                      "\"-Infinity\" or \"0x\" and 16 hex digits");
    if (strcmp(t->s, "NaN") == 0) {
        uint64_t bits = RENDER_NAN_BITS;
        memcpy(out, &bits, sizeof *out);
    } else if (strcmp(t->s, "Infinity") == 0) {
        *out = (double)INFINITY;
    } else if (strcmp(t->s, "-Infinity") == 0) {
        *out = -(double)INFINITY;
    } else if (t->slen == 18 && t->s[0] == '0' && t->s[1] == 'x' &&
               strspn(t->s + 2, "0123456789abcdefABCDEF") == 16) {
        uint64_t bits = strtoull(t->s + 2, NULL, 16);
        memcpy(out, &bits, sizeof *out);
    } else {
        return bad(l,
                   "\"$number\": \"%.40s\" is not NaN, Infinity, "
                   "-Infinity or 0x and 16 hex digits",
                   t->s);
    }
    return 0;
}

/* {"$bytes": base64, "$size": n}: decoded into *out (malloc'd). */
static int tagged_bytes(struct ld *l, const struct jval *v, unsigned char **out,
                        size_t *len)
{
    const struct jval *b = member(v, "$bytes"), *sz = member(v, "$size");
    *out = NULL;
    if (member(v, "$truncated"))
        return bad(l, "this bytes value was cut short by the dump "
                      "(\"$truncated\"): it cannot be loaded");
    for (size_t i = 0; i < v->len; i++)
        if (strcmp(v->keys[i], "$bytes") && strcmp(v->keys[i], "$size"))
            return bad(l, "unexpected key \"%.40s\" in a {\"$bytes\"} value",
                       v->keys[i]);
    if (b->t != J_STR)
        return bad(l, "\"$bytes\" must be a base64 string");
    if (json_base64_decode(b->s, b->slen, out, len) < 0)
        return bad(l, "\"$bytes\" is not base64 (RFC 4648, padded, "
                      "no line breaks)");
    if (sz && (sz->t != J_NUM || sz->n != (double)*len)) {
        free(*out);
        *out = NULL;
        return bad(l, "\"$size\" does not match the %zu bytes of \"$bytes\"",
                   *len);
    }
    l->need += *len + 32;
    return 0;
}

/* ---- shapes and structs ---------------------------------------------------
 */

struct shape {
    sharena_field_def f[SHARENA_FIELDS_MAX];
    size_t n;
};

/* [{"name": ..., "type": "number"|"bool"|"string"|"bytes", "size": n,
 *   "nullable": true}...] ("size" for bytes fields only, "nullable" optional)
 * Names point into the JSON (NUL-terminated there). */
static int read_shape(struct ld *l, const struct jval *a, struct shape *sh)
{
    if (a->t != J_ARR)
        return bad(l, "\"$shape\" must be an array of fields");
    if (a->len > SHARENA_FIELDS_MAX)
        return bad(l, "a shape has at most %d fields, not %zu",
                   SHARENA_FIELDS_MAX, a->len);
    sh->n = a->len;
    for (size_t i = 0; i < a->len; i++) {
        const struct jval *f = &a->items[i], *name, *type, *size, *nullable;
        if (f->t != J_OBJ || !(name = member(f, "name")) ||
            !(type = member(f, "type")) || name->t != J_STR || type->t != J_STR)
            return bad(l,
                       "shape field %zu must be {\"name\": ..., "
                       "\"type\": ...}",
                       i);
        size = member(f, "size");
        nullable = member(f, "nullable");
        if (f->len != 2u + (size != NULL) + (nullable != NULL))
            return bad(l,
                       "shape field %zu has keys other than name, type, "
                       "size and nullable",
                       i);
        if (nullable && nullable->t != J_BOOL)
            return bad(l, "shape field %zu: \"nullable\" is true or false", i);
        if (name->slen == 0 || name->slen > SHARENA_FIELD_NAME_MAX ||
            memchr(name->s, 0, name->slen))
            return bad(l, "shape field %zu: a name is 1 to %d bytes", i,
                       SHARENA_FIELD_NAME_MAX);
        for (size_t j = 0; j < i; j++)
            if (strcmp(sh->f[j].name, name->s) == 0)
                return bad(l, "shape field \"%s\" appears twice", name->s);
        sharena_type t = strcmp(type->s, "number") == 0   ? SHARENA_T_NUMBER
                         : strcmp(type->s, "bool") == 0   ? SHARENA_T_BOOL
                         : strcmp(type->s, "string") == 0 ? SHARENA_T_STRING
                         : strcmp(type->s, "bytes") == 0  ? SHARENA_T_BYTES
                                                          : SHARENA_T_NONE;
        if (t == SHARENA_T_NONE)
            return bad(l,
                       "shape field \"%s\": type \"%.20s\" is not number, "
                       "bool, string or bytes",
                       name->s, type->s);
        uint64_t sz = 0;
        if (t == SHARENA_T_BYTES) {
            if (!size || size->t != J_NUM || size->n < 0 ||
                size->n > (double)SHARENA_MAX_CAPACITY ||
                size->n != (double)(uint64_t)size->n)
                return bad(l,
                           "shape field \"%s\": a bytes field needs a "
                           "\"size\" (a whole number of bytes)",
                           name->s);
            sz = (uint64_t)size->n;
        } else if (size) {
            return bad(l, "shape field \"%s\": only a bytes field has a size",
                       name->s);
        }
        sharena_field_flags fl = 0;
        if (nullable && nullable->b) {
            if (t == SHARENA_T_BYTES)
                return bad(l,
                           "shape field \"%s\": a bytes field cannot be "
                           "nullable",
                           name->s);
            fl = SHARENA_FIELD_NULLABLE;
        }
        sh->f[i] = (sharena_field_def){name->s, t, sz, fl};
        l->need += 64 + sz + 32;
    }
    l->need += 64;
    return 0;
}

static int struct_field(struct ld *l, const struct shape *sh, const char *key,
                        size_t klen, const struct jval *v)
{
    size_t i = 0;
    while (i < sh->n && (strlen(sh->f[i].name) != klen ||
                         memcmp(sh->f[i].name, key, klen) != 0))
        i++;
    if (i == sh->n)
        return bad(l, "the shape has no such field");
    sharena_builder *b = l->b;
    if (v->t == J_NULL) {
        if (!(sh->f[i].flags & SHARENA_FIELD_NULLABLE))
            return bad(l, "null for a field that is not nullable");
        if (b &&
            (sharena_build_key(b, key, klen) < 0 || sharena_build_null(b) < 0))
            return -1;
        return 0;
    }
    switch (sh->f[i].type) {
    case SHARENA_T_NUMBER: {
        double d = v->n;
        const struct jval *t;
        if (v->t == J_OBJ && v->len == 1 && (t = member(v, "$number"))) {
            if (tagged_number(l, t, &d) < 0)
                return -1;
        } else if (v->t != J_NUM) {
            return bad(l, "a number field needs a number");
        }
        if (b && (sharena_build_key(b, key, klen) < 0 ||
                  sharena_build_number(b, d) < 0))
            return -1;
        return 0;
    }
    case SHARENA_T_BOOL:
        if (v->t != J_BOOL)
            return bad(l, "a bool field needs true or false");
        if (b && (sharena_build_key(b, key, klen) < 0 ||
                  sharena_build_bool(b, v->b) < 0))
            return -1;
        return 0;
    case SHARENA_T_STRING:
        if (v->t != J_STR)
            return bad(l, "a string field needs a string");
        l->need += v->slen + 32;
        if (b && (sharena_build_key(b, key, klen) < 0 ||
                  sharena_build_string(b, v->s, v->slen) < 0))
            return -1;
        return 0;
    default: { /* bytes */
        unsigned char *p;
        size_t len;
        if (v->t != J_OBJ || !member(v, "$bytes"))
            return bad(l, "a bytes field needs {\"$bytes\": base64}");
        if (tagged_bytes(l, v, &p, &len) < 0)
            return -1;
        int r = 0;
        if (len != sh->f[i].size)
            r = bad(l, "%zu bytes for a field of %llu", len,
                    (unsigned long long)sh->f[i].size);
        else if (b && (sharena_build_key(b, key, klen) < 0 ||
                       sharena_build_bytes(b, p, len) < 0))
            r = -1;
        free(p);
        return r;
    }
    }
}

/* {"$struct": {field: value...}, "$shape": [...]}: fields not given keep
 * their defaults (dump writes them all). */
static int tagged_struct(struct ld *l, const struct jval *v)
{
    const struct jval *fields = member(v, "$struct"),
                      *shv = member(v, "$shape");
    if (!shv || v->len != 2)
        return bad(l, "a {\"$struct\"} value has exactly the keys \"$struct\" "
                      "and \"$shape\"");
    if (fields->t != J_OBJ)
        return bad(l, "\"$struct\" must be an object of fields");
    struct shape *sh = malloc(sizeof *sh);
    if (!sh)
        return bad(l, "out of memory");
    int r = read_shape(l, shv, sh);
    if (r == 0)
        r = no_duplicates(l, fields);
    if (r == 0 && l->b && sharena_build_struct(l->b, sh->f, sh->n) < 0)
        r = -1;
    for (size_t i = 0; r == 0 && i < fields->len; i++) {
        size_t old = enter(l, fields->keys[i], fields->klens[i], 0);
        r = struct_field(l, sh, fields->keys[i], fields->klens[i],
                         &fields->items[i]);
        leave(l, old);
    }
    if (r == 0 && l->b && sharena_build_end(l->b) < 0)
        r = -1;
    l->need += 64 + 8 * sh->n;
    free(sh);
    return r;
}

/* ---- any value
 * ---------------------------------------------------------------
 */

static int map_entries(struct ld *l, const struct jval *v, size_t depth)
{
    if (no_duplicates(l, v) < 0)
        return -1;
    if (l->b && sharena_build_map(l->b) < 0)
        return -1;
    for (size_t i = 0; i < v->len; i++) {
        size_t old = enter(l, v->keys[i], v->klens[i], 0);
        l->need += v->klens[i] + 48;
        if (l->b && sharena_build_key(l->b, v->keys[i], v->klens[i]) < 0)
            return -1;
        if (decode(l, &v->items[i], depth + 1) < 0)
            return -1;
        leave(l, old);
    }
    if (l->b && sharena_build_end(l->b) < 0)
        return -1;
    l->need += 64;
    return 0;
}

static int tagged(struct ld *l, const struct jval *v, size_t depth)
{
    const struct jval *t;
    if (no_duplicates(l, v) < 0)
        return -1;
    if ((t = member(v, "$map"))) {
        if (v->len != 1 || t->t != J_OBJ)
            return bad(l, "{\"$map\": {...}} takes one object and nothing "
                          "else");
        return map_entries(l, t, depth);
    }
    if ((t = member(v, "$number"))) {
        double d;
        if (v->len != 1)
            return bad(l, "{\"$number\": ...} takes nothing else");
        if (tagged_number(l, t, &d) < 0)
            return -1;
        l->need += 64;
        return l->b && sharena_build_number(l->b, d) < 0 ? -1 : 0;
    }
    if (member(v, "$bytes")) {
        unsigned char *p;
        size_t len;
        if (tagged_bytes(l, v, &p, &len) < 0)
            return -1;
        int r = l->b && sharena_build_bytes(l->b, p, len) < 0 ? -1 : 0;
        free(p);
        return r;
    }
    if (member(v, "$struct"))
        return tagged_struct(l, v);
    if ((t = member(v, "$shape"))) {
        struct shape *sh = malloc(sizeof *sh);
        if (!sh)
            return bad(l, "out of memory");
        int r = v->len == 1 ? read_shape(l, t, sh)
                            : bad(l, "{\"$shape\": [...]} takes nothing else");
        if (r == 0 && l->b && sharena_build_shape(l->b, sh->f, sh->n) < 0)
            r = -1;
        free(sh);
        return r;
    }
    if (member(v, "$cycle"))
        return bad(l, "the dump marks a container that contains itself "
                      "(\"$cycle\"); JSON cannot carry it back");
    if ((t = member(v, "$error")))
        return bad(l,
                   "the dump marks a value it could not read "
                   "(\"$error\": %.40s)",
                   t->t == J_STR ? t->s : "?");
    for (size_t i = 0; i < v->len; i++)
        if (is_tag(v->keys[i], v->klens[i]))
            return bad(l,
                       "unknown tag \"%.40s\" (a map with keys starting "
                       "with '$' is written {\"$map\": {...}})",
                       v->keys[i]);
    return bad(l, "not a tagged value"); /* not reached */
}

static int decode(struct ld *l, const struct jval *v, size_t depth)
{
    if (depth >= SHARENA_BUILD_DEPTH_MAX)
        return bad(l, "nested deeper than %d levels", SHARENA_BUILD_DEPTH_MAX);
    sharena_builder *b = l->b;
    switch (v->t) {
    case J_NULL:
        l->need += 64;
        return b && sharena_build_null(b) < 0 ? -1 : 0;
    case J_BOOL:
        l->need += 64;
        return b && sharena_build_bool(b, v->b) < 0 ? -1 : 0;
    case J_NUM:
        l->need += 64;
        return b && sharena_build_number(b, v->n) < 0 ? -1 : 0;
    case J_STR:
        l->need += v->slen + 64;
        return b && sharena_build_string(b, v->s, v->slen) < 0 ? -1 : 0;
    case J_ARR:
        if (b && sharena_build_vector(b) < 0)
            return -1;
        for (size_t i = 0; i < v->len; i++) {
            size_t old = enter(l, NULL, 0, i);
            l->need += 8;
            if (decode(l, &v->items[i], depth + 1) < 0)
                return -1;
            leave(l, old);
        }
        l->need += 64;
        return b && sharena_build_end(b) < 0 ? -1 : 0;
    case J_OBJ:
        for (size_t i = 0; i < v->len; i++)
            if (is_tag(v->keys[i], v->klens[i]))
                return tagged(l, v, depth);
        return map_entries(l, v, depth);
    }
    return bad(l, "unknown JSON value");
}

/* The top level: {"root name": value, ...}. */
static int decode_roots(struct ld *l, const struct jval *v)
{
    if (v->t != J_OBJ)
        return bad(l, "the text must be one JSON object of roots, as "
                      "`sharena dump` writes");
    if (no_duplicates(l, v) < 0)
        return -1;
    for (size_t i = 0; i < v->len; i++) {
        size_t old = enter(l, v->keys[i], v->klens[i], 0);
        if (memchr(v->keys[i], 0, v->klens[i]) ||
            !sharena_name_valid(v->keys[i]))
            return bad(l,
                       "not a root name (1 to %d bytes of A-Z a-z 0-9 . _ "
                       "-)",
                       SHARENA_NAME_MAX);
        l->need += 128;
        if (l->b && sharena_build_key(l->b, v->keys[i], v->klens[i]) < 0)
            return -1;
        if (decode(l, &v->items[i], 0) < 0)
            return -1;
        leave(l, old);
    }
    return 0;
}

/* ---- the command
 * --------------------------------------------------------------
 */

static int read_all(const char *file, char **out, size_t *len)
{
    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
    if (!f)
        return -errno;
    size_t cap = 1 << 16, n = 0;
    char *p = malloc(cap);
    int r = p ? 0 : -ENOMEM;
    while (r == 0) {
        if (n == cap) {
            char *q = cap < ((size_t)1 << 40) ? realloc(p, cap * 2) : NULL;
            if (!q) {
                r = -ENOMEM;
                break;
            }
            p = q;
            cap *= 2;
        }
        size_t got = fread(p + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                r = -EIO;
            break;
        }
    }
    if (f != stdin)
        fclose(f);
    if (r < 0) {
        free(p);
        return r;
    }
    *out = p;
    *len = n;
    return 0;
}

int json_tree_check(const struct jval *v, char *msg, size_t cap)
{
    struct ld *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    int r = decode_roots(l, v);
    if (r < 0)
        snprintf(msg, cap, "%s", l->msg);
    free(l);
    return r;
}

int load_json(struct cli *c, const char *file, const char *name,
              const char *mode, const char *capacity)
{
    char *text = NULL;
    size_t len = 0;
    int r = read_all(file, &text, &len);
    if (r < 0) {
        cli_err(c, "%s: %s", file, strerror(-r));
        return EXIT_FAIL;
    }
    struct jval v;
    char err[256];
    if (json_parse(text, len, &v, err, sizeof err) < 0) {
        free(text);
        cli_err(c, "%s: not valid JSON: %s; nothing was created", file, err);
        return EXIT_FAIL;
    }
    free(text);
    int ex = load_tree(c, &v, file, name, mode, capacity);
    json_free(&v);
    return ex;
}

int load_tree(struct cli *c, const struct jval *tree, const char *file,
              const char *name, const char *mode, const char *capacity)
{
    sharena_open_opts o = {.flags = SHARENA_CREATE | SHARENA_EXCL};
    if (mode && cli_parse_mode(c, mode, &o.mode) != 0)
        return EXIT_USAGE;
    if (capacity && (sharena_parse_size(capacity, &o.capacity) < 0 ||
                     o.capacity < SHARENA_MIN_CAPACITY ||
                     o.capacity > SHARENA_MAX_CAPACITY))
        return cli_usage(c,
                         "bad --capacity '%s' (like 64M or 1G, at least "
                         "256K)",
                         capacity);
    if (!sharena_name_valid(name) && !strchr(name, ':'))
        return cli_usage(c, "'%s' is not an arena name", name);
    int r;

    /* 1. check everything, create nothing */
    struct ld *l = calloc(1, sizeof *l);
    if (!l) {
        cli_err(c, "out of memory");
        return EXIT_FAIL;
    }
    if (decode_roots(l, tree) < 0) {
        cli_err(c, "%s: %s; nothing was created", file, l->msg);
        free(l);
        return EXIT_FAIL;
    }
    if (!o.capacity) {
        /* pages cost memory only when touched: room to spare is free */
        uint64_t want = 2 * l->need + (UINT64_C(1) << 20);
        want = (want + (UINT64_C(1) << 20) - 1) & ~((UINT64_C(1) << 20) - 1);
        o.capacity = want < SHARENA_DEFAULT_CAPACITY ? SHARENA_DEFAULT_CAPACITY
                     : want > SHARENA_MAX_CAPACITY   ? SHARENA_MAX_CAPACITY
                                                     : want;
    }

    /* 2. create the arena, exclusively */
    sharena_arena *a = NULL;
    int ex = EXIT_FAIL;
    if (cli_connect(c) < 0)
        goto out;
    r = sharena_open(c->conn, name, &o, &a);
    if (r == SHARENA_EEXIST) {
        const char *why = sharena_broker_message();
        if (*why) /* the broker's text names the owner and mode */
            cli_err(c, "%s; nothing was loaded", why);
        else
            cli_err(c, "arena '%s' exists; nothing was loaded", name);
        goto out;
    }
    if (r < 0) {
        cli_err(c, "cannot create arena '%s': %s (%s)", name,
                sharena_strerror(r), sharena_errname(r));
        goto out;
    }

    /* 3. build the roots and link them in one step */
    sharena_id dir;
    l->wlen = 0;
    l->where[0] = 0;
    r = sharena_roots(a, &dir);
    if (r == 0)
        r = sharena_build_begin(a, &l->b);
    if (r == 0) {
        if (decode_roots(l, tree) < 0 && sharena_build_error(l->b) == 0) {
            /* checked already: only malloc can fail here */
            sharena_build_abort(l->b);
            r = SHARENA_ENOMEM;
        } else {
            r = sharena_build_map_update(l->b, dir); /* frees the builder */
        }
        l->b = NULL;
    }
    if (r < 0) {
        sharena_arena_close(a);
        a = NULL;
        int d = sharena_delete(c->conn, name);
        cli_err(c, "building arena '%s' from %s: %s (%s)%s%s", name, file,
                sharena_strerror(r), sharena_errname(r),
                r == SHARENA_EFULL ? "; give a larger --capacity" : "",
                d == 0 ? "; the arena was deleted again, nothing was created"
                       : "; and deleting it again failed");
        goto out;
    }
    sharena_arena_info info;
    memset(&info, 0, sizeof info);
    sharena_arena_info_get(a, &info);
    char b1[32];
    if (c->json) {
        printf("{\"name\":");
        json_put_string(stdout, name, strlen(name));
        printf(",\"capacity\":%llu,\"roots\":%zu}\n",
               (unsigned long long)info.capacity, tree->len);
    } else {
        printf("loaded %s into new arena '%s' (%s, %zu root%s)\n", file, name,
               cli_fmt_size(info.capacity, b1, sizeof b1), tree->len,
               tree->len == 1 ? "" : "s");
    }
    ex = cli_flush(c);
out:
    if (a)
        sharena_arena_close(a);
    free(l);
    return ex;
}
