/* Integration tests: a real sharenad on a private socket per test, real
 * memfds, real processes (fork), real credentials (setuid when root). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <criterion/criterion.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker_fixture.h"
#include "internal.h"
#include "proto.h"
#include "sharena.h"
#include "sharena_broker.h"

static struct test_broker B;

static void up(void)
{
    cr_assert_eq(test_broker_start(&B, NULL), 0);
}
static void down(void)
{
    cr_expect_eq(test_broker_stop(&B), 0, "broker exited uncleanly");
}

static sharena_conn *conn(void)
{
    sharena_conn *c;
    int r = sharena_connect(B.socket, &c);
    cr_assert_eq(r, 0, "connect: %s", sharena_strerror(r));
    return c;
}

static sharena_arena *create(sharena_conn *c, const char *name, uint32_t mode)
{
    sharena_open_opts o = {.flags = SHARENA_CREATE, .capacity = 1 << 20,
                           .mode = mode};
    sharena_arena *a;
    int r = sharena_open(c, name, &o, &a);
    cr_assert_eq(r, 0, "open %s: %s", name, sharena_strerror(r));
    return a;
}

/* Connect, retrying while the broker has not yet seen that a place came
 * free (a hang guard of ~5 s); NULL if it never lets us in. */
static sharena_conn *conn_eventually(void)
{
    sharena_conn *c = NULL;
    for (int i = 0; i < 500 && sharena_connect(B.socket, &c) != 0; i++)
        usleep(10000);
    return c;
}

static int wait_child(pid_t pid)
{
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

TestSuite(broker, .init = up, .fini = down, .timeout = 60);

Test(broker, hello_assigns_distinct_slots)
{
    sharena_conn *a = conn(), *b = conn();
    cr_assert_gt(sharena_conn_slot(a), 0);
    cr_assert_neq(sharena_conn_slot(a), sharena_conn_slot(b));
    sharena_disconnect(a);
    sharena_disconnect(b);
}

Test(broker, open_flags_and_names)
{
    sharena_conn *c = conn();
    sharena_arena *a;
    cr_assert_eq(sharena_open(c, "missing", NULL, &a), SHARENA_ENOENT);
    cr_assert_eq(sharena_open(c, "bad name", NULL, &a), SHARENA_EINVAL);
    cr_assert_eq(sharena_open(c, "", NULL, &a), SHARENA_EINVAL);
    char longname[200];
    memset(longname, 'x', 199);
    longname[199] = 0;
    cr_assert_eq(sharena_open(c, longname, NULL, &a), SHARENA_ENAMETOOLONG);
    sharena_open_opts small = {.flags = SHARENA_CREATE, .capacity = 4096};
    cr_assert_eq(sharena_open(c, "small", &small, &a), SHARENA_EINVAL);

    sharena_arena *x = create(c, "x", 0);
    sharena_open_opts excl = {.flags = SHARENA_CREATE | SHARENA_EXCL};
    cr_assert_eq(sharena_open(c, "x", &excl, &a), SHARENA_EEXIST);
    cr_assert_eq(sharena_open(c, "x", NULL, &a), 0);
    cr_assert_eq(sharena_arena_info_get(a, &(sharena_arena_info){0}), 0);
    sharena_arena_stat st;
    cr_assert_eq(sharena_stat(c, "x", &st), 0);
    cr_assert_eq(st.capacity, 1 << 20);
    cr_assert_eq(st.mode, 0600);
    cr_assert_eq(st.uid, getuid());
    cr_assert_eq(st.clients, 1);
    cr_assert_str_eq(st.name, "x");
    sharena_arena_close(a);
    sharena_arena_close(x);
    sharena_disconnect(c);
}

Test(broker, arena_fd_is_sealed_and_cloexec)
{
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "sealed", 0);
    int fd = sharena_arena_fd(a);
    int seals = fcntl(fd, F_GET_SEALS);
    cr_assert(seals & F_SEAL_SHRINK);
    cr_assert(seals & F_SEAL_GROW);
    cr_assert(seals & F_SEAL_SEAL);
    cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    cr_assert_eq(ftruncate(fd, 4096), -1);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

Test(broker, two_processes_meet_by_name)
{
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "shared", 0);
    sharena_id m;
    cr_assert_eq(sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL), 0);
    cr_assert_eq(sharena_map_set_string(a, m, "greeting", 8, "héllo", 6), 0);
    pid_t pid = fork();
    if (pid == 0) {
        sharena_conn *cc;
        sharena_arena *aa;
        sharena_id mm, v;
        char buf[32];
        size_t len;
        if (sharena_connect(B.socket, &cc) || sharena_open(cc, "shared", NULL, &aa) ||
            sharena_root_get(aa, "m", &mm) ||
            sharena_map_get(aa, mm, "greeting", 8, &v) ||
            sharena_string_get(aa, v, buf, sizeof(buf), &len) ||
            strcmp(buf, "héllo") != 0)
            _exit(1);
        if (sharena_map_set_number(aa, mm, "reply", 5, 7))
            _exit(2);
        _exit(0);
    }
    cr_assert_eq(wait_child(pid), 0);
    sharena_id v;
    double d;
    cr_assert_eq(sharena_map_get(a, m, "reply", 5, &v), 0);
    cr_assert_eq(sharena_number_get(a, v, &d), 0);
    cr_assert_eq(d, 7);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

Test(broker, readonly_open_maps_read_only)
{
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "ro", 0);
    sharena_id n;
    cr_assert_eq(sharena_root_ensure(a, "n", SHARENA_T_NUMBER, 0, &n, NULL), 0);
    cr_assert_eq(sharena_number_set(a, n, 5), 0);
    sharena_open_opts ro = {.flags = SHARENA_READONLY};
    sharena_arena *r;
    cr_assert_eq(sharena_open(c, "ro", &ro, &r), 0);
    cr_assert(sharena_arena_readonly(r));
    cr_assert_eq(fcntl(sharena_arena_fd(r), F_GETFL) & O_ACCMODE, O_RDONLY);
    double d;
    cr_assert_eq(sharena_number_get(r, n, &d), 0);
    cr_assert_eq(d, 5);
    cr_assert_eq(sharena_number_set(r, n, 6), SHARENA_EROFS);
    cr_assert_eq(sharena_number_get(a, n, &d), 0);
    cr_assert_eq(d, 5);
    /* A store through the read-only mapping itself faults. */
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL); /* not a sanitizer's handler */
        *(volatile uint8_t *)sharena_arena_base(r) = 0;
        _exit(0);
    }
    cr_assert_eq(wait_child(pid), 128 + SIGSEGV);
    sharena_arena_close(r);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

static int count_lock(void *ctx, const sharena_lock_info *info)
{
    (void)info;
    ++*(int *)ctx;
    return 0;
}
static int copy_lock(void *ctx, const sharena_lock_info *info)
{
    *(sharena_lock_info *)ctx = *info;
    return 1;
}
static int held_locks(sharena_arena *a)
{
    int n = 0;
    cr_assert_eq(sharena_locks(a, count_lock, &n), 0);
    return n;
}

