/* core.c - the service state: policy snapshots, reload, log, metrics. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cli.h"
#include "server.h"

#define POLICY_MAX_BYTES ((size_t)16 << 20)

void srv_log(const srv *s, const char *level, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char ts[33];
    aa_format_time(aa_now(), ts);
    if (s && s->log_json) { /* cli_jstr: a message that is not UTF-8 too */
        json_t *o = json_pack("{s:s,s:s,s:o}", "time", ts, "level", level,
                              "msg", cli_jstr(msg));
        char *line =
            o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (line)
            fprintf(stderr, "%s\n", line);
        free(line);
        json_decref(o);
    } else { /* one line, no control character from a request or file */
        fprintf(stderr, "%s %s ", ts, level);
        cli_put_text(msg, stderr);
        fputc('\n', stderr);
    }
}

/* Reads the whole policy file (at most 16 MiB): the same bytes are hashed
 * and compiled, so the sha256 always names the policy that serves; *id
 * names the file they came from. When it cannot, the library's own loader
 * words the error (with the file name). */
static int read_file(const char *path, char **out, size_t *len, srv_file_id *id,
                     aa_error *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        (size_t)st.st_size <= POLICY_MAX_BYTES) {
        size_t cap = (size_t)st.st_size + 1, n = 0;
        char *buf = malloc(cap);
        while (buf && n < cap) {
            ssize_t r = read(fd, buf + n, cap - n);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                if (r < 0) {
                    free(buf);
                    buf = NULL;
                }
                break;
            }
            n += (size_t)r;
        }
        if (buf && n < cap) { /* read it all: the size did not change */
            close(fd);
            *out = buf;
            *len = n;
            id->dev = st.st_dev;
            id->ino = st.st_ino;
            id->mtime = st.st_mtim;
            id->size = st.st_size;
            return AA_OK;
        }
        free(buf);
    }
    if (fd >= 0)
        close(fd);
    aa_policy *p = NULL;
    int rc = aa_policy_load_file(path, NULL, &p, err);
    aa_policy_free(p);
    /* AA_OK here: the file changed while read; the next reload reads it. */
    return rc == AA_OK ? AA_EBUSY : rc;
}

bool srv_file_id_of(const char *path, srv_file_id *id) {
    struct stat st;
    if (stat(path, &st) != 0)
        return false;
    id->dev = st.st_dev;
    id->ino = st.st_ino;
    id->mtime = st.st_mtim;
    id->size = st.st_size;
    return true;
}

bool srv_file_id_equal(const srv_file_id *a, const srv_file_id *b) {
    return a->dev == b->dev && a->ino == b->ino &&
           a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec && a->size == b->size;
}

