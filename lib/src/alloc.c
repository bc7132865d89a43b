/* alloc.c: the arena allocator, a TLSF (two-level segregated fit) over
 * offsets. Every call is O(1): two bitmap scans, no loop over blocks. The
 * arena lock (header.arena_lock) guards it together with the handle table.
 *
 * Blocks tile the heap exactly; each starts with struct sharena__block.
 * Crash safety: the physical chain (sizes) stays walkable after every single
 * 8-byte store, so sharena__alloc_rebuild() can recreate the free lists and
 * counters from a walk when a process died holding the arena lock.
 *
 * Hostile peers (docs/security.md) ignore the arena lock, so holding it
 * proves nothing about what the heap says: a block header is loaded once
 * (struct bhdr, through SHARENA__LD) and validated (block_load), and only
 * the loaded copy is used; a free-list link is validated the same way
 * before it is followed; bitmap bits are masked to the table's bounds
 * before they index it; and every walk over blocks stops after the number
 * of blocks that can fit in the heap, whatever the sizes say. */
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

/* A block header as loaded once from the arena. */
struct bhdr {
    uint64_t sf; /* size_flags */
    uint64_t pp; /* prev_phys */
};
static inline uint64_t bh_size(struct bhdr x)
{
    return x.sf & SHARENA__BLOCK_SIZE_MASK;
}
static inline bool bh_free(struct bhdr x)
{
    return x.sf & SHARENA__BLOCK_FREE;
}
static inline uint64_t bh_prev(struct bhdr x)
{
    return x.pp & SHARENA__BLOCK_OFF_MASK;
}
static inline uint32_t bh_tag(struct bhdr x)
{
    return (uint32_t)(x.sf >> SHARENA__BLOCK_TAG_SHIFT) |
           (uint32_t)((x.pp >> SHARENA__BLOCK_TAG_SHIFT) & 0xfff)
               << SHARENA__BLOCK_TAG_LO_BITS;
}

/* Most blocks a heap of this handle's size can hold: the bound of every
 * walk over blocks or along a free list. */
static inline uint64_t max_blocks(const sharena_arena *a)
{
    return (a->heap_end - a->heap_start) / SHARENA__MIN_BLOCK + 1;
}

/* Is @p b a plausible block position (inside the heap, aligned, with room
 * for a header and the free links)? Then the header there may be loaded. */
static inline bool block_pos_ok(const sharena_arena *a, uint64_t b)
{
    return b >= a->heap_start && b < a->heap_end && !(b & 15) &&
           a->heap_end - b >= SHARENA__MIN_BLOCK;
}

/* Load the header at @p b once into *out and check it: a block inside the
 * heap whose size is sane (>= MIN_BLOCK, a multiple of 16 by the mask, not
 * past the heap's end). Only *out is used afterwards. */
static bool block_load(const sharena_arena *a, uint64_t b, struct bhdr *out)
{
    if (!block_pos_ok(a, b))
        return false;
    struct sharena__block *h = blk(a, b);
    out->sf = SHARENA__LD(h->size_flags);
    out->pp = SHARENA__LD(h->prev_phys);
    uint64_t sz = bh_size(*out);
    return sz >= SHARENA__MIN_BLOCK && sz <= a->heap_end - b;
}

/* Size and free flag in one store; the tag's low bits (from the loaded
 * copy @p x) are kept. */
static inline void set_size(sharena_arena *a, uint64_t b, struct bhdr x,
                            uint64_t size, bool free)
{
    SHARENA__ST(blk(a, b)->size_flags,
                (x.sf & ~(SHARENA__BLOCK_SIZE_MASK | 15)) | size |
                    (free ? SHARENA__BLOCK_FREE : 0));
}
static inline void set_prev(sharena_arena *a, uint64_t b, struct bhdr x,
                            uint64_t prev)
{
    SHARENA__ST(blk(a, b)->prev_phys, (x.pp & ~SHARENA__BLOCK_OFF_MASK) | prev);
}
/* A whole new header: size, free flag, previous block, tag. */
static inline void set_header(sharena_arena *a, uint64_t b, uint64_t size,
                              bool free, uint64_t prev, uint32_t tag)
{
    struct sharena__block *h = blk(a, b);
    uint64_t lo = tag & ((1u << SHARENA__BLOCK_TAG_LO_BITS) - 1);
    uint64_t hi = tag >> SHARENA__BLOCK_TAG_LO_BITS;
    SHARENA__ST(h->prev_phys, prev | hi << SHARENA__BLOCK_TAG_SHIFT);
    SHARENA__ST(h->size_flags, size | (free ? SHARENA__BLOCK_FREE : 0) |
                                   lo << SHARENA__BLOCK_TAG_SHIFT);
}

