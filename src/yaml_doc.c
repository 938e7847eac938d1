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
    struct yintern *intern; /* short texts already stored, or NULL */
} ybuild;

/* Short scalars are stored once: a policy repeats its mapping keys
 * (`description`, `role`, `allow`... in each of 10,000 profiles) and many
 * values (role names, patterns). A direct-mapped table of the last text
 * seen for each hash slot finds most repeats; a text it misses is stored
 * again, which is only memory. Nodes never write their text, so sharing
 * it is safe. Only for inputs big enough to repay the table. */
#define INTERN_MAX_LEN   24
#define INTERN_SLOTS     4096
#define INTERN_MIN_INPUT 16384
typedef struct yintern {
    const char *text;
    uint32_t len;
} yintern;

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

/* A hash of a text of up to 24 bytes from a few words of it: cheaper than
 * aa__hash, and a collision only costs a copy. */
static size_t short_hash(const char *s, size_t len) {
    uint64_t a = 0, b = 0, c = 0;
    if (len >= 8) {
        memcpy(&a, s, 8);
        memcpy(&b, s + len - 8, 8);
        if (len > 16)
            memcpy(&c, s + 8, 8);
    } else if (len >= 4) {
        uint32_t x, y;
        memcpy(&x, s, 4);
        memcpy(&y, s + len - 4, 4);
        a = x;
        b = y;
    } else if (len > 0) {
        a = (uint64_t)(unsigned char)s[0] |
            (uint64_t)(unsigned char)s[len / 2] << 8 |
            (uint64_t)(unsigned char)s[len - 1] << 16;
    }
    uint64_t h =
        (a ^ (b * 0x9E3779B97F4A7C15ull) ^ (c * 0xC2B2AE3D27D4EB4Full) ^ len) *
        0xFF51AFD7ED558CCDull;
    return (size_t)(h >> 32);
}

/* The text of a scalar: an earlier copy of the same short text, or a new
 * one. */
static const char *store_text(ybuild *B, const char *value, size_t len) {
    if (len > INTERN_MAX_LEN || B->len < INTERN_MIN_INPUT)
        return aa__arena_strndup(&B->doc->strings, value, len);
    if (!B->intern && !(B->intern = calloc(INTERN_SLOTS, sizeof *B->intern)))
        return aa__arena_strndup(&B->doc->strings, value, len);
    yintern *slot = &B->intern[short_hash(value, len) & (INTERN_SLOTS - 1)];
    if (slot->text && slot->len == len && memcmp(slot->text, value, len) == 0)
        return slot->text;
    const char *t = aa__arena_strndup(&B->doc->strings, value, len);
    if (t)
        *slot = (yintern){t, (uint32_t)len};
    return t;
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
    n->text = store_text(B, value, len);
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

/* ---- the fast reader ----------------------------------------------------
 *
 * libyaml spends most of a large policy's load in its scanner and in its
 * mallocs (one or more per token and event). Policy files use a small
 * part of YAML, so they are first read here: block mappings and sequences
 * by indentation, scalars on one line (plain, single- and double-quoted),
 * flow sequences and mappings of such scalars on one line, comments and
 * one leading `---`. This reader feeds the same builder as the libyaml
 * events, with the marks libyaml would give, so the tree, its positions
 * and its non-fatal messages are the same. Anything else it refuses
 * (FAST_REFUSE), as soon as it meets it, and the whole document is read
 * again by libyaml: its messages and positions for unusual files stay
 * libyaml's. fuzz/fuzz_yaml_fast.c checks that both trees are equal
 * whenever this reader accepts a document. */

#define FAST_REFUSE 1

typedef struct freader {
    ybuild *B;
    const char *end;
    const char *p;          /* cursor */
    const char *line_start; /* of the line the cursor is on */
    size_t line;            /* 0-based, as libyaml's marks */
    const char *cpos;       /* column cache: cpos is at column ccol */
    size_t ccol;
    size_t indent; /* column of the current content line */
    bool eof;      /* no content line left */
    char *buf;     /* decoded quoted scalars */
    size_t bufcap;
} freader;

static int fch(const freader *R, const char *p) {
    return p < R->end ? (unsigned char)*p : 0; /* NUL bytes are refused */
}

static bool f_eol(int c) {
    return c == 0 || c == '\n' || c == '\r';
}

static bool f_blankz(int c) {
    return c == ' ' || f_eol(c);
}

/* Every character libyaml accepts in a document, without tabs, lone CRs,
 * line separators (U+0085, U+2028, U+2029) or byte order marks: invalid
 * UTF-8, control characters and NUL bytes are left to libyaml's message. */
static bool f_chars_ok(const char *data, size_t len) {
    const unsigned char *s = (const unsigned char *)data;
    size_t i = 0;
    while (i < len) {
        if (i + 8 <= len) { /* eight printable ASCII characters at once */
            uint64_t x;
            memcpy(&x, s + i, 8);
            const uint64_t ones = 0x0101010101010101u, high = ones * 0x80;
            if (!(((x - ones * 0x20) | x | (x + ones)) & high)) {
                i += 8;
                continue;
            }
        }
        unsigned c = s[i];
        if (c >= 0x20 && c < 0x7F) {
            i++;
            continue;
        }
        if (c == '\n') {
            i++;
            continue;
        }
        if (c == '\r') {
            if (i + 1 >= len || s[i + 1] != '\n')
                return false;
            i += 2;
            continue;
        }
        if (c < 0xC2 || c > 0xF4)
            return false;
        size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if (i + n > len)
            return false;
        uint32_t cp = c & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || cp < 0xA0 || (cp >= 0xD800 && cp <= 0xDFFF) ||
            cp == 0x2028 || cp == 0x2029 || cp == 0xFEFF || cp == 0xFFFE ||
            cp == 0xFFFF)
            return false;
        i += n;
    }
    return true;
}

