/* fuzz_client.c: the client library receiving hostile broker replies.
 *
 * Input: records [flags u8][len u16 le][len bytes] queued as datagrams on
 * the broker's end of a socketpair before the client runs (flags & 1: with
 * an fd attached: a real sealed arena memfd, or /dev/null when flags & 2);
 * then the socket is shut, so the client sees end of stream after them.
 * The client connects (HELLO), opens, stats, lists, deletes and delegates;
 * whatever it gets, it returns an error or a valid result. */
#include "proto.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int arena_fd(void)
{
    static sharena_arena *a;
    if (!a && sharena_arena_create("fuzz", 0, &a) < 0)
        abort();
    return dup(sharena_arena_fd(a));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    size_t off = 0;
    int queued = 0;
    while (off + 3 <= size && queued < 32) {
        uint8_t flags = data[off];
        size_t len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
        off += 3;
        if (len > size - off)
            len = size - off;
        if (len > SHARENA__PROTO_MAX)
            len = SHARENA__PROTO_MAX;
        int fd = -1;
        if (flags & 1)
            fd = (flags & 2) ? open("/dev/null", O_RDONLY | O_CLOEXEC)
                             : arena_fd();
        if (len > 0 && sharena__proto_send(sv[1], data + off, len, fd) == 0)
            queued++;
        if (fd >= 0)
            close(fd);
        off += len;
    }
    shutdown(sv[1], SHUT_WR);
    sharena_conn *c;
    if (sharena_connect_fd(sv[0], &c) == 0) {
        sharena_arena *a = NULL;
        sharena_open_opts o = {.flags = SHARENA_CREATE};
        if (sharena_open(c, "x", &o, &a) == 0) {
            sharena_id m;
            sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL);
            sharena_arena_close(a);
        }
        sharena_arena_stat st;
        sharena_stat(c, "x", &st);
        sharena_arena_stat *v = NULL;
        size_t n = 0;
        if (sharena_list(c, &v, &n) == 0)
            free(v);
        sharena_client_info *cl = NULL;
        if (sharena_clients(c, "x", &cl, &n) == 0)
            free(cl);
        sharena_delete(c, "x");
        const char *names[] = {"x"};
        int dfd = -1;
        if (sharena_delegate(c, names, 1, 0, &dfd) == 0)
            close(dfd);
        sharena_disconnect(c);
    } /* else: connect_fd closed sv[0] */
    close(sv[1]);
    return 0;
}
