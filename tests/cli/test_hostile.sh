#!/bin/bash
# Reliability: hostile policy files and hostile requests, through validate,
# check, inspect and --batch. Each gets a clear error or a correct
# decision, never a crash, a hang, raw control characters on a terminal or
# invalid JSON.
. "$(dirname "$0")/lib.sh"
. "$AA_SOURCE_DIR/tests/data/cli/defer.sh"

E=$ENTERPRISE
VG=${AA_VALGRIND:-}

# refused DESC: the last run failed cleanly (exit 1, an error on stderr).
refused() {
    expect_rc 1 "$1"
    expect_no_crash "$1"
    if head -n 1 "$ERR" | grep -qE '^(Error: |Validation failed:$)'; then pass; else fail "$1: no clear error"; fi
}
# policy_refused FILE DESC: validate, check and inspect all refuse FILE.
# (Under valgrind, only check and validate: each run costs seconds there.)
policy_refused() {
    if [ "$VG" != 1 ]; then
        aa -c "$1" validate -o json
        defer_json "d['valid'] is False and len(d['errors']) >= 1" "validate -o json: $2"
        aa -c "$1" inspect
        refused "inspect: $2"
    fi
    aa -c "$1" check -a copilot -u alice --action read:x
    refused "check: $2"
    aa -c "$1" validate
    refused "validate: $2"
    grep -q '^  - ' "$ERR" && pass || fail "validate: $2: the reason is listed"
}
no_esc() {
    if grep -q $'\033' "$OUT" "$ERR"; then fail "$1: ESC byte in output"; else pass; fi
}

# The generated inputs (see the script for each).
"$PY" "$AA_SOURCE_DIR/tests/data/cli/hostile_gen.py"

# ---- hostile policy files ------------------------------------------------
: > empty.yaml
policy_refused empty.yaml "an empty file"
expect_err "empty" "says the file is empty"
printf '# nothing but a comment\n\n' > comment.yaml
policy_refused comment.yaml "a file of comments"
printf '[1, 2]\n' > list.yaml
policy_refused list.yaml "a list at the top level"
printf 'version: "1.0"\n---\nversion: "1.0"\n' > twodocs.yaml
policy_refused twodocs.yaml "two YAML documents"

policy_refused junk.yaml "binary junk"
aa -c junk-ascii.yaml validate
expect_no_crash "YAML punctuation junk"
[ "$RC" = 1 ] || [ "$RC" = 0 ] && pass || fail "YAML punctuation junk: exit $RC"

# Control characters written as escapes in a quoted key or value of the
# policy reach the diagnostics: on a terminal they are shown as '?', so a
# policy cannot forge a line ("Config is valid") or erase its warning.
cp "$ENTERPRISE" ctl.yaml
printf '"k\\e[2K\\rConfig is valid\\nfake\\u009b": 1\n' >> ctl.yaml
aa -c ctl.yaml validate
no_esc "validate: escapes in a policy key"
grep -q $'\r' "$ERR" && fail "validate: a CR from the policy in stderr" || pass
expect_err "unknown key 'k?[2K?Config is valid?fake?'" "validate: the key shown with '?' for its control characters"
grep -q "unknown key 'k.*fake" "$ERR" && pass ||
    fail "validate: the key's warning is cut into two lines"
aa -c ctl.yaml validate -o json
defer_json "any('k\x1b[2K\rConfig is valid\nfake\x9b' in w['message'] for w in d['warnings'])" "validate -o json keeps the key, escaped by JSON"

policy_refused big.yaml "a 20 MB file"
expect_err "limit" "names the size limit"
rm -f big.yaml
aa -c /dev/zero validate
refused "an endless device as the policy"
aa -c "$TMP" validate
refused "a directory as the policy"
aa -c "$TMP/none.yaml" check -a copilot -u alice --action read:x
refused "a missing policy"

