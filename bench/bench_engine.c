/*
 * bench_engine.c - decisions per second of the whole engine, in the
 * scenarios of the performance issue:
 *
 *   1  the enterprise example, an 8-request mix, audit off
 *   2  the same with audit on: fsync never, always, interval
 *   3  the same policy plus 10,000 profiles, 1,000 roles, 1,000 approval
 *      policies about other actions and 1,000 A2A policies about other
 *      agents, pinned by exact names (3b: by prefixes, `starts_with` and
 *      `from_agent: "x-*"`; 3d: by `metadata.tenant == ...`; 3c: by
 *      suffixes, `resource ends_with ...` and `from_agent: "*-x"`, which
 *      the pattern index alone could not skip)
 *   4  a SQLite state store holding 100,000 sessions and 100,000
 *      delegations: session-gated and delegation-permitted requests
 *   5  two threads deciding at once, against one
 *   6  the CLI: one `check` process, `check --batch` on 1,000,000 requests
 *      (audit off and on) and `jq -c .` over the same file; `check --batch`
 *      with the 3c policy against the same policy without its approval
 *      and A2A policies (6h, 6i)
 *   7  policy load time: the enterprise example and the scenario-3 policy
 *
 * One scenario per process, so that the peak RSS printed is that
 * scenario's own (bench/run.sh runs them in turn and prints one table):
 *
 *   bench_engine machine | header
 *   bench_engine [--quick] --src DIR --cli PATH SCENARIO
 *   bench_engine --profile ROW|all [--perf FILE] [--state DIR] --src DIR N
 *   bench_engine --write-requests N FILE
 *
 * Rows go to stdout, notes (setup times, per-request figures) to stderr.
 * A figure is the median of the timed runs (7; 5 with --quick) after a
 * warm-up; each run lasts about RUN_MS. Every request set is first checked
 * for its expected decisions, so that a broken setup cannot look fast.
 * --profile runs one fixed-size loop of the named row only (or of every
 * row of the scenario), for `valgrind --tool=callgrind
 * --toggle-collect=bench_loop`; with --perf FILE, a loop of about two
 * seconds under `perf record -e cpu-clock`, attached after the setup.
 * --state DIR keeps scenario 4's store there, or reuses the one there (the
 * setup is slow under valgrind).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

extern char **environ;

#define MAX_RUNS     9
#define NSESSIONS    100000
#define NDELEGATIONS 100000
#define NAPI         200  /* grants made through the public API, timed */
#define NPICKS       4096 /* distinct requests drawn from the store */
#define BATCH_LINES  1000000

static struct {
    const char *src;   /* source tree (examples/policies/...) */
    const char *cli;   /* the agent-auth binary */
    const char *only;  /* --profile: the row to run, or "all" */
    const char *perf;  /* --perf FILE: `perf record` the profiled loop */
    const char *state; /* --state DIR: keep (or reuse) scenario 4's store */
    bool quick;
    int runs;
    double run_ms;      /* length of one timed run */
    char tmp[PATH_MAX]; /* private scratch directory */
} cfg = {.runs = 7, .run_ms = 150};

static volatile unsigned sink; /* keeps results observable */

/* ---- small helpers ------------------------------------------------------- */

static void cleanup_tmp(void);

