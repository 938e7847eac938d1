/*
 * test_expr.c - the condition language.
 *
 * Most behaviour is in tests/data/expr/cases.txt, read by test_cases below:
 *
 *   var NAME: JSON            a variable available to every case
 *   expr: CONDITION           one or more conditions sharing what follows
 *   exprj: "JSON string"      a condition written as a JSON string
 *   ctx: {JSON object}        built-in fields as strings (or null), "meta":
 *                             {key: scalar or list of scalars}, "kind":
 *                             "a2a" (default approval), "nomatchers": true
 *   want: true | false | error COL MESSAGE | eval-error COL MESSAGE
 *
 * A blank line ends a case; '#' starts a comment line. Every condition is
 * also explained (the result must agree) and its pins are cross-checked
 * against the outcome.
 */
#include "testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "expr_impl.h"

/* ---- test matchers ------------------------------------------------------ */

typedef struct matcher_log {
    int calls;
} matcher_log;

static int test_matcher(void *ud, const char *name, const char *value,
                        bool *result) {
    matcher_log *log = ud;
    if (log)
        log->calls++;
    if (strcmp(name, "email") == 0) {
        *result = value && strchr(value, '@') != NULL;
    } else if (strcmp(name, "digits") == 0) {
        *result = value && *value;
        for (const char *p = value; p && *p; p++)
            *result = *result && *p >= '0' && *p <= '9';
    } else if (strcmp(name, "isnull") == 0) {
        *result = value == NULL;
    } else if (strcmp(name, "text") == 0) {
        /* non-strings arrive as their text */
        *result =
            value &&
            (strcmp(value, "10") == 0 || strcmp(value, "2.5") == 0 ||
             strcmp(value, "true") == 0 || strcmp(value, "[\"a\", 1]") == 0);
    } else if (strcmp(name, "pii.ssn") == 0) {
        *result = value && strlen(value) == 11 && value[3] == '-';
    } else if (strcmp(name, "broken") == 0) {
        return AA_EIO;
    } else {
        return AA_ENOTFOUND;
    }
    return AA_OK;
}

/* ---- JSON to values ----------------------------------------------------- */

typedef struct var {
    char *name;
    aa__value value;
} var;

typedef struct vars {
    var items[64];
    size_t n;
    aa__arena arena;
} vars;

static bool to_value(aa__arena *a, json_t *j, aa__value *v) {
    memset(v, 0, sizeof *v);
    switch (json_typeof(j)) {
    case JSON_STRING:
        v->type = AA__V_STR;
        v->u.s.len = json_string_length(j);
        v->u.s.p = aa__arena_strndup(a, json_string_value(j), v->u.s.len);
        return true;
    case JSON_INTEGER:
    case JSON_REAL:
        v->type = AA__V_NUM;
        v->u.n = json_number_value(j);
        return true;
    case JSON_TRUE:
    case JSON_FALSE:
        v->type = AA__V_BOOL;
        v->u.b = json_is_true(j);
        return true;
    case JSON_NULL:
        return true;
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        aa__value *items = aa__arena_alloc(a, (n ? n : 1) * sizeof *items);
        for (size_t i = 0; i < n; i++)
            if (!to_value(a, json_array_get(j, i), &items[i]))
                return false;
        v->type = AA__V_LIST;
        v->u.list.items = items;
        v->u.list.n = n;
        return true;
    }
    default:
        return false;
    }
}

static const aa__value *lookup_var(void *ud, const char *name, size_t len) {
    vars *vs = ud;
    for (size_t i = 0; i < vs->n; i++)
        if (strlen(vs->items[i].name) == len &&
            memcmp(vs->items[i].name, name, len) == 0)
            return &vs->items[i].value;
    return NULL;
}

/* A request context built from a ctx: JSON object. */
typedef struct test_ctx {
    aa__expr_ctx c;
    aa__ctx_kind kind;
    aa_meta meta[32];
    aa_meta items[64]; /* the elements of list values */
    size_t nitems;
    matcher_log log;
} test_ctx;

/* A scalar (or, with items, a list of scalars) as request metadata. */
static bool to_meta(test_ctx *t, json_t *mv, aa_meta *m, bool list_ok) {
    if (json_is_string(mv)) {
        m->type = AA_VALUE_STRING;
        m->string = json_string_value(mv);
    } else if (json_is_number(mv)) {
        m->type = AA_VALUE_NUMBER;
        m->number = json_number_value(mv);
    } else if (json_is_boolean(mv)) {
        m->type = AA_VALUE_BOOL;
        m->boolean = json_is_true(mv);
    } else if (json_is_array(mv) && list_ok) {
        size_t n = json_array_size(mv);
        if (t->nitems + n > AA__ARRAY_LEN(t->items))
            return false;
        m->type = AA_VALUE_LIST;
        m->items = &t->items[t->nitems];
        m->count = n;
        t->nitems += n;
        for (size_t i = 0; i < n; i++)
            if (!to_meta(t, json_array_get(mv, i), (aa_meta *)&m->items[i],
                         false))
                return false;
    } else if (json_is_null(mv)) {
        m->type = AA_VALUE_NULL;
    } else {
        return false;
    }
    return true;
}

static const char *const field_keys[AA__F_COUNT] = {
    "agent",        "user",       "action",     "resource", "scope",
    "target_agent", "session_id", "from_agent", "to_agent"};

