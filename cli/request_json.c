/*
 * request_json.c - reads one batch request line (a flat JSON object) fast.
 *
 * The common line - string fields, a metadata object of scalars, maybe an
 * "id" - is decoded by a small strict scanner into a scratch buffer, with
 * no allocation once the buffers have grown. Anything else (an error of
 * any kind, a duplicate key, an escape it does not handle, a number it
 * would have to round) makes it give up, and the line goes through jansson
 * and cli_request_from_json instead, which decide and word the error. So
 * both paths accept the same lines and say the same things; the fuzz
 * target fuzz/fuzz_batch.c checks that they agree.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static size_t utf8_len(const unsigned char *p, const unsigned char *end);

typedef struct scan {
    const char *p, *end;
    char *out; /* where decoded strings go (scratch) */
} scan;

static void ws(scan *s) {
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n'))
        s->p++;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool hex4(const char *p, unsigned *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return false;
        *v = *v << 4 | (unsigned)h;
    }
    return true;
}

/* Length of a valid UTF-8 sequence at p (0 if invalid), as jansson checks
 * it: no overlong forms, no surrogates, nothing past U+10FFFF. */
size_t cli_utf8_len(const unsigned char *p) {
    size_t n = 0;
    while (n < 4 && p[n])
        n++;
    return utf8_len(p, p + n);
}

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

/* Skips any JSON value (for "id"), decoding strings to check them. */
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
        for (;;) {
            if ((obj && !member_key(s)) || !skip_value(s, depth + 1))
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

/* The fast path. true: req filled; false: give up (nothing is said). */
static bool fast(cli_reqbuf *b, const char *line, size_t len, aa_request *req,
                 const char **id, size_t *idlen) {
    if (b->cap < len + 1) {
        size_t cap = len + 1 < 1024 ? 1024 : len + 1;
        char *p = realloc(b->scratch, cap);
        if (!p)
            return false;
        b->scratch = p;
        b->cap = cap;
    }
    scan s = {line, line + len, b->scratch};
    const char **slots[] = {&req->agent,       &req->user,  &req->action,
                            &req->resource,    &req->scope, &req->session_id,
                            &req->target_agent};
    unsigned seen = 0;
    size_t nmeta = 0;
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
            while (k < 7 && strcmp(key, fields[k]) != 0)
                k++;
            if (k == 7 && strcmp(key, "metadata") != 0)
                k = strcmp(key, "id") == 0 ? 8 : 9;
            if (k == 9 || (seen & 1u << k))
                return false; /* an unknown field, or a duplicate */
            seen |= 1u << k;
            if (k < 7) {
                if (literal(&s, "null"))
                    *slots[k] = NULL;
                else if (!(*slots[k] = string(&s)))
                    return false;
            } else if (k == 8) { /* id */
                const char *start = s.p;
                if (!skip_value(&s, 0))
                    return false;
                *id = start;
                *idlen = (size_t)(s.p - start);
            } else if (!literal(&s, "null")) { /* metadata */
                if (s.p >= s.end || *s.p++ != '{')
                    return false;
                if (!closes_at_once(&s, '}')) {
                    for (;;) {
                        const char *mk = member_key(&s);
                        if (!mk)
                            return false;
                        for (size_t i = 0; i < nmeta; i++)
                            if (strcmp(b->meta[i].key, mk) == 0)
                                return false;
                        if (nmeta == b->metacap) {
                            size_t cap = b->metacap ? b->metacap * 2 : 8;
                            if (cap > 256)
                                return false;
                            aa_meta *m = realloc(b->meta, cap * sizeof *m);
                            if (!m)
                                return false;
                            b->meta = m;
                            b->metacap = cap;
                        }
                        aa_meta *m = &b->meta[nmeta];
                        memset(m, 0, sizeof *m);
                        m->key = mk;
                        if (s.p < s.end && *s.p == '"') {
                            m->type = AA_VALUE_STRING;
                            if (!(m->string = string(&s)))
                                return false;
                        } else if (literal(&s, "true")) {
                            m->type = AA_VALUE_BOOL;
                            m->boolean = 1;
                        } else if (literal(&s, "false")) {
                            m->type = AA_VALUE_BOOL;
                        } else if (literal(&s, "null")) {
                            m->type = AA_VALUE_NULL;
                        } else {
                            m->type = AA_VALUE_NUMBER;
                            if (!number(&s, &m->number))
                                return false;
                        }
                        nmeta++;
                        int end = next_item(&s, '}');
                        if (end < 0)
                            return false;
                        if (end)
                            break;
                    }
                }
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
    req->metadata = nmeta ? b->meta : NULL;
    req->metadata_count = nmeta;
    return true;
}

const char *cli_request_parse(cli_reqbuf *b, const char *line, size_t len,
                              aa_request *req, const char **id, size_t *idlen,
                              char *msg, size_t msglen) {
    memset(req, 0, sizeof *req);
    *id = NULL;
    *idlen = 0;
    json_decref(b->fallback);
    b->fallback = NULL;
    b->fast = fast(b, line, len, req, id, idlen);
    if (b->fast)
        return NULL;

    memset(req, 0, sizeof *req);
    *id = NULL;
    *idlen = 0;
    json_error_t jerr;
    json_t *obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj) {
        snprintf(msg, msglen, "invalid JSON at column %d: %s", jerr.column,
                 jerr.text);
        return msg;
    }
    b->fallback = obj; /* the request's strings live in it */
    const char *bad =
        cli_request_from_json(obj, req, &b->meta, &b->metacap, msg, msglen);
    if (bad)
        return bad;
    json_t *jid = json_object_get(obj, "id");
    if (jid) {
        char *t = json_dumps(jid, JSON_ENCODE_ANY | JSON_COMPACT);
        size_t n = t ? strlen(t) : 0;
        if (t && b->cap >= n + 1) {
            memcpy(b->scratch, t, n + 1);
            *id = b->scratch;
            *idlen = n;
        } else if (t) {
            char *p = realloc(b->scratch, n + 1);
            if (p) {
                b->scratch = p;
                b->cap = n + 1;
                memcpy(p, t, n + 1);
                *id = p;
                *idlen = n;
            }
        }
        free(t);
    }
    return NULL;
}

void cli_reqbuf_free(cli_reqbuf *b) {
    free(b->scratch);
    free(b->meta);
    json_decref(b->fallback);
    memset(b, 0, sizeof *b);
}