static void die(const char *fmt, ...) AA__PRINTF(1, 2);
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("bench_engine: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void note(const char *fmt, ...) AA__PRINTF(1, 2);
static void note(const char *fmt, ...) {
    if (cfg.only)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        die("out of memory");
    return p;
}

static char *xprintf(const char *fmt, ...) AA__PRINTF(1, 2);
static char *xprintf(const char *fmt, ...) {
    aa__buf b;
    aa__buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    aa__buf_vprintf(&b, fmt, ap);
    va_end(ap);
    if (b.oom || !b.data)
        die("out of memory");
    return b.data;
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot read %s: %s", path, strerror(errno));
    aa__buf b;
    aa__buf_init(&b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        aa__buf_append(&b, chunk, n);
    fclose(f);
    if (b.oom || !b.data)
        die("out of memory reading %s", path);
    return b.data;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f || fputs(text, f) == EOF || fclose(f) != 0)
        die("cannot write %s: %s", path, strerror(errno));
}

/* text with the first `from` after offset `start` replaced by `to`. */
static char *replace_once(const char *text, size_t start, const char *from,
                          const char *to) {
    const char *at = strstr(text + start, from);
    if (!at)
        die("policy text: '%s' not found", from);
    return xprintf("%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
}

/* The offset just after a top-level YAML key's block ("roles:" ...): the
 * start of the next line that begins at column 0 with something other than
 * a comment, or the end of the text. */
static size_t section_end(const char *text, const char *key) {
    size_t klen = strlen(key);
    const char *p = text;
    while (p && !(strncmp(p, key, klen) == 0 && p[klen] == '\n'))
        p = (p = strchr(p, '\n')) ? p + 1 : NULL;
    if (!p)
        die("policy text: top-level '%s' not found", key);
    p = strchr(p, '\n');
    while (p && p[1]) {
        char c = p[1];
        if (c != ' ' && c != '\n' && c != '#')
            return (size_t)(p + 1 - text);
        p = strchr(p + 1, '\n');
    }
    return strlen(text);
}

static char *insert_at(const char *text, size_t off, const char *add) {
    return xprintf("%.*s%s%s", (int)off, text, add, text + off);
}

static uint64_t cpu_ns(uint64_t *sys) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *sys = (uint64_t)ru.ru_stime.tv_sec * 1000000000u +
           (uint64_t)ru.ru_stime.tv_usec * 1000u;
    return (uint64_t)ru.ru_utime.tv_sec * 1000000000u +
           (uint64_t)ru.ru_utime.tv_usec * 1000u + *sys;
}

static long peak_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void cleanup_tmp(void) {
    if (cfg.tmp[0])
        nftw(cfg.tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void make_tmp(void) {
    const char *base = getenv("TMPDIR");
    snprintf(cfg.tmp, sizeof cfg.tmp, "%s/aa-bench-XXXXXX",
             aa__empty(base) ? "/tmp" : base);
    if (!mkdtemp(cfg.tmp))
        die("cannot make a temporary directory: %s", strerror(errno));
    atexit(cleanup_tmp);
}

static char *tmp_path(const char *name) {
    return xprintf("%s/%s", cfg.tmp, name);
}

/* ---- output -------------------------------------------------------------- */

static void fmt_time(char *out, size_t n, double ns) {
    if (ns < 1e3)
        snprintf(out, n, "%.0f ns", ns);
    else if (ns < 1e6)
        snprintf(out, n, "%.2f us", ns / 1e3);
    else if (ns < 1e9)
        snprintf(out, n, "%.2f ms", ns / 1e6);
    else
        snprintf(out, n, "%.2f s", ns / 1e9);
}

static void fmt_rate(char *out, size_t n, double per_s) {
    char digits[32];
    snprintf(digits, sizeof digits, "%.0f", per_s);
    size_t len = strlen(digits), o = 0;
    for (size_t i = 0; i < len && o + 2 < n; i++) {
        if (i && (len - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = 0;
}

#define ROW_FMT "%-4s %-48s %13s %12s %9s %5s  %s\n"

static void print_header(void) {
    printf(ROW_FMT, "#", "scenario", "decisions/s", "per decision", "peak RSS",
           "cpu", "target");
    printf(ROW_FMT, "--", "--------", "-----------", "------------", "--------",
           "---", "------");
}

/* One table row. ns: median time per decision (per process, per load...);
 * rate: false for rows where a rate means nothing (loads). rss_kb: peak
 * RSS; cpu: CPU time over wall time, percent (< 0: not known). */
static void row(const char *id, const char *label, double ns, bool rate,
                long rss_kb, double cpu, const char *target, ...)
    AA__PRINTF(7, 8);
static void row(const char *id, const char *label, double ns, bool rate,
                long rss_kb, double cpu, const char *target, ...) {
    if (cfg.only)
        return;
    char r[32] = "-", t[32], m[32], c[16] = "-", tg[160] = "";
    if (rate)
        fmt_rate(r, sizeof r, 1e9 / ns);
    fmt_time(t, sizeof t, ns);
    snprintf(m, sizeof m, "%.1f MB", (double)rss_kb / 1024);
    if (cpu >= 0)
        snprintf(c, sizeof c, "%.0f%%", cpu);
    va_list ap;
    va_start(ap, target);
    vsnprintf(tg, sizeof tg, target, ap);
    va_end(ap);
    printf(ROW_FMT, id, label, r, t, m, c, tg);
    fflush(stdout);
}

static const char *verdict(bool met) {
    return met ? "met" : "MISSED";
}

/* ---- the request mix ----------------------------------------------------- */

static const aa_meta deploy_meta[] = {
    {.key = "env", .type = AA_VALUE_STRING, .string = "prod"},
    {.key = "ticket", .type = AA_VALUE_STRING, .string = "OPS-1"},
};
static const aa_meta pay_meta[] = {
    {.key = "amount", .type = AA_VALUE_NUMBER, .number = 50},
};

typedef struct expect {
    int allowed;
    aa_tier tier;
    const char *reason; /* a substring of the reason */
} expect;

/* The 8 requests: the request, what it must decide, the same request as a
 * JSON line for the CLI. */
static const struct mix_entry {
    const char *label;
    aa_request req;
    expect want;
    const char *json;
} mix[] = {
    {"allowed read",
     {.agent = "research-bot",
      .user = "carol",
      .action = "read:docs",
      .resource = "docs/roadmap.md",
      .scope = "workspace:research"},
     {1, AA_TIER_AUTONOMOUS, "Allowed by profile 'research-bot'"},
     "{\"agent\":\"research-bot\",\"user\":\"carol\",\"action\":\"read:docs\","
     "\"resource\":\"docs/roadmap.md\",\"scope\":\"workspace:research\"}"},
    {"denied write",
     {.agent = "research-bot",
      .user = "carol",
      .action = "write:docs",
      .scope = "workspace:research"},
     {0, AA_TIER_AUTONOMOUS, "denied by profile 'research-bot'"},
     "{\"agent\":\"research-bot\",\"user\":\"carol\",\"action\":\"write:docs\","
     "\"scope\":\"workspace:research\"}"},
    {"prod deploy, strong approval",
     {.agent = "copilot",
      .user = "bob",
      .action = "deploy:api",
      .resource = "svc/api",
      .scope = "project:web",
      .metadata = deploy_meta,
      .metadata_count = 2},
     {1, AA_TIER_STRONG, "(requires strong approval)"},
     "{\"agent\":\"copilot\",\"user\":\"bob\",\"action\":\"deploy:api\","
     "\"resource\":\"svc/api\",\"scope\":\"project:web\","
     "\"metadata\":{\"env\":\"prod\",\"ticket\":\"OPS-1\"}}"},
    {"A2A allow",
     {.agent = "orchestrator",
      .user = "dave",
      .action = "read:plan",
      .target_agent = "research-bot"},
     {1, AA_TIER_AUTONOMOUS, "Allowed by profile 'orchestrator'"},
     "{\"agent\":\"orchestrator\",\"user\":\"dave\",\"action\":\"read:plan\","
     "\"target_agent\":\"research-bot\"}"},
    {"A2A deny",
     {.agent = "orchestrator",
      .user = "dave",
      .action = "pay:invoice",
      .target_agent = "billing-agent",
      .metadata = pay_meta,
      .metadata_count = 1},
     {0, AA_TIER_AUTONOMOUS, "Denied by A2A policy"},
     "{\"agent\":\"orchestrator\",\"user\":\"dave\",\"action\":\"pay:invoice\","
     "\"target_agent\":\"billing-agent\",\"metadata\":{\"amount\":50}}"},
    {"unknown agent",
     {.agent = "ghost-agent", .user = "eve", .action = "read:docs"},
     {0, AA_TIER_AUTONOMOUS, "not authorized for agent 'ghost-agent'"},
     "{\"agent\":\"ghost-agent\",\"user\":\"eve\",\"action\":\"read:docs\"}"},
    {"scope mismatch",
     {.agent = "copilot",
      .user = "bob",
      .action = "write:code",
      .resource = "repo/web",
      .scope = "cluster:prod"},
     {0, AA_TIER_AUTONOMOUS, "Scope 'cluster:prod' not allowed"},
     "{\"agent\":\"copilot\",\"user\":\"bob\",\"action\":\"write:code\","
     "\"resource\":\"repo/web\",\"scope\":\"cluster:prod\"}"},
    {"extra action (not granted)",
     {.agent = "copilot",
      .user = "bob",
      .action = "send:email",
      .scope = "project:web"},
     {0, AA_TIER_AUTONOMOUS, "not authorized for agent 'copilot'"},
     "{\"agent\":\"copilot\",\"user\":\"bob\",\"action\":\"send:email\","
     "\"scope\":\"project:web\"}"},
};
#define NMIX        (sizeof mix / sizeof mix[0])
#define MIX_ALLOWED 3

static aa_request mix_reqs[NMIX];
static expect mix_want[NMIX];

static void init_mix(void) {
    for (size_t i = 0; i < NMIX; i++) {
        mix_reqs[i] = mix[i].req;
        mix_want[i] = mix[i].want;
    }
}

/* Decides every request once and compares with what it must decide. */
static void check_decisions(aa_engine *e, const aa_request *reqs,
                            const expect *want, size_t n, const char *what) {
    aa_decision *d = aa_decision_new();
    if (!d)
        die("out of memory");
    for (size_t i = 0; i < n; i++) {
        int rc = aa_authorize(e, &reqs[i], d);
        const char *reason = aa_decision_reason(d);
        if (rc != AA_OK || aa_decision_allowed(d) != want[i].allowed ||
            (want[i].allowed && aa_decision_tier(d) != want[i].tier) ||
            !strstr(reason, want[i].reason))
            die("%s: request %zu (%s -> %s) decided %s, tier %s, '%s'; "
                "expected %s with '%s'",
                what, i + 1, reqs[i].agent, reqs[i].action,
                aa_decision_allowed(d) ? "allowed" : "denied",
                aa_tier_name(aa_decision_tier(d)), reason,
                want[i].allowed ? "allowed" : "denied", want[i].reason);
    }
    aa_decision_free(d);
}

/* ---- policies and engines ------------------------------------------------ */

static char *enterprise_path(void) {
    return xprintf("%s/examples/policies/enterprise.yaml", cfg.src);
}

static aa_policy *load_file(const char *path) {
    aa_error *err = aa_error_new();
    aa_policy *p = NULL;
    if (aa_policy_load_file(path, NULL, &p, err) != AA_OK) {
        const aa_diag *dg = aa_error_get(err, 0);
        die("cannot load %s: %s", path, dg ? dg->message : "?");
    }
    aa_error_free(err);
    return p;
}

static aa_policy *load_text(const char *text, const char *name) {
    aa_error *err = aa_error_new();
    aa_policy *p = NULL;
    if (aa_policy_load_buffer(text, strlen(text), name, NULL, &p, err) !=
        AA_OK) {
        const aa_diag *dg = aa_error_get(err, 0);
        die("cannot load %s: %s", name, dg ? dg->message : "?");
    }
    aa_error_free(err);
    return p;
}

static aa_engine *new_engine(const aa_policy *p, aa_audit_mode mode,
                             const char *audit_path, aa_store *store) {
    aa_engine_options o = {
        .store = store, .audit_mode = mode, .audit_path = audit_path};
    aa_error *err = aa_error_new();
    aa_engine *e = NULL;
    if (aa_engine_new(p, &o, &e, err) != AA_OK) {
        const aa_diag *dg = aa_error_get(err, 0);
        die("cannot create the engine: %s", dg ? dg->message : "?");
    }
    aa_error_free(err);
    return e;
}

/* How scenario 3's generated approval and A2A policies name what they are
 * about: exact names (`action == ...`, `action in [...]`, an exact
 * from_agent), prefixes (`action starts_with ...`, a from_agent "x-*"),
 * metadata values (`metadata.tenant == ...`, an exact from_agent), or by
 * suffixes (`ends_with`, a from_agent "*-x"); BIG_NONE adds no approval
 * and A2A policies (the same policy without those conditions). */
typedef enum { BIG_EXACT, BIG_PREFIX, BIG_OPAQUE, BIG_META, BIG_NONE } big_kind;

/* The scenario-3 policy: the enterprise example plus 1,000 roles, 10,000
 * profiles, 1,000 approval policies about other actions and 1,000 A2A
 * policies about other agents, each appended to its own section. */
static char *big_policy_text(const char *base, big_kind kind) {
    aa__buf roles, profiles, approvals, a2a;
    aa__buf_init(&roles);
    aa__buf_init(&profiles);
    aa__buf_init(&approvals);
    aa__buf_init(&a2a);
    for (int i = 0; i < 1000; i++) {
        aa__buf_printf(&roles, "  gen-role-%d:\n", i);
        aa__buf_printf(&roles, "    description: Generated role %d\n", i);
        if (i % 10 == 0)
            aa__buf_puts(&roles, "    extends: viewer\n");
        else
            aa__buf_printf(&roles, "    extends: gen-role-%d\n", i - 1);
        aa__buf_printf(&roles,
                       "    actions: [\"gen%d:read\", \"gen%d:write:*\", "
                       "\"svc-%d:*\"]\n",
                       i, i, i);
    }
    for (int i = 0; i < 10000; i++) {
        aa__buf_printf(&profiles, "  gen-agent-%d:\n", i);
        aa__buf_printf(&profiles, "    description: Generated agent %d\n", i);
        aa__buf_printf(&profiles, "    role: gen-role-%d\n", i % 1000);
        aa__buf_printf(&profiles, "    allow: [\"tool-%d:*\", \"report:%d\"]\n",
                       i, i);
        aa__buf_printf(&profiles,
                       "    deny: [\"delete:*\", \"gen%d:write:secret\"]\n",
                       i % 1000);
        aa__buf_printf(&profiles, "    scopes: [\"tenant-%d:*\"]\n", i);
        aa__buf_puts(&profiles, "    max_session_duration: 1800\n");
    }
    for (int i = 0; i < (kind == BIG_NONE ? 0 : 1000); i++) {
        aa__buf_printf(&approvals, "  - name: gen-approval-%d\n", i);
        if (kind == BIG_PREFIX)
            aa__buf_printf(&approvals,
                           "    condition: 'action starts_with \"gen%d:\" and "
                           "metadata.amount > %d'\n",
                           i, 100 + i);
        else if (kind == BIG_META)
            aa__buf_printf(&approvals,
                           "    condition: 'metadata.tenant == \"gen%d\" and "
                           "metadata.amount > %d'\n",
                           i, 100 + i);
        else if (kind == BIG_OPAQUE)
            aa__buf_printf(&approvals,
                           "    condition: 'resource ends_with \"/gen%d\" "
                           "and metadata.amount > %d'\n",
                           i, 100 + i);
        else if (i % 2 == 0)
            aa__buf_printf(&approvals,
                           "    condition: 'action == \"gen%d:approve\" and "
                           "metadata.amount > %d'\n",
                           i, 100 + i);
        else
            aa__buf_printf(&approvals,
                           "    condition: 'action in [\"gen%d:pay\", "
                           "\"gen%d:refund\"] and user != \"root\"'\n",
                           i, i);
        aa__buf_printf(&approvals, "    tier: %s\n", i % 3 ? "soft" : "strong");
    }
    for (int i = 0; i < (kind == BIG_NONE ? 0 : 1000); i++) {
        aa__buf_printf(&a2a, "    - name: gen-a2a-%d\n", i);
        if (kind == BIG_EXACT || kind == BIG_META)
            aa__buf_printf(&a2a, "      from_agent: gen-agent-%d\n", i);
        else if (kind == BIG_PREFIX)
            aa__buf_printf(&a2a, "      from_agent: \"gen-agent-%d-*\"\n", i);
        else
            aa__buf_printf(&a2a, "      from_agent: \"*-gen-agent-%d\"\n", i);
        if (kind == BIG_OPAQUE)
            aa__buf_printf(&a2a, "      to_agent: \"*-gen-agent-%d\"\n",
                           (i + 1) % 10000);
        else
            aa__buf_printf(&a2a, "      to_agent: gen-agent-%d\n",
                           (i + 1) % 10000);
        aa__buf_printf(&a2a, "      action: \"gen%d:*\"\n", i);
        aa__buf_printf(&a2a, "      effect: %s\n", i % 2 ? "deny" : "allow");
        if (i % 3 == 0)
            aa__buf_puts(&a2a,
                         "      condition: 'metadata.priority != \"low\"'\n");
    }
    if (roles.oom || profiles.oom || approvals.oom || a2a.oom)
        die("out of memory");
    char *t1 = insert_at(base, section_end(base, "roles:"), roles.data);
    char *t2 = insert_at(t1, section_end(t1, "profiles:"), profiles.data);
    char *t3 = insert_at(t2, section_end(t2, "approval_policies:"),
                         approvals.data ? approvals.data : "");
    char *t4 = insert_at(t3, section_end(t3, "a2a:"), a2a.data ? a2a.data : "");
    free(t1);
    free(t2);
    free(t3);
    aa__buf_free(&roles);
    aa__buf_free(&profiles);
    aa__buf_free(&approvals);
    aa__buf_free(&a2a);
    return t4;
}

static void check_big_counts(const aa_policy *p) {
    if (aa_policy_role_count(p) != 1004 ||
        aa_policy_profile_count(p) != 10004 ||
        aa_policy_approval_count(p) != 1004 || aa_policy_a2a_count(p) != 1003)
        die("generated policy: %zu roles, %zu profiles, %zu approval and %zu "
            "A2A policies; expected 1004, 10004, 1004, 1003",
            aa_policy_role_count(p), aa_policy_profile_count(p),
            aa_policy_approval_count(p), aa_policy_a2a_count(p));
}

/* ---- measuring ----------------------------------------------------------- */

typedef struct workload {
    aa_engine *engine;
    const aa_request *reqs;
    size_t n;
    /* batch > 1: decided `batch` at a time with aa_authorize_many, the
     * requests breqs[0, batch), into ds[0, batch) */
    size_t batch;
    const aa_request *breqs;
    aa_decision **ds;
    void (*between)(void *ud); /* before every run, not timed */
    void *ud;
} workload;

typedef struct figure {
    double ns;     /* median wall time per decision */
    double lo;     /* fastest run */
    double hi;     /* slowest run */
    double cpu;    /* CPU time / wall time, percent, over the timed runs */
    double sys;    /* system time as a share of CPU time, percent */
    double cpu_ns; /* CPU time per decision */
    size_t iters;
} figure;

/* The measured loop; callgrind collects inside it only (run.sh). */
__attribute__((noinline)) static unsigned
bench_loop(const workload *w, aa_decision *d, size_t iters) {
    unsigned allowed = 0;
    if (w->batch > 1) {
        for (size_t i = 0; i < iters; i += w->batch) {
            size_t m = iters - i < w->batch ? iters - i : w->batch;
            aa_authorize_many(w->engine, w->breqs, m, w->ds);
            for (size_t k = 0; k < m; k++)
                allowed += (unsigned)aa_decision_allowed(w->ds[k]);
        }
        return allowed;
    }
    size_t k = 0;
    for (size_t i = 0; i < iters; i++) {
        aa_authorize(w->engine, &w->reqs[k], d);
        allowed += (unsigned)aa_decision_allowed(d);
        if (++k == w->n)
            k = 0;
    }
    return allowed;
}

static size_t profile_iters(const char *id) {
    return id[0] == '2' ? 20000 : id[0] == '4' ? 50000 : 200000;
}

/* Profile mode: is this row one to run? "all" means every row but the
 * in-process references. */
static bool profiled(const char *id) {
    return strcmp(cfg.only, id) == 0 ||
           (strcmp(cfg.only, "all") == 0 && !strstr(id, "ref"));
}

/* --perf: `perf record -e cpu-clock` attached to this process for the
 * profiled loop only (setup excluded), kernel time included. */
static pid_t perf_start(void) {
    char pid[24];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    char *argv[] = {"perf",           "record", "-q", "-e",
                    "cpu-clock",      "-p",     pid,  "-o",
                    (char *)cfg.perf, NULL};
    pid_t child;
    int rc = posix_spawnp(&child, "perf", NULL, NULL, argv, environ);
    if (rc != 0)
        die("cannot run perf: %s", strerror(rc));
    usleep(500000); /* let it attach */
    return child;
}

static void perf_stop(pid_t child) {
    kill(child, SIGINT);
    int status;
    waitpid(child, &status, 0);
}

/* Warm-up: runs with growing size until one lasts 20 ms; returns the size
 * (a multiple of the request count) that lasts about run_ms. */
static size_t calibrate(const workload *w, aa_decision *d, double run_ms) {
    size_t iters = w->n;
    for (;;) {
        if (w->between)
            w->between(w->ud);
        uint64_t t0 = aa__mono_ns();
        sink += bench_loop(w, d, iters);
        uint64_t dt = aa__mono_ns() - t0;
        if (dt >= 20000000u || iters >= (1u << 28)) {
            double per = (double)dt / (double)iters;
            size_t want = (size_t)(run_ms * 1e6 / per) / w->n * w->n;
            return want < w->n ? w->n : want;
        }
        iters *= 4;
    }
}

/* The median time per decision over cfg.runs runs of one thread. In
 * profile mode: one fixed-size run, and only for the row asked for. */
static figure measure(const char *id, const workload *w, double run_ms) {
    figure f = {0};
    if (cfg.only && !profiled(id))
        return f;
    aa_decision *d = aa_decision_new();
    if (!d)
        die("out of memory");
    if (cfg.only && cfg.perf) { /* about two seconds, sampled */
        size_t iters = calibrate(w, d, 2000);
        pid_t perf = perf_start();
        sink += bench_loop(w, d, iters);
        perf_stop(perf);
        aa_decision_free(d);
        return f;
    }
    if (cfg.only) {
        sink += bench_loop(w, d, profile_iters(id));
        aa_decision_free(d);
        return f;
    }
    size_t iters = calibrate(w, d, run_ms);
    double ns[MAX_RUNS];
    uint64_t wall = 0, cpu = 0, sys = 0;
    for (int r = 0; r < cfg.runs; r++) {
        if (w->between)
            w->between(w->ud);
        uint64_t s0, s1, c0 = cpu_ns(&s0), t0 = aa__mono_ns();
        sink += bench_loop(w, d, iters);
        uint64_t t1 = aa__mono_ns(), c1 = cpu_ns(&s1);
        ns[r] = (double)(t1 - t0) / (double)iters;
        wall += t1 - t0;
        cpu += c1 - c0;
        sys += s1 - s0;
    }
    aa_decision_free(d);
    f.ns = median(ns, cfg.runs);
    f.lo = ns[0];
    f.hi = ns[cfg.runs - 1];
    f.cpu = 100.0 * (double)cpu / (double)wall;
    f.sys = cpu ? 100.0 * (double)sys / (double)cpu : 0;
    f.cpu_ns = (double)cpu / ((double)iters * cfg.runs);
    f.iters = iters;
    return f;
}

typedef struct worker {
    const workload *w;
    aa_decision *d;
    size_t iters;
    pthread_barrier_t *start;
} worker;

static void *worker_main(void *arg) {
    worker *k = arg;
    pthread_barrier_wait(k->start);
    sink += bench_loop(k->w, k->d, k->iters);
    return NULL;
}

/* Wall time of `nthreads` threads each deciding `iters` requests. */
static uint64_t threaded_run(worker *ks, int nthreads, uint64_t *cpu) {
    pthread_barrier_t start;
    pthread_t th[2];
    pthread_barrier_init(&start, NULL, (unsigned)nthreads + 1);
    for (int i = 0; i < nthreads; i++) {
        ks[i].start = &start;
        if (pthread_create(&th[i], NULL, worker_main, &ks[i]) != 0)
            die("cannot start a thread");
    }
    uint64_t s, c0 = cpu_ns(&s);
    pthread_barrier_wait(&start);
    uint64_t t0 = aa__mono_ns();
    for (int i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    uint64_t t1 = aa__mono_ns();
    *cpu += cpu_ns(&s) - c0;
    pthread_barrier_destroy(&start);
    return t1 - t0;
}

/* One thread against two, runs interleaved so that a change of machine
 * load hits both alike. Per-decision times are wall time over all
 * decisions made (so two threads scaling perfectly halve it). */
static void measure_scaling(const char *id, const workload *w, double run_ms,
                            figure *one, figure *two) {
    memset(one, 0, sizeof *one);
    memset(two, 0, sizeof *two);
    if (cfg.only && strcmp(cfg.only, id) != 0)
        return;
    worker ks[2];
    for (int i = 0; i < 2; i++) {
        ks[i] = (worker){.w = w, .d = aa_decision_new()};
        if (!ks[i].d)
            die("out of memory");
    }
    size_t iters = cfg.only ? profile_iters(id) : calibrate(w, ks[0].d, run_ms);
    ks[0].iters = ks[1].iters = iters;
    uint64_t cpu1 = 0, cpu2 = 0, wall1 = 0, wall2 = 0, c;
    if (cfg.only) {
        threaded_run(ks, 2, &c);
    } else {
        threaded_run(ks, 2, &c); /* warm-up, both decisions objects */
        double ns1[MAX_RUNS], ns2[MAX_RUNS];
        for (int r = 0; r < cfg.runs; r++) {
            uint64_t t = threaded_run(ks, 1, &cpu1);
            wall1 += t;
            ns1[r] = (double)t / (double)iters;
            t = threaded_run(ks, 2, &cpu2);
            wall2 += t;
            ns2[r] = (double)t / (double)(2 * iters);
        }
        one->ns = median(ns1, cfg.runs);
        two->ns = median(ns2, cfg.runs);
        one->cpu = 100.0 * (double)cpu1 / (double)wall1;
        two->cpu = 100.0 * (double)cpu2 / (double)wall2;
        one->cpu_ns = (double)cpu1 / ((double)iters * cfg.runs);
        two->cpu_ns = (double)cpu2 / (2.0 * (double)iters * cfg.runs);
        one->iters = iters;
        two->iters = 2 * iters;
    }
    for (int i = 0; i < 2; i++)
        aa_decision_free(ks[i].d);
}

static void print_spread(const char *id, const figure *f) {
    note("%s: runs of %zu decisions, fastest %.0f ns, slowest %.0f ns per "
         "decision; CPU time %.0f ns per decision (%.0f%% of wall, %.0f%% of "
         "it in the kernel)",
         id, f->iters, f->lo, f->hi, f->cpu_ns, f->cpu, f->sys);
}

/* CPU time per decision does not depend on how many CPUs other processes
 * leave free: equal for one and two threads means the threads do not slow
 * each other (no lock, no shared cache line written). */
static void scaling_note(const char *id, const figure *one, const figure *two) {
    note("%s: CPU time per decision %.0f ns with one thread, %.0f ns with two "
         "(%.2fx); CPU use %.0f%% and %.0f%% of wall (of %ld CPUs)",
         id, one->cpu_ns, two->cpu_ns, two->cpu_ns / one->cpu_ns, one->cpu,
         two->cpu, sysconf(_SC_NPROCESSORS_ONLN));
}

/* The enterprise mix, audit off, no store: the reference of scenarios 3
 * and 4, measured in the same process just before them. */
static figure reference_mix(const char *id) {
    char *path = enterprise_path();
    aa_policy *p = load_file(path);
    aa_engine *e = new_engine(p, AA_AUDIT_OFF, NULL, NULL);
    check_decisions(e, mix_reqs, mix_want, NMIX, "reference");
    workload w = {.engine = e, .reqs = mix_reqs, .n = NMIX};
    figure f = measure(id, &w, cfg.run_ms);
    aa_engine_free(e);
    aa_policy_free(p);
    free(path);
    return f;
}

/* ---- scenario 1 ---------------------------------------------------------- */

static void scenario1(void) {
    char *path = enterprise_path();
    aa_policy *p = load_file(path);
    aa_engine *e = new_engine(p, AA_AUDIT_OFF, NULL, NULL);
    check_decisions(e, mix_reqs, mix_want, NMIX, "scenario 1");
    workload w = {.engine = e, .reqs = mix_reqs, .n = NMIX};
    figure f = measure("1", &w, cfg.run_ms);
    row("1", "enterprise, 8-request mix, audit off", f.ns, true, peak_rss_kb(),
        f.cpu, "<= 100 ns: %s", verdict(f.ns <= 100));
    print_spread("1", &f);
    if (!cfg.only) {
        note("1: per request, each alone:");
        for (size_t i = 0; i < NMIX; i++) {
            workload one = {.engine = e, .reqs = &mix_reqs[i], .n = 1};
            figure fi = measure("1", &one, cfg.run_ms / 4);
            note("     %-30s %5.0f ns  (%s)", mix[i].label, fi.ns,
                 mix[i].want.allowed ? "allowed" : "denied");
        }
    }
    aa_engine_free(e);
    aa_policy_free(p);
    free(path);
}

/* ---- scenario 2 ---------------------------------------------------------- */

static void unlink_path(void *ud) {
    unlink((const char *)ud);
}

/* Requests per aa_authorize_many call in the batch rows (as `check
 * --batch` groups its lines). */
#define AUDIT_BATCH 64

/* One audited row: `batch` 1 decides with aa_authorize one request at a
 * time; more, with aa_authorize_many that many at a time (one audit lock
 * and write per call). `target`: the row of the <= 2 us goal. */
static void audit_row(const char *id, const char *label, const char *fsync_mode,
                      double run_ms, size_t batch, bool target) {
    char *path = enterprise_path();
    char *text = read_text(path);
    char *mode = xprintf("fsync: %s", fsync_mode);
    char *t = replace_once(text, 0, "fsync: never", mode);
    aa_policy *p = load_text(t, path);
    char *name = xprintf("audit-%s.jsonl", fsync_mode);
    char *apath = tmp_path(name);
    aa_engine *e = new_engine(p, AA_AUDIT_ON, apath, NULL);
    check_decisions(e, mix_reqs, mix_want, NMIX, label);
    aa_request breqs[AUDIT_BATCH];
    aa_decision *ds[AUDIT_BATCH];
    for (size_t i = 0; i < AUDIT_BATCH; i++) {
        breqs[i] = mix_reqs[i % NMIX];
        if (!(ds[i] = aa_decision_new()))
            die("out of memory");
    }
    workload w = {.engine = e,
                  .reqs = mix_reqs,
                  .n = NMIX,
                  .batch = batch,
                  .breqs = breqs,
                  .ds = ds,
                  .between = unlink_path,
                  .ud = apath};
    figure f = measure(id, &w, run_ms);
    struct stat st;
    long bytes = stat(apath, &st) == 0 ? (long)st.st_size : 0;
    if (target)
        row(id, label, f.ns, true, peak_rss_kb(), f.cpu, "<= 2 us: %s",
            verdict(f.ns <= 2000));
    else
        row(id, label, f.ns, true, peak_rss_kb(), f.cpu, "-");
    print_spread(id, &f);
    if (f.iters)
        note("%s: %.0f bytes of audit log per decision", id,
             (double)bytes / (double)f.iters);
    for (size_t i = 0; i < AUDIT_BATCH; i++)
        aa_decision_free(ds[i]);
    aa_engine_free(e);
    aa_policy_free(p);
    free(apath);
    free(name);
    free(t);
    free(mode);
    free(text);
    free(path);
}

static void scenario2(void) {
    audit_row("2", "same, audit on, batches of 64, fsync never", "never",
              cfg.run_ms, AUDIT_BATCH, true);
    audit_row("2b", "same, audit on, batches of 64, fsync always", "always",
              2 * cfg.run_ms, AUDIT_BATCH, false);
    audit_row("2c", "same, audit on, batches of 64, fsync interval", "interval",
              cfg.run_ms, AUDIT_BATCH, false);
    audit_row("2d", "same, audit on, one call each, fsync never", "never",
              cfg.run_ms, 1, false);
    audit_row("2e", "same, audit on, one call each, fsync always", "always",
              2 * cfg.run_ms, 1, false);
}

/* ---- scenario 3 ---------------------------------------------------------- */

static void big_row(const char *id, const char *label, big_kind kind,
                    const figure *ref) {
    static const char *const files[] = {"big.yaml", "big-prefix.yaml",
                                        "big-opaque.yaml", "big-meta.yaml",
                                        "big-none.yaml"};
    char *path = enterprise_path();
    char *base = read_text(path);
    char *text = big_policy_text(base, kind);
    char *big = tmp_path(files[kind]);
    write_text(big, text);
    aa_policy *p = load_file(big);
    check_big_counts(p);
    uint64_t t0 = aa__mono_ns();
    aa_engine *e = new_engine(p, AA_AUDIT_OFF, NULL, NULL);
    uint64_t t1 = aa__mono_ns();
    check_decisions(e, mix_reqs, mix_want, NMIX, label);
    workload w = {.engine = e, .reqs = mix_reqs, .n = NMIX};
    figure f = measure(id, &w, cfg.run_ms);
    double ratio = ref->ns ? f.ns / ref->ns : 0;
    row(id, label, f.ns, true, peak_rss_kb(), f.cpu,
        "<= 2x s1 (%.0f ns here): %.2fx %s", ref->ns, ratio,
        verdict(ratio <= 2));
    print_spread(id, &f);
    note("%s: policy %.1f MB of YAML; engine creation (index build) %.2f ms",
         id, (double)strlen(text) / 1e6, (double)(t1 - t0) / 1e6);
    aa_engine_free(e);
    aa_policy_free(p);
    free(big);
    free(text);
    free(base);
    free(path);
}

static void scenario3(void) {
    figure ref = reference_mix("3ref");
    big_row("3", "+10k profiles, 1k roles/approvals/A2A", BIG_EXACT, &ref);
    big_row("3b", "same sizes, named by prefixes", BIG_PREFIX, &ref);
    big_row("3d", "same sizes, named by metadata values", BIG_META, &ref);
    big_row("3c", "same sizes, suffixes (ends_with, \"*-x\")", BIG_OPAQUE,
            &ref);
}

/* ---- scenario 4 ---------------------------------------------------------- */

static const char *const store_agents[] = {"copilot", "research-bot",
                                           "billing-agent", "orchestrator"};
/* An action each agent's profile does not grant (so the delegation step
 * runs) and a delegation grant's patterns cover. */
static const char *const grant_patterns[] = {"deploy:*", "run:*"};
static const char grant_blob[] = "deploy:*\0run:*"; /* as the store packs it */
/* A read each agent's profile grants, for session-gated requests. */
static const char *const session_actions[] = {"read:code", "read:docs",
                                              "read:invoices", "read:plan"};

static void session_scope(size_t i, char *out, size_t n) {
    switch (i % 4) {
    case 0:
        snprintf(out, n, "project:p%zu", i);
        break;
    case 1:
        snprintf(out, n, "workspace:research");
        break;
    default:
        out[0] = 0;
        break;
    }
}

static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static size_t rng_below(size_t n) { /* xorshift64*, deterministic */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (size_t)((rng_state * 2685821657736338717u) >> 33) % n;
}

static void sql_check(int rc, sqlite3 *db, const char *what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        die("filling the store (%s): %s", what, sqlite3_errmsg(db));
}

/* The rows after the first NAPI, inserted in one transaction on a second
 * connection, in the store's own row format (store_sqlite.c): making
 * 200,000 grants through the API costs one durable commit each. */
static void insert_directly(const char *path, char (*sids)[37],
                            char (*dids)[37], int64_t now) {
    sqlite3 *db;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        die("cannot open %s: %s", path, sqlite3_errmsg(db));
    sqlite3_busy_timeout(db, 5000);
    sql_check(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), db,
              "begin");
    sqlite3_stmt *ss, *ds;
    sql_check(sqlite3_prepare_v2(db,
                                 "INSERT INTO sessions (session_id, agent, "
                                 "user, scope, created_at, expires_at, status)"
                                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'active')",
                                 -1, &ss, NULL),
              db, "sessions");
    sql_check(sqlite3_prepare_v2(db,
                                 "INSERT INTO delegations (delegation_id, "
                                 "from_user, to_agent, actions, granted_at, "
                                 "expires_at, reason, status) VALUES (?1, ?2,"
                                 " ?3, ?4, ?5, ?6, 'on-call cover', 'active')",
                                 -1, &ds, NULL),
              db, "delegations");
    int64_t until = now + 8 * 3600 * INT64_C(1000000);
    char user[32], scope[32];
    for (size_t i = NAPI; i < NSESSIONS; i++) {
        if (aa__uuid4(sids[i]) != AA_OK)
            die("no random numbers");
        snprintf(user, sizeof user, "suser-%zu", i);
        session_scope(i, scope, sizeof scope);
        sqlite3_bind_text(ss, 1, sids[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(ss, 2, store_agents[i % 4], -1, SQLITE_STATIC);
        sqlite3_bind_text(ss, 3, user, -1, SQLITE_STATIC);
        sqlite3_bind_text(ss, 4, scope, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ss, 5, now);
        sqlite3_bind_int64(ss, 6, until);
        sql_check(sqlite3_step(ss), db, "session");
        sqlite3_reset(ss);
    }
    for (size_t i = NAPI; i < NDELEGATIONS; i++) {
        if (aa__uuid4(dids[i]) != AA_OK)
            die("no random numbers");
        snprintf(user, sizeof user, "duser-%zu", i);
        sqlite3_bind_text(ds, 1, dids[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(ds, 2, user, -1, SQLITE_STATIC);
        sqlite3_bind_text(ds, 3, store_agents[i % 4], -1, SQLITE_STATIC);
        sqlite3_bind_blob(ds, 4, grant_blob, sizeof grant_blob, SQLITE_STATIC);
        sqlite3_bind_int64(ds, 5, now);
        sqlite3_bind_int64(ds, 6, until);
        sql_check(sqlite3_step(ds), db, "delegation");
        sqlite3_reset(ds);
    }
    sqlite3_finalize(ss);
    sqlite3_finalize(ds);
    sql_check(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), db, "commit");
    sqlite3_close(db);
}

typedef struct pick {
    char user[24];
    char scope[24];
    char id[37];
} pick;

/* Fills a new store: NAPI sessions and delegations through the API (timed,
 * to show that path), the rest directly. */
static void fill_store(const char *db, aa_engine *e, char (*sids)[37],
                       char (*dids)[37]) {
    aa_error *err = aa_error_new();
    char user[32], scope[32];
    uint64_t t0 = aa__mono_ns();
    for (size_t i = 0; i < NAPI; i++) {
        aa_session s;
        snprintf(user, sizeof user, "suser-%zu", i);
        session_scope(i, scope, sizeof scope);
        if (aa_session_create(e, store_agents[i % 4], user, scope,
                              AA_DURATION_DEFAULT, &s, err) != AA_OK)
            die("aa_session_create failed: %s",
                aa_error_get(err, 0) ? aa_error_get(err, 0)->message : "?");
        memcpy(sids[i], s.session_id, 37);
        aa_session_clear(&s);
    }
    uint64_t t1 = aa__mono_ns();
    for (size_t i = 0; i < NAPI; i++) {
        aa_delegation dl;
        snprintf(user, sizeof user, "duser-%zu", i);
        if (aa_delegation_create(e, user, store_agents[i % 4], grant_patterns,
                                 2, 3600, "on-call cover", &dl, err) != AA_OK)
            die("aa_delegation_create failed: %s",
                aa_error_get(err, 0) ? aa_error_get(err, 0)->message : "?");
        memcpy(dids[i], dl.delegation_id, 37);
        aa_delegation_clear(&dl);
    }
    uint64_t t2 = aa__mono_ns();
    insert_directly(db, sids, dids, aa_now());
    uint64_t t3 = aa__mono_ns();
    struct stat st;
    stat(db, &st);
    note("4: setup (not timed): %d sessions and %d delegations through the "
         "API: %.2f ms and %.2f ms per create (each a durable commit); the "
         "other %d + %d inserted in one transaction: %.2f s; store %.1f MB",
         NAPI, NAPI, (double)(t1 - t0) / 1e6 / NAPI,
         (double)(t2 - t1) / 1e6 / NAPI, NSESSIONS - NAPI, NDELEGATIONS - NAPI,
         (double)(t3 - t2) / 1e9, (double)st.st_size / 1048576);
    aa_error_free(err);
}

/* Reads the ids of a store that fill_store made, in the order made. */
static void read_ids(const char *db, char (*ids)[37], size_t n,
                     const char *sql) {
    sqlite3 *h;
    sqlite3_stmt *st;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        die("cannot open %s: %s", db, sqlite3_errmsg(h));
    sql_check(sqlite3_prepare_v2(h, sql, -1, &st, NULL), h, "reading ids");
    size_t i = 0;
    while (sqlite3_step(st) == SQLITE_ROW && i < n)
        snprintf(ids[i++], 37, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(h);
    if (i != n)
        die("%s holds %zu rows, not %zu: remove it", db, i, n);
}

static void scenario4(void) {
    figure ref = reference_mix("4ref");
    char *path = enterprise_path();
    aa_policy *p = load_file(path);
    char *dir = cfg.state ? xprintf("%s", cfg.state) : tmp_path("state");
    mkdir(dir, 0700);
    char *db = xprintf("%s/state.db", dir);
    bool reuse = cfg.state && access(db, F_OK) == 0;
    aa_error *err = aa_error_new();
    aa_store *store = NULL;
    if (aa_store_open_sqlite(db, &store, err) != AA_OK)
        die("cannot open the store %s", db);
    aa_engine *e = new_engine(p, AA_AUDIT_OFF, NULL, store);
    char(*sids)[37] = xcalloc(NSESSIONS, sizeof *sids);
    char(*dids)[37] = xcalloc(NDELEGATIONS, sizeof *dids);
    if (reuse) {
        read_ids(db, sids, NSESSIONS,
                 "SELECT session_id FROM sessions ORDER BY rowid");
        read_ids(db, dids, NDELEGATIONS,
                 "SELECT delegation_id FROM delegations ORDER BY rowid");
    } else {
        fill_store(db, e, sids, dids);
    }

    /* NPICKS requests drawn at random over the rows made directly (those
     * made through the API expire sooner, which matters with --state). */
    pick *sp = xcalloc(NPICKS, sizeof *sp), *dp = xcalloc(NPICKS, sizeof *dp);
    aa_request *sreq = xcalloc(NPICKS, sizeof *sreq);
    aa_request *dreq = xcalloc(NPICKS, sizeof *dreq);
    expect *swant = xcalloc(NPICKS, sizeof *swant);
    expect *dwant = xcalloc(NPICKS, sizeof *dwant);
    for (size_t k = 0; k < NPICKS; k++) {
        size_t i = NAPI + rng_below(NSESSIONS - NAPI);
        snprintf(sp[k].user, sizeof sp[k].user, "suser-%zu", i);
        session_scope(i, sp[k].scope, sizeof sp[k].scope);
        memcpy(sp[k].id, sids[i], 37);
        sreq[k] = (aa_request){.agent = store_agents[i % 4],
                               .user = sp[k].user,
                               .action = session_actions[i % 4],
                               .scope = sp[k].scope,
                               .session_id = sp[k].id};
        swant[k] = (expect){1, i % 4 == 2 ? AA_TIER_SOFT : AA_TIER_AUTONOMOUS,
                            "Allowed by profile"};
        i = NAPI + rng_below(NDELEGATIONS - NAPI);
        snprintf(dp[k].user, sizeof dp[k].user, "duser-%zu", i);
        dreq[k] = (aa_request){.agent = store_agents[i % 4],
                               .user = dp[k].user,
                               .action = "run:nightly-job"};
        dwant[k] = (expect){1, i % 4 == 2 ? AA_TIER_SOFT : AA_TIER_AUTONOMOUS,
                            "Delegated by user 'duser-"};
    }
    free(sids);
    free(dids);
    check_decisions(e, sreq, swant, NPICKS, "scenario 4, sessions");
    check_decisions(e, dreq, dwant, NPICKS, "scenario 4, delegations");
    check_decisions(e, mix_reqs, mix_want, NMIX, "scenario 4, mix");

    workload ws = {.engine = e, .reqs = sreq, .n = NPICKS};
    workload wd = {.engine = e, .reqs = dreq, .n = NPICKS};
    workload wm = {.engine = e, .reqs = mix_reqs, .n = NMIX};
    figure fs = measure("4", &ws, cfg.run_ms);
    row("4", "100k sessions+delegations: session-gated", fs.ns, true,
        peak_rss_kb(), fs.cpu, "<= 2x s1 (%.0f ns here): %.1fx %s", ref.ns,
        fs.ns / ref.ns, verdict(fs.ns <= 2 * ref.ns));
    print_spread("4", &fs);
    figure fd = measure("4b", &wd, cfg.run_ms);
    row("4b", "100k sessions+delegations: delegation-permitted", fd.ns, true,
        peak_rss_kb(), fd.cpu, "<= 2x s1 (%.0f ns here): %.1fx %s", ref.ns,
        fd.ns / ref.ns, verdict(fd.ns <= 2 * ref.ns));
    print_spread("4b", &fd);
    figure fm = measure("4c", &wm, cfg.run_ms);
    row("4c", "100k store: the 8-request mix", fm.ns, true, peak_rss_kb(),
        fm.cpu, "<= 2x s1 (%.0f ns here): %.1fx %s", ref.ns, fm.ns / ref.ns,
        verdict(fm.ns <= 2 * ref.ns));
    print_spread("4c", &fm);
    figure one, two;
    measure_scaling("4d", &wd, cfg.run_ms, &one, &two);
    if (two.ns > 0) {
        double ratio = one.ns / two.ns;
        row("4d", "4b with two threads (aggregate)", two.ns, true,
            peak_rss_kb(), two.cpu, "%.2fx one thread (%.0f ns)", ratio,
            one.ns);
        scaling_note("4d", &one, &two);
    }

    aa_engine_free(e);
    aa_store_free(store);
    aa_policy_free(p);
    aa_error_free(err);
    free(sp);
    free(dp);
    free(sreq);
    free(dreq);
    free(swant);
    free(dwant);
    free(db);
    free(dir);
    free(path);
}

/* ---- scenario 5 ---------------------------------------------------------- */

static void scenario5(void) {
    char *path = enterprise_path();
    aa_policy *p = load_file(path);
    aa_engine *e = new_engine(p, AA_AUDIT_OFF, NULL, NULL);
    check_decisions(e, mix_reqs, mix_want, NMIX, "scenario 5");
    workload w = {.engine = e, .reqs = mix_reqs, .n = NMIX};
    figure one, two;
    measure_scaling("5", &w, cfg.run_ms, &one, &two);
    if (two.ns > 0) {
        double ratio = one.ns / two.ns;
        row("5a", "scenario 1, one thread", one.ns, true, peak_rss_kb(),
            one.cpu, "(reference for 5)");
        row("5", "scenario 1, two threads (aggregate)", two.ns, true,
            peak_rss_kb(), two.cpu, ">= 1.7x one: %.2fx %s", ratio,
            verdict(ratio >= 1.7));
        scaling_note("5", &one, &two);
    }
    aa_engine_free(e);
    aa_policy_free(p);
    free(path);
}

/* ---- scenario 6: the CLI ------------------------------------------------- */

/* Runs argv with stdout to `out` (NULL: /dev/null) and stdin from
 * /dev/null; returns the exit status (128 + signal when killed). */
static int run_process(char *const argv[], const char *out, uint64_t *wall,
                       struct rusage *ru) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out ? out : "/dev/null",
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    uint64_t t0 = aa__mono_ns();
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        die("cannot run %s: %s", argv[0], strerror(rc));
    int status;
    if (wait4(pid, &status, 0, ru) < 0)
        die("wait4: %s", strerror(errno));
    *wall = aa__mono_ns() - t0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * A child's peak RSS as wait4 reports it is at least this process's own:
 * posix_spawn shares this process's memory until the child's exec, and the
 * kernel carries the old memory's high-water mark over the exec. So the
 * peak of a command is measured by a small process of its own (this
 * program, exec'd afresh with --peak-rss), whose child starts from its
 * small memory: the figure is the command's own peak.
 */
static char self_exe[PATH_MAX];

/* --peak-rss CMD...: runs CMD (stdin and stdout /dev/null), prints its
 * peak RSS in KiB, exits with its status. */
static int peak_rss_main(char *const argv[]) {
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY), out = open("/dev/null", O_WRONLY);
        if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0)
            _exit(127);
        execvp(argv[0], argv);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0)
        die("wait4: %s", strerror(errno));
    printf("%ld\n", ru.ru_maxrss);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The peak RSS of one run of argv, in KiB. */
static long child_peak_rss_kb(char *const argv[], int expect_rc) {
    size_t n = 0;
    while (argv[n])
        n++;
    char **av = xcalloc(n + 3, sizeof *av);
    av[0] = self_exe;
    av[1] = (char *)"--peak-rss";
    memcpy(av + 2, argv, n * sizeof *av);
    char *out = tmp_path("peak-rss.txt");
    uint64_t wall;
    struct rusage ru;
    int rc = run_process(av, out, &wall, &ru);
    if (rc != expect_rc)
        die("%s exited with %d, expected %d", argv[0], rc, expect_rc);
    char *text = read_text(out);
    long kb = strtol(text, NULL, 10);
    unlink(out);
    free(text);
    free(out);
    free(av);
    return kb;
}

typedef struct proc_figure {
    double ns;   /* median wall time per run */
    long rss_kb; /* peak RSS of one run (child_peak_rss_kb) */
    double cpu;  /* child CPU over wall, percent */
} proc_figure;

static proc_figure time_process(char *const argv[], int expect_rc, int warm,
                                int runs, void (*between)(void *), void *ud) {
    proc_figure f = {0};
    double *ns = xcalloc((size_t)runs, sizeof *ns);
    uint64_t wall = 0, cpu = 0;
    for (int r = -warm; r < runs; r++) {
        if (between)
            between(ud);
        uint64_t t;
        struct rusage ru;
        int rc = run_process(argv, NULL, &t, &ru);
        if (rc != expect_rc)
            die("%s %s exited with %d, expected %d", argv[0],
                argv[1] ? argv[1] : "", rc, expect_rc);
        if (r < 0)
            continue;
        ns[r] = (double)t;
        wall += t;
        cpu +=
            (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000u +
            (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000u;
    }
    if (between) /* the peak of one more run, measured on its own */
        between(ud);
    f.rss_kb = child_peak_rss_kb(argv, expect_rc);
    f.ns = median(ns, runs);
    f.cpu = 100.0 * (double)cpu / (double)wall;
    free(ns);
    return f;
}

static void write_requests(const char *path, size_t lines) {
    FILE *f = fopen(path, "wb");
    if (!f)
        die("cannot write %s: %s", path, strerror(errno));
    for (size_t i = 0; i < lines; i++)
        fprintf(f, "%s\n", mix[i % NMIX].json);
    if (fclose(f) != 0)
        die("cannot write %s: %s", path, strerror(errno));
}

/* The batch output once, to a file: one decision per line, the expected
 * number allowed. */
static void check_batch_output(char *const argv[], size_t lines) {
    char *out = tmp_path("cli/out.jsonl");
    uint64_t t;
    struct rusage ru;
    int rc = run_process(argv, out, &t, &ru);
    if (rc != 1)
        die("check --batch exited with %d, expected 1 (some denied)", rc);
    FILE *f = fopen(out, "rb");
    if (!f)
        die("cannot read %s", out);
    char line[4096];
    size_t n = 0, allowed = 0;
    while (fgets(line, sizeof line, f)) {
        n++;
        allowed += strstr(line, "\"allowed\":true") != NULL;
    }
    fclose(f);
    unlink(out);
    size_t want = lines / NMIX * MIX_ALLOWED;
    if (n != lines || allowed != want)
        die("check --batch: %zu lines, %zu allowed; expected %zu and %zu", n,
            allowed, lines, want);
    free(out);
}

static char *find_in_path(const char *name) {
    const char *path = getenv("PATH");
    if (aa__empty(path))
        return NULL;
    for (const char *p = path; *p;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char *cand = xprintf("%.*s/%s", (int)len, p, name);
        if (access(cand, X_OK) == 0)
            return cand;
        free(cand);
        p += len + (end ? 1 : 0);
    }
    return NULL;
}

static void scenario6(void) {
    char *dir = tmp_path("cli");
    mkdir(dir, 0700);
    char *path = enterprise_path();
    char *text = read_text(path);
    char *audit = xprintf("path: %s/audit.jsonl", dir);
    size_t at = section_end(text, "sessions:"); /* the audit block follows */
    char *on = replace_once(text, at, "path: .agent_auth/audit.jsonl", audit);
    char *off = replace_once(on, at, "enabled: true", "enabled: false");
    char *on_path = xprintf("%s/policy-audit.yaml", dir);
    char *off_path = xprintf("%s/policy-noaudit.yaml", dir);
    char *audit_file = xprintf("%s/audit.jsonl", dir);
    char *req_path = xprintf("%s/requests.jsonl", dir);
    char *small_path = xprintf("%s/requests-check.jsonl", dir);
    write_text(on_path, on);
    write_text(off_path, off);
    size_t lines = cfg.quick ? BATCH_LINES / 10 : BATCH_LINES;
    size_t small = BATCH_LINES / 10;
    write_requests(req_path, lines);
    write_requests(small_path, small);
    int proc_runs = cfg.quick ? 20 : 50;
    /* A run is 1,000,000 decisions; audit on takes the longest and has no
     * target: fewer runs keep `make bench` within a few minutes. */
    int batch_runs = cfg.quick ? 3 : 5;
    int audit_runs = 3;
    char *cli = (char *)cfg.cli;

    char *true_path = find_in_path("true");
    char *floor[] = {true_path, NULL};
    proc_figure ff = {0};
    if (true_path)
        ff = time_process(floor, 0, 3, proc_runs, NULL, NULL);
    char *version[] = {cli, "version", NULL};
    proc_figure fv = time_process(version, 0, 3, proc_runs, NULL, NULL);
    char *check[] = {cli,        "-c",           on_path, "check",
                     "-a",       "research-bot", "-u",    "carol",
                     "--action", "read:docs",    "-s",    "workspace:research",
                     NULL};
    proc_figure fc = time_process(check, 0, 3, proc_runs, NULL, NULL);

    /* Checked (and warmed up) on 100,000 lines, timed on all. */
    char *batch_off[] = {cli,       "-c",       off_path, "check",
                         "--batch", small_path, NULL};
    char *batch_on[] = {cli,       "-c",       on_path, "check",
                        "--batch", small_path, NULL};
    check_batch_output(batch_off, small);
    check_batch_output(batch_on, small);
    batch_off[5] = batch_on[5] = req_path;
    proc_figure fbo = time_process(batch_off, 1, 0, batch_runs, NULL, NULL);
    unlink(audit_file);
    proc_figure fba =
        time_process(batch_on, 1, 0, audit_runs, unlink_path, audit_file);
    unlink(audit_file);

    /* The 3c policy (1,000 approval and A2A policies with conditions and
     * suffix patterns) against the same policy without them. */
    char *heavy_text = big_policy_text(off, BIG_OPAQUE);
    char *light_text = big_policy_text(off, BIG_NONE);
    char *heavy_path = xprintf("%s/policy-heavy.yaml", dir);
    char *light_path = xprintf("%s/policy-light.yaml", dir);
    write_text(heavy_path, heavy_text);
    write_text(light_path, light_text);
    char *batch_heavy[] = {cli,       "-c",       heavy_path, "check",
                           "--batch", small_path, NULL};
    char *batch_light[] = {cli,       "-c",       light_path, "check",
                           "--batch", small_path, NULL};
    check_batch_output(batch_heavy, small);
    check_batch_output(batch_light, small);
    batch_heavy[5] = batch_light[5] = req_path;
    proc_figure fh = {0}, fl = {0};
    {
        /* Interleaved runs, so that a change of machine load hits both. */
        double *hs = xcalloc((size_t)batch_runs, sizeof *hs);
        double *ls = xcalloc((size_t)batch_runs, sizeof *ls);
        for (int r = 0; r < batch_runs; r++) {
            proc_figure a = time_process(batch_heavy, 1, 0, 1, NULL, NULL);
            proc_figure b = time_process(batch_light, 1, 0, 1, NULL, NULL);
            hs[r] = a.ns;
            ls[r] = b.ns;
            fh.rss_kb = a.rss_kb > fh.rss_kb ? a.rss_kb : fh.rss_kb;
            fl.rss_kb = b.rss_kb > fl.rss_kb ? b.rss_kb : fl.rss_kb;
            fh.cpu += a.cpu / batch_runs;
            fl.cpu += b.cpu / batch_runs;
        }
        fh.ns = median(hs, batch_runs);
        fl.ns = median(ls, batch_runs);
        free(hs);
        free(ls);
    }

    char *jq = find_in_path("jq");
    proc_figure fj = {0};
    if (jq) {
        char *jqargv[] = {jq, "-c", ".", req_path, NULL};
        fj = time_process(jqargv, 0, 1, batch_runs, NULL, NULL);
    }

    double n = (double)lines;
    if (true_path)
        row("6f", "process floor: `true`", ff.ns, true, ff.rss_kb, ff.cpu,
            "(reference)");
    row("6v", "CLI: `agent-auth version`", fv.ns, true, fv.rss_kb, fv.cpu,
        "(reference)");
    row("6a", "CLI: one `check` process (audit on)", fc.ns, true, fc.rss_kb,
        fc.cpu, "<= 5 ms: %s", verdict(fc.ns <= 5e6));
    char label[64];
    snprintf(label, sizeof label, "CLI: check --batch, %zuk lines, audit off",
             lines / 1000);
    if (jq)
        row("6b", label, fbo.ns / n, true, fbo.rss_kb, fbo.cpu,
            ">= 500k/s, > jq: %s; %.2fx jq",
            verdict(fbo.ns / n <= 2000 && fbo.ns < fj.ns), fj.ns / fbo.ns);
    else
        row("6b", label, fbo.ns / n, true, fbo.rss_kb, fbo.cpu,
            ">= 500k/s: %s (jq absent)", verdict(fbo.ns / n <= 2000));
    snprintf(label, sizeof label, "CLI: check --batch, %zuk lines, audit on",
             lines / 1000);
    if (jq)
        row("6c", label, fba.ns / n, true, fba.rss_kb, fba.cpu, "%.2fx jq",
            fj.ns / fba.ns);
    else
        row("6c", label, fba.ns / n, true, fba.rss_kb, fba.cpu, "-");
    snprintf(label, sizeof label, "CLI: check --batch, 3c policy, %zuk lines",
             lines / 1000);
    row("6h", label, fh.ns / n, true, fh.rss_kb, fh.cpu,
        ">= 0.7x 6i's rate: %.2fx %s", fl.ns / fh.ns,
        verdict(fl.ns / fh.ns >= 0.7));
    snprintf(label, sizeof label, "same, without its 2,000 policies");
    row("6i", label, fl.ns / n, true, fl.rss_kb, fl.cpu, "(reference for 6h)");
    if (jq) {
        snprintf(label, sizeof label, "jq -c . on the same %zuk lines",
                 lines / 1000);
        row("6j", label, fj.ns / n, true, fj.rss_kb, fj.cpu, "(reference)");
    } else {
        note("6j: jq is not installed: the batch-versus-jq comparison was "
             "skipped");
    }
    note("6a: one check process %.2f ms: %.2f ms to start any process "
         "(`true`), %.2f ms more to load agent-auth and its libraries "
         "(`version`), %.2f ms of check's own work (policy load, store and "
         "audit open, the decision)",
         fc.ns / 1e6, ff.ns / 1e6, (fv.ns - ff.ns) / 1e6,
         (fc.ns - fv.ns) / 1e6);
    note("6b/6c/6j: whole-process time over %zu lines, median of %d runs "
         "(audit on: %d), output to /dev/null; CPU time per line: %.2f us "
         "audit off, %.2f us audit on, %.2f us jq",
         lines, batch_runs, audit_runs, fbo.ns * fbo.cpu / 100 / n / 1e3,
         fba.ns * fba.cpu / 100 / n / 1e3, fj.ns * fj.cpu / 100 / n / 1e3);
    note("6h/6i: audit off; whole processes, each loading its policy (%.1f "
         "and %.1f MB of YAML); runs interleaved, median of %d",
         (double)strlen(heavy_text) / 1e6, (double)strlen(light_text) / 1e6,
         batch_runs);
    free(heavy_text);
    free(light_text);
    free(heavy_path);
    free(light_path);
    free(small_path);
    free(true_path);
    free(jq);
    free(req_path);
    free(audit_file);
    free(off_path);
    free(on_path);
    free(off);
    free(on);
    free(audit);
    free(text);
    free(path);
    free(dir);
}

/* ---- scenario 7: load time ----------------------------------------------- */

/* Median wall time of one aa_policy_load_file (the free not counted);
 * f->cpu: CPU over wall time while loading and freeing. */
static figure time_load(const char *file, double run_ms) {
    figure f = {0};
    aa_policy_free(load_file(file)); /* warm-up */
    uint64_t t0 = aa__mono_ns();
    aa_policy_free(load_file(file));
    double once = (double)(aa__mono_ns() - t0);
    int k = once >= run_ms * 1e6 ? 1 : (int)(run_ms * 1e6 / once);
    double ns[MAX_RUNS];
    uint64_t wall = 0, cpu = 0;
    for (int r = 0; r < cfg.runs; r++) {
        uint64_t s0, s1, c0 = cpu_ns(&s0), w0 = aa__mono_ns(), run = 0;
        for (int i = 0; i < k; i++) { /* the free is not timed */
            t0 = aa__mono_ns();
            aa_policy *p = load_file(file);
            run += aa__mono_ns() - t0;
            aa_policy_free(p);
        }
        wall += aa__mono_ns() - w0;
        cpu += cpu_ns(&s1) - c0;
        ns[r] = (double)run / k;
    }
    f.ns = median(ns, cfg.runs);
    f.cpu = 100.0 * (double)cpu / (double)wall;
    f.cpu_ns = f.ns * f.cpu / 100; /* an estimate: loads and frees share */
    return f;
}

static void scenario7(void) {
    char *path = enterprise_path();
    if (cfg.only) { /* one load of the row asked for */
        char *base = read_text(path);
        char *text = big_policy_text(base, BIG_EXACT);
        char *big = tmp_path("big.yaml");
        write_text(big, text);
        aa_policy_free(load_file(strcmp(cfg.only, "7b") == 0 ? big : path));
        free(big);
        free(text);
        free(base);
        free(path);
        return;
    }
    figure fe = time_load(path, cfg.run_ms / 3);
    row("7", "load enterprise.yaml", fe.ns, false, peak_rss_kb(), fe.cpu,
        "<= 1 ms: %s", verdict(fe.ns <= 1e6));
    char *base = read_text(path);
    char *text = big_policy_text(base, BIG_EXACT);
    char *big = tmp_path("big.yaml");
    write_text(big, text);
    figure fb = time_load(big, 0);
    row("7b", "load the scenario-3 policy", fb.ns, false, peak_rss_kb(), fb.cpu,
        "<= 40 ms: %s", verdict(fb.ns <= 40e6));
    note("7: CPU time per load: %.0f us enterprise.yaml, %.1f ms scenario-3 "
         "policy",
         fe.cpu_ns / 1e3, fb.cpu_ns / 1e6);
    double mb = (double)strlen(text) / 1e6;
    note("7b: %.1f MB of YAML", mb);
    if (cfg.cli) { /* the same file checked by a whole process */
        char *argv[] = {(char *)cfg.cli, "-c", big, "validate", NULL};
        proc_figure fv =
            time_process(argv, 0, 1, cfg.quick ? 5 : cfg.runs, NULL, NULL);
        double ratio = fv.ns / fb.ns;
        row("7v", "`agent-auth validate` on that policy", fv.ns, false,
            fv.rss_kb, fv.cpu, "<= 1.5x 7b (%.1f ms here): %.2fx %s",
            fb.ns / 1e6, ratio, verdict(ratio <= 1.5));
        double rss = (double)fv.rss_kb * 1024 / 1e6, mem = rss / mb;
        row("7m", "peak RSS of that process / file size", fv.ns, false,
            fv.rss_kb, fv.cpu, "<= 8x (%.1f MB): %.1fx %s", mb, mem,
            verdict(mem <= 8));
        note("7v/7m: median of %d `validate` processes; peak RSS %.1f MB "
             "(%.1f MiB), %.1fx the file's %.2f MB",
             cfg.quick ? 5 : cfg.runs, rss, (double)fv.rss_kb / 1024, mem, mb);
    }
    free(big);
    free(text);
    free(base);
    free(path);
}

/* The scenario-3 policy (7b) into PATH (for profiling a whole process). */
static void write_big_policy(const char *path) {
    char *epath = enterprise_path();
    char *base = read_text(epath);
    char *text = big_policy_text(base, BIG_EXACT);
    write_text(path, text);
    free(text);
    free(base);
    free(epath);
}

/* ---- machine ------------------------------------------------------------- */

static void print_machine(void) {
    char model[256] = "unknown", line[512];
    long mem_kb = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0) {
            const char *v = strchr(line, ':');
            snprintf(model, sizeof model, "%.200s", v ? v + 2 : line);
            model[strcspn(model, "\n")] = 0;
            break;
        }
    if (f)
        fclose(f);
    f = fopen("/proc/meminfo", "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemTotal: %ld kB", &mem_kb) == 1)
            break;
    if (f)
        fclose(f);
    double load[3] = {0};
    getloadavg(load, 3);
    struct utsname u;
    uname(&u);
    char when[64];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    printf("agent-auth %s benchmark, %s\n", aa_version(), when);
    printf("machine: %ld CPUs (nproc), %s, %.1f GB RAM, Linux %s %s\n",
           sysconf(_SC_NPROCESSORS_ONLN), model, (double)mem_kb / 1048576,
           u.release, u.machine);
    printf("compiler: %s; load average at start: %.2f %.2f %.2f\n", __VERSION__,
           load[0], load[1], load[2]);
    /* Two costs that every figure below depends on. */
    enum { NSYS = 100000, NCLK = 1000000 };
    uint64_t t0 = aa__mono_ns();
    for (int i = 0; i < NSYS; i++)
        sink += (unsigned)getppid();
    uint64_t t1 = aa__mono_ns();
    for (int i = 0; i < NCLK; i++)
        sink += (unsigned)aa__mono_ns();
    uint64_t t2 = aa__mono_ns();
    printf("a system call (getppid) takes %.0f ns, clock_gettime(MONOTONIC) "
           "%.0f ns\n",
           (double)(t1 - t0) / NSYS, (double)(t2 - t1) / NCLK);
}

/* ---- main ---------------------------------------------------------------- */

static void usage(void) {
    fputs("usage: bench_engine machine | header\n"
          "       bench_engine [--quick] --src DIR --cli PATH SCENARIO\n"
          "       bench_engine --profile ROW|all [--perf FILE] [--state DIR] "
          "--src DIR SCENARIO\n"
          "       bench_engine --write-requests N FILE\n"
          "       bench_engine --src DIR --write-policy FILE\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "--peak-rss") == 0)
        return peak_rss_main(argv + 2);
    ssize_t sn = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (sn > 0)
        self_exe[sn] = 0;
    else
        snprintf(self_exe, sizeof self_exe, "%s", argv[0]);
    init_mix();
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            cfg.quick = true;
            cfg.runs = 5;
            cfg.run_ms = 60;
        } else if (strcmp(argv[i], "--src") == 0 && i + 1 < argc) {
            cfg.src = argv[++i];
        } else if (strcmp(argv[i], "--cli") == 0 && i + 1 < argc) {
            cfg.cli = argv[++i];
        } else if (strcmp(argv[i], "--profile") == 0 && i + 1 < argc) {
            cfg.only = argv[++i];
        } else if (strcmp(argv[i], "--perf") == 0 && i + 1 < argc) {
            cfg.perf = argv[++i];
        } else if (strcmp(argv[i], "--state") == 0 && i + 1 < argc) {
            cfg.state = argv[++i];
        } else if (strcmp(argv[i], "--write-policy") == 0 && i + 1 < argc &&
                   cfg.src) {
            write_big_policy(argv[i + 1]);
            return 0;
        } else if (strcmp(argv[i], "--write-requests") == 0 && i + 2 < argc) {
            write_requests(argv[i + 2], (size_t)strtoul(argv[i + 1], NULL, 10));
            return 0;
        } else {
            usage();
        }
    }
    if (i + 1 != argc)
        usage();
    const char *what = argv[i];
    if (strcmp(what, "machine") == 0) {
        print_machine();
        return 0;
    }
    if (strcmp(what, "header") == 0) {
        print_header();
        return 0;
    }
    if (!cfg.src)
        usage();
    make_tmp();
    if (strcmp(what, "1") == 0)
        scenario1();
    else if (strcmp(what, "2") == 0)
        scenario2();
    else if (strcmp(what, "3") == 0)
        scenario3();
    else if (strcmp(what, "4") == 0)
        scenario4();
    else if (strcmp(what, "5") == 0)
        scenario5();
    else if (strcmp(what, "6") == 0 && cfg.cli)
        scenario6();
    else if (strcmp(what, "7") == 0)
        scenario7();
    else
        usage();
    return 0;
}
