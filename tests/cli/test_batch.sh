#!/bin/bash
# `check --batch`: JSON Lines requests in (a file or stdin), one JSON line
# out per request, in order; bad lines answered in place; exit codes; audit
# lines for every decision; a large batch.
. "$(dirname "$0")/lib.sh"
. "$AA_SOURCE_DIR/tests/data/cli/defer.sh"

AUDIT=.agent_auth/audit.jsonl

audit_lines() { if [ -f "$AUDIT" ]; then wc -l < "$AUDIT"; else echo 0; fi; }

# ---- all allowed, from a file and from stdin -----------------------------
cat > allowed.jsonl <<'EOF'
{"agent": "copilot", "user": "alice", "action": "read:docs"}
{"agent": "billing-agent", "user": "bob", "action": "pay:invoice", "metadata": {"amount": 50000}}
{"agent": "copilot", "user": "alice", "action": "read:x", "scope": "project:a", "resource": "r1"}
EOF
aa -c "$ENTERPRISE" check --batch allowed.jsonl
expect_rc 0 "every line allowed: exit 0"
defer_lines "len(out) == 3" "one output line per request"
defer_lines "all(sorted(o) == sorted(['allowed','tier','reason','requires_approval','approval_policy','evaluation_time_ms']) for o in out)" "decision fields"
defer_lines "[o['allowed'] for o in out] == [True, True, True]" "all allowed"
defer_lines "out[1]['tier'] == 'strong' and out[1]['approval_policy'] == 'large-payment' and out[1]['requires_approval'] is True" "metadata numbers reach conditions"
defer_lines "all(type(o['evaluation_time_ms']) in (int, float) for o in out)" "evaluation time is a number"
[ "$(audit_lines)" = 3 ] && pass || fail "one audit line per batch decision (got $(audit_lines))"

aa_in allowed.jsonl -c "$ENTERPRISE" check --batch -
expect_rc 0 "stdin with '-'"
defer_lines "len(out) == 3 and out[0]['reason'] == \"Allowed by profile 'copilot'\"" "stdin results"
aa_in allowed.jsonl -c "$ENTERPRISE" check --batch
expect_rc 0 "stdin without an argument"
defer_lines "len(out) == 3" "stdin without an argument: 3 lines"
[ "$(audit_lines)" = 9 ] && pass || fail "audit lines accumulate over runs (got $(audit_lines))"

# ---- denied, ids, order ---------------------------------------------------
cat > mixed.jsonl <<'EOF'
{"id": 1, "agent": "copilot", "user": "alice", "action": "read:docs"}
{"id": "two", "agent": "copilot", "user": "alice", "action": "delete:repo"}
{"id": [3, {"k": null}], "agent": "research-bot", "user": "alice", "action": "write:x"}
{"agent": "orchestrator", "user": "alice", "action": "pay:invoice", "target_agent": "billing-agent"}
{"id": 5, "agent": "copilot", "user": "alice", "action": "read:x", "scope": "workspace:z"}
EOF
aa -c "$ENTERPRISE" check --batch mixed.jsonl
expect_rc 1 "a denial and no bad line: exit 1"
defer_lines "len(out) == 5" "five decisions"
defer_lines "[o.get('id') for o in out] == [1, 'two', [3, {'k': None}], None, 5]" "ids echoed as given, in order"
defer_lines "[o['allowed'] for o in out] == [True, False, False, False, False]" "decisions in order"
defer_lines "'id' not in out[3]" "no id when none was given"
defer_lines "out[3]['reason'] == 'Denied by A2A policy: Nobody may ask the billing agent to pay'" "target_agent in batch"
defer_lines "\"Scope 'workspace:z' not allowed\" in out[4]['reason']" "scope in batch"

# ---- malformed lines, answered in place ------------------------------------
printf '%s\n' \
    '{"agent": "copilot", "user": "alice", "action": "read:1"}' \
    'this is not json' \
    '{"agent": "copilot", "user": "alice"}' \
    '{"user": "alice", "action": "read:x"}' \
    '{"agent": "copilot", "action": "read:x"}' \
    '{"agent": 7, "user": "alice", "action": "read:x"}' \
    '{"agent": "copilot", "user": "alice", "action": "read:x", "sope": "x"}' \
    '{"agent": "copilot", "user": "alice", "action": "read:x", "metadata": [1]}' \
    '{"agent": "copilot", "user": "alice", "action": "read:x", "metadata": "env=prod"}' \
    '' \
    '{"agent": "copilot", "user": "alice", "action": "read:12"}' \
    '   ' \
    '["agent", "copilot"]' \
    '{"agent": "copilot", "user": "alice", "action": "read:x", "metadata": {"a": {"b": 1}}}' \
    '{"agent": "copilot", "user": ["alice"], "action": "read:x"}' \
    '{"agent": "copilot", "user": "alice", "action": ""}' \
    '{"agent": "copilot", "user": "alice", "action": "read:x"' \
    '{"agent": "copilot", "user": "alice", "action": "delete:18"}' \
    > bad.jsonl
