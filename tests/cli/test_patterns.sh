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

finish
