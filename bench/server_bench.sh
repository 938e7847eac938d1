#!/bin/sh
# server_bench.sh - throughput of `agent-auth serve` with wrk (keep-alive),
# as ratios to a zero-work libmicrohttpd server with the same threads
# (bench/zero_server.c), measured in the same run on the same machine.
#
# Usage: bench/server_bench.sh [BUILD_DIR] [SECONDS]
#   BUILD_DIR  an optimised build (default build-bench); SECONDS per run (5)
# Rows: the zero-work server; POST /v1/authorize with one small request,
# audit off, audit on (fsync never) and audit on with fsync always; a body
# of 100 requests (decisions/s), audit off and on. With audit on, the
# requests of concurrent connections share audit writes (group commit) and
# the elements of an array are written 64 at a time.
set -u
build=$(cd "${1:-build-bench}" 2>/dev/null && pwd) || {
    echo "server_bench.sh: no build directory '${1:-build-bench}'" >&2
    exit 1
}
secs=${2:-5}
threads=$(nproc 2>/dev/null || echo 2)
conns=32
command -v wrk >/dev/null || {
    echo "server_bench.sh: wrk is not installed (scripts/deps.sh --dev installs it); skipped" >&2
    exit 0
}
cli=$build/agent-auth
zero=$build/bench/zero_server
for f in "$cli" "$zero"; do
    [ -x "$f" ] || {
        echo "server_bench.sh: $f is missing (run make bench)" >&2
        exit 1
    }
done

work=$(mktemp -d)
pids=""
trap 'for p in $pids; do kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
cd "$work" || exit 1

cat >off.yaml <<'YAML'
version: "1.0"
roles:
  viewer: {actions: [read]}
  editor: {extends: viewer, actions: [write]}
profiles:
  assistant: {role: editor}
approval_policies:
  - {name: destructive, condition: 'action == "delete"', tier: strong}
audit: {enabled: false}
YAML
sed 's/audit: {enabled: false}/audit: {enabled: true, path: audit.jsonl, fsync: never}/' off.yaml >on.yaml
sed 's/audit: {enabled: false}/audit: {enabled: true, path: audit.jsonl, fsync: always}/' off.yaml >always.yaml

one='{"agent":"assistant","user":"bob","action":"write"}'
"${PY:-python3}" -c '
import json, sys
r = [{"agent": "assistant", "user": "bob", "action": ["read", "write", "delete", "drop"][i % 4]} for i in range(100)]
print(json.dumps(r))' >hundred.json
lua() { # FILE BODYFILE
    {
        echo 'wrk.method = "POST"'
        echo 'wrk.headers["Content-Type"] = "application/json"'
        printf 'wrk.body = [==[%s]==]\n' "$(cat "$2")"
    } >"$1"
}
printf '%s' "$one" >one.json
lua one.lua one.json
lua hundred.lua hundred.json

# start NAME COMMAND...: runs it, waits for "listening on", sets URL and PID.
start() {
    name=$1
    shift
    "$@" >"$name.out" 2>"$name.err" &
    PID=$!
    pids="$pids $PID"
    i=0
    while ! grep -q '^listening on ' "$name.out" 2>/dev/null && [ $i -lt 400 ]; do
        sleep 0.025
        i=$((i + 1))
    done
    URL=$(sed -n 's/^listening on //p' "$name.out")
    [ -n "$URL" ] || {
        echo "server_bench.sh: $name did not start" >&2
        cat "$name.err" >&2
        exit 1
    }
}
# measure SCRIPT PATH [CONNS]: prints "REQS_PER_S P50 P99 CPU_US_PER_REQ
# NON2XX" for $PID.
measure() {
    c=${3:-$conns}
    wrk -t1 -c4 -d1s -s "$1" "$URL$2" >/dev/null 2>&1 # warm up
    t0=$(awk '{print $14 + $15}' "/proc/$PID/stat")
    wrk -t1 -c"$c" -d"${secs}s" --latency -s "$1" "$URL$2" >wrk.out 2>&1
    t1=$(awk '{print $14 + $15}' "/proc/$PID/stat")
    hz=$(getconf CLK_TCK)
    awk -v t="$((t1 - t0))" -v hz="$hz" '
        /Requests\/sec/ { rps = $2 }
        /^ +50%/ { p50 = $2 }
        /^ +99%/ { p99 = $2 }
        /requests in/ { n = $1 }
        /Non-2xx/ { bad = $NF }
        END { printf "%.0f %s %s %.1f %d\n", rps, p50, p99, n ? t / hz * 1e6 / n : 0, bad }' wrk.out
}
stop() {
    kill -TERM "$PID"
    wait "$PID" 2>/dev/null
}

