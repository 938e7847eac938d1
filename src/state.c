/*
 * state.c - sessions and delegation grants with the rules of contract
 * section 9 (defaults, clamping, validation), on top of the store interface,
 * with every change written to the audit log.
 */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int need_store(aa_engine *e, aa_error *err) {
    if (!e)
        return aa__fail(err, AA_EINVAL, "no engine");
    if (!e->store)
        return aa__fail(err, AA_ESTATE, "no state store is open");
    return AA_OK;
}

/* Text that is not UTF-8 never reaches the store or the audit log, whose
 * reader could not read the line back. */
static int need_utf8(aa_error *err, const char *what, const char *s) {
    if (s && !aa__utf8_valid(s, strlen(s)))
        return aa__fail(err, AA_EINVAL, "%s is not valid UTF-8", what);
    return AA_OK;
}

/* A change that could not be audited is not made (fail closed), unless
 * the policy says audit.on_failure: allow. */
static int need_audit(aa_engine *e, aa_error *err) {
    if (e->audit_broken && !e->audit_on_failure_allow)
        return aa__fail(err, AA_EAUDIT, "audit log unavailable: %s",
                        e->audit_broken);
    return AA_OK;
}

/* The latest expiry: 9999-12-31T23:59:59Z, the last second an ISO 8601
 * timestamp shows. Longer durations end there instead of overflowing the
 * microsecond clock. */
#define MAX_EXPIRY_US INT64_C(253402300799000000)

typedef int (*revoke_op)(aa_store *, const char *, int64_t, int *, aa_error *);

static int64_t expiry(int64_t start_us, int64_t duration_s) {
    if (start_us >= MAX_EXPIRY_US ||
        duration_s > (MAX_EXPIRY_US - start_us) / 1000000)
        return MAX_EXPIRY_US;
    return start_us + duration_s * 1000000;
}

/* Before a session or a grant is made: the log must be usable (see
 * need_audit), and the record gets a fresh id; it starts now (*start) and
 * ends duration_s later (*end). */
static int new_record(aa_engine *e, char id[37], const char *what,
                      int64_t duration_s, int64_t *start, int64_t *end,
                      aa_error *err) {
    int rc = need_audit(e, err);
    if (rc == AA_OK && aa__uuid4(id) != AA_OK)
        rc =
            aa__fail(err, AA_EIO, "cannot read random bytes for a %s id", what);
    if (rc != AA_OK)
        return rc;
    *start = aa__engine_now(e);
    *end = expiry(*start, duration_s);
    return AA_OK;
}

/* Audits the creation of a session or a grant that the store already holds.
 * Not audited means not made (fail closed): on failure the record is revoked
 * again and the error says so. */
static int audit_created(aa_engine *e, const char *event,
                         const aa__audit_field *fields, size_t n,
                         revoke_op undo, const char *id, const char *what,
                         aa_error *err) {
    int rc = aa__engine_audit_event(e, event, fields, n, err);
    if (rc == AA_OK)
        return AA_OK;
    int r = 0;
    undo(e->store, id, aa__engine_now(e), &r, err);
    return aa__fail(
        err, rc, "%s not created: its audit line could not be written", what);
}

/* Reports a pattern (a grant's action, a session's scope) that the
 * patterns it must stay within do not cover (contract section 3):
 * AA_EREFUSED naming it and a string it would also allow. */
static int uncovered(aa_error *err, aa__cover c, const aa__buf *witness,
                     const char *what, const char *pattern, const char *owner,
                     const char *name, const char *within) {
    if (c == AA__COVER_NOMEM)
        return aa__fail(err, AA_ENOMEM, "out of memory");
    const char *w = witness->data ? witness->data : "";
    if (c == AA__COVER_NO && strcmp(w, pattern) == 0) /* a plain name */
        return aa__fail(err, AA_EREFUSED, "%s '%s' not allowed by %s '%s'",
                        what, pattern, owner, name);
    if (c == AA__COVER_NO)
        return aa__fail(err, AA_EREFUSED,
                        "%s '%s' not allowed by %s '%s': it would also allow "
                        "'%s', which none of %s matches",
                        what, pattern, owner, name, w, within);
    return aa__fail(err, AA_EREFUSED,
                    "%s '%s' not allowed by %s '%s': too complex to prove "
                    "that %s cover it",
                    what, pattern, owner, name, within);
}

/* ---- sessions ------------------------------------------------------------ */

