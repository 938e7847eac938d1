/*
 * audit.h - the audit line format and the append-only, hash-chained JSON
 * Lines writer (contract section 10). This module owns the format: every
 * line is built here (decisions; session and delegation events, whose
 * fields state.c passes in; the audit.rotate record rotation writes), and
 * the chain fields and hash rule readers check are defined here. Reading,
 * verifying and rotating are the public aa_audit_* functions in
 * agent_auth.h, implemented in audit_read.c, the one reader.
 *
 * Each line is one JSON object written with one write(2) on a file opened
 * with O_APPEND; the chain step (read the last hash, write the line) is
 * serialised across threads by a mutex and across processes by flock(2)
 * held for one write only. Every string goes through aa__buf_json_string,
 * which turns bytes that are not UTF-8 into U+FFFD, and numbers that are
 * not finite are written as null, so every line is JSON any reader accepts.
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
    const char *config_name;
    const char *config_version;
    /* The policy that decided: its audit.redact keys are redacted in the
     * line's metadata, and its policy_sha256 recorded. NULL: nothing
     * redacted, policy_sha256 null. */
    const aa_policy *policy;
} aa__audit_decision;

/* Appends an "authorize" line:
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
