/*
 * audit.h - the audit line format and the append-only, hash-chained JSON
 * Lines writer (contract section 10). This module owns the format: every
 * line is built here (decisions; session and delegation events, whose
 * fields state.c passes in; the audit.rotate record rotation writes), and
 * the chain fields and hash rule readers check are defined here. Reading,
 * verifying and rotating are the public aa_audit_* functions in
 * agent_auth.h, implemented in audit_read.c, the one reader.
 *
 * Each line is one JSON object; lines are written by group commit (see
 * audit.c): callers build their lines in parallel, and one of them writes
 * every line queued at that moment with one writev(2) on a file opened
 * with O_APPEND, under one flock(2), chaining them in queue order. Every string
 * goes through aa__buf_json_string, which turns bytes that are not UTF-8 into
 * U+FFFD, and numbers that are not finite are written as null, so every line is
 * JSON any reader accepts.
 *
 * Line format (fields in this order):
 *   {"timestamp":..., "event_id":..., "event":..., <event fields>...,
 *    "prev_hash":"<64 hex>", "hash":"<64 hex>"}
 * where hash = SHA-256 over the bytes of the line up to and including the
 * prev_hash value's closing quote, followed by "}" -- i.e. over the line as
 * it would read with the hash field left out. The first line of a file has
 * prev_hash of 64 zeros (or, after rotation, the archive's last hash).
 */
#ifndef AA_AUDIT_H
#define AA_AUDIT_H

#include "policy.h"
#include "util.h"

/* aa_audit_read with each entry's line number in the file (from 1, blank
 * and skipped lines counted): for messages that name a line. */
typedef int (*aa__audit_line_fn)(void *userdata, size_t lineno,
                                 const char *json_line, size_t len);
int aa__audit_read_lines(const char *path, const aa_audit_filter *filter,
                         aa__audit_line_fn fn, void *userdata, aa_error *err);

typedef struct aa__audit aa__audit;
#define AA__AUDIT_HASH_HEX_ 64

/* Added to the refusal of an audit path that is not a regular file. */
#define AA__AUDIT_OFF_HINT "to keep no audit log, set audit.enabled: false"

/* Opens (creating owner-only, with its directory) the log for appending.
 * AA_EREFUSED when the path is unsafe to use (fsafe.h: another user's file
 * or directory, writable by others, a symlink, not a regular file): then
 * no decision may be made; AA_EAUDIT for other failures. */
int aa__audit_open(const char *path, aa__fsync_mode fsync, aa__audit **out,
                   aa_error *err);
/* Flushes any pending group commit and closes. */
void aa__audit_close(aa__audit *a);

/* What an "authorize" line records. */
typedef struct aa__audit_decision {
    const aa_request *req;
    bool allowed;
    aa_tier tier;
    const char *reason;
    bool requires_approval;
    const char *approval_policy; /* "" when none */
    double evaluation_time_ms;
    int64_t time_us; /* the line's timestamp (microseconds since the
                        epoch); 0: the time the line is built */
    const char *config_name;
    const char *config_version;
    /* The policy that decided: its audit.redact keys are redacted in the
     * line's metadata, and its policy_sha256 recorded. NULL: nothing
     * redacted, policy_sha256 null. */
    const aa_policy *policy;
} aa__audit_decision;

/* A line built by its caller, in parallel with others, before it is
 * committed: reusable, it keeps its buffer (one per thread or decision). */
typedef struct aa__audit_line aa__audit_line;
aa__audit_line *aa__audit_line_new(void);
void aa__audit_line_free(aa__audit_line *l);

/* Builds the "authorize" line of d (below) into l, ready to commit: AA_OK,
 * or AA_EAUDIT (out of memory, no random bytes, a line over 1 MiB). Takes
 * the writer's mutex only to draw the event id. */
int aa__audit_prepare_decision(aa__audit *a, const aa__audit_decision *d,
                               aa__audit_line *l, aa_error *err);

/* Group commit: appends lines[0, n), built by aa__audit_prepare_decision,
 * chained in this order, possibly in one write with lines of other callers
 * committing at the same time. Returns once they are written (and synced,
 * with fsync always): AA_OK; or AA_EAUDIT (err says why) with *written
 * (optional) the number of leading lines that were written whole before a
 * failure (0 when a sync failed: none is known to be on disk). Thread-safe;
 * a line must not be committed twice at once. */
int aa__audit_commit(aa__audit *a, aa__audit_line *const *lines, size_t n,
                     size_t *written, aa_error *err);

/* The wall-clock time (microseconds since the epoch) of a CLOCK_MONOTONIC
 * reading taken just now (aa__mono_ns), so that a decision reads the clock
 * once for its evaluation time and its line's timestamp: the offset
 * between the two clocks is re-measured at most every 10 ms. mono_ns 0, or
 * no log: the wall clock now. */
int64_t aa__audit_wall_us(aa__audit *a, uint64_t mono_ns);

