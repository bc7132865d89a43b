/* proto.c: building, sending, receiving and validating broker messages.
 * Both sides trust nothing they receive: sharena__proto_check() is the only
 * gate between a datagram and the code that reads its fields. */
#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

void sharena__proto_hdr(struct sharena__msg_hdr *h, int type, size_t len,
                        uint32_t seq)
{
    h->magic = SHARENA__PROTO_MAGIC;
    h->version = SHARENA__PROTO_VERSION;
    h->type = (uint16_t)type;
    h->length = (uint32_t)len;
    h->seq = seq;
}

/* Length of the "UID:" prefix of a qualified name (0 when plain, -1 when
 * the prefix is not a canonical uid: digits without a leading zero, below
 * 2^32 - 1, which is no uid). */
static int owner_prefix(const char *s, size_t n)
{
    const char *colon = memchr(s, ':', n);
    if (!colon)
        return 0;
    size_t k = (size_t)(colon - s);
    if (k == 0 || k > 10 || (s[0] == '0' && k > 1))
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < k; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    return v < UINT32_MAX ? (int)k + 1 : -1;
}

static int wire_name_ok(const char *name, size_t n)
{
    int k = owner_prefix(name, n);
    return k >= 0 && sharena_name_valid(name + k);
}

int sharena__proto_name_ok(const char field[SHARENA__PROTO_NAME])
{
    size_t n = strnlen(field, SHARENA__PROTO_NAME);
    if (n == 0 || n > SHARENA_NAME_MAX)
        return 0;
    /* The padding after the NUL must be zero: no hidden payload. */
    for (size_t i = n; i < SHARENA__PROTO_NAME; i++)
        if (field[i])
            return 0;
    return wire_name_ok(field, n);
}

const char *sharena__proto_name_split(const char field[SHARENA__PROTO_NAME],
                                      int64_t *owner)
{
    size_t n = strnlen(field, SHARENA__PROTO_NAME);
    int k = owner_prefix(field, n);
    *owner = -1;
    if (k <= 0)
        return field;
    *owner = (int64_t)strtoull(field, NULL, 10);
    return field + k;
}

int sharena__proto_put_name(char field[SHARENA__PROTO_NAME], const char *name)
{
    if (!name)
        return SHARENA_EINVAL;
    size_t n = strlen(name);
    if (n > SHARENA_NAME_MAX)
        return SHARENA_ENAMETOOLONG;
    if (!wire_name_ok(name, n))
        return SHARENA_EINVAL;
    memset(field, 0, SHARENA__PROTO_NAME);
    memcpy(field, name, n);
    return 0;
}

void sharena__proto_error(struct sharena__msg_error *m, uint32_t seq, int code,
                          const char *text)
{
    memset(m, 0, sizeof(*m));
    sharena__proto_hdr(&m->h, SHARENA__MSG_ERROR, sizeof(*m), seq);
    m->code = code;
    if (text) {
        size_t n = strnlen(text, SHARENA__PROTO_TEXT - 1);
        memcpy(m->text, text, n);
    }
}

static int stat_ok(const struct sharena__wire_stat *st)
{
    /* a record names the arena plainly; its owner is in `uid` */
    return sharena__proto_name_ok(st->name) && !strchr(st->name, ':') &&
           st->mode <= 0777;
}