/* A client killed while it holds a lock: the broker marks it, the next
 * locker repairs, nothing hangs. */
Test(broker, lock_of_killed_client_is_recovered)
{
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "crash", 0);
    sharena_id m;
    cr_assert_eq(sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL), 0);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        sharena_conn *cc;
        sharena_arena *aa;
        sharena_id mm;
        if (sharena_connect(B.socket, &cc) ||
            sharena_open(cc, "crash", NULL, &aa) ||
            sharena_root_get(aa, "m", &mm) || sharena_lock(aa, mm))
            _exit(1);
        (void)!write(p[1], "L", 1);
        pause();
        _exit(0);
    }
    char ch;
    cr_assert_eq(read(p[0], &ch, 1), 1);
    cr_assert_eq(held_locks(a), 1, "the child's lock is listed");
    sharena_lock_info li;
    cr_assert_eq(sharena_locks(a, copy_lock, &li), 1);
    cr_assert_eq(li.id, m);
    cr_assert(li.held_known && li.held_exact, "the broker keeps the clock");
    cr_assert_lt(li.held_s, 600);
    kill(pid, SIGKILL);
    cr_assert_eq(wait_child(pid), 128 + SIGKILL);
    /* Would hang forever without recovery (the suite's timeout fails it). */
    cr_assert_eq(sharena_map_set_number(a, m, "after", 5, 1), 0);
    cr_assert_eq(held_locks(a), 0);
    cr_assert_eq(sharena_fsck(a, 0, NULL, NULL, NULL), 0);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

static const sharena_client_info *client_by_slot(const sharena_client_info *v,
                                                 size_t n, uint32_t slot)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].slot == slot)
            return &v[i];
    return NULL;
}

/* CLIENTS names the process behind each slot (what `sharena locks` shows),
 * pages in slot order, and is limited like STAT. */
Test(broker, clients_name_the_processes_behind_slots)
{
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "who", 0);
    sharena_arena *x = create(c, "other", 0);
    int p[2], q[2];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(pipe(q), 0);
    pid_t pid = fork();
    if (pid == 0) {
        sharena_conn *cc;
        sharena_arena *aa;
        if (sharena_connect(B.socket, &cc) || sharena_open(cc, "who", NULL, &aa))
            _exit(1);
        uint32_t slot = sharena_conn_slot(cc);
        (void)!write(p[1], &slot, sizeof slot);
        char ch;
        (void)!read(q[0], &ch, 1);
        _exit(0);
    }
    uint32_t child_slot;
    cr_assert_eq(read(p[0], &child_slot, sizeof child_slot), sizeof child_slot);

    /* a delegated read-only connection that opened it too */
    const char *names[] = {"who"};
    int dfd;
    cr_assert_eq(sharena_delegate(c, names, 1, SHARENA_READONLY, &dfd), 0);
    sharena_conn *d;
    sharena_arena *da;
    cr_assert_eq(sharena_connect_fd(dfd, &d), 0);
    cr_assert_eq(sharena_open(d, "who", NULL, &da), 0);

    sharena_client_info *v;
    size_t n;
    cr_assert_eq(sharena_clients(c, "who", &v, &n), 0);
    cr_assert_eq(n, 3);
    for (size_t i = 1; i < n; i++)
        cr_assert_lt(v[i - 1].slot, v[i].slot, "slot order");
    const sharena_client_info *me = client_by_slot(v, n, sharena_conn_slot(c));
    const sharena_client_info *kid = client_by_slot(v, n, child_slot);
    const sharena_client_info *del = client_by_slot(v, n, sharena_conn_slot(d));
    cr_assert(me && kid && del);
    cr_assert_eq(me->pid, (uint32_t)getpid());
    cr_assert_eq(me->uid, (uint32_t)getuid());
    cr_assert(me->writable && !me->delegated);
    cr_assert_eq(kid->pid, (uint32_t)pid);
    cr_assert(kid->writable && !kid->delegated);
    cr_assert_eq(del->pid, 0, "a delegated peer's pid is unknown");
    cr_assert(!del->writable && del->delegated);
    free(v);

    /* the delegated connection sees only what it was granted */
    cr_assert_eq(sharena_clients(d, "other", &v, &n), SHARENA_ENOENT);
    cr_assert_eq(sharena_clients(d, "who", &v, &n), 0);
    cr_assert_eq(n, 3);
    free(v);
    cr_assert_eq(sharena_clients(c, "nope", &v, &n), SHARENA_ENOENT);
    cr_assert_eq(sharena_clients(c, "bad/name", &v, &n), SHARENA_EINVAL);
    cr_assert_eq(sharena_clients(c, "other", &v, &n), 0);
    cr_assert_eq(n, 1);
    free(v);

    /* a process that is gone is no longer listed */
    cr_assert_eq(write(q[1], "x", 1), 1);
    cr_assert_eq(wait_child(pid), 0);
    for (int tries = 0;; tries++) {
        cr_assert_eq(sharena_clients(c, "who", &v, &n), 0);
        bool gone = !client_by_slot(v, n, child_slot);
        free(v);
        if (gone)
            break;
        cr_assert_lt(tries, 500, "the broker still lists a dead client");
        usleep(10000);
    }
    sharena_arena_close(da);
    sharena_disconnect(d);

    /* more than one page (512 per reply): 600 connections */
    enum { MANY = 600 };
    sharena_conn *cs[MANY];
    sharena_arena *as[MANY];
    for (int i = 0; i < MANY; i++) {
        cs[i] = conn();
        cr_assert_eq(sharena_open(cs[i], "other", NULL, &as[i]), 0);
    }
    cr_assert_eq(sharena_clients(c, "other", &v, &n), 0);
    cr_assert_eq(n, MANY + 1);
    for (size_t i = 1; i < n; i++)
        cr_assert_lt(v[i - 1].slot, v[i].slot, "slot order across pages");
    for (int i = 0; i < MANY; i++)
        cr_assert(client_by_slot(v, n, sharena_conn_slot(cs[i])));
    free(v);
    for (int i = 0; i < MANY; i++) {
        sharena_arena_close(as[i]);
        sharena_disconnect(cs[i]);
    }
    sharena_arena_close(a);
    sharena_arena_close(x);
    sharena_disconnect(c);
}

static int find_died(void *ctx, const sharena_lock_info *li)
{
    sharena_lock_info *want = ctx;
    if (li->id == want->id && li->died) {
        *want = *li;
        return 1;
    }
    return 0;
}

/* A client dies holding an object's lock while a live (hostile) client sits
 * on the arena lock. Repairing the object needs the arena lock; the broker,
 * one thread serving everyone, must not wait for it: it leaves the object
 * marked owner-died and goes on serving. Once the arena lock is free, the
 * object's next locker repairs it. */
