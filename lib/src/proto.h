/* proto.h: the broker wire protocol, shared by the client library (client.c)
 * and sharenad (broker/). docs/protocol.md is the normative description;
 * change both together and bump SHARENA__PROTO_VERSION.
 *
 * Every message is one SOCK_SEQPACKET datagram: a 16-byte header followed by
 * a fixed body whose size depends on the type (LIST and DELEGATE replies and
 * requests carry a counted array). All integers little-endian (both
 * supported architectures are little-endian; _Static_asserts pin layouts).
 *
 * Entry points for fuzzing: sharena__proto_check() validates a received
 * datagram completely (header, exact size for its type, enum ranges, NUL-
 * terminated names in [A-Za-z0-9._-]); everything else in the broker and the
 * client reads a message only after it passed.
 */
#ifndef SHARENA_PROTO_H
#define SHARENA_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sharena.h"

#define SHARENA__PROTO_MAGIC 0x414e4853u /* "SHNA" little-endian */
/* 2: CLIENTS, CLIENT_LIST; 3: owner-qualified names, OPENED owner fields;
 * 4: RESUME, ADOPT, WELCOME's token */
#define SHARENA__PROTO_VERSION 4
#define SHARENA__PROTO_NAME 136 /* SHARENA_NAME_MAX + NUL, padded to 8 */
#define SHARENA__PROTO_TEXT 128
#define SHARENA__PROTO_LIST_MAX 64     /* stat records per LIST reply */
#define SHARENA__PROTO_DELEGATE_MAX 16 /* names per DELEGATE */
#define SHARENA__PROTO_CLIENTS_MAX 512 /* records per CLIENT_LIST reply */
#define SHARENA__PROTO_MAX 16384       /* largest datagram */

enum sharena__msg_type {
    SHARENA__MSG_HELLO = 1,
    SHARENA__MSG_WELCOME = 2,
    SHARENA__MSG_OPEN = 3,
    SHARENA__MSG_OPENED = 4, /* carries the arena fd */
    SHARENA__MSG_CLOSE = 5,
    SHARENA__MSG_DELETE = 6,
    SHARENA__MSG_LIST = 7,
    SHARENA__MSG_LISTED = 8,
    SHARENA__MSG_STAT = 9,
    SHARENA__MSG_STATED = 10,
    SHARENA__MSG_DELEGATE = 11,
    SHARENA__MSG_DELEGATED = 12, /* carries the new connection's fd */
    SHARENA__MSG_OK = 13,
    SHARENA__MSG_ERROR = 14,
    SHARENA__MSG_SHUTDOWN = 15, /* ask the broker to exit (owner uid only) */
    SHARENA__MSG_CLIENTS = 16,  /* who has an arena open */
    SHARENA__MSG_CLIENT_LIST = 17,
    /* instead of HELLO: the slot of a broker before */
    SHARENA__MSG_RESUME = 18,
    SHARENA__MSG_ADOPT = 19, /* carries an arena fd the client holds */
    SHARENA__MSG_TYPE_MAX = 19,
};

struct sharena__msg_hdr {
    uint32_t magic;
    uint16_t version;
    uint16_t type;
    uint32_t length; /* whole datagram, header included */
    uint32_t seq;    /* request number, echoed in the reply */
};
_Static_assert(sizeof(struct sharena__msg_hdr) == 16, "hdr");

/* HELLO: client -> broker, first message on a connection. */
struct sharena__msg_hello {
    struct sharena__msg_hdr h;
    uint64_t layout_hash; /* the client library's sharena_layout_hash() */
    uint32_t flags;       /* 0 */
    uint32_t pad;
};
_Static_assert(sizeof(struct sharena__msg_hello) == 32, "hello");

/* WELCOME: broker -> client. */
enum {
    SHARENA__WELCOME_DELEGATED = 1u << 0,
    SHARENA__WELCOME_READONLY = 1u << 1
};
struct sharena__msg_welcome {
    struct sharena__msg_hdr h;
    uint32_t slot;  /* client slot, 1..65535: the owner value of its locks */
    uint32_t flags; /* SHARENA__WELCOME_* */
    uint64_t layout_hash; /* the broker's */
    uint32_t broker_pid;
    uint32_t token; /* version 4: what a RESUME of this slot must show (0:
                     * this broker keeps no state, no RESUME possible) */
};
_Static_assert(sizeof(struct sharena__msg_welcome) == 40, "welcome");

