#!/bin/bash
# `audit` end to end: the log that real decisions write, the console table,
# JSON with the fields of section 10, every filter, export, malformed lines,
# hash-chain verification against edits, deletions and insertions, rotation,
# and decisions when the log cannot be written.
. "$(dirname "$0")/lib.sh"
. "$AA_SOURCE_DIR/tests/data/cli/defer.sh"

LOG=.agent_auth/audit.jsonl
UUID4='[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}'
ISO='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}\+00:00'
AUTH_FIELDS="['action','agent','allowed','approval_policy','config_name','config_version','evaluation_time_ms','event','event_id','hash','metadata','policy_sha256','prev_hash','reason','requires_approval','resource','scope','session_id','target_agent','tier','timestamp','user']"

expect_line() {
    if grep -qE -- "^$1\$" "$OUT"; then pass; else fail "$2: no stdout line matches '$1'"; fi
}

# ---- decisions that fill the log (11 lines: 10 decisions, 1 session) -------
E=$ENTERPRISE
aa -c "$E" check -a copilot -u alice --action read:a
aa -c "$E" check -a copilot -u alice --action delete:b
aa -c "$E" check -a billing-agent -u bob --action pay:invoice -m amount=50000 -r inv-1
aa -c "$E" check -a research-bot -u carol --action read:c --scope workspace:research
aa -c "$E" check -a research-bot -u carol --action write:d
aa -c "$E" sessions --create -a copilot -u alice
SID=$(sed -n 's/^Session created: //p' "$OUT")
aa -c "$E" check -a copilot -u alice --action read:e --session-id "$SID"
aa -c "$E" check -a orchestrator -u alice --action read:f --target-agent research-bot
printf '%s\n' '{"agent":"copilot","user":"bob","action":"read:g"}' \
    '{"agent":"copilot","user":"bob","action":"delete:h"}' \
    '{"agent":"billing-agent","user":"bob","action":"refund:i"}' > three.jsonl
aa -c "$E" check --batch three.jsonl
expect_rc 1 "setup batch"
[ "$(wc -l < $LOG)" = 11 ] && pass || fail "11 lines in the log (got $(wc -l < $LOG))"
[ "$(stat -c %a $LOG)" = 600 ] && pass || fail "audit log is 0600"
grep -qE '"evaluation_time_ms":[0-9]+\.[0-9]{3},' $LOG && ! grep -E '"evaluation_time_ms":' $LOG | grep -qvE '"evaluation_time_ms":[0-9]+\.[0-9]{3},' \
    && pass || fail "evaluation_time_ms has 3 decimals"

# ---- console ------------------------------------------------------------------
aa -c "$E" audit
expect_rc 0 "audit"
expect_line "TIME +EVENT +AGENT +USER +ACTION +DECISION +REASON" "table header"
expect_line "[0-9-]{10} [0-9:]{8} +authorize +copilot +alice +read:a +ALLOWED +Allowed by profile 'copilot'" "allowed row"
expect_line "[0-9-]{10} [0-9:]{8} +authorize +copilot +alice +delete:b +DENIED +Action 'delete:b' denied by profile 'copilot'" "denied row"
expect_line "[0-9-]{10} [0-9:]{8} +authorize +billing-agent +bob +pay:invoice +STRONG +.*" "strong row"
expect_line "[0-9-]{10} [0-9:]{8} +authorize +billing-agent +bob +refund:i +SOFT +.*" "soft row"
expect_line "[0-9-]{10} [0-9:]{8} +session.create +copilot +alice +- +session $SID" "session row"
expect_line "11 entries \(7 allowed, 3 denied\) from \.agent_auth/audit\.jsonl" "summary line"
[ "$(grep -cE '^[0-9]{4}-' "$OUT")" = 11 ] && pass || fail "11 rows"
aa -c "$E" audit --agent nobody
expect_rc 0 "no match"
expect_line "No audit entries in \.agent_auth/audit\.jsonl match\." "no match message"

