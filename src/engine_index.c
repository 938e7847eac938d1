/* engine_index.c - hash indexes over approval and A2A policies, so that a
 * request only evaluates the policies that can concern it. */
#include "engine_index.h"

#include <stdlib.h>
#include <string.h>

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
 * (at most one per policy entry) so pointers into `lists` stay valid. */
static aa__idlist *keyed_list(aa__engine_index *ix, aa__map *m, const char *key,
                              size_t len) {
    aa__idlist *l = aa__map_get(m, key, len);
    if (l)
        return l;
    l = &ix->lists[ix->nlists++];
    return aa__map_put(m, key, len, l) ? l : NULL;
}

/* ---- prefix indexes ------------------------------------------------------ */

typedef struct aa__prefix_key {
    const char *key; /* borrowed from the policy */
    size_t len;
    aa__idlist own; /* the policies with exactly this prefix */
    aa__idlist all; /* with this prefix or a shorter one it starts with */
} aa__prefix_key;

/* Records that policy `id` applies to values starting with key[0..len).
 * Keys are at most `cap` (allocated by the caller's first call). */
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

/* Once every prefix is added: computes each key's `all` list and repoints
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
            const aa__prefix_key *q =
                px->lens[j] <= k->len
                    ? aa__map_get(&px->map, k->key, px->lens[j])
                    : NULL;
            total += q ? q->own.count : 0;
        }
        k->all.items = malloc(total * sizeof *k->all.items);
        if (!k->all.items)
            return AA_ENOMEM;
        for (size_t j = 0; j < px->nlens; j++) {
            const aa__prefix_key *q =
                px->lens[j] <= k->len
                    ? aa__map_get(&px->map, k->key, px->lens[j])
                    : NULL;
            if (q) {
                memcpy(k->all.items + k->all.count, q->own.items,
                       q->own.count * sizeof *q->own.items);
                k->all.count += q->own.count;
            }
        }
        qsort(k->all.items, k->all.count, sizeof *k->all.items, cmp_int);
        size_t w = 0; /* one policy may name two prefixes of one value */
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
    memset(px, 0, sizeof *px);
}

/* ---- building ------------------------------------------------------------ */

/* The index of a metadata key, added when there is room; NULL when not. */
static aa__meta_index *meta_index(aa__engine_index *ix, const char *key,
                                  size_t keylen) {
    for (size_t k = 0; k < ix->nmeta; k++) {
        aa__meta_index *mi = &ix->approvals_by_meta[k];
        if (mi->keylen == keylen && memcmp(mi->key, key, keylen) == 0)
            return mi;
    }
    if (ix->nmeta == AA__META_KEYS)
        return NULL;
    aa__meta_index *mi = &ix->approvals_by_meta[ix->nmeta++];
    mi->key = key;
    mi->keylen = keylen;
    aa__map_init(&mi->by_value);
    return mi;
}

/* Indexes approval policy i by the metadata values its condition pins, if
 * it pins some and the key has (or gets) an index. */
static int index_approval_meta(aa__engine_index *ix, const aa_policy *p,
                               size_t i, bool *indexed) {
    const char *key, *const *vals;
    size_t keylen, n;
    *indexed = false;
    if (!aa__expr_meta_pin(p->approvals[i].cond, &key, &keylen, &vals, &n))
        return AA_OK;
    aa__meta_index *mi = meta_index(ix, key, keylen);
    if (!mi)
        return AA_OK;
    for (size_t k = 0; k < n; k++) {
        aa__idlist *l = keyed_list(ix, &mi->by_value, vals[k], strlen(vals[k]));
        if (!l || !idlist_push(l, (int)i))
            return AA_ENOMEM;
    }
    *indexed = true;
    return AA_OK;
}

/* Indexes approval policy i by the actions or action prefixes its
 * condition pins, else by the metadata values it pins, else it always
 * applies. */
