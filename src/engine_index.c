/* engine_index.c - indexes over approval and A2A policies by the atoms of
 * their filters (engine_index.h), so that a request only evaluates the
 * policies that can concern it. */
#include "engine_index.h"

#include <stdlib.h>
#include <string.h>

#include "pattern.h"

static bool idlist_push(aa__idlist *l, int v) {
    if (l->count && l->items[l->count - 1] == v)
        return true; /* `action in ["a", "a"]` would list a policy twice */
    int *items = realloc(l->items, (l->count + 1) * sizeof *items);
    if (!items)
        return false;
    items[l->count++] = v;
    l->items = items;
    return true;
}

/* Finds or creates the mapped list for key. Lists are allocated up front
 * (at most one per atom) so pointers into `lists` stay valid. */
static aa__idlist *keyed_list(aa__atom_index *ix, aa__map *m, const char *key,
                              size_t len) {
    aa__idlist *l = aa__map_get(m, key, len);
    if (l)
        return l;
    l = &ix->lists[ix->nlists++];
    return aa__map_put(m, key, len, l) ? l : NULL;
}

/* ---- prefix and suffix indexes ------------------------------------------ */

typedef struct aa__prefix_key {
    const char *key; /* borrowed from the policy */
    size_t len;
    aa__idlist own; /* the policies with exactly this key */
    aa__idlist all; /* with this key or a shorter one it starts (ends) with */
} aa__prefix_key;

/* Records that policy `id` applies to values starting (ending) with
 * key[0..len). At most `cap` keys (allocated by the first call). */
static int prefix_add(aa__prefix_index *px, size_t cap, const char *key,
                      size_t len, int id) {
    if (!px->keys && !(px->keys = calloc(cap ? cap : 1, sizeof *px->keys)))
        return AA_ENOMEM;
    aa__prefix_key *k = aa__map_get(&px->map, key, len);
    if (!k) {
        k = &px->keys[px->nkeys++];
        k->key = key;
        k->len = len;
        if (!aa__map_put(&px->map, key, len, k))
            return AA_ENOMEM;
    }
    return idlist_push(&k->own, id) ? AA_OK : AA_ENOMEM;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int cmp_len_desc(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x < y) - (x > y);
}

/* The key of length l that k starts (ends) with, if the index has it. */
static const aa__prefix_key *shorter(const aa__prefix_index *px,
                                     const aa__prefix_key *k, size_t l) {
    if (l > k->len)
        return NULL;
    return aa__map_get(&px->map, px->suffix ? k->key + k->len - l : k->key, l);
}

/* Once every key is added: computes each key's `all` list and repoints
 * the map at it. */
static int prefix_finish(aa__prefix_index *px) {
    if (!px->nkeys)
        return AA_OK;
    px->lens = malloc(px->nkeys * sizeof *px->lens);
    if (!px->lens)
        return AA_ENOMEM;
    for (size_t i = 0; i < px->nkeys; i++) {
        size_t j = 0;
        while (j < px->nlens && px->lens[j] != px->keys[i].len)
            j++;
        if (j == px->nlens)
            px->lens[px->nlens++] = px->keys[i].len;
    }
    qsort(px->lens, px->nlens, sizeof *px->lens, cmp_len_desc);

    for (size_t i = 0; i < px->nkeys; i++) {
        aa__prefix_key *k = &px->keys[i];
        size_t total = 0;
        for (size_t j = 0; j < px->nlens; j++) {
            const aa__prefix_key *q = shorter(px, k, px->lens[j]);
            total += q ? q->own.count : 0;
        }
        k->all.items = malloc(total * sizeof *k->all.items);
        if (!k->all.items)
            return AA_ENOMEM;
        for (size_t j = 0; j < px->nlens; j++) {
            const aa__prefix_key *q = shorter(px, k, px->lens[j]);
            if (q) {
                memcpy(k->all.items + k->all.count, q->own.items,
                       q->own.count * sizeof *q->own.items);
                k->all.count += q->own.count;
            }
        }
        if (k->all.count)
            qsort(k->all.items, k->all.count, sizeof *k->all.items, cmp_int);
        size_t w = 0; /* one policy may name two keys of one value */
        for (size_t r = 0; r < k->all.count; r++)
            if (!w || k->all.items[w - 1] != k->all.items[r])
                k->all.items[w++] = k->all.items[r];
        k->all.count = w;
    }
    /* Only now: the loop above reads the `own` lists through the map. */
    for (size_t i = 0; i < px->nkeys; i++)
        if (!aa__map_put(&px->map, px->keys[i].key, px->keys[i].len,
                         &px->keys[i].all))
            return AA_ENOMEM;
    return AA_OK;
}

