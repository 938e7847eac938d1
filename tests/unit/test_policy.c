/* test_policy.c - the compiled structure of the example policies, and the
 * loader's behaviour on inputs that are not a policy file at all. */
#include "testutil.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "policy.h"
#include "yaml_doc.h"

static aa_policy *load_example(const char *name) {
    char rel[128];
    snprintf(rel, sizeof rel, "examples/policies/%s", name);
    char *path = tu_path(rel);
    aa_error *err = aa_error_new();
    aa_policy *p = NULL;
    int rc = aa_policy_load_file(path, NULL, &p, err);
    if (rc != AA_OK) {
        char *t = tu_error_text(err);
        print_error("%s", t);
        free(t);
    }
    assert_int_equal(rc, AA_OK);
    assert_int_equal(aa_error_count(err), 0);
    aa_error_free(err);
    free(path);
    return p;
}

static const aa__role *role(const aa_policy *p, const char *name) {
    const aa__role *r = aa__map_get(&p->role_by_name, name, strlen(name));
    assert_non_null(r);
    return r;
}

static const aa__profile *profile(const aa_policy *p, const char *name) {
    const aa__profile *pr =
        aa__policy_profile(p, name, strlen(name), aa__hash(name, strlen(name)));
    assert_non_null(pr);
    return pr;
}

/* The effective entry that decides `action`, or NULL. */
static const aa__patset_entry *allows(const aa__profile *pr,
                                      const char *action) {
    return aa__effective_match(pr, action, strlen(action),
                               aa__hash(action, strlen(action)));
}

static bool matches(const aa__patset *s, const char *str) {
    return aa__patset_match(s, str, strlen(str)) != NULL;
}

/* ---- enterprise.yaml ----------------------------------------------------- */

static void test_enterprise_counts_and_metadata(void **state) {
    (void)state;
    aa_policy *p = load_example("enterprise.yaml");
    assert_int_equal(aa_policy_role_count(p), 4);
    assert_int_equal(aa_policy_profile_count(p), 4);
    assert_int_equal(aa_policy_approval_count(p), 4);
    assert_int_equal(aa_policy_a2a_count(p), 3);
    assert_string_equal(aa_policy_name(p), "acme-enterprise");
    assert_string_equal(aa_policy_version(p), "1.0");
    assert_string_equal(p->author, "platform-security@acme.example");
    assert_string_equal(p->description,
                        "Agents of the Acme engineering and finance teams");
    assert_non_null(strstr(p->file, "examples/policies/enterprise.yaml"));

    assert_int_equal(p->nvariables, 3);
    assert_string_equal(p->variables[0].name, "production_envs");
    assert_int_equal(p->variables[0].value.type, AA__V_LIST);
    assert_int_equal(p->variables[0].value.u.list.n, 2);
    const aa__value *it = p->variables[0].value.u.list.items;
    assert_int_equal(it[1].type, AA__V_STR);
    assert_int_equal(it[1].u.s.len, 10);
    assert_memory_equal(it[1].u.s.p, "production", 10);
    assert_string_equal(p->variables[1].name, "finance_limit");
    assert_int_equal(p->variables[1].value.type, AA__V_NUM);
    assert_true(p->variables[1].value.u.n == 10000.0);
    aa_policy_free(p);
}

static void test_enterprise_roles(void **state) {
    (void)state;
    aa_policy *p = load_example("enterprise.yaml");
    const aa__role *viewer = role(p, "viewer");
    const aa__role *contrib = role(p, "contributor");
    const aa__role *eng = role(p, "engineer");
    const aa__role *fin = role(p, "finance");

    assert_int_equal(viewer->parent, -1);
    assert_int_equal(viewer->depth, 0);
    assert_null(viewer->extends);
    assert_string_equal(contrib->extends, "viewer");
    assert_ptr_equal(&p->roles[contrib->parent], viewer);
    assert_int_equal(contrib->depth, 1);
    assert_ptr_equal(&p->roles[eng->parent], contrib);
    assert_int_equal(eng->depth, 2);
    assert_ptr_equal(&p->roles[fin->parent], viewer);
    assert_int_equal(fin->depth, 1);

    /* The chain engineer -> contributor -> viewer, walked by parent. */
    const char *want[] = {"engineer", "contributor", "viewer"};
    size_t k = 0;
    for (int r = (int)(eng - p->roles); r >= 0; r = p->roles[r].parent)
        assert_string_equal(p->roles[r].name, want[k++]);
    assert_int_equal(k, 3);

    /* Own actions as written, with their positions. */
    assert_int_equal(viewer->actions.count, 3);
    assert_string_equal(viewer->actions.items[2], "list");
    assert_int_equal(viewer->actions.pos[0].line, 19);
    assert_int_equal(viewer->actions.pos[0].col, 15);
    assert_int_equal(viewer->pos.line, 17);
    assert_int_equal(viewer->pos.col, 3);
    assert_string_equal(eng->description, "Builds and ships code");
    aa_policy_free(p);
}

static void test_enterprise_profiles(void **state) {
    (void)state;
    aa_policy *p = load_example("enterprise.yaml");
    const aa__profile *cop = profile(p, "copilot");
    assert_string_equal(cop->role_name, "engineer");
    assert_ptr_equal(&p->roles[cop->role], role(p, "engineer"));
    assert_int_equal(cop->max_session_duration, 1800);
    assert_int_equal(cop->default_tier, AA_TIER_AUTONOMOUS);
    assert_int_equal(cop->pos.line, 34);

    /* effective = engineer's, contributor's, viewer's actions, then allow. */
    const char *want[] = {
        "deploy:*",        "run:tests", "write:code",
        "write:documents", "comment:*", "read:*",
        "search:*",        "list",      "read:secrets-metadata"};
    const int want_role[] = {2, 2, 2, 1, 1, 0, 0, 0, -1};
    const int want_index[] = {0, 1, 2, 0, 1, 0, 1, 2, 0};
    assert_int_equal(aa__effective_count(cop), 9);
    for (size_t i = 0; i < 9; i++) {
        const aa__patset_entry *e = aa__effective_entry(cop, i);
        aa__origin o = aa__effective_origin(e);
        assert_string_equal(e->pat.text, want[i]);
        assert_int_equal(o.role, want_role[i]);
        assert_int_equal(o.index, want_index[i]);
    }
    /* Exact names are hashed, globs are not (in a set too large to scan:
     * the allow list's one entry is simply compared). */
    assert_int_equal(cop->chain->exact.count, 4);
    assert_int_equal(cop->chain->nwild, 4);
    assert_int_equal(cop->allowset.exact.count, 0);

    const aa__patset_entry *e = allows(cop, "read:documents");
    assert_non_null(e);
    assert_string_equal(e->pat.text, "read:*");
    assert_int_equal(aa__effective_origin(e).role, 0);
    e = allows(cop, "read:secrets-metadata"); /* read:* comes first */
    assert_string_equal(e->pat.text, "read:*");
    e = allows(cop, "list");
    assert_int_equal(e->pat.kind, AA__PAT_EXACT);
    assert_int_equal(aa__effective_origin(e).index, 2);
    assert_non_null(allows(cop, "deploy:prod-db")); /* deny is separate */
    assert_null(allows(cop, "pay:invoice"));

    assert_true(matches(&cop->denied, "deploy:prod-db"));
    assert_true(matches(&cop->denied, "delete:repo"));
    assert_false(matches(&cop->denied, "deploy:staging"));
    assert_null(cop->denied.entries[0].tag);
    assert_true(matches(&cop->scopeset, "project:x"));
    assert_true(matches(&cop->scopeset, "repo:y/z"));
    assert_false(matches(&cop->scopeset, "workspace:research"));

    const aa__profile *bill = profile(p, "billing-agent");
    assert_int_equal(bill->default_tier, AA_TIER_SOFT);
    assert_int_equal(bill->max_session_duration, 900);
    assert_int_equal(aa__effective_count(bill), 5); /* finance 2 + viewer 3 */
    assert_int_equal(bill->scopes.count, 0);
    assert_int_equal(bill->scopeset.count, 0);

    const aa__profile *rb = profile(p, "research-bot");
    assert_int_equal(rb->max_session_duration, 3600); /* default */
    assert_true(matches(&rb->denied, "write:anything"));

    assert_null(aa__policy_profile(p, "nobody", 6, aa__hash("nobody", 6)));
    aa_policy_free(p);
}

