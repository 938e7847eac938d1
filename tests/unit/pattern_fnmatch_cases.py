#!/usr/bin/env python3
"""Prints the cases of pattern_fnmatch_cases.inc: random globs over UTF-8
characters, classes and ranges, with strings, and what Python's
fnmatch.fnmatchcase (the reference) answers. Usage:
    python3 pattern_fnmatch_cases.py > body   (then keep the .inc header)"""
import fnmatch
import random
import re

random.seed(14)
toks = ["a", "b", "é", "€", "😀", "*", "?", "[ab]", "[!a]", "[a-é]",
        "[é-😀]", "[!é]", "[]a]", "[z-a]", "[!z-a]", "[a-]", "[--a]", "[",
        "]", "-", "!", "[é]", "[!😀€]", "??"]
chars = ["a", "b", "c", "é", "ê", "€", "😀", "-", "]", "[", "!", "z"]


def pattern():
    return "".join(random.choice(toks) for _ in range(random.randint(1, 4)))


def string():
    return "".join(random.choice(chars) for _ in range(random.randint(0, 5)))


def matching(p):
    """A string p matches, if 200 tries find one."""
    rx = re.compile(fnmatch.translate(p))
    for _ in range(200):
        s = string()
        if rx.match(s):
            return s
    return None


cases = set()
while len(cases) < 600:
    cases.add((pattern(), string()))
extra = set()
while len(extra) < 400:
    p = pattern()
    s = matching(p)
    if s is not None:
        extra.add((p, s))


def c(s):
    out = '"'
    for b in s.encode():
        if b < 0x80 and chr(b) not in '"\\?':
            out += chr(b)
        else:
            out += '\\x%02x""' % b
    return out + '"'


for p, s in sorted(cases | extra):
    print("    {%s, %s, %d}," % (c(p), c(s), int(fnmatch.fnmatchcase(s, p))))
