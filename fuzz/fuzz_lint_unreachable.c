/*
 * fuzz_lint_unreachable.c - a property test of lint's `allow-unreachable`:
 * whatever it reports must be truly unreachable.
 *
 * Each input builds a small random policy (two roles, the second maybe
 * extending the first; up to three profiles, each with a role or none and
 * a few allow and deny patterns made of tokens that overlap: "a", "b",
 * ":", "*", "?", "[ab]", "[!a]"...), one pattern per line so that a
 * finding's line names its pattern. The policy is linted; for every
 * `allow-unreachable` finding, every string of up to 4 characters over
 * "ab:c" and a few strings taken from the input itself that the pattern
 * matches is decided by the real engine for the profile (or, for a role
 * action, for every profile whose role chain holds the role): each must
 * be denied. A finding about a pattern that the generator did not write
 * on that line, or on a line that holds none, is a failure too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pattern.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const tokens[] = {"a",    "b", ":",  "*",  "?",  "[ab]",
                                     "[!a]", "c", "a:", "b*", "*a", "[a-b]"};
#define NTOK (sizeof tokens / sizeof tokens[0])

#define MAXLINES 256

typedef struct line_info {
    int kind; /* 0 none, 1 role action, 2 profile allow */
    int owner;
    char pat[64];
} line_info;

typedef struct gen {
    const uint8_t *d;
    size_t n, i;
    char yaml[8192];
    size_t len;
    int line; /* the line being written, from 1 */
    line_info lines[MAXLINES];
} gen;

static unsigned byte(gen *g) {
    return g->i < g->n ? g->d[g->i++] : 0;
}

static void put(gen *g, const char *s) {
    size_t n = strlen(s);
    if (g->len + n + 1 >= sizeof g->yaml)
        return;
    memcpy(g->yaml + g->len, s, n);
    g->len += n;
    g->yaml[g->len] = 0;
    for (size_t k = 0; k < n; k++)
        g->line += s[k] == '\n';
}

static void pattern(gen *g, char *out, size_t cap) {
    size_t ntok = 1 + byte(g) % 4;
    out[0] = 0;
    for (size_t k = 0; k < ntok; k++) {
        const char *t = tokens[byte(g) % NTOK];
        if (strlen(out) + strlen(t) + 1 < cap)
            strcat(out, t);
    }
}

/* Writes `      - "pat"` and records the line. */
static void item(gen *g, int kind, int owner) {
    char pat[64], buf[96];
    pattern(g, pat, sizeof pat);
    if (g->line < MAXLINES) {
        g->lines[g->line].kind = kind;
        g->lines[g->line].owner = owner;
        snprintf(g->lines[g->line].pat, sizeof g->lines[g->line].pat, "%s",
                 pat);
    }
    snprintf(buf, sizeof buf, "      - \"%s\"\n", pat);
    put(g, buf);
}

static const char alphabet[] = "ab:c";

/* Every profile that must deny s (for a finding on info): 1 when one of
 * them allows it. */
