/*
 * policy_lint.c - `agent-auth lint`: findings about a policy, as data
 * (docs/lint.md).
 *
 * The loader already collects every problem with its position; lint turns
 * its errors and warnings into findings, then analyses the loaded policy:
 * patterns by the languages they match (pattern.c's coverage, never by
 * comparing text), conditions with expr_analysis.c. Every finding must hold
 * for every request: when a question is not decided (a coverage answer
 * other than "yes", a condition the analysis cannot see through), nothing
 * is reported. Pairwise questions are bounded: two patterns whose literal
 * prefixes differ cannot overlap, and approval policies pinned to other
 * actions cannot shadow each other, so those pairs are never examined.
 */
#include "expr_analysis.h"
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* XX(id, code, severity): the codes, in documentation order. */
#define AA__LINT_CODES(XX)                                                     \
    XX(LOAD_ERROR, "load-error", AA_LINT_ERROR)                                \
    XX(LOAD_WARNING, "load-warning", AA_LINT_WARNING)                          \
    XX(FIELD_UNKNOWN, "field-unknown", AA_LINT_ERROR)                          \
    XX(ALLOW_UNREACHABLE, "allow-unreachable", AA_LINT_WARNING)                \
    XX(PATTERN_REDUNDANT, "pattern-redundant", AA_LINT_INFO)                   \
    XX(APPROVAL_NEVER_DECIDES, "approval-never-decides", AA_LINT_WARNING)      \
    XX(CONDITION_CONSTANT, "condition-constant", AA_LINT_WARNING)              \
    XX(A2A_SHADOWED, "a2a-shadowed", AA_LINT_WARNING)                          \
    XX(ROLE_UNUSED, "role-unused", AA_LINT_INFO)                               \
    XX(PROFILE_EMPTY, "profile-empty", AA_LINT_WARNING)                        \
    XX(SCOPE_UNCHECKED, "scope-unchecked", AA_LINT_INFO)                       \
    XX(DELEGATION_RULE_WIDE, "delegation-rule-wide", AA_LINT_WARNING)

typedef enum {
#define AA__LINT_ENUM(id, code, sev) C_##id,
    AA__LINT_CODES(AA__LINT_ENUM)
#undef AA__LINT_ENUM
        C_COUNT
} lint_code;

static const struct {
    const char *code;
    aa_lint_severity sev;
} codes[] = {
#define AA__LINT_ROW(id, code, sev) {code, sev},
    AA__LINT_CODES(AA__LINT_ROW)
#undef AA__LINT_ROW
};

struct aa_lint_report {
    aa_lint_finding *items;
    size_t count, cap;
    aa__arena arena;
};

typedef struct linter {
    aa_lint_report *r;
    const aa_policy *p;
    const char *file;
    bool off[C_COUNT];
    bool oom;
    aa__arena scratch;
    aa__buf witness;
    /* Work left in the current check: a glob search costs SEARCH units
     * (and 8 more per pattern of its set), a comparison of two conditions
     * IMPLIES, a comparison of literal prefixes one. Past it the remaining
     * comparisons are not made (no finding, never a wrong one): pairwise
     * checks over a hostile policy's long lists stay bounded. */
    size_t budget;
} linter;

#define SEARCH      64
#define IMPLIES     16
#define LINT_BUDGET ((size_t)250000 * SEARCH)

/* Takes n units of work; false (and nothing taken) once they run out. */
static bool spend(linter *L, size_t n) {
    if (L->budget < n) {
        L->budget = 0;
        return false;
    }
    L->budget -= n;
    return true;
}

/* ---- public helpers ------------------------------------------------------ */

void aa_lint_options_init(aa_lint_options *opts) {
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->size = sizeof *opts;
}

const char *aa_lint_severity_name(aa_lint_severity s) {
    return s == AA_LINT_ERROR     ? "error"
           : s == AA_LINT_WARNING ? "warning"
                                  : "info";
}

int aa_lint_severity_parse(const char *name, aa_lint_severity *out) {
    if (!name || !out)
        return AA_EINVAL;
    for (int s = AA_LINT_ERROR; s <= AA_LINT_INFO; s++)
        if (strcmp(name, aa_lint_severity_name((aa_lint_severity)s)) == 0) {
            *out = (aa_lint_severity)s;
            return AA_OK;
        }
    return AA_EINVAL;
}

