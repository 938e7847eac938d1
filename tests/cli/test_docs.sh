#!/bin/bash
# Keeps the documentation true to the program:
#   - examples/c/check.c and the complete example of docs/c-api.md compile
#     against the static library and print what they should;
#   - the example test file of docs/policy-tests.md passes as shown;
#   - the man page renders, and it, docs/cli.md and the bash completion
#     know every command and option that `agent-auth COMMAND --help` lists;
#   - the completion loads in bash and completes `agent-auth che<TAB>`;
#   - docs/json.md names every key of every JSON output, and
#     docs/configuration.md every key the policy loader knows;
#   - the committed graph docs/images/enterprise-policy.svg has the nodes and
#     edges of `inspect --graph` on the enterprise example;
#   - links between the docs point at files and headings that exist.
. "$(dirname "$0")/lib.sh"

SRC=$AA_SOURCE_DIR
DOCS=$SRC/docs
BUILD_DIR=$(cd "$(dirname "$AGENT_AUTH")" && pwd)
LIB=$BUILD_DIR/libagentauth.a
mkdir -p "$TMP/bin"
ln -s "$AGENT_AUTH" "$TMP/bin/agent-auth"
export PATH="$TMP/bin:$PATH"

# Commands and their options, as the program itself lists them.
COMMANDS=$("$AGENT_AUTH" --help | awk '/^Commands:/{on=1; next} on && /^  [a-z]/{print $1} on && /^$/{on=0}')
[ "$(echo $COMMANDS | wc -w)" -ge 10 ] && pass || fail "could not read the command list from --help"
opts_of() { # long and short options of command $1, from its --help
    "$AGENT_AUTH" "$1" --help | awk '/^Options:/{on=1; next} on && /^$/{on=0} on' |
        grep -oE '(^|[ ,])--?[a-z][a-z-]*' | tr -d ' ,' | sort -u
}

# ---- C examples -----------------------------------------------------------
cc_lib() { # cc_lib OUT SOURCES...: compile against the static library
    local out=$1
    shift
    # The library's own compiler, and its sanitizers when it was built with
    # them (the examples must link against an instrumented library too).
    ${AA_CC:-cc} -std=c11 -Wall -Wextra -Werror ${AA_SANITIZE:+-fsanitize=$AA_SANITIZE} \
        -I "$SRC/include" "$@" "$LIB" \
        $(pkg-config --libs yaml-0.1 jansson sqlite3 libcrypto) -lpthread -o "$out" \
        2>"$TMP/.cc"
}

if [ -f "$LIB" ]; then
    pass
else
    fail "no static library at $LIB"
fi

if cc_lib "$TMP/check" "$SRC/examples/c/check.c"; then
    pass
    (cd "$TMP" && "$TMP/check" "$ENTERPRISE" >"$OUT" 2>"$ERR")
    RC=$?
    expect_rc 0 "examples/c/check.c runs"
    expect_out "policy 'acme-enterprise': 4 roles, 4 profiles" "check.c: policy facts"
    expect_out "ALLOWED  copilot -> deploy:web (user alice): Allowed by profile 'copilot' (requires strong approval) [tier strong, policy 'production-deploy']" "check.c: metadata raises the tier"
    expect_out "ALLOWED  orchestrator -> export:reports (user carol): Allowed by user permissions" "check.c: user permissions callback"
    expect_out "DENIED   copilot -> read:code (user alice): Scope 'repo:web' is outside session scope 'project:*'" "check.c: session scope"
    expect_out "ALLOWED  research-bot -> deploy:docs-site (user alice): Delegated by user 'alice'" "check.c: delegation"
    expect_out "delegation of write:documents: EREFUSED" "check.c: refused delegation"
    expect_out "[tier soft, policy 'outside-intranet']" "check.c: matcher"
    expect_out "broken.yaml: EPOLICY, 2 errors, 1 warnings" "check.c: load errors"
    expect_out "  error: broken.yaml:5:19: profile 'crawler': role 'raeder' is not defined (did you mean 'reader'?)" "check.c: positioned message"
    [ "$(tail -n 1 "$OUT")" = done ] && pass || fail "check.c: last line is not 'done'"
    [ -z "$(ls -A "$TMP" | grep -v -e '^check$' -e '^bin$' -e '^\.')" ] && pass ||
        fail "check.c left files behind: $(ls "$TMP")"
