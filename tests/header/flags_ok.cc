// The header from C++: flags combined with | keep their enum type (the
// header's operator|), so correct code compiles with -Werror
// (tests/header/CMakeLists.txt).
#include "sharena.h"
#include "sharena_broker.h"

int use_flags(sharena_conn *c, sharena_arena *a, sharena_id m, sharena_id v)
{
    sharena_open_opts o = {};
    o.flags = SHARENA_CREATE | SHARENA_EXCL;
    sharena_arena *b;
    int r = sharena_open(c, "x", &o, &b);
    r |= sharena_map_set(a, m, "k", 1, v, SHARENA_OWNED, nullptr);
    r |= sharena_fsck(a, SHARENA_FSCK_REPAIR | SHARENA_FSCK_BREAK_LOCKS,
                      nullptr, nullptr, nullptr);
    return r;
}
