/*
 * store.h - where sessions and delegation grants live.
 *
 * The engine reads and writes state only through this table of functions,
 * so that it does not care whether state is in memory (tests, `agent-auth
 * test`), in a SQLite file (the default), or, later, in a shared server.
 * A store is plain persistence: the rules of contract section 9 (defaults,
 * clamping, validation) live in state.c, which calls these.
 *
 * Every function may be called from several threads at once; an
 * implementation serialises internally as it needs. Times are microseconds
 * since the epoch; "now" is passed in so tests can move the clock.
 * A grant is live when status is active and now < expires_at
 * (now >= expires_at is expired).
 */
#ifndef AA_STORE_H
#define AA_STORE_H

#include "util.h"

/* The head of an audit log as recorded in a store (audit anchoring,
 * docs/state.md): the log is named by its identity, the hash of its first
 * record, with the path it was written at beside it. */
typedef struct aa__anchor {
    char identity[65]; /* 64 hex: the hash of the log's first record */
    char path[4096];   /* the absolute path it was written at */
    int64_t lines;     /* lines in the file (its '\n' count) */
    char hash[65];     /* the hash of line `lines` */
    int64_t updated_at;
} aa__anchor;

/* The delegation that permitted an action, as the engine reports it. */
typedef struct aa__deleg_hit {
    char delegation_id[37];
    int64_t expires_at;
    char pattern[256]; /* the grant's action pattern that matched (cut) */
} aa__deleg_hit;

typedef struct aa__store_ops {
    const char *kind; /* "sqlite", "memory" */
    void (*close)(aa_store *s);

    /* Inserts a new session (id and every field already set). */
    int (*session_put)(aa_store *s, const aa_session *sess, aa_error *err);
    /* Fills *out (caller clears it) for any status. AA_ENOTFOUND when no
     * such id. An active session with now >= expires_at is marked expired
     * in the store and returned with status expired. */
    int (*session_get)(aa_store *s, const char *id, int64_t now,
                       aa_session *out, aa_error *err);
    /* Optional (NULL: use session_get): the same, but the strings of *out
     * point into buf (cap bytes) and there is nothing to clear, so that a
     * lookup the store answers from memory allocates nothing. AA_ELIMIT
     * when they do not fit. */
    int (*session_get_into)(aa_store *s, const char *id, int64_t now,
                            aa_session *out, char *buf, size_t cap,
                            aa_error *err);
    /* *revoked = 1 when it was active (and unexpired) and is now revoked. */
    int (*session_revoke)(aa_store *s, const char *id, int64_t now,
                          int *revoked, aa_error *err);
    /* Live sessions, filters NULL for any, ordered by created_at. */
    int (*session_list)(aa_store *s, const char *agent, const char *user,
                        int64_t now, aa_session **out, size_t *n,
                        aa_error *err);

    int (*delegation_put)(aa_store *s, const aa_delegation *d, aa_error *err);
    int (*delegation_get)(aa_store *s, const char *id, int64_t now,
                          aa_delegation *out, aa_error *err);
    /* The first live grant (oldest first) from `user` to `agent` with an
     * action pattern that matches `action` (fnmatch, pattern.h). AA_OK and
     * *hit filled when found, AA_ENOTFOUND when none. Must not scan grants
     * of other (agent, user) pairs. */
    int (*delegation_find)(aa_store *s, const char *agent, const char *user,
                           const char *action, int64_t now, aa__deleg_hit *hit,
                           aa_error *err);
    int (*delegation_revoke)(aa_store *s, const char *id, int64_t now,
                             int *revoked, aa_error *err);
    /* Live grants, to `agent` (NULL for any), ordered by granted_at. */
    int (*delegation_list)(aa_store *s, const char *agent, int64_t now,
                           aa_delegation **out, size_t *n, aa_error *err);

    /* Marks expired rows; deletes rows that are not active and whose
     * expires_at is older than now - retention. */
    int (*cleanup)(aa_store *s, int64_t now, int64_t retention_us,
                   size_t *marked, size_t *purged, aa_error *err);

    /* Optional (NULL: nothing to do): makes the store's tables, or brings
     * them to this version; *what says which ("created", "up to date"). */
    int (*migrate)(aa_store *s, const char **what, aa_error *err);
    /* Optional: what the last failed call failed on (no password), for a
     * decision's reason; the engine calls its ops with no error object. */
    void (*last_failure)(aa_store *s, char *buf, size_t size);
    /* Optional (NULL: the store cannot be read whole): calls fn for every
     * session (d NULL), then every delegation (sess NULL), whatever its
     * status, oldest first; stops at the first non-zero fn result and
     * returns it. */
    int (*each)(aa_store *s,
                int (*fn)(void *ud, const aa_session *sess,
                          const aa_delegation *d),
                void *ud, aa_error *err);

    /* Optional (NULL: the store records no audit heads). Records a's head
     * for a->identity, only moving it forward: a record with as many lines
     * or more is kept. */
    int (*anchor_put)(aa_store *s, const aa__anchor *a, aa_error *err);
    /* The record of `identity` (*by_id, *found_id) and the latest record of
     * `path` (*by_path, *found_path; either identity). AA_OK when looked
     * up, found or not. */
    int (*anchor_get)(aa_store *s, const char *identity, const char *path,
                      aa__anchor *by_id, bool *found_id, aa__anchor *by_path,
                      bool *found_path, aa_error *err);
    /* Optional (NULL: always reachable): AA_OK when the store answers now;
     * otherwise err says why. */
    int (*ping)(aa_store *s, aa_error *err);
    /* Optional (NULL: none): the read cache (store_cache.h) through which
     * session_get_into and delegation_find answer now, or NULL when they
     * would not use one. What it answers is what those calls would answer
     * without reading the store; the engine asks it first, so that a
     * lookup answered from memory is not timed as one that waits. */
    struct aa__cache *(*read_cache)(aa_store *s);
} aa__store_ops;

