/*
 * policy_test.c - runs policy test files (docs/policy-tests.md): each case
 * is a request, optional state to set up first, and what the decision must
 * be. The file is read with yaml_doc.c, as a policy is (one YAML reader,
 * one scalar resolution), and every field is type-checked with its
 * position: a case that cannot be run as written is an error, never a
 * pass, and nothing is truncated.
 */
#include "yaml_doc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define AA__TEST_MAX_BYTES ((size_t)16 * 1024 * 1024)

struct aa_test_report {
    aa__arena arena;
    aa_test_case *cases;
    size_t n, cap;
    size_t passed, failed;
    const char *policy;
    aa_policy *loaded; /* the decisions borrow names from it */
};

static const char *const file_keys[] = {"policy", "tests", NULL};
static const char *const case_keys[] = {"name", "request", "setup", "expect",
                                        NULL};
static const char *const request_keys[] = {
    "agent",      "user",         "action",   "resource", "scope",
    "session_id", "target_agent", "metadata", NULL};
static const char *const expect_keys[] = {
    "allowed", "tier", "approval_policy", "reason", "requires_approval", NULL};
static const char *const setup_keys[] = {"sessions", "delegations", NULL};
static const char *const session_keys[] = {
    "name", "agent", "user", "scope", "duration", "revoked", NULL};
static const char *const delegation_keys[] = {
    "from_user", "to_agent", "actions", "duration", "reason", "revoked", NULL};

/* A session of the setup that the request may name. */
typedef struct named {
    const char *name;
    const char *id;
} named;

typedef struct runner {
    aa_test_report *r;
    const char *file;
    aa_test_case *c; /* the case being read */
    bool oom;
    named *names;
    size_t nnames, capnames;
} runner;

static const char *rstrdup(runner *R, const char *s) {
    char *p = aa__arena_strdup(&R->r->arena, s ? s : "");
    if (!p)
        R->oom = true;
    return p ? p : "";
}

static const char *rprintf(runner *R, const char *fmt, ...) AA__PRINTF(2, 3);
static const char *rprintf(runner *R, const char *fmt, ...) {
    aa__buf b;
    aa__buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    aa__buf_vprintf(&b, fmt, ap);
    va_end(ap);
    const char *s = b.oom ? (R->oom = true, "") : rstrdup(R, b.data);
    aa__buf_free(&b);
    return s;
}

/* The case's error (the first one found wins). */
static void bad(runner *R, const aa__ynode *at, const char *fmt, ...)
    AA__PRINTF(3, 4);
static void bad(runner *R, const aa__ynode *at, const char *fmt, ...) {
    if (R->c->error)
        return;
    aa__buf b;
    aa__buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    aa__buf_vprintf(&b, fmt, ap);
    va_end(ap);
    R->c->error = b.oom ? (R->oom = true, "out of memory") : rstrdup(R, b.data);
    R->c->error_line = at ? at->line : R->c->line;
    R->c->error_column = at ? at->col : R->c->column;
    aa__buf_free(&b);
}

/* "a list", "the number 123"... */
static const char *describe(const aa__ynode *n, char *buf, size_t size) {
    if (n->kind == AA__Y_SEQ)
        return "a list";
    if (n->kind == AA__Y_MAP)
        return "a mapping";
    aa__yscalar v;
    aa__yscalar_resolve(n, &v);
    aa__yscalar_describe(n, &v, buf, size);
    return buf;
}

/* The first key of map not in known, or NULL. */
static const aa__ynode *unknown_key(const aa__ynode *map,
                                    const char *const *known) {
    for (size_t i = 0; i < map->n; i++) {
        const aa__ynode *k = map->u.pairs[i].key;
        size_t j = 0;
        while (known[j] && strcmp(known[j], k->text) != 0)
            j++;
        if (!known[j])
            return k;
    }
    return NULL;
}

/* A mapping whose keys are all known; NULL (reported) otherwise. */
static const aa__ynode *want_map(runner *R, const aa__ynode *n,
                                 const char *what, const char *const *keys) {
    char d[96];
    if (n->kind != AA__Y_MAP) {
        bad(R, n, "%s must be a mapping, not %s", what,
            describe(n, d, sizeof d));
        return NULL;
    }
    const aa__ynode *k = unknown_key(n, keys);
    if (k) {
        bad(R, k, "unknown key '%.100s' in %s", k->text, what);
        return NULL;
    }
    return n;
}

