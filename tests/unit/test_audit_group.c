/*
 * test_audit_group.c - group commit of audit lines (audit.c, engine.c):
 * many threads and processes deciding with audit on, aa_authorize_many,
 * a write failure in a group, writers killed in the middle of a group, and
 * rotation while groups are committed. Everything goes through the public
 * API and real files; the log is checked by reading it back and by
 * aa_audit_verify_chain.
 */
#include "testutil.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

enum { BATCH = 10 }; /* requests per aa_authorize_many call */

typedef struct fixture {
    char *dir;
    char path[512];
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->dir = tu_tmpdir();
    snprintf(f->path, sizeof f->path, "%s/audit.jsonl", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    tu_rmdir(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static aa_policy *policy_with(const char *fsync) {
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "version: '1.0'\nroles: {r: {actions: [read]}}\n"
             "profiles: {bot: {role: r}}\n"
             "audit: {enabled: true, fsync: %s}\n",
             fsync);
    aa_policy *p = NULL;
    aa_error *err = aa_error_new();
    if (aa_policy_load_buffer(yaml, strlen(yaml), "group.yaml", NULL, &p,
                              err) != AA_OK)
        fail_msg("policy: %s", tu_error_text(err));
    aa_error_free(err);
    return p;
}

static aa_engine *engine_on(const aa_policy *p, const char *path) {
    aa_engine_options o;
    aa_engine_options_init(&o);
    o.audit_mode = AA_AUDIT_ON;
    o.audit_path = path;
    aa_engine *e = NULL;
    if (aa_engine_new(p, &o, &e, NULL) != AA_OK)
        return NULL;
    return e;
}

/* ---- many deciders ------------------------------------------------------- */

typedef struct worker {
    aa_engine *engine;
    int proc, thread, each;
    int denied; /* decisions that were not allowed */
    int failed; /* calls that did not return AA_OK */
    /* Optional: after `each`, go on deciding until *until is set, then
     * one run more; `done` counts every decision made. */
    atomic_int *until;
    int done;
} worker;

/* Decides `each` requests (more with `until`), alternating runs of BATCH
 * single aa_authorize calls with aa_authorize_many calls of BATCH requests.
 * The resource of each request names it: "p<proc>-t<thread>-<i>". */
static void *worker_main(void *arg) {
    worker *w = arg;
    aa_decision *ds[BATCH];
    char res[BATCH][48];
    aa_request reqs[BATCH];
    for (int k = 0; k < BATCH; k++)
        ds[k] = aa_decision_new();
    bool last = false;
    for (int i = 0; i < w->each || (w->until && !last); i += BATCH) {
        if (i >= w->each)
            last = atomic_load(w->until) != 0;
        int n = i < w->each && w->each - i < BATCH ? w->each - i : BATCH;
        for (int k = 0; k < n; k++) {
            snprintf(res[k], sizeof res[k], "p%d-t%d-%d", w->proc, w->thread,
                     i + k);
            reqs[k] = (aa_request){.agent = "bot",
                                   .user = "u",
                                   .action = "read",
                                   .resource = res[k]};
        }
        if ((i / BATCH) % 2 == 0) {
            for (int k = 0; k < n; k++)
                w->failed += aa_authorize(w->engine, &reqs[k], ds[k]) != AA_OK;
        } else {
            w->failed +=
                aa_authorize_many(w->engine, reqs, (size_t)n, ds) != AA_OK;
        }
        for (int k = 0; k < n; k++)
            w->denied += !aa_decision_allowed(ds[k]);
        w->done += n;
    }
    for (int k = 0; k < BATCH; k++)
        aa_decision_free(ds[k]);
    return NULL;
}

/* Runs `threads` deciders on one engine over the log at path; returns the
 * denied decisions plus failed calls (0 when all went well). */
static int run_threads_until(const char *path, const char *fsync, int proc,
                             int threads, int each, atomic_int *until,
                             int *done) {
    aa_policy *p = policy_with(fsync);
    aa_engine *e = engine_on(p, path);
    if (!e)
        return -1;
    pthread_t th[16];
    worker w[16];
    for (int t = 0; t < threads; t++) {
        w[t] = (worker){.engine = e,
                        .proc = proc,
                        .thread = t,
                        .each = each,
                        .until = until};
        if (pthread_create(&th[t], NULL, worker_main, &w[t]) != 0)
            return -1;
    }
    int bad = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        bad += w[t].denied + w[t].failed;
        if (done)
            *done += w[t].done;
    }
    aa_engine_free(e);
    aa_policy_free(p);
    return bad;
}

static int run_threads(const char *path, const char *fsync, int proc,
                       int threads, int each) {
    return run_threads_until(path, fsync, proc, threads, each, NULL, NULL);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The log holds exactly one whole line per decision of procs x threads x
 * each (no line cut into or merged with another), and its chain verifies
 * with no warning. */
static void assert_one_line_each(const char *path, int procs, int threads,
                                 int each) {
    size_t want = (size_t)procs * (size_t)threads * (size_t)each;
    size_t len;
    char *text = tu_read_file(path, &len);
    assert_non_null(text);
    assert_true(len > 0 && text[len - 1] == '\n');
    char **got = calloc(want + 1, sizeof *got);
    size_t n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *j = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
        if (!j)
            fail_msg("line %zu is not one whole record: %.120s", n + 1, line);
        const char *res = json_string_value(json_object_get(j, "resource"));
        assert_non_null(res);
        assert_true(json_is_true(json_object_get(j, "allowed")));
        if (n == want)
            fail_msg("more than %zu lines", want);
        got[n++] = strdup(res);
        json_decref(j);
    }
    free(text);
    assert_int_equal(n, want);
    char **exp = calloc(want, sizeof *exp);
    size_t k = 0;
    for (int p = 0; p < procs; p++)
        for (int t = 0; t < threads; t++)
            for (int i = 0; i < each; i++) {
                char r[48];
                snprintf(r, sizeof r, "p%d-t%d-%d", p, t, i);
                exp[k++] = strdup(r);
            }
    qsort(got, n, sizeof *got, cmp_str);
    qsort(exp, want, sizeof *exp, cmp_str);
    for (size_t i = 0; i < want; i++) {
        assert_string_equal(got[i], exp[i]);
        free(got[i]);
        free(exp[i]);
    }
    free(got);
    free(exp);

    aa_error *err = aa_error_new();
    aa_audit_verify_result vr;
    int rc = aa_audit_verify_chain(path, NULL, &vr, err);
    if (rc != AA_OK || aa_error_count(err) != 0)
        fail_msg("verify: %s", tu_error_text(err));
    assert_int_equal(vr.lines, want);
    aa_error_free(err);
}

static void test_threads_one_line_each(void **state) {
    fixture *f = *state;
    assert_int_equal(run_threads(f->path, "never", 0, 8, 200), 0);
    assert_one_line_each(f->path, 1, 8, 200);
}

static void test_threads_fsync_always(void **state) {
    fixture *f = *state;
    assert_int_equal(run_threads(f->path, "always", 0, 4, 40), 0);
    assert_one_line_each(f->path, 1, 4, 40);
}

static void test_threads_fsync_interval(void **state) {
    fixture *f = *state;
    assert_int_equal(run_threads(f->path, "interval", 0, 4, 100), 0);
    assert_one_line_each(f->path, 1, 4, 100);
}

/* Four processes of four threads each, every process with its own engine
 * (flock belongs to the open file): one chain across them all. */
static void test_processes_and_threads(void **state) {
    fixture *f = *state;
    enum { PROCS = 4, THREADS = 4, EACH = 100 };
    pid_t pids[PROCS];
    for (int i = 0; i < PROCS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0)
            _exit(run_threads(f->path, "never", i, THREADS, EACH) == 0 ? 0 : 1);
    }
    for (int i = 0; i < PROCS; i++) {
        int status;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_one_line_each(f->path, PROCS, THREADS, EACH);
}

/* The file lock is held from one group to the next only while more lines
 * are queued: once the threads of one engine stop deciding (the engine
 * still open), another process writes at once. */
static void test_lock_released_when_idle(void **state) {
    fixture *f = *state;
    aa_policy *p = policy_with("never");
    aa_engine *e = engine_on(p, f->path);
    assert_non_null(e);
    pthread_t th[4];
    worker w[4];
    for (int t = 0; t < 4; t++) {
        w[t] = (worker){.engine = e, .proc = 0, .thread = t, .each = 100};
        assert_int_equal(pthread_create(&th[t], NULL, worker_main, &w[t]), 0);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(w[t].denied + w[t].failed, 0);
    }
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* one group, in this thread (no threads after fork) */
        alarm(20);  /* a lock never released: killed, not hung */
        aa_engine *ce = engine_on(p, f->path);
        aa_decision *ds[BATCH];
        aa_request reqs[BATCH];
        char res[BATCH][32];
        int ok = ce != NULL;
        for (int k = 0; ok && k < BATCH; k++) {
            ds[k] = aa_decision_new();
            snprintf(res[k], sizeof res[k], "p1-t0-%d", k);
            reqs[k] = (aa_request){.agent = "bot",
                                   .user = "u",
                                   .action = "read",
                                   .resource = res[k]};
        }
        ok = ok && aa_authorize_many(ce, reqs, BATCH, ds) == AA_OK;
        for (int k = 0; ok && k < BATCH; k++)
            ok = aa_decision_allowed(ds[k]);
        _exit(ok ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    aa_engine_free(e);
    aa_policy_free(p);
    /* process 0: 4 threads of 100; process 1: 1 thread of 10 */
    size_t lines = 0, bad = 0;
    aa_error *err = aa_error_new();
    assert_int_equal(aa_audit_verify(f->path, &lines, &bad, err), AA_OK);
    assert_int_equal(lines, 410);
    aa_error_free(err);
}

/* ---- a failed write ------------------------------------------------------ */

static off_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : 0;
}

static size_t count_lines(const char *path) {
    size_t len, n = 0;
    char *text = tu_read_file(path, &len);
    for (size_t i = 0; text && i < len; i++)
        n += text[i] == '\n';
    free(text);
    return n;
}

/* Files may grow to `bytes` only (SIGXFSZ ignored: writes fail EFBIG). */
static struct rlimit saved;
static void fsize_limit(rlim_t bytes) {
    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &saved);
    struct rlimit r = saved;
    r.rlim_cur = bytes;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &r), 0);
}
static void fsize_restore(void) {
    setrlimit(RLIMIT_FSIZE, &saved);
}

