#!/bin/bash
# `check` and `explain` end to end: exit codes, the console and JSON forms
# of a decision, every request option (resource, scope, target agent, typed
# metadata, session), the trace, and colour only on a terminal.
. "$(dirname "$0")/lib.sh"
. "$AA_SOURCE_DIR/tests/data/cli/defer.sh"

TYPED=$AA_SOURCE_DIR/tests/data/cli/typed.yaml

# expect_line ERE DESCRIPTION: some stdout line matches the whole ERE.
expect_line() {
    if grep -qE -- "^$1\$" "$OUT"; then pass; else fail "$2: no stdout line matches '$1'"; fi
}
# expect_no_esc DESCRIPTION: no ESC byte on stdout or stderr.
expect_no_esc() {
    if grep -q $'\033' "$OUT" "$ERR"; then fail "$1: ESC byte in output"; else pass; fi
}
# The JSON of a decision has exactly the fields of section 11, typed.
DECISION_SHAPE="sorted(d) == sorted(['allowed','tier','reason','requires_approval','approval_policy','evaluation_time_ms']) \
and type(d['allowed']) is bool and type(d['requires_approval']) is bool \
and type(d['tier']) is str and type(d['reason']) is str and type(d['approval_policy']) is str \
and type(d['evaluation_time_ms']) in (int, float) and d['evaluation_time_ms'] >= 0"

# ---- allowed / denied, console -------------------------------------------
aa -c "$ENTERPRISE" check --agent copilot --user alice --action read:documents
expect_rc 0 "allowed exits 0"
expect_line "ALLOWED  copilot -> read:documents \(user alice\)" "allowed headline"
expect_line "  Reason: +Allowed by profile 'copilot'" "allowed reason line"
expect_line "  Tier: +autonomous" "allowed tier line"
expect_no_out "Policy:" "no approval policy line when none applies"
expect_line "  Time: +[0-9]+\.[0-9]{3} ms" "time line"
expect_no_esc "NO_COLOR console output"

aa -c "$ENTERPRISE" check -a copilot -u alice --action delete:branch
expect_rc 1 "denied exits 1"
expect_line "DENIED  copilot -> delete:branch \(user alice\)" "denied headline"
expect_line "  Reason: +Action 'delete:branch' denied by profile 'copilot'" "deny-list reason"
expect_no_out "Tier:" "a denial shows no tier"
[ ! -s "$ERR" ] && pass || fail "a denial is not an error: stderr is empty"

aa -c "$ENTERPRISE" check -a copilot -u alice --action deploy:web -m env=prod
expect_rc 0 "approval-required is still allowed (exit 0)"
expect_line "ALLOWED \(approval required\)  copilot -> deploy:web \(user alice\)" "approval headline"
expect_line "  Reason: +Allowed by profile 'copilot' \(requires strong approval\)" "approval reason"
expect_line "  Tier: +strong" "strong tier line"
expect_line "  Policy: +production-deploy" "approval policy line"

aa -c "$ENTERPRISE" check -a ghost -u alice --action read:x
expect_rc 1 "agent without a profile"
expect_out "Action 'read:x' not authorized for agent 'ghost'" "not-authorized reason"

# ---- JSON -------------------------------------------------------------------
aa -c "$ENTERPRISE" check -a copilot -u alice --action read:x -o json
expect_rc 0 "json allowed exit"
defer_json "$DECISION_SHAPE" "allowed decision JSON shape"
defer_json "d['allowed'] is True and d['tier'] == 'autonomous' and d['requires_approval'] is False and d['approval_policy'] == ''" "allowed JSON values"

aa -c "$ENTERPRISE" check -a copilot -u alice --action deploy:prod-db -o json
expect_rc 1 "json denied exit"
defer_json "$DECISION_SHAPE" "denied decision JSON shape"
defer_json "d['allowed'] is False and d['tier'] == 'autonomous' and d['requires_approval'] is False and 'denied by profile' in d['reason']" "denied JSON values"

aa -c "$ENTERPRISE" check -a billing-agent -u bob --action pay:invoice --output json -m amount=50000
defer_json "d['allowed'] and d['tier'] == 'strong' and d['requires_approval'] and d['approval_policy'] == 'large-payment'" "strong tier names its policy"
aa -c "$ENTERPRISE" check -a billing-agent -u bob --action pay:invoice -o json -m amount=50
defer_json "d['tier'] == 'soft' and d['requires_approval'] and d['approval_policy'] == ''" "tier from the profile default has no policy name"

