/*
 * test_request_check.c - aa__request_check, the request check on the
 * decision path: ASCII text is measured and checked a word at a time, any
 * other byte sends the request through the byte-by-byte check. Its answer
 * must be the same as a plain reference's for every request: which field
 * is named, every invalid sequence refused wherever it sits in a word, a
 * sequence cut by a NUL refused, and nothing read past a string's NUL (the
 * strings here live in buffers of their exact size, so that AddressSanitizer
 * builds catch a read past them).
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref_utf8.h"
#include "util.h"

static const char *const field_names[AA__RT_N] = {
    "'agent'", "'user'",       "'action'",      "'resource'",
    "'scope'", "'session_id'", "'target_agent'"};

static const char **field_ptr(aa_request *r, int f) {
    switch (f) {
    case AA__RT_AGENT:
        return &r->agent;
    case AA__RT_USER:
        return &r->user;
    case AA__RT_ACTION:
        return &r->action;
    case AA__RT_RESOURCE:
        return &r->resource;
    case AA__RT_SCOPE:
        return &r->scope;
    case AA__RT_SESSION_ID:
        return &r->session_id;
    default:
        return &r->target_agent;
    }
}

/* A copy of n bytes in a buffer of exactly n bytes (the last one NUL). */
static char *exact(const char *bytes, size_t n) {
    char *p = malloc(n);
    assert_non_null(p);
    memcpy(p, bytes, n);
    return p;
}

/* Checks r, comparing the answer with `want` (NULL: valid) and with the
 * byte-by-byte check, and the lengths and hashes with strlen and aa__hash. */
static void expect(const aa_request *r, const char *want) {
    char buf[96], buf2[96];
    aa__req_text t;
    memset(&t, 0xa5, sizeof t);
    const char *got = aa__request_check(r, buf, &t);
    const char *slow = aa__request_bad_utf8(r, buf2);
    if (want) {
        assert_non_null(got);
        assert_string_equal(got, want);
    } else {
        assert_null(got);
    }
    if (slow)
        assert_string_equal(got, slow);
    else
        assert_null(got);
    aa_request copy = *r;
    for (int f = 0; f < AA__RT_N; f++) {
        const char *s = *field_ptr(&copy, f);
        assert_int_equal(t.len[f], s ? strlen(s) : 0);
    }
    assert_true(t.agent_hash ==
                aa__hash(r->agent ? r->agent : "", t.len[AA__RT_AGENT]));
    assert_true(t.action_hash ==
                aa__hash(r->action ? r->action : "", t.len[AA__RT_ACTION]));
    assert_true(t.user_hash ==
                aa__hash(r->user ? r->user : "", t.len[AA__RT_USER]));
}

/* Sequences that are not UTF-8, each refused wherever it stands. */
static const char *const bad_seqs[] = {
    "\x80",                 /* a continuation byte alone */
    "\xbf",                 /* another */
    "\xff",                 /* never in UTF-8 */
    "\xfe",                 /* never in UTF-8 */
    "\xc0\xaf",             /* overlong '/' */
    "\xc1\xbf",             /* overlong, two bytes */
    "\xe0\x80\xaf",         /* overlong, three bytes */
    "\xe0\x9f\xbf",         /* overlong, three bytes, top */
    "\xf0\x80\x80\xaf",     /* overlong, four bytes */
    "\xf0\x8f\xbf\xbf",     /* overlong, four bytes, top */
    "\xed\xa0\x80",         /* surrogate U+D800 */
    "\xed\xbf\xbf",         /* surrogate U+DFFF */
    "\xf4\x90\x80\x80",     /* past U+10FFFF */
    "\xf5\x80\x80\x80",     /* past U+10FFFF */
    "\xf8\x88\x80\x80\x80", /* five bytes */
    "\xc2",                 /* a start byte, then ASCII or the end */
    "\xe2\x82",             /* cut three-byte sequence */
    "\xf0\x9f\x98",         /* cut four-byte sequence */
    "\xc2\xc2\xa9",         /* a start byte followed by another start */
};

/* Sequences that are UTF-8. */
static const char *const good_seqs[] = {
    "\xc2\x80",         "\xc2\xa9",         "\xdf\xbf",         "\xe0\xa0\x80",
    "\xe2\x82\xac",     "\xed\x9f\xbf",     "\xee\x80\x80",     "\xef\xbf\xbf",
    "\xf0\x90\x80\x80", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", "\x7f",
};

/* seq put at offset `at` of a run of `len` ASCII letters, in field f of an
 * otherwise valid request. */
static void try_at(int f, const char *seq, size_t len, size_t at,
                   const char *want) {
    char text[64];
    size_t sl = strlen(seq);
    assert_true(len + sl < sizeof text);
    for (size_t i = 0; i < at; i++)
        text[i] = (char)('a' + i % 26);
    memcpy(text + at, seq, sl);
    for (size_t i = at; i < len; i++)
        text[sl + i] = (char)('A' + i % 26);
    text[len + sl] = 0;
    char *s = exact(text, len + sl + 1);
    assert_int_equal(ref_utf8(s), want == NULL);
    aa_request r = {.agent = "bot", .user = "u", .action = "read:x"};
    *field_ptr(&r, f) = s;
    expect(&r, want);
    free(s);
}

