/*
 * test_store.c - one conformance suite run against every state store
 * (memory, SQLite, lazy SQLite), then SQLite-only tests: persistence, file
 * modes, damaged and inaccessible files, query plans, lock timeouts.
 *
 * `test_store postgresql` runs the same suite against PostgreSQL (strict
 * and cached) at AA_PG_URL, each test in a schema of its own, then the
 * PostgreSQL-only tests (test_store_pg.inc); ctest starts a private cluster
 * for it (tests/pg/cluster.sh).
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"

/* store_sqlite.c: the SQL of its indexed lookups. */
const char *aa__store_sqlite_sql(const char *name);

#define T0  INT64_C(1800000000000000) /* a fixed "now", microseconds */
#define SEC INT64_C(1000000)

typedef struct fx {
    aa_store *st;
    char *dir;
    char *path;
} fx;

static int setup_memory(void **state) {
    fx *f = calloc(1, sizeof *f);
    assert_int_equal(aa_store_open_memory(&f->st, NULL), AA_OK);
    assert_string_equal(f->st->ops->kind, "memory");
    *state = f;
    return 0;
}

/* Fails the test, with err's messages, unless the store opened; frees
 * err. */
static void opened(int rc, aa_error *err) {
    if (rc != AA_OK) {
        char *t = tu_error_text(err);
        fail_msg("open: %s", t);
    }
    aa_error_free(err);
}

/* A fixture with a fresh directory and path, the file `name` in it. */
static fx *fx_in_dir(const char *name) {
    fx *f = calloc(1, sizeof *f);
    f->dir = tu_tmpdir();
    assert_non_null(f->dir);
    f->path = tu_join(f->dir, name);
    return f;
}

static int setup_sqlite(void **state) {
    fx *f = fx_in_dir("state.db");
    aa_error *err = aa_error_new();
    opened(aa_store_open_sqlite(f->path, &f->st, err), err);
    assert_string_equal(f->st->ops->kind, "sqlite");
    *state = f;
    return 0;
}

/* A lazy store over a path where no file exists yet: its first write
 * creates it. */
static int setup_lazy(void **state) {
    fx *f = fx_in_dir("sub/state.db"); /* no directory yet */
    assert_int_equal(aa_store_open_sqlite_lazy(f->path, &f->st, NULL), AA_OK);
    *state = f;
    return 0;
}

/* PostgreSQL at AA_PG_URL, in a new schema for each test. */
static int open_pg(fx *f, aa_store_consistency c) {
    static int counter;
    const char *url = getenv("AA_PG_URL");
    assert_non_null(url);
    f->path = malloc(64); /* the schema */
    snprintf(f->path, 64, "t_%d_%d", (int)getpid(), ++counter);
    aa_store_options o;
    aa_store_options_init(&o);
    o.url = url;
    o.schema = f->path;
    o.consistency = c;
    aa_error *err = aa_error_new();
    opened(aa_store_open(&o, &f->st, err), err);
    assert_string_equal(f->st->ops->kind, "postgresql");
    return 0;
}

static int setup_pg(void **state) {
    fx *f = calloc(1, sizeof *f);
    *state = f;
    return open_pg(f, AA_CONSISTENCY_STRICT);
}

static int setup_pg_cached(void **state) {
    fx *f = calloc(1, sizeof *f);
    *state = f;
    return open_pg(f, AA_CONSISTENCY_CACHED);
}

static int teardown(void **state) {
    fx *f = *state;
    aa_store_free(f->st);
    if (f->dir)
        tu_rmdir(f->dir);
    free(f->dir);
    free(f->path);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------- */

static void put_session(aa_store *st, const char *id, const char *agent,
                        const char *user, const char *scope, int64_t created,
                        int64_t expires) {
    aa_session s = {0};
    snprintf(s.session_id, sizeof s.session_id, "%s", id);
    s.agent = (char *)agent;
    s.user = (char *)user;
    s.scope = (char *)scope;
    s.created_at = created;
    s.expires_at = expires;
    s.status = AA_GRANT_ACTIVE;
    assert_int_equal(st->ops->session_put(st, &s, NULL), AA_OK);
}

static void put_grant(aa_store *st, const char *id, const char *user,
                      const char *agent, const char *const *actions,
                      size_t nactions, int64_t granted, int64_t expires,
                      const char *reason) {
    aa_delegation d = {0};
    snprintf(d.delegation_id, sizeof d.delegation_id, "%s", id);
    d.from_user = (char *)user;
    d.to_agent = (char *)agent;
    d.actions = (char **)actions;
    d.action_count = nactions;
    d.granted_at = granted;
    d.expires_at = expires;
    d.reason = (char *)reason;
    d.status = AA_GRANT_ACTIVE;
    assert_int_equal(st->ops->delegation_put(st, &d, NULL), AA_OK);
}

/* A session's status, read with session_get_into too where the store has
 * it (first, so that it is the read that may mark the session expired):
 * both reads must agree on every field. */
static aa_grant_status session_status(aa_store *st, const char *id,
                                      int64_t now) {
    aa_session v;
    char buf[512];
    bool into = st->ops->session_get_into != NULL;
    if (into)
        assert_int_equal(
            st->ops->session_get_into(st, id, now, &v, buf, sizeof buf, NULL),
            AA_OK);
    aa_session s;
    assert_int_equal(st->ops->session_get(st, id, now, &s, NULL), AA_OK);
    if (into) {
        assert_string_equal(v.session_id, s.session_id);
        assert_string_equal(v.agent, s.agent);
        assert_string_equal(v.user, s.user);
        assert_string_equal(v.scope, s.scope);
        assert_true(v.created_at == s.created_at);
        assert_true(v.expires_at == s.expires_at);
        assert_int_equal(v.status, s.status);
        assert_true(v.agent >= buf && v.agent < buf + sizeof buf);
    }
    aa_grant_status r = s.status;
    aa_session_clear(&s);
    return r;
}

static aa_grant_status grant_status(aa_store *st, const char *id, int64_t now) {
    aa_delegation d;
    assert_int_equal(st->ops->delegation_get(st, id, now, &d, NULL), AA_OK);
    aa_grant_status r = d.status;
    aa_delegation_clear(&d);
    return r;
}

/* The ids of a session list joined with ',' (static buffer). */
static const char *session_ids(aa_store *st, const char *agent,
                               const char *user, int64_t now) {
    static char buf[1024];
    aa_session *list = NULL;
    size_t n = 99;
    assert_int_equal(
        st->ops->session_list(st, agent, user, now, &list, &n, NULL), AA_OK);
    buf[0] = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(list[i].status, AA_GRANT_ACTIVE);
        strcat(buf, i ? "," : "");
        strcat(buf, list[i].session_id);
    }
    aa_session_list_free(list, n);
    return buf;
}

static const char *grant_ids(aa_store *st, const char *agent, int64_t now) {
    static char buf[1024];
    aa_delegation *list = NULL;
    size_t n = 99;
    assert_int_equal(st->ops->delegation_list(st, agent, now, &list, &n, NULL),
                     AA_OK);
    buf[0] = 0;
    for (size_t i = 0; i < n; i++) {
        strcat(buf, i ? "," : "");
        strcat(buf, list[i].delegation_id);
    }
    aa_delegation_list_free(list, n);
    return buf;
}

/* The id of the grant found (static buffer), or "-" when none. */
static const char *find(aa_store *st, const char *agent, const char *user,
                        const char *action, int64_t now) {
    static char buf[300];
    aa__deleg_hit hit;
    memset(&hit, 0x55, sizeof hit);
    int rc = st->ops->delegation_find(st, agent, user, action, now, &hit, NULL);
    if (rc == AA_ENOTFOUND)
        return "-";
    assert_int_equal(rc, AA_OK);
    snprintf(buf, sizeof buf, "%s %s", hit.delegation_id, hit.pattern);
    return buf;
}

/* ---- conformance: sessions ----------------------------------------------- */

