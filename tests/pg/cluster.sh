#!/bin/bash
# cluster.sh - a private, throw-away PostgreSQL cluster for the tests.
#
#   cluster.sh setup ENVFILE   initdb into a new temporary directory, start
#                              it listening only on a Unix socket there, make
#                              a database, and write ENVFILE (AA_PG_DIR,
#                              AA_PG_URL, AA_PG_BIN) for tests/pg/run.sh
#   cluster.sh cleanup ENVFILE stop it and delete the directory
#   cluster.sh stop|start DIR  stop or start it again (fault tests)
#
# As root, the cluster runs as the unprivileged `postgres` user (PostgreSQL
# refuses to run as root). When it cannot be started, setup fails loudly,
# unless AA_PG_SKIP=1 is set by hand: then ENVFILE says SKIP and the tests
# print SKIPPED and exit 77 (ctest counts them as skipped, never passed).
set -u
PGBIN=${AA_PG_BIN:-}
if [ -z "$PGBIN" ]; then
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && PGBIN=$d
    done
fi

as_owner() { # runs a command as the cluster's owner
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

ctl() { # ctl DIR start|stop, from / (the owner may not enter our directory)
    local dir=$1 what=$2
    if [ "$what" = start ]; then
        (cd / && as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
            -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c fsync=off -c max_connections=200" \
            start >/dev/null)
    else
        (cd / && as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null)
    fi
}

case ${1:-} in
setup)
    envfile=$2
    rm -f "$envfile"
    why=
    if [ -z "$PGBIN" ]; then
        why="no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb; Debian: apt-get install postgresql, or scripts/deps.sh)"
    elif [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        why="running as root and there is no 'postgres' user to run the cluster as"
    fi
    dir=
    if [ -z "$why" ]; then
        dir=$(mktemp -d /tmp/aa-pg-XXXXXX)
        chmod 700 "$dir"
        [ "$(id -u)" = 0 ] && chown postgres: "$dir"
        if ! (cd / && as_owner "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust \
            --no-sync >"$dir/initdb.log" 2>&1); then
            why="initdb failed: $(tail -3 "$dir/initdb.log" | tr '\n' ' ')"
        else
            # a role that must give a password (the wrong-password test)
            printf 'local all aa_pw scram-sha-256\nlocal all all trust\n' \
                | as_owner tee "$dir/data/pg_hba.conf" >/dev/null
            if ! ctl "$dir" start; then
                why="pg_ctl start failed: $(tail -5 "$dir/log" 2>/dev/null | tr '\n' ' ')"
            elif ! (cd / && as_owner "$PGBIN/createdb" -h "$dir" -U postgres aa_test) ||
                 ! (cd / && as_owner "$PGBIN/psql" -h "$dir" -U postgres -d aa_test -qAt -c \
                     "CREATE ROLE aa_pw LOGIN PASSWORD 'right-pw'; CREATE ROLE aa_ro LOGIN;" >/dev/null); then
                why="making the test database failed"
            fi
        fi
    fi
    if [ -n "$why" ]; then
        if [ "${AA_PG_SKIP:-}" = 1 ]; then
            printf 'SKIP=%q\n' "$why" >"$envfile"
            echo "SKIPPED: PostgreSQL tests: $why (AA_PG_SKIP=1)"
            [ -n "$dir" ] && { ctl "$dir" stop 2>/dev/null; rm -rf "$dir"; }
            exit 0
        fi
        echo "FAIL: cannot start a PostgreSQL cluster for the tests: $why" >&2
        echo "      (set AA_PG_SKIP=1 to skip the PostgreSQL tests by hand)" >&2
        [ -n "$dir" ] && { ctl "$dir" stop 2>/dev/null; rm -rf "$dir"; }
        exit 1
    fi
    {
        printf 'AA_PG_DIR=%q\n' "$dir"
        printf 'AA_PG_BIN=%q\n' "$PGBIN"
        printf 'AA_PG_URL=%q\n' "postgresql:///aa_test?host=$dir&user=postgres"
    } >"$envfile"
    echo "PostgreSQL test cluster in $dir"
    ;;
cleanup)
    envfile=$2
    [ -f "$envfile" ] || exit 0
    AA_PG_DIR=
    . "$envfile"
    if [ -n "$AA_PG_DIR" ] && [ -d "$AA_PG_DIR" ]; then
        ctl "$AA_PG_DIR" stop 2>/dev/null
        rm -rf "$AA_PG_DIR"
    fi
    rm -f "$envfile"
    ;;
stop | start)
    ctl "$2" "$1"
    ;;
*)
    echo "usage: $0 setup|cleanup ENVFILE | stop|start DIR" >&2
    exit 2
    ;;
esac
