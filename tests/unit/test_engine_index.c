/*
 * test_engine_index.c - the engine's approval and A2A indexes give, for
 * every request, every policy whose condition could be true or fail (and
 * whose patterns match), each once, in file order; and they do skip the
 * ones whose atoms rule them out. Policies overlap on purpose (nested
 * prefixes and suffixes, a policy under an exact value and a prefix of it,
 * conditions that cannot be indexed, conjuncts that can fail before an
 * indexable one), and requests carry the awkward values (null and missing
 * metadata, values of the wrong kind, a key given twice, thresholds at
 * their boundary).
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"

static const char *const conditions[] = {
    "action starts_with \"a\"",
    "action starts_with \"ab\" and user != \"x\"",
    "action == \"abc\"",
    "action in [\"abc\", \"b\"] or action starts_with \"c\"",
    "user == \"u\"",
    "action starts_with \"\"", /* any action */
    "action starts_with \"abcd\"",
    "action == \"a\" or action starts_with \"a\"",     /* twice for "a" */
    "user matches email and action starts_with \"b\"", /* can fail first */
    "action starts_with \"b\" and action starts_with \"bc\"",
    "action starts_with \"abc\" and action == \"abcz\"", /* exact wins */
    "action == \"z\"",
    /* 12-19: metadata equality */
    "metadata.tenant == \"acme\"",
    "tenant in [\"acme\", \"beta\"] and user != \"x\"",
    "metadata.env == \"prod\" or metadata.env == \"stage\"",
    "action == \"z\" and metadata.tenant == \"beta\"",
    "metadata.tenant == \"acme\" or metadata.env == \"prod\"", /* two keys */
    "metadata.k1 == \"v\"",
    "metadata.k2 == \"v\"",
    "metadata.k3 == \"v\"",
    /* 20-29: thresholds, at and around the boundary */
    "metadata.amount > 1000",
    "metadata.amount >= 1000",
    "1000 < metadata.amount", /* the constant on the left */
    "metadata.amount <= 10",
    "metadata.amount < 10",
    "metadata.name < \"m\"",
    "metadata.name >= \"m\"",
    "metadata.amount > 5 and action == \"k\"", /* can fail: threshold */
    "action == \"k\" and metadata.amount > 5", /* action first: by action */
    "not (metadata.amount > 5)",               /* null makes it true */
    /* 30-39: not, or across fields, in lists, constants, suffixes */
    "not (action != \"x\")",
    "not (action not in [\"x\", \"y\"])",
    "action == \"q\" or user == \"u2\"",
    "metadata.tier in [\"gold\", 3, true]",
    "metadata.flag == true",
    "metadata.missing == null",              /* null: no index */
    "false and action == \"a\"",             /* never true */
    "user matches email or action == \"a\"", /* can fail: always */
    "resource ends_with \"/secret\"",
    "resource ends_with \"cret\"",
    /* 40-45 */
    "action starts_with 5", /* never true: not a string */
    "metadata.amount == 1000",
    "metadata.amount == -0",
    "metadata.tags contains \"x\" or action == \"a\"", /* contains: always */
    "not (user == \"u\" and metadata.amount > 5)",
    "(action == \"a\" or action == \"b\") and metadata.amount < 3",
};
#define NCOND (sizeof conditions / sizeof conditions[0])

