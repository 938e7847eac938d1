/*
 * request_json.c - reads one request from JSON text (aa_request_from_json):
 * the format of a `check --batch` line and of a server request body.
 *
 * The common request - string fields, a metadata object of scalars and
 * lists of scalars, maybe an "id" - is decoded by a small strict scanner
 * into the caller's buffer, with no allocation once the buffer has grown.
 * Anything else (an error of any kind, a duplicate key, an escape it does
 * not handle, a number it would have to round, a nested value) makes it
 * give up, and the text goes through jansson and aa__request_from_jansson
 * instead, which decide and word the error. So both paths accept the same
 * requests and say the same things; fuzz/fuzz_request_parse.c checks that
 * they agree. Every request costs time linear in its size: duplicate
 * metadata keys are found with a hash set once there are more than a few.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request_json.h"
#include "util.h"

/* Up to this many metadata keys, duplicates are found by comparing each
 * new key with the earlier ones; past it, by the hash set. */
#define SMALL_KEYS 16

typedef struct scan {
    const char *p, *end;
    char *out; /* where decoded strings go (scratch) */
} scan;

static void ws(scan *s) {
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n'))
        s->p++;
}

static bool hex4(const char *p, unsigned *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int h = aa__hex_digit(p[i]);
        if (h < 0)
            return false;
        *v = *v << 4 | (unsigned)h;
    }
    return true;
}

/* Length of a valid UTF-8 sequence at p (0 if invalid), as jansson checks
 * it: no overlong forms, no surrogates, nothing past U+10FFFF. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0];
    size_t n;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return n;
}

/* Decodes a string at s->p (at the opening quote) into s->out, NUL
 * terminated; returns its start, or NULL to give up. */
static const char *string(scan *s) {
    if (s->p >= s->end || *s->p != '"')
        return NULL;
    s->p++;
    char *start = s->out, *o = s->out;
    while (s->p < s->end) {
        /* Plain ASCII runs, the usual case, are copied whole. */
        const char *run = s->p;
        while (s->p < s->end && (unsigned char)*s->p >= 0x20 &&
               (unsigned char)*s->p < 0x80 && *s->p != '"' && *s->p != '\\')
            s->p++;
        if (s->p > run) {
            memcpy(o, run, (size_t)(s->p - run));
            o += s->p - run;
            if (s->p >= s->end)
                break;
        }
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            s->p++;
            *o++ = 0;
            s->out = o;
            return start;
        }
        if (c < 0x20)
            return NULL;
        if (c == '\\') {
            if (s->end - s->p < 2)
                return NULL;
            char e = s->p[1];
            s->p += 2;
            switch (e) {
            case '"':
                *o++ = '"';
                break;
            case '\\':
                *o++ = '\\';
                break;
            case '/':
                *o++ = '/';
                break;
            case 'b':
                *o++ = '\b';
                break;
            case 'f':
                *o++ = '\f';
                break;
            case 'n':
                *o++ = '\n';
                break;
            case 'r':
                *o++ = '\r';
                break;
            case 't':
                *o++ = '\t';
                break;
            case 'u': {
                unsigned v;
                if (s->end - s->p < 4 || !hex4(s->p, &v) || v == 0 ||
                    (v >= 0xD800 && v <= 0xDFFF))
                    return NULL; /* NULs and surrogates: the slow path */
                s->p += 4;
                if (v < 0x80) {
                    *o++ = (char)v;
                } else if (v < 0x800) {
                    *o++ = (char)(0xC0 | v >> 6);
                    *o++ = (char)(0x80 | (v & 0x3F));
                } else {
                    *o++ = (char)(0xE0 | v >> 12);
                    *o++ = (char)(0x80 | ((v >> 6) & 0x3F));
                    *o++ = (char)(0x80 | (v & 0x3F));
                }
                break;
            }
            default:
                return NULL;
            }
            continue;
        }
        size_t n = utf8_len((const unsigned char *)s->p,
                            (const unsigned char *)s->end);
        if (n == 0)
            return NULL;
        memcpy(o, s->p, n);
        o += n;
        s->p += n;
    }
    return NULL;
}

