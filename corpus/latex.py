"""LaTeX text cleaning for the arXiv source, after Lewkowycz et al. 2022 (Minerva) as LLaMA used it.

Pure functions over strings; `corpus/arxiv.py` reads the archives and calls them. The steps, in
the order `clean_latex` applies them:

1. `strip_comments`  - `%` to end of line, TeX-style (`\\%` is a percent sign, `\\\\%` starts a
   comment, `%` eats the line end so `foo%<newline>bar` is `foobar`; a line that is only a comment
   disappears). Verbatim-like environments, `\\verb|..|`, `\\lstinline` and `\\url{..}` are left
   alone; `\\begin{comment}..\\end{comment}` is removed, and so is `\\iffalse..\\fi`.
2. `collect_definitions` + `remove_definitions` - every `\\newcommand`, `\\renewcommand`,
   `\\providecommand` (and `*` forms), `\\DeclareRobustCommand`, `\\def`/`\\gdef` of the whole paper
   (preamble included) is parsed, then deleted from the text.
3. `cut_front` - everything before the first sectioning command (`\\part`..`\\subparagraph`, `*` and
   `[..]` allowed) after `\\begin{document}` goes; no section -> the paper is dropped.
4. `cut_back` - the bibliography (`\\begin{thebibliography}`, `\\bibliography{..}`,
   `\\printbibliography`, `\\begin{references}`) and everything after it, `\\appendix` onwards
   (optional), and anything after `\\end{document}`.
5. `expand_macros` - user macros, with arguments (`#1`..`#9`, an optional first argument with its
   default) and nested (pass after pass until nothing changes, bounded by `max_depth`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

# --------------------------------------------------------------------------------------------
# 1. Comments
# --------------------------------------------------------------------------------------------
# Environments whose content TeX reads verbatim: `%` there is text, macros are not expanded.
VERBATIM_ENVS = frozenset(
    {"verbatim", "verbatim*", "Verbatim", "Verbatim*", "lstlisting", "minted", "alltt", "BVerbatim",
     "LVerbatim", "spverbatim", "filecontents", "filecontents*"}
)
# Environments that are comments themselves (the `comment` package).
COMMENT_ENVS = frozenset({"comment"})

_CTRL_WORD = re.compile(r"\\([A-Za-z@]+)")
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
    while i < n:
        special = _SPECIAL.search(line, i)
        if special is None:
            break
        i = special.start()
        if line[i] == "%":
            return i, None
        m = _CTRL_WORD.match(line, i)
        if m is None:  # control symbol: `\%`, `\\`, `\{` ... skip both characters
            i += 2
            continue
        word = m.group(1)
        j = m.end()
        if word in ("verb", "lstinline") :
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
        elif word in ("url", "href") and j < n and line[j] == "{":
            close = line.find("}", j)
            if close >= 0:
                i = close + 1
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

    Nested conditionals are counted so the right `\\fi` closes the block; a block without its
    `\\fi` within 1 MiB is left as written.
    """
    parts: list[str] = []
    pos = 0
    while True:
        m = _IFFALSE.search(text, pos)
        if m is None:
            break
        depth, end = 1, None
        for tok in _IF_TOKEN.finditer(text, m.end(), min(len(text), m.end() + MAX_IFFALSE_CHARS)):
            word = tok.group(2)
            if tok.group(1) or word in _NOT_CONDITIONALS:
                continue
            depth += -1 if word == "fi" else 1
            if depth == 0:
                end = tok.end()
                break
        if end is None:
            parts.append(text[pos:m.end()])
            pos = m.end()
            continue
        parts.append(text[pos:m.start()])
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


# --------------------------------------------------------------------------------------------
# 2. Macro definitions
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Macro:
    """One user definition. `default` is the optional first argument's default (\\newcommand)."""

    name: str
    nargs: int
    body: str
    default: Optional[str] = None
    kind: str = "newcommand"
    start: int = 0
    end: int = 0
    expandable: bool = True  # False: delimited \def parameters, @-internals, protected names


