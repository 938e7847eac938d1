/*
 * test_policy_cases.c - runs every policy file in tests/data/policy/ and
 * checks that loading it produces exactly the messages it announces.
 *
 * A case is a file NAME.yaml whose comment lines say what must happen (or,
 * for files that cannot hold comments - empty, binary - a file
 * NAME.yaml.expect beside it with the same lines):
 *
 *   # expect-error: LINE[:COL]: message fragment
 *   # expect-warning: LINE[:COL]: message fragment
 *   # expect-status: EPARSE          (default EPOLICY when errors expected)
 *   # option: strict                 (warnings become errors)
 *   # option: max_bytes=N
 *   # env: NAME=value                (the only environment the file sees)
 *
 * LINE 0 means a message without position. Every expected message must be
 * found (same severity, line, column when given, message containing the
 * fragment) and no other message may appear. A file without expect-error
 * must load.
 */
#include "testutil.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EXPECT 64
#define MAX_ENV    16

typedef struct expect {
    aa_severity sev;
    int line, col; /* col 0: any */
    char text[256];
} expect;

typedef struct tcase {
    char *path;
    expect ex[MAX_EXPECT];
    size_t nex;
    int status; /* expected return */
    bool has_status;
    aa_load_options opts;
    char env_name[MAX_ENV][64];
    char env_value[MAX_ENV][256];
    size_t nenv;
} tcase;

static const char *fake_getenv(void *ud, const char *name) {
    const tcase *c = ud;
    for (size_t i = 0; i < c->nenv; i++)
        if (strcmp(c->env_name[i], name) == 0)
            return c->env_value[i];
    return NULL;
}

static int status_from_name(const char *s) {
    static const int codes[] = {AA_EIO,    AA_EPARSE, AA_EPOLICY,
                                AA_ELIMIT, AA_EINVAL, AA_ENOMEM};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(s, aa_status_name(codes[i])) == 0)
            return codes[i];
    fail_msg("unknown status name '%s'", s);
    return 0;
}

static void trim(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        s[--n] = 0;
}

/* Reads the directives of one case from `text`. */
static void parse_directives(tcase *c, const char *text, size_t len) {
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char line[512];
        if (n >= sizeof line)
            n = sizeof line - 1;
        memcpy(line, p, n);
        line[n] = 0;
        trim(line);
        p = nl ? nl + 1 : end;

        const char *rest;
        aa_severity sev = AA_SEVERITY_ERROR;
        if (strncmp(line, "# expect-error:", 15) == 0) {
            rest = line + 15;
        } else if (strncmp(line, "# expect-warning:", 17) == 0) {
            rest = line + 17;
            sev = AA_SEVERITY_WARNING;
        } else if (strncmp(line, "# expect-status:", 16) == 0) {
            char name[32];
            assert_int_equal(sscanf(line + 16, " %31s", name), 1);
            c->status = status_from_name(name);
            c->has_status = true;
            continue;
        } else if (strncmp(line, "# option: strict", 16) == 0) {
            c->opts.strict = 1;
            continue;
        } else if (strncmp(line, "# option: max_bytes=", 20) == 0) {
            c->opts.max_bytes = (size_t)strtoul(line + 20, NULL, 10);
            continue;
        } else if (strncmp(line, "# env: ", 7) == 0) {
            const char *eq = strchr(line + 7, '=');
            assert_non_null(eq);
            assert_true(c->nenv < MAX_ENV);
            snprintf(c->env_name[c->nenv], 64, "%.*s", (int)(eq - (line + 7)),
                     line + 7);
            snprintf(c->env_value[c->nenv], 256, "%s", eq + 1);
            c->nenv++;
            continue;
        } else {
            continue;
        }
        assert_true(c->nex < MAX_EXPECT);
        expect *e = &c->ex[c->nex++];
        e->sev = sev;
        int used = 0;
        if (sscanf(rest, " %d:%d: %n", &e->line, &e->col, &used) == 2 &&
            used > 0) {
            /* line:col */
        } else {
            e->col = 0;
            used = 0;
            if (sscanf(rest, " %d: %n", &e->line, &used) != 1 || used == 0)
                fail_msg("%s: bad directive: %s", c->path, line);
        }
        snprintf(e->text, sizeof e->text, "%s", rest + used);
    }
}

