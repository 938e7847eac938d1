/*
 * bench_pg.c - the PostgreSQL state store against the SQLite one
 * (docs/state.md). Needs AA_PG_URL (bench/run.sh starts a private cluster
 * with tests/pg/cluster.sh and passes it).
 *
 *   1. decisions that use a session / a delegation, ns each: SQLite
 *      (its generation-checked cache), PostgreSQL cached, PostgreSQL strict;
 *   2. creates per second with 8 concurrent writers (one store each);
 *   3. revocation propagation: this process revokes a delegation; a
 *      separate process with a cached store decides the delegated action in
 *      a loop; the time from the revoke returning to its first denial, over
 *      100 revocations (median, p99, max).
 *
 * Usage: bench_pg [--quick] [--src DIR] [--decisions-only]
 * (--decisions-only[=sqlite|=postgresql]: the cached rows of 1 only, for
 * callgrind)
 */
#include "agent_auth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *src_dir = ".";
static int quick;
static int decisions_only;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc, aa_error *err) {
    const aa_diag *d = err ? aa_error_get(err, 0) : NULL;
    fprintf(stderr, "bench_pg: %s: %s\n", what,
            d ? d->message : aa_strerror(rc));
    exit(1);
}

static aa_policy *policy(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/examples/policies/enterprise.yaml",
             src_dir);
    aa_policy *p = NULL;
    aa_error *err = aa_error_new();
    int rc = aa_policy_load_file(path, NULL, &p, err);
    if (rc != AA_OK)
        die(path, rc, err);
    aa_error_free(err);
    return p;
}

static aa_store *open_store(const char *url, const char *schema,
                            aa_store_consistency c) {
    aa_store_options o;
    aa_store_options_init(&o);
    o.url = url;
    o.schema = schema;
    o.consistency = c;
    aa_store *st = NULL;
    aa_error *err = aa_error_new();
    int rc = aa_store_open(&o, &st, err);
    if (rc != AA_OK)
        die(url, rc, err);
    aa_error_free(err);
    return st;
}

static aa_engine *engine(aa_policy *p, aa_store *st) {
    aa_engine_options o;
    aa_engine_options_init(&o);
    o.store = st;
    o.audit_mode = AA_AUDIT_OFF;
    aa_engine *e = NULL;
    aa_error *err = aa_error_new();
    int rc = aa_engine_new(p, &o, &e, err);
    if (rc != AA_OK)
        die("engine", rc, err);
    aa_error_free(err);
    return e;
}

/* ns per decision of req (which must come out as `allowed`). Not inlined:
 * `valgrind --tool=callgrind --toggle-collect=per_decision bench_pg
 * --decisions-only` counts its instructions alone. */
__attribute__((noinline)) static double
per_decision(aa_engine *e, const aa_request *req, int n, int allowed) {
    aa_decision *d = aa_decision_new();
    for (int i = 0; i < 50; i++) /* warm: connections, caches */
        aa_authorize(e, req, d);
    double best = 1e30;
    for (int round = 0; round < 3; round++) {
        double t0 = now_s();
        for (int i = 0; i < n; i++) {
            aa_authorize(e, req, d);
            if (aa_decision_allowed(d) != allowed) {
                fprintf(stderr, "bench_pg: unexpected decision: %s\n",
                        aa_decision_reason(d));
                exit(1);
            }
        }
        double t = (now_s() - t0) / n * 1e9;
        if (t < best)
            best = t;
    }
    aa_decision_free(d);
    return best;
}

typedef struct fixture {
    aa_session s;
    aa_delegation g;
} fixture;

static void make_grants(aa_engine *e, fixture *f) {
    aa_error *err = aa_error_new();
    int rc =
        aa_session_create(e, "research-bot", "alice", NULL, 3600, &f->s, err);
    if (rc != AA_OK)
        die("session_create", rc, err);
    static const char *const acts[] = {"deploy:staging"};
    rc = aa_delegation_create(e, "alice", "research-bot", acts, 1, 3600,
                              "bench", &f->g, err);
    if (rc != AA_OK)
        die("delegation_create", rc, err);
    aa_error_free(err);
}

