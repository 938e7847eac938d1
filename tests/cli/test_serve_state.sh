#!/usr/bin/env bash
# `agent-auth serve`: sessions and delegations over the same store as the CLI
# (made by one, seen and revoked by the other), the audit log and the policy.
. "$(dirname "$0")/lib.sh"
. "$AA_SOURCE_DIR/tests/cli/serve_lib.sh"

cp "$ENTERPRISE" p.yaml
start_server s -c p.yaml serve --listen 127.0.0.1:0 || { finish; exit; }

# ---- sessions --------------------------------------------------------------------
post /v1/sessions '{"agent":"copilot","user":"alice","scope":"project:x","duration":60}'
expect_code 201 "create a session"
expect_json 'd["agent"]=="copilot" and d["user"]=="alice" and d["scope"]=="project:x" and d["status"]=="active" and len(d["session_id"])==36' "the session's fields"
SRV_SESSION=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["session_id"])' "$OUT")
aa -c p.yaml sessions --list -o json
expect_json "any(s['session_id']=='$SRV_SESSION' for s in d)" "the CLI sees the server's session"

aa -c p.yaml sessions --create -a copilot -u bob -d 120 -o json
expect_rc 0 "the CLI creates a session"
CLI_SESSION=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["session_id"])' "$OUT")
req GET "/v1/sessions?agent=copilot&user=bob"
expect_code 200 "list sessions"
expect_json "[s['session_id'] for s in d]==['$CLI_SESSION']" "the server sees the CLI's session, filtered by agent and user"
post /v1/authorize "{\"agent\":\"copilot\",\"user\":\"bob\",\"action\":\"read:code\",\"session_id\":\"$CLI_SESSION\"}"
expect_json 'd["allowed"] is True' "a request in the CLI's session"
req DELETE "/v1/sessions/$CLI_SESSION"
expect_code 200 "revoke the CLI's session"
expect_json 'd=={"revoked":True}' "revoked: true"
req DELETE "/v1/sessions/$CLI_SESSION"
expect_code 404 "revoke it again"
expect_json '"not found or already inactive" in d["error"]' "the second revoke says why"
aa -c p.yaml sessions --list -o json
expect_json "all(s['session_id']!='$CLI_SESSION' for s in d)" "the CLI no longer lists it"
post /v1/authorize "{\"agent\":\"copilot\",\"user\":\"bob\",\"action\":\"read:code\",\"session_id\":\"$CLI_SESSION\"}"
expect_json 'd["allowed"] is False and "ession" in d["reason"]' "the revoked session is refused"
req DELETE /v1/sessions/00000000-0000-4000-8000-000000000000
expect_code 404 "revoke an unknown session"
req DELETE /v1/sessions/not-a-uuid
expect_code 404 "revoke a malformed id"

post /v1/sessions '{"agent":"copilot","user":"alice","scope":"other:x"}'
expect_code 422 "a scope the profile refuses"
expect_json 'isinstance(d["reasons"], list) and len(d["reasons"])>=1 and d["error"]' "422 has error and reasons"
post /v1/sessions '{"agent":"copilot","user":"alice","duration":"long"}'
expect_code 400 "a string duration"
expect_json '"duration" in d["error"]' "the duration is named"
post /v1/sessions '{"agent":"copilot","user":"alice","duration":0}'
expect_code 400 "a zero duration"
post /v1/sessions '{"agent":"copilot"}'
expect_code 400 "a session without user"
expect_json '"user" in d["error"]' "user is named"
post /v1/sessions '{"agent":"copilot","user":"a","colour":1}'
expect_code 400 "an unknown field"
post /v1/sessions '[1]'
expect_code 400 "an array"
req PUT /v1/sessions
expect_code 405 "PUT on sessions"

