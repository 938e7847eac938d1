/* yaml_doc.c - a positioned YAML tree built from libyaml events. */
#include "yaml_doc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* A collection being built: its children are gathered here (for a mapping:
 * key, value, key, value...) and copied into the arena when it ends. */
typedef struct yframe {
    aa__ynode *node;
    const aa__ynode **kids;
    size_t n, cap;
    const char *anchor; /* arena copy, or NULL */
} yframe;

/* A growable list of pairs with a duplicate check. */
typedef struct pairvec {
    aa__ypair *p;
    size_t n, cap;
    aa__map seen; /* key text -> pair index + 1, used when n is large */
} pairvec;

#define NODE_CHUNK 256 /* nodes allocated together */

typedef struct ybuild {
    aa__ydoc *doc;
    const char *file;
    aa_error *err;
    const char *data;
    size_t len;
    yframe *stack;
    size_t depth; /* frames in use */
    size_t nodes; /* nodes created plus nodes reached through aliases */
    aa__map anchors;
    aa__ynode *pool; /* unused nodes of the last chunk */
    size_t npool;
    pairvec pairs; /* finish_map's work list, reused by every mapping */
} ybuild;

#define SAT_ADD(a, b) ((a) > SIZE_MAX - (b) ? SIZE_MAX : (a) + (b))
static uint32_t sat_add32(uint32_t a, uint32_t b) {
    return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

static int yerr(ybuild *B, int status, int line, int col, const char *fmt, ...)
    AA__PRINTF(5, 6);
static bool may_resolve(char c);

static int yerr(ybuild *B, int status, int line, int col, const char *fmt,
                ...) {
    va_list ap;
    va_start(ap, fmt);
    aa__error_vadd(B->err, AA_SEVERITY_ERROR, status, B->file, line, col, fmt,
                   ap);
    va_end(ap);
    return status;
}

/* Line and column (1-based, counting characters) of a byte offset. */
static void offset_pos(const char *data, size_t len, size_t off, int *line,
                       int *col) {
    int l = 1, c = 1;
    if (off > len)
        off = len;
    for (size_t i = 0; i < off; i++) {
        unsigned char ch = (unsigned char)data[i];
        if (ch == '\n') {
            l++;
            c = 1;
        } else if ((ch & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

static int syntax_error(ybuild *B, const yaml_parser_t *p) {
    const char *problem = p->problem ? p->problem : "unknown error";
    int line, col;
    switch (p->error) {
    case YAML_MEMORY_ERROR:
        return yerr(B, AA_ENOMEM, 0, 0, "out of memory while parsing YAML");
    case YAML_READER_ERROR:
        offset_pos(B->data, B->len, p->problem_offset, &line, &col);
        if (p->problem_value >= 0)
            return yerr(B, AA_EPARSE, line, col, "YAML: %s (byte 0x%02X)",
                        problem, (unsigned)p->problem_value & 0xFF);
        return yerr(B, AA_EPARSE, line, col, "YAML: %s", problem);
    default:
        line = (int)p->problem_mark.line + 1;
        col = (int)p->problem_mark.column + 1;
        if (p->context && (p->context_mark.line != p->problem_mark.line ||
                           p->context_mark.column != p->problem_mark.column))
            return yerr(B, AA_EPARSE, line, col,
                        "YAML syntax error: %s (%s at line %d, column %d)",
                        problem, p->context, (int)p->context_mark.line + 1,
                        (int)p->context_mark.column + 1);
        return yerr(B, AA_EPARSE, line, col, "YAML syntax error: %s", problem);
    }
}

static bool tag_is(const char *tag, const char *name) {
    static const char prefix[] = "tag:yaml.org,2002:";
    return strncmp(tag, prefix, sizeof prefix - 1) == 0 &&
           strcmp(tag + sizeof prefix - 1, name) == 0;
}

/* Maps an explicit scalar tag; false for a tag we do not support. */
static bool scalar_tag(const char *tag, aa__ytag *out) {
    *out = AA__YT_NONE;
    if (!tag)
        return true;
    if (strcmp(tag, "!") == 0 || tag_is(tag, "str"))
        *out = AA__YT_STR;
    else if (tag_is(tag, "int"))
        *out = AA__YT_INT;
    else if (tag_is(tag, "float"))
        *out = AA__YT_FLOAT;
    else if (tag_is(tag, "bool"))
        *out = AA__YT_BOOL;
    else if (tag_is(tag, "null"))
        *out = AA__YT_NULL;
    else
        return false;
    return true;
}

static const char *shown_tag(const char *tag) {
    static const char prefix[] = "tag:yaml.org,2002:";
    if (strncmp(tag, prefix, sizeof prefix - 1) == 0)
        return tag + sizeof prefix - 1;
    return tag;
}

/* Nodes come in chunks: one arena allocation (zeroed) per NODE_CHUNK, and
 * no padding to the arena's 16-byte alignment between them. */
static aa__ynode *new_node(ybuild *B, aa__ykind kind, const yaml_mark_t *m) {
    if (B->npool == 0) {
        B->pool = aa__arena_alloc(&B->doc->arena, NODE_CHUNK * sizeof *B->pool);
        if (!B->pool)
            return NULL;
        B->npool = NODE_CHUNK;
    }
    aa__ynode *n = B->pool++;
    B->npool--;
    n->kind = (unsigned char)kind;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    n->weight = 1;
    return n;
}

/* Counts nodes (with alias expansion) against the limit. */
static int count_nodes(ybuild *B, size_t k, const yaml_mark_t *m, bool alias) {
    B->nodes = SAT_ADD(B->nodes, k);
    if (B->nodes <= AA__YAML_MAX_NODES)
        return AA_OK;
    if (alias)
        return yerr(B, AA_ELIMIT, (int)m->line + 1, (int)m->column + 1,
                    "YAML aliases expand to more than %d nodes; refusing "
                    "the document (a 'billion laughs' attack?)",
                    AA__YAML_MAX_NODES);
    return yerr(B, AA_ELIMIT, (int)m->line + 1, (int)m->column + 1,
                "YAML document has more than %d nodes", AA__YAML_MAX_NODES);
}

/* Hands a finished node to the open collection (or makes it the root). */
static int attach(ybuild *B, const aa__ynode *n) {
    if (B->depth == 0) {
        if (!B->doc->root)
            B->doc->root = n;
        return AA_OK;
    }
    yframe *f = &B->stack[B->depth - 1];
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        const aa__ynode **k = realloc(f->kids, cap * sizeof *k);
        if (!k)
            return yerr(B, AA_ENOMEM, 0, 0, "out of memory");
        f->kids = k;
        f->cap = cap;
    }
    f->kids[f->n++] = n;
    f->node->weight = sat_add32(f->node->weight, n->weight);
    return AA_OK;
}

static int remember_anchor(ybuild *B, const char *anchor, const aa__ynode *n) {
    if (!anchor)
        return AA_OK;
    if (!aa__map_put(&B->anchors, anchor, strlen(anchor), (void *)n))
        return yerr(B, AA_ENOMEM, 0, 0, "out of memory");
    return AA_OK;
}

static const char *copy_anchor(ybuild *B, const yaml_char_t *anchor) {
    return anchor ? aa__arena_strdup(&B->doc->arena, (const char *)anchor)
                  : NULL;
}

static bool is_merge_key(const aa__ynode *k) {
    return k->kind == AA__Y_SCALAR && k->style == AA__YS_PLAIN && k->len == 2 &&
           memcmp(k->text, "<<", 2) == 0;
}

static const aa__ypair *pairvec_find(pairvec *v, const aa__ynode *key) {
    if (v->seen.count) {
        void *x = aa__map_get(&v->seen, key->text, key->len);
        return x ? &v->p[(size_t)(uintptr_t)x - 1] : NULL;
    }
    for (size_t i = 0; i < v->n; i++) {
        const aa__ynode *k = v->p[i].key;
        if (k->len == key->len && memcmp(k->text, key->text, k->len) == 0)
            return &v->p[i];
    }
    return NULL;
}

static bool pairvec_add(pairvec *v, const aa__ynode *k, const aa__ynode *val) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        aa__ypair *p = realloc(v->p, cap * sizeof *p);
        if (!p)
            return false;
        v->p = p;
        v->cap = cap;
    }
    v->p[v->n++] = (aa__ypair){k, val};
    if (v->n == 16) { /* switch to hashing */
        for (size_t i = 0; i < v->n; i++)
            if (!aa__map_put(&v->seen, v->p[i].key->text, v->p[i].key->len,
                             (void *)(uintptr_t)(i + 1)))
                return false;
    } else if (v->n > 16) {
        if (!aa__map_put(&v->seen, k->text, k->len, (void *)(uintptr_t)v->n))
            return false;
    }
    return true;
}

/* Empties v for the next mapping; keeps the array. */
static void pairvec_reset(pairvec *v) {
    v->n = 0;
    aa__map_free(&v->seen);
}

static void pairvec_free(pairvec *v) {
    free(v->p);
    aa__map_free(&v->seen);
}

/* Adds the pairs of a `<<` source that the mapping does not define. */
static int merge_from(ybuild *B, pairvec *v, const aa__ynode *src,
                      const aa__ynode *at) {
    if (src->kind != AA__Y_MAP) {
        B->doc->nerrors++;
        yerr(B, AA_EPOLICY, at->line, at->col,
             "merge key '<<' needs a mapping or a list of mappings");
        return AA_OK;
    }
    for (size_t i = 0; i < src->n; i++) {
        if (pairvec_find(v, src->u.pairs[i].key))
            continue;
        if (!pairvec_add(v, src->u.pairs[i].key, src->u.pairs[i].value))
            return yerr(B, AA_ENOMEM, 0, 0, "out of memory");
    }
    return AA_OK;
}

static int finish_map(ybuild *B, yframe *f) {
    aa__ynode *m = f->node;
    pairvec *v = &B->pairs; /* maps are finished one at a time */
    const aa__ynode *merges[8];
    size_t nmerges = 0;
    int rc = AA_OK;
    if (f->n / 2 > 16 && !aa__map_reserve(&v->seen, f->n / 2)) /* no rehash */
        rc = yerr(B, AA_ENOMEM, 0, 0, "out of memory");
    for (size_t i = 0; i + 1 < f->n && rc == AA_OK; i += 2) {
        const aa__ynode *k = f->kids[i], *val = f->kids[i + 1];
        if (k->kind != AA__Y_SCALAR) {
            B->doc->nerrors++;
            yerr(B, AA_EPOLICY, k->line, k->col,
                 "a mapping key must be a plain string, not a %s",
                 k->kind == AA__Y_SEQ ? "list" : "mapping");
            continue;
        }
        if (is_merge_key(k) && nmerges < AA__ARRAY_LEN(merges)) {
            merges[nmerges++] = val;
            continue;
        }
        const aa__ypair *prev = pairvec_find(v, k);
        if (prev) {
            B->doc->nerrors++;
            yerr(B, AA_EPOLICY, k->line, k->col,
                 "duplicate key '%s' (first at line %d)", k->text,
                 prev->key->line);
            continue;
        }
        if (!pairvec_add(v, k, val))
            rc = yerr(B, AA_ENOMEM, 0, 0, "out of memory");
    }
    for (size_t i = 0; i < nmerges && rc == AA_OK; i++) {
        const aa__ynode *src = merges[i];
        if (src->kind == AA__Y_SEQ) {
            for (size_t j = 0; j < src->n && rc == AA_OK; j++)
                rc = merge_from(B, v, src->u.items[j], src);
        } else {
            rc = merge_from(B, v, src, src);
        }
    }
    if (rc == AA_OK && v->n) {
        aa__ypair *pairs =
            aa__arena_alloc(&B->doc->arena, v->n * sizeof *pairs);
        if (!pairs) {
            rc = yerr(B, AA_ENOMEM, 0, 0, "out of memory");
        } else {
            memcpy(pairs, v->p, v->n * sizeof *pairs);
            m->u.pairs = pairs;
            m->n = (uint32_t)v->n;
        }
    }
    pairvec_reset(v);
    return rc;
}

static int finish_seq(ybuild *B, yframe *f) {
    aa__ynode *s = f->node;
    if (f->n == 0)
        return AA_OK;
    const aa__ynode **items =
        aa__arena_alloc(&B->doc->arena, f->n * sizeof *items);
    if (!items)
        return yerr(B, AA_ENOMEM, 0, 0, "out of memory");
    memcpy(items, f->kids, f->n * sizeof *items);
    s->u.items = items;
    s->n = (uint32_t)f->n;
    return AA_OK;
}

static int open_collection(ybuild *B, aa__ykind kind, const yaml_event_t *ev,
                           const yaml_char_t *anchor, const yaml_char_t *tag) {
    const yaml_mark_t *m = &ev->start_mark;
    if (tag) {
        const char *want = kind == AA__Y_MAP ? "map" : "seq";
        if (!tag_is((const char *)tag, want) &&
            strcmp((const char *)tag, "!") != 0) {
            B->doc->nerrors++;
            yerr(B, AA_EPOLICY, (int)m->line + 1, (int)m->column + 1,
                 "unsupported YAML tag '%s'", shown_tag((const char *)tag));
        }
    }
    if (B->depth >= AA__YAML_MAX_DEPTH)
        return yerr(B, AA_ELIMIT, (int)m->line + 1, (int)m->column + 1,
                    "YAML nesting is deeper than %d levels",
                    AA__YAML_MAX_DEPTH);
    int rc = count_nodes(B, 1, m, false);
    if (rc)
        return rc;
    aa__ynode *n = new_node(B, kind, m);
    if (!n)
        return yerr(B, AA_ENOMEM, 0, 0, "out of memory");
    yframe *f = &B->stack[B->depth++];
    f->node = n;
    f->n = 0;
    f->anchor = copy_anchor(B, anchor);
    if (anchor && !f->anchor)
        return yerr(B, AA_ENOMEM, 0, 0, "out of memory");
    return AA_OK;
}

static int close_collection(ybuild *B) {
    yframe *f = &B->stack[--B->depth];
    int rc = f->node->kind == AA__Y_MAP ? finish_map(B, f) : finish_seq(B, f);
    if (rc == AA_OK)
        rc = remember_anchor(B, f->anchor, f->node);
    if (rc == AA_OK)
        rc = attach(B, f->node);
    return rc;
}

static int on_scalar(ybuild *B, const yaml_event_t *ev) {
    const yaml_mark_t *m = &ev->start_mark;
    int rc = count_nodes(B, 1, m, false);
    if (rc)
        return rc;
    aa__ynode *n = new_node(B, AA__Y_SCALAR, m);
    if (!n)
        return yerr(B, AA_ENOMEM, 0, 0, "out of memory");
    const char *value = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (len > UINT32_MAX)
        return yerr(B, AA_ELIMIT, n->line, n->col,
                    "a YAML scalar is longer than %u bytes", UINT32_MAX);
    n->text = aa__arena_strndup(&B->doc->strings, value, len);
    if (!n->text)
        return yerr(B, AA_ENOMEM, 0, 0, "out of memory");
    n->len = (uint32_t)len;
    switch (ev->data.scalar.style) {
    case YAML_SINGLE_QUOTED_SCALAR_STYLE:
        n->style = AA__YS_SQUOTED;
        break;
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
        n->style = AA__YS_DQUOTED;
        break;
    case YAML_LITERAL_SCALAR_STYLE:
        n->style = AA__YS_LITERAL;
        break;
    case YAML_FOLDED_SCALAR_STYLE:
        n->style = AA__YS_FOLDED;
        break;
    default:
        n->style = AA__YS_PLAIN;
        break;
    }
    const char *tag = (const char *)ev->data.scalar.tag;
    aa__ytag t;
    bool known = scalar_tag(tag, &t);
    n->tag = (unsigned char)t;
    /* A letter starts only the words of null_words and the boolean lists,
     * none longer than 5 bytes ("false"): `tool-1:*` is a string. */
    char c = n->text[0];
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    n->str = t == AA__YT_NONE && (n->style != AA__YS_PLAIN || !may_resolve(c) ||
                                  (letter && len > 5));
    if (!known) {
        B->doc->nerrors++;
        yerr(B, AA_EPOLICY, n->line, n->col, "unsupported YAML tag '%s'",
             shown_tag(tag));
    }
    if (memchr(value, 0, len)) {
        B->doc->nerrors++;
        yerr(B, AA_EPOLICY, n->line, n->col,
             "a string contains a NUL character");
    }
    const char *anchor = copy_anchor(B, ev->data.scalar.anchor);
    if (ev->data.scalar.anchor && !anchor)
        return yerr(B, AA_ENOMEM, 0, 0, "out of memory");
    rc = remember_anchor(B, anchor, n);
    return rc ? rc : attach(B, n);
}

static int on_alias(ybuild *B, const yaml_event_t *ev) {
    const yaml_mark_t *m = &ev->start_mark;
    const char *name = (const char *)ev->data.alias.anchor;
    const aa__ynode *target = aa__map_get(&B->anchors, name, strlen(name));
    if (!target) /* also an alias inside its own anchor: no cycles */
        return yerr(B, AA_EPARSE, (int)m->line + 1, (int)m->column + 1,
                    "YAML alias '*%s' names no anchor defined before it", name);
    int rc = count_nodes(B, target->weight, m, true);
    B->doc->naliases++;
    return rc ? rc : attach(B, target);
}

static int build(ybuild *B, yaml_parser_t *p) {
    int docs = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(p, &ev))
            return syntax_error(B, p);
        int rc = AA_OK;
        bool done = false;
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1)
                rc = yerr(B, AA_EPARSE, (int)ev.start_mark.line + 1,
                          (int)ev.start_mark.column + 1,
                          "a policy file holds one YAML document; a second "
                          "one starts here");
            break;
        case YAML_SCALAR_EVENT:
            rc = on_scalar(B, &ev);
            break;
        case YAML_ALIAS_EVENT:
            rc = on_alias(B, &ev);
            break;
        case YAML_SEQUENCE_START_EVENT:
            rc = open_collection(B, AA__Y_SEQ, &ev,
                                 ev.data.sequence_start.anchor,
                                 ev.data.sequence_start.tag);
            break;
        case YAML_MAPPING_START_EVENT:
            rc =
                open_collection(B, AA__Y_MAP, &ev, ev.data.mapping_start.anchor,
                                ev.data.mapping_start.tag);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            rc = B->depth ? close_collection(B) : AA_EPARSE;
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
        if (rc || done)
            return rc;
    }
}

