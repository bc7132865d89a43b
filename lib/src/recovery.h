/* recovery.h: the lock helpers shared by dead-owner recovery (recovery.c)
 * and fsck (fsck.c). Private to lib/src. */
#ifndef SHARENA_RECOVERY_H
#define SHARENA_RECOVERY_H

#include "internal.h"

/* How many handle-table slots may exist: slot_count, bounded by what the
 * heap can hold (a scribbled count cannot send a walk past the mapping). */
uint64_t sharena__slot_limit(const sharena_arena *a);

/* Set DIED on @p w if it still names @p owner; 0 if not, 1 if set, 2 if
 * set and waiters were woken. */
int sharena__mark_died(uint32_t *w, uint32_t owner);

/* Take lock @p w if it still holds @p from, never waiting. */
bool sharena__take_if(sharena_arena *a, uint32_t *w, uint32_t from);

/* Take a lock whose owner died, never waiting: only if it still says DIED. */
bool sharena__take_died(sharena_arena *a, uint32_t *w);

/* Repair what a dead owner left behind under lock @p w (object @p s, or the
 * arena when NULL); @p nowait: never wait for a live owner's lock. */
void sharena__repair_died(sharena_arena *a, uint32_t *w,
                          struct sharena__slot *s, bool nowait);

#endif