/* A JSON number that a double holds exactly as jansson would read it:
 * at most 15 significant digits, no exponent. */
static bool number(scan *s, double *v) {
    const char *q = s->p;
    if (q < s->end && *q == '-') {
        q++;
        if (q < s->end && *q == '0')
            return false; /* -0: jansson reads an integer 0, strtod -0.0 */
    }
    const char *digits = q;
    if (q < s->end && *q == '0')
        q++;
    else
        while (q < s->end && *q >= '0' && *q <= '9')
            q++;
    if (q == digits)
        return false;
    bool real = false;
    if (q < s->end && *q == '.') {
        real = true;
        const char *f = ++q;
        while (q < s->end && *q >= '0' && *q <= '9')
            q++;
        if (q == f)
            return false;
    }
    if (q < s->end && (*q == 'e' || *q == 'E'))
        return false;
    if (q - digits > 15 + real)
        return false;
    char tmp[40];
    size_t n = (size_t)(q - s->p);
    memcpy(tmp, s->p, n);
    tmp[n] = 0;
    *v = strtod(tmp, NULL);
    s->p = q;
    return true;
}

static bool literal(scan *s, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return false;
    s->p += n;
    return true;
}

/* True, past it, when the container just opened closes at once. */
static bool closes_at_once(scan *s, char close) {
    ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return true;
    }
    return false;
}

/* An object member's key and its ':', or NULL. */
static const char *member_key(scan *s) {
    ws(s);
    const char *key = string(s);
    if (!key)
        return NULL;
    ws(s);
    if (s->p >= s->end || *s->p++ != ':')
        return NULL;
    ws(s);
    return key;
}

/* After an item of a container: 1 past its closing byte, 0 past the ','
 * before the next item, -1 on anything else. */
static int next_item(scan *s, char close) {
    ws(s);
    if (s->p >= s->end)
        return -1;
    if (*s->p == close) {
        s->p++;
        return 1;
    }
    return *s->p++ == ',' ? 0 : -1;
}

/* Skips any JSON value (for "id"), decoding strings to check them. An
 * object of more than one member gives up: whether two of its keys are the
 * same (which makes the line invalid, as it does anywhere) is left to the
 * slow path. */
static bool skip_value(scan *s, int depth) {
    ws(s);
    if (s->p >= s->end || depth > 16)
        return false;
    double d;
    switch (*s->p) {
    case '"':
        return string(s) != NULL;
    case 't':
        return literal(s, "true");
    case 'f':
        return literal(s, "false");
    case 'n':
        return literal(s, "null");
    case '[':
    case '{': {
        char close = *s->p == '[' ? ']' : '}';
        bool obj = close == '}';
        s->p++;
        if (closes_at_once(s, close))
            return true;
        for (size_t n = 1;; n++) {
            if ((obj && (n > 1 || !member_key(s))) || !skip_value(s, depth + 1))
                return false;
            int end = next_item(s, close);
            if (end)
                return end > 0;
        }
    }
    default:
        return number(s, &d);
    }
}

static bool empty(const char *s) {
    return !s || !*s;
}

static const char *const fields[] = {
    "agent", "user",       "action",       "resource",
    "scope", "session_id", "target_agent",
};
enum { NFIELDS = sizeof fields / sizeof *fields };

static const char **field_slot(aa_request *req, size_t k) {
    const char **slots[] = {&req->agent,       &req->user,  &req->action,
                            &req->resource,    &req->scope, &req->session_id,
                            &req->target_agent};
    return slots[k];
}

/* Room for n metadata entries. */
static bool grow_meta(aa_request_buf *b, size_t n) {
    if (n <= b->metacap)
        return true;
    size_t cap = b->metacap ? b->metacap : 8;
    while (cap < n)
        cap *= 2;
    aa_meta *m = realloc(b->meta, cap * sizeof *m);
    if (!m)
        return false;
    b->meta = m;
    b->metacap = cap;
    return true;
}