static void test_session_put_get(void **state) {
    aa_store *st = ((fx *)*state)->st;
    put_session(st, "5d1c0d36-3e36-4b8e-a1c4-0d6f3b0c1e01", "deployer", "alice",
                "prod", T0, T0 + 3600 * SEC);
    put_session(st, "s2", "reader", "bob", "", T0 + 1, T0 + 60 * SEC);

    aa_session s;
    assert_int_equal(
        st->ops->session_get(st, "5d1c0d36-3e36-4b8e-a1c4-0d6f3b0c1e01",
                             T0 + 10, &s, NULL),
        AA_OK);
    assert_string_equal(s.session_id, "5d1c0d36-3e36-4b8e-a1c4-0d6f3b0c1e01");
    assert_string_equal(s.agent, "deployer");
    assert_string_equal(s.user, "alice");
    assert_string_equal(s.scope, "prod");
    assert_true(s.created_at == T0);
    assert_true(s.expires_at == T0 + 3600 * SEC);
    assert_int_equal(s.status, AA_GRANT_ACTIVE);
    aa_session_clear(&s);

    assert_int_equal(st->ops->session_get(st, "s2", T0, &s, NULL), AA_OK);
    assert_string_equal(s.scope, "");
    aa_session_clear(&s);

    assert_int_equal(st->ops->session_get(st, "nope", T0, &s, NULL),
                     AA_ENOTFOUND);
    aa_session_clear(&s); /* cleared output is safe to clear */

    /* A second session with the same id is refused; the first stays. */
    aa_error *err = aa_error_new();
    aa_session dup = {.agent = "x",
                      .user = "y",
                      .scope = "",
                      .created_at = T0,
                      .expires_at = T0 + SEC};
    strcpy(dup.session_id, "s2");
    assert_int_equal(st->ops->session_put(st, &dup, err), AA_ESTATE);
    char *t = tu_error_text(err);
    assert_non_null(strstr(t, "'s2' already exists"));
    free(t);
    aa_error_free(err);
    assert_int_equal(st->ops->session_get(st, "s2", T0, &s, NULL), AA_OK);
    assert_string_equal(s.agent, "reader");
    aa_session_clear(&s);
}

static void test_session_expiry_boundary(void **state) {
    aa_store *st = ((fx *)*state)->st;
    int64_t end = T0 + 60 * SEC;
    put_session(st, "s1", "a", "u", "", T0, end);

    assert_string_equal(session_ids(st, NULL, NULL, end - 1), "s1");
    assert_int_equal(session_status(st, "s1", end - 1), AA_GRANT_ACTIVE);
    /* now == expires_at is expired */
    assert_string_equal(session_ids(st, NULL, NULL, end), "");
    assert_int_equal(session_status(st, "s1", end), AA_GRANT_EXPIRED);
    /* the read marked it: it stays expired even if the clock goes back */
    assert_int_equal(session_status(st, "s1", end - 1), AA_GRANT_EXPIRED);
    assert_string_equal(session_ids(st, NULL, NULL, end - 1), "");
    int revoked = 7;
    assert_int_equal(st->ops->session_revoke(st, "s1", end - 1, &revoked, NULL),
                     AA_OK);
    assert_int_equal(revoked, 0);
    assert_int_equal(session_status(st, "s1", end - 1), AA_GRANT_EXPIRED);

    /* Revoking an active row that is past its end: not revoked. */
    put_session(st, "s2", "a", "u", "", T0, end);
    assert_int_equal(st->ops->session_revoke(st, "s2", end, &revoked, NULL),
                     AA_OK);
    assert_int_equal(revoked, 0);
    assert_int_equal(session_status(st, "s2", T0), AA_GRANT_EXPIRED);
}

static void test_session_revoke(void **state) {
    aa_store *st = ((fx *)*state)->st;
    put_session(st, "s1", "a", "u", "", T0, T0 + 60 * SEC);
    put_session(st, "s2", "a", "u", "", T0, T0 + 60 * SEC);
    int revoked = 0;
    assert_int_equal(st->ops->session_revoke(st, "s1", T0, &revoked, NULL),
                     AA_OK);
    assert_int_equal(revoked, 1);
    assert_int_equal(st->ops->session_revoke(st, "s1", T0, &revoked, NULL),
                     AA_OK);
    assert_int_equal(revoked, 0);
    assert_int_equal(session_status(st, "s1", T0), AA_GRANT_REVOKED);
    /* revoked stays revoked after its end, never becomes expired */
    assert_int_equal(session_status(st, "s1", T0 + 3600 * SEC),
                     AA_GRANT_REVOKED);
    assert_string_equal(session_ids(st, NULL, NULL, T0), "s2");
    assert_int_equal(st->ops->session_revoke(st, "nope", T0, &revoked, NULL),
                     AA_OK);
    assert_int_equal(revoked, 0);
}

static void test_session_list_filters_and_order(void **state) {
    aa_store *st = ((fx *)*state)->st;
    int64_t e = T0 + 3600 * SEC;
    put_session(st, "c", "deployer", "alice", "", T0 + 30, e);
    put_session(st, "a", "deployer", "bob", "", T0 + 10, e);
    put_session(st, "d", "reader", "alice", "", T0 + 20, e);
    put_session(st, "b", "deployer", "alice", "", T0 + 10, e); /* tie: a, b */
    put_session(st, "x", "deployer", "alice", "", T0, T0 + 5); /* expired */

    assert_string_equal(session_ids(st, NULL, NULL, T0 + 100), "a,b,d,c");
    assert_string_equal(session_ids(st, "deployer", NULL, T0 + 100), "a,b,c");
    assert_string_equal(session_ids(st, NULL, "alice", T0 + 100), "b,d,c");
    assert_string_equal(session_ids(st, "deployer", "alice", T0 + 100), "b,c");
    assert_string_equal(session_ids(st, "reader", "bob", T0 + 100), "");
    assert_string_equal(session_ids(st, "nobody", NULL, T0 + 100), "");
    /* before x ends it is listed too */
    assert_string_equal(session_ids(st, "deployer", "alice", T0 + 4), "x,b,c");

    aa_session *list = (aa_session *)1;
    size_t n = 5;
    assert_int_equal(
        st->ops->session_list(st, "nobody", NULL, T0, &list, &n, NULL), AA_OK);
    assert_int_equal(n, 0);
    aa_session_list_free(list, n);
}

/* ---- conformance: delegations -------------------------------------------- */

static void test_delegation_put_get(void **state) {
    aa_store *st = ((fx *)*state)->st;
    const char *acts[] = {"deploy:*", "read:logs", "[!x]?:*"};
    put_grant(st, "g1", "alice", "deployer", acts, 3, T0, T0 + 60 * SEC,
              "on call");
    put_grant(st, "g0", "bob", "deployer", NULL, 0, T0, T0 + 60 * SEC, "");

    aa_delegation d;
    assert_int_equal(st->ops->delegation_get(st, "g1", T0, &d, NULL), AA_OK);
    assert_string_equal(d.delegation_id, "g1");
    assert_string_equal(d.from_user, "alice");
    assert_string_equal(d.to_agent, "deployer");
    assert_int_equal(d.action_count, 3);
    assert_string_equal(d.actions[0], "deploy:*");
    assert_string_equal(d.actions[1], "read:logs");
    assert_string_equal(d.actions[2], "[!x]?:*");
    assert_true(d.granted_at == T0);
    assert_true(d.expires_at == T0 + 60 * SEC);
    assert_string_equal(d.reason, "on call");
    assert_int_equal(d.status, AA_GRANT_ACTIVE);
    aa_delegation_clear(&d);

    assert_int_equal(st->ops->delegation_get(st, "g0", T0, &d, NULL), AA_OK);
    assert_int_equal(d.action_count, 0);
    assert_string_equal(d.reason, "");
    aa_delegation_clear(&d);
    assert_string_equal(find(st, "deployer", "bob", "x", T0), "-");

    assert_int_equal(st->ops->delegation_get(st, "nope", T0, &d, NULL),
                     AA_ENOTFOUND);
    aa_delegation_clear(&d);

    aa_delegation dup = {.from_user = "u", .to_agent = "a", .reason = ""};
    strcpy(dup.delegation_id, "g1");
    assert_int_equal(st->ops->delegation_put(st, &dup, NULL), AA_ESTATE);
    assert_int_equal(grant_status(st, "g1", T0), AA_GRANT_ACTIVE);
}

