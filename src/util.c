/* util.c - arena, string buffer, hash map, UTF-8, clocks and UUIDs. */
#include "util.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ---- arena --------------------------------------------------------------- */

struct aa__arena_block {
    aa__arena_block *next;
    size_t used;
    size_t cap;
    size_t ready; /* data[0 .. ready) is in memory (see populate) */
    bool zeroed;  /* from calloc: what is not handed out yet is zero */
    _Alignas(16) unsigned char data[];
};

/* Blocks grow with the arena: 16 KiB at first, then as large as the arena
 * so far, up to 4 MiB. A large arena (the tree of a 2.7 MB policy is 10 MB)
 * is then a few large blocks, which malloc maps and unmaps whole: freed,
 * they go back to the system instead of staying as holes in the heap that
 * a later large array cannot use, and recycled (aa__arena_recycle), they
 * hold such an array. */
#define AA__ARENA_BLOCK     16384
#define AA__ARENA_BLOCK_MAX (4 * 1024 * 1024)
/* Blocks this large come from calloc, which maps them zeroed rather than
 * clearing them; a smaller block is malloc'd, and only what is asked for
 * zeroed is cleared (a short-lived arena may use a few bytes of it). */
#define AA__ARENA_CALLOC (128 * 1024)

/* The pages of a big block are brought in AA__ARENA_POPULATE bytes at a
 * time, ahead of use, by one madvise(MADV_POPULATE_WRITE) call each,
 * rather than by a page fault each (2-3 us apiece on a virtual machine);
 * at most that much of a block is in memory before it is used. */
#define AA__ARENA_POPULATE (32 * 1024)
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
static atomic_int populate_off; /* the kernel has no MADV_POPULATE_WRITE */

static void populate(aa__arena_block *b, size_t end) {
    long ps = sysconf(_SC_PAGESIZE);
    size_t page = ps > 0 ? (size_t)ps : 4096;
    size_t to = end + AA__ARENA_POPULATE;
    if (to > b->cap)
        to = b->cap;
    /* Whole pages from the one `ready` is in (perhaps in memory already)
     * to the one `to` is in (which the next call starts with). */
    uintptr_t base = (uintptr_t)b->data;
    uintptr_t lo = (base + b->ready) & ~(uintptr_t)(page - 1);
    uintptr_t hi = (base + to) & ~(uintptr_t)(page - 1);
    b->ready = to == b->cap || hi <= base + end ? to : (size_t)(hi - base);
    if (hi <= lo || atomic_load_explicit(&populate_off, memory_order_relaxed))
        return;
    int saved = errno; /* a failure here is only slower */
    if (madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE) != 0 &&
        errno == EINVAL)
        atomic_store_explicit(&populate_off, 1, memory_order_relaxed);
    errno = saved;
}

void aa__arena_init(aa__arena *a) {
    memset(a, 0, sizeof *a);
}

static void free_blocks(aa__arena_block *b) {
    while (b) {
        aa__arena_block *next = b->next;
        free(b);
        b = next;
    }
}

void aa__arena_free(aa__arena *a) {
    free_blocks(a->head);
    free_blocks(a->spare);
    aa__arena_init(a);
}

void aa__arena_trim(aa__arena *a) {
    free_blocks(a->spare);
    a->spare = NULL;
}

void aa__arena_recycle(aa__arena *dst, aa__arena *src) {
    aa__arena_block *b = src->head;
    while (b) {
        aa__arena_block *next = b->next;
        if (b->ready > b->used)
            b->ready = b->used; /* no further than the tree wrote */
        b->used = 0;
        b->zeroed = false; /* written: cleared when handed out zeroed */
        b->next = dst->spare;
        dst->spare = b;
        b = next;
    }
    src->head = NULL;
    aa__arena_free(src); /* its own spare blocks, if any */
}

/* The first spare block of a with room for `size` bytes, taken out of the
 * spare list; NULL when there is none. */
static aa__arena_block *take_spare(aa__arena *a, size_t size) {
    for (aa__arena_block **pb = &a->spare; *pb; pb = &(*pb)->next) {
        aa__arena_block *b = *pb;
        if (b->cap >= size) {
            *pb = b->next;
            return b;
        }
    }
    return NULL;
}

/* Room for `size` bytes at `align` (16 or 1) in the head block, which
 * gets a successor when full. Zeroed when `zero` (each byte of a block is
 * handed out once, so a calloc'd block needs no memset). */
