/*
 * agent_auth.h - the whole public API of libagentauth.
 *
 * agent-auth answers one question: can this agent, acting on behalf of this
 * user, do this action, right now, on this resource?
 *
 * Ownership rule: the caller owns every object it creates with an `aa_*_new`
 * or `aa_*_load*`/`aa_*_open*` function and releases it with the matching
 * `aa_*_free`; strings passed in are borrowed for the duration of the call
 * only; strings returned by accessors belong to the object they came from and
 * live until that object is freed or next written.
 *
 * Every function that can fail returns an `int` status: AA_OK (0) or a
 * negative AA_E* code (see AA_STATUS_MAP). Functions that take an `aa_error *`
 * also append human-readable messages to it, with file, line and column where
 * there are any. The library never prints, never exits, and keeps no global
 * mutable state.
 */
#ifndef AGENT_AUTH_H
#define AGENT_AUTH_H

#include <stddef.h>
#include <stdint.h>

/* The version of this header. aa_version() gives the library's, which may be
 * newer: a library accepts every caller built against the same major version
 * (docs/c-api.md, "ABI promise"). */
#define AA_VERSION_MAJOR 0
#define AA_VERSION_MINOR 2
#define AA_VERSION_PATCH 0

/* Marks the functions the shared library exports; everything else in it is
 * hidden. */
#if defined(__GNUC__) || defined(__clang__)
#define AA_API __attribute__((visibility("default")))
#else
#define AA_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Status codes                                                             */
/* ------------------------------------------------------------------------ */

/* XX(name, value, message): one list, so names, numbers and texts agree. */
#define AA_STATUS_MAP(XX)                                                      \
    XX(OK, 0, "success")                                                       \
    XX(EINVAL, -1, "invalid argument")                                         \
    XX(ENOMEM, -2, "out of memory")                                            \
    XX(EIO, -3, "input/output error")                                          \
    XX(EPARSE, -4, "syntax error")                                             \
    XX(EPOLICY, -5, "invalid policy")                                          \
    XX(ENOTFOUND, -6, "not found")                                             \
    XX(ESTATE, -7, "state store error")                                        \
    XX(EAUDIT, -8, "audit log unavailable")                                    \
    XX(EEVAL, -9, "condition could not be evaluated")                          \
    XX(EREFUSED, -10, "request refused")                                       \
    XX(EBUSY, -11, "resource busy")                                            \
    XX(ELIMIT, -12, "limit exceeded")                                          \
    XX(ETAMPER, -13, "audit chain broken")

typedef enum {
#define AA__STATUS_ENUM(name, value, msg) AA_##name = (value),
    AA_STATUS_MAP(AA__STATUS_ENUM)
#undef AA__STATUS_ENUM
} aa_status;

/* The message for a status code ("unknown status" for anything else). */
AA_API const char *aa_strerror(int status);
/* The symbolic name of a status code without prefix ("EINVAL"). */
AA_API const char *aa_status_name(int status);

/* The library version, "X.Y.Z". */
AA_API const char *aa_version(void);

/* Byte offset of the first byte of s[0, n) that is not part of well-formed
 * UTF-8 (RFC 3629: no overlong forms, no surrogates), or n when all of it
 * is. Every string the library takes must be UTF-8; callers can check
 * first to name the offending input. */
AA_API size_t aa_utf8_check(const char *s, size_t n);

/* Writes s[0, n) as a JSON string literal, quotes included, into dst
 * (snprintf-style): returns the literal's length; when that is below cap,
 * dst holds it NUL-terminated. '"', '\\' and control characters are
 * escaped, well-formed UTF-8 is copied, and every byte that is not UTF-8
 * becomes U+FFFD, so the result is valid JSON. The library writes every
 * JSON string it produces (audit lines included) this way. */
AA_API size_t aa_json_quote(const char *s, size_t n, char *dst, size_t cap);

/* ------------------------------------------------------------------------ */
/* Error object: collects every message of an operation                     */
/* ------------------------------------------------------------------------ */

typedef enum { AA_SEVERITY_ERROR = 0, AA_SEVERITY_WARNING = 1 } aa_severity;

/* One message. `file` is NULL and `line`/`column` 0 when unknown.
 * Lines and columns count from 1. */
typedef struct aa_diag {
    aa_severity severity;
    int status; /* the AA_E* code this message explains */
    const char *file;
    int line;
    int column;
    const char *message; /* without position prefix */
} aa_diag;

typedef struct aa_error aa_error;

AA_API aa_error *aa_error_new(void);
AA_API void aa_error_free(aa_error *err);
AA_API void aa_error_clear(aa_error *err);
/* Number of messages of all severities. */
AA_API size_t aa_error_count(const aa_error *err);
/* Number of messages of one severity. */
AA_API size_t aa_error_count_severity(const aa_error *err,
                                      aa_severity severity);
/* The i-th message, in the order they were found; NULL past the end. */
AA_API const aa_diag *aa_error_get(const aa_error *err, size_t i);
/* Formats "file:line:col: message" (parts that are unknown are left out)
 * into buf, one line for a terminal or a log: each control character (C0,
 * DEL, C1) of the message is shown as '?'; returns the length it needed,
 * as snprintf does. */
AA_API int aa_diag_format(const aa_diag *d, char *buf, size_t size);

/* ------------------------------------------------------------------------ */
/* Policy                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct aa_policy aa_policy;

/* Environment lookup for ${NAME} interpolation; return NULL when unset. */
typedef const char *(*aa_getenv_fn)(void *userdata, const char *name);

/* Options structs may grow in a minor release. Their first member is `size`:
 * set it to sizeof the struct (aa_*_options_init does), or leave it 0 for the
 * fields of version 0.2 only; fields the caller's struct does not have take
 * their defaults. */
typedef struct aa_load_options {
    size_t size;            /* sizeof(aa_load_options), or 0 (see above) */
    int strict;             /* warnings (unknown keys...) count as errors */
    size_t max_bytes;       /* refuse larger files; 0 means 16 MiB */
    aa_getenv_fn getenv_fn; /* NULL means the process environment */
    void *getenv_userdata;
} aa_load_options;

/* Zeroes *opts (the defaults) and sets its size. */
AA_API void aa_load_options_init(aa_load_options *opts);

/* Loads, validates and compiles a policy file. On failure returns
 * AA_EPOLICY (or AA_EIO / AA_EPARSE / AA_ELIMIT) with every problem in err and
 * *out set to NULL. Warnings are added to err on success too. opts may be
 * NULL for the defaults. A loaded policy is immutable and may be shared by
 * any number of threads. */
