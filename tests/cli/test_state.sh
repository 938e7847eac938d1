#!/bin/bash
# Sessions and delegations end to end: printed lines, tables, filters,
# JSON, revoking, refusals, clamping, persistence across processes, the
# state file's location and permissions, and the audit trail of changes.
. "$(dirname "$0")/lib.sh"
. "$AA_SOURCE_DIR/tests/data/cli/defer.sh"

NODELEG=$AA_SOURCE_DIR/tests/data/cli/nodelegation.yaml
UUID4='[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}'
ISO='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}\+00:00'
SESSION_FIELDS="['agent','created_at','expires_at','scope','session_id','status','user']"
DELEGATION_FIELDS="['actions','delegation_id','expires_at','from_user','granted_at','reason','status','to_agent']"
# Seconds between two ISO 8601 times of a JSON object.
span() { printf "(datetime.datetime.fromisoformat(%s['%s']) - datetime.datetime.fromisoformat(%s['%s'])).total_seconds()" "$1" "$3" "$1" "$2"; }

expect_line() {
    if grep -qE -- "^$1\$" "$OUT"; then pass; else fail "$2: no stdout line matches '$1'"; fi
}
nlines() { grep -cE -- "$1" "$OUT"; }

# ---- sessions --create ------------------------------------------------------
aa -c "$ENTERPRISE" sessions --create --agent copilot --user alice --scope 'project:*'
expect_rc 0 "create a scoped session"
expect_line "Session created: $UUID4" "session id line"
expect_line "Agent: +copilot" "agent line"
expect_line "User: +alice" "user line"
expect_line "Scope: +project:\*" "scope line"
expect_line "Expires: +$ISO \(in 29m [0-5][0-9]s\)" "expires line: the profile's 1800 s"
S1=$(sed -n 's/^Session created: //p' "$OUT")
[ "$(wc -l < "$OUT")" = 5 ] && pass || fail "create prints five lines"

aa -c "$ENTERPRISE" sessions --create -a research-bot -u bob
expect_rc 0 "create an unscoped session"
expect_line "Scope: +\(all\)" "an empty scope prints (all)"
S2=$(sed -n 's/^Session created: //p' "$OUT")

aa -c "$ENTERPRISE" sessions --create -a copilot -u carol -d 120 -o json
expect_rc 0 "create -o json"
defer_json "sorted(d) == $SESSION_FIELDS" "session JSON has every field"
defer_json "re.fullmatch('$UUID4', d['session_id']) and d['agent'] == 'copilot' and d['user'] == 'carol' and d['scope'] == '' and d['status'] == 'active'" "session JSON values"
defer_json "re.fullmatch('$ISO', d['created_at']) and re.fullmatch('$ISO', d['expires_at'])" "session times are ISO 8601 UTC"
defer_json "$(span d created_at expires_at) == 120" "explicit duration"
S3=$(grep -oE "$UUID4" "$OUT" | head -n 1)

# Duration: default and clamping (contract section 9).
aa -c "$ENTERPRISE" sessions --create -a copilot -u alice -d 99999 -o json
defer_json "$(span d created_at expires_at) == 1800" "clamped to the profile's max_session_duration"
aa -c "$ENTERPRISE" sessions --create -a billing-agent -u bob -o json
defer_json "$(span d created_at expires_at) == 900" "default is the profile's max_session_duration"
aa -c "$ENTERPRISE" sessions --create -a research-bot -u bob -d 99999 -o json
defer_json "$(span d created_at expires_at) == 3600" "clamped to the default max_session_duration"
aa -c "$ENTERPRISE" sessions --create -a no-profile-agent -u bob -d 99999 -o json
defer_json "$(span d created_at expires_at) == 28800" "no profile: clamped to sessions.max_duration"
aa -c "$NODELEG" sessions --create -a stranger -u bob -o json
defer_json "$(span d created_at expires_at) == 600" "no profile: sessions.default_duration"
aa -c "$NODELEG" sessions --create -a reader -u bob -d 5000 -o json
defer_json "$(span d created_at expires_at) == 3600" "profile maximum below sessions.max_duration"

# Refusals.
aa -c "$ENTERPRISE" sessions --create -a copilot -u alice --scope workspace:research
expect_rc 1 "a scope the profile refuses"
expect_err "Error:" "scope refusal is an error"
expect_err "workspace:research" "names the scope"
[ ! -s "$OUT" ] && pass || fail "no session printed for a refused scope"
aa -c "$ENTERPRISE" sessions --create -a copilot -u alice -d 0
expect_rc 2 "duration 0"
aa -c "$ENTERPRISE" sessions --create -a copilot
expect_rc 2 "create without --user"

