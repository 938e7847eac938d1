/*
 * fuzz_state_url.c - the state location parser and redactor
 * (src/state_url.c). The input is a location string (cut at the first NUL).
 *
 * Besides memory errors it checks the promises: a location is SQLite, or
 * PostgreSQL, or refused with a message; a SQLite path points into the
 * input; the redacted form and the refusal never contain the password of a
 * URL's user info (the text between "scheme://user:" and the last '@'
 * before the query), when that password is at least 4 bytes and appears
 * nowhere else in the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_auth.h"
#include "state_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The password of loc's user info (malloc'd), or NULL when it has none. */
static char *password_of(const char *loc) {
    const char *sep = strstr(loc, "://");
    if (!sep || sep == loc)
        return NULL;
    for (const char *c = loc; c < sep; c++) /* a scheme, else a file name */
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (c > loc && ((*c >= '0' && *c <= '9') || *c == '+' || *c == '-' ||
                           *c == '.'))))
            return NULL;
    const char *p = sep + 3;
    const char *q = strchr(p, '?');
    const char *at = NULL;
    for (const char *c = p; *c && (!q || c < q); c++)
        if (*c == '@')
            at = c;
    if (!at)
        return NULL;
    const char *colon = memchr(p, ':', (size_t)(at - p));
    if (!colon || at - colon - 1 < 4)
        return NULL;
    size_t n = (size_t)(at - colon - 1);
    char *pw = malloc(n + 1);
    if (!pw)
        return NULL;
    memcpy(pw, colon + 1, n);
    pw[n] = 0;
    /* a password that also appears elsewhere (the host, the path) may
     * show there */
    const char *first = strstr(loc, pw);
    if (first != colon + 1 || strstr(first + 1, pw)) {
        free(pw);
        return NULL;
    }
    return pw;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *loc = malloc(size + 1);
    if (!loc)
        return 0;
    memcpy(loc, data, size);
    loc[size] = 0;
    aa__loc_kind kind = AA__LOC_SQLITE;
    const char *path = NULL;
    char why[600], shown[512];
    int rc = aa__state_url_parse(loc, &kind, &path, why, sizeof why);
    if (rc == AA_OK && kind == AA__LOC_SQLITE &&
        (!path || path < loc || path > loc + strlen(loc) || !*path))
        abort();
    if (rc != AA_OK && (rc != AA_EINVAL || !*why))
        abort();
    aa__state_url_redact(loc, shown, sizeof shown);
    /* a refusal shows the location only in its redacted form */
    if (rc != AA_OK && *loc) {
        char head[600];
        snprintf(head, sizeof head, "state location '%s': ", shown);
        if (strncmp(why, head, strlen(head)) != 0)
            abort();
    }
    char *pw = password_of(loc);
    if (pw && strstr(shown, pw))
        abort();
    free(pw);
    (void)aa__pg_ident_ok(loc);
    free(loc);
    return 0;
}
