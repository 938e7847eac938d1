/* fuzz_policy.c - arbitrary bytes as a policy file: must never crash, hang
 * or leak, and must either load or report at least one error. A policy
 * that loads then decides a set of requests through an engine (its
 * indexes included), with and without explain: both must agree. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *no_env(void *ud, const char *name) {
    (void)ud;
    (void)name;
    return NULL;
}

static const char *const agents[] = {"copilot",       "orchestrator", "bot-1",
                                     "billing-agent", "assistant",    "a"};
static const char *const actions[] = {"read",        "read:doc",  "deploy:prod",
                                      "pay:invoice", "a",         "ab",
                                      "refund:x",    "write:code"};
static const aa_meta meta[] = {
    {.key = "env", .type = AA_VALUE_STRING, .string = "production"},
    {.key = "amount", .type = AA_VALUE_NUMBER, .number = 50000},
};

/* Decides agent x action (and calls to other agents) both ways. */
static void decide_all(const aa_policy *p) {
    aa_engine_options o = {.audit_mode = AA_AUDIT_OFF};
    aa_engine *e = NULL;
    if (aa_engine_new(p, &o, &e, NULL) != AA_OK)
        return;
    aa_decision *plain = aa_decision_new(), *traced = aa_decision_new();
    if (!plain || !traced)
        abort();
    aa_decision_set_explain(traced, 1);
    size_t na = sizeof agents / sizeof agents[0];
    for (size_t i = 0; i < na; i++) {
        for (size_t k = 0; k < sizeof actions / sizeof actions[0]; k++) {
            aa_request r = {.agent = agents[i],
                            .user = "alice",
                            .action = actions[k],
                            .target_agent = k % 2 ? agents[(i + k) % na] : NULL,
                            .metadata = meta,
                            .metadata_count = 2};
            int rc1 = aa_authorize(e, &r, plain);
            int rc2 = aa_authorize(e, &r, traced);
            if (rc1 != rc2 ||
                aa_decision_allowed(plain) != aa_decision_allowed(traced) ||
                aa_decision_tier(plain) != aa_decision_tier(traced) ||
                strcmp(aa_decision_reason(plain), aa_decision_reason(traced)) !=
                    0 ||
                strcmp(aa_decision_approval_policy(plain),
                       aa_decision_approval_policy(traced)) != 0)
                abort(); /* explain must not change the outcome */
        }
    }
    aa_decision_free(plain);
    aa_decision_free(traced);
    aa_engine_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    aa_load_options opts = {.getenv_fn = no_env, .max_bytes = 1 << 20};
    aa_error *err = aa_error_new();
    aa_policy *p = NULL;
    int rc =
        aa_policy_load_buffer((const char *)data, size, "fuzz", &opts, &p, err);
    if (rc == AA_OK) {
        if (!p)
            abort();
        char *json = aa_policy_describe_json(p);
        if (!json)
            abort();
        free(json);
        decide_all(p);
        aa_policy_free(p);
    } else if (p || aa_error_count_severity(err, AA_SEVERITY_ERROR) == 0) {
        abort(); /* a refusal always says why */
    }
    aa_error_free(err);
    return 0;
}
