/*
 * test_expr_analysis.c - the condition facts lint relies on
 * (expr_analysis.c) checked against the evaluator by brute force.
 *
 * Random conditions over two metadata fields and the built-in `user`
 * (comparisons with constants, `in` lists, and/or/not, constants, a
 * `contains` and a `matches` now and then) are analysed, then evaluated on
 * every combination of sample values: null, booleans, numbers around
 * every constant (and NaN), strings around every constant, a list. Every
 * fact claimed must hold on every sample: "never true", "never false",
 * "never an error", and "p matches only where q does" (matches: true or an
 * evaluation error). A few exact cases pin the reasoning down too.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr_analysis.h"

static uint64_t seed = 88172645463325252ull;
static unsigned rnd(unsigned n) {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return (unsigned)(seed % n);
}

static const char *const fields[] = {"metadata.x", "metadata.y", "user"};
static const char *const nums[] = {"1", "5", "10"};
static const char *const strs[] = {"\"a\"", "\"b\"", "\"\""};
static const char *const ops[] = {"==", "!=", "<", ">", "<=", ">="};

static void atom(char *out, size_t cap) {
    const char *f = fields[rnd(3)];
    switch (rnd(10)) {
    case 0:
        snprintf(out, cap, "%s in [%s, %s]", f, nums[rnd(3)], strs[rnd(3)]);
        break;
    case 1:
        snprintf(out, cap, "%s not in [%s, null]", f, strs[rnd(3)]);
        break;
    case 2:
        snprintf(out, cap, "%s contains \"a\"", f);
        break;
    case 3:
        snprintf(out, cap, "%s matches m", f);
        break;
    case 4:
        snprintf(out, cap, "%s", rnd(2) ? "true" : "1 > 2");
        break;
    case 5:
        snprintf(out, cap, "%s %s %s", strs[rnd(3)], ops[rnd(6)], f);
        break;
    default:
        snprintf(out, cap, "%s %s %s", f, ops[rnd(6)],
                 rnd(3) ? nums[rnd(3)] : (rnd(2) ? strs[rnd(3)] : "null"));
        break;
    }
}

static void cond(char *out, size_t cap, int depth) {
    unsigned k = depth > 2 ? 0 : rnd(5);
    if (k <= 1) {
        atom(out, cap);
        return;
    }
    char a[512], b[512];
    cond(a, sizeof a, depth + 1);
    cond(b, sizeof b, depth + 1);
    if (k == 2)
        snprintf(out, cap, "%s and %s", a, b);
    else if (k == 3)
        snprintf(out, cap, "(%s) or (%s)", a, b);
    else
        snprintf(out, cap, "not (%s) and %s", a, b);
}

/* The sample values of one field. */
#define NSAMPLES 16
static void sample(int i, aa_meta *m, const char *key) {
    static const aa_meta list_items[] = {
        {.type = AA_VALUE_STRING, .string = "a"}};
    memset(m, 0, sizeof *m);
    m->key = key;
    static const double nv[] = {0, 1, 3, 5, 7, 10, 11};
    static const char *const sv[] = {"", "a", "b", "ab", "c"};
    if (i == 0)
        m->type = AA_VALUE_NULL;
    else if (i <= 2) {
        m->type = AA_VALUE_BOOL;
        m->boolean = i == 1;
    } else if (i <= 9) {
        m->type = AA_VALUE_NUMBER;
        m->number = nv[i - 3];
    } else if (i == 10) {
        m->type = AA_VALUE_NUMBER;
        m->number = NAN;
    } else if (i <= 14) {
        m->type = AA_VALUE_STRING;
        m->string = sv[i - 11];
    } else {
        m->type = AA_VALUE_LIST;
        m->items = list_items;
        m->count = 1;
    }
}

static int matcher(void *ud, const char *name, const char *value, bool *res) {
    (void)ud;
    (void)name;
    if (!value)
        return AA_EIO; /* an error now and then */
    *res = value[0] == 'a';
    return AA_OK;
}

/* outcome: 1 true, 0 false, -1 error */
static int outcome(const aa__expr *e, int xi, int yi, int ui) {
    aa_meta meta[2];
    sample(xi, &meta[0], "x");
    sample(yi, &meta[1], "y");
    static const char *const users[] = {NULL, "a", "b", ""};
    aa__expr_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.meta = meta;
    ctx.nmeta = 2;
    ctx.fields[AA__F_USER] = users[ui];
    ctx.field_len[AA__F_USER] = users[ui] ? strlen(users[ui]) : 0;
    ctx.matcher = matcher;
    bool r = false;
    aa__expr_error err;
    int rc = aa__expr_eval(e, &ctx, &r, &err);
    return rc == AA_OK ? (int)r : -1;
}

static aa__expr *compile(const char *src) {
    aa__expr *e = NULL;
    aa__expr_error err;
    if (aa__expr_compile(src, AA__CTX_APPROVAL, NULL, NULL, &e, &err) != AA_OK)
        fail_msg("does not compile: %s (%s)", src, err.message);
    return e;
}

