/*
 * bench_load.c - how long loading (parse, check, compile) a policy takes.
 *
 * Two policies: the enterprise example as it is, and the same file grown in
 * memory by 1,000 roles (in inheritance chains), 10,000 profiles, 1,000
 * approval policies about other actions and 1,000 A2A policies about other
 * agents. Prints the median of 5 loads of each.
 *
 * Usage: bench_load [path/to/enterprise.yaml]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent_auth.h"
#include "textbuf.h"

#define RUNS 5

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    text t = {0};
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        put(&t, buf, n);
    fclose(f);
    *len = t.len;
    return t.p;
}

static char *find_enterprise(const char *arg, size_t *len) {
    const char *rel = "examples/policies/enterprise.yaml";
    char path[1024];
    if (arg)
        return read_file(arg, len);
    const char *src = getenv("AA_SOURCE_DIR");
    if (src) {
        snprintf(path, sizeof path, "%s/%s", src, rel);
        return read_file(path, len);
    }
    const char *up[] = {"", "../", "../../", "../../../"};
    for (size_t i = 0; i < sizeof up / sizeof up[0]; i++) {
        snprintf(path, sizeof path, "%s%s", up[i], rel);
        char *d = read_file(path, len);
        if (d)
            return d;
    }
    return NULL;
}

/* Copies base up to and including the line `header`, then calls gen. */
static size_t splice(text *out, const char *base, size_t from,
                     const char *header) {
    const char *h = strstr(base + from, header);
    if (!h) {
        fprintf(stderr, "bench_load: '%s' not found in the example\n", header);
        exit(1);
    }
    size_t end = (size_t)(h - base) + strlen(header);
    put(out, base + from, end - from);
    return end;
}

static char *grow(const char *base, size_t len, size_t *outlen) {
    text t = {0};
    size_t at = splice(&t, base, 0, "\nroles:\n");
    for (int i = 0; i < 1000; i++) {
        putf(&t, "  gen-role-%d:\n", i);
        putf(&t, "    description: generated role %d\n", i);
        if (i % 10) /* chains of ten */
            putf(&t, "    extends: gen-role-%d\n", i - 1);
        else
            putf(&t, "    extends: viewer\n");
        putf(&t,
             "    actions: [\"gen:%d:read\", \"gen:%d:write:*\", "
             "\"task-%d\"]\n",
             i, i, i);
    }
    at = splice(&t, base, at, "\nprofiles:\n");
    for (int i = 0; i < 10000; i++) {
        putf(&t, "  gen-agent-%d:\n", i);
        putf(&t, "    role: gen-role-%d\n", (i * 7) % 1000);
        putf(&t, "    allow: [\"extra:%d\", \"tool:%d:*\"]\n", i, i % 50);
        putf(&t, "    deny: [\"gen:%d:write:secret\"]\n", (i * 7) % 1000);
        putf(&t, "    scopes: [\"project:p%d\", \"team:*\"]\n", i % 100);
        if (i % 3 == 0)
            putf(&t, "    default_tier: soft\n");
        putf(&t, "    max_session_duration: %d\n", 600 + i % 3000);
    }
    at = splice(&t, base, at, "\napproval_policies:\n");
    for (int i = 0; i < 1000; i++) {
        putf(&t, "  - name: gen-approval-%d\n", i);
        putf(&t,
             "    condition: 'action == \"gen:%d:write:deploy\" and "
             "amount > %d and not (user in $admins)'\n",
             i, i * 10);
        putf(&t, "    tier: %s\n", i % 2 ? "strong" : "soft");
    }
    at = splice(&t, base, at, "\n  policies:\n");
    for (int i = 0; i < 1000; i++) {
        putf(&t, "    - name: gen-a2a-%d\n", i);
        putf(&t, "      from_agent: gen-agent-%d\n", i);
        putf(&t, "      to_agent: \"gen-agent-%d*\"\n", (i + 1) % 1000);
        putf(&t, "      action: \"task-*\"\n");
        putf(&t, "      effect: %s\n", i % 5 ? "allow" : "deny");
        if (i % 4 == 0)
            putf(&t, "      condition: 'metadata.priority != \"low\"'\n");
    }
    put(&t, base + at, len - at);
    *outlen = t.len;
    return t.p;
}

static double clock_ms(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Wall-clock time, and the CPU time of this process (which a busy machine
 * disturbs less). */
static void measure(const char *label, const char *data, size_t len) {
    double t[RUNS], c[RUNS];
    aa_policy *p = NULL;
    for (int i = 0; i < RUNS; i++) {
        aa_error *err = aa_error_new();
        double t0 = clock_ms(CLOCK_MONOTONIC);
        double c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
        int rc = aa_policy_load_buffer(data, len, label, NULL, &p, err);
        c[i] = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
        t[i] = clock_ms(CLOCK_MONOTONIC) - t0;
        if (rc != AA_OK) {
            char line[1024];
            for (size_t k = 0; k < aa_error_count(err) && k < 10; k++) {
                aa_diag_format(aa_error_get(err, k), line, sizeof line);
                fprintf(stderr, "%s\n", line);
            }
            fprintf(stderr, "bench_load: %s did not load: %s\n", label,
                    aa_strerror(rc));
            exit(1);
        }
        if (i < RUNS - 1)
            aa_policy_free(p);
        aa_error_free(err);
    }
    qsort(t, RUNS, sizeof t[0], cmp_double);
    qsort(c, RUNS, sizeof c[0], cmp_double);
    printf("%-10s %7.1f KiB %5zu roles %6zu profiles %5zu approvals %5zu "
           "a2a | median %8.3f ms wall (min %.3f), %8.3f ms cpu\n",
           label, (double)len / 1024.0, aa_policy_role_count(p),
           aa_policy_profile_count(p), aa_policy_approval_count(p),
           aa_policy_a2a_count(p), t[RUNS / 2], t[0], c[RUNS / 2]);
    aa_policy_free(p);
}

int main(int argc, char **argv) {
    size_t len = 0;
    char *base = find_enterprise(argc > 1 ? argv[1] : NULL, &len);
    if (!base) {
        fprintf(stderr, "bench_load: cannot read the enterprise example "
                        "(pass its path, or set AA_SOURCE_DIR)\n");
        return 1;
    }
    size_t biglen = 0;
    char *big = grow(base, len, &biglen);
    printf("policy load (parse + check + compile), median of %d:\n", RUNS);
    measure("enterprise", base, len);
    measure("large", big, biglen);
    free(big);
    free(base);
    return 0;
}
