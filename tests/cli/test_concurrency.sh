#!/bin/bash
# Many real processes at once on one state file and one audit log: nothing
# is lost or duplicated, every audit line is whole, the chain verifies, and
# concurrent revocations of one grant succeed exactly once.
. "$(dirname "$0")/lib.sh"

# The interpreter itself, not a version-manager shim (which can take a
# second per start): lib.sh's expect_json calls python3 too.
PY=$(python3 -c 'import sys; print(sys.executable)')
python3() { "$PY" "$@"; }

cp "$ENTERPRISE" agent_auth.yaml # the default; audit.path is relative: in $TMP
AUDIT=$TMP/.agent_auth/audit.jsonl

# 24 writers on a loaded machine can keep one waiting past the default 5 s
# busy timeout (SQLite's busy handler is not a queue): this test is about
# losing nothing, not about latency, so waiting is allowed to take longer.
export AA_STATE_BUSY_TIMEOUT_MS=60000

P=8  # processes of each kind at once
N=25 # calls per process
if [ "${AA_VALGRIND:-}" = 1 ]; then
    P=3
    N=3
fi

# run OUT ERR ARGS...: the binary (under valgrind with AA_VALGRIND=1) with
# its output in files; returns its exit code. Safe to run in the background.
run() {
    local out=$1 err=$2
    shift 2
    if [ "${AA_VALGRIND:-}" = 1 ]; then
        valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
            --error-exitcode=99 "$AGENT_AUTH" "$@" >"$out" 2>"$err"
    else
        "$AGENT_AUTH" "$@" >"$out" 2>"$err"
    fi
}

# Each worker loop writes one line per call to its log w/log.*: "RC OUTFILE";
# the output of call I of loop K is w/<kind>K.I (and .err).
mkdir -p w
create_loop() { # K: sessions for user uK
    local k=$1 i
    for ((i = 0; i < N; i++)); do
        run "w/s$k.$i" "w/s$k.$i.err" sessions --create --agent copilot --user "u$k" -o json
        echo "$? w/s$k.$i" >>"w/log.create.$k"
    done
}
delegate_loop() {
    local k=$1 i
    for ((i = 0; i < N; i++)); do
        run "w/d$k.$i" "w/d$k.$i.err" delegate --from-user "u$k" --to-agent copilot \
            --actions deploy:staging --duration 600 --reason "release $k.$i" -o json
        echo "$? w/d$k.$i" >>"w/log.delegate.$k"
    done
}
check_loop() { # even calls are allowed, odd ones denied by the profile
    local k=$1 i act
    for ((i = 0; i < N; i++)); do
        if ((i % 2)); then act=delete:branch; else act=read:docs; fi
        run "w/c$k.$i" "w/c$k.$i.err" check --agent copilot --user "u$k" --action "$act" \
            --resource "r$k.$i" -o json
        echo "$? w/c$k.$i" >>"w/log.check.$k"
    done
}

pids=()
for ((k = 0; k < P; k++)); do
    create_loop "$k" &
    pids+=($!)
    delegate_loop "$k" &
    pids+=($!)
    check_loop "$k" &
    pids+=($!)
done
wait "${pids[@]}"

TOTAL=$((P * N))

# Exit codes: creates and delegations 0; checks 0/1 alternating.
bad=$(cat w/log.create.* w/log.delegate.* | awk '$1 != 0' | wc -l)
[ "$bad" = 0 ] && pass || {
    fail "$bad session/delegation creations failed"
    cat w/log.create.* w/log.delegate.* | awk '$1 != 0 {print $2}' | head -3 |
        while read -r f; do cat "$f.err" >&2; done
}
allowed=$(cat w/log.check.* | awk '$1 == 0' | wc -l)
denied=$(cat w/log.check.* | awk '$1 == 1' | wc -l)
want_denied=$((P * (N / 2)))
[ "$allowed" = $((TOTAL - want_denied)) ] && [ "$denied" = "$want_denied" ] && pass ||
    fail "checks: $allowed allowed, $denied denied; expected $((TOTAL - want_denied)) and $want_denied"
