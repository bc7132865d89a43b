/* render.c: arena objects as JSON (dump, get --json, watch) or bare text.
 *
 * JSON mapping: string -> string, number -> number (NaN and infinities ->
 * null), bool -> true/false, map -> object (keys sorted bytewise), vector ->
 * array, struct -> object of its fields, bytes -> {"$bytes": base64,
 * "$size": n} (cut at RENDER_BYTES_MAX with "$truncated": true), shape ->
 * {"$shape": [{"name", "type", "size"}...]}. An object met again below
 * itself (a container holding itself) is {"$cycle": id}. A value that cannot
 * be read (stale id, corrupt data) is {"$error": "ENAME"}.
 *
 * `dump` writes the exact encoding instead (r->exact; docs/cli.md, "The
 * JSON encoding"), which `load --json` reads back: structs are
 * {"$struct": {fields}, "$shape": [...]}, a map with a key starting with
 * '$' is {"$map": {...}}, NaN and infinities are {"$number": "NaN"} (a NaN
 * other than the default one by its bits, "0x7ff4000000000001"), and bytes
 * are never cut.
 *
 * Everything is bounded: at most r->budget values, 256 levels, and every
 * read goes through the library's checks, so a scribbled arena yields
 * markers, never a hang or a crash.
 */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void render_init(struct render *r, const sharena_arena *a, FILE *f, bool pretty)
{
    memset(r, 0, sizeof *r);
    r->a = a;
    r->f = f;
    r->pretty = pretty;
    r->budget = RENDER_BUDGET;
}

static void indent(struct render *r)
{
    if (!r->pretty)
        return;
    putc('\n', r->f);
    for (unsigned i = 0; i < r->depth; i++)
        fputs("  ", r->f);
}

static void marker(struct render *r, const char *what, const char *val)
{
    fprintf(r->f, r->pretty ? "{\"%s\": \"%s\"}" : "{\"%s\":\"%s\"}", what,
            val);
}

static void sep(struct render *r)
{
    fputs(r->pretty ? ": " : ":", r->f);
}

static int value(struct render *r, sharena_id id, bool top);

/* ---- maps and roots --------------------------------------------------------
 */

struct entry {
    char *key;
    size_t klen;
    sharena_id id; /* 0: a value stored in the map's entry (no id) */
};

static int cmp_entry(const void *x, const void *y)
{
    const struct entry *a = x, *b = y;
    size_t n = a->klen < b->klen ? a->klen : b->klen;
    int c = memcmp(a->key, b->key, n);
    if (c)
        return c;
    return a->klen < b->klen ? -1 : a->klen > b->klen;
}

static void free_entries(struct entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(e[i].key);
    free(e);
}

/* Collect a map's entries (at most the remaining budget). */
static int collect(struct render *r, sharena_id map, struct entry **out,
                   size_t *n)
{
    size_t cap = 0, len = 0, kcap = 256;
    struct entry *e = NULL;
    char *key = malloc(kcap);
    uint64_t cursor = 0;
    int rc = key ? 0 : SHARENA_ENOMEM;
    while (rc == 0) {
        size_t klen;
        sharena_id v;
        /* refs only: a value stored in the entry is read by its key when
         * it is shown (stored_value), never given an id */
        int x = sharena_map_next_ref(r->a, map, &cursor, key, kcap, &klen, &v,
                                     NULL);
        if (x == SHARENA_ENOENT)
            break;
        if (x == SHARENA_ERANGE) {
            char *k = klen < ((size_t)1 << 30) ? realloc(key, klen + 1) : NULL;
            if (!k) {
                rc = SHARENA_ENOMEM;
                break;
            }
            key = k;
            kcap = klen + 1;
            continue;
        }
        if (x < 0) {
            rc = x;
            break;
        }
        if (len >= r->budget) {
            r->truncated = true;
            break;
        }
        if (len == cap) {
            size_t nc = cap ? cap * 2 : 16;
            struct entry *ne = realloc(e, nc * sizeof *ne);
            if (!ne) {
                rc = SHARENA_ENOMEM;
                break;
            }
            e = ne;
            cap = nc;
        }
        e[len].key = malloc(klen + 1);
        if (!e[len].key) {
            rc = SHARENA_ENOMEM;
            break;
        }
        memcpy(e[len].key, key, klen + 1);
        e[len].klen = klen;
        e[len].id = v;
        len++;
    }
    free(key);
    if (len)
        qsort(e, len, sizeof *e, cmp_entry);
    *out = e;
    *n = len;
    return rc;
}

