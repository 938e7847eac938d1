/*
 * policy_diff.c - what a policy change does (docs/diff.md): the semantic
 * difference of two loaded policies, per agent profile, and the replay of
 * requests under both.
 *
 * Allowed actions are compared as languages: a profile allows
 * A = (union of its effective patterns) minus (union of its denies), so a
 * string NEW allows and OLD does not lies in an effective pattern e of NEW,
 * outside NEW's denies, and either outside OLD's effective patterns or
 * inside one of OLD's denies: aa__glob_diff finds it (e minus (D_new, E_old),
 * or e and d_old minus D_new). Scopes the same way. Approval and A2A
 * policies are matched between the two files by what decides (tier and
 * condition; patterns, effect and condition); those left over are the
 * changes, reported for every profile they can apply to. Each difference
 * carries an example request, decided under both policies by two engines;
 * when the example does not show it, the difference is `possible`.
 */
#include "audit.h"
#include "policy.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIFF_USER      "user"
#define DIFF_MAX_PAIRS 256 /* pattern pairs tried for an example action */

struct aa_diff {
    aa__arena arena;
    aa_diff_item *items;
    size_t n, cap;
    bool oom;
};

/* ---- names -------------------------------------------------------------- */

const char *aa_diff_class_name(aa_diff_class c) {
    static const char *const names[] = {"same", "reason", "change", "widen"};
    return (unsigned)c < AA__ARRAY_LEN(names) ? names[c] : "?";
}

const char *aa_diff_kind_name(aa_diff_kind k) {
    static const char *const names[] = {"allowed", "denied", "tier",
                                        "scope",   "a2a",    "metadata"};
    return (unsigned)k < AA__ARRAY_LEN(names) ? names[k] : "?";
}

void aa_diff_options_init(aa_diff_options *opts) {
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->size = sizeof *opts;
}

/* ---- the context -------------------------------------------------------- */

typedef struct side {
    const aa_policy *p;
    aa_store *store;
    aa_engine *engine;
} side;

typedef struct dctx {
    side o, n;
    aa_diff *d;
    aa_decision *dec;
    aa__buf w, msg, src;
    const char **set; /* scratch pattern list */
    size_t nset, capset;
    bool vars_same;
    bool hide_reason;
    bool undecided; /* the last action_both gave up (bounds), not "none" */
    bool oom;
    /* Work left for the coverage searches: one costs SEARCH units and 8
     * more per pattern it is given. Past it every question is undecided
     * (a possible difference, never none): two policies with tens of
     * thousands of patterns each are compared in seconds, not hours. */
    size_t budget;
} dctx;

#define SEARCH      64
#define DIFF_BUDGET ((size_t)250000 * SEARCH)

static char *keep(dctx *c, const char *s) {
    if (!s)
        return NULL;
    char *r = aa__arena_strdup(&c->d->arena, s);
    if (!r)
        c->oom = true;
    return r;
}

static void set_reset(dctx *c) {
    c->nset = 0;
}

static void set_push(dctx *c, const char *s) {
    if (c->nset == c->capset) {
        size_t cap = c->capset ? c->capset * 2 : 64;
        const char **a = realloc(c->set, cap * sizeof *a);
        if (!a) {
            c->oom = true;
            return;
        }
        c->set = a;
        c->capset = cap;
    }
    c->set[c->nset++] = s;
}

static void set_push_patset(dctx *c, const aa__patset *s) {
    for (size_t i = 0; s && i < s->count; i++)
        set_push(c, s->entries[i].pat.text);
}

static void set_push_effective(dctx *c, const aa__profile *pr) {
    for (size_t i = 0; i < aa__effective_count(pr); i++)
        set_push(c, aa__effective_entry(pr, i)->pat.text);
}

static void set_push_list(dctx *c, const aa__strlist *l) {
    for (size_t i = 0; l && i < l->count; i++)
        set_push(c, l->items[i]);
}

/* A new item; its strings are copied. NULL when out of memory. */
static aa_diff_item *add_item(dctx *c, aa_diff_kind kind, aa_diff_class cls,
                              const char *agent, const char *const *pats,
                              size_t npats, const char *message) {
    aa_diff *d = c->d;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 32;
        aa_diff_item *a = realloc(d->items, cap * sizeof *a);
        if (!a) {
            c->oom = true;
            return NULL;
        }
        d->items = a;
        d->cap = cap;
    }
    const char **p =
        aa__arena_alloc(&d->arena, (npats ? npats : 1) * sizeof *p);
    if (!p) {
        c->oom = true;
        return NULL;
    }
    for (size_t i = 0; i < npats; i++)
        p[i] = keep(c, pats[i]);
    aa_diff_item *it = &d->items[d->n++];
    memset(it, 0, sizeof *it);
    it->kind = kind;
    it->cls = cls;
    it->agent = keep(c, agent);
    it->patterns = p;
    it->pattern_count = npats;
    it->message = keep(c, message);
    it->possible = 1;
    return it;
}

static void set_source(dctx *c, aa_diff_item *it, const aa_policy *p,
                       const char *text, aa__pos pos) {
    if (!it)
        return;
    it->source = keep(c, text);
    it->source_file = keep(c, p->file);
    it->source_line = pos.line;
    it->source_column = pos.col;
}

/* ---- example requests --------------------------------------------------- */

/* A value of each request_metadata type, for the keys an action needs. */
static const aa_meta meta_value[] = {
    [AA__MT_STRING] = {.type = AA_VALUE_STRING, .string = "x"},
    [AA__MT_NUMBER] = {.type = AA_VALUE_NUMBER, .number = 1},
    [AA__MT_BOOL] = {.type = AA_VALUE_BOOL, .boolean = 1},
    [AA__MT_LIST] = {.type = AA_VALUE_LIST, .count = 0},
};

/* The metadata an example for `action` carries: every key that NEW (first)
 * or OLD requires for it, with a value of the declared type. */
static size_t example_meta(dctx *c, const char *action, aa_meta *out,
                           size_t cap) {
    size_t n = 0, alen = strlen(action);
    const aa_policy *ps[2] = {c->n.p, c->o.p};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < ps[k]->nmeta_decls && n < cap; i++) {
            const aa__meta_decl *m = &ps[k]->meta_decls[i];
            if (!aa__patset_match(&m->required, action, alen))
                continue;
            bool seen = false;
            for (size_t j = 0; j < n && !seen; j++)
                seen = strcmp(out[j].key, m->key) == 0;
            if (seen)
                continue;
            out[n] = meta_value[m->type];
            out[n].key = m->key;
            n++;
        }
    return n;
}

/* Decides the example of `it` under both policies and sets possible when
 * it does not show what `it` claims. */
