/* fsck.c: checking (and with SHARENA_FSCK_REPAIR, repairing) an arena.
 *
 * fsck checks the format's invariants (docs/format.md): the header, the
 * handle table and its free FIFO, every object's payload, and the heap
 * accounting: every allocated block is referenced by exactly one live
 * object (its payload, a map key, or a handle-table chunk), every reference
 * names an allocated block. With SHARENA_FSCK_REPAIR it frees leaked blocks,
 * kills objects whose payload is unusable, repairs maps and vectors, and
 * rebuilds the allocator's lists, the free-slot FIFO and the counters.
 * Locks left by dead owners are settled the way recovery.c does it. */
#include "view.h"
#include "recovery.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct ref {
    uint64_t off;  /* payload offset of a block */
    uint64_t slot; /* slot whose object references it (0: the table) */
};

struct fsck {
    sharena_arena *a;
    unsigned flags;
    void (*fn)(void *, const char *);
    void *ctx;
    sharena_fsck_report rep;
    struct ref *refs;
    size_t nrefs, cap;
    uint64_t *leaks;
    size_t nleaks, leakcap;
    uint64_t *busy; /* slots not checked (locked), ascending */
    size_t nbusy, busycap;
    uint64_t pending; /* busy slots whose lock awaits owner-died recovery */
    struct sharena__owner_cache owners;
    bool oom;
};

/* Internal fsck_pass flag: report a lock still awaiting recovery as a
 * problem (the last round of fsck_main). */
#define FSCK__REPORT_PENDING (1u << 31)

__attribute__((format(printf, 2, 3))) static void problem(struct fsck *f,
                                                          const char *fmt, ...)
{
    f->rep.errors++;
    if (!f->fn)
        return;
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    f->fn(f->ctx, buf);
}

static void add_ref(struct fsck *f, uint64_t off, uint64_t slot)
{
    if (f->nrefs == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 1024;
        struct ref *p = realloc(f->refs, nc * sizeof *p);
        if (!p) {
            f->oom = true;
            return;
        }
        f->refs = p;
        f->cap = nc;
    }
    f->refs[f->nrefs++] = (struct ref){off, slot};
}

static void add_leak(struct fsck *f, uint64_t off)
{
    if (f->nleaks == f->leakcap) {
        size_t nc = f->leakcap ? f->leakcap * 2 : 64;
        uint64_t *p = realloc(f->leaks, nc * sizeof *p);
        if (!p)
            return; /* stays leaked; reported */
        f->leaks = p;
        f->leakcap = nc;
    }
    f->leaks[f->nleaks++] = off;
}

static bool repairing(const struct fsck *f)
{
    return f->flags & SHARENA_FSCK_REPAIR;
}

enum { LOCK_FREE, LOCK_LIVE, LOCK_PENDING };

/* What lock value @p v means to fsck: free, held by an owner that lives (a
 * write in progress, or a user's sharena_lock() section), or left by one
 * that died (marked DIED, or its owner is gone or, for a LOCAL owner, does
 * not map this arena; with BREAK_LOCKS every broker slot counts as gone). */
static int lock_state(struct fsck *f, uint32_t v)
{
    if (!v)
        return LOCK_FREE;
    if ((f->flags & SHARENA_FSCK_BREAK_LOCKS) && !(v & SHARENA__LOCK_LOCAL))
        return LOCK_PENDING;
    return sharena__owner_live(f->a, v, &f->owners) ? LOCK_LIVE : LOCK_PENDING;
}

/* Recover a lock whose owner is gone, the way a locker would. */
static void settle_lock(struct fsck *f, uint32_t *w, struct sharena__slot *s)
{
    uint32_t v = __atomic_load_n(w, __ATOMIC_ACQUIRE);
    if (lock_state(f, v) != LOCK_PENDING || f->a->readonly)
        return; /* (read-only: a pending recovery is not damage) */
    sharena__mark_died(w, v & SHARENA__LOCK_OWNER_MASK);
    sharena__repair_died(f->a, w, s,
                         false); /* fsck may wait (to its deadline) */
    f->rep.recovered++;
}