# ---- JSON -----------------------------------------------------------------
aa -c "$E" audit -o json
expect_rc 0 "audit -o json"
defer_json "isinstance(d, list) and len(d) == 11" "11 entries"
defer_json "all(sorted(e) == $AUTH_FIELDS for e in d if e['event'] == 'authorize')" "authorize entries carry the fields of section 10"
defer_json "all(re.fullmatch('$ISO', e['timestamp']) and re.fullmatch('$UUID4', e['event_id']) for e in d)" "timestamps and event ids"
defer_json "len({e['event_id'] for e in d}) == 11" "event ids are unique"
defer_json "[e['timestamp'] for e in d] == sorted(e['timestamp'] for e in d)" "decision order"
defer_json "all(type(e['allowed']) is bool and type(e['requires_approval']) is bool and type(e['evaluation_time_ms']) in (int, float) for e in d if e['event'] == 'authorize')" "field types"
defer_json "all(e['config_name'] == 'acme-enterprise' and e['config_version'] == '1.0' for e in d if e['event'] == 'authorize')" "config name and version"
defer_json "d[2]['resource'] == 'inv-1' and d[2]['tier'] == 'strong' and d[2]['approval_policy'] == 'large-payment' and d[2]['requires_approval'] is True" "resource, tier and policy recorded"
defer_json "d[3]['scope'] == 'workspace:research' and d[0]['scope'] == ''" "scope recorded"
defer_json "d[0]['session_id'] is None and d[6]['session_id'] == '$SID'" "session_id null, or the session"
defer_json "d[0]['target_agent'] is None and d[7]['target_agent'] == 'research-bot'" "target_agent null, or the target"
defer_json "d[1]['allowed'] is False and d[1]['tier'] == 'autonomous' and d[1]['requires_approval'] is False" "a denial's fields"
defer_json "d[5]['event'] == 'session.create' and d[5]['session_id'] == '$SID' and d[5]['agent'] == 'copilot'" "session event"
defer_json "d[0]['prev_hash'] == '0' * 64 and all(d[i]['prev_hash'] == d[i-1]['hash'] for i in range(1, 11))" "entries are chained"

# ---- filters ------------------------------------------------------------
aa -c "$E" audit --agent copilot -o json
defer_json "[e.get('action') for e in d] == ['read:a', 'delete:b', None, 'read:e', 'read:g', 'delete:h']" "--agent"
aa -c "$E" audit -a research-bot
expect_line "2 entries \(1 allowed, 1 denied\) from .*" "-a in the console"
aa -c "$E" audit --user bob -o json
defer_json "[e['action'] for e in d] == ['pay:invoice', 'read:g', 'delete:h', 'refund:i']" "--user"
aa -c "$E" audit --action read:a -o json
defer_json "len(d) == 1 and d[0]['action'] == 'read:a'" "--action"
aa -c "$E" audit --allowed false -o json
defer_json "[e['action'] for e in d] == ['delete:b', 'write:d', 'delete:h']" "--allowed false"
aa -c "$E" audit --allowed true -o json
defer_json "len(d) == 7 and all(e['allowed'] is True for e in d)" "--allowed true"
aa -c "$E" audit --allowed maybe
expect_rc 2 "--allowed takes true or false"
aa -c "$E" audit --event session.create -o json
defer_json "len(d) == 1 and d[0]['session_id'] == '$SID'" "--event"
aa -c "$E" audit --event authorize --agent copilot --allowed false -o json
defer_json "[e['action'] for e in d] == ['delete:b', 'delete:h']" "combined filters"
aa -c "$E" audit --limit 2 -o json
defer_json "[e['action'] for e in d] == ['read:a', 'delete:b']" "--limit: the first matches in file order"
aa -c "$E" audit --user bob -n 1 -o json
defer_json "[e['action'] for e in d] == ['pay:invoice']" "--limit after the filter"
aa -c "$E" audit --limit 0 -o json
expect_rc 0 "--limit 0"
defer_json "len(d) == 11" "--limit 0 lists all"
aa -c "$E" audit --limit -1
expect_rc 2 "--limit -1"
SINCE=$(sed -n '5s/^{"timestamp":"\([^"]*\)".*/\1/p' $LOG)
aa -c "$E" audit --since "$SINCE" -o json
defer_json "len(d) == 7 and d[0]['action'] == 'write:d' and all(e['timestamp'] >= '$SINCE' for e in d)" "--since includes the entry at that time"
aa -c "$E" audit --since 2000-01-01 -o json
defer_json "len(d) == 11" "--since a date in the past"
aa -c "$E" audit --since 2999-01-01T00:00:00Z -o json
defer_json "d == []" "--since in the future"
aa -c "$E" audit --since yesterday
expect_rc 2 "--since needs ISO 8601"
expect_err "ISO 8601" "--since message"