static void *arena_take(aa__arena *a, size_t size, size_t align, bool zero) {
    aa__arena_block *b = a->head;
    size_t at = b ? (b->used + align - 1) & ~(align - 1) : 0;
    if (!b || at > b->cap || b->cap - at < size) {
        size_t block = a->total < AA__ARENA_BLOCK       ? AA__ARENA_BLOCK
                       : a->total < AA__ARENA_BLOCK_MAX ? a->total
                                                        : AA__ARENA_BLOCK_MAX;
        size_t cap = size > block / 4 ? size : block;
        aa__arena_block *nb = take_spare(a, size);
        if (nb) {
            cap = nb->cap;
        } else {
            bool big = cap >= AA__ARENA_CALLOC;
            nb = big ? calloc(1, sizeof *nb + cap) : malloc(sizeof *nb + cap);
            if (!nb)
                return NULL;
            nb->used = 0;
            nb->cap = cap;
            nb->zeroed = big;
            nb->ready = big ? 0 : cap;
        }
        if (b && cap == size) { /* big one-off: keep filling the current */
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            a->head = nb;
        }
        b = nb;
        at = 0;
    }
    void *p = b->data + at;
    b->used = at + size;
    if (b->used > b->ready)
        populate(b, b->used);
    a->total += size;
    if (zero && !b->zeroed)
        memset(p, 0, size);
    return p;
}

void *aa__arena_alloc_raw(aa__arena *a, size_t size) {
    size = (size + 15) & ~(size_t)15;
    return arena_take(a, size ? size : 16, 16, false);
}

void *aa__arena_alloc(aa__arena *a, size_t size) {
    size = (size + 15) & ~(size_t)15;
    return arena_take(a, size ? size : 16, 16, true);
}

/* Strings are packed byte by byte, and not zeroed first: they are written
 * whole. */