static void test_random_conditions_are_sound(void **state) {
    (void)state;
    enum { N = 600 };
    aa__arena arena;
    aa__arena_init(&arena);
    aa__expr *ex[N];
    aa__cond_facts *facts[N];
    char(*src)[2048] = malloc(N * sizeof *src);
    assert_non_null(src);
    int claims = 0;
    for (int i = 0; i < N; i++) {
        cond(src[i], sizeof src[i], 0);
        ex[i] = compile(src[i]);
        facts[i] = aa__cond_analyze(ex[i], NULL, NULL, &arena);
        assert_non_null(facts[i]);
        bool nt = aa__cond_never_true(facts[i]),
             nf = aa__cond_never_false(facts[i]),
             ne = aa__cond_never_error(facts[i]);
        claims += nt + nf + ne;
        for (int x = 0; x < NSAMPLES; x++)
            for (int y = 0; y < NSAMPLES; y += 3)
                for (int u = 0; u < 4; u++) {
                    int o = outcome(ex[i], x, y, u);
                    if ((nt && o == 1) || (nf && o == 0) || (ne && o == -1))
                        fail_msg("%s: claimed never %s, but x#%d y#%d u#%d "
                                 "gives %d",
                                 src[i],
                                 nt && o == 1   ? "true"
                                 : nf && o == 0 ? "false"
                                                : "an error",
                                 x, y, u, o);
                }
    }
    assert_true(claims > 20); /* the analysis says something */
    int implied = 0;
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 60; k++) {
            int j = (int)rnd(N);
            if (!aa__cond_implies(facts[i], facts[j]))
                continue;
            implied += i != j;
            for (int x = 0; x < NSAMPLES; x++)
                for (int y = 0; y < NSAMPLES; y += 3)
                    for (int u = 0; u < 4; u++)
                        if (outcome(ex[i], x, y, u) != 0 &&
                            outcome(ex[j], x, y, u) == 0)
                            fail_msg("'%s' claimed to imply '%s', but not "
                                     "for x#%d y#%d u#%d",
                                     src[i], src[j], x, y, u);
        }
    assert_true(implied > 0);
    for (int i = 0; i < N; i++)
        aa__expr_free(ex[i]);
    free(src);
    aa__arena_free(&arena);
}

/* What lint must find: the reasoning is not only sound but useful. */
static void test_exact_facts(void **state) {
    (void)state;
    static const struct {
        const char *src;
        int nt, nf, ne;
    } cases[] = {
        {"metadata.a > 1000 and metadata.a < 100", 1, 0, 0},
        {"metadata.env == \"prod\" and metadata.env == \"dev\"", 1, 0, 1},
        {"metadata.env != \"prod\" or metadata.env != \"dev\"", 0, 1, 1},
        {"metadata.n >= 10 and metadata.n <= 10", 0, 0, 0},
        {"1 == 1", 0, 1, 1},
        {"metadata.a < 5 and metadata.b > 1 and metadata.a > 7", 1, 0, 0},
        {"user == \"x\" and user in [\"y\", \"z\"]", 1, 0, 1},
        {"metadata.k > null", 1, 0, 1},
        {"metadata.k matches m", 0, 0, 0},
    };
    aa__arena arena;
    aa__arena_init(&arena);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        aa__expr *e = compile(cases[i].src);
        aa__cond_facts *f = aa__cond_analyze(e, NULL, NULL, &arena);
        assert_non_null(f);
        if (aa__cond_never_true(f) != cases[i].nt ||
            aa__cond_never_false(f) != cases[i].nf ||
            aa__cond_never_error(f) != cases[i].ne)
            fail_msg("%s: never true/false/error = %d/%d/%d", cases[i].src,
                     aa__cond_never_true(f), aa__cond_never_false(f),
                     aa__cond_never_error(f));
        aa__expr_free(e);
    }
    /* Implication with intervals and in-lists. */
    aa__expr *p = compile("metadata.a > 5000 and action == \"pay\"");
    aa__expr *q = compile("metadata.a > 1000");
    aa__expr *r = compile("metadata.a >= 6000");
    aa__cond_facts *fp = aa__cond_analyze(p, NULL, NULL, &arena),
                   *fq = aa__cond_analyze(q, NULL, NULL, &arena),
                   *fr = aa__cond_analyze(r, NULL, NULL, &arena);
    assert_true(aa__cond_implies(fp, fq));
    assert_false(aa__cond_implies(fq, fp));
    assert_false(aa__cond_implies(fp, fr));
    assert_true(aa__cond_implies(fr, fq));
    aa__expr_free(p);
    aa__expr_free(q);
    aa__expr_free(r);
    aa__arena_free(&arena);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_conditions_are_sound),
        cmocka_unit_test(test_exact_facts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
