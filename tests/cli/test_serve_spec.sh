#!/usr/bin/env bash
# `agent-auth serve`: the parts of the spec (docs/server.md) the other
# test_serve*.sh files do not reach - start options (--insecure, a token
# on a non-loopback address, IPv6, --threads bounds, the default body
# limit), SIGINT, the 5 s bound on draining and `Connection: close` while
# draining, the audit filters user= and action=, bad session and
# delegation calls that change nothing, and the token on forward-auth.
. "$(dirname "$0")/lib.sh"
. "$AA_SOURCE_DIR/tests/cli/serve_lib.sh"

cp "$MINIMAL" p.yaml
W='{"agent":"assistant","user":"bob","action":"write"}'

# ---- start options -----------------------------------------------------------------
aa -c p.yaml serve --listen 127.0.0.1:0 --threads 257
expect_rc 2 "serve_threads_bound: --threads over 256"
expect_err "256" "serve_threads_bound: the limit is named"

# libmicrohttpd is loaded when serve starts: a file that cannot be loaded,
# or one without its functions, is a clear error (exit 1), and the other
# commands do not need it.
AGENT_AUTH_LIBMICROHTTPD=$TMP/no-such-libmicrohttpd.so aa -c p.yaml serve --listen 127.0.0.1:0
expect_rc 1 "serve_mhd_missing: exit 1 when libmicrohttpd cannot be loaded"
expect_err "Error: serve needs libmicrohttpd (Debian: apt-get install libmicrohttpd" "serve_mhd_missing: the library and the package are named"
expect_err "no-such-libmicrohttpd.so" "serve_mhd_missing: the loader's reason is given"
AGENT_AUTH_LIBMICROHTTPD=libc.so.6 aa -c p.yaml serve --listen 127.0.0.1:0
expect_rc 1 "serve_mhd_wrong_library: exit 1 for a library without libmicrohttpd's functions"
expect_err "Error: libc.so.6 lacks MHD_start_daemon: serve needs libmicrohttpd" "serve_mhd_wrong_library: the missing function is named"
AGENT_AUTH_LIBMICROHTTPD=$TMP/no-such-libmicrohttpd.so aa -c p.yaml check -a assistant -u bob --action write
expect_rc 0 "serve_mhd_missing: check needs no libmicrohttpd"

# A non-loopback address with --insecure: it starts, and answers.
start_server ins -c p.yaml serve --listen 0.0.0.0:0 --insecure || { finish; exit; }
case $URL in http://0.0.0.0:[1-9]*) pass ;; *) fail "serve_insecure: listening line $URL" ;; esac
URL=http://127.0.0.1:${URL##*:}
post /v1/authorize "$W"
expect_code 200 "serve_insecure: a non-loopback address with --insecure serves"
stop_server
expect_rc 0 "serve_insecure: SIGTERM"

# A non-loopback address with a token needs no --insecure, and the token holds.
AGENT_AUTH_TOKEN=tok start_server nl -c p.yaml serve --listen 0.0.0.0:0 || { finish; exit; }
URL=http://127.0.0.1:${URL##*:}
post /v1/authorize "$W"
expect_code 401 "serve_nonloopback_token: no token"
post /v1/authorize "$W" -H 'Authorization: Bearer tok'
expect_code 200 "serve_nonloopback_token: the token"
# forward-auth is under /v1/: the proxy must send the token too.
req GET /v1/forward-auth/x -H 'X-Agent-Name: assistant' -H 'X-User-Name: bob'
expect_code 401 "serve_forward_auth_token: forward-auth without the token"
req GET /v1/forward-auth/x -H 'X-Agent-Name: assistant' -H 'X-User-Name: bob' -H 'Authorization: Bearer tok'
expect_code 403 "serve_forward_auth_token: with the token it is decided (get:/x is not allowed)"
expect_header "x-agent-auth-tier: autonomous" "serve_forward_auth_token: the tier header"
stop_server

# IPv6 loopback, when this machine has it.
if "$PY" -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
    start_server v6 -c p.yaml serve --listen '[::1]:0' || { finish; exit; }
    case $URL in "http://[::1]:"[1-9]*) pass ;; *) fail "serve_ipv6: listening line $URL" ;; esac
    post /v1/authorize "$W"
    expect_code 200 "serve_ipv6: a decision over IPv6"
    stop_server
    expect_rc 0 "serve_ipv6: SIGTERM"
else
    echo "note: no IPv6 loopback here; the [::1] listen test did not run" >&2
fi

# ---- the default body limit: 1 MiB -------------------------------------------------------
start_server mb -c p.yaml serve --listen 127.0.0.1:0 || { finish; exit; }
"$PY" -c 'import sys; sys.stdout.write("[" + ",".join(["{\"agent\":\"assistant\",\"user\":\"bob\",\"action\":\"read\"}"] * 21000) + "]")' >big.json
size=$(stat -c %s big.json)
[ "$size" -gt 1048576 ] && pass || fail "the test body is not over 1 MiB ($size)"
req POST /v1/authorize -H 'Content-Type: application/json' --data-binary @big.json
expect_code 413 "serve_default_max_body: a body over 1 MiB"
expect_json '"1048576" in d["error"]' "serve_default_max_body: the limit is named"
head -c 1000000 big.json | sed 's/,{[^}]*$//' >under.json
printf ']' >>under.json
req POST /v1/authorize -H 'Content-Type: application/json' --data-binary @under.json
expect_code 200 "serve_default_max_body: a body under 1 MiB is decided"
stop_server

