#!/usr/bin/env bash
# `agent-auth serve` as a forward-auth service: the header conventions of
# nginx auth_request, Traefik ForwardAuth and Envoy ext_authz (emulated with
# curl), then end to end through a real nginx when one is installed.
. "$(dirname "$0")/lib.sh"
. "$AA_SOURCE_DIR/tests/cli/serve_lib.sh"

cat >p.yaml <<'YAML'
version: "1.0"
roles:
  reader:
    actions: ["get:/api/*"]
  writer:
    extends: reader
    actions: ["post:/api/*", "delete:/api/*"]
profiles:
  bot:
    role: writer
  viewer:
    role: reader
approval_policies:
  - name: deletes
    condition: 'action starts_with "delete:"'
    tier: strong
audit:
  enabled: true
YAML
start_server s -c p.yaml serve --listen 127.0.0.1:0 || { finish; exit; }
SRV_URL=$URL
ID=(-H 'X-Agent-Name: viewer' -H 'X-User-Name: alice')

# Traefik: the original request in X-Forwarded-Method / X-Forwarded-Uri.
req GET /v1/forward-auth "${ID[@]}" -H 'X-Forwarded-Method: GET' -H 'X-Forwarded-Uri: /api/docs/1?x=y'
expect_code 200 "Traefik: an allowed GET"
expect_header "x-agent-auth-tier: autonomous" "tier header"
expect_header "x-agent-auth-reason: Allowed by profile 'viewer'" "reason header"
expect_json 'd["action"]=="get:/api/docs/1"' "the action is method:path without the query"
req GET /v1/forward-auth "${ID[@]}" -H 'X-Forwarded-Method: POST' -H 'X-Forwarded-Uri: /api/docs'
expect_code 403 "Traefik: a POST the viewer may not do"
expect_header "x-agent-auth-reason: Action 'post:/api/docs' not authorized" "the denial's reason"

# nginx: X-Original-Method / X-Original-URI.
req GET /v1/forward-auth -H 'X-Agent-Name: bot' -H 'X-User-Name: alice' -H 'X-Original-Method: POST' -H 'X-Original-URI: /api/docs'
expect_code 200 "nginx headers: an allowed POST"
req GET /v1/forward-auth -H 'X-Agent-Name: bot' -H 'X-User-Name: alice' -H 'X-Original-Method: DELETE' -H 'X-Original-URI: /api/docs/1'
expect_code 403 "approval required is 403"
expect_header "x-agent-auth-tier: strong" "the tier that needs approval"
expect_json 'd["allowed"] is True and d["requires_approval"] is True and d["approval_policy"]=="deletes"' "the decision says approval"

# Envoy: this request's own method and the path after /v1/forward-auth.
req POST /v1/forward-auth/api/docs -H 'X-Agent-Name: bot' -H 'X-User-Name: alice'
expect_code 200 "Envoy: POST /v1/forward-auth/api/docs"
expect_json 'd["action"]=="post:/api/docs"' "Envoy action"
req PUT /v1/forward-auth/api/docs -H 'X-Agent-Name: bot' -H 'X-User-Name: alice'
expect_code 403 "Envoy: a PUT nobody may do"
req GET /v1/forward-auth -H 'X-Agent-Name: bot' -H 'X-User-Name: alice'
expect_json 'd["action"]=="get:/"' "no path at all is /"

# Identity missing, hostile header values.
req GET /v1/forward-auth/api/docs -H 'X-User-Name: alice'
expect_code 400 "no X-Agent-Name"
expect_header "x-agent-auth-reason: header X-Agent-Name is required" "the missing header is named"
req GET /v1/forward-auth/api/docs -H 'X-Agent-Name: bot'
expect_code 400 "no X-User-Name"
req GET /v1/forward-auth/api/docs -H $'X-Agent-Name: b\xc3\xa9\x7f' -H 'X-User-Name: alice'
expect_code 403 "an unknown agent with non-ASCII bytes"
if tr -d '\r' <"$HDRS" | grep -i '^x-agent-auth-reason:' | LC_ALL=C grep -q '[^ -~]'; then
    fail "the reason header carries bytes outside printable ASCII"
