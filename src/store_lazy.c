/*
 * store_lazy.c - a SQLite store opened when it is first needed.
 *
 * A long-lived process (`check --batch`, a server) may start before any
 * session or delegation exists, so before the state file does. This store
 * holds only the path until then: a lookup first checks whether the file
 * exists (one lstat(2)) and finds nothing while it does not; once it
 * exists, or on the first write, the SQLite store is opened (once, under a
 * mutex) and every call goes straight to it (one atomic load). A request
 * that names no session and needs no delegation never gets here.
 *
 * A request naming a session always looks for the file: its id came from
 * a store that exists. The delegation lookup, which every request the
 * profile does not permit makes, looks at most once per RECHECK_NS while
 * the file is missing (a clock read otherwise): a stream of denials then
 * costs what it costs with a store, and a grant made meanwhile is seen a
 * millisecond later at most.
 */
#include "fsafe.h"
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define RECHECK_NS 1000000u /* 1 ms */

typedef struct lazy_store {
    aa_store base;
    char *path;
    _Atomic(aa_store *) inner;   /* NULL until opened */
    pthread_mutex_t mu;          /* serialises opening */
    _Atomic uint64_t next_check; /* throttled lookups: not before (mono ns) */
} lazy_store;

enum { LOOKUP, LOOKUP_THROTTLED, WRITE };

/* The open store, opening it when the file exists (or for a write). NULL
 * with *status AA_OK when there is no file yet; NULL with an error status
 * when it cannot be opened. */
static aa_store *inner(aa_store *base, int need, int *status, aa_error *err) {
    lazy_store *s = (lazy_store *)base;
    *status = AA_OK;
    aa_store *in = atomic_load_explicit(&s->inner, memory_order_acquire);
    if (in)
        return in;
    if (need != WRITE) {
        uint64_t now = 0;
        if (need == LOOKUP_THROTTLED) {
            now = aa__mono_ns();
            if (now <
                atomic_load_explicit(&s->next_check, memory_order_relaxed))
                return NULL; /* looked a moment ago */
        }
        struct stat st;
        if (lstat(s->path, &st) != 0 && (errno == ENOENT || errno == ENOTDIR)) {
            if (need == LOOKUP_THROTTLED)
                atomic_store_explicit(&s->next_check, now + RECHECK_NS,
                                      memory_order_relaxed);
            return NULL; /* not there yet: nothing stored */
        }
    }
    pthread_mutex_lock(&s->mu);
    in = atomic_load_explicit(&s->inner, memory_order_relaxed);
    if (!in) {
        *status = aa_store_open_sqlite(s->path, &in, err);
        if (*status == AA_OK)
            atomic_store_explicit(&s->inner, in, memory_order_release);
    }
    pthread_mutex_unlock(&s->mu);
    return in;
}

static void lazy_close(aa_store *base) {
    lazy_store *s = (lazy_store *)base;
    aa_store *in = atomic_load(&s->inner);
    if (in)
        in->ops->close(in);
    pthread_mutex_destroy(&s->mu);
    free(s->path);
    free(s);
}

/* Declares `in` and `rc`; returns `absent` when there is no store yet. */
#define INNER(need, absent)                                                    \
    int rc;                                                                    \
    aa_store *in = inner(base, need, &rc, err);                                \
    if (!in)                                                                   \
        return rc != AA_OK ? rc : (absent);

static int lazy_session_put(aa_store *base, const aa_session *sess,
                            aa_error *err) {
    INNER(WRITE, AA_OK)
    return in->ops->session_put(in, sess, err);
}

static int lazy_session_get(aa_store *base, const char *id, int64_t now,
                            aa_session *out, aa_error *err) {
    INNER(LOOKUP, AA_ENOTFOUND)
    return in->ops->session_get(in, id, now, out, err);
}

static int lazy_session_get_into(aa_store *base, const char *id, int64_t now,
                                 aa_session *out, char *buf, size_t cap,
                                 aa_error *err) {
    INNER(LOOKUP, AA_ENOTFOUND)
    if (!in->ops->session_get_into)
        return AA_ELIMIT; /* the caller then uses session_get */
    return in->ops->session_get_into(in, id, now, out, buf, cap, err);
}

static int lazy_session_revoke(aa_store *base, const char *id, int64_t now,
                               int *revoked, aa_error *err) {
    if (revoked)
        *revoked = 0;
    INNER(LOOKUP, AA_OK)
    return in->ops->session_revoke(in, id, now, revoked, err);
}