_DEF_START = re.compile(
    r"\\(newcommand|renewcommand|providecommand|DeclareRobustCommand|def|gdef|edef|xdef)(?![A-Za-z@])(\*?)"
)
# Redefinitions of these are kept out of expansion: the structure the cleaner cuts on, and
# commands whose redefinition is layout, not notation.
PROTECTED = frozenset(
    {"part", "chapter", "section", "subsection", "subsubsection", "paragraph", "subparagraph",
     "begin", "end", "item", "input", "include", "appendix", "bibliography", "documentclass",
     "usepackage", "newcommand", "renewcommand", "def", "par", "label", "ref", "cite",
     "caption", "thebibliography", "bibitem", "maketitle", "title", "author"}
)


def _skip_ws(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in " \t\r\n":
        i += 1
    return i


def match_brace(text: str, i: int, limit: Optional[int] = None) -> Optional[int]:
    """Index of the `}` closing the `{` at `i` (escapes `\\{`, `\\}` skipped), or None.

    `limit` bounds how far to look (an unbalanced brace must not make every macro use scan to
    the end of the paper)."""
    depth = 0
    n = len(text) if limit is None else min(len(text), i + limit)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def _match_bracket(text: str, i: int) -> Optional[int]:
    """Index of the `]` closing the `[` at `i`, ignoring brackets inside braces."""
    depth = 0
    n = len(text)
    i += 1
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == "]" and depth <= 0:
            return i
        i += 1
    return None


def _parse_name(text: str, i: int) -> tuple[Optional[str], int]:
    """`\\name` or `{\\name}` at `i`: the name (without backslash) and the index after it."""
    i = _skip_ws(text, i)
    braced = i < len(text) and text[i] == "{"
    j = _skip_ws(text, i + 1) if braced else i
    if j >= len(text) or text[j] != "\\":
        return None, i
    m = _CTRL_WORD.match(text, j)
    if m is not None:
        name, j = m.group(1), m.end()
    elif j + 1 < len(text):
        name, j = text[j + 1], j + 2
    else:
        return None, i
    if braced:
        j = _skip_ws(text, j)
        if j >= len(text) or text[j] != "}":
            return None, i
        j += 1
    return name, j


def _parse_newcommand(text: str, m: re.Match, kind: str) -> Optional[Macro]:
    name, i = _parse_name(text, m.end())
    if name is None:
        return None
    nargs, default = 0, None
    i = _skip_ws(text, i)
    if i < len(text) and text[i] == "[":
        close = _match_bracket(text, i)
        if close is None or not text[i + 1:close].strip().isdigit():
            return None
        nargs = int(text[i + 1:close].strip())
        i = _skip_ws(text, close + 1)
        if i < len(text) and text[i] == "[":
            close = _match_bracket(text, i)
            if close is None:
                return None
            default = text[i + 1:close]
            i = _skip_ws(text, close + 1)
    if i >= len(text) or text[i] != "{":
        return None
    close = match_brace(text, i)
    if close is None:
        return None
    return Macro(name, nargs, text[i + 1:close], default, kind, m.start(), close + 1)


_DEF_PARAMS = re.compile(r"(?:#[1-9])*")


def _parse_def(text: str, m: re.Match, kind: str) -> Optional[Macro]:
    j = m.end()
    if j >= len(text) or text[j] != "\\":
        j = _skip_ws(text, j)
    name_m = _CTRL_WORD.match(text, j)
    if name_m is None:
        return None
    name = name_m.group(1)
    brace = text.find("{", name_m.end())
    if brace < 0:
        return None
    params = text[name_m.end():brace]
    close = match_brace(text, brace)
    if close is None:
        return None
    simple = _DEF_PARAMS.fullmatch(params) is not None and all(
        params[2 * k + 1] == str(k + 1) for k in range(len(params) // 2)
    )
    nargs = len(params) // 2 if simple else 0
    return Macro(name, nargs, text[brace + 1:close], None, kind, m.start(), close + 1, expandable=simple)


def collect_definitions(text: str) -> list[Macro]:
    """Every macro definition in `text`, in order; definitions inside a body are not harvested."""
    found: list[Macro] = []
    pos = 0
    while True:
        m = _DEF_START.search(text, pos)
        if m is None:
            break
        if m.start() > 0 and _escaped(text, m.start()):
            pos = m.end()
            continue
        kind = m.group(1)
        macro = _parse_def(text, m, kind) if kind in ("def", "gdef", "edef", "xdef") else _parse_newcommand(text, m, kind)
        if macro is None:
            pos = m.end()
            continue
        if macro.expandable and not _expandable(macro):
            macro = Macro(macro.name, macro.nargs, macro.body, macro.default, macro.kind, macro.start,
                          macro.end, expandable=False)
        found.append(macro)
        pos = macro.end
    return found


def _escaped(text: str, i: int) -> bool:
    """True if the backslash at `i` is itself escaped (preceded by an odd number of backslashes)."""
    k = i - 1
    while k >= 0 and text[k] == "\\":
        k -= 1
    return (i - 1 - k) % 2 == 1


_INNER_DEF = re.compile(r"\\(?:newcommand|renewcommand|providecommand|def|gdef|edef|xdef|let|newenvironment)(?![A-Za-z])")


def _expandable(macro: Macro) -> bool:
    """Notation macros only: no @-internals, no nested definitions, no protected names."""
    if not re.fullmatch(r"[A-Za-z]+", macro.name) or macro.name in PROTECTED:
        return False
    if "@" in macro.body or _INNER_DEF.search(macro.body):
        return False
    if macro.nargs > 9:
        return False
    # A body naming a parameter beyond nargs is malformed.
    for ref in _PARAM.finditer(macro.body):
        if ref.group(1) not in (None, "#") and int(ref.group(1)) > macro.nargs:
            return False
    return True


def macro_table(definitions: list[Macro]) -> dict[str, Macro]:
    """The definitions in force at the end of the paper (\\providecommand does not override)."""
    table: dict[str, Macro] = {}
    seen: set[str] = set()
    for macro in definitions:
        if macro.kind == "providecommand" and macro.name in seen:
            continue
        seen.add(macro.name)
        if macro.expandable:
            table[macro.name] = macro
        else:
            table.pop(macro.name, None)
    return table


def remove_definitions(text: str, definitions: list[Macro]) -> str:
    """Delete the definitions' source spans (they are in `text` order and do not overlap)."""
    if not definitions:
        return text
    parts, pos = [], 0
    for macro in definitions:
        parts.append(text[pos:macro.start])
        pos = macro.end
    parts.append(text[pos:])
    return "".join(parts)


# --------------------------------------------------------------------------------------------
# 3-4. Cutting the front matter and the back matter
# --------------------------------------------------------------------------------------------
SECTION = re.compile(
    r"\\(?:part|chapter|section|subsection|subsubsection|paragraph|subparagraph)(?![A-Za-z@])\*?\s*[\[{]"
)
BEGIN_DOCUMENT = re.compile(r"\\begin\s*\{document\}")
BIBLIOGRAPHY = re.compile(
    r"\\begin\s*\{(?:thebibliography|references|REFERENCES)\}|\\bibliography\s*\{|\\printbibliography(?![A-Za-z@])"
)
APPENDIX = re.compile(r"\\appendix(?![A-Za-z@])|\\begin\s*\{appendices\}")
END_DOCUMENT = re.compile(r"\\end\s*\{document\}")
_BIBSTYLE = re.compile(r"\\bibliographystyle\s*\{[^{}]*\}[ \t]*\n?")


def cut_front(text: str) -> Optional[str]:
    """Text from the first sectioning command (after `\\begin{document}` if there is one), or None."""
    begin = BEGIN_DOCUMENT.search(text)
    m = SECTION.search(text, begin.end() if begin else 0)
    if m is None and begin is not None:
        m = SECTION.search(text)
    return None if m is None else text[m.start():]


def cut_back(text: str, keep_appendix: bool = False) -> str:
    """Drop the bibliography and what follows, `\\appendix` onwards unless kept, after `\\end{document}`.

    `\\bibliographystyle{..}` (no text of its own, usually just before the references) goes too."""
    text = _BIBSTYLE.sub("", text)
    end = _first(END_DOCUMENT, text, 0, len(text))
    bib = _first(BIBLIOGRAPHY, text, 0, end)
    app = _first(APPENDIX, text, 0, end)
    if not keep_appendix:
        return text[:min(bib, app, end)]
    kept = text[:bib]
    if app > bib and app < end:  # appendix after the references: keep it, minus any later references
        kept += "\n\n" + text[app:_first(BIBLIOGRAPHY, text, app, end)]
    return kept


def _first(pattern: re.Pattern, text: str, start: int, default: int) -> int:
    m = pattern.search(text, start)
    return default if m is None or m.start() > default else m.start()


# --------------------------------------------------------------------------------------------
# 5. Macro expansion
# --------------------------------------------------------------------------------------------
_TOKEN = re.compile(r"\\(?:([A-Za-z]+)|.)", re.DOTALL)
_PARAM = re.compile(r"\\.|#(#|[1-9])", re.DOTALL)  # `\#` is a character, not a parameter
_ENDS_IN_WORD = re.compile(r"\\[A-Za-z]+$")
_VERBATIM_BLOCK = re.compile(
    r"\\begin\s*\{(" + "|".join(re.escape(e) for e in sorted(VERBATIM_ENVS)) + r")\}.*?\\end\s*\{\1\}",
    re.DOTALL,
)


MAX_ARGUMENT_CHARS = 200_000  # a macro argument longer than this is not taken as one


@dataclass
class ExpansionStats:
    expanded: int = 0  # macro uses replaced, over all passes
    passes: int = 0
    depth_exceeded: bool = False  # still changing after max_depth passes (recursive macro)
    growth_limited: bool = False  # stopped because the text grew past the bound
    names: set[str] = field(default_factory=set)


def _skip_arg_space(text: str, i: int) -> int:
    """TeX skips spaces and one line end before an undelimited argument, never a blank line."""
    n = len(text)
    while i < n and text[i] in " \t":
        i += 1
    if i < n and text[i] == "\n":
        j = i + 1
        while j < n and text[j] in " \t":
            j += 1
        if j < n and text[j] == "\n":
            return i
        i = j
    return i


def _read_arg(text: str, i: int) -> Optional[tuple[str, int]]:
    j = _skip_arg_space(text, i)
    if j >= len(text):
        return None
    c = text[j]
    if c == "{":
        close = match_brace(text, j, MAX_ARGUMENT_CHARS)
        return None if close is None else (text[j + 1:close], close + 1)
    if c == "\\":
        m = _TOKEN.match(text, j)
        return (m.group(0), m.end()) if m else None
    if c in "}#%&\n":
        return None
    return c, j + 1


def _expand_use(text: str, i: int, macro: Macro) -> Optional[tuple[str, int]]:
    """Expand one use whose name ends at `i`: (replacement, index after the arguments)."""
    args: list[str] = []
    remaining = macro.nargs
    if macro.default is not None and remaining > 0:
        j = _skip_arg_space(text, i)
        if j < len(text) and text[j] == "[":
            close = _match_bracket(text, j)
            if close is None:
                return None
            args.append(text[j + 1:close])
            i = close + 1
        else:
            args.append(macro.default)
        remaining -= 1
    for _ in range(remaining):
        got = _read_arg(text, i)
        if got is None:
            return None
        args.append(got[0])
        i = got[1]
    body = _PARAM.sub(lambda p: _param(p, args), macro.body)
    if body.endswith("\\xspace"):
        body = body[: -len("\\xspace")]  # the space after the use is kept as written
    if macro.nargs == 0 and text.startswith("{}", i) and not _ENDS_IN_WORD.search(body):
        i += 2  # `\name{}` only ended the control word
    if i < len(text) and text[i].isalpha() and _ENDS_IN_WORD.search(body):
        body += "{}"  # keep `\alpha` from fusing with a following letter
    return body, i


def _single_token(body: str) -> bool:
    return len(body) == 1 or (_TOKEN.fullmatch(body) is not None)


def _param(m: re.Match, args: list[str]) -> str:
    ref = m.group(1)
    if ref is None:
        return m.group(0)
    if ref == "#":
        return "#"
    k = int(ref)
    return args[k - 1] if k <= len(args) else m.group(0)


def uses_pattern(names) -> re.Pattern:
    """Matches `\\\\` (an escaped backslash, skipped) or a use of one of `names`."""
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=lambda n: (-len(n), n)))
    return re.compile(r"\\\\|\\(" + alternatives + r")(?![A-Za-z])")


