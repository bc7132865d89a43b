/* path.c: PATH = ROOT[/KEY-or-INDEX...]
 *
 * '/' separates components because keys often hold dots (host names, file
 * names, versions). A backslash escapes the next character, so "a\/b" is
 * the one key "a/b" and "a\\b" the key "a\b". A leading '/' is ignored.
 * Empty components are refused. Under a vector a component is an index:
 * decimal, or negative to count from the end (-1 is the last element).
 * Under a struct it is a field name.
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void path_free(struct path *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->comp[i]);
    free(p->comp);
    free(p->clen);
    free(p->text);
    memset(p, 0, sizeof *p);
}

int path_parse(const char *text, struct path *p, char *err, size_t errcap)
{
    memset(p, 0, sizeof *p);
    size_t tl = strlen(text);
    p->text = strdup(text);
    p->comp = calloc(tl / 2 + 2, sizeof *p->comp);
    p->clen = calloc(tl / 2 + 2, sizeof *p->clen);
    char *buf = malloc(tl + 1);
    if (!p->text || !p->comp || !p->clen || !buf) {
        free(buf);
        path_free(p);
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    const char *s = text;
    if (*s == '/')
        s++;
    size_t n = 0;
    for (;;) {
        if (*s == '/' || *s == 0) {
            if (n == 0) {
                snprintf(err, errcap, "empty component in path '%s'%s", text,
                         *text ? "" : " (give at least a root name)");
                free(buf);
                path_free(p);
                return -1;
            }
            char *c = malloc(n + 1);
            if (!c) {
                free(buf);
                path_free(p);
                snprintf(err, errcap, "out of memory");
                return -1;
            }
            memcpy(c, buf, n);
            c[n] = 0;
            p->comp[p->n] = c;
            p->clen[p->n] = n;
            p->n++;
            n = 0;
            if (*s == 0)
                break;
            s++;
            continue;
        }
        if (*s == '\\') {
            if (s[1] == 0) {
                snprintf(err, errcap, "path '%s' ends with a lone '\\'", text);
                free(buf);
                path_free(p);
                return -1;
            }
            s++;
        }
        buf[n++] = *s++;
    }
    free(buf);
    if (!sharena_name_valid(p->comp[0])) {
        snprintf(err, errcap,
                 "'%s' is not a valid root name (1..128 bytes of "
                 "[A-Za-z0-9._-])",
                 p->comp[0]);
        path_free(p);
        return -1;
    }
    return 0;
}

const char *path_prefix(const struct path *p, size_t n, char *buf, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return buf;
    for (size_t i = 0; i < n && i < p->n; i++) {
        if (i && o + 1 < cap)
            buf[o++] = '/';
        for (size_t j = 0; j < p->clen[i] && o + 2 < cap; j++) {
            char ch = p->comp[i][j];
            if (ch == '/' || ch == '\\')
                buf[o++] = '\\';
            buf[o++] = ch;
        }
    }
    buf[o < cap ? o : cap - 1] = 0;
    return buf;
}

int path_index(const struct path *p, size_t i, uint64_t len, bool allow_end,
               uint64_t *out)
{
    const char *s = p->comp[i];
    bool neg = *s == '-';
    const char *d = neg ? s + 1 : s;
    if (!*d || strspn(d, "0123456789") != strlen(d))
        return SHARENA_EINVAL;
    errno = 0;
    unsigned long long v = strtoull(d, NULL, 10);
    if (errno)
        return SHARENA_ERANGE;
    if (neg) {
        if (v == 0 || v > len)
            return SHARENA_ERANGE;
        *out = len - v;
        return 0;
    }
    if (v > len || (v == len && !allow_end))
        return SHARENA_ERANGE;
    *out = v;
    return 0;
}

/* One step from the object @p cur (of type @p type) through component i. */
static int step(const sharena_arena *a, const struct path *p, size_t i,
                sharena_id cur, int type, struct target *t)
{
    int r;
    memset(t, 0, sizeof *t);
    switch (type) {
    case SHARENA_T_MAP: {
        /* read, never giving a value stored in the entry an id */
        sharena_value v;
        r = sharena_map_get_value(a, cur, p->comp[i], p->clen[i], NULL, 0, &v);
        if (r == SHARENA_ERANGE && v.type == SHARENA_T_STRING)
            r = 0;
        if (r < 0)
            return r;
        if (v.id) {
            t->id = v.id;
            break;
        }
        t->type = v.type;
        t->in_entry = true;
        t->st = cur;
        t->key = p->comp[i];
        t->klen = p->clen[i];
        return 0;
    }
    case SHARENA_T_VECTOR: {
        uint64_t len, idx;
        r = sharena_vector_len(a, cur, &len);
        if (r == 0)
            r = path_index(p, i, len, false, &idx);
        /* the element's value, not an id: a number stored in the item
         * has none (asking would make it an object) */
        sharena_value v = {0};
        if (r == 0)
            r = sharena_vector_get_value(a, cur, idx, NULL, 0, &v);
        if (r == SHARENA_ERANGE && v.type == SHARENA_T_STRING)
            r = 0; /* its text is read later */
        if (r == 0 && !v.id) {
            t->type = SHARENA_T_NUMBER;
            t->in_item = true;
            t->vec = cur;
            t->index = idx;
            t->number = v.number;
            return 0;
        }
        t->id = v.id;
        break;
    }
    case SHARENA_T_STRUCT: {
        size_t f;
        uint64_t size;
        char name[SHARENA_FIELD_NAME_MAX + 1];
        r = sharena_shape_find(a, cur, p->comp[i], p->clen[i], &f);
        if (r == 0)
            r = sharena_shape_field(a, cur, f, name, sizeof name, &t->type,
                                    &size);
        if (r < 0)
            return r;
        t->is_field = true;
        t->st = cur;
        t->field = f;
        if (t->type == SHARENA_T_BYTES || t->type == SHARENA_T_STRING) {
            r = sharena_struct_field_id(a, cur, f, &t->id);
            if (r < 0)
                return r;
        }
        return 0;
    }
    default:
        return SHARENA_ETYPE; /* a scalar has no components */
    }
    if (r < 0)
        return r;
    r = sharena_type_of(a, t->id);
    if (r < 0)
        return r;
    t->type = r;
    return 0;
}

