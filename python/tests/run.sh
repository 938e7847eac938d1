#!/bin/bash
# run.sh WORKDIR [--asan] [PYTEST ARGS...] - builds the Python package from
# this source tree into a venv under WORKDIR (Debian's /usr/bin/python3,
# --system-site-packages, offline: --no-build-isolation --no-index) and runs
# the pytest suite of python/tests against it. Registered in ctest as
# python.pytest; fails (never skips) when the package cannot be built.
#
# --asan (or AA_SANITIZE containing "address", as in `make asan`) builds the
# extension with AddressSanitizer and UBSan and runs the interpreter with
# the ASan runtime preloaded (leak detection off: the interpreter itself
# keeps memory at exit).
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:?usage: run.sh WORKDIR [--asan] [pytest args]}
shift
asan=0
if [ "${1:-}" = --asan ]; then
    asan=1
    shift
fi
case ${AA_SANITIZE:-} in *address*) asan=1 ;; esac

# AA_PY_TESTS names another directory of tests to run instead of
# python/tests (python/tests_pg: the PostgreSQL tests, run by ctest through
# tests/pg/run.sh as python.pytest.postgresql).
#
# AA_PYTHON=/usr/bin/python3.11-dbg runs the suite on Debian's debug
# interpreter, where memcheck.py also checks the total reference count.
py=${AA_PYTHON:-/usr/bin/python3}
if ! $py -c 'import venv, ensurepip, pytest' 2>/dev/null; then
    echo "FAIL: $py lacks venv/ensurepip/pytest (run scripts/deps.sh)" >&2
    exit 1
fi
mkdir -p "$work"
work=$(cd "$work" && pwd)
venv=$work/venv
[ -x "$venv/bin/python" ] || $py -m venv --system-site-packages "$venv"

export AA_PY_BUILD_BASE=$work/build-$(basename "$py")
preload=""
if [ $asan = 1 ]; then
    export AA_PY_BUILD_BASE=$work/build-asan
    export AA_PY_SANITIZE=address,undefined
    if command -v clang >/dev/null; then
        export CC=clang LDSHARED="clang -shared"
        preload=$(clang -print-file-name=libclang_rt.asan-x86_64.so)
    else
        preload=$(gcc -print-file-name=libasan.so)
    fi
    [ -f "$preload" ] || {
        echo "FAIL: no ASan runtime found ($preload)" >&2
        exit 1
    }
fi
log=$work/pip.log
if ! (cd "$src" && "$venv/bin/pip" install --no-build-isolation --no-index \
    --force-reinstall --no-deps . >"$log" 2>&1); then
    tail -40 "$log" >&2
    echo "FAIL: the Python package did not build (log: $log)" >&2
    exit 1
fi

cd "$work"
export AA_SOURCE_DIR=$src
tests=${AA_PY_TESTS:-$src/python/tests}
if [ $asan = 1 ]; then
    export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    LD_PRELOAD=$preload exec "$venv/bin/python" -m pytest -q -p no:cacheprovider \
        "$tests" "$@"
fi
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$tests" "$@"
