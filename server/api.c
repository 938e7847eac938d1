/*
 * api.c - the HTTP API of `agent-auth serve`: one request in, one response
 * out (docs/server.md). No sockets here: serve.c feeds it from
 * libmicrohttpd, fuzz/fuzz_server_request.c feeds it directly.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cli.h"
#include "server.h"

/* ---- responses ----------------------------------------------------------- */

/* Sets a JSON response (steals v). */
static void reply(srv_http_resp *o, int status, json_t *v) {
    o->status = status;
    o->content_type = "application/json";
    free(o->body);
    o->body = v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                    JSON_REAL_PRECISION(6))
                : NULL;
    json_decref(v);
    if (!o->body) {
        o->status = 500;
        o->body = strdup("{\"error\":\"out of memory\"}");
    }
    o->len = o->body ? strlen(o->body) : 0;
}

static void reply_error(srv_http_resp *o, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reply_error(srv_http_resp *o, int status, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *v = json_object();
    json_object_set_new(v, "error", cli_jstr(msg));
    reply(o, status, v);
}

/* The messages of err as a JSON array of strings: its errors, or with
 * warnings too; the message of a failed status rc when there are none. */
static json_t *diag_lines(const aa_error *err, bool warnings, int rc) {
    json_t *a = json_array();
    for (size_t i = 0; i < aa_error_count(err); i++) {
        const aa_diag *d = aa_error_get(err, i);
        if (!warnings && d->severity != AA_SEVERITY_ERROR)
            continue;
        char line[1024];
        aa_diag_format(d, line, sizeof line);
        json_array_append_new(a, cli_jstr(line));
    }
    if (rc != AA_OK && json_array_size(a) == 0)
        json_array_append_new(a, cli_jstr(aa_strerror(rc)));
    return a;
}

/* 422 {error, reasons[]} from the messages of err (or the status). */
static void reply_refused(srv_http_resp *o, int status, const char *what,
                          int rc, const aa_error *err) {
    json_t *v = json_object();
    json_t *reasons = diag_lines(err, false, rc);
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s", what, aa_strerror(rc));
    json_object_set_new(v, "error", cli_jstr(msg));
    json_object_set_new(v, "reasons", reasons);
    reply(o, status, v);
}

/* The status for a failed library call: refusals and bad values are the
 * caller's (422); an unwritable audit log or store is the service's (503). */
static int status_of(int rc) {
    switch (rc) {
    case AA_EREFUSED:
    case AA_EINVAL:
    case AA_ELIMIT:
        return 422;
    case AA_EAUDIT:
    case AA_ESTATE:
    case AA_EIO:
    case AA_EBUSY:
        return 503;
    default:
        return 500;
    }
}

/* ---- reading JSON bodies ------------------------------------------------- */

static json_t *parse_body(const srv_http_req *r, srv_http_resp *o) {
    if (r->body_len == 0) {
        reply_error(o, 400,
                    "the request body is empty: a JSON value is "
                    "expected");
        return NULL;
    }
    json_error_t je;
    json_t *v = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!v)
        reply_error(o, 400, "invalid JSON at line %d, column %d: %s", je.line,
                    je.column, je.text);
    return v;
}

/* ---- a decision as JSON text, without building a jansson tree ------------ */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

