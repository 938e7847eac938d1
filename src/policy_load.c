/*
 * policy_load.c - reads agent_auth.yaml, checks it, and compiles it into the
 * immutable struct aa_policy (contract sections 2-4).
 *
 * Three steps:
 *   1. yaml_doc.c builds a tree that remembers where everything was written
 *      (with bounded depth and alias expansion, duplicate keys reported);
 *   2. the schema walk below checks the shape of every section (types,
 *      unknown keys, required names, references, ranges), interpolates
 *      ${NAME} in string values (after their type was checked, so that no
 *      environment value appears in a structural error) and compiles every
 *      condition;
 *   3. when nothing was wrong, the pattern sets are built.
 * Every problem is reported with file:line:col and loading goes on, so that
 * one run shows them all; any error refuses the file.
 */
#include "policy.h"
#include "sha256.h"
#include "state_url.h"
#include "yaml_doc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define AA__POLICY_MAX_BYTES ((size_t)16 * 1024 * 1024)
/* Bounds on what a policy may expand to: the depth of an `extends` chain,
 * and the patterns of all effective lists together (each profile's list
 * holds its role chain's actions: stored once per role, but explanations,
 * lint and diff go through every profile's whole list). */
#define AA__MAX_ROLE_DEPTH 100
#define AA__MAX_EFFECTIVE  4000000
/* "Did you mean" compares a name with at most this many candidates in
 * all (a file full of typos must not make loading slow). */
#define AA__SUGGEST_BUDGET 50000

/* Contract section 2 defaults. */
#define DEF_SESSION_DURATION    3600
#define DEF_SESSION_MAX         86400
#define DEF_CLEANUP_INTERVAL    300
#define DEF_DELEGATION_DURATION 3600
#define DEF_DELEGATION_MAX      86400
#define DEF_RULE_MAX            86400
#define DEF_PROFILE_SESSION     3600
#define DEF_RETENTION_DAYS      90
#define DEF_AUDIT_PATH          ".agent_auth/audit.jsonl"

/* A profile as the schema walk reads it. The policy's aa__profile array
 * is made from these once the tree is freed (make_profiles), so that its
 * compiled part (pattern sets, some 250 bytes a profile) never adds to the
 * memory the tree holds. */
typedef struct parsed_profile {
    const char *name;
    const char *description;
    const char *role_name;
    int role;
    aa_tier default_tier;
    aa__strlist allow;
    aa__strlist deny;
    aa__strlist scopes;
    int64_t max_session_duration;
    bool require_scope;
    aa__pos pos;
} parsed_profile;

typedef struct loader {
    const char *file;
    aa_error *err;
    bool strict;
    aa_getenv_fn getenv_fn;
    void *getenv_ud;
    aa_policy *p;
    size_t nerrors;
    size_t suggest_budget; /* candidate comparisons left */
    bool oom;
    parsed_profile *profiles; /* malloc'd, until make_profiles */
    size_t nprofiles;
    /* Per-role nodes, for messages about `extends`. */
    const aa__ynode **extends_node;
    /* The source, to place condition errors (line starts made on demand). */
    const char *data;
    size_t len;
    /* A regular file's source is freed once parsed: the file is read
     * again, and used when it still has the same SHA-256, the first time a
     * condition error needs its lines. */
    const char *reread_path; /* NULL: no reading again */
    size_t file_len;         /* bytes the policy was loaded from */
    char *reread;            /* what was read again (malloc'd), or NULL */
    const aa__ynode *root;
    size_t *lines;
    size_t nlines;
} loader;

/* ---- messages ------------------------------------------------------------ */

static void lerr(loader *L, const aa__ynode *at, const char *fmt, ...)
    AA__PRINTF(3, 4);
static void lwarn(loader *L, const aa__ynode *at, const char *fmt, ...)
    AA__PRINTF(3, 4);

static void lerr(loader *L, const aa__ynode *at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    aa__error_vadd(L->err, AA_SEVERITY_ERROR, AA_EPOLICY, L->file,
                   at ? at->line : 0, at ? at->col : 0, fmt, ap);
    va_end(ap);
    L->nerrors++;
}

/* A warning, or an error in strict mode. */
static void lwarn(loader *L, const aa__ynode *at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    aa__error_vadd(L->err, L->strict ? AA_SEVERITY_ERROR : AA_SEVERITY_WARNING,
                   AA_EPOLICY, L->file, at ? at->line : 0, at ? at->col : 0,
                   fmt, ap);
    va_end(ap);
    if (L->strict)
        L->nerrors++;
}

static void *lalloc(loader *L, size_t size) {
    void *p = aa__arena_alloc(&L->p->arena, size ? size : 1);
    if (!p)
        L->oom = true;
    return p;
}

/* The text of a scalar, kept as it is: the tree's strings were moved into
 * the policy's arena (aa__arena_adopt in load_doc), so nothing is copied. */
static const char *text_of(const aa__ynode *n) {
    return n->text;
}

static const char *lstrndup(loader *L, const char *s, size_t n) {
    char *p = aa__arena_strndup(&L->p->arena, s, n);
    if (!p)
        L->oom = true;
    return p ? p : "";
}

/* How a node looks, for type errors: "a list", "the string \"1h\"". Uses
 * the text as written (never an interpolated value). */
static const char *describe_node(const aa__ynode *n, char *buf, size_t sz) {
    if (n->kind == AA__Y_SEQ)
        return "a list";
    if (n->kind == AA__Y_MAP)
        return "a mapping";
    aa__yscalar v;
    aa__yscalar_resolve(n, &v);
    const char *dots = n->len > 40 ? "..." : "";
    switch (v.type) {
    case AA__YV_NULL:
        return "null";
    case AA__YV_BOOL:
        snprintf(buf, sz, "the boolean %s", n->text);
        break;
    case AA__YV_INT:
    case AA__YV_FLOAT:
        snprintf(buf, sz, "the number %.40s%s", n->text, dots);
        break;
    default:
        snprintf(buf, sz, "the string \"%.40s%s\"", n->text, dots);
        break;
    }
    return buf;
}

/* "profile 'x': 'allow' must be a list, not a mapping" */
static void type_error(loader *L, const aa__ynode *n, const char *what,
                       const char *key, const char *expected) {
    char d[96];
    const char *desc = describe_node(n, d, sizeof d);
    if (what && key)
        lerr(L, n, "%s: '%s' must be %s, not %s", what, key, expected, desc);
    else if (key)
        lerr(L, n, "'%s' must be %s, not %s", key, expected, desc);
    else
        lerr(L, n, "%s must be %s, not %s", what, expected, desc);
}

/* ---- "did you mean" ------------------------------------------------------ */

static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* True when every '_'-separated word of a is a word of b. */
static bool words_within(const char *a, const char *b) {
    const char *w = a;
    while (*w) {
        size_t n = strcspn(w, "_");
        bool found = false;
        for (const char *v = b; *v;) {
            size_t m = strcspn(v, "_");
            if (m == n && n > 0 && memcmp(v, w, n) == 0)
                found = true;
            v += m;
            if (*v)
                v++;
        }
        if (!found || n == 0)
            return false;
        w += n;
        if (*w)
            w++;
    }
    return true;
}

/* The candidate a typo most likely meant, or NULL. */
static const char *suggest(const char *key, const char *const *cands,
                           size_t n) {
    const char *best = NULL;
    size_t bestd = SIZE_MAX, klen = strlen(key);
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(key, cands[i]);
        size_t allowed = klen >= 6 ? 2 + klen / 6 : (klen >= 3 ? 1 : 0);
        if (d <= allowed && d < bestd) {
            best = cands[i];
            bestd = d;
        }
    }
    if (best)
        return best;
    /* A long common start: deny_list -> deny, approvals -> approval_... */
    size_t bestp = 0;
    for (size_t i = 0; i < n; i++) {
        size_t cl = strlen(cands[i]), m = cl < klen ? cl : klen, c = 0;
        while (c < m && key[c] == cands[i][c])
            c++;
        if (c >= 4 && c * 3 >= m * 2 && c > bestp) {
            best = cands[i];
            bestp = c;
        }
    }
    if (best)
        return best;
    for (size_t i = 0; i < n; i++) /* max_duration -> max_session_duration */
        if (words_within(key, cands[i]) || words_within(cands[i], key))
            return cands[i];
    return NULL;
}

/* "in profile 'name'": pre, kind, then the name cut at 100 bytes in
 * quotes, as "%s%s '%.100s'" prints it; made for every role and profile,
 * so without printf. */
static const char *name_what(char *buf, size_t size, const char *pre,
                             const char *kind, const char *name) {
    size_t np = strlen(pre), nk = strlen(kind), nn = strnlen(name, 100);
    if (np + nk + nn + 4 > size) { /* not for the sizes used here */
        snprintf(buf, size, "%s%s '%.100s'", pre, kind, name);
        return buf;
    }
    char *o = buf;
    memcpy(o, pre, np);
    o += np;
    memcpy(o, kind, nk);
    o += nk;
    *o++ = ' ';
    *o++ = '\'';
    memcpy(o, name, nn);
    o += nn;
    *o++ = '\'';
    *o = 0;
    return buf;
}

static size_t count_strs(const char *const *list) {
    size_t n = 0;
    while (list[n])
        n++;
    return n;
}

/* Warns about every key of `map` that is not in `known`. */
static void check_keys(loader *L, const aa__ynode *map,
                       const char *const *known, const char *where) {
    size_t nk = count_strs(known);
    for (size_t i = 0; i < map->n; i++) {
        const aa__ynode *k = map->u.pairs[i].key;
        bool ok = false;
        for (size_t j = 0; j < nk && !ok; j++)
            ok = strcmp(k->text, known[j]) == 0;
        if (ok)
            continue;
        const char *s = NULL;
        if (L->suggest_budget >= nk) {
            L->suggest_budget -= nk;
            s = suggest(k->text, known, nk);
        }
        if (s)
            lwarn(L, k, "unknown key '%.100s' %s (did you mean '%s'?)", k->text,
                  where, s);
        else
            lwarn(L, k, "unknown key '%.100s' %s", k->text, where);
    }
}

/* Unknown top-level keys: one within edit distance 2 of a known key is a
 * misspelling (`approval_polices:`), an error, since the section it meant
 * would be silently missing; any other is a warning. */
