/* error.c - status codes, the error object, and small public helpers. */
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *aa_strerror(int status) {
    switch (status) {
#define AA__STATUS_MSG(name, value, msg)                                       \
    case value:                                                                \
        return msg;
        AA_STATUS_MAP(AA__STATUS_MSG)
#undef AA__STATUS_MSG
    }
    return "unknown status";
}

const char *aa_status_name(int status) {
    switch (status) {
#define AA__STATUS_NAME(name, value, msg)                                      \
    case value:                                                                \
        return #name;
        AA_STATUS_MAP(AA__STATUS_NAME)
#undef AA__STATUS_NAME
    }
    return "UNKNOWN";
}

const char *aa_version(void) {
    return AA_VERSION_STRING;
}

/* ---- the error object ---------------------------------------------------- */

struct aa_error {
    aa_diag *items;
    size_t count;
    size_t cap;
};

/* Past this many messages, further ones are counted into the last. */
#define AA__ERROR_MAX 1000

aa_error *aa_error_new(void) {
    return calloc(1, sizeof(aa_error));
}

void aa_error_clear(aa_error *err) {
    if (!err)
        return;
    for (size_t i = 0; i < err->count; i++) {
        free((char *)err->items[i].file);
        free((char *)err->items[i].message);
    }
    err->count = 0;
}

void aa_error_free(aa_error *err) {
    if (!err)
        return;
    aa_error_clear(err);
    free(err->items);
    free(err);
}

size_t aa_error_count(const aa_error *err) {
    return err ? err->count : 0;
}

size_t aa_error_count_severity(const aa_error *err, aa_severity sev) {
    size_t n = 0;
    for (size_t i = 0; err && i < err->count; i++)
        n += err->items[i].severity == sev;
    return n;
}

const aa_diag *aa_error_get(const aa_error *err, size_t i) {
    return err && i < err->count ? &err->items[i] : NULL;
}

/* Length of the control character at s (0 if none): C0 and DEL, and C1
 * written in UTF-8 (U+0080..U+009F, which some terminals obey). */
static size_t control_len(const unsigned char *s) {
    if (*s < 0x20 || *s == 0x7f)
        return 1;
    return s[0] == 0xC2 && s[1] >= 0x80 && s[1] <= 0x9f ? 2 : 0;
}

/* Messages quote what the policy or request holds (names, keys, values),
 * which may carry control characters: the text form shows each as '?', so
 * a message is one line and cannot move a terminal's cursor, forge a line
 * or erase one. (The message itself keeps them, for JSON.) */
int aa_diag_format(const aa_diag *d, char *buf, size_t size) {
    int n;
    if (d->file && d->line > 0 && d->column > 0)
        n = snprintf(buf, size, "%s:%d:%d: %s", d->file, d->line, d->column,
                     d->message);
    else if (d->file && d->line > 0)
        n = snprintf(buf, size, "%s:%d: %s", d->file, d->line, d->message);
    else if (d->file)
        n = snprintf(buf, size, "%s: %s", d->file, d->message);
    else
        n = snprintf(buf, size, "%s", d->message);
    if (n < 0 || size == 0)
        return n; /* (the length needed counts a C1 as two bytes) */
    unsigned char *in = (unsigned char *)buf, *out = in;
    int dropped = 0;
    while (*in) {
        size_t k = control_len(in);
        *out++ = k ? '?' : *in;
        in += k ? k : 1;
        dropped += k > 1 ? (int)k - 1 : 0;
    }
    *out = 0;
    return n - dropped;
}

int aa__error_vadd(aa_error *err, aa_severity sev, int status, const char *file,
                   int line, int col, const char *fmt, va_list ap) {
    if (!err || err->count >= AA__ERROR_MAX)
        return status;
    if (err->count == err->cap) {
        size_t cap = err->cap ? err->cap * 2 : 8;
        aa_diag *items = realloc(err->items, cap * sizeof *items);
        if (!items)
            return status;
        err->items = items;
        err->cap = cap;
    }
    aa__buf b;
    aa__buf_init(&b);
    aa__buf_vprintf(&b, fmt, ap);
    if (!b.data) {
        aa__buf_free(&b);
        return status;
    }
    err->items[err->count++] = (aa_diag){
        .severity = sev,
        .status = status,
        .file = file ? strdup(file) : NULL,
        .line = line,
        .column = col,
        .message = b.data,
    };
    return status;
}

int aa__error_add(aa_error *err, aa_severity sev, int status, const char *file,
                  int line, int col, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    aa__error_vadd(err, sev, status, file, line, col, fmt, ap);
    va_end(ap);
    return status;
}

int aa__fail(aa_error *err, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    aa__error_vadd(err, AA_SEVERITY_ERROR, status, NULL, 0, 0, fmt, ap);
    va_end(ap);
    return status;
}

/* ---- names --------------------------------------------------------------- */

static const char *const tier_names[] = {"autonomous", "soft", "strong"};

const char *aa_tier_name(aa_tier tier) {
    return (unsigned)tier < 3 ? tier_names[tier] : "unknown";
}

int aa_tier_parse(const char *name, aa_tier *out) {
    for (int i = 0; name && i < 3; i++) {
        if (strcmp(name, tier_names[i]) == 0) {
            *out = (aa_tier)i;
            return AA_OK;
        }
    }
    return AA_EINVAL;
}

const char *aa_grant_status_name(aa_grant_status s) {
    switch (s) {
    case AA_GRANT_ACTIVE:
        return "active";
    case AA_GRANT_EXPIRED:
        return "expired";
    case AA_GRANT_REVOKED:
        return "revoked";
    }
    return "unknown";
}
