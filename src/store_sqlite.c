/*
 * store_sqlite.c - the default state store: one SQLite file in WAL mode,
 * shared by every process that opens the same path.
 *
 * A store holds a small pool of connections, each with its prepared
 * statements (made once, reused) and a mutex held for the length of a call:
 * a statement's step/column/reset sequence must not interleave between
 * threads, and with one connection per busy thread the lookups of several
 * threads run in parallel (one shared connection serialises them all; see
 * bench/bench_store.c). The pool starts with one connection and grows only
 * when every open one is in use. Single-statement writes are atomic
 * transactions by themselves (a write statement takes the write lock before
 * it reads, so the busy timeout applies); cleanup, which runs several
 * statements, uses BEGIN IMMEDIATE. Status changes are conditional updates
 * (`... AND status = 'active'`), so two processes revoking the same grant
 * cannot both succeed.
 *
 * A grant's action patterns are kept in the grant row as one BLOB, the
 * patterns separated by NUL bytes: delegation_find reads them straight from
 * the row without parsing or allocating, and a pair's live grants are found
 * through a partial index on (to_agent, from_user, granted_at) that holds
 * active rows only.
 *
 * Lookups on the decision path (session_get, delegation_find) go through a
 * read cache checked against a generation counter that every write bumps
 * (store_cache.h): while nothing changed, they cost no SQLite call at all.
 */
#include "fsafe.h"
#include "pattern.h"
#include "store.h"
#include "store_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCHEMA_VERSION  1
#define DEFAULT_BUSY_MS 5000

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS sessions ("
    " session_id TEXT PRIMARY KEY NOT NULL,"
    " agent TEXT NOT NULL,"
    " user TEXT NOT NULL,"
    " scope TEXT NOT NULL DEFAULT '',"
    " created_at INTEGER NOT NULL," /* microseconds since the epoch */
    " expires_at INTEGER NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('active','expired','revoked')));"
    "CREATE INDEX IF NOT EXISTS sessions_live"
    " ON sessions (agent, user, created_at) WHERE status = 'active';"
    "CREATE TABLE IF NOT EXISTS delegations ("
    " delegation_id TEXT PRIMARY KEY NOT NULL,"
    " from_user TEXT NOT NULL,"
    " to_agent TEXT NOT NULL,"
    " actions BLOB NOT NULL," /* patterns separated by NUL bytes */
    " granted_at INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL,"
    " reason TEXT NOT NULL DEFAULT '',"
    " status TEXT NOT NULL CHECK (status IN ('active','expired','revoked')));"
    "CREATE INDEX IF NOT EXISTS delegations_live"
    " ON delegations (to_agent, from_user, granted_at)"
    " WHERE status = 'active';"
    "PRAGMA user_version = 1;";

#define SESS_COLS                                                              \
    "session_id, agent, user, scope, created_at, expires_at, status"
#define DEL_COLS                                                               \
    "delegation_id, from_user, to_agent, actions, granted_at, expires_at, "    \
    "reason, status"
/* Live rows: the literal status test lets the planner use the partial
 * indexes. */
#define LIVE "status = 'active' AND expires_at > ?3"

enum {
    Q_SESS_PUT,
    Q_SESS_GET,
    Q_SESS_EXPIRE,
    Q_SESS_REVOKE,
    Q_SESS_LIST,
    Q_SESS_LIST_AGENT,
    Q_SESS_LIST_USER,
    Q_SESS_LIST_BOTH,
    Q_DEL_PUT,
    Q_DEL_GET,
    Q_DEL_EXPIRE,
    Q_DEL_FIND,
    Q_DEL_REVOKE,
    Q_DEL_LIST,
    Q_DEL_LIST_AGENT,
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_MARK_SESS,
    Q_MARK_DEL,
    Q_PURGE_SESS,
    Q_PURGE_DEL,
    Q_COUNT
};

static const char *const query_sql[Q_COUNT] = {
    [Q_SESS_PUT] = "INSERT INTO sessions (" SESS_COLS
                   ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [Q_SESS_GET] = "SELECT " SESS_COLS " FROM sessions WHERE session_id = ?1",
    [Q_SESS_EXPIRE] = "UPDATE sessions SET status = 'expired'"
                      " WHERE session_id = ?1 AND status = 'active'"
                      " AND expires_at <= ?2",
    [Q_SESS_REVOKE] = "UPDATE sessions SET status = CASE WHEN expires_at > ?2"
                      " THEN 'revoked' ELSE 'expired' END"
                      " WHERE session_id = ?1 AND status = 'active'"
                      " RETURNING status",
    [Q_SESS_LIST] = "SELECT " SESS_COLS " FROM sessions WHERE " LIVE
                    " ORDER BY created_at, rowid",
    [Q_SESS_LIST_AGENT] = "SELECT " SESS_COLS " FROM sessions WHERE agent = ?1"
                          " AND " LIVE " ORDER BY created_at, rowid",
    [Q_SESS_LIST_USER] = "SELECT " SESS_COLS " FROM sessions WHERE user = ?2"
                         " AND " LIVE " ORDER BY created_at, rowid",
    [Q_SESS_LIST_BOTH] =
        "SELECT " SESS_COLS " FROM sessions WHERE agent = ?1"
        " AND user = ?2 AND " LIVE " ORDER BY created_at, rowid",
    [Q_DEL_PUT] = "INSERT INTO delegations (" DEL_COLS
                  ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [Q_DEL_GET] =
        "SELECT " DEL_COLS " FROM delegations WHERE delegation_id = ?1",
    [Q_DEL_EXPIRE] = "UPDATE delegations SET status = 'expired'"
                     " WHERE delegation_id = ?1 AND status = 'active'"
                     " AND expires_at <= ?2",
    [Q_DEL_FIND] = "SELECT delegation_id, expires_at, actions FROM delegations"
                   " WHERE to_agent = ?1 AND from_user = ?2 AND " LIVE
                   " ORDER BY granted_at, rowid",
    [Q_DEL_REVOKE] = "UPDATE delegations SET status = CASE"
                     " WHEN expires_at > ?2 THEN 'revoked' ELSE 'expired' END"
                     " WHERE delegation_id = ?1 AND status = 'active'"
                     " RETURNING status",
    [Q_DEL_LIST] = "SELECT " DEL_COLS " FROM delegations WHERE " LIVE
                   " ORDER BY granted_at, rowid",
    [Q_DEL_LIST_AGENT] =
        "SELECT " DEL_COLS " FROM delegations WHERE to_agent = ?1 AND " LIVE
        " ORDER BY granted_at, rowid",
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_MARK_SESS] = "UPDATE sessions SET status = 'expired'"
                    " WHERE status = 'active' AND expires_at <= ?1",
    [Q_MARK_DEL] = "UPDATE delegations SET status = 'expired'"
                   " WHERE status = 'active' AND expires_at <= ?1",
    [Q_PURGE_SESS] = "DELETE FROM sessions"
                     " WHERE status <> 'active' AND expires_at < ?1",
    [Q_PURGE_DEL] = "DELETE FROM delegations"
                    " WHERE status <> 'active' AND expires_at < ?1",
};

