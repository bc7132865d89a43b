/* Broker integration tests, who may open what: read-only opens, modes and
 * other uids, the policy file, delegated connections, the sandboxed steady
 * state, per-user limits, CLIENTS and what it shows to whom, reopening a
 * read-only fd.
 * A real sharenad on a private socket per test, real memfds, real processes
 * (fork), real credentials (setuid when root). */
#include "broker_common.h"

TestSuite(broker, .init = up, .fini = down, .timeout = 60);

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
        if (sharena_connect(B.socket, &cc) ||
            sharena_open(cc, "who", NULL, &aa))
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
        _exit(0); /* read-write grant */
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
        if (sharena_connect(B.socket, &cc) ||
            sharena_open(cc, "0:shown", &o, &aa))
            _exit(101);
        sharena_client_info *v;
        size_t n;
        if (sharena_clients(cc, "0:shown", &v, &n) || n != 2)
            _exit(102);
        int rc = 0;
        for (size_t i = 0; i < n; i++) {
            if (v[i].slot == sharena_conn_slot(cc)) {
                /* its own entry: shown */
                if (v[i].hidden || v[i].pid != (uint32_t)getpid() ||
                    v[i].uid != 65534)
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