static void sha256_hex(const char *data, size_t len, char hex[65]) {
    unsigned char d[32];
    unsigned int n = 0;
    EVP_Digest(data, len, d, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    hex[64] = 0;
}

/* ---- state stores -------------------------------------------------------- */

/* Opens the state store at path: the one place the service opens a store
 * (the CLI's `sessions --create` opens it the same way: created when
 * missing). */
/* Where the snapshot's state lives (--state, AGENT_AUTH_STATE_URL, the
 * policy's state.url or state.path), with any password hidden: the
 * identity a reload compares, and what logs and /readyz print. */
static int store_where(const srv *s, const aa_policy *policy, char *buf,
                       size_t size, aa_error *err) {
    aa_store_options so;
    aa_store_options_init(&so);
    so.url = s->state_path;
    so.policy = policy;
    if (aa_store_location(&so, buf, size) == AA_OK)
        return AA_OK;
    /* a location aa_store_open refuses: let it say why, into err */
    aa_store *none = NULL;
    int rc = aa_store_open(&so, &none, err);
    aa_store_free(none);
    return rc == AA_OK ? AA_EINVAL : rc;
}

/* Opens the store a policy names; a shared store is cached unless
 * state.consistency says strict. At start (at_start), a PostgreSQL store
 * that cannot be reached is opened anyway, to connect when a call first
 * needs it: servers may start before their database, and until it answers
 * /readyz says why, decisions that need state fail closed and the others
 * are decided. The reason is kept in s->start_store_error. A reload still
 * refuses a store it cannot reach (the one serving is kept). */
static int store_open(srv *s, const aa_policy *policy, const char *where,
                      bool at_start, srv_store **out, aa_error *err) {
    *out = NULL;
    srv_store *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(where))) {
        free(st);
        return AA_ENOMEM;
    }
    atomic_init(&st->refs, 1);
    aa_store_options so;
    aa_store_options_init(&so);
    so.url = s->state_path;
    so.policy = policy;
    bool shared = strncmp(where, "postgres", 8) == 0;
    aa_error *first = at_start && shared ? aa_error_new() : NULL;
    int rc = aa_store_open(&so, &st->store, first ? first : err);
    if (rc == AA_ESTATE && first) {
        const aa_diag *d = aa_error_get(first, 0);
        if (d)
            aa_diag_format(d, s->start_store_error,
                           sizeof s->start_store_error);
        else
            snprintf(s->start_store_error, sizeof s->start_store_error, "%s",
                     aa_strerror(rc));
        so.lazy = 1;
        rc = aa_store_open(&so, &st->store, err);
    } else if (rc != AA_OK && first) { /* say it again, into err */
        rc = aa_store_open(&so, &st->store, err);
    }
    aa_error_free(first);
    if (rc != AA_OK) {
        free(st->path);
        free(st);
        return rc;
    }
    *out = st;
    return AA_OK;
}

static srv_store *store_ref(srv_store *st) {
    atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
    return st;
}

static void store_put(srv_store *st) {
    if (st &&
        atomic_fetch_sub_explicit(&st->refs, 1, memory_order_acq_rel) == 1) {
        aa_store_free(st->store);
        free(st->path);
        free(st);
    }
}

/* ---- snapshots ----------------------------------------------------------- */

static void snap_free(srv_snap *snap) {
    aa_engine_free(snap->engine);
    aa_policy_free(snap->policy);
    store_put(snap->store);
    free(snap);
}

/* Loads and compiles the file into a new snapshot. Its store is the one of
 * `prev` (the snapshot serving now, NULL at start) when the path is the
 * same, else the store at the new path, opened now. *store_failed tells a
 * store that cannot be opened from a policy that does not load. */
static int snap_load(srv *s, const srv_snap *prev, srv_snap **out,
                     bool *store_failed, aa_error *err) {
    *out = NULL;
    *store_failed = false;
    char *data;
    size_t len;
    srv_snap *snap = calloc(1, sizeof *snap);
    if (!snap)
        return AA_ENOMEM;
    int rc = read_file(s->config_path, &data, &len, &snap->file, err);
    if (rc != AA_OK) {
        free(snap);
        return rc;
    }
    atomic_init(&snap->refs, 1);
    sha256_hex(data, len, snap->sha256);
    rc = aa_policy_load_buffer(data, len, s->config_path, NULL, &snap->policy,
                               err);
    free(data);
    if (rc == AA_OK) {
        char where[1024];
        rc = store_where(s, snap->policy, where, sizeof where, err);
        if (rc != AA_OK)
            *store_failed = true;
        else if (prev &&
                 (!prev->store->path || strcmp(prev->store->path, where) == 0))
            snap->store = store_ref(prev->store);
        else if ((rc = store_open(s, snap->policy, where, !prev, &snap->store,
                                  err)) != AA_OK)
            *store_failed = true;
    }
    if (rc == AA_OK) {
        aa_engine_options o = {0};
        o.store = snap->store->store;
        rc = aa_engine_new(snap->policy, &o, &snap->engine, err);
    }
    if (rc != AA_OK) {
        snap_free(snap);
        return rc;
    }
    *out = snap;
    return AA_OK;
}