/* json must outlive the context (strings are borrowed). */
static bool build_ctx(json_t *json, test_ctx *t) {
    memset(t, 0, sizeof *t);
    t->c.matcher = test_matcher;
    t->c.matcher_ud = &t->log;
    t->c.meta = t->meta;
    if (!json)
        return true;
    const char *key;
    json_t *val;
    json_object_foreach(json, key, val) {
        int f = -1;
        for (int i = 0; i < AA__F_COUNT; i++)
            if (strcmp(key, field_keys[i]) == 0)
                f = i;
        if (f >= 0) {
            if (json_is_string(val)) {
                t->c.fields[f] = json_string_value(val);
                t->c.field_len[f] = json_string_length(val);
            } else if (!json_is_null(val)) {
                return false;
            }
        } else if (strcmp(key, "kind") == 0) {
            t->kind = strcmp(json_string_value(val), "a2a") == 0
                          ? AA__CTX_A2A
                          : AA__CTX_APPROVAL;
        } else if (strcmp(key, "nomatchers") == 0) {
            t->c.matcher = NULL;
        } else if (strcmp(key, "meta") == 0) {
            const char *mk;
            json_t *mv;
            json_object_foreach(val, mk, mv) {
                if (t->c.nmeta == AA__ARRAY_LEN(t->meta))
                    return false;
                aa_meta *m = &t->meta[t->c.nmeta++];
                m->key = mk;
                if (!to_meta(t, mv, m, true))
                    return false;
            }
        } else {
            return false;
        }
    }
    return true;
}

/* ---- the case file ------------------------------------------------------ */

typedef struct runner {
    const char *file;
    vars vs;
    int cases, failures;
} runner;

static void failf(runner *r, int line, const char *expr, const char *fmt, ...)
    AA__PRINTF(4, 5);
static void failf(runner *r, int line, const char *expr, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    print_message("%s:%d: `%s`: %s\n", r->file, line, expr, msg);
    r->failures++;
}

/* When a pin is reported for a field the context's value is not among,
 * the condition must not come out true. */
static void check_pins(runner *r, int line, const char *src, const aa__expr *e,
                       const test_ctx *t, int rc, bool result) {
    for (int f = 0; f < AA__F_COUNT; f++) {
        const char *const *vals;
        size_t n, nexact;
        if (!aa__expr_pins(e, (aa__field)f, &vals, &n, &nexact))
            continue;
        const char *have = t->c.fields[f];
        bool listed = false;
        for (size_t i = 0; i < n && have; i++) {
            size_t len = strlen(vals[i]);
            listed |= (i < nexact ? len == t->c.field_len[f]
                                  : len <= t->c.field_len[f]) &&
                      memcmp(vals[i], have, len) == 0;
        }
        if (!listed && (rc != AA_OK || result))
            failf(r, line, src, "pins %s but the outcome depends on it",
                  field_keys[f]);
    }
    const char *key, *const *vals;
    size_t klen, n;
    if (aa__expr_meta_pin(e, &key, &klen, &vals, &n)) {
        const char *have = aa__meta_string(t->c.meta, t->c.nmeta, key, klen);
        bool listed = false;
        for (size_t i = 0; i < n && have; i++)
            listed |= strcmp(vals[i], have) == 0;
        if (!listed && (rc != AA_OK || result))
            failf(r, line, src,
                  "pins metadata.%.*s but the outcome depends on it", (int)klen,
                  key);
    }
}

static void run_one(runner *r, int line, const char *src, json_t *ctxj,
                    const char *want) {
    r->cases++;
    test_ctx t;
    if (!build_ctx(ctxj, &t)) {
        failf(r, line, src, "bad ctx");
        return;
    }
    aa__expr *e = NULL;
    aa__expr_error err;
    int rc = aa__expr_compile(src, t.kind, lookup_var, &r->vs, &e, &err);
    int wcol = 0;
    char wmsg[256] = "";
    if (strncmp(want, "error ", 6) == 0) {
        sscanf(want + 6, "%d %255[^\n]", &wcol, wmsg);
        if (rc != AA_EPARSE)
            failf(r, line, src, "compiled (rc %d), want error", rc);
        else if (err.column != wcol || strcmp(err.message, wmsg) != 0)
            failf(r, line, src, "error %d '%s', want %d '%s'", err.column,
                  err.message, wcol, wmsg);
        aa__expr_free(e);
        return;
    }
    if (rc != AA_OK) {
        failf(r, line, src, "compile error %d at column %d: %s", rc, err.column,
              err.message);
        return;
    }
    bool result = false;
    rc = aa__expr_eval(e, &t.c, &result, &err);
    if (strncmp(want, "eval-error ", 11) == 0) {
        sscanf(want + 11, "%d %255[^\n]", &wcol, wmsg);
        if (rc != AA_EEVAL)
            failf(r, line, src, "evaluated (rc %d, %d), want eval error", rc,
                  result);
        else if (err.column != wcol || strcmp(err.message, wmsg) != 0)
            failf(r, line, src, "eval error %d '%s', want %d '%s'", err.column,
                  err.message, wcol, wmsg);
    } else if (strcmp(want, "true") == 0 || strcmp(want, "false") == 0) {
        if (rc != AA_OK)
            failf(r, line, src, "eval error at column %d: %s", err.column,
                  err.message);
        else if (result != (strcmp(want, "true") == 0))
            failf(r, line, src, "got %s, want %s", result ? "true" : "false",
                  want);
    } else {
        failf(r, line, src, "bad want '%s'", want);
    }
    /* explain agrees with eval */
    aa__buf out;
    aa__buf_init(&out);
    bool again = !result;
    int rc2 = aa__expr_explain(e, &t.c, &again, NULL, &out);
    if (rc2 != rc || (rc == AA_OK && again != result) || out.len == 0)
        failf(r, line, src, "explain disagrees: rc %d/%d result %d/%d", rc2, rc,
              again, result);
    aa__buf_free(&out);
    check_pins(r, line, src, e, &t, rc, result);
    aa__expr_free(e);
}