const char *aa_lint_code(size_t i, aa_lint_severity *severity) {
    if (i >= C_COUNT)
        return NULL;
    if (severity)
        *severity = codes[i].sev;
    return codes[i].code;
}

size_t aa_lint_report_count(const aa_lint_report *r) {
    return r ? r->count : 0;
}

const aa_lint_finding *aa_lint_report_get(const aa_lint_report *r, size_t i) {
    return r && i < r->count ? &r->items[i] : NULL;
}

void aa_lint_report_free(aa_lint_report *r) {
    if (!r)
        return;
    free(r->items);
    aa__arena_free(&r->arena);
    free(r);
}

/* ---- findings ------------------------------------------------------------ */

static void finding(linter *L, lint_code c, aa__pos at, const aa__pos *rel,
                    const char *fmt, ...) AA__PRINTF(5, 6);
static void finding(linter *L, lint_code c, aa__pos at, const aa__pos *rel,
                    const char *fmt, ...) {
    if (L->off[c] || L->oom)
        return;
    aa_lint_report *r = L->r;
    if (r->count == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 16;
        aa_lint_finding *n = realloc(r->items, ncap * sizeof *n);
        if (!n) {
            L->oom = true;
            return;
        }
        r->items = n;
        r->cap = ncap;
    }
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *m = aa__arena_strdup(&r->arena, msg);
    if (!m) {
        L->oom = true;
        return;
    }
    aa_lint_finding *f = &r->items[r->count++];
    memset(f, 0, sizeof *f);
    f->file = L->file;
    f->line = at.line;
    f->column = at.col;
    f->severity = codes[c].sev;
    f->code = codes[c].code;
    f->message = m;
    if (rel && rel->line > 0) {
        f->has_related = 1;
        f->related_file = L->file;
        f->related_line = rel->line;
        f->related_column = rel->col;
    }
}

/* ---- load errors and warnings -------------------------------------------- */

static void from_load(linter *L, const aa_error *err) {
    for (size_t i = 0; i < aa_error_count(err); i++) {
        const aa_diag *d = aa_error_get(err, i);
        lint_code c = C_LOAD_ERROR;
        if (d->severity == AA_SEVERITY_WARNING)
            c = strstr(d->message, AA__MSG_OTHER_CONTEXT) ||
                        strstr(d->message, AA__MSG_UNDECLARED)
                    ? C_FIELD_UNKNOWN
                    : C_LOAD_WARNING;
        finding(L, c, (aa__pos){d->line, d->column}, NULL, "%s", d->message);
    }
}

/* ---- patterns ------------------------------------------------------------ */

/* Two globs whose literal prefixes (up to the first wildcard) differ at
 * some byte match no common string: none can lie within the other, and
 * neither matters to the other's coverage. */
static bool may_overlap(const char *a, const char *b) {
    size_t la = strcspn(a, "*?["), lb = strcspn(b, "*?[");
    size_t m = la < lb ? la : lb;
    return memcmp(a, b, m) == 0;
}

/* Every string a matches is matched by b (non-empty strings). */
static bool within(linter *L, const char *a, const char *b) {
    if (!spend(L, 1) || !may_overlap(a, b) || !spend(L, SEARCH))
        return false;
    return aa__glob_covers_ex(a, &b, 1, AA__COVER_SKIP_EMPTY, NULL) ==
           AA__COVER_YES;
}

/* Is pat covered by the union of set[0, n)? *first gets the index of a
 * pattern of a minimal cover (the one to point at), when covered. */
