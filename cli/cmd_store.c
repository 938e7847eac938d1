/* cmd_store.c - `state migrate` and `state copy`: the state store itself
 * (docs/state.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static const opt_spec state_opts[] = {
    {"from", 0, OPT_STRING, "URL",
     "copy: the store to read (a path, sqlite:PATH or postgresql://...)", 0},
    {"to", 0, OPT_STRING, "URL", "copy: the store to write", 0},
};

/* The policy, when its file is there: its state settings count. */
static aa_policy *maybe_policy(const cli_ctx *ctx) {
    struct stat st;
    if (stat(ctx->config_path, &st) != 0)
        return NULL;
    aa_policy *p = NULL;
    aa_error *err = aa_error_new();
    if (aa_policy_load_file(ctx->config_path, NULL, &p, err) != AA_OK)
        p = NULL;
    aa_error_free(err);
    return p;
}

static int open_store(const char *url, const aa_policy *p, aa_store **out,
                      char *where, size_t size, bool lazy) {
    aa_store_options o;
    aa_store_options_init(&o);

    o.url = url;
    o.policy = p;
    o.consistency = AA_CONSISTENCY_STRICT;
    if (aa_store_location(&o, where, size) != AA_OK)
        return cli_error("%s", where);
    /* migrate: a PostgreSQL schema of an older version must open */
    o.lazy = lazy && strstr(where, "://") != NULL;
    aa_error *err = aa_error_new();
    int rc = aa_store_open(&o, out, err);
    if (rc != AA_OK)
        return cli_fail(err, rc);
    aa_error_free(err);
    return EXIT_OK;
}

static int state_migrate(cli_ctx *ctx) {
    aa_policy *p = maybe_policy(ctx);
    aa_store *st = NULL;
    char where[1024];
    int rc = open_store(ctx->state_path, p, &st, where, sizeof where, true);
    if (rc == EXIT_OK) {
        const char *what = NULL;
        aa_error *err = aa_error_new();
        int s = aa_store_migrate(st, &what, err);
        if (s != AA_OK) {
            rc = cli_fail(err, s);
        } else {
            aa_error_free(err);
            if (ctx->json)
                printf("{\"store\": \"%s\", \"kind\": \"%s\", \"schema\": "
                       "\"%s\"}\n",
                       where, aa_store_kind(st), what);
            else
                printf("State store %s (%s): %s\n", where, aa_store_kind(st),
                       what);
        }
    }
    aa_store_free(st);
    aa_policy_free(p);
    return rc;
}

static int state_copy(cli_ctx *ctx) {
    const char *from = cli_str(ctx, "from"), *to = cli_str(ctx, "to");
    if (!from || !to)
        return cli_usage_error(ctx, "copy needs --from URL and --to URL");
    const char *fp = strncmp(from, "sqlite:", 7) == 0 ? from + 7 : from;
    struct stat sb;
    if (!strstr(from, "://") && stat(fp, &sb) != 0)
        return cli_error("state store '%s' (--from) does not exist", fp);
    aa_store *src = NULL, *dst = NULL;
    char wf[1024], wt[1024];
    int rc = open_store(from, NULL, &src, wf, sizeof wf, false);
    if (rc == EXIT_OK)
        rc = open_store(to, NULL, &dst, wt, sizeof wt, false);
    if (rc == EXIT_OK && strcmp(wf, wt) == 0)
        rc = cli_error("--from and --to name the same store (%s)", wf);
    if (rc == EXIT_OK) {
        aa_store_copy_counts n;
        aa_error *err = aa_error_new();
        int s = aa_store_copy(src, dst, &n, err);
        if (s != AA_OK) {
            fprintf(stderr,
                    "Error: copy stopped after %zu sessions and %zu "
                    "delegations\n",
                    n.sessions, n.delegations);
            rc = cli_fail(err, s);
        } else {
            aa_error_free(err);
            if (ctx->json)
                printf("{\"sessions\": %zu, \"delegations\": %zu, "
                       "\"skipped\": %zu}\n",
                       n.sessions, n.delegations, n.skipped);
            else
                printf("Copied %zu sessions and %zu delegations from %s to "
                       "%s (%zu already there, kept)\n",
                       n.sessions, n.delegations, wf, wt, n.skipped);
        }
    }
    aa_store_free(src);
    aa_store_free(dst);
    return rc;
}

static int run_state(cli_ctx *ctx) {
    const char *sub = ctx->nargs ? ctx->args[0] : NULL;
    if (!sub)
        return cli_usage_error(ctx, "choose 'migrate' or 'copy'");
    if (strcmp(sub, "migrate") == 0) {
        if (cli_str(ctx, "from") || cli_str(ctx, "to"))
            return cli_usage_error(ctx, "--from/--to belong to 'copy'");
        return state_migrate(ctx);
    }
    if (strcmp(sub, "copy") == 0)
        return state_copy(ctx);
    return cli_usage_error(ctx, "unknown state command '%s' (migrate, copy)",
                           sub);
}

const cli_command cmd_state = {
    .name = "state",
    .summary = "Make or upgrade the state store's tables; copy state between "
               "stores",
    .usage = "state migrate [--state URL]\n"
             "       agent-auth state copy --from URL --to URL",
    .examples =
        "  agent-auth --state postgresql://admin@db/agents state migrate\n"
        "  agent-auth state copy --from .agent_auth/state.db \\\n"
        "      --to postgresql://agent_auth@db/agents\n",
    .opts = state_opts,
    .nopts = sizeof state_opts / sizeof state_opts[0],
    .max_args = 1,
    .has_output = true,
    .run = run_state,
};
