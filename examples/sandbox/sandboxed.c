/* sandboxed.c: give an untrusted child exactly the arenas it needs.
 *
 * The pattern of a browser-like application: the parent (trusted) asks the
 * broker for delegated connections limited to what the child needs (here
 * "scores" read-only, and "board" plus a name "fresh" not created yet
 * read-write), then starts the child with nothing else. The child is a new
 * program image (fork + exec), so it inherits no mapping of the parent's
 * arenas and, every sharena descriptor being close-on-exec, none of the
 * parent's descriptors but the two it is handed; it checks both before it
 * confines itself. Then: no filesystem (chroot into an empty directory, as
 * root or inside a new user namespace), no new privileges, and a
 * default-deny seccomp filter that allows the child's own few needs plus
 * what sharena_sandbox_allow() adds for the library. The child finds its
 * read-only connection through $SHARENA_FD.
 *
 *   sandboxed [SOCKET]      (default: $SHARENA_SOCKET / the per-user broker)
 *
 * Exit status 0 when the child did what it was allowed to and every
 * forbidden thing (another arena, a write to a read-only one, a delete, a
 * wider re-delegation, a file, a new socket) was refused; 77 when this
 * machine cannot confine a process's filesystem (not root and no user
 * namespaces). */
#define _GNU_SOURCE
#include <sharena.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define DIE(...)                                                               \
    do {                                                                       \
        fprintf(stderr, __VA_ARGS__);                                          \
        exit(1);                                                               \
    } while (0)

#define CHECK(ok_, ...)                                                        \
    do {                                                                       \
        bool ok__ = (ok_);                                                     \
        printf("  [child] %s: ", ok__ ? "ok" : "FAILED");                      \
        printf(__VA_ARGS__);                                                   \
        putchar('\n');                                                         \
        ok &= ok__;                                                            \
    } while (0)

/* Sockets and memfds (a broker connection, an arena) this process holds
 * besides @p keep1 and @p keep2. (What the parent itself inherited from
 * its own caller, a terminal or a pipe, may pass through; sharena's own
 * descriptors are all close-on-exec.) */
static int other_fds(int keep1, int keep2)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0, self = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd == keep1 || fd == keep2 || fd == self)
            continue;
        char path[64], target[256];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t k = readlink(path, target, sizeof target - 1);
        target[k > 0 ? k : 0] = 0;
        if (strncmp(target, "socket:", 7) == 0 || strstr(target, "memfd:")) {
            printf("  [child] inherited descriptor %d: %s\n", fd, target);
            n++;
        }
    }
    closedir(d);
    return n;
}

/* Does this process map any memfd (an arena)? */
static int maps_memfd(void)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return -1;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, "memfd:") != NULL;
    fclose(f);
    return n;
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* An empty root: chroot needs CAP_SYS_CHROOT, which root has, and so does
 * any process inside a user namespace of its own. */
static int confine_filesystem(const char *empty)
{
    if (geteuid() != 0) {
        char map[64];
        uid_t uid = geteuid();
        gid_t gid = getegid();
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
            return -1;
        snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
        if (write_file("/proc/self/setgroups", "deny") < 0 ||
            write_file("/proc/self/uid_map", map) < 0)
            return -1;
        snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
        if (write_file("/proc/self/gid_map", map) < 0)
            return -1;
    }
    return chroot(empty) == 0 && chdir("/") == 0 ? 0 : -1;
}

