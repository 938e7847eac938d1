/*
 * expr_eval.c - evaluating a compiled condition (contract section 6), and
 * explaining the result. The compiler is in expr_parse.c.
 *
 * Evaluation reads the context, never allocates and never writes outside its
 * stack. Values of `and`, `or`, `not` and of comparisons are booleans.
 * Text forms (for `matches` on non-strings, and for ordering two lists or
 * two booleans) are rendered into a bounded stack buffer and cut at 255
 * bytes. A metadata list is read where the request keeps it. Field strings in
 * the context are expected to be NUL-terminated at field_len (they come from C
 * strings), since matchers take C strings.
 */
#include "expr_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Shortest text that reads back as d: 10 -> "10", 0.1 -> "0.1". */
size_t aa__expr_format_number(double d, char out[32]) {
    int len;
    if (d != d)
        len = snprintf(out, 32, "nan");
    else if (isinf(d))
        len = snprintf(out, 32, d < 0 ? "-inf" : "inf");
    else if (d == 0)
        len = snprintf(out, 32, "0");
    else if (d == floor(d) && fabs(d) < 1e15)
        len = snprintf(out, 32, "%.0f", d);
    else {
        len = snprintf(out, 32, "%.15g", d);
        if (strtod(out, NULL) != d)
            len = snprintf(out, 32, "%.17g", d);
        for (int i = 0; i < len; i++)
            if (!strchr("0123456789+-eE", out[i]))
                out[i] = '.';
    }
    return len < 0 ? 0 : (size_t)len;
}

/* ---- evaluation --------------------------------------------------------- */

bool aa__value_truthy(const aa__value *v) {
    if (!v)
        return false;
    switch (v->type) {
    case AA__V_BOOL:
        return v->u.b;
    case AA__V_NUM:
        return v->u.n != 0;
    case AA__V_STR:
        return v->u.s.len > 0;
    case AA__V_LIST:
        return v->u.list.n > 0;
    default:
        return false;
    }
}

bool aa__value_equal(const aa__value *a, const aa__value *b) {
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case AA__V_NULL:
        return true;
    case AA__V_BOOL:
        return a->u.b == b->u.b;
    case AA__V_NUM:
        return a->u.n == b->u.n;
    case AA__V_STR:
        /* An empty string may have no bytes at all (p NULL). */
        return a->u.s.len == b->u.s.len &&
               (a->u.s.len == 0 || memcmp(a->u.s.p, b->u.s.p, a->u.s.len) == 0);
    case AA__V_LIST:
        if (a->u.list.n != b->u.list.n)
            return false;
        for (size_t i = 0; i < a->u.list.n; i++)
            if (!aa__value_equal(&a->u.list.items[i], &b->u.list.items[i]))
                return false;
        return true;
    }
    return false;
}

/* A value during evaluation: a list is constant (v.u.list.items), a list
 * node whose elements are evaluated when needed (dyn), or a request
 * metadata list read in place (meta): evaluation never copies a list.
 * dyn and meta mean something only when v.type is AA__V_LIST. */
typedef struct xval {
    aa__value v;
    const node *dyn;
    const aa_meta *meta;
} xval;

typedef struct evst {
    const aa__expr *e;
    const aa__expr_ctx *c;
    const node *errn; /* the `matches` that failed */
    aa__expr_error *err;
} evst;

static int ev(evst *s, const node *n, xval *out);

static const node *kid(const evst *s, const node *n, uint32_t i) {
    return &s->e->nodes[s->e->kids[n->a + i]];
}

const char *aa__meta_string(const aa_meta *meta, size_t n, const char *key,
                            size_t klen) {
    for (size_t i = 0; i < n; i++) {
        const char *k = meta[i].key;
        if (!k || k[0] != key[0] || strncmp(k, key, klen) != 0 || k[klen])
            continue;
        return meta[i].type == AA_VALUE_STRING ? meta[i].string : NULL;
    }
    return NULL;
}

/* The value of one metadata entry (or list element) as a condition sees
 * it; a list points at the request's own elements. */