#define MAX_EXPRS 32

static void test_cases(void **state) {
    (void)state;
    runner r;
    memset(&r, 0, sizeof r);
    aa__arena_init(&r.vs.arena);
    r.file = "tests/data/expr/cases.txt";
    char *path = tu_path(r.file);
    char *text = tu_read_file(path, NULL);
    free(path);
    assert_non_null(text);

    char *exprs[MAX_EXPRS];
    int expr_lines[MAX_EXPRS];
    int nexpr = 0;
    json_t *ctxj = NULL;
    int lineno = 0;
    char *save = NULL;
    /* Split on '\n' keeping empty lines (strtok would merge them). */
    for (char *line = text; line; line = save) {
        save = strchr(line, '\n');
        if (save)
            *save++ = 0;
        lineno++;
        if (line[0] == '#')
            continue;
        if (line[0] == 0) {
            if (nexpr)
                failf(&r, expr_lines[0], exprs[0], "case without want:");
            nexpr = 0;
            json_decref(ctxj);
            ctxj = NULL;
            continue;
        }
        if (strncmp(line, "var ", 4) == 0) {
            char *colon = strchr(line, ':');
            assert_non_null(colon);
            *colon = 0;
            json_error_t je;
            json_t *j = json_loads(colon + 1, JSON_DECODE_ANY, &je);
            if (!j) {
                fail_msg("%s:%d: bad JSON: %s", r.file, lineno, je.text);
            }
            var *v = &r.vs.items[r.vs.n++];
            v->name = aa__arena_strdup(&r.vs.arena, line + 4);
            assert_true(to_value(&r.vs.arena, j, &v->value));
            json_decref(j);
        } else if (strncmp(line, "expr: ", 6) == 0) {
            assert_true(nexpr < MAX_EXPRS);
            expr_lines[nexpr] = lineno;
            exprs[nexpr++] = line + 6;
        } else if (strncmp(line, "exprj: ", 7) == 0) {
            json_error_t je;
            json_t *j = json_loads(line + 7, JSON_DECODE_ANY, &je);
            if (!j || !json_is_string(j))
                fail_msg("%s:%d: exprj needs a JSON string", r.file, lineno);
            assert_true(nexpr < MAX_EXPRS);
            expr_lines[nexpr] = lineno;
            exprs[nexpr++] =
                aa__arena_strdup(&r.vs.arena, json_string_value(j));
            json_decref(j);
        } else if (strncmp(line, "ctx: ", 5) == 0) {
            json_error_t je;
            json_decref(ctxj);
            ctxj = json_loads(line + 5, 0, &je);
            if (!ctxj)
                fail_msg("%s:%d: bad ctx JSON: %s", r.file, lineno, je.text);
        } else if (strncmp(line, "want: ", 6) == 0) {
            if (nexpr == 0)
                fail_msg("%s:%d: want without expr", r.file, lineno);
            for (int i = 0; i < nexpr; i++)
                run_one(&r, expr_lines[i], exprs[i], ctxj, line + 6);
            nexpr = 0;
        } else {
            fail_msg("%s:%d: cannot read '%s'", r.file, lineno, line);
        }
    }
    json_decref(ctxj);
    print_message("%d cases, %d failures\n", r.cases, r.failures);
    aa__arena_free(&r.vs.arena);
    free(text);
    assert_int_equal(r.failures, 0);
    assert_true(r.cases >= 80);
}

/* ---- helpers for the unit tests below ----------------------------------- */

static const aa__value *one_var(void *ud, const char *name, size_t len) {
    static const aa__value limit = {.type = AA__V_NUM, .u.n = 10000};
    static const aa__value items[] = {
        {.type = AA__V_STR, .u.s = {"prod", 4}},
        {.type = AA__V_STR, .u.s = {"production", 10}}};
    static const aa__value envs = {.type = AA__V_LIST, .u.list = {items, 2}};
    static const aa__value prefix = {.type = AA__V_STR, .u.s = {"gen:", 4}};
    (void)ud;
    if (len == 6 && memcmp(name, "prefix", 6) == 0)
        return &prefix;
    if (len == 13 && memcmp(name, "finance_limit", 13) == 0)
        return &limit;
    if (len == 15 && memcmp(name, "production_envs", 15) == 0)
        return &envs;
    return NULL;
}

static aa__expr *compile_ok(const char *src, aa__ctx_kind kind) {
    aa__expr *e = NULL;
    aa__expr_error err;
    int rc = aa__expr_compile(src, kind, one_var, NULL, &e, &err);
    if (rc != AA_OK)
        fail_msg("`%s`: %d at %d: %s", src, rc, err.column, err.message);
    return e;
}

static void set_field(aa__expr_ctx *c, aa__field f, const char *v) {
    c->fields[f] = v;
    c->field_len[f] = v ? strlen(v) : 0;
}

/* Explains src on c and compares the text. */
static void expect_explain(const char *src, const aa__expr_ctx *c, int want_rc,
                           bool want, const char *text) {
    aa__expr *e = compile_ok(src, AA__CTX_APPROVAL);
    aa__buf out;
    aa__buf_init(&out);
    bool result = !want;
    aa__expr_error err;
    int rc = aa__expr_explain(e, c, &result, &err, &out);
    assert_int_equal(rc, want_rc);
    if (rc == AA_OK)
        assert_int_equal(result, want);
    assert_string_equal(out.data, text);
    aa__buf_free(&out);
    aa__expr_free(e);
}

