/* cmd_data.c: get, set, dump and watch: values inside an arena. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- get ------------------------------------------------------------------
 */

int cmd_get(struct cli *c, int argc, char **argv)
{
    const char *pos[2];
    int np = cli_parse(c, argc, argv, NULL, pos, 2);
    if (np < 0)
        return EXIT_USAGE;
    if (np != 2)
        return cli_usage(c, "expected ARENA PATH");
    struct path p;
    char err[256];
    if (path_parse(pos[1], &p, err, sizeof err) < 0)
        return cli_usage(c, "%s", err);
    sharena_arena *a;
    if (cli_open(c, pos[0], SHARENA_READONLY, false, &a) < 0) {
        path_free(&p);
        return EXIT_FAIL;
    }
    cli_watchdog(c, true);
    struct target t;
    size_t depth;
    int ex = EXIT_OK;
    int r = path_resolve(a, &p, p.n, &t, &depth);
    if (r < 0) {
        ex = path_fail(c, pos[0], &p, depth, r);
    } else {
        struct render rd;
        render_init(&rd, a, stdout, !c->json);
        r = c->json ? render_target_json(&rd, &t)
                    : render_target_bare(&rd, &t, false);
        if (r == 0 && c->json)
            putchar('\n');
        if (r < 0)
            ex = cli_fail(c, pos[1], r);
        else
            ex = render_finish(c, &rd);
    }
    cli_watchdog(c, false);
    sharena_arena_close(a);
    path_free(&p);
    int f = cli_flush(c);
    return ex ? ex : f;
}

/* ---- set ------------------------------------------------------------------
 */

static int scalar_type(const struct jval *v)
{
    switch (v->t) {
    case J_STR:
        return SHARENA_T_STRING;
    case J_NUM:
        return SHARENA_T_NUMBER;
    case J_BOOL:
        return SHARENA_T_BOOL;
    default:
        return 0;
    }
}

/* Update the scalar @p id in place when it has the value's type: the id
 * stays, so other processes holding it see the change. Returns 1 when done,
 * 0 when the object must be replaced instead, or an error. */
static int set_in_place(sharena_arena *a, sharena_id id, const struct jval *v)
{
    int type = sharena_type_of(a, id);
    if (type <= 0 || type != scalar_type(v))
        return 0;
    int r;
    if (type == SHARENA_T_NUMBER)
        r = sharena_number_set(a, id, v->n);
    else if (type == SHARENA_T_BOOL)
        r = sharena_bool_set(a, id, v->b);
    else
        r = sharena_string_set(a, id, v->s, v->slen);
    return r < 0 ? r : 1;
}

/* A struct field takes a value of its own type only. */
static int set_field(struct cli *c, sharena_arena *a, const struct target *t,
                     const struct jval *v, const char *text)
{
    int r;
    if (t->type == SHARENA_T_NUMBER && v->t == J_NUM)
        r = sharena_struct_set_number(a, t->st, t->field, v->n);
    else if (t->type == SHARENA_T_BOOL && v->t == J_BOOL)
        r = sharena_struct_set_bool(a, t->st, t->field, v->b);
    else if (t->type == SHARENA_T_STRING && v->t == J_STR)
        r = sharena_struct_set_string(a, t->st, t->field, v->s, v->slen);
    else if (v->t == J_NULL) {
        r = sharena_struct_set_null(a, t->st, t->field);
        if (r == SHARENA_ETYPE) {
            cli_err(c,
                    "%s: this struct field is not nullable (its shape "
                    "does not allow null); nothing changed",
                    text);
            return EXIT_FAIL;
        }
    } else {
        cli_err(c, "%s: this struct field holds a %s%s", text,
                sharena_type_name(t->type),
                t->type == SHARENA_T_BYTES ? " buffer (not settable here)"
                                           : "; give a value of that type");
        return EXIT_FAIL;
    }
    return r < 0 ? cli_fail(c, text, r) : EXIT_OK;
}

/* Put @p id (a detached tree we own) at the last component of @p p inside
 * the container @p parent. On failure the caller drops @p id. */