static void number_value(struct render *r, double d);

/* The value map @p map stores in the entry of @p key (no id). */
static void stored_value(struct render *r, sharena_id map, const char *key,
                         size_t klen)
{
    if (r->budget == 0 || r->truncated) {
        r->truncated = true;
        fputs("null", r->f);
        return;
    }
    r->budget--;
    char stack[64], *buf = stack;
    size_t cap = sizeof stack;
    sharena_value v;
    int rc;
    for (int tries = 0;; tries++) {
        rc = sharena_map_get_value(r->a, map, key, klen, buf, cap, &v);
        if (rc != SHARENA_ERANGE || v.type != SHARENA_T_STRING || tries == 8)
            break;
        char *nb = buf == stack ? malloc(v.len + 1) : realloc(buf, v.len + 1);
        if (!nb) {
            rc = SHARENA_ENOMEM;
            break;
        }
        buf = nb;
        cap = v.len + 1;
    }
    if (rc == 0 && v.id) { /* replaced by an object meanwhile */
        if (buf != stack)
            free(buf);
        r->budget++;
        value(r, v.id, false);
        return;
    }
    if (rc < 0) {
        r->errors++;
        marker(r, "$error", sharena_errname(rc));
    } else if (v.type == SHARENA_T_STRING) {
        json_put_string(r->f, buf, v.len);
    } else if (v.type == SHARENA_T_NUMBER) {
        number_value(r, v.number);
    } else if (v.type == SHARENA_T_BOOL) {
        fputs(v.boolean ? "true" : "false", r->f);
    } else {
        fputs("null", r->f);
    }
    if (buf != stack)
        free(buf);
}

static void put_entries(struct render *r, sharena_id map, struct entry *e,
                        size_t n)
{
    putc('{', r->f);
    r->depth++;
    for (size_t i = 0; i < n && !r->truncated; i++) {
        if (i)
            putc(',', r->f);
        indent(r);
        json_put_string(r->f, e[i].key, e[i].klen);
        sep(r);
        if (e[i].id)
            value(r, e[i].id, false);
        else
            stored_value(r, map, e[i].key, e[i].klen);
    }
    r->depth--;
    if (n)
        indent(r);
    putc('}', r->f);
}

static int map_value(struct render *r, sharena_id id, bool top)
{
    struct entry *e;
    size_t n;
    int rc = collect(r, id, &e, &n);
    if (rc < 0 && top && n == 0) {
        free_entries(e, n);
        return rc;
    }
    if (rc < 0)
        r->errors++; /* the entries read before the error are shown */
    bool wrap = false;
    for (size_t i = 0; r->exact && i < n && !wrap; i++)
        wrap = e[i].klen && e[i].key[0] == '$';
    if (wrap) /* its keys would read as tags */
        fputs(r->pretty ? "{\"$map\": " : "{\"$map\":", r->f);
    put_entries(r, id, e, n);
    if (wrap)
        putc('}', r->f);
    free_entries(e, n);
    return 0;
}

/* ---- vectors, structs, shapes, bytes ----------------------------------------
 */

static void number_value(struct render *r, double d);

static int vector_value(struct render *r, sharena_id id, bool top)
{
    uint64_t len;
    int rc = sharena_vector_len(r->a, id, &len);
    if (rc < 0) {
        if (top)
            return rc;
        r->errors++;
        marker(r, "$error", sharena_errname(rc));
        return 0;
    }
    putc('[', r->f);
    r->depth++;
    uint64_t i = 0;
    for (; i < len && !r->truncated; i++) {
        /* the value, not an id: a number stored in the item has none */
        sharena_value v = {0};
        rc = sharena_vector_get_value(r->a, id, i, NULL, 0, &v);
        if (rc == SHARENA_ERANGE && v.type == 0)
            break; /* shrunk meanwhile */
        if (rc == SHARENA_ERANGE)
            rc = 0; /* a string: value() reads its text */
        if (i)
            putc(',', r->f);
        indent(r);
        if (rc < 0) {
            r->errors++;
            marker(r, "$error", sharena_errname(rc));
            continue;
        }
        if (v.id)
            value(r, v.id, false);
        else if (r->budget) {
            r->budget--; /* as value() counts one */
            number_value(r, v.number);
        } else {
            r->truncated = true; /* as value() says it */
            fputs("null", r->f);
        }
    }
    r->depth--;
    if (i)
        indent(r);
    putc(']', r->f);
    return 0;
}