# ---- persistence and sessions --list -----------------------------------------
# Every call above was its own process; this one sees all of them.
aa -c "$ENTERPRISE" sessions --list
expect_rc 0 "list"
expect_line "SESSION +AGENT +USER +SCOPE +EXPIRES" "table header"
expect_line "$S1 +copilot +alice +project:\* +in 2[0-9]m [0-5][0-9]s" "first session row"
expect_line "$S2 +research-bot +bob +\(all\) +in 5[0-9]m [0-5][0-9]s" "second session row"
expect_line "7 active sessions" "count line"
aa -c "$ENTERPRISE" sessions --list --agent copilot
[ "$(nlines "$UUID4")" = 3 ] && pass || fail "filter by agent: 3 rows"
expect_line "3 active sessions" "filtered count"
expect_no_out "research-bot" "agent filter"
aa -c "$ENTERPRISE" sessions --list --user bob
[ "$(nlines "$UUID4")" = 4 ] && pass || fail "filter by user: 4 rows"
aa -c "$ENTERPRISE" sessions --list -a copilot -u alice -o json
expect_rc 0 "list -o json"
defer_json "isinstance(d, list) and len(d) == 2 and all(sorted(s) == $SESSION_FIELDS for s in d)" "list JSON objects"
defer_json "all(s['agent'] == 'copilot' and s['user'] == 'alice' and s['status'] == 'active' for s in d)" "list JSON filtered"
defer_json "'$S1' in [s['session_id'] for s in d]" "list JSON has the first session"
aa -c "$ENTERPRISE" sessions --list -a nobody
expect_rc 0 "empty list"
expect_line "No active sessions\." "empty list message"
aa -c "$ENTERPRISE" sessions --list -a nobody -o json
defer_json "d == []" "empty list JSON"

# ---- sessions --revoke ----------------------------------------------------
aa -c "$ENTERPRISE" sessions --revoke "$S3"
expect_rc 0 "revoke"
expect_line "Session $S3 revoked" "revoke message"
aa -c "$ENTERPRISE" sessions --revoke "$S3"
expect_rc 1 "revoke twice"
expect_err "Error: Session $S3 not found or already inactive" "second revoke message"
aa -c "$ENTERPRISE" sessions --revoke "$S3" -o json
expect_rc 1 "revoke twice -o json"
defer_json "d == {'session_id': '$S3', 'revoked': False}" "revoke JSON"
aa -c "$ENTERPRISE" sessions --revoke 00000000-0000-4000-8000-000000000000
expect_rc 1 "revoke unknown"
expect_err "not found or already inactive" "revoke unknown message"
aa -c "$ENTERPRISE" sessions --list -a copilot -u carol
expect_line "No active sessions\." "a revoked session is not listed"

# ---- expiry and --cleanup -----------------------------------------------------
aa -c "$ENTERPRISE" sessions --create -a copilot -u dave -d 1
S4=$(sed -n 's/^Session created: //p' "$OUT")
aa -c "$ENTERPRISE" delegate --from-user dave --to-agent research-bot --actions deploy:web -d 1 --reason short
expect_rc 0 "short delegation"
sleep 1.2
aa -c "$ENTERPRISE" sessions --list -u dave
expect_line "No active sessions\." "an expired session is not listed"
aa -c "$ENTERPRISE" check -a copilot -u dave --action read:x --session-id "$S4"
expect_rc 1 "an expired session denies"
expect_out "Invalid or expired session" "expired session reason"
aa -c "$ENTERPRISE" check -a research-bot -u dave --action deploy:web
expect_rc 1 "an expired delegation no longer permits"
aa -c "$ENTERPRISE" sessions --cleanup
expect_rc 0 "cleanup"
expect_line "Cleanup: [12] marked expired, 0 purged" "cleanup marks the expired rows"
aa -c "$ENTERPRISE" sessions --cleanup --retention 0 -o json
expect_rc 0 "cleanup --retention 0"
defer_json "d == {'marked_expired': 0, 'purged': 2}" "purges the expired rows (a revoked row goes once its expiry is past)"
aa -c "$ENTERPRISE" sessions --cleanup --retention 0 -o json
defer_json "d == {'marked_expired': 0, 'purged': 0}" "nothing left to purge"
aa -c "$ENTERPRISE" sessions --revoke "$S4"
expect_rc 1 "revoking a purged session"

