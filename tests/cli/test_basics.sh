#!/bin/bash
# Version, help, usage errors and exit codes of the command line.
. "$(dirname "$0")/lib.sh"

aa version
expect_rc 0 "version"
grep -qE '^agent-auth [0-9]+\.[0-9]+\.[0-9]+$' "$OUT" && pass || fail "version format"

aa --version
expect_rc 0 "--version"
expect_out "agent-auth " "--version"

aa version -o json
expect_json "d['version'].count('.') == 2" "version -o json"

aa --help
expect_rc 0 "--help"
for c in validate inspect check explain sessions delegate delegations audit test version; do
    expect_out "  $c " "top-level help lists $c"
done

for c in validate inspect check explain sessions delegate delegations audit test version; do
    aa "$c" --help
    expect_rc 0 "$c --help"
    expect_out "Usage: agent-auth $c" "$c --help usage line"
done
aa check --help
expect_out "Examples:" "check --help has examples"
aa help check
expect_rc 0 "help check"
expect_out "Usage: agent-auth check" "help check"

aa
expect_rc 2 "no command"
aa frobnicate
expect_rc 2 "unknown command"
expect_err "Error: unknown command 'frobnicate'" "unknown command message"
expect_err "Usage:" "unknown command shows usage"

aa -c "$ENTERPRISE" check --agent copilot --user alice
expect_rc 2 "check without --action"
expect_err "missing required option '--action'" "names the missing option"

aa -c "$ENTERPRISE" check --agent copilot --user alice --action read:x --bogus
expect_rc 2 "unknown option"
expect_err "unknown option '--bogus' for 'check'" "names the unknown option"

aa -c "$ENTERPRISE" check --agent copilot --user alice --action
expect_rc 2 "missing value"
expect_err "option '--action' needs a value" "missing value message"

aa -c "$ENTERPRISE" sessions --create --agent copilot --user alice --duration abc
expect_rc 2 "bad number"
expect_err "option '--duration' needs a whole number, not 'abc'" "bad number message"

aa -c "$ENTERPRISE" sessions --create --agent copilot --user alice --duration -5
expect_rc 2 "negative number"
expect_err "option '--duration' must be at least 1" "negative number message"

aa -c "$ENTERPRISE" check -a copilot -u alice --action read:x -o yaml
expect_rc 2 "bad output format"
expect_err "'console' or 'json'" "bad output format message"

aa -c "$ENTERPRISE" sessions
expect_rc 2 "sessions without a mode"
aa -c "$ENTERPRISE" sessions --list --revoke x
expect_rc 2 "sessions with two modes"

aa -c "$TMP/nope.yaml" validate
expect_rc 1 "missing policy file"
expect_err "nope.yaml" "missing file is named"
expect_no_crash "missing policy file"

# -c before or after the command, and --config=FILE.
aa validate -c "$MINIMAL"
expect_rc 0 "-c after the command"
aa --config="$MINIMAL" validate
expect_rc 0 "--config=FILE"

finish