static void check_top_keys(loader *L, const aa__ynode *root,
                           const char *const *known) {
    size_t nk = count_strs(known);
    for (size_t i = 0; i < root->n; i++) {
        const aa__ynode *k = root->u.pairs[i].key;
        const char *close = NULL;
        size_t best = 3;
        bool ok = false;
        for (size_t j = 0; j < nk && !ok; j++)
            ok = strcmp(k->text, known[j]) == 0;
        if (ok)
            continue;
        for (size_t j = 0; j < nk; j++) {
            size_t d = edit_distance(k->text, known[j]);
            if (d < best)
                best = d, close = known[j];
        }
        if (close) {
            lerr(L, k, "unknown top-level key '%.100s' (did you mean '%s'?)",
                 k->text, close);
            continue;
        }
        const char *s = suggest(k->text, known, nk);
        if (s)
            lwarn(L, k,
                  "unknown key '%.100s' at the top level (did you mean "
                  "'%s'?)",
                  k->text, s);
        else
            lwarn(L, k, "unknown key '%.100s' at the top level", k->text);
    }
}

/* ---- environment interpolation ------------------------------------------ */

static bool name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
}

/* The string value of a scalar with ${NAME} replaced, in the arena. */
static const char *interp(loader *L, const aa__ynode *n) {
    const char *s = n->text;
    const char *d = memchr(s, '$', n->len); /* most strings have none */
    if (!d || !strstr(d, "${"))
        return text_of(n);
    aa__buf b;
    aa__buf_init(&b);
    size_t i = 0, len = strlen(s);
    while (i < len) {
        if (s[i] == '$' && s[i + 1] == '{') {
            size_t j = i + 2;
            while (j < len && name_char(s[j]))
                j++;
            if (j > i + 2 && j < len && s[j] == '}' && j - i - 2 < 256) {
                char name[256];
                memcpy(name, s + i + 2, j - i - 2);
                name[j - i - 2] = 0;
                const char *v = L->getenv_fn ? L->getenv_fn(L->getenv_ud, name)
                                             : getenv(name);
                size_t bad = v ? aa__utf8_check(v, strlen(v)) : 0;
                if (v && v[bad]) { /* patterns, names: all text is UTF-8 */
                    lerr(L, n,
                         "the value of ${%s} is not valid UTF-8 (byte %zu)",
                         name, bad + 1);
                    v = "";
                }
                if (v) {
                    aa__buf_puts(&b, v);
                    i = j + 1;
                    continue;
                }
            }
        }
        aa__buf_putc(&b, s[i]);
        i++;
    }
    const char *out =
        b.oom ? (L->oom = true, "") : lstrndup(L, b.data ? b.data : "", b.len);
    aa__buf_free(&b);
    return out;
}

/* ---- what every scalar means -------------------------------------------- */

/* Walks the tree once: an explicit null where a value belongs is an error
 * (a null is never read as "absent": `condition:` would be always true,
 * `from_agent: ~` would widen to `*`); a plain scalar that YAML 1.2 reads
 * otherwise than YAML 1.1 (`yes`, `010`, `1_000`, `1e3`...) is a warning,
 * so that the policy never means something else to another tool. Values of
 * `variables` may be null (null is a value there). Nodes shared through
 * aliases are visited once. */
/* Collections visited, and scalars reported, by address (the map borrows
 * its keys: each address is copied into the arena). */
typedef struct visited {
    aa__map map;
    aa__arena arena;
    bool shared; /* the document has aliases; else every node is seen once */
} visited;

/* True the first time n is seen. */
static bool first_visit(loader *L, visited *seen, const aa__ynode *n) {
    if (!seen->shared)
        return true;
    if (aa__map_get(&seen->map, (const char *)&n, sizeof n))
        return false;
    const aa__ynode **key = aa__arena_alloc(&seen->arena, sizeof *key);
    if (key)
        *key = n;
    if (!key ||
        !aa__map_put(&seen->map, (const char *)key, sizeof *key, (void *)n)) {
        L->oom = true;
        return false;
    }
    return true;
}

static void check_scalar(loader *L, const aa__ynode *n, visited *seen) {
    aa__yscalar v11, v12;
    if (!aa__yscalar_differs_12(n, &v11, &v12) || !first_visit(L, seen, n))
        return; /* an alias to a reported scalar is not reported again */
    char a[96], b[96];
    if (v11.type == AA__YV_BAD) {
        lerr(L, n,
             "'%.40s' looks like a number but cannot be read as one; "
             "quote it for a string",
             n->text);
        return;
    }
    aa__yscalar_describe(n, &v11, a, sizeof a);
    aa__yscalar_describe(n, &v12, b, sizeof b);
    lwarn(L, n,
          "'%.40s' is %s here (YAML 1.1, as PyYAML reads it) but %s under "
          "YAML 1.2; quote it or write it so that both agree",
          n->text, a, b);
}

static void check_nodes(loader *L, const aa__ynode *n, bool nulls_ok,
                        visited *seen) {
    if (n->kind == AA__Y_SCALAR) {
        if (!n->str) /* a string under both YAML versions, never null */
            check_scalar(L, n, seen);
        return;
    }
    if (!first_visit(L, seen, n))
        return;
    if (n->kind == AA__Y_SEQ) {
        for (size_t i = 0; i < n->n; i++)
            check_nodes(L, n->u.items[i], nulls_ok, seen);
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        const aa__ynode *k = n->u.pairs[i].key, *v = n->u.pairs[i].value;
        aa__yscalar s;
        if (!k->str)
            check_scalar(L, k, seen);
        if (k->kind == AA__Y_SCALAR && !k->str &&
            (aa__yscalar_resolve(k, &s), s.type == AA__YV_NULL))
            lwarn(L, k,
                  "the key '%.40s' is null under YAML 1.1 and 1.2 (PyYAML "
                  "reads it as None, not as the name '%.40s'); quote it for "
                  "a name",
                  k->text, k->text);
        if (v->kind == AA__Y_SCALAR && !v->str && !nulls_ok &&
            (aa__yscalar_resolve(v, &s), s.type == AA__YV_NULL)) {
            lerr(L, k,
                 "'%.100s' has no value (null): remove the key for its "
                 "default, or write [] / \"\" / {}",
                 k->text);
            continue;
        }
        bool vars = n == L->root && strcmp(k->text, "variables") == 0;
        check_nodes(L, v, nulls_ok || vars, seen);
    }
}

/* ---- typed fields -------------------------------------------------------- */

static bool is_null(const aa__ynode *n) {
    if (n->kind != AA__Y_SCALAR || n->str)
        return false;
    aa__yscalar v;
    aa__yscalar_resolve(n, &v);
    return v.type == AA__YV_NULL;
}

/* The value of `key`, or NULL when absent or null (both mean "default"). */
static const aa__ynode *field(const aa__ynode *map, const char *key) {
    const aa__ypair *p = aa__ymap_find(map, key);
    return p && !is_null(p->value) ? p->value : NULL;
}

static const aa__ynode *get_map(loader *L, const aa__ynode *map,
                                const char *key, const char *what) {
    const aa__ynode *v = field(map, key);
    if (v && v->kind != AA__Y_MAP) {
        type_error(L, v, what, key, "a mapping");
        return NULL;
    }
    return v;
}

static const aa__ynode *get_seq(loader *L, const aa__ynode *map,
                                const char *key, const char *what) {
    const aa__ynode *v = field(map, key);
    if (v && v->kind != AA__Y_SEQ) {
        type_error(L, v, what, key, "a list");
        return NULL;
    }
    return v;
}

/* A string field: any non-null scalar, as text, interpolated. */
static const aa__ynode *get_str(loader *L, const aa__ynode *map,
                                const char *key, const char *what,
                                const char **out) {
    const aa__ynode *v = field(map, key);
    if (!v)
        return NULL;
    if (v->kind != AA__Y_SCALAR) {
        type_error(L, v, what, key, "a string");
        return NULL;
    }
    *out = interp(L, v);
    return v;
}

static const aa__ynode *get_int(loader *L, const aa__ynode *map,
                                const char *key, const char *what,
                                int64_t *out) {
    const aa__ynode *v = field(map, key);
    if (!v)
        return NULL;
    aa__yscalar s = {0};
    if (v->kind == AA__Y_SCALAR)
        aa__yscalar_resolve(v, &s);
    if (v->kind != AA__Y_SCALAR || s.type != AA__YV_INT) {
        type_error(L, v, what, key, "a whole number");
        return NULL;
    }
    if (s.overflow) {
        lerr(L, v, "%s%s'%s' is out of range: %.40s", what ? what : "",
             what ? ": " : "", key, v->text);
        return NULL;
    }
    *out = s.i;
    return v;
}

static const aa__ynode *get_bool(loader *L, const aa__ynode *map,
                                 const char *key, const char *what, bool *out) {
    const aa__ynode *v = field(map, key);
    if (!v)
        return NULL;
    aa__yscalar s = {0};
    if (v->kind == AA__Y_SCALAR)
        aa__yscalar_resolve(v, &s);
    if (v->kind != AA__Y_SCALAR || s.type != AA__YV_BOOL) {
        type_error(L, v, what, key, "true or false");
        return NULL;
    }
    *out = s.b;
    return v;
}

/* A list of strings (patterns). A lone string is a type error: the Python
 * package iterates it character by character. */
static const aa__ynode *get_strlist(loader *L, const aa__ynode *map,
                                    const char *key, const char *what,
                                    aa__strlist *out) {
    memset(out, 0, sizeof *out);
    const aa__ynode *v = field(map, key);
    if (!v)
        return NULL;
    if (v->kind != AA__Y_SEQ) {
        char d[96];
        if (v->kind == AA__Y_SCALAR)
            lerr(L, v, "%s: '%s' must be a list, not %s (write %s: [%.40s])",
                 what, key, describe_node(v, d, sizeof d), key, v->text);
        else
            type_error(L, v, what, key, "a list");
        return NULL;
    }
    if (v->n == 0)
        return v;
    out->items = lalloc(L, v->n * sizeof *out->items);
    out->pos = lalloc(L, v->n * sizeof *out->pos);
    if (!out->items || !out->pos)
        return NULL;
    for (size_t i = 0; i < v->n; i++) {
        const aa__ynode *it = v->u.items[i];
        if (it->kind != AA__Y_SCALAR || is_null(it)) {
            char d[96];
            lerr(L, it, "%s: every entry of '%s' must be a string, not %s",
                 what, key, describe_node(it, d, sizeof d));
            continue;
        }
        out->pos[out->count] = (aa__pos){it->line, it->col};
        out->items[out->count++] = interp(L, it);
    }
    return v;
}