Test(broker, recovery_never_waits_for_a_live_arena_lock_holder)
{
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "stall", 0);
    sharena_id m;
    cr_assert_eq(sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL), 0);
    cr_assert_eq(sharena_map_set_number(a, m, "before", 6, 1), 0);
    struct sharena__header *h = sharena__hdr(a);

    /* the live client that holds the arena lock: its own slot in the word */
    sharena_conn *hostile = conn();
    sharena_arena *ha;
    cr_assert_eq(sharena_open(hostile, "stall", NULL, &ha), 0);
    uint32_t zero = 0;
    cr_assert(__atomic_compare_exchange_n(&h->arena_lock, &zero,
                                          sharena_conn_slot(hostile), false,
                                          __ATOMIC_ACQUIRE, __ATOMIC_RELAXED));

    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        sharena_conn *cc;
        sharena_arena *aa;
        if (sharena_connect(B.socket, &cc) || sharena_open(cc, "stall", NULL, &aa) ||
            sharena_lock(aa, m))
            _exit(1);
        uint32_t slot = sharena_conn_slot(cc);
        (void)!write(p[1], &slot, sizeof slot);
        pause();
        _exit(0);
    }
    uint32_t dead_slot;
    cr_assert_eq(read(p[0], &dead_slot, sizeof dead_slot), sizeof dead_slot);
    kill(pid, SIGKILL);
    cr_assert_eq(wait_child(pid), 128 + SIGKILL);

    /* the broker keeps answering (a stalled broker would time the suite
     * out) and, once it has handled the death, the object is owner-died */
    sharena_arena_stat st;
    for (int tries = 0;; tries++) {
        cr_assert_eq(sharena_stat(c, "stall", &st), 0);
        if (st.clients == 2)
            break;
        cr_assert_lt(tries, 1000, "the broker did not handle the death");
        usleep(5000);
    }
    /* the marking runs in bounded steps after the close: look until it
     * is done (a hang guard, not a timing check) */
    sharena_lock_info li = {.id = m};
    for (int tries = 0; sharena_locks(a, find_died, &li) != 1; tries++) {
        cr_assert_lt(tries, 1000, "never marked owner-died");
        usleep(5000);
    }
    cr_assert_eq(li.owner, dead_slot, "still shown as the dead client's");
    cr_assert_eq(__atomic_load_n(&h->arena_lock, __ATOMIC_ACQUIRE),
                 sharena_conn_slot(hostile), "the live holder still has it");
    sharena_conn *other = conn(); /* new clients are served too */
    sharena_disconnect(other);

    /* the holder lets go: the broker repairs nothing in its own process
     * (docs/locking.md); the map's next locker does */
    __atomic_store_n(&h->arena_lock, 0, __ATOMIC_RELEASE);
    li = (sharena_lock_info){.id = m};
    cr_assert_eq(sharena_locks(a, find_died, &li), 1, "still marked");
    cr_assert_eq(sharena_map_set_number(a, m, "after", 5, 2), 0);
    sharena_id v;
    double d;
    cr_assert_eq(sharena_map_get(a, m, "before", 6, &v), 0);
    cr_assert_eq(sharena_number_get(a, v, &d), 0);
    cr_assert_eq(d, 1);
    cr_assert_eq(held_locks(a), 0);
    cr_assert_eq(sharena_fsck(a, 0, NULL, NULL, NULL), 0);
    sharena_arena_close(ha);
    sharena_disconnect(hostile);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

Test(broker, delete_unlinks_name_but_keeps_mappings)
{
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "gone", 0);
    sharena_id n;
    cr_assert_eq(sharena_root_ensure(a, "n", SHARENA_T_NUMBER, 0, &n, NULL), 0);
    cr_assert_eq(sharena_delete(c, "gone"), 0);
    cr_assert_eq(sharena_delete(c, "gone"), SHARENA_ENOENT);
    sharena_arena *b;
    cr_assert_eq(sharena_open(c, "gone", NULL, &b), SHARENA_ENOENT);
    cr_assert_eq(sharena_number_set(a, n, 3), 0, "mapping still usable");
    sharena_arena *fresh = create(c, "gone", 0);
    sharena_id m;
    cr_assert_eq(sharena_root_get(fresh, "n", &m), SHARENA_ENOENT,
                 "a new arena of the same name is a new arena");
    sharena_arena_close(fresh);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

Test(broker, list_pages_through_many_arenas)
{
    sharena_conn *c = conn();
    for (int i = 0; i < 150; i++) {
        char name[32];
        snprintf(name, sizeof(name), "many.%03d", i);
        sharena_open_opts o = {.flags = SHARENA_CREATE,
                               .capacity = SHARENA_MIN_CAPACITY};
        sharena_arena *a;
        cr_assert_eq(sharena_open(c, name, &o, &a), 0);
        sharena_arena_close(a);
    }
    sharena_arena_stat *v;
    size_t n;
    cr_assert_eq(sharena_list(c, &v, &n), 0);
    cr_assert_eq(n, 150);
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "many.%03zu", i);
        cr_assert_str_eq(v[i].name, name);
    }
    free(v);
    sharena_disconnect(c);
}

/* Another uid: the arena's mode decides (the tests run as root in CI). */
static int as_nobody(const char *sock, const char *name, unsigned flags)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (setgid(65534) || setuid(65534))
            _exit(100);
        sharena_conn *c;
        sharena_arena *a;
        sharena_open_opts o = {.flags = flags};
        int r = sharena_connect(sock, &c);
        if (r)
            _exit(101);
        r = sharena_open(c, name, &o, &a);
        if (r == SHARENA_EACCES)
            _exit(13);
        if (r)
            _exit(102);
        sharena_id n;
        char probe[32]; /* a fresh root: making it is a write */
        snprintf(probe, sizeof(probe), "probe.%d", (int)getpid());
        if (sharena_root_ensure(a, probe, SHARENA_T_NUMBER, 0, &n, NULL) ==
            SHARENA_EROFS) {
            /* and the read-only fd cannot be reopened read-write */
            char path[64];
            snprintf(path, sizeof(path), "/proc/self/fd/%d",
                     sharena_arena_fd(a));
            int rw = open(path, O_RDWR);
            if (rw >= 0 || errno != EACCES)
                _exit(103);
            _exit(30); /* read-only grant */
        }
        _exit(0);      /* read-write grant */
    }
    return wait_child(pid);
}

Test(broker, mode_decides_other_users_access)
{
    if (getuid() != 0)
        cr_skip_test("needs root to act as another uid");
    sharena_conn *c = conn();
    sharena_arena *p = create(c, "private", 0600);
    sharena_arena *r = create(c, "readable", 0644);
    sharena_arena *w = create(c, "writable", 0666);
    chmod(B.dir, 0755); /* let uid 65534 reach the socket */
    /* root's arenas, named with their owner: a plain name would be
     * nobody's own (tests/integration/names.c) */
    cr_assert_eq(as_nobody(B.socket, "0:private", 0), 13);
    cr_assert_eq(as_nobody(B.socket, "root:readable", 0), 30);
    cr_assert_eq(as_nobody(B.socket, "0:writable", 0), 0);
    cr_assert_eq(as_nobody(B.socket, "0:writable", SHARENA_READONLY), 30);
    sharena_arena_close(p);
    sharena_arena_close(r);
    sharena_arena_close(w);
    sharena_disconnect(c);
}

