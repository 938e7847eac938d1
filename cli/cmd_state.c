/* cmd_state.c - `sessions`, `delegate` and `delegations`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void print_expiry(const char *label, int64_t at) {
    char iso[33], rel[48];
    aa_format_time(at, iso);
    cli_relative_time(at, aa_now(), rel, sizeof rel);
    printf("%-8s %s (%s)\n", label, iso, rel);
}

/* How `--list` shows sessions or delegations. */
typedef struct list_view {
    const char *what; /* "session", "delegation" */
    size_t size;      /* of one item */
    size_t ncols;
    const char *const *hdr;
    json_t *(*json)(const void *item);
    void (*add_row)(cli_table *t, const void *item, int64_t now);
} list_view;

/* Prints the n items at list: a JSON array, or a table and their count. */
static void print_list(const cli_ctx *ctx, const list_view *v, const void *list,
                       size_t n) {
    const char *items = list;
    if (ctx->json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, v->json(items + i * v->size));
        cli_print_json(a);
    } else if (n == 0) {
        printf("No active %ss.\n", v->what);
    } else {
        cli_table t;
        cli_table_init(&t, v->ncols, v->hdr);
        int64_t now = aa_now();
        for (size_t i = 0; i < n; i++)
            v->add_row(&t, items + i * v->size, now);
        cli_table_print(ctx, &t, stdout);
        cli_table_free(&t);
        printf("%zu active %s%s\n", n, v->what, n == 1 ? "" : "s");
    }
}

/* ---- sessions ------------------------------------------------------------ */

static const opt_spec sessions_opts[] = {
    {"create", 0, OPT_FLAG, NULL, "create a session (needs --agent and --user)",
     0},
    {"list", 0, OPT_FLAG, NULL,
     "list active sessions (filter with --agent/--user)", 0},
    {"revoke", 0, OPT_STRING, "ID", "revoke the session ID", 0},
    {"cleanup", 0, OPT_FLAG, NULL,
     "mark expired sessions and delegations, purge old inactive ones", 0},
    {"agent", 'a', OPT_STRING, "AGENT", "the agent", 0},
    {"user", 'u', OPT_STRING, "USER", "the user", 0},
    {"scope", 's', OPT_STRING, "SCOPE", "scope pattern the session is bound to",
     0},
    {"duration", 'd', OPT_INT, "SECONDS",
     "lifetime (default: the profile's maximum)", 1},
    {"retention", 0, OPT_INT, "DAYS",
     "with --cleanup: keep inactive rows this long (default 7)", 0},
};

static int one_mode(const cli_ctx *ctx, const char *const *modes, size_t n) {
    int which = -1;
    for (size_t i = 0; i < n; i++)
        if (cli_opt(ctx, modes[i])->set) {
            if (which >= 0)
                return cli_usage_error(ctx, "--%s and --%s cannot be combined",
                                       modes[which], modes[i]),
                       -2;
            which = (int)i;
        }
    return which;
}

typedef int (*revoke_fn)(aa_engine *, const char *, int *, aa_error *);

/* Called after printing the report of a new grant: when it could not be
 * written (a closed stdout, a full disk), the grant is revoked, so that
 * the exit status and the effect agree: 1 and no grant. Should revoking
 * fail too, the grant exists: say so, and exit 0. */
static int report_written(cli_engine *ce, revoke_fn fn, const char *what,
                          const char *id) {
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout))
        return EXIT_OK;
    int e = errno ? errno : EIO;
    int revoked = 0;
    aa_error *err = aa_error_new();
    int rc = fn(ce->engine, id, &revoked, err);
    if (revoked) {
        cli_error("cannot write the report (%s): %s %s was revoked",
                  strerror(e), what, id);
        if (rc != AA_OK) /* revoked, but its audit line failed */
            cli_print_errors(err, "Error: ");
        aa_error_free(err);
        return EXIT_FAIL;
    }
    cli_error("cannot write the report (%s), and revoking %s %s failed: it "
              "exists; revoke it with the id above",
              strerror(e), what, id);
    cli_print_errors(err, "Error: ");
    aa_error_free(err);
    /* The grant exists: exit 0, with what could not be written dropped. */
    if (!freopen("/dev/null", "w", stdout))
        clearerr(stdout);
    return EXIT_OK;
}