static void decide_example_meta(dctx *c, aa_diff_item *it, const char *agent,
                                const char *action, const char *scope,
                                const char *target, const aa_meta *extra) {
    if (!it || !action)
        return;
    aa_meta meta[16];
    aa_request req = {.agent = agent,
                      .user = DIFF_USER,
                      .action = action,
                      .scope = scope,
                      .target_agent = target,
                      .metadata = meta};
    req.metadata_count = example_meta(c, action, meta, AA__ARRAY_LEN(meta));
    if (extra) { /* a value a condition asks for, unless a key is taken */
        bool seen = false;
        for (size_t i = 0; i < req.metadata_count && !seen; i++)
            seen = strcmp(meta[i].key, extra->key) == 0;
        if (!seen && req.metadata_count < AA__ARRAY_LEN(meta))
            meta[req.metadata_count++] = *extra;
    }
    it->example_action = keep(c, action);
    if (req.metadata_count) {
        aa_meta *m =
            aa__arena_alloc(&c->d->arena, req.metadata_count * sizeof *m);
        if (!m) {
            c->oom = true;
            return;
        }
        for (size_t i = 0; i < req.metadata_count; i++) {
            m[i] = meta[i];
            m[i].key = keep(c, meta[i].key);
            m[i].string = keep(c, meta[i].string);
        }
        it->example_metadata = m;
        it->example_metadata_count = req.metadata_count;
    }
    it->example_scope = keep(c, scope);
    it->example_target = keep(c, target);
    aa_authorize(c->o.engine, &req, c->dec);
    it->old_allowed = aa_decision_allowed(c->dec);
    it->old_tier = aa_decision_tier(c->dec);
    aa_authorize(c->n.engine, &req, c->dec);
    it->new_allowed = aa_decision_allowed(c->dec);
    it->new_tier = aa_decision_tier(c->dec);
    int oa = it->old_allowed, na = it->new_allowed;
    bool widens = (!oa && na) || (oa && na && it->new_tier < it->old_tier);
    bool changes = oa != na || (oa && it->old_tier != it->new_tier);
    bool shown = it->cls == AA_DIFF_WIDEN ? widens : changes;
    if (it->kind == AA_DIFF_ALLOWED)
        shown = shown && !oa && na;
    else if (it->kind == AA_DIFF_DENIED)
        shown = shown && oa && !na;
    else if (it->kind == AA_DIFF_TIER)
        shown = shown && oa && na;
    it->possible = !shown;
}

static void decide_example(dctx *c, aa_diff_item *it, const char *agent,
                           const char *action, const char *scope,
                           const char *target) {
    decide_example_meta(c, it, agent, action, scope, target, NULL);
}

/* A metadata value that condition e can only be true with (`metadata.env
 * == "prod"`, `env in $envs`), into *m (its key in buf); false if none. */
static bool condition_meta(const aa__expr *e, aa_meta *m, char *buf,
                           size_t cap) {
    const char *key;
    size_t klen, n;
    const char *const *vals;
    if (!e || !aa__expr_meta_pin(e, &key, &klen, &vals, &n) || !n ||
        klen >= cap)
        return false;
    memcpy(buf, key, klen);
    buf[klen] = 0;
    *m = (aa_meta){.key = buf, .type = AA_VALUE_STRING, .string = vals[0]};
    return true;
}

/* Decides the example of a changed approval or A2A policy: without
 * metadata, then with the value each side's condition asks for, until one
 * shows the difference. */
static void decide_condition_example(dctx *c, aa_diff_item *it,
                                     const char *agent, const char *action,
                                     const char *scope, const char *target,
                                     const aa__expr *ea, const aa__expr *eb) {
    decide_example(c, it, agent, action, scope, target);
    const aa__expr *es[2] = {ea, eb};
    for (int k = 0; k < 2 && it && it->possible && action; k++) {
        aa_meta m;
        char key[256];
        if (condition_meta(es[k], &m, key, sizeof key))
            decide_example_meta(c, it, agent, action, scope, target, &m);
    }
}

/* aa__glob_diff with a readable witness: when there is one, a `*` of pat
 * is tried as "one character or more" first, so that the example reads
 * `deploy:a` rather than `deploy:`. */
static aa__cover gdiff(dctx *c, const char *pat, const char *const *also,
                       size_t nalso, unsigned flags) {
    size_t cost = SEARCH + 8 * (c->nset + nalso);
    if (c->budget < cost) {
        c->budget = 0;
        return AA__COVER_UNKNOWN;
    }
    c->budget -= cost;
    aa__cover r =
        aa__glob_diff(pat, also, nalso, c->set, c->nset, flags, &c->w);
    if (r != AA__COVER_NO || !strchr(pat, '*'))
        return r;
    aa__buf g;
    aa__buf_init(&g);
    for (const char *p = pat; *p; p++)
        if (*p == '*')
            aa__buf_puts(&g, "?*");
        else
            aa__buf_putc(&g, *p);
    aa__buf w2;
    aa__buf_init(&w2);
    if (!g.oom &&
        aa__glob_diff(g.data, also, nalso, c->set, c->nset, flags, &w2) ==
            AA__COVER_NO &&
        !w2.oom) {
        aa__buf_reset(&c->w);
        aa__buf_append(&c->w, w2.data, w2.len);
    }
    aa__buf_free(&g);
    aa__buf_free(&w2);
    return r;
}

/* A string in pat (and `also`, when not NULL) outside the scratch set, into
 * c->w; false when there is none or it was not decided. */
static bool witness(dctx *c, const char *pat, const char *also,
                    unsigned flags) {
    const char *a[1] = {also};
    return gdiff(c, pat, a, also ? 1 : 0, flags) == AA__COVER_NO;
}

/* An action both profiles allow, within `within` (NULL: any), copied into
 * the diff's arena; NULL when none was found. */
static bool allows(const aa__profile *p, const char *action) {
    size_t n = strlen(action);
    return aa__effective_match(p, action, n, aa__hash(action, n)) &&
           !aa__patset_match(&p->denied, action, n);
}

static bool is_wild(char ch) {
    return ch == '*' || ch == '?' || ch == '[';
}

/* False when globs a and b cannot match a common string because their
 * literal beginnings differ: a cheap test before the automata. */
static bool prefix_compatible(const char *a, const char *b) {
    if (!a || !b)
        return true;
    while (*a && *b && !is_wild(*a) && !is_wild(*b)) {
        if (*a != *b)
            return false;
        a++;
        b++;
    }
    if (!*a && !*b)
        return true;
    if (!*a) /* a's language is one string, shorter than b's literal part */
        return is_wild(*b);
    if (!*b)
        return is_wild(*a);
    return true;
}

static const char *action_both(dctx *c, const aa__profile *po,
                               const aa__profile *pn, const char *within) {
    c->undecided = false;
    if (!po || !pn)
        return NULL;
    if (within && !aa__has_wildcard(within)) /* one string: just decide it */
        return allows(po, within) && allows(pn, within) ? keep(c, within)
                                                        : NULL;
    size_t tries = 0;
    for (size_t i = 0; i < aa__effective_count(pn); i++) {
        const char *en = aa__effective_entry(pn, i)->pat.text;
        if (!prefix_compatible(en, within))
            continue;
        for (size_t j = 0; j < aa__effective_count(po); j++) {
            const char *eo = aa__effective_entry(po, j)->pat.text;
            if (!prefix_compatible(eo, within) || !prefix_compatible(en, eo))
                continue;
            if (++tries > DIFF_MAX_PAIRS) {
                c->undecided = true;
                return NULL;
            }
            const char *also[2] = {eo, within};
            set_reset(c);
            set_push_patset(c, &pn->denied);
            set_push_patset(c, &po->denied);
            aa__cover r =
                gdiff(c, en, also, within ? 2 : 1, AA__COVER_SKIP_EMPTY);
            if (r == AA__COVER_NO)
                return keep(c, c->w.data ? c->w.data : "");
            if (r != AA__COVER_YES)
                c->undecided = true; /* keep looking; say so if none */
        }
    }
    return NULL;
}

/* A scope both profiles accept when one of them requires a scope (NULL
 * otherwise: the example then carries none). Either profile may be NULL. */
static const char *scope_for(dctx *c, const aa__profile *a,
                             const aa__profile *b) {
    bool need = (a && a->require_scope) || (b && b->require_scope);
    if (!need)
        return NULL;
    const aa__strlist *la = a ? &a->scopes : NULL, *lb = b ? &b->scopes : NULL;
    size_t na = la && la->count ? la->count : 1;
    size_t nb = lb && lb->count ? lb->count : 1;
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++) {
            const char *pa = la && la->count ? la->items[i] : "*";
            const char *pb = lb && lb->count ? lb->items[j] : "*";
            set_reset(c);
            if (witness(c, pa, pb, AA__COVER_SKIP_EMPTY))
                return keep(c, c->w.data);
        }
    return "example";
}

