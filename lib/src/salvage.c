/* salvage.c: rebuild an arena's heap from its object graph (fsck --repair,
 * after scribbling broke what the allocator relies on).
 *
 * The object graph is the ground truth: the handle-table chunks named by
 * the header (or cached by this process), every live slot's payload, and
 * every map's key blocks. Each payload's size follows from its content (a
 * string's length, a table's capacity), never from the block headers, which
 * may be garbage. Objects whose content is implausible, or whose blocks
 * overlap another's, are dropped; then the heap is re-tiled: one allocated
 * block per reference, free blocks in the gaps, and the free lists rebuilt.
 * Data that a scribbler destroyed stays lost; what survives is consistent.
 *
 * A peer may go on changing the arena while this runs (docs/security.md):
 * every field is loaded once (SHARENA__LD) and validated, the slot count
 * is one validated local that bounds every loop over slots (at most the
 * slots the table's chunks and the heap can hold), a map's capacity comes
 * from the size its content check accepted, and a key is cleared only
 * after its map's table is checked again. */
#include "view.h"

#include <stdio.h>
#include <stdlib.h>

struct sref {
    uint64_t off;  /* payload offset */
    uint64_t need; /* payload bytes its content needs */
    uint32_t tag;  /* owning slot (0: handle table) */
    uint32_t kind; /* CHUNK, OBJECT, KEY */
    uint64_t aux;  /* OBJECT: slot; KEY: slot << 32 | entry */
};

/* EXTRA: a block tagged with a busy slot that nothing references (yet): a
 * table, string or key its live writer is building. */
enum { CHUNK, OBJECT, KEY, EXTRA };

struct salvage {
    sharena_arena *a;
    struct sref *v;
    size_t n, cap;
    uint64_t fixed;
    unsigned lost_chunk; /* first handle-table chunk given up in step 3 */
    uint64_t *busy;      /* bitmap of slots a live owner has locked */
    uint64_t nslots;
    uint64_t slots; /* slot count as validated in step 1: bounds loops */
    bool oom;
};

/* A slot whose lock a live client holds is in the middle of its writer's
 * work: salvage keeps its blocks and never kills, clears or rehashes it. */
static bool busy(const struct salvage *sv, uint64_t index)
{
    return sv->busy && index < sv->nslots &&
           (sv->busy[index / 64] >> (index % 64) & 1);
}

static void add(struct salvage *sv, struct sref r)
{
    if (sv->n == sv->cap) {
        size_t nc = sv->cap ? sv->cap * 2 : 1024;
        struct sref *p = realloc(sv->v, nc * sizeof *p);
        if (!p) {
            sv->oom = true;
            return;
        }
        sv->v = p;
        sv->cap = nc;
    }
    sv->v[sv->n++] = r;
}

/* Is [off, off+need) inside the heap with room for a header before it? */
static bool fits(const sharena_arena *a, uint64_t off, uint64_t need)
{
    return off >= a->heap_start + 16 && !(off & 15) && off < a->heap_end &&
           need <= a->heap_end - off;
}

/* Bytes the payload at @p off needs, judged from its content; 0 if the
 * content is implausible. */
