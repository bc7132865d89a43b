/* json.c: a small, strict JSON reader (RFC 8259) and the writers the CLI
 * prints with. No dependencies: the tool must build wherever libsharena
 * does. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define JSON_DEPTH_MAX 512

/* ---- reader ----------------------------------------------------------------
 */

struct jp {
    const char *s, *end;
    char *err;
    size_t errcap;
    unsigned depth;
};

__attribute__((format(printf, 2, 3))) static int jp_fail(struct jp *p,
                                                         const char *fmt, ...)
{
    if (p->err && p->errcap && !p->err[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err, p->errcap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void jp_ws(struct jp *p)
{
    while (p->s < p->end &&
           (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

static int jp_value(struct jp *p, struct jval *v);

/* Growable byte buffer for string contents. */
struct sbuf {
    char *p;
    size_t len, cap;
};

static int sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 32;
        while (nc < b->len + n + 1)
            nc *= 2;
        char *q = realloc(b->p, nc);
        if (!q)
            return -1;
        b->p = q;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char ch = s[i];
        v <<= 4;
        if (ch >= '0' && ch <= '9')
            v |= (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            v |= (unsigned)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F')
            v |= (unsigned)(ch - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t utf8_encode(unsigned cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Length of the valid UTF-8 sequence at s (0 if invalid). */
static size_t utf8_seq(const char *s, size_t avail)
{
    unsigned char c = (unsigned char)s[0];
    size_t n = c < 0x80             ? 1
               : (c & 0xe0) == 0xc0 ? 2
               : (c & 0xf0) == 0xe0 ? 3
               : (c & 0xf8) == 0xf0 ? 4
                                    : 0;
    if (!n || n > avail)
        return 0;
    return sharena_utf8_valid(s, n) ? n : 0;
}

static int jp_string(struct jp *p, char **out, size_t *olen)
{
    struct sbuf b = {0};
    p->s++; /* opening quote */
    for (;;) {
        if (p->s >= p->end) {
            free(b.p);
            return jp_fail(p, "unterminated string");
        }
        unsigned char ch = (unsigned char)*p->s;
        if (ch == '"') {
            p->s++;
            break;
        }
        if (ch < 0x20) {
            free(b.p);
            return jp_fail(p, "control character in a string");
        }
        if (ch == '\\') {
            if (p->end - p->s < 2) {
                free(b.p);
                return jp_fail(p, "unterminated escape");
            }
            char e = p->s[1], tmp[4];
            size_t n = 1;
            p->s += 2;
            switch (e) {
            case '"':
                tmp[0] = '"';
                break;
            case '\\':
                tmp[0] = '\\';
                break;
            case '/':
                tmp[0] = '/';
                break;
            case 'b':
                tmp[0] = '\b';
                break;
            case 'f':
                tmp[0] = '\f';
                break;
            case 'n':
                tmp[0] = '\n';
                break;
            case 'r':
                tmp[0] = '\r';
                break;
            case 't':
                tmp[0] = '\t';
                break;
            case 'u': {
                unsigned cp, lo;
                if (p->end - p->s < 4 || hex4(p->s, &cp) < 0) {
                    free(b.p);
                    return jp_fail(p, "bad \\u escape");
                }
                p->s += 4;
                if (cp >= 0xdc00 && cp <= 0xdfff) {
                    free(b.p);
                    return jp_fail(p, "lone low surrogate in \\u escape");
                }
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    if (p->end - p->s < 6 || p->s[0] != '\\' ||
                        p->s[1] != 'u' || hex4(p->s + 2, &lo) < 0 ||
                        lo < 0xdc00 || lo > 0xdfff) {
                        free(b.p);
                        return jp_fail(p, "lone high surrogate in \\u escape");
                    }
                    p->s += 6;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                n = utf8_encode(cp, tmp);
                break;
            }
            default:
                free(b.p);
                return jp_fail(p, "bad escape '\\%c'", e);
            }
            if (sb_put(&b, tmp, n) < 0) {
                free(b.p);
                return jp_fail(p, "out of memory");
            }
            continue;
        }
        size_t n = utf8_seq(p->s, (size_t)(p->end - p->s));
        if (!n) {
            free(b.p);
            return jp_fail(p, "invalid UTF-8 in a string");
        }
        if (sb_put(&b, p->s, n) < 0) {
            free(b.p);
            return jp_fail(p, "out of memory");
        }
        p->s += n;
    }
    if (!b.p && sb_put(&b, "", 0) < 0)
        return jp_fail(p, "out of memory");
    *out = b.p;
    *olen = b.len;
    return 0;
}

static int jp_number(struct jp *p, struct jval *v)
{
    const char *s = p->s, *q = s;
    if (q < p->end && *q == '-')
        q++;
    if (q >= p->end)
        return jp_fail(p, "bad number");
    if (*q == '0') {
        q++;
    } else if (*q >= '1' && *q <= '9') {
        while (q < p->end && *q >= '0' && *q <= '9')
            q++;
    } else {
        return jp_fail(p, "bad number");
    }
    if (q < p->end && *q == '.') {
        q++;
        if (q >= p->end || *q < '0' || *q > '9')
            return jp_fail(p, "bad number: digits must follow '.'");
        while (q < p->end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < p->end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < p->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= p->end || *q < '0' || *q > '9')
            return jp_fail(p, "bad number: exponent without digits");
        while (q < p->end && *q >= '0' && *q <= '9')
            q++;
    }
    size_t n = (size_t)(q - s);
    char buf[512];
    if (n >= sizeof buf)
        return jp_fail(p, "number too long");
    memcpy(buf, s, n);
    buf[n] = 0;
    errno = 0;
    double d = strtod(buf, NULL);
    if (errno == ERANGE && isinf(d))
        return jp_fail(p, "number out of range: %s", buf);
    v->t = J_NUM;
    v->n = d;
    p->s = q;
    return 0;
}

static int jp_word(struct jp *p, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(p->end - p->s) < n || memcmp(p->s, w, n) != 0)
        return -1;
    p->s += n;
    return 0;
}

static int jp_push(struct jval *v, size_t *cap, bool obj)
{
    if (v->len < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 8;
    struct jval *it = realloc(v->items, nc * sizeof *it);
    if (!it)
        return -1;
    v->items = it;
    if (obj) {
        char **k = realloc(v->keys, nc * sizeof *k);
        if (!k)
            return -1;
        v->keys = k;
        size_t *kl = realloc(v->klens, nc * sizeof *kl);
        if (!kl)
            return -1;
        v->klens = kl;
    }
    *cap = nc;
    return 0;
}

static int jp_container(struct jp *p, struct jval *v, bool obj)
{
    if (++p->depth > JSON_DEPTH_MAX)
        return jp_fail(p, "nesting deeper than %d levels", JSON_DEPTH_MAX);
    v->t = obj ? J_OBJ : J_ARR;
    char close = obj ? '}' : ']';
    size_t cap = 0;
    p->s++;
    jp_ws(p);
    if (p->s < p->end && *p->s == close) {
        p->s++;
        p->depth--;
        return 0;
    }
    for (;;) {
        jp_ws(p);
        if (jp_push(v, &cap, obj) < 0)
            return jp_fail(p, "out of memory");
        if (obj) {
            if (p->s >= p->end || *p->s != '"')
                return jp_fail(p, "expected a \"key\" in an object");
            if (jp_string(p, &v->keys[v->len], &v->klens[v->len]) < 0)
                return -1;
            jp_ws(p);
            if (p->s >= p->end || *p->s != ':') {
                free(v->keys[v->len]);
                return jp_fail(p, "expected ':' after a key");
            }
            p->s++;
        }
        memset(&v->items[v->len], 0, sizeof v->items[0]);
        if (jp_value(p, &v->items[v->len]) < 0) {
            json_free(&v->items[v->len]);
            if (obj)
                free(v->keys[v->len]);
            return -1;
        }
        v->len++;
        jp_ws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        if (p->s < p->end && *p->s == close) {
            p->s++;
            break;
        }
        return jp_fail(p, "expected ',' or '%c'", close);
    }
    p->depth--;
    return 0;
}

static int jp_value(struct jp *p, struct jval *v)
{
    jp_ws(p);
    if (p->s >= p->end)
        return jp_fail(p, "unexpected end of input");
    switch (*p->s) {
    case '{':
        return jp_container(p, v, true);
    case '[':
        return jp_container(p, v, false);
    case '"':
        v->t = J_STR;
        return jp_string(p, &v->s, &v->slen);
    case 't':
        if (jp_word(p, "true") == 0) {
            v->t = J_BOOL;
            v->b = true;
            return 0;
        }
        break;
    case 'f':
        if (jp_word(p, "false") == 0) {
            v->t = J_BOOL;
            v->b = false;
            return 0;
        }
        break;
    case 'n':
        if (jp_word(p, "null") == 0) {
            v->t = J_NULL;
            return 0;
        }
        break;
    default:
        if (*p->s == '-' || (*p->s >= '0' && *p->s <= '9'))
            return jp_number(p, v);
    }
    return jp_fail(p, "unexpected character '%c'", *p->s);
}

int json_parse(const char *text, size_t len, struct jval *out, char *err,
               size_t errcap)
{
    struct jp p = {.s = text, .end = text + len, .err = err, .errcap = errcap};
    if (err && errcap)
        err[0] = 0;
    memset(out, 0, sizeof *out);
    int r = jp_value(&p, out);
    if (r == 0) {
        jp_ws(&p);
        if (p.s != p.end)
            r = jp_fail(&p, "trailing characters after the value");
    }
    if (r < 0) {
        json_free(out);
        /* where: line and column (in bytes) of the failure */
        unsigned line = 1, col = 1;
        for (const char *q = text; q < p.s && q < p.end; q++, col++)
            if (*q == '\n') {
                line++;
                col = 0;
            }
        size_t n = err && errcap ? strlen(err) : 0;
        if (err && n + 1 < errcap)
            snprintf(err + n, errcap - n, " (line %u, column %u)", line, col);
        return -1;
    }
    return 0;
}

void json_free(struct jval *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->len; i++) {
        json_free(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->klens);
    free(v->s);
    memset(v, 0, sizeof *v);
}

/* ---- writers ---------------------------------------------------------------
 */

void json_put_string(FILE *f, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    putc('"', f);
    size_t i = 0;
    while (i < len) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x80) {
            switch (ch) {
            case '"':
                fputs("\\\"", f);
                break;
            case '\\':
                fputs("\\\\", f);
                break;
            case '\n':
                fputs("\\n", f);
                break;
            case '\r':
                fputs("\\r", f);
                break;
            case '\t':
                fputs("\\t", f);
                break;
            case '\b':
                fputs("\\b", f);
                break;
            case '\f':
                fputs("\\f", f);
                break;
            default:
                if (ch < 0x20 || ch == 0x7f) {
                    fputs("\\u00", f);
                    putc(hex[ch >> 4], f);
                    putc(hex[ch & 15], f);
                } else {
                    putc(ch, f);
                }
            }
            i++;
            continue;
        }
        size_t n = utf8_seq(s + i, len - i);
        if (n) {
            fwrite(s + i, 1, n, f);
            i += n;
        } else {
            fputs("\\ufffd", f);
            i++;
        }
    }
    putc('"', f);
}

void cli_put_text(FILE *f, const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_seq(s + i, len - i);
        if (n) {
            fwrite(s + i, 1, n, f);
            i += n;
        } else {
            fputs("\xef\xbf\xbd", f);
            i++;
        }
    }
}

static void fmt_number(double v, char *buf, size_t cap)
{
    /* The shortest of %.15g..%.17g that reads back exactly. */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

void json_put_number(FILE *f, double v)
{
    if (!isfinite(v)) {
        fputs("null", f);
        return;
    }
    char buf[40];
    fmt_number(v, buf, sizeof buf);
    fputs(buf, f);
}

void cli_put_number(FILE *f, double v)
{
    if (isnan(v)) {
        fputs("NaN", f);
        return;
    }
    if (isinf(v)) {
        fputs(v < 0 ? "-Infinity" : "Infinity", f);
        return;
    }
    json_put_number(f, v);
}

static const char b64tab[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void json_put_base64_part(FILE *f, const unsigned char *p, size_t len)
{
    const char *tab = b64tab;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t w = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        putc(tab[w >> 18], f);
        putc(tab[(w >> 12) & 63], f);
        putc(tab[(w >> 6) & 63], f);
        putc(tab[w & 63], f);
    }
    if (len - i == 1) {
        uint32_t w = (uint32_t)p[i] << 16;
        putc(tab[w >> 18], f);
        putc(tab[(w >> 12) & 63], f);
        fputs("==", f);
    } else if (len - i == 2) {
        uint32_t w = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        putc(tab[w >> 18], f);
        putc(tab[(w >> 12) & 63], f);
        putc(tab[(w >> 6) & 63], f);
        putc('=', f);
    }
}

void json_put_base64(FILE *f, const unsigned char *p, size_t len)
{
    putc('"', f);
    json_put_base64_part(f, p, len);
    putc('"', f);
}

static int b64val(char ch)
{
    const char *q = ch ? strchr(b64tab, ch) : NULL;
    return q ? (int)(q - b64tab) : -1;
}

int json_base64_decode(const char *s, size_t len, unsigned char **out,
                       size_t *olen)
{
    *out = NULL;
    *olen = 0;
    if (len % 4)
        return -1;
    size_t pad = len && s[len - 1] == '=' ? (s[len - 2] == '=' ? 2 : 1) : 0;
    unsigned char *o = malloc(len / 4 * 3 + 1);
    if (!o)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        bool last = i + 4 == len;
        for (int k = 0; k < 4; k++) {
            bool padded = last && k >= 4 - (int)pad;
            v[k] = padded ? 0 : b64val(s[i + (size_t)k]);
            if (v[k] < 0 || (padded && s[i + (size_t)k] != '=')) {
                free(o);
                return -1;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
                     (uint32_t)v[2] << 6 | (uint32_t)v[3];
        /* the bits padding hides must be zero: one text per value */
        if ((last && pad == 1 && (w & 0xff)) ||
            (last && pad == 2 && (w & 0xffff))) {
            free(o);
            return -1;
        }
        o[n++] = (unsigned char)(w >> 16);
        if (!(last && pad == 2))
            o[n++] = (unsigned char)(w >> 8);
        if (!(last && pad))
            o[n++] = (unsigned char)w;
    }
    *out = o;
    *olen = n;
    return 0;
}

void json_put_value(FILE *f, const struct jval *v)
{
    switch (v->t) {
    case J_NULL:
        fputs("null", f);
        break;
    case J_BOOL:
        fputs(v->b ? "true" : "false", f);
        break;
    case J_NUM:
        json_put_number(f, v->n);
        break;
    case J_STR:
        json_put_string(f, v->s, v->slen);
        break;
    case J_ARR:
    case J_OBJ:
        putc(v->t == J_ARR ? '[' : '{', f);
        for (size_t i = 0; i < v->len; i++) {
            if (i)
                putc(',', f);
            if (v->t == J_OBJ) {
                json_put_string(f, v->keys[i], v->klens[i]);
                putc(':', f);
            }
            json_put_value(f, &v->items[i]);
        }
        putc(v->t == J_ARR ? ']' : '}', f);
        break;
    }
}