def _expand_pass(text: str, table: dict[str, Macro], stats: ExpansionStats, budget: int,
                 pattern: Optional[re.Pattern] = None) -> str:
    out: list[str] = []
    pos = 0
    size = len(text)
    for m in (pattern or uses_pattern(table)).finditer(text):
        if m.start() < pos:
            continue
        if size > budget:
            stats.growth_limited = True
            break
        name = m.group(1)
        macro = table.get(name) if name else None
        if macro is None:
            continue
        got = _expand_use(text, m.end(), macro)
        if got is None:
            continue
        replacement = got[0]
        if m.start() > 0 and text[m.start() - 1] in "_^" and not _single_token(replacement):
            replacement = "{" + replacement + "}"  # `x_\ab` sub-scripts the whole expansion
        out.append(text[pos:m.start()])
        out.append(replacement)
        size += len(replacement) - (got[1] - m.start())
        pos = got[1]
        stats.expanded += 1
        stats.names.add(name)
    if pos == 0:
        return text
    out.append(text[pos:])
    return "".join(out)


def expand_macros(text: str, table: dict[str, Macro], max_depth: int = 10,
                  max_growth: int = 4, stats: Optional[ExpansionStats] = None) -> str:
    """Expand `table`'s macros pass after pass until a fixpoint or `max_depth` passes.

    Verbatim environments are left as written. The text may grow to `max_growth` times its size
    (plus 64 KiB) before expansion stops, so a macro bomb cannot exhaust memory.
    """
    stats = stats if stats is not None else ExpansionStats()
    if not table:
        return text
    limit = max_growth * len(text) + (1 << 16)
    pattern = uses_pattern(table)
    pieces = _split_verbatim(text)
    for _ in range(max_depth):
        before = stats.expanded
        expanded = []
        for verb, chunk in pieces:
            if not verb:
                others = sum(len(c) for _, c in expanded) + sum(len(c) for _, c in pieces[len(expanded) + 1:])
                chunk = _expand_pass(chunk, table, stats, limit - others, pattern)
            expanded.append((verb, chunk))
        pieces = expanded
        stats.passes += 1
        if stats.expanded == before or stats.growth_limited:
            break
    else:
        probe = ExpansionStats()
        for verb, chunk in pieces:
            if not verb:
                _expand_pass(chunk, table, probe, limit, pattern)
        stats.depth_exceeded = probe.expanded > 0
    return "".join(chunk for _, chunk in pieces)