static uint64_t content_need(const sharena_arena *a, int type, uint64_t off)
{
    if (!fits(a, off, 16))
        return 0;
    uint64_t *p = (uint64_t *)(a->base + off);
    uint64_t room = a->heap_end - off, n;
    switch (type) {
    case SHARENA_T_STRING:
        n = SHARENA__LD(p[0]);
        return n < room - 9 ? 8 + n + 1 : 0;
    case SHARENA_T_BYTES:
        n = SHARENA__LD(p[0]);
        return n <= room - 16 ? 16 + n : 0;
    case SHARENA_T_MAP:
        n = SHARENA__LD(p[1]);
        if (n < SHARENA__MAP_MIN_CAP || n > SHARENA__MAP_MAX_CAP ||
            (n & (n - 1)) || SHARENA__MAP_BYTES(n) > room)
            return 0;
        return SHARENA__MAP_BYTES(n);
    case SHARENA_T_VECTOR:
        n = SHARENA__LD(p[1]);
        if (n > (room - 16) / 8 || SHARENA__LD(p[0]) > n)
            return 0;
        return 16 + n * 8;
    case SHARENA_T_SHAPE:
        n = SHARENA__LD(p[0]);
        return n <= SHARENA_FIELDS_MAX && 16 + n * 72 <= room ? 16 + n * 72 : 0;
    case SHARENA_T_STRUCT:
        n = SHARENA__LD(p[1]);
        return n <= SHARENA_FIELDS_MAX && SHARENA__STRUCT_SIZE(n) <= room
                   ? SHARENA__STRUCT_SIZE(n)
                   : 0;
    default:
        return 0;
    }
}

static uint64_t key_need(const sharena_arena *a, uint64_t off)
{
    if (!fits(a, off, 16))
        return 0;
    uint64_t n = SHARENA__LD(*(uint64_t *)(a->base + off));
    return n < a->heap_end - off - 9 ? 8 + n + 1 : 0;
}

static void kill_slot(struct salvage *sv, uint64_t index)
{
    struct sharena__slot *s = sharena__slot_at(sv->a, index);
    if (s && SHARENA__LD(s->type) && !busy(sv, index)) {
        sharena__obj_kill(s);
        __atomic_store_n(&s->lock, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&s->seq,
                         __atomic_load_n(&s->seq, __ATOMIC_RELAXED) & ~1u,
                         __ATOMIC_RELEASE);
        sv->fixed++;
    }
}

/* Mark entry @p e of the map in slot @p index unusable (its key block is
 * lost; the map's repair in step 5 removes it): its table is checked again
 * (the word is loaded once and must hold a table with that entry). */
static void key_clear(struct salvage *sv, uint64_t index, uint64_t e)
{
    struct sharena__slot *s = sharena__slot_at(sv->a, index);
    if (!s || SHARENA__LD(s->type) != SHARENA_T_MAP)
        return;
    struct sharena__map_view t;
    if (!sharena__map_at(sv->a, SHARENA__LD(s->word), &t) || e >= t.cap)
        return;
    SHARENA__ST(t.e[e].key.off, 0);
    sv->fixed++;
}

static void drop_ref(struct salvage *sv, const struct sref *r)
{
    if (r->kind == OBJECT) {
        kill_slot(sv, r->aux);
    } else if (r->kind == KEY && !busy(sv, r->aux >> 32)) {
        key_clear(sv, r->aux >> 32, r->aux & 0xffffffffu);
    } else if (r->kind == CHUNK && r->aux < sv->lost_chunk) {
        sv->lost_chunk = (unsigned)r->aux; /* released after step 3 */
    }
}

/* Which slots live owners hold (a bitmap; NULL when there is none, or no
 * memory: then salvage treats every object as idle, as it always did). */
static void find_busy(struct salvage *sv)
{
    sharena_arena *a = sv->a;
    uint64_t n = sv->slots;
    struct sharena__owner_cache owners = {0};
    for (uint64_t i = 1; i < n; i++) {
        struct sharena__slot *s = sharena__slot_at(a, i);
        if (!s || !sharena__owner_live(
                      a, __atomic_load_n(&s->lock, __ATOMIC_ACQUIRE), &owners))
            continue;
        if (!sv->busy) {
            sv->busy = calloc((n + 63) / 64, sizeof *sv->busy);
            if (!sv->busy)
                return;
            sv->nslots = n;
        }
        sv->busy[i / 64] |= UINT64_C(1) << (i % 64);
    }
}

static int add_extra(void *ctx, uint64_t off, uint64_t size, bool free,
                     uint32_t tag)
{
    struct salvage *sv = ctx;
    if (!free && tag && busy(sv, tag))
        add(sv, (struct sref){off, size, tag, EXTRA, 0});
    return 0;
}