int srv_init(srv *s, const char *config_path, const char *state_path,
             bool store_memory, aa_error *err) {
    memset(s, 0, sizeof *s);
    s->config_path = config_path;
    s->state_path = state_path;
    s->max_body = 1 << 20;
    s->store_memory = store_memory;
    pthread_mutex_init(&s->snap_mu, NULL);
    pthread_mutex_init(&s->reload_mu, NULL);
    srv_snap mem = {0};
    if (store_memory) { /* a stand-in "previous" snapshot with the store */
        mem.store = calloc(1, sizeof *mem.store);
        if (!mem.store)
            return AA_ENOMEM;
        atomic_init(&mem.store->refs, 1);
        int rc = aa_store_open_memory(&mem.store->store, err);
        if (rc != AA_OK) {
            free(mem.store);
            return rc;
        }
    }
    bool store_failed;
    int rc =
        snap_load(s, store_memory ? &mem : NULL, &s->cur, &store_failed, err);
    store_put(mem.store);
    return rc;
}

void srv_free(srv *s) {
    if (s->cur)
        srv_snap_put(s->cur);
    s->cur = NULL;
    free(s->token);
    pthread_mutex_destroy(&s->snap_mu);
    pthread_mutex_destroy(&s->reload_mu);
}

srv_snap *srv_snap_get(srv *s) {
    pthread_mutex_lock(&s->snap_mu);
    srv_snap *snap = s->cur;
    atomic_fetch_add_explicit(&snap->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&s->snap_mu);
    return snap;
}

void srv_snap_put(srv_snap *snap) {
    if (atomic_fetch_sub_explicit(&snap->refs, 1, memory_order_acq_rel) == 1)
        snap_free(snap);
}

int srv_reload(srv *s, aa_error *err, char *why, size_t whylen) {
    pthread_mutex_lock(&s->reload_mu);
    srv_snap *prev = srv_snap_get(s);
    srv_snap *snap;
    bool store_failed;
    int rc = snap_load(s, prev, &snap, &store_failed, err);
    if (rc == AA_OK) {
        if (snap->store != prev->store)
            srv_log(s, "info",
                    "the reloaded policy names another state "
                    "store: now %s (was %s)",
                    snap->store->path, prev->store->path);
        pthread_mutex_lock(&s->snap_mu);
        srv_snap *old = s->cur;
        s->cur = snap;
        pthread_mutex_unlock(&s->snap_mu);
        srv_snap_put(old); /* freed, with its store, by its last request */
        s->last_reload_error[0] = 0;
        atomic_fetch_add(&s->m.reloads_ok, 1);
    } else {
        const aa_diag *d = NULL; /* the first error, not a warning */
        for (size_t i = 0; i < aa_error_count(err) && !d; i++)
            if (aa_error_get(err, i)->severity == AA_SEVERITY_ERROR)
                d = aa_error_get(err, i);
        char msg[900];
        if (d)
            aa_diag_format(d, msg, sizeof msg);
        else
            snprintf(msg, sizeof msg, "%s", aa_strerror(rc));
        if (store_failed)
            snprintf(s->last_reload_error, sizeof s->last_reload_error,
                     "the reloaded policy names a state store that cannot be "
                     "opened (%s is kept): %s",
                     prev->store->path ? prev->store->path : "memory", msg);
        else
            snprintf(s->last_reload_error, sizeof s->last_reload_error, "%s",
                     msg);
        atomic_fetch_add(&s->m.reloads_error, 1);
    }
    if (why)
        snprintf(why, whylen, "%s", s->last_reload_error);
    srv_snap_put(prev);
    pthread_mutex_unlock(&s->reload_mu);
    return rc;
}

/* ---- metrics ------------------------------------------------------------- */

static const double bucket_bounds[SRV_NBUCKETS] = {
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
    0.001,   0.0025,   0.005,   0.01,   0.05,    0.25};

void srv_metrics_observe(srv *s, double seconds) {
    size_t i = 0;
    while (i < SRV_NBUCKETS && seconds > bucket_bounds[i])
        i++;
    atomic_fetch_add_explicit(&s->m.duration_bucket[i], 1,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&s->m.duration_sum_ns,
                              (unsigned long long)(seconds * 1e9 + 0.5),
                              memory_order_relaxed);
}

