/*
 * expr.h - the condition language (contract section 6).
 *
 * A condition is compiled once (at policy load) into an immutable form that
 * is evaluated many times, from many threads, without allocating. Built-in
 * field names are resolved to slots at compile time; `$variables` are
 * resolved to constants at compile time (an undefined one is a compile
 * error). Evaluation errors (an unknown or failing matcher) are reported, not
 * turned into "false", so that callers can fail closed.
 */
#ifndef AA_EXPR_H
#define AA_EXPR_H

#include "util.h"

typedef enum {
    AA__V_NULL = 0,
    AA__V_BOOL,
    AA__V_NUM,
    AA__V_STR,
    AA__V_LIST
} aa__vtype;

typedef struct aa__value {
    aa__vtype type;
    union {
        bool b;
        double n;
        struct {
            const char *p;
            size_t len;
        } s;
        struct {
            const struct aa__value *items;
            size_t n;
        } list;
    } u;
} aa__value;

/* Built-in request fields, resolved to these slots at compile time. */
typedef enum {
    AA__F_AGENT = 0,
    AA__F_USER,
    AA__F_ACTION,
    AA__F_RESOURCE,
    AA__F_SCOPE,
    AA__F_TARGET_AGENT,
    AA__F_SESSION_ID,
    AA__F_FROM_AGENT,
    AA__F_TO_AGENT,
    AA__F_COUNT
} aa__field;

/* Which built-in names a condition sees (contract section 6), all read
 * from the request itself, never from metadata (hardened):
 * APPROVAL: agent, user, action, resource, scope, target_agent, session_id;
 * A2A:      from_agent, to_agent, action, and also agent (the caller),
 *           user, resource and scope.
 * Any other bare name reads request metadata; `metadata.<key>` always does. */
typedef enum { AA__CTX_APPROVAL = 0, AA__CTX_A2A = 1 } aa__ctx_kind;

/* Limits: a condition longer than this, nested deeper, or with a list
 * longer than this is a compile error. */
#define AA__EXPR_MAX_LEN   65536
#define AA__EXPR_MAX_DEPTH 64
#define AA__EXPR_MAX_LIST  4096

/* Looks up a policy variable ($name without the '$'); NULL if undefined.
 * The value (and any list/strings inside) is copied by the compiler. */
typedef const aa__value *(*aa__var_lookup_fn)(void *ud, const char *name,
                                              size_t len);

/* Runs matcher `name` on `value` (NULL for null; other non-strings as their
 * text). Returns AA_OK with *result set, AA_ENOTFOUND for an unknown
 * matcher, or another error status. */
typedef int (*aa__matcher_call_fn)(void *ud, const char *name,
                                   const char *value, bool *result);

/* The request as a condition sees it. A NULL field is null. */
typedef struct aa__expr_ctx {
    const char *fields[AA__F_COUNT];
    size_t field_len[AA__F_COUNT];
    const aa_meta *meta;
    size_t nmeta;
    aa__matcher_call_fn matcher; /* NULL: every `matches` is an error */
    void *matcher_ud;
} aa__expr_ctx;

/* A compile or evaluation error: 1-based column into the source (0 when
 * not tied to a place) and a message without position. */
typedef struct aa__expr_error {
    int column;
    char message[256];
} aa__expr_error;

typedef struct aa__expr aa__expr;

/* Compiles `src` (NUL-terminated). An empty or blank condition compiles to
 * "always true". Returns AA_OK, AA_EPARSE (syntax, undefined variable,
 * limits; err filled) or AA_ENOMEM. */
int aa__expr_compile(const char *src, aa__ctx_kind kind, aa__var_lookup_fn vars,
                     void *vars_ud, aa__expr **out, aa__expr_error *err);
void aa__expr_free(aa__expr *e);

/* The source text as compiled. */
const char *aa__expr_source(const aa__expr *e);
/* True when the condition is empty/blank (always true). */
bool aa__expr_is_empty(const aa__expr *e);

/* Evaluates to a truth value. AA_OK, or AA_EEVAL with err filled (an
 * unknown or failing matcher; `< > <= >=` between two non-null values of
 * different kinds). Never allocates. Thread-safe. */
int aa__expr_eval(const aa__expr *e, const aa__expr_ctx *ctx, bool *result,
                  aa__expr_error *err);

/* As aa__expr_eval, and appends to `out` a short explanation of which
 * sub-expression decided the result, with the values it saw, e.g.
 *   `action == "deploy"` is true (action = "deploy")
 *   `amount > 1000` is false (amount = 20)
 * (for an error: the sub-expression and the error). Allocates into out. */
int aa__expr_explain(const aa__expr *e, const aa__expr_ctx *ctx, bool *result,
                     aa__expr_error *err, aa__buf *out);

/* Indexing support: true when the condition can only be true (or raise an
 * evaluation error) if built-in field `f` equals one of the first *nexact
 * returned literals or starts with one of the others, so a caller may skip
 * it for requests whose field does neither without changing any outcome,
 * errors included. That holds for `f == "lit"`, `"lit" == f`,
 * `f in ["a", "b"]`, `f starts_with "lit"`, and an `or` of those, as the
 * whole condition or as a conjunct of a top-level `and` chain when no
 * conjunct before it could raise an evaluation error (none uses
 * `matches`). A conjunct of exact values is preferred to one with
 * prefixes. The strings live as long as e. */
