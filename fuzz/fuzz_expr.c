/*
 * fuzz_expr.c - compiles arbitrary input as a condition and, when it
 * compiles, evaluates and explains it on a few requests (with variables,
 * matchers and metadata available). Besides memory errors it checks that
 * explain agrees with eval, that evaluating twice agrees, that error columns
 * stay inside the source, and that a reported pin never hides a true
 * outcome (exact values and prefixes alike).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const aa__value env_items[] = {
    {.type = AA__V_STR, .u.s = {"prod", 4}},
    {.type = AA__V_STR, .u.s = {"production", 10}}};
static const aa__value inner[] = {{.type = AA__V_STR, .u.s = {"a", 1}},
                                  {.type = AA__V_NUM, .u.n = 2}};
static const aa__value nested_items[] = {
    {.type = AA__V_LIST, .u.list = {inner, 2}},
    {.type = AA__V_BOOL, .u.b = true},
    {.type = AA__V_NULL}};

static const struct {
    const char *name;
    aa__value v;
} vars[] = {
    {"envs", {.type = AA__V_LIST, .u.list = {env_items, 2}}},
    {"limit", {.type = AA__V_NUM, .u.n = 10000}},
    {"name", {.type = AA__V_STR, .u.s = {"deploy", 6}}},
    {"yes", {.type = AA__V_BOOL, .u.b = true}},
    {"nothing", {.type = AA__V_NULL}},
    {"nested", {.type = AA__V_LIST, .u.list = {nested_items, 3}}},
    {"empty", {.type = AA__V_LIST, .u.list = {NULL, 0}}},
};

static const aa__value *lookup(void *ud, const char *name, size_t len) {
    (void)ud;
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (strlen(vars[i].name) == len && memcmp(vars[i].name, name, len) == 0)
            return &vars[i].v;
    return NULL;
}

static int matcher(void *ud, const char *name, const char *value,
                   bool *result) {
    (void)ud;
    if (strcmp(name, "email") == 0) {
        *result = value && strchr(value, '@');
        return AA_OK;
    }
    if (strcmp(name, "short") == 0) {
        *result = !value || strlen(value) < 4;
        return AA_OK;
    }
    if (strcmp(name, "broken") == 0)
        return AA_EIO;
    return AA_ENOTFOUND;
}

static const aa_meta tags[] = {
    {.type = AA_VALUE_STRING, .string = "pii"},
    {.type = AA_VALUE_NUMBER, .number = 2},
    {.type = AA_VALUE_BOOL, .boolean = 1},
    {.type = AA_VALUE_NULL},
};

static const aa_meta meta[] = {
    {.key = "tags", .type = AA_VALUE_LIST, .items = tags, .count = 4},
    {.key = "none", .type = AA_VALUE_LIST, .count = 0},
    {.key = "amount", .type = AA_VALUE_NUMBER, .number = 250},
    {.key = "env", .type = AA_VALUE_STRING, .string = "prod"},
    {.key = "flag", .type = AA_VALUE_BOOL, .boolean = 1},
    {.key = "gone", .type = AA_VALUE_NULL},
    {.key = "action", .type = AA_VALUE_STRING, .string = "meta-action"},
    {.key = "agent", .type = AA_VALUE_STRING, .string = "meta-agent"},
    {.key = "ratio", .type = AA_VALUE_NUMBER, .number = 0.1},
};

static void set(aa__expr_ctx *c, aa__field f, const char *v) {
    c->fields[f] = v;
    c->field_len[f] = v ? strlen(v) : 0;
}

static size_t chars(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void check_ctx(const aa__expr *e, const aa__expr_ctx *c,
                      const char *src) {
    bool r1 = false, r2 = false, r3 = false;
    aa__expr_error err;
    int rc1 = aa__expr_eval(e, c, &r1, &err);
    if (rc1 != AA_OK) {
        if (rc1 != AA_EEVAL || err.column < 1 ||
            (size_t)err.column > chars(src) + 1 || !err.message[0])
            abort();
        aa__buf caret;
        aa__buf_init(&caret);
        aa__expr_caret(src, err.column, &caret);
        aa__buf_free(&caret);
    }
    int rc2 = aa__expr_eval(e, c, &r2, NULL);
    aa__buf out;
    aa__buf_init(&out);
    int rc3 = aa__expr_explain(e, c, &r3, NULL, &out);
    if (rc1 != rc2 || rc1 != rc3 || out.len == 0)
        abort();
    if (rc1 == AA_OK && (r1 != r2 || r1 != r3))
        abort();
    aa__buf_free(&out);

    for (int f = 0; f < AA__F_COUNT; f++) {
        const char *const *vals;
        size_t n, nexact;
        if (!aa__expr_pins(e, (aa__field)f, &vals, &n, &nexact))
            continue;
        bool listed = false;
        for (size_t i = 0; i < n && c->fields[f]; i++) {
            size_t len = strlen(vals[i]);
            listed |= (i < nexact ? len == c->field_len[f]
                                  : len <= c->field_len[f]) &&
                      memcmp(vals[i], c->fields[f], len) == 0;
        }
        if (!listed && (rc1 != AA_OK || r1))
            abort(); /* skipping on the pin would change the outcome */
    }
    const char *key, *const *mvals;
    size_t klen, mn;
    if (aa__expr_meta_pin(e, &key, &klen, &mvals, &mn)) {
        const char *have = aa__meta_string(c->meta, c->nmeta, key, klen);
        bool listed = false;
        for (size_t i = 0; i < mn && have; i++)
            listed |= strcmp(mvals[i], have) == 0;
        if (!listed && (rc1 != AA_OK || r1))
            abort(); /* the same for a metadata pin */
    }
}

