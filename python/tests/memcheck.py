"""memcheck.py [N] - no memory growth across N (default 1,000,000)
authorize calls on the enterprise mix, plus explain, authorize_many and
refused bad input: RSS after a warm-up and at the end must not differ by
more than 2 MiB. Prints the figures; exit status 1 on growth."""
import os
import pathlib
import sys
import tempfile

import agent_auth as aa
from agent_auth import AuthRequest

SRC = pathlib.Path(os.environ.get("AA_SOURCE_DIR",
                                  pathlib.Path(__file__).resolve().parents[2]))


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    config = aa.load_config(SRC / "examples" / "policies" / "enterprise.yaml")
    tmp = tempfile.mkdtemp()
    config.audit.path = os.path.join(tmp, "audit.jsonl")
    config.audit.enabled = False
    engine = aa.AuthEngine(config)
    mix = [
        AuthRequest(agent="research-bot", user="carol", action="read:docs",
                    resource="docs/roadmap.md", scope="workspace:research"),
        AuthRequest(agent="copilot", user="bob", action="deploy:api",
                    scope="project:web",
                    metadata={"env": "prod", "tags": ["a", 1, None]}),
        AuthRequest(agent="orchestrator", user="dave", action="pay:invoice",
                    target_agent="billing-agent", metadata={"amount": 50}),
        AuthRequest(agent="ghost-agent", user="eve", action="read:docs"),
    ]
    bad = AuthRequest(agent="a", user="u", action="x",
                      metadata={"k": [1, object()]})

    def round_(count):
        auth = engine.authorize
        for i in range(count):
            auth(mix[i & 3])
        for i in range(count // 100):
            engine.explain(mix[i & 3])
            engine.authorize_many(mix)
            try:
                auth(bad)
            except TypeError:
                pass

    refs = getattr(sys, "gettotalrefcount", None)  # debug interpreters
    round_(100_000)
    before, refs_before = rss_kib(), refs() if refs else 0
    round_(n)
    after, refs_after = rss_kib(), refs() if refs else 0
    growth = after - before
    print("memcheck: %d authorize calls (+%d explain, authorize_many, bad "
          "input): RSS %d KiB -> %d KiB (%+d KiB)" % (n, n // 100, before,
                                                      after, growth))
    bad = growth > 2048
    if refs:
        print("memcheck: total reference count %d -> %d (%+d)" % (
            refs_before, refs_after, refs_after - refs_before))
        bad |= refs_after - refs_before > 100
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
