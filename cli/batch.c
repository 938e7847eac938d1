/*
 * batch.c - `check --batch`: JSON Lines requests in, JSON Lines decisions
 * out, one per input line, in order.
 *
 * A bad line yields {"line": N, "error": "..."} in its place and the run
 * goes on. Output is buffered while more input is ready and flushed before
 * waiting for input, so an interactive peer on a pipe gets each answer at
 * once and a file is processed at full speed. Exit: 0 all allowed, 1 any
 * denied, 2 any line malformed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define LINE_MAX_BYTES (16u << 20) /* longer request lines are refused */

typedef struct reader {
    int fd;
    char *buf;
    size_t cap, start, end;
    bool eof;
} reader;

/* Returns the next line (without '\n', NUL-terminated in place) or NULL at
 * the end. *too_long is set for a line over the limit (skipped). */
static char *next_line(reader *r, size_t *len, bool *too_long, int *read_err) {
    *too_long = false;
    bool skipping = false;
    for (;;) {
        char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
        if (nl) {
            char *line = r->buf + r->start;
            *len = (size_t)(nl - line);
            *nl = 0;
            r->start = (size_t)(nl - r->buf) + 1;
            if (skipping) {
                *too_long = true;
                *len = 0;
            }
            return line;
        }
        if (r->eof) {
            if (r->start == r->end && !skipping)
                return NULL;
            char *line = r->buf + r->start;
            *len = r->end - r->start;
            line[*len] = 0;
            r->start = r->end;
            *too_long = skipping;
            return line;
        }
        /* Need more input: compact, grow, and (before blocking) flush. */
        if (r->start > 0) {
            memmove(r->buf, r->buf + r->start, r->end - r->start);
            r->end -= r->start;
            r->start = 0;
        }
        if (r->end + 1 >= r->cap) {
            if (r->cap >= LINE_MAX_BYTES) { /* drop what we have, keep skipping */
                skipping = true;
                r->end = 0;
            } else {
                size_t cap = r->cap * 2;
                char *b = realloc(r->buf, cap);
                if (!b) {
                    *read_err = ENOMEM;
                    return NULL;
                }
                r->buf = b;
                r->cap = cap;
            }
        }
        fflush(stdout);
        ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            *read_err = errno;
            return NULL;
        }
        if (n == 0)
            r->eof = true;
        r->end += (size_t)n;
    }
}

static void put_json_string(const char *s) {
    json_t *j = cli_jstr(s);
    char *t = json_dumps(j, JSON_ENCODE_ANY);
    fputs(t ? t : "\"\"", stdout);
    free(t);
    json_decref(j);
}

static void line_error(size_t line, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void line_error(size_t line, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    printf("{\"line\":%zu,\"error\":", line);
    put_json_string(msg);
    fputs("}\n", stdout);
}

static const char *const string_fields[] = {
    "agent", "user", "action", "resource", "scope", "session_id", "target_agent",
};

const char *cli_request_from_json(json_t *obj, aa_request *req, aa_meta **meta,
                                  size_t *metacap, char *msg, size_t msglen) {
    if (!json_is_object(obj))
        return "a request must be a JSON object";
    const char **slots[] = {&req->agent, &req->user, &req->action, &req->resource,
                            &req->scope, &req->session_id, &req->target_agent};
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        size_t k = 0;
        for (; k < sizeof string_fields / sizeof *string_fields; k++)
            if (strcmp(key, string_fields[k]) == 0)
                break;
        if (k < sizeof string_fields / sizeof *string_fields) {
            if (json_is_null(v))
                continue;
            if (!json_is_string(v)) {
                snprintf(msg, msglen, "field '%s' must be a string", key);
                return msg;
            }
            if (strlen(json_string_value(v)) != json_string_length(v)) {
                snprintf(msg, msglen, "field '%s' contains a NUL character", key);
                return msg;
            }
            *slots[k] = json_string_value(v);
        } else if (strcmp(key, "metadata") == 0) {
            if (json_is_null(v))
                continue;
            if (!json_is_object(v))
                return "field 'metadata' must be an object";
            size_t n = json_object_size(v);
            if (n > *metacap) {
                aa_meta *m = realloc(*meta, n * sizeof *m);
                if (!m)
                    return "out of memory";
                *meta = m;
                *metacap = n;
            }
            size_t i = 0;
            const char *mk;
            json_t *mv;
            json_object_foreach(v, mk, mv) {
                aa_meta *m = &(*meta)[i++];
                memset(m, 0, sizeof *m);
                m->key = mk;
                switch (json_typeof(mv)) {
                case JSON_STRING: m->type = AA_VALUE_STRING; m->string = json_string_value(mv); break;
                case JSON_INTEGER: m->type = AA_VALUE_NUMBER; m->number = (double)json_integer_value(mv); break;
                case JSON_REAL: m->type = AA_VALUE_NUMBER; m->number = json_real_value(mv); break;
                case JSON_TRUE: m->type = AA_VALUE_BOOL; m->boolean = 1; break;
                case JSON_FALSE: m->type = AA_VALUE_BOOL; m->boolean = 0; break;
                case JSON_NULL: m->type = AA_VALUE_NULL; break;
                default:
                    snprintf(msg, msglen, "metadata '%s' must be a string, number, boolean or null", mk);
                    return msg;
                }
            }
            req->metadata = *meta;
            req->metadata_count = n;
        } else if (strcmp(key, "id") != 0) {
            snprintf(msg, msglen, "unknown field '%s'", key);
            return msg;
        }
    }
    if (!req->agent || !*req->agent)
        return "field 'agent' is required";
    if (!req->user || !*req->user)
        return "field 'user' is required";
    if (!req->action || !*req->action)
        return "field 'action' is required";
    return NULL;
}

