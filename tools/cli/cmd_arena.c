/* cmd_arena.c: ls, stat, create, rm: arenas as the broker sees them. */
#include "cli.h"

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *user_name(uint32_t uid, char *buf, size_t cap)
{
    struct passwd *pw = getpwuid((uid_t)uid);
    if (pw && pw->pw_name)
        snprintf(buf, cap, "%s", pw->pw_name);
    else
        snprintf(buf, cap, "%u", (unsigned)uid);
    return buf;
}

static const char *fmt_time(uint64_t ns, char *buf, size_t cap)
{
    time_t t = (time_t)(ns / 1000000000u);
    struct tm tm;
    if (!ns || !gmtime_r(&t, &tm) ||
        !strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm))
        snprintf(buf, cap, "-");
    return buf;
}

/* The name that reaches @p s from here: plain for one's own arena, else
 * "USER:name" (docs/security.md, "Names on a shared broker"). */
static const char *shown_name(const sharena_arena_stat *s, char *buf,
                              size_t cap)
{
    char user[64];
    if (s->uid == (uint32_t)getuid())
        snprintf(buf, cap, "%s", s->name);
    else
        snprintf(buf, cap, "%s:%s", user_name(s->uid, user, sizeof user),
                 s->name);
    return buf;
}

static void stat_json(const sharena_arena_stat *s)
{
    char user[64], q[SHARENA_NAME_MAX + 16];
    printf("{\"name\":");
    json_put_string(stdout, s->name, strlen(s->name));
    /* the owner-qualified name, which reaches it from any user */
    snprintf(q, sizeof q, "%u:%s", (unsigned)s->uid, s->name);
    printf(",\"qualified\":");
    json_put_string(stdout, q, strlen(q));
    printf(",\"capacity\":%llu,\"used_bytes\":%llu,\"objects\":%llu,"
           "\"clients\":%u,\"uid\":%u,\"gid\":%u,\"owner\":",
           (unsigned long long)s->capacity, (unsigned long long)s->used_bytes,
           (unsigned long long)s->objects, (unsigned)s->clients,
           (unsigned)s->uid, (unsigned)s->gid);
    user_name(s->uid, user, sizeof user);
    json_put_string(stdout, user, strlen(user));
    printf(",\"mode\":\"%04o\",\"created_ns\":%llu", (unsigned)s->mode,
           (unsigned long long)s->created_ns);
}

static int cmp_stat(const void *x, const void *y)
{
    return strcmp(((const sharena_arena_stat *)x)->name,
                  ((const sharena_arena_stat *)y)->name);
}

int cmd_ls(struct cli *c, int argc, char **argv)
{
    const char *pos[1];
    int np = cli_parse(c, argc, argv, NULL, pos, 0);
    if (np < 0)
        return EXIT_USAGE;
    if (cli_connect(c) < 0)
        return EXIT_FAIL;
    sharena_arena_stat *st = NULL;
    size_t n = 0;
    int r = sharena_list(c->conn, &st, &n);
    if (r < 0)
        return cli_fail(c, "listing arenas", r);
    if (n)
        qsort(st, n, sizeof *st, cmp_stat);
    if (c->json) {
        putchar('[');
        for (size_t i = 0; i < n; i++) {
            if (i)
                putchar(',');
            stat_json(&st[i]);
            putchar('}');
        }
        puts("]");
    } else if (n) {
        printf("%-24s %10s %10s %8s %7s %-10s %s\n", "NAME", "CAPACITY", "USED",
               "OBJECTS", "CLIENTS", "OWNER", "MODE");
        for (size_t i = 0; i < n; i++) {
            char cap[32], used[32], user[64], name[SHARENA_NAME_MAX + 72];
            printf("%-24s %10s %10s %8llu %7u %-10s %04o\n",
                   shown_name(&st[i], name, sizeof name),
                   cli_fmt_size(st[i].capacity, cap, sizeof cap),
                   cli_fmt_size(st[i].used_bytes, used, sizeof used),
                   (unsigned long long)st[i].objects, (unsigned)st[i].clients,
                   user_name(st[i].uid, user, sizeof user),
                   (unsigned)st[i].mode);
        }
    } else {
        printf("no arenas\n");
    }
    free(st);
    return cli_flush(c);
}

