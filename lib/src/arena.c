/* arena.c: creating, mapping, validating and closing arenas. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif
#ifndef MFD_ALLOW_SEALING
#define MFD_ALLOW_SEALING 0x0002U
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_GET_SEALS 1034
#endif
#ifndef F_SEAL_SEAL
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#endif

#define REQUIRED_SEALS (F_SEAL_SHRINK | F_SEAL_GROW)

/* A hash of every on-arena size and offset: two builds that disagree on the
 * layout disagree on this number and refuse each other's arenas. */
uint64_t sharena_layout_hash(void)
{
    static const uint64_t facts[] = {
        SHARENA__FORMAT_VERSION,
        SHARENA__HDR_SIZE,
        sizeof(struct sharena__header),
        offsetof(struct sharena__header, layout_hash),
        offsetof(struct sharena__header, capacity),
        offsetof(struct sharena__header, heap_start),
        offsetof(struct sharena__header, name),
        offsetof(struct sharena__header, roots_id),
        offsetof(struct sharena__header, changes),
        offsetof(struct sharena__header, arena_lock),
        offsetof(struct sharena__header, slot_count),
        offsetof(struct sharena__header, slot_free_head),
        offsetof(struct sharena__header, fl_bitmap),
        offsetof(struct sharena__header, slot_chunks),
        offsetof(struct sharena__header, sl_bitmap),
        offsetof(struct sharena__header, free_heads),
        offsetof(struct sharena__header, live_slots),
        offsetof(struct sharena__header, slots_managed),
        SHARENA__MAX_BROKER_SLOTS,
        SHARENA__SL_LOG2,
        SHARENA__FL_COUNT,
        SHARENA__SLOT_CHUNK0,
        SHARENA__SLOT_CHUNKS,
        SHARENA__GEN_BITS,
        sizeof(struct sharena__slot),
        offsetof(struct sharena__slot, gen),
        offsetof(struct sharena__slot, lock),
        offsetof(struct sharena__slot, seq),
        offsetof(struct sharena__slot, type),
        offsetof(struct sharena__slot, waiters),
        SHARENA__LOCK_LOCAL,
        SHARENA__LOCK_WAITERS,
        SHARENA__LOCK_DIED,
        sizeof(struct sharena__block),
        sizeof(struct sharena__string),
        sizeof(struct sharena__bytes),
        sizeof(struct sharena__map_entry),
        sizeof(struct sharena__map),
        sizeof(struct sharena__key),
        SHARENA__MAP_MIN_CAP,
        SHARENA__KEY_INLINE_MAX,
        SHARENA__VALUE_INLINE_MAX,
        SHARENA__V_COUNT,
        SHARENA__ITEM_TAG_MASK,
        sizeof(struct sharena__vector),
        sizeof(struct sharena__field),
        offsetof(struct sharena__field, size),
        offsetof(struct sharena__field, name),
        offsetof(struct sharena__field, flags),
        SHARENA__STRUCT_SIZE(1),
        sizeof(struct sharena__shape),
        sizeof(struct sharena__struct),
        SHARENA_T__COUNT,
    };
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < sizeof facts / sizeof facts[0]; i++) {
        for (int b = 0; b < 8; b++) {
            h ^= (facts[i] >> (8 * b)) & 0xff;
            h *= UINT64_C(0x100000001b3);
        }
    }
    return h;
}

int sharena__arena_format(sharena_arena *a, const char *name)
{
    struct sharena__header *h = sharena__hdr(a);
    memset(h, 0, sizeof *h);
    memcpy(h->magic, SHARENA__MAGIC, 8);
    h->format_version = SHARENA__FORMAT_VERSION;
    h->header_size = SHARENA__HDR_SIZE;
    h->layout_hash = sharena_layout_hash();
    h->capacity = a->size;
    uint64_t created = sharena__now_ns();
    h->created_ns = created;
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != sizeof seed)
        seed = created ^ ((uint64_t)getpid() << 32);
    h->hash_seed = seed;
    h->heap_start = SHARENA__HDR_SIZE;
    h->heap_end = a->size;
    snprintf(h->name, sizeof h->name, "%s", name);
    h->slot_count = 1; /* slot 0 is never used: id 0 means none */
    h->lock_clock = sharena__clock_now();
    /* (the handle's copies come from what was meant, not read back) */
    a->heap_start = SHARENA__HDR_SIZE;
    a->heap_end = a->size;
    a->hash_seed = seed;
    sharena__alloc_init(a);
    sharena_id roots;
    int r = sharena_map_new(a, &roots);
    if (r < 0)
        return r;
    h->roots_id = roots;
    return 0;
}

