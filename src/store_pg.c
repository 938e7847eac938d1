/*
 * store_pg.c - sessions and delegations in PostgreSQL, shared by every
 * process and host that names the same database (docs/state.md).
 *
 * libpq is loaded when the first PostgreSQL store is opened (dlopen of
 * libpq.so.5), so that the library and the CLI do not load it, nor the TLS
 * and Kerberos libraries it pulls in, unless state is in PostgreSQL.
 *
 * Every statement is parameterized (PQexecParams); the only text put into
 * SQL is the schema name, checked to be [a-z_][a-z0-9_]* and quoted. A
 * statement a connection runs a second time is prepared on it (PQprepare,
 * then PQexecPrepared: the server no longer parses and plans it); a
 * connection made again prepares anew, and one whose prepared statements
 * go missing (a pooler in transaction mode) goes back to PQexecParams. The
 * tables live in that schema and are made by the first write (in one
 * transaction under an advisory lock, with a schema-version row); until
 * then reads find an empty state, so read-only commands need no CREATE
 * privilege. Times are bigint microseconds, as in the SQLite store.
 *
 * A few connections are opened as threads need them, each used by one
 * call at a time (a mutex each). A connection that breaks is closed and
 * opened again on its next use; while the database cannot be reached,
 * attempts are spaced by a growing delay (50 ms up to 2 s) and calls fail
 * at once with "State store unavailable: ..." in between.
 *
 * Writers send NOTIFY agent_auth_state (payload: the schema) in the
 * transaction of each change. In cached mode a thread LISTENs on its own
 * connection and bumps the generation of a store_cache.h cache for every
 * notification: lookups answer from memory while nothing changed. While
 * that connection is down the cache is not used at all (every lookup
 * reads the database), and when it is back the generation moves on, so
 * nothing read before is trusted again.
 */
#include "state_url.h"
#include "store.h"
#include "store_cache.h"

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Version 1: sessions, delegations. Version 2 adds audit_anchors (`state
 * migrate` upgrades 1 to 2; until then this agent-auth refuses version 1
 * with that advice, and older ones refuse version 2). */
#define PG_SCHEMA_VERSION 2
#define POOL              4
#define BACKOFF_MIN_NS    50000000ull   /* 50 ms */
#define BACKOFF_MAX_NS    2000000000ull /* 2 s */
#define CHANNEL           "agent_auth_state"
/* The notification connection is asked for a sign of life after this much
 * silence, and counted lost when none comes this long after asking: a
 * silent network failure drops the cache within about 2 s. */
#define HEARTBEAT_NS 1000000000ull
/* A notification connection that lasted this long resets the backoff. */
#define LISTEN_STABLE_NS 1000000000ull
#define PING_WAIT_NS     1000000000ull

/* ---- libpq, loaded on first use ------------------------------------------ */

typedef struct pq_api {
    PGconn *(*connectStartParams)(const char *const *, const char *const *,
                                  int);
    PostgresPollingStatusType (*connectPoll)(PGconn *);
    PQconninfoOption *(*conninfo)(PGconn *);
    ConnStatusType (*status)(const PGconn *);
    char *(*errorMessage)(const PGconn *);
    void (*finish)(PGconn *);
    PGresult *(*execParams)(PGconn *, const char *, int, const Oid *,
                            const char *const *, const int *, const int *, int);
    PGresult *(*prepare)(PGconn *, const char *, const char *, int,
                         const Oid *);
    PGresult *(*execPrepared)(PGconn *, const char *, int, const char *const *,
                              const int *, const int *, int);
    ExecStatusType (*resultStatus)(const PGresult *);
    char *(*resultErrorField)(const PGresult *, int);
    char *(*resultErrorMessage)(const PGresult *);
    int (*ntuples)(const PGresult *);
    char *(*cmdTuples)(PGresult *);
    char *(*getvalue)(const PGresult *, int, int);
    int (*getlength)(const PGresult *, int, int);
    void (*clear)(PGresult *);
    int (*consumeInput)(PGconn *);
    int (*sendQuery)(PGconn *, const char *);
    int (*isBusy)(PGconn *);
    PGresult *(*getResult)(PGconn *);
    PGnotify *(*notifies)(PGconn *);
    void (*freemem)(void *);
    int (*socket)(const PGconn *);
    PQconninfoOption *(*conninfoParse)(const char *, char **);
    void (*conninfoFree)(PQconninfoOption *);
    PQnoticeProcessor (*setNoticeProcessor)(PGconn *, PQnoticeProcessor,
                                            void *);
} pq_api;

static pq_api pq;
static char pq_load_error[256];
static pthread_once_t pq_once = PTHREAD_ONCE_INIT;

static void pq_load(void) {
    void *h = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(pq_load_error, sizeof pq_load_error,
                 "a PostgreSQL state store needs libpq (libpq.so.5; Debian: "
                 "apt-get install libpq5): %s",
                 dlerror());
        return;
    }
    pq_api a;
#define SYM(field, name)                                                       \
    do {                                                                       \
        *(void **)&a.field = dlsym(h, name);                                   \
        if (!a.field) {                                                        \
            snprintf(pq_load_error, sizeof pq_load_error,                      \
                     "libpq.so.5 lacks %s: it is too old", name);              \
            return;                                                            \
        }                                                                      \
    } while (0)
    SYM(connectStartParams, "PQconnectStartParams");
    SYM(connectPoll, "PQconnectPoll");
    SYM(conninfo, "PQconninfo");
    SYM(status, "PQstatus");
    SYM(errorMessage, "PQerrorMessage");
    SYM(finish, "PQfinish");
    SYM(execParams, "PQexecParams");
    SYM(prepare, "PQprepare");
    SYM(execPrepared, "PQexecPrepared");
    SYM(resultStatus, "PQresultStatus");
    SYM(resultErrorField, "PQresultErrorField");
    SYM(resultErrorMessage, "PQresultErrorMessage");
    SYM(ntuples, "PQntuples");
    SYM(cmdTuples, "PQcmdTuples");
    SYM(getvalue, "PQgetvalue");
    SYM(getlength, "PQgetlength");
    SYM(clear, "PQclear");
    SYM(consumeInput, "PQconsumeInput");
    SYM(sendQuery, "PQsendQuery");
    SYM(isBusy, "PQisBusy");
    SYM(getResult, "PQgetResult");
    SYM(notifies, "PQnotifies");
    SYM(freemem, "PQfreemem");
    SYM(socket, "PQsocket");
    SYM(conninfoParse, "PQconninfoParse");
    SYM(conninfoFree, "PQconninfoFree");
    SYM(setNoticeProcessor, "PQsetNoticeProcessor");
#undef SYM
    pq = a; /* h stays loaded for the life of the process */
}

/* ---- the statements ------------------------------------------------------ */

/* The audit chain heads (docs/state.md, audit anchoring): one row per log,
 * named by the hash of its first record; lines only grow. */
#define ANCHORS_TABLE                                                          \
    "CREATE TABLE IF NOT EXISTS @.audit_anchors ("                             \
    " identity text PRIMARY KEY,"                                              \
    " path text NOT NULL,"                                                     \
    " lines bigint NOT NULL,"                                                  \
    " hash text NOT NULL,"                                                     \
    " updated_at bigint NOT NULL)"

/* "@" in a template stands for the quoted schema name. */
static const char *const create_sql[] = {
    "SELECT pg_advisory_xact_lock(hashtext('agent_auth schema ' || $1))",
    "CREATE SCHEMA IF NOT EXISTS @",
    "CREATE TABLE IF NOT EXISTS @.meta (key text PRIMARY KEY,"
    " value text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS @.sessions ("
    " session_id text PRIMARY KEY,"
    " agent text NOT NULL,"
    " \"user\" text NOT NULL,"
    " scope text NOT NULL DEFAULT '',"
    " created_at bigint NOT NULL," /* microseconds since the epoch */
    " expires_at bigint NOT NULL,"
    " status text NOT NULL CHECK (status IN ('active','expired','revoked')),"
    " seq bigint GENERATED ALWAYS AS IDENTITY)",
    "CREATE INDEX IF NOT EXISTS sessions_live ON @.sessions"
    " (agent, \"user\", created_at) WHERE status = 'active'",
    "CREATE TABLE IF NOT EXISTS @.delegations ("
    " delegation_id text PRIMARY KEY,"
    " from_user text NOT NULL,"
    " to_agent text NOT NULL,"
    " actions bytea NOT NULL," /* patterns, each followed by a NUL byte */
    " granted_at bigint NOT NULL,"
    " expires_at bigint NOT NULL,"
    " reason text NOT NULL DEFAULT '',"
    " status text NOT NULL CHECK (status IN ('active','expired','revoked')),"
    " seq bigint GENERATED ALWAYS AS IDENTITY)",
    "CREATE INDEX IF NOT EXISTS delegations_live ON @.delegations"
    " (to_agent, from_user, granted_at) WHERE status = 'active'",
    ANCHORS_TABLE,
    "INSERT INTO @.meta (key, value) VALUES ('schema_version', '2')"
    " ON CONFLICT (key) DO NOTHING",
};

/* From version 1 to 2 (in one transaction, `state migrate`). */
static const char *const upgrade_1_sql[] = {
    "SELECT pg_advisory_xact_lock(hashtext('agent_auth schema ' || $1))",
    ANCHORS_TABLE,
    ("UPDATE @.meta SET value = '2' WHERE key = 'schema_version'"
     " AND value = '1'"),
};

#define SESS_COLS                                                              \
    "session_id, agent, \"user\", scope, created_at, expires_at, status"
#define DEL_COLS                                                               \
    "delegation_id, from_user, to_agent, actions, granted_at, expires_at, "    \
    "reason, status"
#define NOTIFY " SELECT pg_notify('" CHANNEL "', $%d) FROM w"

