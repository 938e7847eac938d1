/*
 * engine.c - the decision pipeline of contract section 5, with the approval
 * tiers of section 7 and agent-to-agent rules of section 8.
 *
 * The hot path allocates nothing once the decision object has warmed up:
 * names are hashed once per request, profiles are found by hash, exact
 * action names by hash inside each profile's pattern sets, and only the
 * approval and A2A policies that can concern the request are evaluated.
 */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decision.h"

/* ---- engine lifetime ----------------------------------------------------- */

int aa_engine_new(const aa_policy *policy, const aa_engine_options *opts,
                  aa_engine **out, aa_error *err) {
    if (!policy || !out)
        return aa__fail(err, AA_EINVAL,
                        "aa_engine_new: policy and out are required");
    *out = NULL;
    aa_engine_options own;
    if (!aa__options_copy(&own, sizeof own, opts))
        own.audit_mode = AA_AUDIT_FROM_POLICY;
    opts = &own;
    aa_engine *e = calloc(1, sizeof *e);
    if (!e)
        return aa__fail(err, AA_ENOMEM, "out of memory");
    e->policy = policy;
    e->store = opts->store;
    e->user_permission = opts->user_permission;
    e->user_permission_userdata = opts->user_permission_userdata;
    e->clock = opts->clock;
    e->clock_userdata = opts->clock_userdata;
    e->audit_on_failure_allow = policy->audit.on_failure_allow;
    aa__map_init(&e->matcher_by_name);

    int rc = aa__engine_index_build(&e->index, policy);
    if (rc != AA_OK) {
        aa_engine_free(e);
        return aa__fail(err, rc, "out of memory");
    }
    bool audit_on =
        opts->audit_mode == AA_AUDIT_ON ||
        (opts->audit_mode == AA_AUDIT_FROM_POLICY && policy->audit.enabled);
    if (audit_on) {
        const char *path =
            opts->audit_path ? opts->audit_path : policy->audit.path;
        aa_error *aerr = aa_error_new();
        rc = aa__audit_open(path, policy->audit.fsync, &e->audit, aerr);
        /* Fail closed at decision time rather than refusing to start: with
         * on_failure: deny, every decision then says why it was denied. */
        if (rc != AA_OK) {
            e->audit = NULL;
            const aa_diag *dg = aa_error_get(aerr, 0);
            e->audit_broken = strdup(dg ? dg->message : aa_strerror(rc));
            if (!e->audit_broken) {
                aa_error_free(aerr);
                aa_engine_free(e);
                return aa__fail(err, AA_ENOMEM, "out of memory");
            }
        }
        aa_error_free(aerr);
    }
    *out = e;
    return AA_OK;
}

void aa_engine_free(aa_engine *e) {
    if (!e)
        return;
    if (e->audit)
        aa__audit_close(e->audit);
    free(e->audit_broken);
    for (size_t i = 0; i < e->nmatchers; i++)
        free(e->matchers[i].name);
    free(e->matchers);
    aa__map_free(&e->matcher_by_name);
    aa__engine_index_free(&e->index);
    free(e);
}

int aa_engine_register_matcher(aa_engine *e, const char *name, aa_matcher_fn fn,
                               void *userdata) {
    if (!e || aa__empty(name) || !fn)
        return AA_EINVAL;
    aa__matcher *m = aa__map_get(&e->matcher_by_name, name, strlen(name));
    if (m) { /* re-registering replaces */
        m->fn = fn;
        m->userdata = userdata;
        return AA_OK;
    }
    aa__matcher *ms = realloc(e->matchers, (e->nmatchers + 1) * sizeof *ms);
    if (!ms)
        return AA_ENOMEM;
    e->matchers = ms;
    char *copy = strdup(name);
    if (!copy)
        return AA_ENOMEM;
    ms[e->nmatchers++] = (aa__matcher){copy, fn, userdata};
    /* The array may have moved: rebuild the map over it. */
    aa__map_free(&e->matcher_by_name);
    for (size_t i = 0; i < e->nmatchers; i++)
        if (!aa__map_put(&e->matcher_by_name, ms[i].name, strlen(ms[i].name),
                         &ms[i]))
            return AA_ENOMEM;
    return AA_OK;
}

