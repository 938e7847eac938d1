#!/usr/bin/env python3
"""python_bench.py - microseconds per decision of the Python package on the
enterprise example's 8-request mix (the mix of bench/bench_engine.c,
scenario 1): authorize with audit off, with audit on (fsync never),
authorize_many per decision, and 4 threads calling authorize.

Usage: python_bench.py [--quick] [SOURCE_DIR]
Run by `make bench` (bench/run.sh) with the package built into a venv.
"""
import os
import statistics
import sys
import tempfile
import threading
import time

import agent_auth as aa
from agent_auth import AuthRequest

quick = "--quick" in sys.argv
args = [a for a in sys.argv[1:] if not a.startswith("--")]
SRC = args[0] if args else os.path.join(os.path.dirname(__file__), "..")
POLICY = os.path.join(SRC, "examples", "policies", "enterprise.yaml")

MIX = [
    AuthRequest(agent="research-bot", user="carol", action="read:docs",
                resource="docs/roadmap.md", scope="workspace:research"),
    AuthRequest(agent="research-bot", user="carol", action="write:docs",
                scope="workspace:research"),
    AuthRequest(agent="copilot", user="bob", action="deploy:api",
                resource="svc/api", scope="project:web",
                metadata={"env": "prod", "ticket": "OPS-1"}),
    AuthRequest(agent="orchestrator", user="dave", action="read:plan",
                target_agent="research-bot"),
    AuthRequest(agent="orchestrator", user="dave", action="pay:invoice",
                target_agent="billing-agent", metadata={"amount": 50}),
    AuthRequest(agent="ghost-agent", user="eve", action="read:docs"),
    AuthRequest(agent="copilot", user="bob", action="write:code",
                resource="repo/web", scope="cluster:prod"),
    AuthRequest(agent="copilot", user="bob", action="send:email",
                scope="project:web"),
]
WANT = [(True, "autonomous"), (False, "autonomous"), (True, "strong"),
        (True, "autonomous"), (False, "autonomous"), (False, "autonomous"),
        (False, "autonomous"), (False, "autonomous")]
RUNS = 3 if quick else 7


def engine(audit, tmp):
    c = aa.load_config(POLICY)
    c.audit.enabled = audit
    c.audit.path = os.path.join(tmp, "audit-%d.jsonl" % audit)
    e = aa.AuthEngine(c)
    got = [(d.allowed, d.tier) for d in map(e.authorize, MIX)]
    assert got == WANT, got
    return e


def median_us(fn, decisions):
    """(median wall us, min, max, median CPU us) per decision. CPU time is
    the process's, all threads: on a busy machine wall time also counts the
    time other processes held the CPUs."""
    xs, cs = [], []
    for _ in range(RUNS):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        t1, c1 = time.perf_counter(), time.process_time()
        xs.append((t1 - t0) / decisions * 1e6)
        cs.append((c1 - c0) / decisions * 1e6)
    return statistics.median(xs), min(xs), max(xs), statistics.median(cs)


def loop(e, n):
    mix = MIX * (n // len(MIX))
    auth = e.authorize

    def run():
        for r in mix:
            auth(r)
    return run, len(mix)


def main():
    tmp = tempfile.mkdtemp()
    os.chmod(tmp, 0o700)
    off = engine(False, tmp)
    on = engine(True, tmp)
    n = 80_000 if quick else 400_000
    rows = []
    run, k = loop(off, n)
    rows.append(("authorize, audit off", median_us(run, k), "<= 1.0"))
    run, k = loop(on, n // 20)
    rows.append(("authorize, audit on (fsync never)", median_us(run, k), ""))
    batch = MIX * 125  # 1,000 requests a call
    calls = n // len(batch)

    def many():
        for _ in range(calls):
            off.authorize_many(batch)
    rows.append(("authorize_many, 1,000 a call, per decision",
                 median_us(many, calls * len(batch)), "<= 0.3"))
    big = MIX * (100_000 // len(MIX))
    rows.append(("authorize_many, 100,000 a call, per decision",
                 median_us(lambda: off.authorize_many(big), len(big)), ""))

    def in_threads(work, count):
        """A function that runs work in count threads at once."""
        def run_all():
            ts = [threading.Thread(target=work) for _ in range(count)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
        return run_all

    def threads(count):
        per = n // count
        mix = MIX * (per // len(MIX))

        def work():
            auth = off.authorize
            for r in mix:
                auth(r)
        return in_threads(work, count), len(mix) * count

    run, k = threads(4)
    rows.append(("4 threads x authorize (wall per decision)",
                 median_us(run, k), ""))

    def many_threads(count):
        chunk = MIX * 125
        per = n // count // len(chunk)

        def work():
            for _ in range(per):
                off.authorize_many(chunk)
        return in_threads(work, count), len(chunk) * per * count

    run, k = many_threads(2)
    rows.append(("2 threads x authorize_many 1,000 (wall/dec.)",
                 median_us(run, k), ""))

    print("Python package (agent_auth %s, %s), enterprise 8-request mix, "
          "median of %d runs" % (aa.__version__, sys.version.split()[0], RUNS))
    print("| %-46s | %8s | %15s | %8s | %7s |" % (
        "what", "us/dec", "range", "cpu us", "target"))
    print("|%s|%s|%s|%s|%s|" % ("-" * 48, "-" * 10, "-" * 17, "-" * 10,
                                "-" * 9))
    for name, (med, lo, hi, cpu), target in rows:
        print("| %-46s | %8.3f | %6.3f - %6.3f | %8.3f | %7s |" % (
            name, med, lo, hi, cpu, target))
    print("us/dec: wall time per decision (median); cpu us: CPU time of "
          "the process per decision (all threads); load average %s" %
          " ".join(open("/proc/loadavg").read().split()[:3]))


if __name__ == "__main__":
    main()
