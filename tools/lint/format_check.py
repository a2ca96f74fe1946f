#!/usr/bin/env python3
"""tools/lint/format_check.py: .clang-format conformance (STYLE.md 10.1).

Runs `clang-format --dry-run -Werror` (style from the .clang-format found above each
file, normally the one at the source root) over *.c and *.h under include shm core net
tools tests bench. *.h.in templates are left out: clang-format splits their @VAR@
placeholders. One finding per file that differs, at its first differing line, with the
number of places.

Usage: format_check.py SOURCE_ROOT [--clang-format PROGRAM]
  PROGRAM defaults to $CLANG_FORMAT, then clang-format, then clang-format-14.
Prints path:line: reason per finding; exits 1 on any finding, 0 otherwise, and 77
(meson: skipped) when clang-format is not installed.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
import lintlib  # noqa: E402

SCAN_DIRS = ["include", "shm", "core", "net", "ctl", "tools", "tests", "bench"]
VIOLATION = re.compile(r"^(?P<path>.*?):(?P<line>\d+):(?P<col>\d+): (?:error|warning): "
                       r"code should be clang-formatted")


def find_clang_format(explicit):
    for cand in [explicit, os.environ.get("CLANG_FORMAT"), "clang-format", "clang-format-14"]:
        if cand and shutil.which(cand):
            return shutil.which(cand)
    return None


def check(cf, path):
    """(first line, places) of clang-format violations in one file, or None if clean."""
    cmd = [cf, "--dry-run", "-Werror", "--style=file", str(path)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    lines = [int(m.group("line")) for m in map(VIOLATION.match, r.stderr.splitlines()) if m]
    if r.returncode == 0 and not lines:
        return None
    if not lines:
        return (0, 0, r.stderr.strip().splitlines()[0] if r.stderr.strip() else "failed")
    return (min(lines), len(lines), None)


def main(argv):
    ap = argparse.ArgumentParser(description="clang-format --dry-run -Werror over the C sources")
    ap.add_argument("root")
    ap.add_argument("--clang-format")
    args = ap.parse_args(argv[1:])
    cf = find_clang_format(args.clang_format)
    if cf is None:
        print("format_check.py: clang-format not found (install clang-format-14); skipping")
        return 77
    bad = 0
    for rel, path in lintlib.iter_files(args.root, SCAN_DIRS, (".c", ".h")):
        res = check(cf, path)
        if res is None:
            continue
        line, places, err = res
        bad += 1
        if err:
            print(f"{rel}:{line}: clang-format failed: {err}")
        else:
            print(f"{rel}:{line}: not clang-format clean ({places} place{'s' * (places > 1)}); "
                  f"`clang-format -i {rel}` fixes it")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