static void test_delegation_find_patterns(void **state) {
    aa_store *st = ((fx *)*state)->st;
    int64_t e = T0 + 60 * SEC;
    const char *prefix[] = {"deploy:*"};
    const char *exact[] = {"read:logs"};
    const char *any[] = {"*"};
    const char *glob[] = {"db:[a-c]?"};
    put_grant(st, "gp", "alice", "deployer", prefix, 1, T0, e, "");
    put_grant(st, "ge", "alice", "reader", exact, 1, T0, e, "");
    put_grant(st, "ga", "carol", "admin", any, 1, T0, e, "");
    put_grant(st, "gg", "dave", "dba", glob, 1, T0, e, "");

    assert_string_equal(find(st, "deployer", "alice", "deploy:web", T0),
                        "gp deploy:*");
    assert_string_equal(find(st, "deployer", "alice", "deploy:", T0),
                        "gp deploy:*");
    assert_string_equal(find(st, "deployer", "alice", "deploy", T0), "-");
    assert_string_equal(find(st, "deployer", "alice", "read:logs", T0), "-");

    assert_string_equal(find(st, "reader", "alice", "read:logs", T0),
                        "ge read:logs");
    assert_string_equal(find(st, "reader", "alice", "read:logs2", T0), "-");
    assert_string_equal(find(st, "reader", "alice", "read:log", T0), "-");

    assert_string_equal(find(st, "admin", "carol", "anything:at/all", T0),
                        "ga *");
    assert_string_equal(find(st, "admin", "carol", "", T0), "ga *");

    assert_string_equal(find(st, "dba", "dave", "db:bx", T0), "gg db:[a-c]?");
    assert_string_equal(find(st, "dba", "dave", "db:dx", T0), "-");
}

static void test_delegation_find_bound_to_pair(void **state) {
    aa_store *st = ((fx *)*state)->st;
    int64_t e = T0 + 60 * SEC;
    const char *any[] = {"*"};
    put_grant(st, "g1", "alice", "deployer", any, 1, T0, e, "");
    put_grant(st, "g2", "bc", "a", any, 1, T0, e, "");

    assert_string_equal(find(st, "deployer", "alice", "x", T0), "g1 *");
    assert_string_equal(find(st, "deployer", "bob", "x", T0), "-");
    assert_string_equal(find(st, "reader", "alice", "x", T0), "-");
    assert_string_equal(find(st, "alice", "deployer", "x", T0), "-");
    /* the pair is two strings, not their concatenation */
    assert_string_equal(find(st, "a", "bc", "x", T0), "g2 *");
    assert_string_equal(find(st, "ab", "c", "x", T0), "-");
    assert_string_equal(find(st, "a", "b", "x", T0), "-");
}

static void test_delegation_find_oldest_first(void **state) {
    aa_store *st = ((fx *)*state)->st;
    int64_t e = T0 + 60 * SEC;
    const char *wide[] = {"read:*", "deploy:*"};
    const char *narrow[] = {"deploy:web"};
    const char *other[] = {"deploy:web"};
    put_grant(st, "newer", "alice", "deployer", narrow, 1, T0 + 20, e, "");
    put_grant(st, "older", "alice", "deployer", wide, 2, T0 + 10, e, "");
    put_grant(st, "tie", "alice", "deployer", other, 1, T0 + 10, e, "");

    assert_string_equal(find(st, "deployer", "alice", "deploy:web", T0 + 30),
                        "older deploy:*");
    int revoked = 0;
    assert_int_equal(
        st->ops->delegation_revoke(st, "older", T0 + 30, &revoked, NULL),
        AA_OK);
    assert_int_equal(revoked, 1);
    /* same granted_at: the one stored first */
    assert_string_equal(find(st, "deployer", "alice", "deploy:web", T0 + 30),
                        "tie deploy:web");
    assert_int_equal(
        st->ops->delegation_revoke(st, "tie", T0 + 30, &revoked, NULL), AA_OK);
    assert_string_equal(find(st, "deployer", "alice", "deploy:web", T0 + 30),
                        "newer deploy:web");
    assert_string_equal(find(st, "deployer", "alice", "read:x", T0 + 30), "-");
}

static void test_delegation_revoked_and_expired_never_found(void **state) {
    aa_store *st = ((fx *)*state)->st;
    int64_t end = T0 + 60 * SEC;
    const char *acts[] = {"deploy:*"};
    put_grant(st, "g1", "alice", "deployer", acts, 1, T0, end, "");
    put_grant(st, "g2", "alice", "reader", acts, 1, T0, end, "");

    assert_string_equal(find(st, "deployer", "alice", "deploy:x", end - 1),
                        "g1 deploy:*");
    assert_string_equal(find(st, "deployer", "alice", "deploy:x", end), "-");
    assert_string_equal(grant_ids(st, NULL, end - 1), "g1,g2");
    assert_string_equal(grant_ids(st, NULL, end), "");

    /* reading it at its end marks it; revoking it then does nothing */
    assert_int_equal(grant_status(st, "g1", end), AA_GRANT_EXPIRED);
    assert_string_equal(find(st, "deployer", "alice", "deploy:x", end - 1),
                        "-");
    int revoked = 9;
    assert_int_equal(
        st->ops->delegation_revoke(st, "g1", end - 1, &revoked, NULL), AA_OK);
    assert_int_equal(revoked, 0);
    assert_int_equal(grant_status(st, "g1", T0), AA_GRANT_EXPIRED);

    assert_int_equal(st->ops->delegation_revoke(st, "g2", T0, &revoked, NULL),
                     AA_OK);
    assert_int_equal(revoked, 1);
    assert_string_equal(find(st, "reader", "alice", "deploy:x", T0), "-");
    assert_int_equal(grant_status(st, "g2", T0), AA_GRANT_REVOKED);
    assert_int_equal(st->ops->delegation_revoke(st, "g2", T0, &revoked, NULL),
                     AA_OK);
    assert_int_equal(revoked, 0);
    assert_int_equal(st->ops->delegation_revoke(st, "zz", T0, &revoked, NULL),
                     AA_OK);
    assert_int_equal(revoked, 0);
}

static void test_delegation_list(void **state) {
    aa_store *st = ((fx *)*state)->st;
    int64_t e = T0 + 60 * SEC;
    const char *acts[] = {"a:*"};
    put_grant(st, "g3", "alice", "deployer", acts, 1, T0 + 3, e, "");
    put_grant(st, "g1", "bob", "deployer", acts, 1, T0 + 1, e, "");
    put_grant(st, "g2", "alice", "reader", acts, 1, T0 + 2, e, "");
    put_grant(st, "g4", "alice", "deployer", acts, 1, T0 + 4, T0 + 5, "");
    assert_string_equal(grant_ids(st, NULL, T0 + 4), "g1,g2,g3,g4");
    assert_string_equal(grant_ids(st, NULL, T0 + 5), "g1,g2,g3");
    assert_string_equal(grant_ids(st, "deployer", T0 + 5), "g1,g3");
    assert_string_equal(grant_ids(st, "nobody", T0 + 5), "");

    aa_delegation *list;
    size_t n;
    assert_int_equal(
        st->ops->delegation_list(st, "reader", T0, &list, &n, NULL), AA_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].from_user, "alice");
    assert_int_equal(list[0].action_count, 1);
    assert_string_equal(list[0].actions[0], "a:*");
    aa_delegation_list_free(list, n);
}

static void test_long_pattern_is_cut(void **state) {
    aa_store *st = ((fx *)*state)->st;
    char pat[301];
    memset(pat, 'p', 299);
    pat[299] = '*';
    pat[300] = 0;
    const char *acts[] = {pat};
    put_grant(st, "g", "u", "a", acts, 1, T0, T0 + SEC, "");
    char action[400];
    memset(action, 'p', 350);
    action[350] = 0;
    aa__deleg_hit hit;
    assert_int_equal(
        st->ops->delegation_find(st, "a", "u", action, T0, &hit, NULL), AA_OK);
    assert_int_equal(strlen(hit.pattern), sizeof hit.pattern - 1);
    assert_memory_equal(hit.pattern, pat, sizeof hit.pattern - 1);
    assert_true(hit.expires_at == T0 + SEC);
}

static void test_many_pairs(void **state) {
    aa_store *st = ((fx *)*state)->st;
    const char *acts[] = {"read:*", "write:doc"};
    char id[40], agent[32], user[32];
    for (int i = 0; i < 120; i++) {
        snprintf(id, sizeof id, "g%03d", i);
        snprintf(agent, sizeof agent, "agent-%d", i % 12);
        snprintf(user, sizeof user, "user-%d", i / 12);
        put_grant(st, id, user, agent, acts, 2, T0 + i, T0 + 60 * SEC, "");
    }
    for (int i = 0; i < 120; i += 7) {
        snprintf(agent, sizeof agent, "agent-%d", i % 12);
        snprintf(user, sizeof user, "user-%d", i / 12);
        snprintf(id, sizeof id, "g%03d write:doc", i);
        assert_string_equal(find(st, agent, user, "write:doc", T0), id);
        assert_string_equal(find(st, agent, user, "write:docs", T0), "-");
    }
    assert_string_equal(find(st, "agent-1", "user-10", "read:x", T0), "-");
}

