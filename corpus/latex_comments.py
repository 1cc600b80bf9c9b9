"""LaTeX comments, removed the way TeX reads them (step 1 of `corpus.latex.clean_latex`).

- `strip_comments`: `%` to end of line (`\\%` is a percent sign, `\\\\%` starts a comment, `%` eats
  the line end so `foo%<newline>bar` is `foobar`; a comment-only line disappears). Verbatim-like
  environments, `\\verb|..|`, `\\lstinline` and `\\url{..}` are left alone;
  `\\begin{comment}..\\end{comment}` is removed.
- `remove_iffalse`: `\\iffalse..\\fi` blocks, the other common way to comment LaTeX out.

`corpus/arxiv.py` applies both per file before it inlines `\\input`s, so a commented-out
`\\input` is never followed.
"""
from __future__ import annotations

import re
from typing import Optional

# Environments whose content TeX reads verbatim: `%` there is text, macros are not expanded.
VERBATIM_ENVS = frozenset(
    {"verbatim", "verbatim*", "Verbatim", "Verbatim*", "lstlisting", "minted", "alltt", "BVerbatim",
     "LVerbatim", "spverbatim", "filecontents", "filecontents*"}
)
# Environments that are comments themselves (the `comment` package).
COMMENT_ENVS = frozenset({"comment"})

CONTROL_WORD = re.compile(r"\\([A-Za-z@]+)")
_SPECIAL = re.compile(r"[%\\\\]")
_BEGIN_ENV = re.compile(r"\\begin\s*\{([^{}]*)\}")


def strip_comments(text: str) -> str:
    """Remove TeX comments the way TeX reads them (see module docstring)."""
    out: list[str] = []
    lines = text.split("\n")
    env_end: Optional[str] = None  # inside a verbatim or comment environment: its `\end{..}`
    env_drop = False
    join_next = False  # the previous kept line ended in an inline comment: TeX eats its newline
    for line in lines:
        if env_end is not None:
            if env_end in line:
                if not env_drop:
                    out.append(line)
                env_end = None
            elif not env_drop:
                out.append(line)
            join_next = False
            continue
        cut, opened = _scan_line(line)
        if opened is not None:
            name, start = opened
            env_end = "\\end{" + name + "}"
            env_drop = name in COMMENT_ENVS
            kept = line[:start] if env_drop else line
            if env_end in line[start:]:  # opened and closed on one line
                if env_drop:
                    kept = line[:start] + line[line.index(env_end, start) + len(env_end):]
                env_end = None
            if kept.strip() or not env_drop:
                _append(out, kept, join_next)
            join_next = False
            continue
        if cut is None:
            _append(out, line, join_next)
            join_next = False
            continue
        before = line[:cut]
        if not before.strip():
            # A comment-only line contributes nothing to TeX (not even a paragraph break).
            continue
        _append(out, before, join_next)
        join_next = True
    return "\n".join(out)


def _append(out: list[str], line: str, join: bool) -> None:
    if join and out and line.strip():
        out[-1] = out[-1] + line.lstrip(" \t")
    else:
        out.append(line)


def _scan_line(line: str) -> tuple[Optional[int], Optional[tuple[str, int]]]:
    """Return (index of the comment `%` or None, (verbatim env opened, its start) or None)."""
    if "%" not in line and "\\begin" not in line:
        return None, None
    i, n = 0, len(line)
    last_close = line.rfind("}")  # a `\\url{` after it has no end: not searched for again
    while i < n:
        special = _SPECIAL.search(line, i)
        if special is None:
            break
        i = special.start()
        if line[i] == "%":
            return i, None
        m = CONTROL_WORD.match(line, i)
        if m is None:  # control symbol: `\%`, `\\`, `\{` ... skip both characters
            i += 2
            continue
        word = m.group(1)
        j = m.end()
        if word in ("verb", "lstinline"):
            if word == "verb" and j < n and line[j] == "*":
                j += 1
            if word == "lstinline" and j < n and line[j] == "[":
                close = line.find("]", j)
                j = close + 1 if close >= 0 else n
            if j < n:
                delim = "}" if line[j] == "{" else line[j]
                close = line.find(delim, j + 1)
                i = close + 1 if close >= 0 else n
                continue
        elif word in ("url", "href") and j < n and line[j] == "{" and j < last_close:
            i = line.find("}", j) + 1
            continue
        elif word == "begin":
            b = _BEGIN_ENV.match(line, i)
            if b is not None and (b.group(1) in VERBATIM_ENVS or b.group(1) in COMMENT_ENVS):
                return None, (b.group(1), i)
        i = j
    return None, None


_IFFALSE = re.compile(r"\\iffalse(?![A-Za-z@])")
# Conditionals that open a block closed by \fi (\iff is a symbol, \ifthenelse a macro).
_IF_TOKEN = re.compile(r"\\(?:(newif)\s*\\if[A-Za-z@]*|(if[A-Za-z@]*|fi)(?![A-Za-z@]))")
_NOT_CONDITIONALS = frozenset({"iff", "ifthenelse", "ifthen"})
MAX_IFFALSE_CHARS = 1 << 20


def remove_iffalse(text: str) -> str:
    """Delete `\\iffalse .. \\fi` blocks (the other common way to comment LaTeX out).

    Nested conditionals are counted so the right `\\fi` closes the block (every `\\if..` is
    matched to its `\\fi` with a stack, in one pass); a block without its `\\fi` within 1 MiB is
    left as written.
    """
    if _IFFALSE.search(text) is None:
        return text
    closing: dict[int, int] = {}  # start of an \iffalse -> end of its \fi
    stack: list[tuple[int, bool]] = []
    for tok in _IF_TOKEN.finditer(text):
        word = tok.group(2)
        if tok.group(1) or word in _NOT_CONDITIONALS:
            continue
        if word != "fi":
            stack.append((tok.start(), word == "iffalse"))
        elif stack:
            start, is_false = stack.pop()
            if is_false and tok.end() - start <= MAX_IFFALSE_CHARS + len("\\iffalse"):
                closing[start] = tok.end()
    parts: list[str] = []
    pos = 0
    for m in _IFFALSE.finditer(text):
        end = closing.get(m.start())
        if m.start() < pos or end is None:
            continue
        parts.append(text[pos:m.start()])
        pos = end
    parts.append(text[pos:])
    return "".join(parts)
