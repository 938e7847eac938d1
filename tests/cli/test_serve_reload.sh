#!/usr/bin/env bash
# `agent-auth serve`: reloading the policy (POST /v1/policy/reload, SIGHUP,
# --watch) - a bad file keeps the old policy and shows in /readyz and the
# metrics; a reload under continuous keep-alive load fails no request.
. "$(dirname "$0")/lib.sh"
. "$AA_SOURCE_DIR/tests/cli/serve_lib.sh"

# Two policies that decide "write" differently.
cat >a.yaml <<'YAML'
version: "1.0"
metadata: {name: policy-a, version: "1"}
roles:
  editor: {actions: [read, write]}
profiles:
  assistant: {role: editor}
YAML
sed -e 's/policy-a/policy-b/' -e 's/\[read, write\]/[read]/' a.yaml >b.yaml
cp a.yaml p.yaml
start_server s -c p.yaml serve --listen 127.0.0.1:0 --threads 2 || { finish; exit; }
W='{"agent":"assistant","user":"bob","action":"write"}'

post /v1/authorize "$W"
expect_json 'd["allowed"] is True' "policy a allows write"

# ---- POST /v1/policy/reload --------------------------------------------------------
cp b.yaml p.yaml
req POST /v1/policy/reload
expect_code 200 "reload"
sum=$(sha256sum p.yaml | cut -d' ' -f1)
expect_json "d=={'reloaded':True,'sha256':'$sum'}" "reloaded with the new sha256"
post /v1/authorize "$W"
expect_json 'd["allowed"] is False' "policy b denies write"
req GET /v1/policy
expect_json 'd["metadata"]["name"]=="policy-b"' "/v1/policy shows b"

# A broken file: the old policy keeps serving; readyz and metrics say so.
printf 'version: "1.0"\nroles:\n  editor: {actions: [read]\nprofiles: [\n' >p.yaml
req POST /v1/policy/reload
expect_code 422 "a broken policy is refused"
expect_json 'd["error"] and len(d["errors"])>=1 and "p.yaml:" in d["errors"][0]' "the errors name file:line"
post /v1/authorize "$W"
expect_code 200 "still serving after a failed reload"
expect_json 'd["allowed"] is False' "still policy b"
req GET /readyz
expect_code 503 "readyz after a failed reload"
expect_json 'd["ready"] is False and any("reload" in r for r in d["reasons"])' "readyz names the failed reload"
req GET /metrics
grep -q 'agent_auth_policy_reloads_total{result="error"} 1' "$OUT" && pass || fail "metrics count the failed reload"
grep -q 'agent_auth_policy_reloads_total{result="ok"} 1' "$OUT" && pass || fail "metrics count the good reload"
grep -q 'agent_auth_policy_last_reload_failed 1' "$OUT" && pass || fail "metrics show the last reload failed"
grep -q "agent_auth_policy_info{name=\"policy-b\",version=\"1.0\",sha256=\"$sum\"} 1" "$OUT" && pass || fail "policy_info still names b"
grep -q 'policy reload failed' s.err && pass || fail "the failed reload is logged"
# An error quoting control characters from the file is logged on one line
# without them (a policy cannot forge a log line or move a terminal).
printf 'version: "1.0"\nroles:\n  editor: {actions: [read]}\nprofiles:\n  assistant: {role: "ed\\e[31m\\nforged 0000 info policy reloaded"}\n' >p.yaml
req POST /v1/policy/reload
expect_code 422 "a policy naming an unknown role is refused"
grep -q $'\033' s.err && fail "the log has an ESC byte from the policy" || pass
grep -q '^forged' s.err && fail "the policy forged a log line" || pass
grep -q "policy reload failed.*ed?\[31m?forged" s.err && pass ||
    fail "the error is logged on one line, control characters as '?': $(tail -n 3 s.err)"

# ---- SIGHUP ------------------------------------------------------------------------
cp a.yaml p.yaml
kill -HUP "$SRV_PID"
i=0
while [ $i -lt 200 ]; do
    post /v1/authorize "$W"
    grep -q '"allowed":true' "$OUT" && break
    sleep 0.025
    i=$((i + 1))
done
expect_json 'd["allowed"] is True' "SIGHUP loaded policy a"
req GET /readyz
expect_code 200 "ready again after a good reload"
grep -q 'policy reloaded (SIGHUP)' s.err && pass || fail "the SIGHUP reload is logged"

