/* A tiny program built against the installed library. */
#include <sharena.h>
#include <stdio.h>

int main(void)
{
    sharena_arena *a;
    sharena_id m, v;
    char buf[32];
    size_t len;
    if (sharena_arena_create("install-check", 0, &a) ||
        sharena_root_ensure(a, "config", SHARENA_T_MAP, 0, &m, NULL) ||
        sharena_map_set_string(a, m, "greeting", 8, "hello", 5) ||
        sharena_map_get(a, m, "greeting", 8, &v) ||
        sharena_string_get(a, v, buf, sizeof buf, &len))
        return 1;
    printf("%s\n", buf);
    sharena_arena_close(a);
    return 0;
}
