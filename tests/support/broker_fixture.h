/* broker_fixture.h: start a private sharenad for a test and stop it. */
#ifndef SHARENA_TEST_BROKER_FIXTURE_H
#define SHARENA_TEST_BROKER_FIXTURE_H

#include <sys/types.h>

struct test_broker {
    pid_t pid;
    char dir[64];     /* private mktemp directory */
    char socket[128]; /* dir/broker.sock */
};

/* Start `sharenad --foreground --socket DIR/broker.sock EXTRA...` (extra
 * arguments NULL-terminated, may be none) and wait until it accepts
 * connections. Returns 0 or -1 (with a message on stderr). */
int test_broker_start(struct test_broker *b, ...);
/* SIGTERM, wait (SIGKILL after 5 s), remove the directory. Returns the
 * broker's exit status (0 when it shut down cleanly). */
int test_broker_stop(struct test_broker *b);
/* Path of the sharenad binary under test. */
const char *test_sharenad_path(void);

#endif
