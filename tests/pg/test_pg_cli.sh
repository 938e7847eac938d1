#!/bin/bash
# The CLI, `check --batch` and `agent-auth serve` over one PostgreSQL state
# (tests/pg/cluster.sh starts the cluster; AA_PG_URL names it):
#   - sessions and delegations made by one process are used by another;
#     a revocation is obeyed by a long-running cached process;
#   - the database stopped mid-run: decisions that need state are denied
#     with "State store unavailable:", others still decided, changes fail
#     with a clear error; when it is back, everything resumes by itself;
#   - 8 concurrent writers lose nothing; kill -9 of a writer leaves no
#     half-made grant.
. "$AA_SOURCE_DIR/tests/pg/pg_lib.sh"

cp "$ENTERPRISE" agent_auth.yaml
export AGENT_AUTH_STATE_URL=$AA_PG_URL
export AGENT_AUTH_STATE_SCHEMA=cli_$$
T=timeout
command -v timeout >/dev/null || T=
json_field() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$OUT" "$1"; }

# ---- one-shot commands ---------------------------------------------------
aa sessions --list
expect_rc 0 "an empty database: listing works"
expect_out "No active sessions" "an empty database: nothing listed"
[ "$(psql_q "SELECT count(*) FROM pg_namespace WHERE nspname = 'cli_$$'")" = 0 ] && pass ||
    fail "a read-only command made the schema"
aa sessions --create -a research-bot -u alice -o json
expect_rc 0 "create a session in PostgreSQL"
SID=$(json_field session_id)
[ "$(psql_q "SELECT status FROM cli_$$.sessions WHERE session_id = '$SID'")" = active ] && pass ||
    fail "the session row is in the schema"
[ ! -e .agent_auth/state.db ] && pass || fail "no SQLite file is made"
aa delegate --from-user alice --to-agent research-bot --actions deploy:staging --reason e2e -o json
expect_rc 0 "create a delegation in PostgreSQL"
DID=$(json_field delegation_id)

# ---- a long-running cached process uses them; a revocation reaches it --------
coproc BATCH { exec $T 120 "$AGENT_AUTH" check --batch 2>batch.err; }
ask() {
    ANSWER=
    printf '%s\n' "$1" >&"${BATCH[1]}"
    read -r -t 30 ANSWER <&"${BATCH[0]}" || ANSWER="(no answer)"
}
SESS_REQ="{\"agent\":\"research-bot\",\"user\":\"alice\",\"action\":\"read:docs\",\"session_id\":\"$SID\"}"
DELEG_REQ='{"agent":"research-bot","user":"alice","action":"deploy:staging"}'
PLAIN_REQ='{"agent":"research-bot","user":"alice","action":"read:docs"}'
ask "$SESS_REQ"
case $ANSWER in *'"allowed":true'*) pass ;; *) fail "batch: the session is used (got $ANSWER)" ;; esac
ask "$DELEG_REQ"
case $ANSWER in *'"allowed":true'*Delegated*) pass ;; *) fail "batch: the delegation is used (got $ANSWER)" ;; esac
aa delegations --revoke "$DID"
expect_rc 0 "revoke the delegation from another process"
# within the notification delay (docs/state.md); 5 s bounds a loaded host
denied=
for _ in $(seq 1 100); do
    ask "$DELEG_REQ"
    case $ANSWER in *'"allowed":false'*) denied=1; break ;; esac
    sleep 0.05
done
[ -n "$denied" ] && pass || fail "batch: the revoked delegation is denied (last: $ANSWER)"

# ---- the database goes away mid-run ---------------------------------------
bash "$AA_PG_CLUSTER" stop "$AA_PG_DIR" || fail "setup: stopping the cluster"
ask "$SESS_REQ"
case $ANSWER in *'"allowed":false'*'State store unavailable:'*) pass ;;
*) fail "database down: a session request is denied as unavailable (got $ANSWER)" ;; esac
ask "$DELEG_REQ"
case $ANSWER in *'"allowed":false'*'State store unavailable:'*) pass ;;
*) fail "database down: a delegation lookup is denied as unavailable (got $ANSWER)" ;; esac
ask "$PLAIN_REQ"
case $ANSWER in *'"allowed":true'*) pass ;;
*) fail "database down: a request needing no state is still allowed (got $ANSWER)" ;; esac
aa sessions --create -a research-bot -u bob
expect_rc 1 "database down: creating a session fails"
expect_err "State store unavailable" "database down: the error says so"
aa check -a research-bot -u alice --action read:docs --session-id "$SID"
expect_rc 1 "database down: a one-shot check with a session is denied"
expect_out "State store unavailable" "database down: the one-shot reason says so"
aa check -a research-bot -u alice --action read:docs
expect_rc 0 "database down: a one-shot check needing no state is allowed"
bash "$AA_PG_CLUSTER" start "$AA_PG_DIR" || fail "setup: starting the cluster again"
ok=
for _ in $(seq 1 200); do
    ask "$SESS_REQ"
    case $ANSWER in *'"allowed":true'*) ok=1; break ;; esac
    sleep 0.05
done
[ -n "$ok" ] && pass || fail "database back: the batch resumes by itself (last: $ANSWER)"
aa sessions --revoke "$SID"
expect_rc 0 "database back: revoking works"
denied=
for _ in $(seq 1 100); do
    ask "$SESS_REQ"
    case $ANSWER in *'"allowed":false'*) denied=1; break ;; esac
    sleep 0.05
