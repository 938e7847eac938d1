/*
 * test_policy_diff.c - aa_policy_diff and aa_replay over the example
 * policies: a copy edited one way (widened, narrowed, a tier, a scope, an
 * A2A rule...) must show exactly the expected differences with their
 * examples; near misses (a reordered list, an equivalent pattern) must show
 * none. Then a property over random policies: replay agrees with the
 * semantic diff (diffgen.h).
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diffgen.h"

typedef struct edit {
    const char *from, *to;
} edit;

typedef struct diff_case {
    const char *name;
    const char *file; /* under examples/policies */
    edit edits[4];
    /* One line per item, in order: "class kind agent example[@scope]
     * [->target][ possible]"; "" for no difference. */
    const char *expect;
} diff_case;

static const diff_case cases[] = {
    {"identical", "enterprise.yaml", {{0}}, ""},
    {"identical minimal", "minimal.yaml", {{0}}, ""},
    {"deny removed widens",
     "enterprise.yaml",
     {{"deny: [\"deploy:prod-db\", \"delete:*\"]", "deny: [\"delete:*\"]"}},
     "widen allowed copilot deploy:prod-db\n"},
    {"role action added widens",
     "minimal.yaml",
     {{"actions: [write]", "actions: [write, \"publish:*\"]"}},
     "widen allowed assistant publish:a\n"},
    {"deny added narrows",
     "enterprise.yaml",
     {{"deny: [\"write:*\"]", "deny: [\"write:*\", \"search:*\"]"}},
     "change denied research-bot search:a\n"},
    {"default tier raised",
     "enterprise.yaml",
     {{"    default_tier: soft", "    default_tier: strong"}},
     "change tier billing-agent pay:invoice\n"},
    {"default tier lowered",
     "enterprise.yaml",
     {{"    default_tier: soft", "    default_tier: autonomous"}},
     "widen tier billing-agent pay:invoice\n"},
    {"approval tier raised",
     "enterprise.yaml",
     {{"    condition: 'action starts_with \"refund:\"'\n    tier: soft",
       "    condition: 'action starts_with \"refund:\"'\n    tier: strong"}},
     "change tier billing-agent refund:a\n"},
    {"approval removed widens when metadata says so",
     "enterprise.yaml",
     {{"  - name: production-deploy\n", "  - name: gone\n"},
      {"    condition: 'action starts_with \"deploy:\" and metadata.env in "
       "$production_envs'\n    tier: strong",
       "    condition: 'action == \"nothing\"'\n    tier: strong"}},
     "widen tier copilot deploy:a{env=prod}\n"},
    {"approval removed may widen (a number decides)",
     "enterprise.yaml",
     {{"  - name: large-payment\n    condition: 'action == \"pay:invoice\" and "
       "amount > $finance_limit'\n    tier: strong\n",
       ""}},
     "widen tier billing-agent pay:invoice possible\n"},
    {"minimal approval removed",
     "minimal.yaml",
     {{"    tier: strong", "    tier: autonomous"}},
     ""}, /* delete is allowed by nobody: no tier to change */
    {"scope added widens",
     "enterprise.yaml",
     {{"scopes: [\"project:*\", \"repo:*\"]",
       "scopes: [\"project:*\", \"repo:*\", \"team:*\"]"}},
     "widen scope copilot deploy:a@team:a\n"},
    {"scope narrowed",
     "enterprise.yaml",
     {{"scopes: [\"project:*\", \"repo:*\"]", "scopes: [\"project:*\"]"}},
     "change scope copilot deploy:a@repo:a\n"},
    {"require_scope added",
     "enterprise.yaml",
     {{"    scopes: [\"workspace:research\"]",
       "    scopes: [\"workspace:research\"]\n    require_scope: true"}},
     "change scope research-bot read:a\n"},
    {"a2a allow narrowed",
     "enterprise.yaml",
     {{"      from_agent: orchestrator\n      to_agent: \"*\"",
       "      from_agent: orchestrator\n      to_agent: research-bot"}},
     "change a2a orchestrator read:a->a\n"},
    {"a2a deny removed widens",
     "enterprise.yaml",
     {{"      to_agent: billing-agent\n      action: \"pay:*\"\n      effect: "
       "deny",
       "      to_agent: billing-agent\n      action: \"pay:*\"\n      effect: "
       "allow"}},
     "widen a2a billing-agent pay:invoice->billing-agent\n"},
    {"a2a default allow",
     "enterprise.yaml",
     {{"  default: deny", "  default: allow"}},
     "widen a2a copilot deploy:a->other-agent\n"
     "widen a2a research-bot read:a->other-agent\n"
     "widen a2a billing-agent pay:invoice->other-agent\n"
     /* orchestrator's calls are all allowed by a policy already */
     "widen a2a orchestrator read:a->other-agent possible\n"},
    {"profile added",
     "minimal.yaml",
     {{"profiles:\n", "profiles:\n  reader:\n    role: viewer\n"}},
     "widen allowed reader read\n"},
    {"profile removed",
     "minimal.yaml",
     {{"profiles:\n  assistant:\n    role: editor\n    scopes: []\n",
       "profiles: {}\n"}},
     "change denied assistant write\nchange denied assistant read\n"},
    {"request_metadata added",
     "minimal.yaml",
     {{"approval_policies:",
       "request_metadata:\n  ticket:\n    type: string\n    required_for: "
       "[\"wr*\"]\napproval_policies:"}},
     "change metadata * - possible\n"
     "change metadata * wra possible\n"},
    /* Near misses: the same languages, written otherwise. */
    {"deny list reordered",
     "enterprise.yaml",
     {{"deny: [\"deploy:prod-db\", \"delete:*\"]",
       "deny: [\"delete:*\", \"deploy:prod-db\"]"}},
     ""},
    {"role actions reordered",
     "enterprise.yaml",
     {{"actions: [\"read:*\", \"search:*\", list]",
       "actions: [list, \"search:*\", \"read:*\"]"}},
     ""},
    {"a redundant pattern added",
     "enterprise.yaml",
     {{"actions: [\"read:*\", \"search:*\", list]",
       "actions: [\"read:*\", \"read:docs\", \"search:*\", list]"}},
     ""},
    {"a pattern split into an equivalent pair",
     "enterprise.yaml",
     {{"actions: [\"deploy:*\", \"run:tests\", \"write:code\"]",
       "actions: [\"deploy:\", \"deploy:?*\", \"run:tests\", "
       "\"write:code\"]"}},
     ""},
    {"scopes reordered and split",
     "enterprise.yaml",
     {{"scopes: [\"project:*\", \"repo:*\"]",
       "scopes: [\"repo:*\", \"project:\", \"project:[!x]*\", "
       "\"project:x*\"]"}},
     ""},
    /* Not a near miss: the split forgets `project:` itself. */
    {"scope split that loses a string",
     "enterprise.yaml",
     {{"scopes: [\"project:*\", \"repo:*\"]",
       "scopes: [\"repo:*\", \"project:[!x]*\", \"project:x*\"]"}},
     "change scope copilot deploy:a@project:\n"},
    {"approval policies renamed and moved: reason only",
     "enterprise.yaml",
     {{"  - name: refunds\n    condition: 'action starts_with \"refund:\"'\n"
       "    tier: soft\n",
       ""},
      {"  - name: code-changes",
       "  - name: refund-approval\n    condition: 'action starts_with "
       "\"refund:\"'\n    tier: soft\n  - name: code-changes"}},
     "reason tier * -\n"},
    {"a2a deny redescribed: reason only",
     "enterprise.yaml",
     {{"Nobody may ask the billing agent to pay", "No payments from bots"}},
     "reason a2a * -\n"},
    {"descriptions only",
     "enterprise.yaml",
     {{"Coding assistant in the IDE", "Coding helper"}},
     ""},
};