/* ---- sources ------------------------------------------------------------ */

/* "`deploy:*` in role editor" for effective entry i of profile pr. */
static aa__pos origin_text(const aa_policy *p, const aa__profile *pr, size_t i,
                           aa__buf *out) {
    const aa__patset_entry *e = aa__effective_entry(pr, i);
    aa__origin o = aa__effective_origin(e);
    const char *pat = e->pat.text;
    aa__pos pos = pr->pos;
    if (o.role >= 0) {
        const aa__role *r = &p->roles[o.role];
        aa__buf_printf(out, "`%s` in role %s", pat, r->name);
        pos = r->actions.pos ? r->actions.pos[o.index] : r->pos;
    } else {
        aa__buf_printf(out, "`%s` in the allow list of profile %s", pat,
                       pr->name);
        if (pr->allow.pos)
            pos = pr->allow.pos[o.index];
    }
    return pos;
}

static aa__pos list_pos(const aa__strlist *l, size_t i, aa__pos dflt) {
    return l->pos ? l->pos[i] : dflt;
}

/* ---- actions ------------------------------------------------------------ */

/* Actions that `g` (the gaining side: NEW for newly allowed, OLD for newly
 * denied) allows and `l` does not, one item per pattern of g that shows
 * some. */
static void diff_actions(dctx *c, const char *agent, const aa__profile *po,
                         const aa__profile *pn, bool allowed) {
    const aa__profile *g = allowed ? pn : po, *l = allowed ? po : pn;
    const aa_policy *gp = allowed ? c->n.p : c->o.p;
    const aa_policy *lp = allowed ? c->o.p : c->n.p;
    if (!g)
        return;
    for (size_t i = 0; i < aa__effective_count(g); i++) {
        const char *e = aa__effective_entry(g, i)->pat.text;
        set_reset(c);
        set_push_patset(c, &g->denied);
        if (l)
            set_push_effective(c, l);
        const char *via = NULL; /* the deny of l that made the difference */
        aa__pos via_pos = {0, 0};
        aa__cover r = gdiff(c, e, NULL, 0, AA__COVER_SKIP_EMPTY);
        if (r == AA__COVER_YES && l) {
            for (size_t j = 0; j < l->deny.count && r == AA__COVER_YES; j++) {
                set_reset(c);
                set_push_patset(c, &g->denied);
                const char *d = l->deny.items[j];
                const char *also[1] = {d};
                r = gdiff(c, e, also, 1, AA__COVER_SKIP_EMPTY);
                if (r != AA__COVER_YES) {
                    via = d;
                    via_pos = list_pos(&l->deny, j, l->pos);
                }
            }
        }
        if (c->oom || r == AA__COVER_YES)
            continue;
        const char *ex = r == AA__COVER_NO ? c->w.data : NULL;
        aa__buf_reset(&c->msg);
        if (ex)
            aa__buf_printf(&c->msg, "%s may %s do `%s`", agent,
                           allowed ? "now" : "no longer", ex);
        else
            aa__buf_printf(&c->msg, "%s may %s do some of `%s` (undecided)",
                           agent, allowed ? "now" : "no longer", e);
        const char *pats[1] = {e};
        char *example = keep(c, ex);
        aa_diff_item *it =
            add_item(c, allowed ? AA_DIFF_ALLOWED : AA_DIFF_DENIED,
                     allowed ? AA_DIFF_WIDEN : AA_DIFF_CHANGE, agent, pats, 1,
                     c->msg.data);
        aa__buf_reset(&c->src);
        if (!allowed && via) {
            aa__buf_printf(&c->src, "denied by `%s` in profile %s", via,
                           l->name);
            set_source(c, it, lp, c->src.data, via_pos);
        } else {
            aa__buf_puts(&c->src, allowed ? "allowed by " : "was allowed by ");
            aa__pos pos = origin_text(gp, g, i, &c->src);
            if (via)
                aa__buf_printf(&c->src, "; OLD denied it by `%s` in profile %s",
                               via, l->name);
            set_source(c, it, gp, c->src.data, pos);
        }
        const char *scope = scope_for(c, g, NULL);
        decide_example(c, it, agent, example, scope, NULL);
    }
}

/* ---- scopes ------------------------------------------------------------- */

static void diff_scope_side(dctx *c, const char *agent, const aa__profile *po,
                            const aa__profile *pn, bool widen) {
    const aa__profile *g = widen ? pn : po, *l = widen ? po : pn;
    const aa_policy *gp = widen ? c->n.p : c->o.p;
    if (l->scopes.count == 0)
        return; /* l accepts every scope */
    size_t ng = g->scopes.count ? g->scopes.count : 1;
    for (size_t i = 0; i < ng; i++) {
        const char *s = g->scopes.count ? g->scopes.items[i] : "*";
        set_reset(c);
        set_push_list(c, &l->scopes);
        /* Undecided (the search's bounds) counts as a possible difference:
         * never "no difference" when there may be one. */
        aa__cover r = gdiff(c, s, NULL, 0, AA__COVER_SKIP_EMPTY);
        if (r == AA__COVER_YES || c->oom)
            continue;
        const char *ex = r == AA__COVER_NO ? keep(c, c->w.data) : NULL;
        aa__buf_reset(&c->msg);
        if (ex)
            aa__buf_printf(&c->msg, "%s %s scope `%s`", agent,
                           widen ? "now accepts" : "no longer accepts", ex);
        else
            aa__buf_printf(&c->msg, "%s %s some scopes of `%s` (undecided)",
                           agent, widen ? "now accepts" : "no longer accepts",
                           s);
        const char *pats[1] = {s};
        aa_diff_item *it =
            add_item(c, AA_DIFF_SCOPE, widen ? AA_DIFF_WIDEN : AA_DIFF_CHANGE,
                     agent, pats, 1, c->msg.data);
        aa__buf_reset(&c->src);
        if (g->scopes.count)
            aa__buf_printf(&c->src, "scope `%s` of profile %s", s, g->name);
        else
            aa__buf_printf(&c->src, "profile %s lists no scopes", g->name);
        set_source(c, it, gp, c->src.data,
                   g->scopes.count ? list_pos(&g->scopes, i, g->pos) : g->pos);
        decide_example(c, it, agent, action_both(c, po, pn, NULL), ex, NULL);
    }
}

static void diff_scopes(dctx *c, const char *agent, const aa__profile *po,
                        const aa__profile *pn) {
    diff_scope_side(c, agent, po, pn, true);
    diff_scope_side(c, agent, po, pn, false);
    if (po->require_scope == pn->require_scope)
        return;
    bool widen = po->require_scope;
    aa__buf_reset(&c->msg);
    aa__buf_printf(&c->msg, "%s %s requests without a scope", agent,
                   widen ? "now accepts" : "no longer accepts");
    const char *pats[1] = {""};
    aa_diff_item *it =
        add_item(c, AA_DIFF_SCOPE, widen ? AA_DIFF_WIDEN : AA_DIFF_CHANGE,
                 agent, pats, 1, c->msg.data);
    aa__buf_reset(&c->src);
    aa__buf_printf(&c->src, "require_scope: %s in profile %s",
                   pn->require_scope ? "true" : "false", pn->name);
    set_source(c, it, c->n.p, c->src.data, pn->pos);
    decide_example(c, it, agent, action_both(c, po, pn, NULL), NULL, NULL);
}

/* ---- approval tiers ----------------------------------------------------- */

static bool condition_same(const dctx *c, const char *a, const char *b) {
    if (strcmp(a ? a : "", b ? b : "") != 0)
        return false;
    return c->vars_same || !a || !strchr(a, '$');
}