/* Every bad sequence at every offset of strings of 0 to 24 bytes, in
 * every field: so at each offset within an 8-byte word, in the middle
 * and at the end; every good sequence the same, accepted. */
static void test_every_offset(void **state) {
    (void)state;
    for (int f = 0; f < AA__RT_N; f++)
        for (size_t len = 0; len <= 24; len++)
            for (size_t at = 0; at <= len; at++) {
                for (size_t k = 0; k < sizeof bad_seqs / sizeof *bad_seqs; k++)
                    try_at(f, bad_seqs[k], len, at, field_names[f]);
                for (size_t k = 0; k < sizeof good_seqs / sizeof *good_seqs;
                     k++)
                    try_at(f, good_seqs[k], len, at, NULL);
            }
}

/* A multibyte start with its NUL right after it (or inside the sequence):
 * refused, and nothing past the NUL is read, though the bytes there would
 * complete the sequence. */
static void test_nul_after_start(void **state) {
    (void)state;
    static const struct {
        const char *bytes;
        size_t n; /* with the final NUL */
    } cases[] = {
        {"ab\xe2\0\x82\xac", 7},
        {"ab\xe2\x82\0\xac", 7},
        {"\xc2\0\xa9", 4},
        {"abcdefg\xc3\0\xa9", 11},
        {"\xf0\0\x9f\x98\x80", 6},
        {"\xf0\x9f\0\x98\x80", 6},
        {"\xf0\x9f\x98\0\x80", 6},
        {"abcdefgh\xf0\x9f\x98\0\x80", 14},
        {"\xe2", 2},
        {"abcdefgh\xc2", 10},
    };
    for (int f = 0; f < AA__RT_N; f++)
        for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
            char *s = exact(cases[k].bytes, cases[k].n);
            assert_false(ref_utf8(s));
            aa_request r = {.agent = "bot", .user = "u", .action = "read:x"};
            *field_ptr(&r, f) = s;
            expect(&r, field_names[f]);
            free(s);
        }
}

/* The first field in order is named when several are bad; NULL fields
 * are fine. */
static void test_first_field_named(void **state) {
    (void)state;
    aa_request r = {.agent = "bot",
                    .user = "u\xff",
                    .action = "read:x",
                    .scope = "s\xc0\xaf",
                    .target_agent = "t\x80"};
    expect(&r, "'user'");
    r.user = "u";
    expect(&r, "'scope'");
    r.scope = NULL;
    expect(&r, "'target_agent'");
    r.target_agent = NULL;
    expect(&r, NULL);
    aa_request empty = {0};
    expect(&empty, NULL);
}

/* Metadata keys, string values and list items: the same names as the
 * byte-by-byte check gives. */
static void test_metadata(void **state) {
    (void)state;
    aa_meta items[2] = {{.type = AA_VALUE_STRING, .string = "ok"},
                        {.type = AA_VALUE_STRING, .string = "ok"}};
    aa_meta m[2] = {
        {.key = "env", .type = AA_VALUE_STRING, .string = "prod"},
        {.key = "tags", .type = AA_VALUE_LIST, .items = items, .count = 2}};
    aa_request r = {.agent = "bot",
                    .user = "u",
                    .action = "read:x",
                    .metadata = m,
                    .metadata_count = 2};
    expect(&r, NULL);
    items[1].string = "caf\xc3\xa9 \xe2\x82\xac";
    expect(&r, NULL);
    items[1].string = "bad\xed\xa0\x80";
    expect(&r, "metadata 'tags'");
    items[1].string = "ok";
    m[0].string = "prod\xc3";
    expect(&r, "metadata 'env'");
    m[0].string = "prod";
    m[1].key = "t\xff";
    expect(&r, "metadata key number 2");
    m[1].key = "tags";
    m[0].type = AA_VALUE_NUMBER; /* not text: not read */
    m[0].string = NULL;
    m[0].number = 1;
    expect(&r, NULL);
}

/* Long ASCII and long mixed text: lengths and hashes past several words. */
static void test_long_strings(void **state) {
    (void)state;
    char text[300];
    for (size_t n = 0; n < sizeof text - 1; n += 7) {
        memset(text, 'x', n);
        text[n] = 0;
        char *s = exact(text, n + 1);
        aa_request r = {.agent = s, .user = s, .action = s, .scope = s};
        expect(&r, NULL);
        if (n >= 3) {
            s[n - 3] = (char)0xe2;
            s[n - 2] = (char)0x82;
            s[n - 1] = (char)0xac;
            expect(&r, NULL);
            s[n - 1] = 'x';
            expect(&r, "'agent'");
        }
        free(s);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_offset),
        cmocka_unit_test(test_nul_after_start),
        cmocka_unit_test(test_first_field_named),
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_long_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