AA_API int aa_policy_load_file(const char *path, const aa_load_options *opts,
                               aa_policy **out, aa_error *err);
/* The same from memory; `name` is used as the file name in messages. */
AA_API int aa_policy_load_buffer(const char *data, size_t len, const char *name,
                                 const aa_load_options *opts, aa_policy **out,
                                 aa_error *err);
AA_API void aa_policy_free(aa_policy *policy);

/* A few facts about a loaded policy. */
AA_API const char *
aa_policy_name(const aa_policy *policy); /* metadata.name or "" */
AA_API const char *aa_policy_version(const aa_policy *policy); /* "1.0" */
AA_API size_t aa_policy_role_count(const aa_policy *policy);
AA_API size_t aa_policy_profile_count(const aa_policy *policy);
AA_API size_t aa_policy_approval_count(const aa_policy *policy);
AA_API size_t aa_policy_a2a_count(const aa_policy *policy);
/* audit.path as configured (after interpolation). */
AA_API const char *aa_policy_audit_path(const aa_policy *policy);
/* The state store path: state.path, else state.db beside audit.path. */
AA_API const char *aa_policy_state_path(const aa_policy *policy);
/* state.url as configured (after interpolation), or "" when not set. */
AA_API const char *aa_policy_state_url(const aa_policy *policy);
/* state.schema, or "" when not set. */
AA_API const char *aa_policy_state_schema(const aa_policy *policy);
/* state.consistency: AA_CONSISTENCY_DEFAULT when not set. */
AA_API int aa_policy_state_consistency(const aa_policy *policy);
AA_API int aa_policy_audit_enabled(const aa_policy *policy);
/* audit.retention_days (default 90): how old an entry may get before
 * aa_audit_rotate archives it. */
AA_API int64_t aa_policy_audit_retention_days(const aa_policy *policy);
/* SHA-256 of the policy's bytes as loaded (64 hex digits), as audit lines
 * carry it in `policy_sha256`. */
AA_API const char *aa_policy_sha256(const aa_policy *policy);
/* 1 when the policy defines a profile for `agent`, else 0. An agent
 * without one is permitted only through delegations and A2A rules. */
AA_API int aa_policy_has_profile(const aa_policy *policy, const char *agent);
/* The profile name closest to `agent` (a likely misspelling), or NULL when
 * none is close. The string belongs to the policy. */
AA_API const char *aa_policy_suggest_profile(const aa_policy *policy,
                                             const char *agent);

/* Writes a JSON description of everything loaded (roles with resolved
 * actions and chains, profiles, approval policies, delegation, A2A, sessions,
 * audit) into a newly allocated string the caller frees with free(). */
AA_API char *aa_policy_describe_json(const aa_policy *policy);

/* ------------------------------------------------------------------------ */
/* Requests and decisions                                                   */
/* ------------------------------------------------------------------------ */

typedef enum {
    AA_TIER_AUTONOMOUS = 0,
    AA_TIER_SOFT = 1,
    AA_TIER_STRONG = 2
} aa_tier;

AA_API const char *aa_tier_name(aa_tier tier); /* "autonomous"... */
AA_API int aa_tier_parse(const char *name,
                         aa_tier *out); /* AA_OK or AA_EINVAL */

typedef enum {
    AA_VALUE_NULL = 0,
    AA_VALUE_BOOL,
    AA_VALUE_NUMBER,
    AA_VALUE_STRING,
    AA_VALUE_LIST
} aa_value_type;

/* One request metadata entry: a string key and a value. A value is a scalar
 * (null, bool, number, string) or, with AA_VALUE_LIST, a list of `count`
 * scalars in `items` (their `key` is unused; lists do not nest). */
typedef struct aa_meta {
    const char *key;
    aa_value_type type;
    int boolean;
    double number;
    const char *string;
    const struct aa_meta *items; /* AA_VALUE_LIST: the elements */
    size_t count;                /* AA_VALUE_LIST: how many */
} aa_meta;

/* A request. All strings are borrowed; NULL and "" both mean "not given"
 * for the optional fields. agent, user and action are required. */
typedef struct aa_request {
    const char *agent;
    const char *user;
    const char *action;
    const char *resource;
    const char *scope;
    const char *session_id;
    const char *target_agent;
    const aa_meta *metadata;
    size_t metadata_count;
} aa_request;

/* Reading requests from JSON. A request is a JSON object with the fields
 * of aa_request as strings (or null for the optional ones), "metadata" (an
 * object whose values are strings, numbers, booleans, null, or lists of
 * those), and an optional "id" of any JSON value that is only carried
 * along. Any other field, a duplicate key, a NUL character in a string, or
 * a value of the wrong type makes it invalid. docs/json.md, "Batch", says
 * the same for users of `check --batch`.
 *
 * The buffer holds the decoded strings and metadata of the last request
 * read into it; it is reusable, and once it has grown to the size of the
 * requests it reads, reading the common request allocates nothing. One
 * buffer per thread. */
typedef struct aa_request_buf aa_request_buf;

AA_API aa_request_buf *aa_request_buf_new(void);
AA_API void aa_request_buf_free(aa_request_buf *buf);

/* Reads one request from the `len` bytes of JSON text at `json` (no NUL
 * needed) into *out, whose strings and metadata then live in buf until the
 * next call with it. Returns AA_OK; or AA_EPARSE for text that is not JSON
 * ("invalid JSON at column N: ..."), AA_EINVAL for a request that is not
 * valid, with one message in err naming the field ("field 'user' is
 * required", "metadata 'amount': a list may hold only ..."), or AA_ENOMEM;
 * *out is then zeroed. */
AA_API int aa_request_from_json(const char *json, size_t len,
                                aa_request_buf *buf, aa_request *out,
                                aa_error *err);
/* The JSON text of the last request's "id" member (len bytes, not NUL
 * terminated), or NULL when it had none. It lives in buf like the request. */
AA_API const char *aa_request_buf_id(const aa_request_buf *buf, size_t *len);