static void prefix_free(aa__prefix_index *px) {
    for (size_t i = 0; i < px->nkeys; i++) {
        free(px->keys[i].own.items);
        free(px->keys[i].all.items);
    }
    free(px->keys);
    free(px->lens);
    aa__map_free(&px->map);
}

/* ---- thresholds ---------------------------------------------------------- */

/* Orders two constants of one kind (numbers, or strings as bytes, shorter
 * first on a tie: what `< >` do). */
static int value_cmp(const aa__value *a, const aa__value *b) {
    if (a->type == AA__V_NUM)
        return (a->u.n > b->u.n) - (a->u.n < b->u.n);
    size_t m = a->u.s.len < b->u.s.len ? a->u.s.len : b->u.s.len;
    int c = m ? memcmp(a->u.s.p, b->u.s.p, m) : 0;
    if (c)
        return c < 0 ? -1 : 1;
    return (a->u.s.len > b->u.s.len) - (a->u.s.len < b->u.s.len);
}

static int cmp_thresh(const void *a, const void *b) {
    const aa__thresh *x = a, *y = b;
    int c = value_cmp(&x->c, &y->c);
    return c ? c : (x->id > y->id) - (x->id < y->id);
}

static bool thresh_push(aa__thresh **arr, size_t *n, const aa__value *c, int id,
                        bool inclusive) {
    aa__thresh *t = realloc(*arr, (*n + 1) * sizeof *t);
    if (!t)
        return false;
    t[*n] = (aa__thresh){*c, id, inclusive};
    *arr = t;
    (*n)++;
    return true;
}

/* ---- building ------------------------------------------------------------ */

/* The value index of an atom's field or metadata key, made when new. */
static aa__value_index *value_index(aa__atom_index *ix, const aa__atom *a) {
    if (a->field >= 0) {
        if (!ix->fields[a->field]) {
            aa__value_index *v = &ix->storage_fields[a->field];
            v->field = a->field;
            ix->fields[a->field] = v;
            ix->active[ix->nactive++] = a->field;
        }
        return ix->fields[a->field];
    }
    aa__value_index *v = aa__map_get(&ix->meta_by_key, a->key, a->keylen);
    if (v)
        return v;
    v = &ix->meta[ix->nmeta++];
    v->field = -1;
    v->key = a->key;
    v->keylen = a->keylen;
    return aa__map_put(&ix->meta_by_key, a->key, a->keylen, v) ? v : NULL;
}

