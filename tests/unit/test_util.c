/* test_util.c - the error model, status codes, patterns, time, UUIDs. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pattern.h"
#include "util.h"

#include <sys/mman.h>
#include <unistd.h>

static void test_status_codes(void **state) {
    (void)state;
    assert_string_equal(aa_strerror(AA_OK), "success");
    assert_string_equal(aa_strerror(AA_EINVAL), "invalid argument");
    assert_string_equal(aa_strerror(AA_EAUDIT), "audit log unavailable");
    assert_string_equal(aa_strerror(12345), "unknown status");
    assert_string_equal(aa_status_name(AA_EPOLICY), "EPOLICY");
    assert_string_equal(aa_status_name(-999), "UNKNOWN");
}

static void test_error_collects_every_message(void **state) {
    (void)state;
    aa_error *err = aa_error_new();
    assert_non_null(err);
    assert_int_equal(aa_error_count(err), 0);
    int rc = aa__error_add(err, AA_SEVERITY_ERROR, AA_EPOLICY, "p.yaml", 3, 7,
                           "role '%s' is unknown", "admin");
    assert_int_equal(rc, AA_EPOLICY);
    aa__error_add(err, AA_SEVERITY_WARNING, AA_EPOLICY, "p.yaml", 9, 1,
                  "unknown key 'deny_list'");
    aa__fail(err, AA_EIO, "cannot open");
    assert_int_equal(aa_error_count(err), 3);
    assert_int_equal(aa_error_count_severity(err, AA_SEVERITY_ERROR), 2);
    assert_int_equal(aa_error_count_severity(err, AA_SEVERITY_WARNING), 1);

    const aa_diag *d = aa_error_get(err, 0);
    assert_string_equal(d->file, "p.yaml");
    assert_int_equal(d->line, 3);
    assert_int_equal(d->column, 7);
    assert_int_equal(d->status, AA_EPOLICY);
    char buf[128];
    aa_diag_format(d, buf, sizeof buf);
    assert_string_equal(buf, "p.yaml:3:7: role 'admin' is unknown");
    aa_diag_format(aa_error_get(err, 2), buf, sizeof buf);
    assert_string_equal(buf, "cannot open");
    assert_null(aa_error_get(err, 3));

    aa_error_clear(err);
    assert_int_equal(aa_error_count(err), 0);
    /* A NULL error object is accepted everywhere. */
    assert_int_equal(aa__fail(NULL, AA_ENOMEM, "x"), AA_ENOMEM);
    aa_error_free(err);
    aa_error_free(NULL);
}

static bool glob(const char *p, const char *s) {
    aa__pattern pat;
    aa__pattern_init(&pat, p);
    bool a = aa__pattern_match(&pat, s, strlen(s));
    bool b = aa__glob_match(p, strlen(p), s, strlen(s));
    assert_int_equal(a, b); /* the fast paths agree with the general one */
    return a;
}

