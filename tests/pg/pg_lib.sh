# pg_lib.sh - what the PostgreSQL end-to-end tests (tests/pg/test_*.sh)
# share, sourced first: the CLI test helpers (tests/cli/lib.sh, and
# serve_lib.sh for a server), the cluster tests/pg/run.sh names, and psql
# on it.
. "$AA_SOURCE_DIR/tests/cli/lib.sh"
[ -n "${PG_LIB_NO_SERVER:-}" ] || . "$AA_SOURCE_DIR/tests/cli/serve_lib.sh"
: "${AA_PG_URL:?run through tests/pg/run.sh}"

# psql_q SQL: one statement on the test cluster, its rows unaligned
psql_q() { "$AA_PG_BIN/psql" -qAt -d "$AA_PG_URL" -c "$1"; }

# wait_ready TRIES: GET /readyz until it answers 200, every 50 ms, at most
# TRIES times; true when it did
wait_ready() {
    local _
    for _ in $(seq 1 "$1"); do
        req GET /readyz
        [ "$CODE" = 200 ] && return 0
        sleep 0.05
    done
    return 1
}
