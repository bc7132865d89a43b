/* persist.c: --state-dir, arenas that outlive the broker and the machine
 * (docs/persistence.md).
 *
 * What is saved when. Each arena is saved to a file of its own when one of
 * the --save SECONDS:CHANGES rules holds for it (at least SECONDS since its
 * last save and at least CHANGES changes since), as Redis's `save` does for
 * its one data set; a new arena counts one change. A clean stop (SIGTERM,
 * SIGINT, `sharena broker stop`) saves every arena that changed since its
 * last save. "Changes" is the arena-wide change counter that every write
 * steps (sharena_arena_info_get's `changes`): the broker compares two
 * readings of one 64-bit word and interprets nothing else. A writer that
 * rewrites the counter can at worst make a save be skipped or taken twice;
 * it could as well have written the data wrong, and the broker is not hurt.
 *
 * Who does the work. The saver (saver.c), a process of its own with its own
 * seccomp filter, reads and writes the files and takes the snapshots; the
 * broker only decides, queues and logs. One request is under way at a
 * time; the broker hears the answer through its epoll set, so a save of a
 * large arena never holds up the event loop. At a clean stop the broker
 * waits for the saver (it serves nobody by then).
 *
 * Start. The saver lists the directory; every file with a valid record is
 * loaded back: the broker makes a new arena of the recorded capacity (not
 * yet named), the saver fills it from the image and checks it with fsck,
 * and only then does the broker name it, with the recorded owner, group,
 * mode and creation time (the owner's --max-arenas and --max-capacity
 * apply; the policy file applies to every open, as always). OPEN of a name
 * being loaded answers EAGAIN, as for a name being taken back after a
 * restart (the library waits). A name that a broker before this one still
 * has clients for (state.c) is loaded only if they do not bring it back
 * within --adopt-grace: a live arena is newer than its file. A file the
 * saver refuses is renamed FILE.corrupt (or FILE.foreign, for another
 * build's format) and the error logged; the broker serves the others. */
#include "broker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Redis's defaults (redis.conf): an hour after one change, five minutes
 * after 100, a minute after 10000. */
static const struct persist_rule default_rules[] = {
    {3600, 1}, {300, 100}, {60, 10000}};

struct load {
    uid_t uid;
    gid_t gid;
    uint32_t mode;
    uint64_t capacity, created_ns;
    char name[SHARENA__PROTO_NAME];
    char file[SAVER_FILE_MAX];
    bool queued, done;
};

struct job {
    char op; /* 'W' (ar), 'F' (ld, arena), 'U' (file) */
    struct arena_rec *ar;
    uint64_t changes; /* the counter when the save was asked for */
    struct load *ld;
    sharena_arena *fill; /* the new arena being filled */
    char file[SAVER_FILE_MAX];
    struct job *next;
};

struct persist {
    char dir[4096];
    int fd; /* the saver's socket, or -1 when it is gone */
    pid_t pid;
    struct persist_rule rules[16];
    int nrules;
    struct load *loads;
    uint32_t nloads, loading; /* loads not done yet */
    struct job *head, *tail;  /* queued; head is under way when busy */
    bool busy;
    time_t ticked_s;
    uint64_t saves, failures, loaded;
};

static time_t mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
    return t.tv_sec;
}

static uint64_t changes_of(const struct arena_rec *ar)
{
    sharena_arena_info info;
    return sharena_arena_info_get(ar->a, &info) == 0 ? info.changes : 0;
}

/* "<uid>-<name>.snap", every byte outside [A-Za-z0-9._-] as %XX (names
 * are made of those today; the escape keeps any other out of a path). The
 * uid before the name keeps "." and ".." and hidden files out. */
static int file_name(uid_t uid, const char *name, char *out, size_t n)
{
    size_t len = (size_t)snprintf(out, n, "%u-", (unsigned)uid);
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
                     *p == '-';
        if (len + 4 >= n)
            return -1;
        len += (size_t)snprintf(out + len, n - len, plain ? "%c" : "%%%02X",
                                *p);
    }
    if (len + 6 > n)
        return -1;
    memcpy(out + len, ".snap", 6);
    return 0;
}

