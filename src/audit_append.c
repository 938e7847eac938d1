/*
 * audit_append.c - aa_audit_append_decision: one "authorize" line for a
 * decision made outside an engine, through the same writer (audit.c) and
 * with the same hash chain.
 */
#include "audit.h"
#include "util.h"

int aa_audit_append_decision(const char *path, const aa_request *req,
                             const aa_audit_record *rec, aa_error *err) {
    if (!path || !*path || !req || !rec)
        return aa__fail(err, AA_EINVAL,
                        "aa_audit_append_decision: missing argument");
    if (aa__empty(req->agent) || aa__empty(req->user) || aa__empty(req->action))
        return aa__fail(err, AA_EINVAL,
                        "an audit record needs an agent, a user and an action");
    char field[96]; /* no line the reader cannot read back */
    const char *bad = aa__request_bad_utf8(req, field);
    if (bad)
        return aa__fail(err, AA_EINVAL, "%s is not valid UTF-8", bad);
    aa__audit *a = NULL;
    int rc = aa__audit_open(path, AA__FSYNC_NEVER, &a, err);
    if (rc != AA_OK)
        return rc;
    aa__audit_decision d = {
        .req = req,
        .allowed = rec->allowed != 0,
        .tier = rec->tier,
        .reason = rec->reason ? rec->reason : "",
        .requires_approval = rec->requires_approval != 0,
        .approval_policy = rec->approval_policy ? rec->approval_policy : "",
        .evaluation_time_ms = rec->evaluation_time_ms,
        .config_name = rec->config_name ? rec->config_name : "",
        .config_version = rec->config_version ? rec->config_version : "1.0",
    };
    rc = aa__audit_write_decision(a, &d, err);
    aa__audit_close(a);
    return rc;
}