/* RESUME: client -> broker, first message on a connection instead of
 * HELLO, after the broker it was connected to went away: the slot and token
 * that broker's WELCOME gave. A broker that recorded the slot as attached
 * (its state file) and sees the same pid and uid (SO_PEERCRED) as recorded
 * answers WELCOME with that slot; else ERROR, and the connection may still
 * say HELLO. */
struct sharena__msg_resume {
    struct sharena__msg_hdr h;
    uint64_t layout_hash;
    uint32_t slot;  /* 1..65535 */
    uint32_t token; /* != 0 */
};
_Static_assert(sizeof(struct sharena__msg_resume) == 32, "resume");

/* ADOPT: client -> broker, after a RESUME's WELCOME, with the arena's
 * read-write memfd as SCM_RIGHTS: "I hold this arena, opened read-write
 * with this slot". The broker takes the arena back (or checks it is the one
 * it has) and attaches the slot; replies OK or ERROR. The name is the
 * owner-qualified one OPENED named ("1000:cfg"). */
struct sharena__msg_adopt {
    struct sharena__msg_hdr h;
    char name[SHARENA__PROTO_NAME];
    uint32_t flags; /* 0 */
    uint32_t pad;
};
_Static_assert(sizeof(struct sharena__msg_adopt) == 160, "adopt");

/* OPEN, CLOSE, DELETE, STAT: a name and, for OPEN, creation parameters. */
struct sharena__msg_name {
    struct sharena__msg_hdr h;
    char name[SHARENA__PROTO_NAME];
    uint64_t capacity; /* OPEN with CREATE; else 0 */
    uint32_t flags; /* OPEN: SHARENA_CREATE | SHARENA_EXCL | SHARENA_READONLY */
    uint32_t mode;  /* OPEN with CREATE: 0 or a mode within 0777 */
};
_Static_assert(sizeof(struct sharena__msg_name) == 168, "name");

/* OPENED: broker -> client, with the arena's memfd as SCM_RIGHTS. */
struct sharena__msg_opened {
    struct sharena__msg_hdr h;
    uint64_t capacity;
    uint32_t flags;   /* SHARENA_READONLY when the fd is O_RDONLY */
    uint32_t created; /* 1 when this OPEN created the arena */
    uint32_t uid;     /* the arena's owner (version 3) */
    uint32_t gid;
    uint32_t mode; /* its access mode, <= 0777 */
    uint32_t pad;
};
_Static_assert(sizeof(struct sharena__msg_opened) == 48, "opened");

struct sharena__wire_stat {
    char name[SHARENA__PROTO_NAME];
    uint64_t capacity;
    uint64_t used_bytes;
    uint64_t objects;
    uint64_t created_ns;
    uint32_t clients;
    uint32_t uid;
    uint32_t gid;
    uint32_t mode;
};
_Static_assert(sizeof(struct sharena__wire_stat) == 184, "wire_stat");

struct sharena__msg_stated {
    struct sharena__msg_hdr h;
    struct sharena__wire_stat st;
};
_Static_assert(sizeof(struct sharena__msg_stated) == 200, "stated");

/* LIST: records from index `start` on; the reply says where to go on. */
struct sharena__msg_list {
    struct sharena__msg_hdr h;
    uint32_t start;
    uint32_t pad;
};
_Static_assert(sizeof(struct sharena__msg_list) == 24, "list");

struct sharena__msg_listed {
    struct sharena__msg_hdr h;
    uint32_t count; /* records that follow, <= SHARENA__PROTO_LIST_MAX */
    uint32_t next;  /* index to ask for next, 0 when done */
    struct sharena__wire_stat st[];
};
_Static_assert(sizeof(struct sharena__msg_listed) == 24, "listed");

struct sharena__msg_delegate {
    struct sharena__msg_hdr h;
    uint32_t flags; /* SHARENA_READONLY */
    uint32_t count; /* 1..SHARENA__PROTO_DELEGATE_MAX names follow */
    char names[][SHARENA__PROTO_NAME];
};
_Static_assert(sizeof(struct sharena__msg_delegate) == 24, "delegate");

struct sharena__msg_clients {
    struct sharena__msg_hdr h;
    char name[SHARENA__PROTO_NAME];
    uint32_t start; /* list client slots >= start (0 or 1 for the first) */
    uint32_t pad;
};
_Static_assert(sizeof(struct sharena__msg_clients) == 160, "clients");