/* Give up handle-table chunks @p from and later (no gaps in the table):
 * clear them in the header and this process's cache, forget their refs
 * among the first @p *kept, and shrink the slot count to what is left.
 * The objects in their slots are lost; their blocks become leaks that the
 * repairing pass frees. */
static void lose_chunks(struct salvage *sv, unsigned from, size_t *kept)
{
    struct sharena__header *h = sharena__hdr(sv->a);
    for (unsigned k = from; k < SHARENA__SLOT_CHUNKS; k++) {
        if (SHARENA__LD(h->slot_chunks[k]))
            sv->fixed++;
        SHARENA__ST(h->slot_chunks[k], 0);
        sv->a->chunks[k] = NULL;
    }
    size_t j = 0;
    for (size_t i = 0; i < *kept; i++)
        if (sv->v[i].kind != CHUNK || sv->v[i].aux < from)
            sv->v[j++] = sv->v[i];
    *kept = j;
    uint64_t covered =
        from ? (uint64_t)SHARENA__SLOT_CHUNK0 * ((UINT64_C(1) << from) - 1) : 1;
    if (sv->slots > covered)
        sv->slots = covered;
    SHARENA__ST(h->slot_count, sv->slots);
}

static int by_off(const void *x, const void *y)
{
    const struct sref *p = x, *q = y;
    if (p->off != q->off)
        return p->off < q->off ? -1 : 1;
    return p->kind < q->kind ? -1 : p->kind > q->kind; /* chunks first */
}

static uint64_t block_size(uint64_t need)
{
    uint64_t b = (need + 16 + 15) & ~(uint64_t)15;
    return b < SHARENA__MIN_BLOCK ? SHARENA__MIN_BLOCK : b;
}

/* Header writes for the re-tiling (alloc.c's helpers are private there). */
static void put_block(sharena_arena *a, uint64_t b, uint64_t size, bool free,
                      uint64_t prev, uint32_t tag)
{
    struct sharena__block *h = (void *)(a->base + b);
    uint64_t lo = tag & ((1u << SHARENA__BLOCK_TAG_LO_BITS) - 1);
    uint64_t hi = tag >> SHARENA__BLOCK_TAG_LO_BITS;
    SHARENA__ST(h->prev_phys, prev | hi << SHARENA__BLOCK_TAG_SHIFT);
    SHARENA__ST(h->size_flags, size | (free ? SHARENA__BLOCK_FREE : 0) |
                                   lo << SHARENA__BLOCK_TAG_SHIFT);
}


