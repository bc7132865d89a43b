/* cli.h: what the modules of the `sharena` command share.
 *
 * The CLI is a thin layer over the public API (sharena.h). It never trusts
 * the arena: every read goes through the library, which bounds-checks it,
 * every walk over arena data has a budget, and a watchdog alarm turns a
 * command that does not answer into exit status 1 (never a signal status).
 */
#ifndef SHARENA_CLI_H
#define SHARENA_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sharena.h"

/* Exit statuses. */
enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1,     /* the operation failed; one line on stderr says why */
    EXIT_USAGE = 2,    /* bad command line or bad VALUE */
    EXIT_INTERNAL = 3, /* the tool itself crashed (a bug: please report) */
};

/* Global options and state of one invocation. */
struct cli {
    const char *socket; /* --socket, or NULL: the default path */
    bool json;          /* --json */
    int timeout;        /* --timeout seconds for the watchdog; 0: none */
    const char *cmd;    /* the command's name, for messages */
    sharena_conn *conn;
};

/* ---- main.c ------------------------------------------------------------ */

/* Print "sharena: CMD: <formatted>" on stderr. */
__attribute__((format(printf, 2, 3))) void cli_err(const struct cli *c,
                                                   const char *fmt, ...);
/* cli_err(), then return EXIT_USAGE with a hint to --help. */
__attribute__((format(printf, 2, 3))) int cli_usage(const struct cli *c,
                                                    const char *fmt, ...);
/* Parse an arena mode (octal, 1..0777) into *@p out: 0, or cli_usage()'s
 * EXIT_USAGE for a bad one. */
int cli_parse_mode(const struct cli *c, const char *mode, uint32_t *out);
/* Report a library error for @p what ("arena app", "app cfg/x"): prints
 * "sharena: CMD: WHAT: message (ENAME)" and returns EXIT_FAIL. */
int cli_fail(const struct cli *c, const char *what, int err);

/* Connect to the broker (once); on failure prints why and returns the
 * error. */
int cli_connect(struct cli *c);
/* Connect and open arena @p name with @p flags (SHARENA_READONLY ...). With
 * @p fallback_ro, a read-write open refused for lack of write access is
 * retried read-only. Prints the error on failure. */
int cli_open(struct cli *c, const char *name, unsigned flags, bool fallback_ro,
             sharena_arena **out);

/* Watchdog: (re)arm the alarm for c->timeout seconds (0: disarm). When it
 * fires the command reports that the arena did not answer and exits 1. */
void cli_watchdog(const struct cli *c, bool on);
/* Set by SIGINT/SIGTERM/SIGHUP when the command asked to be told
 * (cli_stop_on_signal); otherwise those signals end the command with
 * status 1. */
extern volatile sig_atomic_t cli_stop;
void cli_stop_on_signal(bool on);

/* Check stdout for write errors at the end of a command: EXIT_OK or
 * EXIT_FAIL (EPIPE ends quietly). */
int cli_flush(const struct cli *c);

/* Options of a command: a tiny parser that keeps negative numbers and '-'
 * as positional arguments (VALUE may be -5). */
struct cli_opt {
    const char *name; /* "--repair" */
    bool has_arg;
    const char **arg; /* receives the argument (has_arg) */
    bool *flag;       /* set to true (no argument) */
};
/* Parse argv[1..argc) of a command into @p pos (positional arguments, at
 * most @p maxpos). Returns the number of positional arguments, -1 after
 * printing a usage error, or -2 when --help/-h was given. */
int cli_parse(const struct cli *c, int argc, char **argv,
              const struct cli_opt *opts, const char **pos, int maxpos);

/* Sizes are parsed by sharena_parse_size() ("64M", "1G", "262144"). */
/* "64 MiB", "1.5 GiB". */
const char *cli_fmt_size(uint64_t n, char *buf, size_t cap);