static int index_approval(aa__engine_index *ix, const aa_policy *p, size_t i,
                          size_t maxprefixes) {
    const char *const *vals;
    size_t n, nexact;
    if (!aa__expr_pins(p->approvals[i].cond, AA__F_ACTION, &vals, &n,
                       &nexact)) {
        bool indexed;
        int rc = index_approval_meta(ix, p, i, &indexed);
        if (rc != AA_OK || indexed)
            return rc;
        return idlist_push(&ix->approvals_always, (int)i) ? AA_OK : AA_ENOMEM;
    }
    for (size_t k = nexact; k < n; k++)
        if (!vals[k][0]) /* starts_with "": any action */
            return idlist_push(&ix->approvals_always, (int)i) ? AA_OK
                                                              : AA_ENOMEM;
    for (size_t k = 0; k < n; k++) {
        int rc = AA_OK;
        if (k < nexact) {
            aa__idlist *l = keyed_list(ix, &ix->approvals_by_action, vals[k],
                                       strlen(vals[k]));
            if (!l || !idlist_push(l, (int)i))
                rc = AA_ENOMEM;
        } else {
            rc = prefix_add(&ix->approvals_by_prefix, maxprefixes, vals[k],
                            strlen(vals[k]), (int)i);
        }
        if (rc != AA_OK)
            return rc;
    }
    return AA_OK;
}

/* Indexes A2A policy i by its sender if it names one (exactly or by a
 * prefix), else by its target, else it always applies. */
static int index_a2a(aa__engine_index *ix, const aa_policy *p, size_t i) {
    const aa__a2a *a = &p->a2a.policies[i];
    const aa__pattern *from = &a->from_pat, *to = &a->to_pat;
    size_t cap = p->a2a.npolicies;
    aa__idlist *l;
    if (from->kind == AA__PAT_EXACT)
        l = keyed_list(ix, &ix->a2a_by_from, from->lit, from->litlen);
    else if (from->kind == AA__PAT_PREFIX && from->litlen)
        return prefix_add(&ix->a2a_by_from_prefix, cap, from->lit, from->litlen,
                          (int)i);
    else if (to->kind == AA__PAT_EXACT)
        l = keyed_list(ix, &ix->a2a_by_to, to->lit, to->litlen);
    else if (to->kind == AA__PAT_PREFIX && to->litlen)
        return prefix_add(&ix->a2a_by_to_prefix, cap, to->lit, to->litlen,
                          (int)i);
    else
        l = &ix->a2a_always;
    return l && idlist_push(l, (int)i) ? AA_OK : AA_ENOMEM;
}

int aa__engine_index_build(aa__engine_index *ix, const aa_policy *p) {
    memset(ix, 0, sizeof *ix);
    size_t maxlists = 0, maxprefixes = 0;
    for (size_t i = 0; i < p->napprovals; i++) {
        size_t n, nexact;
        if (aa__expr_pins(p->approvals[i].cond, AA__F_ACTION, NULL, &n,
                          &nexact)) {
            maxlists += nexact;
            maxprefixes += n - nexact;
        } else if (aa__expr_meta_pin(p->approvals[i].cond, NULL, NULL, NULL,
                                     &n)) {
            maxlists += n;
        }
    }
    maxlists += p->a2a.npolicies;
    ix->lists = calloc(maxlists ? maxlists : 1, sizeof *ix->lists);
    if (!ix->lists)
        return AA_ENOMEM;

    int rc = AA_OK;
    for (size_t i = 0; i < p->napprovals && rc == AA_OK; i++)
        rc = index_approval(ix, p, i, maxprefixes);
    for (size_t i = 0; i < p->a2a.npolicies && rc == AA_OK; i++)
        rc = index_a2a(ix, p, i);
    if (rc == AA_OK)
        rc = prefix_finish(&ix->approvals_by_prefix);
    if (rc == AA_OK)
        rc = prefix_finish(&ix->a2a_by_from_prefix);
    if (rc == AA_OK)
        rc = prefix_finish(&ix->a2a_by_to_prefix);
    return rc;
}

void aa__engine_index_free(aa__engine_index *ix) {
    for (size_t i = 0; i < ix->nlists; i++)
        free(ix->lists[i].items);
    free(ix->lists);
    free(ix->approvals_always.items);
    free(ix->a2a_always.items);
    aa__map_free(&ix->approvals_by_action);
    for (size_t k = 0; k < ix->nmeta; k++)
        aa__map_free(&ix->approvals_by_meta[k].by_value);
    aa__map_free(&ix->a2a_by_from);
    aa__map_free(&ix->a2a_by_to);
    prefix_free(&ix->approvals_by_prefix);
    prefix_free(&ix->a2a_by_from_prefix);
    prefix_free(&ix->a2a_by_to_prefix);
    memset(ix, 0, sizeof *ix);
}
