/* test_binding_api.c - the public functions for language bindings:
 * aa_expr_compile / aa_expr_eval (standalone conditions) and
 * aa_audit_append_decision. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static int upper(void *ud, const char *name, const char *value, int *result) {
    (void)ud;
    if (strcmp(name, "upper") != 0)
        return AA_ENOTFOUND;
    *result = value && value[0] >= 'A' && value[0] <= 'Z';
    return AA_OK;
}

static void test_expr_compile_eval(void **state) {
    (void)state;
    aa_meta items[] = {{.type = AA_VALUE_STRING, .string = "prod"},
                       {.type = AA_VALUE_STRING, .string = "production"}};
    aa_meta vars[] = {
        {.key = "envs", .type = AA_VALUE_LIST, .items = items, .count = 2},
        {.key = "limit", .type = AA_VALUE_NUMBER, .number = 100}};
    aa_error *err = aa_error_new();
    aa_expr *e = NULL;
    assert_int_equal(aa_expr_compile("env in $envs and amount > $limit",
                                     AA_EXPR_APPROVAL, vars, 2, &e, err),
                     AA_OK);
    aa_meta meta[] = {
        {.key = "env", .type = AA_VALUE_STRING, .string = "prod"},
        {.key = "amount", .type = AA_VALUE_NUMBER, .number = 500}};
    aa_request req = {.agent = "a",
                      .user = "u",
                      .action = "pay",
                      .metadata = meta,
                      .metadata_count = 2};
    int r = -1;
    assert_int_equal(aa_expr_eval(e, &req, NULL, NULL, &r, err), AA_OK);
    assert_int_equal(r, 1);
    meta[1].number = 5;
    assert_int_equal(aa_expr_eval(e, &req, NULL, NULL, &r, err), AA_OK);
    assert_int_equal(r, 0);
    aa_expr_free(e);

    /* An undefined variable is an error, unless variables is NULL. */
    assert_int_equal(
        aa_expr_compile("x == $nope", AA_EXPR_APPROVAL, vars, 2, &e, err),
        AA_EPARSE);
    assert_null(e);
    aa_error_clear(err);
    assert_int_equal(
        aa_expr_compile("x == $nope", AA_EXPR_APPROVAL, NULL, 0, &e, err),
        AA_OK);
    aa_expr_free(e);

    /* A syntax error names its column. */
    assert_int_equal(
        aa_expr_compile("action == ", AA_EXPR_APPROVAL, NULL, 0, &e, err),
        AA_EPARSE);
    const aa_diag *d = aa_error_get(err, 0);
    assert_non_null(d);
    assert_true(d->column > 0);
    aa_error_clear(err);

    /* A2A fields; matchers; an unknown matcher fails (the caller closes). */
    assert_int_equal(aa_expr_compile("from_agent == \"a\" and to_agent == "
                                     "\"b\" and user matches upper",
                                     AA_EXPR_A2A, NULL, 0, &e, err),
                     AA_OK);
    aa_request call = {
        .agent = "a", .user = "Ann", .action = "x", .target_agent = "b"};
    assert_int_equal(aa_expr_eval(e, &call, upper, NULL, &r, err), AA_OK);
    assert_int_equal(r, 1);
    assert_int_equal(aa_expr_eval(e, &call, NULL, NULL, &r, err), AA_EEVAL);
    assert_int_equal(r, 0);
    assert_true(aa_error_count(err) > 0);
    aa_expr_free(e);
    aa_error_free(err);
}

static void test_audit_append(void **state) {
    (void)state;
    char *dir = tu_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/sub/audit.jsonl", dir);
    aa_error *err = aa_error_new();
    aa_request req = {.agent = "bot", .user = "alice", .action = "read"};
    aa_audit_record rec = {.allowed = 1,
                           .tier = AA_TIER_SOFT,
                           .reason = "ok",
                           .requires_approval = 1,
                           .approval_policy = "p",
                           .config_name = "cfg"};
    assert_int_equal(aa_audit_append_decision(path, &req, &rec, err), AA_OK);
    assert_int_equal(aa_audit_append_decision(path, &req, &rec, err), AA_OK);
    size_t lines = 0, bad = 0;
    assert_int_equal(aa_audit_verify(path, &lines, &bad, err), AA_OK);
    assert_int_equal(lines, 2);
    char *text = tu_read_file(path, NULL);
    assert_non_null(strstr(text, "\"approval_policy\":\"p\""));
    assert_non_null(strstr(text, "\"tier\":\"soft\""));
    free(text);
    aa_request bad_req = {.agent = "bot", .user = "", .action = "read"};
    assert_int_equal(aa_audit_append_decision(path, &bad_req, &rec, err),
                     AA_EINVAL);
    aa_error_free(err);
    tu_rmdir(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expr_compile_eval),
        cmocka_unit_test(test_audit_append),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
