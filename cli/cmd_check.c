/* cmd_check.c - `check` (one request, or JSON Lines with --batch) and
 * `explain` (a decision with its trace). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const opt_spec check_opts[] = {
    {"agent", 'a', OPT_STRING, "AGENT", "the agent making the request", 0},
    {"user", 'u', OPT_STRING, "USER", "the user the agent acts for", 0},
    {"action", 0, OPT_STRING, "ACTION", "the action, e.g. read:documents", 0},
    {"resource", 'r', OPT_STRING, "RESOURCE", "the resource acted on", 0},
    {"scope", 's', OPT_STRING, "SCOPE", "the scope of the request", 0},
    {"target-agent", 0, OPT_STRING, "AGENT", "the agent being called (A2A)", 0},
    {"session-id", 0, OPT_STRING, "ID", "a session the request runs in", 0},
    {"metadata", 'm', OPT_MULTI, "KEY=VALUE",
     "request metadata (repeatable); numbers, true/false and null are typed",
     0},
    {"no-audit", 0, OPT_FLAG, NULL, "do not write the audit log", 0},
    /* Last: `explain` takes every option but this one. */
    {"batch", 0, OPT_FLAG, NULL,
     "read JSON Lines requests from FILE (or stdin) and print JSON Lines "
     "decisions",
     0},
};

/* Turns "key=value" into a typed metadata entry (value strings borrowed). */
static bool parse_meta(const char *kv, aa_meta *m, char **keybuf) {
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return false;
    *keybuf = strndup(kv, (size_t)(eq - kv));
    m->key = *keybuf;
    const char *v = eq + 1;
    char *end;
    m->type = AA_VALUE_STRING;
    m->string = v;
    if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) {
        m->type = AA_VALUE_BOOL;
        m->boolean = v[0] == 't';
    } else if (strcmp(v, "null") == 0) {
        m->type = AA_VALUE_NULL;
    } else if (*v) {
        double d = strtod(v, &end);
        /* Decimal notation only: strtod also takes hex, inf and nan. */
        if (*end == 0 && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9')) &&
            v[strspn(v, "0123456789+-.eE")] == 0) {
            m->type = AA_VALUE_NUMBER;
            m->number = d;
        }
    }
    return true;
}

static void print_decision_console(const cli_ctx *ctx, const aa_request *r,
                                   const aa_decision *d) {
    bool ok = aa_decision_allowed(d);
    bool approval = aa_decision_requires_approval(d);
    const char *color = !ok        ? cli_red(ctx)
                        : approval ? cli_yellow(ctx)
                                   : cli_green(ctx);
    printf("%s%s%s%s  ", cli_bold(ctx), color,
           ok ? (approval ? "ALLOWED (approval required)" : "ALLOWED")
              : "DENIED",
           cli_reset(ctx));
    cli_put_text(r->agent, stdout);
    fputs(" -> ", stdout);
    cli_put_text(r->action, stdout);
    fputs(" (user ", stdout);
    cli_put_text(r->user, stdout);
    fputs(")\n  Reason:   ", stdout);
    cli_put_text(aa_decision_reason(d), stdout);
    fputc('\n', stdout);
    if (ok) {
        printf("  Tier:     %s\n", aa_tier_name(aa_decision_tier(d)));
        if (approval && *aa_decision_approval_policy(d))
            printf("  Policy:   %s\n", aa_decision_approval_policy(d));
    }
    printf("  Time:     %.3f ms\n", aa_decision_time_ms(d));
}

static void print_trace_console(const cli_ctx *ctx, const aa_decision *d) {
    printf("\nTrace:\n");
    for (size_t i = 0; i < aa_decision_trace_count(d); i++) {
        const aa_trace_step *s = aa_decision_trace_get(d, i);
        const char *mark = s->outcome > 0 ? "+" : s->outcome < 0 ? "x" : "-";
        const char *color = s->outcome > 0   ? cli_green(ctx)
                            : s->outcome < 0 ? cli_red(ctx)
                                             : cli_dim(ctx);
        printf("  %s%s %-16s%s ", color, mark, s->step, cli_reset(ctx));
        cli_put_text(s->detail, stdout);
        fputc('\n', stdout);
    }
}