else
    fail "examples/c/check.c does not compile: $(cat "$TMP/.cc")"
fi

# The complete example of c-api.md: the ```c block that starts with
# "/* example.c", and the ```text block after "It prints:".
"$PY" - "$DOCS/c-api.md" "$TMP/example.c" "$TMP/example.expected" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
code = re.search(r"```c\n(/\* example\.c.*?)```", text, re.S)
shown = re.search(r"It prints:\n\n```text\n(.*?)```", text, re.S)
if not code or not shown:
    sys.exit("c-api.md: complete example or its output not found")
open(sys.argv[2], "w").write(code.group(1))
open(sys.argv[3], "w").write(shown.group(1))
PY
if [ $? = 0 ] && cc_lib "$TMP/example" "$TMP/example.c"; then
    pass
    mkdir -p "$TMP/capi" && cp "$MINIMAL" "$TMP/capi/agent_auth.yaml"
    (cd "$TMP/capi" && "$TMP/example" >"$OUT" 2>"$ERR")
    RC=$?
    expect_rc 0 "c-api.md example runs"
    if diff -u "$TMP/example.expected" "$OUT" >"$TMP/.diff"; then pass; else
        fail "c-api.md example prints something else than the doc shows: $(cat "$TMP/.diff")"
    fi
    n=$(wc -l <"$TMP/capi/.agent_auth/audit.jsonl" 2>/dev/null || echo 0)
    [ "$n" = 3 ] && pass || fail "c-api.md example: expected 3 audit lines, found $n"
else
    fail "the complete example of docs/c-api.md does not compile: $(cat "$TMP/.cc" 2>/dev/null)"
fi

# ---- policy-tests.md: its example file passes as the doc shows -------------
mkdir -p "$TMP/pt/ci" "$TMP/pt/examples/policies"
cp "$ENTERPRISE" "$TMP/pt/examples/policies/enterprise.yaml"
"$PY" - "$DOCS/policy-tests.md" "$TMP/pt/ci/agents.test.yaml" "$TMP/pt/expected" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
yaml = re.search(r"```yaml\n(.*?)```", text, re.S)
console = re.search(r"```console\n(.*?)```", text, re.S)
if not yaml or not console:
    sys.exit("policy-tests.md: example or output not found")
open(sys.argv[2], "w").write(yaml.group(1))
open(sys.argv[3], "w").write(console.group(1))
PY
( cd "$TMP/pt" && grep '^\$ ' expected | sed 's/^\$ //' | while IFS= read -r c; do
    echo "\$ $c"; bash -c "$c" 2>&1; done >"$TMP/pt/real" )
if diff -u "$TMP/pt/expected" "$TMP/pt/real" >"$TMP/.diff"; then pass; else
    fail "policy-tests.md: the example's output differs from the doc: $(cat "$TMP/.diff")"
fi

# ---- man page -----------------------------------------------------------------
MAN=$DOCS/agent-auth.1
if command -v groff >/dev/null 2>&1; then
    groff -man -ww -z "$MAN" 2>"$TMP/.groff"
    [ $? = 0 ] && [ ! -s "$TMP/.groff" ] && pass || fail "man page has roff warnings: $(cat "$TMP/.groff")"
fi
if command -v man >/dev/null 2>&1; then
    MANWIDTH=80 man -l "$MAN" >"$OUT" 2>"$ERR"
    RC=$?
    expect_rc 0 "man -l docs/agent-auth.1"
    expect_out "AGENT-AUTH(1)" "man page header"
    expect_out "EXIT STATUS" "man page has an EXIT STATUS section"
fi
# Its text (without roff escapes), docs/cli.md and the bash completion name
# every command and every option the program lists.
sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\e/\\/g' "$MAN" >"$TMP/man.txt"
CLI_MD=$DOCS/cli.md
COMP=$SRC/scripts/agent-auth.bash-completion
for c in $COMMANDS; do
    opts_of "$c" | sed "s/^/$c /"
