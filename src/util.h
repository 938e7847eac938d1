/*
 * util.h - small internal building blocks shared by every module: an arena,
 * a string buffer, a string-keyed hash map, error reporting, clocks, UUIDs.
 * Internal names are aa__*; nothing here is installed.
 */
#ifndef AA_UTIL_H
#define AA_UTIL_H

#include "agent_auth.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#define AA__PRINTF(f, a) __attribute__((format(printf, f, a)))
#define AA__LIKELY(x)    __builtin_expect(!!(x), 1)
#define AA__UNLIKELY(x)  __builtin_expect(!!(x), 0)
#else
#define AA__PRINTF(f, a)
#define AA__LIKELY(x)   (x)
#define AA__UNLIKELY(x) (x)
#endif

#define AA__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- arena: many small allocations freed together ---------------------- */

typedef struct aa__arena_block aa__arena_block;
typedef struct aa__arena {
    aa__arena_block *head;
    size_t total;           /* bytes handed out, for limits and statistics */
    aa__arena_block *spare; /* emptied blocks to fill before new ones */
} aa__arena;

/* Copies a caller's options struct (whose first member is its size) into
 * dst, a struct of this library's version: the caller's fields, then
 * defaults (zero). size 0 means the layout of version 0.2, which is this
 * struct's; a larger size than ours is cut to ours. Returns dst, or NULL for
 * NULL src. */
const void *aa__options_copy(void *dst, size_t dst_size, const void *src);

void aa__arena_init(aa__arena *a);
void aa__arena_free(aa__arena *a);
/* Zeroed, 16-byte aligned; NULL only when out of memory. */
void *aa__arena_alloc(aa__arena *a, size_t size);
/* The same, not zeroed: for arrays written whole at once. */
void *aa__arena_alloc_raw(aa__arena *a, size_t size);
char *aa__arena_strdup(aa__arena *a, const char *s);
char *aa__arena_strndup(aa__arena *a, const char *s, size_t n);
/* Moves every block of src into dst (src is left empty): what was
 * allocated in src now lives as long as dst. */
void aa__arena_adopt(aa__arena *dst, aa__arena *src);
/* Empties src (everything allocated in it is gone) and gives its blocks to
 * dst as room for dst's next allocations, before any new block: memory
 * that is already the process's is reused rather than asked for again.
 * aa__arena_trim frees the ones still unused. */
void aa__arena_recycle(aa__arena *dst, aa__arena *src);
void aa__arena_trim(aa__arena *a);

/* ---- growable string buffer -------------------------------------------- */

typedef struct aa__buf {
    char *data; /* always NUL-terminated when cap > 0 */
    size_t len;
    size_t cap;
    bool oom; /* an append failed; the content is truncated */
} aa__buf;

void aa__buf_init(aa__buf *b);
void aa__buf_free(aa__buf *b);
/* len = 0, keeps memory (inline: every decision resets its reason). */
static inline void aa__buf_reset(aa__buf *b) {
    b->len = 0;
    b->oom = false;
    if (b->data)
        b->data[0] = 0;
}
/* Room for `extra` more bytes and a NUL; false when out of memory. */
bool aa__buf_grow(aa__buf *b, size_t extra);
static inline bool aa__buf_reserve(aa__buf *b, size_t extra) {
    if (!b->oom && b->len + extra + 1 <= b->cap)
        return true;
    return aa__buf_grow(b, extra);
}
void aa__buf_append(aa__buf *b, const char *s, size_t n);
void aa__buf_puts(aa__buf *b, const char *s);
void aa__buf_putc(aa__buf *b, char c);
void aa__buf_printf(aa__buf *b, const char *fmt, ...) AA__PRINTF(2, 3);
void aa__buf_vprintf(aa__buf *b, const char *fmt, va_list ap) AA__PRINTF(2, 0);
/* Appends every string argument up to a NULL: a cheap printf("%s%s...")
 * for hot paths. */
