/*
 * expr_api.c - the public face of the condition language outside a policy
 * (aa_expr_*: compile and evaluate one condition) for language bindings.
 * It only adapts types: compiling and evaluating are expr.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "util.h"

struct aa_expr {
    aa__expr *e;
    aa_expr_kind kind;
};

/* The variables as the compiler reads them. */
typedef struct vars {
    const aa_meta *meta;
    size_t n;
    aa__value *values; /* one per variable */
    bool any_null;     /* variables == NULL: every $name reads null */
} vars;

static const aa__value null_value = {.type = AA__V_NULL};

static void scalar(const aa_meta *m, aa__value *v) {
    memset(v, 0, sizeof *v);
    switch (m->type) {
    case AA_VALUE_BOOL:
        v->type = AA__V_BOOL;
        v->u.b = m->boolean != 0;
        break;
    case AA_VALUE_NUMBER:
        v->type = AA__V_NUM;
        v->u.n = m->number;
        break;
    case AA_VALUE_STRING:
        v->type = AA__V_STR;
        v->u.s.p = m->string ? m->string : "";
        v->u.s.len = strlen(v->u.s.p);
        break;
    default:
        v->type = AA__V_NULL;
        break;
    }
}

static const aa__value *lookup(void *ud, const char *name, size_t len) {
    const vars *vs = ud;
    if (vs->any_null)
        return &null_value;
    for (size_t i = 0; i < vs->n; i++) {
        const char *k = vs->meta[i].key;
        if (k && strlen(k) == len && memcmp(k, name, len) == 0)
            return &vs->values[i];
    }
    return NULL;
}

static void vars_free(vars *vs) {
    for (size_t i = 0; vs->values && i < vs->n; i++)
        if (vs->values[i].type == AA__V_LIST)
            free((void *)vs->values[i].u.list.items);
    free(vs->values);
}

int aa_expr_compile(const char *source, aa_expr_kind kind,
                    const aa_meta *variables, size_t n, aa_expr **out,
                    aa_error *err) {
    if (!out || !source)
        return aa__fail(err, AA_EINVAL, "aa_expr_compile: no source");
    *out = NULL;
    vars vs = {.meta = variables,
               .n = variables ? n : 0,
               .any_null = variables == NULL};
    if (vs.n) {
        vs.values = calloc(vs.n, sizeof *vs.values);
        if (!vs.values)
            return aa__fail(err, AA_ENOMEM, "out of memory");
        for (size_t i = 0; i < vs.n; i++) {
            const aa_meta *m = &variables[i];
            if (m->type != AA_VALUE_LIST) {
                scalar(m, &vs.values[i]);
                continue;
            }
            aa__value *items = calloc(m->count ? m->count : 1, sizeof *items);
            if (!items) {
                vars_free(&vs);
                return aa__fail(err, AA_ENOMEM, "out of memory");
            }
            for (size_t j = 0; j < m->count; j++)
                scalar(&m->items[j], &items[j]);
            vs.values[i].type = AA__V_LIST;
            vs.values[i].u.list.items = items;
            vs.values[i].u.list.n = m->count;
        }
    }
    aa_expr *x = calloc(1, sizeof *x);
    if (!x) {
        vars_free(&vs);
        return aa__fail(err, AA_ENOMEM, "out of memory");
    }
    aa__expr_error xe = {0};
    int rc = aa__expr_compile(
        source, kind == AA_EXPR_A2A ? AA__CTX_A2A : AA__CTX_APPROVAL, lookup,
        &vs, &x->e, &xe);
    vars_free(&vs);
    if (rc != AA_OK) {
        free(x);
        if (rc == AA_ENOMEM)
            return aa__fail(err, rc, "out of memory");
        return aa__error_add(err, AA_SEVERITY_ERROR, rc, NULL,
                             xe.column > 0 ? 1 : 0, xe.column, "%s",
                             xe.message);
    }
    x->kind = kind;
    *out = x;
    return AA_OK;
}

void aa_expr_free(aa_expr *e) {
    if (!e)
        return;
    aa__expr_free(e->e);
    free(e);
}

typedef struct match_ctx {
    aa_expr_matcher_fn fn;
    void *ud;
} match_ctx;

static int call_matcher(void *ud, const char *name, const char *value,
                        bool *result) {
    const match_ctx *m = ud;
    int r = 0;
    int rc = m->fn(m->ud, name, value, &r);
    *result = r != 0;
    return rc;
}

static void set_field(aa__expr_ctx *c, aa__field f, const char *s) {
    c->fields[f] = s ? s : "";
    c->field_len[f] = s ? strlen(s) : 0;
}

int aa_expr_eval(const aa_expr *e, const aa_request *req,
                 aa_expr_matcher_fn matcher, void *userdata, int *result,
                 aa_error *err) {
    if (!e || !req || !result)
        return aa__fail(err, AA_EINVAL, "aa_expr_eval: missing argument");
    aa__expr_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.meta = req->metadata;
    ctx.nmeta = req->metadata ? req->metadata_count : 0;
    match_ctx mc = {matcher, userdata};
    if (matcher) {
        ctx.matcher = call_matcher;
        ctx.matcher_ud = &mc;
    }
    set_field(&ctx, AA__F_AGENT, req->agent);
    set_field(&ctx, AA__F_USER, req->user);
    set_field(&ctx, AA__F_ACTION, req->action);
    set_field(&ctx, AA__F_RESOURCE, req->resource);
    set_field(&ctx, AA__F_SCOPE, req->scope);
    if (e->kind == AA_EXPR_A2A) {
        set_field(&ctx, AA__F_FROM_AGENT, req->agent);
        set_field(&ctx, AA__F_TO_AGENT, req->target_agent);
    }
    aa__expr_error xe = {0};
    bool r = false;
    int rc = aa__expr_eval(e->e, &ctx, &r, &xe);
    if (rc != AA_OK) {
        *result = 0;
        return aa__error_add(err, AA_SEVERITY_ERROR, rc, NULL,
                             xe.column > 0 ? 1 : 0, xe.column, "%s",
                             xe.message);
    }
    *result = r;
    return AA_OK;
}
