/*
 * cmd_diff.c - `agent-auth diff OLD NEW`: what a policy change does
 * (docs/diff.md). The library computes the differences (aa_policy_diff)
 * and replays requests (aa_replay_*); this prints them and sets the exit
 * code from --fail-on.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const opt_spec diff_opts[] = {
    {"requests", 0, OPT_STRING, "FILE",
     "replay these JSON Lines requests under both policies", 0},
    {"audit", 0, OPT_STRING, "LOG",
     "replay the decisions of this audit log under both policies", 0},
    {"fail-on", 0, OPT_STRING, "widen|change",
     "exit 1 when something widens (default) or changes", 0},
};

/* Loads one side; prints its errors (file:line:col) and returns NULL. */
static aa_policy *load_side(const cli_ctx *ctx, const char *path) {
    aa_load_options opts;
    aa_load_options_init(&opts);
    opts.strict = ctx->strict;
    aa_error *err = aa_error_new();
    aa_policy *p = NULL;
    int rc = aa_policy_load_file(path, &opts, &p, err);
    if (rc != AA_OK) {
        if (!(rc == AA_EIO && cli_unreadable(path))) {
            fprintf(stderr, "Error: %s: invalid policy:\n", path);
            cli_print_errors(err, "  - ");
            cli_note_error(aa_status_name(rc), "invalid policy");
        }
    } else {
        for (size_t i = 0; i < aa_error_count(err); i++) {
            char line[4096];
            aa_diag_format(aa_error_get(err, i), line, sizeof line);
            fprintf(stderr, "Warning: %s\n", line);
        }
    }
    aa_error_free(err);
    return p;
}

static json_t *opt_str(const char *s) {
    return s ? cli_jstr(s) : json_null();
}

/* An example's metadata value (a scalar, or an empty list). */
static json_t *meta_json(const aa_meta *m) {
    switch (m->type) {
    case AA_VALUE_BOOL:
        return json_boolean(m->boolean);
    case AA_VALUE_NUMBER:
        return json_real(m->number);
    case AA_VALUE_STRING:
        return cli_jstr(m->string);
    case AA_VALUE_LIST:
        return json_array();
    default:
        return json_null();
    }
}

static json_t *item_json(const aa_diff_item *it) {
    json_t *o = json_object(), *pats = json_array();
    json_object_set_new(o, "kind", json_string(aa_diff_kind_name(it->kind)));
    json_object_set_new(o, "class", json_string(aa_diff_class_name(it->cls)));
    json_object_set_new(o, "possible", json_boolean(it->possible));
    json_object_set_new(o, "agent", opt_str(it->agent));
    for (size_t i = 0; i < it->pattern_count; i++)
        json_array_append_new(pats, cli_jstr(it->patterns[i]));
    json_object_set_new(o, "patterns", pats);
    json_object_set_new(o, "message", cli_jstr(it->message));
    if (it->example_action) {
        json_t *e = json_object(), *a = json_object(), *b = json_object();
        json_object_set_new(e, "action", cli_jstr(it->example_action));
        json_object_set_new(e, "scope", opt_str(it->example_scope));
        json_object_set_new(e, "target_agent", opt_str(it->example_target));
        json_t *md = json_object();
        for (size_t i = 0; i < it->example_metadata_count; i++)
            json_object_set_new(md, it->example_metadata[i].key,
                                meta_json(&it->example_metadata[i]));
        json_object_set_new(e, "metadata", md);
        json_object_set_new(a, "allowed", json_boolean(it->old_allowed));
        json_object_set_new(a, "tier", json_string(aa_tier_name(it->old_tier)));
        json_object_set_new(b, "allowed", json_boolean(it->new_allowed));
        json_object_set_new(b, "tier", json_string(aa_tier_name(it->new_tier)));
        if (it->kind == AA_DIFF_METADATA) { /* an action, not decided */
            json_decref(a);
            json_decref(b);
        } else {
            json_object_set_new(e, "old", a);
            json_object_set_new(e, "new", b);
        }
        json_object_set_new(o, "example", e);
    } else {
        json_object_set_new(o, "example", json_null());
    }
    if (it->source) {
        json_t *s = json_object();
        json_object_set_new(s, "text", cli_jstr(it->source));
        json_object_set_new(s, "file", opt_str(it->source_file));
        json_object_set_new(s, "line",
                            it->source_line ? json_integer(it->source_line)
                                            : json_null());
        json_object_set_new(s, "col",
                            it->source_line ? json_integer(it->source_column)
                                            : json_null());
        json_object_set_new(o, "source", s);
    } else {
        json_object_set_new(o, "source", json_null());
    }
    return o;
}

