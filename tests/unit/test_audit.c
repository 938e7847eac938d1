/* test_audit.c - the audit log: line format, chain, reading, verifying,
 * rotating, failures (contract section 10). */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit.h"
#include "sha256.h"

/* ---- helpers ------------------------------------------------------------- */

typedef tu_dir_file fixture; /* dir, and path: dir/audit.jsonl */

/* The file split into lines (without '\n'); a final fragment without '\n'
 * is a line too. */
typedef struct lines {
    char **v;
    size_t n;
    char *text;
    size_t len;
    bool ends_nl; /* the file ends in '\n' */
} lines;

static lines read_lines(const char *path) {
    lines l = {0};
    l.text = tu_read_file(path, &l.len);
    assert_non_null(l.text);
    l.ends_nl = l.len > 0 && l.text[l.len - 1] == '\n';
    l.v = calloc(l.len + 1, sizeof *l.v);
    char *p = l.text, *end = l.text + l.len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        l.v[l.n++] = p;
        if (!nl)
            break;
        *nl = 0;
        p = nl + 1;
    }
    return l;
}

static void lines_free(lines *l) {
    free(l->v);
    free(l->text);
}

static void write_lines(const char *path, char **v, size_t n) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    for (size_t i = 0; i < n; i++)
        fprintf(fp, "%s\n", v[i]);
    fclose(fp);
}

