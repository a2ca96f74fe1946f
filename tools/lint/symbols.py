#!/usr/bin/env python3
"""tools/lint/symbols.py: symbol consistency (STYLE.md 10.2 and 10.4), for both libraries.

Each library has the folders that define its symbols and its version script:
  libpflight      core/ shm/ net/   core/libpflight.map
  libpflight-ctl  ctl/              ctl/libpflight-ctl.map
For each, three sets must be equal:
  - non-static function definitions named pf_* in its folders' *.c;
  - pf_* functions declared in include/pflight/*.h and *.h.in (static inline ones are
    not library symbols and are left out);
  - the global names of its map (every version node but PF_PRIVATE).
A name defined in one library's folders and listed in the other's map is reported too.

The PF_PRIVATE node of core/libpflight.map lists what libpflight lends libpflight-ctl
(not API): pf_private_<name> for each declaration marked PF_PRIVATE_EXPORT(name) in a
private header of core/ shm/ net/, and nothing else. No other library lends, and no
public header.

Each mismatch is reported once per symbol, at the place it does appear, naming the
places it is missing from.

With --shared-lib PATH, also compares the symbols PATH exports
(`nm -D --defined-only`) with every node of --map (default core/libpflight.map).
--skip-sources leaves out the source check (so a second meson test can check only the
built library). --nm sets the nm program (default: $NM or nm).

Usage: symbols.py SOURCE_ROOT [--shared-lib PATH [--map MAP] [--skip-sources]] [--nm NM]
Prints path:line: reason per finding; exits 1 on any finding, 0 otherwise, 77 when
--shared-lib is given and nm is missing.
"""
import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
import lintlib  # noqa: E402

HEADER_DIR = "include/pflight"
# (library, folders defining its symbols, version script)
LIBS = [
    ("libpflight", ["core", "shm", "net"], "core/libpflight.map"),
    ("libpflight-ctl", ["ctl"], "ctl/libpflight-ctl.map"),
]
PRIVATE_NODE = "PF_PRIVATE"
PRIVATE_PREFIX = "pf_private_"
PRIVATE_MACRO = re.compile(r"\bPF_PRIVATE_EXPORT\s*\(\s*(\w+)\s*\)")


def dirs_text(dirs):
    return " ".join(d + "/" for d in dirs)


def definitions(root, dirs):
    out = {}
    for rel, path in lintlib.iter_files(root, dirs, (".c",)):
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


def lent(root, dirs):
    """{name: "path:line"} of the PF_PRIVATE_EXPORT(name) marks in dirs' sources."""
    out = {}
    for rel, path in lintlib.iter_files(root, dirs, (".h", ".h.in", ".c")):
        src = lintlib.read_source(path)
        for m in PRIVATE_MACRO.finditer(src.code_no_pp()):
            out.setdefault(m.group(1), f"{rel}:{src.line_of(m.start())}")
    return out


def map_nodes(root, mapfile):
    """{node: {name: "MAP:line"}} of the names under each node's global: section, or None."""
    try:
        src = lintlib.read_source(f"{root}/{mapfile}")
    except OSError:
        return None
    nodes, node, section = {}, None, None
    for lineno, line in enumerate(src.code.split("\n"), 1):
        line = line.split("#", 1)[0]
        for tok in re.findall(r"[\w.]+\s*\{|[\w.*?]+:|[\w*?]+\s*;|[{}]", line):
            if tok.endswith("{") and len(tok) > 1:
                node, section = tok[:-1].strip(), None
                nodes.setdefault(node, {})
            elif tok.endswith(":"):
                section = tok[:-1]
            elif tok in "{}":
                section = None if tok == "}" else section
            elif section == "global" and node is not None:
                nodes[node].setdefault(tok.rstrip("; \t"), f"{mapfile}:{lineno}")
    return nodes


def map_globals(root, mapfile, private=True):
    nodes = map_nodes(root, mapfile)
    if nodes is None:
        return None
    out = {}
    for node, names in nodes.items():
        if private or node != PRIVATE_NODE:
            for name, where in names.items():
                out.setdefault(name, where)
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


def split_where(where):
    path, line = where.rsplit(":", 1)
    return path, int(line)


class Lib:
    def __init__(self, root, name, dirs, mapfile):
        self.name, self.dirs, self.map = name, dirs, mapfile
        self.present = (pathlib.Path(root, mapfile).is_file()
                        or any(pathlib.Path(root, d).is_dir() for d in dirs))
        self.defs = definitions(root, dirs)
        self.nodes = map_nodes(root, mapfile)
        self.listed = map_globals(root, mapfile, private=False) or {}