static aa__cover covered(linter *L, const char *pat, const char *const *set,
                         size_t n, size_t *first, aa__buf *witness) {
    if (!spend(L, SEARCH + 8 * n)) /* the search's setup grows with n */
        return AA__COVER_UNKNOWN;
    const char **cand = malloc((n ? n : 1) * sizeof *cand);
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    if (!cand || !idx) {
        free(cand);
        free(idx);
        L->oom = true;
        return AA__COVER_NOMEM;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (may_overlap(pat, set[i])) {
            idx[m] = i;
            cand[m++] = set[i];
        }
    if (witness)
        aa__buf_reset(witness);
    aa__cover c =
        aa__glob_covers_ex(pat, cand, m, AA__COVER_SKIP_EMPTY, witness);
    if (c == AA__COVER_YES && first) {
        /* Drop patterns the cover does not need; the first left matters. */
        size_t k = 0;
        while (m > 1 && k < m && m <= 32 && spend(L, SEARCH)) {
            const char *save = cand[k];
            size_t save_i = idx[k];
            memmove(cand + k, cand + k + 1, (m - k - 1) * sizeof *cand);
            memmove(idx + k, idx + k + 1, (m - k - 1) * sizeof *idx);
            if (aa__glob_covers_ex(pat, cand, m - 1, AA__COVER_SKIP_EMPTY,
                                   NULL) == AA__COVER_YES) {
                m--;
                continue;
            }
            memmove(cand + k + 1, cand + k, (m - k - 1) * sizeof *cand);
            memmove(idx + k + 1, idx + k, (m - k - 1) * sizeof *idx);
            cand[k] = save;
            idx[k] = save_i;
            k++;
        }
        *first = m ? idx[0] : 0;
    }
    free(cand);
    free(idx);
    return c;
}

static aa__pos item_pos(const aa__strlist *l, size_t i, aa__pos dflt) {
    return l->pos ? l->pos[i] : dflt;
}

static const char **deny_texts(linter *L, const aa__profile *pr) {
    const char **d = malloc((pr->deny.count ? pr->deny.count : 1) * sizeof *d);
    if (!d) {
        L->oom = true;
        return NULL;
    }
    for (size_t i = 0; i < pr->deny.count; i++)
        d[i] = pr->deny.items[i];
    return d;
}

/* ---- profiles and roles -------------------------------------------------- */

typedef struct role_use {
    int *profiles; /* profiles whose role chain holds the role */
    size_t n;
} role_use;

static role_use *role_users(linter *L) {
    const aa_policy *p = L->p;
    role_use *u = calloc(p->nroles ? p->nroles : 1, sizeof *u);
    size_t *cap = calloc(p->nroles ? p->nroles : 1, sizeof *cap);
    if (!u || !cap) {
        free(u);
        free(cap);
        L->oom = true;
        return NULL;
    }
    for (size_t i = 0; i < p->nprofiles; i++) {
        int depth = 0;
        for (int r = p->profiles[i].role; r >= 0 && depth <= 100;
             r = p->roles[r].parent, depth++) {
            if (u[r].n == cap[r]) {
                size_t nc = cap[r] ? cap[r] * 2 : 4;
                int *n = realloc(u[r].profiles, nc * sizeof *n);
                if (!n) {
                    L->oom = true;
                    break;
                }
                u[r].profiles = n;
                cap[r] = nc;
            }
            u[r].profiles[u[r].n++] = (int)i;
        }
    }
    free(cap);
    return u;
}

static void check_profiles(linter *L, const role_use *users) {
    const aa_policy *p = L->p;
    for (size_t i = 0; i < p->nprofiles && !L->oom; i++) {
        const aa__profile *pr = &p->profiles[i];
        const char **deny = deny_texts(L, pr);
        if (!deny)
            return;
        /* allow-unreachable: own allow entries. */
        for (size_t a = 0; a < pr->allow.count && pr->deny.count; a++) {
            size_t d = 0;
            if (covered(L, pr->allow.items[a], deny, pr->deny.count, &d,
                        NULL) != AA__COVER_YES)
                continue;
            aa__pos rel = item_pos(&pr->deny, d, pr->pos);
            finding(L, C_ALLOW_UNREACHABLE, item_pos(&pr->allow, a, pr->pos),
                    &rel,
                    "allow pattern '%s' of profile '%s' is unreachable: every "
                    "action it matches is denied by the profile's deny "
                    "patterns ('%s'...)",
                    pr->allow.items[a], pr->name, deny[d]);
        }
        /* profile-empty */
        size_t ne = aa__effective_count(pr);
        bool none = ne == 0;
        if (!none && pr->deny.count) {
            none = true;
            for (size_t e = 0; e < ne && none; e++)
                none = covered(L, aa__effective_entry(pr, e)->pat.text, deny,
                               pr->deny.count, NULL, NULL) == AA__COVER_YES;
        }
        if (none)
            finding(L, C_PROFILE_EMPTY, pr->pos, NULL,
                    ne == 0 ? "profile '%s' allows nothing: it has no role "
                              "actions and no allow patterns"
                            : "profile '%s' allows nothing: its deny patterns "
                              "cover every action its role and allow list "
                              "grant",
                    pr->name);
        /* scope-unchecked */
        if (pr->scopes.count && !pr->require_scope)
            finding(L, C_SCOPE_UNCHECKED, pr->pos, NULL,
                    "profile '%s' lists scopes but not 'require_scope: "
                    "true': a request without a scope skips the scope check",
                    pr->name);
        free(deny);
    }
    /* allow-unreachable: a role action denied by every profile using it. */
    for (size_t r = 0; r < p->nroles && !L->oom; r++) {
        const aa__role *ro = &p->roles[r];
        if (!users[r].n)
            continue;
        for (size_t a = 0; a < ro->actions.count && L->budget; a++) {
            bool all = true;
            aa__pos rel = {0, 0};
            for (size_t k = 0; k < users[r].n && all; k++) {
                const aa__profile *pr = &p->profiles[users[r].profiles[k]];
                if (!pr->deny.count) {
                    all = false;
                    break;
                }
                const char **deny = deny_texts(L, pr);
                size_t d = 0;
                all =
                    deny && covered(L, ro->actions.items[a], deny,
                                    pr->deny.count, &d, NULL) == AA__COVER_YES;
                if (all && k == 0)
                    rel = item_pos(&pr->deny, d, pr->pos);
                free(deny);
            }
            if (all)
                finding(L, C_ALLOW_UNREACHABLE,
                        item_pos(&ro->actions, a, ro->pos), &rel,
                        "action '%s' of role '%s' is unreachable: every "
                        "profile that uses the role (%zu) denies every "
                        "action it matches",
                        ro->actions.items[a], ro->name, users[r].n);
        }
    }
    /* role-unused */
    for (size_t r = 0; r < p->nroles; r++)
        if (!users[r].n)
            finding(L, C_ROLE_UNUSED, p->roles[r].pos, NULL,
                    "role '%s' is used by no profile (directly or through "
                    "extends)",
                    p->roles[r].name);
}

/* ---- pattern-redundant --------------------------------------------------- */

typedef struct pref {
    const char *pat;
    aa__pos pos;
} pref;

/* Reports each pattern of own[] that lies within another of own[] (the
 * later one of two equal ones) or within one of outer[] (which comes
 * first in the effective set). */
static void redundant(linter *L, const pref *own, size_t n, const pref *outer,
                      size_t nouter, const char *what) {
    for (size_t i = 0; i < n && !L->oom && L->budget; i++) {
        const pref *by = NULL;
        for (size_t j = 0; j < nouter && !by && L->budget; j++)
            if (within(L, own[i].pat, outer[j].pat))
                by = &outer[j];
        for (size_t j = 0; j < n && !by && L->budget; j++)
            if (j != i && within(L, own[i].pat, own[j].pat) &&
                (j < i || !within(L, own[j].pat, own[i].pat)))
                by = &own[j];
        if (by)
            finding(L, C_PATTERN_REDUNDANT, own[i].pos, &by->pos,
                    "pattern '%s' in %s is redundant: '%s' (line %d) "
                    "already matches everything it matches",
                    own[i].pat, what, by->pat, by->pos.line);
    }
}

static pref *prefs(linter *L, const aa__strlist *l, aa__pos dflt) {
    pref *r = malloc((l->count ? l->count : 1) * sizeof *r);
    if (!r) {
        L->oom = true;
        return NULL;
    }
    for (size_t i = 0; i < l->count; i++)
        r[i] = (pref){l->items[i], item_pos(l, i, dflt)};
    return r;
}

/* The actions of a role's ancestors (not its own). */
static pref *ancestor_actions(linter *L, int role, size_t *n) {
    const aa_policy *p = L->p;
    size_t total = 0;
    int depth = 0;
    for (int r = p->roles[role].parent; r >= 0 && depth <= 100;
         r = p->roles[r].parent, depth++)
        total += p->roles[r].actions.count;
    pref *out = malloc((total ? total : 1) * sizeof *out);
    if (!out) {
        L->oom = true;
        return NULL;
    }
    *n = 0;
    depth = 0;
    for (int r = p->roles[role].parent; r >= 0 && depth <= 100;
         r = p->roles[r].parent, depth++)
        for (size_t i = 0; i < p->roles[r].actions.count; i++)
            out[(*n)++] =
                (pref){p->roles[r].actions.items[i],
                       item_pos(&p->roles[r].actions, i, p->roles[r].pos)};
    return out;
}

static void check_redundant(linter *L) {
    const aa_policy *p = L->p;
    char what[300];
    for (size_t r = 0; r < p->nroles && !L->oom; r++) {
        const aa__role *ro = &p->roles[r];
        size_t na = 0;
        pref *own = prefs(L, &ro->actions, ro->pos);
        pref *anc = ancestor_actions(L, (int)r, &na);
        snprintf(what, sizeof what, "the actions of role '%s'", ro->name);
        if (own && anc)
            redundant(L, own, ro->actions.count, anc, na, what);
        free(own);
        free(anc);
    }
    for (size_t i = 0; i < p->nprofiles && !L->oom; i++) {
        const aa__profile *pr = &p->profiles[i];
        size_t nchain = 0;
        pref *chain = NULL;
        if (pr->role >= 0) {
            pref *anc = ancestor_actions(L, pr->role, &nchain);
            const aa__role *ro = &p->roles[pr->role];
            chain = malloc((nchain + ro->actions.count + 1) * sizeof *chain);
            if (chain && anc) {
                for (size_t k = 0; k < ro->actions.count; k++)
                    chain[k] = (pref){ro->actions.items[k],
                                      item_pos(&ro->actions, k, ro->pos)};
                memcpy(chain + ro->actions.count, anc, nchain * sizeof *anc);
                nchain += ro->actions.count;
            } else {
                L->oom = true;
            }
            free(anc);
        }
        pref *allow = prefs(L, &pr->allow, pr->pos);
        pref *deny = prefs(L, &pr->deny, pr->pos);
        pref *scopes = prefs(L, &pr->scopes, pr->pos);
        if (allow && deny && scopes && !L->oom) {
            snprintf(what, sizeof what, "the allow list of profile '%s'",
                     pr->name);
            redundant(L, allow, pr->allow.count, chain, nchain, what);
            snprintf(what, sizeof what, "the deny list of profile '%s'",
                     pr->name);
            redundant(L, deny, pr->deny.count, NULL, 0, what);
            snprintf(what, sizeof what, "the scopes of profile '%s'", pr->name);
            redundant(L, scopes, pr->scopes.count, NULL, 0, what);
        }
        free(chain);
        free(allow);
        free(deny);
        free(scopes);
    }
    for (size_t i = 0; i < p->delegation.nrules && !L->oom; i++) {
        const aa__drule *d = &p->delegation.rules[i];
        pref *own = prefs(L, &d->allowed_actions, d->pos);
        snprintf(what, sizeof what,
                 "the allowed_actions of delegation rule '%s'", d->name);
        if (own)
            redundant(L, own, d->allowed_actions.count, NULL, 0, what);
        free(own);
    }
}

/* ---- delegation-rule-wide ------------------------------------------------ */

static void check_delegation(linter *L) {
    const aa_policy *p = L->p;
    if (!p->delegation.enabled || !p->delegation.nrules)
        return;
    aa__map seen;
    aa__map_init(&seen);
    size_t total = 0, n = 0;
    for (size_t i = 0; i < p->nprofiles; i++)
        total += aa__effective_count(&p->profiles[i]);
    const char **all = malloc((total ? total : 1) * sizeof *all);
    if (!all) {
        L->oom = true;
        return;
    }
    for (size_t i = 0; i < p->nprofiles; i++) {
        const aa__profile *pr = &p->profiles[i];
        for (size_t e = 0; e < aa__effective_count(pr); e++) {
            const char *t = aa__effective_entry(pr, e)->pat.text;
            if (aa__map_get(&seen, t, strlen(t)))
                continue;
            if (!aa__map_put(&seen, t, strlen(t), (void *)t)) {
                L->oom = true;
                break;
            }
            all[n++] = t;
        }
    }
    for (size_t i = 0; i < p->delegation.nrules && !L->oom; i++) {
        const aa__drule *d = &p->delegation.rules[i];
        size_t np = d->allowed_actions.count ? d->allowed_actions.count : 1;
        for (size_t k = 0; k < np; k++) {
            const char *pat =
                d->allowed_actions.count ? d->allowed_actions.items[k] : "*";
            aa__pos at = d->allowed_actions.count
                             ? item_pos(&d->allowed_actions, k, d->pos)
                             : d->pos;
            if (covered(L, pat, all, n, NULL, &L->witness) != AA__COVER_NO)
                continue;
            finding(L, C_DELEGATION_RULE_WIDE, at, NULL,
                    "delegation rule '%s' allows '%s'%s, which is not within "
                    "the actions of any profile: a grant under it could "
                    "permit e.g. '%s', which no profile has",
                    d->name, pat,
                    d->allowed_actions.count ? "" : " (no allowed_actions)",
                    L->witness.data ? L->witness.data : "");
        }
    }
    free(all);
    aa__map_free(&seen);
}

/* ---- conditions ---------------------------------------------------------- */

static aa__dom_kind meta_dom(void *ud, const char *key, size_t len) {
    const aa_policy *p = ud;
    const aa__meta_decl *d = aa__map_get(&p->meta_decl_by_key, key, len);
    if (!d)
        return AA__DOM_ANY;
    switch (d->type) {
    case AA__MT_STRING:
        return AA__DOM_STRING;
    case AA__MT_NUMBER:
        return AA__DOM_NUMBER;
    case AA__MT_BOOL:
        return AA__DOM_BOOL;
    default:
        return AA__DOM_LIST;
    }
}

/* condition-constant for one condition; errors_match: an evaluation error
 * counts as matched (approval and A2A deny policies). */
static void constant(linter *L, const aa__cond_facts *f, bool errors_match,
                     aa__pos at, const char *what) {
    bool nt = aa__cond_never_true(f), nf = aa__cond_never_false(f),
         ne = aa__cond_never_error(f);
    if (nt && (ne || !errors_match))
        finding(L, C_CONDITION_CONSTANT, at, NULL,
                "the condition of %s is always false: it never matches", what);
    else if (nt)
        finding(L, C_CONDITION_CONSTANT, at, NULL,
                "the condition of %s is never true: it matches only when it "
                "cannot be evaluated (a value of the wrong kind)",
                what);
    else if (nf && ne)
        finding(L, C_CONDITION_CONSTANT, at, NULL,
                "the condition of %s is always true", what);
    else if (nf && errors_match)
        finding(L, C_CONDITION_CONSTANT, at, NULL,
                "the condition of %s always matches (it is true or cannot be "
                "evaluated)",
                what);
}

/* Exact action values an approval condition is pinned to, or 0. */
static size_t exact_pins(const aa__approval *a, const char *const **vals) {
    size_t n = 0, nexact = 0;
    if (!a->cond || !aa__expr_pins(a->cond, AA__F_ACTION, vals, &n, &nexact) ||
        nexact != n)
        return 0;
    return n;
}

static bool pinned_within(const char *const *pv, size_t pn,
                          const char *const *qv, size_t qn) {
    for (size_t i = 0; i < pn; i++) {
        bool found = false;
        for (size_t j = 0; j < qn && !found; j++)
            found = strcmp(pv[i], qv[j]) == 0;
        if (!found)
            return false;
    }
    return true;
}

static void check_approvals(linter *L) {
    const aa_policy *p = L->p;
    size_t n = p->napprovals;
    aa__cond_facts **facts = calloc(n ? n : 1, sizeof *facts);
    if (!facts) {
        L->oom = true;
        return;
    }
    char what[200];
    for (size_t i = 0; i < n; i++) {
        const aa__approval *a = &p->approvals[i];
        facts[i] = aa__cond_analyze(a->cond, meta_dom, (void *)p, &L->scratch);
        if (!facts[i]) {
            L->oom = true;
            break;
        }
        snprintf(what, sizeof what, "approval policy '%s'", a->name);
        if (a->cond && !aa__expr_is_empty(a->cond))
            constant(L, facts[i], true, a->cond_pos, what);
    }
    for (size_t i = 0; i < n && !L->oom; i++) {
        const aa__approval *a = &p->approvals[i];
        if (a->tier == AA_TIER_AUTONOMOUS)
            continue;
        if (aa__cond_never_true(facts[i]) && aa__cond_never_error(facts[i])) {
            finding(L, C_APPROVAL_NEVER_DECIDES, a->pos, NULL,
                    "approval policy '%s' never decides the tier: its "
                    "condition never matches",
                    a->name);
            continue;
        }
        const char *const *pv = NULL;
        size_t pn = exact_pins(a, &pv);
        const aa__approval *by = NULL;
        for (size_t k = 0; k < n && !by && spend(L, IMPLIES); k++) {
            const aa__approval *q = &p->approvals[k];
            if (k == i || q->tier < a->tier || (q->tier == a->tier && k > i))
                continue;
            const char *const *qv = NULL;
            size_t qn = exact_pins(q, &qv);
            if (qn && (!pn || !pinned_within(pv, pn, qv, qn)))
                continue; /* q is about other actions */
            if (aa__cond_implies(facts[i], facts[k]))
                by = q;
        }
        if (by)
            finding(L, C_APPROVAL_NEVER_DECIDES, a->pos, &by->pos,
                    "approval policy '%s' (%s) never decides the tier: '%s' "
                    "(%s%s) matches whenever it does",
                    a->name, aa_tier_name(a->tier), by->name,
                    aa_tier_name(by->tier),
                    by->tier == a->tier ? ", earlier" : "");
    }
    free(facts);
}

static void check_a2a(linter *L) {
    const aa_policy *p = L->p;
    size_t n = p->a2a.npolicies;
    aa__cond_facts **facts = calloc(n ? n : 1, sizeof *facts);
    if (!facts) {
        L->oom = true;
        return;
    }
    char what[200];
    for (size_t j = 0; j < n && !L->oom; j++) {
        const aa__a2a *x = &p->a2a.policies[j];
        facts[j] = aa__cond_analyze(x->cond, meta_dom, (void *)p, &L->scratch);
        if (!facts[j]) {
            L->oom = true;
            break;
        }
        if (x->cond && !aa__expr_is_empty(x->cond)) {
            snprintf(what, sizeof what, "A2A policy '%s'", x->name);
            constant(L, facts[j], !x->allow, x->cond_pos, what);
        }
        /* An earlier deny that matches whenever x does (a deny's condition
         * matches on an evaluation error too; x's matches at most then). */
        const aa__a2a *by = NULL;
        for (size_t i = 0; i < j && !by && spend(L, IMPLIES); i++) {
            const aa__a2a *d = &p->a2a.policies[i];
            if (d->allow || !within(L, x->from_agent, d->from_agent) ||
                !within(L, x->to_agent, d->to_agent) ||
                !within(L, x->action, d->action))
                continue;
            if (aa__cond_implies(facts[j], facts[i]))
                by = d;
        }
        if (by)
            finding(L, C_A2A_SHADOWED, x->pos, &by->pos,
                    "A2A policy '%s' never takes effect: the earlier deny "
                    "policy '%s' matches every call it matches%s",
                    x->name, by->name,
                    by->cond && !aa__expr_is_empty(by->cond)
                        ? " (its condition holds whenever this one's does)"
                        : "");
        else if (x->allow && p->a2a.default_allow)
            finding(L, C_A2A_SHADOWED, x->pos,
                    p->a2a.default_pos.line ? &p->a2a.default_pos : NULL,
                    "A2A allow policy '%s' changes nothing: 'a2a.default: "
                    "allow' already allows every call it matches",
                    x->name);
    }
    free(facts);
}

/* ---- running ------------------------------------------------------------- */

static int by_position(const void *a, const void *b) {
    const aa_lint_finding *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->column != y->column)
        return x->column < y->column ? -1 : 1;
    return strcmp(x->code, y->code);
}