static int attach(sharena_arena *a, const struct path *p, size_t i,
                  const struct target *parent, sharena_id id)
{
    if (parent->type == SHARENA_T_MAP)
        return sharena_map_set(a, parent->id, p->comp[i], p->clen[i], id,
                               SHARENA_OWNED, NULL);
    if (parent->type == SHARENA_T_VECTOR) {
        uint64_t len, idx;
        int r = sharena_vector_len(a, parent->id, &len);
        if (r == 0)
            r = path_index(p, i, len, true, &idx);
        if (r < 0)
            return r;
        return idx == len
                   ? sharena_vector_push(a, parent->id, id, SHARENA_OWNED)
                   : sharena_vector_set(a, parent->id, idx, id, SHARENA_OWNED,
                                        NULL);
    }
    return SHARENA_ETYPE;
}

static int do_set(struct cli *c, sharena_arena *a, const char *arena,
                  const struct path *p, const struct jval *v)
{
    struct target t, parent;
    size_t depth;
    int r = path_resolve(a, p, p->n, &t, &depth);
    if (r == 0 && t.is_field)
        return set_field(c, a, &t, v, p->text);
    if (r == 0 && t.in_item && v->t == J_NUM) {
        /* a number over a number stored in a vector item: in place */
        r = sharena_vector_set_number(a, t.vec, t.index, v->n);
        return r < 0 ? cli_fail(c, p->text, r) : EXIT_OK;
    }
    if (r == 0) {
        r = set_in_place(a, t.id, v);
        if (r == 1)
            return EXIT_OK;
        if (r < 0)
            return cli_fail(c, p->text, r);
    }
    /* Replace or create: find the deepest existing container. */
    size_t have; /* components that resolve */
    if (r == 0) {
        have = p->n - 1;
    } else if (r == SHARENA_ENOENT ||
               (r == SHARENA_ERANGE && depth == p->n - 1)) {
        have = depth; /* ERANGE there: maybe an append; attach() decides */
    } else {
        return path_fail(c, arena, p, depth, r);
    }
    if (have > 0) {
        r = path_resolve(a, p, have, &parent, &depth);
        if (r < 0)
            return path_fail(c, arena, p, depth, r);
        if (parent.is_field && have < p->n) {
            /* a missing field of a struct */
            return path_fail(c, arena, p, have, SHARENA_ENOENT);
        }
        if (parent.type == SHARENA_T_STRUCT)
            return path_fail(c, arena, p, have, SHARENA_ENOENT);
        if (parent.type != SHARENA_T_MAP && parent.type != SHARENA_T_VECTOR)
            return path_fail(c, arena, p, have, SHARENA_ETYPE);
        if (parent.type == SHARENA_T_VECTOR && have + 1 < p->n) {
            /* maps are created along the path, vector elements are not */
            uint64_t len, idx;
            r = sharena_vector_len(a, parent.id, &len);
            if (r == 0)
                r = path_index(p, have, len, false, &idx);
            return path_fail(c, arena, p, have, r < 0 ? r : SHARENA_ENOENT);
        }
    }
    if (have == p->n - 1 && have > 0 && parent.type == SHARENA_T_MAP &&
        (scalar_type(v) || v->t == J_NULL)) {
        /* stored in the map's entry: no object */
        const char *k = p->comp[have];
        size_t kl = p->clen[have];
        if (v->t == J_NUM)
            r = sharena_map_set_number(a, parent.id, k, kl, v->n);
        else if (v->t == J_BOOL)
            r = sharena_map_set_bool(a, parent.id, k, kl, v->b);
        else if (v->t == J_STR)
            r = sharena_map_set_string(a, parent.id, k, kl, v->s, v->slen);
        else
            r = sharena_map_set_null(a, parent.id, k, kl);
        return r < 0 ? cli_fail(c, p->text, r) : EXIT_OK;
    }
    if (v->t == J_NUM && have == p->n - 1 && have > 0 &&
        parent.type == SHARENA_T_VECTOR) {
        /* a number into a vector goes into the item itself (no object) */
        uint64_t len, idx;
        r = sharena_vector_len(a, parent.id, &len);
        if (r == 0)
            r = path_index(p, have, len, true, &idx);
        if (r == 0)
            r = idx == len ? sharena_vector_push_number(a, parent.id, v->n)
                           : sharena_vector_set_number(a, parent.id, idx, v->n);
        if (r == SHARENA_ERANGE || r == SHARENA_EINVAL)
            return path_fail(c, arena, p, have, r);
        return r < 0 ? cli_fail(c, p->text, r) : EXIT_OK;
    }
    sharena_id id;
    r = build_value(a, v, &id);
    /* wrap in maps for the components that do not exist yet */
    for (size_t i = p->n - 1; r == 0 && i > have; i--) {
        sharena_id m;
        r = sharena_map_new(a, &m);
        if (r < 0) {
            sharena_drop(a, id, 0);
            break;
        }
        r = sharena_map_set(a, m, p->comp[i], p->clen[i], id, SHARENA_OWNED,
                            NULL);
        if (r < 0) {
            sharena_drop(a, id, 0);
            sharena_drop(a, m, 0);
            break;
        }
        id = m;
    }
    if (r < 0)
        return cli_fail(c, p->text, r);
    r = have == 0 ? sharena_root_set(a, p->comp[0], id, SHARENA_OWNED)
                  : attach(a, p, have, &parent, id);
    if (r < 0) {
        sharena_drop(a, id, 0);
        if (r == SHARENA_ERANGE || (r == SHARENA_EINVAL && have))
            return path_fail(c, arena, p, have, r);
        return cli_fail(c, p->text, r);
    }
    return EXIT_OK;
}