/* Column (0-based, in characters) of p on the current line. */
static size_t f_col(freader *R, const char *p) {
    if (!R->cpos || R->cpos < R->line_start || p < R->cpos) {
        R->cpos = R->line_start;
        R->ccol = 0;
    }
    for (const char *q = R->cpos; q < p; q++)
        R->ccol += ((unsigned char)*q & 0xC0) != 0x80;
    R->cpos = p;
    return R->ccol;
}

static yaml_mark_t f_mark(freader *R, const char *p) {
    yaml_mark_t m = {0, R->line, f_col(R, p)};
    return m;
}

/* Past the line break at p (or to the end). */
static void f_newline(freader *R, const char *p) {
    if (p >= R->end) {
        R->p = R->end;
        return;
    }
    if (*p == '\r')
        p++;
    p++; /* '\n' */
    R->p = p;
    R->line_start = p;
    R->line++;
}

/* Moves to the first character of the next line holding content (skipping
 * blank and comment lines); sets indent, or eof. `first` allows the one
 * `---` that may open the document. */
static int f_next_content(freader *R, bool first) {
    for (;;) {
        const char *q = R->p;
        while (fch(R, q) == ' ')
            q++;
        int c = fch(R, q);
        if (q >= R->end) {
            R->p = q;
            R->eof = true;
            return AA_OK;
        }
        if (f_eol(c)) {
            f_newline(R, q);
            continue;
        }
        if (c == '#') {
            while (!f_eol(fch(R, q)))
                q++;
            f_newline(R, q);
            continue;
        }
        if (q == R->line_start && (c == '-' || c == '.') &&
            fch(R, q + 1) == c && fch(R, q + 2) == c &&
            f_blankz(fch(R, q + 3))) {
            if (!first || c != '-')
                return FAST_REFUSE;
            first = false;
            q += 3;
            while (fch(R, q) == ' ')
                q++;
            if (fch(R, q) == '#' && q[-1] == ' ')
                while (!f_eol(fch(R, q)))
                    q++;
            if (!f_eol(fch(R, q)))
                return FAST_REFUSE;
            f_newline(R, q);
            continue;
        }
        R->p = q;
        R->indent = (size_t)(q - R->line_start); /* spaces only */
        return AA_OK;
    }
}