/* Room for n more bytes and a NUL; false (and oom set) when there is none. */
static bool sb_reserve(sbuf *b, size_t n) {
    if (b->oom)
        return false;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return false;
        }
        b->p = np;
        b->cap = cap;
    }
    return true;
}

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (!sb_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_str(sbuf *b, const char *s) {
    sb_put(b, s, strlen(s));
}

/* s as a JSON string (the library's escaper: an invalid UTF-8 byte
 * becomes U+FFFD). */
static void sb_json_string(sbuf *b, const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (!sb_reserve(b, n + 2))
        return;
    size_t need = aa_json_quote(s, n, b->p + b->len, b->cap - b->len);
    if (need >= b->cap - b->len) { /* escapes made it longer */
        if (!sb_reserve(b, need))
            return;
        aa_json_quote(s, n, b->p + b->len, b->cap - b->len);
    }
    b->len += need;
}

/* The object of `check -o json` (cli_decision_json without the trace),
 * plus "id" when the request had one. */
static void sb_decision(sbuf *b, const aa_decision *d, const char *id,
                        size_t idlen) {
    sb_str(b, aa_decision_allowed(d) ? "{\"allowed\":true,\"tier\":"
                                     : "{\"allowed\":false,\"tier\":");
    sb_json_string(b, aa_tier_name(aa_decision_tier(d)));
    sb_str(b, ",\"reason\":");
    sb_json_string(b, aa_decision_reason(d));
    sb_str(b, aa_decision_requires_approval(d)
                  ? ",\"requires_approval\":true,\"approval_policy\":"
                  : ",\"requires_approval\":false,\"approval_policy\":");
    sb_json_string(b, aa_decision_approval_policy(d));
    char ms[48];
    double t = aa_decision_time_ms(d);
    unsigned long long us = t > 0 ? (unsigned long long)(t * 1000 + 0.5) : 0;
    int n = snprintf(ms, sizeof ms, ",\"evaluation_time_ms\":%llu.%03llu",
                     us / 1000, us % 1000);
    sb_put(b, ms, (size_t)n);
    if (id) {
        sb_str(b, ",\"id\":");
        sb_put(b, id, idlen);
    }
    sb_put(b, "}", 1);
}

/* Elements of an array body decided together (aa_authorize_many: their
 * audit lines go out with one lock and one write). */
#define SRV_GROUP 64

/* One reusable decision, request buffer and error list per thread: no
 * allocation per request. The group's are made on the thread's first
 * array body. */
typedef struct thread_ctx {
    aa_decision *d;
    aa_request_buf *buf;
    aa_error *err;
    bool group_ready;
    aa_decision *ds[SRV_GROUP];
    aa_request_buf *bufs[SRV_GROUP];
    aa_request reqs[SRV_GROUP];
} thread_ctx;

static pthread_key_t ctx_key;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static void ctx_free(void *p) {
    thread_ctx *c = p;
    aa_decision_free(c->d);
    aa_request_buf_free(c->buf);
    aa_error_free(c->err);
    for (size_t i = 0; i < SRV_GROUP; i++) {
        aa_decision_free(c->ds[i]);
        aa_request_buf_free(c->bufs[i]);
    }
    free(c);
}

/* The group's decisions and buffers: false when out of memory. */
static bool group_ready(thread_ctx *c) {
    for (size_t i = 0; !c->group_ready && i < SRV_GROUP; i++) {
        if (!c->ds[i] && !(c->ds[i] = aa_decision_new()))
            return false;
        if (!c->bufs[i] && !(c->bufs[i] = aa_request_buf_new()))
            return false;
    }
    c->group_ready = true;
    return true;
}
static void ctx_key_init(void) {
    pthread_key_create(&ctx_key, ctx_free);
}

static thread_ctx *thread_ctx_get(void) {
    pthread_once(&ctx_once, ctx_key_init);
    thread_ctx *c = pthread_getspecific(ctx_key);
    if (c)
        return c;
    c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->d = aa_decision_new();
    c->buf = aa_request_buf_new();
    c->err = aa_error_new();
    if (!c->d || !c->buf || !c->err || pthread_setspecific(ctx_key, c) != 0) {
        ctx_free(c);
        return NULL;
    }
    return c;
}

static aa_decision *thread_decision(void) {
    thread_ctx *c = thread_ctx_get();
    return c ? c->d : NULL;
}

/* ---- decisions ----------------------------------------------------------- */

static bool audit_failed(const aa_decision *d) {
    return strncmp(aa_decision_reason(d), "Audit log unavailable", 21) == 0;
}

static void account(srv *s, const srv_snap *snap, const aa_decision *d) {
    int i = !aa_decision_allowed(d)            ? 1
            : aa_decision_requires_approval(d) ? 2
                                               : 0;
    atomic_fetch_add_explicit(&s->m.decisions[i], 1, memory_order_relaxed);
    srv_metrics_observe(s, aa_decision_time_ms(d) / 1000.0);
    if (audit_failed(d)) {
        atomic_fetch_add(&s->m.audit_write_errors, 1);
        atomic_store(&s->audit_failing, true);
    } else if (aa_policy_audit_enabled(snap->policy) &&
               atomic_load_explicit(&s->audit_failing, memory_order_relaxed)) {
        atomic_store(&s->audit_failing, false);
    }
}

/* The first error in c->err as a 400 (a 500 when out of memory), with
 * "request N: " in front for an element of an array. */
static void reply_request_error(thread_ctx *c, int rc, bool many, size_t i,
                                srv_http_resp *o) {
    const char *msg = aa_error_count(c->err) ? aa_error_get(c->err, 0)->message
                                             : aa_strerror(rc);
    int status = rc == AA_ENOMEM ? 500 : 400;
    if (many)
        reply_error(o, status, "request %zu: %s", i, msg);
    else
        reply_error(o, status, "%s", msg);
}

/* Walks the body: the next request's text (AA_OK and *len 0 at the end).
 * A body that is one object is an "array" of that one request. */
static int next_request(const srv_http_req *r, bool many, size_t *pos,
                        size_t *off, size_t *len, aa_error *err) {
    if (many)
        return aa_json_array_next(r->body, r->body_len, pos, off, len, err);
    *off = 0;
    *len = *pos ? 0 : r->body_len;
    *pos = 1;
    return AA_OK;
}

/* An array body (already read once, so every element is valid): decided
 * SRV_GROUP elements at a time, answered as an array in order. */
static void decide_array(srv *s, const srv_http_req *r, thread_ctx *c,
                         srv_http_resp *o) {
    if (!group_ready(c)) {
        reply_error(o, 500, "out of memory");
        return;
    }
    srv_snap *snap = srv_snap_get(s);
    sbuf b = {0};
    sb_put(&b, "[", 1);
    size_t pos = 0, off, len, done = 0;
    for (bool end = false; !end;) {
        size_t m = 0;
        for (; m < SRV_GROUP; m++) {
            if (next_request(r, true, &pos, &off, &len, NULL) != AA_OK ||
                len == 0 ||
                aa_request_from_json(r->body + off, len, c->bufs[m],
                                     &c->reqs[m], NULL) != AA_OK) {
                end = true; /* the first pass read them all */
                break;
            }
        }
        if (m == 0)
            break;
        aa_authorize_many(snap->engine, c->reqs, m, c->ds);
        for (size_t k = 0; k < m; k++, done++) {
            account(s, snap, c->ds[k]);
            size_t idlen;
            const char *id = aa_request_buf_id(c->bufs[k], &idlen);
            if (done)
                sb_put(&b, ",", 1);
            sb_decision(&b, c->ds[k], id, idlen);
        }
    }
    sb_put(&b, "]", 1);
    srv_snap_put(snap);
    if (b.oom) {
        free(b.p);
        reply_error(o, 500, "out of memory");
        return;
    }
    o->status = 200;
    o->content_type = "application/json";
    o->body = b.p;
    o->len = b.len;
}

static void do_authorize(srv *s, const srv_http_req *r, srv_http_resp *o,
                         bool explain) {
    if (r->body_len == 0) {
        reply_error(o, 400,
                    "the request body is empty: a JSON value is "
                    "expected");
        return;
    }
    size_t k = 0;
    while (k < r->body_len && (r->body[k] == ' ' || r->body[k] == '\t' ||
                               r->body[k] == '\r' || r->body[k] == '\n'))
        k++;
    bool many = k < r->body_len && r->body[k] == '[';
    if (many && explain) {
        reply_error(o, 400, "explain takes one request object, not an array");
        return;
    }
    thread_ctx *c = thread_ctx_get();
    if (!c) {
        reply_error(o, 500, "out of memory");
        return;
    }
    aa_request req;
    size_t pos = 0, off, len, i;
    int rc;
    /* Read every request before deciding any: a bad one changes nothing.
     * The buffer holds one request, so the decisions read them again. */
    for (i = 0;; i++) {
        aa_error_clear(c->err);
        rc = next_request(r, many, &pos, &off, &len, c->err);
        if (rc != AA_OK) { /* the message names the element */
            reply_error(o, 400, "%s", aa_error_get(c->err, 0)->message);
            return;
        }
        if (len == 0)
            break;
        rc = aa_request_from_json(r->body + off, len, c->buf, &req, c->err);
        if (rc != AA_OK) {
            reply_request_error(c, rc, many, i, o);
            return;
        }
    }
    if (many && !explain) {
        decide_array(s, r, c, o);
        return;
    }
    srv_snap *snap = srv_snap_get(s);
    aa_decision *d = c->d;
    json_t *out = NULL;
    sbuf b = {0};
    aa_decision_set_explain(d, explain);
    if (many)
        sb_put(&b, "[", 1);
    pos = 0;
    for (i = 0;; i++) {
        if (next_request(r, many, &pos, &off, &len, NULL) != AA_OK ||
            len == 0 ||
            aa_request_from_json(r->body + off, len, c->buf, &req, NULL) !=
                AA_OK)
            break; /* the first pass read them all */
        aa_authorize(snap->engine, &req, d);
        account(s, snap, d);
        size_t idlen;
        const char *id = aa_request_buf_id(c->buf, &idlen);
        if (!explain) { /* the common case: text straight away */
            if (i)
                sb_put(&b, ",", 1);
            sb_decision(&b, d, id, idlen);
            continue;
        }
        out = cli_decision_json(d, true);
        if (id && out)
            json_object_set_new(out, "id",
                                json_loadb(id, idlen, JSON_DECODE_ANY, NULL));
    }
    if (many)
        sb_put(&b, "]", 1);
    aa_decision_set_explain(d, 0);
    srv_snap_put(snap);
    if (b.oom || (explain && !out)) {
        json_decref(out);
        free(b.p);
        reply_error(o, 500, "out of memory");
        return;
    }
    if (explain) {
        reply(o, 200, out);
        return;
    }
    o->status = 200;
    o->content_type = "application/json";
    o->body = b.p;
    o->len = b.len;
}

/* ---- sessions and delegations -------------------------------------------- */

/* Reads an optional string member; false (and a 400) when of another type. */
static bool opt_string(json_t *obj, const char *key, const char **out,
                       bool required, srv_http_resp *o) {
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            reply_error(o, 400, "field '%s' is required", key);
        return !required;
    }
    if (!json_is_string(v) ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        reply_error(o, 400, "field '%s' must be a string", key);
        return false;
    }
    *out = json_string_value(v);
    if (required && !**out) {
        reply_error(o, 400, "field '%s' is required", key);
        return false;
    }
    return true;
}

