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
