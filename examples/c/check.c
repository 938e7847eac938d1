/*
 * check.c - a tour of libagentauth from C: load a policy, decide requests
 * (with metadata, a session, a delegation, a user-permissions callback and
 * a named matcher), ask for a trace, and report load errors.
 *
 * Build against the build tree, from the root of the source tree:
 *   cc -I include examples/c/check.c build/libagentauth.a \
 *      $(pkg-config --libs yaml-0.1 jansson sqlite3 libcrypto) \
 *      -lpthread -o check
 * or, once installed:
 *   cc examples/c/check.c \
 *      $(pkg-config --cflags --libs --static agent-auth) -o check
 * Run:
 *   ./check examples/policies/enterprise.yaml
 *
 * State lives in a private in-memory store and auditing is off, so the
 * program leaves no files behind. Exit status: 0 when every step went as
 * expected, 1 otherwise.
 */
#include <stdio.h>
#include <string.h>

#include <agent_auth.h>

/* Prints one decision on one line. */
static void show(const aa_request *r, const aa_decision *d) {
    printf("%-8s %s -> %s (user %s): %s",
           aa_decision_allowed(d) ? "ALLOWED" : "DENIED", r->agent, r->action,
           r->user, aa_decision_reason(d));
    if (aa_decision_requires_approval(d))
        printf(" [tier %s, policy '%s']", aa_tier_name(aa_decision_tier(d)),
               aa_decision_approval_policy(d));
    printf("\n");
}

/* Decides r and prints it; returns 1 when the outcome is not `expect`. */
static int decide(aa_engine *e, aa_decision *d, const aa_request *r,
                  int expect) {
    aa_authorize(e, r, d);
    show(r, d);
    return aa_decision_allowed(d) != expect;
}

/* Prints every message of err, "file:line:col: message". */
static void print_errors(const aa_error *err) {
    for (size_t i = 0; i < aa_error_count(err); i++) {
        char line[1024];
        const aa_diag *m = aa_error_get(err, i);
        aa_diag_format(m, line, sizeof line);
        printf("  %s: %s\n",
               m->severity == AA_SEVERITY_ERROR ? "error" : "warning", line);
    }
}

/* Step 6 of the pipeline: permissions a user holds in the embedding
 * program's own directory. Here: carol may export reports. */
static int user_permission(void *userdata, const char *user,
                           const char *action) {
    (void)userdata;
    return strcmp(user, "carol") == 0 && strcmp(action, "export:reports") == 0;
}

/* A matcher for `matches internal_url`: a URL on the intranet. */
static int internal_url(void *userdata, const char *value, int *result) {
    (void)userdata;
    *result =
        value && strncmp(value, "https://intranet.acme.example/", 30) == 0;
    return AA_OK;
}

/* Part 1: the policy from a file, with sessions and delegations. */
static int tour_enterprise(const char *path, aa_error *err) {
    aa_policy *policy = NULL;
    aa_store *store = NULL;
    aa_engine *engine = NULL;
    aa_decision *d = aa_decision_new();
    int failures = 1;
    if (!d || aa_policy_load_file(path, NULL, &policy, err) != AA_OK ||
        aa_store_open_memory(&store, err) != AA_OK)
        goto done;
    aa_engine_options opts = {0};
    opts.store = store;             /* borrowed: freed after the engine */
    opts.audit_mode = AA_AUDIT_OFF; /* no audit file for this tour */
    opts.user_permission = user_permission;
    if (aa_engine_new(policy, &opts, &engine, err) != AA_OK)
        goto done;
    printf("policy '%s': %zu roles, %zu profiles\n", aa_policy_name(policy),
           aa_policy_role_count(policy), aa_policy_profile_count(policy));
    failures = 0;

    aa_request r = {.agent = "copilot",
                    .user = "alice",
                    .action = "read:documents",
                    .scope = "project:apollo"};
    failures += decide(engine, d, &r, 1);

    aa_meta env = {.key = "env", .type = AA_VALUE_STRING, .string = "prod"};
    r = (aa_request){.agent = "copilot",
                     .user = "alice",
                     .action = "deploy:web",
                     .metadata = &env,
                     .metadata_count = 1};
    failures += decide(engine, d, &r, 1);

    r = (aa_request){
        .agent = "copilot", .user = "alice", .action = "deploy:prod-db"};
    failures += decide(engine, d, &r, 0);

    r = (aa_request){.agent = "orchestrator",
                     .user = "alice",
                     .action = "pay:invoice",
                     .target_agent = "billing-agent"};
    failures += decide(engine, d, &r, 0);

    /* The user-permissions callback permits what no profile does. */
    r = (aa_request){
        .agent = "orchestrator", .user = "carol", .action = "export:reports"};
    failures += decide(engine, d, &r, 1);

    /* A session bound to a scope pattern. */
    aa_session s;
    if (aa_session_create(engine, "copilot", "alice", "project:*",
                          AA_DURATION_DEFAULT, &s, err) != AA_OK) {
        failures++;
        goto done;
    }
    printf("session for %s/%s, scope %s, lasts %llds\n", s.agent, s.user,
           s.scope, (long long)((s.expires_at - s.created_at) / 1000000));
    r = (aa_request){.agent = "copilot",
                     .user = "alice",
                     .action = "read:code",
                     .scope = "project:apollo",
                     .session_id = s.session_id};
    failures += decide(engine, d, &r, 1);
    r.scope = "repo:web";
    failures += decide(engine, d, &r, 0);
    int revoked = 0;
    aa_session_revoke(engine, s.session_id, &revoked, err);
    r.scope = "project:apollo";
    failures += decide(engine, d, &r, 0) + !revoked;
    aa_session_clear(&s);

    /* A delegation from alice: it serves alice, not bob. */
    const char *actions[] = {"deploy:docs-site"};
    aa_delegation g;
    if (aa_delegation_create(engine, "alice", "research-bot", actions, 1, 1800,
                             "docs release", &g, err) != AA_OK) {
        failures++;
        goto done;
    }
    r = (aa_request){
        .agent = "research-bot", .user = "alice", .action = "deploy:docs-site"};
    failures += decide(engine, d, &r, 1);
    r.user = "bob";
    failures += decide(engine, d, &r, 0);
    aa_delegation_clear(&g);

    /* A refused delegation lists every reason. */
    const char *too_much[] = {"write:documents"};
    aa_error *why = aa_error_new();
    int rc = aa_delegation_create(engine, "alice", "research-bot", too_much, 1,
                                  7200, NULL, &g, why);
    printf("delegation of write:documents: %s\n", aa_status_name(rc));
    print_errors(why);
    failures += rc != AA_EREFUSED;
    aa_error_free(why);

    /* The trace of one decision. */
    aa_decision_set_explain(d, 1);
    r = (aa_request){.agent = "copilot", .user = "bob", .action = "write:code"};
    failures += decide(engine, d, &r, 1);
    for (size_t i = 0; i < aa_decision_trace_count(d); i++) {
        const aa_trace_step *t = aa_decision_trace_get(d, i);
        printf("  %c %-10s %s\n",
               t->outcome > 0   ? '+'
               : t->outcome < 0 ? 'x'
                                : '-',
               t->step, t->detail);
    }
done:
    aa_decision_free(d);
    aa_engine_free(engine); /* before the store and the policy it borrows */
    aa_store_free(store);
    aa_policy_free(policy);
    return failures;
}

