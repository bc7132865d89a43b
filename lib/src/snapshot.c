/* snapshot.c: arena images (sharena_save, sharena_load; docs/format.md,
 * "Snapshot images").
 *
 * An image is a 128-byte header, then runs of the arena's non-zero pages
 * ({offset, length} and the bytes), an end mark, and a trailer with a 64-bit
 * hash of everything between header and trailer. Only pages that hold data
 * are read (SEEK_DATA/SEEK_HOLE on the memfd: untouched pages of a large
 * arena are neither read, which would allocate them, nor written).
 *
 * save takes the image under the save barrier (lock.c): object writers wait,
 * readers do not; the arena lock keeps the allocator still. load checks the
 * whole image before it creates anything, creates the arena exclusively,
 * copies the image in, gives the arena its own identity back, clears every
 * lock word, and runs fsck as it would on a hostile arena: any problem and
 * the arena is deleted again. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SNAP_MAGIC "SHARSNAP"
#define SNAP_VERSION 1u
#define SNAP_PAGE 4096u
#define SNAP_BUF (1u << 20)
#define SNAP_END UINT64_MAX /* run offset of the end mark */

struct snap_header {
    char magic[8];           /* "SHARSNAP" */
    uint32_t image_version;  /* SNAP_VERSION */
    uint32_t header_size;    /* sizeof(struct snap_header) */
    uint32_t format_version; /* the arena's SHARENA__FORMAT_VERSION */
    uint32_t reserved0;
    uint64_t layout_hash; /* sharena_layout_hash() of the saver */
    uint64_t capacity;
    uint64_t used_bytes; /* header copies, for `sharena load` to show */
    uint64_t live_objects;
    uint64_t saved_ns; /* CLOCK_REALTIME */
    uint64_t reserved[7];
    uint64_t header_hash; /* snap_hash of the 120 bytes before */
};
_Static_assert(sizeof(struct snap_header) == 128, "snap header");

struct snap_run {
    uint64_t offset; /* SNAP_END: the end mark */
    uint64_t len;
};

struct snap_trailer {
    uint64_t runs;
    uint64_t body_bytes; /* run headers, bytes and the end mark */
    uint64_t body_hash;
    char magic[8]; /* "SNAPEND\0" */
};
_Static_assert(sizeof(struct snap_trailer) == 32, "snap trailer");

static __thread char snap_msg[256];

const char *sharena_snapshot_message(void)
{
    return snap_msg;
}

__attribute__((format(printf, 2, 3))) static int fail(int r, const char *fmt,
                                                      ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(snap_msg, sizeof snap_msg, fmt, ap);
    va_end(ap);
    return r;
}

/* A 64-bit multiply-xorshift hash over 8-byte words (every length hashed is
 * a multiple of 8). Not cryptographic: it catches damage, not forgery, and
 * a forged image meets fsck anyway. */
#define SNAP_SEED UINT64_C(0x736861726e617631)
static uint64_t snap_hash(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = (h ^ w) * UINT64_C(0x9e3779b97f4a7c15);
        h ^= h >> 31;
    }
    return h;
}

