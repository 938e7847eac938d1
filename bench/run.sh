#!/bin/sh
# run.sh - the benchmark table of `make bench` (see docs/performance.md).
#
# Usage: bench/run.sh [BUILD_DIR] [--quick] [--profile] [--all]
#   BUILD_DIR   an optimised build (default build-bench; `make bench` makes it)
#   --quick     fewer and shorter runs, 100,000 batch lines: a rough table
#   --profile   instead of the table, run the measured loops of scenarios 1,
#               2, 3c, 4, 6 (and the load of 7b) under callgrind, and under
#               `perf record -e cpu-clock` where that works, and print where
#               the time goes; profiles stay in BUILD_DIR/profile/ (takes
#               about 5 minutes)
#   --all       after the table, run the other bench/bench_* programs too
#
# Each scenario runs in a process of its own (its peak RSS is its own); the
# rows are collected and printed as one table at the end, notes below it.
set -u

build=build-bench
quick=""
mode=table
all=0
for arg in "$@"; do
    case $arg in
    --quick) quick=--quick ;;
    --profile) mode=profile ;;
    --all) all=1 ;;
    -h | --help)
        sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    -*)
        echo "run.sh: unknown option '$arg'" >&2
        exit 2
        ;;
    *) build=$arg ;;
    esac
done

src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" 2>/dev/null && pwd) || {
    echo "run.sh: no build directory '$build' (run make bench)" >&2
    exit 1
}
bench=$build/bench/bench_engine
cli=$build/agent-auth
for f in "$bench" "$cli"; do
    [ -x "$f" ] || {
        echo "run.sh: $f is missing (run make bench)" >&2
        exit 1
    }
done
policy=$src/examples/policies/enterprise.yaml

# ---- profile mode ----------------------------------------------------------

