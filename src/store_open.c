/*
 * store_open.c - opening the state store a location names: a SQLite file
 * (a plain path or sqlite:PATH) or a PostgreSQL database (postgresql://),
 * chosen by the option, the environment, the policy, then the default
 * (include/agent_auth.h, aa_store_options).
 */
#include "policy.h"
#include "state_url.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int aa__store_open_pg(const char *url, const char *schema, bool cached,
                      bool lazy, aa_store **out, aa_error *err);

#define DEFAULT_PATH   ".agent_auth/state.db"
#define DEFAULT_SCHEMA "agent_auth"

void aa_store_options_init(aa_store_options *opts) {
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->size = sizeof *opts;
    opts->use_env = 1;
}

/* Fields of a caller's options struct, defaults for those it lacks. */
static aa_store_options read_opts(const aa_store_options *in) {
    aa_store_options o;
    aa_store_options_init(&o);
    if (!in)
        return o;
    size_t n = in->size ? in->size : sizeof o;
    if (n > sizeof o)
        n = sizeof o;
    memcpy(&o, in, n);
    o.size = sizeof o;
    return o;
}

static const char *nonempty(const char *s) {
    return s && *s ? s : NULL;
}

static const char *resolve_location(const aa_store_options *o) {
    const char *loc = nonempty(o->url);
    if (!loc && o->use_env)
        loc = nonempty(getenv("AGENT_AUTH_STATE_URL"));
    if (!loc && o->policy)
        loc = nonempty(aa_policy_state_url(o->policy));
    if (!loc && o->policy)
        loc = nonempty(aa_policy_state_path(o->policy));
    return loc ? loc : DEFAULT_PATH;
}

static const char *resolve_schema(const aa_store_options *o) {
    const char *s = nonempty(o->schema);
    if (!s && o->use_env)
        s = nonempty(getenv("AGENT_AUTH_STATE_SCHEMA"));
    if (!s && o->policy)
        s = nonempty(aa_policy_state_schema(o->policy));
    return s ? s : DEFAULT_SCHEMA;
}

int aa_store_location(const aa_store_options *opts, char *buf, size_t size) {
    aa_store_options o = read_opts(opts);
    const char *loc = resolve_location(&o);
    char why[600];
    int rc = aa__state_url_check(loc, why, sizeof why);
    if (rc != AA_OK)
        snprintf(buf, size, "%s", why);
    else
        aa__state_url_redact(loc, buf, size);
    return rc;
}

int aa_store_open(const aa_store_options *opts, aa_store **out, aa_error *err) {
    if (!out)
        return aa__fail(err, AA_EINVAL, "aa_store_open: out is NULL");
    *out = NULL;
    aa_store_options o = read_opts(opts);
    const char *loc = resolve_location(&o);
    aa__loc_kind kind;
    const char *path;
    char why[600];
    int rc = aa__state_url_parse(loc, &kind, &path, why, sizeof why);
    if (rc != AA_OK)
        return aa__fail(err, rc, "%s", why);
    if (kind == AA__LOC_SQLITE)
        return o.lazy ? aa_store_open_sqlite_lazy(path, out, err)
                      : aa_store_open_sqlite(path, out, err);
    int consistency = o.consistency;
    if (consistency == AA_CONSISTENCY_DEFAULT && o.policy)
        consistency = aa_policy_state_consistency(o.policy);
    bool cached = consistency != AA_CONSISTENCY_STRICT;
    return aa__store_open_pg(loc, resolve_schema(&o), cached, o.lazy != 0, out,
                             err);
}

int aa_store_open_anchoring(const aa_store_options *opts, aa_store **out,
                            aa_error *err) {
    if (!out)
        return aa__fail(err, AA_EINVAL, "aa_store_open_anchoring: out is NULL");
    *out = NULL;
    aa_store_options o = read_opts(opts);
    aa__loc_kind kind;
    const char *path;
    char why[600];
    int rc = aa__state_url_parse(resolve_location(&o), &kind, &path, why,
                                 sizeof why);
    if (rc != AA_OK)
        return aa__fail(err, rc, "%s", why);
    if (kind != AA__LOC_POSTGRES)
        return AA_OK; /* records no heads: nothing to open (or create) */
    if (o.consistency == AA_CONSISTENCY_DEFAULT)
        o.consistency = AA_CONSISTENCY_STRICT; /* a few lookups: no cache */
    return aa_store_open(&o, out, err);
}

const char *aa_store_kind(const aa_store *store) {
    return store && store->ops ? store->ops->kind : "";
}

int aa_store_ping(aa_store *store, aa_error *err) {
    if (!store)
        return aa__fail(err, AA_EINVAL, "aa_store_ping: store is NULL");
    return store->ops->ping ? store->ops->ping(store, err) : AA_OK;
}

int aa_store_migrate(aa_store *store, const char **what, aa_error *err) {
    const char *w = "up to date";
    if (!store)
        return aa__fail(err, AA_EINVAL, "aa_store_migrate: store is NULL");
    int rc = store->ops->migrate ? store->ops->migrate(store, &w, err) : AA_OK;
    if (what)
        *what = w;
    return rc;
}

typedef struct copy_ctx {
    aa_store *to;
    aa_store_copy_counts *n;
    aa_error *err;
} copy_ctx;

/* Puts one row into the destination unless a row of that id is there. */
static int copy_row(void *ud, const aa_session *sess, const aa_delegation *d) {
    copy_ctx *c = ud;
    const aa__store_ops *ops = c->to->ops;
    int rc;
    if (sess) {
        aa_session old;
        memset(&old, 0, sizeof old);
        rc = ops->session_get(c->to, sess->session_id, INT64_MIN, &old, c->err);
        aa_session_clear(&old);
        if (rc == AA_OK) {
            c->n->skipped++;
            return AA_OK;
        }
        if (rc != AA_ENOTFOUND)
            return rc;
        rc = ops->session_put(c->to, sess, c->err);
        if (rc == AA_OK)
            c->n->sessions++;
        return rc;
    }
    aa_delegation old;
    memset(&old, 0, sizeof old);
    rc = ops->delegation_get(c->to, d->delegation_id, INT64_MIN, &old, c->err);
    aa_delegation_clear(&old);
    if (rc == AA_OK) {
        c->n->skipped++;
        return AA_OK;
    }
    if (rc != AA_ENOTFOUND)
        return rc;
    rc = ops->delegation_put(c->to, d, c->err);
    if (rc == AA_OK)
        c->n->delegations++;
    return rc;
}

int aa_store_copy(aa_store *from, aa_store *to, aa_store_copy_counts *counts,
                  aa_error *err) {
    aa_store_copy_counts local;
    if (!counts)
        counts = &local;
    memset(counts, 0, sizeof *counts);
    if (!from || !to)
        return aa__fail(err, AA_EINVAL, "aa_store_copy: a store is NULL");
    if (!from->ops->each)
        return aa__fail(err, AA_EINVAL,
                        "a %s store cannot be read whole: copy from a SQLite "
                        "or PostgreSQL store",
                        from->ops->kind);
    copy_ctx c = {to, counts, err};
    return from->ops->each(from, copy_row, &c, err);
}
