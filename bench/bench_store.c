/*
 * bench_store.c - how the hot state lookups scale.
 *
 * For the SQLite and the memory store, with 10 and with 100,000 active
 * sessions and delegation grants: nanoseconds per session_get and per
 * delegation_find (a hit in the third grant of the pair, and a miss), the
 * median of 5 runs. The pair looked up always has the same 3 grants; the
 * other grants belong to other (agent, user) pairs, so a lookup that used
 * its index costs the same at both sizes.
 *
 * The SQLite files go to $AA_BENCH_DIR, else /dev/shm when there is one,
 * else /tmp: loading 100,000 rows one durable commit at a time would take
 * minutes on a disk, and the lookups read from memory either way. A
 * separate line gives the cost of a put on /tmp (a disk, usually), where
 * every commit is synced.
 *
 *   bench_store [rows...]     (default: 10 100000)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

#define T0   INT64_C(1800000000000000)
#define HOUR INT64_C(3600000000)
#define RUNS 5

static void check(int rc, const char *what) {
    if (rc != AA_OK) {
        fprintf(stderr, "bench_store: %s failed: %s\n", what, aa_strerror(rc));
        exit(1);
    }
}

static void put_grant(aa_store *st, const char *id, const char *user,
                      const char *agent, const char *const *acts, size_t n,
                      int64_t granted) {
    aa_delegation d = {.from_user = (char *)user,
                       .to_agent = (char *)agent,
                       .actions = (char **)acts,
                       .action_count = n,
                       .granted_at = granted,
                       .expires_at = T0 + HOUR,
                       .reason = ""};
    snprintf(d.delegation_id, sizeof d.delegation_id, "%.*s",
             (int)sizeof d.delegation_id - 1, id);
    check(st->ops->delegation_put(st, &d, NULL), "delegation_put");
}

/* rows sessions and rows grants, 3 of the grants to the benched pair. */
static double populate(aa_store *st, int rows) {
    uint64_t start = aa__mono_ns();
    char id[40], agent[32], user[32];
    for (int i = 0; i < rows; i++) {
        snprintf(agent, sizeof agent, "agent-%d", i % 1000);
        snprintf(user, sizeof user, "user-%d", i / 1000);
        aa_session s = {.agent = agent,
                        .user = user,
                        .scope = "",
                        .created_at = T0 + i,
                        .expires_at = T0 + HOUR};
        snprintf(s.session_id, sizeof s.session_id, "s-%08d", i);
        check(st->ops->session_put(st, &s, NULL), "session_put");
    }
    const char *a1[] = {"read:*"};
    const char *a2[] = {"deploy:staging", "deploy:prod"};
    const char *a3[] = {"deploy:*"};
    const char *other[] = {"deploy:*", "read:*"};
    put_grant(st, "g-pair-1", "bench-user", "bench-agent", a1, 1, T0);
    put_grant(st, "g-pair-2", "bench-user", "bench-agent", a2, 2, T0 + 1);
    put_grant(st, "g-pair-3", "bench-user", "bench-agent", a3, 1, T0 + 2);
    for (int i = 3; i < rows; i++) {
        snprintf(id, sizeof id, "g-%08d", i);
        snprintf(agent, sizeof agent, "agent-%d", i % 1000);
        snprintf(user, sizeof user, "user-%d", i / 1000);
        put_grant(st, id, user, agent, other, 2, T0 + i);
    }
    return (double)(aa__mono_ns() - start) / (2.0 * rows);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v) {
    qsort(v, RUNS, sizeof *v, cmp_double);
    return v[RUNS / 2];
}

static double bench_get(aa_store *st, int rows, int iters) {
    double runs[RUNS];
    char id[40];
    for (int r = 0; r < RUNS; r++) {
        uint64_t start = aa__mono_ns();
        for (int i = 0; i < iters; i++) {
            /* spread over the table, 7919 is prime */
            snprintf(id, sizeof id, "s-%08d", (int)(((long)i * 7919) % rows));
            aa_session s;
            check(st->ops->session_get(st, id, T0, &s, NULL), "session_get");
            aa_session_clear(&s);
        }
        runs[r] = (double)(aa__mono_ns() - start) / iters;
    }
    return median(runs);
}

static double bench_find(aa_store *st, const char *action, int want,
                         int iters) {
    double runs[RUNS];
    for (int r = 0; r < RUNS; r++) {
        uint64_t start = aa__mono_ns();
        for (int i = 0; i < iters; i++) {
            aa__deleg_hit hit;
            int rc = st->ops->delegation_find(st, "bench-agent", "bench-user",
                                              action, T0, &hit, NULL);
            if (rc != want) {
                fprintf(stderr, "bench_store: find gave %s\n",
                        aa_status_name(rc));
                exit(1);
            }
        }
        runs[r] = (double)(aa__mono_ns() - start) / iters;
    }
    return median(runs);
}

