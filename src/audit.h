/*
 * audit.h - the append-only, hash-chained JSON Lines audit writer
 * (contract section 10). Reading, verifying and rotating are the public
 * aa_audit_* functions in agent_auth.h, implemented in audit_read.c.
 *
 * Each line is one JSON object written with one write(2) on a file opened
 * with O_APPEND; the chain step (read the last hash, write the line) is
 * serialised across threads by a mutex and across processes by flock(2)
 * held for one write only.
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
} aa__audit_decision;

/* Appends an "authorize" line. AA_OK, or AA_EAUDIT (err says why). */
int aa__audit_write_decision(aa__audit *a, const aa__audit_decision *d,
                             aa_error *err);

/* Appends a lifecycle line: `event` ("session.create", "session.revoke",
 * "delegation.create", "delegation.revoke") and `fields`, a JSON object
 * body without braces (`"session_id":"...","agent":"..."`), already valid
 * JSON. AA_OK or AA_EAUDIT. */
int aa__audit_write_event(aa__audit *a, const char *event, const char *fields,
                          aa_error *err);

#endif /* AA_AUDIT_H */
