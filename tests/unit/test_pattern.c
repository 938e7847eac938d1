/* test_pattern.c - globs match UTF-8 characters as Python's fnmatch does,
 * and coverage of one glob by a set is decided on languages. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pattern.h"
#include "util.h"

/* Matches with the classified pattern and the general matcher, which must
 * agree. */
static bool glob(const char *p, const char *s) {
    aa__pattern pat;
    aa__pattern_init(&pat, p);
    bool a = aa__pattern_match(&pat, s, strlen(s));
    bool b = aa__glob_match(p, strlen(p), s, strlen(s));
    assert_int_equal(a, b);
    return a;
}

static void test_utf8_helpers(void **state) {
    (void)state;
    uint32_t cp;
    assert_int_equal(aa__utf8_decode("a", 1, &cp), 1);
    assert_int_equal(cp, 'a');
    assert_int_equal(aa__utf8_decode("\xc3\xa9", 2, &cp), 2);
    assert_int_equal(cp, 0xe9);
    assert_int_equal(aa__utf8_decode("\xe2\x82\xac", 3, &cp), 3);
    assert_int_equal(cp, 0x20ac);
    assert_int_equal(aa__utf8_decode("\xf0\x9f\x98\x80", 4, &cp), 4);
    assert_int_equal(cp, 0x1f600);
    assert_int_equal(aa__utf8_decode("\xc3\xa9", 1, &cp), 0);     /* cut */
    assert_int_equal(aa__utf8_decode("\xc0\x80", 2, &cp), 0);     /* overlong */
    assert_int_equal(aa__utf8_decode("\xed\xa0\x80", 3, &cp), 0); /* D800 */
    assert_int_equal(aa__utf8_decode("\xf4\x90\x80\x80", 4, &cp), 0);
    assert_int_equal(aa__utf8_decode("\xff", 1, &cp), 0);
    assert_int_equal(aa__utf8_decode("\x80", 1, &cp), 0);
    assert_int_equal(aa__utf8_decode("", 0, &cp), 0);

    assert_int_equal(aa__utf8_check("plain ascii text, long", 22), 22);
    assert_int_equal(aa__utf8_check("caf\xc3\xa9 ok", 8), 8);
    assert_int_equal(aa__utf8_check("abcdefghij\xff", 11), 10);
    assert_int_equal(aa__utf8_check("ab\xc3", 3), 2);
    assert_true(aa__utf8_valid("", 0));
    assert_false(aa__utf8_valid("\xe2\x82", 2));

    char out[4];
    assert_int_equal(aa__utf8_encode(0xe9, out), 2);
    assert_memory_equal(out, "\xc3\xa9", 2);
    assert_int_equal(aa__utf8_encode(0x1f600, out), 4);
    assert_memory_equal(out, "\xf0\x9f\x98\x80", 4);
    assert_int_equal(aa__utf8_encode(0xd800, out), 0);
    assert_int_equal(aa__utf8_encode(0x110000, out), 0);
}

/* `?` and classes take one character, never one byte (issue: deny
 * `delete:?` did not deny `delete:é`). */