int aa__engine_audit_event(aa_engine *e, const char *event, const char *fields,
                           aa_error *err) {
    if (!e->audit)
        return AA_OK;
    int rc = aa__audit_write_event(e->audit, event, fields, err);
    return e->audit_on_failure_allow ? AA_OK : rc;
}

/* ---- evaluation context -------------------------------------------------- */

static int call_matcher(void *ud, const char *name, const char *value,
                        bool *result) {
    const aa_engine *e = ud;
    aa__matcher *m = aa__map_get(&e->matcher_by_name, name, strlen(name));
    if (!m)
        return AA_ENOTFOUND;
    int r = 0;
    int rc = m->fn(m->userdata, value, &r);
    *result = r != 0;
    return rc;
}

static void set_field(aa__expr_ctx *c, aa__field f, const char *s) {
    c->fields[f] = s ? s : "";
    c->field_len[f] = s ? strlen(s) : 0;
}

/* ---- the pipeline -------------------------------------------------------- */

typedef enum {
    PERMIT_NONE = 0,
    PERMIT_PROFILE,
    PERMIT_DELEGATION,
    PERMIT_USER
} permit_kind;

/* A denial: no tier, no approval policy, an empty reason to fill. */
static void deny_reset(aa_decision *d) {
    d->allowed = false;
    d->tier = AA_TIER_AUTONOMOUS;
    d->requires_approval = false;
    d->approval_policy = "";
    aa__buf_reset(&d->reason);
}

static void deny(aa_decision *d, const char *fmt, ...) AA__PRINTF(2, 3);
static void deny(aa_decision *d, const char *fmt, ...) {
    deny_reset(d);
    va_list ap;
    va_start(ap, fmt);
    aa__buf_vprintf(&d->reason, fmt, ap);
    va_end(ap);
}

/* As deny, from pieces: the hot denials avoid printf. */
#define DENY(d, ...) deny_cat((d), __VA_ARGS__, (const char *)NULL)
static void deny_cat(aa_decision *d, ...) {
    deny_reset(d);
    va_list ap;
    va_start(ap, d);
    const char *s;
    while ((s = va_arg(ap, const char *)))
        aa__buf_puts(&d->reason, s);
    va_end(ap);
}

static void step(aa_decision *d, const char *name, int outcome, const char *fmt,
                 ...) AA__PRINTF(4, 5);
static void step(aa_decision *d, const char *name, int outcome, const char *fmt,
                 ...) {
    aa__buf *b = aa__decision_step(d, name, outcome);
    if (!b)
        return;
    va_list ap;
    va_start(ap, fmt);
    aa__buf_vprintf(b, fmt, ap);
    va_end(ap);
}

/* Describes where an effective allow entry came from, for the trace. */
static void describe_origin(aa__buf *b, const aa_policy *p,
                            const aa__profile *prof,
                            const aa__patset_entry *hit) {
    const aa__origin *o = hit->tag;
    if (!o || o->role < 0)
        aa__buf_printf(b, "'%s' in the allow list of profile '%s'",
                       hit->pat.text, prof->name);
    else
        aa__buf_printf(b, "'%s' from role '%s'%s", hit->pat.text,
                       p->roles[o->role].name,
                       o->role == prof->role ? "" : " (inherited)");
    if (o && o->role >= 0 && o->role != prof->role) {
        aa__buf_puts(b, " via ");
        for (int r = prof->role; r >= 0; r = p->roles[r].parent) {
            aa__buf_printf(b, "%s%s", r == prof->role ? "" : " -> ",
                           p->roles[r].name);
            if (r == o->role)
                break;
        }
    }
}