static void meta_to_xval(const aa_meta *m, xval *out) {
    out->v.type = AA__V_NULL;
    out->dyn = NULL;
    out->meta = NULL;
    switch (m->type) {
    case AA_VALUE_BOOL:
        out->v.type = AA__V_BOOL;
        out->v.u.b = m->boolean != 0;
        break;
    case AA_VALUE_NUMBER:
        out->v.type = AA__V_NUM;
        out->v.u.n = m->number;
        break;
    case AA_VALUE_STRING:
        if (m->string) {
            out->v.type = AA__V_STR;
            out->v.u.s.p = m->string;
            out->v.u.s.len = strlen(m->string);
        }
        break;
    case AA_VALUE_LIST:
        if (m->items || !m->count) {
            out->v.type = AA__V_LIST;
            out->v.u.list.items = NULL;
            out->v.u.list.n = m->count;
            out->meta = m->items;
        }
        break;
    default:
        break;
    }
}

static void meta_value(const aa__expr_ctx *c, const char *key, size_t klen,
                       xval *out) {
    out->v.type = AA__V_NULL;
    out->dyn = NULL;
    out->meta = NULL;
    for (size_t i = 0; i < c->nmeta; i++) {
        const char *k = c->meta[i].key;
        if (!k || k[0] != key[0] || strncmp(k, key, klen) != 0 || k[klen])
            continue;
        meta_to_xval(&c->meta[i], out);
        return;
    }
}

static int list_item(evst *s, const xval *l, size_t i, xval *out) {
    if (l->dyn)
        return ev(s, kid(s, l->dyn, (uint32_t)i), out);
    if (l->meta) {
        meta_to_xval(&l->meta[i], out);
        return AA_OK;
    }
    out->v = l->v.u.list.items[i];
    out->dyn = NULL;
    out->meta = NULL;
    return AA_OK;
}

static int equal(evst *s, const xval *a, const xval *b, bool *res) {
    *res = false;
    if (a->v.type != b->v.type)
        return AA_OK;
    switch (a->v.type) {
    case AA__V_NULL:
        *res = true;
        return AA_OK;
    case AA__V_BOOL:
        *res = a->v.u.b == b->v.u.b;
        return AA_OK;
    case AA__V_NUM:
        *res = a->v.u.n == b->v.u.n;
        return AA_OK;
    case AA__V_STR:
        *res = a->v.u.s.len == b->v.u.s.len &&
               (a->v.u.s.len == 0 ||
                memcmp(a->v.u.s.p, b->v.u.s.p, a->v.u.s.len) == 0);
        return AA_OK;
    case AA__V_LIST:
        if (a->v.u.list.n != b->v.u.list.n)
            return AA_OK;
        for (size_t i = 0; i < a->v.u.list.n; i++) {
            xval x, y;
            bool same;
            int rc = list_item(s, a, i, &x);
            if (rc == AA_OK)
                rc = list_item(s, b, i, &y);
            if (rc == AA_OK)
                rc = equal(s, &x, &y, &same);
            if (rc != AA_OK || !same)
                return rc;
        }
        *res = true;
        return AA_OK;
    }
    return AA_OK;
}

/* Bounded text sink for rendering lists. */
typedef struct tsink {
    char *p;
    size_t len, cap; /* cap excludes the NUL */
} tsink;

static void sink_put(tsink *t, const char *s, size_t n) {
    if (n > t->cap - t->len)
        n = t->cap - t->len;
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = 0;
}

