/*
 * test_engine_index.c - the engine's approval and A2A indexes give, for
 * every request, exactly the policies whose pins or sender/target patterns
 * can match it: each once, in file order, never one whose condition or
 * patterns could match and never one they rule out. Policies overlap on
 * purpose (nested prefixes, a policy under an exact value and a prefix of
 * it, conditions that cannot be indexed).
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_index.h"

static const char *const conditions[] = {
    "action starts_with \"a\"", "action starts_with \"ab\" and user != \"x\"",
    "action == \"abc\"",
    "action in [\"abc\", \"b\"] or action starts_with \"c\"",
    "user == \"u\"",           /* no pin: always */
    "action starts_with \"\"", /* any action: always */
    "action starts_with \"abcd\"",
    "action == \"a\" or action starts_with \"a\"",     /* twice for "a" */
    "user matches email and action starts_with \"b\"", /* can fail first */
    "action starts_with \"b\" and action starts_with \"bc\"",
    "action starts_with \"abc\" and action == \"abcz\"", /* exact wins */
    "action == \"z\"",
    /* 12-19: by metadata when no action is pinned */
    "metadata.tenant == \"acme\"",
    "tenant in [\"acme\", \"beta\"] and user != \"x\"",
    "metadata.env == \"prod\" or metadata.env == \"stage\"",
    "action == \"z\" and metadata.tenant == \"beta\"",         /* by action */
    "metadata.tenant == \"acme\" or metadata.env == \"prod\"", /* always */
    "metadata.k1 == \"v\"", "metadata.k2 == \"v\"",
    "metadata.k3 == \"v\"", /* a fifth key: always */
};
#define NCOND (sizeof conditions / sizeof conditions[0])

static const struct {
    const char *from, *to;
} a2a[] = {
    {"orchestrator", "*"},
    {"bot-*", "*"},
    {"bot-a*", "x"},
    {"*", "billing"},
    {"*", "svc-*"},
    {"*bot", "svc-a*"},
    {"*", "*"},
    {"b?t", "*"},
    {"bot-ab*", "svc-*"},
    {"*", "svc-ab*"},
    {"orchestrator", "x"},
};
#define NA2A (sizeof a2a / sizeof a2a[0])

static aa_policy *load_policy(void) {
    aa__buf y;
    aa__buf_init(&y);
    aa__buf_puts(&y, "version: \"1.0\"\nroles:\n  r:\n    actions: [\"*\"]\n"
                     "profiles:\n  a:\n    role: r\napproval_policies:\n");
    for (size_t i = 0; i < NCOND; i++)
        aa__buf_printf(&y,
                       "  - name: p%zu\n    condition: '%s'\n    tier: soft\n",
                       i, conditions[i]);
    aa__buf_puts(&y, "a2a:\n  default: deny\n  policies:\n");
    for (size_t i = 0; i < NA2A; i++)
        aa__buf_printf(&y,
                       "    - name: q%zu\n      from_agent: \"%s\"\n"
                       "      to_agent: \"%s\"\n      action: \"*\"\n"
                       "      effect: allow\n",
                       i, a2a[i].from, a2a[i].to);
    aa_error *err = aa_error_new();
    aa_policy *p = NULL;
    int rc = aa_policy_load_buffer(y.data, y.len, "index.yaml", NULL, &p, err);
    if (rc != AA_OK) {
        char *t = tu_error_text(err);
        fail_msg("policy: %s", t);
        free(t);
    }
    aa_error_free(err);
    aa__buf_free(&y);
    return p;
}

/* Drains m into got[] (at most 64 ids), checking that ids only increase. */
static size_t drain(aa__merge m, int *got) {
    size_t n = 0;
    int id;
    while ((id = aa__merge_next(&m)) >= 0) {
        assert_true(n < 64);
        if (n)
            assert_true(id > got[n - 1]);
        got[n++] = id;
    }
    return n;
}

static bool has(const int *ids, size_t n, int id) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

