/*
 * fuzz_cli_args.c - the command line's option parser. The input is split
 * on NUL bytes into arguments, which are parsed (never run) for every
 * command as `agent-auth COMMAND ARGS...` would be; what the parser
 * allocates is freed.
 *
 * Besides memory errors it checks the parser's promises: the result is
 * EXIT_OK, EXIT_USAGE or -1 (help); positional arguments stay within the
 * command's max_args; a whole number option is at least its minimum; every
 * value points into the arguments; repeated options keep every value.
 *
 * The parser prints usage errors and help; the stdio streams are pointed at
 * /dev/null (libFuzzer and the sanitizers write to their own handles).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 64

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    FILE *null = fopen("/dev/null", "w");
    if (!null)
        abort();
    stdout = null;
    stderr = null;
    return 0;
}

/* Does p point into one of the arguments (or is it one)? */
static bool in_args(const char *p, char **argv, int argc) {
    for (int i = 0; i < argc; i++)
        if (p >= argv[i] && p <= argv[i] + strlen(argv[i]))
            return true;
    return false;
}

static void parse_for(const cli_command *c, int argc, char **argv, int start) {
    cli_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.prog = "agent-auth";
    ctx.config_path = "agent_auth.yaml";
    ctx.cmd = c;
    /* Exactly as many slots as the command has options, so that a write
     * past them is caught. */
    ctx.vals = calloc(c->nopts ? c->nopts : 1, sizeof *ctx.vals);
    if (!ctx.vals)
        abort();
    int rc = cli_parse_args(&ctx, argc, argv, start);
    if (rc != EXIT_OK && rc != EXIT_USAGE && rc != -1)
        abort();
    if (!ctx.args || ctx.nargs > (size_t)(c->max_args > 0 ? c->max_args : 0))
        abort();
    for (size_t i = 0; i < ctx.nargs; i++)
        if (!ctx.args[i] || !in_args(ctx.args[i], argv, argc))
            abort();
    if (!in_args(ctx.config_path, argv, argc) &&
        strcmp(ctx.config_path, "agent_auth.yaml"))
        abort();
    if (ctx.state_path &&
        (!*ctx.state_path || !in_args(ctx.state_path, argv, argc)))
        abort();
    for (size_t k = 0; k < c->nopts; k++) {
        const opt_spec *o = &c->opts[k];
        const opt_value *v = &ctx.vals[k];
        if (v != cli_opt(&ctx, o->name))
            abort();
        if (!v->set)
            continue;
        if (o->kind != OPT_FLAG && (!v->str || !in_args(v->str, argv, argc)))
            abort();
        if (o->kind == OPT_INT && v->num < o->min)
            abort();
        if (o->kind == OPT_MULTI) {
            if (!v->count || !v->items)
                abort();
            for (size_t i = 0; i < v->count; i++)
                if (!in_args(v->items[i], argv, argc))
                    abort();
        }
        if (cli_str(&ctx, o->name) != v->str)
            abort();
    }
    for (size_t k = 0; k < c->nopts; k++)
        free(ctx.vals[k].items);
    free(ctx.vals);
    free(ctx.args);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096)
        return 0;
    char *copy = malloc(size + 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = 0;
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "agent-auth";
    for (size_t at = 0; at <= size && argc < MAX_ARGS + 1;) {
        argv[argc++] = copy + at;
        at += strlen(copy + at) + 1;
    }
    argv[argc] = NULL;
    /* When the first argument names a command, the rest are its arguments
     * (as in main); otherwise they all are, for every command. */
    const cli_command *named = cli_find_command(argv[1]);
    if (named && strcmp(named->name, argv[1]) != 0)
        abort();
    if (named)
        parse_for(named, argc, argv, 2);
    else
        for (size_t i = 0; i < cli_ncommands; i++)
            parse_for(cli_commands[i], argc, argv, 1);
    free(copy);
    return 0;
}
