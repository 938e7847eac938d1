/*
 * policy.h - the compiled, immutable policy (contract sections 2-4).
 *
 * policy_load.c fills it from YAML; the engine only reads it (and builds
 * its own lookup indexes over it in engine_index.c). All memory of a
 * policy lives in its arena, except the pattern sets, maps and compiled
 * expressions, which aa_policy_free releases.
 */
#ifndef AA_POLICY_H
#define AA_POLICY_H

#include "expr.h"
#include "pattern.h"
#include "util.h"

/* A position in the policy file, for messages and explanations. */
typedef struct aa__pos {
    int line;
    int col;
} aa__pos;

typedef struct aa__strlist {
    const char **items;
    aa__pos *pos; /* position of each item, or NULL */
    size_t count;
} aa__strlist;

typedef struct aa__role {
    const char *name;
    const char *description;
    aa__strlist actions; /* as written, own actions only */
    const char *extends; /* as written, or NULL */
    int parent;          /* index into roles, -1 for none */
    int depth;           /* 0 for a root role */
    aa__pos pos;
    /* Compiled when some profile has this role, shared by all of them: */
    aa__patset *chain; /* own actions, then the parent's, ...; or NULL */
} aa__role;

/* Where an effective allow entry came from: a role (by index) or the
 * profile's own allow list (role == -1). */
typedef struct aa__origin {
    int role;  /* -1: the profile's allow list */
    int index; /* index in that list */
} aa__origin;

typedef struct aa__profile {
    const char *name;
    const char *description;
    const char *role_name; /* as written, or NULL */
    int role;              /* index into roles, -1 for none */
    aa__strlist allow;
    aa__strlist deny;
    aa__strlist scopes;
    int64_t max_session_duration;
    aa_tier default_tier;
    bool require_scope; /* a request without a scope is denied */
    aa__pos pos;
    /* Compiled (read through the aa__effective_* functions below): */
    const aa__patset *chain; /* the role's chain set, or NULL; tags: an
                                aa__origin each */
    aa__patset allowset;     /* the allow list; tags: NULL */
    aa__patset denied;       /* tags: NULL */
    aa__patset scopeset;     /* tags: NULL */
} aa__profile;

/*
 * A profile's effective allow list: its role chain's actions (own role
 * first, then the parent's, ...), then its own allow list; the first entry
 * that matches an action decides. The chain part is one set per role,
 * shared by every profile of that role, so the list is read through these
 * functions rather than one array.
 */
static inline size_t aa__effective_count(const aa__profile *pr) {
    return (pr->chain ? pr->chain->count : 0) + pr->allowset.count;
}

/* Entry i, for i < aa__effective_count(pr). */
static inline const aa__patset_entry *aa__effective_entry(const aa__profile *pr,
                                                          size_t i) {
    size_t nchain = pr->chain ? pr->chain->count : 0;
    return i < nchain ? &pr->chain->entries[i]
                      : &pr->allowset.entries[i - nchain];
}

/* Where effective entry e (from the two functions above or below) came
 * from. */
static inline aa__origin aa__effective_origin(const aa__patset_entry *e) {
    return e->tag ? *(const aa__origin *)e->tag : (aa__origin){-1, e->index};
}

/* The first effective entry that matches str, or NULL. `hash` is
 * aa__hash(str, n). Every chain entry comes before every allow entry, so
 * a chain hit decides and the allow list is asked only on a miss. */
static inline const aa__patset_entry *aa__effective_match(const aa__profile *pr,
                                                          const char *str,
                                                          size_t n,
                                                          uint64_t hash) {
    const aa__patset_entry *e =
        pr->chain ? aa__patset_match_h(pr->chain, str, n, hash) : NULL;
    return e ? e : aa__patset_match_h(&pr->allowset, str, n, hash);
}

typedef struct aa__approval {
    const char *name;
    const char *condition; /* source text */
    const char *description;
    aa_tier tier;
    aa__expr *cond;
    aa__pos pos;      /* of the list item */
    aa__pos cond_pos; /* of the condition value */
} aa__approval;