static void test_enterprise_rules(void **state) {
    (void)state;
    aa_policy *p = load_example("enterprise.yaml");
    const char *names[] = {"production-deploy", "large-payment", "refunds",
                           "code-changes"};
    const aa_tier tiers[] = {AA_TIER_STRONG, AA_TIER_STRONG, AA_TIER_SOFT,
                             AA_TIER_SOFT};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(p->approvals[i].name, names[i]);
        assert_int_equal(p->approvals[i].tier, tiers[i]);
        assert_non_null(p->approvals[i].cond);
        assert_false(aa__expr_is_empty(p->approvals[i].cond));
    }
    assert_string_equal(p->approvals[2].condition,
                        "action starts_with \"refund:\"");
    assert_int_equal(p->approvals[0].pos.line, 57);
    assert_int_equal(p->approvals[0].pos.col, 5);
    assert_int_equal(p->approvals[0].cond_pos.line, 59);
    assert_int_equal(p->approvals[0].cond_pos.col, 16);
    assert_string_equal(p->approvals[1].description, "");

    assert_true(p->delegation.enabled);
    assert_int_equal(p->delegation.default_duration, 3600);
    assert_int_equal(p->delegation.max_duration, 86400);
    assert_int_equal(p->delegation.nrules, 2);
    const aa__drule *r0 = &p->delegation.rules[0],
                    *r1 = &p->delegation.rules[1];
    assert_string_equal(r0->name, "temporary-deploys");
    assert_int_equal(r0->max_duration, 28800);
    assert_false(r0->require_reason);
    assert_true(matches(&r0->allowed, "deploy:prod"));
    assert_false(matches(&r0->allowed, "pay:invoice"));
    assert_string_equal(r1->name, "finance-approvals");
    assert_int_equal(r1->max_duration, 3600);
    assert_true(r1->require_reason);
    assert_int_equal(r1->allowed_actions.count, 4);
    assert_true(matches(&r1->allowed, "pay:invoice"));

    assert_false(p->a2a.default_allow);
    const aa__a2a *a = p->a2a.policies;
    assert_string_equal(a[0].name, "orchestrator-delegates");
    assert_true(a[0].allow);
    assert_int_equal(a[0].to_pat.kind, AA__PAT_ANY);
    assert_true(aa__pattern_match(&a[0].from_pat, "orchestrator", 12));
    assert_false(a[1].allow);
    assert_string_equal(a[1].to_agent, "billing-agent");
    assert_true(aa__pattern_match(&a[1].action_pat, "pay:x", 5));
    assert_true(aa__expr_is_empty(a[1].cond)); /* no condition: always */
    assert_string_equal(a[2].condition,
                        "metadata.classification != \"secret\"");
    assert_false(aa__expr_is_empty(a[2].cond));

    assert_int_equal(p->sessions.default_duration, 3600);
    assert_int_equal(p->sessions.max_duration, 28800);
    assert_int_equal(p->sessions.cleanup_interval, 300);
    assert_true(aa_policy_audit_enabled(p));
    assert_string_equal(aa_policy_audit_path(p), ".agent_auth/audit.jsonl");
    assert_int_equal(p->audit.retention_days, 90);
    assert_int_equal(p->audit.fsync, AA__FSYNC_NEVER);
    assert_false(p->audit.on_failure_allow);
    assert_string_equal(aa_policy_state_path(p), ".agent_auth/state.db");
    aa_policy_free(p);
}

static void test_enterprise_describe_json(void **state) {
    (void)state;
    aa_policy *p = load_example("enterprise.yaml");
    char *text = aa_policy_describe_json(p);
    assert_non_null(text);
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "version")),
                        "1.0");
    json_t *eng = json_array_get(json_object_get(j, "roles"), 2);
    assert_string_equal(json_string_value(json_object_get(eng, "name")),
                        "engineer");
    json_t *chain = json_object_get(eng, "chain");
    assert_int_equal(json_array_size(chain), 3);
    assert_string_equal(json_string_value(json_array_get(chain, 2)), "viewer");
    assert_int_equal(json_array_size(json_object_get(eng, "actions")), 3);
    assert_int_equal(json_array_size(json_object_get(eng, "resolved_actions")),
                     8);
    assert_true(json_is_null(json_object_get(
        json_array_get(json_object_get(j, "roles"), 0), "extends")));

    json_t *cop = json_array_get(json_object_get(j, "profiles"), 0);
    json_t *eff = json_object_get(cop, "effective");
    assert_int_equal(json_array_size(eff), 9);
    json_t *last = json_array_get(eff, 8);
    assert_string_equal(json_string_value(json_object_get(last, "pattern")),
                        "read:secrets-metadata");
    assert_string_equal(json_string_value(json_object_get(last, "from")),
                        "allow");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(eff, 0), "from")),
        "role:engineer");
    assert_int_equal(
        json_integer_value(json_object_get(cop, "max_session_duration")), 1800);

    json_t *vars = json_object_get(j, "variables");
    assert_int_equal(json_integer_value(json_object_get(vars, "finance_limit")),
                     10000);
    json_t *audit = json_object_get(j, "audit");
    assert_string_equal(json_string_value(json_object_get(audit, "fsync")),
                        "never");
    assert_string_equal(json_string_value(json_object_get(audit, "on_failure")),
                        "deny");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "state"), "path")),
        ".agent_auth/state.db");
    json_t *a2a = json_object_get(j, "a2a");
    assert_string_equal(json_string_value(json_object_get(a2a, "default")),
                        "deny");
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(a2a, "policies"), 1), "effect")),
        "deny");
    json_t *rules = json_object_get(json_object_get(j, "delegation"), "rules");
    assert_true(json_is_true(
        json_object_get(json_array_get(rules, 1), "require_reason")));
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(j, "approval_policies"), 0),
            "tier")),
        "strong");
    json_decref(j);
    free(text);
    aa_policy_free(p);
}

