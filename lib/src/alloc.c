/* alloc.c: the arena allocator, a TLSF (two-level segregated fit) over
 * offsets. Every call is O(1): two bitmap scans, no loop over blocks. The
 * arena lock (header.arena_lock) guards it together with the handle table.
 *
 * Blocks tile the heap exactly; each starts with struct sharena__block.
 * Crash safety: the physical chain (sizes) stays walkable after every single
 * 8-byte store, so sharena__alloc_rebuild() can recreate the free lists and
 * counters from a walk when a process died holding the arena lock. Free list
 * links are checked before use; a bad one yields SHARENA_ECORRUPT. */
#include "internal.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>

static inline struct sharena__block *blk(const sharena_arena *a, uint64_t b)
{
    return (struct sharena__block *)(a->base + b);
}
static inline struct sharena__free_links *links(const sharena_arena *a,
                                                uint64_t b)
{
    return (struct sharena__free_links *)(a->base + b +
                                          sizeof(struct sharena__block));
}
static inline uint64_t bsize(const sharena_arena *a, uint64_t b)
{
    return blk(a, b)->size_flags & SHARENA__BLOCK_SIZE_MASK;
}
static inline bool bfree(const sharena_arena *a, uint64_t b)
{
    return blk(a, b)->size_flags & SHARENA__BLOCK_FREE;
}
static inline uint64_t bprev(const sharena_arena *a, uint64_t b)
{
    return blk(a, b)->prev_phys & SHARENA__BLOCK_OFF_MASK;
}
static inline uint32_t btag(const sharena_arena *a, uint64_t b)
{
    const struct sharena__block *h = blk(a, b);
    return (uint32_t)(h->size_flags >> SHARENA__BLOCK_TAG_SHIFT) |
           (uint32_t)((h->prev_phys >> SHARENA__BLOCK_TAG_SHIFT) & 0xfff)
               << SHARENA__BLOCK_TAG_LO_BITS;
}
/* Size and free flag in one store; the tag's low bits are kept. */
static inline void set_size(sharena_arena *a, uint64_t b, uint64_t size,
                            bool free)
{
    struct sharena__block *h = blk(a, b);
    h->size_flags = (h->size_flags & ~(SHARENA__BLOCK_SIZE_MASK | 15)) |
                    size | (free ? SHARENA__BLOCK_FREE : 0);
}
static inline void set_prev(sharena_arena *a, uint64_t b, uint64_t prev)
{
    struct sharena__block *h = blk(a, b);
    h->prev_phys = (h->prev_phys & ~SHARENA__BLOCK_OFF_MASK) | prev;
}
/* A whole new header: size, free flag, previous block, tag. */
static inline void set_header(sharena_arena *a, uint64_t b, uint64_t size,
                              bool free, uint64_t prev, uint32_t tag)
{
    struct sharena__block *h = blk(a, b);
    uint64_t lo = tag & ((1u << SHARENA__BLOCK_TAG_LO_BITS) - 1);
    uint64_t hi = tag >> SHARENA__BLOCK_TAG_LO_BITS;
    h->prev_phys = prev | hi << SHARENA__BLOCK_TAG_SHIFT;
    h->size_flags = size | (free ? SHARENA__BLOCK_FREE : 0) |
                    lo << SHARENA__BLOCK_TAG_SHIFT;
}

/* A block header at @p b with a sane size inside the heap. */
static bool block_ok(const sharena_arena *a, uint64_t b)
{
    if (b < a->heap_start || b >= a->heap_end || (b & 15) ||
        a->heap_end - b < SHARENA__MIN_BLOCK)
        return false;
    uint64_t sz = bsize(a, b);
    return sz >= SHARENA__MIN_BLOCK && sz <= a->heap_end - b;
}