char *aa__arena_strndup(aa__arena *a, const char *s, size_t n) {
    char *p = arena_take(a, n + 1, 1, false);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

void aa__arena_adopt(aa__arena *dst, aa__arena *src) {
    aa__arena_block *b = src->head;
    if (!b)
        return;
    while (b->next)
        b = b->next;
    b->next = dst->head; /* src's head stays the block being filled */
    dst->head = src->head;
    dst->total += src->total;
    free_blocks(src->spare);
    aa__arena_init(src);
}

char *aa__arena_strdup(aa__arena *a, const char *s) {
    return s ? aa__arena_strndup(a, s, strlen(s)) : NULL;
}

/* ---- string buffer ------------------------------------------------------- */

void aa__buf_init(aa__buf *b) {
    memset(b, 0, sizeof *b);
}

void aa__buf_free(aa__buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

bool aa__buf_grow(aa__buf *b, size_t extra) {
    if (b->oom)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void aa__buf_append(aa__buf *b, const char *s, size_t n) {
    if (!aa__buf_reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

void aa__buf_puts(aa__buf *b, const char *s) {
    aa__buf_append(b, s, strlen(s));
}

void aa__buf_putc(aa__buf *b, char c) {
    aa__buf_append(b, &c, 1);
}

void aa__buf_vprintf(aa__buf *b, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    if ((size_t)n < sizeof tmp) {
        aa__buf_append(b, tmp, (size_t)n);
    } else if (aa__buf_reserve(b, (size_t)n)) {
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
}

void aa__buf_printf(aa__buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    aa__buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void aa__buf_cat(aa__buf *b, ...) {
    va_list ap;
    va_start(ap, b);
    const char *s;
    while ((s = va_arg(ap, const char *)))
        aa__buf_append(b, s, strlen(s));
    va_end(ap);
}

/* One byte or escape into dst when it fits; the length counts regardless. */
#define QPUT(src, k)                                                           \
    do {                                                                       \
        size_t k_ = (k);                                                       \
        if (len + k_ < cap)                                                    \
            memcpy(dst + len, (src), k_);                                      \
        len += k_;                                                             \
    } while (0)

size_t aa_json_quote(const char *s, size_t n, char *dst, size_t cap) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    if (!s)
        n = 0;
    size_t len = 0, start = 0;
    QPUT("\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        if (AA__LIKELY(c >= 0x20 && c != '"' && c != '\\' && c < 0x7f)) {
            i++;
            continue;
        }
        size_t k = c >= 0x80 ? aa__utf8_decode(s + i, n - i, NULL) : 0;
        if (k > 0) {
            i += k;
            continue;
        }
        QPUT(s + start, i - start);
        start = ++i;
        switch (c) {
        case '"':
            QPUT("\\\"", 2);
            break;
        case '\\':
            QPUT("\\\\", 2);
            break;
        case '\n':
            QPUT("\\n", 2);
            break;
        case '\r':
            QPUT("\\r", 2);
            break;
        case '\t':
            QPUT("\\t", 2);
            break;
        default:
            if (c >= 0x80) { /* not UTF-8: U+FFFD REPLACEMENT CHARACTER */
                QPUT("\xef\xbf\xbd", 3);
            } else {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                QPUT(esc, 6);
            }
        }
    }
    QPUT(s + start, n - start);
    QPUT("\"", 1);
    if (len < cap)
        dst[len] = 0;
    return len;
}
#undef QPUT

void aa__buf_json_string(aa__buf *b, const char *s, size_t n) {
    if (!aa__buf_reserve(b, n + 3))
        return;
    size_t need =
        aa_json_quote(s, n, b->data + b->len, b->cap - b->len); /* one pass */
    if (need >= b->cap - b->len) {                              /* escapes */
        if (!aa__buf_reserve(b, need + 1))
            return;
        aa_json_quote(s, n, b->data + b->len, b->cap - b->len);
    }
    b->len += need;
}

/* ---- hash map ------------------------------------------------------------ */

/* The last 1-7 bytes of a string as one word, by fixed-size loads (no
 * memcpy call) that stay inside s[0, n): every byte is in the word, each
 * in a lane of its own (bits 8k to 8k+7), so a byte's top bit is a top
 * bit of a lane. */
static inline uint64_t tail_word(const char *s, size_t n) {
    if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        return (uint64_t)a << 32 | b;
    }
    return (uint64_t)(unsigned char)s[0] << 16 |
           (uint64_t)(unsigned char)s[n / 2] << 8 | (unsigned char)s[n - 1];
}

/* aa__hash, also ORing every word it reads into *seen (which then has a
 * lane's top bit set when some byte of s is not ASCII). */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline uint64_t
hash_seen(const char *s, size_t n, uint64_t *seen) {
    const uint64_t k = 0x9e3779b97f4a7c15ULL;
    uint64_t h = 0x243f6a8885a308d3ULL ^ (n * k);
    uint64_t acc = 0;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        acc |= w;
        h = (h ^ w) * k;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = tail_word(s, n);
        acc |= w;
        h = (h ^ w) * k;
        h ^= h >> 29;
    }
    *seen |= acc;
    h *= 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 32);
}

/* Eight bytes at a time: names and actions are short, and this is on the
 * decision path (agent and action are hashed once per request). */
uint64_t aa__hash(const char *s, size_t n) {
    uint64_t unused = 0;
    return hash_seen(s, n, &unused);
}

void aa__map_init(aa__map *m) {
    memset(m, 0, sizeof *m);
}

void aa__map_free(aa__map *m) {
    free(m->slots);
    memset(m, 0, sizeof *m);
}

size_t aa__map_cap_for(size_t n) {
    size_t cap = 2;
    while (n * 4 > cap * 3)
        cap *= 2;
    return cap;
}

void aa__map_init_fixed(aa__map *m, aa__map_slot *slots, size_t cap) {
    memset(slots, 0, cap * sizeof *slots);
    m->slots = slots;
    m->cap = cap;
    m->count = 0;
}

static bool map_rehash(aa__map *m, size_t cap) {
    aa__map_slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < m->cap; i++) {
        aa__map_slot *s = &m->slots[i];
        if (!s->key)
            continue;
        size_t j = s->hash & (cap - 1);
        while (slots[j].key)
            j = (j + 1) & (cap - 1);
        slots[j] = *s;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return true;
}

static bool map_grow(aa__map *m) {
    return map_rehash(m, m->cap ? m->cap * 2 : 16);
}

bool aa__map_reserve(aa__map *m, size_t n) {
    size_t cap = aa__map_cap_for(n);
    return cap <= m->cap || map_rehash(m, cap);
}

static bool map_insert(aa__map *m, const char *key, size_t keylen, uint64_t h,
                       void *value, bool replace) {
    if ((m->count + 1) * 4 > m->cap * 3 && !map_grow(m))
        return false;
    size_t j = h & (m->cap - 1);
    while (m->slots[j].key) {
        aa__map_slot *s = &m->slots[j];
        if (s->hash == h && s->keylen == keylen &&
            memcmp(s->key, key, keylen) == 0) {
            if (replace)
                s->value = value;
            return true;
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->slots[j] = (aa__map_slot){key, keylen, h, value};
    m->count++;
    return true;
}

bool aa__map_put_h(aa__map *m, const char *key, size_t keylen, uint64_t hash,
                   void *value) {
    return map_insert(m, key, keylen, hash, value, true);
}

bool aa__map_put(aa__map *m, const char *key, size_t keylen, void *value) {
    return map_insert(m, key, keylen, aa__hash(key, keylen), value, true);
}

bool aa__map_put_first(aa__map *m, const char *key, size_t keylen,
                       void *value) {
    return map_insert(m, key, keylen, aa__hash(key, keylen), value, false);
}

void *aa__map_get_h(const aa__map *m, const char *key, size_t keylen,
                    uint64_t h) {
    if (m->count == 0)
        return NULL;
    size_t j = h & (m->cap - 1);
    while (m->slots[j].key) {
        const aa__map_slot *s = &m->slots[j];
        if (s->hash == h && s->keylen == keylen &&
            aa__mem_eq(s->key, key, keylen))
            return s->value;
        j = (j + 1) & (m->cap - 1);
    }
    return NULL;
}

void *aa__map_get(const aa__map *m, const char *key, size_t keylen) {
    return aa__map_get_h(m, key, keylen, aa__hash(key, keylen));
}

/* ---- time and identifiers ------------------------------------------------ */

int64_t aa__now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

uint64_t aa__mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int aa__random(void *buf, size_t n) {
    unsigned char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(p + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return AA_EIO;
        }
        got += (size_t)r;
    }
    return AA_OK;
}

int aa__hex_digit(int c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void aa__uuid4_format(const unsigned char random16[16], char out[37]) {
    unsigned char r[16];
    memcpy(r, random16, 16);
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40); /* version 4 */
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[r[i] >> 4];
        *p++ = hex[r[i] & 15];
    }
    *p = 0;
}

int aa__uuid4(char out[37]) {
    unsigned char r[16];
    if (aa__random(r, sizeof r) != AA_OK)
        return AA_EIO;
    aa__uuid4_format(r, out);
    return AA_OK;
}

/* ---- UTF-8 --------------------------------------------------------------- */

size_t aa__utf8_decode(const char *s, size_t n, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)s;
    if (n == 0)
        return 0;
    unsigned char c = u[0];
    if (c < 0x80) {
        if (cp)
            *cp = c;
        return 1;
    }
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */
    uint32_t v;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, v = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, v = c & 0x0f;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, v = c & 0x07;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* past U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || u[1] < lo || u[1] > hi)
        return 0;
    v = v << 6 | (u[1] & 0x3f);
    for (size_t i = 2; i < len; i++) {
        if (u[i] < 0x80 || u[i] > 0xbf)
            return 0;
        v = v << 6 | (u[i] & 0x3f);
    }
    if (cp)
        *cp = v;
    return len;
}