static int violates(aa_engine *e, aa_decision *d, const line_info *info,
                    const int *prole, int nprof, bool r1_extends,
                    const char *s) {
    if (!aa__glob_match(info->pat, strlen(info->pat), s, strlen(s)))
        return 0;
    for (int p = 0; p < nprof; p++) {
        bool uses;
        if (info->kind == 2)
            uses = p == info->owner;
        else
            uses = prole[p] == info->owner ||
                   (info->owner == 0 && prole[p] == 1 && r1_extends);
        if (!uses)
            continue;
        char agent[8];
        snprintf(agent, sizeof agent, "p%d", p);
        aa_request req = {.agent = agent, .user = "u", .action = s};
        if (aa_authorize(e, &req, d) == AA_OK && aa_decision_allowed(d)) {
            fprintf(stderr,
                    "lint said '%s' (line kind %d, owner %d) is "
                    "unreachable, but %s may do '%s'\n",
                    info->pat, info->kind, info->owner, agent, s);
            return 1;
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gen *g = calloc(1, sizeof *g);
    if (!g)
        return 0;
    g->d = data;
    g->n = size;
    g->line = 1;
    bool r1_extends = byte(g) & 1;
    put(g, "version: \"1.0\"\naudit: {enabled: false}\nroles:\n");
    for (int r = 0; r < 2; r++) {
        char buf[64];
        snprintf(buf, sizeof buf, "  r%d:\n", r);
        put(g, buf);
        if (r == 1 && r1_extends)
            put(g, "    extends: r0\n");
        put(g, "    actions:\n");
        int n = 1 + (int)(byte(g) % 3);
        for (int k = 0; k < n; k++)
            item(g, 1, r);
    }
    put(g, "profiles:\n");
    int nprof = 1 + (int)(byte(g) % 3);
    int prole[3];
    for (int p = 0; p < nprof; p++) {
        char buf[64];
        snprintf(buf, sizeof buf, "  p%d:\n    description: d\n", p);
        put(g, buf);
        prole[p] = (int)(byte(g) % 3) - 1; /* -1: no role */
        if (prole[p] >= 0) {
            snprintf(buf, sizeof buf, "    role: r%d\n", prole[p]);
            put(g, buf);
        }
        int na = (int)(byte(g) % 4), nd = (int)(byte(g) % 4);
        if (na) {
            put(g, "    allow:\n");
            for (int k = 0; k < na; k++)
                item(g, 2, p);
        }
        if (nd) {
            put(g, "    deny:\n");
            for (int k = 0; k < nd; k++)
                item(g, 0, p);
        }
    }
    /* The rest of the input: extra strings to try. */
    char extra[8][16];
    int nextra = 0;
    while (g->i < g->n && nextra < 8) {
        size_t len = byte(g) % 12, k;
        for (k = 0; k < len && g->i < g->n; k++)
            extra[nextra][k] = alphabet[byte(g) % 4];
        extra[nextra][k] = 0;
        if (k)
            nextra++;
    }

    aa_lint_report *rep = NULL;
    aa_policy *pol = NULL;
    aa_engine *eng = NULL;
    aa_decision *dec = aa_decision_new();
    aa_error *err = aa_error_new();
    aa_engine_options eo;
    aa_engine_options_init(&eo);
    eo.audit_mode = AA_AUDIT_OFF;
    if (aa_lint_buffer(g->yaml, g->len, "fuzz.yaml", NULL, &rep, err) !=
            AA_OK ||
        aa_policy_load_buffer(g->yaml, g->len, "fuzz.yaml", NULL, &pol, err) !=
            AA_OK ||
        aa_engine_new(pol, &eo, &eng, err) != AA_OK || !dec) {
        /* The generated policy is always valid: loading must work. */
        fprintf(stderr, "generated policy did not load:\n%s\n", g->yaml);
        abort();
    }
    int bad = 0;
    for (size_t f = 0; f < aa_lint_report_count(rep) && !bad; f++) {
        const aa_lint_finding *fi = aa_lint_report_get(rep, f);
        if (strcmp(fi->code, "allow-unreachable") != 0)
            continue;
        if (fi->line <= 0 || fi->line >= MAXLINES ||
            g->lines[fi->line].kind == 0) {
            fprintf(stderr,
                    "allow-unreachable on line %d, which holds no "
                    "allow pattern or role action\n",
                    fi->line);
            bad = 1;
            break;
        }
        const line_info *info = &g->lines[fi->line];
        char s[8];
        /* Every string of 1 to 4 characters over the alphabet. */
        for (int len = 1; len <= 4 && !bad; len++) {
            int total = 1;
            for (int k = 0; k < len; k++)
                total *= 4;
            for (int v = 0; v < total && !bad; v++) {
                int x = v;
                for (int k = 0; k < len; k++, x /= 4)
                    s[k] = alphabet[x % 4];
                s[len] = 0;
                bad = violates(eng, dec, info, prole, nprof, r1_extends, s);
            }
        }
        for (int k = 0; k < nextra && !bad; k++)
            bad = violates(eng, dec, info, prole, nprof, r1_extends, extra[k]);
    }
    if (bad) {
        fprintf(stderr, "policy:\n%s\n", g->yaml);
        abort();
    }
    aa_engine_free(eng);
    aa_policy_free(pol);
    aa_decision_free(dec);
    aa_lint_report_free(rep);
    aa_error_free(err);
    free(g);
    return 0;
}
