/* test_yaml_fast.c - the fast YAML reader builds the same tree as libyaml
 * (kinds, styles, positions, texts, messages) for every document it
 * accepts, accepts the policy files we ship, and refuses the rest. */
#include "testutil.h"
#include "yaml_doc.h"
#include "yaml_messages.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { EITHER = 0, ACCEPT, REFUSE };

/* Reads data with both readers; when the fast one accepts, its tree and
 * messages must be libyaml's. Returns whether it accepted. */
static bool both_readers(const char *what, const char *data, size_t len,
                         int expect) {
    aa__ydoc slow, fast, autod;
    aa_error *es = aa_error_new(), *ef = aa_error_new(), *ea = aa_error_new();
    int rs =
        aa__ydoc_parse_with(&slow, data, len, "t.yaml", es, AA__YR_LIBYAML);
    int rf = aa__ydoc_parse_with(&fast, data, len, "t.yaml", ef, AA__YR_FAST);
    int ra = aa__ydoc_parse_with(&autod, data, len, "t.yaml", ea, AA__YR_AUTO);
    static char ms[1 << 16], mf[1 << 16], ma[1 << 16];
    yaml_messages(es, ms, sizeof ms);
    yaml_messages(ef, mf, sizeof mf);
    yaml_messages(ea, ma, sizeof ma);
    char why[300] = "";
    bool accepted = rf != AA__YAML_REFUSED;
    if (accepted) {
        if (rf != AA_OK || rs != AA_OK)
            fail_msg("%s: fast %d, libyaml %d (%s)", what, rf, rs, ms);
        if (slow.nerrors != fast.nerrors || strcmp(ms, mf) != 0)
            fail_msg("%s: messages differ:\nlibyaml:\n%sfast:\n%s", what, ms,
                     mf);
        if (!aa__ytree_equal(slow.root, fast.root, why, sizeof why))
            fail_msg("%s: trees differ: %s", what, why);
    } else {
        assert_null(fast.root);
        assert_int_equal(aa_error_count(ef), 0);
    }
    /* The default reader always answers as libyaml does. */
    assert_int_equal(ra, rs);
    if (strcmp(ma, ms) != 0)
        fail_msg("%s: messages of the default reader differ:\n%s\n%s", what, ma,
                 ms);
    if (!aa__ytree_equal(slow.root, autod.root, why, sizeof why))
        fail_msg("%s: default tree differs: %s", what, why);
    if (expect == ACCEPT && !accepted)
        fail_msg("%s: the fast reader refused it", what);
    if (expect == REFUSE && accepted)
        fail_msg("%s: the fast reader accepted it", what);
    aa__ydoc_free(&slow);
    aa__ydoc_free(&fast);
    aa__ydoc_free(&autod);
    aa_error_free(es);
    aa_error_free(ef);
    aa_error_free(ea);
    return accepted;
}

static bool check_str(const char *text, int expect) {
    return both_readers(text, text, strlen(text), expect);
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Every .yaml/.yml file under dir; counts files and acceptances. */
static void walk(const char *dir, size_t *files, size_t *accepted, int expect) {
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("cannot open %s", dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            walk(path, files, accepted, expect);
            continue;
        }
        if (!ends_with(path, ".yaml") && !ends_with(path, ".yml"))
            continue;
        size_t len = 0;
        char *data = slurp(path, &len);
        assert_non_null(data);
        (*files)++;
        *accepted += both_readers(path, data, len, expect);
        free(data);
    }
    closedir(d);
}

static const char *src_dir(void) {
    const char *s = getenv("AA_SOURCE_DIR");
    return s ? s : ".";
}

static void test_test_data_files(void **state) {
    (void)state;
    char dir[4096];
    size_t files = 0, accepted = 0;
    snprintf(dir, sizeof dir, "%s/tests/data", src_dir());
    walk(dir, &files, &accepted, EITHER);
    printf("# tests/data: %zu YAML files, %zu read by the fast reader\n", files,
           accepted);
    assert_true(files > 50);
    assert_true(accepted > files / 2);
}

