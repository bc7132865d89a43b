/* cmd_snapshot.c: save and load, arena images (lib/src/snapshot.c). */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "sharena: CMD: WHAT: message (ENAME): detail" */
static int snap_fail(struct cli *c, const char *what, int r)
{
    const char *why = sharena_snapshot_message();
    if (*why)
        cli_err(c, "%s: %s (%s)", what, why, sharena_errname(r));
    else
        cli_fail(c, what, r);
    return EXIT_FAIL;
}

int cmd_save(struct cli *c, int argc, char **argv)
{
    const char *pos[2];
    const struct cli_opt opts[] = {{0}};
    int np = cli_parse(c, argc, argv, opts, pos, 2);
    if (np < 0)
        return EXIT_USAGE;
    if (np != 2)
        return cli_usage(c, "which arena and file? (sharena save ARENA FILE)");
    sharena_arena *a;
    if (cli_open(c, pos[0], 0, false, &a) < 0)
        return EXIT_FAIL;
    sharena_save_info info;
    int r = sharena_save(a, pos[1], &info);
    sharena_arena_close(a);
    if (r < 0)
        return snap_fail(c, pos[1], r);
    char b1[32], b2[32];
    if (c->json) {
        printf("{\"arena\":");
        json_put_string(stdout, pos[0], strlen(pos[0]));
        printf(",\"file\":");
        json_put_string(stdout, pos[1], strlen(pos[1]));
        printf(",\"bytes\":%llu,\"image_bytes\":%llu,\"barrier_ns\":%llu}\n",
               (unsigned long long)info.bytes,
               (unsigned long long)info.image_bytes,
               (unsigned long long)info.barrier_ns);
    } else
        printf("saved arena '%s' to %s: %s of data, image %s; writers "
               "waited %.1f ms\n",
               pos[0], pos[1], cli_fmt_size(info.bytes, b1, sizeof b1),
               cli_fmt_size(info.image_bytes, b2, sizeof b2),
               (double)info.barrier_ns / 1e6);
    return cli_flush(c);
}

int cmd_load(struct cli *c, int argc, char **argv)
{
    const char *pos[2], *mode = NULL, *capacity = NULL;
    const struct cli_opt opts[] = {
        {"--mode", true, &mode, NULL},
        {"--capacity", true, &capacity, NULL},
        {0},
    };
    int np = cli_parse(c, argc, argv, opts, pos, 2);
    if (np < 0)
        return EXIT_USAGE;
    if (np != 2)
        return cli_usage(c, "which file and name? (sharena load FILE NAME)");
    if (c->json) /* the text `dump` writes, not an image */
        return load_json(c, pos[0], pos[1], mode, capacity);
    if (capacity)
        return cli_usage(c, "--capacity is for --json (an image has its "
                            "own)");
    sharena_open_opts o = {0};
    if (mode && cli_parse_mode(c, mode, &o.mode) != 0)
        return EXIT_USAGE;
    if (cli_connect(c) < 0)
        return EXIT_FAIL;
    sharena_arena *a;
    int r = sharena_load(c->conn, pos[0], pos[1], &o, &a);
    if (r < 0)
        return snap_fail(c, pos[0], r);
    sharena_arena_info info;
    memset(&info, 0, sizeof info);
    sharena_arena_info_get(a, &info);
    sharena_arena_close(a);
    char b1[32];
    if (c->json) {
        printf("{\"name\":");
        json_put_string(stdout, pos[1], strlen(pos[1]));
        printf(",\"capacity\":%llu}\n", (unsigned long long)info.capacity);
    } else {
        printf("loaded %s into new arena '%s' (%s, checked)\n", pos[0], pos[1],
               cli_fmt_size(info.capacity, b1, sizeof b1));
    }
    return cli_flush(c);
}