int aa__ydoc_parse(aa__ydoc *doc, const char *data, size_t len,
                   const char *file, aa_error *err) {
    memset(doc, 0, sizeof *doc);
    aa__arena_init(&doc->arena);
    aa__arena_init(&doc->strings);
    ybuild B = {.doc = doc, .file = file, .err = err, .data = data, .len = len};
    B.stack = calloc(AA__YAML_MAX_DEPTH, sizeof *B.stack);
    if (!B.stack)
        return yerr(&B, AA_ENOMEM, 0, 0, "out of memory");
    aa__map_init(&B.anchors);
    aa__map_init(&B.pairs.seen);
    yaml_parser_t p;
    int rc;
    if (!yaml_parser_initialize(&p)) {
        rc = yerr(&B, AA_ENOMEM, 0, 0, "out of memory");
    } else {
        yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
        yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
        rc = build(&B, &p);
        yaml_parser_delete(&p);
    }
    for (size_t i = 0; i < AA__YAML_MAX_DEPTH; i++)
        free(B.stack[i].kids);
    free(B.stack);
    aa__map_free(&B.anchors);
    pairvec_free(&B.pairs);
    if (rc)
        doc->root = NULL;
    return rc;
}

void aa__ydoc_free(aa__ydoc *doc) {
    aa__arena_free(&doc->arena);
    aa__arena_free(&doc->strings);
    doc->root = NULL;
}