def _split_verbatim(text: str) -> list[tuple[bool, str]]:
    pieces: list[tuple[bool, str]] = []
    pos = 0
    for m in _VERBATIM_BLOCK.finditer(text):
        pieces.append((False, text[pos:m.start()]))
        pieces.append((True, m.group(0)))
        pos = m.end()
    pieces.append((False, text[pos:]))
    return pieces


# --------------------------------------------------------------------------------------------
# The whole cleaning
# --------------------------------------------------------------------------------------------
@dataclass
class Cleaned:
    text: Optional[str]  # None: no sectioning command (drop `no_section`)
    macros_defined: int = 0  # expandable user macros in force
    definitions_removed: int = 0
    expansion: ExpansionStats = field(default_factory=ExpansionStats)


_BLANKS = re.compile(r"\n[ \t]*(?:\n[ \t]*){2,}")
_TRAILING = re.compile(r"[ \t]+\n")


def clean_latex(text: str, keep_appendix: bool = False, max_depth: int = 10) -> Cleaned:
    """Apply the five steps to one paper's source (its \\input files already inlined)."""
    text = remove_iffalse(strip_comments(text))
    definitions = collect_definitions(text)
    table = macro_table(definitions)
    text = remove_definitions(text, definitions)
    result = Cleaned(None, len(table), len(definitions))
    body = cut_front(text)
    if body is None:
        return result
    body = cut_back(body, keep_appendix)
    body = expand_macros(body, table, max_depth=max_depth, stats=result.expansion)
    body = _TRAILING.sub("\n", body)
    body = _BLANKS.sub("\n\n", body)
    result.text = body.strip()
    return result