static void assert_audit_denied(const aa_decision *d) {
    assert_false(aa_decision_allowed(d));
    const char *why = aa_decision_reason(d);
    if (!strstr(why, "Audit log unavailable") ||
        !strstr(why, "would have been: allowed"))
        fail_msg("reason: %s", why);
}

typedef struct denier {
    aa_engine *engine;
    int allowed;
} denier;

static void *denier_main(void *arg) {
    denier *w = arg;
    aa_decision *d = aa_decision_new();
    aa_request r = {.agent = "bot", .user = "u", .action = "read"};
    for (int i = 0; i < 50; i++) {
        aa_authorize(w->engine, &r, d);
        w->allowed += aa_decision_allowed(d) ||
                      !strstr(aa_decision_reason(d), "Audit log unavailable");
    }
    aa_decision_free(d);
    return NULL;
}

/* A group whose write fails is denied as a whole (on_failure: deny): a
 * batch, and threads deciding at once; nothing is written. When the file
 * can take lines again, decisions are allowed and the chain goes on. */
static void test_failed_group_is_denied(void **state) {
    fixture *f = *state;
    aa_policy *p = policy_with("never");
    aa_engine *e = engine_on(p, f->path);
    assert_non_null(e);
    aa_decision *ds[BATCH];
    aa_request reqs[BATCH];
    for (int k = 0; k < BATCH; k++) {
        ds[k] = aa_decision_new();
        reqs[k] = (aa_request){.agent = "bot", .user = "u", .action = "read"};
    }
    assert_int_equal(aa_authorize_many(e, reqs, BATCH, ds), AA_OK);
    for (int k = 0; k < BATCH; k++)
        assert_true(aa_decision_allowed(ds[k]));
    off_t before = file_size(f->path);

    fsize_limit(0); /* every write fails, as on a full disk */
    assert_int_equal(aa_authorize_many(e, reqs, BATCH, ds), AA_OK);
    for (int k = 0; k < BATCH; k++)
        assert_audit_denied(ds[k]);
    pthread_t th[4];
    denier w[4];
    for (int t = 0; t < 4; t++) {
        w[t] = (denier){.engine = e};
        assert_int_equal(pthread_create(&th[t], NULL, denier_main, &w[t]), 0);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(w[t].allowed, 0);
    }
    fsize_restore();
    assert_int_equal(file_size(f->path), before);

    assert_int_equal(aa_authorize_many(e, reqs, BATCH, ds), AA_OK);
    for (int k = 0; k < BATCH; k++)
        assert_true(aa_decision_allowed(ds[k]));
    assert_int_equal(count_lines(f->path), 2 * BATCH);
    aa_error *err = aa_error_new();
    size_t lines = 0, bad = 0;
    assert_int_equal(aa_audit_verify(f->path, &lines, &bad, err), AA_OK);
    assert_int_equal(lines, 2 * BATCH);
    aa_error_free(err);
    for (int k = 0; k < BATCH; k++)
        aa_decision_free(ds[k]);
    aa_engine_free(e);
    aa_policy_free(p);
}