/* A label value in Prometheus text: backslash, quote and newline escaped. */
static void label(FILE *f, const char *v) {
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            fputc('\\', f);
        if (*v == '\n')
            fputs("\\n", f);
        else
            fputc(*v, f);
    }
}

char *srv_metrics_text(srv *s, size_t *len) {
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        return NULL;
    const srv_metrics *m = &s->m;
    static const char *const results[3] = {"allowed", "denied", "approval"};
    fputs("# HELP agent_auth_decisions_total Decisions made, by result.\n"
          "# TYPE agent_auth_decisions_total counter\n",
          f);
    for (int i = 0; i < 3; i++)
        fprintf(f, "agent_auth_decisions_total{result=\"%s\"} %llu\n",
                results[i], atomic_load(&m->decisions[i]));
    fputs("# HELP agent_auth_decision_duration_seconds Time to decide one "
          "request.\n"
          "# TYPE agent_auth_decision_duration_seconds histogram\n",
          f);
    unsigned long long cum = 0;
    for (int i = 0; i <= SRV_NBUCKETS; i++) {
        cum += atomic_load(&m->duration_bucket[i]);
        if (i < SRV_NBUCKETS)
            fprintf(f,
                    "agent_auth_decision_duration_seconds_bucket{le=\"%g\"} "
                    "%llu\n",
                    bucket_bounds[i], cum);
        else
            fprintf(f,
                    "agent_auth_decision_duration_seconds_bucket{le=\"+Inf\"} "
                    "%llu\n",
                    cum);
    }
    fprintf(f, "agent_auth_decision_duration_seconds_sum %.9f\n",
            (double)atomic_load(&m->duration_sum_ns) / 1e9);
    fprintf(f, "agent_auth_decision_duration_seconds_count %llu\n", cum);
    fputs("# HELP agent_auth_http_requests_total HTTP requests answered, by "
          "status code.\n"
          "# TYPE agent_auth_http_requests_total counter\n",
          f);
    for (int c = 100; c < 600; c++) {
        unsigned long long n = atomic_load(&m->http[c]);
        if (n)
            fprintf(f, "agent_auth_http_requests_total{code=\"%d\"} %llu\n", c,
                    n);
    }
    fprintf(f,
            "# HELP agent_auth_policy_reloads_total Policy reloads, by "
            "result.\n"
            "# TYPE agent_auth_policy_reloads_total counter\n"
            "agent_auth_policy_reloads_total{result=\"ok\"} %llu\n"
            "agent_auth_policy_reloads_total{result=\"error\"} %llu\n",
            atomic_load(&m->reloads_ok), atomic_load(&m->reloads_error));
    srv_snap *snap = srv_snap_get(s);
    fputs("# HELP agent_auth_policy_info The policy being served.\n"
          "# TYPE agent_auth_policy_info gauge\n"
          "agent_auth_policy_info{name=\"",
          f);
    label(f, aa_policy_name(snap->policy));
    fputs("\",version=\"", f);
    label(f, aa_policy_version(snap->policy));
    fprintf(f, "\",sha256=\"%s\"} 1\n", snap->sha256);
    srv_snap_put(snap);
    pthread_mutex_lock(&s->reload_mu);
    int failed = s->last_reload_error[0] != 0;
    pthread_mutex_unlock(&s->reload_mu);
    fprintf(f,
            "# HELP agent_auth_policy_last_reload_failed 1 when the last "
            "reload failed (the previous policy is serving).\n"
            "# TYPE agent_auth_policy_last_reload_failed gauge\n"
            "agent_auth_policy_last_reload_failed %d\n",
            failed);
    fprintf(f,
            "# HELP agent_auth_audit_write_errors_total Audit lines that "
            "could not be written.\n"
            "# TYPE agent_auth_audit_write_errors_total counter\n"
            "agent_auth_audit_write_errors_total %llu\n",
            atomic_load(&m->audit_write_errors));
    fclose(f);
    return buf;
}
