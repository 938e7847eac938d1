/*
 * expr_parse.c - compiling a condition (contract section 6): lexer, parser
 * and indexing support. The evaluator is in expr_eval.c.
 *
 * Compiling happens in two passes over the source. The lexer first turns the
 * whole condition into a token array, looking up every `$variable` and
 * measuring it; from the token count and those sizes the compiler knows an
 * upper bound for everything it will produce, so the expression, its nodes,
 * constants and a copy of the source live in ONE allocation whose pointers
 * never move. The recursive-descent parser then fills that block.
 */
#include "expr_impl.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const field_names[AA__F_COUNT] = {
    "agent",        "user",       "action",     "resource", "scope",
    "target_agent", "session_id", "from_agent", "to_agent"};

/* The built-in names of each context (contract section 6): an approval
 * condition sees agent, user, action, resource, scope, target_agent and
 * session_id; an A2A condition from_agent, to_agent, action, and the
 * request's agent, user, resource and scope. Both read them from the
 * request, so that no metadata key a caller chose can stand in for them. */
static bool field_in_kind(aa__ctx_kind kind, int f) {
    if (kind == AA__CTX_A2A)
        return f <= AA__F_SCOPE || f >= AA__F_FROM_AGENT;
    return f <= AA__F_SESSION_ID;
}

const char *aa__expr_field_elsewhere(aa__ctx_kind kind, const char *name,
                                     size_t len) {
    for (int f = 0; f < AA__F_COUNT; f++)
        if (strlen(field_names[f]) == len &&
            memcmp(field_names[f], name, len) == 0)
            return field_in_kind(kind, f) ? NULL
                   : kind == AA__CTX_A2A  ? "approval"
                                          : "A2A";
    return NULL;
}

int aa__expr_column(const char *src, size_t off) {
    int col = 1;
    for (size_t i = 0; i < off && src[i]; i++)
        if (((unsigned char)src[i] & 0xC0) != 0x80)
            col++;
    return col;
}

/* ---- numbers ------------------------------------------------------------ */

/* The decimal point of the current locale is replaced so that numbers read
 * and print the same everywhere. */
static char locale_point(void) {
    const struct lconv *lc = localeconv();
    return lc && lc->decimal_point && lc->decimal_point[0]
               ? lc->decimal_point[0]
               : '.';
}

/* Parses [-]digits[.digits]. Exact and locale-free in the common case
 * (a mantissa below 2^53 and at most 22 fraction digits). */
static double parse_number(const char *s, size_t n) {
    static const double pow10[] = {
        1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    bool neg = s[0] == '-';
    uint64_t m = 0;
    int frac = 0;
    bool dot = false, exact = true;
    for (size_t i = neg; i < n; i++) {
        if (s[i] == '.') {
            dot = true;
            continue;
        }
        if (m > ((UINT64_C(1) << 53) - 9) / 10) {
            exact = false;
            break;
        }
        m = m * 10 + (uint64_t)(s[i] - '0');
        frac += dot;
    }
    if (exact && frac <= 22) {
        double v = (double)m / pow10[frac];
        return neg ? -v : v;
    }
    char stackbuf[64];
    char *buf = n < sizeof stackbuf ? stackbuf : malloc(n + 1);
    if (!buf)
        return neg ? -HUGE_VAL : HUGE_VAL;
    char point = locale_point();
    for (size_t i = 0; i < n; i++)
        buf[i] = s[i] == '.' ? point : s[i];
    buf[n] = 0;
    double v = strtod(buf, NULL);
    if (buf != stackbuf)
        free(buf);
    return v;
}

/* ---- lexer -------------------------------------------------------------- */

enum {
    T_EOF,
    T_ERR, /* lexing stopped here; the message is in the lexer */
    T_STR,
    T_NUM,
    T_IDENT,
    T_VAR,
    T_LP,
    T_RP,
    T_LB,
    T_RB,
    T_COMMA,
    T_DOT,
    T_EQ,
    T_NE,
    T_LT,
    T_GT,
    T_LE,
    T_GE,
    /* keywords, case-insensitive */
    T_AND,
    T_OR,
    T_NOT,
    T_IN,
    T_TRUE,
    T_FALSE,
    T_NULL,
    T_MATCHES,
    T_CONTAINS,
    T_STARTS,
    T_ENDS
};

typedef struct token {
    uint8_t t;
    uint32_t start, end;
    double num;           /* T_NUM */
    const aa__value *var; /* T_VAR: the variable, NULL when undefined */
} token;

static const struct {
    const char *word;
    uint8_t t;
} keywords[] = {
    {"and", T_AND},
    {"or", T_OR},
    {"not", T_NOT},
    {"in", T_IN},
    {"true", T_TRUE},
    {"false", T_FALSE},
    {"null", T_NULL},
    {"none", T_NULL},
    {"matches", T_MATCHES},
    {"contains", T_CONTAINS},
    {"starts_with", T_STARTS},
    {"ends_with", T_ENDS},
};

static bool is_ident_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool is_ident(char c) {
    return is_ident_start(c) || (c >= '0' && c <= '9');
}
static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
           c == '\v';
}

static char lower(char c) {
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static uint8_t keyword(const char *s, size_t n) {
    for (size_t k = 0; k < AA__ARRAY_LEN(keywords); k++) {
        const char *w = keywords[k].word;
        size_t i = 0;
        while (i < n && w[i] && lower(s[i]) == w[i])
            i++;
        if (i == n && w[i] == 0)
            return keywords[k].t;
    }
    return T_IDENT;
}

typedef struct lexer {
    const char *src;
    aa__var_lookup_fn vars;
    void *vars_ud;
    token *toks;
    size_t ntok;
    size_t var_vals;  /* values needed to copy every variable */
    size_t var_chars; /* bytes needed to copy every variable */
    int err_col;
    char err_msg[sizeof(((aa__expr_error *)0)->message)];
} lexer;

static void lex_error(lexer *lx, size_t off, const char *fmt, ...)
    AA__PRINTF(3, 4);
static void lex_error(lexer *lx, size_t off, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lx->err_msg, sizeof lx->err_msg, fmt, ap);
    va_end(ap);
    lx->err_col = aa__expr_column(lx->src, off);
}

/* Counts what copying v needs; false when nested deeper than the limit. */
static bool measure_value(const aa__value *v, int depth, size_t *vals,
                          size_t *chars) {
    if (depth > AA__EXPR_MAX_DEPTH)
        return false;
    if (v->type == AA__V_STR)
        *chars += v->u.s.len + 1;
    else if (v->type == AA__V_LIST) {
        *vals += v->u.list.n;
        for (size_t i = 0; i < v->u.list.n; i++)
            if (!measure_value(&v->u.list.items[i], depth + 1, vals, chars))
                return false;
    }
    return true;
}

