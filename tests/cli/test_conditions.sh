#!/bin/bash
# What a policy's conditions and request checks mean, end to end: load
# warnings with file:line:col (names of the other context, backslash
# escapes, undeclared metadata), request_metadata and require_scope
# denials, and grants that stop counting when delegation is switched off.
. "$(dirname "$0")/lib.sh"

# ---- load warnings -----------------------------------------------------------
cat >warn.yaml <<'YAML'
version: "1.0"
profiles:
  bot: {allow: ["pay:*"]}
request_metadata:
  amount: {type: number}
approval_policies:
  - name: cross
    condition: 'to_agent == "vault"'
  - name: escaped
    condition: 'resource == "a\tb"'
  - name: typo
    condition: 'amout > 1000 or amount > 1000'
audit: {enabled: false}
YAML
aa -c warn.yaml validate
expect_rc 0 "warnings do not refuse the file"
expect_err "Warning: warn.yaml:8:17: approval policy 'cross': condition: 'to_agent' is a built-in of A2A conditions only; here it reads request metadata (column 1)" "a name of the other context, placed in the file"
expect_err "Warning: warn.yaml:10:31: approval policy 'escaped': condition: '\\t' in a string is an escape here (a tab)" "a backslash escape, placed in the file"
expect_err "Warning: warn.yaml:12:17: approval policy 'typo': condition: 'amout' reads request metadata that request_metadata does not declare (column 1)" "an undeclared metadata name, placed in the file"
[ "$(grep -c '^Warning:' "$ERR")" = 3 ] && pass || fail "one warning each"
aa -c warn.yaml validate --strict
expect_rc 1 "--strict makes the warnings errors"
expect_err "warn.yaml:8:17:" "strict error keeps its place"

# ---- require_scope -------------------------------------------------------------
cat >req.yaml <<'YAML'
version: "1.0"
profiles:
  bot: {allow: ["pay:*", "read:*"], require_scope: true}
  free: {allow: ["pay:*", "read:*"]}
request_metadata:
  amount: {type: number, required_for: ["pay:*"]}
approval_policies:
  - name: big
    condition: 'action starts_with "pay:" and amount > 1000'
    tier: strong
audit: {enabled: false}
YAML
aa -c req.yaml check -a bot -u alice --action read:x
expect_rc 1 "an unscoped request is denied under require_scope"
expect_out "Scope required by profile 'bot': the request has no scope" "the reason names the profile"
aa -c req.yaml check -a bot -u alice --action read:x -s project:a
expect_rc 0 "a scoped request is allowed"
aa -c req.yaml check -a free -u alice --action read:x
expect_rc 0 "require_scope defaults to false"

# ---- request_metadata -------------------------------------------------------------
aa -c req.yaml check -a free -u alice --action pay:invoice
expect_rc 1 "a payment without amount is denied"
expect_out "Metadata 'amount' is required for action 'pay:invoice' (request_metadata)" "the reason names the field"
aa -c req.yaml check -a free -u alice --action pay:invoice -m amount=lots -o json
expect_rc 1 "a text amount is denied"
expect_out "Metadata 'amount' must be a number, not a string" "the reason names the field and both types"
aa -c req.yaml check -a free -u alice --action pay:invoice -m amount=5000 -o json
expect_rc 0 "a number passes"
expect_out '"tier": "strong"' "and reaches the approval"
aa -c req.yaml explain -a free -u alice --action pay:invoice
expect_out "Metadata 'amount' is required" "explain shows the metadata step"

# ---- delegation.enabled: false -------------------------------------------------
mkdir -p st
cat >on.yaml <<'YAML'
version: "1.0"
profiles:
  bot: {allow: [read]}
delegation: {enabled: true}
audit: {path: st/audit.jsonl}
YAML
sed 's/enabled: true/enabled: false/' on.yaml >off.yaml
aa -c on.yaml delegate --from-user alice --to-agent bot --actions 'deploy:*'
expect_rc 0 "a grant while delegation is on"
ID=$(sed -n 's/^Delegation created: //p' "$OUT")
aa -c on.yaml check -a bot -u alice --action deploy:web
expect_rc 0 "the grant permits while delegation is on"
aa -c off.yaml check -a bot -u alice --action deploy:web
expect_rc 1 "no grant permits once delegation is off"
expect_out "Action 'deploy:web' not authorized for agent 'bot' (delegation '$ID' does not count: delegation is disabled)" "the reason says why"
aa -c off.yaml explain -a bot -u alice --action deploy:web
expect_rc 1 "explain denies too"
expect_out "but delegation is disabled (delegation.enabled: false)" "the trace says why"

finish
