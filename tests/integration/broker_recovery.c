/* Broker integration tests, clients and brokers that go away: a killed
 * client's locks are recovered, recovery never waits for a live lock holder,
 * forked children get and give back slots of their own; a broker restart
 * keeps mappings (not names) and leaves live clients' locks alone.
 * A real sharenad on a private socket per test, real memfds, real processes
 * (fork), real credentials (setuid when root). */
#include "broker_common.h"

TestSuite(broker, .init = up, .fini = down, .timeout = 60);

static int count_lock(void *ctx, const sharena_lock_info *info)
{
    (void)info;
    ++*(int *)ctx;
    return 0;
}

static int copy_lock(void *ctx, const sharena_lock_info *info)
{
    *(sharena_lock_info *)ctx = *info;
    return 1;
}

static int held_locks(sharena_arena *a)
{
    int n = 0;
    cr_assert_eq(sharena_locks(a, count_lock, &n), 0);
    return n;
}

/* A client killed while it holds a lock: the broker marks it, the next
 * locker repairs, nothing hangs. */
Test(broker, lock_of_killed_client_is_recovered)
{
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "crash", 0);
    sharena_id m;
    cr_assert_eq(sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL), 0);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        sharena_conn *cc;
        sharena_arena *aa;
        sharena_id mm;
        if (sharena_connect(B.socket, &cc) ||
            sharena_open(cc, "crash", NULL, &aa) ||
            sharena_root_get(aa, "m", &mm) || sharena_lock(aa, mm))
            _exit(1);
        (void)!write(p[1], "L", 1);
        pause();
        _exit(0);
    }
    char ch;
    cr_assert_eq(read(p[0], &ch, 1), 1);
    cr_assert_eq(held_locks(a), 1, "the child's lock is listed");
    sharena_lock_info li;
    cr_assert_eq(sharena_locks(a, copy_lock, &li), 1);
    cr_assert_eq(li.id, m);
    cr_assert(li.held_known && li.held_exact, "the broker keeps the clock");
    cr_assert_lt(li.held_s, 600);
    kill(pid, SIGKILL);
    cr_assert_eq(wait_child(pid), 128 + SIGKILL);
    /* Would hang forever without recovery (the suite's timeout fails it). */
    cr_assert_eq(sharena_map_set_number(a, m, "after", 5, 1), 0);
    cr_assert_eq(held_locks(a), 0);
    cr_assert_eq(sharena_fsck(a, 0, NULL, NULL, NULL), 0);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

static int find_died(void *ctx, const sharena_lock_info *li)
{
    sharena_lock_info *want = ctx;
    if (li->id == want->id && li->died) {
        *want = *li;
        return 1;
    }
    return 0;
}

/* A client dies holding an object's lock while a live (hostile) client sits
 * on the arena lock. Repairing the object needs the arena lock; the broker,
 * one thread serving everyone, must not wait for it: it leaves the object
 * marked owner-died and goes on serving. Once the arena lock is free, the
 * object's next locker repairs it. */
Test(broker, recovery_never_waits_for_a_live_arena_lock_holder)
{
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "stall", 0);
    sharena_id m;
    cr_assert_eq(sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL), 0);
    cr_assert_eq(sharena_map_set_number(a, m, "before", 6, 1), 0);
    struct sharena__header *h = sharena__hdr(a);

    /* the live client that holds the arena lock: its own slot in the word */
    sharena_conn *hostile = conn();
    sharena_arena *ha;
    cr_assert_eq(sharena_open(hostile, "stall", NULL, &ha), 0);
    uint32_t zero = 0;
    cr_assert(__atomic_compare_exchange_n(&h->arena_lock, &zero,
                                          sharena_conn_slot(hostile), false,
                                          __ATOMIC_ACQUIRE, __ATOMIC_RELAXED));

    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        sharena_conn *cc;
        sharena_arena *aa;
        if (sharena_connect(B.socket, &cc) ||
            sharena_open(cc, "stall", NULL, &aa) || sharena_lock(aa, m))
            _exit(1);
        uint32_t slot = sharena_conn_slot(cc);
        (void)!write(p[1], &slot, sizeof slot);
        pause();
        _exit(0);
    }
    uint32_t dead_slot;
    cr_assert_eq(read(p[0], &dead_slot, sizeof dead_slot), sizeof dead_slot);
    kill(pid, SIGKILL);
    cr_assert_eq(wait_child(pid), 128 + SIGKILL);

    /* the broker keeps answering (a stalled broker would time the suite
     * out) and, once it has handled the death, the object is owner-died */
    sharena_arena_stat st;
    for (int tries = 0;; tries++) {
        cr_assert_eq(sharena_stat(c, "stall", &st), 0);
        if (st.clients == 2)
            break;
        cr_assert_lt(tries, 1000, "the broker did not handle the death");
        usleep(5000);
    }
    /* the marking runs in bounded steps after the close: look until it
     * is done (a hang guard, not a timing check) */
    sharena_lock_info li = {.id = m};
    for (int tries = 0; sharena_locks(a, find_died, &li) != 1; tries++) {
        cr_assert_lt(tries, 1000, "never marked owner-died");
        usleep(5000);
    }
    cr_assert_eq(li.owner, dead_slot, "still shown as the dead client's");
    cr_assert_eq(__atomic_load_n(&h->arena_lock, __ATOMIC_ACQUIRE),
                 sharena_conn_slot(hostile), "the live holder still has it");
    sharena_conn *other = conn(); /* new clients are served too */
    sharena_disconnect(other);

    /* the holder lets go: the broker repairs nothing in its own process
     * (docs/locking.md); the map's next locker does */
    __atomic_store_n(&h->arena_lock, 0, __ATOMIC_RELEASE);
    li = (sharena_lock_info){.id = m};
    cr_assert_eq(sharena_locks(a, find_died, &li), 1, "still marked");
    cr_assert_eq(sharena_map_set_number(a, m, "after", 5, 2), 0);
    sharena_id v;
    double d;
    cr_assert_eq(sharena_map_get(a, m, "before", 6, &v), 0);
    cr_assert_eq(sharena_number_get(a, v, &d), 0);
    cr_assert_eq(d, 1);
    cr_assert_eq(held_locks(a), 0);
    cr_assert_eq(sharena_fsck(a, 0, NULL, NULL, NULL), 0);
    sharena_arena_close(ha);
    sharena_disconnect(hostile);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