Test(broker_policy, policy_file_grants_more, .timeout = 60)
{
    if (getuid() != 0)
        cr_skip_test("needs root to act as another uid");
    char path[] = "/tmp/sharena-policy.XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    const char *text = "# grants\nteam.* 65534 rw\nview.* @65534 ro\n";
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    cr_assert_eq(test_broker_start(&B, "--policy", path, NULL), 0);
    sharena_conn *c = conn();
    sharena_arena *t = create(c, "team.a", 0600);
    sharena_arena *v = create(c, "view.a", 0600);
    sharena_arena *o = create(c, "other", 0600);
    chmod(B.dir, 0755);
    cr_expect_eq(as_nobody(B.socket, "0:team.a", 0), 0);
    cr_expect_eq(as_nobody(B.socket, "0:view.a", 0), 30);
    cr_expect_eq(as_nobody(B.socket, "0:other", 0), 13);
    sharena_arena_close(t);
    sharena_arena_close(v);
    sharena_arena_close(o);
    sharena_disconnect(c);
    cr_expect_eq(test_broker_stop(&B), 0);
    unlink(path);

    /* A broken policy file stops the broker at start-up with a message. */
    fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    cr_assert_eq(write(fd, "x* nosuchuser_zz rw\n", 20), 20);
    close(fd);
    cr_assert_neq(test_broker_start(&B, "--policy", path, NULL), 0);
    test_broker_stop(&B);
    unlink(path);
}

Test(broker, delegated_connection_is_attenuated)
{
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "granted", 0);
    sharena_arena *x = create(c, "secret", 0);
    sharena_id n;
    cr_assert_eq(sharena_root_ensure(a, "n", SHARENA_T_NUMBER, 0, &n, NULL), 0);
    cr_assert_eq(sharena_number_set(a, n, 99), 0);
    const char *names[] = {"granted"};
    int dfd;
    cr_assert_eq(sharena_delegate(c, names, 1, SHARENA_READONLY, &dfd), 0);

    pid_t pid = fork();
    if (pid == 0) {
        /* A sandboxed child: no filesystem, no new sockets. It finds its
         * connection through SHARENA_FD. */
        char num[16];
        int keep = dup(dfd); /* without CLOEXEC, as a spawner would */
        snprintf(num, sizeof(num), "%d", keep);
        setenv("SHARENA_FD", num, 1);
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
        seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(openat), 0);
        seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(open), 0);
        seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 0);
        seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(connect), 0);
        if (seccomp_load(ctx))
            _exit(10);
        if (open("/etc/hostname", O_RDONLY) >= 0)
            _exit(11);
        sharena_conn *cc;
        sharena_arena *aa, *xx;
        if (sharena_connect(NULL, &cc))
            _exit(12);
        if (sharena_open(cc, "secret", NULL, &xx) != SHARENA_EACCES)
            _exit(13);
        if (sharena_open(cc, "granted", NULL, &aa))
            _exit(14);
        double d;
        if (sharena_number_get(aa, n, &d) || d != 99)
            _exit(15);
        if (sharena_number_set(aa, n, 1) != SHARENA_EROFS)
            _exit(16);
        if (sharena_delete(cc, "granted") != SHARENA_EACCES)
            _exit(17);
        sharena_open_opts cr8 = {.flags = SHARENA_CREATE};
        if (sharena_open(cc, "newone", &cr8, &xx) != SHARENA_EACCES)
            _exit(18);
        _exit(0);
    }
    close(dfd);
    cr_assert_eq(wait_child(pid), 0);
    sharena_arena_close(a);
    sharena_arena_close(x);
    sharena_disconnect(c);
}

Test(broker, steady_state_is_sandboxed)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", B.pid);
    int mode = -1;
    /* The socket accepts a moment before the filter is loaded: look again
     * for up to ~10 s (a hang guard, not a timing check). */
    for (int tries = 0; tries < 1000 && mode != 2; tries++) {
        FILE *f = fopen(path, "r");
        cr_assert_not_null(f);
        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "Seccomp: %d", &mode) == 1)
                break;
        fclose(f);
        if (mode != 2)
            usleep(10000);
    }
    cr_assert_eq(mode, 2, "seccomp filter mode");
}

static int raw_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    cr_assert_lt(strlen(path), sizeof(sa.sun_path), "socket path too long");
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

Test(broker, malformed_peers_are_dropped_others_served)
{
    sharena_conn *good = conn();
    sharena_arena *a = create(good, "still", 0);
    /* garbage, a truncated header, a valid header of a reply type, and an
     * fd nobody asked for */
    const char garbage[] = "GET / HTTP/1.1\r\n\r\n";
    int fds[4];
    for (int i = 0; i < 4; i++)
        fds[i] = raw_connect(B.socket);
    cr_assert_eq(send(fds[0], garbage, sizeof(garbage), 0), sizeof(garbage));
    cr_assert_eq(send(fds[1], "SHNA", 4, 0), 4);
    uint32_t welcome[4] = {0x414e4853u, SHARENA__PROTO_VERSION | (2u << 16), 16, 1};
    cr_assert_eq(send(fds[2], welcome, 16, 0), 16);
    {
        int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        char byte = 0;
        struct iovec iov = {.iov_base = &byte, .iov_len = 1};
        union {
            struct cmsghdr h;
            char buf[CMSG_SPACE(sizeof(int))];
        } u;
        memset(&u, 0, sizeof(u));
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1,
                            .msg_control = u.buf,
                            .msg_controllen = sizeof(u.buf)};
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &devnull, sizeof(int));
        cr_assert_eq(sendmsg(fds[3], &mh, 0), 1);
        close(devnull);
    }
    for (int i = 0; i < 4; i++) {
        char buf[64];
        /* the broker closes each of them: recv sees end of stream */
        struct timeval tv = {.tv_sec = 5};
        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        cr_assert_eq(recv(fds[i], buf, sizeof(buf), 0), 0, "peer %d", i);
        close(fds[i]);
    }
    sharena_arena_stat st;
    cr_assert_eq(sharena_stat(good, "still", &st), 0);
    /* the broker holds no fd the bad peer sent */
    char fdpath[64], target[256];
    int leaked = 0;
    for (int i = 0; i < 64; i++) {
        snprintf(fdpath, sizeof(fdpath), "/proc/%d/fd/%d", B.pid, i);
        ssize_t n = readlink(fdpath, target, sizeof(target) - 1);
        if (n > 0) {
            target[n] = 0;
            leaked += strcmp(target, "/dev/null") == 0;
        }
    }
    cr_assert_eq(leaked, 0);
    sharena_arena_close(a);
    sharena_disconnect(good);
}

