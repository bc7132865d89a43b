/* Names on a shared broker (docs/security.md, "Names on a shared broker"):
 * every user has a namespace of their own, a qualified "USER:name" or a
 * policy rule reaches another's arena, an open says whether it created the
 * arena and whose it is, and a create never hands over an arena that is not
 * what was asked. A real sharenad per test; another uid is a forked child
 * that became nobody (65534), so those tests need root (as in CI). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker_fixture.h"
#include "sharena.h"

#define NOBODY 65534

static struct test_broker B;

static void up(void)
{
    cr_assert_eq(test_broker_start(&B, NULL), 0);
    chmod(B.dir, 0755); /* let uid 65534 reach the socket */
}
static void down(void)
{
    cr_expect_eq(test_broker_stop(&B), 0, "broker exited uncleanly");
}

static void need_root(void)
{
    if (getuid() != 0)
        cr_skip_test("needs root to act as another uid (uid %u)",
                     (unsigned)getuid());
}

static sharena_conn *conn(void)
{
    sharena_conn *c;
    int r = sharena_connect(B.socket, &c);
    cr_assert_eq(r, 0, "connect: %s", sharena_strerror(r));
    return c;
}

static int open_as(sharena_conn *c, const char *name, unsigned flags,
                   uint32_t mode, sharena_arena **a)
{
    sharena_open_opts o = {.flags = flags, .capacity = 1 << 20, .mode = mode};
    *a = NULL;
    return sharena_open(c, name, &o, a);
}

static sharena_open_info info_of(const sharena_arena *a)
{
    sharena_open_info i = {.size = sizeof i};
    cr_assert_eq(sharena_arena_open_info(a, &i), 0);
    return i;
}

static void put(sharena_arena *a, const char *root, double v)
{
    sharena_id n;
    cr_assert_eq(sharena_root_ensure(a, root, SHARENA_T_NUMBER, 0, &n, NULL),
                 0);
    cr_assert_eq(sharena_number_set(a, n, v), 0);
}

/* The value of root @p root, or -1 when there is none. */
static double get(sharena_arena *a, const char *root)
{
    sharena_id n;
    double v;
    if (sharena_root_get(a, root, &n) < 0 || sharena_number_get(a, n, &v) < 0)
        return -1;
    return v;
}

static ino_t ino_of(sharena_arena *a)
{
    struct stat st;
    cr_assert_eq(fstat(sharena_arena_fd(a), &st), 0);
    return st.st_ino;
}

/* Run @p fn as nobody in a forked child: its exit status (0 = all held;
 * each check exits with its own number, so a failure says which). */