int cmd_set(struct cli *c, int argc, char **argv)
{
    const char *pos[3];
    bool string = false;
    const struct cli_opt opts[] = {{"--string", false, NULL, &string}, {0}};
    int np = cli_parse(c, argc, argv, opts, pos, 3);
    if (np < 0)
        return EXIT_USAGE;
    if (np != 3)
        return cli_usage(c, "expected ARENA PATH VALUE");
    struct jval v;
    char err[256];
    size_t vlen = strlen(pos[2]);
    memset(&v, 0, sizeof v);
    if (string || json_parse(pos[2], vlen, &v, err, sizeof err) < 0) {
        const char *s = pos[2] + strspn(pos[2], " \t\r\n");
        if (!string && (*s == '{' || *s == '[' || *s == '"'))
            return cli_usage(c,
                             "VALUE is not valid JSON: %s (use --string "
                             "to store it as text)",
                             err);
        if (!string && strncmp(err, "number out of range", 19) == 0)
            return cli_usage(c,
                             "VALUE: %s (a double holds up to about "
                             "1.8e308)",
                             err);
        if (!sharena_utf8_valid(pos[2], vlen))
            return cli_usage(c, "VALUE is not valid UTF-8");
        v.t = J_STR;
        v.s = strdup(pos[2]);
        v.slen = vlen;
        if (!v.s)
            return cli_fail(c, "VALUE", SHARENA_ENOMEM);
    }
    struct path p;
    if (path_parse(pos[1], &p, err, sizeof err) < 0) {
        json_free(&v);
        return cli_usage(c, "%s", err);
    }
    sharena_arena *a;
    int ex = EXIT_FAIL;
    if (cli_open(c, pos[0], 0, false, &a) == 0) {
        cli_watchdog(c, true);
        ex = do_set(c, a, pos[0], &p, &v);
        cli_watchdog(c, false);
        sharena_arena_close(a);
    }
    path_free(&p);
    json_free(&v);
    if (ex == EXIT_OK && c->json)
        puts("{\"ok\":true}");
    return ex == EXIT_OK ? cli_flush(c) : ex;
}

/* ---- dump -----------------------------------------------------------------
 */

int cmd_dump(struct cli *c, int argc, char **argv)
{
    const char *pos[1];
    int np = cli_parse(c, argc, argv, NULL, pos, 1);
    if (np < 0)
        return EXIT_USAGE;
    if (np != 1)
        return cli_usage(c, "which arena? (sharena dump ARENA)");
    sharena_arena *a;
    if (cli_open(c, pos[0], SHARENA_READONLY, false, &a) < 0)
        return EXIT_FAIL;
    cli_watchdog(c, true);
    struct render rd;
    render_init(&rd, a, stdout, !c->json);
    rd.exact = true; /* what load --json reads back */
    int r = render_roots(&rd);
    int ex;
    if (r < 0) {
        ex = cli_fail(c, "reading the roots directory", r);
    } else {
        putchar('\n');
        ex = render_finish(c, &rd);
    }
    cli_watchdog(c, false);
    sharena_arena_close(a);
    int f = cli_flush(c);
    return ex ? ex : f;
}

/* ---- watch ----------------------------------------------------------------
 */

/* What one look at the path found. */
struct snap {
    int err;          /* 0, or why the path does not resolve */
    size_t depth;     /* components that resolved (for messages) */
    sharena_id id;    /* the object (or struct) there */
    uint64_t version; /* its version */
    char *text;       /* the line to print (without newline) */
    size_t len;
};

