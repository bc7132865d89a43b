/* bytes.c: fixed-size raw buffers, exposed zero-copy. */
#include "view.h"

static void bytes_init(sharena_arena *a, void *p, const void *ctx)
{
    struct sharena__bytes *b = p;
    uint64_t size = *(const uint64_t *)ctx;
    b->size = size;
    b->reserved = 0;
    sharena__zero(a, b->data, size);
}

int sharena_bytes_new(sharena_arena *a, uint64_t size, sharena_id *out)
{
    if (!a || !out)
        return SHARENA_EINVAL;
    if (size > a->heap_end - a->heap_start)
        return SHARENA_EFULL;
    return sharena__obj_new(a, SHARENA_T_BYTES,
                            sizeof(struct sharena__bytes) + size, 0, bytes_init,
                            &size, out);
}

/* The buffer of @p id (slot in *sp): its size is loaded once and checked
 * against its block, so [data, data + size) lies in the mapping whatever a
 * peer writes later; every caller uses this view's size, never the field
 * again. No seqlock: the block never moves, and a read of the raw data does
 * not wait for writers (nor do writes through sharena_bytes_ptr's pointer);
 * a drop racing the read makes it ESTALE (sharena__gen_moved). */
static int bytes_at(const sharena_arena *a, sharena_id id,
                    struct sharena__bytes_view *out, struct sharena__slot **sp)
{
    struct sharena__slot *s;
    int r = sharena__resolve(a, id, SHARENA_T_BYTES, &s);
    if (r < 0)
        return r;
    if (SHARENA__UNLIKELY(!sharena__bytes_at(
            a, __atomic_load_n(&s->word, __ATOMIC_ACQUIRE), out)))
        return sharena__corrupt_or_stale(s, id);
    *sp = s;
    return 0;
}

int sharena_bytes_ptr(const sharena_arena *a, sharena_id id, void **ptr,
                      uint64_t *size)
{
    struct sharena__bytes_view b;
    struct sharena__slot *s;
    int r = bytes_at(a, id, &b, &s);
    if (r < 0)
        return r;
    if (SHARENA__UNLIKELY(sharena__gen_moved(s, id)))
        return SHARENA_ESTALE;
    if (ptr)
        *ptr = b.data;
    if (size)
        *size = b.size;
    return 0;
}

int sharena_bytes_read(const sharena_arena *a, sharena_id id, uint64_t offset,
                       void *dst, size_t len)
{
    struct sharena__bytes_view b;
    struct sharena__slot *s;
    int r = bytes_at(a, id, &b, &s);
    if (r < 0)
        return r;
    if (offset > b.size || len > b.size - offset)
        return sharena__gen_moved(s, id) ? SHARENA_ESTALE : SHARENA_ERANGE;
    if (len && !dst)
        return SHARENA_EINVAL;
    sharena__rcopy(dst, b.data + offset, len);
    return SHARENA__UNLIKELY(sharena__gen_moved(s, id)) ? SHARENA_ESTALE : 0;
}

int sharena_bytes_write(sharena_arena *a, sharena_id id, uint64_t offset,
                        const void *src, size_t len)
{
    if (len && !src)
        return SHARENA_EINVAL;
    struct sharena__slot *s;
    int nested = sharena__write_begin(a, id, SHARENA_T_BYTES, &s);
    if (nested < 0)
        return nested;
    struct sharena__bytes_view b;
    int r = bytes_at(a, id, &b, &s);
    if (r == 0 && (offset > b.size || len > b.size - offset))
        r = SHARENA_ERANGE;
    if (r == 0)
        memcpy(b.data + offset, src, len);
    sharena__write_end(a, s, nested);
    return r;
}