static const char *answer(int allowed, aa_tier tier, char *buf, size_t n) {
    if (!allowed)
        return "denied";
    snprintf(buf, n, "allowed (%s)", aa_tier_name(tier));
    return buf;
}

static const char *class_label(aa_diff_class c) {
    return c == AA_DIFF_REASON ? "reason" : aa_diff_class_name(c);
}

static void print_item(const cli_ctx *ctx, const aa_diff_item *it) {
    const char *col = it->cls == AA_DIFF_WIDEN    ? cli_red(ctx)
                      : it->cls == AA_DIFF_CHANGE ? cli_yellow(ctx)
                                                  : cli_dim(ctx);
    printf("%s%-6s%s ", col, class_label(it->cls), cli_reset(ctx));
    cli_put_text(it->message, stdout);
    if (it->source) {
        fputs(" (", stdout);
        cli_put_text(it->source, stdout);
        if (it->source_line)
            printf(", %s:%d:%d", it->source_file, it->source_line,
                   it->source_column);
        fputs(")", stdout);
    }
    if (it->possible && it->cls != AA_DIFF_REASON)
        fputs(" [possible]", stdout);
    fputs("\n", stdout);
    if (!it->example_action)
        return;
    char a[64], b[64];
    fputs("       example: ", stdout);
    if (it->agent) {
        cli_put_text(it->agent, stdout);
        fputs(" ", stdout);
    }
    cli_put_text(it->example_action, stdout);
    if (it->example_scope) {
        fputs(" scope ", stdout);
        cli_put_text(it->example_scope, stdout);
    }
    if (it->example_target) {
        fputs(" -> ", stdout);
        cli_put_text(it->example_target, stdout);
    }
    for (size_t i = 0; i < it->example_metadata_count; i++) {
        const aa_meta *m = &it->example_metadata[i];
        fputs(i ? "," : " metadata ", stdout);
        cli_put_text(m->key, stdout);
        if (m->type == AA_VALUE_STRING) {
            fputs("=", stdout);
            cli_put_text(m->string, stdout);
        } else if (m->type == AA_VALUE_NUMBER) {
            printf("=%g", m->number);
        } else if (m->type == AA_VALUE_BOOL) {
            fputs(m->boolean ? "=true" : "=false", stdout);
        } else {
            fputs("=[]", stdout);
        }
    }
    if (it->kind != AA_DIFF_METADATA)
        printf(": %s -> %s", answer(it->old_allowed, it->old_tier, a, sizeof a),
               answer(it->new_allowed, it->new_tier, b, sizeof b));
    fputs("\n", stdout);
}

static json_t *entry_json(const aa_replay_entry *e) {
    json_t *o = json_object();
    json_object_set_new(o, "line", json_integer((json_int_t)e->line));
    json_t *id = e->id ? json_loads(e->id, JSON_DECODE_ANY, NULL) : NULL;
    json_object_set_new(o, "id", id ? id : json_null());
    json_object_set_new(o, "class", json_string(aa_diff_class_name(e->cls)));
    json_object_set_new(o, "agent", opt_str(e->agent));
    json_object_set_new(o, "user", opt_str(e->user));
    json_object_set_new(o, "action", opt_str(e->action));
    json_object_set_new(o, "scope", opt_str(e->scope));
    json_object_set_new(o, "target_agent", opt_str(e->target_agent));
    json_t *a = json_object(), *b = json_object();
    json_object_set_new(a, "allowed", json_boolean(e->old_allowed));
    json_object_set_new(a, "tier", json_string(aa_tier_name(e->old_tier)));
    json_object_set_new(a, "reason", opt_str(e->old_reason));
    json_object_set_new(b, "allowed", json_boolean(e->new_allowed));
    json_object_set_new(b, "tier", json_string(aa_tier_name(e->new_tier)));
    json_object_set_new(b, "reason", opt_str(e->new_reason));
    json_object_set_new(o, "old", a);
    json_object_set_new(o, "new", b);
    return o;
}