static bool opt_duration(json_t *obj, int64_t *out, srv_http_resp *o) {
    json_t *v = json_object_get(obj, "duration");
    *out = AA_DURATION_DEFAULT;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_integer(v)) {
        reply_error(o, 400, "field 'duration' must be an integer (seconds)");
        return false;
    }
    *out = json_integer_value(v);
    if (*out < 1) {
        reply_error(o, 400, "field 'duration' must be at least 1 (seconds)");
        return false;
    }
    return true;
}

static bool only_fields(json_t *obj, const char *const *allowed,
                        srv_http_resp *o) {
    if (!json_is_object(obj)) {
        reply_error(o, 400, "the body must be a JSON object");
        return false;
    }
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], key) != 0)
            i++;
        if (!allowed[i]) {
            reply_error(o, 400, "unknown field '%s'", key);
            return false;
        }
        (void)v;
    }
    return true;
}

static void session_create(srv *s, const srv_http_req *r, const char *rest,
                           srv_http_resp *o) {
    (void)rest;
    static const char *const fields[] = {"agent", "user", "scope", "duration",
                                         NULL};
    json_t *body = parse_body(r, o);
    const char *agent, *user, *scope;
    int64_t duration;
    if (!body || !only_fields(body, fields, o) ||
        !opt_string(body, "agent", &agent, true, o) ||
        !opt_string(body, "user", &user, true, o) ||
        !opt_string(body, "scope", &scope, false, o) ||
        !opt_duration(body, &duration, o)) {
        json_decref(body);
        return;
    }
    srv_snap *snap = srv_snap_get(s);
    aa_error *err = aa_error_new();
    aa_session sess;
    int rc = aa_session_create(snap->engine, agent, user, scope, duration,
                               &sess, err);
    if (rc == AA_OK) {
        reply(o, 201, cli_session_json(&sess));
        aa_session_clear(&sess);
    } else {
        if (rc == AA_EAUDIT)
            atomic_fetch_add(&s->m.audit_write_errors, 1);
        reply_refused(o, status_of(rc), "session refused", rc, err);
    }
    aa_error_free(err);
    srv_snap_put(snap);
    json_decref(body);
}