if [ "$mode" = profile ]; then
    command -v valgrind >/dev/null || {
        echo "run.sh: --profile needs valgrind" >&2
        exit 1
    }
    out=$build/profile
    mkdir -p "$out"
    rm -f "$out"/callgrind.* "$out"/perf.*
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    "$bench" --write-requests 20000 "$work/requests.jsonl"
    "$bench" --write-requests 200000 "$work/requests-200k.jsonl"

    # NAME COMMAND...: callgrind output in $out/callgrind.NAME
    cg() {
        name=$1
        shift
        printf 'callgrind %s ...\n' "$name" >&2
        valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.$name" \
            "$@" >/dev/null 2>"$out/valgrind.$name.log"
    }
    loop=--toggle-collect=bench_loop
    cg 1 $loop "$bench" --profile 1 --src "$src" 1
    cg 2 $loop "$bench" --profile 2 --src "$src" 2
    cg 3c $loop "$bench" --profile 3c --src "$src" 3
    # Scenario 4's store is made once, natively (slow under valgrind).
    state=$work/state
    "$bench" --profile none --state "$state" --src "$src" 4 2>/dev/null
    for row in 4 4b 4c; do
        cg $row $loop "$bench" --profile $row --state "$state" --src "$src" 4
    done
    cg 7b --toggle-collect=aa_policy_load_file "$bench" --profile 7b --src "$src" 7
    (cd "$work" && cg 6a "$cli" -c "$policy" check -a research-bot -u carol \
        --action read:docs -s workspace:research)
    (cd "$work" && cg 6b --toggle-collect=cli_run_batch "$cli" -c "$policy" \
        check --no-audit --batch "$work/requests.jsonl")
    (cd "$work" && cg 6c --toggle-collect=cli_run_batch "$cli" -c "$policy" \
        check --batch "$work/requests.jsonl")

    # Wall-clock samples, kernel included, where perf can sample cpu-clock.
    perf_ok=0
    if command -v perf >/dev/null &&
        perf record -q -e cpu-clock -o "$work/perf.test" true >/dev/null 2>&1; then
        perf_ok=1
        for row in 1 2 4 4b 4c; do
            printf 'perf %s ...\n' "$row" >&2
            "$bench" --profile "$row" --perf "$out/perf.$row" --state "$state" \
                --src "$src" "$(echo "$row" | cut -c1)" 2>/dev/null
        done
        printf 'perf 6a, 6b, 6c ...\n' >&2
        (cd "$work" && perf record -q -e cpu-clock -o "$out/perf.6a" -- sh -c \
            "i=0; while [ \$i -lt 100 ]; do i=\$((i+1)); '$cli' -c '$policy' check \
            -a research-bot -u carol --action read:docs -s workspace:research \
            >/dev/null; done" 2>/dev/null)
        (cd "$work" && perf record -q -e cpu-clock -o "$out/perf.6b" -- "$cli" \
            -c "$policy" check --no-audit --batch "$work/requests-200k.jsonl" \
            >/dev/null 2>&1)
        (cd "$work" && perf record -q -e cpu-clock -o "$out/perf.6c" -- "$cli" \
            -c "$policy" check --batch "$work/requests-200k.jsonl" \
            >/dev/null 2>&1)
    fi

    # The wrappers around the measured code are 100% by construction.
    wrappers='(below main)|__libc_start|libc_start_call_main|[?]:main |:measure |:scenario[0-9]|:bench_loop |:audit_row |:big_row |:load_file |:run |:run_check |:run_one |:cli_run_batch |\?\?\?:0x[0-9a-f]+ \[[^]]*ld-linux'
    top() { # NAME yes|no COUNT
        callgrind_annotate --inclusive="$2" "$out/callgrind.$1" 2>/dev/null |
            grep -E '^ *[0-9,]+ +\([ 0-9.]+%\)' | grep -v 'PROGRAM TOTALS' |
            grep -Ev "$wrappers" | head -n "$3" | cut -c1-150
    }
    ptop() { # NAME SORT COUNT
        perf report -i "$out/perf.$1" --stdio --sort "$2" 2>/dev/null |
            grep -Ev '^#|^$' | head -n "$3" | cut -c1-120
    }
    for name in 1 2 3c 4 4b 4c 6a 6b 6c 7b; do
        case $name in
        1) what="scenario 1: enterprise mix, audit off (200,000 decisions)" ;;
        2) what="scenario 2: audit on, fsync never, batches of 64 (20,000 decisions)" ;;
        3c) what="scenario 3c: 1,000 approval and A2A policies by suffixes (200,000 decisions)" ;;
        4) what="scenario 4: session-gated, 100k store (50,000 decisions)" ;;
        4b) what="scenario 4b: delegation-permitted, 100k store (50,000 decisions)" ;;
        4c) what="scenario 4c: the mix with the 100k store (50,000 decisions)" ;;
        6a) what="scenario 6a: one whole \`check\` process" ;;
        6b) what="scenario 6b: check --batch, 20,000 lines, --no-audit (inside cli_run_batch)" ;;
        6c) what="scenario 6c: check --batch, 20,000 lines, audit on (inside cli_run_batch)" ;;
        7b) what="scenario 7b: loading the scenario-3 policy" ;;
        esac
        total=$(callgrind_annotate "$out/callgrind.$name" 2>/dev/null |
            grep 'PROGRAM TOTALS' | sed 's/ *PROGRAM TOTALS.*//;s/ //g')
        echo
        echo "== $what: $total instructions (callgrind)"
        echo "-- inclusive"
        top "$name" yes 14
        echo "-- self"
        top "$name" no 10
        if [ "$perf_ok" = 1 ] && [ -f "$out/perf.$name" ]; then
            echo "-- perf cpu-clock samples (native speed, kernel included), by object"
            ptop "$name" dso 6
            echo "-- by symbol"
            ptop "$name" sym 14
        fi
    done
    echo
    echo "Profiles: $out/callgrind.* (callgrind_annotate, kcachegrind), $out/perf.* (perf report)"
    exit 0
fi

# ---- table mode ------------------------------------------------------------

rows=$(mktemp)
notes=$(mktemp)
trap 'rm -f "$rows" "$notes"' EXIT
start=$(date +%s)
failed=""

"$bench" machine
for s in 1 2 3 4 5 6 7; do
    [ -t 2 ] && printf 'running scenario %s of 7...\r' "$s" >&2
    if ! "$bench" $quick --src "$src" --cli "$cli" "$s" >>"$rows" 2>>"$notes"; then
        failed="$failed $s"
    fi
