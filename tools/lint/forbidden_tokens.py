#!/usr/bin/env python3
"""tools/lint/forbidden_tokens.py: fail on synchronisation or libc idioms the style bans.

STYLE.md 10.1 (no // comments), 10.6 MO-1/MO-6 (atomics only through shm/pf_atomic.h)
and 10.13 (unsafe libc calls). Comments and string/char literals are not searched for
tokens, so prose and "http://x" are fine; a // comment is reported wherever it starts
outside a string, a character literal or a /* */ comment.

Usage: forbidden_tokens.py SOURCE_ROOT
Prints path:line: reason per finding; exits 1 on any finding, 0 otherwise.
"""
import re
import sys

sys.dont_write_bytecode = True
import lintlib  # noqa: E402

SCAN_DIRS = ["include", "shm", "core", "net", "ctl", "tools", "tests", "bench"]
ATOMIC_HEADER = "shm/pf_atomic.h"

ATOMIC_RULES = [
    (re.compile(r"\bvolatile\b"), "volatile is not synchronisation; use shm/pf_atomic.h"),
    (re.compile(r"\b__sync_\w+"), "legacy __sync builtin; use shm/pf_atomic.h"),
    (re.compile(r"\b__atomic_\w+"), "raw __atomic builtin; use shm/pf_atomic.h"),
    (re.compile(r"\bmemory_order_\w+"), "memory_order_* outside shm/pf_atomic.h"),
    (re.compile(r"#\s*include\s*<stdatomic\.h>"),
     "<stdatomic.h> included outside shm/pf_atomic.h; include shm/pf_atomic.h"),
]
LIBC_RULE = re.compile(r"\b(strcpy|strcat|sprintf|atoi|atol|strtok)\s*\(")
LIBC_WHY = {
    "strcpy": "unbounded copy; use memcpy with a checked length",
    "strcat": "unbounded copy; use memcpy with a checked length",
    "sprintf": "unbounded write; use snprintf",
    "atoi": "no error detection; use strtol/strtoul and check end and errno",
    "atol": "no error detection; use strtol/strtoul and check end and errno",
    "strtok": "hidden global state; use strtok_r or strchr",
}


def check_file(rel, path):
    src = lintlib.read_source(path)
    findings = []
    rules = [] if rel == ATOMIC_HEADER else ATOMIC_RULES
    for lineno, line in enumerate(src.code_lines(), 1):
        for pattern, why in rules:
            m = pattern.search(line)
            if m:
                findings.append((lineno, f"{m.group(0).strip()}: {why}"))
        for m in LIBC_RULE.finditer(line):
            findings.append((lineno, f"{m.group(1)}(): {LIBC_WHY[m.group(1)]}"))
    for c in src.comments:
        if c.kind == "//":
            findings.append((c.line, "// comment; committed comments use /* */ (STYLE 10.1)"))
    return sorted(findings)


def main(argv):
    return lintlib.run_per_file(argv, __doc__, SCAN_DIRS, check_file)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
