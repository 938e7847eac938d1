/* test_request_json.c - the public request reader, aa_request_from_json:
 * fields, metadata (scalars and lists), the id, errors that name the field,
 * buffer reuse, and both of its paths (the fast scanner and jansson). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request_json.h"

typedef struct fixture {
    aa_request_buf *buf;
    aa_error *err;
    aa_request req;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->buf = aa_request_buf_new();
    f->err = aa_error_new();
    *state = f;
    return f && f->buf && f->err ? 0 : -1;
}

static int teardown(void **state) {
    fixture *f = *state;
    aa_request_buf_free(f->buf);
    aa_error_free(f->err);
    free(f);
    return 0;
}

static int read_req(fixture *f, const char *text) {
    aa_error_clear(f->err);
    return aa_request_from_json(text, strlen(text), f->buf, &f->req, f->err);
}

/* The one message of a refused request. */
static const char *message(fixture *f) {
    assert_int_equal(aa_error_count(f->err), 1);
    return aa_error_get(f->err, 0)->message;
}

static const aa_meta *meta(const aa_request *r, const char *key) {
    for (size_t i = 0; i < r->metadata_count; i++)
        if (strcmp(r->metadata[i].key, key) == 0)
            return &r->metadata[i];
    return NULL;
}

static void test_fields_and_id(void **state) {
    fixture *f = *state;
    assert_int_equal(read_req(f, " {\"agent\": \"a\\u00e9\", \"user\": \"u\", "
                                 "\"action\": \"read:x\", \"resource\": null, "
                                 "\"scope\": \"s\", \"session_id\": \"sid\", "
                                 "\"target_agent\": \"t\", \"id\": [1, "
                                 "{\"k\": null}]} "),
                     AA_OK);
    assert_true(f->buf->fast);
    assert_string_equal(f->req.agent, "a\xc3\xa9");
    assert_string_equal(f->req.user, "u");
    assert_string_equal(f->req.action, "read:x");
    assert_null(f->req.resource);
    assert_string_equal(f->req.scope, "s");
    assert_string_equal(f->req.session_id, "sid");
    assert_string_equal(f->req.target_agent, "t");
    assert_int_equal(f->req.metadata_count, 0);
    size_t len;
    const char *id = aa_request_buf_id(f->buf, &len);
    assert_non_null(id);
    assert_int_equal(len, strlen("[1, {\"k\": null}]"));
    assert_memory_equal(id, "[1, {\"k\": null}]", len);

    /* A request the scanner leaves to jansson (an escaped slash pair is
     * fine; a surrogate pair is not its business) reads the same. */
    assert_int_equal(read_req(f, "{\"agent\": \"\\ud83d\\ude00\", \"user\": "
                                 "\"u\", \"action\": \"x\", \"id\": 7}"),
                     AA_OK);
    assert_false(f->buf->fast);
    assert_string_equal(f->req.agent, "\xf0\x9f\x98\x80");
    id = aa_request_buf_id(f->buf, &len);
    assert_non_null(id);
    assert_memory_equal(id, "7", len);

    assert_int_equal(read_req(f, "{\"agent\":\"a\",\"user\":\"u\",\"action\":"
                                 "\"x\"}"),
                     AA_OK);
    assert_null(aa_request_buf_id(f->buf, &len));
    assert_int_equal(len, 0);
}

