/*
 * server.h - `agent-auth serve`: the decision service (docs/server.md).
 *
 * Three parts, each a file:
 *   core.c   the service state: the current policy snapshot (reference
 *            counted, swapped whole on reload), the state store, metrics;
 *   api.c    one HTTP request in (method, path, headers, query, body), one
 *            response out - no sockets, so the fuzz target drives it too;
 *   serve.c  the command: options, listening socket, libmicrohttpd,
 *            signals, --watch.
 * Everything here uses only the public API of agent_auth.h.
 */
#ifndef AA_SERVER_H
#define AA_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "agent_auth.h"

/* An open state store, shared by the snapshots that use it: a reload that
 * keeps the store's path keeps the store; one that names another opens it,
 * and the old store is closed when the last snapshot over it goes. */
typedef struct srv_store {
    atomic_int refs;
    aa_store *store;
    char *path; /* NULL for the in-memory store */
} srv_store;

/* Which file a policy was read from: a reload is due when the policy path
 * names another file, or the same file changed (--watch). */
typedef struct srv_file_id {
    dev_t dev;
    ino_t ino;
    struct timespec mtime;
    off_t size;
} srv_file_id;

/* A loaded policy, its store and the engine over both. Requests hold a
 * reference for their whole length, so a reload never pulls a policy or a
 * store from under one: the last holder frees them. */
typedef struct srv_snap {
    atomic_int refs;
    aa_policy *policy;
    aa_engine *engine;
    srv_store *store;
    char sha256[65]; /* of the policy file's bytes, hex */
    srv_file_id file; /* the file the policy was read from */
} srv_snap;

/* Decision duration histogram bucket bounds, in seconds. */
#define SRV_NBUCKETS 12

typedef struct srv_metrics {
    atomic_ullong decisions[3]; /* allowed, denied, approval */
    atomic_ullong duration_bucket[SRV_NBUCKETS + 1]; /* last: +Inf */
    atomic_ullong duration_sum_ns;
    atomic_ullong http[600]; /* by status code */
    atomic_ullong reloads_ok, reloads_error;
    atomic_ullong audit_write_errors;
} srv_metrics;

typedef struct srv {
    const char *config_path;
    const char *state_path; /* NULL: the policy's */
    size_t max_body;        /* bytes */
    bool log_json;
    /* Bearer token for /v1/ (NULL: none). */
    char *token;
    size_t token_len;

    pthread_mutex_t snap_mu; /* guards cur (taking a reference) */
    srv_snap *cur;
    pthread_mutex_t reload_mu;    /* one reload at a time; guards below */
    char last_reload_error[1024]; /* "" when the last reload worked */
    /* Why the state store could not be reached at start ("" when it
     * could): the server serves anyway, and connects when it answers. */
    char start_store_error[1024];

    bool store_memory; /* tests, fuzzing: one in-memory store throughout */

    atomic_bool draining;      /* SIGTERM received: answer Connection: close */
    atomic_bool audit_failing; /* the last audited write failed */
    srv_metrics m;
} srv;

/* Loads the policy and opens the store: AA_OK or an error with messages in
 * err. store_memory (tests, fuzzing) uses an in-memory store. */
int srv_init(srv *s, const char *config_path, const char *state_path,
             bool store_memory, aa_error *err);
void srv_free(srv *s);

/* Loads and compiles the policy file again and opens its state store when
 * the policy names another one; on success swaps both in. On failure the
 * old policy and store stay, err has the messages and why (when not NULL)
 * gets the one-line reason that /readyz shows. */
int srv_reload(srv *s, aa_error *err, char *why, size_t whylen);

/* The identity of the file path names now, following symlinks (a
 * Kubernetes ConfigMap's policy is a symlink through `..data`): false when
 * it cannot be read. */
bool srv_file_id_of(const char *path, srv_file_id *id);
bool srv_file_id_equal(const srv_file_id *a, const srv_file_id *b);

/* A reference to the current snapshot; give it back with srv_snap_put. */
srv_snap *srv_snap_get(srv *s);
void srv_snap_put(srv_snap *snap);

/* Writes one log line on stderr (text or JSON as configured). */
void srv_log(const srv *s, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- one HTTP exchange --------------------------------------------------- */

typedef struct srv_http_req {
    const char *method;
    const char *path; /* without the query string */
    const char *body;
    size_t body_len;
    /* Header and query argument lookup (NULL when absent). */
    const char *(*header)(void *ud, const char *name);
    const char *(*query)(void *ud, const char *name);
    void *ud;
} srv_http_req;

typedef struct srv_http_resp {
    int status;
    char *body; /* malloc'ed */
    size_t len;
    const char *content_type;
    const char *allow; /* Allow header for 405, else NULL */
    bool auth_headers; /* send tier/reason below as X-Agent-Auth-* */
    char tier[16];
    char reason[256]; /* header-safe */
    bool www_auth;    /* 401: WWW-Authenticate: Bearer */
} srv_http_resp;

/* Answers one request; never fails (an internal problem is a 500 JSON). */
void srv_handle(srv *s, const srv_http_req *req, srv_http_resp *resp);

/* Counts one decision duration in the histogram. */
void srv_metrics_observe(srv *s, double seconds);
/* Prometheus text of the metrics (malloc'ed). */
char *srv_metrics_text(srv *s, size_t *len);

/* The value of a hex digit, or -1. */
static inline int srv_hexval(char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

#endif
