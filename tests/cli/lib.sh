# lib.sh - helpers for the end-to-end CLI tests. Each test script sources
# this, runs the real binary ($AGENT_AUTH) on real files in a temporary
# directory, and checks exit codes, stdout and stderr.
#
# With AA_VALGRIND=1 every run goes through valgrind's memcheck and any
# error or leak fails the test.
set -u

: "${AGENT_AUTH:?AGENT_AUTH must name the agent-auth binary}"
: "${AA_SOURCE_DIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
EXAMPLES=$AA_SOURCE_DIR/examples/policies
ENTERPRISE=$EXAMPLES/enterprise.yaml
MINIMAL=$EXAMPLES/minimal.yaml
export NO_COLOR=1

# The interpreter itself, not a version-manager shim that may take a second
# to start each time.
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || echo python3)

TMP=$(mktemp -d /tmp/aa-cli-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1

FAILS=0
PASSES=0
OUT=$TMP/.out
ERR=$TMP/.err
RC=0

# aa ARGS...: runs the binary; sets RC, OUT (stdout file), ERR (stderr file).
aa() {
    if [ "${AA_VALGRIND:-}" = 1 ]; then
        valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
            --error-exitcode=99 "$AGENT_AUTH" "$@" >"$OUT" 2>"$ERR"
    else
        "$AGENT_AUTH" "$@" >"$OUT" 2>"$ERR"
    fi
    RC=$?
    if [ "$RC" = 99 ]; then
        fail "valgrind reported errors for: agent-auth $*"
        cat "$ERR" >&2
    fi
}

# aa_in INPUTFILE ARGS...: as aa, with stdin from INPUTFILE.
aa_in() {
    local input=$1
    shift
    if [ "${AA_VALGRIND:-}" = 1 ]; then
        valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
            --error-exitcode=99 "$AGENT_AUTH" "$@" <"$input" >"$OUT" 2>"$ERR"
    else
        "$AGENT_AUTH" "$@" <"$input" >"$OUT" 2>"$ERR"
    fi
    RC=$?
}

fail() {
    FAILS=$((FAILS + 1))
    printf 'FAIL: %s\n' "$*" >&2
    printf '  stdout: %s\n' "$(head -c 2000 "$OUT" 2>/dev/null)" >&2
    printf '  stderr: %s\n' "$(head -c 2000 "$ERR" 2>/dev/null)" >&2
}

pass() { PASSES=$((PASSES + 1)); }

# expect_rc N DESCRIPTION
expect_rc() {
    if [ "$RC" = "$1" ]; then pass; else fail "$2: exit $RC, expected $1"; fi
}

# expect_out TEXT DESCRIPTION: stdout contains TEXT (fixed string)
expect_out() {
    if grep -qF -- "$1" "$OUT"; then pass; else fail "$2: stdout lacks '$1'"; fi
}

# expect_err TEXT DESCRIPTION: stderr contains TEXT
expect_err() {
    if grep -qF -- "$1" "$ERR"; then pass; else fail "$2: stderr lacks '$1'"; fi
}

# expect_no_out TEXT DESCRIPTION: stdout does not contain TEXT
expect_no_out() {
    if grep -qF -- "$1" "$OUT"; then fail "$2: stdout has '$1'"; else pass; fi
}

# expect_json EXPR DESCRIPTION: the python expression is true for the JSON
# on stdout, bound to `d`.
expect_json() {
    if "$PY" -c "import json,sys; d=json.load(open('$OUT')); sys.exit(0 if ($1) else 1)" 2>/dev/null; then
        pass
    else
        fail "$2: JSON check failed: $1"
    fi
}

# expect_clean_stderr DESCRIPTION: no crash words, no raw library noise
expect_no_crash() {
    if [ "$RC" -ge 128 ] || grep -qiE 'segmentation|sanitizer|assert|abort|core dumped' "$ERR"; then
        fail "$1: crashed (exit $RC)"
    else
        pass
    fi
}

finish() {
    printf '%d passed, %d failed\n' "$PASSES" "$FAILS"
    [ "$FAILS" = 0 ]
}
