/*
 * cli.h - shared pieces of the agent-auth command line: option parsing,
 * output (colour, tables, JSON) and opening the policy and engine. The CLI
 * is a thin client of the public API in agent_auth.h.
 */
#ifndef AA_CLI_H
#define AA_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "agent_auth.h"

/* Exit codes (docs/agent-auth.1, EXIT STATUS). */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* ---- options ------------------------------------------------------------- */

typedef enum { OPT_FLAG, OPT_STRING, OPT_INT, OPT_MULTI } opt_kind;

typedef struct opt_spec {
    const char *name; /* long name without dashes */
    char short_name;  /* 0 for none */
    opt_kind kind;
    const char *metavar; /* for help */
    const char *help;
    long long min; /* OPT_INT: smallest accepted value */
} opt_spec;

typedef struct opt_value {
    bool set;
    const char *str;
    long long num;
    const char **items; /* OPT_MULTI */
    size_t count;
} opt_value;

typedef struct cli_command cli_command;

/* What every command gets. */
typedef struct cli_ctx {
    const char *prog;
    const char *config_path; /* -c/--config, default agent_auth.yaml */
    const char *state_path;  /* --state, or NULL for the policy's */
    bool color;              /* stdout is a terminal and NO_COLOR unset */
    bool json;               /* -o json */
    bool strict;             /* --strict: policy warnings are errors */
    const cli_command *cmd;
    opt_value *vals;   /* parallel to cmd->opts */
    const char **args; /* positional arguments */
    size_t nargs;
} cli_ctx;

struct cli_command {
    const char *name;
    const char *summary;  /* one line for the top-level help */
    const char *usage;    /* "check --agent A --user U --action ACT [...]" */
    const char *examples; /* lines for --help, may be NULL */
    const opt_spec *opts;
    size_t nopts;
    int max_args;    /* positional arguments accepted */
    bool has_output; /* accepts -o/--output console|json */
    int (*run)(cli_ctx *ctx);
};

/* Parses argv[start..] for ctx->cmd into ctx->vals and ctx->args (which
 * the caller frees). EXIT_OK, EXIT_USAGE (message printed), or -1 when
 * --help was given (help printed). */
int cli_parse_args(cli_ctx *ctx, int argc, char **argv, int start);
/* Consumes a global option at argv[*i]: 1 when it was one, 0 when not,
 * -1 on a usage error (printed). */
int cli_global_option(cli_ctx *ctx, int argc, char **argv, int *i);
void cli_print_command_help(const cli_command *c, FILE *out);

/* The value of option `name` of the current command (never NULL). */
const opt_value *cli_opt(const cli_ctx *ctx, const char *name);
const char *cli_str(const cli_ctx *ctx, const char *name); /* NULL if unset */

/* ---- output -------------------------------------------------------------- */

/* Errors with -o json: when on, every error printed (by the functions
 * below) is also kept, and cli_flush_error_json(rc), called once when the
 * command ends, prints {"error": {"code": C, "message": M}} on stdout when
 * rc is not EXIT_OK and there was one. C is the first library status name
 * ("EIO", "EPOLICY", ...), "EUSAGE" for a usage error, else "ERROR"; M is
 * every error line, without "Error: ", '\n' between. */