/* ---- json.c: a small JSON reader and writer ---------------------------- */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jval {
    enum jtype t;
    bool b;
    double n;
    char *s; /* J_STR: UTF-8, NUL-terminated, may hold NULs (slen) */
    size_t slen;
    size_t len;         /* J_ARR, J_OBJ: number of items */
    struct jval *items; /* J_ARR, J_OBJ: values */
    char **keys;        /* J_OBJ */
    size_t *klens;      /* J_OBJ */
};

/* Parse a whole JSON text (RFC 8259; nesting up to 512 levels). Returns 0,
 * or -1 with a message in @p err. */
int json_parse(const char *text, size_t len, struct jval *out, char *err,
               size_t errcap);
void json_free(struct jval *v);

/* Writers. Strings are escaped; bytes that are not valid UTF-8 become
 * U+FFFD so the output is always valid JSON. */
void json_put_string(FILE *f, const char *s, size_t len);
/* A JSON number (shortest text that reads back to @p v; null for NaN and
 * infinities, which JSON cannot express). */
void json_put_number(FILE *f, double v);
/* The same number for humans: "NaN", "Infinity", "-Infinity" allowed. */
void cli_put_number(FILE *f, double v);
/* Base64 (RFC 4648) of @p len bytes, inside quotes. */
void json_put_base64(FILE *f, const unsigned char *p, size_t len);
/* The same without the quotes (pieces of a multiple of 3 bytes concatenate
 * to the whole's base64). */
void json_put_base64_part(FILE *f, const unsigned char *p, size_t len);
/* Decode strict base64 (padded, no whitespace, unused bits zero: the one
 * text json_put_base64() writes for those bytes) into a malloc'd *@p out.
 * 0, or -1 for text that is not. */
int json_base64_decode(const char *s, size_t len, unsigned char **out,
                       size_t *olen);
/* Write @p s[0..len) with invalid UTF-8 replaced (no escaping, no quotes). */
void cli_put_text(FILE *f, const char *s, size_t len);

/* ---- path.c: PATH syntax and resolution --------------------------------- */

/* A parsed PATH: the root name, then keys or indices. '/' separates
 * components; "\/" and "\\" stand for a literal '/' and '\'. */
struct path {
    size_t n;     /* components, the root included (>= 1) */
    char **comp;  /* each NUL-terminated */
    size_t *clen; /* byte lengths */
    char *text;   /* the PATH as given, for messages */
};

int path_parse(const char *text, struct path *p, char *err, size_t errcap);
void path_free(struct path *p);
/* The first @p n components as text (escaped again), for messages. */
const char *path_prefix(const struct path *p, size_t n, char *buf, size_t cap);

/* Where a PATH leads: an object, or a field of a struct. */
struct target {
    sharena_id id;     /* the object (for a field: 0 unless bytes/string) */
    sharena_type type; /* SHARENA_T_* of the object or field */
    sharena_id st;     /* the struct, when the last step was a field */
    size_t field;      /* its index */
    bool is_field;
    /* the last step was a map key whose value the map stores in its entry
     * (no id: id 0, st the map, key/klen the key); read it by its key */
    bool in_entry;
    const char *key;
    size_t klen;
    /* a number stored in item `index` of vector `vec`: no object (id 0),
     * `number` as path_resolve read it */
    bool in_item;
    sharena_id vec;
    uint64_t index;
    double number;
};

/* Resolve @p p in @p a. On failure returns the error and sets *depth to the
 * number of components that did resolve (for messages). */
int path_resolve(const sharena_arena *a, const struct path *p, size_t upto,
                 struct target *t, size_t *depth);
/* Read component @p i as a vector index for a vector of length @p len:
 * decimal, or negative from the end. ERANGE / EINVAL. */
int path_index(const struct path *p, size_t i, uint64_t len, bool allow_end,
               uint64_t *out);
/* Explain a resolve failure on stderr ("cfg/x: no such key"). Returns
 * EXIT_FAIL. */
int path_fail(const struct cli *c, const char *arena, const struct path *p,
              size_t depth, int err);

/* ---- render.c: arena values as JSON or bare text ------------------------ */