/* A change of approval policies: old and/or new index (-1: none). */
typedef struct change {
    int o, n;
} change;

typedef struct changes {
    change *v;
    size_t n;
} changes;

static void changes_push(dctx *c, changes *cs, int o, int n) {
    change *v = realloc(cs->v, (cs->n + 1) * sizeof *v);
    if (!v) {
        c->oom = true;
        return;
    }
    cs->v = v;
    cs->v[cs->n++] = (change){o, n};
}

/* Whether an unchanged policy (in both files) with the same condition and
 * at least x's tier matches wherever x does: x then decides no tier. */
static bool masked(const dctx *c, const bool *same, const aa__approval *x) {
    for (size_t j = 0; j < c->n.p->napprovals; j++) {
        const aa__approval *y = &c->n.p->approvals[j];
        if (same[j] && y->tier >= x->tier &&
            condition_same(c, x->condition, y->condition))
            return true;
    }
    return false;
}

/* Pairs approval policies that decide alike (tier and condition); those
 * left over, paired by name where possible, are the changes. *reason says
 * whether names or order differ among the paired ones. */
static void approval_changes(dctx *c, changes *cs, bool *reason) {
    const aa_policy *po = c->o.p, *pn = c->n.p;
    bool *used = calloc(pn->napprovals + 1, 1);
    int *pair = malloc((po->napprovals + 1) * sizeof *pair);
    if (!used || !pair) {
        c->oom = true;
        free(used);
        free(pair);
        return;
    }
    *reason = po->napprovals != pn->napprovals;
    /* First the same name deciding alike, then any deciding alike (a
     * rename or a move: only the name a decision reports may differ). */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < po->napprovals; i++) {
            const aa__approval *a = &po->approvals[i];
            if (pass == 0)
                pair[i] = -1;
            else if (pair[i] >= 0)
                continue;
            for (size_t j = 0; j < pn->napprovals; j++) {
                const aa__approval *b = &pn->approvals[j];
                if (used[j] || a->tier != b->tier ||
                    (pass == 0 && strcmp(a->name, b->name) != 0) ||
                    !condition_same(c, a->condition, b->condition))
                    continue;
                used[j] = true;
                pair[i] = (int)j;
                if (j != i || strcmp(a->name, b->name) != 0)
                    *reason = true;
                break;
            }
        }
    bool *same = malloc(pn->napprovals + 1); /* in both, unchanged */
    if (!same) {
        c->oom = true;
        free(used);
        free(pair);
        return;
    }
    memcpy(same, used, pn->napprovals);
    for (size_t i = 0; i < po->napprovals; i++) {
        if (pair[i] >= 0)
            continue;
        int m = -1; /* an unpaired NEW policy of the same name */
        for (size_t j = 0; j < pn->napprovals && m < 0; j++)
            if (!used[j] &&
                strcmp(pn->approvals[j].name, po->approvals[i].name) == 0)
                m = (int)j;
        if (m >= 0)
            used[m] = true;
        if (!masked(c, same, &po->approvals[i]) ||
            (m >= 0 && !masked(c, same, &pn->approvals[m])))
            changes_push(c, cs, (int)i, m);
    }
    for (size_t j = 0; j < pn->napprovals; j++)
        if (!used[j] && !masked(c, same, &pn->approvals[j]))
            changes_push(c, cs, -1, (int)j);
    free(same);
    free(used);
    free(pair);
}

/* The action patterns a condition can only be true for (a pinned action,
 * or "*"), as globs in the scratch set; false when it pins the agent to
 * names that `agent` is not. */
static bool condition_applies(dctx *c, const aa__expr *e, const char *agent) {
    const char *const *vals;
    size_t n, nexact;
    if (e && aa__expr_pins(e, AA__F_AGENT, &vals, &n, &nexact)) {
        bool hit = false;
        for (size_t i = 0; i < n && !hit; i++)
            hit = i < nexact ? strcmp(agent, vals[i]) == 0
                             : strncmp(agent, vals[i], strlen(vals[i])) == 0;
        if (!hit)
            return false;
    }
    if (e && aa__expr_pins(e, AA__F_ACTION, &vals, &n, &nexact)) {
        bool plain = true;
        for (size_t i = 0; i < n && plain; i++)
            plain = !aa__has_wildcard(vals[i]);
        if (plain) {
            for (size_t i = 0; i < n; i++) {
                if (i < nexact) {
                    set_push(c, vals[i]);
                } else {
                    size_t len = strlen(vals[i]);
                    char *g = aa__arena_alloc(&c->d->arena, len + 2);
                    if (!g) {
                        c->oom = true;
                        return false;
                    }
                    memcpy(g, vals[i], len);
                    memcpy(g + len, "*", 2);
                    set_push(c, g);
                }
            }
            return true;
        }
    }
    set_push(c, "*");
    return true;
}

static void diff_approvals(dctx *c, const char *agent, const aa__profile *po,
                           const aa__profile *pn, const changes *cs) {
    if (po->default_tier != pn->default_tier) {
        bool widen = pn->default_tier < po->default_tier;
        aa__buf_reset(&c->msg);
        aa__buf_printf(&c->msg, "%s's default tier is now %s (was %s)", agent,
                       aa_tier_name(pn->default_tier),
                       aa_tier_name(po->default_tier));
        const char *pats[1] = {"*"};
        aa_diff_item *it =
            add_item(c, AA_DIFF_TIER, widen ? AA_DIFF_WIDEN : AA_DIFF_CHANGE,
                     agent, pats, 1, c->msg.data);
        aa__buf_reset(&c->src);
        aa__buf_printf(&c->src, "default_tier: %s in profile %s",
                       aa_tier_name(pn->default_tier), pn->name);
        set_source(c, it, c->n.p, c->src.data, pn->pos);
        decide_example(c, it, agent, action_both(c, po, pn, NULL),
                       scope_for(c, po, pn), NULL);
    }
    for (size_t k = 0; k < cs->n; k++) {
        const aa__approval *a =
            cs->v[k].o >= 0 ? &c->o.p->approvals[cs->v[k].o] : NULL;
        const aa__approval *b =
            cs->v[k].n >= 0 ? &c->n.p->approvals[cs->v[k].n] : NULL;
        /* A policy whose tier is at most the default changes nothing. */
        bool la = a && a->tier > po->default_tier;
        bool lb = b && b->tier > pn->default_tier;
        if (!la && !lb && po->default_tier == pn->default_tier)
            continue;
        set_reset(c);
        bool ok = true;
        if (a)
            ok = condition_applies(c, a->cond, agent);
        if (b) {
            size_t before = c->nset;
            bool okb = condition_applies(c, b->cond, agent);
            if (!okb)
                c->nset = before;
            ok = ok || okb;
        }
        if (!ok || c->oom)
            continue;
        size_t npats = c->nset;
        const char **pats = malloc((npats ? npats : 1) * sizeof *pats);
        if (!pats) {
            c->oom = true;
            return;
        }
        if (npats) /* c->set is NULL before the first push */
            memcpy(pats, c->set, npats * sizeof *pats);
        const char *ex = NULL;
        bool undecided = false;
        for (size_t i = 0; i < npats && !ex; i++) {
            ex = action_both(c, po, pn, pats[i]);
            undecided = undecided || c->undecided;
        }
        if (!ex && !undecided) { /* no action both allow lies within it */
            free(pats);
            continue;
        }
        /* Widen when a tier may drop: OLD's policy removed or changed. */
        bool widen = a && la &&
                     (!b || b->tier < a->tier ||
                      !condition_same(c, a->condition, b->condition));
        aa__buf_reset(&c->msg);
        if (a && b)
            aa__buf_printf(&c->msg,
                           "%s: approval policy `%s` changed (%s `%s` -> %s "
                           "`%s`)",
                           agent, b->name, aa_tier_name(a->tier), a->condition,
                           aa_tier_name(b->tier), b->condition);
        else
            aa__buf_printf(&c->msg, "%s: approval policy `%s` (%s) %s", agent,
                           a ? a->name : b->name,
                           aa_tier_name(a ? a->tier : b->tier),
                           a ? "removed" : "added");
        aa_diff_item *it =
            add_item(c, AA_DIFF_TIER, widen ? AA_DIFF_WIDEN : AA_DIFF_CHANGE,
                     agent, pats, npats, c->msg.data);
        free(pats);
        aa__buf_reset(&c->src);
        aa__buf_printf(&c->src, "approval policy %s", b ? b->name : a->name);
        set_source(c, it, b ? c->n.p : c->o.p, c->src.data,
                   b ? b->pos : a->pos);
        decide_condition_example(c, it, agent, ex, scope_for(c, po, pn), NULL,
                                 a ? a->cond : NULL, b ? b->cond : NULL);
    }
}