Test(broker, forked_child_gets_its_own_slot)
{
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "forky", 0);
    uint32_t parent_slot = sharena_conn_slot(c);
    pid_t pid = fork();
    if (pid == 0) {
        sharena_arena_stat st;
        /* The first request reconnects: a slot of the child's own. */
        if (sharena_stat(c, "forky", &st))
            _exit(1);
        if (sharena_conn_slot(c) == parent_slot || sharena_conn_slot(c) == 0)
            _exit(2);
        sharena_id n;
        if (sharena_root_ensure(a, "child", SHARENA_T_NUMBER, 0, &n, NULL))
            _exit(3);
        _exit(0);
    }
    cr_assert_eq(wait_child(pid), 0);
    sharena_arena_stat st;
    cr_assert_eq(sharena_stat(c, "forky", &st), 0,
                 "parent's connection intact");
    cr_assert_eq(sharena_conn_slot(c), parent_slot);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

/* The broker stops and another starts on another socket (test_broker_stop
 * removes the directory with the state files): clients keep working on the
 * arenas they have mapped (the memory lives as long as a mapping does),
 * their old connection reports the broker gone, and new clients meet again
 * through the new broker, which knows none of the old names. A restart on
 * the same socket keeps them: tests/integration/restart.c. */
Test(broker_restart, mappings_survive_names_do_not, .timeout = 60)
{
    cr_assert_eq(test_broker_start(&B, NULL), 0);
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "kept", 0);
    sharena_id n;
    cr_assert_eq(sharena_root_ensure(a, "n", SHARENA_T_NUMBER, 0, &n, NULL), 0);
    cr_assert_eq(sharena_number_set(a, n, 1), 0);
    cr_assert_eq(test_broker_stop(&B), 0);
    /* the mapping goes on without the broker, locks included */
    double d;
    cr_assert_eq(sharena_number_add(a, n, 1, &d), 0);
    cr_assert_eq(d, 2);
    sharena_arena_stat st;
    int r = sharena_stat(c, "kept", &st);
    cr_assert(r == SHARENA_ECONNREFUSED || r == SHARENA_EPROTO || r == -EPIPE ||
                  r == -ECONNRESET,
              "stat through a dead broker: %s", sharena_strerror(r));
    cr_assert_eq(test_broker_start(&B, NULL), 0);
    sharena_conn *c2 = conn();
    sharena_arena *b;
    cr_assert_eq(sharena_open(c2, "kept", NULL, &b), SHARENA_ENOENT);
    sharena_arena *again = create(c2, "kept", 0);
    cr_assert_eq(sharena_number_add(a, n, 1, &d), 0); /* still the old one */
    cr_assert_eq(d, 3);
    sharena_arena_close(again);
    sharena_disconnect(c2);
    sharena_arena_close(a);
    sharena_disconnect(c);
    cr_assert_eq(test_broker_stop(&B), 0);
}

/* A broker that stops (SIGTERM, SHUTDOWN) leaves the locks of clients that
 * are still alive alone: it used to recover them as if the clients had
 * died, so another process could take a lock whose holder was still
 * writing under it. */
