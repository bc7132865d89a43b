/* cmd_check.c: fsck and locks: the health of an arena. */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* ---- fsck -----------------------------------------------------------------
 */

#define FSCK_LINES_MAX 1000 /* problems printed; the rest are counted */

struct problems {
    char **line;
    size_t n, omitted;
};

static void on_problem(void *ctx, const char *text)
{
    struct problems *p = ctx;
    if (p->n >= FSCK_LINES_MAX) {
        p->omitted++;
        return;
    }
    if (!p->line)
        p->line = calloc(FSCK_LINES_MAX, sizeof *p->line);
    char *s = p->line ? strdup(text) : NULL;
    if (!s) {
        p->omitted++;
        return;
    }
    p->line[p->n++] = s;
}

int cmd_fsck(struct cli *c, int argc, char **argv)
{
    const char *pos[1];
    bool repair = false, brk = false;
    const struct cli_opt opts[] = {
        {"--repair", false, NULL, &repair},
        {"--break-locks", false, NULL, &brk},
        {0},
    };
    int np = cli_parse(c, argc, argv, opts, pos, 1);
    if (np < 0)
        return EXIT_USAGE;
    if (np != 1)
        return cli_usage(c, "which arena? (sharena fsck ARENA [--repair])");
    if (brk && !repair)
        return cli_usage(c, "--break-locks needs --repair");
    sharena_arena *a;
    /* Read-write when allowed, so that locks of dead owners are recovered
     * the way the next locker would; a read-only check reports them as
     * pending, which is not damage. */
    if (cli_open(c, pos[0], 0, !repair, &a) < 0)
        return EXIT_FAIL;
    unsigned flags = (repair ? SHARENA_FSCK_REPAIR : 0) |
                     (brk ? SHARENA_FSCK_BREAK_LOCKS : 0);
    struct problems pr = {0};
    sharena_fsck_report rep;
    memset(&rep, 0, sizeof rep);
    cli_watchdog(c, true);
    int r = sharena_fsck(a, flags, on_problem, &pr, &rep);
    cli_watchdog(c, false);
    bool ro = sharena_arena_readonly(a);
    sharena_arena_close(a);

    int ex = EXIT_OK;
    if (r < 0 && r != SHARENA_ECORRUPT) {
        ex = cli_fail(c, pos[0], r);
    } else if (c->json) {
        printf("{\"arena\":");
        json_put_string(stdout, pos[0], strlen(pos[0]));
        printf(",\"ok\":%s,\"repair\":%s,\"readonly\":%s,\"problems\":[",
               r == 0 ? "true" : "false", repair ? "true" : "false",
               ro ? "true" : "false");
        for (size_t i = 0; i < pr.n; i++) {
            if (i)
                putchar(',');
            json_put_string(stdout, pr.line[i], strlen(pr.line[i]));
        }
        printf("],\"problems_omitted\":%zu,\"errors\":%llu,\"repaired\":%llu,"
               "\"objects\":%llu,\"blocks\":%llu,\"used_bytes\":%llu,"
               "\"free_bytes\":%llu,\"leaked_bytes\":%llu,\"locks_held\":%llu,"
               "\"recovered\":%llu}\n",
               pr.omitted, (unsigned long long)rep.errors,
               (unsigned long long)rep.repaired,
               (unsigned long long)rep.objects, (unsigned long long)rep.blocks,
               (unsigned long long)rep.used_bytes,
               (unsigned long long)rep.free_bytes,
               (unsigned long long)rep.leaked_bytes,
               (unsigned long long)rep.locks_held,
               (unsigned long long)rep.recovered);
    } else {
        char used[32], leaked[32];
        for (size_t i = 0; i < pr.n; i++)
            printf("%s\n", pr.line[i]);
        if (pr.omitted)
            printf("... and %zu more problems\n", pr.omitted);
        if (rep.errors)
            printf("%s: %llu problem%s found", pos[0],
                   (unsigned long long)rep.errors, rep.errors == 1 ? "" : "s");
        else
            printf("%s: consistent", pos[0]);
        if (repair && rep.errors)
            printf(", %s", r == 0 ? "repaired" : "some could not be repaired");
        printf(
            " (%llu objects, %s in %llu blocks, %s leaked, %llu lock%s "
            "held, %llu recovered%s)\n",
            (unsigned long long)rep.objects,
            cli_fmt_size(rep.used_bytes, used, sizeof used),
            (unsigned long long)rep.blocks,
            cli_fmt_size(rep.leaked_bytes, leaked, sizeof leaked),
            (unsigned long long)rep.locks_held, rep.locks_held == 1 ? "" : "s",
            (unsigned long long)rep.recovered, ro ? "; checked read-only" : "");
    }
    if (ex == EXIT_OK && r == SHARENA_ECORRUPT) {
        ex = EXIT_FAIL;
        if (!c->json)
            cli_err(c, "%s: %s", pos[0],
                    repair ? "problems remain after repair"
                           : "the arena has problems; `sharena fsck ARENA "
                             "--repair` fixes what it can");
    }
    for (size_t i = 0; i < pr.n; i++)
        free(pr.line[i]);
    free(pr.line);
    int f = cli_flush(c);
    return ex ? ex : f;
}

