/*
 * engine_index.h - lookups over a policy's approval and A2A policies, so
 * that a request evaluates only the policies that can concern it (built
 * by engine_index.c, read by engine.c). Internal.
 *
 * Each policy gets one filter at engine creation: a set of atoms (expr.h)
 * such that the policy can match a request, or fail closed on it, only if
 * one of its atoms holds for the request. For an approval policy that is
 * its condition's filter; for an A2A policy the most selective of its
 * sender, target and action patterns (an exact name is an equality atom,
 * "lit*" a prefix, "*lit" a suffix) and its condition's filter. Policies
 * without a filter go on an always-list. Atoms are indexed by the request
 * value they test (a built-in field, or a metadata key): equality by hash
 * (one map per kind of constant), prefixes and suffixes by one hash probe
 * per distinct length, thresholds as arrays sorted by their constant
 * (binary search). A request marks the policies of every atom that holds
 * in a bitset, and the candidates are the always-list merged with the
 * bitset, in file order.
 */
#ifndef AA_ENGINE_INDEX_H
#define AA_ENGINE_INDEX_H

#include "decision.h"
#include "policy.h"
#include "util.h"

#include <limits.h>
#include <string.h>

/* A sorted list of policy indexes (approval or A2A policies). */
typedef struct aa__idlist {
    int *items;
    size_t count;
} aa__idlist;

/* Policies found by a prefix (or, with `suffix`, a suffix) of a request
 * value. For each key, `map` lists every policy whose key is a prefix of
 * it, itself included, so the longest prefix of a value that the map holds
 * finds them all: one probe per distinct key length, longest first, until
 * one hits. */
typedef struct aa__prefix_index {
    aa__map map;  /* key -> aa__idlist* */
    size_t *lens; /* the distinct key lengths, longest first */
    size_t nlens;
    struct aa__prefix_key *keys; /* storage: the keys and their lists */
    size_t nkeys;
    bool suffix;
} aa__prefix_index;

/* The policies whose key `s` starts (ends) with, in file order, or NULL. */
static inline const aa__idlist *
aa__prefix_index_get(const aa__prefix_index *px, const char *s, size_t len) {
    for (size_t i = 0; i < px->nlens; i++) {
        size_t l = px->lens[i];
        if (l > len)
            continue;
        const aa__idlist *hit =
            aa__map_get(&px->map, px->suffix ? s + len - l : s, l);
        if (hit)
            return hit;
    }
    return NULL;
}

/* One threshold atom: policy `id` holds when `value OP c`. */
typedef struct aa__thresh {
    aa__value c; /* a number or a string */
    int id;
    bool inclusive; /* <= or >= */
} aa__thresh;

/* Thresholds of one kind of constant, sorted by constant: `up` holds the
 * `>` and `>=` atoms (true for values above), `down` the `<` and `<=`. */
typedef struct aa__thresholds {
    aa__thresh *up, *down;
    size_t nup, ndown;
} aa__thresholds;

/* Every atom over one request value. */
typedef struct aa__value_index {
    int field;       /* a built-in field slot, or -1: metadata */
    const char *key; /* metadata key (borrowed, not NUL-terminated) */
    size_t keylen;
    aa__map eq_str;        /* string constant -> aa__idlist* */
    aa__map eq_num;        /* the 8 bytes of a number -> aa__idlist* */
    aa__idlist eq_bool[2]; /* false, true */
    aa__prefix_index prefix, suffix;
    aa__thresholds num, str;
    size_t natoms;
} aa__value_index;

/* The index of one kind of policy (approval or A2A). */
typedef struct aa__atom_index {
    size_t npolicies;
    aa__idlist always;                    /* no filter: file order */
    aa__value_index *fields[AA__F_COUNT]; /* NULL: no atom on the field */
    int active[AA__F_COUNT];              /* the fields with atoms */
    int nactive;
    aa__value_index *meta;           /* one per metadata key */
    size_t nmeta;                    /* how many used */
    aa__map meta_by_key;             /* key -> aa__value_index* */
    aa__value_index *storage_fields; /* AA__F_COUNT of them */
    aa__idlist *lists;               /* storage of the mapped lists */
    size_t nlists;
    double *numbers; /* storage of the eq_num keys */
    size_t nnumbers;
    size_t natoms; /* atoms over every value */
    bool linear;   /* tests only: every policy is a candidate */
} aa__atom_index;

typedef struct aa__engine_index {
    aa__atom_index approvals;
    aa__atom_index a2a;
} aa__engine_index;

int aa__engine_index_build(aa__engine_index *ix, const aa_policy *p);
void aa__engine_index_free(aa__engine_index *ix);

/* The candidates for one request, in file order: the always-list merged
 * with the bitset that aa__cands_collect filled. */
typedef struct aa__cands {
    const int *always;
    size_t nalways, ai;
    const uint64_t *bits;
    size_t w, lo, hi; /* words [lo, hi) may hold bits; w: the current one */
    uint64_t word;    /* bits[w] without the bits already returned */
    int all;          /* >= 0: every policy from here up to n (no bitset) */
    int n;
} aa__cands;

/* The request values the index reads: the built-in fields as conditions
 * see them and their hashes, each valid when its bit (1 << field) is set
 * in `have` / `hashed`; the others are read from req when needed. */
typedef struct aa__index_req {
    const aa_request *req;
    unsigned have, hashed;
    const char *fields[AA__F_COUNT];
    size_t field_len[AA__F_COUNT];
    uint64_t hash[AA__F_COUNT];
} aa__index_req;

/* Marks in `bits` (the decision's scratch, grown when needed) the policies
 * of `ix` with an atom that holds for the request, and returns the walk
 * over the candidates. Without memory for the bitset every policy is a
 * candidate (slower, the same outcome). */
aa__cands aa__cands_collect(const aa__atom_index *ix, aa__index_req *r,
                            aa__bitset *bits);

/* The next candidate, or -1 at the end. */
static inline int aa__cands_next(aa__cands *c) {
    if (c->all >= 0)
        return c->all < c->n ? c->all++ : -1;
    int a = c->ai < c->nalways ? c->always[c->ai] : INT_MAX;
    while (!c->word && c->w + 1 < c->hi)
        c->word = c->bits[++c->w];
    int b =
        c->word ? (int)(c->w * 64 + (size_t)__builtin_ctzll(c->word)) : INT_MAX;
    if (a == INT_MAX && b == INT_MAX)
        return -1;
    if (a < b) {
        c->ai++;
        return a;
    }
    c->word &= c->word - 1;
    return b;
}

/* How many candidates the walk gives in all (for the trace). */
size_t aa__cands_count(const aa__cands *c);

#endif /* AA_ENGINE_INDEX_H */