/* Walks the elements of a JSON array of `len` bytes at `json` without
 * building a tree, for reading an array of requests one by one with
 * aa_request_from_json. Start with *pos 0; each call sets *elem_off and
 * *elem_len to the text of the next element (its exact bytes, no white
 * space around) and moves *pos past it. At the end of the array (after the
 * closing bracket, when only white space follows) it returns AA_OK with
 * *elem_len 0. It checks the array's own syntax - brackets, commas,
 * strings closed - and leaves each element's contents to its reader.
 * AA_EPARSE with one message naming the element index and column ("JSON
 * array: element 2 at column 17: ...") when the text is not an array or is
 * malformed; AA_EINVAL for a NULL argument. */
AA_API int aa_json_array_next(const char *json, size_t len, size_t *pos,
                              size_t *elem_off, size_t *elem_len,
                              aa_error *err);

/* A decision is reusable: create one per thread and pass it to every
 * aa_authorize call; it keeps its buffers, so steady-state calls do not
 * allocate. */
typedef struct aa_decision aa_decision;

AA_API aa_decision *aa_decision_new(void);
AA_API void aa_decision_free(aa_decision *d);
/* Ask for a trace (see aa_decision_trace_*) on the following decisions. */
AA_API void aa_decision_set_explain(aa_decision *d, int on);

AA_API int aa_decision_allowed(const aa_decision *d);
AA_API aa_tier aa_decision_tier(const aa_decision *d);
AA_API const char *aa_decision_reason(const aa_decision *d);
AA_API int aa_decision_requires_approval(const aa_decision *d);
AA_API const char *
aa_decision_approval_policy(const aa_decision *d); /* "" if none */
/* Milliseconds from the first step of the decision that can take long (a
 * read of the state store, the user-permissions callback, a matcher in a
 * condition, the engine's clock callback) to the decision; 0 for a
 * decision made by the in-memory steps alone (request check, profile,
 * pattern sets, indexes, conditions without matchers, a session or
 * delegation answered from the store's cache), which take well under a
 * microsecond and start no timer. */
AA_API double aa_decision_time_ms(const aa_decision *d);
AA_API int aa_decision_is_denied(const aa_decision *d);
AA_API int aa_decision_is_autonomous(const aa_decision *d);

/* The trace: one line per pipeline step, in order, when explain is on. */
typedef struct aa_trace_step {
    const char *step;   /* "session", "profile", "deny", "scope",
                           "metadata", "allow", "delegation",
                           "user_permissions", "a2a", "result", "approval",
                           "audit" */
    const char *detail; /* what was checked and what decided */
    int outcome;        /* 1 passed/matched, 0 did not, -1 denied here */
} aa_trace_step;

AA_API size_t aa_decision_trace_count(const aa_decision *d);
AA_API const aa_trace_step *aa_decision_trace_get(const aa_decision *d,
                                                  size_t i);

/* ------------------------------------------------------------------------ */
/* State store: sessions and delegations                                    */
/* ------------------------------------------------------------------------ */

typedef struct aa_store aa_store;

/* Opens (creating when missing, owner-only) a SQLite state store. The file
 * and the directory holding it must belong to the effective user and not
 * be writable by group or others; a symlink, a FIFO or a device is refused
 * (AA_ESTATE; see docs/security.md). Missing directories are made 0700. */
AA_API int aa_store_open_sqlite(const char *path, aa_store **out,
                                aa_error *err);
/* The same, for a process that may start before the file exists (a
 * `check --batch` loop, a server): the file is opened the first time a
 * lookup finds it there, or created by the first write. Until then
 * lookups find nothing, at the cost of one lstat(2) each; afterwards the
 * store is as fast as aa_store_open_sqlite's. A file or directory that is
 * already there is checked now, and refused as aa_store_open_sqlite
 * would. Thread-safe like any store. */
AA_API int aa_store_open_sqlite_lazy(const char *path, aa_store **out,
                                     aa_error *err);
/* A private in-memory store (tests, `agent-auth test`). */
AA_API int aa_store_open_memory(aa_store **out, aa_error *err);

/* How a shared (PostgreSQL) store keeps up with other processes' changes. */
typedef enum {
    AA_CONSISTENCY_DEFAULT =
        0,                     /* the policy's state.consistency, else cached */
    AA_CONSISTENCY_STRICT = 1, /* every lookup reads the database */
    AA_CONSISTENCY_CACHED = 2  /* a local cache kept fresh by LISTEN/NOTIFY;
                                  read-through while notifications are lost */
} aa_store_consistency;

/* Where the state lives and how to open it (docs/state.md).
 *
 * The location is the first of: `url` (e.g. the --state option); the
 * environment variable AGENT_AUTH_STATE_URL (when use_env); the policy's
 * state.url, else its state.path; else ".agent_auth/state.db". A location
 * is a plain path or `sqlite:PATH` (a SQLite file), or a
 * `postgresql://` / `postgres://` URL (libpq's URL form, with `sslmode`
 * and the other parameters it takes); any other `scheme://` is refused
 * (AA_EINVAL), never taken for a file name. The PostgreSQL schema is
 * `schema`, else AGENT_AUTH_STATE_SCHEMA (when use_env), else the
 * policy's state.schema, else "agent_auth". No error message ever holds
 * the password of a URL. */
typedef struct aa_store_options {
    size_t size;             /* sizeof(aa_store_options), or 0 */
    const char *url;         /* NULL: see above */
    const aa_policy *policy; /* borrowed; NULL: no policy settings */
    const char *schema;      /* NULL: see above */
    aa_store_consistency consistency;
    int lazy;    /* SQLite: open the file only once it exists or on the
                    first write (as aa_store_open_sqlite_lazy); PostgreSQL:
                    connect when a call first needs it, not now */
    int use_env; /* honour AGENT_AUTH_STATE_URL / _SCHEMA (init sets 1) */
} aa_store_options;

/* Sets the defaults (use_env 1, everything else 0) and the size. */
AA_API void aa_store_options_init(aa_store_options *opts);
/* Opens the store that opts names (see aa_store_options). A PostgreSQL
 * store connects now (unless lazy) and reports an unreachable database, a
 * refused password or a missing database as AA_ESTATE with what to do;
 * its tables are made by the first write. While the database cannot be
 * reached, calls fail with AA_ESTATE and a message starting "State store
 * unavailable:", and the store reconnects by itself. */
AA_API int aa_store_open(const aa_store_options *opts, aa_store **out,
                         aa_error *err);
/* The location opts resolves to, as aa_store_open would use it, with any
 * password replaced by "***" (for messages and logs), written into buf
 * (size bytes, always terminated). Returns AA_EINVAL for a location
 * aa_store_open refuses (then buf says why). */