/* Room for n list elements. */
static bool grow_items(aa_request_buf *b, size_t n) {
    if (n <= b->itemcap)
        return true;
    size_t cap = b->itemcap ? b->itemcap : 8;
    while (cap < n)
        cap *= 2;
    aa_meta *m = realloc(b->items, cap * sizeof *m);
    if (!m)
        return false;
    b->items = m;
    b->itemcap = cap;
    return true;
}

/* Points each list value at its elements: lists take their elements from
 * b->items in order, so this is done once, after the pool stopped moving. */
static void link_lists(aa_request_buf *b, size_t nmeta) {
    size_t off = 0;
    for (size_t i = 0; i < nmeta; i++)
        if (b->meta[i].type == AA_VALUE_LIST) {
            b->meta[i].items = b->items + off;
            off += b->meta[i].count;
        }
}

/* Whether key (of length len) is among the first n metadata keys of this
 * request, adding it when not. Linear in n up to SMALL_KEYS, then a hash
 * set whose slots carry the line's generation, so nothing is cleared
 * between requests. false on a duplicate or when out of memory (*oom). */
static bool new_key(aa_request_buf *b, size_t n, const char *key, size_t len,
                    bool *oom) {
    if (n < SMALL_KEYS) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(b->meta[i].key, key) == 0)
                return false;
        return true;
    }
    if (n == SMALL_KEYS || (n + 1) * 2 > b->setcap) {
        /* (Re)build the set from the keys so far, in a new generation. */
        size_t cap = b->setcap ? b->setcap : 64;
        while ((n + 1) * 2 > cap)
            cap *= 2;
        if (cap != b->setcap) {
            aa__keyslot *s = calloc(cap, sizeof *s);
            if (!s) {
                *oom = true;
                return false;
            }
            free(b->set);
            b->set = s;
            b->setcap = cap;
            b->gen = 0;
        }
        if (++b->gen == 0) { /* wrapped: old stamps could look current */
            memset(b->set, 0, b->setcap * sizeof *b->set);
            b->gen = 1;
        }
        for (size_t i = 0; i < n; i++) {
            const char *k = b->meta[i].key;
            size_t h = (size_t)aa__hash(k, strlen(k)) & (b->setcap - 1);
            while (b->set[h].gen == b->gen)
                h = (h + 1) & (b->setcap - 1);
            b->set[h].gen = b->gen;
            b->set[h].idx = (uint32_t)i;
        }
    }
    size_t h = (size_t)aa__hash(key, len) & (b->setcap - 1);
    while (b->set[h].gen == b->gen) {
        if (strcmp(b->meta[b->set[h].idx].key, key) == 0)
            return false;
        h = (h + 1) & (b->setcap - 1);
    }
    b->set[h].gen = b->gen;
    b->set[h].idx = (uint32_t)n;
    return true;
}

/* A scalar value into m (its key is left alone); false to give up. */
static bool scalar(scan *s, aa_meta *m) {
    if (s->p < s->end && *s->p == '"') {
        m->type = AA_VALUE_STRING;
        return (m->string = string(s)) != NULL;
    }
    if (literal(s, "true")) {
        m->type = AA_VALUE_BOOL;
        m->boolean = 1;
    } else if (literal(s, "false")) {
        m->type = AA_VALUE_BOOL;
    } else if (literal(s, "null")) {
        m->type = AA_VALUE_NULL;
    } else {
        m->type = AA_VALUE_NUMBER;
        return number(s, &m->number);
    }
    return true;
}

/* The metadata object's members after its '{'; *nmeta counts them, *nitems
 * the list elements. false to give up. */