/* ---- locks ----------------------------------------------------------------
 */

#define LOCKS_MAX 100000    /* locks listed */
#define FIND_BUDGET 1000000 /* objects visited looking for paths */

struct lockrec {
    sharena_lock_info li;
    char *path; /* from a root, when found */
};

struct locks {
    struct lockrec *v;
    size_t n, cap, more, unplaced;
};

static int on_lock(void *ctx, const sharena_lock_info *li)
{
    struct locks *l = ctx;
    if (l->n >= LOCKS_MAX) {
        l->more++;
        return 0;
    }
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        struct lockrec *p = realloc(l->v, nc * sizeof *p);
        if (!p) {
            l->more++;
            return 0;
        }
        l->v = p;
        l->cap = nc;
    }
    l->v[l->n].li = *li;
    l->v[l->n].path = NULL;
    if (li->id)
        l->unplaced++;
    l->n++;
    return 0;
}

/* Walk from the roots looking for the locked objects' paths. */
struct finder {
    const sharena_arena *a;
    struct locks *l;
    uint64_t budget;
    char path[4096];
};

static void found(struct finder *f, sharena_id id)
{
    for (size_t i = 0; i < f->l->n; i++) {
        if (f->l->v[i].li.id == id && !f->l->v[i].path) {
            f->l->v[i].path = strdup(f->path);
            if (f->l->unplaced)
                f->l->unplaced--;
        }
    }
}

/* Append a component to f->path (escaped); returns the old length. */
static size_t push(struct finder *f, const char *s, size_t n)
{
    size_t o = strlen(f->path), old = o;
    if (o && o + 1 < sizeof f->path)
        f->path[o++] = '/';
    for (size_t i = 0; i < n && o + 2 < sizeof f->path; i++) {
        if (s[i] == '/' || s[i] == '\\')
            f->path[o++] = '\\';
        f->path[o++] = s[i];
    }
    f->path[o] = 0;
    return old;
}