static int add_atom(aa__atom_index *ix, const aa__atom *a, int id, size_t cap) {
    aa__value_index *v = value_index(ix, a);
    if (!v)
        return AA_ENOMEM;
    v->natoms++;
    aa__idlist *l = NULL;
    const aa__value *c = &a->value;
    switch (a->op) {
    case AA__ATOM_EQ:
        if (c->type == AA__V_STR) {
            l = keyed_list(ix, &v->eq_str, c->u.s.p, c->u.s.len);
        } else if (c->type == AA__V_NUM) {
            double *k = &ix->numbers[ix->nnumbers++];
            *k = c->u.n == 0 ? 0.0 : c->u.n; /* -0 == 0 */
            l = keyed_list(ix, &v->eq_num, (const char *)k, sizeof *k);
        } else {
            l = &v->eq_bool[c->u.b ? 1 : 0];
        }
        return l && idlist_push(l, id) ? AA_OK : AA_ENOMEM;
    case AA__ATOM_PREFIX:
        return prefix_add(&v->prefix, cap, c->u.s.p, c->u.s.len, id);
    case AA__ATOM_SUFFIX:
        v->suffix.suffix = true;
        return prefix_add(&v->suffix, cap, c->u.s.p, c->u.s.len, id);
    default: {
        aa__thresholds *t = c->type == AA__V_NUM ? &v->num : &v->str;
        bool up = a->op == AA__ATOM_GT || a->op == AA__ATOM_GE;
        bool incl = a->op == AA__ATOM_GE || a->op == AA__ATOM_LE;
        bool ok = up ? thresh_push(&t->up, &t->nup, c, id, incl)
                     : thresh_push(&t->down, &t->ndown, c, id, incl);
        return ok ? AA_OK : AA_ENOMEM;
    }
    }
}

/* The atom of a pattern on field f: an exact name, "lit*" or "*lit". */
static long pattern_atom(const aa__pattern *pat, int f, aa__atom *out) {
    aa__atom_op op;
    if (pat->kind == AA__PAT_EXACT)
        op = AA__ATOM_EQ;
    else if (pat->kind == AA__PAT_PREFIX && pat->litlen)
        op = AA__ATOM_PREFIX;
    else if (pat->kind == AA__PAT_SUFFIX && pat->litlen)
        op = AA__ATOM_SUFFIX;
    else
        return -1;
    if (out) {
        out->op = op;
        out->field = f;
        out->key = NULL;
        out->keylen = 0;
        out->value.type = AA__V_STR;
        out->value.u.s.p = pat->lit;
        out->value.u.s.len = pat->litlen;
    }
    return 1;
}

/* The filter of a policy: its atoms (NULL to count them), or -1. */
typedef long (*filter_fn)(const aa_policy *p, size_t i, aa__atom *out);

static long approval_filter(const aa_policy *p, size_t i, aa__atom *out) {
    return aa__expr_filter(p->approvals[i].cond, out, NULL);
}

static double atoms_cost(const aa__atom *a, long n) {
    double c = 0;
    for (long i = 0; i < n; i++)
        c += a[i].op == AA__ATOM_EQ                                     ? 1.0
             : a[i].op == AA__ATOM_PREFIX || a[i].op == AA__ATOM_SUFFIX ? 2.0
                                                                        : 16.0;
    return c;
}

/* The most selective of an A2A policy's pattern atoms and its condition's
 * filter: every one must hold for the policy to match (its patterns are
 * checked before its condition, and none of them can fail). On a tie the
 * sender wins, then the target, the action, the condition. */
static long a2a_filter(const aa_policy *p, size_t i, aa__atom *out) {
    const aa__a2a *a = &p->a2a.policies[i];
    const aa__pattern *pats[3] = {&a->from_pat, &a->to_pat, &a->action_pat};
    static const int fields[3] = {AA__F_FROM_AGENT, AA__F_TO_AGENT,
                                  AA__F_ACTION};
    double best = -1;
    int which = -1;
    for (int k = 0; k < 3; k++) {
        aa__atom t;
        if (pattern_atom(pats[k], fields[k], &t) < 0)
            continue;
        double c = atoms_cost(&t, 1);
        if (best < 0 || c < best)
            best = c, which = k;
    }
    double c;
    if (aa__expr_filter(a->cond, NULL, &c) >= 0 && (best < 0 || c < best))
        best = c, which = 3;
    if (which < 0)
        return -1;
    if (which == 3)
        return aa__expr_filter(a->cond, out, NULL);
    return pattern_atom(pats[which], fields[which], out);
}

