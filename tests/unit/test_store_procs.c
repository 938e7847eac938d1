/*
 * test_store_procs.c - several processes on one SQLite state file at once.
 *
 * Eight processes each create 25 sessions and 25 delegations, all starting
 * together on a file that does not exist yet (so they also race to create
 * it), while two more list and revoke every fourth of them as they appear,
 * racing each other for the same rows. Afterwards every row is there
 * exactly once and each revocation was won by exactly one of them.
 */
#include "testutil.h"

#include <poll.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"

#define T0       INT64_C(1800000000000000)
#define HOUR     INT64_C(3600000000)
#define WRITERS  8
#define EACH     25
#define TOTAL    (WRITERS * EACH)
#define REVOKERS 2

/* Every fourth item is revoked: item i of writer w. */
static int doomed(int w, int i) {
    return (w * EACH + i) % 4 == 0;
}
#define DOOMED (TOTAL / 4)

_Noreturn static void die(const char *what, aa_error *err) {
    char *t = tu_error_text(err);
    fprintf(stderr, "[pid %d] %s: %s\n", (int)getpid(), what, t);
    free(t);
    _exit(1);
}

/* Blocks until the parent closes the write end. */
static void wait_for_go(int fd) {
    char c;
    while (read(fd, &c, 1) > 0) {
    }
}

static void writer(const char *path, int w) {
    aa_error *err = aa_error_new();
    aa_store *st;
    if (aa_store_open_sqlite(path, &st, err) != AA_OK)
        die("open", err);
    char agent[32], tag[32];
    snprintf(agent, sizeof agent, "agent-%d", w);
    for (int i = 0; i < EACH; i++) {
        snprintf(tag, sizeof tag, "w%d-i%d", w, i);
        aa_session s = {.agent = agent,
                        .user = "user",
                        .scope = tag,
                        .created_at = T0 + i,
                        .expires_at = T0 + HOUR};
        if (aa__uuid4(s.session_id) != AA_OK)
            die("uuid", err);
        if (st->ops->session_put(st, &s, err) != AA_OK)
            die("session_put", err);
        char action[48];
        snprintf(action, sizeof action, "job:%s", tag);
        char *acts[] = {"other:*", action};
        aa_delegation d = {.from_user = "user",
                           .to_agent = agent,
                           .actions = acts,
                           .action_count = 2,
                           .granted_at = T0 + i,
                           .expires_at = T0 + HOUR,
                           .reason = tag};
        if (aa__uuid4(d.delegation_id) != AA_OK)
            die("uuid", err);
        if (st->ops->delegation_put(st, &d, err) != AA_OK)
            die("delegation_put", err);
    }
    aa_store_free(st);
    aa_error_free(err);
}

static int parse_tag(const char *tag, int *w, int *i) {
    return sscanf(tag, "w%d-i%d", w, i) == 2 && *w >= 0 && *w < WRITERS &&
           *i >= 0 && *i < EACH;
}

/* One revoker's view: what it has tried, what it won. */
typedef struct tally {
    char sess_tried[WRITERS][EACH], del_tried[WRITERS][EACH];
    int nsess, ndel;
} tally;

/* Lists the live rows and revokes each doomed one not tried yet. Another
 * revoker may win the race: then this one's revoke reports 0. Either way a
 * second revoke must report 0. */
static void revoke_pass(aa_store *st, tally *t, aa_error *err) {
    aa_session *ss;
    size_t n;
    if (st->ops->session_list(st, NULL, "user", T0, &ss, &n, err) != AA_OK)
        die("session_list", err);
    for (size_t k = 0; k < n; k++) {
        int w, i, r1 = 0, r2 = 0;
        if (!parse_tag(ss[k].scope, &w, &i))
            die("bad scope", err);
        if (!doomed(w, i) || t->sess_tried[w][i])
            continue;
        if (st->ops->session_revoke(st, ss[k].session_id, T0, &r1, err) ||
            st->ops->session_revoke(st, ss[k].session_id, T0, &r2, err))
            die("session_revoke", err);
        if (r2 != 0)
            die("revoked twice", err);
        t->sess_tried[w][i] = 1;
        t->nsess += r1;
    }
    aa_session_list_free(ss, n);

    aa_delegation *ds;
    if (st->ops->delegation_list(st, NULL, T0, &ds, &n, err) != AA_OK)
        die("delegation_list", err);
    for (size_t k = 0; k < n; k++) {
        int w, i, r1 = 0, r2 = 0;
        if (!parse_tag(ds[k].reason, &w, &i))
            die("bad reason", err);
        if (!doomed(w, i) || t->del_tried[w][i])
            continue;
        if (st->ops->delegation_revoke(st, ds[k].delegation_id, T0, &r1, err) ||
            st->ops->delegation_revoke(st, ds[k].delegation_id, T0, &r2, err))
            die("delegation_revoke", err);
        if (r2 != 0)
            die("revoked twice", err);
        t->del_tried[w][i] = 1;
        t->ndel += r1;
    }
    aa_delegation_list_free(ds, n);
}