static int sessions_create(const cli_ctx *ctx, cli_engine *ce) {
    const char *agent = cli_str(ctx, "agent"), *user = cli_str(ctx, "user");
    const opt_value *dur = cli_opt(ctx, "duration");
    if (cli_check_agent(ctx, ce->policy, agent, true) != EXIT_OK)
        return EXIT_FAIL;
    aa_session s = {0};
    aa_error *err = aa_error_new();
    int rc =
        aa_session_create(ce->engine, agent, user, cli_str(ctx, "scope"),
                          dur->set ? dur->num : AA_DURATION_DEFAULT, &s, err);
    if (rc != AA_OK) { /* s is not filled in */
        cli_print_errors(err, "Error: ");
        if (aa_error_count(err) == 0)
            cli_error("%s", aa_strerror(rc));
        aa_error_free(err);
        return EXIT_FAIL;
    }
    aa_error_free(err);
    if (ctx->json) {
        cli_print_json(cli_session_json(&s));
    } else {
        printf("Session created: %s\n", s.session_id);
        printf("%-8s %s\n", "Agent:", s.agent);
        printf("%-8s %s\n", "User:", s.user);
        printf("%-8s %s\n", "Scope:", *s.scope ? s.scope : "(all)");
        print_expiry("Expires:", s.expires_at);
    }
    rc = report_written(ce, aa_session_revoke, "session", s.session_id);
    aa_session_clear(&s);
    return rc;
}

static json_t *session_json(const void *item) {
    return cli_session_json(item);
}

static void session_row(cli_table *t, const void *item, int64_t now) {
    const aa_session *s = item;
    char rel[48];
    cli_relative_time(s->expires_at, now, rel, sizeof rel);
    const char *row[] = {s->session_id, s->agent, s->user,
                         *s->scope ? s->scope : "(all)", rel};
    cli_table_add(t, row);
}

static int sessions_list(const cli_ctx *ctx, cli_engine *ce) {
    static const char *const hdr[] = {"SESSION", "AGENT", "USER", "SCOPE",
                                      "EXPIRES"};
    static const list_view view = {"session", sizeof(aa_session), 5,
                                   hdr,       session_json,       session_row};
    aa_session *list = NULL;
    size_t n = 0;
    aa_error *err = aa_error_new();
    int rc = aa_session_list(ce->engine, cli_str(ctx, "agent"),
                             cli_str(ctx, "user"), &list, &n, err);
    if (rc != AA_OK)
        return cli_fail(err, rc);
    aa_error_free(err);
    print_list(ctx, &view, list, n);
    aa_session_list_free(list, n);
    return EXIT_OK;
}

static int revoke(const cli_ctx *ctx, cli_engine *ce, revoke_fn fn,
                  const char *what, const char *id) {
    int revoked = 0;
    aa_error *err = aa_error_new();
    int rc = fn(ce->engine, id, &revoked, err);
    if (rc != AA_OK && !(rc == AA_EAUDIT && revoked)) {
        cli_print_errors(err, "Error: ");
        aa_error_free(err);
        return EXIT_FAIL;
    }
    if (rc == AA_EAUDIT)
        cli_print_errors(err, "Error: ");
    aa_error_free(err);
    if (ctx->json) {
        json_t *o = json_object();
        json_object_set_new(
            o, strcmp(what, "Session") == 0 ? "session_id" : "delegation_id",
            cli_jstr(id));
        json_object_set_new(o, "revoked", json_boolean(revoked));
        cli_print_json(o);
    }
    if (!revoked) {
        if (!ctx->json)
            cli_error("%s %s not found or already inactive", what, id);
        return EXIT_FAIL;
    }
    if (!ctx->json)
        printf("%s %s revoked\n", what, id);
    return rc == AA_OK ? EXIT_OK : EXIT_FAIL;
}

static int cleanup(const cli_ctx *ctx, cli_engine *ce) {
    const opt_value *ret = cli_opt(ctx, "retention");
    size_t marked = 0, purged = 0;
    aa_error *err = aa_error_new();
    long long days = ret->set ? ret->num : 7;
    int rc = aa_state_cleanup(
        ce->engine, days > INT64_MAX / 86400 ? INT64_MAX : days * 86400,
        &marked, &purged, err);
    if (rc != AA_OK)
        return cli_fail(err, rc);
    aa_error_free(err);
    if (ctx->json) {
        json_t *o = json_object();
        json_object_set_new(o, "marked_expired",
                            json_integer((json_int_t)marked));
        json_object_set_new(o, "purged", json_integer((json_int_t)purged));
        cli_print_json(o);
    } else {
        printf("Cleanup: %zu marked expired, %zu purged\n", marked, purged);
    }
    return EXIT_OK;
}