static void row(const char *store, aa_policy *p, aa_store *st, int n,
                double out[2]) {
    aa_engine *e = engine(p, st);
    fixture f;
    make_grants(e, &f);
    aa_request sess = {.agent = "research-bot",
                       .user = "alice",
                       .action = "read:docs",
                       .session_id = f.s.session_id};
    aa_request deleg = {
        .agent = "research-bot", .user = "alice", .action = "deploy:staging"};
    out[0] = per_decision(e, &sess, n, 1);
    out[1] = per_decision(e, &deleg, n, 1);
    printf("%-22s %14.0f %17.0f\n", store, out[0], out[1]);
    aa_session_clear(&f.s);
    aa_delegation_clear(&f.g);
    aa_engine_free(e);
}

/* ---- 8 concurrent writers ------------------------------------------------ */

typedef struct writer {
    const char *url, *schema;
    aa_policy *p;
    int n, failures;
} writer;

static void *write_main(void *arg) {
    writer *w = arg;
    aa_store *st = open_store(w->url, w->schema, AA_CONSISTENCY_STRICT);
    aa_engine *e = engine(w->p, st);
    for (int i = 0; i < w->n; i++) {
        aa_session s;
        if (aa_session_create(e, "research-bot", "alice", NULL, 3600, &s,
                              NULL) != AA_OK)
            w->failures++;
        else
            aa_session_clear(&s);
    }
    aa_engine_free(e);
    aa_store_free(st);
    return NULL;
}

static double creates_per_s(const char *url, const char *schema, aa_policy *p,
                            int per_writer) {
    writer w[8];
    pthread_t t[8];
    aa_store *st = open_store(url, schema, AA_CONSISTENCY_STRICT);
    aa_store_migrate(st, NULL, NULL); /* tables first: not timed */
    aa_store_free(st);
    double t0 = now_s();
    for (int i = 0; i < 8; i++) {
        w[i] = (writer){url, schema, p, per_writer, 0};
        pthread_create(&t[i], NULL, write_main, &w[i]);
    }
    int failures = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        failures += w[i].failures;
    }
    double dt = now_s() - t0;
    if (failures)
        fprintf(stderr, "bench_pg: %d creates failed\n", failures);
    return 8.0 * per_writer / dt;
}

/* ---- revocation propagation -----------------------------------------------
 */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The deciding process: for each grant id read from `in`, decides the
 * delegated action until it is allowed (the grant is seen), answers 'r'
 * (ready), then, once told the revoke time, decides until denied and
 * writes the delay in seconds. */
static void decider(const char *url, const char *schema, int in, int out) {
    aa_policy *p = policy();
    aa_store *st = open_store(url, schema, AA_CONSISTENCY_CACHED);
    aa_engine *e = engine(p, st);
    aa_request req = {
        .agent = "research-bot", .user = "carol", .action = "deploy:staging"};
    aa_decision *d = aa_decision_new();
    double t_revoked;
    char c;
    while (read(in, &c, 1) == 1) {
        do
            aa_authorize(e, &req, d);
        while (!aa_decision_allowed(d));
        if (write(out, "r", 1) != 1 ||
            read(in, &t_revoked, sizeof t_revoked) != sizeof t_revoked)
            break;
        do
            aa_authorize(e, &req, d);
        while (aa_decision_allowed(d));
        double delay = now_s() - t_revoked;
        if (write(out, &delay, sizeof delay) != sizeof delay)
            break;
    }
    aa_decision_free(d);
    aa_engine_free(e);
    aa_store_free(st);
    aa_policy_free(p);
    _exit(0);
}

