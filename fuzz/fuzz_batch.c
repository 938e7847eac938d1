/*
 * fuzz_batch.c - one `check --batch` line: arbitrary bytes up to the first
 * newline are read by aa_request_from_json, as batch.c does, and decided by an
 * engine over the enterprise example (audit off, in-memory store holding a
 * session and a delegation).
 *
 * Besides memory errors it checks that every decision is well formed (the
 * facts of contract sections 1 and 5), that deciding again, and with a
 * trace, gives the same decision, and that its JSON form is valid JSON.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static aa_policy *policy;
static aa_store *store;
static aa_engine *engine;
static aa_decision *dec, *dec2;

static const char *const approval_names[] = {
    "production-deploy", "large-payment", "refunds", "code-changes"};

/* The example policy, read from the source tree this file is in (or
 * AA_SOURCE_DIR), then loaded from the buffer. */
static char *read_example(size_t *len) {
    char path[4096];
    const char *src = getenv("AA_SOURCE_DIR");
    const char *base = strrchr(__FILE__, '/'); /* .../fuzz/fuzz_batch.c */
    if (src)
        snprintf(path, sizeof path, "%s/examples/policies/enterprise.yaml",
                 src);
    else
        snprintf(path, sizeof path, "%.*s/../examples/policies/enterprise.yaml",
                 base ? (int)(base - __FILE__) : 1, base ? __FILE__ : ".");
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz_batch: cannot read %s (set AA_SOURCE_DIR)\n",
                path);
        abort();
    }
    char *buf = malloc(1 << 20);
    *len = buf ? fread(buf, 1, 1 << 20, f) : 0;
    fclose(f);
    return buf;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    size_t len = 0;
    char *yaml = read_example(&len);
    aa_error *err = aa_error_new();
    if (!yaml ||
        aa_policy_load_buffer(yaml, len, "enterprise.yaml", NULL, &policy,
                              err) != AA_OK ||
        aa_store_open_memory(&store, err) != AA_OK)
        abort();
    free(yaml);
    aa_engine_options o = {.store = store, .audit_mode = AA_AUDIT_OFF};
    if (aa_engine_new(policy, &o, &engine, err) != AA_OK)
        abort();
    /* A session and a delegation to find (their ids are random, but fixed
     * for the run, so comparisons can lead the fuzzer to them). */
    aa_session s;
    aa_delegation g;
    const char *acts[] = {"deploy:*", "run:tests"};
    if (aa_session_create(engine, "copilot", "alice", "project:*", 600, &s,
                          err) != AA_OK ||
        aa_delegation_create(engine, "alice", "orchestrator", acts, 2, 600,
                             "fuzz", &g, err) != AA_OK)
        abort();
    aa_session_clear(&s);
    aa_delegation_clear(&g);
    aa_error_free(err);
    dec = aa_decision_new();
    dec2 = aa_decision_new();
    if (!dec || !dec2)
        abort();
    return 0;
}

static void check_well_formed(const aa_decision *d) {
    int allowed = aa_decision_allowed(d);
    aa_tier tier = aa_decision_tier(d);
    int approval = aa_decision_requires_approval(d);
    const char *reason = aa_decision_reason(d);
    const char *policy_name = aa_decision_approval_policy(d);
    double ms = aa_decision_time_ms(d);
    if (allowed != 0 && allowed != 1)
        abort();
    if (tier != AA_TIER_AUTONOMOUS && tier != AA_TIER_SOFT &&
        tier != AA_TIER_STRONG)
        abort();
    if (!reason || !*reason || !policy_name)
        abort();
    if (!isfinite(ms) || ms < 0)
        abort();
    if (aa_decision_is_denied(d) != !allowed)
        abort();
    if (aa_decision_is_autonomous(d) !=
        (allowed && tier == AA_TIER_AUTONOMOUS && !approval))
        abort();
    if (!allowed && (tier != AA_TIER_AUTONOMOUS || approval || *policy_name))
        abort(); /* a denial carries tier autonomous, no approval */
    if (allowed && approval != (tier != AA_TIER_AUTONOMOUS))
        abort();
    if (allowed && approval) {
        char tail[64];
        snprintf(tail, sizeof tail, " (requires %s approval)",
                 aa_tier_name(tier));
        size_t n = strlen(reason), t = strlen(tail);
        if (n < t || strcmp(reason + n - t, tail) != 0)
            abort();
    }
    if (*policy_name) {
        bool known = false;
        for (size_t i = 0; i < sizeof approval_names / sizeof *approval_names;
             i++)
            known |= strcmp(policy_name, approval_names[i]) == 0;
        if (!known)
            abort();
    }
}

static bool same(const aa_decision *a, const aa_decision *b) {
    return aa_decision_allowed(a) == aa_decision_allowed(b) &&
           aa_decision_tier(a) == aa_decision_tier(b) &&
           aa_decision_requires_approval(a) ==
               aa_decision_requires_approval(b) &&
           strcmp(aa_decision_reason(a), aa_decision_reason(b)) == 0 &&
           strcmp(aa_decision_approval_policy(a),
                  aa_decision_approval_policy(b)) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nl = memchr(data, '\n', size);
    size_t len = nl ? (size_t)(nl - data) : size; /* one batch line */
    static aa_request_buf *rb;
    static aa_error *err;
    if (!rb && !(rb = aa_request_buf_new()))
        abort();
    if (!err && !(err = aa_error_new()))
        abort();
    aa_request req;
    if (aa_request_from_json((const char *)data, len, rb, &req, err) != AA_OK) {
        const aa_diag *e = aa_error_get(err, 0);
        if (!e || !e->message || !*e->message)
            abort();
        aa_error_clear(err);
    } else {
        if (!req.agent || !*req.agent || !req.user || !*req.user ||
            !req.action || !*req.action)
            abort(); /* required fields are checked */
        for (size_t i = 0; i < req.metadata_count; i++)
            if (req.metadata[i].type == AA_VALUE_LIST &&
                req.metadata[i].count && !req.metadata[i].items)
                abort();
        aa_decision_set_explain(dec, 0);
        if (aa_authorize(engine, &req, dec) != AA_OK)
            abort();
        check_well_formed(dec);

        aa_decision_set_explain(dec2, 1); /* the trace changes nothing */
        if (aa_authorize(engine, &req, dec2) != AA_OK)
            abort();
        check_well_formed(dec2);
        if (!same(dec, dec2) || aa_decision_trace_count(dec2) == 0)
            abort();
        for (size_t i = 0; i < aa_decision_trace_count(dec2); i++) {
            const aa_trace_step *st = aa_decision_trace_get(dec2, i);
            if (!st || !st->step || !st->detail || st->outcome < -1 ||
                st->outcome > 1)
                abort();
        }

        json_t *j = cli_decision_json(dec2, true); /* what -o json prints */
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_t *back = text ? json_loads(text, 0, NULL) : NULL;
        if (!back || json_is_true(json_object_get(back, "allowed")) !=
                         aa_decision_allowed(dec2))
            abort();
        json_decref(back);
        free(text);
        json_decref(j);
    }
    return 0;
}