int persist_parse_rule(const char *arg, struct persist_conf *conf)
{
    if (conf->nrules < 0)
        conf->nrules = 0;
    if (strcmp(arg, "") == 0 || strcmp(arg, "off") == 0)
        return 0; /* only saves at a clean stop (unless other rules) */
    char *end;
    errno = 0;
    unsigned long secs = strtoul(arg, &end, 10);
    if (errno || end == arg || *end != ':' || secs == 0 || secs > 86400 * 365)
        return -1;
    const char *c = end + 1;
    unsigned long long ch = strtoull(c, &end, 10);
    if (errno || end == c || *end || ch == 0 || arg[0] == '-' || *c == '-')
        return -1;
    if (conf->nrules == (int)(sizeof conf->rules / sizeof conf->rules[0]))
        return -1;
    conf->rules[conf->nrules++] = (struct persist_rule){(uint32_t)secs, ch};
    return 0;
}

/* ------------------------------------------------------------ the saver */

static void saver_gone(struct broker *b)
{
    struct persist *p = b->persist;
    if (p->fd < 0)
        return;
    epoll_ctl(b->epoll_fd, EPOLL_CTL_DEL, p->fd, NULL);
    close(p->fd);
    p->fd = -1;
    broker_log(b, BLOG_ERROR,
               "the saver of %s (pid %d) is gone: arenas are no longer saved "
               "(restart the broker to get it back)",
               p->dir, (int)p->pid);
    while (p->head) {
        struct job *j = p->head;
        p->head = j->next;
        if (j->ar) {
            j->ar->save_queued = false;
            broker_arena_unref(b, j->ar);
        }
        if (j->fill)
            sharena_arena_close(j->fill);
        if (j->ld && !j->ld->done) {
            j->ld->done = true;
            p->loading--;
        }
        free(j);
    }
    p->tail = NULL;
    p->busy = false;
    for (uint32_t i = 0; i < p->nloads; i++)
        if (!p->loads[i].done) {
            p->loads[i].done = true;
            p->loading--;
        }
}

static void enqueue(struct persist *p, struct job *j)
{
    j->next = NULL;
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
}

static void job_done(struct persist *p)
{
    struct job *j = p->head;
    p->head = j->next;
    if (!p->head)
        p->tail = NULL;
    p->busy = false;
    free(j);
}

/* Send the job at the head of the queue, skipping what no longer needs
 * doing. 0 when one is under way (or none is left), -1 when the saver is
 * gone. */
static int send_next(struct broker *b)
{
    struct persist *p = b->persist;
    while (p->head && !p->busy && p->fd >= 0) {
        struct job *j = p->head;
        struct saver_msg m;
        memset(&m, 0, sizeof m);
        m.op = j->op;
        int fd = -1;
        snprintf(m.file, sizeof m.file, "%s", j->file);
        if (j->op == 'W') {
            struct arena_rec *ar = j->ar;
            if (ar->deleted) {
                ar->save_queued = false;
                broker_arena_unref(b, ar);
                job_done(p);
                continue;
            }
            m.uid = ar->uid;
            m.gid = ar->gid;
            m.mode = ar->mode;
            m.created_ns = ar->created_ns;
            j->changes = m.changes = changes_of(ar);
            snprintf(m.name, sizeof m.name, "%s", ar->name);
            fd = sharena_arena_fd(ar->a);
            broker_log(b, BLOG_DEBUG, "saving arena '%s' (uid %u) to %s/%s",
                       ar->name, (unsigned)ar->uid, p->dir, j->file);
        } else if (j->op == 'F') {
            m.uid = j->ld->uid;
            snprintf(m.name, sizeof m.name, "%s", j->ld->name);
            fd = sharena_arena_fd(j->fill);
        }
        if (sharena__proto_send(p->fd, &m, sizeof m, fd) < 0) {
            saver_gone(b);
            return -1;
        }
        p->busy = true;
    }
    return 0;
}