Test(broker_restart, stopping_leaves_live_clients_locks_alone, .timeout = 60)
{
    cr_assert_eq(test_broker_start(&B, NULL), 0);
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "held", 0);
    sharena_id m;
    cr_assert_eq(sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL), 0);
    cr_assert_eq(sharena_lock(a, m), 0);
    struct sharena__slot *s = sharena__slot_at(a, sharena__id_slot(m));
    uint32_t word = __atomic_load_n(&s->lock, __ATOMIC_ACQUIRE);
    cr_assert_eq(word & SHARENA__LOCK_OWNER_MASK, sharena_conn_slot(c));
    cr_assert_eq(test_broker_stop(&B), 0);
    cr_assert_eq(__atomic_load_n(&s->lock, __ATOMIC_ACQUIRE), word,
                 "the broker changed a live client's lock word on its way out");
    /* another process still waits for it (no takeover) */
    pid_t pid = fork();
    if (pid == 0) {
        sharena_arena *b;
        if (sharena_arena_from_fd(sharena_arena_fd(a), 0, &b))
            _exit(1);
        alarm(2); /* it must still be waiting when this fires */
        sharena_map_set_number(b, m, "stolen", 6, 1);
        _exit(2);
    }
    cr_assert_eq(wait_child(pid), 128 + SIGALRM, "the lock was taken over");
    /* the holder finishes its work and lets go */
    cr_assert_eq(sharena_map_set_number(a, m, "mine", 4, 1), 0);
    cr_assert_eq(sharena_unlock(a, m), 0);
    cr_assert_eq(sharena_map_set_number(a, m, "after", 5, 2), 0);
    cr_assert_eq(sharena_fsck(a, 0, NULL, NULL, NULL), 0);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

static int lock_owner_of(void *ctx, const sharena_lock_info *li)
{
    uint32_t *o = ctx;
    if (li->id)
        *o = li->owner;
    return 0;
}

/* DESIGN 3: a forked child gets a slot of its own before its first lock,
 * and the broker attaches it to the arena; the child's locks carry that
 * slot (not LOCAL | pid), and when the child is killed holding one the
 * broker recovers it like any client's. The parent's slot is untouched. */
Test(broker, forked_child_locks_under_a_slot_the_broker_recovers)
{
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "forked-lock", 0);
    uint32_t parent_slot = sharena_conn_slot(c);
    sharena_id m;
    cr_assert_eq(sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL), 0);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        /* no request first: the lock itself must get the slot */
        if (sharena_lock(a, m))
            _exit(1);
        uint32_t slot = sharena_conn_slot(c);
        (void)!write(p[1], &slot, sizeof slot);
        pause(); /* killed holding the lock */
        _exit(0);
    }
    uint32_t child_slot = 0;
    cr_assert_eq(read(p[0], &child_slot, sizeof child_slot),
                 (ssize_t)sizeof child_slot);
    uint32_t owner = 0;
    cr_assert_eq(sharena_locks(a, lock_owner_of, &owner), 0);
    cr_expect_neq(child_slot, parent_slot);
    cr_expect_eq(owner, child_slot, "the lock names the child's slot (%#x)",
                 owner);
    cr_expect_eq(owner & SHARENA_OWNER_LOCAL, 0, "not LOCAL | pid");
    sharena_arena_stat st;
    cr_assert_eq(sharena_stat(c, "forked-lock", &st), 0);
    cr_expect_eq(st.clients, 2, "the broker counts the child as a client");
    kill(pid, SIGKILL);
    cr_assert_eq(wait_child(pid), 128 + SIGKILL);
    /* the broker marks it owner-died when it sees the child's socket close;
     * the parent's next write takes it over */
    cr_assert_eq(sharena_map_set_number(a, m, "after", 5, 1), 0);
    cr_expect_eq(test_broker_wait_clients(c, "forked-lock", 1), 1,
                 "the child's open was released");
    cr_expect_eq(sharena_conn_slot(c), parent_slot);
    close(p[0]);
    close(p[1]);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

/* A forked child that talks to the broker, then disconnects its copy of
 * the connection, still has a usable arena: it locks as LOCAL | pid (no
 * connection to get a slot through), and closing the arena touches no
 * freed connection (ASan would see it). */
Test(broker, forked_child_disconnects_then_locks_and_closes)
{
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "fork-disc", 0);
    sharena_id m;
    cr_assert_eq(sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL), 0);
    pid_t pid = fork();
    if (pid == 0) {
        sharena_arena_stat st;
        if (sharena_stat(c, "fork-disc", &st)) /* a connection of its own */
            _exit(1);
        sharena_disconnect(c);
        if (sharena_map_set_number(a, m, "child", 5, 1))
            _exit(2);
        if (sharena_lock(a, m))
            _exit(3);
        uint32_t owner = 0;
        sharena_locks(a, lock_owner_of, &owner);
        if (!(owner & SHARENA_OWNER_LOCAL))
            _exit(4);
        sharena_unlock(a, m);
        sharena_arena_close(a);
        _exit(0);
    }
    cr_assert_eq(wait_child(pid), 0);
    sharena_id x;
    cr_assert_eq(sharena_map_get(a, m, "child", 5, &x), 0);
    sharena_arena_close(a);
    sharena_disconnect(c);
}
