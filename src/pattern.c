/* pattern.c - fnmatch-style globs, classified so that common cases are cheap.
 */
#include "pattern.h"

#include <stdlib.h>
#include <string.h>

bool aa__has_wildcard(const char *text) {
    return strpbrk(text, "*?[") != NULL;
}

/* A '[' that starts a valid class; Python's fnmatch treats an unclosed '['
 * as a literal. Returns the index just past ']' or 0 if not a class. */
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

static bool class_match(const char *pat, size_t start, size_t end,
                        unsigned char c) {
    size_t i = start + 1, last = end - 1; /* inside [ ... ] */
    bool negate = false;
    if (i < last && pat[i] == '!') {
        negate = true;
        i++;
    }
    bool found = false;
    while (i < last) {
        unsigned char lo = (unsigned char)pat[i];
        if (i + 2 < last && pat[i + 1] == '-') { /* a-z; z<a matches none */
            unsigned char hi = (unsigned char)pat[i + 2];
            if (lo <= c && c <= hi)
                found = true;
            i += 3;
        } else {
            if (lo == c)
                found = true;
            i++;
        }
    }
    return found != negate;
}

/* Iterative matcher with single backtrack point for '*': linear in
 * practice, never exponential. */
bool aa__glob_match(const char *pat, size_t plen, const char *s, size_t n) {
    size_t pi = 0, si = 0;
    size_t star_p = (size_t)-1, star_s = 0;
    while (si < n) {
        if (pi < plen) {
            char pc = pat[pi];
            if (pc == '*') {
                while (pi < plen && pat[pi] == '*')
                    pi++;
                if (pi == plen)
                    return true;
                star_p = pi;
                star_s = si;
                continue;
            }
            if (pc == '?') {
                pi++;
                si++;
                continue;
            }
            if (pc == '[') {
                size_t end = class_end(pat, plen, pi);
                if (end) {
                    if (class_match(pat, pi, end, (unsigned char)s[si])) {
                        pi = end;
                        si++;
                        continue;
                    }
                    goto backtrack;
                }
            }
            if (pc == s[si]) {
                pi++;
                si++;
                continue;
            }
        }
    backtrack:
        if (star_p == (size_t)-1)
            return false;
        pi = star_p;
        si = ++star_s;
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
        return n == p->litlen && memcmp(s, p->lit, n) == 0;
    case AA__PAT_ANY:
        return true;
    case AA__PAT_PREFIX:
        return n >= p->litlen && memcmp(s, p->lit, p->litlen) == 0;
    case AA__PAT_SUFFIX:
        return n >= p->litlen &&
               memcmp(s + n - p->litlen, p->lit, p->litlen) == 0;
    case AA__PAT_GLOB:
        return aa__glob_match(p->text, p->len, s, n);
    }
    return false;
}

/* ---- pattern sets -------------------------------------------------------- */

void aa__patset_init(aa__patset *s) {
    memset(s, 0, sizeof *s);
    s->any_index = -1;
}

void aa__patset_free(aa__patset *s) {
    free(s->entries);
    free(s->wild);
    aa__map_free(&s->exact);
    aa__patset_init(s);
}

bool aa__patset_add(aa__patset *s, const char *text, const void *tag) {
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        aa__patset_entry *e = realloc(s->entries, cap * sizeof *e);
        if (!e)
            return false;
        s->entries = e;
        s->cap = cap;
    }
    aa__patset_entry *e = &s->entries[s->count];
    aa__pattern_init(&e->pat, text);
    e->index = (int)s->count;
    e->tag = tag;
    s->count++;
    return true;
}

bool aa__patset_build(aa__patset *s) {
    free(s->wild);
    s->wild = NULL;
    s->nwild = 0;
    aa__map_free(&s->exact);
    s->any = false;
    s->any_index = -1;
    if (s->count == 0)
        return true;
    s->wild = malloc(s->count * sizeof *s->wild);
    if (!s->wild)
        return false;
    /* Entries do not move after this: the map points into the array. */
    for (size_t i = 0; i < s->count; i++) {
        aa__patset_entry *e = &s->entries[i];
        if (e->pat.kind == AA__PAT_EXACT) {
            if (!aa__map_get(&s->exact, e->pat.lit, e->pat.litlen) &&
                !aa__map_put(&s->exact, e->pat.lit, e->pat.litlen, e))
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
    if (s->count == 0)
        return NULL;
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
    return aa__patset_match_h(s, str, n, aa__hash(str, n));
}