int aa_session_create(aa_engine *e, const char *agent, const char *user,
                      const char *scope, int64_t duration_s, aa_session *out,
                      aa_error *err) {
    if (out)
        memset(out, 0, sizeof *out); /* filled in only on success */
    int rc = need_store(e, err);
    if (rc != AA_OK)
        return rc;
    if (aa__empty(agent))
        return aa__fail(err, AA_EINVAL, "a session needs an agent");
    if (aa__empty(user))
        return aa__fail(err, AA_EINVAL, "a session needs a user");
    if ((rc = need_utf8(err, "the agent", agent)) != AA_OK ||
        (rc = need_utf8(err, "the user", user)) != AA_OK ||
        (rc = need_utf8(err, "the scope", scope)) != AA_OK)
        return rc;
    const aa_policy *p = e->policy;
    const aa__profile *prof =
        aa__map_get(&p->profile_by_name, agent, strlen(agent));
    if (duration_s != AA_DURATION_DEFAULT && duration_s < 1)
        return aa__fail(err, AA_EINVAL,
                        "session duration must be at least 1 second (got %lld)",
                        (long long)duration_s);
    int64_t duration = duration_s;
    if (duration == AA_DURATION_DEFAULT)
        duration =
            prof ? prof->max_session_duration : p->sessions.default_duration;
    if (duration > p->sessions.max_duration)
        duration = p->sessions.max_duration;
    if (prof && duration > prof->max_session_duration)
        duration = prof->max_session_duration;
    if (!aa__empty(scope) && prof && prof->scopeset.count) {
        /* The session scope is a pattern: every scope it admits must be
         * one the profile admits (contract section 3). */
        aa__buf w;
        aa__buf_init(&w);
        aa__cover c =
            aa__patset_covers(&prof->scopeset, scope, AA__COVER_SKIP_EMPTY, &w);
        if (c != AA__COVER_YES)
            rc = uncovered(err, c, &w, "Scope", scope, "profile", prof->name,
                           "its scopes");
        aa__buf_free(&w);
        if (rc != AA_OK)
            return rc;
    }

    aa_session s;
    memset(&s, 0, sizeof s);
    if ((rc = new_record(e, s.session_id, "session", duration, &s.created_at,
                         &s.expires_at, err)) != AA_OK)
        return rc;
    s.agent = (char *)agent;
    s.user = (char *)user;
    s.scope = (char *)(scope ? scope : "");
    s.status = AA_GRANT_ACTIVE;
    rc = e->store->ops->session_put(e->store, &s, err);
    if (rc != AA_OK)
        return rc;

    const aa__audit_field f[] = {
        {"session_id", AA__AF_STR, .str = s.session_id},
        {"agent", AA__AF_STR, .str = agent},
        {"user", AA__AF_STR, .str = user},
        {"scope", AA__AF_STR, .str = s.scope},
        {"created_at", AA__AF_TIME, .time_us = s.created_at},
        {"expires_at", AA__AF_TIME, .time_us = s.expires_at},
    };
    rc = audit_created(e, "session.create", f, AA__ARRAY_LEN(f),
                       e->store->ops->session_revoke, s.session_id, "session",
                       err);
    if (rc != AA_OK)
        return rc;

    if (out) {
        *out = s;
        out->agent = strdup(agent);
        out->user = strdup(user);
        out->scope = strdup(s.scope);
        if (!out->agent || !out->user || !out->scope) {
            aa_session_clear(out);
            return aa__fail(err, AA_ENOMEM, "out of memory");
        }
    }
    return rc;
}

/* Revokes a session or a grant and audits it. A revocation stays made even
 * when its audit line fails: undoing it would hand a permission back. */
static int revoke(aa_engine *e, const char *id, int *revoked, aa_error *err,
                  revoke_op op, const char *what, const char *event,
                  const char *id_field) {
    int rc = need_store(e, err);
    if (rc != AA_OK)
        return rc;
    int r = 0;
    if (aa__empty(id))
        return aa__fail(err, AA_EINVAL, "a %s id is required", what);
    if ((rc = need_utf8(err, "the id", id)) != AA_OK)
        return rc;
    if ((rc = need_audit(e, err)) != AA_OK)
        return rc;
    rc = op(e->store, id, aa__engine_now(e), &r, err);
    if (revoked)
        *revoked = r;
    if (rc != AA_OK || !r)
        return rc;
    const aa__audit_field f[] = {{id_field, AA__AF_STR, .str = id}};
    return aa__engine_audit_event(e, event, f, 1, err);
}

