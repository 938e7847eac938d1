#!/bin/bash
# `agent-auth diff OLD NEW`: semantic differences with examples and
# sources, text and JSON, --fail-on, replay of a request file and of an
# audit log written by `agent-auth check`, and exit 2 for usage errors and
# invalid policies.
. "$(dirname "$0")/lib.sh"

cp "$ENTERPRISE" old.yaml
sed 's/deny: \["deploy:prod-db", "delete:\*"\]/deny: ["delete:*"]/' old.yaml > wide.yaml
sed 's/deny: \["write:\*"\]/deny: ["write:*", "search:*"]/' old.yaml > narrow.yaml

# Identical: nothing, exit 0.
aa diff old.yaml old.yaml
expect_rc 0 "identical policies"
expect_out "No semantic difference." "identical says so"
expect_out "Summary: 0 widen, 0 change, 0 reason-only" "identical summary"

# A widening: exit 1 by default, with the example and the grant's source.
aa diff old.yaml wide.yaml
expect_rc 1 "a widening fails by default"
expect_out 'widen  copilot may now do `deploy:prod-db` (allowed by `deploy:*` in role engineer; OLD denied it by `deploy:prod-db` in profile copilot, wide.yaml:27:15)' "widen line"
expect_out "example: copilot deploy:prod-db: denied -> allowed (autonomous)" "widen example"
expect_out "Summary: 1 widen, 0 change, 0 reason-only" "widen summary"

aa diff old.yaml wide.yaml -o json
expect_rc 1 "json widen"
expect_json "d['summary'] == {'widen': 1, 'change': 0, 'reason': 0}" "json summary"
expect_json "d['differences'][0]['kind'] == 'allowed' and d['differences'][0]['class'] == 'widen' and d['differences'][0]['agent'] == 'copilot'" "json item"
expect_json "d['differences'][0]['example'] == {'action': 'deploy:prod-db', 'scope': None, 'target_agent': None, 'metadata': {}, 'old': {'allowed': False, 'tier': 'autonomous'}, 'new': {'allowed': True, 'tier': 'autonomous'}}" "json example"
expect_json "d['differences'][0]['source']['file'] == 'wide.yaml' and d['differences'][0]['source']['line'] == 27 and d['differences'][0]['source']['col'] > 0 and d['differences'][0]['patterns'] == ['deploy:*']" "json source"

# The other way round it is a narrowing: a change, exit 0 unless
# --fail-on change.
aa diff wide.yaml old.yaml
expect_rc 0 "a narrowing passes --fail-on widen"
expect_out 'change copilot may no longer do `deploy:prod-db` (denied by `deploy:prod-db` in profile copilot, old.yaml:38:12)' "narrow line"
aa diff old.yaml narrow.yaml --fail-on change
expect_rc 1 "--fail-on change fails on a narrowing"
expect_out 'change research-bot may no longer do `search:a`' "narrow example"
aa diff old.yaml narrow.yaml --fail-on widen
expect_rc 0 "--fail-on widen passes a narrowing"
aa diff old.yaml old.yaml --fail-on change
expect_rc 0 "--fail-on change passes identical"

# Tier, scope and A2A changes.
sed 's/    default_tier: soft/    default_tier: autonomous/' old.yaml > tier.yaml
aa diff old.yaml tier.yaml
expect_rc 1 "a lower default tier widens"
expect_out "widen  billing-agent's default tier is now autonomous (was soft)" "tier line"
expect_out "example: billing-agent pay:invoice: allowed (soft) -> allowed (autonomous)" "tier example"
sed 's/scopes: \["workspace:research"\]/scopes: ["workspace:*"]/' old.yaml > scope.yaml
aa diff old.yaml scope.yaml -o json
expect_rc 1 "a wider scope widens"
expect_json "d['differences'][0]['kind'] == 'scope' and d['differences'][0]['example']['scope'] == 'workspace:a'" "scope example"
sed 's/  default: deny/  default: allow/' old.yaml > a2a.yaml
aa diff old.yaml a2a.yaml
expect_rc 1 "a2a default allow widens"
expect_out "widen  copilot: calls no A2A policy matches are now allowed" "a2a line"
expect_out "example: copilot deploy:a -> other-agent: denied -> allowed (autonomous)" "a2a example"

# An approval policy removed: the example carries the metadata its
# condition asks for.
"$PY" - old.yaml noprod.yaml <<'PY'
import sys
s = open(sys.argv[1]).read()
start = s.index("  - name: production-deploy")
end = s.index("  - name: large-payment")
open(sys.argv[2], "w").write(s[:start] + s[end:])
PY
aa diff old.yaml noprod.yaml
expect_rc 1 "a removed approval policy widens"
expect_out 'widen  copilot: approval policy `production-deploy` (strong) removed (approval policy production-deploy, old.yaml:57:5)' "removed approval line"
expect_out "example: copilot deploy:a metadata env=prod: allowed (strong) -> allowed (autonomous)" "removed approval example"

