/* A broker restart loses no arena, no name and no recovery (issue 14.2,
 * docs/locking.md "When the broker stops or restarts"): the new broker
 * takes every arena back from the clients that hold it (or from the
 * service manager's fd store), a create of a name being taken back never
 * makes a second arena, a client that died while no broker ran has its
 * locks recovered, and no client can pass a memfd of its own off as an
 * arena the broker made. A real sharenad per test, restarted on the same
 * socket. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker_fixture.h"
#include "internal.h"
#include "layout.h"
#include "proto.h"
#include "sharena.h"

static struct test_broker B;

static sharena_conn *conn(void)
{
    sharena_conn *c = NULL;
    int r = 0;
    for (int i = 0; i < 500 && (r = sharena_connect(B.socket, &c)) != 0; i++)
        usleep(10000);
    cr_assert_eq(r, 0, "connect: %s", sharena_strerror(r));
    return c;
}

static sharena_arena *create(sharena_conn *c, const char *name)
{
    sharena_open_opts o = {.flags = SHARENA_CREATE, .capacity = 1 << 20};
    sharena_arena *a = NULL;
    int r = sharena_open(c, name, &o, &a);
    cr_assert_eq(r, 0, "create %s: %s (%s)", name, sharena_strerror(r),
                 sharena_broker_message());
    return a;
}

static int wait_child(pid_t pid)
{
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Kill the broker with SIGKILL (no goodbye, no last state write) and
 * start another on the same socket. */
static void crash_and_restart(void)
{
    cr_assert_gt(B.pid, 0);
    kill(B.pid, SIGKILL);
    waitpid(B.pid, NULL, 0);
    B.pid = 0;
    cr_assert_geq(test_broker_restart(&B), 0, "the new broker did not start");
}

/* The new broker has taken the arena back once a STAT through @p c
 * answers (the first requests may find the connection still reconnecting
 * or the name still being taken back: a hang guard of ~20 s). */
static int stat_when_back(sharena_conn *c, const char *name,
                          sharena_arena_stat *st)
{
    int r = 0;
    for (int i = 0; i < 2000; i++) {
        r = sharena_stat(c, name, st);
        if (r == 0)
            return 0;
        usleep(10000);
    }
    return r;
}

static void restart_keeps(bool crash)
{
    cr_assert_eq(test_broker_start(&B, NULL), 0);
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "kept");
    sharena_id n;
    cr_assert_eq(sharena_root_ensure(a, "n", SHARENA_T_NUMBER, 0, &n, NULL), 0);
    cr_assert_eq(sharena_number_set(a, n, 1), 0);
    if (crash)
        crash_and_restart();
    else
        cr_assert_eq(test_broker_restart(&B), 0, "SIGTERM: unclean exit");
    /* writes go on in the mapping while the broker changes */
    double d;
    cr_assert_eq(sharena_number_add(a, n, 1, &d), 0);
    cr_assert_eq(d, 2);
    /* a new client's create-or-open meets the very same arena */
    sharena_conn *c2 = conn();
    sharena_arena *b = create(c2, "kept");
    sharena_open_info oi = {.size = sizeof oi};
    cr_assert_eq(sharena_arena_open_info(b, &oi), 0);
    cr_assert(!oi.created, "a second arena 'kept' was made");
    sharena_id n2;
    cr_assert_eq(sharena_root_get(b, "n", &n2), 0);
    cr_assert_eq(sharena_number_get(b, n2, &d), 0);
    cr_assert_eq(d, 2, "the new client sees %g, not the old client's 2", d);
    cr_assert_eq(sharena_number_add(b, n2, 10, &d), 0);
    cr_assert_eq(sharena_number_get(a, n, &d), 0);
    cr_assert_eq(d, 12, "the old client does not see the new one's write");
    /* the old connection is back too, with its slot */
    sharena_arena_stat st;
    cr_assert_eq(stat_when_back(c, "kept", &st), 0);
    cr_assert_eq(st.clients, 2, "clients %u", st.clients);
    sharena_client_info *v;
    size_t k;
    cr_assert_eq(sharena_clients(c2, "kept", &v, &k), 0);
    bool old_slot = false;
    for (size_t i = 0; i < k; i++)
        old_slot = old_slot || v[i].slot == sharena_conn_slot(c);
    free(v);
    cr_assert(old_slot, "the old client did not get its slot back");
    /* and its locks go on working: lock, write, unlock */
    sharena_id m;
    cr_assert_eq(sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL), 0);
    cr_assert_eq(sharena_map_set_number(a, m, "k", 1, 5), 0);
    cr_assert_eq(sharena_fsck(b, 0, NULL, NULL, NULL), 0);
    sharena_arena_close(b);
    sharena_disconnect(c2);
    sharena_arena_close(a);
    sharena_disconnect(c);
    cr_assert_eq(test_broker_stop(&B), 0);
}