static int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* 1: n bytes read; 0: end of file first (truncated); <0: error */
static int read_all(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    while (n) {
        ssize_t r = read(fd, b, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            return 0;
        b += r;
        n -= (size_t)r;
    }
    return 1;
}

static bool page_zero(const uint8_t *p)
{
    uint64_t acc = 0;
    for (unsigned i = 0; i < SNAP_PAGE; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        acc |= w;
    }
    return acc == 0;
}

/* Next range of [from, size) that may hold data (tmpfs knows its holes);
 * 0 when there is none. */
static int next_data(int fd, uint64_t from, uint64_t size, uint64_t *start,
                     uint64_t *end)
{
    if (from >= size)
        return 0;
    off_t d = lseek(fd, (off_t)from, SEEK_DATA);
    if (d < 0) {
        if (errno == ENXIO)
            return 0;
        *start = from; /* no hole information: read everything */
        *end = size;
        return 1;
    }
    off_t e = lseek(fd, d, SEEK_HOLE);
    uint64_t ue = e < 0 ? size : (uint64_t)e;
    *start = (uint64_t)d & ~(uint64_t)(SNAP_PAGE - 1);
    *end = ue > size ? size : (ue + SNAP_PAGE - 1) & ~(uint64_t)(SNAP_PAGE - 1);
    if (*end > size)
        *end = size;
    return *start < *end;
}

struct save_ctx {
    int fd;
    uint64_t hash, body, runs, bytes;
};

static int emit_run(struct save_ctx *c, uint64_t off, const uint8_t *p,
                    uint64_t len)
{
    struct snap_run run = {off, len};
    c->hash = snap_hash(c->hash, &run, sizeof run);
    c->hash = snap_hash(c->hash, p, len);
    int r = write_all(c->fd, &run, sizeof run);
    if (r == 0)
        r = write_all(c->fd, p, len);
    c->body += sizeof run + len;
    c->runs++;
    c->bytes += len;
    return r;
}

/* The arena's data pages, copied under the barrier: writers wait only for
 * the copy, not for the hashing and the file system. */
struct snap_copy {
    struct {
        uint64_t off, len, at; /* arena offset, bytes, offset in buf */
    } * ext;
    size_t n;
    uint8_t *buf;
    uint64_t size; /* of buf */
    uint64_t total;
    struct snap_header sh;
};

/* Before the barrier: a buffer the size of the data pages now, and a
 * little more, faulted in, so that the copy under the barrier is a copy. */
static void copy_prepare(sharena_arena *a, struct snap_copy *cp)
{
    uint64_t total = 0, from = 0, start, end;
    while (next_data(a->fd, from, a->size, &start, &end) > 0) {
        total += end - start;
        from = end;
    }
    total += total / 16 + (UINT64_C(2) << 20);
    void *p = mmap(NULL, total, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return; /* made under the barrier then */
    madvise(p, total, MADV_HUGEPAGE);
    for (uint64_t o = 0; o < total; o += SNAP_PAGE)
        ((volatile uint8_t *)p)[o] = 0;
    cp->buf = p;
    cp->size = total;
}

static int copy_locked(sharena_arena *a, struct snap_copy *cp)
{
    const struct sharena__header *h = sharena__hdr(a);
    struct snap_header *sh = &cp->sh;
    memset(sh, 0, sizeof *sh);
    memcpy(sh->magic, SNAP_MAGIC, 8);
    sh->image_version = SNAP_VERSION;
    sh->header_size = sizeof *sh;
    sh->format_version = SHARENA__FORMAT_VERSION;
    sh->layout_hash = sharena_layout_hash();
    sh->capacity = a->size;
    sh->used_bytes = SHARENA__LD(h->used_bytes);
    sh->live_objects = SHARENA__LD(h->live_objects);
    sh->saved_ns = sharena__now_ns();
    sh->header_hash = snap_hash(SNAP_SEED, sh,
                                offsetof(struct snap_header, header_hash));
    size_t cap = 0;
    uint64_t from = 0, start, end;
    while (next_data(a->fd, from, a->size, &start, &end) > 0) {
        if (cp->n == cap) {
            cap = cap ? cap * 2 : 64;
            void *p = realloc(cp->ext, cap * sizeof *cp->ext);
            if (!p)
                return SHARENA_ENOMEM;
            cp->ext = p;
        }
        cp->ext[cp->n].off = start;
        cp->ext[cp->n].len = end - start;
        cp->ext[cp->n].at = cp->total;
        cp->n++;
        cp->total += end - start;
        from = end;
    }
    if (!cp->total)
        return SHARENA_ECORRUPT; /* (the header is always data) */
    if (cp->total > cp->size) {
        /* the arena grew since the buffer was made: grow it (page faults
         * inside the barrier, for the new part only) */
        void *p = cp->buf ? mremap(cp->buf, cp->size, cp->total, MREMAP_MAYMOVE)
                          : mmap(NULL, cp->total, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                                 -1, 0);
        if (p == MAP_FAILED)
            return SHARENA_ENOMEM;
        cp->buf = p;
        cp->size = cp->total;
    }
    for (size_t i = 0; i < cp->n; i++)
        memcpy(cp->buf + cp->ext[i].at, a->base + cp->ext[i].off,
               cp->ext[i].len);
    return 0;
}

/* After the barrier: the header, runs of non-zero pages, the end. */
static int write_copy(const struct snap_copy *cp, int fd,
                      sharena_save_info *info)
{
    int r = write_all(fd, &cp->sh, sizeof cp->sh);
    if (r < 0)
        return r;
    struct save_ctx c = {.fd = fd, .hash = SNAP_SEED};
    for (size_t i = 0; i < cp->n; i++) {
        const uint8_t *src = cp->buf + cp->ext[i].at;
        uint64_t len = cp->ext[i].len, run = 0, fill = 0;
        for (uint64_t o = 0; o < len; o += SNAP_PAGE) {
            bool zero = page_zero(src + o);
            if (!zero) {
                if (!fill)
                    run = o;
                fill += SNAP_PAGE;
            }
            if ((zero || fill == SNAP_BUF || o + SNAP_PAGE == len) && fill) {
                r = emit_run(&c, cp->ext[i].off + run, src + run, fill);
                if (r < 0)
                    return r;
                fill = 0;
            }
        }
    }
    struct snap_run endmark = {SNAP_END, 0};
    c.hash = snap_hash(c.hash, &endmark, sizeof endmark);
    c.body += sizeof endmark;
    struct snap_trailer t = {c.runs, c.body, c.hash, "SNAPEND"};
    if ((r = write_all(fd, &endmark, sizeof endmark)) < 0 ||
        (r = write_all(fd, &t, sizeof t)) < 0)
        return r;
    if (info) {
        info->bytes = c.bytes;
        info->runs = c.runs;
        info->image_bytes = sizeof cp->sh + c.body + sizeof t;
    }
    return 0;
}

static int64_t mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int sharena_save_fd(sharena_arena *a, int fd, sharena_save_info *info)
{
    snap_msg[0] = 0;
    if (!a || fd < 0)
        return SHARENA_EINVAL;
    if (a->closed)
        return SHARENA_ECLOSED;
    if (info)
        memset(info, 0, sizeof *info);
    struct snap_copy cp;
    memset(&cp, 0, sizeof cp);
    copy_prepare(a, &cp);
    int64_t t0 = mono_now();
    int r = sharena__barrier_raise(a);
    if (r < 0) {
        if (cp.buf)
            munmap(cp.buf, cp.size);
        return fail(r,
                    r == SHARENA_ENOSYS
                        ? "membarrier(MEMBARRIER_CMD_GLOBAL) is not "
                          "available: no consistent image can be taken"
                        : "could not stop writers: %s",
                    sharena_strerror(r));
    }
    int64_t t1 = mono_now();
    r = sharena__arena_lock(a);
    if (r == 0) {
        r = copy_locked(a, &cp);
        sharena__arena_unlock(a);
    }
    sharena__barrier_drop(a);
    int64_t t2 = mono_now();
    if (info) {
        info->drain_ns = (uint64_t)(t1 - t0);
        info->barrier_ns = (uint64_t)(t2 - t0);
    }
    if (r == 0)
        r = write_copy(&cp, fd, info);
    if (cp.buf)
        munmap(cp.buf, cp.size);
    free(cp.ext);
    if (r < 0)
        return fail(r, "writing the image: %s", sharena_strerror(r));
    return 0;
}

int sharena_save(sharena_arena *a, const char *path, sharena_save_info *info)
{
    snap_msg[0] = 0;
    if (!a || !path || !*path)
        return SHARENA_EINVAL;
    size_t n = strlen(path);
    if (n + 16 > PATH_MAX)
        return SHARENA_ENAMETOOLONG;
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return fail(-errno, "%s: %s", tmp, strerror(errno));
    int r = sharena_save_fd(a, fd, info);
    if (r == 0 && fsync(fd) < 0)
        r = fail(-errno, "fsync %s: %s", tmp, strerror(errno));
    if (close(fd) < 0 && r == 0)
        r = fail(-errno, "close %s: %s", tmp, strerror(errno));
    if (r == 0 && rename(tmp, path) < 0)
        r = fail(-errno, "rename to %s: %s", path, strerror(errno));
    if (r < 0) {
        unlink(tmp);
        return r;
    }
    /* the rename itself survives a crash once the directory is synced */
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir ? 1 : 0] = 0;
    int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* ---- load ------------------------------------------------------------- */

static int check_header(const struct snap_header *sh)
{
    if (memcmp(sh->magic, SNAP_MAGIC, 8) != 0)
        return fail(SHARENA_ECORRUPT, "not a sharena image (bad magic)");
    if (sh->header_hash !=
        snap_hash(SNAP_SEED, sh, offsetof(struct snap_header, header_hash)))
        return fail(SHARENA_ECORRUPT, "image header checksum mismatch");
    if (sh->image_version != SNAP_VERSION || sh->header_size != sizeof *sh)
        return fail(SHARENA_ELAYOUT,
                    "image format version %u; this build reads version %u",
                    sh->image_version, SNAP_VERSION);
    if (sh->format_version != SHARENA__FORMAT_VERSION ||
        sh->layout_hash != sharena_layout_hash())
        return fail(SHARENA_ELAYOUT,
                    "image of arena format %u (layout %016llx); this build "
                    "makes format %u (layout %016llx)",
                    sh->format_version, (unsigned long long)sh->layout_hash,
                    SHARENA__FORMAT_VERSION,
                    (unsigned long long)sharena_layout_hash());
    if (sh->capacity < SHARENA_MIN_CAPACITY ||
        sh->capacity > SHARENA_MAX_CAPACITY || sh->capacity % SNAP_PAGE)
        return fail(SHARENA_ECORRUPT, "image capacity %llu out of range",
                    (unsigned long long)sh->capacity);
    return 0;
}

/* One pass over the body: checks every run (in order, page-aligned, inside
 * the capacity) and the hash; with @p a, copies it in too (the bytes below
 * the arena header go to @p hdr instead). */
static int scan_body(int fd, const struct snap_header *sh, sharena_arena *a,
                     uint8_t *hdr, uint8_t *buf)
{
    uint64_t h = SNAP_SEED, body = 0, runs = 0, next = 0;
    for (;;) {
        struct snap_run run;
        int r = read_all(fd, &run, sizeof run);
        if (r <= 0)
            return r < 0 ? fail(r, "reading the image: %s", strerror(-r))
                         : fail(SHARENA_ECORRUPT,
                                "image truncated after %llu body bytes",
                                (unsigned long long)body);
        h = snap_hash(h, &run, sizeof run);
        body += sizeof run;
        if (run.offset == SNAP_END && run.len == 0)
            break;
        if (run.offset % SNAP_PAGE || run.len % SNAP_PAGE || !run.len ||
            run.offset < next || run.offset > sh->capacity ||
            run.len > sh->capacity - run.offset)
            return fail(SHARENA_ECORRUPT,
                        "image run %llu (offset %llu, %llu bytes) is out "
                        "of order or outside the arena",
                        (unsigned long long)runs,
                        (unsigned long long)run.offset,
                        (unsigned long long)run.len);
        next = run.offset + run.len;
        runs++;
        for (uint64_t off = run.offset; off < next;) {
            uint64_t n = next - off < SNAP_BUF ? next - off : SNAP_BUF;
            r = read_all(fd, buf, n);
            if (r <= 0)
                return r < 0 ? fail(r, "reading the image: %s", strerror(-r))
                             : fail(SHARENA_ECORRUPT,
                                    "image truncated inside run %llu",
                                    (unsigned long long)runs - 1);
            h = snap_hash(h, buf, n);
            if (a) {
                uint64_t skip = 0;
                if (off < SHARENA__HDR_SIZE) {
                    skip = SHARENA__HDR_SIZE - off < n ? SHARENA__HDR_SIZE - off
                                                       : n;
                    memcpy(hdr + off, buf, skip);
                }
                memcpy(a->base + off + skip, buf + skip, n - skip);
            }
            off += n;
            body += n;
        }
    }
    struct snap_trailer t;
    int r = read_all(fd, &t, sizeof t);
    if (r <= 0)
        return r < 0 ? fail(r, "reading the image: %s", strerror(-r))
                     : fail(SHARENA_ECORRUPT, "image truncated (no trailer)");
    char extra;
    if (memcmp(t.magic, "SNAPEND", 8) != 0 || t.runs != runs ||
        t.body_bytes != body)
        return fail(SHARENA_ECORRUPT, "image trailer does not match its body");
    if (t.body_hash != h)
        return fail(SHARENA_ECORRUPT,
                    "image checksum mismatch: the body is damaged");
    if (read(fd, &extra, 1) != 0)
        return fail(SHARENA_ECORRUPT, "image has bytes after its trailer");
    return 0;
}

/* The arena is new and only ours to fill: its formatted pages go. */
static void clear_heap(sharena_arena *a)
{
    if (fallocate(a->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  SHARENA__HDR_SIZE, (off_t)(a->size - SHARENA__HDR_SIZE)) == 0)
        return;
    uint64_t from = SHARENA__HDR_SIZE, start, end;
    while (next_data(a->fd, from, a->size, &start, &end) > 0) {
        if (start < SHARENA__HDR_SIZE)
            start = SHARENA__HDR_SIZE;
        if (start < end)
            memset(a->base + start, 0, end - start);
        from = end;
    }
}

/* The image's header, with this arena's identity and no lock or waiter of
 * the saver's. Only the part before the broker's live-slot bitmap is
 * written: the broker keeps that. */
static int adopt_header(sharena_arena *a, uint8_t *img)
{
    struct sharena__header *ih = (struct sharena__header *)img;
    struct sharena__header *h = sharena__hdr(a);
    if (memcmp(ih->magic, SHARENA__MAGIC, 8) != 0 ||
        ih->format_version != SHARENA__FORMAT_VERSION ||
        ih->header_size != SHARENA__HDR_SIZE ||
        ih->layout_hash != sharena_layout_hash() || ih->capacity != a->size)
        return fail(SHARENA_ECORRUPT,
                    "the arena header inside the image does not match the "
                    "image header");
    for (size_t i = 0; i < sizeof ih->name; i++)
        ih->name[i] = SHARENA__LD(h->name[i]);
    ih->name[sizeof ih->name - 1] = 0;
    ih->created_ns = SHARENA__LD(h->created_ns);
    ih->arena_id[0] = SHARENA__LD(h->arena_id[0]);
    ih->arena_id[1] = SHARENA__LD(h->arena_id[1]);
    ih->slots_managed = __atomic_load_n(&h->slots_managed, __ATOMIC_ACQUIRE);
    ih->lock_clock = SHARENA__LD(h->lock_clock);
    ih->arena_lock = 0;
    ih->arena_lock_since = 0;
    ih->arena_seq &= ~1u;
    ih->change_waiters = 0;
    ih->write_barrier = 0;
    memcpy(a->base, img, offsetof(struct sharena__header, live_slots));
    sharena__fence();
    /* this handle cached the formatted arena's handle table: forget it */
    for (unsigned j = 0; j < SHARENA__SLOT_CHUNKS; j++)
        __atomic_store_n(&a->chunks[j], NULL, __ATOMIC_RELEASE);
    return 0;
}

/* Through a fresh handle (its caches made from the new header): no lock
 * word, waiter count or odd seq of the saver's survives. */
static void clear_slots(sharena_arena *a)
{
    struct sharena__header *h = sharena__hdr(a);
    uint64_t n = SHARENA__LD(h->slot_count);
    uint64_t max = a->size / sizeof(struct sharena__slot);
    if (n > max)
        n = max;
    for (uint64_t i = 1; i < n; i++) {
        struct sharena__slot *s = sharena__slot_at(a, i);
        if (!s)
            continue;
        __atomic_store_n(&s->lock, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&s->waiters, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&s->since, 0, __ATOMIC_RELAXED);
        uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
        if (seq & 1)
            __atomic_store_n(&s->seq, seq + 1, __ATOMIC_RELAXED);
    }
    sharena__fence();
}

struct fsck_first {
    char text[160];
    uint64_t n;
};
static void fsck_note(void *ctx, const char *problem)
{
    struct fsck_first *f = ctx;
    if (!f->n++)
        snprintf(f->text, sizeof f->text, "%s", problem);
}

int sharena_load(sharena_conn *c, const char *path, const char *name,
                 const sharena_open_opts *opts, sharena_arena **out)
{
    snap_msg[0] = 0;
    if (out)
        *out = NULL;
    if (!c || !path || !name)
        return SHARENA_EINVAL;
    sharena_open_opts o = {0};
    if (opts) {
        o = *opts;
        if (o.flags & ~(unsigned)SHARENA_READONLY)
            return fail(SHARENA_EINVAL, "load always creates; only "
                                        "SHARENA_READONLY may be given");
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(-errno, "%s: %s", path, strerror(errno));
    uint8_t *buf = malloc(SNAP_BUF);
    uint8_t *hdr = calloc(1, SHARENA__HDR_SIZE);
    sharena_arena *a = NULL;
    bool created = false;
    struct snap_header sh;
    int r = buf && hdr ? 0 : SHARENA_ENOMEM;
    char magic[8];
    if (r == 0 &&
        (pread(fd, magic, 8, 0) != 8 || memcmp(magic, SNAP_MAGIC, 8) != 0))
        r = fail(SHARENA_ECORRUPT, "not a sharena image (bad magic)");
    if (r == 0) {
        r = read_all(fd, &sh, sizeof sh);
        r = r < 0    ? fail(r, "%s: %s", path, strerror(-r))
            : r == 0 ? fail(SHARENA_ECORRUPT, "image truncated (no header)")
                     : check_header(&sh);
    }
    /* pass 1: the whole image is checked before anything is created */
    if (r == 0)
        r = scan_body(fd, &sh, NULL, NULL, buf);
    if (r == 0 && (o.capacity && o.capacity != sh.capacity))
        r = fail(SHARENA_EINVAL, "the image's capacity is %llu bytes",
                 (unsigned long long)sh.capacity);
    if (r == 0 && lseek(fd, 0, SEEK_SET) < 0)
        r = fail(-errno, "%s: %s", path, strerror(errno));
    if (r == 0) {
        sharena_open_opts co = {.capacity = sh.capacity,
                                .flags = SHARENA_CREATE | SHARENA_EXCL,
                                .mode = o.mode};
        r = sharena_open(c, name, &co, &a);
        if (r < 0)
            fail(r, "creating arena %s: %s", name, sharena_strerror(r));
        else if (a->size != sh.capacity)
            r = fail(SHARENA_EPROTO, "the broker made another capacity");
        created = r == 0 || a;
    }
    /* pass 2: copy (the file is read again and checked again: it may have
     * changed since) */
    if (r == 0) {
        clear_heap(a);
        struct snap_header again;
        r = read_all(fd, &again, sizeof again);
        if (r == 1 && memcmp(&again, &sh, sizeof sh) != 0)
            r = fail(SHARENA_ECORRUPT, "the image changed while loading");
        else if (r <= 0)
            r = fail(SHARENA_ECORRUPT, "the image changed while loading");
        else
            r = scan_body(fd, &sh, a, hdr, buf);
    }
    if (r == 0)
        r = adopt_header(a, hdr);
    if (r == 0)
        clear_slots(a); /* before the close: no lock of ours to report */
    if (a) {
        sharena_arena_close(a);
        a = NULL;
    }
    if (r == 0) {
        sharena_open_opts ro = {.flags = 0};
        r = sharena_open(c, name, &ro, &a);
        if (r < 0)
            fail(r, "reopening arena %s: %s", name, sharena_strerror(r));
    }
    if (r == 0) {
        struct fsck_first ff = {{0}, 0};
        sharena_fsck_report rep;
        int f = sharena_fsck(a, 0, fsck_note, &ff, &rep);
        if (f < 0 || rep.errors || ff.n)
            r = fail(SHARENA_ECORRUPT,
                     "fsck refused the image: %llu problem(s)%s%s",
                     (unsigned long long)(rep.errors ? rep.errors : ff.n),
                     ff.n ? ", first: " : "", ff.text);
    }
    if (r == 0 && (o.flags & SHARENA_READONLY)) {
        sharena_arena_close(a);
        a = NULL;
        sharena_open_opts ro = {.flags = SHARENA_READONLY};
        r = sharena_open(c, name, &ro, &a);
    }
    if (r < 0 && a) {
        sharena_arena_close(a);
        a = NULL;
    }
    if (r < 0 && created)
        sharena_delete(c, name);
    if (r == 0) {
        if (out)
            *out = a;
        else
            sharena_arena_close(a);
    }
    free(buf);
    free(hdr);
    close(fd);
    return r;
}

/* ---- for sharenad's saver (broker/saver.c) ---------------------------- */

int sharena__load_into(sharena_arena *a, int fd)
{
    snap_msg[0] = 0;
    if (!a || fd < 0 || a->readonly)
        return SHARENA_EINVAL;
    off_t start = lseek(fd, 0, SEEK_CUR);
    if (start < 0)
        return fail(-errno, "seeking the image: %s", strerror(errno));
    uint8_t *buf = malloc(SNAP_BUF);
    uint8_t *hdr = calloc(1, SHARENA__HDR_SIZE);
    struct snap_header sh, again;
    int r = buf && hdr ? read_all(fd, &sh, sizeof sh) : SHARENA_ENOMEM;
    r = r == SHARENA_ENOMEM ? r
        : r < 0             ? fail(r, "reading the image: %s", strerror(-r))
        : r == 0 ? fail(SHARENA_ECORRUPT, "image truncated (no header)")
                 : check_header(&sh);
    /* pass 1: the whole image is checked before the arena is touched */
    if (r == 0)
        r = scan_body(fd, &sh, NULL, NULL, buf);
    if (r == 0 && sh.capacity != a->size)
        r = fail(SHARENA_EINVAL,
                 "the image's capacity is %llu bytes, the "
                 "arena's %llu",
                 (unsigned long long)sh.capacity, (unsigned long long)a->size);
    if (r == 0 && lseek(fd, start, SEEK_SET) < 0)
        r = fail(-errno, "seeking the image: %s", strerror(errno));
    /* pass 2: the copy (checked again: the file may have changed) */
    if (r == 0) {
        clear_heap(a);
        r = read_all(fd, &again, sizeof again);
        if (r <= 0 || memcmp(&again, &sh, sizeof sh) != 0)
            r = fail(SHARENA_ECORRUPT, "the image changed while loading");
        else
            r = scan_body(fd, &sh, a, hdr, buf);
    }
    if (r == 0)
        r = adopt_header(a, hdr);
    free(buf);
    free(hdr);
    if (r < 0)
        return r;
    /* a fresh handle: no cache of the formatted arena's */
    sharena_arena *f = NULL;
    r = sharena_arena_from_fd(a->fd, 0, &f);
    if (r < 0)
        return fail(SHARENA_ECORRUPT,
                    "the loaded arena's header is refused: "
                    "%s",
                    sharena_strerror(r));
    clear_slots(f);
    struct fsck_first ff = {{0}, 0};
    sharena_fsck_report rep;
    int k = sharena_fsck(f, 0, fsck_note, &ff, &rep);
    if (k < 0 || rep.errors || ff.n)
        r = fail(SHARENA_ECORRUPT,
                 "fsck refused the image: %llu problem(s)%s%s",
                 (unsigned long long)(rep.errors ? rep.errors : ff.n),
                 ff.n ? ", first: " : "", ff.text);
    sharena_arena_close(f);
    return r;
}