const aa__ypair *aa__ymap_find(const aa__ynode *map, const char *key) {
    if (!map || map->kind != AA__Y_MAP)
        return NULL;
    size_t len = strlen(key);
    for (size_t i = 0; i < map->n; i++) {
        const aa__ynode *k = map->u.pairs[i].key;
        if (k->len == len && memcmp(k->text, key, len) == 0)
            return &map->u.pairs[i];
    }
    return NULL;
}

/* ---- scalar resolution (YAML 1.1 as PyYAML's safe loader) --------------- */

static bool one_of(const char *s, const char *const *list) {
    for (; *list; list++) /* most scalars differ in the first byte */
        if (s[0] == (*list)[0] && strcmp(s, *list) == 0)
            return true;
    return false;
}

static const char *const null_words[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const true_words[] = {"true", "True", "TRUE", "yes", "Yes",
                                         "YES",  "on",   "On",   "ON",  NULL};
static const char *const false_words[] = {
    "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", NULL};

/* ---- YAML 1.1 numbers, exactly as PyYAML's implicit resolvers and
 * constructors read them:
 *   int:   [-+]?0b[0-1_]+ | [-+]?0[0-7_]+ | [-+]?(0|[1-9][0-9_]*)
 *          | [-+]?0x[0-9a-fA-F_]+ | [-+]?[1-9][0-9_]*(:[0-5]?[0-9])+
 *   float: [-+]?[0-9][0-9_]*\.[0-9_]*([eE][-+][0-9]+)?
 *          | \.[0-9][0-9_]*([eE][-+][0-9]+)?
 *          | [-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*
 *          | [-+]?\.(inf|Inf|INF) | \.(nan|NaN|NAN)
 * so `010` is 8, `0o10`, `09`, `1e3`, `1.0e3` and `-.5` are strings, and
 * `1:30` is 90. Values out of int64 range set `overflow`. */

static bool is_digit(int c) {
    return c >= '0' && c <= '9';
}

/* Accumulates digits of `base` (and '_') from s[0..n); false when a
 * character is not one. *any tells whether a digit was seen. */
static bool accumulate(const char *s, size_t n, int base, uint64_t *v,
                       bool *ovf, bool *any) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '_')
            continue;
        int d = aa__hex_digit((unsigned char)s[i]);
        if (d < 0 || d >= base)
            return false;
        *any = true;
        if (__builtin_mul_overflow(*v, (uint64_t)base, v) ||
            __builtin_add_overflow(*v, (uint64_t)d, v))
            *ovf = true;
    }
    return true;
}

