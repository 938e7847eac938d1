#!/bin/sh
# The main job on the shipped example: validate the enterprise policy, then
# decide a few telling requests with the CLI, and show the audit trail.
# It runs in a temporary directory, so the policy's relative state and audit
# paths (.agent_auth/) land there and the demo leaves nothing behind.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "$(dirname "${1:-build/agent-auth}")" && pwd)/$(basename "${1:-build/agent-auth}")
policy=$top/examples/policies/enterprise.yaml
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

run() {
    printf '\n$ agent-auth -c examples/policies/enterprise.yaml %s\n' "$*"
    "$bin" -c "$policy" "$@"
    printf '(exit %d)\n' $?
}

run validate
run check --agent copilot --user alice --action read:documents --scope project:apollo
run check --agent research-bot --user alice --action write:documents
run check --agent copilot --user alice --action deploy:web --metadata env=prod
run check --agent orchestrator --user alice --action read:reports --target-agent research-bot
run check --agent orchestrator --user alice --action pay:invoice --target-agent billing-agent
run explain --agent copilot --user bob --action write:code
run audit --verify
run audit