static bool name_ok(struct cli *c, const char *name)
{
    char wire[SHARENA_NAME_MAX + 1];
    int r = sharena_name_qualify(name, wire, sizeof wire);
    if (r == 0)
        return true;
    if (r == SHARENA_ENOENT)
        cli_usage(c, "'%s': no such user", name);
    else
        cli_usage(c,
                  "'%s' is not a valid arena name (1..128 bytes of "
                  "[A-Za-z0-9._-], or USER:NAME for another user's)",
                  name);
    return false;
}

/* Roots of an arena we may read: "name (type)" pairs. */
struct rootlist {
    size_t n;
    char names[64][SHARENA_NAME_MAX + 1];
    int types[64];
    size_t more;
};

static void list_roots(sharena_arena *a, struct rootlist *rl)
{
    memset(rl, 0, sizeof *rl);
    sharena_id dir, v;
    if (sharena_roots(a, &dir) < 0)
        return;
    uint64_t cur = 0;
    char key[SHARENA_NAME_MAX + 1];
    size_t klen;
    for (unsigned guard = 0; guard < 100000; guard++) {
        int r = sharena_map_next_ref(a, dir, &cur, key, sizeof key, &klen, &v,
                                     NULL);
        if (r == SHARENA_ERANGE) {
            cur++; /* not a valid root name: skip it */
            continue;
        }
        if (r < 0)
            break;
        if (rl->n == 64) {
            rl->more++;
            continue;
        }
        snprintf(rl->names[rl->n], sizeof rl->names[0], "%s", key);
        rl->types[rl->n] = sharena_type_of(a, v);
        rl->n++;
    }
    /* sorted by name (insertion sort: at most 64) */
    for (size_t i = 1; i < rl->n; i++) {
        for (size_t j = i; j > 0 && strcmp(rl->names[j - 1], rl->names[j]) > 0;
             j--) {
            char tmp[SHARENA_NAME_MAX + 1];
            int t = rl->types[j];
            memcpy(tmp, rl->names[j], sizeof tmp);
            memcpy(rl->names[j], rl->names[j - 1], sizeof tmp);
            memcpy(rl->names[j - 1], tmp, sizeof tmp);
            rl->types[j] = rl->types[j - 1];
            rl->types[j - 1] = t;
        }
    }
}