static const struct {
    const char *from, *to, *action, *cond;
} a2a[] = {
    {"orchestrator", "*", "*", ""},
    {"bot-*", "*", "*", ""},
    {"bot-a*", "x", "*", ""},
    {"*", "billing", "*", ""},
    {"*", "svc-*", "*", ""},
    {"*bot", "svc-a*", "*", ""},
    {"*", "*", "*", ""},
    {"b?t", "*", "*", ""},
    {"bot-ab*", "svc-*", "*", ""},
    {"*", "svc-ab*", "*", ""},
    {"orchestrator", "x", "*", ""},
    {"*-gen-agent-7", "*-gen-agent-8", "*", ""},
    {"*", "*", "pay:*", ""},
    {"*", "*", "*", "metadata.amount > 100"},
    {"*", "*", "*", "to_agent == \"x\" or from_agent == \"bot\""},
    {"*", "*", "*read", "metadata.priority != \"low\""},
    {"*ab", "*", "*", "user matches email"},
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
                       "      to_agent: \"%s\"\n      action: \"%s\"\n"
                       "      effect: %s\n      condition: '%s'\n",
                       i, a2a[i].from, a2a[i].to, a2a[i].action,
                       i % 2 ? "deny" : "allow", a2a[i].cond);
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

/* The candidates of one request, in order (at most 64), checking that
 * ids only increase; the count agrees with aa__cands_count. */
static size_t drain(const aa__atom_index *ix, const aa_request *q,
                    aa__bitset *bits, int *got) {
    aa__index_req x;
    memset(&x, 0, sizeof x);
    x.req = q;
    x.hash[AA__F_ACTION] = aa__hash(q->action, strlen(q->action));
    x.hashed = 1u << AA__F_ACTION;
    aa__cands c = aa__cands_collect(ix, &x, bits);
    size_t n = 0, counted = aa__cands_count(&c);
    int id;
    while ((id = aa__cands_next(&c)) >= 0) {
        assert_true(n < 64);
        if (n)
            assert_true(id > got[n - 1]);
        got[n++] = id;
    }
    assert_int_equal(n, counted);
    return n;
}

static bool has(const int *ids, size_t n, int id) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

static const aa_meta l_items[] = {{.type = AA_VALUE_STRING, .string = "x"}};

#define M_STR(k, v)                                                            \
    { .key = k, .type = AA_VALUE_STRING, .string = v }
#define M_NUM(k, v)                                                            \
    { .key = k, .type = AA_VALUE_NUMBER, .number = v }
#define M_BOOL(k, v)                                                           \
    { .key = k, .type = AA_VALUE_BOOL, .boolean = v }
#define M_NULL(k)                                                              \
    { .key = k, .type = AA_VALUE_NULL }

static const aa_meta m_acme[] = {M_STR("tenant", "acme")};
static const aa_meta m_beta_then_acme[] = {M_STR("tenant", "beta"),
                                           M_STR("tenant", "acme")};
static const aa_meta m_number[] = {M_NUM("tenant", 5)};
static const aa_meta m_env[] = {M_STR("env", "stage"), M_STR("tenant", "acme"),
                                M_STR("k2", "v"), M_STR("k3", "v")};
static const aa_meta m_1000[] = {M_NUM("amount", 1000)};
static const aa_meta m_1000_5[] = {M_NUM("amount", 1000.5)};
static const aa_meta m_10[] = {M_NUM("amount", 10)};
static const aa_meta m_5[] = {M_NUM("amount", 5), M_NUM("amount", 5000)};
static const aa_meta m_neg0[] = {M_NUM("amount", -0.0), M_NUM("tier", 3)};
static const aa_meta m_amount_str[] = {M_STR("amount", "1000"),
                                       M_STR("name", "m")};
static const aa_meta m_amount_null[] = {M_NULL("amount"), M_NULL("tier"),
                                        M_NULL("name")};
static const aa_meta m_amount_bool[] = {M_BOOL("amount", 1), M_BOOL("flag", 1),
                                        M_BOOL("tier", 1)};
static const aa_meta m_amount_list[] = {
    {.key = "amount", .type = AA_VALUE_LIST, .items = l_items, .count = 1},
    {.key = "tags", .type = AA_VALUE_LIST, .items = l_items, .count = 1},
    M_STR("name", "l")};
static const aa_meta m_strings[] = {
    M_STR("name", "zz"), M_STR("tier", "gold"), M_STR("flag", "true"),
    M_NUM("tier", 1),    M_STR("tags", "xyz"),  M_STR("priority", "low")};
