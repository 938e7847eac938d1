#!/usr/bin/env bash
# `agent-auth serve`: start options, the decision endpoints, errors as JSON,
# bearer token, Unix socket, and SIGTERM draining (docs/server.md).
. "$(dirname "$0")/lib.sh"
. "$AA_SOURCE_DIR/tests/cli/serve_lib.sh"

cp "$MINIMAL" p.yaml

# ---- options -----------------------------------------------------------------
aa serve --help
expect_rc 0 "serve --help"
expect_out "--listen" "serve --help lists --listen"
aa help
expect_out "serve" "the command list names serve"

aa -c p.yaml serve --listen nonsense
expect_rc 2 "a --listen without a port"
expect_err "HOST:PORT" "a bad --listen is named"
aa -c p.yaml serve --listen 127.0.0.1:99999
expect_rc 2 "a port over 65535"
aa -c p.yaml serve --log-format xml --listen 127.0.0.1:0
expect_rc 2 "an unknown --log-format"
# A non-loopback address needs a token (no traffic is sent).
aa -c p.yaml serve --listen 0.0.0.0:0
expect_rc 2 "non-loopback without a token"
expect_err "without a token" "the refusal says why"
aa -c missing.yaml serve --listen 127.0.0.1:0
expect_rc 1 "a missing policy file"
expect_err "missing.yaml" "the missing policy is named"
echo -n "" >empty-token
aa -c p.yaml serve --listen 127.0.0.1:0 --token-file empty-token
expect_rc 1 "an empty token file"

# ---- the decision endpoints -----------------------------------------------------
start_server s1 -c p.yaml serve --listen 127.0.0.1:0 --threads 2 || { finish; exit; }
case $URL in http://127.0.0.1:[1-9]*) pass ;; *) fail "listening line: $URL" ;; esac

req GET /healthz
expect_code 200 "healthz"
req GET /readyz
expect_code 200 "readyz with a good policy"
expect_json 'd["ready"] is True' "readyz body"

post /v1/authorize '{"agent":"assistant","user":"bob","action":"write"}'
expect_code 200 "authorize allowed"
expect_header "content-type: application/json" "authorize is JSON"
expect_json 'd["allowed"] is True and d["tier"]=="autonomous" and d["requires_approval"] is False' "allowed decision"
"$AGENT_AUTH" -c p.yaml check -a assistant -u bob --action write -o json --no-audit >cli.json
"$PY" - "$OUT" cli.json <<'PYEOF' && pass || fail "server and check -o json give the same fields"
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
sys.exit(0 if sorted(a) == sorted(b) and all(a[k] == b[k] for k in a if k != "evaluation_time_ms") else 1)
PYEOF

post /v1/authorize '{"agent":"assistant","user":"bob","action":"drop"}'
expect_code 200 "a denial is still 200"
expect_json 'd["allowed"] is False and "not authorized" in d["reason"]' "denied decision"

post /v1/authorize '[{"agent":"assistant","user":"bob","action":"read","id":"a"},{"agent":"assistant","user":"bob","action":"drop","id":2},{"agent":"assistant","user":"bob","action":"write","metadata":{"tags":["x",1,true,null],"n":2.5}}]'
expect_code 200 "authorize an array"
expect_json 'len(d)==3 and d[0]["allowed"] and d[0]["id"]=="a" and not d[1]["allowed"] and d[1]["id"]==2 and d[2]["allowed"]' "array answered in order with ids"
post /v1/authorize '[]'
expect_code 200 "an empty array"
expect_json 'd == []' "an empty array answers []"

post /v1/explain '{"agent":"assistant","user":"bob","action":"write"}'
expect_code 200 "explain"
expect_json 'd["allowed"] and any(s["step"]=="allow" for s in d["trace"])' "explain has a trace"
post /v1/explain '[{"agent":"assistant","user":"bob","action":"write"}]'
expect_code 400 "explain of an array"

