"""No leak: memcheck.py runs 1M authorize calls in a fresh interpreter
and checks that RSS does not grow."""
import os
import subprocess
import sys


def test_no_rss_growth_over_a_million_calls():
    script = os.path.join(os.path.dirname(__file__), "memcheck.py")
    n = "200000" if os.environ.get("LD_PRELOAD") else "1000000"  # ASan: slower
    p = subprocess.run([sys.executable, script, n], capture_output=True,
                       text=True, timeout=240)
    print(p.stdout, p.stderr)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "memcheck:" in p.stdout
