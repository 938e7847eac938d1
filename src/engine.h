/*
 * engine.h - the engine object shared by engine.c (authorization), state.c
 * (sessions and delegations with the rules of contract section 9) and the
 * audit writer. Internal.
 */
#ifndef AA_ENGINE_H
#define AA_ENGINE_H

#include "audit.h"
#include "policy.h"
#include "store.h"
#include "util.h"

typedef struct aa__matcher {
    char *name;
    aa_matcher_fn fn;
    void *userdata;
} aa__matcher;

/* A sorted list of policy indexes (approval or A2A policies). */
typedef struct aa__idlist {
    int *items;
    size_t count;
} aa__idlist;

/* Lookups over the policy so that policies a request does not touch cost
 * nothing (engine_index.c). Each candidate set is the union of a list that
 * always applies and a list found by hash, both in file order. */
typedef struct aa__engine_index {
    aa__idlist approvals_always; /* conditions that pin no action */
    aa__map approvals_by_action; /* pinned action -> aa__idlist* */
    aa__idlist a2a_always;       /* from_agent and to_agent wildcards */
    aa__map a2a_by_from;         /* exact from_agent -> aa__idlist* */
    aa__map a2a_by_to;           /* wildcard from, exact to_agent -> ... */
    aa__idlist *lists;           /* storage of the mapped lists */
    size_t nlists;
} aa__engine_index;

int aa__engine_index_build(aa__engine_index *ix, const aa_policy *p);

/* Walks up to three sorted id lists as one, in file order (each id is in
 * at most one list). */
typedef struct aa__merge {
    const aa__idlist *l[3];
    size_t pos[3];
} aa__merge;

/* The next id, or -1 at the end. */
static inline int aa__merge_next(aa__merge *m) {
    int best = -1, which = -1;
    for (int k = 0; k < 3; k++) {
        const aa__idlist *l = m->l[k];
        if (l && m->pos[k] < l->count &&
            (best < 0 || l->items[m->pos[k]] < best)) {
            best = l->items[m->pos[k]];
            which = k;
        }
    }
    if (which >= 0)
        m->pos[which]++;
    return best;
}
void aa__engine_index_free(aa__engine_index *ix);

struct aa_engine {
    const aa_policy *policy; /* borrowed, immutable */
    aa_store *store;         /* borrowed; NULL: no state */
    aa__audit *audit;        /* owned; NULL when auditing is off */
    char *audit_broken;      /* why the log could not be opened: with
                                on_failure deny, every decision is denied */
    bool audit_on_failure_allow;
    aa_user_permission_fn user_permission;
    void *user_permission_userdata;
    int64_t (*clock)(void *userdata);
    void *clock_userdata;
    aa__matcher *matchers;
    size_t nmatchers;
    aa__map matcher_by_name; /* name -> aa__matcher* */
    aa__engine_index index;
};

/* Audit hook for state.c: writes a lifecycle event when auditing is on.
 * Returns AA_OK when written or off, else AA_EAUDIT (err says why). */
int aa__engine_audit_event(aa_engine *e, const char *event, const char *fields,
                           aa_error *err);

/* The engine's clock, microseconds since the epoch. */
static inline int64_t aa__engine_now(const aa_engine *e) {
    return e->clock ? e->clock(e->clock_userdata) : aa__now_us();
}

#endif /* AA_ENGINE_H */