enum {
    Q_VERSION,
    Q_SESS_PUT,
    Q_SESS_GET,
    Q_SESS_EXPIRE,
    Q_SESS_REVOKE,
    Q_SESS_LIST,
    Q_DEL_PUT,
    Q_DEL_GET,
    Q_DEL_EXPIRE,
    Q_DEL_FIND,
    Q_DEL_REVOKE,
    Q_DEL_LIST,
    Q_MARK_SESS,
    Q_MARK_DEL,
    Q_PURGE_SESS,
    Q_PURGE_DEL,
    Q_ANCHOR_PUT,
    Q_ANCHOR_GET,
    Q_ANCHOR_PATH,
    Q_COUNT
};

static const char *const query_sql[Q_COUNT] = {
    [Q_VERSION] = "SELECT value FROM @.meta WHERE key = 'schema_version'",
    [Q_SESS_PUT] = "WITH w AS (INSERT INTO @.sessions (" SESS_COLS
                   ") VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING 1)"
                   " SELECT pg_notify('" CHANNEL "', $8) FROM w",
    [Q_SESS_GET] = "SELECT " SESS_COLS " FROM @.sessions WHERE session_id = $1",
    [Q_SESS_EXPIRE] = "UPDATE @.sessions SET status = 'expired'"
                      " WHERE session_id = $1 AND status = 'active'"
                      " AND expires_at <= $2",
    [Q_SESS_REVOKE] = "WITH w AS (UPDATE @.sessions SET status = CASE"
                      " WHEN expires_at > $2 THEN 'revoked' ELSE 'expired' END"
                      " WHERE session_id = $1 AND status = 'active'"
                      " RETURNING status)"
                      " SELECT status, pg_notify('" CHANNEL "', $3) FROM w",
    [Q_SESS_LIST] = "SELECT " SESS_COLS " FROM @.sessions"
                    " WHERE ($1::text IS NULL OR agent = $1)"
                    " AND ($2::text IS NULL OR \"user\" = $2)"
                    " AND status = 'active' AND expires_at > $3"
                    " ORDER BY created_at, seq",
    [Q_DEL_PUT] = "WITH w AS (INSERT INTO @.delegations (" DEL_COLS
                  ") VALUES ($1, $2, $3, $4::bytea, $5, $6, $7, $8)"
                  " RETURNING 1) SELECT pg_notify('" CHANNEL "', $9) FROM w",
    [Q_DEL_GET] =
        "SELECT " DEL_COLS " FROM @.delegations WHERE delegation_id = $1",
    [Q_DEL_EXPIRE] = "UPDATE @.delegations SET status = 'expired'"
                     " WHERE delegation_id = $1 AND status = 'active'"
                     " AND expires_at <= $2",
    [Q_DEL_FIND] = "SELECT delegation_id, expires_at, actions"
                   " FROM @.delegations WHERE to_agent = $1"
                   " AND from_user = $2 AND status = 'active'"
                   " AND expires_at > $3 ORDER BY granted_at, seq",
    [Q_DEL_REVOKE] = "WITH w AS (UPDATE @.delegations SET status = CASE"
                     " WHEN expires_at > $2 THEN 'revoked' ELSE 'expired' END"
                     " WHERE delegation_id = $1 AND status = 'active'"
                     " RETURNING status)"
                     " SELECT status, pg_notify('" CHANNEL "', $3) FROM w",
    [Q_DEL_LIST] = "SELECT " DEL_COLS " FROM @.delegations"
                   " WHERE ($1::text IS NULL OR to_agent = $1)"
                   " AND status = 'active' AND expires_at > $2"
                   " ORDER BY granted_at, seq",
    [Q_MARK_SESS] = "UPDATE @.sessions SET status = 'expired'"
                    " WHERE status = 'active' AND expires_at <= $1",
    [Q_MARK_DEL] = "UPDATE @.delegations SET status = 'expired'"
                   " WHERE status = 'active' AND expires_at <= $1",
    [Q_PURGE_SESS] = "DELETE FROM @.sessions"
                     " WHERE status <> 'active' AND expires_at < $1",
    [Q_PURGE_DEL] = "DELETE FROM @.delegations"
                    " WHERE status <> 'active' AND expires_at < $1",
    [Q_ANCHOR_PUT] = "INSERT INTO @.audit_anchors AS a"
                     " (identity, path, lines, hash, updated_at)"
                     " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (identity)"
                     " DO UPDATE SET path = excluded.path,"
                     " lines = excluded.lines, hash = excluded.hash,"
                     " updated_at = excluded.updated_at"
                     " WHERE a.lines < excluded.lines",
    [Q_ANCHOR_GET] = "SELECT identity, path, lines, hash, updated_at"
                     " FROM @.audit_anchors WHERE identity = $1",
    [Q_ANCHOR_PATH] = "SELECT identity, path, lines, hash, updated_at"
                      " FROM @.audit_anchors WHERE path = $1"
                      " ORDER BY updated_at DESC LIMIT 1",
};

/* ---- the store ----------------------------------------------------------- */

typedef struct pg_conn {
    pthread_mutex_t mu; /* held while a call uses the connection */
    PGconn *c;          /* NULL: not open (or broken and closed) */
    /* Of c (made anew with it): the statements prepared on it (bit q),
     * how often each ran (up to 2), and whether it runs them unprepared
     * for good (its prepared statements went missing). */
    uint32_t prepared;
    uint8_t runs[Q_COUNT];
    bool unprepared;
} pg_conn;

_Static_assert(Q_COUNT <= 32, "pg_conn.prepared has a bit per statement");

enum { SCHEMA_UNKNOWN, SCHEMA_READY, SCHEMA_ABSENT, SCHEMA_OLD };

typedef struct pg_store {
    aa_store base;
    char *conninfo; /* the URL as given */
    char *shown;    /* the URL without its password, for messages */
    char schema[64];
    char *sql[Q_COUNT];
    char stmt[Q_COUNT][32]; /* the name each is prepared under */
    pg_conn conns[POOL];
    atomic_uint next;
    atomic_int schema_state;
    pthread_mutex_t create_mu; /* serialises making the tables */

    /* Reconnecting: not before retry_at; the delay doubles on failure. */
    pthread_mutex_t retry_mu;
    uint64_t retry_at;
    uint64_t backoff;
    char last_error[768];   /* of the last connection attempt */
    char last_failure[800]; /* of the last failed call, for reasons */

    /* Cached mode. */
    aa__cache *cache; /* NULL: strict */
    atomic_bool listening;
    atomic_bool stop;
    bool listener_started;
    pthread_t listener;
    struct pg_store *reg_prev, *reg_next; /* the fork registry, below */
} pg_store;

/* ---- fork -----------------------------------------------------------------
 * A child forked from a process with an open store (workers forked after
 * the engine was made) gets a copy of it, but not its threads, and its
 * connections are sockets shared with the parent. In the child each copy
 * leaves the parent's connections alone (never PQfinish: that would end
 * the parent's session) and opens its own; it has no notification thread,
 * so its cache is never used: it reads the database (strict). Its locks
 * are made anew, as a thread of the parent may have held one. */
static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static pg_store *registry;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_prepare(void) {
    pthread_mutex_lock(&registry_mu);
}

static void on_fork_parent(void) {
    pthread_mutex_unlock(&registry_mu);
}

static void on_fork_child(void) {
    for (pg_store *s = registry; s; s = s->reg_next) {
        atomic_store(&s->listening, false);
        s->listener_started = false; /* not in this process */
        for (int i = 0; i < POOL; i++) {
            s->conns[i].c = NULL; /* the parent's: left to it */
            pthread_mutex_init(&s->conns[i].mu, NULL);
        }
        pthread_mutex_init(&s->create_mu, NULL);
        pthread_mutex_init(&s->retry_mu, NULL);
    }
    pthread_mutex_unlock(&registry_mu);
}

static void atfork_init(void) {
    pthread_atfork(on_fork_prepare, on_fork_parent, on_fork_child);
}

static void registry_add(pg_store *s) {
    pthread_once(&atfork_once, atfork_init);
    pthread_mutex_lock(&registry_mu);
    s->reg_prev = NULL;
    s->reg_next = registry;
    if (registry)
        registry->reg_prev = s;
    registry = s;
    pthread_mutex_unlock(&registry_mu);
}

static void registry_remove(pg_store *s) {
    pthread_mutex_lock(&registry_mu);
    if (s->reg_prev)
        s->reg_prev->reg_next = s->reg_next;
    else if (registry == s)
        registry = s->reg_next;
    if (s->reg_next)
        s->reg_next->reg_prev = s->reg_prev;
    s->reg_prev = s->reg_next = NULL;
    pthread_mutex_unlock(&registry_mu);
}

/* The first line of a libpq message. */
static void first_line(const char *msg, char *buf, size_t size) {
    if (!msg)
        msg = "";
    while (*msg == ' ' || *msg == '\n')
        msg++;
    if (strncmp(msg, "ERROR:", 6) == 0 || strncmp(msg, "FATAL:", 6) == 0)
        msg += 6; /* the severity says nothing to the reader */
    while (*msg == ' ')
        msg++;
    size_t n = strcspn(msg, "\n");
    snprintf(buf, size, "%.*s", (int)n, msg);
}

/* What to do about a failed connection attempt, from libpq's message. */
static const char *connect_hint(const char *msg) {
    if (strstr(msg, "password authentication failed") ||
        strstr(msg, "no password supplied") ||
        strstr(msg, "password is required"))
        return "check the user and password in the URL (or PGPASSWORD, "
               "~/.pgpass)";
    if (strstr(msg, "database \"") && strstr(msg, "does not exist"))
        return "create the database (createdb NAME) or fix the database "
               "name in the URL";
    if (strstr(msg, "role \"") && strstr(msg, "does not exist"))
        return "create the role (createuser NAME) or fix the user in the URL";
    if (strstr(msg, "Connection refused") || strstr(msg, "No such file") ||
        strstr(msg, "timeout expired") || strstr(msg, "could not translate"))
        return "check that PostgreSQL is running and the host and port in "
               "the URL";
    if (strstr(msg, "SSL"))
        return "check sslmode and the server's TLS setup";
    return NULL;
}

/* Server messages outside a statement (NOTICEs, the FATAL that ends a
 * connection) go nowhere: libpq's default prints them on stderr, and the
 * library never prints. A lost connection is noticed by the next call. */
