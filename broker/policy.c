/* policy.c: the --policy file. Each non-empty line that is not a comment is
 *
 *     [OWNER:]ARENA-GLOB  WHO  ACCESS
 *
 * ARENA-GLOB is an fnmatch(3) pattern over arena names ("metrics.*", "*");
 * WHO is a user (name or number) or @group (name or number); ACCESS is rw
 * or ro. A rule only ever adds access to what the arena's own mode grants.
 * Without OWNER it grants access to any user's arenas of matching names
 * (which WHO reaches by their qualified names, "OWNER:name"); with OWNER
 * (a user name or number) only to that user's, and it also shares the
 * names: for WHO, a plain name matching the glob means OWNER's arena of
 * that name (policy_owner). Names are resolved when the file is read
 * (before the sandbox starts). */
#include "broker.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct policy_rule {
    char glob[SHARENA_NAME_MAX + 1];
    bool has_owner;
    uint32_t owner; /* with has_owner: the uid whose arenas it is about */
    bool group;
    uint32_t id; /* uid or gid */
    int access;  /* 1 ro, 2 rw */
    struct policy_rule *next;
};

static int parse_id(const char *s, bool group, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (*s && !*end && !errno && v < UINT32_MAX) {
        *out = (uint32_t)v;
        return 0;
    }
    if (group) {
        struct group *g = getgrnam(s);
        if (!g)
            return -1;
        *out = g->gr_gid;
    } else {
        struct passwd *p = getpwnam(s);
        if (!p)
            return -1;
        *out = p->pw_uid;
    }
    return 0;
}

int policy_load(const char *path, struct policy_rule **out, char *err,
                size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[512];
    int lineno = 0;
    struct policy_rule **tail = out;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char glob[256], who[256], acc[16], extra[8];
        int n = sscanf(line, "%255s %255s %15s %7s", glob, who, acc, extra);
        if (n <= 0)
            continue;
        struct policy_rule *r = calloc(1, sizeof(*r));
        if (!r) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        *tail = r;
        tail = &r->next;
        if (n != 3) {
            snprintf(err, errlen,
                     "%s:%d: expected 'ARENA-GLOB USER|@GROUP rw|ro'", path,
                     lineno);
            goto fail;
        }
        char *pat = glob, *colon = strchr(glob, ':');
        if (colon) {
            *colon = 0;
            pat = colon + 1;
            r->has_owner = true;
            if (!*glob || parse_id(glob, false, &r->owner) < 0) {
                snprintf(err, errlen,
                         "%s:%d: unknown owner '%s' (OWNER:GLOB "
                         "names a user)",
                         path, lineno, glob);
                goto fail;
            }
        }
        if (!*pat || strlen(pat) > SHARENA_NAME_MAX || strchr(pat, ':')) {
            snprintf(err, errlen, "%s:%d: bad pattern '%s'", path, lineno, pat);
            goto fail;
        }
        strcpy(r->glob, pat);
        r->group = who[0] == '@';
        if (parse_id(who + r->group, r->group, &r->id) < 0) {
            snprintf(err, errlen, "%s:%d: unknown %s '%s'", path, lineno,
                     r->group ? "group" : "user", who + r->group);
            goto fail;
        }
        if (strcmp(acc, "rw") == 0)
            r->access = 2;
        else if (strcmp(acc, "ro") == 0)
            r->access = 1;
        else {
            snprintf(err, errlen, "%s:%d: access must be rw or ro, not '%s'",
                     path, lineno, acc);
            goto fail;
        }
    }
    fclose(f);
    return 0;
fail:
    fclose(f);
    policy_free(*out);
    *out = NULL;
    return -1;
}

void policy_free(struct policy_rule *p)
{
    while (p) {
        struct policy_rule *n = p->next;
        free(p);
        p = n;
    }
}

static bool who_matches(const struct policy_rule *p, const struct client *c)
{
    if (!p->group)
        return c->uid == p->id;
    bool match = c->gid == p->id;
    for (int i = 0; i < c->ngroups && !match; i++)
        match = c->groups[i] == p->id;
    return match;
}

int policy_access(const struct policy_rule *p, uid_t owner, const char *name,
                  const struct client *c)
{
    int best = 0;
    for (; p; p = p->next) {
        if (p->access <= best || (p->has_owner && p->owner != owner) ||
            fnmatch(p->glob, name, 0) != 0)
            continue;
        if (who_matches(p, c))
            best = p->access;
    }
    return best;
}

bool policy_owner(const struct policy_rule *p, const char *name,
                  const struct client *c, uid_t *owner)
{
    for (; p; p = p->next) {
        if (p->has_owner && p->owner != c->uid &&
            fnmatch(p->glob, name, 0) == 0 && who_matches(p, c)) {
            *owner = p->owner;
            return true;
        }
    }
    return false;
}
