#!/bin/bash
# Audit anchoring with a PostgreSQL state (docs/state.md): decisions made by
# `agent-auth check` record the audit chain head in the database, and
# `audit --verify` then proves what the file alone cannot:
#   - an intact log passes and says what was anchored;
#   - the tail cut off (head/truncate) fails, naming the truncation;
#   - the head lines deleted fails;
#   - the database stopped: decisions still made and logged; when it is
#     back the anchor catches up and verify passes again;
#   - /readyz of `agent-auth serve` reports the unreachable database.
. "$AA_SOURCE_DIR/tests/pg/pg_lib.sh"

cp "$ENTERPRISE" agent_auth.yaml
export AGENT_AUTH_STATE_URL=$AA_PG_URL
export AGENT_AUTH_STATE_SCHEMA=anchor_$$
LOG=.agent_auth/audit.jsonl
decide() {
    local i
    for i in $(seq 1 "$1"); do
        "$AGENT_AUTH" check -a research-bot -u alice --action read:docs >/dev/null 2>>decide.err
    done
}

# ---- no record yet -----------------------------------------------------------
decide 1
aa audit --verify
expect_rc 0 "one decision: verify passes"
expect_out "Anchored in the database: 1 line," "the first decision is anchored"

# ---- several decisions: the head follows ---------------------------------------
decide 5
aa audit --verify
expect_rc 0 "intact log: verify passes"
expect_out "Anchored in the database: 6 lines, head $(tail -n 1 "$LOG" | sed 's/.*"hash":"\([0-9a-f]*\)".*/\1/')" \
    "verify names the recorded line count and head"
[ "$(psql_q "SELECT lines FROM anchor_$$.audit_anchors")" = 6 ] && pass ||
    fail "the database row holds 6 lines"
aa audit --verify -o json
expect_json 'd["valid"] and d["recorded"]["lines"] == 6' "JSON: the recorded head"

# ---- the tail cut off ----------------------------------------------------------
cp "$LOG" full.jsonl
head -n 4 full.jsonl >"$LOG"
aa audit --verify
expect_rc 1 "tail truncated: verify fails"
expect_err "truncated: the file has 4 lines, but the state store recorded 6" \
    "the error names the truncation"
cp full.jsonl "$LOG"

# ---- the head deleted ------------------------------------------------------------
tail -n +3 full.jsonl >"$LOG"
aa audit --verify
expect_rc 1 "head deleted: verify fails"
expect_err "head deleted or log replaced" "the database names the missing head"
# the rest of the log written on: still caught (such a file is never anchored)
decide 1
aa audit --verify
expect_rc 1 "head deleted, then written on: verify fails"
expect_err "head deleted or log replaced" "written on: the database still names the missing head"
# a log rewritten from scratch with a fresh chain (by a writer without the
# database): its file alone verifies, the database tells
rm "$LOG"
"$AGENT_AUTH" --state sqlite:other.db check -a research-bot -u alice --action read:docs >/dev/null
aa --state sqlite:other.db audit --verify
expect_rc 0 "setup: the fresh log verifies on its own"
aa audit --verify
expect_rc 1 "a log replaced by a fresh chain: verify fails"
expect_err "head deleted or log replaced" "a replaced log: named"
cp full.jsonl "$LOG"
aa audit --verify
expect_rc 0 "the whole log back: verify passes"

# ---- the database down: decisions are logged, the anchor catches up -------------
bash "$AA_PG_CLUSTER" stop "$AA_PG_DIR" || fail "setup: stopping the cluster"
decide 3
[ "$(wc -l <"$LOG")" = 9 ] && pass || fail "database down: the decisions are logged ($(wc -l <"$LOG") lines)"
aa audit --verify
expect_rc 1 "database down: verify cannot look the head up"
expect_err "State store unavailable" "verify says why"
bash "$AA_PG_CLUSTER" start "$AA_PG_DIR" || fail "setup: starting the cluster again"
aa audit --verify
expect_rc 0 "database back, before any decision: the log still passes"
expect_out "Anchored in the database: 6 lines" "the recorded head is the last one written"
decide 1
aa audit --verify
expect_rc 0 "database back: verify passes"
expect_out "Anchored in the database: 10 lines" "the anchor caught up"

# ---- a long-running writer anchors while running (the background push) ----------
coproc BATCH { exec "$AGENT_AUTH" check --batch 2>batch.err; }
ask() {
    ANSWER=
    printf '%s\n' '{"agent":"research-bot","user":"alice","action":"read:docs"}' >&"${BATCH[1]}"
    read -r -t 30 ANSWER <&"${BATCH[0]}" || ANSWER="(no answer)"
}
# wait_lines N: the recorded line count becomes N (within 5 s)
wait_lines() {
    local _
    for _ in $(seq 1 100); do
        [ "$(psql_q "SELECT lines FROM anchor_$$.audit_anchors" 2>/dev/null)" = "$1" ] && return 0
        sleep 0.05
    done
    return 1
}
ask
wait_lines 11 && pass || fail "a running writer records its head within the interval"
decide 2 # other processes append: the running writer counts what they added
ask
wait_lines 14 && pass || fail "a running writer counts lines other processes wrote"
[ "$(wc -l <"$LOG")" = 14 ] && pass || fail "the log has 14 lines"
# the database down while it writes: logged; recorded once the database is back
bash "$AA_PG_CLUSTER" stop "$AA_PG_DIR" || fail "setup: stopping the cluster"
ask
case $ANSWER in *'"allowed":true'*) pass ;; *) fail "database down: a decision needing no state is made (got $ANSWER)" ;; esac
ask
bash "$AA_PG_CLUSTER" start "$AA_PG_DIR" || fail "setup: starting the cluster again"
wait_lines 16 && pass || fail "database back: the running writer catches up without another decision"
aa audit --verify
expect_rc 0 "after the catch-up: verify passes"
expect_out "Anchored in the database: 16 lines" "after the catch-up: all lines anchored"
exec {BATCH[1]}>&-
wait "$BATCH_PID" 2>/dev/null

# ---- a head only moves forward ---------------------------------------------------
psql_q "UPDATE anchor_$$.audit_anchors SET lines = 100" >/dev/null
decide 1
[ "$(psql_q "SELECT lines FROM anchor_$$.audit_anchors")" = 100 ] && pass ||
    fail "a smaller line count never replaces a larger one"
aa audit --verify
expect_rc 1 "a log shorter than recorded fails"
psql_q "DELETE FROM anchor_$$.audit_anchors" >/dev/null

# ---- a log with no record ----------------------------------------------------------
aa audit --verify
expect_rc 0 "no record: not an error"
expect_out "Not anchored" "no record: said"
aa audit --verify --require-anchor
expect_rc 1 "no record with --require-anchor: an error"
expect_err "no head recorded" "--require-anchor: says why"

# ---- /readyz reports the database -------------------------------------------------
start_server srv serve --listen 127.0.0.1:0 || { finish; exit; }
req GET /readyz
expect_code 200 "readyz: ready with the database up"
bash "$AA_PG_CLUSTER" stop "$AA_PG_DIR"
req GET /readyz
expect_code 503 "readyz: not ready with the database down"
grep -q "State store unavailable" "$OUT" && pass || fail "readyz names the unreachable state store"
bash "$AA_PG_CLUSTER" start "$AA_PG_DIR"
wait_ready 100 && pass || fail "readyz: ready again once the database is back"
stop_server

psql_q "SET client_min_messages = warning; DROP SCHEMA anchor_$$ CASCADE" >/dev/null
finish