static int lazy_session_list(aa_store *base, const char *agent,
                             const char *user, int64_t now, aa_session **out,
                             size_t *n, aa_error *err) {
    if (out)
        *out = NULL;
    if (n)
        *n = 0;
    INNER(LOOKUP, AA_OK)
    return in->ops->session_list(in, agent, user, now, out, n, err);
}

static int lazy_delegation_put(aa_store *base, const aa_delegation *d,
                               aa_error *err) {
    INNER(WRITE, AA_OK)
    return in->ops->delegation_put(in, d, err);
}

static int lazy_delegation_get(aa_store *base, const char *id, int64_t now,
                               aa_delegation *out, aa_error *err) {
    INNER(LOOKUP, AA_ENOTFOUND)
    return in->ops->delegation_get(in, id, now, out, err);
}

static int lazy_delegation_find(aa_store *base, const char *agent,
                                const char *user, const char *action,
                                int64_t now, aa__deleg_hit *hit,
                                aa_error *err) {
    INNER(LOOKUP_THROTTLED, AA_ENOTFOUND)
    return in->ops->delegation_find(in, agent, user, action, now, hit, err);
}

/* The open store's cache; none before it is open (a lookup then checks
 * for the file, which is not an answer from memory). */
static struct aa__cache *lazy_read_cache(aa_store *base) {
    lazy_store *s = (lazy_store *)base;
    aa_store *in = atomic_load_explicit(&s->inner, memory_order_acquire);
    return in && in->ops->read_cache ? in->ops->read_cache(in) : NULL;
}

static int lazy_delegation_revoke(aa_store *base, const char *id, int64_t now,
                                  int *revoked, aa_error *err) {
    if (revoked)
        *revoked = 0;
    INNER(LOOKUP, AA_OK)
    return in->ops->delegation_revoke(in, id, now, revoked, err);
}

static int lazy_delegation_list(aa_store *base, const char *agent, int64_t now,
                                aa_delegation **out, size_t *n, aa_error *err) {
    if (out)
        *out = NULL;
    if (n)
        *n = 0;
    INNER(LOOKUP, AA_OK)
    return in->ops->delegation_list(in, agent, now, out, n, err);
}

static int lazy_cleanup(aa_store *base, int64_t now, int64_t retention_us,
                        size_t *marked, size_t *purged, aa_error *err) {
    if (marked)
        *marked = 0;
    if (purged)
        *purged = 0;
    INNER(LOOKUP, AA_OK)
    return in->ops->cleanup(in, now, retention_us, marked, purged, err);
}

static const aa__store_ops lazy_ops = {
    .kind = "sqlite",
    .close = lazy_close,
    .session_put = lazy_session_put,
    .session_get = lazy_session_get,
    .session_get_into = lazy_session_get_into,
    .session_revoke = lazy_session_revoke,
    .session_list = lazy_session_list,
    .delegation_put = lazy_delegation_put,
    .delegation_get = lazy_delegation_get,
    .delegation_find = lazy_delegation_find,
    .read_cache = lazy_read_cache,
    .delegation_revoke = lazy_delegation_revoke,
    .delegation_list = lazy_delegation_list,
    .cleanup = lazy_cleanup,
};

int aa_store_open_sqlite_lazy(const char *path, aa_store **out, aa_error *err) {
    if (!out)
        return aa__fail(err, AA_EINVAL,
                        "aa_store_open_sqlite_lazy: out is NULL");
    *out = NULL;
    if (aa__empty(path))
        return aa__fail(err, AA_EINVAL, "state store: empty path");
    /* What is there already is checked now: a planted directory or an
     * unsafe file is refused at start, not at the first lookup. */
    aa__fs_target t = {.what = "state store",
                       .path = path,
                       .status = AA_ESTATE,
                       .refused = AA_ESTATE};
    struct stat st;
    bool exists = lstat(path, &st) == 0;
    if (!exists) {
        aa_error *quiet = aa_error_new();
        int rc = aa__fs_check_dir(&t, false, quiet);
        aa_error_free(quiet);
        if (rc != AA_OK && rc != AA_ENOTFOUND)
            return aa__fs_check_dir(&t, false, err); /* now with the message */
    }
    lazy_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return aa__fail(err, AA_ENOMEM, "out of memory");
    }
    s->base.ops = &lazy_ops;
    pthread_mutex_init(&s->mu, NULL);
    atomic_init(&s->inner, NULL);
    atomic_init(&s->next_check, 0);
    if (exists) {
        aa_store *in = NULL;
        int rc = aa_store_open_sqlite(path, &in, err);
        if (rc != AA_OK) {
            lazy_close(&s->base);
            return rc;
        }
        atomic_store(&s->inner, in);
    }
    *out = &s->base;
    return AA_OK;
}