static void test_explain(void **state) {
    (void)state;
    aa_meta meta[] = {
        {.key = "amount", .type = AA_VALUE_NUMBER, .number = 20},
        {.key = "env", .type = AA_VALUE_STRING, .string = "prod"},
        {.key = "note", .type = AA_VALUE_STRING, .string = "say \"hi\""}};
    aa__expr_ctx c;
    memset(&c, 0, sizeof c);
    c.meta = meta;
    c.nmeta = 3;
    c.matcher = test_matcher;
    set_field(&c, AA__F_ACTION, "deploy");
    set_field(&c, AA__F_USER, "bob");

    expect_explain("action == \"deploy\"", &c, AA_OK, true,
                   "`action == \"deploy\"` is true (action = \"deploy\")");
    expect_explain("amount > 1000", &c, AA_OK, false,
                   "`amount > 1000` is false (amount = 20)");
    /* and: the first false operand decides */
    expect_explain("action == \"deploy\" and amount > $finance_limit", &c,
                   AA_OK, false,
                   "`amount > $finance_limit` is false (amount = 20, "
                   "$finance_limit = 10000)");
    /* and that is true: the whole expression, every value once */
    expect_explain("action starts_with \"dep\" and metadata.env in "
                   "$production_envs and action != \"x\"",
                   &c, AA_OK, true,
                   "`action starts_with \"dep\" and metadata.env in "
                   "$production_envs and action != \"x\"` is true (action = "
                   "\"deploy\", metadata.env = \"prod\", $production_envs = "
                   "[\"prod\", \"production\"])");
    /* or: the first true operand, found through parentheses */
    expect_explain("user == \"alice\" or (amount < 100 and env == \"prod\")",
                   &c, AA_OK, true,
                   "`amount < 100 and env == \"prod\"` is true (amount = 20, "
                   "env = \"prod\")");
    expect_explain("(user == \"x\" or amount > 5) and env == \"dev\"", &c,
                   AA_OK, false, "`env == \"dev\"` is false (env = \"prod\")");
    /* or that is false: the whole expression */
    expect_explain("user == \"alice\" or missing", &c, AA_OK, false,
                   "`user == \"alice\" or missing` is false (user = \"bob\", "
                   "missing = null)");
    expect_explain("not (user in [\"alice\", \"root\"])", &c, AA_OK, true,
                   "`not (user in [\"alice\", \"root\"])` is true (user = "
                   "\"bob\")");
    expect_explain(
        "note contains \"hi\"", &c, AA_OK, true,
        "`note contains \"hi\"` is true (note = \"say \\\"hi\\\"\")");
    expect_explain("1 == 1.0", &c, AA_OK, true, "`1 == 1.0` is true");
    /* errors: the failing sub-expression and why */
    expect_explain("action == \"deploy\" and user matches broken", &c, AA_EEVAL,
                   false,
                   "`user matches broken` could not be evaluated: matcher "
                   "'broken' failed: input/output error (user = \"bob\")");
    expect_explain("user matches nope", &c, AA_EEVAL, false,
                   "`user matches nope` could not be evaluated: unknown "
                   "matcher 'nope' (user = \"bob\")");
    expect_explain("  ", &c, AA_OK, true, "empty condition: always true");
    /* a metadata list is shown with its elements */
    aa_meta tags[] = {{.type = AA_VALUE_STRING, .string = "pii"},
                      {.type = AA_VALUE_NUMBER, .number = 2}};
    aa_meta with_list[] = {
        {.key = "tags", .type = AA_VALUE_LIST, .items = tags, .count = 2}};
    aa__expr_ctx lc = c;
    lc.meta = with_list;
    lc.nmeta = 1;
    expect_explain("\"pii\" in tags", &lc, AA_OK, true,
                   "`\"pii\" in tags` is true (tags = [\"pii\", 2])");
    expect_explain("tags > 1", &lc, AA_EEVAL, false,
                   "`tags > 1` could not be evaluated: cannot order a list and "
                   "a number with '>' (both sides must be numbers, or both "
                   "strings) (tags = [\"pii\", 2])");

    /* long values are shortened */
    char longv[200];
    memset(longv, 'a', sizeof longv - 1);
    longv[sizeof longv - 1] = 0;
    set_field(&c, AA__F_RESOURCE, longv);
    aa__expr *e = compile_ok("resource == \"b\"", AA__CTX_APPROVAL);
    aa__buf out;
    aa__buf_init(&out);
    bool result;
    assert_int_equal(aa__expr_explain(e, &c, &result, NULL, &out), AA_OK);
    assert_false(result);
    assert_non_null(strstr(out.data, "aaa...\")"));
    assert_true(out.len < 120);
    aa__buf_free(&out);
    aa__expr_free(e);
}

/* pins(src, field) with the expected literals (NULL-terminated; a prefix
 * is written with a trailing '*'), or want == NULL for "no pin". */
static void expect_pins(const char *src, aa__ctx_kind kind, aa__field f,
                        const char *const *want) {
    aa__expr *e = compile_ok(src, kind);
    const char *const *vals = NULL;
    size_t n = 99, nexact = 99;
    bool pinned = aa__expr_pins(e, f, &vals, &n, &nexact);
    if (!want) {
        if (pinned)
            fail_msg("`%s` pins field %d", src, (int)f);
    } else {
        if (!pinned)
            fail_msg("`%s` does not pin field %d", src, (int)f);
        size_t k = 0;
        while (want[k])
            k++;
        assert_int_equal(n, k);
        assert_true(nexact <= n);
        for (size_t i = 0; i < k; i++) {
            char got[64];
            snprintf(got, sizeof got, "%s%s", vals[i], i < nexact ? "" : "*");
            assert_string_equal(got, want[i]);
        }
    }
    aa__expr_free(e);
}