static void print_entry(const cli_ctx *ctx, const aa_replay_entry *e) {
    char a[64], b[64];
    const char *col = e->cls == AA_DIFF_WIDEN    ? cli_red(ctx)
                      : e->cls == AA_DIFF_CHANGE ? cli_yellow(ctx)
                                                 : cli_dim(ctx);
    printf("%s%-6s%s ", col, class_label(e->cls), cli_reset(ctx));
    if (e->id) {
        fputs("id ", stdout);
        cli_put_text(e->id, stdout);
    } else {
        printf("line %zu", e->line);
    }
    fputs(": ", stdout);
    cli_put_text(e->agent, stdout);
    fputs(" ", stdout);
    cli_put_text(e->action, stdout);
    if (e->scope) {
        fputs(" scope ", stdout);
        cli_put_text(e->scope, stdout);
    }
    if (e->target_agent) {
        fputs(" -> ", stdout);
        cli_put_text(e->target_agent, stdout);
    }
    printf(": %s -> %s\n", answer(e->old_allowed, e->old_tier, a, sizeof a),
           answer(e->new_allowed, e->new_tier, b, sizeof b));
    if (e->cls == AA_DIFF_REASON || !e->new_allowed) {
        fputs("       old: ", stdout);
        cli_put_text(e->old_reason ? e->old_reason : "", stdout);
        fputs("\n       new: ", stdout);
        cli_put_text(e->new_reason ? e->new_reason : "", stdout);
        fputs("\n", stdout);
    }
}

static json_t *summary_json(size_t widen, size_t change, size_t reason) {
    json_t *s = json_object();
    json_object_set_new(s, "widen", json_integer((json_int_t)widen));
    json_object_set_new(s, "change", json_integer((json_int_t)change));
    json_object_set_new(s, "reason", json_integer((json_int_t)reason));
    return s;
}

