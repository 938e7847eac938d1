/*
 * engine_index.h - lookups over a policy's approval and A2A policies, so
 * that a request evaluates only the policies that can concern it (built
 * by engine_index.c, read by engine.c). Internal.
 */
#ifndef AA_ENGINE_INDEX_H
#define AA_ENGINE_INDEX_H

#include "policy.h"
#include "util.h"

#include <string.h>

/* A sorted list of policy indexes (approval or A2A policies). */
typedef struct aa__idlist {
    int *items;
    size_t count;
} aa__idlist;

/* Policies found by a prefix of a request field (`action starts_with
 * "pay:"`, `from_agent: "bot-*"`). For each prefix, `map` lists every
 * policy whose prefix is a prefix of it, itself included, so the longest
 * prefix of a value that the map holds finds them all: one probe per
 * distinct prefix length, longest first, until one hits. */
typedef struct aa__prefix_index {
    aa__map map;  /* prefix -> aa__idlist* */
    size_t *lens; /* the distinct prefix lengths, longest first */
    size_t nlens;
    struct aa__prefix_key *keys; /* storage: the prefixes and their lists */
    size_t nkeys;
} aa__prefix_index;

/* The policies whose prefix `s` starts with, in file order, or NULL. */
static inline const aa__idlist *
aa__prefix_index_get(const aa__prefix_index *px, const char *s, size_t len) {
    for (size_t i = 0; i < px->nlens; i++) {
        if (px->lens[i] > len)
            continue;
        const aa__idlist *l = aa__map_get(&px->map, s, px->lens[i]);
        if (l)
            return l;
    }
    return NULL;
}

/* Approval policies whose condition pins one metadata key to string
 * values (`metadata.tenant == "acme"`): value -> aa__idlist*. */
typedef struct aa__meta_index {
    const char *key; /* borrowed from a condition; not NUL-terminated */
    size_t keylen;
    aa__map by_value;
} aa__meta_index;

/* At most this many metadata keys are indexed; policies pinning others
 * always apply. */
#define AA__META_KEYS 4

/* Lookups over the policy so that policies a request does not touch cost
 * nothing (engine_index.c). Each candidate set is the union of a list that
 * always applies and the lists found by hash, all in file order. */
typedef struct aa__engine_index {
    aa__idlist approvals_always;          /* conditions that pin nothing */
    aa__map approvals_by_action;          /* pinned action -> aa__idlist* */
    aa__prefix_index approvals_by_prefix; /* `action starts_with` pins */
    aa__meta_index approvals_by_meta[AA__META_KEYS]; /* no action pin */
    size_t nmeta;
    aa__idlist a2a_always;               /* from_agent and to_agent wildcards */
    aa__map a2a_by_from;                 /* exact from_agent -> aa__idlist* */
    aa__prefix_index a2a_by_from_prefix; /* from_agent "lit*" */
    aa__map a2a_by_to;                   /* other from_agent, exact to_agent */
    aa__prefix_index a2a_by_to_prefix;   /* other from_agent, to_agent "lit*" */
    aa__idlist *lists;                   /* storage of the mapped lists */
    size_t nlists;
} aa__engine_index;

int aa__engine_index_build(aa__engine_index *ix, const aa_policy *p);

#define AA__MERGE_MAX (3 + AA__META_KEYS)

/* Walks sorted id lists as one, in file order, each id once (an id may be
 * in more than one list). Start from {0} and add the lists with
 * aa__merge_add. */
typedef struct aa__merge {
    const aa__idlist *l[AA__MERGE_MAX];
    size_t pos[AA__MERGE_MAX];
    int n;
    int last; /* one past the last id returned */
} aa__merge;

/* Adds a list (NULL or empty ones are left out). */
static inline void aa__merge_add(aa__merge *m, const aa__idlist *l) {
    if (l && l->count && m->n < AA__MERGE_MAX)
        m->l[m->n++] = l;
}

/* The next id, or -1 at the end. */
static inline int aa__merge_next(aa__merge *m) {
    for (;;) {
        int best = -1, which = -1;
        for (int k = 0; k < m->n; k++) {
            const aa__idlist *l = m->l[k];
            if (m->pos[k] < l->count &&
                (best < 0 || l->items[m->pos[k]] < best)) {
                best = l->items[m->pos[k]];
                which = k;
            }
        }
        if (which < 0)
            return -1;
        m->pos[which]++;
        if (best < m->last)
            continue; /* seen already through another list */
        m->last = best + 1;
        return best;
    }
}

/* The approval policies that can apply to a request with this action
 * (ahash is aa__hash(action, alen)) and metadata, and the A2A policies that
 * can apply to a call from one agent to another: a merge to walk. */
static inline aa__merge aa__approval_candidates(const aa__engine_index *ix,
                                                const char *action, size_t alen,
                                                uint64_t ahash,
                                                const aa_meta *meta,
                                                size_t nmeta) {
    aa__merge m = {{0}, {0}, 0, 0};
    aa__merge_add(&m, &ix->approvals_always);
    aa__merge_add(&m,
                  aa__map_get_h(&ix->approvals_by_action, action, alen, ahash));
    aa__merge_add(&m,
                  aa__prefix_index_get(&ix->approvals_by_prefix, action, alen));
    for (size_t k = 0; k < ix->nmeta; k++) {
        const aa__meta_index *mi = &ix->approvals_by_meta[k];
        const char *v = aa__meta_string(meta, nmeta, mi->key, mi->keylen);
        if (v)
            aa__merge_add(&m, aa__map_get(&mi->by_value, v, strlen(v)));
    }
    return m;
}

static inline aa__merge aa__a2a_candidates(const aa__engine_index *ix,
                                           const char *from, size_t flen,
                                           const char *to, size_t tlen) {
    aa__merge m = {{0}, {0}, 0, 0};
    aa__merge_add(&m, &ix->a2a_always);
    aa__merge_add(&m, aa__map_get(&ix->a2a_by_from, from, flen));
    aa__merge_add(&m,
                  aa__prefix_index_get(&ix->a2a_by_from_prefix, from, flen));
    aa__merge_add(&m, aa__map_get(&ix->a2a_by_to, to, tlen));
    aa__merge_add(&m, aa__prefix_index_get(&ix->a2a_by_to_prefix, to, tlen));
    return m;
}

void aa__engine_index_free(aa__engine_index *ix);

#endif /* AA_ENGINE_INDEX_H */