static json_t *parse(const char *line) {
    json_error_t je;
    json_t *j = json_loads(line, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        fail_msg("not JSON (%s): %s", je.text, line);
    assert_true(json_is_object(j));
    return j;
}

static const char *jstr(json_t *j, const char *key) {
    json_t *v = json_object_get(j, key);
    if (!json_is_string(v))
        fail_msg("field %s is not a string", key);
    return json_string_value(v);
}

static void sha_hex(const char *data, size_t n, char out[65]) {
    unsigned char md[32];
    unsigned int len = 0;
    assert_true(EVP_Digest(data, n, md, &len, EVP_sha256(), NULL));
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The chain's digest: FIPS 180-2 vectors, and agreement with libcrypto's
 * EVP interface on lengths around the block size. */
static void test_sha256_vectors(void **state) {
    (void)state;
    char out[65];
    assert_true(aa__sha256_hex("", 0, out));
    assert_string_equal(
        out,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_true(aa__sha256_hex("abc", 3, out));
    assert_string_equal(
        out,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    assert_true(aa__sha256_hex(m, strlen(m), out));
    assert_string_equal(
        out,
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    size_t big = 1000000;
    char *a = malloc(big);
    assert_non_null(a);
    memset(a, 'a', big);
    assert_true(aa__sha256_hex(a, big, out));
    assert_string_equal(
        out,
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    for (size_t n = 50; n < 140; n++) {
        char want[65];
        sha_hex(a, n, want);
        assert_true(aa__sha256_hex(a, n, out));
        assert_string_equal(out, want);
    }
    free(a);
}

/* The hash of a line by the definition in audit.h, computed here
 * independently: the line with its ,"hash":"..." field removed. */
static void expected_hash(const char *line, char out[65]) {
    const char *h = strstr(line, ",\"hash\":\"");
    assert_non_null(h);
    size_t n = (size_t)(h - line);
    char *tmp = malloc(n + 2);
    memcpy(tmp, line, n);
    tmp[n] = '}';
    sha_hex(tmp, n + 1, out);
    free(tmp);
}

/* A complete line from a body that ends with the prev_hash field. */
static char *forge(const char *body_with_prev) {
    size_t n = strlen(body_with_prev);
    char *tmp = malloc(n + 2);
    memcpy(tmp, body_with_prev, n);
    tmp[n] = '}';
    char h[65];
    sha_hex(tmp, n + 1, h);
    free(tmp);
    char *out = malloc(n + 80);
    snprintf(out, n + 80, "%s,\"hash\":\"%s\"}", body_with_prev, h);
    return out;
}

static bool contains(const aa_error *err, const char *needle) {
    char *t = tu_error_text(err);
    bool ok = strstr(t, needle) != NULL;
    if (!ok)
        print_message("messages were: %s\n", t);
    free(t);
    return ok;
}

static const char *const ZEROS =
    "0000000000000000000000000000000000000000000000000000000000000000";

static aa_request req_of(const char *agent, const char *user,
                         const char *action) {
    return (aa_request){.agent = agent, .user = user, .action = action};
}

static int write_decision(aa__audit *a, const aa_request *r, bool allowed) {
    aa__audit_decision d = {
        .req = r,
        .allowed = allowed,
        .tier = AA_TIER_AUTONOMOUS,
        .reason = allowed ? "allowed" : "denied",
        .approval_policy = "",
        .evaluation_time_ms = 0.01,
        .config_name = "test",
        .config_version = "1.0",
    };
    aa_error *err = aa_error_new();
    int rc = aa__audit_write_decision(a, &d, err);
    if (rc != AA_OK) {
        char *t = tu_error_text(err);
        print_message("write failed: %s\n", t);
        free(t);
    }
    aa_error_free(err);
    return rc;
}

static void write_n(const char *path, aa__fsync_mode mode, int n) {
    aa__audit *a = NULL;
    assert_int_equal(aa__audit_open(path, mode, &a, NULL), AA_OK);
    for (int i = 0; i < n; i++) {
        char agent[32];
        snprintf(agent, sizeof agent, "agent-%d", i);
        aa_request r = req_of(agent, "alice", "read_file");
        assert_int_equal(write_decision(a, &r, i % 2 == 0), AA_OK);
    }
    aa__audit_close(a);
}

static void assert_verifies(const char *path, size_t want_lines) {
    aa_error *err = aa_error_new();
    size_t n = 99, bad = 99;
    int rc = aa_audit_verify(path, &n, &bad, err);
    if (rc != AA_OK) {
        char *t = tu_error_text(err);
        fail_msg("verify %s: %s", path, t);
    }
    assert_int_equal(n, want_lines);
    assert_int_equal(bad, 0);
    aa_error_free(err);
}

/* Verify must fail at `bad_line` with a message containing `kind`. */
static void assert_broken(const char *path, size_t bad_line, const char *kind) {
    aa_error *err = aa_error_new();
    size_t n, bad;
    assert_int_equal(aa_audit_verify(path, &n, &bad, err), AA_ETAMPER);
    assert_int_equal(bad, bad_line);
    assert_true(contains(err, kind));
    const aa_diag *d = aa_error_get(err, 0);
    assert_non_null(d);
    assert_int_equal(d->line, (int)bad_line);
    assert_string_equal(d->file, path);
    aa_error_free(err);
}

/* ---- the line format ----------------------------------------------------- */

static const char *const decision_keys[] = {"timestamp",
                                            "event_id",
                                            "event",
                                            "agent",
                                            "user",
                                            "action",
                                            "resource",
                                            "allowed",
                                            "tier",
                                            "reason",
                                            "requires_approval",
                                            "approval_policy",
                                            "session_id",
                                            "scope",
                                            "target_agent",
                                            "metadata",
                                            "evaluation_time_ms",
                                            "config_name",
                                            "config_version",
                                            "policy_sha256",
                                            "prev_hash",
                                            "hash"};

/* The keys appear exactly once each, in this order. */
static void assert_key_order(const char *line, json_t *j,
                             const char *const *keys, size_t n) {
    assert_int_equal(json_object_size(j), n);
    const char *at = line;
    for (size_t i = 0; i < n; i++) {
        char pat[64];
        snprintf(pat, sizeof pat, "\"%s\":", keys[i]);
        const char *p = strstr(at, pat);
        if (!p)
            fail_msg("key %s missing or out of order in %s", keys[i], line);
        at = p + strlen(pat);
    }
    size_t i = 0;
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v) {
        (void)v;
        assert_string_equal(key, keys[i++]);
    }
}

static void assert_timestamp(const char *ts, int64_t lo, int64_t hi) {
    assert_int_equal(strlen(ts), 32);
    assert_string_equal(ts + 26, "+00:00");
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[19], '.');
    int64_t us;
    assert_int_equal(aa_parse_time(ts, &us), AA_OK);
    assert_true(us >= lo && us <= hi);
}

static void assert_uuid4(const char *id) {
    assert_int_equal(strlen(id), 36);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(id[i], '-');
        else
            assert_non_null(strchr("0123456789abcdef", id[i]));
    }
    assert_int_equal(id[14], '4');
    assert_non_null(strchr("89ab", id[19]));
}

static void assert_chain_fields(const char *line, json_t *j,
                                const char *want_prev) {
    const char *prev = jstr(j, "prev_hash"), *hash = jstr(j, "hash");
    assert_string_equal(prev, want_prev);
    char h[65];
    expected_hash(line, h);
    assert_string_equal(hash, h);
}

static void test_decision_fields(void **state) {
    fixture *f = *state;
    aa__audit *a = NULL;
    int64_t t0 = aa_now();
    assert_int_equal(aa__audit_open(f->path, AA__FSYNC_NEVER, &a, NULL), AA_OK);
    aa_request allowed_req = {.agent = "claude",
                              .user = "alice",
                              .action = "read_file",
                              .resource = "/etc/hosts",
                              .scope = "project:x",
                              .session_id = "sess-1",
                              .target_agent = "helper"};
    aa__audit_decision allowed = {.req = &allowed_req,
                                  .allowed = true,
                                  .tier = AA_TIER_SOFT,
                                  .reason = "allowed by role \"reader\"",
                                  .requires_approval = true,
                                  .approval_policy = "sensitive",
                                  .evaluation_time_ms = 1.23456,
                                  .config_name = "enterprise",
                                  .config_version = "2.0"};
    assert_int_equal(aa__audit_write_decision(a, &allowed, NULL), AA_OK);
    aa_request denied_req = {.agent = "bot",
                             .user = "bob",
                             .action = "delete_db",
                             .target_agent = ""};
    aa__audit_decision denied = {.req = &denied_req,
                                 .allowed = false,
                                 .tier = AA_TIER_AUTONOMOUS,
                                 .reason = "action denied",
                                 .approval_policy = "",
                                 .evaluation_time_ms = 0.0004,
                                 .config_name = "enterprise",
                                 .config_version = "2.0"};
    assert_int_equal(aa__audit_write_decision(a, &denied, NULL), AA_OK);
    aa__audit_close(a);
    int64_t t1 = aa_now();

    lines l = read_lines(f->path);
    assert_int_equal(l.n, 2);
    assert_true(l.ends_nl);

    json_t *j = parse(l.v[0]);
    assert_key_order(l.v[0], j, decision_keys, AA__ARRAY_LEN(decision_keys));
    assert_timestamp(jstr(j, "timestamp"), t0, t1);
    assert_uuid4(jstr(j, "event_id"));
    assert_string_equal(jstr(j, "event"), "authorize");
    assert_string_equal(jstr(j, "agent"), "claude");
    assert_string_equal(jstr(j, "user"), "alice");
    assert_string_equal(jstr(j, "action"), "read_file");
    assert_string_equal(jstr(j, "resource"), "/etc/hosts");
    assert_true(json_is_true(json_object_get(j, "allowed")));
    assert_string_equal(jstr(j, "tier"), "soft");
    assert_string_equal(jstr(j, "reason"), "allowed by role \"reader\"");
    assert_true(json_is_true(json_object_get(j, "requires_approval")));
    assert_string_equal(jstr(j, "approval_policy"), "sensitive");
    assert_string_equal(jstr(j, "session_id"), "sess-1");
    assert_string_equal(jstr(j, "scope"), "project:x");
    assert_string_equal(jstr(j, "target_agent"), "helper");
    assert_true(json_is_number(json_object_get(j, "evaluation_time_ms")));
    assert_non_null(strstr(l.v[0], "\"evaluation_time_ms\":1.235,"));
    assert_string_equal(jstr(j, "config_name"), "enterprise");
    assert_string_equal(jstr(j, "config_version"), "2.0");
    assert_chain_fields(l.v[0], j, ZEROS);
    char first_hash[65], first_id[37];
    strcpy(first_hash, jstr(j, "hash"));
    strcpy(first_id, jstr(j, "event_id"));
    json_decref(j);

    j = parse(l.v[1]);
    assert_key_order(l.v[1], j, decision_keys, AA__ARRAY_LEN(decision_keys));
    assert_timestamp(jstr(j, "timestamp"), t0, t1);
    assert_uuid4(jstr(j, "event_id"));
    assert_string_not_equal(jstr(j, "event_id"), first_id);
    assert_string_equal(jstr(j, "event"), "authorize");
    assert_string_equal(jstr(j, "agent"), "bot");
    assert_string_equal(jstr(j, "user"), "bob");
    assert_string_equal(jstr(j, "action"), "delete_db");
    assert_string_equal(jstr(j, "resource"), "");
    assert_true(json_is_false(json_object_get(j, "allowed")));
    assert_string_equal(jstr(j, "tier"), "autonomous");
    assert_string_equal(jstr(j, "reason"), "action denied");
    assert_true(json_is_false(json_object_get(j, "requires_approval")));
    assert_string_equal(jstr(j, "approval_policy"), "");
    assert_true(json_is_null(json_object_get(j, "session_id")));
    assert_string_equal(jstr(j, "scope"), "");
    assert_true(json_is_null(json_object_get(j, "target_agent")));
    assert_non_null(strstr(l.v[1], "\"evaluation_time_ms\":0.000,"));
    assert_string_equal(jstr(j, "config_name"), "enterprise");
    assert_chain_fields(l.v[1], j, first_hash);
    json_decref(j);
    lines_free(&l);
    assert_verifies(f->path, 2);
}

/* evaluation_time_ms is written as "%.3f" writes it, and the timestamp as
 * aa_format_time's ISO 8601 text of the time given (both are formatted
 * without printf on the common path). */
static void test_number_and_time_text(void **state) {
    fixture *f = *state;
    aa__audit *a = NULL;
    assert_int_equal(aa__audit_open(f->path, AA__FSYNC_NEVER, &a, NULL), AA_OK);
    const double ms[] = {0,      0.0004, 0.0005,  0.0015,   0.004,
                         0.0125, 1.2345, 12.0005, 999.9999, 123456.789,
                         1e-9,   -1.5,   1e300,   2.5e-3,   7.0};
    const int64_t ts[] = {INT64_C(1765000000123456),
                          INT64_C(1765000000000042),
                          INT64_C(1765000000999999),
                          INT64_C(1765000001000000),
                          1,
                          INT64_C(999999),
                          INT64_C(4102444799999999)};
    size_t nts = sizeof ts / sizeof ts[0];
    size_t n = sizeof ms / sizeof ms[0];
    aa_request r = req_of("a", "u", "x");
    for (size_t i = 0; i < n; i++) {
        aa__audit_decision d = {.req = &r,
                                .reason = "",
                                .approval_policy = "",
                                .evaluation_time_ms = ms[i],
                                .time_us = ts[i % nts]};
        assert_int_equal(aa__audit_write_decision(a, &d, NULL), AA_OK);
    }
    aa__audit_close(a);
    lines l = read_lines(f->path);
    assert_int_equal(l.n, n);
    for (size_t i = 0; i < n; i++) {
        char want[64], key[96];
        snprintf(want, sizeof want, "%.3f", ms[i] < 1e15 ? ms[i] : 0.0);
        snprintf(key, sizeof key, "\"evaluation_time_ms\":%s,", want);
        if (!strstr(l.v[i], key))
            fail_msg("%g: want %s in %s", ms[i], key, l.v[i]);
        char t[33];
        aa_format_time(ts[i % nts], t);
        snprintf(key, sizeof key, "{\"timestamp\":\"%s\",", t);
        assert_true(strncmp(l.v[i], key, strlen(key)) == 0);
    }
    char t[33];
    aa_format_time(INT64_C(1765000000123456), t);
    assert_string_equal(t, "2025-12-06T05:46:40.123456+00:00");
    aa_format_time(0, t);
    assert_string_equal(t, "1970-01-01T00:00:00.000000+00:00");
    aa_format_time(INT64_C(-1), t);
    assert_string_equal(t, "1969-12-31T23:59:59.999999+00:00");
    lines_free(&l);
}

static void test_creates_directories_owner_only(void **state) {
    fixture *f = *state;
    char *path = tu_join(f->dir, "a/b/c/audit.jsonl");
    aa__audit *a = NULL;
    assert_int_equal(aa__audit_open(path, AA__FSYNC_NEVER, &a, NULL), AA_OK);
    aa__audit_close(a);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char *d = tu_join(f->dir, "a/b/c");
    assert_int_equal(stat(d, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    free(d);
    d = tu_join(f->dir, "a");
    assert_int_equal(stat(d, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    free(d);
    free(path);
}

static void test_lifecycle_events(void **state) {
    fixture *f = *state;
    aa__audit *a = NULL;
    assert_int_equal(aa__audit_open(f->path, AA__FSYNC_NEVER, &a, NULL), AA_OK);
    const aa__audit_field f1[] = {
        {"session_id", AA__AF_STR, .str = "s-1"},
        {"agent", AA__AF_STR, .str = "claude"},
        {"user", AA__AF_STR, .str = "alice"},
        {"scope", AA__AF_STR, .str = ""},
    };
    assert_int_equal(
        aa__audit_write_event(a, "session.create", f1, AA__ARRAY_LEN(f1), NULL),
        AA_OK);
    /* A newline in a value must not split the line; NULL is null; a list. */
    const char *const acts[] = {"read:*", "a\"b"};
    const aa__audit_field f2[] = {
        {"delegation_id", AA__AF_STR, .str = "d-9\r\n"},
        {"reason", AA__AF_STR, .str = NULL},
        {"actions", AA__AF_STRLIST, .list = acts, .count = 2},
    };
    assert_int_equal(aa__audit_write_event(a, "delegation.revoke", f2,
                                           AA__ARRAY_LEN(f2), NULL),
                     AA_OK);
    assert_int_equal(aa__audit_write_event(a, "audit.test", NULL, 0, NULL),
                     AA_OK);
    aa__audit_close(a);

    lines l = read_lines(f->path);
    assert_int_equal(l.n, 3);
    json_t *j = parse(l.v[0]);
    static const char *const k1[] = {"timestamp",  "event_id",  "event",
                                     "session_id", "agent",     "user",
                                     "scope",      "prev_hash", "hash"};
    assert_key_order(l.v[0], j, k1, AA__ARRAY_LEN(k1));
    assert_string_equal(jstr(j, "event"), "session.create");
    assert_string_equal(jstr(j, "session_id"), "s-1");
    assert_uuid4(jstr(j, "event_id"));
    assert_chain_fields(l.v[0], j, ZEROS);
    char h1[65];
    strcpy(h1, jstr(j, "hash"));
    json_decref(j);

    j = parse(l.v[1]);
    static const char *const k2[] = {"timestamp",     "event_id", "event",
                                     "delegation_id", "reason",   "actions",
                                     "prev_hash",     "hash"};
    assert_key_order(l.v[1], j, k2, AA__ARRAY_LEN(k2));
    assert_string_equal(jstr(j, "delegation_id"), "d-9\r\n");
    assert_true(json_is_null(json_object_get(j, "reason")));
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(j, "actions"), 1)),
        "a\"b");
    assert_chain_fields(l.v[1], j, h1);
    json_decref(j);

    j = parse(l.v[2]);
    static const char *const k3[] = {"timestamp", "event_id", "event",
                                     "prev_hash", "hash"};
    assert_key_order(l.v[2], j, k3, AA__ARRAY_LEN(k3));
    json_decref(j);
    lines_free(&l);
    assert_verifies(f->path, 3);
}

static void test_invalid_utf8_stays_valid_json(void **state) {
    fixture *f = *state;
    aa__audit *a = NULL;
    assert_int_equal(aa__audit_open(f->path, AA__FSYNC_NEVER, &a, NULL), AA_OK);
    aa_request r = {
        .agent = "\xff\xfe"
                 "abc",                      /* never valid */
        .user = "caf\xc3",                   /* cut 2-byte sequence */
        .action = "\xc0\xaf",                /* overlong '/' */
        .resource = "\xed\xa0\x80",          /* surrogate */
        .scope = "\xf4\x90\x80\x80",         /* above U+10FFFF */
        .session_id = "ok \xe2\x82\xac",     /* valid: the euro sign */
        .target_agent = "tab\there\x01\x7f", /* controls, escaped */
    };
    aa__audit_decision d = {.req = &r,
                            .allowed = false,
                            .reason = "quote \" backslash \\ \xe2\x82",
                            .approval_policy = "",
                            .config_name = "x\x80y",
                            .config_version = "1"};
    assert_int_equal(aa__audit_write_decision(a, &d, NULL), AA_OK);
    assert_int_equal(aa__audit_write_event(a, "ev\xfe", NULL, 0, NULL), AA_OK);
    aa__audit_close(a);

    lines l = read_lines(f->path);
    assert_int_equal(l.n, 2);
    json_t *j = parse(l.v[0]); /* jansson rejects invalid UTF-8 */
#define FFFD "\xef\xbf\xbd"
    assert_string_equal(jstr(j, "agent"), FFFD FFFD "abc");
    assert_string_equal(jstr(j, "user"), "caf" FFFD);
    assert_string_equal(jstr(j, "action"), FFFD FFFD);
    assert_string_equal(jstr(j, "resource"), FFFD FFFD FFFD);
    assert_string_equal(jstr(j, "scope"), FFFD FFFD FFFD FFFD);
    assert_string_equal(jstr(j, "session_id"), "ok \xe2\x82\xac");
    assert_string_equal(jstr(j, "target_agent"), "tab\there\x01\x7f");
    assert_string_equal(jstr(j, "reason"), "quote \" backslash \\ " FFFD FFFD);
    assert_string_equal(jstr(j, "config_name"), "x" FFFD "y");
    json_decref(j);
    j = parse(l.v[1]);
    assert_string_equal(jstr(j, "event"), "ev" FFFD);
#undef FFFD
    json_decref(j);
    lines_free(&l);
    assert_verifies(f->path, 2);
}

static void test_fields_newline_and_long_line(void **state) {
    fixture *f = *state;
    aa__audit *a = NULL;
    assert_int_equal(aa__audit_open(f->path, AA__FSYNC_NEVER, &a, NULL), AA_OK);
    size_t big = 2u << 20;
    char *res = malloc(big + 1);
    memset(res, 'r', big);
    res[big] = 0;
    aa_request r = req_of("a", "u", "x");
    r.resource = res;
    aa__audit_decision d = {.req = &r, .reason = "", .approval_policy = ""};
    aa_error *err = aa_error_new();
    assert_int_equal(aa__audit_write_decision(a, &d, err), AA_EAUDIT);
    assert_true(contains(err, "line too long"));
    aa_error_free(err);
    free(res);
    r.resource = "short";
    assert_int_equal(aa__audit_write_decision(a, &d, NULL), AA_OK);
    aa__audit_close(a);
    assert_verifies(f->path, 1);
}

/* ---- concurrency inside one process -------------------------------------- */

typedef struct thread_arg {
    aa__audit *a;
    int id;
    int n;
    int failures;
} thread_arg;

static void *thread_main(void *p) {
    thread_arg *t = p;
    char agent[32];
    snprintf(agent, sizeof agent, "thread-%d", t->id);
    for (int i = 0; i < t->n; i++) {
        aa_request r = req_of(agent, "alice", "read_file");
        if (write_decision(t->a, &r, true) != AA_OK)
            t->failures++;
    }
    return NULL;
}

static void test_threads_share_one_log(void **state) {
    fixture *f = *state;
    aa__audit *a = NULL;
    assert_int_equal(aa__audit_open(f->path, AA__FSYNC_INTERVAL, &a, NULL),
                     AA_OK);
    pthread_t th[4];
    thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thread_arg){.a = a, .id = i, .n = 50};
        assert_int_equal(pthread_create(&th[i], NULL, thread_main, &args[i]),
                         0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    aa__audit_close(a);
    assert_verifies(f->path, 200);
}

/* Event ids come from a pool of random bytes: a child forked after the
 * pool was filled must not repeat the parent's ids. */
static void test_fork_does_not_repeat_ids(void **state) {
    fixture *f = *state;
    aa__audit *a = NULL;
    assert_int_equal(aa__audit_open(f->path, AA__FSYNC_NEVER, &a, NULL), AA_OK);
    aa_request r = req_of("bot", "u", "read");
    assert_int_equal(write_decision(a, &r, true), AA_OK);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int rc = write_decision(a, &r, true);
        _exit(rc == AA_OK ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(write_decision(a, &r, true), AA_OK);
    aa__audit_close(a);
    lines l = read_lines(f->path);
    assert_int_equal(l.n, 3);
    for (size_t i = 0; i < l.n; i++)
        for (size_t k = i + 1; k < l.n; k++) {
            json_t *x = parse(l.v[i]), *y = parse(l.v[k]);
            assert_string_not_equal(jstr(x, "event_id"), jstr(y, "event_id"));
            json_decref(x);
            json_decref(y);
        }
    lines_free(&l);
    assert_verifies(f->path, 3);
}

/* Two handles on one file stand for two processes: each must notice the
 * other's lines and chain to them. */
static void test_two_handles_interleave(void **state) {
    fixture *f = *state;
    aa__audit *a = NULL, *b = NULL;
    assert_int_equal(aa__audit_open(f->path, AA__FSYNC_NEVER, &a, NULL), AA_OK);
    assert_int_equal(aa__audit_open(f->path, AA__FSYNC_NEVER, &b, NULL), AA_OK);
    for (int i = 0; i < 10; i++) {
        aa_request r = req_of(i % 3 ? "a" : "b", "u", "x");
        assert_int_equal(write_decision(i % 3 ? a : b, &r, true), AA_OK);
    }
    aa__audit_close(a);
    aa__audit_close(b);
    assert_verifies(f->path, 10);
    lines l = read_lines(f->path);
    for (size_t i = 1; i < l.n; i++) {
        json_t *p = parse(l.v[i - 1]), *c = parse(l.v[i]);
        assert_string_equal(jstr(c, "prev_hash"), jstr(p, "hash"));
        json_decref(p);
        json_decref(c);
    }
    lines_free(&l);
}

/* The log removed under an open writer: the next line starts a new file
 * (and a new chain) at the path. */
static void test_removed_log_is_recreated(void **state) {
    fixture *f = *state;
    aa__audit *a = NULL;
    assert_int_equal(aa__audit_open(f->path, AA__FSYNC_NEVER, &a, NULL), AA_OK);
    aa_request r = req_of("a", "u", "x");
    assert_int_equal(write_decision(a, &r, true), AA_OK);
    assert_int_equal(write_decision(a, &r, true), AA_OK);
    assert_int_equal(unlink(f->path), 0);
    assert_int_equal(write_decision(a, &r, false), AA_OK);
    aa__audit_close(a);
    assert_verifies(f->path, 1);
    lines l = read_lines(f->path);
    json_t *j = parse(l.v[0]);
    assert_string_equal(jstr(j, "prev_hash"), ZEROS);
    json_decref(j);
    lines_free(&l);
}

/* Found by fuzzing: a log that is an unlinked file still reachable by its
 * path (a memfd's /proc/self/fd/N) made every write fail with "the file
 * keeps being replaced". That path is a symlink, which is now refused
 * outright (fsafe.h): never followed, never written. */
static void test_unlinked_file_at_path(void **state) {
    (void)state;
    int fd = memfd_create("audit", MFD_CLOEXEC);
    assert_true(fd >= 0);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    aa__audit *a = NULL;
    aa_error *err = aa_error_new();
    assert_int_equal(aa__audit_open(path, AA__FSYNC_NEVER, &a, err),
                     AA_EREFUSED);
    assert_null(a);
    assert_true(contains(err, "symbolic link"));
    aa_error_free(err);
    close(fd);
}

/* ---- fsync modes --------------------------------------------------------- */

static void check_all_lines(const char *path, size_t want) {
    lines l = read_lines(path);
    assert_int_equal(l.n, want);
    for (size_t i = 0; i < l.n; i++) {
        json_t *j = parse(l.v[i]);
        char agent[32];
        snprintf(agent, sizeof agent, "agent-%zu", i);
        assert_string_equal(jstr(j, "agent"), agent);
        json_decref(j);
    }
    lines_free(&l);
    assert_verifies(path, want);
}

static void test_fsync_always(void **state) {
    fixture *f = *state;
    write_n(f->path, AA__FSYNC_ALWAYS, 5);
    check_all_lines(f->path, 5);
}

static void test_fsync_interval(void **state) {
    fixture *f = *state;
    aa__audit *a = NULL;
    assert_int_equal(aa__audit_open(f->path, AA__FSYNC_INTERVAL, &a, NULL),
                     AA_OK);
    for (int i = 0; i < 30; i++) {
        char agent[32];
        snprintf(agent, sizeof agent, "agent-%d", i);
        aa_request r = req_of(agent, "alice", "read_file");
        assert_int_equal(write_decision(a, &r, true), AA_OK);
    }
    check_all_lines(f->path, 30); /* readable before the close */
    aa__audit_close(a);
    check_all_lines(f->path, 30);

    /* Opened and closed at once: the sync thread stops cleanly. */
    assert_int_equal(aa__audit_open(f->path, AA__FSYNC_INTERVAL, &a, NULL),
                     AA_OK);
    aa__audit_close(a);
}

/* ---- failures ------------------------------------------------------------ */

static void test_fail_path_is_directory(void **state) {
    fixture *f = *state;
    aa__audit *a = (aa__audit *)1;
    aa_error *err = aa_error_new();
    char *sub = tu_join(f->dir, "sub");
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(aa__audit_open(sub, AA__FSYNC_NEVER, &a, err),
                     AA_EREFUSED);
    assert_null(a);
    char want[600];
    snprintf(want, sizeof want,
             "audit log '%s': is a directory, not a regular file", sub);
    free(sub);
    assert_true(contains(err, want));
    aa_error_free(err);

    /* A parent that is a file. */
    char *file = tu_join(f->dir, "plain");
    assert_int_equal(tu_write_file(file, "x"), 0);
    char *path = tu_join(file, "audit.jsonl");
    err = aa_error_new();
    assert_int_equal(aa__audit_open(path, AA__FSYNC_NEVER, &a, err), AA_EAUDIT);
    assert_true(contains(err, strerror(ENOTDIR)));
    aa_error_free(err);
    free(path);
    free(file);

    err = aa_error_new();
    assert_int_equal(aa__audit_open("", AA__FSYNC_NEVER, &a, err), AA_EAUDIT);
    assert_int_equal(aa_error_count(err), 1);
    aa_error_free(err);
}

/* Opens path in a read-only directory; 0 when it failed as it should. */
static int readonly_case(const char *path) {
    aa__audit *a = NULL;
    aa_error *err = aa_error_new();
    int rc = aa__audit_open(path, AA__FSYNC_NEVER, &a, err);
    char *t = tu_error_text(err);
    int bad = rc != AA_EAUDIT || a != NULL || !strstr(t, path) ||
              !strstr(t, strerror(EACCES));
    if (bad)
        print_message("rc %d, messages: %s\n", rc, t);
    free(t);
    aa_error_free(err);
    aa__audit_close(a);
    return bad;
}

static void test_fail_readonly_directory(void **state) {
    fixture *f = *state;
    char *ro = tu_join(f->dir, "ro");
    assert_int_equal(mkdir(ro, 0555), 0);
    assert_int_equal(chmod(ro, 0555), 0);
    char *in_ro = tu_join(ro, "audit.jsonl");
    char *below = tu_join(ro, "sub/audit.jsonl"); /* a directory to create */
    if (geteuid() != 0) {
        assert_int_equal(readonly_case(in_ro), 0);
        assert_int_equal(readonly_case(below), 0);
    } else { /* root ignores modes: try as nobody, in nobody's own
                directory (another user's would be refused for that) */
        assert_int_equal(chmod(f->dir, 0755), 0);
        assert_int_equal(chown(ro, 65534, 65534), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            if (setgid(65534) != 0 || setuid(65534) != 0)
                _exit(2);
            _exit(readonly_case(in_ro) | readonly_case(below));
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    chmod(ro, 0755);
    free(below);
    free(in_ro);
    free(ro);
}

/* Every write fails (a full disk: RLIMIT_FSIZE 0 makes it EFBIG). */
static void test_fail_disk_full(void **state) {
    fixture *f = *state;
    aa__audit *a = NULL;
    assert_int_equal(aa__audit_open(f->path, AA__FSYNC_NEVER, &a, NULL), AA_OK);
    tu_fsize_zero();
    aa_request r = req_of("a", "u", "x");
    aa__audit_decision d = {.req = &r, .reason = "", .approval_policy = ""};
    for (int i = 0; i < 2; i++) { /* and again: still an error, no crash */
        aa_error *err = aa_error_new();
        assert_int_equal(aa__audit_write_decision(a, &d, err), AA_EAUDIT);
        char want[600];
        snprintf(want, sizeof want, "audit log '%s': %s", f->path,
                 strerror(EFBIG));
        assert_true(contains(err, want));
        assert_int_equal(aa_error_get(err, 0)->status, AA_EAUDIT);
        aa_error_free(err);
    }
    aa_error *err = aa_error_new();
    assert_int_equal(aa__audit_write_event(a, "session.create", NULL, 0, err),
                     AA_EAUDIT);
    aa_error_free(err);
    tu_fsize_restore();
    aa__audit_close(a);
}

/* /dev/full, /dev/null, /dev/zero, a FIFO: refused at once, no hang, and
 * the refusal says how to keep no log. */
static void test_special_files_refused(void **state) {
    fixture *f = *state;
    char *fifo = tu_join(f->dir, "fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    const char *paths[] = {"/dev/null", "/dev/zero", "/dev/full", fifo};
    for (size_t i = 0; i < 4; i++) {
        aa__audit *a = NULL;
        aa_error *err = aa_error_new();
        assert_int_equal(aa__audit_open(paths[i], AA__FSYNC_NEVER, &a, err),
                         AA_EREFUSED);
        assert_null(a);
        assert_true(contains(err, "not a regular file"));
        assert_true(contains(err, "audit.enabled: false"));
        aa_error_clear(err);
        size_t n = 9, bad = 9;
        assert_int_not_equal(aa_audit_verify(paths[i], &n, &bad, err), AA_OK);
        assert_true(contains(err, "not a regular file"));
        aa_error_free(err);
    }
    free(fifo);
}

/* ---- reading ------------------------------------------------------------- */

typedef struct collected {
    char lines[16][1024];
    size_t n;
    size_t stop_after; /* 0: never */
} collected;

static int collect(void *ud, const char *line, size_t len) {
    collected *c = ud;
    assert_int_equal(strlen(line), len);
    if (c->n < 16)
        snprintf(c->lines[c->n], sizeof c->lines[0], "%s", line);
    c->n++;
    return c->stop_after && c->n >= c->stop_after;
}

/* Reads with a filter and returns the "n" field of each match as a string
 * like "1,3,4". */
static char *matches(const char *path, aa_audit_filter flt) {
    collected c = {0};
    size_t m = 0, s = 0;
    aa_error *err = aa_error_new();
    int rc = aa_audit_read(path, &flt, collect, &c, &m, &s, err);
    if (rc != AA_OK) {
        char *t = tu_error_text(err);
        fail_msg("read: %s", t);
    }
    aa_error_free(err);
    size_t limit = flt.limit ? flt.limit : 1000;
    assert_int_equal(c.n, m < limit ? m : limit); /* m counts them all */
    static char out[256];
    out[0] = 0;
    for (size_t i = 0; i < c.n && i < 16; i++) {
        json_t *j = parse(c.lines[i]);
        char num[16];
        snprintf(num, sizeof num, "%s%lld", i ? "," : "",
                 (long long)json_integer_value(json_object_get(j, "n")));
        strcat(out, num);
        json_decref(j);
    }
    return out;
}

static const char *const filter_log[] = {
    "{\"timestamp\":\"2026-01-01T10:00:00.000000+00:00\",\"n\":1,"
    "\"event\":\"authorize\",\"agent\":\"a1\",\"user\":\"u1\","
    "\"action\":\"read\",\"allowed\":true}",
    "{\"timestamp\":\"2026-01-01T11:00:00.000000+00:00\",\"n\":2,"
    "\"event\":\"authorize\",\"agent\":\"a2\",\"user\":\"u1\","
    "\"action\":\"write\",\"allowed\":false}",
    /* 10:30 UTC, written with an offset: must sort as a time */
    "{\"timestamp\":\"2026-01-01T15:30:00.000000+05:00\",\"n\":3,"
    "\"event\":\"authorize\",\"agent\":\"a1\",\"user\":\"u2\","
    "\"action\":\"read\",\"allowed\":false}",
    "{\"timestamp\":\"2026-01-01T12:00:00.000000+00:00\",\"n\":4,"
    "\"event\":\"session.create\",\"agent\":\"a1\",\"user\":\"u2\"}",
    "{\"timestamp\":\"2026-01-01T13:00:00.000000+00:00\",\"n\":5,"
    "\"event\":\"authorize\",\"agent\":\"a2\",\"user\":\"u2\","
    "\"action\":\"delete\",\"allowed\":true}",
};

static void test_read_filters(void **state) {
    fixture *f = *state;
    write_lines(f->path, (char **)filter_log, AA__ARRAY_LEN(filter_log));
    const char *p = f->path;
    aa_audit_filter any = {0};
    assert_string_equal(matches(p, any), "1,2,3,4,5");
    aa_audit_filter flt = any;
    flt.agent = "a1";
    assert_string_equal(matches(p, flt), "1,3,4");
    flt = any;
    flt.user = "u2";
    assert_string_equal(matches(p, flt), "3,4,5");
    flt = any;
    flt.action = "read";
    assert_string_equal(matches(p, flt), "1,3");
    flt = any;
    flt.event = "session.create";
    assert_string_equal(matches(p, flt), "4");
    flt = any;
    flt.allowed = AA_AUDIT_ALLOWED_ONLY;
    assert_string_equal(matches(p, flt), "1,5");
    flt.allowed = AA_AUDIT_DENIED_ONLY;
    assert_string_equal(matches(p, flt), "2,3");
    flt.agent = "a1";
    assert_string_equal(matches(p, flt), "3");
    flt = any;
    flt.agent = "a"; /* exact match, not a prefix */
    assert_string_equal(matches(p, flt), "");
    flt = any;
    flt.agent = ""; /* empty means no filter */
    assert_string_equal(matches(p, flt), "1,2,3,4,5");
    /* NULL filter: everything */
    collected c = {0};
    size_t m;
    assert_int_equal(aa_audit_read(p, NULL, collect, &c, &m, NULL, NULL),
                     AA_OK);
    assert_int_equal(m, 5);
}

static void test_read_since(void **state) {
    fixture *f = *state;
    write_lines(f->path, (char **)filter_log, AA__ARRAY_LEN(filter_log));
    const char *p = f->path;
    aa_audit_filter flt = {0};
    flt.since = "2026-01-01T12:00:00Z";
    assert_string_equal(matches(p, flt), "4,5");
    flt.since = "2026-01-01T13:00:00+02:00"; /* 11:00 UTC, inclusive */
    assert_string_equal(matches(p, flt), "2,4,5");
    flt.since = "2026-01-01T05:30:00-05:00"; /* 10:30 UTC */
    assert_string_equal(matches(p, flt), "2,3,4,5");
    flt.since = "2026-01-01T10:30:00.000001+00:00";
    assert_string_equal(matches(p, flt), "2,4,5");
    flt.since = "2026-01-01";
    assert_string_equal(matches(p, flt), "1,2,3,4,5");
    flt.since = "2026-01-02";
    assert_string_equal(matches(p, flt), "");
    flt.since = "2026-01-01T12:00:00Z";
    flt.allowed = AA_AUDIT_ALLOWED_ONLY;
    assert_string_equal(matches(p, flt), "5");

    flt.since = "yesterday";
    aa_error *err = aa_error_new();
    assert_int_equal(
        aa_audit_read(p, &flt, collect, &(collected){0}, NULL, NULL, err),
        AA_EINVAL);
    assert_true(contains(err, "yesterday"));
    aa_error_free(err);
}

static void test_read_limit_and_stop(void **state) {
    fixture *f = *state;
    write_lines(f->path, (char **)filter_log, AA__ARRAY_LEN(filter_log));
    aa_audit_filter flt = {.limit = 2};
    assert_string_equal(matches(f->path, flt), "1,2");
    flt.agent = "a2";
    flt.limit = 1;
    assert_string_equal(matches(f->path, flt), "2");
    flt.limit = 0; /* default: 1000 */
    assert_string_equal(matches(f->path, flt), "2,5");

    /* The callback stops the walk. */
    collected c = {.stop_after = 2};
    size_t m = 0;
    assert_int_equal(aa_audit_read(f->path, NULL, collect, &c, &m, NULL, NULL),
                     AA_OK);
    assert_int_equal(c.n, 2);
    assert_int_equal(m, 2);

    /* The default limit is 1000: first matches in file order; *matched
     * counts every match, so a caller can say the list was capped. */
    unlink(f->path);
    write_n(f->path, AA__FSYNC_NEVER, 1005);
    c = (collected){0};
    assert_int_equal(aa_audit_read(f->path, NULL, collect, &c, &m, NULL, NULL),
                     AA_OK);
    assert_int_equal(m, 1005);
    assert_int_equal(c.n, 1000);
    c = (collected){0};
    flt = (aa_audit_filter){.limit = AA_AUDIT_NO_LIMIT};
    assert_int_equal(aa_audit_read(f->path, &flt, collect, &c, &m, NULL, NULL),
                     AA_OK);
    assert_int_equal(m, 1005);
    assert_int_equal(c.n, 1005);
    /* Without *matched asked for, the walk stops at the limit. */
    c = (collected){0};
    flt.limit = 3;
    assert_int_equal(
        aa_audit_read(f->path, &flt, collect, &c, NULL, NULL, NULL), AA_OK);
    assert_int_equal(c.n, 3);
    json_t *j = parse(c.lines[0]);
    assert_string_equal(jstr(j, "agent"), "agent-0");
    json_decref(j);
}

static void test_read_skips_malformed(void **state) {
    fixture *f = *state;
    size_t big = 5u << 20;
    char *huge = malloc(big + 1);
    memset(huge, 'x', big);
    huge[0] = '{';
    huge[big] = 0;
    char *v[] = {
        (char *)filter_log[0],
        "not json",
        "[1,2,3]",
        "{\"no\":\"timestamp\"}",
        "{\"timestamp\":\"garbage\"}",
        "{\"timestamp\":\"2026-01-01T10:00",
        "{\"timestamp\":\"2026-01-01T10:00:00Z\",\"agent\":\"\xff\"}",
        "{\"timestamp\":\"2026-01-01T10:00:00Z\",\"n\":1,\"n\":2}",
        "",
        "   ",
        huge,
        (char *)filter_log[1],
    };
    write_lines(f->path, v, AA__ARRAY_LEN(v));
    free(huge);
    /* and a last line without its newline */
    FILE *fp = fopen(f->path, "ab");
    fputs(filter_log[4], fp);
    fclose(fp);
    collected c = {0};
    size_t m = 0, s = 0;
    assert_int_equal(aa_audit_read(f->path, NULL, collect, &c, &m, &s, NULL),
                     AA_OK);
    assert_int_equal(m, 3);
    assert_int_equal(s, 8); /* blank lines are not counted */
    assert_string_equal(c.lines[0], filter_log[0]);
    assert_string_equal(c.lines[1], filter_log[1]);
    assert_string_equal(c.lines[2], filter_log[4]);
}

static void test_read_missing_and_empty(void **state) {
    fixture *f = *state;
    aa_error *err = aa_error_new();
    size_t m = 7;
    assert_int_equal(
        aa_audit_read(f->path, NULL, collect, &(collected){0}, &m, NULL, err),
        AA_EIO);
    assert_int_equal(m, 0);
    assert_true(contains(err, f->path));
    aa_error_free(err);
    assert_int_equal(tu_write_file(f->path, ""), 0);
    assert_int_equal(
        aa_audit_read(f->path, NULL, collect, &(collected){0}, &m, NULL, NULL),
        AA_OK);
    assert_int_equal(m, 0);
}

/* ---- verifying ----------------------------------------------------------- */

static void test_verify_intact_empty_missing(void **state) {
    fixture *f = *state;
    aa_error *err = aa_error_new();
    size_t n = 5, bad = 5;
    assert_int_equal(aa_audit_verify(f->path, &n, &bad, err), AA_EIO);
    assert_true(contains(err, f->path));
    aa_error_free(err);
    assert_int_equal(tu_write_file(f->path, ""), 0);
    assert_verifies(f->path, 0);
    write_n(f->path, AA__FSYNC_NEVER, 6);
    assert_verifies(f->path, 6);
}

static void test_verify_edited(void **state) {
    fixture *f = *state;
    write_n(f->path, AA__FSYNC_NEVER, 6);
    lines l = read_lines(f->path);
    char *p = strstr(l.v[2], "alice");
    p[4] = 'x';
    write_lines(f->path, l.v, l.n);
    assert_broken(f->path, 3, "edited");
    p[4] = 'e';
    /* the hash itself changed */
    char *h = strstr(l.v[4], "\"hash\":\"") + 8;
    h[0] = h[0] == 'a' ? 'b' : 'a';
    write_lines(f->path, l.v, l.n);
    assert_broken(f->path, 5, "edited");
    lines_free(&l);
}

static void test_verify_deleted(void **state) {
    fixture *f = *state;
    write_n(f->path, AA__FSYNC_NEVER, 6);
    lines l = read_lines(f->path);
    char *v[6];
    size_t n = 0;
    for (size_t i = 0; i < l.n; i++)
        if (i != 2)
            v[n++] = l.v[i];
    write_lines(f->path, v, n);
    assert_broken(f->path, 3, "deleted");
    write_lines(f->path, l.v + 1, l.n - 1); /* the first line */
    assert_broken(f->path, 1, "deleted");
    write_lines(f->path, l.v, l.n - 1); /* the last: not detectable */
    assert_verifies(f->path, 5);
    /* two lines swapped */
    char *t = l.v[3];
    l.v[3] = l.v[4];
    l.v[4] = t;
    write_lines(f->path, l.v, l.n);
    assert_broken(f->path, 4, "deleted or replaced");
    lines_free(&l);
}

static void test_verify_inserted(void **state) {
    fixture *f = *state;
    write_n(f->path, AA__FSYNC_NEVER, 5);
    lines l = read_lines(f->path);
    /* A forged line that links to line 3 and carries a correct hash. */
    json_t *j3 = parse(l.v[2]);
    char body[512];
    snprintf(body, sizeof body,
             "{\"timestamp\":\"2026-01-01T00:00:00.000000+00:00\","
             "\"event_id\":\"00000000-0000-4000-8000-000000000000\","
             "\"event\":\"authorize\",\"agent\":\"mallory\","
             "\"prev_hash\":\"%s\"",
             jstr(j3, "hash"));
    json_decref(j3);
    char *forged = forge(body);
    char *v[6] = {l.v[0], l.v[1], l.v[2], forged, l.v[3], l.v[4]};
    write_lines(f->path, v, 6);
    assert_broken(f->path, 4, "inserted");
    /* A copy of an earlier line inserted. */
    char *w[6] = {l.v[0], l.v[1], l.v[2], l.v[0], l.v[3], l.v[4]};
    write_lines(f->path, w, 6);
    assert_broken(f->path, 4, "deleted or replaced");
    free(forged);
    lines_free(&l);
}

static void test_verify_malformed(void **state) {
    fixture *f = *state;
    write_n(f->path, AA__FSYNC_NEVER, 5);
    lines l = read_lines(f->path);
    char *saved = l.v[2];
    l.v[2] = "garbage";
    write_lines(f->path, l.v, l.n);
    assert_broken(f->path, 3, "malformed");
    l.v[2] = "";
    write_lines(f->path, l.v, l.n);
    assert_broken(f->path, 3, "malformed");
    /* A whole line cut short in the middle: the chain does not run over
     * it, so it is no torn write. */
    l.v[2] = saved;
    char cut = saved[60];
    saved[60] = 0;
    write_lines(f->path, l.v, l.n);
    assert_broken(f->path, 3, "malformed");
    /* Valid JSON, but not a chained line. */
    l.v[2] = "{\"timestamp\":\"2026-01-01T00:00:00Z\"}";
    write_lines(f->path, l.v, l.n);
    assert_broken(f->path, 3, "malformed");
    /* The same inserted: the chain runs over it, but an entry readers would
     * show is no torn write. */
    l.v[2] = saved;
    saved[60] = cut;
    char *v[6] = {
        l.v[0], l.v[1],
        l.v[2], "{\"timestamp\":\"2026-01-01T00:00:00Z\",\"agent\":\"x\"}",
        l.v[3], l.v[4]};
    write_lines(f->path, v, 6);
    assert_broken(f->path, 4, "malformed");
    lines_free(&l);
}

static size_t warnings_with(const aa_error *err, const char *needle) {
    size_t n = 0;
    for (size_t i = 0; i < aa_error_count(err); i++) {
        const aa_diag *d = aa_error_get(err, i);
        if (d->severity == AA_SEVERITY_WARNING && strstr(d->message, needle))
            n++;
    }
    return n;
}

static void test_verify_torn_last_line(void **state) {
    fixture *f = *state;
    aa__audit *a = NULL;
    assert_int_equal(aa__audit_open(f->path, AA__FSYNC_NEVER, &a, NULL), AA_OK);
    for (int i = 0; i < 4; i++) {
        aa_request r = req_of("agent", "alice", "read_file");
        assert_int_equal(write_decision(a, &r, true), AA_OK);
    }
    /* Cut the last line as an interrupted write would leave it. */
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(truncate(f->path, st.st_size - 40), 0);

    aa_error *err = aa_error_new();
    size_t n, bad;
    assert_int_equal(aa_audit_verify(f->path, &n, &bad, err), AA_OK);
    assert_int_equal(n, 3);
    assert_int_equal(bad, 0);
    assert_int_equal(warnings_with(err, "torn line"), 1);
    assert_int_equal(aa_error_get(err, 0)->line, 4);
    aa_error_free(err);

    /* The writer (whose cached size is now wrong) continues the chain
     * after the fragment, on a line of its own. */
    for (int i = 0; i < 2; i++) {
        aa_request r = req_of("agent", "alice", "write_file");
        assert_int_equal(write_decision(a, &r, true), AA_OK);
    }
    aa__audit_close(a);
    lines l = read_lines(f->path);
    assert_int_equal(l.n, 6);
    assert_null(json_loads(l.v[3], 0, NULL));
    json_t *j3 = parse(l.v[2]), *j5 = parse(l.v[4]);
    assert_string_equal(jstr(j5, "prev_hash"), jstr(j3, "hash"));
    json_decref(j3);
    json_decref(j5);
    lines_free(&l);

    err = aa_error_new();
    assert_int_equal(aa_audit_verify(f->path, &n, &bad, err), AA_OK);
    assert_int_equal(n, 5);
    assert_int_equal(warnings_with(err, "torn line"), 1);
    assert_int_equal(aa_error_get(err, 0)->line, 4);
    aa_error_free(err);

    /* Readers skip it and count it. */
    size_t m, s;
    assert_int_equal(aa_audit_read(f->path, NULL, NULL, NULL, &m, &s, NULL),
                     AA_OK);
    assert_int_equal(m, 5);
    assert_int_equal(s, 1);
}

/* Something that is not ours appended to the file: the writer chains past
 * it, verify calls it malformed. */
static void test_foreign_line_is_malformed(void **state) {
    fixture *f = *state;
    write_n(f->path, AA__FSYNC_NEVER, 2);
    FILE *fp = fopen(f->path, "ab");
    fputs("hello\n", fp);
    fclose(fp);
    write_n(f->path, AA__FSYNC_NEVER, 1);
    assert_broken(f->path, 3, "malformed");
}

/* ---- rotating ------------------------------------------------------------ */

static int64_t line_time(const char *line) {
    json_t *j = parse(line);
    int64_t us;
    assert_int_equal(aa_parse_time(jstr(j, "timestamp"), &us), AA_OK);
    json_decref(j);
    return us;
}

static size_t count_lines(const char *path) {
    lines l = read_lines(path);
    size_t n = l.n;
    lines_free(&l);
    return n;
}

static void test_rotate(void **state) {
    fixture *f = *state;
    aa__audit *a = NULL; /* stays open across rotations */
    assert_int_equal(aa__audit_open(f->path, AA__FSYNC_NEVER, &a, NULL), AA_OK);
    for (int i = 0; i < 10; i++) {
        aa_request r = req_of("agent", "alice", "read_file");
        assert_int_equal(write_decision(a, &r, true), AA_OK);
    }
    lines old = read_lines(f->path);
    /* The cutoff: the first line from the middle on that is strictly newer
     * than the one before it. */
    size_t k = 5;
    while (k < old.n && line_time(old.v[k]) == line_time(old.v[k - 1]))
        k++;
    assert_true(k < old.n);
    int64_t now = line_time(old.v[k]) + 86400 * INT64_C(1000000);

    char *archive = NULL;
    size_t moved = 0;
    aa_error *err = aa_error_new();
    assert_int_equal(aa_audit_rotate(f->path, 1, now, &archive, &moved, err),
                     AA_OK);
    assert_int_equal(aa_error_count(err), 0);
    aa_error_free(err);
    assert_int_equal(moved, k);
    assert_non_null(archive);
    char ts[33], want[512];
    aa_format_time(now, ts);
    snprintf(want, sizeof want, "%s/audit.%.13s%.2s%.2s.jsonl", f->dir, ts,
             ts + 14, ts + 17);
    assert_string_equal(archive, want);
    struct stat st;
    assert_int_equal(stat(archive, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    /* Both files verify; the lines are the same bytes. */
    assert_verifies(archive, k);
    assert_verifies(f->path, 1 + old.n - k);
    lines arc = read_lines(archive), cur = read_lines(f->path);
    for (size_t i = 0; i < k; i++)
        assert_string_equal(arc.v[i], old.v[i]);
    for (size_t i = k; i < old.n; i++)
        assert_string_equal(cur.v[1 + i - k], old.v[i]);
    json_t *r = parse(cur.v[0]), *last = parse(old.v[k - 1]);
    assert_string_equal(jstr(r, "event"), "audit.rotate");
    assert_string_equal(jstr(r, "archive"), strrchr(archive, '/') + 1);
    assert_string_equal(jstr(r, "archive_last_hash"), jstr(last, "hash"));
    assert_string_equal(jstr(r, "prev_hash"), jstr(last, "hash"));
    assert_uuid4(jstr(r, "event_id"));
    static const char *const keys[] = {
        "timestamp",         "event_id",  "event", "archive",
        "archive_last_hash", "prev_hash", "hash"};
    assert_key_order(cur.v[0], r, keys, AA__ARRAY_LEN(keys));
    assert_chain_fields(cur.v[0], r, jstr(last, "hash"));
    json_decref(r);
    json_decref(last);
    lines_free(&arc);
    lines_free(&cur);

    /* The open writer notices the new file and keeps the chain. */
    for (int i = 0; i < 3; i++) {
        aa_request rq = req_of("agent", "bob", "write_file");
        assert_int_equal(write_decision(a, &rq, false), AA_OK);
    }
    assert_verifies(f->path, 1 + old.n - k + 3);
    assert_verifies(archive, k);

    /* Nothing old enough: nothing happens. */
    char *none = (char *)1;
    moved = 9;
    assert_int_equal(aa_audit_rotate(f->path, 1000, now, &none, &moved, NULL),
                     AA_OK);
    assert_null(none);
    assert_int_equal(moved, 0);
    assert_int_equal(
        aa_audit_rotate(f->path, INT_MAX, now, &none, &moved, NULL), AA_OK);
    assert_null(none);

    /* Everything (the rotate record too); a second archive, same second. */
    char *archive2 = NULL, ts2[33];
    assert_int_equal(
        aa_audit_rotate(f->path, 0, now + 1, &archive2, &moved, NULL), AA_OK);
    assert_int_equal(moved, 1 + old.n - k + 3);
    aa_format_time(now + 1, ts2);
    snprintf(want, sizeof want, "%s/audit.%.13s%.2s%.2s%s.jsonl", f->dir, ts2,
             ts2 + 14, ts2 + 17, memcmp(ts, ts2, 19) == 0 ? "-2" : "");
    assert_string_equal(archive2, want);
    assert_verifies(archive2, moved); /* starts with a rotate record */
    assert_verifies(f->path, 1);
    assert_int_equal(count_lines(f->path), 1);
    aa_request rq = req_of("agent", "carol", "x");
    assert_int_equal(write_decision(a, &rq, true), AA_OK);
    assert_verifies(f->path, 2);

    aa__audit_close(a);
    free(archive);
    free(archive2);
    lines_free(&old);

    err = aa_error_new();
    char *missing = tu_join(f->dir, "missing.jsonl");
    assert_int_equal(aa_audit_rotate(missing, 1, now, NULL, NULL, err), AA_EIO);
    assert_true(contains(err, "missing.jsonl"));
    assert_int_equal(aa_audit_rotate(f->path, -1, now, NULL, NULL, err),
                     AA_EINVAL);
    free(missing);
    aa_error_free(err);
}

/* Two whole lines, a torn fragment, two whole lines. */
static void make_torn_log(const char *path) {
    write_n(path, AA__FSYNC_NEVER, 3);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size - 30), 0);
    write_n(path, AA__FSYNC_NEVER, 2);
    assert_int_equal(count_lines(path), 5);
}

/* A torn fragment among the archived lines goes with them; both files
 * still verify, whether the fragment ends the archive or not. */
static void test_rotate_with_torn_fragment(void **state) {
    fixture *f = *state;
    char *other = tu_join(f->dir, "other.jsonl");
    const char *paths[2] = {f->path, other};
    for (int cut_at = 3; cut_at <= 4; cut_at++) {
        const char *p = paths[cut_at - 3];
        make_torn_log(p);
        lines l = read_lines(p);
        int64_t cut = line_time(l.v[cut_at]);
        bool distinct = cut > line_time(l.v[cut_at == 3 ? 1 : 3]);
        lines_free(&l);
        if (!distinct)
            continue; /* two lines in one microsecond: no clean cut */
        char *archive = NULL;
        size_t moved = 0;
        assert_int_equal(aa_audit_rotate(p, 0, cut, &archive, &moved, NULL),
                         AA_OK);
        assert_int_equal(moved, (size_t)cut_at);
        aa_error *err = aa_error_new();
        size_t n, bad;
        assert_int_equal(aa_audit_verify(archive, &n, &bad, err), AA_OK);
        assert_int_equal(n, (size_t)cut_at - 1);
        assert_int_equal(warnings_with(err, "torn line"), 1);
        aa_error_free(err);
        assert_verifies(p, 1 + 5 - (size_t)cut_at);
        free(archive);
    }
    free(other);
}

/* A file that is only a rotate record and newer lines: the record alone is
 * not worth an archive. */
static void test_rotate_lone_record_stays(void **state) {
    fixture *f = *state;
    write_n(f->path, AA__FSYNC_NEVER, 3);
    char *archive = NULL;
    size_t moved = 0;
    int64_t t0 = aa_now() + 1;
    assert_int_equal(aa_audit_rotate(f->path, 0, t0, &archive, &moved, NULL),
                     AA_OK);
    assert_int_equal(moved, 3);
    free(archive);
    write_n(f->path, AA__FSYNC_NEVER, 1);
    lines l = read_lines(f->path);
    assert_int_equal(l.n, 2);
    int64_t t1 = line_time(l.v[1]);
    bool later = t1 > line_time(l.v[0]);
    lines_free(&l);
    if (!later)
        skip(); /* the clock did not move */
    archive = (char *)1;
    assert_int_equal(aa_audit_rotate(f->path, 0, t1, &archive, &moved, NULL),
                     AA_OK);
    assert_null(archive);
    assert_int_equal(moved, 0);
    assert_verifies(f->path, 2);
}

/* ---- metadata, redaction, policy hash ------------------------------------ */

static void test_metadata_and_redaction(void **state) {
    fixture *f = *state;
    static const char yaml[] = "version: \"1.0\"\n"
                               "audit: {redact: [secret, card]}\n";
    aa_policy *p = NULL;
    assert_int_equal(
        aa_policy_load_buffer(yaml, sizeof yaml - 1, "m.yaml", NULL, &p, NULL),
        AA_OK);
    char want_sha[65];
    assert_true(aa__sha256_hex(yaml, sizeof yaml - 1, want_sha));
    assert_string_equal(p->sha256, want_sha);

    const aa_meta items[] = {{.type = AA_VALUE_STRING, .string = "a\"b"},
                             {.type = AA_VALUE_NUMBER, .number = 2},
                             {.type = AA_VALUE_BOOL, .boolean = 0},
                             {.type = AA_VALUE_NULL}};
    const aa_meta meta[] = {
        {.key = "amount", .type = AA_VALUE_NUMBER, .number = 5000},
        {.key = "rate", .type = AA_VALUE_NUMBER, .number = 0.1},
        {.key = "nan", .type = AA_VALUE_NUMBER, .number = NAN},
        {.key = "inf", .type = AA_VALUE_NUMBER, .number = -INFINITY},
        {.key = "ok", .type = AA_VALUE_BOOL, .boolean = 1},
        {.key = "none", .type = AA_VALUE_NULL},
        {.key = "tags", .type = AA_VALUE_LIST, .items = items, .count = 4},
        {.key = "secret", .type = AA_VALUE_STRING, .string = "hunter2"},
        {.key = "card", .type = AA_VALUE_LIST, .items = items, .count = 4},
        {.key = "ctl\n\"k", .type = AA_VALUE_STRING, .string = "bad\xff"},
        {.key = "amount", .type = AA_VALUE_NUMBER, .number = 1}, /* again */
        {.key = NULL, .type = AA_VALUE_STRING, .string = "no key"},
    };
    aa_request r = req_of("a", "u", "pay");
    r.metadata = meta;
    r.metadata_count = AA__ARRAY_LEN(meta);
    aa__audit *a = NULL;
    assert_int_equal(aa__audit_open(f->path, AA__FSYNC_NEVER, &a, NULL), AA_OK);
    aa__audit_decision d = {.req = &r,
                            .reason = "",
                            .approval_policy = "",
                            .config_name = "",
                            .config_version = "1.0",
                            .policy = p};
    assert_int_equal(aa__audit_write_decision(a, &d, NULL), AA_OK);
    /* Many keys (a map finds the repeated ones); no policy: nothing
     * redacted, policy_sha256 null. */
    aa_meta many[40];
    char names[40][8];
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof names[i], "k%d", i % 30);
        many[i] =
            (aa_meta){.key = names[i], .type = AA_VALUE_NUMBER, .number = i};
    }
    many[39] =
        (aa_meta){.key = "secret", .type = AA_VALUE_STRING, .string = "shown"};
    r.metadata = many;
    r.metadata_count = 40;
    d.policy = NULL;
    assert_int_equal(aa__audit_write_decision(a, &d, NULL), AA_OK);
    aa__audit_close(a);

    lines l = read_lines(f->path);
    assert_int_equal(l.n, 2);
    assert_non_null(strstr(l.v[0], "\"metadata\":{\"amount\":5000,\"rate\":0.1,"
                                   "\"nan\":null,\"inf\":null,\"ok\":true,"
                                   "\"none\":null,\"tags\":[\"a\\\"b\",2,false,"
                                   "null],\"secret\":\"[redacted]\","
                                   "\"card\":\"[redacted]\",\"ctl\\n\\\"k\":"
                                   "\"bad\xef\xbf\xbd\"},"));
    json_t *j = parse(l.v[0]);
    assert_string_equal(jstr(j, "policy_sha256"), want_sha);
    assert_int_equal(json_object_size(json_object_get(j, "metadata")), 10);
    json_decref(j);
    j = parse(l.v[1]);
    json_t *m = json_object_get(j, "metadata");
    assert_int_equal(json_object_size(m), 31);
    assert_int_equal(json_integer_value(json_object_get(m, "k0")), 0);
    assert_int_equal(json_integer_value(json_object_get(m, "k29")), 29);
    assert_string_equal(jstr(m, "secret"), "shown");
    assert_true(json_is_null(json_object_get(j, "policy_sha256")));
    json_decref(j);
    lines_free(&l);
    assert_verifies(f->path, 2);
    aa_policy_free(p);
}

/* A policy file hashes its bytes as they are on disk. */
static void test_policy_sha256_of_file(void **state) {
    fixture *f = *state;
    char *pf = tu_join(f->dir, "p.yaml");
    static const char yaml[] = "\xef\xbb\xbfversion: \"1.0\"\n# comment\n";
    assert_int_equal(tu_write_file(pf, yaml), 0);
    aa_policy *p = NULL;
    assert_int_equal(aa_policy_load_file(pf, NULL, &p, NULL), AA_OK);
    char want[65];
    assert_true(aa__sha256_hex(yaml, sizeof yaml - 1, want));
    assert_string_equal(p->sha256, want);
    aa_policy_free(p);
    free(pf);
}

/* ---- torn lines cut inside a character ----------------------------------- */

static void test_verify_torn_utf8(void **state) {
    fixture *f = *state;
    static const char *const chars[] = {"\xc3\xa9", "\xe2\x82\xac",
                                        "\xf0\x9f\x98\x80"};
    for (size_t c = 0; c < 3; c++) {
        size_t clen = strlen(chars[c]);
        for (size_t cut = 1; cut < clen; cut++) {
            unlink(f->path);
            char user[64] = "";
            for (int i = 0; i < 4; i++)
                strcat(user, chars[c]);
            write_n(f->path, AA__FSYNC_NEVER, 2);
            aa__audit *a = NULL;
            assert_int_equal(aa__audit_open(f->path, AA__FSYNC_NEVER, &a, NULL),
                             AA_OK);
            aa_request r = req_of("agent", user, "x");
            assert_int_equal(write_decision(a, &r, true), AA_OK);
            aa__audit_close(a);
            /* Cut the last line inside the second character of user. */
            size_t len;
            char *text = tu_read_file(f->path, &len);
            char *at = strstr(text, user); /* only in the last line */
            assert_non_null(at);
            size_t keep = (size_t)(at - text) + clen + cut;
            free(text);
            assert_int_equal(truncate(f->path, (off_t)keep), 0);
            aa_error *err = aa_error_new();
            size_t n, bad;
            assert_int_equal(aa_audit_verify(f->path, &n, &bad, err), AA_OK);
            assert_int_equal(n, 2);
            assert_int_equal(warnings_with(err, "torn line"), 1);
            assert_int_equal(aa_error_get(err, 0)->line, 3);
            aa_error_free(err);
        }
    }
    /* Bytes that no character starts with are no cut character. */
    unlink(f->path);
    write_n(f->path, AA__FSYNC_NEVER, 1);
    FILE *fp = fopen(f->path, "ab");
    fputs("{\"timestamp\":\"2026-01-01T00:00:00Z\",\"user\":\"\xc3\xa9\xff",
          fp);
    fclose(fp);
    assert_broken(f->path, 2, "malformed");
}

/* ---- a rotation set and anchors ------------------------------------------ */

static void test_verify_rotation_set(void **state) {
    fixture *f = *state;
    write_n(f->path, AA__FSYNC_NEVER, 3);
    lines l = read_lines(f->path);
    json_t *j = parse(l.v[1]);
    char second[65];
    strcpy(second, jstr(j, "hash"));
    json_decref(j);
    lines_free(&l);
    int64_t t = aa_now() + 1000000;
    char *arch1 = NULL, *arch2 = NULL;
    assert_int_equal(aa_audit_rotate(f->path, 0, t, &arch1, NULL, NULL), AA_OK);
    write_n(f->path, AA__FSYNC_NEVER, 2);
    assert_int_equal(
        aa_audit_rotate(f->path, 0, t + 2000000, &arch2, NULL, NULL), AA_OK);
    write_n(f->path, AA__FSYNC_NEVER, 1);

    aa_audit_verify_result res;
    aa_error *err = aa_error_new();
    assert_int_equal(aa_audit_verify_chain(f->path, NULL, &res, err), AA_OK);
    assert_int_equal(res.lines, 2);
    assert_int_equal(res.archives, 2);
    assert_int_equal(res.archive_lines, 3 + 3);
    assert_true(res.start_anchored);
    l = read_lines(f->path);
    j = parse(l.v[1]);
    assert_string_equal(res.head, jstr(j, "hash"));
    json_decref(j);
    lines_free(&l);

    /* Anchors: the head, a line in the oldest archive; not a made-up one. */
    char head[65];
    strcpy(head, res.head);
    aa_audit_verify_options o = {.anchor = head};
    assert_int_equal(aa_audit_verify_chain(f->path, &o, &res, err), AA_OK);
    assert_true(res.anchor_found);
    o.anchor = second;
    assert_int_equal(aa_audit_verify_chain(f->path, &o, &res, err), AA_OK);
    assert_true(res.anchor_found);
    char other[65];
    strcpy(other, second);
    other[0] = other[0] == 'a' ? 'b' : 'a';
    o.anchor = other;
    assert_int_equal(aa_audit_verify_chain(f->path, &o, &res, err), AA_ETAMPER);
    assert_false(res.anchor_found);
    assert_true(contains(err, "anchor not found"));
    o.anchor = "xyz";
    assert_int_equal(aa_audit_verify_chain(f->path, &o, &res, err), AA_EINVAL);
    aa_error_free(err);

    /* The oldest archive gone: the start is not anchored. */
    char *moved = tu_join(f->dir, "elsewhere.jsonl");
    assert_int_equal(rename(arch1, moved), 0);
    err = aa_error_new();
    assert_int_equal(aa_audit_verify_chain(f->path, NULL, &res, err),
                     AA_ETAMPER);
    assert_true(contains(err, "start not anchored: previous file '"));
    assert_true(contains(err, strrchr(arch1, '/') + 1));
    assert_string_equal(aa_error_get(err, 0)->file, arch2);
    assert_int_equal(res.bad_line, 1);
    assert_false(res.start_anchored);
    aa_error_free(err);
    /* The archive alone verifies as far as it goes, but not its start. */
    size_t n, bad;
    assert_int_equal(aa_audit_verify(arch2, &n, &bad, NULL), AA_ETAMPER);
    assert_int_equal(rename(moved, arch1), 0);
    assert_verifies(arch2, 3);

    /* An archive edited: the break is named in the archive. */
    l = read_lines(arch1);
    l.v[0][20] = l.v[0][20] == '1' ? '2' : '1';
    write_lines(arch1, l.v, l.n);
    lines_free(&l);
    err = aa_error_new();
    assert_int_equal(aa_audit_verify_chain(f->path, NULL, &res, err),
                     AA_ETAMPER);
    assert_string_equal(aa_error_get(err, 0)->file, arch1);
    assert_int_equal(res.bad_line, 1);
    aa_error_free(err);
    free(moved);
    free(arch1);
    free(arch2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(fn)                                                                  \
    cmocka_unit_test_setup_teardown(fn, tu_setup_audit_file,                   \
                                    tu_teardown_dir_file)
        cmocka_unit_test(test_sha256_vectors),
        T(test_decision_fields),
        T(test_number_and_time_text),
        T(test_creates_directories_owner_only),
        T(test_lifecycle_events),
        T(test_invalid_utf8_stays_valid_json),
        T(test_fields_newline_and_long_line),
        T(test_threads_share_one_log),
        T(test_fork_does_not_repeat_ids),
        T(test_two_handles_interleave),
        T(test_removed_log_is_recreated),
        T(test_unlinked_file_at_path),
        T(test_fsync_always),
        T(test_fsync_interval),
        T(test_fail_path_is_directory),
        T(test_fail_readonly_directory),
        T(test_fail_disk_full),
        T(test_special_files_refused),
        T(test_read_filters),
        T(test_read_since),
        T(test_read_limit_and_stop),
        T(test_read_skips_malformed),
        T(test_read_missing_and_empty),
        T(test_verify_intact_empty_missing),
        T(test_verify_edited),
        T(test_verify_deleted),
        T(test_verify_inserted),
        T(test_verify_malformed),
        T(test_verify_torn_last_line),
        T(test_foreign_line_is_malformed),
        T(test_rotate),
        T(test_rotate_with_torn_fragment),
        T(test_rotate_lone_record_stays),
        T(test_metadata_and_redaction),
        T(test_policy_sha256_of_file),
        T(test_verify_torn_utf8),
        T(test_verify_rotation_set),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
