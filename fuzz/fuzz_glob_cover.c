/*
 * fuzz_glob_cover.c - cross-checks aa__glob_covers (is every string glob p
 * matches matched by some glob of a set?) against brute-force matching.
 *
 * Input: a first byte of flags, then p and up to 8 set patterns separated
 * by '\n'. With flag bit 0 each byte picks a token from a small table
 * ("a", "é", "*", "[!", ...) so that patterns share characters and
 * overlap; otherwise the bytes are the patterns (invalid UTF-8 must give
 * "unknown"). Flag bit 1 asks about non-empty strings only
 * (AA__COVER_SKIP_EMPTY): the empty string is then never a witness nor
 * checked. Checks:
 *   - "not covered": the witness is valid UTF-8, p matches it and no set
 *     pattern does;
 *   - "covered": no string p matches escapes the set, for every string of
 *     up to 4 characters over the characters the patterns name (and their
 *     neighbours) and for a few hundred strings built from p itself;
 *   - a literal p is covered exactly when some set pattern matches it;
 *   - adding a pattern to a covering set keeps it covering, p covers
 *     itself written differently (to skip the textual fast path), and
 *     nothing that matches a string is covered by the empty set.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pattern.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXPAT 9
#define MAXLEN 96

static const char *const tokens[] = {"a",
                                     "b",
                                     "\xc3\xa9",
                                     "\xe2\x82\xac",
                                     "\xf0\x9f\x98\x80",
                                     "*",
                                     "?",
                                     "[",
                                     "]",
                                     "!",
                                     "-",
                                     ":",
                                     "[!",
                                     "[a-",
                                     "\xc3\xa9]",
                                     "[ab]",
                                     "[!a]*",
                                     "?*",
                                     "x",
                                     "[\xc3\xa0-\xc3\xbf]"};

static uint64_t rng_state;
static uint32_t rnd(uint32_t n) { /* xorshift64*, deterministic per input */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * UINT64_C(2685821657736338717)) >> 33) %
           (n ? n : 1);
}

static bool matches(const char *p, const char *s) {
    return aa__glob_match(p, strlen(p), s, strlen(s));
}

static bool set_matches(char pats[][MAXLEN + 8], size_t n, const char *s) {
    for (size_t j = 1; j < n; j++)
        if (matches(pats[j], s))
            return true;
    return false;
}

static bool skip_empty; /* this input asks about non-empty strings */

/* p matches s but no set pattern does: a covering answer was wrong. */
static void expect_covered(char pats[][MAXLEN + 8], size_t n, const char *s) {
    if ((*s || !skip_empty) && matches(pats[0], s) && !set_matches(pats, n, s))
        abort();
}

/* Appends code point cp (skipping NUL, surrogates, non-scalars). */
static void put_cp(char *out, size_t *len, size_t cap, uint32_t cp) {
    char u[4];
    size_t k = cp ? aa__utf8_encode(cp, u) : 0;
    if (k && *len + k < cap) {
        memcpy(out + *len, u, k);
        *len += k;
        out[*len] = 0;
    }
}

/* A string built from p: each `*` becomes 0-2 characters, `?` and classes
 * one character, from the alphabet or from the class's own bounds. */