static void delegation_create(srv *s, const srv_http_req *r, const char *rest,
                              srv_http_resp *o) {
    (void)rest;
    static const char *const fields[] = {"from_user", "to_agent", "actions",
                                         "duration",  "reason",   NULL};
    json_t *body = parse_body(r, o);
    const char *from, *to, *reason;
    int64_t duration;
    if (!body || !only_fields(body, fields, o) ||
        !opt_string(body, "from_user", &from, true, o) ||
        !opt_string(body, "to_agent", &to, true, o) ||
        !opt_string(body, "reason", &reason, false, o) ||
        !opt_duration(body, &duration, o)) {
        json_decref(body);
        return;
    }
    json_t *acts = json_object_get(body, "actions");
    size_t n = json_array_size(acts);
    if (!json_is_array(acts)) {
        reply_error(o, 400, "field 'actions' must be an array of strings");
        json_decref(body);
        return;
    }
    const char **actions = calloc(n ? n : 1, sizeof *actions);
    for (size_t i = 0; actions && i < n; i++) {
        json_t *a = json_array_get(acts, i);
        if (!json_is_string(a) ||
            strlen(json_string_value(a)) != json_string_length(a)) {
            reply_error(o, 400, "field 'actions' item %zu must be a string", i);
            free(actions);
            json_decref(body);
            return;
        }
        actions[i] = json_string_value(a);
    }
    if (!actions) {
        reply_error(o, 500, "out of memory");
        json_decref(body);
        return;
    }
    srv_snap *snap = srv_snap_get(s);
    aa_error *err = aa_error_new();
    aa_delegation g;
    int rc = aa_delegation_create(snap->engine, from, to, actions, n, duration,
                                  reason, &g, err);
    if (rc == AA_OK) {
        reply(o, 201, cli_delegation_json(&g));
        aa_delegation_clear(&g);
    } else {
        if (rc == AA_EAUDIT)
            atomic_fetch_add(&s->m.audit_write_errors, 1);
        reply_refused(o, status_of(rc), "delegation refused", rc, err);
    }
    aa_error_free(err);
    srv_snap_put(snap);
    free(actions);
    json_decref(body);
}

static const char *query(const srv_http_req *r, const char *name) {
    const char *v = r->query ? r->query(r->ud, name) : NULL;
    return v && *v ? v : NULL;
}

static void session_list(srv *s, const srv_http_req *r, const char *rest,
                         srv_http_resp *o) {
    (void)rest;
    srv_snap *snap = srv_snap_get(s);
    aa_error *err = aa_error_new();
    aa_session *list = NULL;
    size_t n = 0;
    int rc = aa_session_list(snap->engine, query(r, "agent"), query(r, "user"),
                             &list, &n, err);
    if (rc == AA_OK) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, cli_session_json(&list[i]));
        reply(o, 200, a);
        aa_session_list_free(list, n);
    } else {
        reply_refused(o, status_of(rc), "cannot list sessions", rc, err);
    }
    aa_error_free(err);
    srv_snap_put(snap);
}

static void delegation_list(srv *s, const srv_http_req *r, const char *rest,
                            srv_http_resp *o) {
    (void)rest;
    srv_snap *snap = srv_snap_get(s);
    aa_error *err = aa_error_new();
    aa_delegation *list = NULL;
    size_t n = 0;
    int rc =
        aa_delegation_list(snap->engine, query(r, "agent"), &list, &n, err);
    if (rc == AA_OK) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, cli_delegation_json(&list[i]));
        reply(o, 200, a);
        aa_delegation_list_free(list, n);
    } else {
        reply_refused(o, status_of(rc), "cannot list delegations", rc, err);
    }
    aa_error_free(err);
    srv_snap_put(snap);
}

static void grant_revoke(srv *s, bool session, const char *id,
                         srv_http_resp *o) {
    srv_snap *snap = srv_snap_get(s);
    aa_error *err = aa_error_new();
    int revoked = 0;
    int rc = session ? aa_session_revoke(snap->engine, id, &revoked, err)
                     : aa_delegation_revoke(snap->engine, id, &revoked, err);
    const char *what = session ? "session" : "delegation";
    if (rc == AA_OK && revoked)
        reply(o, 200, json_pack("{s:b}", "revoked", 1));
    else if (rc == AA_OK || rc == AA_ENOTFOUND || rc == AA_EINVAL)
        reply_error(o, 404, "%s %s not found or already inactive", what, id);
    else
        reply_refused(o, status_of(rc),
                      session ? "cannot revoke session"
                              : "cannot revoke delegation",
                      rc, err);
    aa_error_free(err);
    srv_snap_put(snap);
}

