#!/bin/bash
# Where agent-auth keeps its files, tried as an attacker sharing a working
# directory would: a `.agent_auth/` planted by another user, directories
# writable by others, symlinks in place of the log or the database, FIFOs
# and devices as paths. Each is refused with a clear error before any
# decision, nothing is written, and nothing hangs.
#
# The tests run as root: "another user" is nobody (chown), and ownership is
# checked against the effective user even for root.
. "$(dirname "$0")/lib.sh"

NOBODY=$(id -u nobody 2>/dev/null || echo 65534)
T=timeout
command -v timeout >/dev/null || T=

# policy FILE AUDIT_PATH STATE_PATH: the enterprise example with its audit
# and state paths replaced.
policy() {
    sed -e "s#path: .agent_auth/audit.jsonl#path: $2#" "$ENTERPRISE" >"$1"
    printf 'state:\n  path: %s\n' "$3" >>"$1"
}
# sum FILE...: a fingerprint of the files' bytes, modes and owners.
sum() { { cat "$@" 2>/dev/null; stat -c '%a %u %s' "$@" 2>/dev/null; } | sha256sum; }
# expect_not_hung DESCRIPTION: the last run was not stopped by timeout.
expect_not_hung() {
    if [ "$RC" = 124 ] || [ "$RC" = 137 ]; then fail "$1: hung (killed by timeout)"; else pass; fi
}
# refused_everywhere WHAT TEXT: check, a batch, sessions and delegate all
# exit 1 naming TEXT, and nothing is allowed.
refused_everywhere() {
    local what=$1 text=$2
    aa check -a research-bot -u alice --action deploy:staging -o json
    expect_rc 1 "$what: check refused"
    expect_err "Error:" "$what: check says Error"
    expect_err "$text" "$what: check says why"
    expect_no_out '"allowed": true' "$what: check allows nothing"
    printf '%s\n' '{"agent":"research-bot","user":"alice","action":"deploy:staging"}' >one.jsonl
    aa_in one.jsonl check --batch
    expect_rc 1 "$what: batch refused"
    expect_no_out '"allowed":true' "$what: batch allows nothing"
    aa sessions --list
    expect_rc 1 "$what: sessions --list refused"
    expect_err "$text" "$what: sessions --list says why"
    aa sessions --create -a research-bot -u mallory
    expect_rc 1 "$what: sessions --create refused"
    expect_no_out "Session created" "$what: no session announced"
    aa delegate --from-user alice --to-agent research-bot --actions deploy:web --reason x
    expect_rc 1 "$what: delegate refused"
    expect_no_out "Delegation created" "$what: no delegation announced"
}

# ---- (a) a planted .agent_auth/ -------------------------------------------
# Another user's directory in a shared working directory, holding a grant
# for the victim's agent and a log that is a symlink to the victim's file.
mkdir -p planted && cd planted || exit 1
cp "$ENTERPRISE" agent_auth.yaml
aa delegate --from-user alice --to-agent research-bot --actions deploy:staging --reason planted
expect_rc 0 "setup: the planted grant"
echo "victim's file" >"$TMP/victim"
rm -f .agent_auth/audit.jsonl
ln -s "$TMP/victim" .agent_auth/audit.jsonl
chown -R "$NOBODY" .agent_auth
before=$(sum .agent_auth/state.db "$TMP/victim")
refused_everywhere "planted directory" "belongs to another user"
[ "$(sum .agent_auth/state.db "$TMP/victim")" = "$before" ] && pass ||
    fail "planted directory: its files and the symlink's target are untouched"
[ "$(cat "$TMP/victim")" = "victim's file" ] && pass || fail "planted: the victim's file is unchanged"
# audit off: the planted grant still takes no effect.
sed 's/^  enabled: true/  enabled: false/' agent_auth.yaml >noaudit.yaml
grep -q 'enabled: false' noaudit.yaml || printf 'audit:\n  enabled: false\n' >>noaudit.yaml
aa -c noaudit.yaml check -a research-bot -u alice --action deploy:staging
expect_rc 1 "planted, audit off: check refused"
expect_err "belongs to another user" "planted, audit off: says why"
expect_no_out "Delegated" "planted, audit off: the planted grant is not used"
# Only the file planted, in a directory of our own: refused too.
rm -rf mine && mkdir -m 700 mine
cp .agent_auth/state.db mine/state.db && chown "$NOBODY" mine/state.db
aa --state mine/state.db check -a research-bot -u alice --action deploy:staging
expect_rc 1 "a database file of another user: refused"
expect_err "belongs to another user" "another user's database: says why"
cd "$TMP" || exit 1

# ---- (b) directories and files writable by others -------------------------
mkdir -p groupw && cd groupw || exit 1
cp "$ENTERPRISE" agent_auth.yaml
mkdir -m 770 .agent_auth && chmod 770 .agent_auth
refused_everywhere "group-writable .agent_auth" "writable by its group"
[ -z "$(ls -A .agent_auth)" ] && pass || fail "group-writable: nothing created in it"
chmod 700 .agent_auth
aa sessions --create -a research-bot -u alice
expect_rc 0 "once private again it works"
chmod 606 .agent_auth/state.db
aa check -a research-bot -u alice --action read:docs
expect_rc 1 "a database writable by others: refused"
expect_err "writable by others" "a world-writable database: says why"
chmod 600 .agent_auth/state.db
cd "$TMP" || exit 1