static bool fast_metadata(aa_request_buf *b, scan *s, size_t *nmeta,
                          size_t *nitems) {
    if (closes_at_once(s, '}'))
        return true;
    for (;;) {
        const char *mk = member_key(s);
        if (!mk)
            return false;
        bool oom = false;
        if (!grow_meta(b, *nmeta + 1) ||
            !new_key(b, *nmeta, mk, (size_t)(s->out - mk - 1), &oom))
            return false; /* a duplicate: the slow path says so */
        aa_meta *m = &b->meta[*nmeta];
        memset(m, 0, sizeof *m);
        m->key = mk;
        if (s->p < s->end && *s->p == '[') {
            s->p++;
            m->type = AA_VALUE_LIST;
            if (!closes_at_once(s, ']')) {
                for (;;) {
                    ws(s);
                    if (!grow_items(b, *nitems + 1))
                        return false;
                    aa_meta *it = &b->items[*nitems];
                    memset(it, 0, sizeof *it);
                    if (s->p < s->end && (*s->p == '[' || *s->p == '{'))
                        return false; /* nested: the slow path says so */
                    if (!scalar(s, it))
                        return false;
                    ++*nitems;
                    m->count++;
                    int end = next_item(s, ']');
                    if (end < 0)
                        return false;
                    if (end)
                        break;
                }
            }
        } else if (!scalar(s, m)) {
            return false;
        }
        ++*nmeta;
        int end = next_item(s, '}');
        if (end < 0)
            return false;
        if (end)
            return true;
    }
}

/* The fast path. true: req filled; false: give up (nothing is said). */
static bool fast(aa_request_buf *b, const char *text, size_t len,
                 aa_request *req) {
    if (b->cap < len + 1) {
        size_t cap = len + 1 < 1024 ? 1024 : len + 1;
        char *p = realloc(b->scratch, cap);
        if (!p)
            return false;
        b->scratch = p;
        b->cap = cap;
    }
    scan s = {text, text + len, b->scratch};
    unsigned seen = 0;
    size_t nmeta = 0, nitems = 0;
    ws(&s);
    if (s.p >= s.end || *s.p++ != '{')
        return false;
    if (!closes_at_once(&s, '}')) {
        for (;;) {
            const char *key = member_key(&s);
            if (!key)
                return false;
            /* 0..6: the string fields, 7: metadata, 8: id */
            size_t k = 0;
            while (k < NFIELDS && strcmp(key, fields[k]) != 0)
                k++;
            if (k == NFIELDS && strcmp(key, "metadata") != 0)
                k = strcmp(key, "id") == 0 ? 8 : 9;
            if (k == 9 || (seen & 1u << k))
                return false; /* an unknown field, or a duplicate */
            seen |= 1u << k;
            if (k < NFIELDS) {
                const char **slot = field_slot(req, k);
                if (literal(&s, "null"))
                    *slot = NULL;
                else if (!(*slot = string(&s)))
                    return false;
            } else if (k == 8) { /* id */
                const char *start = s.p;
                if (!skip_value(&s, 0))
                    return false;
                b->id = start;
                b->idlen = (size_t)(s.p - start);
            } else if (!literal(&s, "null")) { /* metadata */
                if (s.p >= s.end || *s.p++ != '{' ||
                    !fast_metadata(b, &s, &nmeta, &nitems))
                    return false;
            }
            int end = next_item(&s, '}');
            if (end < 0)
                return false;
            if (end)
                break;
        }
    }
    ws(&s);
    if (s.p != s.end)
        return false;
    if (empty(req->agent) || empty(req->user) || empty(req->action))
        return false; /* the slow path says which */
    link_lists(b, nmeta);
    req->metadata = nmeta ? b->meta : NULL;
    req->metadata_count = nmeta;
    return true;
}

/* ---- the slow path --------------------------------------------------------
 */

static int meta_value(const char *key, const json_t *v, aa_meta *m,
                      aa_error *err) {
    switch (json_typeof(v)) {
    case JSON_STRING:
        if (strlen(json_string_value(v)) != json_string_length(v))
            return aa__fail(err, AA_EINVAL,
                            "metadata '%s' contains a NUL character", key);
        m->type = AA_VALUE_STRING;
        m->string = json_string_value(v);
        return AA_OK;
    case JSON_INTEGER:
        m->type = AA_VALUE_NUMBER;
        m->number = (double)json_integer_value(v);
        return AA_OK;
    case JSON_REAL:
        m->type = AA_VALUE_NUMBER;
        m->number = json_real_value(v);
        return AA_OK;
    case JSON_TRUE:
        m->type = AA_VALUE_BOOL;
        m->boolean = 1;
        return AA_OK;
    case JSON_FALSE:
        m->type = AA_VALUE_BOOL;
        m->boolean = 0;
        return AA_OK;
    case JSON_NULL:
        m->type = AA_VALUE_NULL;
        return AA_OK;
    default:
        return AA_EINVAL;
    }
}