/* The SQL of the indexed lookups, so that a test can check their query
 * plans on the real file: "session_get", "delegation_find",
 * "session_list_agent". NULL for any other name. Internal. */
const char *aa__store_sqlite_sql(const char *name);
const char *aa__store_sqlite_sql(const char *name) {
    if (strcmp(name, "session_get") == 0)
        return query_sql[Q_SESS_GET];
    if (strcmp(name, "delegation_find") == 0)
        return query_sql[Q_DEL_FIND];
    if (strcmp(name, "delegation_get") == 0)
        return query_sql[Q_DEL_GET];
    if (strcmp(name, "session_list_agent") == 0)
        return query_sql[Q_SESS_LIST_AGENT];
    return NULL;
}

/* Up to this many connections per store, opened as threads need them:
 * SQLite runs statements on different connections in parallel. */
#define POOL 4

typedef struct sq_store sq_store;

typedef struct sq_conn {
    pthread_mutex_t mu; /* held while a call uses the connection */
    sq_store *store;
    sqlite3 *db;
    sqlite3_stmt *q[Q_COUNT];
} sq_conn;

struct sq_store {
    aa_store base;
    char *path;
    int busy_ms;
    sq_conn conns[POOL];
    atomic_uint nconns;   /* conns[0..nconns) are open */
    atomic_uint next;     /* where a caller that must wait waits */
    atomic_bool no_more;  /* opening another connection failed */
    pthread_mutex_t grow; /* serialises opening connections */
    /* Serialises this process's writes before they reach SQLite's file
     * lock, whose busy handler waits by sleeping. Taken after a
     * connection, never before one. */
    pthread_mutex_t wmu;
    aa__cache *cache; /* NULL: every lookup reads the file */
};

/* ---- errors -------------------------------------------------------------- */

static int sq_vfail(const char *path, int busy_ms, int rc, const char *msg,
                    aa_error *err, const char *fmt, va_list ap)
    AA__PRINTF(6, 0);
static int sq_vfail(const char *path, int busy_ms, int rc, const char *msg,
                    aa_error *err, const char *fmt, va_list ap) {
    aa__buf what;
    aa__buf_init(&what);
    aa__buf_vprintf(&what, fmt, ap);
    int prim = rc & 0xff;
    int status;
    if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED) {
        status = aa__fail(err, AA_EBUSY,
                          "state store '%s': database is locked by another "
                          "connection (gave up after %d ms, while %s)",
                          path, busy_ms, what.data ? what.data : "");
    } else if (prim == SQLITE_NOMEM) {
        status =
            aa__fail(err, AA_ENOMEM, "state store '%s': out of memory", path);
    } else {
        status = aa__fail(err, AA_ESTATE, "state store '%s': %s (while %s)",
                          path, msg ? msg : sqlite3_errstr(rc),
                          what.data ? what.data : "");
    }
    aa__buf_free(&what);
    return status;
}

/* Reports a SQLite failure; the message is taken from the connection, so
 * call this before resetting the statement. */
static int sq_fail(sq_conn *c, int rc, aa_error *err, const char *fmt, ...)
    AA__PRINTF(4, 5);
static int sq_fail(sq_conn *c, int rc, aa_error *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int status = sq_vfail(c->store->path, c->store->busy_ms, rc,
                          c->db ? sqlite3_errmsg(c->db) : NULL, err, fmt, ap);
    va_end(ap);
    return status;
}

/* ---- small helpers ------------------------------------------------------- */

static int conn_open(sq_store *s, sq_conn *c, bool first, aa_error *err);
static void conn_close(sq_conn *c);

/* A connection for this call: the first idle one, else a new one while
 * the pool is not full, else wait for one. */
static sq_conn *conn_get(sq_store *s) {
    unsigned n = atomic_load_explicit(&s->nconns, memory_order_acquire);
    for (unsigned i = 0; i < n; i++)
        if (pthread_mutex_trylock(&s->conns[i].mu) == 0)
            return &s->conns[i];
    if (n < POOL && !atomic_load_explicit(&s->no_more, memory_order_relaxed)) {
        pthread_mutex_lock(&s->grow);
        unsigned k = atomic_load_explicit(&s->nconns, memory_order_relaxed);
        if (k < POOL) {
            sq_conn *c = &s->conns[k];
            if (conn_open(s, c, false, NULL) == AA_OK) {
                pthread_mutex_lock(&c->mu);
                atomic_store_explicit(&s->nconns, k + 1, memory_order_release);
                pthread_mutex_unlock(&s->grow);
                return c;
            }
            conn_close(c);
            atomic_store_explicit(&s->no_more, true, memory_order_relaxed);
        }
        pthread_mutex_unlock(&s->grow);
        n = atomic_load_explicit(&s->nconns, memory_order_acquire);
    }
    unsigned i = atomic_fetch_add_explicit(&s->next, 1, memory_order_relaxed);
    sq_conn *c = &s->conns[i % n];
    pthread_mutex_lock(&c->mu);
    return c;
}