bool aa__expr_pins(const aa__expr *e, aa__field f, const char *const **vals,
                   size_t *n, size_t *nexact);

/* The same for request metadata: true when the condition can only be true
 * (or raise an evaluation error) if the request's metadata value for
 * key[0, keylen) (the first entry with that key) is a string equal to one
 * of the returned values: `metadata.k == "v"`, `k in ["a", "b"]` or an
 * `or` of those on one key, under the same rules as aa__expr_pins. The key
 * is not NUL-terminated; the values are. */
bool aa__expr_meta_pin(const aa__expr *e, const char **key, size_t *keylen,
                       const char *const **vals, size_t *n);

/* ---- indexing by atoms ----
 *
 * An atom is one test of a request value (a built-in field, or the first
 * metadata entry with a key) against a constant that an index can answer
 * without evaluating anything. It "holds" for a request when:
 *   EQ      the value is not null and equal to the constant (a string, a
 *           bool, or a number: `==` meaning, so 1 == 1.0);
 *   PREFIX, SUFFIX  the value is a string that starts / ends with it;
 *   LT, GT, LE, GE  the value is not null and either of another kind than
 *           the constant (a number or a string: ordering them is an
 *           evaluation error) or `value OP constant` is true.
 * A missing metadata entry, a string entry without a string, and a list
 * entry without items are null. Built-in fields are strings ("" when the
 * request has none). */
typedef enum {
    AA__ATOM_EQ = 0,
    AA__ATOM_PREFIX,
    AA__ATOM_SUFFIX,
    AA__ATOM_LT,
    AA__ATOM_GT,
    AA__ATOM_LE,
    AA__ATOM_GE
} aa__atom_op;

typedef struct aa__atom {
    aa__atom_op op;
    int field;       /* a built-in field slot, or -1: metadata */
    const char *key; /* the metadata key (not NUL-terminated), field < 0 */
    size_t keylen;
    aa__value value; /* the constant; strings live as long as the condition */
} aa__atom;

/* A filter of the condition: atoms such that the condition can be true,
 * or raise an evaluation error, only for a request for which one of them
 * holds; so a caller may skip it for every other request without changing
 * any outcome, errors included. Found through `and` (a conjunct reached
 * only after conjuncts that cannot fail), `or` (every operand's), `not`
 * (what makes the operand false: `!=`, `not in`), comparisons of a field
 * or metadata value with a constant (`==`, `in [...]`, `starts_with`,
 * `ends_with`, `< > <= >=`) and constants; among the conjuncts of an `and`
 * the most selective one is taken (equality, then prefix and suffix, then
 * thresholds, fewest atoms). Returns the number of atoms written at out
 * (out may be NULL to count them; 0: the condition is never true and
 * never fails), or -1 when there is no filter (the condition must be
 * evaluated for every request; an empty condition has none). *cost (when
 * not NULL) gets its cost: 1 per equality, 2 per prefix or suffix, 16 per
 * threshold atom (they hold for many values). */
long aa__expr_filter(const aa__expr *e, aa__atom *out, double *cost);

/* The value of the first metadata entry with key[0, klen) when it is a
 * string (what a condition reads as `metadata.<key>`), else NULL. */
const char *aa__meta_string(const aa_meta *meta, size_t n, const char *key,
                            size_t klen);

/* Renders a two-line caret display of `src` with a '^' under `column` into
 * out (for messages). */
void aa__expr_caret(const char *src, int column, aa__buf *out);

/* ---- load warnings ---- */

/* The other context in which `name` is a built-in field ("A2A" or
 * "approval") when it is not one in `kind`, else NULL: such a bare name in
 * a condition of `kind` reads metadata, which the writer rarely means. */
const char *aa__expr_field_elsewhere(aa__ctx_kind kind, const char *name,
                                     size_t len);

/* One read of request metadata by a condition: `name` (bare) or
 * `metadata.name`. name[0, len) points into the condition's source. */
typedef struct aa__expr_read {
    const char *name;
    size_t len;
    int column; /* 1-based, of the name */
    bool bare;
} aa__expr_read;
typedef void (*aa__expr_read_fn)(void *ud, const aa__expr_read *r);

/* Calls fn for every metadata read of e, in source order. */
void aa__expr_each_meta_read(const aa__expr *e, aa__expr_read_fn fn, void *ud);

/* Calls fn with the 1-based column of every backslash escape in a string
 * of e and the character it escapes (the Python package has no escapes). */
typedef void (*aa__expr_escape_fn)(void *ud, int column, char escaped);
void aa__expr_each_escape(const aa__expr *e, aa__expr_escape_fn fn, void *ud);

/* Truthiness: null, false, 0, "" and [] are false. */
bool aa__value_truthy(const aa__value *v);

/* Structural equality of two values: same type, same number, same bytes,
 * same items in the same order. */
bool aa__value_equal(const aa__value *a, const aa__value *b);

#endif /* AA_EXPR_H */
