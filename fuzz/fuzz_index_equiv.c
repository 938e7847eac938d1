/*
 * fuzz_index_equiv.c - the engine's indexes change no decision: for small
 * random policies (approval and A2A policies with conditions drawn from a
 * grammar of the language, and patterns exact, by prefix, by suffix or
 * general) and random requests (metadata of every kind, missing, null, a
 * key given twice), the indexed decision equals the one made by
 * evaluating every policy in file order: allowed, tier, approval policy
 * and reason.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_auth.h"
#include "engine.h"

typedef struct src {
    const uint8_t *d;
    size_t n;
} src;

static unsigned pick(src *s, unsigned k) {
    if (!s->n || k == 0)
        return 0;
    s->n--;
    return *s->d++ % k;
}

static const char *const strs[] = {"\"\"",   "\"a\"", "\"ab\"", "\"b\"",
                                   "\"ba\"", "\"x\"", "\"a:b\""};
static const char *const nums[] = {"0", "1", "1.5", "2", "1000"};
static const char *const approval_fields[] = {
    "action",       "user",        "resource",    "agent", "scope",
    "target_agent", "metadata.k1", "metadata.k2", "k3",    "metadata.k1.x"};
static const char *const a2a_fields[] = {"action", "from_agent",  "to_agent",
                                         "user",   "metadata.k1", "k2"};
static const char *const ops[] = {
    "==", "!=",     "<",           ">",         "<=",      ">=",
    "in", "not in", "starts_with", "ends_with", "contains"};

static void constant(src *s, aa__buf *b) {
    switch (pick(s, 8)) {
    case 0:
    case 1:
    case 2:
        aa__buf_puts(b, strs[pick(s, 7)]);
        break;
    case 3:
    case 4:
        aa__buf_puts(b, nums[pick(s, 5)]);
        break;
    case 5:
        aa__buf_puts(b, pick(s, 2) ? "true" : "false");
        break;
    case 6:
        aa__buf_puts(b, "null");
        break;
    default: {
        unsigned n = pick(s, 4);
        aa__buf_putc(b, '[');
        for (unsigned i = 0; i < n; i++) {
            if (i)
                aa__buf_puts(b, ", ");
            if (pick(s, 3))
                aa__buf_puts(b, strs[pick(s, 7)]);
            else
                aa__buf_puts(b, nums[pick(s, 5)]);
        }
        aa__buf_putc(b, ']');
    }
    }
}

static void cond(src *s, aa__buf *b, bool a2a, int depth) {
    unsigned k = depth > 3 ? 0 : pick(s, 8);
    const char *field =
        a2a ? a2a_fields[pick(s, 6)] : approval_fields[pick(s, 10)];
    switch (k) {
    case 0:
    case 1:
    case 2:
    case 3: /* field OP constant, or the other way round */
        if (pick(s, 6) == 0) {
            constant(s, b);
            aa__buf_printf(b, " %s %s", ops[pick(s, 11)], field);
        } else {
            aa__buf_printf(b, "%s %s ", field, ops[pick(s, 11)]);
            constant(s, b);
        }
        break;
    case 4:
        aa__buf_printf(b, "%s matches m", field);
        break;
    case 5:
        aa__buf_puts(b, "not (");
        cond(s, b, a2a, depth + 1);
        aa__buf_putc(b, ')');
        break;
    default:
        aa__buf_putc(b, '(');
        cond(s, b, a2a, depth + 1);
        aa__buf_puts(b, k == 6 ? ") and (" : ") or (");
        cond(s, b, a2a, depth + 1);
        aa__buf_putc(b, ')');
        break;
    }
}

static const char *const agent_pats[] = {"a", "b",   "a*",  "*a",  "*",
                                         "?", "b*a", "ab*", "*ba", "x"};
static const char *const action_pats[] = {"*", "a", "a*", "*b", "a:*", "x"};

static void policy_text(src *s, aa__buf *y) {
    static const char *const tiers[] = {"autonomous", "soft", "strong"};
    aa__buf_printf(y,
                   "version: \"1.0\"\nroles:\n  r:\n    actions: [\"*\"]\n"
                   "profiles:\n  a:\n    role: r\n    default_tier: %s\n"
                   "  ab:\n    role: r\n  ba:\n    allow: [\"a*\"]\n"
                   "approval_policies:\n",
                   tiers[pick(s, 3)]);
    unsigned n = 1 + pick(s, 8);
    for (unsigned i = 0; i < n; i++) {
        aa__buf_printf(y, "  - name: p%u\n    tier: %s\n    condition: '", i,
                       tiers[pick(s, 3)]);
        if (pick(s, 8))
            cond(s, y, false, 0);
        aa__buf_puts(y, "'\n");
    }
    aa__buf_printf(y, "a2a:\n  default: %s\n  policies:\n",
                   pick(s, 2) ? "allow" : "deny");
    unsigned m = pick(s, 7);
    for (unsigned i = 0; i < m; i++) {
        aa__buf_printf(y,
                       "    - name: q%u\n      from_agent: \"%s\"\n"
                       "      to_agent: \"%s\"\n      action: \"%s\"\n"
                       "      effect: %s\n      condition: '",
                       i, agent_pats[pick(s, 10)], agent_pats[pick(s, 10)],
                       action_pats[pick(s, 6)], pick(s, 2) ? "allow" : "deny");
        if (pick(s, 3))
            cond(s, y, true, 0);
        aa__buf_puts(y, "'\n");
    }
}