/* After a node that ends its line: spaces, a comment, the line break. */
static int f_end_line(freader *R, const char *p) {
    while (fch(R, p) == ' ')
        p++;
    if (fch(R, p) == '#' && p[-1] == ' ')
        while (!f_eol(fch(R, p)))
            p++;
    if (!f_eol(fch(R, p)))
        return FAST_REFUSE;
    f_newline(R, p);
    return f_next_content(R, false);
}

/* A scalar read by f_scan: its text (in the input or in R->buf). */
typedef struct fscalar {
    const char *start; /* first character (a quote for quoted ones) */
    const char *after; /* past its last character */
    const char *text;
    size_t len;
    yaml_scalar_style_t style;
} fscalar;

static bool f_reserve(freader *R, size_t n) {
    if (n <= R->bufcap)
        return true;
    size_t cap = R->bufcap ? R->bufcap : 256;
    while (cap < n)
        cap *= 2;
    char *b = realloc(R->buf, cap);
    if (!b)
        return false;
    R->buf = b;
    R->bufcap = cap;
    return true;
}

/* A double-quoted scalar on one line, with libyaml's escapes. */
static int f_dquoted(freader *R, const char *p, fscalar *s) {
    const char *q = p + 1, *run = q;
    size_t n = 0;
    bool copied = false;
    for (;;) {
        int c = fch(R, q);
        if (f_eol(c))
            return FAST_REFUSE;
        if (c == '"')
            break;
        if (c != '\\') {
            q++;
            continue;
        }
        /* An escape: copy the run before it, then its value. */
        size_t k = (size_t)(q - run);
        if (!f_reserve(R, n + k + 4))
            return AA_ENOMEM;
        memcpy(R->buf + n, run, k);
        n += k;
        copied = true;
        int e = fch(R, q + 1);
        int digits = 0;
        const char *rep = NULL;
        switch (e) {
        case '0':
            rep = "\0";
            break;
        case 'a':
            rep = "\a";
            break;
        case 'b':
            rep = "\b";
            break;
        case 't':
            rep = "\t";
            break;
        case 'n':
            rep = "\n";
            break;
        case 'v':
            rep = "\v";
            break;
        case 'f':
            rep = "\f";
            break;
        case 'r':
            rep = "\r";
            break;
        case 'e':
            rep = "\x1B";
            break;
        case ' ':
            rep = " ";
            break;
        case '"':
            rep = "\"";
            break;
        case '\\':
            rep = "\\";
            break;
        case 'N':
            rep = "\xC2\x85";
            break;
        case '_':
            rep = "\xC2\xA0";
            break;
        case 'L':
            rep = "\xE2\x80\xA8";
            break;
        case 'P':
            rep = "\xE2\x80\xA9";
            break;
        case 'x':
            digits = 2;
            break;
        case 'u':
            digits = 4;
            break;
        case 'U':
            digits = 8;
            break;
        default:
            return FAST_REFUSE;
        }
        if (rep) {
            size_t rl = e == '0' ? 1 : strlen(rep);
            memcpy(R->buf + n, rep, rl);
            n += rl;
            q += 2;
            run = q;
            continue;
        }
        uint32_t cp = 0;
        for (int i = 0; i < digits; i++) {
            int d = aa__hex_digit(fch(R, q + 2 + i));
            if (d < 0)
                return FAST_REFUSE;
            cp = cp * 16 + (uint32_t)d;
        }
        if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
            return FAST_REFUSE;
        unsigned char *o = (unsigned char *)R->buf + n;
        if (cp < 0x80) {
            o[0] = (unsigned char)cp;
            n += 1;
        } else if (cp < 0x800) {
            o[0] = (unsigned char)(0xC0 | (cp >> 6));
            o[1] = (unsigned char)(0x80 | (cp & 0x3F));
            n += 2;
        } else if (cp < 0x10000) {
            o[0] = (unsigned char)(0xE0 | (cp >> 12));
            o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            o[2] = (unsigned char)(0x80 | (cp & 0x3F));
            n += 3;
        } else {
            o[0] = (unsigned char)(0xF0 | (cp >> 18));
            o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
            o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            o[3] = (unsigned char)(0x80 | (cp & 0x3F));
            n += 4;
        }
        q += 2 + digits;
        run = q;
    }
    s->start = p;
    s->after = q + 1;
    s->style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    if (!copied) {
        s->text = p + 1;
        s->len = (size_t)(q - p - 1);
        return AA_OK;
    }
    size_t k = (size_t)(q - run);
    if (!f_reserve(R, n + k))
        return AA_ENOMEM;
    memcpy(R->buf + n, run, k);
    s->text = R->buf;
    s->len = n + k;
    return AA_OK;
}