/* A mapping that groups settings (`sessions:`, `audit:`...), with its keys
 * checked. NULL when absent or of the wrong type (reported). */
static const aa__ynode *section(loader *L, const aa__ynode *root,
                                const char *key, const char *const *known) {
    const aa__ynode *m = get_map(L, root, key, NULL);
    if (m && known) {
        char where[64];
        snprintf(where, sizeof where, "in '%s'", key);
        check_keys(L, m, known, where);
    }
    return m;
}

static void at_least_one(loader *L, const aa__ynode *at, const char *what,
                         const char *key, int64_t v) {
    if (v < 1)
        lerr(L, at, "%s%s%s must be at least 1, not %lld", what ? what : "",
             what ? ": " : "", key, (long long)v);
}

/* ---- variables ----------------------------------------------------------- */

static bool scalar_value(loader *L, const aa__ynode *n, aa__value *out,
                         const char *name) {
    aa__yscalar s;
    aa__yscalar_resolve(n, &s);
    switch (s.type) {
    case AA__YV_NULL:
        out->type = AA__V_NULL;
        return true;
    case AA__YV_BOOL:
        out->type = AA__V_BOOL;
        out->u.b = s.b;
        return true;
    case AA__YV_INT:
    case AA__YV_FLOAT:
        out->type = AA__V_NUM;
        out->u.n = s.d;
        return true;
    case AA__YV_STR: {
        const char *t = interp(L, n);
        out->type = AA__V_STR;
        out->u.s.p = t;
        out->u.s.len = strlen(t);
        return true;
    }
    default:
        lerr(L, n, "variable '%s': '%.40s' does not fit its tag", name,
             n->text);
        return false;
    }
}

static void load_variables(loader *L, const aa__ynode *root) {
    const aa__ynode *m = get_map(L, root, "variables", NULL);
    if (!m || m->n == 0)
        return;
    aa_policy *p = L->p;
    p->variables = lalloc(L, m->n * sizeof *p->variables);
    if (!p->variables)
        return;
    for (size_t i = 0; i < m->n; i++) {
        const aa__ynode *k = m->u.pairs[i].key, *v = m->u.pairs[i].value;
        aa__variable *var = &p->variables[p->nvariables];
        var->name = text_of(k);
        char what[160];
        snprintf(what, sizeof what, "variable '%.100s'", k->text);
        if (v->kind == AA__Y_MAP) {
            type_error(L, v, what, NULL, "a value or a list of values");
            continue;
        }
        if (v->kind == AA__Y_SCALAR) {
            if (scalar_value(L, v, &var->value, var->name))
                p->nvariables++;
            continue;
        }
        aa__value *items = lalloc(L, (v->n ? v->n : 1) * sizeof *items);
        if (!items)
            return;
        bool ok = true;
        for (size_t j = 0; j < v->n; j++) {
            const aa__ynode *it = v->u.items[j];
            if (it->kind != AA__Y_SCALAR) {
                char d[96];
                lerr(L, it, "%s: list entries must be single values, not %s",
                     what, describe_node(it, d, sizeof d));
                ok = false;
                continue;
            }
            ok = scalar_value(L, it, &items[j], var->name) && ok;
        }
        if (!ok)
            continue;
        var->value.type = AA__V_LIST;
        var->value.u.list.items = items;
        var->value.u.list.n = v->n;
        p->nvariables++;
    }
}

static const aa__value *var_lookup(void *ud, const char *name, size_t len) {
    const aa_policy *p = ud;
    for (size_t i = 0; i < p->nvariables; i++) {
        const char *vn = p->variables[i].name;
        if (strlen(vn) == len && memcmp(vn, name, len) == 0)
            return &p->variables[i].value;
    }
    return NULL;
}

/* ---- conditions ---------------------------------------------------------- */

/* The policy file's bytes again, into L->data, when they are what was
 * loaded (same length and SHA-256); false otherwise (the caller then
 * places a message less precisely). Tried once. */