/* The saver's answer to the job under way. */
static void answered(struct broker *b, const struct saver_msg *m)
{
    struct persist *p = b->persist;
    struct job *j = p->head;
    if (!j || !p->busy || (m->op & ~0x20) != j->op) {
        broker_log(b, BLOG_ERROR, "the saver answered out of turn: dropped");
        saver_gone(b);
        return;
    }
    if (j->op == 'W') {
        struct arena_rec *ar = j->ar;
        ar->save_queued = false;
        if (m->err == 0) {
            p->saves++;
            ar->saved_changes = j->changes;
            ar->saved_s = mono_s();
            ar->saved_ever = true;
            broker_log(b, BLOG_DEBUG,
                       "arena '%s' (uid %u) saved to %s/%s: %llu bytes in "
                       "%llu ms, writers held off %llu us",
                       ar->name, (unsigned)ar->uid, p->dir, j->file,
                       (unsigned long long)m->bytes, (unsigned long long)m->ms,
                       (unsigned long long)m->saved_ns / 1000);
        } else {
            p->failures++;
            ar->retry_s = mono_s() + 5;
            broker_log(b, BLOG_ERROR,
                       "saving arena '%s' (uid %u) to %s/%s failed: %s; the "
                       "previous snapshot is kept (retried in 5 s)",
                       ar->name, (unsigned)ar->uid, p->dir, j->file, m->text);
        }
        broker_arena_unref(b, ar);
    } else if (j->op == 'F') {
        struct load *ld = j->ld;
        sharena_arena *fresh = NULL;
        int r = m->err;
        const char *why = m->text;
        if (r == 0) {
            /* a handle of our own with no cache of the formatted arena */
            r = sharena_arena_from_fd(sharena_arena_fd(j->fill), 0, &fresh);
            why = "its header is refused after the load";
        }
        struct arena_rec *ar = NULL;
        if (r == 0) {
            r = broker_arena_restore(b, fresh, ld->name, ld->uid, ld->gid,
                                     ld->mode, ld->created_ns, &ar);
            why = r == SHARENA_EEXIST
                      ? "an arena of that name was made meanwhile; the file "
                        "is left as it is"
                  : r == SHARENA_ENOSPC
                      ? "over the owner's --max-arenas or --max-capacity; "
                        "the file is left as it is"
                      : sharena_strerror(r);
        }
        if (r == 0) {
            p->loaded++;
            state_superseded(b, ar->uid, ar->name);
            ar->saved_changes = changes_of(ar);
            ar->saved_s = mono_s();
            ar->saved_ever = true;
            broker_log(b, BLOG_INFO,
                       "arena '%s' (uid %u, mode %04o) loaded from %s/%s",
                       ar->name, (unsigned)ar->uid, (unsigned)ar->mode, p->dir,
                       j->file);
        } else {
            if (fresh)
                sharena_arena_close(fresh);
            broker_log(b, BLOG_ERROR,
                       "arena '%s' (uid %u) not loaded from %s/%s: %s",
                       ld->name, (unsigned)ld->uid, p->dir, j->file, why);
        }
        sharena_arena_close(j->fill);
        ld->done = true;
        p->loading--;
    } else if (j->op == 'U' && m->err) {
        broker_log(b, BLOG_ERROR,
                   "%s/%s: %s (the deleted arena would come "
                   "back at the next start)",
                   p->dir, j->file, m->text);
    }
    job_done(p);
}

static int receive(struct broker *b, struct saver_msg *out)
{
    struct persist *p = b->persist;
    union sharena__msg buf;
    int fd = -1;
    ssize_t n = sharena__proto_recv(p->fd, &buf, &fd);
    if (fd >= 0)
        close(fd);
    if (n == -EAGAIN)
        return 0;
    if (n != (ssize_t)sizeof *out) {
        saver_gone(b);
        return -1;
    }
    memcpy(out, &buf, sizeof *out);
    out->name[sizeof out->name - 1] = 0;
    out->file[sizeof out->file - 1] = 0;
    out->text[sizeof out->text - 1] = 0;
    return 1;
}

void persist_event(struct broker *b)
{
    struct persist *p = b->persist;
    struct saver_msg m;
    if (!p || p->fd < 0)
        return;
    int r = receive(b, &m);
    if (r > 0) {
        answered(b, &m);
        send_next(b);
    }
}

/* -------------------------------------------------------------- arenas */

