/* main.c: `sharena [--socket PATH] [--json] [--timeout SECONDS] COMMAND ...`
 *
 * Global options, dispatch, help texts, exit statuses and the signal rules:
 * the tool never ends with a status >= 128. SIGINT/SIGTERM/SIGHUP end a
 * command with status 1 (watch: 0), a watchdog alarm ends a command whose
 * arena does not answer with status 1, SIGPIPE is ignored (a closed pipe
 * ends the command quietly with status 1), and a crash inside the tool
 * reports itself and exits 3.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct command {
    const char *name;
    int (*fn)(struct cli *c, int argc, char **argv);
    const char *synopsis;
    const char *help;
};

static const struct command commands[] = {
    {"ls", cmd_ls, "ls",
     "List the arenas the broker holds that you may see: name, capacity,\n"
     "bytes used, objects, attached clients, owner and mode.\n"},
    {"stat", cmd_stat, "stat ARENA",
     "Describe one arena: the broker's record (capacity, bytes used, objects,\n"
     "clients, owner, mode, creation time) and, when you may read it, its\n"
     "change counter and named roots.\n"},
    {"create", cmd_create, "create ARENA [--capacity SIZE] [--mode MODE]",
     "Create an empty arena. SIZE takes K, M, G or T suffixes (default 64M,\n"
     "at least 256K); MODE is octal like 0600 (the default), 0640, 0660, "
     "0644.\n"
     "Fails if the arena exists.\n"},
    {"rm", cmd_rm, "rm ARENA [PATH]",
     "Without PATH: delete the arena (its name goes away; processes that\n"
     "have it mapped keep their mapping). With PATH: remove that root, map\n"
     "key or vector element (the value is dropped when its container owned\n"
     "it).\n"},
    {"get", cmd_get, "get ARENA PATH",
     "Print the value at PATH. Bare by default (strings as text, numbers,\n"
     "true/false, bytes raw, containers as JSON); JSON with --json.\n"
     "\n"
     "PATH is a root name followed by map keys, vector indices (negative\n"
     "counts from the end) or struct fields, separated by '/':\n"
     "  config/servers/0/host    \\/ and \\\\ stand for a '/' or '\\' in a "
     "key\n"},
    {"set", cmd_set, "set ARENA PATH [--string] VALUE",
     "Store VALUE at PATH. VALUE is read as JSON: numbers, \"strings\",\n"
     "true/false, null, objects (-> maps) and arrays (-> vectors); anything\n"
     "that is not JSON and does not start with { [ or \" is stored as a plain\n"
     "string (so `set app title hello` stores \"hello\"). --string stores\n"
     "VALUE as text exactly. null into a struct field needs a nullable one.\n"
     "\n"
     "A string, number or bool replacing one of the same type is updated in\n"
     "place (its id stays); anything else replaces the object at PATH, and\n"
     "the container owns the new value. Missing maps along PATH are created;\n"
     "a vector index equal to its length appends. Use -- before a VALUE that\n"
     "starts with --.\n"},
    {"dump", cmd_dump, "dump ARENA",
     "Print the whole arena as one JSON object: every root, recursively, in\n"
     "the exact encoding that `load --json` reads back (docs/cli.md, \"The\n"
     "JSON encoding\"). Indented by default, one line with --json. Keys are\n"
     "sorted. Bytes are {\"$bytes\": base64, \"$size\": n}, structs\n"
     "{\"$struct\": {fields}, \"$shape\": [fields]}, shapes {\"$shape\": "
     "[...]},\n"
     "NaN and infinities {\"$number\": \"NaN\"}, a map with a key starting\n"
     "with '$' {\"$map\": {...}}. A container met inside itself is\n"
     "{\"$cycle\": id}, an unreadable value {\"$error\": \"CODE\"} (exit "
     "1).\n"},
    {"watch", cmd_watch, "watch ARENA [PATH]",
     "Print the value at PATH now and after every change, one line each\n"
     "(bare, or JSON with --json), flushed line by line, until SIGINT or\n"
     "SIGTERM (exit 0). Follows the path: when the object there is replaced\n"
     "(by `set` or any client), the watch goes on with the new one. Without\n"
     "PATH each line is the whole arena as JSON.\n"},
    {"fsck", cmd_fsck, "fsck ARENA [--repair] [--break-locks]",
     "Check every invariant of the arena and print each problem. Exit 0 when\n"
     "consistent, 1 when problems are found (with --repair: when some remain\n"
     "after repair). --repair fixes what can be fixed; --break-locks (with\n"
     "--repair) also frees locks held by broker clients, for use only when no\n"
     "client of the arena is alive. Locks of dead owners are recovered as\n"
     "the next locker would (that is not a problem).\n"},
    {"locks", cmd_locks, "locks ARENA",
     "List the locks held in the arena: the object (path when reachable from\n"
     "a root), its type, the owner (broker client slot, or pid and command of\n"
     "a process without a slot), whether someone waits and whether the owner\n"
     "died (recovery pending). --json prints a list, [] when none is held.\n"},
    {"save", cmd_save, "save ARENA FILE",
     "Write a consistent image of the arena to FILE (a temporary file, fsync,\n"
     "rename): its non-zero pages and a checksum. Writers of the arena wait\n"
     "while the image is taken; readers do not.\n"},
    {"load", cmd_load,
     "load [--json] FILE NAME [--mode MODE] [--capacity SIZE]",
     "Create arena NAME from an image made by `save`. The whole image is\n"
     "checked first (versions, checksum), the arena is created with the\n"
     "image's capacity and MODE (octal, default 0600), and checked with fsck\n"
     "before use: a corrupt, truncated or foreign image is refused and no\n"
     "arena is left. Fails if NAME exists.\n"
     "\n"
     "With --json, FILE (- for stdin) is the JSON that `dump` writes: the\n"
     "whole text is checked first (every tag, base64 text, struct against\n"
     "its shape; null is refused), then NAME is created (SIZE: default 64M,\n"
     "more when the data needs it) and filled in one step. An invalid file\n"
     "creates nothing.\n"},
    {"export", cmd_export, "export ARENA --redis URL [--prefix P]",
     "Copy the arena into Redis (many hosts can then share the data), in one\n"
     "MULTI/EXEC transaction, under keys starting with P (default\n"
     "sharena:ARENA): P is a hash of the roots, each map at PATH a hash\n"
     "P:PATH, each vector a list, each struct a hash; strings and numbers\n"
     "are strings; P:$types records every value that is not a string (and\n"
     "the structs' shapes), so that import gives the same arena back\n"
     "(docs/cli.md). URL: unix:///path/to.sock or redis://host:port.\n"
     "Refused when Redis holds keys under P already.\n"},
    {"import", cmd_import,
     "import --redis URL --prefix P NAME [--mode MODE] [--capacity SIZE]",
     "Create arena NAME from what `export` wrote under prefix P: read in one\n"
     "transaction, checked whole as `load --json` checks a file, then\n"
     "created (fails if NAME exists). A failed import creates nothing.\n"},
    {"broker", cmd_broker, "broker start|stop|status [-- SHARENAD-OPTIONS]",
     "start: run sharenad in the background on the socket path (--socket,\n"
     "$SHARENA_SOCKET or the default) with a pidfile next to it (PATH.pid),\n"
     "and return once it answers. Extra sharenad options may follow --.\n"
     "stop: ask the broker to exit (or SIGTERM the pid in PATH.pid) and wait\n"
     "until it is gone. status: whether a broker answers there, and its pid\n"
     "(exit 1 when none does). sharenad is looked for in $SHARENA_SHARENAD,\n"
     "next to this program, then on PATH.\n"},
};

static const char general[] =
    "usage: sharena [--socket PATH] [--json] [--timeout SECONDS] COMMAND ...\n"
    "\n"
    "Inspect and change sharena arenas through the broker (sharenad).\n"
    "\n"
    "Global options (anywhere before --):\n"
    "  --socket PATH      the broker's socket (default: $SHARENA_SOCKET, else\n"
    "                     $XDG_RUNTIME_DIR/sharena/broker.sock, else\n"
    "                     /tmp/sharena-$UID/broker.sock)\n"
    "  --json             output for scripts: one JSON document (watch: one\n"
    "                     JSON value per line)\n"
    "  --timeout SECONDS  give up on an arena that does not answer (default\n"
    "                     10; 0 = never)\n"
    "  --help, --version\n"
    "\n"
    "Commands (`sharena COMMAND --help` for details):\n";

static const char trailer[] =
    "\n"
    "Exit status: 0 success, 1 the operation failed (one line on stderr says\n"
    "why), 2 usage error, 3 internal error. Never a signal status.\n";

static void print_general(FILE *f)
{
    fputs(general, f);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  sharena %s\n", commands[i].synopsis);
    fputs(trailer, f);
}

/* ---- messages -------------------------------------------------------------
 */