int aa_session_revoke(aa_engine *e, const char *id, int *revoked,
                      aa_error *err) {
    return revoke(e, id, revoked, err,
                  e && e->store ? e->store->ops->session_revoke : NULL,
                  "session", "session.revoke", "session_id");
}

int aa_session_validate(aa_engine *e, const char *id, int *valid,
                        aa_session *out, aa_error *err) {
    int rc = need_store(e, err);
    if (rc != AA_OK)
        return rc;
    *valid = 0;
    if ((rc = need_utf8(err, "the session id", id)) != AA_OK)
        return rc;
    aa_session s;
    memset(&s, 0, sizeof s);
    rc = e->store->ops->session_get(e->store, id ? id : "", aa__engine_now(e),
                                    &s, err);
    if (rc == AA_ENOTFOUND)
        return AA_OK;
    if (rc != AA_OK)
        return rc;
    *valid = s.status == AA_GRANT_ACTIVE;
    if (out)
        *out = s;
    else
        aa_session_clear(&s);
    return AA_OK;
}

int aa_session_list(aa_engine *e, const char *agent, const char *user,
                    aa_session **out, size_t *n, aa_error *err) {
    int rc = need_store(e, err);
    if (rc != AA_OK)
        return rc;
    if ((rc = need_utf8(err, "the agent filter", agent)) != AA_OK ||
        (rc = need_utf8(err, "the user filter", user)) != AA_OK)
        return rc;
    return e->store->ops->session_list(
        e->store, aa__empty(agent) ? NULL : agent,
        aa__empty(user) ? NULL : user, aa__engine_now(e), out, n, err);
}

/* ---- delegations --------------------------------------------------------- */

