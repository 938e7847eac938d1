/*
 * bench_request.c - the cost of a request per byte of JSON, by how many
 * metadata keys it has: a stream of lines with 25 metadata keys each and a
 * stream of lines with 2,500 each (about 16 MB apiece) are read with
 * aa_request_from_json and decided on examples/policies/enterprise.yaml
 * (audit off), as `check --batch` does. Every line must cost time linear
 * in its size, so the cost per byte of the second stream stays within 3x
 * of the first; the program exits 1 when it does not.
 *
 * Usage: bench_request [--quick] [--src DIR]
 * Every figure is the median of 5 runs (3 with --quick).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent_auth.h"

#define LIMIT 3.0

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Lines of nkeys metadata keys each (the last one "amount", which a
 * condition reads) until about `bytes` bytes; one buffer, '\n' between. */
static char *make_stream(int nkeys, size_t bytes, size_t *len, size_t *lines) {
    char *buf = malloc(bytes + (size_t)nkeys * 32 + 256);
    size_t n = 0;
    *lines = 0;
    if (!buf)
        return NULL;
    while (n < bytes) {
        n += (size_t)sprintf(buf + n,
                             "{\"agent\":\"billing-agent\",\"user\":\"bob\","
                             "\"action\":\"pay:invoice\",\"id\":%zu,"
                             "\"metadata\":{",
                             *lines);
        for (int k = 0; k < nkeys - 1; k++)
            n += (size_t)sprintf(buf + n, "\"field_%d\":\"value %d\",", k, k);
        n += (size_t)sprintf(buf + n, "\"amount\":%zu}}\n", *lines % 20000);
        ++*lines;
    }
    *len = n;
    return buf;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds to read and decide every line of the stream. */
static double run(aa_engine *engine, const char *buf, size_t len, int runs) {
    aa_request_buf *rb = aa_request_buf_new();
    aa_decision *d = aa_decision_new();
    aa_error *err = aa_error_new();
    double t[8];
    for (int r = 0; r < runs; r++) {
        double start = now_s();
        for (const char *p = buf, *end = buf + len; p < end;) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            aa_request req;
            if (aa_request_from_json(p, (size_t)(nl - p), rb, &req, err) !=
                    AA_OK ||
                aa_authorize(engine, &req, d) != AA_OK) {
                fprintf(stderr, "bench_request: a line was refused\n");
                exit(1);
            }
            p = nl + 1;
        }
        t[r] = now_s() - start;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp);
    aa_request_buf_free(rb);
    aa_decision_free(d);
    aa_error_free(err);
    return t[runs / 2];
}

int main(int argc, char **argv) {
    const char *src = getenv("AA_SOURCE_DIR");
    int runs = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            runs = 3;
        else if (strcmp(argv[i], "--src") == 0 && i + 1 < argc)
            src = argv[++i];
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/examples/policies/enterprise.yaml",
             src ? src : ".");
    aa_error *err = aa_error_new();
    aa_policy *policy = NULL;
    aa_engine *engine = NULL;
    aa_engine_options o = {.audit_mode = AA_AUDIT_OFF};
    if (aa_policy_load_file(path, NULL, &policy, err) != AA_OK ||
        aa_engine_new(policy, &o, &engine, err) != AA_OK) {
        fprintf(stderr, "bench_request: cannot load %s (use --src DIR)\n",
                path);
        return 1;
    }
    aa_error_free(err);

    static const int keys[2] = {25, 2500};
    double ns_per_byte[2];
    for (int i = 0; i < 2; i++) {
        size_t len, lines;
        char *buf = make_stream(keys[i], 16u << 20, &len, &lines);
        if (!buf)
            return 1;
        run(engine, buf, len, 1); /* warm-up: the buffers grow */
        double s = run(engine, buf, len, runs);
        ns_per_byte[i] = s * 1e9 / (double)len;
        printf("%5d metadata keys per line: %7zu lines, %5.1f MB, %6.2f ns "
               "per byte, %9.1f us per line\n",
               keys[i], lines, (double)len / 1e6, ns_per_byte[i],
               s * 1e6 / (double)lines);
        free(buf);
    }
    double ratio = ns_per_byte[1] / ns_per_byte[0];
    printf("cost per byte, 2500 keys / 25 keys: %.2f (limit %.0f)\n", ratio,
           LIMIT);
    aa_engine_free(engine);
    aa_policy_free(policy);
    return ratio <= LIMIT ? 0 : 1;
}
