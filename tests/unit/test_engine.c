/*
 * test_engine.c - what the data-driven policy tests cannot reach: the
 * embedding program's callbacks (user permissions, matchers), the explain
 * trace, audit failure, the clock, and many threads deciding at once.
 * (The pipeline's cases are in tests/data/engine/, as test files.)
 */
#include "testutil.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static aa_policy *load_text(const char *yaml) {
    aa_error *err = aa_error_new();
    aa_policy *p = NULL;
    int rc =
        aa_policy_load_buffer(yaml, strlen(yaml), "test.yaml", NULL, &p, err);
    if (rc != AA_OK) {
        char *t = tu_error_text(err);
        fprintf(stderr, "load failed: %s\n", t);
        free(t);
    }
    aa_error_free(err);
    assert_int_equal(rc, AA_OK);
    return p;
}

static aa_policy *load_example(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "examples/policies/%s", name);
    char *path = tu_path(rel);
    aa_error *err = aa_error_new();
    aa_policy *p = NULL;
    assert_int_equal(aa_policy_load_file(path, NULL, &p, err), AA_OK);
    aa_error_free(err);
    free(path);
    return p;
}

static aa_engine *engine_for(const aa_policy *p, aa_store *store) {
    aa_engine_options o = {0};
    o.store = store;
    o.audit_mode = AA_AUDIT_OFF;
    aa_engine *e = NULL;
    assert_int_equal(aa_engine_new(p, &o, &e, NULL), AA_OK);
    return e;
}

static const char *POLICY =
    "version: '1.0'\n"
    "roles:\n"
    "  base: {actions: [read]}\n"
    "profiles:\n"
    "  bot: {role: base}\n"
    "approval_policies:\n"
    "  - name: sensitive-resource\n"
    "    condition: 'action == \"read\" and resource matches sensitive'\n"
    "    tier: strong\n"
    "audit: {enabled: false}\n";

/* ---- step 6: the user permissions callback --------------------------------
 */

static int alice_approves(void *ud, const char *user, const char *action) {
    int *calls = ud;
    (*calls)++;
    return strcmp(user, "alice") == 0 && strcmp(action, "approve") == 0;
}

static void test_user_permissions(void **state) {
    (void)state;
    aa_policy *p = load_text(POLICY);
    int calls = 0;
    aa_engine_options o = {.audit_mode = AA_AUDIT_OFF,
                           .user_permission = alice_approves,
                           .user_permission_userdata = &calls};
    aa_engine *e = NULL;
    assert_int_equal(aa_engine_new(p, &o, &e, NULL), AA_OK);
    aa_decision *d = aa_decision_new();

    aa_request r = {.agent = "bot", .user = "alice", .action = "approve"};
    assert_int_equal(aa_authorize(e, &r, d), AA_OK);
    assert_true(aa_decision_allowed(d));
    assert_string_equal(aa_decision_reason(d), "Allowed by user permissions");
    assert_int_equal(calls, 1);

    r.user = "bob";
    aa_authorize(e, &r, d);
    assert_false(aa_decision_allowed(d));
    assert_non_null(
        strstr(aa_decision_reason(d), "not authorized for agent 'bot'"));

    /* The callback is not consulted when the profile already allows. */
    calls = 0;
    r.action = "read";
    aa_authorize(e, &r, d);
    assert_true(aa_decision_allowed(d));
    assert_int_equal(calls, 0);

    aa_decision_free(d);
    aa_engine_free(e);
    aa_policy_free(p);
}

/* ---- matchers and fail-closed evaluation ----------------------------------
 */

static int sensitive(void *ud, const char *value, int *result) {
    (void)ud;
    *result = value && strncmp(value, "secret/", 7) == 0;
    return AA_OK;
}

static int broken(void *ud, const char *value, int *result) {
    (void)ud;
    (void)value;
    (void)result;
    return AA_EIO;
}