# ---- --output-file ------------------------------------------------------
aa -c "$E" audit --allowed false --output-file denied.json
expect_rc 0 "--output-file"
expect_line "Exported 3 entries to denied\.json" "export message"
[ "$(stat -c %a denied.json)" = 600 ] && pass || fail "the export is owner-only, as the log is"
defer_file json denied.json "[e['action'] for e in d] == ['delete:b', 'write:d', 'delete:h']" "exported JSON array"
aa -c "$E" audit --output-file "$TMP/all.json"
expect_line "Exported 11 entries to $TMP/all\.json" "export all"
defer_file json all.json "len(d) == 11 and sorted(d[0]) == $AUTH_FIELDS" "exported entries are whole"
aa -c "$E" audit --output-file "$TMP/no/such/dir/x.json"
expect_rc 1 "export into a missing directory"
expect_err "Error: cannot write" "export error"

# ---- a malformed line is skipped, not fatal -----------------------------------
{ head -n 3 $LOG; echo 'this line is not JSON'; echo '{"timestamp": 42}'; tail -n +4 $LOG; } > damaged.jsonl
aa -c "$E" audit -f damaged.jsonl -o json
expect_rc 0 "malformed lines are not fatal"
expect_err "Warning: skipped 2 malformed lines in damaged.jsonl" "warning on stderr"
defer_json "len(d) == 11" "the good lines are all read"
aa -c "$E" audit -f damaged.jsonl --allowed false
expect_rc 0 "filters on a damaged log"
expect_line "3 entries \(0 allowed, 3 denied\) from damaged\.jsonl" "filtered damaged log"

# ---- --verify ---------------------------------------------------------------
aa -c "$E" audit --verify
expect_rc 0 "verify an intact log"
expect_line "Audit log is intact: 11 entries, hash chain verified \(\.agent_auth/audit\.jsonl\)" "intact message"
aa -c "$E" audit --verify -o json
defer_json "sorted(d) == ['archives', 'head', 'lines', 'start_anchored', 'valid', 'warnings'] and d['valid'] and d['lines'] == 11 and d['warnings'] == [] and d['archives'] == 0 and d['start_anchored'] and re.fullmatch('[0-9a-f]{64}', d['head'])" "verify JSON"

sed '2s/"action":"delete:b"/"action":"read:b"/' $LOG > edited.jsonl
cmp -s $LOG edited.jsonl && fail "sed edited nothing" || pass
aa -c "$E" audit --verify -f edited.jsonl
expect_rc 1 "an edited line"
expect_err "Error: edited.jsonl:2: edited" "names the edited line"
aa -c "$E" audit --verify -f edited.jsonl -o json
expect_rc 1 "an edited line, JSON"
defer_json "d['valid'] is False and d['bad_line'] == 2 and 'edited' in d['error']" "verify JSON of an edit"

sed '4d' $LOG > deleted.jsonl
aa -c "$E" audit --verify -f deleted.jsonl -o json
expect_rc 1 "a deleted line"
defer_json "d['valid'] is False and d['bad_line'] == 4 and 'deleted' in d['error']" "a deletion breaks the chain at the next line"

sed '1d' $LOG > headless.jsonl
aa -c "$E" audit --verify -f headless.jsonl
expect_rc 1 "the first line deleted"
expect_err "headless.jsonl:1:" "names line 1"

sed '7r /dev/stdin' $LOG > inserted.jsonl <<< "$(sed -n 3p $LOG)"
[ "$(wc -l < inserted.jsonl)" = 12 ] && pass || fail "one line inserted"
aa -c "$E" audit --verify -f inserted.jsonl -o json
expect_rc 1 "an inserted copy of a genuine line"
defer_json "d['valid'] is False and d['bad_line'] == 8" "the inserted line is named"

sed '5a {"timestamp":"2026-01-01T00:00:00.000000+00:00","forged":true}' $LOG > forged.jsonl
aa -c "$E" audit --verify -f forged.jsonl
expect_rc 1 "an inserted forged line"
expect_err "forged.jsonl:6:" "the forged line is named"

awk 'NR == 3 { held = $0; next } NR == 4 { print; print held; next } 1' $LOG > swapped.jsonl
aa -c "$E" audit --verify -f swapped.jsonl
expect_rc 1 "two lines swapped"
expect_err "swapped.jsonl:3:" "the swap is found at line 3"

# ---- the chain's start, anchoring, unreadable lines -----------------------------
# Re-hashes lines by the documented rule (hash = SHA-256 of the line without
# its ,"hash":"..." field).
cat > rechain.py <<'PYEOF'
import hashlib, json, sys
def seal(body, prev):
    body = body + b',"prev_hash":"' + prev + b'"'
    h = hashlib.sha256(body + b'}').hexdigest().encode()
    return body + b',"hash":"' + h + b'"}', h
def strip(line):  # the line without its prev_hash and hash fields
    return line[:-(75 + 79)]
