/*
 * cmd_test.c - `agent-auth test FILE...`: policy tests for CI. The library
 * runs the files (aa_test_run_file, docs/policy-tests.md); this prints the
 * report.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const opt_spec test_opts[] = {
    {"verbose", 'v', OPT_FLAG, NULL, "print passing cases too", 0},
};

typedef struct totals {
    size_t passed, failed, unread;
    char **seen; /* warnings printed, so that each is printed once */
    size_t nseen;
} totals;

/* Prints err's messages on stderr: warnings once per run, errors always. */
static void print_diags(totals *t, const aa_error *err) {
    for (size_t i = 0; i < aa_error_count(err); i++) {
        const aa_diag *d = aa_error_get(err, i);
        char line[4096];
        aa_diag_format(d, line, sizeof line);
        if (d->severity == AA_SEVERITY_ERROR) {
            fprintf(stderr, "Error: %s\n", line);
            continue;
        }
        bool dup = false;
        for (size_t k = 0; k < t->nseen && !dup; k++)
            dup = strcmp(t->seen[k], line) == 0;
        if (dup)
            continue;
        fprintf(stderr, "Warning: %s\n", line);
        char **s = realloc(t->seen, (t->nseen + 1) * sizeof *s);
        if (s && (s[t->nseen] = strdup(line)))
            t->nseen++;
        if (s)
            t->seen = s;
    }
}

static json_t *case_json(const aa_test_case *c) {
    json_t *o = json_object();
    json_object_set_new(o, "file", cli_jstr(c->file));
    json_object_set_new(o, "line", json_integer(c->line));
    json_object_set_new(o, "column", json_integer(c->column));
    json_object_set_new(o, "name", cli_jstr(c->name));
    json_object_set_new(o, "passed", json_boolean(c->passed));
    if (c->error) {
        json_object_set_new(o, "error", cli_jstr(c->error));
        json_object_set_new(o, "error_line", json_integer(c->error_line));
        json_object_set_new(o, "error_column", json_integer(c->error_column));
    }
    if (c->mismatch_count) {
        json_t *list = json_array();
        char text[4096] = "";
        size_t used = 0;
        for (size_t k = 0; k < c->mismatch_count; k++) {
            const aa_test_mismatch *m = &c->mismatches[k];
            json_t *mj = json_object();
            json_object_set_new(mj, "field", cli_jstr(m->field));
            json_object_set_new(mj, "expected", cli_jstr(m->expected));
            json_object_set_new(mj, "actual", cli_jstr(m->actual));
            json_object_set_new(mj, "line", json_integer(m->line));
            json_object_set_new(mj, "column", json_integer(m->column));
            json_array_append_new(list, mj);
            if (used < sizeof text)
                used += (size_t)snprintf(text + used, sizeof text - used,
                                         "%s%s", k ? "; " : "", m->message);
        }
        json_object_set_new(o, "mismatch", cli_jstr(text));
        json_object_set_new(o, "mismatches", list);
    }
    if (c->decision)
        json_object_set_new(o, "decision",
                            cli_decision_json(c->decision, !c->passed));
    return o;
}

static void print_case(const cli_ctx *ctx, const aa_test_case *c) {
    if (c->error) {
        printf("%sERROR%s %s:%d:%d %s: %s\n", cli_red(ctx), cli_reset(ctx),
               c->file, c->error_line, c->error_column, c->name, c->error);
        return;
    }
    if (c->passed) {
        if (cli_opt(ctx, "verbose")->set)
            printf("%sok%s    %s:%d %s\n", cli_green(ctx), cli_reset(ctx),
                   c->file, c->line, c->name);
        return;
    }
    printf("%sFAIL%s  %s:%d %s: ", cli_red(ctx), cli_reset(ctx), c->file,
           c->line, c->name);
    for (size_t k = 0; k < c->mismatch_count; k++)
        printf("%s%s", k ? "; " : "", c->mismatches[k].message);
    printf("\n      reason: %s\n", aa_decision_reason(c->decision));
    for (size_t k = 0; k < aa_decision_trace_count(c->decision); k++) {
        const aa_trace_step *s = aa_decision_trace_get(c->decision, k);
        printf("      %s %-16s %s\n",
               s->outcome > 0   ? "+"
               : s->outcome < 0 ? "x"
                                : "-",
               s->step, s->detail);
    }
}