int aa_delegation_create(aa_engine *e, const char *from_user,
                         const char *to_agent, const char *const *actions,
                         size_t nactions, int64_t duration_s,
                         const char *reason, aa_delegation *out,
                         aa_error *err) {
    if (out)
        memset(out, 0, sizeof *out); /* filled in only on success */
    int rc = need_store(e, err);
    if (rc != AA_OK)
        return rc;
    if (aa__empty(from_user))
        return aa__fail(err, AA_EINVAL,
                        "a delegation needs a user to delegate from");
    if (aa__empty(to_agent))
        return aa__fail(err, AA_EINVAL,
                        "a delegation needs an agent to delegate to");
    if ((rc = need_utf8(err, "the user", from_user)) != AA_OK ||
        (rc = need_utf8(err, "the agent", to_agent)) != AA_OK ||
        (rc = need_utf8(err, "the reason", reason)) != AA_OK)
        return rc;
    for (size_t i = 0; i < nactions; i++) {
        char what[48];
        snprintf(what, sizeof what, "action %zu", i + 1);
        if (actions[i] && (rc = need_utf8(err, what, actions[i])) != AA_OK)
            return rc;
    }
    const aa_policy *p = e->policy;
    int64_t duration = duration_s == AA_DURATION_DEFAULT
                           ? p->delegation.default_duration
                           : duration_s;
    bool refused = false;
    aa__buf w; /* a string a refused pattern would also allow */
    aa__buf_init(&w);
#define REFUSE(...)                                                            \
    do {                                                                       \
        refused = true;                                                        \
        aa__fail(err, AA_EREFUSED, __VA_ARGS__);                               \
    } while (0)
    if (!p->delegation.enabled)
        REFUSE("Delegation is disabled");
    if (duration < 1)
        REFUSE("Duration must be at least 1 second (got %lld)",
               (long long)duration);
    if (duration > p->delegation.max_duration)
        REFUSE("Duration %llds exceeds maximum %llds", (long long)duration,
               (long long)p->delegation.max_duration);
    if (nactions == 0)
        REFUSE("At least one action is required");
    for (size_t i = 0; i < nactions; i++)
        if (aa__empty(actions[i]))
            REFUSE("Action %zu is empty", i + 1);
    for (size_t r = 0; r < p->delegation.nrules; r++) {
        const aa__drule *rule = &p->delegation.rules[r];
        for (size_t i = 0; rule->allowed.count && i < nactions; i++) {
            if (aa__empty(actions[i]))
                continue;
            /* The grant's pattern, as a language, must lie within the
             * rule's allowed_actions (contract sections 3 and 9). */
            aa__cover c = aa__patset_covers(&rule->allowed, actions[i],
                                            AA__COVER_SKIP_EMPTY, &w);
            if (c == AA__COVER_NOMEM) {
                aa__buf_free(&w);
                return aa__fail(err, AA_ENOMEM, "out of memory");
            }
            if (c != AA__COVER_YES) {
                refused = true;
                uncovered(err, c, &w, "Action", actions[i], "delegation rule",
                          rule->name, "the rule's allowed_actions");
            }
        }
        if (duration > rule->max_duration)
            REFUSE("Duration %llds exceeds rule '%s' maximum %llds",
                   (long long)duration, rule->name,
                   (long long)rule->max_duration);
        if (rule->require_reason && aa__empty(reason))
            REFUSE("Delegation rule '%s' requires a reason", rule->name);
    }
#undef REFUSE
    aa__buf_free(&w);
    if (refused)
        return AA_EREFUSED;

    aa_delegation g;
    memset(&g, 0, sizeof g);
    if ((rc = new_record(e, g.delegation_id, "delegation", duration,
                         &g.granted_at, &g.expires_at, err)) != AA_OK)
        return rc;
    g.from_user = (char *)from_user;
    g.to_agent = (char *)to_agent;
    g.actions = (char **)actions;
    g.action_count = nactions;
    g.reason = (char *)(reason ? reason : "");
    g.status = AA_GRANT_ACTIVE;
    rc = e->store->ops->delegation_put(e->store, &g, err);
    if (rc != AA_OK)
        return rc;

    const aa__audit_field f[] = {
        {"delegation_id", AA__AF_STR, .str = g.delegation_id},
        {"from_user", AA__AF_STR, .str = from_user},
        {"to_agent", AA__AF_STR, .str = to_agent},
        {"actions", AA__AF_STRLIST, .list = actions, .count = nactions},
        {"granted_at", AA__AF_TIME, .time_us = g.granted_at},
        {"expires_at", AA__AF_TIME, .time_us = g.expires_at},
        {"reason", AA__AF_STR, .str = g.reason},
    };
    rc = audit_created(e, "delegation.create", f, AA__ARRAY_LEN(f),
                       e->store->ops->delegation_revoke, g.delegation_id,
                       "delegation", err);
    if (rc != AA_OK)
        return rc;

    if (out) {
        *out = g;
        out->from_user = strdup(from_user);
        out->to_agent = strdup(to_agent);
        out->reason = strdup(g.reason);
        out->actions = calloc(nactions, sizeof *out->actions);
        bool oom =
            !out->from_user || !out->to_agent || !out->reason || !out->actions;
        for (size_t i = 0; !oom && i < nactions; i++)
            oom = !(out->actions[i] = strdup(actions[i]));
        if (oom) {
            aa_delegation_clear(out);
            return aa__fail(err, AA_ENOMEM, "out of memory");
        }
    }
    return rc;
}

int aa_delegation_revoke(aa_engine *e, const char *id, int *revoked,
                         aa_error *err) {
    return revoke(e, id, revoked, err,
                  e && e->store ? e->store->ops->delegation_revoke : NULL,
                  "delegation", "delegation.revoke", "delegation_id");
}

int aa_delegation_list(aa_engine *e, const char *agent, aa_delegation **out,
                       size_t *n, aa_error *err) {
    int rc = need_store(e, err);
    if (rc != AA_OK)
        return rc;
    if ((rc = need_utf8(err, "the agent filter", agent)) != AA_OK)
        return rc;
    return e->store->ops->delegation_list(e->store,
                                          aa__empty(agent) ? NULL : agent,
                                          aa__engine_now(e), out, n, err);
}

int aa_state_cleanup(aa_engine *e, int64_t retention_s, size_t *marked,
                     size_t *purged, aa_error *err) {
    int rc = need_store(e, err);
    if (rc != AA_OK)
        return rc;
    size_t m = 0, pu = 0;
    int64_t retention_us = retention_s < 0 ? 0
                           : retention_s > INT64_MAX / 1000000
                               ? INT64_MAX /* keep all */
                               : retention_s * 1000000;
    rc = e->store->ops->cleanup(e->store, aa__engine_now(e), retention_us, &m,
                                &pu, err);
    if (marked)
        *marked = m;
    if (purged)
        *purged = pu;
    return rc;
}