static void ignore_notice(void *arg, const char *message) {
    (void)arg;
    (void)message;
}

/* c's connect_timeout in seconds (the URL's, else ours), as libpq's own
 * blocking connect reads it: 0 (none) for 0 or less, at least 2; -1 when
 * it is not a number. */
static int connect_timeout(PGconn *c) {
    PQconninfoOption *opts = pq.conninfo(c);
    if (!opts)
        return 5;
    int secs = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (strcmp(o->keyword, "connect_timeout") != 0 || !o->val)
            continue;
        char *end;
        errno = 0;
        long v = strtol(o->val, &end, 10);
        while (*end == ' ')
            end++;
        if (end == o->val || *end || errno || v > INT_MAX)
            secs = -1;
        else
            secs = v <= 0 ? 0 : v < 2 ? 2 : (int)v;
    }
    pq.conninfoFree(opts);
    return secs;
}

/* Connects c, started by PQconnectStartParams: PQconnectPoll whenever its
 * socket is ready, for at most timeout seconds (0: no limit). false with
 * why set when it fails. */
static bool connect_poll(PGconn *c, int timeout, char *why, size_t size) {
    uint64_t deadline =
        timeout ? aa__mono_ns() + (uint64_t)timeout * 1000000000ull : 0;
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (st == PGRES_POLLING_READING || st == PGRES_POLLING_WRITING) {
        int wait = 1000; /* ms; the deadline is checked at least this often */
        if (deadline) {
            uint64_t now = aa__mono_ns();
            if (now >= deadline) {
                snprintf(why, size, "timeout expired");
                return false;
            }
            if (deadline - now < 1000000000ull)
                wait = (int)((deadline - now + 999999) / 1000000);
        }
        struct pollfd p = {.fd = pq.socket(c),
                           .events =
                               st == PGRES_POLLING_READING ? POLLIN : POLLOUT};
        if (p.fd < 0)
            break; /* not expected: said by libpq's message, below */
        int n = poll(&p, 1, wait);
        if (n < 0 && errno != EINTR) {
            snprintf(why, size, "waiting for the server: %s", strerror(errno));
            return false;
        }
        if (n <= 0)
            continue;
        st = pq.connectPoll(c);
    }
    if (st == PGRES_POLLING_OK && pq.status(c) == CONNECTION_OK)
        return true;
    first_line(pq.errorMessage(c), why, size);
    return false;
}

/* c, just started by PQconnectStartParams, connected: its notice
 * processor set first, then polled for at most its connect_timeout. NULL
 * with line set (libpq's first line, or ours) when it fails. */
static PGconn *connect_started(PGconn *c, char *line, size_t size) {
    bool made = false;
    if (c && pq.status(c) != CONNECTION_BAD) {
        pq.setNoticeProcessor(c, ignore_notice, NULL);
        int timeout = connect_timeout(c);
        if (timeout < 0)
            snprintf(line, size, "connect_timeout is not a number");
        else
            made = connect_poll(c, timeout, line, size);
    } else {
        first_line(c ? pq.errorMessage(c) : "out of memory", line, size);
    }
    if (!made && c) {
        pq.finish(c);
        c = NULL;
    }
    return c;
}

/* How many entries libpq counts in a comma-separated list (0: none). */
static int list_count(const char *list) {
    if (!list || !*list)
        return 0;
    int n = 1;
    for (; *list; list++)
        n += *list == ',';
    return n;
}

/* Entry i of such a list into out ("" for an empty or missing one); false
 * when it does not fit (no host name, address or port is that long). */
static bool list_entry(const char *list, int i, char *out, size_t size) {
    out[0] = 0;
    for (; list && i > 0; i--) {
        list = strchr(list, ',');
        list = list ? list + 1 : NULL;
    }
    if (!list)
        return true;
    size_t n = strcspn(list, ",");
    if (n >= size)
        return false;
    memcpy(out, list, n);
    out[n] = 0;
    return true;
}

/* How many hosts libpq finds in lists (host, hostaddr, port), as it counts
 * them: hostaddr's entries, else host's; 0 when the lists do not match
 * (libpq says how when the URL is used as it is). */
static int host_count(const char *const lists[3]) {
    int hosts = list_count(lists[0]), addrs = list_count(lists[1]);
    int n = addrs ? addrs : hosts ? hosts : 1;
    int ports = list_count(lists[2]);
    if ((hosts && hosts != n) || (ports > 1 && ports != n))
        return 0;
    return n;
}

/* The hosts of a list tried in turn, each with a connection of its own:
 * the URL's settings (opts, after our defaults) with host, hostaddr and
 * port set to that host's entries, so that each has its own
 * connect_timeout (and its own target_session_attrs check), as in libpq's
 * blocking connect. NULL with line set to what each host answered. */
static PGconn *connect_hosts(pg_store *s, const PQconninfoOption *opts,
                             const char *const lists[3], int n, const char *app,
                             char *line, size_t size) {
    static const char *const names[3] = {"host", "hostaddr", "port"};
    size_t k = 0;
    while (opts[k].keyword)
        k++;
    const char **keys = calloc(k + 6, sizeof *keys);
    const char **vals = calloc(k + 6, sizeof *vals);
    PGconn *c = NULL;
    size_t m = 0, used = 0;
    line[0] = 0;
    if (!keys || !vals) {
        snprintf(line, size, "out of memory");
        n = 0;
    } else { /* the URL's own settings, after these, override them */
        keys[m] = "connect_timeout", vals[m++] = "5";
        keys[m] = "application_name", vals[m++] = app;
    }
    for (size_t j = 0; n && j < k; j++) {
        const char *key = opts[j].keyword;
        if (opts[j].val && strcmp(key, names[0]) != 0 &&
            strcmp(key, names[1]) != 0 && strcmp(key, names[2]) != 0)
            keys[m] = key, vals[m++] = opts[j].val;
    }
    const size_t common = m;
    for (int i = 0; i < n && !c && !atomic_load(&s->stop); i++) {
        char one[3][256], got[256];
        bool fits = true;
        m = common;
        for (int e = 0; e < 3; e++) {
            int at = e == 2 && list_count(lists[2]) == 1 ? 0 : i;
            fits = list_entry(lists[e], at, one[e], sizeof one[e]) && fits;
            if (one[e][0])
                keys[m] = names[e], vals[m++] = one[e];
        }
        keys[m] = vals[m] = NULL;
        if (fits)
            c = connect_started(pq.connectStartParams(keys, vals, 0), got,
                                sizeof got);
        else
            snprintf(got, sizeof got, "too long a host name");
        /* "host[:port]: what it answered; ..." */
        if (!c && used < size) {
            int w = snprintf(line + used, size - used, "%s%s%s%s: %s",
                             used ? "; " : "",
                             one[0][0]   ? one[0]
                             : one[1][0] ? one[1]
                                         : "default host",
                             one[2][0] ? ":" : "", one[2], got);
            used += w > 0 ? (size_t)w : 0;
        }
    }
    free(keys);
    free(vals);
    return c;
}

/* A new connection for app, or NULL with why set. Started and polled here,
 * not made by PQconnectdbParams, so that the notice processor is set
 * before libpq reads anything: the messages that come with the
 * connection's first answer (a server's DEBUG or WARNING lines, the FATAL
 * of an idle timeout that fires before a slow client reads its
 * ReadyForQuery) would otherwise go to stderr. libpq applies no
 * connect_timeout to a connection polled so: connect_poll does, to each
 * connection, and a URL that lists several hosts is tried one host at a
 * time (connect_hosts), so that one that never answers hands over to the
 * next as in libpq's blocking connect. */
static PGconn *connect_now(pg_store *s, const char *app, char *why,
                           size_t size) {
    char line[600] = "";
    PQconninfoOption *opts = pq.conninfoParse(s->conninfo, NULL);
    const char *lists[3] = {NULL, NULL, NULL}; /* host, hostaddr, port */
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (strcmp(o->keyword, "host") == 0)
            lists[0] = o->val;
        else if (strcmp(o->keyword, "hostaddr") == 0)
            lists[1] = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            lists[2] = o->val;
    }
    int n = opts ? host_count(lists) : 0;
    PGconn *c;
    if (n > 1) {
        c = connect_hosts(s, opts, lists, n, app, line, sizeof line);
    } else {
        static const char *const keys[] = {"connect_timeout",
                                           "application_name", "dbname", NULL};
        const char *vals[] = {"5", app, s->conninfo, NULL};
        c = connect_started(pq.connectStartParams(keys, vals, 1), line,
                            sizeof line);
    }
    if (opts)
        pq.conninfoFree(opts);
    if (c) {
        /* Our statements and nothing else: an empty search_path, so that
         * one set on the role, the database or in the URL cannot redirect
         * a function or operator they name to another schema (only
         * pg_catalog is searched; every table is schema-qualified); and
         * a long lock wait fails rather than hangs a decision. */
        PGresult *r = pq.execParams(
            c,
            "SELECT pg_catalog.set_config('search_path', '', false),"
            " pg_catalog.set_config('lock_timeout', '5s', false)",
            0, NULL, NULL, NULL, NULL, 0);
        bool ok = r && pq.resultStatus(r) == PGRES_TUPLES_OK;
        pq.clear(r);
        if (ok)
            return c;
        snprintf(why, size, "cannot reset the session's search_path");
        pq.finish(c);
        return NULL;
    }
    const char *hint = connect_hint(line);
    if (snprintf(why, size, "%s%s%s", line, hint ? ": " : "",
                 hint ? hint : "") < 0)
        why[0] = 0;
    return NULL;
}

/* Keeps "URL: a[: b]" as the last failure. */
static void remember(pg_store *s, const char *a, const char *b) {
    pthread_mutex_lock(&s->retry_mu);
    if (snprintf(s->last_failure, sizeof s->last_failure, "%s: %s%s%s",
                 s->shown, a, *b ? ": " : "", b) < 0)
        s->last_failure[0] = 0;
    pthread_mutex_unlock(&s->retry_mu);
}