/* `[0-5]?[0-9]` parts after the first, each preceded by ':'; adds them in
 * base 60 to *v. Stops at `stop` (the end, or a '.'). */
static bool sexagesimal_tail(const char *s, const char *stop, uint64_t *v,
                             bool *ovf) {
    if (s == stop || *s != ':')
        return false;
    while (s < stop) {
        if (*s++ != ':')
            return false;
        size_t k = 0;
        while (s + k < stop && is_digit(s[k]))
            k++;
        if (k == 0 || k > 2 || (k == 2 && s[0] > '5'))
            return false;
        int part = k == 2 ? (s[0] - '0') * 10 + s[1] - '0' : s[0] - '0';
        if (__builtin_mul_overflow(*v, (uint64_t)60, v) ||
            __builtin_add_overflow(*v, (uint64_t)part, v))
            *ovf = true;
        s += k;
    }
    return true;
}

static void set_int(aa__yscalar *out, bool neg, uint64_t v, bool ovf) {
    out->type = AA__YV_INT;
    if (ovf || v > (uint64_t)INT64_MAX + neg) {
        out->overflow = true;
        out->d = neg ? -HUGE_VAL : HUGE_VAL;
        return;
    }
    out->i = neg ? (int64_t)(0 - v) : (int64_t)v;
    out->d = (double)out->i;
}

