# serve_lib.sh - helpers for the `agent-auth serve` end-to-end tests
# (tests/cli/test_serve*.sh), sourced after lib.sh. The server runs for real
# on 127.0.0.1 with port 0 (or a Unix socket) and is driven with curl.

SRV_PID=
URL=
HDRS=$TMP/.headers
CODE=

# Whatever happens, no server outlives its test.
trap 'stop_all; rm -rf "$TMP"' EXIT
SRV_PIDS=""
stop_all() {
    for p in $SRV_PIDS; do kill -KILL "$p" 2>/dev/null; done
}

# start_server LOG ARGS...: starts `agent-auth ARGS...` in the background,
# waits (at most 10 s) for its "listening on" line; sets SRV_PID and URL
# (http://127.0.0.1:PORT or unix:PATH). LOG.out / LOG.err keep its output.
start_server() {
    local log=$1
    shift
    "$AGENT_AUTH" "$@" >"$log.out" 2>"$log.err" &
    SRV_PID=$!
    SRV_PIDS="$SRV_PIDS $SRV_PID"
    local i=0
    while [ $i -lt 400 ]; do
        grep -q '^listening on ' "$log.out" 2>/dev/null && break
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.025
        i=$((i + 1))
    done
    URL=$(sed -n 's/^listening on //p' "$log.out")
    if [ -z "$URL" ]; then
        fail "server did not start: $*"
        cat "$log.err" >&2
        return 1
    fi
}

# stop_server [PID]: SIGTERM, then waits; sets RC to its exit status.
stop_server() {
    local pid=${1:-$SRV_PID}
    kill -TERM "$pid" 2>/dev/null
    wait "$pid"
    RC=$?
}

# req METHOD PATH [CURL ARGS...]: one request to $URL; sets CODE, the body
# in $OUT, the headers in $HDRS.
req() {
    local m=$1 p=$2
    shift 2
    : >"$OUT"
    CODE=$(curl -s -m 10 -o "$OUT" -D "$HDRS" -w '%{http_code}' -X "$m" "$@" "$URL$p")
}

# post PATH JSON [CURL ARGS...]
post() {
    local p=$1 body=$2
    shift 2
    req POST "$p" -H 'Content-Type: application/json' --data-binary "$body" "$@"
}

expect_code() {
    if [ "$CODE" = "$1" ]; then pass; else fail "$2: HTTP $CODE, expected $1"; fi
}

# expect_header TEXT DESCRIPTION: a response header line contains TEXT
# (case-insensitive).
expect_header() {
    if tr -d '\r' <"$HDRS" | grep -qiF -- "$1"; then pass; else
        fail "$2: headers lack '$1': $(tr -d '\r' <"$HDRS" | tr '\n' '|')"
    fi
}
