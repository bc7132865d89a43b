/* fuzz_broker.c: the broker's parser and state machine fed whole message
 * sequences from one or more clients.
 *
 * Input: records [op u8][len u16 le][len bytes]. op & 3 == 0: a datagram
 * from the current client; 1: the same with an fd attached (/dev/null);
 * 2: the client disconnects uncleanly (recovery) and a new one connects;
 * 3: switch to another of up to 4 clients. Replies are drained and their
 * fds closed; nothing the broker does may crash, leak or hang. */
#include "broker.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct peer {
    struct client *c;
    int other; /* our end */
};

static void drain(int fd)
{
    for (;;) {
        union sharena__msg m;
        int got = -1;
        ssize_t n = sharena__proto_recv(fd, &m, &got);
        if (got >= 0)
            close(got);
        if (n <= 0 && n != SHARENA_EPROTO)
            return;
    }
}

static int connect_peer(struct broker *b, struct peer *p, uint32_t i)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                   sv) < 0)
        return -1;
    p->c = broker_add_client(b, sv[0], 1000 + (i & 1), 1000, getpid());
    if (!p->c) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    p->other = sv[1];
    return 0;
}

static void disconnect_peer(struct broker *b, struct peer *p)
{
    if (p->c)
        broker_drop_client(b, p->c);
    if (p->other >= 0)
        close(p->other);
    p->c = NULL;
    p->other = -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static union sharena__msg m;
    struct broker *b = calloc(1, sizeof(*b));
    int lsv[2];
    if (!b || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, lsv) < 0)
        abort();
    b->listen_fd = lsv[0];
    b->reopen_fd = -1;
    b->lim = (struct broker_limits){.max_arenas = 4,
                                    .max_capacity = 8u << 20,
                                    .max_clients = 8,
                                    .max_conns = 16};
    if (broker_init(b) < 0)
        abort();
    struct peer peers[4];
    for (uint32_t i = 0; i < 4; i++)
        if (connect_peer(b, &peers[i], i) < 0)
            abort();
    uint32_t cur = 0;
    size_t off = 0;
    while (off + 3 <= size) {
        uint8_t op = data[off];
        size_t len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
        off += 3;
        if (len > size - off)
            len = size - off;
        struct peer *p = &peers[cur];
        switch (op & 3) {
        case 0:
        case 1:
            if (!p->c || len > sizeof(m))
                break;
            memset(&m, 0, sizeof(m));
            memcpy(&m, data + off, len);
            int fd = (op & 3) == 1 ? open("/dev/null", O_RDONLY | O_CLOEXEC)
                                   : -1;
            if (broker_handle(b, p->c, &m, len, fd) < 0) {
                broker_drop_client(b, p->c);
                p->c = NULL;
            }
            drain(p->other);
            break;
        case 2:
            disconnect_peer(b, p);
            connect_peer(b, p, cur);
            break;
        case 3:
            cur = (cur + 1 + (op >> 2)) % 4;
            break;
        }
        /* the lock scans of departed slots: a step between messages, as
         * the event loop takes one between events */
        b->scan_budget = 64;
        broker_recover_step(b);
        off += len;
    }
    for (uint32_t i = 0; i < 4; i++)
        disconnect_peer(b, &peers[i]);
    broker_fini(b);
    close(lsv[0]);
    close(lsv[1]);
    free(b);
    return 0;
}