static void run_file(const cli_ctx *ctx, const char *file, totals *t,
                     json_t *cases, json_t *errors) {
    aa_load_options load = {0};
    load.strict = ctx->strict;
    aa_test_options o = {.default_policy = ctx->config_path, .load = &load};
    aa_error *err = aa_error_new();
    aa_test_report *r = NULL;
    int rc = aa_test_run_file(file, &o, &r, err);
    print_diags(t, err);
    if (rc != AA_OK) {
        if (aa_error_count_severity(err, AA_SEVERITY_ERROR) == 0)
            fprintf(stderr, "Error: %s: %s\n", file, aa_strerror(rc));
        t->unread++;
        json_t *e = json_object();
        json_object_set_new(e, "file", cli_jstr(file));
        const aa_diag *d = NULL;
        for (size_t i = 0; i < aa_error_count(err) && !d; i++)
            if (aa_error_get(err, i)->severity == AA_SEVERITY_ERROR)
                d = aa_error_get(err, i);
        char line[4096];
        if (d)
            aa_diag_format(d, line, sizeof line);
        json_object_set_new(e, "error", cli_jstr(d ? line : aa_strerror(rc)));
        json_array_append_new(errors, e);
    }
    aa_error_free(err);
    for (size_t i = 0; i < aa_test_report_count(r); i++) {
        const aa_test_case *c = aa_test_report_get(r, i);
        if (ctx->json)
            json_array_append_new(cases, case_json(c));
        else
            print_case(ctx, c);
    }
    t->passed += aa_test_report_passed(r);
    t->failed += aa_test_report_failed(r);
    aa_test_report_free(r);
}

static int run_test(cli_ctx *ctx) {
    if (ctx->nargs == 0)
        return cli_usage_error(ctx, "name at least one test file");
    totals t = {0};
    json_t *cases = json_array(), *errors = json_array();
    for (size_t i = 0; i < ctx->nargs; i++)
        run_file(ctx, ctx->args[i], &t, cases, errors);
    if (ctx->json && t.unread) {
        /* An error, not a report: {"error": ...} names every file not run. */
        for (size_t i = 0; i < json_array_size(errors); i++) {
            json_t *e = json_array_get(errors, i);
            char text[4096];
            snprintf(text, sizeof text, "%s: %s",
                     json_string_value(json_object_get(e, "file")),
                     json_string_value(json_object_get(e, "error")));
            cli_note_error(NULL, text);
        }
        json_decref(cases);
        json_decref(errors);
    } else if (ctx->json) {
        json_t *o = json_object();
        json_object_set_new(o, "passed", json_integer((json_int_t)t.passed));
        json_object_set_new(o, "failed", json_integer((json_int_t)t.failed));
        json_object_set_new(o, "files_not_run",
                            json_integer((json_int_t)t.unread));
        json_object_set_new(o, "cases", cases);
        json_object_set_new(o, "errors", errors);
        cli_print_json(o);
    } else {
        json_decref(cases);
        json_decref(errors);
        if (t.unread) /* never a plain "0 passed, 0 failed" */
            printf("Not run: %zu of %zu test file%s (errors above); cases "
                   "passed: %zu, failed: %zu\n",
                   t.unread, ctx->nargs, ctx->nargs == 1 ? "" : "s", t.passed,
                   t.failed);
        else
            printf("%zu passed, %zu failed\n", t.passed, t.failed);
    }
    for (size_t i = 0; i < t.nseen; i++)
        free(t.seen[i]);
    free(t.seen);
    return t.unread || t.failed ? EXIT_FAIL : EXIT_OK;
}

const cli_command cmd_test = {
    .name = "test",
    .summary = "Run policy test files (requests and expected decisions) for CI",
    .usage = "test [-v] [-o json] TESTFILE...",
    .examples = "  agent-auth test examples/policies/enterprise.test.yaml\n"
                "  agent-auth test -o json policies/*.test.yaml\n",
    .opts = test_opts,
    .nopts = 1,
    .max_args = 1000,
    .has_output = true,
    .run = run_test,
};