static int build_one(aa__atom_index *ix, const aa_policy *p, size_t n,
                     filter_fn filter) {
    memset(ix, 0, sizeof *ix);
    ix->npolicies = n;
    size_t total = 0, most = 0;
    for (size_t i = 0; i < n; i++) {
        long k = filter(p, i, NULL);
        if (k > 0) {
            total += (size_t)k;
            if ((size_t)k > most)
                most = (size_t)k;
        }
    }
    aa__atom *atoms = malloc((most ? most : 1) * sizeof *atoms);
    ix->storage_fields = calloc(AA__F_COUNT, sizeof *ix->storage_fields);
    ix->meta = calloc(total ? total : 1, sizeof *ix->meta);
    ix->lists = calloc(total ? total : 1, sizeof *ix->lists);
    ix->numbers = calloc(total ? total : 1, sizeof *ix->numbers);
    int rc = atoms && ix->storage_fields && ix->meta && ix->lists && ix->numbers
                 ? AA_OK
                 : AA_ENOMEM;
    for (size_t i = 0; i < n && rc == AA_OK; i++) {
        long k = filter(p, i, atoms);
        if (k < 0) {
            rc = idlist_push(&ix->always, (int)i) ? AA_OK : AA_ENOMEM;
            continue;
        }
        for (long j = 0; j < k && rc == AA_OK; j++)
            rc = add_atom(ix, &atoms[j], (int)i, total);
        ix->natoms += (size_t)k;
    }
    free(atoms);
    for (int f = 0; f < AA__F_COUNT + (int)ix->nmeta && rc == AA_OK; f++) {
        aa__value_index *v =
            f < AA__F_COUNT ? ix->fields[f] : &ix->meta[f - AA__F_COUNT];
        if (!v)
            continue;
        rc = prefix_finish(&v->prefix);
        if (rc == AA_OK)
            rc = prefix_finish(&v->suffix);
        aa__thresholds *ts[2] = {&v->num, &v->str};
        for (int t = 0; t < 2; t++) {
            if (ts[t]->nup)
                qsort(ts[t]->up, ts[t]->nup, sizeof *ts[t]->up, cmp_thresh);
            if (ts[t]->ndown)
                qsort(ts[t]->down, ts[t]->ndown, sizeof *ts[t]->down,
                      cmp_thresh);
        }
    }
    return rc;
}

int aa__engine_index_build(aa__engine_index *ix, const aa_policy *p) {
    memset(ix, 0, sizeof *ix);
    int rc = build_one(&ix->approvals, p, p->napprovals, approval_filter);
    if (rc == AA_OK)
        rc = build_one(&ix->a2a, p, p->a2a.npolicies, a2a_filter);
    return rc;
}

static void value_index_free(aa__value_index *v) {
    aa__map_free(&v->eq_str);
    aa__map_free(&v->eq_num);
    free(v->eq_bool[0].items);
    free(v->eq_bool[1].items);
    prefix_free(&v->prefix);
    prefix_free(&v->suffix);
    free(v->num.up);
    free(v->num.down);
    free(v->str.up);
    free(v->str.down);
}

static void atom_index_free(aa__atom_index *ix) {
    for (int f = 0; f < AA__F_COUNT; f++)
        if (ix->fields[f])
            value_index_free(ix->fields[f]);
    for (size_t k = 0; k < ix->nmeta; k++)
        value_index_free(&ix->meta[k]);
    for (size_t i = 0; i < ix->nlists; i++)
        free(ix->lists[i].items);
    free(ix->lists);
    free(ix->always.items);
    free(ix->storage_fields);
    free(ix->meta);
    free(ix->numbers);
    aa__map_free(&ix->meta_by_key);
    memset(ix, 0, sizeof *ix);
}

void aa__engine_index_free(aa__engine_index *ix) {
    atom_index_free(&ix->approvals);
    atom_index_free(&ix->a2a);
}

/* ---- asking -------------------------------------------------------------- */

static inline void mark(aa__bitset *b, int id) {
    size_t w = (size_t)id >> 6;
    b->words[w] |= UINT64_C(1) << (id & 63);
    if (w < b->lo)
        b->lo = w;
    if (w + 1 > b->hi)
        b->hi = w + 1;
}