/* meta_pin(src) with the expected key and values (NULL-terminated), or
 * key == NULL for "no metadata pin". */
static void expect_meta_pin(const char *src, const char *want_key,
                            const char *const *want) {
    aa__expr *e = compile_ok(src, AA__CTX_APPROVAL);
    const char *key = NULL, *const *vals = NULL;
    size_t klen = 0, n = 0;
    bool pinned = aa__expr_meta_pin(e, &key, &klen, &vals, &n);
    if (!want_key) {
        if (pinned)
            fail_msg("`%s` pins metadata.%.*s", src, (int)klen, key);
    } else {
        if (!pinned)
            fail_msg("`%s` does not pin metadata.%s", src, want_key);
        assert_int_equal(klen, strlen(want_key));
        assert_memory_equal(key, want_key, klen);
        size_t k = 0;
        while (want[k])
            k++;
        assert_int_equal(n, k);
        for (size_t i = 0; i < k; i++)
            assert_string_equal(vals[i], want[i]);
    }
    aa__expr_free(e);
}

static void test_meta_pins(void **state) {
    (void)state;
    const char *const acme[] = {"acme", NULL};
    const char *const ab[] = {"a", "b", NULL};
    const char *const envs[] = {"prod", "production", "stage", NULL};
    expect_meta_pin("metadata.tenant == \"acme\" and amount > 5", "tenant",
                    acme);
    expect_meta_pin("\"acme\" == tenant", "tenant", acme);
    expect_meta_pin("5 < 6 and tenant in [\"a\", \"b\"]", "tenant", ab);
    expect_meta_pin("amount > 5 and tenant in [\"a\", \"b\"]", NULL, NULL);
    expect_meta_pin("action == \"x\" and metadata.tenant == \"acme\"", "tenant",
                    acme);
    expect_meta_pin("metadata.env in $production_envs or env == \"stage\"",
                    "env", envs);
    /* not pins */
    expect_meta_pin("metadata.env == \"a\" or metadata.zone == \"b\"", NULL,
                    NULL);
    expect_meta_pin("metadata.env == \"a\" or x", NULL, NULL);
    expect_meta_pin("x matches email and tenant == \"a\"", NULL, NULL);
    expect_meta_pin("tenant == 1", NULL, NULL);
    expect_meta_pin("tenant in [\"a\", 1]", NULL, NULL);
    expect_meta_pin("not tenant == \"a\"", NULL, NULL);
    expect_meta_pin("tenant != \"a\"", NULL, NULL);
    expect_meta_pin("action == \"a\"", NULL, NULL);
    expect_meta_pin("tenant == user", NULL, NULL);
}

static void test_pins(void **state) {
    (void)state;
    const char *const deploy[] = {"deploy", NULL};
    const char *const ab[] = {"a", "b", NULL};
    const char *const envs[] = {"prod", "production", NULL};
    const char *const none[] = {NULL};
    const aa__ctx_kind A = AA__CTX_APPROVAL;

    expect_pins("action == \"deploy\"", A, AA__F_ACTION, deploy);
    expect_pins("\"deploy\" == action", A, AA__F_ACTION, deploy);
    expect_pins("action in [\"a\", \"b\"]", A, AA__F_ACTION, ab);
    expect_pins("user in $production_envs", A, AA__F_USER, envs);
    expect_pins("action in []", A, AA__F_ACTION, none);
    expect_pins("(action == \"deploy\") and amount > 5", A, AA__F_ACTION,
                deploy);
    expect_pins("user == \"x\" and action == \"deploy\"", A, AA__F_ACTION,
                deploy);
    expect_pins("resource < \"m\" and action == \"deploy\"", A, AA__F_ACTION,
                deploy);
    /* metadata may hold any kind: ordering it can fail, so nothing after
     * it pins */
    expect_pins("amount > 5 and action == \"deploy\"", A, AA__F_ACTION, NULL);
    expect_pins("action == \"deploy\" and x matches email", A, AA__F_ACTION,
                deploy);
    expect_pins("from_agent == \"deploy\"", AA__CTX_A2A, AA__F_FROM_AGENT,
                deploy);
    expect_pins("agent == \"deploy\"", AA__CTX_A2A, AA__F_AGENT, deploy);
    expect_pins("ACTION == \"deploy\" AND action == \"deploy\"", A,
                AA__F_ACTION, deploy);

    /* prefixes, and `or` chains of pins */
    const char *const gen[] = {"gen:*", NULL};
    const char *const mixed[] = {"a", "c", "d", "b*", "e*", NULL};
    const char *const ab_or[] = {"a", "b", NULL};
    const char *const a_pre[] = {"a*", NULL};
    const char *const empty_pre[] = {"*", NULL};
    expect_pins("action starts_with \"gen:\"", A, AA__F_ACTION, gen);
    expect_pins("user >= \"a\" and action starts_with \"gen:\"", A,
                AA__F_ACTION, gen);
    expect_pins("amount > 5 and action starts_with \"gen:\"", A, AA__F_ACTION,
                NULL);
    expect_pins("action starts_with $prefix", A, AA__F_ACTION, gen);
    expect_pins("action starts_with \"\"", A, AA__F_ACTION, empty_pre);
    expect_pins("action == \"a\" or action == \"b\"", A, AA__F_ACTION, ab_or);
    expect_pins("action == \"a\" or action starts_with \"b\" or action in "
                "[\"c\", \"d\"] or action starts_with \"e\"",
                A, AA__F_ACTION, mixed);
    /* exact values win over a prefix, wherever they are in the chain ... */
    expect_pins("action starts_with \"a\" and action == \"deploy\"", A,
                AA__F_ACTION, deploy);
    /* ... unless a conjunct that can fail comes first */
    expect_pins("action starts_with \"a\" and x matches email and action == "
                "\"deploy\"",
                A, AA__F_ACTION, a_pre);

    /* not pins */
    expect_pins("action == \"deploy\"", A, AA__F_USER, NULL);
    expect_pins("x matches email and action == \"deploy\"", A, AA__F_ACTION,
                NULL);
    expect_pins("not action == \"a\"", A, AA__F_ACTION, NULL);
    expect_pins("action != \"a\"", A, AA__F_ACTION, NULL);
    expect_pins("action == 1", A, AA__F_ACTION, NULL);
    expect_pins("action in [\"a\", 1]", A, AA__F_ACTION, NULL);
    expect_pins("resource in [null, \"a\"]", A, AA__F_RESOURCE, NULL);
    expect_pins("action in \"deploy:prod\"", A, AA__F_ACTION, NULL);
    expect_pins("\"a\" in action", A, AA__F_ACTION, NULL);
    expect_pins("action == user", A, AA__F_ACTION, NULL);
    expect_pins("metadata.action == \"deploy\"", A, AA__F_ACTION, NULL);
    expect_pins("agent == \"x\"", AA__CTX_A2A, AA__F_USER, NULL);
    expect_pins("action == \"a\" or user == \"b\"", A, AA__F_ACTION, NULL);
    expect_pins("action == \"a\" or x", A, AA__F_ACTION, NULL);
    expect_pins("action ends_with \"a\"", A, AA__F_ACTION, NULL);
    expect_pins("action starts_with 1", A, AA__F_ACTION, NULL);
    expect_pins("\"a\" starts_with action", A, AA__F_ACTION, NULL);
    expect_pins("not action starts_with \"a\"", A, AA__F_ACTION, NULL);
    expect_pins("x matches email and action starts_with \"a\"", A, AA__F_ACTION,
                NULL);
    expect_pins("(action == \"a\" and x) or y", A, AA__F_ACTION, NULL);
    expect_pins("", A, AA__F_ACTION, NULL);
    expect_pins("action in [\"a\", x]", A, AA__F_ACTION, NULL);
}