static void conn_put(sq_conn *c) {
    pthread_mutex_unlock(&c->mu);
}

static void write_lock(sq_conn *c) {
    pthread_mutex_lock(&c->store->wmu);
}
/* After a write has committed: other processes' caches must not answer
 * from what they read before it. */
static void write_unlock(sq_conn *c) {
    if (c->store->cache)
        aa__cache_bump(c->store->cache);
    pthread_mutex_unlock(&c->store->wmu);
}

static void bind_text(sqlite3_stmt *st, int i, const char *v) {
    sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_STATIC);
}

/* Column i as text; NULL reads as "". */
static const char *col_text(sqlite3_stmt *st, int i) {
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

static void copy_id(char dst[37], sqlite3_stmt *st, int i) {
    snprintf(dst, 37, "%s", col_text(st, i));
}

/* Steps a write statement to completion and resets it. */
/* Connection c's statement q, prepared on its first use: a short-lived
 * process (one `agent-auth check`) needs two or three of the statements,
 * and preparing all of them was half of its work. *status is AA_OK, or
 * says why it cannot be prepared (AA_EBUSY, AA_ENOMEM, AA_ESTATE; err has
 * the message) and then the result is NULL. */
static sqlite3_stmt *stmt(sq_conn *c, int q, int *status, aa_error *err) {
    *status = AA_OK;
    if (!c->q[q]) {
        int rc = sqlite3_prepare_v3(c->db, query_sql[q], -1,
                                    SQLITE_PREPARE_PERSISTENT, &c->q[q], NULL);
        if (rc != SQLITE_OK) {
            sqlite3_finalize(c->q[q]);
            c->q[q] = NULL;
            *status = sq_fail(c, rc, err, "preparing a statement");
        }
    }
    return c->q[q];
}

/* A connection of the pool with its statement q in *st; NULL, with the
 * connection given back and *status saying why, when q cannot be
 * prepared. */
static sq_conn *conn_stmt(sq_store *s, int q, sqlite3_stmt **st, int *status,
                          aa_error *err) {
    sq_conn *c = conn_get(s);
    *st = stmt(c, q, status, err);
    if (*st)
        return c;
    conn_put(c);
    return NULL;
}

/* Steps st to its end; st NULL (not prepared) is a state error. */
static int run(sq_conn *c, sqlite3_stmt *st, aa_error *err, const char *what) {
    if (!st)
        return AA_ESTATE;
    int rc = sqlite3_step(st);
    while (rc == SQLITE_ROW)
        rc = sqlite3_step(st);
    int status = AA_OK;
    if (rc != SQLITE_DONE)
        status = sq_fail(c, rc, err, "%s", what);
    sqlite3_reset(st);
    return status;
}

/* ---- sessions ------------------------------------------------------------ */

static int session_from_row(sqlite3_stmt *st, aa_session *out) {
    return aa__session_from_cols(out, col_text(st, 0), col_text(st, 1),
                                 col_text(st, 2), col_text(st, 3),
                                 sqlite3_column_int64(st, 4),
                                 sqlite3_column_int64(st, 5), col_text(st, 6));
}

static int sq_session_put(aa_store *base, const aa_session *sess,
                          aa_error *err) {
    sq_store *s = (sq_store *)base;
    if (!sess || !sess->session_id[0] || !sess->agent || !sess->user)
        return aa__fail(err, AA_EINVAL, "session_put: missing field");
    sqlite3_stmt *st;
    int status;
    sq_conn *c = conn_stmt(s, Q_SESS_PUT, &st, &status, err);
    if (!c)
        return status;
    bind_text(st, 1, sess->session_id);
    bind_text(st, 2, sess->agent);
    bind_text(st, 3, sess->user);
    bind_text(st, 4, sess->scope);
    sqlite3_bind_int64(st, 5, sess->created_at);
    sqlite3_bind_int64(st, 6, sess->expires_at);
    bind_text(st, 7, aa_grant_status_name(sess->status));
    write_lock(c);
    int rc = sqlite3_step(st);
    write_unlock(c);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        status = aa__fail(err, AA_ESTATE,
                          "state store '%s': session '%s' already exists",
                          s->path, sess->session_id);
    else if (rc != SQLITE_DONE)
        status = sq_fail(c, rc, err, "saving session '%s'", sess->session_id);
    sqlite3_reset(st);
    conn_put(c);
    return status;
}

/* Marks a row that was seen active but past its expiry. Returns AA_OK and
 * *changed = 1 when this call marked it. */
static int mark_expired(sq_conn *c, int q, const char *id, int64_t now,
                        int *changed, aa_error *err) {
    *changed = 0;
    int status;
    sqlite3_stmt *st = stmt(c, q, &status, err);
    if (!st)
        return status;
    bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    write_lock(c);
    status = run(c, st, err, "marking an expired grant");
    *changed = status == AA_OK && sqlite3_changes(c->db) > 0;
    write_unlock(c);
    return status;
}

static int sq_session_get(aa_store *base, const char *id, int64_t now,
                          aa_session *out, aa_error *err) {
    sq_store *s = (sq_store *)base;
    if (!id || !out)
        return aa__fail(err, AA_EINVAL, "session_get: missing argument");
    memset(out, 0, sizeof *out);
    uint64_t gen = 0;
    int status = AA_OK;
    if (s->cache) {
        gen = aa__cache_gen(s->cache);
        if (aa__cache_session_answer(s->cache, id, gen, now, out, &status))
            return status;
    }
    bool wrote = false;
    sq_conn *c = conn_get(s);
    for (int attempt = 0; attempt < 2; attempt++) {
        sqlite3_stmt *st = stmt(c, Q_SESS_GET, &status, err);
        if (!st)
            break;
        bind_text(st, 1, id);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) {
            status = AA_ENOTFOUND; /* not an error worth a message */
        } else if (rc == SQLITE_ROW) {
            status = session_from_row(st, out);
            if (status != AA_OK)
                aa__fail(err, status, "out of memory");
        } else {
            status = sq_fail(c, rc, err, "reading session '%s'", id);
        }
        sqlite3_reset(st);
        if (status != AA_OK || out->status != AA_GRANT_ACTIVE ||
            now < out->expires_at)
            break;
        /* Expired by the clock whether or not the mark can be written now
         * (the file may be locked): the next read or cleanup marks it. When
         * another writer changed the row meanwhile, read it again. */
        int changed = 0;
        wrote = true;
        if (mark_expired(c, Q_SESS_EXPIRE, id, now, &changed, NULL) != AA_OK ||
            changed || attempt == 1) {
            out->status = AA_GRANT_EXPIRED;
            break;
        }
        aa_session_clear(out);
    }
    conn_put(c);
    /* What was read under generation gen; after a write of our own the
     * generation moved on and the next lookup reads again. */
    if (s->cache && !wrote && (status == AA_OK || status == AA_ENOTFOUND))
        aa__cache_session_put(s->cache, id, gen, status == AA_OK ? out : NULL);
    if (status != AA_OK)
        aa_session_clear(out);
    return status;
}