static void test_cleanup_counts(void **state) {
    aa_store *st = ((fx *)*state)->st;
    int64_t now = T0 + 10 * 86400 * SEC;
    int64_t keep = 86400 * SEC; /* one day */
    const char *acts[] = {"x"};
    /* sessions */
    put_session(st, "live", "a", "u", "", T0, now + SEC);
    put_session(st, "ended-old", "a", "u", "", T0, T0 + SEC);  /* mark+purge */
    put_session(st, "ended-new", "a", "u", "", T0, now - SEC); /* mark */
    put_session(st, "revoked-old", "a", "u", "", T0, T0 + 2 * SEC); /* purge */
    put_session(st, "revoked-new", "a", "u", "", T0, now + SEC);    /* keep */
    put_session(st, "at-cutoff", "a", "u", "", T0, now - keep);     /* mark */
    int r;
    assert_int_equal(st->ops->session_revoke(st, "revoked-old", T0, &r, NULL),
                     AA_OK);
    assert_int_equal(st->ops->session_revoke(st, "revoked-new", T0, &r, NULL),
                     AA_OK);
    /* delegations */
    put_grant(st, "d-live", "u", "a", acts, 1, T0, now + SEC, "");
    put_grant(st, "d-ended-old", "u", "a", acts, 1, T0, T0 + SEC, "");
    put_grant(st, "d-ended-new", "u", "a", acts, 1, T0, now, "");
    put_grant(st, "d-revoked-old", "u", "a", acts, 1, T0, T0 + SEC, "");
    assert_int_equal(
        st->ops->delegation_revoke(st, "d-revoked-old", T0, &r, NULL), AA_OK);

    size_t marked = 99, purged = 99;
    assert_int_equal(st->ops->cleanup(st, now, keep, &marked, &purged, NULL),
                     AA_OK);
    assert_int_equal(marked, 3 + 2); /* ended-old, ended-new, at-cutoff;
                                        d-ended-old, d-ended-new */
    assert_int_equal(purged, 2 + 2); /* ended-old, revoked-old; d-*-old */

    aa_session s;
    assert_int_equal(st->ops->session_get(st, "ended-old", now, &s, NULL),
                     AA_ENOTFOUND);
    assert_int_equal(st->ops->session_get(st, "revoked-old", now, &s, NULL),
                     AA_ENOTFOUND);
    assert_int_equal(session_status(st, "ended-new", T0), AA_GRANT_EXPIRED);
    assert_int_equal(session_status(st, "at-cutoff", T0), AA_GRANT_EXPIRED);
    assert_int_equal(session_status(st, "revoked-new", T0), AA_GRANT_REVOKED);
    assert_int_equal(session_status(st, "live", T0), AA_GRANT_ACTIVE);
    aa_delegation d;
    assert_int_equal(st->ops->delegation_get(st, "d-ended-old", now, &d, NULL),
                     AA_ENOTFOUND);
    assert_int_equal(
        st->ops->delegation_get(st, "d-revoked-old", now, &d, NULL),
        AA_ENOTFOUND);
    assert_int_equal(grant_status(st, "d-ended-new", T0), AA_GRANT_EXPIRED);
    assert_string_equal(find(st, "a", "u", "x", T0), "d-live x");
    assert_string_equal(session_ids(st, NULL, NULL, now), "live");

    /* Nothing left to do; then everything ended goes with no retention. */
    assert_int_equal(st->ops->cleanup(st, now, keep, &marked, &purged, NULL),
                     AA_OK);
    assert_int_equal(marked, 0);
    assert_int_equal(purged, 0);
    assert_int_equal(st->ops->cleanup(st, now + 2 * SEC, 0, NULL, NULL, NULL),
                     AA_OK);
    assert_int_equal(
        st->ops->cleanup(st, now + 2 * SEC, 0, &marked, &purged, NULL), AA_OK);
    assert_int_equal(marked, 0);
    assert_int_equal(purged, 0);
    assert_int_equal(st->ops->session_get(st, "live", now, &s, NULL),
                     AA_ENOTFOUND);
    assert_int_equal(st->ops->session_get(st, "ended-new", now, &s, NULL),
                     AA_ENOTFOUND);
    assert_int_equal(st->ops->delegation_get(st, "d-live", now, &d, NULL),
                     AA_ENOTFOUND);
    assert_int_equal(st->ops->cleanup(st, now, -1, NULL, NULL, NULL),
                     AA_EINVAL);
}

/* Several threads writing and reading one store at once. */
typedef struct worker {
    aa_store *st;
    int index;
    int failures;
} worker;

static void *work(void *arg) {
    worker *w = arg;
    aa_store *st = w->st;
    char agent[32];
    const char *acts[] = {"job:*"};
    snprintf(agent, sizeof agent, "agent-%d", w->index);
    for (int i = 0; i < 25; i++) {
        aa_session s = {.agent = agent,
                        .user = "u",
                        .scope = "",
                        .created_at = T0 + i,
                        .expires_at = T0 + SEC};
        snprintf(s.session_id, sizeof s.session_id, "s-%d-%d", w->index, i);
        aa_delegation d = {.from_user = "u",
                           .to_agent = agent,
                           .actions = (char **)acts,
                           .action_count = 1,
                           .granted_at = T0 + i,
                           .expires_at = T0 + SEC,
                           .reason = ""};
        snprintf(d.delegation_id, sizeof d.delegation_id, "d-%d-%d", w->index,
                 i);
        w->failures += st->ops->session_put(st, &s, NULL) != AA_OK;
        w->failures += st->ops->delegation_put(st, &d, NULL) != AA_OK;
        aa__deleg_hit hit;
        char first[40];
        snprintf(first, sizeof first, "d-%d-0", w->index);
        if (st->ops->delegation_find(st, agent, "u", "job:1", T0, &hit, NULL) !=
                AA_OK ||
            strcmp(hit.delegation_id, first) != 0)
            w->failures++;
        aa_session got;
        w->failures +=
            st->ops->session_get(st, s.session_id, T0, &got, NULL) != AA_OK;
        aa_session_clear(&got);
    }
    return NULL;
}

static void test_threads(void **state) {
    aa_store *st = ((fx *)*state)->st;
    enum { N = 4 };
    pthread_t th[N];
    worker w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (worker){.st = st, .index = i};
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    aa_session *list;
    size_t n;
    assert_int_equal(st->ops->session_list(st, NULL, "u", T0, &list, &n, NULL),
                     AA_OK);
    assert_int_equal(n, N * 25);
    aa_session_list_free(list, n);
    assert_string_equal(find(st, "agent-2", "u", "job:x", T0), "d-2-0 job:*");
}

/* Threads racing to revoke the same grants: each succeeds exactly once. */
typedef struct racer {
    aa_store *st;
    int revoked;
    int failures;
} racer;

static void *revoke_all(void *arg) {
    racer *r = arg;
    char id[40];
    for (int i = 0; i < 40; i++) {
        int got = 0;
        snprintf(id, sizeof id, "s%d", i);
        r->failures +=
            r->st->ops->session_revoke(r->st, id, T0, &got, NULL) != AA_OK;
        r->revoked += got;
        snprintf(id, sizeof id, "g%d", i);
        r->failures +=
            r->st->ops->delegation_revoke(r->st, id, T0, &got, NULL) != AA_OK;
        r->revoked += got;
    }
    return NULL;
}

static void test_concurrent_revoke(void **state) {
    aa_store *st = ((fx *)*state)->st;
    const char *acts[] = {"*"};
    char id[40];
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof id, "s%d", i);
        put_session(st, id, "a", "u", "", T0, T0 + SEC);
        snprintf(id, sizeof id, "g%d", i);
        put_grant(st, id, "u", "a", acts, 1, T0, T0 + SEC, "");
    }
    enum { N = 4 };
    pthread_t th[N];
    racer r[N];
    for (int i = 0; i < N; i++) {
        r[i] = (racer){.st = st};
        assert_int_equal(pthread_create(&th[i], NULL, revoke_all, &r[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].failures, 0);
        total += r[i].revoked;
    }
    assert_int_equal(total, 80);
    assert_string_equal(session_ids(st, NULL, NULL, T0), "");
    assert_string_equal(find(st, "a", "u", "x", T0), "-");
}

/* ---- SQLite only --------------------------------------------------------- */