# ---- metrics -----------------------------------------------------------------------
req GET /metrics
expect_code 200 "metrics"
expect_header "content-type: text/plain; version=0.0.4" "Prometheus content type"
for m in 'agent_auth_decisions_total{result="allowed"}' 'agent_auth_decisions_total{result="denied"}' \
    'agent_auth_decisions_total{result="approval"}' 'agent_auth_decision_duration_seconds_bucket{le="+Inf"}' \
    'agent_auth_decision_duration_seconds_sum' 'agent_auth_decision_duration_seconds_count' \
    'agent_auth_http_requests_total{code="200"}' 'agent_auth_http_requests_total{code="422"}' \
    'agent_auth_policy_reloads_total{result="ok"} 2' 'agent_auth_policy_info{name="policy-a"' \
    'agent_auth_audit_write_errors_total 0' 'agent_auth_policy_last_reload_failed 0'; do
    grep -qF "$m" "$OUT" && pass || fail "metrics lack $m"
done
"$PY" - "$OUT" <<'PYEOF' && pass || fail "metrics: counts agree (decisions = histogram count, buckets grow)"
import re, sys
t = open(sys.argv[1]).read()
dec = sum(int(v) for v in re.findall(r'^agent_auth_decisions_total\{[^}]*\} (\d+)$', t, re.M))
cnt = int(re.search(r'^agent_auth_decision_duration_seconds_count (\d+)$', t, re.M).group(1))
b = [int(v) for v in re.findall(r'^agent_auth_decision_duration_seconds_bucket\{[^}]*\} (\d+)$', t, re.M)]
sys.exit(0 if dec == cnt and dec >= 4 and b == sorted(b) and b[-1] == cnt else 1)
PYEOF

# ---- reload under continuous load: no request fails -------------------------------
cat >load.py <<'PYEOF'
import http.client, json, os, sys, threading
host, port = sys.argv[1], int(sys.argv[2])
body = sys.argv[3] if len(sys.argv) > 3 else \
    json.dumps({"agent": "assistant", "user": "bob", "action": "write"})
stats = {"ok": 0, "bad": 0, "allowed": 0, "denied": 0}
lock = threading.Lock()
def worker():
    c = http.client.HTTPConnection(host, port, timeout=10)
    while not os.path.exists("stop"):
        try:
            c.request("POST", "/v1/authorize", body, {"Content-Type": "application/json"})
            r = c.getresponse()
            d = json.loads(r.read())
            good = r.status == 200 and isinstance(d.get("allowed"), bool)
            with lock:
                stats["ok" if good else "bad"] += 1
                if good:
                    stats["allowed" if d["allowed"] else "denied"] += 1
        except Exception as e:
            with lock:
                stats["bad"] += 1
            print("error:", repr(e), file=sys.stderr)
            c.close()
            c = http.client.HTTPConnection(host, port, timeout=10)
    c.close()
