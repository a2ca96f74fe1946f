#!/usr/bin/env python3
"""tools/lint/owner_words.py: one invariant, one module (STYLE.md 10.3a).

A shared word that guards an invariant has exactly one file that writes it, with named
transitions; everyone else reads it and calls them. This checker finds every write to
such a word outside its file: an atomic write through shm/pf_atomic.h (pf_store_*,
pf_cas_*, pf_fetch_*, pf_xchg_*) whose target is the word (&word, or base + index), or a
plain assignment to it. Reads (pf_load_*) are free. So that no write hides behind an
alias, taking the word's address (&word, base + index) outside its file is allowed only
as the argument of a pf_load_* call.

Guarded words (how the code names them, the only file that may write it):
  VNode ownership word     d->own[id]                            core/ownership.c
  checkpoint descriptor    d->vnodes[id].ckpt, v->ckpt (atomic)  core/ownership.c
  checkpoint buffer holder d->ckpt_hold[buf]                     core/checkpoint.c
  move request             d->vnodes[id].move_req, v->move_req  core/rebalance.c
(d->ckpt, the arena's base in the process-local handle, is not the descriptor: only an
atomic write can reach the descriptor, which is _Atomic.)

Scanned: the library and everything built on it (shm, core, net, ctl, tools, include,
bench). Not tests/: tests corrupt these words on purpose, to check that readers refuse
what they find. Not the public headers and the example workers (include/, tools/examples/):
they see only the installed API, where the domain is opaque, so a name there (a worker's
own table called `own`) is never the word.

Usage: owner_words.py SOURCE_ROOT
Prints path:line: reason per finding; exits 1 on any finding, 0 otherwise.
"""
import re
import sys

sys.dont_write_bytecode = True
import lintlib  # noqa: E402

SCAN_DIRS = ["shm", "core", "net", "ctl", "tools", "include", "bench"]
# Built from the public headers alone: the domain's layout is out of their reach.
PUBLIC_ONLY = ("include/", "tools/examples/")

# (name, pattern of the address an atomic access takes (after its '&', or base + index),
#  lvalue pattern for plain assignment, owner)
WORDS = [
    ("the VNode ownership word", re.compile(r"(\.|->)\s*own\s*(\[[^\]]*\]$|\+)"),
     re.compile(r"(\.|->)\s*own\s*\[[^\]]*\]$"), "core/ownership.c"),
    ("the checkpoint descriptor", re.compile(r"(\.|->)\s*ckpt$"),
     re.compile(r"vnodes\s*\[[^\]]*\]\s*\.\s*ckpt$"), "core/ownership.c"),
    ("a checkpoint buffer's holder word",
     re.compile(r"(\.|->)\s*ckpt_hold\s*(\[[^\]]*\]$|\+)"),
     re.compile(r"(\.|->)\s*ckpt_hold\s*\[[^\]]*\]$"), "core/checkpoint.c"),
    ("the move request", re.compile(r"(\.|->)\s*move_req$"),
     re.compile(r"(\.|->)\s*move_req$"), "core/rebalance.c"),
]

WRITE_CALL = re.compile(r"\bpf_(?:store|cas|fetch|xchg)\w*\s*\(\s*")
# What precedes the argument of an access call.
LOAD_ARG = re.compile(r"\bpf_load\w*\s*\(\s*$")
WRITE_ARG = re.compile(r"\bpf_(?:store|cas|fetch|xchg)\w*\s*\(\s*$")
# An address: & (unary, then a postfix expression), or a guarded base plus an index.
ADDRESS = re.compile(r"(?<!&)&(?![&=])|(\.|->)\s*(own|ckpt_hold)\s*\+(?![+=])")
# Words after which & takes an address (after any other word it is a bitwise and).
UNARY_AFTER = {"return", "case", "sizeof", "else", "do"}
POSTFIX = re.compile(r"\s*[A-Za-z_]\w*(\s*(->|\.)\s*[A-Za-z_]\w*|\s*\[[^\[\]]*\])*")
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


def operand_start(code, i):
    """Where the postfix expression (a->b.c[i]) that ends at offset i starts."""
    j = i
    while True:
        k = j
        while k > 0 and code[k - 1].isspace():
            k -= 1
        if k > 0 and (code[k - 1].isalnum() or code[k - 1] == "_"):
            while k > 0 and (code[k - 1].isalnum() or code[k - 1] == "_"):
                k -= 1
            j = k
        elif k > 0 and code[k - 1] == "]":
            depth, k = 0, k - 1
            while k > 0:
                depth += {"]": 1, "[": -1}.get(code[k], 0)
                if depth == 0:
                    break
                k -= 1
            j = k
        elif code[max(k - 2, 0):k] == "->":
            j = k - 2
        elif k > 0 and code[k - 1] == ".":
            j = k - 1
        else:
            return j


def unary(code, i):
    """1 if the & at offset i takes an address, 0 if it is a bitwise and."""
    k = i
    while k > 0 and code[k - 1].isspace():
        k -= 1
    if k == 0:
        return 1
    c = code[k - 1]
    if c.isalnum() or c == "_":
        j = k
        while j > 0 and (code[j - 1].isalnum() or code[j - 1] == "_"):
            j -= 1
        return code[j:k] in UNARY_AFTER
    if c == ")":  # a cast, "(type *)&x", or a parenthesised operand
        j = code.rfind("(", 0, k - 1)
        return code[j + 1:k - 1].rstrip().endswith("*")
    return c != "]"


def address_taken(code, m):
    """(offset the address expression starts at, its text) for an ADDRESS match; its text
    is empty for a bitwise and."""
    if m.group(0) == "&":
        if not unary(code, m.start()):
            return m.start(), ""
        p = POSTFIX.match(code, m.end())
        return m.start(), (p.group(0) if p else "").strip()
    start = operand_start(code, m.start())
    return start, code[start:m.end()]


def check_file(rel, path):
    if rel.startswith(PUBLIC_ONLY):
        return []
    src = lintlib.read_source(path)
    code = src.code_no_pp()
    findings = []
    for m in WRITE_CALL.finditer(code):
        arg = first_arg(code, m.end())
        hit = guarded(arg[1:] if arg.startswith("&") else arg, False)
        if hit and rel != hit[1]:
            findings.append((src.line_of(m.start()),
                             f"writes {hit[0]}; only {hit[1]} may (call its transitions)"))
    for m in ADDRESS.finditer(code):
        start, text = address_taken(code, m)
        hit = guarded(text, False)
        if not hit or rel == hit[1]:
            continue
        if LOAD_ARG.search(code, max(start - 80, 0), start) or \
                WRITE_ARG.search(code, max(start - 80, 0), start):
            continue  # a read, or a write reported above
        findings.append((src.line_of(start),
                         f"takes the address of {hit[0]} outside a pf_load_* call; "
                         f"only {hit[1]} may (an alias could write it)"))
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
