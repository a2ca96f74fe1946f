#!/usr/bin/env python3
"""tools/lint/func_length.py: the function-length ratchet (STYLE.md 10.1).

A function in shm/ core/ net/ tools/ (*.c) may be at most MAX (70) lines, counted from
the line of its opening brace to the line of its closing brace. Longer ones must be
listed in the allow file (default tools/lint/func_length_allow.txt) as
`path:function:lines`, and a listed function may not grow. A listed function that
shrank or vanished is a note asking to lower or drop its entry, not a failure.

Usage: func_length.py SOURCE_ROOT [--allow FILE] [--max N] [--update]
  --update  rewrite the allow file from the current tree (then review the diff).
Prints path:line: reason per finding; exits 1 on any finding, 0 otherwise.
"""
import argparse
import pathlib
import sys

sys.dont_write_bytecode = True
import lintlib  # noqa: E402

SCAN_DIRS = ["shm", "core", "net", "ctl", "tools"]
DEFAULT_ALLOW = "tools/lint/func_length_allow.txt"
HEADER = """\
# Functions longer than the limit that existed when the ratchet started (STYLE.md 10.1).
# Format: path:function:lines. An entry may only go down; remove it once the function is
# short enough. Regenerate with: tools/lint/func_length.py <root> --update
"""


def measure(root):
    """{(path, function): (lines, line of its name)} for every function definition."""
    out = {}
    for rel, path in lintlib.iter_files(root, SCAN_DIRS, (".c",)):
        defs, _ = lintlib.top_level(lintlib.read_source(path))
        for f in defs:
            key = (rel, f.name)
            # The same static name twice in one file (#if branches): keep the longest.
            if key not in out or f.lines > out[key][0]:
                out[key] = (f.lines, f.name_line)
    return out


def read_allow(path):
    """({(path, function): lines}, [(lineno, bad line)])."""
    allow, bad = {}, []
    if not path.exists():
        return allow, bad
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.rsplit(":", 2)
        if len(parts) != 3 or not parts[2].isdigit():
            bad.append((lineno, line))
            continue
        allow[(parts[0], parts[1])] = int(parts[2])
    return allow, bad


def main(argv):
    ap = argparse.ArgumentParser(description="function-length ratchet")
    ap.add_argument("root")
    ap.add_argument("--allow", help=f"allow file (default ROOT/{DEFAULT_ALLOW})")
    ap.add_argument("--max", type=int, default=70)
    ap.add_argument("--update", action="store_true")
    args = ap.parse_args(argv[1:])

    allow_path = pathlib.Path(args.allow or pathlib.Path(args.root) / DEFAULT_ALLOW)
    allow_rel = args.allow or DEFAULT_ALLOW
    sizes = measure(args.root)
    long_ones = {k: v for k, v in sizes.items() if v[0] > args.max}

    if args.update:
        body = "".join(f"{p}:{fn}:{n}\n" for (p, fn), (n, _) in sorted(long_ones.items()))
        allow_path.parent.mkdir(parents=True, exist_ok=True)
        allow_path.write_text(HEADER + body)
        print(f"{allow_rel}: {len(long_ones)} entries written")
        return 0

    allow, bad = read_allow(allow_path)
    failures, notes = [], []
    for lineno, line in bad:
        failures.append((allow_rel, lineno, f"malformed entry {line!r}; want path:function:lines"))
    for (p, fn), (n, line) in sorted(long_ones.items()):
        if (p, fn) not in allow:
            failures.append((p, line, f"{fn}() is {n} lines (limit {args.max}); split it "
                                      f"(new long functions are not allowed)"))
        elif n > allow[(p, fn)]:
            failures.append((p, line, f"{fn}() grew to {n} lines (allowed {allow[(p, fn)]} by "
                                      f"{allow_rel}); listed functions may only shrink"))
        elif n < allow[(p, fn)]:
            notes.append((p, line, f"note: {fn}() shrank to {n} lines; lower its entry in "
                                   f"{allow_rel} from {allow[(p, fn)]} to {n}"))
    for (p, fn), n in sorted(allow.items()):
        if (p, fn) in long_ones:
            continue
        if (p, fn) in sizes:
            n_now, line = sizes[(p, fn)]
            notes.append((p, line, f"note: {fn}() is now {n_now} lines (limit {args.max}); "
                                   f"remove its entry from {allow_rel}"))
        else:
            notes.append((allow_rel, 0, f"note: {p}:{fn} no longer exists; remove its entry"))
    for p, line, why in failures + notes:
        print(f"{p}:{line}: {why}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