static char *apply(const char *text, const edit *edits) {
    char *s = strdup(text);
    for (size_t k = 0; k < 4 && edits[k].from; k++) {
        char *at = strstr(s, edits[k].from);
        if (!at)
            fail_msg("edit not found: %s", edits[k].from);
        size_t lf = strlen(edits[k].from), lt = strlen(edits[k].to);
        char *r = malloc(strlen(s) - lf + lt + 1);
        memcpy(r, s, (size_t)(at - s));
        memcpy(r + (at - s), edits[k].to, lt);
        strcpy(r + (at - s) + lt, at + lf);
        free(s);
        s = r;
    }
    return s;
}

static aa_policy *load(const char *text, const char *name) {
    aa_error *err = aa_error_new();
    aa_policy *p = NULL;
    int rc = aa_policy_load_buffer(text, strlen(text), name, NULL, &p, err);
    if (rc != AA_OK) {
        char *t = tu_error_text(err);
        fail_msg("%s does not load: %s", name, t);
    }
    aa_error_free(err);
    return p;
}

static void format_items(const aa_diff *d, char *out, size_t cap) {
    size_t used = 0;
    out[0] = 0;
    for (size_t i = 0; i < aa_diff_count(d); i++) {
        const aa_diff_item *it = aa_diff_get(d, i);
        char meta[256] = "";
        for (size_t k = 0; k < it->example_metadata_count; k++) {
            const aa_meta *m = &it->example_metadata[k];
            size_t u = strlen(meta);
            snprintf(meta + u, sizeof meta - u, "%s%s=%s", k ? "," : "{",
                     m->key, m->type == AA_VALUE_STRING ? m->string : "?");
        }
        if (*meta)
            strcat(meta, "}");
        used += (size_t)snprintf(
            out + used, cap - used, "%s %s %s %s%s%s%s%s%s%s\n",
            aa_diff_class_name(it->cls), aa_diff_kind_name(it->kind),
            it->agent ? it->agent : "*",
            it->example_action ? it->example_action : "-", meta,
            it->example_scope ? "@" : "",
            it->example_scope ? it->example_scope : "",
            it->example_target ? "->" : "",
            it->example_target ? it->example_target : "",
            it->possible && it->cls != AA_DIFF_REASON ? " possible" : "");
    }
}

