#!/bin/sh
# Runs every fuzz target in BUILD/fuzz for SECONDS each, on a scratch copy of
# its seed corpus (fuzz/corpus/<target>/), and fails on any crash, leak,
# timeout or sanitizer report. Usage: scripts/fuzz.sh BUILD SECONDS
# FUZZ_SEED=N makes a run repeatable (CI sets it); unset, libFuzzer picks one.
# A failing input is printed in base64 so it can be replayed from a log:
#   base64 -d > crash; build-fuzz/fuzz/fuzz_<target> crash
set -eu
build=${1:-build-fuzz}
secs=${2:-30}
top=$(cd "$(dirname "$0")/.." && pwd)
# The targets learn from the coverage of the library code they call; a
# library built without it leaves libFuzzer the target's own file only.
if ! grep -qs -e -fsanitize=fuzzer-no-link \
    "$build/CMakeFiles/agentauth_obj.dir/flags.make" "$build/build.ninja"; then
    echo "$build: the library is not built with -fsanitize=fuzzer-no-link;" \
        "configure it with -DAA_BUILD_FUZZ=ON (make fuzz)" >&2
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for bin in "$build"/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    corpus=$work/$name
    mkdir -p "$corpus"
    seeds=$top/fuzz/corpus/${name#fuzz_}
    [ -d "$seeds" ] && cp -r "$seeds"/. "$corpus"/
    printf '%-24s ' "$name"
    if "$bin" ${FUZZ_SEED:+-seed="$FUZZ_SEED"} -max_total_time="$secs" \
        -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/$name-" "$corpus" >"$work/$name.log" 2>&1; then
        runs=$(grep -Eo '^#[0-9]+' "$work/$name.log" | tail -1 | tr -d '#')
        echo "ok: ${runs:-?} runs in ${secs}s"
    else
        echo "FAILED"
        grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' "$work/$name.log" | tail -40
        for art in "$work/$name"-*; do
            [ -f "$art" ] || continue
            echo "--- $(basename "$art") (base64):"
            base64 "$art"
        done
        status=1
    fi
done
exit $status
