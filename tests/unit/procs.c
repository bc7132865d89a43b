/* Unit tests with processes sharing one arena by fork: atomic adds and
 * distinct inserts lose nothing; a reader never sees a torn string. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sharena.h"
#include "sharena_broker.h"

static void join_all(pid_t *pids, int n)
{
    for (int i = 0; i < n; i++) {
        int st;
        cr_assert_eq(waitpid(pids[i], &st, 0), pids[i]);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d: status %d",
                  i, st);
    }
}

Test(procs, four_processes_add_and_insert_lose_nothing, .timeout = 240)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("procs", 64 << 20, &a), 0);
    sharena_id n, m;
    cr_assert_eq(sharena_root_ensure(a, "n", SHARENA_T_NUMBER, 0, &n, NULL), 0);
    cr_assert_eq(sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL), 0);
    pid_t pids[4];
    for (int w = 0; w < 4; w++) {
        pids[w] = fork();
        if (pids[w] == 0) {
            for (int i = 0; i < 100000; i++)
                if (sharena_number_add(a, n, 1, NULL))
                    _exit(1);
            for (int i = 0; i < 25000; i++) {
                char k[32];
                int len = snprintf(k, sizeof k, "w%d.%d", w, i);
                if (sharena_map_set_number(a, m, k, (size_t)len, i))
                    _exit(2);
            }
            _exit(0);
        }
    }
    join_all(pids, 4);
    double d;
    uint64_t len;
    cr_assert_eq(sharena_number_get(a, n, &d), 0);
    cr_assert_eq(d, 400000);
    cr_assert_eq(sharena_map_len(a, m, &len), 0);
    cr_assert_eq(len, 100000);
    sharena_fsck_report rep;
    cr_assert_eq(sharena_fsck(a, 0, NULL, NULL, &rep), 0);
    sharena_arena_close(a);
}

/* Writers alternate a string between two texts of different lengths; a
 * reader process checks that every read is one of them, whole. */
Test(procs, readers_never_see_torn_strings, .timeout = 120)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("torn", 16 << 20, &a), 0);
    static char t1[300], t2[3000];
    memset(t1, 'a', sizeof t1 - 1);
    memset(t2, 'b', sizeof t2 - 1);
    sharena_id s, done;
    cr_assert_eq(sharena_root_ensure(a, "s", SHARENA_T_STRING, 0, &s, NULL), 0);
    cr_assert_eq(sharena_string_set(a, s, t1, strlen(t1)), 0);
    cr_assert_eq(
        sharena_root_ensure(a, "done", SHARENA_T_NUMBER, 0, &done, NULL), 0);
    pid_t pids[3];
    for (int w = 0; w < 2; w++) {
        pids[w] = fork();
        if (pids[w] == 0) {
            for (int i = 0; i < 20000; i++) {
                const char *t = (i + w) % 2 ? t1 : t2;
                if (sharena_string_set(a, s, t, strlen(t)))
                    _exit(1);
            }
            sharena_number_add(a, done, 1, NULL);
            _exit(0);
        }
    }
    pids[2] = fork();
    if (pids[2] == 0) {
        static char buf[4096];
        long reads = 0;
        double d = 0;
        while (sharena_number_get(a, done, &d) == 0 && d < 2) {
            size_t len;
            int r = sharena_string_get(a, s, buf, sizeof buf, &len);
            if (r == SHARENA_EBUSY)
                continue;
            if (r)
                _exit(3);
            buf[len] = 0;
            if (strcmp(buf, t1) != 0 && strcmp(buf, t2) != 0)
                _exit(4); /* torn */
            reads++;
        }
        _exit(reads > 0 ? 0 : 5);
    }
    join_all(pids, 3);
    sharena_arena_close(a);
}

static int first_lock(void *ctx, const sharena_lock_info *info)
{
    *(sharena_lock_info *)ctx = *info;
    return 1;
}

/* Hold times without a broker: the lock clock is set when an arena is made
 * or opened read-write and advanced by waiters, so a held lock reports a
 * known duration that is an upper bound (held_exact stays false), and a
 * waiter that slept moves the clock on. */
Test(procs, local_lock_hold_time_is_an_upper_bound, .timeout = 60)
{
    sharena_arena *a;
    cr_assert_eq(sharena_arena_create("holdtime", 1 << 20, &a), 0);
    sharena_id n;
    cr_assert_eq(sharena_number_new(a, 1, &n), 0);
    cr_assert_eq(sharena_lock(a, n), 0);
    sharena_lock_info li;
    cr_assert_eq(sharena_locks(a, first_lock, &li), 1);
    cr_assert_eq(li.id, n);
    cr_assert(li.held_known);
    cr_assert(!li.held_exact, "no broker keeps this arena's clock");
    cr_assert_lt(li.held_s, 5);
    cr_assert_eq(li.pid, (uint32_t)getpid());
    pid_t pid = fork();
    if (pid == 0) {
        /* waits on the parent's lock; released after ~1.5 s */
        _exit(sharena_number_add(a, n, 1, NULL) == 0 ? 0 : 1);
    }
    usleep(1500 * 1000);
    cr_assert_eq(sharena_locks(a, first_lock, &li), 1);
    cr_assert_geq(li.held_s, 1, "held for 1.5 s: %u", li.held_s);
    cr_assert(li.waiters);
    cr_assert_eq(sharena_unlock(a, n), 0);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_eq(sharena_clock_tick(a), 0);
    cr_assert_eq(sharena_clock_tick(NULL), SHARENA_EINVAL);
    sharena_arena_close(a);
}
