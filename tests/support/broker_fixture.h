/* broker_fixture.h: start a private sharenad for a test and stop it. */
#ifndef SHARENA_TEST_BROKER_FIXTURE_H
#define SHARENA_TEST_BROKER_FIXTURE_H

#include <sys/types.h>

#define TEST_BROKER_MAX_ARGS 27

struct test_broker {
    pid_t pid;
    char dir[64];                           /* private mktemp directory */
    char socket[128];                       /* dir/broker.sock */
    const char *args[TEST_BROKER_MAX_ARGS]; /* the extra arguments */
    int nargs;
};

/* Start `sharenad --foreground --socket DIR/broker.sock EXTRA...` (extra
 * arguments NULL-terminated, may be none) and wait until it accepts
 * connections. Returns 0 or -1 (with a message on stderr). */
int test_broker_start(struct test_broker *b, ...);
/* SIGTERM, wait (SIGKILL after 5 s), remove the directory. Returns the
 * broker's exit status (0 when it shut down cleanly). */
int test_broker_stop(struct test_broker *b);
/* Stop the broker as test_broker_stop() does but keep its directory, and
 * start another on the same socket with the same extra arguments. Returns
 * the old broker's exit status, or -1 when the new one did not start. */
int test_broker_restart(struct test_broker *b);
/* Wait (a hang guard of about 5 s) until the broker counts @p want clients
 * of arena @p name, as STAT tells @p c: it releases a client that died
 * when it sees its socket close, after the test's waitpid(). Returns the
 * last count seen. */
struct sharena_conn;
unsigned test_broker_wait_clients(struct sharena_conn *c, const char *name,
                                  unsigned want);
/* Path of the sharenad binary under test. */
const char *test_sharenad_path(void);

#endif