/* The value of key in map, or NULL; `required` reports its absence. */
static const aa__ynode *member(runner *R, const aa__ynode *map, const char *key,
                               const char *what, bool required) {
    const aa__ypair *p = aa__ymap_find(map, key);
    if (!p && required)
        bad(R, map, "%s: '%s' is required", what, key);
    return p ? p->value : NULL;
}

static bool resolve(const aa__ynode *n, aa__yvtype want, aa__yscalar *v) {
    if (n->kind != AA__Y_SCALAR)
        return false;
    aa__yscalar_resolve(n, v);
    return v->type == want;
}

/* A string member (NULL when absent or wrong, reported). */
static const char *want_str(runner *R, const aa__ynode *map, const char *key,
                            const char *what, bool required) {
    const aa__ynode *n = member(R, map, key, what, required);
    aa__yscalar v;
    char d[96];
    if (!n)
        return NULL;
    if (!resolve(n, AA__YV_STR, &v)) {
        bad(R, n, "%s: '%s' must be a string, not %s%s", what, key,
            describe(n, d, sizeof d),
            n->kind == AA__Y_SCALAR ? " (quote it)" : "");
        return NULL;
    }
    return n->text;
}

static bool want_bool(runner *R, const aa__ynode *map, const char *key,
                      const char *what, bool *out) {
    const aa__ynode *n = member(R, map, key, what, false);
    aa__yscalar v;
    char d[96];
    if (!n)
        return false;
    if (!resolve(n, AA__YV_BOOL, &v)) {
        bad(R, n, "%s: '%s' must be true or false, not %s", what, key,
            describe(n, d, sizeof d));
        return false;
    }
    *out = v.b;
    return true;
}

static int64_t want_duration(runner *R, const aa__ynode *map,
                             const char *what) {
    const aa__ynode *n = member(R, map, "duration", what, false);
    aa__yscalar v;
    char d[96];
    if (!n)
        return AA_DURATION_DEFAULT;
    if (!resolve(n, AA__YV_INT, &v) || v.overflow || v.i < 1) {
        bad(R, n,
            "%s: 'duration' must be a whole number of seconds (at least 1), "
            "not %s",
            what, describe(n, d, sizeof d));
        return AA_DURATION_DEFAULT;
    }
    return v.i;
}

/* A sequence member (a mapping or scalar where a list belongs is an
 * error); NULL when absent or wrong. */
static const aa__ynode *want_seq(runner *R, const aa__ynode *map,
                                 const char *key, const char *what) {
    const aa__ynode *n = member(R, map, key, what, false);
    char d[96];
    if (n && n->kind != AA__Y_SEQ) {
        bad(R, n, "%s: '%s' must be a list, not %s", what, key,
            describe(n, d, sizeof d));
        return NULL;
    }
    return n;
}

/* ---- the request ----------------------------------------------------------
 */

/* One metadata value: a scalar, or a list of scalars. */
static bool meta_value(runner *R, const aa__ynode *n, const char *key,
                       aa_meta *m, bool in_list) {
    char d[96];
    if (n->kind == AA__Y_MAP || (n->kind == AA__Y_SEQ && in_list)) {
        bad(R, n,
            "request: metadata '%.100s' must be a value or a list of "
            "values, not %s%s",
            key, in_list ? "a list holding " : "", describe(n, d, sizeof d));
        return false;
    }
    if (n->kind == AA__Y_SEQ) {
        aa_meta *items =
            aa__arena_alloc(&R->r->arena, (n->n ? n->n : 1) * sizeof *items);
        if (!items) {
            R->oom = true;
            return false;
        }
        memset(items, 0, (n->n ? n->n : 1) * sizeof *items);
        for (size_t i = 0; i < n->n; i++)
            if (!meta_value(R, n->u.items[i], key, &items[i], true))
                return false;
        m->type = AA_VALUE_LIST;
        m->items = items;
        m->count = n->n;
        return true;
    }
    aa__yscalar v;
    aa__yscalar_resolve(n, &v);
    switch (v.type) {
    case AA__YV_NULL:
        m->type = AA_VALUE_NULL;
        return true;
    case AA__YV_BOOL:
        m->type = AA_VALUE_BOOL;
        m->boolean = v.b;
        return true;
    case AA__YV_INT:
    case AA__YV_FLOAT:
        if (v.overflow) {
            bad(R, n, "request: metadata '%.100s': %.40s is out of range", key,
                n->text);
            return false;
        }
        m->type = AA_VALUE_NUMBER;
        m->number = v.d;
        return true;
    case AA__YV_STR:
        m->type = AA_VALUE_STRING;
        m->string = n->text;
        return true;
    default:
        bad(R, n, "request: metadata '%.100s': '%.40s' does not fit its tag",
            key, n->text);
        return false;
    }
}