void cli_err(const struct cli *c, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    if (c && c->cmd)
        fprintf(stderr, "sharena: %s: ", c->cmd);
    else
        fputs("sharena: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_parse_mode(const struct cli *c, const char *mode, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long m = strtoul(mode, &end, 8);
    if (errno || end == mode || *end || m > 0777 || m == 0)
        return cli_usage(c, "bad --mode '%s' (octal, like 0600 or 0640)", mode);
    *out = (uint32_t)m;
    return 0;
}

int cli_usage(const struct cli *c, const char *fmt, ...)
{
    va_list ap;
    char buf[512];
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    cli_err(c, "%s", buf);
    if (c && c->cmd)
        fprintf(stderr, "Try 'sharena %s --help'.\n", c->cmd);
    else
        fputs("Try 'sharena --help'.\n", stderr);
    return EXIT_USAGE;
}

int cli_fail(const struct cli *c, const char *what, int err)
{
    cli_err(c, "%s: %s (%s)", what, sharena_strerror(err),
            sharena_errname(err));
    return EXIT_FAIL;
}

/* ---- signals and the watchdog ---------------------------------------------
 */

volatile sig_atomic_t cli_stop;
static volatile sig_atomic_t stop_mode;
static char alarm_msg[256];
static size_t alarm_len;

static void say(const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(2, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void on_stop(int sig)
{
    (void)sig;
    if (stop_mode) {
        cli_stop = 1;
        return;
    }
    say("sharena: interrupted\n");
    _exit(EXIT_FAIL);
}

static void on_alarm(int sig)
{
    (void)sig;
    if (write(2, alarm_msg, alarm_len) < 0) {
        /* nothing more to do */
    }
    _exit(EXIT_FAIL);
}

__attribute__((unused)) static void on_crash(int sig)
{
    say("sharena: internal error: ");
    say(sig == SIGSEGV  ? "SIGSEGV"
        : sig == SIGBUS ? "SIGBUS"
        : sig == SIGFPE ? "SIGFPE"
        : sig == SIGILL ? "SIGILL"
                        : "SIGABRT");
    say(" (a bug in sharena: please report it; the arena may be damaged, "
        "see `sharena fsck`)\n");
    _exit(EXIT_INTERNAL);
}

void cli_stop_on_signal(bool on)
{
    stop_mode = on;
}

void cli_watchdog(const struct cli *c, bool on)
{
    if (!on || c->timeout <= 0) {
        alarm(0);
        return;
    }
    bool broker = c->cmd && strcmp(c->cmd, "broker") == 0;
    int n = snprintf(alarm_msg, sizeof alarm_msg,
                     "sharena: %s: no answer within %d s: %s (--timeout "
                     "changes the limit)\n",
                     c->cmd ? c->cmd : "", c->timeout,
                     broker ? "sharenad did not come up"
                            : "the arena may be damaged (see `sharena fsck`) "
                              "or very large");
    alarm_len = n > 0 && (size_t)n < sizeof alarm_msg ? (size_t)n
                                                      : strlen(alarm_msg);
    alarm((unsigned)c->timeout);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop; /* no SA_RESTART: waits return EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    /* A crash must not look like a signal status to scripts. An alternate
     * stack lets the handler run after a stack overflow too. */
    static char altstack[64 * 1024];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    sigaltstack(&ss, NULL);
    sa.sa_handler = on_crash;
    sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
    sigaction(SIGABRT, &sa, NULL);
#endif
}

int cli_flush(const struct cli *c)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return EXIT_OK;
    if (errno != EPIPE)
        cli_err(c, "writing the output: %s", strerror(errno));
    return EXIT_FAIL;
}

/* ---- broker access ----------------------------------------------------------
 */

int cli_connect(struct cli *c)
{
    if (c->conn)
        return 0;
    int r = sharena_connect(c->socket, &c->conn);
    if (r == 0)
        return 0;
    char path[256];
    const char *fd = getenv("SHARENA_FD");
    if (c->socket)
        snprintf(path, sizeof path, "%s", c->socket);
    else if (fd && *fd)
        snprintf(path, sizeof path, "the delegated connection SHARENA_FD=%s",
                 fd);
    else if (sharena_default_socket(path, sizeof path) < 0)
        snprintf(path, sizeof path, "(default path too long)");
    if (r == SHARENA_ECONNREFUSED)
        cli_err(c,
                "no broker is listening on %s (start one with `sharena "
                "broker start`)",
                path);
    else
        cli_err(c, "cannot connect to the broker at %s: %s (%s)", path,
                sharena_strerror(r), sharena_errname(r));
    return r;
}

int cli_open(struct cli *c, const char *name, unsigned flags, bool fallback_ro,
             sharena_arena **out)
{
    int r = cli_connect(c);
    if (r < 0)
        return r;
    sharena_open_opts o = {.flags = flags};
    r = sharena_open(c->conn, name, &o, out);
    if (r == SHARENA_EACCES && fallback_ro && !(flags & SHARENA_READONLY)) {
        o.flags |= SHARENA_READONLY;
        r = sharena_open(c->conn, name, &o, out);
    }
    if (r == 0 && !(o.flags & SHARENA_READONLY) && !fallback_ro &&
        sharena_arena_readonly(*out)) {
        /* the broker granted only what the mode allows: reading */
        sharena_arena_close(*out);
        *out = NULL;
        cli_err(c,
                "%s: permission denied (read-only access; the owner "
                "and mode are in `sharena ls`)",
                name);
        return SHARENA_EACCES;
    }
    if (r == 0)
        return 0;
    /* the broker's text says more: whose name it is, how to reach one */
    const char *why = sharena_broker_message();
    if (r == SHARENA_ENOENT)
        cli_err(c, "no arena named '%s' (see `sharena ls`)%s%s", name,
                *why ? ": " : "", why);
    else if (r == SHARENA_EACCES)
        cli_err(c,
                "%s: permission denied (%s access; the owner and mode "
                "are in `sharena ls`)%s%s",
                name, (o.flags & SHARENA_READONLY) ? "read" : "write",
                *why && strcmp(why, "permission denied") ? ": " : "",
                *why && strcmp(why, "permission denied") ? why : "");
    else
        cli_err(c, "cannot open arena '%s': %s (%s)", name, sharena_strerror(r),
                sharena_errname(r));
    return r;
}

/* ---- option parsing -------------------------------------------------------
 */

int cli_parse(const struct cli *c, int argc, char **argv,
              const struct cli_opt *opts, const char **pos, int maxpos)
{
    int n = 0;
    bool dashdash = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!dashdash && strcmp(a, "--") == 0) {
            dashdash = true;
            continue;
        }
        if (!dashdash && a[0] == '-' && a[1] == '-') {
            const struct cli_opt *o = opts;
            size_t nl = strcspn(a, "=");
            for (; o && o->name; o++)
                if (strlen(o->name) == nl && strncmp(o->name, a, nl) == 0)
                    break;
            if (!o || !o->name) {
                cli_usage(c, "unknown option '%s'", a);
                return -1;
            }
            if (o->has_arg) {
                if (a[nl] == '=') {
                    *o->arg = a + nl + 1;
                } else if (i + 1 < argc) {
                    *o->arg = argv[++i];
                } else {
                    cli_usage(c, "option %s needs a value", o->name);
                    return -1;
                }
            } else {
                if (a[nl] == '=') {
                    cli_usage(c, "option %s takes no value", o->name);
                    return -1;
                }
                *o->flag = true;
            }
            continue;
        }
        /* '-x' is an option only if it is not a number */
        if (!dashdash && a[0] == '-' && a[1] && !(a[1] >= '0' && a[1] <= '9') &&
            a[1] != '.') {
            cli_usage(c, "unknown option '%s'", a);
            return -1;
        }
        if (n >= maxpos) {
            cli_usage(c, "unexpected argument '%s'", a);
            return -1;
        }
        pos[n++] = a;
    }
    return n;
}