/* Exact bytes: read and encoded in pieces of a multiple of 3 bytes, so the
 * pieces' base64 is the whole buffer's. */
static int bytes_exact(struct render *r, sharena_id id, uint64_t size)
{
    enum { PIECE = 3 * 16384 };
    unsigned char *buf = malloc(PIECE);
    if (!buf)
        return SHARENA_ENOMEM;
    int rc = 0;
    fputs(r->pretty ? "{\"$bytes\": \"" : "{\"$bytes\":\"", r->f);
    for (uint64_t off = 0; off < size && rc == 0;) {
        size_t n = size - off < PIECE ? (size_t)(size - off) : PIECE;
        rc = sharena_bytes_read(r->a, id, off, buf, n);
        if (rc == 0)
            json_put_base64_part(r->f, buf, n);
        off += n;
    }
    putc('"', r->f);
    fprintf(r->f, r->pretty ? ", \"$size\": %llu}" : ",\"$size\":%llu}",
            (unsigned long long)size);
    free(buf);
    return rc;
}

static void bytes_value(struct render *r, sharena_id id, uint64_t size)
{
    if (r->exact) {
        /* a failure part-way leaves a $bytes that does not match $size:
         * counted as an error (exit 1), and load refuses it */
        int rc = bytes_exact(r, id, size);
        if (rc < 0)
            r->errors++;
        return;
    }
    uint64_t n = size < RENDER_BYTES_MAX ? size : RENDER_BYTES_MAX;
    unsigned char *buf = malloc(n ? n : 1);
    int rc = buf ? sharena_bytes_read(r->a, id, 0, buf, n) : SHARENA_ENOMEM;
    if (rc < 0) {
        free(buf);
        r->errors++;
        marker(r, "$error", sharena_errname(rc));
        return;
    }
    fputs(r->pretty ? "{\"$bytes\": " : "{\"$bytes\":", r->f);
    json_put_base64(r->f, buf, n);
    fprintf(r->f, r->pretty ? ", \"$size\": %llu" : ",\"$size\":%llu",
            (unsigned long long)size);
    if (n < size)
        fputs(r->pretty ? ", \"$truncated\": true" : ",\"$truncated\":true",
              r->f);
    putc('}', r->f);
    free(buf);
}

/* A number: in the exact encoding NaN and infinities are tagged. */
static void number_value(struct render *r, double d)
{
    if (!r->exact || isfinite(d)) {
        json_put_number(r->f, d);
        return;
    }
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    fputs(r->pretty ? "{\"$number\": \"" : "{\"$number\":\"", r->f);
    if (isinf(d))
        fputs(d < 0 ? "-Infinity" : "Infinity", r->f);
    else if (bits == RENDER_NAN_BITS)
        fputs("NaN", r->f);
    else
        fprintf(r->f, "0x%016llx", (unsigned long long)bits);
    fputs("\"}", r->f);
}

/* Whether struct field @p i holds null (a nullable field). */
static bool field_null(const sharena_arena *a, sharena_id st, size_t i)
{
    sharena_value v;
    return sharena_struct_get_value(a, st, i, NULL, 0, &v) == 0 &&
           v.type == SHARENA_T_NULL;
}

/* A struct field: its value as JSON. */
static void field_value(struct render *r, sharena_id st, size_t i, int type,
                        uint64_t size)
{
    int rc;
    if (type != SHARENA_T_BYTES && field_null(r->a, st, i)) {
        fputs("null", r->f);
        return;
    }
    switch (type) {
    case SHARENA_T_NUMBER: {
        double d;
        rc = sharena_struct_get_number(r->a, st, i, &d);
        if (rc == 0)
            number_value(r, d);
        break;
    }
    case SHARENA_T_BOOL: {
        bool b;
        rc = sharena_struct_get_bool(r->a, st, i, &b);
        if (rc == 0)
            fputs(b ? "true" : "false", r->f);
        break;
    }
    case SHARENA_T_STRING:
    case SHARENA_T_BYTES: {
        sharena_id fid;
        rc = sharena_struct_field_id(r->a, st, i, &fid);
        if (rc == 0) {
            if (type == SHARENA_T_BYTES)
                bytes_value(r, fid, size);
            else
                value(r, fid, false);
        }
        break;
    }
    default:
        rc = SHARENA_ECORRUPT;
    }
    if (rc < 0) {
        r->errors++;
        marker(r, "$error", sharena_errname(rc));
    }
}