/* Scans one token at *pos. Returns false (with the error set) when the
 * input cannot be tokenized there. */
static bool lex_one(lexer *lx, size_t *pos, token *t) {
    const char *s = lx->src;
    size_t i = *pos;
    while (is_space(s[i]))
        i++;
    memset(t, 0, sizeof *t);
    t->start = (uint32_t)i;
    char c = s[i];
    size_t j = i + 1;
    if (c == 0) {
        t->t = T_EOF;
        j = i;
    } else if (c == '"' || c == '\'') {
        for (j = i + 1; s[j] && s[j] != c; j++) {
            if (s[j] != '\\')
                continue;
            char e = s[j + 1];
            if (e == 0)
                break;
            if (!strchr("\\\"'nt", e)) {
                if ((unsigned char)e >= 0x20 && (unsigned char)e < 0x7f)
                    lex_error(lx, j, "unknown escape '\\%c' in string", e);
                else
                    lex_error(lx, j, "unknown escape in string");
                return false;
            }
            j++;
        }
        if (s[j] != c) {
            lex_error(lx, i, "unterminated string");
            return false;
        }
        j++;
        t->t = T_STR;
    } else if (is_digit(c) || (c == '-' && is_digit(s[i + 1]))) {
        j = i + 1;
        while (is_digit(s[j]))
            j++;
        if (s[j] == '.' && is_digit(s[j + 1])) {
            j++;
            while (is_digit(s[j]))
                j++;
        }
        t->t = T_NUM;
        t->num = parse_number(s + i, j - i);
    } else if (is_ident_start(c)) {
        while (is_ident(s[j]))
            j++;
        t->t = keyword(s + i, j - i);
    } else if (c == '$') {
        if (!is_ident_start(s[j])) {
            lex_error(lx, i, "expected a variable name after '$'");
            return false;
        }
        while (is_ident(s[j]))
            j++;
        t->t = T_VAR;
        t->var = lx->vars ? lx->vars(lx->vars_ud, s + i + 1, j - i - 1) : NULL;
        if (t->var &&
            !measure_value(t->var, 1, &lx->var_vals, &lx->var_chars)) {
            lex_error(lx, i, "variable '%.*s' is nested too deep", (int)(j - i),
                      s + i);
            return false;
        }
    } else {
        switch (c) {
        case '(':
            t->t = T_LP;
            break;
        case ')':
            t->t = T_RP;
            break;
        case '[':
            t->t = T_LB;
            break;
        case ']':
            t->t = T_RB;
            break;
        case ',':
            t->t = T_COMMA;
            break;
        case '.':
            t->t = T_DOT;
            break;
        case '=':
            if (s[j] != '=') {
                lex_error(lx, i, "unknown operator '=' (use '==')");
                return false;
            }
            t->t = T_EQ;
            j++;
            break;
        case '!':
            if (s[j] != '=') {
                lex_error(lx, i, "unknown operator '!' (use 'not' or '!=')");
                return false;
            }
            t->t = T_NE;
            j++;
            break;
        case '<':
            if (s[j] == '>') {
                lex_error(lx, i, "unknown operator '<>' (use '!=')");
                return false;
            }
            t->t = s[j] == '=' ? T_LE : T_LT;
            j += s[j] == '=';
            break;
        case '>':
            t->t = s[j] == '=' ? T_GE : T_GT;
            j += s[j] == '=';
            break;
        case '&':
        case '|': {
            bool twice = s[j] == c;
            lex_error(lx, i, "unknown operator '%s' (use '%s')",
                      c == '&' ? (twice ? "&&" : "&") : (twice ? "||" : "|"),
                      c == '&' ? "and" : "or");
            return false;
        }
        default:
            if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
                lex_error(lx, i, "unexpected character '%c'", c);
            else
                lex_error(lx, i, "unexpected byte 0x%02x",
                          (unsigned)(unsigned char)c);
            return false;
        }
    }
    t->end = (uint32_t)j;
    *pos = j;
    return true;
}

/* Tokenizes the whole source; the last token is T_EOF or T_ERR. */
static int lex_all(lexer *lx) {
    size_t cap = 16;
    lx->toks = malloc(cap * sizeof *lx->toks);
    if (!lx->toks)
        return AA_ENOMEM;
    size_t pos = 0;
    for (;;) {
        if (lx->ntok == cap) {
            cap *= 2;
            token *nt = realloc(lx->toks, cap * sizeof *nt);
            if (!nt)
                return AA_ENOMEM;
            lx->toks = nt;
        }
        token *t = &lx->toks[lx->ntok++];
        if (!lex_one(lx, &pos, t)) {
            memset(t, 0, sizeof *t);
            t->t = T_ERR;
            t->start = t->end = (uint32_t)pos;
            return AA_OK;
        }
        if (t->t == T_EOF)
            return AA_OK;
    }
}

/* ---- parser ------------------------------------------------------------- */

typedef struct parser {
    const char *src; /* the copy inside the block */
    size_t srclen;
    aa__ctx_kind kind;
    const lexer *lx;
    size_t ti; /* current token */
    node *nodes;
    uint32_t nn;
    uint32_t *kids;
    uint32_t nk;
    aa__value *vals;
    size_t nv;
    char *chars;
    size_t nc;
    uint32_t *stack; /* operands of the n-ary nodes being built */
    size_t sp;
    int depth;
    bool failed;
    aa__expr_error *err;
} parser;

static const token *cur(const parser *p) {
    return &p->lx->toks[p->ti];
}
static void advance(parser *p) {
    if (cur(p)->t != T_EOF && cur(p)->t != T_ERR)
        p->ti++;
}
static uint32_t prev_end(const parser *p) {
    return p->ti ? p->lx->toks[p->ti - 1].end : 0;
}

/* Where an error at token t points: its start, or for the end of input the
 * last character of the condition. */
static size_t error_offset(const parser *p, const token *t) {
    if (t->t != T_EOF)
        return t->start;
    size_t n = p->srclen;
    while (n > 0 && is_space(p->src[n - 1]))
        n--;
    return n > 0 ? n - 1 : 0;
}

static int32_t fail_at(parser *p, size_t off, const char *fmt, ...)
    AA__PRINTF(3, 4);
static int32_t fail_at(parser *p, size_t off, const char *fmt, ...) {
    if (p->failed)
        return -1;
    p->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->message, sizeof p->err->message, fmt, ap);
    va_end(ap);
    p->err->column = aa__expr_column(p->src, off);
    return -1;
}

/* An error about the current token; a lexing error there wins, since it
 * explains why no proper token follows. */
#define FAIL_TOK(p, ...)                                                       \
    (cur(p)->t == T_ERR                                                        \
         ? fail_lex(p)                                                         \
         : fail_at((p), error_offset((p), cur(p)), __VA_ARGS__))