static int render(evst *s, const xval *v, tsink *t, bool quote) {
    char num[32];
    switch (v->v.type) {
    case AA__V_NULL:
        sink_put(t, quote ? "null" : "", quote ? 4 : 0);
        break;
    case AA__V_BOOL:
        sink_put(t, v->v.u.b ? "true" : "false", v->v.u.b ? 4 : 5);
        break;
    case AA__V_NUM:
        sink_put(t, num, aa__expr_format_number(v->v.u.n, num));
        break;
    case AA__V_STR:
        if (!quote) {
            sink_put(t, v->v.u.s.p, v->v.u.s.len);
            break;
        }
        sink_put(t, "\"", 1);
        for (size_t i = 0; i < v->v.u.s.len && t->len < t->cap; i++) {
            char c = v->v.u.s.p[i];
            if (c == '"' || c == '\\')
                sink_put(t, "\\", 1);
            sink_put(t, &c, 1);
        }
        sink_put(t, "\"", 1);
        break;
    case AA__V_LIST:
        sink_put(t, "[", 1);
        for (size_t i = 0; i < v->v.u.list.n && t->len < t->cap; i++) {
            xval item;
            int rc = list_item(s, v, i, &item);
            if (rc != AA_OK)
                return rc;
            if (i)
                sink_put(t, ", ", 2);
            rc = render(s, &item, t, true);
            if (rc != AA_OK)
                return rc;
        }
        sink_put(t, "]", 1);
        break;
    }
    return AA_OK;
}

#define TEXT_BUF 256

/* The text form of v: strings as they are, null "", others rendered into
 * buf (TEXT_BUF bytes). */
static int text_of(evst *s, const xval *v, char *buf, const char **p,
                   size_t *n) {
    if (v->v.type == AA__V_STR) {
        *p = v->v.u.s.p;
        *n = v->v.u.s.len;
        return AA_OK;
    }
    tsink t = {buf, 0, TEXT_BUF - 1};
    buf[0] = 0;
    int rc = render(s, v, &t, false);
    *p = buf;
    *n = t.len;
    return rc;
}

static const char *kind_name(aa__vtype t) {
    switch (t) {
    case AA__V_BOOL:
        return "a boolean";
    case AA__V_NUM:
        return "a number";
    case AA__V_STR:
        return "a string";
    case AA__V_LIST:
        return "a list";
    default:
        return "null";
    }
}

static const char *const op_text[] = {"==", "!=", "<", ">", "<=", ">="};

static int eval_error(evst *s, const node *n, size_t off, const char *fmt, ...)
    AA__PRINTF(4, 5);

/* `< > <= >=`: numbers by value, other values of one kind by their text; a
 * null side is false; two kinds are an error (fail closed), never a text
 * comparison. */
static AA__NOINLINE int order(evst *s, const node *n, const xval *a,
                              const xval *b, bool *res) {
    int cmp;
    *res = false;
    if (a->v.type == AA__V_NULL || b->v.type == AA__V_NULL)
        return AA_OK;
    if (a->v.type != b->v.type) {
        size_t off = s->e->nodes[n->a].end; /* the operator */
        while (s->e->src[off] == ' ' || s->e->src[off] == '\t' ||
               s->e->src[off] == '\n' || s->e->src[off] == '\r')
            off++;
        return eval_error(s, n, off,
                          "cannot order %s and %s with '%s' (both sides "
                          "must be numbers, or both strings)",
                          kind_name(a->v.type), kind_name(b->v.type),
                          op_text[n->op]);
    }
    if (a->v.type == AA__V_NUM) {
        double x = a->v.u.n, y = b->v.u.n;
        if (x != x || y != y) /* NaN: no order */
            return AA_OK;
        cmp = x < y ? -1 : x > y;
    } else {
        char ba[TEXT_BUF], bb[TEXT_BUF];
        const char *pa, *pb;
        size_t na, nb;
        int rc = text_of(s, a, ba, &pa, &na);
        if (rc == AA_OK)
            rc = text_of(s, b, bb, &pb, &nb);
        if (rc != AA_OK)
            return rc;
        size_t m = na < nb ? na : nb;
        cmp = m ? memcmp(pa, pb, m) : 0;
        if (cmp == 0)
            cmp = na < nb ? -1 : na > nb;
    }
    switch (n->op) {
    case OP_LT:
        *res = cmp < 0;
        break;
    case OP_GT:
        *res = cmp > 0;
        break;
    case OP_LE:
        *res = cmp <= 0;
        break;
    default:
        *res = cmp >= 0;
        break;
    }
    return AA_OK;
}