static bool int11(const char *s, aa__yscalar *out) {
    bool neg = false, ovf = false, any = false;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    size_t n = strlen(s);
    uint64_t v = 0;
    if (n == 0)
        return false;
    if (s[0] == '0' && (s[1] == 'b' || s[1] == 'x') && n > 2) {
        int base = s[1] == 'b' ? 2 : 16;
        if (!accumulate(s + 2, n - 2, base, &v, &ovf, &any))
            return false;
        if (!any) { /* `0b_`: PyYAML matches it, then cannot read it */
            out->type = AA__YV_BAD;
            return true;
        }
    } else if (s[0] == '0') {
        if (!accumulate(s + 1, n - 1, 8, &v, &ovf, &any))
            return false;
    } else if (s[0] >= '1' && s[0] <= '9') {
        const char *colon = strchr(s, ':');
        size_t head = colon ? (size_t)(colon - s) : n;
        if (!accumulate(s, head, 10, &v, &ovf, &any))
            return false;
        if (colon && !sexagesimal_tail(colon, s + n, &v, &ovf))
            return false;
    } else {
        return false;
    }
    set_int(out, neg, v, ovf);
    return true;
}

static bool one_word(const char *s, const char *a, const char *b,
                     const char *c) {
    return strcmp(s, a) == 0 || strcmp(s, b) == 0 || strcmp(s, c) == 0;
}