static void expect_caret(const char *src, int col, const char *want) {
    aa__buf out;
    aa__buf_init(&out);
    aa__expr_caret(src, col, &out);
    assert_string_equal(out.len ? out.data : "", want);
    aa__buf_free(&out);
}

static void test_caret(void **state) {
    (void)state;
    expect_caret("action == \"x\" and", 17,
                 "action == \"x\" and\n                ^");
    expect_caret("a == b", 1, "a == b\n^");
    expect_caret("a == b", 99, "a == b\n      ^"); /* clamped past the end */
    expect_caret("a == b", 0, "a == b");           /* no place */
    expect_caret("a ==\n\tb", 6, "a ==  b\n     ^");
    /* columns count characters, not bytes */
    expect_caret("\"h\xc3\xa9\" == x", 6, "\"h\xc3\xa9\" == x\n     ^");

    /* long sources show a window around the column */
    char src[400];
    memset(src, 'x', sizeof src - 1);
    src[sizeof src - 1] = 0;
    src[300] = '@';
    aa__buf out;
    aa__buf_init(&out);
    aa__expr_caret(src, 301, &out);
    char *nl = strchr(out.data, '\n');
    assert_non_null(nl);
    assert_true(nl - out.data <= 106);
    assert_int_equal(strncmp(out.data, "...", 3), 0);
    size_t caret = strlen(nl + 1) - 1;
    assert_int_equal(nl[1 + caret], '^');
    assert_int_equal(out.data[caret], '@');
    aa__buf_free(&out);
}

static void test_truthy(void **state) {
    (void)state;
    aa__value v;
    memset(&v, 0, sizeof v);
    assert_false(aa__value_truthy(&v)); /* null */
    assert_false(aa__value_truthy(NULL));
    v.type = AA__V_BOOL;
    assert_false(aa__value_truthy(&v));
    v.u.b = true;
    assert_true(aa__value_truthy(&v));
    v.type = AA__V_NUM;
    v.u.n = 0;
    assert_false(aa__value_truthy(&v));
    v.u.n = -0.5;
    assert_true(aa__value_truthy(&v));
    v.type = AA__V_STR;
    v.u.s.p = "";
    v.u.s.len = 0;
    assert_false(aa__value_truthy(&v));
    v.u.s.p = "0";
    v.u.s.len = 1;
    assert_true(aa__value_truthy(&v));
    v.type = AA__V_LIST;
    v.u.list.items = NULL;
    v.u.list.n = 0;
    assert_false(aa__value_truthy(&v));
    aa__value one = {.type = AA__V_NULL};
    v.u.list.items = &one;
    v.u.list.n = 1;
    assert_true(aa__value_truthy(&v));
}

static void expect_compile_error(const char *src, int col, const char *msg) {
    aa__expr *e = (aa__expr *)1;
    aa__expr_error err;
    assert_int_equal(
        aa__expr_compile(src, AA__CTX_APPROVAL, one_var, NULL, &e, &err),
        AA_EPARSE);
    assert_null(e);
    assert_int_equal(err.column, col);
    assert_string_equal(err.message, msg);
}

