/* decision.h - the reusable decision object (internal layout). */
#ifndef AA_DECISION_H
#define AA_DECISION_H

#include "util.h"

/* Scratch bits for the engine's index (engine_index.c): one per policy,
 * kept between calls; words [lo, hi) may be non-zero. */
typedef struct aa__bitset {
    uint64_t *words;
    size_t cap; /* words allocated */
    size_t lo, hi;
} aa__bitset;

typedef struct aa__step {
    const char *name;
    aa__buf detail;
    int outcome;
} aa__step;

struct aa_decision {
    bool allowed;
    aa_tier tier;
    bool requires_approval;
    const char *approval_policy; /* borrowed from the policy, or "" */
    double time_ms;
    aa__buf reason;
    bool explain;
    aa__step *steps; /* reused across calls */
    size_t nsteps;
    size_t capsteps;
    aa_trace_step *view; /* public view of steps, built on demand */
    size_t nview;
    /* The audit step (engine.c): the decision's audit line, built here by
     * the deciding thread and reused; in aa_authorize_many, the line is
     * only built (audit_pending) and committed with the others. */
    struct aa__audit_line *audit_line;
    bool audit_batch;
    bool audit_pending;
    aa__bitset scratch; /* the candidates of the index, per request */
};

/* Starts a fresh decision (keeps buffers). */
static inline void aa__decision_reset(aa_decision *d) {
    d->allowed = false;
    d->tier = AA_TIER_AUTONOMOUS;
    d->requires_approval = false;
    d->approval_policy = "";
    d->time_ms = 0;
    aa__buf_reset(&d->reason);
    d->nsteps = 0;
    d->nview = 0;
}
/* Adds a trace step when explain is on; returns its detail buffer to
 * append to, or NULL when explain is off (or memory ran out). */
aa__buf *aa__decision_step(aa_decision *d, const char *name, int outcome);

#endif /* AA_DECISION_H */
