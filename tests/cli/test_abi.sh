#!/bin/bash
# The shared library's ABI: it exports exactly the functions that
# include/agent_auth.h declares (all named aa_*, none aa__*), and the version
# macros of the header agree with aa_version() and `agent-auth version`.
. "$(dirname "$0")/lib.sh"

BUILD_DIR=$(cd "$(dirname "$AGENT_AUTH")" && pwd)
HEADER=$AA_SOURCE_DIR/include/agent_auth.h
major=$(sed -n 's/^#define AA_VERSION_MAJOR \([0-9]*\)$/\1/p' "$HEADER")
minor=$(sed -n 's/^#define AA_VERSION_MINOR \([0-9]*\)$/\1/p' "$HEADER")
patch=$(sed -n 's/^#define AA_VERSION_PATCH \([0-9]*\)$/\1/p' "$HEADER")
# The shared library carries the header's version in its file name.
LIB=$BUILD_DIR/libagentauth.so.$major.$minor.$patch
if [ ! -f "$LIB" ]; then
    fail "no $LIB: the shared library does not carry the header's version $major.$minor.$patch"
    finish
    exit $?
fi

nm -D --defined-only "$LIB" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort -u >"$TMP/exported"
# Every function declared in the header, by name.
tr '\n' ' ' <"$HEADER" | grep -oE 'AA_API [^;(]*\baa_[a-z0-9_]+\(' |
    grep -oE 'aa_[a-z0-9_]+\($' | tr -d '(' | sort -u >"$TMP/declared"

[ -s "$TMP/exported" ] && pass || fail "nm listed no exported symbol"
[ -s "$TMP/declared" ] && pass || fail "no AA_API declaration found in the header"

bad=$(grep -vE '^aa_[a-z0-9]' "$TMP/exported")
[ -z "$bad" ] && pass || fail "exported symbols outside the public API: $(echo $bad)"

extra=$(comm -23 "$TMP/exported" "$TMP/declared")
[ -z "$extra" ] && pass || fail "exported but not declared in the header: $(echo $extra)"

missing=$(comm -13 "$TMP/exported" "$TMP/declared")
[ -z "$missing" ] && pass || fail "declared but not exported (mark it AA_API): $(echo $missing)"

# A declaration without AA_API would be hidden: none may be left.
unmarked=$(grep -nE '^(const |unsigned |int |void |size_t |char |double |int64_t |aa_)[^;(]*\baa_[a-z0-9_]+\(' "$HEADER")
[ -z "$unmarked" ] && pass || fail "declarations without AA_API: $unmarked"

aa version
expect_rc 0 "agent-auth version"
expect_out "agent-auth $major.$minor.$patch" "CLI version agrees with the header macros"

# The CLI does not link libmicrohttpd (serve loads it when it starts), so
# no command loads it nor the TLS libraries it pulls in.
linked=$(ldd "$AGENT_AUTH" | grep -E 'lib(microhttpd|gnutls|p11-kit|tasn1|nettle|hogweed|gmp)' || true)
[ -z "$linked" ] && pass || fail "the CLI links libraries only serve needs: $(echo $linked)"

finish
