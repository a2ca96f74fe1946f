#!/usr/bin/env python3
"""tools/lint/owner_words.py: one invariant, one module (STYLE.md 10.3a).

A shared word that guards an invariant has exactly one file that writes it, with named
transitions; everyone else reads it and calls them. This checker finds every write to
such a word outside its file: an atomic write through shm/pf_atomic.h (pf_store_*,
pf_cas_*, pf_fetch_*, pf_xchg_*) whose target is the word, or a plain assignment
to it. Reads (pf_load_*) are free.

Guarded words (how the code names them, the only file that may write it):
  VNode ownership word     d->own[id]                          core/ownership.c
  checkpoint descriptor    d->vnodes[id].ckpt, v->ckpt (atomic)  core/ownership.c
  move request             d->vnodes[id].move_req, v->move_req  core/rebalance.c
(d->ckpt, the arena's base in the process-local handle, is not the descriptor: only an
atomic write can reach the descriptor, which is _Atomic.)

Usage: owner_words.py SOURCE_ROOT
Prints path:line: reason per finding; exits 1 on any finding, 0 otherwise.
"""
import re
import sys

sys.dont_write_bytecode = True
import lintlib  # noqa: E402

SCAN_DIRS = ["shm", "core", "net", "tools", "include"]

# (name, lvalue pattern for atomic writes, lvalue pattern for plain assignment, owner)
WORDS = [
    ("the VNode ownership word", re.compile(r"(\.|->)\s*own\s*\[[^\]]*\]$"),
     re.compile(r"(\.|->)\s*own\s*\[[^\]]*\]$"), "core/ownership.c"),
    ("the checkpoint descriptor", re.compile(r"(\.|->)\s*ckpt$"),
     re.compile(r"vnodes\s*\[[^\]]*\]\s*\.\s*ckpt$"), "core/ownership.c"),
    ("the move request", re.compile(r"(\.|->)\s*move_req$"),
     re.compile(r"(\.|->)\s*move_req$"), "core/rebalance.c"),
]

WRITE_CALL = re.compile(r"\bpf_(?:store|cas|fetch|xchg)\w*\s*\(\s*&")
ASSIGN = re.compile(r"(?<![=!<>+\-*/%&|^])=(?!=)")


def first_arg(code, start):
    """The text of the call argument starting at offset start, up to its top-level ','."""
    depth, i = 0, start
    while i < len(code):
        c = code[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                break
            depth -= 1
        elif c == "," and depth == 0:
            break
        i += 1
    return code[start:i]


def guarded(lvalue, assign):
    text = " ".join(lvalue.split()).strip()
    for name, atomic, plain, owner in WORDS:
        if (plain if assign else atomic).search(text):
            return name, owner
    return None


def check_file(rel, path):
    src = lintlib.read_source(path)
    code = src.code_no_pp()
    findings = []
    for m in WRITE_CALL.finditer(code):
        hit = guarded(first_arg(code, m.end()), False)
        if hit and rel != hit[1]:
            findings.append((src.line_of(m.start()),
                             f"writes {hit[0]}; only {hit[1]} may (call its transitions)"))
    for lineno, line in enumerate(code.split("\n"), 1):
        m = ASSIGN.search(line)
        if not m:
            continue
        hit = guarded(line[:m.start()], True)
        if hit and rel != hit[1]:
            findings.append((lineno, f"assigns {hit[0]}; only {hit[1]} may"))
    return sorted(findings)


def main(argv):
    return lintlib.run_per_file(argv, __doc__, SCAN_DIRS, check_file)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