ts = [threading.Thread(target=worker) for _ in range(4)]
for t in ts: t.start()
open("started", "w").close()
for t in ts: t.join()
print(json.dumps(stats))
PYEOF
HP=${URL#http://}
rm -f stop started
"$PY" load.py "${HP%:*}" "${HP##*:}" >load.out 2>load.err &
LOAD_PID=$!
i=0
while [ ! -e started ] && [ $i -lt 200 ]; do sleep 0.025; i=$((i + 1)); done
reload_fail=0
for n in 1 2 3 4 5 6 7 8 9 10; do
    if [ $((n % 2)) = 1 ]; then cp b.yaml p.tmp; else cp a.yaml p.tmp; fi
    mv p.tmp p.yaml
    if [ $((n % 3)) = 0 ]; then
        kill -HUP "$SRV_PID"
    else
        code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/v1/policy/reload")
        [ "$code" = 200 ] || reload_fail=$((reload_fail + 1))
    fi
    sleep 0.1
done
touch stop
wait "$LOAD_PID"
[ "$reload_fail" = 0 ] && pass || fail "$reload_fail reloads failed under load"
cat load.err >&2
"$PY" -c 'import json,sys; d=json.load(open("load.out")); print("load during 10 reloads:", d, file=sys.stderr); sys.exit(0 if d["bad"]==0 and d["ok"]>=100 and d["allowed"]>0 and d["denied"]>0 else 1)' \
    && pass || fail "requests failed during reloads: $(cat load.out)"

stop_server
expect_rc 0 "SIGTERM after the load"

# ---- --watch -----------------------------------------------------------------------
cp a.yaml p.yaml
start_server w -c p.yaml serve --listen 127.0.0.1:0 --watch || { finish; exit; }
cp b.yaml p.tmp
mv p.tmp p.yaml
i=0
while [ $i -lt 200 ]; do
    req GET /v1/policy
    grep -q '"policy-b"' "$OUT" && break
    sleep 0.025
    i=$((i + 1))
done
expect_json 'd["metadata"]["name"]=="policy-b"' "--watch reloads a file renamed over the policy"
printf 'version: "1.0"\nroles: [\n' >>p.yaml
i=0
while [ $i -lt 200 ]; do
    req GET /readyz
    [ "$CODE" = 503 ] && break
    sleep 0.025
    i=$((i + 1))
done
expect_code 503 "--watch: a broken edit shows in readyz"
post /v1/authorize "$W"
expect_json 'd["allowed"] is False' "--watch: policy b still serves"
stop_server
expect_rc 0 "SIGTERM with --watch"

# ---- --watch a Kubernetes ConfigMap volume ---------------------------------------
# The kubelet writes each version into a timestamped directory, points the
# `..data` symlink at it by renaming a new link over the old one, and the
# policy is a symlink through it: the name agent_auth.yaml never changes.
# (test: watch_configmap)
mkdir -p cm/..2026_01_01_00_00_00.1
cp a.yaml cm/..2026_01_01_00_00_00.1/agent_auth.yaml
ln -s ..2026_01_01_00_00_00.1 cm/..data
ln -s ..data/agent_auth.yaml cm/agent_auth.yaml
start_server cm -c cm/agent_auth.yaml serve --listen 127.0.0.1:0 --watch || { finish; exit; }
post /v1/authorize "$W"
expect_json 'd["allowed"] is True' "ConfigMap: policy a allows write"
mkdir cm/..2026_01_01_00_01_00.2
cp b.yaml cm/..2026_01_01_00_01_00.2/agent_auth.yaml
ln -s ..2026_01_01_00_01_00.2 cm/..data_tmp
mv -T cm/..data_tmp cm/..data
rm -rf cm/..2026_01_01_00_00_00.1
i=0
while [ $i -lt 200 ]; do
    post /v1/authorize "$W"
    grep -q '"allowed":false' "$OUT" && break
    sleep 0.025
    i=$((i + 1))
done
expect_json 'd["allowed"] is False and "not authorized" in d["reason"]' "watch_configmap: the swapped ..data link brings policy b"
req GET /v1/policy
expect_json "d['metadata']['name']=='policy-b' and d['sha256']=='$(sha256sum b.yaml | cut -d' ' -f1)'" "watch_configmap: /v1/policy names b"
# A second swap, back to a.
mkdir cm/..2026_01_01_00_02_00.3
cp a.yaml cm/..2026_01_01_00_02_00.3/agent_auth.yaml
ln -s ..2026_01_01_00_02_00.3 cm/..data_tmp
mv -T cm/..data_tmp cm/..data
i=0
while [ $i -lt 200 ]; do
    post /v1/authorize "$W"
    grep -q '"allowed":true' "$OUT" && break
    sleep 0.025
    i=$((i + 1))
done
expect_json 'd["allowed"] is True' "watch_configmap: a second swap brings policy a back"
# Events that change nothing the path resolves to reload nothing: the old
# version's directory removed later, a new file beside the policy.
rm -rf cm/..2026_01_01_00_01_00.2
touch cm/unrelated
sleep 0.5
req GET /metrics
grep -q 'agent_auth_policy_reloads_total{result="ok"} 2' "$OUT" && pass || fail "watch_configmap: exactly two reloads: $(grep reloads_total "$OUT" | tr '\n' ' ')"
grep -q 'agent_auth_policy_reloads_total{result="error"} 0' "$OUT" && pass || fail "watch_configmap: no failed reload"
stop_server
expect_rc 0 "SIGTERM with a ConfigMap"

# A policy path that is a symlink to a file in another directory, edited
# in place there: that directory is watched too. (test: watch_symlink_elsewhere)
mkdir -p elsewhere
cp a.yaml elsewhere/real.yaml
ln -s elsewhere/real.yaml linked.yaml
start_server ln -c linked.yaml serve --listen 127.0.0.1:0 --watch || { finish; exit; }
post /v1/authorize "$W"
expect_json 'd["allowed"] is True' "watch_symlink_elsewhere: policy a"
cat b.yaml >elsewhere/real.yaml
i=0
while [ $i -lt 200 ]; do
    post /v1/authorize "$W"
    grep -q '"allowed":false' "$OUT" && break
    sleep 0.025
    i=$((i + 1))
done
expect_json 'd["allowed"] is False' "watch_symlink_elsewhere: an edit of the target in its own directory is seen"
stop_server
expect_rc 0 "SIGTERM with a symlinked policy"

# ---- a reload that names another state store --------------------------------------
# (test: reload_state_path) The new store is opened and used; the old one
# is closed once no request holds it. A store that cannot be opened
# refuses the reload, with the reason in the answer, /readyz and the log.
mkdir -p st1 st2
sed 's/^profiles:/state: {path: st1\/state.db}\nprofiles:/' a.yaml >s1.yaml
sed 's/^profiles:/state: {path: st2\/state.db}\nprofiles:/' a.yaml >s2.yaml
cp s1.yaml sp.yaml
start_server st -c sp.yaml serve --listen 127.0.0.1:0 || { finish; exit; }
post /v1/sessions '{"agent":"assistant","user":"bob"}'
expect_code 201 "a session in the first store"
S1=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["session_id"])' "$OUT")
cp s2.yaml sp.yaml
req POST /v1/policy/reload
expect_code 200 "reload_state_path: a policy naming another store reloads"
[ -f st2/state.db ] && pass || fail "reload_state_path: the new store was not created"
req GET /v1/sessions
expect_json 'd == []' "reload_state_path: the new store has no sessions"
post /v1/sessions '{"agent":"assistant","user":"carol"}'
expect_code 201 "a session in the second store"
S2=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["session_id"])' "$OUT")
aa -c sp.yaml --state st2/state.db sessions --list -o json
expect_json "[x['session_id'] for x in d]==['$S2']" "reload_state_path: the CLI finds the new session in the new store"
aa -c sp.yaml --state st1/state.db sessions --list -o json
expect_json "[x['session_id'] for x in d]==['$S1']" "reload_state_path: the old store keeps only the old session"
post /v1/authorize "{\"agent\":\"assistant\",\"user\":\"bob\",\"action\":\"write\",\"session_id\":\"$S1\"}"
expect_json 'd["allowed"] is False and "session" in d["reason"]' "reload_state_path: a session of the old store is unknown now"
grep -q 'another state store' st.err && pass || fail "reload_state_path: the switch is logged"
# The old store is closed: no descriptor of the process names its file.
if ls -l /proc/$SRV_PID/fd | grep -q 'st1/state.db'; then
    fail "reload_state_path: the old store is still open"
