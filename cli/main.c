/*
 * main.c - agent-auth: argument parsing, help, and dispatch to commands.
 *
 *   agent-auth [-c|--config FILE] [--state PATH] [--strict] COMMAND [options]
 *
 * Global options are accepted before or after the command. Exit codes:
 * 0 success (allowed, for check), 1 error (denied), 2 usage error. With
 * -o json, an error is also printed on stdout as {"error": {...}}.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void print_global_help(FILE *out) {
    fprintf(out,
            "agent-auth %s - authorization for AI agents\n\n"
            "Usage: agent-auth [-c FILE] [--state PATH] COMMAND [options]\n\n"
            "Commands:\n",
            aa_version());
    for (size_t i = 0; i < cli_ncommands; i++)
        fprintf(out, "  %-12s %s\n", cli_commands[i]->name,
                cli_commands[i]->summary);
    fprintf(
        out,
        "\nGlobal options (before or after the command):\n"
        "  -c, --config FILE   policy file (default: agent_auth.yaml)\n"
        "  --state PATH        state database (default: the policy's "
        "state.path)\n"
        "  --no-color          never colour the output (as NO_COLOR=1 does)\n"
        "  --strict            policy warnings are errors; no session or\n"
        "                      delegation for an agent without a profile\n"
        "  -h, --help          help; 'agent-auth COMMAND --help' for a "
        "command\n"
        "\nExit codes: 0 success or allowed, 1 error or denied, 2 usage "
        "error.\n"
        "Colour is used only on a terminal and never when NO_COLOR is set.\n");
}

/* ps(1) and /proc/PID/cmdline show a process's arguments to every user.
 * An argument holding a state location with a password (--state URL,
 * --state=URL, --from URL, --to URL) is overwritten there with its
 * redacted form, and argv[i] points at a copy of it (in copies[i]). */
static void hide_passwords(int argc, char **argv, char **copies) {
    for (int i = 1; i < argc; i++) {
        char *a = argv[i], *v = a;
        if (!strstr(a, "://"))
            continue;
        if (a[0] == '-') {
            char *eq = strchr(a, '=');
            if (!eq)
                continue;
            v = eq + 1;
        }
        aa_store_options o;
        aa_store_options_init(&o);
        o.url = v;
        char shown[4096];
        if (aa_store_location(&o, shown, sizeof shown) != AA_OK ||
            strcmp(shown, v) == 0 || !(copies[i] = strdup(a)))
            continue;
        size_t n = strlen(v), m = strlen(shown);
        if (m > n)
            m = n; /* cut: "***" may be longer than what it hides */
        memcpy(v, shown, m);
        memset(v + m, 0, n - m);
        argv[i] = copies[i];
    }
}

static int run(int argc, char **argv) {
    cli_ctx ctx = {0};
    ctx.prog = argv[0];
    ctx.config_path = "agent_auth.yaml";
    const char *nc = getenv("NO_COLOR");
    ctx.color = isatty(STDOUT_FILENO) && !(nc && *nc);

    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-')
            break;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            print_global_help(stdout);
            return EXIT_OK;
        }
        if (strcmp(a, "--version") == 0) {
            printf("agent-auth %s\n", aa_version());
            return EXIT_OK;
        }
        int g = cli_global_option(&ctx, argc, argv, &i);
        if (g < 0)
            return EXIT_USAGE;
        if (g == 0)
            return cli_usage_error(NULL, "unknown option '%s'", a);
    }
    if (i >= argc) {
        print_global_help(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[i];
    if (strcmp(name, "help") == 0) {
        if (i + 1 < argc) {
            const cli_command *c = cli_find_command(argv[i + 1]);
            if (!c)
                return cli_usage_error(NULL, "unknown command '%s'",
                                       argv[i + 1]);
            cli_print_command_help(c, stdout);
            return EXIT_OK;
        }
        print_global_help(stdout);
        return EXIT_OK;
    }
    ctx.cmd = cli_find_command(name);
    if (!ctx.cmd)
        return cli_usage_error(NULL, "unknown command '%s'", name);

    opt_value vals[32] = {{0}};
    ctx.vals = vals;
    int rc = cli_parse_args(&ctx, argc, argv, i + 1);
    if (rc == EXIT_OK) {
        cli_json_errors(ctx.json); /* the last -o wins */
        rc = ctx.cmd->run(&ctx);
    } else if (rc < 0)
        rc = EXIT_OK; /* --help */
    for (size_t k = 0; k < ctx.cmd->nopts; k++)
        free(vals[k].items);
    free(ctx.args);
    return rc;
}

/* Whether the command line asks for -o json anywhere (before it is parsed,
 * so that usage errors are printed as JSON too). */
static bool wants_json(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0)
            break;
        if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) &&
            i + 1 < argc && strcmp(argv[i + 1], "json") == 0)
            return true;
        if (strcmp(a, "--output=json") == 0)
            return true;
    }
    return false;
}

int main(int argc, char **argv) {
    cli_keep_std_fds();
    char **copies = calloc((size_t)argc + 1, sizeof *copies);
    if (copies)
        hide_passwords(argc, argv, copies);
    cli_json_errors(wants_json(argc, argv));
    int rc = run(argc, argv);
    for (int i = 0; copies && i < argc; i++)
        free(copies[i]);
    free(copies);
    cli_flush_error_json(rc);
    /* ferror too: a write that failed before the final flush leaves the
     * buffer empty, and fflush then succeeds. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "Error: cannot write output: %s\n", strerror(errno));
        if (rc == EXIT_OK)
            rc = EXIT_FAIL;
    }
    return rc;
}
