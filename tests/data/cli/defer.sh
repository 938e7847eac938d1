# defer.sh - deferred JSON checks for the CLI tests (sourced after lib.sh).
#
# Starting Python for every check costs a quarter of a second or more, and
# the tests make hundreds of them; so each check snapshots what it looks at
# and all checks run at the end in one Python process (check_deferred).
#
#   defer_json  EXPR DESC         stdout is one JSON document, bound to `d`
#   defer_lines EXPR DESC         stdout is JSON Lines, bound to `out` (a list);
#                                 any line that is not JSON fails the check
#   defer_file  KIND FILE EXPR DESC   the same for a file (KIND json|lines)
#   check_deferred                run them all (before `finish`)
#
# Each EXPR is a Python expression; `re`, `json` and `datetime` are
# imported.

DEFER_DIR=$TMP/.defer
DEFER_N=0
mkdir -p "$DEFER_DIR"

defer_file() {
    DEFER_N=$((DEFER_N + 1))
    if cp -- "$2" "$DEFER_DIR/$DEFER_N.data" 2>/dev/null; then
        printf '%s' "$1" > "$DEFER_DIR/$DEFER_N.kind"
    else
        : > "$DEFER_DIR/$DEFER_N.data"
        printf 'missing %s' "$2" > "$DEFER_DIR/$DEFER_N.kind"
    fi
    printf '%s' "$3" > "$DEFER_DIR/$DEFER_N.expr"
    printf '%s' "$4" > "$DEFER_DIR/$DEFER_N.desc"
}
defer_json() { defer_file json "$OUT" "$1" "$2"; }
defer_lines() { defer_file lines "$OUT" "$1" "$2"; }

check_deferred() {
    [ "$DEFER_N" = 0 ] && return
    local line seen=0
    while IFS= read -r line; do
        seen=$((seen + 1))
        case $line in
        "ok") pass ;;
        *)
            FAILS=$((FAILS + 1))
            printf 'FAIL: %s\n' "$line" >&2
            ;;
        esac
    done < <(python3 - "$DEFER_DIR" "$DEFER_N" <<'EOF'
import datetime, json, re, sys
base, n = sys.argv[1], int(sys.argv[2])
def text(i, ext):
    with open(f'{base}/{i}.{ext}', encoding='utf-8', errors='surrogateescape') as f:
        return f.read()
for i in range(1, n + 1):
    kind, expr, desc = text(i, 'kind'), text(i, 'expr'), text(i, 'desc')
    raw = text(i, 'data')
    env = {'re': re, 'json': json, 'datetime': datetime}
    if kind.startswith('missing '):
        print(f'{desc}: no file {kind[8:]}')
        continue
    try:
        if kind == 'json':
            env['d'] = json.loads(raw)
        else:
            env['out'] = [json.loads(l) for l in raw.splitlines()]
    except ValueError as e:
        print(f'{desc}: output is not valid JSON ({e}): {raw[:300]!r}')
        continue
    try:
        ok = bool(eval(expr, env))
        why = 'false'
    except Exception as e:
        ok, why = False, f'{type(e).__name__}: {e}'
    print('ok' if ok else f'{desc}: {expr} is {why}; output: {raw[:300]!r}')
EOF
)
    if [ "$seen" != "$DEFER_N" ]; then
        FAILS=$((FAILS + 1))
        printf 'FAIL: %d deferred checks, %d results\n' "$DEFER_N" "$seen" >&2
    fi
    DEFER_N=0
}
