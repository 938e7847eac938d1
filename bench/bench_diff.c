/*
 * bench_diff.c - how long `agent-auth diff` takes on a large policy: a
 * generated policy of 1,000 profiles, 120 roles (in inheritance chains),
 * 700 approval policies and 300 A2A policies, against a lightly edited
 * copy (a role's actions, a profile's deny list and scopes, two approval
 * tiers, an A2A policy added and one changed). Times loading both and
 * aa_policy_diff (the whole of the command but printing); prints the
 * median of 3 runs as one row with its target (under 2 s wall) met or
 * missed, and how many differences were found.
 *
 * Usage: bench_diff [--quick]
 *        bench_diff --write DIR   (writes DIR/old.yaml and DIR/new.yaml)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent_auth.h"
#include "textbuf.h"

#define TARGET_S 2.0

/* The policy; `edited` makes the lightly edited copy. */
static void generate(text *t, int edited) {
    putf(t, "version: \"1.0\"\nroles:\n");
    for (int r = 0; r < 120; r++) {
        putf(t, "  role-%d:\n", r);
        if (r % 10)
            putf(t, "    extends: role-%d\n", r - 1);
        if (edited && r == 37)
            putf(t,
                 "    actions: [\"svc%d:read\", \"svc%d:write\", "
                 "\"svc%d:admin:*\", \"ops%d:*\"]\n",
                 r, r, r, r);
        else
            putf(t,
                 "    actions: [\"svc%d:read\", \"svc%d:write\", "
                 "\"svc%d:list:*\", \"ops%d:run\"]\n",
                 r, r, r, r);
    }
    putf(t, "profiles:\n");
    for (int p = 0; p < 1000; p++) {
        putf(t, "  agent-%d:\n    role: role-%d\n", p, p % 120);
        putf(t, "    allow: [\"tool%d:*\", \"shared:read\"]\n", p % 50);
        if (edited && p == 500)
            putf(t, "    deny: [\"svc%d:write\"]\n", p % 120);
        else
            putf(t, "    deny: [\"svc%d:admin:*\", \"tool%d:delete\"]\n",
                 p % 120, p % 50);
        if (edited && p == 700)
            putf(t, "    scopes: [\"project:*\", \"team:*\"]\n");
        else
            putf(t, "    scopes: [\"project:*\"]\n");
        if (p % 7 == 0)
            putf(t, "    default_tier: soft\n");
    }
    putf(t, "approval_policies:\n");
    for (int a = 0; a < 700; a++) {
        const char *tier = a % 3 ? "soft" : "strong";
        if (edited && (a == 100 || a == 400))
            tier = a == 100 ? "strong" : "autonomous";
        putf(t, "  - name: approval-%d\n    tier: %s\n", a, tier);
        switch (a % 4) {
        case 0:
            putf(t, "    condition: 'action == \"svc%d:write\"'\n", a % 120);
            break;
        case 1:
            putf(t,
                 "    condition: 'action starts_with \"ops%d:\" and "
                 "metadata.env == \"prod\"'\n",
                 a % 120);
            break;
        case 2:
            putf(t,
                 "    condition: 'action in [\"tool%d:run\", \"tool%d:x\"]'\n",
                 a % 50, a % 50);
            break;
        default:
            putf(t,
                 "    condition: 'agent == \"agent-%d\" and metadata.amount > "
                 "%d'\n",
                 a, a);
        }
    }
    putf(t, "a2a:\n  default: deny\n  policies:\n");
    int n = edited ? 301 : 300;
    for (int x = 0; x < n; x++) {
        putf(t, "    - name: a2a-%d\n", x);
        if (x == 300) /* added in the copy */
            putf(t, "      from_agent: \"agent-9*\"\n      to_agent: \"*\"\n"
                    "      action: \"shared:*\"\n");
        else
            putf(t,
                 "      from_agent: \"agent-%d\"\n      to_agent: "
                 "\"agent-%d*\"\n      action: \"%s%d:*\"\n",
                 x * 3, (x * 7) % 1000, edited && x == 50 ? "tool" : "svc",
                 x % 120);
        putf(t, "      effect: %s\n", x % 5 ? "allow" : "deny");
    }
    putf(t, "audit:\n  enabled: false\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int runs = argc > 1 && strcmp(argv[1], "--quick") == 0 ? 1 : 3;
    text old = {0}, new = {0};
    generate(&old, 0);
    generate(&new, 1);
    if (argc > 2 && strcmp(argv[1], "--write") == 0) {
        const text *ts[2] = {&old, &new};
        const char *names[2] = {"old.yaml", "new.yaml"};
        for (int k = 0; k < 2; k++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[2], names[k]);
            FILE *f = fopen(path, "wb");
            if (!f || fwrite(ts[k]->p, 1, ts[k]->len, f) != ts[k]->len ||
                fclose(f) != 0) {
                perror(path);
                return 1;
            }
        }
        return 0;
    }
    double t[3], td[3];
    size_t items = 0, widen = 0;
    for (int r = 0; r < runs; r++) {
        double t0 = now_s();
        aa_policy *po = NULL, *pn = NULL;
        aa_error *err = aa_error_new();
        if (aa_policy_load_buffer(old.p, old.len, "old.yaml", NULL, &po, err) !=
                AA_OK ||
            aa_policy_load_buffer(new.p, new.len, "new.yaml", NULL, &pn, err) !=
                AA_OK) {
            char line[1024];
            aa_diag_format(aa_error_get(err, 0), line, sizeof line);
            fprintf(stderr, "bench_diff: %s\n", line);
            return 1;
        }
        double t1 = now_s();
        aa_diff *d = NULL;
        if (aa_policy_diff(po, pn, NULL, &d, err) != AA_OK) {
            fprintf(stderr, "bench_diff: aa_policy_diff failed\n");
            return 1;
        }
        double t2 = now_s();
        items = aa_diff_count(d);
        widen = aa_diff_count_class(d, AA_DIFF_WIDEN);
        t[r] = t2 - t0;
        td[r] = t2 - t1;
        aa_diff_free(d);
        aa_policy_free(po);
        aa_policy_free(pn);
        aa_error_free(err);
    }
    qsort(t, (size_t)runs, sizeof t[0], cmp_double);
    qsort(td, (size_t)runs, sizeof td[0], cmp_double);
    double med = t[runs / 2];
    printf("diff: 1,000 profiles, 120 roles, 700 approval, 300 A2A policies "
           "vs an edited copy: %.3f s wall (load both %.3f s, diff %.3f s; "
           "%zu differences, %zu widen); target < %.0f s: %s\n",
           med, med - td[runs / 2], td[runs / 2], items, widen, TARGET_S,
           med < TARGET_S ? "met" : "MISSED");
    free(old.p);
    free(new.p);
    return 0;
}