policy_refused deep-flow-seq.yaml "10,000 nested flow lists"
expect_err "nesting" "says the nesting is too deep"
policy_refused deep-flow-map.yaml "10,000 nested flow mappings"
policy_refused deep-block.yaml "10,000 nested block lists"
policy_refused bomb.yaml "an alias bomb"
expect_err "alias" "names the aliases"
policy_refused deep-cond.yaml "10,000 nested parentheses in a condition"
policy_refused not-cond.yaml "10,000 nested 'not' in a condition"
policy_refused long-cond.yaml "a 400 KB condition"
printf 'version: "1.0"\nroles:\n  r: &a\n    actions: [*a]\n' > selfalias.yaml
policy_refused selfalias.yaml "an alias to its own anchor"
printf 'version: "1.0"\nroles:\n  r:\n    actions: [read]\n    description: !!python/object/apply:os.system ["touch pwned"]\n' > tag.yaml
policy_refused tag.yaml "a language-specific YAML tag"
[ ! -e pwned ] && pass || fail "a tag ran code"

printf 'version: "1.0"\nroles:\n  "r\xff\xfe":\n    actions: [read]\n' > badutf.yaml
policy_refused badutf.yaml "invalid UTF-8 in a key"
printf 'version: "1.0"\nroles:\n  r:\n    actions: ["read:\xc0\xaf"]\n' > overlong.yaml
policy_refused overlong.yaml "an overlong UTF-8 sequence"
printf 'version: "1.0"\nroles:\n  r:\n    actions: ["read:\xed\xa0\x80"]\n' > surrogate.yaml
policy_refused surrogate.yaml "an encoded UTF-16 surrogate"
printf 'version: "1.0"\nroles:\n  r:\n    actions: ["read\xc3' > truncated.yaml
policy_refused truncated.yaml "a truncated UTF-8 sequence at the end"
printf 'version: "1.0"\nroles:\n  r\0x:\n    actions: [read]\n' > nul.yaml
policy_refused nul.yaml "a NUL byte"
printf 'version: "1.0"\nroles:\n  r:\n    actions: [read]\n    description: "a\\0b"\n' > escnul.yaml
aa -c escnul.yaml validate
expect_no_crash "an escaped NUL in a YAML string"
printf 'version: "1.0"\nprofiles:\n  p: {max_session_duration: 99999999999999999999999999}\n' > hugenum.yaml
policy_refused hugenum.yaml "an integer out of range"
expect_err "out of range" "says out of range"
printf 'version: "1.0"\nprofiles:\n  p: {max_session_duration: -9223372036854775808}\n' > minnum.yaml
policy_refused minnum.yaml "the smallest integer as a duration"

# Long names (1 MB, as explicit keys: implicit ones stop at 1024 bytes).
if [ "$VG" != 1 ]; then
    aa -c longname.yaml validate
    expect_rc 0 "1 MB names are valid"
    expect_out "Config is valid: 1 roles, 2 profiles" "long names counted"
    aa -c longname.yaml check --no-audit --batch longname.jsonl
    expect_rc 1 "decisions on 1 MB names"
    defer_lines "[o['id'] for o in out] == [1, 2, 3] and [o['allowed'] for o in out] == [True, False, False]" "1 MB agent and action names decide correctly"
    aa -c longname.yaml check -a "$(printf 'q%.0s' $(seq 100000))" -u u --action anything -o json --no-audit
    expect_rc 0 "a 100 KB agent name on the command line"
    defer_json "d['allowed'] is True" "100 KB name decision"
    aa -c longname.yaml inspect -o json
    expect_rc 0 "inspect 1 MB names"
    defer_json "len(d['roles'][0]['name']) == 1 << 20" "inspect keeps the whole name"
    # A decision whose audit line would exceed the writer's limit fails closed.
    aa -c longname.yaml check --batch longname.jsonl
    defer_lines "[o['allowed'] for o in out] == [False, False, False] and 'udit' in out[0]['reason']" "an oversized audit line denies (fail closed)"
fi

