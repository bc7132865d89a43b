/* cli_helper.c: what the CLI tests need a real client process for.
 *
 *   cli_helper SOCKET hold ARENA ROOT
 *       take the lock of root ROOT as a broker client, print "locked SLOT",
 *       then sleep until killed (a lock holder that dies with SIGKILL)
 *   cli_helper SOCKET hold-local ARENA ROOT
 *       the same from a forked child that maps the arena from its fd and so
 *       locks as LOCAL|pid (no broker slot): print "locked PID"; the broker
 *       never hears of the child and cannot recover its locks. The parent
 *       waits for the child and exits when the test has killed it.
 *   cli_helper SOCKET bad-used ARENA
 *       add 4096 to the header's used-bytes counter (fsck finds it,
 *       --repair recomputes it)
 *   cli_helper SOCKET scribble ARENA SEED COUNT
 *       write COUNT random bytes over the used part of the heap (at most
 *       its first 256 KiB)
 *   cli_helper SOCKET typed ARENA
 *   cli_helper SOCKET alltypes ARENA   every type the JSON encoding carries
 *       make roots the CLI cannot make: "st" (a struct of number, bool,
 *       string and 4 bytes), "shape", "blob" (5 bytes), "loop" (a vector
 *       holding a vector that holds the first)
 *   cli_helper SOCKET writes ARENA ROOT FROM TO
 *       set number root ROOT to FROM..TO, one write each
 *   cli_helper SOCKET fake-holder ARENA ROOT SLOT
 *       scribble: root ROOT's lock word names client slot SLOT (nobody's),
 *       and SLOT's bit in the arena's live-client set is set, so the lock
 *       looks held by a live client
 *   cli_helper SOCKET open-ro ARENA
 *       open ARENA read-only through the broker (whose reopen helper makes
 *       the descriptor); print "ok", or the error and exit 1
 *   cli_helper - no-seccomp PROGRAM ARGS...
 *       run PROGRAM where seccomp filters cannot be installed: a filter of
 *       our own makes seccomp() fail with ENOSYS and prctl(PR_SET_SECCOMP)
 *       with EINVAL (as on a kernel without seccomp)
 */
#include "internal.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static sharena_conn *conn;
static sharena_arena *arena;

static void close_all(void)
{
    sharena_arena_close(arena);
    sharena_disconnect(conn);
}

static sharena_arena *open_arena(const char *sock, const char *name)
{
    sharena_conn *c;
    int r = sharena_connect(sock, &c);
    if (r < 0) {
        fprintf(stderr, "cli_helper: connect: %s\n", sharena_strerror(r));
        exit(1);
    }
    sharena_arena *a;
    r = sharena_open(c, name, NULL, &a);
    if (r < 0) {
        fprintf(stderr, "cli_helper: open %s: %s\n", name, sharena_strerror(r));
        exit(1);
    }
    conn = c;
    arena = a;
    atexit(close_all); /* commands that return end cleanly */
    return a;
}

static sharena_id root(sharena_arena *a, const char *name)
{
    sharena_id id;
    int r = sharena_root_get(a, name, &id);
    if (r < 0) {
        fprintf(stderr, "cli_helper: root %s: %s\n", name, sharena_strerror(r));
        exit(1);
    }
    return id;
}