static void add_busy(struct fsck *f, uint64_t index)
{
    if (f->nbusy == f->busycap) {
        size_t nc = f->busycap ? f->busycap * 2 : 16;
        uint64_t *p = realloc(f->busy, nc * sizeof *p);
        if (!p) {
            f->oom = true; /* heap accounting is skipped, not wrong */
            return;
        }
        f->busy = p;
        f->busycap = nc;
    }
    f->busy[f->nbusy++] = index;
}

static bool is_busy(const struct fsck *f, uint64_t index)
{
    size_t lo = 0, hi = f->nbusy;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->busy[mid] == index)
            return true;
        if (f->busy[mid] < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

enum { CLAIM_BUSY, CLAIM_UNLOCKED, CLAIM_HELD, CLAIM_TAKEN_OVER };

/* Before slot @p i is checked, its lock says whether it can be: a live
 * client writing it (or inside its own sharena_lock() section) makes it
 * busy, and so does a dead owner's recovery that someone else has not
 * finished (the broker repairs in the background; fsck_main then tries
 * again). A busy slot is counted but not checked, and the blocks tagged
 * with it are not leaks: they may be a table or string it is building.
 * A free lock is taken for the check, so no writer changes the object
 * under the check or a repair (CLAIM_HELD; CLAIM_UNLOCKED on a read-only
 * mapping, which cannot lock). With REPAIR a dead owner's lock is taken
 * over and the object repaired here (CLAIM_TAKEN_OVER). */
static int claim_slot(struct fsck *f, uint64_t i, struct sharena__slot *s)
{
    sharena_arena *a = f->a;
    uint32_t *w = &s->lock;
    uint32_t v = __atomic_load_n(w, __ATOMIC_ACQUIRE);
    for (int tries = 0; !v && tries < 3; tries++) {
        if (a->readonly)
            return CLAIM_UNLOCKED;
        /* never wait: fsck holds the arena lock, which a writer holding
         * this one may be waiting for */
        if (sharena__take_if(a, w, 0))
            return CLAIM_HELD;
        v = __atomic_load_n(w, __ATOMIC_ACQUIRE);
    }
    int st = lock_state(f, v);
    if (st == LOCK_FREE && a->readonly)
        return CLAIM_UNLOCKED;
    if (st == LOCK_PENDING && repairing(f) && !a->readonly) {
        sharena__mark_died(w, v & SHARENA__LOCK_OWNER_MASK);
        if (sharena__take_died(a, w)) {
            /* its sweep cannot take the arena lock this pass holds; what
             * it would free, the leak pass frees */
            sharena__repair(a, s);
            uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
            if (seq & 1)
                __atomic_store_n(&s->seq, seq + 1, __ATOMIC_RELEASE);
            f->rep.recovered++;
            return CLAIM_TAKEN_OVER;
        }
    }
    /* busy (also a lock that lockers kept taking and giving back while we
     * tried: checking it unlocked could repair under a writer) */
    add_busy(f, i);
    if (SHARENA__LD(s->type))
        f->rep.objects++;
    if (st == LOCK_LIVE) {
        f->rep.locks_held++;
    } else if (st == LOCK_PENDING) {
        f->pending++;
        if (f->flags & FSCK__REPORT_PENDING)
            problem(f,
                    "slot %lu: its dead owner's lock could not be "
                    "recovered",
                    (unsigned long)i);
    }
    return CLAIM_BUSY;
}

/* After the pass: which busy slots still await recovery (a recoverer that
 * took one while this pass held the arena lock hands it back owner-died). */
static uint64_t count_pending(struct fsck *f)
{
    uint64_t n = 0;
    for (size_t i = 0; i < f->nbusy; i++) {
        struct sharena__slot *s = sharena__slot_at(f->a, f->busy[i]);
        if (s && lock_state(f, __atomic_load_n(&s->lock, __ATOMIC_ACQUIRE)) ==
                     LOCK_PENDING)
            n++;
    }
    return n;
}

/* Replace every byte that does not start a valid UTF-8 sequence with '?'
 * (the length stays, so the block stays as it is). */
static void utf8_sanitize(uint8_t *p, uint64_t len)
{
    for (uint64_t i = 0; i < len;) {
        uint8_t c = p[i];
        uint64_t n = c < 0x80             ? 1
                     : (c & 0xe0) == 0xc0 ? 2
                     : (c & 0xf0) == 0xe0 ? 3
                     : (c & 0xf8) == 0xf0 ? 4
                                          : 0;
        if (n && n <= len - i && sharena_utf8_valid((const char *)p + i, n)) {
            i += n;
        } else {
            p[i++] = '?';
        }
    }
}

static const char *tname(int t)
{
    return sharena_type_name(t);
}

/* Check one live object of type @p type (loaded once by the caller); collect
 * its blocks. Every field is loaded once and checked against the block it
 * lies in (a peer may change it meanwhile). Returns false if the object is
 * unusable (its payload does not fit its type). */
static bool check_object(struct fsck *f, uint64_t idx, struct sharena__slot *s,
                         uint8_t type)
{
    sharena_arena *a = f->a;
    uint64_t off = SHARENA__LD(s->word), have;
    switch (type) {
    case SHARENA_T_NUMBER:
        return true;
    case SHARENA_T_NULL:
        if (off != 0) {
            problem(f, "slot %lu: null with value %lu", (unsigned long)idx,
                    (unsigned long)off);
            if (repairing(f)) {
                SHARENA__ST(s->word, 0);
                f->rep.repaired++;
            }
        }
        return true;
    case SHARENA_T_BOOL:
        if (off > 1) {
            problem(f, "slot %lu: bool with value %lu", (unsigned long)idx,
                    (unsigned long)off);
            if (repairing(f)) {
                SHARENA__ST(s->word, 1);
                f->rep.repaired++;
            }
        }
        return true;
    default:
        break;
    }
    have = sharena__payload_size(a, off);
    if (!have) {
        problem(f, "slot %lu: %s payload at %#lx is not an allocated block",
                (unsigned long)idx, tname(type), (unsigned long)off);
        return false;
    }
    add_ref(f, off, idx);
    uint8_t *p = a->base + off;
    switch (type) {
    case SHARENA_T_STRING: {
        struct sharena__string *str = (void *)p;
        uint64_t len = have >= sizeof *str ? SHARENA__LD(str->len) : UINT64_MAX;
        if (have < sizeof *str || len >= have - sizeof *str) {
            problem(f, "slot %lu: string length exceeds its block",
                    (unsigned long)idx);
            return false;
        }
        if (!sharena_utf8_valid(str->data, len)) {
            problem(f, "slot %lu: string is not valid UTF-8",
                    (unsigned long)idx);
            if (repairing(f)) {
                utf8_sanitize((uint8_t *)str->data, len);
                f->rep.repaired++;
            }
        }
        return true;
    }
    case SHARENA_T_BYTES: {
        struct sharena__bytes *b = (void *)p;
        if (have < sizeof *b || SHARENA__LD(b->size) > have - sizeof *b) {
            problem(f, "slot %lu: bytes size exceeds its block",
                    (unsigned long)idx);
            return false;
        }
        return true;
    }
    case SHARENA_T_MAP: {
        struct sharena__map_view t;
        if (!sharena__map_at(a, off, &t)) {
            problem(f, "slot %lu: map table header is invalid",
                    (unsigned long)idx);
            return false;
        }
        bool bad = false;
        uint64_t count = SHARENA__LD(t.m->count);
        if (count > t.cap) {
            problem(f, "slot %lu: map count %lu exceeds its capacity %lu",
                    (unsigned long)idx, (unsigned long)count,
                    (unsigned long)t.cap);
            count = t.cap;
            bad = true;
        }
        if (SHARENA__LD(t.m->pend_count)) {
            problem(f, "slot %lu: map has an unfinished removal",
                    (unsigned long)idx);
            bad = true;
        }
        if (SHARENA__LD(t.m->pend_set)) {
            problem(f, "slot %lu: map has an unfinished value change",
                    (unsigned long)idx);
            bad = true;
        }
        for (uint64_t i = 0; i < count; i++) {
            struct sharena__map_entry *e = &t.e[i];
            struct sharena__text_view k;
            if (!sharena__map_key_at(a, e, &k)) {
                problem(f, "slot %lu: map entry %lu has an invalid key",
                        (unsigned long)idx, (unsigned long)i);
                bad = true;
                continue;
            }
            if (SHARENA__LD(e->klen) == SHARENA__KEY_BLOCK)
                add_ref(f, SHARENA__LD(e->key.off), idx);
            struct sharena__mval v;
            if (!sharena__map_value_at(e, &v)) {
                problem(f, "slot %lu: map entry %lu has an invalid value",
                        (unsigned long)idx, (unsigned long)i);
                bad = true;
            } else if (v.kind == SHARENA__V_STRING &&
                       !sharena_utf8_valid((const char *)v.w, v.len)) {
                /* a string in the entry, as a string object's text */
                problem(f,
                        "slot %lu: map entry %lu has a string that is "
                        "not valid UTF-8",
                        (unsigned long)idx, (unsigned long)i);
                if (repairing(f)) {
                    utf8_sanitize((uint8_t *)v.w, v.len);
                    SHARENA__ST(e->value.w[0], v.w[0]);
                    SHARENA__ST(e->value.w[1], v.w[1]);
                    f->rep.repaired++;
                }
            }
            uint32_t h = (uint32_t)sharena__hash(a, k.data, k.len);
            if (SHARENA__LD(e->hash) != h) {
                problem(f, "slot %lu: map entry %lu has a wrong hash",
                        (unsigned long)idx, (unsigned long)i);
                bad = true;
                continue;
            }
            /* the index reaches it: a probe from its home meets it before
             * an empty slot, and every slot on the way names an entry */
            uint64_t mask = 2 * t.cap - 1, j = h & mask, n = 0;
            for (; n <= mask; n++, j = (j + 1) & mask) {
                uint32_t x = SHARENA__LD(t.idx[j]);
                if (!x || x > count || x == i + 1)
                    break;
            }
            if (n > mask || SHARENA__LD(t.idx[j]) != i + 1) {
                problem(f, "slot %lu: map entry %lu is not in the index",
                        (unsigned long)idx, (unsigned long)i);
                bad = true;
            }
        }
        uint64_t used = 0;
        for (uint64_t j = 0; j < 2 * t.cap; j++)
            used += SHARENA__LD(t.idx[j]) != 0;
        if (used != count) {
            problem(f, "slot %lu: map count %lu but %lu index slots in use",
                    (unsigned long)idx, (unsigned long)count,
                    (unsigned long)used);
            bad = true;
        }
        if (bad && repairing(f)) {
            /* drop the key blocks from our list: repair keeps the good
             * entries, whose blocks are listed afresh below */
            while (f->nrefs && f->refs[f->nrefs - 1].slot == idx &&
                   f->refs[f->nrefs - 1].off != off)
                f->nrefs--;
            sharena__map_repair(a, s);
            f->rep.repaired++;
            /* the repaired table, loaded and checked afresh */
            struct sharena__map_view nt;
            if (sharena__map_at(a, SHARENA__LD(s->word), &nt)) {
                uint64_t nc = SHARENA__LD(nt.m->count);
                for (uint64_t i = 0; i < nc && i < nt.cap; i++)
                    if (SHARENA__LD(nt.e[i].klen) == SHARENA__KEY_BLOCK)
                        add_ref(f, SHARENA__LD(nt.e[i].key.off), idx);
            }
        }
        return true;
    }
    case SHARENA_T_VECTOR: {
        struct sharena__vector *v = (void *)p;
        uint64_t vcap = have >= sizeof *v ? SHARENA__LD(v->cap) : 0;
        uint64_t vlen = have >= sizeof *v ? SHARENA__LD(v->len) : 0;
        if (have < sizeof *v || vcap > (have - sizeof *v) / 8 || vlen > vcap) {
            problem(f, "slot %lu: vector length or capacity exceeds its block",
                    (unsigned long)idx);
            if (repairing(f) && have >= sizeof *v) {
                sharena__vector_repair(a, s);
                f->rep.repaired++;
                return true;
            }
            return have >= sizeof *v;
        }
        return true;
    }
    case SHARENA_T_SHAPE: {
        size_t n;
        uint32_t gen = SHARENA__LD(s->gen) & SHARENA__GEN_MAX;
        if (sharena_shape_nfields(a, sharena__id_make(idx, gen), &n) < 0) {
            problem(f, "slot %lu: shape is invalid", (unsigned long)idx);
            return false;
        }
        return true;
    }
    case SHARENA_T_STRUCT: {
        size_t n;
        uint32_t gen = SHARENA__LD(s->gen) & SHARENA__GEN_MAX;
        if (sharena_shape_nfields(a, sharena__id_make(idx, gen), &n) < 0) {
            problem(f, "slot %lu: struct has no valid shape",
                    (unsigned long)idx);
            return false;
        }
        struct sharena__struct *st = (void *)p;
        if (have < sizeof *st || SHARENA__LD(st->nfields) != n ||
            SHARENA__STRUCT_SIZE(n) > have) {
            problem(f, "slot %lu: struct cells do not match its shape",
                    (unsigned long)idx);
            return false;
        }
        /* null marks only on nullable fields, none past the last field */
        uint64_t *nulls = &st->cells[n];
        for (uint64_t w = 0; w < SHARENA__STRUCT_NULL_WORDS(n); w++) {
            uint64_t bits = SHARENA__LD(nulls[w]), bad = 0;
            for (unsigned b = 0; b < 64 && bits; b++) {
                if (!(bits & (UINT64_C(1) << b)))
                    continue;
                uint64_t i = w * 64 + b;
                sharena_field_flags fl = 0;
                if (i >= n ||
                    sharena_shape_field_flags(a, sharena__id_make(idx, gen), i,
                                              &fl) < 0 ||
                    !(fl & SHARENA_FIELD_NULLABLE))
                    bad |= UINT64_C(1) << b;
            }
            if (bad) {
                problem(f,
                        "slot %lu: struct marks field(s) null that are "
                        "not nullable (bits %#lx of word %lu)",
                        (unsigned long)idx, (unsigned long)bad,
                        (unsigned long)w);
                if (repairing(f)) {
                    SHARENA__ST(nulls[w], bits & ~bad);
                    f->rep.repaired++;
                }
            }
        }
        return true;
    }
    default:
        problem(f, "slot %lu: unknown type %d", (unsigned long)idx, type);
        return false;
    }
}

static int cmp_ref(const void *x, const void *y)
{
    const struct ref *p = x, *q = y;
    return p->off < q->off ? -1 : p->off > q->off;
}

struct walk {
    struct fsck *f;
    size_t i; /* next ref to match */
};

static int walk_block(void *ctx, uint64_t off, uint64_t size, bool free,
                      uint32_t tag)
{
    struct walk *w = ctx;
    struct fsck *f = w->f;
    size_t nref = 0;
    while (w->i < f->nrefs && f->refs[w->i].off < off) {
        problem(f, "reference to %#lx (slot %lu) is not a block start",
                (unsigned long)f->refs[w->i].off,
                (unsigned long)f->refs[w->i].slot);
        w->i++;
    }
    while (w->i < f->nrefs && f->refs[w->i].off == off) {
        nref++;
        w->i++;
    }
    if (free) {
        f->rep.free_bytes += size + 16;
        if (nref)
            problem(f, "free block %#lx is still referenced",
                    (unsigned long)off);
        return 0;
    }
    f->rep.blocks++;
    f->rep.used_bytes += size + 16;
    if (nref > 1)
        problem(f, "block %#lx is referenced %lu times", (unsigned long)off,
                (unsigned long)nref);
    if (nref == 0 && tag && is_busy(f, tag))
        return 0; /* a block its busy object is building or giving up */
    if (nref == 0) {
        f->rep.leaked_bytes += size + 16;
        problem(f, "block %#lx (%lu bytes) is referenced by nothing (leak)",
                (unsigned long)off, (unsigned long)size);
        if (repairing(f))
            add_leak(f, off);
    }
    return 0;
}

/* Follow the free FIFO for at most @p lim steps (the slots there are): a
 * longer list has a cycle. */
static void check_slot_fifo(struct fsck *f, uint64_t lim, uint64_t nfree)
{
    struct sharena__header *h = sharena__hdr(f->a);
    uint64_t i = SHARENA__LD(h->slot_free_head), n = 0;
    uint64_t tail = SHARENA__LD(h->slot_free_tail);
    while (i && n <= lim) {
        struct sharena__slot *s = sharena__slot_at(f->a, i);
        if (!s || SHARENA__LD(s->type) || i >= lim) {
            problem(f, "free-slot list reaches slot %lu, which is not free",
                    (unsigned long)i);
            return;
        }
        n++;
        uint64_t next = SHARENA__LD(s->word);
        if (!next && i != tail) {
            problem(f, "free-slot list ends before its tail");
            return;
        }
        i = next;
    }
    if (i) {
        problem(f, "free-slot list has a cycle");
        return;
    }
    if (n != nfree)
        problem(f, "free-slot list holds %lu slots but %lu are free",
                (unsigned long)n, (unsigned long)nfree);
}

/* Check (and with REPAIR fix) one slot that claim_slot let through. */
static void check_slot(struct fsck *f, uint64_t i, struct sharena__slot *s,
                       int claim, uint64_t *nfree)
{
    uint8_t type = __atomic_load_n(&s->type, __ATOMIC_ACQUIRE);
    if (!type) {
        uint8_t fl = SHARENA__LD(s->flags);
        if (fl & SHARENA__SLOT_LISTED)
            (*nfree)++;
        else if (!(fl & SHARENA__SLOT_RETIRED) && claim != CLAIM_TAKEN_OVER)
            /* (a dead dropper's slot: the FIFO rebuild lists it) */
            problem(f, "slot %lu is free but not on the free list",
                    (unsigned long)i);
        return;
    }
    uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
    if (seq & 1) {
        /* Unlocked (a read-only check): an odd seq is a write in
         * progress if the lock or the seq moved meanwhile. */
        if (claim == CLAIM_UNLOCKED &&
            (__atomic_load_n(&s->lock, __ATOMIC_ACQUIRE) ||
             __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) != seq)) {
            add_busy(f, i);
            f->rep.objects++;
            return;
        }
        problem(f, "slot %lu: write left unfinished", (unsigned long)i);
        if (repairing(f)) {
            /* its sweep cannot take the arena lock this pass holds; what
             * it would free, the leak pass frees */
            sharena__repair(f->a, s);
            seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
            if (seq & 1)
                __atomic_store_n(&s->seq, seq + 1, __ATOMIC_RELEASE);
            f->rep.repaired++;
        }
    }
    if (check_object(f, i, s, type)) {
        f->rep.objects++;
    } else if (repairing(f)) {
        sharena__obj_kill(s); /* its payload is unusable */
        f->rep.repaired++;
    }
}

