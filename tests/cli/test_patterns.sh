#!/bin/bash
# Patterns end to end: a grant or a session scope is accepted only when the
# rule's (the profile's) patterns cover every string it can match; `?` and
# classes match one UTF-8 character; invalid UTF-8 is refused where it
# enters (policy values through ${VAR}, command-line arguments) and never
# reaches the audit log.
. "$(dirname "$0")/lib.sh"

cat > cover.yaml <<'EOF'
version: "1.0"
roles:
  lister:
    actions: ["list:*"]
profiles:
  helper:
    role: lister
    scopes: ["project:[!s]*", "docs"]
    deny: ["delete:?"]
    allow: ["delete:*"]
delegation:
  enabled: true
  rules:
    - name: no-secrets
      allowed_actions: ["read:[!s]*", "write:docs"]
audit:
  path: state/audit.jsonl
EOF

# ---- a grant must be covered, as a language, by allowed_actions -------------
aa -c cover.yaml delegate --from-user alice --to-agent helper --actions 'read:*'
expect_rc 1 "read:* is refused under read:[!s]*"
expect_err "Action 'read:*' not allowed by delegation rule 'no-secrets'" \
    "the refusal names the pattern and the rule"
expect_err "would also allow 'read:'" "the refusal shows a string that escapes"
aa -c cover.yaml delegate --from-user alice --to-agent helper --actions 'read:s*'
expect_rc 1 "read:s* is refused"
expect_err "would also allow 'read:s'" "witness for read:s*"
aa -c cover.yaml check --agent helper --user alice --action read:secrets
expect_rc 1 "no grant was made: read:secrets stays denied"

aa -c cover.yaml delegate --from-user alice --to-agent helper \
    --actions 'read:[a-r]*, read:docs, write:docs' -d 60
expect_rc 0 "patterns inside the rule's language are granted"
aa -c cover.yaml delegate --from-user alice --to-agent helper --actions 'write:*'
expect_rc 1 "write:* is wider than write:docs"
expect_err "Action 'write:*' not allowed" "names write:*"

# ---- a session scope must be covered by the profile's scopes ----------------
aa -c cover.yaml sessions --create --agent helper --user alice --scope 'project:*'
expect_rc 1 "project:* is refused under project:[!s]*"
expect_err "Scope 'project:*' not allowed by profile 'helper'" \
    "the refusal names the scope and the profile"
expect_err "would also allow 'project:'" "the refusal shows a string that escapes"
[ ! -s "$OUT" ] && pass || fail "no session printed for a refused scope"
aa -c cover.yaml sessions --create --agent helper --user alice --scope 'project:[a-r]*'
expect_rc 0 "a scope inside the profile's scopes"
aa -c cover.yaml sessions --create --agent helper --user alice --scope 'docs'
expect_rc 0 "a literal scope the profile lists"

# Actions and scopes are never empty, so the empty string does not count:
# `*` lies within `?*`.
cat > nonempty.yaml <<'EOF'
version: "1.0"
profiles:
  helper:
    scopes: ["?*"]
delegation:
  rules:
    - name: any-action
      allowed_actions: ["[!a]*", "a*"]
audit:
  path: state2/audit.jsonl
EOF
aa -c nonempty.yaml sessions --create --agent helper --user alice --scope '*'
expect_rc 0 "scope * within ?*"
aa -c nonempty.yaml delegate --from-user alice --to-agent helper --actions '*'
expect_rc 0 "action * within [!a]* and a*"

# ---- `?` and classes match one UTF-8 character ------------------------------
aa -c cover.yaml check --agent helper --user u --action 'delete:é'
expect_rc 1 "deny delete:? denies delete:é (one character, two bytes)"
expect_out "denied by profile 'helper'" "the deny list decided"
aa -c cover.yaml check --agent helper --user u --action 'delete:😀'
expect_rc 1 "deny delete:? denies a four-byte character"
aa -c cover.yaml check --agent helper --user u --action 'delete:ab'
expect_rc 0 "two characters are not one"

