#!/bin/sh
# Renders the role / profile / agent-to-agent graph of the enterprise
# example (agent-auth inspect --graph) to docs/images/enterprise-policy.svg
# with Graphviz. Graphviz is needed here only, never at run time; when
# `dot` is missing it is installed with apt-get if this runs as root,
# otherwise the command to install it is printed.
#
# Usage: scripts/docs-graph.sh [path/to/agent-auth]   (default build/agent-auth)
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$top/build/agent-auth}
policy=$top/examples/policies/enterprise.yaml
out=$top/docs/images/enterprise-policy.svg

if [ ! -x "$bin" ]; then
    echo "docs-graph.sh: no agent-auth binary at $bin (run make first)" >&2
    exit 1
fi

if ! command -v dot >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        echo "docs-graph.sh: Graphviz is needed: sudo apt-get install -y graphviz" >&2
        exit 1
    fi
    echo "Installing graphviz"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q graphviz >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && apt-get install -y -q graphviz >/dev/null; }
fi

mkdir -p "$(dirname "$out")"
tmp=$out.tmp.$$
trap 'rm -f "$tmp"' EXIT
# Run from the repository root so the file name in the graph is relative.
(cd "$top" && "$bin" -c examples/policies/enterprise.yaml inspect --graph) | dot -Tsvg >"$tmp"
mv "$tmp" "$out"
echo "Wrote $out from $policy"