size_t aa__utf8_check(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        /* Eight ASCII bytes at a time: most text is ASCII. */
        if (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & UINT64_C(0x8080808080808080))) {
                i += 8;
                continue;
            }
        }
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = aa__utf8_decode(s + i, n - i, NULL);
        if (k == 0)
            return i;
        i += k;
    }
    return n;
}

size_t aa__utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp >= 0xd800 && cp <= 0xdfff)
        return 0;
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    if (cp > 0x10ffff)
        return 0;
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* One pass over a NUL-terminated string (NULL is fine), a byte at a
 * time. A sequence cut by the NUL fails at the NUL, before any byte past
 * it is read. */
static bool utf8_str(const char *s) {
    const unsigned char *u = (const unsigned char *)s;
    if (!u)
        return true;
    for (;;) {
        while ((signed char)*u > 0) /* ASCII, not NUL */
            u++;
        if (!*u)
            return true;
        size_t k = aa__utf8_decode((const char *)u, 4, NULL);
        if (!k)
            return false;
        u += k;
    }
}

/* A metadata value: a string, or a list whose string items are UTF-8. */
static bool utf8_value(const aa_meta *m) {
    if (m->type == AA_VALUE_STRING)
        return utf8_str(m->string);
    for (size_t i = 0; m->type == AA_VALUE_LIST && m->items && i < m->count;
         i++)
        if (m->items[i].type == AA_VALUE_STRING &&
            !utf8_str(m->items[i].string))
            return false;
    return true;
}