static void visit(struct finder *f, sharena_id id, unsigned depth)
{
    if (!f->l->unplaced || !f->budget || depth > 64)
        return;
    f->budget--;
    found(f, id);
    int type = sharena_type_of(f->a, id);
    if (type == SHARENA_T_MAP) {
        uint64_t cur = 0;
        char key[1024];
        size_t klen;
        sharena_id v;
        for (;;) {
            /* refs only: a value stored in the entry has none below it */
            int r = sharena_map_next_ref(f->a, id, &cur, key, sizeof key, &klen,
                                         &v, NULL);
            if (r == SHARENA_ERANGE) {
                cur++; /* key longer than we show: skip the entry */
                continue;
            }
            if (r < 0 || !f->budget || !f->l->unplaced)
                break;
            if (!v)
                continue;
            size_t old = push(f, key, klen);
            visit(f, v, depth + 1);
            f->path[old] = 0;
        }
    } else if (type == SHARENA_T_VECTOR) {
        uint64_t len;
        if (sharena_vector_len(f->a, id, &len) < 0)
            return;
        for (uint64_t i = 0; i < len && f->budget && f->l->unplaced; i++) {
            /* the value's id without asking for one: a number stored in
             * the item has none (no object, no lock) */
            sharena_value val = {0};
            int r = sharena_vector_get_value(f->a, id, i, NULL, 0, &val);
            if (r == SHARENA_ERANGE && val.type == 0)
                break;
            if ((r < 0 && r != SHARENA_ERANGE) || !val.id)
                continue;
            sharena_id v = val.id;
            char idx[24];
            int n = snprintf(idx, sizeof idx, "%llu", (unsigned long long)i);
            size_t old = push(f, idx, (size_t)n);
            visit(f, v, depth + 1);
            f->path[old] = 0;
        }
    } else if (type == SHARENA_T_STRUCT) {
        size_t n;
        if (sharena_shape_nfields(f->a, id, &n) < 0)
            return;
        for (size_t i = 0; i < n && i < SHARENA_FIELDS_MAX; i++) {
            char name[SHARENA_FIELD_NAME_MAX + 1];
            sharena_type ft;
            uint64_t size;
            sharena_id v;
            if (sharena_shape_field(f->a, id, i, name, sizeof name, &ft,
                                    &size) < 0 ||
                (ft != SHARENA_T_STRING && ft != SHARENA_T_BYTES) ||
                sharena_struct_field_id(f->a, id, i, &v) < 0)
                continue;
            size_t old = push(f, name, strlen(name));
            visit(f, v, depth + 1);
            f->path[old] = 0;
        }
    }
}

static void find_paths(const sharena_arena *a, struct locks *l)
{
    struct finder f = {.a = a, .l = l, .budget = FIND_BUDGET};
    sharena_id dir;
    if (sharena_roots(a, &dir) < 0)
        return;
    found(&f, dir);
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].li.id == dir && l->v[i].path) {
            free(l->v[i].path);
            l->v[i].path = strdup("(roots directory)");
        }
    visit(&f, dir, 0);
}

static bool proc_comm(uint32_t pid, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%u/comm", (unsigned)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    bool ok = fgets(buf, (int)cap, f) != NULL;
    fclose(f);
    if (ok)
        buf[strcspn(buf, "\n")] = 0;
    return ok;
}

/* A pid is alive when it exists and is not a zombie (which can hold no
 * lock: it no longer runs). */
static bool pid_alive(uint32_t pid)
{
    if (kill((pid_t)pid, 0) < 0 && errno != EPERM)
        return false;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%u/stat", (unsigned)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    return !(p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'));
}