static void test_matchers(void **state) {
    (void)state;
    aa_policy *p = load_text(POLICY);
    aa_engine *e = engine_for(p, NULL);
    aa_decision *d = aa_decision_new();
    aa_request r = {
        .agent = "bot", .user = "u", .action = "read", .resource = "secret/x"};

    /* No matcher registered yet: fails closed, the approval applies. */
    aa_authorize(e, &r, d);
    assert_true(aa_decision_allowed(d));
    assert_int_equal(aa_decision_tier(d), AA_TIER_STRONG);
    assert_string_equal(aa_decision_approval_policy(d), "sensitive-resource");
    assert_non_null(strstr(aa_decision_reason(d), "could not be evaluated"));

    assert_int_equal(
        aa_engine_register_matcher(e, "sensitive", sensitive, NULL), AA_OK);
    aa_authorize(e, &r, d);
    assert_int_equal(aa_decision_tier(d), AA_TIER_STRONG);
    assert_null(strstr(aa_decision_reason(d), "could not be evaluated"));
    r.resource = "public/x";
    aa_authorize(e, &r, d);
    assert_int_equal(aa_decision_tier(d), AA_TIER_AUTONOMOUS);
    assert_true(aa_decision_is_autonomous(d));

    /* A matcher that fails also fails closed. */
    assert_int_equal(aa_engine_register_matcher(e, "sensitive", broken, NULL),
                     AA_OK);
    aa_authorize(e, &r, d);
    assert_int_equal(aa_decision_tier(d), AA_TIER_STRONG);
    assert_true(aa_decision_requires_approval(d));

    assert_int_equal(aa_engine_register_matcher(e, "", sensitive, NULL),
                     AA_EINVAL);
    assert_int_equal(aa_engine_register_matcher(e, "x", NULL, NULL), AA_EINVAL);
    aa_decision_free(d);
    aa_engine_free(e);
    aa_policy_free(p);
}

/* ---- requests with missing fields -----------------------------------------
 */

static void test_invalid_requests(void **state) {
    (void)state;
    aa_policy *p = load_text(POLICY);
    aa_engine *e = engine_for(p, NULL);
    aa_decision *d = aa_decision_new();
    aa_request r = {.agent = "bot", .user = "", .action = "read"};
    assert_int_equal(aa_authorize(e, &r, d), AA_EINVAL);
    assert_false(aa_decision_allowed(d));
    assert_non_null(strstr(aa_decision_reason(d), "'user' is required"));
    r.user = "u";
    r.action = NULL;
    assert_int_equal(aa_authorize(e, &r, d), AA_EINVAL);
    assert_non_null(strstr(aa_decision_reason(d), "'action' is required"));
    r.action = "read";
    r.agent = NULL;
    assert_int_equal(aa_authorize(e, &r, d), AA_EINVAL);
    assert_non_null(strstr(aa_decision_reason(d), "'agent' is required"));
    aa_decision_free(d);
    aa_engine_free(e);
    aa_policy_free(p);
}

/* ---- metadata lists ------------------------------------------------------
 * A list of scalars reaches conditions and request_metadata; a list inside
 * a list is an input error. */

static const char *LIST_POLICY =
    "version: '1.0'\n"
    "profiles:\n"
    "  bot: {allow: [read]}\n"
    "request_metadata:\n"
    "  tags: {type: list, required_for: [read]}\n"
    "approval_policies:\n"
    "  - name: pii\n"
    "    condition: '\"pii\" in tags and tags != [\"pii\", \"ok\"]'\n"
    "    tier: strong\n"
    "audit: {enabled: false}\n";

