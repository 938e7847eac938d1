/* engine_index.c - hash indexes over approval and A2A policies, so that a
 * request only evaluates the policies that can concern it. */
#include "engine.h"

#include <stdlib.h>
#include <string.h>

static bool idlist_push(aa__idlist *l, int v) {
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

int aa__engine_index_build(aa__engine_index *ix, const aa_policy *p) {
    memset(ix, 0, sizeof *ix);
    size_t maxlists = 0;
    for (size_t i = 0; i < p->napprovals; i++) {
        const char *const *vals;
        size_t n;
        if (aa__expr_pins(p->approvals[i].cond, AA__F_ACTION, &vals, &n))
            maxlists += n;
    }
    maxlists += p->a2a.npolicies;
    ix->lists = calloc(maxlists ? maxlists : 1, sizeof *ix->lists);
    if (!ix->lists)
        return AA_ENOMEM;

    for (size_t i = 0; i < p->napprovals; i++) {
        const char *const *vals;
        size_t n;
        if (!aa__expr_pins(p->approvals[i].cond, AA__F_ACTION, &vals, &n)) {
            if (!idlist_push(&ix->approvals_always, (int)i))
                return AA_ENOMEM;
            continue;
        }
        for (size_t k = 0; k < n; k++) {
            aa__idlist *l = keyed_list(ix, &ix->approvals_by_action, vals[k],
                                       strlen(vals[k]));
            /* `action in ["a", "a"]` would list one policy twice. */
            if (!l || ((l->count == 0 || l->items[l->count - 1] != (int)i) &&
                       !idlist_push(l, (int)i)))
                return AA_ENOMEM;
        }
    }
    for (size_t i = 0; i < p->a2a.npolicies; i++) {
        const aa__a2a *a = &p->a2a.policies[i];
        aa__idlist *l;
        if (a->from_pat.kind == AA__PAT_EXACT)
            l = keyed_list(ix, &ix->a2a_by_from, a->from_pat.lit,
                           a->from_pat.litlen);
        else if (a->to_pat.kind == AA__PAT_EXACT)
            l = keyed_list(ix, &ix->a2a_by_to, a->to_pat.lit, a->to_pat.litlen);
        else
            l = &ix->a2a_always;
        if (!l || !idlist_push(l, (int)i))
            return AA_ENOMEM;
    }
    return AA_OK;
}

void aa__engine_index_free(aa__engine_index *ix) {
    for (size_t i = 0; i < ix->nlists; i++)
        free(ix->lists[i].items);
    free(ix->lists);
    free(ix->approvals_always.items);
    free(ix->a2a_always.items);
    aa__map_free(&ix->approvals_by_action);
    aa__map_free(&ix->a2a_by_from);
    aa__map_free(&ix->a2a_by_to);
    memset(ix, 0, sizeof *ix);
}