before=$(audit_lines)
aa -c "$ENTERPRISE" check --batch bad.jsonl
expect_rc 2 "a malformed line: exit 2 (even with a denial)"
defer_lines "len(out) == 16" "one output line per non-blank input line"
defer_lines "[o.get('line') for o in out] == [None, 2, 3, 4, 5, 6, 7, 8, 9, None, 13, 14, 15, 16, 17, None]" "errors carry their line numbers (blank lines counted)"
defer_lines "all(sorted(o) == ['error', 'line'] and type(o['line']) is int and o['error'] for o in out if 'line' in o)" "error objects have line and error only"
defer_lines "'invalid JSON' in out[1]['error']" "not JSON"
defer_lines "'action' in out[2]['error'] and 'agent' in out[3]['error'] and 'user' in out[4]['error']" "missing fields named"
defer_lines "\"'agent' must be a string\" in out[5]['error']" "wrong type named"
defer_lines "\"unknown field 'sope'\" in out[6]['error']" "unknown field named"
defer_lines "'metadata' in out[7]['error'] and 'object' in out[7]['error'] and 'metadata' in out[8]['error']" "metadata must be an object"
defer_lines "'object' in out[10]['error']" "an array is not a request"
defer_lines "\"'a'\" in out[11]['error']" "nested metadata value refused, key named"
defer_lines "\"'user' must be a string\" in out[12]['error']" "a list is not a string"
defer_lines "'action' in out[13]['error']" "an empty action is missing"
defer_lines "'invalid JSON' in out[14]['error']" "truncated JSON"
defer_lines "out[0]['allowed'] is True and out[9]['allowed'] is True and out[15]['allowed'] is False" "good lines around bad ones are decided"
[ "$(audit_lines)" = $((before + 3)) ] && pass || fail "only decided lines are audited"

# ---- numbers out of range, empty fields, list metadata ----------------------
many=$(for i in $(seq 1 40); do printf '"k%d": %d, ' "$i" "$i"; done)
printf '%s\n' \
    '{"agent": "copilot", "user": "alice", "action": "read:x", "metadata": {"n": 123456789012345678901234567890}}' \
    '{"agent": "copilot", "user": "alice", "action": "read:2"}' \
    '{"agent": "copilot", "user": "alice", "action": "read:x", "metadata": {"a": 1, "tags": ["x", 123456789012345678901234567890]}}' \
    '{"agent": "copilot", "user": "alice", "action": ""}' \
    '{"agent": "", "user": "alice", "action": "read:x"}' \
    '{"agent": "copilot", "user": "alice", "action": "read:6", "metadata": {"tags": ["a", 2, true, null], "none": []}}' \
    '{"agent": "copilot", "user": "alice", "action": "read:x", "metadata": {"tags": ["a", ["b"]]}}' \
    '{"agent": "copilot", "user": "alice", "action": "read:x", "metadata": {"tags": [{"b": 1}]}}' \
    "{\"agent\": \"copilot\", \"user\": \"alice\", \"action\": \"read:9\", \"metadata\": {${many}\"last\": [1]}}" \
    "{\"agent\": \"copilot\", \"user\": \"alice\", \"action\": \"read:x\", \"metadata\": {${many}\"k33\": 1}}" \
    > edge.jsonl
aa -c "$ENTERPRISE" check --no-audit --batch edge.jsonl
expect_rc 2 "out-of-range numbers and empty fields: exit 2"
defer_lines "len(out) == 10" "edge cases: one output line each"
defer_lines "\"metadata 'n'\" in out[0]['error'] and '9223372036854775807' in out[0]['error']" "too large integer: field and limit named"
defer_lines "out[1].get('allowed') is True" "the line after a too large integer is decided"
defer_lines "\"metadata 'tags'\" in out[2]['error'] and '9223372036854775807' in out[2]['error']" "too large integer in a list: key named"
defer_lines "out[3]['error'] == \"field 'action' is empty\" and out[4]['error'] == \"field 'agent' is empty\"" "an empty field says empty"
defer_lines "out[5].get('allowed') is True" "list metadata of scalars accepted"
defer_lines "\"metadata 'tags'\" in out[6]['error'] and 'not a list' in out[6]['error']" "nested list refused, key named"
defer_lines "\"metadata 'tags'\" in out[7]['error'] and 'not an object' in out[7]['error']" "object in a list refused, key named"
defer_lines "out[8].get('allowed') is True" "many metadata keys decided"
defer_lines "'duplicate' in out[9]['error'] and 'k33' in out[9]['error']" "duplicate among many metadata keys refused"