static const char *const values[] = {"", "a", "ab", "b", "ba", "x", "a:b"};
static const double numbers[] = {0, 1, 1.5, 2, 1000, -0.0, 999.5};
static const char *const keys[] = {"k1", "k2", "k3", "k4"};

static void meta_item(src *s, aa_meta *m, aa_meta *items) {
    switch (pick(s, 6)) {
    case 0:
        m->type = AA_VALUE_STRING;
        m->string = pick(s, 8) ? values[pick(s, 7)] : NULL;
        break;
    case 1:
        m->type = AA_VALUE_NUMBER;
        m->number = numbers[pick(s, 7)];
        break;
    case 2:
        m->type = AA_VALUE_BOOL;
        m->boolean = (int)pick(s, 2);
        break;
    case 3:
        m->type = AA_VALUE_NULL;
        break;
    default:
        if (!items) {
            m->type = AA_VALUE_STRING;
            m->string = values[pick(s, 7)];
            break;
        }
        m->type = AA_VALUE_LIST;
        m->count = pick(s, 3);
        m->items = items;
        for (size_t i = 0; i < m->count; i++)
            meta_item(s, &items[i], NULL);
    }
}

static int matcher(void *ud, const char *value, int *result) {
    (void)ud;
    if (value && strchr(value, 'x'))
        return AA_EINVAL; /* a failing matcher: fail closed */
    *result = value && value[0] == 'a';
    return AA_OK;
}

static aa_engine *engine(const aa_policy *p, bool linear) {
    aa_engine_options o;
    aa_engine_options_init(&o);
    o.audit_mode = AA_AUDIT_OFF;
    aa_engine *e = NULL;
    if (aa_engine_new(p, &o, &e, NULL) != AA_OK)
        return NULL;
    aa_engine_register_matcher(e, "m", matcher, NULL);
    e->index.approvals.linear = linear;
    e->index.a2a.linear = linear;
    return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    src s = {data, size};
    aa__buf y;
    aa__buf_init(&y);
    policy_text(&s, &y);
    aa_policy *p = NULL;
    if (y.oom || aa_policy_load_buffer(y.data, y.len, "fuzz.yaml", NULL, &p,
                                       NULL) != AA_OK) {
        aa__buf_free(&y);
        return 0;
    }
    aa_engine *fast = engine(p, false), *slow = engine(p, true);
    aa_decision *d1 = aa_decision_new(), *d2 = aa_decision_new();
    static const char *const agents[] = {"a", "ab", "ba", "b", "x"};
    static const char *const targets[] = {NULL, "a", "ab", "ba", "b", "x"};
    static const char *const actions[] = {"a", "ab", "a:b", "b", "x", "ba"};
    static const char *const others[] = {NULL, "", "a", "ab", "xa"};
    for (int r = 0; fast && slow && d1 && d2 && r < 8 && s.n; r++) {
        aa_meta meta[4], items[4][2];
        size_t nmeta = pick(&s, 5);
        memset(meta, 0, sizeof meta);
        for (size_t i = 0; i < nmeta; i++) {
            meta[i].key = keys[pick(&s, 4)];
            meta_item(&s, &meta[i], items[i]);
        }
        aa_request q = {.agent = agents[pick(&s, 5)],
                        .user = values[1 + pick(&s, 6)],
                        .action = actions[pick(&s, 6)],
                        .resource = others[pick(&s, 5)],
                        .scope = others[pick(&s, 5)],
                        .target_agent = targets[pick(&s, 6)],
                        .metadata = meta,
                        .metadata_count = nmeta};
        bool explain = pick(&s, 4) == 0;
        aa_decision_set_explain(d1, explain);
        aa_decision_set_explain(d2, explain);
        int rc1 = aa_authorize(fast, &q, d1);
        int rc2 = aa_authorize(slow, &q, d2);
        if (rc1 != rc2 || aa_decision_allowed(d1) != aa_decision_allowed(d2) ||
            aa_decision_tier(d1) != aa_decision_tier(d2) ||
            strcmp(aa_decision_approval_policy(d1),
                   aa_decision_approval_policy(d2)) != 0 ||
            strcmp(aa_decision_reason(d1), aa_decision_reason(d2)) != 0) {
            fprintf(stderr,
                    "policy:\n%s\nrequest %s -> %s on %s: indexed %d %s '%s' "
                    "[%s], every policy %d %s '%s' [%s]\n",
                    y.data, q.agent, q.target_agent ? q.target_agent : "-",
                    q.action, aa_decision_allowed(d1),
                    aa_tier_name(aa_decision_tier(d1)),
                    aa_decision_approval_policy(d1), aa_decision_reason(d1),
                    aa_decision_allowed(d2), aa_tier_name(aa_decision_tier(d2)),
                    aa_decision_approval_policy(d2), aa_decision_reason(d2));
            abort();
        }
    }
    aa_decision_free(d1);
    aa_decision_free(d2);
    aa_engine_free(fast);
    aa_engine_free(slow);
    aa_policy_free(p);
    aa__buf_free(&y);
    return 0;
}