/* One pass: settle dead owners' locks, check (and with REPAIR fix) every
 * slot that is not busy, account for the heap. *pending (may be NULL)
 * receives how many busy slots still await owner-died recovery. */
static int fsck_pass(sharena_arena *a, unsigned flags,
                     void (*fn)(void *ctx, const char *problem), void *ctx,
                     sharena_fsck_report *report, uint64_t *pending)
{
    struct fsck f = {.a = a, .flags = flags, .fn = fn, .ctx = ctx};
    struct sharena__header *h = sharena__hdr(a);

    /* 1. Dead owners' locks: recover them as a locker would. */
    settle_lock(&f, &h->arena_lock, NULL);
    uint64_t lim = sharena__slot_limit(a);
    for (uint64_t i = 1; i < lim; i++) {
        struct sharena__slot *s = sharena__slot_at(a, i);
        if (s)
            settle_lock(&f, &s->lock, s);
    }
    SHARENA__HOOK("fsck:settled");

    bool locked = false;
    if (!a->readonly) {
        int r = sharena__arena_lock(a);
        if (r < 0 && r != SHARENA_ECORRUPT)
            return r;
        locked = r == 0;
        if (r == SHARENA_ECORRUPT) {
            problem(&f, "heap block chain is broken");
            /* the lock was released by arena_lock on failure */
        }
    }

    /* 2. Handle table: chunks, slots, objects. */
    lim = sharena__slot_limit(a);
    uint64_t covered = 1;
    for (unsigned k = 0; k < SHARENA__SLOT_CHUNKS &&
                         sharena__slot_at(a, (uint64_t)SHARENA__SLOT_CHUNK0 *
                                                     ((UINT64_C(1) << k) - 1) +
                                                 (k == 0));
         k++)
        covered = (uint64_t)SHARENA__SLOT_CHUNK0 * ((UINT64_C(2) << k) - 1);
    if (lim > covered) {
        problem(&f, "slot count %lu exceeds the handle table (%lu slots)",
                (unsigned long)lim, (unsigned long)covered);
        lim = covered;
    }
    uint64_t nfree = 0;
    for (unsigned k = 0; k < SHARENA__SLOT_CHUNKS; k++) {
        uint64_t off = SHARENA__LD(h->slot_chunks[k]);
        if (!off)
            continue;
        if (!sharena__payload(a, off,
                              ((uint64_t)SHARENA__SLOT_CHUNK0 << k) *
                                  sizeof(struct sharena__slot)))
            problem(&f, "handle-table chunk %u at %#lx is invalid", k,
                    (unsigned long)off);
        else
            add_ref(&f, off, 0);
    }
    for (uint64_t i = 1; i < lim; i++) {
        struct sharena__slot *s = sharena__slot_at(a, i);
        if (!s) {
            problem(&f, "slot %lu lies in a missing chunk", (unsigned long)i);
            continue;
        }
        int claim = claim_slot(&f, i, s);
        if (claim == CLAIM_BUSY) {
            /* a dropper puts the slot on the free list before it unlocks */
            if (!SHARENA__LD(s->type) &&
                (SHARENA__LD(s->flags) & SHARENA__SLOT_LISTED))
                nfree++;
            continue;
        }
        check_slot(&f, i, s, claim, &nfree);
        if (claim != CLAIM_UNLOCKED)
            sharena__unlock(a, &s->lock);
    }
    sharena_id roots = SHARENA__LD(h->roots_id);
    struct sharena__slot *rs;
    if (sharena__resolve(a, roots, SHARENA_T_MAP, &rs) < 0)
        problem(&f, "roots directory %lu is not a live map",
                (unsigned long)roots);
    if (!repairing(&f))
        check_slot_fifo(&f, lim, nfree);

    /* 3. Heap accounting. */
    int r = 0;
    if (!f.oom) {
        if (f.nrefs)
            qsort(f.refs, f.nrefs, sizeof *f.refs, cmp_ref);
        struct walk w = {.f = &f};
        r = sharena__heap_walk(a, walk_block, &w);
        if (r == SHARENA_ECORRUPT)
            problem(&f, "heap block chain is broken");
        for (; w.i < f.nrefs; w.i++)
            problem(&f, "reference to %#lx (slot %lu) is outside the heap",
                    (unsigned long)f.refs[w.i].off,
                    (unsigned long)f.refs[w.i].slot);
        if (locked && r == 0) {
            for (size_t i = 0; i < f.nleaks; i++) {
                sharena__free_locked(a, f.leaks[i]);
                f.rep.repaired++;
            }
        }
    } else {
        problem(&f, "out of memory: heap accounting skipped");
    }
    if (locked && r != SHARENA_ECORRUPT && !repairing(&f)) {
        uint64_t bad = sharena__alloc_check(a);
        if (bad)
            problem(&f, "allocator free lists: %lu inconsistencies",
                    (unsigned long)bad);
    }
    if (locked && !a->readonly && r != SHARENA_ECORRUPT) {
        uint64_t hused = SHARENA__LD(h->used_bytes);
        if (hused != f.rep.used_bytes && !repairing(&f))
            problem(&f, "header says %lu bytes used, blocks hold %lu",
                    (unsigned long)hused, (unsigned long)f.rep.used_bytes);
        if (repairing(&f)) {
            if (sharena__alloc_rebuild(a) == 0)
                f.rep.repaired++;
            sharena__slot_fifo_rebuild(a);
        }
    }
    SHARENA__HOOK("fsck:checked");
    if (locked)
        sharena__arena_unlock(a);
    if (pending)
        *pending = f.nbusy ? count_pending(&f) : 0;
    free(f.refs);
    free(f.leaks);
    free(f.busy);
    if (report)
        *report = f.rep;
    if (repairing(&f))
        return f.rep.errors > f.rep.repaired ? SHARENA_ECORRUPT : 0;
    return f.rep.errors ? SHARENA_ECORRUPT : 0;
}