done >"$TMP/opts.txt"
# What the completion offers: one line per command offered for
# `agent-auth <TAB>`, and "COMMAND OPTION" lines for `agent-auth COMMAND -<TAB>`.
bash --norc --noprofile -c '
    . "$0" || exit 3
    offer() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _agent_auth; }
    offer agent-auth ""
    printf "%s\n" "${COMPREPLY[@]}"
    for c in "$@"; do
        offer agent-auth "$c" -
        printf "$c %s\n" "${COMPREPLY[@]}"
    done' "$COMP" $COMMANDS >"$TMP/offered.txt" 2>"$ERR"
RC=$?
expect_rc 0 "completion loads and completes in bash"
"$PY" - "$TMP/opts.txt" "$TMP/man.txt" "$CLI_MD" "$TMP/offered.txt" $COMMANDS >"$OUT" 2>&1 <<'PY'
import re, sys
pairs = [l.split() for l in open(sys.argv[1]) if l.strip()]
man = open(sys.argv[2], encoding="utf-8").read()
cli = open(sys.argv[3], encoding="utf-8").read()
offered = set(l.strip() for l in open(sys.argv[4]))
commands = sys.argv[5:]
bad = []
for c in commands:
    if not re.search(r"^\.SS " + re.escape(c) + r"\b", man, re.M):
        bad.append(f"man page: no section for '{c}'")
    if not re.search(r"^## " + re.escape(c) + "$", cli, re.M):
        bad.append(f"docs/cli.md: no section for '{c}'")
    if c not in offered:
        bad.append(f"completion: command '{c}' not offered")
for c, o in pairs:
    if not re.search(re.escape(o) + r"\b", man):
        bad.append(f"man page: '{c} {o}' not mentioned")
    if not re.search("`" + re.escape(o) + "[ `]", cli):
        bad.append(f"docs/cli.md: '{c} {o}' not mentioned")
    if f"{c} {o}" not in offered:
        bad.append(f"completion: '{c} {o}' not offered")
for o in ("--config", "--state", "--no-color", "--version"):
    if not re.search(re.escape(o) + r"\b", man):
        bad.append(f"man page: global option {o} not mentioned")
    if not re.search("`[^`]*" + re.escape(o), cli):
        bad.append(f"docs/cli.md: global option {o} not mentioned")
for b in bad:
    print(b)
print(f"{len(commands)} commands, {len(pairs)} options")
sys.exit(1 if bad or len(pairs) < 40 else 0)
PY
RC=$?
expect_rc 0 "man page, docs/cli.md and completion know every command and option ($(tail -n 1 "$OUT"))"
[ "$RC" = 0 ] || cat "$OUT" >&2

# ---- bash completion -------------------------------------------------------------
complete_words() { # complete_words WORD...: what completing the last word offers
    bash --norc --noprofile -c '
        . "$0" || exit 3
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
        _agent_auth
        printf "%s\n" "${COMPREPLY[@]}"' "$COMP" "$@"
}
bash --norc --noprofile -c '. "$0" && complete -p agent-auth' "$COMP" >"$OUT" 2>"$ERR"
RC=$?
expect_rc 0 "completion loads in bash"
expect_out "complete -F _agent_auth agent-auth" "completion is registered for agent-auth"
[ "$(complete_words agent-auth che)" = check ] && pass || fail "agent-auth che<TAB> does not complete to check"
[ "$(complete_words agent-auth -c x.yaml deleg | tr '\n' ' ')" = "delegate delegations " ] && pass ||
    fail "agent-auth -c x.yaml deleg<TAB>: $(complete_words agent-auth -c x.yaml deleg | tr '\n' ' ')"
[ "$(complete_words agent-auth check --ag)" = --agent ] && pass || fail "check --ag<TAB> does not complete to --agent"
[ "$(complete_words agent-auth check -o '' | tr '\n' ' ')" = "console json " ] && pass || fail "check -o <TAB> is not console/json"
[ "$(complete_words agent-auth audit --allowed '' | tr '\n' ' ')" = "true false " ] && pass || fail "audit --allowed <TAB>"
(cd "$SRC" && complete_words agent-auth test examples/policies/ent) | grep -qx examples/policies/enterprise.test.yaml &&
    pass || fail "test <TAB> does not complete YAML files"