/* A single-quoted scalar on one line ('' is a quote). */
static int f_squoted(freader *R, const char *p, fscalar *s) {
    const char *q = p + 1;
    bool twice = false;
    for (;;) {
        int c = fch(R, q);
        if (f_eol(c))
            return FAST_REFUSE;
        if (c == '\'') {
            if (fch(R, q + 1) != '\'')
                break;
            twice = true;
            q += 2;
            continue;
        }
        q++;
    }
    s->start = p;
    s->after = q + 1;
    s->style = YAML_SINGLE_QUOTED_SCALAR_STYLE;
    s->text = p + 1;
    s->len = (size_t)(q - p - 1);
    if (twice) {
        if (!f_reserve(R, s->len))
            return AA_ENOMEM;
        size_t n = 0;
        for (const char *x = p + 1; x < q; x++) {
            R->buf[n++] = *x;
            if (*x == '\'')
                x++;
        }
        s->text = R->buf;
        s->len = n;
    }
    return AA_OK;
}

static const bool f_indicator[256] = {
    ['-'] = 1, ['?'] = 1, [':'] = 1, [','] = 1, ['['] = 1,
    [']'] = 1, ['{'] = 1, ['}'] = 1, ['#'] = 1, ['&'] = 1,
    ['*'] = 1, ['!'] = 1, ['|'] = 1, ['>'] = 1, ['\''] = 1,
    ['"'] = 1, ['%'] = 1, ['@'] = 1, ['`'] = 1,
};

/* Characters that cannot start a plain scalar (or that this reader does
 * not let start one). */
static bool f_plain_start(const freader *R, const char *p, bool flow) {
    int c = fch(R, p);
    if (c == '-') { /* "-x": a scalar, "- ": a sequence entry */
        int d = fch(R, p + 1);
        return (d >= '0' && d <= '9') || (d >= 'a' && d <= 'z') ||
               (d >= 'A' && d <= 'Z') || d == '_' || d == '.' || d == '/' ||
               (!flow && d != ' ' && !f_eol(d) && !strchr(",[]{}#", d));
    }
    return c > ' ' && !f_indicator[c];
}

/* Characters a plain scalar's scan stops at: 1 in block and flow context,
 * 2 in flow context only. */
static const unsigned char f_class[256] = {
    [0] = 1,   ['\n'] = 1, ['\r'] = 1, [':'] = 1, [' '] = 1, [','] = 2,
    ['['] = 2, [']'] = 2,  ['{'] = 2,  ['}'] = 2, ['?'] = 2, ['#'] = 2,
};

/* A scalar at p. Plain ones end, in block context, at ": ", ":" at the
 * end of the line, " #" or the end of the line; in flow context also at
 * ",", "]", "}" (a ":" there must be followed by a plain character). */
static int f_scan(freader *R, const char *p, bool flow, fscalar *s) {
    int c = fch(R, p);
    if (c == '"')
        return f_dquoted(R, p, s);
    if (c == '\'')
        return f_squoted(R, p, s);
    if (!f_plain_start(R, p, flow))
        return FAST_REFUSE;
    const char *q = p;
    unsigned char mask = flow ? 3 : 1;
    for (;;) {
        while (q < R->end && !(f_class[(unsigned char)*q] & mask))
            q++;
        c = fch(R, q);
        if (f_eol(c))
            break;
        if (c == ':') {
            int d = fch(R, q + 1);
            if (f_blankz(d))
                break;
            if (flow && strchr(",[]{}?#", d))
                return FAST_REFUSE;
        } else if (c == ' ' && fch(R, q + 1) == '#') {
            break;
        } else if (flow && strchr(",]}", c)) {
            break;
        } else if (flow && strchr("[{?#", c)) {
            return FAST_REFUSE;
        }
        q++;
    }
    const char *e = q;
    while (e > p && e[-1] == ' ')
        e--;
    s->start = p;
    s->after = q;
    s->text = p;
    s->len = (size_t)(e - p);
    s->style = YAML_PLAIN_SCALAR_STYLE;
    return AA_OK;
}