Test(restart, sigterm_keeps_names_data_and_slots, .timeout = 120)
{
    restart_keeps(false);
}

Test(restart, sigkill_keeps_names_data_and_slots, .timeout = 120)
{
    restart_keeps(true);
}

/* A child locks a map and is killed while no broker runs: the new broker
 * finds its slot dead and marks its lock, so the parent's next lock gets
 * it (after the repair) instead of waiting forever. */
Test(restart, client_dead_while_no_broker_has_its_locks_recovered,
     .timeout = 120)
{
    cr_assert_eq(test_broker_start(&B, NULL), 0);
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "orphan");
    sharena_id m;
    cr_assert_eq(sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL), 0);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        sharena_conn *cc;
        sharena_arena *aa;
        sharena_id mm;
        if (sharena_connect(B.socket, &cc) ||
            sharena_open(cc, "orphan", NULL, &aa) ||
            sharena_root_get(aa, "m", &mm) || sharena_lock(aa, mm))
            _exit(1);
        (void)!write(p[1], "l", 1);
        pause();
        _exit(0);
    }
    close(p[1]);
    char ch;
    cr_assert_eq(read(p[0], &ch, 1), 1, "the child did not lock");
    close(p[0]);
    kill(B.pid, SIGKILL);
    waitpid(B.pid, NULL, 0);
    B.pid = 0;
    kill(pid, SIGKILL); /* dies holding the lock, with no broker to see it */
    cr_assert_eq(wait_child(pid), 128 + SIGKILL);
    cr_assert_geq(test_broker_restart(&B), 0);
    /* hang guard only: without recovery this waits forever */
    int r = sharena_lock_timeout(a, m, 30 * INT64_C(1000000000));
    cr_assert(r == 0 || r == SHARENA_EOWNERDEAD, "lock: %s",
              sharena_strerror(r));
    cr_assert_eq(sharena_unlock(a, m), 0);
    cr_assert_eq(sharena_map_set_number(a, m, "after", 5, 1), 0);
    cr_assert_eq(sharena_fsck(a, 0, NULL, NULL, NULL), 0);
    sharena_arena_close(a);
    sharena_disconnect(c);
    cr_assert_eq(test_broker_stop(&B), 0);
}

/* Raw protocol: a HELLO, then ADOPT of @p name with @p fd. The ERROR code
 * of the reply, or 0 for OK. */
static int raw_adopt(const char *name, int fd)
{
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, B.socket, strnlen(B.socket, sizeof sa.sun_path - 1));
    cr_assert_eq(connect(s, (struct sockaddr *)&sa, sizeof sa), 0);
    struct sharena__msg_hello h;
    memset(&h, 0, sizeof h);
    sharena__proto_hdr(&h.h, SHARENA__MSG_HELLO, sizeof h, 1);
    h.layout_hash = sharena_layout_hash();
    cr_assert_eq(sharena__proto_send(s, &h, sizeof h, -1), 0);
    union sharena__msg m;
    ssize_t n = sharena__proto_recv(s, &m, NULL);
    cr_assert_eq(sharena__proto_check(&m, (size_t)n), SHARENA__MSG_WELCOME);
    struct sharena__msg_adopt ad;
    memset(&ad, 0, sizeof ad);
    sharena__proto_hdr(&ad.h, SHARENA__MSG_ADOPT, sizeof ad, 2);
    cr_assert_eq(sharena__proto_put_name(ad.name, name), 0);
    cr_assert_eq(sharena__proto_send(s, &ad, sizeof ad, fd), 0);
    n = sharena__proto_recv(s, &m, NULL);
    int t = sharena__proto_check(&m, (size_t)n);
    close(s);
    if (t == SHARENA__MSG_OK)
        return 0;
    cr_assert_eq(t, SHARENA__MSG_ERROR);
    cr_log_info("ADOPT refused: %s", m.error.text);
    return m.error.code;
}