static bool has_sub(const aa__value *hay, const aa__value *needle) {
    if (needle->u.s.len == 0)
        return true;
    if (needle->u.s.len > hay->u.s.len)
        return false;
    return memmem(hay->u.s.p, hay->u.s.len, needle->u.s.p, needle->u.s.len) !=
           NULL;
}

static int member(evst *s, const xval *a, const xval *b, bool *res) {
    *res = false;
    if (b->v.type == AA__V_LIST) {
        for (size_t i = 0; i < b->v.u.list.n && !*res; i++) {
            xval item;
            int rc = list_item(s, b, i, &item);
            if (rc == AA_OK)
                rc = equal(s, a, &item, res);
            if (rc != AA_OK)
                return rc;
        }
    } else if (a->v.type == AA__V_STR && b->v.type == AA__V_STR) {
        *res = has_sub(&b->v, &a->v);
    }
    return AA_OK;
}

/* An evaluation error at node n, pointing at byte `off` of the source. */
static int eval_error(evst *s, const node *n, size_t off, const char *fmt,
                      ...) {
    s->errn = n;
    if (s->err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->err->message, sizeof s->err->message, fmt, ap);
        va_end(ap);
        s->err->column = aa__expr_column(s->e->src, off);
    }
    return AA_EEVAL;
}

static AA__NOINLINE int call_matcher(evst *s, const node *n, const xval *v,
                                     bool *res) {
    const char *name = n->v.u.s.p;
    int name_len = (int)(n->v.u.s.len > 64 ? 64 : n->v.u.s.len);
    if (!s->c->matcher)
        return eval_error(s, n, n->b, "unknown matcher '%.*s'", name_len, name);
    char buf[TEXT_BUF];
    const char *text = NULL;
    size_t len;
    if (v->v.type != AA__V_NULL) {
        int rc = text_of(s, v, buf, &text, &len);
        if (rc != AA_OK)
            return rc;
    }
    bool r = false;
    int rc = s->c->matcher(s->c->matcher_ud, name, text, &r);
    if (rc == AA_ENOTFOUND)
        return eval_error(s, n, n->b, "unknown matcher '%.*s'", name_len, name);
    if (rc != AA_OK)
        return eval_error(s, n, n->b, "matcher '%.*s' failed: %s", name_len,
                          name, aa_strerror(rc));
    *res = r;
    return AA_OK;
}

static int truth(evst *s, const node *n, bool *res);

static int compare(evst *s, const node *n, bool *res) {
    xval l, r;
    int rc = ev(s, &s->e->nodes[n->a], &l);
    if (rc != AA_OK)
        return rc;
    if (n->op == OP_MATCHES)
        return call_matcher(s, n, &l, res);
    rc = ev(s, &s->e->nodes[n->b], &r);
    if (rc != AA_OK)
        return rc;
    switch (n->op) {
    case OP_EQ:
        return equal(s, &l, &r, res);
    case OP_NE:
        rc = equal(s, &l, &r, res);
        if (rc == AA_OK)
            *res = !*res;
        return rc;
    case OP_IN:
        return member(s, &l, &r, res);
    case OP_NOTIN:
        rc = member(s, &l, &r, res);
        if (rc == AA_OK)
            *res = !*res;
        return rc;
    case OP_CONTAINS:
        *res = l.v.type == AA__V_STR && r.v.type == AA__V_STR &&
               has_sub(&l.v, &r.v);
        return AA_OK;
    case OP_STARTS:
        *res = l.v.type == AA__V_STR && r.v.type == AA__V_STR &&
               r.v.u.s.len <= l.v.u.s.len &&
               (r.v.u.s.len == 0 ||
                memcmp(l.v.u.s.p, r.v.u.s.p, r.v.u.s.len) == 0);
        return AA_OK;
    case OP_ENDS:
        *res =
            l.v.type == AA__V_STR && r.v.type == AA__V_STR &&
            r.v.u.s.len <= l.v.u.s.len &&
            (r.v.u.s.len == 0 || memcmp(l.v.u.s.p + l.v.u.s.len - r.v.u.s.len,
                                        r.v.u.s.p, r.v.u.s.len) == 0);
        return AA_OK;
    default:
        return order(s, n, &l, &r, res);
    }
}

