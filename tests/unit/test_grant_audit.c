/*
 * test_grant_audit.c - sessions and delegations when their audit line
 * cannot be written: a grant that is not audited is not made (unless
 * audit.on_failure: allow), and the caller's output struct is left zeroed,
 * so clearing it is always safe. The log is a file every write to fails
 * (RLIMIT_FSIZE 0, as on a full disk) or a path below a plain file (it
 * does not open). A log path that is unsafe (a directory, a device) is
 * refused when the engine is made.
 */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static aa_policy *load_policy(const char *audit_path, const char *on_failure) {
    char yaml[1024];
    snprintf(
        yaml, sizeof yaml,
        "version: '1.0'\n"
        "roles: {r: {actions: [read]}}\n"
        "profiles: {bot: {role: r}}\n"
        "delegation: {rules: [{name: any, allowed_actions: ['deploy:*']}]}\n"
        "audit: {enabled: true, path: '%s', on_failure: %s}\n",
        audit_path, on_failure);
    aa_policy *p = NULL;
    assert_int_equal(
        aa_policy_load_buffer(yaml, strlen(yaml), "t.yaml", NULL, &p, NULL),
        AA_OK);
    return p;
}

typedef struct fixture {
    aa_policy *policy;
    aa_store *store;
    aa_engine *engine;
} fixture;

static void open_engine(fixture *f, const char *audit_path,
                        const char *on_failure) {
    f->policy = load_policy(audit_path, on_failure);
    assert_int_equal(aa_store_open_memory(&f->store, NULL), AA_OK);
    aa_engine_options o = {.store = f->store};
    assert_int_equal(aa_engine_new(f->policy, &o, &f->engine, NULL), AA_OK);
}

static void close_engine(fixture *f) {
    aa_engine_free(f->engine);
    aa_store_free(f->store);
    aa_policy_free(f->policy);
}

static size_t live_sessions(aa_engine *e) {
    aa_session *list = NULL;
    size_t n = 99;
    assert_int_equal(aa_session_list(e, NULL, NULL, &list, &n, NULL), AA_OK);
    aa_session_list_free(list, n);
    return n;
}

static size_t live_delegations(aa_engine *e) {
    aa_delegation *list = NULL;
    size_t n = 99;
    assert_int_equal(aa_delegation_list(e, NULL, &list, &n, NULL), AA_OK);
    aa_delegation_list_free(list, n);
    return n;
}

/* Fills s and g with garbage, as an uninitialised caller's struct would be. */
static void scribble(aa_session *s, aa_delegation *g) {
    memset(s, 0x5a, sizeof *s);
    memset(g, 0x5a, sizeof *g);
}

static void expect_refused(const char *audit_path, const char *what) {
    fixture f;
    open_engine(&f, audit_path, "deny");
    aa_session s;
    aa_delegation g;
    const char *acts[] = {"deploy:staging"};
    aa_error *err = aa_error_new();

    scribble(&s, &g);
    assert_int_equal(
        aa_session_create(f.engine, "bot", "alice", NULL, 60, &s, err),
        AA_EAUDIT);
    char *text = tu_error_text(err);
    if (!strstr(text, audit_path) || !strstr(text, what))
        fail_msg("session error lacks '%s' / '%s': %s", audit_path, what, text);
    free(text);
    assert_int_equal(s.session_id[0], 0); /* zeroed: nothing to clear */
    assert_null(s.agent);
    aa_session_clear(&s);
    assert_int_equal(live_sessions(f.engine), 0);

    aa_error_clear(err);
    assert_int_equal(aa_delegation_create(f.engine, "alice", "bot", acts, 1, 60,
                                          NULL, &g, err),
                     AA_EAUDIT);
    assert_int_equal(g.delegation_id[0], 0);
    assert_null(g.actions);
    aa_delegation_clear(&g);
    assert_int_equal(live_delegations(f.engine), 0);

    /* A refusal for a reason of its own also leaves the struct zeroed. */
    scribble(&s, &g);
    assert_int_equal(
        aa_session_create(f.engine, "bot", "alice", NULL, 0, &s, NULL),
        AA_EINVAL);
    assert_null(s.agent);
    assert_int_equal(aa_delegation_create(f.engine, "alice", "bot", acts, 0, 60,
                                          NULL, &g, NULL),
                     AA_EREFUSED);
    assert_null(g.from_user);

    aa_error_free(err);
    close_engine(&f);
}

