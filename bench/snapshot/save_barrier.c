/* save_barrier.c: how long writers wait while sharena_save() takes an image
 * of a large arena (docs/locking.md, "Snapshots").
 *
 *   save_barrier [GIB] [FILE]   (default 1 GiB, /tmp/sharena-save-bench.img)
 *
 * Fills GIB GiB of 1 MiB bytes objects with non-zero data in a private arena,
 * runs a writer thread that rewrites 64 bytes of one object in a loop and
 * records its slowest write, and saves the arena three times. Prints the
 * barrier time sharena_save() reports and the writer's longest write. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sharena.h"

static sharena_arena *A;
static sharena_id W;
static volatile int stop;
static volatile int64_t worst_ns;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *writer(void *p)
{
    (void)p;
    uint8_t buf[64];
    for (unsigned long i = 0; !stop; i++) {
        memset(buf, (int)(i & 0xff), sizeof buf);
        int64_t t0 = now_ns();
        sharena_bytes_write(A, W, 0, buf, sizeof buf);
        int64_t d = now_ns() - t0;
        if (d > worst_ns)
            worst_ns = d;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    uint64_t gib = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
    const char *path = argc > 2 ? argv[2] : "/tmp/sharena-save-bench.img";
    uint64_t data = gib << 30;
    int r = sharena_arena_create("bench", data + data / 8 + (64u << 20), &A);
    if (r < 0) {
        fprintf(stderr, "create: %s\n", sharena_strerror(r));
        return 1;
    }
    uint8_t *chunk = malloc(1u << 20);
    memset(chunk, 0x5a, 1u << 20);
    for (uint64_t i = 0; i < data >> 20; i++) {
        sharena_id id;
        if ((r = sharena_bytes_new(A, 1u << 20, &id)) < 0 ||
            (r = sharena_bytes_write(A, id, 0, chunk, 1u << 20)) < 0) {
            fprintf(stderr, "fill: %s\n", sharena_strerror(r));
            return 1;
        }
        if (i == 0)
            W = id;
    }
    pthread_t t;
    pthread_create(&t, NULL, writer, NULL);
    for (int k = 0; k < 3; k++) {
        usleep(100000);
        worst_ns = 0;
        sharena_save_info info;
        int64_t t0 = now_ns();
        r = sharena_save(A, path, &info);
        int64_t total = now_ns() - t0;
        usleep(10000);
        if (r < 0) {
            fprintf(stderr, "save: %s (%s)\n", sharena_strerror(r),
                    sharena_snapshot_message());
            return 1;
        }
        printf("save %d: %.0f MiB in image, barrier %.1f ms (drain %.2f ms), "
               "save with fsync %.1f ms, slowest write %.1f ms\n",
               k, (double)info.image_bytes / (1 << 20),
               (double)info.barrier_ns / 1e6, (double)info.drain_ns / 1e6,
               (double)total / 1e6, (double)worst_ns / 1e6);
    }
    stop = 1;
    pthread_join(t, NULL);
    unlink(path);
    sharena_arena_close(A);
    free(chunk);
    return 0;
}