# ---- JSON keys in docs/json.md ----------------------------------------------------
mkdir -p "$TMP/js" && cd "$TMP/js" || exit 1
cp "$ENTERPRISE" p.yaml
printf 'version: "2.0"\nprofiles:\n  bot: {deny_list: [x]}\n' >bad.yaml
cat >t.yaml <<'EOF'
policy: p.yaml
tests:
  - name: passes
    request: {agent: copilot, user: alice, action: "read:x"}
    expect: {allowed: true}
  - name: fails
    request: {agent: copilot, user: alice, action: "deploy:prod-db"}
    expect: {allowed: true}
  - name: broken
    request: {agent: copilot, user: alice, action: "read:x"}
    expect: {alowed: true}
EOF
{
    agent-auth -c p.yaml validate -o json
    agent-auth -c bad.yaml validate -o json
    agent-auth -c p.yaml inspect -o json
    agent-auth -c p.yaml check -a copilot -u alice --action read:x -o json
    agent-auth -c p.yaml explain -a copilot -u alice --action deploy:web -m env=prod -o json
    printf '%s\n' '{"id":1,"agent":"copilot","user":"alice","action":"read:x"}' 'nope' |
        agent-auth -c p.yaml check --batch
    agent-auth -c p.yaml sessions --create -a copilot -u alice -o json
    agent-auth -c p.yaml sessions --list -o json
    agent-auth -c p.yaml sessions --revoke nope -o json
    agent-auth -c p.yaml sessions --cleanup -o json
    agent-auth -c p.yaml delegate --from-user alice --to-agent copilot --actions 'deploy:x' --reason r -o json
    agent-auth -c p.yaml delegations --list -o json
    agent-auth -c p.yaml delegations --revoke nope -o json
    agent-auth -c p.yaml audit -o json
    agent-auth -c p.yaml audit --verify -o json
    sed '1s/"allowed":true/"allowed":false/' .agent_auth/audit.jsonl >tampered.jsonl
    agent-auth audit -f tampered.jsonl --verify -o json
    agent-auth test t.yaml -o json
    agent-auth version -o json
    agent-auth -c missing.yaml check -a copilot -u alice --action read:x -o json
    cat .agent_auth/audit.jsonl
} >all.json 2>/dev/null
cd "$TMP" || exit 1
"$PY" - "$TMP/js/all.json" "$DOCS/json.md" >"$OUT" 2>&1 <<'PY'
import json, re, sys
raw = open(sys.argv[1], encoding="utf-8").read()
doc = open(sys.argv[2], encoding="utf-8").read()
dec = json.JSONDecoder()
keys, i, n = set(), 0, 0
def walk(v, parent=""):
    if isinstance(v, dict):
        for k, x in v.items():
            # object keys that are data (variable names, metadata keys) are
            # not field names
            if parent not in ("variables", "metadata"):
                keys.add(k)
            walk(x, k)
    elif isinstance(v, list):
        for x in v:
            walk(x, parent)
while i < len(raw):
    if raw[i].isspace():
        i += 1
        continue
    v, i = dec.raw_decode(raw, i)
    n += 1
    walk(v)
# A key is documented as `key`, or inside a path such as `trace[].key`.
missing = sorted(k for k in keys if not re.search(r"[`.]" + re.escape(k) + "`", doc))
print(f"{n} JSON documents, {len(keys)} distinct keys")
for k in missing:
    print(f"docs/json.md does not document the key `{k}`")
sys.exit(1 if missing or n < 20 else 0)
PY
RC=$?
expect_rc 0 "docs/json.md documents every JSON key ($(head -n 1 "$OUT"))"
[ "$RC" = 0 ] || cat "$OUT" >&2

