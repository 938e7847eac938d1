/* cmd_audit.c - `audit`: read, filter, export, verify and rotate the log. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <limits.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const opt_spec audit_opts[] = {
    {"since", 0, OPT_STRING, "TIME", "entries at or after this ISO 8601 time",
     0},
    {"agent", 'a', OPT_STRING, "AGENT", "only this agent", 0},
    {"user", 'u', OPT_STRING, "USER", "only this user", 0},
    {"action", 0, OPT_STRING, "ACTION", "only this action", 0},
    {"allowed", 0, OPT_STRING, "true|false",
     "only allowed (true) or denied (false) decisions", 0},
    {"event", 0, OPT_STRING, "EVENT",
     "only this event (authorize, session.create, ...)", 0},
    {"limit", 'n', OPT_INT, "N", "at most N entries (default 1000; 0: all)", 0},
    {"output-file", 0, OPT_STRING, "PATH",
     "write the entries there as a JSON array", 0},
    {"verify", 0, OPT_FLAG, NULL,
     "check the hash chain (exit 1 if broken) and print its head hash", 0},
    {"anchor", 0, OPT_STRING, "HASH",
     "with --verify: exit 1 unless the chain still has a line with this "
     "hash (a head printed earlier)",
     0},
    {"require-anchor", 0, OPT_FLAG, NULL,
     "with --verify and a PostgreSQL state: exit 1 when the database has no "
     "head recorded for the log",
     0},
    {"rotate", 0, OPT_FLAG, NULL,
     "archive entries older than audit.retention_days", 0},
    {"file", 'f', OPT_STRING, "PATH",
     "the audit file (default: the policy's audit.path)", 0},
};

typedef struct collect {
    json_t *entries;
} collect;

static int on_entry(void *ud, const char *line, size_t len) {
    collect *c = ud;
    json_t *o = json_loadb(line, len, 0, NULL);
    if (o)
        json_array_append_new(c->entries, o);
    return 0;
}

/* Writes the entries as a JSON array; the export holds what the log holds,
 * so it is created owner-only as the log is. 0 or -1 (errno set). */
static int export_json(json_t *entries, const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return -1;
    }
    int rc = json_dumpf(entries, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (fputc('\n', f) == EOF)
        rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

static const char *str_of(json_t *o, const char *key) {
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static void print_console(const cli_ctx *ctx, json_t *entries,
                          const char *path) {
    size_t n = json_array_size(entries), allowed = 0, denied = 0;
    static const char *const hdr[] = {"TIME",   "EVENT",    "AGENT", "USER",
                                      "ACTION", "DECISION", "REASON"};
    cli_table t;
    cli_table_init(&t, 7, hdr);
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) {
        const char *event = str_of(e, "event");
        char when[20];
        snprintf(when, sizeof when, "%.19s", str_of(e, "timestamp"));
        if (strlen(when) == 19)
            when[10] = ' ';
        json_t *a = json_object_get(e, "allowed");
        const char *decision = "-";
        char detail[256] = "";
        if (json_is_boolean(a)) {
            bool ok = json_is_true(a);
            allowed += ok;
            denied += !ok;
            decision =
                !ok ? "DENIED"
                : json_is_true(json_object_get(e, "requires_approval"))
                    ? (strcmp(str_of(e, "tier"), "strong") == 0 ? "STRONG"
                                                                : "SOFT")
                    : "ALLOWED";
            snprintf(detail, sizeof detail, "%s", str_of(e, "reason"));
        } else if (*str_of(e, "session_id")) {
            snprintf(detail, sizeof detail, "session %s",
                     str_of(e, "session_id"));
        } else if (*str_of(e, "delegation_id")) {
            snprintf(detail, sizeof detail, "delegation %s",
                     str_of(e, "delegation_id"));
        }
        const char *agent =
            *str_of(e, "agent") ? str_of(e, "agent") : str_of(e, "to_agent");
        const char *user =
            *str_of(e, "user") ? str_of(e, "user") : str_of(e, "from_user");
        const char *row[] = {when,     event, agent, user, str_of(e, "action"),
                             decision, detail};
        cli_table_add(&t, row);
    }
    if (n == 0) {
        printf("No audit entries in %s match.\n", path);
    } else {
        cli_table_print(ctx, &t, stdout);
        printf("\n%zu entr%s (%zu allowed, %zu denied) from %s\n", n,
               n == 1 ? "y" : "ies", allowed, denied, path);
    }
    cli_table_free(&t);
}

static bool is_hash(const char *s) {
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f') ||
              (s[n] >= 'A' && s[n] <= 'F')))
            return false;
    return n == 64;
}