static int32_t fail_lex(parser *p) {
    if (p->failed)
        return -1;
    p->failed = true;
    snprintf(p->err->message, sizeof p->err->message, "%s", p->lx->err_msg);
    p->err->column = p->lx->err_col;
    return -1;
}

/* "'text'" of the current token for messages, shortened when long. */
static const char *tok_text(const parser *p, char buf[48]) {
    const token *t = cur(p);
    if (t->t == T_EOF)
        return "the end of the condition";
    size_t n = t->end - t->start;
    if (n > 32)
        snprintf(buf, 48, "'%.29s...'", p->src + t->start);
    else
        snprintf(buf, 48, "'%.*s'", (int)n, p->src + t->start);
    return buf;
}

static int32_t new_node(parser *p, uint8_t kind, uint32_t start, uint32_t end) {
    node *n = &p->nodes[p->nn];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->start = start;
    n->end = end;
    return (int32_t)p->nn++;
}

static bool enter(parser *p, size_t off) {
    if (++p->depth > AA__EXPR_MAX_DEPTH) {
        fail_at(p, off, "nesting too deep (the limit is %d levels)",
                AA__EXPR_MAX_DEPTH);
        return false;
    }
    return true;
}

static char *store_chars(parser *p, const char *s, size_t n) {
    char *d = p->chars + p->nc;
    if (n)
        memcpy(d, s, n);
    d[n] = 0;
    p->nc += n + 1;
    return d;
}

/* Deep copy of a variable's value into the block. */
static void copy_value(parser *p, const aa__value *src, aa__value *dst) {
    memset(dst, 0, sizeof *dst);
    switch (src->type) {
    case AA__V_BOOL:
        dst->type = AA__V_BOOL;
        dst->u.b = src->u.b;
        break;
    case AA__V_NUM:
        dst->type = AA__V_NUM;
        dst->u.n = src->u.n;
        break;
    case AA__V_STR:
        dst->type = AA__V_STR;
        dst->u.s.len = src->u.s.p ? src->u.s.len : 0;
        dst->u.s.p = store_chars(p, src->u.s.p, dst->u.s.len);
        break;
    case AA__V_LIST: {
        aa__value *items = p->vals + p->nv;
        p->nv += src->u.list.n;
        for (size_t i = 0; i < src->u.list.n; i++)
            copy_value(p, &src->u.list.items[i], &items[i]);
        dst->type = AA__V_LIST;
        dst->u.list.items = items;
        dst->u.list.n = src->u.list.n;
        break;
    }
    default:
        dst->type = AA__V_NULL;
        break;
    }
}

/* Decodes the string token t into the block. */
static void decode_string(parser *p, const token *t, aa__value *v) {
    const char *s = p->src + t->start + 1;
    const char *e = p->src + t->end - 1;
    char *d = p->chars + p->nc;
    size_t n = 0;
    while (s < e) {
        char c = *s++;
        if (c == '\\') {
            c = *s++;
            c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
        }
        d[n++] = c;
    }
    d[n] = 0;
    p->nc += n + 1;
    v->type = AA__V_STR;
    v->u.s.p = d;
    v->u.s.len = n;
}

static int32_t parse_or(parser *p);

/* Builds an n-ary node from the operands pushed since `base`. */
static int32_t make_nary(parser *p, uint8_t kind, size_t base, uint32_t start) {
    int32_t ni = new_node(p, kind, start, prev_end(p));
    node *n = &p->nodes[ni];
    n->a = p->nk;
    n->b = (uint32_t)(p->sp - base);
    for (size_t i = base; i < p->sp; i++) {
        p->kids[p->nk++] = p->stack[i];
        n->can_err |= p->nodes[p->stack[i]].can_err;
    }
    p->sp = base;
    return ni;
}

static int32_t parse_list(parser *p) {
    uint32_t start = cur(p)->start;
    if (!enter(p, start))
        return -1;
    advance(p); /* [ */
    size_t base = p->sp;
    if (cur(p)->t != T_RB) {
        for (;;) {
            if (p->sp - base == AA__EXPR_MAX_LIST)
                return fail_at(p, error_offset(p, cur(p)),
                               "list too long (the limit is %d items)",
                               AA__EXPR_MAX_LIST);
            int32_t k = parse_or(p);
            if (k < 0)
                return -1;
            p->stack[p->sp++] = (uint32_t)k;
            if (cur(p)->t != T_COMMA)
                break;
            advance(p);
        }
        if (cur(p)->t != T_RB) {
            char b[48];
            return FAIL_TOK(p,
                            "expected ',' or ']' in the list opened at "
                            "column %d, found %s",
                            aa__expr_column(p->src, start), tok_text(p, b));
        }
    }
    advance(p); /* ] */
    p->depth--;
    bool all_const = true;
    for (size_t i = base; i < p->sp; i++)
        all_const &= p->nodes[p->stack[i]].kind == N_CONST;
    if (!all_const)
        return make_nary(p, N_LIST, base, start);
    /* A list of constants is itself one constant. */
    int32_t ni = new_node(p, N_CONST, start, prev_end(p));
    node *n = &p->nodes[ni];
    aa__value *items = p->vals + p->nv;
    for (size_t i = base; i < p->sp; i++)
        items[i - base] = p->nodes[p->stack[i]].v;
    n->v.type = AA__V_LIST;
    n->v.u.list.items = items;
    n->v.u.list.n = p->sp - base;
    p->nv += p->sp - base;
    p->sp = base;
    return ni;
}

/* IDENT ("." name)*: a built-in field, a metadata key, or null. */
static int32_t parse_path(parser *p) {
    const token *first = cur(p);
    uint32_t start = first->start;
    size_t segs = 1;
    const token *second = NULL;
    advance(p);
    while (cur(p)->t == T_DOT) {
        advance(p);
        if (cur(p)->t != T_IDENT && cur(p)->t < T_AND) {
            char b[48];
            return FAIL_TOK(p, "expected a name after '.', found %s",
                            tok_text(p, b));
        }
        if (segs++ == 1)
            second = cur(p);
        advance(p);
    }
    int32_t ni = new_node(p, N_NOPATH, start, prev_end(p));
    node *n = &p->nodes[ni];
    const char *name = p->src + first->start;
    size_t len = first->end - first->start;
    if (segs == 1) {
        for (int f = 0; f < AA__F_COUNT; f++) {
            if (field_in_kind(p->kind, f) && strlen(field_names[f]) == len &&
                memcmp(field_names[f], name, len) == 0) {
                n->kind = N_FIELD;
                n->a = (uint32_t)f;
                return ni;
            }
        }
        n->kind = N_META;
        n->v.type = AA__V_STR;
        n->v.u.s.p = name;
        n->v.u.s.len = len;
    } else if (segs == 2 && len == 8 && memcmp(name, "metadata", 8) == 0) {
        n->kind = N_META;
        n->v.type = AA__V_STR;
        n->v.u.s.p = p->src + second->start;
        n->v.u.s.len = second->end - second->start;
    }
    return ni;
}

