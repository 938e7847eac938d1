#!/usr/bin/env bash
# `agent-auth serve` when the audit log cannot be written: decisions fail
# closed, /readyz and the metrics say why, and service resumes without a
# restart once writing works again. The write failure is real: the server
# runs under a file size limit (ulimit -f), so appends past it fail (EFBIG).
. "$(dirname "$0")/lib.sh"
. "$AA_SOURCE_DIR/tests/cli/serve_lib.sh"

cp "$MINIMAL" p.yaml
cat >limited.sh <<EOF2
#!/bin/bash
ulimit -f 48
exec "$AGENT_AUTH" "\$@"
EOF2
chmod +x limited.sh
REAL=$AGENT_AUTH
AGENT_AUTH=$TMP/limited.sh start_server s -c p.yaml serve --listen 127.0.0.1:0 || { finish; exit; }
AGENT_AUTH=$REAL
W='{"agent":"assistant","user":"bob","action":"write"}'

post /v1/authorize "$W"
expect_json 'd["allowed"] is True' "allowed while the log is writable"
# 120 decisions write more than the 48 KiB the process may write to a file.
"$PY" -c 'import json; print(json.dumps([{"agent":"assistant","user":"bob","action":"write"}]*120))' >big.json
req POST /v1/authorize -H 'Content-Type: application/json' --data-binary @big.json
expect_code 200 "the big array is answered"
expect_json 'd[0]["allowed"] is True and d[-1]["allowed"] is False and d[-1]["reason"].startswith("Audit log unavailable")' "past the limit, decisions fail closed"
req GET /readyz
expect_code 503 "readyz while the audit log fails"
expect_json 'any("audit" in r for r in d["reasons"])' "readyz names the audit log"
req GET /metrics
grep -Eq '^agent_auth_audit_write_errors_total [1-9]' "$OUT" && pass || fail "metrics count audit write errors"
req GET /healthz
expect_code 200 "healthz is still fine (the process runs)"

# Room again (the log is emptied): service resumes without a restart.
: >.agent_auth/audit.jsonl
post /v1/authorize "$W"
expect_json 'd["allowed"] is True' "allowed again once the log is writable"
req GET /readyz
expect_code 200 "ready again"
grep -q '"action":"write"' .agent_auth/audit.jsonl && pass || fail "the new decision is in the log"

stop_server
expect_rc 0 "SIGTERM after audit failures"
finish