static void test_metadata_lists(void **state) {
    (void)state;
    aa_policy *p = load_text(LIST_POLICY);
    aa_engine *e = engine_for(p, NULL);
    aa_decision *d = aa_decision_new();
    aa_decision_set_explain(d, 1);
    aa_meta items[] = {{.type = AA_VALUE_STRING, .string = "pii"},
                       {.type = AA_VALUE_STRING, .string = "eu"}};
    aa_meta meta = {
        .key = "tags", .type = AA_VALUE_LIST, .items = items, .count = 2};
    aa_request r = {.agent = "bot",
                    .user = "u",
                    .action = "read",
                    .metadata = &meta,
                    .metadata_count = 1};
    assert_int_equal(aa_authorize(e, &r, d), AA_OK);
    assert_true(aa_decision_allowed(d));
    assert_int_equal(aa_decision_tier(d), AA_TIER_STRONG);
    bool shown = false;
    for (size_t i = 0; i < aa_decision_trace_count(d); i++)
        shown |= strstr(aa_decision_trace_get(d, i)->detail,
                        "tags = [\"pii\", \"eu\"]") != NULL;
    assert_true(shown);

    items[1].string = "ok"; /* equality of lists, item by item */
    assert_int_equal(aa_authorize(e, &r, d), AA_OK);
    assert_int_equal(aa_decision_tier(d), AA_TIER_AUTONOMOUS);

    meta.count = 0; /* an empty list is a list */
    assert_int_equal(aa_authorize(e, &r, d), AA_OK);
    assert_true(aa_decision_allowed(d));

    aa_meta scalar = {.key = "tags", .type = AA_VALUE_STRING, .string = "pii"};
    r.metadata = &scalar;
    assert_int_equal(aa_authorize(e, &r, d), AA_OK);
    assert_false(aa_decision_allowed(d));
    assert_string_equal(aa_decision_reason(d),
                        "Metadata 'tags' must be a list, not a string "
                        "(request_metadata)");

    aa_meta inner[] = {{.type = AA_VALUE_LIST, .items = items, .count = 1}};
    aa_meta nested = {
        .key = "tags", .type = AA_VALUE_LIST, .items = inner, .count = 1};
    r.metadata = &nested;
    assert_int_equal(aa_authorize(e, &r, d), AA_EINVAL);
    assert_false(aa_decision_allowed(d));
    assert_non_null(strstr(aa_decision_reason(d), "metadata 'tags'"));
    aa_meta dangling = {.key = "tags", .type = AA_VALUE_LIST, .count = 3};
    r.metadata = &dangling;
    assert_int_equal(aa_authorize(e, &r, d), AA_EINVAL);

    aa_decision_free(d);
    aa_engine_free(e);
    aa_policy_free(p);
}

/* ---- the explain trace ------------------------------------------------------
 */

static const aa_trace_step *find_step(const aa_decision *d, const char *name) {
    for (size_t i = 0; i < aa_decision_trace_count(d); i++)
        if (strcmp(aa_decision_trace_get(d, i)->step, name) == 0)
            return aa_decision_trace_get(d, i);
    return NULL;
}

static void test_explain(void **state) {
    (void)state;
    aa_policy *p = load_example("enterprise.yaml");
    aa_engine *e = engine_for(p, NULL);
    aa_decision *d = aa_decision_new();

    /* Off by default: no trace. */
    aa_request r = {
        .agent = "copilot", .user = "alice", .action = "deploy:prod-db"};
    aa_authorize(e, &r, d);
    assert_int_equal(aa_decision_trace_count(d), 0);

    aa_decision_set_explain(d, 1);
    aa_authorize(e, &r, d);
    const aa_trace_step *s = find_step(d, "deny");
    assert_non_null(s);
    assert_int_equal(s->outcome, -1);
    assert_non_null(strstr(
        s->detail, "'deploy:prod-db' in the deny list of profile 'copilot'"));

    /* The allow step names the role the pattern came from and the chain. */
    r.action = "read:documents";
    aa_authorize(e, &r, d);
    s = find_step(d, "allow");
    assert_non_null(s);
    assert_int_equal(s->outcome, 1);
    assert_non_null(
        strstr(s->detail, "'read:*' from role 'viewer' (inherited)"));
    assert_non_null(strstr(s->detail, "engineer -> contributor -> viewer"));

    /* An approval step shows the sub-expression that decided. */
    aa_meta env = {.key = "env", .type = AA_VALUE_STRING, .string = "prod"};
    r.action = "deploy:web";
    r.metadata = &env;
    r.metadata_count = 1;
    aa_authorize(e, &r, d);
    assert_int_equal(aa_decision_tier(d), AA_TIER_STRONG);
    bool found = false;
    for (size_t i = 0; i < aa_decision_trace_count(d); i++) {
        s = aa_decision_trace_get(d, i);
        if (strcmp(s->step, "approval") == 0 &&
            strstr(s->detail, "production-deploy")) {
            found = true;
            assert_int_equal(s->outcome, 1);
        }
    }
    assert_true(found);
    s = find_step(d, "result");
    assert_non_null(s);
    assert_non_null(strstr(s->detail, "production-deploy"));

    /* A2A steps name the policy. */
    r = (aa_request){.agent = "orchestrator",
                     .user = "alice",
                     .action = "pay:invoice",
                     .target_agent = "billing-agent"};
    aa_authorize(e, &r, d);
    assert_false(aa_decision_allowed(d));
    s = find_step(d, "a2a");
    assert_non_null(s);
    aa_decision_free(d);
    aa_engine_free(e);
    aa_policy_free(p);
}