else pass; fi
ls -l /proc/$SRV_PID/fd | grep -q 'st2/state.db' && pass || fail "reload_state_path: the new store is not open"
# A store the service may not open (its directory is writable by others).
mkdir -p st3
chmod 0777 st3
sed 's/^profiles:/state: {path: st3\/state.db}\nprofiles:/' a.yaml >sp.yaml
req POST /v1/policy/reload
expect_code 422 "reload_state_path: a store that cannot be opened refuses the reload"
expect_json '"state store" in d["error"] and "st3" in d["error"] and "writable by others" in d["error"]' "reload_state_path: the answer says why"
req GET /readyz
expect_code 503 "reload_state_path: readyz after the refused store"
expect_json 'any("state store" in r and "st3" in r for r in d["reasons"])' "reload_state_path: readyz names the store"
grep -q 'policy reload failed.*state store.*st3' st.err && pass || fail "reload_state_path: the log names the store"
req GET /v1/sessions
expect_json "[x['session_id'] for x in d]==['$S2']" "reload_state_path: the second store still serves"
[ -e st3/state.db ] && fail "reload_state_path: a file was made in the refused directory" || pass

# Under continuous load, reloads that switch between two stores fail no
# request: each finishes with the store its snapshot holds, and a store is
# closed only when its last request is done. The requests carry a session
# id, so that every decision looks the session up in the store.
cp s1.yaml sp.yaml
req POST /v1/policy/reload
expect_code 200 "back to the first store"
HP=${URL#http://}
rm -f stop started
"$PY" load.py "${HP%:*}" "${HP##*:}" "{\"agent\":\"assistant\",\"user\":\"bob\",\"action\":\"write\",\"session_id\":\"$S1\"}" >load2.out 2>load2.err &
LOAD_PID=$!
i=0
while [ ! -e started ] && [ $i -lt 200 ]; do sleep 0.025; i=$((i + 1)); done
reload_fail=0
for n in 1 2 3 4 5 6 7 8 9 10; do
    if [ $((n % 2)) = 1 ]; then cp s2.yaml p2.tmp; else cp s1.yaml p2.tmp; fi
    mv p2.tmp sp.yaml
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/v1/policy/reload")
    [ "$code" = 200 ] || reload_fail=$((reload_fail + 1))
    sleep 0.1
done
touch stop
wait "$LOAD_PID"
[ "$reload_fail" = 0 ] && pass || fail "reload_state_path: $reload_fail store-switching reloads failed under load"
cat load2.err >&2
# In the first store the session is valid (allowed); in the second it is unknown (denied).
"$PY" -c 'import json,sys; d=json.load(open("load2.out")); print("load during 10 store switches:", d, file=sys.stderr); sys.exit(0 if d["bad"]==0 and d["ok"]>=100 and d["allowed"]>0 and d["denied"]>0 else 1)' \
    && pass || fail "reload_state_path: requests failed while the store switched: $(cat load2.out)"
stop_server
expect_rc 0 "SIGTERM after store switches"

finish