static void queue_save(struct broker *b, struct arena_rec *ar)
{
    struct persist *p = b->persist;
    if (ar->save_queued || p->fd < 0)
        return;
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        broker_log(b, BLOG_ERROR, "out of memory queueing a save of '%s'",
                   ar->name);
        return;
    }
    j->op = 'W';
    j->ar = ar;
    if (file_name(ar->uid, ar->name, j->file, sizeof j->file) < 0) {
        free(j);
        return;
    }
    broker_arena_ref(ar);
    ar->save_queued = true;
    enqueue(p, j);
}

void persist_arena_made(struct broker *b, struct arena_rec *ar)
{
    if (!b->persist)
        return;
    ar->saved_changes = changes_of(ar);
    ar->saved_s = mono_s();
    ar->saved_ever = false;
}

void persist_arena_gone(struct broker *b, struct arena_rec *ar)
{
    struct persist *p = b->persist;
    if (!p || p->fd < 0)
        return;
    struct job *j = calloc(1, sizeof *j);
    if (!j || file_name(ar->uid, ar->name, j->file, sizeof j->file) < 0) {
        free(j);
        broker_log(b, BLOG_ERROR,
                   "could not queue the removal of the file "
                   "of deleted arena '%s'",
                   ar->name);
        return;
    }
    j->op = 'U';
    enqueue(p, j);
    send_next(b);
}

bool persist_loading(const struct broker *b, uid_t uid, const char *name)
{
    const struct persist *p = b->persist;
    if (!p || !p->loading)
        return false;
    for (uint32_t i = 0; i < p->nloads; i++)
        if (!p->loads[i].done && p->loads[i].uid == uid &&
            strcmp(p->loads[i].name, name) == 0)
            return true;
    return false;
}

bool persist_busy(const struct broker *b)
{
    /* the rules need the once-a-second tick while any arena exists, which
     * keeps the loop ticking already (b->all); loads need it too */
    return b->persist && (b->persist->loading || b->persist->head);
}

static void start_loads(struct broker *b)
{
    struct persist *p = b->persist;
    for (uint32_t i = 0; i < p->nloads && p->fd >= 0; i++) {
        struct load *ld = &p->loads[i];
        if (ld->queued || ld->done || state_awaits(b, ld->uid, ld->name))
            continue;
        ld->queued = true;
        if (broker_arena_find(b, ld->uid, ld->name)) {
            /* taken back from a broker before this one: newer */
            broker_log(b, BLOG_INFO,
                       "arena '%s' (uid %u) was taken back live after the "
                       "restart: %s/%s is not loaded (the next save "
                       "replaces it)",
                       ld->name, (unsigned)ld->uid, p->dir, ld->file);
            ld->done = true;
            p->loading--;
            continue;
        }
        struct job *j = calloc(1, sizeof *j);
        int r = j ? sharena_arena_create(ld->name, ld->capacity, &j->fill)
                  : SHARENA_ENOMEM;
        if (r < 0) {
            broker_log(b, BLOG_ERROR,
                       "arena '%s' (uid %u) not loaded from "
                       "%s/%s: making an arena of %llu bytes: %s",
                       ld->name, (unsigned)ld->uid, p->dir, ld->file,
                       (unsigned long long)ld->capacity, sharena_strerror(r));
            free(j);
            ld->done = true;
            p->loading--;
            continue;
        }
        j->op = 'F';
        j->ld = ld;
        snprintf(j->file, sizeof j->file, "%s", ld->file);
        enqueue(p, j);
    }
}

void persist_tick(struct broker *b)
{
    struct persist *p = b->persist;
    if (!p)
        return;
    time_t now = mono_s();
    if (p->loading)
        start_loads(b);
    if (now != p->ticked_s) {
        p->ticked_s = now;
        for (uint32_t i = 0; i < b->narenas; i++) {
            struct arena_rec *ar = b->arenas[i];
            if (ar->save_queued || now < ar->retry_s)
                continue;
            uint64_t delta = changes_of(ar) - ar->saved_changes;
            if (!ar->saved_ever && delta == 0)
                delta = 1; /* a new arena is a change */
            if (delta == 0)
                continue;
            for (int k = 0; k < p->nrules; k++) {
                if (now - ar->saved_s >= (time_t)p->rules[k].secs &&
                    delta >= p->rules[k].changes) {
                    queue_save(b, ar);
                    break;
                }
            }
        }
    }
    send_next(b);
}

