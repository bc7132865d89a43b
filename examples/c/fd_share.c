/* fd_share.c: two unrelated processes share one arena without a broker.
 *
 * The parent makes an arena on a sealed memfd, publishes a map under the root
 * name "metrics", then starts a second program (itself, exec'd with
 * --child) and sends it the memfd over a Unix socket (SCM_RIGHTS). The child
 * maps the same memory, reads what the parent wrote, and updates it in place;
 * the parent sleeps on the map's change version (a futex in the shared
 * mapping, no polling) and prints what the child changed.
 *
 *   fd_share            run the demo (parent)
 */
#define _GNU_SOURCE
#include <sharena.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(call)                                                            \
    do {                                                                       \
        int r_ = (call);                                                       \
        if (r_ < 0) {                                                          \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,      \
                    sharena_strerror(r_));                                     \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

static int send_fd(int sock, int fd)
{
    char byte = 'A'; /* at least one payload byte travels with the fd */
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    memset(&u, 0, sizeof(u));
    struct msghdr m = {.msg_iov = &iov,
                       .msg_iovlen = 1,
                       .msg_control = u.buf,
                       .msg_controllen = sizeof(u.buf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    return sendmsg(sock, &m, MSG_NOSIGNAL) == 1 ? 0 : -errno;
}

static int recv_fd(int sock)
{
    char byte;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr m = {.msg_iov = &iov,
                       .msg_iovlen = 1,
                       .msg_control = u.buf,
                       .msg_controllen = sizeof(u.buf)};
    if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1)
        return -EPROTO;
    if (m.msg_flags & MSG_CTRUNC)
        return -EPROTO;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
        c->cmsg_len != CMSG_LEN(sizeof(int)))
        return -EPROTO;
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof(int));
    return fd;
}

static double get_number(sharena_arena *a, sharena_id map, const char *key)
{
    sharena_id v;
    double d;
    CHECK(sharena_map_get(a, map, key, strlen(key), &v));
    CHECK(sharena_number_get(a, v, &d));
    return d;
}

static int child(int sock)
{
    int fd = recv_fd(sock);
    CHECK(fd);
    sharena_arena *a;
    CHECK(sharena_arena_from_fd(fd, 0, &a));
    close(fd);

    sharena_id metrics, v;
    CHECK(sharena_root_get(a, "metrics", &metrics));
    char host[64];
    size_t len;
    CHECK(sharena_map_get(a, metrics, "host", 4, &v));
    CHECK(sharena_string_get(a, v, host, sizeof(host), &len));
    printf("  [child  %d] mapped arena '%s'; host=%s requests=%g\n", getpid(),
           sharena_arena_name(a), host, get_number(a, metrics, "requests"));

    /* Update in place: an atomic add and a new key, both visible at once. */
    double now;
    CHECK(sharena_map_get(a, metrics, "requests", 8, &v));
    CHECK(sharena_number_add(a, v, 42, &now));
    CHECK(sharena_map_set_string(a, metrics, "updated_by", 10, "child", 5));
    printf("  [child  %d] added 42 -> requests=%g, set updated_by\n", getpid(),
           now);
    sharena_arena_close(a);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF,
            0); /* keep the two processes' lines in order */
    if (argc == 3 && strcmp(argv[1], "--child") == 0)
        return child(atoi(argv[2]));

    sharena_arena *a;
    CHECK(sharena_arena_create("fd-demo", 1 << 20, &a));
    sharena_id metrics;
    CHECK(sharena_root_ensure(a, "metrics", SHARENA_T_MAP, 0, &metrics, NULL));
    CHECK(sharena_map_set_string(a, metrics, "host", 4, "web-1", 5));
    CHECK(sharena_map_set_number(a, metrics, "requests", 8, 1000));
    uint64_t version;
    CHECK(sharena_change_count(a, metrics, &version));
    printf("  [parent %d] arena 'fd-demo' on a sealed memfd; metrics={host: "
           "web-1, requests: 1000}\n",
           getpid());

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        perror("socketpair");
        return 1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        /* The child's end must survive exec; everything else is CLOEXEC. */
        int keep = dup(sv[1]);
        char num[16];
        snprintf(num, sizeof(num), "%d", keep);
        execl("/proc/self/exe", argv[0], "--child", num, (char *)NULL);
        _exit(127);
    }
    close(sv[1]);
    CHECK(send_fd(sv[0], sharena_arena_fd(a)));
    printf("  [parent %d] sent the memfd to process %d over a Unix socket\n",
           getpid(), pid);

    /* Sleep until the child's writes bump the map's version. */
    uint64_t seen = version;
    for (;;) {
        sharena_id v;
        if (sharena_map_get(a, metrics, "updated_by", 10, &v) == 0)
            break;
        int r = sharena_wait(a, metrics, seen, 5000000000LL, &seen);
        if (r == SHARENA_ETIMEDOUT) {
            fprintf(stderr, "parent: no change from the child in 5 s\n");
            return 1;
        }
        CHECK(r);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("  [parent %d] woke on change: requests=%g, updated_by present; "
           "child exited %d\n",
           getpid(), get_number(a, metrics, "requests"),
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    int ok = get_number(a, metrics, "requests") == 1042;
    sharena_arena_close(a);
    return ok ? 0 : 1;
}
