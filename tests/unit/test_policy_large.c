/*
 * test_policy_large.c - a large generated policy with problems spread over
 * it: every message comes out, in file order within each kind, with its
 * line and column and its exact text, whether the policy is read from a
 * buffer or from a file (which the loader frees early).
 *
 * The generator records where it put each problem and what must be said
 * about it; the loader's output must be exactly that list.
 */
#include "testutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPROFILES 3000
#define MAX_WANT  200

typedef struct want {
    aa_severity sev;
    int line, col;
    char message[400];
} want;

typedef struct gen {
    char *text;
    size_t len, cap;
    int line; /* of the next line written */
    want dup[MAX_WANT], nulls[MAX_WANT], v12[MAX_WANT], schema[MAX_WANT];
    size_t ndup, nnulls, nv12, nschema;
} gen;

static void put(gen *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void put(gen *g, const char *fmt, ...) {
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof line);
    if (g->len + (size_t)n + 1 > g->cap) {
        g->cap = (g->cap + (size_t)n + 1) * 2;
        g->text = realloc(g->text, g->cap);
        assert_non_null(g->text);
    }
    memcpy(g->text + g->len, line, (size_t)n + 1);
    g->len += (size_t)n;
    for (int i = 0; i < n; i++)
        g->line += line[i] == '\n';
}

static void expect(want *list, size_t *n, aa_severity sev, int line, int col,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void expect(want *list, size_t *n, aa_severity sev, int line, int col,
                   const char *fmt, ...) {
    assert_true(*n < MAX_WANT);
    want *w = &list[(*n)++];
    w->sev = sev;
    w->line = line;
    w->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->message, sizeof w->message, fmt, ap);
    va_end(ap);
}

/* A profile name; every 250th is 120 characters long (messages cut names
 * at 100). */
static void profile_name(char *buf, size_t size, int i) {
    if (i % 250 == 17) {
        int n = snprintf(buf, size, "long-agent-%d-", i);
        for (; n < 120; n++)
            buf[n] = (char)('a' + n % 26);
        buf[n] = 0;
    } else {
        snprintf(buf, size, "gen-agent-%d", i);
    }
}

static void generate(gen *g) {
    memset(g, 0, sizeof *g);
    g->line = 1;
    put(g, "version: \"1.0\"\nroles:\n");
    for (int r = 0; r < 40; r++) {
        put(g, "  role-%d:\n", r);
        if (r % 8)
            put(g, "    extends: role-%d\n", r - 1);
        put(g, "    actions: [\"app%d:read\", \"app%d:write:*\", \"list\"]\n",
            r, r);
    }
    put(g, "profiles:\n");
    for (int i = 0; i < NPROFILES; i++) {
        char name[160];
        profile_name(name, sizeof name, i);
        if (i == 2000) { /* the name of profile 7 again */
            char first[160];
            profile_name(first, sizeof first, 7);
            expect(g->dup, &g->ndup, AA_SEVERITY_ERROR, g->line, 3,
                   "duplicate key '%s' (first at line %d)", first,
                   /* profile 7's key line: see first7 below */ 0);
            snprintf(name, sizeof name, "%s", first);
        }
        int key_line = g->line;
        if (i == 7)
            g->dup[MAX_WANT - 1].line = key_line; /* remembered */
        put(g, "  %s:\n", name);
        if (i % 300 == 11) {
            expect(g->v12, &g->nv12, AA_SEVERITY_WARNING, g->line, 18,
                   "'yes' is the boolean true here (YAML 1.1, as PyYAML reads "
                   "it) but the string \"yes\" under YAML 1.2; quote it or "
                   "write it so that both agree");
            put(g, "    description: yes\n");
        } else {
            put(g, "    description: Generated agent %d\n", i);
        }
        put(g, "    role: role-%d\n", i % 40);
        if (i == 1234) {
            expect(g->schema, &g->nschema, AA_SEVERITY_ERROR, g->line, 13,
                   "the value of ${BAD_UTF8} is not valid UTF-8 (byte 1)");
            put(g, "    allow: [\"${BAD_UTF8}\", \"report:%d\"]\n", i);
        } else {
            put(g, "    allow: [\"tool-%d:*\", \"report:%d\", \"report:%d\"]\n",
                i, i, i);
        }
        if (i % 350 == 5) {
            expect(g->nulls, &g->nnulls, AA_SEVERITY_ERROR, g->line, 5,
                   "'deny' has no value (null): remove the key for its "
                   "default, or write [] / \"\" / {}");
            put(g, "    deny:\n");
        } else {
            put(g, "    deny: [\"delete:*\"]\n");
        }
        if (i % 250 == 17) {
            char what[160];
            snprintf(what, sizeof what, "profile '%.100s'", name);
            expect(g->schema, &g->nschema, AA_SEVERITY_ERROR, g->line, 27,
                   "%s: max_session_duration must be at least 1, not 0", what);
            put(g, "    max_session_duration: 0\n");
        } else {
            put(g, "    max_session_duration: 1800\n");
        }
    }
    /* The duplicate's message names the line of profile 7's key. */
    for (size_t k = 0; k < g->ndup; k++) {
        char *at = strstr(g->dup[k].message, "(first at line 0)");
        assert_non_null(at);
        snprintf(at,
                 sizeof g->dup[k].message - (size_t)(at - g->dup[k].message),
                 "(first at line %d)", g->dup[MAX_WANT - 1].line);
    }
}

