/*
 * engine.c - the decision pipeline of contract section 5, with the approval
 * tiers of section 7 and agent-to-agent rules of section 8.
 *
 * aa_authorize runs one static function per step of section 5 (see
 * decide()); each writes its own trace line and its reason when it denies.
 * Names are hashed once per request, profiles are found by hash, exact
 * action names by hash inside each profile's pattern sets, and only the
 * approval and A2A policies that can concern the request are evaluated.
 * Without auditing, a decision allocates nothing once the decision object
 * has warmed up; an audited one allocates the error object that the audit
 * writer reports into (the line buffer itself is reused).
 */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_anchor.h"
#include "decision.h"
#include "store_cache.h"

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
        if (rc == AA_EREFUSED) { /* unsafe path: no decision at all */
            const aa_diag *dg = aa_error_get(aerr, 0);
            aa__fail(err, rc, "%s", dg ? dg->message : aa_strerror(rc));
            aa_error_free(aerr);
            aa_engine_free(e);
            return rc;
        }
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
    /* Audit anchoring: a store that records heads gets this log's. */
    if (e->audit && e->store &&
        aa__anchorer_start(e->audit, e->store, &e->anchorer) != AA_OK) {
        aa_engine_free(e);
        return aa__fail(err, AA_ENOMEM, "out of memory");
    }
    *out = e;
    return AA_OK;
}