/* False when no implicit resolver can match a plain scalar starting with
 * c (as PyYAML's resolvers are keyed by the first character): most
 * scalars of a policy are names and patterns, read as strings at once. */
static bool may_resolve(char c) {
    return c == 0 || strchr("yYnNtTfFoO~-+.0123456789", c) != NULL;
}

/* `[eE][-+][0-9]+` at s, to its end (PyYAML needs the sign). */
static bool exponent11(const char *s) {
    if (*s == 0)
        return true;
    if ((*s != 'e' && *s != 'E') || (s[1] != '-' && s[1] != '+') ||
        !is_digit(s[2]))
        return false;
    for (s += 2; *s; s++)
        if (!is_digit(*s))
            return false;
    return true;
}

static bool float11(const char *s, aa__yscalar *out) {
    const char *p = s;
    bool neg = false;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    if (one_word(p, ".inf", ".Inf", ".INF")) {
        out->type = AA__YV_FLOAT;
        out->d = neg ? -HUGE_VAL : HUGE_VAL;
        return true;
    }
    if (p == s && one_word(p, ".nan", ".NaN", ".NAN")) {
        out->type = AA__YV_FLOAT;
        out->d = NAN;
        return true;
    }
    const char *dot = strchr(p, '.');
    if (!dot)
        return false;
    if (p == dot) { /* \.[0-9][0-9_]*(exp)?, without a sign */
        if (p != s || !is_digit(dot[1]))
            return false;
    } else if (!is_digit(*p)) {
        return false;
    }
    const char *colon = strchr(p, ':');
    if (colon && colon < dot) { /* sexagesimal with a fraction */
        uint64_t v = 0;
        bool ovf = false, any = false;
        if (!accumulate(p, (size_t)(colon - p), 10, &v, &ovf, &any) ||
            !sexagesimal_tail(colon, dot, &v, &ovf))
            return false;
        for (const char *f = dot + 1; *f; f++)
            if (!is_digit(*f) && *f != '_')
                return false;
        char frac[64] = "0";
        size_t k = 1;
        for (const char *f = dot; *f && k + 1 < sizeof frac; f++)
            if (*f != '_')
                frac[k++] = *f;
        frac[k] = 0;
        out->type = AA__YV_FLOAT;
        out->d = ((double)v + strtod(frac, NULL)) * (neg ? -1 : 1);
        return true;
    }
    for (const char *q = p; q < dot; q++)
        if (!is_digit(*q) && *q != '_')
            return false;
    const char *e = dot + 1;
    while (is_digit(*e) || *e == '_')
        e++;
    if (!exponent11(e))
        return false;
    /* The text without '_', for strtod. */
    size_t n = strlen(s);
    char small[128], *buf = n < sizeof small ? small : malloc(n + 1);
    if (!buf)
        return false;
    size_t k = 0;
    for (const char *q = s; *q; q++)
        if (*q != '_')
            buf[k++] = *q;
    buf[k] = 0;
    out->type = AA__YV_FLOAT;
    out->d = strtod(buf, NULL);
    if (buf != small)
        free(buf);
    return true;
}