/* ---- audit, policy, health ----------------------------------------------- */

static int collect_entry(void *ud, const char *line, size_t len) {
    json_t *e = json_loadb(line, len, 0, NULL);
    if (e)
        json_array_append_new(ud, e);
    return 0;
}

static void audit_list(srv *s, const srv_http_req *r, const char *rest,
                       srv_http_resp *o) {
    (void)rest;
    aa_audit_filter f = {0};
    f.since = query(r, "since");
    f.agent = query(r, "agent");
    f.user = query(r, "user");
    f.action = query(r, "action");
    f.event = query(r, "event");
    int64_t t;
    if (f.since && aa_parse_time(f.since, &t) != AA_OK) {
        reply_error(o, 400, "query 'since' must be an ISO 8601 time");
        return;
    }
    const char *allowed = query(r, "allowed");
    if (allowed) {
        if (strcmp(allowed, "true") == 0)
            f.allowed = AA_AUDIT_ALLOWED_ONLY;
        else if (strcmp(allowed, "false") == 0)
            f.allowed = AA_AUDIT_DENIED_ONLY;
        else {
            reply_error(o, 400, "query 'allowed' must be true or false");
            return;
        }
    }
    const char *limit = query(r, "limit");
    if (limit) {
        char *end;
        errno = 0;
        unsigned long long l = strtoull(limit, &end, 10);
        if (*end || limit[0] == '-' || errno) {
            reply_error(o, 400, "query 'limit' must be a whole number");
            return;
        }
        f.limit = l == 0 ? SIZE_MAX : (size_t)l; /* 0 means all */
    }
    srv_snap *snap = srv_snap_get(s);
    const char *path = aa_policy_audit_path(snap->policy);
    json_t *a = json_array();
    aa_error *err = aa_error_new();
    struct stat st;
    int rc = AA_OK;
    if (stat(path, &st) == 0 || errno != ENOENT)
        rc = aa_audit_read(path, &f, collect_entry, a, NULL, NULL, err);
    if (rc == AA_OK)
        reply(o, 200, a);
    else {
        json_decref(a);
        reply_refused(o, status_of(rc), "cannot read the audit log", rc, err);
    }
    aa_error_free(err);
    srv_snap_put(snap);
}

static void audit_verify(srv *s, const srv_http_req *r, const char *rest,
                         srv_http_resp *o) {
    (void)r, (void)rest;
    srv_snap *snap = srv_snap_get(s);
    const char *path = aa_policy_audit_path(snap->policy);
    aa_error *err = aa_error_new();
    /* The engine's own store: a PostgreSQL one holds the head this log's
     * writers recorded, so a cut tail is found as `audit --verify` finds
     * it; a SQLite or in-memory store records none and changes nothing. */
    aa_audit_verify_options opts = {
        .size = sizeof opts,
        .store = snap->store ? snap->store->store : NULL,
        .missing_ok = 1}; /* no log yet is no problem, unless it was deleted */
    aa_audit_verify_result res;
    memset(&res, 0, sizeof res);
    int rc = aa_audit_verify_chain(path, &opts, &res, err);
    json_t *problems = diag_lines(err, true, rc);
    json_t *v = json_object();
    json_object_set_new(v, "ok", json_boolean(rc == AA_OK));
    json_object_set_new(v, "lines", json_integer((json_int_t)res.lines));
    if (res.bad_line)
        json_object_set_new(v, "bad_line",
                            json_integer((json_int_t)res.bad_line));
    json_object_set_new(v, "problems", problems);
    reply(o, 200, v);
    aa_error_free(err);
    srv_snap_put(snap);
}

static void policy_show(srv *s, const srv_http_req *r, const char *rest,
                        srv_http_resp *o) {
    (void)r, (void)rest;
    srv_snap *snap = srv_snap_get(s);
    char *text = aa_policy_describe_json(snap->policy);
    json_t *v = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (json_is_object(v)) {
        json_object_set_new(v, "sha256", json_string(snap->sha256));
        reply(o, 200, v);
    } else {
        json_decref(v);
        reply_error(o, 500, "cannot describe the policy");
    }
    srv_snap_put(snap);
}

static void policy_reload(srv *s, const srv_http_req *r, const char *rest,
                          srv_http_resp *o) {
    (void)r, (void)rest;
    aa_error *err = aa_error_new();
    char why[1024];
    int rc = srv_reload(s, err, why, sizeof why);
    if (rc == AA_OK) {
        srv_snap *snap = srv_snap_get(s);
        reply(o, 200,
              json_pack("{s:b,s:s}", "reloaded", 1, "sha256", snap->sha256));
        srv_snap_put(snap);
        srv_log(s, "info", "policy reloaded (%s)", s->config_path);
    } else {
        json_t *errors = diag_lines(err, false, rc);
        json_t *v = json_object();
        char msg[1200];
        snprintf(msg, sizeof msg,
                 "the policy did not load; the previous one keeps serving: %s",
                 why);
        json_object_set_new(v, "error", cli_jstr(msg));
        json_object_set_new(v, "errors", errors);
        srv_log(s, "error", "policy reload failed: %s", why);
        reply(o, 422, v);
    }
    aa_error_free(err);
}

