/* broker.h: sharenad's internal interfaces. One process, one thread, one
 * epoll loop; every client is a non-blocking SOCK_SEQPACKET connection. */
#ifndef SHARENA_BROKER_H
#define SHARENA_BROKER_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>

#include "proto.h"
#include "sharena.h"
#include "sharena_broker.h"

#define BROKER_MAX_SLOTS 65536 /* client slots 1..65535 */

struct broker_limits {
    uint32_t max_arenas;    /* arenas per owner uid */
    uint64_t max_capacity;  /* total capacity of a uid's arenas, bytes */
    uint32_t max_clients;   /* connections per uid */
    uint32_t max_conns;     /* connections in all */
    uint32_t hello_timeout; /* seconds a connection may stay without HELLO */
};

struct arena_rec {
    char name[SHARENA_NAME_MAX + 1];
    sharena_arena *a; /* the broker's own read-write mapping */
    int ro_fd;        /* O_RDONLY reopen, made on first read-only grant */
    uid_t uid;
    gid_t gid;
    uint32_t mode;
    uint64_t created_ns;
    uint32_t clients; /* connections that have it open */
    uint32_t refs;    /* registry (1 while named) + open records */
    bool deleted;
    struct lock_scan *scan; /* marking of departed slots' locks, or NULL */
    /* slots holding read-write access: what the arena's live-slot set must
     * say (re-imposed once a second, undoing a scribbler) */
    uint64_t live[BROKER_MAX_SLOTS / 64];
    /* every record the broker keeps (named, or deleted but still open) */
    struct arena_rec *all_next, *all_prev;
    /* state.c: what proves a descriptor a client brings back after a
     * restart is this very memfd (random identity, also in the header;
     * device and inode, which no client can forge) */
    uint64_t id[2];
    uint64_t dev, ino;
    uint32_t state_idx; /* its number in the state file being written */
    /* persist.c (--state-dir): the change counter at the last save that
     * succeeded (or at the load), when it was taken, whether it ever was,
     * and whether a save of it is queued or under way */
    uint64_t saved_changes;
    time_t saved_s, retry_s;
    bool saved_ever, save_queued;
};

/* The marking of departed client slots' lock words in one arena, done in
 * bounded steps (broker_recover_step). Slots that leave while a pass is
 * under way wait for the next pass: the pass already went past some of
 * their lock words. A slot is not handed out again while any arena still
 * has it in a scan (broker.slot_scans): a lock word naming it must not
 * come to name a stranger. */
struct lock_scan {
    uint64_t cur[BROKER_MAX_SLOTS / 64];  /* this pass marks these slots */
    uint64_t next[BROKER_MAX_SLOTS / 64]; /* the next pass, these */
    uint64_t cursor;                      /* sharena_recover_mark's */
    uint32_t ncur, nnext;
    uint32_t marked; /* locks marked by this pass so far */
    /* who they were, for the log (the first few of each pass) */
    struct lock_scan_who {
        uint32_t slot;
        pid_t pid;
        uid_t uid;
    } who[2][4];
};

struct open_rec {
    struct arena_rec *ar;
    uint32_t count; /* OPENs not yet CLOSEd on this connection */
    bool rw;        /* a read-write fd was handed out: slot is attached */
};

struct client {
    int fd;
    uint32_t slot; /* 0 until HELLO */
    uid_t uid;
    gid_t gid;
    pid_t pid;
    gid_t groups[64]; /* supplementary groups (SO_PEERGROUPS) */
    int ngroups;
    bool delegated;
    bool delegated_ro;
    uint32_t nallowed;
    char (*allowed)[SHARENA_NAME_MAX + 1]; /* plain names ... */
    uid_t *allowed_uid;                    /* ... of these owners */
    struct open_rec *opens;
    uint32_t nopens, capopens;
    time_t since;   /* CLOCK_MONOTONIC_COARSE seconds when it connected */
    uint32_t token; /* what a RESUME of its slot must show (state.c) */
    struct client *next, *prev;
};

struct policy_rule;

