/*
 * args.c - the command line's option parser: global options (-c/--config,
 * --state, --no-color, --strict) anywhere, each command's own options from its
 * table, -o/--output for commands that print data, and --help. Every mistake is
 * a usage error (exit 2) that names the option.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Every command, in the order the help lists them. */
const cli_command *const cli_commands[] = {
    &cmd_validate, &cmd_inspect,     &cmd_check, &cmd_explain, &cmd_sessions,
    &cmd_delegate, &cmd_delegations, &cmd_audit, &cmd_test,    &cmd_lint,
    &cmd_diff,     &cmd_version,     &cmd_serve,
};
const size_t cli_ncommands = sizeof cli_commands / sizeof cli_commands[0];

const cli_command *cli_find_command(const char *name) {
    for (size_t i = 0; i < cli_ncommands; i++)
        if (strcmp(cli_commands[i]->name, name) == 0)
            return cli_commands[i];
    return NULL;
}

static const opt_spec output_opt = {
    "output", 'o', OPT_STRING, "FORMAT", "console (default) or json", 0};

static void print_opt(FILE *out, const opt_spec *o) {
    char left[64];
    if (o->short_name)
        snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->name,
                 o->metavar ? " " : "", o->metavar ? o->metavar : "");
    else
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->metavar ? " " : "",
                 o->metavar ? o->metavar : "");
    fprintf(out, "  %-26s %s\n", left, o->help);
}

void cli_print_command_help(const cli_command *c, FILE *out) {
    fprintf(out, "Usage: agent-auth %s\n\n%s\n", c->usage, c->summary);
    if (c->nopts || c->has_output) {
        fprintf(out, "\nOptions:\n");
        for (size_t i = 0; i < c->nopts; i++)
            print_opt(out, &c->opts[i]);
        if (c->has_output)
            print_opt(out, &output_opt);
        fprintf(out, "  %-26s %s\n", "-h, --help", "show this help");
    }
    if (c->examples)
        fprintf(out, "\nExamples:\n%s", c->examples);
}

const opt_value *cli_opt(const cli_ctx *ctx, const char *name) {
    static const opt_value unset = {0};
    for (size_t i = 0; i < ctx->cmd->nopts; i++)
        if (strcmp(ctx->cmd->opts[i].name, name) == 0)
            return &ctx->vals[i];
    return &unset;
}

const char *cli_str(const cli_ctx *ctx, const char *name) {
    const opt_value *v = cli_opt(ctx, name);
    return v->set ? v->str : NULL;
}

int cli_usage_error(const cli_ctx *ctx, const char *fmt, ...) {
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "Error: %s\n", msg);
    cli_note_error("EUSAGE", msg);
    if (ctx && ctx->cmd)
        fprintf(stderr, "Usage: agent-auth %s\nTry 'agent-auth %s --help'.\n",
                ctx->cmd->usage, ctx->cmd->name);
    else
        fprintf(stderr, "Usage: agent-auth [-c FILE] COMMAND [options]\n"
                        "Try 'agent-auth --help'.\n");
    return EXIT_USAGE;
}

static bool parse_int(const char *s, long long *out) {
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/* Matches argv[*i] against a global option; consumes its value. Returns 1
 * when it was one, 0 when not, -1 (usage error printed) on a bad one. */
int cli_global_option(cli_ctx *ctx, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    const char *val = NULL;
    const char *name = NULL;
    if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0)
        name = "config";
    else if (strncmp(a, "--config=", 9) == 0)
        name = "config", val = a + 9;
    else if (strcmp(a, "--state") == 0)
        name = "state";
    else if (strncmp(a, "--state=", 8) == 0)
        name = "state", val = a + 8;
    else if (strcmp(a, "--no-color") == 0) {
        ctx->color = false;
        return 1;
    } else if (strcmp(a, "--strict") == 0) {
        ctx->strict = true;
        return 1;
    } else
        return 0;
    if (!val) {
        if (*i + 1 >= argc)
            return cli_usage_error(ctx, "option '%s' needs a value", a), -1;
        val = argv[++*i];
    }
    if (!*val)
        return cli_usage_error(ctx, "option '%s' needs a non-empty value", a),
               -1;
    if (strcmp(name, "config") == 0)
        ctx->config_path = val;
    else
        ctx->state_path = val;
    return 1;
}