const char *aa__request_bad_utf8(const aa_request *req, char buf[96]) {
    if (!utf8_str(req->agent))
        return "'agent'";
    if (!utf8_str(req->user))
        return "'user'";
    if (!utf8_str(req->action))
        return "'action'";
    if (!utf8_str(req->resource))
        return "'resource'";
    if (!utf8_str(req->scope))
        return "'scope'";
    if (!utf8_str(req->session_id))
        return "'session_id'";
    if (!utf8_str(req->target_agent))
        return "'target_agent'";
    for (size_t i = 0; req->metadata && i < req->metadata_count; i++) {
        const aa_meta *m = &req->metadata[i];
        if (!utf8_str(m->key)) {
            snprintf(buf, 96, "metadata key number %zu", i + 1);
            return buf;
        }
        if (!utf8_value(m)) {
            if (m->key && strlen(m->key) <= 64)
                snprintf(buf, 96, "metadata '%s'", m->key);
            else
                snprintf(buf, 96, "the value of metadata key number %zu",
                         i + 1);
            return buf;
        }
    }
    return NULL;
}

/* The OR of the words of s[0, n) (see tail_word). */
static inline uint64_t words_or(const char *s, size_t n) {
    uint64_t acc = 0;
    for (; n >= 8; s += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        acc |= w;
    }
    return n ? acc | tail_word(s, n) : acc;
}

/* strlen(s), 0 for NULL, ORing s's words into *seen. */
static inline size_t len_seen(const char *s, uint64_t *seen) {
    if (!s)
        return 0;
    size_t n = strlen(s);
    *seen |= words_or(s, n);
    return n;
}

#define NOT_ASCII UINT64_C(0x8080808080808080)

const char *aa__request_check(const aa_request *req, char buf[96],
                              aa__req_text *t) {
    /* ASCII is UTF-8: the common request is measured and hashed by words,
     * and read byte by byte only when some byte is not ASCII (then by
     * aa__request_bad_utf8, which names the field). strlen and the words
     * read nothing past a string's NUL. */
    uint64_t seen = 0;
    size_t *len = t->len;
    len[AA__RT_AGENT] = req->agent ? strlen(req->agent) : 0;
    len[AA__RT_ACTION] = req->action ? strlen(req->action) : 0;
    t->agent_hash =
        hash_seen(req->agent ? req->agent : "", len[AA__RT_AGENT], &seen);
    t->action_hash =
        hash_seen(req->action ? req->action : "", len[AA__RT_ACTION], &seen);
    len[AA__RT_USER] = req->user ? strlen(req->user) : 0;
    t->user_hash =
        hash_seen(req->user ? req->user : "", len[AA__RT_USER], &seen);
    len[AA__RT_RESOURCE] = len_seen(req->resource, &seen);
    len[AA__RT_SCOPE] = len_seen(req->scope, &seen);
    len[AA__RT_SESSION_ID] = len_seen(req->session_id, &seen);
    len[AA__RT_TARGET_AGENT] = len_seen(req->target_agent, &seen);
    for (size_t i = 0; req->metadata && i < req->metadata_count; i++) {
        const aa_meta *m = &req->metadata[i];
        len_seen(m->key, &seen);
        if (m->type == AA_VALUE_STRING)
            len_seen(m->string, &seen);
        for (size_t k = 0; m->type == AA_VALUE_LIST && m->items && k < m->count;
             k++)
            if (m->items[k].type == AA_VALUE_STRING)
                len_seen(m->items[k].string, &seen);
    }
    if (!(seen & NOT_ASCII))
        return NULL;
    return aa__request_bad_utf8(req, buf);
}

char *aa__strdup(const char *s) {
    return s ? strdup(s) : NULL;
}

int64_t aa_now(void) {
    return aa__now_us();
}

size_t aa_utf8_check(const char *s, size_t n) {
    return s ? aa__utf8_check(s, n) : 0;
}

const void *aa__options_copy(void *dst, size_t dst_size, const void *src) {
    memset(dst, 0, dst_size);
    if (!src)
        return NULL;
    size_t n;
    memcpy(&n, src, sizeof n);
    if (n == 0 || n > dst_size)
        n = dst_size;
    memcpy(dst, src, n);
    return dst;
}
