#!/usr/bin/env python3
"""tools/lint/barrier_tags.py: the memory-order comment rule (STYLE.md 10.6, MO-3/4/5).

The atomic macros are read from shm/pf_atomic.h's #defines, so a new macro is covered
without touching this script:
  - ordered (name ends in _acquire, _release, _acq_rel or _seq_cst): the access needs a
    tag comment "[A<n>]", "[R<n>]" or "[F<n>]" that names its partner ("pairs with
    [R<m>]"), and the partner tag must be some access's own tag in the same module
    (shm/, core/, net/, tools/<sub>/) or in include/pflight/ (for an access in
    include/pflight/ itself: in any module);
  - seq_cst: a comment naming the store->load ordering it provides (both words "store"
    and "load", or "Dekker");
  - relaxed (name ends in _relaxed): a comment containing "relaxed" saying why.

Where a comment may be: on the access's line, or ending at most 4 lines above it (those
lines may be earlier lines of the same statement). A tag comment belongs to the first
ordered access after it: a second ordered access on a later line needs its own tag.
A relaxed comment may cover several consecutive accesses. An access's own tags are the
tags written before "pairs with"; its partners, those after. A partner that names its
file ("pairs with [R10] in core/ownership.c", or "in ownership.c") must be an access's
own tag in that file. shm/pf_atomic.h is exempt.

Usage: barrier_tags.py SOURCE_ROOT
Prints path:line: reason per finding; exits 1 on any finding, 0 otherwise.
"""
import re
import sys

sys.dont_write_bytecode = True
import lintlib  # noqa: E402

SCAN_DIRS = ["shm", "core", "net", "ctl", "tools", "include"]
ATOMIC_HEADER = "shm/pf_atomic.h"
WINDOW = 4

TAG = re.compile(r"\[([ARF]\d+)\]")
TAG_IN_FILE = re.compile(r"\[([ARF]\d+)\]\s+in\s+((?:[\w.-]+/)*[\w-]+\.[ch])\b")
PAIRS = re.compile(r"pairs\s+with", re.I)
ORDERED_SUFFIXES = ("_acquire", "_release", "_acq_rel", "_seq_cst")


def atomic_macros(root):
    """(ordered, relaxed) macro names defined by shm/pf_atomic.h, or None if unreadable."""
    try:
        src = lintlib.read_source(f"{root}/{ATOMIC_HEADER}")
    except OSError:
        return None
    names = re.findall(r"^[ \t]*#[ \t]*define[ \t]+(pf_\w+)\(", src.code, re.M)
    ordered = sorted(n for n in names if n.endswith(ORDERED_SUFFIXES))
    relaxed = sorted(n for n in names if n.endswith("_relaxed"))
    return ordered, relaxed


def module_of(rel):
    parts = rel.split("/")
    if parts[0] == "tools" and len(parts) > 2:
        return "tools/" + parts[1]
    return parts[0]


def scope_text(module):
    return "any module" if module == "include" else f"{module}/ or include/pflight/"


def split_tags(text):
    """(own tags, partner tags, (partner, file) pairs naming a file) of a comment."""
    m = PAIRS.search(text)
    if not m:
        return TAG.findall(text), [], []
    after = text[m.end():]
    return TAG.findall(text[:m.start()]), TAG.findall(after), TAG_IN_FILE.findall(after)


def files_named(name, rels):
    """The scanned files a comment's "in <name>" means: that path, or any file of that
    name when it gives none."""
    return [r for r in rels if r == name or ("/" not in name and r.split("/")[-1] == name)]