/* A client tries to pass a memfd of its own off as arena 'real' (same
 * name, same identity copied from the real header, sealed like the
 * broker's): refused while the real one is being taken back, and
 * refused after; the holder of the real one gets it back. */
Test(restart, a_memfd_of_a_clients_own_is_never_adopted, .timeout = 120)
{
    cr_assert_eq(test_broker_start(&B, NULL), 0);
    int p[2], q[2];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(pipe(q), 0);
    pid_t holder = fork();
    if (holder == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(p[0]);
        close(q[1]);
        sharena_conn *cc;
        sharena_arena *aa;
        sharena_id n;
        sharena_open_opts o = {.flags = SHARENA_CREATE, .capacity = 1 << 20};
        if (sharena_connect(B.socket, &cc) ||
            sharena_open(cc, "real", &o, &aa) ||
            sharena_root_ensure(aa, "n", SHARENA_T_NUMBER, 0, &n, NULL) ||
            sharena_number_set(aa, n, 7))
            _exit(1);
        (void)!write(p[1], "r", 1);
        char ch;
        (void)!read(q[0], &ch, 1); /* until the parent is done */
        _exit(0);
    }
    close(p[1]);
    close(q[0]);
    char ch;
    cr_assert_eq(read(p[0], &ch, 1), 1);
    /* the identity, as any reader of the arena could copy it */
    sharena_conn *c = conn();
    sharena_arena *peek;
    sharena_open_opts ro = {.flags = SHARENA_READONLY};
    cr_assert_eq(sharena_open(c, "real", &ro, &peek), 0);
    uint64_t id0 = sharena__hdr(peek)->arena_id[0];
    uint64_t id1 = sharena__hdr(peek)->arena_id[1];
    cr_assert(id0 || id1, "the broker gave the arena no identity");
    sharena_arena_close(peek);
    sharena_disconnect(c);
    /* the holder cannot bring it back for now: stopped */
    kill(holder, SIGSTOP);
    crash_and_restart();
    sharena_arena *fake;
    cr_assert_eq(sharena_arena_create("real", 1 << 20, &fake), 0);
    sharena__hdr(fake)->arena_id[0] = id0;
    sharena__hdr(fake)->arena_id[1] = id1;
    char wire[64];
    snprintf(wire, sizeof wire, "%u:real", (unsigned)getuid());
    int r = raw_adopt(wire, sharena_arena_fd(fake));
    cr_assert_eq(r, SHARENA_EPERM, "a foreign memfd was adopted: %s",
                 sharena_strerror(r));
    /* nor is anything made of that name meanwhile */
    kill(holder, SIGCONT);
    sharena_conn *c2 = conn();
    sharena_arena *b = create(c2, "real");
    sharena_open_info oi = {.size = sizeof oi};
    cr_assert_eq(sharena_arena_open_info(b, &oi), 0);
    cr_assert(!oi.created);
    sharena_id n;
    double d = 0;
    cr_assert_eq(sharena_root_get(b, "n", &n), 0);
    cr_assert_eq(sharena_number_get(b, n, &d), 0);
    cr_assert_eq(d, 7);
    /* once it is back, the fake is refused as another memfd */
    r = raw_adopt(wire, sharena_arena_fd(fake));
    cr_assert_eq(r, SHARENA_EEXIST, "%s", sharena_strerror(r));
    sharena_arena_close(fake);
    sharena_arena_close(b);
    sharena_disconnect(c2);
    (void)!write(q[1], "q", 1);
    cr_assert_eq(wait_child(holder), 0);
    cr_assert_eq(test_broker_stop(&B), 0);
}

/* ------------------------------------------------------------ fd store */

/* One datagram from the notify socket: its text, and the fd it carried
 * (or -1). A hang guard of ~10 s; returns false when nothing came. */
static bool notify_recv(int ns, char *text, size_t cap, int *fd)
{
    *fd = -1;
    for (int i = 0; i < 1000; i++) {
        union {
            struct cmsghdr h;
            char buf[CMSG_SPACE(sizeof(int))];
        } u;
        struct iovec iov = {.iov_base = text, .iov_len = cap - 1};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = u.buf,
                            .msg_controllen = sizeof u.buf};
        ssize_t n = recvmsg(ns, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EAGAIN) {
            usleep(10000);
            continue;
        }
        cr_assert_geq(n, 0);
        text[n] = 0;
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        if (c && c->cmsg_type == SCM_RIGHTS)
            memcpy(fd, CMSG_DATA(c), sizeof(int));
        return true;
    }
    return false;
}