static int slow_metadata(const json_t *v, aa_request_buf *b, aa_request *req,
                         aa_error *err) {
    if (json_is_null(v))
        return AA_OK;
    if (!json_is_object(v))
        return aa__fail(err, AA_EINVAL, "field 'metadata' must be an object");
    size_t n = json_object_size(v), nitems = 0;
    if (!grow_meta(b, n))
        return aa__fail(err, AA_ENOMEM, "out of memory");
    size_t i = 0;
    const char *mk;
    json_t *mv;
    json_object_foreach((json_t *)v, mk, mv) {
        aa_meta *m = &b->meta[i++];
        memset(m, 0, sizeof *m);
        m->key = mk;
        if (!json_is_array(mv)) {
            int rc = meta_value(mk, mv, m, err);
            if (rc == AA_EINVAL && aa_error_count(err) == 0)
                return aa__fail(err, AA_EINVAL,
                                "metadata '%s' must be a string, number, "
                                "boolean, null or a list of those",
                                mk);
            if (rc != AA_OK)
                return rc;
            continue;
        }
        m->type = AA_VALUE_LIST;
        m->count = json_array_size(mv);
        if (!grow_items(b, nitems + m->count))
            return aa__fail(err, AA_ENOMEM, "out of memory");
        size_t j;
        json_t *item;
        json_array_foreach(mv, j, item) {
            aa_meta *it = &b->items[nitems++];
            memset(it, 0, sizeof *it);
            int rc = meta_value(mk, item, it, err);
            if (rc == AA_EINVAL && aa_error_count(err) == 0)
                return aa__fail(err, AA_EINVAL,
                                "metadata '%s': a list may hold only strings, "
                                "numbers, booleans and null, not %s",
                                mk,
                                json_is_array(item) ? "a list" : "an object");
            if (rc != AA_OK)
                return rc;
        }
    }
    link_lists(b, n);
    req->metadata = n ? b->meta : NULL;
    req->metadata_count = n;
    return AA_OK;
}

int aa__request_from_jansson(const json_t *obj, aa_request_buf *b,
                             aa_request *req, aa_error *err) {
    memset(req, 0, sizeof *req);
    if (!json_is_object(obj))
        return aa__fail(err, AA_EINVAL, "a request must be a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        size_t k = 0;
        while (k < NFIELDS && strcmp(key, fields[k]) != 0)
            k++;
        if (k < NFIELDS) {
            if (json_is_null(v))
                continue;
            if (!json_is_string(v))
                return aa__fail(err, AA_EINVAL, "field '%s' must be a string",
                                key);
            if (strlen(json_string_value(v)) != json_string_length(v))
                return aa__fail(err, AA_EINVAL,
                                "field '%s' contains a NUL character", key);
            *field_slot(req, k) = json_string_value(v);
        } else if (strcmp(key, "metadata") == 0) {
            int rc = slow_metadata(v, b, req, err);
            if (rc != AA_OK)
                return rc;
        } else if (strcmp(key, "id") != 0) {
            return aa__fail(err, AA_EINVAL, "unknown field '%s'", key);
        }
    }
    for (size_t k = 0; k < 3; k++) { /* agent, user, action */
        const char *s = *field_slot(req, k);
        if (!s)
            return aa__fail(err, AA_EINVAL, "field '%s' is required",
                            fields[k]);
        if (!*s)
            return aa__fail(err, AA_EINVAL, "field '%s' is empty", fields[k]);
    }
    return AA_OK;
}

/* The name of the member whose value is at byte offset pos of text, for an
 * error jansson reports there: "agent", "metadata 'amount'", or "" when
 * there is none. text is valid JSON up to pos (jansson got that far). */