static bool starts(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Whether the index holds metadata key[0, klen). */
static bool key_indexed(const aa__engine_index *ix, const char *key,
                        size_t klen) {
    for (size_t k = 0; k < ix->nmeta; k++)
        if (ix->approvals_by_meta[k].keylen == klen &&
            memcmp(ix->approvals_by_meta[k].key, key, klen) == 0)
            return true;
    return false;
}

/* Whether approval i's pins admit `action` and `meta` (no pin, or a
 * metadata key without an index, admits everything). */
static bool pins_admit(const aa_policy *p, const aa__engine_index *ix, size_t i,
                       const char *action, const aa_meta *meta, size_t nmeta) {
    const char *const *vals;
    size_t n, nexact;
    if (aa__expr_pins(p->approvals[i].cond, AA__F_ACTION, &vals, &n, &nexact)) {
        for (size_t k = 0; k < n; k++)
            if (k < nexact ? strcmp(action, vals[k]) == 0
                           : starts(action, vals[k]))
                return true;
        return false;
    }
    const char *key;
    size_t klen;
    if (!aa__expr_meta_pin(p->approvals[i].cond, &key, &klen, &vals, &n) ||
        !key_indexed(ix, key, klen))
        return true;
    const char *have = aa__meta_string(meta, nmeta, key, klen);
    for (size_t k = 0; k < n && have; k++)
        if (strcmp(have, vals[k]) == 0)
            return true;
    return false;
}

static const aa_meta m_acme[] = {
    {.key = "tenant", .type = AA_VALUE_STRING, .string = "acme"}};
static const aa_meta m_beta_then_acme[] = {
    {.key = "tenant", .type = AA_VALUE_STRING, .string = "beta"},
    {.key = "tenant", .type = AA_VALUE_STRING, .string = "acme"}};
static const aa_meta m_number[] = {
    {.key = "tenant", .type = AA_VALUE_NUMBER, .number = 5}};
static const aa_meta m_env[] = {
    {.key = "env", .type = AA_VALUE_STRING, .string = "stage"},
    {.key = "tenant", .type = AA_VALUE_STRING, .string = "acme"},
    {.key = "k2", .type = AA_VALUE_STRING, .string = "v"},
    {.key = "k3", .type = AA_VALUE_STRING, .string = "v"}};
static const struct {
    const aa_meta *m;
    size_t n;
} metas[] = {
    {NULL, 0}, {m_acme, 1}, {m_beta_then_acme, 2}, {m_number, 1}, {m_env, 4}};

static void test_approval_candidates(void **state) {
    (void)state;
    aa_policy *p = load_policy();
    aa__engine_index ix;
    assert_int_equal(aa__engine_index_build(&ix, p), AA_OK);
    static const char *const actions[] = {
        "a", "ab", "abc", "abcd", "abcde", "abcz", "b", "bc", "bcd",
        "c", "cz", "z",   "zz",   "ac",    "x",    "A", "",   "abd"};
    assert_int_equal(ix.nmeta, 4); /* tenant, env, k1, k2 */
    for (size_t t = 0; t < sizeof actions / sizeof actions[0]; t++) {
        for (size_t mt = 0; mt < sizeof metas / sizeof metas[0]; mt++) {
            const char *act = actions[t];
            size_t len = strlen(act);
            const aa_meta *meta = metas[mt].m;
            size_t nmeta = metas[mt].n;
            int got[64];
            size_t n =
                drain(aa__approval_candidates(&ix, act, len, aa__hash(act, len),
                                              meta, nmeta),
                      got);
            aa__expr_ctx c;
            memset(&c, 0, sizeof c);
            c.fields[AA__F_ACTION] = act;
            c.field_len[AA__F_ACTION] = len;
            c.fields[AA__F_USER] = "u";
            c.field_len[AA__F_USER] = 1;
            c.meta = meta;
            c.nmeta = nmeta;
            for (size_t i = 0; i < NCOND; i++) {
                bool want = pins_admit(p, &ix, i, act, meta, nmeta);
                if (has(got, n, (int)i) != want)
                    fail_msg("action '%s', metadata set %zu: policy p%zu "
                             "(`%s`) %s",
                             act, mt, i, conditions[i],
                             want ? "missing"
                                  : "listed but its pins rule it out");
                bool r = false;
                int rc = aa__expr_eval(p->approvals[i].cond, &c, &r, NULL);
                if ((rc != AA_OK || r) && !has(got, n, (int)i))
                    fail_msg("action '%s', metadata set %zu: p%zu would apply "
                             "but was skipped",
                             act, mt, i);
            }
        }
    }
    /* A few exact expectations, so the test does not only agree with
     * itself. */
    int got[64];
    size_t n = drain(
        aa__approval_candidates(&ix, "abcd", 4, aa__hash("abcd", 4), NULL, 0),
        got);
    const int want_abcd[] = {0, 1, 4, 5, 6, 7, 8, 16, 19};
    assert_int_equal(n, sizeof want_abcd / sizeof want_abcd[0]);
    assert_memory_equal(got, want_abcd, sizeof want_abcd);
    n = drain(aa__approval_candidates(&ix, "z", 1, aa__hash("z", 1), NULL, 0),
              got);
    const int want_z[] = {4, 5, 8, 11, 15, 16, 19};
    assert_int_equal(n, sizeof want_z / sizeof want_z[0]);
    assert_memory_equal(got, want_z, sizeof want_z);
    /* tenant "acme" and env "stage": 12, 13, 14 and 18 join */
    n = drain(aa__approval_candidates(&ix, "z", 1, aa__hash("z", 1), m_env, 4),
              got);
    const int want_z_env[] = {4, 5, 8, 11, 12, 13, 14, 15, 16, 18, 19};
    assert_int_equal(n, sizeof want_z_env / sizeof want_z_env[0]);
    assert_memory_equal(got, want_z_env, sizeof want_z_env);
    aa__engine_index_free(&ix);
    aa_policy_free(p);
}

static bool indexed_prefix(const aa__pattern *pat) {
    return pat->kind == AA__PAT_PREFIX && pat->litlen > 0;
}

static void test_a2a_candidates(void **state) {
    (void)state;
    aa_policy *p = load_policy();
    aa__engine_index ix;
    assert_int_equal(aa__engine_index_build(&ix, p), AA_OK);
    static const char *const agents[] = {"orchestrator", "bot-a", "bot-ab",
                                         "bot-abc",      "bot-",  "bot",
                                         "robot",        "x",     "bat"};
    static const char *const targets[] = {
        "x", "billing", "svc-a", "svc-ab", "svc-abc", "svc-", "svc", "other"};
    for (size_t ai = 0; ai < sizeof agents / sizeof agents[0]; ai++) {
        for (size_t ti = 0; ti < sizeof targets / sizeof targets[0]; ti++) {
            const char *from = agents[ai], *to = targets[ti];
            size_t fl = strlen(from), tl = strlen(to);
            int got[64];
            size_t n = drain(aa__a2a_candidates(&ix, from, fl, to, tl), got);
            for (size_t i = 0; i < NA2A; i++) {
                const aa__a2a *a = &p->a2a.policies[i];
                bool by_from = a->from_pat.kind == AA__PAT_EXACT ||
                               indexed_prefix(&a->from_pat);
                bool by_to = !by_from && (a->to_pat.kind == AA__PAT_EXACT ||
                                          indexed_prefix(&a->to_pat));
                bool want = by_from ? aa__pattern_match(&a->from_pat, from, fl)
                            : by_to ? aa__pattern_match(&a->to_pat, to, tl)
                                    : true;
                if (has(got, n, (int)i) != want)
                    fail_msg("%s -> %s: policy q%zu (%s -> %s) %s", from, to, i,
                             a2a[i].from, a2a[i].to,
                             want ? "missing" : "listed but cannot match");
                if (aa__pattern_match(&a->from_pat, from, fl) &&
                    aa__pattern_match(&a->to_pat, to, tl) &&
                    !has(got, n, (int)i))
                    fail_msg("%s -> %s: q%zu matches but was skipped", from, to,
                             i);
            }
        }
    }
    aa__engine_index_free(&ix);
    aa_policy_free(p);
}

/* Through the public API: the first matching soft policy in file order
 * names the tier. p8's matcher is not registered, so it fails closed and
 * always counts; it comes after the ones expected here. */
static void test_decisions_unchanged(void **state) {
    (void)state;
    aa_policy *p = load_policy();
    aa_engine *e = NULL;
    aa_engine_options o = {.audit_mode = AA_AUDIT_OFF};
    assert_int_equal(aa_engine_new(p, &o, &e, NULL), AA_OK);
    aa_decision *d = aa_decision_new();
    static const char *const actions[] = {"a",  "abc", "abcd", "abcz", "b",
                                          "bc", "c",   "z",    "x"};
    static const char *const want_policy[] = {"p0", "p0", "p0", "p0", "p3",
                                              "p4", "p3", "p4", "p4"};
    for (size_t t = 0; t < sizeof actions / sizeof actions[0]; t++) {
        aa_request r = {.agent = "a", .user = "u", .action = actions[t]};
        aa_authorize(e, &r, d);
        assert_true(aa_decision_allowed(d));
        if (strcmp(aa_decision_approval_policy(d), want_policy[t]) != 0)
            fail_msg("action '%s': approval policy '%s', want '%s'", actions[t],
                     aa_decision_approval_policy(d), want_policy[t]);
    }
    aa_decision_free(d);
    aa_engine_free(e);
    aa_policy_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_approval_candidates),
        cmocka_unit_test(test_a2a_candidates),
        cmocka_unit_test(test_decisions_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