/* The PostgreSQL state store the flag, the environment or the policy names
 * (audit anchoring), or NULL for none: a SQLite state records no heads, so
 * none is opened (or made). *rc says when it could not be opened. */
static aa_store *anchor_store(const cli_ctx *ctx, const aa_policy *policy,
                              int *rc) {
    *rc = EXIT_OK;
    aa_policy *own = NULL;
    struct stat sb;
    if (!policy && stat(ctx->config_path, &sb) == 0) {
        aa_error *perr = aa_error_new();
        if (aa_policy_load_file(ctx->config_path, NULL, &own, perr) != AA_OK)
            own = NULL;
        aa_error_free(perr);
        policy = own;
    }
    aa_store_options o;
    aa_store_options_init(&o);
    o.url = ctx->state_path;
    o.policy = policy;
    o.consistency = AA_CONSISTENCY_STRICT;
    aa_store *st = NULL;
    aa_error *err = aa_error_new();
    int s = aa_store_open_anchoring(&o, &st, err);
    if (s != AA_OK) {
        *rc = cli_fail(err, s);
        st = NULL;
    } else {
        aa_error_free(err);
    }
    aa_policy_free(own);
    return st;
}

/* `audit --verify [--anchor HASH]`: exit 0 when the chain is proved. */
static int run_verify(const cli_ctx *ctx, const char *path, aa_store *store,
                      aa_error *err) {
    aa_audit_anchor_info rec;
    memset(&rec, 0, sizeof rec);
    aa_audit_verify_options opts = {.anchor = cli_str(ctx, "anchor"),
                                    .store = store,
                                    .require_record =
                                        cli_opt(ctx, "require-anchor")->set,
                                    .recorded = &rec};
    aa_audit_verify_result res;
    int st = aa_audit_verify_chain(path, &opts, &res, err);
    /* Warnings (torn lines left by interrupted writers) do not break the
     * chain, but are shown: on stderr, and in the JSON. */
    json_t *warnings = json_array();
    char first[4096] = "";
    for (size_t i = 0; i < aa_error_count(err); i++) {
        const aa_diag *d = aa_error_get(err, i);
        char line[4096];
        aa_diag_format(d, line, sizeof line);
        bool warning = d->severity == AA_SEVERITY_WARNING;
        fprintf(stderr, "%s%s\n", warning ? "Warning: " : "Error: ", line);
        if (warning)
            json_array_append_new(warnings, cli_jstr(line));
        else if (!first[0])
            snprintf(first, sizeof first, "%s", line);
    }
    if (st != AA_OK && !first[0]) {
        snprintf(first, sizeof first, "%s: %s", path, aa_strerror(st));
        cli_error("%s", first);
    }
    if (ctx->json) {
        json_t *o = json_object();
        json_object_set_new(o, "valid", json_boolean(st == AA_OK));
        json_object_set_new(o, "lines", json_integer((json_int_t)res.lines));
        if (st == AA_OK) {
            json_object_set_new(o, "head",
                                res.head[0] ? cli_jstr(res.head) : json_null());
            json_object_set_new(o, "archives",
                                json_integer((json_int_t)res.archives));
            json_object_set_new(o, "start_anchored",
                                json_boolean(res.start_anchored));
        } else {
            json_object_set_new(o, "bad_line",
                                json_integer((json_int_t)res.bad_line));
            json_object_set_new(o, "error", cli_jstr(first));
        }
        if (opts.anchor)
            json_object_set_new(o, "anchor_found",
                                json_boolean(res.anchor_found));
        if (store && rec.store_records)
            json_object_set_new(o, "recorded",
                                rec.recorded ? json_pack("{s:I,s:s}", "lines",
                                                         (json_int_t)rec.lines,
                                                         "head", rec.head)
                                             : json_null());
        json_object_set_new(o, "warnings", warnings);
        cli_print_json(o);
    } else {
        json_decref(warnings);
    }
    if (st != AA_OK)
        return EXIT_FAIL;
    if (!ctx->json) {
        printf("Audit log is intact: %zu entr%s, hash chain verified (%s)\n",
               res.lines, res.lines == 1 ? "y" : "ies", path);
        if (res.archives)
            printf("From its start through %zu archive%s (%zu more "
                   "entr%s)\n",
                   res.archives, res.archives == 1 ? "" : "s",
                   res.archive_lines, res.archive_lines == 1 ? "y" : "ies");
        if (opts.anchor)
            printf("Anchor found: %s\n", opts.anchor);
        if (res.head[0])
            printf("Head: %s\n", res.head);
        if (store && rec.recorded)
            printf("Anchored in the database: %zu line%s, head %s\n", rec.lines,
                   rec.lines == 1 ? "" : "s", rec.head);
        else if (store && rec.store_records)
            printf("Not anchored: the database has no head recorded for "
                   "this log (truncation of its tail cannot be told)\n");
    }
    return EXIT_OK;
}

