/* Unit tests with processes sharing one arena by fork: atomic adds and
 * distinct inserts lose nothing; a reader never sees a torn string. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sharena.h"

static void join_all(pid_t *pids, int n)
{
    for (int i = 0; i < n; i++) {
        int st;
        cr_assert_eq(waitpid(pids[i], &st, 0), pids[i]);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d: status %d", i, st);
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
    cr_assert_eq(sharena_root_ensure(a, "done", SHARENA_T_NUMBER, 0, &done, NULL), 0);
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
