/* wake.c: wake-up latency, a writer's store to a waiting reader running,
 * against a Unix-socket message between the same two processes.
 *
 *   wake write ARENA N          N times: sleep 300 us, store CLOCK_MONOTONIC
 *                               ns into root number "t"
 *   wake wait ARENA N           wait for N changes of "t"; latency = now - t
 *   wake sockwrite PATH N       the same over a Unix stream socket
 *   wake sockwait PATH N        listen on PATH, read N timestamps
 * Waiters print {"n":..,"median_us":..,"p99_us":..}. The broker is
 * $SHARENA_SOCKET. */
#include <sharena.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(double *lat, long n)
{
    qsort(lat, (size_t)n, sizeof *lat, cmp);
    if (n == 0) {
        printf("{\"n\":0}\n");
        return;
    }
    printf("{\"n\":%ld,\"median_us\":%.2f,\"p99_us\":%.2f}\n", n,
           lat[n / 2] / 1e3, lat[(n * 99) / 100] / 1e3);
}

static sharena_id number(const char *name, sharena_arena **out)
{
    sharena_conn *c;
    sharena_open_opts o = {.flags = SHARENA_CREATE, .capacity = 1 << 20};
    sharena_id t;
    if (sharena_connect(NULL, &c) || sharena_open(c, name, &o, out) ||
        sharena_root_ensure(*out, "t", SHARENA_T_NUMBER, 0, &t, NULL)) {
        fprintf(stderr, "wake: cannot open %s\n", name);
        exit(1);
    }
    return t;
}

static int unix_sock(const char *path, int listening)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (listening) {
        unlink(path);
        if (bind(s, (struct sockaddr *)&sa, sizeof sa) || listen(s, 1))
            exit(1);
        printf("READY\n");
        fflush(stdout);
        int c = accept(s, NULL, NULL);
        close(s);
        return c;
    }
    for (int i = 0; i < 1000 && connect(s, (struct sockaddr *)&sa, sizeof sa);
         i++)
        usleep(10000);
    return s;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    long n = atol(argv[3]);
    double *lat = calloc((size_t)n, sizeof *lat);
    struct timespec gap = {0, 300000};
    sharena_arena *a;
    if (!strcmp(argv[1], "write")) {
        sharena_id t = number(argv[2], &a);
        for (long i = 0; i < n; i++) {
            nanosleep(&gap, NULL);
            sharena_number_set(a, t, now_ns());
        }
        nanosleep(&gap, NULL);
        sharena_number_set(a, t, -1); /* the end */
    } else if (!strcmp(argv[1], "wait")) {
        sharena_id t = number(argv[2], &a);
        printf("READY\n");
        fflush(stdout);
        long got = 0;
        for (long i = 0; got < n;
             i++) { /* writes a slow wake coalesced are skipped */
            uint64_t seen, v;
            double d;
            sharena_change_count(a, t, &seen);
            int r = sharena_wait(a, t, seen, 10000000000LL, &v);
            if (r < 0) {
                fprintf(stderr, "wake: wait %ld: %s\n", i, sharena_strerror(r));
                return 1;
            }
            double at = now_ns();
            sharena_number_get(a, t, &d);
            if (d < 0)
                break;
            lat[got++] = at - d;
        }
        report(lat, got);
    } else if (!strcmp(argv[1], "sockwrite")) {
        int s = unix_sock(argv[2], 0);
        for (long i = 0; i < n; i++) {
            nanosleep(&gap, NULL);
            double t = now_ns();
            if (write(s, &t, sizeof t) != sizeof t)
                return 1;
        }
    } else if (!strcmp(argv[1], "sockwait")) {
        int s = unix_sock(argv[2], 1);
        for (long i = 0; i < n; i++) {
            double t;
            if (read(s, &t, sizeof t) != sizeof t)
                return 1;
            lat[i] = now_ns() - t;
        }
        report(lat, n);
    }
    return 0;
}