/* ---- A2A ---------------------------------------------------------------- */

static bool a2a_same(const dctx *c, const aa__a2a *a, const aa__a2a *b) {
    return a->allow == b->allow && strcmp(a->from_agent, b->from_agent) == 0 &&
           strcmp(a->to_agent, b->to_agent) == 0 &&
           strcmp(a->action, b->action) == 0 &&
           condition_same(c, a->condition, b->condition);
}

static void a2a_changes(dctx *c, changes *cs, bool *reason) {
    const aa_policy *po = c->o.p, *pn = c->n.p;
    size_t no = po->a2a.npolicies, nn = pn->a2a.npolicies;
    bool *used = calloc(nn + 1, 1);
    int *pair = malloc((no + 1) * sizeof *pair);
    if (!used || !pair) {
        c->oom = true;
        free(used);
        free(pair);
        return;
    }
    *reason = false;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < no; i++) {
            const aa__a2a *a = &po->a2a.policies[i];
            if (pass == 0)
                pair[i] = -1;
            else if (pair[i] >= 0)
                continue;
            for (size_t j = 0; j < nn; j++) {
                const aa__a2a *b = &pn->a2a.policies[j];
                if (used[j] || (pass == 0 && strcmp(a->name, b->name) != 0) ||
                    !a2a_same(c, a, b))
                    continue;
                used[j] = true;
                pair[i] = (int)j;
                /* A deny's reason names its description (or name), and
                 * the first matching deny in file order gives it. */
                const char *da = a->description ? a->description : a->name;
                const char *db = b->description ? b->description : b->name;
                if (!a->allow && (strcmp(da, db) != 0 || j != i))
                    *reason = true;
                break;
            }
        }
    for (size_t i = 0; i < no; i++) {
        if (pair[i] >= 0)
            continue;
        int m = -1;
        for (size_t j = 0; j < nn && m < 0; j++)
            if (!used[j] &&
                strcmp(pn->a2a.policies[j].name, po->a2a.policies[i].name) == 0)
                m = (int)j;
        if (m >= 0)
            used[m] = true;
        changes_push(c, cs, (int)i, m);
    }
    for (size_t j = 0; j < nn; j++)
        if (!used[j])
            changes_push(c, cs, -1, (int)j);
    free(used);
    free(pair);
}

/* Whether a change of this policy can widen (on its side: `old` for the
 * OLD policy) or change anything at all. */
static aa_diff_class a2a_effect(const aa__a2a *x, bool old, bool both_allow) {
    if (!x)
        return AA_DIFF_SAME;
    if (x->allow && both_allow)
        return AA_DIFF_SAME; /* an allow adds nothing to `default: allow` */
    /* Removing a deny or adding an allow can let a call through. */
    return old != x->allow ? AA_DIFF_WIDEN : AA_DIFF_CHANGE;
}

/* Whether every call x matches (patterns only) y matches too. */
static bool a2a_within(const aa__a2a *x, const aa__a2a *y) {
    const char *f[1] = {y->from_agent}, *t[1] = {y->to_agent},
               *a[1] = {y->action};
    return aa__glob_covers(x->from_agent, f, 1, NULL) == AA__COVER_YES &&
           aa__glob_covers(x->to_agent, t, 1, NULL) == AA__COVER_YES &&
           aa__glob_covers(x->action, a, 1, NULL) == AA__COVER_YES;
}

static void diff_a2a(dctx *c, const char *agent, const aa__profile *po,
                     const aa__profile *pn, const changes *cs) {
    bool dflt_o = c->o.p->a2a.default_allow, dflt_n = c->n.p->a2a.default_allow;
    size_t alen = strlen(agent);
    if (dflt_o != dflt_n) {
        aa__buf_reset(&c->msg);
        aa__buf_printf(&c->msg, "%s: calls no A2A policy matches are now %s",
                       agent, dflt_n ? "allowed" : "denied");
        const char *pats[3] = {agent, "*", "*"};
        aa_diff_item *it =
            add_item(c, AA_DIFF_A2A, dflt_n ? AA_DIFF_WIDEN : AA_DIFF_CHANGE,
                     agent, pats, 3, c->msg.data);
        set_source(c, it, c->n.p,
                   dflt_n ? "a2a default: allow" : "a2a default: deny",
                   (aa__pos){0, 0});
        decide_example(c, it, agent, action_both(c, po, pn, NULL),
                       scope_for(c, po, pn), "other-agent");
    }
    bool both_allow = dflt_o && dflt_n;
    /* Whether a call by this agent can be allowed at all, in each file. */
    bool any_o = dflt_o, any_n = dflt_n;
    for (size_t i = 0; i < c->o.p->a2a.npolicies && !any_o; i++)
        any_o =
            c->o.p->a2a.policies[i].allow &&
            aa__pattern_match(&c->o.p->a2a.policies[i].from_pat, agent, alen);
    for (size_t i = 0; i < c->n.p->a2a.npolicies && !any_n; i++)
        any_n =
            c->n.p->a2a.policies[i].allow &&
            aa__pattern_match(&c->n.p->a2a.policies[i].from_pat, agent, alen);
    for (size_t k = 0; k < cs->n; k++) {
        const aa__a2a *a =
            cs->v[k].o >= 0 ? &c->o.p->a2a.policies[cs->v[k].o] : NULL;
        const aa__a2a *b =
            cs->v[k].n >= 0 ? &c->n.p->a2a.policies[cs->v[k].n] : NULL;
        if (a && !aa__pattern_match(&a->from_pat, agent, alen))
            a = NULL;
        if (b && !aa__pattern_match(&b->from_pat, agent, alen))
            b = NULL;
        /* A deny removed where NEW allows none of its calls, or added where
         * OLD allowed none, changes nothing. */
        if (a && !b && !a->allow && !any_n)
            continue;
        if (b && !a && !b->allow && !any_o)
            continue;
        aa_diff_class ca = a2a_effect(a, true, both_allow);
        aa_diff_class cb = a2a_effect(b, false, both_allow);
        aa_diff_class cls = ca > cb ? ca : cb;
        if (cls == AA_DIFF_SAME)
            continue;
        /* A changed policy widens unless it only narrowed an allow or only
         * widened a deny (same effect and condition, patterns contained). */
        if (a && b && a->allow == b->allow && !(a->allow && both_allow))
            cls = condition_same(c, a->condition, b->condition) &&
                          (a->allow ? a2a_within(b, a) : a2a_within(a, b))
                      ? AA_DIFF_CHANGE
                      : AA_DIFF_WIDEN;
        const aa__a2a *x = b ? b : a;
        aa__buf_reset(&c->msg);
        aa__buf_printf(&c->msg, "%s: A2A policy `%s` (%s %s -> %s : %s) %s",
                       agent, x->name, x->allow ? "allow" : "deny",
                       x->from_agent, x->to_agent, x->action,
                       a && b ? "changed"
                       : a    ? "removed"
                              : "added");
        /* Examples from either side; the first that shows the change. */
        const aa__a2a *cand[2] = {a, b};
        aa_diff_item *it = NULL;
        for (int k2 = 0; k2 < 2; k2++) {
            const aa__a2a *y = cand[k2];
            if (!y || (it && !it->possible))
                continue;
            const char *ex = action_both(c, po, pn, y->action);
            if (!ex && !c->undecided)
                continue; /* no action both allow: denied in both */
            set_reset(c);
            const char *target = "other-agent";
            if (witness(c, y->to_agent, NULL, AA__COVER_SKIP_EMPTY))
                target = keep(c, c->w.data);
            if (!it) {
                const char *pats[3] = {x->from_agent, x->to_agent, x->action};
                it = add_item(c, AA_DIFF_A2A, cls, agent, pats, 3, c->msg.data);
                aa__buf_reset(&c->src);
                aa__buf_printf(&c->src, "A2A policy %s", x->name);
                set_source(c, it, b ? c->n.p : c->o.p, c->src.data, x->pos);
                if (!it)
                    return;
                if (a && b) { /* the region is the union of both */
                    const char **p =
                        aa__arena_alloc(&c->d->arena, 6 * sizeof *p);
                    if (!p) {
                        c->oom = true;
                        return;
                    }
                    memcpy(p, it->patterns, 3 * sizeof *p);
                    p[3] = keep(c, a->from_agent);
                    p[4] = keep(c, a->to_agent);
                    p[5] = keep(c, a->action);
                    it->patterns = p;
                    it->pattern_count = 6;
                }
            }
            decide_condition_example(c, it, agent, ex, scope_for(c, po, pn),
                                     target, a ? a->cond : NULL,
                                     b ? b->cond : NULL);
        }
    }
}

