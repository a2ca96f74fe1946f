#!/usr/bin/env python3
"""tools/lint/man_commands.py: the pflight man page documents every command it has.

The command table of the CLI (`cli_commands[]` in tools/pflight/help.c) is the one
place a command and its options are declared. docs/pflight.1 must hold, under its
COMMANDS section, a `.SS <name>` subsection for each command, and each option of the
command (the flag that starts a line of its `.options` text, e.g. --limit) must appear
in that subsection. A subsection for a command the table does not have is reported too:
the page would document something that does not exist.

Usage: man_commands.py SOURCE_ROOT [--table FILE] [--man FILE]   (paths from the root)
Prints path:line: reason per finding; exits 1 on any finding, 0 otherwise.
"""
import argparse
import pathlib
import re
import sys

DEFAULT_TABLE = "tools/pflight/help.c"
DEFAULT_MAN = "docs/pflight.1"

TABLE_START = re.compile(r"\bcli_commands\s*\[\s*\]\s*=\s*\{")
FIELD = re.compile(r"\.(\w+)\s*=\s*")
STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "'": "'"}


def unescape(s):
    return re.sub(r"\\(.)", lambda m: ESCAPES.get(m.group(1), m.group(1)), s)


def strings_at(text, pos):
    """The concatenated string literals starting at pos (whitespace between them)."""
    out = []
    while True:
        while pos < len(text) and text[pos] in " \t\n":
            pos += 1
        m = STRING.match(text, pos)
        if not m:
            return "".join(out)
        out.append(unescape(m.group(1)))
        pos = m.end()


def read_table(text):
    """[(name, line, [flags])] in table order, or None when there is no table."""
    start = TABLE_START.search(text)
    if start is None:
        return None
    end = text.find("\n};", start.end())
    body = text[start.end():end if end >= 0 else len(text)]
    base = start.end()
    # Fields are looked for outside string literals (their text may say ".x = y").
    code = STRING.sub(lambda m: '"' + " " * (len(m.group(0)) - 2) + '"', body)
    commands = []
    for m in FIELD.finditer(code):
        field = m.group(1)
        if field == "name":
            line = text.count("\n", 0, base + m.start()) + 1
            commands.append([strings_at(body, m.end()), line, []])
        elif field == "options" and commands:
            for opt in strings_at(body, m.end()).split("\n"):
                flag = opt.split("\t", 1)[0].split(" ", 1)[0]
                if flag:
                    commands[-1][2].append(flag)
    return commands


def plain(roff_line):
    """A roff line as text: font escapes dropped, \\- as -, quotes gone."""
    s = re.sub(r"\\f(\[[^\]]*\]|\(..|.)", "", roff_line)
    s = s.replace("\\-", "-").replace("\\e", "\\").replace("\\&", "")
    return s.replace('"', "")


def read_man(lines):
    """{name: (line, subsection text)} for the .SS entries of the COMMANDS section."""
    sections, in_commands, current = {}, False, None
    for lineno, line in enumerate(lines, 1):
        if line.startswith(".SH"):
            in_commands = plain(line[3:]).strip() == "COMMANDS"
            current = None
            continue
        if not in_commands:
            continue
        if line.startswith(".SS"):
            words = plain(line[3:]).split()
            name = words[0] if words else ""
            current = name
            sections[name] = (lineno, [])
            continue
        if current is not None:
            sections[current][1].append(plain(line))
    return {k: (v[0], "\n".join(v[1])) for k, v in sections.items()}


def check(root, table_rel, man_rel):
    findings = []
    table_path, man_path = pathlib.Path(root) / table_rel, pathlib.Path(root) / man_rel
    try:
        commands = read_table(table_path.read_text())
    except OSError as e:
        return [(table_rel, 1, f"cannot read the command table: {e.strerror}")]
    if not commands:
        return [(table_rel, 1, "no cli_commands[] table with .name entries found")]
    try:
        man = read_man(man_path.read_text().splitlines())
    except OSError as e:
        return [(man_rel, 1, f"cannot read the man page: {e.strerror}")]
    names = {c[0] for c in commands}
    for name, line, flags in commands:
        if name not in man:
            findings.append((table_rel, line, f"command '{name}' is missing from {man_rel} "
                             f"(no '.SS {name}' under COMMANDS)"))
            continue
        ss_line, text = man[name]
        for flag in flags:
            if not re.search(re.escape(flag) + r"(?![\w-])", text):
                findings.append((man_rel, ss_line, f"'.SS {name}' does not mention its "
                                 f"option {flag}"))
    for name, (ss_line, _) in man.items():
        if name not in names:
            findings.append((man_rel, ss_line, f"'.SS {name}' documents a command that "
                             f"{table_rel} does not have"))
    return sorted(findings)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("--table", default=DEFAULT_TABLE)
    ap.add_argument("--man", default=DEFAULT_MAN)
    args = ap.parse_args(argv[1:])
    findings = check(args.root, args.table, args.man)
    for path, line, why in findings:
        print(f"{path}:{line}: {why}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
