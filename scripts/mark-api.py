#!/usr/bin/env python3
"""Marks every function declared in include/agent_auth.h with AA_API.

Run after adding declarations: `scripts/mark-api.py` (idempotent). The symbol
check (tests/cli/test_abi.sh) fails when a declared function is not exported.
"""
import pathlib
import re
import sys

path = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else
                    pathlib.Path(__file__).resolve().parent.parent /
                    "include/agent_auth.h")
decl = re.compile(r"^(?!typedef|AA_API|#|/\*| )[A-Za-z_][A-Za-z0-9_ \*]*\baa_[a-z0-9_]+\(")
out = []
for line in path.read_text().splitlines(keepends=True):
    out.append("AA_API " + line if decl.match(line) else line)
path.write_text("".join(out))
