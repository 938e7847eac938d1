#!/bin/bash
# `GET /v1/audit/verify` of `agent-auth serve` checks the audit chain head
# the PostgreSQL state recorded (audit anchoring, docs/state.md), as
# `agent-auth audit --verify` does:
#   - an intact log: ok, as many lines as decisions;
#   - the tail cut off: ok false, a problem naming the truncation in the
#     words the command uses;
#   - the head lines deleted: ok false, "head deleted or log replaced";
#   - the whole log deleted: ok false, "missing: the state store recorded";
#   - the database down: ok false, "State store unavailable";
#   - with a SQLite state (which records no heads) nothing changes: a cut
#     tail cannot be told, an edited line still can.
. "$AA_SOURCE_DIR/tests/pg/pg_lib.sh"

cp "$ENTERPRISE" agent_auth.yaml
export AGENT_AUTH_STATE_URL=$AA_PG_URL
export AGENT_AUTH_STATE_SCHEMA=srv_anchor_$$
LOG=.agent_auth/audit.jsonl
# decide N: N decisions through the server
decide() {
    local i
    for i in $(seq 1 "$1"); do
        post /v1/authorize '{"agent":"research-bot","user":"alice","action":"read:docs"}'
        [ "$CODE" = 200 ] || fail "setup: POST /v1/authorize answered HTTP $CODE"
    done
}
# wait_lines N: the head recorded in the database reaches line N (within 5 s)
wait_lines() {
    local _
    for _ in $(seq 1 100); do
        [ "$(psql_q "SELECT lines FROM srv_anchor_$$.audit_anchors" 2>/dev/null)" = "$1" ] && return 0
        sleep 0.05
    done
    return 1
}
# verify: GET /v1/audit/verify, answered 200
verify() {
    req GET /v1/audit/verify
    expect_code 200 "GET /v1/audit/verify answers 200"
}

start_server srv serve --listen 127.0.0.1:0 || { finish; exit; }
decide 6
wait_lines 6 && pass || fail "setup: the server records its head in the database"

# ---- intact ---------------------------------------------------------------------
verify
expect_json 'd["ok"] is True and d["lines"] == 6 and d["problems"] == []' \
    "intact log: ok, six lines, no problem"

# ---- the tail cut off -----------------------------------------------------------
cp "$LOG" full.jsonl
head -n 4 full.jsonl >"$LOG"
verify
expect_json 'd["ok"] is False' "tail truncated: not ok"
expect_json 'd["lines"] == 4' "tail truncated: the four lines left are counted"
expect_json 'any("truncated: the file has 4 lines, but the state store recorded 6" in p for p in d["problems"])' \
    "tail truncated: a problem names the truncation as the command does"
expect_json 'set(d) <= {"ok", "lines", "bad_line", "problems"}' \
    "tail truncated: the response keeps its shape"
# the command says the same of the same file
aa audit --verify
expect_rc 1 "tail truncated: the command fails too"
expect_err "truncated: the file has 4 lines, but the state store recorded 6" \
    "tail truncated: the command's words"
cp full.jsonl "$LOG"
verify
expect_json 'd["ok"] is True and d["lines"] == 6' "the whole log back: ok"

# ---- the head deleted -----------------------------------------------------------
tail -n +3 full.jsonl >"$LOG"
verify
expect_json 'd["ok"] is False' "head deleted: not ok"
expect_json 'any("head deleted or log replaced" in p for p in d["problems"])' \
    "head deleted: a problem names it"
cp full.jsonl "$LOG"

# ---- the whole log deleted: the recorded head tells it from a log not yet
# written -------------------------------------------------------------------------
rm -f "$LOG"
verify
expect_json 'd["ok"] is False' "log deleted: not ok"
expect_json 'any("missing: the state store recorded 6 lines" in p for p in d["problems"])' \
    "log deleted: a problem names the missing log and the recorded head"
aa audit --verify
expect_rc 1 "log deleted: the command fails too"
expect_err "missing: the state store recorded 6 lines" "log deleted: the command's words"
cp full.jsonl "$LOG"

# ---- an edited line: still the chain's own finding --------------------------------
sed -i '3s/"alice"/"mallory"/' "$LOG"
verify
expect_json 'd["ok"] is False and d["bad_line"] == 3' "an edited line: not ok, its line named"
cp full.jsonl "$LOG"

# ---- the database down: not ok, saying why (the head could not be checked) ----------
bash "$AA_PG_CLUSTER" stop "$AA_PG_DIR" || fail "setup: stopping the cluster"
verify
expect_json 'd["ok"] is False and any("State store unavailable" in p for p in d["problems"])' \
    "database down: not ok, the problem names the unreachable store"
bash "$AA_PG_CLUSTER" start "$AA_PG_DIR" || fail "setup: starting the cluster again"
ok=
for _ in $(seq 1 100); do
    req GET /v1/audit/verify
    grep -q '"ok":true' "$OUT" && { ok=1; break; }
    sleep 0.05
done
[ -n "$ok" ] && pass || fail "database back: ok again"
stop_server

# ---- a SQLite state records no heads: nothing changes -----------------------------
rm -rf .agent_auth
start_server lite --state sqlite:local.db serve --listen 127.0.0.1:0 || { finish; exit; }
decide 6
verify
expect_json 'd["ok"] is True and d["lines"] == 6 and d["problems"] == []' \
    "SQLite state, intact log: ok"
cp "$LOG" full.jsonl
head -n 4 full.jsonl >"$LOG"
verify
expect_json 'd["ok"] is True and d["lines"] == 4 and d["problems"] == []' \
    "SQLite state, tail cut: the file alone cannot tell (ok, four lines)"
sed -i '3s/"alice"/"mallory"/' "$LOG"
verify
expect_json 'd["ok"] is False and d["bad_line"] == 3' "SQLite state, an edited line: not ok"
rm -f "$LOG"
verify
expect_json 'd["ok"] is True and d["lines"] == 0' "SQLite state, no log yet: ok, no lines"
stop_server

psql_q "SET client_min_messages = warning; DROP SCHEMA srv_anchor_$$ CASCADE" >/dev/null
finish