void aa__yscalar_resolve(const aa__ynode *n, aa__yscalar *out) {
    *out = (aa__yscalar){.type = AA__YV_STR};
    if (n->kind != AA__Y_SCALAR || n->str)
        return;
    aa__ytag tag = n->tag;
    if (tag == AA__YT_STR || (tag == AA__YT_NONE && n->style != AA__YS_PLAIN))
        return;
    const char *s = n->text;
    if (tag == AA__YT_NONE && !may_resolve(s[0]))
        return;
    if ((tag == AA__YT_NONE || tag == AA__YT_NULL) && one_of(s, null_words)) {
        out->type = AA__YV_NULL;
        return;
    }
    if (tag == AA__YT_NONE || tag == AA__YT_BOOL) {
        if (one_of(s, true_words) || one_of(s, false_words)) {
            out->type = AA__YV_BOOL;
            out->b = one_of(s, true_words);
            return;
        }
    }
    if ((tag == AA__YT_NONE || tag == AA__YT_INT || tag == AA__YT_FLOAT) &&
        int11(s, out)) {
        if (out->type == AA__YV_BAD)
            return;
        if (tag == AA__YT_FLOAT) {
            out->type = AA__YV_FLOAT;
            out->overflow = false;
        }
        return;
    }
    if ((tag == AA__YT_NONE || tag == AA__YT_FLOAT) && float11(s, out))
        return;
    if (tag == AA__YT_FLOAT && *s) { /* PyYAML: float() of the text */
        char *end;
        double d = strtod(s, &end);
        if (!*end && !memchr(s, 'x', strlen(s)) && !memchr(s, 'X', strlen(s))) {
            memset(out, 0, sizeof *out);
            out->type = AA__YV_FLOAT;
            out->d = d;
            return;
        }
    }
    memset(out, 0, sizeof *out);
    out->type = tag == AA__YT_NONE ? AA__YV_STR : AA__YV_BAD;
}

/* ---- YAML 1.2 core schema, to find scalars read differently there ------ */

static bool all_digits(const char *s, const char *end, int base) {
    if (s == end)
        return false;
    for (; s < end; s++) {
        int d = aa__hex_digit((unsigned char)*s);
        if (d < 0 || d >= base)
            return false;
    }
    return true;
}