static int f_emit(freader *R, const char *text, size_t len,
                  yaml_scalar_style_t style, yaml_mark_t m) {
    yaml_event_t ev; /* the fields on_scalar reads */
    ev.type = YAML_SCALAR_EVENT;
    ev.start_mark = m;
    ev.data.scalar.tag = NULL;
    ev.data.scalar.anchor = NULL;
    ev.data.scalar.value = (yaml_char_t *)(uintptr_t)text;
    ev.data.scalar.length = len;
    ev.data.scalar.style = style;
    return on_scalar(R->B, &ev);
}

static int f_emit_scalar(freader *R, const fscalar *s) {
    return f_emit(R, s->text, s->len, s->style, f_mark(R, s->start));
}

static int f_open(freader *R, aa__ykind kind, yaml_mark_t m) {
    yaml_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.start_mark = m;
    return open_collection(R->B, kind, &ev, NULL, NULL);
}

/* True when a block key starts at p: its scalar is followed by ':' and a
 * blank or the end of the line. */
static int f_key(freader *R, const char *p, fscalar *s, bool *is_key) {
    int rc = f_scan(R, p, false, s);
    if (rc)
        return rc;
    *is_key = fch(R, s->after) == ':' && f_blankz(fch(R, s->after + 1));
    if (*is_key &&
        (s->after - s->start > 1000 ||
         (s->style == YAML_PLAIN_SCALAR_STYLE && s->after[-1] == ' ')))
        return FAST_REFUSE; /* libyaml's 1024-character simple keys */
    return AA_OK;
}

/* A flow sequence or mapping of scalars, on one line; returns past it. */
static int f_flow(freader *R, const char *p, const char **after) {
    bool map = *p == '{';
    char close = map ? '}' : ']';
    int rc = f_open(R, map ? AA__Y_MAP : AA__Y_SEQ, f_mark(R, p));
    if (rc)
        return rc;
    p++;
    while (fch(R, p) == ' ')
        p++;
    if (fch(R, p) != close) {
        for (;;) {
            fscalar s;
            if ((rc = f_scan(R, p, true, &s)) || (rc = f_emit_scalar(R, &s)))
                return rc;
            p = s.after;
            if (map) { /* a key, as in f_key: 1,024 characters at most */
                if (fch(R, p) != ':' || fch(R, p + 1) != ' ' ||
                    p - s.start > 1000)
                    return FAST_REFUSE;
                p += 2;
                while (fch(R, p) == ' ')
                    p++;
                if ((rc = f_scan(R, p, true, &s)) ||
                    (rc = f_emit_scalar(R, &s)))
                    return rc;
                p = s.after;
            }
            while (fch(R, p) == ' ')
                p++;
            if (fch(R, p) == close)
                break;
            if (fch(R, p) != ',')
                return FAST_REFUSE;
            p++;
            while (fch(R, p) == ' ')
                p++;
            if (fch(R, p) == close || fch(R, p) == ',')
                return FAST_REFUSE;
        }
    }
    *after = p + 1;
    return close_collection(R->B);
}

static int f_node(freader *R, bool block);

static bool f_is_entry(const freader *R, const char *p) {
    return fch(R, p) == '-' && f_blankz(fch(R, p + 1));
}

/* A block sequence whose first '-' is at the cursor, column col. */
static int f_seq(freader *R, size_t col) {
    int rc = f_open(R, AA__Y_SEQ, f_mark(R, R->p));
    while (rc == AA_OK) {
        const char *dash = R->p;
        yaml_mark_t empty = f_mark(R, dash + 1);
        const char *q = dash + 1;
        while (fch(R, q) == ' ')
            q++;
        if (f_eol(fch(R, q)) || fch(R, q) == '#') {
            if ((rc = f_end_line(R, dash + 1)))
                return rc;
            if (!R->eof && R->indent > col)
                rc = f_node(R, true);
            else
                rc = f_emit(R, "", 0, YAML_PLAIN_SCALAR_STYLE, empty);
        } else {
            R->p = q;
            rc = f_node(R, true);
        }
        if (rc)
            return rc;
        if (R->eof || R->indent < col ||
            (R->indent == col && !f_is_entry(R, R->p)))
            break;
        if (R->indent > col)
            return FAST_REFUSE;
    }
    return rc ? rc : close_collection(R->B);
}