static bool read_again(loader *L) {
    const char *path = L->reread_path;
    L->reread_path = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char *buf = malloc(L->file_len + 1);
    size_t got = 0;
    while (buf && got <= L->file_len) {
        ssize_t r = read(fd, buf + got, L->file_len + 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    char sum[65];
    if (!buf || got != L->file_len || !aa__sha256_hex(buf, got, sum) ||
        strcmp(sum, L->p->sha256) != 0) {
        free(buf);
        return false;
    }
    L->reread = buf;
    L->data = buf;
    L->len = got;
    if (got >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) { /* as loaded */
        L->data += 3;
        L->len -= 3;
    }
    return true;
}

/* Where line `line` (1-based) starts in the source, or NULL. */
static const char *source_line(loader *L, int line, size_t *len) {
    if (!L->data && !(L->reread_path && read_again(L)))
        return NULL;
    if (!L->lines) {
        size_t n = 1;
        for (size_t i = 0; i < L->len; i++)
            n += L->data[i] == '\n';
        L->lines = malloc(n * sizeof *L->lines);
        if (!L->lines)
            return NULL;
        L->nlines = 0;
        L->lines[L->nlines++] = 0;
        for (size_t i = 0; i < L->len; i++)
            if (L->data[i] == '\n')
                L->lines[L->nlines++] = i + 1;
    }
    if (line < 1 || (size_t)line > L->nlines)
        return NULL;
    size_t start = L->lines[line - 1];
    const char *nl = memchr(L->data + start, '\n', L->len - start);
    *len = (nl ? (size_t)(nl - L->data) : L->len) - start;
    return L->data + start;
}

/* Skips `chars` UTF-8 characters of s (at most n bytes). */
static size_t skip_chars(const char *s, size_t n, int chars) {
    size_t i = 0;
    while (i < n && chars > 0) {
        i++;
        while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
        chars--;
    }
    return i;
}

/* The file position of byte `ecol` - 1 of condition `src` read from scalar
 * n: exact when the source line holds the condition verbatim up to that
 * point; otherwise the position of the value. */
static void cond_position(loader *L, const aa__ynode *n, const char *src,
                          int ecol, int *line, int *col) {
    *line = n->line;
    *col = n->col;
    if (ecol < 1)
        return;
    int l = n->line, c = n->col; /* where the text starts */
    size_t len;
    const char *s;
    if (n->style == AA__YS_LITERAL || n->style == AA__YS_FOLDED) {
        /* The content starts on the first non-blank line after `|`/`>`. */
        for (l = n->line + 1;; l++) {
            s = source_line(L, l, &len);
            if (!s)
                return;
            size_t k = 0;
            while (k < len && s[k] == ' ')
                k++;
            if (k < len && s[k] != '\r')
                break;
        }
        s = source_line(L, l, &len);
        size_t ind = 0;
        while (ind < len && s[ind] == ' ')
            ind++;
        c = (int)ind + 1;
    } else if (n->style != AA__YS_PLAIN) {
        c++; /* the opening quote */
    }
    s = source_line(L, l, &len);
    if (!s)
        return;
    size_t off = skip_chars(s, len, c - 1), want = (size_t)ecol - 1;
    if (off + want > len || strncmp(s + off, src, want) != 0 ||
        strlen(src) < want)
        return;
    int chars = 0;
    for (size_t i = 0; i < want; i++)
        chars += ((unsigned char)src[i] & 0xC0) != 0x80;
    *line = l;
    *col = c + chars;
}

/* The `condition` of an item, as written. ${NAME} is not replaced in a
 * condition: an environment value would become part of the expression
 * (`x" or true or "`). A complete reference is an error pointing to
 * `variables`; text such as "${" that is no reference stays text. *bad is
 * set when one was found (the condition is then not compiled). */
static const aa__ynode *get_cond(loader *L, const aa__ynode *map,
                                 const char *what, const char **out,
                                 bool *bad) {
    *bad = false;
    const aa__ynode *v = field(map, "condition");
    if (!v)
        return NULL;
    if (v->kind != AA__Y_SCALAR) {
        type_error(L, v, what, "condition", "a string");
        *bad = true;
        return NULL;
    }
    const char *s = text_of(v);
    *out = s;
    for (const char *r = strstr(s, "${"); r; r = strstr(r + 1, "${")) {
        size_t j = 2;
        while (name_char(r[j]))
            j++;
        if (j == 2 || r[j] != '}')
            continue;
        int line, col;
        cond_position(L, v, s, (int)(r - s) + 1, &line, &col);
        int n = (int)(j - 2) > 100 ? 100 : (int)(j - 2);
        aa__error_add(L->err, AA_SEVERITY_ERROR, AA_EPOLICY, L->file, line, col,
                      "%s: condition: '${%.*s}' is not replaced in a "
                      "condition (an environment value would become part "
                      "of the expression); define a variable (variables: "
                      "{%.*s: \"${%.*s}\"}) and write $%.*s",
                      what, n, r + 2, n, r + 2, n, r + 2, n, r + 2);
        L->nerrors++;
        *bad = true;
    }
    return v;
}

/* ---- condition warnings -------------------------------------------------- */

typedef struct cond_lint {
    loader *L;
    const aa__ynode *n;
    const char *src;
    aa__ctx_kind kind;
    const char *what;
    const char *seen[16]; /* names warned about (each once per condition) */
    size_t seen_len[16];
    size_t nseen;
} cond_lint;

/* A warning (an error in strict mode) at column `column` of the
 * condition, placed in the file. */
static void cond_warn(cond_lint *c, int column, const char *fmt, ...)
    AA__PRINTF(3, 4);
static void cond_warn(cond_lint *c, int column, const char *fmt, ...) {
    loader *L = c->L;
    int line = 0, col = 0;
    if (c->n)
        cond_position(L, c->n, c->src, column, &line, &col);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    aa__error_add(L->err, L->strict ? AA_SEVERITY_ERROR : AA_SEVERITY_WARNING,
                  AA_EPOLICY, L->file, line, col,
                  "%s: condition: %s (column %d)", c->what, msg, column);
    if (L->strict)
        L->nerrors++;
}

static bool lint_seen(cond_lint *c, const aa__expr_read *r) {
    for (size_t i = 0; i < c->nseen; i++)
        if (c->seen_len[i] == r->len &&
            memcmp(c->seen[i], r->name, r->len) == 0)
            return true;
    if (c->nseen < AA__ARRAY_LEN(c->seen)) {
        c->seen[c->nseen] = r->name;
        c->seen_len[c->nseen++] = r->len;
    }
    return false;
}

/* A metadata read: a bare name that is a built-in of the other context
 * only, or (when request_metadata declares keys) an undeclared key. */
static void lint_read(void *ud, const aa__expr_read *r) {
    cond_lint *c = ud;
    const aa_policy *p = c->L->p;
    const char *other =
        r->bare ? aa__expr_field_elsewhere(c->kind, r->name, r->len) : NULL;
    if (other) {
        if (!lint_seen(c, r))
            cond_warn(c, r->column,
                      "'%.*s' " AA__MSG_OTHER_CONTEXT
                      " %s conditions only; here it reads request metadata",
                      (int)r->len, r->name, other);
        return;
    }
    if (!p->nmeta_decls || aa__map_get(&p->meta_decl_by_key, r->name, r->len))
        return;
    if (!lint_seen(c, r))
        cond_warn(c, r->column,
                  "'%s%.*s' reads request metadata " AA__MSG_UNDECLARED,
                  r->bare ? "" : "metadata.", (int)r->len, r->name);
}

/* A backslash escape: ours, not the Python package's. */
static void lint_escape(void *ud, int column, char escaped) {
    cond_lint *c = ud;
    const char *reads = escaped == 'n'    ? "a newline"
                        : escaped == 't'  ? "a tab"
                        : escaped == '\\' ? "one backslash"
                        : escaped == '"'  ? "a double quote"
                                          : "a single quote";
    cond_warn(c, column,
              "'\\%c' in a string is an escape here (%s); the Python package "
              "reads a backslash as a plain character",
              escaped, reads);
}

/* Load warnings about a compiled condition (contract section 6). */
static void lint_cond(loader *L, const aa__ynode *n, const char *src,
                      const aa__expr *e, aa__ctx_kind kind, const char *what) {
    cond_lint c = {.L = L, .n = n, .src = src, .kind = kind, .what = what};
    aa__expr_each_meta_read(e, lint_read, &c);
    aa__expr_each_escape(e, lint_escape, &c);
}

static aa__expr *compile_cond(loader *L, const aa__ynode *n, const char *src,
                              aa__ctx_kind kind, const char *what) {
    aa__expr *e = NULL;
    aa__expr_error xe;
    memset(&xe, 0, sizeof xe);
    int rc = aa__expr_compile(src, kind, var_lookup, L->p, &e, &xe);
    if (rc == AA_OK) {
        lint_cond(L, n, src, e, kind, what);
        return e;
    }
    if (rc == AA_ENOMEM) {
        L->oom = true;
        return NULL;
    }
    int line = 0, col = 0;
    if (n)
        cond_position(L, n, src, xe.column, &line, &col);
    if (xe.column > 0)
        aa__error_add(L->err, AA_SEVERITY_ERROR, AA_EPOLICY, L->file, line, col,
                      "%s: condition: %s at column %d", what, xe.message,
                      xe.column);
    else
        aa__error_add(L->err, AA_SEVERITY_ERROR, AA_EPOLICY, L->file, line, col,
                      "%s: condition: %s", what, xe.message);
    L->nerrors++;
    return NULL;
}

/* ---- sections ------------------------------------------------------------ */

static const char *const top_keys[] = {
    "version",    "metadata", "variables",
    "roles",      "profiles", "approval_policies",
    "delegation", "a2a",      "sessions",
    "audit",      "state",    "request_metadata",
    NULL};
static const char *const metadata_keys[] = {"name", "description", "author",
                                            NULL};
static const char *const role_keys[] = {"actions", "extends", "description",
                                        NULL};
static const char *const profile_keys[] = {"role",
                                           "allow",
                                           "deny",
                                           "scopes",
                                           "max_session_duration",
                                           "default_tier",
                                           "description",
                                           "require_scope",
                                           NULL};
static const char *const approval_keys[] = {"name", "condition", "tier",
                                            "description", NULL};
static const char *const delegation_keys[] = {"enabled", "default_duration",
                                              "max_duration", "rules", NULL};
static const char *const rule_keys[] = {"name",         "allowed_actions",
                                        "max_duration", "require_reason",
                                        "description",  NULL};
static const char *const a2a_keys[] = {"default", "policies", NULL};
static const char *const a2a_policy_keys[] = {
    "name",   "from_agent", "to_agent",    "action",
    "effect", "condition",  "description", NULL};
static const char *const sessions_keys[] = {"default_duration", "max_duration",
                                            "cleanup_interval", NULL};
static const char *const audit_keys[] = {
    "enabled", "path", "retention_days", "fsync", "on_failure", "redact", NULL};
static const char *const state_keys[] = {"path", "url", "schema", "consistency",
                                         NULL};
static const char *const meta_decl_keys[] = {"type", "required_for", NULL};

static void load_version(loader *L, const aa__ynode *root) {
    L->p->version = "1.0";
    const aa__ynode *v = field(root, "version");
    if (!v)
        return;
    if (v->kind != AA__Y_SCALAR) {
        type_error(L, v, NULL, "version", "the string \"1.0\"");
        return;
    }
    aa__yscalar s;
    aa__yscalar_resolve(v, &s);
    if (s.type == AA__YV_FLOAT && s.d == 1.0) /* version: 1.0 */
        return;
    const char *text = s.type == AA__YV_STR ? interp(L, v) : v->text;
    if (strcmp(text, "1.0") != 0)
        lerr(L, v, "unsupported version '%.40s' (expected \"1.0\")", text);
}

static void load_metadata(loader *L, const aa__ynode *root) {
    aa_policy *p = L->p;
    p->name = p->description = p->author = "";
    const aa__ynode *m = section(L, root, "metadata", metadata_keys);
    if (!m)
        return;
    get_str(L, m, "name", "metadata", &p->name);
    get_str(L, m, "description", "metadata", &p->description);
    get_str(L, m, "author", "metadata", &p->author);
}

static void load_sessions(loader *L, const aa__ynode *root) {
    aa_policy *p = L->p;
    p->sessions.default_duration = DEF_SESSION_DURATION;
    p->sessions.max_duration = DEF_SESSION_MAX;
    p->sessions.cleanup_interval = DEF_CLEANUP_INTERVAL;
    const aa__ynode *m = section(L, root, "sessions", sessions_keys);
    if (!m)
        return;
    const aa__ynode *d = get_int(L, m, "default_duration", "sessions",
                                 &p->sessions.default_duration);
    const aa__ynode *x =
        get_int(L, m, "max_duration", "sessions", &p->sessions.max_duration);
    const aa__ynode *c = get_int(L, m, "cleanup_interval", "sessions",
                                 &p->sessions.cleanup_interval);
    at_least_one(L, d, "sessions", "default_duration",
                 p->sessions.default_duration);
    at_least_one(L, x, "sessions", "max_duration", p->sessions.max_duration);
    at_least_one(L, c, "sessions", "cleanup_interval",
                 p->sessions.cleanup_interval);
    if (p->sessions.default_duration > p->sessions.max_duration &&
        p->sessions.max_duration >= 1)
        lerr(L, d ? d : (x ? x : m),
             "sessions: default_duration (%lld) exceeds max_duration (%lld)",
             (long long)p->sessions.default_duration,
             (long long)p->sessions.max_duration);
}

static void load_roles(loader *L, const aa__ynode *root) {
    aa_policy *p = L->p;
    const aa__ynode *m = get_map(L, root, "roles", NULL);
    if (!m || m->n == 0)
        return;
    p->roles = lalloc(L, m->n * sizeof *p->roles);
    if (!aa__map_reserve(&p->role_by_name, m->n))
        L->oom = true;
    L->extends_node = calloc(m->n, sizeof *L->extends_node);
    if (!p->roles || !L->extends_node) {
        L->oom = true;
        return;
    }
    for (size_t i = 0; i < m->n; i++) {
        const aa__ynode *k = m->u.pairs[i].key, *v = m->u.pairs[i].value;
        aa__role *r = &p->roles[p->nroles];
        r->name = text_of(k);
        r->description = "";
        r->parent = -1;
        r->pos = (aa__pos){k->line, k->col};
        char what[160];
        name_what(what, sizeof what, "", "role", k->text);
        if (k->len == 0)
            lerr(L, k, "a role name must not be empty");
        if (!is_null(v) && v->kind != AA__Y_MAP) {
            type_error(L, v, what, NULL, "a mapping");
        } else if (v->kind == AA__Y_MAP) {
            char where[180];
            name_what(where, sizeof where, "in ", "role", k->text);
            check_keys(L, v, role_keys, where);
            get_str(L, v, "description", what, &r->description);
            L->extends_node[p->nroles] =
                get_str(L, v, "extends", what, &r->extends);
            get_strlist(L, v, "actions", what, &r->actions);
        }
        if (!aa__map_put(&p->role_by_name, r->name, strlen(r->name), r))
            L->oom = true;
        p->nroles++;
    }
}

/* Role names as candidates for "did you mean". */
static const char *suggest_role(loader *L, const char *name) {
    aa_policy *p = L->p;
    if (L->suggest_budget < p->nroles)
        return NULL;
    L->suggest_budget -= p->nroles;
    const char **names = malloc((p->nroles + 1) * sizeof *names);
    if (!names)
        return NULL;
    for (size_t i = 0; i < p->nroles; i++)
        names[i] = p->roles[i].name;
    const char *s = suggest(name, names, p->nroles);
    free(names);
    return s;
}

static void undefined_role(loader *L, const aa__ynode *at, const char *pre,
                           const char *name) {
    const char *s = suggest_role(L, name);
    if (s)
        lerr(L, at, "%s: role '%.100s' is not defined (did you mean '%s'?)",
             pre, name, s);
    else
        lerr(L, at, "%s: role '%.100s' is not defined", pre, name);
}

/* Resolves `extends` into parent indexes and depths; reports unknown
 * parents and every cycle (once, named in order). */
static void resolve_roles(loader *L) {
    aa_policy *p = L->p;
    size_t n = p->nroles;
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        aa__role *r = &p->roles[i];
        if (!r->extends)
            continue;
        const aa__role *parent =
            aa__map_get(&p->role_by_name, r->extends, strlen(r->extends));
        if (parent) {
            r->parent = (int)(parent - p->roles);
        } else {
            char pre[300];
            snprintf(pre, sizeof pre, "role '%.100s' extends '%.100s'", r->name,
                     r->extends);
            undefined_role(L, L->extends_node[i], pre, r->extends);
        }
    }
    unsigned char *state = calloc(n, 1); /* 0 new, 1 on path, 2 done */
    int *path = malloc(n * sizeof *path);
    int *depth = malloc(n * sizeof *depth);
    if (!state || !path || !depth) {
        L->oom = true;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        int j = (int)i;
        while (j >= 0 && state[j] == 0) {
            state[j] = 1;
            path[k++] = j;
            j = p->roles[j].parent;
        }
        if (j >= 0 && state[j] == 1) { /* back on our own path: a cycle */
            size_t s = 0;
            while (path[s] != j)
                s++;
            aa__buf b;
            aa__buf_init(&b);
            for (size_t t = s; t < k; t++)
                aa__buf_printf(&b, "%.100s -> ", p->roles[path[t]].name);
            aa__buf_printf(&b, "%.100s", p->roles[j].name);
            lerr(L, L->extends_node[j], "circular inheritance: %s",
                 b.data ? b.data : "");
            aa__buf_free(&b);
            p->roles[path[k - 1]].parent = -1; /* keep the rest acyclic */
        }
        for (size_t t = 0; t < k; t++)
            state[path[t]] = 2;
    }
    /* Depths, now that every chain ends. */
    for (size_t i = 0; i < n; i++)
        depth[i] = -1;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        int j = (int)i;
        while (j >= 0 && depth[j] < 0) {
            path[k++] = j;
            j = p->roles[j].parent;
        }
        int d = j >= 0 ? depth[j] + 1 : 0;
        while (k > 0) {
            depth[path[--k]] = d;
            p->roles[path[k]].depth = d;
            if (d == AA__MAX_ROLE_DEPTH + 1) /* once, at the first too deep */
                lerr(L, L->extends_node[path[k]],
                     "role '%.100s': its extends chain is longer than %d "
                     "roles",
                     p->roles[path[k]].name, AA__MAX_ROLE_DEPTH);
            d++;
        }
    }
done:
    free(state);
    free(path);
    free(depth);
}

