/*
 * batch.c - `check --batch`: JSON Lines requests in, JSON Lines decisions
 * out, one per input line, in order.
 *
 * A bad line yields {"line": N, "error": "..."} in its place and the run
 * goes on. Requests are decided in groups of up to BATCH_MAX lines with
 * aa_authorize_many, so that their audit lines go out with one lock and
 * one write. A group is decided, and output flushed, before waiting for
 * input, so an interactive peer on a pipe gets each answer at once and a
 * file is processed at full speed. Exit: 0 all allowed, 1 any
 * denied, 2 any line malformed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define LINE_MAX_BYTES (16u << 20) /* longer request lines are refused */
#define BATCH_MAX      64          /* requests decided together */
#define BATCH_BYTES    (1u << 20)  /* or fewer, when their lines are long */

typedef struct reader {
    int fd;
    char *buf;
    size_t cap, start, end;
    bool eof;
    void (*before_read)(void *ud); /* called before waiting for input */
    void *ud;
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
            if (r->cap >=
                LINE_MAX_BYTES) { /* drop what we have, keep skipping */
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
        r->before_read(r->ud);
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

/* Writes s as a JSON string (the library's escaper: an invalid byte
 * becomes U+FFFD). */
static void put_json_string(const char *s) {
    char small[512];
    size_t n = strlen(s), need = aa_json_quote(s, n, small, sizeof small);
    if (need < sizeof small) {
        fwrite_unlocked(small, 1, need, stdout);
        return;
    }
    char *big = malloc(need + 1);
    if (!big) {
        fputs_unlocked("\"(out of memory)\"", stdout);
        return;
    }
    aa_json_quote(s, n, big, need + 1);
    fwrite_unlocked(big, 1, need, stdout);
    free(big);
}

/* Milliseconds with three decimals, without printf. */
static void put_ms(double ms) {
    char buf[32], *e = buf + sizeof buf, *p = e;
    unsigned long long us = ms > 0 ? (unsigned long long)(ms * 1000 + 0.5) : 0;
    for (int i = 0; i < 3; i++, us /= 10)
        *--p = (char)('0' + us % 10);
    *--p = '.';
    do
        *--p = (char)('0' + us % 10);
    while (us /= 10);
    fwrite_unlocked(p, 1, (size_t)(e - p), stdout);
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

/* Requests read and not yet decided. */
typedef struct group {
    aa_engine *engine;
    aa_request reqs[BATCH_MAX];
    aa_request_buf *bufs[BATCH_MAX];
    aa_decision *ds[BATCH_MAX];
    size_t n, bytes;
    bool any_denied;
} group;

static void put_decision(const aa_decision *d, const aa_request_buf *rb) {
    FILE *o = stdout;
    size_t idlen;
    const char *id = aa_request_buf_id(rb, &idlen);
    putc_unlocked('{', o);
    if (id) {
        fputs_unlocked("\"id\":", o);
        fwrite_unlocked(id, 1, idlen, o);
        putc_unlocked(',', o);
    }
    fputs_unlocked(aa_decision_allowed(d) ? "\"allowed\":true,\"tier\":\""
                                          : "\"allowed\":false,\"tier\":\"",
                   o);
    fputs_unlocked(aa_tier_name(aa_decision_tier(d)), o);
    fputs_unlocked("\",\"reason\":", o);
    put_json_string(aa_decision_reason(d));
    fputs_unlocked(aa_decision_requires_approval(d)
                       ? ",\"requires_approval\":true,\"approval_policy\":"
                       : ",\"requires_approval\":false,\"approval_policy\":",
                   o);
    put_json_string(aa_decision_approval_policy(d));
    fputs_unlocked(",\"evaluation_time_ms\":", o);
    put_ms(aa_decision_time_ms(d));
    fputs_unlocked("}\n", o);
}

/* Decides the group's requests (one audit write for all) and prints them
 * in order. */
static void decide_group(group *g) {
    if (g->n == 0)
        return;
    aa_authorize_many(g->engine, g->reqs, g->n, g->ds);
    for (size_t i = 0; i < g->n; i++) {
        g->any_denied |= !aa_decision_allowed(g->ds[i]);
        put_decision(g->ds[i], g->bufs[i]);
    }
    g->n = 0;
    g->bytes = 0;
}

static void before_read(void *ud) {
    decide_group(ud);
    fflush(stdout);
}

static void group_free(group *g) {
    for (size_t i = 0; i < BATCH_MAX; i++) {
        aa_request_buf_free(g->bufs[i]);
        aa_decision_free(g->ds[i]);
    }
    free(g);
}

int cli_run_batch(const cli_ctx *ctx, cli_engine *ce, const char *path) {
    (void)ctx;
    group *g = calloc(1, sizeof *g);
    reader r = {.fd = 0, .cap = 65536, .before_read = before_read, .ud = g};
    if (strcmp(path, "-") != 0) {
        r.fd = open(path, O_RDONLY | O_CLOEXEC);
        if (r.fd < 0) {
            free(g);
            return cli_error("cannot read '%s': %s", path, strerror(errno));
        }
    }
    r.buf = malloc(r.cap);
    aa_error *err = aa_error_new();
    bool ok = g && r.buf && err;
    for (size_t i = 0; ok && i < BATCH_MAX; i++)
        ok = (g->bufs[i] = aa_request_buf_new()) &&
             (g->ds[i] = aa_decision_new());
    if (!ok) {
        free(r.buf);
        if (g)
            group_free(g);
        aa_error_free(err);
        if (r.fd > 0)
            close(r.fd);
        return cli_error("out of memory");
    }
    g->engine = ce->engine;
    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);

    size_t lineno = 0;
    bool any_bad = false;
    int read_err = 0;
    char *line;
    size_t len;
    bool too_long;
    while ((line = next_line(&r, &len, &too_long, &read_err))) {
        lineno++;
        if (too_long) {
            decide_group(g); /* answers stay in input order */
            line_error(lineno, "line is longer than %u bytes", LINE_MAX_BYTES);
            any_bad = true;
            continue;
        }
        size_t k = 0;
        while (k < len &&
               (line[k] == ' ' || line[k] == '\t' || line[k] == '\r'))
            k++;
        if (k == len) /* blank lines are skipped, but keep their number */
            continue;
        if (aa_request_from_json(line, len, g->bufs[g->n], &g->reqs[g->n],
                                 err) != AA_OK) {
            decide_group(g);
            const aa_diag *e = aa_error_get(err, 0);
            line_error(lineno, "%s", e ? e->message : "invalid request");
            aa_error_clear(err);
            any_bad = true;
            continue;
        }
        g->bytes += len;
        if (++g->n == BATCH_MAX || g->bytes >= BATCH_BYTES)
            decide_group(g);
    }
    decide_group(g);
    fflush(stdout);
    bool any_denied = g->any_denied;
    group_free(g);
    aa_error_free(err);
    free(r.buf);
    if (r.fd > 0)
        close(r.fd);
    if (read_err)
        return cli_error("cannot read '%s': %s", path, strerror(read_err));
    return any_bad ? EXIT_USAGE : any_denied ? EXIT_FAIL : EXIT_OK;
}