/* A block mapping whose first key is at the cursor, column col. */
static int f_map(freader *R, size_t col) {
    int rc = f_open(R, AA__Y_MAP, f_mark(R, R->p));
    while (rc == AA_OK) {
        fscalar k;
        bool is_key;
        if ((rc = f_key(R, R->p, &k, &is_key)))
            return rc;
        if (!is_key)
            return FAST_REFUSE;
        if ((rc = f_emit_scalar(R, &k)))
            return rc;
        const char *colon = k.after;
        yaml_mark_t empty = f_mark(R, colon + 1);
        const char *q = colon + 1;
        while (fch(R, q) == ' ')
            q++;
        if (f_eol(fch(R, q)) || fch(R, q) == '#') {
            if ((rc = f_end_line(R, colon + 1)))
                return rc;
            if (!R->eof && R->indent > col)
                rc = f_node(R, true);
            else if (!R->eof && R->indent == col && f_is_entry(R, R->p))
                rc = f_seq(R, col); /* a sequence under its key's column */
            else
                rc = f_emit(R, "", 0, YAML_PLAIN_SCALAR_STYLE, empty);
        } else {
            R->p = q;
            rc = f_node(R, false);
        }
        if (rc)
            return rc;
        if (R->eof || R->indent < col)
            break;
        if (R->indent > col)
            return FAST_REFUSE;
    }
    return rc ? rc : close_collection(R->B);
}

/* The node at the cursor; `block` when it may be a block collection (it
 * starts its line, or follows "- "). Returns at the next content line. */
static int f_node(freader *R, bool block) {
    const char *p = R->p;
    int c = fch(R, p);
    if (f_is_entry(R, p))
        return block ? f_seq(R, f_col(R, p)) : FAST_REFUSE;
    int rc;
    if (c == '[' || c == '{') {
        const char *after;
        if ((rc = f_flow(R, p, &after)))
            return rc;
        return f_end_line(R, after);
    }
    fscalar s;
    bool is_key;
    if ((rc = f_key(R, p, &s, &is_key)))
        return rc;
    if (is_key)
        return block ? f_map(R, f_col(R, p)) : FAST_REFUSE;
    if ((rc = f_emit_scalar(R, &s)))
        return rc;
    return f_end_line(R, s.after);
}

/* AA_OK with the document built, FAST_REFUSE, or an error of the builder
 * (a limit, memory): in every case but AA_OK, libyaml reads it again. */
static int fast_build(ybuild *B, const char *data, size_t len) {
    if (!f_chars_ok(data, len))
        return FAST_REFUSE;
    freader R = {.B = B, .end = data + len, .p = data, .line_start = data};
    int rc = f_next_content(&R, true);
    if (rc == AA_OK && R.eof)
        rc = FAST_REFUSE; /* no document, or an empty one */
    if (rc == AA_OK)
        rc = f_node(&R, true);
    if (rc == AA_OK && (!R.eof || B->depth != 0))
        rc = FAST_REFUSE;
    free(R.buf);
    return rc;
}

static void build_init(ybuild *B, aa__ydoc *doc, const char *data, size_t len,
                       const char *file, aa_error *err) {
    memset(doc, 0, sizeof *doc);
    aa__arena_init(&doc->arena);
    aa__arena_init(&doc->strings);
    *B = (ybuild){
        .doc = doc, .file = file, .err = err, .data = data, .len = len};
    aa__map_init(&B->anchors);
    aa__map_init(&B->pairs.seen);
}