static aa__cache *sq_read_cache(aa_store *base) {
    return ((sq_store *)base)->cache;
}

static int sq_session_get_into(aa_store *base, const char *id, int64_t now,
                               aa_session *out, char *buf, size_t cap,
                               aa_error *err) {
    sq_store *s = (sq_store *)base;
    return aa__store_session_get_into(base, s->cache, id, now, out, buf, cap,
                                      err);
}

static int revoke_row(sq_store *s, int q, const char *id, int64_t now,
                      int *revoked, aa_error *err) {
    *revoked = 0;
    sqlite3_stmt *st;
    int rc, status;
    sq_conn *c = conn_stmt(s, q, &st, &status, err);
    if (!c)
        return status;
    bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    write_lock(c);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        *revoked = aa__grant_status_from_text((const char *)sqlite3_column_text(
                       st, 0)) == AA_GRANT_REVOKED;
    }
    write_unlock(c);
    if (rc != SQLITE_DONE) {
        *revoked = 0;
        status = sq_fail(c, rc, err, "revoking '%s'", id);
    }
    sqlite3_reset(st);
    conn_put(c);
    return status;
}

static int sq_session_revoke(aa_store *base, const char *id, int64_t now,
                             int *revoked, aa_error *err) {
    if (!id || !revoked)
        return aa__fail(err, AA_EINVAL, "session_revoke: missing argument");
    return revoke_row((sq_store *)base, Q_SESS_REVOKE, id, now, revoked, err);
}

/* A growable array of rows for the list functions. */
typedef struct rows {
    void *items;
    size_t n, cap, size;
} rows;

static void *rows_push(rows *r) {
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        void *p = realloc(r->items, cap * r->size);
        if (!p)
            return NULL;
        r->items = p;
        r->cap = cap;
    }
    void *slot = (char *)r->items + r->n * r->size;
    memset(slot, 0, r->size);
    return slot;
}

static int sq_session_list(aa_store *base, const char *agent, const char *user,
                           int64_t now, aa_session **out, size_t *n,
                           aa_error *err) {
    sq_store *s = (sq_store *)base;
    if (!out || !n)
        return aa__fail(err, AA_EINVAL, "session_list: missing argument");
    *out = NULL;
    *n = 0;
    int q = agent ? (user ? Q_SESS_LIST_BOTH : Q_SESS_LIST_AGENT)
                  : (user ? Q_SESS_LIST_USER : Q_SESS_LIST);
    rows r = {.size = sizeof(aa_session)};
    int status, rc;
    sqlite3_stmt *st;
    sq_conn *c = conn_stmt(s, q, &st, &status, err);
    if (!c)
        return status;
    if (agent)
        bind_text(st, 1, agent);
    if (user)
        bind_text(st, 2, user);
    sqlite3_bind_int64(st, 3, now);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        aa_session *row = rows_push(&r);
        if (!row || session_from_row(st, row) != AA_OK) {
            status = aa__fail(err, AA_ENOMEM, "out of memory");
            break;
        }
        r.n++;
    }
    if (status == AA_OK && rc != SQLITE_DONE)
        status = sq_fail(c, rc, err, "listing sessions");
    sqlite3_reset(st);
    conn_put(c);
    if (status != AA_OK) {
        aa_session_list_free(r.items, r.n);
        return status;
    }
    *out = r.items;
    *n = r.n;
    return AA_OK;
}

/* ---- delegations --------------------------------------------------------- */

static int delegation_from_row(sqlite3_stmt *st, aa_delegation *out) {
    const char *blob = sqlite3_column_blob(st, 3); /* before its length */
    size_t len = (size_t)sqlite3_column_bytes(st, 3);
    return aa__delegation_from_cols(
        out, col_text(st, 0), col_text(st, 1), col_text(st, 2), blob, len,
        sqlite3_column_int64(st, 4), sqlite3_column_int64(st, 5),
        col_text(st, 6), col_text(st, 7));
}