/* ---- request_metadata --------------------------------------------------- */

static const char *const meta_type_name[] = {"string", "number", "bool",
                                             "list"};

static void diff_meta_required(dctx *c, const aa__meta_decl *g,
                               const aa__meta_decl *l, bool widen) {
    /* widen: actions OLD (g) requires the key for and NEW (l) does not. */
    for (size_t i = 0; i < g->required_for.count; i++) {
        const char *r = g->required_for.items[i];
        set_reset(c);
        if (l)
            set_push_list(c, &l->required_for);
        aa__cover res = gdiff(c, r, NULL, 0, AA__COVER_SKIP_EMPTY);
        if (res == AA__COVER_YES || c->oom)
            continue; /* undecided: a possible difference, listed */
        aa__buf_reset(&c->msg);
        if (res == AA__COVER_NO)
            aa__buf_printf(&c->msg, "metadata `%s` is %s required for `%s`",
                           g->key, widen ? "no longer" : "now", c->w.data);
        else
            aa__buf_printf(&c->msg,
                           "metadata `%s` is %s required for some of `%s` "
                           "(undecided)",
                           g->key, widen ? "no longer" : "now", r);
        const char *pats[1] = {r};
        aa_diff_item *it = add_item(c, AA_DIFF_METADATA,
                                    widen ? AA_DIFF_WIDEN : AA_DIFF_CHANGE,
                                    NULL, pats, 1, c->msg.data);
        aa__buf_reset(&c->src);
        aa__buf_printf(&c->src, "request_metadata %s", g->key);
        set_source(c, it, widen ? c->o.p : c->n.p, c->src.data,
                   list_pos(&g->required_for, i, g->pos));
        if (it && res == AA__COVER_NO)
            it->example_action = keep(c, c->w.data);
    }
}

static void diff_metadata(dctx *c) {
    const aa_policy *po = c->o.p, *pn = c->n.p;
    for (size_t i = 0; i < po->nmeta_decls; i++) {
        const aa__meta_decl *a = &po->meta_decls[i];
        const aa__meta_decl *b =
            aa__map_get(&pn->meta_decl_by_key, a->key, strlen(a->key));
        if (b && b->type != a->type) {
            aa__buf_reset(&c->msg);
            aa__buf_printf(&c->msg, "metadata `%s` must now be a %s (was %s)",
                           a->key, meta_type_name[b->type],
                           meta_type_name[a->type]);
            const char *pats[1] = {"*"};
            aa_diff_item *it = add_item(c, AA_DIFF_METADATA, AA_DIFF_WIDEN,
                                        NULL, pats, 1, c->msg.data);
            set_source(c, it, pn, "request_metadata type", b->pos);
        } else if (!b) {
            aa__buf_reset(&c->msg);
            aa__buf_printf(&c->msg, "metadata `%s` is no longer declared",
                           a->key);
            const char *pats[1] = {"*"};
            aa_diff_item *it = add_item(c, AA_DIFF_METADATA, AA_DIFF_WIDEN,
                                        NULL, pats, 1, c->msg.data);
            set_source(c, it, po, "request_metadata", a->pos);
            continue;
        }
        diff_meta_required(c, a, b, true);
        diff_meta_required(c, b, a, false);
    }
    for (size_t j = 0; j < pn->nmeta_decls; j++) {
        const aa__meta_decl *b = &pn->meta_decls[j];
        if (aa__map_get(&po->meta_decl_by_key, b->key, strlen(b->key)))
            continue;
        aa__buf_reset(&c->msg);
        aa__buf_printf(&c->msg, "metadata `%s` is now declared (a %s)", b->key,
                       meta_type_name[b->type]);
        const char *pats[1] = {"*"};
        aa_diff_item *it = add_item(c, AA_DIFF_METADATA, AA_DIFF_CHANGE, NULL,
                                    pats, 1, c->msg.data);
        set_source(c, it, pn, "request_metadata", b->pos);
        diff_meta_required(c, b, NULL, false);
    }
}

/* ---- variables ---------------------------------------------------------- */

static bool variables_same(const aa_policy *a, const aa_policy *b) {
    if (a->nvariables != b->nvariables)
        return false;
    for (size_t i = 0; i < a->nvariables; i++) {
        bool found = false;
        for (size_t j = 0; j < b->nvariables && !found; j++)
            found =
                strcmp(a->variables[i].name, b->variables[j].name) == 0 &&
                aa__value_equal(&a->variables[i].value, &b->variables[j].value);
        if (!found)
            return false;
    }
    return true;
}

/* ---- the whole ---------------------------------------------------------- */

static int side_open(side *s, const aa_policy *p, aa_error *err) {
    s->p = p;
    int rc = aa_store_open_memory(&s->store, err);
    if (rc != AA_OK)
        return rc;
    aa_engine_options eo;
    aa_engine_options_init(&eo);
    eo.store = s->store;
    eo.audit_mode = AA_AUDIT_OFF;
    return aa_engine_new(p, &eo, &s->engine, err);
}

static void side_close(side *s) {
    aa_engine_free(s->engine);
    aa_store_free(s->store);
}

static void diff_profile(dctx *c, const char *name, const aa__profile *po,
                         const aa__profile *pn, const changes *ac,
                         const changes *xc) {
    bool same_actions = po && pn &&
                        aa__effective_count(po) == aa__effective_count(pn) &&
                        po->deny.count == pn->deny.count;
    for (size_t i = 0; same_actions && i < aa__effective_count(po); i++)
        same_actions = strcmp(aa__effective_entry(po, i)->pat.text,
                              aa__effective_entry(pn, i)->pat.text) == 0;
    for (size_t i = 0; same_actions && i < po->deny.count; i++)
        same_actions = strcmp(po->deny.items[i], pn->deny.items[i]) == 0;
    if (!same_actions) {
        diff_actions(c, name, po, pn, true);
        diff_actions(c, name, po, pn, false);
    }
    if (!po || !pn)
        return; /* the actions say it all: the other allows nothing */
    diff_scopes(c, name, po, pn);
    diff_approvals(c, name, po, pn, ac);
    diff_a2a(c, name, po, pn, xc);
}