# ---- bad input: a 4xx JSON answer, nothing changes, the server lives ----------
lines_before=$(wc -l <.agent_auth/audit.jsonl)
post /v1/authorize '{"agent":"assistant","user":"bob",'
expect_code 400 "truncated JSON"
expect_json '"invalid JSON" in d["error"]' "bad JSON is named"
post /v1/authorize '{"agent":5,"user":"bob","action":"write"}'
expect_code 400 "a number for agent"
expect_json '"agent" in d["error"]' "the field is named"
post /v1/authorize '{"user":"bob","action":"write"}'
expect_code 400 "agent missing"
expect_json "d['error']==\"field 'agent' is required\"" "the missing field is named"
post /v1/authorize '{"agent":"a","user":"b","action":"c","colour":"red"}'
expect_code 400 "an unknown field"
expect_json '"colour" in d["error"]' "the unknown field is named"
post /v1/authorize '{"agent":"a","user":"b","action":"c","metadata":{"m":{"x":1}}}'
expect_code 400 "a metadata object value"
expect_json '"metadata" in d["error"] and "m" in d["error"]' "the metadata key is named"
post /v1/authorize '{"agent":"a","user":"b","action":"c","metadata":{"m":[[1]]}}'
expect_code 400 "a nested metadata list"
post /v1/authorize '[{"agent":"assistant","user":"bob","action":"write"},{"agent":"assistant"}]'
expect_code 400 "an array with one bad request"
expect_json 'd["error"].startswith("request 1:") and "user" in d["error"]' "the bad element is named by index"
post /v1/authorize '[{"agent":"assistant","user":"bob","action":"write"},]'
expect_code 400 "an array with a trailing comma"
expect_json '"element 1" in d["error"] and "no element after" in d["error"]' "the malformed array names the element"
post /v1/authorize '[{"agent":"assistant","user":"bob","action":"write"},{"agent":"assistant","user":"bob","action":"write"'
expect_code 400 "an unclosed array"
expect_json '"element 1" in d["error"] and "not closed" in d["error"]' "the unclosed array names the element"
post /v1/authorize '[{"agent":"assistant","user":"bob","action":"write"},{"agent":"assistant","user":"bob","action":"write",}]'
expect_code 400 "a bad element"
expect_json 'd["error"].startswith("request 1: invalid JSON")' "bad JSON inside an element names it"
post /v1/authorize '{"agent":"a","user":"b","action":"c","agent":"d"}'
expect_code 400 "a duplicate key"
post /v1/authorize ''
expect_code 400 "an empty body"
post /v1/authorize '"just a string"'
expect_code 400 "a JSON string"
post /v1/authorize $'{"agent":"a\\u0000b","user":"b","action":"c"}'
expect_code 400 "a NUL inside a string"
lines_after=$(wc -l <.agent_auth/audit.jsonl)
if [ "$lines_before" = "$lines_after" ]; then pass; else fail "bad requests wrote audit lines ($lines_before -> $lines_after)"; fi

req GET /v1/nothing
expect_code 404 "an unknown path"
expect_json '"error" in d' "404 is JSON"
req GET /favicon.ico
expect_code 404 "an unknown path outside /v1"
req GET /v1/authorize
expect_code 405 "GET on authorize"
expect_header "allow: POST" "405 says what is allowed"
expect_json '"error" in d' "405 is JSON"
req DELETE /healthz
expect_code 405 "DELETE on healthz"

req GET /healthz
expect_code 200 "still alive after bad input"