/* ---- minimal.yaml: the defaults ------------------------------------------ */

static void test_minimal_defaults(void **state) {
    (void)state;
    aa_policy *p = load_example("minimal.yaml");
    assert_int_equal(aa_policy_role_count(p), 2);
    assert_int_equal(aa_policy_profile_count(p), 1);
    assert_int_equal(aa_policy_approval_count(p), 1);
    assert_int_equal(aa_policy_a2a_count(p), 0);
    assert_string_equal(aa_policy_name(p), "");
    assert_string_equal(p->author, "");
    assert_int_equal(p->nvariables, 0);

    const aa__profile *a = profile(p, "assistant");
    assert_int_equal(a->max_session_duration, 3600);
    assert_int_equal(a->default_tier, AA_TIER_AUTONOMOUS);
    assert_int_equal(a->scopes.count, 0);
    assert_string_equal(a->description, "");
    assert_int_equal(aa__effective_count(a), 2);
    assert_string_equal(aa__effective_entry(a, 0)->pat.text, "write");
    assert_string_equal(aa__effective_entry(a, 1)->pat.text, "read");
    assert_int_equal(aa__effective_origin(aa__effective_entry(a, 1)).role, 0);
    assert_int_equal(a->chain->exact.count, 0); /* two entries: scanned */
    assert_int_equal(a->chain->nwild, 0);

    assert_int_equal(p->approvals[0].tier, AA_TIER_STRONG);
    assert_true(p->delegation.enabled);
    assert_int_equal(p->delegation.default_duration, 3600);
    assert_int_equal(p->delegation.max_duration, 86400);
    assert_int_equal(p->delegation.nrules, 0);
    assert_false(p->a2a.default_allow);
    assert_int_equal(p->sessions.default_duration, 3600);
    assert_int_equal(p->sessions.max_duration, 86400);
    assert_int_equal(p->sessions.cleanup_interval, 300);
    assert_true(p->audit.enabled);
    assert_string_equal(p->audit.path, ".agent_auth/audit.jsonl");
    assert_int_equal(p->audit.retention_days, 90);
    assert_int_equal(p->audit.fsync, AA__FSYNC_NEVER);
    assert_false(p->audit.on_failure_allow);
    assert_string_equal(p->state_path, ".agent_auth/state.db");
    aa_policy_free(p);
}

/* ---- loading from memory ------------------------------------------------- */

typedef struct fake_env {
    int calls;
    char last[64];
} fake_env;

static const char *fake_getenv(void *ud, const char *name) {
    fake_env *e = ud;
    e->calls++;
    snprintf(e->last, sizeof e->last, "%s", name);
    if (strcmp(name, "LOGDIR") == 0)
        return "/var/log/agents";
    if (strcmp(name, "ROLE") == 0)
        return "viewer";
    if (strcmp(name, "EMPTY") == 0)
        return "";
    if (strcmp(name, "LIMIT") == 0)
        return "250";
    return NULL;
}

static int load_text(const char *text, const aa_load_options *o, aa_policy **p,
                     aa_error *err) {
    return aa_policy_load_buffer(text, strlen(text), "mem.yaml", o, p, err);
}

static void test_interpolation(void **state) {
    (void)state;
    const char *text = "version: \"1.0\"\n"
                       "variables:\n"
                       "  limit: ${LIMIT}\n"
                       "  dirs: [\"${LOGDIR}\", x]\n"
                       "  role: ${ROLE}\n"
                       "roles:\n"
                       "  viewer: {actions: [\"read:${ROLE}\"]}\n"
                       "profiles:\n"
                       "  bot: {role: \"${ROLE}\", description: "
                       "\"a${EMPTY}b ${UNSET} ${LOGDIR\"}\n"
                       "approval_policies:\n"
                       "  - name: p\n"
                       "    condition: 'user == $role and x in $dirs'\n"
                       "audit:\n"
                       "  path: ${LOGDIR}/audit.jsonl\n";
    fake_env env = {0};
    aa_load_options o = {.getenv_fn = fake_getenv, .getenv_userdata = &env};
    aa_error *err = aa_error_new();
    aa_policy *p = NULL;
    assert_int_equal(load_text(text, &o, &p, err), AA_OK);
    assert_int_equal(aa_error_count(err), 0);
    assert_true(env.calls >= 7);

    const aa__profile *bot = profile(p, "bot");
    assert_string_equal(bot->role_name, "viewer");
    assert_int_equal(bot->role, 0);
    assert_string_equal(bot->description, "ab ${UNSET} ${LOGDIR");
    assert_string_equal(p->roles[0].actions.items[0], "read:viewer");
    assert_string_equal(aa_policy_audit_path(p), "/var/log/agents/audit.jsonl");
    assert_string_equal(aa_policy_state_path(p), "/var/log/agents/state.db");
    assert_string_equal(p->approvals[0].condition,
                        "user == $role and x in $dirs");
    /* A plain ${LIMIT} is a string: the type was fixed before
     * interpolation. */
    assert_int_equal(p->variables[0].value.type, AA__V_STR);
    assert_memory_equal(p->variables[0].value.u.s.p, "250", 3);
    const aa__value *dirs = p->variables[1].value.u.list.items;
    assert_memory_equal(dirs[0].u.s.p, "/var/log/agents", 15);
    aa_policy_free(p);

    /* Without a getenv_fn, the process environment is used. */
    setenv("AA_TEST_POLICY_DIR", "/tmp/aa-env", 1);
    aa_error_clear(err);
    assert_int_equal(load_text("audit:\n  path: ${AA_TEST_POLICY_DIR}/a.log\n",
                               NULL, &p, err),
                     AA_OK);
    assert_string_equal(aa_policy_audit_path(p), "/tmp/aa-env/a.log");
    assert_string_equal(aa_policy_state_path(p), "/tmp/aa-env/state.db");
    aa_policy_free(p);
    unsetenv("AA_TEST_POLICY_DIR");
    aa_error_free(err);
}

