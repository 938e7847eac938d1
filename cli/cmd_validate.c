/* cmd_validate.c - `validate` and `version`. */
#include <string.h>

#include "cli.h"

static json_t *diag_json(const aa_diag *d) {
    json_t *o = json_object();
    char text[4096];
    aa_diag_format(d, text, sizeof text);
    json_object_set_new(o, "message", cli_jstr(d->message));
    json_object_set_new(o, "file", d->file ? cli_jstr(d->file) : json_null());
    json_object_set_new(o, "line",
                        d->line ? json_integer(d->line) : json_null());
    json_object_set_new(o, "column",
                        d->column ? json_integer(d->column) : json_null());
    json_object_set_new(o, "text", cli_jstr(text));
    return o;
}

static int run_validate(cli_ctx *ctx) {
    aa_load_options opts = {0};
    opts.strict = ctx->strict; /* the global --strict */
    aa_error *err = aa_error_new();
    aa_policy *p = NULL;
    int rc = aa_policy_load_file(ctx->config_path, &opts, &p, err);
    if (rc == AA_EIO && cli_unreadable(ctx->config_path)) {
        aa_error_free(err); /* not a policy to validate: an error */
        return EXIT_FAIL;
    }
    if (ctx->json) {
        json_t *o = json_object(), *errors = json_array(),
               *warnings = json_array();
        for (size_t i = 0; i < aa_error_count(err); i++) {
            const aa_diag *d = aa_error_get(err, i);
            json_array_append_new(d->severity == AA_SEVERITY_ERROR ? errors
                                                                   : warnings,
                                  diag_json(d));
        }
        json_object_set_new(o, "valid", json_boolean(rc == AA_OK));
        json_object_set_new(o, "file", cli_jstr(ctx->config_path));
        json_object_set_new(o, "errors", errors);
        json_object_set_new(o, "warnings", warnings);
        if (p) {
            json_t *c = json_object();
            json_object_set_new(
                c, "roles", json_integer((json_int_t)aa_policy_role_count(p)));
            json_object_set_new(
                c, "profiles",
                json_integer((json_int_t)aa_policy_profile_count(p)));
            json_object_set_new(
                c, "approval_policies",
                json_integer((json_int_t)aa_policy_approval_count(p)));
            json_object_set_new(
                c, "a2a_policies",
                json_integer((json_int_t)aa_policy_a2a_count(p)));
            json_object_set_new(o, "counts", c);
        }
        cli_print_json(o);
    } else {
        for (size_t i = 0; i < aa_error_count(err); i++) {
            const aa_diag *d = aa_error_get(err, i);
            if (d->severity != AA_SEVERITY_WARNING)
                continue;
            char line[4096];
            aa_diag_format(d, line, sizeof line);
            fprintf(stderr, "Warning: %s\n", line);
        }
        if (rc == AA_OK) {
            printf("Config is valid: %zu roles, %zu profiles, %zu approval "
                   "policies, "
                   "%zu A2A policies\n",
                   aa_policy_role_count(p), aa_policy_profile_count(p),
                   aa_policy_approval_count(p), aa_policy_a2a_count(p));
        } else {
            fprintf(stderr, "Validation failed:\n");
            size_t shown = 0;
            for (size_t i = 0; i < aa_error_count(err); i++) {
                const aa_diag *d = aa_error_get(err, i);
                if (d->severity != AA_SEVERITY_ERROR)
                    continue;
                char line[4096];
                aa_diag_format(d, line, sizeof line);
                fprintf(stderr, "  - %s\n", line);
                shown++;
            }
            if (!shown)
                fprintf(stderr, "  - %s: %s\n", ctx->config_path,
                        aa_strerror(rc));
        }
    }
    aa_policy_free(p);
    aa_error_free(err);
    return rc == AA_OK ? EXIT_OK : EXIT_FAIL;
}

const cli_command cmd_validate = {
    .name = "validate",
    .summary =
        "Check a policy file and report every problem with file:line:col",
    .usage = "validate [--strict] [-o json]",
    .examples = "  agent-auth -c agent_auth.yaml validate\n"
                "  agent-auth validate --strict -o json\n",
    .has_output = true,
    .run = run_validate,
};

static int run_version(cli_ctx *ctx) {
    if (ctx->json) {
        json_t *o = json_object();
        json_object_set_new(o, "version", json_string(aa_version()));
        cli_print_json(o);
    } else {
        printf("agent-auth %s\n", aa_version());
    }
    return EXIT_OK;
}

const cli_command cmd_version = {
    .name = "version",
    .summary = "Print the version",
    .usage = "version [-o json]",
    .has_output = true,
    .run = run_version,
};