static int fsck_main(sharena_arena *a, unsigned flags,
                     void (*fn)(void *ctx, const char *problem), void *ctx,
                     sharena_fsck_report *report);

/* fsck answers on any arena: a lock that stays held by a live owner (or by
 * a scribbled word naming one) makes it give up after this long. */
#define FSCK_LOCK_WAIT_NS (5ll * 1000 * 1000 * 1000)
/* passes over an arena whose dead owners' locks someone else is recovering */
#define FSCK_ROUNDS 4

int sharena_fsck(sharena_arena *a, sharena_fsck_flags flags,
                 void (*fn)(void *ctx, const char *problem), void *ctx,
                 sharena_fsck_report *report)
{
    int64_t wait = FSCK_LOCK_WAIT_NS;
    const char *env = getenv("SHARENA_FSCK_WAIT_MS"); /* tests, fuzzing */
    if (env && *env)
        wait = strtoll(env, NULL, 10) * 1000000;
    sharena__lock_deadline(wait > 0 ? wait : FSCK_LOCK_WAIT_NS);
    unsigned known = SHARENA_FSCK_REPAIR | SHARENA_FSCK_BREAK_LOCKS;
    int r = fsck_main(a, flags & known, fn, ctx, report);
    sharena__lock_deadline(0);
    return r;
}