/* Reads the request into req; its metadata array goes to *meta. */
static void read_request(runner *R, const aa__ynode *c, aa_request *req) {
    const aa__ynode *n = member(R, c, "request", "test case", true);
    if (!n || !want_map(R, n, "request", request_keys))
        return;
    req->agent = want_str(R, n, "agent", "request", true);
    req->user = want_str(R, n, "user", "request", true);
    req->action = want_str(R, n, "action", "request", true);
    req->resource = want_str(R, n, "resource", "request", false);
    req->scope = want_str(R, n, "scope", "request", false);
    req->session_id = want_str(R, n, "session_id", "request", false);
    req->target_agent = want_str(R, n, "target_agent", "request", false);
    const aa__ynode *m = member(R, n, "metadata", "request", false);
    char d[96];
    if (!m)
        return;
    if (m->kind != AA__Y_MAP) {
        bad(R, m, "request: 'metadata' must be a mapping, not %s",
            describe(m, d, sizeof d));
        return;
    }
    aa_meta *meta =
        aa__arena_alloc(&R->r->arena, (m->n ? m->n : 1) * sizeof *meta);
    if (!meta) {
        R->oom = true;
        return;
    }
    memset(meta, 0, (m->n ? m->n : 1) * sizeof *meta);
    for (size_t i = 0; i < m->n; i++) {
        meta[i].key = m->u.pairs[i].key->text;
        if (!meta_value(R, m->u.pairs[i].value, meta[i].key, &meta[i], false))
            return;
    }
    req->metadata = meta;
    req->metadata_count = m->n;
}

/* ---- setup ----------------------------------------------------------------
 */

static void remember(runner *R, const char *name, const char *id) {
    if (R->nnames == R->capnames) {
        size_t cap = R->capnames ? R->capnames * 2 : 8;
        named *p = realloc(R->names, cap * sizeof *p);
        if (!p) {
            R->oom = true;
            return;
        }
        R->names = p;
        R->capnames = cap;
    }
    R->names[R->nnames++] = (named){name, rstrdup(R, id)};
}

static const char *first_message(const aa_error *err, int rc) {
    const aa_diag *d = aa_error_get(err, 0);
    return d ? d->message : aa_strerror(rc);
}

/* Type-checks the sessions of the setup, and creates them when e is not
 * NULL. */
static void setup_sessions(runner *R, const aa__ynode *setup, aa_engine *e) {
    const aa__ynode *s = want_seq(R, setup, "sessions", "setup");
    for (size_t i = 0; s && i < s->n && !R->c->error; i++) {
        char what[48];
        snprintf(what, sizeof what, "setup session %zu", i + 1);
        const aa__ynode *it = want_map(R, s->u.items[i], what, session_keys);
        if (!it)
            return;
        const char *name = want_str(R, it, "name", what, false);
        const char *agent = want_str(R, it, "agent", what, true);
        const char *user = want_str(R, it, "user", what, true);
        const char *scope = want_str(R, it, "scope", what, false);
        int64_t dur = want_duration(R, it, what);
        bool revoked = false;
        want_bool(R, it, "revoked", what, &revoked);
        for (size_t k = 0; name && !e && k < R->nnames; k++)
            if (strcmp(R->names[k].name, name) == 0)
                bad(R, it, "%s: a session named '%.100s' already exists", what,
                    name);
        if (R->c->error)
            return;
        if (!e) {
            if (name)
                remember(R, name, "");
            continue;
        }
        aa_error *err = aa_error_new();
        aa_session out;
        int rc = aa_session_create(e, agent, user, scope, dur, &out, err);
        if (rc != AA_OK) {
            bad(R, it, "%s refused: %s", what, first_message(err, rc));
        } else {
            if (revoked)
                aa_session_revoke(e, out.session_id, NULL, err);
            if (name)
                remember(R, name, out.session_id);
            aa_session_clear(&out);
        }
        aa_error_free(err);
    }
}

