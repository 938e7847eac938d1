/*
 * engine.h - the engine object shared by engine.c (authorization), state.c
 * (sessions and delegations with the rules of contract section 9) and the
 * audit writer. Internal.
 */
#ifndef AA_ENGINE_H
#define AA_ENGINE_H

#include "audit.h"
#include "engine_index.h"
#include "policy.h"
#include "store.h"
#include "util.h"

#include <string.h>

typedef struct aa__matcher {
    char *name;
    aa_matcher_fn fn;
    void *userdata;
} aa__matcher;

struct aa_engine {
    const aa_policy *policy;       /* borrowed, immutable */
    aa_store *store;               /* borrowed; NULL: no state */
    aa__audit *audit;              /* owned; NULL when auditing is off */
    struct aa__anchorer *anchorer; /* owned; NULL: no audit anchoring */
    char *audit_broken;            /* why the log could not be opened: with
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
int aa__engine_audit_event(aa_engine *e, const char *event,
                           const aa__audit_field *fields, size_t n,
                           aa_error *err);

/* The engine's clock, microseconds since the epoch. */
static inline int64_t aa__engine_now(const aa_engine *e) {
    return e->clock ? e->clock(e->clock_userdata) : aa__now_us();
}

#endif /* AA_ENGINE_H */