static int32_t parse_primary(parser *p) {
    const token *t = cur(p);
    int32_t ni;
    switch (t->t) {
    case T_STR:
        ni = new_node(p, N_CONST, t->start, t->end);
        decode_string(p, t, &p->nodes[ni].v);
        advance(p);
        return ni;
    case T_NUM:
        ni = new_node(p, N_CONST, t->start, t->end);
        p->nodes[ni].v.type = AA__V_NUM;
        p->nodes[ni].v.u.n = t->num;
        advance(p);
        return ni;
    case T_TRUE:
    case T_FALSE:
        ni = new_node(p, N_CONST, t->start, t->end);
        p->nodes[ni].v.type = AA__V_BOOL;
        p->nodes[ni].v.u.b = t->t == T_TRUE;
        advance(p);
        return ni;
    case T_NULL:
        ni = new_node(p, N_CONST, t->start, t->end);
        advance(p);
        return ni;
    case T_VAR:
        if (!t->var)
            return fail_at(p, t->start, "undefined variable '%.*s'",
                           (int)(t->end - t->start), p->src + t->start);
        ni = new_node(p, N_CONST, t->start, t->end);
        copy_value(p, t->var, &p->nodes[ni].v);
        p->nodes[ni].is_var = 1;
        advance(p);
        return ni;
    case T_IDENT:
        return parse_path(p);
    case T_LB:
        return parse_list(p);
    case T_LP: {
        uint32_t open = t->start;
        if (!enter(p, open))
            return -1;
        advance(p);
        ni = parse_or(p);
        if (ni < 0)
            return -1;
        if (cur(p)->t != T_RP) {
            char b[48];
            return FAIL_TOK(p,
                            "expected ')' to close the '(' at column %d, "
                            "found %s",
                            aa__expr_column(p->src, open), tok_text(p, b));
        }
        advance(p);
        p->depth--;
        return ni;
    }
    case T_EOF:
        return fail_at(p, error_offset(p, t), "expected an operand");
    default: {
        char b[48];
        return FAIL_TOK(p, "expected an operand, found %s", tok_text(p, b));
    }
    }
}

/* The name after `matches`: an identifier (dots allowed) or a string. */
static bool parse_matcher_name(parser *p, node *n) {
    const token *t = cur(p);
    n->b = t->start;
    if (t->t == T_STR) {
        decode_string(p, t, &n->v);
        advance(p);
        return true;
    }
    if (t->t != T_IDENT) {
        char b[48];
        FAIL_TOK(p,
                 "expected a matcher name (an identifier or a string) "
                 "after 'matches', found %s",
                 tok_text(p, b));
        return false;
    }
    uint32_t start = t->start;
    advance(p);
    while (cur(p)->t == T_DOT && p->lx->toks[p->ti + 1].t == T_IDENT) {
        advance(p);
        advance(p);
    }
    n->v.type = AA__V_STR;
    n->v.u.s.len = prev_end(p) - start;
    n->v.u.s.p = store_chars(p, p->src + start, n->v.u.s.len);
    return true;
}

/* What a node evaluates to, as far as the compiler knows. */
enum { K_ANY, K_NULL, K_BOOL, K_NUM, K_STR, K_LIST };

static int static_kind(const node *n) {
    switch (n->kind) {
    case N_CONST:
        return n->v.type == AA__V_NULL   ? K_NULL
               : n->v.type == AA__V_BOOL ? K_BOOL
               : n->v.type == AA__V_NUM  ? K_NUM
               : n->v.type == AA__V_STR  ? K_STR
                                         : K_LIST;
    case N_FIELD:
        return K_STR; /* or null, which orders as false, never an error */
    case N_NOPATH:
        return K_NULL;
    case N_LIST:
        return K_LIST;
    case N_META:
        return K_ANY;
    default:
        return K_BOOL; /* and, or, not, comparisons */
    }
}

/* Whether ordering a and b can never be an evaluation error: a side is
 * null, or both sides have one known kind. */
static bool same_kinds(const node *a, const node *b) {
    int x = static_kind(a), y = static_kind(b);
    if (x == K_NULL || y == K_NULL)
        return true;
    return x != K_ANY && x == y;
}

static int32_t parse_cmp(parser *p) {
    uint32_t start = cur(p)->start;
    int32_t l = parse_primary(p);
    if (l < 0)
        return -1;
    uint8_t op;
    switch (cur(p)->t) {
    case T_EQ:
        op = OP_EQ;
        break;
    case T_NE:
        op = OP_NE;
        break;
    case T_LT:
        op = OP_LT;
        break;
    case T_GT:
        op = OP_GT;
        break;
    case T_LE:
        op = OP_LE;
        break;
    case T_GE:
        op = OP_GE;
        break;
    case T_IN:
        op = OP_IN;
        break;
    case T_CONTAINS:
        op = OP_CONTAINS;
        break;
    case T_STARTS:
        op = OP_STARTS;
        break;
    case T_ENDS:
        op = OP_ENDS;
        break;
    case T_MATCHES:
        op = OP_MATCHES;
        break;
    case T_NOT:
        advance(p);
        if (cur(p)->t != T_IN) {
            char b[48];
            return FAIL_TOK(p, "expected 'in' after 'not', found %s",
                            tok_text(p, b));
        }
        op = OP_NOTIN;
        break;
    case T_IDENT:
        return fail_at(p, cur(p)->start, "unknown operator '%.*s'",
                       (int)(cur(p)->end - cur(p)->start),
                       p->src + cur(p)->start);
    default:
        return l;
    }
    advance(p);
    int32_t ni = new_node(p, N_CMP, start, 0);
    p->nodes[ni].op = op;
    p->nodes[ni].a = (uint32_t)l;
    if (op == OP_MATCHES) {
        if (!parse_matcher_name(p, &p->nodes[ni]))
            return -1;
        p->nodes[ni].can_err = 1;
    } else {
        int32_t r = parse_primary(p);
        if (r < 0)
            return -1;
        p->nodes[ni].b = (uint32_t)r;
        p->nodes[ni].can_err = p->nodes[l].can_err | p->nodes[r].can_err;
        if (op >= OP_LT && op <= OP_GE &&
            !same_kinds(&p->nodes[l], &p->nodes[r]))
            p->nodes[ni].can_err = 1;
    }
    p->nodes[ni].can_err |= p->nodes[l].can_err;
    p->nodes[ni].end = prev_end(p);
    return ni;
}