# ---- --scope ------------------------------------------------------------
aa -c "$ENTERPRISE" check -a copilot -u alice --action read:x --scope project:atlas
expect_rc 0 "scope accepted by the profile"
aa -c "$ENTERPRISE" check -a copilot -u alice --action read:x -s workspace:research
expect_rc 1 "scope refused by the profile"
expect_out "Scope 'workspace:research' not allowed by profile 'copilot'" "scope reason"
aa -c "$ENTERPRISE" check -a billing-agent -u bob --action read:x -s anything:at-all
expect_rc 0 "profile without scopes accepts any scope"

# ---- --resource ---------------------------------------------------------
aa -c "$TYPED" check -a bot -u alice --action read:file --resource /secret/plans -o json
defer_json "d['tier'] == 'strong' and d['approval_policy'] == 'secret-resource'" "resource reaches conditions"
aa -c "$TYPED" check -a bot -u alice --action read:file -r /public/plans -o json
defer_json "d['tier'] == 'autonomous'" "other resource"
defer_file lines .agent_auth/audit.jsonl "[l['resource'] for l in out[-2:]] == ['/secret/plans', '/public/plans']" "resource written to the audit line"

# ---- --metadata typed values -----------------------------------------------
aa -c "$TYPED" check -a bot -u u --action do:x -m urgent=true -o json
defer_json "d['tier'] == 'strong' and d['approval_policy'] == 'urgent-flag'" "true is a boolean"
aa -c "$TYPED" check -a bot -u u --action do:x -m urgent=false -o json
defer_json "d['tier'] == 'autonomous'" "false is a boolean, not true"
aa -c "$TYPED" check -a bot -u u --action do:x -m urgent=1 -o json
defer_json "d['tier'] == 'autonomous'" "the number 1 is not the boolean true"
aa -c "$TYPED" check -a bot -u u --action do:x -m count=10 -o json
defer_json "d['tier'] == 'soft' and d['approval_policy'] == 'many-items'" "10 is a number (as text '10' < '9')"
aa -c "$TYPED" check -a bot -u u --action do:x -m count=9 -o json
defer_json "d['tier'] == 'autonomous'" "9 > 9 is false"
aa -c "$TYPED" check -a bot -u u --action do:x -m count=1e1 -o json
defer_json "d['tier'] == 'soft'" "1e1 is the number 10"
aa -c "$TYPED" check -a bot -u u --action do:x -m count=0x10 -o json
defer_json "d['tier'] == 'soft' and 'could not be evaluated' in d['reason']" "0x10 is text, not the number 16: ordering it against a number fails closed"
aa -c "$TYPED" check -a bot -u u --action do:x -m ratio=2.5 -o json
defer_json "d['approval_policy'] == 'exact-ratio'" "fractional number"
aa -c "$TYPED" check -a bot -u u --action do:x -m ratio=2.50 -o json
defer_json "d['approval_policy'] == 'exact-ratio'" "numbers compare by value"
aa -c "$TYPED" check -a bot -u u --action do:own -m owner=null -o json
defer_json "d['tier'] == 'autonomous'" "null is null"
aa -c "$TYPED" check -a bot -u u --action do:own -m owner=carol -o json
defer_json "d['approval_policy'] == 'has-owner'" "a string is not null"
aa -c "$TYPED" check -a bot -u u --action do:x -m urgent=true -m count=99 -o json
defer_json "d['tier'] == 'strong' and d['approval_policy'] == 'urgent-flag'" "repeated --metadata, most restrictive wins"
aa -c "$TYPED" check -a bot -u u --action do:x -m 'note=a=b' -o json
expect_rc 0 "a value may contain '='"
aa -c "$ENTERPRISE" check -a copilot -u bob --action write:code -m user=alice -o json
defer_json "d['tier'] == 'soft' and d['approval_policy'] == 'code-changes'" "metadata cannot override the user field"
aa -c "$TYPED" check -a bot -u u --action do:x -m novalue
expect_rc 2 "metadata without '='"
expect_err "option '--metadata' needs KEY=VALUE, not 'novalue'" "metadata error message"
aa -c "$TYPED" check -a bot -u u --action do:x -m =v
expect_rc 2 "metadata with an empty key"