static int run_sessions(cli_ctx *ctx) {
    static const char *const modes[] = {"create", "list", "revoke", "cleanup"};
    int mode = one_mode(ctx, modes, 4);
    if (mode == -2)
        return EXIT_USAGE;
    if (mode < 0)
        return cli_usage_error(
            ctx, "choose one of --create, --list, --revoke ID, --cleanup");
    if (mode == 0 && (!cli_str(ctx, "agent") || !cli_str(ctx, "user")))
        return cli_usage_error(ctx, "--create needs --agent and --user");
    cli_engine ce;
    if (cli_open(ctx, CLI_STORE_CREATE, AA_AUDIT_FROM_POLICY, &ce) != EXIT_OK)
        return EXIT_FAIL;
    int rc;
    switch (mode) {
    case 0:
        rc = sessions_create(ctx, &ce);
        break;
    case 1:
        rc = sessions_list(ctx, &ce);
        break;
    case 2:
        rc = revoke(ctx, &ce, aa_session_revoke, "Session",
                    cli_str(ctx, "revoke"));
        break;
    default:
        rc = cleanup(ctx, &ce);
        break;
    }
    cli_close(&ce);
    return rc;
}

const cli_command cmd_sessions = {
    .name = "sessions",
    .summary = "Create, list, revoke and clean up time-limited sessions",
    .usage = "sessions --create --agent A --user U [--scope S] [--duration N]\n"
             "       agent-auth sessions --list [--agent A] [--user U]\n"
             "       agent-auth sessions --revoke ID\n"
             "       agent-auth sessions --cleanup [--retention DAYS]",
    .examples = "  agent-auth sessions --create --agent copilot --user alice "
                "--scope 'project:*'\n"
                "  agent-auth sessions --list --agent copilot -o json\n"
                "  agent-auth check -a copilot -u alice --action read:docs "
                "--session-id ID\n"
                "  agent-auth sessions --revoke ID\n",
    .opts = sessions_opts,
    .nopts = sizeof sessions_opts / sizeof sessions_opts[0],
    .has_output = true,
    .run = run_sessions,
};

/* ---- delegate ------------------------------------------------------------ */

static const opt_spec delegate_opts[] = {
    {"from-user", 0, OPT_STRING, "USER", "the user lending the permission", 0},
    {"to-agent", 0, OPT_STRING, "AGENT", "the agent receiving it", 0},
    {"actions", 0, OPT_STRING, "A,B,...", "comma-separated action patterns", 0},
    {"duration", 'd', OPT_INT, "SECONDS",
     "lifetime (default: delegation.default_duration)", 1},
    {"reason", 0, OPT_STRING, "TEXT", "why (some delegation rules require one)",
     0},
};

static int run_delegate(cli_ctx *ctx) {
    const char *from = cli_str(ctx, "from-user"),
               *to = cli_str(ctx, "to-agent"), *acts = cli_str(ctx, "actions");
    if (!from || !to || !acts)
        return cli_usage_error(ctx, "missing required option '--%s'",
                               !from ? "from-user"
                               : !to ? "to-agent"
                                     : "actions");
    /* Split the list; empty items are kept so that the library refuses them. */
    size_t n = 1;
    for (const char *p = acts; *p; p++)
        n += *p == ',';
    char *copy = strdup(acts);
    const char **items = calloc(n, sizeof *items);
    if (!copy || !items) {
        free(copy);
        free(items);
        return cli_error("out of memory");
    }
    size_t k = 0;
    for (char *p = copy, *tok; (tok = strsep(&p, ","));) {
        while (*tok == ' ')
            tok++;
        char *end = tok + strlen(tok);
        while (end > tok && end[-1] == ' ')
            *--end = 0;
        items[k++] = tok;
    }
    if (k == 1 && !*items[0])
        k = 0; /* --actions "" is an empty list */

    cli_engine ce;
    int rc = cli_open(ctx, CLI_STORE_CREATE, AA_AUDIT_FROM_POLICY, &ce);
    if (rc == EXIT_OK && cli_check_agent(ctx, ce.policy, to, true) != EXIT_OK) {
        cli_close(&ce);
        rc = EXIT_FAIL;
    } else if (rc == EXIT_OK) {
        const opt_value *dur = cli_opt(ctx, "duration");
        aa_delegation g = {0};
        aa_error *err = aa_error_new();
        int st = aa_delegation_create(ce.engine, from, to, items, k,
                                      dur->set ? dur->num : AA_DURATION_DEFAULT,
                                      cli_str(ctx, "reason"), &g, err);
        if (st == AA_EREFUSED) {
            cli_error("delegation refused:");
            cli_print_errors(err, "  - ");
            rc = EXIT_FAIL;
        } else if (st != AA_OK) { /* g is not filled in */
            cli_print_errors(err, "Error: ");
            if (aa_error_count(err) == 0)
                cli_error("%s", aa_strerror(st));
            rc = EXIT_FAIL;
        } else {
            if (ctx->json) {
                cli_print_json(cli_delegation_json(&g));
            } else {
                printf("Delegation created: %s\n", g.delegation_id);
                printf("%-8s %s\n", "From:", g.from_user);
                printf("%-8s %s\n", "To:", g.to_agent);
                printf("%-8s ", "Actions:");
                for (size_t i = 0; i < g.action_count; i++)
                    printf("%s%s", i ? ", " : "", g.actions[i]);
                printf("\n");
                print_expiry("Expires:", g.expires_at);
                if (*g.reason)
                    printf("%-8s %s\n", "Reason:", g.reason);
            }
            rc = report_written(&ce, aa_delegation_revoke, "delegation",
                                g.delegation_id);
            aa_delegation_clear(&g);
        }
        aa_error_free(err);
        cli_close(&ce);
    }
    free(items);
    free(copy);
    return rc;
}

