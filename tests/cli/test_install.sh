#!/bin/bash
# `make install`'s rules: header, static and shared library, pkg-config
# file, CLI, man page and bash completion land under the prefix, and a
# program builds against them with pkg-config alone (static and shared).
. "$(dirname "$0")/lib.sh"

if [ -n "${AA_SANITIZE:-}" ] || [ "${AA_VALGRIND:-}" = 1 ]; then
    echo "install test: skipped in sanitizer and valgrind runs (it tests the install rules, not memory)"
    finish
    exit $?
fi
BUILD_DIR=$(cd "$(dirname "$AGENT_AUTH")" && pwd)
PREFIX=$TMP/prefix
cmake --install "$BUILD_DIR" --prefix "$PREFIX" >"$OUT" 2>"$ERR"
RC=$?
expect_rc 0 "cmake --install"

for f in include/agent_auth.h bin/agent-auth share/man/man1/agent-auth.1 \
         share/bash-completion/completions/agent-auth; do
    [ -f "$PREFIX/$f" ] && pass || fail "installed $f"
done
libdir=$(find "$PREFIX" -name agent-auth.pc -printf '%h\n' | head -1)
[ -n "$libdir" ] && pass || fail "installed agent-auth.pc"
[ -f "$libdir/../libagentauth.a" ] && pass || fail "installed the static library"
ls "$libdir"/../libagentauth.so* >/dev/null 2>&1 && pass || fail "installed the shared library"

aa_installed() { "$PREFIX/bin/agent-auth" "$@" >"$OUT" 2>"$ERR"; RC=$?; }
aa_installed version
expect_rc 0 "installed CLI runs"
expect_out "agent-auth " "installed CLI version"

# Built with AA_STATIC_DEPS (the default, when the .a files exist), the CLI
# loads none of its four dependencies at run time.
if [ "${AA_STATIC_CLI:-0}" = 1 ]; then
    deps=$(ldd "$PREFIX/bin/agent-auth" | grep -E 'lib(yaml|jansson|sqlite3|crypto)' || true)
    [ -z "$deps" ] && pass || fail "the CLI is linked statically with its dependencies, yet loads: $deps"
else
    echo "static CLI check: skipped (built with shared dependencies)"
fi

export PKG_CONFIG_PATH=$libdir
pkg-config --exists agent-auth && pass || fail "pkg-config finds agent-auth"
# The recipes of docs/c-api.md "Building and linking", as written there.
LIBDIR=$(pkg-config --variable=libdir agent-auth)
EXAMPLE=$AA_SOURCE_DIR/examples/c/check.c
build_ex() { # build_ex OUT CC-ARGS...
    local out=$1
    shift
    cc -std=c11 -Wall -Werror "$EXAMPLE" "$@" -o "$out" >"$OUT" 2>"$ERR"
    RC=$?
}
# shellcheck disable=SC2046
build_ex check-static $(pkg-config --cflags agent-auth) "$LIBDIR/libagentauth.a" \
    $(pkg-config --libs yaml-0.1 jansson sqlite3 libcrypto) -lpthread
expect_rc 0 "example builds with libagentauth.a from the installed files"
if ldd ./check-static | grep -q libagentauth; then
    fail "the static build still needs libagentauth.so: $(ldd ./check-static | grep libagentauth)"
else
    pass
fi
env -u LD_LIBRARY_PATH ./check-static "$ENTERPRISE" >"$OUT" 2>"$ERR"
RC=$?
expect_rc 0 "the static build runs without LD_LIBRARY_PATH"
# shellcheck disable=SC2046
build_ex check-rpath $(pkg-config --cflags --libs agent-auth) -Wl,-rpath,"$LIBDIR"
expect_rc 0 "example builds against the shared library with an rpath"
env -u LD_LIBRARY_PATH ./check-rpath "$ENTERPRISE" >"$OUT" 2>"$ERR"
RC=$?
expect_rc 0 "the rpath build finds the installed shared library by itself"
# shellcheck disable=SC2046
build_ex check-shared $(pkg-config --cflags --libs agent-auth)
expect_rc 0 "example builds against the shared library"
LD_LIBRARY_PATH=$LIBDIR ./check-shared "$ENTERPRISE" >"$OUT" 2>"$ERR"
RC=$?
expect_rc 0 "example runs with the installed shared library on LD_LIBRARY_PATH"

# `make demo` builds the CLI only: no tests, no benchmarks.
demo=$(make -C "$AA_SOURCE_DIR" -n demo BUILD="$TMP/demo-build" SKIP_DEPS=1 2>&1)
echo "$demo" | grep -q -- "--build .*--target agent-auth" && pass ||
    fail "make demo builds the agent-auth target only: $demo"
[ "$(echo "$demo" | grep -c -- "--build")" = 1 ] && pass ||
    fail "make demo runs one build: $demo"

finish