static int fsck_main(sharena_arena *a, unsigned flags,
                     void (*fn)(void *ctx, const char *problem), void *ctx,
                     sharena_fsck_report *report)
{
    if (!a)
        return SHARENA_EINVAL;
    if (a->closed)
        return SHARENA_ECLOSED;
    if ((flags & SHARENA_FSCK_REPAIR) && a->readonly)
        return SHARENA_EROFS;
    sharena_fsck_report first, last;
    unsigned check = flags & ~(unsigned)SHARENA_FSCK_REPAIR;
    /* A slot left busy by a recovery someone else had not finished (the
     * broker repairs dead clients' objects in the background, and hands an
     * object back owner-died when it would have to wait for the arena lock
     * this pass holds) is settled by another pass; the last one reports
     * what is still pending. Only a clean pass is repeated (it printed
     * nothing, so no problem is printed twice). */
    int r;
    uint64_t pending = 0, recovered = 0;
    for (int round = 0;; round++) {
        bool final_round = round == FSCK_ROUNDS - 1;
        unsigned pf = check | (final_round ? FSCK__REPORT_PENDING : 0);
        r = fsck_pass(a, pf, fn, ctx, &first, &pending);
        recovered += first.recovered;
        first.recovered = recovered;
        if (r != 0 || !pending || a->readonly || final_round)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000}; /* let it finish */
        nanosleep(&ts, NULL);
    }
    if (r == 0 || r != SHARENA_ECORRUPT || !(flags & SHARENA_FSCK_REPAIR)) {
        if (report)
            *report = first;
        return r;
    }
    /* Repair: rebuild the heap from the object graph, then let a repairing
     * pass fix what remains (hashes, leaks, counters), then count again. */
    struct sharena__header *h = sharena__hdr(a);
    uint64_t fixed = 0;
    /* Heavy damage can take more than one round (a first salvage may
     * reveal what the broken block chain hid); stop when a round no longer
     * helps. */
    uint64_t before = first.errors;
    for (int round = 0; round < 4; round++) {
        int l = sharena__lock(a, &h->arena_lock);
        if (l < 0 && l != SHARENA_EOWNERDEAD)
            return l;
        r = sharena__salvage(a, &fixed);
        if (l != 1)
            sharena__unlock(a, &h->arena_lock);
        if (r < 0)
            return r;
        struct sharena__slot *rs;
        if (sharena__resolve(a, SHARENA__LD(h->roots_id), SHARENA_T_MAP, &rs) <
            0) {
            sharena_id roots;
            if (sharena_map_new(a, &roots) == 0) {
                /* the old directory was lost */
                __atomic_store_n(&h->roots_id, roots, __ATOMIC_RELEASE);
                fixed++;
            }
        }
        fsck_pass(a, flags, NULL, NULL, &last, NULL);
        r = fsck_pass(a, check, NULL, NULL, &last, NULL);
        if (r != SHARENA_ECORRUPT || last.errors >= before)
            break;
        before = last.errors;
    }
    first.repaired = first.errors > last.errors ? first.errors - last.errors
                                                : 0;
    first.objects = last.objects;
    first.blocks = last.blocks;
    first.used_bytes = last.used_bytes;
    first.free_bytes = last.free_bytes;
    first.leaked_bytes = last.leaked_bytes;
    if (report)
        *report = first;
    return r;
}
