/* cmd_lint.c - `lint`: prints the findings of aa_lint_file (docs/lint.md). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const opt_spec lint_opts[] = {
    {"fail-on", 0, OPT_STRING, "SEVERITY",
     "exit 1 when a finding is at least this severe: error (default), "
     "warning or info",
     0},
    {"disable", 0, OPT_MULTI, "CODE,...",
     "do not report these codes (comma-separated, repeatable)", 0},
};

/* Splits every --disable value at commas into codes (in *buf). */
static int disabled_codes(const cli_ctx *ctx, char **buf, const char ***codes,
                          size_t *n) {
    const opt_value *v = cli_opt(ctx, "disable");
    size_t total = 0;
    for (size_t i = 0; i < v->count; i++)
        total += strlen(v->items[i]) + 1;
    *buf = malloc(total + 1);
    *codes = malloc((total + 1) * sizeof **codes);
    *n = 0;
    if (!*buf || !*codes)
        return cli_error("out of memory");
    char *w = *buf;
    for (size_t i = 0; i < v->count; i++) {
        strcpy(w, v->items[i]);
        for (char *tok = strtok(w, ","); tok; tok = strtok(NULL, ",")) {
            size_t k = 0;
            aa_lint_severity sev;
            const char *c;
            while ((c = aa_lint_code(k, &sev)) && strcmp(c, tok) != 0)
                k++;
            if (!c)
                return cli_usage_error(
                    ctx,
                    "unknown lint code '%s' in --disable (see "
                    "docs/lint.md)",
                    tok);
            (*codes)[(*n)++] = tok;
        }
        w += strlen(v->items[i]) + 1;
    }
    return EXIT_OK;
}

static json_t *finding_json(const aa_lint_finding *f) {
    json_t *o = json_object();
    json_object_set_new(o, "file", cli_jstr(f->file));
    json_object_set_new(o, "line", json_integer(f->line));
    json_object_set_new(o, "col", json_integer(f->column));
    json_object_set_new(o, "severity",
                        json_string(aa_lint_severity_name(f->severity)));
    json_object_set_new(o, "code", json_string(f->code));
    json_object_set_new(o, "message", cli_jstr(f->message));
    if (f->has_related) {
        json_t *r = json_object();
        json_object_set_new(r, "file", cli_jstr(f->related_file));
        json_object_set_new(r, "line", json_integer(f->related_line));
        json_object_set_new(r, "col", json_integer(f->related_column));
        json_object_set_new(o, "related", r);
    } else {
        json_object_set_new(o, "related", json_null());
    }
    return o;
}

static void print_finding(const cli_ctx *ctx, const aa_lint_finding *f) {
    const char *colour = f->severity == AA_LINT_ERROR     ? cli_red(ctx)
                         : f->severity == AA_LINT_WARNING ? cli_yellow(ctx)
                                                          : cli_dim(ctx);
    cli_put_text(f->file, stdout);
    printf(":%d:%d: %s%s%s: %s: ", f->line, f->column, colour,
           aa_lint_severity_name(f->severity), cli_reset(ctx), f->code);
    cli_put_text(f->message, stdout);
    putchar('\n');
    if (f->has_related) {
        printf("  ");
        cli_put_text(f->related_file, stdout);
        printf(":%d:%d: related\n", f->related_line, f->related_column);
    }
}

static int run_lint(cli_ctx *ctx) {
    aa_lint_severity fail_on = AA_LINT_ERROR;
    const char *fo = cli_str(ctx, "fail-on");
    if (fo && aa_lint_severity_parse(fo, &fail_on) != AA_OK)
        return cli_usage_error(
            ctx, "option '--fail-on' must be error, warning or info, not '%s'",
            fo);
    char *buf = NULL;
    const char **codes = NULL;
    size_t ncodes = 0;
    int rc = disabled_codes(ctx, &buf, &codes, &ncodes);
    const char *one = ctx->config_path;
    const char **files = ctx->nargs ? ctx->args : &one;
    size_t nfiles = ctx->nargs ? ctx->nargs : 1;
    aa_lint_options opts;
    aa_lint_options_init(&opts);
    opts.disabled = codes;
    opts.n_disabled = ncodes;
    json_t *all = ctx->json ? json_array() : NULL;
    size_t counts[3] = {0, 0, 0};
    bool failed = false;
    for (size_t i = 0; i < nfiles && rc == EXIT_OK; i++) {
        aa_error *err = aa_error_new();
        aa_lint_report *r = NULL;
        int lrc = aa_lint_file(files[i], &opts, &r, err);
        if (lrc != AA_OK) {
            if (!(lrc == AA_EIO && cli_unreadable(files[i])))
                cli_print_errors(err, NULL);
            aa_error_free(err);
            rc = EXIT_USAGE; /* an unreadable file: not a lint result */
            break;
        }
        aa_error_free(err);
        for (size_t k = 0; k < aa_lint_report_count(r); k++) {
            const aa_lint_finding *f = aa_lint_report_get(r, k);
            counts[f->severity]++;
            failed |= f->severity <= fail_on;
            if (all)
                json_array_append_new(all, finding_json(f));
            else
                print_finding(ctx, f);
        }
        aa_lint_report_free(r);
    }
    if (rc == EXIT_OK) {
        if (all) {
            cli_print_json(all);
            all = NULL;
        } else {
            fprintf(stderr,
                    "%zu error%s, %zu warning%s, %zu info in %zu file%s\n",
                    counts[0], counts[0] == 1 ? "" : "s", counts[1],
                    counts[1] == 1 ? "" : "s", counts[2], nfiles,
                    nfiles == 1 ? "" : "s");
        }
        rc = failed ? EXIT_FAIL : EXIT_OK;
    }
    json_decref(all);
    free(buf);
    free(codes);
    return rc;
}

const cli_command cmd_lint = {
    .name = "lint",
    .summary = "Find rules that never fire, shadowed policies and risky "
               "settings in policies",
    .usage = "lint [FILE...] [-o text|json] [--fail-on error|warning|info] "
             "[--disable CODE,...]",
    .examples = "  agent-auth lint                       # the -c policy\n"
                "  agent-auth lint --fail-on warning policies/*.yaml\n"
                "  agent-auth lint -o json --disable role-unused,"
                "pattern-redundant agent_auth.yaml\n",
    .opts = lint_opts,
    .nopts = 2,
    .max_args = 1000,
    .has_output = true,
    .run = run_lint,
};