static int run_diff(cli_ctx *ctx) {
    if (ctx->nargs != 2)
        return cli_usage_error(ctx, "diff needs two policy files, OLD and NEW");
    const char *fail_on = cli_str(ctx, "fail-on");
    bool fail_change = false;
    if (fail_on && strcmp(fail_on, "change") == 0)
        fail_change = true;
    else if (fail_on && strcmp(fail_on, "widen") != 0)
        return cli_usage_error(ctx, "--fail-on takes widen or change, not '%s'",
                               fail_on);
    const char *requests = cli_str(ctx, "requests");
    const char *audit = cli_str(ctx, "audit");
    if (requests && audit)
        return cli_usage_error(ctx, "give --requests or --audit, not both");

    aa_policy *po = load_side(ctx, ctx->args[0]);
    aa_policy *pn = po ? load_side(ctx, ctx->args[1]) : NULL;
    if (!po || !pn) {
        aa_policy_free(po);
        return EXIT_USAGE;
    }
    aa_error *err = aa_error_new();
    aa_diff *d = NULL;
    aa_replay *r = NULL;
    int rc = aa_policy_diff(po, pn, NULL, &d, err);
    const char *replay_path = requests ? requests : audit;
    if (rc == AA_OK && replay_path) {
        if (cli_unreadable(replay_path)) {
            rc = AA_EIO;
        } else {
            rc = aa_replay_new(po, pn, &r, err);
            if (rc == AA_OK)
                rc = aa_replay_file(
                    r, replay_path,
                    audit ? AA_REPLAY_AUDIT : AA_REPLAY_REQUESTS, err);
        }
    }
    int exit_code = EXIT_OK;
    if (rc != AA_OK) {
        if (aa_error_count(err))
            cli_print_errors(err, "Error: ");
        else
            cli_error("%s", aa_strerror(rc));
        exit_code = EXIT_USAGE;
        goto out;
    }
    for (size_t i = 0; i < aa_error_count(err); i++) {
        char line[4096];
        aa_diag_format(aa_error_get(err, i), line, sizeof line);
        fprintf(stderr, "Warning: %s\n", line);
    }

    size_t dw = aa_diff_count_class(d, AA_DIFF_WIDEN);
    size_t dc = aa_diff_count_class(d, AA_DIFF_CHANGE);
    size_t dr = aa_diff_count_class(d, AA_DIFF_REASON);
    size_t rw = aa_replay_count_class(r, AA_DIFF_WIDEN);
    size_t rch = aa_replay_count_class(r, AA_DIFF_CHANGE);
    size_t rr = aa_replay_count_class(r, AA_DIFF_REASON);
    if (ctx->json) {
        json_t *o = json_object(), *items = json_array();
        json_object_set_new(o, "old", cli_jstr(ctx->args[0]));
        json_object_set_new(o, "new", cli_jstr(ctx->args[1]));
        for (size_t i = 0; i < aa_diff_count(d); i++)
            json_array_append_new(items, item_json(aa_diff_get(d, i)));
        json_object_set_new(o, "differences", items);
        json_object_set_new(o, "summary", summary_json(dw, dc, dr));
        if (r) {
            json_t *rp = json_object(), *changed = json_array();
            json_object_set_new(rp, "file", cli_jstr(replay_path));
            json_object_set_new(rp, "format",
                                json_string(audit ? "audit" : "requests"));
            json_object_set_new(rp, "total",
                                json_integer((json_int_t)aa_replay_total(r)));
            json_object_set_new(rp, "invalid",
                                json_integer((json_int_t)aa_replay_invalid(r)));
            for (size_t i = 0; i < aa_replay_count(r); i++)
                json_array_append_new(changed, entry_json(aa_replay_get(r, i)));
            json_object_set_new(rp, "changed", changed);
            json_object_set_new(rp, "summary", summary_json(rw, rch, rr));
            json_object_set_new(o, "replay", rp);
        }
        cli_print_json(o);
    } else {
        for (size_t i = 0; i < aa_diff_count(d); i++)
            print_item(ctx, aa_diff_get(d, i));
        if (aa_diff_count(d) == 0)
            printf("No semantic difference.\n");
        printf("Summary: %zu widen, %zu change, %zu reason-only\n", dw, dc, dr);
        if (r) {
            if (aa_replay_count(r))
                printf("\nReplay of %s:\n", replay_path);
            for (size_t i = 0; i < aa_replay_count(r); i++)
                print_entry(ctx, aa_replay_get(r, i));
            printf("Replay: %zu requests, %zu widen, %zu change, %zu "
                   "reason-only, %zu unchanged",
                   aa_replay_total(r), rw, rch, rr,
                   aa_replay_count_class(r, AA_DIFF_SAME));
            if (aa_replay_invalid(r))
                printf(", %zu skipped", aa_replay_invalid(r));
            printf("\n");
        }
    }
    if (dw + rw > 0 || (fail_change && dc + rch > 0))
        exit_code = EXIT_FAIL;
out:
    aa_replay_free(r);
    aa_diff_free(d);
    aa_error_free(err);
    aa_policy_free(pn);
    aa_policy_free(po);
    return exit_code;
}

const cli_command cmd_diff = {
    .name = "diff",
    .summary = "Show what a policy change allows, denies or re-tiers",
    .usage = "diff OLD NEW [-o text|json] [--requests FILE.jsonl | --audit "
             "LOG] [--fail-on widen|change]",
    .examples =
        "  agent-auth diff main/agent_auth.yaml agent_auth.yaml\n"
        "  agent-auth diff old.yaml new.yaml --requests requests.jsonl\n"
        "  agent-auth diff old.yaml new.yaml --audit .agent_auth/audit.jsonl "
        "--fail-on change\n",
    .opts = diff_opts,
    .nopts = sizeof diff_opts / sizeof diff_opts[0],
    .max_args = 2,
    .has_output = true,
    .run = run_diff,
};