/* Wait for the answer to the job under way (the stop, the start). */
static void wait_answer(struct broker *b)
{
    struct persist *p = b->persist;
    struct saver_msg m;
    while (p->busy && p->fd >= 0) {
        int fl = fcntl(p->fd, F_GETFL);
        if (fl & O_NONBLOCK)
            fcntl(p->fd, F_SETFL, fl & ~O_NONBLOCK);
        if (receive(b, &m) > 0)
            answered(b, &m);
    }
}

void persist_stop(struct broker *b)
{
    struct persist *p = b->persist;
    if (!p)
        return;
    wait_answer(b);
    /* loads not begun stay in their files */
    for (struct job *j = p->head, **pp = &p->head; j; j = *pp) {
        if (j->op == 'F') {
            *pp = j->next;
            sharena_arena_close(j->fill);
            j->ld->done = true;
            p->loading--;
            free(j);
        } else {
            pp = &j->next;
        }
    }
    p->tail = p->head;
    while (p->tail && p->tail->next)
        p->tail = p->tail->next;
    uint32_t n = 0;
    for (uint32_t i = 0; i < b->narenas; i++) {
        struct arena_rec *ar = b->arenas[i];
        if (!ar->saved_ever || changes_of(ar) != ar->saved_changes) {
            queue_save(b, ar);
            n++;
        }
    }
    uint64_t failed = p->failures;
    while (p->head && p->fd >= 0) {
        send_next(b);
        wait_answer(b);
    }
    b->state_dir_saved = p->fd >= 0 && failed == p->failures;
    if (p->fd >= 0)
        broker_log(b, failed == p->failures ? BLOG_INFO : BLOG_ERROR,
                   "saved %u changed arena%s of %u to %s at stop%s",
                   n - (uint32_t)(p->failures - failed), n == 1 ? "" : "s",
                   b->narenas, p->dir,
                   failed == p->failures ? ""
                                         : " (some saves failed: see above)");
    if (p->fd >= 0) {
        struct saver_msg m;
        memset(&m, 0, sizeof m);
        m.op = 'Q';
        if (sharena__proto_send(p->fd, &m, sizeof m, -1) == 0)
            receive(b, &m);
        epoll_ctl(b->epoll_fd, EPOLL_CTL_DEL, p->fd, NULL);
        close(p->fd);
        p->fd = -1;
    }
    free(p->loads);
    free(p);
    b->persist = NULL;
}

/* --------------------------------------------------------------- start */

static int open_failed(struct broker *b, const char *why)
{
    struct persist *p = b->persist;
    fprintf(stderr, "sharenad: --state-dir %s: %s\n", p->dir, why);
    if (p->fd >= 0)
        close(p->fd); /* the saver sees EOF and exits */
    while (p->head) {
        struct job *j = p->head;
        p->head = j->next;
        if (j->fill)
            sharena_arena_close(j->fill);
        free(j);
    }
    free(p->loads);
    free(p);
    b->persist = NULL;
    return -1;
}