static int as_nobody(int (*fn)(void *), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
            _exit(100);
        _exit(fn(arg));
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

TestSuite(names, .init = up, .fini = down, .timeout = 60);

/* Row "own name": a plain name is the caller's own; the first open with
 * CREATE reports created, every later one does not; all report the owner
 * and the mode, and the qualified name that reaches it. */
Test(names, own_name_reports_created_and_owner)
{
    sharena_conn *c = conn();
    sharena_arena *a, *b, *d;
    cr_assert_eq(open_as(c, "cfg", SHARENA_CREATE, 0640, &a), 0);
    sharena_open_info i = info_of(a);
    cr_expect(i.broker && i.created && !i.readonly);
    cr_expect_eq(i.uid, getuid());
    cr_expect_eq(i.gid, getgid());
    cr_expect_eq(i.mode, 0640);
    char want[64];
    snprintf(want, sizeof want, "%u:cfg", (unsigned)getuid());
    cr_expect_str_eq(i.name, want);
    cr_assert_eq(open_as(c, "cfg", SHARENA_CREATE, 0640, &b), 0);
    cr_expect(!info_of(b).created);
    cr_assert_eq(open_as(c, "cfg", 0, 0, &d), 0);
    cr_expect(!info_of(d).created);
    cr_expect_eq(info_of(d).mode, 0640);
    cr_expect_eq(ino_of(a), ino_of(d));
    /* the qualified form of one's own name is the same arena */
    sharena_arena *q;
    cr_assert_eq(open_as(c, want, 0, 0, &q), 0);
    cr_expect_eq(ino_of(q), ino_of(a));
    /* a smaller struct (an older caller) gets only what it has room for */
    struct {
        uint32_t size;
        bool broker, created;
    } old = {.size = sizeof old};
    cr_expect_eq(sharena_arena_open_info(a, (sharena_open_info *)&old), 0);
    cr_expect(old.broker && old.created);
    sharena_open_info tiny = {.size = 4};
    cr_expect_eq(sharena_arena_open_info(a, &tiny), SHARENA_EINVAL);
    sharena_arena_close(q);
    sharena_arena_close(d);
    sharena_arena_close(b);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

/* Row "create with a different mode": a create-or-open of one's own arena
 * that asks for another mode is refused (EEXIST, the message says the
 * mode); without a mode, or without CREATE, it opens; EXCL always refuses. */
Test(names, create_asking_another_mode_is_refused)
{
    sharena_conn *c = conn();
    sharena_arena *a, *x;
    cr_assert_eq(open_as(c, "m", SHARENA_CREATE, 0640, &a), 0);
    cr_expect_eq(open_as(c, "m", SHARENA_CREATE, 0600, &x), SHARENA_EEXIST);
    cr_expect_null(x);
    cr_expect(strstr(sharena_broker_message(), "mode 0640") != NULL,
              "message: %s", sharena_broker_message());
    cr_expect_eq(open_as(c, "m", SHARENA_CREATE, 0, &x), 0);
    cr_expect(!info_of(x).created);
    sharena_arena_close(x);
    cr_expect_str_empty(sharena_broker_message());
    cr_expect_eq(open_as(c, "m", 0, 0, &x), 0);
    sharena_arena_close(x);
    cr_expect_eq(open_as(c, "m", SHARENA_CREATE | SHARENA_EXCL, 0640, &x),
                 SHARENA_EEXIST);
    /* nothing changed: still 0640, one arena */
    sharena_arena_stat st;
    cr_assert_eq(sharena_stat(c, "m", &st), 0);
    cr_expect_eq(st.mode, 0640);
    cr_expect_eq(st.clients, 1);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

/* Names as a user writes them: "USER:name" with a login name or a uid
 * becomes "UID:name"; anything else is refused before it is sent. */
Test(names, qualify_resolves_users)
{
    char buf[SHARENA_NAME_MAX + 1];
    cr_expect_eq(sharena_name_qualify("cfg", buf, sizeof buf), 0);
    cr_expect_str_eq(buf, "cfg");
    cr_expect_eq(sharena_name_qualify("root:cfg", buf, sizeof buf), 0);
    cr_expect_str_eq(buf, "0:cfg");
    cr_expect_eq(sharena_name_qualify("0042:cfg", buf, sizeof buf), 0);
    cr_expect_str_eq(buf, "42:cfg");
    cr_expect_eq(sharena_name_qualify("no_such_user_zz:cfg", buf, sizeof buf),
                 SHARENA_ENOENT);
    cr_expect_eq(sharena_name_qualify(":cfg", buf, sizeof buf), SHARENA_EINVAL);
    cr_expect_eq(sharena_name_qualify("0:", buf, sizeof buf), SHARENA_EINVAL);
    cr_expect_eq(sharena_name_qualify("0:a:b", buf, sizeof buf),
                 SHARENA_EINVAL);
    cr_expect_eq(sharena_name_qualify("4294967295:a", buf, sizeof buf),
                 SHARENA_EINVAL);
    char longname[SHARENA_NAME_MAX + 1];
    memset(longname, 'x', SHARENA_NAME_MAX);
    longname[SHARENA_NAME_MAX] = 0;
    cr_expect_eq(sharena_name_qualify(longname, buf, sizeof buf), 0);
    char q[SHARENA_NAME_MAX + 8];
    snprintf(q, sizeof q, "1:%s", longname + 1); /* 2 + 127 bytes */
    cr_expect_eq(sharena_name_qualify(q, buf, sizeof buf), SHARENA_ENAMETOOLONG,
                 "qualified: 128 bytes in all");
    /* and the broker refuses a create in another user's namespace even
     * from root: an arena belongs to who creates it */
    sharena_conn *c = conn();
    sharena_arena *a;
    cr_expect_eq(open_as(c, "12345:new", SHARENA_CREATE, 0, &a),
                 getuid() == 12345 ? 0 : SHARENA_EACCES);
    cr_expect(strstr(sharena_broker_message(), "namespace") != NULL,
              "message: %s", sharena_broker_message());
    sharena_disconnect(c);
}

/* Arenas not made through a broker say so. */
Test(names, local_arena_info)
{
    sharena_arena *a, *b;
    cr_assert_eq(sharena_arena_create("local", 0, &a), 0);
    sharena_open_info i = info_of(a);
    cr_expect(!i.broker && i.created);
    cr_expect_eq(i.uid, geteuid());
    cr_expect_str_empty(i.name);
    cr_assert_eq(sharena_arena_from_fd(sharena_arena_fd(a), 0, &b), 0);
    cr_expect(!info_of(b).broker && !info_of(b).created);
    sharena_arena_close(b);
    sharena_arena_close(a);
}

/* --- another uid ---------------------------------------------------------- */

static int nobody_creates_app_cfg(void *arg)
{
    (void)arg;
    sharena_conn *c;
    sharena_arena *a;
    if (sharena_connect(B.socket, &c))
        return 1;
    sharena_open_opts o = {.flags = SHARENA_CREATE, .mode = 0600};
    if (sharena_open(c, "app-cfg", &o, &a))
        return 2;
    sharena_open_info i = {.size = sizeof i};
    if (sharena_arena_open_info(a, &i) || !i.created || i.uid != NOBODY ||
        i.mode != 0600)
        return 3;
    sharena_id n;
    if (sharena_root_ensure(a, "mine", SHARENA_T_NUMBER, 0, &n, NULL) ||
        sharena_number_set(a, n, 7))
        return 4;
    return 0;
}

/* What nobody sees in its own app-cfg afterwards: its 7, and no secret. */
static int nobody_reads_app_cfg(void *arg)
{
    (void)arg;
    sharena_conn *c;
    sharena_arena *a;
    if (sharena_connect(B.socket, &c))
        return 1;
    sharena_open_opts o = {.flags = SHARENA_CREATE, .mode = 0600};
    if (sharena_open(c, "app-cfg", &o, &a))
        return 2;
    sharena_open_info i = {.size = sizeof i};
    if (sharena_arena_open_info(a, &i) || i.created || i.uid != NOBODY)
        return 3;
    sharena_id n;
    if (sharena_root_get(a, "secret", &n) != SHARENA_ENOENT)
        return 4; /* root's secret leaked into nobody's arena */
    double v;
    if (sharena_root_get(a, "mine", &n) || sharena_number_get(a, n, &v) ||
        v != 7)
        return 5;
    return 0;
}

/* Rows "other user's name, unqualified" and "root": the measured case.
 * nobody creates app-cfg (0600); root's create-or-open of app-cfg with mode
 * 0600 creates root's own, says so, and root's secret stays in it. */
Test(names, plain_name_never_yields_another_users_arena)
{
    need_root();
    cr_assert_eq(as_nobody(nobody_creates_app_cfg, NULL), 0);
    sharena_conn *c = conn();
    sharena_arena *a;
    /* without CREATE: root has no app-cfg; the message shows the way */
    cr_expect_eq(open_as(c, "app-cfg", 0, 0, &a), SHARENA_ENOENT);
    cr_expect(strstr(sharena_broker_message(), "65534:app-cfg") != NULL,
              "message: %s", sharena_broker_message());
    cr_assert_eq(open_as(c, "app-cfg", SHARENA_CREATE, 0600, &a), 0);
    sharena_open_info i = info_of(a);
    cr_expect(i.created, "root's create made a new arena of its own");
    cr_expect_eq(i.uid, 0);
    cr_expect_eq(i.mode, 0600);
    put(a, "secret", 42);
    cr_expect_eq(as_nobody(nobody_reads_app_cfg, NULL), 0);
    /* both exist, one per owner */
    sharena_arena_stat *st;
    size_t n, found = 0;
    cr_assert_eq(sharena_list(c, &st, &n), 0);
    for (size_t k = 0; k < n; k++)
        if (strcmp(st[k].name, "app-cfg") == 0)
            found |= st[k].uid == 0 ? 1 : st[k].uid == NOBODY ? 2 : 4;
    free(st);
    cr_expect_eq(found, 3);
    sharena_arena_close(a);
    sharena_disconnect(c);
}

/* Row "qualified": root reaches nobody's arena as nobody:app-cfg (or
 * 65534:app-cfg) without CREATE, told that it did not create it and whose
 * it is; with CREATE it is refused, naming the owner. CLOSE by that name
 * closes that arena, not root's own of the same plain name. */
Test(names, qualified_name_reaches_the_owner)
{
    need_root();
    cr_assert_eq(as_nobody(nobody_creates_app_cfg, NULL), 0);
    sharena_conn *c = conn();
    sharena_arena *own, *a, *b, *x;
    cr_assert_eq(open_as(c, "app-cfg", SHARENA_CREATE, 0600, &own), 0);
    cr_assert_eq(open_as(c, "nobody:app-cfg", 0, 0, &a), 0);
    sharena_open_info i = info_of(a);
    cr_expect(!i.created && !i.readonly);
    cr_expect_eq(i.uid, NOBODY);
    cr_expect_eq(i.mode, 0600);
    cr_expect_str_eq(i.name, "65534:app-cfg");
    cr_expect_eq(get(a, "mine"), 7);
    cr_assert_eq(open_as(c, "65534:app-cfg", 0, 0, &b), 0);
    cr_expect_eq(ino_of(a), ino_of(b));
    cr_expect_neq(ino_of(a), ino_of(own));
    cr_expect_eq(open_as(c, "65534:app-cfg", SHARENA_CREATE, 0600, &x),
                 SHARENA_EEXIST);
    cr_expect(strstr(sharena_broker_message(), "uid 65534") != NULL,
              "message: %s", sharena_broker_message());
    cr_expect_eq(open_as(c, "65534:app-cfg", SHARENA_CREATE, 0, &x),
                 SHARENA_EEXIST, "mode or no mode: not root's to create");
    cr_expect_eq(open_as(c, "65534:nothing", SHARENA_CREATE, 0, &x),
                 SHARENA_EACCES);
    /* closing each handle releases its own arena */
    sharena_arena_stat st;
    cr_assert_eq(sharena_stat(c, "65534:app-cfg", &st), 0);
    cr_expect_eq(st.uid, NOBODY);
    cr_expect_eq(st.clients, 1);
    sharena_arena_close(a);
    sharena_arena_close(b);
    cr_expect_eq(test_broker_wait_clients(c, "65534:app-cfg", 0), 0);
    cr_expect_eq(test_broker_wait_clients(c, "app-cfg", 1), 1);
    sharena_arena_close(own);
    sharena_disconnect(c);
}

static int nobody_meets_roots_names(void *arg)
{
    (void)arg;
    sharena_conn *c;
    sharena_arena *a;
    if (sharena_connect(B.socket, &c))
        return 1;
    sharena_open_opts ro = {.flags = 0}, cr = {.flags = SHARENA_CREATE};
    /* qualified, no access: denied, created nothing */
    if (sharena_open(c, "0:secret", &ro, &a) != SHARENA_EACCES)
        return 2;
    if (sharena_open(c, "root:secret", &cr, &a) != SHARENA_EACCES)
        return 3;
    /* a denied create-or-open tells nothing of the mode */
    if (strstr(sharena_broker_message(), "mode"))
        return 4;
    /* qualified, readable by mode: read-only, not created, owner root */
    if (sharena_open(c, "0:public", &ro, &a))
        return 5;
    sharena_open_info i = {.size = sizeof i};
    if (sharena_arena_open_info(a, &i) || i.created || i.uid != 0 ||
        i.mode != 0644 || !i.readonly)
        return 6;
    /* create-or-open of it: refused, naming the owner */
    if (sharena_open(c, "0:public", &cr, &a) != SHARENA_EEXIST ||
        !strstr(sharena_broker_message(), "uid 0"))
        return 7;
    /* the plain name is nobody's own: missing, then created */
    if (sharena_open(c, "public", &ro, &a) != SHARENA_ENOENT)
        return 8;
    if (sharena_open(c, "public", &cr, &a))
        return 9;
    if (sharena_arena_open_info(a, &i) || !i.created || i.uid != NOBODY)
        return 10;
    /* nor may nobody create in root's namespace */
    if (sharena_open(c, "0:fresh", &cr, &a) != SHARENA_EACCES)
        return 11;
    return 0;
}

/* Row "qualified, no access" and "qualified, read access": the mode
 * decides, and a create never crosses into another namespace. */
Test(names, another_users_qualified_names_follow_the_mode)
{
    need_root();
    sharena_conn *c = conn();
    sharena_arena *s, *p, *f;
    cr_assert_eq(open_as(c, "secret", SHARENA_CREATE, 0600, &s), 0);
    cr_assert_eq(open_as(c, "public", SHARENA_CREATE, 0644, &p), 0);
    cr_expect_eq(as_nobody(nobody_meets_roots_names, NULL), 0);
    cr_expect_eq(open_as(c, "fresh", 0, 0, &f), SHARENA_ENOENT);
    sharena_arena_close(s);
    sharena_arena_close(p);
    sharena_disconnect(c);
}

static int nobody_uses_the_shared_name(void *arg)
{
    (void)arg;
    sharena_conn *c;
    sharena_arena *a, *o;
    if (sharena_connect(B.socket, &c))
        return 1;
    sharena_open_opts ro = {.flags = 0}, cr = {.flags = SHARENA_CREATE};
    /* the plain name means root's arena, as the policy says: read-only */
    if (sharena_open(c, "shared.cfg", &ro, &a))
        return 2;
    sharena_open_info i = {.size = sizeof i};
    if (sharena_arena_open_info(a, &i) || i.created || i.uid != 0 ||
        !i.readonly || strcmp(i.name, "0:shared.cfg") != 0)
        return 3;
    sharena_id n;
    double v;
    if (sharena_root_get(a, "x", &n) || sharena_number_get(a, n, &v) || v != 5)
        return 4;
    /* create-or-open of it: refused, naming the owner */
    if (sharena_open(c, "shared.cfg", &cr, &o) != SHARENA_EEXIST ||
        !strstr(sharena_broker_message(), "uid 0"))
        return 5;
    /* a missing shared name is root's to create, not nobody's */
    if (sharena_open(c, "shared.new", &cr, &o) != SHARENA_EACCES)
        return 6;
    /* nobody's own arena of that name: by its qualified name */
    if (sharena_open(c, "nobody:shared.cfg", &cr, &o))
        return 7;
    if (sharena_arena_open_info(o, &i) || !i.created || i.uid != NOBODY)
        return 8;
    /* a name the policy does not share is nobody's own, even where root
     * has one nobody may read (by its qualified name: the message says) */
    if (sharena_open(c, "plain.cfg", &ro, &o) != SHARENA_ENOENT ||
        !strstr(sharena_broker_message(), "0:plain.cfg"))
        return 9;
    /* a delegated connection resolves in the delegator's namespace */
    const char *names[] = {"shared.cfg"};
    int dfd;
    sharena_conn *d;
    if (sharena_delegate(c, names, 1, 0, &dfd) || sharena_connect_fd(dfd, &d))
        return 10;
    if (sharena_open(d, "shared.cfg", &ro, &o) ||
        sharena_arena_open_info(o, &i) || i.uid != 0)
        return 11;
    if (sharena_open(d, "65534:shared.cfg", &ro, &o) != SHARENA_EACCES)
        return 12; /* granted: root's shared.cfg, not nobody's */
    return 0;
}

/* Row "granted by the policy file": "root:shared.* 65534 ro" shares root's
 * shared.* arenas with nobody under their plain names. */
Test(names_policy, policy_shares_a_name, .timeout = 60)
{
    need_root();
    char path[] = "/tmp/sharena-names-policy.XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    const char *text = "root:shared.* nobody ro\n";
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    int started = test_broker_start(&B, "--policy", path, NULL);
    unlink(path);
    cr_assert_eq(started, 0);
    chmod(B.dir, 0755);
    sharena_conn *c = conn();
    sharena_arena *a;
    cr_assert_eq(open_as(c, "shared.cfg", SHARENA_CREATE, 0600, &a), 0);
    put(a, "x", 5);
    sharena_arena *p;
    cr_assert_eq(open_as(c, "plain.cfg", SHARENA_CREATE, 0644, &p), 0);
    int rc = as_nobody(nobody_uses_the_shared_name, NULL);
    cr_expect_eq(rc, 0, "nobody's check %d failed", rc);
    /* root's own view is unchanged: the rule is about nobody */
    sharena_arena *b;
    cr_assert_eq(open_as(c, "shared.cfg", 0, 0, &b), 0);
    cr_expect_eq(info_of(b).uid, 0);
    cr_expect_eq(get(b, "x"), 5);
    sharena_arena_close(b);
    sharena_arena_close(p);
    sharena_arena_close(a);
    sharena_disconnect(c);
    cr_expect_eq(test_broker_stop(&B), 0);

    /* a policy naming an owner that does not exist stops the broker */
    fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0);
    const char *bad = "no_such_user_zz:x* root rw\n";
    cr_assert_eq(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
    close(fd);
    cr_expect_neq(test_broker_start(&B, "--policy", path, NULL), 0);
    test_broker_stop(&B);
    unlink(path);
}

/* sharena_open_opts.reserved is room for later options: a caller's
 * non-zero bytes there are refused (SHARENA_EINVAL, nothing created), so
 * that a later release can give them a meaning. */
Test(names, open_refuses_nonzero_reserved_options, .init = up, .fini = down)
{
    sharena_conn *c = conn();
    sharena_open_opts o = {.flags = SHARENA_CREATE, .capacity = 1 << 20};
    o.reserved[3] = 1;
    sharena_arena *a = NULL;
    cr_expect_eq(sharena_open(c, "reserved", &o, &a), SHARENA_EINVAL);
    cr_expect_null(a);
    sharena_arena_stat st;
    cr_expect_eq(sharena_stat(c, "reserved", &st), SHARENA_ENOENT);
    o.reserved[3] = 0;
    cr_assert_eq(sharena_open(c, "reserved", &o, &a), 0);
    sharena_arena_close(a);
    sharena_disconnect(c);
}