# ---- invalid UTF-8 in the policy: a load error with its position ------------
cat > envpat.yaml <<'EOF'
version: "1.0"
profiles:
  helper:
    allow: ["read:*"]
    deny: ["read:${SECRET_NAME}"]
EOF
BADVAL=$'s\xffx'
SECRET_NAME=$BADVAL aa -c envpat.yaml validate
expect_rc 1 "an environment value that is not UTF-8 fails validation"
expect_err 'envpat.yaml:5:' "the error has the file and line of the value"
expect_err 'the value of ${SECRET_NAME} is not valid UTF-8 (byte 2)' \
    "the error names the variable and the byte"
SECRET_NAME=$BADVAL aa -c envpat.yaml check --agent helper --user u --action read:x
expect_rc 1 "no decision is made under such a policy"
expect_no_out "ALLOWED" "nothing is allowed"
SECRET_NAME=sx aa -c envpat.yaml check --agent helper --user u --action read:sx
expect_rc 1 "a valid value loads (and its deny applies)"
expect_out "denied by profile" "denied by the interpolated pattern"
printf 'version: "1.0"\nprofiles:\n  a:\n    allow: ["x\xff"]\n' > raw.yaml
aa -c raw.yaml validate
expect_rc 1 "a policy file that is not UTF-8"
expect_err "raw.yaml:4:" "names the position"

# ---- invalid UTF-8 on the command line: refused, nothing written -----------
FF=$'\xff'
aa -c cover.yaml check --agent helper --user "$FF" --action read:x
expect_rc 2 "check --user not UTF-8"
expect_err "option '--user' is not valid UTF-8 (byte 1)" "names the option"
aa -c cover.yaml check --agent helper --user u --action "read:x$FF"
expect_rc 2 "check --action not UTF-8"
expect_err "option '--action' is not valid UTF-8 (byte 7)" "names the byte"
aa -c cover.yaml check --agent helper --user u --action read:x -m "note=a${FF}"
expect_rc 2 "check --metadata not UTF-8"
expect_err "option '--metadata' is not valid UTF-8" "names --metadata"
aa -c cover.yaml sessions --create --agent helper --user "$FF"
expect_rc 2 "sessions --create --user not UTF-8"
aa -c cover.yaml sessions --create --agent helper --user u --scope "docs$FF"
expect_rc 2 "sessions --create --scope not UTF-8"
aa -c cover.yaml delegate --from-user "$FF" --to-agent helper --actions write:docs
expect_rc 2 "delegate --from-user not UTF-8"
expect_err "option '--from-user' is not valid UTF-8" "names --from-user"
aa -c cover.yaml delegate --from-user alice --to-agent helper --actions "write:docs$FF"
expect_rc 2 "delegate --actions not UTF-8"
aa -c cover.yaml delegate --from-user alice --to-agent helper --actions write:docs --reason "$FF"
expect_rc 2 "delegate --reason not UTF-8"
aa -c cover.yaml delegations --revoke "$FF"
expect_rc 2 "delegations --revoke not UTF-8"
aa -c cover.yaml sessions --revoke "$FF"
expect_rc 2 "sessions --revoke not UTF-8"
aa -c cover.yaml audit --agent "$FF"
expect_rc 2 "audit --agent not UTF-8"
aa -c cover.yaml sessions --list --user "é"
expect_rc 0 "valid UTF-8 arguments still work"

# The log holds only lines the reader reads back, and its chain verifies.
aa -c cover.yaml audit --verify
expect_rc 0 "audit --verify after every refusal"
if "$PY" -c '
import json
for line in open("state/audit.jsonl", "rb"):
    json.loads(line.decode("utf-8"))
' 2>"$ERR"; then pass; else fail "every audit line is UTF-8 JSON"; fi
# A file path need not be UTF-8.
cp state/audit.jsonl "log$FF.jsonl"
aa -c cover.yaml audit --verify --file "log$FF.jsonl"
expect_rc 0 "a file name that is not UTF-8 is still a path"

finish
