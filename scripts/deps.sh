#!/bin/sh
# Installs the Debian packages agent-auth builds with, when any is missing.
# As root it runs apt-get itself; otherwise it prints the command and stops.
# Usage: scripts/deps.sh [--dev]   (--dev adds clang, valgrind: fuzz/sanitizers;
#                                  python3-dbg: reference counts of the Python package;
#                                  wrk: the server benchmark)
set -eu

packages="cmake make gcc pkg-config libyaml-dev libjansson-dev libsqlite3-dev libssl-dev libcmocka-dev"
# The server (server/): libmicrohttpd; its end-to-end tests use curl and a
# real nginx in front of it (auth_request).
packages="$packages libmicrohttpd-dev curl nginx-light"
# Shared state (src/store_pg.c): libpq; the tests start a private PostgreSQL
# cluster with initdb/pg_ctl from the postgresql package.
packages="$packages libpq-dev postgresql"
# The Python package (python/, built and tested by `make test`) and the
# test clients of its web adapters; uvicorn for serving them.
packages="$packages python3-dev python3-setuptools python3-pip python3-venv python3-pytest"
packages="$packages python3-starlette python3-fastapi python3-flask python3-httpx python3-uvicorn"
if [ "${1:-}" = "--dev" ]; then
    packages="$packages clang libclang-rt-14-dev valgrind python3-dbg wrk"
fi

missing=""
for p in $packages; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "agent-auth needs these Debian packages:$missing" >&2
    echo "Install them with:  sudo apt-get install -y$missing" >&2
    exit 1
fi

echo "Installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet; refresh once when install fails.
# shellcheck disable=SC2086
if ! apt-get install -y -q $missing >/dev/null 2>&1; then
    apt-get update -q >/dev/null
    apt-get install -y -q $missing
fi