static int32_t parse_not(parser *p) {
    if (cur(p)->t != T_NOT)
        return parse_cmp(p);
    uint32_t start = cur(p)->start;
    if (!enter(p, start))
        return -1;
    advance(p);
    int32_t c = parse_not(p);
    if (c < 0)
        return -1;
    p->depth--;
    int32_t ni = new_node(p, N_NOT, start, prev_end(p));
    p->nodes[ni].a = (uint32_t)c;
    p->nodes[ni].can_err = p->nodes[c].can_err;
    return ni;
}

static int32_t parse_and(parser *p) {
    uint32_t start = cur(p)->start;
    int32_t first = parse_not(p);
    if (first < 0 || cur(p)->t != T_AND)
        return first;
    size_t base = p->sp;
    p->stack[p->sp++] = (uint32_t)first;
    while (cur(p)->t == T_AND) {
        advance(p);
        int32_t k = parse_not(p);
        if (k < 0)
            return -1;
        p->stack[p->sp++] = (uint32_t)k;
    }
    return make_nary(p, N_AND, base, start);
}

static int32_t parse_or(parser *p) {
    uint32_t start = cur(p)->start;
    int32_t first = parse_and(p);
    if (first < 0 || cur(p)->t != T_OR)
        return first;
    size_t base = p->sp;
    p->stack[p->sp++] = (uint32_t)first;
    while (cur(p)->t == T_OR) {
        advance(p);
        int32_t k = parse_and(p);
        if (k < 0)
            return -1;
        p->stack[p->sp++] = (uint32_t)k;
    }
    return make_nary(p, N_OR, base, start);
}

/* ---- indexing support --------------------------------------------------- */

/* The string literals of constant r: r itself when it is a string or, with
 * `list`, every item of a list of strings only. Stored at slot (when not
 * NULL). */
static bool const_strings(const node *r, bool list, const char **slot,
                          size_t *count) {
    if (!list) {
        if (r->v.type != AA__V_STR)
            return false;
        if (slot)
            slot[0] = r->v.u.s.p;
        *count = 1;
        return true;
    }
    if (r->v.type != AA__V_LIST)
        return false;
    for (size_t i = 0; i < r->v.u.list.n; i++)
        if (r->v.u.list.items[i].type != AA__V_STR)
            return false;
    for (size_t i = 0; slot && i < r->v.u.list.n; i++)
        slot[i] = r->v.u.list.items[i].u.s.p;
    *count = r->v.u.list.n;
    return true;
}

/* Whether comparison n pins field f: `f == "lit"`, `"lit" == f` and
 * `f in ["a", "b"]` pin it to exact values, `f starts_with "lit"` to a
 * prefix. Stores the literals at slot (when not NULL). */
static bool pin_cmp(const aa__expr *e, const node *n, int f, const char **slot,
                    size_t *count, bool *prefix) {
    if (n->kind != N_CMP ||
        (n->op != OP_EQ && n->op != OP_IN && n->op != OP_STARTS))
        return false;
    const node *l = &e->nodes[n->a], *r = &e->nodes[n->b];
    if (n->op == OP_EQ && r->kind == N_FIELD && l->kind == N_CONST) {
        const node *t = l;
        l = r;
        r = t;
    }
    if (l->kind != N_FIELD || l->a != (uint32_t)f || r->kind != N_CONST)
        return false;
    *prefix = n->op == OP_STARTS;
    return const_strings(r, n->op == OP_IN, slot, count);
}

/* Whether node n alone pins field f: a pinning comparison, or an `or` of
 * them. Exact values come first at slot (when not NULL), then prefixes. */
static bool pin_of(const aa__expr *e, const node *n, int f, const char **slot,
                   size_t *count, size_t *nexact) {
    size_t c = 0;
    bool prefix;
    if (n->kind != N_OR) {
        if (!pin_cmp(e, n, f, slot, &c, &prefix))
            return false;
        *count = c;
        *nexact = prefix ? 0 : c;
        return true;
    }
    size_t total = 0, exact = 0;
    for (int pass = 0; pass < 2; pass++) { /* exact values, then prefixes */
        for (uint32_t i = 0; i < n->b; i++) {
            const node *k = &e->nodes[e->kids[n->a + i]];
            if (!pin_cmp(e, k, f, NULL, &c, &prefix))
                return false; /* the `or` is cheap to check, not to pin */
            if (prefix != (pass == 1))
                continue;
            if (slot)
                pin_cmp(e, k, f, slot + total, &c, &prefix);
            total += c;
        }
        if (pass == 0)
            exact = total;
    }
    *count = total;
    *nexact = exact;
    return true;
}

/* Fills e->pin_* from the top-level conjuncts, preferring exact values to
 * prefixes. Returns the pin space left. */
static const char **compute_pins(aa__expr *e, const char **space) {
    const node *root = &e->nodes[e->root];
    const node *one = root;
    uint32_t nkids = 1;
    const uint32_t *kids = NULL;
    if (root->kind == N_AND) {
        kids = e->kids + root->a;
        nkids = root->b;
    }
    for (int f = 0; f < AA__F_COUNT; f++) {
        const node *best = NULL;
        size_t count = 0, nexact = 0;
        for (uint32_t i = 0; i < nkids; i++) {
            const node *k = kids ? &e->nodes[kids[i]] : one;
            size_t c, x;
            if (!pin_of(e, k, f, NULL, &c, &x)) {
                if (k->can_err)
                    break; /* skipping could hide its error */
                continue;
            }
            if (!best || (nexact < count && x == c)) {
                best = k;
                count = c;
                nexact = x;
                if (x == c)
                    break; /* exact values: nothing is more selective */
            }
        }
        if (!best)
            continue;
        pin_of(e, best, f, space, &count, &nexact);
        e->pinned[f] = true;
        e->pin_vals[f] = (const char *const *)space;
        e->pin_n[f] = count;
        e->pin_exact[f] = nexact;
        space += count;
    }
    return space;
}

/* Whether comparison n pins a metadata key to string values
 * (`metadata.k == "v"`, `k in ["a", "b"]`): stores the key and, when slot
 * is not NULL, the values. */
static bool meta_pin_cmp(const aa__expr *e, const node *n, const node **key,
                         const char **slot, size_t *count) {
    if (n->kind != N_CMP || (n->op != OP_EQ && n->op != OP_IN))
        return false;
    const node *l = &e->nodes[n->a], *r = &e->nodes[n->b];
    if (n->op == OP_EQ && r->kind == N_META && l->kind == N_CONST) {
        const node *t = l;
        l = r;
        r = t;
    }
    if (l->kind != N_META || r->kind != N_CONST ||
        !const_strings(r, n->op == OP_IN, slot, count))
        return false;
    *key = l;
    return true;
}

static bool same_key(const node *a, const node *b) {
    return a->v.u.s.len == b->v.u.s.len &&
           memcmp(a->v.u.s.p, b->v.u.s.p, a->v.u.s.len) == 0;
}