static void instantiate(const char *p, const uint32_t *alpha, size_t na,
                        char *out, size_t cap) {
    size_t len = 0, i = 0, n = strlen(p);
    out[0] = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = aa__utf8_decode(p + i, n - i, &cp);
        if (!k)
            return;
        if (cp == '*') {
            for (uint32_t r = rnd(3); r; r--)
                put_cp(out, &len, cap, alpha[rnd((uint32_t)na)]);
        } else if (cp == '?' || (cp == '[' && rnd(2))) {
            /* A character of the alphabet, or the class's first member
             * plus or minus one; the class text is then skipped. */
            uint32_t c = alpha[rnd((uint32_t)na)];
            if (cp == '[') {
                size_t j = i + 1;
                if (j < n && p[j] == '!')
                    j++;
                uint32_t first;
                if (j < n && aa__utf8_decode(p + j, n - j, &first))
                    c = first + rnd(3) - 1;
                size_t e = j + 1; /* past the class, if it closes */
                while (e < n && p[e] != ']')
                    e++;
                if (e < n)
                    k = e + 1 - i;
            }
            put_cp(out, &len, cap, c);
        } else {
            put_cp(out, &len, cap, cp);
        }
        i += k;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    data++, size--;
    static char pats[MAXPAT][MAXLEN + 8];
    size_t n = 1;
    size_t len = 0;
    pats[0][0] = 0;
    rng_state = UINT64_C(0x9e3779b97f4a7c15);
    for (size_t i = 0; i < size; i++) {
        rng_state = (rng_state ^ data[i]) * UINT64_C(0x100000001b3);
        if (data[i] == '\n') {
            if (n == MAXPAT)
                break;
            pats[n][0] = 0;
            n++;
            len = 0;
            continue;
        }
        const char *add;
        char byte[2] = {(char)data[i], 0};
        if (flags & 1)
            add = tokens[data[i] % (sizeof tokens / sizeof tokens[0])];
        else if (data[i] == 0)
            continue; /* patterns are C strings */
        else
            add = byte;
        size_t k = strlen(add);
        if (len + k > MAXLEN)
            continue;
        memcpy(pats[n - 1] + len, add, k + 1);
        len += k;
    }
    if (!rng_state)
        rng_state = 1;
    const char *set[MAXPAT];
    for (size_t j = 1; j < n; j++)
        set[j - 1] = pats[j];

    bool valid = true;
    for (size_t j = 0; j < n; j++)
        valid = valid && aa__utf8_valid(pats[j], strlen(pats[j]));

    aa__buf w;
    aa__buf_init(&w);
    skip_empty = flags & 2;
    unsigned how = skip_empty ? AA__COVER_SKIP_EMPTY : 0;
    aa__cover r = aa__glob_covers_ex(pats[0], set, n - 1, how, &w);
    if (!valid) {
        if (r != AA__COVER_UNKNOWN)
            abort();
        aa__buf_free(&w);
        return 0;
    }
    if (r == AA__COVER_NOMEM)
        abort(); /* the bounds keep memory small */

    if (r == AA__COVER_NO) {
        const char *s = w.data ? w.data : "";
        if (w.len != strlen(s) || !aa__utf8_valid(s, w.len) ||
            (skip_empty && !*s))
            abort();
        if (!matches(pats[0], s) || set_matches(pats, n, s))
            abort();
    }

    if (!aa__has_wildcard(pats[0]) && r != AA__COVER_UNKNOWN &&
        (r == AA__COVER_YES) !=
            (set_matches(pats, n, pats[0]) || (skip_empty && !pats[0][0])))
        abort();

    if (r == AA__COVER_YES) {
        /* The alphabet: characters the patterns name, their neighbours,
         * and a few others. */
        uint32_t alpha[12];
        size_t na = 0;
        alpha[na++] = 'x';
        alpha[na++] = 0xe9;
        alpha[na++] = 0x1f600;
        for (size_t j = 0; j < n && na < 12; j++) {
            const char *p = pats[j];
            size_t pl = strlen(p);
            for (size_t i = 0; i < pl && na < 12;) {
                uint32_t cp;
                size_t k = aa__utf8_decode(p + i, pl - i, &cp);
                i += k ? k : 1;
                if (!k || cp == '*' || cp == '?' || cp == '[' || cp == ']')
                    continue;
                uint32_t c = cp + rnd(3) - 1;
                bool dup = false;
                for (size_t a = 0; a < na; a++)
                    dup = dup || alpha[a] == c;
                if (!dup && c && (c < 0xd800 || c > 0xdfff) && c <= 0x10ffff)
                    alpha[na++] = c;
            }
        }
        /* Every string of up to 4 characters over the first 6. */
        size_t use = na < 6 ? na : 6;
        char s[64];
        for (size_t l = 0; l <= 4; l++) {
            size_t total = 1;
            for (size_t i = 0; i < l; i++)
                total *= use;
            for (size_t x = 0; x < total; x++) {
                size_t y = x, sl = 0;
                s[0] = 0;
                for (size_t i = 0; i < l; i++, y /= use)
                    put_cp(s, &sl, sizeof s, alpha[y % use]);
                expect_covered(pats, n, s);
            }
        }
        /* Strings built from p. */
        char t[MAXLEN * 4 + 16];
        for (int k = 0; k < 300; k++) {
            instantiate(pats[0], alpha, na, t, sizeof t);
            expect_covered(pats, n, t);
        }
        /* A larger set still covers. */
        if (n < MAXPAT) {
            set[n - 1] = "x*";
            if (aa__glob_covers_ex(pats[0], set, n, how, NULL) == AA__COVER_NO)
                abort();
        }
    }

    /* p covers itself, written differently: its first `*` doubled (when
     * it has no class, where a `*` could be a range's end). */
    const char *star = strchr(pats[0], '*');
    if (star && !strchr(pats[0], '[')) {
        char twin[MAXLEN + 8];
        size_t at = (size_t)(star - pats[0]);
        memcpy(twin, pats[0], at);
        twin[at] = '*';
        strcpy(twin + at + 1, pats[0] + at);
        const char *self[] = {twin};
        if (aa__glob_covers_ex(pats[0], self, 1, how, NULL) == AA__COVER_NO ||
            aa__glob_covers(twin, self, 0, NULL) == AA__COVER_YES)
            abort(); /* a pattern with a star matches something */
    }
    aa__buf_free(&w);
    return 0;
}