/* Makes sure pc is connected, honouring the backoff. */
static int conn_ready(pg_store *s, pg_conn *pc, aa_error *err) {
    if (pc->c && pq.status(pc->c) == CONNECTION_OK)
        return AA_OK;
    if (pc->c) {
        pq.finish(pc->c);
        pc->c = NULL;
    }
    uint64_t now = aa__mono_ns();
    char why[768];
    pthread_mutex_lock(&s->retry_mu);
    if (now < s->retry_at) {
        snprintf(why, sizeof why, "%s", s->last_error);
        if (snprintf(s->last_failure, sizeof s->last_failure,
                     "%s: %s (retrying)", s->shown, why) < 0)
            s->last_failure[0] = 0;
        pthread_mutex_unlock(&s->retry_mu);
        return aa__fail(err, AA_ESTATE,
                        "State store unavailable: %s: %s (retrying)", s->shown,
                        why);
    }
    pthread_mutex_unlock(&s->retry_mu);
    pc->c = connect_now(s, "agent-auth", why, sizeof why);
    pc->prepared = 0; /* a new session has none of our statements */
    memset(pc->runs, 0, sizeof pc->runs);
    pc->unprepared = false;
    pthread_mutex_lock(&s->retry_mu);
    if (pc->c) {
        s->backoff = 0;
        s->retry_at = 0;
    } else {
        s->backoff = s->backoff ? s->backoff * 2 : BACKOFF_MIN_NS;
        if (s->backoff > BACKOFF_MAX_NS)
            s->backoff = BACKOFF_MAX_NS;
        s->retry_at = aa__mono_ns() + s->backoff;
        snprintf(s->last_error, sizeof s->last_error, "%s", why);
    }
    pthread_mutex_unlock(&s->retry_mu);
    if (!pc->c) {
        remember(s, why, "");
        return aa__fail(err, AA_ESTATE, "State store unavailable: %s: %s",
                        s->shown, why);
    }
    return AA_OK;
}

static pg_conn *conn_get(pg_store *s) {
    unsigned start =
        atomic_fetch_add_explicit(&s->next, 1, memory_order_relaxed);
    for (unsigned i = 0; i < POOL; i++) {
        pg_conn *pc = &s->conns[(start + i) % POOL];
        if (pthread_mutex_trylock(&pc->mu) == 0)
            return pc;
    }
    pg_conn *pc = &s->conns[start % POOL];
    pthread_mutex_lock(&pc->mu);
    return pc;
}

static void conn_put(pg_conn *pc) {
    pthread_mutex_unlock(&pc->mu);
}

/* The outcome of one statement. */
enum { R_OK, R_ABSENT, R_LOST, R_ERROR, R_DUP };

static bool sqlstate_is(const PGresult *r, const char *code) {
    const char *st = r ? pq.resultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    return st && strcmp(st, code) == 0;
}

/* The outcome of r, a statement's result on pc: R_OK with *res (caller
 * clears); R_ABSENT when the schema or a table is not there; R_LOST when
 * the connection broke (it is closed); R_ERROR otherwise. msg says why. */
static int outcome(pg_conn *pc, PGresult *r, PGresult **res, char *msg,
                   size_t msz) {
    ExecStatusType st = r ? pq.resultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        *res = r;
        return R_OK;
    }
    if (sqlstate_is(r, "42P01") || sqlstate_is(r, "3F000")) {
        pq.clear(r);
        return R_ABSENT;
    }
    if (sqlstate_is(r, "23505")) {
        pq.clear(r);
        return R_DUP;
    }
    first_line(r ? pq.resultErrorMessage(r) : pq.errorMessage(pc->c), msg, msz);
    const char *code = r ? pq.resultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    bool lost =
        pq.status(pc->c) != CONNECTION_OK ||
        (code && (strncmp(code, "08", 2) == 0 || strncmp(code, "57P", 3) == 0));
    pq.clear(r);
    if (lost) {
        pq.finish(pc->c);
        pc->c = NULL;
        return R_LOST;
    }
    return R_ERROR;
}

/* Runs sql with n text parameters; as outcome(). */
static int exec_q(pg_conn *pc, const char *sql, int n, const char *const *vals,
                  PGresult **res, char *msg, size_t msz) {
    *res = NULL;
    msg[0] = 0;
    PGresult *r = pq.execParams(pc->c, sql, n, NULL, vals, NULL, NULL, 0);
    return outcome(pc, r, res, msg, msz);
}

/* Prepares statement q on pc (its second run there). A connection that
 * cannot prepare it (a pooler's server session may hold the name already)
 * runs its statements unprepared from then on; a broken one is found by
 * the statement that follows, and a missing table (the statement reads
 * "absent") is not the connection's fault: it prepares again on its next
 * run. */
static void prepare_q(pg_store *s, pg_conn *pc, int q, int n) {
    PGresult *r = pq.prepare(pc->c, s->stmt[q], s->sql[q], n, NULL);
    if (r && pq.resultStatus(r) == PGRES_COMMAND_OK)
        pc->prepared |= 1u << q;
    else if (pq.status(pc->c) == CONNECTION_OK && !sqlstate_is(r, "42P01") &&
             !sqlstate_is(r, "3F000"))
        pc->unprepared = true;
    else
        pc->runs[q] = 1; /* prepared on the next run */
    pq.clear(r);
}

/* Runs statement q of s on pc: from its second run on this connection,
 * prepared. As outcome(). */
static int exec_stmt(pg_store *s, pg_conn *pc, int q, int n,
                     const char *const *vals, PGresult **res, char *msg,
                     size_t msz) {
    uint32_t bit = 1u << q;
    if (!(pc->prepared & bit) && !pc->unprepared && ++pc->runs[q] >= 2)
        prepare_q(s, pc, q, n);
    if (pc->prepared & bit) {
        *res = NULL;
        msg[0] = 0;
        PGresult *r =
            pq.execPrepared(pc->c, s->stmt[q], n, vals, NULL, NULL, 0);
        /* Gone (26000: a pooler in transaction mode gave the statement to
         * another server session, or a DISCARD ALL), or planned for
         * columns whose type changed since (0A000, "cached plan must not
         * change result type"): nothing was done, so this connection runs
         * it again unprepared, and all its statements from now on. */
        if (pq.status(pc->c) == CONNECTION_OK &&
            (sqlstate_is(r, "26000") || sqlstate_is(r, "0A000"))) {
            pq.clear(r);
            pc->prepared = 0;
            pc->unprepared = true;
        } else {
            return outcome(pc, r, res, msg, msz);
        }
    }
    return exec_q(pc, s->sql[q], n, vals, res, msg, msz);
}

/* Puts the failure of a statement in err; returns AA_ESTATE. */
static int say(pg_store *s, int k, const char *msg, const char *what,
               aa_error *err) {
    remember(s, k == R_LOST ? msg : what, k == R_LOST ? "" : msg);
    if (k == R_LOST)
        return aa__fail(err, AA_ESTATE, "State store unavailable: %s: %s",
                        s->shown, msg);
    if (k == R_ABSENT)
        return aa__fail(err, AA_ESTATE, "state store %s: %s: no tables",
                        s->shown, what);
    if (k == R_DUP)
        return aa__fail(err, AA_ESTATE, "state store %s: %s already exists",
                        s->shown, what);
    return aa__fail(err, AA_ESTATE, "state store %s: %s: %s", s->shown, what,
                    msg);
}

/* Checks the schema version once the tables are known to be there. */
static int check_version(pg_store *s, PGresult *r, aa_error *err) {
    const char *v = pq.ntuples(r) > 0 ? pq.getvalue(r, 0, 0) : "";
    long ver = strtol(v, NULL, 10);
    if (ver == PG_SCHEMA_VERSION)
        return AA_OK;
    if (ver > PG_SCHEMA_VERSION)
        return aa__fail(
            err, AA_ESTATE,
            "state store %s: schema '%s' is version %ld, newer than "
            "this agent-auth (version %d): upgrade agent-auth",
            s->shown, s->schema, ver, PG_SCHEMA_VERSION);
    return aa__fail(err, AA_ESTATE,
                    "state store %s: schema '%s' is version '%s', this "
                    "agent-auth uses version %d: run `agent-auth state "
                    "migrate`",
                    s->shown, s->schema, v, PG_SCHEMA_VERSION);
}

/* Learns whether the tables are there (and of our version). */
static int probe_schema(pg_store *s, pg_conn *pc, aa_error *err) {
    PGresult *r;
    char msg[256];
    int k = exec_q(pc, s->sql[Q_VERSION], 0, NULL, &r, msg, sizeof msg);
    if (k == R_ABSENT) {
        atomic_store(&s->schema_state, SCHEMA_ABSENT);
        return AA_OK;
    }
    if (k != R_OK)
        return say(s, k, msg, "reading the schema version", err);
    int rc = check_version(s, r, err);
    bool old = pq.ntuples(r) > 0 && strcmp(pq.getvalue(r, 0, 0), "1") == 0;
    pq.clear(r);
    if (rc == AA_OK)
        atomic_store(&s->schema_state, SCHEMA_READY);
    else if (old)
        atomic_store(&s->schema_state, SCHEMA_OLD);
    return rc;
}

static char *expand(const char *tmpl, const char *schema) {
    aa__buf b;
    aa__buf_init(&b);
    for (const char *p = tmpl; *p; p++) {
        if (*p == '@') {
            aa__buf_putc(&b, '"');
            aa__buf_puts(&b, schema);
            aa__buf_putc(&b, '"');
        } else {
            aa__buf_putc(&b, *p);
        }
    }
    aa__buf_putc(&b, 0);
    if (b.oom) {
        aa__buf_free(&b);
        return NULL;
    }
    return b.data;
}