/* ---- delegation.enabled: false -------------------------------------------
 * A grant made while delegation was on permits nothing once it is off, and
 * the reason and the trace say why. */

#define DELEG_POLICY(enabled)                                                  \
    "version: '1.0'\n"                                                         \
    "profiles:\n"                                                              \
    "  bot: {allow: [read]}\n"                                                 \
    "delegation: {enabled: " enabled "}\n"                                     \
    "audit: {enabled: false}\n"

static void test_delegation_disabled(void **state) {
    (void)state;
    aa_policy *on = load_text(DELEG_POLICY("true"));
    aa_policy *off = load_text(DELEG_POLICY("false"));
    aa_store *store = NULL;
    assert_int_equal(aa_store_open_memory(&store, NULL), AA_OK);
    aa_engine *e_on = engine_for(on, store), *e_off = engine_for(off, store);
    const char *actions[] = {"deploy:*"};
    aa_delegation g;
    assert_int_equal(aa_delegation_create(e_on, "alice", "bot", actions, 1,
                                          AA_DURATION_DEFAULT, NULL, &g, NULL),
                     AA_OK);
    aa_decision *d = aa_decision_new();
    aa_decision_set_explain(d, 1);
    aa_request r = {.agent = "bot", .user = "alice", .action = "deploy:web"};
    assert_int_equal(aa_authorize(e_on, &r, d), AA_OK);
    assert_true(aa_decision_allowed(d));

    assert_int_equal(aa_authorize(e_off, &r, d), AA_OK);
    assert_false(aa_decision_allowed(d));
    assert_non_null(strstr(aa_decision_reason(d),
                           "Action 'deploy:web' not authorized for agent "
                           "'bot'"));
    assert_non_null(strstr(aa_decision_reason(d), "delegation is disabled"));
    assert_non_null(strstr(aa_decision_reason(d), g.delegation_id));
    const aa_trace_step *s = find_step(d, "delegation");
    assert_non_null(s);
    assert_int_equal(s->outcome, 0);
    assert_non_null(strstr(s->detail, "delegation.enabled: false"));
    /* Without a grant, the usual reason. */
    r.action = "write";
    assert_int_equal(aa_authorize(e_off, &r, d), AA_OK);
    assert_string_equal(aa_decision_reason(d),
                        "Action 'write' not authorized for agent 'bot'");
    /* The profile still permits what it allows. */
    r.action = "read";
    assert_int_equal(aa_authorize(e_off, &r, d), AA_OK);
    assert_true(aa_decision_allowed(d));

    aa_delegation_clear(&g);
    aa_decision_free(d);
    aa_engine_free(e_on);
    aa_engine_free(e_off);
    aa_store_free(store);
    aa_policy_free(on);
    aa_policy_free(off);
}

/* ---- audit failure fails closed --------------------------------------------
 */