static void member_at(const char *text, size_t pos, char *out, size_t n) {
    char keys[2][128] = {"", ""}; /* the member keys at depth 1 and 2 */
    bool obj[64] = {false};
    int depth = 0;
    bool want_key = false;
    for (size_t i = 0; i < pos; i++) {
        char c = text[i];
        if (c == '"') {
            size_t start = ++i;
            while (i < pos && text[i] != '"')
                i += text[i] == '\\' ? 2 : 1;
            if (want_key && depth >= 1 && depth <= 2) {
                size_t len = i - start < 127 ? i - start : 127;
                memcpy(keys[depth - 1], text + start, len);
                keys[depth - 1][len] = 0;
            }
        } else if (c == '{' || c == '[') {
            if (++depth < 64)
                obj[depth] = c == '{';
            want_key = c == '{';
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (c == ':') {
            want_key = false;
        } else if (c == ',') {
            want_key = depth > 0 && depth < 64 && obj[depth];
        }
    }
    if (depth >= 2 && strcmp(keys[0], "metadata") == 0)
        snprintf(out, n, "metadata '%s'", keys[1]);
    else if (depth >= 1 && *keys[0])
        snprintf(out, n, "field '%s'", keys[0]);
    else
        *out = 0;
}

aa_meta *aa__request_buf_meta(aa_request_buf *b, size_t n) {
    return grow_meta(b, n) ? b->meta : NULL;
}

aa_meta *aa__request_buf_items(aa_request_buf *b, size_t n) {
    return grow_items(b, n) ? b->items : NULL;
}

void aa__request_buf_link_lists(aa_request_buf *b, size_t nmeta) {
    link_lists(b, nmeta);
}

aa_request_buf *aa_request_buf_new(void) {
    return calloc(1, sizeof(aa_request_buf));
}

void aa_request_buf_free(aa_request_buf *b) {
    if (!b)
        return;
    free(b->scratch);
    free(b->meta);
    free(b->items);
    free(b->set);
    json_decref(b->fallback);
    free(b);
}

const char *aa_request_buf_id(const aa_request_buf *b, size_t *len) {
    if (len)
        *len = b && b->id ? b->idlen : 0;
    return b ? b->id : NULL;
}

int aa_request_from_json(const char *text, size_t len, aa_request_buf *b,
                         aa_request *req, aa_error *err) {
    if (!req)
        return aa__fail(err, AA_EINVAL, "no request to fill");
    memset(req, 0, sizeof *req);
    if (!text || !b)
        return aa__fail(err, AA_EINVAL, "no text or no buffer");
    b->id = NULL;
    b->idlen = 0;
    json_decref(b->fallback);
    b->fallback = NULL;
    b->fast = fast(b, text, len, req);
    if (b->fast)
        return AA_OK;

    memset(req, 0, sizeof *req);
    b->id = NULL;
    b->idlen = 0;
    json_error_t jerr;
    json_t *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj) {
        char where[160];
        if (strncmp(jerr.text, "too big", 7) == 0) { /* integer */
            member_at(text, (size_t)jerr.position, where, sizeof where);
            return aa__fail(err, AA_EINVAL,
                            "%s%sinteger at column %d is out of range (the "
                            "limit is -9223372036854775808 to "
                            "9223372036854775807)",
                            where, *where ? ": " : "", jerr.column);
        }
        if (strstr(jerr.text, "real number overflow")) {
            member_at(text, (size_t)jerr.position, where, sizeof where);
            return aa__fail(err, AA_EINVAL,
                            "%s%snumber at column %d is out of range (the "
                            "limit is about 1.8e308)",
                            where, *where ? ": " : "", jerr.column);
        }
        return aa__error_add(err, AA_SEVERITY_ERROR, AA_EPARSE, NULL, 0, 0,
                             "invalid JSON at column %d: %s", jerr.column,
                             jerr.text);
    }
    b->fallback = obj; /* the request's strings live in it */
    int rc = aa__request_from_jansson(obj, b, req, err);
    if (rc != AA_OK) {
        memset(req, 0, sizeof *req);
        return rc;
    }
    json_t *jid = json_object_get(obj, "id");
    if (jid) {
        char *t = json_dumps(jid, JSON_ENCODE_ANY | JSON_COMPACT);
        size_t n = t ? strlen(t) : 0;
        if (t && b->cap < n + 1) {
            char *p = realloc(b->scratch, n + 1);
            if (p) {
                b->scratch = p;
                b->cap = n + 1;
            }
        }
        if (!t || b->cap < n + 1) {
            free(t);
            return aa__fail(err, AA_ENOMEM, "out of memory");
        }
        memcpy(b->scratch, t, n + 1);
        free(t);
        b->id = b->scratch;
        b->idlen = n;
    }
    return AA_OK;
}