int cli_parse_args(cli_ctx *ctx, int argc, char **argv, int start) {
    const cli_command *c = ctx->cmd;
    ctx->args = calloc((size_t)argc + 1, sizeof *ctx->args);
    if (!ctx->args)
        return cli_error("out of memory");
    bool only_positional = false;
    for (int i = start; i < argc; i++) {
        const char *a = argv[i];
        if (only_positional || a[0] != '-' || strcmp(a, "-") == 0) {
            if ((int)ctx->nargs >= c->max_args)
                return cli_usage_error(ctx, "unexpected argument '%s' for '%s'",
                                       a, c->name);
            ctx->args[ctx->nargs++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_positional = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            cli_print_command_help(c, stdout);
            return -1;
        }
        int g = cli_global_option(ctx, argc, argv, &i);
        if (g < 0)
            return EXIT_USAGE;
        if (g > 0)
            continue;
        /* -o/--output */
        const char *val = NULL;
        const opt_spec *spec = NULL;
        opt_value *slot = NULL;
        opt_value output_slot = {0};
        const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
        size_t nlen = eq ? (size_t)(eq - a - 2) : strlen(a) - 2;
        for (size_t k = 0; k < c->nopts && !spec; k++) {
            const opt_spec *o = &c->opts[k];
            if ((a[1] == '-' && strlen(o->name) == nlen &&
                 strncmp(a + 2, o->name, nlen) == 0) ||
                (a[1] != '-' && a[2] == 0 && o->short_name == a[1])) {
                spec = o;
                slot = &ctx->vals[k];
            }
        }
        if (!spec && c->has_output &&
            ((a[1] == '-' && nlen == 6 && strncmp(a + 2, "output", 6) == 0) ||
             strcmp(a, "-o") == 0)) {
            spec = &output_opt;
            slot = &output_slot;
        }
        if (!spec)
            return cli_usage_error(ctx, "unknown option '%s' for '%s'", a,
                                   c->name);
        if (spec->kind == OPT_FLAG) {
            if (eq)
                return cli_usage_error(ctx, "option '--%s' takes no value",
                                       spec->name);
            slot->set = true;
            continue;
        }
        if (eq) {
            val = eq + 1;
        } else {
            if (i + 1 >= argc)
                return cli_usage_error(ctx, "option '%s' needs a value (%s)", a,
                                       spec->metavar ? spec->metavar : "value");
            val = argv[++i];
        }
        /* Text for the library must be UTF-8 (file paths need not be). */
        bool path = spec->metavar && strcmp(spec->metavar, "PATH") == 0;
        size_t vlen = strlen(val), bad = path ? vlen : aa_utf8_check(val, vlen);
        if (bad != vlen)
            return cli_usage_error(
                ctx, "option '--%s' is not valid UTF-8 (byte %zu)", spec->name,
                bad + 1);
        if (spec->kind == OPT_INT) {
            long long n;
            if (!parse_int(val, &n))
                return cli_usage_error(
                    ctx, "option '--%s' needs a whole number, not '%s'",
                    spec->name, val);
            if (n < spec->min)
                return cli_usage_error(
                    ctx, "option '--%s' must be at least %lld, not %lld",
                    spec->name, spec->min, n);
            slot->num = n;
        } else if (spec->kind == OPT_MULTI) {
            const char **items =
                realloc(slot->items, (slot->count + 1) * sizeof *items);
            if (!items)
                return cli_error("out of memory");
            items[slot->count++] = val;
            slot->items = items;
        }
        slot->set = true;
        slot->str = val;
        if (spec == &output_opt) {
            if (strcmp(val, "json") == 0)
                ctx->json = true;
            else if (strcmp(val, "console") == 0 || strcmp(val, "text") == 0)
                ctx->json = false; /* "text": the name lint and diff use */
            else
                return cli_usage_error(
                    ctx,
                    "option '--output' must be 'console' or 'json' ('text' "
                    "is console), not '%s'",
                    val);
        }
    }
    return EXIT_OK;
}