static int run_one(cli_ctx *ctx, bool explain) {
    const char *agent = cli_str(ctx, "agent"), *user = cli_str(ctx, "user"),
               *action = cli_str(ctx, "action");
    bool batch = cli_opt(ctx, "batch")->set;
    if (batch && explain)
        return cli_usage_error(ctx, "'explain' takes one request, not --batch");
    if (batch) { /* requests come from the input, one per line */
        static const char *const single[] = {
            "agent", "user",         "action",     "resource",
            "scope", "target-agent", "session-id", "metadata"};
        for (size_t i = 0; i < sizeof single / sizeof *single; i++)
            if (cli_opt(ctx, single[i])->set)
                return cli_usage_error(ctx,
                                       "--%s cannot be combined with --batch "
                                       "(each input line is a request)",
                                       single[i]);
    }
    if (!batch && ctx->nargs)
        return cli_usage_error(ctx, "unexpected argument '%s'", ctx->args[0]);
    if (!batch && (!agent || !user || !action))
        return cli_usage_error(ctx, "missing required option '--%s'",
                               !agent  ? "agent"
                               : !user ? "user"
                                       : "action");
    if (!batch && (!*agent || !*user || !*action))
        return cli_usage_error(ctx, "option '--%s' must not be empty",
                               !*agent  ? "agent"
                               : !*user ? "user"
                                        : "action");

    cli_engine ce;
    int rc = cli_open(ctx, batch ? CLI_STORE_LONG : CLI_STORE_IF_EXISTS,
                      cli_opt(ctx, "no-audit")->set ? AA_AUDIT_OFF
                                                    : AA_AUDIT_FROM_POLICY,
                      &ce);
    if (rc != EXIT_OK)
        return rc;
    if (batch) {
        rc = cli_run_batch(ctx, &ce, ctx->nargs ? ctx->args[0] : "-");
        cli_close(&ce);
        return rc;
    }

    cli_check_agent(ctx, ce.policy, agent, false);
    const opt_value *mv = cli_opt(ctx, "metadata");
    aa_meta *meta = calloc(mv->count + 1, sizeof *meta);
    char **keys = calloc(mv->count + 1, sizeof *keys);
    rc = EXIT_OK;
    for (size_t i = 0; i < mv->count; i++)
        if (!parse_meta(mv->items[i], &meta[i], &keys[i])) {
            rc = cli_usage_error(
                ctx, "option '--metadata' needs KEY=VALUE, not '%s'",
                mv->items[i]);
            break;
        }
    if (rc == EXIT_OK) {
        aa_request r = {
            .agent = agent,
            .user = user,
            .action = action,
            .resource = cli_str(ctx, "resource"),
            .scope = cli_str(ctx, "scope"),
            .session_id = cli_str(ctx, "session-id"),
            .target_agent = cli_str(ctx, "target-agent"),
            .metadata = meta,
            .metadata_count = mv->count,
        };
        aa_decision *d = aa_decision_new();
        aa_decision_set_explain(d, explain);
        aa_authorize(ce.engine, &r, d);
        if (ctx->json) {
            cli_print_json(cli_decision_json(d, explain));
        } else {
            print_decision_console(ctx, &r, d);
            if (explain)
                print_trace_console(ctx, d);
        }
        rc = aa_decision_allowed(d) ? EXIT_OK : EXIT_FAIL;
        aa_decision_free(d);
    }
    for (size_t i = 0; i < mv->count; i++)
        free(keys[i]);
    free(keys);
    free(meta);
    cli_close(&ce);
    return rc;
}

static int run_check(cli_ctx *ctx) {
    return run_one(ctx, false);
}
static int run_explain(cli_ctx *ctx) {
    return run_one(ctx, true);
}

const cli_command cmd_check = {
    .name = "check",
    .summary = "Decide one request (exit 0 allowed, 1 denied), or JSON Lines "
               "with --batch",
    .usage =
        "check --agent A --user U --action ACT [--resource R] [--scope S]\n"
        "                  [--target-agent T] [--session-id ID] [--metadata "
        "K=V ...] [-o json]\n"
        "       agent-auth check --batch [FILE|-]",
    .examples = "  agent-auth -c agent_auth.yaml check --agent copilot --user "
                "alice --action read:docs\n"
                "  agent-auth check -a copilot -u alice --action deploy:prod "
                "-m env=prod -o json\n"
                "  agent-auth check -a orchestrator -u alice --action read:x "
                "--target-agent research-bot\n"
                "  printf '%s\\n' "
                "'{\"agent\":\"copilot\",\"user\":\"alice\",\"action\":\"read:"
                "x\"}' \\\n"
                "      | agent-auth check --batch\n",
    .opts = check_opts,
    .nopts = sizeof check_opts / sizeof check_opts[0],
    .max_args = 1,
    .has_output = true,
    .run = run_check,
};

const cli_command cmd_explain = {
    .name = "explain",
    .summary =
        "Decide one request and show every step that led to the decision",
    .usage =
        "explain --agent A --user U --action ACT [check options] [-o json]",
    .examples = "  agent-auth explain --agent copilot --user alice --action "
                "deploy:prod-db\n"
                "  agent-auth explain -a billing-agent -u bob --action "
                "pay:invoice -m amount=50000\n",
    .opts = check_opts,
    .nopts = sizeof check_opts / sizeof check_opts[0] - 1,
    .max_args = 0,
    .has_output = true,
    .run = run_explain,
};