int cmd_stat(struct cli *c, int argc, char **argv)
{
    const char *pos[1];
    int np = cli_parse(c, argc, argv, NULL, pos, 1);
    if (np < 0)
        return EXIT_USAGE;
    if (np != 1)
        return cli_usage(c, "which arena? (sharena stat ARENA)");
    if (!name_ok(c, pos[0]))
        return EXIT_USAGE;
    if (cli_connect(c) < 0)
        return EXIT_FAIL;
    sharena_arena_stat st;
    int r = sharena_stat(c->conn, pos[0], &st);
    if (r == SHARENA_ENOENT) {
        cli_err(c, "no arena named '%s' (see `sharena ls`)%s%s", pos[0],
                *sharena_broker_message() ? ": " : "",
                sharena_broker_message());
        return EXIT_FAIL;
    }
    if (r < 0)
        return cli_fail(c, pos[0], r);

    /* What only a reader sees: the change counter and the roots. */
    sharena_arena *a = NULL;
    sharena_open_opts o = {.flags = SHARENA_READONLY};
    sharena_arena_info info;
    struct rootlist *rl = calloc(1, sizeof *rl);
    bool readable = rl && sharena_open(c->conn, pos[0], &o, &a) == 0;
    cli_watchdog(c, true);
    if (readable && sharena_arena_info_get(a, &info) < 0)
        readable = false;
    if (readable)
        list_roots(a, rl);
    cli_watchdog(c, false);

    char buf[64], buf2[64], shown[SHARENA_NAME_MAX + 72];
    if (c->json) {
        stat_json(&st);
        if (readable) {
            printf(",\"changes\":%llu,\"heap_bytes\":%llu,\"roots\":[",
                   (unsigned long long)info.changes,
                   (unsigned long long)info.heap_bytes);
            for (size_t i = 0; i < rl->n; i++) {
                printf("%s{\"name\":", i ? "," : "");
                json_put_string(stdout, rl->names[i], strlen(rl->names[i]));
                printf(",\"type\":\"%s\"}",
                       rl->types[i] > 0 ? sharena_type_name(rl->types[i])
                                        : sharena_errname(rl->types[i]));
            }
            printf("]");
        }
        printf(",\"readable\":%s}\n", readable ? "true" : "false");
    } else {
        printf("name:      %s\n", st.name);
        /* whose: the name to give it, here and for other users */
        printf("reach as:  %s (any user: %u:%s)\n",
               shown_name(&st, shown, sizeof shown), (unsigned)st.uid, st.name);
        printf("capacity:  %s (%llu bytes)\n",
               cli_fmt_size(st.capacity, buf, sizeof buf),
               (unsigned long long)st.capacity);
        printf("used:      %s (%llu bytes)\n",
               cli_fmt_size(st.used_bytes, buf, sizeof buf),
               (unsigned long long)st.used_bytes);
        printf("objects:   %llu\n", (unsigned long long)st.objects);
        printf("clients:   %u\n", (unsigned)st.clients);
        printf("owner:     %s (uid %u, gid %u)\n",
               user_name(st.uid, buf2, sizeof buf2), (unsigned)st.uid,
               (unsigned)st.gid);
        printf("mode:      %04o\n", (unsigned)st.mode);
        printf("created:   %s\n", fmt_time(st.created_ns, buf, sizeof buf));
        if (readable) {
            printf("changes:   %llu\n", (unsigned long long)info.changes);
            printf("roots:    ");
            for (size_t i = 0; i < rl->n; i++)
                printf(" %s (%s)%s", rl->names[i],
                       rl->types[i] > 0 ? sharena_type_name(rl->types[i])
                                        : sharena_errname(rl->types[i]),
                       i + 1 < rl->n ? "," : "");
            if (rl->more)
                printf(" and %zu more", rl->more);
            printf("%s\n", rl->n ? "" : " none");
        }
    }
    free(rl);
    sharena_arena_close(a);
    return cli_flush(c);
}

int cmd_create(struct cli *c, int argc, char **argv)
{
    const char *pos[1], *capacity = NULL, *mode = NULL;
    const struct cli_opt opts[] = {
        {"--capacity", true, &capacity, NULL},
        {"--mode", true, &mode, NULL},
        {0},
    };
    int np = cli_parse(c, argc, argv, opts, pos, 1);
    if (np < 0)
        return EXIT_USAGE;
    if (np != 1)
        return cli_usage(c, "which arena? (sharena create ARENA)");
    if (!name_ok(c, pos[0]))
        return EXIT_USAGE;
    sharena_open_opts o = {.flags = SHARENA_CREATE | SHARENA_EXCL};
    if (capacity && (sharena_parse_size(capacity, &o.capacity) < 0 ||
                     o.capacity < SHARENA_MIN_CAPACITY ||
                     o.capacity > SHARENA_MAX_CAPACITY))
        return cli_usage(c, "bad --capacity '%s' (256K..1T, suffixes K M G T)",
                         capacity);
    if (mode && cli_parse_mode(c, mode, &o.mode) != 0)
        return EXIT_USAGE;
    if (cli_connect(c) < 0)
        return EXIT_FAIL;
    sharena_arena *a;
    int r = sharena_open(c->conn, pos[0], &o, &a);
    if (r == SHARENA_EEXIST) {
        cli_err(c, "an arena named '%s' already exists (%s)", pos[0],
                sharena_broker_message());
        return EXIT_FAIL;
    }
    if (r == SHARENA_EACCES && *sharena_broker_message()) {
        cli_err(c, "%s: permission denied (%s)", pos[0],
                sharena_broker_message());
        return EXIT_FAIL;
    }
    if (r < 0)
        return cli_fail(c, pos[0], r);
    sharena_open_info info = {.size = sizeof info};
    sharena_arena_open_info(a, &info);
    sharena_arena_close(a);
    char user[64];
    if (c->json) {
        sharena_arena_stat st;
        if (sharena_stat(c->conn, info.name, &st) == 0) {
            stat_json(&st);
            printf(",\"created\":%s}\n", info.created ? "true" : "false");
        } else {
            printf("{\"name\":");
            json_put_string(stdout, pos[0], strlen(pos[0]));
            puts("}");
        }
    } else {
        printf("created arena '%s': owner %s (uid %u), mode %04o\n", pos[0],
               user_name(info.uid, user, sizeof user), (unsigned)info.uid,
               (unsigned)info.mode);
    }
    return cli_flush(c);
}