static int no_seccomp_exec(char **argv)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_seccomp, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_prctl, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                 offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PR_SET_SECCOMP, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
        perror("cli_helper: seccomp");
        return 1;
    }
    execv(argv[0], argv);
    perror("cli_helper: exec");
    return 1;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[2], "no-seccomp") == 0)
        return no_seccomp_exec(argv + 3);
    if (argc == 4 && strcmp(argv[2], "open-ro") == 0) {
        sharena_conn *c;
        sharena_arena *a;
        sharena_open_opts o = {.flags = SHARENA_READONLY};
        int r = sharena_connect(argv[1], &c);
        if (r == 0) {
            r = sharena_open(c, argv[3], &o, &a);
            if (r == 0)
                sharena_arena_close(a);
            sharena_disconnect(c);
        }
        printf("%s\n", r == 0 ? "ok" : sharena_strerror(r));
        return r != 0;
    }
    if (argc < 4) {
        fprintf(stderr, "usage: cli_helper SOCKET COMMAND ARENA ...\n");
        return 2;
    }
    const char *sock = argv[1], *cmd = argv[2];
    sharena_arena *a = open_arena(sock, argv[3]);
    if (strcmp(cmd, "hold") == 0 && argc == 5) {
        int r = sharena_lock(a, root(a, argv[4]));
        if (r < 0) {
            fprintf(stderr, "cli_helper: lock: %s\n", sharena_strerror(r));
            return 1;
        }
        printf("locked\n");
        fflush(stdout);
        for (;;)
            pause();
    }
    if (strcmp(cmd, "hold-local") == 0 && argc == 5) {
        sharena_id id = root(a, argv[4]);
        int p[2];
        if (pipe(p) < 0)
            return 1;
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0) {
            close(p[0]);
            /* the arena through its fd, not through the broker: a handle
             * without a connection locks as LOCAL|pid (a forked child's
             * own handle would get a slot of its own first) */
            sharena_arena *fa;
            int r = sharena_arena_from_fd(sharena_arena_fd(a), 0, &fa);
            if (r == 0)
                r = sharena_lock(fa, id);
            if (r < 0) {
                fprintf(stderr, "cli_helper: lock: %s\n", sharena_strerror(r));
                _exit(1);
            }
            printf("locked %d\n", (int)getpid());
            fflush(stdout);
            if (write(p[1], "x", 1) != 1)
                _exit(1);
            for (;;)
                pause();
        }
        close(p[1]);
        char ch;
        if (read(p[0], &ch, 1) != 1)
            return 1;
        /* reap the child when the test kills it, so that its pid is
         * really gone (an orphan may stay a zombie where PID 1 does not
         * reap) */
        int st;
        waitpid(pid, &st, 0);
        return 0;
    }
    if (strcmp(cmd, "fake-holder") == 0 && argc == 6) {
        sharena_id id = root(a, argv[4]);
        uint32_t slot = (uint32_t)strtoul(argv[5], NULL, 10);
        struct sharena__slot *s = sharena__slot_at(a, sharena__id_slot(id));
        struct sharena__header *h = sharena__hdr(a);
        if (!s || slot == 0 || slot >= SHARENA__MAX_BROKER_SLOTS)
            return 1;
        __atomic_or_fetch(&h->live_slots[slot / 64], UINT64_C(1) << (slot % 64),
                          __ATOMIC_RELEASE);
        __atomic_store_n(&s->lock, slot, __ATOMIC_RELEASE);
        return 0;
    }
    if (strcmp(cmd, "bad-used") == 0) {
        __atomic_fetch_add(&sharena__hdr(a)->used_bytes, 4096,
                           __ATOMIC_SEQ_CST);
        return 0;
    }
    if (strcmp(cmd, "scribble") == 0 && argc == 6) {
        srand((unsigned)atoi(argv[4]));
        long n = atol(argv[5]);
        /* where the objects are: a fresh arena fills its heap from the
         * start, about used_bytes of it */
        uint64_t span = sharena__hdr(a)->used_bytes;
        if (span > 256 * 1024 || span == 0)
            span = 256 * 1024;
        for (long i = 0; i < n; i++)
            a->base[a->heap_start + (uint64_t)rand() % span] = (uint8_t)rand();
        return 0;
    }
    if (strcmp(cmd, "writes") == 0 && argc == 7) {
        sharena_id id = root(a, argv[4]);
        for (long v = atol(argv[5]); v <= atol(argv[6]); v++) {
            int r = sharena_number_set(a, id, (double)v);
            if (r < 0) {
                fprintf(stderr, "cli_helper: set: %s\n", sharena_strerror(r));
                return 1;
            }
        }
        return 0;
    }
    if (strcmp(cmd, "typed") == 0) {
        /* what the CLI cannot make itself: a struct, bytes, a cycle */
        sharena_field_def f[] = {
            {"count", SHARENA_T_NUMBER, 0},
            {"on", SHARENA_T_BOOL, 0},
            {"label", SHARENA_T_STRING, 0},
            {"blob", SHARENA_T_BYTES, 4},
            {"maybe", SHARENA_T_NUMBER, 0, SHARENA_FIELD_NULLABLE},
        };
        sharena_id shape, st, b, v, fid;
        int r = sharena_shape_new(a, f, 5, &shape);
        if (r == 0)
            r = sharena_struct_new(a, shape, &st);
        if (r == 0)
            r = sharena_struct_set_number(a, st, 0, 7);
        if (r == 0)
            r = sharena_struct_set_string(a, st, 2, "lbl", 3);
        if (r == 0)
            r = sharena_struct_field_id(a, st, 3, &fid);
        if (r == 0)
            r = sharena_bytes_write(a, fid, 0, "\x01\x02\x03\x04", 4);
        if (r == 0)
            r = sharena_root_set(a, "st", st, SHARENA_OWNED);
        if (r == 0)
            r = sharena_root_set(a, "shape", shape, SHARENA_OWNED);
        if (r == 0)
            r = sharena_bytes_new(a, 5, &b);
        if (r == 0)
            r = sharena_bytes_write(a, b, 0, "hello", 5);
        if (r == 0)
            r = sharena_root_set(a, "blob", b, SHARENA_OWNED);
        sharena_id w;
        if (r == 0)
            r = sharena_vector_new(a, &v);
        if (r == 0)
            r = sharena_vector_new(a, &w);
        if (r == 0) /* v holds w holds v: a cycle (neither owns the other) */
            r = sharena_vector_push(a, v, w, 0);
        if (r == 0)
            r = sharena_vector_push(a, w, v, 0);
        if (r == 0)
            r = sharena_root_set(a, "loop", v, SHARENA_OWNED);
        if (r < 0) {
            fprintf(stderr, "cli_helper: typed: %s\n", sharena_strerror(r));
            return 1;
        }
        return 0;
    }
    if (strcmp(cmd, "alltypes") == 0) {
        /* every type the JSON encoding carries, in the corners it must
         * keep: NaN (default and other bits), infinities, -0, a map whose
         * keys look like tags, structs of one shape in a map and a vector
         * next to that shape as a root, bytes longer than get's cut */
        sharena_field_def f[] = {
            {"x", SHARENA_T_NUMBER, 0},
            {"ok", SHARENA_T_BOOL, 0},
            {"$name", SHARENA_T_STRING, 0},
            {"raw", SHARENA_T_BYTES, 5},
        };
        sharena_id shape, st, st2, m, v, b, nums, tagmap;
        double nan_bits, neg_nan;
        uint64_t bits = UINT64_C(0x7ff4000000000001);
        memcpy(&nan_bits, &bits, 8);
        bits = UINT64_C(0xfff8000000000000);
        memcpy(&neg_nan, &bits, 8);
        double specials[] = {__builtin_nan(""),
                             nan_bits,
                             neg_nan,
                             __builtin_inf(),
                             -__builtin_inf(),
                             -0.0,
                             5e-324,
                             1.7976931348623157e308,
                             0.1,
                             -42};
        int r = sharena_shape_new(a, f, 4, &shape);
        if (r == 0)
            r = sharena_root_set(a, "pointShape", shape, SHARENA_OWNED);
        if (r == 0)
            r = sharena_struct_new(a, shape, &st);
        if (r == 0)
            r = sharena_struct_set_number(a, st, 0, __builtin_nan(""));
        if (r == 0)
            r = sharena_struct_set_bool(a, st, 1, true);
        if (r == 0)
            r = sharena_struct_set_string(a, st, 2, "p\"1\n", 4);
        sharena_id fid;
        if (r == 0)
            r = sharena_struct_field_id(a, st, 3, &fid);
        if (r == 0)
            r = sharena_bytes_write(a, fid, 0,
                                    "\0\xff\x01"
                                    "ab",
                                    5);
        if (r == 0)
            r = sharena_struct_new(a, shape, &st2);
        if (r == 0)
            r = sharena_struct_set_number(a, st2, 0, -0.0);
        if (r == 0)
            r = sharena_map_new(a, &m);
        if (r == 0)
            r = sharena_map_set(a, m, "first", 5, st, SHARENA_OWNED, NULL);
        if (r == 0)
            r = sharena_vector_new(a, &v);
        if (r == 0)
            r = sharena_vector_push(a, v, st2, SHARENA_OWNED);
        if (r == 0)
            r = sharena_map_set(a, m, "more", 4, v, SHARENA_OWNED, NULL);
        if (r == 0)
            r = sharena_root_set(a, "points", m, SHARENA_OWNED);
        if (r == 0)
            r = sharena_vector_new(a, &nums);
        /* in the items, as the builder (load --json) stores them: the
         * copy has the same objects */
        for (size_t i = 0; r == 0 && i < sizeof specials / sizeof *specials;
             i++)
            r = sharena_vector_push_number(a, nums, specials[i]);
        if (r == 0)
            r = sharena_root_set(a, "numbers", nums, SHARENA_OWNED);
        if (r == 0)
            r = sharena_map_new(a, &tagmap);
        if (r == 0)
            r = sharena_map_set_string(a, tagmap, "$bytes", 6, "not bytes", 9);
        if (r == 0)
            r = sharena_map_set_number(a, tagmap, "$map", 4, 1);
        if (r == 0)
            r = sharena_map_set_bool(a, tagmap, "", 0, false);
        if (r == 0)
            r = sharena_root_set(a, "tags", tagmap, SHARENA_OWNED);
        static unsigned char big[100000];
        for (size_t i = 0; i < sizeof big; i++)
            big[i] = (unsigned char)(i * 7 + i / 251);
        if (r == 0)
            r = sharena_bytes_new(a, sizeof big, &b);
        if (r == 0)
            r = sharena_bytes_write(a, b, 0, big, sizeof big);
        if (r == 0)
            r = sharena_root_set(a, "big", b, SHARENA_OWNED);
        if (r == 0)
            r = sharena_bytes_new(a, 0, &b);
        if (r == 0)
            r = sharena_root_set(a, "empty", b, SHARENA_OWNED);
        if (r < 0) {
            fprintf(stderr, "cli_helper: alltypes: %s\n", sharena_strerror(r));
            return 1;
        }
        return 0;
    }
    fprintf(stderr, "cli_helper: bad command %s\n", cmd);
    return 2;
}