PYEOF
aa -c "$E" audit --verify
HEAD11=$(sed -n 's/^Head: //p' "$OUT")
[[ $HEAD11 =~ ^[0-9a-f]{64}$ ]] && pass || fail "verify prints the head hash (got '$HEAD11')"
[ "$HEAD11" = "$(tail -n 1 $LOG | sed 's/.*"hash":"\([0-9a-f]*\)"}$/\1/')" ] && pass || fail "the head is the last line's hash"
aa -c "$E" audit --verify -o json
defer_json "d['head'] == '$HEAD11'" "verify -o json has the head"
HEAD2=$(sed -n '2s/.*"hash":"\([0-9a-f]*\)"}$/\1/p' $LOG)

# verify_forged_rotate: the first lines deleted and a forged audit.rotate
# record naming an archive that does not exist put in front.
mkdir -p forge
"$PY" - $LOG forge/audit.jsonl <<'PYEOF'
import sys
exec(open('rechain.py').read())
lines = open(sys.argv[1], 'rb').read().splitlines()
kept = lines[3:]
prev = json.loads(kept[0])['prev_hash'].encode()
body = (b'{"timestamp":"2026-01-01T00:00:00.000000+00:00","event_id":'
        b'"00000000-0000-4000-8000-000000000000","event":"audit.rotate",'
        b'"archive":"audit.2026-01-01T000000.jsonl","archive_last_hash":"' + prev + b'"')
rot, _ = seal(body, prev)
open(sys.argv[2], 'wb').write(b'\n'.join([rot] + kept) + b'\n')
PYEOF
aa -c "$E" audit --verify -f forge/audit.jsonl
expect_rc 1 "verify_forged_rotate: a forged rotate record naming a missing archive"
expect_err "start not anchored: previous file 'audit.2026-01-01T000000.jsonl' missing" "verify_forged_rotate: says what it cannot prove"
expect_err "forge/audit.jsonl:1:" "verify_forged_rotate: names line 1"
aa -c "$E" audit --verify -f forge/audit.jsonl -o json
defer_json "d['valid'] is False and d['bad_line'] == 1 and 'start not anchored' in d['error']" "verify_forged_rotate: JSON"
# With the archive beside it, the chain is proved from its start...
head -n 3 $LOG > forge/audit.2026-01-01T000000.jsonl
aa -c "$E" audit --verify -f forge/audit.jsonl
expect_rc 0 "verify_rotation_set: the archive present"
expect_out "From its start through 1 archive (3 more entries)" "verify_rotation_set: follows the archive"
expect_out "Head: $HEAD11" "verify_rotation_set: the same head"
aa -c "$E" audit --verify -f forge/audit.jsonl --anchor "$HEAD2"
expect_rc 0 "verify_rotation_set: an anchor in the archive is found"
# ... and an archive that lost its last line is caught.
head -n 2 $LOG > forge/audit.2026-01-01T000000.jsonl
aa -c "$E" audit --verify -f forge/audit.jsonl
expect_rc 1 "verify_rotation_set: an archive cut short"
expect_err "forge/audit.jsonl:1: deleted or replaced: the audit.rotate record" "verify_rotation_set: names the rotate record"
# A name that leaves the directory is not followed.
"$PY" - forge/audit.jsonl forge/bad-name.jsonl <<'PYEOF'
import sys
exec(open('rechain.py').read())
lines = open(sys.argv[1], 'rb').read().splitlines()
body = strip(lines[0]).replace(b'"archive":"audit.2026-01-01T000000.jsonl"', b'"archive":"../x.jsonl"')
first, _ = seal(body, json.loads(lines[0])['prev_hash'].encode())
open(sys.argv[2], 'wb').write(b'\n'.join([first] + lines[1:]) + b'\n')
PYEOF
aa -c "$E" audit --verify -f forge/bad-name.jsonl
expect_rc 1 "a rotate record naming a path outside the directory"
expect_err "start not anchored: previous file '../x.jsonl' names no file beside the log" "the bad name is said"