static int setup(linter *L, const char *name, const aa_lint_options *opts,
                 aa_error *err) {
    memset(L, 0, sizeof *L);
    aa__arena_init(&L->scratch);
    aa__buf_init(&L->witness);
    L->r = calloc(1, sizeof *L->r);
    if (!L->r)
        return aa__fail(err, AA_ENOMEM, "out of memory");
    aa__arena_init(&L->r->arena);
    L->file = aa__arena_strdup(&L->r->arena, name);
    if (!L->file)
        return aa__fail(err, AA_ENOMEM, "out of memory");
    for (size_t i = 0; opts && i < opts->n_disabled; i++) {
        const char *c = opts->disabled ? opts->disabled[i] : NULL;
        size_t k = 0;
        while (k < C_COUNT && (!c || strcmp(c, codes[k].code) != 0))
            k++;
        if (k == C_COUNT)
            return aa__fail(err, AA_EINVAL, "unknown lint code '%s'",
                            c ? c : "(null)");
        L->off[k] = true;
    }
    return AA_OK;
}

static int finish(linter *L, int rc, aa_lint_report **out, aa_error *err) {
    aa__arena_free(&L->scratch);
    aa__buf_free(&L->witness);
    if (rc == AA_OK && L->oom)
        rc = aa__fail(err, AA_ENOMEM, "out of memory linting %s", L->file);
    if (rc != AA_OK) {
        aa_lint_report_free(L->r);
        return rc;
    }
    if (L->r->count)
        qsort(L->r->items, L->r->count, sizeof *L->r->items, by_position);
    *out = L->r;
    return AA_OK;
}