/* The core schema's meaning of a plain scalar. */
static void resolve12(const char *s, aa__yscalar *out) {
    memset(out, 0, sizeof *out);
    if (!may_resolve(s[0])) {
        out->type = AA__YV_STR;
        return;
    }
    size_t n = strlen(s);
    const char *end = s + n;
    if (one_of(s, null_words)) {
        out->type = AA__YV_NULL;
        return;
    }
    if (one_word(s, "true", "True", "TRUE") ||
        one_word(s, "false", "False", "FALSE")) {
        out->type = AA__YV_BOOL;
        out->b = s[0] == 't' || s[0] == 'T';
        return;
    }
    int base = 0;
    const char *digits = s;
    bool neg = false;
    if (s[0] == '0' && s[1] == 'o' && all_digits(s + 2, end, 8))
        base = 8, digits = s + 2;
    else if (s[0] == '0' && s[1] == 'x' && all_digits(s + 2, end, 16))
        base = 16, digits = s + 2;
    else if (all_digits(s + (*s == '-' || *s == '+'), end, 10))
        base = 10, neg = *s == '-', digits = s + (*s == '-' || *s == '+');
    if (base) {
        uint64_t v = 0;
        bool ovf = false, any = false;
        accumulate(digits, (size_t)(end - digits), base, &v, &ovf, &any);
        set_int(out, neg, v, ovf);
        return;
    }
    const char *p = s + (*s == '-' || *s == '+');
    if (one_word(p, ".inf", ".Inf", ".INF")) {
        out->type = AA__YV_FLOAT;
        out->d = *s == '-' ? -HUGE_VAL : HUGE_VAL;
        return;
    }
    if (one_word(s, ".nan", ".NaN", ".NAN")) {
        out->type = AA__YV_FLOAT;
        out->d = NAN;
        return;
    }
    /* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
    const char *q = p;
    size_t lead = 0, frac = 0;
    while (is_digit(*q))
        q++, lead++;
    if (*q == '.') {
        q++;
        while (is_digit(*q))
            q++, frac++;
        if (lead == 0 && frac == 0)
            goto str;
    } else if (lead == 0) {
        goto str;
    }
    if (*q == 'e' || *q == 'E') {
        q++;
        if (*q == '-' || *q == '+')
            q++;
        if (!is_digit(*q))
            goto str;
        while (is_digit(*q))
            q++;
    }
    if (*q)
        goto str;
    out->type = AA__YV_FLOAT;
    out->d = strtod(s, NULL);
    return;
str:
    out->type = AA__YV_STR;
}

static bool same_meaning(const aa__yscalar *a, const aa__yscalar *b) {
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case AA__YV_BOOL:
        return a->b == b->b;
    case AA__YV_INT:
        return a->overflow == b->overflow && (a->overflow || a->i == b->i);
    case AA__YV_FLOAT:
        return (isnan(a->d) && isnan(b->d)) || a->d == b->d;
    default:
        return true;
    }
}

bool aa__yscalar_differs_12(const aa__ynode *n, aa__yscalar *v11,
                            aa__yscalar *v12) {
    if (n->kind != AA__Y_SCALAR || n->style != AA__YS_PLAIN ||
        n->tag != AA__YT_NONE)
        return false;
    if (n->str) { /* a string under both: most scalars */
        *v11 = (aa__yscalar){.type = AA__YV_STR};
        *v12 = *v11;
        return false;
    }
    aa__yscalar_resolve(n, v11);
    resolve12(n->text, v12);
    return !same_meaning(v11, v12);
}

void aa__yscalar_describe(const aa__ynode *n, const aa__yscalar *v, char *buf,
                          size_t size) {
    switch (v->type) {
    case AA__YV_NULL:
        snprintf(buf, size, "null");
        break;
    case AA__YV_BOOL:
        snprintf(buf, size, "the boolean %s", v->b ? "true" : "false");
        break;
    case AA__YV_INT:
        if (v->overflow)
            snprintf(buf, size, "a number out of range");
        else
            snprintf(buf, size, "the number %lld", (long long)v->i);
        break;
    case AA__YV_FLOAT:
        snprintf(buf, size, "the number %g", v->d);
        break;
    case AA__YV_BAD:
        snprintf(buf, size, "an unreadable number");
        break;
    default:
        snprintf(buf, size, "the string \"%.40s%s\"", n->text,
                 n->len > 40 ? "..." : "");
        break;
    }
}