SHARENA__SEQLOCK_READER
uint64_t sharena__payload_size(const sharena_arena *a, uint64_t off)
{
    if (SHARENA__UNLIKELY(off < a->heap_start + 16 || off >= a->heap_end ||
                          (off & 15)))
        return 0;
    uint64_t b = off - 16;
    uint64_t sf = SHARENA__LD(blk(a, b)->size_flags);
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

/* Put block @p b (header @p x, validated, free) at the head of its list.
 * The old head's back link is set only if it is a valid block. */
static void insert_free(sharena_arena *a, uint64_t b, struct bhdr x)
{
    struct sharena__header *h = sharena__hdr(a);
    unsigned fl, sl;
    mapping(bh_size(x), &fl, &sl);
    if (fl >= SHARENA__FL_COUNT || sl >= SHARENA__SL_COUNT)
        return; /* cannot happen for a size inside the heap */
    uint64_t head = SHARENA__LD(h->free_heads[fl][sl]);
    struct bhdr hx;
    if (head && !block_load(a, head, &hx))
        head = 0; /* a scribbled head: the list starts over */
    SHARENA__ST(links(a, b)->next, head);
    SHARENA__ST(links(a, b)->prev, 0);
    if (head)
        SHARENA__ST(links(a, head)->prev, b);
    SHARENA__ST(h->free_heads[fl][sl], b);
    SHARENA__ST(h->fl_bitmap, SHARENA__LD(h->fl_bitmap) | UINT64_C(1) << fl);
    SHARENA__ST(h->sl_bitmap[fl], SHARENA__LD(h->sl_bitmap[fl]) | 1u << sl);
}

/* Unlink free block @p b (header @p x, validated). Its links are loaded
 * once and must name free blocks; else SHARENA_ECORRUPT and nothing
 * changed. */
static int remove_free(sharena_arena *a, uint64_t b, struct bhdr x)
{
    struct sharena__header *h = sharena__hdr(a);
    unsigned fl, sl;
    mapping(bh_size(x), &fl, &sl);
    if (fl >= SHARENA__FL_COUNT || sl >= SHARENA__SL_COUNT)
        return SHARENA_ECORRUPT;
    uint64_t next = SHARENA__LD(links(a, b)->next);
    uint64_t prev = SHARENA__LD(links(a, b)->prev);
    struct bhdr nx, px;
    if ((next && (!block_load(a, next, &nx) || !bh_free(nx))) ||
        (prev && (!block_load(a, prev, &px) || !bh_free(px))) || next == b ||
        prev == b)
        return SHARENA_ECORRUPT;
    if (!prev && SHARENA__LD(h->free_heads[fl][sl]) != b)
        return SHARENA_ECORRUPT;
    if (next)
        SHARENA__ST(links(a, next)->prev, prev);
    if (prev) {
        SHARENA__ST(links(a, prev)->next, next);
    } else {
        SHARENA__ST(h->free_heads[fl][sl], next);
        if (!next) {
            uint32_t slm = SHARENA__LD(h->sl_bitmap[fl]) & ~(1u << sl);
            SHARENA__ST(h->sl_bitmap[fl], slm);
            if (!(slm & ((1u << SHARENA__SL_COUNT) - 1)))
                SHARENA__ST(h->fl_bitmap,
                            SHARENA__LD(h->fl_bitmap) & ~(UINT64_C(1) << fl));
        }
    }
    return 0;
}

void sharena__alloc_init(sharena_arena *a)
{
    struct sharena__header *h = sharena__hdr(a);
    uint64_t b = a->heap_start;
    set_header(a, b, a->heap_end - b, true, 0, 0);
    SHARENA__ST(h->used_bytes, 0);
    /* (a fresh arena: this process holds the only copy) */
    insert_free(a, b,
                (struct bhdr){(a->heap_end - b) | SHARENA__BLOCK_FREE, 0});
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

    /* bitmaps are masked to the table before they index it (a scribbled
     * one may have bits past either level's count) */
    const uint32_t sl_valid = (uint32_t)((UINT64_C(1) << SHARENA__SL_COUNT) -
                                         1);
    const uint64_t fl_valid = (UINT64_C(1) << SHARENA__FL_COUNT) - 1;
    uint32_t slmap = SHARENA__LD(h->sl_bitmap[fl]) & (~0u << sl) & sl_valid;
    if (!slmap) {
        uint64_t flmap = SHARENA__LD(h->fl_bitmap) &
                         (~UINT64_C(0) << (fl + 1)) & fl_valid;
        if (!flmap)
            return SHARENA_EFULL;
        fl = (unsigned)__builtin_ctzll(flmap);
        slmap = SHARENA__LD(h->sl_bitmap[fl]) & sl_valid;
        if (!slmap)
            return SHARENA_ECORRUPT;
    }
    sl = (unsigned)__builtin_ctz(slmap);
    uint64_t b = SHARENA__LD(h->free_heads[fl][sl]);
    struct bhdr x;
    if (!block_load(a, b, &x) || !bh_free(x) || bh_size(x) < need)
        return SHARENA_ECORRUPT;
    int r = remove_free(a, b, x);
    if (r)
        return r;

    uint64_t sz = bh_size(x);
    if (sz - need >= SHARENA__MIN_BLOCK) {
        uint64_t rem = b + need;
        set_header(a, rem, sz - need, true, b, 0);
        SHARENA__HOOK("alloc:split");
        set_size(a, b, x, need, true);
        uint64_t nx = rem + (sz - need);
        struct bhdr nh;
        if (nx < a->heap_end && block_load(a, nx, &nh))
            set_prev(a, nx, nh, rem);
        insert_free(a, rem,
                    (struct bhdr){(sz - need) | SHARENA__BLOCK_FREE, b});
        sz = need;
    }
    SHARENA__HOOK("alloc:unlinked");
    set_header(a, b, sz, false, bh_prev(x), tag); /* allocated */
    SHARENA__ST(h->used_bytes, SHARENA__LD(h->used_bytes) + sz);
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
        fallocate(a->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)lo,
                  (off_t)(hi - lo));
}

