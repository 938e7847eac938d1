/*
 * bench_lint.c - how long `agent-auth lint` takes on a large policy.
 *
 * Generates, in memory, a policy with 1,000 profiles, 120 roles (in
 * inheritance chains up to 4 deep), 700 approval policies (pinned to
 * actions, on metadata ranges, on users) and 300 A2A policies (exact
 * agents, prefixes, with and without conditions), plus 10 delegation
 * rules, and times aa_lint_buffer on it (load included): the median of 5
 * runs, wall time. Target: under 2 s (issue 19). Prints one row in the
 * format of bench/run.sh's table, and the number of findings.
 *
 * Usage: bench_lint [--quick] [--write FILE]   (--write: save the policy)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "agent_auth.h"
#include "textbuf.h"

#define NROLES    120
#define NPROFILES 1000
#define NAPPROVAL 700
#define NA2A      300

static char *generate(size_t *len) {
    text t = {0};
    putf(&t, "version: \"1.0\"\nmetadata: {name: lint-bench}\n");
    putf(&t, "request_metadata:\n  amount: {type: number}\n"
             "  env: {type: string}\n  tenant: {type: string}\n");
    putf(&t, "roles:\n");
    for (int r = 0; r < NROLES; r++) {
        putf(&t, "  role%d:\n", r);
        if (r % 4) /* chains: role%d extends the one before, 4 deep */
            putf(&t, "    extends: role%d\n", r - 1);
        putf(&t,
             "    actions: [\"svc%d:read\", \"svc%d:write:*\", \"svc%d:list\", "
             "\"deploy:env%d\", \"read:docs/%d*\", \"svc%d:read\", "
             "\"report:%d:[a-m]*\", \"queue%d:*\"]\n",
             r, r, r % 10, r % 7, r, r % 13, r, r / 4);
    }
    putf(&t, "profiles:\n");
    for (int p = 0; p < NPROFILES; p++) {
        int r = p % NROLES;
        putf(&t, "  agent%d:\n    role: role%d\n", p, r);
        putf(&t,
             "    allow: [\"tool%d:*\", \"svc%d:read\", \"report:%d\", "
             "\"x%d:[ab]*\"]\n",
             p, r, p, p);
        putf(&t,
             "    deny: [\"svc%d:write:secret*\", \"admin:*\", "
             "\"tool%d:delete\"%s]\n",
             r, p, p % 50 == 0 ? ", \"x*\"" : "");
        if (p % 2)
            putf(&t, "    scopes: [\"repo:%d/*\", \"project:%d\"]\n", p,
                 p % 30);
        if (p % 4 == 1)
            putf(&t, "    require_scope: true\n");
    }
    putf(&t, "approval_policies:\n");
    for (int a = 0; a < NAPPROVAL; a++) {
        const char *tier = a % 3 == 0 ? "strong" : "soft";
        putf(&t, "  - name: approval-%d\n    tier: %s\n", a, tier);
        switch (a % 5) {
        case 0:
            putf(&t,
                 "    condition: 'action == \"svc%d:read\" and metadata.amount "
                 "> %d'\n",
                 a % NROLES, (a % 17) * 100);
            break;
        case 1:
            putf(&t,
                 "    condition: 'action in [\"deploy:env%d\", "
                 "\"deploy:env%d\"] and metadata.env == \"prod\"'\n",
                 a % 7, (a + 1) % 7);
            break;
        case 2:
            putf(&t,
                 "    condition: 'action starts_with \"queue%d:\" and "
                 "metadata.amount >= %d and metadata.amount < %d'\n",
                 a % 30, a, a + 500);
            break;
        case 3:
            putf(&t,
                 "    condition: 'metadata.tenant == \"t%d\" and user in "
                 "[\"u%d\", \"u%d\"]'\n",
                 a % 40, a, a + 1);
            break;
        default:
            putf(&t,
                 "    condition: 'action == \"tool%d:run\" and (metadata.env "
                 "!= \"dev\" or metadata.amount > %d)'\n",
                 a, a * 3);
            break;
        }
    }
    putf(&t, "delegation:\n  rules:\n");
    for (int d = 0; d < 10; d++)
        putf(&t,
             "    - name: rule%d\n      allowed_actions: [\"svc%d:*\", "
             "\"tool%d:*\", \"deploy:env%d\"]\n",
             d, d, d, d);
    putf(&t, "a2a:\n  default: deny\n  policies:\n");
    for (int a = 0; a < NA2A; a++) {
        putf(&t, "    - name: a2a-%d\n", a);
        if (a % 3 == 0)
            putf(&t, "      from_agent: \"agent%d\"\n", a);
        else if (a % 3 == 1)
            putf(&t, "      from_agent: \"agent%d*\"\n", a % 20);
        putf(&t, "      to_agent: \"agent%d\"\n", (a * 7) % NPROFILES);
        putf(&t, "      action: \"svc%d:*\"\n", a % NROLES);
        if (a % 4 == 0)
            putf(&t, "      effect: deny\n");
        if (a % 5 == 0)
            putf(&t, "      condition: 'metadata.amount > %d'\n", a);
    }
    *len = t.len;
    return t.p;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    int runs = 5;
    const char *write_to = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            runs = 3;
        else if (strcmp(argv[i], "--write") == 0 && i + 1 < argc)
            write_to = argv[++i];
        else if (strcmp(argv[i], "--src") == 0 && i + 1 < argc)
            i++; /* accepted for symmetry with the other benchmarks */
        else {
            fprintf(stderr, "usage: bench_lint [--quick] [--write FILE]\n");
            return 2;
        }
    }
    size_t len;
    char *policy = generate(&len);
    if (write_to) {
        FILE *f = fopen(write_to, "w");
        if (!f || fwrite(policy, 1, len, f) != len || fclose(f) != 0) {
            perror(write_to);
            return 1;
        }
        free(policy);
        return 0;
    }
    double t[9];
    size_t findings = 0, counts[3] = {0, 0, 0};
    for (int r = 0; r < runs; r++) {
        aa_error *err = aa_error_new();
        aa_lint_report *rep = NULL;
        double t0 = now_s();
        int rc = aa_lint_buffer(policy, len, "bench.yaml", NULL, &rep, err);
        t[r] = now_s() - t0;
        if (rc != AA_OK) {
            fprintf(stderr, "bench_lint: lint failed: %s\n", aa_strerror(rc));
            return 1;
        }
        findings = aa_lint_report_count(rep);
        memset(counts, 0, sizeof counts);
        for (size_t i = 0; i < findings; i++)
            counts[aa_lint_report_get(rep, i)->severity]++;
        if (r == 0 && counts[AA_LINT_ERROR]) {
            for (size_t i = 0; i < findings; i++) {
                const aa_lint_finding *f = aa_lint_report_get(rep, i);
                if (f->severity == AA_LINT_ERROR)
                    fprintf(stderr, "bench_lint: %d:%d: %s: %s\n", f->line,
                            f->column, f->code, f->message);
            }
            return 1; /* the generated policy must load */
        }
        aa_lint_report_free(rep);
        aa_error_free(err);
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    double med = t[runs / 2];
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    char label[96], per[32], rss[32], target[64];
    snprintf(label, sizeof label, "lint: %d profiles, %d roles, %d+%d policies",
             NPROFILES, NROLES, NAPPROVAL, NA2A);
    snprintf(per, sizeof per, "%.3f s", med);
    snprintf(rss, sizeof rss, "%.1f MB", (double)ru.ru_maxrss / 1024);
    snprintf(target, sizeof target, "< 2 s: %s", med < 2.0 ? "met" : "MISSED");
    printf("%-4s %-48s %13s %12s %9s %5s  %s\n", "L1", label, "-", per, rss,
           "-", target);
    fprintf(stderr,
            "L1: median of %d lints of a %zu-byte policy (load included); "
            "%zu findings (%zu warnings, %zu info); fastest %.3f s, slowest "
            "%.3f s\n",
            runs, len, findings, counts[AA_LINT_WARNING], counts[AA_LINT_INFO],
            t[0], t[runs - 1]);
    free(policy);
    return med < 2.0 ? 0 : 1;
}
