/**
 * @file sharena_broker.h
 * @brief sharena's calls for the broker and the tools, NOT for applications.
 *
 * `sharenad` and the `sharena` command line tool use these to mark and
 * recover the locks of clients that went away, to keep the arena's
 * live-slot set and lock clock, and to tell processes without a broker slot
 * apart in lock words. An application that calls them can break every other
 * client of the arena (a lock marked owner-died is taken over by the next
 * locker): they are installed for the tools built outside this tree, and
 * may change between minor releases. Applications include only sharena.h.
 */
#ifndef SHARENA_BROKER_API_H
#define SHARENA_BROKER_API_H

#include "sharena.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/** @name Recovery of dead owners' locks (recovery.c, lock.c) @{ */

/** Owner values of processes without a broker slot: this bit | pid. */
#define SHARENA_OWNER_LOCAL 0x20000000u

/**
 * Mark every lock word held by @p owner (a broker client slot, or
 * SHARENA_OWNER_LOCAL | pid) as owner-died and wake its waiters, so that the
 * next locker repairs the object. Repairs nothing itself. Walks the whole
 * handle table in one call (the broker uses sharena_recover_mark()).
 * @return the number of locks marked (>= 0), or a negative error.
 */
SHARENA_EXPORT int sharena_recover_owner(sharena_arena *a, uint32_t owner);

/**
 * Repair, in this process and without ever waiting for a lock, every object
 * whose lock is marked owner-died. Until then only a read-write locker
 * repairs it, and read-only readers of an object whose writer died in the
 * middle of a write get SHARENA_EBUSY. The broker never calls this: it does
 * not repair objects in its own process (docs/locking.md).
 * @return how many remain marked (>= 0), SHARENA_EINVAL, SHARENA_EROFS.
 */
SHARENA_EXPORT int sharena_recover_pending(sharena_arena *a);

/** sharena_recover_mark()'s cursor once a pass has covered the table. */
#define SHARENA_RECOVER_DONE UINT64_MAX

/**
 * Broker side: one bounded step of marking the locks of client slots that
 * went away. Every lock word (the arena lock, then the handle table from
 * slot *@p cursor on) that names a broker slot set in @p dead (@p nwords
 * must be 1024: one bit per slot 0..65535) is marked owner-died and its
 * waiters woken; nothing is repaired. The step looks at no more than about
 * @p budget slots (each chunk of the table looked at counts as one; the
 * memfd's holes cost nothing and are never touched), whatever the arena's
 * capacity or header say. Start a pass with *@p cursor = 0 and call again
 * with the updated cursor until it is SHARENA_RECOVER_DONE. Uses the
 * arena's file offset (lseek SEEK_DATA) to find holes.
 * @return locks marked by this step (>= 0), SHARENA_EINVAL, SHARENA_EROFS.
 */
SHARENA_EXPORT int sharena_recover_mark(sharena_arena *a, const uint64_t *dead,
                                        size_t nwords, uint64_t *cursor,
                                        uint32_t budget);

/**
 * The broker marks client slot @p slot (1..65535) live in this arena when
 * it grants the client read-write access (attach), and clears it after
 * recovering the slot's locks when the client is gone (detach). A lock word
 * naming a broker slot that is not live is treated as abandoned and
 * recovered by the next locker, so a stale or scribbled owner never hangs
 * anyone.
 * @return 0, SHARENA_EINVAL (slot 0 or >= 65536), SHARENA_EROFS.
 */
SHARENA_EXPORT int sharena_owner_attach(sharena_arena *a, uint32_t slot);

/**
 * Advance the arena's lock clock (whole seconds of CLOCK_MONOTONIC) to now.
 * Every locker copies it next to the lock it takes, which is how
 * sharena_locks() knows how long a lock has been held. The broker calls this
 * once a second for every arena it keeps; a process with a read-write
 * mapping may call it too (opening an arena read-write does). Cheap when the
 * clock is already current.
 * @return 0, SHARENA_EINVAL, SHARENA_EROFS (read-only mapping).
 */
SHARENA_EXPORT int sharena_clock_tick(sharena_arena *a);
/**
 * Broker side: client slot @p slot no longer uses this arena (it closed it
 * or went away, and its locks were recovered first): clear its bit in the
 * arena's live-slot set, so that a lock word still naming it counts as
 * abandoned. @return 0, SHARENA_EINVAL (slot 0 or >= 65536), SHARENA_EROFS.
 */
SHARENA_EXPORT int sharena_owner_detach(sharena_arena *a, uint32_t slot);
/**
 * Make the arena's live-slot set exactly @p live (@p nwords must be 1024:
 * one bit per slot 0..65535; slot 0 is never live). The broker calls it
 * once a second with the slots it knows to hold read-write access, undoing
 * whatever a writer scribbled over the set: a lock naming a slot that is
 * not live is then recovered by its next waiter.
 * @return the number of words it had to correct (>= 0), SHARENA_EINVAL,
 *         SHARENA_EROFS.
 */
SHARENA_EXPORT int sharena_owner_sync(sharena_arena *a, const uint64_t *live,
                                      size_t nwords);
/** @} */

/* ------------------------------------------------------------------------ */
/** @name Running a broker (client.c) @{ */

/**
 * The sharenad executable the library starts when sharena_connect(NULL)
 * finds no broker on the default socket: $SHARENA_SHARENAD; then next to
 * the code that holds the library (same directory, ../broker/, ../bin/);
 * then PATH; then the bin directory the library was configured to install
 * into. `sharena broker start` runs this one, so the tool and the library
 * never start different brokers.
 * @return 0 (@p buf holds the path), SHARENA_EINVAL (NULL @p buf),
 *         SHARENA_ENOENT (none found, or $SHARENA_SHARENAD is not
 *         executable), SHARENA_ENAMETOOLONG (@p cap too small).
 */
SHARENA_EXPORT int sharena_broker_path(char *buf, size_t cap);

/**
 * The pid of the broker at the other end of @p c, as it said in its
 * WELCOME (on another pid namespace's broker, a pid of that namespace).
 * sharena_connect() with an explicit path never starts a broker, so
 * connecting to a socket and reading this tells whether one answers there
 * and which one; sharena_broker_shutdown() asks it to exit.
 * @return the pid (> 0), 0 for NULL or a broker that did not say.
 */
SHARENA_EXPORT int sharena_conn_broker_pid(const sharena_conn *c);
/** @} */

#ifdef __cplusplus
}
#endif
#endif /* SHARENA_BROKER_API_H */