# verify_anchor: a kept head proves the log was not cut or re-chained.
aa -c "$E" audit --verify --anchor "$HEAD2"
expect_rc 0 "verify_anchor: an earlier head is still in the chain"
expect_out "Anchor found: $HEAD2" "verify_anchor: says so"
aa -c "$E" audit --verify --anchor "$(tr a-f A-F <<< "$HEAD2")"
expect_rc 0 "verify_anchor: upper-case hex is the same hash"
head -n 8 $LOG > truncated.jsonl
aa -c "$E" audit --verify -f truncated.jsonl
expect_rc 0 "a log cut after a whole line is an intact chain by itself"
aa -c "$E" audit --verify -f truncated.jsonl --anchor "$HEAD11"
expect_rc 1 "verify_anchor_truncated: the tail cut off is detected"
expect_err "anchor not found" "verify_anchor_truncated: message"
aa -c "$E" audit --verify -f truncated.jsonl --anchor "$HEAD11" -o json
defer_json "d['valid'] is False and d['anchor_found'] is False and 'anchor not found' in d['error']" "verify_anchor_truncated: JSON"
# The first lines deleted and the rest re-chained from zeros: an intact
# chain, which only the anchor tells apart.
"$PY" - $LOG rechained.jsonl <<'PYEOF'
import sys
exec(open('rechain.py').read())
prev, out = b'0' * 64, []
for line in open(sys.argv[1], 'rb').read().splitlines()[4:]:
    line, prev = seal(strip(line), prev)
    out.append(line)
open(sys.argv[2], 'wb').write(b'\n'.join(out) + b'\n')
PYEOF
aa -c "$E" audit --verify -f rechained.jsonl
expect_rc 0 "a re-chained log verifies by itself"
aa -c "$E" audit --verify -f rechained.jsonl --anchor "$HEAD2"
expect_rc 1 "verify_anchor_deleted_head: deletion and re-chaining detected"
expect_err "anchor not found" "verify_anchor_deleted_head: message"
aa -c "$E" audit --verify -f forge/audit.jsonl --anchor "$HEAD2"
expect_rc 1 "verify_anchor_deleted_head: deleted head behind a forged rotate record"
aa -c "$E" audit --verify --anchor 1234
expect_rc 2 "--anchor needs 64 hex digits"
expect_err "64 hex digits" "--anchor message"
aa -c "$E" audit --anchor "$HEAD2"
expect_rc 2 "--anchor without --verify"

# verify_unreadable_line: a whole line the JSON reader rejects, put where
# the chain runs over it, is tampering, not a torn write.
for kind in nan inf surrogate badutf8 dupkey nul; do
    "$PY" - $LOG unreadable-$kind.jsonl $kind <<'PYEOF'
import sys
lines = open(sys.argv[1], 'rb').read().splitlines()
bad = {'nan': lines[4].replace(b'"evaluation_time_ms":', b'"evaluation_time_ms":NaN,"x":'),
       'inf': lines[4].replace(b'"evaluation_time_ms":', b'"evaluation_time_ms":Infinity,"x":'),
       'surrogate': lines[4].replace(b'"user":"', b'"user":"\\ud800'),
       'badutf8': lines[4].replace(b'"user":"', b'"user":"\xff'),
       'dupkey': lines[4].replace(b'"user":"', b'"agent":"x","user":"'),
       'nul': lines[4].replace(b',"tier":', b'\x00,"tier":')}[sys.argv[3]]
assert bad != lines[4]
open(sys.argv[2], 'wb').write(b'\n'.join(lines[:5] + [bad] + lines[5:]) + b'\n')
PYEOF
    aa -c "$E" audit --verify -f unreadable-$kind.jsonl
    expect_rc 1 "verify_unreadable_line: $kind"
    expect_err "unreadable-$kind.jsonl:6: malformed line" "verify_unreadable_line: $kind names line 6"
done
# A line with a NUL byte is no entry: the listing skips it (and stays JSON).
aa -c "$E" audit -o json --limit 0 -f unreadable-nul.jsonl
expect_rc 0 "audit listing of a log with a NUL byte in a line"
expect_json "len(d) == 11" "the line with a NUL byte is not listed"
# The same line at the end, whole: tampering too.
{ cat $LOG; sed -n 5p $LOG | sed 's/"evaluation_time_ms":/"evaluation_time_ms":NaN,"x":/'; } > nan-last.jsonl
aa -c "$E" audit --verify -f nan-last.jsonl
expect_rc 1 "a whole NaN line at the end"
expect_err "nan-last.jsonl:12: malformed line" "names line 12"

# verify_torn_last_line: a line cut short by an interrupted write.
head -c $(( $(stat -c %s $LOG) - 40 )) $LOG > torn-last.jsonl
aa -c "$E" audit --verify -f torn-last.jsonl
expect_rc 0 "verify_torn_last_line: exit 0"
expect_err "Warning: torn-last.jsonl:11: torn line" "verify_torn_last_line: warning with the line number"
expect_out "Audit log is intact: 10 entries" "verify_torn_last_line: ten whole lines"