Test(broker, second_broker_refuses_live_socket_replaces_stale)
{
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        execl(test_sharenad_path(), "sharenad", "--foreground", "--socket",
              B.socket, (char *)NULL);
        _exit(127);
    }
    cr_assert_eq(wait_child(pid), 1, "second broker on a live socket");
    sharena_conn *c = conn(); /* the first still serves */
    sharena_disconnect(c);

    /* Kill the broker hard: its socket file stays; the next one takes over. */
    kill(B.pid, SIGKILL);
    waitpid(B.pid, NULL, 0);
    B.pid = 0;
    char dir[64];
    strcpy(dir, B.dir);
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        execl(test_sharenad_path(), "sharenad", "--foreground", "--socket",
              B.socket, (char *)NULL);
        _exit(127);
    }
    B.pid = pid;
    sharena_conn *c2 = NULL;
    for (int i = 0; i < 200 && sharena_connect(B.socket, &c2) != 0; i++)
        usleep(10000);
    cr_assert_not_null(c2, "new broker on the stale socket");
    sharena_disconnect(c2);
}

Test(broker_limits, per_user_limits, .timeout = 60)
{
    cr_assert_eq(test_broker_start(&B, "--max-clients", "4", "--max-arenas",
                                   "2", "--max-capacity", "3M", NULL),
                 0);
    sharena_conn *c[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(sharena_connect(B.socket, &c[i]), 0);
    sharena_conn *extra;
    cr_assert_eq(sharena_connect(B.socket, &extra), SHARENA_ENOSPC);
    sharena_arena *a, *b, *x;
    sharena_open_opts o = {.flags = SHARENA_CREATE, .capacity = 1 << 20};
    cr_assert_eq(sharena_open(c[0], "l1", &o, &a), 0);
    sharena_open_opts big = {.flags = SHARENA_CREATE, .capacity = 4 << 20};
    cr_assert_eq(sharena_open(c[0], "big", &big, &x), SHARENA_ENOSPC);
    cr_assert_eq(sharena_open(c[0], "l2", &o, &b), 0);
    cr_assert_eq(sharena_open(c[0], "l3", &o, &x), SHARENA_ENOSPC);
    /* freeing a connection makes room again */
    sharena_disconnect(c[3]);
    usleep(100000);
    cr_assert_eq(sharena_connect(B.socket, &c[3]), 0);
    sharena_arena_close(a);
    sharena_arena_close(b);
    for (int i = 0; i < 4; i++)
        sharena_disconnect(c[i]);
    cr_expect_eq(test_broker_stop(&B), 0);
}

Test(broker, forked_child_gets_its_own_slot)
{
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "forky", 0);
    uint32_t parent_slot = sharena_conn_slot(c);
    pid_t pid = fork();
    if (pid == 0) {
        sharena_arena_stat st;
        /* The first request reconnects: a slot of the child's own. */
        if (sharena_stat(c, "forky", &st))
            _exit(1);
        if (sharena_conn_slot(c) == parent_slot || sharena_conn_slot(c) == 0)
            _exit(2);
        sharena_id n;
        if (sharena_root_ensure(a, "child", SHARENA_T_NUMBER, 0, &n, NULL))
            _exit(3);
        _exit(0);
    }
    cr_assert_eq(wait_child(pid), 0);
    sharena_arena_stat st;
    cr_assert_eq(sharena_stat(c, "forky", &st), 0, "parent's connection intact");
    cr_assert_eq(sharena_conn_slot(c), parent_slot);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

Test(broker, autostart_starts_a_per_user_broker)
{
    char dir[] = "/tmp/sharena-auto.XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char sock[128];
    snprintf(sock, sizeof(sock), "%s/sub/broker.sock", dir);
    setenv("SHARENA_SOCKET", sock, 1);
    setenv("SHARENA_SHARENAD", test_sharenad_path(), 1);
    setenv("SHARENA_AUTOSTART", "0", 1);
    sharena_conn *c;
    cr_assert_eq(sharena_connect(NULL, &c), SHARENA_ECONNREFUSED);
    unsetenv("SHARENA_AUTOSTART");
    cr_assert_eq(sharena_connect(NULL, &c), 0);
    sharena_arena *a = create(c, "auto", 0);
    sharena_arena_close(a);
    /* It is not our child (it daemonised): ask it to exit. */
    cr_assert_eq(sharena_broker_shutdown(c), 0);
    sharena_disconnect(c);
    /* Its socket file going away says it shut down. */
    for (int i = 0; i < 500 && access(sock, F_OK) == 0; i++)
        usleep(10000);
    cr_assert_neq(access(sock, F_OK), 0, "autostarted broker stopped");
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* A fake broker that hands out an unsealed memfd: the client refuses it. */
Test(broker_fake, unsealed_memfd_is_refused)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    /* the replies, queued before the client asks: WELCOME, then OPENED with
     * a plain memfd formatted by nobody and sealed by nobody */
    uint32_t welcome[10] = {0x414e4853u, SHARENA__PROTO_VERSION | (2u << 16), 40, 1, 7, 0};
    uint64_t lh = sharena_layout_hash();
    memcpy(&welcome[6], &lh, sizeof lh);
    cr_assert_eq(send(sv[1], welcome, sizeof welcome, 0), (ssize_t)sizeof welcome);
    int mfd = memfd_create("fake", MFD_CLOEXEC);
    cr_assert_eq(ftruncate(mfd, SHARENA_MIN_CAPACITY), 0);
    uint32_t opened[12] = {0x414e4853u, SHARENA__PROTO_VERSION | (4u << 16), 48, 2, 0, 0, 0, 1, 0, 0, 0600, 0};
    uint64_t cap = SHARENA_MIN_CAPACITY;
    memcpy(&opened[4], &cap, sizeof cap);
    struct iovec iov = {.iov_base = opened, .iov_len = sizeof opened};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &mfd, sizeof(int));
    cr_assert_eq(sendmsg(sv[1], &mh, 0), (ssize_t)sizeof opened);
    close(mfd);
    sharena_conn *c;
    cr_assert_eq(sharena_connect_fd(sv[0], &c), 0);
    sharena_arena *a;
    cr_assert_eq(sharena_open(c, "x", NULL, &a), SHARENA_EUNSEALED);
    sharena_disconnect(c);
    close(sv[1]);
}

static int count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    int n = 0;
    DIR *d = opendir(path);
    cr_assert_not_null(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* Wait (a hang guard of @p tries x 10 ms, not a timing check) until the
 * broker holds no more descriptors than @p before; what it holds then. */
static int broker_fds_back_to(int before, int tries)
{
    int now = 0;
    for (int i = 0; i < tries; i++) {
        if ((now = count_fds(B.pid)) <= before)
            break;
        usleep(10000);
    }
    return now;
}

/* 500 connections at once, some silent, some half-open: the broker keeps
 * serving, and once they are gone it holds no more descriptors than
 * before. */
Test(broker, many_and_silent_peers_leak_nothing)
{
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "busy", 0);
    int before = count_fds(B.pid);
    enum { N = 500 };
    static int fds[N];
    for (int i = 0; i < N; i++) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        memcpy(sa.sun_path, B.socket, strlen(B.socket) + 1);
        fds[i] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        cr_assert_geq(fds[i], 0);
        cr_assert_eq(connect(fds[i], (struct sockaddr *)&sa, sizeof sa), 0,
                     "connection %d: %s", i, strerror(errno));
        if (i % 3 == 1)
            shutdown(fds[i], SHUT_WR); /* half-open */
    }
    /* served meanwhile */
    sharena_arena_stat st;
    cr_assert_eq(sharena_stat(c, "busy", &st), 0);
    sharena_conn *other = conn();
    sharena_disconnect(other);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    /* the broker notices every close */
    int now = broker_fds_back_to(before, 1000);
    cr_assert_leq(now, before, "broker fds: %d before, %d after", before, now);
    cr_assert_eq(sharena_stat(c, "busy", &st), 0);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