/* Can we write (or create) path? */
static bool writable(const char *path) {
    if (access(path, W_OK) == 0)
        return true;
    if (errno != ENOENT)
        return false;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return access(".", W_OK) == 0;
    *slash = 0;
    return access(*dir ? dir : "/", W_OK) == 0 || errno == ENOENT;
}

static void readyz(srv *s, const srv_http_req *r, const char *rest,
                   srv_http_resp *o) {
    (void)r, (void)rest;
    json_t *reasons = json_array();
    srv_snap *snap = srv_snap_get(s);
    pthread_mutex_lock(&s->reload_mu);
    if (s->last_reload_error[0]) {
        char msg[1200];
        snprintf(msg, sizeof msg,
                 "last policy reload failed (the previous policy serves): %s",
                 s->last_reload_error);
        json_array_append_new(reasons, cli_jstr(msg));
    }
    pthread_mutex_unlock(&s->reload_mu);
    const char *sp = snap->store->path;
    if (sp && strncmp(sp, "sqlite:", 7) == 0)
        sp += 7;
    if (sp && !strstr(sp, "://") && !writable(sp)) {
        char msg[4200];
        snprintf(msg, sizeof msg, "state store %s is not writable",
                 snap->store->path);
        json_array_append_new(reasons, cli_jstr(msg));
    }
    if (snap->store->store) { /* a database that cannot be reached */
        aa_error *perr = aa_error_new();
        if (aa_store_ping(snap->store->store, perr) != AA_OK) {
            const aa_diag *d = aa_error_get(perr, 0);
            json_array_append_new(
                reasons, cli_jstr(d ? d->message : "state store unavailable"));
        }
        aa_error_free(perr);
    }
    if (aa_policy_audit_enabled(snap->policy)) {
        const char *ap = aa_policy_audit_path(snap->policy);
        char msg[4200];
        if (!writable(ap)) {
            snprintf(msg, sizeof msg, "audit log %s is not writable", ap);
            json_array_append_new(reasons, cli_jstr(msg));
        } else if (atomic_load(&s->audit_failing)) {
            snprintf(msg, sizeof msg,
                     "the last audit write to %s failed: decisions are "
                     "denied",
                     ap);
            json_array_append_new(reasons, cli_jstr(msg));
        }
    }
    srv_snap_put(snap);
    if (json_array_size(reasons) == 0) {
        json_decref(reasons);
        reply(o, 200, json_pack("{s:b}", "ready", 1));
    } else {
        reply(o, 503,
              json_pack("{s:s,s:b,s:o}", "error", "not ready", "ready", 0,
                        "reasons", reasons));
    }
}

/* ---- forward auth -------------------------------------------------------- */

static const char *header(const srv_http_req *r, const char *name) {
    const char *v = r->header ? r->header(r->ud, name) : NULL;
    return v && *v ? v : NULL;
}

/* Copies text into a header value: printable ASCII only, bounded. */
static void header_safe(char *out, size_t size, const char *in) {
    size_t o = 0;
    for (; in && *in && o + 1 < size; in++) {
        unsigned char c = (unsigned char)*in;
        out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    out[o] = 0;
}

/* The path a proxy asks about, in the one form a policy is written against:
 * percent-escapes decoded once (`raw`: from a proxy's header; otherwise the
 * HTTP layer decoded it already, and a '%' left means an escape it kept
 * back or a double encoding), "." and ".." segments resolved and repeated
 * slashes folded - as the proxy routes it, so `/api/public/../admin` is
 * judged as `/api/admin`. An escape of NUL, '/', '\\', '?' or '#', a control
 * character, a backslash, text that is not UTF-8, or a ".." above the root
 * is refused: the proxy and the application might read it otherwise than
 * the policy does. out holds at least strlen(in) + 2 bytes. NULL on
 * success, else why. */
static const char *canonical_path(const char *in, size_t n, bool raw,
                                  char *out) {
    if (n && in[0] != '/')
        return "a path that does not start with '/'";
    size_t o = 0;
    out[o++] = '/';
    size_t seg = 1; /* where the current segment starts in out */
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = i < n ? (unsigned char)in[i] : '/';
        if (c == '%') {
            if (!raw)
                return "a '%' in the path (an escape kept back, or a double "
                       "encoding)";
            int hi = i + 2 < n ? srv_hexval(in[i + 1]) : -1;
            int lo = hi >= 0 ? srv_hexval(in[i + 2]) : -1;
            if (lo < 0)
                return "a malformed percent-escape in the path";
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
            if (!c || c == '/' || c == '\\' || c == '?' || c == '#')
                return "an escaped NUL, '/', '\\', '?' or '#' in the path";
        } else if (c == '\\') {
            return "a backslash in the path";
        }
        if (c < 0x20 || c == 0x7f)
            return "a control character in the path";
        if (c != '/') {
            out[o++] = (char)c;
            continue;
        }
        /* a segment ends: out[seg, o) */
        size_t len = o - seg;
        if (len == 0 && i < n) { /* "//": folded */
            continue;
        } else if (len == 1 && out[seg] == '.') {
            o = seg;
        } else if (len == 2 && out[seg] == '.' && out[seg + 1] == '.') {
            if (seg == 1)
                return "a '..' above the root of the path";
            o = seg - 1; /* drop the '/' before "..", then the segment */
            while (o > 1 && out[o - 1] != '/')
                o--;
        } else if (i < n) {
            out[o++] = '/';
        }
        seg = o;
    }
    out[o] = 0;
    if (aa_utf8_check(out, o) != o)
        return "a path that is not UTF-8";
    return NULL;
}