# Exit 2 also when every decided line is allowed.
printf '%s\n' '{"agent":"copilot","user":"alice","action":"read:x"}' 'nope' > bad2.jsonl
aa -c "$ENTERPRISE" check --batch bad2.jsonl
expect_rc 2 "allowed plus malformed: exit 2"

# ---- blank input, no final newline, CRLF ------------------------------------
: > empty.jsonl
aa -c "$ENTERPRISE" check --batch empty.jsonl
expect_rc 0 "empty input: nothing to deny"
[ ! -s "$OUT" ] && pass || fail "empty input: no output"
printf '\n\n   \n' > blank.jsonl
aa -c "$ENTERPRISE" check --batch blank.jsonl
expect_rc 0 "blank lines only"
[ ! -s "$OUT" ] && pass || fail "blank lines produce no output"
printf '{"agent":"copilot","user":"alice","action":"read:a"}\r\n\r\n{"agent":"copilot","user":"alice","action":"delete:b"}' > crlf.jsonl
aa -c "$ENTERPRISE" check --batch crlf.jsonl
expect_rc 1 "CRLF lines and no final newline"
defer_lines "[o['allowed'] for o in out] == [True, False]" "CRLF and unterminated last line are decided"

# ---- sessions and metadata types in batch ---------------------------------
aa -c "$ENTERPRISE" sessions --create -a copilot -u alice
SID=$(sed -n 's/^Session created: //p' "$OUT")
cat > sess.jsonl <<EOF
{"agent": "copilot", "user": "alice", "action": "read:x", "session_id": "$SID"}
{"agent": "copilot", "user": "bob", "action": "read:x", "session_id": "$SID"}
{"agent": "copilot", "user": "alice", "action": "read:x", "session_id": "no-such-session"}
{"agent": "copilot", "user": "alice", "action": "deploy:web", "metadata": {"env": "prod", "n": 1.5, "ok": true, "none": null}}
{"agent": "copilot", "user": "alice", "action": "deploy:web", "metadata": {"env": "staging"}}
{"agent": "copilot", "user": "alice", "action": "read:x", "resource": null, "scope": null, "metadata": null}
EOF
aa -c "$ENTERPRISE" check --batch sess.jsonl
expect_rc 1 "batch with sessions"
defer_lines "out[0]['allowed'] and not out[1]['allowed'] and 'Session user mismatch' in out[1]['reason']" "session checks in batch"
defer_lines "'Invalid or expired session' in out[2]['reason']" "unknown session in batch"
defer_lines "out[3]['tier'] == 'strong' and out[3]['approval_policy'] == 'production-deploy' and out[4]['tier'] == 'autonomous'" "metadata strings in batch"
defer_lines "out[5]['allowed'] is True" "null optional fields are accepted"

# ---- errors of the batch itself -------------------------------------------
aa -c "$ENTERPRISE" check --batch "$TMP/missing.jsonl"
expect_rc 1 "missing batch file"
expect_err "Error: cannot read" "missing batch file message"
expect_err "missing.jsonl" "missing batch file named"
aa -c "$ENTERPRISE" check --batch "$TMP"
expect_rc 1 "a directory as batch file"
expect_err "Error:" "directory error"
expect_no_crash "directory as batch file"