# Durations and retentions larger than the clock: no overflow.
cat > huge.yaml <<'EOF'
version: "1.0"
profiles:
  p: {max_session_duration: 9223372036854775807}
sessions: {default_duration: 9223372036854775807, max_duration: 9223372036854775807}
delegation: {default_duration: 9223372036854775807, max_duration: 9223372036854775807}
audit: {path: huge/audit.jsonl}
EOF
aa -c huge.yaml sessions --create -a p -u u -o json
expect_rc 0 "the largest session duration"
defer_json "d['expires_at'] == '9999-12-31T23:59:59.000000+00:00'" "a huge session ends at the end of year 9999"
HS=$(grep -oE "$UUID4" "$OUT" | head -n 1)
aa -c huge.yaml check -a p -u u --action x --session-id "$HS"
expect_out "not authorized for agent 'p'" "the huge session is live (no profile permission, but no session error)"
aa -c huge.yaml delegate --from-user u --to-agent p --actions x -o json
expect_rc 0 "the largest delegation duration"
defer_json "d['expires_at'] == '9999-12-31T23:59:59.000000+00:00'" "a huge delegation ends at the end of year 9999"
aa -c huge.yaml check -a p -u u --action x
expect_rc 0 "the huge delegation is live"
aa -c huge.yaml sessions --create -a p -u u -d 1
sleep 1.1
aa -c huge.yaml sessions --cleanup
expect_line "Cleanup: 1 marked expired, 0 purged" "one expired row"
for days in 9223372036854775807 106751991167 106751991168; do
    aa -c huge.yaml sessions --cleanup --retention $days -o json
    expect_rc 0 "cleanup --retention $days"
    defer_json "d == {'marked_expired': 0, 'purged': 0}" "--retention $days keeps the expired row"
done
aa -c huge.yaml sessions --cleanup --retention 0 -o json
defer_json "d == {'marked_expired': 0, 'purged': 1}" "--retention 0 purges it"

# ---- delegate -------------------------------------------------------------
aa -c "$ENTERPRISE" delegate --from-user alice --to-agent research-bot --actions 'deploy:staging, run:tests' -d 600 --reason 'release 4.2'
expect_rc 0 "delegate"
expect_line "Delegation created: $UUID4" "delegation id line"
expect_line "From: +alice" "from line"
expect_line "To: +research-bot" "to line"
expect_line "Actions: +deploy:staging, run:tests" "actions line"
expect_line "Expires: +$ISO \(in 9m [0-5][0-9]s\)" "expires line"
expect_line "Reason: +release 4\.2" "reason line"
D1=$(sed -n 's/^Delegation created: //p' "$OUT")

aa -c "$ENTERPRISE" check -a research-bot -u alice --action deploy:staging
expect_rc 0 "the delegation permits"
expect_out "Delegated by user 'alice'" "delegation reason"
aa -c "$ENTERPRISE" check -a research-bot -u bob --action deploy:staging
expect_rc 1 "a grant from alice does not act for bob"
aa -c "$ENTERPRISE" check -a research-bot -u alice --action deploy:prod
expect_rc 1 "only the delegated actions"

# No --reason: no Reason line (a policy whose rules do not require one).
cat > open.yaml <<'EOF'
version: "1.0"
profiles:
  helper: {}
delegation:
  rules:
    - name: anything-short
      max_duration: 600
audit:
  path: open/audit.jsonl
EOF
aa -c open.yaml delegate --from-user alice --to-agent helper --actions 'read:*'
expect_rc 1 "default duration over a rule's maximum"
expect_err "exceeds rule 'anything-short'" "rule maximum named"
aa -c open.yaml delegate --from-user alice --to-agent helper --actions 'read:*' -d 300 -o json
expect_rc 0 "delegate -o json"
defer_json "sorted(d) == $DELEGATION_FIELDS" "delegation JSON has every field"
defer_json "re.fullmatch('$UUID4', d['delegation_id']) and d['from_user'] == 'alice' and d['to_agent'] == 'helper' and d['actions'] == ['read:*'] and d['reason'] == '' and d['status'] == 'active'" "delegation JSON values"
defer_json "$(span d granted_at expires_at) == 300" "delegation duration"
aa -c open.yaml delegate --from-user alice --to-agent helper --actions 'read:*' -d 300
expect_rc 0 "delegate without a reason"
expect_no_out "Reason:" "no Reason line without a reason"
[ "$(wc -l < "$OUT")" = 5 ] && pass || fail "five lines without a reason"