/* Makes the schema and tables (first write). */
static int create_schema(pg_store *s, pg_conn *pc, aa_error *err) {
    pthread_mutex_lock(&s->create_mu);
    int rc = AA_OK;
    if (atomic_load(&s->schema_state) == SCHEMA_READY)
        goto out;
    rc = probe_schema(s, pc, err);
    if (rc != AA_OK || atomic_load(&s->schema_state) == SCHEMA_READY)
        goto out;
    PGresult *r;
    char msg[256];
    const char *what = "beginning a transaction";
    int k = exec_q(pc, "BEGIN", 0, NULL, &r, msg, sizeof msg);
    pq.clear(r);
    for (size_t i = 0; k == R_OK && i < sizeof create_sql / sizeof *create_sql;
         i++) {
        char *sql = expand(create_sql[i], s->schema);
        if (!sql) {
            rc = aa__fail(err, AA_ENOMEM, "out of memory");
            break;
        }
        const char *p[1] = {s->schema};
        what = "making the tables (the role needs CREATE on the database, or "
               "an administrator runs `agent-auth state migrate` once)";
        k = exec_q(pc, sql, i == 0 ? 1 : 0, p, &r, msg, sizeof msg);
        free(sql);
        pq.clear(r);
    }
    if (k == R_OK && rc == AA_OK) {
        what = "reading the schema version";
        k = exec_q(pc, s->sql[Q_VERSION], 0, NULL, &r, msg, sizeof msg);
        if (k == R_OK) {
            rc = check_version(s, r, err);
            pq.clear(r);
        }
    }
    if (k == R_OK && rc == AA_OK) {
        what = "making the tables";
        k = exec_q(pc, "COMMIT", 0, NULL, &r, msg, sizeof msg);
        pq.clear(r);
    } else if (pc->c) {
        PGresult *rb =
            pq.execParams(pc->c, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0);
        pq.clear(rb);
    }
    if (rc == AA_OK && k != R_OK)
        rc = say(s, k, msg, what, err);
    if (rc == AA_OK)
        atomic_store(&s->schema_state, SCHEMA_READY);
out:
    pthread_mutex_unlock(&s->create_mu);
    return rc;
}

/* A connection ready for a read (mode READ) or a write (tables made). */
enum { READ, WRITE };

static pg_conn *conn_for(pg_store *s, int mode, int *status, aa_error *err) {
    pg_conn *pc = conn_get(s);
    *status = conn_ready(s, pc, err);
    if (*status == AA_OK) {
        int st = atomic_load(&s->schema_state);
        if (mode == WRITE && st != SCHEMA_READY)
            *status = create_schema(s, pc, err);
        else if (st != SCHEMA_READY) /* absent a moment ago: look again */
            *status = probe_schema(s, pc, err);
    }
    if (*status != AA_OK) {
        conn_put(pc);
        return NULL;
    }
    return pc;
}

/* Runs q for a read; a connection that broke is opened again and the read
 * tried once more (the database restarted). R_ABSENT: no tables yet; with
 * R_LOST or R_ERROR, err says why. */
static int read_q(pg_store *s, int q, int n, const char *const *vals,
                  PGresult **res, aa_error *err, const char *what) {
    *res = NULL;
    for (int attempt = 0;; attempt++) {
        int status;
        pg_conn *pc = conn_for(s, READ, &status, err);
        if (!pc)
            return R_LOST;
        if (atomic_load(&s->schema_state) == SCHEMA_ABSENT) {
            conn_put(pc);
            return R_ABSENT;
        }
        char msg[256];
        int k = exec_stmt(s, pc, q, n, vals, res, msg, sizeof msg);
        conn_put(pc);
        if (k == R_ABSENT)
            atomic_store(&s->schema_state, SCHEMA_UNKNOWN);
        if (k == R_LOST && attempt == 0)
            continue;
        if (k == R_LOST || k == R_ERROR)
            say(s, k, msg, what, err);
        return k;
    }
}

/* Runs q for a write. Not tried again when the connection breaks: it may
 * have committed. */
static int write_q(pg_store *s, int q, int n, const char *const *vals,
                   PGresult **res, aa_error *err, const char *what) {
    *res = NULL;
    for (int attempt = 0;; attempt++) {
        int status;
        pg_conn *pc = conn_for(s, WRITE, &status, err);
        if (!pc)
            return status;
        char msg[256];
        int k = exec_stmt(s, pc, q, n, vals, res, msg, sizeof msg);
        conn_put(pc);
        if (k == R_ABSENT && attempt == 0) { /* dropped meanwhile: make it */
            atomic_store(&s->schema_state, SCHEMA_UNKNOWN);
            continue;
        }
        if (k == R_OK && s->cache) /* this process reads its own writes */
            aa__cache_bump(s->cache);
        return k == R_OK ? AA_OK : say(s, k, msg, what, err);
    }
}

/* ---- values -------------------------------------------------------------- */

static void i64(char buf[24], int64_t v) {
    snprintf(buf, 24, "%" PRId64, v);
}

static int64_t col_i64(const PGresult *r, int row, int col) {
    return strtoll(pq.getvalue(r, row, col), NULL, 10);
}

static void copy_id(char dst[37], const PGresult *r, int row, int col) {
    snprintf(dst, 37, "%s", pq.getvalue(r, row, col));
}

/* A bytea column in text form ("\x" hex) decoded into a new allocation. */
static char *col_bytea(const PGresult *r, int row, int col, size_t *len) {
    const char *t = pq.getvalue(r, row, col);
    size_t tl = strlen(t);
    if (tl < 2 || t[0] != '\\' || t[1] != 'x')
        tl = 2;
    size_t n = (tl - 2) / 2;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        int hi = aa__hex_digit(t[2 + 2 * i]), lo = aa__hex_digit(t[3 + 2 * i]);
        out[i] = (char)((hi < 0 || lo < 0) ? 0 : hi * 16 + lo);
    }
    out[n] = 0;
    *len = n;
    return out;
}

/* The patterns of a grant as bytea hex text: each followed by a NUL. */
static char *pack_actions(const aa_delegation *d) {
    static const char hex[] = "0123456789abcdef";
    aa__buf raw, b;
    aa__buf_init(&raw);
    aa__buf_init(&b);
    bool ok = aa__grant_actions_pack(d, &raw);
    aa__buf_puts(&b, "\\x");
    for (size_t i = 0; ok && i < raw.len; i++) {
        unsigned char c = (unsigned char)raw.data[i];
        aa__buf_putc(&b, hex[c >> 4]);
        aa__buf_putc(&b, hex[c & 15]);
    }
    aa__buf_putc(&b, 0);
    aa__buf_free(&raw);
    if (!ok || b.oom) {
        aa__buf_free(&b);
        return NULL;
    }
    return b.data;
}

/* ---- sessions ------------------------------------------------------------ */

static int session_from_row(const PGresult *r, int row, aa_session *out) {
    return aa__session_from_cols(out, pq.getvalue(r, row, 0),
                                 pq.getvalue(r, row, 1), pq.getvalue(r, row, 2),
                                 pq.getvalue(r, row, 3), col_i64(r, row, 4),
                                 col_i64(r, row, 5), pq.getvalue(r, row, 6));
}

static int pg_session_put(aa_store *base, const aa_session *sess,
                          aa_error *err) {
    pg_store *s = (pg_store *)base;
    if (!sess || !sess->session_id[0] || !sess->agent || !sess->user)
        return aa__fail(err, AA_EINVAL, "session_put: missing field");
    char c[24], e[24];
    i64(c, sess->created_at);
    i64(e, sess->expires_at);
    const char *v[8] = {sess->session_id,
                        sess->agent,
                        sess->user,
                        sess->scope ? sess->scope : "",
                        c,
                        e,
                        aa_grant_status_name(sess->status),
                        s->schema};
    PGresult *r;
    char what[80];
    snprintf(what, sizeof what, "session '%.40s'", sess->session_id);
    int rc = write_q(s, Q_SESS_PUT, 8, v, &r, err, what);
    pq.clear(r);
    return rc;
}

/* Marks a row seen active but past its expiry (best effort). */
static void mark_expired(pg_store *s, int q, const char *id, int64_t now) {
    char n[24];
    i64(n, now);
    const char *v[2] = {id, n};
    PGresult *r;
    if (write_q(s, q, 2, v, &r, NULL, "marking an expired grant") == AA_OK)
        pq.clear(r);
}

static int session_read(pg_store *s, const char *id, int64_t now,
                        aa_session *out, aa_error *err) {
    const char *v[1] = {id};
    PGresult *r;
    int k = read_q(s, Q_SESS_GET, 1, v, &r, err, "reading a session");
    if (k == R_ABSENT)
        return AA_ENOTFOUND;
    if (k != R_OK)
        return AA_ESTATE;
    int rows = pq.ntuples(r);
    int status = rows == 0 ? AA_ENOTFOUND : session_from_row(r, 0, out);
    pq.clear(r);
    if (status == AA_OK && rows > 1)    /* the id is a key: a database that */
        out->status = AA_GRANT_REVOKED; /* says otherwise grants nothing */
    if (status == AA_ENOMEM)
        return aa__fail(err, AA_ENOMEM, "out of memory");
    if (status == AA_OK && out->status == AA_GRANT_ACTIVE &&
        now >= out->expires_at) {
        mark_expired(s, Q_SESS_EXPIRE, id, now);
        out->status = AA_GRANT_EXPIRED;
    }
    return status;
}

static bool use_cache(pg_store *s) {
    return s->cache &&
           atomic_load_explicit(&s->listening, memory_order_acquire);
}

static int pg_session_get(aa_store *base, const char *id, int64_t now,
                          aa_session *out, aa_error *err) {
    pg_store *s = (pg_store *)base;
    if (!id || !out)
        return aa__fail(err, AA_EINVAL, "session_get: missing argument");
    memset(out, 0, sizeof *out);
    bool cached = use_cache(s);
    uint64_t gen = cached ? aa__cache_gen(s->cache) : 0;
    int status;
    if (cached &&
        aa__cache_session_answer(s->cache, id, gen, now, out, &status))
        return status;
    status = session_read(s, id, now, out, err);
    if (cached && (status == AA_OK || status == AA_ENOTFOUND) && use_cache(s))
        aa__cache_session_put(s->cache, id, gen, status == AA_OK ? out : NULL);
    if (status != AA_OK)
        aa_session_clear(out);
    return status;
}

static aa__cache *pg_read_cache(aa_store *base) {
    pg_store *s = (pg_store *)base;
    return use_cache(s) ? s->cache : NULL;
}

