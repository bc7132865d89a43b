/* sharena-test-delegate SOCKET NAME[,NAME...] [--readonly] -- PROG ARG...
 *
 * For the Node and Python tests of delegated connections (their bindings
 * only use one): connect to the broker at SOCKET, ask for a delegated
 * connection limited to the NAMEs, and exec PROG with it inherited as
 * SHARENA_FD=N. The connection that asked is closed at exec (CLOEXEC); the
 * delegated one lives on in PROG. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sharena.h"

int main(int argc, char **argv)
{
    int sep = 1;
    while (sep < argc && strcmp(argv[sep], "--") != 0)
        sep++;
    if (sep < 3 || sep + 1 >= argc) {
        fprintf(stderr,
                "usage: %s SOCKET NAME[,NAME...] [--readonly] -- "
                "PROG ARG...\n",
                argv[0]);
        return 2;
    }
    unsigned flags = 0;
    if (sep > 3 && strcmp(argv[3], "--readonly") == 0)
        flags |= SHARENA_READONLY;
    const char *names[16];
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(argv[2], ",", &save); t && n < 16;
         t = strtok_r(NULL, ",", &save))
        names[n++] = t;
    sharena_conn *c;
    int r = sharena_connect(argv[1], &c);
    int fd = -1;
    if (r == 0)
        r = sharena_delegate(c, names, n, flags, &fd);
    if (r < 0) {
        fprintf(stderr, "%s: %s\n", argv[0], sharena_strerror(r));
        return 1;
    }
    int keep = fcntl(fd, F_DUPFD, 3); /* without CLOEXEC: PROG inherits it */
    char num[16];
    snprintf(num, sizeof num, "%d", keep);
    setenv("SHARENA_FD", num, 1);
    execvp(argv[sep + 1], argv + sep + 1);
    perror(argv[sep + 1]);
    return 127;
}