static int struct_fields(struct render *r, sharena_id id, bool top, bool shape);

/* A struct: its fields, or in the exact encoding
 * {"$struct": {fields}, "$shape": [its shape]}. */
static int struct_value(struct render *r, sharena_id id, bool top, bool shape)
{
    if (shape || !r->exact)
        return struct_fields(r, id, top, shape);
    size_t n;
    int rc = sharena_shape_nfields(r->a, id, &n);
    if (rc < 0) {
        if (top)
            return rc;
        r->errors++;
        marker(r, "$error", sharena_errname(rc));
        return 0;
    }
    fputs(r->pretty ? "{\"$struct\": " : "{\"$struct\":", r->f);
    struct_fields(r, id, false, false);
    /* the shape's array, without its {"$shape": ...} wrapper's brace */
    fputs(r->pretty ? ", " : ",", r->f);
    r->shape_only = true;
    struct_fields(r, id, false, true);
    r->shape_only = false;
    return 0;
}

static int struct_fields(struct render *r, sharena_id id, bool top, bool shape)
{
    size_t n;
    int rc = sharena_shape_nfields(r->a, id, &n);
    if (rc < 0) {
        if (top)
            return rc;
        r->errors++;
        marker(r, "$error", sharena_errname(rc));
        return 0;
    }
    if (n > SHARENA_FIELDS_MAX)
        n = SHARENA_FIELDS_MAX;
    bool inner = r->shape_only; /* "$shape": [...] inside a $struct */
    if (shape)
        fputs(inner ? (r->pretty ? "\"$shape\": [" : "\"$shape\":[")
                    : (r->pretty ? "{\"$shape\": [" : "{\"$shape\":["),
              r->f);
    else
        putc('{', r->f);
    r->depth++;
    for (size_t i = 0; i < n && !r->truncated; i++) {
        char name[SHARENA_FIELD_NAME_MAX + 1];
        sharena_type type;
        uint64_t size;
        if (i)
            putc(',', r->f);
        indent(r);
        rc = sharena_shape_field(r->a, id, i, name, sizeof name, &type, &size);
        if (rc < 0) {
            if (!shape) {
                char alt[32];
                snprintf(alt, sizeof alt, "$field%zu", i);
                json_put_string(r->f, alt, strlen(alt));
                sep(r);
            }
            r->errors++;
            marker(r, "$error", sharena_errname(rc));
            continue;
        }
        if (shape) {
            fputs(r->pretty ? "{\"name\": " : "{\"name\":", r->f);
            json_put_string(r->f, name, strlen(name));
            fprintf(r->f, r->pretty ? ", \"type\": \"%s\"" : ",\"type\":\"%s\"",
                    sharena_type_name(type));
            if (type == SHARENA_T_BYTES)
                fprintf(r->f, r->pretty ? ", \"size\": %llu" : ",\"size\":%llu",
                        (unsigned long long)size);
            sharena_field_flags fl = 0;
            if (sharena_shape_field_flags(r->a, id, i, &fl) == 0 &&
                (fl & SHARENA_FIELD_NULLABLE))
                fputs(r->pretty ? ", \"nullable\": true" : ",\"nullable\":true",
                      r->f);
            putc('}', r->f);
            continue;
        }
        json_put_string(r->f, name, strlen(name));
        sep(r);
        field_value(r, id, i, type, size);
    }
    r->depth--;
    if (n)
        indent(r);
    fputs(shape ? "]}" : "}", r->f); /* a $struct's wrapper closes here */
    return 0;
}

/* ---- any value
 * ---------------------------------------------------------------- */

