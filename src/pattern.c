/* pattern.c - fnmatch-style globs, classified so that common cases are cheap.
 */
#include "pattern.h"

#include <stdlib.h>
#include <string.h>

bool aa__has_wildcard(const char *text) {
    return strpbrk(text, "*?[") != NULL;
}

/* A byte that does not start well-formed UTF-8 reads as one character of
 * its own, numbered past U+10FFFF, so that matching stays total (and
 * byte-exact) on such text; patterns and requests are checked for UTF-8
 * where they enter, so this only keeps a stray byte from being skipped. */
#define BAD_BYTE_BASE 0x110000u

/* The character at s[i] (i < n): stores its code point, returns its
 * length in bytes. */
static inline size_t next_cp(const char *s, size_t n, size_t i, uint32_t *cp) {
    unsigned char c = (unsigned char)s[i];
    if (AA__LIKELY(c < 0x80)) {
        *cp = c;
        return 1;
    }
    size_t k = aa__utf8_decode(s + i, n - i, cp);
    if (k)
        return k;
    *cp = BAD_BYTE_BASE + c;
    return 1;
}

/* A '[' that starts a valid class; Python's fnmatch treats an unclosed '['
 * as a literal. Returns the index just past ']' or 0 if not a class.
 * Scanning bytes is exact: ']' and '!' never occur inside a multibyte
 * character. */
static size_t class_end(const char *pat, size_t plen, size_t i) {
    size_t j = i + 1;
    if (j < plen && pat[j] == '!')
        j++;
    if (j < plen && pat[j] == ']')
        j++;
    while (j < plen && pat[j] != ']')
        j++;
    return j < plen ? j + 1 : 0;
}

/* Walks the items of the class pat[start..end) ('[' to ']'): each item is
 * one character or a range `a-z` of code points (one with hi < lo matches
 * nothing), read left to right as Python's fnmatch does. */
typedef struct class_iter {
    const char *pat;
    size_t i, last; /* next item; the closing ']' */
    bool negate;
} class_iter;

static void class_begin(class_iter *it, const char *pat, size_t start,
                        size_t end) {
    it->pat = pat;
    it->i = start + 1;
    it->last = end - 1;
    it->negate = it->i < it->last && pat[it->i] == '!';
    if (it->negate)
        it->i++;
}

static bool class_next(class_iter *it, uint32_t *lo, uint32_t *hi) {
    if (it->i >= it->last)
        return false;
    size_t k = next_cp(it->pat, it->last, it->i, lo);
    if (it->i + k + 1 < it->last && it->pat[it->i + k] == '-') {
        it->i += k + 1;
        it->i += next_cp(it->pat, it->last, it->i, hi);
    } else {
        *hi = *lo;
        it->i += k;
    }
    return true;
}

static bool class_match(const char *pat, size_t start, size_t end, uint32_t c) {
    class_iter it;
    class_begin(&it, pat, start, end);
    uint32_t lo, hi;
    bool found = false;
    while (!found && class_next(&it, &lo, &hi))
        found = lo <= c && c <= hi;
    return found != it.negate;
}

/* Iterative matcher with a single backtrack point for '*': O(len(pat) *
 * len(s)) at worst, linear in practice, never exponential. `?` and classes
 * take one character (code point) of s; a literal compares one character. */
/* Whether some byte of w is c. */
static inline bool word_has(uint64_t w, unsigned char c) {
    const uint64_t ones = UINT64_C(0x0101010101010101);
    uint64_t x = w ^ (ones * c);
    return ((x - ones) & ~x & (ones << 7)) != 0;
}

