/* Broker integration tests, the wire protocol from hostile peers: malformed
 * messages, bad messages after HELLO, a flooder that never reads; each drops
 * only its sender while the others are served.
 * A real sharenad on a private socket per test, real memfds, real processes
 * (fork), real credentials (setuid when root). */
#include "broker_common.h"

TestSuite(broker, .init = up, .fini = down, .timeout = 60);

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
    uint32_t welcome[4] = {0x414e4853u, SHARENA__PROTO_VERSION | (2u << 16), 16,
                           1};
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
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
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
