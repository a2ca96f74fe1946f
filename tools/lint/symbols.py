#!/usr/bin/env python3
"""tools/lint/symbols.py: symbol consistency (STYLE.md 10.2 and 10.4).

Three sets must be equal:
  - non-static function definitions named pf_* in core/ shm/ net/ *.c;
  - pf_* functions declared in include/pflight/*.h and *.h.in (static inline ones are
    not library symbols and are left out);
  - the global names of core/libpflight.map (every version node).
Each mismatch is reported once per symbol, at the place it does appear, naming the
places it is missing from.

With --shared-lib PATH, also compares the symbols PATH exports
(`nm -D --defined-only`) with the map. --skip-sources leaves out the three-way source
check (so a second meson test can check only the built library). --nm sets the nm
program (default: $NM or nm).

Usage: symbols.py SOURCE_ROOT [--shared-lib PATH [--skip-sources]] [--nm NM]
Prints path:line: reason per finding; exits 1 on any finding, 0 otherwise, 77 when
--shared-lib is given and nm is missing.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
import lintlib  # noqa: E402

DEF_DIRS = ["core", "shm", "net"]
HEADER_DIR = "include/pflight"
MAP = "core/libpflight.map"


def definitions(root):
    out = {}
    for rel, path in lintlib.iter_files(root, DEF_DIRS, (".c",)):
        defs, _ = lintlib.top_level(lintlib.read_source(path))
        for f in defs:
            if f.name.startswith("pf_") and not f.is_static:
                out.setdefault(f.name, f"{rel}:{f.name_line}")
    return out


def declarations(root):
    out = {}
    for rel, path in lintlib.iter_files(root, [HEADER_DIR], (".h", ".h.in")):
        defs, decls = lintlib.top_level(lintlib.read_source(path))
        for f in decls + defs:
            if f.name.startswith("pf_") and not f.is_static:
                out.setdefault(f.name, f"{rel}:{f.name_line}")
    return out


def map_globals(root):
    """{name: "core/libpflight.map:line"} of the names under every global: section."""
    out = {}
    try:
        src = lintlib.read_source(f"{root}/{MAP}")
    except OSError:
        return None
    section = None
    for lineno, line in enumerate(src.code.split("\n"), 1):
        line = line.split("#", 1)[0]
        for tok in re.findall(r"[\w.*?]+:|[\w*?]+\s*;|[{}]", line):
            if tok.endswith(":"):
                section = tok[:-1]
            elif tok in "{}":
                section = None if tok == "}" else section
            elif section == "global":
                out.setdefault(tok.rstrip("; \t"), f"{MAP}:{lineno}")
    return out


def exported(lib, nm):
    """Names of the global symbols a shared library defines, or None if nm failed."""
    try:
        r = subprocess.run([nm, "-D", "--defined-only", lib], capture_output=True, text=True)
    except OSError:
        return None
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        return None
    names = set()
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        kind, name = parts[-2], parts[-1]
        if kind == "A" or not kind.isupper() and kind not in ("u", "i"):
            continue  # version nodes (A) and local symbols
        names.add(name.split("@", 1)[0])
    return names


def check_sources(root):
    defs, decls, mapped = definitions(root), declarations(root), map_globals(root)
    if mapped is None:
        return [(MAP, 1, "missing or unreadable version script")]
    places = [
        ("defined (non-static) in core/ shm/ net/", defs),
        ("declared in include/pflight/", decls),
        (f"listed in {MAP}", mapped),
    ]
    verbs = {0: "defined", 1: "declared", 2: "listed"}
    findings = []
    for name in sorted(set(defs) | set(decls) | set(mapped)):
        have = [i for i, (_, s) in enumerate(places) if name in s]
        missing = [places[i][0] for i in range(3) if i not in have]
        if not missing:
            continue
        where = places[have[0]][1][name]
        path, line = where.rsplit(":", 1)
        also = "".join(f"; also {verbs[i]} at {places[i][1][name]}" for i in have[1:])
        findings.append((path, int(line),
                         f"{name} is {verbs[have[0]]} here{also}, but not "
                         + " and not ".join(missing)))
    return findings


def check_shared_lib(root, lib, nm):
    names = exported(lib, nm)
    if names is None:
        return None
    mapped = map_globals(root) or {}
    findings = []
    for name in sorted(names - set(mapped)):
        findings.append((lib, 0, f"{name} is exported but not listed in {MAP}"))
    for name in sorted(set(mapped) - names):
        path, line = mapped[name].rsplit(":", 1)
        findings.append((path, int(line), f"{name} is listed here but not exported by {lib}"))
    return findings


def main(argv):
    ap = argparse.ArgumentParser(description="pf_* definitions == public headers == map")
    ap.add_argument("root")
    ap.add_argument("--shared-lib")
    ap.add_argument("--skip-sources", action="store_true")
    ap.add_argument("--nm", default=os.environ.get("NM", "nm"))
    args = ap.parse_args(argv[1:])

    findings = [] if args.skip_sources else check_sources(args.root)
    if args.shared_lib:
        if shutil.which(args.nm) is None:
            print(f"symbols.py: {args.nm} not found; cannot check {args.shared_lib}")
            return 77 if not findings else 1
        lib_findings = check_shared_lib(args.root, args.shared_lib, args.nm)
        if lib_findings is None:
            findings.append((args.shared_lib, 0, f"{args.nm} -D --defined-only failed"))
        else:
            findings += lib_findings
    for path, line, why in sorted(findings):
        print(f"{path}:{line}: {why}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
