/*
 * cmd_test.c - `agent-auth test FILE...`: policy tests for CI.
 *
 * A test file (YAML) names the policy it tests and a list of cases; each
 * case is a request, optional state to set up first, and what the decision
 * must be. Every case runs against a fresh in-memory state store and with
 * auditing off, so cases cannot affect each other or the real state. The
 * format is documented in docs/policy-tests.md.
 */
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "yaml_json.h"

static const opt_spec test_opts[] = {
    {"verbose", 'v', OPT_FLAG, NULL, "print passing cases too", 0},
};

typedef struct counts {
    size_t passed, failed;
} counts;

/* Keys allowed in each part of a test file, to catch typos. */
static const char *const file_keys[] = {"policy", "tests", NULL};
static const char *const case_keys[] = {"name", "request", "setup", "expect",
                                        NULL};
static const char *const request_keys[] = {
    "agent",      "user",         "action",   "resource", "scope",
    "session_id", "target_agent", "metadata", NULL};
static const char *const expect_keys[] = {
    "allowed", "tier", "approval_policy", "reason", "requires_approval", NULL};
static const char *const setup_keys[] = {"sessions", "delegations", NULL};
static const char *const session_keys[] = {
    "name", "agent", "user", "scope", "duration", "revoked", NULL};
static const char *const delegation_keys[] = {
    "from_user", "to_agent", "actions", "duration", "reason", "revoked", NULL};

static int line_of(json_t *o) {
    return (int)json_integer_value(json_object_get(o, "__line__"));
}

/* Returns the first key of o not in allowed, or NULL. */
static const char *unknown_key(json_t *o, const char *const *allowed) {
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (strcmp(k, "__line__") == 0)
            continue;
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(k, allowed[i]) == 0;
        if (!ok)
            return k;
    }
    return NULL;
}

static const char *jstr(json_t *o, const char *key) {
    return json_string_value(json_object_get(o, key));
}

/* Text form of a scalar for messages. */
static void scalar_text(json_t *v, char *buf, size_t n) {
    if (json_is_string(v))
        snprintf(buf, n, "'%s'", json_string_value(v));
    else if (json_is_true(v))
        snprintf(buf, n, "true");
    else if (json_is_false(v))
        snprintf(buf, n, "false");
    else
        snprintf(buf, n, "%s", "null");
}

typedef struct named_session {
    const char *name;
    char id[37];
} named_session;

/* Sets up sessions and delegations; returns NULL or a message. */
static const char *setup_state(aa_engine *e, json_t *setup,
                               named_session *names, size_t *nnames, char *msg,
                               size_t msglen) {
    if (!setup)
        return NULL;
    if (!json_is_object(setup))
        return "'setup' must be a mapping";
    const char *bad = unknown_key(setup, setup_keys);
    if (bad) {
        snprintf(msg, msglen, "unknown key '%s' in setup", bad);
        return msg;
    }
    aa_error *err = aa_error_new();
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(setup, "sessions"), i, s) {
        if (!json_is_object(s) || (bad = unknown_key(s, session_keys))) {
            snprintf(msg, msglen, "setup session %zu: %s%s%s", i + 1,
                     bad ? "unknown key '" : "must be a mapping",
                     bad ? bad : "", bad ? "'" : "");
            aa_error_free(err);
            return msg;
        }
        json_t *dur = json_object_get(s, "duration");
        aa_session out;
        int rc = aa_session_create(
            e, jstr(s, "agent"), jstr(s, "user"), jstr(s, "scope"),
            json_is_integer(dur) ? json_integer_value(dur)
                                 : AA_DURATION_DEFAULT,
            &out, err);
        if (rc != AA_OK) {
            const aa_diag *d = aa_error_get(err, 0);
            snprintf(msg, msglen, "setup session %zu: %s", i + 1,
                     d ? d->message : aa_strerror(rc));
            aa_error_free(err);
            return msg;
        }
        if (json_is_true(json_object_get(s, "revoked")))
            aa_session_revoke(e, out.session_id, NULL, err);
        if (*nnames < 64) {
            names[*nnames].name = jstr(s, "name") ? jstr(s, "name") : "";
            memcpy(names[*nnames].id, out.session_id, 37);
            (*nnames)++;
        }
        aa_session_clear(&out);
    }
    json_array_foreach(json_object_get(setup, "delegations"), i, s) {
        if (!json_is_object(s) || (bad = unknown_key(s, delegation_keys))) {
            snprintf(msg, msglen, "setup delegation %zu: %s%s%s", i + 1,
                     bad ? "unknown key '" : "must be a mapping",
                     bad ? bad : "", bad ? "'" : "");
            aa_error_free(err);
            return msg;
        }
        json_t *acts = json_object_get(s, "actions");
        const char *list[64];
        size_t n = 0, k;
        json_t *a;
        if (json_is_string(acts))
            list[n++] = json_string_value(acts);
        json_array_foreach(acts, k, a) if (n < 64 && json_is_string(a))
            list[n++] = json_string_value(a);
        json_t *dur = json_object_get(s, "duration");
        aa_delegation out;
        int rc = aa_delegation_create(
            e, jstr(s, "from_user"), jstr(s, "to_agent"), list, n,
            json_is_integer(dur) ? json_integer_value(dur)
                                 : AA_DURATION_DEFAULT,
            jstr(s, "reason"), &out, err);
        if (rc != AA_OK) {
            const aa_diag *d = aa_error_get(err, 0);
            snprintf(msg, msglen, "setup delegation %zu refused: %s", i + 1,
                     d ? d->message : aa_strerror(rc));
            aa_error_free(err);
            return msg;
        }
        if (json_is_true(json_object_get(s, "revoked")))
            aa_delegation_revoke(e, out.delegation_id, NULL, err);
        aa_delegation_clear(&out);
    }
    aa_error_free(err);
    return NULL;
}