int sharena__salvage(sharena_arena *a, uint64_t *fixed)
{
    struct sharena__header *h = sharena__hdr(a);
    struct salvage sv = {.a = a, .lost_chunk = SHARENA__SLOT_CHUNKS};

    /* 1. The handle table: trust this process's cache over the header
     * (a scribbled offset does not move a chunk), unless a repair since
     * has made that cache stale. */
    sharena__chunks_sync(a);
    uint64_t covered = 1;
    uint64_t kept_off[SHARENA__SLOT_CHUNKS] = {0}; /* as decided here */
    bool gap = false;
    for (unsigned k = 0; k < SHARENA__SLOT_CHUNKS; k++) {
        uint64_t bytes = ((uint64_t)SHARENA__SLOT_CHUNK0 << k) *
                         sizeof(struct sharena__slot);
        uint64_t off = SHARENA__LD(h->slot_chunks[k]);
        if (a->chunks[k]) {
            uint64_t cached = (uint64_t)((uint8_t *)a->chunks[k] - a->base);
            if (off != cached) {
                off = cached;
                SHARENA__ST(h->slot_chunks[k], off);
                sv.fixed++;
            }
        }
        if (!off)
            gap = true;
        /* a chunk overlapping an earlier one: one of the two offsets is
         * scribbled; the earlier (smaller) chunks hold more slots in use */
        bool overlap = false;
        for (unsigned j = 0; off && j < k && !overlap; j++) {
            uint64_t o = kept_off[j],
                     ob = ((uint64_t)SHARENA__SLOT_CHUNK0 << j) *
                          sizeof(struct sharena__slot);
            overlap = o && off - 16 < o + ob && o - 16 < off + bytes;
        }
        if (off && (gap || overlap || !fits(a, off, bytes))) {
            SHARENA__ST(h->slot_chunks[k], 0); /* its slots are lost */
            a->chunks[k] = NULL;
            gap = true;
            sv.fixed++;
            continue;
        }
        if (!off)
            continue;
        kept_off[k] = off;
        add(&sv, (struct sref){off, bytes, 0, CHUNK, k});
        covered = (uint64_t)SHARENA__SLOT_CHUNK0 * ((UINT64_C(2) << k) - 1);
    }
    /* one validated slot count bounds every loop over slots below */
    uint64_t max = (a->heap_end - a->heap_start) / sizeof(struct sharena__slot);
    if (covered > max)
        covered = max;
    sv.slots = SHARENA__LD(h->slot_count);
    if (sv.slots < 1 || sv.slots > covered) {
        sv.slots = sv.slots < 1 ? 1 : covered;
        SHARENA__ST(h->slot_count, sv.slots);
        sv.fixed++;
    }

    /* 2. Live objects and map keys, sized by their content; and the blocks
     * of objects that live writers hold, as far as the block chain can be
     * walked (heap_walk stops where it breaks). */
    find_busy(&sv);
    if (sv.busy)
        (void)sharena__heap_walk(a, add_extra, &sv);
    for (uint64_t i = 1; i < sv.slots; i++) {
        struct sharena__slot *s = sharena__slot_at(a, i);
        uint8_t type = s ? SHARENA__LD(s->type) : 0;
        if (!type)
            continue;
        if (type >= SHARENA_T__COUNT) {
            kill_slot(&sv, i);
            continue;
        }
        if (type == SHARENA_T_NUMBER || type == SHARENA_T_BOOL ||
            type == SHARENA_T_NULL)
            continue;
        uint64_t word = SHARENA__LD(s->word);
        uint64_t need = content_need(a, type, word);
        if (!need) {
            kill_slot(&sv, i); /* (a busy one keeps its blocks as EXTRA) */
            continue;
        }
        add(&sv, (struct sref){word, need, (uint32_t)i, OBJECT, i});
        if (type == SHARENA_T_MAP) {
            /* the capacity content_need accepted (need is
             * SHARENA__MAP_BYTES(cap)), not a second load */
            struct sharena__map *m = (void *)(a->base + word);
            uint64_t mcap = (need - sizeof *m) /
                            (8 + sizeof(struct sharena__map_entry));
            struct sharena__map_entry *me =
                (void *)((char *)m + SHARENA__MAP_ENTRIES(mcap));
            uint64_t mcount = SHARENA__LD(m->count);
            if (mcount > mcap)
                mcount = mcap;
            for (uint64_t e = 0; e < mcount; e++) {
                if (SHARENA__LD(me[e].klen) != SHARENA__KEY_BLOCK)
                    continue;
                uint64_t ko = SHARENA__LD(me[e].key.off);
                uint64_t kn = key_need(a, ko);
                if (!kn) {
                    if (!busy(&sv, i)) {
                        SHARENA__ST(me[e].key.off, 0);
                        sv.fixed++;
                    }
                    continue;
                }
                add(&sv, (struct sref){ko, kn, (uint32_t)i, KEY, i << 32 | e});
            }
        }
    }
    if (sv.oom) {
        free(sv.v);
        free(sv.busy);
        return SHARENA_ENOMEM;
    }

    /* 3. Overlaps: keep the first claimant of any byte (chunks win). */
    if (sv.n)
        qsort(sv.v, sv.n, sizeof *sv.v, by_off);
    size_t kept = 0;
    uint64_t end = a->heap_start;
    for (size_t i = 0; i < sv.n; i++) {
        struct sref *r = &sv.v[i];
        uint64_t b = r->off - 16;
        bool clash = b < end;
        /* a 16-byte gap cannot be a block: after the first block it is
         * absorbed by the previous one; before it, nothing can hold it */
        if (!clash && kept == 0 && b - end == 16)
            clash = true;
        if (clash) {
            if (r->kind == CHUNK && kept && sv.v[kept - 1].kind != CHUNK &&
                sv.v[kept - 1].off - 16 >= a->heap_start) {
                /* the table wins over an object */
                drop_ref(&sv, &sv.v[--kept]);
                end = kept ? sv.v[kept - 1].off - 16 +
                                 block_size(sv.v[kept - 1].need)
                           : a->heap_start;
                i--; /* look at this chunk again */
                continue;
            }
            drop_ref(&sv, r);
            continue;
        }
        sv.v[kept++] = *r;
        end = b + block_size(r->need);
        if (end > a->heap_end) {
            drop_ref(&sv, &sv.v[--kept]);
            end = kept ? sv.v[kept - 1].off - 16 +
                             block_size(sv.v[kept - 1].need)
                       : a->heap_start;
        }
    }

    if (sv.lost_chunk < SHARENA__SLOT_CHUNKS)
        lose_chunks(&sv, sv.lost_chunk, &kept);

    /* 4. Re-tile the heap. */
    /* (the previous block's header as written here: a 16-byte gap grows
     * it from these values, not from a load) */
    uint64_t pos = a->heap_start, prev = 0, used = 0;
    uint64_t prev_size = 0, prev_prev = 0;
    uint32_t prev_tag = 0;
    bool prev_free = false;
    for (size_t i = 0; i < kept; i++) {
        const struct sref *r = &sv.v[i];
        uint64_t b = r->off - 16, g = b - pos;
        if (g >= SHARENA__MIN_BLOCK) {
            put_block(a, pos, g, true, prev, 0);
            prev_prev = prev;
            prev = pos;
            prev_size = g;
            prev_free = true;
            prev_tag = 0;
        } else if (g == 16) {
            prev_size += 16;
            put_block(a, prev, prev_size, prev_free, prev_prev, prev_tag);
            used += 16;
        }
        uint64_t size = block_size(r->need);
        put_block(a, b, size, false, prev, r->tag);
        used += size;
        prev_prev = prev;
        prev = b;
        prev_size = size;
        prev_free = false;
        prev_tag = r->tag;
        pos = b + size;
    }
    uint64_t g = a->heap_end - pos;
    if (g >= SHARENA__MIN_BLOCK)
        put_block(a, pos, g, true, prev, 0);
    else if (g == 16 && prev) {
        put_block(a, prev, prev_size + 16, prev_free, prev_prev, prev_tag);
    }
    free(sv.v);
    int r = sharena__alloc_rebuild(a);
    if (r < 0) {
        free(sv.busy);
        return r;
    }
    (void)used;

    /* 5. Maps that lost keys: rehash and recount; slots: the FIFO. */
    for (uint64_t i = 1; i < sv.slots; i++) {
        struct sharena__slot *s = sharena__slot_at(a, i);
        if (!s || busy(&sv, i))
            continue;
        uint8_t type = SHARENA__LD(s->type);
        if (type == SHARENA_T_MAP)
            sharena__map_repair(a, s);
        else if (type == SHARENA_T_VECTOR)
            sharena__vector_repair(a, s);
    }
    free(sv.busy);
    sharena__slot_fifo_rebuild(a);
    /* Other handles cached the chunks this may have moved or dropped: a new
     * epoch makes them read the table again (this handle's cache is what
     * the header now says). */
    uint32_t ep = __atomic_add_fetch(&h->layout_epoch, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&a->chunk_epoch, ep, __ATOMIC_RELEASE);
    *fixed = sv.fixed + 1;
    return 0;
}
