"""User macros of a LaTeX paper: their definitions parsed and removed, their uses expanded.

Steps 2 and 5 of `corpus.latex.clean_latex`:
- `collect_definitions` + `macro_table` + `remove_definitions`: every `\\newcommand`,
  `\\renewcommand`, `\\providecommand` (and `*` forms), `\\DeclareRobustCommand`, `\\def`/`\\gdef`
  of the whole paper (preamble included) is parsed, tabulated as in force at the end of the paper,
  then deleted from the text;
- `expand_macros`: uses of the notation macros, with arguments (`#1`..`#9`, an optional first
  argument with its default) and nested (pass after pass until nothing changes, bounded by
  `max_depth` passes and by the text's growth, so a recursive macro or a macro bomb stops).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Optional

from corpus.latex_comments import CONTROL_WORD, VERBATIM_ENVS

MAX_MACRO_DEPTH = 10  # passes of expansion (nested macros); recursive ones stop here
MAX_ARGUMENT_CHARS = 200_000  # a macro argument longer than this is not taken as one

_PARAM = re.compile(r"\\.|#(#|[1-9])", re.DOTALL)  # `\#` is a character, not a parameter


# --------------------------------------------------------------------------------------------
# Definitions
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
    m = CONTROL_WORD.match(text, j)
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
    name_m = CONTROL_WORD.match(text, j)
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
# Expansion
# --------------------------------------------------------------------------------------------
_TOKEN = re.compile(r"\\(?:([A-Za-z]+)|.)", re.DOTALL)
_ENDS_IN_WORD = re.compile(r"\\[A-Za-z]+$")
_VERBATIM_BLOCK = re.compile(
    r"\\begin\s*\{(" + "|".join(re.escape(e) for e in sorted(VERBATIM_ENVS)) + r")\}.*?\\end\s*\{\1\}",
    re.DOTALL,
)


@dataclass
class ExpansionStats:
    """What `expand_macros` did to one text (the arXiv step counts it into the ledger)."""

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


def uses_pattern(names: Iterable[str]) -> re.Pattern:
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


def expand_macros(text: str, table: dict[str, Macro], max_depth: int = MAX_MACRO_DEPTH,
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