struct render {
    const sharena_arena *a;
    FILE *f;
    bool pretty;     /* indent nested values */
    uint64_t budget; /* values left to write (a hostile arena is bounded) */
    uint64_t errors; /* values that could not be read ($error markers) */
    uint64_t cycles; /* containers met again inside themselves ($cycle) */
    bool truncated;  /* the budget ran out */
    bool exact;      /* the lossless encoding of dump (load --json reads it) */
    bool shape_only; /* internal: writing a $struct's "$shape" */
    unsigned depth;
    sharena_id stack[256]; /* ids on the current path (cycle detection) */
};

#define RENDER_BUDGET 2000000u /* values per command */
/* bytes buffers longer than this are cut (not in the exact encoding) */
#define RENDER_BYTES_MAX 65536u
#define RENDER_NAN_BITS UINT64_C(0x7ff8000000000000) /* written "NaN" */

void render_init(struct render *r, const sharena_arena *a, FILE *f,
                 bool pretty);
/* Write the object @p id as JSON. Returns 0 or the error that kept the
 * top-level value from being read (nothing written then). Errors below the
 * top level become {"$error": "ENAME"} markers, counted in r->errors. */
int render_json(struct render *r, sharena_id id);
/* Write a target (object or struct field) as JSON. */
int render_target_json(struct render *r, const struct target *t);
/* Write a target as a bare value followed by a newline: strings raw,
 * numbers shortest, bools true/false, bytes raw (no newline), containers
 * as JSON. With @p oneline (watch) the output is always one line: bytes and
 * strings holding line breaks are written as JSON instead. */
int render_target_bare(struct render *r, const struct target *t, bool oneline);
/* The whole arena: {"root": value, ...} with names sorted. */
int render_roots(struct render *r);
/* Report truncation/errors of a render on stderr; EXIT_OK or EXIT_FAIL. */
int render_finish(const struct cli *c, struct render *r);

/* ---- build.c: JSON values into the arena -------------------------------- */

/* Create a detached object tree for @p v (maps for objects, vectors for
 * arrays; children owned). On failure nothing is left behind. */
int build_value(sharena_arena *a, const struct jval *v, sharena_id *out);

/* ---- commands ------------------------------------------------------------ */

int cmd_ls(struct cli *c, int argc, char **argv);
int cmd_stat(struct cli *c, int argc, char **argv);
int cmd_create(struct cli *c, int argc, char **argv);
int cmd_rm(struct cli *c, int argc, char **argv);
int cmd_get(struct cli *c, int argc, char **argv);
int cmd_set(struct cli *c, int argc, char **argv);
int cmd_dump(struct cli *c, int argc, char **argv);
int cmd_watch(struct cli *c, int argc, char **argv);
int cmd_fsck(struct cli *c, int argc, char **argv);
int cmd_locks(struct cli *c, int argc, char **argv);
int cmd_broker(struct cli *c, int argc, char **argv);
int cmd_save(struct cli *c, int argc, char **argv);
int cmd_load(struct cli *c, int argc, char **argv);
/* jsonload.c: `load --json FILE NAME`. */
int load_json(struct cli *c, const char *file, const char *name,
              const char *mode, const char *capacity);
/* Check a parsed tree in dump's exact encoding (docs/cli.md): 0, or -1
 * with the path and the problem in @p msg. */
int json_tree_check(const struct jval *v, char *msg, size_t cap);
/* Create arena @p name from @p tree (checked first; @p source names it in
 * messages): the whole of load --json after the parse. An EXIT_* status;
 * on failure nothing is left behind. */
int load_tree(struct cli *c, const struct jval *tree, const char *source,
              const char *name, const char *mode, const char *capacity);
/* Write @p v as compact JSON (dump's number and string forms). */
void json_put_value(FILE *f, const struct jval *v);

/* redis.c: export/import through hiredis (or a message that they are not
 * built in). */
int cmd_export(struct cli *c, int argc, char **argv);
int cmd_import(struct cli *c, int argc, char **argv);

#endif