static void reason_item(dctx *c, const char *what) {
    if (c->hide_reason)
        return;
    const char *pats[1] = {"*"};
    aa_diff_item *it = add_item(
        c, what[0] == 'a' && what[1] == 'p' ? AA_DIFF_TIER : AA_DIFF_A2A,
        AA_DIFF_REASON, NULL, pats, 1, what);
    if (it)
        it->possible = 0;
}

int aa_policy_diff(const aa_policy *old_policy, const aa_policy *new_policy,
                   const aa_diff_options *opts, aa_diff **out, aa_error *err) {
    if (!out)
        return aa__fail(err, AA_EINVAL, "aa_policy_diff: out is NULL");
    *out = NULL;
    if (!old_policy || !new_policy)
        return aa__fail(err, AA_EINVAL, "aa_policy_diff: a policy is NULL");
    aa_diff_options o;
    aa__options_copy(&o, sizeof o, opts);

    aa_diff *d = calloc(1, sizeof *d);
    if (!d)
        return aa__fail(err, AA_ENOMEM, "out of memory");
    aa__arena_init(&d->arena);
    dctx c = {.d = d, .hide_reason = o.hide_reason != 0, .budget = DIFF_BUDGET};
    aa__buf_init(&c.w);
    aa__buf_init(&c.msg);
    aa__buf_init(&c.src);
    changes ac = {0}, xc = {0};
    int rc = side_open(&c.o, old_policy, err);
    if (rc == AA_OK)
        rc = side_open(&c.n, new_policy, err);
    c.dec = rc == AA_OK ? aa_decision_new() : NULL;
    if (rc == AA_OK && !c.dec)
        rc = AA_ENOMEM;
    if (rc != AA_OK)
        goto done;
    c.vars_same = variables_same(old_policy, new_policy);

    bool areason = false, xreason = false;
    approval_changes(&c, &ac, &areason);
    a2a_changes(&c, &xc, &xreason);
    if (areason && ac.n == 0)
        reason_item(&c, "approval policies renamed or reordered: decisions may "
                        "name another approval policy");
    if (xreason && xc.n == 0)
        reason_item(&c, "A2A deny policies renamed, redescribed or reordered: "
                        "denials may give another reason");

    for (size_t i = 0; i < old_policy->nprofiles && !c.oom; i++) {
        const aa__profile *po = &old_policy->profiles[i];
        const aa__profile *pn = aa__map_get(&new_policy->profile_by_name,
                                            po->name, strlen(po->name));
        diff_profile(&c, po->name, po, pn, &ac, &xc);
    }
    for (size_t i = 0; i < new_policy->nprofiles && !c.oom; i++) {
        const aa__profile *pn = &new_policy->profiles[i];
        if (!aa__map_get(&old_policy->profile_by_name, pn->name,
                         strlen(pn->name)))
            diff_profile(&c, pn->name, NULL, pn, &ac, &xc);
    }
    diff_metadata(&c);
    if (c.oom || c.w.oom || c.msg.oom || c.src.oom)
        rc = aa__fail(err, AA_ENOMEM, "out of memory");
done:
    free(ac.v);
    free(xc.v);
    free(c.set);
    aa__buf_free(&c.w);
    aa__buf_free(&c.msg);
    aa__buf_free(&c.src);
    aa_decision_free(c.dec);
    side_close(&c.n);
    side_close(&c.o);
    if (rc != AA_OK) {
        aa_diff_free(d);
        return rc;
    }
    *out = d;
    return AA_OK;
}

size_t aa_diff_count(const aa_diff *d) {
    return d ? d->n : 0;
}

const aa_diff_item *aa_diff_get(const aa_diff *d, size_t i) {
    return d && i < d->n ? &d->items[i] : NULL;
}

size_t aa_diff_count_class(const aa_diff *d, aa_diff_class cls) {
    size_t n = 0;
    for (size_t i = 0; d && i < d->n; i++)
        n += d->items[i].cls == cls;
    return n;
}

aa_diff_class aa_diff_worst(const aa_diff *d) {
    aa_diff_class w = AA_DIFF_SAME;
    for (size_t i = 0; d && i < d->n; i++)
        if (d->items[i].cls > w)
            w = d->items[i].cls;
    return w;
}

void aa_diff_free(aa_diff *d) {
    if (!d)
        return;
    free(d->items);
    aa__arena_free(&d->arena);
    free(d);
}

/* ---- replay ------------------------------------------------------------- */

struct aa_replay {
    side o, n;
    aa_decision *dold, *dnew;
    aa__arena arena;
    aa_replay_entry *v;
    size_t count, cap;
    size_t total, invalid;
    size_t by_class[4];
};

int aa_replay_new(const aa_policy *old_policy, const aa_policy *new_policy,
                  aa_replay **out, aa_error *err) {
    if (!out)
        return aa__fail(err, AA_EINVAL, "aa_replay_new: out is NULL");
    *out = NULL;
    if (!old_policy || !new_policy)
        return aa__fail(err, AA_EINVAL, "aa_replay_new: a policy is NULL");
    aa_replay *r = calloc(1, sizeof *r);
    if (!r)
        return aa__fail(err, AA_ENOMEM, "out of memory");
    aa__arena_init(&r->arena);
    int rc = side_open(&r->o, old_policy, err);
    if (rc == AA_OK)
        rc = side_open(&r->n, new_policy, err);
    if (rc == AA_OK) {
        r->dold = aa_decision_new();
        r->dnew = aa_decision_new();
        if (!r->dold || !r->dnew)
            rc = aa__fail(err, AA_ENOMEM, "out of memory");
    }
    if (rc != AA_OK) {
        aa_replay_free(r);
        return rc;
    }
    *out = r;
    return AA_OK;
}

void aa_replay_free(aa_replay *r) {
    if (!r)
        return;
    aa_decision_free(r->dold);
    aa_decision_free(r->dnew);
    side_close(&r->n);
    side_close(&r->o);
    aa__arena_free(&r->arena);
    free(r->v);
    free(r);
}