static void test_cases(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const diff_case *c = &cases[i];
        char rel[128];
        snprintf(rel, sizeof rel, "examples/policies/%s", c->file);
        char *path = tu_path(rel);
        char *text = tu_read_file(path, NULL);
        assert_non_null(text);
        char *edited = apply(text, c->edits);
        aa_policy *po = load(text, "old.yaml"), *pn = load(edited, "new.yaml");
        aa_diff *d = NULL;
        assert_int_equal(aa_policy_diff(po, pn, NULL, &d, NULL), AA_OK);
        char got[8192];
        format_items(d, got, sizeof got);
        if (strcmp(got, c->expect) != 0)
            fail_msg("case '%s':\nexpected:\n%sgot:\n%s", c->name, c->expect,
                     got);
        /* The other way round, a widening is a change and back. */
        aa_diff *back = NULL;
        assert_int_equal(aa_policy_diff(pn, po, NULL, &back, NULL), AA_OK);
        if (!*c->expect)
            assert_int_equal(aa_diff_count(back), 0);
        aa_diff_free(back);
        aa_diff_free(d);
        aa_policy_free(po);
        aa_policy_free(pn);
        free(edited);
        free(text);
        free(path);
    }
}

/* The source of a widening names the grant and its position. */
static void test_source(void **state) {
    (void)state;
    char *path = tu_path("examples/policies/enterprise.yaml");
    char *text = tu_read_file(path, NULL);
    edit e[4] = {{"actions: [\"deploy:*\", \"run:tests\", \"write:code\"]",
                  "actions: [\"deploy:*\", \"run:*\", \"write:code\"]"}};
    char *edited = apply(text, e);
    aa_policy *po = load(text, "old.yaml"), *pn = load(edited, "new.yaml");
    aa_diff *d = NULL;
    assert_int_equal(aa_policy_diff(po, pn, NULL, &d, NULL), AA_OK);
    assert_int_equal(aa_diff_count(d), 1);
    const aa_diff_item *it = aa_diff_get(d, 0);
    assert_string_equal(it->message, "copilot may now do `run:a`");
    assert_string_equal(it->source, "allowed by `run:*` in role engineer");
    assert_string_equal(it->source_file, "new.yaml");
    assert_int_equal(it->source_line, 27);
    assert_int_equal(it->source_column, 27);
    assert_int_equal(it->pattern_count, 1);
    assert_string_equal(it->patterns[0], "run:*");
    assert_false(it->old_allowed);
    assert_true(it->new_allowed);
    assert_int_equal(it->possible, 0);
    assert_int_equal(aa_diff_worst(d), AA_DIFF_WIDEN);
    aa_diff_free(d);

    /* Replay: the widened request is listed with its id. */
    aa_replay *r = NULL;
    assert_int_equal(aa_replay_new(po, pn, &r, NULL), AA_OK);
    aa_request q = {.agent = "copilot", .user = "u", .action = "run:lint"};
    aa_diff_class cls;
    assert_int_equal(aa_replay_request(r, &q, 7, "\"r1\"", 4, &cls), AA_OK);
    assert_int_equal(cls, AA_DIFF_WIDEN);
    q.action = "run:tests";
    assert_int_equal(aa_replay_request(r, &q, 8, NULL, 0, &cls), AA_OK);
    assert_int_equal(cls, AA_DIFF_SAME);
    assert_int_equal(aa_replay_total(r), 2);
    assert_int_equal(aa_replay_count(r), 1);
    assert_string_equal(aa_replay_get(r, 0)->id, "\"r1\"");
    assert_int_equal(aa_replay_get(r, 0)->line, 7);
    aa_replay_free(r);
    aa_policy_free(po);
    aa_policy_free(pn);
    free(edited);
    free(text);
    free(path);
}

/* The property over random policy pairs (diffgen.h). */
static void test_random_agree(void **state) {
    (void)state;
    uint64_t seed = 0x5eed;
    size_t checked = 0, widened = 0;
    for (int k = 0; k < 600; k++) {
        dg_stats st = {0};
        int rc = dg_check_pair(&seed, &st);
        if (rc != 0)
            fail_msg("pair %d: %s", k, st.message);
        checked += st.pairs;
        widened += st.widened;
    }
    assert_true(checked > 500);
    assert_true(widened > 200); /* the property was exercised */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_source),
        cmocka_unit_test(test_random_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