typedef struct aa__drule {
    const char *name;
    const char *description;
    aa__strlist allowed_actions;
    aa__patset allowed; /* compiled allowed_actions */
    int64_t max_duration;
    bool require_reason;
    aa__pos pos;
} aa__drule;

typedef struct aa__a2a {
    const char *name;
    const char *description;
    const char *from_agent; /* pattern, default "*" */
    const char *to_agent;
    const char *action;
    bool allow; /* effect */
    const char *condition;
    aa__expr *cond;
    aa__pattern from_pat;
    aa__pattern to_pat;
    aa__pattern action_pat;
    aa__pos pos;
    aa__pos cond_pos;
    aa__pos from_pos, to_pos, action_pos; /* of each pattern, or pos when
                                             the key is absent ("*") */
} aa__a2a;

/* The kinds a `request_metadata` declaration may require. */
typedef enum {
    AA__MT_STRING = 0,
    AA__MT_NUMBER,
    AA__MT_BOOL,
    AA__MT_LIST
} aa__meta_type;

/* One `request_metadata` entry: a request whose action matches
 * `required_for` must carry the key, and any request that carries it must
 * give it this type. */
typedef struct aa__meta_decl {
    const char *key;
    aa__meta_type type;
    aa__strlist required_for;
    aa__patset required; /* compiled required_for; tags: NULL */
    aa__pos pos;
} aa__meta_decl;

typedef enum {
    AA__FSYNC_NEVER = 0,
    AA__FSYNC_ALWAYS,
    AA__FSYNC_INTERVAL
} aa__fsync_mode;

typedef struct aa__variable {
    const char *name;
    aa__value value; /* strings/lists in the arena */
} aa__variable;

struct aa_policy {
    aa__arena arena;
    const char *file;
    const char *version;
    const char *name;        /* metadata.name or "" */
    const char *description; /* metadata.description or "" */
    const char *author;      /* metadata.author or "" */

    aa__variable *variables;
    size_t nvariables;

    aa__role *roles;
    size_t nroles;
    aa__map role_by_name; /* name -> aa__role* */

    aa__profile *profiles;
    size_t nprofiles;
    aa__map profile_by_name; /* name -> aa__profile* */

    aa__approval *approvals;
    size_t napprovals;

    aa__meta_decl *meta_decls; /* request_metadata, in file order */
    size_t nmeta_decls;
    aa__map meta_decl_by_key; /* key -> aa__meta_decl* */
    bool meta_required;       /* some declaration has required_for */

    struct {
        bool enabled;
        int64_t default_duration;
        int64_t max_duration;
        aa__drule *rules;
        size_t nrules;
    } delegation;

    struct {
        bool default_allow;
        aa__pos default_pos; /* of `default:`, {0, 0} when absent */
        aa__a2a *policies;
        size_t npolicies;
    } a2a;

    struct {
        int64_t default_duration;
        int64_t max_duration;
        int64_t cleanup_interval;
    } sessions;

    struct {
        bool enabled;
        const char *path;
        int64_t retention_days;
        aa__fsync_mode fsync;
        bool on_failure_allow;
        aa__strlist redact; /* metadata keys written as "[redacted]" */
    } audit;
    char sha256[65]; /* SHA-256 of the policy's bytes as loaded, hex */

    const char *state_path;   /* state.path, or state.db beside audit.path */
    const char *state_url;    /* state.url, or "" */
    const char *state_schema; /* state.schema, or "" */
    int state_consistency;    /* aa_store_consistency */
};

/* The texts of the two load warnings about names a condition reads
 * (contract section 6); policy_lint.c reports those as `field-unknown`. */
#define AA__MSG_OTHER_CONTEXT "is a built-in of"
#define AA__MSG_UNDECLARED    "that request_metadata does not declare"

/* policy_load.c helper, also used by tests: the profile by name, or NULL. */
const aa__profile *aa__policy_profile(const aa_policy *p, const char *name,
                                      size_t len, uint64_t hash);

#endif /* AA_POLICY_H */
