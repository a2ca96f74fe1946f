"""tools/lint/lintlib.py: what the lint scripts share (file walking, a small C lexer).

Not a checker itself. The lexer is deliberately small: it knows comments, string and
character literals, preprocessor lines and braces, which is all the checkers need to
avoid false findings in comments ("volatile" in prose), in strings ("http://x") and in
macro definitions.
"""
import bisect
import pathlib
import re
import sys

SKIP_DIR_NAMES = {"node_modules", "subprojects", ".git"}


def skipped_dir(name: str) -> bool:
    return name in SKIP_DIR_NAMES or name.startswith("build")


def iter_files(root, dirs, suffixes, exclude=()):
    """Yield (relative posix path, pathlib.Path) under root/dir for dir in dirs, sorted.

    Directories named build* or node_modules are skipped at any depth. suffixes are
    matched against the end of the file name (".c", ".h", ".h.in").
    """
    base = pathlib.Path(root)
    seen = set()
    for d in dirs:
        top = base / d
        if not top.is_dir():
            continue
        for path in sorted(top.rglob("*")):
            if not path.is_file():
                continue
            rel = path.relative_to(base)
            if any(skipped_dir(part) for part in rel.parts[:-1]):
                continue
            if not path.name.endswith(tuple(suffixes)):
                continue
            relp = rel.as_posix()
            if relp in exclude or relp in seen:
                continue
            seen.add(relp)
            yield relp, path


def run_per_file(argv, doc, dirs, check_file):
    """The main() of a checker that judges each C file alone: argv is [prog, SOURCE_ROOT];
    check_file(rel, path) returns [(line, reason)]. Prints path:line: reason per finding;
    returns 1 on any finding, 0 otherwise, 2 on bad usage (with doc)."""
    if len(argv) != 2:
        print(doc.strip(), file=sys.stderr)
        return 2
    bad = 0
    for rel, path in iter_files(argv[1], dirs, (".c", ".h")):
        for lineno, why in check_file(rel, path):
            print(f"{rel}:{lineno}: {why}")
            bad += 1
    return 1 if bad else 0


class Comment:
    __slots__ = ("start", "end", "line", "end_line", "text", "kind")

    def __init__(self, start, end, line, end_line, text, kind):
        self.start, self.end = start, end          # offsets in the source
        self.line, self.end_line = line, end_line  # 1-based lines
        self.text, self.kind = text, kind          # kind: "//" or "/*"


class Source:
    """A C file split into code and comments.

    code: the text with every comment and every literal's contents replaced by spaces
    (newlines kept, quotes kept), so offsets and line numbers match the original.
    comments: the list of Comment, in order.
    """

    def __init__(self, text: str):
        self.text = text
        self.code, self.comments = _lex(text)
        self._nl = [i for i, c in enumerate(text) if c == "\n"]

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self._nl, offset - 1) + 1 if offset > 0 else 1

    def code_lines(self):
        return self.code.split("\n")

    def code_no_pp(self) -> str:
        """code with preprocessor directives (and their continuation lines) blanked."""
        out, cont = [], False
        for line in self.code.split("\n"):
            if cont or line.lstrip().startswith("#"):
                cont = line.rstrip().endswith("\\")
                out.append(" " * len(line))
            else:
                cont = False
                out.append(line)
        return "\n".join(out)


def read_source(path) -> Source:
    return Source(pathlib.Path(path).read_text(encoding="utf-8", errors="replace"))