static void test_glob_utf8_characters(void **state) {
    (void)state;
    assert_true(glob("delete:?", "delete:\xc3\xa9"));          /* é */
    assert_true(glob("delete:?", "delete:\xf0\x9f\x98\x80"));  /* U+1F600 */
    assert_false(glob("delete:??", "delete:\xc3\xa9"));        /* one char */
    assert_true(glob("delete:??", "delete:\xc3\xa9\xc3\xa9")); /* two */
    assert_true(glob("[\xc3\xa9]", "\xc3\xa9"));
    assert_false(glob("[\xc3\xa9]", "\xc3\xa8"));
    assert_true(glob("[!a]", "\xc3\xa9"));
    assert_false(glob("[!\xc3\xa9]", "\xc3\xa9"));
    assert_true(glob("[!\xc3\xa9]", "\xc3\xa8"));
    /* Ranges compare code points: à (E0) .. ÿ (FF) holds é (E9). */
    assert_true(glob("[\xc3\xa0-\xc3\xbf]", "\xc3\xa9"));
    assert_false(glob("[\xc3\xa0-\xc3\xbf]", "\xc4\x80"));
    assert_true(glob("[a-\xf0\x9f\x98\x80]", "\xe2\x82\xac")); /* a .. 1F600 */
    /* `*` backtracks by whole characters. */
    assert_true(glob("*?x", "\xc3\xa9x"));
    assert_true(glob("*\xc3\xa9", "\xc3\xa9\xc3\xa9"));
    assert_false(glob("*[!\xc3\xa9]", "a\xc3\xa9"));
    assert_true(glob("a*?b", "a\xe2\x82\xac\xc3\xa9"
                             "b"));
    /* A stray byte (never accepted where text enters) is one character
     * of its own: `?` takes it, no range contains it. */
    assert_true(glob("?", "\xff"));
    assert_false(glob("[\x01-\x7f]", "\xff"));
    assert_true(glob("a*", "a\xff"));
    assert_true(glob("\xff", "\xff"));
}

typedef struct fn_case {
    const char *pat, *str;
    int match;
} fn_case;

static const fn_case fn_cases[] = {
#include "pattern_fnmatch_cases.inc"
};