# ---- delegations -----------------------------------------------------------------
post /v1/delegations '{"from_user":"dave","to_agent":"research-bot","actions":["deploy:web"],"duration":600,"reason":"release"}'
expect_code 201 "create a delegation"
expect_json 'd["from_user"]=="dave" and d["to_agent"]=="research-bot" and d["actions"]==["deploy:web"] and d["reason"]=="release" and d["status"]=="active"' "the grant's fields"
GRANT=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["delegation_id"])' "$OUT")
aa -c p.yaml delegations --list -o json
expect_json "any(g['delegation_id']=='$GRANT' for g in d)" "the CLI sees the server's grant"
req GET "/v1/delegations?agent=research-bot"
expect_code 200 "list delegations"
expect_json "[g['delegation_id'] for g in d]==['$GRANT']" "the server lists it"
post /v1/delegations '{"from_user":"dave","to_agent":"research-bot","actions":["pay:x"],"duration":99999}'
expect_code 422 "a refused delegation"
expect_json 'len(d["reasons"])>=2' "every reason is listed"
post /v1/delegations '{"from_user":"dave","to_agent":"research-bot","actions":"deploy:web"}'
expect_code 400 "actions as a string"
expect_json '"actions" in d["error"]' "actions is named"
post /v1/delegations '{"from_user":"dave","to_agent":"research-bot","actions":["deploy:web",3]}'
expect_code 400 "a number among the actions"
req DELETE "/v1/delegations/$GRANT"
expect_code 200 "revoke the grant"
req DELETE "/v1/delegations/$GRANT"
expect_code 404 "revoke the grant again"
aa -c p.yaml delegations --list -o json
expect_json "all(g['delegation_id']!='$GRANT' for g in d)" "the CLI sees it revoked"

# ---- audit -----------------------------------------------------------------------
req GET "/v1/audit?agent=copilot&limit=2"
expect_code 200 "read the audit log"
expect_json 'len(d)==2 and all(e["agent"]=="copilot" for e in d)' "filtered by agent, limited"
req GET "/v1/audit?event=session.create"
expect_json 'len(d)>=2 and all(e["event"]=="session.create" for e in d)' "session creations are audited"
req GET "/v1/audit?allowed=false&limit=0"
expect_json 'len(d)>=1 and all(e["allowed"] is False for e in d)' "allowed=false"
req GET "/v1/audit?allowed=maybe"
expect_code 400 "allowed=maybe"
expect_json '"allowed" in d["error"]' "the query is named"
req GET "/v1/audit?since=yesterday"
expect_code 400 "a bad since"
req GET "/v1/audit?limit=-1"
expect_code 400 "a negative limit"
req GET "/v1/audit?since=2000-01-01"
expect_json 'len(d)>=5' "since an old date"

req GET /v1/audit/verify
expect_code 200 "verify"
lines=$(wc -l <.agent_auth/audit.jsonl)
expect_json "d['ok'] is True and d['lines']==$lines and d['problems']==[]" "the chain of CLI and server lines holds"

# ---- policy ----------------------------------------------------------------------
req GET /v1/policy
expect_code 200 "the policy"
sum=$(sha256sum p.yaml | cut -d' ' -f1)
expect_json "d['sha256']=='$sum' and d['metadata']['name']=='acme-enterprise' and len(d['roles'])>0" "the policy with its sha256"

stop_server
expect_rc 0 "SIGTERM"
aa -c p.yaml audit --verify
expect_rc 0 "the CLI verifies the log after the server stopped"

# A log edited behind the server's back is reported.
start_server s2 -c p.yaml serve --listen 127.0.0.1:0 || { finish; exit; }
sed -i '1s/"user":"[^"]*"/"user":"mallory"/' .agent_auth/audit.jsonl
grep -q mallory .agent_auth/audit.jsonl && pass || fail "the log was not edited"
req GET /v1/audit/verify
expect_code 200 "verify an edited log"
expect_json 'd["ok"] is False and len(d["problems"])>=1' "the edit is found"
stop_server
expect_rc 0 "SIGTERM"

finish