/* A comparison that pins a metadata key, or an `or` of them on one key. */
static bool meta_pin_of(const aa__expr *e, const node *n, const node **key,
                        const char **slot, size_t *count) {
    if (n->kind != N_OR)
        return meta_pin_cmp(e, n, key, slot, count);
    size_t total = 0, c;
    const node *k;
    for (uint32_t i = 0; i < n->b; i++) {
        const node *kid = &e->nodes[e->kids[n->a + i]];
        if (!meta_pin_cmp(e, kid, &k, slot ? slot + total : NULL, &c) ||
            (i > 0 && !same_key(k, *key)))
            return false;
        if (i == 0)
            *key = k;
        total += c;
    }
    *count = total;
    return true;
}

/* Fills e->meta_* from the first top-level conjunct that pins a metadata
 * key, unless a conjunct before it could raise an evaluation error.
 * Returns the pin space left. */
static const char **compute_meta_pin(aa__expr *e, const char **space) {
    const node *root = &e->nodes[e->root];
    uint32_t nkids = root->kind == N_AND ? root->b : 1;
    for (uint32_t i = 0; i < nkids; i++) {
        const node *k =
            root->kind == N_AND ? &e->nodes[e->kids[root->a + i]] : root;
        const node *key;
        size_t count;
        if (meta_pin_of(e, k, &key, NULL, &count)) {
            meta_pin_of(e, k, &key, space, &count);
            e->meta_key = key->v.u.s.p;
            e->meta_keylen = key->v.u.s.len;
            e->meta_vals = (const char *const *)space;
            e->meta_n = count;
            return space + count;
        }
        if (k->can_err)
            return space; /* skipping could hide its error */
    }
    return space;
}

/* ---- filters: what a condition needs of a request ------------------------
 *
 * A filter of node n for a truth value is a set of atoms such that n can
 * evaluate to that value, or raise an evaluation error, only when one of
 * the atoms holds for the request (expr.h). "No filter" (every request may
 * need n) is FILT_NONE. score() measures a filter without writing it, so
 * that a conjunction can pick its most selective conjunct; emit() writes
 * the chosen one. Both are linear in the subtree, and emit() calls score()
 * on the children it chooses among, so the whole is O(nodes * depth).
 */

#define FILT_NONE (-1.0)

/* The value side and the constant side of comparison n, when it compares
 * a built-in field or a metadata value with a constant; *flipped when the
 * constant is on the left. */
static bool cmp_sides(const aa__expr *e, const node *n, const node **val,
                      const node **cst, bool *flipped) {
    if (n->op == OP_MATCHES)
        return false;
    const node *l = &e->nodes[n->a], *r = &e->nodes[n->b];
    bool lv = l->kind == N_FIELD || l->kind == N_META;
    bool rv = r->kind == N_FIELD || r->kind == N_META;
    if (lv && r->kind == N_CONST) {
        *val = l, *cst = r, *flipped = false;
        return true;
    }
    if (rv && l->kind == N_CONST) {
        *val = r, *cst = l, *flipped = true;
        return true;
    }
    return false;
}

/* A constant an equality atom can hold: string, bool, or a number that
 * equals itself. */
static bool eq_constant(const aa__value *v) {
    return v->type == AA__V_STR || v->type == AA__V_BOOL ||
           (v->type == AA__V_NUM && v->u.n == v->u.n);
}

static void atom_at(const node *val, aa__atom_op op, const aa__value *c,
                    aa__atom *out) {
    out->op = op;
    if (val->kind == N_FIELD) {
        out->field = (int)val->a;
        out->key = NULL;
        out->keylen = 0;
    } else {
        out->field = -1;
        out->key = val->v.u.s.p;
        out->keylen = val->v.u.s.len;
    }
    out->value = *c;
}

/* The atoms of comparison n for truth value `want` (written at out when
 * not NULL): their number, or -1 for no filter. */
static long cmp_atoms(const aa__expr *e, const node *n, bool want,
                      aa__atom *out) {
    const node *val, *cst;
    bool flipped;
    if (!cmp_sides(e, n, &val, &cst, &flipped))
        return -1;
    const aa__value *c = &cst->v;
    int op = n->op;
    if (!want) { /* only `!=` and `not in` are false on few values */
        if (op == OP_NE)
            op = OP_EQ;
        else if (op == OP_NOTIN)
            op = OP_IN;
        else
            return -1;
    }
    switch (op) {
    case OP_EQ:
        if (!eq_constant(c))
            return -1;
        if (out)
            atom_at(val, AA__ATOM_EQ, c, out);
        return 1;
    case OP_IN: /* `value in [constants]`: equal to one of them */
        if (flipped || c->type != AA__V_LIST)
            return -1;
        for (size_t i = 0; i < c->u.list.n; i++)
            if (!eq_constant(&c->u.list.items[i]))
                return -1;
        for (size_t i = 0; out && i < c->u.list.n; i++)
            atom_at(val, AA__ATOM_EQ, &c->u.list.items[i], &out[i]);
        return (long)c->u.list.n;
    case OP_STARTS:
    case OP_ENDS:
        if (flipped)
            return -1;
        if (c->type != AA__V_STR)
            return 0; /* false for every request */
        if (out)
            atom_at(val, op == OP_STARTS ? AA__ATOM_PREFIX : AA__ATOM_SUFFIX, c,
                    out);
        return 1;
    case OP_LT:
    case OP_GT:
    case OP_LE:
    case OP_GE: {
        if (c->type != AA__V_STR && !(c->type == AA__V_NUM && c->u.n == c->u.n))
            return -1;
        static const aa__atom_op direct[] = {[OP_LT] = AA__ATOM_LT,
                                             [OP_GT] = AA__ATOM_GT,
                                             [OP_LE] = AA__ATOM_LE,
                                             [OP_GE] = AA__ATOM_GE};
        static const aa__atom_op mirror[] = {[OP_LT] = AA__ATOM_GT,
                                             [OP_GT] = AA__ATOM_LT,
                                             [OP_LE] = AA__ATOM_GE,
                                             [OP_GE] = AA__ATOM_LE};
        if (out)
            atom_at(val, flipped ? mirror[op] : direct[op], c, out);
        return 1;
    }
    default:
        return -1;
    }
}

static double atom_cost(aa__atom_op op) {
    return op == AA__ATOM_EQ                                ? 1.0
           : op == AA__ATOM_PREFIX || op == AA__ATOM_SUFFIX ? 2.0
                                                            : 16.0;
}

/* Whether node n, as an operand of `and` (want true) or `or` (want
 * false), chains: its filter is one of its operands'. */
static bool chains(const node *n, bool want) {
    return (n->kind == N_AND && want) || (n->kind == N_OR && !want);
}

/* The cost of n's filter for `want` (FILT_NONE: no filter); *count gets
 * its number of atoms. */