AA_API int aa_store_location(const aa_store_options *opts, char *buf,
                             size_t size);
/* Opens the store opts names when it records audit chain heads (a
 * PostgreSQL location; audit anchoring), for aa_audit_verify_options.store:
 * the store an engine over the same options anchors its log in. For any
 * other location *out is NULL and the result AA_OK: a SQLite state records
 * no heads, and its file is neither opened nor made. The store reads the
 * database for every call (AA_CONSISTENCY_STRICT unless opts asks for
 * another). Errors as aa_store_open's (AA_ESTATE for a database that cannot
 * be reached, AA_EINVAL for a location it refuses). */
AA_API int aa_store_open_anchoring(const aa_store_options *opts, aa_store **out,
                                   aa_error *err);
/* Makes the store's tables now, or brings them to this version (`agent-auth
 * state migrate`); a role that may not create tables can then use them.
 * *what (optional) is set to "created" or "up to date". */
AA_API int aa_store_migrate(aa_store *store, const char **what, aa_error *err);

/* What aa_store_copy did. */
typedef struct aa_store_copy_counts {
    size_t sessions;    /* copied */
    size_t delegations; /* copied */
    size_t skipped;     /* an id already in the destination: kept as it is */
} aa_store_copy_counts;

/* Copies every session and delegation of `from` (active, expired and
 * revoked alike, with their times and statuses) into `to`, e.g. from
 * SQLite to PostgreSQL (`agent-auth state copy`). Rows whose id `to`
 * already holds are skipped, so a copy can be run again. counts may be
 * NULL. `from` must be a SQLite or PostgreSQL store. */
AA_API int aa_store_copy(aa_store *from, aa_store *to,
                         aa_store_copy_counts *counts, aa_error *err);

/* The kind of an open store: "sqlite", "postgresql", "memory". */
AA_API const char *aa_store_kind(const aa_store *store);
/* AA_OK when the store answers now (a SQLite or memory store always does);
 * otherwise AA_ESTATE, err saying why (a PostgreSQL database that cannot be
 * reached; no password in the message). Never waits longer than a
 * connection attempt (5 s), and not even that while reconnecting is backed
 * off. */
AA_API int aa_store_ping(aa_store *store, aa_error *err);
AA_API void aa_store_free(aa_store *store);

/* The status of a session or a delegation grant. */
typedef enum {
    AA_GRANT_ACTIVE = 0,
    AA_GRANT_EXPIRED = 1,
    AA_GRANT_REVOKED = 2
} aa_grant_status;
/* The names of version 0.1, kept for source compatibility. */
#define AA_STATUS_ACTIVE  AA_GRANT_ACTIVE
#define AA_STATUS_EXPIRED AA_GRANT_EXPIRED
#define AA_STATUS_REVOKED AA_GRANT_REVOKED

AA_API const char *aa_grant_status_name(aa_grant_status s);

/* Times are microseconds since the Unix epoch, UTC. */
typedef struct aa_session {
    char session_id[37];
    char *agent;
    char *user;
    char *scope; /* "" when none */
    int64_t created_at;
    int64_t expires_at;
    aa_grant_status status;
} aa_session;

typedef struct aa_delegation {
    char delegation_id[37];
    char *from_user;
    char *to_agent;
    char **actions;
    size_t action_count;
    int64_t granted_at;
    int64_t expires_at;
    char *reason; /* "" when none */
    aa_grant_status status;
} aa_delegation;

/* Frees the strings inside (not the struct itself). */
AA_API void aa_session_clear(aa_session *s);
AA_API void aa_delegation_clear(aa_delegation *d);
/* Frees an array returned by a list function. */
AA_API void aa_session_list_free(aa_session *list, size_t n);
AA_API void aa_delegation_list_free(aa_delegation *list, size_t n);

/* Formats microseconds since the epoch as ISO 8601 UTC with microseconds,
 * "2026-11-28T17:20:00.123456+00:00"; buf needs 33 bytes. */
AA_API void aa_format_time(int64_t us, char buf[33]);
/* Parses ISO 8601 (date, or date-time with optional fraction and
 * Z/+hh:mm offset); AA_OK or AA_EINVAL. */
AA_API int aa_parse_time(const char *text, int64_t *us);
/* The current time in microseconds since the epoch. */
AA_API int64_t aa_now(void);

/* ------------------------------------------------------------------------ */
/* Engine                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct aa_engine aa_engine;

/* Step 6 of the pipeline: does `user` hold `action`? Return 1 yes, 0 no. */
typedef int (*aa_user_permission_fn)(void *userdata, const char *user,
                                     const char *action);

/* A named matcher for the `matches` operator: the left side's value (as
 * text; NULL for null) is tested; set *result to 1 or 0 and return AA_OK,
 * or return an error status (the condition then fails closed). */
typedef int (*aa_matcher_fn)(void *userdata, const char *value, int *result);

typedef enum {
    AA_AUDIT_FROM_POLICY = 0, /* as the policy's audit.enabled says */
    AA_AUDIT_OFF = 1,
    AA_AUDIT_ON = 2
} aa_audit_mode;

typedef struct aa_engine_options {
    size_t size;              /* sizeof(aa_engine_options), or 0 (see above) */
    aa_store *store;          /* borrowed; NULL: no sessions/delegations */
    aa_audit_mode audit_mode; /* default: follow the policy */
    const char *audit_path;   /* override audit.path; NULL: the policy's */
    aa_user_permission_fn user_permission;
    void *user_permission_userdata;
    /* Clock override for tests: returns microseconds since the epoch. */
    int64_t (*clock)(void *userdata);
    void *clock_userdata;
} aa_engine_options;

/* Zeroes *opts (the defaults) and sets its size. */
AA_API void aa_engine_options_init(aa_engine_options *opts);

/* Creates an engine over a loaded policy (borrowed: it must outlive the
 * engine). Opens the audit log when auditing is on. A log that cannot be
 * opened makes every decision a denial (audit.on_failure: deny), but a log
 * path that is unsafe to use is refused here (AA_EREFUSED, no engine):
 * a file or its directory owned by another user or writable by group or
 * others, a symlink, or not a regular file (docs/security.md). */
AA_API int aa_engine_new(const aa_policy *policy, const aa_engine_options *opts,
                         aa_engine **out, aa_error *err);
AA_API void aa_engine_free(aa_engine *engine);

/* Registers a matcher for `matches NAME`. Call before the first
 * aa_authorize; registration is not thread-safe, authorization is. */