/* Runs one case; returns true when it passed. Prints failures. */
static bool run_case(const cli_ctx *ctx, aa_policy *policy, const char *file,
                     json_t *c, size_t idx, json_t *results) {
    char msg[1024] = "";
    const char *name = jstr(c, "name");
    char fallback[32];
    if (!name) {
        snprintf(fallback, sizeof fallback, "case %zu", idx + 1);
        name = fallback;
    }
    int line = line_of(c);
    json_t *req = json_object_get(c, "request"),
           *exp = json_object_get(c, "expect");
    const char *bad = NULL;
    const char *problem = NULL;
    if (!json_is_object(c))
        problem = "a test case must be a mapping";
    else if ((bad = unknown_key(c, case_keys)))
        snprintf(msg, sizeof msg, "unknown key '%s' in test case", bad),
            problem = msg;
    else if (!json_is_object(req))
        problem = "'request' (a mapping) is required";
    else if ((bad = unknown_key(req, request_keys)))
        snprintf(msg, sizeof msg, "unknown key '%s' in request", bad),
            problem = msg;
    else if (!json_is_object(exp) || json_object_size(exp) < 2)
        problem = "'expect' (a mapping with at least one of allowed, tier, "
                  "approval_policy, reason, requires_approval) is required";
    else if ((bad = unknown_key(exp, expect_keys)))
        snprintf(msg, sizeof msg, "unknown key '%s' in expect", bad),
            problem = msg;

    aa_store *store = NULL;
    aa_engine *engine = NULL;
    aa_decision *d = NULL;
    aa_meta meta[64];
    bool passed = false;
    char failures[2048] = "";
    if (!problem) {
        aa_error *err = aa_error_new();
        aa_engine_options o = {0};
        if (aa_store_open_memory(&store, err) == AA_OK) {
            o.store = store;
            o.audit_mode = AA_AUDIT_OFF;
            if (aa_engine_new(policy, &o, &engine, err) != AA_OK)
                problem = "cannot create the engine";
        } else {
            problem = "cannot create the in-memory store";
        }
        aa_error_free(err);
    }
    named_session names[64];
    size_t nnames = 0;
    if (!problem)
        problem = setup_state(engine, json_object_get(c, "setup"), names,
                              &nnames, msg, sizeof msg);
    if (!problem) {
        aa_request r = {
            .agent = jstr(req, "agent"),
            .user = jstr(req, "user"),
            .action = jstr(req, "action"),
            .resource = jstr(req, "resource"),
            .scope = jstr(req, "scope"),
            .session_id = jstr(req, "session_id"),
            .target_agent = jstr(req, "target_agent"),
        };
        for (size_t k = 0; r.session_id && k < nnames; k++)
            if (strcmp(names[k].name, r.session_id) == 0)
                r.session_id = names[k].id;
        const char *mk;
        json_t *mv;
        size_t nm = 0;
        json_object_foreach(json_object_get(req, "metadata"), mk, mv) {
            if (strcmp(mk, "__line__") == 0 || nm >= 64)
                continue;
            aa_meta *m = &meta[nm++];
            memset(m, 0, sizeof *m);
            m->key = mk;
            if (json_is_string(mv))
                m->type = AA_VALUE_STRING, m->string = json_string_value(mv);
            else if (json_is_number(mv))
                m->type = AA_VALUE_NUMBER, m->number = json_number_value(mv);
            else if (json_is_boolean(mv))
                m->type = AA_VALUE_BOOL, m->boolean = json_is_true(mv);
            else
                m->type = AA_VALUE_NULL;
        }
        r.metadata = meta;
        r.metadata_count = nm;
        d = aa_decision_new();
        aa_decision_set_explain(d, 1);
        aa_authorize(engine, &r, d);

        passed = true;
        size_t used = 0;
#define MISMATCH(...)                                                          \
    do {                                                                       \
        passed = false;                                                        \
        used += (size_t)snprintf(                                              \
            failures + used,                                                   \
            used < sizeof failures ? sizeof failures - used : 0, __VA_ARGS__); \
        if (used > sizeof failures)                                            \
            used = sizeof failures;                                            \
    } while (0)
        json_t *v;
        char want[256];
        if ((v = json_object_get(exp, "allowed"))) {
            if (!json_is_boolean(v) ||
                json_is_true(v) != (aa_decision_allowed(d) != 0)) {
                scalar_text(v, want, sizeof want);
                MISMATCH("%sallowed: expected %s, got %s", used ? "; " : "",
                         want, aa_decision_allowed(d) ? "true" : "false");
            }
        }
        if ((v = json_object_get(exp, "requires_approval"))) {
            if (!json_is_boolean(v) ||
                json_is_true(v) != (aa_decision_requires_approval(d) != 0)) {
                scalar_text(v, want, sizeof want);
                MISMATCH("%srequires_approval: expected %s, got %s",
                         used ? "; " : "", want,
                         aa_decision_requires_approval(d) ? "true" : "false");
            }
        }
        if ((v = json_object_get(exp, "tier"))) {
            const char *got = aa_tier_name(aa_decision_tier(d));
            if (!json_is_string(v) || strcmp(json_string_value(v), got) != 0) {
                scalar_text(v, want, sizeof want);
                MISMATCH("%stier: expected %s, got '%s'", used ? "; " : "",
                         want, got);
            }
        }
        if ((v = json_object_get(exp, "approval_policy"))) {
            const char *got = aa_decision_approval_policy(d);
            const char *w = json_is_null(v) ? "" : json_string_value(v);
            if (!w || strcmp(w, got) != 0) {
                scalar_text(v, want, sizeof want);
                MISMATCH("%sapproval_policy: expected %s, got '%s'",
                         used ? "; " : "", want, got);
            }
        }
        if ((v = json_object_get(exp, "reason"))) {
            const char *w = json_string_value(v);
            if (!w || !strstr(aa_decision_reason(d), w)) {
                scalar_text(v, want, sizeof want);
                MISMATCH("%sreason: expected to contain %s, got '%s'",
                         used ? "; " : "", want, aa_decision_reason(d));
            }
        }
#undef MISMATCH
    }

    if (ctx->json) {
        json_t *o = json_object();
        json_object_set_new(o, "file", cli_jstr(file));
        json_object_set_new(o, "line", json_integer(line));
        json_object_set_new(o, "name", cli_jstr(name));
        json_object_set_new(o, "passed", json_boolean(passed));
        if (problem)
            json_object_set_new(o, "error", cli_jstr(problem));
        else if (!passed)
            json_object_set_new(o, "mismatch", cli_jstr(failures));
        if (d)
            json_object_set_new(o, "decision", cli_decision_json(d, !passed));
        json_array_append_new(results, o);
    } else if (problem) {
        printf("%sERROR%s %s:%d %s: %s\n", cli_red(ctx), cli_reset(ctx), file,
               line, name, problem);
    } else if (!passed) {
        printf("%sFAIL%s  %s:%d %s: %s\n", cli_red(ctx), cli_reset(ctx), file,
               line, name, failures);
        printf("      reason: %s\n", aa_decision_reason(d));
        for (size_t k = 0; k < aa_decision_trace_count(d); k++) {
            const aa_trace_step *s = aa_decision_trace_get(d, k);
            printf("      %s %-16s %s\n",
                   s->outcome > 0   ? "+"
                   : s->outcome < 0 ? "x"
                                    : "-",
                   s->step, s->detail);
        }
    } else if (cli_opt(ctx, "verbose")->set) {
        printf("%sok%s    %s:%d %s\n", cli_green(ctx), cli_reset(ctx), file,
               line, name);
    }
    aa_decision_free(d);
    aa_engine_free(engine);
    aa_store_free(store);
    return passed;
}

