/*
 * fuzz_server_request.c - the request handler of `agent-auth serve`
 * (server/api.c) without sockets: the first byte picks an endpoint and
 * method, the rest is the body (or the path, the id, or the forward-auth
 * headers, separated by NUL bytes). The service runs over a small policy
 * with delegation and approval rules, audit off, an in-memory store.
 *
 * Besides memory errors it checks that every answer is well formed: a
 * status the spec lists, and a body that is valid JSON (text for /metrics)
 * carrying "error" exactly when the status is 4xx or 5xx (but for a
 * forward-auth denial, a 403 with the decision).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char policy_text[] =
    "version: \"1.0\"\n"
    "metadata: {name: fuzz}\n"
    "roles:\n"
    "  reader: {actions: [\"read:*\", \"get:/api/*\"]}\n"
    "  writer: {extends: reader, actions: [\"write:*\", \"post:/api/*\"]}\n"
    "profiles:\n"
    "  bot: {role: writer, scopes: [\"project:*\"], max_session_duration: "
    "600}\n"
    "  viewer: {role: reader}\n"
    "approval_policies:\n"
    "  - name: big\n"
    "    condition: 'metadata.amount > 100 or action starts_with \"post:\"'\n"
    "    tier: soft\n"
    "delegation:\n"
    "  enabled: true\n"
    "  rules:\n"
    "    - name: lend\n"
    "      allowed_actions: [\"write:*\"]\n"
    "      require_reason: true\n"
    "audit: {enabled: false}\n";

static srv service;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    static char path[] = "/tmp/aa-fuzz-server-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, policy_text, sizeof policy_text - 1) !=
                      (ssize_t)(sizeof policy_text - 1))
        abort();
    close(fd);
    aa_error *err = aa_error_new();
    if (srv_init(&service, path, NULL, true, err) != AA_OK) {
        for (size_t i = 0; i < aa_error_count(err); i++)
            fprintf(stderr, "%s\n", aa_error_get(err, i)->message);
        abort();
    }
    aa_error_free(err);
    unlink(path); /* reloads now fail, and must keep the policy */
    return 0;
}

/* Headers and query arguments come from NUL-separated parts of the input. */
typedef struct parts {
    const char *p[4];
} parts;

static const char *header(void *ud, const char *name) {
    const parts *x = ud;
    if (strcasecmp(name, "X-Agent-Name") == 0)
        return x->p[0];
    if (strcasecmp(name, "X-User-Name") == 0)
        return x->p[1];
    /* With a method part: Traefik's pair; without: nginx's, as GET. Both
     * conventions at once are refused before the path is looked at. */
    if (strcasecmp(name, "X-Forwarded-Uri") == 0)
        return x->p[3] ? x->p[2] : NULL;
    if (strcasecmp(name, "X-Forwarded-Method") == 0)
        return x->p[3];
    if (strcasecmp(name, "X-Original-URI") == 0)
        return x->p[3] ? NULL : x->p[2];
    if (strcasecmp(name, "X-Original-Method") == 0)
        return x->p[3] || !x->p[2] ? NULL : "GET";
    return NULL;
}

static const char *query(void *ud, const char *name) {
    const parts *x = ud;
    if (strcmp(name, "agent") == 0)
        return x->p[0];
    if (strcmp(name, "since") == 0)
        return x->p[1];
    if (strcmp(name, "limit") == 0)
        return x->p[2];
    if (strcmp(name, "allowed") == 0)
        return x->p[3];
    return NULL;
}

static const struct {
    const char *method, *path;
} routes[] = {
    {"POST", "/v1/authorize"},
    {"POST", "/v1/explain"},
    {"POST", "/v1/sessions"},
    {"POST", "/v1/delegations"},
    {"GET", NULL},
    {"DELETE", "/v1/sessions/"},
    {"GET", "/v1/sessions"},
    {"GET", "/v1/audit"},
    {"POST", "/v1/forward-auth"},
    {"GET", "/readyz"},
    {"GET", "/metrics"},
    {"POST", "/v1/policy/reload"},
    {"PATCH", "/v1/authorize"},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    size_t r = data[0] % (sizeof routes / sizeof routes[0]);
    size_t n = size - 1;
    char *text = malloc(n + 1); /* the body, and NUL-terminated parts */
    memcpy(text, data + 1, n);
    text[n] = 0;
    parts x = {{NULL, NULL, NULL, NULL}};
    const char *p = text;
    for (int i = 0; i < 4 && p <= text + n; i++) {
        x.p[i] = p;
        p += strlen(p) + 1;
    }
    char path[512];
    if (!routes[r].path) /* any path */
        snprintf(path, sizeof path, "%s", text);
    else if (routes[r].path[strlen(routes[r].path) - 1] == '/')
        snprintf(path, sizeof path, "%s%s", routes[r].path, text);
    else
        snprintf(path, sizeof path, "%s", routes[r].path);
    srv_http_req req = {0};
    req.method = routes[r].method;
    req.path = path;
    req.body = text;
    req.body_len = n;
    req.header = header;
    req.query = query;
    req.ud = &x;
    srv_http_resp resp;
    srv_handle(&service, &req, &resp);

    static const int ok[] = {200, 201, 400, 401, 403, 404, 405, 413, 422, 503};
    bool known = false;
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        known |= resp.status == ok[i];
    if (!known || !resp.body) {
        fprintf(stderr, "status %d for %s %s\n", resp.status, req.method, path);
        abort();
    }
    if (strcmp(path, "/metrics") != 0 || resp.status != 200) {
        json_error_t je;
        json_t *v = json_loadb(resp.body, resp.len, 0, &je);
        bool has_error = json_is_object(v) && json_object_get(v, "error");
        /* Forward auth answers a denial with 403 and the decision. */
        bool decision =
            strncmp(path, "/v1/forward-auth", 16) == 0 && resp.status == 403;
        if (!v || has_error != (resp.status >= 400 && !decision)) {
            fprintf(stderr, "bad answer %d: %.*s\n", resp.status, (int)resp.len,
                    resp.body);
            abort();
        }
        json_decref(v);
    }
    free(resp.body);
    free(text);
    return 0;
}