AA_API int aa_engine_register_matcher(aa_engine *engine, const char *name,
                                      aa_matcher_fn fn, void *userdata);

/* Decides a request. Returns AA_OK when a decision was made (allowed or
 * denied: see aa_decision_allowed), AA_EINVAL when the request lacks agent,
 * user or action, or when one of its strings (metadata keys and values too)
 * is not valid UTF-8 (the decision is then a denial whose reason names the
 * field, and no audit line is written). Thread-safe. */
AA_API int aa_authorize(aa_engine *engine, const aa_request *req,
                        aa_decision *d);

/* Decides n requests in a row, as n aa_authorize calls would, with their
 * audit lines written together: the lines are chained in request order and
 * appended with one file lock and one write (group commit; calls from other
 * threads at the same moment may share them too). A decision stands only
 * once its line is written (and synced, with audit.fsync: always); with
 * audit.on_failure: deny, a decision whose line could not be written is a
 * denial whose reason says the audit log is unavailable (when a write fails
 * part-way, the decisions whose lines were written before the failure
 * stand). decisions[i] receives the decision of reqs[i]: n distinct
 * objects, e.g. one set per thread. Returns AA_OK; AA_EINVAL when some
 * request was invalid (its decision is a denial naming the field, as with
 * aa_authorize, and has no audit line), when engine, reqs or decisions
 * is NULL, or when an entry of decisions is NULL or repeats an earlier one
 * (then nothing is decided or written, and every decision given is a
 * denial saying so). Thread-safe. */
AA_API int aa_authorize_many(aa_engine *engine, const aa_request *reqs,
                             size_t n, aa_decision *const *decisions);

/* Pass as a duration to mean "the policy's default"; any other duration
 * below 1 second is an error. */
#define AA_DURATION_DEFAULT ((int64_t)-1)

/* Sessions (docs/configuration.md, "Sessions"). The duration is clamped to
 * sessions.max_duration and the agent profile's max_session_duration; a
 * scope the profile does not accept is refused (AA_EREFUSED).
 * Creating (a session or a delegation) fills *out only on success and
 * zeroes it otherwise; a grant whose audit line cannot be written is not
 * made (AA_EAUDIT) unless audit.on_failure is allow. */
AA_API int aa_session_create(aa_engine *engine, const char *agent,
                             const char *user, const char *scope,
                             int64_t duration_s, aa_session *out,
                             aa_error *err);
/* *revoked is 1 when the session was active and is now revoked. */
AA_API int aa_session_revoke(aa_engine *engine, const char *session_id,
                             int *revoked, aa_error *err);
/* AA_OK and *valid = 1 if active and unexpired (an expired one is marked). */
AA_API int aa_session_validate(aa_engine *engine, const char *session_id,
                               int *valid, aa_session *out, aa_error *err);
/* Active sessions, optionally filtered (NULL: any). */
AA_API int aa_session_list(aa_engine *engine, const char *agent,
                           const char *user, aa_session **out, size_t *n,
                           aa_error *err);

/* Delegations (docs/configuration.md, "Delegation"). reason may be NULL. A
 * refusal returns AA_EREFUSED with every reason in err. */
AA_API int aa_delegation_create(aa_engine *engine, const char *from_user,
                                const char *to_agent,
                                const char *const *actions, size_t action_count,
                                int64_t duration_s, const char *reason,
                                aa_delegation *out, aa_error *err);
AA_API int aa_delegation_revoke(aa_engine *engine, const char *delegation_id,
                                int *revoked, aa_error *err);
AA_API int aa_delegation_list(aa_engine *engine, const char *agent,
                              aa_delegation **out, size_t *n, aa_error *err);

/* Marks expired sessions and delegations and deletes inactive rows that
 * ended more than retention_s seconds ago; counts are optional. */
AA_API int aa_state_cleanup(aa_engine *engine, int64_t retention_s,
                            size_t *marked, size_t *purged, aa_error *err);

/* ------------------------------------------------------------------------ */
/* Audit log reading                                                        */
/* ------------------------------------------------------------------------ */

/* Which decisions a filter keeps; the zero value keeps every entry. */
typedef enum {
    AA_AUDIT_ANY = 0,
    AA_AUDIT_ALLOWED_ONLY = 1,
    AA_AUDIT_DENIED_ONLY = 2
} aa_audit_which;

typedef struct aa_audit_filter {
    const char *since; /* ISO 8601; entries with timestamp >= since */
    const char *agent;
    const char *user;
    const char *action;
    const char *event;      /* "authorize", "session.create", ... */
    aa_audit_which allowed; /* AA_AUDIT_ANY (0, the default) ... */
    size_t limit;           /* 0 means 1000; AA_AUDIT_NO_LIMIT: all */
} aa_audit_filter;

/* aa_audit_filter.limit for every matching entry. */
#define AA_AUDIT_NO_LIMIT ((size_t)-1)

/* Called once per matching entry with the entry as a JSON text line;
 * return nonzero to stop. */
typedef int (*aa_audit_entry_fn)(void *userdata, const char *json_line,
                                 size_t len);

/* Streams the audit file at `path`, calling fn for the first `limit`
 * entries that pass the filter, in file order. *matched (optional) counts
 * every entry that passes the filter: when it is asked for, the walk goes on
 * to the end of the file to count those past the limit (so *matched >
 * limit says the entries given were capped); a nonzero return from fn stops
 * the walk and the count there. Malformed lines are skipped and counted in
 * *skipped (optional). */
AA_API int aa_audit_read(const char *path, const aa_audit_filter *filter,
                         aa_audit_entry_fn fn, void *userdata, size_t *matched,
                         size_t *skipped, aa_error *err);

/* What aa_audit_verify_chain is asked to prove beyond an intact chain. The
 * zero value asks for nothing more. */
