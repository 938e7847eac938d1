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