/* The service manager's fd store, played by this test: the broker hands
 * each arena's memfd to $NOTIFY_SOCKET (FDSTORE=1, FDNAME=a<identity>);
 * the next broker gets them back as LISTEN_FDS and takes back the arenas
 * that no client holds any more; DELETE takes the arena out of the store
 * (FDSTOREREMOVE=1). */
Test(restart, fd_store_keeps_arenas_no_client_holds, .timeout = 120)
{
    char dir[] = "/tmp/sharena-test.XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/notify", dir);
    int ns = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_eq(bind(ns, (struct sockaddr *)&sa, sizeof sa), 0);
    setenv("NOTIFY_SOCKET", sa.sun_path, 1);
    cr_assert_eq(test_broker_start(&B, NULL), 0);
    unsetenv("NOTIFY_SOCKET");
    sharena_conn *c = conn();
    sharena_arena *a = create(c, "stored");
    sharena_id n;
    cr_assert_eq(sharena_root_ensure(a, "n", SHARENA_T_NUMBER, 0, &n, NULL), 0);
    cr_assert_eq(sharena_number_set(a, n, 42), 0);
    sharena_arena_close(a);
    sharena_disconnect(c);
    char text[256], name[64] = "";
    int fd = -1;
    cr_assert(notify_recv(ns, text, sizeof text, &fd), "no FDSTORE message");
    cr_assert_geq(fd, 0, "FDSTORE without its fd: '%s'", text);
    cr_assert_eq(strncmp(text, "FDSTORE=1\nFDNAME=a", 18), 0, "'%s'", text);
    cr_assert_lt(strlen(text + 17), sizeof name);
    memcpy(name, text + 17, strlen(text + 17) + 1);
    /* the broker goes; nobody holds the arena but the "service manager" */
    kill(B.pid, SIGTERM);
    waitpid(B.pid, NULL, 0);
    /* which also listens on the socket (socket activation): the new broker
     * gets the listening socket and the stored arena, as systemd passes
     * them (the old broker's helper removes its socket first) */
    for (int i = 0; i < 500 && access(B.socket, F_OK) == 0; i++)
        usleep(10000);
    struct sockaddr_un la = {.sun_family = AF_UNIX};
    memcpy(la.sun_path, B.socket, strnlen(B.socket, sizeof la.sun_path - 1));
    int ls = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    cr_assert_eq(bind(ls, (struct sockaddr *)&la, sizeof la), 0, "%s",
                 strerror(errno));
    cr_assert_eq(listen(ls, 16), 0);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int l2 = fcntl(ls, F_DUPFD, 10), f2 = fcntl(fd, F_DUPFD, 10);
        if (l2 < 0 || f2 < 0 || dup2(l2, 3) != 3 || dup2(f2, 4) != 4)
            _exit(126);
        char num[32], names[128];
        snprintf(num, sizeof num, "%d", (int)getpid());
        snprintf(names, sizeof names, "sharenad.socket:%s", name);
        setenv("LISTEN_PID", num, 1);
        setenv("LISTEN_FDS", "2", 1);
        setenv("LISTEN_FDNAMES", names, 1);
        setenv("NOTIFY_SOCKET", sa.sun_path, 1);
        execl(test_sharenad_path(), "sharenad", "--foreground", "--socket",
              B.socket, (char *)NULL);
        _exit(127);
    }
    close(fd);
    close(ls);
    B.pid = pid;
    sharena_conn *c2 = conn();
    sharena_arena *b;
    int r = sharena_open(c2, "stored", NULL, &b);
    cr_assert_eq(r, 0, "the stored arena is gone: %s (%s)", sharena_strerror(r),
                 sharena_broker_message());
    double d = 0;
    cr_assert_eq(sharena_root_get(b, "n", &n), 0);
    cr_assert_eq(sharena_number_get(b, n, &d), 0);
    cr_assert_eq(d, 42);
    sharena_arena_close(b);
    /* DELETE takes it out of the store */
    cr_assert_eq(sharena_delete(c2, "stored"), 0);
    bool removed = false;
    while (!removed && notify_recv(ns, text, sizeof text, &fd)) {
        if (fd >= 0)
            close(fd);
        removed = strncmp(text, "FDSTOREREMOVE=1\nFDNAME=", 23) == 0 &&
                  strcmp(text + 23, name) == 0;
    }
    cr_assert(removed, "no FDSTOREREMOVE for %s", name);
    sharena_disconnect(c2);
    close(ns);
    unlink(sa.sun_path);
    rmdir(dir);
    cr_assert_eq(test_broker_stop(&B), 0);
}