struct broker {
    int listen_fd;
    int epoll_fd;
    int signal_fd;
    int reopen_fd; /* socket to the read-only reopen helper, or -1 */
    pid_t reopen_pid;
    const char *socket_path;
    struct broker_limits lim;
    struct policy_rule *policy;
    struct client *clients;
    uint32_t nclients;
    struct arena_rec **arenas; /* named arenas, in creation order */
    struct arena_rec *all;     /* named ones and deleted ones still open */
    uint32_t narenas, caparenas;
    uint64_t slot_used[BROKER_MAX_SLOTS / 64];
    /* arenas whose lock scan still includes the slot: it is not reused */
    uint32_t slot_scans[BROKER_MAX_SLOTS];
    uint32_t scanning;    /* arenas with a lock scan under way */
    uint32_t scan_turn;   /* which of them the next step starts with */
    uint32_t scan_budget; /* slots per step (0: RECOVER_BUDGET) */
    uint64_t scan_steps;  /* steps taken (tests, the log) */
    uint32_t slot_cursor;
    uid_t self_uid;
    bool stop;
    bool stopping; /* in broker_fini: connections close, locks stay */
    bool title;
    uint64_t recovered; /* slots recovered after an unclean disconnect */
    time_t ticked_s;    /* when the arenas' lock clocks were last advanced */
    uint64_t resynced;  /* arenas whose live-slot set had been tampered with */
    int log_level;      /* BLOG_*: events at this level and more severe */
    int log_fd;         /* non-blocking stderr of its own, or -1 */
    bool log_sock;      /* log_fd is a socket: send(MSG_DONTWAIT) */
    bool accept_paused; /* out of descriptors: the listener waits */
    uint64_t fd_pauses; /* how often that happened */
    time_t fd_warned_s; /* when it was last logged */
    /* state.c: the state file and the taking back of arenas after a
     * restart; NULL when no state is kept (the fuzz target, --no-state) */
    struct broker_state *state;
    uint32_t adopt_grace; /* seconds recorded clients have to come back */
    /* persist.c: the state directory and its saver; NULL without
     * --state-dir */
    struct persist *persist;
    bool state_dir_saved; /* persist_stop saved every arena */
};

/* log.c: one line per event on stderr, "TIME sharenad[PID] LEVEL: text".
 * A zeroed broker (the fuzz target) logs nothing. */