/* The key of an (agent, user) pair: agent, NUL, user, NUL, written into
 * buf when it fits in bufsize bytes, else into a new allocation (the caller
 * frees a result that is not buf). *len excludes the final NUL. NULL when
 * out of memory. */
char *aa__pair_key(const char *agent, const char *user, char *buf,
                   size_t bufsize, size_t *len);

/* Copies *from into *to with its strings in buf (cap bytes); false when
 * they do not fit (then *to is unchanged). */
bool aa__session_copy_into(const aa_session *from, aa_session *to, char *buf,
                           size_t cap);

/* A grant's action patterns as the stores keep them: each pattern followed
 * by a NUL, appended to b. False when out of memory. */
bool aa__grant_actions_pack(const aa_delegation *d, aa__buf *b);
/* The reverse: sets d->actions and d->action_count from the len bytes at
 * blob. False when out of memory; what was set is then freed by
 * aa_delegation_clear. */
bool aa__grant_actions_unpack(const char *blob, size_t len, aa_delegation *d);

/* A status column's text: only "active" is live; any other text (a
 * database shared with other tools, or tampered with, may hold one), or
 * none, grants nothing. */
aa_grant_status aa__grant_status_from_text(const char *text);
/* Fills *out from the columns of a stored session row (a NULL text reads
 * as ""). AA_ENOMEM, with *out cleared, when out of memory. */
int aa__session_from_cols(aa_session *out, const char *id, const char *agent,
                          const char *user, const char *scope,
                          int64_t created_at, int64_t expires_at,
                          const char *status);
/* The same for a grant; actions holds its patterns as
 * aa__grant_actions_pack wrote them (len bytes). */
int aa__delegation_from_cols(aa_delegation *out, const char *id,
                             const char *from_user, const char *to_agent,
                             const char *actions, size_t len,
                             int64_t granted_at, int64_t expires_at,
                             const char *reason, const char *status);
/* Where cleanup stops keeping rows that are not active: now - retention_us
 * (at least INT64_MIN). AA_EINVAL when retention_us is negative. */
int aa__cleanup_cutoff(int64_t now, int64_t retention_us, int64_t *cutoff,
                       aa_error *err);

/* Every store implementation starts with this. */
struct aa_store {
    const aa__store_ops *ops;
};

#endif /* AA_STORE_H */
