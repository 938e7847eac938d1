/*
 * pattern.h - glob patterns with fnmatch meaning (contract section 3).
 *
 * `*` any run (crossing ':' and '/'), `?` one character, `[abc]`, `[a-z]`,
 * `[!abc]`; case-sensitive; the whole string must match; no escapes (as
 * Python's fnmatchcase). A character is a UTF-8 code point: `?` and a class
 * take one code point, ranges compare code points (a byte that is not
 * well-formed UTF-8 counts as one character that no range contains).
 * Patterns are classified once so that the common cases never run the
 * general matcher: exact names are hashed, `prefix*` is one memcmp.
 */
#ifndef AA_PATTERN_H
#define AA_PATTERN_H

#include "util.h"

typedef enum {
    AA__PAT_EXACT = 0, /* no wildcard */
    AA__PAT_ANY,       /* "*" */
    AA__PAT_PREFIX,    /* "lit*" */
    AA__PAT_SUFFIX,    /* "*lit" */
    AA__PAT_GLOB       /* anything else */
} aa__pat_kind;

typedef struct aa__pattern {
    const char *text; /* the pattern as written (borrowed) */
    const char *lit;  /* literal part for EXACT/PREFIX/SUFFIX (borrowed) */
    size_t len;       /* strlen(text) */
    size_t litlen;
    aa__pat_kind kind;
} aa__pattern;

/* Classifies `text` (which must outlive the pattern). */
void aa__pattern_init(aa__pattern *p, const char *text);
bool aa__pattern_match(const aa__pattern *p, const char *s, size_t n);
/* The general matcher, on raw text. */
bool aa__glob_match(const char *pat, size_t plen, const char *s, size_t n);
/* True when text holds any of * ? [ */
bool aa__has_wildcard(const char *text);

/*
 * A set of patterns that answers "which entry matches s first?" quickly.
 * Entries keep their insertion index (and an opaque tag the caller uses for
 * explanations, e.g. where the entry came from).
 */
typedef struct aa__patset_entry {
    aa__pattern pat;
    int index; /* insertion order */
    const void *tag;
} aa__patset_entry;

typedef struct aa__patset {
    aa__patset_entry *entries; /* in insertion order */
    size_t count;
    size_t cap;
    aa__map exact; /* literal -> entry (first inserted wins) */
    int *wild;     /* indexes of non-exact entries, in order */
    size_t nwild;
    bool any; /* contains "*" */
    int any_index;
    aa__arena *arena; /* where the arrays live, or NULL: malloc'd */
} aa__patset;

void aa__patset_init(aa__patset *s);
/* An empty set whose arrays (room for n entries, more on demand) and map
 * are allocated in `a`, which must outlive the set: many small sets (one
 * per profile) cost no malloc each, and aa__patset_free frees nothing.
 * false on OOM. */
bool aa__patset_init_arena(aa__patset *s, aa__arena *a, size_t n);
void aa__patset_free(aa__patset *s);
/* `text` and `tag` are borrowed. false on OOM. Call aa__patset_build after
 * the last add, before matching. */
bool aa__patset_add(aa__patset *s, const char *text, const void *tag);
/* The same with a pattern classified already (its text still borrowed). */
bool aa__patset_add_pattern(aa__patset *s, const aa__pattern *pat,
                            const void *tag);
bool aa__patset_build(aa__patset *s);
/* The matching entry with the lowest insertion index, or NULL. `hash` is
 * aa__hash(str, n) (computed once per request by the caller). A set of a
 * few entries has no map and no wild array: it is scanned in order, and
 * `hash` is not read. */
const aa__patset_entry *aa__patset_match_h(const aa__patset *s, const char *str,
                                           size_t n, uint64_t hash);
const aa__patset_entry *aa__patset_match(const aa__patset *s, const char *str,
                                         size_t n);

/*
 * Coverage of one glob by a set of globs, decided on languages: is every
 * string that `pat` matches matched by some pattern of `set` (L(pat) a
 * subset of the union of L(set[i]))? Never by matching one pattern as text
 * against another: `read:*` is not covered by `read:[!s]*`. Strings range
 * over valid UTF-8 without NUL, as requests do. Used to accept a
 * delegation grant under a rule's allowed_actions and a session scope
 * under a profile's scopes; it also answers "is this pattern redundant"
 * (covered by the others) and "can this allow be reached" (not covered by
 * the denies).
 *
 * AA__COVER_NO comes with a witness when `witness` is not NULL: a string
 * that `pat` matches and no pattern of `set` does (shortest or nearly so,
 * made of readable characters where the patterns allow), e.g. "read:s".
 * The work is bounded (some milliseconds, a few MiB at most):
 * AA__COVER_UNKNOWN says the bound was reached, or a pattern is not valid
 * UTF-8; callers treat every answer but AA__COVER_YES as "not covered"
 * (fail closed).
 */
typedef enum {
    AA__COVER_YES = 0, /* covered */
    AA__COVER_NO,      /* not covered; the witness shows a string */
    AA__COVER_UNKNOWN, /* not decided: too complex, or invalid UTF-8 */
    AA__COVER_NOMEM    /* not decided: out of memory */
} aa__cover;

aa__cover aa__glob_covers(const char *pat, const char *const *set, size_t n,
                          aa__buf *witness);
/* With flags: AA__COVER_SKIP_EMPTY asks about the non-empty strings only
 * (an empty action or scope is never one a request can hold: an action is
 * required, an empty scope is "none"), so that `*` lies within `?*`. */
#define AA__COVER_SKIP_EMPTY 1u
aa__cover aa__glob_covers_ex(const char *pat, const char *const *set, size_t n,
                             unsigned flags, aa__buf *witness);
/* Difference with an intersection: is every string that `pat` and every
 * pattern of `also` (nalso of them) all match matched by some pattern of
 * `set`? AA__COVER_NO comes with a witness in L(pat) and every L(also[i])
 * and in no L(set[j]). With nalso 0 this is aa__glob_covers_ex. Used to
 * show a string that one policy allows and another denies, e.g. an allow
 * pattern of the new policy inside a deny pattern of the old one. */
aa__cover aa__glob_diff(const char *pat, const char *const *also, size_t nalso,
                        const char *const *set, size_t n, unsigned flags,
                        aa__buf *witness);
/* The same over the patterns of a pattern set (built or not). */
aa__cover aa__patset_covers(const aa__patset *s, const char *pat,
                            unsigned flags, aa__buf *witness);

#endif /* AA_PATTERN_H */