enum { BLOG_SILENT, BLOG_ERROR, BLOG_WARNING, BLOG_INFO, BLOG_DEBUG };
int broker_log_level(const char *name); /* -1 when not a level name */
void broker_log_open(struct broker *b); /* before the seccomp filter */
void broker_log(const struct broker *b, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* broker.c */
int broker_init(struct broker *b);
int broker_run(struct broker *b);
/* One bounded step of the lock scans under way (at most one budget of slot
 * visits, shared round-robin by the arenas). Returns true while any scan
 * still has work. */
bool broker_recover_step(struct broker *b);
void broker_fini(struct broker *b);
/* Handle one datagram from @p c (already received, with @p fd any passed
 * descriptor, which this closes). Returns 0, or < 0 to drop the client:
 * SHARENA_EPROTO when it broke the protocol, SHARENA_ELAYOUT or
 * SHARENA_ENOSPC when HELLO was refused, else the negative errno of a reply
 * that could not be sent (-EPIPE: it is gone; -EAGAIN: it does not read). 
 * Exposed for the fuzz target, which drives the state machine directly. */
int broker_handle(struct broker *b, struct client *c, union sharena__msg *m,
                  size_t len, int fd);
struct client *broker_add_client(struct broker *b, int fd, uid_t uid, gid_t gid,
                                 pid_t pid);
void broker_drop_client(struct broker *b, struct client *c);

void reopen_helper_gone(struct broker *b); /* log it, stop using it */
/* For state.c: queue the marking of @p c's slot's locks in @p ar (c may be
 * a stand-in that names a recorded slot); forget a queued one; access. */
int broker_scan_add(struct broker *b, struct arena_rec *ar,
                    const struct client *c);
void broker_scan_forget(struct broker *b, struct arena_rec *ar, uint32_t slot);
int broker_access(const struct broker *b, const struct client *c,
                  const struct arena_rec *ar);

/* state.c: the state file (SOCKET.state.0 and .1, written in turn, each
 * with a checksum: one is always whole), re-adoption of arenas from the
 * clients that hold them after a restart, and the service manager's fd
 * store. docs/locking.md, "When the broker stops or restarts". */
/* Before the sandbox: open and read the state files, reserve the recorded
 * slots, take the fd store's descriptors. 0 (when the files cannot be
 * opened: logged, and the broker keeps no state), or -1: out of memory. */
int state_open(struct broker *b, bool fdstore);
void state_dirty(struct broker *b); /* something recorded changed */
void state_sync(struct broker *b);  /* write it now, if it changed */
/* A new arena: give it its identity (header and record), store its fd with
 * the service manager when there is one. */
void state_arena_made(struct broker *b, struct arena_rec *ar);
void state_arena_gone(struct broker *b, struct arena_rec *ar); /* DELETE */
uint32_t state_token(struct broker *b); /* for a WELCOME */
/* A recorded arena of that owner and name not yet taken back, while
 * recorded clients may still bring it: OPEN answers EAGAIN meanwhile. */
bool state_settling(const struct broker *b, uid_t uid, const char *name);
bool state_busy(const struct broker *b); /* the loop must tick */
/* persist.c: whether a recorded arena of that name still waits for the
 * recorded clients that held it read-write (then its saved file waits
 * too: the live arena is newer); that the file was loaded instead. */
bool state_awaits(const struct broker *b, uid_t uid, const char *name);
void state_superseded(struct broker *b, uid_t uid, const char *name);
int state_resume(struct broker *b, struct client *c,
                 const struct sharena__msg_resume *m);
int state_adopt(struct broker *b, struct client *c,
                const struct sharena__msg_adopt *m, int fd);
void state_tick(struct broker *b); /* once a second: the grace period */
/* The broker stops: the last write, then no more; says what survives. */
void state_stop(struct broker *b);
void state_close(struct broker *b);

/* persist.c: --state-dir (docs/persistence.md). Every arena is saved to a
 * file of its own by the saver process (saver.c): periodically while it
 * changes (--save SECONDS:CHANGES rules, as Redis's `save`), and at a clean
 * stop; at start every saved arena is loaded back, through the saver. */
struct persist_rule {
    uint32_t secs;
    uint64_t changes;
};
struct persist_conf {
    const char *dir;
    struct persist_rule rules[16];
    int nrules;           /* -1: the default rules */
    uint64_t max_file;    /* --save-max-bytes, 0: no limit */
    bool require_seccomp; /* the saver's filter too */
};
int persist_parse_rule(const char *arg, struct persist_conf *conf);
/* Before the sandbox: start the saver (it opens the directory) and list
 * the saved arenas. 0, or -1 said on stderr (the broker does not start). */
int persist_open(struct broker *b, const struct persist_conf *conf);
void persist_arena_made(struct broker *b, struct arena_rec *ar);
void persist_arena_gone(struct broker *b, struct arena_rec *ar); /* DELETE */
/* A saved arena of that owner and name is being loaded: OPEN waits. */
bool persist_loading(const struct broker *b, uid_t uid, const char *name);
bool persist_busy(const struct broker *b); /* the loop must tick */
void persist_tick(struct broker *b);       /* once a second: the rules */
void persist_event(struct broker *b);      /* the saver answered */
void persist_stop(struct broker *b);       /* a clean stop: save, wait */
/* broker.c, for persist.c: register an arena loaded from a file (the
 * limits of its owner apply); look one up. */
int broker_arena_restore(struct broker *b, sharena_arena *a, const char *name,
                         uid_t uid, gid_t gid, uint32_t mode,
                         uint64_t created_ns, struct arena_rec **out);
struct arena_rec *broker_arena_find(struct broker *b, uid_t uid,
                                    const char *name);
void broker_arena_ref(struct arena_rec *ar);
void broker_arena_unref(struct broker *b, struct arena_rec *ar);

/* saver.c: the process that writes and reads the state directory. */
#define SAVER_REC_SIZE 512
#define SAVER_FILE_MAX 256
struct saver_msg {
    char op; /* requests 'L' list, 'W' save, 'F' fill, 'U' unlink, 'Q';
              * answers the same in lower case, 'l' per file, 'e' end */
    char pad[3];
    int32_t err; /* 0 or a negative SHARENA_E* / errno */
    uint32_t uid, gid, mode, pad2;
    uint64_t capacity, created_ns, saved_ns, changes, bytes, ms;
    char name[SHARENA__PROTO_NAME];
    char file[SAVER_FILE_MAX];
    char text[512];
};
/* Fork the saver: it opens @p dir. Its socket, or -1 with the reason in
 * @p err; on success @p err holds a warning or "". *filter as
 * reopen_helper_start()'s. */
int saver_start(const char *dir, uint64_t max_file, pid_t *pid, int *filter,
                char *err, size_t errlen);

/* policy.c: "[owner:]arena-glob uid|@group rw|ro" lines. */
int policy_load(const char *path, struct policy_rule **out, char *err,
                size_t errlen);
void policy_free(struct policy_rule *p);
/* Access a policy grants @p c on @p owner's arena @p name: 0 none, 1 read,
 * 2 read-write. */
int policy_access(const struct policy_rule *p, uid_t owner, const char *name,
                  const struct client *c);
/* Whose arena the plain name @p name means for @p c when the policy shares
 * it (the first "OWNER:glob" rule that matches @p c, OWNER not @p c's own
 * uid): true and *owner; false: @p c's own. */
bool policy_owner(const struct policy_rule *p, const char *name,
                  const struct client *c, uid_t *owner);

/* sandbox.c */
int broker_sandbox(void); /* steady-state seccomp allow-list; -ENOSYS
                            * when built without libseccomp */
/* Fork the read-only reopen helper; its socket, or a negative errno.
 * *filter: 1 its seccomp filter is on, 0 built without libseccomp, -1 it
 * could not be loaded, -2 a sanitizer build (which gives it none). */
int reopen_helper_start(pid_t *pid, int *filter);
/* The helper removes @p path (the socket, or with @p pidfile the pidfile)
 * at the end if it still names the same file: the steady-state filter
 * denies unlink. */
int reopen_helper_own(int helper, bool pidfile, const char *path);
/* Ask it to remove them now and exit; closes @p helper. */
int reopen_helper_stop(int helper);
/* An O_RDONLY fd for @p fd; -EPIPE when the helper is gone, -EINVAL when it
 * refused. */
int reopen_readonly(int helper, int fd);

#endif