# ---- --target-agent (A2A) ------------------------------------------------
aa -c "$ENTERPRISE" check -a orchestrator -u alice --action read:x --target-agent research-bot
expect_rc 0 "A2A allowed by policy"
aa -c "$ENTERPRISE" check -a orchestrator -u alice --action pay:invoice --target-agent billing-agent
expect_rc 1 "A2A deny policy"
expect_out "Denied by A2A policy: Nobody may ask the billing agent to pay" "A2A deny reason uses the description"
aa -c "$ENTERPRISE" check -a research-bot -u alice --action read:x --target-agent copilot -o json
expect_rc 1 "A2A default deny"
defer_json "d['reason'] == 'Denied by default A2A policy'" "default deny reason"
aa -c "$ENTERPRISE" check -a copilot -u alice --action read:x --target-agent research-bot -m classification=public
expect_rc 0 "A2A allow with a true condition"
aa -c "$ENTERPRISE" check -a copilot -u alice --action read:x --target-agent research-bot -m classification=secret
expect_rc 1 "A2A allow with a false condition falls to the default"
aa -c "$TYPED" check -a bot -u u --action read:x --target-agent helper
expect_rc 0 "A2A allow (typed policy)"
aa -c "$TYPED" check -a bot -u u --action do:delete --target-agent helper -o json
expect_rc 1 "A2A deny wins over the profile"
defer_json "d['reason'] == 'Denied by A2A policy: Nobody asks another agent to delete'" "deny by description"
aa -c "$TYPED" check -a bot -u u --action read:x
expect_rc 0 "no target agent: no A2A check"

# ---- --session-id ------------------------------------------------------
aa -c "$ENTERPRISE" sessions --create --agent copilot --user alice --scope 'project:*'
expect_rc 0 "session created"
SID=$(sed -n 's/^Session created: //p' "$OUT")
aa -c "$ENTERPRISE" check -a copilot -u alice --action read:x --session-id "$SID"
expect_rc 0 "request in a live session"
aa -c "$ENTERPRISE" check -a copilot -u alice --action read:x --session-id "$SID" -s project:atlas
expect_rc 0 "request scope inside the session scope"
aa -c "$ENTERPRISE" check -a copilot -u alice --action read:x --session-id "$SID" -s repo:atlas
expect_rc 1 "request scope outside the session scope"
expect_out "'repo:atlas'" "names the request scope"
expect_out "'project:*'" "names the session scope"
aa -c "$ENTERPRISE" check -a research-bot -u alice --action read:x --session-id "$SID"
expect_rc 1 "session of another agent"
expect_out "Session agent mismatch" "agent mismatch reason"
expect_out "'copilot'" "agent mismatch names the session agent"
expect_out "'research-bot'" "agent mismatch names the request agent"
aa -c "$ENTERPRISE" check -a copilot -u bob --action read:x --session-id "$SID"
expect_rc 1 "session of another user"
expect_out "Session user mismatch" "user mismatch reason"
aa -c "$ENTERPRISE" sessions --revoke "$SID"
expect_rc 0 "session revoked"
aa -c "$ENTERPRISE" check -a copilot -u alice --action read:x --session-id "$SID" -o json
expect_rc 1 "revoked session"
defer_json "'Invalid or expired session' in d['reason']" "revoked session reason"
aa -c "$ENTERPRISE" check -a copilot -u alice --action read:x --session-id 00000000-0000-4000-8000-000000000000
expect_rc 1 "unknown session"
expect_out "Invalid or expired session" "unknown session reason"

# ---- audit lines for single checks, and --no-audit ---------------------
before=$(wc -l < .agent_auth/audit.jsonl)
aa -c "$ENTERPRISE" check -a copilot -u alice --action read:x --no-audit
expect_rc 0 "--no-audit check"
[ "$(wc -l < .agent_auth/audit.jsonl)" = "$before" ] && pass || fail "--no-audit writes no audit line"
aa -c "$ENTERPRISE" check -a copilot -u alice --action delete:y
[ "$(wc -l < .agent_auth/audit.jsonl)" = $((before + 1)) ] && pass || fail "a denial writes one audit line"
defer_file lines .agent_auth/audit.jsonl "out[-1]['allowed'] is False and out[-1]['action'] == 'delete:y' and out[-1]['session_id'] is None and out[-1]['target_agent'] is None" "audit line of the denial"

