/*
 * expr_analysis.c - facts about a condition that hold on every request
 * (expr_analysis.h), for `agent-auth lint`.
 *
 * The values a field can hold are described by a value set: flags for null,
 * true, false, NaN and "any list", a list of disjoint number intervals, and
 * strings as a finite set or as "every string but a finite set". Value sets
 * are closed under intersection and complement, which is all the reasoning
 * needs. A comparison of one field with a constant splits the field's values
 * into the three outcomes (true, false, error) exactly, following the
 * evaluator (expr_eval.c); and/or/not over comparisons of one field combine
 * them exactly, with short-circuit order. Anything else (two fields, a
 * matcher, a string ordering) is opaque: only "it cannot raise an error"
 * (from the compiler's can_err) is known about it.
 */
#include "expr_analysis.h"
#include "expr_impl.h"

#include <math.h>
#include <string.h>

/* ---- value sets ---------------------------------------------------------- */

enum { VS_NULL = 1, VS_TRUE = 2, VS_FALSE = 4, VS_NAN = 8, VS_LIST = 16 };
#define VS_FLAGS 31u

typedef struct ival {
    double lo, hi;
    bool lo_in, hi_in;
} ival;

typedef struct sstr {
    const char *p;
    size_t len;
} sstr;

typedef struct vset {
    unsigned bits;
    const ival *iv; /* sorted, disjoint */
    size_t niv;
    bool cof; /* strings: every string except strs (true), or exactly strs */
    const sstr *strs;
    size_t nstr;
} vset;

typedef struct an {
    const aa__expr *e;
    aa__dom_fn dom;
    void *dom_ud;
    aa__arena *arena;
    bool oom;
} an;

static void *an_alloc(an *a, size_t n) {
    void *p = aa__arena_alloc(a->arena, n ? n : 1);
    if (!p)
        a->oom = true;
    return p;
}

static const ival all_numbers = {-INFINITY, INFINITY, true, true};

static vset vs_empty(void) {
    vset v;
    memset(&v, 0, sizeof v);
    return v;
}

static vset vs_universe(void) {
    vset v = vs_empty();
    v.bits = VS_FLAGS;
    v.iv = &all_numbers;
    v.niv = 1;
    v.cof = true;
    return v;
}

static bool vs_is_empty(const vset *v) {
    return v->bits == 0 && v->niv == 0 && !v->cof && v->nstr == 0;
}

static bool ival_ok(const ival *i) {
    return i->lo < i->hi || (i->lo == i->hi && i->lo_in && i->hi_in);
}

