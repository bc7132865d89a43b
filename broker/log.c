/* log.c: the broker's event log. One line per event, written with a single
 * write(2) so that lines from a busy broker never interleave (and nothing
 * beyond poll, write/send and the vDSO clock is needed under the seccomp
 * filter). The broker must never block on its log: when stderr is a pipe
 * nobody reads (or a tty stopped with ^S), lines are dropped and counted,
 * and the next line that goes out says how many were lost.
 *
 * Non-blocking without touching the file description the broker shares
 * with whoever started it: stderr is reopened through /proc/self/fd/2
 * (a description of its own, O_NONBLOCK); a socket (journald) is written
 * with send(MSG_DONTWAIT); when neither works, poll() says whether a write
 * would block (exact only while the broker is the pipe's one writer). */
#include "broker.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const names[] = {"silent", "error", "warning", "info",
                                    "debug"};

void broker_log_open(struct broker *b)
{
    b->log_fd = -1;
    b->log_sock = false;
    struct stat st;
    if (fstat(STDERR_FILENO, &st) < 0)
        return;
    if (S_ISSOCK(st.st_mode)) {
        b->log_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        b->log_sock = b->log_fd >= 0;
        return;
    }
    b->log_fd = open("/proc/self/fd/2",
                     O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
}

static bool put(const struct broker *b, const char *p, size_t n)
{
    ssize_t w;
    if (b->log_fd >= 0 && b->log_sock) {
        w = send(b->log_fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    } else if (b->log_fd >= 0) {
        w = write(b->log_fd, p, n); /* O_NONBLOCK: EAGAIN when full */
    } else {
        struct pollfd pf = {.fd = STDERR_FILENO, .events = POLLOUT};
        if (poll(&pf, 1, 0) != 1 || !(pf.revents & POLLOUT))
            return false;
        w = write(STDERR_FILENO, p, n);
    }
    return w == (ssize_t)n;
}

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
    if (dropped) {
        char note[96];
        int k = snprintf(note, sizeof note,
                         "sharenad[%d] warning: %lu log line%s dropped "
                         "(stderr was not writable)\n",
                         (int)getpid(), dropped, dropped == 1 ? "" : "s");
        if (!put(b, note, (size_t)k)) {
            dropped++;
            return;
        }
        dropped = 0;
    }
    if (!put(b, line, len))
        dropped++;
}