if cat w/*.err | grep -qiE 'error|sanitizer|valgrind|==[0-9]+=='; then
    fail "stderr of concurrent runs: $(cat w/*.err | head -c 600)"
else
    pass
fi

# Every session and grant created is listed exactly once, and nothing else.
aa sessions --list -o json
expect_rc 0 "sessions --list"
cp "$OUT" sessions.json
aa delegations --list -o json
expect_rc 0 "delegations --list"
cp "$OUT" delegations.json

"$PY" - "$TOTAL" <<'EOF' >count.out 2>&1 && pass || fail "state after concurrent writers: $(cat count.out)"
import glob, json, re, sys
total = int(sys.argv[1])
def created(prefix, key):
    return [json.load(open(f))[key] for f in glob.glob('w/%s*' % prefix)
            if re.fullmatch(r'w/%s\d+\.\d+' % prefix, f)]
for kind, key, listing in (('s', 'session_id', 'sessions.json'),
                           ('d', 'delegation_id', 'delegations.json')):
    made = created(kind, key)
    listed = [x[key] for x in json.load(open(listing))]
    assert len(made) == total, '%s: %d created, expected %d' % (key, len(made), total)
    assert len(set(made)) == total, '%s: duplicate ids created' % key
    assert len(listed) == total, '%s: %d listed, expected %d' % (key, len(listed), total)
    assert sorted(listed) == sorted(made), '%s: listed ids differ from created' % key
EOF

# The audit log: exactly one whole, parseable line per call, distinct
# event ids, per-event counts as expected; the chain verifies.
audit_counts() { # prints "lines authorize allowed session.create delegation.create session.revoke"
    "$PY" - "$AUDIT" <<'EOF'
import json, sys
from collections import Counter
raw = open(sys.argv[1], 'rb').read()
assert raw.endswith(b'\n'), 'last line is not whole'
lines = raw.split(b'\n')[:-1]
ev, ids, allowed = Counter(), set(), 0
for n, l in enumerate(lines, 1):
    d = json.loads(l)  # every line whole and parseable
    assert set(('event_id', 'timestamp', 'prev_hash', 'hash')) <= set(d), 'line %d' % n
    ids.add(d['event_id'])
    e = d.get('event', 'authorize')
    ev[e] += 1
    allowed += e == 'authorize' and d['allowed'] is True
assert len(ids) == len(lines), 'event ids repeat'
print(len(lines), ev['authorize'], allowed, ev['session.create'],
      ev['delegation.create'], ev['session.revoke'])
EOF
}
got=$(audit_counts 2>&1)
want="$((3 * TOTAL)) $TOTAL $((TOTAL - want_denied)) $TOTAL $TOTAL 0"
[ "$got" = "$want" ] && pass || fail "audit counts: got '$got', expected '$want'"

# Each check's decision is the one its audit line records.
"$PY" - "$AUDIT" <<'EOF' >match.out 2>&1 && pass || fail "decisions vs audit lines: $(cat match.out)"
import glob, json, re, sys
logged = {}
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get('event') == 'authorize':
        assert d['resource'] not in logged, 'two lines for ' + d['resource']
        logged[d['resource']] = (d['allowed'], d['reason'])
for f in glob.glob('w/c*'):
    m = re.fullmatch(r'w/c(\d+\.\d+)', f)
    if m:
        d = json.load(open(f))
        assert logged['r' + m.group(1)] == (d['allowed'], d['reason']), f
EOF

aa audit --verify -o json
expect_rc 0 "audit --verify after concurrent writers"
expect_json "d['valid'] and d['lines'] == $((3 * TOTAL))" "verify counts every line"

# ---- revocations racing with checks -------------------------------------
# Two revokers compete for every session (both revoke each id, in the same
# order, so they race on it) while checkers use those sessions: exactly one
# revoke per session succeeds, and a check sees either a valid or a revoked
# session.
R=16 # sessions to revoke
[ "${AA_VALGRIND:-}" = 1 ] && R=3
"$PY" - "$R" <<'EOF' >revoke.ids
import glob, json, re, sys
made = []
for f in sorted(glob.glob('w/s*')):
    if re.fullmatch(r'w/s\d+\.\d+', f):
        d = json.load(open(f))
        made.append('%s %s' % (d['session_id'], d['user']))
print('\n'.join(made[:int(sys.argv[1])]))
EOF
mkdir -p v
revoke_loop() { # K
    local k=$1 id user j=0
    while read -r id user; do
        run "v/r$k.$j" "v/r$k.$j.err" sessions --revoke "$id" -o json
        echo "$? $id" >>"v/revoke.$k"
        j=$((j + 1))
    done <revoke.ids
}
session_check_loop() { # K: checks with the sessions, in turn
    local k=$1 j=0 id user
    while read -r id user; do
        run "v/c$k.$j" "v/c$k.$j.err" check --agent copilot --user "$user" \
            --action read:docs --session-id "$id" -o json
        echo "$? v/c$k.$j" >>"v/check.$k"
        j=$((j + 1))
    done < <(awk -v k="$k" 'NR % 2 == k % 2' revoke.ids)
}
pids=()
revoke_loop 0 &
pids+=($!)
revoke_loop 1 &
pids+=($!)
for k in 0 1; do
    session_check_loop "$k" &
    pids+=($!)
done
wait "${pids[@]}"

ok=$(cat v/revoke.* | awk '$1 == 0' | wc -l)
refused=$(cat v/revoke.* | awk '$1 == 1' | wc -l)
once=$(cat v/revoke.* | awk '$1 == 0 {print $2}' | sort | uniq -d | wc -l)
[ "$ok" = "$R" ] && [ "$refused" = "$R" ] && [ "$once" = 0 ] && pass ||
    fail "revocations: $ok succeeded, $refused refused, $once ids twice; expected $R, $R, 0"
"$PY" - <<'EOF' >vcheck.out 2>&1 && pass || fail "checks during revocation: $(cat vcheck.out)"
import glob, json
n = 0
for log in glob.glob('v/check.*'):
    for line in open(log):
        rc, f = line.split()
        d = json.load(open(f))
        if rc == '0':
            assert d['allowed'] and d['reason'] == "Allowed by profile 'copilot'", (f, d)
        else:
            assert rc == '1' and not d['allowed'] and \
                'Invalid or expired session' in d['reason'], (f, rc, d)
        n += 1
print(n)
EOF
nchecks=$(cat v/check.* | wc -l)
aa sessions --list -o json
expect_json "len(d) == $((TOTAL - R))" "revoked sessions are no longer listed"
# Afterwards every revoked session is refused.
read -r id user < revoke.ids
aa check --agent copilot --user "$user" --action read:docs --session-id "$id" -o json
expect_rc 1 "a revoked session is refused"
expect_json "'Invalid or expired session' in d['reason']" "revoked session reason"

got=$(audit_counts 2>&1)
vallowed=$(cat v/check.* | awk '$1 == 0' | wc -l)
want="$((3 * TOTAL + nchecks + R + 1)) $((TOTAL + nchecks + 1)) $((TOTAL - want_denied + vallowed)) $TOTAL $TOTAL $R"
[ "$got" = "$want" ] && pass || fail "audit counts after revocations: got '$got', expected '$want'"
aa audit --verify
expect_rc 0 "audit --verify after revocations"
expect_out "Audit log is intact: $((3 * TOTAL + nchecks + R + 1)) entries" "verify line count"

finish