static void test_glob(void **state) {
    (void)state;
    assert_true(glob("read", "read"));
    assert_false(glob("read", "reads"));
    assert_false(glob("Read", "read"));
    assert_true(glob("read:*", "read:documents"));
    assert_true(glob("read:*", "read:"));
    assert_false(glob("read:*", "read"));
    assert_true(glob("*", ""));
    assert_true(glob("*:prod", "deploy:prod"));
    assert_true(glob("*", "a/b:c"));
    assert_true(glob("a*b*c", "aXXbYYc"));
    assert_false(glob("a*b*c", "aXXbYY"));
    assert_true(glob("?ead", "read"));
    assert_false(glob("?ead", "ead"));
    assert_true(glob("[rw]ead", "wead"));
    assert_false(glob("[!rw]ead", "wead"));
    assert_true(glob("[!rw]ead", "head"));
    assert_true(glob("file[0-9]", "file7"));
    assert_false(glob("file[0-9]", "filex"));
    assert_true(glob("[", "["));       /* unclosed class is literal */
    assert_true(glob("a[]]b", "a]b")); /* ']' first in a class is literal */
    assert_true(glob("[a-]", "-"));
    assert_true(glob("**x", "abx"));
    /* Pathological: must finish quickly (no exponential backtracking). */
    assert_false(glob("*a*a*a*a*a*a*a*a*a*b",
                      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

static void test_patset_first_match_wins(void **state) {
    (void)state;
    aa__patset s;
    aa__patset_init(&s);
    int tags[4] = {0, 1, 2, 3};
    assert_true(aa__patset_add(&s, "write:*", &tags[0]));
    assert_true(aa__patset_add(&s, "read", &tags[1]));
    assert_true(aa__patset_add(&s, "*", &tags[2]));
    assert_true(aa__patset_add(&s, "write:x", &tags[3]));
    assert_true(aa__patset_build(&s));
    const aa__patset_entry *e = aa__patset_match(&s, "write:x", 7);
    assert_non_null(e);
    assert_int_equal(e->index, 0);
    e = aa__patset_match(&s, "read", 4);
    assert_int_equal(e->index, 1);
    e = aa__patset_match(&s, "other", 5);
    assert_int_equal(e->index, 2);
    assert_ptr_equal(e->tag, &tags[2]);
    aa__patset_free(&s);

    aa__patset_init(&s);
    assert_true(aa__patset_build(&s));
    assert_null(aa__patset_match(&s, "x", 1));
    aa__patset_free(&s);
}

/* Every prefix of one list of patterns as a set, from one entry (scanned
 * in order) to all of them (hashed exact names, wildcards in order), in
 * malloc'd and arena sets alike: the entry that matches is always the
 * first of the list whose pattern matches. */
static void test_patset_sizes(void **state) {
    (void)state;
    static const char *const pats[] = {
        "read", "write:*",  "read", "*:x",    "list", "a?c",    "deploy:prod",
        "*",    "deploy:*", "list", "b[0-9]", "zz",   "read:*", "q"};
    static const char *const strs[] = {
        "read", "write:x", "a:x",  "list",   "abc", "deploy:prod", "b7",
        "zz",   "q",       "none", "read:y", "",    "deploy:",     "write:"};
    size_t np = AA__ARRAY_LEN(pats);
    aa__arena arena;
    aa__arena_init(&arena);
    for (size_t n = 0; n <= np; n++) {
        for (int in_arena = 0; in_arena < 2; in_arena++) {
            aa__patset s;
            if (in_arena)
                assert_true(aa__patset_init_arena(&s, &arena, 1));
            else
                aa__patset_init(&s);
            for (size_t i = 0; i < n; i++)
                assert_true(aa__patset_add(&s, pats[i], NULL));
            assert_true(aa__patset_build(&s));
            for (size_t k = 0; k < AA__ARRAY_LEN(strs); k++) {
                size_t len = strlen(strs[k]);
                int want = -1;
                for (size_t i = 0; i < n && want < 0; i++)
                    if (aa__glob_match(pats[i], strlen(pats[i]), strs[k], len))
                        want = (int)i;
                const aa__patset_entry *e = aa__patset_match(&s, strs[k], len);
                const aa__patset_entry *h = aa__patset_match_h(
                    &s, strs[k], len, aa__hash(strs[k], len));
                assert_ptr_equal(e, h);
                if (want < 0) {
                    assert_null(e);
                } else {
                    assert_non_null(e);
                    assert_int_equal(e->index, want);
                    assert_string_equal(e->pat.text, pats[want]);
                }
            }
            aa__patset_free(&s);
        }
    }
    aa__arena_free(&arena);
}

/* Whether every page of [p, p + len) is in memory (mincore). */
static bool resident(const void *p, size_t len) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)p & ~(page - 1);
    size_t n = ((uintptr_t)p + len - lo + page - 1) / page;
    unsigned char *vec = malloc(n);
    assert_non_null(vec);
    assert_int_equal(mincore((void *)lo, n * page, vec), 0);
    bool all = true;
    for (size_t i = 0; i < n; i++)
        all &= (vec[i] & 1) != 0;
    free(vec);
    return all;
}

/* The pages of a large block are brought into memory as it is handed out
 * (madvise(MADV_POPULATE_WRITE) a stretch at a time, not a page fault per
 * page): memory never touched is resident, and still reads as zero where
 * asked zeroed. A kernel without MADV_POPULATE_WRITE faults pages in as
 * before (only the contents are checked then). */
static void test_arena_populated(void **state) {
    (void)state;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *probe = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(probe != MAP_FAILED);
    bool can = madvise(probe, 4 * page, 23 /* MADV_POPULATE_WRITE */) == 0;
    munmap(probe, 4 * page);

    aa__arena a;
    aa__arena_init(&a);
    size_t pieces = 0;
    while (a.total < (3u << 20)) { /* into blocks of 1 MiB and more */
        assert_non_null(aa__arena_alloc_raw(&a, 5000));
        pieces++;
    }
    for (int i = 0; i < 20; i++) {
        unsigned char *x = aa__arena_alloc_raw(&a, 5000);
        assert_non_null(x);
        if (can && !resident(x, 5000))
            fail_msg("piece %zu of an arena of %zu bytes is not in memory",
                     pieces + (size_t)i, a.total);
        unsigned char *z = aa__arena_alloc(&a, 3000);
        assert_non_null(z);
        for (size_t k = 0; k < 3000; k++)
            assert_int_equal(z[k], 0);
    }
    unsigned char *big = aa__arena_alloc(&a, 600000); /* a block of its own */
    assert_non_null(big);
    if (can)
        assert_true(resident(big, 600000));
    for (size_t k = 0; k < 600000; k += 512)
        assert_int_equal(big[k], 0);
    aa__arena_free(&a);
}

/* aa__arena_alloc is zeroed in small blocks and in large ones (calloc'd,
 * which a memset no longer follows), also where malloc hands back memory
 * that was written and freed, and next to strings and raw arrays. */
static void test_arena_zeroed(void **state) {
    (void)state;
    for (int round = 0; round < 2; round++) {
        /* Dirty memory for malloc to hand back. */
        for (size_t n = 1024; n <= 4u << 20; n *= 4) {
            unsigned char *junk = malloc(n);
            assert_non_null(junk);
            memset(junk, 0xA5, n);
            free(junk);
        }
        aa__arena a;
        aa__arena_init(&a);
        size_t sizes[] = {1, 24, 100, 5000, 16384, 70000, 300000, 2000000};
        for (int rep = 0; rep < 40; rep++) {
            for (size_t k = 0; k < AA__ARRAY_LEN(sizes); k++) {
                size_t n = sizes[k] >> (rep % 4);
                unsigned char *raw = aa__arena_alloc_raw(&a, n ? n : 1);
                assert_non_null(raw);
                memset(raw, 0xFF, n ? n : 1);
                assert_non_null(aa__arena_strdup(&a, "packed text"));
                unsigned char *z = aa__arena_alloc(&a, n);
                assert_non_null(z);
                for (size_t i = 0; i < n; i++)
                    if (z[i] != 0)
                        fail_msg("byte %zu of %zu not zero", i, n);
                memset(z, 0x5A, n);
            }
        }
        aa__arena_free(&a);
    }
}

/* A recycled arena's blocks hold the next allocations of another (a
 * large array too, when a block is large enough), zeroed where asked
 * although they were written; what was not used is freed by trim or with
 * the arena (ASan and valgrind see any leak). */
static void test_arena_recycle(void **state) {
    (void)state;
    aa__arena tree, pol;
    aa__arena_init(&tree);
    aa__arena_init(&pol);
    for (int i = 0; i < 2000; i++) { /* 10 MB in blocks of up to 4 MiB */
        unsigned char *x = aa__arena_alloc_raw(&tree, 5000);
        assert_non_null(x);
        memset(x, 0xC3, 5000);
    }
    assert_non_null(aa__arena_strdup(&pol, "kept"));
    aa__arena_recycle(&pol, &tree);
    assert_null(tree.head);
    size_t big = 3u << 20; /* fits in a recycled 4 MiB block */
    unsigned char *arr = aa__arena_alloc(&pol, big);
    assert_non_null(arr);
    for (size_t i = 0; i < big; i += 4096)
        assert_int_equal(arr[i], 0);
    assert_int_equal(arr[big - 1], 0);
    memset(arr, 0x11, big);
    for (int i = 0; i < 300; i++) {
        unsigned char *z = aa__arena_alloc(&pol, 700);
        assert_non_null(z);
        for (size_t k = 0; k < 700; k++)
            assert_int_equal(z[k], 0);
        memset(z, 0x22, 700);
    }
    aa__arena_trim(&pol);
    assert_null(pol.spare);
    assert_non_null(aa__arena_alloc(&pol, 100));
    aa__arena_free(&pol);
    aa__arena_free(&tree); /* empty: nothing to free twice */

    /* Spare blocks left untrimmed are freed with the arena. */
    aa__arena_init(&tree);
    aa__arena_init(&pol);
    for (int i = 0; i < 100; i++)
        assert_non_null(aa__arena_alloc(&tree, 4000));
    aa__arena_recycle(&pol, &tree);
    assert_non_null(pol.spare);
    aa__arena_free(&pol);
}

static void test_time(void **state) {
    (void)state;
    char buf[33];
    aa_format_time(1795867200123456LL, buf);
    assert_string_equal(buf, "2026-11-28T12:00:00.123456+00:00");
    int64_t us;
    assert_int_equal(aa_parse_time(buf, &us), AA_OK);
    assert_int_equal(us, 1795867200123456LL);
    assert_int_equal(aa_parse_time("2026-11-28", &us), AA_OK);
    assert_int_equal(us, 1795824000000000LL);
    assert_int_equal(aa_parse_time("2026-11-28T13:00:00+01:00", &us), AA_OK);
    assert_int_equal(us, 1795867200000000LL);
    assert_int_equal(aa_parse_time("2026-11-28T12:00:00Z", &us), AA_OK);
    assert_int_equal(us, 1795867200000000LL);
    assert_int_equal(aa_parse_time("yesterday", &us), AA_EINVAL);
    assert_int_equal(aa_parse_time("2026-13-01", &us), AA_EINVAL);
    assert_int_equal(aa_parse_time("2026-11-28T12:00:00junk", &us), AA_EINVAL);
}

static void test_uuid4(void **state) {
    (void)state;
    char a[37], b[37];
    assert_int_equal(aa__uuid4(a), AA_OK);
    assert_int_equal(aa__uuid4(b), AA_OK);
    assert_int_equal(strlen(a), 36);
    assert_int_equal(a[14], '4');
    assert_true(strchr("89ab", a[19]) != NULL);
    assert_string_not_equal(a, b);
}

static void test_buf_json(void **state) {
    (void)state;
    aa__buf b;
    aa__buf_init(&b);
    aa__buf_json_string(&b, "a\"b\\c\n\x01", 7);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\"");
    /* UTF-8 is kept; every byte that starts no well-formed sequence
     * (overlong, surrogate, above U+10FFFF, cut short, stray) is U+FFFD;
     * DEL is escaped; an embedded NUL too. */
    aa__buf_reset(&b);
    static const char in[] =
        "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\xc0\xaf|"
        "\xed\xa0\x80|\xf4\x90\x80\x80|\xe2\x82|\x80|\x7f|";
    aa__buf_json_string(&b, in, sizeof in - 1);
#define R "\xef\xbf\xbd"
    assert_string_equal(b.data,
                        "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|" R R "|" R R R
                        "|" R R R R "|" R R "|" R "|\\u007f|\"");
#undef R
    assert_true(aa__utf8_valid("\xc3\xa9x", 3));
    assert_false(aa__utf8_valid("\xc3", 1));
    assert_false(aa__utf8_valid("\xed\xa0\x80", 3));
    aa__buf_reset(&b);
    aa__buf_json_string(&b, "a\0b", 3);
    assert_string_equal(b.data, "\"a\\u0000b\"");
    aa__buf_reset(&b);
    aa__buf_printf(&b, "%d-%s", 42, "x");
    assert_string_equal(b.data, "42-x");
    aa__buf_free(&b);
}

static void test_map(void **state) {
    (void)state;
    aa__map m;
    aa__map_init(&m);
    char keys[200][8];
    for (int i = 0; i < 200; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        assert_true(aa__map_put(&m, keys[i], strlen(keys[i]), &keys[i]));
    }
    for (int i = 0; i < 200; i++)
        assert_ptr_equal(aa__map_get(&m, keys[i], strlen(keys[i])), &keys[i]);
    assert_null(aa__map_get(&m, "nope", 4));
    assert_int_equal(m.count, 200);
    aa__map_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_populated),
        cmocka_unit_test(test_status_codes),
        cmocka_unit_test(test_error_collects_every_message),
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_patset_first_match_wins),
        cmocka_unit_test(test_patset_sizes),
        cmocka_unit_test(test_arena_zeroed),
        cmocka_unit_test(test_arena_recycle),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_uuid4),
        cmocka_unit_test(test_buf_json),
        cmocka_unit_test(test_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