/* The method and path a proxy asks about, from exactly one convention:
 * Traefik's X-Forwarded-Method and X-Forwarded-Uri, nginx's
 * X-Original-Method and X-Original-URI, or, with neither, Envoy's: this
 * request's own method and the path after /v1/forward-auth. Headers of two
 * conventions, or half of one, are refused: a proxy passes its client's
 * headers on, so a client could add the other convention's and choose what
 * is authorized. NULL on success, else why. */
static const char *forwarded_request(const srv_http_req *r, const char *rest,
                                     const char **method, const char **uri,
                                     bool *raw) {
    const char *fm = header(r, "X-Forwarded-Method");
    const char *fu = header(r, "X-Forwarded-Uri");
    const char *om = header(r, "X-Original-Method");
    const char *ou = header(r, "X-Original-URI");
    bool traefik = fm || fu, nginx = om || ou;
    if (traefik && nginx)
        return "both X-Forwarded-* and X-Original-* headers: a client added "
               "one set (clear the other proxy's headers in the proxy)";
    if (traefik && !(fm && fu))
        return "X-Forwarded-Method and X-Forwarded-Uri go together";
    if (nginx && !(om && ou))
        return "X-Original-Method and X-Original-URI go together";
    *raw = traefik || nginx;
    *method = traefik ? fm : nginx ? om : r->method;
    *uri = traefik ? fu : nginx ? ou : *rest ? rest : "/";
    return NULL;
}

static void forward_auth(srv *s, const srv_http_req *r, const char *rest,
                         srv_http_resp *o) {
    o->auth_headers = true;
    snprintf(o->tier, sizeof o->tier, "autonomous");
    const char *method = NULL, *uri = NULL;
    bool raw = false;
    const char *why = forwarded_request(r, rest, &method, &uri, &raw);
    if (why) {
        header_safe(o->reason, sizeof o->reason, why);
        reply_error(o, 400, "%s", why);
        return;
    }
    aa_request req = {0};
    req.agent = header(r, "X-Agent-Name");
    req.user = header(r, "X-User-Name");
    req.session_id = header(r, "X-Session-Id");
    if (!req.agent || !req.user) {
        const char *missing = !req.agent ? "X-Agent-Name" : "X-User-Name";
        char msg[128];
        snprintf(msg, sizeof msg, "header %s is required", missing);
        header_safe(o->reason, sizeof o->reason, msg);
        reply_error(o, 400, "%s", msg);
        return;
    }
    size_t ulen = strcspn(uri, "?#");
    char *path = malloc(ulen + 2);
    size_t mlen = strlen(method);
    char *action = malloc(mlen + 1 + ulen + 2);
    if (!path || !action) {
        free(path);
        free(action);
        reply_error(o, 500, "out of memory");
        return;
    }
    if ((why = canonical_path(uri, ulen, raw, path)) != NULL) {
        free(path);
        free(action);
        header_safe(o->reason, sizeof o->reason, why);
        reply_error(o, 400, "%s", why);
        return;
    }
    size_t plen = strlen(path);
    for (size_t i = 0; i < mlen; i++)
        action[i] =
            (char)(method[i] >= 'A' && method[i] <= 'Z' ? method[i] - 'A' + 'a'
                                                        : method[i]);
    action[mlen] = ':';
    memcpy(action + mlen + 1, path, plen + 1);
    req.action = action;
    req.resource = path;
    srv_snap *snap = srv_snap_get(s);
    aa_decision *d = thread_decision();
    if (!d) {
        srv_snap_put(snap);
        free(path);
        free(action);
        reply_error(o, 500, "out of memory");
        return;
    }
    aa_authorize(snap->engine, &req, d);
    account(s, snap, d);
    bool ok = aa_decision_allowed(d) && !aa_decision_requires_approval(d);
    snprintf(o->tier, sizeof o->tier, "%s", aa_tier_name(aa_decision_tier(d)));
    header_safe(o->reason, sizeof o->reason, aa_decision_reason(d));
    json_t *v = cli_decision_json(d, false);
    json_object_set_new(v, "action", cli_jstr(action));
    reply(o, ok ? 200 : 403, v);
    srv_snap_put(snap);
    free(path);
    free(action);
}

/* ---- routing ------------------------------------------------------------- */