static void load_profiles(loader *L, const aa__ynode *root) {
    aa_policy *p = L->p;
    const aa__ynode *m = get_map(L, root, "profiles", NULL);
    if (!m || m->n == 0)
        return;
    L->profiles = calloc(m->n, sizeof *L->profiles);
    if (!L->profiles) {
        L->oom = true;
        return;
    }
    for (size_t i = 0; i < m->n; i++) {
        const aa__ynode *k = m->u.pairs[i].key, *v = m->u.pairs[i].value;
        parsed_profile *pr = &L->profiles[L->nprofiles++];
        pr->name = text_of(k);
        pr->description = "";
        pr->role = -1;
        pr->max_session_duration = DEF_PROFILE_SESSION;
        pr->default_tier = AA_TIER_AUTONOMOUS;
        pr->pos = (aa__pos){k->line, k->col};
        char what[160];
        name_what(what, sizeof what, "", "profile", k->text);
        if (k->len == 0)
            lerr(L, k, "a profile name must not be empty");
        if (!is_null(v) && v->kind != AA__Y_MAP) {
            type_error(L, v, what, NULL, "a mapping");
            continue;
        }
        if (v->kind != AA__Y_MAP)
            continue;
        char where[180];
        name_what(where, sizeof where, "in ", "profile", k->text);
        check_keys(L, v, profile_keys, where);
        get_str(L, v, "description", what, &pr->description);
        const aa__ynode *rn = get_str(L, v, "role", what, &pr->role_name);
        get_strlist(L, v, "allow", what, &pr->allow);
        get_strlist(L, v, "deny", what, &pr->deny);
        get_strlist(L, v, "scopes", what, &pr->scopes);
        get_bool(L, v, "require_scope", what, &pr->require_scope);
        const char *tier = NULL;
        const aa__ynode *tn = get_str(L, v, "default_tier", what, &tier);
        const aa__ynode *dn = get_int(L, v, "max_session_duration", what,
                                      &pr->max_session_duration);
        bool msd_ok = dn || !field(v, "max_session_duration");

        if (rn) {
            const aa__role *r = aa__map_get(&p->role_by_name, pr->role_name,
                                            strlen(pr->role_name));
            if (r)
                pr->role = (int)(r - p->roles);
            else
                undefined_role(L, rn, what, pr->role_name);
        }
        if (tn && aa_tier_parse(tier, &pr->default_tier) != AA_OK)
            lerr(L, tn,
                 "%s: default_tier '%.40s' is not a tier (autonomous, soft, "
                 "strong)",
                 what, tier);
        int64_t msd = pr->max_session_duration;
        if (!msd_ok)
            continue;
        if (!dn && msd > p->sessions.max_duration) { /* a default, not a */
            pr->max_session_duration = p->sessions.max_duration; /* choice */
            continue;
        }
        if (msd < 1)
            lerr(L, dn ? dn : k,
                 "%s: max_session_duration must be at least 1, not %lld", what,
                 (long long)msd);
        else if (msd > p->sessions.max_duration)
            lerr(L, dn ? dn : k,
                 "%s: max_session_duration%s (%lld) exceeds "
                 "sessions.max_duration (%lld)",
                 what, dn ? "" : " (default)", (long long)msd,
                 (long long)p->sessions.max_duration);
    }
}

/* request_metadata (ours): key -> {type, required_for}. Loaded before the
 * conditions, which are checked against it. */
static void load_request_metadata(loader *L, const aa__ynode *root) {
    static const char *const types[] = {"string", "number", "bool", "list"};
    aa_policy *p = L->p;
    const aa__ynode *m = get_map(L, root, "request_metadata", NULL);
    if (!m || m->n == 0)
        return;
    p->meta_decls = lalloc(L, m->n * sizeof *p->meta_decls);
    if (!p->meta_decls)
        return;
    for (size_t i = 0; i < m->n; i++) {
        const aa__ynode *k = m->u.pairs[i].key, *v = m->u.pairs[i].value;
        char what[160];
        snprintf(what, sizeof what, "request_metadata '%.100s'", k->text);
        if (k->len == 0) {
            lerr(L, k, "a request_metadata key must not be empty");
            continue;
        }
        if (v->kind != AA__Y_MAP) {
            type_error(L, v, what, NULL,
                       "a mapping (type: ..., required_for: [...])");
            continue;
        }
        char where[180];
        snprintf(where, sizeof where, "in %s", what);
        check_keys(L, v, meta_decl_keys, where);
        aa__meta_decl *dc = &p->meta_decls[p->nmeta_decls];
        memset(dc, 0, sizeof *dc);
        dc->key = text_of(k);
        dc->pos = (aa__pos){k->line, k->col};
        get_strlist(L, v, "required_for", what, &dc->required_for);
        const char *type = NULL;
        const aa__ynode *tn = get_str(L, v, "type", what, &type);
        if (!tn) {
            if (!field(v, "type"))
                lerr(L, v,
                     "%s: 'type' is required (string, number, bool or "
                     "list)",
                     what);
            continue;
        }
        size_t t = 0;
        while (t < AA__ARRAY_LEN(types) && strcmp(type, types[t]) != 0)
            t++;
        if (t == AA__ARRAY_LEN(types)) {
            lerr(L, tn,
                 "%s: type '%.40s' is not one of string, number, bool, list",
                 what, type);
            continue;
        }
        dc->type = (aa__meta_type)t;
        p->meta_required |= dc->required_for.count > 0;
        if (!aa__map_put(&p->meta_decl_by_key, dc->key, strlen(dc->key), dc))
            L->oom = true;
        p->nmeta_decls++;
    }
}

/* Remembers item names to report duplicates; false when `name` was seen. */
static bool unique_name(loader *L, aa__map *seen, const char *name,
                        const aa__ynode *at, const char *kind) {
    const aa__ynode *first = aa__map_get(seen, name, strlen(name));
    if (first) {
        lerr(L, at, "duplicate %s name '%.100s' (first at line %d)", kind, name,
             first->line);
        return false;
    }
    if (!aa__map_put(seen, name, strlen(name), (void *)at))
        L->oom = true;
    return true;
}

/* The head every named list item shares (approval policies, delegation
 * rules, A2A policies): reads `name` into *name, words `what` ("KIND
 * 'name'", or "KIND #N" without one) for later messages, checks the item's
 * keys, and reports a missing or duplicate name. */
static void named_item(loader *L, const aa__ynode *item, size_t index,
                       const char *kind, const char *const *keys, aa__map *seen,
                       const char **name, char *what, size_t whatsize) {
    snprintf(what, whatsize, "%s #%zu", kind, index + 1);
    const aa__ynode *nn = get_str(L, item, "name", what, name);
    if (nn && **name)
        snprintf(what, whatsize, "%s '%.100s'", kind, *name);
    char where[180];
    snprintf(where, sizeof where, "in %s", what);
    check_keys(L, item, keys, where);
    if (!**name)
        lerr(L, nn ? nn : item, "%s has no name", what);
    else
        unique_name(L, seen, *name, nn, kind);
}

/* The list items of `key` that are mappings (others are reported). */
static const aa__ynode *item_map(loader *L, const aa__ynode *it,
                                 const char *key, size_t i) {
    if (it->kind == AA__Y_MAP)
        return it;
    char d[96];
    lerr(L, it, "%s: item %zu must be a mapping (name: ...), not %s", key,
         i + 1, describe_node(it, d, sizeof d));
    return NULL;
}