void aa_engine_free(aa_engine *e) {
    if (!e)
        return;
    aa__anchorer_stop(e->anchorer); /* the last head, before the log closes */
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

int aa__engine_audit_event(aa_engine *e, const char *event,
                           const aa__audit_field *fields, size_t n,
                           aa_error *err) {
    if (!e->audit)
        return AA_OK;
    int rc = aa__audit_write_event(e->audit, event, fields, n, err);
    return e->audit_on_failure_allow ? AA_OK : rc;
}

/* ---- evaluation context -------------------------------------------------- */

static void set_field(aa__expr_ctx *c, aa__field f, const char *s, size_t len) {
    c->fields[f] = s ? s : "";
    c->field_len[f] = len; /* 0 for NULL */
}

/* ---- the pipeline -------------------------------------------------------- */

typedef enum {
    PERMIT_NONE = 0,
    PERMIT_PROFILE,
    PERMIT_DELEGATION,
    PERMIT_USER
} permit_kind;

/* One request on its way through the pipeline, and what the steps found.
 * Each step writes its own trace line and, when it denies, the reason; it
 * returns false when it made the decision (a denial). */
typedef struct run {
    aa_engine *e;
    const aa_policy *p;
    const aa_request *req;
    aa_decision *d;
    const char *action;
    size_t alen;
    uint64_t ahash;      /* aa__hash(action), shared by every lookup */
    uint64_t agent_hash; /* aa__hash(agent) */
    size_t agent_len;
    aa__req_text txt;        /* the request's string lengths (check_request) */
    int64_t now;             /* 0 until a step reads the clock */
    uint64_t t0;             /* when the first step that can wait began */
    bool timed;              /* t0 is set */
    const aa__profile *prof; /* NULL: the agent has no profile */
    permit_kind permit;
    bool grant_disabled; /* a grant covers the action; delegation is off */
    bool failed_closed;  /* an approval condition could not be evaluated */
    bool ctx_ready;
    bool ireq_ready;
    aa__expr_ctx ctx;   /* what conditions read: made on first use */
    aa__index_req ireq; /* what the index reads: made on first use */
    aa__deleg_hit hit;
} run;

/* Starts the decision's timer, once: evaluation_time_ms is the time from
 * the first step that can take long (a read of the state store, the
 * embedding program's callbacks: user permissions, matchers, its clock) to
 * the decision. The steps before it only look at memory (the request,
 * the policy, a store's cache, conditions without matchers): they take
 * well under a microsecond, the 0.001 ms the audit log shows, and a
 * decision made by them alone reads no clock for it and reports 0. */
static void run_timer(run *r) {
    if (r->timed)
        return;
    r->t0 = aa__mono_ns();
    r->timed = true;
}

/* A `matches` in a condition: the embedding program's matcher, timed. */
static int run_matcher(void *ud, const char *name, const char *value,
                       bool *result) {
    run *r = ud;
    aa__matcher *m = aa__map_get(&r->e->matcher_by_name, name, strlen(name));
    if (!m)
        return AA_ENOTFOUND;
    run_timer(r);
    int res = 0;
    int rc = m->fn(m->userdata, value, &res);
    *result = res != 0;
    return rc;
}

/* The time that expiry is decided against, read once per decision. The
 * system clock is not a step that waits (the timer does not start for it);
 * an embedding program's clock is a callback, and is timed. */
static int64_t run_now(run *r) {
    if (!r->now) {
        if (r->e->clock)
            run_timer(r);
        r->now = aa__engine_now(r->e);
    }
    return r->now;
}

/* The request as conditions see it (contract section 6): every built-in
 * field from the request itself, never from metadata. */
static const aa__expr_ctx *run_ctx(run *r) {
    if (r->ctx_ready)
        return &r->ctx;
    aa__expr_ctx *c = &r->ctx; /* every member is set below */
    const aa_request *q = r->req;
    c->fields[AA__F_AGENT] = q->agent;
    c->field_len[AA__F_AGENT] = r->agent_len;
    const size_t *len = r->txt.len;
    set_field(c, AA__F_USER, q->user, len[AA__RT_USER]);
    c->fields[AA__F_ACTION] = r->action;
    c->field_len[AA__F_ACTION] = r->alen;
    set_field(c, AA__F_RESOURCE, q->resource, len[AA__RT_RESOURCE]);
    set_field(c, AA__F_SCOPE, q->scope, len[AA__RT_SCOPE]);
    set_field(c, AA__F_TARGET_AGENT, q->target_agent, len[AA__RT_TARGET_AGENT]);
    set_field(c, AA__F_SESSION_ID, q->session_id, len[AA__RT_SESSION_ID]);
    c->fields[AA__F_FROM_AGENT] = c->fields[AA__F_AGENT];
    c->field_len[AA__F_FROM_AGENT] = c->field_len[AA__F_AGENT];
    c->fields[AA__F_TO_AGENT] = c->fields[AA__F_TARGET_AGENT];
    c->field_len[AA__F_TO_AGENT] = c->field_len[AA__F_TARGET_AGENT];
    c->meta = q->metadata;
    c->nmeta = q->metadata ? q->metadata_count : 0;
    c->matcher = run_matcher;
    c->matcher_ud = r;
    r->ctx_ready = true;
    return c;
}

/* The request as the index reads it: fields are filled in as needed. */
static aa__index_req *run_ireq(run *r) {
    if (r->ireq_ready)
        return &r->ireq;
    aa__index_req *x = &r->ireq;
    x->req = r->req;
    x->fields[AA__F_ACTION] = r->action;
    x->field_len[AA__F_ACTION] = r->alen;
    x->fields[AA__F_AGENT] = x->fields[AA__F_FROM_AGENT] = r->req->agent;
    x->field_len[AA__F_AGENT] = x->field_len[AA__F_FROM_AGENT] = r->agent_len;
    x->hash[AA__F_ACTION] = r->ahash;
    x->hash[AA__F_AGENT] = x->hash[AA__F_FROM_AGENT] = r->agent_hash;
    x->have = x->hashed =
        1u << AA__F_ACTION | 1u << AA__F_AGENT | 1u << AA__F_FROM_AGENT;
    r->ireq_ready = true;
    return x;
}

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

/* Copies n bytes, reading only src[0, n): the pieces of reasons are
 * short, and a call to memcpy for each cost more than the copy. */
static inline void copy_short(char *dst, const char *src, size_t n) {
    if (n >= 8 && n <= 16) {
        uint64_t a, b;
        memcpy(&a, src, 8);
        memcpy(&b, src + n - 8, 8);
        memcpy(dst, &a, 8);
        memcpy(dst + n - 8, &b, 8);
    } else if (n >= 4 && n < 8) {
        uint32_t a, b;
        memcpy(&a, src, 4);
        memcpy(&b, src + n - 4, 4);
        memcpy(dst, &a, 4);
        memcpy(dst + n - 4, &b, 4);
    } else if (n < 4) {
        for (size_t i = 0; i < n; i++)
            dst[i] = src[i];
    } else {
        memcpy(dst, src, n);
    }
}

/* Appends the strings parts[0, n) (n <= 8) to b: one reservation, one copy
 * each (the hot reasons avoid printf and repeated length checks). */
static inline void reason_cat(aa__buf *b, const char *const *parts, size_t n) {
    size_t len[8], total = 0;
    for (size_t i = 0; i < n; i++)
        total += len[i] = strlen(parts[i]);
    if (!aa__buf_reserve(b, total))
        return;
    char *p = b->data + b->len;
    for (size_t i = 0; i < n; i++) {
        copy_short(p, parts[i], len[i]);
        p += len[i];
    }
    b->len += total;
    b->data[b->len] = 0;
}
#define REASON_CAT(b, ...)                                                     \
    reason_cat((b), (const char *const[]){__VA_ARGS__},                        \
               sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *))
#define DENY(d, ...)                                                           \
    do {                                                                       \
        deny_reset(d);                                                         \
        REASON_CAT(&(d)->reason, __VA_ARGS__);                                 \
    } while (0)

/* A trace line; the arguments are not even evaluated without explain. */
#define step(d, ...)                                                           \
    do {                                                                       \
        if ((d)->explain)                                                      \
            trace_line((d), __VA_ARGS__);                                      \
    } while (0)
static void trace_line(aa_decision *d, const char *name, int outcome,
                       const char *fmt, ...) AA__PRINTF(4, 5);