static double score(const aa__expr *e, const node *n, bool want,
                    size_t *count) {
    *count = 0;
    switch (n->kind) {
    case N_NOT:
        return score(e, &e->nodes[n->a], !want, count);
    case N_CONST:
        return aa__value_truthy(&n->v) == want ? FILT_NONE : 0.0;
    case N_CMP: {
        long k = cmp_atoms(e, n, want, NULL);
        if (k < 0)
            return FILT_NONE;
        *count = (size_t)k;
        if (k == 0)
            return 0.0;
        if (n->op == OP_IN || n->op == OP_NOTIN)
            return (double)k * atom_cost(AA__ATOM_EQ);
        aa__atom a; /* one atom of one kind */
        cmp_atoms(e, n, want, &a);
        return atom_cost(a.op);
    }
    case N_AND:
    case N_OR:
        break;
    default:
        return FILT_NONE;
    }
    if (chains(n, want)) { /* the best operand reached without an error */
        double best = FILT_NONE;
        for (uint32_t i = 0; i < n->b; i++) {
            const node *k = &e->nodes[e->kids[n->a + i]];
            size_t c;
            double s = score(e, k, want, &c);
            if (s >= 0 && (best < 0 || s < best)) {
                best = s;
                *count = c;
            }
            if (k->can_err)
                break; /* a later operand could hide this one's error */
        }
        return best;
    }
    double total = 0; /* every operand may decide: the union */
    for (uint32_t i = 0; i < n->b; i++) {
        size_t c;
        double s = score(e, &e->nodes[e->kids[n->a + i]], want, &c);
        if (s < 0)
            return FILT_NONE;
        total += s;
        *count += c;
    }
    return total;
}

/* Writes n's filter for `want` (which score() found) at out; returns the
 * number written. */
static size_t emit(const aa__expr *e, const node *n, bool want, aa__atom *out) {
    size_t c;
    switch (n->kind) {
    case N_NOT:
        return emit(e, &e->nodes[n->a], !want, out);
    case N_CMP: {
        long k = cmp_atoms(e, n, want, out);
        return k > 0 ? (size_t)k : 0;
    }
    case N_AND:
    case N_OR:
        break;
    default:
        return 0;
    }
    if (chains(n, want)) {
        double best = FILT_NONE;
        const node *pick = NULL;
        for (uint32_t i = 0; i < n->b; i++) {
            const node *k = &e->nodes[e->kids[n->a + i]];
            double s = score(e, k, want, &c);
            if (s >= 0 && (best < 0 || s < best)) {
                best = s;
                pick = k;
            }
            if (k->can_err)
                break;
        }
        return pick ? emit(e, pick, want, out) : 0;
    }
    size_t total = 0;
    for (uint32_t i = 0; i < n->b; i++)
        total += emit(e, &e->nodes[e->kids[n->a + i]], want, out + total);
    return total;
}

long aa__expr_filter(const aa__expr *e, aa__atom *out, double *cost) {
    if (!e || e->empty)
        return -1;
    const node *root = &e->nodes[e->root];
    size_t count;
    double s = score(e, root, true, &count);
    if (s < 0)
        return -1;
    if (cost)
        *cost = s;
    if (out)
        emit(e, root, true, out);
    return (long)count;
}

/* ---- compile ------------------------------------------------------------ */

static size_t align_up(size_t n, size_t a) {
    return (n + a - 1) & ~(a - 1);
}

/* The sections of a compiled block, in order: nodes, values, pins, kids,
 * chars. */
enum { SEC_NODES, SEC_VALS, SEC_PINS, SEC_KIDS, SEC_CHARS, SEC_COUNT };

typedef struct reloc {
    uintptr_t old_base, old_end;
    uintptr_t old_off[SEC_COUNT + 1]; /* + 1: the end of the block */
    char *new_base;
    size_t new_off[SEC_COUNT];
} reloc;

/* Where a pointer into the old block is in the new one; a pointer
 * elsewhere (NULL, a static string) is kept. A pointer one past a
 * section's last used byte (an empty list's items) stays one past it. */
static const void *relocate(const reloc *r, const void *ptr) {
    uintptr_t a = (uintptr_t)ptr;
    if (!ptr || a < r->old_base || a >= r->old_end)
        return ptr;
    size_t off = (size_t)(a - r->old_base);
    for (int s = SEC_COUNT - 1; s >= 0; s--)
        if (off >= r->old_off[s])
            return r->new_base + r->new_off[s] + (off - r->old_off[s]);
    return r->new_base + off; /* the header */
}

static void relocate_value(const reloc *r, aa__value *v) {
    if (v->type == AA__V_STR)
        v->u.s.p = relocate(r, v->u.s.p);
    else if (v->type == AA__V_LIST)
        v->u.list.items = relocate(r, v->u.list.items);
}

/* The block of a compiled condition is sized for the worst case of its
 * tokens (every token a node, a value, a pin...); most conditions use a
 * third of it. Moves what is used into a block of its own size and frees
 * the first; keeps the first when that would not save much, or when
 * memory is short. */
static aa__expr *shrink_block(aa__expr *e, const size_t old_off[SEC_COUNT],
                              size_t total, const size_t used[SEC_COUNT]) {
    static const size_t align[SEC_COUNT] = {16, 8, 8, 4, 1};
    reloc r;
    size_t end = old_off[SEC_NODES];
    for (int s = 0; s < SEC_COUNT; s++) {
        r.new_off[s] = align_up(end, align[s]);
        end = r.new_off[s] + used[s];
    }
    if (end + 64 > total)
        return e;
    char *nb = malloc(end);
    if (!nb)
        return e;
    const char *ob = (const char *)e;
    memcpy(nb, ob, old_off[SEC_NODES]);
    for (int s = 0; s < SEC_COUNT; s++)
        if (used[s])
            memcpy(nb + r.new_off[s], ob + old_off[s], used[s]);
    r.old_base = (uintptr_t)ob;
    r.old_end = (uintptr_t)ob + total;
    for (int s = 0; s < SEC_COUNT; s++)
        r.old_off[s] = old_off[s];
    r.old_off[SEC_COUNT] = total;
    r.new_base = nb;

    aa__expr *n = (aa__expr *)(void *)nb;
    n->size = end;
    n->src = relocate(&r, n->src);
    n->nodes = relocate(&r, n->nodes);
    n->kids = relocate(&r, n->kids);
    n->meta_key = relocate(&r, n->meta_key);
    n->meta_vals = relocate(&r, n->meta_vals);
    for (int f = 0; f < AA__F_COUNT; f++)
        n->pin_vals[f] = relocate(&r, n->pin_vals[f]);
    node *nodes = (node *)(void *)(nb + r.new_off[SEC_NODES]);
    for (size_t i = 0; i < used[SEC_NODES] / sizeof(node); i++)
        relocate_value(&r, &nodes[i].v);
    aa__value *vals = (aa__value *)(void *)(nb + r.new_off[SEC_VALS]);
    for (size_t i = 0; i < used[SEC_VALS] / sizeof(aa__value); i++)
        relocate_value(&r, &vals[i]);
    const char **pins = (const char **)(void *)(nb + r.new_off[SEC_PINS]);
    for (size_t i = 0; i < used[SEC_PINS] / sizeof(char *); i++)
        pins[i] = relocate(&r, pins[i]);
    free(e);
    return n;
}