int path_resolve(const sharena_arena *a, const struct path *p, size_t upto,
                 struct target *t, size_t *depth)
{
    memset(t, 0, sizeof *t);
    *depth = 0;
    if (upto > p->n)
        upto = p->n;
    int r = sharena_root_get(a, p->comp[0], &t->id);
    if (r == 0) {
        r = sharena_type_of(a, t->id);
        if (r > 0) {
            t->type = r;
            r = 0;
        }
    }
    if (r < 0)
        return r;
    *depth = 1;
    for (size_t i = 1; i < upto; i++) {
        if (t->is_field)
            return SHARENA_ETYPE; /* fields are leaves */
        struct target nt;
        r = step(a, p, i, t->id, t->type, &nt);
        if (r < 0)
            return r;
        *t = nt;
        *depth = i + 1;
    }
    return 0;
}

int path_fail(const struct cli *c, const char *arena, const struct path *p,
              size_t depth, int err)
{
    char pre[1024], full[1024];
    path_prefix(p, depth + 1, full, sizeof full);
    path_prefix(p, depth, pre, sizeof pre);
    if (depth == 0 && err == SHARENA_ENOENT) {
        cli_err(c, "%s: no root named '%s'", arena, p->comp[0]);
    } else if (err == SHARENA_ENOENT) {
        cli_err(c, "%s: %s: no key '%s' in %s", arena, full, p->comp[depth],
                pre);
    } else if (err == SHARENA_ERANGE || (err == SHARENA_EINVAL && depth)) {
        cli_err(c, "%s: %s: '%s' is not an index of the vector %s (%s)", arena,
                full, p->comp[depth], pre,
                err == SHARENA_ERANGE ? "out of range" : "not a number");
    } else if (err == SHARENA_ETYPE && depth < p->n) {
        cli_err(c,
                "%s: %s: %s holds no keys or indices (not a map, vector "
                "or struct)",
                arena, full, pre);
    } else {
        cli_err(c, "%s: %s: %s (%s)", arena, full, sharena_strerror(err),
                sharena_errname(err));
    }
    return EXIT_FAIL;
}
