/*
 * bench_expr.c - nanoseconds per condition evaluation.
 *
 * The four approval conditions of examples/policies/enterprise.yaml, with
 * that file's variables supplied through the lookup callback, plus a plain
 * field comparison for reference, each on a few representative requests.
 * Every figure is the median of 5 timed runs after a warm-up run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"

#define RUNS  5
#define ITERS 1000000

static const aa__value env_items[] = {
    {.type = AA__V_STR, .u.s = {"prod", 4}},
    {.type = AA__V_STR, .u.s = {"production", 10}}};
static const aa__value admin_items[] = {
    {.type = AA__V_STR, .u.s = {"alice", 5}},
    {.type = AA__V_STR, .u.s = {"root-oncall", 11}}};

static const struct {
    const char *name;
    aa__value v;
} vars[] = {
    {"production_envs", {.type = AA__V_LIST, .u.list = {env_items, 2}}},
    {"finance_limit", {.type = AA__V_NUM, .u.n = 10000}},
    {"admins", {.type = AA__V_LIST, .u.list = {admin_items, 2}}},
};

static const aa__value *lookup(void *ud, const char *name, size_t len) {
    (void)ud;
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (strlen(vars[i].name) == len && memcmp(vars[i].name, name, len) == 0)
            return &vars[i].v;
    return NULL;
}

static const struct {
    const char *label;
    const char *src;
} conds[] = {
    {"reference", "action == \"deploy:api\""},
    {"production-deploy",
     "action starts_with \"deploy:\" and metadata.env in $production_envs"},
    {"large-payment", "action == \"pay:invoice\" and amount > $finance_limit"},
    {"refunds", "action starts_with \"refund:\""},
    {"code-changes", "action == \"write:code\" and not (user in $admins)"},
};

typedef struct request {
    const char *label;
    const char *agent, *user, *action;
    aa_meta meta[4];
    size_t nmeta;
} request;

static const request requests[] = {
    {"deploy to prod",
     "copilot",
     "bob",
     "deploy:api",
     {{.key = "ticket", .type = AA_VALUE_STRING, .string = "OPS-1"},
      {.key = "env", .type = AA_VALUE_STRING, .string = "prod"}},
     2},
    {"read a document", "research-bot", "carol", "read:docs", {{0}}, 0},
    {"pay 20000",
     "billing-agent",
     "dave",
     "pay:invoice",
     {{.key = "amount", .type = AA_VALUE_NUMBER, .number = 20000},
      {.key = "currency", .type = AA_VALUE_STRING, .string = "EUR"}},
     2},
    {"alice writes code", "copilot", "alice", "write:code", {{0}}, 0},
};

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(void) {
    enum { NC = sizeof conds / sizeof conds[0] };
    enum { NR = sizeof requests / sizeof requests[0] };
    aa__expr *e[NC];
    for (size_t i = 0; i < NC; i++) {
        aa__expr_error err;
        if (aa__expr_compile(conds[i].src, AA__CTX_APPROVAL, lookup, NULL,
                             &e[i], &err) != AA_OK) {
            fprintf(stderr, "bench_expr: `%s`: column %d: %s\n", conds[i].src,
                    err.column, err.message);
            return 1;
        }
    }

    printf("bench_expr: ns per evaluation (median of %d runs x %d)\n", RUNS,
           ITERS);
    printf("%-18s", "condition");
    for (size_t r = 0; r < NR; r++)
        printf(" %18s", requests[r].label);
    printf("\n");

    volatile unsigned sink = 0;
    for (size_t i = 0; i < NC; i++) {
        printf("%-18s", conds[i].label);
        for (size_t r = 0; r < NR; r++) {
            const request *q = &requests[r];
            aa__expr_ctx c;
            memset(&c, 0, sizeof c);
            c.fields[AA__F_AGENT] = q->agent;
            c.field_len[AA__F_AGENT] = strlen(q->agent);
            c.fields[AA__F_USER] = q->user;
            c.field_len[AA__F_USER] = strlen(q->user);
            c.fields[AA__F_ACTION] = q->action;
            c.field_len[AA__F_ACTION] = strlen(q->action);
            c.meta = q->meta;
            c.nmeta = q->nmeta;

            bool res = false;
            uint64_t ns[RUNS];
            for (int run = -1; run < RUNS; run++) { /* run -1 warms up */
                unsigned acc = 0;
                uint64_t t0 = aa__mono_ns();
                for (int k = 0; k < ITERS; k++) {
                    aa__expr_eval(e[i], &c, &res, NULL);
                    acc += res;
                }
                uint64_t t1 = aa__mono_ns();
                sink += acc;
                if (run >= 0)
                    ns[run] = t1 - t0;
            }
            qsort(ns, RUNS, sizeof ns[0], cmp_u64);
            printf(" %13.1f (%c)", (double)ns[RUNS / 2] / ITERS,
                   res ? 'T' : 'F');
        }
        printf("\n");
    }
    printf("(T/F: the condition's value on that request)\n");
    for (size_t i = 0; i < NC; i++)
        aa__expr_free(e[i]);
    return sink == 0xFFFFFFFFu; /* keeps the loop observable */
}