static const aa_meta m_nulls[] = {
    {.key = "name", .type = AA_VALUE_STRING, .string = NULL},
    {.key = "amount", .type = AA_VALUE_LIST, .items = NULL, .count = 2},
    {.key = NULL, .type = AA_VALUE_STRING, .string = "x"}};
static const struct {
    const aa_meta *m;
    size_t n;
} metas[] = {{NULL, 0},          {m_acme, 1},        {m_beta_then_acme, 2},
             {m_number, 1},      {m_env, 4},         {m_1000, 1},
             {m_1000_5, 1},      {m_10, 1},          {m_5, 2},
             {m_neg0, 2},        {m_amount_str, 2},  {m_amount_null, 3},
             {m_amount_bool, 3}, {m_amount_list, 3}, {m_strings, 6},
             {m_nulls, 3}};
#define NMETAS (sizeof metas / sizeof metas[0])

static const char *const req_actions[] = {
    "a",  "ab", "abc", "abcd", "abcde", "abcz", "b", "bc", "bcd", "c",
    "cz", "z",  "zz",  "ac",   "x",     "A",    "k", "q",  "y",   "pay:x"};
#define NACTIONS (sizeof req_actions / sizeof req_actions[0])
static const char *const users[] = {"u", "u2", "w"};
static const char *const resources[] = {NULL, "doc/secret", "cret", "x"};

/* The request as conditions see it (built-in fields "" when absent). */
static void ctx_of(const aa_request *q, aa__expr_ctx *c) {
    memset(c, 0, sizeof *c);
    const char *v[AA__F_COUNT] = {q->agent,      q->user,  q->action,
                                  q->resource,   q->scope, q->target_agent,
                                  q->session_id, q->agent, q->target_agent};
    for (int f = 0; f < AA__F_COUNT; f++) {
        c->fields[f] = v[f] ? v[f] : "";
        c->field_len[f] = strlen(c->fields[f]);
    }
    c->meta = q->metadata;
    c->nmeta = q->metadata ? q->metadata_count : 0;
}

/* Every approval policy whose condition is true or fails is a candidate;
 * and the index skips at least `skipped` policy-request pairs. */
static void test_approval_candidates(void **state) {
    (void)state;
    aa_policy *p = load_policy();
    aa__engine_index ix;
    assert_int_equal(aa__engine_index_build(&ix, p), AA_OK);
    aa__bitset bits = {0};
    size_t pairs = 0, skipped = 0;
    for (size_t t = 0; t < NACTIONS; t++)
        for (size_t u = 0; u < 3; u++)
            for (size_t rs = 0; rs < 4; rs++)
                for (size_t mt = 0; mt < NMETAS; mt++) {
                    aa_request q = {.agent = "a",
                                    .user = users[u],
                                    .action = req_actions[t],
                                    .resource = resources[rs],
                                    .metadata = metas[mt].m,
                                    .metadata_count = metas[mt].n};
                    int got[64];
                    size_t n = drain(&ix.approvals, &q, &bits, got);
                    aa__expr_ctx c;
                    ctx_of(&q, &c);
                    for (size_t i = 0; i < NCOND; i++) {
                        bool r = false;
                        int rc =
                            aa__expr_eval(p->approvals[i].cond, &c, &r, NULL);
                        pairs++;
                        if (!has(got, n, (int)i)) {
                            skipped++;
                            if (rc != AA_OK || r)
                                fail_msg("action '%s', user '%s', resource "
                                         "'%s', metadata set %zu: p%zu (`%s`) "
                                         "is %s but was skipped",
                                         q.action, q.user,
                                         q.resource ? q.resource : "", mt, i,
                                         conditions[i],
                                         rc != AA_OK ? "an error" : "true");
                        }
                    }
                }
    /* The index must be worth having: most pairs are skipped. */
    if (skipped * 2 < pairs)
        fail_msg("only %zu of %zu pairs skipped", skipped, pairs);
    free(bits.words);
    aa__engine_index_free(&ix);
    aa_policy_free(p);
}