int persist_open(struct broker *b, const struct persist_conf *conf)
{
    struct persist *p = calloc(1, sizeof *p);
    if (!p) {
        fprintf(stderr, "sharenad: out of memory\n");
        return -1;
    }
    snprintf(p->dir, sizeof p->dir, "%s", conf->dir);
    if (conf->nrules < 0) {
        memcpy(p->rules, default_rules, sizeof default_rules);
        p->nrules = (int)(sizeof default_rules / sizeof default_rules[0]);
    } else {
        memcpy(p->rules, conf->rules, sizeof p->rules);
        p->nrules = conf->nrules;
    }
    /* a missing directory is made (its parent must exist): 0700, it holds
     * every user's arenas */
    if (mkdir(conf->dir, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "sharenad: --state-dir: cannot make %s: %s\n",
                conf->dir, strerror(errno));
        free(p);
        return -1;
    }
    char err[600];
    int filter;
    p->fd = saver_start(conf->dir, conf->max_file, &p->pid, &filter, err,
                        sizeof err);
    if (p->fd < 0) {
        fprintf(stderr, "sharenad: --state-dir: %s\n", err);
        free(p);
        return -1;
    }
    b->persist = p;
    if (err[0])
        broker_log(b, BLOG_WARNING, "%s", err);
    if (conf->require_seccomp && filter < 1)
        return open_failed(b, filter == -2  ? "--require-seccomp: a sanitizer "
                                              "build runs the saver unfiltered"
                              : filter == 0 ? "--require-seccomp: built "
                                              "without libseccomp"
                                            : "--require-seccomp: the saver's "
                                              "seccomp filter could not be "
                                              "loaded");
    /* the listing, synchronously: the broker serves nobody yet */
    struct saver_msg m;
    memset(&m, 0, sizeof m);
    m.op = 'L';
    if (sharena__proto_send(p->fd, &m, sizeof m, -1) < 0)
        return open_failed(b, "the saver is gone");
    uint32_t cap = 0, bad = 0;
    for (;;) {
        if (p->fd < 0 || receive(b, &m) <= 0)
            return open_failed(b, "the saver is gone");
        if (m.op == 'e') {
            if (m.err)
                return open_failed(b, m.text);
            break;
        }
        if (m.op != 'l')
            continue;
        char want[SAVER_FILE_MAX];
        if (m.err) {
            bad++;
            broker_log(b, BLOG_ERROR, "%s/%s: %s", p->dir, m.file, m.text);
            continue;
        }
        if (file_name(m.uid, m.name, want, sizeof want) < 0 ||
            strcmp(want, m.file) != 0) {
            bad++;
            broker_log(b, BLOG_ERROR,
                       "%s/%s: holds arena '%s' of uid %u, "
                       "which is saved as %s: not loaded (rename it)",
                       p->dir, m.file, m.name, (unsigned)m.uid, want);
            continue;
        }
        if (p->nloads == cap) {
            cap = cap ? cap * 2 : 16;
            struct load *v = realloc(p->loads, cap * sizeof *v);
            if (!v)
                return open_failed(b, "out of memory");
            p->loads = v;
        }
        struct load *ld = &p->loads[p->nloads++];
        memset(ld, 0, sizeof *ld);
        ld->uid = m.uid;
        ld->gid = m.gid;
        ld->mode = m.mode;
        ld->capacity = m.capacity;
        ld->created_ns = m.created_ns;
        snprintf(ld->name, sizeof ld->name, "%s", m.name);
        snprintf(ld->file, sizeof ld->file, "%s", m.file);
    }
    p->loading = p->nloads;
    char rules[256] = "";
    size_t len = 0;
    for (int k = 0; k < p->nrules && len < sizeof rules; k++)
        len += (size_t)snprintf(rules + len, sizeof rules - len, "%s%u:%llu",
                                k ? " " : "", p->rules[k].secs,
                                (unsigned long long)p->rules[k].changes);
    broker_log(b, BLOG_INFO,
               "state directory %s: %u saved arena%s to load%s; saving "
               "%s%s at a clean stop; saver pid %d, seccomp %s",
               p->dir, p->nloads, p->nloads == 1 ? "" : "s",
               bad ? ", some files refused (see above)" : "",
               p->nrules ? rules : "only",
               p->nrules ? " (SECONDS:CHANGES) and" : "", (int)p->pid,
               filter == 1    ? "on"
               : filter == -2 ? "off (sanitizer build)"
               : filter == 0  ? "off (built without libseccomp)"
                              : "off (the filter could not be loaded)");
    /* what nobody can bring back live is loaded now, before the broker
     * serves (Redis loads its RDB file before it serves, too): a client
     * started right after the broker finds its arenas listed */
    start_loads(b);
    while (p->head && p->fd >= 0) {
        send_next(b);
        wait_answer(b);
    }
    if (p->fd < 0)
        return 0; /* it died on a file: said; the broker serves anyway */
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &b->persist};
    if (epoll_ctl(b->epoll_fd, EPOLL_CTL_ADD, p->fd, &ev) < 0)
        return open_failed(b, strerror(errno));
    fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK);
    return 0;
}