/* The load warnings' enumerations point inside the condition. */
typedef struct lint_ud {
    const char *src;
    size_t nchars;
} lint_ud;

static void on_read(void *ud, const aa__expr_read *r) {
    const lint_ud *l = ud;
    if (r->column < 1 || (size_t)r->column > l->nchars || !r->len ||
        r->name < l->src || r->name + r->len > l->src + strlen(l->src))
        abort();
}

static void on_escape(void *ud, int column, char escaped) {
    const lint_ud *l = ud;
    if (column < 1 || (size_t)column > l->nchars || !strchr("\\\"'nt", escaped))
        abort();
}

static void run(const char *src, aa__ctx_kind kind) {
    aa__expr *e = NULL;
    aa__expr_error err;
    int rc = aa__expr_compile(src, kind, lookup, NULL, &e, &err);
    if (rc != AA_OK) {
        if (rc != AA_EPARSE || e || !err.message[0] || err.column < 0 ||
            (size_t)err.column > chars(src) + 1)
            abort();
        aa__buf caret;
        aa__buf_init(&caret);
        aa__expr_caret(src, err.column, &caret);
        aa__buf_free(&caret);
        return;
    }
    if (strcmp(aa__expr_source(e), src) != 0)
        abort();
    lint_ud l = {aa__expr_source(e), chars(src)};
    aa__expr_each_meta_read(e, on_read, &l);
    aa__expr_each_escape(e, on_escape, &l);

    aa__expr_ctx c;
    memset(&c, 0, sizeof c);
    check_ctx(e, &c, src); /* empty request, no matchers */

    c.meta = meta;
    c.nmeta = sizeof meta / sizeof meta[0];
    c.matcher = matcher;
    set(&c, AA__F_AGENT, "copilot");
    set(&c, AA__F_USER, "alice@example.com");
    set(&c, AA__F_ACTION, "deploy");
    set(&c, AA__F_RESOURCE, "repo:x");
    set(&c, AA__F_FROM_AGENT, "orchestrator");
    set(&c, AA__F_TO_AGENT, "research-bot");
    set(&c, AA__F_TARGET_AGENT, "research-bot");
    set(&c, AA__F_SESSION_ID, "s-1");
    check_ctx(e, &c, src);

    set(&c, AA__F_ACTION, "prod");
    set(&c, AA__F_USER, "a");
    set(&c, AA__F_SCOPE, "");
    set(&c, AA__F_RESOURCE, NULL);
    check_ctx(e, &c, src);
    aa__expr_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > AA__EXPR_MAX_LEN + 16)
        return 0;
    char *src = malloc(size + 1);
    if (!src)
        return 0;
    memcpy(src, data, size);
    src[size] = 0;
    run(src, AA__CTX_APPROVAL);
    run(src, AA__CTX_A2A);
    free(src);
    return 0;
}