static void trace_line(aa_decision *d, const char *name, int outcome,
                       const char *fmt, ...) {
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
    aa__origin o = aa__effective_origin(hit);
    if (o.role < 0)
        aa__buf_printf(b, "'%s' in the allow list of profile '%s'",
                       hit->pat.text, prof->name);
    else
        aa__buf_printf(b, "'%s' from role '%s'%s", hit->pat.text,
                       p->roles[o.role].name,
                       o.role == prof->role ? "" : " (inherited)");
    if (o.role >= 0 && o.role != prof->role) {
        aa__buf_puts(b, " via ");
        for (int r = prof->role; r >= 0; r = p->roles[r].parent) {
            aa__buf_printf(b, "%s%s", r == prof->role ? "" : " -> ",
                           p->roles[r].name);
            if (r == o.role)
                break;
        }
    }
}

/* Why the store failed (rc): what the store says its last failure was
 * (it names the database without its password), else the status text. */
static void store_failure(aa_engine *e, int rc, char *buf, size_t size) {
    buf[0] = 0;
    if (e->store->ops->last_failure)
        e->store->ops->last_failure(e->store, buf, size);
    if (!buf[0])
        snprintf(buf, size, "%s", aa_strerror(rc));
}

/* 1. Session (only with a session_id): live, same agent, same user, and
 * a request scope inside the session scope. */