SHARENA__SEQLOCK_READER
uint64_t sharena__payload_size(const sharena_arena *a, uint64_t off)
{
    if (SHARENA__UNLIKELY(off < a->heap_start + 16 || off >= a->heap_end ||
                          (off & 15)))
        return 0;
    uint64_t b = off - 16;
    uint64_t sf = __atomic_load_n(&blk(a, b)->size_flags, __ATOMIC_RELAXED);
    uint64_t sz = sf & SHARENA__BLOCK_SIZE_MASK;
    if (SHARENA__UNLIKELY((sf & SHARENA__BLOCK_FREE) ||
                          sz < SHARENA__MIN_BLOCK || sz > a->heap_end - b))
        return 0;
    return sz - 16;
}

static inline unsigned msb64(uint64_t x)
{
    return 63u - (unsigned)__builtin_clzll(x);
}

static void mapping(uint64_t size, unsigned *fl, unsigned *sl)
{
    if (size < (UINT64_C(1) << SHARENA__FL_SHIFT)) {
        *fl = 0;
        *sl = (unsigned)(size >> 4);
    } else {
        unsigned f = msb64(size);
        *sl = (unsigned)(size >> (f - SHARENA__SL_LOG2)) ^ SHARENA__SL_COUNT;
        *fl = f - SHARENA__FL_SHIFT + 1;
    }
}

static void insert_free(sharena_arena *a, uint64_t b)
{
    struct sharena__header *h = sharena__hdr(a);
    unsigned fl, sl;
    mapping(bsize(a, b), &fl, &sl);
    uint64_t head = h->free_heads[fl][sl];
    links(a, b)->next = head;
    links(a, b)->prev = 0;
    if (head && block_ok(a, head))
        links(a, head)->prev = b;
    h->free_heads[fl][sl] = b;
    h->fl_bitmap |= UINT64_C(1) << fl;
    h->sl_bitmap[fl] |= 1u << sl;
}

static int remove_free(sharena_arena *a, uint64_t b)
{
    struct sharena__header *h = sharena__hdr(a);
    unsigned fl, sl;
    mapping(bsize(a, b), &fl, &sl);
    if (fl >= SHARENA__FL_COUNT)
        return SHARENA_ECORRUPT;
    uint64_t next = links(a, b)->next, prev = links(a, b)->prev;
    if ((next && (!block_ok(a, next) || !bfree(a, next))) ||
        (prev && (!block_ok(a, prev) || !bfree(a, prev))))
        return SHARENA_ECORRUPT;
    if (next)
        links(a, next)->prev = prev;
    if (prev) {
        links(a, prev)->next = next;
    } else {
        if (h->free_heads[fl][sl] != b)
            return SHARENA_ECORRUPT;
        h->free_heads[fl][sl] = next;
        if (!next) {
            h->sl_bitmap[fl] &= ~(1u << sl);
            if (!h->sl_bitmap[fl])
                h->fl_bitmap &= ~(UINT64_C(1) << fl);
        }
    }
    return 0;
}

void sharena__alloc_init(sharena_arena *a)
{
    struct sharena__header *h = sharena__hdr(a);
    uint64_t b = a->heap_start;
    set_header(a, b, a->heap_end - b, true, 0, 0);
    h->used_bytes = 0;
    insert_free(a, b);
}

/* Round a request up to a block size and to the start of a class in which
 * every block is large enough. */
