#!/usr/bin/env python3
"""tools/lint/layers.py: includes point down the layers (ARCHITECTURE.md section 2).

    tools -> ctl -> net -> core -> shm

A file under one of these folders may include ("layer/x.h") the private headers of its
own layer and of the layers below, never of one above: shm/ nothing of core/, core/
nothing of net/, and the worker's library (shm/ core/ net/) nothing of the control plane
(ctl/). Public headers ("pflight/x.h") are the contract and any layer may include them;
they in turn include only each other.

Usage: layers.py SOURCE_ROOT
Prints path:line: reason per finding; exits 1 on any finding, 0 otherwise.
"""
import re
import sys

sys.dont_write_bytecode = True
import lintlib  # noqa: E402

LAYERS = ["shm", "core", "net", "ctl", "tools"]  # bottom first
PUBLIC = "include/pflight"
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
SUFFIXES = (".c", ".h", ".h.in", ".cpp")


def includes(path):
    text = path.read_text(encoding="utf-8", errors="replace")
    for lineno, line in enumerate(text.split("\n"), 1):
        m = INCLUDE.match(line)
        if m:
            yield lineno, m.group(1)


def check(root):
    findings = []
    for rel, path in lintlib.iter_files(root, LAYERS, SUFFIXES):
        layer = rel.split("/", 1)[0]
        rank = LAYERS.index(layer)
        for lineno, inc in includes(path):
            top = inc.split("/", 1)[0] if "/" in inc else None
            if top in LAYERS and LAYERS.index(top) > rank:
                findings.append((rel, lineno, f"{layer}/ includes {inc}: {top}/ is a layer "
                                              f"above (tools -> ctl -> net -> core -> shm)"))
    for rel, path in lintlib.iter_files(root, [PUBLIC], (".h", ".h.in")):
        for lineno, inc in includes(path):
            if not inc.startswith("pflight/"):
                findings.append((rel, lineno, f"public header includes {inc}: only "
                                              "pflight/ headers are installed"))
    return findings


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    findings = check(argv[1])
    for path, line, why in sorted(findings):
        print(f"{path}:{line}: {why}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
