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
#define AA_VERSION_MINOR 1
#define AA_VERSION_PATCH 0

/* Marks the functions the shared library exports; everything else in it is
 * hidden. */
#if defined(_WIN32)
#define AA_API
#elif defined(__GNUC__) || defined(__clang__)
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
 * into buf; returns the length it needed, as snprintf does. */
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
AA_API int aa_policy_audit_enabled(const aa_policy *policy);

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
AA_API double aa_decision_time_ms(const aa_decision *d);
AA_API int aa_decision_is_denied(const aa_decision *d);
AA_API int aa_decision_is_autonomous(const aa_decision *d);

/* The trace: one line per pipeline step, in order, when explain is on. */
typedef struct aa_trace_step {
    const char *step;   /* "session", "profile", "deny", "scope", "allow",
                           "delegation", "user_permissions", "a2a",
                           "result", "approval", "audit" */
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

/* Opens (creating when missing, owner-only) a SQLite state store. */
AA_API int aa_store_open_sqlite(const char *path, aa_store **out,
                                aa_error *err);
/* A private in-memory store (tests, `agent-auth test`). */
AA_API int aa_store_open_memory(aa_store **out, aa_error *err);
AA_API void aa_store_free(aa_store *store);

typedef enum {
    AA_STATUS_ACTIVE = 0,
    AA_STATUS_EXPIRED = 1,
    AA_STATUS_REVOKED = 2
} aa_grant_status;

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
 * engine). Opens the audit log when auditing is on. */
AA_API int aa_engine_new(const aa_policy *policy, const aa_engine_options *opts,
                         aa_engine **out, aa_error *err);
AA_API void aa_engine_free(aa_engine *engine);

/* Registers a matcher for `matches NAME`. Call before the first
 * aa_authorize; registration is not thread-safe, authorization is. */
AA_API int aa_engine_register_matcher(aa_engine *engine, const char *name,
                                      aa_matcher_fn fn, void *userdata);

/* Decides a request. Returns AA_OK when a decision was made (allowed or
 * denied: see aa_decision_allowed), AA_EINVAL when the request lacks agent,
 * user or action (the decision is then a denial saying so). Thread-safe. */
AA_API int aa_authorize(aa_engine *engine, const aa_request *req,
                        aa_decision *d);

/* Pass as a duration to mean "the policy's default"; any other duration
 * below 1 second is an error. */
#define AA_DURATION_DEFAULT ((int64_t)-1)

/* Sessions (contract section 9). The duration is clamped to
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

/* Delegations (contract section 9). reason may be NULL. A refusal returns
 * AA_EREFUSED with every reason in err. */
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
    size_t limit;           /* 0 means 1000 */
} aa_audit_filter;

/* Called once per matching entry with the entry as a JSON text line;
 * return nonzero to stop. */
typedef int (*aa_audit_entry_fn)(void *userdata, const char *json_line,
                                 size_t len);

/* Streams the audit file at `path`, calling fn for the first `limit`
 * entries that pass the filter, in file order. Malformed lines are
 * skipped and counted in *skipped (optional). */
AA_API int aa_audit_read(const char *path, const aa_audit_filter *filter,
                         aa_audit_entry_fn fn, void *userdata, size_t *matched,
                         size_t *skipped, aa_error *err);

/* Walks the hash chain. AA_OK when intact (*lines is the count), else
 * AA_ETAMPER with *bad_line the first line (from 1) where it breaks and a
 * message in err. */
AA_API int aa_audit_verify(const char *path, size_t *lines, size_t *bad_line,
                           aa_error *err);

/* Moves entries older than retention_days to a dated archive beside the
 * file, keeping the chain verifiable; *archive (optional, free()) names it,
 * or is NULL when nothing was old enough. */
AA_API int aa_audit_rotate(const char *path, int retention_days, int64_t now_us,
                           char **archive, size_t *moved, aa_error *err);

#ifdef __cplusplus
}
#endif
#endif /* AGENT_AUTH_H */