static const char *bench_dir(void) {
    const char *d = getenv("AA_BENCH_DIR");
    if (d && *d)
        return d;
    return access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
}

static aa_store *open_in(const char *base, char *dir, char *path) {
    snprintf(dir, 256, "%s/aa-bench-XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(path, 300, "%s/state.db", dir);
    aa_store *st = NULL;
    aa_error *err = aa_error_new();
    if (aa_store_open_sqlite(path, &st, err) != AA_OK) {
        fprintf(stderr, "bench_store: %s\n", aa_error_get(err, 0)->message);
        exit(1);
    }
    aa_error_free(err);
    return st;
}

static void remove_store(const char *dir, const char *path) {
    static const char *const sfx[] = {"", "-wal", "-shm"};
    char p[320];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void one(const char *kind, int rows) {
    aa_store *st = NULL;
    char dir[256], path[300] = "";
    if (strcmp(kind, "sqlite") == 0) {
        st = open_in(bench_dir(), dir, path);
    } else {
        check(aa_store_open_memory(&st, NULL), "open memory");
    }
    int iters = strcmp(kind, "sqlite") == 0 ? 20000 : 200000;
    double put = populate(st, rows);
    double get = bench_get(st, rows, iters);
    double hit = bench_find(st, "deploy:web", AA_OK, iters);
    double miss = bench_find(st, "delete:web", AA_ENOTFOUND, iters);
    printf("%-7s %9d %11.0f %13.0f %15.0f %16.0f\n", kind, rows, put, get, hit,
           miss);
    fflush(stdout);
    aa_store_free(st);
    if (path[0])
        remove_store(dir, path);
}

typedef struct finder {
    aa_store *st;
    int iters;
} finder;

static void *find_loop(void *arg) {
    finder *f = arg;
    for (int i = 0; i < f->iters; i++) {
        aa__deleg_hit hit;
        check(f->st->ops->delegation_find(f->st, "bench-agent", "bench-user",
                                          "deploy:web", T0, &hit, NULL),
              "delegation_find");
    }
    return NULL;
}

/* Calls per second of delegation_find from 1 and from 2 threads sharing
 * one store (its connection is guarded by one mutex). */
static void threads(const char *kind) {
    aa_store *st = NULL;
    char dir[256], path[300] = "";
    if (strcmp(kind, "sqlite") == 0)
        st = open_in(bench_dir(), dir, path);
    else
        check(aa_store_open_memory(&st, NULL), "open memory");
    populate(st, 10);
    int iters = strcmp(kind, "sqlite") == 0 ? 20000 : 400000;
    double rate[2];
    for (int nt = 1; nt <= 2; nt++) {
        double runs[RUNS];
        for (int r = 0; r < RUNS; r++) {
            pthread_t th[2];
            finder f = {st, iters};
            uint64_t start = aa__mono_ns();
            for (int t = 0; t < nt; t++)
                pthread_create(&th[t], NULL, find_loop, &f);
            for (int t = 0; t < nt; t++)
                pthread_join(th[t], NULL);
            runs[r] =
                (double)nt * iters * 1e9 / (double)(aa__mono_ns() - start);
        }
        rate[nt - 1] = median(runs);
    }
    printf("%-7s delegation_find calls/s: 1 thread %.0f, 2 threads %.0f\n",
           kind, rate[0], rate[1]);
    aa_store_free(st);
    if (path[0])
        remove_store(dir, path);
}

/* Microseconds per put on /tmp, with every commit synced. */
static void put_on_disk(void) {
    char dir[256], path[300];
    aa_store *st = open_in("/tmp", dir, path);
    double ns = populate(st, 100);
    printf("sqlite put on /tmp (synchronous=FULL): %.0f us per row\n",
           ns / 1000);
    aa_store_free(st);
    remove_store(dir, path);
}

int main(int argc, char **argv) {
    int sizes[8] = {10, 100000}, nsizes = 2;
    if (argc > 1) {
        nsizes = 0;
        for (int i = 1; i < argc && nsizes < 8; i++)
            sizes[nsizes++] = atoi(argv[i]) > 3 ? atoi(argv[i]) : 4;
    }
    printf("state store lookups, ns per call (median of %d runs); "
           "SQLite files in %s\n",
           RUNS, bench_dir());
    printf("%-7s %9s %11s %13s %15s %16s\n", "store", "rows", "put",
           "session_get", "find(hit, 3rd)", "find(miss, 3 of)");
    static const char *const kinds[] = {"sqlite", "memory"};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < nsizes; i++)
            one(kinds[k], sizes[i]);
    threads("sqlite");
    threads("memory");
    put_on_disk();
    return 0;
}