static const char *fake_env(void *ud, const char *name) {
    (void)ud;
    return strcmp(name, "BAD_UTF8") == 0 ? "\xff" : NULL;
}

/* err holds exactly: the parser's duplicate key, then the tree walk's
 * messages in file order (nulls and YAML 1.2 warnings interleaved by
 * line), then the schema's. */
static void check_messages(const gen *g, const aa_error *err) {
    want all[4 * MAX_WANT];
    size_t n = 0;
    for (size_t k = 0; k < g->ndup; k++)
        all[n++] = g->dup[k];
    size_t a = 0, b = 0;
    while (a < g->nnulls || b < g->nv12) {
        bool take_null = b == g->nv12 ||
                         (a < g->nnulls && g->nulls[a].line < g->v12[b].line);
        all[n++] = take_null ? g->nulls[a++] : g->v12[b++];
    }
    for (size_t k = 0; k < g->nschema; k++)
        all[n++] = g->schema[k];
    /* Schema errors come profile by profile: sort those by line. */
    size_t s0 = n - g->nschema;
    for (size_t i = s0 + 1; i < n; i++)
        for (size_t j = i; j > s0 && all[j].line < all[j - 1].line; j--) {
            want t = all[j];
            all[j] = all[j - 1];
            all[j - 1] = t;
        }
    if (aa_error_count(err) != n) {
        char *text = tu_error_text(err);
        print_error("got %zu messages, want %zu:\n%s\n", aa_error_count(err), n,
                    text);
        free(text);
        fail();
    }
    for (size_t i = 0; i < n; i++) {
        const aa_diag *d = aa_error_get(err, i);
        if (d->severity != all[i].sev || d->line != all[i].line ||
            d->column != all[i].col || strcmp(d->message, all[i].message)) {
            print_error("message %zu: got %d:%d %s\nwant %d:%d %s\n", i,
                        d->line, d->column, d->message, all[i].line, all[i].col,
                        all[i].message);
            fail();
        }
    }
}

static void large_policy_messages(void **state) {
    (void)state;
    gen *g = calloc(1, sizeof *g);
    assert_non_null(g);
    generate(g);
    assert_true(g->ndup == 1 && g->nnulls > 5 && g->nv12 > 5 &&
                g->nschema > 10);
    aa_load_options o;
    aa_load_options_init(&o);
    o.getenv_fn = fake_env;

    aa_error *err = aa_error_new();
    aa_policy *p = NULL;
    assert_int_equal(
        aa_policy_load_buffer(g->text, g->len, "big.yaml", &o, &p, err),
        AA_EPOLICY);
    assert_null(p);
    check_messages(g, err);
    aa_error_free(err);

    char *dir = tu_tmpdir();
    char *path = malloc(strlen(dir) + 16);
    assert_non_null(path);
    sprintf(path, "%s/big.yaml", dir);
    assert_int_equal(tu_write_file(path, g->text), 0);
    err = aa_error_new();
    assert_int_equal(aa_policy_load_file(path, &o, &p, err), AA_EPOLICY);
    /* Positions and texts do not depend on where the bytes came from. */
    for (size_t i = 0; i < aa_error_count(err); i++) {
        const aa_diag *d = aa_error_get(err, i);
        assert_string_equal(d->file, path);
    }
    aa_error_free(err);
    tu_rmdir(dir);
    free(dir);
    free(path);
    free(g->text);
    free(g);
}

/* The same shape without the problems loads, from a file, and what it
 * holds can be found: long names, every profile, patterns that repeat. */
static void large_policy_loads(void **state) {
    (void)state;
    gen g;
    memset(&g, 0, sizeof g);
    g.line = 1;
    put(&g, "version: \"1.0\"\nroles:\n  base:\n    actions: [list, "
            "\"read:*\"]\nprofiles:\n");
    for (int i = 0; i < NPROFILES; i++) {
        char name[160];
        profile_name(name, sizeof name, i);
        put(&g,
            "  %s:\n    role: base\n    allow: [\"tool-%d:*\", list, "
            "\"report:%d\", list]\n    scopes: [\"t-%d:*\"]\n",
            name, i, i, i);
    }
    char *dir = tu_tmpdir();
    char *path = malloc(strlen(dir) + 16);
    assert_non_null(path);
    sprintf(path, "%s/ok.yaml", dir);
    assert_int_equal(tu_write_file(path, g.text), 0);
    aa_error *err = aa_error_new();
    aa_policy *p = NULL;
    assert_int_equal(aa_policy_load_file(path, NULL, &p, err), AA_OK);
    assert_int_equal(aa_policy_profile_count(p), NPROFILES);
    for (int i = 0; i < NPROFILES; i += 7) {
        char name[160];
        profile_name(name, sizeof name, i);
        assert_true(aa_policy_has_profile(p, name));
    }
    aa_policy_free(p);
    aa_error_free(err);
    tu_rmdir(dir);
    free(dir);
    free(path);
    free(g.text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(large_policy_messages),
        cmocka_unit_test(large_policy_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