static aa_policy *load_for(const cli_ctx *ctx, const char *file, json_t *root) {
    const char *rel = jstr(root, "policy");
    char *path = NULL;
    if (rel && rel[0] != '/') {
        char *copy = strdup(file);
        const char *dir = dirname(copy);
        size_t n = strlen(dir) + strlen(rel) + 2;
        path = malloc(n);
        snprintf(path, n, "%s/%s", dir, rel);
        free(copy);
    } else {
        path = strdup(rel ? rel : ctx->config_path);
    }
    cli_ctx sub = *ctx;
    sub.config_path = path;
    aa_policy *p = cli_load_policy(&sub);
    free(path);
    return p;
}

static int run_file(const cli_ctx *ctx, const char *file, counts *total,
                    json_t *results) {
    char msg[1024];
    json_t *root = yaml_json_load(file, msg, sizeof msg);
    if (!root)
        return cli_error("%s", msg);
    const char *bad;
    json_t *tests = json_object_get(root, "tests");
    if (!json_is_object(root) || (bad = unknown_key(root, file_keys)) ||
        !json_is_array(tests)) {
        if (json_is_object(root) && (bad = unknown_key(root, file_keys)))
            cli_error("%s: unknown key '%s' (expected 'policy' and 'tests')",
                      file, bad);
        else
            cli_error("%s: expected a mapping with a 'tests' list", file);
        json_decref(root);
        return EXIT_FAIL;
    }
    aa_policy *p = load_for(ctx, file, root);
    if (!p) {
        json_decref(root);
        return EXIT_FAIL;
    }
    size_t i;
    json_t *c;
    json_array_foreach(tests, i, c) {
        if (run_case(ctx, p, file, c, i, results))
            total->passed++;
        else
            total->failed++;
    }
    aa_policy_free(p);
    json_decref(root);
    return EXIT_OK;
}