typedef struct aa_audit_verify_options {
    size_t
        size; /* sizeof(aa_audit_verify_options), or 0 (see aa_load_options) */
    /* The hash (64 hex digits) of a line the chain must still contain: a
     * head printed by an earlier verification and kept elsewhere, or one a
     * store recorded. A log without it was truncated, had its start
     * removed, or was re-chained. NULL or "" for none. */
    const char *anchor;
    /* A state store that records audit heads (PostgreSQL; docs/state.md,
     * audit anchoring), or NULL. The head it recorded for this log (by the
     * hash of the log's first record) must still be in the file, at the
     * line number recorded: fewer lines, or another hash there, is
     * "truncated". A path recorded for another log whose first record the
     * file no longer has is "head deleted". A log with no record passes
     * (recorded->recorded is 0) unless require_record is set. */
    aa_store *store;
    int require_record;
    /* Optional: filled in with what the store recorded. */
    struct aa_audit_anchor_info *recorded;
    /* 1: a log that does not exist is one not written yet (0 lines, AA_OK)
     * rather than an error, unless the store recorded a head for its path:
     * then it was deleted or moved ("missing", AA_ETAMPER), which the store
     * tells whatever this says. */
    int missing_ok;
} aa_audit_verify_options;

/* What a state store recorded about a log (aa_audit_verify_options.store). */
typedef struct aa_audit_anchor_info {
    int store_records;  /* 1: the store records audit heads at all */
    int recorded;       /* 1: it holds a head for this log */
    size_t lines;       /* the recorded line count (the file's lines) */
    char head[65];      /* the recorded hash of line `lines` */
    int64_t updated_at; /* when it was recorded (microseconds) */
} aa_audit_anchor_info;

/* What aa_audit_verify_chain proved. */
typedef struct aa_audit_verify_result {
    size_t lines;         /* whole lines verified in the file at path */
    size_t bad_line;      /* the line (from 1) where the chain breaks, in the
                             file the first message of err names; 0 */
    char head[65];        /* hash of the last whole line; "" when none */
    size_t archives;      /* earlier files followed through the audit.rotate
                             records that open each file */
    size_t archive_lines; /* whole lines verified in those */
    int start_anchored;   /* 1: the chain starts at a line whose prev_hash
                             is 64 zeros (in the file or an archive) */
    int anchor_found;     /* 1: options->anchor is a verified line's hash */
} aa_audit_verify_result;

/* Walks the hash chain of the log at `path`. A log that rotation opened
 * with an audit.rotate record is verified together with the archive that
 * record names (beside the log), and that archive's own predecessors, from
 * the oldest on. AA_OK when every line is intact, the chain starts at a
 * first line (prev_hash of 64 zeros) and the anchor, if any, was found.
 * Otherwise AA_ETAMPER with a message in err naming the file and line:
 * an edited, inserted, deleted or unreadable line; "start not anchored"
 * when the first file of the set starts with an audit.rotate record whose
 * archive is missing (the lines before it cannot be checked); "anchor not
 * found". A line cut short at its end, as an interrupted write leaves it,
 * is a warning in err (severity AA_SEVERITY_WARNING), not a break.
 * AA_EIO when the log cannot be read; AA_EINVAL for a malformed anchor.
 * result (optional) is filled in either way. */
AA_API int aa_audit_verify_chain(const char *path,
                                 const aa_audit_verify_options *options,
                                 aa_audit_verify_result *result, aa_error *err);

/* aa_audit_verify_chain without options: AA_OK when intact (*lines is the
 * count of the file's own lines), else AA_ETAMPER with *bad_line the first
 * line (from 1) where it breaks and a message in err. */
AA_API int aa_audit_verify(const char *path, size_t *lines, size_t *bad_line,
                           aa_error *err);

/* Moves entries older than retention_days to a dated archive beside the
 * file, keeping the chain verifiable; *archive (optional, free()) names it,
 * or is NULL when nothing was old enough. */
AA_API int aa_audit_rotate(const char *path, int retention_days, int64_t now_us,
                           char **archive, size_t *moved, aa_error *err);

/* ------------------------------------------------------------------------ */
/* Policy tests (docs/policy-tests.md)                                      */
/* ------------------------------------------------------------------------ */

/* How aa_test_run_file runs a test file. Zero-initialise. */
typedef struct aa_test_options {
    size_t size; /* sizeof(aa_test_options), or 0 (see aa_load_options) */
    /* The policy for a test file without a `policy` key; NULL: such a file
     * is an error. A relative `policy` is relative to the test file. */
    const char *default_policy;
    /* How the policy is loaded (strict, environment); NULL: the defaults. */
    const aa_load_options *load;
} aa_test_options;

/* One expectation of a case that did not hold. */
typedef struct aa_test_mismatch {
    const char *field;    /* "allowed", "tier", "requires_approval",
                             "approval_policy" or "reason" */
    const char *expected; /* as written: "true", "'soft'", "null" */
    const char *actual;   /* the decision's: "false", "'strong'" */
    const char *message;  /* "tier: expected 'soft', got 'strong'" */
    int line, column;     /* of the expectation in the test file */
} aa_test_mismatch;

/* The outcome of one case. */
typedef struct aa_test_case {
    const char *name; /* its `name`, or "case N" */
    const char *file; /* the test file */
    int line, column; /* of the case */
    int passed;       /* 1 when it ran and every expectation held */
    /* Why the case could not run (a field of the wrong type, an unknown
     * key, a refused setup...), and where; NULL when it ran. A case that
     * cannot run never passes. */
    const char *error;
    int error_line, error_column;
    const aa_test_mismatch *mismatches; /* when it ran and failed */
    size_t mismatch_count;
    const aa_decision *decision; /* when it ran, with its trace; else NULL */
} aa_test_case;

typedef struct aa_test_report aa_test_report;

/* Runs the policy test file at `path`: loads the policy it names once,
 * then runs every case against a fresh in-memory state store with
 * auditing off. AA_OK when the cases ran (whether they passed or not: see
 * the report), with the policy's and the file's warnings in err. Otherwise
 * (the file cannot be read, is not a test file, or its policy does not
 * load) AA_EIO, AA_EPARSE, AA_EINVAL or AA_EPOLICY with every problem in
 * err (file:line:col) and *out NULL. Free the report with
 * aa_test_report_free. */
AA_API int aa_test_run_file(const char *path, const aa_test_options *opts,
                            aa_test_report **out, aa_error *err);
AA_API size_t aa_test_report_count(const aa_test_report *report);
AA_API const aa_test_case *aa_test_report_get(const aa_test_report *report,
                                              size_t i);
AA_API size_t aa_test_report_passed(const aa_test_report *report);
/* Cases that failed or could not run. */
AA_API size_t aa_test_report_failed(const aa_test_report *report);
/* The policy file the cases ran against. */
AA_API const char *aa_test_report_policy(const aa_test_report *report);
AA_API void aa_test_report_free(aa_test_report *report);