int sharena__alloc_locked(sharena_arena *a, uint64_t size, uint32_t tag,
                          uint64_t *off)
{
    struct sharena__header *h = sharena__hdr(a);
    if (size > a->heap_end - a->heap_start)
        return SHARENA_EFULL;
    uint64_t need = (size + 16 + 15) & ~(uint64_t)15;
    if (need < SHARENA__MIN_BLOCK)
        need = SHARENA__MIN_BLOCK;
    uint64_t search = need;
    if (search >= (UINT64_C(1) << SHARENA__FL_SHIFT))
        search += (UINT64_C(1) << (msb64(search) - SHARENA__SL_LOG2)) - 1;
    unsigned fl, sl;
    mapping(search, &fl, &sl);
    if (fl >= SHARENA__FL_COUNT)
        return SHARENA_EFULL;

    /* a scribbled bitmap may have bits past the second-level count */
    const uint32_t sl_valid = (uint32_t)((UINT64_C(1) << SHARENA__SL_COUNT) - 1);
    uint32_t slmap = h->sl_bitmap[fl] & (~0u << sl) & sl_valid;
    if (!slmap) {
        uint64_t flmap = h->fl_bitmap & (~UINT64_C(0) << (fl + 1));
        if (!flmap)
            return SHARENA_EFULL;
        fl = (unsigned)__builtin_ctzll(flmap);
        if (fl >= SHARENA__FL_COUNT)
            return SHARENA_ECORRUPT;
        slmap = h->sl_bitmap[fl] & sl_valid;
        if (!slmap)
            return SHARENA_ECORRUPT;
    }
    sl = (unsigned)__builtin_ctz(slmap);
    uint64_t b = h->free_heads[fl][sl];
    if (!block_ok(a, b) || !bfree(a, b) || bsize(a, b) < need)
        return SHARENA_ECORRUPT;
    int r = remove_free(a, b);
    if (r)
        return r;

    uint64_t sz = bsize(a, b);
    if (sz - need >= SHARENA__MIN_BLOCK) {
        uint64_t rem = b + need;
        set_header(a, rem, sz - need, true, b, 0);
        SHARENA__HOOK("alloc:split");
        set_size(a, b, need, true);
        uint64_t nx = rem + (sz - need);
        if (nx < a->heap_end)
            set_prev(a, nx, rem);
        insert_free(a, rem);
        sz = need;
    }
    SHARENA__HOOK("alloc:unlinked");
    set_header(a, b, sz, false, bprev(a, b), tag); /* allocated */
    h->used_bytes += sz;
    *off = b + 16;
    return 0;
}

/* Freed runs this large give their pages back to the system (the arena
 * stays sparse: a big arena with little data costs little memory). */
#define RELEASE_MIN (UINT64_C(1) << 20)

static void release_pages(sharena_arena *a, uint64_t b, uint64_t size)
{
    const uint64_t ps = 4096;
    /* keep the block header and free-list links in the first page */
    uint64_t lo = (b + 32 + ps - 1) & ~(ps - 1);
    uint64_t hi = (b + size) & ~(ps - 1);
    if (hi > lo && a->fd >= 0)
        fallocate(a->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  (off_t)lo, (off_t)(hi - lo));
}

void sharena__free_locked(sharena_arena *a, uint64_t off)
{
    struct sharena__header *h = sharena__hdr(a);
    if (!sharena__payload_size(a, off))
        return; /* not an allocated block: refuse to touch it */
    uint64_t b = off - 16;
    uint64_t sz = bsize(a, b);
    uint64_t freed = sz;
    h->used_bytes -= sz < h->used_bytes ? sz : h->used_bytes;
    /* Free first, in one store: whatever happens next, a walk of the heap
     * sees this block free and can merge it (alloc_rebuild). */
    set_header(a, b, sz, true, bprev(a, b), 0);

    uint64_t nx = b + sz;
    if (nx < a->heap_end && block_ok(a, nx) && bfree(a, nx) &&
        remove_free(a, nx) == 0) {
        sz += bsize(a, nx);
        set_size(a, b, sz, true); /* swallow next: one store */
        SHARENA__HOOK("free:merged-next");
    }
    uint64_t pv = bprev(a, b);
    if (b != a->heap_start && block_ok(a, pv) && pv + bsize(a, pv) == b &&
        bfree(a, pv) && remove_free(a, pv) == 0) {
        sz += bsize(a, pv);
        set_size(a, pv, sz, true);
        b = pv;
    }
    set_header(a, b, sz, true, bprev(a, b), 0);
    nx = b + sz;
    if (nx < a->heap_end && block_ok(a, nx))
        set_prev(a, nx, b);
    insert_free(a, b);
    if (freed >= RELEASE_MIN)
        release_pages(a, b, sz);
}