/* Lints a loaded policy (or only its load messages when p is NULL). */
static void analyse(linter *L, const aa_policy *p, const aa_error *load) {
    from_load(L, load);
    if (!p)
        return;
    L->p = p;
    role_use *users = role_users(L);
    L->budget = LINT_BUDGET; /* each check has its own */
    if (users) {
        check_profiles(L, users);
        for (size_t r = 0; r < p->nroles; r++)
            free(users[r].profiles);
        free(users);
    }
    L->budget = LINT_BUDGET;
    check_redundant(L);
    L->budget = LINT_BUDGET;
    check_approvals(L);
    L->budget = LINT_BUDGET;
    check_a2a(L);
    L->budget = LINT_BUDGET;
    check_delegation(L);
}

static int lint_common(const char *path, const char *data, size_t len,
                       const char *name, const aa_lint_options *opts,
                       aa_lint_report **out, aa_error *err) {
    if (!out)
        return aa__fail(err, AA_EINVAL, "aa_lint: out is NULL");
    *out = NULL;
    aa_lint_options own;
    opts = aa__options_copy(&own, sizeof own, opts);
    linter L;
    int rc = setup(&L, path ? path : name, opts, err);
    if (rc != AA_OK)
        return finish(&L, rc, out, err);
    aa_load_options lo;
    aa_load_options_init(&lo);
    if (opts && opts->load)
        aa__options_copy(&lo, sizeof lo, opts->load);
    lo.strict = 0;
    aa_error *le = aa_error_new();
    if (!le)
        return finish(&L, aa__fail(err, AA_ENOMEM, "out of memory"), out, err);
    aa_policy *p = NULL;
    rc = path ? aa_policy_load_file(path, &lo, &p, le)
              : aa_policy_load_buffer(data, len, name, &lo, &p, le);
    if (rc == AA_EIO || rc == AA_ENOMEM || rc == AA_EINVAL) {
        for (size_t i = 0; i < aa_error_count(le); i++) {
            const aa_diag *d = aa_error_get(le, i);
            aa__error_add(err, d->severity, d->status, d->file, d->line,
                          d->column, "%s", d->message);
        }
        aa_error_free(le);
        return finish(&L, rc, out, err);
    }
    analyse(&L, p, le);
    aa_policy_free(p);
    aa_error_free(le);
    return finish(&L, AA_OK, out, err);
}

int aa_lint_file(const char *path, const aa_lint_options *opts,
                 aa_lint_report **out, aa_error *err) {
    if (aa__empty(path))
        return aa__fail(err, AA_EINVAL, "no policy file name given");
    return lint_common(path, NULL, 0, NULL, opts, out, err);
}

int aa_lint_buffer(const char *data, size_t len, const char *name,
                   const aa_lint_options *opts, aa_lint_report **out,
                   aa_error *err) {
    if (!data && len)
        return aa__fail(err, AA_EINVAL, "aa_lint_buffer: data is NULL");
    return lint_common(NULL, data ? data : "", len, name ? name : "<memory>",
                       opts, out, err);
}