/* A write that fails part-way through a group: the decisions whose lines
 * are in the file stand, every later one of the group is denied, and the
 * log shows exactly the lines of the decisions that stand (the cut line
 * is a torn fragment verify warns about). */
static void test_group_cut_part_way(void **state) {
    fixture *f = *state;
    aa_policy *p = policy_with("never");
    aa_engine *e = engine_on(p, f->path);
    assert_non_null(e);
    aa_decision *ds[BATCH];
    aa_request reqs[BATCH];
    for (int k = 0; k < BATCH; k++) {
        ds[k] = aa_decision_new();
        reqs[k] = (aa_request){.agent = "bot", .user = "u", .action = "read"};
    }
    assert_int_equal(aa_authorize(e, &reqs[0], ds[0]), AA_OK);
    off_t one = file_size(f->path); /* the size of one line */
    assert_true(one > 100);

    fsize_limit((rlim_t)(one + one * 5 / 2)); /* room for 2.5 more lines */
    assert_int_equal(aa_authorize_many(e, reqs, BATCH, ds), AA_OK);
    fsize_restore();
    int stood = 0;
    for (int k = 0; k < BATCH; k++) {
        if (k < 2) {
            assert_true(aa_decision_allowed(ds[k]));
            stood++;
        } else {
            assert_audit_denied(ds[k]);
        }
    }
    assert_int_equal(stood, 2);

    /* The next decision chains to the last whole line. */
    assert_int_equal(aa_authorize(e, &reqs[0], ds[0]), AA_OK);
    assert_true(aa_decision_allowed(ds[0]));
    aa_error *err = aa_error_new();
    aa_audit_verify_result vr;
    assert_int_equal(aa_audit_verify_chain(f->path, NULL, &vr, err), AA_OK);
    assert_int_equal(vr.lines, 1 + 2 + 1);
    assert_int_equal(aa_error_count(err), 1); /* the torn fragment */
    assert_non_null(strstr(aa_error_get(err, 0)->message, "torn line"));
    aa_error_free(err);
    for (int k = 0; k < BATCH; k++)
        aa_decision_free(ds[k]);
    aa_engine_free(e);
    aa_policy_free(p);
}

