/*
 * expr_analysis.h - what can be known about a condition without a request
 * (for `agent-auth lint`): constant folding, and interval/equality
 * reasoning over comparisons of one field with constants.
 *
 * A condition has three outcomes on a request: true, false, or an
 * evaluation error (contract section 6: ordering values of two kinds, an
 * unknown matcher). The analysis computes, for each comparison of one field
 * with a constant and for and/or/not over such comparisons of one field, the
 * exact sets of that field's values giving each outcome; over several
 * fields it keeps only sound facts ("this outcome never happens"). Every
 * fact it states holds for every request; when unsure it states nothing.
 */
#ifndef AA_EXPR_ANALYSIS_H
#define AA_EXPR_ANALYSIS_H

#include "expr.h"

/* What a metadata key can hold: the kinds a `request_metadata`
 * declaration allows (a request whose declared key has another kind is
 * denied before any condition runs), or anything. */
typedef enum {
    AA__DOM_ANY = 0,
    AA__DOM_STRING,
    AA__DOM_NUMBER,
    AA__DOM_BOOL,
    AA__DOM_LIST
} aa__dom_kind;

/* The kind a metadata key can hold (AA__DOM_ANY when not declared). */
typedef aa__dom_kind (*aa__dom_fn)(void *ud, const char *key, size_t len);

typedef struct aa__cond_facts aa__cond_facts;

/* Analyses e (which must outlive the facts); the facts live in arena.
 * NULL only when out of memory. dom may be NULL (every key: anything). */
aa__cond_facts *aa__cond_analyze(const aa__expr *e, aa__dom_fn dom,
                                 void *dom_ud, aa__arena *arena);

/* Sound facts about the whole condition: it is never true, never false,
 * never raises an evaluation error (on any request). An empty condition is
 * always true. */
bool aa__cond_never_true(const aa__cond_facts *f);
bool aa__cond_never_false(const aa__cond_facts *f);
bool aa__cond_never_error(const aa__cond_facts *f);

/* True when, on every request where p "matches" (is true, or raises an
 * evaluation error: approval and A2A-deny semantics), q matches too. False
 * when that cannot be shown. */
bool aa__cond_implies(const aa__cond_facts *p, const aa__cond_facts *q);

#endif /* AA_EXPR_ANALYSIS_H */