int sharena__alloc(sharena_arena *a, uint64_t size, uint32_t tag,
                   uint64_t *off)
{
    int r = sharena__arena_lock(a);
    if (r < 0)
        return r;
    r = sharena__alloc_locked(a, size, tag, off);
    sharena__arena_unlock(a);
    return r;
}

void sharena__free(sharena_arena *a, uint64_t off)
{
    if (!off || sharena__arena_lock(a) < 0)
        return;
    sharena__free_locked(a, off);
    sharena__arena_unlock(a);
}

int sharena__alloc_rebuild(sharena_arena *a)
{
    struct sharena__header *h = sharena__hdr(a);
    h->fl_bitmap = 0;
    memset(h->sl_bitmap, 0, sizeof h->sl_bitmap);
    memset(h->free_heads, 0, sizeof h->free_heads);

    /* Pass 1: check sizes, merge runs of free blocks, fix prev links. */
    uint64_t b = a->heap_start, prev = 0, used = 0;
    uint64_t limit = (a->heap_end - a->heap_start) / SHARENA__MIN_BLOCK + 1;
    while (b < a->heap_end && limit--) {
        if (!block_ok(a, b))
            return SHARENA_ECORRUPT;
        uint64_t sz = bsize(a, b);
        if (prev && bfree(a, prev) && bfree(a, b)) {
            set_size(a, prev, bsize(a, prev) + sz, true);
        } else {
            set_prev(a, b, prev);
            prev = b;
            if (!bfree(a, b))
                used += sz;
        }
        b += sz;
    }
    if (b != a->heap_end)
        return SHARENA_ECORRUPT;
    /* Pass 2: put free blocks on their lists. */
    for (b = a->heap_start; b < a->heap_end; b += bsize(a, b))
        if (bfree(a, b))
            insert_free(a, b);
    h->used_bytes = used;
    return 0;
}

/* fsck: is the free-list index consistent with the heap? Every bitmap bit
 * must match a non-empty list, every list must hold only free blocks of its
 * size class, correctly back-linked, and every free block must be on its
 * list. Returns the number of inconsistencies found (0 when sound). Read
 * only; the arena lock is held by the caller. */
uint64_t sharena__alloc_check(const sharena_arena *a)
{
    const struct sharena__header *h = sharena__hdr(a);
    uint64_t bad = 0, listed = 0, nfree = 0;
    uint64_t limit = (a->heap_end - a->heap_start) / SHARENA__MIN_BLOCK + 1;
    for (unsigned fl = 0; fl < SHARENA__FL_COUNT; fl++) {
        bool fl_set = (h->fl_bitmap >> fl) & 1;
        bool any = false;
        for (unsigned sl = 0; sl < SHARENA__SL_COUNT; sl++) {
            uint64_t b = h->free_heads[fl][sl], prev = 0, n = limit;
            bool sl_set = (h->sl_bitmap[fl] >> sl) & 1;
            if (sl_set != (b != 0))
                bad++;
            any |= b != 0;
            while (b && n--) {
                unsigned f2, s2;
                if (!block_ok(a, b) || !bfree(a, b)) {
                    bad++;
                    break;
                }
                mapping(bsize(a, b), &f2, &s2);
                if (f2 != fl || s2 != sl || links(a, b)->prev != prev)
                    bad++;
                listed++;
                prev = b;
                b = links(a, b)->next;
            }
            if (b && n == UINT64_MAX)
                bad++; /* a cycle */
        }
        if (fl_set != any)
            bad++;
    }
    if (h->sl_bitmap[0] >> SHARENA__SL_COUNT)
        bad++;
    for (unsigned fl = 0; fl < SHARENA__FL_COUNT; fl++)
        if (SHARENA__SL_COUNT < 32 && (h->sl_bitmap[fl] >> SHARENA__SL_COUNT))
            bad++;
    if (h->fl_bitmap >> SHARENA__FL_COUNT)
        bad++;
    uint64_t b = a->heap_start, n = limit;
    while (b < a->heap_end && n-- && block_ok(a, b)) {
        nfree += bfree(a, b);
        b += bsize(a, b);
    }
    if (listed != nfree)
        bad++;
    return bad;
}