def _lex(text):
    code = list(text)
    comments = []
    i, n = 0, len(text)
    line = 1

    def blank(a, b):
        for k in range(a, b):
            if code[k] != "\n":
                code[k] = " "

    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c == "/" and i + 1 < n and text[i + 1] == "*":
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            end_line = line + text.count("\n", i, j)
            comments.append(Comment(i, j, line, end_line, text[i:j], "/*"))
            blank(i, j)
            line, i = end_line, j
        elif c == "/" and i + 1 < n and text[i + 1] == "/":
            j = i + 2
            while j < n and text[j] != "\n":
                if text[j] == "\\" and j + 1 < n and text[j + 1] == "\n":
                    j += 2  # a backslash-newline continues a // comment
                    continue
                j += 1
            end_line = line + text.count("\n", i, j)
            comments.append(Comment(i, j, line, end_line, text[i:j], "//"))
            blank(i, j)
            line, i = end_line, j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j, n)
            blank(i + 1, j)  # keep both quotes, blank the contents
            line += text.count("\n", i, j)
            i = j + 1
        else:
            i += 1
    return "".join(code), comments


_ATTR = re.compile(r"__attribute__\s*\(")
_KEYWORDS = {"if", "while", "for", "switch", "return", "sizeof", "do", "else", "_Static_assert",
             "_Generic", "_Alignas", "alignas", "defined", "__typeof__", "typeof"}
_HEAD = re.compile(r"^(?P<spec>[^()]*?)\b(?P<name>[A-Za-z_]\w*)\s*\((?P<params>.*)\)\s*$", re.S)


def _strip_attributes(s: str) -> str:
    while True:
        m = _ATTR.search(s)
        if not m:
            return s
        depth, k = 0, m.end() - 1
        while k < len(s):
            if s[k] == "(":
                depth += 1
            elif s[k] == ")":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        s = s[:m.start()] + " " * (k + 1 - m.start()) + s[k + 1:]


class Func:
    __slots__ = ("name", "spec", "is_static", "name_line", "open_line", "close_line")

    def __init__(self, name, spec, name_line, open_line, close_line):
        self.name, self.spec = name, spec
        self.is_static = re.search(r"\bstatic\b", spec) is not None
        self.name_line, self.open_line, self.close_line = name_line, open_line, close_line

    @property
    def lines(self) -> int:
        return self.close_line - self.open_line + 1


def _parse_head(head: str):
    head = _strip_attributes(head)
    if "=" in head or re.search(r"\btypedef\b", head):
        return None
    m = _HEAD.match(head)
    if not m or m.group("name") in _KEYWORDS:
        return None
    # A parameter list has balanced parentheses; "int f(x) (y)" or a function pointer
    # declarator ("void (*f)(void)") is not a plain declaration of a named function.
    params = m.group("params")
    depth = 0
    for ch in params:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            return None
    if depth:
        return None
    return m


def top_level(src: Source):
    """Top-level function definitions and declarations of a Source.

    Returns (definitions, declarations): lists of Func (declarations have
    open_line = close_line = the line of the ';'). extern "C" { } blocks are transparent;
    preprocessor lines are ignored.
    """
    code = src.code_no_pp()
    defs, decls = [], []
    stack = []  # "t": transparent (extern "C"), "b": a real block
    depth = 0
    chunk_start = 0
    open_at = head = None
    for i, c in enumerate(code):
        if c == "{":
            if depth == 0:
                h = code[chunk_start:i]
                if re.search(r'\bextern\s*"[^"\n]*"\s*$', h):
                    stack.append("t")
                    chunk_start = i + 1
                    continue
                open_at, head, head_start = i, h, chunk_start
            stack.append("b")
            depth += 1
        elif c == "}":
            kind = stack.pop() if stack else "b"
            if kind == "t":
                chunk_start = i + 1
                continue
            depth = max(depth - 1, 0)
            if depth == 0 and head is not None:
                m = _parse_head(head)
                if m:
                    defs.append(Func(m.group("name"), m.group("spec"),
                                     src.line_of(head_start + m.start("name")),
                                     src.line_of(open_at), src.line_of(i)))
                head = None
                chunk_start = i + 1
        elif c == ";" and depth == 0:
            m = _parse_head(code[chunk_start:i])
            if m:
                ln = src.line_of(chunk_start + m.start("name"))
                decls.append(Func(m.group("name"), m.group("spec"), ln, ln, ln))
            chunk_start = i + 1
    return defs, decls