# ---- configuration.md: every key the loader knows --------------------------------
"$PY" - "$SRC/src/policy_load.c" "$DOCS/configuration.md" >"$OUT" 2>&1 <<'PY'
import re, sys
src = open(sys.argv[1], encoding="utf-8").read()
doc = open(sys.argv[2], encoding="utf-8").read()
keys = set()
for body in re.findall(r"static const char \*const \w+_keys\[\] = \{(.*?)\};", src, re.S):
    keys.update(re.findall(r'"([a-z_]+)"', body))
missing = sorted(k for k in keys if f"`{k}`" not in doc)
for k in missing:
    print(f"docs/configuration.md does not document the key `{k}`")
print(f"{len(keys)} schema keys")
sys.exit(1 if missing or len(keys) < 30 else 0)
PY
RC=$?
expect_rc 0 "docs/configuration.md documents every policy key ($(tail -n 1 "$OUT"))"
[ "$RC" = 0 ] || cat "$OUT" >&2

# ---- the committed graph matches inspect --graph --------------------------------
SVG=$DOCS/images/enterprise-policy.svg
"$AGENT_AUTH" -c "$ENTERPRISE" inspect --graph >"$TMP/graph.dot"
"$PY" - "$TMP/graph.dot" "$SVG" >"$OUT" 2>&1 <<'PY'
import html, re, sys
dot = open(sys.argv[1], encoding="utf-8").read()
svg = open(sys.argv[2], encoding="utf-8").read()
titles = [html.unescape(t) for t in re.findall(r"<title>(.*?)</title>", svg)]
nodes = set(re.findall(r'^\s*"((?:role|agent):[^"]*)" \[', dot, re.M))
edges = re.findall(r'^\s*"([^"]*)" -> "([^"]*)"', dot, re.M)
bad = [n for n in sorted(nodes) if n not in titles]
bad += [f"{a}->{b}" for a, b in edges if f"{a}->{b}" not in titles]
nsvg = svg.count('class="edge"')
if nsvg != len(edges):
    bad.append(f"{nsvg} edges in the SVG, {len(edges)} in the graph")
for b in bad:
    print("not in docs/images/enterprise-policy.svg:", b)
print(f"{len(nodes)} nodes, {len(edges)} edges")
sys.exit(1 if bad or not nodes else 0)
PY
RC=$?
expect_rc 0 "the SVG shows the current graph (run scripts/docs-graph.sh to redraw; $(tail -n 1 "$OUT"))"
[ "$RC" = 0 ] || cat "$OUT" >&2
sh -n "$SRC/scripts/docs-graph.sh" && [ -x "$SRC/scripts/docs-graph.sh" ] && pass ||
    fail "scripts/docs-graph.sh is not an executable, valid shell script"
grep -q "images/enterprise-policy.svg" "$CLI_MD" && pass || fail "docs/cli.md does not show the graph"

# ---- links between the docs -------------------------------------------------------
"$PY" - "$DOCS" "$SRC/README.md" >"$OUT" 2>&1 <<'PY'
import os, re, sys
docs = sys.argv[1]
def slug(h):
    h = re.sub(r"[`*]", "", h.strip().lower())
    h = re.sub(r"[^\w\- ]", "", h)
    return h.replace(" ", "-")
def anchors(path):
    out, fence = set(), False
    for line in open(path, encoding="utf-8"):
        if line.startswith("```"):
            fence = not fence
        elif not fence and line.startswith("#"):
            out.add(slug(line.lstrip("#")))
    return out
bad, count = [], 0
for name in sorted(os.listdir(docs)):
    if not name.endswith(".md"):
        continue
    path = os.path.join(docs, name)
    text = re.sub(r"```.*?```", "", open(path, encoding="utf-8").read(), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        count += 1
        file, _, frag = target.partition("#")
        dest = os.path.normpath(os.path.join(docs, file)) if file else path
        if not os.path.exists(dest):
            bad.append(f"{name}: link to missing file {target}")
        elif frag and dest.endswith(".md") and frag not in anchors(dest):
            bad.append(f"{name}: link to missing heading {target}")
for b in bad:
    print(b)
print(f"{count} links")
sys.exit(1 if bad or count < 20 else 0)
PY
RC=$?
expect_rc 0 "links between the docs resolve ($(tail -n 1 "$OUT"))"
[ "$RC" = 0 ] || cat "$OUT" >&2

finish
