/* fuzz_load_hook.c: sharena__fuzz_load() for a SHARENA_FUZZ_LOADS build
 * (cmake -DSHARENA_FUZZ_LOADS=ON; compiled into the library then, and only
 * then). lib/src/internal.h routes every SHARENA__LD through it: with
 * probability $SHARENA_FUZZ_LOADS_RATE (default 0: off; e.g. 0.01) a load
 * returns a mutated value instead of what memory held (a bit flipped, 0,
 * all ones, a small or a huge value, off by 16 either way, random bits),
 * as a peer writing between a check and a use would make a second read
 * return. Code that loads a field once, validates the local and uses only
 * the local never notices more than a corrupt arena; code that reads again
 * after its check does. Thread-safe: each thread has its own PRNG, seeded
 * from $SHARENA_FUZZ_LOADS_SEED (default 1) and the order in which threads
 * made their first load, so a single-threaded run is reproducible.
 * tests/fuzz/fuzz_loads.c drives it. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

uint64_t sharena__fuzz_load(uint64_t v, unsigned size);
void sharena__fuzz_load_stats(uint64_t *loads, uint64_t *mutated);
void sharena__fuzz_load_pause(int on);

static uint64_t threshold; /* P(mutation) * 2^64 */
static uint64_t seed = 1;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static uint64_t threads, loads_seen, loads_mutated;

static void setup(void)
{
    const char *e = getenv("SHARENA_FUZZ_LOADS_RATE");
    double p = e && *e ? strtod(e, NULL) : 0;
    if (p >= 1)
        threshold = UINT64_MAX;
    else if (p > 0)
        threshold = (uint64_t)(p * 18446744073709551616.0);
    e = getenv("SHARENA_FUZZ_LOADS_SEED");
    if (e && *e)
        seed = strtoull(e, NULL, 0);
}

static __thread uint64_t state;
/* set while the driver makes the arena it then fuzzes: creation reads back
 * what it wrote, and an arena that never came to be tests nothing */
static __thread int paused;

void sharena__fuzz_load_pause(int on)
{
    paused = on;
}

static uint64_t next(void)
{
    /* splitmix64 */
    uint64_t z = (state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

uint64_t sharena__fuzz_load(uint64_t v, unsigned size)
{
    if (__builtin_expect(!state, 0)) {
        pthread_once(&once, setup);
        uint64_t n = __atomic_add_fetch(&threads, 1, __ATOMIC_RELAXED);
        state = seed * UINT64_C(0x2545F4914F6CDD1D) + n;
        if (!state)
            state = 1;
    }
    __atomic_add_fetch(&loads_seen, 1, __ATOMIC_RELAXED);
    if (!threshold || paused || next() >= threshold)
        return v;
    __atomic_add_fetch(&loads_mutated, 1, __ATOMIC_RELAXED);
    uint64_t r = next(), m;
    unsigned bits = size >= 8 ? 64 : size * 8;
    switch (r % 10) {
    case 0:
        m = v ^ (UINT64_C(1) << ((r >> 8) % bits));
        break;
    case 1:
        m = 0;
        break;
    case 2:
        m = UINT64_MAX;
        break;
    case 3:
        m = 1 + (r >> 8) % 16;
        break; /* small */
    case 4:
        m = UINT64_C(1) << (30 + (r >> 8) % 34); /* huge */
        break;
    case 5:
        m = v + 16;
        break;
    case 6:
        m = v - 16;
        break;
    case 7:
        m = v + 1;
        break;
    case 8:
        m = UINT64_MAX - (r >> 8) % 64;
        break;
    default:
        m = next();
        break;
    }
    if (bits < 64)
        m &= (UINT64_C(1) << bits) - 1;
    return m;
}

/* Loads seen and loads mutated so far (all threads). */
void sharena__fuzz_load_stats(uint64_t *loads, uint64_t *mutated)
{
    *loads = __atomic_load_n(&loads_seen, __ATOMIC_RELAXED);
    *mutated = __atomic_load_n(&loads_mutated, __ATOMIC_RELAXED);
}
