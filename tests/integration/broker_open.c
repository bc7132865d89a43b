/* Broker integration tests, opening and naming: HELLO and client slots, open
 * flags and names, sealed CLOEXEC memfds, processes meeting by name, delete
 * and list, autostart, a second broker on the same socket, and a fake
 * broker that hands out an unsealed memfd.
 * A real sharenad on a private socket per test, real memfds, real processes
 * (fork), real credentials (setuid when root). */
#include "broker_common.h"

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
        if (sharena_connect(B.socket, &cc) ||
            sharena_open(cc, "shared", NULL, &aa) ||
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
    uint32_t welcome[10] = {
        0x414e4853u, SHARENA__PROTO_VERSION | (2u << 16), 40, 1, 7, 0};
    uint64_t lh = sharena_layout_hash();
    memcpy(&welcome[6], &lh, sizeof lh);
    cr_assert_eq(send(sv[1], welcome, sizeof welcome, 0),
                 (ssize_t)sizeof welcome);
    int mfd = memfd_create("fake", MFD_CLOEXEC);
    cr_assert_eq(ftruncate(mfd, SHARENA_MIN_CAPACITY), 0);
    uint32_t opened[12] = {0x414e4853u, SHARENA__PROTO_VERSION | (4u << 16),
                           48,          2,
                           0,           0,
                           0,           1,
                           0,           0,
                           0600,        0};
    uint64_t cap = SHARENA_MIN_CAPACITY;
    memcpy(&opened[4], &cap, sizeof cap);
    struct iovec iov = {.iov_base = opened, .iov_len = sizeof opened};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = u.buf,
                        .msg_controllen = sizeof u.buf};
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