/* The value of node n. `dyn` and `meta` are set only for lists: nothing
 * reads them for another kind. */
static int ev(evst *s, const node *n, xval *out) {
    switch (n->kind) {
    case N_CONST:
        out->v = n->v;
        out->dyn = NULL;
        out->meta = NULL;
        return AA_OK;
    case N_FIELD: {
        const char *f = s->c->fields[n->a];
        if (f) {
            out->v.type = AA__V_STR;
            out->v.u.s.p = f;
            out->v.u.s.len = s->c->field_len[n->a];
        } else {
            out->v.type = AA__V_NULL;
        }
        return AA_OK;
    }
    case N_META:
        meta_value(s->c, n->v.u.s.p, n->v.u.s.len, out);
        return AA_OK;
    case N_NOPATH:
        out->v.type = AA__V_NULL;
        return AA_OK;
    case N_LIST:
        if (n->can_err) { /* every element is evaluated, errors surface */
            for (uint32_t i = 0; i < n->b; i++) {
                xval x;
                int rc = ev(s, kid(s, n, i), &x);
                if (rc != AA_OK) {
                    out->v.type = AA__V_NULL; /* never read garbage */
                    return rc;
                }
            }
        }
        out->v.type = AA__V_LIST;
        out->v.u.list.items = NULL;
        out->v.u.list.n = n->b;
        out->dyn = n;
        out->meta = NULL;
        return AA_OK;
    default: {
        bool b = false;
        int rc = truth(s, n, &b);
        out->v.type = AA__V_BOOL;
        out->v.u.b = b;
        return rc;
    }
    }
}

static int truth(evst *s, const node *n, bool *res) {
    int rc;
    switch (n->kind) {
    case N_CMP:
        return compare(s, n, res);
    case N_AND:
        for (uint32_t i = 0; i < n->b; i++) {
            if ((rc = truth(s, kid(s, n, i), res)) != AA_OK || !*res)
                return rc;
        }
        return AA_OK;
    case N_OR:
        for (uint32_t i = 0; i < n->b; i++) {
            if ((rc = truth(s, kid(s, n, i), res)) != AA_OK || *res)
                return rc;
        }
        return AA_OK;
    case N_NOT:
        rc = truth(s, &s->e->nodes[n->a], res);
        if (rc == AA_OK)
            *res = !*res;
        return rc;
    default: {
        xval v;
        rc = ev(s, n, &v);
        *res = rc == AA_OK && aa__value_truthy(&v.v);
        return rc;
    }
    }
}

static const aa__expr_ctx empty_ctx;

int aa__expr_eval(const aa__expr *e, const aa__expr_ctx *ctx, bool *result,
                  aa__expr_error *err) {
    if (!e || !result)
        return AA_EINVAL;
    if (e->empty) {
        *result = true;
        return AA_OK;
    }
    evst s = {e, ctx ? ctx : &empty_ctx, NULL, err};
    *result = false;
    int rc = truth(&s, &e->nodes[e->root], result);
    if (rc != AA_OK)
        *result = false;
    return rc;
}

int aa__expr_eval_node(const aa__expr *e, uint32_t n, const aa__expr_ctx *ctx,
                       bool *result) {
    if (!e || n >= e->nnodes || !result)
        return AA_EINVAL;
    evst s = {e, ctx ? ctx : &empty_ctx, NULL, NULL};
    *result = false;
    int rc = truth(&s, &e->nodes[n], result);
    if (rc != AA_OK)
        *result = false;
    return rc;
}

/* ---- explanations ------------------------------------------------------- */