def scan_file(rel, path, ordered_re, relaxed_re):
    """Accesses of one file: list of dicts with line, macro, kind, comment info."""
    src = lintlib.read_source(path)
    lines = src.code_lines()
    ordered_lines = set()
    calls = []
    for lineno, line in enumerate(lines, 1):
        for m in ordered_re.finditer(line):
            calls.append((lineno, m.group(1), "ordered"))
            ordered_lines.add(lineno)
        for m in relaxed_re.finditer(line):
            calls.append((lineno, m.group(1), "relaxed"))

    def window(lineno):
        """Comments on the line or ending within WINDOW lines above, nearest first."""
        found = [c for c in src.comments
                 if c.line <= lineno and c.end_line >= lineno - WINDOW]
        return sorted(found, key=lambda c: -c.end_line)

    accesses = []
    for lineno, macro, kind in calls:
        acc = {"rel": rel, "line": lineno, "macro": macro, "kind": kind,
               "own": [], "partners": [], "in_file": [], "comment": None, "notes": []}
        near = window(lineno)
        if kind == "relaxed":
            if not any("relaxed" in c.text.lower() for c in near):
                acc["notes"].append(
                    f"{macro}() needs a comment saying why relaxed is enough "
                    f"(containing \"relaxed\") on this line or the {WINDOW} above (MO-4)")
            accesses.append(acc)
            continue
        tag_comment = None
        for c in near:
            if not TAG.search(c.text):
                continue
            if c.end_line < lineno and any(ln in ordered_lines
                                           for ln in range(c.line, lineno)):
                continue  # it belongs to an earlier ordered access
            tag_comment = c
            break
        if tag_comment is None:
            acc["notes"].append(
                f"{macro}() has no [A<n>]/[R<n>]/[F<n>] tag comment on this line or the "
                f"{WINDOW} above (MO-3)")
        else:
            own, partners, in_file = split_tags(tag_comment.text)
            acc["own"], acc["partners"], acc["comment"] = own, partners, tag_comment
            acc["in_file"] = in_file
            if not own:
                acc["notes"].append(
                    f"{macro}(): tag comment at line {tag_comment.line} has no own tag "
                    f"before \"pairs with\" (MO-3)")
            if not partners:
                shown = " ".join(f"[{t}]" for t in own) or "comment"
                acc["notes"].append(
                    f"{macro}(): tag {shown} at line {tag_comment.line} names no partner; "
                    f"write \"pairs with [X<m>] in <function>()\" (MO-3)")
        if macro.endswith("_seq_cst"):
            text = " ".join(c.text.lower() for c in near)
            if not (("store" in text and "load" in text) or "dekker" in text):
                acc["notes"].append(
                    f"{macro}() needs a comment naming the store->load ordering it provides "
                    f"(\"store\" and \"load\", or \"Dekker\") (MO-5)")
        accesses.append(acc)
    return accesses


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    root = argv[1]
    macros = atomic_macros(root)
    if not macros or not macros[0]:
        print(f"{ATOMIC_HEADER}:1: no ordered pf_* atomic macros found to check against")
        return 1
    ordered, relaxed = macros
    ordered_re = re.compile(r"\b(" + "|".join(ordered) + r")\s*\(")
    relaxed_re = re.compile(r"\b(" + "|".join(relaxed or ["pf_no_relaxed_macro"]) + r")\s*\(")

    accesses = []
    for rel, path in lintlib.iter_files(root, SCAN_DIRS, (".c", ".h"), {ATOMIC_HEADER}):
        accesses += scan_file(rel, path, ordered_re, relaxed_re)

    own_by_module = {}
    own_by_file = {}
    for a in accesses:
        own_by_module.setdefault(module_of(a["rel"]), set()).update(a["own"])
        own_by_file.setdefault(a["rel"], set()).update(a["own"])

    findings = []
    for a in accesses:
        for note in a["notes"]:
            findings.append((a["rel"], a["line"], note))
        module = module_of(a["rel"])
        if module == "include":
            # Inline code in a public header pairs with whichever module implements
            # the other side.
            known = set().union(*own_by_module.values())
        else:
            known = own_by_module.get(module, set()) | own_by_module.get("include", set())
        for p in a["partners"]:
            if p not in known:
                findings.append((a["rel"], a["line"],
                                 f"{a['macro']}(): partner [{p}] is not the tag of any access "
                                 f"in {scope_text(module)} (MO-3)"))
        for p, name in a["in_file"]:
            rels = files_named(name, own_by_file)
            if p in known and not any(p in own_by_file[r] for r in rels):
                findings.append((a["rel"], a["line"],
                                 f"{a['macro']}(): partner [{p}] is not the tag of any access "
                                 f"in {name} (MO-3)"))
    for rel, line, why in sorted(set(findings), key=lambda f: (f[0], f[1], f[2])):
        print(f"{rel}:{line}: {why}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