/* src = prefix x n, middle, suffix x n; malloc'd */
static char *repeat(const char *prefix, int n, const char *middle,
                    const char *suffix) {
    size_t lp = strlen(prefix), lm = strlen(middle), ls = strlen(suffix);
    char *s = malloc((lp + ls) * (size_t)n + lm + 1);
    char *p = s;
    for (int i = 0; i < n; i++, p += lp)
        memcpy(p, prefix, lp);
    memcpy(p, middle, lm);
    p += lm;
    for (int i = 0; i < n; i++, p += ls)
        memcpy(p, suffix, ls);
    *p = 0;
    return s;
}

static void test_limits(void **state) {
    (void)state;
    char *s;
    bool r;

    /* 3,000 levels fail cleanly, at the first level past the limit */
    s = repeat("(", 3000, "true", ")");
    expect_compile_error(s, AA__EXPR_MAX_DEPTH,
                         "nesting too deep (the limit "
                         "is 64 levels)");
    free(s);
    s = repeat("not ", 3000, "true", "");
    expect_compile_error(s, 4 * (AA__EXPR_MAX_DEPTH - 1) + 1,
                         "nesting too deep (the limit is 64 levels)");
    free(s);
    s = repeat("[", 3000, "1", "]");
    expect_compile_error(s, AA__EXPR_MAX_DEPTH,
                         "nesting too deep (the limit "
                         "is 64 levels)");
    free(s);

    /* just inside the limit compiles and evaluates */
    s = repeat("(", AA__EXPR_MAX_DEPTH - 1, "true", ")");
    aa__expr *e = compile_ok(s, AA__CTX_APPROVAL);
    assert_int_equal(aa__expr_eval(e, NULL, &r, NULL), AA_OK);
    assert_true(r);
    aa__expr_free(e);
    free(s);
    s = repeat("not ", AA__EXPR_MAX_DEPTH - 1, "true", "");
    e = compile_ok(s, AA__CTX_APPROVAL);
    assert_int_equal(aa__expr_eval(e, NULL, &r, NULL), AA_OK);
    assert_false(r); /* 63 negations */
    aa__expr_free(e);
    free(s);

    /* a long flat chain is not nesting */
    s = repeat("true and ", 5000, "true", "");
    e = compile_ok(s, AA__CTX_APPROVAL);
    assert_int_equal(aa__expr_eval(e, NULL, &r, NULL), AA_OK);
    assert_true(r);
    aa__expr_free(e);
    free(s);

    /* list length */
    s = repeat("1, ", AA__EXPR_MAX_LIST, "1", "");
    char *list = malloc(strlen(s) + 16);
    sprintf(list, "1 in [%s]", s);
    expect_compile_error(list, 7 + 3 * AA__EXPR_MAX_LIST,
                         "list too long (the limit is 4096 items)");
    free(s);
    free(list);
    s = repeat("1, ", AA__EXPR_MAX_LIST - 1, "2", "");
    list = malloc(strlen(s) + 16);
    sprintf(list, "2 in [%s]", s);
    e = compile_ok(list, AA__CTX_APPROVAL);
    assert_int_equal(aa__expr_eval(e, NULL, &r, NULL), AA_OK);
    assert_true(r);
    aa__expr_free(e);
    free(s);
    free(list);

    /* source length */
    s = malloc(AA__EXPR_MAX_LEN + 2);
    memset(s, ' ', AA__EXPR_MAX_LEN + 1);
    s[AA__EXPR_MAX_LEN + 1] = 0;
    expect_compile_error(s, 0,
                         "condition too long (65537 bytes; the limit is "
                         "65536)");
    s[AA__EXPR_MAX_LEN] = 0;
    e = compile_ok(s, AA__CTX_APPROVAL);
    assert_true(aa__expr_is_empty(e));
    aa__expr_free(e);
    free(s);
}

static int counting_matcher(void *ud, const char *name, const char *value,
                            bool *result) {
    (void)name;
    (void)value;
    ++*(int *)ud;
    *result = true;
    return AA_OK;
}

static void test_api(void **state) {
    (void)state;
    aa__expr *e = compile_ok("  action == 'x'  ", AA__CTX_APPROVAL);
    assert_string_equal(aa__expr_source(e), "  action == 'x'  ");
    assert_false(aa__expr_is_empty(e));
    bool r = true;
    /* a NULL context is an empty request */
    assert_int_equal(aa__expr_eval(e, NULL, &r, NULL), AA_OK);
    assert_false(r);
    assert_int_equal(aa__expr_eval(NULL, NULL, &r, NULL), AA_EINVAL);
    assert_int_equal(aa__expr_eval(e, NULL, NULL, NULL), AA_EINVAL);
    aa__expr_free(e);
    aa__expr_free(NULL);

    aa__expr_error err;
    assert_int_equal(
        aa__expr_compile("x", AA__CTX_APPROVAL, NULL, NULL, NULL, &err),
        AA_EINVAL);
    /* no lookup function: every variable is undefined */
    assert_int_equal(
        aa__expr_compile("x in $envs", AA__CTX_APPROVAL, NULL, NULL, &e, &err),
        AA_EPARSE);
    assert_int_equal(err.column, 6);
    assert_string_equal(err.message, "undefined variable '$envs'");
    e = compile_ok(NULL, AA__CTX_APPROVAL);
    assert_true(aa__expr_is_empty(e));
    assert_int_equal(aa__expr_eval(e, NULL, &r, NULL), AA_OK);
    assert_true(r);
    aa__expr_free(e);

    /* short-circuit: the matcher runs only when it has to */
    int calls = 0;
    aa__expr_ctx c;
    memset(&c, 0, sizeof c);
    c.matcher = counting_matcher;
    c.matcher_ud = &calls;
    e = compile_ok("false and x matches m", AA__CTX_APPROVAL);
    assert_int_equal(aa__expr_eval(e, &c, &r, NULL), AA_OK);
    assert_false(r);
    aa__expr_free(e);
    e = compile_ok("true or x matches m", AA__CTX_APPROVAL);
    assert_int_equal(aa__expr_eval(e, &c, &r, NULL), AA_OK);
    assert_true(r);
    aa__expr_free(e);
    assert_int_equal(calls, 0);
    e = compile_ok("true and x matches m and y matches 'n'", AA__CTX_APPROVAL);
    assert_int_equal(aa__expr_eval(e, &c, &r, NULL), AA_OK);
    assert_true(r);
    assert_int_equal(calls, 2);
    aa__expr_free(e);
}