static void snap_free(struct snap *s)
{
    free(s->text);
    memset(s, 0, sizeof *s);
}

static int take(struct cli *c, sharena_arena *a, const struct path *p,
                struct snap *s)
{
    memset(s, 0, sizeof *s);
    FILE *f = open_memstream(&s->text, &s->len);
    if (!f)
        return SHARENA_ENOMEM;
    struct render rd;
    render_init(&rd, a, f, false);
    int r;
    if (p) {
        struct target t;
        r = path_resolve(a, p, p->n, &t, &s->depth);
        if (r == 0) {
            s->id = t.is_field || t.in_entry ? t.st : t.in_item ? t.vec : t.id;
            sharena_change_count(a, s->id, &s->version);
            r = c->json ? render_target_json(&rd, &t)
                        : render_target_bare(&rd, &t, true);
        }
    } else {
        r = render_roots(&rd);
    }
    if (fclose(f) != 0 && r == 0)
        r = SHARENA_ENOMEM;
    /* one line: the bare renderer ends with a newline */
    while (s->len && s->text[s->len - 1] == '\n')
        s->text[--s->len] = 0;
    s->err = r;
    return r;
}

static bool same(const struct snap *x, const struct snap *y)
{
    if (x->err != y->err)
        return false;
    if (x->err)
        return true;
    return x->id == y->id && x->version == y->version && x->len == y->len &&
           memcmp(x->text, y->text, x->len) == 0;
}

int cmd_watch(struct cli *c, int argc, char **argv)
{
    const char *pos[2];
    int np = cli_parse(c, argc, argv, NULL, pos, 2);
    if (np < 0)
        return EXIT_USAGE;
    if (np < 1)
        return cli_usage(c, "expected ARENA [PATH]");
    struct path path, *p = NULL;
    char err[256];
    if (np == 2) {
        if (path_parse(pos[1], &path, err, sizeof err) < 0)
            return cli_usage(c, "%s", err);
        p = &path;
    }
    cli_stop_on_signal(true);
    sharena_arena *a;
    /* read-write if allowed: writers then wake us directly (a read-only
     * handle polls every 2 ms) */
    if (cli_open(c, pos[0], 0, true, &a) < 0) {
        if (p)
            path_free(p);
        return EXIT_FAIL;
    }
    struct snap last = {.err = 1}, now;
    int ex = EXIT_OK;
    bool first = true;
    while (!cli_stop) {
        uint64_t av = 0;
        int r = sharena_arena_version(a, &av);
        if (r < 0) {
            ex = cli_fail(c, pos[0], r);
            break;
        }
        cli_watchdog(c, true);
        take(c, a, p, &now);
        cli_watchdog(c, false);
        if (!same(&now, &last)) {
            if (now.err == 0) {
                fwrite(now.text, 1, now.len, stdout);
                putchar('\n');
                if (fflush(stdout) != 0 || ferror(stdout)) {
                    if (errno != EPIPE)
                        cli_err(c, "writing the output: %s", strerror(errno));
                    ex = errno == EPIPE ? EXIT_OK : EXIT_FAIL;
                    snap_free(&now);
                    break;
                }
            } else if (first && now.err != SHARENA_ENOENT &&
                       now.err != SHARENA_ERANGE) {
                ex = p ? path_fail(c, pos[0], p, now.depth, now.err)
                       : cli_fail(c, pos[0], now.err);
                snap_free(&now);
                break;
            } else {
                char pre[512];
                cli_err(c, "%s: %s: %s; waiting for it to appear", pos[0],
                        p ? path_prefix(p, p->n, pre, sizeof pre) : "",
                        sharena_strerror(now.err));
            }
        }
        first = false;
        snap_free(&last);
        last = now;
        /* Anything written since av wakes us at once: no change is lost
         * between the look above and this wait. The timeout only bounds
         * how long a stop request can go unnoticed. */
        uint64_t nv;
        r = sharena_wait_any(a, av, 1000000000, &nv);
        if (r < 0 && r != SHARENA_ETIMEDOUT && r != SHARENA_EINTR) {
            ex = cli_fail(c, pos[0], r);
            break;
        }
    }
    snap_free(&last);
    sharena_arena_close(a);
    if (p)
        path_free(p);
    return ex;
}