static void put_span(aa__buf *out, const char *src, uint32_t start,
                     uint32_t end) {
    size_t n = end - start;
    bool cut = n > 120;
    if (cut) {
        n = 117;
        while (n > 0 && ((unsigned char)src[start + n] & 0xC0) == 0x80)
            n--;
    }
    aa__buf_putc(out, '`');
    for (size_t i = 0; i < n; i++) {
        char c = src[start + i];
        aa__buf_putc(out, (unsigned char)c < 0x20 ? ' ' : c);
    }
    if (cut)
        aa__buf_puts(out, "...");
    aa__buf_putc(out, '`');
}

static void put_value(aa__buf *out, const aa__value *v, int depth) {
    char num[32];
    switch (v->type) {
    case AA__V_NULL:
        aa__buf_puts(out, "null");
        break;
    case AA__V_BOOL:
        aa__buf_puts(out, v->u.b ? "true" : "false");
        break;
    case AA__V_NUM:
        aa__buf_append(out, num, aa__expr_format_number(v->u.n, num));
        break;
    case AA__V_STR: {
        size_t n = v->u.s.len;
        if (n <= 64) {
            aa__buf_json_string(out, v->u.s.p, n);
            break;
        }
        n = 61;
        while (n > 0 && ((unsigned char)v->u.s.p[n] & 0xC0) == 0x80)
            n--;
        aa__buf_json_string(out, v->u.s.p, n);
        out->len -= out->len ? 1 : 0; /* reopen the quote */
        aa__buf_puts(out, "...\"");
        break;
    }
    case AA__V_LIST:
        if (depth > 2) {
            aa__buf_puts(out, "[...]");
            break;
        }
        aa__buf_putc(out, '[');
        for (size_t i = 0; i < v->u.list.n; i++) {
            if (i)
                aa__buf_puts(out, ", ");
            if (i == 8) {
                aa__buf_printf(out, "... (%zu items)", v->u.list.n);
                break;
            }
            put_value(out, &v->u.list.items[i], depth + 1);
        }
        aa__buf_putc(out, ']');
        break;
    }
}

/* As put_value, for a value whose list elements are read through
 * list_item (a metadata list). */
static void put_xval(evst *s, aa__buf *out, const xval *v) {
    if (v->v.type != AA__V_LIST || (!v->meta && !v->dyn)) {
        put_value(out, &v->v, 0);
        return;
    }
    aa__buf_putc(out, '[');
    for (size_t i = 0; i < v->v.u.list.n; i++) {
        if (i)
            aa__buf_puts(out, ", ");
        if (i == 8) {
            aa__buf_printf(out, "... (%zu items)", v->v.u.list.n);
            break;
        }
        xval item;
        if (list_item(s, v, i, &item) != AA_OK)
            break;
        if (item.v.type == AA__V_LIST && (item.meta || item.dyn))
            aa__buf_puts(out, "[...]");
        else
            put_value(out, &item.v, 1);
    }
    aa__buf_putc(out, ']');
}

#define MAX_READS 8

typedef struct reads {
    const node *n[MAX_READS];
    size_t count;
    bool more;
} reads;

static bool same_span(const char *src, const node *a, const node *b) {
    return a->end - a->start == b->end - b->start &&
           memcmp(src + a->start, src + b->start, a->end - a->start) == 0;
}

/* The fields, metadata and variables read under n, in source order. */
static void collect_reads(const aa__expr *e, const node *n, reads *r) {
    switch (n->kind) {
    case N_CONST:
        if (!n->is_var)
            return;
        break;
    case N_FIELD:
    case N_META:
    case N_NOPATH:
        break;
    case N_NOT:
        collect_reads(e, &e->nodes[n->a], r);
        return;
    case N_CMP:
        collect_reads(e, &e->nodes[n->a], r);
        if (n->op != OP_MATCHES)
            collect_reads(e, &e->nodes[n->b], r);
        return;
    default:
        for (uint32_t i = 0; i < n->b; i++)
            collect_reads(e, &e->nodes[e->kids[n->a + i]], r);
        return;
    }
    for (size_t i = 0; i < r->count; i++)
        if (same_span(e->src, r->n[i], n))
            return;
    if (r->count == MAX_READS)
        r->more = true;
    else
        r->n[r->count++] = n;
}