static int sq_delegation_put(aa_store *base, const aa_delegation *d,
                             aa_error *err) {
    sq_store *s = (sq_store *)base;
    if (!d || !d->delegation_id[0] || !d->from_user || !d->to_agent ||
        (d->action_count && !d->actions))
        return aa__fail(err, AA_EINVAL, "delegation_put: missing field");
    aa__buf acts;
    aa__buf_init(&acts);
    if (!aa__grant_actions_pack(d, &acts)) {
        aa__buf_free(&acts);
        return aa__fail(err, AA_ENOMEM, "out of memory");
    }
    sqlite3_stmt *st;
    int status;
    sq_conn *c = conn_stmt(s, Q_DEL_PUT, &st, &status, err);
    if (!c) {
        aa__buf_free(&acts);
        return status;
    }
    bind_text(st, 1, d->delegation_id);
    bind_text(st, 2, d->from_user);
    bind_text(st, 3, d->to_agent);
    sqlite3_bind_blob(st, 4, acts.data ? acts.data : "", (int)acts.len,
                      SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, d->granted_at);
    sqlite3_bind_int64(st, 6, d->expires_at);
    bind_text(st, 7, d->reason);
    bind_text(st, 8, aa_grant_status_name(d->status));
    write_lock(c);
    int rc = sqlite3_step(st);
    write_unlock(c);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        status = aa__fail(err, AA_ESTATE,
                          "state store '%s': delegation '%s' already exists",
                          s->path, d->delegation_id);
    else if (rc != SQLITE_DONE)
        status =
            sq_fail(c, rc, err, "saving delegation '%s'", d->delegation_id);
    sqlite3_reset(st);
    conn_put(c);
    aa__buf_free(&acts);
    return status;
}

static int sq_delegation_get(aa_store *base, const char *id, int64_t now,
                             aa_delegation *out, aa_error *err) {
    sq_store *s = (sq_store *)base;
    if (!id || !out)
        return aa__fail(err, AA_EINVAL, "delegation_get: missing argument");
    memset(out, 0, sizeof *out);
    int status = AA_OK;
    sq_conn *c = conn_get(s);
    for (int attempt = 0; attempt < 2; attempt++) {
        sqlite3_stmt *st = stmt(c, Q_DEL_GET, &status, err);
        if (!st)
            break;
        bind_text(st, 1, id);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            status = AA_ENOTFOUND;
        else if (rc == SQLITE_ROW && delegation_from_row(st, out) != AA_OK)
            status = aa__fail(err, AA_ENOMEM, "out of memory");
        else if (rc != SQLITE_ROW)
            status = sq_fail(c, rc, err, "reading delegation '%s'", id);
        sqlite3_reset(st);
        if (status != AA_OK || out->status != AA_GRANT_ACTIVE ||
            now < out->expires_at)
            break;
        /* Expired by the clock whether or not the mark can be written now
         * (the file may be locked): the next read or cleanup marks it. When
         * another writer changed the row meanwhile, read it again. */
        int changed = 0;
        if (mark_expired(c, Q_DEL_EXPIRE, id, now, &changed, NULL) != AA_OK ||
            changed || attempt == 1) {
            out->status = AA_GRANT_EXPIRED;
            break;
        }
        aa_delegation_clear(out);
    }
    conn_put(c);
    if (status != AA_OK)
        aa_delegation_clear(out);
    return status;
}

/* Reads the pair's live grants, oldest first, for the cache. */
static int read_pair(sq_conn *c, const char *agent, const char *user,
                     int64_t now, aa__cache_grant **out, size_t *n,
                     aa_error *err) {
    rows r = {.size = sizeof(aa__cache_grant)};
    int status, rc;
    sqlite3_stmt *st = stmt(c, Q_DEL_FIND, &status, err);
    if (!st)
        return status;
    bind_text(st, 1, agent);
    bind_text(st, 2, user);
    sqlite3_bind_int64(st, 3, now);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        aa__cache_grant *g = rows_push(&r);
        const char *blob = sqlite3_column_blob(st, 2);
        size_t len = (size_t)sqlite3_column_bytes(st, 2);
        if (!g || !(g->patterns = malloc(len ? len : 1))) {
            status = aa__fail(err, AA_ENOMEM, "out of memory");
            break;
        }
        if (len)
            memcpy(g->patterns, blob, len);
        g->len = len;
        copy_id(g->id, st, 0);
        g->expires_at = sqlite3_column_int64(st, 1);
        r.n++;
    }
    if (status == AA_OK && rc != SQLITE_DONE)
        status = sq_fail(c, rc, err, "finding a delegation to '%s'", agent);
    sqlite3_reset(st);
    if (status != AA_OK) {
        aa__cache_grants_free(r.items, r.n);
        return status;
    }
    *out = r.items;
    *n = r.n;
    return AA_OK;
}

/* The hot path. Cached: a hash probe while no process wrote the store.
 * Uncached: one index range of the (agent, user) pair, oldest first, the
 * patterns tested in place in each row's blob, nothing allocated. */
static int sq_delegation_find(aa_store *base, const char *agent,
                              const char *user, const char *action, int64_t now,
                              aa__deleg_hit *hit, aa_error *err) {
    sq_store *s = (sq_store *)base;
    if (!agent || !user || !action || !hit)
        return aa__fail(err, AA_EINVAL, "delegation_find: missing argument");
    size_t alen = strlen(action);
    if (s->cache) {
        uint64_t gen = aa__cache_gen(s->cache);
        bool found;
        if (!aa__cache_deleg_find(s->cache, agent, user, action, now, gen,
                                  &found, hit)) {
            aa__cache_grant *grants = NULL;
            size_t n = 0;
            sq_conn *c = conn_get(s);
            int status = read_pair(c, agent, user, now, &grants, &n, err);
            conn_put(c);
            if (status != AA_OK)
                return status;
            aa__cache_deleg_put(s->cache, agent, user, gen, grants, n);
            if (!aa__cache_deleg_find(s->cache, agent, user, action, now, gen,
                                      &found, hit)) {
                /* The cache was emptied meanwhile: read once more, uncached. */
                goto uncached;
            }
        }
        return found ? AA_OK : AA_ENOTFOUND;
    }
uncached:;
    int status, rc;
    sqlite3_stmt *st;
    sq_conn *c = conn_stmt(s, Q_DEL_FIND, &st, &status, err);
    if (!c)
        return status;
    status = AA_ENOTFOUND;
    bind_text(st, 1, agent);
    bind_text(st, 2, user);
    sqlite3_bind_int64(st, 3, now);
    while (status == AA_ENOTFOUND && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *blob = sqlite3_column_blob(st, 2);
        size_t len = (size_t)sqlite3_column_bytes(st, 2);
        if (aa__grant_patterns_match(blob, len, action, alen, hit)) {
            copy_id(hit->delegation_id, st, 0);
            hit->expires_at = sqlite3_column_int64(st, 1);
            status = AA_OK;
        }
    }
    if (status == AA_ENOTFOUND && rc != SQLITE_DONE)
        status = sq_fail(c, rc, err, "finding a delegation to '%s'", agent);
    sqlite3_reset(st);
    conn_put(c);
    return status;
}