static void mark_list(aa__bitset *b, const aa__idlist *l) {
    for (size_t i = 0; l && i < l->count; i++)
        mark(b, l->items[i]);
}

static void mark_all(aa__bitset *b, const aa__thresholds *t) {
    for (size_t i = 0; i < t->nup; i++)
        mark(b, t->up[i].id);
    for (size_t i = 0; i < t->ndown; i++)
        mark(b, t->down[i].id);
}

/* Marks the thresholds that `v` (of the thresholds' kind) passes:
 * `up` atoms whose constant is below v (or equal, inclusive), `down`
 * atoms whose constant is above v (or equal, inclusive). */
static void mark_thresholds(aa__bitset *b, const aa__thresholds *t,
                            const aa__value *v) {
    if (v->type == AA__V_NUM && v->u.n != v->u.n)
        return;                 /* NaN: no order, no error */
    size_t lo = 0, hi = t->nup; /* first constant above v */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (value_cmp(&t->up[mid].c, v) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = 0; i < lo; i++)
        if (t->up[i].inclusive || value_cmp(&t->up[i].c, v) < 0)
            mark(b, t->up[i].id);
    lo = 0, hi = t->ndown; /* first constant at or above v */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (value_cmp(&t->down[mid].c, v) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < t->ndown; i++)
        if (t->down[i].inclusive || value_cmp(&t->down[i].c, v) > 0)
            mark(b, t->down[i].id);
}

/* Marks the policies of every atom of vi that holds for value v. */
static void probe(const aa__value_index *vi, const aa__value *v, uint64_t *hash,
                  bool *hashed, aa__bitset *b) {
    switch (v->type) {
    case AA__V_STR:
        if (vi->eq_str.count) {
            if (!*hashed) {
                *hash = aa__hash(v->u.s.p, v->u.s.len);
                *hashed = true;
            }
            mark_list(b,
                      aa__map_get_h(&vi->eq_str, v->u.s.p, v->u.s.len, *hash));
        }
        if (vi->prefix.nlens)
            mark_list(b,
                      aa__prefix_index_get(&vi->prefix, v->u.s.p, v->u.s.len));
        if (vi->suffix.nlens)
            mark_list(b,
                      aa__prefix_index_get(&vi->suffix, v->u.s.p, v->u.s.len));
        if (vi->str.nup || vi->str.ndown)
            mark_thresholds(b, &vi->str, v);
        if (vi->num.nup || vi->num.ndown)
            mark_all(b, &vi->num); /* ordering a string and a number fails */
        return;
    case AA__V_NUM:
        if (vi->eq_num.count && v->u.n == v->u.n) {
            double k = v->u.n == 0 ? 0.0 : v->u.n;
            mark_list(b, aa__map_get(&vi->eq_num, (const char *)&k, sizeof k));
        }
        mark_thresholds(b, &vi->num, v);
        mark_all(b, &vi->str);
        return;
    case AA__V_BOOL:
        mark_list(b, &vi->eq_bool[v->u.b ? 1 : 0]);
        mark_all(b, &vi->num);
        mark_all(b, &vi->str);
        return;
    case AA__V_LIST:
        mark_all(b, &vi->num);
        mark_all(b, &vi->str);
        return;
    default: /* null: no atom holds */
        return;
    }
}

/* A metadata entry as a condition sees it (its list items are not read). */
static void meta_value(const aa_meta *m, aa__value *out) {
    out->type = AA__V_NULL;
    switch (m->type) {
    case AA_VALUE_BOOL:
        out->type = AA__V_BOOL;
        out->u.b = m->boolean != 0;
        break;
    case AA_VALUE_NUMBER:
        out->type = AA__V_NUM;
        out->u.n = m->number;
        break;
    case AA_VALUE_STRING:
        if (m->string) {
            out->type = AA__V_STR;
            out->u.s.p = m->string;
            out->u.s.len = strlen(m->string);
        }
        break;
    case AA_VALUE_LIST:
        if (m->items || !m->count)
            out->type = AA__V_LIST;
        break;
    default:
        break;
    }
}

