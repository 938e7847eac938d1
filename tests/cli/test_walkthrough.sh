#!/bin/bash
# Runs docs/walkthrough.md as a test: every command in its ```console
# blocks, in order, checking exit status and output against the doc.
#
# Conventions of the doc (written down there too):
#   - a console block line starting with "$ " is a command, typed from the
#     root of the source tree; the lines after it, up to the next command
#     or the end of the block, are its output (stdout and stderr together);
#   - the last output line "(exit N)" gives the exit status; without it the
#     command must exit 0;
#   - an output line "..." stands for lines left out of the doc;
#   - a command whose output has "Session created: ID" sets $SESSION_ID for
#     the commands after it, "Delegation created: ID" sets $DELEGATION_ID
#     (the doc shows the reader the same assignment in a ```sh block, which
#     is not run).
# Every shown output line must appear, in order, in the real output, after
# both are normalised: UUIDs, ISO 8601 and table timestamps, relative times
# ("in 29m 59s"), evaluation times and hashes are replaced by placeholders,
# and runs of blanks are collapsed (so table column widths do not matter).
#
# The commands run in a temporary directory holding a copy of the example
# policies under examples/policies/, with `agent-auth` on PATH naming the
# binary under test.
. "$(dirname "$0")/lib.sh"

DOC=$AA_SOURCE_DIR/docs/walkthrough.md
mkdir -p "$TMP/examples/policies" "$TMP/bin"
cp "$EXAMPLES"/*.yaml "$TMP/examples/policies/"
ln -s "$AGENT_AUTH" "$TMP/bin/agent-auth"
export PATH="$TMP/bin:$PATH"
unset SESSION_ID DELEGATION_ID

"$PY" - "$DOC" >"$TMP/.walk" 2>&1 <<'PY'
import os, re, subprocess, sys

doc = sys.argv[1]
lines = open(doc, encoding="utf-8").read().split("\n")

# Collect (command, expected output lines, expected exit, doc line number).
steps = []
in_console = False
for no, line in enumerate(lines, 1):
    if line.startswith("```"):
        in_console = (not in_console) and line.strip() == "```console"
        continue
    if not in_console:
        continue
    if line.startswith("$ "):
        steps.append({"cmd": line[2:], "out": [], "exit": 0, "line": no})
    elif steps and steps[-1]["line"] < no:
        steps[-1]["out"].append(line)
    else:
        print(f"{doc}:{no}: output before any command in a console block")
        sys.exit(1)

for s in steps:
    out = s["out"]
    while out and out[-1] == "":
        out.pop()
    m = re.fullmatch(r"\(exit (\d+)\)", out[-1]) if out else None
    if m:
        s["exit"] = int(m.group(1))
        out.pop()

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
RULES = [
    (UUID, "<ID>"),
    (re.compile(r"\b[0-9a-f]{64}\b"), "<HASH>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"), "<TIME>"),
    (re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"), "<TIME>"),
    (re.compile(r"\bin \d+[smhd]( \d+[smhd])?"), "<WHEN>"),
    (re.compile(r"\b\d+[smhd]( \d+[smhd])? ago"), "<WHEN>"),
    (re.compile(r"\b\d+\.\d+ ms\b"), "<MS> ms"),
    (re.compile(r'"evaluation_time_ms": ?-?\d+(\.\d+)?'), '"evaluation_time_ms":<MS>'),
]

def norm(text):
    for rx, rep in RULES:
        text = rx.sub(rep, text)
    return " ".join(text.split())

env = dict(os.environ)
failures = 0
checked = 0
for s in steps:
    p = subprocess.run(["bash", "-c", s["cmd"]], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    real = p.stdout.decode("utf-8", "replace")
    for var, label in (("SESSION_ID", "Session created: "),
                       ("DELEGATION_ID", "Delegation created: ")):
        m = re.search("^" + label + "(" + UUID.pattern + ")$", real, re.M)
        if m:
            env[var] = m.group(1)
    where = f"walkthrough.md:{s['line']}: $ {s['cmd'][:100]}"
    problems = []
    if p.returncode != s["exit"]:
        problems.append(f"exit {p.returncode}, the doc shows {s['exit']}")
    have = [norm(l) for l in real.split("\n")]
    i = 0
    for want in s["out"]:
        if want.strip() == "...":
            continue
        w = norm(want)
        while i < len(have) and have[i] != w:
            i += 1
        if i == len(have):
            problems.append(f"output lacks (in this order): {want}")
            break
        i += 1
    checked += 1
    if problems:
        failures += 1
        print(f"FAIL {where}")
        for pr in problems:
            print(f"     {pr}")
        print("     real output:")
        for l in real.rstrip("\n").split("\n")[:40]:
            print(f"       | {l}")
    else:
        print(f"ok   {where}")

print(f"{checked} commands run, {failures} failed")
if checked < 30:
    print(f"only {checked} commands found in {doc}; expected the whole walkthrough")
    failures += 1
sys.exit(1 if failures else 0)
PY
rc=$?
cat "$TMP/.walk"
if [ "$rc" = 0 ]; then pass; else fail "docs/walkthrough.md does not match the real behaviour"; fi

# The files the walkthrough says it leaves behind.
[ -s "$TMP/audit-export.json" ] && pass || fail "walkthrough: audit-export.json was not written"
[ -f "$TMP/.agent_auth/state.db" ] && pass || fail "walkthrough: no state database in .agent_auth/"

finish