# Replay of requests: each changed decision with its id (else its line).
cat > reqs.jsonl <<'EOT'
{"id": "r1", "agent": "copilot", "user": "alice", "action": "deploy:prod-db"}
{"agent": "copilot", "user": "alice", "action": "deploy:prod-db", "scope": "repo:x"}
{"id": 3, "agent": "copilot", "user": "alice", "action": "read:docs"}
{"agent": "copilot", "action": "read:docs"}
EOT
aa diff old.yaml wide.yaml --requests reqs.jsonl
expect_rc 1 "replay widens"
expect_out 'widen  id "r1": copilot deploy:prod-db: denied -> allowed (autonomous)' "replay by id"
expect_out 'widen  line 2: copilot deploy:prod-db scope repo:x: denied -> allowed (autonomous)' "replay by line"
expect_out "Replay: 3 requests, 2 widen, 0 change, 0 reason-only, 1 unchanged, 1 skipped" "replay summary"
expect_err "reqs.jsonl:4: request skipped: field 'user' is required" "invalid line named"
aa diff old.yaml wide.yaml --requests reqs.jsonl -o json
expect_json "d['replay']['total'] == 3 and d['replay']['invalid'] == 1 and d['replay']['summary']['widen'] == 2" "json replay summary"
expect_json "d['replay']['changed'][0]['id'] == 'r1' and d['replay']['changed'][1]['id'] is None and d['replay']['changed'][1]['line'] == 2" "json replay ids"
expect_json "d['replay']['changed'][0]['old']['allowed'] is False and d['replay']['changed'][0]['new']['allowed'] is True" "json replay answers"
# Unchanged policies: the replay finds nothing either.
aa diff old.yaml old.yaml --requests reqs.jsonl --fail-on change
expect_rc 0 "replay of identical policies"
expect_out "Replay: 3 requests, 0 widen, 0 change, 0 reason-only, 3 unchanged, 1 skipped" "identical replay"

# A request line over 16 MiB (the limit of `check --batch`) is skipped
# with a warning naming its line, without holding it whole; the lines after
# it are replayed.
"$PY" - long.jsonl <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write('{"id": "big", "agent": "copilot", "user": "alice", "action": "deploy:prod-db", "metadata": {"pad": "')
    f.write("x" * (17 << 20))
    f.write('"}}\n')
    f.write('{"id": "after", "agent": "copilot", "user": "alice", "action": "deploy:prod-db"}\n')
PY
aa diff old.yaml wide.yaml --requests long.jsonl
expect_rc 1 "replay after a long line widens"
expect_err "long.jsonl:1: request skipped: the line is longer than 16777216 bytes" "long line named"
expect_out 'widen  id "after": copilot deploy:prod-db: denied -> allowed (autonomous)' "line after the long one replayed"
expect_out "Replay: 1 requests, 1 widen, 0 change, 0 reason-only, 0 unchanged, 1 skipped" "long line counted as skipped"
rm -f long.jsonl

# Replay of an audit log written by `agent-auth check`.
aa -c old.yaml check --agent copilot --user alice --action deploy:prod-db
expect_rc 1 "check denies under OLD"
aa -c old.yaml check --agent copilot --user alice --action read:docs --metadata env=prod
expect_rc 0 "check allows under OLD"
aa diff old.yaml wide.yaml --audit .agent_auth/audit.jsonl -o json
expect_rc 1 "audit replay widens"
expect_json "d['replay']['format'] == 'audit' and d['replay']['total'] == 2 and d['replay']['summary']['widen'] == 1" "audit replay counts"
expect_json "len(d['replay']['changed'][0]['id']) == 36 and d['replay']['changed'][0]['action'] == 'deploy:prod-db'" "audit replay id is the event id"
aa diff old.yaml wide.yaml --audit .agent_auth/audit.jsonl
expect_out 'copilot deploy:prod-db: denied -> allowed (autonomous)' "audit replay text"
# A skipped audit entry is named by its line in the file, other events
# (a session created first) and all.
mkdir -p lines && (cd lines && cp ../old.yaml . &&
    "$AGENT_AUTH" -c old.yaml sessions --create -a copilot -u alice >/dev/null &&
    "$AGENT_AUTH" -c old.yaml check -a copilot -u alice --action read:x >/dev/null
    "$AGENT_AUTH" -c old.yaml check -a copilot -u alice --action deploy:prod-db >/dev/null)