static bool str_eq(const sstr *a, const sstr *b) {
    return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

static bool str_in(const sstr *s, const sstr *set, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (str_eq(s, &set[i]))
            return true;
    return false;
}

/* a minus b (as finite sets), or a and b when `keep` is true. */
static size_t str_filter(an *A, const sstr *a, size_t na, const sstr *b,
                         size_t nb, bool keep, const sstr **out) {
    sstr *r = an_alloc(A, na * sizeof *r);
    size_t n = 0;
    for (size_t i = 0; r && i < na; i++)
        if (str_in(&a[i], b, nb) == keep && !str_in(&a[i], r, n))
            r[n++] = a[i];
    *out = r;
    return r ? n : 0;
}

static vset vs_intersect(an *A, const vset *a, const vset *b) {
    vset r = vs_empty();
    r.bits = a->bits & b->bits;
    if (a->niv && b->niv) {
        ival *iv = an_alloc(A, a->niv * b->niv * sizeof *iv);
        for (size_t i = 0; iv && i < a->niv; i++)
            for (size_t j = 0; j < b->niv; j++) {
                const ival *x = &a->iv[i], *y = &b->iv[j];
                ival z;
                if (x->lo > y->lo || (x->lo == y->lo && !x->lo_in)) {
                    z.lo = x->lo;
                    z.lo_in = x->lo_in;
                } else {
                    z.lo = y->lo;
                    z.lo_in = y->lo_in;
                }
                if (x->hi < y->hi || (x->hi == y->hi && !x->hi_in)) {
                    z.hi = x->hi;
                    z.hi_in = x->hi_in;
                } else {
                    z.hi = y->hi;
                    z.hi_in = y->hi_in;
                }
                if (ival_ok(&z))
                    iv[r.niv++] = z;
            }
        r.iv = iv;
    }
    if (a->cof && b->cof) { /* all but (Ea u Eb) */
        sstr *u = an_alloc(A, (a->nstr + b->nstr) * sizeof *u);
        size_t n = 0;
        for (size_t i = 0; u && i < a->nstr; i++)
            u[n++] = a->strs[i];
        for (size_t i = 0; u && i < b->nstr; i++)
            if (!str_in(&b->strs[i], a->strs, a->nstr))
                u[n++] = b->strs[i];
        r.cof = true;
        r.strs = u;
        r.nstr = n;
    } else if (a->cof) {
        r.nstr =
            str_filter(A, b->strs, b->nstr, a->strs, a->nstr, false, &r.strs);
    } else if (b->cof) {
        r.nstr =
            str_filter(A, a->strs, a->nstr, b->strs, b->nstr, false, &r.strs);
    } else {
        r.nstr =
            str_filter(A, a->strs, a->nstr, b->strs, b->nstr, true, &r.strs);
    }
    return r;
}

static vset vs_complement(an *A, const vset *a) {
    vset r = vs_empty();
    r.bits = ~a->bits & VS_FLAGS;
    ival *iv = an_alloc(A, (a->niv + 1) * sizeof *iv);
    if (iv) {
        double cur = -INFINITY;
        bool cur_in = true;
        for (size_t i = 0; i <= a->niv; i++) {
            ival g = {cur, INFINITY, cur_in, true};
            if (i < a->niv) {
                g.hi = a->iv[i].lo;
                g.hi_in = !a->iv[i].lo_in;
            }
            if (ival_ok(&g))
                iv[r.niv++] = g;
            if (i < a->niv) {
                cur = a->iv[i].hi;
                cur_in = !a->iv[i].hi_in;
            }
        }
        r.iv = iv;
    }
    r.cof = !a->cof;
    r.strs = a->strs;
    r.nstr = a->nstr;
    return r;
}

static vset vs_union(an *A, const vset *a, const vset *b) {
    vset ca = vs_complement(A, a), cb = vs_complement(A, b);
    vset i = vs_intersect(A, &ca, &cb);
    return vs_complement(A, &i);
}

static vset vs_minus(an *A, const vset *a, const vset *b) {
    vset cb = vs_complement(A, b);
    return vs_intersect(A, a, &cb);
}

static bool vs_subset(an *A, const vset *a, const vset *b) {
    vset d = vs_minus(A, a, b);
    return !A->oom && vs_is_empty(&d);
}

/* ---- fields and their domains -------------------------------------------- */

/* A field a condition reads: a built-in slot, or a metadata key. */
typedef struct fref {
    int slot; /* -1: metadata */
    const char *key;
    size_t len;
} fref;

static bool fref_eq(const fref *a, const fref *b) {
    if (a->slot != b->slot)
        return false;
    return a->slot >= 0 ||
           (a->len == b->len && memcmp(a->key, b->key, a->len) == 0);
}

static vset field_dom(an *A, const fref *f) {
    vset v = vs_universe();
    aa__dom_kind k = AA__DOM_ANY;
    if (f->slot >= 0)
        k = AA__DOM_STRING; /* a built-in field is a string or null */
    else if (A->dom)
        k = A->dom(A->dom_ud, f->key, f->len);
    switch (k) {
    case AA__DOM_STRING:
        v.bits = VS_NULL;
        v.niv = 0;
        break;
    case AA__DOM_NUMBER:
        v.bits = VS_NULL | VS_NAN;
        v.cof = false;
        break;
    case AA__DOM_BOOL:
        v.bits = VS_NULL | VS_TRUE | VS_FALSE;
        v.niv = 0;
        v.cof = false;
        break;
    case AA__DOM_LIST:
        v.bits = VS_NULL | VS_LIST;
        v.niv = 0;
        v.cof = false;
        break;
    default:
        break;
    }
    return v;
}

/* ---- summaries of sub-expressions ---------------------------------------- */

enum { S_CONST, S_FIELD, S_OPAQUE };

typedef struct sum {
    int kind;
    fref f;          /* S_FIELD */
    vset T, F, E;    /* S_FIELD: the field's values giving each outcome */
    bool t0, f0, e0; /* sound: no request is true / false / an error */
    int cval;        /* S_CONST: 1 true, 0 false, -1 error */
    uint32_t node;
} sum;

static void sum_flags(sum *s) {
    s->t0 = vs_is_empty(&s->T);
    s->f0 = vs_is_empty(&s->F);
    s->e0 = vs_is_empty(&s->E);
}

static sum opaque(uint32_t n, bool can_err) {
    sum s;
    memset(&s, 0, sizeof s);
    s.kind = S_OPAQUE;
    s.e0 = !can_err;
    s.node = n;
    return s;
}

/* A constant's outcome spread over a field's domain. */
static sum const_on(an *A, const sum *c, const fref *f) {
    sum s = *c;
    vset d = field_dom(A, f);
    s.kind = S_FIELD;
    s.f = *f;
    s.T = c->cval == 1 ? d : vs_empty();
    s.F = c->cval == 0 ? d : vs_empty();
    s.E = c->cval == -1 ? d : vs_empty();
    return s;
}

/* Does the subtree read the request, or call a matcher? */
static bool reads_request(const aa__expr *e, const node *n) {
    switch (n->kind) {
    case N_FIELD:
    case N_META:
        return true;
    case N_CMP:
        return n->op == OP_MATCHES || reads_request(e, &e->nodes[n->a]) ||
               reads_request(e, &e->nodes[n->b]);
    case N_NOT:
        return reads_request(e, &e->nodes[n->a]);
    case N_LIST:
    case N_AND:
    case N_OR:
        for (uint32_t i = 0; i < n->b; i++)
            if (reads_request(e, &e->nodes[e->kids[n->a + i]]))
                return true;
        return false;
    default:
        return false;
    }
}

static bool field_of(const node *n, fref *f) {
    if (n->kind == N_FIELD) {
        f->slot = (int)n->a;
        f->key = NULL;
        f->len = 0;
        return true;
    }
    if (n->kind == N_META) {
        f->slot = -1;
        f->key = n->v.u.s.p;
        f->len = n->v.u.s.len;
        return true;
    }
    return false;
}

/* The values equal to constant c (evaluator's `equal`); false when c is a
 * list (not modelled). */
static bool eq_set(an *A, const aa__value *c, vset *out) {
    *out = vs_empty();
    switch (c->type) {
    case AA__V_NULL:
        out->bits = VS_NULL;
        return true;
    case AA__V_BOOL:
        out->bits = c->u.b ? VS_TRUE : VS_FALSE;
        return true;
    case AA__V_NUM: {
        if (c->u.n != c->u.n)
            return true; /* NaN equals nothing */
        ival *iv = an_alloc(A, sizeof *iv);
        if (!iv)
            return false;
        *iv = (ival){c->u.n, c->u.n, true, true};
        out->iv = iv;
        out->niv = 1;
        return true;
    }
    case AA__V_STR: {
        sstr *s = an_alloc(A, sizeof *s);
        if (!s)
            return false;
        s->p = c->u.s.p;
        s->len = c->u.s.len;
        out->strs = s;
        out->nstr = 1;
        return true;
    }
    default:
        return false;
    }
}

/* field OP constant, exactly, or false when not modelled. */
static bool atom(an *A, int op, const fref *f, const aa__value *c, sum *s) {
    vset dom = field_dom(A, f), T = vs_empty(), E = vs_empty();
    switch (op) {
    case OP_EQ:
    case OP_NE:
        if (!eq_set(A, c, &T))
            return false;
        break;
    case OP_IN:
    case OP_NOTIN:
        if (c->type != AA__V_LIST)
            return false; /* substring: not modelled */
        for (size_t i = 0; i < c->u.list.n; i++) {
            vset one;
            if (!eq_set(A, &c->u.list.items[i], &one))
                return false;
            T = vs_union(A, &T, &one);
        }
        break;
    case OP_LT:
    case OP_GT:
    case OP_LE:
    case OP_GE: {
        if (c->type == AA__V_NULL)
            break; /* a null side: always false */
        if (c->type != AA__V_NUM || c->u.n != c->u.n)
            return false; /* text orderings: not modelled */
        ival *iv = an_alloc(A, sizeof *iv);
        if (!iv)
            return false;
        double k = c->u.n;
        if (op == OP_LT)
            *iv = (ival){-INFINITY, k, true, false};
        else if (op == OP_LE)
            *iv = (ival){-INFINITY, k, true, true};
        else if (op == OP_GT)
            *iv = (ival){k, INFINITY, false, true};
        else
            *iv = (ival){k, INFINITY, true, true};
        if (ival_ok(iv)) {
            T.iv = iv;
            T.niv = 1;
        }
        /* Non-null values of another kind: an evaluation error. */
        E.bits = VS_TRUE | VS_FALSE | VS_LIST;
        E.cof = true;
        break;
    }
    default:
        return false;
    }
    memset(s, 0, sizeof *s);
    s->kind = S_FIELD;
    s->f = *f;
    s->T = vs_intersect(A, &T, &dom);
    s->E = vs_intersect(A, &E, &dom);
    vset te = vs_union(A, &s->T, &s->E);
    s->F = vs_minus(A, &dom, &te);
    if (op == OP_NE || op == OP_NOTIN) {
        vset t = s->T;
        s->T = s->F;
        s->F = t;
    }
    sum_flags(s);
    return !A->oom;
}

static int mirror(int op) {
    switch (op) {
    case OP_LT:
        return OP_GT;
    case OP_GT:
        return OP_LT;
    case OP_LE:
        return OP_GE;
    case OP_GE:
        return OP_LE;
    default:
        return op;
    }
}

static sum analyze(an *A, uint32_t idx);

/* and (is_and) / or of two summaries. */
static sum combine(an *A, const sum *a, const sum *b, bool is_and,
                   uint32_t node_idx) {
    const fref *f = a->kind == S_FIELD   ? &a->f
                    : b->kind == S_FIELD ? &b->f
                                         : NULL;
    bool exact = f && a->kind != S_OPAQUE && b->kind != S_OPAQUE &&
                 (a->kind != S_FIELD || fref_eq(&a->f, f)) &&
                 (b->kind != S_FIELD || fref_eq(&b->f, f));
    sum r;
    memset(&r, 0, sizeof r);
    r.node = node_idx;
    if (exact) {
        sum x = a->kind == S_CONST ? const_on(A, a, f) : *a;
        sum y = b->kind == S_CONST ? const_on(A, b, f) : *b;
        r.kind = S_FIELD;
        r.f = *f;
        if (is_and) {
            vset te = vs_intersect(A, &x.T, &y.E),
                 tf = vs_intersect(A, &x.T, &y.F);
            r.T = vs_intersect(A, &x.T, &y.T);
            r.E = vs_union(A, &x.E, &te);
            r.F = vs_union(A, &x.F, &tf);
        } else {
            vset ft = vs_intersect(A, &x.F, &y.T),
                 fe = vs_intersect(A, &x.F, &y.E);
            r.T = vs_union(A, &x.T, &ft);
            r.E = vs_union(A, &x.E, &fe);
            r.F = vs_intersect(A, &x.F, &y.F);
        }
        sum_flags(&r);
        return r;
    }
    r.kind = S_OPAQUE;
    if (is_and) {
        r.t0 = a->t0 || b->t0;
        r.f0 = a->f0 && (a->t0 || b->f0);
        r.e0 = a->e0 && (a->t0 || b->e0);
    } else {
        r.f0 = a->f0 || b->f0;
        r.t0 = a->t0 && (a->f0 || b->t0);
        r.e0 = a->e0 && (a->f0 || b->e0);
    }
    return r;
}

/* For an `and` (want_t: the true sets) or an `or` (the false sets): the
 * outcome that needs every operand to agree is empty when, for one field,
 * the operands about that field alone cannot agree. Order does not matter
 * for that outcome, so operands need not be adjacent. */
static bool group_empty(an *A, const sum *k, uint32_t n, bool want_t) {
    for (uint32_t i = 0; i < n; i++) {
        if (k[i].kind != S_FIELD)
            continue;
        vset acc = want_t ? k[i].T : k[i].F;
        for (uint32_t j = i + 1; j < n; j++)
            if (k[j].kind == S_FIELD && fref_eq(&k[j].f, &k[i].f))
                acc = vs_intersect(A, &acc, want_t ? &k[j].T : &k[j].F);
        if (vs_is_empty(&acc) && !A->oom)
            return true;
    }
    return false;
}

static sum analyze(an *A, uint32_t idx) {
    const aa__expr *e = A->e;
    const node *n = &e->nodes[idx];
    if (!reads_request(e, n)) { /* constant folding, by the evaluator */
        bool v = false;
        int rc = aa__expr_eval_node(e, idx, NULL, &v);
        sum s;
        memset(&s, 0, sizeof s);
        s.kind = S_CONST;
        s.node = idx;
        s.cval = rc == AA_OK ? (int)v : -1;
        s.t0 = s.cval != 1;
        s.f0 = s.cval != 0;
        s.e0 = s.cval != -1;
        return s;
    }
    switch (n->kind) {
    case N_CMP: {
        const node *l = &e->nodes[n->a], *r = &e->nodes[n->b];
        fref f;
        sum s;
        if (n->op != OP_MATCHES) {
            if (field_of(l, &f) && r->kind == N_CONST &&
                atom(A, n->op, &f, &r->v, &s)) {
                s.node = idx;
                return s;
            }
            if (field_of(r, &f) && l->kind == N_CONST && (n->op <= OP_GE) &&
                atom(A, mirror(n->op), &f, &l->v, &s)) {
                s.node = idx;
                return s;
            }
        }
        return opaque(idx, n->can_err);
    }
    case N_NOT: {
        sum s = analyze(A, n->a);
        vset t = s.T;
        bool t0 = s.t0;
        s.T = s.F;
        s.F = t;
        s.t0 = s.f0;
        s.f0 = t0;
        if (s.kind == S_CONST && s.cval >= 0)
            s.cval = !s.cval;
        s.node = idx;
        return s;
    }
    case N_AND:
    case N_OR: {
        bool is_and = n->kind == N_AND;
        sum *k = an_alloc(A, n->b * sizeof *k);
        if (!k)
            return opaque(idx, true);
        for (uint32_t i = 0; i < n->b; i++)
            k[i] = analyze(A, e->kids[n->a + i]);
        sum acc = k[0];
        for (uint32_t i = 1; i < n->b; i++)
            acc = combine(A, &acc, &k[i], is_and, idx);
        if (acc.kind == S_OPAQUE && group_empty(A, k, n->b, is_and)) {
            if (is_and)
                acc.t0 = true;
            else
                acc.f0 = true;
        }
        acc.node = idx;
        return acc;
    }
    default: /* a bare field or list read as a truth value: never an error */
        return opaque(idx, false);
    }
}

/* ---- facts --------------------------------------------------------------- */

struct aa__cond_facts {
    const aa__expr *e;
    bool empty;
    sum root;
    sum *conj; /* the operands of a top-level `and`, else the root */
    uint32_t nconj;
    an A; /* for the value-set work of aa__cond_implies */
};

aa__cond_facts *aa__cond_analyze(const aa__expr *e, aa__dom_fn dom,
                                 void *dom_ud, aa__arena *arena) {
    aa__cond_facts *f = aa__arena_alloc(arena, sizeof *f);
    if (!f)
        return NULL;
    f->e = e;
    f->A = (an){e, dom, dom_ud, arena, false};
    f->empty = !e || aa__expr_is_empty(e);
    if (f->empty)
        return f;
    const node *root = &e->nodes[e->root];
    if (root->kind == N_AND && reads_request(e, root)) {
        f->nconj = root->b;
        f->conj = an_alloc(&f->A, root->b * sizeof *f->conj);
        if (!f->conj)
            return NULL;
        for (uint32_t i = 0; i < root->b; i++)
            f->conj[i] = analyze(&f->A, e->kids[root->a + i]);
        sum acc = f->conj[0];
        for (uint32_t i = 1; i < root->b; i++)
            acc = combine(&f->A, &acc, &f->conj[i], true, e->root);
        if (acc.kind == S_OPAQUE && group_empty(&f->A, f->conj, root->b, true))
            acc.t0 = true;
        f->root = acc;
    } else {
        f->root = analyze(&f->A, e->root);
        f->nconj = 1;
        f->conj = &f->root;
    }
    return f->A.oom ? NULL : f;
}

bool aa__cond_never_true(const aa__cond_facts *f) {
    return !f->empty && f->root.t0;
}

bool aa__cond_never_false(const aa__cond_facts *f) {
    return f->empty || f->root.f0;
}

bool aa__cond_never_error(const aa__cond_facts *f) {
    return f->empty || f->root.e0;
}

/* Structural equality of two compiled sub-expressions (same outcome on
 * every request). */
static bool node_eq(const aa__expr *ea, uint32_t ia, const aa__expr *eb,
                    uint32_t ib) {
    const node *a = &ea->nodes[ia], *b = &eb->nodes[ib];
    if (a->kind != b->kind || a->op != b->op)
        return false;
    switch (a->kind) {
    case N_CONST:
    case N_META:
        return aa__value_equal(&a->v, &b->v);
    case N_FIELD:
        return a->a == b->a;
    case N_NOPATH:
        return true;
    case N_NOT:
        return node_eq(ea, a->a, eb, b->a);
    case N_CMP:
        if (a->op == OP_MATCHES)
            return aa__value_equal(&a->v, &b->v) && node_eq(ea, a->a, eb, b->a);
        return node_eq(ea, a->a, eb, b->a) && node_eq(ea, a->b, eb, b->b);
    default: /* N_LIST, N_AND, N_OR */
        if (a->b != b->b)
            return false;
        for (uint32_t i = 0; i < a->b; i++)
            if (!node_eq(ea, ea->kids[a->a + i], eb, eb->kids[b->a + i]))
                return false;
        return true;
    }
}

static bool implies(an *A, const aa__cond_facts *p, const aa__cond_facts *q);

bool aa__cond_implies(const aa__cond_facts *p, const aa__cond_facts *q) {
    if (q->empty || (q->root.f0))
        return true; /* q always matches (true or an error) */
    if (p->empty)
        return false;
    if (p->root.t0 && p->root.e0)
        return true; /* p never matches */
    if (node_eq(p->e, p->e->root, q->e, q->e->root))
        return true;
    aa__arena scratch;
    aa__arena_init(&scratch);
    an work = {p->e, p->A.dom, p->A.dom_ud, &scratch, false};
    bool r = implies(&work, p, q);
    aa__arena_free(&scratch);
    return r;
}

static bool implies(an *A, const aa__cond_facts *p, const aa__cond_facts *q) {
    /* p matches only where every operand is true, or some operand raises
     * an error; q matches wherever each of its operands is true or raises
     * one (evaluation stops at the first error, which matches). */
    for (uint32_t j = 0; j < q->nconj; j++) {
        const sum *b = &q->conj[j];
        if (b->f0)
            continue; /* this operand never stops q */
        vset mb = vs_empty();
        if (b->kind == S_FIELD)
            mb = vs_union(A, &b->T, &b->E);
        /* (1) where every operand of p is true, b is true or an error. */
        bool ok = p->root.t0;
        if (!ok && b->kind == S_FIELD) {
            vset tp = field_dom(A, &b->f);
            for (uint32_t i = 0; i < p->nconj; i++)
                if (p->conj[i].kind == S_FIELD && fref_eq(&p->conj[i].f, &b->f))
                    tp = vs_intersect(A, &tp, &p->conj[i].T);
            ok = vs_subset(A, &tp, &mb);
        }
        for (uint32_t i = 0; !ok && i < p->nconj; i++)
            ok = node_eq(p->e, p->conj[i].node, q->e, b->node);
        if (!ok)
            return false;
        /* (2) where an operand of p raises an error, b matches too. */
        for (uint32_t i = 0; i < p->nconj; i++) {
            const sum *a = &p->conj[i];
            if (a->e0)
                continue;
            if (a->kind == S_FIELD && b->kind == S_FIELD &&
                fref_eq(&a->f, &b->f) && vs_subset(A, &a->E, &mb))
                continue;
            if (node_eq(p->e, a->node, q->e, b->node))
                continue;
            return false;
        }
    }
    return !A->oom;
}