static int sq_delegation_revoke(aa_store *base, const char *id, int64_t now,
                                int *revoked, aa_error *err) {
    if (!id || !revoked)
        return aa__fail(err, AA_EINVAL, "delegation_revoke: missing argument");
    return revoke_row((sq_store *)base, Q_DEL_REVOKE, id, now, revoked, err);
}

static int sq_delegation_list(aa_store *base, const char *agent, int64_t now,
                              aa_delegation **out, size_t *n, aa_error *err) {
    sq_store *s = (sq_store *)base;
    if (!out || !n)
        return aa__fail(err, AA_EINVAL, "delegation_list: missing argument");
    *out = NULL;
    *n = 0;
    rows r = {.size = sizeof(aa_delegation)};
    int status, rc;
    sqlite3_stmt *st;
    sq_conn *c =
        conn_stmt(s, agent ? Q_DEL_LIST_AGENT : Q_DEL_LIST, &st, &status, err);
    if (!c)
        return status;
    if (agent)
        bind_text(st, 1, agent);
    sqlite3_bind_int64(st, 3, now);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        aa_delegation *row = rows_push(&r);
        if (!row || delegation_from_row(st, row) != AA_OK) {
            status = aa__fail(err, AA_ENOMEM, "out of memory");
            break;
        }
        r.n++;
    }
    if (status == AA_OK && rc != SQLITE_DONE)
        status = sq_fail(c, rc, err, "listing delegations");
    sqlite3_reset(st);
    conn_put(c);
    if (status != AA_OK) {
        aa_delegation_list_free(r.items, r.n);
        return status;
    }
    *out = r.items;
    *n = r.n;
    return AA_OK;
}

/* ---- cleanup ------------------------------------------------------------- */

static int sq_cleanup(aa_store *base, int64_t now, int64_t retention_us,
                      size_t *marked, size_t *purged, aa_error *err) {
    sq_store *s = (sq_store *)base;
    int64_t cutoff;
    int rc = aa__cleanup_cutoff(now, retention_us, &cutoff, err);
    if (rc != AA_OK)
        return rc;
    size_t nmarked = 0, npurged = 0;
    sq_conn *c = conn_get(s);
    /* Every statement of the transaction is prepared before it begins, so
     * that ROLLBACK (or COMMIT) cannot fail to prepare inside it and leave
     * the connection holding the write lock. */
    static const int steps[4] = {Q_MARK_SESS, Q_MARK_DEL, Q_PURGE_SESS,
                                 Q_PURGE_DEL};
    static const int all[7] = {Q_BEGIN,      Q_MARK_SESS, Q_MARK_DEL,
                               Q_PURGE_SESS, Q_PURGE_DEL, Q_COMMIT,
                               Q_ROLLBACK};
    int status = AA_OK;
    for (int i = 0; status == AA_OK && i < 7; i++)
        stmt(c, all[i], &status, err);
    if (status != AA_OK) {
        conn_put(c);
        return status;
    }
    write_lock(c);
    status = run(c, c->q[Q_BEGIN], err, "starting cleanup");
    for (int i = 0; status == AA_OK && i < 4; i++) {
        sqlite3_stmt *st = c->q[steps[i]];
        sqlite3_bind_int64(st, 1, i < 2 ? now : cutoff);
        status = run(c, st, err, "cleaning up");
        if (status == AA_OK)
            *(i < 2 ? &nmarked : &npurged) += (size_t)sqlite3_changes(c->db);
    }
    if (status == AA_OK)
        status = run(c, c->q[Q_COMMIT], err, "committing cleanup");
    if (status != AA_OK && !sqlite3_get_autocommit(c->db))
        run(c, c->q[Q_ROLLBACK], NULL, "rolling back cleanup");
    write_unlock(c);
    conn_put(c);
    if (status != AA_OK)
        nmarked = npurged = 0;
    if (marked)
        *marked = nmarked;
    if (purged)
        *purged = npurged;
    return status;
}

/* ---- open and close ------------------------------------------------------ */

static void conn_close(sq_conn *c) {
    for (int i = 0; i < Q_COUNT; i++) {
        sqlite3_finalize(c->q[i]);
        c->q[i] = NULL;
    }
    sqlite3_close(c->db);
    c->db = NULL;
}

static void sq_close(aa_store *base) {
    sq_store *s = (sq_store *)base;
    if (!s)
        return;
    for (int i = 0; i < POOL; i++) {
        conn_close(&s->conns[i]);
        pthread_mutex_destroy(&s->conns[i].mu);
    }
    pthread_mutex_destroy(&s->grow);
    pthread_mutex_destroy(&s->wmu);
    aa__cache_close(s->cache);
    free(s->path);
    free(s);
}