/* Opens path, expecting failure `status`; returns the messages. */
static char *open_fails(const char *path, int status) {
    aa_error *err = aa_error_new();
    aa_store *st = (aa_store *)1;
    int rc = aa_store_open_sqlite(path, &st, err);
    char *text = tu_error_text(err);
    if (rc != status)
        fail_msg("open '%s' gave %d, wanted %d: %s", path, rc, status, text);
    assert_null(st);
    aa_error_free(err);
    return text;
}

static void test_sqlite_persists(void **state) {
    fx *f = *state;
    const char *acts[] = {"deploy:*", "read:logs"};
    put_session(f->st, "s1", "deployer", "alice", "prod", T0, T0 + 60 * SEC);
    put_session(f->st, "s2", "deployer", "alice", "", T0 + 1, T0 + 60 * SEC);
    put_grant(f->st, "g1", "alice", "deployer", acts, 2, T0, T0 + 60 * SEC,
              "why");
    int r;
    assert_int_equal(f->st->ops->session_revoke(f->st, "s2", T0, &r, NULL),
                     AA_OK);
    aa_store_free(f->st);
    f->st = NULL;

    assert_int_equal(aa_store_open_sqlite(f->path, &f->st, NULL), AA_OK);
    aa_session s;
    assert_int_equal(f->st->ops->session_get(f->st, "s1", T0, &s, NULL), AA_OK);
    assert_string_equal(s.agent, "deployer");
    assert_string_equal(s.user, "alice");
    assert_string_equal(s.scope, "prod");
    assert_true(s.created_at == T0 && s.expires_at == T0 + 60 * SEC);
    aa_session_clear(&s);
    assert_int_equal(session_status(f->st, "s2", T0), AA_GRANT_REVOKED);
    assert_string_equal(find(f->st, "deployer", "alice", "read:logs", T0),
                        "g1 read:logs");

    /* A second store on the same file sees the first one's writes. */
    aa_store *other = NULL;
    assert_int_equal(aa_store_open_sqlite(f->path, &other, NULL), AA_OK);
    put_session(other, "s3", "reader", "bob", "", T0, T0 + SEC);
    assert_int_equal(session_status(f->st, "s3", T0), AA_GRANT_ACTIVE);
    assert_int_equal(f->st->ops->session_revoke(f->st, "s3", T0, &r, NULL),
                     AA_OK);
    assert_int_equal(r, 1);
    assert_int_equal(other->ops->session_revoke(other, "s3", T0, &r, NULL),
                     AA_OK);
    assert_int_equal(r, 0);
    aa_store_free(other);
}

/* Lookups are cached; a change made through another handle (another
 * process) must show at once in this one: revocation, a new grant, a new
 * session with an id looked up before, expiry by the clock. */
static void test_sqlite_cache_sees_other_writers(void **state) {
    fx *f = *state;
    aa_store *other = NULL;
    assert_int_equal(aa_store_open_sqlite(f->path, &other, NULL), AA_OK);
    const char *acts[] = {"deploy:*"};
    put_session(f->st, "s1", "bot", "alice", "", T0, T0 + 60 * SEC);
    put_grant(f->st, "g1", "alice", "bot", acts, 1, T0, T0 + 60 * SEC, "");

    /* Warm this handle's cache, twice so the second read is a cache hit. */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(session_status(f->st, "s1", T0), AA_GRANT_ACTIVE);
        assert_string_equal(find(f->st, "bot", "alice", "deploy:web", T0),
                            "g1 deploy:*");
        assert_string_equal(find(f->st, "bot", "bob", "deploy:web", T0), "-");
    }
    aa_session s;
    assert_int_equal(f->st->ops->session_get(f->st, "s9", T0, &s, NULL),
                     AA_ENOTFOUND);

    int r = 0;
    assert_int_equal(other->ops->session_revoke(other, "s1", T0, &r, NULL),
                     AA_OK);
    assert_int_equal(r, 1);
    assert_int_equal(session_status(f->st, "s1", T0), AA_GRANT_REVOKED);

    assert_int_equal(other->ops->delegation_revoke(other, "g1", T0, &r, NULL),
                     AA_OK);
    assert_string_equal(find(f->st, "bot", "alice", "deploy:web", T0), "-");

    put_grant(other, "g2", "bob", "bot", acts, 1, T0, T0 + 60 * SEC, "");
    assert_string_equal(find(f->st, "bot", "bob", "deploy:web", T0),
                        "g2 deploy:*");

    put_session(other, "s9", "bot", "bob", "", T0, T0 + 60 * SEC);
    assert_int_equal(session_status(f->st, "s9", T0), AA_GRANT_ACTIVE);

    /* Cached and still valid for the store, but expired by the clock. */
    assert_string_equal(
        find(f->st, "bot", "bob", "deploy:web", T0 + 60 * SEC - 1),
        "g2 deploy:*");
    assert_string_equal(find(f->st, "bot", "bob", "deploy:web", T0 + 60 * SEC),
                        "-");
    assert_int_equal(session_status(f->st, "s9", T0 + 60 * SEC - 1),
                     AA_GRANT_ACTIVE);
    assert_int_equal(session_status(f->st, "s9", T0 + 60 * SEC),
                     AA_GRANT_EXPIRED);
    /* ... and marked in the file, for every process. */
    assert_int_equal(session_status(other, "s9", T0), AA_GRANT_EXPIRED);
    aa_store_free(other);
}

/* session_get_into: strings in the caller's buffer, AA_ELIMIT when they do
 * not fit (from the cache and from the file alike), AA_ENOTFOUND for an
 * unknown id, and nothing to free. */
static void test_sqlite_session_get_into(void **state) {
    fx *f = *state;
    char agent[300];
    memset(agent, 'a', sizeof agent - 1);
    agent[sizeof agent - 1] = 0;
    put_session(f->st, "s1", agent, "alice", "prod:*", T0, T0 + 60 * SEC);
    char buf[400];
    aa_session v;
    for (int pass = 0; pass < 2; pass++) { /* the file, then the cache */
        memset(&v, 0, sizeof v);
        assert_int_equal(f->st->ops->session_get_into(f->st, "s1", T0, &v, buf,
                                                      sizeof buf, NULL),
                         AA_OK);
        assert_string_equal(v.agent, agent);
        assert_string_equal(v.user, "alice");
        assert_string_equal(v.scope, "prod:*");
        assert_int_equal(v.status, AA_GRANT_ACTIVE);
        assert_true(v.scope > buf && v.scope < buf + sizeof buf);
        /* 300 + 6 + 7 bytes do not fit in 310 */
        assert_int_equal(
            f->st->ops->session_get_into(f->st, "s1", T0, &v, buf, 310, NULL),
            AA_ELIMIT);
        assert_int_equal(f->st->ops->session_get_into(f->st, "nope", T0, &v,
                                                      buf, sizeof buf, NULL),
                         AA_ENOTFOUND);
    }
    /* Expired by the clock while cached: marked, as with session_get. */
    assert_int_equal(f->st->ops->session_get_into(f->st, "s1", T0 + 60 * SEC,
                                                  &v, buf, sizeof buf, NULL),
                     AA_OK);
    assert_int_equal(v.status, AA_GRANT_EXPIRED);
    assert_int_equal(session_status(f->st, "s1", T0), AA_GRANT_EXPIRED);
}