/* An arena that no live client holds (and no fd store keeps) is gone with
 * the broker; its name is kept from use only for the grace period: a
 * create meanwhile waits (EAGAIN inside the library), then makes a new,
 * empty arena. The one that a client holds is back long before. */
Test(restart, a_name_nobody_brings_back_is_free_after_the_grace_period,
     .timeout = 120)
{
    cr_assert_eq(test_broker_start(&B, "--adopt-grace", "2", NULL), 0);
    sharena_conn *c = conn();
    sharena_arena *lost = create(c, "lost");
    sharena_id n;
    cr_assert_eq(sharena_root_ensure(lost, "n", SHARENA_T_NUMBER, 0, &n, NULL),
                 0);
    sharena_arena_close(lost); /* nobody holds it now but the broker */
    sharena_arena *kept = create(c, "kept");
    crash_and_restart();
    sharena_conn *c2 = conn();
    sharena_arena *again = create(c2, "lost");
    sharena_open_info oi = {.size = sizeof oi};
    cr_assert_eq(sharena_arena_open_info(again, &oi), 0);
    cr_assert(oi.created, "'lost' should be a new arena");
    cr_assert_eq(sharena_root_get(again, "n", &n), SHARENA_ENOENT);
    sharena_arena *k2;
    cr_assert_eq(sharena_open(c2, "kept", NULL, &k2), 0);
    sharena_arena_close(k2);
    sharena_arena_close(again);
    sharena_arena_close(kept);
    sharena_disconnect(c2);
    sharena_disconnect(c);
    cr_assert_eq(test_broker_stop(&B), 0);
}

/* Two restarts in a row while the only holder cannot answer (stopped):
 * the second broker records what the first was still waiting for, so the
 * third takes the arena back when the holder continues. */
Test(restart, two_restarts_before_the_holder_comes_back, .timeout = 120)
{
    cr_assert_eq(test_broker_start(&B, "--adopt-grace", "60", NULL), 0);
    int p[2], q[2];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(pipe(q), 0);
    pid_t holder = fork();
    if (holder == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(p[0]);
        close(q[1]);
        sharena_conn *cc;
        sharena_arena *aa;
        sharena_id n;
        sharena_open_opts o = {.flags = SHARENA_CREATE, .capacity = 1 << 20};
        if (sharena_connect(B.socket, &cc) ||
            sharena_open(cc, "twice", &o, &aa) ||
            sharena_root_ensure(aa, "n", SHARENA_T_NUMBER, 0, &n, NULL) ||
            sharena_number_set(aa, n, 9))
            _exit(1);
        (void)!write(p[1], "r", 1);
        char ch;
        (void)!read(q[0], &ch, 1);
        _exit(0);
    }
    close(p[1]);
    close(q[0]);
    char ch;
    cr_assert_eq(read(p[0], &ch, 1), 1);
    kill(holder, SIGSTOP);
    crash_and_restart();
    crash_and_restart();
    kill(holder, SIGCONT);
    sharena_conn *c = conn();
    sharena_arena *b;
    int r = sharena_open(c, "twice", NULL, &b);
    cr_assert_eq(r, 0, "%s (%s)", sharena_strerror(r),
                 sharena_broker_message());
    sharena_id n;
    double d = 0;
    cr_assert_eq(sharena_root_get(b, "n", &n), 0);
    cr_assert_eq(sharena_number_get(b, n, &d), 0);
    cr_assert_eq(d, 9);
    sharena_arena_close(b);
    sharena_disconnect(c);
    (void)!write(q[1], "q", 1);
    cr_assert_eq(wait_child(holder), 0);
    cr_assert_eq(test_broker_stop(&B), 0);
}