static void test_strict_mode(void **state) {
    (void)state;
    const char *text = "profiles:\n"
                       "  bot:\n"
                       "    deny_list: [x]\n";
    aa_error *err = aa_error_new();
    aa_policy *p = NULL;
    aa_load_options o = {0};
    assert_int_equal(load_text(text, &o, &p, err), AA_OK);
    assert_non_null(p);
    assert_int_equal(aa_error_count_severity(err, AA_SEVERITY_WARNING), 1);
    assert_int_equal(aa_error_count_severity(err, AA_SEVERITY_ERROR), 0);
    const aa_diag *d = aa_error_get(err, 0);
    assert_int_equal(d->line, 3);
    assert_int_equal(d->column, 5);
    assert_string_equal(d->file, "mem.yaml");
    assert_non_null(strstr(d->message, "did you mean 'deny'?"));
    aa_policy_free(p);

    aa_error_clear(err);
    o.strict = 1;
    p = (aa_policy *)&o;
    assert_int_equal(load_text(text, &o, &p, err), AA_EPOLICY);
    assert_null(p);
    assert_int_equal(aa_error_count_severity(err, AA_SEVERITY_ERROR), 1);
    assert_int_equal(aa_error_count_severity(err, AA_SEVERITY_WARNING), 0);
    aa_error_free(err);
}

