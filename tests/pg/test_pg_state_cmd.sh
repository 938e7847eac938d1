#!/bin/bash
# `agent-auth state migrate` and `agent-auth state copy` with PostgreSQL:
#   - copy SQLite -> PostgreSQL -> SQLite keeps every row (active, expired,
#     revoked) with its times and status; a second copy changes nothing;
#   - migrate makes the tables once, so that a role with only USAGE and
#     SELECT/INSERT/UPDATE/DELETE (no CREATE) can use the store.
PG_LIB_NO_SERVER=1
. "$AA_SOURCE_DIR/tests/pg/pg_lib.sh"

cp "$ENTERPRISE" agent_auth.yaml
unset AGENT_AUTH_STATE_URL
export AGENT_AUTH_STATE_SCHEMA=cmd_$$
id_of() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$OUT" "$1"; }

# ---- a SQLite state with every kind of row ---------------------------------
aa --state src.db sessions --create -a research-bot -u alice -o json
aa --state src.db sessions --create -a research-bot -u bob -o json
S2=$(id_of session_id)
aa --state src.db sessions --revoke "$S2"
aa --state src.db sessions --create -a research-bot -u carol -d 1 -o json
aa --state src.db delegate --from-user alice --to-agent research-bot --actions deploy:a,run:b --reason "two patterns" -o json
aa --state src.db delegate --from-user bob --to-agent research-bot --actions deploy:x --reason gone -o json
D2=$(id_of delegation_id)
aa --state src.db delegations --revoke "$D2"
sleep 1.2 # carol's session expires
aa --state src.db check -a research-bot -u carol --action read:docs --session-id x >/dev/null
dump() {
    sqlite3 "$1" "SELECT session_id, agent, user, scope, created_at, expires_at, status FROM sessions ORDER BY session_id;
                  SELECT delegation_id, from_user, to_agent, hex(actions), granted_at, expires_at, reason, status FROM delegations ORDER BY delegation_id;"
}
[ "$(dump src.db | wc -l)" = 5 ] && pass || fail "setup: 5 rows in the SQLite state"

# ---- SQLite -> PostgreSQL -> SQLite ---------------------------------------
aa state copy --from src.db --to "$AA_PG_URL"
expect_rc 0 "copy SQLite -> PostgreSQL"
expect_out "Copied 3 sessions and 2 delegations" "copy SQLite -> PostgreSQL: counts"
[ "$(psql_q "SELECT count(*) FROM cmd_$$.sessions WHERE status = 'revoked'")" = 1 ] && pass ||
    fail "the revoked session is copied as revoked"
aa state copy --from src.db --to "$AA_PG_URL" -o json
expect_rc 0 "copy again"
expect_json 'd == {"sessions": 0, "delegations": 0, "skipped": 5}' "copy again: nothing new, 5 kept"
aa state copy --from "$AA_PG_URL" --to sqlite:back.db
expect_rc 0 "copy PostgreSQL -> SQLite"
if [ "$(dump src.db)" = "$(dump back.db)" ]; then pass; else
    fail "the round trip changed rows: $(diff <(dump src.db) <(dump back.db) | head -5)"
fi
aa state copy --from missing.db --to "$AA_PG_URL"
expect_rc 1 "copy from a missing file: an error"
expect_err "missing.db" "copy from a missing file: names it"
[ ! -e missing.db ] && pass || fail "copy from a missing file created it"
aa state copy --from src.db --to src.db
expect_rc 1 "copy onto itself: an error"
aa state copy --from src.db
expect_rc 2 "copy without --to: a usage error"
aa state frobnicate
expect_rc 2 "an unknown state command: a usage error"

# ---- migrate, then a role without CREATE ----------------------------------
export AGENT_AUTH_STATE_SCHEMA=mig_$$
RO_URL="postgresql:///aa_test?host=$AA_PG_DIR&user=aa_ro"
aa --state "$RO_URL" sessions --list
expect_rc 0 "a role without CREATE reads an empty database"
aa --state "$RO_URL" sessions --create -a research-bot -u alice
expect_rc 1 "a role without CREATE cannot make the tables"
expect_err "state migrate" "a role without CREATE: the error says what to run"
aa --state "$AA_PG_URL" state migrate
expect_rc 0 "migrate as the owner"
expect_out "created" "migrate: says the tables were made"
aa --state "$AA_PG_URL" state migrate
expect_out "up to date" "migrate again: up to date"
psql_q "GRANT USAGE ON SCHEMA mig_$$ TO aa_ro;
        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA mig_$$ TO aa_ro;" ||
    fail "setup: granting the least privileges"
aa --state "$RO_URL" sessions --create -a research-bot -u alice -o json
expect_rc 0 "with USAGE and SELECT/INSERT/UPDATE/DELETE a session is created"
SID=$(id_of session_id)
aa --state "$RO_URL" sessions --revoke "$SID"
expect_rc 0 "and revoked"
aa --state "$RO_URL" sessions --cleanup
expect_rc 0 "and cleaned up"

# ---- a schema of version 1 (before audit_anchors) is upgraded by migrate ------
psql_q "DROP TABLE mig_$$.audit_anchors; UPDATE mig_$$.meta SET value = '1' WHERE key = 'schema_version'" >/dev/null
aa --state "$AA_PG_URL" sessions --list
expect_rc 1 "version 1: refused"
expect_err "agent-auth state migrate" "version 1: the error says what to run"
aa --state "$AA_PG_URL" state migrate
expect_rc 0 "migrate a version 1 schema"
expect_out "upgraded from version 1 to 2" "migrate: says it upgraded"
[ "$(psql_q "SELECT value FROM mig_$$.meta WHERE key = 'schema_version'")" = 2 ] && pass ||
    fail "the schema is version 2"
aa --state "$AA_PG_URL" sessions --list
expect_rc 0 "version 2: sessions are read again"

psql_q "SET client_min_messages = warning; DROP SCHEMA cmd_$$ CASCADE; DROP SCHEMA mig_$$ CASCADE" >/dev/null
finish