/* rm ARENA PATH: remove one entry. */
static int rm_path(struct cli *c, const char *arena, const char *text)
{
    struct path p;
    char err[256];
    if (path_parse(text, &p, err, sizeof err) < 0)
        return cli_usage(c, "%s", err);
    sharena_arena *a;
    if (cli_open(c, arena, 0, false, &a) < 0) {
        path_free(&p);
        return EXIT_FAIL;
    }
    cli_watchdog(c, true);
    int ex = EXIT_OK, r;
    if (p.n == 1) {
        r = sharena_root_remove(a, p.comp[0]);
        if (r == SHARENA_ENOENT)
            ex = path_fail(c, arena, &p, 0, r);
        else if (r < 0)
            ex = cli_fail(c, text, r);
    } else {
        struct target t;
        size_t depth;
        r = path_resolve(a, &p, p.n - 1, &t, &depth);
        if (r < 0) {
            ex = path_fail(c, arena, &p, depth, r);
        } else if (t.type == SHARENA_T_MAP) {
            r = sharena_map_remove(a, t.id, p.comp[p.n - 1], p.clen[p.n - 1],
                                   NULL);
            if (r < 0)
                ex = r == SHARENA_ENOENT ? path_fail(c, arena, &p, p.n - 1, r)
                                         : cli_fail(c, text, r);
        } else if (t.type == SHARENA_T_VECTOR) {
            uint64_t len, idx;
            r = sharena_vector_len(a, t.id, &len);
            if (r == 0)
                r = path_index(&p, p.n - 1, len, false, &idx);
            if (r == 0)
                r = sharena_vector_remove(a, t.id, idx, NULL);
            if (r < 0)
                ex = r == SHARENA_ERANGE || r == SHARENA_EINVAL
                         ? path_fail(c, arena, &p, p.n - 1, r)
                         : cli_fail(c, text, r);
        } else if (t.type == SHARENA_T_STRUCT && !t.is_field) {
            cli_err(c, "%s: %s: struct fields cannot be removed", arena, text);
            ex = EXIT_FAIL;
        } else {
            ex = path_fail(c, arena, &p, p.n - 1, SHARENA_ETYPE);
        }
    }
    cli_watchdog(c, false);
    if (ex == EXIT_OK && c->json)
        puts("{\"ok\":true}");
    sharena_arena_close(a);
    path_free(&p);
    return ex == EXIT_OK ? cli_flush(c) : ex;
}

int cmd_rm(struct cli *c, int argc, char **argv)
{
    const char *pos[2];
    int np = cli_parse(c, argc, argv, NULL, pos, 2);
    if (np < 0)
        return EXIT_USAGE;
    if (np < 1)
        return cli_usage(c, "which arena? (sharena rm ARENA [PATH])");
    if (!name_ok(c, pos[0]))
        return EXIT_USAGE;
    if (np == 2)
        return rm_path(c, pos[0], pos[1]);
    if (cli_connect(c) < 0)
        return EXIT_FAIL;
    int r = sharena_delete(c->conn, pos[0]);
    if (r == SHARENA_ENOENT) {
        cli_err(c, "no arena named '%s' (see `sharena ls`)", pos[0]);
        return EXIT_FAIL;
    }
    if (r == SHARENA_EACCES) {
        cli_err(c, "%s: permission denied (only its owner may delete it)",
                pos[0]);
        return EXIT_FAIL;
    }
    if (r < 0)
        return cli_fail(c, pos[0], r);
    if (c->json)
        puts("{\"ok\":true}");
    return cli_flush(c);
}