/* Every row, for `state copy`: sessions, then delegations, oldest first. */
static int sq_each(aa_store *base,
                   int (*fn)(void *, const aa_session *, const aa_delegation *),
                   void *ud, aa_error *err) {
    sq_store *s = (sq_store *)base;
    static const char *const sql[2] = {
        "SELECT " SESS_COLS " FROM sessions ORDER BY created_at, rowid",
        "SELECT " DEL_COLS " FROM delegations ORDER BY granted_at, rowid"};
    sq_conn *c = conn_get(s);
    int status = AA_OK;
    for (int k = 0; k < 2 && status == AA_OK; k++) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(c->db, sql[k], -1, &st, NULL);
        if (rc != SQLITE_OK) {
            status = sq_fail(c, rc, err, "reading every row");
            break;
        }
        while (status == AA_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            aa_session sess;
            aa_delegation d;
            memset(&sess, 0, sizeof sess);
            memset(&d, 0, sizeof d);
            if ((k == 0 ? session_from_row(st, &sess)
                        : delegation_from_row(st, &d)) != AA_OK) {
                status = aa__fail(err, AA_ENOMEM, "out of memory");
                break;
            }
            status = k == 0 ? fn(ud, &sess, NULL) : fn(ud, NULL, &d);
            aa_session_clear(&sess);
            aa_delegation_clear(&d);
        }
        if (status == AA_OK && rc != SQLITE_DONE)
            status = sq_fail(c, rc, err, "reading every row");
        sqlite3_finalize(st);
    }
    conn_put(c);
    return status;
}

static const aa__store_ops sqlite_ops = {
    .kind = "sqlite",
    .close = sq_close,
    .session_put = sq_session_put,
    .session_get = sq_session_get,
    .session_get_into = sq_session_get_into,
    .session_revoke = sq_session_revoke,
    .session_list = sq_session_list,
    .delegation_put = sq_delegation_put,
    .delegation_get = sq_delegation_get,
    .delegation_find = sq_delegation_find,
    .read_cache = sq_read_cache,
    .delegation_revoke = sq_delegation_revoke,
    .delegation_list = sq_delegation_list,
    .cleanup = sq_cleanup,
    .each = sq_each,
};

/* The files SQLite and the store keep beside the database. */
static const char *const side_suffixes[] = {"-wal", "-shm", "-journal", "-gen",
                                            NULL};

/* Opens the database file through fsafe.h (creating it owner-only, with
 * its directory, when create is set), so that SQLite never creates it
 * with the process umask and never opens another user's file, a symlink
 * or a device; checks the files beside it too. *st describes the file, to
 * check afterwards that SQLite opened this one. */
static int prepare_file(const char *path, bool create, struct stat *st,
                        aa_error *err) {
    aa__fs_target t = {.what = "state store",
                       .path = path,
                       .status = AA_ESTATE,
                       .refused = AA_ESTATE};
    int fd;
    int rc = aa__fs_open(&t, AA__FS_WRITE | (create ? AA__FS_CREATE : 0), &fd,
                         st, err);
    if (rc != AA_OK)
        return rc;
    close(fd);
    return aa__fs_check_siblings(&t, side_suffixes, err);
}

/* Runs one statement of SQL with no parameters; *text (optional) gets the
 * first column of the first row, cut to `size`. */
static int exec1(sq_conn *c, const char *sql, char *text, size_t size,
                 aa_error *err, const char *what) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sq_fail(c, rc, err, "%s", what);
    if (text && size)
        text[0] = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        if (text && size && !text[0])
            snprintf(text, size, "%s", t ? (const char *)t : "");
    }
    int status = AA_OK;
    if (rc != SQLITE_DONE)
        status = sq_fail(c, rc, err, "%s", what);
    sqlite3_finalize(st);
    return status;
}

/* Creates the tables on a new file. Concurrent first openers serialise on
 * BEGIN IMMEDIATE and the second finds the version already set. */
