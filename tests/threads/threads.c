/* threads.c: threads of one process sharing one arena handle: counters,
 * distinct map inserts, readers racing writers, waits. A plain program (not
 * Criterion, whose runner does not work under TSan) so that scripts/test.sh
 * runs it in the ThreadSanitizer build too. Prints "N passed, N failed". */
#include "sharena.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define THREADS 4
#define ROUNDS 20000

static int passed, failed;
#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (cond) {                                                            \
            passed++;                                                          \
        } else {                                                               \
            failed++;                                                          \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);               \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
        }                                                                      \
    } while (0)
#define REQUIRE(cond)                                                          \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "FATAL %s:%d: %s\n", __FILE__, __LINE__, #cond);   \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

static sharena_arena *arena;
static sharena_id counter, map, str;
static bool stop; /* atomic accesses only */

static void *adder(void *arg)
{
    long t = (long)arg;
    for (int i = 0; i < ROUNDS; i++) {
        char k[32];
        int n = sprintf(k, "t%ld-%d", t, i % 1000);
        if (sharena_number_add(arena, counter, 1, NULL) != 0 ||
            sharena_map_set_number(arena, map, k, (size_t)n, i) != 0)
            return (void *)1;
    }
    return NULL;
}

static void *string_writer(void *arg)
{
    (void)arg;
    static char big[3000];
    memset(big, 'b', sizeof big - 1);
    for (int i = 0; i < ROUNDS; i++) {
        const char *s = i % 2 ? "aaaa" : big;
        if (sharena_string_set(arena, str, s, strlen(s)) != 0)
            return (void *)1;
    }
    __atomic_store_n(&stop, true, __ATOMIC_RELEASE);
    return NULL;
}

static void *string_reader(void *arg)
{
    (void)arg;
    static __thread char buf[4096];
    long torn = 0;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        size_t len;
        if (sharena_string_get(arena, str, buf, sizeof buf, &len) != 0)
            return (void *)2;
        bool a = len == 4 && strcmp(buf, "aaaa") == 0;
        bool b = len == 2999 && buf[0] == 'b' && buf[2998] == 'b';
        if (!a && !b && len != 0)
            torn++;
    }
    return (void *)torn;
}

static void shared_handle_loses_nothing(void)
{
    REQUIRE(sharena_arena_create("threads", 256u << 20, &arena) == 0);
    REQUIRE(sharena_number_new(arena, 0, &counter) == 0);
    REQUIRE(sharena_map_new(arena, &map) == 0);
    REQUIRE(sharena_string_new(arena, "", 0, &str) == 0);
    pthread_t t[THREADS + 2];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, adder, (void *)i);
    pthread_create(&t[THREADS], NULL, string_writer, NULL);
    pthread_create(&t[THREADS + 1], NULL, string_reader, NULL);
    for (int i = 0; i < THREADS + 2; i++) {
        void *rv;
        pthread_join(t[i], &rv);
        CHECK(rv == NULL, "thread %d returned %p (torn reads or errors)", i,
              rv);
    }
    double d;
    REQUIRE(sharena_number_get(arena, counter, &d) == 0);
    CHECK(d == THREADS * ROUNDS, "counter %.0f", d);
    uint64_t n;
    REQUIRE(sharena_map_len(arena, map, &n) == 0);
    CHECK(n == THREADS * 1000, "map has %lu keys", (unsigned long)n);
    sharena_fsck_report rep;
    CHECK(sharena_fsck(arena, 0, NULL, NULL, &rep) == 0, "fsck clean");
    sharena_arena_close(arena);
}

static void *waiter(void *arg)
{
    /* version first, then value: a change after the read wakes us */
    uint64_t v = 0;
    sharena_change_count(arena, counter, &v);
    double d = 0;
    sharena_number_get(arena, counter, &d);
    while (d < ROUNDS) {
        int r = sharena_wait(arena, counter, v, 5000000000ll, &v);
        if (r != 0)
            return (void *)(long)-r;
        sharena_number_get(arena, counter, &d);
    }
    return NULL;
}

static void waiters_see_the_last_change(void)
{
    REQUIRE(sharena_arena_create("threads", 0, &arena) == 0);
    REQUIRE(sharena_number_new(arena, 0, &counter) == 0);
    pthread_t w[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&w[i], NULL, waiter, NULL);
    for (int i = 0; i < ROUNDS; i++)
        REQUIRE(sharena_number_add(arena, counter, 1, NULL) == 0);
    for (int i = 0; i < 2; i++) {
        void *rv;
        pthread_join(w[i], &rv);
        CHECK(rv == NULL, "waiter ended with error %ld", (long)rv);
    }
    sharena_arena_close(arena);
}

int main(void)
{
    shared_handle_loses_nothing();
    waiters_see_the_last_change();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