/* ---- writers killed mid-group -------------------------------------------- */

/* Processes of four threads deciding (alone and in batches) are SIGKILLed
 * while they write; then one more writer. The log holds whole lines and
 * at most one torn fragment per kill, and its chain verifies. */
static void test_killed_mid_group(void **state) {
    fixture *f = *state;
    enum { ROUNDS = 6 };
    for (int round = 0; round < ROUNDS; round++) {
        off_t before = file_size(f->path);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            _exit(run_threads(f->path, "never", round, 4, 1 << 30) ? 1 : 0);
        for (int i = 0; i < 20000 && file_size(f->path) < before + 65536; i++)
            usleep(100); /* bounded wait for some groups */
        assert_int_equal(kill(pid, SIGKILL), 0);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));
    }
    assert_int_equal(run_threads(f->path, "never", 99, 2, 20), 0);

    size_t len;
    char *text = tu_read_file(f->path, &len);
    assert_true(len > 0 && text[len - 1] == '\n');
    size_t whole = 0, torn = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *j = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
        if (j)
            whole++;
        else
            torn++;
        json_decref(j);
    }
    free(text);
    assert_true(torn <= ROUNDS);
    aa_error *err = aa_error_new();
    aa_audit_verify_result vr;
    int rc = aa_audit_verify_chain(f->path, NULL, &vr, err);
    if (rc != AA_OK)
        fail_msg("verify: %s", tu_error_text(err));
    assert_int_equal(vr.lines, whole);
    assert_int_equal(aa_error_count(err), torn);
    for (size_t i = 0; i < aa_error_count(err); i++)
        assert_non_null(strstr(aa_error_get(err, i)->message, "torn line"));
    aa_error_free(err);
}

/* ---- rotation ------------------------------------------------------------ */