/* The broker stops and another starts: clients keep working on the arenas
 * they have mapped (the memory lives as long as a mapping does), their old
 * connection reports the broker gone, and new clients meet again through
 * the new broker. Names do not survive (docs/locking.md). */
Test(broker_restart, mappings_survive_names_do_not, .timeout = 60)
{
    cr_assert_eq(test_broker_start(&B, NULL), 0);
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "kept", 0);
    sharena_id n;
    cr_assert_eq(sharena_root_ensure(a, "n", SHARENA_T_NUMBER, 0, &n, NULL), 0);
    cr_assert_eq(sharena_number_set(a, n, 1), 0);
    cr_assert_eq(test_broker_stop(&B), 0);
    /* the mapping goes on without the broker, locks included */
    double d;
    cr_assert_eq(sharena_number_add(a, n, 1, &d), 0);
    cr_assert_eq(d, 2);
    sharena_arena_stat st;
    int r = sharena_stat(c, "kept", &st);
    cr_assert(r == SHARENA_ECONNREFUSED || r == SHARENA_EPROTO || r == -EPIPE ||
                  r == -ECONNRESET,
              "stat through a dead broker: %s", sharena_strerror(r));
    cr_assert_eq(test_broker_start(&B, NULL), 0);
    sharena_conn *c2 = conn();
    sharena_arena *b;
    cr_assert_eq(sharena_open(c2, "kept", NULL, &b), SHARENA_ENOENT);
    sharena_arena *again = create(c2, "kept", 0);
    cr_assert_eq(sharena_number_add(a, n, 1, &d), 0); /* still the old one */
    cr_assert_eq(d, 3);
    sharena_arena_close(again);
    sharena_disconnect(c2);
    sharena_arena_close(a);
    sharena_disconnect(c);
    cr_assert_eq(test_broker_stop(&B), 0);
}

/* A broker that stops (SIGTERM, SHUTDOWN) leaves the locks of clients that
 * are still alive alone: it used to recover them as if the clients had
 * died, so another process could take a lock whose holder was still
 * writing under it. */
Test(broker_restart, stopping_leaves_live_clients_locks_alone, .timeout = 60)
{
    cr_assert_eq(test_broker_start(&B, NULL), 0);
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "held", 0);
    sharena_id m;
    cr_assert_eq(sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL), 0);
    cr_assert_eq(sharena_lock(a, m), 0);
    struct sharena__slot *s = sharena__slot_at(a, sharena__id_slot(m));
    uint32_t word = __atomic_load_n(&s->lock, __ATOMIC_ACQUIRE);
    cr_assert_eq(word & SHARENA__LOCK_OWNER_MASK, sharena_conn_slot(c));
    cr_assert_eq(test_broker_stop(&B), 0);
    cr_assert_eq(__atomic_load_n(&s->lock, __ATOMIC_ACQUIRE), word,
                 "the broker changed a live client's lock word on its way out");
    /* another process still waits for it (no takeover) */
    pid_t pid = fork();
    if (pid == 0) {
        sharena_arena *b;
        if (sharena_arena_from_fd(sharena_arena_fd(a), 0, &b))
            _exit(1);
        alarm(2); /* it must still be waiting when this fires */
        sharena_map_set_number(b, m, "stolen", 6, 1);
        _exit(2);
    }
    cr_assert_eq(wait_child(pid), 128 + SIGALRM, "the lock was taken over");
    /* the holder finishes its work and lets go */
    cr_assert_eq(sharena_map_set_number(a, m, "mine", 4, 1), 0);
    cr_assert_eq(sharena_unlock(a, m), 0);
    cr_assert_eq(sharena_map_set_number(a, m, "after", 5, 2), 0);
    cr_assert_eq(sharena_fsck(a, 0, NULL, NULL, NULL), 0);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

/* CLIENTS withholds another user's pid and uid from a reader that is
 * neither root nor the arena's owner. */
Test(broker, clients_hides_other_users_from_readers)
{
    if (getuid() != 0)
        cr_skip_test("needs root to act as another uid");
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "shown", 0644);
    chmod(B.dir, 0755); /* let uid 65534 reach the socket */
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        if (setgid(65534) || setuid(65534))
            _exit(100);
        sharena_conn *cc;
        sharena_arena *aa;
        sharena_open_opts o = {.flags = SHARENA_READONLY};
        if (sharena_connect(B.socket, &cc) || sharena_open(cc, "0:shown", &o, &aa))
            _exit(101);
        sharena_client_info *v;
        size_t n;
        if (sharena_clients(cc, "0:shown", &v, &n) || n != 2)
            _exit(102);
        int rc = 0;
        for (size_t i = 0; i < n; i++) {
            if (v[i].slot == sharena_conn_slot(cc)) {
                /* its own entry: shown */
                if (v[i].hidden || v[i].pid != (uint32_t)getpid() || v[i].uid != 65534)
                    rc = 103;
            } else if (!v[i].hidden || v[i].pid || v[i].uid) {
                rc = 104; /* root's connection: withheld */
            }
        }
        free(v);
        (void)!write(p[1], "x", 1);
        _exit(rc);
    }
    close(p[1]);
    char ch;
    cr_assert_eq(read(p[0], &ch, 1), 1, "child failed early");
    cr_assert_eq(wait_child(pid), 0);
    /* the owner (root) sees everyone */
    sharena_client_info *v;
    size_t n;
    cr_assert_eq(sharena_clients(c, "shown", &v, &n), 0);
    for (size_t i = 0; i < n; i++)
        cr_assert(!v[i].hidden);
    free(v);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

/* ---- more hostile peers: bad messages after HELLO, floods, descriptors -- */

/* A raw connection past HELLO (the broker's WELCOME read and checked). */
static int hello_raw(void)
{
    int fd = raw_connect(B.socket);
    struct sharena__msg_hello h;
    memset(&h, 0, sizeof h);
    sharena__proto_hdr(&h.h, SHARENA__MSG_HELLO, sizeof h, 1);
    h.layout_hash = sharena_layout_hash();
    cr_assert_eq(send(fd, &h, sizeof h, 0), (ssize_t)sizeof h);
    union sharena__msg w;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssize_t n = recv(fd, &w, sizeof w, 0);
    cr_assert_eq(n, (ssize_t)sizeof w.welcome, "WELCOME");
    cr_assert_eq(sharena__proto_check(&w, (size_t)n), SHARENA__MSG_WELCOME);
    return fd;
}