void sharena__free_locked(sharena_arena *a, uint64_t off)
{
    struct sharena__header *h = sharena__hdr(a);
    struct bhdr x;
    if (off < 16 || !block_load(a, off - 16, &x) || bh_free(x))
        return; /* not an allocated block: refuse to touch it */
    uint64_t b = off - 16;
    uint64_t sz = bh_size(x), prev = bh_prev(x);
    uint64_t freed = sz;
    uint64_t used = SHARENA__LD(h->used_bytes);
    SHARENA__ST(h->used_bytes, used - (sz < used ? sz : used));
    /* Free first, in one store: whatever happens next, a walk of the heap
     * sees this block free and can merge it (alloc_rebuild). */
    set_header(a, b, sz, true, prev, 0);
    x = (struct bhdr){sz | SHARENA__BLOCK_FREE, prev};

    uint64_t nx = b + sz;
    struct bhdr nh;
    if (nx < a->heap_end && block_load(a, nx, &nh) && bh_free(nh) &&
        remove_free(a, nx, nh) == 0) {
        sz += bh_size(nh);
        set_size(a, b, x, sz, true); /* swallow next: one store */
        SHARENA__HOOK("free:merged-next");
    }
    struct bhdr ph;
    if (b != a->heap_start && block_load(a, prev, &ph) && prev < b &&
        bh_size(ph) == b - prev && bh_free(ph) &&
        remove_free(a, prev, ph) == 0) {
        sz += bh_size(ph);
        set_size(a, prev, ph, sz, true);
        b = prev;
        prev = bh_prev(ph);
    }
    set_header(a, b, sz, true, prev, 0);
    nx = b + sz;
    if (nx < a->heap_end && block_load(a, nx, &nh))
        set_prev(a, nx, nh, b);
    insert_free(a, b, (struct bhdr){sz | SHARENA__BLOCK_FREE, prev});
    if (freed >= RELEASE_MIN)
        release_pages(a, b, sz);
}

int sharena__alloc(sharena_arena *a, uint64_t size, uint32_t tag, uint64_t *off)
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

/* Both passes walk at most max_blocks() blocks and load each header once:
 * a size that a peer flips to 0 (or anything else) between the passes ends
 * the walk with SHARENA_ECORRUPT, never a loop. */
int sharena__alloc_rebuild(sharena_arena *a)
{
    struct sharena__header *h = sharena__hdr(a);
    SHARENA__ST(h->fl_bitmap, 0);
    memset(h->sl_bitmap, 0, sizeof h->sl_bitmap);
    memset(h->free_heads, 0, sizeof h->free_heads);

    /* Pass 1: check sizes, merge runs of free blocks, fix prev links. */
    uint64_t b = a->heap_start, prev = 0, used = 0;
    struct bhdr px = {0, 0}; /* prev's header as this pass wrote it */
    uint64_t limit = max_blocks(a);
    while (b < a->heap_end && limit--) {
        struct bhdr x;
        if (!block_load(a, b, &x))
            return SHARENA_ECORRUPT;
        uint64_t sz = bh_size(x);
        if (prev && bh_free(px) && bh_free(x)) {
            uint64_t merged = bh_size(px) + sz;
            set_size(a, prev, px, merged, true);
            px.sf = (px.sf & ~(SHARENA__BLOCK_SIZE_MASK | 15)) | merged |
                    SHARENA__BLOCK_FREE;
        } else {
            set_prev(a, b, x, prev);
            prev = b;
            px = x;
            if (!bh_free(x))
                used += sz;
        }
        b += sz;
    }
    if (b != a->heap_end)
        return SHARENA_ECORRUPT;
    /* Pass 2: put free blocks on their lists. The headers are loaded
     * again (a peer may have changed them since), so checked again. */
    limit = max_blocks(a);
    for (b = a->heap_start; b < a->heap_end;) {
        struct bhdr x;
        if (!limit-- || !block_load(a, b, &x))
            return SHARENA_ECORRUPT;
        if (bh_free(x))
            insert_free(a, b, x);
        b += bh_size(x);
    }
    SHARENA__ST(h->used_bytes, used);
    return 0;
}