# ---- explain ----------------------------------------------------------
aa -c "$ENTERPRISE" explain -a copilot -u alice --action delete:x
expect_rc 1 "explain of a denial exits 1"
expect_line "DENIED  copilot -> delete:x \(user alice\)" "explain headline"
expect_line "Trace:" "explain prints a trace"
expect_line "  \+ profile +agent 'copilot' has profile 'copilot' with role 'engineer'" "trace profile step"
expect_line "  x deny +'delete:x' matches 'delete:\*' in the deny list of profile 'copilot'" "trace names the deny entry"

aa -c "$ENTERPRISE" explain -a billing-agent -u bob --action pay:invoice -m amount=50000
expect_rc 0 "explain of an allow exits 0"
expect_out "allowed by 'pay:invoice' from role 'finance'" "trace names the role entry"
expect_out "policy 'large-payment' (strong)" "trace names the approval policy"
expect_out "amount = 50000" "trace shows the values it compared"
expect_line "  \+ result +allowed, tier strong set by approval policy large-payment" "trace result"

aa -c "$ENTERPRISE" explain -a copilot -u alice --action read:x --target-agent research-bot -m classification=secret -o json
expect_rc 1 "explain json of an A2A denial"
defer_json "set(d) == {'allowed','tier','reason','requires_approval','approval_policy','evaluation_time_ms','trace'}" "explain JSON fields"
defer_json "isinstance(d['trace'], list) and len(d['trace']) >= 3 and all(set(s) == {'step','outcome','detail'} and s['outcome'] in ('pass','deny','no match') for s in d['trace'])" "trace entries"
defer_json "any(s['step'] == 'a2a' and 'copilot-asks-research' in s['detail'] for s in d['trace'])" "trace names the A2A policy"
defer_json "d['trace'][-1]['outcome'] == 'deny'" "last step is the denial"

aa -c "$ENTERPRISE" check -a copilot -u alice --action read:x -o json
defer_json "'trace' not in d" "check JSON has no trace"

aa -c "$ENTERPRISE" explain -a copilot -u alice --action read:x --batch
expect_rc 2 "explain takes no --batch"

# ---- an unreadable policy file ----------------------------------------------
# Every command says "Error: <path>: <OS reason>" and exits 1.
mkdir -p adir
for cmd in "validate" "inspect" "check -a copilot -u alice --action read:x" \
    "explain -a copilot -u alice --action read:x" "sessions --list" \
    "sessions --create --agent copilot --user alice" "delegations --list" \
    "delegate --from-user alice --to-agent copilot --actions read:x" "audit"; do
    # shellcheck disable=SC2086
    aa -c missing.yaml $cmd
    expect_rc 1 "$cmd with a missing policy: exit 1"
    grep -qxF "Error: missing.yaml: No such file or directory" "$ERR" && pass ||
        fail "$cmd with a missing policy: 'Error: <path>: <reason>'"
    expect_no_out "Validation failed" "$cmd with a missing policy: no 'Validation failed'"
    # shellcheck disable=SC2086
    aa -c adir $cmd
    expect_rc 1 "$cmd with a directory as policy: exit 1"
    grep -qxF "Error: adir: Is a directory" "$ERR" && pass ||
        fail "$cmd with a directory as policy: 'Error: <path>: <reason>'"
done

