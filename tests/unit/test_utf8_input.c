/*
 * test_utf8_input.c - text that is not UTF-8 is refused at every entry of
 * the library: a request is denied (AA_EINVAL) with a reason naming the
 * field, sessions, delegations, revocations and filters are errors, and a
 * policy value brought in by ${VAR} is a load error with its position.
 * Nothing of it reaches the store or the audit log.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BAD "x\xff"

static const char *POLICY = "version: '1.0'\n"
                            "roles:\n"
                            "  base: {actions: ['read:*']}\n"
                            "profiles:\n"
                            "  bot: {role: base}\n"
                            "delegation:\n"
                            "  enabled: true\n"
                            "audit: {enabled: false}\n";

typedef struct fixture {
    aa_policy *policy;
    aa_store *store;
    aa_engine *engine;
    aa_decision *d;
    aa_error *err;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    assert_int_equal(aa_policy_load_buffer(POLICY, strlen(POLICY), "t.yaml",
                                           NULL, &f->policy, NULL),
                     AA_OK);
    assert_int_equal(aa_store_open_memory(&f->store, NULL), AA_OK);
    aa_engine_options o = {.store = f->store, .audit_mode = AA_AUDIT_OFF};
    assert_int_equal(aa_engine_new(f->policy, &o, &f->engine, NULL), AA_OK);
    f->d = aa_decision_new();
    f->err = aa_error_new();
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    aa_error_free(f->err);
    aa_decision_free(f->d);
    aa_engine_free(f->engine);
    aa_store_free(f->store);
    aa_policy_free(f->policy);
    free(f);
    return 0;
}

static void expect_denied(fixture *f, const aa_request *r, const char *field) {
    assert_int_equal(aa_authorize(f->engine, r, f->d), AA_EINVAL);
    assert_false(aa_decision_allowed(f->d));
    char want[128];
    snprintf(want, sizeof want, "Invalid request: %s is not valid UTF-8",
             field);
    assert_string_equal(aa_decision_reason(f->d), want);
}

static void test_request_fields(void **state) {
    fixture *f = *state;
    const aa_request ok = {
        .agent = "bot", .user = "\xc3\xa9lise", .action = "read:caf\xc3\xa9"};
    assert_int_equal(aa_authorize(f->engine, &ok, f->d), AA_OK);
    assert_true(aa_decision_allowed(f->d));

    aa_request r = ok;
    r.agent = BAD;
    expect_denied(f, &r, "'agent'");
    r = ok, r.user = BAD;
    expect_denied(f, &r, "'user'");
    r = ok, r.action = "read:" BAD;
    expect_denied(f, &r, "'action'");
    r = ok, r.resource = BAD;
    expect_denied(f, &r, "'resource'");
    r = ok, r.scope = "\xc3";
    expect_denied(f, &r, "'scope'");
    r = ok, r.session_id = BAD;
    expect_denied(f, &r, "'session_id'");
    r = ok, r.target_agent = "\xed\xa0\x80"; /* a surrogate */
    expect_denied(f, &r, "'target_agent'");
}

static void test_request_metadata(void **state) {
    fixture *f = *state;
    aa_request r = {.agent = "bot", .user = "u", .action = "read:x"};
    aa_meta m[2] = {{.key = "ok", .type = AA_VALUE_NUMBER, .number = 1},
                    {.key = BAD, .type = AA_VALUE_BOOL, .boolean = 1}};
    r.metadata = m;
    r.metadata_count = 2;
    expect_denied(f, &r, "metadata key number 2");

    m[1] = (aa_meta){.key = "note", .type = AA_VALUE_STRING, .string = BAD};
    expect_denied(f, &r, "metadata 'note'");

    aa_meta items[2] = {{.type = AA_VALUE_STRING, .string = "fine"},
                        {.type = AA_VALUE_STRING, .string = BAD}};
    m[1] = (aa_meta){
        .key = "tags", .type = AA_VALUE_LIST, .items = items, .count = 2};
    expect_denied(f, &r, "metadata 'tags'");

    items[1].string = "\xe2\x82\xac";
    assert_int_equal(aa_authorize(f->engine, &r, f->d), AA_OK);
    assert_true(aa_decision_allowed(f->d));
}

static void expect_einval(fixture *f, int rc, const char *text) {
    assert_int_equal(rc, AA_EINVAL);
    char *t = tu_error_text(f->err);
    if (!strstr(t, text))
        fprintf(stderr, "error text: %s\n", t);
    assert_non_null(strstr(t, text));
    free(t);
    aa_error_clear(f->err);
}

static void test_sessions(void **state) {
    fixture *f = *state;
    aa_session s;
    expect_einval(f, aa_session_create(f->engine, BAD, "u", "", 60, &s, f->err),
                  "the agent is not valid UTF-8");
    expect_einval(f,
                  aa_session_create(f->engine, "bot", BAD, "", 60, &s, f->err),
                  "the user is not valid UTF-8");
    expect_einval(f,
                  aa_session_create(f->engine, "bot", "u", BAD, 60, &s, f->err),
                  "the scope is not valid UTF-8");
    int n = 0;
    expect_einval(f, aa_session_revoke(f->engine, BAD, &n, f->err),
                  "the id is not valid UTF-8");
    expect_einval(f, aa_session_validate(f->engine, BAD, &n, NULL, f->err),
                  "the session id is not valid UTF-8");
    aa_session *list = NULL;
    size_t count = 0;
    expect_einval(f,
                  aa_session_list(f->engine, BAD, NULL, &list, &count, f->err),
                  "the agent filter is not valid UTF-8");
    expect_einval(f,
                  aa_session_list(f->engine, NULL, BAD, &list, &count, f->err),
                  "the user filter is not valid UTF-8");
    /* Nothing was stored. */
    assert_int_equal(
        aa_session_list(f->engine, NULL, NULL, &list, &count, f->err), AA_OK);
    assert_int_equal(count, 0);
    aa_session_list_free(list, count);
}