static bool token_ok(const srv *s, const srv_http_req *r) {
    if (!s->token)
        return true;
    const char *h = header(r, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    /* Compare digests: constant time, and the length is not revealed. */
    unsigned char a[32], b[32];
    unsigned n;
    EVP_Digest(h, strlen(h), a, &n, EVP_sha256(), NULL);
    EVP_Digest(s->token, s->token_len, b, &n, EVP_sha256(), NULL);
    return CRYPTO_memcmp(a, b, 32) == 0;
}

static bool method_is(const srv_http_req *r, const char *allow,
                      srv_http_resp *o) {
    char want[16];
    size_t n = strcspn(allow, ",");
    snprintf(want, sizeof want, "%.*s", (int)n, allow);
    if (strcmp(r->method, want) == 0 ||
        (allow[n] && strcmp(r->method, allow + n + 2) == 0))
        return true;
    o->allow = allow;
    reply_error(o, 405, "method %s is not allowed here (allowed: %s)",
                r->method, allow);
    return false;
}

/* ---- routing -------------------------------------------------------------
 * Every handler takes the rest of the path after its route's path: the id
 * of /v1/sessions/ID, the URI of /v1/forward-auth/URI, "" elsewhere. */
typedef void handler(srv *s, const srv_http_req *r, const char *rest,
                     srv_http_resp *o);

static void h_healthz(srv *s, const srv_http_req *r, const char *rest,
                      srv_http_resp *o) {
    (void)s, (void)r, (void)rest;
    reply(o, 200, json_pack("{s:b}", "ok", 1));
}
static void h_metrics(srv *s, const srv_http_req *r, const char *rest,
                      srv_http_resp *o) {
    (void)r, (void)rest;
    o->status = 200;
    o->content_type = "text/plain; version=0.0.4; charset=utf-8";
    o->body = srv_metrics_text(s, &o->len);
    if (!o->body)
        reply_error(o, 500, "out of memory");
}
static void h_authorize(srv *s, const srv_http_req *r, const char *rest,
                        srv_http_resp *o) {
    (void)rest;
    do_authorize(s, r, o, false);
}
static void h_explain(srv *s, const srv_http_req *r, const char *rest,
                      srv_http_resp *o) {
    (void)rest;
    do_authorize(s, r, o, true);
}
static void h_session_revoke(srv *s, const srv_http_req *r, const char *rest,
                             srv_http_resp *o) {
    (void)r;
    grant_revoke(s, true, rest, o);
}
static void h_delegation_revoke(srv *s, const srv_http_req *r, const char *rest,
                                srv_http_resp *o) {
    (void)r;
    grant_revoke(s, false, rest, o);
}

typedef enum {
    EXACT, /* the path itself */
    ID,    /* the path (ending in '/') and one non-empty segment */
    TAIL,  /* the path, alone or followed by '/...' */
} match;

typedef struct route {
    const char *path;
    match match;
    const char *methods; /* for method_is; NULL: any method */
    handler *first;      /* for the first of methods */
    handler *second;     /* for the second, when it differs */
} route;

/* Paths under /v1/ need the token. */
static const route routes[] = {
    {"/healthz", EXACT, "GET, HEAD", h_healthz, NULL},
    {"/readyz", EXACT, "GET, HEAD", readyz, NULL},
    {"/metrics", EXACT, "GET, HEAD", h_metrics, NULL},
    {"/v1/authorize", EXACT, "POST", h_authorize, NULL},
    {"/v1/explain", EXACT, "POST", h_explain, NULL},
    {"/v1/sessions", EXACT, "GET, POST", session_list, session_create},
    {"/v1/sessions/", ID, "DELETE", h_session_revoke, NULL},
    {"/v1/delegations", EXACT, "GET, POST", delegation_list, delegation_create},
    {"/v1/delegations/", ID, "DELETE", h_delegation_revoke, NULL},
    {"/v1/audit", EXACT, "GET", audit_list, NULL},
    {"/v1/audit/verify", EXACT, "GET", audit_verify, NULL},
    {"/v1/policy", EXACT, "GET", policy_show, NULL},
    {"/v1/policy/reload", EXACT, "POST", policy_reload, NULL},
    {"/v1/forward-auth", TAIL, NULL, forward_auth, NULL},
};

static const route *find_route(const char *p) {
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        const route *rt = &routes[i];
        size_t n = strlen(rt->path);
        if (strncmp(p, rt->path, n) != 0)
            continue;
        if ((rt->match == EXACT && p[n] == 0) ||
            (rt->match == ID && p[n] && !strchr(p + n, '/')) ||
            (rt->match == TAIL && (p[n] == 0 || p[n] == '/')))
            return rt;
    }
    return NULL;
}

void srv_handle(srv *s, const srv_http_req *r, srv_http_resp *o) {
    memset(o, 0, sizeof *o);
    const char *p = r->path;
    const route *rt = find_route(p);
    if (strncmp(p, "/v1/", 4) == 0 && !token_ok(s, r)) {
        o->www_auth = true;
        reply_error(o, 401,
                    "a valid 'Authorization: Bearer <token>' header "
                    "is required");
    } else if (!rt) {
        reply_error(o, 404, "no such endpoint: %s", p);
    } else if (!rt->methods) {
        rt->first(s, r, p + strlen(rt->path), o);
    } else if (method_is(r, rt->methods, o)) {
        size_t n = strcspn(rt->methods, ",");
        bool first = strncmp(r->method, rt->methods, n) == 0 && !r->method[n];
        handler *h = first || !rt->second ? rt->first : rt->second;
        h(s, r, p + strlen(rt->path), o);
    }
    if (o->status >= 100 && o->status < 600)
        atomic_fetch_add_explicit(&s->m.http[o->status], 1,
                                  memory_order_relaxed);
}