else pass; fi
req GET /v1/forward-auth/api/docs -H 'X-Agent-Name: viewer' -H 'X-User-Name: alice' -H 'X-Session-Id: 00000000-0000-4000-8000-000000000000'
expect_code 403 "an unknown session"
req GET /v1/forward-authz -H 'X-Agent-Name: bot' -H 'X-User-Name: alice'
expect_code 404 "a path that only starts like forward-auth"

# One convention at a time: a client behind nginx could add Traefik's
# headers (nginx passes them on) and choose what is authorized.
req GET /v1/forward-auth "${ID[@]}" -H 'X-Original-Method: GET' -H 'X-Original-URI: /admin/x' -H 'X-Forwarded-Method: GET' -H 'X-Forwarded-Uri: /api/docs'
expect_code 400 "forward_auth_mixed_conventions: refused"
expect_header "x-agent-auth-reason: both X-Forwarded-* and X-Original-* headers" "the reason names the mixed headers"
req GET /v1/forward-auth "${ID[@]}" -H 'X-Forwarded-Uri: /api/docs'
expect_code 400 "half a convention is refused"

# The path is judged as the proxy routes it: one decoding, dot segments
# resolved, repeated slashes folded; escapes that change the path refused.
cat >canon.yaml <<'YAML'
version: "1.0"
roles:
  r: {actions: ["get:/api/*"]}
profiles:
  viewer: {role: r, deny: ["get:/api/admin/*"]}
  public: {allow: ["get:/api/public/*"]}
audit: {enabled: false}
YAML
start_server c -c canon.yaml serve --listen 127.0.0.1:0 || { finish; exit; }
for p in /api/public/../admin/x /api/public/%2e%2e/admin/x /api/public/./../admin/x; do
    req GET /v1/forward-auth -H 'X-Agent-Name: public' -H 'X-User-Name: alice' -H 'X-Original-Method: GET' -H "X-Original-URI: $p"
    expect_code 403 "forward_auth_canonical_path: $p is /api/admin/x, not public"
done
for p in /api/%61dmin/x /api//admin/x /api/./admin/x /api/admin/./x; do
    req GET /v1/forward-auth -H 'X-Agent-Name: viewer' -H 'X-User-Name: alice' -H 'X-Original-Method: GET' -H "X-Original-URI: $p"
    expect_code 403 "forward_auth_canonical_path: $p is denied like /api/admin/x"
done
req GET /v1/forward-auth -H 'X-Agent-Name: viewer' -H 'X-User-Name: alice' -H 'X-Original-Method: GET' -H 'X-Original-URI: /api//docs/./1/?q=1'
expect_code 200 "a harmless path still passes"
expect_json 'd["action"]=="get:/api/docs/1/"' "its canonical form"
for p in /api/a%2fdmin/x /api/x%00/../../admin /api/x%3f/admin /api/%5cadmin /api/%zz /../api/x 'http://h/api/x'; do
    req GET /v1/forward-auth -H 'X-Agent-Name: viewer' -H 'X-User-Name: alice' -H 'X-Original-Method: GET' -H "X-Original-URI: $p"
    expect_code 400 "forward_auth_canonical_path: $p refused"
done
# Envoy: the HTTP layer keeps escapes of NUL, '/', '?', '#', '\\' and '%'
# encoded, and a '%' left in the path is refused.
for p in '/api/public/x%00/../../admin/x' '/api/public/x%3F/../../admin/x' '/api/%2561dmin/x' '/api/public/x%2F..%2F..%2Fadmin'; do
    req GET "/v1/forward-auth$p" -H 'X-Agent-Name: public' -H 'X-User-Name: alice' --path-as-is
    expect_code 400 "forward_auth_envoy_escape: $p refused"
done
req GET '/v1/forward-auth/api/public/../admin/x' -H 'X-Agent-Name: public' -H 'X-User-Name: alice' --path-as-is
expect_code 403 "Envoy: dot segments resolved before the decision"
stop_server
URL=$SRV_URL

