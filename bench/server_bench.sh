#!/bin/sh
# server_bench.sh - `agent-auth serve` measured against, in the same run on
# the same machine: a zero-work libmicrohttpd server with the same threads
# (bench/zero_server.c: this machine's ceiling) and what users of the
# reference package deploy today, a FastAPI app with our Python package's
# fastapi_auth_middleware served by uvicorn with 2 workers
# (bench/fastapi_app.py). Each row is checked against the target of the
# server issue and marked met or missed.
#
# Usage: bench/server_bench.sh [BUILD_DIR] [SECONDS]
#   BUILD_DIR  an optimised build (default build-bench); SECONDS per run (5)
# Throughput: wrk, keep-alive, 1 wrk thread, 32 connections, the same small
# authorize request (body and identity headers) for every server. CPU time
# per request: utime + stime of the server's processes (uvicorn's workers
# included) from /proc before and after the run, over the requests
# answered. Latency at half of peak: bench/loadgen.c, an open-loop
# generator (fixed rate, latencies from each request's scheduled time, so
# a stall counts for every request behind it), at 50% of the audit-off
# throughput wrk measured.
#
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
src=$(cd "$(dirname "$0")/.." && pwd)
secs=${2:-5}
threads=$(nproc 2>/dev/null || echo 2)
conns=32
command -v wrk >/dev/null || {
    echo "server_bench.sh: wrk is not installed (scripts/deps.sh --dev installs it); skipped" >&2
    exit 0
}
cli=$build/agent-auth
zero=$build/bench/zero_server
loadgen=$build/bench/loadgen
for f in "$cli" "$zero" "$loadgen"; do
    [ -x "$f" ] || {
        echo "server_bench.sh: $f is missing (run make bench)" >&2
        exit 1
    }
done

# The Python package in a venv over Debian's python3 (as python/tests/run.sh
# and bench/run.sh build it), with Debian's FastAPI and uvicorn.
pyv=$build/python-venv
py_ok=""
py_why=""
if [ ! -x /usr/bin/python3 ]; then
    py_why="no /usr/bin/python3"
elif ! /usr/bin/python3 -c 'import fastapi, uvicorn' 2>/dev/null; then
    py_why="python3-fastapi or python3-uvicorn is not installed (scripts/deps.sh)"
