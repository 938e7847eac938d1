#!/bin/bash
# Where the state lives: a plain path or sqlite:PATH is a SQLite file; a
# postgresql:// or postgres:// URL is a PostgreSQL database (never a file
# name); any other scheme:// is an error. Passwords never appear in output.
# Precedence: --state > AGENT_AUTH_STATE_URL > state.url > state.path.
. "$(dirname "$0")/lib.sh"

cp "$ENTERPRISE" agent_auth.yaml
unset AGENT_AUTH_STATE_URL AGENT_AUTH_STATE_SCHEMA

# every file but the test's own and the audit log the decisions write
files_now() { find . -path ./.out -prune -o -path ./.err -prune -o -path ./.agent_auth -prune -o -print | sort; ls .agent_auth 2>/dev/null | grep -v '^audit' ; }

# ---- a PostgreSQL URL is never a file --------------------------------------
before=$(files_now)
for cmd in "sessions --create -a research-bot -u alice" \
           "sessions --list" \
           "check -a research-bot -u alice --action read:docs --session-id x" \
           "delegate --from-user alice --to-agent research-bot --actions deploy:staging --reason r"; do
    # shellcheck disable=SC2086
    aa --state 'postgresql://u:secret@127.0.0.1:1/db' $cmd
    if grep -q secret "$OUT" "$ERR"; then
        fail "'$cmd' with a postgresql URL: the password is printed"
    else pass; fi
    expect_no_crash "'$cmd' with an unreachable postgresql URL"
done
aa --state 'postgresql://u:secret@127.0.0.1:1/db' sessions --create -a research-bot -u alice
expect_rc 1 "an unreachable database: creating a session fails"
expect_err "State store unavailable" "an unreachable database: says so"
expect_err "u:***@127.0.0.1:1/db" "an unreachable database: names the URL without its password"
aa --state 'postgresql://u:secret@127.0.0.1:1/db' check -a research-bot -u alice --action read:docs --session-id x
expect_rc 1 "an unreachable database: a decision needing a session is denied"
expect_out "State store unavailable" "an unreachable database: the reason says so"
aa --state 'postgres://u:secret@127.0.0.1:1/db' check -a research-bot -u alice --action read:docs
expect_rc 0 "an unreachable database: a decision needing no state still works"
aa --state 'postgresql://127.0.0.1:1/db?password=secret&sslmode=disable' sessions --list
if grep -q secret "$OUT" "$ERR"; then fail "password= in the query is printed"; else pass; fi
expect_err "password=***" "password= in the query is shown redacted"
[ "$(files_now)" = "$before" ] && pass ||
    fail "a postgresql URL created files: $(comm -13 <(echo "$before") <(files_now) | tr '\n' ' ')"

# ---- other schemes and malformed URLs are errors ---------------------------
aa --state ftp://x sessions --list
expect_rc 1 "--state ftp://x: an error"
expect_err "unknown scheme 'ftp'" "--state ftp://x: names the scheme"
expect_err "postgresql://" "--state ftp://x: says what is accepted"
[ ! -e ftp: ] && pass || fail "--state ftp://x made a file"
aa --state 'postgresql://u:se cret@host/db' sessions --list
expect_rc 1 "a URL with a space: an error"
if grep -q cret "$ERR"; then fail "a malformed URL: the password is printed"; else pass; fi
aa --state 'postgresql://host:99999/db' sessions --list
expect_rc 1 "a port out of range: an error"
expect_err "port" "a port out of range: says so"
aa --state 'postgresql://host/db?sslmode' sessions --list
expect_rc 1 "a query without '=': an error"
expect_err "key=value" "a query without '=': says what is expected"
aa --state 'sqlite://x.db' sessions --list
expect_rc 1 "sqlite://: an error"
expect_err "sqlite:PATH" "sqlite://: says how to write it"

# ---- sqlite:PATH and plain paths ------------------------------------------
aa --state sqlite:here.db sessions --create -a research-bot -u alice -o json
expect_rc 0 "sqlite:PATH: a session is created"
[ -f here.db ] && pass || fail "sqlite:PATH: the file here.db exists"
[ ! -e sqlite:here.db ] && pass || fail "sqlite:PATH: no file named sqlite:here.db"
SID=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["session_id"])' "$OUT")
aa --state here.db check -a research-bot -u alice --action read:docs --session-id "$SID"
expect_rc 0 "the same file as a plain path: the session is there"

# ---- precedence: flag > environment > policy > default ---------------------
cat >p.yaml <<'YAML'
version: "1.0"
roles:
  reader: {permissions: ["read:*"]}
agents:
  bot: {roles: [reader]}
state:
  url: "sqlite:${STATE_FILE}"
YAML
STATE_FILE=from-policy.db aa -c p.yaml sessions --create -a bot -u u
expect_rc 0 "state.url with \${VAR}: a session is created"
[ -f from-policy.db ] && pass || fail "state.url with \${VAR}: the policy's file is used"
STATE_FILE=from-policy.db AGENT_AUTH_STATE_URL=sqlite:from-env.db aa -c p.yaml sessions --create -a bot -u u
[ -f from-env.db ] && pass || fail "AGENT_AUTH_STATE_URL wins over state.url"
STATE_FILE=from-policy.db AGENT_AUTH_STATE_URL=sqlite:from-env.db aa -c p.yaml --state from-flag.db sessions --create -a bot -u u
[ -f from-flag.db ] && pass || fail "--state wins over AGENT_AUTH_STATE_URL"
AGENT_AUTH_STATE_URL=ftp://nope aa -c "$TMP/agent_auth.yaml" sessions --list
expect_rc 1 "AGENT_AUTH_STATE_URL=ftp://: an error"
expect_err "unknown scheme" "AGENT_AUTH_STATE_URL=ftp://: says why"