static void put_reads(evst *s, const node *n, aa__buf *out) {
    reads r;
    r.count = 0;
    r.more = false;
    collect_reads(s->e, n, &r);
    if (r.count == 0)
        return;
    aa__buf_puts(out, " (");
    for (size_t i = 0; i < r.count; i++) {
        const node *k = r.n[i];
        if (i)
            aa__buf_puts(out, ", ");
        aa__buf_append(out, s->e->src + k->start, k->end - k->start);
        aa__buf_puts(out, " = ");
        xval v;
        ev(s, k, &v); /* reads never fail */
        put_xval(s, out, &v);
    }
    if (r.more)
        aa__buf_puts(out, ", ...");
    aa__buf_putc(out, ')');
}

int aa__expr_explain(const aa__expr *e, const aa__expr_ctx *ctx, bool *result,
                     aa__expr_error *err, aa__buf *out) {
    aa__expr_error local;
    if (!err)
        err = &local;
    int rc = aa__expr_eval(e, ctx, result, err);
    if (rc == AA_EINVAL || !out)
        return rc;
    if (e->empty) {
        aa__buf_puts(out, "empty condition: always true");
        return rc;
    }
    evst s = {e, ctx ? ctx : &empty_ctx, NULL, NULL};
    if (rc != AA_OK) {
        aa__expr_error again;
        s.err = &again;
        bool ignored = false;
        truth(&s, &e->nodes[e->root], &ignored); /* find the failing node */
        const node *n = s.errn ? s.errn : &e->nodes[e->root];
        s.err = NULL;
        put_span(out, e->src, n->start, n->end);
        aa__buf_printf(out, " could not be evaluated: %s", err->message);
        put_reads(&s, n, out);
        return rc;
    }
    /* Walk down to the operand that decided an `and` (false) or `or`
     * (true); anything else is explained as a whole. */
    const node *n = &e->nodes[e->root];
    bool val = *result;
    for (;;) {
        if (!((n->kind == N_AND && !val) || (n->kind == N_OR && val)))
            break;
        const node *decider = NULL;
        for (uint32_t i = 0; i < n->b && !decider; i++) {
            bool t;
            if (truth(&s, kid(&s, n, i), &t) != AA_OK)
                break;
            if (t == val)
                decider = kid(&s, n, i);
        }
        if (!decider)
            break;
        n = decider;
    }
    put_span(out, e->src, n->start, n->end);
    aa__buf_puts(out, val ? " is true" : " is false");
    put_reads(&s, n, out);
    return rc;
}

/* ---- caret display ------------------------------------------------------ */

void aa__expr_caret(const char *src, int column, aa__buf *out) {
    if (!src || !out)
        return;
    /* Work in characters: column c is the c-th character. */
    size_t nchars = 0;
    for (const char *q = src; *q; q++)
        nchars += ((unsigned char)*q & 0xC0) != 0x80;
    size_t col = column < 1 ? 0 : (size_t)column;
    if (col > nchars + 1)
        col = nchars + 1;
    size_t first = 0, last = nchars; /* characters shown: [first, last) */
    if (nchars > 100) {
        size_t at = col ? col - 1 : 0;
        first = at > 50 ? at - 50 : 0;
        last = first + 100 < nchars ? first + 100 : nchars;
    }
    bool pre = first > 0, post = last < nchars;
    if (pre)
        aa__buf_puts(out, "...");
    size_t ci = 0;
    for (const char *q = src; *q; q++) {
        bool lead = ((unsigned char)*q & 0xC0) != 0x80;
        if (lead && q != src)
            ci++;
        if (ci >= first && ci < last)
            aa__buf_putc(out, (unsigned char)*q < 0x20 ? ' ' : *q);
    }
    if (post)
        aa__buf_puts(out, "...");
    if (col == 0)
        return;
    aa__buf_putc(out, '\n');
    size_t pad = (pre ? 3 : 0) + (col - 1 - first);
    for (size_t i = 0; i < pad; i++)
        aa__buf_putc(out, ' ');
    aa__buf_putc(out, '^');
}