# ---- an interactive peer gets each answer before sending the next ------------
"$PY" - "$AGENT_AUTH" "$ENTERPRISE" <<'EOF' && pass || fail "answers arrive while stdin stays open"
import json, select, subprocess, sys
p = subprocess.Popen([sys.argv[1], '-c', sys.argv[2], 'check', '--batch', '--no-audit'],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
answers = []
for line in ['{"id": 0, "agent": "copilot", "user": "alice", "action": "read:x"}',
             '{"id": 1, "agent": "copilot", "user": "alice", "action": "delete:x"}',
             'not json']:
    p.stdin.write((line + '\n').encode())
    p.stdin.flush()
    ready, _, _ = select.select([p.stdout], [], [], 60)  # a deadlock guard, not a timing check
    if not ready:
        p.kill()
        sys.exit('no answer while stdin is open')
    answers.append(json.loads(p.stdout.readline()))
p.stdin.close()
rest, rc = p.stdout.read(), p.wait()
assert [a.get('allowed') for a in answers] == [True, False, None], answers
assert answers[2]['line'] == 3 and rest == b'' and rc == 2, (answers, rest, rc)
EOF

# ---- a large batch --------------------------------------------------------
if [ "${AA_VALGRIND:-}" != 1 ]; then
    "$PY" - <<'EOF'
import json
actions = ['read:docs', 'delete:x', 'deploy:web', 'write:code']
with open('large.jsonl', 'w') as f:
    for i in range(20000):
        f.write(json.dumps({'id': i, 'agent': 'copilot', 'user': 'alice' if i % 8 < 4 else 'bob',
                            'action': actions[i % 4], 'metadata': {'env': 'prod', 'i': i}}) + '\n')
EOF
    before=$(audit_lines)
    aa -c "$ENTERPRISE" check --batch large.jsonl
    expect_rc 1 "large batch (has denials)"
    [ "$(wc -l < "$OUT")" = 20000 ] && pass || fail "large batch: 20000 output lines"
    defer_lines "[o['id'] for o in out] == list(range(20000))" "large batch: every id once, in order"
    defer_lines "all(o['allowed'] == (o['id'] % 4 != 1) for o in out)" "large batch: decisions follow the requests"
    defer_lines "all(o['tier'] == 'strong' for o in out if o['id'] % 4 == 2)" "large batch: tiers"
    defer_lines "all(o['tier'] == ('soft' if o['id'] % 8 >= 4 else 'autonomous') for o in out if o['id'] % 4 == 3)" "large batch: user-dependent tiers"
    [ "$(audit_lines)" = $((before + 20000)) ] && pass || fail "large batch: 20000 audit lines"
    aa -c "$ENTERPRISE" audit --verify
    expect_rc 0 "audit chain intact after the large batch"
else
    echo "AA_VALGRIND=1: large batch skipped"
fi

# ---- group commit: several batch processes, one chain ----------------------
# Each process decides its lines in groups (one lock and one write per
# group); the groups of four processes interleave in one log whose chain
# verifies, with exactly one whole line per decision.
"$PY" - <<'EOF'
import json
for p in range(4):
    with open('procs-%d.jsonl' % p, 'w') as f:
        for i in range(700):
            f.write(json.dumps({'agent': 'copilot', 'user': 'alice', 'action': 'read:docs',
                                'resource': 'p%d-%d' % (p, i)}) + '\n')
EOF
rm -f "$AUDIT"
pids=""
for p in 0 1 2 3; do
    "$AGENT_AUTH" -c "$ENTERPRISE" check --batch procs-$p.jsonl >procs-$p.out 2>&1 &
    pids="$pids $!"
done
for pid in $pids; do wait "$pid" || fail "a concurrent batch process failed"; done
[ "$(audit_lines)" = 2800 ] && pass || fail "concurrent batches: 2800 audit lines (got $(audit_lines))"
"$PY" - "$AUDIT" <<'EOF' && pass || fail "concurrent batches: every line whole, every request once, each process's in order"
import json, sys
seen = {}
for line in open(sys.argv[1]):
    o = json.loads(line)
    p, i = o['resource'][1:].split('-')
    seen.setdefault(p, []).append(int(i))
assert sorted(seen) == ['0', '1', '2', '3'], seen.keys()
assert all(v == list(range(700)) for v in seen.values())
EOF
aa -c "$ENTERPRISE" audit --verify -o json
expect_rc 0 "concurrent batches: the chain verifies"
expect_json "d['lines'] == 2800 and not d.get('warnings')" "concurrent batches: 2800 lines, no warning"

# ---- a group whose write fails is denied -----------------------------------
# The log is over the file size limit: every write fails (EFBIG, as on a
# full disk). Every decision of the batch is denied, none is written.
if [ "$(ulimit -f)" = unlimited ] || [ "$(ulimit -f)" -gt 1024 ]; then
    head -c 1100000 /dev/zero | tr '\0' ' ' >"$AUDIT"
    echo >>"$AUDIT"
    before=$(audit_lines)
    (
        trap '' XFSZ # writes past the limit fail with EFBIG
        ulimit -f 1024
        aa -c "$ENTERPRISE" check --batch allowed.jsonl
        expect_rc 1 "batch on a full log: exit 1 (denied)"
        "$PY" - "$OUT" <<'EOF' && pass || fail "batch on a full log: every decision of the group denied"
import json, sys
out = [json.loads(l) for l in open(sys.argv[1])]
assert len(out) == 3, out
for o in out:
    assert not o['allowed'], o
    assert o['reason'].startswith('Audit log unavailable'), o
    assert 'would have been: allowed' in o['reason'], o
EOF
        [ "$FAILS" = 0 ]
    ) || fail "batch on a full log"
    [ "$(audit_lines)" = "$before" ] && pass || fail "batch on a full log: no line written"
    rm -f "$AUDIT"
else
    echo "ulimit -f is set: the full-log batch case is not run"
fi

check_deferred
# Single-request options make no sense with --batch: a usage error.
aa -c "$ENTERPRISE" check --batch --agent copilot - </dev/null
expect_rc 2 "--batch with --agent"
expect_err "--agent cannot be combined with --batch" "names the option"

finish
