/* log.c: the broker's event log. One line per event, written with a single
 * write(2) so that lines from a busy broker never interleave (and nothing
 * beyond poll, write and the vDSO clock is needed under the seccomp
 * filter). The broker must never block on its log: when stderr is a pipe
 * nobody reads (or a tty stopped with ^S), lines are dropped and counted,
 * and the next line that goes out says how many were lost. */
#include "broker.h"

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const names[] = {"silent", "error", "warning", "info",
                                    "debug"};

int broker_log_level(const char *name)
{
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

void broker_log(const struct broker *b, int level, const char *fmt, ...)
{
    if (level <= BLOG_SILENT || level > b->log_level)
        return;
    char line[512];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ sharenad[%d] %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, (int)getpid(),
                     names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0
                              : (size_t)m < sizeof line - (size_t)n - 1
                                  ? (size_t)m
                                  : sizeof line - (size_t)n - 2);
    line[len++] = '\n';
    static unsigned long dropped;
    struct pollfd p = {.fd = STDERR_FILENO, .events = POLLOUT};
    if (poll(&p, 1, 0) != 1 || !(p.revents & POLLOUT)) {
        dropped++;
        return;
    }
    if (dropped) {
        char note[96];
        int k = snprintf(note, sizeof note,
                         "sharenad[%d] warning: %lu log line%s dropped "
                         "(stderr was not writable)\n",
                         (int)getpid(), dropped, dropped == 1 ? "" : "s");
        if (write(STDERR_FILENO, note, (size_t)k) == k)
            dropped = 0;
    }
    if (write(STDERR_FILENO, line, len) != (ssize_t)len)
        dropped++;
}