/* fsck: is the free-list index consistent with the heap? Every bitmap bit
 * must match a non-empty list, every list must hold only free blocks of its
 * size class, correctly back-linked, and every free block must be on its
 * list. Returns the number of inconsistencies found (0 when sound). Read
 * only; the arena lock is held by the caller. All lists together are
 * followed for at most max_blocks() steps (a sound heap has no more free
 * blocks than that): a cycle, or lists that share blocks, end there. */
uint64_t sharena__alloc_check(const sharena_arena *a)
{
    const struct sharena__header *h = sharena__hdr(a);
    uint64_t bad = 0, listed = 0, nfree = 0;
    uint64_t limit = max_blocks(a), budget = limit;
    uint64_t flbits = SHARENA__LD(h->fl_bitmap);
    for (unsigned fl = 0; fl < SHARENA__FL_COUNT; fl++) {
        bool fl_set = (flbits >> fl) & 1;
        bool any = false;
        uint32_t slbits = SHARENA__LD(h->sl_bitmap[fl]);
        if (SHARENA__SL_COUNT < 32 && (slbits >> SHARENA__SL_COUNT))
            bad++;
        for (unsigned sl = 0; sl < SHARENA__SL_COUNT; sl++) {
            uint64_t b = SHARENA__LD(h->free_heads[fl][sl]), prev = 0;
            bool sl_set = (slbits >> sl) & 1;
            if (sl_set != (b != 0))
                bad++;
            any |= b != 0;
            while (b) {
                if (!budget) {
                    bad++; /* a cycle */
                    break;
                }
                budget--;
                unsigned f2, s2;
                struct bhdr x;
                if (!block_load(a, b, &x) || !bh_free(x)) {
                    bad++;
                    break;
                }
                mapping(bh_size(x), &f2, &s2);
                if (f2 != fl || s2 != sl ||
                    SHARENA__LD(links(a, b)->prev) != prev)
                    bad++;
                listed++;
                prev = b;
                b = SHARENA__LD(links(a, b)->next);
            }
        }
        if (fl_set != any)
            bad++;
    }
    if (flbits >> SHARENA__FL_COUNT)
        bad++;
    uint64_t b = a->heap_start, n = limit;
    struct bhdr x;
    while (b < a->heap_end && n-- && block_load(a, b, &x)) {
        nfree += bh_free(x);
        b += bh_size(x);
    }
    if (listed != nfree)
        bad++;
    return bad;
}

/* Walk the heap for fsck and tests: calls @p fn for every block, with the
 * values of the header as loaded (once) and checked. */
int sharena__heap_walk(const sharena_arena *a,
                       int (*fn)(void *ctx, uint64_t off, uint64_t size,
                                 bool free, uint32_t tag),
                       void *ctx)
{
    uint64_t b = a->heap_start;
    uint64_t limit = max_blocks(a);
    while (b < a->heap_end && limit--) {
        struct bhdr x;
        if (!block_load(a, b, &x))
            return SHARENA_ECORRUPT;
        int r = fn(ctx, b + 16, bh_size(x) - 16, bh_free(x), bh_tag(x));
        if (r)
            return r;
        b += bh_size(x);
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
        uint64_t limit = max_blocks(a);
        while (b < a->heap_end && limit-- && n < 64) {
            struct bhdr x;
            if (!block_load(a, b, &x))
                return SHARENA_ECORRUPT;
            if (!bh_free(x) && garbage(a, b + 16, bh_tag(x), ctx))
                found[n++] = b + 16;
            b += bh_size(x);
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
        if (hi > lo &&
            fallocate(a->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      (off_t)lo, (off_t)(hi - lo)) == 0) {
            memset(s, 0, lo - off);
            memset(a->base + hi, 0, off + len - hi);
            return;
        }
    }
    memset(s, 0, len);
}