static int pg_session_get_into(aa_store *base, const char *id, int64_t now,
                               aa_session *out, char *buf, size_t cap,
                               aa_error *err) {
    pg_store *s = (pg_store *)base;
    return aa__store_session_get_into(base, use_cache(s) ? s->cache : NULL, id,
                                      now, out, buf, cap, err);
}

static int revoke_row(pg_store *s, int q, const char *id, int64_t now,
                      int *revoked, aa_error *err) {
    *revoked = 0;
    char n[24];
    i64(n, now);
    const char *v[3] = {id, n, s->schema};
    PGresult *r;
    int rc = write_q(s, q, 3, v, &r, err, "revoking");
    if (rc != AA_OK)
        return rc;
    if (pq.ntuples(r) > 0)
        *revoked = aa__grant_status_from_text(pq.getvalue(r, 0, 0)) ==
                   AA_GRANT_REVOKED;
    pq.clear(r);
    return AA_OK;
}

static int pg_session_revoke(aa_store *base, const char *id, int64_t now,
                             int *revoked, aa_error *err) {
    if (!id || !revoked)
        return aa__fail(err, AA_EINVAL, "session_revoke: missing argument");
    return revoke_row((pg_store *)base, Q_SESS_REVOKE, id, now, revoked, err);
}

/* Fills the element at out (a row of a list) from row `row` of r. */
typedef int (*row_fill)(const PGresult *r, int row, void *out);

/* Runs the listing q and fills a new array (elements of `size` bytes, each
 * emptied by clear) with its rows: *out and *n. No tables: no rows. */
static int read_list(pg_store *s, int q, int nv, const char *const *v,
                     const char *what, size_t size, row_fill fill,
                     void (*clear)(void *), void **out, size_t *n,
                     aa_error *err) {
    *out = NULL;
    *n = 0;
    PGresult *r;
    int k = read_q(s, q, nv, v, &r, err, what);
    if (k == R_ABSENT)
        return AA_OK;
    if (k != R_OK)
        return AA_ESTATE;
    int rows = pq.ntuples(r);
    char *items = calloc(rows ? (size_t)rows : 1, size);
    int status = items ? AA_OK : AA_ENOMEM;
    int i = 0;
    for (; status == AA_OK && i < rows; i++)
        status = fill(r, i, items + (size_t)i * size);
    pq.clear(r);
    if (status != AA_OK) { /* the row that failed is empty already */
        for (int j = 0; j < i - 1; j++)
            clear(items + (size_t)j * size);
        free(items);
        return aa__fail(err, AA_ENOMEM, "out of memory");
    }
    *out = items;
    *n = (size_t)rows;
    return AA_OK;
}

static int session_fill(const PGresult *r, int row, void *out) {
    return session_from_row(r, row, out);
}

static void session_clear(void *sess) {
    aa_session_clear(sess);
}

static int pg_session_list(aa_store *base, const char *agent, const char *user,
                           int64_t now, aa_session **out, size_t *n,
                           aa_error *err) {
    if (!out || !n)
        return aa__fail(err, AA_EINVAL, "session_list: missing argument");
    char t[24];
    i64(t, now);
    const char *v[3] = {agent, user, t};
    void *items;
    int rc =
        read_list((pg_store *)base, Q_SESS_LIST, 3, v, "listing sessions",
                  sizeof **out, session_fill, session_clear, &items, n, err);
    *out = items;
    return rc;
}

/* ---- delegations --------------------------------------------------------- */

static int delegation_from_row(const PGresult *r, int row, aa_delegation *out) {
    size_t len = 0;
    char *blob = col_bytea(r, row, 3, &len);
    if (!blob) {
        memset(out, 0, sizeof *out);
        return AA_ENOMEM;
    }
    int status = aa__delegation_from_cols(
        out, pq.getvalue(r, row, 0), pq.getvalue(r, row, 1),
        pq.getvalue(r, row, 2), blob, len, col_i64(r, row, 4),
        col_i64(r, row, 5), pq.getvalue(r, row, 6), pq.getvalue(r, row, 7));
    free(blob);
    return status;
}

static int pg_delegation_put(aa_store *base, const aa_delegation *d,
                             aa_error *err) {
    pg_store *s = (pg_store *)base;
    if (!d || !d->delegation_id[0] || !d->from_user || !d->to_agent ||
        (d->action_count && !d->actions))
        return aa__fail(err, AA_EINVAL, "delegation_put: missing field");
    char *acts = pack_actions(d);
    if (!acts)
        return aa__fail(err, AA_ENOMEM, "out of memory");
    char g[24], e[24];
    i64(g, d->granted_at);
    i64(e, d->expires_at);
    const char *v[9] = {d->delegation_id,
                        d->from_user,
                        d->to_agent,
                        acts,
                        g,
                        e,
                        d->reason ? d->reason : "",
                        aa_grant_status_name(d->status),
                        s->schema};
    PGresult *r;
    char what[80];
    snprintf(what, sizeof what, "delegation '%.40s'", d->delegation_id);
    int rc = write_q(s, Q_DEL_PUT, 9, v, &r, err, what);
    pq.clear(r);
    free(acts);
    return rc;
}

static int pg_delegation_get(aa_store *base, const char *id, int64_t now,
                             aa_delegation *out, aa_error *err) {
    pg_store *s = (pg_store *)base;
    if (!id || !out)
        return aa__fail(err, AA_EINVAL, "delegation_get: missing argument");
    memset(out, 0, sizeof *out);
    const char *v[1] = {id};
    PGresult *r;
    int k = read_q(s, Q_DEL_GET, 1, v, &r, err, "reading a delegation");
    if (k == R_ABSENT)
        return AA_ENOTFOUND;
    if (k != R_OK)
        return AA_ESTATE;
    int rows = pq.ntuples(r);
    int status = rows == 0 ? AA_ENOTFOUND : delegation_from_row(r, 0, out);
    pq.clear(r);
    if (status == AA_OK && rows > 1) /* as for a session */
        out->status = AA_GRANT_REVOKED;
    if (status == AA_ENOMEM)
        return aa__fail(err, AA_ENOMEM, "out of memory");
    if (status == AA_OK && out->status == AA_GRANT_ACTIVE &&
        now >= out->expires_at) {
        mark_expired(s, Q_DEL_EXPIRE, id, now);
        out->status = AA_GRANT_EXPIRED;
    }
    return status;
}

/* The pair's live grants, oldest first. */
static int read_pair(pg_store *s, const char *agent, const char *user,
                     int64_t now, aa__cache_grant **out, size_t *n,
                     aa_error *err) {
    *out = NULL;
    *n = 0;
    char t[24];
    i64(t, now);
    const char *v[3] = {agent, user, t};
    PGresult *r;
    int k = read_q(s, Q_DEL_FIND, 3, v, &r, err, "finding a delegation");
    if (k == R_ABSENT)
        return AA_OK;
    if (k != R_OK)
        return AA_ESTATE;
    int rows = pq.ntuples(r);
    aa__cache_grant *g = calloc(rows ? (size_t)rows : 1, sizeof *g);
    int status = g ? AA_OK : AA_ENOMEM;
    int i = 0;
    for (; status == AA_OK && i < rows; i++) {
        copy_id(g[i].id, r, i, 0);
        g[i].expires_at = col_i64(r, i, 1);
        g[i].patterns = col_bytea(r, i, 2, &g[i].len);
        if (!g[i].patterns)
            status = AA_ENOMEM;
    }
    pq.clear(r);
    if (status != AA_OK) {
        aa__cache_grants_free(g, (size_t)i);
        return aa__fail(err, AA_ENOMEM, "out of memory");
    }
    *out = g;
    *n = (size_t)rows;
    return AA_OK;
}

static int pg_delegation_find(aa_store *base, const char *agent,
                              const char *user, const char *action, int64_t now,
                              aa__deleg_hit *hit, aa_error *err) {
    pg_store *s = (pg_store *)base;
    if (!agent || !user || !action || !hit)
        return aa__fail(err, AA_EINVAL, "delegation_find: missing argument");
    bool found = false;
    bool cached = use_cache(s);
    uint64_t gen = cached ? aa__cache_gen(s->cache) : 0;
    if (cached && aa__cache_deleg_find(s->cache, agent, user, action, now, gen,
                                       &found, hit))
        return found ? AA_OK : AA_ENOTFOUND;
    aa__cache_grant *grants;
    size_t n;
    int status = read_pair(s, agent, user, now, &grants, &n, err);
    if (status != AA_OK)
        return status;
    size_t alen = strlen(action);
    for (size_t i = 0; i < n && !found; i++) {
        if (now < grants[i].expires_at &&
            aa__grant_patterns_match(grants[i].patterns, grants[i].len, action,
                                     alen, hit)) {
            memcpy(hit->delegation_id, grants[i].id, sizeof grants[i].id);
            hit->expires_at = grants[i].expires_at;
            found = true;
        }
    }
    if (cached && use_cache(s))
        aa__cache_deleg_put(s->cache, agent, user, gen, grants, n);
    else
        aa__cache_grants_free(grants, n);
    return found ? AA_OK : AA_ENOTFOUND;
}

static int pg_delegation_revoke(aa_store *base, const char *id, int64_t now,
                                int *revoked, aa_error *err) {
    if (!id || !revoked)
        return aa__fail(err, AA_EINVAL, "delegation_revoke: missing argument");
    return revoke_row((pg_store *)base, Q_DEL_REVOKE, id, now, revoked, err);
}

static int delegation_fill(const PGresult *r, int row, void *out) {
    return delegation_from_row(r, row, out);
}

static void delegation_clear(void *d) {
    aa_delegation_clear(d);
}

static int pg_delegation_list(aa_store *base, const char *agent, int64_t now,
                              aa_delegation **out, size_t *n, aa_error *err) {
    if (!out || !n)
        return aa__fail(err, AA_EINVAL, "delegation_list: missing argument");
    char t[24];
    i64(t, now);
    const char *v[2] = {agent, t};
    void *items;
    int rc = read_list((pg_store *)base, Q_DEL_LIST, 2, v,
                       "listing delegations", sizeof **out, delegation_fill,
                       delegation_clear, &items, n, err);
    *out = items;
    return rc;
}