/* True once the parent has closed the other end of `fd`. */
static int closed(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

/* Revokes doomed rows as they appear until the writers are done (the
 * parent closes `done`), then makes a last pass; writes the number of
 * revocations it won (sessions, delegations) to `out`. */
static void revoker(const char *path, int done, int out) {
    aa_error *err = aa_error_new();
    aa_store *st;
    if (aa_store_open_sqlite(path, &st, err) != AA_OK)
        die("open", err);
    static tally t;
    for (int round = 0;; round++) {
        if (round > 60000) /* a safety net, not a timing assertion */
            die("gave up waiting for the writers", err);
        int last = closed(done);
        revoke_pass(st, &t, err);
        if (last)
            break;
        usleep(500);
    }
    dprintf(out, "%d %d\n", t.nsess, t.ndel);
    aa_store_free(st);
    aa_error_free(err);
}

/* SELECT that returns one integer. */
static long long count(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void test_processes_share_one_file(void **state) {
    (void)state;
    char *dir = tu_tmpdir();
    assert_non_null(dir);
    char path[512];
    snprintf(path, sizeof path, "%s/new/state.db", dir); /* not there yet */

    int go[2], done[2], res[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(done), 0);
    assert_int_equal(pipe(res), 0);
    pid_t pids[WRITERS + REVOKERS];
    for (int p = 0; p < WRITERS + REVOKERS; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            close(go[1]);
            close(done[1]);
            close(res[0]);
            wait_for_go(go[0]);
            if (p < WRITERS)
                writer(path, p);
            else
                revoker(path, done[0], res[1]);
            _exit(0);
        }
    }
    close(go[0]);
    close(done[0]);
    close(res[1]);
    close(go[1]); /* everyone starts now */

    for (int p = 0; p < WRITERS + REVOKERS; p++) {
        if (p == WRITERS)
            close(done[1]); /* the writers are done: last pass */
        int wst;
        assert_int_equal(waitpid(pids[p], &wst, 0), pids[p]);
        assert_true(WIFEXITED(wst));
        assert_int_equal(WEXITSTATUS(wst), 0);
    }
    /* The revokers raced for the same rows: each was won exactly once. */
    char buf[128] = {0};
    size_t got = 0;
    ssize_t r;
    while ((r = read(res[0], buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)r;
    close(res[0]);
    int nsess = 0, ndel = 0, lines = 0, a, b, used;
    for (const char *q = buf; sscanf(q, "%d %d\n%n", &a, &b, &used) == 2;
         q += used) {
        nsess += a;
        ndel += b;
        lines++;
    }
    assert_int_equal(lines, REVOKERS);
    assert_int_equal(nsess, DOOMED);
    assert_int_equal(ndel, DOOMED);

    /* Through the store: the live ones, each once. */
    aa_store *st;
    assert_int_equal(aa_store_open_sqlite(path, &st, NULL), AA_OK);
    aa_session *ss;
    size_t n;
    assert_int_equal(st->ops->session_list(st, NULL, NULL, T0, &ss, &n, NULL),
                     AA_OK);
    assert_int_equal(n, TOTAL - DOOMED);
    char seen[WRITERS][EACH] = {{0}};
    for (size_t k = 0; k < n; k++) {
        int w, i;
        assert_true(parse_tag(ss[k].scope, &w, &i));
        assert_false(doomed(w, i));
        assert_int_equal(seen[w][i]++, 0);
        assert_int_equal(ss[k].status, AA_GRANT_ACTIVE);
    }
    aa_session_list_free(ss, n);
    aa_delegation *ds;
    assert_int_equal(st->ops->delegation_list(st, NULL, T0, &ds, &n, NULL),
                     AA_OK);
    assert_int_equal(n, TOTAL - DOOMED);
    memset(seen, 0, sizeof seen);
    for (size_t k = 0; k < n; k++) {
        int w, i;
        assert_true(parse_tag(ds[k].reason, &w, &i));
        assert_false(doomed(w, i));
        assert_int_equal(seen[w][i]++, 0);
    }
    aa_delegation_list_free(ds, n);
    for (int w = 0; w < WRITERS; w++) {
        for (int i = 0; i < EACH; i++) {
            char agent[32], action[48];
            snprintf(agent, sizeof agent, "agent-%d", w);
            snprintf(action, sizeof action, "job:w%d-i%d", w, i);
            aa__deleg_hit hit;
            int rc = st->ops->delegation_find(st, agent, "user", action, T0,
                                              &hit, NULL);
            assert_int_equal(rc, doomed(w, i) ? AA_ENOTFOUND : AA_OK);
        }
    }
    aa_store_free(st);

    /* In the file: every row, once, with the right statuses. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    assert_int_equal(count(db, "SELECT count(*) FROM sessions"), TOTAL);
    assert_int_equal(count(db, "SELECT count(DISTINCT scope) FROM sessions"),
                     TOTAL);
    assert_int_equal(count(db, "SELECT count(*) FROM sessions"
                               " WHERE status = 'revoked'"),
                     DOOMED);
    assert_int_equal(count(db, "SELECT count(*) FROM delegations"), TOTAL);
    assert_int_equal(count(db, "SELECT count(DISTINCT reason) FROM"
                               " delegations"),
                     TOTAL);
    assert_int_equal(count(db, "SELECT count(*) FROM delegations"
                               " WHERE status = 'revoked'"),
                     DOOMED);
    assert_int_equal(count(db, "PRAGMA user_version"), 1);
    sqlite3_close(db);
    tu_rmdir(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_processes_share_one_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