static void setup_delegations(runner *R, const aa__ynode *setup, aa_engine *e) {
    const aa__ynode *s = want_seq(R, setup, "delegations", "setup");
    for (size_t i = 0; s && i < s->n && !R->c->error; i++) {
        char what[48];
        snprintf(what, sizeof what, "setup delegation %zu", i + 1);
        const aa__ynode *it = want_map(R, s->u.items[i], what, delegation_keys);
        if (!it)
            return;
        const char *from = want_str(R, it, "from_user", what, true);
        const char *to = want_str(R, it, "to_agent", what, true);
        const char *reason = want_str(R, it, "reason", what, false);
        int64_t dur = want_duration(R, it, what);
        bool revoked = false;
        want_bool(R, it, "revoked", what, &revoked);
        const aa__ynode *an = member(R, it, "actions", what, true);
        aa__yscalar v;
        const aa__ynode *one = NULL;
        if (an && an->kind == AA__Y_SCALAR) {
            one = an; /* one pattern */
            if (!resolve(an, AA__YV_STR, &v))
                bad(R, an, "%s: 'actions' must be a list of strings", what);
        } else if (an && an->kind != AA__Y_SEQ) {
            bad(R, an, "%s: 'actions' must be a list of strings", what);
        }
        size_t n = one ? 1 : (an ? an->n : 0);
        for (size_t k = 0; !one && an && k < an->n; k++)
            if (!resolve(an->u.items[k], AA__YV_STR, &v)) {
                char d[96];
                bad(R, an->u.items[k],
                    "%s: every entry of 'actions' must be a string, not %s",
                    what, describe(an->u.items[k], d, sizeof d));
            }
        if (R->c->error || !e)
            continue;
        const char **list = malloc((n ? n : 1) * sizeof *list);
        if (!list) {
            R->oom = true;
            return;
        }
        for (size_t k = 0; k < n; k++)
            list[k] = one ? one->text : an->u.items[k]->text;
        aa_error *err = aa_error_new();
        aa_delegation out;
        int rc =
            aa_delegation_create(e, from, to, list, n, dur, reason, &out, err);
        if (rc != AA_OK) {
            bad(R, it, "%s refused: %s", what, first_message(err, rc));
        } else {
            if (revoked)
                aa_delegation_revoke(e, out.delegation_id, NULL, err);
            aa_delegation_clear(&out);
        }
        aa_error_free(err);
        free(list);
    }
}

static void setup(runner *R, const aa__ynode *c, aa_engine *e) {
    const aa__ynode *s = member(R, c, "setup", "test case", false);
    if (!s || !want_map(R, s, "setup", setup_keys))
        return;
    setup_sessions(R, s, e);
    setup_delegations(R, s, e);
}

/* ---- expectations ----------------------------------------------------------
 */

typedef struct expect {
    const aa__ynode *allowed, *requires_approval, *tier, *policy, *reason;
    bool allowed_v, requires_v;
    aa_tier tier_v;
    const char *policy_v; /* "" for null */
    const char *reason_v;
} expect;

static void read_expect(runner *R, const aa__ynode *c, expect *x) {
    const aa__ynode *n = member(R, c, "expect", "test case", true);
    if (!n || !want_map(R, n, "expect", expect_keys))
        return;
    if (n->n == 0) {
        bad(R, n,
            "expect: give at least one of allowed, tier, approval_policy, "
            "reason, requires_approval");
        return;
    }
    if (want_bool(R, n, "allowed", "expect", &x->allowed_v))
        x->allowed = member(R, n, "allowed", NULL, false);
    if (want_bool(R, n, "requires_approval", "expect", &x->requires_v))
        x->requires_approval = member(R, n, "requires_approval", NULL, false);
    const char *t = want_str(R, n, "tier", "expect", false);
    if (t && aa_tier_parse(t, &x->tier_v) != AA_OK)
        bad(R, member(R, n, "tier", NULL, false),
            "expect: tier '%.40s' is not a tier (autonomous, soft, strong)", t);
    else if (t)
        x->tier = member(R, n, "tier", NULL, false);
    const aa__ynode *p = member(R, n, "approval_policy", NULL, false);
    aa__yscalar v;
    if (p && resolve(p, AA__YV_NULL, &v)) {
        x->policy = p;
        x->policy_v = "";
    } else if (p && (x->policy_v =
                         want_str(R, n, "approval_policy", "expect", false))) {
        x->policy = p;
    }
    if ((x->reason_v = want_str(R, n, "reason", "expect", false)))
        x->reason = member(R, n, "reason", NULL, false);
}