static void build_done(ybuild *B) {
    if (B->stack)
        for (size_t i = 0; i < AA__YAML_MAX_DEPTH; i++)
            free(B->stack[i].kids);
    free(B->stack);
    aa__map_free(&B->anchors);
    pairvec_free(&B->pairs);
    free(B->intern);
}

static int libyaml_parse(aa__ydoc *doc, const char *data, size_t len,
                         const char *file, aa_error *err) {
    ybuild B;
    build_init(&B, doc, data, len, file, err);
    B.stack = calloc(AA__YAML_MAX_DEPTH, sizeof *B.stack);
    if (!B.stack)
        return yerr(&B, AA_ENOMEM, 0, 0, "out of memory");
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
    build_done(&B);
    if (rc)
        doc->root = NULL;
    return rc;
}

/* The fast reader alone: AA_OK (its messages in err) or FAST_REFUSE with
 * doc freed and err untouched. */
static int fast_parse(aa__ydoc *doc, const char *data, size_t len,
                      const char *file, aa_error *err) {
    aa_error *mine = aa_error_new();
    ybuild B;
    build_init(&B, doc, data, len, file, mine);
    B.stack = calloc(AA__YAML_MAX_DEPTH, sizeof *B.stack);
    int rc = mine && B.stack ? fast_build(&B, data, len) : FAST_REFUSE;
    build_done(&B);
    if (rc == AA_OK) {
        for (size_t i = 0; i < aa_error_count(mine); i++) {
            const aa_diag *d = aa_error_get(mine, i);
            aa__error_add(err, d->severity, d->status, d->file, d->line,
                          d->column, "%s", d->message);
        }
    } else {
        aa__ydoc_free(doc);
        rc = FAST_REFUSE;
    }
    aa_error_free(mine);
    return rc;
}

int aa__ydoc_parse_with(aa__ydoc *doc, const char *data, size_t len,
                        const char *file, aa_error *err, aa__yreader reader) {
    if (reader != AA__YR_LIBYAML) {
        int rc = fast_parse(doc, data, len, file, err);
        if (rc == AA_OK)
            return AA_OK;
        if (reader == AA__YR_FAST)
            return AA__YAML_REFUSED;
    }
    return libyaml_parse(doc, data, len, file, err);
}

int aa__ydoc_parse(aa__ydoc *doc, const char *data, size_t len,
                   const char *file, aa_error *err) {
    const char *v = getenv("AA_YAML_READER");
    aa__yreader r =
        v && strcmp(v, "libyaml") == 0 ? AA__YR_LIBYAML : AA__YR_AUTO;
    return aa__ydoc_parse_with(doc, data, len, file, err, r);
}

void aa__ydoc_free(aa__ydoc *doc) {
    aa__arena_free(&doc->arena);
    aa__arena_free(&doc->strings);
    doc->root = NULL;
}

bool aa__ytree_equal(const aa__ynode *a, const aa__ynode *b, char *why,
                     size_t size) {
    if (!a || !b) {
        if (a != b)
            snprintf(why, size, "one tree is empty");
        return a == b;
    }
    if (a->kind != b->kind || a->style != b->style || a->tag != b->tag ||
        a->str != b->str || a->line != b->line || a->col != b->col ||
        a->len != b->len || a->n != b->n || a->weight != b->weight ||
        (a->kind == AA__Y_SCALAR && memcmp(a->text, b->text, a->len) != 0)) {
        snprintf(why, size,
                 "node at %d:%d (kind %d style %d len %u n %u) differs from "
                 "node at %d:%d (kind %d style %d len %u n %u)",
                 a->line, a->col, a->kind, a->style, a->len, a->n, b->line,
                 b->col, b->kind, b->style, b->len, b->n);
        return false;
    }
    for (uint32_t i = 0; i < a->n; i++) {
        if (a->kind == AA__Y_SEQ &&
            !aa__ytree_equal(a->u.items[i], b->u.items[i], why, size))
            return false;
        if (a->kind == AA__Y_MAP &&
            (!aa__ytree_equal(a->u.pairs[i].key, b->u.pairs[i].key, why,
                              size) ||
             !aa__ytree_equal(a->u.pairs[i].value, b->u.pairs[i].value, why,
                              size)))
            return false;
    }
    return true;
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
