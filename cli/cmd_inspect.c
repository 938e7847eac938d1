/*
 * cmd_inspect.c - `inspect`: everything a policy defines, as the engine
 * sees it after loading (roles resolved through inheritance, effective
 * permissions of each profile, defaults filled in); `-o json` for tools and
 * `--graph` for Graphviz. All of it comes from aa_policy_describe_json, so
 * the three views never disagree.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const opt_spec inspect_opts[] = {
    {"graph", 0, OPT_FLAG, NULL,
     "print roles, profiles and A2A rules as a Graphviz DOT graph", 0},
};

static const char *s_of(json_t *o, const char *k) {
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static long long i_of(json_t *o, const char *k) {
    return (long long)json_integer_value(json_object_get(o, k));
}

/* Prints a JSON list of strings joined by ", " (or `none`). */
static void print_list(json_t *arr, const char *none) {
    if (json_array_size(arr) == 0) {
        fputs(none, stdout);
        return;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
        printf("%s%s", i ? ", " : "", json_string_value(v));
}

static void heading(const cli_ctx *ctx, const char *title, size_t n) {
    printf("\n%s%s (%zu)%s\n", cli_bold(ctx), title, n, cli_reset(ctx));
}

static void print_console(const cli_ctx *ctx, json_t *d) {
    json_t *meta = json_object_get(d, "metadata");
    printf("%sPolicy%s %s%s%s  (version %s, %s)\n", cli_bold(ctx),
           cli_reset(ctx),
           *s_of(meta, "name") ? s_of(meta, "name") : "(unnamed)",
           *s_of(meta, "author") ? " by " : "", s_of(meta, "author"),
           s_of(d, "version"), s_of(d, "file"));
    if (*s_of(meta, "description"))
        printf("  %s\n", s_of(meta, "description"));

    json_t *vars = json_object_get(d, "variables");
    if (json_object_size(vars)) {
        heading(ctx, "Variables", json_object_size(vars));
        const char *k;
        json_t *v;
        json_object_foreach(vars, k, v) {
            char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            printf("  $%-20s %s\n", k, t ? t : "");
            free(t);
        }
    }

    json_t *roles = json_object_get(d, "roles");
    heading(ctx, "Roles", json_array_size(roles));
    size_t i;
    json_t *r;
    json_array_foreach(roles, i, r) {
        printf("  %s%s%s", cli_bold(ctx), s_of(r, "name"), cli_reset(ctx));
        json_t *chain = json_object_get(r, "chain");
        if (json_array_size(chain) > 1) {
            printf("  (");
            size_t k;
            json_t *c;
            json_array_foreach(chain, k, c)
                printf("%s%s", k ? " -> " : "", json_string_value(c));
            printf(")");
        }
        if (*s_of(r, "description"))
            printf("  %s%s%s", cli_dim(ctx), s_of(r, "description"),
                   cli_reset(ctx));
        printf("\n    actions:  ");
        print_list(json_object_get(r, "resolved_actions"), "(none)");
        printf("\n");
    }

    json_t *profiles = json_object_get(d, "profiles");
    heading(ctx, "Profiles", json_array_size(profiles));
    json_array_foreach(profiles, i, r) {
        printf("  %s%s%s", cli_bold(ctx), s_of(r, "name"), cli_reset(ctx));
        if (*s_of(r, "role"))
            printf("  role %s", s_of(r, "role"));
        if (*s_of(r, "description"))
            printf("  %s%s%s", cli_dim(ctx), s_of(r, "description"),
                   cli_reset(ctx));
        printf("\n    allows:   ");
        json_t *eff = json_object_get(r, "effective");
        if (json_array_size(eff) == 0)
            printf("(nothing)");
        size_t k;
        json_t *e;
        json_array_foreach(eff, k, e)
            printf("%s%s", k ? ", " : "", s_of(e, "pattern"));
        printf("\n    denies:   ");
        print_list(json_object_get(r, "deny"), "(nothing)");
        printf("\n    scopes:   ");
        print_list(json_object_get(r, "scopes"), "(all)");
        printf("\n    tier:     %s    max session: %llds\n",
               s_of(r, "default_tier"), i_of(r, "max_session_duration"));
    }

    json_t *aps = json_object_get(d, "approval_policies");
    heading(ctx, "Approval policies", json_array_size(aps));
    json_array_foreach(aps, i, r) {
        printf("  %-24s %-7s %s\n", s_of(r, "name"), s_of(r, "tier"),
               *s_of(r, "condition") ? s_of(r, "condition") : "(always)");
    }

    json_t *dl = json_object_get(d, "delegation");
    json_t *rules = json_object_get(dl, "rules");
    printf("\n%sDelegation%s  %s, default %llds, max %llds, %zu rule%s\n",
           cli_bold(ctx), cli_reset(ctx),
           json_is_true(json_object_get(dl, "enabled")) ? "enabled"
                                                        : "disabled",
           i_of(dl, "default_duration"), i_of(dl, "max_duration"),
           json_array_size(rules), json_array_size(rules) == 1 ? "" : "s");
    json_array_foreach(rules, i, r) {
        printf("  %-24s max %llds%s  actions: ", s_of(r, "name"),
               i_of(r, "max_duration"),
               json_is_true(json_object_get(r, "require_reason"))
                   ? ", reason required"
                   : "");
        print_list(json_object_get(r, "allowed_actions"), "(any)");
        printf("\n");
    }

    json_t *a2a = json_object_get(d, "a2a");
    json_t *pols = json_object_get(a2a, "policies");
    printf("\n%sAgent-to-agent%s  default %s, %zu polic%s\n", cli_bold(ctx),
           cli_reset(ctx), s_of(a2a, "default"), json_array_size(pols),
           json_array_size(pols) == 1 ? "y" : "ies");
    json_array_foreach(pols, i, r) {
        printf("  %-24s %-5s %s -> %s on %s%s%s\n", s_of(r, "name"),
               s_of(r, "effect"), s_of(r, "from_agent"), s_of(r, "to_agent"),
               s_of(r, "action"), *s_of(r, "condition") ? " if " : "",
               s_of(r, "condition"));
    }

    json_t *ss = json_object_get(d, "sessions");
    printf("\n%sSessions%s  default %llds, max %llds, cleanup every %llds\n",
           cli_bold(ctx), cli_reset(ctx), i_of(ss, "default_duration"),
           i_of(ss, "max_duration"), i_of(ss, "cleanup_interval"));
    json_t *au = json_object_get(d, "audit");
    printf(
        "%sAudit%s     %s, %s, retention %lld days, fsync %s, on failure %s\n",
        cli_bold(ctx), cli_reset(ctx),
        json_is_true(json_object_get(au, "enabled")) ? "enabled" : "disabled",
        s_of(au, "path"), i_of(au, "retention_days"), s_of(au, "fsync"),
        s_of(au, "on_failure"));
    json_t *st = json_object_get(d, "state");
    if (*s_of(st, "url"))
        printf("%sState%s     %s (schema %s, %s)\n", cli_bold(ctx),
               cli_reset(ctx), s_of(st, "url"), s_of(st, "schema"),
               s_of(st, "consistency"));
    else
        printf("%sState%s     %s\n", cli_bold(ctx), cli_reset(ctx),
               s_of(st, "path"));
}

/* A DOT identifier: always quoted, with quotes and backslashes escaped. */
static void dot_id(const char *prefix, const char *s) {
    putchar('"');
    fputs(prefix, stdout);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            putchar('\\');
        putchar(*s == '\n' ? ' ' : *s);
    }
    putchar('"');
}