static void load_approvals(loader *L, const aa__ynode *root) {
    aa_policy *p = L->p;
    const aa__ynode *s = get_seq(L, root, "approval_policies", NULL);
    if (!s || s->n == 0)
        return;
    p->approvals = lalloc(L, s->n * sizeof *p->approvals);
    if (!p->approvals)
        return;
    aa__map seen;
    aa__map_init(&seen);
    for (size_t i = 0; i < s->n; i++) {
        const aa__ynode *m = item_map(L, s->u.items[i], "approval_policies", i);
        if (!m)
            continue;
        aa__approval *a = &p->approvals[p->napprovals++];
        a->name = "";
        a->condition = "";
        a->description = "";
        a->tier = AA_TIER_SOFT;
        a->pos = (aa__pos){m->line, m->col};
        char what[160];
        named_item(L, m, i, "approval policy", approval_keys, &seen, &a->name,
                   what, sizeof what);
        get_str(L, m, "description", what, &a->description);
        const char *tier = NULL;
        const aa__ynode *tn = get_str(L, m, "tier", what, &tier);
        if (tn && aa_tier_parse(tier, &a->tier) != AA_OK)
            lerr(L, tn,
                 "%s: tier '%.40s' is not a tier (autonomous, soft, strong)",
                 what, tier);
        bool bad;
        const aa__ynode *cn = get_cond(L, m, what, &a->condition, &bad);
        if (cn)
            a->cond_pos = (aa__pos){cn->line, cn->col};
        if (!bad)
            a->cond = compile_cond(L, cn, a->condition, AA__CTX_APPROVAL, what);
    }
    aa__map_free(&seen);
}

static void load_delegation(loader *L, const aa__ynode *root) {
    aa_policy *p = L->p;
    p->delegation.enabled = true;
    p->delegation.default_duration = DEF_DELEGATION_DURATION;
    p->delegation.max_duration = DEF_DELEGATION_MAX;
    const aa__ynode *m = section(L, root, "delegation", delegation_keys);
    if (!m)
        return;
    const char *what = "delegation";
    get_bool(L, m, "enabled", what, &p->delegation.enabled);
    const aa__ynode *dn = get_int(L, m, "default_duration", what,
                                  &p->delegation.default_duration);
    const aa__ynode *xn =
        get_int(L, m, "max_duration", what, &p->delegation.max_duration);
    at_least_one(L, dn, what, "default_duration",
                 p->delegation.default_duration);
    at_least_one(L, xn, what, "max_duration", p->delegation.max_duration);
    if (p->delegation.default_duration > p->delegation.max_duration &&
        p->delegation.max_duration >= 1)
        lerr(L, dn ? dn : (xn ? xn : m),
             "delegation: default_duration (%lld) exceeds max_duration "
             "(%lld)",
             (long long)p->delegation.default_duration,
             (long long)p->delegation.max_duration);

    const aa__ynode *s = get_seq(L, m, "rules", what);
    if (!s || s->n == 0)
        return;
    p->delegation.rules = lalloc(L, s->n * sizeof *p->delegation.rules);
    if (!p->delegation.rules)
        return;
    aa__map seen;
    aa__map_init(&seen);
    for (size_t i = 0; i < s->n; i++) {
        const aa__ynode *r = item_map(L, s->u.items[i], "delegation.rules", i);
        if (!r)
            continue;
        aa__drule *d = &p->delegation.rules[p->delegation.nrules++];
        d->name = "";
        d->description = "";
        d->max_duration = DEF_RULE_MAX;
        d->pos = (aa__pos){r->line, r->col};
        char rw[160];
        named_item(L, r, i, "delegation rule", rule_keys, &seen, &d->name, rw,
                   sizeof rw);
        get_str(L, r, "description", rw, &d->description);
        get_strlist(L, r, "allowed_actions", rw, &d->allowed_actions);
        get_bool(L, r, "require_reason", rw, &d->require_reason);
        const aa__ynode *mn =
            get_int(L, r, "max_duration", rw, &d->max_duration);
        if (!mn && field(r, "max_duration"))
            continue; /* already reported */
        if (!mn && d->max_duration > p->delegation.max_duration) {
            d->max_duration = p->delegation.max_duration; /* default: fit it */
            continue;
        }
        if (d->max_duration < 1)
            lerr(L, mn ? mn : r,
                 "%s: max_duration must be at least 1, not "
                 "%lld",
                 rw, (long long)d->max_duration);
        else if (d->max_duration > p->delegation.max_duration)
            lerr(L, mn ? mn : r,
                 "%s: max_duration%s (%lld) exceeds delegation.max_duration "
                 "(%lld)",
                 rw, mn ? "" : " (default)", (long long)d->max_duration,
                 (long long)p->delegation.max_duration);
    }
    aa__map_free(&seen);
}

/* "allow"/"deny" into *allow; false (reported) for anything else. */
static bool parse_effect(loader *L, const aa__ynode *at, const char *text,
                         const char *what, const char *key, bool *allow) {
    if (strcmp(text, "allow") == 0 || strcmp(text, "deny") == 0) {
        *allow = text[0] == 'a';
        return true;
    }
    lerr(L, at, "%s%s%s '%.40s' must be allow or deny", what ? what : "",
         what ? ": " : "", key, text);
    return false;
}

static void load_a2a(loader *L, const aa__ynode *root) {
    aa_policy *p = L->p;
    p->a2a.default_allow = false;
    const aa__ynode *m = section(L, root, "a2a", a2a_keys);
    if (!m)
        return;
    const char *def = NULL;
    const aa__ynode *dn = get_str(L, m, "default", "a2a", &def);
    if (dn) {
        parse_effect(L, dn, def, NULL, "a2a.default", &p->a2a.default_allow);
        p->a2a.default_pos = (aa__pos){dn->line, dn->col};
    }
    const aa__ynode *s = get_seq(L, m, "policies", "a2a");
    if (!s || s->n == 0)
        return;
    p->a2a.policies = lalloc(L, s->n * sizeof *p->a2a.policies);
    if (!p->a2a.policies)
        return;
    aa__map seen;
    aa__map_init(&seen);
    for (size_t i = 0; i < s->n; i++) {
        const aa__ynode *r = item_map(L, s->u.items[i], "a2a.policies", i);
        if (!r)
            continue;
        aa__a2a *a = &p->a2a.policies[p->a2a.npolicies++];
        a->name = a->description = a->condition = "";
        a->from_agent = a->to_agent = a->action = "*";
        a->allow = true;
        a->pos = (aa__pos){r->line, r->col};
        char what[160];
        named_item(L, r, i, "A2A policy", a2a_policy_keys, &seen, &a->name,
                   what, sizeof what);
        get_str(L, r, "description", what, &a->description);
        const aa__ynode *fn = get_str(L, r, "from_agent", what, &a->from_agent);
        const aa__ynode *tn = get_str(L, r, "to_agent", what, &a->to_agent);
        const aa__ynode *an = get_str(L, r, "action", what, &a->action);
        a->from_pos = fn ? (aa__pos){fn->line, fn->col} : a->pos;
        a->to_pos = tn ? (aa__pos){tn->line, tn->col} : a->pos;
        a->action_pos = an ? (aa__pos){an->line, an->col} : a->pos;
        const char *eff = NULL;
        const aa__ynode *en = get_str(L, r, "effect", what, &eff);
        if (en)
            parse_effect(L, en, eff, what, "effect", &a->allow);
        aa__pattern_init(&a->from_pat, a->from_agent);
        aa__pattern_init(&a->to_pat, a->to_agent);
        aa__pattern_init(&a->action_pat, a->action);
        bool bad;
        const aa__ynode *cn = get_cond(L, r, what, &a->condition, &bad);
        if (cn)
            a->cond_pos = (aa__pos){cn->line, cn->col};
        if (!bad)
            a->cond = compile_cond(L, cn, a->condition, AA__CTX_A2A, what);
    }
    aa__map_free(&seen);
}

static void load_audit(loader *L, const aa__ynode *root) {
    aa_policy *p = L->p;
    p->audit.enabled = true;
    p->audit.path = DEF_AUDIT_PATH;
    p->audit.retention_days = DEF_RETENTION_DAYS;
    p->audit.fsync = AA__FSYNC_NEVER;
    p->audit.on_failure_allow = false;
    const aa__ynode *m = section(L, root, "audit", audit_keys);
    if (!m)
        return;
    get_bool(L, m, "enabled", "audit", &p->audit.enabled);
    const aa__ynode *pn = get_str(L, m, "path", "audit", &p->audit.path);
    if (pn && !*p->audit.path)
        lerr(L, pn, "audit: 'path' must not be empty");
    const aa__ynode *rn =
        get_int(L, m, "retention_days", "audit", &p->audit.retention_days);
    at_least_one(L, rn, "audit", "retention_days", p->audit.retention_days);
    const char *t = NULL;
    const aa__ynode *fn = get_str(L, m, "fsync", "audit", &t);
    if (fn) {
        if (strcmp(t, "never") == 0)
            p->audit.fsync = AA__FSYNC_NEVER;
        else if (strcmp(t, "always") == 0)
            p->audit.fsync = AA__FSYNC_ALWAYS;
        else if (strcmp(t, "interval") == 0)
            p->audit.fsync = AA__FSYNC_INTERVAL;
        else
            lerr(L, fn,
                 "audit: fsync '%.40s' must be never, always or interval", t);
    }
    const aa__ynode *on = get_str(L, m, "on_failure", "audit", &t);
    if (on) {
        if (strcmp(t, "deny") == 0 || strcmp(t, "allow") == 0)
            p->audit.on_failure_allow = t[0] == 'a';
        else
            lerr(L, on, "audit: on_failure '%.40s' must be deny or allow", t);
    }
    get_strlist(L, m, "redact", "audit", &p->audit.redact);
}