enum {
    SHARENA__CLIENT_RW = 1u << 0,
    SHARENA__CLIENT_DELEGATED = 1u << 1,
    SHARENA__CLIENT_HIDDEN = 1u
                             << 2, /* pid and uid withheld (another user's) */
};
struct sharena__wire_client {
    uint32_t slot; /* 1..65535 */
    uint32_t pid;  /* SO_PEERCRED at connect; 0 for a delegated connection */
    uint32_t uid;
    uint32_t flags; /* SHARENA__CLIENT_* */
};
_Static_assert(sizeof(struct sharena__wire_client) == 16, "wire_client");

struct sharena__msg_client_list {
    struct sharena__msg_hdr h;
    uint32_t count; /* records that follow, <= SHARENA__PROTO_CLIENTS_MAX */
    uint32_t next;  /* slot to ask for next, 0 when done */
    struct sharena__wire_client cl[];
};
_Static_assert(sizeof(struct sharena__msg_client_list) == 24, "client_list");

struct sharena__msg_error {
    struct sharena__msg_hdr h;
    int32_t code; /* a SHARENA_E* value (negative) */
    uint32_t pad;
    char text[SHARENA__PROTO_TEXT]; /* NUL-terminated, for humans */
};
_Static_assert(sizeof(struct sharena__msg_error) == 152, "error");

/* Any message, for receiving. */
union sharena__msg {
    struct sharena__msg_hdr h;
    struct sharena__msg_hello hello;
    struct sharena__msg_resume resume;
    struct sharena__msg_adopt adopt;
    struct sharena__msg_welcome welcome;
    struct sharena__msg_name name;
    struct sharena__msg_opened opened;
    struct sharena__msg_stated stated;
    struct sharena__msg_list list;
    struct sharena__msg_listed listed;
    struct sharena__msg_delegate delegate;
    struct sharena__msg_clients clients;
    struct sharena__msg_client_list client_list;
    struct sharena__msg_error error;
    uint8_t bytes[SHARENA__PROTO_MAX];
};

/* Fill in a header. */
void sharena__proto_hdr(struct sharena__msg_hdr *h, int type, size_t len,
                        uint32_t seq);

/* Validate a received datagram of @p len bytes completely.
 * Returns its type (> 0) or SHARENA_EPROTO. */
int sharena__proto_check(const void *buf, size_t len);

/* Send one datagram, with @p fd (>= 0) attached as SCM_RIGHTS.
 * Returns 0 or a negative errno. Retries EINTR; MSG_NOSIGNAL. */
int sharena__proto_send(int sock, const void *buf, size_t len, int fd);

/* Receive one datagram into @p m. *fd gets a passed fd (CLOEXEC) or -1;
 * with @p fd NULL any passed fd is closed. Truncated data or control
 * messages (MSG_TRUNC, MSG_CTRUNC), more than one fd, or other ancillary
 * data are errors (SHARENA_EPROTO) and close whatever arrived. Returns the
 * length, 0 at end of stream, or a negative errno. Does not validate. */
ssize_t sharena__proto_recv(int sock, union sharena__msg *m, int *fd);

/* Name checks shared by both sides: a NUL-terminated, valid name inside a
 * fixed-size wire field, plain ("cfg") or qualified with its owner's uid in
 * decimal without leading zeros ("1000:cfg"); 128 bytes at most in all. */
int sharena__proto_name_ok(const char field[SHARENA__PROTO_NAME]);

/* Split a name that passed sharena__proto_name_ok(): *owner gets the uid of
 * a qualified name, or -1 for a plain one; returns the plain part (a
 * pointer into @p field). */
const char *sharena__proto_name_split(const char field[SHARENA__PROTO_NAME],
                                      int64_t *owner);

/* Copy a C string name into a wire field (zero-padded); EINVAL/ENAMETOOLONG. */
int sharena__proto_put_name(char field[SHARENA__PROTO_NAME], const char *name);

/* Error reply body. */
void sharena__proto_error(struct sharena__msg_error *m, uint32_t seq, int code,
                          const char *text);

/* The broker's reply @p m (@p n bytes) to HELLO is of another protocol
 * version (right magic, other version): remember, for this thread, the
 * text sharena_strerror(SHARENA_EPROTO) then returns (both versions), and
 * return 1. (NULL, 0) forgets it. In version.c. */
int sharena__proto_other_version(const void *m, ssize_t n);
/* That text, or NULL. */
const char *sharena__proto_mismatch(void);

#endif