# ---- errors as JSON with -o json --------------------------------------------
# An error prints {"error": {"code", "message"}} on stdout (and the text on
# stderr), so a script can tell an error from a denial; exit codes stay.
JSON_ERROR="sorted(d) == ['error'] and sorted(d['error']) == ['code', 'message'] and d['error']['message']"
aa -c missing.yaml check -a copilot -u alice --action read:x -o json
expect_rc 1 "check -o json, missing policy: exit 1"
expect_json "$JSON_ERROR and d['error']['code'] == 'EIO' and d['error']['message'] == 'missing.yaml: No such file or directory'" "check -o json error object"
expect_err "Error: missing.yaml: No such file or directory" "check -o json error also on stderr"
aa -c "$ENTERPRISE" check -a copilot -u alice --action delete:x -o json
expect_rc 1 "check -o json denied: exit 1"
expect_json "d['allowed'] is False and 'error' not in d" "a denial is a decision, not an error"
aa -c "$ENTERPRISE" check -a copilot --action read:x -o json
expect_rc 2 "check -o json usage error: exit 2"
expect_json "$JSON_ERROR and d['error']['code'] == 'EUSAGE' and '--user' in d['error']['message']" "usage error as JSON"
aa -c "$ENTERPRISE" check --output=json -a copilot --action read:x
expect_json "$JSON_ERROR and d['error']['code'] == 'EUSAGE'" "usage error as JSON with --output=json"
aa -c missing.yaml validate -o json
expect_rc 1 "validate -o json, missing policy: exit 1"
expect_json "$JSON_ERROR and d['error']['code'] == 'EIO'" "validate -o json error object"
printf 'version: "1.0"\nroles: {r: {actions: 3}}\n' > invalid.yaml
aa -c invalid.yaml check -a copilot -u alice --action read:x -o json
expect_rc 1 "check -o json, invalid policy: exit 1"
expect_json "$JSON_ERROR and d['error']['code'] == 'EPOLICY' and 'invalid.yaml' in d['error']['message']" "invalid policy as a JSON error"
aa -c missing.yaml sessions --list -o json
expect_rc 1 "sessions -o json, missing policy: exit 1"
expect_json "$JSON_ERROR" "sessions -o json error object"
aa -c "$ENTERPRISE" sessions --create --agent copilot -o json
expect_rc 2 "sessions --create without --user: exit 2"
expect_json "$JSON_ERROR and d['error']['code'] == 'EUSAGE'" "sessions usage error as JSON"
aa -c "$ENTERPRISE" delegate --from-user alice --to-agent copilot --actions 'delete:*' -o json
expect_rc 1 "refused delegation -o json: exit 1"
expect_json "$JSON_ERROR and d['error']['code'] == 'EREFUSED' and 'delete:*' in d['error']['message']" "refused delegation as a JSON error"
expect_err "Error: delegation refused:" "refused delegation also on stderr"
aa -c missing.yaml audit -o json
expect_rc 1 "audit -o json, missing policy: exit 1"
expect_json "$JSON_ERROR" "audit -o json error object"
aa -c "$ENTERPRISE" audit --since garbage -o json
expect_rc 2 "audit -o json usage error: exit 2"
expect_json "$JSON_ERROR and d['error']['code'] == 'EUSAGE'" "audit usage error as JSON"
aa -c missing.yaml check -a copilot -u alice --action read:x
expect_rc 1 "console error: exit 1"
[ ! -s "$OUT" ] && pass || fail "console error: nothing on stdout"

# ---- colour -------------------------------------------------------------
# Piped (this script captures stdout), even without NO_COLOR: no colour.
env -u NO_COLOR "$AGENT_AUTH" -c "$ENTERPRISE" check -a copilot -u alice --action read:x >"$OUT" 2>"$ERR"
expect_no_esc "piped output without NO_COLOR"
env -u NO_COLOR "$AGENT_AUTH" -c "$ENTERPRISE" explain -a copilot -u alice --action delete:x >"$OUT" 2>"$ERR"
expect_no_esc "piped explain without NO_COLOR"
if script -qec true /dev/null >/dev/null 2>&1; then
    # On a terminal: colour, unless NO_COLOR is set or --no-color is given.
    env -u NO_COLOR script -qec "'$AGENT_AUTH' -c '$ENTERPRISE' check -a copilot -u alice --action read:x" /dev/null >"$OUT" 2>"$ERR"
    grep -q $'\033\\[' "$OUT" && pass || fail "terminal output is coloured"
    grep -q "ALLOWED" "$OUT" && pass || fail "terminal output has the headline"
    env -u NO_COLOR script -qec "'$AGENT_AUTH' -c '$ENTERPRISE' check -a copilot -u alice --action delete:x" /dev/null >"$OUT" 2>"$ERR"
    grep -q $'\033\\[31m' "$OUT" && pass || fail "a denial is red on a terminal"
    NO_COLOR=1 script -qec "'$AGENT_AUTH' -c '$ENTERPRISE' check -a copilot -u alice --action read:x" /dev/null >"$OUT" 2>"$ERR"
    expect_no_esc "NO_COLOR on a terminal"
    grep -q "ALLOWED" "$OUT" && pass || fail "NO_COLOR terminal output has the headline"
    env -u NO_COLOR script -qec "'$AGENT_AUTH' -c '$ENTERPRISE' --no-color check -a copilot -u alice --action read:x" /dev/null >"$OUT" 2>"$ERR"
    expect_no_esc "--no-color on a terminal"
    env -u NO_COLOR script -qec "'$AGENT_AUTH' -c '$ENTERPRISE' check -a copilot -u alice --action read:x -o json" /dev/null >"$OUT" 2>"$ERR"
    expect_no_esc "JSON on a terminal is never coloured"
else
    echo "script(1) not usable: terminal colour checks skipped"
fi

check_deferred
finish