static void stat_msg(struct sharena__msg_name *m, const char *name)
{
    memset(m, 0, sizeof *m);
    sharena__proto_hdr(&m->h, SHARENA__MSG_STAT, sizeof *m, 2);
    strcpy(m->name, name);
}

/* Each message below is refused by dropping its sender, after HELLO as
 * before it: oversized, an unknown type, a header whose length lies, an
 * OPEN with unknown flag bits, a mode out of range or an unterminated
 * name, a name outside the charset, a 0-byte datagram. The broker keeps
 * serving, and holds no more descriptors once they are gone. */
Test(broker, bad_messages_after_hello_drop_only_their_sender)
{
    sharena_conn *good = conn();
    sharena_arena *a = create(good, "still", 0);
    int before = count_fds(B.pid);
    static uint8_t big[SHARENA__PROTO_MAX + 512];
    struct sharena__msg_name m;
    enum { CASES = 8 };
    for (int i = 0; i < CASES; i++) {
        int fd = hello_raw();
        const void *p = &m;
        size_t len = sizeof m;
        stat_msg(&m, "still");
        switch (i) {
        case 0: /* oversized: more than the largest datagram */
            memcpy(big, &m, sizeof m);
            ((struct sharena__msg_hdr *)big)->length = sizeof big;
            p = big;
            len = sizeof big;
            break;
        case 1: /* unknown type */
            m.h.type = SHARENA__MSG_TYPE_MAX + 1;
            break;
        case 2: /* the header's length is not the datagram's */
            m.h.length = sizeof m - 8;
            break;
        case 3: /* OPEN with a flag bit nobody defined */
            m.h.type = SHARENA__MSG_OPEN;
            m.flags = 1u << 7;
            break;
        case 4: /* OPEN with a mode out of range */
            m.h.type = SHARENA__MSG_OPEN;
            m.flags = SHARENA_CREATE;
            m.mode = 04777;
            break;
        case 5: /* a name without its NUL */
            memset(m.name, 'a', sizeof m.name);
            break;
        case 6: /* a name outside [A-Za-z0-9._-] */
            strcpy(m.name, "../etc");
            break;
        case 7: /* nothing at all */
            len = 0;
            break;
        }
        if (len)
            cr_assert_eq(send(fd, p, len, 0), (ssize_t)len, "case %d", i);
        else
            cr_assert_eq(send(fd, "", 0, 0), 0);
        char buf[64];
        cr_assert_eq(recv(fd, buf, sizeof buf, 0), 0,
                     "case %d: the broker closes the connection", i);
        close(fd);
        sharena_arena_stat st;
        cr_assert_eq(sharena_stat(good, "still", &st), 0, "case %d", i);
    }
    int now = broker_fds_back_to(before, 500);
    cr_assert_leq(now, before, "broker fds: %d before, %d after", before, now);
    sharena_arena_close(a);
    sharena_disconnect(good);
}

/* A client that sends requests and never reads the replies fills its
 * socket: the broker drops it instead of waiting (its sends never block),
 * and serves everyone else meanwhile. */
Test(broker, flooder_that_never_reads_is_dropped)
{
    sharena_conn *good = conn();
    sharena_arena *a = create(good, "still", 0);
    int fd = hello_raw();
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    struct sharena__msg_name m;
    stat_msg(&m, "still");
    bool dropped = false;
    for (int i = 0; i < 200000 && !dropped; i++) {
        ssize_t n = send(fd, &m, sizeof m, 0);
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
            dropped = true;
        else if (n < 0 && errno == EAGAIN)
            usleep(1000); /* the broker has not read them yet */
        if (i % 64 == 0) {
            sharena_arena_stat st;
            cr_assert_eq(sharena_stat(good, "still", &st), 0,
                         "served while the flood goes on");
        }
    }
    /* the replies queued before the drop, then end of stream */
    fcntl(fd, F_SETFL, 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    union sharena__msg r;
    ssize_t n;
    long replies = 0;
    while ((n = recv(fd, &r, sizeof r, 0)) > 0)
        replies++;
    cr_assert(dropped || n == 0, "the flooder was dropped (%ld replies read)",
              replies);
    /* closed by the broker: end of stream, or a reset when it closed with
     * our requests still unread; a timeout would mean it kept the peer */
    cr_assert(n == 0 || errno == ECONNRESET, "closed, not kept (%s)",
              strerror(errno));
    close(fd);
    sharena_arena_stat st;
    cr_assert_eq(sharena_stat(good, "still", &st), 0);
    sharena_arena_close(a);
    sharena_disconnect(good);
}

static long cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    cr_assert_not_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* fields after the command, which is in parentheses: 14 utime, 15 stime */
    char *p = strrchr(buf, ')');
    cr_assert_not_null(p);
    long ut = 0, st = 0;
    cr_assert_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                               "%ld %ld", &ut, &st), 2);
    return ut + st;
}

static int highest_fd(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    cr_assert_not_null(d);
    int max = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (atoi(e->d_name) > max)
            max = atoi(e->d_name);
    closedir(d);
    return max;
}

/* Out of file descriptors, the broker stops accepting (the connections
 * wait in the backlog) instead of waking up for them again and again; it
 * serves the clients it has, and accepts again once descriptors are free.
 * Busy-looping is told from waiting by the CPU time the broker uses in a
 * second (a spinning loop uses all of it). */
Test(broker_fds, out_of_descriptors_waits_without_spinning, .timeout = 60)
{
    cr_assert_eq(test_broker_start(&B, NULL), 0);
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "still", 0);
    int top = highest_fd(B.pid);
    struct rlimit old;
    cr_assert_eq(prlimit(B.pid, RLIMIT_NOFILE, NULL, &old), 0);
    struct rlimit rl = {(rlim_t)top + 6, old.rlim_max}; /* room for 5 more */
    cr_assert_eq(prlimit(B.pid, RLIMIT_NOFILE, &rl, NULL), 0, "%s",
                 strerror(errno));
    enum { N = 40 };
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = raw_connect(B.socket);
    sharena_arena_stat st;
    cr_assert_eq(sharena_stat(c, "still", &st), 0, "served");
    usleep(200000);
    long t0 = cpu_ticks(B.pid);
    sleep(1);
    long used = cpu_ticks(B.pid) - t0;
    cr_expect_lt(used, sysconf(_SC_CLK_TCK) / 2,
                 "the broker used %ld of %ld ticks in a second", used,
                 sysconf(_SC_CLK_TCK));
    cr_assert_eq(sharena_stat(c, "still", &st), 0, "still served");
    for (int i = 0; i < N; i++)
        close(fds[i]);
    cr_assert_eq(prlimit(B.pid, RLIMIT_NOFILE, &old, NULL), 0);
    sharena_conn *later = conn_eventually(); /* it resumes within a second */
    cr_assert_not_null(later, "accepting again");
    sharena_disconnect(later);
    sharena_arena_close(a);
    sharena_disconnect(c);
    cr_expect_eq(test_broker_stop(&B), 0);
}