static void test_metadata_scalars_and_lists(void **state) {
    fixture *f = *state;
    const char *text =
        "{\"agent\":\"a\",\"user\":\"u\",\"action\":\"x\",\"metadata\":{"
        "\"s\":\"v\",\"n\":2.5,\"b\":true,\"z\":null,\"l\":[\"p\",1,false,"
        "null],\"e\":[],\"m\":[\"q\"]}}";
    for (int pass = 0; pass < 2; pass++) {
        json_t *obj = NULL;
        if (pass == 0) {
            assert_int_equal(read_req(f, text), AA_OK);
            assert_true(f->buf->fast);
        } else { /* the same through jansson */
            obj = json_loads(text, 0, NULL);
            assert_non_null(obj);
            assert_int_equal(
                aa__request_from_jansson(obj, f->buf, &f->req, f->err), AA_OK);
        }
        assert_int_equal(f->req.metadata_count, 7);
        assert_int_equal(meta(&f->req, "s")->type, AA_VALUE_STRING);
        assert_string_equal(meta(&f->req, "s")->string, "v");
        assert_true(meta(&f->req, "n")->number == 2.5);
        assert_int_equal(meta(&f->req, "b")->boolean, 1);
        assert_int_equal(meta(&f->req, "z")->type, AA_VALUE_NULL);
        const aa_meta *l = meta(&f->req, "l");
        assert_int_equal(l->type, AA_VALUE_LIST);
        assert_int_equal(l->count, 4);
        assert_string_equal(l->items[0].string, "p");
        assert_true(l->items[1].number == 1);
        assert_int_equal(l->items[2].type, AA_VALUE_BOOL);
        assert_int_equal(l->items[2].boolean, 0);
        assert_int_equal(l->items[3].type, AA_VALUE_NULL);
        assert_int_equal(meta(&f->req, "e")->type, AA_VALUE_LIST);
        assert_int_equal(meta(&f->req, "e")->count, 0);
        const aa_meta *m = meta(&f->req, "m");
        assert_int_equal(m->count, 1);
        assert_string_equal(m->items[0].string, "q");
        json_decref(obj); /* the slow path's strings lived in it */
    }
}