bool aa__glob_match(const char *pat, size_t plen, const char *s, size_t n) {
    size_t pi = 0, si = 0;
    size_t star_p = (size_t)-1, star_s = 0;
    uint32_t c, lc;
    /* A leading run of plain ASCII literals, eight bytes at a time: what
     * the loop below would do a byte at a time (names and scopes are
     * mostly literal). */
    while (plen - pi >= 8 && n - si >= 8) {
        uint64_t w, v;
        memcpy(&w, pat + pi, 8);
        memcpy(&v, s + si, 8);
        if (w != v || (w & UINT64_C(0x8080808080808080)) || word_has(w, '*') ||
            word_has(w, '?') || word_has(w, '['))
            break;
        pi += 8;
        si += 8;
    }
    while (si < n) {
        if (pi < plen) {
            unsigned char pc = (unsigned char)pat[pi];
            if (pc == '*') {
                while (pi < plen && pat[pi] == '*')
                    pi++;
                if (pi == plen)
                    return true;
                star_p = pi;
                star_s = si;
                continue;
            }
            if (pc < 0x80 && pc != '?' && pc != '[') { /* an ASCII literal */
                if ((unsigned char)s[si] != pc)
                    goto backtrack;
                pi++;
                si++;
                continue;
            }
            size_t k = next_cp(s, n, si, &c);
            if (pc == '?') {
                pi++;
                si += k;
                continue;
            }
            if (pc == '[') {
                size_t end = class_end(pat, plen, pi);
                if (end) {
                    if (class_match(pat, pi, end, c)) {
                        pi = end;
                        si += k;
                        continue;
                    }
                    goto backtrack;
                }
            }
            size_t lk = next_cp(pat, plen, pi, &lc);
            if (lc == c) {
                pi += lk;
                si += k;
                continue;
            }
        }
    backtrack:
        if (star_p == (size_t)-1)
            return false;
        pi = star_p;
        star_s += next_cp(s, n, star_s, &c);
        si = star_s;
    }
    while (pi < plen && pat[pi] == '*')
        pi++;
    return pi == plen;
}

void aa__pattern_init(aa__pattern *p, const char *text) {
    size_t len = strlen(text);
    p->text = text;
    p->len = len;
    p->lit = text;
    p->litlen = len;
    const char *w = strpbrk(text, "*?[");
    if (!w) {
        p->kind = AA__PAT_EXACT;
        return;
    }
    if (len == 1 && text[0] == '*') {
        p->kind = AA__PAT_ANY;
        p->litlen = 0;
        return;
    }
    /* "lit*": the only wildcard is a trailing star. */
    if (w == text + len - 1 && *w == '*') {
        p->kind = AA__PAT_PREFIX;
        p->litlen = len - 1;
        return;
    }
    /* "*lit": the only wildcard is a leading star. */
    if (w == text && *w == '*' && !strpbrk(text + 1, "*?[")) {
        p->kind = AA__PAT_SUFFIX;
        p->lit = text + 1;
        p->litlen = len - 1;
        return;
    }
    p->kind = AA__PAT_GLOB;
}

bool aa__pattern_match(const aa__pattern *p, const char *s, size_t n) {
    switch (p->kind) {
    case AA__PAT_EXACT:
        return n == p->litlen && aa__mem_eq(s, p->lit, n);
    case AA__PAT_ANY:
        return true;
    case AA__PAT_PREFIX:
        return n >= p->litlen && aa__mem_eq(s, p->lit, p->litlen);
    case AA__PAT_SUFFIX:
        return n >= p->litlen &&
               aa__mem_eq(s + n - p->litlen, p->lit, p->litlen);
    case AA__PAT_GLOB:
        return aa__glob_match(p->text, p->len, s, n);
    }
    return false;
}

/* ---- pattern sets -------------------------------------------------------- */

/* Sets of at most this many entries are scanned in order: cheaper than
 * hashing the string and probing a map, and they need neither (a policy
 * holds thousands of them: each profile's allow, deny and scope lists). */
#define AA__PATSET_SCAN 4

void aa__patset_init(aa__patset *s) {
    memset(s, 0, sizeof *s);
    s->any_index = -1;
}

bool aa__patset_init_arena(aa__patset *s, aa__arena *a, size_t n) {
    aa__patset_init(s);
    s->arena = a;
    if (n == 0)
        return true;
    s->entries = aa__arena_alloc_raw(a, n * sizeof *s->entries);
    s->cap = s->entries ? n : 0;
    return s->entries != NULL;
}

void aa__patset_free(aa__patset *s) {
    if (!s->arena) {
        free(s->entries);
        free(s->wild);
        aa__map_free(&s->exact);
    }
    aa__patset_init(s);
}

bool aa__patset_add(aa__patset *s, const char *text, const void *tag) {
    aa__pattern pat;
    aa__pattern_init(&pat, text);
    return aa__patset_add_pattern(s, &pat, tag);
}