static void test_audit_fail_closed(void **state) {
    (void)state;
    char *dir = tu_tmpdir();
    char yaml[1024], plain[600];
    /* The audit path is below a plain file: no line can be written there. */
    snprintf(plain, sizeof plain, "%s/plain", dir);
    assert_int_equal(tu_write_file(plain, "x"), 0);
    snprintf(yaml, sizeof yaml,
             "version: '1.0'\nroles: {r: {actions: [read]}}\nprofiles: {bot: "
             "{role: r}}\n"
             "audit: {enabled: true, path: '%s/audit.jsonl'}\n",
             plain);
    aa_policy *p = load_text(yaml);
    aa_engine *e = NULL;
    assert_int_equal(aa_engine_new(p, NULL, &e, NULL), AA_OK);
    aa_decision *d = aa_decision_new();
    aa_request r = {.agent = "bot", .user = "u", .action = "read"};
    aa_authorize(e, &r, d);
    assert_false(aa_decision_allowed(d));
    assert_non_null(strstr(aa_decision_reason(d), "Audit log unavailable"));
    assert_non_null(strstr(aa_decision_reason(d), "would have been: allowed"));
    aa_engine_free(e);
    aa_policy_free(p);

    /* on_failure: allow keeps deciding. */
    snprintf(yaml, sizeof yaml,
             "version: '1.0'\nroles: {r: {actions: [read]}}\nprofiles: {bot: "
             "{role: r}}\n"
             "audit: {enabled: true, path: '%s/audit.jsonl', on_failure: "
             "allow}\n",
             plain);
    p = load_text(yaml);
    assert_int_equal(aa_engine_new(p, NULL, &e, NULL), AA_OK);
    aa_authorize(e, &r, d);
    assert_true(aa_decision_allowed(d));
    aa_engine_free(e);
    aa_policy_free(p);
    aa_decision_free(d);
    tu_rmdir(dir);
    free(dir);
}

/* ---- audit lines for decisions and state changes ----------------------------
 */