done
[ -n "$denied" ] && pass || fail "after the restart a revocation still reaches the cached process"
exec {BATCH[1]}>&-
wait "$BATCH_PID" 2>/dev/null

# ---- the server, cached ---------------------------------------------------
start_server srv serve --listen 127.0.0.1:0 || { finish; exit; }
aa delegate --from-user alice --to-agent research-bot --actions deploy:staging --reason srv -o json
DID=$(json_field delegation_id)
post /v1/authorize "$DELEG_REQ"
expect_json 'd["allowed"] is True' "serve: a delegation made by the CLI is used"
aa delegations --revoke "$DID"
denied=
for _ in $(seq 1 100); do
    post /v1/authorize "$DELEG_REQ"
    grep -q '"allowed": *false' "$OUT" && { denied=1; break; }
    sleep 0.05
done
[ -n "$denied" ] && pass || fail "serve: a revocation made by the CLI is obeyed"
bash "$AA_PG_CLUSTER" stop "$AA_PG_DIR"
post /v1/authorize "$DELEG_REQ"
expect_json 'd["allowed"] is False and d["reason"].startswith("State store unavailable:")' "serve, database down: fails closed"
post /v1/authorize "$PLAIN_REQ"
expect_json 'd["allowed"] is True' "serve, database down: a request needing no state is decided"
bash "$AA_PG_CLUSTER" start "$AA_PG_DIR"
aa delegate --from-user alice --to-agent research-bot --actions deploy:staging --reason back -o json
expect_rc 0 "database back: delegating works"
ok=
for _ in $(seq 1 200); do
    post /v1/authorize "$DELEG_REQ"
    grep -q '"allowed": *true' "$OUT" && { ok=1; break; }
    sleep 0.05
done
[ -n "$ok" ] && pass || fail "serve: resumes by itself after the restart"
stop_server
expect_rc 0 "serve with a PostgreSQL store: SIGTERM drains and exits 0"

# ---- the server started while the database is down -------------------------
# It serves (a fleet's servers may start before their database): /readyz
# says 503 naming the store, decisions that need state fail closed, others
# are decided; once the database is up, it is used without a restart.
bash "$AA_PG_CLUSTER" stop "$AA_PG_DIR"
start_server srvdown serve --listen 127.0.0.1:0 || {
    bash "$AA_PG_CLUSTER" start "$AA_PG_DIR"
    finish
    exit
}
grep -q 'State store unavailable' srvdown.err && pass || fail "serve, started with the database down: the log says the store is unavailable ($(cat srvdown.err))"
req GET /readyz
expect_code 503 "serve, started with the database down: not ready"
expect_json 'any("unavailable" in r for r in d["reasons"])' "serve, started with the database down: /readyz names the store"
post /v1/authorize "$DELEG_REQ"
expect_json 'd["allowed"] is False and d["reason"].startswith("State store unavailable:")' "serve, started with the database down: fails closed"
post /v1/authorize "$PLAIN_REQ"
expect_json 'd["allowed"] is True' "serve, started with the database down: a request needing no state is decided"
bash "$AA_PG_CLUSTER" start "$AA_PG_DIR"
wait_ready 400 && pass || fail "serve, database up after the start: ready by itself ($(cat "$OUT"))"
post /v1/authorize "$DELEG_REQ"
expect_json 'd["allowed"] is True' "serve, database up after the start: the delegation is used"
stop_server
expect_rc 0 "serve, started with the database down: exits 0 on SIGTERM"

# ---- 8 concurrent writers lose nothing -----------------------------------
for w in 1 2 3 4 5 6 7 8; do
    (for i in $(seq 1 15); do
        "$AGENT_AUTH" sessions --create -a research-bot -u "w$w" >/dev/null 2>>writers.err || echo fail >>writers.fail
    done) &
done
wait
[ ! -s writers.fail ] && pass || fail "concurrent writers: $(wc -l <writers.fail) creates failed: $(head -3 writers.err)"
[ "$(psql_q "SELECT count(*) FROM cli_$$.sessions WHERE \"user\" LIKE 'w%'")" = 120 ] && pass ||
    fail "concurrent writers: 120 sessions stored (got $(psql_q "SELECT count(*) FROM cli_$$.sessions WHERE \"user\" LIKE 'w%'"))"

# ---- kill -9 of a writer ---------------------------------------------------
(while :; do
    "$AGENT_AUTH" delegate --from-user k --to-agent research-bot \
        --actions deploy:a,run:b --reason kill >/dev/null 2>&1 &
    echo $! >writer.pid
    wait $!
done) 2>/dev/null &
LOOP=$!
sleep 1
for _ in 1 2 3 4 5 6 7 8 9 10; do
    kill -KILL "$(cat writer.pid)" 2>/dev/null # the writer of the moment
    sleep 0.05
done
kill -KILL "$LOOP" 2>/dev/null
wait "$LOOP" 2>/dev/null
n=$(psql_q "SELECT count(*) FROM cli_$$.delegations WHERE from_user = 'k'")
[ "${n:-0}" -gt 0 ] && pass || fail "kill -9: some delegations were made before the kills"
bad=$(psql_q "SELECT count(*) FROM cli_$$.delegations WHERE from_user = 'k' AND (actions <> '\\x6465706c6f793a610072756e3a6200'::bytea OR reason <> 'kill' OR status <> 'active')")
[ "$bad" = 0 ] && pass || fail "kill -9: $bad half-made grants"
aa delegations --list -o json
expect_rc 0 "kill -9: the store still lists"

psql_q "SET client_min_messages = warning; DROP SCHEMA cli_$$ CASCADE" >/dev/null
finish