static int page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (int)p : 4096;
}

static int map_fd(int fd, uint64_t size, bool readonly, sharena_arena **out)
{
    sharena_arena *a = calloc(1, sizeof *a);
    if (!a)
        return SHARENA_ENOMEM;
    int prot = PROT_READ | (readonly ? 0 : PROT_WRITE);
    void *p = mmap(NULL, size, prot, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) {
        int e = -errno;
        free(a);
        return e;
    }
    struct stat st;
    a->ino = fstat(fd, &st) == 0 ? (uint64_t)st.st_ino : 0;
    a->base = p;
    a->size = size;
    a->fd = fd;
    a->readonly = readonly;
    *out = a;
    return 0;
}

int sharena_arena_create(const char *name, uint64_t capacity,
                         sharena_arena **out)
{
    if (!out)
        return SHARENA_EINVAL;
    int r = sharena__check_name(name);
    if (r < 0)
        return r;
    if (capacity == 0)
        capacity = SHARENA_DEFAULT_CAPACITY;
    if (capacity < SHARENA_MIN_CAPACITY || capacity > SHARENA_MAX_CAPACITY)
        return SHARENA_EINVAL;
    uint64_t ps = (uint64_t)page_size();
    capacity = (capacity + ps - 1) & ~(ps - 1);

    char mname[SHARENA_NAME_MAX + 16];
    snprintf(mname, sizeof mname, "sharena:%s", name);
    int fd = memfd_create(mname,
                          MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
    if (fd < 0 && errno == EINVAL) /* kernel older than 6.3 */
        fd = memfd_create(mname, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -errno;
    /* A memfd is born 0777 (0666 with NOEXEC_SEAL): anyone holding a
     * read-only descriptor could reopen /proc/self/fd/N read-write. Mode
     * 0400 leaves that reopen to no one but root; read-write descriptors
     * only ever come from the creator (the broker). */
    if (fchmod(fd, 0400) < 0) {
        r = -errno;
        close(fd);
        return r;
    }
    if (ftruncate(fd, (off_t)capacity) < 0) {
        r = -errno;
        close(fd);
        return r;
    }
    sharena_arena *a = NULL;
    r = map_fd(fd, capacity, false, &a);
    if (r < 0) {
        close(fd);
        return r;
    }
    r = sharena__arena_format(a, name);
    if (r == 0 &&
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
        r = -errno;
    if (r < 0) {
        sharena_arena_close(a);
        return r;
    }
    snprintf(a->name, sizeof a->name, "%s", name);
    a->created = true; /* sharena_arena_open_info() */
    *out = a;
    return 0;
}

/* Validate a mapped header; fill the handle's trusted copies. Each field is
 * loaded once; the handle keeps the checked values (heap bounds from the
 * mapping itself, the hash seed as read here), and nothing reads these
 * header fields again: a peer that changes them later changes nothing. */
static int check_header(sharena_arena *a)
{
    struct sharena__header *h = sharena__hdr(a);
    char magic[8], name[sizeof h->name];
    sharena__rcopy(magic, h->magic, sizeof magic);
    if (memcmp(magic, SHARENA__MAGIC, 8) != 0)
        return SHARENA_ELAYOUT;
    uint32_t version = SHARENA__LD(h->format_version);
    (void)sharena__layout_refused(0);
    if (version != SHARENA__FORMAT_VERSION)
        return sharena__layout_refused(version);
    if (SHARENA__LD(h->header_size) != SHARENA__HDR_SIZE ||
        SHARENA__LD(h->layout_hash) != sharena_layout_hash())
        return SHARENA_ELAYOUT;
    if (SHARENA__LD(h->capacity) != a->size ||
        SHARENA__LD(h->heap_start) != SHARENA__HDR_SIZE ||
        SHARENA__LD(h->heap_end) != a->size)
        return SHARENA_ECORRUPT;
    sharena__rcopy(name, h->name, sizeof name); /* one copy, then checked */
    size_t nl = strnlen(name, sizeof name);
    if (nl >= sizeof name)
        return SHARENA_ECORRUPT;
    memcpy(a->name, name, nl < SHARENA_NAME_MAX ? nl : SHARENA_NAME_MAX);
    a->heap_start = SHARENA__HDR_SIZE;
    a->heap_end = a->size;
    a->hash_seed = SHARENA__LD(h->hash_seed);
    return 0;
}

int sharena__arena_map(int fd, unsigned flags, sharena_arena **out)
{
    if (fd < 0 || !out)
        return SHARENA_EBADF;
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0)
        return errno == EINVAL ? SHARENA_EUNSEALED : -errno;
    if ((seals & REQUIRED_SEALS) != REQUIRED_SEALS)
        return SHARENA_EUNSEALED;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    uint64_t size = (uint64_t)st.st_size;
    if (size < SHARENA_MIN_CAPACITY || size > SHARENA_MAX_CAPACITY ||
        size % (uint64_t)page_size())
        return SHARENA_ECORRUPT;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    bool readonly = (flags & SHARENA_READONLY) || (fl & O_ACCMODE) == O_RDONLY;
    int own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (own < 0)
        return -errno;
    sharena_arena *a = NULL;
    int r = map_fd(own, size, readonly, &a);
    if (r < 0) {
        close(own);
        return r;
    }
    r = check_header(a);
    if (r < 0) {
        sharena_arena_close(a);
        return r;
    }
    if (!readonly)
        sharena_clock_tick(a);
    *out = a;
    return 0;
}

int sharena_arena_from_fd(int fd, sharena_open_flags flags, sharena_arena **out)
{
    return sharena__arena_map(fd, flags, out);
}

/* Provided by client.c when the broker client is linked in. */
__attribute__((weak)) void sharena__conn_arena_closed(sharena_conn *c,
                                                      sharena_arena *a)
{
    (void)c;
    (void)a;
}
__attribute__((weak)) void sharena__conn_reslot(sharena_arena *a)
{
    __atomic_store_n(&a->owner, 0, __ATOMIC_RELAXED);
}

void sharena_arena_close(sharena_arena *a)
{
    if (!a)
        return;
    sharena__wake_closing(a);
    if (a->conn)
        sharena__conn_arena_closed(a->conn, a);
    if (a->base)
        munmap(a->base, a->size);
    if (a->fd >= 0)
        close(a->fd);
    free(a);
}

int sharena_arena_fd(const sharena_arena *a)
{
    return a ? a->fd : SHARENA_EINVAL;
}

const char *sharena_arena_name(const sharena_arena *a)
{
    return a ? a->name : "";
}

bool sharena_arena_readonly(const sharena_arena *a)
{
    return a && a->readonly;
}

void *sharena_arena_base(const sharena_arena *a)
{
    return a ? a->base : NULL;
}

int sharena_arena_info_get(const sharena_arena *a, sharena_arena_info *out)
{
    if (!a || !out)
        return SHARENA_EINVAL;
    const struct sharena__header *h = sharena__hdr(a);
    memset(out, 0, sizeof *out);
    memcpy(out->name, a->name, sizeof out->name);
    out->format_version = SHARENA__LD(h->format_version);
    out->layout_hash = SHARENA__LD(h->layout_hash);
    out->capacity = a->size;
    out->heap_bytes = a->heap_end - a->heap_start;
    /* counters any writer can set: clamped to what the heap can hold, so
     * that no size handed back exceeds the mapping */
    uint64_t used = SHARENA__LD(h->used_bytes);
    uint64_t objects = SHARENA__LD(h->live_objects);
    out->used_bytes = used < out->heap_bytes ? used : out->heap_bytes;
    out->objects = objects < out->heap_bytes / sizeof(struct sharena__slot)
                       ? objects
                       : out->heap_bytes / sizeof(struct sharena__slot);
    out->created_ns = SHARENA__LD(h->created_ns);
    out->changes = __atomic_load_n(&h->changes, __ATOMIC_RELAXED);
    out->readonly = a->readonly;
    return 0;
}