/* ------------------------------------------------------------------------ */
/* Policy analysis: lint (docs/lint.md)                                     */
/* ------------------------------------------------------------------------ */

typedef enum {
    AA_LINT_ERROR = 0,
    AA_LINT_WARNING = 1,
    AA_LINT_INFO = 2
} aa_lint_severity;

/* One finding. Positions count from 1 (0: unknown). `related` is a second
 * position the finding involves (the deny pattern that makes an allow
 * unreachable, the policy that shadows another), or has_related 0. */
typedef struct aa_lint_finding {
    const char *file;
    int line, column;
    aa_lint_severity severity;
    const char *code;    /* "allow-unreachable", "load-error", ... */
    const char *message; /* without position, severity or code */
    int has_related;
    const char *related_file;
    int related_line, related_column;
} aa_lint_finding;

/* How aa_lint_file runs. Initialise with aa_lint_options_init. */
typedef struct aa_lint_options {
    size_t size; /* sizeof(aa_lint_options), or 0 (see aa_load_options) */
    /* Codes not to report (count n_disabled); an unknown code is an
     * AA_EINVAL error. */
    const char *const *disabled;
    size_t n_disabled;
    /* How the policy is loaded (environment, size limit); NULL: the
     * defaults. `strict` is ignored: warnings are findings. */
    const aa_load_options *load;
} aa_lint_options;

AA_API void aa_lint_options_init(aa_lint_options *opts);

typedef struct aa_lint_report aa_lint_report;

/* Lints the policy file at `path`: loads it, turns every load error and
 * warning into a finding with its position (a file that does not load
 * gives only those), then analyses the loaded policy (patterns by their
 * languages, conditions by constant folding and interval reasoning). Every
 * finding is sound: what it says holds for every request. AA_OK with the
 * findings (sorted by position) in *out, whatever they are; AA_EIO when the
 * file cannot be read, AA_EINVAL for a bad option, AA_ENOMEM; then *out is
 * NULL and err says why. */
AA_API int aa_lint_file(const char *path, const aa_lint_options *opts,
                        aa_lint_report **out, aa_error *err);
/* The same from memory; `name` is the file name in findings. */
AA_API int aa_lint_buffer(const char *data, size_t len, const char *name,
                          const aa_lint_options *opts, aa_lint_report **out,
                          aa_error *err);
AA_API size_t aa_lint_report_count(const aa_lint_report *report);
/* The i-th finding; NULL past the end. */
AA_API const aa_lint_finding *aa_lint_report_get(const aa_lint_report *report,
                                                 size_t i);
AA_API void aa_lint_report_free(aa_lint_report *report);

/* "error", "warning", "info". */
AA_API const char *aa_lint_severity_name(aa_lint_severity severity);
/* Parses a severity name: AA_OK or AA_EINVAL. */
AA_API int aa_lint_severity_parse(const char *name, aa_lint_severity *out);
/* The i-th code lint knows, in documentation order, with its severity;
 * NULL past the end. */
AA_API const char *aa_lint_code(size_t i, aa_lint_severity *severity);

/* ------------------------------------------------------------------------ */
/* Standalone conditions and audit records (for embedding languages)        */
/* ------------------------------------------------------------------------ */

/* A condition of the policy language (docs/configuration.md, conditions)
 * compiled on its own, outside a policy: what a language binding offers as
 * "compile and evaluate an expression". Immutable once compiled; evaluate it
 * from any number of threads. */
typedef struct aa_expr aa_expr;

typedef enum {
    AA_EXPR_APPROVAL = 0, /* sees agent, user, action, resource, scope */
    AA_EXPR_A2A = 1       /* also from_agent (the agent), to_agent (target) */
} aa_expr_kind;

/* Compiles `source` as a condition of `kind`. `$name` reads the variable of
 * that key in `variables` (count n; their values are copied); an undefined
 * variable is an error, except that with `variables` NULL every `$name`
 * is accepted and reads null (a syntax check without values). An empty
 * or blank source is "always true". Returns AA_OK, or AA_EPARSE with one
 * message in err whose column (from 1) points into source (line 1). */
AA_API int aa_expr_compile(const char *source, aa_expr_kind kind,
                           const aa_meta *variables, size_t n, aa_expr **out,
                           aa_error *err);
AA_API void aa_expr_free(aa_expr *e);

/* A matcher for `matches NAME` in a standalone condition: test `value`
 * (NULL for null) against the matcher `name`; set *result, return AA_OK,
 * AA_ENOTFOUND for an unknown name, or another error status. */
typedef int (*aa_expr_matcher_fn)(void *userdata, const char *name,
                                  const char *value, int *result);

/* Evaluates e against a request's fields and metadata (for AA_EXPR_A2A,
 * from_agent is req->agent and to_agent req->target_agent). AA_OK with
 * *result 0 or 1, or AA_EEVAL with a message in err (an unknown matcher,
 * values that cannot be compared): callers fail closed. matcher may be
 * NULL (every `matches` is then an error). */
AA_API int aa_expr_eval(const aa_expr *e, const aa_request *req,
                        aa_expr_matcher_fn matcher, void *userdata, int *result,
                        aa_error *err);

/* A decision to record with aa_audit_append_decision. */
typedef struct aa_audit_record {
    int allowed;
    aa_tier tier;
    const char *reason;
    int requires_approval;
    const char *approval_policy; /* NULL or "" when none */
    double evaluation_time_ms;
    const char *config_name;    /* NULL: "" */
    const char *config_version; /* NULL: "1.0" */
} aa_audit_record;

/* Appends one "authorize" line for (req, rec) to the hash-chained audit
 * log at `path` (created owner-only with its directory when missing), as
 * the engine would write it. For recording decisions made elsewhere (a
 * language binding's AuditLog.write). AA_OK, AA_EINVAL for a request
 * without agent, user or action, or AA_EAUDIT with the reason in err. */
AA_API int aa_audit_append_decision(const char *path, const aa_request *req,
                                    const aa_audit_record *rec, aa_error *err);

/* ------------------------------------------------------------------------ */
/* Policy difference (docs/diff.md)                                         */
/* ------------------------------------------------------------------------ */

/* How much a difference matters, least first. */
typedef enum {
    AA_DIFF_SAME = 0,   /* no difference (a replayed request only) */
    AA_DIFF_REASON = 1, /* only the reason or the approval policy's name */
    AA_DIFF_CHANGE = 2, /* allowed or tier differ, and nothing widens */
    AA_DIFF_WIDEN = 3   /* OLD denies and NEW allows, or NEW's tier is lower */
} aa_diff_class;