# Refusals list every reason.
aa -c "$ENTERPRISE" delegate --from-user alice --to-agent research-bot --actions deploy:staging,write:docs -d 40000
expect_rc 1 "refused delegation"
expect_err "Error: delegation refused:" "refusal headline"
expect_err "  - Action 'write:docs' not allowed by delegation rule 'temporary-deploys'" "action refused by rule 1"
expect_err "  - Action 'write:docs' not allowed by delegation rule 'finance-approvals'" "action refused by rule 2"
expect_err "  - Duration 40000s exceeds rule 'temporary-deploys' maximum 28800s" "duration over rule 1"
expect_err "  - Duration 40000s exceeds rule 'finance-approvals' maximum 3600s" "duration over rule 2"
expect_err "  - Delegation rule 'finance-approvals' requires a reason" "missing reason"
[ "$(grep -c '^  - ' "$ERR")" = 5 ] && pass || fail "exactly five reasons"
[ ! -s "$OUT" ] && pass || fail "nothing on stdout for a refusal"
aa -c "$ENTERPRISE" delegate --from-user alice --to-agent research-bot --actions deploy:x -d 90000 --reason r
expect_rc 1 "over delegation.max_duration"
expect_err "Duration 90000s exceeds maximum 86400s" "global maximum named"
aa -c "$ENTERPRISE" delegate --from-user alice --to-agent research-bot --actions 'deploy:x,,run:y' --reason r
expect_rc 1 "an empty action"
expect_err "is empty" "empty action named"
aa -c "$ENTERPRISE" delegate --from-user alice --to-agent research-bot --actions '' --reason r
expect_rc 1 "no actions"
expect_err "At least one action is required" "empty list refused"
aa -c "$NODELEG" delegate --from-user alice --to-agent reader --actions 'read:x'
expect_rc 1 "delegation disabled"
expect_err "Error: delegation refused:" "disabled refusal headline"
expect_err "disabled" "says delegation is disabled"
aa -c "$ENTERPRISE" delegate --from-user alice --to-agent research-bot
expect_rc 2 "delegate without --actions"

# ---- delegations --list / --revoke ------------------------------------------
aa -c "$ENTERPRISE" delegate --from-user bob --to-agent copilot --actions 'run:bench' -d 900 --reason bench
D2=$(sed -n 's/^Delegation created: //p' "$OUT")
aa -c "$ENTERPRISE" delegations --list
expect_rc 0 "delegations --list"
expect_line "DELEGATION +FROM +TO +ACTIONS +EXPIRES +REASON" "delegation table header"
expect_line "$D1 +alice +research-bot +deploy:staging,run:tests +in [5-9]m [0-5][0-9]s +release 4\.2" "delegation row"
expect_line "$D2 +bob +copilot +run:bench +in 1[0-4]m [0-5][0-9]s +bench" "second delegation row"
expect_line "2 active delegations" "delegation count"
aa -c "$ENTERPRISE" delegations --list --agent copilot -o json
defer_json "len(d) == 1 and sorted(d[0]) == $DELEGATION_FIELDS and d[0]['delegation_id'] == '$D2' and d[0]['actions'] == ['run:bench']" "filtered delegation JSON"
aa -c "$ENTERPRISE" delegations --list --agent orchestrator
expect_line "No active delegations\." "no delegations message"
aa -c "$ENTERPRISE" delegations --revoke "$D1"
expect_rc 0 "revoke delegation"
expect_line "Delegation $D1 revoked" "delegation revoke message"
aa -c "$ENTERPRISE" delegations --revoke "$D1"
expect_rc 1 "revoke delegation twice"
expect_err "Error: Delegation $D1 not found or already inactive" "second delegation revoke"
aa -c "$ENTERPRISE" check -a research-bot -u alice --action deploy:staging
expect_rc 1 "a revoked delegation no longer permits"
aa -c "$ENTERPRISE" delegations --list -o json
defer_json "[g['delegation_id'] for g in d] == ['$D2']" "revoked delegation not listed"
aa -c "$ENTERPRISE" delegations --list --revoke "$D2"
expect_rc 2 "two modes"