static int run_test(cli_ctx *ctx) {
    if (ctx->nargs == 0)
        return cli_usage_error(ctx, "name at least one test file");
    counts total = {0, 0};
    json_t *results = json_array();
    int rc = EXIT_OK;
    size_t not_run = 0; /* files that could not be read or loaded */
    for (size_t i = 0; i < ctx->nargs; i++)
        if (run_file(ctx, ctx->args[i], &total, results) != EXIT_OK)
            rc = EXIT_FAIL, not_run++;
    if (ctx->json && not_run) {
        json_decref(results); /* the error object says what could not run */
    } else if (ctx->json) {
        json_t *o = json_object();
        json_object_set_new(o, "passed",
                            json_integer((json_int_t)total.passed));
        json_object_set_new(o, "failed",
                            json_integer((json_int_t)total.failed));
        json_object_set_new(o, "cases", results);
        cli_print_json(o);
    } else {
        json_decref(results);
        if (not_run) /* never a plain "0 passed, 0 failed" */
            printf("Not run: %zu of %zu test file%s (errors above); cases "
                   "passed: %zu, failed: %zu\n",
                   not_run, ctx->nargs, ctx->nargs == 1 ? "" : "s",
                   total.passed, total.failed);
        else
            printf("%zu passed, %zu failed\n", total.passed, total.failed);
    }
    return rc != EXIT_OK || total.failed ? EXIT_FAIL : EXIT_OK;
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