void aa__buf_cat(aa__buf *b, ...);
/* Appends s[0, n) as a JSON string literal, quotes included: the one JSON
 * string escaper of the library. '"', '\\' and control characters (and
 * DEL) are escaped; well-formed UTF-8 is copied as it is; every byte that
 * does not start a well-formed UTF-8 sequence becomes U+FFFD, so the result
 * is always valid JSON that any reader accepts. */
void aa__buf_json_string(aa__buf *b, const char *s, size_t n);

/* ---- hashing and a string -> pointer map -------------------------------- */

/* 64-bit FNV-1a variant, fast on short keys. */
uint64_t aa__hash(const char *s, size_t n);

/* Whether a[0, n) equals b[0, n): keys up to 64 bytes (names, actions,
 * ids) by fixed-size loads, without a call; longer ones by memcmp. */
static inline bool aa__mem_eq(const char *a, const char *b, size_t n) {
    if (n >= 8 && n <= 16) {
        uint64_t a0, b0, a1, b1;
        memcpy(&a0, a, 8);
        memcpy(&b0, b, 8);
        memcpy(&a1, a + n - 8, 8);
        memcpy(&b1, b + n - 8, 8);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    if (n >= 4 && n < 8) {
        uint32_t a0, b0, a1, b1;
        memcpy(&a0, a, 4);
        memcpy(&b0, b, 4);
        memcpy(&a1, a + n - 4, 4);
        memcpy(&b1, b + n - 4, 4);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    if (n < 4) {
        for (size_t i = 0; i < n; i++)
            if (a[i] != b[i])
                return false;
        return true;
    }
    if (n <=
        64) { /* ids (36 bytes) and the like: words, the last overlapping */
        uint64_t diff = 0, a0, b0;
        for (size_t i = 0; i + 8 < n; i += 8) {
            memcpy(&a0, a + i, 8);
            memcpy(&b0, b + i, 8);
            diff |= a0 ^ b0;
        }
        memcpy(&a0, a + n - 8, 8);
        memcpy(&b0, b + n - 8, 8);
        return (diff | (a0 ^ b0)) == 0;
    }
    return memcmp(a, b, n) == 0;
}

typedef struct aa__map_slot {
    const char *key; /* borrowed: must outlive the map */
    size_t keylen;
    uint64_t hash;
    void *value;
} aa__map_slot;

typedef struct aa__map {
    aa__map_slot *slots;
    size_t cap; /* power of two, or 0 */
    size_t count;
} aa__map;

void aa__map_init(aa__map *m);
void aa__map_free(aa__map *m);
/* Inserts or replaces; the key is not copied. Returns false on OOM. */
bool aa__map_put(aa__map *m, const char *key, size_t keylen, void *value);
/* The same with a hash of the caller's own: a map filled this way must be
 * read with aa__map_get_h and that hash. */
bool aa__map_put_h(aa__map *m, const char *key, size_t keylen, uint64_t hash,
                   void *value);
/* Inserts unless the key is there already (the first value stays). */
bool aa__map_put_first(aa__map *m, const char *key, size_t keylen, void *value);
/* NULL when absent. `hash` must be aa__hash(key, keylen). */
void *aa__map_get_h(const aa__map *m, const char *key, size_t keylen,
                    uint64_t hash);
void *aa__map_get(const aa__map *m, const char *key, size_t keylen);
/* Room for n keys in all, so that putting them does not rehash. */
bool aa__map_reserve(aa__map *m, size_t n);
/* The slots a map of n keys needs (a power of two, load at most 3/4). */
size_t aa__map_cap_for(size_t n);
/* A map over caller-owned slots (cap of aa__map_cap_for(n)): it takes at
 * most n keys, never grows, and is not passed to aa__map_free. */
void aa__map_init_fixed(aa__map *m, aa__map_slot *slots, size_t cap);

/* ---- errors ------------------------------------------------------------- */

/* Appends a message to err (which may be NULL: then nothing happens). The
 * file name is copied. line/col 0 mean unknown. Returns `status`. */
int aa__error_add(aa_error *err, aa_severity sev, int status, const char *file,
                  int line, int col, const char *fmt, ...) AA__PRINTF(7, 8);
int aa__error_vadd(aa_error *err, aa_severity sev, int status, const char *file,
                   int line, int col, const char *fmt, va_list ap)
    AA__PRINTF(7, 0);
/* Shorthand for an error without position. */
int aa__fail(aa_error *err, int status, const char *fmt, ...) AA__PRINTF(3, 4);

/* ---- characters -------------------------------------------------------- */

/* The value of a digit 0-9, a-f or A-F (so of any base up to 16); -1 for
 * any other character. */
int aa__hex_digit(int c);

/* ---- time and identifiers ---------------------------------------------- */

int64_t aa__now_us(void);   /* CLOCK_REALTIME, microseconds */
uint64_t aa__mono_ns(void); /* CLOCK_MONOTONIC, nanoseconds */
/* A random version-4 UUID, lower case, 36 chars + NUL. AA_OK or AA_EIO. */
int aa__uuid4(char out[37]);
/* The same from 16 random bytes the caller already has (e.g. a pool). */
void aa__uuid4_format(const unsigned char random16[16], char out[37]);
/* Fills buf with n bytes from getrandom(2). AA_OK or AA_EIO. */
int aa__random(void *buf, size_t n);

/* ---- UTF-8 ------------------------------------------------------------- */

/* Length (1-4) of the well-formed UTF-8 sequence at s, of which n bytes are
 * available, or 0 when s does not start one (RFC 3629: no overlong forms,
 * no surrogates, nothing past U+10FFFF; n == 0 gives 0). Stores the code
 * point in *cp when cp is not NULL and the sequence is well formed. */
size_t aa__utf8_decode(const char *s, size_t n, uint32_t *cp);
/* Byte offset of the first byte of s[0..n) that is not part of well-formed
 * UTF-8, or n when all of it is. */
size_t aa__utf8_check(const char *s, size_t n);
static inline bool aa__utf8_valid(const char *s, size_t n) {
    return aa__utf8_check(s, n) == n;
}
/* Writes code point cp (a Unicode scalar value) as UTF-8 into out;
 * returns the length (1-4), or 0 when cp is not a scalar value. */
size_t aa__utf8_encode(uint32_t cp, char out[4]);

/* NULL when every string of the request (fields, metadata keys, string
 * values and list items) is well-formed UTF-8; otherwise names the first
 * field that is not, e.g. "'user'" or "metadata 'note'" (in buf). */
const char *aa__request_bad_utf8(const aa_request *req, char buf[96]);

/* A request's strings as aa__request_check measured them: len[] is
 * strlen of each field (0 for NULL), indexed by aa__rt_field. */
typedef enum aa__rt_field {
    AA__RT_AGENT,
    AA__RT_USER,
    AA__RT_ACTION,
    AA__RT_RESOURCE,
    AA__RT_SCOPE,
    AA__RT_SESSION_ID,
    AA__RT_TARGET_AGENT,
    AA__RT_N
} aa__rt_field;
typedef struct aa__req_text {
    size_t len[AA__RT_N];
    uint64_t agent_hash;  /* aa__hash(agent, len[AA__RT_AGENT]) */
    uint64_t action_hash; /* aa__hash(action, len[AA__RT_ACTION]) */
    uint64_t user_hash;   /* aa__hash(user, len[AA__RT_USER]) */
} aa__req_text;
/* aa__request_bad_utf8 (the same answer for every request), filling *t:
 * a request of ASCII text is checked a word at a time, in the passes that
 * measure its strings and hash agent, user and action. *t is filled in either
 * case. */
const char *aa__request_check(const aa_request *req, char buf[96],
                              aa__req_text *t);

/* strdup that returns NULL for NULL. */
char *aa__strdup(const char *s);
/* True when s is NULL or "". */
static inline bool aa__empty(const char *s) {
    return s == NULL || *s == 0;
}

#endif /* AA_UTIL_H */
