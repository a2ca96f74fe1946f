#!/usr/bin/env python3
"""tools/lint/security_refs.py: every test docs/security.md names exists.

The threat model says of every claim which test checks it. A claim whose test was
renamed or removed would still read as checked, so this lint holds the document to the
tree: each path under tests/ it names (a glob such as tests/fuzz/api/400-*-nul.http
must match at least one file), and each test named in backticks, `test_...` or a bare
case name given right after the file that holds it (test_x.c `case`), must be a
function defined in tests/ (in that file, when one is given).

Usage: security_refs.py SOURCE_ROOT [--doc FILE]   (paths from the root)
Prints path:line: reason per finding; exits 1 on any finding, 0 otherwise.
"""
import argparse
import pathlib
import re
import sys

DEFAULT_DOC = "docs/security.md"
PATH = re.compile(r"\btests/[\w./*-]+")
TICKED = re.compile(r"`([^`]+)`")
IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
# A test file named on its own (test_x.c), the cases in backticks after it belong to it.
FILE_NAME = re.compile(r"\b(test_\w+\.c)\b")
DEF = re.compile(r"^(?:static\s+)?void\s+(\w+)\s*\(", re.M)


def functions(root):
    """{file name: set of functions defined there} over tests/."""
    out = {}
    for p in (root / "tests").rglob("*.c"):
        if "node_modules" in p.parts:
            continue
        out.setdefault(p.name, set()).update(DEF.findall(p.read_text(errors="replace")))
    return out


def check(root, doc):
    text = (root / doc).read_text()
    defs = functions(root)
    every = set().union(*defs.values()) if defs else set()
    findings = []
    for n, line in enumerate(text.splitlines(), 1):
        for m in PATH.finditer(line):
            ref = m.group(0).rstrip(".,;:)")
            if not any(root.glob(ref)):
                findings.append((n, f"{ref}: no such file under the tree"))
        # The file a bare case name belongs to: the last test file named before it.
        files = [(m.start(), m.group(1)) for m in FILE_NAME.finditer(line)]
        for m in TICKED.finditer(line):
            name = m.group(1).rstrip("()")
            if not IDENT.match(name):
                continue
            owner = [f for pos, f in files if pos < m.start()]
            if name.startswith("test_"):
                if name not in every:
                    findings.append((n, f"`{name}`: no such test function in tests/"))
            elif owner and line[max(0, m.start() - 40):m.start()].rstrip().endswith(
                    (owner[-1], ",", "and", owner[-1] + "`")):
                if name not in defs.get(owner[-1], set()):
                    findings.append((n, f"`{name}`: not a function of {owner[-1]}"))
    return findings


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--doc", default=DEFAULT_DOC)
    a = ap.parse_args()
    root = pathlib.Path(a.root)
    if not (root / a.doc).exists():
        print(f"{a.doc}:1: the threat model is missing")
        return 1
    findings = check(root, a.doc)
    for n, why in findings:
        print(f"{a.doc}:{n}: {why}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