static int value(struct render *r, sharena_id id, bool top)
{
    if (r->budget == 0 || r->truncated) {
        r->truncated = true;
        fputs("null", r->f);
        return 0;
    }
    r->budget--;
    for (unsigned i = 0; i < r->depth && i < 256; i++) {
        if (r->stack[i] == id) {
            r->cycles++;
            fprintf(r->f,
                    r->pretty ? "{\"$cycle\": %llu}" : "{\"$cycle\":%llu}",
                    (unsigned long long)id);
            return 0;
        }
    }
    if (r->depth >= 255) {
        r->truncated = true;
        marker(r, "$error", "too deep");
        return 0;
    }
    int type = sharena_type_of(r->a, id);
    int rc = type < 0 ? type : 0;
    if (rc == 0) {
        switch (type) {
        case SHARENA_T_STRING: {
            char *s;
            size_t len;
            rc = sharena_string_dup(r->a, id, &s, &len);
            if (rc == 0) {
                json_put_string(r->f, s, len);
                free(s);
            }
            break;
        }
        case SHARENA_T_NUMBER: {
            double d;
            rc = sharena_number_get(r->a, id, &d);
            if (rc == 0)
                number_value(r, d);
            break;
        }
        case SHARENA_T_BOOL: {
            bool b;
            rc = sharena_bool_get(r->a, id, &b);
            if (rc == 0)
                fputs(b ? "true" : "false", r->f);
            break;
        }
        case SHARENA_T_NULL:
            fputs("null", r->f);
            break;
        case SHARENA_T_BYTES: {
            void *p;
            uint64_t size;
            rc = sharena_bytes_ptr(r->a, id, &p, &size);
            if (rc == 0)
                bytes_value(r, id, size);
            break;
        }
        case SHARENA_T_MAP:
        case SHARENA_T_VECTOR:
        case SHARENA_T_STRUCT:
        case SHARENA_T_SHAPE:
            r->stack[r->depth] = id; /* depth < 255: fits */
            /* the container's own depth is counted by indent(); the stack
             * slot at depth is this container while its items render */
            if (type == SHARENA_T_MAP)
                rc = map_value(r, id, top);
            else if (type == SHARENA_T_VECTOR)
                rc = vector_value(r, id, top);
            else
                rc = struct_value(r, id, top, type == SHARENA_T_SHAPE);
            break;
        default:
            rc = SHARENA_ECORRUPT;
        }
    }
    if (rc < 0) {
        if (top)
            return rc;
        r->errors++;
        marker(r, "$error", sharena_errname(rc));
    }
    return 0;
}

int render_json(struct render *r, sharena_id id)
{
    return value(r, id, true);
}

int render_target_json(struct render *r, const struct target *t)
{
    if (t->in_entry) {
        stored_value(r, t->st, t->key, t->klen);
        return r->errors ? SHARENA_ECORRUPT : 0;
    }
    if (t->in_item) {
        number_value(r, t->number);
        return 0;
    }
    if (t->is_field && t->type != SHARENA_T_BYTES &&
        field_null(r->a, t->st, t->field)) {
        fputs("null", r->f);
        return 0;
    }
    if (!t->is_field || t->type == SHARENA_T_STRING)
        return value(r, t->id, true);
    if (t->type == SHARENA_T_BYTES) {
        uint64_t size;
        void *p;
        int rc = sharena_bytes_ptr(r->a, t->id, &p, &size);
        if (rc < 0)
            return rc;
        bytes_value(r, t->id, size);
        return r->errors ? SHARENA_ECORRUPT : 0;
    }
    if (t->type == SHARENA_T_NUMBER) {
        double d;
        int rc = sharena_struct_get_number(r->a, t->st, t->field, &d);
        if (rc == 0)
            json_put_number(r->f, d);
        return rc;
    }
    if (t->type == SHARENA_T_BOOL) {
        bool b;
        int rc = sharena_struct_get_bool(r->a, t->st, t->field, &b);
        if (rc == 0)
            fputs(b ? "true" : "false", r->f);
        return rc;
    }
    return SHARENA_ECORRUPT;
}