# ---- the audit trail of state changes ------------------------------------
defer_file lines .agent_auth/audit.jsonl "len([e for e in out if e.get('event') == 'session.create']) == 8" "session.create events"
defer_file lines .agent_auth/audit.jsonl "[e['session_id'] for e in out if e.get('event') == 'session.revoke'] == ['$S3']" "session.revoke event"
defer_file lines .agent_auth/audit.jsonl "[e['delegation_id'] for e in out if e.get('event') == 'delegation.revoke'] == ['$D1']" "delegation.revoke event"
defer_file lines .agent_auth/audit.jsonl "len([e for e in out if e.get('event') == 'delegation.create']) == 3" "delegation.create events (refusals are not grants)"
defer_file lines .agent_auth/audit.jsonl "any(e.get('event') == 'delegation.create' and e.get('delegation_id') == '$D1' and e.get('from_user') == 'alice' and e.get('reason') == 'release 4.2' for e in out)" "delegation.create names who granted what"
aa -c "$ENTERPRISE" audit --event session.revoke -o json
defer_json "len(d) == 1 and d[0]['session_id'] == '$S3'" "audit --event session.revoke"
aa -c "$ENTERPRISE" audit --verify
expect_rc 0 "the audit chain covers state events"

# ---- where the state lives -----------------------------------------------------
[ "$(stat -c %a .agent_auth)" = 700 ] && pass || fail "default state directory is 0700"
[ "$(stat -c %a .agent_auth/state.db)" = 600 ] && pass || fail "default state file is 0600"
aa -c "$ENTERPRISE" --state "$TMP/deep/er/state.sqlite" sessions --create -a copilot -u alice
expect_rc 0 "--state in a new directory"
[ -f "$TMP/deep/er/state.sqlite" ] && pass || fail "--state file created where asked"
[ "$(stat -c %a "$TMP/deep" "$TMP/deep/er" "$TMP/deep/er/state.sqlite" | tr '\n' ' ')" = "700 700 600 " ] \
    && pass || fail "--state directories 0700 and file 0600 (got $(stat -c %a "$TMP/deep" "$TMP/deep/er" "$TMP/deep/er/state.sqlite" | tr '\n' ' '))"
S5=$(sed -n 's/^Session created: //p' "$OUT")
aa -c "$ENTERPRISE" sessions --list --state "$TMP/deep/er/state.sqlite" -o json
defer_json "[s['session_id'] for s in d] == ['$S5']" "--state database holds only its own sessions"
aa -c "$ENTERPRISE" sessions --list -o json
defer_json "'$S5' not in [s['session_id'] for s in d]" "the default database does not see it"
aa -c "$ENTERPRISE" --state "$TMP/deep/er/state.sqlite" check -a copilot -u alice --action read:x --session-id "$S5"
expect_rc 0 "check uses the --state database"
aa -c "$ENTERPRISE" check -a copilot -u alice --action read:x --session-id "$S5"
expect_rc 1 "check without --state does not know the session"
aa -c "$NODELEG" sessions --create -a reader -u bob
[ -f nodeleg/state.db ] && pass || fail "the state follows audit.path"
[ "$(stat -c %a nodeleg nodeleg/state.db | tr '\n' ' ')" = "700 600 " ] && pass || fail "audit.path directory 0700, state 0600"
aa -c "$ENTERPRISE" --state "$TMP" sessions --list
expect_rc 1 "--state naming a directory"
expect_err "Error:" "--state directory error"
expect_no_crash "--state directory"

# ---- concurrent writers lose nothing -------------------------------------------
if [ "${AA_VALGRIND:-}" != 1 ]; then
    for w in 1 2 3 4; do
        (for i in 1 2 3 4 5; do
            "$AGENT_AUTH" -c "$NODELEG" sessions --create -a "worker$w" -u "u$i" >/dev/null 2>>conc.err || echo "fail $w $i" >>conc.err
        done) &
    done
    wait
    grep -v "^Warning: agent 'worker[1-4]' has no profile" conc.err >conc.other
    [ ! -s conc.other ] && pass || fail "concurrent creates: $(head -c 500 conc.other)"
    aa -c "$NODELEG" sessions --list -o json
    defer_json "len([s for s in d if s['agent'].startswith('worker')]) == 20" "20 concurrent sessions, none lost"
    defer_file lines nodeleg/audit.jsonl "len([e for e in out if e.get('event') == 'session.create' and e['agent'].startswith('worker')]) == 20" "20 audit lines from concurrent writers"
    aa -c "$NODELEG" audit --verify
    expect_rc 0 "audit chain intact after concurrent writers"
fi

check_deferred
finish
