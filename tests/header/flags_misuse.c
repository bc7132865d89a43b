/* An open flag where an insertion flag belongs: SHARENA_CREATE and
 * SHARENA_OWNED are both 1, so this would silently mean "owned". The
 * header's flag sets are distinct enum types so that the compiler says so
 * (tests/header/check_flags.cmake expects this file to fail with -Werror
 * and name -Wenum-conversion). */
#include "sharena.h"

int misuse(sharena_arena *a, sharena_id m, sharena_id v)
{
    return sharena_map_set(a, m, "k", 1, v, SHARENA_CREATE, NULL);
}