static void run_case(void **state) {
    tcase *c = *state;
    size_t len = 0;
    char *expect_path = malloc(strlen(c->path) + 8);
    sprintf(expect_path, "%s.expect", c->path);
    char *text = tu_read_file(expect_path, &len);
    if (!text)
        text = tu_read_file(c->path, &len);
    assert_non_null(text);
    parse_directives(c, text, len);
    free(text);
    free(expect_path);

    c->opts.getenv_fn = fake_getenv;
    c->opts.getenv_userdata = c;
    aa_error *err = aa_error_new();
    aa_policy *p = (aa_policy *)&p; /* must be reset to NULL on failure */
    int rc = aa_policy_load_file(c->path, &c->opts, &p, err);

    size_t nerr = 0;
    for (size_t i = 0; i < c->nex; i++)
        nerr += c->ex[i].sev == AA_SEVERITY_ERROR;
    int want = nerr ? (c->has_status ? c->status : AA_EPOLICY) : AA_OK;

    int failures = 0;
    char *all = tu_error_text(err);
    if (rc != want) {
        print_error("%s: returned %s, expected %s\n", c->path,
                    aa_status_name(rc), aa_status_name(want));
        failures++;
    }
    if ((rc == AA_OK) != (p != NULL)) {
        print_error("%s: policy pointer does not match the status\n", c->path);
        failures++;
    }
    bool used[1000] = {false};
    size_t n = aa_error_count(err);
    for (size_t i = 0; i < c->nex; i++) {
        const expect *e = &c->ex[i];
        bool found = false;
        for (size_t j = 0; j < n && j < 1000 && !found; j++) {
            const aa_diag *d = aa_error_get(err, j);
            if (used[j] || d->severity != e->sev || d->line != e->line ||
                (e->col && d->column != e->col) || !strstr(d->message, e->text))
                continue;
            used[j] = found = true;
        }
        if (!found) {
            print_error("%s: missing %s at %d:%d containing \"%s\"\n", c->path,
                        e->sev ? "warning" : "error", e->line, e->col, e->text);
            failures++;
        }
    }
    for (size_t j = 0; j < n && j < 1000; j++) {
        const aa_diag *d = aa_error_get(err, j);
        if (d->line > 0 && (!d->file || strcmp(d->file, c->path) != 0)) {
            print_error("%s: message without the file name\n", c->path);
            failures++;
        }
        if (used[j])
            continue;
        char line[1024];
        aa_diag_format(d, line, sizeof line);
        print_error("%s: unexpected %s: %s\n", c->path,
                    d->severity ? "warning" : "error", line);
        failures++;
    }
    if (failures)
        print_error("all messages:\n%s", all);
    free(all);
    if (p) {
        char *json = aa_policy_describe_json(p);
        assert_non_null(json);
        free(json);
    }
    aa_policy_free(p);
    aa_error_free(err);
    assert_int_equal(failures, 0);
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void) {
    char *dir = tu_path("tests/data/policy");
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cannot open %s\n", dir);
        return 1;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".yaml") != 0)
            continue;
        names = realloc(names, (n + 1) * sizeof *names);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);

    struct CMUnitTest *tests = calloc(n, sizeof *tests);
    tcase *cases = calloc(n, sizeof *cases);
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(dir) + strlen(names[i]) + 2;
        cases[i].path = malloc(l);
        snprintf(cases[i].path, l, "%s/%s", dir, names[i]);
        tests[i].name = names[i];
        tests[i].test_func = run_case;
        tests[i].initial_state = &cases[i];
    }
    int rc = n >= 40 ? 0 : 1;
    if (rc)
        fprintf(stderr, "only %zu policy cases (expected at least 40)\n", n);
    rc |= _cmocka_run_group_tests("policy_cases", tests, n, NULL, NULL);
    for (size_t i = 0; i < n; i++) {
        free(cases[i].path);
        free(names[i]);
    }
    free(cases);
    free(tests);
    free(names);
    free(dir);
    return rc;
}