static void load_state(loader *L, const aa__ynode *root) {
    aa_policy *p = L->p;
    const aa__ynode *m = section(L, root, "state", state_keys);
    const aa__ynode *pn =
        m ? get_str(L, m, "path", "state", &p->state_path) : NULL;
    if (pn && !*p->state_path)
        lerr(L, pn, "state: 'path' must not be empty");
    p->state_url = "";
    p->state_schema = "";
    p->state_consistency = AA_CONSISTENCY_DEFAULT;
    const aa__ynode *un =
        m ? get_str(L, m, "url", "state", &p->state_url) : NULL;
    if (un) {
        char why[256];
        if (!*p->state_url)
            lerr(L, un, "state: 'url' must not be empty");
        else if (pn)
            lerr(L, un, "state: give 'url' or 'path', not both");
        else if (aa__state_url_check(p->state_url, why, sizeof why) != AA_OK)
            lerr(L, un, "state: url: %s", why);
    }
    const aa__ynode *sn =
        m ? get_str(L, m, "schema", "state", &p->state_schema) : NULL;
    if (sn && !aa__pg_ident_ok(p->state_schema))
        lerr(L, sn,
             "state: schema '%.64s' must be 1 to 63 lowercase letters, digits "
             "or '_', not starting with a digit",
             p->state_schema);
    const char *t = NULL;
    const aa__ynode *cn = m ? get_str(L, m, "consistency", "state", &t) : NULL;
    if (cn) {
        if (strcmp(t, "strict") == 0)
            p->state_consistency = AA_CONSISTENCY_STRICT;
        else if (strcmp(t, "cached") == 0)
            p->state_consistency = AA_CONSISTENCY_CACHED;
        else
            lerr(L, cn, "state: consistency '%.40s' must be strict or cached",
                 t);
    }
    if (pn)
        return;
    /* state.db in the directory of audit.path. */
    const char *ap = p->audit.path;
    const char *slash = strrchr(ap, '/');
    if (!slash) {
        p->state_path = "state.db";
        return;
    }
    size_t dir = (size_t)(slash - ap);
    char *s = lalloc(L, dir + sizeof "/state.db");
    if (!s)
        return;
    memcpy(s, ap, dir);
    memcpy(s + dir, "/state.db", sizeof "/state.db");
    p->state_path = s;
}

/* ---- compiling the pattern sets ------------------------------------------ */

/* A set for exactly n entries, in the policy's arena: with thousands of
 * profiles, a malloc per array (and a free per array in aa_policy_free)
 * was most of the compile time. */
static bool add_list(loader *L, aa__patset *set, const aa__strlist *l) {
    if (!aa__patset_init_arena(set, &L->p->arena, l->count))
        return false;
    for (size_t i = 0; i < l->count; i++)
        if (!aa__patset_add(set, l->items[i], NULL))
            return false;
    return aa__patset_build(set);
}

/* Role `role`'s chain set: its actions, then its parent's, ... (own role
 * first), each tagged with its origin. Made once, when the first profile of
 * that role is compiled, and shared by all of them. role_pats[r]: role r's
 * actions, classified once. */
static const aa__patset *role_chain(loader *L, int role,
                                    aa__pattern *const *role_pats) {
    aa__role *roles = L->p->roles;
    if (roles[role].chain)
        return roles[role].chain;
    size_t n = 0;
    for (int r = role; r >= 0; r = roles[r].parent)
        n += roles[r].actions.count;
    aa__patset *set = lalloc(L, sizeof *set);
    aa__origin *origins = lalloc(L, n * sizeof *origins);
    if (!set || !origins || !aa__patset_init_arena(set, &L->p->arena, n))
        return NULL;
    size_t k = 0;
    for (int r = role; r >= 0; r = roles[r].parent)
        for (size_t i = 0; i < roles[r].actions.count; i++, k++) {
            origins[k] = (aa__origin){r, (int)i};
            if (!aa__patset_add_pattern(set, &role_pats[r][i], &origins[k]))
                return NULL;
        }
    if (!aa__patset_build(set))
        return NULL;
    roles[role].chain = set;
    return set;
}

static bool compile_profile(loader *L, aa__profile *pr,
                            aa__pattern *const *role_pats) {
    pr->chain = NULL;
    if (pr->role >= 0 && !(pr->chain = role_chain(L, pr->role, role_pats)))
        return false;
    return add_list(L, &pr->allowset, &pr->allow) &&
           add_list(L, &pr->denied, &pr->deny) &&
           add_list(L, &pr->scopeset, &pr->scopes);
}

/* The policy's profiles, from what the walk read (then freed), and the
 * map of their names. false on OOM. */
static bool make_profiles(loader *L) {
    aa_policy *p = L->p;
    size_t n = L->nprofiles;
    if (n == 0)
        return true;
    p->profiles = aa__arena_alloc_raw(&p->arena, n * sizeof *p->profiles);
    if (!p->profiles)
        return false;
    for (size_t i = 0; i < n; i++) {
        const parsed_profile *q = &L->profiles[i];
        aa__profile *pr = &p->profiles[i];
        *pr = (aa__profile){.name = q->name,
                            .description = q->description,
                            .role_name = q->role_name,
                            .role = q->role,
                            .allow = q->allow,
                            .deny = q->deny,
                            .scopes = q->scopes,
                            .max_session_duration = q->max_session_duration,
                            .default_tier = q->default_tier,
                            .require_scope = q->require_scope,
                            .pos = q->pos};
        aa__patset_init(&pr->allowset);
        aa__patset_init(&pr->denied);
        aa__patset_init(&pr->scopeset);
        p->nprofiles++;
    }
    free(L->profiles);
    L->profiles = NULL;
    L->nprofiles = 0;
    /* The name map once the walk's array is freed: the two are never in
     * memory together. */
    if (!aa__map_reserve(&p->profile_by_name, n))
        return false;
    for (size_t i = 0; i < n; i++) {
        aa__profile *pr = &p->profiles[i];
        if (!aa__map_put(&p->profile_by_name, pr->name, strlen(pr->name), pr))
            return false;
    }
    return true;
}

/* AA_OK, AA_ELIMIT (reported) or AA_ENOMEM. */
static int compile_sets(loader *L) {
    aa_policy *p = L->p;
    if (!make_profiles(L))
        return AA_ENOMEM;
    size_t total = 0;
    for (size_t i = 0; i < p->nprofiles; i++) {
        const aa__profile *pr = &p->profiles[i];
        total += pr->allow.count;
        for (int r = pr->role; r >= 0; r = p->roles[r].parent)
            total += p->roles[r].actions.count;
        if (total > AA__MAX_EFFECTIVE)
            return aa__error_add(
                L->err, AA_SEVERITY_ERROR, AA_ELIMIT, L->file, pr->pos.line,
                pr->pos.col,
                "the profiles' effective permissions (role chain actions "
                "plus allow) add up to more than %d patterns",
                AA__MAX_EFFECTIVE);
    }
    size_t nactions = 0;
    for (size_t r = 0; r < p->nroles; r++)
        nactions += p->roles[r].actions.count;
    aa__pattern *pats = malloc((nactions ? nactions : 1) * sizeof *pats);
    aa__pattern **role_pats =
        malloc((p->nroles ? p->nroles : 1) * sizeof *role_pats);
    if (!pats || !role_pats) {
        free(pats);
        free(role_pats);
        return AA_ENOMEM;
    }
    for (size_t r = 0, k = 0; r < p->nroles; r++) {
        const aa__strlist *a = &p->roles[r].actions;
        role_pats[r] = &pats[k];
        for (size_t i = 0; i < a->count; i++)
            aa__pattern_init(&pats[k++], a->items[i]);
    }
    bool ok = true;
    for (size_t i = 0; i < p->nprofiles && ok; i++)
        ok = compile_profile(L, &p->profiles[i], role_pats);
    free(pats);
    free(role_pats);
    if (!ok)
        return AA_ENOMEM;
    for (size_t i = 0; i < p->delegation.nrules; i++) {
        aa__drule *d = &p->delegation.rules[i];
        if (!add_list(L, &d->allowed, &d->allowed_actions))
            return AA_ENOMEM;
    }
    for (size_t i = 0; i < p->nmeta_decls; i++)
        if (!add_list(L, &p->meta_decls[i].required,
                      &p->meta_decls[i].required_for))
            return AA_ENOMEM;
    return AA_OK;
}

/* ---- entry points -------------------------------------------------------- */

/* *owned, when not NULL, is the malloc'd buffer holding data: it is freed
 * (and set to NULL) as soon as the text is no longer read, so that it is
 * never in memory with all of the tree and the compiled policy: right after
 * parsing when `name` is a regular file that can be read again (for the
 * lines of a condition error), else after the schema walk. */