# ---- inspect shows the URL without its password ---------------------------
cat >u.yaml <<'YAML'
version: "1.0"
state:
  url: "postgresql://svc:${DB_PW}@db.example/agents?sslmode=require"
  consistency: strict
YAML
DB_PW=hunter22 aa -c u.yaml inspect
expect_out "postgresql://svc:***@db.example/agents?sslmode=require (schema agent_auth, strict)" "inspect: the URL, redacted"
DB_PW=hunter22 aa -c u.yaml inspect -o json
expect_json 'd["state"]["url"] == "postgresql://svc:***@db.example/agents?sslmode=require" and d["state"]["consistency"] == "strict"' "inspect -o json: state.url redacted"
if grep -q hunter22 "$OUT" "$ERR"; then fail "inspect printed the password"; else pass; fi

# ---- a password under another spelling of its key is hidden too ----------
# libpq decodes a query key's percent-encoding (pass%77ord is password), and
# sslpassword is the client key's passphrase.
cat >u2.yaml <<'YAML'
version: "1.0"
state:
  url: "postgresql://svc@db.example/agents?pass%77ord=hunter33&sslpassword=keypass44&sslmode=require"
YAML
aa -c u2.yaml inspect
expect_out "postgresql://svc@db.example/agents?pass%77ord=***&sslpassword=***&sslmode=require" "inspect: an encoded password key, redacted"
if grep -q 'hunter33\|keypass44' "$OUT" "$ERR"; then fail "inspect printed an encoded password"; else pass; fi

# ---- the command line of a running process shows no password ------------
# ps and /proc/PID/cmdline are readable by every user: a URL given with
# --state (or --state=, --from, --to) has its password overwritten there.
# A server that accepts and never answers keeps the process waiting.
python3 - >port.txt <<'PY' &
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1]); sys.stdout.flush()
conns = []
end = time.time() + 20
while time.time() < end:
    s.settimeout(1)
    try:
        conns.append(s.accept()[0])
        with open("accepted.txt", "a") as f:
            f.write("x\n")
    except OSError:
        pass
PY
srv=$!
for _ in $(seq 50); do [ -s port.txt ] && break; sleep 0.1; done
port=$(cat port.txt)
# The command line of process $1 once it connected to the server (so
# that main() ran): waits for one more accepted connection than $2.
cmdline_when_connected() {
    for _ in $(seq 100); do
        [ "$(wc -l <accepted.txt 2>/dev/null || echo 0)" -gt "$2" ] && break
        sleep 0.1
    done
    tr '\0' ' ' </proc/"$1"/cmdline 2>/dev/null
}
touch accepted.txt
for form in "--state postgresql://svc:hunter66@127.0.0.1:$port/db?connect_timeout=10" \
            "--state=postgresql://svc:hunter66@127.0.0.1:$port/db?connect_timeout=10" \
            "--state postgresql://svc@127.0.0.1:$port/db?connect_timeout=10&password=hunter66"; do
    n=$(wc -l <accepted.txt)
    # shellcheck disable=SC2086
    "$AGENT_AUTH" $form state migrate >/dev/null 2>&1 &
    pid=$!
    seen=$(cmdline_when_connected $pid "$n")
    kill $pid 2>/dev/null; wait $pid 2>/dev/null
    if ! echo "$seen" | grep -q "127.0.0.1:$port"; then
        fail "cmdline of '$form' not read"
    elif echo "$seen" | grep -q hunter66; then
        fail "cmdline shows the password: $seen"
    else
        pass
    fi
done
n=$(wc -l <accepted.txt)
"$AGENT_AUTH" state copy --from "postgresql://svc:hunter66@127.0.0.1:$port/db?connect_timeout=10" --to x.db >/dev/null 2>&1 &
pid=$!
seen=$(cmdline_when_connected $pid "$n")
kill $pid 2>/dev/null; wait $pid 2>/dev/null
case "$seen" in
    *hunter66*) fail "state copy --from: cmdline shows the password: $seen" ;;
    *"127.0.0.1:$port"*) pass ;;
    *) fail "state copy --from: cmdline not read" ;;
esac
kill $srv 2>/dev/null; wait $srv 2>/dev/null

# ---- policy errors --------------------------------------------------------
cat >bad.yaml <<'YAML'
version: "1.0"
state:
  url: "ftp://u:secret@x/y"
  schema: "Bad-Name"
  consistency: sometimes
YAML
aa -c bad.yaml validate
expect_rc 1 "bad state keys: invalid"
expect_err "unknown scheme 'ftp'" "state.url ftp: says why"
expect_err "bad.yaml:3" "state.url ftp: names file and line"
expect_err "schema 'Bad-Name'" "state.schema: names the bad value"
expect_err "must be strict or cached" "state.consistency: says what it takes"
if grep -q secret "$ERR"; then fail "validate printed the password"; else pass; fi
cat >both.yaml <<'YAML'
version: "1.0"
state:
  url: "sqlite:a.db"
  path: "b.db"
YAML
aa -c both.yaml validate
expect_rc 1 "state.url and state.path: an error"
expect_err "not both" "state.url and state.path: says so"

finish