typedef struct rotator {
    const char *path;
    int rotations;
    atomic_int *stop;
} rotator;

/* Rotates everything into an archive, again and again, while the workers
 * write. */
static void *rotator_main(void *arg) {
    rotator *r = arg;
    int64_t future = INT64_C(4102444800000000); /* 2100-01-01 */
    for (int i = 0; !*r->stop && i < 8; i++) {
        usleep(20000);
        char *archive = NULL;
        size_t moved = 0;
        if (aa_audit_rotate(r->path, 1, future + i * INT64_C(3600000000),
                            &archive, &moved, NULL) == AA_OK &&
            archive)
            r->rotations++;
        free(archive);
    }
    return NULL;
}

static void *threads_main(void *arg) {
    const char *path = arg;
    return (void *)(intptr_t)run_threads(path, "never", 0, 4, 600);
}

static void test_rotation_during_group_commits(void **state) {
    fixture *f = *state;
    atomic_int stop = 0;
    rotator r = {.path = f->path, .stop = &stop};
    pthread_t rt, wt;
    assert_int_equal(pthread_create(&wt, NULL, threads_main, f->path), 0);
    assert_int_equal(pthread_create(&rt, NULL, rotator_main, &r), 0);
    void *bad;
    pthread_join(wt, &bad);
    stop = 1;
    pthread_join(rt, NULL);
    assert_int_equal((intptr_t)bad, 0);
    assert_true(r.rotations > 0);

    aa_error *err = aa_error_new();
    aa_audit_verify_result vr;
    int rc = aa_audit_verify_chain(f->path, NULL, &vr, err);
    if (rc != AA_OK || aa_error_count(err) != 0)
        fail_msg("verify: %s", tu_error_text(err));
    assert_true(vr.start_anchored);
    assert_int_equal(vr.archives, (size_t)r.rotations);
    /* Every decision once, plus one audit.rotate record per rotation. */
    assert_int_equal(vr.lines + vr.archive_lines, 4 * 600 + r.rotations);
    aa_error_free(err);
}

typedef struct remover {
    const char *path;
    int fd;           /* the removed file, still open */
    atomic_int *done; /* set once it is removed */
    int done_count;   /* decisions made in all */
} remover;

static void *remover_main(void *arg) {
    remover *r = arg;
    for (int i = 0; i < 2000 && file_size(r->path) < 65536; i++)
        usleep(500);
    r->fd = open(r->path, O_RDONLY | O_CLOEXEC);
    unlink(r->path);
    atomic_store(r->done, 1);
    return NULL;
}

static void *removal_deciders_main(void *arg) {
    remover *r = arg;
    return (void *)(intptr_t)run_threads_until(r->path, "never", 0, 4, 600,
                                               r->done, &r->done_count);
}

/* The log removed (rm, which takes no lock) while threads keep deciding
 * (until it is gone, and a run more): the writer notices at its next
 * group, even while it holds the file lock from one group to the next, and
 * goes on in a new file. Every decision is in one of the two files, once. */