def check_symbol(name, libs, decls):
    """The finding for one name, or None."""
    owners = [lib for lib in libs if name in lib.defs]
    if len(owners) > 1:
        path, line = split_where(owners[1].defs[name])
        return (path, line, f"{name} is defined here and at {owners[0].defs[name]}: "
                            "one library each")
    owner = owners[0] if owners else next((lib for lib in libs if name in lib.listed), None)
    if owner is None:
        path, line = split_where(decls[name])
        return (path, line, f"{name} is declared here, but not defined (non-static) in "
                + dirs_text([d for lib in libs for d in lib.dirs]) + " and not listed in "
                + " or ".join(lib.map for lib in libs))
    for other in libs:
        if other is not owner and name in other.listed:
            path, line = split_where(other.listed[name])
            return (path, line, f"{name} is listed here, but {owner.name} has it "
                                f"({', '.join(owner.dirs)}): list it in {owner.map}")
    places = [
        (f"defined (non-static) in {dirs_text(owner.dirs)}", owner.defs),
        (f"declared in {HEADER_DIR}/", decls),
        (f"listed in {owner.map}", owner.listed),
    ]
    verbs = {0: "defined", 1: "declared", 2: "listed"}
    have = [i for i, (_, s) in enumerate(places) if name in s]
    missing = [places[i][0] for i in range(3) if i not in have]
    if not missing:
        return None
    path, line = split_where(places[have[0]][1][name])
    also = "".join(f"; also {verbs[i]} at {places[i][1][name]}" for i in have[1:])
    return (path, line, f"{name} is {verbs[have[0]]} here{also}, but not "
                        + " and not ".join(missing))


def check_private(root, libs):
    """The PF_PRIVATE node against the PF_PRIVATE_EXPORT marks."""
    findings = []
    for name, where in sorted(lent(root, [HEADER_DIR]).items()):
        findings.append((*split_where(where), f"{name}: a public header lends nothing "
                                              "(PF_PRIVATE_EXPORT is for private headers)"))
    for lib in libs:
        marks = lent(root, lib.dirs)
        node = (lib.nodes or {}).get(PRIVATE_NODE, {})
        if not node and marks and lib is not libs[0]:
            for name, where in sorted(marks.items()):
                findings.append((*split_where(where), f"{name}: only libpflight lends "
                                                      "(PF_PRIVATE_EXPORT)"))
            continue
        for sym, where in sorted(node.items()):
            name = sym[len(PRIVATE_PREFIX):]
            if not sym.startswith(PRIVATE_PREFIX):
                findings.append((*split_where(where), f"{sym} is listed in {PRIVATE_NODE} "
                                                      f"but is not {PRIVATE_PREFIX}<name>"))
            elif name not in marks:
                findings.append((*split_where(where), f"{sym} is listed here, but no private "
                                 f"header of {dirs_text(lib.dirs)} marks {name} with "
                                 f"PF_PRIVATE_EXPORT({name})"))
        for name, where in sorted(marks.items()):
            if PRIVATE_PREFIX + name not in node:
                findings.append((*split_where(where), f"{name} is lent here "
                                 f"(PF_PRIVATE_EXPORT), but {PRIVATE_PREFIX}{name} is not "
                                 f"listed in the {PRIVATE_NODE} node of {lib.map}"))
    return findings


def check_sources(root):
    libs = [Lib(root, *spec) for spec in LIBS]
    libs = [lib for lib in libs if lib.present or lib is libs[0]]
    findings = [(lib.map, 1, "missing or unreadable version script")
                for lib in libs if lib.nodes is None]
    if findings:
        return findings
    decls = declarations(root)
    names = set(decls)
    for lib in libs:
        names |= set(lib.defs) | set(lib.listed)
    for name in sorted(names):
        f = check_symbol(name, libs, decls)
        if f is not None:
            findings.append(f)
    return findings + check_private(root, libs)


def check_shared_lib(root, lib, nm, mapfile):
    names = exported(lib, nm)
    if names is None:
        return None
    mapped = map_globals(root, mapfile) or {}
    findings = []
    for name in sorted(names - set(mapped)):
        findings.append((lib, 0, f"{name} is exported but not listed in {mapfile}"))
    for name in sorted(set(mapped) - names):
        path, line = split_where(mapped[name])
        findings.append((path, line, f"{name} is listed here but not exported by {lib}"))
    return findings


def main(argv):
    ap = argparse.ArgumentParser(description="pf_* definitions == public headers == maps")
    ap.add_argument("root")
    ap.add_argument("--shared-lib")
    ap.add_argument("--map", default=LIBS[0][2])
    ap.add_argument("--skip-sources", action="store_true")
    ap.add_argument("--nm", default=os.environ.get("NM", "nm"))
    args = ap.parse_args(argv[1:])

    findings = [] if args.skip_sources else check_sources(args.root)
    if args.shared_lib:
        if shutil.which(args.nm) is None:
            print(f"symbols.py: {args.nm} not found; cannot check {args.shared_lib}")
            return 77 if not findings else 1
        lib_findings = check_shared_lib(args.root, args.shared_lib, args.nm, args.map)
        if lib_findings is None:
            findings.append((args.shared_lib, 0, f"{args.nm} -D --defined-only failed"))
        else:
            findings += lib_findings
    for path, line, why in sorted(findings):
        print(f"{path}:{line}: {why}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