/* Step 1: the session, when one is named. Returns false on denial. */
static bool check_session(aa_engine *e, const aa_request *req, aa_decision *d,
                          int64_t now) {
    if (!e->store) {
        deny(d, "Invalid or expired session: '%s' (no state store)",
             req->session_id);
        step(d, "session", -1, "no state store is open to look up '%s'",
             req->session_id);
        return false;
    }
    aa_session s;
    memset(&s, 0, sizeof s);
    char sbuf[1024]; /* the session's strings, when the store can */
    bool owned = false;
    const aa__store_ops *ops = e->store->ops;
    int rc = ops->session_get_into
                 ? ops->session_get_into(e->store, req->session_id, now, &s,
                                         sbuf, sizeof sbuf, NULL)
                 : AA_ELIMIT;
    if (rc == AA_ELIMIT) {
        memset(&s, 0, sizeof s);
        rc = ops->session_get(e->store, req->session_id, now, &s, NULL);
        owned = true;
    }
    if (rc != AA_OK || s.status != AA_STATUS_ACTIVE) {
        if (rc == AA_OK || rc == AA_ENOTFOUND)
            deny(d, "Invalid or expired session: '%s'", req->session_id);
        else
            deny(d, "Invalid or expired session: '%s' (state store error: %s)",
                 req->session_id, aa_strerror(rc));
        step(d, "session", -1, "session '%s' is %s", req->session_id,
             rc == AA_OK          ? aa_grant_status_name(s.status)
             : rc == AA_ENOTFOUND ? "unknown"
                                  : "unreadable");
        if (owned)
            aa_session_clear(&s);
        return false;
    }
    bool ok = false;
    if (strcmp(s.agent, req->agent) != 0) {
        deny(d,
             "Session agent mismatch: session is for agent '%s', request is "
             "from agent '%s'",
             s.agent, req->agent);
    } else if (!aa__empty(s.user) && strcmp(s.user, req->user) != 0) {
        deny(d,
             "Session user mismatch: session is for user '%s', request is for "
             "user '%s'",
             s.user, req->user);
    } else if (!aa__empty(s.scope) && !aa__empty(req->scope) &&
               !aa__glob_match(s.scope, strlen(s.scope), req->scope,
                               strlen(req->scope))) {
        deny(d, "Scope '%s' is outside session scope '%s'", req->scope,
             s.scope);
    } else {
        ok = true;
    }
    if (ok)
        step(d, "session", 1,
             "session '%s' is active (agent '%s', user '%s', scope '%s')",
             req->session_id, s.agent, s.user, s.scope ? s.scope : "");
    else
        step(d, "session", -1, "%s", aa_decision_reason(d));
    if (owned)
        aa_session_clear(&s);
    return ok;
}

/* Section 8: agent-to-agent. Returns true when the call is allowed. */
static bool check_a2a(aa_engine *e, const aa_request *req, aa_decision *d,
                      const aa__expr_ctx *ctx) {
    const aa_policy *p = e->policy;
    size_t tlen = strlen(req->target_agent), alen = strlen(req->action);
    size_t flen = strlen(req->agent);
    aa__merge m = aa__a2a_candidates(&e->index, req->agent, flen,
                                     req->target_agent, tlen);
    const aa__a2a *allowed_by = NULL;
    aa__expr_error xerr;
    int i;
    while ((i = aa__merge_next(&m)) >= 0) {
        const aa__a2a *a = &p->a2a.policies[i];
        if (!aa__pattern_match(&a->to_pat, req->target_agent, tlen) ||
            !aa__pattern_match(&a->action_pat, req->action, alen) ||
            (a->from_pat.kind != AA__PAT_EXACT &&
             !aa__pattern_match(&a->from_pat, req->agent, flen)))
            continue;
        if (a->allow && allowed_by)
            continue; /* an earlier allow already stands; only denies matter */
        bool matched = true;
        int rc = AA_OK;
        aa__buf *b = NULL;
        if (!aa__expr_is_empty(a->cond)) {
            if (d->explain) {
                b = aa__decision_step(d, "a2a", 0);
                if (b)
                    aa__buf_printf(b, "policy '%s' (%s): ", a->name,
                                   a->allow ? "allow" : "deny");
                rc = aa__expr_explain(a->cond, ctx, &matched, &xerr, b);
            } else {
                rc = aa__expr_eval(a->cond, ctx, &matched, &xerr);
            }
            /* Fail closed: an erroring deny counts, an erroring allow not. */
            if (rc != AA_OK)
                matched = !a->allow;
        } else if (d->explain) {
            b = aa__decision_step(d, "a2a", 0);
            if (b)
                aa__buf_printf(b, "policy '%s' (%s) matches %s -> %s on '%s'",
                               a->name, a->allow ? "allow" : "deny", req->agent,
                               req->target_agent, req->action);
        }
        if (b)
            d->steps[d->nsteps - 1].outcome = matched ? (a->allow ? 1 : -1) : 0;
        if (!matched)
            continue;
        if (!a->allow) {
            if (rc != AA_OK)
                deny(d,
                     "Denied by A2A policy: %s (condition could not be "
                     "evaluated: %s)",
                     aa__empty(a->description) ? a->name : a->description,
                     xerr.message);
            else
                DENY(d, "Denied by A2A policy: ",
                     aa__empty(a->description) ? a->name : a->description);
            return false;
        }
        allowed_by = a;
    }
    if (allowed_by)
        return true;
    if (p->a2a.default_allow) {
        step(d, "a2a", 1, "no A2A policy matched; the default is allow");
        return true;
    }
    DENY(d, "Denied by default A2A policy");
    step(d, "a2a", -1,
         "no A2A policy allows %s -> %s on '%s'; the default is deny",
         req->agent, req->target_agent, req->action);
    return false;
}