typedef struct mismatches {
    aa_test_mismatch m[5];
    size_t n;
} mismatches;

static void mismatch(runner *R, mismatches *ms, const aa__ynode *at,
                     const char *field, const char *expected,
                     const char *actual, const char *verb) {
    aa_test_mismatch *m = &ms->m[ms->n++];
    m->field = field;
    m->expected = rstrdup(R, expected);
    m->actual = rstrdup(R, actual);
    m->message =
        rprintf(R, "%s: expected %s%s, got %s", field, verb, expected, actual);
    m->line = at->line;
    m->column = at->col;
}

static const char *yes_no(int b) {
    return b ? "true" : "false";
}

static void compare(runner *R, const expect *x, const aa_decision *d) {
    mismatches ms = {.n = 0};
    if (x->allowed && x->allowed_v != (aa_decision_allowed(d) != 0))
        mismatch(R, &ms, x->allowed, "allowed", yes_no(x->allowed_v),
                 yes_no(aa_decision_allowed(d)), "");
    if (x->requires_approval &&
        x->requires_v != (aa_decision_requires_approval(d) != 0))
        mismatch(R, &ms, x->requires_approval, "requires_approval",
                 yes_no(x->requires_v),
                 yes_no(aa_decision_requires_approval(d)), "");
    if (x->tier && x->tier_v != aa_decision_tier(d))
        mismatch(R, &ms, x->tier, "tier",
                 rprintf(R, "'%s'", aa_tier_name(x->tier_v)),
                 rprintf(R, "'%s'", aa_tier_name(aa_decision_tier(d))), "");
    if (x->policy && strcmp(x->policy_v, aa_decision_approval_policy(d)) != 0)
        mismatch(R, &ms, x->policy, "approval_policy",
                 *x->policy_v ? rprintf(R, "'%s'", x->policy_v) : "null",
                 rprintf(R, "'%s'", aa_decision_approval_policy(d)), "");
    if (x->reason && !strstr(aa_decision_reason(d), x->reason_v))
        mismatch(R, &ms, x->reason, "reason", rprintf(R, "'%s'", x->reason_v),
                 rprintf(R, "'%s'", aa_decision_reason(d)), "to contain ");
    R->c->passed = ms.n == 0;
    if (ms.n == 0)
        return;
    aa_test_mismatch *m = aa__arena_alloc(&R->r->arena, ms.n * sizeof *m);
    if (!m) {
        R->oom = true;
        return;
    }
    memcpy(m, ms.m, ms.n * sizeof *m);
    R->c->mismatches = m;
    R->c->mismatch_count = ms.n;
}

/* ---- one case ---------------------------------------------------------------
 */

static void run_case(runner *R, const aa_policy *policy, const aa__ynode *c,
                     size_t index) {
    aa_test_case *tc = R->c;
    tc->file = R->file;
    tc->line = c->line;
    tc->column = c->col;
    tc->name = rprintf(R, "case %zu", index + 1);
    R->nnames = 0;
    if (!want_map(R, c, "a test case", case_keys))
        return;
    const char *name = want_str(R, c, "name", "test case", false);
    if (name)
        tc->name = rstrdup(R, name); /* the tree is freed before the report */
    aa_request req;
    memset(&req, 0, sizeof req);
    read_request(R, c, &req);
    expect x;
    memset(&x, 0, sizeof x);
    read_expect(R, c, &x);
    setup(R, c, NULL); /* types only */
    if (tc->error || R->oom)
        return;

    aa_store *store = NULL;
    aa_engine *engine = NULL;
    aa_error *err = aa_error_new();
    aa_engine_options o;
    memset(&o, 0, sizeof o);
    int rc = aa_store_open_memory(&store, err);
    if (rc == AA_OK) {
        o.store = store;
        o.audit_mode = AA_AUDIT_OFF;
        rc = aa_engine_new(policy, &o, &engine, err);
    }
    if (rc != AA_OK) {
        bad(R, c, "cannot run the case: %s", first_message(err, rc));
    } else {
        R->nnames = 0;
        setup(R, c, engine);
    }
    aa_error_free(err);
    if (!tc->error && !R->oom) {
        for (size_t k = 0; req.session_id && k < R->nnames; k++)
            if (strcmp(R->names[k].name, req.session_id) == 0)
                req.session_id = R->names[k].id;
        aa_decision *d = aa_decision_new();
        if (!d) {
            R->oom = true;
        } else {
            aa_decision_set_explain(d, 1);
            aa_authorize(engine, &req, d);
            tc->decision = d;
            compare(R, &x, d);
        }
    }
    aa_engine_free(engine);
    aa_store_free(store);
}