static bool step_session(run *r) {
    aa_engine *e = r->e;
    const aa_request *req = r->req;
    aa_decision *d = r->d;
    if (aa__empty(req->session_id))
        return true;
    if (!e->store) {
        deny(d, "Invalid or expired session: '%s' (no state store)",
             req->session_id);
        step(d, "session", -1, "no state store is open to look up '%s'",
             req->session_id);
        return false;
    }
    aa_session s;
    size_t slen[3];  /* of s.agent, s.user, s.scope */
    char sbuf[1024]; /* the session's strings, when the store can */
    bool owned = false;
    void *held = NULL; /* the cache's lock, while s points into it */
    const aa__store_ops *ops = e->store->ops;
    aa__cache *cache = ops->read_cache ? ops->read_cache(e->store) : NULL;
    size_t idlen = r->txt.len[AA__RT_SESSION_ID];
    uint64_t h =
        cache ? aa__cache_session_prefetch(cache, req->session_id, idlen) : 0;
    int64_t now = run_now(r);
    int rc;
    /* Answered from memory, or read from the store (timed). */
    if (!cache || !aa__cache_session_view(cache, req->session_id, idlen, h, now,
                                          &s, slen, &rc, &held)) {
        run_timer(r);
        memset(&s, 0, sizeof s);
        rc = ops->session_get_into
                 ? ops->session_get_into(e->store, req->session_id, now, &s,
                                         sbuf, sizeof sbuf, NULL)
                 : AA_ELIMIT;
        if (rc == AA_ELIMIT) {
            memset(&s, 0, sizeof s);
            rc = ops->session_get(e->store, req->session_id, now, &s, NULL);
            owned = true;
        }
        if (rc == AA_OK) {
            slen[0] = s.agent ? strlen(s.agent) : 0;
            slen[1] = s.user ? strlen(s.user) : 0;
            slen[2] = s.scope ? strlen(s.scope) : 0;
        }
    }
    if (rc != AA_OK || s.status != AA_GRANT_ACTIVE) {
        if (rc == AA_OK || rc == AA_ENOTFOUND) {
            deny(d, "Invalid or expired session: '%s'", req->session_id);
        } else {
            char why[512];
            store_failure(e, rc, why, sizeof why);
            deny(d,
                 "State store unavailable: session '%s' could not be read: %s",
                 req->session_id, why);
        }
        step(d, "session", -1, "session '%s' is %s", req->session_id,
             rc == AA_OK          ? aa_grant_status_name(s.status)
             : rc == AA_ENOTFOUND ? "unknown"
                                  : "unreadable");
        aa__cache_release(held);
        if (owned)
            aa_session_clear(&s);
        return false;
    }
    bool ok = false;
    size_t ulen = r->txt.len[AA__RT_USER];
    if (slen[0] != r->agent_len || !aa__mem_eq(s.agent, req->agent, slen[0])) {
        deny(d,
             "Session agent mismatch: session is for agent '%s', request is "
             "from agent '%s'",
             s.agent, req->agent);
    } else if (slen[1] &&
               (slen[1] != ulen || !aa__mem_eq(s.user, req->user, ulen))) {
        deny(d,
             "Session user mismatch: session is for user '%s', request is for "
             "user '%s'",
             s.user, req->user);
    } else if (slen[2] && r->txt.len[AA__RT_SCOPE] &&
               !aa__glob_match(s.scope, slen[2], req->scope,
                               r->txt.len[AA__RT_SCOPE])) {
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
    aa__cache_release(held);
    if (owned)
        aa_session_clear(&s);
    return ok;
}

/* 2. Profile lookup by agent name. */
static bool step_profile(run *r) {
    const aa_request *req = r->req;
    const aa_policy *p = r->p;
    r->prof = aa__map_get_h(&p->profile_by_name, req->agent, r->agent_len,
                            r->agent_hash);
    const aa__profile *prof = r->prof;
    if (prof)
        step(r->d, "profile", 1, "agent '%s' has profile '%s'%s%s%s",
             req->agent, prof->name, prof->role >= 0 ? " with role '" : "",
             prof->role >= 0 ? p->roles[prof->role].name : "",
             prof->role >= 0 ? "'" : "");
    else
        step(r->d, "profile", 0,
             "agent '%s' has no profile: the profile allows nothing",
             req->agent);
    return true;
}

/* 3. Profile deny: deny always wins. */
static bool step_deny(run *r) {
    const aa__profile *prof = r->prof;
    if (!prof)
        return true;
    const aa__patset_entry *hit =
        aa__patset_match_h(&prof->denied, r->action, r->alen, r->ahash);
    if (hit) {
        DENY(r->d, "Action '", r->action, "' denied by profile '", prof->name,
             "'");
        step(r->d, "deny", -1,
             "'%s' matches '%s' in the deny list of profile '%s'", r->action,
             hit->pat.text, prof->name);
        return false;
    }
    if (prof->deny.count)
        step(r->d, "deny", 1,
             "no pattern in the deny list of profile '%s' matches '%s'",
             prof->name, r->action);
    return true;
}

/* 3. Scope: inside the profile's scopes; required with require_scope. */
static bool step_scope(run *r) {
    const aa__profile *prof = r->prof;
    const char *scope = r->req->scope;
    if (!prof)
        return true;
    if (aa__empty(scope)) {
        if (!prof->require_scope)
            return true;
        DENY(r->d, "Scope required by profile '", prof->name,
             "': the request has no scope");
        step(r->d, "scope", -1,
             "profile '%s' has require_scope: true and the request names no "
             "scope",
             prof->name);
        return false;
    }
    if (!prof->scopeset.count)
        return true;
    const aa__patset_entry *hit =
        aa__patset_match(&prof->scopeset, scope, r->txt.len[AA__RT_SCOPE]);
    if (!hit) {
        DENY(r->d, "Scope '", scope, "' not allowed by profile '", prof->name,
             "'");
        step(r->d, "scope", -1,
             "'%s' matches none of the scopes of profile '%s'", scope,
             prof->name);
        return false;
    }
    step(r->d, "scope", 1, "'%s' matches scope '%s' of profile '%s'", scope,
         hit->pat.text, prof->name);
    return true;
}

static const char *const meta_type_names[] = {"a string", "a number",
                                              "true or false", "a list"};

/* "a string", "null"... for what a metadata value is. */
static const char *meta_kind(const aa_meta *m) {
    switch (m->type) {
    case AA_VALUE_STRING:
        return m->string ? "a string" : "null";
    case AA_VALUE_NUMBER:
        return "a number";
    case AA_VALUE_BOOL:
        return "a boolean";
    case AA_VALUE_LIST:
        return "a list";
    default:
        return "null";
    }
}

static bool meta_is(const aa_meta *m, aa__meta_type t) {
    switch (t) {
    case AA__MT_STRING:
        return m->type == AA_VALUE_STRING && m->string;
    case AA__MT_NUMBER:
        return m->type == AA_VALUE_NUMBER;
    case AA__MT_BOOL:
        return m->type == AA_VALUE_BOOL;
    default:
        return m->type == AA_VALUE_LIST;
    }
}

static bool meta_present(const aa_request *q, const char *key) {
    for (size_t i = 0; q->metadata && i < q->metadata_count; i++)
        if (q->metadata[i].key && strcmp(q->metadata[i].key, key) == 0)
            return true;
    return false;
}

/* 3b. The policy's request_metadata declarations: a declared key has its
 * type, and a key required for the action is there. */
static bool step_request_metadata(run *r) {
    const aa_policy *p = r->p;
    const aa_request *q = r->req;
    if (!p->nmeta_decls)
        return true;
    for (size_t i = 0; q->metadata && i < q->metadata_count; i++) {
        const aa_meta *m = &q->metadata[i];
        const aa__meta_decl *dc =
            m->key ? aa__map_get(&p->meta_decl_by_key, m->key, strlen(m->key))
                   : NULL;
        if (!dc || meta_is(m, dc->type))
            continue;
        deny(r->d, "Metadata '%s' must be %s, not %s (request_metadata)",
             m->key, meta_type_names[dc->type], meta_kind(m));
        step(r->d, "metadata", -1, "%s", aa_decision_reason(r->d));
        return false;
    }
    for (size_t k = 0; p->meta_required && k < p->nmeta_decls; k++) {
        const aa__meta_decl *dc = &p->meta_decls[k];
        const aa__patset_entry *hit =
            dc->required.count ? aa__patset_match_h(&dc->required, r->action,
                                                    r->alen, r->ahash)
                               : NULL;
        if (!hit || meta_present(q, dc->key))
            continue;
        deny(r->d,
             "Metadata '%s' is required for action '%s' (request_metadata)",
             dc->key, r->action);
        step(r->d, "metadata", -1,
             "'%s' matches '%s' in required_for of metadata '%s', which the "
             "request does not carry",
             r->action, hit->pat.text, dc->key);
        return false;
    }
    step(r->d, "metadata", 1,
         "the request's metadata meets the %zu declaration%s of "
         "request_metadata",
         p->nmeta_decls, p->nmeta_decls == 1 ? "" : "s");
    return true;
}

/* 4. Profile allow: the role chain's actions and the allow list. */
static bool step_allow(run *r) {
    const aa__profile *prof = r->prof;
    if (!prof)
        return true;
    const aa__patset_entry *hit =
        aa__effective_match(prof, r->action, r->alen, r->ahash);
    if (!hit) {
        step(r->d, "allow", 0,
             "no allowed pattern of profile '%s' matches '%s'", prof->name,
             r->action);
        return true;
    }
    r->permit = PERMIT_PROFILE;
    aa__buf *b = aa__decision_step(r->d, "allow", 1);
    if (b) {
        aa__buf_printf(b, "'%s' is allowed by ", r->action);
        describe_origin(b, r->p, prof, hit);
    }
    return true;
}

/* 5. Delegation: a live grant from the request's user to this agent; none
 * counts while delegation is disabled. */
static bool step_delegation(run *r) {
    aa_engine *e = r->e;
    const aa_request *req = r->req;
    if (r->permit || !e->store)
        return true;
    const aa__store_ops *ops = e->store->ops;
    aa__cache *cache = ops->read_cache ? ops->read_cache(e->store) : NULL;
    aa__cache_pair pair;
    if (cache && !aa__cache_deleg_prefetch(
                     cache, req->agent, r->agent_len, r->agent_hash, req->user,
                     r->txt.len[AA__RT_USER], r->txt.user_hash, &pair))
        cache = NULL;
    int64_t now = run_now(r);
    int rc;
    /* Answered from memory, or read from the store (timed). */
    if (!cache || !aa__cache_deleg_answer(cache, &pair, r->action, r->alen, now,
                                          &r->hit, &rc)) {
        run_timer(r);
        rc = ops->delegation_find(e->store, req->agent, req->user, r->action,
                                  now, &r->hit, NULL);
    }
    if (cache)
        aa__cache_pair_done(&pair);
    if (rc == AA_OK && !r->p->delegation.enabled) {
        r->grant_disabled = true;
        step(r->d, "delegation", 0,
             "delegation '%s' from user '%s' covers '%s' (pattern '%s'), but "
             "delegation is disabled (delegation.enabled: false): no grant "
             "permits anything",
             r->hit.delegation_id, req->user, r->action, r->hit.pattern);
    } else if (rc == AA_OK) {
        r->permit = PERMIT_DELEGATION;
        step(r->d, "delegation", 1,
             "delegation '%s' from user '%s' grants '%s' (pattern '%s')",
             r->hit.delegation_id, req->user, r->action, r->hit.pattern);
    } else if (rc == AA_ENOTFOUND) {
        step(r->d, "delegation", 0,
             "no live delegation from user '%s' to agent '%s' covers '%s'",
             req->user, req->agent, r->action);
    } else { /* fail closed: a grant may exist that cannot be seen */
        char why[512];
        store_failure(e, rc, why, sizeof why);
        step(r->d, "delegation", -1,
             "delegations from user '%s' to agent '%s' could not be read for "
             "'%s'",
             req->user, req->agent, r->action);
        deny(r->d,
             "State store unavailable: delegations from user '%s' to agent "
             "'%s' could not be read: %s",
             req->user, req->agent, why);
        return false;
    }
    return true;
}

/* 6. User permissions: the embedding program's callback. */
static bool step_user_permissions(run *r) {
    aa_engine *e = r->e;
    if (r->permit || !e->user_permission)
        return true;
    run_timer(r);
    if (e->user_permission(e->user_permission_userdata, r->req->user,
                           r->action)) {
        r->permit = PERMIT_USER;
        step(r->d, "user_permissions", 1, "user '%s' holds '%s'", r->req->user,
             r->action);
    } else {
        step(r->d, "user_permissions", 0, "user '%s' does not hold '%s'",
             r->req->user, r->action);
    }
    return true;
}

/* Whether A2A policy a, whose patterns match the call, matches by its
 * condition too, writing its trace line. Fails closed: a deny policy
 * whose condition cannot be evaluated counts, an allow policy does not;
 * *rc says whether the condition could be evaluated. */
static bool a2a_condition(run *r, const aa__a2a *a, int *rc,
                          aa__expr_error *xerr) {
    const aa_request *req = r->req;
    aa_decision *d = r->d;
    bool matched = true;
    aa__buf *b = NULL;
    *rc = AA_OK;
    if (!aa__expr_is_empty(a->cond)) {
        if (d->explain) {
            b = aa__decision_step(d, "a2a", 0);
            if (b)
                aa__buf_printf(b, "policy '%s' (%s): ", a->name,
                               a->allow ? "allow" : "deny");
            *rc = aa__expr_explain(a->cond, run_ctx(r), &matched, xerr, b);
        } else {
            *rc = aa__expr_eval(a->cond, run_ctx(r), &matched, xerr);
        }
        if (*rc != AA_OK)
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
    return matched;
}

/* 7. Agent-to-agent (only with a target_agent), section 8: a matching deny
 * policy denies, else a matching allow or the default decides whether the
 * call may go on (an allow does not permit the action by itself). */
static bool step_a2a(run *r) {
    const aa_request *req = r->req;
    if (aa__empty(req->target_agent))
        return true;
    const aa_policy *p = r->p;
    aa_decision *d = r->d;
    size_t tlen = r->txt.len[AA__RT_TARGET_AGENT], flen = r->agent_len;
    aa__index_req *x = run_ireq(r);
    x->fields[AA__F_TARGET_AGENT] = x->fields[AA__F_TO_AGENT] =
        req->target_agent;
    x->field_len[AA__F_TARGET_AGENT] = x->field_len[AA__F_TO_AGENT] = tlen;
    x->have |= 1u << AA__F_TARGET_AGENT | 1u << AA__F_TO_AGENT;
    aa__cands c = aa__cands_collect(&r->e->index.a2a, x, &d->scratch);
    bool allowed = false;
    int i;
    while ((i = aa__cands_next(&c)) >= 0) {
        const aa__a2a *a = &p->a2a.policies[i];
        if (!aa__pattern_match(&a->from_pat, req->agent, flen) ||
            !aa__pattern_match(&a->to_pat, req->target_agent, tlen) ||
            !aa__pattern_match(&a->action_pat, r->action, r->alen))
            continue;
        if (a->allow && allowed)
            continue; /* an earlier allow already stands; only denies matter */
        int rc;
        aa__expr_error xerr;
        if (!a2a_condition(r, a, &rc, &xerr))
            continue;
        if (a->allow) {
            allowed = true;
            continue;
        }
        const char *what = aa__empty(a->description) ? a->name : a->description;
        if (rc != AA_OK)
            deny(d,
                 "Denied by A2A policy: %s (condition could not be evaluated: "
                 "%s)",
                 what, xerr.message);
        else
            DENY(d, "Denied by A2A policy: ", what);
        return false;
    }
    if (allowed)
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

/* 8. Not permitted by steps 4-6. */
static bool step_permitted(run *r) {
    if (r->permit)
        return true;
    if (r->grant_disabled)
        DENY(r->d, "Action '", r->action, "' not authorized for agent '",
             r->req->agent, "' (delegation '", r->hit.delegation_id,
             "' does not count: delegation is disabled)");
    else
        DENY(r->d, "Action '", r->action, "' not authorized for agent '",
             r->req->agent, "'");
    step(r->d, "result", -1, "nothing permits '%s' for agent '%s'", r->action,
         r->req->agent);
    return false;
}

/* For the trace: how many approval policies the index skipped. */
static void trace_skipped(run *r, const aa__cands *c) {
    size_t skipped = r->p->napprovals - aa__cands_count(c);
    if (skipped)
        step(r->d, "approval", 0,
             "%zu approval polic%s about other requests skipped (indexed by "
             "what their conditions test)",
             skipped, skipped == 1 ? "y" : "ies");
}

/* Whether approval policy ap matches, writing its trace line. Fails
 * closed: a condition that cannot be evaluated counts as matched (and
 * sets *failed). */
static bool approval_matches(run *r, const aa__approval *ap,
                             const aa__expr_ctx *ctx, bool *failed) {
    bool matched = false;
    aa__expr_error xerr;
    int rc;
    aa__buf *b = aa__decision_step(r->d, "approval", 0);
    if (b) {
        aa__buf_printf(b, "policy '%s' (%s): ", ap->name,
                       aa_tier_name(ap->tier));
        rc = aa__expr_explain(ap->cond, ctx, &matched, &xerr, b);
    } else {
        rc = aa__expr_eval(ap->cond, ctx, &matched, &xerr);
    }
    *failed = rc != AA_OK;
    if (*failed) {
        matched = true;
        if (b) /* the explanation already says what failed */
            aa__buf_puts(b, "; fails closed: counts as matched");
    }
    if (b)
        r->d->steps[r->d->nsteps - 1].outcome = matched;
    return matched;
}

/* 9. The approval tier (section 7): the profile's default, raised by
 * every matching approval policy; the first policy in file order with the
 * winning tier names it. */
static void approval_tier(run *r) {
    const aa_policy *p = r->p;
    const aa__profile *prof = r->prof;
    aa_decision *d = r->d;
    const aa__expr_ctx *ctx = NULL; /* made only when a policy applies */
    aa_tier tier = prof ? prof->default_tier : AA_TIER_AUTONOMOUS;
    const char *by = "";
    if (prof && tier != AA_TIER_AUTONOMOUS)
        step(d, "approval", 1, "profile '%s' starts at tier %s", prof->name,
             aa_tier_name(tier));
    aa__cands c =
        aa__cands_collect(&r->e->index.approvals, run_ireq(r), &d->scratch);
    if (d->explain)
        trace_skipped(r, &c);
    int i = aa__cands_next(&c);
    if (i >= 0)
        ctx = run_ctx(r);
    for (; i >= 0; i = aa__cands_next(&c)) {
        /* Settled: nothing later can change tier or name. Without explain
         * the loop stops here; with it, the rest is evaluated for the trace
         * only and must not change the decision (its reason included). */
        bool settled = tier == AA_TIER_STRONG && *by;
        if (settled && !d->explain)
            break;
        const aa__approval *ap = &p->approvals[i];
        bool failed;
        if (!approval_matches(r, ap, ctx, &failed))
            continue;
        r->failed_closed |= failed && !settled;
        if (ap->tier > tier || (ap->tier == tier && !*by)) {
            tier = ap->tier;
            by = ap->name;
        }
    }
    d->tier = tier;
    d->requires_approval = tier != AA_TIER_AUTONOMOUS;
    d->approval_policy = by;
}

static void step_approval(run *r) {
    aa_decision *d = r->d;
    const aa_request *req = r->req;
    approval_tier(r);
    d->allowed = true;
    aa__buf_reset(&d->reason);
    switch (r->permit) {
    case PERMIT_DELEGATION:
        REASON_CAT(&d->reason, "Delegated by user '", req->user, "'");
        break;
    case PERMIT_PROFILE:
        REASON_CAT(&d->reason, "Allowed by profile '", r->prof->name, "'");
        break;
    default:
        aa__buf_puts(&d->reason, "Allowed by user permissions");
        break;
    }
    if (d->requires_approval)
        REASON_CAT(&d->reason, " (requires ", aa_tier_name(d->tier),
                   " approval)");
    if (r->failed_closed)
        aa__buf_puts(&d->reason, "; an approval condition could not be "
                                 "evaluated and was counted as matched");
    step(d, "result", 1, "allowed, tier %s%s%s", aa_tier_name(d->tier),
         *d->approval_policy ? " set by approval policy " : "",
         d->approval_policy);
}

/* Contract section 5, in order; the first step that denies decides. */
static void decide(run *r) {
    if (!step_session(r) ||          /* 1 */
        !step_profile(r) ||          /* 2 */
        !step_deny(r) ||             /* 3 */
        !step_scope(r) ||            /* 3 */
        !step_request_metadata(r) || /* request_metadata declarations */
        !step_allow(r) ||            /* 4 */
        !step_delegation(r) ||       /* 5 */
        !step_user_permissions(r) || /* 6 */
        !step_a2a(r) ||              /* 7 */
        !step_permitted(r))          /* 8 */
        return;
    step_approval(r); /* 9 */
}

/* ---- around the pipeline ------------------------------------------------- */

/* Metadata values are scalars or lists of scalars (contract section 1). */
static const char *bad_metadata(const aa_request *req) {
    for (size_t i = 0; req->metadata && i < req->metadata_count; i++) {
        const aa_meta *m = &req->metadata[i];
        if (m->type < AA_VALUE_NULL || m->type > AA_VALUE_LIST)
            return m->key ? m->key : "";
        if (m->type != AA_VALUE_LIST)
            continue;
        if (m->count && !m->items)
            return m->key ? m->key : "";
        for (size_t k = 0; k < m->count; k++)
            if (m->items[k].type < AA_VALUE_NULL ||
                m->items[k].type >= AA_VALUE_LIST)
                return m->key ? m->key : "";
    }
    return NULL;
}

/* The request's own shape: AA_OK, or AA_EINVAL with the decision denied. */
static int check_request(const aa_engine *e, const aa_request *req,
                         aa_decision *d, aa__req_text *t) {
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
        return AA_EINVAL;
    }
    char field[96]; /* text that is not UTF-8 is an input error */
    const char *bad = aa__request_check(req, field, t);
    if (bad) {
        deny(d, "Invalid request: %s is not valid UTF-8", bad);
        return AA_EINVAL;
    }
    const char *key = bad_metadata(req);
    if (key) {
        deny(d,
             "Invalid request: metadata '%s' must be a string, number, "
             "boolean, null or a list of those",
             key);
        return AA_EINVAL;
    }
    return AA_OK;
}

/* ---- the audit step -------------------------------------------------------
 * Every decision is audited; without its line it does not stand. The line
 * is built by the deciding thread (in the decision's own buffer), then
 * group-committed (audit.c): concurrent deciders, and the decisions of one
 * aa_authorize_many call, share one lock and one write. */

/* The decision could not be audited: with on_failure deny it is denied. */
static void audit_failed(const aa_engine *e, aa_decision *d, const char *why) {
    if (e->audit_on_failure_allow) {
        step(d, "audit", 0, "audit line not written (on_failure: allow)");
        return;
    }
    bool was_allowed = d->allowed;
    deny(d, "Audit log unavailable: %s (the decision would have been: %s)", why,
         was_allowed ? "allowed" : "denied");
    step(d, "audit", -1, "%s", aa_decision_reason(d));
}

static const char *first_message(const aa_error *err, int rc) {
    const aa_diag *dg = aa_error_get(err, 0);
    return dg ? dg->message : aa_strerror(rc);
}

/* Builds the decision's line into d->audit_line: AA_OK, or the failure
 * (with err saying why). `end_ns` is the CLOCK_MONOTONIC reading that ended
 * the evaluation: the line's timestamp is that moment (no other clock
 * read). */
static int audit_prepare(aa_engine *e, const aa_request *req, aa_decision *d,
                         uint64_t end_ns, aa_error *err) {
    if (!d->audit_line && !(d->audit_line = aa__audit_line_new()))
        return aa__fail(err, AA_EAUDIT, "audit log: out of memory");
    const aa_policy *p = e->policy;
    aa__audit_decision ad = {
        .req = req,
        .allowed = d->allowed,
        .tier = d->tier,
        .reason = aa_decision_reason(d),
        .requires_approval = d->requires_approval,
        .approval_policy = d->approval_policy,
        .evaluation_time_ms = d->time_ms,
        .time_us = aa__audit_wall_us(e->audit, end_ns),
        .config_name = p->name,
        .config_version = p->version,
        .policy = p,
    };
    return aa__audit_prepare_decision(e->audit, &ad, d->audit_line, err);
}

static void audit_decision(aa_engine *e, const aa_request *req, aa_decision *d,
                           uint64_t end_ns) {
    if (e->audit) {
        aa_error *aerr = aa_error_new();
        int rc = audit_prepare(e, req, d, end_ns, aerr);
        if (rc == AA_OK && d->audit_batch) /* aa_authorize_many commits */
            d->audit_pending = true;
        else if (rc == AA_OK)
            rc = aa__audit_commit(e->audit, &d->audit_line, 1, NULL, aerr);
        if (rc != AA_OK)
            audit_failed(e, d, first_message(aerr, rc));
        aa_error_free(aerr);
    } else if (e->audit_broken) {
        audit_failed(e, d, e->audit_broken);
    }
}

/* Up to this many lines of one aa_authorize_many call per commit. */
#define MANY_GROUP 256

int aa_authorize_many(aa_engine *e, const aa_request *reqs, size_t n,
                      aa_decision *const *ds) {
    if (!e || (n && (!reqs || !ds)))
        return AA_EINVAL;
    /* Every decision must be there and distinct: one object given for two
     * requests would have its line chained twice from one buffer (breaking
     * the chain) and answer for only one of them. audit_batch marks the
     * objects seen; then nothing is decided, and each gets a denial. */
    const char *bad = NULL;
    size_t seen = 0;
    for (; seen < n && !bad; seen++) {
        if (!ds[seen])
            bad = "is NULL";
        else if (ds[seen]->audit_batch)
            bad = "repeats an earlier decision object";
        else
            ds[seen]->audit_batch = true;
    }
    for (size_t k = 0; k < seen; k++)
        if (ds[k])
            ds[k]->audit_batch = false;
    if (bad) {
        for (size_t k = 0; k < n; k++) {
            if (!ds[k])
                continue;
            aa__decision_reset(ds[k]);
            deny(ds[k], "Invalid request: decisions[%zu] %s", seen - 1, bad);
        }
        return AA_EINVAL;
    }
    int result = AA_OK;
    for (size_t at = 0; at < n; at += MANY_GROUP) {
        size_t m = n - at < MANY_GROUP ? n - at : MANY_GROUP;
        aa__audit_line *lines[MANY_GROUP];
        aa_decision *owner[MANY_GROUP];
        size_t nl = 0;
        for (size_t i = at; i < at + m; i++) {
            aa_decision *d = ds[i];
            d->audit_batch = true;
            d->audit_pending = false;
            if (aa_authorize(e, &reqs[i], d) != AA_OK)
                result = AA_EINVAL;
            d->audit_batch = false;
            if (d->audit_pending) {
                lines[nl] = d->audit_line;
                owner[nl++] = d;
            }
        }
        if (nl == 0)
            continue;
        aa_error *aerr = aa_error_new();
        size_t written = 0;
        int rc = aa__audit_commit(e->audit, lines, nl, &written, aerr);
        for (size_t k = rc == AA_OK ? nl : written; k < nl; k++)
            audit_failed(e, owner[k], first_message(aerr, rc));
        for (size_t k = 0; k < nl; k++)
            owner[k]->audit_pending = false;
        aa_error_free(aerr);
    }
    return result;
}

int aa_authorize(aa_engine *e, const aa_request *req, aa_decision *d) {
    aa__decision_reset(d); /* time_ms 0: see run_timer */
    run r;
    int rc = check_request(e, req, d, &r.txt);
    if (rc != AA_OK)
        return rc;
    r.e = e;
    r.p = e->policy;
    r.req = req;
    r.d = d;
    r.action = req->action;
    r.alen = r.txt.len[AA__RT_ACTION];
    r.ahash = r.txt.action_hash;
    r.agent_len = r.txt.len[AA__RT_AGENT];
    r.agent_hash = r.txt.agent_hash;
    r.now = 0;
    r.timed = false;
    r.prof = NULL;
    r.permit = PERMIT_NONE;
    r.grant_disabled = false;
    r.failed_closed = false;
    r.ctx_ready = false;
    r.ireq_ready = false;
    decide(&r);
    /* One clock read: the evaluation's end (when a step that can wait
     * started the timer) is also the audit line's time. */
    uint64_t t1 = (r.timed || e->audit) ? aa__mono_ns() : 0;
    if (r.timed)
        d->time_ms = (double)(t1 - r.t0) / 1e6;
    audit_decision(e, req, d, t1);
    return AA_OK;
}

void aa_engine_options_init(aa_engine_options *opts) {
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->size = sizeof *opts;
}