# Inheritance 5,000 roles deep: refused at load with a clear error (the
# loader bounds `extends` chains), never a slow or huge load.
aa -c chain.yaml check -a bot -u u --action base:x --no-audit
expect_rc 1 "a 5,000-role inheritance chain is refused"
expect_err "Error: invalid policy 'chain.yaml':" "the refusal names the file"
expect_err "extends" "the refusal says why"

# A profile named "*" is a name, not a pattern.
printf 'version: "1.0"\nprofiles:\n  "*": {allow: ["*"]}\n' > star.yaml
aa -c star.yaml check -a evil -u u --action x --no-audit
expect_rc 1 "a profile named '*' does not match other agents"
aa -c star.yaml check -a '*' -u u --action x --no-audit
expect_rc 0 "the agent named '*' has it"

# ---- hostile requests on the command line ------------------------------------
for f in agent user action; do
    case $f in
    agent) aa -c "$E" check --agent '' -u alice --action read:x ;;
    user) aa -c "$E" check -a copilot --user '' --action read:x ;;
    action) aa -c "$E" check -a copilot -u alice --action '' ;;
    esac
    expect_rc 2 "empty --$f"
    expect_err "option '--$f' must not be empty" "empty --$f message"
done
aa -c "$E" check -a '*' -u alice --action read:x
expect_rc 1 "an agent named '*' gets no profile"
expect_out "not authorized for agent '*'" "'*' agent reason"
aa -c "$E" check -a copilot -u alice --action '*'
expect_rc 1 "an action named '*' is not every action"
aa -c "$E" check -a copilot -u alice --action 'read:[a-z]*' -o json
defer_json "d['allowed'] is True" "glob characters in an action are literal text matched by read:*"
aa -c "$E" check -a copilot -u alice --action 'delete:[' -o json
defer_json "d['allowed'] is False and 'delete:*' not in d['reason']" "an unbalanced bracket in an action"
aa -c "$E" check -a copilot -u alice --action read:x --scope '*'
expect_rc 1 "a scope named '*' is not every scope"
aa -c "$E" check -a copilot -u alice --action read:x --target-agent '*'
expect_rc 1 "a target named '*' is not every agent"
aa -c "$E" delegate --from-user alice --to-agent '*' --actions 'deploy:*' --reason r -d 60
expect_rc 0 "a delegation to the agent named '*'"
aa -c "$E" check -a research-bot -u alice --action deploy:x
expect_rc 1 "a grant to '*' is not a grant to everyone"
aa -c "$E" delegate --from-user '*' --to-agent research-bot --actions 'deploy:*' --reason r -d 60
aa -c "$E" check -a research-bot -u bob --action deploy:x
expect_rc 1 "a grant from '*' is not a grant from everyone"

CTRL=$(printf 'co\001\033[31mpi\302\233lot\t')
aa -c "$E" check -a "$CTRL" -u "$CTRL" --action "read:$CTRL"
expect_rc 1 "control characters in names"
no_esc "control characters are not echoed raw"
expect_out "co??[31mpi?lot?" "control characters shown as '?'"
aa -c "$E" explain -a "$CTRL" -u alice --action "$CTRL"
no_esc "explain trace without raw control characters"
aa -c "$E" check -a "$CTRL" -u alice --action read:x -o json
defer_json "'co\x01\x1b[31mpi\x9blot\t' in d['reason']" "JSON keeps control characters, escaped"
BADUTF=$(printf 'co\377pi\300\257lot')
aa -c "$E" check -a "$BADUTF" -u alice --action "read:$BADUTF" -o json
expect_rc 2 "invalid UTF-8 in arguments is refused"
expect_err "option '--agent' is not valid UTF-8 (byte 3)" "names the option and the byte"
aa -c "$E" check -a copilot -u alice --action "read:$(head -c 100000 /dev/zero | tr '\0' a)" -o json
expect_rc 0 "a 100 KB action"
defer_json "d['allowed'] is True" "100 KB action decided"
aa -c "$E" check -a '%s%n%s%x' -u '%n' --action 'read:%s' -r '%s' -s '%n'
expect_rc 1 "format directives in every field"
expect_out "'%s%n%s%x'" "format directives shown literally"
aa -c "$E" check -a copilot -u alice --action read:x --session-id "' OR 1=1 --"
expect_rc 1 "SQL in a session id"
expect_out "Invalid or expired session" "SQL is just an unknown id"
aa -c "$E" sessions --revoke "x' OR '1'='1"
expect_rc 1 "SQL in a revoke"
aa -c "$E" sessions --list -a "%' OR 1=1 --" -o json
defer_json "d == []" "SQL in a list filter"
aa -c "$E" check -a copilot -u alice --action read:x -m 'a.b=1' -m "$CTRL=$CTRL" -m 'k=' -m 'n=1e999' -m 'user=root' -o json
expect_rc 0 "odd metadata"
defer_json "d['allowed'] is True" "odd metadata decided"