/* ---- the file
 * ---------------------------------------------------------------- */

static int read_all(const char *path, char **data, size_t *len, aa_error *err) {
    char msg[128];
    /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return aa__error_add(err, AA_SEVERITY_ERROR, AA_EIO, path, 0, 0,
                             "cannot read test file: %s",
                             strerror_r(e, msg, sizeof msg));
    }
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size > AA__TEST_MAX_BYTES) {
        close(fd);
        return aa__error_add(err, AA_SEVERITY_ERROR, AA_EIO, path, 0, 0,
                             S_ISREG(st.st_mode)
                                 ? "test file is over 16 MiB"
                                 : "cannot read test file: not a regular "
                                   "file");
    }
    *data = malloc((size_t)st.st_size + 1);
    if (!*data) {
        close(fd);
        return aa__fail(err, AA_ENOMEM, "out of memory");
    }
    *len = 0;
    for (;;) {
        ssize_t r = read(fd, *data + *len, (size_t)st.st_size + 1 - *len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            free(*data);
            *data = NULL;
            return aa__error_add(err, AA_SEVERITY_ERROR, AA_EIO, path, 0, 0,
                                 "cannot read test file: %s",
                                 strerror_r(e, msg, sizeof msg));
        }
        if (r == 0 || (*len += (size_t)r) > (size_t)st.st_size)
            break;
    }
    close(fd);
    return AA_OK;
}

/* Warnings for plain scalars that YAML 1.2 reads otherwise. */
static void warn_scalars(const aa__ynode *n, const char *file, aa_error *err,
                         int depth) {
    aa__yscalar a, b;
    char x[96], y[96];
    if (depth > AA__YAML_MAX_DEPTH)
        return;
    if (n->kind == AA__Y_SCALAR) {
        if (!aa__yscalar_differs_12(n, &a, &b))
            return;
        aa__yscalar_describe(n, &a, x, sizeof x);
        aa__yscalar_describe(n, &b, y, sizeof y);
        aa__error_add(err, AA_SEVERITY_WARNING, AA_EINVAL, file, n->line,
                      n->col,
                      "'%.40s' is %s here (YAML 1.1, as PyYAML reads it) but "
                      "%s under YAML 1.2; quote it or write it so that both "
                      "agree",
                      n->text, x, y);
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        if (n->kind == AA__Y_SEQ) {
            warn_scalars(n->u.items[i], file, err, depth + 1);
        } else {
            warn_scalars(n->u.pairs[i].key, file, err, depth + 1);
            warn_scalars(n->u.pairs[i].value, file, err, depth + 1);
        }
    }
}

/* The policy path: `policy` relative to the test file's directory. */
static char *policy_path(const char *file, const char *rel,
                         const char *fallback) {
    if (!rel)
        return fallback ? aa__strdup(fallback) : NULL;
    const char *slash = strrchr(file, '/');
    if (rel[0] == '/' || !slash)
        return aa__strdup(rel);
    size_t dir = (size_t)(slash - file), n = dir + strlen(rel) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%.*s/%s", (int)dir, file, rel);
    return p;
}

static int file_error(aa_error *err, const char *file, const aa__ynode *at,
                      const char *msg) {
    return aa__error_add(err, AA_SEVERITY_ERROR, AA_EINVAL, file,
                         at ? at->line : 0, at ? at->col : 0, "%s", msg);
}