static void print_graph(json_t *d) {
    printf("digraph agent_auth {\n"
           "  rankdir=LR;\n"
           "  node [fontname=\"Helvetica\", fontsize=11];\n"
           "  edge [fontname=\"Helvetica\", fontsize=9];\n");
    size_t i;
    json_t *r;
    json_t *roles = json_object_get(d, "roles");
    printf("  subgraph cluster_roles { label=\"roles\"; style=dashed;\n");
    json_array_foreach(roles, i, r) {
        printf("    ");
        dot_id("role:", s_of(r, "name"));
        printf(" [shape=box, style=rounded, label=");
        dot_id("", s_of(r, "name"));
        printf("];\n");
    }
    printf("  }\n");
    json_array_foreach(roles, i, r) {
        if (!*s_of(r, "extends"))
            continue;
        printf("  ");
        dot_id("role:", s_of(r, "name"));
        printf(" -> ");
        dot_id("role:", s_of(r, "extends"));
        printf(" [label=\"extends\"];\n");
    }
    json_t *profiles = json_object_get(d, "profiles");
    json_array_foreach(profiles, i, r) {
        printf("  ");
        dot_id("agent:", s_of(r, "name"));
        printf(" [shape=ellipse, style=filled, fillcolor=\"#e8f0fe\", label=");
        dot_id("", s_of(r, "name"));
        printf("];\n");
        if (*s_of(r, "role")) {
            printf("  ");
            dot_id("agent:", s_of(r, "name"));
            printf(" -> ");
            dot_id("role:", s_of(r, "role"));
            printf(" [label=\"role\"];\n");
        }
    }
    json_t *pols = json_object_get(json_object_get(d, "a2a"), "policies");
    json_array_foreach(pols, i, r) {
        const char *from = s_of(r, "from_agent"), *to = s_of(r, "to_agent");
        bool allow = strcmp(s_of(r, "effect"), "allow") == 0;
        /* A wildcard end is a note of its own, one per side, so that "any
         * caller" and "any target" are not drawn as one node. */
        const char *ends[2] = {from, to};
        const char *prefix[2] = {"agent:", "agent:"};
        static const char *const side[2] = {"callers:", "targets:"};
        for (int k = 0; k < 2; k++)
            if (strpbrk(ends[k], "*?[")) {
                prefix[k] = side[k];
                char label[300];
                if (strcmp(ends[k], "*") == 0)
                    snprintf(label, sizeof label, "any %s",
                             k == 0 ? "caller" : "target");
                else
                    snprintf(label, sizeof label, "%s (%s)", ends[k],
                             k == 0 ? "callers" : "targets");
                printf("  ");
                dot_id(prefix[k], ends[k]);
                printf(" [shape=note, label=");
                dot_id("", label);
                printf("];\n");
            }
        printf("  ");
        dot_id(prefix[0], from);
        printf(" -> ");
        dot_id(prefix[1], to);
        printf(" [color=%s, fontcolor=%s, style=%s, label=",
               allow ? "darkgreen" : "red", allow ? "darkgreen" : "red",
               *s_of(r, "condition") ? "dashed" : "solid");
        char label[512];
        snprintf(label, sizeof label, "%s %s", allow ? "allow" : "deny",
                 s_of(r, "action"));
        dot_id("", label);
        printf("];\n");
    }
    printf("}\n");
}

static int run_inspect(cli_ctx *ctx) {
    aa_policy *p = cli_load_policy(ctx);
    if (!p)
        return EXIT_FAIL;
    char *text = aa_policy_describe_json(p);
    json_t *d = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    aa_policy_free(p);
    if (!d)
        return cli_error("out of memory");
    if (cli_opt(ctx, "graph")->set)
        print_graph(d);
    else if (ctx->json)
        cli_print_json(json_incref(d));
    else
        print_console(ctx, d);
    json_decref(d);
    return EXIT_OK;
}

const cli_command cmd_inspect = {
    .name = "inspect",
    .summary =
        "Show everything a policy defines, as loaded (or as a Graphviz graph)",
    .usage = "inspect [-o json] [--graph]",
    .examples = "  agent-auth -c agent_auth.yaml inspect\n"
                "  agent-auth inspect -o json | jq '.profiles[].name'\n"
                "  agent-auth inspect --graph | dot -Tsvg > policy.svg\n",
    .opts = inspect_opts,
    .nopts = 1,
    .has_output = true,
    .run = run_inspect,
};