# Slow clients do not starve others: 100 connections that sent half a
# request head and stall, then a normal request is still answered at once.
HP=${URL#http://}
"$PY" - "${HP%:*}" "${HP##*:}" <<'PYEOF' >slow.out 2>&1 &
import socket, sys, time
socks = []
for _ in range(100):
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
    s.sendall(b"POST /v1/authorize HTTP/1.1\r\nHost: x\r\nContent-Len")
    socks.append(s)
print("stalled", flush=True)
time.sleep(5)
PYEOF
SLOW_PID=$!
SRV_PIDS="$SRV_PIDS $SLOW_PID"
i=0
while ! grep -q stalled slow.out 2>/dev/null && [ $i -lt 200 ]; do sleep 0.025; i=$((i + 1)); done
grep -q stalled slow.out && pass || fail "could not open the slow connections: $(cat slow.out)"
t0=$(date +%s%N)
post /v1/authorize '{"agent":"assistant","user":"bob","action":"write"}'
t1=$(date +%s%N)
expect_code 200 "a request beside 100 stalled connections"
[ $(((t1 - t0) / 1000000)) -lt 1000 ] && pass || fail "the request beside stalled connections took $(((t1 - t0) / 1000000)) ms"
kill "$SLOW_PID" 2>/dev/null
wait "$SLOW_PID" 2>/dev/null
stop_server
expect_rc 0 "SIGTERM exits 0"
if kill -0 "$SRV_PID" 2>/dev/null; then fail "the server still runs after SIGTERM"; else pass; fi

# ---- body limit ------------------------------------------------------------------
start_server s2 -c p.yaml serve --listen 127.0.0.1:0 --max-body 64 || { finish; exit; }
post /v1/authorize '{"agent":"assistant","user":"bob","action":"write"}'
expect_code 200 "a body under --max-body"
big=$("$PY" -c 'print("{\"agent\":\"" + "a"*200 + "\",\"user\":\"b\",\"action\":\"c\"}")')
post /v1/authorize "$big"
expect_code 413 "a body over --max-body"
expect_json '"limit" in d["error"]' "413 is JSON and says why"
# Chunked: no Content-Length, the limit still holds.
printf '%s' "$big" >big.json
req POST /v1/authorize -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary @big.json
expect_code 413 "a chunked body over --max-body"
req GET /healthz
expect_code 200 "alive after 413"
stop_server
expect_rc 0 "SIGTERM after 413"

# ---- token -----------------------------------------------------------------------
AGENT_AUTH_TOKEN=s3cret start_server s3 -c p.yaml serve --listen 127.0.0.1:0 || { finish; exit; }
post /v1/authorize '{"agent":"assistant","user":"bob","action":"write"}'
expect_code 401 "no token"
expect_header "www-authenticate: Bearer" "401 names the scheme"
expect_json '"error" in d' "401 is JSON"
post /v1/authorize '{"agent":"assistant","user":"bob","action":"write"}' -H 'Authorization: Bearer wrong'
expect_code 401 "a wrong token"
post /v1/authorize '{"agent":"assistant","user":"bob","action":"write"}' -H 'Authorization: Bearer s3cret2'
expect_code 401 "a longer token"
post /v1/authorize '{"agent":"assistant","user":"bob","action":"write"}' -H 'Authorization: Bearer s3cret'
expect_code 200 "the right token"
req GET /healthz
expect_code 200 "healthz needs no token"
req GET /v1/nothing
expect_code 401 "an unknown /v1 path without the token is 401, not 404"
stop_server
expect_rc 0 "SIGTERM with a token"

printf 'fromfile\n' >token
start_server s4 -c p.yaml serve --listen 127.0.0.1:0 --token-file token || { finish; exit; }
post /v1/authorize '{"agent":"assistant","user":"bob","action":"write"}' -H 'Authorization: Bearer fromfile'
expect_code 200 "the --token-file token (trailing newline dropped)"
post /v1/authorize '{"agent":"assistant","user":"bob","action":"write"}'
expect_code 401 "--token-file: no token"
stop_server

# ---- Unix socket -----------------------------------------------------------------
start_server s5 -c p.yaml serve --unix "$TMP/aa.sock" --log-format json || { finish; exit; }
[ "$URL" = "unix:$TMP/aa.sock" ] && pass || fail "unix listening line: $URL"
mode=$(stat -c %a "$TMP/aa.sock")
[ "$mode" = 660 ] && pass || fail "unix socket mode $mode, expected 660"
code=$(curl -s -o "$OUT" -w '%{http_code}' --unix-socket "$TMP/aa.sock" -H 'Content-Type: application/json' \
    -d '{"agent":"assistant","user":"bob","action":"write"}' http://localhost/v1/authorize)
[ "$code" = 200 ] && pass || fail "authorize over the unix socket: $code"
expect_json 'd["allowed"] is True' "decision over the unix socket"
"$PY" -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1]) if l.strip()]' s5.err && pass || fail "--log-format json writes JSON lines"
stop_server
expect_rc 0 "SIGTERM on a unix socket"
[ -e "$TMP/aa.sock" ] && fail "the socket file is left behind" || pass

# ---- SIGTERM drains: a request in flight is answered -------------------------------
start_server s6 -c p.yaml serve --listen 127.0.0.1:0 || { finish; exit; }
# The body arrives in two parts, 0.4 s apart; SIGTERM comes in between.
( printf '{"agent":"assistant",'; sleep 0.4; printf '"user":"bob","action":"write"}' ) |
    curl -s -m 10 -o slow.json -w '%{http_code}' -X POST -T - -H 'Content-Type: application/json' \
        "$URL/v1/authorize" >slow.code &
CURL_PID=$!
sleep 0.15
kill -TERM "$SRV_PID"
wait "$CURL_PID"
wait "$SRV_PID"
RC=$?
expect_rc 0 "SIGTERM while a request is in flight exits 0"
[ "$(cat slow.code)" = 200 ] && pass || fail "the request in flight got $(cat slow.code)"
grep -q '"allowed":true' slow.json && pass || fail "the request in flight was decided: $(cat slow.json)"
code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$URL/healthz")
[ "$code" = 000 ] && pass || fail "the stopped server still answers ($code)"

finish
