/* decision.c - the reusable decision object and its explanation trace. */
#include "decision.h"

#include "audit.h"

#include <stdlib.h>
#include <string.h>

/* Decisions are written on every call, each by its own thread: the object
 * and its reason buffer get cache lines of their own, so that decisions
 * made one after the other (say, one per thread at start-up) do not share
 * a line that two CPUs then keep taking from each other. */
#define AA__LINE       64
#define AA__REASON_CAP 256

aa_decision *aa_decision_new(void) {
    size_t size = (sizeof(aa_decision) + AA__LINE - 1) / AA__LINE * AA__LINE;
    aa_decision *d = aligned_alloc(AA__LINE, size);
    if (!d)
        return NULL;
    memset(d, 0, size);
    d->reason.data = aligned_alloc(AA__LINE, AA__REASON_CAP);
    if (d->reason.data) {
        d->reason.cap = AA__REASON_CAP;
        d->reason.data[0] = 0;
    }
    aa__decision_reset(d);
    return d;
}

void aa_decision_free(aa_decision *d) {
    if (!d)
        return;
    aa__buf_free(&d->reason);
    for (size_t i = 0; i < d->capsteps; i++)
        aa__buf_free(&d->steps[i].detail);
    free(d->steps);
    free(d->view);
    aa__audit_line_free(d->audit_line);
    free(d->scratch.words);
    free(d);
}

void aa_decision_set_explain(aa_decision *d, int on) {
    d->explain = on != 0;
}

aa__buf *aa__decision_step(aa_decision *d, const char *name, int outcome) {
    if (!d->explain)
        return NULL;
    if (d->nsteps == d->capsteps) {
        size_t cap = d->capsteps ? d->capsteps * 2 : 16;
        aa__step *steps = realloc(d->steps, cap * sizeof *steps);
        if (!steps)
            return NULL;
        memset(steps + d->capsteps, 0, (cap - d->capsteps) * sizeof *steps);
        d->steps = steps;
        d->capsteps = cap;
    }
    aa__step *s = &d->steps[d->nsteps++];
    s->name = name;
    s->outcome = outcome;
    aa__buf_reset(&s->detail);
    return &s->detail;
}

int aa_decision_allowed(const aa_decision *d) {
    return d->allowed;
}
aa_tier aa_decision_tier(const aa_decision *d) {
    return d->tier;
}
const char *aa_decision_reason(const aa_decision *d) {
    return d->reason.data ? d->reason.data : "";
}
int aa_decision_requires_approval(const aa_decision *d) {
    return d->requires_approval;
}
const char *aa_decision_approval_policy(const aa_decision *d) {
    return d->approval_policy;
}
double aa_decision_time_ms(const aa_decision *d) {
    return d->time_ms;
}
int aa_decision_is_denied(const aa_decision *d) {
    return !d->allowed;
}
int aa_decision_is_autonomous(const aa_decision *d) {
    return d->allowed && d->tier == AA_TIER_AUTONOMOUS && !d->requires_approval;
}

size_t aa_decision_trace_count(const aa_decision *d) {
    return d->nsteps;
}

const aa_trace_step *aa_decision_trace_get(const aa_decision *d, size_t i) {
    if (i >= d->nsteps)
        return NULL;
    aa_decision *m = (aa_decision *)d; /* the view is a cache */
    if (m->nview != m->nsteps) {
        aa_trace_step *v = realloc(m->view, m->nsteps * sizeof *v);
        if (!v)
            return NULL;
        m->view = v;
        for (size_t k = 0; k < m->nsteps; k++) {
            v[k].step = m->steps[k].name;
            v[k].detail =
                m->steps[k].detail.data ? m->steps[k].detail.data : "";
            v[k].outcome = m->steps[k].outcome;
        }
        m->nview = m->nsteps;
    }
    return &m->view[i];
}