static void test_delegations(void **state) {
    fixture *f = *state;
    aa_delegation g;
    const char *good[] = {"read:x"};
    const char *bad[] = {"read:x", "read:" BAD};
    expect_einval(f,
                  aa_delegation_create(f->engine, BAD, "bot", good, 1, 60, NULL,
                                       &g, f->err),
                  "the user is not valid UTF-8");
    expect_einval(f,
                  aa_delegation_create(f->engine, "u", BAD, good, 1, 60, NULL,
                                       &g, f->err),
                  "the agent is not valid UTF-8");
    expect_einval(f,
                  aa_delegation_create(f->engine, "u", "bot", bad, 2, 60, NULL,
                                       &g, f->err),
                  "action 2 is not valid UTF-8");
    expect_einval(f,
                  aa_delegation_create(f->engine, "u", "bot", good, 1, 60, BAD,
                                       &g, f->err),
                  "the reason is not valid UTF-8");
    int n = 0;
    expect_einval(f, aa_delegation_revoke(f->engine, BAD, &n, f->err),
                  "the id is not valid UTF-8");
    aa_delegation *list = NULL;
    size_t count = 0;
    expect_einval(f, aa_delegation_list(f->engine, BAD, &list, &count, f->err),
                  "the agent filter is not valid UTF-8");
    assert_int_equal(aa_delegation_list(f->engine, NULL, &list, &count, f->err),
                     AA_OK);
    assert_int_equal(count, 0);
    aa_delegation_list_free(list, count);
}

/* A request that is not UTF-8 writes no audit line; an audit filter that
 * is not UTF-8 is refused. */
static void test_no_audit_line(void **state) {
    (void)state;
    char *dir = tu_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/audit.jsonl", dir);
    aa_policy *p = NULL;
    assert_int_equal(
        aa_policy_load_buffer(POLICY, strlen(POLICY), "t.yaml", NULL, &p, NULL),
        AA_OK);
    aa_engine_options o = {.audit_mode = AA_AUDIT_ON, .audit_path = path};
    aa_engine *e = NULL;
    assert_int_equal(aa_engine_new(p, &o, &e, NULL), AA_OK);
    aa_decision *d = aa_decision_new();
    aa_request r = {.agent = "bot", .user = BAD, .action = "read:x"};
    assert_int_equal(aa_authorize(e, &r, d), AA_EINVAL);
    r.user = "u";
    assert_int_equal(aa_authorize(e, &r, d), AA_OK);
    aa_engine_free(e);
    size_t len = 0;
    char *log = tu_read_file(path, &len);
    assert_non_null(log);
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += log[i] == '\n';
    assert_int_equal(lines, 1); /* the valid request only */
    assert_null(strstr(log, "\xff"));
    size_t n = 0, bad = 0;
    assert_int_equal(aa_audit_verify(path, &n, &bad, NULL), AA_OK);
    /* A reading filter that is not UTF-8 is an error too. */
    aa_error *err = aa_error_new();
    aa_audit_filter filter = {.user = BAD};
    assert_int_equal(aa_audit_read(path, &filter, NULL, NULL, NULL, NULL, err),
                     AA_EINVAL);
    char *t = tu_error_text(err);
    assert_non_null(strstr(t, "the user filter is not valid UTF-8"));
    free(t);
    aa_error_free(err);
    free(log);
    aa_decision_free(d);
    aa_policy_free(p);
    tu_rmdir(dir);
    free(dir);
}

static const char *env_bad(void *ud, const char *name) {
    (void)ud;
    return strcmp(name, "TEAM") == 0 ? "ops\xc3" : NULL;
}

/* A ${VAR} value that is not UTF-8 is a load error at the value. */
static void test_policy_env_value(void **state) {
    (void)state;
    const char *yaml = "version: '1.0'\n"
                       "profiles:\n"
                       "  bot:\n"
                       "    allow: ['read:*']\n"
                       "    deny: ['read:${TEAM}:*']\n";
    aa_load_options lo = {.getenv_fn = env_bad};
    aa_error *err = aa_error_new();
    aa_policy *p = NULL;
    assert_int_equal(
        aa_policy_load_buffer(yaml, strlen(yaml), "env.yaml", &lo, &p, err),
        AA_EPOLICY);
    assert_null(p);
    char *t = tu_error_text(err);
    assert_non_null(strstr(
        t, "env.yaml:5:12: the value of ${TEAM} is not valid UTF-8 (byte 4)"));
    free(t);
    aa_error_free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_request_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delegations, setup, teardown),
        cmocka_unit_test(test_no_audit_line),
        cmocka_unit_test(test_policy_env_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