"$PY" - <<'PYEOF'
import json
lines = open("lines/.agent_auth/audit.jsonl").read().splitlines()
events = [json.loads(l)["event"] for l in lines]
assert events == ["session.create", "authorize", "authorize"], events
d = json.loads(lines[2])
d["user"] = None  # no longer a valid request
lines[2] = json.dumps(d)
open("lines/audit.jsonl", "w").write("\n".join(lines) + "\n")
PYEOF
aa diff old.yaml wide.yaml --audit lines/audit.jsonl
expect_err "lines/audit.jsonl:3: request skipped: field 'user' is required" "audit replay warning names the file line"

# A question the coverage search cannot decide within its bounds (3,000
# scopes or required_for patterns of distinct characters) is a possible
# widening, never "no difference": NEW accepts scope t:x and no longer
# needs `ticket` for t:x, which OLD refused.
"$PY" - <<'PYEOF'
pats = ", ".join('"s:%s"' % chr(0x4e00 + i) for i in range(3000))
def policy(name, extra):
    with open(name, "w") as f:
        f.write('version: "1.0"\n'
                'request_metadata:\n'
                '  ticket: {type: string, required_for: [%s]}\n'
                'profiles:\n'
                '  bot:\n'
                '    allow: ["read"]\n'
                '    require_scope: true\n'
                '    scopes: [%s%s]\n' % (pats if extra else pats + ', "t:*"',
                                         pats, ', "t:*"' if extra else ''))
policy("undecided_old.yaml", False)
policy("undecided_new.yaml", True)
PYEOF
aa -c undecided_new.yaml check --no-audit -a bot -u u --action read --scope t:x
expect_rc 0 "NEW accepts scope t:x"
aa -c undecided_old.yaml check --no-audit -a bot -u u --action read --scope t:x
expect_rc 1 "OLD refuses scope t:x"
aa diff undecided_old.yaml undecided_new.yaml -o json
expect_rc 1 "undecided widenings fail --fail-on widen"
expect_json "any(i['kind'] == 'scope' and i['class'] == 'widen' and i['possible'] for i in d['differences'])" "undecided scope widening listed as possible"
expect_json "any(i['kind'] == 'metadata' and i['class'] == 'widen' and i['possible'] for i in d['differences'])" "undecided metadata widening listed as possible"

# Two policies of 20,000 wildcard patterns each: every allow pattern of NEW
# against OLD's 20,000 denies would take hours of coverage searches; the
# work is bounded, and what is left undecided is listed as possible. The
# 120 s limit is a hang guard, not a measurement.
"$PY" - <<'PYEOF'
n = 20000
with open("big_old.yaml", "w") as f:
    f.write('version: "1.0"\nprofiles:\n  bot:\n    allow: ["*"]\n'
            '    deny: [%s]\n' % ", ".join('"*a%05d*"' % i for i in range(n)))
with open("big_new.yaml", "w") as f:
    f.write('version: "1.0"\nprofiles:\n  bot:\n    allow: [%s]\n'
            '    deny: [%s]\n' % (", ".join('"*b%05d*"' % i for i in range(n)),
                                 ", ".join('"*a%05d*"' % i for i in range(1, n))))
PYEOF
RC=0
timeout 120 "$AGENT_AUTH" diff big_old.yaml big_new.yaml >"$OUT" 2>"$ERR" || RC=$?
if [ "$RC" = 124 ]; then
    fail "diff of 40,000 wildcard patterns did not finish in 120 s"
else
    expect_rc 1 "diff of 40,000 wildcard patterns: widens"
    expect_out "Summary: 20000 widen" "diff of 40,000 wildcard patterns: every allow listed"
fi

# Usage errors and invalid policies: exit 2.
aa diff old.yaml
expect_rc 2 "one policy"
aa diff old.yaml wide.yaml --fail-on sometimes
expect_rc 2 "bad --fail-on"
expect_err "--fail-on takes widen or change" "bad --fail-on message"
aa diff old.yaml wide.yaml --requests reqs.jsonl --audit x
expect_rc 2 "both replay sources"
aa diff old.yaml missing.yaml
expect_rc 2 "missing policy"
expect_err "missing.yaml" "missing policy named"
printf 'version: "1.0"\nprofiles:\n  a:\n    role: nope\n' > bad.yaml
aa diff old.yaml bad.yaml
expect_rc 2 "invalid policy"
expect_err "bad.yaml:4:11" "invalid policy position"
aa diff old.yaml wide.yaml --requests nothere.jsonl
expect_rc 2 "unreadable request file"
aa diff old.yaml bad.yaml -o json
expect_rc 2 "invalid policy json"
expect_json "'error' in d" "json error object"
aa diff --help
expect_rc 0 "help"
expect_out "--fail-on" "help lists --fail-on"

finish