const cli_command cmd_delegate = {
    .name = "delegate",
    .summary = "Lend a user's permission to an agent for a limited time",
    .usage = "delegate --from-user U --to-agent A --actions a,b [--duration N] "
             "[--reason R]",
    .examples = "  agent-auth delegate --from-user alice --to-agent copilot "
                "--actions deploy:staging \\\n"
                "      --duration 3600 --reason 'release 4.2'\n",
    .opts = delegate_opts,
    .nopts = sizeof delegate_opts / sizeof delegate_opts[0],
    .has_output = true,
    .run = run_delegate,
};

/* ---- delegations --------------------------------------------------------- */

static const opt_spec delegations_opts[] = {
    {"list", 0, OPT_FLAG, NULL, "list active delegations (filter with --agent)",
     0},
    {"revoke", 0, OPT_STRING, "ID", "revoke the delegation ID", 0},
    {"agent", 'a', OPT_STRING, "AGENT", "only delegations to this agent", 0},
};

static json_t *delegation_json(const void *item) {
    return cli_delegation_json(item);
}

static void delegation_row(cli_table *t, const void *item, int64_t now) {
    const aa_delegation *d = item;
    char rel[48], acts[512] = "";
    cli_relative_time(d->expires_at, now, rel, sizeof rel);
    for (size_t k = 0; k < d->action_count; k++) {
        size_t used = strlen(acts);
        snprintf(acts + used, sizeof acts - used, "%s%s", k ? "," : "",
                 d->actions[k]);
    }
    const char *row[] = {d->delegation_id, d->from_user, d->to_agent, acts, rel,
                         d->reason};
    cli_table_add(t, row);
}

static int delegations_list(const cli_ctx *ctx, cli_engine *ce) {
    static const char *const hdr[] = {"DELEGATION", "FROM",    "TO",
                                      "ACTIONS",    "EXPIRES", "REASON"};
    static const list_view view = {
        "delegation", sizeof(aa_delegation), 6,
        hdr,          delegation_json,       delegation_row};
    aa_delegation *list = NULL;
    size_t n = 0;
    aa_error *err = aa_error_new();
    int rc =
        aa_delegation_list(ce->engine, cli_str(ctx, "agent"), &list, &n, err);
    if (rc != AA_OK)
        return cli_fail(err, rc);
    aa_error_free(err);
    print_list(ctx, &view, list, n);
    aa_delegation_list_free(list, n);
    return EXIT_OK;
}

static int run_delegations(cli_ctx *ctx) {
    static const char *const modes[] = {"list", "revoke"};
    int mode = one_mode(ctx, modes, 2);
    if (mode == -2)
        return EXIT_USAGE;
    if (mode < 0)
        return cli_usage_error(ctx, "choose one of --list, --revoke ID");
    cli_engine ce;
    if (cli_open(ctx, CLI_STORE_CREATE, AA_AUDIT_FROM_POLICY, &ce) != EXIT_OK)
        return EXIT_FAIL;
    int rc = mode == 0 ? delegations_list(ctx, &ce)
                       : revoke(ctx, &ce, aa_delegation_revoke, "Delegation",
                                cli_str(ctx, "revoke"));
    cli_close(&ce);
    return rc;
}

const cli_command cmd_delegations = {
    .name = "delegations",
    .summary = "List or revoke delegations",
    .usage = "delegations --list [--agent A]\n"
             "       agent-auth delegations --revoke ID",
    .examples = "  agent-auth delegations --list --agent copilot\n"
                "  agent-auth delegations --revoke ID\n",
    .opts = delegations_opts,
    .nopts = sizeof delegations_opts / sizeof delegations_opts[0],
    .has_output = true,
    .run = run_delegations,
};