# A user's own .agent_auth inside a sticky world-writable directory (like
# /tmp) keeps working: the directories above it are not checked.
mkdir -m 1777 sticky && chmod 1777 sticky && cd sticky || exit 1
cp "$ENTERPRISE" agent_auth.yaml
aa sessions --create -a research-bot -u alice
expect_rc 0 "own .agent_auth in a sticky shared directory"
[ "$(stat -c %a .agent_auth)" = 700 ] && pass || fail "created .agent_auth is 0700 (got $(stat -c %a .agent_auth))"
aa check -a research-bot -u alice --action read:docs
expect_rc 0 "deciding there"
cd "$TMP" || exit 1

# ---- (c) symlinks ------------------------------------------------------------
mkdir -p links && cd links || exit 1
cp "$ENTERPRISE" agent_auth.yaml
aa sessions --create -a research-bot -u alice # a real store and log
expect_rc 0 "setup: links"
echo "other file" >"$TMP/other"
# The log a symlink to another file of ours.
mv .agent_auth/audit.jsonl .agent_auth/real.jsonl
ln -s "$TMP/other" .agent_auth/audit.jsonl
before=$(sum "$TMP/other")
refused_everywhere "audit.jsonl symlink" "symbolic link"
[ "$(sum "$TMP/other")" = "$before" ] && pass || fail "audit symlink: target untouched"
aa audit --verify
expect_rc 1 "verify refuses a symlinked log"
expect_err "symbolic link" "verify: says why"
ln -s "$TMP/other" rotlink.jsonl
aa audit --rotate -f rotlink.jsonl
expect_rc 1 "--rotate refuses a symlinked log"
expect_err "symbolic link" "--rotate: says why"
[ "$(sum "$TMP/other")" = "$before" ] && pass || fail "rotate: target untouched"
rm .agent_auth/audit.jsonl && mv .agent_auth/real.jsonl .agent_auth/audit.jsonl
# The database a symlink (to a store of our own, even).
cp .agent_auth/state.db "$TMP/other.db"
mv .agent_auth/state.db .agent_auth/real.db
ln -s "$TMP/other.db" .agent_auth/state.db
before=$(sum "$TMP/other.db")
aa check -a research-bot -u alice --action read:docs
expect_rc 1 "state.db symlink: refused"
expect_err "symbolic link" "state.db symlink: says why"
aa sessions --create -a research-bot -u alice
expect_rc 1 "state.db symlink: sessions --create refused"
[ "$(sum "$TMP/other.db")" = "$before" ] && pass || fail "state.db symlink: target untouched"
rm .agent_auth/state.db && mv .agent_auth/real.db .agent_auth/state.db
# SQLite's files beside it.
for side in -wal -shm -journal; do
    rm -f ".agent_auth/state.db$side"
    ln -s "$TMP/other" ".agent_auth/state.db$side"
    aa check -a research-bot -u alice --action read:docs
    expect_rc 1 "state.db$side symlink: refused"
    expect_err "state.db$side' is a symbolic link" "state.db$side symlink: names it"
    rm ".agent_auth/state.db$side"
done
[ "$(cat "$TMP/other")" = "other file" ] && pass || fail "side-file symlinks: target untouched"
aa check -a research-bot -u alice --action read:docs
expect_rc 0 "links removed: works again"
cd "$TMP" || exit 1

# ---- (d) FIFOs and devices ------------------------------------------------
mkdir -p special && chmod 700 special && cd special || exit 1
mkfifo fifo.jsonl
policy fifo.yaml fifo.jsonl st/fifo.db
RC=0
$T 20 "$AGENT_AUTH" -c fifo.yaml check -a research-bot -u alice --action read:docs >"$OUT" 2>"$ERR" || RC=$?
expect_not_hung "FIFO as audit.path"
expect_rc 1 "FIFO as audit.path: refused"
expect_err "is a FIFO, not a regular file" "FIFO as audit.path: says why"
for f in fifo.jsonl /dev/zero /dev/null; do
    RC=0
    $T 20 "$AGENT_AUTH" -c fifo.yaml audit --verify -f "$f" >"$OUT" 2>"$ERR" || RC=$?
    expect_not_hung "audit --verify on $f"
    expect_rc 1 "audit --verify on $f: error"
    expect_err "not a regular file" "audit --verify on $f: says why"
    RC=0
    $T 20 "$AGENT_AUTH" -c fifo.yaml audit -f "$f" >"$OUT" 2>"$ERR" || RC=$?
    expect_not_hung "audit on $f"
    expect_rc 1 "audit on $f: error"
    RC=0
    $T 20 "$AGENT_AUTH" -c fifo.yaml audit --rotate -f "$f" >"$OUT" 2>"$ERR" || RC=$?
    expect_not_hung "audit --rotate on $f"
    expect_rc 1 "audit --rotate on $f: error"
done
policy null.yaml /dev/null st/null.db
aa -c null.yaml check -a research-bot -u alice --action read:docs
expect_rc 1 "/dev/null as audit.path: refused"
expect_err "audit.enabled: false" "/dev/null as audit.path: says how to keep no log"
policy zero.yaml /dev/zero st/zero.db
RC=0
$T 20 "$AGENT_AUTH" -c zero.yaml check -a research-bot -u alice --action read:docs >"$OUT" 2>"$ERR" || RC=$?
expect_not_hung "/dev/zero as audit.path"
expect_rc 1 "/dev/zero as audit.path: refused"
expect_err "character device" "/dev/zero as audit.path: says why"
# The state database: a FIFO or a device is refused too, without hanging.
mkfifo st.fifo
for f in st.fifo /dev/null /dev/zero; do
    RC=0
    $T 20 "$AGENT_AUTH" -c "$ENTERPRISE" --state "$f" sessions --create -a research-bot -u alice >"$OUT" 2>"$ERR" || RC=$?
    expect_not_hung "--state $f"
    expect_rc 1 "--state $f: refused"
    expect_err "not a regular file" "--state $f: says why"
done
cd "$TMP" || exit 1

finish
