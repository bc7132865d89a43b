/* Flags used as meant: must compile with -Werror (tests/header). */
#include "sharena.h"

int use_flags(sharena_conn *c, sharena_arena *a, sharena_id m, sharena_id v)
{
    sharena_open_opts o = {0};
    o.flags = SHARENA_CREATE | SHARENA_EXCL;
    sharena_arena *b;
    int r = sharena_open(c, "x", &o, &b);
    r |= sharena_map_set(a, m, "k", 1, v, SHARENA_OWNED, NULL);
    r |= sharena_vector_push(a, m, v, 0);
    r |= sharena_drop(a, m, SHARENA_DROP_RECURSIVE);
    r |= sharena_fsck(a, SHARENA_FSCK_REPAIR | SHARENA_FSCK_BREAK_LOCKS, NULL,
                      NULL, NULL);
    sharena_id root;
    r |= sharena_root_ensure(a, "r", SHARENA_T_MAP, 0, &root, NULL);
    return r;
}