/* ---- cleanup ------------------------------------------------------------- */

static size_t affected(PGresult *r) {
    return (size_t)strtoull(pq.cmdTuples(r), NULL, 10);
}

static int pg_cleanup(aa_store *base, int64_t now, int64_t retention_us,
                      size_t *marked, size_t *purged, aa_error *err) {
    pg_store *s = (pg_store *)base;
    int64_t cutoff;
    int rc = aa__cleanup_cutoff(now, retention_us, &cutoff, err);
    if (rc != AA_OK)
        return rc;
    if (atomic_load(&s->schema_state) != SCHEMA_READY) {
        int status;
        pg_conn *pc = conn_for(s, READ, &status, err);
        if (!pc)
            return status;
        conn_put(pc);
        if (atomic_load(&s->schema_state) != SCHEMA_READY) {
            if (marked)
                *marked = 0;
            if (purged)
                *purged = 0;
            return AA_OK; /* nothing stored yet */
        }
    }
    static const int steps[4] = {Q_MARK_SESS, Q_MARK_DEL, Q_PURGE_SESS,
                                 Q_PURGE_DEL};
    size_t counts[4] = {0};
    for (int i = 0; i < 4; i++) {
        char t[24];
        i64(t, i < 2 ? now : cutoff);
        const char *v[1] = {t};
        PGresult *r;
        rc = write_q(s, steps[i], 1, v, &r, err, "cleaning up");
        if (rc != AA_OK)
            return rc;
        counts[i] = affected(r);
        pq.clear(r);
    }
    if (marked)
        *marked = counts[0] + counts[1];
    if (purged)
        *purged = counts[2] + counts[3];
    return AA_OK;
}

static void pg_last_failure(aa_store *base, char *buf, size_t size) {
    pg_store *s = (pg_store *)base;
    pthread_mutex_lock(&s->retry_mu);
    snprintf(buf, size, "%s", s->last_failure);
    pthread_mutex_unlock(&s->retry_mu);
}

/* ---- migrate and copy ---------------------------------------------------- */

/* Runs the statements of list in one transaction ($1: the schema). */
static int run_script(pg_store *s, pg_conn *pc, const char *const *list,
                      size_t n, const char *what, aa_error *err) {
    PGresult *r;
    char msg[256];
    int k = exec_q(pc, "BEGIN", 0, NULL, &r, msg, sizeof msg);
    pq.clear(r);
    for (size_t i = 0; k == R_OK && i < n; i++) {
        char *sql = expand(list[i], s->schema);
        if (!sql)
            return aa__fail(err, AA_ENOMEM, "out of memory");
        const char *p[1] = {s->schema};
        k = exec_q(pc, sql, i == 0 ? 1 : 0, p, &r, msg, sizeof msg);
        free(sql);
        pq.clear(r);
    }
    if (k == R_OK) {
        k = exec_q(pc, "COMMIT", 0, NULL, &r, msg, sizeof msg);
        pq.clear(r);
    } else if (pc->c) {
        r = pq.execParams(pc->c, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0);
        pq.clear(r);
    }
    return k == R_OK ? AA_OK : say(s, k, msg, what, err);
}

static int pg_migrate(aa_store *base, const char **what, aa_error *err) {
    pg_store *s = (pg_store *)base;
    *what = "up to date";
    pg_conn *pc = conn_get(s);
    int status = conn_ready(s, pc, err);
    if (status == AA_OK) {
        aa_error *probe = aa_error_new();
        status = probe_schema(s, pc, probe);
        if (atomic_load(&s->schema_state) == SCHEMA_OLD) {
            status = run_script(s, pc, upgrade_1_sql,
                                sizeof upgrade_1_sql / sizeof *upgrade_1_sql,
                                "upgrading the schema from version 1 (the "
                                "role needs CREATE on the schema)",
                                err);
            if (status == AA_OK) {
                atomic_store(&s->schema_state, SCHEMA_UNKNOWN);
                status = probe_schema(s, pc, err);
                *what = "upgraded from version 1 to 2";
            }
        } else if (status != AA_OK) {
            const aa_diag *d = aa_error_get(probe, 0);
            status = aa__fail(err, status, "%s",
                              d ? d->message : aa_strerror(status));
        } else if (atomic_load(&s->schema_state) != SCHEMA_READY) {
            status = create_schema(s, pc, err);
            *what = "created";
        }
        aa_error_free(probe);
    }
    conn_put(pc);
    return status;
}

static int pg_each(aa_store *base,
                   int (*fn)(void *, const aa_session *, const aa_delegation *),
                   void *ud, aa_error *err) {
    pg_store *s = (pg_store *)base;
    static const char *const tmpl[2] = {
        "SELECT " SESS_COLS " FROM @.sessions ORDER BY created_at, seq",
        "SELECT " DEL_COLS " FROM @.delegations ORDER BY granted_at, seq"};
    int status = AA_OK;
    for (int k = 0; k < 2 && status == AA_OK; k++) {
        char *sql = expand(tmpl[k], s->schema);
        if (!sql)
            return aa__fail(err, AA_ENOMEM, "out of memory");
        pg_conn *pc = conn_for(s, READ, &status, err);
        if (!pc) {
            free(sql);
            return status;
        }
        if (atomic_load(&s->schema_state) != SCHEMA_READY) {
            conn_put(pc);
            free(sql);
            return AA_OK; /* no tables: nothing stored */
        }
        PGresult *r;
        char msg[256];
        int kind = exec_q(pc, sql, 0, NULL, &r, msg, sizeof msg);
        conn_put(pc);
        free(sql);
        if (kind == R_ABSENT)
            return AA_OK;
        if (kind != R_OK)
            return say(s, kind, msg, "reading every row", err);
        for (int i = 0; status == AA_OK && i < pq.ntuples(r); i++) {
            aa_session sess;
            aa_delegation d;
            memset(&sess, 0, sizeof sess);
            memset(&d, 0, sizeof d);
            if ((k == 0 ? session_from_row(r, i, &sess)
                        : delegation_from_row(r, i, &d)) != AA_OK) {
                status = aa__fail(err, AA_ENOMEM, "out of memory");
                break;
            }
            status = k == 0 ? fn(ud, &sess, NULL) : fn(ud, NULL, &d);
            aa_session_clear(&sess);
            aa_delegation_clear(&d);
        }
        pq.clear(r);
    }
    return status;
}

/* ---- notifications (cached mode) ----------------------------------------- */

static void *listen_main(void *arg) {
    pg_store *s = arg;
    PGconn *c = NULL;
    uint64_t backoff = 0;
    uint64_t heard_at = 0, ping_at = 0; /* mono ns; ping_at 0: none asked */
    uint64_t up_since = 0;              /* when the connection was made */
    while (!atomic_load(&s->stop)) {
        if (!c) {
            char why[768];
            c = connect_now(s, "agent-auth listener", why, sizeof why);
            PGresult *r = c ? pq.execParams(c, "LISTEN " CHANNEL, 0, NULL, NULL,
                                            NULL, NULL, 0)
                            : NULL;
            bool ok = r && pq.resultStatus(r) == PGRES_COMMAND_OK;
            if (r)
                pq.clear(r);
            if (!ok) {
                if (c)
                    pq.finish(c);
                c = NULL;
                backoff = backoff ? backoff * 2 : BACKOFF_MIN_NS;
                if (backoff > BACKOFF_MAX_NS)
                    backoff = BACKOFF_MAX_NS;
                /* sleep in small steps so that closing is quick */
                for (uint64_t t = 0; t < backoff && !atomic_load(&s->stop);
                     t += 10000000ull) {
                    struct timespec ts = {0, 10000000L};
                    nanosleep(&ts, NULL);
                }
                continue;
            }
            up_since = heard_at = aa__mono_ns();
            ping_at = 0;
            /* Whatever was cached before may have missed a change. */
            aa__cache_bump(s->cache);
            atomic_store_explicit(&s->listening, true, memory_order_release);
        }
        uint64_t now = aa__mono_ns();
        bool broken = false;
        if (!ping_at && now - heard_at > HEARTBEAT_NS) {
            if (pq.sendQuery(c, "SELECT 1"))
                ping_at = now;
            else
                broken = true;
        } else if (ping_at && now - ping_at > PING_WAIT_NS) {
            broken = true; /* no answer: the network may be gone */
        }
        struct pollfd p = {.fd = pq.socket(c), .events = POLLIN};
        int n = broken ? 0 : poll(&p, 1, 50);
        if (n < 0 && errno != EINTR)
            n = 1;
        if (n > 0) {
            heard_at = aa__mono_ns();
            broken = !pq.consumeInput(c) || pq.status(c) != CONNECTION_OK ||
                     (p.revents & (POLLHUP | POLLERR));
            while (!broken && ping_at && !pq.isBusy(c)) {
                PGresult *r = pq.getResult(c);
                if (!r) {
                    ping_at = 0; /* answered */
                    break;
                }
                pq.clear(r);
            }
            PGnotify *note;
            bool changed = false;
            while ((note = pq.notifies(c)) != NULL) {
                if (note->extra && strcmp(note->extra, s->schema) == 0)
                    changed = true;
                pq.freemem(note);
            }
            if (changed)
                aa__cache_bump(s->cache);
        }
        if (broken) {
            /* Notifications may be lost from here on: read through. */
            atomic_store_explicit(&s->listening, false, memory_order_release);
            aa__cache_bump(s->cache);
            pq.finish(c);
            c = NULL;
            /* A connection that lived less than LISTEN_STABLE_NS (a server
             * or proxy that ends it at once) is made again only after the
             * backoff, as a failed one: never in a tight loop. */
            if (aa__mono_ns() - up_since >= LISTEN_STABLE_NS) {
                backoff = 0;
            } else {
                backoff = backoff ? backoff * 2 : BACKOFF_MIN_NS;
                if (backoff > BACKOFF_MAX_NS)
                    backoff = BACKOFF_MAX_NS;
                for (uint64_t t = 0; t < backoff && !atomic_load(&s->stop);
                     t += 10000000ull) {
                    struct timespec ts = {0, 10000000L};
                    nanosleep(&ts, NULL);
                }
            }
        }
    }
    atomic_store(&s->listening, false);
    if (c)
        pq.finish(c);
    return NULL;
}