bool aa__patset_add_pattern(aa__patset *s, const aa__pattern *pat,
                            const void *tag) {
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        aa__patset_entry *e;
        if (s->arena) { /* the old array stays in the arena, unused */
            e = aa__arena_alloc_raw(s->arena, cap * sizeof *e);
            if (e && s->count)
                memcpy(e, s->entries, s->count * sizeof *e);
        } else {
            e = realloc(s->entries, cap * sizeof *e);
        }
        if (!e)
            return false;
        s->entries = e;
        s->cap = cap;
    }
    aa__patset_entry *e = &s->entries[s->count];
    e->pat = *pat;
    e->index = (int)s->count;
    e->tag = tag;
    s->count++;
    return true;
}

bool aa__patset_build(aa__patset *s) {
    if (!s->arena) {
        free(s->wild);
        aa__map_free(&s->exact);
    }
    s->wild = NULL;
    s->nwild = 0;
    aa__map_init(&s->exact);
    s->any = false;
    s->any_index = -1;
    if (s->count <= AA__PATSET_SCAN)
        return true;
    /* Sized exactly: a policy holds thousands of small sets. */
    size_t nexact = 0, nwild = 0;
    for (size_t i = 0; i < s->count; i++)
        if (s->entries[i].pat.kind == AA__PAT_EXACT)
            nexact++;
    nwild = s->count - nexact;
    if (nwild) {
        s->wild = s->arena ? aa__arena_alloc_raw(s->arena, nwild * sizeof(int))
                           : malloc(nwild * sizeof *s->wild);
        if (!s->wild)
            return false;
    }
    if (nexact) {
        if (s->arena) {
            size_t cap = aa__map_cap_for(nexact);
            aa__map_slot *slots =
                aa__arena_alloc(s->arena, cap * sizeof *slots);
            if (!slots)
                return false;
            aa__map_init_fixed(&s->exact, slots, cap);
        } else if (!aa__map_reserve(&s->exact, nexact)) {
            return false;
        }
    }
    /* Entries do not move after this: the map points into the array. */
    for (size_t i = 0; i < s->count; i++) {
        aa__patset_entry *e = &s->entries[i];
        if (e->pat.kind == AA__PAT_EXACT) {
            if (!aa__map_put_first(&s->exact, e->pat.lit, e->pat.litlen, e))
                return false;
        } else if (e->pat.kind == AA__PAT_ANY && !s->any) {
            s->any = true;
            s->any_index = e->index;
            s->wild[s->nwild++] = (int)i;
        } else if (e->pat.kind != AA__PAT_ANY) {
            s->wild[s->nwild++] = (int)i;
        }
    }
    return true;
}

const aa__patset_entry *aa__patset_match_h(const aa__patset *s, const char *str,
                                           size_t n, uint64_t hash) {
    if (s->count <= AA__PATSET_SCAN) {
        for (size_t i = 0; i < s->count; i++)
            if (aa__pattern_match(&s->entries[i].pat, str, n))
                return &s->entries[i];
        return NULL;
    }
    const aa__patset_entry *best =
        s->exact.count ? aa__map_get_h(&s->exact, str, n, hash) : NULL;
    /* The wildcard entries are in insertion order: the first match that
     * comes before the exact hit (if any) wins. */
    for (size_t i = 0; i < s->nwild; i++) {
        const aa__patset_entry *e = &s->entries[s->wild[i]];
        if (best && e->index > best->index)
            break;
        if (aa__pattern_match(&e->pat, str, n))
            return e;
    }
    return best;
}

const aa__patset_entry *aa__patset_match(const aa__patset *s, const char *str,
                                         size_t n) {
    uint64_t hash = s->count <= AA__PATSET_SCAN ? 0 : aa__hash(str, n);
    return aa__patset_match_h(s, str, n, hash); /* no hash when scanned */
}

/* ---- coverage: is L(p) a subset of the union of L(q)? -------------------- */

/*
 * Each glob becomes a chain of tokens: `*` (collapsed when repeated), or a
 * set of code points (a literal, `?`, a class: ranges, possibly negated).
 * Its NFA has one state per token position, plus an accepting state at the
 * end; a `*` state loops on every character and also stands for the next
 * position (epsilon). The characters that can occur are the Unicode scalar
 * values but NUL (requests are C strings), split into intervals at every
 * range bound of every pattern: all characters of one interval behave
 * alike for every token, so each interval is one symbol of a finite
 * alphabet, shown by a representative character.
 *
 * The set's NFAs are laid out one after another in one bit vector (state s
 * of a pattern is followed by s + 1), so that the subset construction is
 * word-parallel: step(S, a) = close(((S & adv[a]) << 1) | (S & stars)), where
 * close(T) = T | ((T & stars) << 1). Pairs (p position, set of set states)
 * are explored breadth first from the start; a pair where p accepts and no
 * pattern of the set does is a counterexample, and the path to it spells
 * the witness. A pair where some set pattern sits on a final `*` accepts
 * everything from there and is not explored further.
 */

