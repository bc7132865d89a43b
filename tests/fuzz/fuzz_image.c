/* fuzz_image.c: a random byte image opened as an arena. The input is
 * written at the start of a sealed memfd of the minimum capacity (the rest
 * zero); opening must refuse it (ELAYOUT, ECORRUPT, ...) or give an arena
 * on which reads, fsck and fsck --repair never crash or hang. */
#include "common.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void null_line(void *ctx, const char *line)
{
    (void)ctx;
    (void)line;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t cap = SHARENA_MIN_CAPACITY;
    int fd = memfd_create("fuzz-image", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0 || ftruncate(fd, (off_t)cap) < 0)
        abort();
    if (size > cap)
        size = cap;
    if (size && pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
        abort();
    sharena_arena *a;
    if (sharena_arena_from_fd(fd, 0, &a) == 0) {
        fuzz_walk_roots(a);
        sharena_fsck_report rep;
        sharena_fsck(a, 0, null_line, NULL, &rep);
        sharena_fsck(a, SHARENA_FSCK_REPAIR, null_line, NULL, &rep);
        fuzz_walk_roots(a);
        sharena_arena_close(a);
    }
    close(fd);
    return 0;
}