/* Every case agrees with Python's fnmatch.fnmatchcase. */
static void test_glob_agrees_with_fnmatch(void **state) {
    (void)state;
    size_t bad = 0;
    for (size_t i = 0; i < AA__ARRAY_LEN(fn_cases); i++) {
        const fn_case *c = &fn_cases[i];
        if (glob(c->pat, c->str) != (bool)c->match) {
            fprintf(stderr, "glob '%s' on '%s': expected %d\n", c->pat, c->str,
                    c->match);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
    assert_true(AA__ARRAY_LEN(fn_cases) > 900);
}

/* ---- coverage ------------------------------------------------------------ */

static aa__cover covers(const char *p, const char *set, aa__buf *w) {
    /* set: patterns separated by '|' ("" for the empty set). */
    char buf[256];
    const char *items[16];
    size_t n = 0;
    snprintf(buf, sizeof buf, "%s", set);
    if (*buf) {
        char *save = NULL;
        for (char *t = strtok_r(buf, "|", &save); t && n < 16;
             t = strtok_r(NULL, "|", &save))
            items[n++] = t;
    }
    return aa__glob_covers(p, items, n, w);
}

typedef struct cover_case {
    const char *pat, *set; /* set: '|'-separated */
    aa__cover expect;
    const char *witness; /* NULL: any (checked against the patterns) */
} cover_case;

static const cover_case cover_cases[] = {
    /* The examples. */
    {"read:*", "read:[!s]*", AA__COVER_NO, "read:"},
    {"read:s*", "read:[!s]*", AA__COVER_NO, "read:s"},
    {"project:*", "project:[!s]*", AA__COVER_NO, "project:"},
    {"read:*", "read:[!s]*|read:s*", AA__COVER_NO, "read:"},
    {"read:*", "read:[!s]*|read:s*|read:", AA__COVER_YES, NULL},
    {"read:?*", "read:[!s]*|read:s*", AA__COVER_YES, NULL},
    {"read:x*", "read:[!s]*", AA__COVER_YES, NULL},
    {"read:[ab]*", "read:[!s]*", AA__COVER_YES, NULL},
    {"read:[a-z]*", "read:[!s]*", AA__COVER_NO, "read:s"},
    {"read:[!s]*", "read:*", AA__COVER_YES, NULL},
    /* Literals: covered exactly when matched. */
    {"read:secrets", "read:*", AA__COVER_YES, NULL},
    {"read:secrets", "read:[!s]*", AA__COVER_NO, "read:secrets"},
    {"read:secrets", "", AA__COVER_NO, "read:secrets"},
    {"a", "a", AA__COVER_YES, NULL},
    /* `*` in the set covers everything; nothing else does. */
    {"*", "*", AA__COVER_YES, NULL},
    {"*", "**", AA__COVER_YES, NULL},
    {"anything*[x]?", "*", AA__COVER_YES, NULL},
    {"*", "?*", AA__COVER_NO, ""},
    {"*", "|?*", AA__COVER_NO, ""},
    {"*", "?*|[!a]*", AA__COVER_NO, ""},
    /* Ranges and negated classes. */
    {"[b-d]", "[a-c]|[d-f]", AA__COVER_YES, NULL},
    {"[b-g]", "[a-c]|[d-f]", AA__COVER_NO, "g"},
    {"[!a]", "[b-z]", AA__COVER_NO, NULL},
    {"[!a]", "[!a-c]|b|c", AA__COVER_YES, NULL},
    {"[!a]", "[!a-c]|b", AA__COVER_NO, "c"},
    {"?", "[!x]|x", AA__COVER_YES, NULL},
    {"?", "[!x]", AA__COVER_NO, "x"},
    {"[z-a]x", "", AA__COVER_YES, NULL},  /* empty language */
    {"[!z-a]", "?", AA__COVER_YES, NULL}, /* any character */
    {"[]a]", "]|a", AA__COVER_YES, NULL},
    {"[a-]", "a|-", AA__COVER_YES, NULL},
    {"[", "[", AA__COVER_YES, NULL}, /* unclosed: a literal */
    {"a[", "a?", AA__COVER_YES, NULL},
    /* `?` is one character, multibyte ones too. */
    {"?", "[\x01-\x7f]", AA__COVER_NO, NULL},
    {"\xc3\xa9", "?", AA__COVER_YES, NULL},
    {"\xf0\x9f\x98\x80", "?", AA__COVER_YES, NULL},
    {"?", "??", AA__COVER_NO, NULL},
    {"??", "?", AA__COVER_NO, NULL},
    {"[\xc3\xa0-\xc3\xbf]", "?", AA__COVER_YES, NULL},
    {"[\xc3\xa0-\xc3\xbf]", "[\xc3\xa0-\xc3\xa9]|[\xc3\xaa-\xc3\xbf]",
     AA__COVER_YES, NULL},
    {"[\xc3\xa0-\xc3\xbf]", "[\xc3\xa0-\xc3\xa8]|[\xc3\xaa-\xc3\xbf]",
     AA__COVER_NO, "\xc3\xa9"},
    {"?", "[\x01-\xed\x9f\xbf]|[\xee\x80\x80-\xf4\x8f\xbf\xbf]", AA__COVER_YES,
     NULL}, /* every scalar value but NUL, surrogates skipped */
    {"?", "[\x02-\xf4\x8f\xbf\xbf]", AA__COVER_NO, "\x01"},
    /* `*` crosses ':' and '/', and the set may need several patterns. */
    {"a*b", "a*", AA__COVER_YES, NULL},
    {"a*b", "*b", AA__COVER_YES, NULL},
    {"a*b", "a:*|a[!:]*b", AA__COVER_NO, "ab"},
    {"a*b", "a:*|a[!:]*b|ab", AA__COVER_YES, NULL},
    {"a*b", "a:*", AA__COVER_NO, "ab"},
    {"a:*", "a*:*", AA__COVER_YES, NULL},
    {"a*:*", "a:*", AA__COVER_NO, NULL},
    {"*a*", "*a|*a?*", AA__COVER_YES, NULL},
    {"*a*", "*a|*a??*", AA__COVER_NO, NULL},
    {"x*y*z", "x*z", AA__COVER_YES, NULL},
    {"x*z", "x*y*z", AA__COVER_NO, "xz"},
    {"deploy:*/prod", "deploy:*", AA__COVER_YES, NULL},
    {"deploy:*", "deploy:*/prod", AA__COVER_NO, "deploy:"},
};

static void check_witness(const char *p, const char *set, const char *w) {
    /* The witness is valid UTF-8, matched by p, and by no set pattern. */
    assert_true(aa__utf8_valid(w, strlen(w)));
    assert_true(aa__glob_match(p, strlen(p), w, strlen(w)));
    char buf[256];
    snprintf(buf, sizeof buf, "%s", set);
    char *save = NULL;
    for (char *t = strtok_r(buf, "|", &save); t; t = strtok_r(NULL, "|", &save))
        assert_false(aa__glob_match(t, strlen(t), w, strlen(w)));
}

static void check_witness_list(const char *p, const char *const *set, size_t n,
                               const char *w) {
    assert_true(aa__glob_match(p, strlen(p), w, strlen(w)));
    for (size_t j = 0; j < n; j++)
        assert_false(aa__glob_match(set[j], strlen(set[j]), w, strlen(w)));
}

static void test_cover_table(void **state) {
    (void)state;
    aa__buf w;
    aa__buf_init(&w);
    for (size_t i = 0; i < AA__ARRAY_LEN(cover_cases); i++) {
        const cover_case *c = &cover_cases[i];
        aa__cover r = covers(c->pat, c->set, &w);
        if (r != c->expect)
            fprintf(stderr, "covers('%s', {%s}) = %d, expected %d\n", c->pat,
                    c->set, (int)r, (int)c->expect);
        assert_int_equal(r, c->expect);
        if (r == AA__COVER_NO) {
            const char *got = w.data ? w.data : "";
            check_witness(c->pat, c->set, got);
            if (c->witness)
                assert_string_equal(got, c->witness);
        }
    }
    /* No witness buffer is fine. */
    assert_int_equal(covers("read:*", "read:[!s]*", NULL), AA__COVER_NO);
    aa__buf_free(&w);
}

/* Actions and scopes are never empty: AA__COVER_SKIP_EMPTY leaves the
 * empty string out, so `*` lies within `?*`. */
static void test_cover_skip_empty(void **state) {
    (void)state;
    aa__buf w;
    aa__buf_init(&w);
    const char *q1[] = {"?*"};
    assert_int_equal(aa__glob_covers("*", q1, 1, &w), AA__COVER_NO);
    assert_int_equal(w.len, 0);
    assert_int_equal(aa__glob_covers_ex("*", q1, 1, AA__COVER_SKIP_EMPTY, &w),
                     AA__COVER_YES);
    const char *q2[] = {"read:[!s]*"};
    assert_int_equal(
        aa__glob_covers_ex("read:*", q2, 1, AA__COVER_SKIP_EMPTY, &w),
        AA__COVER_NO);
    assert_string_equal(w.data, "read:");
    const char *q3[] = {"a?*"};
    assert_int_equal(aa__glob_covers_ex("a*", q3, 1, AA__COVER_SKIP_EMPTY, &w),
                     AA__COVER_NO);
    assert_string_equal(w.data, "a");
    const char *q4[] = {"[!a]*", "a*"};
    assert_int_equal(aa__glob_covers_ex("*", q4, 2, AA__COVER_SKIP_EMPTY, &w),
                     AA__COVER_YES);
    assert_int_equal(aa__glob_covers("*", q4, 2, &w), AA__COVER_NO);
    assert_int_equal(aa__glob_covers_ex("", q4, 0, AA__COVER_SKIP_EMPTY, &w),
                     AA__COVER_YES);
    assert_int_equal(aa__glob_covers("", q4, 0, &w), AA__COVER_NO);
    aa__buf_free(&w);
}

static void test_cover_patset(void **state) {
    (void)state;
    aa__patset s;
    aa__patset_init(&s);
    assert_true(aa__patset_add(&s, "read:[!s]*", NULL));
    assert_true(aa__patset_add(&s, "write:docs", NULL));
    assert_true(aa__patset_build(&s));
    aa__buf w;
    aa__buf_init(&w);
    assert_int_equal(aa__patset_covers(&s, "read:*", 0, &w), AA__COVER_NO);
    assert_string_equal(w.data, "read:");
    assert_int_equal(aa__patset_covers(&s, "read:d*", 0, &w), AA__COVER_YES);
    assert_int_equal(aa__patset_covers(&s, "write:docs", 0, &w), AA__COVER_YES);
    assert_int_equal(aa__patset_covers(&s, "write:*", 0, &w), AA__COVER_NO);
    aa__buf_free(&w);
    aa__patset_free(&s);
}

/* Invalid UTF-8 is never decided; a pattern set too large for the work
 * bound is "unknown" (callers refuse: fail closed), and fast. */
static void test_cover_bounds(void **state) {
    (void)state;
    const char *bad[] = {"a\xff"};
    assert_int_equal(aa__glob_covers("a*", bad, 1, NULL), AA__COVER_UNKNOWN);
    const char *ok[] = {"a*"};
    assert_int_equal(aa__glob_covers("a\xff*", ok, 1, NULL), AA__COVER_UNKNOWN);

    /* "*a" then k `?`: its subset construction has 2^(k+1) states. The
     * same language written another way is covered (small k), or too
     * costly to decide (large k), and then quickly. */
    char p[64], q[64];
    const char *set[] = {q};
    strcpy(p, "*a");
    strcpy(q, "*[a]");
    for (int i = 0; i < 8; i++)
        strcat(p, "?"), strcat(q, "?");
    assert_int_equal(aa__glob_covers(p, set, 1, NULL), AA__COVER_YES);
    for (int i = 8; i < 24; i++)
        strcat(p, "?"), strcat(q, "?");
    uint64_t t0 = aa__mono_ns();
    assert_int_equal(aa__glob_covers(p, set, 1, NULL), AA__COVER_UNKNOWN);
    double ms = (double)(aa__mono_ns() - t0) / 1e6;
    print_message("bounded cover: %.1f ms\n", ms);
    assert_true(ms < 2000.0);

    /* Many patterns with many distinct ranges: the alphabet alone is over
     * the bound, which is found before any table is built. */
    enum { NQ = 300 };
    static char qs[NQ][40 * 10 + 4];
    static const char *many[NQ];
    for (int j = 0; j < NQ; j++) {
        char *w = qs[j];
        *w++ = '[';
        for (int r = 0; r < 40; r++) {
            uint32_t lo = 0x4e00 + (uint32_t)(j * 40 + r) * 3;
            w += aa__utf8_encode(lo, w);
            *w++ = '-';
            w += aa__utf8_encode(lo + 1, w);
        }
        strcpy(w, "]*");
        many[j] = qs[j];
    }
    t0 = aa__mono_ns();
    assert_int_equal(aa__glob_covers("?*", many, NQ, NULL), AA__COVER_UNKNOWN);
    ms = (double)(aa__mono_ns() - t0) / 1e6;
    print_message("bounded setup: %.1f ms\n", ms);
    assert_true(ms < 2000.0);

    /* A policy-sized set is decided: 300 services, each with its own
     * action patterns. */
    for (int j = 0; j < NQ; j++) {
        snprintf(qs[j], sizeof qs[j], "service%d:%s", j,
                 j % 2 ? "read:*" : "[!d]*");
        many[j] = qs[j];
    }
    aa__buf w;
    aa__buf_init(&w);
    assert_int_equal(aa__glob_covers("service7:read:?*", many, NQ, &w),
                     AA__COVER_YES);
    assert_int_equal(aa__glob_covers("service8:*", many, NQ, &w), AA__COVER_NO);
    assert_string_equal(w.data, "service8:");
    assert_int_equal(aa__glob_covers("service1*:*", many, NQ, &w),
                     AA__COVER_NO);
    check_witness_list("service1*:*", many, NQ, w.data ? w.data : "");
    aa__buf_free(&w);
}

/* ---- brute force ----------------------------------------------------------
 */

/* Small patterns over tokens that exercise multibyte characters, classes
 * and stars; strings over an alphabet that includes a character no pattern
 * names. */
static const char *const toks[] = {"a", "\xc3\xa9", "*",
                                   "?", "[!a]",     "[a-\xc3\xa9]"};
static const char *const alpha[] = {"a", "b", "\xc3\xa9", "\xe2\x82\xac"};

static size_t make_patterns(char (*out)[32], size_t cap) {
    size_t n = 0, nt = AA__ARRAY_LEN(toks);
    for (size_t len = 1; len <= 3; len++) {
        size_t total = 1;
        for (size_t i = 0; i < len; i++)
            total *= nt;
        for (size_t k = 0; k < total && n < cap; k++) {
            size_t x = k;
            out[n][0] = 0;
            for (size_t i = 0; i < len; i++, x /= nt)
                strcat(out[n], toks[x % nt]);
            n++;
        }
    }
    return n;
}

/* Every string of up to `maxlen` characters of alpha, in order. */
static size_t make_strings(char (*out)[32], size_t cap, size_t maxlen) {
    size_t n = 0, na = AA__ARRAY_LEN(alpha);
    for (size_t len = 0; len <= maxlen; len++) {
        size_t total = 1;
        for (size_t i = 0; i < len; i++)
            total *= na;
        for (size_t k = 0; k < total && n < cap; k++) {
            size_t x = k;
            out[n][0] = 0;
            for (size_t i = 0; i < len; i++, x /= na)
                strcat(out[n], alpha[x % na]);
            n++;
        }
    }
    return n;
}

/* Checks aa__glob_covers(p, set) against brute force: when it says
 * covered, no string p matches escapes the set; when not, its witness is
 * matched by p and by no pattern of the set. Returns the answer. */
static aa__cover cross_check(const char *p, const char **set, size_t n,
                             char (*strs)[32], size_t nstrs, aa__buf *w) {
    aa__cover r = aa__glob_covers(p, set, n, w);
    assert_true(r == AA__COVER_YES || r == AA__COVER_NO);
    /* Without the empty string: covered whenever all strings are, and
     * otherwise checked the same way (its witness is never empty). */
    aa__buf w2;
    aa__buf_init(&w2);
    aa__cover r2 = aa__glob_covers_ex(p, set, n, AA__COVER_SKIP_EMPTY, &w2);
    assert_true(r2 == AA__COVER_YES || r2 == AA__COVER_NO);
    if (r == AA__COVER_YES)
        assert_int_equal(r2, AA__COVER_YES);
    if (r2 == AA__COVER_NO) {
        const char *s = w2.data ? w2.data : "";
        assert_true(*s && aa__glob_match(p, strlen(p), s, strlen(s)));
        for (size_t j = 0; j < n; j++)
            assert_false(aa__glob_match(set[j], strlen(set[j]), s, strlen(s)));
    }
    aa__buf_free(&w2);
    if (r == AA__COVER_YES || r2 == AA__COVER_YES) {
        for (size_t i = r == AA__COVER_YES ? 0 : 1; i < nstrs; i++) {
            const char *s = strs[i]; /* strs[0] is the empty string */
            if (!aa__glob_match(p, strlen(p), s, strlen(s)))
                continue;
            bool hit = false;
            for (size_t j = 0; j < n && !hit; j++)
                hit = aa__glob_match(set[j], strlen(set[j]), s, strlen(s));
            if (!hit)
                fprintf(stderr, "'%s' said covered, but '%s' escapes\n", p, s);
            assert_true(hit);
        }
    }
    if (r == AA__COVER_NO) {
        const char *s = w->data ? w->data : "";
        assert_true(aa__utf8_valid(s, strlen(s)));
        assert_true(aa__glob_match(p, strlen(p), s, strlen(s)));
        for (size_t j = 0; j < n; j++)
            assert_false(aa__glob_match(set[j], strlen(set[j]), s, strlen(s)));
    }
    return r;
}

static void test_cover_brute_force(void **state) {
    (void)state;
    static char pats[300][32];
    static char strs[400][32];
    size_t np = make_patterns(pats, 300);
    size_t ns = make_strings(strs, 400, 4);
    assert_int_equal(np, 6 + 36 + 216);
    assert_int_equal(ns, 1 + 4 + 16 + 64 + 256);
    aa__buf w;
    aa__buf_init(&w);
    size_t yes = 0, no = 0;
    /* Every pair (p, {q}). */
    for (size_t i = 0; i < np; i++)
        for (size_t j = 0; j < np; j++) {
            const char *set[1] = {pats[j]};
            if (cross_check(pats[i], set, 1, strs, ns, &w) == AA__COVER_YES)
                yes++;
            else
                no++;
        }
    /* Random sets of two to four. */
    srand(14);
    for (int k = 0; k < 20000; k++) {
        const char *set[4];
        size_t n = 2 + (size_t)rand() % 3;
        for (size_t j = 0; j < n; j++)
            set[j] = pats[(size_t)rand() % np];
        if (cross_check(pats[(size_t)rand() % np], set, n, strs, ns, &w) ==
            AA__COVER_YES)
            yes++;
        else
            no++;
    }
    /* Both answers occur often enough for the check to mean something. */
    assert_true(yes > 5000);
    assert_true(no > 5000);
    aa__buf_free(&w);
}

/* aa__glob_diff with an intersection: L(p) and L(a) minus the set, checked
 * against brute force over short strings on random triples. */
static void test_diff_intersection_brute_force(void **state) {
    (void)state;
    static char pats[300][32];
    static char strs[400][32];
    size_t np = make_patterns(pats, 300);
    size_t ns = make_strings(strs, 400, 4);
    aa__buf w;
    aa__buf_init(&w);
    size_t yes = 0, no = 0;
    srand(19);
    for (int k = 0; k < 20000; k++) {
        const char *p = pats[(size_t)rand() % np];
        const char *also[1] = {pats[(size_t)rand() % np]};
        const char *set[2];
        size_t n = (size_t)rand() % 3;
        for (size_t j = 0; j < n; j++)
            set[j] = pats[(size_t)rand() % np];
        aa__cover r = aa__glob_diff(p, also, 1, set, n, 0, &w);
        assert_true(r == AA__COVER_YES || r == AA__COVER_NO);
        if (r == AA__COVER_NO) {
            no++;
            const char *s = w.data ? w.data : "";
            assert_true(aa__glob_match(p, strlen(p), s, strlen(s)));
            assert_true(aa__glob_match(also[0], strlen(also[0]), s, strlen(s)));
            for (size_t j = 0; j < n; j++)
                assert_false(
                    aa__glob_match(set[j], strlen(set[j]), s, strlen(s)));
            continue;
        }
        yes++;
        for (size_t i = 0; i < ns; i++) {
            const char *s = strs[i];
            size_t l = strlen(s);
            if (!aa__glob_match(p, strlen(p), s, l) ||
                !aa__glob_match(also[0], strlen(also[0]), s, l))
                continue;
            bool hit = false;
            for (size_t j = 0; j < n && !hit; j++)
                hit = aa__glob_match(set[j], strlen(set[j]), s, l);
            if (!hit)
                fprintf(stderr, "'%s' & '%s' said covered, '%s' escapes\n", p,
                        also[0], s);
            assert_true(hit);
        }
    }
    assert_true(yes > 2000);
    assert_true(no > 2000);
    /* The examples the policy diff relies on. */
    const char *a1[1] = {"deploy:*"}, *s1[1] = {"deploy:prod"};
    assert_int_equal(aa__glob_diff("*:staging", a1, 1, s1, 1, 0, &w),
                     AA__COVER_NO);
    assert_string_equal(w.data, "deploy:staging");
    const char *a2[1] = {"read:*"};
    assert_int_equal(aa__glob_diff("write:*", a2, 1, NULL, 0, 0, &w),
                     AA__COVER_YES);
    aa__buf_free(&w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_helpers),
        cmocka_unit_test(test_glob_utf8_characters),
        cmocka_unit_test(test_glob_agrees_with_fnmatch),
        cmocka_unit_test(test_cover_table),
        cmocka_unit_test(test_cover_skip_empty),
        cmocka_unit_test(test_cover_patset),
        cmocka_unit_test(test_cover_bounds),
        cmocka_unit_test(test_cover_brute_force),
        cmocka_unit_test(test_diff_intersection_brute_force),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