/* The log opens but every write fails: the grant is stored, then undone. */
static void test_write_fails(void **state) {
    (void)state;
    char *dir = tu_tmpdir();
    char path[4096];
    snprintf(path, sizeof path, "%s/audit.jsonl", dir);
    tu_fsize_zero();
    expect_refused(path, strerror(EFBIG));
    tu_fsize_restore();
    tu_rmdir(dir);
    free(dir);
}

/* The log does not even open: nothing is stored. */
static void test_open_fails(void **state) {
    (void)state;
    char *dir = tu_tmpdir();
    char path[4096];
    snprintf(path, sizeof path, "%s/plain", dir);
    assert_int_equal(tu_write_file(path, "x"), 0);
    strcat(path, "/audit.jsonl"); /* below a plain file */
    expect_refused(path, "audit log unavailable");
    tu_rmdir(dir);
    free(dir);
}

/* A directory or a device as the log is refused: no engine, no grant. */
static void test_unsafe_path_refused(void **state) {
    (void)state;
    char *dir = tu_tmpdir();
    char sub[600];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    const char *paths[] = {sub, "/dev/null"};
    for (size_t i = 0; i < 2; i++) {
        for (int allow = 0; allow < 2; allow++) {
            aa_policy *p = load_policy(paths[i], allow ? "allow" : "deny");
            aa_store *st = NULL;
            assert_int_equal(aa_store_open_memory(&st, NULL), AA_OK);
            aa_engine_options o = {.store = st};
            aa_engine *e = NULL;
            aa_error *err = aa_error_new();
            assert_int_equal(aa_engine_new(p, &o, &e, err), AA_EREFUSED);
            assert_null(e);
            char *text = tu_error_text(err);
            if (!strstr(text, "not a regular file") ||
                !strstr(text, "audit.enabled: false"))
                fail_msg("refusal of '%s' says: %s", paths[i], text);
            free(text);
            aa_error_free(err);
            aa_store_free(st);
            aa_policy_free(p);
        }
    }
    tu_rmdir(dir);
    free(dir);
}

/* With on_failure: allow the grant is made and usable. */
static void test_on_failure_allow(void **state) {
    (void)state;
    char *dir = tu_tmpdir();
    char path[4096];
    snprintf(path, sizeof path, "%s/audit.jsonl", dir);
    fixture f;
    open_engine(&f, path, "allow");
    tu_fsize_zero();
    aa_session s;
    assert_int_equal(
        aa_session_create(f.engine, "bot", "alice", NULL, 60, &s, NULL), AA_OK);
    int valid = 0;
    assert_int_equal(
        aa_session_validate(f.engine, s.session_id, &valid, NULL, NULL), AA_OK);
    assert_int_equal(valid, 1);
    aa_session_clear(&s);
    aa_delegation g;
    const char *acts[] = {"deploy:staging"};
    assert_int_equal(aa_delegation_create(f.engine, "alice", "bot", acts, 1, 60,
                                          NULL, &g, NULL),
                     AA_OK);
    aa_delegation_clear(&g);
    aa_decision *d = aa_decision_new();
    aa_request r = {
        .agent = "bot", .user = "alice", .action = "deploy:staging"};
    aa_authorize(f.engine, &r, d);
    assert_true(aa_decision_allowed(d));
    aa_decision_free(d);
    assert_int_equal(live_sessions(f.engine), 1);
    assert_int_equal(live_delegations(f.engine), 1);
    tu_fsize_restore();
    close_engine(&f);
    tu_rmdir(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_fails),
        cmocka_unit_test(test_open_fails),
        cmocka_unit_test(test_on_failure_allow),
        cmocka_unit_test(test_unsafe_path_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
