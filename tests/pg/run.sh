#!/bin/bash
# run.sh ENVFILE COMMAND...: runs a PostgreSQL test against the cluster
# that tests/pg/cluster.sh set up (exporting AA_PG_DIR, AA_PG_URL,
# AA_PG_BIN); exits 77 (skipped) when setup was skipped with AA_PG_SKIP=1.
envfile=$1
shift
if [ ! -f "$envfile" ]; then
    echo "FAIL: no PostgreSQL test cluster ($envfile missing: its setup failed or did not run)" >&2
    exit 1
fi
SKIP=
. "$envfile"
if [ -n "$SKIP" ]; then
    echo "SKIPPED: $SKIP (AA_PG_SKIP=1)"
    exit 77
fi
export AA_PG_DIR AA_PG_URL AA_PG_BIN
export AA_PG_CLUSTER=$(dirname "$0")/cluster.sh
exec "$@"
