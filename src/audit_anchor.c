/*
 * audit_anchor.c - audit anchoring (docs/state.md): the head of the audit
 * chain (the log's identity, its line count and last hash) recorded in the
 * state store, so that `audit --verify` can tell a log cut short at its
 * tail, or missing its head, which the file alone cannot prove.
 *
 * Decisions never wait for the database: the writer's group leader only
 * copies the new head into a slot (audit.c, aa__audit_head_get), and this
 * module's thread pushes the latest head to the store at most once per
 * ANCHOR_INTERVAL_MS, and once more when the engine closes. While the store
 * is unreachable a push fails and is tried again every interval: the head
 * only moves forward, so the first push that succeeds catches up.
 */
#include "audit_anchor.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ANCHOR_INTERVAL_MS 50

struct aa__anchorer {
    aa__audit *audit; /* borrowed */
    aa_store *store;  /* borrowed */
    char path[4096];  /* the log's absolute path */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool wake; /* a new head is in the slot */
    bool stop;
    pthread_t thread;
    uint64_t seq;           /* of the head last taken from the slot */
    aa__audit_head pending; /* taken, not yet recorded */
    bool have_pending;
};

/* The log's path made absolute. A file that is not there (a log deleted
 * since) gets its directory's real path and its own name, which is the
 * path its writers recorded while it was a plain file there. */
void aa__anchor_abs_path(const char *path, char *out, size_t size) {
    char buf[PATH_MAX];
    if (realpath(path, buf)) {
        snprintf(out, size, "%s", buf);
        return;
    }
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char dir[PATH_MAX];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (*base && realpath(dir, buf) &&
        snprintf(out, size, "%s%s%s", buf, strcmp(buf, "/") ? "/" : "", base) <
            (int)size)
        return;
    snprintf(out, size, "%s", path);
}

static void notify(void *ud) { /* under the writer's mutex: only wake */
    aa__anchorer *r = ud;
    pthread_mutex_lock(&r->mu);
    r->wake = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Takes the latest head and records it: true when nothing is left. */
static bool push(aa__anchorer *r) {
    aa__audit_head h;
    if (aa__audit_head_get(r->audit, &h, &r->seq)) {
        r->pending = h;
        r->have_pending = true;
    }
    if (!r->have_pending)
        return true;
    aa__anchor a;
    memset(&a, 0, sizeof a);
    memcpy(a.identity, r->pending.identity, sizeof a.identity);
    memcpy(a.path, r->path, sizeof a.path);
    a.lines = r->pending.lines;
    memcpy(a.hash, r->pending.hash, sizeof a.hash);
    a.updated_at = aa__now_us();
    if (r->store->ops->anchor_put(r->store, &a, NULL) != AA_OK)
        return false; /* the store is down: again at the next interval */
    r->have_pending = false;
    return true;
}

static void deadline(struct timespec *t, long ms) {
    clock_gettime(CLOCK_MONOTONIC, t);
    t->tv_nsec += ms * 1000000L;
    t->tv_sec += t->tv_nsec / 1000000000L;
    t->tv_nsec %= 1000000000L;
}

static void *anchor_main(void *arg) {
    aa__anchorer *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        while (!r->wake && !r->stop && !r->have_pending)
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->stop)
            break;
        r->wake = false;
        pthread_mutex_unlock(&r->mu);
        push(r);
        pthread_mutex_lock(&r->mu);
        struct timespec until; /* at most one push per interval */
        deadline(&until, ANCHOR_INTERVAL_MS);
        while (!r->stop &&
               pthread_cond_timedwait(&r->cv, &r->mu, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int aa__anchorer_start(aa__audit *audit, aa_store *store, aa__anchorer **out) {
    *out = NULL;
    if (!audit || !store || !store->ops->anchor_put)
        return AA_OK; /* nothing to anchor in */
    aa__anchorer *r = calloc(1, sizeof *r);
    if (!r)
        return AA_ENOMEM;
    r->audit = audit;
    r->store = store;
    aa__anchor_abs_path(aa__audit_path(audit), r->path, sizeof r->path);
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&r->thread, NULL, anchor_main, r) != 0) {
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        free(r);
        return AA_ENOMEM;
    }
    aa__audit_track_head(audit, notify, r);
    *out = r;
    return AA_OK;
}

void aa__anchorer_stop(aa__anchorer *r) {
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    push(r); /* the last head (the writer is closed: the slot is final) */
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