static int run_doc(const aa__ynode *root, const char *file,
                   const aa_test_options *opts, aa_test_report *r,
                   aa_error *err) {
    if (!root || root->kind != AA__Y_MAP)
        return file_error(err, file, root,
                          "a test file is a mapping with 'policy' and a "
                          "'tests' list");
    const aa__ynode *k = unknown_key(root, file_keys);
    if (k)
        return aa__error_add(err, AA_SEVERITY_ERROR, AA_EINVAL, file, k->line,
                             k->col,
                             "unknown key '%.100s' (expected 'policy' and "
                             "'tests')",
                             k->text);
    const aa__ypair *tp = aa__ymap_find(root, "tests");
    if (!tp || tp->value->kind != AA__Y_SEQ)
        return file_error(err, file, tp ? tp->value : root,
                          "'tests' must be a list of test cases");
    const aa__ypair *pp = aa__ymap_find(root, "policy");
    aa__yscalar v;
    if (pp && !resolve(pp->value, AA__YV_STR, &v))
        return file_error(err, file, pp->value,
                          "'policy' must be a string: the policy file");
    if (!pp && !(opts && opts->default_policy))
        return file_error(err, file, root, "no 'policy' to test");
    char *path = policy_path(file, pp ? pp->value->text : NULL,
                             opts ? opts->default_policy : NULL);
    if (!path)
        return aa__fail(err, AA_ENOMEM, "out of memory");
    r->policy = aa__arena_strdup(&r->arena, path);
    aa_policy *policy = NULL;
    int rc = aa_policy_load_file(path, opts ? opts->load : NULL, &policy, err);
    free(path);
    if (rc != AA_OK)
        return rc;
    const aa__ynode *tests = tp->value;
    runner R = {.r = r, .file = aa__arena_strdup(&r->arena, file)};
    r->cases = calloc(tests->n ? tests->n : 1, sizeof *r->cases);
    if (!r->cases || !r->policy || !R.file)
        R.oom = true;
    for (size_t i = 0; i < tests->n && !R.oom; i++) {
        R.c = &r->cases[r->n++];
        run_case(&R, policy, tests->u.items[i], i);
        if (R.c->passed)
            r->passed++;
        else
            r->failed++;
    }
    free(R.names);
    r->loaded = policy;
    return R.oom ? aa__fail(err, AA_ENOMEM, "out of memory") : AA_OK;
}

int aa_test_run_file(const char *path, const aa_test_options *opts,
                     aa_test_report **out, aa_error *err) {
    if (!out)
        return aa__fail(err, AA_EINVAL, "aa_test_run_file: out is NULL");
    *out = NULL;
    aa_test_options own;
    opts = aa__options_copy(&own, sizeof own, opts);
    if (aa__empty(path))
        return aa__fail(err, AA_EINVAL, "no test file name given");
    char *data = NULL;
    size_t len = 0;
    int rc = read_all(path, &data, &len, err);
    if (rc != AA_OK)
        return rc;
    aa__ydoc doc;
    rc = aa__ydoc_parse(&doc, data, len, path, err);
    if (rc == AA_OK && doc.nerrors)
        rc = AA_EINVAL; /* duplicate keys, tags... (reported) */
    aa_test_report *r = NULL;
    if (rc == AA_OK) {
        if (doc.root)
            warn_scalars(doc.root, path, err, 0);
        r = calloc(1, sizeof *r);
        if (!r) {
            rc = aa__fail(err, AA_ENOMEM, "out of memory");
        } else {
            aa__arena_init(&r->arena);
            rc = run_doc(doc.root, path, opts, r, err);
        }
    }
    aa__ydoc_free(&doc);
    free(data);
    if (rc != AA_OK) {
        aa_test_report_free(r);
        return rc;
    }
    *out = r;
    return AA_OK;
}

size_t aa_test_report_count(const aa_test_report *r) {
    return r ? r->n : 0;
}

const aa_test_case *aa_test_report_get(const aa_test_report *r, size_t i) {
    return r && i < r->n ? &r->cases[i] : NULL;
}

size_t aa_test_report_passed(const aa_test_report *r) {
    return r ? r->passed : 0;
}

size_t aa_test_report_failed(const aa_test_report *r) {
    return r ? r->failed : 0;
}

const char *aa_test_report_policy(const aa_test_report *r) {
    return r && r->policy ? r->policy : "";
}

void aa_test_report_free(aa_test_report *r) {
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        aa_decision_free((aa_decision *)r->cases[i].decision);
    aa_policy_free(r->loaded);
    free(r->cases);
    aa__arena_free(&r->arena);
    free(r);
}