/* Bounds: some 10 ms (a step costs a hash probe plus its words) and a few
 * MiB at most, far above what policies need (a grant under a rule of ten
 * patterns takes some thousand steps). */
#define COVER_MAX_NODES 50000u
#define COVER_STEP_COST 16u                 /* a step, besides its words */
#define COVER_MAX_WORK  (UINT64_C(1) << 21) /* steps x (cost + words) */
#define COVER_MAX_BITS  (UINT64_C(1) << 20) /* words held by nodes, tables */
#define COVER_MAX_SETUP (UINT64_C(1) << 23) /* symbols x (tokens + ranges) */
#define NO_SYM          UINT32_MAX

typedef struct cover_tok {
    bool star;
    bool negate;
    size_t first, count; /* ranges[first .. first + count) */
} cover_tok;

typedef struct cover_range {
    uint32_t lo, hi;
} cover_range;

typedef struct cover_node {
    uint32_t pos;    /* position in p */
    uint32_t parent; /* node index, or UINT32_MAX for the start */
    uint32_t sym;    /* symbol read from the parent, or NO_SYM (epsilon) */
} cover_node;

typedef struct cover {
    cover_tok *tok; /* p's tokens, then each set pattern's */
    size_t ntok, captok;
    cover_range *rng;
    size_t nrng, caprng;
    uint32_t *bound; /* interval bounds, then symbols' representatives */
    size_t nbound, capbound;
    bool oom, bad; /* out of memory; invalid UTF-8 */
} cover;

static bool grow(void **arr, size_t *cap, size_t need, size_t size) {
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 16;
    while (c < need)
        c *= 2;
    void *a = realloc(*arr, c * size);
    if (!a)
        return false;
    *arr = a;
    *cap = c;
    return true;
}

static void add_bound(cover *c, uint32_t b) {
    if (!grow((void **)&c->bound, &c->capbound, c->nbound + 1,
              sizeof *c->bound))
        c->oom = true;
    else
        c->bound[c->nbound++] = b;
}

static void add_range(cover *c, uint32_t lo, uint32_t hi) {
    if (lo >= BAD_BYTE_BASE || hi >= BAD_BYTE_BASE) {
        c->bad = true;
        return;
    }
    if (hi < lo) /* matches nothing */
        return;
    if (!grow((void **)&c->rng, &c->caprng, c->nrng + 1, sizeof *c->rng)) {
        c->oom = true;
        return;
    }
    c->rng[c->nrng++] = (cover_range){lo, hi};
    add_bound(c, lo);
    add_bound(c, hi + 1);
}

/* Appends a token; the ranges added next are its own. */
static bool add_tok(cover *c, bool star, bool negate) {
    if (!grow((void **)&c->tok, &c->captok, c->ntok + 1, sizeof *c->tok)) {
        c->oom = true;
        return false;
    }
    c->tok[c->ntok++] = (cover_tok){star, negate, c->nrng, 0};
    return true;
}

/* Appends the tokens of pat; returns how many. */
static size_t parse_glob(cover *c, const char *pat) {
    size_t plen = strlen(pat), i = 0, start = c->ntok;
    while (i < plen && !c->oom && !c->bad) {
        if (pat[i] == '*') {
            if (c->ntok == start || !c->tok[c->ntok - 1].star)
                add_tok(c, true, false);
            i++;
            continue;
        }
        if (pat[i] == '?') {
            add_tok(c, false, true); /* nothing excluded: any character */
            i++;
            continue;
        }
        size_t end = pat[i] == '[' ? class_end(pat, plen, i) : 0;
        if (end) {
            class_iter it;
            class_begin(&it, pat, i, end);
            if (!add_tok(c, false, it.negate))
                break;
            uint32_t lo, hi;
            while (class_next(&it, &lo, &hi))
                add_range(c, lo, hi);
            i = end;
        } else {
            uint32_t cp;
            size_t k = next_cp(pat, plen, i, &cp);
            if (!add_tok(c, false, false))
                break;
            add_range(c, cp, cp);
            i += k;
        }
        cover_tok *t = &c->tok[c->ntok - 1];
        t->count = c->nrng - t->first;
    }
    return c->ntok - start;
}