# verify_torn_in_token: a write cut inside a literal, a number or an escape
# ("fals", "0.", "\u00") is as torn as one cut between tokens, at the end
# and where a later writer went on after it.
for cut in '"allowed":' '"evaluation_time_ms":0.' '"evaluation_time_ms":-'; do
    "$PY" - $LOG torn-token.jsonl "$cut" <<'PYEOF'
import sys
lines = open(sys.argv[1], 'rb').read().splitlines(True)
cut = sys.argv[3].encode()
last = lines[-1]
if b'":-' in cut:  # no negative number is written: make one to cut
    cut = b'"evaluation_time_ms":'
    frag = last[:last.index(cut) + len(cut)] + b'-'
elif cut == b'"allowed":':  # inside the literal: "tr" or "fa"
    frag = last[:last.index(cut) + len(cut) + 2]
else:
    frag = last[:last.index(cut) + len(cut)]
open(sys.argv[2], 'wb').write(b''.join(lines) + frag)
PYEOF
    aa -c "$E" audit --verify -f torn-token.jsonl
    expect_rc 0 "verify_torn_in_token: cut after '$cut' at the end"
    expect_err "torn line" "verify_torn_in_token: '$cut' reported as torn"
done
cp torn-token.jsonl .agent_auth/torn-inside.jsonl
cat > torn-inside.yaml <<YEOF
version: "1.0"
profiles: {bot: {allow: ["read:*"]}}
audit: {path: .agent_auth/torn-inside.jsonl}
YEOF
aa -c torn-inside.yaml check -a bot -u u --action read:x
expect_rc 0 "a decision appended after a write cut inside a token"
aa -c torn-inside.yaml audit --verify
expect_rc 0 "verify_torn_in_token: a cut token inside the log, the chain going on past it"
{ cat $LOG; sed -n 5p $LOG | sed 's/"allowed":[a-z]*/"allowed":tru}/'; } > bad-token.jsonl
aa -c "$E" audit --verify -f bad-token.jsonl
expect_rc 1 "a whole line with a broken literal is tampering, not torn"
aa -c "$E" audit --verify -f "$TMP/none.jsonl"
expect_rc 1 "verify a missing file"
expect_err "none.jsonl" "names the missing file"
aa -c "$E" audit --verify --rotate
expect_rc 2 "--verify and --rotate together"

# ---- --rotate ---------------------------------------------------------------
cat > rot.yaml <<'EOF'
version: "1.0"
metadata: {name: rotation}
roles:
  r: {actions: ["read:*"]}
profiles:
  bot: {role: r}
audit:
  path: rot/audit.jsonl
  retention_days: 1
EOF
for i in 0 1 2 3 4 5 6 7 8 9; do echo "{\"id\":$i,\"agent\":\"bot\",\"user\":\"u$i\",\"action\":\"read:$i\"}"; done > ten.jsonl
aa -c rot.yaml check --batch ten.jsonl
expect_rc 0 "ten decisions"
# Logs whose retention is longer than the clock (or an int) can hold.
HUGE_DAYS="4294967297 2147483647 106752"
for days in $HUGE_DAYS; do
    sed "s|path: rot/|path: rot$days/|; s|retention_days: 1|retention_days: $days|" rot.yaml > rot$days.yaml
    aa -c rot$days.yaml check --batch ten.jsonl
done
# Make the first lines of each log old (four of rot/ ten days, three of the
# others 40,000 days), re-hashing the chain exactly as the writer does:
# hash = SHA-256 of the line without its ,"hash":"..." field.
"$PY" - rot/audit.jsonl 4 10 rot4294967297/audit.jsonl 3 40000 \
    rot2147483647/audit.jsonl 3 40000 rot106752/audit.jsonl 3 40000 <<'EOF'
import datetime, hashlib, sys
args = sys.argv[1:]
for path, k, days in zip(args[0::3], map(int, args[1::3]), map(int, args[2::3])):
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days)
    prev, out = b'0' * 64, []
    for i, line in enumerate(open(path, 'rb').read().splitlines()):
        head = b'{"timestamp":"'
        assert line.startswith(head) and line.endswith(b'"}')
        if i < k:
            ts = (old + datetime.timedelta(seconds=i)).strftime('%Y-%m-%dT%H:%M:%S.%f+00:00')
            line = head + ts.encode() + line[len(head) + 32:]
        body = line[:-(75 + 79)] + b',"prev_hash":"' + prev + b'"'
        h = hashlib.sha256(body + b'}').hexdigest().encode()
        out.append(body + b',"hash":"' + h + b'"}')
        prev = h
    open(path, 'wb').write(b'\n'.join(out) + b'\n')