/* ---- opening and closing ------------------------------------------------- */

/* ---- audit anchoring ---------------------------------------------------- */

static int pg_anchor_put(aa_store *base, const aa__anchor *a, aa_error *err) {
    pg_store *s = (pg_store *)base;
    char lines[24], at[24];
    i64(lines, a->lines);
    i64(at, a->updated_at);
    const char *v[5] = {a->identity, a->path, lines, a->hash, at};
    PGresult *r;
    int rc =
        write_q(s, Q_ANCHOR_PUT, 5, v, &r, err, "recording the audit head");
    pq.clear(r);
    return rc;
}

static void anchor_from_row(const PGresult *r, aa__anchor *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->identity, sizeof out->identity, "%s", pq.getvalue(r, 0, 0));
    snprintf(out->path, sizeof out->path, "%s", pq.getvalue(r, 0, 1));
    out->lines = col_i64(r, 0, 2);
    snprintf(out->hash, sizeof out->hash, "%s", pq.getvalue(r, 0, 3));
    out->updated_at = col_i64(r, 0, 4);
}

static int pg_anchor_get(aa_store *base, const char *identity, const char *path,
                         aa__anchor *by_id, bool *found_id, aa__anchor *by_path,
                         bool *found_path, aa_error *err) {
    pg_store *s = (pg_store *)base;
    *found_id = *found_path = false;
    for (int q = 0; q < 2; q++) {
        const char *v[1] = {q == 0 ? identity : path};
        PGresult *r;
        int k = read_q(s, q == 0 ? Q_ANCHOR_GET : Q_ANCHOR_PATH, 1, v, &r, err,
                       "reading the audit head");
        if (k == R_ABSENT)
            return AA_OK; /* no tables: nothing recorded */
        if (k != R_OK)
            return AA_ESTATE;
        if (pq.ntuples(r) > 0) {
            anchor_from_row(r, q == 0 ? by_id : by_path);
            *(q == 0 ? found_id : found_path) = true;
        }
        pq.clear(r);
    }
    return AA_OK;
}

static int pg_ping(aa_store *base, aa_error *err) {
    pg_store *s = (pg_store *)base;
    pg_conn *pc = conn_get(s);
    int rc = conn_ready(s, pc, err);
    if (rc == AA_OK) {
        PGresult *r;
        char msg[256];
        int k = exec_q(pc, "SELECT 1", 0, NULL, &r, msg, sizeof msg);
        pq.clear(r);
        if (k == R_LOST) /* broken since its last use: once more */
            rc = conn_ready(s, pc, err);
        else if (k != R_OK)
            rc = say(s, k, msg, "answering", err);
    }
    conn_put(pc);
    return rc;
}

static void pg_close(aa_store *base) {
    pg_store *s = (pg_store *)base;
    registry_remove(s);
    if (s->listener_started) {
        atomic_store(&s->stop, true);
        pthread_join(s->listener, NULL);
    }
    for (int i = 0; i < POOL; i++) {
        if (s->conns[i].c)
            pq.finish(s->conns[i].c);
        pthread_mutex_destroy(&s->conns[i].mu);
    }
    for (int q = 0; q < Q_COUNT; q++)
        free(s->sql[q]);
    aa__cache_close(s->cache);
    pthread_mutex_destroy(&s->create_mu);
    pthread_mutex_destroy(&s->retry_mu);
    free(s->conninfo);
    free(s->shown);
    free(s);
}

static const aa__store_ops pg_ops = {
    .kind = "postgresql",
    .close = pg_close,
    .session_put = pg_session_put,
    .session_get = pg_session_get,
    .session_get_into = pg_session_get_into,
    .session_revoke = pg_session_revoke,
    .session_list = pg_session_list,
    .delegation_put = pg_delegation_put,
    .delegation_get = pg_delegation_get,
    .delegation_find = pg_delegation_find,
    .read_cache = pg_read_cache,
    .delegation_revoke = pg_delegation_revoke,
    .delegation_list = pg_delegation_list,
    .cleanup = pg_cleanup,
    .migrate = pg_migrate,
    .last_failure = pg_last_failure,
    .each = pg_each,
    .anchor_put = pg_anchor_put,
    .anchor_get = pg_anchor_get,
    .ping = pg_ping,
};

/* For the tests: how many statements are prepared, over every connection
 * of st (a PostgreSQL store); *unprepared: how many connections run theirs
 * unprepared for good. */
size_t aa__store_pg_prepared(aa_store *st, size_t *unprepared);
size_t aa__store_pg_prepared(aa_store *st, size_t *unprepared) {
    pg_store *s = (pg_store *)st;
    size_t n = 0;
    *unprepared = 0;
    for (int i = 0; i < POOL; i++) {
        pthread_mutex_lock(&s->conns[i].mu);
        n += (size_t)__builtin_popcount(s->conns[i].prepared);
        *unprepared += s->conns[i].unprepared;
        pthread_mutex_unlock(&s->conns[i].mu);
    }
    return n;
}

/* For the tests: whether the notification connection of st (a cached
 * PostgreSQL store) is made and listening. */
bool aa__store_pg_listening(aa_store *st);
bool aa__store_pg_listening(aa_store *st) {
    pg_store *s = (pg_store *)st;
    return atomic_load_explicit(&s->listening, memory_order_acquire);
}

/* Whether a host of opts is a Unix socket directory that every user may
 * write to (/tmp, or any mode o+w directory), while no requirepeer makes
 * libpq check who owns the socket; the first such directory in dir. */
static bool open_socket_dir(const PQconninfoOption *opts, char *dir,
                            size_t size) {
    const char *hosts = NULL;
    for (const PQconninfoOption *o = opts; o->keyword; o++) {
        if (strcmp(o->keyword, "requirepeer") == 0 && o->val && *o->val)
            return false;
        if (strcmp(o->keyword, "host") == 0)
            hosts = o->val;
    }
    for (const char *h = hosts; h && *h;) {
        size_t n = strcspn(h, ",");
        if (h[0] == '/' && n < size) {
            memcpy(dir, h, n);
            dir[n] = 0;
            struct stat st;
            if (stat(dir, &st) == 0 && (st.st_mode & S_IWOTH))
                return true;
        }
        h += n + (h[n] == ',');
    }
    return false;
}

int aa__store_open_pg(const char *url, const char *schema, bool cached,
                      bool lazy, aa_store **out, aa_error *err);
int aa__store_open_pg(const char *url, const char *schema, bool cached,
                      bool lazy, aa_store **out, aa_error *err) {
    *out = NULL;
    char shown[512];
    aa__state_url_redact(url, shown, sizeof shown);
    if (!aa__pg_ident_ok(schema))
        return aa__fail(err, AA_EINVAL,
                        "state schema '%.64s' must be 1 to 63 lowercase "
                        "letters, digits or '_', not starting with a digit",
                        schema);
    pthread_once(&pq_once, pq_load);
    if (!pq.connectStartParams)
        return aa__fail(err, AA_ESTATE, "state store %s: %s", shown,
                        pq_load_error);
    char *perr = NULL;
    PQconninfoOption *opts = pq.conninfoParse(url, &perr);
    if (!opts) {
        char line[200];
        first_line(perr ? perr : "out of memory", line, sizeof line);
        if (perr)
            pq.freemem(perr);
        /* libpq may quote a piece of the URL: never the password. */
        return aa__fail(err, AA_EINVAL,
                        "state location '%s': not a valid PostgreSQL URL (%s)",
                        shown, strstr(line, "password") ? "bad syntax" : line);
    }
    char bad_dir[256];
    bool open_dir = open_socket_dir(opts, bad_dir, sizeof bad_dir);
    pq.conninfoFree(opts);
    if (open_dir)
        return aa__fail(err, AA_EINVAL,
                        "state location '%s': the socket directory '%s' is "
                        "writable by every user: anyone could put a socket "
                        "there, pose as the server and be sent the password "
                        "(use a directory only the server's user can write "
                        "to, or add requirepeer=USER with the server's user)",
                        shown, bad_dir);
    pg_store *s = calloc(1, sizeof *s);
    if (!s)
        return aa__fail(err, AA_ENOMEM, "out of memory");
    s->base.ops = &pg_ops;
    snprintf(s->schema, sizeof s->schema, "%s", schema);
    s->conninfo = strdup(url);
    s->shown = strdup(shown);
    pthread_mutex_init(&s->create_mu, NULL);
    pthread_mutex_init(&s->retry_mu, NULL);
    for (int i = 0; i < POOL; i++)
        pthread_mutex_init(&s->conns[i].mu, NULL);
    bool ok = s->conninfo && s->shown;
    for (int q = 0; ok && q < Q_COUNT; q++) {
        ok = (s->sql[q] = expand(query_sql[q], s->schema)) != NULL;
        /* Named by its text (the schema is in it): under a pooler that
         * shares server sessions, a statement of ours found there under
         * this name is this very statement. */
        if (ok)
            snprintf(s->stmt[q], sizeof s->stmt[q], "aa_%d_%016" PRIx64, q,
                     aa__hash(s->sql[q], strlen(s->sql[q])));
    }
    if (!ok) {
        pg_close(&s->base);
        return aa__fail(err, AA_ENOMEM, "out of memory");
    }
    /* Connect now (a wrong URL or password is said at once), unless the
     * caller wants the connection made when a call first needs it. */
    if (!lazy) {
        int status;
        pg_conn *pc = conn_for(s, READ, &status, err);
        if (!pc) {
            pg_close(&s->base);
            return status;
        }
        conn_put(pc);
    }
    if (cached) {
        s->cache = aa__cache_new_local();
        if (s->cache && pthread_create(&s->listener, NULL, listen_main, s) == 0)
            s->listener_started = true;
    }
    registry_add(s);
    *out = &s->base;
    return AA_OK;
}
