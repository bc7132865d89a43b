/* Map of numbers at 1M and 4M keys, through the public C API only, so that
 * the same source builds against an earlier revision too (the C benchmark's
 * map rows store ids; this one stores numbers, which format 4 keeps in the
 * map entry and earlier formats made number objects of).
 *
 *   map_numbers N [PASSES]
 *
 * A fresh local arena; N keys `key:NNNNNNNNNNN` (15 bytes) inserted in key
 * order with sharena_map_set_number() (insert, growth included, ns/key);
 * then PASSES (default 3) timed passes of up to 2M lookups each in a random
 * order with sharena_map_get_value() (get), and of sharena_map_set_number()
 * on existing keys (set): the best pass of each. One JSON line per op.
 * Built and run against two trees by bench/compare-numbers.sh. */
#define _GNU_SOURCE
#include "sharena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KLEN 15

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int r)
{
    fprintf(stderr, "map_numbers: %s: %d\n", what, r);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        die("usage: map_numbers N [PASSES]", 0);
    uint64_t n = strtoull(argv[1], NULL, 10);
    int passes = argc > 2 ? atoi(argv[2]) : 3;
    if (n < 1 || n > (1u << 26) || passes < 1)
        die("bad arguments", 0);
    char *keys = malloc(n * 16);
    uint32_t *order = malloc(n * sizeof(*order));
    if (!keys || !order)
        die("out of memory", 0);
    for (uint64_t i = 0; i < n; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "key:%011llu", (unsigned long long)i);
        memcpy(keys + i * 16, buf, 16);
        order[i] = (uint32_t)i;
    }
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (uint64_t i = n - 1; i > 0; i--) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        uint64_t j = s % (i + 1);
        uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    sharena_arena *a;
    int r = sharena_arena_create("map_numbers", (uint64_t)1 << 33, &a);
    if (r < 0)
        die("arena_create", r);
    sharena_id m;
    if ((r = sharena_map_new(a, &m)) < 0)
        die("map_new", r);
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; i++)
        if ((r = sharena_map_set_number(a, m, keys + i * 16, KLEN,
                                        (double)i * 0.5)) < 0)
            die("map_set_number", r);
    double ins = (double)(now_ns() - t0) / (double)n;
    uint64_t probes = n < 2000000 ? n : 2000000;
    double get = 1e18, set = 1e18, acc = 0;
    for (int p = 0; p < passes; p++) {
        t0 = now_ns();
        for (uint64_t i = 0; i < probes; i++) {
            sharena_value v;
            if ((r = sharena_map_get_value(a, m, keys + order[i] * 16u, KLEN,
                                           NULL, 0, &v)) < 0)
                die("map_get_value", r);
            acc += v.number;
        }
        double g = (double)(now_ns() - t0) / (double)probes;
        get = g < get ? g : get;
        t0 = now_ns();
        for (uint64_t i = 0; i < probes; i++)
            if ((r = sharena_map_set_number(a, m, keys + order[i] * 16u, KLEN,
                                            (double)i)) < 0)
                die("map_set_number", r);
        double st = (double)(now_ns() - t0) / (double)probes;
        set = st < set ? st : set;
    }
    printf("{\"op\":\"insert\",\"n\":%llu,\"ns_per_op\":%.1f}\n",
           (unsigned long long)n, ins);
    printf("{\"op\":\"get\",\"n\":%llu,\"ns_per_op\":%.1f}\n",
           (unsigned long long)n, get);
    printf("{\"op\":\"set\",\"n\":%llu,\"ns_per_op\":%.1f}\n",
           (unsigned long long)n, set);
    fprintf(stderr, "(checksum %g)\n", acc);
    sharena_arena_close(a);
    free(keys);
    free(order);
    return 0;
}