EOF
aa -c rot.yaml audit --verify
expect_rc 0 "a chain re-hashed by the documented rule verifies"
aa -c rot.yaml audit --rotate
expect_rc 0 "rotate"
expect_line "Archived 4 entries to rot/audit\.[0-9T-]+\.jsonl" "rotate message"
ARCH=$(sed -n 's/^Archived 4 entries to //p' "$OUT")
[ -f "$ARCH" ] && pass || fail "the archive exists beside the log"
[ "$(wc -l < "$ARCH")" = 4 ] && pass || fail "the archive has the four old lines"
[ "$(wc -l < rot/audit.jsonl)" = 7 ] && pass || fail "the log keeps six lines and a rotate record"
defer_file lines "$ARCH" "[e['action'] for e in out] == ['read:0', 'read:1', 'read:2', 'read:3']" "archived lines"
defer_file lines rot/audit.jsonl "out[0]['event'] == 'audit.rotate' and out[0]['archive'] == '$(basename "$ARCH")' and [e['action'] for e in out[1:]] == ['read:%d' % i for i in range(4, 10)]" "rotated log"
aa -c rot.yaml audit --verify
expect_rc 0 "the rotated log verifies"
aa -c rot.yaml audit --verify -f "$ARCH"
expect_rc 0 "the archive verifies"
aa -c rot.yaml audit --event authorize -o json
defer_json "[e['user'] for e in d] == ['u%d' % i for i in range(4, 10)]" "reading the rotated log"
aa -c rot.yaml audit --rotate
expect_rc 0 "rotate again"
expect_line "Nothing older than 1 days to archive" "nothing left to rotate"
aa -c rot.yaml audit --rotate -o json
expect_rc 0 "rotate -o json"
defer_json "d == {'archived': 0, 'archive': None, 'retention_days': 1}" "rotate JSON"
aa -c rot.yaml check -a bot -u late --action read:late
expect_rc 0 "a decision after rotation"
aa -c rot.yaml audit --verify
expect_rc 0 "the chain continues after rotation"
expect_out "8 entries" "eight lines after one more decision"
sed -i '3s/"user":"u5"/"user":"u6"/' rot/audit.jsonl
aa -c rot.yaml audit --verify
expect_rc 1 "an edit after rotation is found"

# A retention longer than the clock (or an int) can hold keeps everything.
for days in $HUGE_DAYS; do
    aa -c rot$days.yaml audit --verify
    expect_rc 0 "aged log with retention_days $days verifies"
    aa -c rot$days.yaml audit --rotate
    expect_rc 0 "rotate with retention_days $days"
    expect_line "Nothing older than $days days to archive" "retention_days $days keeps a 40,000-day-old line"
    [ "$(wc -l < rot$days/audit.jsonl)" = 10 ] && pass || fail "retention_days $days: the log is whole"
done

# ---- audit_capped: more than 1,000 entries -------------------------------------
cat > many.yaml <<'EOF'
version: "1.0"
roles:
  r: {actions: ["read:*"]}
profiles:
  bot: {role: r}
audit:
  path: many/audit.jsonl
EOF
for i in $(seq 1 1003); do echo "{\"agent\":\"bot\",\"user\":\"u\",\"action\":\"read:$i\"}"; done > many.jsonl
aa -c many.yaml check --batch many.jsonl
expect_rc 0 "1003 decisions"
aa -c many.yaml audit
expect_rc 0 "audit_capped: console"
expect_line "\(showing 1000 of 1003; --limit 0 for all\)" "audit_capped: the console says it was capped"
aa -c many.yaml audit -o json
expect_rc 0 "audit_capped: JSON"
defer_json "isinstance(d, list) and len(d) == 1000 and d[-1]['action'] == 'read:1000'" "audit_capped: JSON stays a pure array of the first 1000"
expect_err "showing 1000 of 1003; --limit 0 for all" "audit_capped: the JSON listing notes it on stderr"
aa -c many.yaml audit --limit 0 -o json
defer_json "len(d) == 1003" "audit_capped: --limit 0 lists all"
aa -c many.yaml audit --limit 0
expect_line "1003 entries \(1003 allowed, 0 denied\) from many/audit\.jsonl" "audit_capped: --limit 0 in the console"
expect_no_out "showing" "audit_capped: nothing capped, nothing said"
aa -c many.yaml audit --limit 5 --output-file five.json
expect_err "showing 5 of 1003" "audit_capped: an export says it was capped"

