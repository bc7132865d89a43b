/* repair.c: bring an object back to a consistent state after its writer
 * died holding the lock (SHARENA_EOWNERDEAD). Called with the lock held and
 * the object's seq possibly odd; leaves seq even. The invariants each type
 * keeps across every store are listed in docs/locking.md. */
#include "internal.h"

int sharena__repair(sharena_arena *a, struct sharena__slot *s)
{
    int r = 0;
    switch (s->type) {
    case SHARENA_T_MAP:
        r = sharena__map_repair(a, s);
        break;
    case SHARENA_T_VECTOR:
        r = sharena__vector_repair(a, s);
        break;
    default:
        /* Strings swap whole blocks, numbers and bools are one word, struct
         * cells are single words, bytes are raw: nothing to rebuild. */
        break;
    }
    uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
    if (seq & 1)
        __atomic_store_n(&s->seq, seq + 1, __ATOMIC_RELEASE);
    return r;
}