/* The policies we ship are all in the fast reader's subset. */
static void test_example_files(void **state) {
    (void)state;
    char dir[4096];
    size_t files = 0, accepted = 0;
    static const char *const policies[] = {"enterprise.yaml", "minimal.yaml"};
    for (size_t i = 0; i < 2; i++) {
        char path[4096];
        size_t len = 0;
        snprintf(path, sizeof path, "%s/examples/policies/%s", src_dir(),
                 policies[i]);
        char *data = slurp(path, &len);
        assert_non_null(data);
        both_readers(path, data, len, ACCEPT);
        free(data);
    }
    snprintf(dir, sizeof dir, "%s/examples", src_dir());
    walk(dir, &files, &accepted, EITHER);
    assert_true(files >= 3);
}

static void test_accepted_edge_cases(void **state) {
    (void)state;
    static const char *const cases[] = {
        "a: b\n",
        "a: b",              /* no newline at the end */
        "a: b\r\nc: d\r\n",  /* CRLF */
        "a: b   \nc: d  \n", /* trailing spaces */
        "---\na: 1\n",
        "--- # start\na: 1\n",
        "# c\n\n---\n\na: 1 # x\n# y\n",
        "a:\n",
        "a:\nb:\n",
        "a:   \nb: c\n",
        "a: # nothing\nb: c\n",
        "a:\n- x\n- y\nb: c\n", /* a sequence at its key's column */
        "a:\n  - x\n  - y\nb: c\n",
        "- - x\n  - y\n- z\n",
        "- - - x\n",
        "-\n- \n-   # c\n- x\n",
        "- a: 1\n  b: 2\n- c: 3\n",
        "- a:\n  - x\n  b: 2\n",
        "-\n  a: 1\n",
        "a:\n  b:\n    c: d\n  e: f\ng: h\n",
        "'a # b': \"c # d\"\n",
        "'a: b': \"c: d\"\n",
        "a: 'it''s'\n",
        "a: ''\nb: \"\"\n",
        ("a: \"\\x41\\u00e9\\U0001F600\\t\\n\\\\\\\"\\0\\a\\b\\v\\f\\r\\e\\ "
         "\\N\\_\\L\\P\"\n"),
        "a: \"\\u0000\"\n", /* a NUL: the builder's message */
        "a: b#c\n",
        "a: b #c\n",
        "url: http://x.y/z?q=1\n",
        "a:b: c\n",
        "tools: [fs:read, 'x', \"y\", -1, z]\n",
        "m: {a: 1, 'b': \"2\", c: d e}\n",
        "e: []\nf: {}\ng: [ ]\nh: [ a ,b ]\n",
        "- [a, b]\n- {c: d}\n",
        "a: 1\na: 2\n", /* a duplicate key */
        "<<: {a: 1}\nb: 2\n",
        "a: yes\nb: 010\nc: ~\nd: -.5\ne: 1:30\nf: -x\n",
        "k: caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\n",
        "\xC3\xA9: v\n  \n",
        "a: \"\xC3\xA9\\u00e9\"\nb: x\n",
        "plain scalar\n",
        "'quoted'\n",
        "[a]\n",
        "  a: 1\n  b: 2\n",
        "a:\n    - x\n    - y\n",
        "a: x]\n",
        "- x, y\n",
        "a: 'x' # c\n",
        "a:\r\n- x\r\n-\r\nb:\r\n",
        "a: 1\r\n\r\n# c\r\n",
        "-",
        "- ",
        "a:",
        "a: [b, c]",
        "- a: \"\xC3\xA9\" # \xC3\xA9\n  \xC3\xA9x: y\n",
        "a:\n  -\n  - b\n",
        "k: v\n---x: 1\n",
        "k: '#'\nl: \"#\"\nm: a #b\n",
        "'k''s': 1\n\"k\\\"s\": 2\n",
        "k: a'b\"c\n",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_str(cases[i], ACCEPT);
}

static void test_refused_edge_cases(void **state) {
    (void)state;
    static const char *const cases[] = {
        "",
        "---\n",
        "# only a comment\n",
        "a: &x 1\nb: *x\n",
        "a: !!str 1\n",
        "a: |\n  text\n",
        "a: >\n  text\n",
        "a: b\n  c\n", /* a plain scalar on two lines */
        "a: 'b\n  c'\n",
        "a: \"b\n  c\"\n",
        "a: 1\n---\nb: 2\n",
        "a: 1\n...\n",
        "%YAML 1.1\n---\na: 1\n",
        "? a\n: b\n",
        "[a]: b\n",
        "a:\tb\n",
        "a: b\t\n",
        ("\xEF\xBB\xBF"
         "a: 1\n"), /* a byte order mark */
        "a: b\rc: d\n",
        "a: \xC2\x85\n",
        "a: \xE2\x80\xA8\n",
        "a: \xFF\n",
        "a: \xC3\n",
        "a: \xED\xA0\x80\n", /* an encoded surrogate */
        "a: \"\\uD800\"\n",
        "a: \"\\q\"\n",
        "a: [b,\n  c]\n",
        "a: [[b]]\n",
        "a: [b,]\n",
        "a: {b: }\n",
        "a: {b:c}\n",
        "a: b: c\n",
        "a: - b\n",
        "a:\n  - x\n  b: c\n",
        "a: 1\n b: 2\n",
        "- a\n b\n",
        "a: \"x\"y\n",
        "a: \"x\"#y\n",
        "a : b\n",
        "a: @x\n",
        "a: `x\n",
        "a: %x\n",
        "a: -\n",
        "- a\r",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_str(cases[i], REFUSE);
    /* NUL bytes and a missing newline inside a construct. */
    both_readers("nul", "a: b\0c\n", 7, REFUSE);
    both_readers("nul key", "\0: b\n", 5, REFUSE);
}

/* Constructs at the edge of the subset that the fast reader reads: each
 * must give libyaml's tree, positions and messages. */
static void test_boundary_accepted(void **state) {
    (void)state;
    static const char *const cases[] = {
        "a: a :b\n",   /* " :" not followed by a blank: one scalar */
        "a: [a :b]\n", /* the same in a flow sequence */
        "a: [b:c, http://x]\n",
        "a:# c\n",   /* no blank after ':': a plain scalar */
        "a #b: c\n", /* a scalar, then a comment */
        "-: 1\n",    /* the key "-" */
        "--a: 1\n",
        "---: 1\n", /* not a document marker */
        "...: 1\n",
        "a: ---\n",
        "a: ...\n",
        "a:\n  ---\n", /* an indented "---" is a scalar */
        "- -\n",
        "- - \n",
        "- -1\n",
        "-  - a\n",
        "a:\n# c\n- x\n", /* a comment before a sequence at the key's
                             column */
        "a:\n- - x\n  - y\nb: 1\n",
        "a:\n-\n  x\n",
        "- a:\n   - b\n  c: d\n",
        "x:\n  a:\n  - b\n  c: 1\nd: 2\n",
        "a:\n  - x\n  -\nb: 1\n",
        "a: \"\\xE9\\xff\\u00E9\\uFFFF\\uFEFF\\U0010FFFF\\u2028\\u0085\"\n",
        "a: \"\\x00\"\n",   /* a NUL: the builder's message */
        "a: b\xC2\xA0#c\n", /* a no-break space is no blank */
        "a\xC2\xA0: b\n",
        "a:\n\xC2\xA0 b: 1\n",
        "<<: {a: 1, b: 2}\na: 3\n",
        "<<:\n- {a: 1}\n- {a: 2, b: 3}\n",
        "<<: [a, b]\n", /* the merge message */
        ("<<: {k: 0}\n<<: {k: 1}\n<<: {k: 2}\n<<: {k: 3}\n<<: {k: 4}\n"
         "<<: {k: 5}\n<<: {k: 6}\n<<: {k: 7}\n<<: {k: 8}\n"),
        "\"a\": 1\n'a': 2\na: 3\n", /* one key in three styles */
        "a: {\"b\": 1, b: 2}\n",
        "1: a\n01: b\n\"1\": c\n",
        "a: [\xC3\xA9, \xE2\x82\xAC:x]\nb: {\xC3\xA9: \xE2\x82\xAC}\n",
        "--- #\na: 1\n",
        "---   \na: 1\n",
        "a:\r\n  \r\n  b: 1\r\n",
        "-\r\n-\r\n",
        "a:\r\n",
        "{a: 1}\n",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_str(cases[i], ACCEPT);
}

/* Constructs at the edge of the subset that the fast reader leaves to
 * libyaml: libyaml's error, or a construct read only by libyaml. */
static void test_boundary_refused(void **state) {
    (void)state;
    static const char *const cases[] = {
        "a: [b]# c\n",
        "a: [b #c]\n",
        "a: [b#c]\n",
        "a: [b: c]\n",
        "a: [?b]\n",
        "a: {\"b\":c}\n",
        "a: [b, # c\n  d]\n",
        "a: \"\\/\"\n",
        "a: \"\\'\"\n",
        "a: \"\\U00110000\"\n",
        "a: \"x\"\"y\"\n",
        "---# x\na: 1\n",
        "--- a: 1\n",
        "--- [a]\n",
        "---\n---\na: 1\n",
        "a: 1\n... # x\n",
        "-# c\n",
        "&a b: c\n",
        "!a: b\n",
        "a: !x 1\n",
        "  ---\na: 1\n",
        "- a\n  b: 1\n",
        "a:\n- b\n c: 1\n",
        "a   :\n",
        "a: b # c\t\n",
        "a: \xC2\x9F\n", /* C1 control */
        "a: \x7F\n",
        "a: \x0B\n",
        "a: \xEF\xBF\xBE\n", /* U+FFFE */
        ("a: \xEF\xBB\xBF"
         "b\n"), /* a byte order mark inside */
        "\n\n",
        "   \n  \n",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_str(cases[i], REFUSE);
    both_readers("UTF-16",
                 "\xFF\xFE"
                 "a\0:\0 \0b\0\n\0",
                 12, REFUSE);
}

/* Long lines and deep nesting: equal, or refused at the depth limit. */
static void test_long_and_deep(void **state) {
    (void)state;
    size_t n = 200000;
    char *s = malloc(n + 16);
    assert_non_null(s);
    memcpy(s, "a: ", 3);
    memset(s + 3, 'x', n);
    memcpy(s + 3 + n, "\nb: 1\n", 7);
    both_readers("long value", s, strlen(s), ACCEPT);
    memset(s, 'k', 2000); /* a key longer than libyaml's simple keys */
    memcpy(s + 2000, ": v\n", 5);
    both_readers("long key", s, strlen(s), REFUSE);
    memcpy(s, "m: {", 4); /* the same in a flow mapping */
    memset(s + 4, 'k', 2000);
    memcpy(s + 2004, ": v}\n", 6);
    both_readers("long flow key", s, strlen(s), REFUSE);
    memcpy(s + 4 + 1000, ": v}\n", 6); /* 1,000 bytes: still a key */
    both_readers("flow key of 1000 bytes", s, strlen(s), ACCEPT);
    /* A long flow sequence on one line. */
    size_t k = 0;
    k += (size_t)sprintf(s + k, "a: [");
    for (int i = 0; i < 10000; i++)
        k += (size_t)sprintf(s + k, "%s\xC3\xA9%d", i ? ", " : "", i);
    sprintf(s + k, "]\n");
    both_readers("long flow", s, strlen(s), ACCEPT);
    free(s);
    /* 70 levels: beyond AA__YAML_MAX_DEPTH, libyaml's message. */
    char deep[8192];
    k = 0;
    for (int i = 0; i < 70; i++)
        k += (size_t)sprintf(deep + k, "%*sk%d:\n", i * 2, "", i);
    both_readers("deep", deep, k, REFUSE);
    k = 0;
    for (int i = 0; i < 60; i++)
        k += (size_t)sprintf(deep + k, "%*sk%d:\n", i, "", i);
    both_readers("60 deep", deep, k, ACCEPT);
    /* "- - - x" on one line: 63 sequences are read; 65 are over the
     * depth limit, libyaml's message. */
    k = 0;
    for (int i = 0; i < 63; i++)
        k += (size_t)sprintf(deep + k, "- ");
    k += (size_t)sprintf(deep + k, "x\n");
    both_readers("63 sequences on one line", deep, k, ACCEPT);
    memcpy(deep + k - 2, "- - x\n", 7);
    both_readers("65 sequences on one line", deep, k + 4, REFUSE);
    /* A key of 501 two-byte characters: over 1,000 bytes, refused. */
    k = 0;
    for (int i = 0; i < 501; i++)
        k += (size_t)sprintf(deep + k, "\xC3\xA9");
    k += (size_t)sprintf(deep + k, ": 1\n");
    both_readers("long key of two-byte characters", deep, k, REFUSE);
}

/* ---- random nested documents ------------------------------------------ */

typedef struct gen {
    char *buf;
    size_t n, cap;
    uint64_t state;
} gen;

static unsigned rnd(gen *g, unsigned n) {
    g->state = g->state * 6364136223846793005u + 1442695040888963407u;
    return (unsigned)((g->state >> 33) % n);
}

static void put(gen *g, const char *s) {
    size_t k = strlen(s);
    if (g->n + k + 1 > g->cap) {
        g->cap = (g->n + k + 1) * 2;
        g->buf = realloc(g->buf, g->cap);
        assert_non_null(g->buf);
    }
    memcpy(g->buf + g->n, s, k + 1);
    g->n += k;
}

static void indent(gen *g, int n) {
    for (int i = 0; i < n; i++)
        put(g, " ");
}

static const char *const gen_words[] = {
    "a",    "key",  "x y",         "tool:*",       "read:docs", "-1",
    "010",  "yes",  "~",           "null",         "1.5",       "http://x/y",
    "a#b",  "a:b",  "caf\xC3\xA9", "\xE2\x82\xAC", "x]",        "p*",
    "0x1F", "1:30", ".inf",        "<<",           "it's",      "a\\b"};

static void gen_scalar(gen *g, bool key) {
    const char *w = gen_words[rnd(g, sizeof gen_words / sizeof *gen_words)];
    switch (rnd(g, key ? 3 : 4)) {
    case 0:
        put(g, "'");
        for (const char *c = w; *c; c++)
            put(g, *c == '\'' ? "''" : (char[]){*c, 0});
        put(g, "'");
        break;
    case 1: {
        static const char *const esc[] = {
            "",     "\\n", "\\t", "\\x41", "\\u00e9", "\\U0001F600", "\\\"",
            "\\\\", "\\ ", "\\N", "\\_",   "\\e",     "#",           ": "};
        put(g, "\"");
        for (const char *c = w; *c; c++)
            put(g, *c == '\\' ? "\\\\" : (char[]){*c, 0});
        put(g, esc[rnd(g, sizeof esc / sizeof *esc)]);
        put(g, "\"");
        break;
    }
    case 3: /* a flow collection */
        if (rnd(g, 2)) {
            put(g, "[");
            for (unsigned i = 0, k = rnd(g, 4); i < k; i++) {
                put(g, i ? ", " : "");
                put(g, gen_words[rnd(g, 12)]);
            }
            put(g, "]");
        } else {
            put(g, "{");
            for (unsigned i = 0, k = rnd(g, 3); i < k; i++) {
                put(g, i ? ", " : "");
                put(g, gen_words[rnd(g, 4)]);
                put(g, ": ");
                put(g, gen_words[rnd(g, 12)]);
            }
            put(g, "}");
        }
        break;
    default:
        put(g, w);
        break;
    }
}

static void gen_block(gen *g, int ind, int depth, bool seq, bool inline_first);

/* After "key:" or "-": a value on the line, nothing, or a block below. */
static void gen_value(gen *g, int ind, int depth) {
    unsigned r = rnd(g, 20);
    if (depth > 4 || r < 9) {
        put(g, " ");
        gen_scalar(g, false);
        put(g, (const char *[]){"", "", " # c", "  "}[rnd(g, 4)]);
        put(g, "\n");
    } else if (r < 11) {
        put(g, (const char *[]){"", "  ", " # c"}[rnd(g, 3)]);
        put(g, "\n");
    } else {
        put(g, "\n");
        bool seq = rnd(g, 2);
        gen_block(g, ind + (int)rnd(g, 4) + (seq ? 0 : 1), depth + 1, seq,
                  false);
    }
}

static void gen_block(gen *g, int ind, int depth, bool seq, bool inline_first) {
    for (unsigned i = 0, k = 1 + rnd(g, 4); i < k; i++) {
        if (!(inline_first && i == 0))
            indent(g, ind);
        if (rnd(g, 12) == 0)
            put(g, "# comment\n"), indent(g, ind);
        if (!seq) {
            gen_scalar(g, true);
            put(g, ":");
            gen_value(g, ind, depth);
            continue;
        }
        unsigned r = rnd(g, 4);
        if (r < 2 || depth > 4) {
            put(g, "-");
            gen_value(g, ind, depth);
        } else { /* "- key: v" or "- - x" */
            put(g, "- ");
            gen_block(g, ind + 2, depth + 1, r == 3, true);
        }
    }
}

/* Thousands of nested documents, a few damaged by one character: both
 * readers agree on every one the fast reader accepts. */
static void test_random_documents(void **state) {
    (void)state;
    gen g = {.state = 20261206};
    size_t accepted = 0, total = 20000;
    for (size_t i = 0; i < total; i++) {
        g.n = 0;
        put(&g, (const char *[]){"", "---\n", "# c\n"}[rnd(&g, 3)]);
        gen_block(&g, 0, 0, rnd(&g, 3) == 0, false);
        if (rnd(&g, 10) == 0) { /* one character inserted or changed */
            size_t at = rnd(&g, (unsigned)g.n + 1);
            char c = " \n-:#\t\"'[{"[rnd(&g, 10)];
            put(&g, " ");
            memmove(g.buf + at + 1, g.buf + at, g.n - at - 1);
            g.buf[at] = c;
        }
        if (rnd(&g, 10) == 0 && g.n) /* no newline at the end */
            g.buf[--g.n] = 0;
        accepted += both_readers("random document", g.buf, g.n, EITHER);
    }
    printf("# %zu of %zu random documents read by the fast reader\n", accepted,
           total);
    assert_true(accepted > total / 4);
    free(g.buf);
}

/* AA_YAML_READER=libyaml forces libyaml; the result is the same. */
static void test_env_forces_libyaml(void **state) {
    (void)state;
    const char *text = "a: [b, c]\nd: 1\n";
    aa__ydoc d1, d2;
    setenv("AA_YAML_READER", "libyaml", 1);
    assert_int_equal(aa__ydoc_parse(&d1, text, strlen(text), "t", NULL), 0);
    unsetenv("AA_YAML_READER");
    assert_int_equal(aa__ydoc_parse(&d2, text, strlen(text), "t", NULL), 0);
    char why[300];
    assert_true(aa__ytree_equal(d1.root, d2.root, why, sizeof why));
    aa__ydoc_free(&d1);
    aa__ydoc_free(&d2);
}

/* A node is 32 bytes on a 64-bit machine: a scalar's text and a
 * collection's children share one pointer, and a scalar has no children
 * (n == 0) and a collection no text length (len == 0), from either reader. */
static void check_layout(const aa__ynode *root) {
    assert_int_equal(root->kind, AA__Y_MAP);
    assert_int_equal(root->len, 0);
    assert_int_equal(root->n, 2);
    const aa__ynode *a = root->u.pairs[0].key, *seq = root->u.pairs[0].value;
    assert_int_equal(a->kind, AA__Y_SCALAR);
    assert_string_equal(a->text, "a");
    assert_int_equal(a->len, 1);
    assert_int_equal(a->n, 0);
    assert_int_equal(seq->kind, AA__Y_SEQ);
    assert_int_equal(seq->len, 0);
    assert_int_equal(seq->n, 2);
    assert_string_equal(seq->u.items[0]->text, "bb");
    assert_int_equal(seq->u.items[0]->len, 2);
    assert_int_equal(seq->u.items[0]->n, 0);
    const aa__ynode *m = seq->u.items[1];
    assert_int_equal(m->kind, AA__Y_MAP);
    assert_int_equal(m->len, 0);
    assert_int_equal(m->n, 1);
    assert_string_equal(m->u.pairs[0].key->text, "c");
    assert_string_equal(m->u.pairs[0].value->text, "d");
    const aa__ynode *e = root->u.pairs[1].value;
    assert_int_equal(e->kind, AA__Y_SCALAR);
    assert_int_equal(e->len, 0);
    assert_int_equal(e->n, 0);
    assert_string_equal(e->text, "");
}

static void test_node_layout(void **state) {
    (void)state;
    if (sizeof(void *) == 8)
        assert_int_equal(sizeof(aa__ynode), 32);
    const char *text = "a:\n  - bb\n  - c: d\ne: ''\n";
    aa__yreader readers[] = {AA__YR_FAST, AA__YR_LIBYAML};
    for (size_t r = 0; r < 2; r++) {
        aa__ydoc doc;
        aa_error *err = aa_error_new();
        assert_int_equal(
            aa__ydoc_parse_with(&doc, text, strlen(text), "t", err, readers[r]),
            AA_OK);
        check_layout(doc.root);
        aa__ydoc_free(&doc);
        aa_error_free(err);
    }
}

/* In a big document, short texts that repeat (mapping keys, role names)
 * are stored once; every text still reads as written, from either reader,
 * and long texts are each their own. */
static void test_short_texts_shared(void **state) {
    (void)state;
    size_t cap = 64 * 1024, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    len += (size_t)snprintf(buf + len, cap - len, "profiles:\n");
    for (int i = 0; i < 600; i++)
        len += (size_t)snprintf(
            buf + len, cap - len,
            "  bot-%d:\n    role: engineer\n    description: the same "
            "description, longer than the shared ones\n",
            i);
    assert_true(len > 16384 && len < cap);
    aa__yreader readers[] = {AA__YR_FAST, AA__YR_LIBYAML};
    aa__ydoc docs[2];
    for (size_t r = 0; r < 2; r++) {
        assert_int_equal(
            aa__ydoc_parse_with(&docs[r], buf, len, "t", NULL, readers[r]),
            AA_OK);
        const aa__ynode *profiles = docs[r].root->u.pairs[0].value;
        assert_int_equal(profiles->n, 600);
        size_t role_keys = 0, role_values = 0, descriptions = 0;
        const char *last_key = NULL, *last_value = NULL, *last_desc = NULL;
        for (uint32_t i = 0; i < profiles->n; i++) {
            const aa__ynode *p = profiles->u.pairs[i].value;
            char name[32];
            snprintf(name, sizeof name, "bot-%u", i);
            assert_string_equal(profiles->u.pairs[i].key->text, name);
            assert_int_equal(p->n, 2);
            const aa__ynode *k = p->u.pairs[0].key, *v = p->u.pairs[0].value;
            const aa__ynode *d = p->u.pairs[1].value;
            assert_string_equal(k->text, "role");
            assert_string_equal(v->text, "engineer");
            assert_string_equal(p->u.pairs[1].key->text, "description");
            assert_string_equal(d->text, "the same description, longer than "
                                         "the shared ones");
            role_keys += k->text != last_key;
            role_values += v->text != last_value;
            descriptions += d->text != last_desc;
            last_key = k->text;
            last_value = v->text;
            last_desc = d->text;
        }
        /* a name may take the slot of `role` or `engineer` now and then */
        assert_true(role_keys <= 4);
        assert_true(role_values <= 4);
        assert_int_equal(descriptions, 600);
    }
    char why[300];
    assert_true(aa__ytree_equal(docs[0].root, docs[1].root, why, sizeof why));
    aa__ydoc_free(&docs[0]);
    aa__ydoc_free(&docs[1]);
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted_edge_cases),
        cmocka_unit_test(test_refused_edge_cases),
        cmocka_unit_test(test_boundary_accepted),
        cmocka_unit_test(test_boundary_refused),
        cmocka_unit_test(test_long_and_deep),
        cmocka_unit_test(test_random_documents),
        cmocka_unit_test(test_test_data_files),
        cmocka_unit_test(test_example_files),
        cmocka_unit_test(test_env_forces_libyaml),
        cmocka_unit_test(test_node_layout),
        cmocka_unit_test(test_short_texts_shared),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