static const char *req_field(const aa_request *q, int f) {
    switch (f) {
    case AA__F_AGENT:
    case AA__F_FROM_AGENT:
        return q->agent;
    case AA__F_USER:
        return q->user;
    case AA__F_ACTION:
        return q->action;
    case AA__F_RESOURCE:
        return q->resource;
    case AA__F_SCOPE:
        return q->scope;
    case AA__F_TARGET_AGENT:
    case AA__F_TO_AGENT:
        return q->target_agent;
    default:
        return q->session_id;
    }
}

/* Whether metadata entry i is the first with its key (the one a
 * condition reads). */
static bool first_of_key(const aa_meta *meta, size_t i) {
    for (size_t j = 0; j < i; j++)
        if (meta[j].key && strcmp(meta[j].key, meta[i].key) == 0)
            return false;
    return true;
}

static bool bits_reserve(aa__bitset *b, size_t n) {
    size_t words = (n + 63) / 64;
    if (b->lo + 1 == b->hi && b->lo < b->hi) /* what the last one marked */
        b->words[b->lo] = 0;
    else if (b->lo < b->hi)
        memset(b->words + b->lo, 0, (b->hi - b->lo) * sizeof *b->words);
    b->lo = SIZE_MAX;
    b->hi = 0;
    if (words <= b->cap)
        return true;
    uint64_t *w = calloc(words, sizeof *w);
    if (!w)
        return false;
    free(b->words);
    b->words = w;
    b->cap = words;
    return true;
}

aa__cands aa__cands_collect(const aa__atom_index *ix, aa__index_req *r,
                            aa__bitset *b) {
    aa__cands c;
    c.ai = 0;
    c.bits = NULL;
    c.w = c.lo = c.hi = 0;
    c.word = 0;
    c.all = -1;
    c.n = (int)ix->npolicies;
    c.always = ix->always.items;
    c.nalways = ix->always.count;
    if (!ix->natoms && !ix->linear)
        return c;
    if (ix->linear || !bits_reserve(b, ix->npolicies)) {
        c.all = 0;
        return c;
    }
    const aa_request *q = r->req;
    for (int k = 0; k < ix->nactive; k++) {
        int f = ix->active[k];
        const aa__value_index *vi = ix->fields[f];
        unsigned bit = 1u << f;
        if (!(r->have & bit)) {
            const char *s = req_field(q, f);
            r->fields[f] = s ? s : "";
            r->field_len[f] = s ? strlen(s) : 0;
            r->have |= bit;
        }
        aa__value v;
        v.type = AA__V_STR;
        v.u.s.p = r->fields[f];
        v.u.s.len = r->field_len[f];
        bool hashed = (r->hashed & bit) != 0;
        probe(vi, &v, &r->hash[f], &hashed, b);
        if (hashed)
            r->hashed |= bit;
    }
    size_t nmeta = q->metadata ? q->metadata_count : 0;
    if (ix->nmeta && nmeta) {
        for (size_t i = 0; i < nmeta; i++) {
            const aa_meta *m = &q->metadata[i];
            if (!m->key)
                continue;
            const aa__value_index *vi =
                aa__map_get(&ix->meta_by_key, m->key, strlen(m->key));
            if (!vi || !first_of_key(q->metadata, i))
                continue;
            aa__value v;
            uint64_t h = 0;
            bool hashed = false;
            meta_value(m, &v);
            probe(vi, &v, &h, &hashed, b);
        }
    }
    if (b->lo < b->hi) {
        c.bits = b->words;
        c.lo = c.w = b->lo;
        c.hi = b->hi;
        c.word = b->words[b->lo];
    }
    return c;
}

size_t aa__cands_count(const aa__cands *c) {
    if (c->all >= 0)
        return (size_t)c->n;
    size_t n = c->nalways;
    for (size_t w = c->lo; c->bits && w < c->hi; w++)
        n += (size_t)__builtin_popcountll(c->bits[w]);
    return n;
}