/* Part 2: a policy from memory that uses a matcher, then a broken one. */
static int tour_buffer(aa_error *err) {
    static const char good[] =
        "version: \"1.0\"\n"
        "roles:\n"
        "  reader: {actions: [\"fetch:*\"]}\n"
        "profiles:\n"
        "  crawler: {role: reader}\n"
        "approval_policies:\n"
        "  - name: outside-intranet\n"
        "    condition: 'not (resource matches internal_url)'\n"
        "    tier: soft\n"
        "audit: {enabled: false}\n";
    static const char broken[] = "version: \"1.0\"\n"
                                 "roles:\n"
                                 "  reader: {actions: fetch}\n"
                                 "profiles:\n"
                                 "  crawler: {role: raeder, deny_list: [x]}\n";
    aa_policy *policy = NULL;
    aa_engine *engine = NULL;
    aa_decision *d = aa_decision_new();
    int failures = 1;
    if (!d ||
        aa_policy_load_buffer(good, strlen(good), "inline.yaml", NULL, &policy,
                              err) != AA_OK ||
        aa_engine_new(policy, NULL, &engine, err) != AA_OK ||
        aa_engine_register_matcher(engine, "internal_url", internal_url,
                                   NULL) != AA_OK)
        goto done;
    failures = 0;
    aa_request r = {.agent = "crawler",
                    .user = "alice",
                    .action = "fetch:page",
                    .resource = "https://intranet.acme.example/wiki"};
    failures += decide(engine, d, &r, 1) + aa_decision_requires_approval(d);
    r.resource = "https://example.org/";
    failures += decide(engine, d, &r, 1) + !aa_decision_requires_approval(d);

    aa_policy *bad = NULL;
    aa_error *why = aa_error_new();
    int rc = aa_policy_load_buffer(broken, strlen(broken), "broken.yaml", NULL,
                                   &bad, why);
    printf("broken.yaml: %s, %zu errors, %zu warnings\n", aa_status_name(rc),
           aa_error_count_severity(why, AA_SEVERITY_ERROR),
           aa_error_count_severity(why, AA_SEVERITY_WARNING));
    print_errors(why);
    failures += rc != AA_EPOLICY || bad != NULL;
    aa_error_free(why);
done:
    aa_decision_free(d);
    aa_engine_free(engine);
    aa_policy_free(policy);
    return failures;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "agent_auth.yaml";
    aa_error *err = aa_error_new();
    if (!err)
        return 1;
    printf("libagentauth %s\n", aa_version());
    int failures = tour_enterprise(path, err);
    failures += tour_buffer(err);
    if (aa_error_count(err)) {
        printf("unexpected errors:\n");
        print_errors(err);
    }
    aa_error_free(err);
    printf("%s\n", failures ? "FAILED" : "done");
    return failures ? 1 : 0;
}