else
    [ -x "$pyv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$pyv"
    if "$pyv/bin/python" -c 'import agent_auth.adapters.middleware' 2>/dev/null ||
        (cd "$src" && AA_PY_BUILD_BASE=$build/python-build "$pyv/bin/pip" install \
            -q --no-build-isolation --no-index --force-reinstall --no-deps . \
            >"$build/python-pip.log" 2>&1); then
        py_ok=1
    else
        py_why="the Python package did not build (see $build/python-pip.log)"
    fi
fi

work=$(mktemp -d)
pids=""
trap 'for p in $pids; do kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
cd "$work" || exit 1

cat >off.yaml <<'YAML'
version: "1.0"
roles:
  viewer: {actions: [read]}
  editor: {extends: viewer, actions: [write, "post:/v1/authorize"]}
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
# One request for every server: the body `agent-auth serve` decides, and
# the identity headers the FastAPI middleware decides (our server ignores
# them on /v1/authorize; the middleware decides post:/v1/authorize).
lua() { # FILE BODYFILE
    {
        echo 'wrk.method = "POST"'
        echo 'wrk.headers["Content-Type"] = "application/json"'
        echo 'wrk.headers["X-Agent-Name"] = "assistant"'
        echo 'wrk.headers["X-User-Name"] = "bob"'
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
# cpu_ticks PID: utime + stime of PID and of its child processes (uvicorn's
# workers), in clock ticks.
cpu_ticks() {
    t=0
    for p in $1 $(ps -o pid= --ppid "$1" 2>/dev/null); do
        v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) || v=0
        t=$((t + ${v:-0}))
    done
    echo "$t"
}
# measure SCRIPT PATH [CONNS]: prints "REQS_PER_S P50 P99 CPU_US_PER_REQ
# NON2XX" for $PID (and its children).
measure() {
    c=${3:-$conns}
    wrk -t1 -c4 -d1s -s "$1" "$URL$2" >/dev/null 2>&1 # warm up
    t0=$(cpu_ticks "$PID")
    wrk -t1 -c"$c" -d"${secs}s" --latency -s "$1" "$URL$2" >wrk.out 2>&1
    t1=$(cpu_ticks "$PID")
    hz=$(getconf CLK_TCK)
    awk -v t="$((t1 - t0))" -v hz="$hz" '
        /Requests\/sec/ { rps = $2 }
        /^ +50%/ { p50 = $2 }
        /^ +99%/ { p99 = $2 }
        /requests in/ { n = $1 }
        /Non-2xx/ { bad = $NF }
        END { printf "%.0f %s %s %.1f %d\n", rps, p50, p99, n ? t / hz * 1e6 / n : 0, bad }' wrk.out
}
# open_loop RATE: loadgen against $URL at RATE requests/s, 32 connections;
# prints "P50 P99 ERRORS" in ms.
open_loop() {
    hp=${URL#http://}
    "$loadgen" "${hp%:*}" "${hp##*:}" /v1/authorize one.json "$1" "$secs" "$conns" >lg.out 2>lg.err ||
        cat lg.err >&2
    sed -n 's/.* p50=\([0-9.]*\) .* p99=\([0-9.]*\) .* errors=\([0-9]*\) .*/\1 \2 \3/p' lg.out
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
half=$(awk -v r="$off_rps" 'BEGIN { printf "%.0f", r / 2 }')
set -- $(open_loop "$half")
half_p50=${1:-?} half_p99=${2:-?} half_bad=${3:-?}
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

fa_rps="" fa_p50="-" fa_p99="-" fa_cpu="" fa_bad=0
if [ -n "$py_ok" ]; then
    port=$("$pyv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    AA_BENCH_POLICY=$work/off.yaml "$pyv/bin/python" -m uvicorn --app-dir "$src/bench" \
        fastapi_app:app --workers 2 --host 127.0.0.1 --port "$port" \
        --log-level warning --no-access-log >fastapi.out 2>fastapi.err &
    PID=$!
    pids="$pids $PID"
    URL=http://127.0.0.1:$port
    i=0
    until [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Agent-Name: assistant' \
        -H 'X-User-Name: bob' -H 'Content-Type: application/json' -d "$one" \
        "$URL/v1/authorize")" = 200 ] || [ $i -ge 200 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    # both workers up: each has imported the app once it is a child process
    sleep 1
    if [ $i -lt 200 ]; then
        set -- $(measure one.lua /v1/authorize)
        fa_rps=$1 fa_p50=$2 fa_p99=$3 fa_cpu=$4 fa_bad=$5
    else
        py_why="uvicorn did not answer: $(tail -3 fastapi.err)"
    fi
    stop
fi

# The ceiling at the same fixed rate: how much of the tail is this machine.
start zero2 "$zero" "$threads"
set -- $(open_loop "$half")
zhalf_p50=${1:-?} zhalf_p99=${2:-?}
stop

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }
# verdict VALUE OP TARGET: "met" or "missed"
verdict() { awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN {
    ok = (op == ">=") ? (v + 0 >= t) : (v + 0 <= t)
    print (v == "" || v == "?") ? "not measured" : ok ? "met" : "missed" }'; }
row() { printf '%-44s %10s %7s %8s %8s %10s\n' "$@"; }

echo
echo "agent-auth serve: wrk keep-alive, 1 wrk thread, $conns connections, ${secs}s per row,"
echo "server threads $threads, on $(nproc) CPUs shared with wrk (load average $(cut -d' ' -f1 /proc/loadavg))"
row "row" "req/s" "ratio" "p50" "p99" "cpu us/req"
row "zero-work server (ceiling)" "$zero_rps" "1.00" "$zero_p50" "$zero_p99" "$zero_cpu"
row "authorize, 1 request, audit off" "$off_rps" "$(ratio "$off_rps" "$zero_rps")" "$off_p50" "$off_p99" "$off_cpu"
row "authorize, 1 request, audit on" "$on_rps" "$(ratio "$on_rps" "$zero_rps")" "$on_p50" "$on_p99" "$on_cpu"
row "authorize, audit on, fsync always" "$al_rps" "$(ratio "$al_rps" "$zero_rps")" "$al_p50" "$al_p99" "$al_cpu"
arr_dps=$(awk -v r="$arr_rps" 'BEGIN { printf "%.0f", r * 100 }')
row "authorize, array of 100 (decisions/s)" "$arr_dps" "$(ratio "$arr_dps" "$zero_rps")" "$arr_p50" "$arr_p99" "$arr_cpu"
arron_dps=$(awk -v r="$arron_rps" 'BEGIN { printf "%.0f", r * 100 }')
row "array of 100, audit on (decisions/s)" "$arron_dps" "$(ratio "$arron_dps" "$zero_rps")" "$arron_p50" "$arron_p99" "$arron_cpu"
if [ -n "$fa_rps" ]; then
    row "FastAPI + middleware, uvicorn 2 workers" "$fa_rps" "$(ratio "$fa_rps" "$zero_rps")" "$fa_p50" "$fa_p99" "$fa_cpu"
else
    echo "FastAPI + middleware: not measured: $py_why"
fi
row "audit off, open loop at $half/s (50% of peak)" "$half" "" "${half_p50}ms" "${half_p99}ms" ""
row "zero-work server, open loop at $half/s" "$half" "" "${zhalf_p50}ms" "${zhalf_p99}ms" ""
echo
r_zero=$(ratio "$off_rps" "$zero_rps")
r_on=$(ratio "$on_rps" "$off_rps")
r_arr=$(ratio "$arr_dps" "$off_rps")
r_fa="" r_cpu=""
[ -n "$fa_rps" ] && r_fa=$(ratio "$off_rps" "$fa_rps") && r_cpu=$(ratio "$fa_cpu" "$off_cpu")
target() { printf '%-58s %10s  %s\n' "$1" "$2" "$3"; }
target "target" "measured" "verdict"
target "audit off / zero-work server >= 0.60" "$r_zero" "$(verdict "$r_zero" ">=" 0.60)"
target "audit off / FastAPI+uvicorn throughput >= 4" "${r_fa:-?}" "$(verdict "$r_fa" ">=" 4)"
target "CPU per request, FastAPI+uvicorn / audit off >= 10" "${r_cpu:-?}" "$(verdict "$r_cpu" ">=" 10)"
target "audit on / audit off >= 0.50" "$r_on" "$(verdict "$r_on" ">=" 0.50)"
target "p99 at 50% of peak (open loop) <= 2 ms" "${half_p99}ms" "$(verdict "$half_p99" "<=" 2)"
target "array decisions/s / single requests/s >= 5" "$r_arr" "$(verdict "$r_arr" ">=" 5)"
echo "fsync always / audit off: $(ratio "$al_rps" "$off_rps"); array of 100 audit on / single audit on: $(ratio "$arron_dps" "$on_rps"); array audit on / off: $(ratio "$arron_dps" "$arr_dps")"
echo "(cpu us/req: CPU time of the server's processes per HTTP request; non-2xx answers:" \
    "off ${off_bad:-0}, on ${on_bad:-0}, fsync always ${al_bad:-0}, array ${arr_bad:-0}, array audit on ${arron_bad:-0}, FastAPI ${fa_bad:-0}, open loop errors ${half_bad})"