/* Every refusal is one message that names the field. */
static void test_errors_name_the_field(void **state) {
    fixture *f = *state;
    static const struct {
        const char *text;
        int status;
        const char *message;
    } cases[] = {
        {"not json", AA_EPARSE, "invalid JSON at column"},
        {"[1]", AA_EINVAL, "a request must be a JSON object"},
        {"{\"user\":\"u\",\"action\":\"x\"}", AA_EINVAL,
         "field 'agent' is required"},
        {"{\"agent\":\"a\",\"user\":\"u\",\"action\":\"\"}", AA_EINVAL,
         "field 'action' is empty"},
        {"{\"agent\":\"a\",\"user\":\"u\",\"action\":null}", AA_EINVAL,
         "field 'action' is required"},
        {"{\"agent\":1,\"user\":\"u\",\"action\":\"x\"}", AA_EINVAL,
         "field 'agent' must be a string"},
        {"{\"agent\":\"a\",\"user\":\"u\",\"action\":\"x\",\"sope\":1}",
         AA_EINVAL, "unknown field 'sope'"},
        {"{\"agent\":\"a\",\"user\":\"u\",\"action\":\"x\",\"metadata\":[]}",
         AA_EINVAL, "field 'metadata' must be an object"},
        {"{\"agent\":\"a\",\"user\":\"u\",\"action\":\"x\",\"metadata\":"
         "{\"k\":{}}}",
         AA_EINVAL, "metadata 'k' must be a string, number"},
        {"{\"agent\":\"a\",\"user\":\"u\",\"action\":\"x\",\"metadata\":"
         "{\"k\":[1,[2]]}}",
         AA_EINVAL, "metadata 'k': a list may hold only"},
        {"{\"agent\":\"a\",\"user\":\"u\",\"action\":\"x\",\"metadata\":"
         "{\"k\":[{}]}}",
         AA_EINVAL, "not an object"},
        {"{\"agent\":\"a\",\"user\":\"u\",\"action\":\"x\",\"metadata\":"
         "{\"big\":123456789012345678901234567890}}",
         AA_EINVAL, "metadata 'big': integer at column"},
        {"{\"agent\":\"a\",\"user\":\"u\",\"action\":\"x\",\"metadata\":"
         "{\"big\":-123456789012345678901234567890}}",
         AA_EINVAL, "9223372036854775807"},
        {"{\"agent\":\"a\",\"user\":\"u\",\"action\":\"x\",\"metadata\":"
         "{\"r\":1e999}}",
         AA_EINVAL, "metadata 'r': number at column"},
        {"{\"agent\":\"a\",\"user\":\"u\",\"action\":\"x\",\"agent\":\"b\"}",
         AA_EPARSE, "duplicate"},
        {"{\"agent\":\"a\\u0000b\",\"user\":\"u\",\"action\":\"x\"}", AA_EPARSE,
         "invalid JSON"},
        /* a duplicate key anywhere, also inside the echoed id */
        {"{\"agent\":\"a\",\"user\":\"u\",\"action\":\"x\",\"id\":"
         "{\"k\":[1,{\"u\":1,\"v\":2,\"u\":3}]}}",
         AA_EPARSE, "duplicate"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = read_req(f, cases[i].text);
        if (rc != cases[i].status || !strstr(message(f), cases[i].message)) {
            fprintf(stderr, "case %zu: %s -> %d %s\n", i, cases[i].text, rc,
                    message(f));
            fail();
        }
        assert_null(f->req.agent); /* nothing half-filled */
        assert_int_equal(f->req.metadata_count, 0);
    }
}

/* Duplicate metadata keys are found among many keys, by the hash set, on
 * lines after a line that made the buffers grow. */
static void test_many_keys(void **state) {
    fixture *f = *state;
    size_t cap = 1 << 20;
    char *text = malloc(cap);
    for (int round = 0; round < 3; round++) {
        int nkeys = round == 1 ? 40 : 3000;
        size_t n =
            (size_t)snprintf(text, cap,
                             "{\"agent\":\"a\",\"user\":\"u\",\"action\":\"x\","
                             "\"metadata\":{");
        for (int k = 0; k < nkeys; k++)
            n += (size_t)snprintf(text + n, cap - n, "\"key%d\":%d,", k, k);
        snprintf(text + n, cap - n, "\"last\":[1,2]}}");
        assert_int_equal(read_req(f, text), AA_OK);
        assert_true(f->buf->fast);
        assert_int_equal(f->req.metadata_count, (size_t)nkeys + 1);
        assert_true(meta(&f->req, "key17")->number == 17);
        assert_int_equal(meta(&f->req, "last")->count, 2);

        /* The same with a duplicate at the end. */
        snprintf(text + n, cap - n, "\"key%d\":1}}", nkeys / 2);
        assert_int_equal(read_req(f, text), AA_EPARSE);
        assert_non_null(strstr(message(f), "duplicate"));
    }
    free(text);
}

/* The buffer serves a reader of another format too. */
static void test_buffer_for_other_readers(void **state) {
    fixture *f = *state;
    aa_meta *m = aa__request_buf_meta(f->buf, 2);
    aa_meta *it = aa__request_buf_items(f->buf, 3);
    assert_non_null(m);
    assert_non_null(it);
    memset(m, 0, 2 * sizeof *m);
    memset(it, 0, 3 * sizeof *it);
    m[0] = (aa_meta){.key = "a", .type = AA_VALUE_LIST, .count = 1};
    m[1] = (aa_meta){.key = "b", .type = AA_VALUE_LIST, .count = 2};
    it[0] = (aa_meta){.type = AA_VALUE_STRING, .string = "x"};
    it[1] = (aa_meta){.type = AA_VALUE_NUMBER, .number = 1};
    it[2] = (aa_meta){.type = AA_VALUE_NULL};
    aa__request_buf_link_lists(f->buf, 2);
    assert_ptr_equal(m[0].items, it);
    assert_ptr_equal(m[1].items, it + 1);
    assert_true(m[1].items[0].number == 1);
}

static void test_bad_arguments(void **state) {
    fixture *f = *state;
    assert_int_equal(aa_request_from_json(NULL, 0, f->buf, &f->req, f->err),
                     AA_EINVAL);
    assert_int_equal(aa_request_from_json("{}", 2, NULL, &f->req, NULL),
                     AA_EINVAL);
    assert_null(aa_request_buf_id(NULL, NULL));
    aa_request_buf_free(NULL);
}

/* Walks text as an array, writing each element's text into out separated
 * by '|'; the status of the call that stopped it. */
static int walk(fixture *f, const char *text, char *out, size_t cap) {
    size_t pos = 0, off, len, n = 0;
    aa_error_clear(f->err);
    out[0] = 0;
    for (;;) {
        int rc =
            aa_json_array_next(text, strlen(text), &pos, &off, &len, f->err);
        if (rc != AA_OK || len == 0)
            return rc;
        n += (size_t)snprintf(out + n, cap - n, "%s%.*s", n ? "|" : "",
                              (int)len, text + off);
    }
}

static void test_array_walk(void **state) {
    fixture *f = *state;
    char out[256];
    assert_int_equal(walk(f, " [ ] ", out, sizeof out), AA_OK);
    assert_string_equal(out, "");
    assert_int_equal(
        walk(f, "[ {\"a\":\"],}\\\"\"} ,[1,[2]], 3 ,\"x\"]\n", out, sizeof out),
        AA_OK);
    assert_string_equal(out, "{\"a\":\"],}\\\"\"}|[1,[2]]|3|\"x\"");

    /* Each element read as a request. */
    const char *two = "[{\"agent\":\"a\",\"user\":\"u\",\"action\":\"r\"},"
                      "{\"agent\":\"b\",\"user\":\"v\",\"action\":\"w\","
                      "\"id\":7}]";
    size_t pos = 0, off, len;
    assert_int_equal(
        aa_json_array_next(two, strlen(two), &pos, &off, &len, f->err), AA_OK);
    assert_int_equal(
        aa_request_from_json(two + off, len, f->buf, &f->req, f->err), AA_OK);
    assert_string_equal(f->req.agent, "a");
    assert_int_equal(
        aa_json_array_next(two, strlen(two), &pos, &off, &len, f->err), AA_OK);
    assert_int_equal(
        aa_request_from_json(two + off, len, f->buf, &f->req, f->err), AA_OK);
    assert_string_equal(f->req.user, "v");
    size_t idlen;
    const char *id = aa_request_buf_id(f->buf, &idlen);
    assert_int_equal(idlen, 1);
    assert_memory_equal(id, "7", 1);
    assert_int_equal(
        aa_json_array_next(two, strlen(two), &pos, &off, &len, f->err), AA_OK);
    assert_int_equal(len, 0);
    /* Past the end it stays at the end. */
    assert_int_equal(
        aa_json_array_next(two, strlen(two), &pos, &off, &len, f->err), AA_OK);
    assert_int_equal(len, 0);

    /* Malformed arrays: the element index and column are named. */
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"", "JSON array: expected '[' at column 1"},
        {"{\"a\":1}", "JSON array: expected '[' at column 1"},
        {"[1,2", "JSON array: element 1 at column 5: the array is not closed"},
        {"[1,", "JSON array: element 1 at column 4: the array is not closed"},
        {"[1,]", "JSON array: element 1 at column 4: no element after ','"},
        {"[,1]", "JSON array: element 0 at column 2: no element before ','"},
        {"[1,{\"a\":\"b]", "JSON array: element 1 at column 9: a string is "
                           "not closed"},
        {"[1,2}]", "JSON array: element 1 at column 5: unexpected '}'"},
        {"[1] x", "JSON array: text after the array at column 5"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(walk(f, bad[i].text, out, sizeof out), AA_EPARSE);
        assert_string_equal(message(f), bad[i].msg);
    }
    assert_int_equal(aa_json_array_next(NULL, 0, &pos, &off, &len, f->err),
                     AA_EINVAL);
    assert_int_equal(aa_json_array_next("[]", 2, NULL, &off, &len, NULL),
                     AA_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fields_and_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metadata_scalars_and_lists, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_errors_name_the_field, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_many_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_buffer_for_other_readers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_array_walk, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
