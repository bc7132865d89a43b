/* sandbox.c: the system calls a sharena client needs, for applications
 * that confine themselves with seccomp (docs/security.md lists them). */
#include "internal.h"

#ifdef SHARENA_HAVE_SECCOMP
#include <seccomp.h>

int sharena_sandbox_allow(void *seccomp_ctx)
{
    static const char *const calls[] = {
        /* locks, waits, recovery */
        "futex",
        "getpid",
        "gettid",
        "sched_yield",
        "nanosleep",
        "clock_nanosleep",
        "clock_gettime",
        "gettimeofday",
        /* mapping arenas received from the broker */
        "mmap",
        "munmap",
        "madvise",
        "fstat",
        "newfstatat",
        "fcntl",
        "fallocate",
        /* talking to the broker on an inherited, connected socket */
        "sendmsg",
        "recvmsg",
        "sendto",
        "recvfrom",
        "close",
        "poll",
        "ppoll",
        "getsockopt",
        "setsockopt", /* SO_TYPE check, receive timeouts */
        /* the library's own allocations */
        "brk",
        "mremap",
        "getrandom",
        "rt_sigprocmask",
    };
    scmp_filter_ctx ctx = seccomp_ctx;
    if (!ctx)
        return SHARENA_EINVAL;
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        int nr = seccomp_syscall_resolve_name(calls[i]);
        if (nr == __NR_SCMP_ERROR)
            continue; /* not on this architecture */
        int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
        if (r < 0)
            return r;
    }
    /* kill() only with signal 0: checking whether a lock owner lives */
    int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
                             SCMP_A1(SCMP_CMP_EQ, 0));
    return r < 0 ? r : 0;
}
#else
int sharena_sandbox_allow(void *seccomp_ctx)
{
    (void)seccomp_ctx;
    return SHARENA_EPERM;
}
#endif