static int ensure_schema(sq_conn *c, aa_error *err) {
    char v[32];
    int status = exec1(c, "PRAGMA user_version", v, sizeof v, err,
                       "reading the schema version");
    if (status != AA_OK)
        return status;
    if (atoi(v) == SCHEMA_VERSION)
        return AA_OK;
    status = exec1(c, "BEGIN IMMEDIATE", NULL, 0, err, "creating the schema");
    if (status != AA_OK)
        return status;
    status = exec1(c, "PRAGMA user_version", v, sizeof v, err,
                   "reading the schema version");
    int version = atoi(v);
    if (status == AA_OK && version == 0) {
        char tables[32];
        status = exec1(c, "SELECT count(*) FROM sqlite_schema", tables,
                       sizeof tables, err, "reading the schema");
        if (status == AA_OK && atoi(tables) != 0)
            status = aa__fail(err, AA_ESTATE,
                              "state store '%s': the file is a SQLite "
                              "database but not an agent-auth state store",
                              c->store->path);
        char *msg = NULL;
        if (status == AA_OK) {
            int rc = sqlite3_exec(c->db, schema_sql, NULL, NULL, &msg);
            if (rc != SQLITE_OK)
                status = aa__fail(
                    err, (rc & 0xff) == SQLITE_BUSY ? AA_EBUSY : AA_ESTATE,
                    "state store '%s': %s (while creating the "
                    "schema)",
                    c->store->path, msg ? msg : sqlite3_errstr(rc));
            sqlite3_free(msg);
        }
    } else if (status == AA_OK && version != SCHEMA_VERSION) {
        status = aa__fail(err, AA_ESTATE,
                          "state store '%s': schema version %d is not "
                          "supported (this build knows version %d)",
                          c->store->path, version, SCHEMA_VERSION);
    }
    if (status == AA_OK)
        status = exec1(c, "COMMIT", NULL, 0, err, "creating the schema");
    if (status != AA_OK && !sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return status;
}

/* Gives the -wal and -shm files the database's owner-only mode. */
static void protect_side_files(const char *path) {
    static const char *const suffix[] = {"-wal", "-shm", "-gen"};
    char buf[PATH_MAX];
    for (size_t i = 0; i < AA__ARRAY_LEN(suffix); i++) {
        if (snprintf(buf, sizeof buf, "%s%s", path, suffix[i]) >=
            (int)sizeof buf)
            continue;
        struct stat st;
        if (stat(buf, &st) == 0 && st.st_uid == geteuid() &&
            (st.st_mode & 077) != 0 && chmod(buf, 0600) != 0) {
            /* best effort: SQLite gives them the database's mode anyway */
        }
    }
}

/* After a failed open: says so when the directory is not writable, since
 * SQLite keeps its -wal and -shm files beside the database. */
static void explain_directory(const char *path, aa_error *err) {
    char *dir = strdup(path);
    if (!dir)
        return;
    char *slash = strrchr(dir, '/');
    const char *d = dir;
    if (!slash)
        d = ".";
    else if (slash == dir)
        slash[1] = 0;
    else
        *slash = 0;
    if (access(d, W_OK | X_OK) != 0)
        aa__fail(err, AA_ESTATE,
                 "state store '%s': directory '%s' is not writable (SQLite "
                 "keeps its -wal and -shm files beside the database)",
                 path, d);
    free(dir);
}

/* WAL mode (kept in the file) and the schema. Idempotent. */
static int setup(sq_conn *c, aa_error *err) {
    char mode[16];
    int status = exec1(c, "PRAGMA journal_mode = WAL", mode, sizeof mode, err,
                       "opening");
    if (status != AA_OK) {
        if (status != AA_EBUSY)
            explain_directory(c->store->path, err);
        return status;
    }
    if (strcmp(mode, "wal") != 0)
        return aa__fail(err, AA_ESTATE,
                        "state store '%s': cannot use WAL mode (journal mode "
                        "is '%s')",
                        c->store->path, mode);
    return ensure_schema(c, err);
}

/* Runs setup, trying again while the file is busy, up to the busy timeout:
 * while several processes make a new file at once, switching it to WAL
 * mode can report SQLITE_BUSY without waiting in the busy handler. Only
 * the last attempt's messages are kept. */
static int setup_with_retry(sq_conn *c, aa_error *err) {
    aa_error *attempt = aa_error_new();
    if (!attempt)
        return aa__fail(err, AA_ENOMEM, "out of memory");
    uint64_t start = aa__mono_ns();
    useconds_t pause = 1000;
    int status;
    for (;;) {
        aa_error_clear(attempt);
        status = setup(c, attempt);
        if (status != AA_EBUSY ||
            aa__mono_ns() - start >= (uint64_t)c->store->busy_ms * 1000000u)
            break;
        usleep(pause);
        if (pause < 64000)
            pause *= 2;
    }
    for (size_t i = 0; i < aa_error_count(attempt); i++) {
        const aa_diag *d = aa_error_get(attempt, i);
        aa__error_add(err, d->severity, d->status, d->file, d->line, d->column,
                      "%s", d->message);
    }
    aa_error_free(attempt);
    return status;
}

/*
 * The busy timeout is 5 s. The environment variable
 * AA_STATE_BUSY_TIMEOUT_MS (milliseconds, 0..600000) overrides it; tests use
 * it to see a held lock fail quickly.
 */
static int busy_timeout_ms(void) {
    const char *v = getenv("AA_STATE_BUSY_TIMEOUT_MS");
    if (aa__empty(v))
        return DEFAULT_BUSY_MS;
    char *end;
    long ms = strtol(v, &end, 10);
    if (*end || ms < 0 || ms > 600000)
        return DEFAULT_BUSY_MS;
    return (int)ms;
}

/* Opens one connection of the store; the first one also sets the file up. */
static int conn_open(sq_store *s, sq_conn *c, bool first, aa_error *err) {
    c->store = s;
    int rc = sqlite3_open_v2(s->path, &c->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                                 SQLITE_OPEN_NOFOLLOW,
                             NULL);
    if (rc != SQLITE_OK)
        return sq_fail(c, rc, err, "opening");
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, s->busy_ms);
    int status = first ? setup_with_retry(c, err) : AA_OK;
    /* Every commit reaches the disk: a revocation must survive a crash. */
    if (status == AA_OK)
        status = exec1(c, "PRAGMA synchronous = FULL", NULL, 0, err, "opening");
    /* Pages are read through a memory map, not a read() each: lookups in a
     * large store then cost what they cost in a small one. */
    if (status == AA_OK)
        status =
            exec1(c, "PRAGMA mmap_size = 268435456", NULL, 0, err, "opening");
    return status; /* statements are prepared on first use (stmt()) */
}

int aa_store_open_sqlite(const char *path, aa_store **out, aa_error *err) {
    if (!out)
        return aa__fail(err, AA_EINVAL, "aa_store_open_sqlite: out is NULL");
    *out = NULL;
    if (aa__empty(path))
        return aa__fail(err, AA_EINVAL, "state store: empty path");
    struct stat st;
    int status = prepare_file(path, true, &st, err);
    if (status != AA_OK)
        return status;

    sq_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return aa__fail(err, AA_ENOMEM, "out of memory");
    }
    s->base.ops = &sqlite_ops;
    s->busy_ms = busy_timeout_ms();
    pthread_mutex_init(&s->grow, NULL);
    pthread_mutex_init(&s->wmu, NULL);
    for (int i = 0; i < POOL; i++) {
        pthread_mutex_init(&s->conns[i].mu, NULL);
        s->conns[i].store = s;
    }
    atomic_init(&s->nconns, 0);
    atomic_init(&s->next, 0);
    atomic_init(&s->no_more, false);

    status = conn_open(s, &s->conns[0], true, err);
    /* The file SQLite opened is the one checked (nobody swapped it). */
    if (status == AA_OK && !aa__fs_same_file(path, &st))
        status = aa__fail(err, AA_ESTATE,
                          "state store '%s': the file was replaced while "
                          "opening it",
                          path);
    if (status != AA_OK) {
        sq_close(&s->base);
        return status;
    }
    atomic_store_explicit(&s->nconns, 1, memory_order_release);
    s->cache = aa__cache_open(path);
    protect_side_files(path);
    *out = &s->base;
    return AA_OK;
}