const char *cli_fmt_size(uint64_t n, char *buf, size_t cap)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    unsigned u = 0;
    double d = (double)n;
    while (d >= 1024 && u < 4) {
        d /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%llu B", (unsigned long long)n);
    else if (d == (double)(uint64_t)d)
        snprintf(buf, cap, "%.0f %s", d, unit[u]);
    else
        snprintf(buf, cap, "%.1f %s", d, unit[u]);
    return buf;
}

/* ---- main -------------------------------------------------------------------
 */

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static bool parse_timeout(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > 86400)
        return false;
    *out = (int)v;
    return true;
}

int main(int argc, char **argv)
{
    struct cli c = {.timeout = 10};
    install_signals();

    /* Pull the global options out of argv (anywhere before "--"), leaving
     * the command and its own arguments. */
    char **args = calloc((size_t)argc + 1, sizeof *args);
    if (!args) {
        fputs("sharena: out of memory\n", stderr);
        return EXIT_FAIL;
    }
    int n = 0;
    bool dashdash = false, help = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (dashdash) {
            args[n++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            dashdash = true;
            args[n++] = argv[i];
        } else if (strcmp(a, "--json") == 0) {
            c.json = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            help = true;
        } else if (strcmp(a, "--version") == 0 && n == 0) {
            printf("sharena %d.%d.%d\n", SHARENA_VERSION_MAJOR,
                   SHARENA_VERSION_MINOR, SHARENA_VERSION_PATCH);
            free(args);
            return EXIT_OK;
        } else if (strcmp(a, "--socket") == 0 ||
                   strncmp(a, "--socket=", 9) == 0) {
            if (a[8] == '=')
                c.socket = a + 9;
            else if (i + 1 < argc)
                c.socket = argv[++i];
            else {
                free(args);
                return cli_usage(&c, "--socket needs a PATH");
            }
            if (!*c.socket) {
                free(args);
                return cli_usage(&c, "--socket needs a non-empty PATH");
            }
        } else if (strcmp(a, "--timeout") == 0 ||
                   strncmp(a, "--timeout=", 10) == 0) {
            const char *v = a[9] == '='    ? a + 10
                            : i + 1 < argc ? argv[++i]
                                           : NULL;
            if (!v || !parse_timeout(v, &c.timeout)) {
                free(args);
                return cli_usage(&c, "--timeout needs a number of seconds "
                                     "(0..86400)");
            }
        } else {
            args[n++] = argv[i];
        }
    }
    if (n == 0 || strcmp(args[0], "--") == 0) {
        free(args);
        if (help) {
            print_general(stdout);
            return EXIT_OK;
        }
        print_general(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(args[0], "help") == 0) {
        const struct command *cmd = n > 1 ? find_command(args[1]) : NULL;
        if (cmd)
            printf("usage: sharena %s\n\n%s", cmd->synopsis, cmd->help);
        else
            print_general(stdout);
        free(args);
        return EXIT_OK;
    }
    const struct command *cmd = find_command(args[0]);
    if (!cmd) {
        cli_err(&c, "unknown command '%s'", args[0]);
        print_general(stderr);
        free(args);
        return EXIT_USAGE;
    }
    c.cmd = cmd->name;
    if (help) {
        printf("usage: sharena [--socket PATH] [--json] %s\n\n%s",
               cmd->synopsis, cmd->help);
        free(args);
        return EXIT_OK;
    }
    int r = cmd->fn(&c, n, args);
    free(args);
    if (c.conn)
        sharena_disconnect(c.conn);
    /* commands return EXIT_* values; make sure nothing larger escapes */
    return r >= 0 && r <= EXIT_INTERNAL ? r : EXIT_FAIL;
}