start zero "$zero" "$threads"
set -- $(measure one.lua /v1/authorize)
zero_rps=$1 zero_p50=$2 zero_p99=$3 zero_cpu=$4
stop

start off "$cli" -c off.yaml serve --listen 127.0.0.1:0 --threads "$threads"
set -- $(measure one.lua /v1/authorize)
off_rps=$1 off_p50=$2 off_p99=$3 off_cpu=$4 off_bad=$5
# Latency under lighter load: 2 connections (a closed loop, so the load is
# what 2 clients waiting for each answer make; its share of peak is shown).
set -- $(measure one.lua /v1/authorize 2)
lo_rps=$1 lo_p50=$2 lo_p99=$3 lo_cpu=$4
set -- $(measure hundred.lua /v1/authorize)
arr_rps=$1 arr_p50=$2 arr_p99=$3 arr_cpu=$4 arr_bad=$5
stop

start on "$cli" -c on.yaml serve --listen 127.0.0.1:0 --threads "$threads"
set -- $(measure one.lua /v1/authorize)
on_rps=$1 on_p50=$2 on_p99=$3 on_cpu=$4 on_bad=$5
set -- $(measure hundred.lua /v1/authorize)
arron_rps=$1 arron_p50=$2 arron_p99=$3 arron_cpu=$4 arron_bad=$5
stop
rm -f audit.jsonl

start always "$cli" -c always.yaml serve --listen 127.0.0.1:0 --threads "$threads"
set -- $(measure one.lua /v1/authorize)
al_rps=$1 al_p50=$2 al_p99=$3 al_cpu=$4 al_bad=$5
stop

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }
echo
echo "agent-auth serve: wrk keep-alive, 1 wrk thread, $conns connections, ${secs}s per row,"
echo "server threads $threads, on $(nproc) CPUs shared with wrk"
printf '%-40s %12s %8s %8s %8s %10s\n' "row" "req/s" "ratio" "p50" "p99" "cpu us/req"
printf '%-40s %12s %8s %8s %8s %10s\n' "zero-work server (ceiling)" "$zero_rps" "1.00" "$zero_p50" "$zero_p99" "$zero_cpu"
printf '%-40s %12s %8s %8s %8s %10s\n' "authorize, 1 request, audit off" "$off_rps" "$(ratio "$off_rps" "$zero_rps")" "$off_p50" "$off_p99" "$off_cpu"
printf '%-40s %12s %8s %8s %8s %10s\n' "authorize, audit off, 2 connections" "$lo_rps" "$(ratio "$lo_rps" "$zero_rps")" "$lo_p50" "$lo_p99" "$lo_cpu"
printf '%-40s %12s %8s %8s %8s %10s\n' "authorize, 1 request, audit on" "$on_rps" "$(ratio "$on_rps" "$zero_rps")" "$on_p50" "$on_p99" "$on_cpu"
printf '%-40s %12s %8s %8s %8s %10s\n' "authorize, audit on, fsync always" "$al_rps" "$(ratio "$al_rps" "$zero_rps")" "$al_p50" "$al_p99" "$al_cpu"
arr_dps=$(awk -v r="$arr_rps" 'BEGIN { printf "%.0f", r * 100 }')
printf '%-40s %12s %8s %8s %8s %10s\n' "authorize, array of 100 (decisions/s)" "$arr_dps" "$(ratio "$arr_dps" "$zero_rps")" "$arr_p50" "$arr_p99" "$arr_cpu"
arron_dps=$(awk -v r="$arron_rps" 'BEGIN { printf "%.0f", r * 100 }')
printf '%-40s %12s %8s %8s %8s %10s\n' "array of 100, audit on (decisions/s)" "$arron_dps" "$(ratio "$arron_dps" "$zero_rps")" "$arron_p50" "$arron_p99" "$arron_cpu"
echo "2 connections / peak (audit off): $(ratio "$lo_rps" "$off_rps")"
on_off=$(ratio "$on_rps" "$off_rps")
echo "audit on / audit off: $on_off (>= 0.5: $(awk -v r="$on_off" 'BEGIN { print (r >= 0.5 ? "met" : "MISSED") }')); fsync always / audit off: $(ratio "$al_rps" "$off_rps")"
echo "array decisions/s over single requests/s: $(ratio "$arr_dps" "$off_rps") audit off, $(ratio "$arron_dps" "$on_rps") audit on; array audit on / off: $(ratio "$arron_dps" "$arr_dps")"
echo "(cpu us/req: the server process's CPU time per HTTP request; non-2xx answers: ${off_bad:-0} ${on_bad:-0} ${al_bad:-0} ${arr_bad:-0} ${arron_bad:-0})"