/* Walk the heap for fsck and tests: calls @p fn for every block. */
int sharena__heap_walk(const sharena_arena *a,
                       int (*fn)(void *ctx, uint64_t off, uint64_t size,
                                 bool free, uint32_t tag),
                       void *ctx)
{
    uint64_t b = a->heap_start;
    uint64_t limit = (a->heap_end - a->heap_start) / SHARENA__MIN_BLOCK + 1;
    while (b < a->heap_end && limit--) {
        if (!block_ok(a, b))
            return SHARENA_ECORRUPT;
        int r = fn(ctx, b + 16, bsize(a, b) - 16, bfree(a, b), btag(a, b));
        if (r)
            return r;
        b += bsize(a, b);
    }
    return b == a->heap_end ? 0 : SHARENA_ECORRUPT;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t p = *(const uint64_t *)x, q = *(const uint64_t *)y;
    return p < q ? -1 : p > q;
}

int sharena__sweep_locked(sharena_arena *a,
                          bool (*garbage)(sharena_arena *a, uint64_t off,
                                          uint32_t tag, void *ctx),
                          void *ctx)
{
    uint64_t found[64];
    int total = 0;
    /* Collect, then free (freeing merges blocks under the walk); each pass
     * frees what it found, so the number of passes is bounded. */
    for (int pass = 0; pass < 1 << 16; pass++) {
        size_t n = 0;
        uint64_t b = a->heap_start;
        uint64_t limit = (a->heap_end - a->heap_start) / SHARENA__MIN_BLOCK + 1;
        while (b < a->heap_end && limit-- && n < 64) {
            if (!block_ok(a, b))
                return SHARENA_ECORRUPT;
            if (!bfree(a, b) && garbage(a, b + 16, btag(a, b), ctx))
                found[n++] = b + 16;
            b += bsize(a, b);
        }
        for (size_t i = 0; i < n; i++)
            sharena__free_locked(a, found[i]);
        total += (int)n;
        if (n < 64)
            break;
    }
    return total;
}

struct keep {
    uint32_t tag;
    const uint64_t *v;
    size_t n;
};

static bool tagged_not_kept(sharena_arena *a, uint64_t off, uint32_t tag,
                            void *ctx)
{
    (void)a;
    const struct keep *k = ctx;
    return tag == k->tag &&
           !(k->n && bsearch(&off, k->v, k->n, sizeof *k->v, cmp_u64));
}

int sharena__sweep_tag_locked(sharena_arena *a, uint32_t tag, uint64_t *keep,
                              size_t nkeep)
{
    if (!tag)
        return 0; /* the handle table's blocks are never swept */
    if (nkeep)
        qsort(keep, nkeep, sizeof *keep, cmp_u64);
    struct keep k = {tag, keep, nkeep};
    return sharena__sweep_locked(a, tagged_not_kept, &k);
}

/* Zero @p len bytes at @p p inside the mapping. Large page-aligned runs are
 * punched out of the memfd instead: they read back as zeros and give their
 * memory back to the system. */
void sharena__zero(sharena_arena *a, void *p, uint64_t len)
{
    uint8_t *s = p;
    const uint64_t ps = 4096;
    if (len >= 64 * ps && a->fd >= 0 && !a->readonly) {
        uint64_t off = (uint64_t)(s - a->base);
        uint64_t lo = (off + ps - 1) & ~(ps - 1);
        uint64_t hi = (off + len) & ~(ps - 1);
        if (hi > lo && fallocate(a->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                 (off_t)lo, (off_t)(hi - lo)) == 0) {
            memset(s, 0, lo - off);
            memset(a->base + hi, 0, off + len - hi);
            return;
        }
    }
    memset(s, 0, len);
}