/* Exact expectations, so the test does not only agree with itself. */
static void test_approval_selective(void **state) {
    (void)state;
    aa_policy *p = load_policy();
    aa__engine_index ix;
    assert_int_equal(aa__engine_index_build(&ix, p), AA_OK);
    aa__bitset bits = {0};
    int got[64];
    /* No metadata, user "w", no resource, action "x": only conditions
     * without a filter, p30/p31 (not != / not in on "x") and those whose
     * atoms are about "x" remain. */
    aa_request q = {.agent = "a", .user = "w", .action = "x"};
    size_t n = drain(&ix.approvals, &q, &bits, got);
    const int want_x[] = {5, 8, 29, 30, 31, 35, 37, 43, 44};
    if (n != sizeof want_x / sizeof want_x[0] ||
        memcmp(got, want_x, sizeof want_x) != 0) {
        char t[512] = "";
        for (size_t i = 0; i < n; i++)
            snprintf(t + strlen(t), sizeof t - strlen(t), " %d", got[i]);
        fail_msg("candidates for 'x':%s", t);
    }
    /* amount 1000: `> 1000` stays out, `>= 1000`, `== 1000` come in. */
    q.metadata = m_1000;
    q.metadata_count = 1;
    n = drain(&ix.approvals, &q, &bits, got);
    assert_false(has(got, n, 20));
    assert_true(has(got, n, 21));
    assert_false(has(got, n, 22));
    assert_false(has(got, n, 23));
    assert_true(has(got, n, 27)); /* `> 5` holds: its conjunct decides */
    assert_true(has(got, n, 41));
    assert_false(has(got, n, 42));
    /* amount "1000": every threshold on amount fails, so each is in. */
    q.metadata = m_amount_str;
    q.metadata_count = 2;
    n = drain(&ix.approvals, &q, &bits, got);
    for (int i = 20; i <= 24; i++)
        assert_true(has(got, n, i));
    assert_false(has(got, n, 25)); /* name "m" < "m" is false */
    assert_true(has(got, n, 26));
    /* -0 equals 0; resource suffixes. */
    q.metadata = m_neg0;
    q.resource = "doc/secret";
    n = drain(&ix.approvals, &q, &bits, got);
    assert_true(has(got, n, 42));
    assert_true(has(got, n, 33)); /* tier 3 */
    assert_true(has(got, n, 38));
    assert_true(has(got, n, 39));
    assert_false(has(got, n, 36));
    assert_false(has(got, n, 40));
    free(bits.words);
    aa__engine_index_free(&ix);
    aa_policy_free(p);
}

