/* state_url.c - parsing and redacting state locations (see state_url.h). */
#include "state_url.h"

#include "agent_auth.h"

#include <stdio.h>
#include <string.h>

/* Length of a leading "scheme://" scheme, 0 when loc does not start so. */
static size_t scheme_len(const char *loc) {
    size_t i = 0;
    if (!((loc[0] >= 'a' && loc[0] <= 'z') || (loc[0] >= 'A' && loc[0] <= 'Z')))
        return 0;
    while (loc[i] && (loc[i] == '+' || loc[i] == '-' || loc[i] == '.' ||
                      (loc[i] >= '0' && loc[i] <= '9') ||
                      (loc[i] >= 'a' && loc[i] <= 'z') ||
                      (loc[i] >= 'A' && loc[i] <= 'Z')))
        i++;
    return strncmp(loc + i, "://", 3) == 0 ? i : 0;
}

static bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
}

static int hex_digit(char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* When p starts a parameter whose value is a secret, the length of its
 * "key=": a key that, with its percent-encoding decoded (libpq decodes a
 * URL's query keys: pass%77ord is password), ends in "password"
 * (password, sslpassword). 0 otherwise. */
static size_t secret_key(const char *p) {
    char key[64];
    size_t n = 0, i = 0;
    for (; p[i] && p[i] != '=' && p[i] != '&' && p[i] != ' '; i++) {
        char c = p[i];
        if (c == '%' && hex_digit(p[i + 1]) >= 0 && hex_digit(p[i + 2]) >= 0) {
            c = (char)(hex_digit(p[i + 1]) * 16 + hex_digit(p[i + 2]));
            i += 2;
        }
        if (n + 1 >= sizeof key)
            return 0;
        key[n++] = c;
    }
    key[n] = 0;
    if (p[i] != '=' || n < 8 || strcmp(key + n - 8, "password") != 0)
        return 0;
    return i + 1;
}

void aa__state_url_redact(const char *loc, char *buf, size_t size) {
    if (!buf || size == 0)
        return;
    buf[0] = 0;
    if (!loc)
        return;
    size_t o = 0;
#define PUT(c)                                                                 \
    do {                                                                       \
        if (o + 1 < size)                                                      \
            buf[o++] = (c);                                                    \
    } while (0)
    const char *p = loc;
    size_t sl = scheme_len(loc);
    if (sl) {
        for (size_t i = 0; i < sl + 3; i++)
            PUT(loc[i]);
        p = loc + sl + 3;
        /* The user info ends at the last '@' before the query: a password
         * with a stray '/' or '@' in it is hidden whole. */
        const char *q = strchr(p, '?');
        const char *at = NULL;
        for (const char *c = p; *c && (!q || c < q); c++)
            if (*c == '@')
                at = c;
        if (at) {
            const char *colon = memchr(p, ':', (size_t)(at - p));
            const char *end = colon ? colon : at;
            for (const char *c = p; c < end; c++)
                PUT(*c);
            if (colon) {
                PUT(':');
                PUT('*');
                PUT('*');
                PUT('*');
            }
            p = at;
        }
    }
    /* The rest, with the value of every password= (query or conninfo) hidden.
     */
    while (*p) {
        bool start = p == loc || p[-1] == '?' || p[-1] == '&' || p[-1] == ' ';
        size_t klen = start ? secret_key(p) : 0;
        if (klen) {
            for (size_t i = 0; i < klen; i++)
                PUT(p[i]);
            PUT('*');
            PUT('*');
            PUT('*');
            p += klen;
            while (*p && *p != '&' && *p != ' ')
                p++;
            continue;
        }
        PUT(*p);
        p++;
    }
#undef PUT
    buf[o] = 0;
}

static int fail(char *why, size_t n, const char *loc, const char *msg) {
    char shown[512];
    aa__state_url_redact(loc, shown, sizeof shown);
    if (why && n)
        snprintf(why, n, "state location '%s': %s", shown, msg);
    return AA_EINVAL;
}

static long atoi_port(const char *b, const char *e) {
    long v = 0;
    for (const char *c = b; c < e && v <= 65535; c++)
        v = v * 10 + (*c - '0');
    return v;
}

/* Checks the part after "postgresql://": [user[:pw]@][hosts][/db][?k=v&..] */
static int check_pg(const char *loc, const char *rest, char *why, size_t n) {
    for (const char *c = rest; *c; c++) {
        unsigned char u = (unsigned char)*c;
        if (u <= ' ' || u >= 0x7f)
            return fail(why, n, loc,
                        "a URL may not hold spaces, control characters or "
                        "non-ASCII bytes (percent-encode them, e.g. %20)");
        if (u == '%' && !(is_hex(c[1]) && is_hex(c[2])))
            return fail(why, n, loc,
                        "'%' must start a percent-encoded byte such as %40");
    }
    const char *q = strchr(rest, '?');
    size_t auth_end = strcspn(rest, "/?");
    const char *at = NULL;
    for (const char *c = rest; *c && (!q || c < q); c++)
        if (*c == '@')
            at = c;
    if (at && (size_t)(at - rest) > auth_end) {
        /* an '@' past the first '/': a password with a '/' in it */
        return fail(why, n, loc,
                    "the user info holds a '/' (percent-encode it as %2F)");
    }
    const char *host = at ? at + 1 : rest;
    size_t hlen = strcspn(host, "/?");
    /* host[:port][,host[:port]]... ; [v6] allowed */
    const char *h = host;
    while (h < host + hlen) {
        const char *e = memchr(h, ',', (size_t)(host + hlen - h));
        if (!e)
            e = host + hlen;
        const char *port = NULL;
        if (*h == '[') {
            const char *rb = memchr(h, ']', (size_t)(e - h));
            if (!rb)
                return fail(why, n, loc, "an IPv6 host lacks its ']'");
            if (rb + 1 < e && rb[1] != ':')
                return fail(why, n, loc, "expected ':port' after ']'");
            port = rb + 1 < e ? rb + 2 : NULL;
        } else {
            const char *colon = memchr(h, ':', (size_t)(e - h));
            port = colon ? colon + 1 : NULL;
        }
        if (port) {
            if (port == e)
                return fail(why, n, loc, "the port after ':' is empty");
            for (const char *c = port; c < e; c++)
                if (*c < '0' || *c > '9')
                    return fail(why, n, loc,
                                "the port must be a number (1-65535)");
            if (atoi_port(port, e) < 1 || atoi_port(port, e) > 65535)
                return fail(why, n, loc, "the port must be 1-65535");
        }
        h = e + 1;
    }
    if (q) {
        for (const char *k = q + 1; *k;) {
            size_t len = strcspn(k, "&");
            const char *eq = memchr(k, '=', len);
            if (len == 0 || !eq || eq == k)
                return fail(why, n, loc,
                            "a query parameter must be key=value (e.g. "
                            "?sslmode=require)");
            k += len;
            if (*k == '&')
                k++;
        }
    }
    return AA_OK;
}

int aa__state_url_parse(const char *loc, aa__loc_kind *kind, const char **path,
                        char *why, size_t why_size) {
    if (why && why_size)
        why[0] = 0;
    if (!loc || !*loc)
        return fail(why, why_size, "",
                    "empty (give a file path, "
                    "sqlite:PATH or a postgresql:// URL)");
    size_t sl = scheme_len(loc);
    if (sl) {
        if ((sl == 10 && strncmp(loc, "postgresql", 10) == 0) ||
            (sl == 8 && strncmp(loc, "postgres", 8) == 0)) {
            if (kind)
                *kind = AA__LOC_POSTGRES;
            if (path)
                *path = NULL;
            return check_pg(loc, loc + sl + 3, why, why_size);
        }
        char scheme[32];
        snprintf(scheme, sizeof scheme, "%.*s", (int)(sl < 24 ? sl : 24), loc);
        if (sl == 6 && strncmp(loc, "sqlite", 6) == 0)
            return fail(why, why_size, loc,
                        "write a SQLite file as sqlite:PATH (e.g. "
                        "sqlite:/var/lib/agent-auth/state.db), without '//'");
        char msg[160];
        snprintf(msg, sizeof msg,
                 "unknown scheme '%s' (a state store is a file path, "
                 "sqlite:PATH, or a postgresql:// URL)",
                 scheme);
        return fail(why, why_size, loc, msg);
    }
    const char *p = loc;
    if (strncmp(loc, "sqlite:", 7) == 0) {
        p = loc + 7;
        if (!*p)
            return fail(why, why_size, loc,
                        "no file after 'sqlite:' (write sqlite:PATH)");
    }
    if (kind)
        *kind = AA__LOC_SQLITE;
    if (path)
        *path = p;
    return AA_OK;
}

int aa__state_url_check(const char *loc, char *why, size_t why_size) {
    return aa__state_url_parse(loc, NULL, NULL, why, why_size);
}

bool aa__pg_ident_ok(const char *s) {
    if (!s || !*s || strlen(s) > 63 || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}
