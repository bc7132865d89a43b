/* repair.c: bring an object back to a consistent state after its writer
 * died holding the lock (SHARENA_EOWNERDEAD). Called with the lock held and
 * the object's seq possibly odd; leaves seq even. The invariants each type
 * keeps across every store are listed in docs/locking.md. */
#include "view.h"

#include <stdlib.h>

/* Payload offsets the object in @p s references (its block, a map's keys):
 * malloc'd into *out. */
static int object_blocks(sharena_arena *a, struct sharena__slot *s,
                         uint8_t type, uint64_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (type == SHARENA_T_NUMBER || type == SHARENA_T_BOOL ||
        type == SHARENA_T_NULL)
        return 0;
    /* the word, the capacity, the count and each key are loaded once: the
     * count that sizes the array is the one that bounds the loop */
    uint64_t word = SHARENA__LD(s->word), count = 0;
    struct sharena__map_view t;
    bool map = type == SHARENA_T_MAP && sharena__map_at(a, word, &t);
    if (map) {
        count = SHARENA__LD(t.m->count);
        if (count > t.cap)
            count = t.cap;
    }
    uint64_t *v = malloc((1 + count) * sizeof *v);
    if (!v)
        return SHARENA_ENOMEM;
    v[(*n)++] = word;
    for (uint64_t i = 0; map && i < count; i++)
        if (SHARENA__LD(t.e[i].klen) == SHARENA__KEY_BLOCK)
            v[(*n)++] = SHARENA__LD(t.e[i].key.off);
    *out = v;
    return 0;
}

/* Free what a dead writer allocated for this object but never linked (or
 * unlinked but never freed): blocks tagged with its slot that it does not
 * reference. For a killed slot (type 0) nothing is kept. */
static int sweep(sharena_arena *a, struct sharena__slot *s, uint8_t type)
{
    uint32_t index = sharena__slot_index(a, s);
    if (!index)
        return 0;
    uint64_t *keep = NULL;
    size_t n = 0;
    if (type) {
        int r = object_blocks(a, s, type, &keep, &n);
        if (r < 0)
            return r;
    }
    int r = sharena__arena_lock(a);
    if (r == 0) {
        r = sharena__sweep_tag_locked(a, index, keep, n);
        sharena__arena_unlock(a);
        /* A heap that cannot be walked (a block header a peer damaged) is
         * fsck's to mend, not this object's: the object is consistent, and
         * what its writer left unlinked stays allocated until fsck frees
         * it. Failing the repair for it kept the object unreadable (its
         * write flagged unfinished) for as long as the heap stayed damaged:
         * readers waited out their retry rules (issue 13's adversary, round
         * 'alloc', saw them as hangs). */
        if (r == SHARENA_ECORRUPT)
            r = 0;
    }
    free(keep);
    return r < 0 ? r : 0;
}

int sharena__repair(sharena_arena *a, struct sharena__slot *s)
{
    int r = 0;
    /* A writer can die with the counter even (before it opened its write,
     * or after it closed it, still holding the lock): the repair is a
     * write of its own then, and readers must not take a table rebuilt in
     * place for a stable one (they would miss keys that are there). */
    uint32_t seq0 = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
    if (!(seq0 & 1)) {
#if defined(__SANITIZE_THREAD__)
        /* TSan does not model fences (as in sharena__write_begin) */
        __atomic_store_n(&s->seq, seq0 + 1, __ATOMIC_SEQ_CST);
#else
        __atomic_store_n(&s->seq, seq0 + 1, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_RELEASE);
#endif
    }
    uint8_t type = SHARENA__LD(s->type);
    switch (type) {
    case SHARENA_T_MAP:
        r = sharena__map_repair(a, s);
        break;
    case SHARENA_T_VECTOR:
        r = sharena__vector_repair(a, s);
        break;
    case 0:
        /* Killed by a dropper that died before putting the slot back. */
        if (!(SHARENA__LD(s->flags) &
              (SHARENA__SLOT_LISTED | SHARENA__SLOT_RETIRED))) {
            r = sweep(a, s, 0);
            if (r == 0)
                sharena__obj_reclaim(a, s, 0);
            /* the arena lock was not had: the slot is not back yet */
            if (r == 0 && !(SHARENA__LD(s->flags) &
                            (SHARENA__SLOT_LISTED | SHARENA__SLOT_RETIRED)))
                r = SHARENA_EBUSY;
        }
        break;
    default:
        /* Strings swap whole blocks, numbers and bools are one word, struct
         * cells are single words, bytes are raw: nothing to rebuild. */
        break;
    }
    if (type && r == 0)
        r = sweep(a, s, type);
    /* Only a finished repair makes the object readable again; one that
     * could not finish (a lock it needed was busy, no memory) leaves the
     * write flagged unfinished, and its caller hands the lock back
     * owner-died (sharena__unlock_died) for the next locker to retry. */
    if (r < 0)
        return r;
    uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
    if (seq & 1)
        __atomic_store_n(&s->seq, seq + 1, __ATOMIC_RELEASE);
    return 0;
}