/* ---- walking a JSON array (aa_json_array_next) --------------------------- */

static bool is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The index of the array element at byte offset `at` of text: the commas
 * at depth 1, outside strings, before it. Only errors need it. */
static size_t element_index(const char *t, size_t at) {
    size_t depth = 0, n = 0;
    for (size_t i = 0; i < at; i++) {
        char c = t[i];
        if (c == '"') {
            for (i++; i < at && t[i] != '"'; i++)
                if (t[i] == '\\')
                    i++;
        } else if (c == '[' || c == '{') {
            depth++;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        } else if (c == ',' && depth == 1) {
            n++;
        }
    }
    return n;
}

static int array_fail(aa_error *err, const char *t, size_t at,
                      const char *what) {
    return aa__error_add(err, AA_SEVERITY_ERROR, AA_EPARSE, NULL, 0, 0,
                         "JSON array: element %zu at column %zu: %s",
                         element_index(t, at), at + 1, what);
}

int aa_json_array_next(const char *t, size_t len, size_t *pos, size_t *elem_off,
                       size_t *elem_len, aa_error *err) {
    if (!t || !pos || !elem_off || !elem_len)
        return aa__fail(err, AA_EINVAL, "no text or no position");
    *elem_off = *elem_len = 0;
    if (*pos > len) /* past the end already */
        return AA_OK;
    size_t i = *pos;
    while (i < len && is_ws(t[i]))
        i++;
    if (*pos == 0) { /* the start: '[' and the first element, or ']' */
        if (i >= len || t[i] != '[')
            return aa__error_add(err, AA_SEVERITY_ERROR, AA_EPARSE, NULL, 0, 0,
                                 "JSON array: expected '[' at column %zu",
                                 i + 1);
        for (i++; i < len && is_ws(t[i]);)
            i++;
        if (i < len && t[i] == ',')
            return array_fail(err, t, i, "no element before ','");
    } else if (i < len && t[i] == ',') { /* after an element */
        for (i++; i < len && is_ws(t[i]);)
            i++;
        if (i < len && (t[i] == ']' || t[i] == ','))
            return array_fail(err, t, i, "no element after ','");
    } else if (i >= len || t[i] != ']') {
        return array_fail(err, t, i, "the array is not closed");
    }
    if (i < len && t[i] == ']') { /* the end */
        for (i++; i < len && is_ws(t[i]);)
            i++;
        if (i < len)
            return aa__error_add(
                err, AA_SEVERITY_ERROR, AA_EPARSE, NULL, 0, 0,
                "JSON array: text after the array at column %zu", i + 1);
        *pos = len + 1;
        return AA_OK;
    }
    if (i >= len)
        return array_fail(err, t, i, "the array is not closed");
    /* An element: up to a ',' or ']' outside brackets and strings. Its
     * contents are its reader's to check. */
    size_t start = i, depth = 0;
    for (; i < len; i++) {
        char c = t[i];
        if (c == '"') {
            size_t open = i;
            for (i++; i < len && t[i] != '"'; i++)
                if (t[i] == '\\')
                    i++;
            if (i >= len)
                return array_fail(err, t, open, "a string is not closed");
        } else if (c == '[' || c == '{') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0 && c == ']')
                break;
            if (depth == 0)
                return array_fail(err, t, i, "unexpected '}'");
            depth--;
        } else if (c == ',' && depth == 0) {
            break;
        }
    }
    if (i >= len)
        return array_fail(err, t, i, "the array is not closed");
    size_t end = i;
    while (end > start && is_ws(t[end - 1]))
        end--;
    *elem_off = start;
    *elem_len = end - start;
    *pos = i;
    return AA_OK;
}