int cmd_locks(struct cli *c, int argc, char **argv)
{
    const char *pos[1];
    int np = cli_parse(c, argc, argv, NULL, pos, 1);
    if (np < 0)
        return EXIT_USAGE;
    if (np != 1)
        return cli_usage(c, "which arena? (sharena locks ARENA)");
    sharena_arena *a;
    if (cli_open(c, pos[0], SHARENA_READONLY, false, &a) < 0)
        return EXIT_FAIL;
    struct locks l = {0};
    cli_watchdog(c, true);
    int r = sharena_locks(a, on_lock, &l);
    if (r == 0 && l.unplaced)
        find_paths(a, &l);
    cli_watchdog(c, false);
    sharena_arena_close(a);
    if (r < 0) {
        free(l.v);
        return cli_fail(c, pos[0], r);
    }
    /* Which process is a client slot: ask the broker (best effort: an
     * older broker, or none, leaves them unnamed). */
    sharena_client_info *cl = NULL;
    size_t ncl = 0;
    bool slots = false;
    for (size_t i = 0; i < l.n; i++)
        slots |= !l.v[i].li.pid;
    bool known = slots && sharena_clients(c->conn, pos[0], &cl, &ncl) == 0;
    if (c->json)
        putchar('[');
    else if (l.n)
        printf("%-32s %-8s %-34s %-8s %s\n", "OBJECT", "TYPE", "OWNER", "HELD",
               "STATE");
    else
        printf("no locks held\n");
    for (size_t i = 0; i < l.n; i++) {
        const sharena_lock_info *li = &l.v[i].li;
        const sharena_client_info *who = NULL;
        /* a dead owner's slot may be someone else's by now; only a
         * read-write connection can own a lock */
        for (size_t k = 0; !li->pid && !li->died && k < ncl; k++)
            if (cl[k].slot == li->owner && cl[k].writable)
                who = &cl[k];
        uint32_t pid = li->pid ? li->pid : who ? who->pid : 0;
        char comm[64] = "";
        bool have_comm = pid && proc_comm(pid, comm, sizeof comm);
        bool alive = pid && pid_alive(pid);
        const char *type = li->id ? sharena_type_name(li->type) : "arena";
        if (c->json) {
            printf("%s{\"id\":%llu,\"type\":\"%s\",\"path\":", i ? "," : "",
                   (unsigned long long)li->id, type);
            if (l.v[i].path)
                json_put_string(stdout, l.v[i].path, strlen(l.v[i].path));
            else
                fputs("null", stdout);
            printf(",\"owner\":%u,", (unsigned)li->owner);
            if (li->pid)
                fputs("\"slot\":null,", stdout);
            else
                printf("\"slot\":%u,", (unsigned)li->owner);
            if (pid)
                printf("\"pid\":%u,", (unsigned)pid);
            else
                fputs("\"pid\":null,", stdout);
            fputs("\"command\":", stdout);
            if (have_comm)
                json_put_string(stdout, comm, strlen(comm));
            else
                fputs("null", stdout);
            if (pid)
                printf(",\"alive\":%s", alive ? "true" : "false");
            else if (!li->pid)
                /* a slot the broker no longer lists is gone */
                printf(",\"alive\":%s", known && !who ? "false" : "null");
            else
                fputs(",\"alive\":false", stdout);
            if (li->held_known)
                printf(",\"held_s\":%u,\"held_exact\":%s", (unsigned)li->held_s,
                       li->held_exact ? "true" : "false");
            else
                fputs(",\"held_s\":null,\"held_exact\":false", stdout);
            printf(",\"waiters\":%s,\"died\":%s}",
                   li->waiters ? "true" : "false", li->died ? "true" : "false");
            continue;
        }
        char obj[512], owner[128], held[32];
        if (!li->id)
            snprintf(obj, sizeof obj, "(arena allocator)");
        else if (l.v[i].path)
            snprintf(obj, sizeof obj, "%s (#%llu)", l.v[i].path,
                     (unsigned long long)li->id);
        else
            snprintf(obj, sizeof obj, "#%llu", (unsigned long long)li->id);
        if (li->pid)
            snprintf(owner, sizeof owner, "pid %u (%s)%s", (unsigned)li->pid,
                     have_comm ? comm : "?", alive ? "" : " gone");
        else if (pid)
            snprintf(owner, sizeof owner, "slot %u: pid %u (%s)%s",
                     (unsigned)li->owner, (unsigned)pid, have_comm ? comm : "?",
                     alive ? "" : " gone");
        else
            snprintf(owner, sizeof owner, "slot %u%s", (unsigned)li->owner,
                     who ? (who->hidden ? " (another user's)" : " (delegated)")
                     : known ? " (gone)"
                             : "");
        if (!li->held_known)
            snprintf(held, sizeof held, "?");
        else
            snprintf(held, sizeof held, "%s%us",
                     li->held_exact ? "" : "<=", (unsigned)li->held_s);
        printf("%-32s %-8s %-34s %-8s %s%s\n", obj, type, owner, held,
               li->died ? "owner died, recovery pending" : "held",
               li->waiters ? ", waiters" : "");
    }
    free(cl);
    if (c->json)
        puts("]");
    if (l.more)
        cli_err(c, "%zu more locks not listed", l.more);
    for (size_t i = 0; i < l.n; i++)
        free(l.v[i].path);
    free(l.v);
    return cli_flush(c);
}