done
[ -t 2 ] && printf '%40s\r' '' >&2
echo
"$bench" header
cat "$rows"
echo
echo "Targets of the speed issue (per decision = wall time):"
awk '$1 == "1" || $1 == "3c" || $1 == "6h" || $1 == "2" || $1 == "7b" {
    t = index($0, "<=") ? substr($0, index($0, "<=")) : index($0, ">=") ? substr($0, index($0, ">=")) : "(no target in this build)"
    printf "  %-4s %s\n", $1, t }' "$rows"
echo
echo "Notes (per decision = wall time; cpu = CPU time over wall time, low when"
echo "other processes held the CPUs; median of 7 runs, 5 with --quick):"
sed 's/^/  /' "$notes"
printf 'load average at end: %s; whole run %s s\n' \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$(($(date +%s) - start))"

# Policy analysis on a generated large policy (bench_lint.c, issue 19).
echo
echo "Policy analysis, lint of a generated policy (target under 2 s wall):"
if [ -x "$build/bench/bench_lint" ]; then
    lt=$("$build/bench/bench_lint" $quick 2>&1) || failed="$failed bench_lint"
    printf '%s\n' "$lt" | sed 's/^/  /'
else
    failed="$failed bench_lint"
fi

# Every request costs time linear in its size (bench_request.c).
echo
echo "Request reading and deciding, cost per byte by metadata keys per line:"
if [ -x "$build/bench/bench_request" ]; then
    rq=$("$build/bench/bench_request" $quick --src "$src") ||
        failed="$failed bench_request"
    printf '%s\n' "$rq" | sed 's/^/  /'
else
    failed="$failed bench_request"
fi

# Policy analysis: `agent-auth diff` of a large generated policy against
# an edited copy (bench_diff.c).
echo
echo "Policy analysis:"
if [ -x "$build/bench/bench_diff" ]; then
    dr=$("$build/bench/bench_diff" $quick) || failed="$failed bench_diff"
    printf '%s\n' "$dr" | sed 's/^/  /'
else
    failed="$failed bench_diff"
fi

# The Python package: built into a venv under the bench build directory
# (Debian's /usr/bin/python3, offline), then bench/python_bench.py.
echo
if [ -x /usr/bin/python3 ]; then
    pyv=$build/python-venv
    [ -x "$pyv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$pyv"
    if (cd "$src" && AA_PY_BUILD_BASE=$build/python-build "$pyv/bin/pip" install \
        -q --no-build-isolation --no-index --force-reinstall --no-deps . \
        >"$build/python-pip.log" 2>&1); then
        (cd "$build" && "$pyv/bin/python" "$src/bench/python_bench.py" $quick "$src") ||
            failed="$failed python_bench"
    else
        echo "run.sh: the Python package did not build (see $build/python-pip.log)" >&2
        failed="$failed python_bench"
    fi
fi

# The HTTP service against a zero-work server (needs wrk; says so if not).
echo
"$src/bench/server_bench.sh" "$build" "$([ -n "$quick" ] && echo 2 || echo 5)" ||
    failed="$failed server"

# Shared state in PostgreSQL (bench_pg.c) on a private throw-away cluster
# (tests/pg/cluster.sh): revocation propagation, cached and strict decision
# cost against SQLite, creates with 8 writers.
echo
if [ -x "$build/bench/bench_pg" ]; then
    pgenv=$(mktemp)
    if bash "$src/tests/pg/cluster.sh" setup "$pgenv" >/dev/null; then
        (. "$pgenv" && AA_PG_URL=$AA_PG_URL "$build/bench/bench_pg" $quick --src "$src") ||
            failed="$failed bench_pg"
    else
        echo "run.sh: no PostgreSQL cluster could be started: bench_pg not run" >&2
        failed="$failed bench_pg"
    fi
    bash "$src/tests/pg/cluster.sh" cleanup "$pgenv"
    rm -f "$pgenv"
fi

if [ "$all" = 1 ]; then
    for b in "$build"/bench/bench_*; do
        case $b in */bench_engine | */bench_request | */bench_lint | */bench_diff | */bench_pg) continue ;; esac
        [ -x "$b" ] || continue
        echo
        echo "== $(basename "$b")"
        (cd "$src" && "$b") || failed="$failed $(basename "$b")"
    done
fi

if [ -n "$failed" ]; then
    echo "run.sh: failed:$failed (see the notes)" >&2
    exit 1
fi