void cli_json_errors(bool on);
void cli_note_error(const char *code, const char *text);
void cli_flush_error_json(int rc);
/* "Error: ..." on stderr. Returns EXIT_FAIL. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A usage error for the current command; returns EXIT_USAGE. */
int cli_usage_error(const cli_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints every message of err as "Error: ..." lines (or the status's text
 * when err holds none), frees err, and returns EXIT_FAIL. */
int cli_fail(aa_error *err, int status);
/* Prints every message of err as "Error: ..." lines. */
void cli_print_errors(const aa_error *err, const char *prefix);
/* ANSI colour around text when ctx->color. */
const char *cli_green(const cli_ctx *ctx);
const char *cli_red(const cli_ctx *ctx);
const char *cli_yellow(const cli_ctx *ctx);
const char *cli_bold(const cli_ctx *ctx);
const char *cli_dim(const cli_ctx *ctx);
const char *cli_reset(const cli_ctx *ctx);

/* Prints text for a terminal: control characters (C0, DEL, C1), which
 * could move the cursor or recolour the screen, are shown as '?'. For text
 * that comes from requests, the audit log or the state store. */
void cli_put_text(const char *s, FILE *out);

/* A JSON string that is always valid: invalid UTF-8 becomes U+FFFD. */
json_t *cli_jstr(const char *s);
/* Prints a JSON value on stdout (indented), then a newline; steals it. */
void cli_print_json(json_t *v);

/* A simple aligned table: add rows of ncols strings, then print. */
typedef struct cli_table {
    size_t ncols;
    char **cells; /* rows * ncols, owned */
    size_t nrows;
} cli_table;
void cli_table_init(cli_table *t, size_t ncols, const char *const *headers);
void cli_table_add(cli_table *t, const char *const *row);
void cli_table_print(const cli_ctx *ctx, const cli_table *t, FILE *out);
void cli_table_free(cli_table *t);

/* "in 29m 59s" / "2h ago" relative to now, into buf. */
void cli_relative_time(int64_t at_us, int64_t now_us, char *buf, size_t n);

/* A closed stdin, stdout or stderr is reopened read-only on /dev/null
 * before anything else is opened: writes to it still fail, and no file
 * (the state store, the audit log) can take its number and receive the
 * output. Called first in main. */
void cli_keep_std_fds(void);

/* ---- policy and engine --------------------------------------------------- */

/* When path cannot be opened or read (or is a directory), prints
 * "Error: <path>: <OS reason>" and returns true. */
bool cli_unreadable(const char *path);
/* Loads ctx->config_path (strict with --strict); prints its warnings on
 * stderr (never on stdout), and on failure the errors, returning NULL. */
aa_policy *cli_load_policy(const cli_ctx *ctx);
/* Warns on stderr when `agent` has no profile (with "did you mean" when a
 * profile name is close). With --strict and `refuse`, that is an error:
 * returns EXIT_FAIL; otherwise EXIT_OK. */
int cli_check_agent(const cli_ctx *ctx, const aa_policy *p, const char *agent,
                    bool refuse);

typedef struct cli_engine {
    aa_policy *policy;
    aa_store *store;
    aa_engine *engine;
} cli_engine;

/* How a command needs the state store. */
typedef enum {
    CLI_STORE_CREATE,   /* open it, creating it when missing */
    CLI_STORE_LONG,     /* as IF_EXISTS, for a long-running loop (check
                           --batch): a shared store keeps the policy's
                           consistency (cached by default); one-shot
                           commands always read it (strict) */
    CLI_STORE_IF_EXISTS /* only when there is one: a store that does not
                           exist holds no session or delegation */
} cli_store_mode;

/* Loads the policy and opens the engine with the state store. Prints
 * errors; returns EXIT_OK or EXIT_FAIL. */
int cli_open(const cli_ctx *ctx, cli_store_mode store, aa_audit_mode audit,
             cli_engine *out);
void cli_close(cli_engine *ce);

/* Decides JSON Lines requests from path ("-": stdin); see batch.c. */
int cli_run_batch(const cli_ctx *ctx, cli_engine *ce, const char *path);

/* Commands, in help order; and lookup by name (NULL if none). */
extern const cli_command *const cli_commands[];
extern const size_t cli_ncommands;
const cli_command *cli_find_command(const char *name);

extern const cli_command cmd_validate, cmd_inspect, cmd_check, cmd_explain,
    cmd_sessions, cmd_delegate, cmd_delegations, cmd_audit, cmd_test, cmd_lint,
    cmd_diff, cmd_version, cmd_state;
/* server/serve.c */
extern const cli_command cmd_serve;

/* Decision -> JSON object with the fields of docs/json.md (and trace when
 * with_trace). */
json_t *cli_decision_json(const aa_decision *d, bool with_trace);
/* Sessions/delegations -> JSON objects with every field (docs/json.md). */
json_t *cli_session_json(const aa_session *s);
json_t *cli_delegation_json(const aa_delegation *g);

#endif /* AA_CLI_H */
