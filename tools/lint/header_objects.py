#!/usr/bin/env python3
"""tools/lint/header_objects.py: the header self-containment check's test step.

meson compiles one generated translation unit per public header into a static library
per language (tests/headers/one_header.{c,cpp}.in, see tools/lint/meson.build); a header
that does not compile alone fails the build. This test then checks that the archive
really holds one object per header, so a header silently dropped from the list, or an
empty library, does not pass.

Usage: header_objects.py ARCHIVE HEADER...
Prints ARCHIVE:0: reason per finding; exits 1 on any finding, 0 otherwise.
"""
import pathlib
import re
import sys


def members(path):
    """Member names of a System V / GNU ar archive (regular or thin)."""
    data = pathlib.Path(path).read_bytes()
    if data.startswith(b"!<arch>\n"):
        thin = False
    elif data.startswith(b"!<thin>\n"):
        thin = True
    else:
        raise ValueError("not an ar archive")
    pos, names, longnames = 8, [], b""
    while pos + 60 <= len(data):
        hdr = data[pos:pos + 60]
        name = hdr[:16].decode("ascii", "replace").rstrip()
        size = int(hdr[48:58].decode("ascii").strip() or 0)
        pos += 60
        if name == "//":
            longnames = data[pos:pos + size]
        elif name.startswith("/") and name[1:].isdigit():
            off = int(name[1:])
            end = longnames.find(b"/\n", off)
            names.append(longnames[off:end].decode("utf-8", "replace"))
        elif name not in ("/", "/SYM64/"):
            names.append(name.rstrip("/"))
        if name in ("/", "//", "/SYM64/") or not thin:
            pos += size + (size & 1)
    return names


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    archive, headers = argv[1], argv[2:]
    try:
        objs = members(archive)
    except (OSError, ValueError) as e:
        print(f"{archive}:0: cannot read archive: {e}")
        return 1
    bad = 0
    for h in headers:
        stem = "hdr_" + re.sub(r"[^A-Za-z0-9]", "_", pathlib.Path(h).name)
        pat = re.compile(r"(^|[_/])" + re.escape(stem) + r"\.")
        if not any(pat.search(pathlib.Path(o).name) for o in objs):
            print(f"{archive}:0: no object for {h} (expected {stem}.*.o): its "
                  f"self-containment test did not run")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
