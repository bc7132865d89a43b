/* string.c: UTF-8 strings. The text lives in its own block; setting a new
 * value allocates a new block and swaps the slot's word, so readers that
 * copy under the seqlock never see a torn string. */
#include "view.h"

#include <stdlib.h>

/* Strings up to this many bytes are set in one arena-locked section. */
#define STRING_SET_ONE_SECTION 4096

struct text {
    const char *s;
    size_t len;
};

static void string_init(sharena_arena *a, void *p, const void *ctx)
{
    (void)a;
    const struct text *t = ctx;
    struct sharena__string *str = p;
    str->len = t->len;
    if (t->len)
        memcpy(str->data, t->s, t->len);
    str->data[t->len] = 0;
}

static int string_block(sharena_arena *a, const char *s, size_t len,
                        uint32_t tag, uint64_t *off)
{
    int r = sharena__alloc(a, sizeof(struct sharena__string) + len + 1, tag,
                           off);
    if (r == 0) {
        struct text t = {s, len};
        string_init(a, a->base + *off, &t);
    }
    return r;
}

int sharena__string_new_obj(sharena_arena *a, const char *s, size_t len,
                            sharena_id *out)
{
    if (len && !s)
        return SHARENA_EINVAL;
    if (!sharena_utf8_valid(s, len))
        return SHARENA_EILSEQ;
    struct text t = {s, len};
    return sharena__obj_new(a, SHARENA_T_STRING,
                            sizeof(struct sharena__string) + len + 1, 0,
                            string_init, &t, out);
}

int sharena_string_new(sharena_arena *a, const char *s, size_t len,
                       sharena_id *out)
{
    if (!a || !out)
        return SHARENA_EINVAL;
    return sharena__string_new_obj(a, s, len, out);
}

SHARENA__SEQLOCK_READER
int sharena__text_copy_read(const sharena_arena *a, uint64_t word, void *ctx)
{
    struct sharena__text_copy *c = ctx;
    struct sharena__text_view t;
    if (!sharena__text_at(a, word, &t))
        return SHARENA_ECORRUPT;
    c->len = t.len;
    if (!c->buf || t.len >= c->cap)
        return SHARENA_ERANGE;
    sharena__rcopy(c->buf, t.data, t.len);
    c->buf[t.len] = 0;
    return 0;
}

/* Copy out under the seqlock. buf may be NULL with cap 0 (length only). */
SHARENA__SEQLOCK_READER
int sharena_string_get(const sharena_arena *a, sharena_id id, char *buf,
                       size_t cap, size_t *len)
{
    struct sharena__text_copy c = {buf, cap, 0};
    int r = sharena__read(a, id, SHARENA_T_STRING, sharena__text_copy_read, &c);
    if ((r == 0 || r == SHARENA_ERANGE) && len)
        *len = c.len;
    return r;
}

int sharena_string_len(const sharena_arena *a, sharena_id id, size_t *len)
{
    if (!len)
        return SHARENA_EINVAL;
    int r = sharena_string_get(a, id, NULL, 0, len);
    return r == SHARENA_ERANGE ? 0 : r;
}

int sharena_string_dup(const sharena_arena *a, sharena_id id, char **out,
                       size_t *len)
{
    if (!out)
        return SHARENA_EINVAL;
    char stack[256];
    size_t n = 0;
    int r = sharena_string_get(a, id, stack, sizeof stack, &n);
    for (int tries = 0; tries < 100; tries++) {
        if (r == 0) {
            char *p = malloc(n + 1);
            if (!p)
                return SHARENA_ENOMEM;
            memcpy(p, stack, n + 1);
            *out = p;
            if (len)
                *len = n;
            return 0;
        }
        if (r != SHARENA_ERANGE)
            return r;
        char *p = malloc(n + 1);
        if (!p)
            return SHARENA_ENOMEM;
        size_t m = 0;
        r = sharena_string_get(a, id, p, n + 1, &m);
        if (r == 0) {
            *out = p;
            if (len)
                *len = m;
            return 0;
        }
        free(p);
        n = m; /* it grew meanwhile: try again with the new size */
        r = SHARENA_ERANGE;
    }
    return SHARENA_EBUSY;
}

int sharena_string_set(sharena_arena *a, sharena_id id, const char *str,
                       size_t len)
{
    if (!a)
        return SHARENA_EINVAL;
    if (a->readonly)
        return SHARENA_EROFS;
    if (len && !str)
        return SHARENA_EINVAL;
    if (!sharena_utf8_valid(str, len))
        return SHARENA_EILSEQ;
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, id, SHARENA_T_STRING, &s);
    if (nested < 0)
        return nested;
    /* Allocate and free under the lock: a writer dying in between leaves
     * only blocks tagged with this string, which repair frees. Short text
     * is copied inside one arena-locked section (one allocator round trip
     * instead of two); long text is copied outside it, so that the
     * allocator is not held for the length of a big memcpy. */
    uint32_t tag = sharena__slot_index(a, s);
    uint64_t off, old = SHARENA__LD(s->word);
    int r;
    if (len <= STRING_SET_ONE_SECTION) {
        r = sharena__arena_lock(a);
        if (r == 0) {
            r = sharena__alloc_locked(
                a, sizeof(struct sharena__string) + len + 1, tag, &off);
            if (r == 0) {
                struct text t = {str, len};
                string_init(a, a->base + off, &t);
                __atomic_store_n(&s->word, off, __ATOMIC_RELEASE);
                SHARENA__HOOK("string:swapped");
                sharena__free_locked(a, old);
            }
            sharena__arena_unlock(a);
        }
    } else {
        r = string_block(a, str, len, tag, &off);
        if (r == 0) {
            __atomic_store_n(&s->word, off, __ATOMIC_RELEASE);
            SHARENA__HOOK("string:swapped");
            sharena__free(a, old);
        }
    }
    sharena__write_end(a, s, nested);
    return r;
}