static void test_a2a_candidates(void **state) {
    (void)state;
    aa_policy *p = load_policy();
    aa__engine_index ix;
    assert_int_equal(aa__engine_index_build(&ix, p), AA_OK);
    aa__bitset bits = {0};
    static const char *const agents[] = {
        "orchestrator", "bot-a",         "bot-ab",      "bot-abc",
        "bot-",         "bot",           "robot",       "x",
        "bat",          "x-gen-agent-7", "-gen-agent-7"};
    static const char *const targets[] = {"x",      "billing", "svc-a",
                                          "svc-ab", "svc-abc", "svc-",
                                          "svc",    "other",   "y-gen-agent-8"};
    static const char *const a2a_actions[] = {"read", "pay:x", "reread"};
    size_t pairs = 0, skipped = 0;
    for (size_t ai = 0; ai < sizeof agents / sizeof agents[0]; ai++)
        for (size_t ti = 0; ti < sizeof targets / sizeof targets[0]; ti++)
            for (size_t ac = 0; ac < 3; ac++)
                for (size_t mt = 0; mt < NMETAS; mt++) {
                    const char *from = agents[ai], *to = targets[ti];
                    aa_request q = {.agent = from,
                                    .user = "u",
                                    .action = a2a_actions[ac],
                                    .target_agent = to,
                                    .metadata = metas[mt].m,
                                    .metadata_count = metas[mt].n};
                    int got[64];
                    size_t n = drain(&ix.a2a, &q, &bits, got);
                    aa__expr_ctx c;
                    ctx_of(&q, &c);
                    for (size_t i = 0; i < NA2A; i++) {
                        const aa__a2a *a = &p->a2a.policies[i];
                        bool r = false;
                        int rc = aa__expr_eval(a->cond, &c, &r, NULL);
                        bool could =
                            aa__pattern_match(&a->from_pat, from,
                                              strlen(from)) &&
                            aa__pattern_match(&a->to_pat, to, strlen(to)) &&
                            aa__pattern_match(&a->action_pat, q.action,
                                              strlen(q.action)) &&
                            (rc != AA_OK || r);
                        pairs++;
                        if (has(got, n, (int)i))
                            continue;
                        skipped++;
                        if (could)
                            fail_msg("%s -> %s on %s, metadata set %zu: q%zu "
                                     "could match but was skipped",
                                     from, to, q.action, mt, i);
                    }
                }
    if (skipped * 3 < pairs)
        fail_msg("only %zu of %zu pairs skipped", skipped, pairs);
    /* Suffix patterns: q11 is a candidate for its sender only. */
    aa_request q = {.agent = "x-gen-agent-7",
                    .user = "u",
                    .action = "read",
                    .target_agent = "other"};
    int got[64];
    size_t n = drain(&ix.a2a, &q, &bits, got);
    assert_true(has(got, n, 11));
    q.agent = "x-gen-agent-70";
    n = drain(&ix.a2a, &q, &bits, got);
    assert_false(has(got, n, 11));
    assert_false(has(got, n, 12)); /* action "read" is not pay:* */
    assert_false(has(got, n, 13)); /* no amount */
    assert_true(has(got, n, 15));  /* "*read" and priority != "low" */
    free(bits.words);
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

/* A user-permissions callback that takes 2 ms. */
static int slow_permission(void *ud, const char *user, const char *action) {
    (void)ud;
    (void)user;
    (void)action;
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
    return 1;
}

/* evaluation_time_ms: a decision made from memory alone reads no clock
 * and reports 0; one that waits on a callback reports at least the wait. */
static void test_time_from_first_wait(void **state) {
    (void)state;
    aa_policy *p = load_policy();
    aa_engine *plain = NULL, *slow = NULL;
    aa_engine_options o;
    aa_engine_options_init(&o);
    o.audit_mode = AA_AUDIT_OFF;
    assert_int_equal(aa_engine_new(p, &o, &plain, NULL), AA_OK);
    o.user_permission = slow_permission;
    assert_int_equal(aa_engine_new(p, &o, &slow, NULL), AA_OK);
    aa_decision *d = aa_decision_new();
    aa_request nobody = {.agent = "nobody", .user = "u", .action = "x"};
    /* No profile, no callback: denied from memory, no clock read. */
    aa_authorize(plain, &nobody, d);
    assert_false(aa_decision_allowed(d));
    assert_true(aa_decision_time_ms(d) == 0.0);
    /* The callback is asked: the 2 ms it takes are counted. */
    aa_authorize(slow, &nobody, d);
    assert_true(aa_decision_allowed(d));
    assert_true(aa_decision_time_ms(d) >= 2.0);
    aa_decision_free(d);
    aa_engine_free(plain);
    aa_engine_free(slow);
    aa_policy_free(p);
}

static int slow_matcher(void *ud, const char *value, int *result) {
    (void)ud;
    (void)value;
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
    *result = 1;
    return AA_OK;
}

/* The timer starts at a matcher (the embedding program's code), not at a
 * condition that only reads the request; a session lookup answered from
 * the store's cache is memory too, one that reads the store is timed. */
static void test_time_matcher_and_cache(void **state) {
    (void)state;
    static const char yaml[] =
        "version: \"1.0\"\n"
        "profiles:\n  bot: {allow: [\"read:*\"]}\n"
        "approval_policies:\n"
        "  - {name: plain, condition: 'action == \"read:plain\"', tier: soft}\n"
        "  - {name: slow, condition: 'action == \"read:slow\" and user matches "
        "slowm', tier: soft}\n"
        "audit: {enabled: false}\n";
    aa_policy *p = NULL;
    assert_int_equal(
        aa_policy_load_buffer(yaml, strlen(yaml), "t.yaml", NULL, &p, NULL),
        AA_OK);
    char *dir = tu_tmpdir();
    char db[512];
    snprintf(db, sizeof db, "%s/state.db", dir);
    aa_store *st = NULL;
    assert_int_equal(aa_store_open_sqlite(db, &st, NULL), AA_OK);
    aa_engine_options o;
    aa_engine_options_init(&o);
    o.audit_mode = AA_AUDIT_OFF;
    o.store = st;
    aa_engine *e = NULL;
    assert_int_equal(aa_engine_new(p, &o, &e, NULL), AA_OK);
    assert_int_equal(aa_engine_register_matcher(e, "slowm", slow_matcher, NULL),
                     AA_OK);
    aa_decision *d = aa_decision_new();

    aa_request plain = {.agent = "bot", .user = "u", .action = "read:plain"};
    assert_int_equal(aa_authorize(e, &plain, d), AA_OK);
    assert_true(aa_decision_allowed(d));
    assert_string_equal(aa_decision_approval_policy(d), "plain");
    assert_true(aa_decision_time_ms(d) == 0.0);
    aa_request slow = {.agent = "bot", .user = "u", .action = "read:slow"};
    assert_int_equal(aa_authorize(e, &slow, d), AA_OK);
    assert_string_equal(aa_decision_approval_policy(d), "slow");
    assert_true(aa_decision_time_ms(d) >= 2.0);

    aa_session s;
    assert_int_equal(
        aa_session_create(e, "bot", "u", "", AA_DURATION_DEFAULT, &s, NULL),
        AA_OK);
    aa_request sr = {.agent = "bot",
                     .user = "u",
                     .action = "read:x",
                     .session_id = s.session_id};
    assert_int_equal(aa_authorize(e, &sr, d), AA_OK); /* read from the file */
    assert_true(aa_decision_allowed(d));
    assert_true(aa_decision_time_ms(d) > 0.0);
    assert_int_equal(aa_authorize(e, &sr, d), AA_OK); /* from the cache */
    assert_true(aa_decision_allowed(d));
    assert_true(aa_decision_time_ms(d) == 0.0);
    /* A delegation looked up for an action nothing else permits: read from
     * the file first, then answered from the cache. */
    aa_request nd = {.agent = "bot", .user = "u", .action = "pay:x"};
    assert_int_equal(aa_authorize(e, &nd, d), AA_OK);
    assert_false(aa_decision_allowed(d));
    assert_true(aa_decision_time_ms(d) > 0.0);
    assert_int_equal(aa_authorize(e, &nd, d), AA_OK);
    assert_false(aa_decision_allowed(d));
    assert_true(aa_decision_time_ms(d) == 0.0);
    aa_session_clear(&s);

    aa_decision_free(d);
    aa_engine_free(e);
    aa_store_free(st);
    aa_policy_free(p);
    tu_rmdir(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_approval_candidates),
        cmocka_unit_test(test_approval_selective),
        cmocka_unit_test(test_a2a_candidates),
        cmocka_unit_test(test_decisions_unchanged),
        cmocka_unit_test(test_time_from_first_wait),
        cmocka_unit_test(test_time_matcher_and_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
