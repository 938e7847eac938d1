#!/usr/bin/env bash
# `agent-auth serve` with audit on: concurrent requests (single objects and
# array bodies) share audit writes (group commit), and the log still holds
# exactly one whole line per decision in one verified chain; a decision is
# answered only after its line is in the file; a group whose write fails is
# denied as a whole.
. "$(dirname "$0")/lib.sh"
. "$AA_SOURCE_DIR/tests/cli/serve_lib.sh"

cp "$MINIMAL" p.yaml
AUDIT=.agent_auth/audit.jsonl
start_server s -c p.yaml serve --listen 127.0.0.1:0 --threads 4 || { finish; exit; }

# Eight clients at once, each: 20 single requests and 4 arrays of 25.
"$PY" - <<'EOF'
import json
for c in range(8):
    for k in range(4):
        body = [{"agent": "assistant", "user": "bob", "action": "write",
                 "resource": "c%d-a%d-%d" % (c, k, i)} for i in range(25)]
        open("arr-%d-%d.json" % (c, k), "w").write(json.dumps(body))
EOF
client() {
    local c=$1 i k code
    for i in $(seq 0 19); do
        code=$(curl -s -m 10 -o "one-$c-$i.json" -w '%{http_code}' -H 'Content-Type: application/json' \
            --data-binary "{\"agent\":\"assistant\",\"user\":\"bob\",\"action\":\"write\",\"resource\":\"c$c-s$i\"}" \
            "$URL/v1/authorize")
        [ "$code" = 200 ] || echo "c$c-s$i: HTTP $code" >>client-errors
        # Answered only after its line is written: it is in the log now.
        grep -q "\"resource\":\"c$c-s$i\"" "$AUDIT" || echo "c$c-s$i: answered before its line was written" >>client-errors
    done
    for k in 0 1 2 3; do
        code=$(curl -s -m 10 -o "arr-$c-$k.out" -w '%{http_code}' -H 'Content-Type: application/json' \
            --data-binary "@arr-$c-$k.json" "$URL/v1/authorize")
        [ "$code" = 200 ] || echo "c$c-a$k: HTTP $code" >>client-errors
        grep -q "\"resource\":\"c$c-a$k-24\"" "$AUDIT" || echo "c$c-a$k: answered before its lines were written" >>client-errors
    done
}
: >client-errors
pids=""
for c in 0 1 2 3 4 5 6 7; do
    client "$c" &
    pids="$pids $!"
done
for pid in $pids; do wait "$pid"; done
[ -s client-errors ] && fail "clients: $(head -5 client-errors)" || pass

"$PY" - "$AUDIT" <<'EOF' && pass || fail "one whole line per decision, each once, all allowed"
import json, sys
got = []
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert o["allowed"] is True, o
    got.append(o["resource"])
want = ["c%d-s%d" % (c, i) for c in range(8) for i in range(20)] + \
       ["c%d-a%d-%d" % (c, k, i) for c in range(8) for k in range(4) for i in range(25)]
assert sorted(got) == sorted(want), (len(got), len(want))
# the elements of one array body are chained in their order
for c in range(8):
    for k in range(4):
        idx = [got.index("c%d-a%d-%d" % (c, k, i)) for i in range(25)]
        assert idx == sorted(idx), (c, k)
EOF
"$PY" - <<'EOF' && pass || fail "every array answer holds 25 allowed decisions"
import json
for c in range(8):
    for k in range(4):
        d = json.load(open("arr-%d-%d.out" % (c, k)))
        assert len(d) == 25 and all(x["allowed"] for x in d)
EOF
req GET /v1/audit/verify
expect_code 200 "audit verify"
expect_json 'd["ok"] is True and d["lines"] == 960 and not d["problems"]' "the chain verifies: 960 lines"

# The log becomes unwritable (its path is now a directory): every decision
# of an array body is denied, saying why.
rm -f "$AUDIT"
mkdir "$AUDIT"
"$PY" -c 'import json; print(json.dumps([{"agent":"assistant","user":"bob","action":"write"}]*30))' >fail.json
req POST /v1/authorize -H 'Content-Type: application/json' --data-binary @fail.json
expect_code 200 "the array is answered"
expect_json 'len(d) == 30 and all(not x["allowed"] and x["reason"].startswith("Audit log unavailable") for x in d)' "every decision of the failed group is denied"
rmdir "$AUDIT"
post /v1/authorize '{"agent":"assistant","user":"bob","action":"write"}'
expect_json 'd["allowed"] is True' "allowed again once the log can be written"

stop_server
expect_rc 0 "SIGTERM"
finish
