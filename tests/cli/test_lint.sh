#!/bin/bash
# `agent-auth lint`: output format, exit codes, -o json, --disable,
# --fail-on, unreadable files, and every shipped example policy lints clean
# under the default --fail-on error.
. "$(dirname "$0")/lib.sh"

CASES=$AA_SOURCE_DIR/tests/data/lint

# Every shipped example policy: exit 0 under the default --fail-on error.
for f in "$EXAMPLES"/*.yaml; do
    aa lint "$f"
    expect_rc 0 "lint $(basename "$f")"
    expect_no_crash "lint $(basename "$f")"
done

# The default file is the global -c policy.
aa -c "$ENTERPRISE" lint
expect_rc 0 "lint of -c policy"
expect_out "enterprise.yaml:34:3: info: scope-unchecked: profile 'copilot'" "default file is -c"

# One finding per line: file:line:col: severity: code: message, and the
# related position on the line below.
aa lint "$CASES/allow_unreachable.yaml"
expect_rc 0 "warnings only: exit 0 by default"
expect_out "allow_unreachable.yaml:10:13: warning: allow-unreachable: allow pattern 'pay:[ab]*' of profile 'bot' is unreachable" "text line"
expect_out "allow_unreachable.yaml:11:12: related" "related line"
expect_err "0 errors, 2 warnings, 0 info in 1 file" "summary on stderr"

# --fail-on.
aa lint --fail-on warning "$CASES/allow_unreachable.yaml"
expect_rc 1 "--fail-on warning with warnings"
aa lint --fail-on info "$CASES/misc.yaml"
expect_rc 1 "--fail-on info with infos"
aa lint --fail-on warning "$CASES/pattern_redundant.yaml"
expect_rc 0 "--fail-on warning with infos only"
aa lint --fail-on bogus "$CASES/misc.yaml"
expect_rc 2 "--fail-on bogus is a usage error"
expect_err "--fail-on" "usage error names the option"

# Errors fail by default: load errors and field-unknown.
aa lint "$CASES/load_error.yaml"
expect_rc 1 "load errors: exit 1"
expect_out "load_error.yaml:9:11: error: load-error: profile 'p': role 'nobody' is not defined" "load error with position"
expect_out "load_error.yaml:14:25: error: load-error:" "every load error, not only the first"
aa lint "$CASES/field_unknown.yaml"
expect_rc 1 "field-unknown is an error"

# --disable, comma-separated and repeatable.
aa lint --fail-on info --disable role-unused,scope-unchecked --disable profile-empty "$CASES/misc.yaml"
expect_rc 0 "every finding disabled"
expect_no_out "role-unused" "disabled code not printed"
aa lint --disable no-such-code "$CASES/misc.yaml"
expect_rc 2 "unknown code is a usage error"
expect_err "no-such-code" "usage error names the code"

# -o json: an array of {file,line,col,severity,code,message,related}.
aa lint -o json "$CASES/allow_unreachable.yaml" "$CASES/misc.yaml"
expect_rc 0 "json, warnings only"
expect_json "isinstance(d, list) and len(d) == 6" "json array of every file's findings"
expect_json "all(set(x) == {'file','line','col','severity','code','message','related'} for x in d)" "json keys"
expect_json "d[0]['code'] == 'allow-unreachable' and d[0]['line'] == 6 and d[0]['col'] == 15 and d[0]['severity'] == 'warning'" "json first finding"
expect_json "d[0]['related'] == {'file': d[0]['file'], 'line': 11, 'col': 32}" "json related"
expect_json "[x['related'] for x in d if x['code'] == 'role-unused'] == [None]" "json related null"
aa lint -o text "$CASES/misc.yaml"
expect_rc 0 "-o text"
expect_out "misc.yaml:7:3: info: role-unused:" "-o text prints lines"

# Several files: findings of each; an unreadable one exits 2.
aa lint "$CASES/misc.yaml" "$CASES/a2a_shadowed.yaml"
expect_rc 0 "two files"
expect_out "misc.yaml:7:3" "first file"
expect_out "a2a_shadowed.yaml:11:7" "second file"
aa lint "$CASES/misc.yaml" missing.yaml
expect_rc 2 "missing file exits 2"
expect_err "missing.yaml" "names the missing file"
printf 'version: "1.0"\n' > locked.yaml
chmod 000 locked.yaml
if [ "$(id -u)" != 0 ]; then
    aa lint locked.yaml
    expect_rc 2 "unreadable file exits 2"
    expect_err "locked.yaml" "names the unreadable file"
fi
mkdir adir
aa lint adir
expect_rc 2 "a directory exits 2"

# A YAML syntax error is a finding with its position, not a crash.
printf 'version: "1.0"\nroles: [\n' > broken.yaml
aa lint broken.yaml
expect_rc 1 "syntax error: exit 1"
expect_out "broken.yaml:" "syntax error has a position"
expect_out "load-error" "syntax error is a load-error"

# docs/lint.md: every example policy, linted, prints what the page shows.
"$PY" - "$AA_SOURCE_DIR/docs/lint.md" "$TMP/doc" <<'PY'
import os, re, sys
text = open(sys.argv[1], encoding="utf-8").read()
os.makedirs(sys.argv[2], exist_ok=True)
pairs = re.findall(r"```yaml\n# (\w+\.yaml)\n(.*?)```\n\n```console\n\$ agent-auth lint (\S+)\n(.*?)```", text, re.S)
if len(pairs) < 9:
    sys.exit("lint.md: expected an example per code, found %d" % len(pairs))
for name, body, arg, shown in pairs:
    assert name == arg, (name, arg)
    open(os.path.join(sys.argv[2], name), "w").write(body)
    open(os.path.join(sys.argv[2], name + ".shown"), "w").write(shown)
PY
[ $? = 0 ] && pass || fail "docs/lint.md examples could not be read"
for f in "$TMP"/doc/*.yaml; do
    name=$(basename "$f")
    (cd "$TMP/doc" && "$AGENT_AUTH" lint "$name" >"$OUT" 2>"$ERR")
    if cmp -s "$OUT" "$f.shown"; then
        pass
    else
        fail "docs/lint.md: the output shown for $name differs: $(diff "$f.shown" "$OUT")"
    fi
done

# A hostile policy: long lists of patterns that all begin with a wildcard
# (so no literal prefix tells them apart) would take quadratic numbers of
# coverage searches, hours at this size; the work is bounded and lint
# finishes with what it could decide. The 120 s limit is a hang guard,
# not a measurement.
"$PY" - >"$TMP/wide_lists.yaml" <<'PYEOF'
n = 30000
print('version: "1.0"')
print('roles:')
print('  r: {actions: [%s]}' % ", ".join('"*r%05d*"' % i for i in range(n)))
print('profiles:')
print('  bot:')
print('    role: r')
print('    allow: ["*", %s]' % ", ".join('"*a%05d*"' % i for i in range(n)))
print('    deny: [%s]' % ", ".join('"*d%05d*"' % i for i in range(n)))
PYEOF
RC=0
timeout 120 "$AGENT_AUTH" lint "$TMP/wide_lists.yaml" >"$OUT" 2>"$ERR" || RC=$?
if [ "$RC" = 124 ]; then
    fail "lint of 90,000 wildcard patterns did not finish in 120 s"
else
    expect_rc 0 "lint of 90,000 wildcard patterns"
    expect_err "in 1 file" "lint of 90,000 wildcard patterns: summary"
fi

aa lint --help
expect_rc 0 "lint --help"
expect_out "--fail-on" "help lists --fail-on"

finish
