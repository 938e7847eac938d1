"""One source of truth: the same policies and requests through
`agent-auth check --batch` and AuthEngine.authorize give identical
decisions."""
import json
import os
import random
import subprocess

import pytest

import agent_auth as aa
from agent_auth import AuthRequest

from conftest import ENTERPRISE, SRC, write

FIELDS = ("allowed", "tier", "reason", "requires_approval", "approval_policy")


def cli():
    path = os.environ.get("AGENT_AUTH") or str(SRC / "build" / "agent-auth")
    assert os.access(path, os.X_OK), (
        "the compatibility test needs the agent-auth binary: build it (make "
        "build) or set AGENT_AUTH (%s)" % path)
    return path


SECOND = """\
    version: "1.0"
    variables:
      vip: [root, admin]
      cap: 100
    roles:
      base:
        actions: ["read:*", "list"]
      ops:
        extends: base
        actions: ["restart:*", "deploy:[a-m]*"]
    profiles:
      ops-bot:
        role: ops
        deny: ["restart:db*"]
        scopes: ["env:?ev", "env:prod"]
        default_tier: soft
      reader:
        role: base
        allow: ["export:csv"]
    approval_policies:
      - name: vip-users
        condition: 'user in $vip'
        tier: strong
      - name: big
        condition: 'count > $cap or metadata.force == true'
        tier: soft
      - name: matcher
        condition: 'resource matches nothing_registered'
        tier: strong
    a2a:
      default: allow
      policies:
        - name: no-restart-by-reader
          from_agent: reader
          action: "restart:*"
          effect: deny
        - name: ops-only-dev
          from_agent: ops-bot
          to_agent: "*"
          effect: deny
          condition: 'scope != "env:dev"'
    """


def requests(seed, agents, actions, scopes, targets):
    rnd = random.Random(seed)
    out = []
    for _ in range(400):
        r = {"agent": rnd.choice(agents), "user": rnd.choice(
            ["alice", "bob", "root", "admin", "carol"]),
             "action": rnd.choice(actions)}
        if rnd.random() < 0.5:
            r["scope"] = rnd.choice(scopes)
        if rnd.random() < 0.3:
            r["target_agent"] = rnd.choice(targets)
        if rnd.random() < 0.4:
            r["resource"] = rnd.choice(["", "svc/api", "db/main"])
        if rnd.random() < 0.5:
            r["metadata"] = {k: v for k, v in [
                ("env", rnd.choice(["prod", "dev", "production"])),
                ("amount", rnd.choice([1, 50, 20000, 10000.5])),
                ("count", rnd.choice([1, 101, 100])),
                ("force", rnd.choice([True, False, None])),
                ("classification", rnd.choice(["secret", "public"]))]
                if rnd.random() < 0.6}
        out.append(r)
    return out


def compare(policy_path, reqs, tmp):
    config = aa.load_config(policy_path)
    config.audit.enabled = False
    engine = aa.AuthEngine(config)
    proc = subprocess.run(
        [cli(), "-c", str(policy_path), "check", "--batch", "--no-audit"],
        input="".join(json.dumps(r) + "\n" for r in reqs),
        capture_output=True, text=True, cwd=str(tmp), timeout=60,
        env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"})
    assert proc.returncode in (0, 1), proc.stderr
    answers = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(answers) == len(reqs)
    many = engine.authorize_many([AuthRequest(**r) for r in reqs])
    allowed = 0
    for r, want, got_many in zip(reqs, answers, many):
        got = engine.authorize(AuthRequest(**r))
        for f in FIELDS:
            assert getattr(got, f) == want[f], (r, f, want, got)
            assert getattr(got_many, f) == want[f], (r, f)
        allowed += want["allowed"]
    assert 0 < allowed < len(reqs)  # both answers occur


def test_enterprise(tmp):
    reqs = requests(1, ["copilot", "research-bot", "billing-agent",
                        "orchestrator", "ghost"],
                    ["read:docs", "write:code", "deploy:api", "deploy:prod-db",
                     "pay:invoice", "refund:9", "delete:x", "invoke:copilot",
                     "search:a", "list", "send:email", "read:secrets-metadata"],
                    ["project:web", "repo:x", "workspace:research",
                     "cluster:prod"],
                    ["copilot", "research-bot", "billing-agent", "ghost"])
    compare(ENTERPRISE, reqs, tmp)


def test_second_policy(tmp):
    p = write(tmp, SECOND)
    reqs = requests(2, ["ops-bot", "reader", "nobody"],
                    ["read:x", "restart:web", "restart:db1", "deploy:app",
                     "deploy:zeta", "export:csv", "list", "list:all"],
                    ["env:dev", "env:rev", "env:prod", "env:staging"],
                    ["ops-bot", "reader", "x"])
    compare(p, reqs, tmp)