static void test_removed_while_deciding(void **state) {
    fixture *f = *state;
    atomic_int removed = 0;
    remover r = {.path = f->path, .fd = -1, .done = &removed};
    pthread_t rt, wt;
    assert_int_equal(pthread_create(&rt, NULL, remover_main, &r), 0);
    assert_int_equal(pthread_create(&wt, NULL, removal_deciders_main, &r), 0);
    void *bad;
    pthread_join(wt, &bad);
    pthread_join(rt, NULL);
    assert_int_equal((intptr_t)bad, 0);
    assert_true(r.fd >= 0);
    size_t old_lines = 0;
    char buf[65536];
    ssize_t got;
    while ((got = read(r.fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < got; i++)
            old_lines += buf[i] == '\n';
    close(r.fd);
    size_t lines = 0, badl = 0;
    aa_error *err = aa_error_new();
    if (aa_audit_verify(f->path, &lines, &badl, err) != AA_OK)
        fail_msg("verify: %s", tu_error_text(err));
    aa_error_free(err);
    assert_true(lines > 0);
    assert_true(r.done_count >= 4 * 600);
    assert_int_equal(old_lines + lines, (size_t)r.done_count);
}

/* ---- fork while the lock is held ------------------------------------------
 * A child forked (without exec) while the engine holds the file lock between
 * its groups shares the open file, and with it the lock. When the parent
 * then frees its engine, closing its descriptor does not release a lock the
 * child's copy still holds: the lock must be given up explicitly, or every
 * other writer waits until the child exits. */
static void test_fork_then_free_releases_lock(void **state) {
    fixture *f = *state;
    aa_policy *p = policy_with("never");
    aa_engine *e = engine_on(p, f->path);
    assert_non_null(e);
    aa_decision *d = aa_decision_new();
    aa_request r = {
        .agent = "bot", .user = "u", .action = "read", .resource = "x"};
    for (int i = 0; i < 3; i++) /* the second group starts the lease */
        assert_int_equal(aa_authorize(e, &r, d), AA_OK);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* holds the inherited descriptor for a while */
        sleep(3);
        _exit(0);
    }
    assert_int_equal(aa_authorize(e, &r, d), AA_OK); /* lock in use */
    aa_engine_free(e);
    int fd = open(f->path, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    int got = flock(fd, LOCK_EX | LOCK_NB);
    int e2 = errno;
    close(fd);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    aa_decision_free(d);
    aa_policy_free(p);
    if (got != 0)
        fail_msg("the file lock outlived the engine: %s", strerror(e2));
}

/* Processes forked from one that made its engine (a server that loads
 * the policy, then forks its workers) decide with the engine they
 * inherited. Their audit writer must not share its parent's open file,
 * whose flock they would all hold at once: each reopens the log in the
 * child, and the chain stays one chain. */
static void forked_workers(fixture *f, const char *fsync) {
    aa_policy *p = policy_with(fsync);
    aa_engine *e = engine_on(p, f->path);
    assert_non_null(e);
    aa_decision *d = aa_decision_new();
    aa_request r = {
        .agent = "bot", .user = "u", .action = "read", .resource = "x"};
    for (int i = 0; i < 3; i++) /* the lease is running */
        assert_int_equal(aa_authorize(e, &r, d), AA_OK);
    enum { KIDS = 3, EACH = 300 };
    pid_t pids[KIDS];
    for (int k = 0; k < KIDS; k++) {
        pids[k] = fork();
        assert_true(pids[k] >= 0);
        if (pids[k] == 0) {
            alarm(60);
            int ok = 1;
            for (int i = 0; i < EACH; i++)
                ok &= aa_authorize(e, &r, d) == AA_OK && aa_decision_allowed(d);
            aa_engine_free(e);
            _exit(ok ? 0 : 1);
        }
    }
    for (int i = 0; i < EACH; i++)
        assert_int_equal(aa_authorize(e, &r, d), AA_OK);
    for (int k = 0; k < KIDS; k++) {
        int status;
        assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    aa_engine_free(e);
    aa_decision_free(d);
    aa_policy_free(p);
    size_t lines = 0, bad = 0;
    aa_error *err = aa_error_new();
    if (aa_audit_verify(f->path, &lines, &bad, err) != AA_OK)
        fail_msg("verify: %s", tu_error_text(err));
    aa_error_free(err);
    assert_int_equal(bad, 0);
    assert_int_equal(lines, 3 + (KIDS + 1) * EACH);
}

static void test_forked_workers_share_engine(void **state) {
    forked_workers(*state, "never");
}

/* The same with fsync interval: the child starts its own sync thread. */
static void test_forked_workers_fsync_interval(void **state) {
    forked_workers(*state, "interval");
}

/* ---- fork just after a background thread starts ---------------------------
 * The writer starts its threads itself: the lease's releaser from inside the
 * second group's aa_authorize, the sync thread of fsync interval from inside
 * aa_engine_new. A server may fork the moment such a call returns, while the
 * new thread is still starting; the child must still decide and exit. (Under
 * AddressSanitizer a thread allocates as it starts, and an allocator that is
 * not fork-safe leaves the child a lock nobody will release: the child hangs
 * in a malloc that needs that lock, such as its own threads' first ones, until
 * its alarm.) Each round forks once, right after the thread was started or a
 * decision or two later, and the child starts the threads of its own. */
static void fork_after_thread_start(fixture *f, const char *fsync, int before) {
    enum { ROUNDS = 50 };
    size_t lines = 0, want = 0;
    aa_policy *p = policy_with(fsync);
    aa_decision *d = aa_decision_new();
    aa_request r = {
        .agent = "bot", .user = "u", .action = "read", .resource = "x"};
    for (int round = 0; round < ROUNDS; round++) {
        aa_engine *e = engine_on(p, f->path);
        assert_non_null(e);
        int n = before + round % 3; /* the thread a few steps further on */
        for (int i = 0; i < n; i++)
            assert_int_equal(aa_authorize(e, &r, d), AA_OK);
        want += (size_t)n + 3;
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) { /* three groups: the child starts threads too */
            alarm(60);
            int ok = 1;
            for (int i = 0; i < 3; i++)
                ok &= aa_authorize(e, &r, d) == AA_OK && aa_decision_allowed(d);
            aa_engine_free(e);
            _exit(ok ? 0 : 1);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("round %d: the child %s %d", round,
                     WIFEXITED(status) ? "exited with" : "was killed by signal",
                     WIFEXITED(status) ? WEXITSTATUS(status)
                                       : WTERMSIG(status));
        aa_engine_free(e);
    }
    aa_decision_free(d);
    aa_policy_free(p);
    size_t bad = 0;
    aa_error *err = aa_error_new();
    if (aa_audit_verify(f->path, &lines, &bad, err) != AA_OK)
        fail_msg("verify: %s", tu_error_text(err));
    aa_error_free(err);
    assert_int_equal(bad, 0);
    assert_int_equal(lines, want);
}

/* Forked right after the second group started the releaser. */
static void test_fork_after_releaser_starts(void **state) {
    fork_after_thread_start(*state, "never", 2);
}

/* Forked right after aa_engine_new started the sync thread. */
static void test_fork_after_syncer_starts(void **state) {
    fork_after_thread_start(*state, "interval", 0);
}

/* ---- aa_authorize_many with bad arguments --------------------------------
 * A NULL among the decisions, or one object given for two requests (whose
 * line would be chained twice from one buffer, breaking the chain for every
 * later line): AA_EINVAL, nothing decided or written, every decision given
 * a denial (none keeps an earlier call's "allowed"). */
static void test_many_null_or_repeated_decisions(void **state) {
    fixture *f = *state;
    aa_policy *p = policy_with("never");
    aa_engine *e = engine_on(p, f->path);
    assert_non_null(e);
    aa_decision *a = aa_decision_new(), *b = aa_decision_new();
    aa_request reqs[3];
    for (int i = 0; i < 3; i++)
        reqs[i] = (aa_request){
            .agent = "bot", .user = "u", .action = "read", .resource = "r"};
    assert_int_equal(aa_authorize(e, &reqs[0], a), AA_OK); /* one line */
    assert_int_equal(aa_authorize(e, &reqs[0], b), AA_OK); /* two lines */
    assert_true(aa_decision_allowed(a));
    aa_decision *with_null[3] = {a, NULL, b};
    assert_int_equal(aa_authorize_many(e, reqs, 3, with_null), AA_EINVAL);
    assert_false(aa_decision_allowed(a));
    assert_false(aa_decision_allowed(b));
    aa_decision *repeated[3] = {a, b, a};
    assert_int_equal(aa_authorize_many(e, reqs, 3, repeated), AA_EINVAL);
    assert_false(aa_decision_allowed(a));
    assert_non_null(strstr(aa_decision_reason(a), "decisions"));
    aa_decision *fine[2] = {a, b};
    assert_int_equal(aa_authorize_many(e, reqs, 2, fine), AA_OK);
    assert_true(aa_decision_allowed(a) && aa_decision_allowed(b));
    aa_engine_free(e);
    aa_decision_free(a);
    aa_decision_free(b);
    aa_policy_free(p);
    size_t lines = 0, bad = 0;
    aa_error *err = aa_error_new();
    if (aa_audit_verify(f->path, &lines, &bad, err) != AA_OK)
        fail_msg("verify: %s", tu_error_text(err));
    aa_error_free(err);
    assert_int_equal(lines, 4);
    assert_int_equal(bad, 0);
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_threads_one_line_each),
        T(test_threads_fsync_always),
        T(test_threads_fsync_interval),
        T(test_processes_and_threads),
        T(test_failed_group_is_denied),
        T(test_group_cut_part_way),
        T(test_killed_mid_group),
        T(test_rotation_during_group_commits),
        T(test_lock_released_when_idle),
        T(test_removed_while_deciding),
        T(test_fork_then_free_releases_lock),
        T(test_many_null_or_repeated_decisions),
        T(test_forked_workers_share_engine),
        T(test_forked_workers_fsync_interval),
        T(test_fork_after_releaser_starts),
        T(test_fork_after_syncer_starts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