int aa__expr_compile(const char *src, aa__ctx_kind kind, aa__var_lookup_fn vars,
                     void *vars_ud, aa__expr **out, aa__expr_error *err) {
    aa__expr_error dummy;
    if (!err)
        err = &dummy;
    memset(err, 0, sizeof *err);
    if (!out)
        return AA_EINVAL;
    *out = NULL;
    if (!src)
        src = "";
    size_t srclen = strlen(src);
    if (srclen > AA__EXPR_MAX_LEN) {
        snprintf(err->message, sizeof err->message,
                 "condition too long (%zu bytes; the limit is %d)", srclen,
                 AA__EXPR_MAX_LEN);
        return AA_EPARSE;
    }

    lexer lx;
    memset(&lx, 0, sizeof lx);
    lx.src = src;
    lx.vars = vars;
    lx.vars_ud = vars_ud;
    int rc = lex_all(&lx);
    if (rc != AA_OK) {
        free(lx.toks);
        return rc;
    }

    /* Upper bounds: every token makes at most one node, one operand slot,
     * one list item; decoded strings and names are no longer than the
     * source, plus one NUL per token. */
    size_t ntok = lx.ntok;
    size_t nvals = ntok + lx.var_vals;
    size_t nchars = (srclen + 1) + srclen + ntok + lx.var_chars;
    size_t npins = nvals + AA__F_COUNT;
    size_t off_nodes = align_up(sizeof(aa__expr), 16);
    size_t off_vals = off_nodes + ntok * sizeof(node);
    size_t off_pins = align_up(off_vals + nvals * sizeof(aa__value), 8);
    size_t off_kids = off_pins + npins * sizeof(char *);
    size_t off_chars = off_kids + ntok * sizeof(uint32_t);
    size_t total = off_chars + nchars;

    char *block = calloc(1, total);
    uint32_t *stack = malloc(ntok * sizeof *stack);
    if (!block || !stack) {
        free(block);
        free(stack);
        free(lx.toks);
        return AA_ENOMEM;
    }
    aa__expr *e = (aa__expr *)(void *)block;
    parser p;
    memset(&p, 0, sizeof p);
    p.nodes = (node *)(void *)(block + off_nodes);
    p.vals = (aa__value *)(void *)(block + off_vals);
    p.kids = (uint32_t *)(void *)(block + off_kids);
    p.chars = block + off_chars;
    p.stack = stack;
    p.kind = kind;
    p.lx = &lx;
    p.err = err;
    p.src = store_chars(&p, src, srclen);
    p.srclen = srclen;

    e->src = p.src;
    e->srclen = srclen;
    e->size = total;
    e->nodes = p.nodes;
    e->kids = p.kids;
    if (lx.toks[0].t == T_EOF) {
        e->empty = true;
    } else {
        enter(&p, 0);
        int32_t root = parse_or(&p);
        if (root >= 0 && cur(&p)->t != T_EOF) {
            char b[48];
            FAIL_TOK(&p, "unexpected token %s", tok_text(&p, b));
        }
        e->root = root < 0 ? 0 : (uint32_t)root;
    }
    e->nnodes = p.nn;
    free(stack);
    free(lx.toks);
    if (p.failed) {
        free(block);
        return AA_EPARSE;
    }
    size_t npins_used = 0;
    if (!e->empty) {
        const char **pins = (const char **)(void *)(block + off_pins);
        npins_used =
            (size_t)(compute_meta_pin(e, compute_pins(e, pins)) - pins);
    }
    const size_t old_off[5] = {off_nodes, off_vals, off_pins, off_kids,
                               off_chars};
    const size_t used[5] = {p.nn * sizeof(node), p.nv * sizeof(aa__value),
                            npins_used * sizeof(char *),
                            p.nk * sizeof(uint32_t), p.nc};
    *out = shrink_block(e, old_off, total, used);
    return AA_OK;
}

void aa__expr_free(aa__expr *e) {
    free(e);
}

bool aa__expr_meta_pin(const aa__expr *e, const char **key, size_t *keylen,
                       const char *const **vals, size_t *n) {
    if (!e || e->empty || !e->meta_key)
        return false;
    if (key)
        *key = e->meta_key;
    if (keylen)
        *keylen = e->meta_keylen;
    if (vals)
        *vals = e->meta_vals;
    if (n)
        *n = e->meta_n;
    return true;
}

const char *aa__expr_source(const aa__expr *e) {
    return e ? e->src : "";
}

bool aa__expr_is_empty(const aa__expr *e) {
    return !e || e->empty;
}

bool aa__expr_pins(const aa__expr *e, aa__field f, const char *const **vals,
                   size_t *n, size_t *nexact) {
    if (!e || e->empty || (int)f < 0 || f >= AA__F_COUNT || !e->pinned[f])
        return false;
    if (vals)
        *vals = e->pin_vals[f];
    if (n)
        *n = e->pin_n[f];
    if (nexact)
        *nexact = e->pin_exact[f];
    return true;
}

/* ---- what a condition reads, for load warnings ----------------------------
 */

void aa__expr_each_meta_read(const aa__expr *e, aa__expr_read_fn fn, void *ud) {
    if (!e || e->empty)
        return;
    for (uint32_t i = 0; i < e->nnodes; i++) {
        const node *n = &e->nodes[i];
        if (n->kind != N_META)
            continue;
        aa__expr_read r;
        r.name = n->v.u.s.p;
        r.len = n->v.u.s.len;
        r.bare = n->v.u.s.p == e->src + n->start;
        r.column = aa__expr_column(e->src, (size_t)(n->v.u.s.p - e->src));
        fn(ud, &r);
    }
}

void aa__expr_each_escape(const aa__expr *e, aa__expr_escape_fn fn, void *ud) {
    if (!e || e->empty)
        return;
    const char *s = e->src;
    char quote = 0;
    for (size_t i = 0; s[i]; i++) {
        if (!quote) {
            if (s[i] == '"' || s[i] == '\'')
                quote = s[i];
        } else if (s[i] == '\\' && s[i + 1]) {
            fn(ud, aa__expr_column(s, i), s[i + 1]);
            i++;
        } else if (s[i] == quote) {
            quote = 0;
        }
    }
}