# ---- audit_metadata: metadata, redaction, policy_sha256 ---------------------------
cat > meta.yaml <<'EOF'
version: "1.0"
roles:
  r: {actions: ["pay:*"]}
profiles:
  bot: {role: r}
audit:
  path: meta/audit.jsonl
  redact: [card, token]
EOF
aa -c meta.yaml check -a bot -u u --action pay:x -m amount=50 -m card=4111111111111111 -m note='a "quoted" é' -m token=secret -m ok=true
expect_rc 0 "audit_metadata: a decision with metadata"
printf '%s\n' '{"agent":"bot","user":"u","action":"pay:y","metadata":{"card":"5500","n":1.5}}' > meta.jsonl
aa -c meta.yaml check --batch meta.jsonl
SHA=$(sha256sum meta.yaml | cut -d' ' -f1)
defer_file lines meta/audit.jsonl "out[0]['metadata'] == {'amount': 50, 'card': '[redacted]', 'note': 'a \"quoted\" \u00e9', 'token': '[redacted]', 'ok': True}" "audit_metadata: metadata in the line, redacted keys replaced"
defer_file lines meta/audit.jsonl "out[1]['metadata'] == {'card': '[redacted]', 'n': 1.5}" "audit_metadata: batch metadata"
defer_file lines meta/audit.jsonl "all(e['policy_sha256'] == '$SHA' for e in out)" "audit_metadata: policy_sha256 is the policy file's SHA-256"
grep -q 4111111111111111 meta/audit.jsonl && fail "audit_metadata: a redacted value reached the log" || pass
aa -c meta.yaml audit --verify
expect_rc 0 "audit_metadata: the chain still verifies"
printf 'version: "1.0"\naudit:\n  redact: card\n' > bad-redact.yaml
aa -c bad-redact.yaml validate
expect_rc 1 "audit.redact must be a list"
expect_err "bad-redact.yaml:3:" "audit.redact error names the place"

# ---- the log cannot be written --------------------------------------------------
for mode in deny allow; do
    cat > broken-$mode.yaml <<EOF
version: "1.0"
roles:
  r: {actions: ["read:*"]}
profiles:
  bot: {role: r}
audit:
  path: broken/audit.jsonl
  on_failure: $mode
state:
  path: broken-state/state.db
EOF
done
echo "a plain file where the log's directory should be" > broken
aa -c broken-deny.yaml check -a bot -u u --action read:x -o json
expect_rc 1 "unwritable log: fail closed"
defer_json "d['allowed'] is False and 'Audit log unavailable' in d['reason']" "the reason says the log is unavailable"
aa -c broken-deny.yaml check --batch ten.jsonl
expect_rc 1 "unwritable log: batch fails closed"
defer_lines "len(out) == 10 and not any(o['allowed'] for o in out)" "every batch decision denied"
aa -c broken-deny.yaml sessions --create -a bot -u u
expect_rc 1 "unwritable log: no session"
expect_no_crash "session create with an unwritable log"
expect_err "Error: audit log unavailable" "session refusal message"
[ ! -s "$OUT" ] && pass || fail "no session printed"
aa -c broken-deny.yaml delegate --from-user u --to-agent bot --actions read:x
expect_rc 1 "unwritable log: no delegation"
expect_no_crash "delegate with an unwritable log"
aa -c broken-deny.yaml sessions --list -o json
defer_json "d == []" "nothing was created"
aa -c broken-allow.yaml check -a bot -u u --action read:x
expect_rc 0 "on_failure: allow"
aa -c broken-allow.yaml sessions --create -a bot -u u
expect_rc 0 "on_failure: allow creates the session"

# ---- missing log, and write errors -------------------------------------------
# The policy's own log before anything was decided reads as empty...
mkdir fresh && (cd fresh && "$AGENT_AUTH" -c "$ENTERPRISE" audit >"$OUT" 2>"$ERR"); RC=$?
expect_rc 0 "the policy's log not written yet"
expect_out "No audit entries" "an empty log says so"
# ... but a file named with --file must exist.
aa -c rot.yaml audit -f "$TMP/missing.jsonl"
expect_rc 1 "a missing log"
expect_err "Error: audit log '$TMP/missing.jsonl'" "names the missing log"
if [ -w /dev/full ]; then
    "$AGENT_AUTH" -c "$E" audit -o json >/dev/full 2>"$ERR"
    RC=$?
    expect_rc 1 "stdout that cannot be written"
    expect_err "Error: cannot write output" "write error message"
fi

check_deferred
finish
