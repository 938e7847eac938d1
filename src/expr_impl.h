/*
 * expr_impl.h - the compiled form of a condition, shared by the compiler
 * (expr_parse.c) and the evaluator (expr_eval.c). Internal to the
 * condition module: everything else uses expr.h.
 *
 * The compiled form is an array of nodes referring to each other by index.
 * `and`/`or` chains are n-ary nodes (their operands in `kids`), so a long
 * chain is flat; nesting (parentheses, lists, `not`) is bounded by
 * AA__EXPR_MAX_DEPTH at compile time, which also bounds the recursion of the
 * evaluator. Built-in fields become slot numbers, variables become constants,
 * lists of constants become one constant list.
 */
#ifndef AA_EXPR_IMPL_H
#define AA_EXPR_IMPL_H

#include "expr.h"

#if defined(__GNUC__)
#define AA__NOINLINE __attribute__((noinline))
#else
#define AA__NOINLINE
#endif

enum {
    N_CONST,  /* v */
    N_FIELD,  /* a = slot */
    N_META,   /* v.u.s = key */
    N_NOPATH, /* a dotted path that reads nothing: null */
    N_LIST,   /* kids[a .. a+b): elements evaluated on demand */
    N_NOT,    /* a = operand */
    N_AND,    /* kids[a .. a+b) */
    N_OR,     /* kids[a .. a+b) */
    N_CMP     /* a = left, b = right (MATCHES: b = offset of the name) */
};

enum {
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_GT,
    OP_LE,
    OP_GE,
    OP_IN,
    OP_NOTIN,
    OP_CONTAINS,
    OP_STARTS,
    OP_ENDS,
    OP_MATCHES /* v.u.s = matcher name */
};

typedef struct node {
    uint8_t kind;
    uint8_t op;
    uint8_t can_err; /* evaluating this subtree can fail: a `matches`, or an
                        ordering of values whose kinds may differ */
    uint8_t is_var;  /* a constant that came from a $variable */
    uint32_t a, b;
    uint32_t start, end; /* source span in bytes, for explanations */
    aa__value v;
} node;

struct aa__expr {
    const char *src;
    size_t srclen;
    const node *nodes;
    const uint32_t *kids;
    uint32_t nnodes;
    uint32_t root;
    bool empty;
    bool pinned[AA__F_COUNT];
    const char *const *pin_vals[AA__F_COUNT];
    size_t pin_n[AA__F_COUNT];
    size_t pin_exact[AA__F_COUNT]; /* pin_vals[f][0..pin_exact[f]) are
                                      exact values, the rest prefixes */
    const char *meta_key;          /* a metadata key pinned to string values */
    size_t meta_keylen;
    const char *const *meta_vals;
    size_t meta_n;
    size_t size; /* bytes of the block: the header and what follows it */
};

/* The truth value of node n of e alone (constant folding in
 * expr_analysis.c): as aa__expr_eval, without an error message. */
int aa__expr_eval_node(const aa__expr *e, uint32_t n, const aa__expr_ctx *ctx,
                       bool *result);

/* 1-based column of byte offset `off` of src, counting UTF-8 characters. */
int aa__expr_column(const char *src, size_t off);

/* Shortest text that reads back as d: 10 -> "10", 0.1 -> "0.1". */
size_t aa__expr_format_number(double d, char out[32]);

#endif /* AA_EXPR_IMPL_H */