int cli_run_batch(const cli_ctx *ctx, cli_engine *ce, const char *path) {
    (void)ctx;
    reader r = {.fd = 0, .cap = 65536};
    if (strcmp(path, "-") != 0) {
        r.fd = open(path, O_RDONLY | O_CLOEXEC);
        if (r.fd < 0)
            return cli_error("cannot read '%s': %s", path, strerror(errno));
    }
    r.buf = malloc(r.cap);
    aa_decision *d = aa_decision_new();
    if (!r.buf || !d) {
        free(r.buf);
        aa_decision_free(d);
        return cli_error("out of memory");
    }
    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);

    aa_meta *meta = NULL;
    size_t metacap = 0, lineno = 0;
    bool any_denied = false, any_bad = false;
    int read_err = 0;
    char *line;
    size_t len;
    bool too_long;
    while ((line = next_line(&r, &len, &too_long, &read_err))) {
        lineno++;
        if (too_long) {
            line_error(lineno, "line is longer than %u bytes", LINE_MAX_BYTES);
            any_bad = true;
            continue;
        }
        size_t k = 0;
        while (k < len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r'))
            k++;
        if (k == len) /* blank lines are skipped, but keep their number */
            continue;
        json_error_t jerr;
        json_t *obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!obj) {
            line_error(lineno, "invalid JSON at column %d: %s", jerr.column, jerr.text);
            any_bad = true;
            continue;
        }
        aa_request req = {0};
        char msg[256];
        const char *bad = cli_request_from_json(obj, &req, &meta, &metacap, msg, sizeof msg);
        if (bad) {
            line_error(lineno, "%s", bad);
            any_bad = true;
            json_decref(obj);
            continue;
        }
        aa_authorize(ce->engine, &req, d);
        bool ok = aa_decision_allowed(d);
        any_denied |= !ok;
        json_t *id = json_object_get(obj, "id");
        fputs("{", stdout);
        if (id) {
            char *t = json_dumps(id, JSON_ENCODE_ANY);
            printf("\"id\":%s,", t ? t : "null");
            free(t);
        }
        printf("\"allowed\":%s,\"tier\":\"%s\",\"reason\":", ok ? "true" : "false",
               aa_tier_name(aa_decision_tier(d)));
        put_json_string(aa_decision_reason(d));
        printf(",\"requires_approval\":%s,\"approval_policy\":",
               aa_decision_requires_approval(d) ? "true" : "false");
        put_json_string(aa_decision_approval_policy(d));
        printf(",\"evaluation_time_ms\":%.3f}\n", aa_decision_time_ms(d));
        json_decref(obj);
    }
    fflush(stdout);
    free(meta);
    free(r.buf);
    aa_decision_free(d);
    if (r.fd > 0)
        close(r.fd);
    if (read_err)
        return cli_error("cannot read '%s': %s", path, strerror(read_err));
    return any_bad ? EXIT_USAGE : any_denied ? EXIT_FAIL : EXIT_OK;
}
