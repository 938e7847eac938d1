#!/bin/bash
# `agent-auth test`: the shipped example's tests and the engine's
# data-driven cases pass; a failing case is reported with its trace.
. "$(dirname "$0")/lib.sh"

aa test "$EXAMPLES/enterprise.test.yaml"
expect_rc 0 "enterprise.test.yaml passes"
grep -qE '^[0-9]+ passed, 0 failed$' "$OUT" && pass || fail "enterprise summary line"

for f in "$AA_SOURCE_DIR"/tests/data/engine/*.test.yaml; do
    aa test "$f"
    expect_rc 0 "$(basename "$f") passes"
    grep -qE '^[0-9]+ passed, 0 failed$' "$OUT" && pass || fail "$(basename "$f") summary"
done

# A failing case: reported with expected/actual and the trace, exit 1.
cat > bad.test.yaml <<EOT
policy: $ENTERPRISE
tests:
  - name: wrong expectation
    request: {agent: copilot, user: alice, action: "delete:branch"}
    expect: {allowed: true}
  - name: right expectation
    request: {agent: copilot, user: alice, action: "read:x"}
    expect: {allowed: true}
EOT
aa test bad.test.yaml
expect_rc 1 "failing test file"
expect_out "FAIL  bad.test.yaml:3 wrong expectation: allowed: expected true, got false" "failure line"
expect_out "denied by profile 'copilot'" "failure shows the reason"
expect_out "x deny" "failure shows the trace"
expect_out "1 passed, 1 failed" "summary"

aa test -o json bad.test.yaml
expect_rc 1 "json failing"
expect_json "d['passed'] == 1 and d['failed'] == 1 and d['cases'][0]['passed'] is False" "json summary"

# A typo in a test file is an error, not a silent pass.
cat > typo.test.yaml <<EOT
policy: $ENTERPRISE
tests:
  - name: typo
    request: {agent: copilot, user: alice, acton: "read:x"}
    expect: {allowed: true}
EOT
aa test typo.test.yaml
expect_rc 1 "typo in test file"
expect_out "unknown key 'acton' in request" "typo named"

# Every field is type-checked with its position; nothing passes that the
# runner cannot evaluate, nothing is truncated.
cat > types.test.yaml <<EOT
policy: $ENTERPRISE
tests:
  - name: numeric agent
    request: {agent: 123, user: alice, action: "read:x"}
    expect: {allowed: false}
  - name: list user
    request: {agent: copilot, user: [alice], action: "read:x"}
    expect: {allowed: true}
  - name: nested metadata
    request: {agent: copilot, user: alice, action: "read:x", metadata: {tags: [[a]]}}
    expect: {allowed: true}
  - name: maybe
    request: {agent: copilot, user: alice, action: "read:x"}
    expect: {allowed: maybe}
  - name: yes as an action
    request: {agent: copilot, user: alice, action: yes}
    expect: {allowed: false}
  - name: bad tier
    request: {agent: copilot, user: alice, action: "read:x"}
    expect: {tier: medium}
  - name: setup actions not strings
    setup:
      delegations: [{from_user: alice, to_agent: research-bot, actions: ["deploy:docs-site", {x: 1}]}]
    request: {agent: research-bot, user: alice, action: "deploy:docs-site"}
    expect: {allowed: true}
  - name: duration as text
    setup:
      sessions: [{name: s, agent: copilot, user: alice, duration: soon}]
    request: {agent: copilot, user: alice, action: "read:x", session_id: s}
    expect: {allowed: true}
  - name: empty expectation
    request: {agent: copilot, user: alice, action: "read:x"}
    expect: {}
  - name: metadata list of scalars
    request: {agent: copilot, user: alice, action: "deploy:web", metadata: {env: prod, tags: [a, 1, true]}}
    expect: {allowed: true, tier: strong}
EOT
aa test types.test.yaml
expect_rc 1 "type errors fail the run"
expect_out "ERROR types.test.yaml:4:22 numeric agent: request: 'agent' must be a string, not the number 123 (quote it)" "agent: 123 placed"
expect_out "ERROR types.test.yaml:7:37 list user: request: 'user' must be a string, not a list" "user: [alice] placed"
expect_out "ERROR types.test.yaml:10:80 nested metadata: request: metadata 'tags' must be a value or a list of values, not a list holding a list" "nested metadata placed"
expect_out "ERROR types.test.yaml:14:23 maybe: expect: 'allowed' must be true or false, not the string \"maybe\"" "allowed: maybe placed"
expect_out "ERROR types.test.yaml:16:52 yes as an action: request: 'action' must be a string, not the boolean true (quote it)" "action: yes placed"
expect_out "ERROR types.test.yaml:20:20 bad tier: expect: tier 'medium' is not a tier" "bad tier placed"
expect_out "ERROR types.test.yaml:23:94 setup actions not strings: setup delegation 1: every entry of 'actions' must be a string, not a mapping" "setup action type placed"
expect_out "ERROR types.test.yaml:28:67 duration as text: setup session 1: 'duration' must be a whole number of seconds" "duration type placed"
expect_out "ERROR types.test.yaml:33:13 empty expectation: expect: give at least one of" "empty expect placed"
expect_out "1 passed, 9 failed" "only the well-typed case passes"
expect_err "types.test.yaml:16:52: 'yes' is the boolean true here (YAML 1.1, as PyYAML reads it)" "test files warn about YAML 1.1 scalars too"

# YAML 1.1 scalars mean the same in a test file as in a policy: `on` is a
# boolean in both.
cat > yaml11.test.yaml <<EOT
policy: $ENTERPRISE
tests:
  - name: on is a boolean
    request: {agent: copilot, user: alice, action: "read:x"}
    expect: {allowed: on}
EOT
aa test yaml11.test.yaml
expect_rc 0 "allowed: on is true"
expect_err "'on' is the boolean true here" "and warned"

# More than 64 metadata keys and named sessions are all used.
{
    echo "policy: $ENTERPRISE"
    echo "tests:"
    echo "  - name: many metadata keys"
    printf '    request: {agent: billing-agent, user: carol, action: "pay:invoice", metadata: {'
    for i in $(seq 1 80); do printf 'k%d: %d, ' "$i" "$i"; done
    echo 'amount: 25000}}'
    echo "    expect: {allowed: true, tier: strong, approval_policy: large-payment}"
    echo "  - name: many named sessions"
    echo "    setup:"
    echo "      sessions:"
    for i in $(seq 1 70); do echo "        - {name: s$i, agent: copilot, user: alice}"; done
    echo "        - {name: last, agent: copilot, user: alice, revoked: true}"
    echo '    request: {agent: copilot, user: alice, action: "read:x", session_id: last}'
    echo '    expect: {allowed: false, reason: "Invalid or expired session"}'
    echo "  - name: a delegation of 70 actions"
    echo "    setup:"
    printf '      delegations: [{from_user: alice, to_agent: research-bot, actions: ['
    for i in $(seq 1 69); do printf '"deploy:site-%d", ' "$i"; done
    echo '"deploy:docs-site"], reason: "release", duration: 1800}]'
    echo '    request: {agent: research-bot, user: alice, action: "deploy:docs-site"}'
    echo '    expect: {allowed: true, reason: "Delegated by user '"'"'alice'"'"'"}'
} > many.test.yaml
aa test many.test.yaml
expect_rc 0 "81 metadata keys, 71 named sessions, 70 delegated actions"
expect_out "3 passed, 0 failed" "every case"

aa test -o json types.test.yaml
expect_rc 1 "json with type errors"
expect_json "d['failed'] == 9 and d['cases'][0]['error_line'] == 4 and d['cases'][0]['error_column'] == 22" "json error position"
aa test -o json bad.test.yaml
expect_json "d['cases'][0]['mismatches'] == [{'field': 'allowed', 'expected': 'true', 'actual': 'false', 'line': 5, 'column': 23}]" "json mismatch: expected vs actual with position"

# A test file that cannot be read is never "0 passed, 0 failed".
printf 'tests: [\n' > broken.test.yaml
aa test broken.test.yaml
expect_rc 1 "broken test file"
expect_err "broken.test.yaml:2:1: YAML syntax error" "syntax error placed"
expect_out "Not run: 1 of 1 test file" "summary says a file was not run"
expect_no_out "0 passed, 0 failed" "a broken test file is not '0 passed, 0 failed'"
aa test -o json broken.test.yaml
expect_json "sorted(d) == ['error'] and 'broken.test.yaml:2:1' in d['error']['message']" "json error names the file not run"
printf 'policy: %s\ntests: []\nextra: 1\n' "$ENTERPRISE" > extra.test.yaml
aa test extra.test.yaml
expect_rc 1 "unknown top-level key in a test file"
expect_err "extra.test.yaml:3:1: unknown key 'extra' (expected 'policy' and 'tests')" "unknown top-level key placed"

# Hostile test files: an alias bomb, binary junk, a FIFO, a directory.
cp "$AA_SOURCE_DIR/tests/data/policy/alias_billion_laughs.yaml" bomb.test.yaml
aa test bomb.test.yaml
expect_rc 1 "alias bomb in a test file"
expect_err "YAML aliases expand to more than 2000000 nodes" "alias bomb refused"
mkfifo fifo.test.yaml
timeout 10 "$AGENT_AUTH" test fifo.test.yaml >"$OUT" 2>"$ERR"
RC=$?
expect_rc 1 "a FIFO as a test file is refused, without waiting for a writer"
expect_err "fifo.test.yaml: cannot read test file: not a regular file" "FIFO named"
aa test "$TMP"
expect_rc 1 "a directory as a test file"
expect_err "cannot read test file: not a regular file" "directory named"

# The global --strict applies to the policy a test file loads.
printf 'version: "1.0"\nprofiles:\n  bot: {allow: ["*"]}\nx-note: 1\n' > warnpol.yaml
printf 'policy: warnpol.yaml\ntests:\n  - request: {agent: bot, user: u, action: x}\n    expect: {allowed: true}\n' > w1.test.yaml
cp w1.test.yaml w2.test.yaml
aa test w1.test.yaml w2.test.yaml
expect_rc 0 "policy warnings do not fail tests"
[ "$(grep -c "unknown key 'x-note'" "$ERR")" = 1 ] && pass || fail "a policy warning is printed once"
aa --strict test w1.test.yaml
expect_rc 1 "--strict: the policy's warnings are errors"
expect_err "warnpol.yaml:4:1: unknown key 'x-note' at the top level" "strict error named"

aa test "$TMP/missing.test.yaml"
expect_rc 1 "missing test file"
expect_err "missing.test.yaml" "missing file named"
expect_no_out "0 passed, 0 failed" "an unreadable test file is not '0 passed, 0 failed'"
expect_out "Not run: 1 of 1 test file" "an unreadable test file is counted as not run"
aa test -o json "$TMP/missing.test.yaml"
expect_rc 1 "missing test file, JSON"
expect_json "sorted(d) == ['error'] and 'missing.test.yaml' in d['error']['message']" "an unreadable test file is a JSON error, not 0 passed, 0 failed"

aa test
expect_rc 2 "no test file"

finish