/* Delegated connections count against their uid's --max-clients: a
 * delegation cannot be used to get around the limit. */
Test(broker_limits, delegated_connections_count, .timeout = 60)
{
    cr_assert_eq(test_broker_start(&B, "--max-clients", "2", NULL), 0);
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "granted", 0);
    const char *names[] = {"granted"};
    int d1, d2;
    cr_assert_eq(sharena_delegate(c, names, 1, 0, &d1), 0, "the second");
    cr_assert_eq(sharena_delegate(c, names, 1, 0, &d2), SHARENA_ENOSPC,
                 "a third connection of the uid, delegated");
    sharena_conn *extra;
    cr_assert_eq(sharena_connect(B.socket, &extra), SHARENA_ENOSPC);
    close(d1); /* gives its place back */
    sharena_conn *later = conn_eventually();
    cr_assert_not_null(later);
    sharena_disconnect(later);
    sharena_arena_close(a);
    sharena_disconnect(c);
    cr_expect_eq(test_broker_stop(&B), 0);
}

/* docs/security.md 6.3, the row that says what is *not* enforced: a
 * process of the broker's uid that holds a read-only arena fd can reopen
 * it read-write through /proc/self/fd/N (and write); the row for other
 * uids is mode_decides_other_users_access. */
Test(broker, same_uid_can_reopen_a_read_only_fd_read_write)
{
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "ro-limit", 0644);
    sharena_arena *ro;
    sharena_open_opts o = {.flags = SHARENA_READONLY};
    cr_assert_eq(sharena_open(c, "ro-limit", &o, &ro), 0);
    cr_assert(sharena_arena_readonly(ro));
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", sharena_arena_fd(ro));
    /* root opens it as it is; the owner of the 0400 inode chmods it first */
    if (getuid() != 0)
        cr_assert_eq(chmod(path, 0600), 0, "%s", strerror(errno));
    int fd = open(path, O_RDWR | O_CLOEXEC);
    cr_assert_geq(fd, 0, "reopened read-write: %s", strerror(errno));
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    cr_assert_neq(p, MAP_FAILED, "and mapped writable");
    munmap(p, 4096);
    close(fd);
    sharena_arena_close(ro);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

static int lock_owner_of(void *ctx, const sharena_lock_info *li)
{
    uint32_t *o = ctx;
    if (li->id)
        *o = li->owner;
    return 0;
}

/* DESIGN 3: a forked child gets a slot of its own before its first lock,
 * and the broker attaches it to the arena; the child's locks carry that
 * slot (not LOCAL | pid), and when the child is killed holding one the
 * broker recovers it like any client's. The parent's slot is untouched. */
Test(broker, forked_child_locks_under_a_slot_the_broker_recovers)
{
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "forked-lock", 0);
    uint32_t parent_slot = sharena_conn_slot(c);
    sharena_id m;
    cr_assert_eq(sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL), 0);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        /* no request first: the lock itself must get the slot */
        if (sharena_lock(a, m))
            _exit(1);
        uint32_t slot = sharena_conn_slot(c);
        (void)!write(p[1], &slot, sizeof slot);
        pause(); /* killed holding the lock */
        _exit(0);
    }
    uint32_t child_slot = 0;
    cr_assert_eq(read(p[0], &child_slot, sizeof child_slot),
                 (ssize_t)sizeof child_slot);
    uint32_t owner = 0;
    cr_assert_eq(sharena_locks(a, lock_owner_of, &owner), 0);
    cr_expect_neq(child_slot, parent_slot);
    cr_expect_eq(owner, child_slot, "the lock names the child's slot (%#x)",
                 owner);
    cr_expect_eq(owner & SHARENA_OWNER_LOCAL, 0, "not LOCAL | pid");
    sharena_arena_stat st;
    cr_assert_eq(sharena_stat(c, "forked-lock", &st), 0);
    cr_expect_eq(st.clients, 2, "the broker counts the child as a client");
    kill(pid, SIGKILL);
    cr_assert_eq(wait_child(pid), 128 + SIGKILL);
    /* the broker marks it owner-died when it sees the child's socket close;
     * the parent's next write takes it over */
    cr_assert_eq(sharena_map_set_number(a, m, "after", 5, 1), 0);
    cr_expect_eq(test_broker_wait_clients(c, "forked-lock", 1), 1,
                 "the child's open was released");
    cr_expect_eq(sharena_conn_slot(c), parent_slot);
    close(p[0]);
    close(p[1]);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

/* A forked child that talks to the broker, then disconnects its copy of
 * the connection, still has a usable arena: it locks as LOCAL | pid (no
 * connection to get a slot through), and closing the arena touches no
 * freed connection (ASan would see it). */
Test(broker, forked_child_disconnects_then_locks_and_closes)
{
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "fork-disc", 0);
    sharena_id m;
    cr_assert_eq(sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL), 0);
    pid_t pid = fork();
    if (pid == 0) {
        sharena_arena_stat st;
        if (sharena_stat(c, "fork-disc", &st)) /* a connection of its own */
            _exit(1);
        sharena_disconnect(c);
        if (sharena_map_set_number(a, m, "child", 5, 1))
            _exit(2);
        if (sharena_lock(a, m))
            _exit(3);
        uint32_t owner = 0;
        sharena_locks(a, lock_owner_of, &owner);
        if (!(owner & SHARENA_OWNER_LOCAL))
            _exit(4);
        sharena_unlock(a, m);
        sharena_arena_close(a);
        _exit(0);
    }
    cr_assert_eq(wait_child(pid), 0);
    sharena_id x;
    cr_assert_eq(sharena_map_get(a, m, "child", 5, &x), 0);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

/* The broker takes the hard limit on descriptors (at most 2^20) at
 * start-up, whatever soft limit it inherits: the usual soft 1024 is what
 * one uid's --max-clients alone allows. */
Test(broker_fds, start_up_raises_the_soft_descriptor_limit, .timeout = 60)
{
    struct rlimit old, low;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    if (old.rlim_max < 1024)
        cr_skip_test("hard descriptor limit %lu", (unsigned long)old.rlim_max);
    low = (struct rlimit){256, old.rlim_max};
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    int r = test_broker_start(&B, NULL); /* inherits the low soft limit */
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    cr_assert_eq(r, 0);
    struct rlimit now;
    cr_assert_eq(prlimit(B.pid, RLIMIT_NOFILE, NULL, &now), 0);
    rlim_t want = old.rlim_max > (1u << 20) ? (1u << 20) : old.rlim_max;
    cr_expect_eq(now.rlim_cur, want, "soft limit %lu, hard %lu",
                 (unsigned long)now.rlim_cur, (unsigned long)now.rlim_max);
    cr_expect_eq(test_broker_stop(&B), 0);
}