static int run_audit(cli_ctx *ctx) {
    const char *allowed = cli_str(ctx, "allowed");
    if (allowed && strcmp(allowed, "true") != 0 &&
        strcmp(allowed, "false") != 0)
        return cli_usage_error(
            ctx, "option '--allowed' must be 'true' or 'false', not '%s'",
            allowed);
    const char *since = cli_str(ctx, "since");
    int64_t ts;
    if (since && aa_parse_time(since, &ts) != AA_OK)
        return cli_usage_error(
            ctx,
            "option '--since' needs an ISO 8601 time such as "
            "2026-11-28 or 2026-11-28T17:00:00Z, not '%s'",
            since);
    bool verify = cli_opt(ctx, "verify")->set,
         rotate = cli_opt(ctx, "rotate")->set;
    if (verify && rotate)
        return cli_usage_error(ctx, "--verify and --rotate cannot be combined");
    const char *anchor = cli_str(ctx, "anchor");
    if (anchor && !verify)
        return cli_usage_error(ctx, "--anchor needs --verify");
    if (cli_opt(ctx, "require-anchor")->set && !verify)
        return cli_usage_error(ctx, "--require-anchor needs --verify");
    if (anchor && !is_hash(anchor))
        return cli_usage_error(
            ctx,
            "option '--anchor' needs a hash of 64 hex digits (as "
            "'audit --verify' prints it), not '%.80s'",
            anchor);

    const char *path = cli_str(ctx, "file");
    aa_policy *policy = NULL;
    if (!path || rotate) {
        policy = cli_load_policy(ctx);
        if (!policy)
            return EXIT_FAIL;
        if (!path)
            path = aa_policy_audit_path(policy);
    }
    aa_error *err = aa_error_new();
    int rc = EXIT_OK;
    if (verify) {
        aa_store *store = anchor_store(ctx, policy, &rc);
        if (rc == EXIT_OK)
            rc = run_verify(ctx, path, store, err);
        aa_store_free(store);
    } else if (rotate) {
        char *archive = NULL;
        size_t moved = 0;
        int64_t days = aa_policy_audit_retention_days(policy);
        int st = aa_audit_rotate(path, days > INT_MAX ? INT_MAX : (int)days,
                                 aa_now(), &archive, &moved, err);
        if (st != AA_OK) {
            cli_print_errors(err, "Error: ");
            rc = EXIT_FAIL;
        } else if (ctx->json) {
            json_t *o = json_object();
            json_object_set_new(o, "archived", json_integer((json_int_t)moved));
            json_object_set_new(o, "archive",
                                archive ? cli_jstr(archive) : json_null());
            json_object_set_new(o, "retention_days", json_integer(days));
            cli_print_json(o);
        } else if (archive) {
            printf("Archived %zu entr%s to %s\n", moved,
                   moved == 1 ? "y" : "ies", archive);
        } else {
            printf("Nothing older than %lld days to archive\n",
                   (long long)days);
        }
        free(archive);
    } else {
        aa_audit_filter f = {
            .since = since,
            .agent = cli_str(ctx, "agent"),
            .user = cli_str(ctx, "user"),
            .action = cli_str(ctx, "action"),
            .event = cli_str(ctx, "event"),
            .allowed = !allowed                       ? AA_AUDIT_ANY
                       : strcmp(allowed, "true") == 0 ? AA_AUDIT_ALLOWED_ONLY
                                                      : AA_AUDIT_DENIED_ONLY,
            .limit = !cli_opt(ctx, "limit")->set ? 1000
                     : cli_opt(ctx, "limit")->num == 0
                         ? AA_AUDIT_NO_LIMIT
                         : (size_t)cli_opt(ctx, "limit")->num,
        };
        collect c = {json_array()};
        size_t matched = 0, skipped = 0;
        /* The policy's log not written yet (nothing was decided here)
         * reads as an empty one; a file named with --file must exist. */
        struct stat st_log;
        int st =
            !cli_str(ctx, "file") && stat(path, &st_log) != 0 && errno == ENOENT
                ? AA_OK
                : aa_audit_read(path, &f, on_entry, &c, &matched, &skipped,
                                err);
        if (st != AA_OK) {
            cli_print_errors(err, "Error: ");
            if (aa_error_count(err) == 0)
                cli_error("%s: %s", path, aa_strerror(st));
            rc = EXIT_FAIL;
        } else {
            if (skipped)
                fprintf(stderr, "Warning: skipped %zu malformed line%s in %s\n",
                        skipped, skipped == 1 ? "" : "s", path);
            /* A capped listing says so: on stdout in the console, on
             * stderr beside JSON (which stays a pure array). */
            size_t shown = json_array_size(c.entries);
            char capped[128] = "";
            if (matched > shown)
                snprintf(capped, sizeof capped,
                         "showing %zu of %zu; --limit 0 for all", shown,
                         matched);
            const char *out = cli_str(ctx, "output-file");
            if (*capped && (out || ctx->json))
                fprintf(stderr, "Note: %s\n", capped);
            if (out) {
                if (export_json(c.entries, out) != 0) {
                    rc = cli_error("cannot write '%s': %s", out,
                                   strerror(errno));
                } else {
                    printf("Exported %zu entries to %s\n",
                           json_array_size(c.entries), out);
                }
            } else if (ctx->json) {
                cli_print_json(json_incref(c.entries));
            } else {
                print_console(ctx, c.entries, path);
                if (*capped)
                    printf("(%s)\n", capped);
            }
        }
        json_decref(c.entries);
    }
    aa_error_free(err);
    aa_policy_free(policy);
    return rc;
}

const cli_command cmd_audit = {
    .name = "audit",
    .summary = "Read, filter and export the audit log; verify its hash chain; "
               "rotate it",
    .usage = "audit [--since TIME] [--agent A] [--user U] [--action ACT] "
             "[--allowed true|false]\n"
             "                  [--event E] [--limit N|0] [-o json] "
             "[--output-file PATH]\n"
             "       agent-auth audit --verify [--anchor HASH] | --rotate",
    .examples = "  agent-auth audit --agent copilot --allowed false\n"
                "  agent-auth audit --since 2026-11-28T00:00:00Z -o json\n"
                "  agent-auth audit --output-file audit-export.json\n"
                "  agent-auth audit --verify\n"
                "  agent-auth audit --verify --anchor 3f1c...e09a  (a Head "
                "printed earlier)\n",
    .opts = audit_opts,
    .nopts = sizeof audit_opts / sizeof audit_opts[0],
    .has_output = true,
    .run = run_audit,
};
