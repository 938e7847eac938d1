#!/bin/bash
# Faults around the real binary: processes killed in the middle of their
# work, an audit log that cannot be written (full file system, read-only
# directory; a directory or a device in its place is refused), a state
# database that is corrupt, locked or read-only, and grants that expire.
#
# Mounting small tmpfs file systems needs root (or CAP_SYS_ADMIN); without
# it the full-disk case falls back to `ulimit -f` and the read-only cases
# to `chattr +i`, or are skipped with a message.
. "$(dirname "$0")/lib.sh"

# The interpreter itself, not a version-manager shim (which can take a
# second per start): lib.sh's expect_json calls python3 too.
PY=$(python3 -c 'import sys; print(sys.executable)')
python3() { "$PY" "$@"; }

KILLS=50 # a multiple of LANES (below)
BRIEF=    # "brief": fewer checks where another case covers the same paths
if [ "${AA_VALGRIND:-}" = 1 ]; then
    KILLS=10
    BRIEF=brief
fi

MOUNTS=()
IMMUTABLE=()
cleanup() {
    local i
    for ((i = ${#IMMUTABLE[@]} - 1; i >= 0; i--)); do
        chattr -i "${IMMUTABLE[$i]}" 2>/dev/null
    done
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        umount "${MOUNTS[$i]}" 2>/dev/null || umount -l "${MOUNTS[$i]}" 2>/dev/null
    done
    cd / && rm -rf "$TMP"
}
trap cleanup EXIT

# small_fs DIR SIZE: a fresh tmpfs at DIR; fails when mounting is not
# permitted.
small_fs() {
    mkdir -p "$1" || return 1
    local dir
    dir=$(cd "$1" && pwd) || return 1 # cleanup may run in another directory
    mount -t tmpfs -o "size=$2,mode=0700" tmpfs "$dir" 2>/dev/null || return 1
    MOUNTS+=("$dir")
}
# read_only DIR: makes DIR (already populated) read-only for root too: a
# tmpfs copy remounted read-only, else chattr +i. Sets RO_HOW to the method.
# (Not in a subshell: it records what cleanup must undo.)
read_only() {
    local dir=$1 copy=$TMP/.ro-copy
    rm -rf "$copy" && cp -a "$dir" "$copy"
    if small_fs "$dir" 1m; then
        cp -a "$copy"/. "$dir"/ && mount -o remount,ro "$dir" 2>/dev/null &&
            { RO_HOW="read-only tmpfs"; return 0; }
        umount "$dir" && unset 'MOUNTS[-1]'
    fi
    dir=$(cd "$dir" && pwd) || return 1
    if chattr +i "$dir" 2>/dev/null; then
        IMMUTABLE+=("$dir")
        local f
        for f in "$dir"/*; do
            [ -f "$f" ] && chattr +i "$f" 2>/dev/null && IMMUTABLE+=("$f")
        done
        RO_HOW="chattr +i"
        return 0
    fi
    return 1
}
skip() { printf 'SKIP: %s\n' "$*"; }
# setup_run ARGS...: a step that only prepares files, run without valgrind;
# it must succeed.
setup_run() {
    "$AGENT_AUTH" "$@" >/dev/null 2>&1 || fail "setup step failed: agent-auth $*"
}
# expect_empty_list DESCRIPTION: stdout is the empty JSON list of -o json.
expect_empty_list() {
    if [ "$(cat "$OUT")" = "[]" ]; then pass; else fail "$1: not an empty list"; fi
}
section() { printf '== %s (at %ds)\n' "$*" "$SECONDS"; }

# policy NAME AUDIT_PATH STATE_PATH [ON_FAILURE]: the enterprise example
# with its audit and state paths replaced.
policy() {
    sed -e "s#path: .agent_auth/audit.jsonl#path: $2#" \
        -e "s#on_failure: deny#on_failure: ${4:-deny}#" "$ENTERPRISE" >"$1"
    printf 'state:\n  path: %s\n' "$3" >>"$1"
}

# audit_summary FILE: checks the audit file line by line and prints
# "whole torn_inside torn_at_end"; fails on anything but whole lines and
# torn fragments of our lines (and on repeated event ids).
audit_summary() {
    "$PY" - "$1" <<'EOF'
import json, sys
raw = open(sys.argv[1], 'rb').read()
parts = raw.split(b'\n')
last = parts.pop()  # b'' when the file ends with a newline
ids, inside, at_end = set(), 0, 0
def torn(p):  # any non-empty prefix of one of our lines
    head = b'{"timestamp":"'
    return p.startswith(head) or (p != b'' and head.startswith(p))
for n, p in enumerate(parts + [last] if last else parts, 1):
    try:
        d = json.loads(p)  # (a whole last line may lack its newline)
    except ValueError:
        assert torn(p), 'line %d is neither whole nor a torn line: %r' % (n, p[:80])
        if p is last:
            at_end = 1
        else:
            inside += 1
        continue
    assert d['event_id'] not in ids, 'line %d repeats an event id' % n
    ids.add(d['event_id'])
print(len(ids), inside, at_end)
EOF
}

# ---- (a) SIGKILL in the middle of decisions and state writes -------------
section "processes killed"
cp "$ENTERPRISE" agent_auth.yaml
LOG=.agent_auth/audit.jsonl
"$PY" - >batch.tmpl <<'EOF'
import json
for n in range(20000):
    print(json.dumps({'id': n, 'agent': 'copilot', 'user': 'alice',
                      'action': 'read:docs' if n % 3 else 'delete:x',
                      'resource': 'b@-%d' % n}))
EOF
mkdir -p k
setup_run sessions --create --agent copilot --user setup -o json # creates the files
# kill_lane LANE: KILLS / LANES runs, each killed after a random delay.
# The lanes run at once, so kills also land while other processes wait
# for the same locks.
LANES=5
kill_lane() {
    local lane=$1 j k pid
    for ((j = 0; j < KILLS / LANES; j++)); do
        k=$((lane + j * LANES))
        # Killed processes run without valgrind: they would die during its
        # start-up. Everything that inspects the result afterwards uses `aa`.
        if ((k % 2 == 0)); then
            sed "s/@/$k/" batch.tmpl >k/in.$k
            "$AGENT_AUTH" check --batch "k/in.$k" >"k/out.$k" 2>"k/err.$k" &
        else
            "$AGENT_AUTH" sessions --create --agent copilot --user "k$k" -o json \
                >"k/out.$k" 2>"k/err.$k" &
        fi
        pid=$!
        sleep "$(printf '0.%03d' $((RANDOM % 100)))"
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        echo "$k $?" >"k/rc.$k"
    done
}
pids=()
for ((lane = 0; lane < LANES; lane++)); do
    kill_lane "$lane" &
    pids+=($!)
done
wait "${pids[@]}"
cat k/rc.* >k/rc
killed=$(awk '$2 == 137' k/rc | wc -l)
printf 'killed %d of %d processes\n' "$killed" "$KILLS"
[ "$killed" -gt 0 ] && pass || fail "no process was killed: the fault was not injected"
awk '$2 != 137 && $2 > 2' k/rc | grep -q . && fail "unexpected exit codes: $(awk '$2 != 137 && $2 > 2' k/rc)" || pass

summary=$(audit_summary "$LOG" 2>&1) && pass || fail "audit file after kills: $summary"
read -r whole torn_inside torn_end <<<"$summary"
printf 'audit log after the kills: %s whole lines, %s torn inside, %s torn at the end\n' \
    "$whole" "$torn_inside" "$torn_end"
aa audit --verify -o json
expect_rc 0 "audit --verify after $KILLS kills"
expect_json "d['valid'] and d['lines'] == $whole" "verify counts the whole lines"
if [ "$torn_inside$torn_end" != 00 ]; then
    expect_json "len(d['warnings']) > 0" "a torn line is reported as a warning"
fi

# The state opens and lists, and matches the audit: every audited session
# exists, every session a finished process printed was audited, and at most
# one session per killed process lacks its audit line.
aa sessions --list -o json
expect_rc 0 "sessions --list after kills"
cp "$OUT" listed.json
"$PY" - "$LOG" <<'EOF' >kcheck.out 2>&1 && pass || fail "state vs audit after kills: $(cat kcheck.out)"
import json, re, sys
audited, resources = set(), {}
for p in open(sys.argv[1], 'rb').read().split(b'\n'):
    try:
        d = json.loads(p)
    except ValueError:
        continue
    if d.get('event') == 'session.create':
        audited.add(d['session_id'])
    elif d.get('event') == 'authorize':
        resources[d['resource']] = d['allowed']
listed = {s['session_id'] for s in json.load(open('listed.json'))}
runs = [tuple(map(int, line.split())) for line in open('k/rc')]
killed_creates = sum(1 for k, rc in runs if k % 2 and rc == 137)
assert audited <= listed, 'audited but not stored: %s' % (audited - listed)
assert len(listed - audited) <= killed_creates, \
    '%d sessions without an audit line, %d create processes killed' % (
        len(listed - audited), killed_creates)
printed = 0
for k, rc in runs:
    try:
        out = open('k/out.%d' % k).read()
    except FileNotFoundError:
        # killed before its shell opened the output file
        assert rc == 137, 'k/out.%d missing, exit %d' % (k, rc)
        continue
    if k % 2:  # sessions --create: a printed session was audited
        if rc == 0:
            assert json.loads(out)['session_id'] in audited, out
        continue
    for l in out.split('\n')[:-1]:  # complete lines only
        d = json.loads(l)
        r = 'b%d-%d' % (k, d['id'])
        assert r in resources, 'decision %s printed but not audited' % r
        assert resources[r] == d['allowed'], r
        printed += 1
print(printed, 'printed decisions audited')
EOF
"$PY" - <<'EOF' >integrity.out 2>&1 && pass || fail "state database integrity: $(cat integrity.out)"
import sqlite3
c = sqlite3.connect('file:.agent_auth/state.db?mode=ro', uri=True)
r = c.execute('PRAGMA integrity_check').fetchall()
assert r == [('ok',)], r
EOF

# The log goes on: a new decision chains to the last whole line.
aa check --agent copilot --user alice --action read:docs -o json
expect_rc 0 "a decision after the kills"
aa audit --verify -o json
expect_rc 0 "verify after the kills and one more decision"
expect_json "d['lines'] == $((whole + 1))" "the new line is chained"

# ---- torn lines, as audit.c documents them --------------------------------
section "torn lines"
# A fragment left by an interrupted write: the next writer starts on a new
# line and links to the last whole line; verify passes with a warning;
# readers skip the fragment.
mkdir -p torn && cd torn || exit 1
cp "$ENTERPRISE" agent_auth.yaml
setup_run check --agent copilot --user alice --action read:docs
setup_run check --agent copilot --user alice --action read:docs
frag=$(head -n 1 .agent_auth/audit.jsonl | head -c 200) # a line cut short
printf '%s' "$frag" >>.agent_auth/audit.jsonl
aa audit --verify
expect_rc 0 "verify: a torn line at the end"
expect_err "torn line" "verify warns about the torn line"
expect_err "not part of the chain" "the warning says what it means"
aa check --agent copilot --user alice --action read:docs -o json
expect_rc 0 "a decision after a torn line"
[ "$(sed -n 3p .agent_auth/audit.jsonl)" = "$frag" ] &&
    [ "$(wc -l <.agent_auth/audit.jsonl)" = 4 ] && pass || fail "the fragment stays on its own line"
aa audit --verify -o json
expect_rc 0 "verify: a torn line inside, skipped by the chain"
expect_json "d['valid'] and d['lines'] == 3 and 'torn line' in d['warnings'][0]" "verify -o json warns"
aa audit -o json
expect_json "len(d) == 3" "readers skip the torn line"
# A whole line cut short in the middle of the file is tampering.
sed -i '2s/.\{20\}$//' .agent_auth/audit.jsonl
aa audit --verify
expect_rc 1 "verify: a line cut short inside the chain"
cd "$TMP" || exit 1

# ---- (b) the audit log cannot be written ---------------------------------
section "audit log unavailable"
# audit_refuses DESCRIPTION POLICY [brief]: decisions fail closed, saying
# why, and grants are not made. "brief" (used under valgrind, for cases
# that take the same paths as another) checks the decision only.
audit_refuses() {
    local what=$1 pol=$2
    aa -c "$pol" check --agent copilot --user alice --action read:docs -o json
    expect_rc 1 "$what: check is denied"
    expect_no_crash "$what: check"
    expect_json "not d['allowed'] and d['reason'].startswith('Audit log unavailable') and 'would have been: allowed' in d['reason']" \
        "$what: the reason says the audit log is unavailable"
    [ "${3:-}" = brief ] && return
    printf '%s\n' '{"agent":"copilot","user":"alice","action":"read:docs"}' \
        '{"agent":"copilot","user":"alice","action":"delete:x"}' >two.jsonl
    aa_in two.jsonl -c "$pol" check --batch
    expect_rc 1 "$what: batch is denied"
    [ "$(grep -c '"allowed":false,"tier":"autonomous","reason":"Audit log unavailable' "$OUT")" = 2 ] &&
        pass || fail "$what: every batch line is denied for the audit log"
    aa -c "$pol" sessions --create --agent copilot --user alice
    expect_rc 1 "$what: sessions --create fails"
    expect_err "Error:" "$what: sessions --create says why"
    expect_err "audit log" "$what: sessions --create names the audit log"
    expect_no_out "Session created" "$what: no session is announced"
    aa -c "$pol" delegate --from-user alice --to-agent orchestrator --actions deploy:staging \
        --duration 60 --reason test
    expect_rc 1 "$what: delegate fails"
    expect_err "audit log" "$what: delegate names the audit log"
    aa -c "$pol" sessions --list -o json
    expect_empty_list "$what: no session was made"
    aa -c "$pol" delegations --list -o json
    expect_empty_list "$what: no delegation was made"
}
# audit_allows DESCRIPTION POLICY [brief]: with on_failure: allow it keeps
# deciding.
audit_allows() {
    [ "${3:-}" = brief ] && return
    aa -c "$2" check --agent copilot --user alice --action read:docs -o json
    expect_rc 0 "$1, on_failure allow: check is allowed"
    expect_out '"allowed": true' "$1, on_failure allow: allowed"
    aa -c "$2" check --agent copilot --user alice --action delete:x -o json
    expect_rc 1 "$1, on_failure allow: a denial stays a denial"
    expect_out "denied by profile 'copilot'" "$1, on_failure allow: its own reason"
    aa -c "$2" sessions --create --agent copilot --user alice -o json
    expect_rc 0 "$1, on_failure allow: a session is made"
}

# audit_unsafe DESCRIPTION POLICY: a log path that is not a regular file
# is refused before any decision, whatever on_failure says, and no grant
# is made.
audit_unsafe() {
    local what=$1 pol=$2
    aa -c "$pol" check --agent copilot --user alice --action read:docs -o json
    expect_rc 1 "$what: check is refused"
    expect_no_crash "$what: check"
    expect_err "not a regular file" "$what: the error says why"
    expect_err "audit.enabled: false" "$what: the error says how to keep no log"
    expect_no_out '"allowed": true' "$what: nothing is allowed"
    printf '%s\n' '{"agent":"copilot","user":"alice","action":"read:docs"}' >one.jsonl
    aa_in one.jsonl -c "$pol" check --batch
    expect_rc 1 "$what: batch is refused"
    expect_no_out '"allowed":true' "$what: batch allows nothing"
    aa -c "$pol" sessions --create --agent copilot --user alice
    expect_rc 1 "$what: sessions --create fails"
    expect_err "audit log" "$what: sessions --create names the audit log"
    expect_no_out "Session created" "$what: no session is announced"
    aa -c "$pol" delegate --from-user alice --to-agent orchestrator --actions deploy:staging \
        --duration 60 --reason test
    expect_rc 1 "$what: delegate fails"
    local db
    db=$(sed -n 's/^  path: \(.*\.db\)$/\1/p' "$pol")
    [ "$("$PY" -c 'import sqlite3,sys
try: c=sqlite3.connect("file:"+sys.argv[1]+"?mode=ro",uri=True); print(c.execute("select (select count(*) from sessions)+(select count(*) from delegations)").fetchone()[0])
except sqlite3.Error: print(0)' "$db")" = 0 ] && pass || fail "$what: no grant in $db"
}

# Devices in place of the log: refused (a write error after the file
# opened is the full file system below).
mkdir -p st
for dev in /dev/full /dev/null; do
    policy dev.yaml "$dev" st/dev.db
    audit_unsafe "$dev" dev.yaml
    policy dev-allow.yaml "$dev" st/dev-allow.db allow
    audit_unsafe "$dev, on_failure allow" dev-allow.yaml
done

# A full file system.
policy full.yaml full/audit.jsonl st/full.db
policy full-allow.yaml full/audit.jsonl st/full-allow.db allow
if small_fs full 64k; then
    dd if=/dev/zero of=full/fill bs=4k count=64 2>/dev/null
    audit_refuses "full file system" full.yaml $BRIEF
    audit_allows "full file system" full-allow.yaml $BRIEF
    # Space runs out in the middle of a line: the short write leaves a torn
    # line, and once there is room again the log goes on and verifies.
    rm -f full/fill full/audit.jsonl
    setup_run -c full.yaml check --agent copilot --user alice --action read:docs
    dd if=/dev/zero of=full/fill bs=4k count=64 2>/dev/null
    RC=0
    for ((i = 0; i < 12 && RC == 0; i++)); do # (no valgrind needed to fill)
        "$AGENT_AUTH" -c full.yaml check --agent copilot --user alice --action read:docs \
            >"$OUT" 2>"$ERR"
        RC=$?
    done
    expect_rc 1 "the file system fills up in the end"
    torn=$(tail -c 1 full/audit.jsonl | od -An -c | tr -d ' ')
    rm -f full/fill
    aa -c full.yaml check --agent copilot --user alice --action read:docs -o json
    expect_rc 0 "deciding again once there is room"
    aa -c full.yaml audit --verify -o json
    expect_rc 0 "verify after running out of space"
    expect_json "d['valid'] and d['lines'] == $((i + 1))" "every decision returned was audited"
    if [ "$torn" != '\n' ]; then # the short write left a torn line
        expect_json "'torn line' in d['warnings'][0]" "verify warns about the short write"
    fi
elif [ "$(ulimit -f)" = unlimited ] || [ "$(ulimit -f)" -gt 1 ]; then
    skip "cannot mount a tmpfs: full file system emulated with ulimit -f"
    mkdir -p full
    setup_run -c full.yaml check --no-audit --agent copilot --user alice --action read:docs # state
    head -c 1100000 /dev/zero | tr '\0' ' ' >full/audit.jsonl # over the limit below
    (
        trap '' XFSZ # writes past the limit then fail with EFBIG
        ulimit -f 1024
        aa -c full.yaml check --agent copilot --user alice --action read:docs -o json
        expect_rc 1 "file size limit: check is denied"
        expect_json "d['reason'].startswith('Audit log unavailable')" "file size limit: reason"
        finish >/dev/null
    ) || fail "file size limit"
else
    skip "full file system: cannot mount a tmpfs and ulimit -f is already set"
fi

# A read-only directory, holding the log, and without one yet.
mkdir -p rodir rodir2
policy ro.yaml rodir/audit.jsonl st/ro.db
policy ro-allow.yaml rodir/audit.jsonl st/ro-allow.db allow
policy ro2.yaml rodir2/audit.jsonl st/ro2.db
setup_run -c ro-allow.yaml check --agent copilot --user alice --action read:docs # one line
if read_only rodir && read_only rodir2; then
    how=$RO_HOW
    echo "read-only directory: $how"
    audit_refuses "read-only directory ($how)" ro.yaml $BRIEF
    audit_allows "read-only directory ($how)" ro-allow.yaml $BRIEF
    aa -c ro2.yaml check --agent copilot --user alice --action read:docs -o json
    expect_rc 1 "read-only directory with no log yet: check is denied"
    expect_json "d['reason'].startswith('Audit log unavailable')" "read-only directory, no log: reason"
    [ ! -e rodir2/audit.jsonl ] && pass || fail "nothing created in a read-only directory"
else
    skip "read-only directory: neither a read-only tmpfs nor chattr +i works here"
fi

# A directory where the log should be.
mkdir -p isdir/audit.jsonl
policy dir.yaml isdir/audit.jsonl st/dir.db
policy dir-allow.yaml isdir/audit.jsonl st/dir-allow.db allow
audit_unsafe "a directory in place of the log" dir.yaml
audit_unsafe "a directory in place of the log, on_failure allow" dir-allow.yaml

# ---- (c) the state database ----------------------------------------------
section "state database"
# state_refuses DESCRIPTION FILE ARGS...: exit 1 with an Error: naming FILE.
state_refuses() {
    local what="$1 (${*:3})" file=$2
    shift 2
    aa "$@"
    expect_rc 1 "$what: fails"
    expect_no_crash "$what"
    expect_err "Error: " "$what: says Error:"
    expect_err "$file" "$what: names the file"
}
state_commands() { # DESCRIPTION FILE POLICY [no-check] (brief: delegate saves as sessions do)
    state_refuses "$1" "$2" -c "$3" sessions --create --agent copilot --user alice
    [ -z "$BRIEF" ] &&
        state_refuses "$1" "$2" -c "$3" delegate --from-user alice --to-agent orchestrator \
            --actions deploy:staging --duration 60 --reason test
    [ "${4:-}" = no-check ] ||
        state_refuses "$1" "$2" -c "$3" check --agent copilot --user alice --action read:docs
}
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }

# Corrupt: random bytes, and a valid header over random pages.
mkdir -p bad
policy corrupt.yaml bad/audit.jsonl bad/state.db
setup_run -c corrupt.yaml sessions --create --agent copilot --user alice
head -c 65536 /dev/urandom >bad/state.db
sum=$(sha256sum bad/state.db)
n=$(lines bad/audit.jsonl)
state_commands "random bytes" bad/state.db corrupt.yaml
state_refuses "random bytes" bad/state.db -c corrupt.yaml sessions --list
[ "$(sha256sum bad/state.db)" = "$sum" ] && pass || fail "a corrupt state file is left as it was"
[ "$(lines bad/audit.jsonl)" = "$n" ] && pass || fail "nothing audited for refused commands"

rm -f bad/state.db*
setup_run -c corrupt.yaml sessions --create --agent copilot --user alice
"$PY" - <<'EOF'
import os
with open('bad/state.db', 'r+b') as f:  # keep the 100-byte header
    f.seek(100)
    f.write(os.urandom(os.path.getsize('bad/state.db') - 100))
EOF
sum=$(sha256sum bad/state.db)
n=$(lines bad/audit.jsonl)
state_commands "garbage pages" bad/state.db corrupt.yaml
[ "$(sha256sum bad/state.db)" = "$sum" ] && pass || fail "a damaged state file is left as it was"
[ "$(lines bad/audit.jsonl)" = "$n" ] && pass || fail "nothing audited for a damaged store"

# Locked by another process beyond the busy timeout.
mkdir -p lk
policy lock.yaml lk/audit.jsonl lk/state.db
setup_run -c lock.yaml sessions --create --agent copilot --user alice
export AA_STATE_BUSY_TIMEOUT_MS=200
# hold_lock MODE: a python process holding the database; MODE "exclusive"
# also shuts readers out. Sets HOLDER to its pid once it holds the lock.
hold_lock() {
    rm -f lk/held
    "$PY" - "$1" <<'EOF' & # not the function: $! must be python itself
import sqlite3, sys, time
c = sqlite3.connect('lk/state.db', isolation_level=None)
if sys.argv[1] == 'exclusive':
    c.execute('PRAGMA locking_mode=EXCLUSIVE')
c.execute('BEGIN EXCLUSIVE')
c.execute('SELECT count(*) FROM sessions').fetchall()
open('lk/held', 'w').close()
time.sleep(60)
EOF
    HOLDER=$!
    local t=0
    while [ ! -e lk/held ] && [ $((t += 1)) -lt 200 ]; do sleep 0.05; done
}
release_lock() { kill "$HOLDER" 2>/dev/null; wait "$HOLDER" 2>/dev/null; }
n=$(lines lk/audit.jsonl)
hold_lock write
start=$SECONDS
state_refuses "write-locked" lk/state.db -c lock.yaml sessions --create --agent copilot --user bob
expect_err "locked" "write-locked: says the database is locked"
state_refuses "write-locked" lk/state.db -c lock.yaml delegate --from-user alice \
    --to-agent orchestrator --actions deploy:staging --duration 60 --reason test
aa -c lock.yaml sessions --list -o json
expect_rc 0 "write-locked: readers still read (WAL)"
expect_json "len(d) == 1" "write-locked: the one session"
release_lock
hold_lock exclusive
state_commands "locked" lk/state.db lock.yaml
expect_err "locked" "locked: says the database is locked"
release_lock
[ $((SECONDS - start)) -lt 30 ] && pass || fail "locked commands give up after the busy timeout"
unset AA_STATE_BUSY_TIMEOUT_MS
aa -c lock.yaml sessions --list -o json
expect_json "len(d) == 1 and d[0]['user'] == 'alice'" "locked: nothing was half-written"
aa -c lock.yaml delegations --list -o json
expect_empty_list "locked: no delegation was made"
[ "$(lines lk/audit.jsonl)" = "$n" ] && pass || fail "locked: nothing audited"

# A read-only directory: with a database in it, and without one.
mkdir -p rost rost2
policy rost.yaml st/rost-audit.jsonl rost/state.db
policy rost2.yaml st/rost2-audit.jsonl rost2/state.db
setup_run -c rost.yaml sessions --create --agent copilot --user alice
if read_only rost && read_only rost2; then
    echo "read-only state directory: $RO_HOW"
    state_commands "read-only state directory" rost/state.db rost.yaml
    state_commands "read-only directory without a state file" rost2/state.db rost2.yaml no-check
    # No state file means no session or delegation: `check` decides from the
    # policy alone and creates nothing.
    aa -c rost2.yaml check --agent copilot --user alice --action read:docs
    expect_rc 0 "check without a state file in a read-only directory"
    [ ! -e rost2/state.db ] && pass || fail "nothing created in a read-only directory"
    [ "$(lines st/rost-audit.jsonl)" = 1 ] && pass || fail "read-only state: nothing audited"
else
    skip "read-only state directory: neither a read-only tmpfs nor chattr +i works here"
fi

# ---- (d) the clock --------------------------------------------------------
section "expiry"
# Valid until expires_at, refused from then on. The steps before expiry run
# without valgrind (it takes longer than a second to start), and count only
# when they finished before the grant expired.
mkdir -p clk && cd clk || exit 1
cp "$ENTERPRISE" agent_auth.yaml
# fast_check ID_FILE DESCRIPTION ARGS...: check (natively) before the
# grant in ID_FILE (JSON with expires_at) expires: exit 0 expected.
fast_check() {
    local idfile=$1 what=$2
    shift 2
    "$AGENT_AUTH" check "$@" -o json >"$OUT" 2>"$ERR"
    RC=$?
    if "$PY" -c "import datetime, json, sys
e = datetime.datetime.fromisoformat(json.load(open('$idfile'))['expires_at'])
sys.exit(0 if datetime.datetime.now(datetime.timezone.utc) < e else 1)"; then
        expect_rc 0 "$what"
    else
        skip "$what: the machine took over a second to get there"
        return 1
    fi
}
"$AGENT_AUTH" sessions --create --agent copilot --user alice --duration 1 -o json >session.json
sid=$(python3 -c "import json; print(json.load(open('session.json'))['session_id'])")
fast_check session.json "a fresh one-second session is valid" \
    --agent copilot --user alice --action read:docs --session-id "$sid"
"$AGENT_AUTH" delegate --from-user alice --to-agent orchestrator --actions deploy:staging \
    --duration 1 --reason "a second" -o json >delegation.json
fast_check delegation.json "a fresh one-second delegation permits" \
    --agent orchestrator --user alice --action deploy:staging &&
    expect_json "d['reason'] == \"Delegated by user 'alice'\"" "permitted by the delegation"
sleep 1.1
aa check --agent copilot --user alice --action read:docs --session-id "$sid" -o json
expect_rc 1 "an expired session is refused"
expect_json "'Invalid or expired session' in d['reason']" "expired session reason"
aa check --agent orchestrator --user alice --action deploy:staging -o json
expect_rc 1 "an expired delegation no longer permits"
expect_json "\"not authorized for agent 'orchestrator'\" in d['reason']" "expired delegation reason"
aa sessions --list -o json
expect_empty_list "an expired session is not listed"
aa delegations --list -o json
expect_empty_list "an expired delegation is not listed"
aa sessions --revoke "$sid"
expect_rc 1 "an expired session cannot be revoked"
expect_err "not found or already inactive" "revoking an expired session says why"
cd "$TMP" || exit 1

section "done"
finish
