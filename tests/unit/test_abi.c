/* test_abi.c - the promises of docs/c-api.md "ABI promise": options structs
 * carry their size, so callers built against an older or newer header work,
 * and the version macros agree with aa_version(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static const char *POLICY = "version: \"1.0\"\n"
                            "roles: {viewer: {actions: [\"read:*\"]}}\n"
                            "profiles: {bot: {role: viewer}}\n"
                            "audit: {enabled: false}\n"
                            "unknown_key: 1\n";
/* sha256sum of POLICY */
static const char *POLICY_SHA256 =
    "84fc2042cdd12bf5ef1600a3722cbba406e96869c286eaf6299ca839e23b54b2";

static void version_macros_match_library(void **state) {
    (void)state;
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", AA_VERSION_MAJOR, AA_VERSION_MINOR,
             AA_VERSION_PATCH);
    assert_string_equal(aa_version(), want);
}

static void options_init_sets_size(void **state) {
    (void)state;
    aa_load_options lo;
    memset(&lo, 0xAB, sizeof lo);
    aa_load_options_init(&lo);
    assert_int_equal(lo.size, sizeof lo);
    assert_int_equal(lo.strict, 0);
    assert_null(lo.getenv_fn);
    aa_engine_options eo;
    memset(&eo, 0xAB, sizeof eo);
    aa_engine_options_init(&eo);
    assert_int_equal(eo.size, sizeof eo);
    assert_null(eo.store);
    assert_int_equal(eo.audit_mode, AA_AUDIT_FROM_POLICY);
}

/* strict is honoured whether the caller sets size or leaves it 0. */
static void load_options_size_zero_or_set(void **state) {
    (void)state;
    aa_load_options opts = {.strict = 1};
    aa_policy *p = NULL;
    aa_error *err = aa_error_new();
    assert_int_not_equal(
        aa_policy_load_buffer(POLICY, strlen(POLICY), "t.yaml", &opts, &p, err),
        AA_OK);
    assert_null(p);
    aa_load_options_init(&opts);
    opts.strict = 1;
    aa_error_clear(err);
    assert_int_not_equal(
        aa_policy_load_buffer(POLICY, strlen(POLICY), "t.yaml", &opts, &p, err),
        AA_OK);
    opts.strict = 0;
    aa_error_clear(err);
    assert_int_equal(
        aa_policy_load_buffer(POLICY, strlen(POLICY), "t.yaml", &opts, &p, err),
        AA_OK);
    aa_policy_free(p);
    aa_error_free(err);
}

/* A caller built against a newer header passes a larger struct: the fields
 * this library does not know are ignored, the known ones are used. */
static void engine_options_from_newer_caller(void **state) {
    (void)state;
    aa_policy *p = NULL;
    assert_int_equal(
        aa_policy_load_buffer(POLICY, strlen(POLICY), "t.yaml", NULL, &p, NULL),
        AA_OK);
    struct {
        aa_engine_options known;
        char future[64];
    } newer;
    memset(&newer, 0x5A, sizeof newer);
    aa_engine_options_init(&newer.known);
    newer.known.size = sizeof newer;
    newer.known.audit_mode = AA_AUDIT_OFF;
    aa_engine *e = NULL;
    aa_error *err = aa_error_new();
    assert_int_equal(aa_engine_new(p, &newer.known, &e, err), AA_OK);
    aa_decision *d = aa_decision_new();
    aa_request req = {.agent = "bot", .user = "u", .action = "read:x"};
    assert_int_equal(aa_authorize(e, &req, d), AA_OK);
    assert_true(aa_decision_allowed(d));
    aa_decision_free(d);
    aa_engine_free(e);
    aa_error_free(err);
    aa_policy_free(p);
}

/* Accessors the CLI and bindings use instead of the policy's JSON view. */
static void policy_accessors(void **state) {
    (void)state;
    aa_policy *p = NULL;
    assert_int_equal(
        aa_policy_load_buffer(POLICY, strlen(POLICY), "t.yaml", NULL, &p, NULL),
        AA_OK);
    assert_int_equal(aa_policy_audit_retention_days(p), 90);
    assert_string_equal(aa_policy_sha256(p), POLICY_SHA256);
    aa_policy_free(p);
    const char *y = "version: \"1.0\"\naudit: {retention_days: 7}\n";
    assert_int_equal(
        aa_policy_load_buffer(y, strlen(y), "r.yaml", NULL, &p, NULL), AA_OK);
    assert_int_equal(aa_policy_audit_retention_days(p), 7);
    aa_policy_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(version_macros_match_library),
        cmocka_unit_test(options_init_sets_size),
        cmocka_unit_test(load_options_size_zero_or_set),
        cmocka_unit_test(engine_options_from_newer_caller),
        cmocka_unit_test(policy_accessors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
