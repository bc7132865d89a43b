/* test_util.h: small helpers the C tests share. Header only (static inline),
 * so that a test program needs no library for them; include it as
 * "../support/test_util.h" from a test directory. */
#ifndef SHARENA_TEST_UTIL_H
#define SHARENA_TEST_UTIL_H

#include <stdint.h>
#include <time.h>

/* Seconds on CLOCK_MONOTONIC: for bounding a test's loops in time (never
 * for asserting how long something took). */
static inline double test_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64*: the next number from *state (never 0), the same sequence
 * for a seed on every machine, so a failing seed can be run again. */
static inline uint64_t test_xorshift(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * UINT64_C(2685821657736338717);
}

#endif