/* What differs. */
typedef enum {
    AA_DIFF_ALLOWED = 0, /* actions NEW allows and OLD does not */
    AA_DIFF_DENIED = 1,  /* actions OLD allows and NEW does not */
    AA_DIFF_TIER = 2,    /* the approval tier of actions both allow */
    AA_DIFF_SCOPE = 3,   /* the scopes accepted, require_scope */
    AA_DIFF_A2A = 4,     /* agent-to-agent calls (from, to, action) */
    AA_DIFF_METADATA = 5 /* request_metadata requirements */
} aa_diff_kind;

/* "same", "reason", "change", "widen"; "allowed", "denied", "tier",
 * "scope", "a2a", "metadata". */
AA_API const char *aa_diff_class_name(aa_diff_class c);
AA_API const char *aa_diff_kind_name(aa_diff_kind k);

/* One difference between two policies. Strings belong to the aa_diff. */
typedef struct aa_diff_item {
    aa_diff_kind kind;
    aa_diff_class cls;
    /* 1 when the example request does not show the difference (it depends
     * on a condition or on metadata the analysis cannot decide, or on a
     * request the example could not build): the difference may exist. */
    int possible;
    const char *agent; /* the profile; NULL for the whole policy */
    /* The patterns where it differs, as written (an action, scope or
     * "from -> to : action" glob); the example lies within the first. */
    const char *const *patterns;
    size_t pattern_count;
    /* One readable line: "copilot may now do `deploy:staging`". */
    const char *message;
    /* The example request that shows it (agent is `agent`, the user
     * "user"): example_action NULL when there is none; scope and target
     * NULL when not given. */
    const char *example_action;
    const char *example_scope;
    const char *example_target;
    /* The example's metadata: a value of the declared type for each key
     * that request_metadata requires for example_action. */
    const aa_meta *example_metadata;
    size_t example_metadata_count;
    /* The example decided under each policy (when there is an example). */
    int old_allowed, new_allowed;
    aa_tier old_tier, new_tier;
    /* What explains it: "allowed by `deploy:*` in role editor"; NULL when
     * nothing single does. Its position, in source_file (line 0: none). */
    const char *source;
    const char *source_file;
    int source_line, source_column;
} aa_diff_item;

typedef struct aa_diff_options {
    size_t size;     /* sizeof(aa_diff_options), or 0 (see aa_load_options) */
    int hide_reason; /* leave out reason-only differences */
} aa_diff_options;

/* Zeroes *opts (the defaults) and sets its size. */
AA_API void aa_diff_options_init(aa_diff_options *opts);

typedef struct aa_diff aa_diff;

/* The semantic difference of two loaded policies, per agent profile (and
 * agents only one of them has): actions newly allowed and newly denied,
 * tier, scope and A2A changes, and request_metadata changes, each with an
 * example request decided under both (two engines, audit off, an empty
 * in-memory store: delegation grants and sessions are not compared).
 * Pattern languages are compared exactly; approval and A2A conditions are
 * compared as written (with the variables they read), so a changed
 * condition is reported where it applies, as `possible` when its example
 * does not show it. AA_OK and *out, or AA_ENOMEM / AA_EINVAL. */
AA_API int aa_policy_diff(const aa_policy *old_policy,
                          const aa_policy *new_policy,
                          const aa_diff_options *opts, aa_diff **out,
                          aa_error *err);
AA_API size_t aa_diff_count(const aa_diff *diff);
AA_API const aa_diff_item *aa_diff_get(const aa_diff *diff, size_t i);
/* Items of class c. */
AA_API size_t aa_diff_count_class(const aa_diff *diff, aa_diff_class c);
/* The highest class of any item (AA_DIFF_SAME when there is none). */
AA_API aa_diff_class aa_diff_worst(const aa_diff *diff);
AA_API void aa_diff_free(aa_diff *diff);

/* Replay: requests decided under both policies. */
typedef struct aa_replay aa_replay;

/* One replayed request whose decision differs. Strings belong to the
 * aa_replay. */
typedef struct aa_replay_entry {
    size_t line;    /* in the file (from 1); 0 for aa_replay_request */
    const char *id; /* the request's "id" (JSON text) or the audit line's
                       event_id; NULL when none */
    const char *agent, *user, *action, *scope, *target_agent;
    aa_diff_class cls;
    int old_allowed, new_allowed;
    aa_tier old_tier, new_tier;
    const char *old_reason, *new_reason;
} aa_replay_entry;

/* Two engines over the policies (borrowed; they must outlive it), audit
 * off, each with an empty in-memory store. */
AA_API int aa_replay_new(const aa_policy *old_policy,
                         const aa_policy *new_policy, aa_replay **out,
                         aa_error *err);
AA_API void aa_replay_free(aa_replay *r);

/* Decides req under both (its session_id is ignored: sessions are not
 * replayed) and sets *cls; a request that differs is kept as an entry,
 * with `line` and the id (id_len bytes, or NULL). AA_EINVAL for a request
 * that lacks agent, user or action or is not valid UTF-8. */
AA_API int aa_replay_request(aa_replay *r, const aa_request *req, size_t line,
                             const char *id, size_t id_len, aa_diff_class *cls);

typedef enum {
    AA_REPLAY_REQUESTS = 0, /* JSON Lines requests, as check --batch reads */
    AA_REPLAY_AUDIT = 1     /* an audit log: its "authorize" lines, rebuilt from
                               the logged fields and metadata */
} aa_replay_format;

/* Replays every request of the file at `path`. A line that is not a valid
 * request is skipped with a warning in err naming the file and line
 * (counted by aa_replay_invalid). AA_OK, or AA_EIO when the file cannot
 * be read. */
AA_API int aa_replay_file(aa_replay *r, const char *path,
                          aa_replay_format format, aa_error *err);
AA_API size_t aa_replay_total(const aa_replay *r);   /* requests decided */
AA_API size_t aa_replay_invalid(const aa_replay *r); /* lines skipped */
/* The entries (requests whose decision differs), in order. */
AA_API size_t aa_replay_count(const aa_replay *r);
AA_API const aa_replay_entry *aa_replay_get(const aa_replay *r, size_t i);
AA_API size_t aa_replay_count_class(const aa_replay *r, aa_diff_class c);

#ifdef __cplusplus
}
#endif
#endif /* AGENT_AUTH_H */
