/*
 * yaml_doc.h - a small YAML document tree that remembers where every node
 * was written (1-based line and column), built with libyaml's event API.
 *
 * Only what a policy file needs: one document, scalars kept as written
 * (with their style and tag, resolved on demand), sequences, mappings with
 * scalar keys. Aliases share the anchored node; `<<` merge keys are
 * expanded. Building is bounded: nesting depth, and the number of nodes the
 * document would have with every alias expanded ("billion laughs").
 * Duplicate keys are reported (the later pair is dropped).
 */
#ifndef AA_YAML_DOC_H
#define AA_YAML_DOC_H

#include "util.h"

typedef enum { AA__Y_SCALAR = 0, AA__Y_SEQ, AA__Y_MAP } aa__ykind;

typedef enum {
    AA__YS_PLAIN = 0,
    AA__YS_SQUOTED,
    AA__YS_DQUOTED,
    AA__YS_LITERAL,
    AA__YS_FOLDED
} aa__ystyle;

/* An explicit tag on a scalar; NONE when it was implicit. */
typedef enum {
    AA__YT_NONE = 0,
    AA__YT_STR,
    AA__YT_INT,
    AA__YT_FLOAT,
    AA__YT_BOOL,
    AA__YT_NULL
} aa__ytag;

typedef struct aa__ynode aa__ynode;

typedef struct aa__ypair {
    const aa__ynode *key; /* always a scalar */
    const aa__ynode *value;
} aa__ypair;

/* Small (32 bytes on a 64-bit machine): a 2.7 MB policy has about 220,000
 * nodes, all alive at once while the policy is read. A scalar's text and a
 * collection's children share one pointer: read `text` only when kind is
 * AA__Y_SCALAR, `u` only when it is not. `len` is 0 for a collection and `n`
 * is 0 for a scalar, so a loop over a node's children does nothing for a
 * scalar. */
struct aa__ynode {
    unsigned char kind;  /* aa__ykind */
    unsigned char style; /* aa__ystyle, scalars */
    unsigned char tag;   /* aa__ytag, scalars */
    unsigned char str;   /* an untagged scalar, quoted or one that no
                            resolver can match (most): a string under YAML
                            1.1 and 1.2 alike */
    int line;            /* of the node's first character */
    int col;
    uint32_t len;    /* scalars: bytes of text; 0 for a collection */
    uint32_t n;      /* items or pairs; 0 for a scalar */
    uint32_t weight; /* nodes with aliases expanded, saturating */
    union {
        const char *text; /* AA__Y_SCALAR: the value, NUL-terminated */
        union {
            const aa__ynode **items; /* AA__Y_SEQ */
            const aa__ypair *pairs;  /* AA__Y_MAP */
        } u;
    };
};

/* Limits for aa__ydoc_parse. */
#define AA__YAML_MAX_DEPTH 64
#define AA__YAML_MAX_NODES 2000000 /* aliases expanded */

typedef struct aa__ydoc {
    aa__arena arena;       /* nodes, lists of children */
    aa__arena strings;     /* scalar texts: aa__arena_adopt keeps them */
    const aa__ynode *root; /* NULL when the stream holds no document */
    size_t nerrors;        /* non-fatal errors reported (duplicate keys...) */
    size_t naliases;       /* aliases met: nodes may be shared */
} aa__ydoc;

/* Parses `data` into doc. Returns AA_OK (doc->nerrors may still be > 0:
 * duplicate keys, unsupported tags...), AA_EPARSE for a YAML syntax error,
 * AA_ELIMIT for a limit, AA_ENOMEM; each with one message in err naming
 * `file`, line and column. Call aa__ydoc_free in every case. */
int aa__ydoc_parse(aa__ydoc *doc, const char *data, size_t len,
                   const char *file, aa_error *err);
void aa__ydoc_free(aa__ydoc *doc);

/* Which reader aa__ydoc_parse_with uses. AUTO (what aa__ydoc_parse does)
 * tries the fast reader for the common subset of YAML policy files use and
 * falls back to libyaml for the whole document when it meets anything else;
 * the environment variable AA_YAML_READER=libyaml makes aa__ydoc_parse use
 * libyaml alone. FAST returns AA__YAML_REFUSED (doc freed, err untouched)
 * where AUTO would fall back. */
typedef enum { AA__YR_AUTO = 0, AA__YR_LIBYAML, AA__YR_FAST } aa__yreader;
#define AA__YAML_REFUSED 1
int aa__ydoc_parse_with(aa__ydoc *doc, const char *data, size_t len,
                        const char *file, aa_error *err, aa__yreader reader);

/* True when two trees are equal node for node (kinds, styles, tags,
 * positions, texts); else false with the first difference in why. */
bool aa__ytree_equal(const aa__ynode *a, const aa__ynode *b, char *why,
                     size_t size);

/* The value of `key` in a mapping, or NULL. */
const aa__ypair *aa__ymap_find(const aa__ynode *map, const char *key);

/* A scalar's meaning under the YAML 1.1 rules PyYAML uses (plain scalars
 * are typed; quoted and block scalars are strings; an explicit tag wins). */
typedef enum {
    AA__YV_NULL = 0,
    AA__YV_BOOL,
    AA__YV_INT,
    AA__YV_FLOAT,
    AA__YV_STR,
    AA__YV_BAD /* an explicit tag the text does not fit (`!!int abc`), or a
                  number PyYAML matches but cannot read (`0b_`) */
} aa__yvtype;

typedef struct aa__yscalar {
    aa__yvtype type;
    bool b;
    bool overflow; /* AA__YV_INT out of int64 range */
    int64_t i;
    double d; /* AA__YV_FLOAT, and AA__YV_INT as a double */
} aa__yscalar;

void aa__yscalar_resolve(const aa__ynode *n, aa__yscalar *out);

/* True when the plain, untagged scalar n means something else under the
 * YAML 1.2 core schema than under the YAML 1.1 rules above (`yes`, `010`,
 * `0o10`, `1_000`, `1e3`, `1:30`...); fills both meanings. */
bool aa__yscalar_differs_12(const aa__ynode *n, aa__yscalar *v11,
                            aa__yscalar *v12);
/* "the boolean true", "the number 8", "the string \"0o10\"", "null". */
void aa__yscalar_describe(const aa__ynode *n, const aa__yscalar *v, char *buf,
                          size_t size);

#endif /* AA_YAML_DOC_H */