int render_target_bare(struct render *r, const struct target *t, bool oneline)
{
    int rc;
    if (t->in_entry && t->type != SHARENA_T_STRING)
        goto json; /* a number, boolean or null reads the same */
    if (t->in_entry) {
        char buf[64]; /* (16 bytes at most in an entry) */
        sharena_value v;
        rc = sharena_map_get_value(r->a, t->st, t->key, t->klen, buf,
                                   sizeof buf, &v);
        if (rc == SHARENA_ERANGE ||
            (rc == 0 && (v.id || v.type != SHARENA_T_STRING)))
            goto json; /* replaced meanwhile */
        if (rc < 0)
            return rc;
        if (oneline && (memchr(buf, '\n', v.len) || memchr(buf, '\r', v.len)))
            json_put_string(r->f, buf, v.len);
        else
            cli_put_text(r->f, buf, v.len);
        putc('\n', r->f);
        return 0;
    }
    if (t->is_field && t->type != SHARENA_T_BYTES &&
        field_null(r->a, t->st, t->field)) {
        fputs("null\n", r->f); /* as JSON says it */
        return 0;
    }
    switch (t->type) {
    case SHARENA_T_STRING: {
        char *s;
        size_t len;
        rc = sharena_string_dup(r->a, t->id, &s, &len);
        if (rc == 0) {
            if (oneline && (memchr(s, '\n', len) || memchr(s, '\r', len)))
                json_put_string(r->f, s, len);
            else
                cli_put_text(r->f, s, len);
            putc('\n', r->f);
            free(s);
        }
        return rc;
    }
    case SHARENA_T_NUMBER: {
        double d = t->number; /* t->in_item: read by path_resolve */
        rc = t->in_item ? 0
             : t->is_field
                 ? sharena_struct_get_number(r->a, t->st, t->field, &d)
                 : sharena_number_get(r->a, t->id, &d);
        if (rc == 0) {
            cli_put_number(r->f, d);
            putc('\n', r->f);
        }
        return rc;
    }
    case SHARENA_T_BOOL: {
        bool b;
        rc = t->is_field ? sharena_struct_get_bool(r->a, t->st, t->field, &b)
                         : sharena_bool_get(r->a, t->id, &b);
        if (rc == 0)
            fputs(b ? "true\n" : "false\n", r->f);
        return rc;
    }
    case SHARENA_T_BYTES: {
        void *p;
        uint64_t size;
        if (oneline)
            goto json;
        rc = sharena_bytes_ptr(r->a, t->id, &p, &size);
        if (rc < 0)
            return rc;
        /* raw bytes, copied out in chunks through the checked reader */
        unsigned char buf[65536];
        for (uint64_t off = 0; off < size && rc == 0;) {
            size_t n = size - off < sizeof buf ? (size_t)(size - off)
                                               : sizeof buf;
            rc = sharena_bytes_read(r->a, t->id, off, buf, n);
            if (rc == 0 && fwrite(buf, 1, n, r->f) != n)
                break;
            off += n;
        }
        return rc;
    }
    default:
    json:
        rc = render_target_json(r, t);
        if (rc == 0)
            putc('\n', r->f);
        return rc;
    }
}

int render_roots(struct render *r)
{
    sharena_id dir;
    int rc = sharena_roots(r->a, &dir);
    if (rc < 0)
        return rc;
    struct entry *e;
    size_t n;
    rc = collect(r, dir, &e, &n);
    if (rc < 0 && n == 0) {
        free_entries(e, n);
        return rc;
    }
    if (rc < 0)
        r->errors++;
    put_entries(r, dir, e, n);
    free_entries(e, n);
    return 0;
}

int render_finish(const struct cli *c, struct render *r)
{
    int ex = EXIT_OK;
    if (r->truncated) {
        cli_err(c,
                "output cut short: more than %u values or 256 levels "
                "(the arena may be damaged; see `sharena fsck`)",
                RENDER_BUDGET);
        ex = EXIT_FAIL;
    }
    if (r->cycles)
        /* not a failure: the marker says where the cycle closes; but JSON
         * is a tree, so say that the output is not the whole graph */
        cli_err(c,
                "note: %llu container(s) reach themselves; JSON has no "
                "cycles, so each is written {\"$cycle\": ID} where it "
                "is met again",
                (unsigned long long)r->cycles);
    if (r->errors) {
        cli_err(c,
                "%llu value(s) could not be read and are shown as "
                "{\"$error\": ...} (see `sharena fsck`)",
                (unsigned long long)r->errors);
        ex = EXIT_FAIL;
    }
    return ex;
}