static bool same_text(const char *a, const char *b) {
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static char *rkeep(aa_replay *r, const char *s, bool *oom) {
    if (!s || !*s)
        return NULL;
    char *k = aa__arena_strdup(&r->arena, s);
    if (!k)
        *oom = true;
    return k;
}

int aa_replay_request(aa_replay *r, const aa_request *req, size_t line,
                      const char *id, size_t id_len, aa_diff_class *cls) {
    if (!r || !req)
        return AA_EINVAL;
    aa_request q = *req;
    q.session_id = NULL; /* sessions are not replayed */
    int rc = aa_authorize(r->o.engine, &q, r->dold);
    if (rc == AA_OK)
        rc = aa_authorize(r->n.engine, &q, r->dnew);
    if (rc != AA_OK)
        return rc;
    r->total++;
    const aa_decision *a = r->dold, *b = r->dnew;
    int oa = aa_decision_allowed(a), na = aa_decision_allowed(b);
    aa_tier ot = aa_decision_tier(a), nt = aa_decision_tier(b);
    aa_diff_class k = AA_DIFF_SAME;
    if ((!oa && na) || (oa && na && nt < ot))
        k = AA_DIFF_WIDEN;
    else if (oa != na || ot != nt)
        k = AA_DIFF_CHANGE;
    else if (!same_text(aa_decision_reason(a), aa_decision_reason(b)) ||
             !same_text(aa_decision_approval_policy(a),
                        aa_decision_approval_policy(b)))
        k = AA_DIFF_REASON;
    r->by_class[k]++;
    if (cls)
        *cls = k;
    if (k == AA_DIFF_SAME)
        return AA_OK;
    if (r->count == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        aa_replay_entry *v = realloc(r->v, cap * sizeof *v);
        if (!v)
            return AA_ENOMEM;
        r->v = v;
        r->cap = cap;
    }
    bool oom = false;
    aa_replay_entry *e = &r->v[r->count];
    memset(e, 0, sizeof *e);
    e->line = line;
    if (id && id_len) {
        char *t = aa__arena_strndup(&r->arena, id, id_len);
        oom = !t;
        e->id = t;
    }
    e->agent = rkeep(r, q.agent, &oom);
    e->user = rkeep(r, q.user, &oom);
    e->action = rkeep(r, q.action, &oom);
    e->scope = rkeep(r, q.scope, &oom);
    e->target_agent = rkeep(r, q.target_agent, &oom);
    e->cls = k;
    e->old_allowed = oa;
    e->new_allowed = na;
    e->old_tier = ot;
    e->new_tier = nt;
    e->old_reason = rkeep(r, aa_decision_reason(a), &oom);
    e->new_reason = rkeep(r, aa_decision_reason(b), &oom);
    if (oom)
        return AA_ENOMEM;
    r->count++;
    return AA_OK;
}

/* Replays one JSON request text; a request that is not valid is a warning
 * naming the file and line. */
static int replay_text(aa_replay *r, aa_request_buf *buf, const char *path,
                       size_t line, const char *text, size_t len,
                       const char *id, size_t idlen, aa_error *err) {
    aa_request req;
    aa_error *e = aa_error_new();
    if (!e)
        return AA_ENOMEM;
    int rc = aa_request_from_json(text, len, buf, &req, e);
    if (rc == AA_OK) {
        if (!id)
            id = aa_request_buf_id(buf, &idlen);
        rc = aa_replay_request(r, &req, line, id, idlen, NULL);
    }
    if (rc == AA_EINVAL || rc == AA_EPARSE) {
        const aa_diag *dg = aa_error_get(e, 0);
        aa__error_add(err, AA_SEVERITY_WARNING, rc, path, (int)line, 0,
                      "request skipped: %s",
                      dg ? dg->message : "not a valid request");
        r->invalid++;
        rc = AA_OK;
    }
    aa_error_free(e);
    return rc;
}

/* Longer request lines are skipped, as `check --batch` refuses them. */
#define REPLAY_MAX_LINE ((size_t)16 << 20)

/* Reads the next line of f into b, without its newline. A line longer than
 * REPLAY_MAX_LINE is not kept whole: *too_long is set and the rest of it
 * is read past. -1 at the end of the file (or on a read error), 1 when
 * memory ran out, else 0. */
static int read_line(FILE *f, aa__buf *b, bool *too_long) {
    aa__buf_reset(b);
    *too_long = false;
    int c;
    while ((c = getc_unlocked(f)) != EOF && c != '\n') {
        if (*too_long)
            continue;
        if (b->len >= REPLAY_MAX_LINE) {
            *too_long = true;
            aa__buf_reset(b);
            continue;
        }
        aa__buf_putc(b, (char)c);
        if (b->oom)
            return 1;
    }
    return c == EOF && b->len == 0 && !*too_long ? -1 : 0;
}

static int replay_requests(aa_replay *r, const char *path, aa_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return aa__fail(err, AA_EIO, "%s: cannot open", path);
    aa_request_buf *buf = aa_request_buf_new();
    aa__buf line;
    aa__buf_init(&line);
    size_t no = 0;
    bool too_long;
    int got, rc = buf ? AA_OK : AA_ENOMEM;
    while (rc == AA_OK && (got = read_line(f, &line, &too_long)) >= 0) {
        no++;
        if (got > 0) {
            rc = AA_ENOMEM;
            break;
        }
        if (too_long) {
            aa__error_add(err, AA_SEVERITY_WARNING, AA_EINVAL, path, (int)no, 0,
                          "request skipped: the line is longer than %zu bytes",
                          REPLAY_MAX_LINE);
            r->invalid++;
            continue;
        }
        size_t len = line.len;
        while (len && (line.data[len - 1] == '\r' ||
                       line.data[len - 1] == ' ' || line.data[len - 1] == '\t'))
            len--;
        if (len == 0)
            continue;
        rc = replay_text(r, buf, path, no, line.data, len, NULL, 0, err);
    }
    if (rc == AA_OK && ferror(f))
        rc = aa__fail(err, AA_EIO, "%s: read error", path);
    aa__buf_free(&line);
    aa_request_buf_free(buf);
    fclose(f);
    return rc;
}

typedef struct audit_walk {
    aa_replay *r;
    aa_request_buf *buf;
    const char *path;
    aa_error *err;
    size_t n;
    int rc;
} audit_walk;

/* Rebuilds the request of one "authorize" line from its logged fields and
 * metadata, and replays it; the id is its event_id. */
static int audit_entry(void *ud, size_t lineno, const char *text, size_t len) {
    audit_walk *a = ud;
    a->n = lineno;
    json_t *j = json_loadb(text, len, 0, NULL);
    if (!j)
        return 0; /* the reader only passes whole lines */
    static const char *const keep_fields[] = {
        "agent", "user",         "action",  "resource",
        "scope", "target_agent", "metadata"};
    json_t *req = json_object();
    for (size_t i = 0; req && i < AA__ARRAY_LEN(keep_fields); i++) {
        json_t *v = json_object_get(j, keep_fields[i]);
        if (v && !json_is_null(v))
            json_object_set(req, keep_fields[i], v);
    }
    json_t *ev = json_object_get(j, "event_id");
    char *id =
        ev && json_is_string(ev) ? json_dumps(ev, JSON_ENCODE_ANY) : NULL;
    char *t = req ? json_dumps(req, JSON_COMPACT) : NULL;
    if (!t)
        a->rc = AA_ENOMEM;
    else
        a->rc = replay_text(a->r, a->buf, a->path, a->n, t, strlen(t), id,
                            id ? strlen(id) : 0, a->err);
    free(t);
    free(id);
    json_decref(req);
    json_decref(j);
    return a->rc != AA_OK;
}

static int replay_audit(aa_replay *r, const char *path, aa_error *err) {
    audit_walk a = {.r = r, .path = path, .err = err};
    a.buf = aa_request_buf_new();
    if (!a.buf)
        return aa__fail(err, AA_ENOMEM, "out of memory");
    aa_audit_filter f = {.event = "authorize", .limit = AA_AUDIT_NO_LIMIT};
    int rc = aa__audit_read_lines(path, &f, audit_entry, &a, err);
    aa_request_buf_free(a.buf);
    return rc != AA_OK ? rc : a.rc;
}

int aa_replay_file(aa_replay *r, const char *path, aa_replay_format format,
                   aa_error *err) {
    if (!r || !path)
        return aa__fail(err, AA_EINVAL, "aa_replay_file: NULL argument");
    return format == AA_REPLAY_AUDIT ? replay_audit(r, path, err)
                                     : replay_requests(r, path, err);
}

size_t aa_replay_total(const aa_replay *r) {
    return r ? r->total : 0;
}
size_t aa_replay_invalid(const aa_replay *r) {
    return r ? r->invalid : 0;
}
size_t aa_replay_count(const aa_replay *r) {
    return r ? r->count : 0;
}

const aa_replay_entry *aa_replay_get(const aa_replay *r, size_t i) {
    return r && i < r->count ? &r->v[i] : NULL;
}

size_t aa_replay_count_class(const aa_replay *r, aa_diff_class c) {
    return r && (unsigned)c < 4 ? r->by_class[c] : 0;
}