static bool tok_match(const cover *c, const cover_tok *t, uint32_t cp) {
    bool found = false;
    for (size_t r = t->first; !found && r < t->first + t->count; r++)
        found = c->rng[r].lo <= cp && cp <= c->rng[r].hi;
    return found != t->negate;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* A readable character of [lo, hi): a lower-case letter, a digit, an
 * upper-case letter, other printable ASCII, else the first of the range
 * past the C1 controls, else lo. */
static uint32_t representative(uint32_t lo, uint32_t hi) {
    static const uint32_t pref[][2] = {{'a', 'z' + 1}, {'0', '9' + 1},
                                       {'A', 'Z' + 1}, {'!', 0x7f},
                                       {0xa1, 0xd800}, {0xe000, 0x110000}};
    for (size_t i = 0; i < AA__ARRAY_LEN(pref); i++) {
        uint32_t a = lo > pref[i][0] ? lo : pref[i][0];
        uint32_t b = hi < pref[i][1] ? hi : pref[i][1];
        if (a < b)
            return a;
    }
    return lo;
}

/* How readable a character is: lower-case letters first, then digits,
 * upper-case letters, other printable ASCII, the rest. */
static int readable_rank(uint32_t cp) {
    if (cp >= 'a' && cp <= 'z')
        return 0;
    if (cp >= '0' && cp <= '9')
        return 1;
    if (cp >= 'A' && cp <= 'Z')
        return 2;
    return cp >= '!' && cp < 0x7f ? 3 : 4;
}

static int cmp_readable(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    int rx = readable_rank(x), ry = readable_rank(y);
    if (rx != ry)
        return rx - ry;
    return (x > y) - (x < y);
}

static uint64_t hash_node(uint32_t pos, const uint64_t *bits, size_t w) {
    uint64_t h = (pos + 1) * UINT64_C(0x9e3779b97f4a7c15);
    for (size_t i = 0; i < w; i++) {
        h = (h ^ bits[i]) * UINT64_C(0xff51afd7ed558ccd);
        h ^= h >> 32;
    }
    h ^= h >> 33; /* murmur3's finalizer: every bit reaches the low ones */
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    return h ^ h >> 33;
}

/* The search, with everything it allocates. */
typedef struct search {
    size_t w;         /* words per set of set states */
    size_t nsym;      /* alphabet size */
    uint32_t *rep;    /* a character of each symbol */
    uint64_t *adv;    /* nsym rows: states whose token takes the symbol */
    uint64_t *stars;  /* states on a `*` */
    uint64_t *accept; /* accepting states */
    uint64_t *univ;   /* `*` states right before their pattern's end */
    uint8_t *pmatch;  /* p position x symbol: p's token takes it */
    cover_node *node;
    uint64_t *bits; /* node i's set at bits + i * w */
    size_t nnode, capnode;
    uint32_t *table; /* node index + 1, 0 for empty */
    size_t tcap;
    uint64_t work;
} search;

static void search_free(search *s) {
    free(s->rep);
    free(s->adv);
    free(s->stars);
    free(s->pmatch);
    free(s->node);
    free(s->bits);
    free(s->table);
}

/* Finds or adds the node (pos, bits); returns its index, or UINT32_MAX
 * when out of memory or over a bound (then *over is set). */
static uint32_t intern(search *s, uint32_t pos, const uint64_t *bits,
                       uint32_t parent, uint32_t sym, bool *over) {
    if (s->nnode * 2 >= s->tcap) {
        size_t cap = s->tcap ? s->tcap * 2 : 1024;
        uint32_t *t = calloc(cap, sizeof *t);
        if (!t)
            return UINT32_MAX;
        for (size_t i = 0; i < s->nnode; i++) {
            size_t h =
                hash_node(s->node[i].pos, s->bits + i * s->w, s->w) & (cap - 1);
            while (t[h])
                h = (h + 1) & (cap - 1);
            t[h] = (uint32_t)i + 1;
        }
        free(s->table);
        s->table = t;
        s->tcap = cap;
    }
    size_t h = hash_node(pos, bits, s->w) & (s->tcap - 1);
    while (s->table[h]) {
        uint32_t i = s->table[h] - 1;
        if (s->node[i].pos == pos &&
            memcmp(s->bits + (size_t)i * s->w, bits, s->w * 8) == 0)
            return i;
        h = (h + 1) & (s->tcap - 1);
    }
    if (s->nnode >= COVER_MAX_NODES ||
        (uint64_t)(s->nnode + 1) * s->w + s->tcap / 2 > COVER_MAX_BITS) {
        *over = true;
        return UINT32_MAX;
    }
    if (s->nnode == s->capnode) {
        size_t cap = s->capnode ? s->capnode * 2 : 256;
        cover_node *nn = realloc(s->node, cap * sizeof *nn);
        if (!nn)
            return UINT32_MAX;
        s->node = nn;
        uint64_t *nb = realloc(s->bits, cap * s->w * 8);
        if (!nb)
            return UINT32_MAX;
        s->bits = nb;
        s->capnode = cap;
    }
    uint32_t i = (uint32_t)s->nnode++;
    s->node[i] = (cover_node){pos, parent, sym};
    memcpy(s->bits + (size_t)i * s->w, bits, s->w * 8);
    s->table[h] = i + 1;
    return i;
}

static bool any_bit(const uint64_t *a, const uint64_t *b, size_t w) {
    for (size_t i = 0; i < w; i++)
        if (a[i] & b[i])
            return true;
    return false;
}

/* dst = close(((src & adv) << 1) | (src & stars)) */
static void step(const search *s, const uint64_t *src, const uint64_t *adv,
                 uint64_t *dst) {
    uint64_t carry = 0;
    for (size_t i = 0; i < s->w; i++) {
        uint64_t m = src[i] & adv[i];
        dst[i] = m << 1 | carry | (src[i] & s->stars[i]);
        carry = m >> 63;
    }
    carry = 0;
    for (size_t i = 0; i < s->w; i++) {
        uint64_t m = dst[i] & s->stars[i];
        dst[i] |= m << 1 | carry;
        carry = m >> 63;
    }
}

static void set_bit(uint64_t *v, size_t i) {
    v[i / 64] |= UINT64_C(1) << (i % 64);
}

static void put_witness(const search *s, uint32_t i, aa__buf *out) {
    size_t len = 0;
    for (uint32_t j = i; j != UINT32_MAX; j = s->node[j].parent)
        len += s->node[j].sym != NO_SYM;
    uint32_t *syms = malloc((len ? len : 1) * sizeof *syms);
    if (!syms) {
        out->oom = true;
        return;
    }
    size_t k = len;
    for (uint32_t j = i; j != UINT32_MAX; j = s->node[j].parent)
        if (s->node[j].sym != NO_SYM)
            syms[--k] = s->node[j].sym;
    for (k = 0; k < len; k++) {
        char u[4];
        aa__buf_append(out, u, aa__utf8_encode(s->rep[syms[k]], u));
    }
    free(syms);
}

/* The general case: p's tokens are c->tok[0 .. np), the set's follow, with
 * nq[j] tokens for pattern j. The first npos patterns of the set must all
 * match (an intersection with p), the others must not. */
static aa__cover search_run(cover *c, size_t np, const size_t *nq, size_t n,
                            size_t npos, bool skip_empty, aa__buf *witness) {
    search s;
    memset(&s, 0, sizeof s);
    aa__cover result = AA__COVER_NOMEM;
    size_t nstates = 0;
    for (size_t j = 0; j < n; j++)
        nstates += nq[j] + 1;
    s.w = nstates / 64 + 1; /* bit nstates: "a character was read" */

    /* The alphabet: intervals between sorted, distinct bounds. */
    add_bound(c, 1);
    add_bound(c, 0xd800);
    add_bound(c, 0xe000);
    add_bound(c, 0x110000);
    if (c->oom)
        return AA__COVER_NOMEM;
    qsort(c->bound, c->nbound, sizeof *c->bound, cmp_u32);
    s.rep = malloc(c->nbound * sizeof *s.rep);
    if (!s.rep)
        goto out;
    for (size_t i = 0; i + 1 < c->nbound; i++) {
        uint32_t lo = c->bound[i], hi = c->bound[i + 1];
        if (lo == hi || lo < 1 || lo >= 0x110000 ||
            (lo >= 0xd800 && lo < 0xe000))
            continue;
        s.rep[s.nsym++] = representative(lo, hi);
    }
    /* The search tries symbols in this order: readable witnesses first. */
    qsort(s.rep, s.nsym, sizeof *s.rep, cmp_readable);
    if ((uint64_t)(s.nsym + 4) * s.w + (uint64_t)s.nsym * (np + 1) / 8 >
            COVER_MAX_BITS ||
        (uint64_t)s.nsym * (c->ntok + c->nrng) > COVER_MAX_SETUP) {
        result = AA__COVER_UNKNOWN;
        goto out;
    }

    /* The set's transition tables. */
    s.adv = calloc(s.nsym * s.w, 8);
    s.stars = calloc(4 * s.w, 8);
    s.pmatch = calloc(s.nsym * (np + 1), 1);
    uint64_t *cur = calloc(2 * s.w, 8);
    if (!s.adv || !s.stars || !s.pmatch || !cur) {
        free(cur);
        goto out;
    }
    s.accept = s.stars + s.w;
    s.univ = s.stars + 2 * s.w;
    uint64_t *next = cur + s.w; /* scratch for one step */
    uint64_t *start = s.stars + 3 * s.w;
    /* Each pattern that must match: its states, and its accepting state. */
    uint64_t *live = npos ? calloc(2 * npos * s.w, 8) : NULL;
    if (npos && !live) {
        free(cur);
        goto out;
    }
    size_t base = 0, t = np;
    for (size_t j = 0; j < n; j++) {
        set_bit(start, base);
        for (size_t i = 0; i < nq[j]; i++, t++) {
            const cover_tok *tk = &c->tok[t];
            if (tk->star) {
                set_bit(s.stars, base + i);
                if (i + 1 == nq[j] && j >= npos)
                    set_bit(s.univ, base + i);
                continue;
            }
            for (size_t a = 0; a < s.nsym; a++)
                if (tok_match(c, tk, s.rep[a]))
                    set_bit(s.adv + a * s.w, base + i);
        }
        if (j < npos) {
            for (size_t i = 0; i <= nq[j]; i++)
                set_bit(live + 2 * j * s.w, base + i);
            set_bit(live + (2 * j + 1) * s.w, base + nq[j]);
        } else {
            set_bit(s.accept, base + nq[j]);
        }
        base += nq[j] + 1;
    }
    for (size_t i = 0; i < np; i++)
        for (size_t a = 0; !c->tok[i].star && a < s.nsym; a++)
            s.pmatch[i * s.nsym + a] = tok_match(c, &c->tok[i], s.rep[a]);

    /* Breadth first from (0, close(start)). */
    for (size_t i = 0; i < s.w; i++)
        cur[i] = start[i] | (start[i] & s.stars[i]) << 1 |
                 (i ? (start[i - 1] & s.stars[i - 1]) >> 63 : 0);
    bool over = false;
    if (intern(&s, 0, cur, UINT32_MAX, NO_SYM, &over) == UINT32_MAX) {
        result = over ? AA__COVER_UNKNOWN : AA__COVER_NOMEM;
        free(cur);
        goto out;
    }
    result = AA__COVER_YES;
    for (size_t q = 0; q < s.nnode && result == AA__COVER_YES; q++) {
        uint32_t pos = s.node[q].pos;
        memcpy(cur, s.bits + q * s.w, s.w * 8);
        if (any_bit(cur, s.univ, s.w))
            continue;                  /* accepts every continuation */
        bool dead = false, all = true; /* a pattern that must match */
        for (size_t j = 0; j < npos && !dead; j++) {
            dead = !any_bit(cur, live + 2 * j * s.w, s.w);
            all = all && any_bit(cur, live + (2 * j + 1) * s.w, s.w);
        }
        if (dead)
            continue; /* no continuation matches them all */
        bool read = cur[nstates / 64] >> (nstates % 64) & 1;
        if (pos == np) {
            if (all && !any_bit(cur, s.accept, s.w) && (read || !skip_empty)) {
                result = AA__COVER_NO;
                if (witness)
                    put_witness(&s, (uint32_t)q, witness);
            }
            continue;
        }
        bool star = c->tok[pos].star;
        if (star) { /* epsilon: the star may match nothing more */
            if (intern(&s, pos + 1, cur, (uint32_t)q, NO_SYM, &over) ==
                UINT32_MAX) {
                result = over ? AA__COVER_UNKNOWN : AA__COVER_NOMEM;
                break;
            }
        }
        for (size_t a = 0; a < s.nsym; a++) {
            if (!star && !s.pmatch[pos * s.nsym + a])
                continue;
            s.work += COVER_STEP_COST + s.w;
            if (s.work > COVER_MAX_WORK) {
                result = AA__COVER_UNKNOWN;
                break;
            }
            step(&s, cur, s.adv + a * s.w, next);
            if (skip_empty)
                set_bit(next, nstates);
            if (intern(&s, star ? pos : pos + 1, next, (uint32_t)q, (uint32_t)a,
                       &over) == UINT32_MAX) {
                result = over ? AA__COVER_UNKNOWN : AA__COVER_NOMEM;
                break;
            }
        }
    }
    free(cur);
    free(live);
out:
    search_free(&s);
    return result;
}

aa__cover aa__glob_covers(const char *pat, const char *const *set, size_t n,
                          aa__buf *witness) {
    return aa__glob_covers_ex(pat, set, n, 0, witness);
}

aa__cover aa__glob_covers_ex(const char *pat, const char *const *set, size_t n,
                             unsigned flags, aa__buf *witness) {
    return aa__glob_diff(pat, NULL, 0, set, n, flags, witness);
}

aa__cover aa__glob_diff(const char *pat, const char *const *also, size_t nalso,
                        const char *const *set, size_t n, unsigned flags,
                        aa__buf *witness) {
    bool skip_empty = flags & AA__COVER_SKIP_EMPTY;
    if (witness)
        aa__buf_reset(witness);
    size_t plen = strlen(pat);
    if (!aa__utf8_valid(pat, plen))
        return AA__COVER_UNKNOWN;
    for (size_t j = 0; j < nalso; j++)
        if (!aa__utf8_valid(also[j], strlen(also[j])))
            return AA__COVER_UNKNOWN;
    for (size_t j = 0; j < n; j++)
        if (!aa__utf8_valid(set[j], strlen(set[j])))
            return AA__COVER_UNKNOWN;
    for (size_t j = 0; j < n; j++) {
        if (strspn(set[j], "*") == strlen(set[j]) && set[j][0])
            return AA__COVER_YES; /* matches everything */
        if (strcmp(set[j], pat) == 0)
            return AA__COVER_YES;
    }
    if (!aa__has_wildcard(pat)) { /* one string: just match it */
        if (skip_empty && plen == 0)
            return AA__COVER_YES;
        for (size_t j = 0; j < nalso; j++)
            if (!aa__glob_match(also[j], strlen(also[j]), pat, plen))
                return AA__COVER_YES; /* the intersection is empty */
        for (size_t j = 0; j < n; j++)
            if (aa__glob_match(set[j], strlen(set[j]), pat, plen))
                return AA__COVER_YES;
        if (witness)
            aa__buf_append(witness, pat, plen);
        return witness && witness->oom ? AA__COVER_NOMEM : AA__COVER_NO;
    }

    cover c;
    memset(&c, 0, sizeof c);
    aa__cover result = AA__COVER_NOMEM;
    size_t *nq = malloc((n + nalso ? n + nalso : 1) * sizeof *nq);
    if (!nq)
        return AA__COVER_NOMEM;
    size_t np = parse_glob(&c, pat);
    for (size_t j = 0; j < nalso; j++)
        nq[j] = parse_glob(&c, also[j]);
    for (size_t j = 0; j < n; j++)
        nq[nalso + j] = parse_glob(&c, set[j]);
    if (c.bad)
        result = AA__COVER_UNKNOWN;
    else if (!c.oom)
        result = search_run(&c, np, nq, n + nalso, nalso, skip_empty, witness);
    if (witness && witness->oom && result == AA__COVER_NO)
        result = AA__COVER_NOMEM;
    free(nq);
    free(c.tok);
    free(c.rng);
    free(c.bound);
    return result;
}

aa__cover aa__patset_covers(const aa__patset *s, const char *pat,
                            unsigned flags, aa__buf *witness) {
    const char **set = malloc((s->count ? s->count : 1) * sizeof *set);
    if (!set)
        return AA__COVER_NOMEM;
    for (size_t i = 0; i < s->count; i++)
        set[i] = s->entries[i].pat.text;
    aa__cover r = aa__glob_covers_ex(pat, set, s->count, flags, witness);
    free(set);
    return r;
}