/* Section 7: the approval tier. */
static void approval_tier(aa_engine *e, const aa__profile *prof, aa_decision *d,
                          const aa__expr_ctx *ctx, const char *action,
                          size_t alen, uint64_t ahash, bool *failed_closed) {
    const aa_policy *p = e->policy;
    aa_tier tier = prof ? prof->default_tier : AA_TIER_AUTONOMOUS;
    const char *by = "";
    if (prof && tier != AA_TIER_AUTONOMOUS)
        step(d, "approval", 1, "profile '%s' starts at tier %s", prof->name,
             aa_tier_name(tier));
    aa__merge m = aa__approval_candidates(&e->index, action, alen, ahash,
                                          ctx->meta, ctx->nmeta);
    aa__expr_error xerr;
    int i;
    if (d->explain) {
        aa__merge count = m;
        size_t n = 0;
        while (aa__merge_next(&count) >= 0)
            n++;
        bool by_meta = e->index.nmeta > 0;
        if (p->napprovals > n)
            step(d, "approval", 0,
                 "%zu approval polic%s about other %s skipped (indexed by "
                 "%s)",
                 p->napprovals - n, p->napprovals - n == 1 ? "y" : "ies",
                 by_meta ? "requests" : "actions",
                 by_meta ? "action and metadata" : "action");
    }
    while ((i = aa__merge_next(&m)) >= 0) {
        /* Settled: nothing later can change tier or name. Without explain
         * the loop stops here; with it, the rest is evaluated for the trace
         * only and must not change the decision (its reason included). */
        bool settled = tier == AA_TIER_STRONG && *by;
        if (settled && !d->explain)
            break;
        const aa__approval *ap = &p->approvals[i];
        bool matched = false;
        int rc;
        aa__buf *b = aa__decision_step(d, "approval", 0);
        if (b) {
            aa__buf_printf(b, "policy '%s' (%s): ", ap->name,
                           aa_tier_name(ap->tier));
            rc = aa__expr_explain(ap->cond, ctx, &matched, &xerr, b);
        } else {
            rc = aa__expr_eval(ap->cond, ctx, &matched, &xerr);
        }
        if (rc != AA_OK) { /* fail closed: the approval still applies */
            matched = true;
            *failed_closed |= !settled;
            if (b) /* the explanation already says what failed */
                aa__buf_puts(b, "; fails closed: counts as matched");
        }
        if (b)
            d->steps[d->nsteps - 1].outcome = matched;
        if (matched && (ap->tier > tier || (ap->tier == tier && !*by))) {
            tier = ap->tier;
            by = ap->name;
        }
    }
    d->tier = tier;
    d->requires_approval = tier != AA_TIER_AUTONOMOUS;
    d->approval_policy = by;
}