int sharena__proto_check(const void *buf, size_t len)
{
    const union sharena__msg *m = buf;
    if (!buf || len < sizeof(struct sharena__msg_hdr) ||
        len > SHARENA__PROTO_MAX)
        return SHARENA_EPROTO;
    if (m->h.magic != SHARENA__PROTO_MAGIC ||
        m->h.version != SHARENA__PROTO_VERSION || m->h.length != len ||
        m->h.type == 0 || m->h.type > SHARENA__MSG_TYPE_MAX)
        return SHARENA_EPROTO;

    switch (m->h.type) {
    case SHARENA__MSG_HELLO:
        if (len != sizeof(m->hello) || m->hello.flags || m->hello.pad)
            return SHARENA_EPROTO;
        break;
    case SHARENA__MSG_RESUME:
        if (len != sizeof(m->resume) || m->resume.slot == 0 ||
            m->resume.slot >= 65536 || m->resume.token == 0)
            return SHARENA_EPROTO;
        break;
    case SHARENA__MSG_ADOPT:
        if (len != sizeof(m->adopt) || m->adopt.flags || m->adopt.pad ||
            !sharena__proto_name_ok(m->adopt.name) ||
            !strchr(m->adopt.name, ':'))
            return SHARENA_EPROTO;
        break;
    case SHARENA__MSG_WELCOME:
        if (len != sizeof(m->welcome) || m->welcome.slot == 0 ||
            m->welcome.slot >= 65536 || (m->welcome.flags & ~3u))
            return SHARENA_EPROTO;
        break;
    case SHARENA__MSG_OPEN:
    case SHARENA__MSG_CLOSE:
    case SHARENA__MSG_DELETE:
    case SHARENA__MSG_STAT:
        if (len != sizeof(m->name) || !sharena__proto_name_ok(m->name.name))
            return SHARENA_EPROTO;
        if (m->h.type == SHARENA__MSG_OPEN) {
            if (m->name.flags & ~(unsigned)(SHARENA_CREATE | SHARENA_EXCL |
                                            SHARENA_READONLY) ||
                m->name.mode > 0777)
                return SHARENA_EPROTO;
            if (m->name.capacity && (m->name.capacity < SHARENA_MIN_CAPACITY ||
                                     m->name.capacity > SHARENA_MAX_CAPACITY))
                return SHARENA_EPROTO;
        } else if (m->name.flags || m->name.mode || m->name.capacity) {
            return SHARENA_EPROTO;
        }
        break;
    case SHARENA__MSG_OPENED:
        if (len != sizeof(m->opened) ||
            (m->opened.flags & ~(unsigned)SHARENA_READONLY) ||
            m->opened.created > 1 || m->opened.mode > 0777 || m->opened.pad ||
            m->opened.capacity < SHARENA_MIN_CAPACITY ||
            m->opened.capacity > SHARENA_MAX_CAPACITY)
            return SHARENA_EPROTO;
        break;
    case SHARENA__MSG_STATED:
        if (len != sizeof(m->stated) || !stat_ok(&m->stated.st))
            return SHARENA_EPROTO;
        break;
    case SHARENA__MSG_LIST:
        if (len != sizeof(m->list) || m->list.pad)
            return SHARENA_EPROTO;
        break;
    case SHARENA__MSG_LISTED: {
        if (len < sizeof(m->listed))
            return SHARENA_EPROTO;
        uint32_t n = m->listed.count;
        if (n > SHARENA__PROTO_LIST_MAX ||
            len != sizeof(m->listed) + n * sizeof(struct sharena__wire_stat))
            return SHARENA_EPROTO;
        for (uint32_t i = 0; i < n; i++)
            if (!stat_ok(&m->listed.st[i]))
                return SHARENA_EPROTO;
        break;
    }
    case SHARENA__MSG_DELEGATE: {
        if (len < sizeof(m->delegate))
            return SHARENA_EPROTO;
        uint32_t n = m->delegate.count;
        if (n == 0 || n > SHARENA__PROTO_DELEGATE_MAX ||
            (m->delegate.flags & ~(unsigned)SHARENA_READONLY) ||
            len != sizeof(m->delegate) + (size_t)n * SHARENA__PROTO_NAME)
            return SHARENA_EPROTO;
        for (uint32_t i = 0; i < n; i++)
            if (!sharena__proto_name_ok(m->delegate.names[i]))
                return SHARENA_EPROTO;
        break;
    }
    case SHARENA__MSG_CLIENTS:
        if (len != sizeof(m->clients) || m->clients.pad ||
            m->clients.start >= 65536 ||
            !sharena__proto_name_ok(m->clients.name))
            return SHARENA_EPROTO;
        break;
    case SHARENA__MSG_CLIENT_LIST: {
        if (len < sizeof(m->client_list))
            return SHARENA_EPROTO;
        uint32_t n = m->client_list.count;
        if (n > SHARENA__PROTO_CLIENTS_MAX || m->client_list.next >= 65536 ||
            len != sizeof(m->client_list) +
                       n * sizeof(struct sharena__wire_client))
            return SHARENA_EPROTO;
        uint32_t prev = 0;
        for (uint32_t i = 0; i < n; i++) {
            const struct sharena__wire_client *w = &m->client_list.cl[i];
            /* ascending slots, each valid, and `next` past the last */
            if (w->slot <= prev || w->slot >= 65536 || (w->flags & ~7u) ||
                ((w->flags & SHARENA__CLIENT_HIDDEN) && (w->pid || w->uid)))
                return SHARENA_EPROTO;
            prev = w->slot;
        }
        if (m->client_list.next && m->client_list.next <= prev)
            return SHARENA_EPROTO;
        break;
    }
    case SHARENA__MSG_DELEGATED:
    case SHARENA__MSG_OK:
    case SHARENA__MSG_SHUTDOWN:
        if (len != sizeof(struct sharena__msg_hdr))
            return SHARENA_EPROTO;
        break;
    case SHARENA__MSG_ERROR:
        if (len != sizeof(m->error) || m->error.code >= 0 ||
            m->error.code < -20000 ||
            strnlen(m->error.text, SHARENA__PROTO_TEXT) == SHARENA__PROTO_TEXT)
            return SHARENA_EPROTO;
        break;
    default:
        return SHARENA_EPROTO;
    }
    return m->h.type;
}

int sharena__proto_send(int sock, const void *buf, size_t len, int fd)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        memset(&u, 0, sizeof(u));
        mh.msg_control = u.buf;
        mh.msg_controllen = sizeof(u.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    for (;;) {
        ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
        if (n == (ssize_t)len)
            return 0;
        if (n >= 0)
            return SHARENA_EPROTO; /* SEQPACKET never sends part of one */
        if (errno != EINTR)
            return -errno;
    }
}

/* Close every fd in a control buffer: nothing a peer sends may leak. */
static void close_passed(struct msghdr *mh)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            close(fd);
        }
    }
}

ssize_t sharena__proto_recv(int sock, union sharena__msg *m, int *fd)
{
    /* Room for more than one fd, so that a peer sending several is seen
     * (and all of them closed) instead of silently truncated. */
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(8 * sizeof(int))];
    } u;
    struct iovec iov = {.iov_base = m, .iov_len = sizeof(*m)};
    struct msghdr mh;
    ssize_t n;
    if (fd)
        *fd = -1;
    for (;;) {
        memset(&mh, 0, sizeof(mh));
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = u.buf;
        mh.msg_controllen = sizeof(u.buf);
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        if (n >= 0)
            break;
        if (errno != EINTR)
            return -errno;
    }
    int got = -1, count = 0, bad = 0;
    if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
        bad = 1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
            c->cmsg_len >= CMSG_LEN(0)) {
            size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            count += (int)k;
            if (k >= 1)
                memcpy(&got, CMSG_DATA(c), sizeof(int));
        } else {
            bad = 1;
        }
    }
    if (bad || count > 1 || (count == 1 && !fd)) {
        close_passed(&mh);
        return bad || count > 1 ? SHARENA_EPROTO : n;
    }
    if (count == 1)
        *fd = got;
    return n;
}