static void test_state_path_rules(void **state) {
    (void)state;
    static const struct {
        const char *yaml, *state;
    } cases[] = {
        {"audit: {path: audit.jsonl}\n", "state.db"},
        {"audit: {path: /audit.jsonl}\n", "/state.db"},
        {"audit: {path: a/b/c.jsonl}\n", "a/b/state.db"},
        {"audit: {path: a/b/c.jsonl}\nstate: {path: s.db}\n", "s.db"},
        {"state: {}\n", ".agent_auth/state.db"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        aa_policy *p = NULL;
        assert_int_equal(load_text(cases[i].yaml, NULL, &p, NULL), AA_OK);
        assert_string_equal(aa_policy_state_path(p), cases[i].state);
        aa_policy_free(p);
    }
}

static void test_merge_keys(void **state) {
    (void)state;
    char *path = tu_path("tests/data/policy/clean_anchors_merge.yaml");
    aa_policy *p = NULL;
    assert_int_equal(aa_policy_load_file(path, NULL, &p, NULL), AA_OK);
    const aa__profile *clone = profile(p, "clone");
    assert_string_equal(clone->role_name, "viewer");
    assert_int_equal(clone->max_session_duration, 900);
    assert_int_equal(clone->deny.count, 1);
    assert_string_equal(clone->allow.items[0], "export");
    const aa__profile *c2 = profile(p, "clone2");
    assert_string_equal(c2->role_name, "auditor"); /* own key wins */
    assert_int_equal(c2->deny.count, 1);
    assert_int_equal(role(p, "auditor")->actions.count, 2);
    aa_policy_free(p);
    free(path);
}

/* ---- inputs that are not a policy ---------------------------------------- */

static void expect_one_error(int rc, int want, aa_policy *p, aa_error *err,
                             const char *fragment) {
    char *t = tu_error_text(err);
    if (rc != want || aa_error_count(err) != 1 || !strstr(t, fragment))
        print_error("got %s:\n%s", aa_status_name(rc), t);
    assert_int_equal(rc, want);
    assert_null(p);
    assert_int_equal(aa_error_count(err), 1);
    assert_non_null(strstr(t, fragment));
    free(t);
}

static void test_io_errors(void **state) {
    (void)state;
    aa_error *err = aa_error_new();
    aa_policy *p = NULL;
    int rc = aa_policy_load_file("/nonexistent/agent_auth.yaml", NULL, &p, err);
    expect_one_error(rc, AA_EIO, p, err, "No such file or directory");
    assert_string_equal(aa_error_get(err, 0)->file,
                        "/nonexistent/agent_auth.yaml");

    char *dir = tu_tmpdir();
    aa_error_clear(err);
    rc = aa_policy_load_file(dir, NULL, &p, err);
    expect_one_error(rc, AA_EIO, p, err, "directory");

    /* Over max_bytes: refused before parsing (this is not even YAML). */
    char file[512];
    snprintf(file, sizeof file, "%s/big.yaml", dir);
    char *big = malloc(5001);
    memset(big, '[', 5000);
    big[5000] = 0;
    assert_int_equal(tu_write_file(file, big), 0);
    aa_load_options o = {.max_bytes = 4096};
    aa_error_clear(err);
    rc = aa_policy_load_file(file, &o, &p, err);
    expect_one_error(rc, AA_ELIMIT, p, err, "over the limit of 4096 bytes");
    aa_error_clear(err);
    rc = aa_policy_load_buffer(big, 5000, "big", &o, &p, err);
    expect_one_error(rc, AA_ELIMIT, p, err, "over the limit of 4096 bytes");
    free(big);

    /* A file that opens but cannot be read. */
    aa_error_clear(err);
    rc = aa_policy_load_file("/proc/self/mem", NULL, &p, err);
    expect_one_error(rc, AA_EIO, p, err, "cannot read policy file");

    assert_int_equal(aa_policy_load_file(NULL, NULL, &p, NULL), AA_EINVAL);
    assert_int_equal(aa_policy_load_file(file, NULL, NULL, NULL), AA_EINVAL);
    tu_rmdir(dir);
    free(dir);
    aa_error_free(err);
}

static void test_not_a_policy(void **state) {
    (void)state;
    static const struct {
        const char *data;
        size_t len;
        int status;
        const char *fragment;
    } cases[] = {
        {"", 0, AA_EPOLICY, "policy file is empty"},
        {"# nothing\n\n", 11, AA_EPOLICY, "policy file is empty"},
        {"- a\n- b\n", 8, AA_EPOLICY, "must be a mapping"},
        {"42\n", 3, AA_EPOLICY, "not the number 42"},
        {"roles: {}\x00more", 14, AA_EPARSE, "control characters"},
        {"roles: {a\xc3\x28: {}}\n", 17, AA_EPARSE, "UTF-8"},
        {"\x89PNG\r\n\x1a\n\x00\x00", 10, AA_EPARSE, "YAML"},
        {"roles: [\n", 9, AA_EPARSE, "YAML syntax error"},
        {"a: 1\n---\nb: 2\n", 14, AA_EPARSE, "one YAML document"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        aa_error *err = aa_error_new();
        aa_policy *p = NULL;
        int rc = aa_policy_load_buffer(cases[i].data, cases[i].len, "junk",
                                       NULL, &p, err);
        expect_one_error(rc, cases[i].status, p, err, cases[i].fragment);
        aa_error_free(err);
    }
}

static void test_deep_nesting_and_aliases(void **state) {
    (void)state;
    /* 10,000 levels, flow and block style. */
    size_t n = 10000;
    char *flow = malloc(2 * n + 8);
    memcpy(flow, "x: ", 3);
    memset(flow + 3, '[', n);
    memset(flow + 3 + n, ']', n);
    flow[3 + 2 * n] = 0;
    aa_error *err = aa_error_new();
    aa_policy *p = NULL;
    int rc = load_text(flow, NULL, &p, err);
    expect_one_error(rc, AA_ELIMIT, p, err, "nesting is deeper than");
    free(flow);

    aa__buf b;
    aa__buf_init(&b);
    aa__buf_puts(&b, "x:\n");
    for (size_t i = 1; i <= 300; i++) { /* block sequences, one per line */
        for (size_t k = 0; k < i; k++)
            aa__buf_putc(&b, ' ');
        aa__buf_puts(&b, "-\n");
    }
    aa_error_clear(err);
    rc = aa_policy_load_buffer(b.data, b.len, "deep", NULL, &p, err);
    expect_one_error(rc, AA_ELIMIT, p, err, "nesting is deeper than");
    aa__buf_free(&b);

    /* A billion laughs with 30 levels: refused quickly. */
    aa__buf_init(&b);
    aa__buf_puts(&b, "variables:\n  l0: &l0 [lol, lol]\n");
    for (int i = 1; i < 30; i++)
        aa__buf_printf(&b, "  l%d: &l%d [*l%d, *l%d, *l%d, *l%d]\n", i, i,
                       i - 1, i - 1, i - 1, i - 1);
    aa_error_clear(err);
    rc = aa_policy_load_buffer(b.data, b.len, "laughs", NULL, &p, err);
    expect_one_error(rc, AA_ELIMIT, p, err, "aliases expand to more than");
    aa__buf_free(&b);
    aa_error_free(err);
}

static void test_effective_sets_are_bounded(void **state) {
    (void)state;
    /* 2,000 profiles inheriting 2,001 actions each: 4 million patterns. */
    aa__buf b;
    aa__buf_init(&b);
    aa__buf_puts(&b, "roles:\n  big:\n    actions: [");
    for (int i = 0; i <= 2000; i++)
        aa__buf_printf(&b, "%sa%d", i ? ", " : "", i);
    aa__buf_puts(&b, "]\nprofiles:\n");
    for (int i = 0; i < 2000; i++)
        aa__buf_printf(&b, "  p%d: {role: big}\n", i);
    aa_error *err = aa_error_new();
    aa_policy *p = NULL;
    int rc = aa_policy_load_buffer(b.data, b.len, "wide", NULL, &p, err);
    expect_one_error(rc, AA_ELIMIT, p, err, "more than 4000000 patterns");
    aa__buf_free(&b);
    aa_error_free(err);
}

/* ---- effective lists: role chains shared between profiles -------------- */

/* Roles root <- empty (no actions) <- mid <- top, a role with no actions
 * and no parent, and a chain of 12 roles d0 <- d1 <- ... <- d11 that each
 * hold `shared` and `lvl<i>:*`. */
static char *chain_policy(void) {
    aa__buf b;
    aa__buf_init(&b);
    aa__buf_puts(&b, "version: '1.0'\n"
                     "roles:\n"
                     "  root: {actions: [read, 'list:*']}\n"
                     "  empty: {extends: root}\n"
                     "  mid: {extends: empty, actions: ['write:*', read]}\n"
                     "  top: {extends: mid, actions: ['deploy:*']}\n"
                     "  lonely: {description: nothing}\n");
    for (int i = 0; i < 12; i++) {
        aa__buf_printf(&b, "  d%d: {actions: [shared, 'lvl%d:*']", i, i);
        if (i)
            aa__buf_printf(&b, ", extends: d%d", i - 1);
        aa__buf_puts(&b, "}\n");
    }
    aa__buf_puts(&b, "profiles:\n"
                     "  a: {role: top, allow: [report, read, 'deploy:x']}\n"
                     "  b: {role: top}\n"
                     "  c: {allow: ['x:*', y, 'x:1']}\n"
                     "  e: {role: empty, allow: [z]}\n"
                     "  n: {role: lonely}\n"
                     "  deep: {role: d11, allow: [shared, 'lvl0:*']}\n"
                     "  deep2: {role: d11}\n"
                     "  half: {role: d5}\n"
                     "audit: {enabled: false}\n");
    assert_false(b.oom);
    return b.data;
}

/* The effective list as the contract states it, built from the roles'
 * strlists: the role chain's actions (own role first), then allow. */
typedef struct ref_entry {
    const char *text;
    aa__origin o;
} ref_entry;

static size_t reference_list(const aa_policy *p, const aa__profile *pr,
                             ref_entry *out, size_t cap) {
    size_t n = 0;
    for (int r = pr->role; r >= 0; r = p->roles[r].parent)
        for (size_t i = 0; i < p->roles[r].actions.count; i++) {
            assert_true(n < cap);
            out[n++] = (ref_entry){p->roles[r].actions.items[i], {r, (int)i}};
        }
    for (size_t i = 0; i < pr->allow.count; i++) {
        assert_true(n < cap);
        out[n++] = (ref_entry){pr->allow.items[i], {-1, (int)i}};
    }
    return n;
}

/* Every profile's effective list, entry by entry and origin by origin, is
 * the reference list; the entry that matches an action is the first one of
 * that list whose pattern matches it. */
static void check_effective_lists(const aa_policy *p, const char *const *acts,
                                  size_t nacts) {
    ref_entry ref[64];
    for (size_t k = 0; k < p->nprofiles; k++) {
        const aa__profile *pr = &p->profiles[k];
        size_t n = reference_list(p, pr, ref, AA__ARRAY_LEN(ref));
        assert_int_equal(aa__effective_count(pr), n);
        for (size_t i = 0; i < n; i++) {
            const aa__patset_entry *e = aa__effective_entry(pr, i);
            aa__origin o = aa__effective_origin(e);
            assert_string_equal(e->pat.text, ref[i].text);
            assert_int_equal(o.role, ref[i].o.role);
            assert_int_equal(o.index, ref[i].o.index);
        }
        for (size_t a = 0; a < nacts; a++) {
            size_t first = n;
            for (size_t i = 0; i < n && first == n; i++)
                if (aa__glob_match(ref[i].text, strlen(ref[i].text), acts[a],
                                   strlen(acts[a])))
                    first = i;
            const aa__patset_entry *hit = allows(pr, acts[a]);
            if (first == n) {
                assert_null(hit);
                continue;
            }
            assert_non_null(hit);
            assert_ptr_equal(hit, aa__effective_entry(pr, first));
        }
    }
}

static void test_effective_lists(void **state) {
    (void)state;
    char *text = chain_policy();
    aa_error *err = aa_error_new();
    aa_policy *p = NULL;
    assert_int_equal(load_text(text, NULL, &p, err), AA_OK);
    const char *acts[] = {"read",    "list:x", "write:y", "deploy:x", "report",
                          "x:1",     "y",      "z",       "shared",   "lvl0:q",
                          "lvl11:q", "lvl5:q", "lvl6:q",  "nothing",  ""};
    check_effective_lists(p, acts, AA__ARRAY_LEN(acts));

    /* Profiles of one role share its chain set; a chain holds the actions
     * of every role up to the root, own role first. */
    const aa__profile *a = profile(p, "a"), *b = profile(p, "b");
    assert_non_null(a->chain);
    assert_ptr_equal(a->chain, b->chain);
    assert_ptr_equal(profile(p, "deep")->chain, profile(p, "deep2")->chain);
    assert_int_equal(aa__effective_count(a), 8);
    assert_int_equal(aa__effective_count(b), 5);
    assert_string_equal(aa__effective_entry(a, 5)->pat.text, "report");
    /* `read` of mid comes before root's and a's own. */
    aa__origin o = aa__effective_origin(allows(a, "read"));
    assert_int_equal(o.role, (int)(role(p, "mid") - p->roles));
    assert_int_equal(o.index, 1);
    /* An allow entry that a chain entry also covers is never the match. */
    assert_string_equal(allows(a, "deploy:x")->pat.text, "deploy:*");
    o = aa__effective_origin(allows(a, "report"));
    assert_int_equal(o.role, -1);
    assert_int_equal(o.index, 0);
    assert_null(allows(b, "report"));

    /* No role: the allow list alone, in order (`x:*` before `x:1`). */
    const aa__profile *c = profile(p, "c");
    assert_null(c->chain);
    assert_int_equal(aa__effective_count(c), 3);
    o = aa__effective_origin(allows(c, "x:1"));
    assert_int_equal(o.role, -1);
    assert_int_equal(o.index, 0);

    /* A role without actions of its own: its parent's, then allow. */
    const aa__profile *e = profile(p, "e");
    assert_int_equal(aa__effective_count(e), 3);
    assert_string_equal(aa__effective_entry(e, 2)->pat.text, "z");
    /* A role without actions and no parent: nothing. */
    const aa__profile *n = profile(p, "n");
    assert_int_equal(aa__effective_count(n), 0);
    assert_null(allows(n, "read"));

    /* A deep chain: its own role's `shared` first, the root's last. */
    const aa__profile *deep = profile(p, "deep");
    assert_int_equal(aa__effective_count(deep), 26);
    o = aa__effective_origin(allows(deep, "shared"));
    assert_int_equal(o.role, (int)(role(p, "d11") - p->roles));
    o = aa__effective_origin(allows(deep, "lvl0:q"));
    assert_int_equal(o.role, (int)(role(p, "d0") - p->roles));
    assert_int_equal(o.index, 1);
    assert_int_equal(aa__effective_count(profile(p, "half")), 12);
    aa_policy_free(p);
    aa_error_free(err);
    free(text);

    p = load_example("enterprise.yaml");
    const char *eacts[] = {"read:documents", "read:secrets-metadata",
                           "deploy:prod-db", "list",
                           "pay:invoice",    "write:code",
                           "comment:x"};
    check_effective_lists(p, eacts, AA__ARRAY_LEN(eacts));
    aa_policy_free(p);
}

/* The engine's explanation of an allow names the entry, its role and the
 * chain down to it, or the profile's allow list. */
static void expect_allow_step(aa_engine *e, const char *agent,
                              const char *action, const char *want) {
    aa_decision *d = aa_decision_new();
    assert_non_null(d);
    aa_decision_set_explain(d, 1);
    aa_request r = {.agent = agent, .user = "u", .action = action};
    aa_authorize(e, &r, d);
    const aa_trace_step *s = NULL;
    for (size_t i = 0; i < aa_decision_trace_count(d); i++)
        if (strcmp(aa_decision_trace_get(d, i)->step, "allow") == 0)
            s = aa_decision_trace_get(d, i);
    assert_non_null(s);
    if (strcmp(s->detail, want) != 0)
        print_error("got: %s\nwant: %s\n", s->detail, want);
    assert_string_equal(s->detail, want);
    aa_decision_free(d);
}

static void test_effective_explanations(void **state) {
    (void)state;
    char *text = chain_policy();
    aa_error *err = aa_error_new();
    aa_policy *p = NULL;
    assert_int_equal(load_text(text, NULL, &p, err), AA_OK);
    aa_engine_options eo = {.audit_mode = AA_AUDIT_OFF};
    aa_engine *e = NULL;
    assert_int_equal(aa_engine_new(p, &eo, &e, NULL), AA_OK);
    expect_allow_step(e, "a", "deploy:x",
                      "'deploy:x' is allowed by 'deploy:*' from role 'top'");
    expect_allow_step(e, "b", "read",
                      "'read' is allowed by 'read' from role 'mid' "
                      "(inherited) via top -> mid");
    expect_allow_step(e, "a", "list:q",
                      "'list:q' is allowed by 'list:*' from role 'root' "
                      "(inherited) via top -> mid -> empty -> root");
    expect_allow_step(e, "a", "report",
                      "'report' is allowed by 'report' in the allow list of "
                      "profile 'a'");
    expect_allow_step(e, "c", "x:1",
                      "'x:1' is allowed by 'x:*' in the allow list of "
                      "profile 'c'");
    expect_allow_step(e, "e", "z",
                      "'z' is allowed by 'z' in the allow list of profile "
                      "'e'");
    expect_allow_step(e, "b", "report",
                      "no allowed pattern of profile 'b' matches 'report'");
    expect_allow_step(e, "deep2", "lvl1:q",
                      "'lvl1:q' is allowed by 'lvl1:*' from role 'd1' "
                      "(inherited) via d11 -> d10 -> d9 -> d8 -> d7 -> d6 -> "
                      "d5 -> d4 -> d3 -> d2 -> d1");
    aa_engine_free(e);

    /* `agent-auth describe`: the same list, with where each came from. */
    char *js = aa_policy_describe_json(p);
    assert_non_null(js);
    json_error_t jerr;
    json_t *j = json_loads(js, 0, &jerr);
    assert_non_null(j);
    json_t *eff = json_object_get(
        json_array_get(json_object_get(j, "profiles"), 0), "effective");
    const char *want[][2] = {{"deploy:*", "role:top"}, {"write:*", "role:mid"},
                             {"read", "role:mid"},     {"read", "role:root"},
                             {"list:*", "role:root"},  {"report", "allow"},
                             {"read", "allow"},        {"deploy:x", "allow"}};
    assert_int_equal(json_array_size(eff), AA__ARRAY_LEN(want));
    for (size_t i = 0; i < AA__ARRAY_LEN(want); i++) {
        json_t *x = json_array_get(eff, i);
        assert_string_equal(json_string_value(json_object_get(x, "pattern")),
                            want[i][0]);
        assert_string_equal(json_string_value(json_object_get(x, "from")),
                            want[i][1]);
    }
    json_decref(j);
    free(js);
    aa_policy_free(p);
    aa_error_free(err);
    free(text);
}

/* ---- condition errors placed from a file --------------------------------- */

/* A file's source is freed once parsed and read again for the lines of a
 * condition error: the messages are those of the same text loaded from a
 * buffer, from a regular file, with a BOM, and from a FIFO (which cannot
 * be read again, so its text is kept). */
static char *load_messages(const char *path, const char *text) {
    aa_error *err = aa_error_new();
    aa_policy *p = NULL;
    int rc = path ? aa_policy_load_file(path, NULL, &p, err)
                  : aa_policy_load_buffer(text, strlen(text), "cond.yaml", NULL,
                                          &p, err);
    assert_int_equal(rc, AA_EPOLICY);
    assert_null(p);
    char *t = tu_error_text(err);
    aa_error_free(err);
    return t;
}

static void test_condition_errors_from_files(void **state) {
    (void)state;
    const char *body = "version: '1.0'\n"
                       "approval_policies:\n"
                       "  - name: quoted\n"
                       "    condition: 'action == \"x\" and and'\n"
                       "    tier: soft\n"
                       "  - name: block\n"
                       "    condition: |\n"
                       "      action == \"y\" or\n"
                       "        user ==\n"
                       "    tier: soft\n";
    char *dir = tu_tmpdir();
    char path[512], bom_path[512], fifo[512];
    snprintf(path, sizeof path, "%s/cond.yaml", dir);
    snprintf(bom_path, sizeof bom_path, "%s/bom.yaml", dir);
    snprintf(fifo, sizeof fifo, "%s/fifo.yaml", dir);
    assert_int_equal(tu_write_file(path, body), 0);
    char *bom = malloc(strlen(body) + 4);
    assert_non_null(bom);
    memcpy(bom, "\xEF\xBB\xBF", 3);
    memcpy(bom + 3, body, strlen(body) + 1);
    assert_int_equal(tu_write_file(bom_path, bom), 0);

    char *from_buffer = load_messages(NULL, body);
    /* The first error points into the line, past the value's start. */
    assert_non_null(strstr(from_buffer, ":4:"));
    assert_null(strstr(from_buffer, ":4:16:"));
    char *from_file = load_messages(path, NULL);
    char *from_bom = load_messages(bom_path, NULL);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *w = fopen(fifo, "w");
        if (w)
            fputs(body, w);
        _exit(w && fclose(w) == 0 ? 0 : 1);
    }
    char *from_fifo = load_messages(fifo, NULL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* Same lines and columns; only the file names differ. */
    const char *names[] = {path, bom_path, fifo};
    char *got[] = {from_file, from_bom, from_fifo};
    for (size_t i = 0; i < 3; i++) {
        aa__buf want;
        aa__buf_init(&want);
        for (const char *q = from_buffer; *q;) {
            const char *at = strstr(q, "cond.yaml");
            if (!at) {
                aa__buf_puts(&want, q);
                break;
            }
            aa__buf_printf(&want, "%.*s%s", (int)(at - q), q, names[i]);
            q = at + strlen("cond.yaml");
        }
        assert_string_equal(got[i], want.data);
        aa__buf_free(&want);
    }
    free(from_buffer);
    free(from_file);
    free(from_bom);
    free(from_fifo);
    free(bom);
    tu_rmdir(dir);
    free(dir);
}

/* ---- YAML scalars -------------------------------------------------------- */

static void test_scalar_resolution(void **state) {
    (void)state;
    const char *text = "[1.0, '1.0', yes, 'yes', 0x1F, 1_000, ~, '', "
                       "!!str 12, 99999999999999999999, .inf, -7, 2e3, "
                       "!!int '5', !!float 3, Off, null, 12abc, 0o17, 1.]";
    aa__ydoc doc;
    assert_int_equal(aa__ydoc_parse(&doc, text, strlen(text), "t", NULL),
                     AA_OK);
    const aa__ynode *seq = doc.root;
    assert_int_equal(seq->kind, AA__Y_SEQ);
    assert_int_equal(seq->n, 20);
    aa__yscalar v[20];
    for (size_t i = 0; i < 20; i++)
        aa__yscalar_resolve(seq->u.items[i], &v[i]);
    assert_int_equal(v[0].type, AA__YV_FLOAT);
    assert_true(v[0].d == 1.0);
    assert_int_equal(v[1].type, AA__YV_STR);
    assert_int_equal(v[2].type, AA__YV_BOOL);
    assert_true(v[2].b);
    assert_int_equal(v[3].type, AA__YV_STR);
    assert_int_equal(v[4].type, AA__YV_INT);
    assert_int_equal(v[4].i, 31);
    assert_int_equal(v[5].i, 1000);
    assert_int_equal(v[6].type, AA__YV_NULL);
    assert_int_equal(v[7].type, AA__YV_STR);
    assert_int_equal(v[8].type, AA__YV_STR);
    assert_int_equal(v[9].type, AA__YV_INT);
    assert_true(v[9].overflow);
    assert_int_equal(v[10].type, AA__YV_FLOAT);
    assert_int_equal(v[11].i, -7);
    assert_int_equal(v[12].type, AA__YV_STR); /* PyYAML: a float needs a dot */
    assert_int_equal(v[13].type, AA__YV_INT);
    assert_int_equal(v[13].i, 5);
    assert_int_equal(v[14].type, AA__YV_FLOAT);
    assert_int_equal(v[15].type, AA__YV_BOOL);
    assert_false(v[15].b);
    assert_int_equal(v[16].type, AA__YV_NULL);
    assert_int_equal(v[17].type, AA__YV_STR);
    assert_int_equal(v[18].type, AA__YV_STR); /* 0o is YAML 1.2 only */
    assert_int_equal(v[19].type, AA__YV_FLOAT);
    /* Positions are 1-based. */
    assert_int_equal(seq->u.items[1]->line, 1);
    assert_int_equal(seq->u.items[1]->col, 7);
    aa__ydoc_free(&doc);
}

/* Every plain scalar below as PyYAML 6 (yaml.safe_load) reads it, and
 * whether the YAML 1.2 core schema reads it otherwise. */
static const struct {
    const char *text;
    aa__yvtype type;
    const char *value; /* INT: decimal or OVF; FLOAT: repr; BOOL: 0/1 */
    int differs12;
} pyyaml_cases[] = {
    {"010", AA__YV_INT, "8", 1},
    {"0o10", AA__YV_STR, "0", 1},
    {"1e3", AA__YV_STR, "0", 1},
    {"1.0e3", AA__YV_STR, "0", 1},
    {"1.0e+3", AA__YV_FLOAT, "1000.0", 0},
    {"1.0E-2", AA__YV_FLOAT, "0.01", 0},
    {"09", AA__YV_STR, "0", 1},
    {"08", AA__YV_STR, "0", 1},
    {"00", AA__YV_INT, "0", 0},
    {"07", AA__YV_INT, "7", 0},
    {"-010", AA__YV_INT, "-8", 1},
    {"+0x1F", AA__YV_INT, "31", 1},
    {"-.5", AA__YV_STR, "0", 1},
    {".5", AA__YV_FLOAT, "0.5", 0},
    {".5e+1", AA__YV_FLOAT, "5.0", 0},
    {"1:30", AA__YV_INT, "90", 1},
    {"-1:30", AA__YV_INT, "-90", 1},
    {"1:60", AA__YV_STR, "0", 0},
    {"1:5:9", AA__YV_INT, "3909", 1},
    {"0:30", AA__YV_STR, "0", 0},
    {"0:30.5", AA__YV_FLOAT, "30.5", 1},
    {"1:30.5", AA__YV_FLOAT, "90.5", 1},
    {"0b101", AA__YV_INT, "5", 1},
    {"-0b11", AA__YV_INT, "-3", 1},
    {"0b", AA__YV_STR, "0", 0},
    {"0b2", AA__YV_STR, "0", 0},
    {"0x", AA__YV_STR, "0", 0},
    {"0X1F", AA__YV_STR, "0", 0},
    {"0x1f_f", AA__YV_INT, "511", 1},
    {"1_000", AA__YV_INT, "1000", 1},
    {"1__0", AA__YV_INT, "10", 1},
    {"1_", AA__YV_INT, "1", 1},
    {"1.", AA__YV_FLOAT, "1.0", 0},
    {"1._5", AA__YV_FLOAT, "1.5", 1},
    {"+1.5", AA__YV_FLOAT, "1.5", 0},
    {".", AA__YV_STR, "0", 0},
    {"-.", AA__YV_STR, "0", 0},
    {"_1", AA__YV_STR, "0", 0},
    {"0_", AA__YV_INT, "0", 1},
    {"0_7", AA__YV_INT, "7", 1},
    {"1.2.3", AA__YV_STR, "0", 0},
    {"1e+3", AA__YV_STR, "0", 1},
    {"+.inf", AA__YV_FLOAT, "inf", 0},
    {"-.Inf", AA__YV_FLOAT, "-inf", 0},
    {".NAN", AA__YV_FLOAT, "nan", 0},
    {"-.nan", AA__YV_STR, "0", 0},
    {"+.nan", AA__YV_STR, "0", 0},
    {"yes", AA__YV_BOOL, "1", 1},
    {"Yes", AA__YV_BOOL, "1", 1},
    {"YES", AA__YV_BOOL, "1", 1},
    {"yEs", AA__YV_STR, "0", 0},
    {"on", AA__YV_BOOL, "1", 1},
    {"On", AA__YV_BOOL, "1", 1},
    {"ON", AA__YV_BOOL, "1", 1},
    {"off", AA__YV_BOOL, "0", 1},
    {"Off", AA__YV_BOOL, "0", 1},
    {"OFF", AA__YV_BOOL, "0", 1},
    {"no", AA__YV_BOOL, "0", 1},
    {"NO", AA__YV_BOOL, "0", 1},
    {"n", AA__YV_STR, "0", 0},
    {"y", AA__YV_STR, "0", 0},
    {"true", AA__YV_BOOL, "1", 0},
    {"tRue", AA__YV_STR, "0", 0},
    {"False", AA__YV_BOOL, "0", 0},
    {"~", AA__YV_NULL, "0", 0},
    {"null", AA__YV_NULL, "0", 0},
    {"Null", AA__YV_NULL, "0", 0},
    {"nULL", AA__YV_STR, "0", 0},
    {"NULL", AA__YV_NULL, "0", 0},
    {"", AA__YV_NULL, "0", 0},
    {"abc", AA__YV_STR, "0", 0},
    {"12abc", AA__YV_STR, "0", 0},
    {"9223372036854775807", AA__YV_INT, "9223372036854775807", 0},
    {"9223372036854775808", AA__YV_INT, "OVF", 0},
    {"-9223372036854775808", AA__YV_INT, "-9223372036854775808", 0},
    {"-9223372036854775809", AA__YV_INT, "OVF", 0},
    {"1.5_", AA__YV_FLOAT, "1.5", 1},
    {"6e", AA__YV_STR, "0", 0},
    {"1e-3", AA__YV_STR, "0", 1},
    {"0.1", AA__YV_FLOAT, "0.1", 0},
    {"-0", AA__YV_INT, "0", 0},
    {"+0", AA__YV_INT, "0", 0},
    {"0o", AA__YV_STR, "0", 0},
    {"1:2:3.5", AA__YV_FLOAT, "3723.5", 1},
    {"190:20:30", AA__YV_INT, "685230", 1},
    {"42", AA__YV_INT, "42", 0},
    {"-7", AA__YV_INT, "-7", 0},
    {"0x1F", AA__YV_INT, "31", 0},
    {"0o17", AA__YV_STR, "0", 1},
    {"1.5", AA__YV_FLOAT, "1.5", 0},
    {"2e3", AA__YV_STR, "0", 1},
};

static void test_scalar_resolution_pyyaml(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof pyyaml_cases / sizeof pyyaml_cases[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "v: %s", pyyaml_cases[i].text);
        aa__ydoc doc;
        assert_int_equal(aa__ydoc_parse(&doc, text, strlen(text), "t", NULL),
                         AA_OK);
        const aa__ynode *n = doc.root->u.pairs[0].value;
        aa__yscalar v, v11, v12;
        aa__yscalar_resolve(n, &v);
        if (v.type != pyyaml_cases[i].type)
            fail_msg("'%s': type %d, PyYAML %d", pyyaml_cases[i].text,
                     (int)v.type, (int)pyyaml_cases[i].type);
        const char *want = pyyaml_cases[i].value;
        if (v.type == AA__YV_INT && strcmp(want, "OVF") == 0)
            assert_true(v.overflow);
        else if (v.type == AA__YV_INT)
            assert_true(!v.overflow && v.i == strtoll(want, NULL, 10));
        else if (v.type == AA__YV_BOOL)
            assert_int_equal(v.b, want[0] == '1');
        else if (v.type == AA__YV_FLOAT && strstr(want, "nan"))
            assert_true(v.d != v.d);
        else if (v.type == AA__YV_FLOAT)
            assert_true(v.d == strtod(want, NULL));
        if (aa__yscalar_differs_12(n, &v11, &v12) !=
            (pyyaml_cases[i].differs12 != 0))
            fail_msg("'%s': differs under YAML 1.2 should be %d",
                     pyyaml_cases[i].text, pyyaml_cases[i].differs12);
        aa__ydoc_free(&doc);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enterprise_counts_and_metadata),
        cmocka_unit_test(test_enterprise_roles),
        cmocka_unit_test(test_enterprise_profiles),
        cmocka_unit_test(test_enterprise_rules),
        cmocka_unit_test(test_enterprise_describe_json),
        cmocka_unit_test(test_minimal_defaults),
        cmocka_unit_test(test_interpolation),
        cmocka_unit_test(test_strict_mode),
        cmocka_unit_test(test_state_path_rules),
        cmocka_unit_test(test_merge_keys),
        cmocka_unit_test(test_io_errors),
        cmocka_unit_test(test_not_a_policy),
        cmocka_unit_test(test_deep_nesting_and_aliases),
        cmocka_unit_test(test_effective_sets_are_bounded),
        cmocka_unit_test(test_effective_lists),
        cmocka_unit_test(test_effective_explanations),
        cmocka_unit_test(test_condition_errors_from_files),
        cmocka_unit_test(test_scalar_resolution),
        cmocka_unit_test(test_scalar_resolution_pyyaml),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