/* Appends an "authorize" line (prepare and commit in one call):
 *   ..., "event":"authorize", "agent", "user", "action", "resource",
 *   "allowed", "tier", "reason", "requires_approval", "approval_policy",
 *   "session_id" (null when none), "scope", "target_agent" (null when none),
 *   "metadata" (an object: the request's metadata in request order, a key
 *   given twice written once with its first value as conditions read it,
 *   lists as arrays, a number that is not finite as null, a key listed in
 *   audit.redact as "[redacted]"), "evaluation_time_ms" (3 decimals),
 *   "config_name", "config_version", "policy_sha256", "prev_hash", "hash".
 * AA_OK, or AA_EAUDIT (err says why). */
int aa__audit_write_decision(aa__audit *a, const aa__audit_decision *d,
                             aa_error *err);

/* One field of a lifecycle or rotation line. */
typedef enum {
    AA__AF_STR,     /* str as a JSON string; NULL as null */
    AA__AF_TEXT,    /* str as a JSON string; NULL as "" */
    AA__AF_OPT,     /* str as a JSON string; NULL and "" as null */
    AA__AF_BOOL,    /* flag as true or false */
    AA__AF_JSON,    /* str, already JSON (a number), as it is */
    AA__AF_TIME,    /* time_us as an ISO 8601 string */
    AA__AF_STRLIST, /* list[0, count) as an array of strings */
} aa__audit_kind;

typedef struct aa__audit_field {
    const char *key;
    aa__audit_kind kind;
    const char *str;
    bool flag;
    int64_t time_us;
    const char *const *list;
    size_t count;
} aa__audit_field;

/* Appends a lifecycle line: `event` ("session.create", "session.revoke",
 * "delegation.create", "delegation.revoke") and fields[0, n) in that order.
 * AA_OK or AA_EAUDIT. */
int aa__audit_write_event(aa__audit *a, const char *event,
                          const aa__audit_field *fields, size_t n,
                          aa_error *err);

/* The same line as a string, for a file that is not being appended to (the
 * audit.rotate record that opens a rotated log): timestamp ts_us, a fresh
 * event id, prev_hash `prev` (64 hex), its hash, and a final '\n', appended
 * to out. False when out of memory or without random bytes. */
bool aa__audit_format_line(aa__buf *out, int64_t ts_us, const char *event,
                           const aa__audit_field *fields, size_t n,
                           const char *prev);

/* ---- the chain head, for audit anchoring (audit_anchor.c) ----------------
 * With tracking on, the leader of each group also knows how many lines the
 * file has ('\n' count: it reads a file it did not write once, then only
 * what other writers added) and the file's identity (the hash of its first
 * record, when that record starts a chain: prev_hash of zeros or an
 * audit.rotate record). After each group it copies (identity, lines, last
 * hash) into a slot under the writer's mutex and calls notify(ud) there:
 * notify must only wake someone. Nothing else is added to a group's work. */
typedef struct aa__audit_head {
    char identity[AA__AUDIT_HASH_HEX_ + 1];
    int64_t lines;
    char hash[AA__AUDIT_HASH_HEX_ + 1];
} aa__audit_head;

/* Turns tracking on (before the first commit). */
void aa__audit_track_head(aa__audit *a, void (*notify)(void *ud), void *ud);
/* Copies the latest head into *out when it changed since *seq (then *seq
 * moves on): true; false when nothing new. */
bool aa__audit_head_get(aa__audit *a, aa__audit_head *out, uint64_t *seq);
/* The path the log was opened with. */
const char *aa__audit_path(const aa__audit *a);

/* ---- the chain fields, for readers (audit_read.c) -------------------------
 * A line ends in ,"prev_hash":"<64 hex>","hash":"<64 hex>"}. */
#define AA__AUDIT_HASH_HEX   64
#define AA__AUDIT_SUFFIX_LEN 75 /* ,"hash":"<64>"} */
#define AA__AUDIT_PREV_LEN   79 /* ,"prev_hash":"<64>" */
extern const char aa__audit_zero_hash[AA__AUDIT_HASH_HEX + 1];

/* True when s[0, 64) is 64 lower-case hex digits. */
bool aa__audit_is_hex64(const char *s);
/* True when line[0, len) ends in ,"hash":"<64 hex>"}; *hash points at it.
 * With prev non-NULL, the line must also have ,"prev_hash":"<64 hex>" just
 * before it, and *prev points at that. */
bool aa__audit_chain_fields(const char *line, size_t len, const char **prev,
                            const char **hash);
/* The hash a line must carry: SHA-256 of the line without its ,"hash":...
 * field, i.e. of line[0, len - 75) followed by "}", as 64 hex digits. The
 * line must end in the hash field and be writable (it is restored). */
bool aa__audit_line_hash(char *line, size_t len,
                         char out[AA__AUDIT_HASH_HEX + 1]);

/* Writes all of p[0, n) (retrying short writes): 0 or an errno value. */
int aa__audit_write_all(int fd, const char *p, size_t n);
/* flock(fd, LOCK_EX), retried on EINTR: 0 or an errno value. */
int aa__audit_lock(int fd);

#endif /* AA_AUDIT_H */