# ---- a real nginx in front of a protected location -------------------------------
NGINX=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null || true)
if [ -z "$NGINX" ]; then
    echo "SKIP: nginx is not installed (scripts/deps.sh --dev installs nginx-light): the auth_request test did not run" >&2
else
    NPORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    mkdir -p ng/tmp
    SRV_HOSTPORT=${SRV_URL#http://}
    cat >ng/nginx.conf <<NGX
daemon off;
worker_processes 1;
pid $TMP/ng/nginx.pid;
error_log $TMP/ng/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $TMP/ng/tmp/body;
    proxy_temp_path $TMP/ng/tmp/proxy;
    fastcgi_temp_path $TMP/ng/tmp/fastcgi;
    uwsgi_temp_path $TMP/ng/tmp/uwsgi;
    scgi_temp_path $TMP/ng/tmp/scgi;
    server {
        listen 127.0.0.1:$NPORT;
        location /api/ {
            auth_request /_agent_auth;
            auth_request_set \$aa_tier \$upstream_http_x_agent_auth_tier;
            add_header X-Tier \$aa_tier always;
            # The protected app (a return here would run before the check).
            proxy_pass http://127.0.0.1:$NPORT/_app/;
        }
        location /_app/ {
            return 200 "app ok\n";
        }
        location = /_agent_auth {
            internal;
            proxy_pass http://$SRV_HOSTPORT/v1/forward-auth;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-Method \$request_method;
            proxy_set_header X-Original-URI \$request_uri;
            proxy_set_header X-Forwarded-Method "";
            proxy_set_header X-Forwarded-Uri "";
        }
    }
}
NGX
    "$NGINX" -p "$TMP/ng" -c "$TMP/ng/nginx.conf" -e "$TMP/ng/error.log" >ng/out 2>&1 &
    NGX_PID=$!
    SRV_PIDS="$SRV_PIDS $NGX_PID"
    i=0
    until curl -s -o /dev/null "http://127.0.0.1:$NPORT/" || [ $i -ge 200 ]; do
        kill -0 "$NGX_PID" 2>/dev/null || break
        sleep 0.025
        i=$((i + 1))
    done
    URL=http://127.0.0.1:$NPORT
    req GET /api/docs/1 -H 'X-Agent-Name: viewer' -H 'X-User-Name: alice'
    expect_code 200 "nginx: an allowed GET reaches the app"
    grep -q "app ok" "$OUT" && pass || fail "nginx: the app's body"
    expect_header "x-tier: autonomous" "nginx passes the tier on"
    req POST /api/docs -H 'X-Agent-Name: viewer' -H 'X-User-Name: alice'
    expect_code 403 "nginx: a denied POST is 403"
    # A client cannot pass Traefik's headers through nginx to change what
    # is asked (the config clears them; the service would refuse a mix).
    req POST /api/docs -H 'X-Agent-Name: viewer' -H 'X-User-Name: alice' -H 'X-Forwarded-Method: GET' -H 'X-Forwarded-Uri: /api/docs'
    expect_code 403 "forward_auth_nginx_spoof: the client's X-Forwarded-* do not turn a POST into a GET"
    req DELETE /api/docs/1 -H 'X-Agent-Name: bot' -H 'X-User-Name: alice'
    expect_code 403 "nginx: a DELETE that needs approval is 403"
    req POST /api/docs -H 'X-Agent-Name: bot' -H 'X-User-Name: alice'
    expect_code 200 "nginx: the writer's POST passes"
    kill -TERM "$NGX_PID"
    wait "$NGX_PID"
    URL=$SRV_URL
    # Every decision nginx asked for is in the audit log.
    req GET "/v1/audit?action=delete:/api/docs/1"
    expect_json 'len(d)>=1 and d[-1]["agent"]=="bot"' "nginx's requests are audited"
fi

stop_server
expect_rc 0 "SIGTERM"
finish
