#!/bin/bash
# When the state store is opened, and what a state change reports:
#   - a `check --batch` process started before the store existed sees the
#     sessions and delegations another process creates later;
#   - an explicit --state whose directory is missing is an error naming it;
#   - `delegate` and `sessions --create` exit 0 exactly when the grant
#     exists afterwards, also when their report cannot be written.
. "$(dirname "$0")/lib.sh"

cp "$ENTERPRISE" agent_auth.yaml
T=timeout
command -v timeout >/dev/null || T=

# ---- a long-lived process and a store created after it started ------------
mkdir late && cd late || exit 1
cp "$ENTERPRISE" agent_auth.yaml
coproc BATCH { exec $T 60 "$AGENT_AUTH" check --batch 2>batch.err; }
# ask LINE: sends one request line, reads the decision into ANSWER.
ask() {
    ANSWER=
    printf '%s\n' "$1" >&"${BATCH[1]}"
    read -r -t 20 ANSWER <&"${BATCH[0]}" || ANSWER="(no answer)"
}
ask '{"agent":"research-bot","user":"alice","action":"read:docs","session_id":"not-yet"}'
case $ANSWER in *'"allowed":false'*'Invalid or expired session'*) pass ;;
*) fail "before the store exists: an unknown session is denied (got $ANSWER)" ;; esac
[ ! -e .agent_auth/state.db ] && pass || fail "a lookup does not create the store"
"$AGENT_AUTH" sessions --create -a research-bot -u alice -o json >sess.json 2>&1 ||
    fail "setup: creating a session from another process"
SID=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["session_id"])' sess.json)
ask "{\"agent\":\"research-bot\",\"user\":\"alice\",\"action\":\"read:docs\",\"session_id\":\"$SID\"}"
case $ANSWER in *'"allowed":true'*) pass ;;
*) fail "a session created after the batch started is seen (got $ANSWER)" ;; esac
"$AGENT_AUTH" delegate --from-user alice --to-agent research-bot --actions deploy:staging \
    --reason late >/dev/null 2>&1 || fail "setup: delegating from another process"
ask '{"agent":"research-bot","user":"alice","action":"deploy:staging"}'
case $ANSWER in *'"allowed":true'*Delegated*) pass ;;
*) fail "a delegation made after the batch started is seen (got $ANSWER)" ;; esac
"$AGENT_AUTH" sessions --revoke "$SID" >/dev/null 2>&1 || fail "setup: revoking"
ask "{\"agent\":\"research-bot\",\"user\":\"alice\",\"action\":\"read:docs\",\"session_id\":\"$SID\"}"
case $ANSWER in *'"allowed":false'*) pass ;;
*) fail "its revocation is seen too (got $ANSWER)" ;; esac
exec {BATCH[1]}>&-
wait "$BATCH_PID" 2>/dev/null
cd "$TMP" || exit 1

# ---- an explicit --state whose directory does not exist -------------------
aa --state "$TMP/no/such/dir/state.db" check -a research-bot -u alice --action read:docs --session-id x
expect_rc 1 "--state in a missing directory: an error"
expect_err "$TMP/no/such/dir/state.db" "--state in a missing directory: names the path"
expect_err "does not exist" "--state in a missing directory: says why"
expect_no_out "DENIED" "--state in a missing directory: no decision"
printf '%s\n' '{"agent":"research-bot","user":"alice","action":"read:docs"}' >one.jsonl
aa_in one.jsonl --state "$TMP/no/such/dir/state.db" check --batch
expect_rc 1 "--state in a missing directory: batch is an error"
expect_err "$TMP/no/such/dir/state.db" "--state in a missing directory, batch: names the path"
touch plainfile
aa --state plainfile/sub/state.db sessions --create -a research-bot -u alice
expect_rc 1 "--state whose directory cannot be created: an error"
expect_err "plainfile/sub/state.db" "--state that cannot be created: names the path"
# A missing file in an existing directory is a store with nothing in it yet.
mkdir -m 700 empty
aa --state empty/state.db check -a research-bot -u alice --action read:docs
expect_rc 0 "--state: a missing file in an existing directory"

# ---- a report that cannot be written ----------------------------------------
# count_grants: live sessions + delegations in ./.agent_auth.
count_grants() {
    local s d
    s=$("$AGENT_AUTH" sessions --list -o json 2>/dev/null | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')
    d=$("$AGENT_AUTH" delegations --list -o json 2>/dev/null | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')
    echo "$s $d"
}
mkdir report && cd report || exit 1
cp "$ENTERPRISE" agent_auth.yaml
"$AGENT_AUTH" check -a research-bot -u alice --action read:docs >/dev/null # the store's directory
for how in closed full; do
    for fmt in text json; do
        o=()
        [ "$fmt" = json ] && o=(-o json)
        for cmd in delegate session; do
            if [ "$cmd" = delegate ]; then
                args=(delegate --from-user alice --to-agent research-bot --actions deploy:staging --reason r "${o[@]}")
            else
                args=(sessions --create -a research-bot -u alice "${o[@]}")
            fi
            before=$(count_grants)
            RC=0
            if [ "$how" = closed ]; then
                "$AGENT_AUTH" "${args[@]}" >&- 2>"$ERR" || RC=$?
            else
                "$AGENT_AUTH" "${args[@]}" >/dev/full 2>"$ERR" || RC=$?
            fi
            after=$(count_grants)
            what="$cmd -o $fmt, stdout $how"
            expect_rc 1 "$what: exit 1"
            [ "$after" = "$before" ] && pass || fail "$what: no grant remains ($before -> $after)"
            expect_err "Error:" "$what: says so"
            expect_err "revoked" "$what: says the grant was revoked"
            expect_no_crash "$what"
        done
    done
done
# And a write that works: exit 0 and the grant exists.
before=$(count_grants)
"$AGENT_AUTH" delegate --from-user alice --to-agent research-bot --actions deploy:staging --reason r >"$OUT" 2>"$ERR"
RC=$?
expect_rc 0 "delegate with a working stdout"
[ "$(count_grants)" != "$before" ] && pass || fail "the grant exists"
grep -q "closed\|full" "$TMP/report/.agent_auth/state.db" 2>/dev/null && fail "a report went into the database" || pass
"$AGENT_AUTH" audit --verify >/dev/null 2>&1 && pass || fail "the audit chain is intact after closed stdouts"
cd "$TMP" || exit 1

finish
