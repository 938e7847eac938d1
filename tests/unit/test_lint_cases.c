/*
 * test_lint_cases.c - lints every policy in tests/data/lint/ and checks
 * that the findings are exactly the ones the file announces.
 *
 * A case is a file NAME.yaml whose comment lines list its findings:
 *
 *   # expect: LINE:COL CODE
 *   # expect: LINE:COL CODE related LINE:COL
 *
 * Every finding must be announced (same position, code and related
 * position) and every announced finding must appear: a file without
 * `expect` lines is a set of near misses that must produce no finding at
 * all. The severity must be the code's own (aa_lint_code).
 */
#include "testutil.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EXPECT 64

typedef struct expect {
    int line, col;
    char code[64];
    int rline, rcol; /* 0: no related position */
    bool seen;
} expect;

static size_t read_expects(const char *path, expect *ex) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[1024];
    size_t n = 0;
    while (fgets(buf, sizeof buf, f)) {
        const char *p = strstr(buf, "# expect:");
        if (!p)
            continue;
        assert_true(n < MAX_EXPECT);
        expect *e = &ex[n++];
        memset(e, 0, sizeof *e);
        int k = sscanf(p, "# expect: %d:%d %63s related %d:%d", &e->line,
                       &e->col, e->code, &e->rline, &e->rcol);
        if (k != 3 && k != 5) {
            fprintf(stderr, "%s: bad expect line: %s", path, buf);
            fail();
        }
    }
    fclose(f);
    return n;
}

static aa_lint_severity code_severity(const char *code) {
    aa_lint_severity sev = AA_LINT_INFO;
    const char *c;
    for (size_t i = 0; (c = aa_lint_code(i, &sev)) != NULL; i++)
        if (strcmp(c, code) == 0)
            return sev;
    fail_msg("unknown code %s", code);
    return sev;
}

static int run_case(const char *path) {
    expect ex[MAX_EXPECT];
    size_t nex = read_expects(path, ex);
    aa_error *err = aa_error_new();
    aa_lint_report *r = NULL;
    int rc = aa_lint_file(path, NULL, &r, err);
    if (rc != AA_OK) {
        fprintf(stderr, "%s: lint failed: %s\n", path, aa_strerror(rc));
        aa_error_free(err);
        return 1;
    }
    aa_error_free(err);
    int bad = 0;
    for (size_t i = 0; i < aa_lint_report_count(r); i++) {
        const aa_lint_finding *f = aa_lint_report_get(r, i);
        bool found = false;
        for (size_t k = 0; k < nex && !found; k++) {
            expect *e = &ex[k];
            if (e->seen || e->line != f->line || e->col != f->column ||
                strcmp(e->code, f->code) != 0)
                continue;
            if (e->rline != (f->has_related ? f->related_line : 0) ||
                e->rcol != (f->has_related ? f->related_column : 0))
                continue;
            e->seen = found = true;
        }
        if (!found || f->severity != code_severity(f->code)) {
            fprintf(stderr, "%s:%d:%d: unexpected %s: %s: %s", path, f->line,
                    f->column, aa_lint_severity_name(f->severity), f->code,
                    f->message);
            if (f->has_related)
                fprintf(stderr, " (related %d:%d)", f->related_line,
                        f->related_column);
            fprintf(stderr, "\n");
            bad++;
        }
    }
    for (size_t k = 0; k < nex; k++)
        if (!ex[k].seen) {
            fprintf(stderr, "%s:%d:%d: expected %s%s not reported\n", path,
                    ex[k].line, ex[k].col, ex[k].code,
                    ex[k].rline ? " (with its related position)" : "");
            bad++;
        }
    aa_lint_report_free(r);
    return bad;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_cases(void **state) {
    (void)state;
    char dir[4096];
    const char *src = getenv("AA_SOURCE_DIR");
    snprintf(dir, sizeof dir, "%s/tests/data/lint", src ? src : ".");
    DIR *d = opendir(dir);
    assert_non_null(d);
    char *names[512];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len > 5 && strcmp(de->d_name + len - 5, ".yaml") == 0 && n < 512)
            names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    assert_true(n >= 12); /* every code has a case */
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        bad += run_case(path);
        free(names[i]);
    }
    assert_int_equal(bad, 0);
}

/* Every code the library knows is exercised by some case file. */
static void test_every_code_has_a_case(void **state) {
    (void)state;
    char cmd[4200];
    const char *src = getenv("AA_SOURCE_DIR");
    const char *c;
    for (size_t i = 0; (c = aa_lint_code(i, NULL)) != NULL; i++) {
        snprintf(cmd, sizeof cmd,
                 "grep -qs -- '# expect: [0-9]*:[0-9]* %s\\b' "
                 "'%s'/tests/data/lint/*.yaml",
                 c, src ? src : ".");
        if (system(cmd) != 0)
            fail_msg("no case expects code %s", c);
    }
}

static void test_options(void **state) {
    (void)state;
    const char *policy = "version: '1.0'\n"
                         "roles:\n"
                         "  unused: {actions: [a]}\n";
    aa_lint_report *r = NULL;
    aa_error *err = aa_error_new();
    assert_int_equal(
        aa_lint_buffer(policy, strlen(policy), "p.yaml", NULL, &r, err), AA_OK);
    assert_int_equal(aa_lint_report_count(r), 1);
    const aa_lint_finding *f = aa_lint_report_get(r, 0);
    assert_string_equal(f->code, "role-unused");
    assert_string_equal(f->file, "p.yaml");
    assert_int_equal(f->line, 3);
    assert_int_equal(f->column, 3);
    assert_null(aa_lint_report_get(r, 1));
    aa_lint_report_free(r);

    aa_lint_options o;
    aa_lint_options_init(&o);
    const char *off[] = {"role-unused"};
    o.disabled = off;
    o.n_disabled = 1;
    assert_int_equal(
        aa_lint_buffer(policy, strlen(policy), "p.yaml", &o, &r, err), AA_OK);
    assert_int_equal(aa_lint_report_count(r), 0);
    aa_lint_report_free(r);

    const char *bogus[] = {"no-such-code"};
    o.disabled = bogus;
    assert_int_equal(
        aa_lint_buffer(policy, strlen(policy), "p.yaml", &o, &r, err),
        AA_EINVAL);
    assert_null(r);
    assert_int_equal(aa_lint_file("/nonexistent/p.yaml", NULL, &r, err),
                     AA_EIO);
    assert_null(r);
    aa_error_free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_every_code_has_a_case),
        cmocka_unit_test(test_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
