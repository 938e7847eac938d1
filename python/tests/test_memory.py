"""No leak: memcheck.py runs 1M authorize calls in a fresh interpreter
and checks that RSS does not grow."""
import os
import subprocess
import sys


def test_no_rss_growth_over_a_million_calls():
    script = os.path.join(os.path.dirname(__file__), "memcheck.py")
    env = dict(os.environ)
    n = "1000000"
    if "asan" in env.get("LD_PRELOAD", ""):
        # Under ASan: fewer calls (slower), and no quarantine, which would
        # otherwise hold freed memory and grow RSS by design.
        n = "300000"
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + \
            ":quarantine_size_mb=0"
    p = subprocess.run([sys.executable, script, n], capture_output=True,
                       text=True, timeout=240, env=env)
    print(p.stdout, p.stderr)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "memcheck:" in p.stdout