static void test_sqlite_file_modes(void **state) {
    fx *f = *state;
    mode_t old = umask(022);
    char *path = tu_join(f->dir, "made/deeper/state.db");
    aa_store *st = NULL;
    int rc = aa_store_open_sqlite(path, &st, NULL);
    umask(old);
    assert_int_equal(rc, AA_OK);
    put_session(st, "s1", "a", "u", "", T0, T0 + SEC); /* WAL is in use */

    struct stat sb;
    char *made = tu_join(f->dir, "made");
    char *deeper = tu_join(f->dir, "made/deeper");
    assert_int_equal(stat(made, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_int_equal(stat(deeper, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    const char *side[] = {"made/deeper/state.db-wal",
                          "made/deeper/state.db-shm"};
    for (int i = 0; i < 2; i++) {
        char *p = tu_join(f->dir, side[i]);
        assert_int_equal(stat(p, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0600);
        free(p);
    }
    /* WAL mode is on */
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(
        sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    sqlite3_close(db);

    aa_store_free(st);
    free(made);
    free(deeper);
    free(path);
}

static void test_sqlite_corrupt_file(void **state) {
    fx *f = *state;
    char *path = tu_join(f->dir, "junk.db");
    char junk[8192];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof junk; i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (char)(x >> 16);
    }
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(junk, 1, sizeof junk, fp), sizeof junk);
    fclose(fp);

    char *text = open_fails(path, AA_ESTATE);
    char want[512];
    snprintf(want, sizeof want, "state store '%s': file is not a database",
             path);
    if (!strstr(text, want))
        fail_msg("message was: %s", text);
    free(text);
    /* untouched */
    size_t len;
    char *after = tu_read_file(path, &len);
    assert_int_equal(len, sizeof junk);
    assert_memory_equal(after, junk, sizeof junk);
    free(after);
    free(path);
}

/* Statements are prepared on first use: one that cannot be (its table
 * was dropped behind the store's back) is a state error that names the
 * store, for every operation, and never a crash. */
static void test_sqlite_statement_fails_to_prepare(void **state) {
    fx *f = *state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TABLE sessions; DROP TABLE "
                                  "delegations",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    aa_error *err = aa_error_new();
    aa_session s;
    assert_int_equal(f->st->ops->session_get(f->st, "s1", T0, &s, err),
                     AA_ESTATE);
    char buf[256];
    assert_int_equal(
        f->st->ops->session_get_into(f->st, "s1", T0, &s, buf, sizeof buf, err),
        AA_ESTATE);
    aa_session put = {.agent = "a",
                      .user = "u",
                      .scope = "",
                      .created_at = T0,
                      .expires_at = T0 + SEC};
    strcpy(put.session_id, "s1");
    assert_int_equal(f->st->ops->session_put(f->st, &put, err), AA_ESTATE);
    int revoked = 7;
    assert_int_equal(f->st->ops->session_revoke(f->st, "s1", T0, &revoked, err),
                     AA_ESTATE);
    assert_int_equal(revoked, 0);
    aa__deleg_hit hit;
    assert_int_equal(
        f->st->ops->delegation_find(f->st, "a", "u", "x", T0, &hit, err),
        AA_ESTATE);
    aa_delegation *list = NULL;
    size_t n = 9;
    assert_int_equal(
        f->st->ops->delegation_list(f->st, NULL, T0, &list, &n, err),
        AA_ESTATE);
    assert_int_equal(n, 0);
    size_t marked = 9, purged = 9;
    assert_int_equal(f->st->ops->cleanup(f->st, T0, SEC, &marked, &purged, err),
                     AA_ESTATE);
    char *t = tu_error_text(err);
    assert_non_null(strstr(t, "preparing a statement"));
    assert_non_null(strstr(t, f->path));
    assert_non_null(strstr(t, "no such table"));
    free(t);
    aa_error_free(err);
}

static void test_sqlite_foreign_database(void **state) {
    fx *f = *state;
    char *path = tu_join(f->dir, "other.db");
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "CREATE TABLE songs (title TEXT)", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    char *text = open_fails(path, AA_ESTATE);
    assert_non_null(strstr(text, "not an agent-auth state store"));
    assert_non_null(strstr(text, path));
    free(text);

    /* a newer schema version is refused, not reinterpreted */
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "PRAGMA user_version = 7", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    text = open_fails(f->path, AA_ESTATE);
    assert_non_null(strstr(text, "schema version 7"));
    free(text);

    text = open_fails("", AA_EINVAL);
    free(text);
    /* the parent "directory" is a file */
    char *under = tu_join(f->path, "x.db");
    text = open_fails(under, AA_ESTATE);
    assert_non_null(strstr(text, under));
    free(text);
    free(under);
    free(path);
}

/* Runs fn(arg) in a child process without root's privileges (root reads
 * and writes anything), and returns what the child wrote to the pipe. */
static char *as_unprivileged(void (*fn)(const char *arg, int out),
                             const char *arg) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(3);
        fn(arg, fds[1]);
        _exit(0);
    }
    close(fds[1]);
    static char buf[4096];
    size_t n = 0;
    ssize_t r;
    while ((r = read(fds[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = 0;
    close(fds[0]);
    int wst;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFEXITED(wst));
    assert_int_equal(WEXITSTATUS(wst), 0);
    return buf;
}

/* Child: opens the store at arg, writes "<status>|<messages>". */
static void try_open(const char *path, int out) {
    aa_error *err = aa_error_new();
    aa_store *st = NULL;
    int rc = aa_store_open_sqlite(path, &st, err);
    if (rc == AA_OK) {
        /* an open that succeeded must also fail cleanly on write */
        aa_session s = {.agent = "a",
                        .user = "u",
                        .scope = "",
                        .created_at = T0,
                        .expires_at = T0 + SEC};
        strcpy(s.session_id, "s1");
        rc = st->ops->session_put(st, &s, err);
        aa_store_free(st);
    }
    char *text = tu_error_text(err);
    dprintf(out, "%d|%s", rc, text);
    free(text);
    aa_error_free(err);
}

static void test_sqlite_unreadable_file(void **state) {
    fx *f = *state;
    assert_int_equal(chmod(f->dir, 0755), 0);
    if (geteuid() == 0) /* the directory is nobody's own: only the file is
                           unreadable */
        assert_int_equal(chown(f->dir, 65534, 65534), 0);
    assert_int_equal(chmod(f->path, 0000), 0);
    char *got = as_unprivileged(try_open, f->path);
    char want[512];
    snprintf(want, sizeof want, "%d|state store '%s': ", AA_ESTATE, f->path);
    if (strncmp(got, want, strlen(want)) != 0)
        fail_msg("got: %s", got);
    assert_non_null(strstr(got, "Permission denied"));
    assert_int_equal(chmod(f->path, 0600), 0);
}

static void test_sqlite_readonly_directory(void **state) {
    fx *f = *state;
    char *ro = tu_join(f->dir, "ro");
    assert_int_equal(mkdir(ro, 0555), 0);
    assert_int_equal(chmod(ro, 0555), 0);
    assert_int_equal(chmod(f->dir, 0755), 0);
    if (geteuid() == 0) /* nobody's own directory, read-only to nobody */
        assert_int_equal(chown(ro, 65534, 65534), 0);
    char *path = tu_join(ro, "state.db");
    char *got = as_unprivileged(try_open, path);
    char want[512];
    snprintf(want, sizeof want, "%d|state store '%s': ", AA_ESTATE, path);
    if (strncmp(got, want, strlen(want)) != 0)
        fail_msg("got: %s", got);
    assert_non_null(strstr(got, "Permission denied"));
    struct stat sb;
    assert_int_equal(stat(path, &sb), -1); /* nothing created */

    /* An existing store, writable, in a directory that is not: SQLite
     * cannot make its WAL files there. */
    aa_store_free(((fx *)*state)->st);
    f->st = NULL;
    char *db = tu_join(ro, "old.db");
    assert_int_equal(chmod(ro, 0755), 0);
    assert_int_equal(rename(f->path, db), 0);
    assert_int_equal(chmod(ro, 0555), 0);
    if (geteuid() == 0)
        assert_int_equal(chown(db, 65534, 65534), 0);
    got = as_unprivileged(try_open, db);
    snprintf(want, sizeof want, "state store '%s': ", db);
    if (strncmp(got, "0|", 2) == 0 || !strstr(got, want))
        fail_msg("got: %s", got);
    assert_true(strncmp(got, "-7|", 3) == 0 || strncmp(got, "-11|", 4) == 0);
    assert_int_equal(chmod(ro, 0755), 0); /* so that teardown can remove it */
    free(db);
    free(path);
    free(ro);
}

/* Every plan line of EXPLAIN QUERY PLAN, joined with ';'. */
static char *query_plan(sqlite3 *db, const char *sql) {
    char q[2048];
    snprintf(q, sizeof q, "EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
    static char plan[2048];
    plan[0] = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        strncat(plan, (const char *)sqlite3_column_text(st, 3),
                sizeof plan - strlen(plan) - 2);
        strcat(plan, ";");
    }
    sqlite3_finalize(st);
    return plan;
}

static void test_sqlite_lookups_use_indexes(void **state) {
    fx *f = *state;
    /* enough rows of other pairs for a scan to be a real choice */
    const char *acts[] = {"x:*"};
    char id[40], agent[32];
    for (int i = 0; i < 60; i++) {
        snprintf(id, sizeof id, "g%d", i);
        snprintf(agent, sizeof agent, "agent-%d", i % 20);
        put_grant(f->st, id, "u", agent, acts, 1, T0 + i, T0 + SEC, "");
        snprintf(id, sizeof id, "s%d", i);
        put_session(f->st, id, agent, "u", "", T0 + i, T0 + SEC);
    }
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    const char *plan = query_plan(db, aa__store_sqlite_sql("delegation_find"));
    if (!strstr(plan, "SEARCH delegations USING INDEX delegations_live "
                      "(to_agent=? AND from_user=?)") ||
        strstr(plan, "SCAN") || strstr(plan, "TEMP B-TREE"))
        fail_msg("delegation_find plan: %s", plan);

    plan = query_plan(db, aa__store_sqlite_sql("session_get"));
    if (!strstr(plan, "SEARCH sessions USING INDEX") ||
        !strstr(plan, "(session_id=?)") || strstr(plan, "SCAN"))
        fail_msg("session_get plan: %s", plan);

    plan = query_plan(db, aa__store_sqlite_sql("delegation_get"));
    if (!strstr(plan, "(delegation_id=?)") || strstr(plan, "SCAN"))
        fail_msg("delegation_get plan: %s", plan);

    plan = query_plan(db, aa__store_sqlite_sql("session_list_agent"));
    if (!strstr(plan, "USING INDEX sessions_live (agent=?)") ||
        strstr(plan, "SCAN"))
        fail_msg("session_list_agent plan: %s", plan);
    sqlite3_close(db);
    assert_null(aa__store_sqlite_sql("nothing"));
}

static void test_sqlite_lock_timeout(void **state) {
    fx *f = *state;
    aa_store_free(f->st);
    f->st = NULL;
    setenv("AA_STATE_BUSY_TIMEOUT_MS", "100", 1);
    int rc = aa_store_open_sqlite(f->path, &f->st, NULL);
    unsetenv("AA_STATE_BUSY_TIMEOUT_MS");
    assert_int_equal(rc, AA_OK);
    const char *acts[] = {"x:*"};
    put_grant(f->st, "g1", "u", "a", acts, 1, T0, T0 + SEC, "");
    put_session(f->st, "old", "a", "u", "", T0, T0 + SEC);

    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
                     SQLITE_OK);

    aa_error *err = aa_error_new();
    aa_session s = {.agent = "a",
                    .user = "u",
                    .scope = "",
                    .created_at = T0,
                    .expires_at = T0 + SEC};
    strcpy(s.session_id, "s1");
    assert_int_equal(f->st->ops->session_put(f->st, &s, err), AA_EBUSY);
    char *text = tu_error_text(err);
    char want[512];
    snprintf(want, sizeof want, "state store '%s': database is locked",
             f->path);
    if (!strstr(text, want) || !strstr(text, "100 ms"))
        fail_msg("message: %s", text);
    free(text);
    aa_error_clear(err);
    int revoked = 5;
    assert_int_equal(
        f->st->ops->delegation_revoke(f->st, "g1", T0, &revoked, err),
        AA_EBUSY);
    assert_int_equal(revoked, 0);
    size_t m, p;
    assert_int_equal(f->st->ops->cleanup(f->st, T0 + 2 * SEC, 0, &m, &p, err),
                     AA_EBUSY);
    /* an ended session reads as expired even when the mark cannot be
     * written yet */
    aa_error_clear(err);
    aa_session got;
    assert_int_equal(
        f->st->ops->session_get(f->st, "old", T0 + 2 * SEC, &got, err), AA_OK);
    assert_int_equal(got.status, AA_GRANT_EXPIRED);
    assert_int_equal(aa_error_count(err), 0);
    aa_session_clear(&got);
    /* readers are not blocked by a writer in WAL mode */
    assert_string_equal(find(f->st, "a", "u", "x:1", T0), "g1 x:*");

    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(f->st->ops->session_put(f->st, &s, NULL), AA_OK);
    assert_int_equal(
        f->st->ops->delegation_revoke(f->st, "g1", T0, &revoked, NULL), AA_OK);
    assert_int_equal(revoked, 1);
    aa_error_free(err);
}

/* A store opened lazily before its file exists: nothing is found and
 * nothing is created until another handle writes; then it sees what that
 * one wrote, and its own writes go to the same file. */
static void test_lazy_sees_later_store(void **state) {
    fx *f = *state;
    aa_session s;
    memset(&s, 0, sizeof s);
    assert_int_equal(f->st->ops->session_get(f->st, "s1", T0, &s, NULL),
                     AA_ENOTFOUND);
    aa__deleg_hit hit;
    assert_int_equal(f->st->ops->delegation_find(f->st, "a", "u", "deploy:x",
                                                 T0, &hit, NULL),
                     AA_ENOTFOUND);
    aa_session *list = NULL;
    size_t n = 9;
    assert_int_equal(
        f->st->ops->session_list(f->st, NULL, NULL, T0, &list, &n, NULL),
        AA_OK);
    assert_int_equal(n, 0);
    struct stat sb;
    assert_int_equal(stat(f->path, &sb), -1); /* lookups create nothing */

    aa_store *other = NULL;
    assert_int_equal(aa_store_open_sqlite(f->path, &other, NULL), AA_OK);
    put_session(other, "s1", "a", "u", "", T0, T0 + 60 * SEC);
    memset(&s, 0, sizeof s);
    assert_int_equal(f->st->ops->session_get(f->st, "s1", T0, &s, NULL), AA_OK);
    assert_string_equal(s.agent, "a");
    aa_session_clear(&s);
    /* a grant: the delegation lookup looks again within a millisecond */
    const char *acts[] = {"deploy:*"};
    put_grant(other, "g1", "u", "a", acts, 1, T0, T0 + 60 * SEC, "");
    usleep(2000);
    assert_int_equal(f->st->ops->delegation_find(f->st, "a", "u", "deploy:x",
                                                 T0, &hit, NULL),
                     AA_OK);
    put_session(f->st, "s2", "b", "u", "", T0, T0 + 60 * SEC);
    memset(&s, 0, sizeof s);
    assert_int_equal(other->ops->session_get(other, "s2", T0, &s, NULL), AA_OK);
    aa_session_clear(&s);
    aa_store_free(other);
}

/* What is already there is checked when the lazy store is opened. */
static void test_lazy_refuses_planted_directory(void **state) {
    fx *f = *state;
    char *dir = tu_join(f->dir, "planted");
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(chown(dir, 65534, 65534), geteuid() == 0 ? 0 : -1);
    char *path = tu_join(dir, "state.db");
    aa_store *st = NULL;
    aa_error *err = aa_error_new();
    if (geteuid() == 0) {
        assert_int_equal(aa_store_open_sqlite_lazy(path, &st, err), AA_ESTATE);
        assert_null(st);
        char *t = tu_error_text(err);
        assert_non_null(strstr(t, "belongs to another user"));
        free(t);
    }
    aa_error_free(err);
    assert_int_equal(chmod(dir, 0770), geteuid() == 0 ? 0 : -1);
    if (geteuid() == 0) {
        assert_int_equal(chown(dir, 0, 0), 0);
        assert_int_equal(aa_store_open_sqlite_lazy(path, &st, NULL), AA_ESTATE);
    }
    free(path);
    free(dir);
}

/* Audit heads (audit anchoring): optional ops, a store that has them
 * records a head by the log's identity, only forward, and finds the
 * latest head of a path. The others leave both NULL. */
static aa__anchor anchor_of(char id, const char *path, int64_t lines, char hash,
                            int64_t at) {
    aa__anchor a;
    memset(&a, 0, sizeof a);
    memset(a.identity, id, 64);
    memset(a.hash, hash, 64);
    snprintf(a.path, sizeof a.path, "%s", path);
    a.lines = lines;
    a.updated_at = at;
    return a;
}

static void test_anchor_ops(void **state) {
    fx *f = *state;
    const aa__store_ops *ops = f->st->ops;
    if (strcmp(ops->kind, "postgresql") != 0) {
        assert_null(ops->anchor_put);
        assert_null(ops->anchor_get);
        assert_int_equal(aa_store_ping(f->st, NULL), AA_OK);
        return;
    }
    aa__anchor by_id, by_path;
    bool fid, fpath;
    char ida[65], idb[65];
    memset(ida, 'a', 64);
    memset(idb, 'b', 64);
    ida[64] = idb[64] = 0;
    /* nothing recorded (no tables yet): found neither */
    assert_int_equal(ops->anchor_get(f->st, ida, "/log/a", &by_id, &fid,
                                     &by_path, &fpath, NULL),
                     AA_OK);
    assert_false(fid);
    assert_false(fpath);
    aa__anchor a = anchor_of('a', "/log/a", 5, '1', T0);
    assert_int_equal(ops->anchor_put(f->st, &a, NULL), AA_OK);
    a = anchor_of('a', "/log/a", 9, '2', T0 + 1);
    assert_int_equal(ops->anchor_put(f->st, &a, NULL), AA_OK);
    a = anchor_of('a', "/log/a", 7, '3', T0 + 2); /* backwards: ignored */
    assert_int_equal(ops->anchor_put(f->st, &a, NULL), AA_OK);
    assert_int_equal(ops->anchor_get(f->st, ida, "/log/a", &by_id, &fid,
                                     &by_path, &fpath, NULL),
                     AA_OK);
    assert_true(fid);
    assert_int_equal(by_id.lines, 9);
    assert_int_equal(by_id.hash[0], '2');
    assert_string_equal(by_id.path, "/log/a");
    assert_int_equal(by_id.updated_at, T0 + 1);
    assert_true(fpath);
    assert_string_equal(by_path.identity, ida);
    /* another log at the same path (rotated, or replaced): the latest */
    a = anchor_of('b', "/log/a", 1, '4', T0 + 5);
    assert_int_equal(ops->anchor_put(f->st, &a, NULL), AA_OK);
    assert_int_equal(ops->anchor_get(f->st, ida, "/log/a", &by_id, &fid,
                                     &by_path, &fpath, NULL),
                     AA_OK);
    assert_true(fid);
    assert_int_equal(by_id.lines, 9);
    assert_true(fpath);
    assert_string_equal(by_path.identity, idb);
    /* an unknown identity at an unknown path */
    assert_int_equal(ops->anchor_get(f->st, "c", "/log/c", &by_id, &fid,
                                     &by_path, &fpath, NULL),
                     AA_OK);
    assert_false(fid);
    assert_false(fpath);
    assert_int_equal(aa_store_ping(f->st, NULL), AA_OK);
}

/* aa_store_open_anchoring opens only a store that records audit heads: a
 * SQLite location gives NULL and no file; a refused location is an error. */
static void test_open_anchoring_sqlite(void **state) {
    fx *f = *state;
    size_t n = strlen(f->dir) + 32;
    char *other = malloc(n), *url = malloc(n + 8);
    snprintf(other, n, "%s/other.db", f->dir);
    aa_store_options o;
    aa_store_options_init(&o);
    o.use_env = 0;
    aa_store *st = (aa_store *)&o; /* set to NULL by the call */
    for (int plain = 0; plain < 2; plain++) {
        snprintf(url, n + 8, "%s%s", plain ? "" : "sqlite:", other);
        o.url = url;
        assert_int_equal(aa_store_open_anchoring(&o, &st, NULL), AA_OK);
        assert_null(st);
        struct stat sb;
        assert_int_equal(stat(other, &sb), -1); /* neither opened nor made */
    }
    o.url = f->path; /* an existing SQLite store: still none */
    assert_int_equal(aa_store_open_anchoring(&o, &st, NULL), AA_OK);
    assert_null(st);
    aa_error *err = aa_error_new();
    o.url = "ftp://example.com/state";
    assert_int_equal(aa_store_open_anchoring(&o, &st, err), AA_EINVAL);
    assert_null(st);
    char *t = tu_error_text(err);
    assert_non_null(strstr(t, "ftp://"));
    free(t);
    aa_error_free(err);
    assert_int_equal(aa_store_open_anchoring(&o, NULL, NULL), AA_EINVAL);
    free(other);
    free(url);
}

/* ... and a PostgreSQL one: the same database and schema as the engine's
 * store, with the audit head lookups. */
static void test_pg_open_anchoring(void **state) {
    fx *f = *state;
    aa_store_options o;
    aa_store_options_init(&o);
    o.use_env = 0;
    o.url = getenv("AA_PG_URL");
    o.schema = f->path;
    aa_store *st = NULL;
    aa_error *err = aa_error_new();
    int rc = aa_store_open_anchoring(&o, &st, err);
    if (rc != AA_OK) {
        char *t = tu_error_text(err);
        fail_msg("open: %s", t);
    }
    assert_non_null(st);
    assert_string_equal(aa_store_kind(st), "postgresql");
    assert_non_null(st->ops->anchor_get);
    aa__anchor a = anchor_of('a', "/log/a", 5, '1', T0);
    assert_int_equal(f->st->ops->anchor_put(f->st, &a, NULL), AA_OK);
    aa__anchor by_id, by_path;
    bool fid, fpath;
    char ida[65];
    memset(ida, 'a', 64);
    ida[64] = 0;
    assert_int_equal(st->ops->anchor_get(st, ida, "/log/a", &by_id, &fid,
                                         &by_path, &fpath, err),
                     AA_OK);
    assert_true(fid);
    assert_int_equal(by_id.lines, 5);
    aa_store_free(st);
    /* a database that is not there: the error, no store */
    o.url = "postgresql://127.0.0.1:1/none?connect_timeout=2";
    assert_int_equal(aa_store_open_anchoring(&o, &st, err), AA_ESTATE);
    assert_null(st);
    aa_error_free(err);
}

#define BOTH(t)                                                                \
    {"memory:" #t, t, setup_memory, teardown, NULL},                           \
        {"sqlite:" #t, t, setup_sqlite, teardown, NULL}, {                     \
        "lazy:" #t, t, setup_lazy, teardown, NULL                              \
    }
#define SQLITE(t)                                                              \
    { "sqlite:" #t, t, setup_sqlite, teardown, NULL }

#define PG(t)                                                                  \
    {"postgresql:" #t, t, setup_pg, teardown, NULL}, {                         \
        "postgresql-cached:" #t, t, setup_pg_cached, teardown, NULL            \
    }

#include "test_store_pg.inc"

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "postgresql") == 0) {
        if (!getenv("AA_PG_URL")) {
            fprintf(stderr, "FAIL: AA_PG_URL is not set (run through ctest, "
                            "or tests/pg/run.sh)\n");
            return 1;
        }
        const struct CMUnitTest pg[] = {
            PG(test_session_put_get),
            PG(test_session_expiry_boundary),
            PG(test_session_revoke),
            PG(test_session_list_filters_and_order),
            PG(test_delegation_put_get),
            PG(test_delegation_find_patterns),
            PG(test_delegation_find_bound_to_pair),
            PG(test_delegation_find_oldest_first),
            PG(test_delegation_revoked_and_expired_never_found),
            PG(test_delegation_list),
            PG(test_long_pattern_is_cut),
            PG(test_many_pairs),
            PG(test_cleanup_counts),
            PG(test_threads),
            PG(test_concurrent_revoke),
            PG(test_anchor_ops),
            PG(test_pg_open_anchoring),
            PG_ANCHOR_TESTS PG_ONLY_TESTS};
        return cmocka_run_group_tests(pg, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        BOTH(test_session_put_get),
        BOTH(test_session_expiry_boundary),
        BOTH(test_session_revoke),
        BOTH(test_session_list_filters_and_order),
        BOTH(test_delegation_put_get),
        BOTH(test_delegation_find_patterns),
        BOTH(test_delegation_find_bound_to_pair),
        BOTH(test_delegation_find_oldest_first),
        BOTH(test_delegation_revoked_and_expired_never_found),
        BOTH(test_delegation_list),
        BOTH(test_long_pattern_is_cut),
        BOTH(test_many_pairs),
        BOTH(test_cleanup_counts),
        BOTH(test_threads),
        BOTH(test_anchor_ops),
        BOTH(test_concurrent_revoke),
        SQLITE(test_sqlite_persists),
        SQLITE(test_open_anchoring_sqlite),
        SQLITE(test_sqlite_cache_sees_other_writers),
        SQLITE(test_sqlite_session_get_into),
        SQLITE(test_sqlite_file_modes),
        SQLITE(test_sqlite_corrupt_file),
        SQLITE(test_sqlite_foreign_database),
        SQLITE(test_sqlite_statement_fails_to_prepare),
        SQLITE(test_sqlite_unreadable_file),
        SQLITE(test_sqlite_readonly_directory),
        SQLITE(test_sqlite_lookups_use_indexes),
        SQLITE(test_sqlite_lock_timeout),
        {"lazy:test_lazy_sees_later_store", test_lazy_sees_later_store,
         setup_lazy, teardown, NULL},
        {"lazy:test_lazy_refuses_planted_directory",
         test_lazy_refuses_planted_directory, setup_lazy, teardown, NULL},
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
