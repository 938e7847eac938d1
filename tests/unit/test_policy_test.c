/* test_policy_test.c - the library's policy-test runner (aa_test_run_file):
 * results as data, type errors with positions, file-level errors. */
#define _DEFAULT_SOURCE /* realpath */
#include "testutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *write_tmp(const char *dir, const char *name, const char *text) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    assert_int_equal(tu_write_file(p, text), 0);
    return p;
}

static void test_report_as_data(void **state) {
    (void)state;
    char *dir = tu_tmpdir();
    char *rel = tu_path("examples/policies/enterprise.yaml");
    char *pol = realpath(rel, NULL); /* `policy` is relative to the file */
    free(rel);
    char text[2048];
    snprintf(text, sizeof text,
             "policy: %s\n"
             "tests:\n"
             "  - name: wrong\n"
             "    request: {agent: copilot, user: alice, action: "
             "\"delete:branch\"}\n"
             "    expect: {allowed: true, tier: strong}\n"
             "  - name: right\n"
             "    request: {agent: copilot, user: alice, action: \"read:x\", "
             "metadata: {tags: [a, 1]}}\n"
             "    expect: {allowed: true, approval_policy: null}\n"
             "  - request: {agent: 123, user: alice, action: x}\n"
             "    expect: {allowed: false}\n",
             pol);
    char *file = write_tmp(dir, "t.test.yaml", text);
    aa_error *err = aa_error_new();
    aa_test_report *r = NULL;
    int rc0 = aa_test_run_file(file, NULL, &r, err);
    if (rc0 != AA_OK)
        fail_msg("%s", tu_error_text(err));
    assert_int_equal(aa_test_report_count(r), 3);
    assert_int_equal(aa_test_report_passed(r), 1);
    assert_int_equal(aa_test_report_failed(r), 2);
    assert_string_equal(aa_test_report_policy(r), pol);

    const aa_test_case *c = aa_test_report_get(r, 0);
    assert_string_equal(c->name, "wrong");
    assert_int_equal(c->line, 3);
    assert_int_equal(c->column, 5);
    assert_false(c->passed);
    assert_null(c->error);
    assert_non_null(c->decision);
    assert_int_equal(c->mismatch_count, 2);
    assert_string_equal(c->mismatches[0].field, "allowed");
    assert_string_equal(c->mismatches[0].expected, "true");
    assert_string_equal(c->mismatches[0].actual, "false");
    assert_int_equal(c->mismatches[0].line, 5);
    assert_int_equal(c->mismatches[0].column, 23);
    assert_string_equal(c->mismatches[1].field, "tier");
    assert_string_equal(c->mismatches[1].message,
                        "tier: expected 'strong', got 'autonomous'");

    c = aa_test_report_get(r, 1);
    assert_true(c->passed);
    assert_int_equal(c->mismatch_count, 0);

    c = aa_test_report_get(r, 2);
    assert_string_equal(c->name, "case 3");
    assert_false(c->passed);
    assert_null(c->decision);
    assert_string_equal(c->error,
                        "request: 'agent' must be a string, not the number "
                        "123 (quote it)");
    assert_int_equal(c->error_line, 9);
    assert_int_equal(c->error_column, 22);
    assert_null(aa_test_report_get(r, 3));
    aa_test_report_free(r);

    /* Without `policy`, the default is used; without one, an error. */
    char *nopol = write_tmp(dir, "n.test.yaml", "tests: []\n");
    aa_error_clear(err);
    assert_int_equal(aa_test_run_file(nopol, NULL, &r, err), AA_EINVAL);
    assert_null(r);
    char *msg = tu_error_text(err);
    assert_non_null(strstr(msg, "no 'policy' to test"));
    free(msg);
    aa_test_options o = {.default_policy = pol};
    aa_error_clear(err);
    assert_int_equal(aa_test_run_file(nopol, &o, &r, err), AA_OK);
    assert_int_equal(aa_test_report_count(r), 0);
    aa_test_report_free(r);

    /* A missing file and a policy that does not load are errors. */
    aa_error_clear(err);
    assert_int_equal(aa_test_run_file("/nonexistent/x.yaml", NULL, &r, err),
                     AA_EIO);
    char *badpol = write_tmp(dir, "bad.yaml", "profiles:\n  bot: 1\n");
    char *usesbad =
        write_tmp(dir, "b.test.yaml", "policy: bad.yaml\ntests: []\n");
    aa_error_clear(err);
    assert_int_equal(aa_test_run_file(usesbad, NULL, &r, err), AA_EPOLICY);
    assert_null(r);

    aa_error_free(err);
    free(badpol);
    free(usesbad);
    free(nopol);
    free(file);
    free(pol);
    tu_rmdir(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_as_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