static const aa__value *holder_lookup(void *ud, const char *name, size_t len) {
    (void)name;
    (void)len;
    return ud;
}

static void test_variables_copied(void **state) {
    (void)state;
    char a[] = "alice", b[] = "bob";
    aa__value items[2];
    memset(items, 0, sizeof items);
    items[0].type = items[1].type = AA__V_STR;
    items[0].u.s.p = a;
    items[0].u.s.len = 5;
    items[1].u.s.p = b;
    items[1].u.s.len = 3;
    aa__value list = {.type = AA__V_LIST, .u.list = {items, 2}};
    aa__expr *e = NULL;
    aa__expr_error err;
    assert_int_equal(aa__expr_compile("user in $who", AA__CTX_APPROVAL,
                                      holder_lookup, &list, &e, &err),
                     AA_OK);
    memset(a, 'x', 5);
    memset(items, 0, sizeof items);
    aa__expr_ctx c;
    memset(&c, 0, sizeof c);
    set_field(&c, AA__F_USER, "alice");
    bool r = false;
    assert_int_equal(aa__expr_eval(e, &c, &r, NULL), AA_OK);
    assert_true(r);
    const char *const *vals;
    size_t n;
    assert_true(aa__expr_pins(e, AA__F_USER, &vals, &n, NULL));
    assert_int_equal(n, 2);
    assert_string_equal(vals[0], "alice");
    aa__expr_free(e);

    /* a variable nested deeper than the limit is refused */
    aa__value chain[AA__EXPR_MAX_DEPTH + 2];
    for (int i = 0; i < AA__EXPR_MAX_DEPTH + 2; i++) {
        memset(&chain[i], 0, sizeof chain[i]);
        if (i + 1 < AA__EXPR_MAX_DEPTH + 2) {
            chain[i].type = AA__V_LIST;
            chain[i].u.list.items = &chain[i + 1];
            chain[i].u.list.n = 1;
        }
    }
    assert_int_equal(aa__expr_compile("x == $deep", AA__CTX_APPROVAL,
                                      holder_lookup, chain, &e, &err),
                     AA_EPARSE);
    assert_int_equal(err.column, 6);
    assert_string_equal(err.message, "variable '$deep' is nested too deep");
}

/* A compiled condition's block holds what it uses, not the worst case of
 * its tokens (a node, a value, a pin and a list slot for every token):
 * parentheses, commas and operators' second words make no node. */
static void test_compiled_size(void **state) {
    (void)state;
    const char *srcs[] = {
        "((((action == \"deploy\"))))",
        "action in [\"a\", \"b\", \"c\", \"d\"] and not (user == \"x\")",
        "metadata.env in [\"prod\", \"production\"] and amount > 5",
        "(user == \"a\") or (user == \"b\") or (user == \"c\")",
    };
    for (size_t i = 0; i < sizeof srcs / sizeof *srcs; i++) {
        aa__expr *e = NULL;
        aa__expr_error err;
        assert_int_equal(
            aa__expr_compile(srcs[i], AA__CTX_APPROVAL, NULL, NULL, &e, &err),
            AA_OK);
        size_t srclen = strlen(srcs[i]);
        size_t per_node = sizeof(struct node) + sizeof(aa__value) +
                          sizeof(char *) + sizeof(uint32_t);
        size_t bound = ((sizeof(aa__expr) + 15) & ~(size_t)15) +
                       e->nnodes * per_node + 2 * (srclen + 1) + 32;
        if (e->size > bound)
            fail_msg("'%s': %zu bytes for %u nodes (at most %zu)", srcs[i],
                     e->size, e->nnodes, bound);
        assert_string_equal(aa__expr_source(e), srcs[i]);
        aa__expr_free(e);
    }
    /* what the block points to moved with it */
    aa__expr *e = NULL;
    assert_int_equal(
        aa__expr_compile(srcs[2], AA__CTX_APPROVAL, NULL, NULL, &e, NULL),
        AA_OK);
    const char *key;
    size_t keylen, n;
    const char *const *vals;
    assert_true(aa__expr_meta_pin(e, &key, &keylen, &vals, &n));
    assert_int_equal(n, 2);
    assert_memory_equal(key, "env", 3);
    assert_string_equal(vals[0], "prod");
    assert_string_equal(vals[1], "production");
    aa__expr_free(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_pins),
        cmocka_unit_test(test_meta_pins),
        cmocka_unit_test(test_caret),
        cmocka_unit_test(test_truthy),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_api),
        cmocka_unit_test(test_variables_copied),
        cmocka_unit_test(test_compiled_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