static int load_doc(const char *data, size_t len, const char *name,
                    const aa_load_options *opts, aa_policy **out, aa_error *err,
                    char **owned, bool regular) {
    aa_policy *p = calloc(1, sizeof *p);
    if (!p)
        return aa__fail(err, AA_ENOMEM, "out of memory");
    aa__arena_init(&p->arena);
    aa__map_init(&p->role_by_name);
    aa__map_init(&p->profile_by_name);
    loader L = {.file = name,
                .err = err,
                .p = p,
                .data = data,
                .len = len,
                .file_len = len,
                .suggest_budget = AA__SUGGEST_BUDGET};
    if (opts) {
        L.strict = opts->strict != 0;
        L.getenv_fn = opts->getenv_fn;
        L.getenv_ud = opts->getenv_userdata;
    }
    p->file = lstrndup(&L, name, strlen(name));
    if (!aa__sha256_hex(data, len, p->sha256)) { /* the bytes, BOM and all */
        aa_policy_free(p);
        return aa__fail(err, AA_ENOMEM, "cannot hash the policy (SHA-256)");
    }

    aa__ydoc doc;
    memset(&doc, 0, sizeof doc);
    int rc = AA_OK;
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) { /* UTF-8 BOM */
        data += 3;
        len -= 3;
        L.data = data;
        L.len = len;
    } else if (len >= 2 &&
               ((unsigned char)data[0] == 0xFF ||
                (unsigned char)data[0] == 0xFE) &&
               ((unsigned char)data[1] ^ (unsigned char)data[0]) == 0x01) {
        rc = aa__error_add(err, AA_SEVERITY_ERROR, AA_EPARSE, name, 1, 1,
                           "the policy file is UTF-16; save it as UTF-8");
    }
    if (rc == AA_OK)
        rc = aa__ydoc_parse(&doc, data, len, name, err);
    aa__arena_adopt(&p->arena, &doc.strings); /* the policy's strings */
    if (owned && regular) { /* the tree holds copies of every text */
        free(*owned);
        *owned = NULL;
        L.reread_path = name;
        L.data = NULL;
        L.len = 0;
    }
    const aa__ynode *root = doc.root;
    if (rc == AA_OK && (!root || is_null(root))) {
        aa__error_add(err, AA_SEVERITY_ERROR, AA_EPOLICY, name, 0, 0,
                      "policy file is empty (expected a mapping with "
                      "version, roles, profiles...)");
        rc = AA_EPOLICY;
    } else if (rc == AA_OK && root->kind != AA__Y_MAP) {
        char d[96];
        aa__error_add(err, AA_SEVERITY_ERROR, AA_EPOLICY, name, root->line,
                      root->col,
                      "the top level of a policy file must be a mapping "
                      "(version, roles, profiles...), not %s",
                      describe_node(root, d, sizeof d));
        rc = AA_EPOLICY;
    }
    if (rc == AA_OK) {
        L.root = root;
        visited seen;
        aa__map_init(&seen.map);
        aa__arena_init(&seen.arena);
        seen.shared = doc.naliases > 0;
        check_nodes(&L, root, false, &seen);
        aa__map_free(&seen.map);
        aa__arena_free(&seen.arena);
        check_top_keys(&L, root, top_keys);
        load_version(&L, root);
        load_metadata(&L, root);
        load_variables(&L, root);
        load_sessions(&L, root);
        load_roles(&L, root);
        resolve_roles(&L);
        load_profiles(&L, root);
        load_request_metadata(&L, root);
        load_approvals(&L, root);
        load_delegation(&L, root);
        load_a2a(&L, root);
        load_audit(&L, root);
        load_state(&L, root);
        /* Everything the policy keeps was copied out of the tree: its
         * blocks become room for the profiles and the pattern sets, in
         * memory the process holds already. */
        size_t doc_errors = doc.nerrors;
        aa__arena_recycle(&p->arena, &doc.arena);
        aa__ydoc_free(&doc);
        if (owned) {
            free(*owned);
            *owned = NULL;
            free(L.reread);
            L.reread = NULL;
            L.reread_path = NULL;
            L.data = NULL; /* source_line finds no line from here on */
            L.len = 0;
            L.nlines = 0;
        }
        if (L.oom)
            rc = aa__fail(err, AA_ENOMEM, "out of memory loading %s", name);
        else if (L.nerrors + doc_errors > 0)
            rc = AA_EPOLICY;
        else if ((rc = compile_sets(&L)) == AA_ENOMEM)
            aa__fail(err, AA_ENOMEM, "out of memory loading %s", name);
        aa__arena_trim(&p->arena); /* what the sets did not need */
    }
    free(L.extends_node);
    free(L.lines);
    free(L.reread);
    free(L.profiles);
    aa__ydoc_free(&doc);
    if (rc != AA_OK) {
        aa_policy_free(p);
        return rc;
    }
    *out = p;
    return AA_OK;
}

int aa_policy_load_buffer(const char *data, size_t len, const char *name,
                          const aa_load_options *opts, aa_policy **out,
                          aa_error *err) {
    if (!out)
        return aa__fail(err, AA_EINVAL, "aa_policy_load_buffer: out is NULL");
    *out = NULL;
    aa_load_options own;
    opts = aa__options_copy(&own, sizeof own, opts);
    if (!data && len)
        return aa__fail(err, AA_EINVAL, "aa_policy_load_buffer: data is NULL");
    if (!name)
        name = "<memory>";
    size_t max =
        opts && opts->max_bytes ? opts->max_bytes : AA__POLICY_MAX_BYTES;
    if (len > max)
        return aa__error_add(err, AA_SEVERITY_ERROR, AA_ELIMIT, name, 0, 0,
                             "policy is %zu bytes, over the limit of %zu "
                             "bytes",
                             len, max);
    return load_doc(data ? data : "", len, name, opts, out, err, NULL, false);
}

static int io_error(aa_error *err, const char *path, const char *what, int e) {
    char buf[128];
    const char *msg = strerror_r(e, buf, sizeof buf);
    return aa__error_add(err, AA_SEVERITY_ERROR, AA_EIO, path, 0, 0,
                         "cannot %s policy file: %s", what, msg);
}

int aa_policy_load_file(const char *path, const aa_load_options *opts,
                        aa_policy **out, aa_error *err) {
    if (!out)
        return aa__fail(err, AA_EINVAL, "aa_policy_load_file: out is NULL");
    *out = NULL;
    aa_load_options own;
    opts = aa__options_copy(&own, sizeof own, opts);
    if (aa__empty(path))
        return aa__fail(err, AA_EINVAL, "no policy file name given");
    size_t max =
        opts && opts->max_bytes ? opts->max_bytes : AA__POLICY_MAX_BYTES;
    if (max == SIZE_MAX)
        max--; /* room for the byte that tells "too long" */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return io_error(err, path, "open", errno);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return io_error(err, path, "read", e);
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return aa__error_add(err, AA_SEVERITY_ERROR, AA_EIO, path, 0, 0,
                             "cannot read policy file: it is a directory");
    }
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
        close(fd);
        return aa__error_add(err, AA_SEVERITY_ERROR, AA_ELIMIT, path, 0, 0,
                             "policy file is %lld bytes, over the limit of "
                             "%zu bytes",
                             (long long)st.st_size, max);
    }
    /* Read at most max + 1 bytes (a pipe has no size to check first). */
    size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536;
    size_t len = 0;
    char *data = malloc(cap);
    int rc = data ? AA_OK : aa__fail(err, AA_ENOMEM, "out of memory");
    while (rc == AA_OK) {
        if (len == cap) {
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *nd = ncap > cap ? realloc(data, ncap) : NULL;
            if (!nd) {
                rc = ncap > cap ? aa__fail(err, AA_ENOMEM, "out of memory")
                                : AA_ELIMIT;
                break;
            }
            data = nd;
            cap = ncap;
        }
        ssize_t r = read(fd, data + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = io_error(err, path, "read", errno);
            break;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > max)
            rc = AA_ELIMIT;
    }
    close(fd);
    if (rc == AA_ELIMIT)
        aa__error_add(err, AA_SEVERITY_ERROR, AA_ELIMIT, path, 0, 0,
                      "policy file is over the limit of %zu bytes", max);
    if (rc == AA_OK)
        rc = load_doc(data, len, path, opts, out, err, &data,
                      S_ISREG(st.st_mode));
    free(data);
    return rc;
}

void aa_policy_free(aa_policy *p) {
    if (!p)
        return;
    for (size_t i = 0; i < p->nroles; i++)
        if (p->roles[i].chain)
            aa__patset_free(p->roles[i].chain);
    for (size_t i = 0; i < p->nprofiles; i++) {
        aa__patset_free(&p->profiles[i].allowset);
        aa__patset_free(&p->profiles[i].denied);
        aa__patset_free(&p->profiles[i].scopeset);
    }
    for (size_t i = 0; i < p->delegation.nrules; i++)
        aa__patset_free(&p->delegation.rules[i].allowed);
    for (size_t i = 0; i < p->nmeta_decls; i++)
        aa__patset_free(&p->meta_decls[i].required);
    aa__map_free(&p->meta_decl_by_key);
    for (size_t i = 0; i < p->napprovals; i++)
        aa__expr_free(p->approvals[i].cond);
    for (size_t i = 0; i < p->a2a.npolicies; i++)
        aa__expr_free(p->a2a.policies[i].cond);
    aa__map_free(&p->role_by_name);
    aa__map_free(&p->profile_by_name);
    aa__arena_free(&p->arena);
    free(p);
}

/* ---- accessors ----------------------------------------------------------- */

const char *aa_policy_name(const aa_policy *p) {
    return p ? p->name : "";
}
const char *aa_policy_version(const aa_policy *p) {
    return p ? p->version : "";
}
size_t aa_policy_role_count(const aa_policy *p) {
    return p ? p->nroles : 0;
}
size_t aa_policy_profile_count(const aa_policy *p) {
    return p ? p->nprofiles : 0;
}
size_t aa_policy_approval_count(const aa_policy *p) {
    return p ? p->napprovals : 0;
}
size_t aa_policy_a2a_count(const aa_policy *p) {
    return p ? p->a2a.npolicies : 0;
}
const char *aa_policy_audit_path(const aa_policy *p) {
    return p ? p->audit.path : "";
}
const char *aa_policy_state_path(const aa_policy *p) {
    return p ? p->state_path : "";
}

const char *aa_policy_state_url(const aa_policy *p) {
    return p && p->state_url ? p->state_url : "";
}

const char *aa_policy_state_schema(const aa_policy *p) {
    return p && p->state_schema ? p->state_schema : "";
}

int aa_policy_state_consistency(const aa_policy *p) {
    return p ? p->state_consistency : AA_CONSISTENCY_DEFAULT;
}
int aa_policy_audit_enabled(const aa_policy *p) {
    return p && p->audit.enabled;
}
int64_t aa_policy_audit_retention_days(const aa_policy *p) {
    return p ? p->audit.retention_days : DEF_RETENTION_DAYS;
}
const char *aa_policy_sha256(const aa_policy *p) {
    return p ? p->sha256 : "";
}

int aa_policy_has_profile(const aa_policy *p, const char *agent) {
    return p && agent &&
           aa__map_get(&p->profile_by_name, agent, strlen(agent)) != NULL;
}

const char *aa_policy_suggest_profile(const aa_policy *p, const char *agent) {
    if (!p || !agent || p->nprofiles == 0 || p->nprofiles > 10000)
        return NULL;
    const char **names = malloc(p->nprofiles * sizeof *names);
    if (!names)
        return NULL;
    for (size_t i = 0; i < p->nprofiles; i++)
        names[i] = p->profiles[i].name;
    const char *s = suggest(agent, names, p->nprofiles);
    free(names);
    return s;
}

const aa__profile *aa__policy_profile(const aa_policy *p, const char *name,
                                      size_t len, uint64_t hash) {
    return aa__map_get_h(&p->profile_by_name, name, len, hash);
}

void aa_load_options_init(aa_load_options *opts) {
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->size = sizeof *opts;
}