# ---- audit filters: user= and action= --------------------------------------------------
start_server au -c p.yaml serve --listen 127.0.0.1:0 || { finish; exit; }
post /v1/authorize '[{"agent":"assistant","user":"alice","action":"read"},{"agent":"assistant","user":"bob","action":"write"},{"agent":"assistant","user":"alice","action":"write"}]'
expect_code 200 "three decisions"
req GET "/v1/audit?user=alice"
expect_json 'len(d)==2 and all(e["user"]=="alice" for e in d)' "serve_audit_filters: user="
req GET "/v1/audit?action=write&limit=0"
expect_json 'len(d)>=2 and all(e["action"]=="write" for e in d) and any(e["user"]=="alice" for e in d)' "serve_audit_filters: action="
req GET "/v1/audit?user=alice&action=write"
expect_json 'len(d)==1 and d[0]["user"]=="alice" and d[0]["action"]=="write"' "serve_audit_filters: user= and action= together"
req GET "/v1/audit?user=nobody"
expect_json 'd==[]' "serve_audit_filters: no match is []"

# ---- bad session and delegation calls change nothing -------------------------------------
post /v1/sessions '{"agent":"assistant","user":"bob"}'
expect_code 201 "one good session"
req GET /v1/sessions
before_sessions=$(cat "$OUT")
lines_before=$(wc -l <.agent_auth/audit.jsonl)
for body in '{"agent":"assistant"}' '{"agent":"assistant","user":"bob","duration":-5}' \
    '{"agent":"assistant","user":"bob","scope":7}' '{"agent":"assistant","user":"bob",' 'null' \
    '{"agent":"assistant","user":"bob","extra":true}'; do
    post /v1/sessions "$body"
    case $CODE in 4??) pass ;; *) fail "serve_bad_state_calls: session body $body got $CODE" ;; esac
done
for body in '{"from_user":"bob","to_agent":"assistant"}' '{"from_user":"bob","to_agent":"assistant","actions":[]}' \
    '{"from_user":"bob","to_agent":"assistant","actions":["read"],"duration":"x"}' '[]'; do
    post /v1/delegations "$body"
    case $CODE in 4??) pass ;; *) fail "serve_bad_state_calls: delegation body $body got $CODE" ;; esac
done
req DELETE /v1/sessions/00000000-0000-4000-8000-000000000000
expect_code 404 "an unknown session id"
req GET /v1/sessions
[ "$(cat "$OUT")" = "$before_sessions" ] && pass || fail "serve_bad_state_calls: the sessions changed"
req GET /v1/delegations
expect_json 'd==[]' "serve_bad_state_calls: no delegation was made"
lines_after=$(wc -l <.agent_auth/audit.jsonl)
[ "$lines_before" = "$lines_after" ] && pass || fail "serve_bad_state_calls: audit lines $lines_before -> $lines_after"
req HEAD /healthz -I
expect_code 200 "HEAD /healthz"

# ---- SIGINT: as SIGTERM ------------------------------------------------------------------
kill -INT "$SRV_PID"
wait "$SRV_PID"
RC=$?
expect_rc 0 "serve_sigint: SIGINT exits 0"
grep -q 'stopped' au.err && pass || fail "serve_sigint: the stop is logged"
aa -c p.yaml audit --verify
expect_rc 0 "serve_sigint: the audit log verifies after the stop"

# ---- draining: Connection: close, and at most 5 s ---------------------------------------
start_server dr -c p.yaml serve --listen 127.0.0.1:0 || { finish; exit; }
HP=${URL#http://}
# A request whose body never ends: the drain waits for it at most 5 s.
"$PY" - "${HP%:*}" "${HP##*:}" <<'PYEOF' >stall.out 2>&1 &
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(b"POST /v1/authorize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: 100\r\n\r\n{\"agent\":")
print("stalled", flush=True)
time.sleep(20)
PYEOF
STALL_PID=$!
SRV_PIDS="$SRV_PIDS $STALL_PID"
i=0
while ! grep -q stalled stall.out 2>/dev/null && [ $i -lt 200 ]; do sleep 0.025; i=$((i + 1)); done
# And one whose body ends during the drain, on a keep-alive connection.
( printf '{"agent":"assistant",'; sleep 1; printf '"user":"bob","action":"write"}' ) |
    curl -s -m 10 -D drain.hdr -o drain.json -w '%{http_code}' -X POST -T - -H 'Content-Type: application/json' \
        "$URL/v1/authorize" >drain.code &
CURL_PID=$!
sleep 0.3
t0=$(date +%s%N)
kill -TERM "$SRV_PID"
wait "$CURL_PID"
wait "$SRV_PID"
RC=$?
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
expect_rc 0 "serve_drain_bound: exit 0 with a request that never ends"
[ "$ms" -ge 4500 ] && [ "$ms" -lt 9000 ] && pass || fail "serve_drain_bound: the drain took $ms ms (bound: 5 s)"
grep -q 'still in flight after 5000 ms' dr.err && pass || fail "serve_drain_bound: the cut-off is logged"
[ "$(cat drain.code)" = 200 ] && pass || fail "serve_drain_close: the request in flight got $(cat drain.code)"
tr -d '\r' <drain.hdr | grep -qi '^connection: close' && pass || fail "serve_drain_close: no 'Connection: close' while draining: $(tr -d '\r' <drain.hdr | tr '\n' '|')"
kill "$STALL_PID" 2>/dev/null
wait "$STALL_PID" 2>/dev/null

finish