# ---- hostile requests in a batch ----------------------------------------------
if [ "$VG" != 1 ]; then
    before=$(wc -l < .agent_auth/audit.jsonl)
    aa -c "$E" check --batch hostile.jsonl
    expect_rc 2 "hostile batch: malformed lines"
    expect_no_crash "hostile batch"
    [ "$(wc -l < "$OUT")" = 26 ] && pass || fail "hostile batch: one output line per input line"
    defer_lines "len(out) == 26" "every hostile batch line is valid JSON"
    defer_lines "[i + 1 for i, o in enumerate(out) if 'error' in o] == [1, 2, 10, 11, 12, 13, 14, 15, 16, 17, 19, 20, 22, 25] and all(o['line'] == i + 1 for i, o in enumerate(out) if 'error' in o)" "the malformed lines, in place"
    defer_lines "'longer than' in out[24]['error'] and out[25]['allowed'] is True" "a 17 MB line is refused and the next one decided"
    defer_lines "[out[i]['allowed'] for i in (6, 7, 8, 17, 20, 22)] == [False, False, True, True, True, True]" "decisions on hostile values"
    defer_lines "out[5]['allowed'] is False and 'line too long' in out[5]['reason']" "1 MB of metadata fails closed on the audit line limit"
    defer_lines "out[20]['id'] == '\U0001F600'" "a non-ASCII id is echoed"
    defer_lines "out[2]['allowed'] is False and 'udit' in out[2]['reason'] and 'allowed' in out[2]['reason']" "a 1 MB action fails closed on the audit line limit"
    defer_lines "out[3]['allowed'] is False and out[4]['allowed'] is False" "1 MB agent and user"
    defer_lines "'not authorized' in out[23]['reason'] or 'session' in out[23]['reason']" "format directives and SQL in a batch"
    aa -c "$E" check --batch hostile.jsonl --no-audit
    defer_lines "out[2]['allowed'] is True and 'read:' + 'x' * (1 << 20) not in out[2]['reason']" "a 1 MB action without audit is allowed"
fi

# A smaller hostile batch that runs under valgrind too.
head -n 24 hostile.jsonl | sed -n '1,2p;7,24p' > small.jsonl
aa -c "$E" check --batch small.jsonl
expect_no_crash "small hostile batch"
expect_rc 2 "small hostile batch exit"
defer_lines "len(out) == 20" "small hostile batch: every line answered with valid JSON"

# ---- the log those requests wrote ----------------------------------------------
aa -c "$E" audit --verify
expect_rc 0 "the log of hostile requests verifies"
aa -c "$E" audit
expect_rc 0 "audit console after hostile requests"
no_esc "audit console shows no raw control characters"
expect_no_crash "audit console"
aa -c "$E" audit -o json --limit 100000
expect_rc 0 "audit JSON after hostile requests"
defer_json "isinstance(d, list) and len(d) >= 10" "audit JSON is valid"
aa -c "$E" sessions --list
no_esc "sessions table"
aa -c "$E" delegations --list
no_esc "delegations table"
expect_out "active delegation" "delegations list runs"

check_deferred
finish