static int child(const char *empty, int rw_fd)
{
    int ro_fd = atoi(getenv("SHARENA_FD") ? getenv("SHARENA_FD") : "-1");
    int ok = 1;
    /* 0. what it inherited: its two connections, no arena */
    CHECK(other_fds(ro_fd, rw_fd) == 0,
          "holds no socket or arena but its two delegated connections");
    CHECK(maps_memfd() == 0, "maps no arena of its parent's");
    /* 1. no filesystem */
    if (confine_filesystem(empty) < 0) {
        printf("  [child] cannot confine the filesystem here (%s): not root "
               "and no user namespaces\n",
               strerror(errno));
        return 77;
    }
    printf("  [child] chrooted into an empty directory\n");
    /* 2. no new privileges, 3. default deny + what the child needs */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        DIE("child: no_new_privs: %s\n", strerror(errno));
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    int own[] = {SCMP_SYS(write), SCMP_SYS(exit_group), SCMP_SYS(exit),
                 SCMP_SYS(brk),   SCMP_SYS(newfstatat), SCMP_SYS(fstat)};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        seccomp_rule_add(ctx, SCMP_ACT_ALLOW, own[i], 0);
    int r = sharena_sandbox_allow(ctx);
    if (r < 0 || seccomp_load(ctx) < 0)
        DIE("child: seccomp: %s\n", sharena_strerror(r));
    seccomp_release(ctx);
    printf("  [child] seccomp: default deny, plus sharena_sandbox_allow()\n");

    sharena_conn *ro, *rw;
    sharena_arena *a, *b, *f, *x;
    if ((r = sharena_connect(NULL, &ro)) < 0) /* through $SHARENA_FD */
        DIE("child: connect: %s\n", sharena_strerror(r));
    if ((r = sharena_connect_fd(rw_fd, &rw)) < 0)
        DIE("child: connect to its read-write delegation: %s\n",
            sharena_strerror(r));
    /* read-only: "scores" */
    if ((r = sharena_open(ro, "scores", NULL, &a)) < 0)
        DIE("child: open scores: %s\n", sharena_strerror(r));
    sharena_id m, v;
    sharena_value best;
    if (sharena_root_get(a, "scores", &m) ||
        sharena_map_get_value(a, m, "best", 4, NULL, 0, &best))
        DIE("child: cannot read scores\n");
    CHECK(best.type == SHARENA_T_NUMBER && best.number == 9001,
          "read scores/best = %g", best.number);
    r = sharena_map_set_number(a, m, "best", 4, 0);
    CHECK(r == SHARENA_EROFS, "write to read-only scores/best: %s",
          sharena_strerror(r));
    /* the number is stored in the map's entry: giving it an id is a write */
    r = sharena_map_get(a, m, "best", 4, &v);
    CHECK(r == SHARENA_EROFS, "an id for read-only scores/best: %s",
          sharena_strerror(r));
    r = sharena_open(ro, "secrets", NULL, &x);
    CHECK(r == SHARENA_EACCES, "open 'secrets': %s", sharena_strerror(r));
    r = sharena_open(rw, "secrets", NULL, &x);
    CHECK(r == SHARENA_EACCES, "open 'secrets' read-write: %s",
          sharena_strerror(r));
    r = sharena_delete(ro, "scores");
    CHECK(r == SHARENA_EACCES, "delete 'scores': %s", sharena_strerror(r));
    /* read-write: "board" (exists) and "fresh" (its to create) */
    sharena_id n;
    r = sharena_open(rw, "board", NULL, &b);
    if (r == 0)
        r = sharena_root_ensure(b, "moves", SHARENA_T_NUMBER, 0, &n, NULL);
    if (r == 0)
        r = sharena_number_add(b, n, 1, NULL);
    CHECK(r == 0, "one move on read-write 'board': %s", sharena_strerror(r));
    sharena_open_opts mk = {.flags = SHARENA_CREATE, .capacity = 1 << 20};
    r = sharena_open(rw, "fresh", &mk, &f);
    CHECK(r == 0, "create granted name 'fresh': %s", sharena_strerror(r));
    r = sharena_open(ro, "other", &mk, &x);
    CHECK(r == SHARENA_EACCES, "create a name not granted: %s",
          sharena_strerror(r));
    /* re-delegation: a subset only, read-only inherited */
    int sub;
    const char *wider[] = {"board", "secrets"}, *narrower[] = {"board"},
               *scores[] = {"scores"};
    r = sharena_delegate(rw, wider, 2, 0, &sub);
    CHECK(r == SHARENA_EACCES, "re-delegate more than it has: %s",
          sharena_strerror(r));
    r = sharena_delegate(rw, narrower, 1, 0, &sub);
    CHECK(r == 0, "re-delegate a subset: %s", sharena_strerror(r));
    if (r == 0)
        close(sub);
    r = sharena_delegate(ro, scores, 1, 0, &sub);
    if (r == 0) {
        /* whatever it asked, the new connection stays read-only */
        sharena_conn *s2;
        sharena_arena *a2;
        r = sharena_connect_fd(sub, &s2);
        if (r == 0 && (r = sharena_open(s2, "scores", NULL, &a2)) == 0)
            r = sharena_arena_readonly(a2) ? SHARENA_EROFS : 0;
    }
    CHECK(r == SHARENA_EROFS || r == SHARENA_EACCES,
          "re-delegate read-only scores as read-write: %s",
          sharena_strerror(r));
    /* the sandbox itself */
    int fd = open("/etc/passwd", O_RDONLY);
    CHECK(fd < 0, "open /etc/passwd: %s", fd < 0 ? strerror(errno) : "opened");
    int s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s < 0, "new socket: %s", s < 0 ? strerror(errno) : "made");
    fflush(stdout);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--child") == 0)
        return child(argv[2], atoi(argv[3]));
    sharena_conn *c;
    sharena_arena *scores, *secrets, *board;
    int r = sharena_connect(argc > 1 ? argv[1] : NULL, &c);
    if (r < 0)
        DIE("connect: %s\n", sharena_strerror(r));
    sharena_open_opts o = {.flags = SHARENA_CREATE, .capacity = 1 << 20};
    sharena_delete(c, "fresh"); /* a run before may have left it */
    if ((r = sharena_open(c, "scores", &o, &scores)) < 0 ||
        (r = sharena_open(c, "secrets", &o, &secrets)) < 0 ||
        (r = sharena_open(c, "board", &o, &board)) < 0)
        DIE("open: %s\n", sharena_strerror(r));
    sharena_id m, moves;
    sharena_root_ensure(scores, "scores", SHARENA_T_MAP, 0, &m, NULL);
    sharena_map_set_number(scores, m, "best", 4, 9001);
    sharena_root_ensure(board, "moves", SHARENA_T_NUMBER, 0, &moves, NULL);
    sharena_number_set(board, moves, 0);
    printf("[parent] arenas 'scores', 'secrets' and 'board'; delegating "
           "'scores' read-only, 'board' and 'fresh' read-write\n");

    const char *ro_names[] = {"scores"}, *rw_names[] = {"board", "fresh"};
    int ro_fd, rw_fd;
    if ((r = sharena_delegate(c, ro_names, 1, SHARENA_READONLY, &ro_fd)) < 0 ||
        (r = sharena_delegate(c, rw_names, 2, 0, &rw_fd)) < 0)
        DIE("delegate: %s\n", sharena_strerror(r));
    fflush(stdout);
    /* the empty root the child is confined to; removed when it is done */
    char empty[] = "/tmp/sharena-empty.XXXXXX";
    if (!mkdtemp(empty))
        DIE("mkdtemp: %s\n", strerror(errno));
    pid_t pid = fork();
    if (pid == 0) {
        /* the two descriptors the child gets, without close-on-exec */
        char ro_num[16], rw_num[16];
        int ro_keep = dup(ro_fd), rw_keep = dup(rw_fd);
        snprintf(ro_num, sizeof ro_num, "%d", ro_keep);
        snprintf(rw_num, sizeof rw_num, "%d", rw_keep);
        setenv("SHARENA_FD", ro_num, 1);
        execl("/proc/self/exe", argv[0], "--child", empty, rw_num,
              (char *)NULL);
        DIE("exec: %s\n", strerror(errno));
    }
    close(ro_fd);
    close(rw_fd);
    int st;
    waitpid(pid, &st, 0);
    rmdir(empty);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
    double d = 0;
    sharena_number_get(board, moves, &d);
    if (code == 0 && d != 1) {
        printf("[parent] the child's move did not arrive (moves = %g)\n", d);
        code = 1;
    }
    printf("[parent] the child %s\n",
           code == 0    ? "used exactly what it was given (board/moves = 1)"
           : code == 77 ? "could not be confined on this machine (skipped)"
                        : "FAILED");
    sharena_delete(c, "scores");
    sharena_delete(c, "secrets");
    sharena_delete(c, "board");
    sharena_delete(c, "fresh");
    sharena_arena_close(scores);
    sharena_arena_close(secrets);
    sharena_arena_close(board);
    sharena_disconnect(c);
    return code;
}