static void propagation(const char *url, const char *schema, int n) {
    int to[2], from[2];
    if (pipe(to) || pipe(from))
        exit(1);
    {
        /* the tables exist before the decider looks */
        aa_store *st = open_store(url, schema, AA_CONSISTENCY_STRICT);
        aa_store_migrate(st, NULL, NULL);
        aa_store_free(st);
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(to[1]);
        close(from[0]);
        decider(url, schema, to[0], from[1]);
    }
    close(to[0]);
    close(from[1]);
    aa_policy *p = policy();
    aa_store *st = open_store(url, schema, AA_CONSISTENCY_STRICT);
    aa_engine *e = engine(p, st);
    double *delays = calloc((size_t)n, sizeof *delays);
    static const char *const acts[] = {"deploy:staging"};
    for (int i = 0; i < n; i++) {
        aa_delegation g;
        aa_error *err = aa_error_new();
        int rc = aa_delegation_create(e, "carol", "research-bot", acts, 1, 3600,
                                      "bench", &g, err);
        if (rc != AA_OK)
            die("delegation_create", rc, err);
        char c = 'g', ready;
        if (write(to[1], &c, 1) != 1 || read(from[0], &ready, 1) != 1)
            die("the deciding process", AA_EIO, NULL);
        int revoked = 0;
        rc = aa_delegation_revoke(e, g.delegation_id, &revoked, err);
        double t = now_s(); /* the revoke has returned */
        if (rc != AA_OK || !revoked)
            die("delegation_revoke", rc, err);
        aa_error_free(err);
        aa_delegation_clear(&g);
        if (write(to[1], &t, sizeof t) != sizeof t ||
            read(from[0], &delays[i], sizeof delays[i]) != sizeof delays[i])
            die("the deciding process", AA_EIO, NULL);
    }
    close(to[1]);
    waitpid(pid, NULL, 0);
    qsort(delays, (size_t)n, sizeof *delays, cmp_double);
    int p99 = (int)(0.99 * (n - 1) + 0.5);
    printf("revocation propagation to a cached process over %d revocations: "
           "median %.2f ms, p99 %.2f ms, max %.2f ms\n",
           n, delays[n / 2] * 1e3, delays[p99] * 1e3, delays[n - 1] * 1e3);
    free(delays);
    aa_engine_free(e);
    aa_store_free(st);
    aa_policy_free(p);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--decisions-only") == 0)
            decisions_only = 3;
        else if (strcmp(argv[i], "--decisions-only=sqlite") == 0)
            decisions_only = 1;
        else if (strcmp(argv[i], "--decisions-only=postgresql") == 0)
            decisions_only = 2;
        else if (strcmp(argv[i], "--src") == 0 && i + 1 < argc)
            src_dir = argv[++i];
    }
    const char *url = getenv("AA_PG_URL");
    if (!url || !*url) {
        fprintf(stderr, "bench_pg: AA_PG_URL is not set (bench/run.sh starts "
                        "a cluster)\n");
        return 1;
    }
    char schema[64];
    aa_policy *p = policy();

    /* 3 first: nothing else running in this process. */
    snprintf(schema, sizeof schema, "bench_prop_%d", (int)getpid());
    if (!decisions_only)
        propagation(url, schema, 100);

    int n = quick ? 2000 : 20000;
    printf("decisions that use state, ns each (best of 3 runs of %d):\n", n);
    printf("%-22s %14s %17s\n", "store", "with a session", "by a delegation");
    double sq[2], pc[2], ps[2];
    char dir[] = "/tmp/aa-bench-pg-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char path[128];
    snprintf(path, sizeof path, "%s/state.db", dir);
    aa_store *st = NULL;
    if (aa_store_open_sqlite(path, &st, NULL) != AA_OK)
        return 1;
    if (decisions_only != 2)
        row("sqlite (cached)", p, st, n, sq);
    aa_store_free(st);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_pg: could not remove %s\n", dir);
    snprintf(schema, sizeof schema, "bench_cached_%d", (int)getpid());
    st = open_store(url, schema, AA_CONSISTENCY_CACHED);
    usleep(200000); /* its notification connection */
    if (decisions_only != 1)
        row("postgresql cached", p, st, n, pc);
    aa_store_free(st);
    if (decisions_only) {
        aa_policy_free(p);
        return 0;
    }
    snprintf(schema, sizeof schema, "bench_strict_%d", (int)getpid());
    st = open_store(url, schema, AA_CONSISTENCY_STRICT);
    row("postgresql strict", p, st, quick ? 500 : 3000, ps);
    aa_store_free(st);
    printf("postgresql cached / sqlite: %.2fx (session), %.2fx (delegation); "
           "strict: %.1f us (session), %.1f us (delegation) per decision\n",
           pc[0] / sq[0], pc[1] / sq[1], ps[0] / 1e3, ps[1] / 1e3);

    snprintf(schema, sizeof schema, "bench_writers_%d", (int)getpid());
    printf("session creates with 8 concurrent writers: %.0f per second\n",
           creates_per_s(url, schema, p, quick ? 50 : 250));
    aa_policy_free(p);
    return 0;
}
