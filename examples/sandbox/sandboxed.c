/* sandboxed.c: give an untrusted child exactly one arena, read-only.
 *
 * The pattern of a browser-like application: the parent (trusted) asks the
 * broker for a delegated connection limited to the arenas the child needs
 * (here "scores", read-only), then starts the child with nothing else: no
 * filesystem (chroot into an empty directory when run as root), no new
 * privileges, and a default-deny seccomp filter that allows the child's own
 * few needs plus what sharena_sandbox_allow() adds for the library. The
 * child finds its connection through $SHARENA_FD.
 *
 *   sandboxed [SOCKET]      (default: $SHARENA_SOCKET / the per-user broker)
 *
 * Exit status 0 when the child read its arena and every forbidden thing
 * (another arena, a write, a file, a new socket) was refused. */
#include <sharena.h>

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define DIE(...)                                                             \
    do {                                                                     \
        fprintf(stderr, __VA_ARGS__);                                        \
        exit(1);                                                             \
    } while (0)

static int child(const char *empty)
{
    /* 1. no filesystem: an empty root (needs CAP_SYS_CHROOT) */
    if (empty) {
        if (chroot(empty) < 0 || chdir("/") < 0)
            DIE("child: chroot: %s\n", strerror(errno));
        printf("  [child] chrooted into an empty directory\n");
    }
    /* 2. no new privileges, 3. default deny + what the child needs */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        DIE("child: no_new_privs: %s\n", strerror(errno));
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    int own[] = {SCMP_SYS(write), SCMP_SYS(exit_group), SCMP_SYS(exit),
                 SCMP_SYS(brk), SCMP_SYS(newfstatat), SCMP_SYS(fstat)};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        seccomp_rule_add(ctx, SCMP_ACT_ALLOW, own[i], 0);
    int r = sharena_sandbox_allow(ctx);
    if (r < 0 || seccomp_load(ctx) < 0)
        DIE("child: seccomp: %s\n", sharena_strerror(r));
    seccomp_release(ctx);
    printf("  [child] seccomp: default deny, plus sharena_sandbox_allow()\n");
    fflush(stdout);

    int ok = 1;
    sharena_conn *c;
    sharena_arena *a, *x;
    if ((r = sharena_connect(NULL, &c)) < 0) /* through $SHARENA_FD */
        DIE("child: connect: %s\n", sharena_strerror(r));
    if ((r = sharena_open(c, "scores", NULL, &a)) < 0)
        DIE("child: open scores: %s\n", sharena_strerror(r));
    sharena_id m, v;
    double best = 0;
    if (sharena_root_get(a, "scores", &m) ||
        sharena_map_get(a, m, "best", 4, &v) || sharena_number_get(a, v, &best))
        DIE("child: cannot read scores\n");
    printf("  [child] read scores/best = %g\n", best);
    r = sharena_number_set(a, v, 0);
    printf("  [child] write to scores/best: %s\n", sharena_strerror(r));
    ok &= r == SHARENA_EROFS;
    r = sharena_open(c, "secrets", NULL, &x);
    printf("  [child] open 'secrets': %s\n", sharena_strerror(r));
    ok &= r == SHARENA_EACCES;
    int fd = open("/etc/passwd", O_RDONLY);
    printf("  [child] open /etc/passwd: %s\n", fd < 0 ? strerror(errno) : "opened!");
    ok &= fd < 0;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    printf("  [child] new socket: %s\n", s < 0 ? strerror(errno) : "made!");
    ok &= s < 0;
    fflush(stdout);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    sharena_conn *c;
    sharena_arena *scores, *secrets;
    int r = sharena_connect(argc > 1 ? argv[1] : NULL, &c);
    if (r < 0)
        DIE("connect: %s\n", sharena_strerror(r));
    sharena_open_opts o = {.flags = SHARENA_CREATE, .capacity = 1 << 20};
    if ((r = sharena_open(c, "scores", &o, &scores)) < 0 ||
        (r = sharena_open(c, "secrets", &o, &secrets)) < 0)
        DIE("open: %s\n", sharena_strerror(r));
    sharena_id m;
    sharena_root_ensure(scores, "scores", SHARENA_T_MAP, 0, &m, NULL);
    sharena_map_set_number(scores, m, "best", 4, 9001);
    printf("[parent] arenas 'scores' and 'secrets'; delegating 'scores' read-only\n");

    const char *names[] = {"scores"};
    int dfd;
    if ((r = sharena_delegate(c, names, 1, SHARENA_READONLY, &dfd)) < 0)
        DIE("delegate: %s\n", sharena_strerror(r));
    fflush(stdout);
    /* the empty root the child is confined to; removed when it is done */
    char empty_buf[] = "/tmp/sharena-empty.XXXXXX";
    const char *empty = geteuid() == 0 ? mkdtemp(empty_buf) : NULL;
    pid_t pid = fork();
    if (pid == 0) {
        char num[16];
        int keep = dup(dfd); /* the one descriptor the child gets */
        snprintf(num, sizeof num, "%d", keep);
        setenv("SHARENA_FD", num, 1);
        _exit(child(empty));
    }
    close(dfd);
    int st;
    waitpid(pid, &st, 0);
    if (empty)
        rmdir(empty);
    int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    printf("[parent] the child %s\n",
           ok ? "used exactly what it was given" : "FAILED");
    sharena_delete(c, "scores");
    sharena_delete(c, "secrets");
    sharena_arena_close(scores);
    sharena_arena_close(secrets);
    sharena_disconnect(c);
    return ok ? 0 : 1;
}