int aa_authorize(aa_engine *e, const aa_request *req, aa_decision *d) {
    uint64_t t0 = aa__mono_ns();
    aa__decision_reset(d);
    if (!e || !req) {
        deny(d, "Invalid request: no engine or request");
        return AA_EINVAL;
    }
    const char *missing = aa__empty(req->agent)    ? "agent"
                          : aa__empty(req->user)   ? "user"
                          : aa__empty(req->action) ? "action"
                                                   : NULL;
    if (missing) {
        deny(d, "Invalid request: '%s' is required", missing);
        d->time_ms = (double)(aa__mono_ns() - t0) / 1e6;
        return AA_EINVAL;
    }
    const aa_policy *p = e->policy;
    const char *action = req->action;
    size_t alen = strlen(action);
    uint64_t ahash = aa__hash(action, alen);
    int64_t now = 0;
    permit_kind permit = PERMIT_NONE;
    aa__deleg_hit hit;
    bool decided = false; /* a denial has been made */
    bool failed_closed = false;

    /* 1. Session. */
    if (!aa__empty(req->session_id)) {
        now = aa__engine_now(e);
        decided = !check_session(e, req, d, now);
    }

    /* 2. Profile. */
    const aa__profile *prof = NULL;
    if (!decided) {
        size_t nlen = strlen(req->agent);
        prof = aa__map_get_h(&p->profile_by_name, req->agent, nlen,
                             aa__hash(req->agent, nlen));
        if (prof)
            step(d, "profile", 1, "agent '%s' has profile '%s'%s%s%s",
                 req->agent, prof->name, prof->role >= 0 ? " with role '" : "",
                 prof->role >= 0 ? p->roles[prof->role].name : "",
                 prof->role >= 0 ? "'" : "");
        else
            step(d, "profile", 0,
                 "agent '%s' has no profile: the profile allows nothing",
                 req->agent);
    }

    /* 3. Profile deny, then scope. */
    if (!decided && prof) {
        const aa__patset_entry *hit_deny =
            aa__patset_match_h(&prof->denied, action, alen, ahash);
        if (hit_deny) {
            DENY(d, "Action '", action, "' denied by profile '", prof->name,
                 "'");
            step(d, "deny", -1,
                 "'%s' matches '%s' in the deny list of profile '%s'", action,
                 hit_deny->pat.text, prof->name);
            decided = true;
        } else if (prof->deny.count) {
            step(d, "deny", 1,
                 "no pattern in the deny list of profile '%s' matches '%s'",
                 prof->name, action);
        }
        if (!decided && prof->scopeset.count && !aa__empty(req->scope)) {
            const aa__patset_entry *hs = aa__patset_match(
                &prof->scopeset, req->scope, strlen(req->scope));
            if (!hs) {
                DENY(d, "Scope '", req->scope, "' not allowed by profile '",
                     prof->name, "'");
                step(d, "scope", -1,
                     "'%s' matches none of the scopes of profile '%s'",
                     req->scope, prof->name);
                decided = true;
            } else {
                step(d, "scope", 1, "'%s' matches scope '%s' of profile '%s'",
                     req->scope, hs->pat.text, prof->name);
            }
        }
    }

    /* 4. Profile allow. */
    if (!decided && prof) {
        const aa__patset_entry *ha =
            aa__patset_match_h(&prof->effective, action, alen, ahash);
        if (ha) {
            permit = PERMIT_PROFILE;
            aa__buf *b = aa__decision_step(d, "allow", 1);
            if (b) {
                aa__buf_printf(b, "'%s' is allowed by ", action);
                describe_origin(b, p, prof, ha);
            }
        } else {
            step(d, "allow", 0,
                 "no allowed pattern of profile '%s' matches '%s'", prof->name,
                 action);
        }
    }

    /* 5. Delegation, bound to the request's user. */
    if (!decided && permit == PERMIT_NONE && e->store) {
        if (!now)
            now = aa__engine_now(e);
        int rc = e->store->ops->delegation_find(e->store, req->agent, req->user,
                                                action, now, &hit, NULL);
        if (rc == AA_OK) {
            permit = PERMIT_DELEGATION;
            step(d, "delegation", 1,
                 "delegation '%s' from user '%s' grants '%s' (pattern '%s')",
                 hit.delegation_id, req->user, action, hit.pattern);
        } else {
            step(d, "delegation", 0,
                 rc == AA_ENOTFOUND ? "no live delegation from user '%s' to "
                                      "agent '%s' covers '%s'"
                                    : "delegations from user '%s' to agent "
                                      "'%s' could not be read for '%s'",
                 req->user, req->agent, action);
        }
    }

    /* 6. User permissions callback. */
    if (!decided && permit == PERMIT_NONE && e->user_permission) {
        if (e->user_permission(e->user_permission_userdata, req->user,
                               action)) {
            permit = PERMIT_USER;
            step(d, "user_permissions", 1, "user '%s' holds '%s'", req->user,
                 action);
        } else {
            step(d, "user_permissions", 0, "user '%s' does not hold '%s'",
                 req->user, action);
        }
    }

    aa__expr_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.meta = req->metadata;
    ctx.nmeta = req->metadata ? req->metadata_count : 0;
    ctx.matcher = call_matcher;
    ctx.matcher_ud = e;

    /* 7. Agent-to-agent. */
    if (!decided && !aa__empty(req->target_agent)) {
        set_field(&ctx, AA__F_FROM_AGENT, req->agent);
        set_field(&ctx, AA__F_TO_AGENT, req->target_agent);
        set_field(&ctx, AA__F_AGENT, req->agent);
        set_field(&ctx, AA__F_USER, req->user);
        set_field(&ctx, AA__F_RESOURCE, req->resource);
        set_field(&ctx, AA__F_SCOPE, req->scope);
        ctx.fields[AA__F_ACTION] = action;
        ctx.field_len[AA__F_ACTION] = alen;
        decided = !check_a2a(e, req, d, &ctx);
    }

    /* 8. Not permitted. */
    if (!decided && permit == PERMIT_NONE) {
        DENY(d, "Action '", action, "' not authorized for agent '", req->agent,
             "'");
        step(d, "result", -1, "nothing permits '%s' for agent '%s'", action,
             req->agent);
        decided = true;
    }

    /* 9. Approval tier. */
    if (!decided) {
        set_field(&ctx, AA__F_AGENT, req->agent);
        set_field(&ctx, AA__F_USER, req->user);
        ctx.fields[AA__F_ACTION] = action;
        ctx.field_len[AA__F_ACTION] = alen;
        set_field(&ctx, AA__F_RESOURCE, req->resource);
        set_field(&ctx, AA__F_SCOPE, req->scope);
        approval_tier(e, prof, d, &ctx, action, alen, ahash, &failed_closed);
        d->allowed = true;
        aa__buf_reset(&d->reason);
        switch (permit) {
        case PERMIT_DELEGATION:
            aa__buf_cat(&d->reason, "Delegated by user '", req->user, "'",
                        NULL);
            break;
        case PERMIT_PROFILE:
            aa__buf_cat(&d->reason, "Allowed by profile '", prof->name, "'",
                        NULL);
            break;
        default:
            aa__buf_puts(&d->reason, "Allowed by user permissions");
            break;
        }
        if (d->requires_approval)
            aa__buf_cat(&d->reason, " (requires ", aa_tier_name(d->tier),
                        " approval)", NULL);
        if (failed_closed)
            aa__buf_puts(&d->reason, "; an approval condition could not be "
                                     "evaluated and was counted as matched");
        step(d, "result", 1, "allowed, tier %s%s%s", aa_tier_name(d->tier),
             *d->approval_policy ? " set by approval policy " : "",
             d->approval_policy);
    }
    d->time_ms = (double)(aa__mono_ns() - t0) / 1e6;

    /* Every decision is audited; without its line it does not stand. */
    if (e->audit) {
        aa__audit_decision ad = {
            .req = req,
            .allowed = d->allowed,
            .tier = d->tier,
            .reason = aa_decision_reason(d),
            .requires_approval = d->requires_approval,
            .approval_policy = d->approval_policy,
            .evaluation_time_ms = d->time_ms,
            .config_name = p->name,
            .config_version = p->version,
        };
        aa_error *aerr = aa_error_new();
        int rc = aa__audit_write_decision(e->audit, &ad, aerr);
        if (rc != AA_OK && !e->audit_on_failure_allow) {
            const aa_diag *dg = aa_error_get(aerr, 0);
            bool was_allowed = d->allowed;
            deny(d,
                 "Audit log unavailable: %s (the decision would have been: %s)",
                 dg ? dg->message : aa_strerror(rc),
                 was_allowed ? "allowed" : "denied");
            step(d, "audit", -1, "%s", aa_decision_reason(d));
        } else if (rc != AA_OK) {
            step(d, "audit", 0, "audit line not written (on_failure: allow)");
        }
        aa_error_free(aerr);
    } else if (e->audit_broken && !e->audit_on_failure_allow) {
        bool was_allowed = d->allowed;
        deny(d, "Audit log unavailable: %s (the decision would have been: %s)",
             e->audit_broken, was_allowed ? "allowed" : "denied");
        step(d, "audit", -1, "%s", aa_decision_reason(d));
    }
    return AA_OK;
}

void aa_engine_options_init(aa_engine_options *opts) {
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->size = sizeof *opts;
}