static void test_audit_lines(void **state) {
    (void)state;
    char *dir = tu_tmpdir();
    char yaml[1024], log[600];
    snprintf(log, sizeof log, "%s/sub/audit.jsonl", dir);
    snprintf(yaml, sizeof yaml,
             "version: '1.0'\nmetadata: {name: audited}\nroles: {r: {actions: "
             "[read]}}\n"
             "profiles: {bot: {role: r}}\naudit: {enabled: true, path: '%s'}\n",
             log);
    aa_policy *p = load_text(yaml);
    aa_store *store = NULL;
    assert_int_equal(aa_store_open_memory(&store, NULL), AA_OK);
    aa_engine_options o = {.store = store};
    aa_engine *e = NULL;
    assert_int_equal(aa_engine_new(p, &o, &e, NULL), AA_OK);
    aa_decision *d = aa_decision_new();
    aa_request r = {.agent = "bot", .user = "u", .action = "read"};
    aa_authorize(e, &r, d);
    r.action = "write";
    aa_authorize(e, &r, d);
    aa_session s;
    assert_int_equal(aa_session_create(e, "bot", "u", NULL, 60, &s, NULL),
                     AA_OK);
    int revoked = 0;
    assert_int_equal(aa_session_revoke(e, s.session_id, &revoked, NULL), AA_OK);
    assert_int_equal(revoked, 1);
    aa_session_clear(&s);
    aa_engine_free(e);

    size_t len = 0;
    char *text = tu_read_file(log, &len);
    assert_non_null(text);
    int lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    assert_int_equal(lines, 4);
    assert_non_null(strstr(text, "\"event\":\"authorize\""));
    assert_non_null(strstr(text, "\"config_name\":\"audited\""));
    assert_non_null(strstr(text, "\"event\":\"session.create\""));
    assert_non_null(strstr(text, "\"event\":\"session.revoke\""));
    struct stat st;
    assert_int_equal(stat(log, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    size_t nlines = 0, bad = 0;
    assert_int_equal(aa_audit_verify(log, &nlines, &bad, NULL), AA_OK);
    assert_int_equal(nlines, 4);
    free(text);
    aa_decision_free(d);
    aa_store_free(store);
    aa_policy_free(p);
    tu_rmdir(dir);
    free(dir);
}

/* ---- sessions and delegations: rules of section 9 --------------------------
 */

static int64_t fake_now = 1795867200000000LL;
static int64_t fake_clock(void *ud) {
    (void)ud;
    return fake_now;
}

/* Explain never changes a decision. Once a strong policy has matched,
 * the rest are evaluated for the trace only: a later condition that fails
 * closed does not reach the reason. One that fails before still does,
 * with explain or without. */
static void test_explain_same_decision(void **state) {
    (void)state;
    aa_policy *p =
        load_text("version: \"1.0\"\nroles:\n  r:\n    actions: [\"*\"]\n"
                  "profiles:\n  a:\n    role: r\napproval_policies:\n"
                  "  - name: first\n    condition: 'action == \"x\"'\n"
                  "    tier: strong\n"
                  "  - name: broken\n    condition: 'user matches nope'\n"
                  "    tier: soft\n"
                  "  - name: last\n    condition: 'action == \"y\"'\n"
                  "    tier: strong\n");
    aa_engine_options o = {.audit_mode = AA_AUDIT_OFF};
    aa_engine *e = NULL;
    assert_int_equal(aa_engine_new(p, &o, &e, NULL), AA_OK);
    aa_decision *plain = aa_decision_new(), *traced = aa_decision_new();
    aa_decision_set_explain(traced, 1);
    const char *actions[] = {"x", "y"};
    for (int i = 0; i < 2; i++) {
        aa_request r = {.agent = "a", .user = "u", .action = actions[i]};
        aa_authorize(e, &r, plain);
        aa_authorize(e, &r, traced);
        assert_string_equal(aa_decision_reason(plain),
                            aa_decision_reason(traced));
        assert_int_equal(aa_decision_tier(plain), AA_TIER_STRONG);
        assert_int_equal(aa_decision_tier(traced), AA_TIER_STRONG);
        assert_string_equal(aa_decision_approval_policy(traced),
                            actions[i][0] == 'x' ? "first" : "last");
        bool noted =
            strstr(aa_decision_reason(plain), "could not be evaluated") != NULL;
        assert_true(noted == (actions[i][0] == 'y'));
    }
    aa_decision_free(plain);
    aa_decision_free(traced);
    aa_engine_free(e);
    aa_policy_free(p);
}

/* Session-gated decisions on a SQLite store, whose lookups copy the
 * session into a buffer on the stack: names that fit, and names too long
 * for it (the engine then reads the session the allocating way), decide
 * the same. */
static void test_sessions_on_sqlite(void **state) {
    (void)state;
    char longname[1500];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    const char *agents[] = {"bot", longname};
    for (int i = 0; i < 2; i++) {
        char yaml[2048];
        snprintf(yaml, sizeof yaml,
                 "version: \"1.0\"\nroles:\n  r:\n    actions: "
                 "[\"read:*\"]\nprofiles:\n  ? %s\n  :\n    role: r\n"
                 "    scopes: [\"proj:*\"]\n", /* `?`: keys past 1024 */
                 agents[i]);
        aa_policy *p = load_text(yaml);
        char *dir = tu_tmpdir();
        char path[512];
        snprintf(path, sizeof path, "%s/state.db", dir);
        aa_store *store = NULL;
        assert_int_equal(aa_store_open_sqlite(path, &store, NULL), AA_OK);
        aa_engine_options o = {.store = store, .audit_mode = AA_AUDIT_OFF};
        aa_engine *e = NULL;
        assert_int_equal(aa_engine_new(p, &o, &e, NULL), AA_OK);
        aa_session s;
        assert_int_equal(
            aa_session_create(e, agents[i], "alice", "proj:x", 600, &s, NULL),
            AA_OK);
        aa_decision *d = aa_decision_new();
        for (int k = 0; k < 3; k++) { /* a read from the file, then cached */
            aa_request ok = {.agent = agents[i],
                             .user = "alice",
                             .action = "read:doc",
                             .scope = "proj:x",
                             .session_id = s.session_id};
            aa_authorize(e, &ok, d);
            assert_true(aa_decision_allowed(d));
            aa_request other_user = ok;
            other_user.user = "bob";
            aa_authorize(e, &other_user, d);
            assert_false(aa_decision_allowed(d));
            assert_non_null(strstr(aa_decision_reason(d), "Session user"));
            aa_request other_scope = ok;
            other_scope.scope = "tenant:y";
            aa_authorize(e, &other_scope, d);
            assert_false(aa_decision_allowed(d));
            assert_non_null(strstr(aa_decision_reason(d), "outside session"));
        }
        int revoked = 0;
        assert_int_equal(aa_session_revoke(e, s.session_id, &revoked, NULL),
                         AA_OK);
        assert_int_equal(revoked, 1);
        aa_request after = {.agent = agents[i],
                            .user = "alice",
                            .action = "read:doc",
                            .session_id = s.session_id};
        aa_authorize(e, &after, d);
        assert_false(aa_decision_allowed(d));
        assert_non_null(strstr(aa_decision_reason(d), "Invalid or expired"));
        aa_session_clear(&s);
        aa_decision_free(d);
        aa_engine_free(e);
        aa_store_free(store);
        aa_policy_free(p);
        tu_rmdir(dir);
        free(dir);
    }
}

static void test_state_rules(void **state) {
    (void)state;
    aa_policy *p = load_example("enterprise.yaml");
    aa_store *store = NULL;
    assert_int_equal(aa_store_open_memory(&store, NULL), AA_OK);
    aa_engine_options o = {
        .store = store, .audit_mode = AA_AUDIT_OFF, .clock = fake_clock};
    aa_engine *e = NULL;
    assert_int_equal(aa_engine_new(p, &o, &e, NULL), AA_OK);
    aa_error *err = aa_error_new();
    aa_session s;

    /* Default duration: the profile's max_session_duration (copilot 1800). */
    assert_int_equal(aa_session_create(e, "copilot", "alice", "project:x",
                                       AA_DURATION_DEFAULT, &s, err),
                     AA_OK);
    assert_int_equal(s.expires_at - s.created_at, 1800LL * 1000000);
    assert_int_equal(s.status, AA_GRANT_ACTIVE);
    assert_int_equal(strlen(s.session_id), 36);
    char sid[37];
    memcpy(sid, s.session_id, 37);
    aa_session_clear(&s);
    /* Hardened: clamped to the profile's maximum, not only the global one. */
    assert_int_equal(
        aa_session_create(e, "copilot", "alice", NULL, 7200, &s, err), AA_OK);
    assert_int_equal(s.expires_at - s.created_at, 1800LL * 1000000);
    aa_session_clear(&s);
    /* Unknown agent: sessions.default_duration, clamped to sessions.max. */
    assert_int_equal(
        aa_session_create(e, "ghost", "alice", NULL, 999999, &s, err), AA_OK);
    assert_int_equal(s.expires_at - s.created_at, 28800LL * 1000000);
    aa_session_clear(&s);
    /* Hardened: duration < 1 and a scope the profile refuses. */
    assert_int_equal(aa_session_create(e, "copilot", "alice", NULL, 0, &s, err),
                     AA_EINVAL);
    assert_int_equal(
        aa_session_create(e, "copilot", "alice", "workspace:x", 60, &s, err),
        AA_EREFUSED);

    /* Expiry at the exact boundary: now >= expires_at is expired. */
    int valid = 0;
    assert_int_equal(aa_session_validate(e, sid, &valid, NULL, err), AA_OK);
    assert_int_equal(valid, 1);
    fake_now += 1800LL * 1000000 - 1;
    assert_int_equal(aa_session_validate(e, sid, &valid, NULL, err), AA_OK);
    assert_int_equal(valid, 1);
    fake_now += 1;
    assert_int_equal(aa_session_validate(e, sid, &valid, &s, err), AA_OK);
    assert_int_equal(valid, 0);
    assert_int_equal(s.status, AA_GRANT_EXPIRED);
    aa_session_clear(&s);
    aa_decision *d = aa_decision_new();
    aa_request r = {.agent = "copilot",
                    .user = "alice",
                    .action = "read:x",
                    .session_id = sid};
    aa_authorize(e, &r, d);
    assert_false(aa_decision_allowed(d));
    assert_non_null(
        strstr(aa_decision_reason(d), "Invalid or expired session"));

    /* Delegations: every rule is checked and every reason listed. */
    aa_error_clear(err);
    const char *acts[] = {"deploy:web", "delete:all"};
    aa_delegation g;
    assert_int_equal(aa_delegation_create(e, "alice", "research-bot", acts, 2,
                                          30000, NULL, &g, err),
                     AA_EREFUSED);
    char *t = tu_error_text(err);
    assert_non_null(strstr(t, "Action 'delete:all' not allowed by delegation "
                              "rule 'temporary-deploys'"));
    assert_non_null(strstr(t, "Action 'delete:all' not allowed by delegation "
                              "rule 'finance-approvals'"));
    assert_non_null(
        strstr(t, "exceeds rule 'temporary-deploys' maximum 28800"));
    assert_non_null(strstr(t, "exceeds rule 'finance-approvals' maximum 3600"));
    assert_non_null(
        strstr(t, "Delegation rule 'finance-approvals' requires a reason"));
    free(t);
    aa_error_clear(err);
    assert_int_equal(aa_delegation_create(e, "alice", "research-bot", acts, 0,
                                          60, "x", &g, err),
                     AA_EREFUSED);
    const char *empty[] = {""};
    assert_int_equal(aa_delegation_create(e, "alice", "research-bot", empty, 1,
                                          60, "x", &g, err),
                     AA_EREFUSED);
    assert_int_equal(aa_delegation_create(e, "alice", "research-bot", acts, 1,
                                          0, "x", &g, err),
                     AA_EREFUSED);
    aa_error_clear(err);
    assert_int_equal(aa_delegation_create(e, "alice", "research-bot", acts, 1,
                                          600, "release", &g, err),
                     AA_OK);
    assert_int_equal(g.expires_at - g.granted_at, 600LL * 1000000);
    assert_string_equal(g.reason, "release");

    r = (aa_request){
        .agent = "research-bot", .user = "alice", .action = "deploy:web"};
    aa_authorize(e, &r, d);
    assert_true(aa_decision_allowed(d));
    assert_string_equal(aa_decision_reason(d), "Delegated by user 'alice'");
    fake_now += 600LL * 1000000; /* exactly at expiry: no longer permits */
    aa_authorize(e, &r, d);
    assert_false(aa_decision_allowed(d));
    aa_delegation_clear(&g);

    aa_decision_free(d);
    aa_error_free(err);
    aa_engine_free(e);
    aa_store_free(store);
    aa_policy_free(p);
}

/* ---- many threads at once ---------------------------------------------------
 */

typedef struct worker {
    aa_engine *engine;
    int iterations;
    int mismatches;
} worker;

static const aa_request mix[] = {
    {.agent = "copilot",
     .user = "alice",
     .action = "read:documents",
     .scope = "project:a"},
    {.agent = "research-bot", .user = "alice", .action = "write:documents"},
    {.agent = "copilot", .user = "alice", .action = "deploy:web"},
    {.agent = "orchestrator",
     .user = "alice",
     .action = "read:x",
     .target_agent = "research-bot"},
    {.agent = "orchestrator",
     .user = "alice",
     .action = "pay:invoice",
     .target_agent = "billing-agent"},
    {.agent = "ghost", .user = "alice", .action = "read:x"},
    {.agent = "copilot",
     .user = "alice",
     .action = "read:x",
     .scope = "workspace:r"},
    {.agent = "billing-agent", .user = "bob", .action = "refund:x"},
};
static const int expected_allowed[] = {1, 0, 1, 1, 0, 0, 0, 1};

static void *work(void *arg) {
    worker *w = arg;
    aa_decision *d = aa_decision_new();
    for (int i = 0; i < w->iterations; i++) {
        size_t k = (size_t)i % 8;
        aa_authorize(w->engine, &mix[k], d);
        if (aa_decision_allowed(d) != expected_allowed[k])
            w->mismatches++;
    }
    aa_decision_free(d);
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    aa_policy *p = load_example("enterprise.yaml");
    aa_engine *e = engine_for(p, NULL);
    enum { N = 4 };
    pthread_t th[N];
    worker w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (worker){e, 20000, 0};
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].mismatches, 0);
    }
    aa_engine_free(e);
    aa_policy_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_permissions),
        cmocka_unit_test(test_matchers),
        cmocka_unit_test(test_invalid_requests),
        cmocka_unit_test(test_metadata_lists),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_delegation_disabled),
        cmocka_unit_test(test_audit_fail_closed),
        cmocka_unit_test(test_audit_lines),
        cmocka_unit_test(test_explain_same_decision),
        cmocka_unit_test(test_sessions_on_sqlite),
        cmocka_unit_test(test_state_rules),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
