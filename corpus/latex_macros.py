"""User macros of a LaTeX paper: their definitions parsed and removed, their uses expanded.

Steps 2 and 5 of `corpus.latex.clean_latex`:
- `collect_definitions` + `macro_table` + `remove_definitions`: every `\\newcommand`,
  `\\renewcommand`, `\\providecommand` (and `*` forms), `\\DeclareRobustCommand`,
  `\\DeclareMathOperator` (and `*`), `\\def`/`\\gdef`/`\\edef`/`\\xdef` (with `\\long`, `\\global`,
  `\\protected` prefixes), `\\let` of the whole paper, preamble and body, with a braced or a one-token body
  (`\\newcommand\\name\\value`), is parsed, tabulated as in force at the end of the paper, then
  deleted from the text;
- `expand_macros`: uses of the notation macros, with arguments (`#1`..`#9`, an optional first
  argument with its default) and nested (pass after pass until nothing changes), within a
  `MacroBudget`: at most `max_depth` passes, the text at most `max_growth` times its size (+64 KiB)
  and `max_steps` macro uses looked at, so a macro bomb ends flagged (`ExpansionStats.budget_exceeded`)
  instead of exhausting memory or time.

Every scan is linear: the ends of braced groups and optional `[..]` arguments come from one pass
over the text (`Braces`), a `\\def`'s parameter text is looked for within `MAX_DEF_PARAMS_CHARS`,
verbatim environments are split without a lazy `.*?` regex, nothing recurses.
"""
from __future__ import annotations

import re
from array import array
from bisect import bisect_left
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional

from corpus.latex_comments import CONTROL_WORD, VERBATIM_ENVS

MAX_MACRO_DEPTH = 10  # passes of expansion (nested macros); recursive ones stop here
MAX_MACRO_GROWTH = 4  # the expanded text may be this many times the paper's text (+64 KiB)
MAX_MACRO_STEPS = 1_000_000  # macro uses looked at (expanded or not) in one paper, over all passes
MAX_ARGUMENT_CHARS = 200_000  # a macro argument longer than this is not taken as one
MAX_OPTIONAL_CHARS = 20_000  # an optional `[..]` argument (or `[n]`, `[default]`) longer than this is not one
MAX_DEF_PARAMS_CHARS = 256  # a `\def`'s parameter text longer than this is not a definition
_GROWTH_SLACK = 1 << 16

_PARAM = re.compile(r"\\.|#(#|[1-9])", re.DOTALL)  # `\#` is a character, not a parameter


@dataclass(frozen=True)
class MacroBudget:
    """Bounds of one paper's expansion (the arXiv step drops a paper over them: `macro_budget`)."""

    max_depth: int = MAX_MACRO_DEPTH
    max_growth: int = MAX_MACRO_GROWTH
    max_steps: int = MAX_MACRO_STEPS


# --------------------------------------------------------------------------------------------
# Linear-time scanning: braces matched in one pass, bounded optional arguments
# --------------------------------------------------------------------------------------------
# Braces, brackets, and the escapes that hide one (`\{`, `\]`, and `\\` so that `\\{` is a brace):
# a backslash before anything else is no token, so the regex engine skips control words itself.
_GROUP_TOKEN = re.compile(r"\\[\\{}\[\]]|[{}\[\]]")


class Braces:
    """The matching `}` of every `{`, and the `]` ending every `[` (the first `]` at the same brace
    level, as LaTeX reads an optional argument), of one text, found in one pass with a stack
    (escapes `\\{`, `\\]` skipped): asking for a group's end costs a bisection, not a scan to
    the end of the text (an unclosed `{` or `[` after each of many macro uses was quadratic)."""

    def __init__(self, text: str):
        kind = "i" if len(text) < 1 << 31 else "q"  # 4 bytes a position: 100k nested braces cost 1.2 MB
        self.opens, self.closes = array(kind), array(kind)
        self.brackets, self.bracket_ends = array(kind), array(kind)
        stack = array(kind)  # the open braces, as indices into `opens`
        pending: dict[int, list[int]] = {}  # brace level -> the `[`s at that level waiting for a `]`
        for m in _GROUP_TOKEN.finditer(text):
            c = m.group()
            if c == "{":
                stack.append(len(self.opens))
                self.opens.append(m.start())
                self.closes.append(-1)
            elif c == "}":
                pending.pop(len(stack), None)  # a `}` ends what an optional argument could span
                if stack:
                    self.closes[stack.pop()] = m.start()
            elif c == "[":
                pending.setdefault(len(stack), []).append(len(self.brackets))
                self.brackets.append(m.start())
                self.bracket_ends.append(-1)
            elif c == "]":  # (the other tokens are escapes: `\{`, `\]`, `\\`)
                for k in pending.pop(len(stack), ()):
                    self.bracket_ends[k] = m.start()

    def close(self, i: int, limit: Optional[int] = None) -> Optional[int]:
        """Index of the `}` closing the `{` at `i` (within `limit` characters), or None."""
        return _lookup(self.opens, self.closes, i, limit)

    def bracket(self, i: int, limit: int = MAX_OPTIONAL_CHARS) -> Optional[int]:
        """Index of the `]` ending the `[` at `i` (within `limit` characters), or None."""
        return _lookup(self.brackets, self.bracket_ends, i, limit)


def _lookup(starts: array, ends: array, i: int, limit: Optional[int]) -> Optional[int]:
    k = bisect_left(starts, i)
    if k == len(starts) or starts[k] != i:
        return None
    end = ends[k]
    if end < 0 or (limit is not None and end - i > limit):
        return None
    return end


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
    r"\\(newcommand|renewcommand|providecommand|DeclareRobustCommand|DeclareMathOperator|def|gdef|edef|xdef|let)"
    r"(?![A-Za-z@])(\*?)"
)
_DEF_KINDS = frozenset({"def", "gdef", "edef", "xdef"})
_PREFIXES = ("\\long", "\\global", "\\protected", "\\outer")
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


def _parse_body(text: str, i: int, braces: Braces) -> Optional[tuple[str, int]]:
    """The definition's body at `i`: a `{group}`, or one token as TeX reads an undelimited argument
    (`\\newcommand\\name\\value`, `\\newcommand\\x a`): (body, index after it)."""
    i = _skip_ws(text, i)
    if i >= len(text):
        return None
    c = text[i]
    if c == "{":
        close = braces.close(i)
        return None if close is None else (text[i + 1:close], close + 1)
    if c == "\\":
        m = CONTROL_WORD.match(text, i)
        end = m.end() if m is not None else min(len(text), i + 2)
        return text[i:end], end
    if c in "}#%":
        return None
    return c, i + 1


def _parse_newcommand(text: str, m: re.Match, kind: str, braces: Braces) -> Optional[Macro]:
    name, i = _parse_name(text, m.end())
    if name is None:
        return None
    nargs, default = 0, None
    i = _skip_ws(text, i)
    if kind != "DeclareMathOperator" and i < len(text) and text[i] == "[":
        close = braces.bracket(i)
        if close is None or not text[i + 1:close].strip().isdigit():
            return None
        nargs = int(text[i + 1:close].strip())
        i = _skip_ws(text, close + 1)
        if i < len(text) and text[i] == "[":
            close = braces.bracket(i)
            if close is None:
                return None
            default = text[i + 1:close]
            i = close + 1
    got = _parse_body(text, i, braces)
    if got is None:
        return None
    body, end = got
    if kind == "DeclareMathOperator":  # amsmath: \DeclareMathOperator{\x}{..} is \operatorname{..}
        body = "\\operatorname" + m.group(2) + "{" + body + "}"
    return Macro(name, nargs, body, default, kind, m.start(), end)


_DEF_PARAMS = re.compile(r"(?:#[1-9])*")


def _parse_def(text: str, m: re.Match, kind: str, braces: Braces) -> Optional[Macro]:
    j = m.end()
    if j >= len(text) or text[j] != "\\":
        j = _skip_ws(text, j)
    name_m = CONTROL_WORD.match(text, j)
    if name_m is None:
        return None
    name = name_m.group(1)
    brace = text.find("{", name_m.end(), name_m.end() + MAX_DEF_PARAMS_CHARS)
    if brace < 0:
        return None  # no body within reach: not a definition TeX would accept
    params = text[name_m.end():brace]
    close = braces.close(brace)
    if close is None:
        return None
    simple = _DEF_PARAMS.fullmatch(params) is not None and all(
        params[2 * k + 1] == str(k + 1) for k in range(len(params) // 2)
    )
    nargs = len(params) // 2 if simple else 0
    return Macro(name, nargs, text[brace + 1:close], None, kind, m.start(), close + 1, expandable=simple)


def _parse_let(text: str, m: re.Match, kind: str, braces: Braces) -> Optional[Macro]:
    """`\\let\\name = token` (the `=`, and one space after it, optional): `\\name` becomes the
    token; a brace or nothing after it is not notation (`\\let\\bgroup{`), so not one."""
    name_m = CONTROL_WORD.match(text, _skip_ws(text, m.end()))
    if name_m is None:
        return None
    i = _skip_ws(text, name_m.end())
    if text.startswith("=", i):
        i += 2 if text.startswith(" ", i + 1) else 1
    if i >= len(text) or text[i] in "{}%#" or text[i].isspace():
        return None
    token = CONTROL_WORD.match(text, i) if text[i] == "\\" else None
    end = token.end() if token is not None else min(len(text), i + (2 if text[i] == "\\" else 1))
    return Macro(name_m.group(1), 0, text[i:end], None, kind, m.start(), end)


def _with_prefixes(text: str, start: int, floor: int) -> int:
    """Start of the definition including `\\long\\global..` written before it (not before `floor`)."""
    for _ in range(len(_PREFIXES)):
        j = start
        while j > floor and text[j - 1] in " \t\n":
            j -= 1
        prefix = next((p for p in _PREFIXES if j - len(p) >= floor and text.startswith(p, j - len(p))), None)
        if prefix is None or _escaped(text, j - len(prefix)):
            break
        start = j - len(prefix)
    return start


def collect_definitions(text: str) -> list[Macro]:
    """Every macro definition in `text`, in order; definitions inside a body are not harvested."""
    found: list[Macro] = []
    braces: Optional[Braces] = None
    pos = 0
    while True:
        m = _DEF_START.search(text, pos)
        if m is None:
            break
        braces = braces or Braces(text)
        if m.start() > 0 and _escaped(text, m.start()):
            pos = m.end()
            continue
        kind = m.group(1)
        parse = _parse_def if kind in _DEF_KINDS else _parse_let if kind == "let" else _parse_newcommand
        macro = parse(text, m, kind, braces)
        if macro is None:
            pos = m.end()
            continue
        start = _with_prefixes(text, macro.start, found[-1].end if found else 0)
        expandable = macro.expandable and _expandable(macro)
        found.append(Macro(macro.name, macro.nargs, macro.body, macro.default, macro.kind, start, macro.end,
                           expandable=expandable))
        pos = macro.end
    return found


def _escaped(text: str, i: int) -> bool:
    """True if the backslash at `i` is itself escaped (preceded by an odd number of backslashes)."""
    k = i - 1
    while k >= 0 and text[k] == "\\":
        k -= 1
    return (i - 1 - k) % 2 == 1


_INNER_DEF = re.compile(r"\\(?:newcommand|renewcommand|providecommand|def|gdef|edef|xdef|let|newenvironment)(?![A-Za-z])")
_LETTERS = re.compile(r"[A-Za-z]+")


def _expandable(macro: Macro) -> bool:
    """Notation macros only: no @-internals, no nested definitions, no protected names."""
    if not _LETTERS.fullmatch(macro.name) or macro.name in PROTECTED:
        return False
    if "@" in macro.body or _INNER_DEF.search(macro.body):
        return False
    if macro.nargs > 9:
        return False
    return all(k <= macro.nargs for k in _param_refs(macro.body))  # else the body is malformed


@lru_cache(maxsize=4096)
def _param_refs(body: str) -> tuple[int, ...]:
    """The parameter numbers `#k` in `body`, in order (`##` and `\\#` are not parameters)."""
    return tuple(int(p.group(1)) for p in _PARAM.finditer(body) if p.group(1) not in (None, "#"))


def macro_table(definitions: list[Macro]) -> dict[str, Macro]:
    """The definitions in force at the end of the paper (\\providecommand does not override).

    `\\let\\a\\b` copies the meaning `\\b` has then: a user macro's definition at that point
    (`\\let\\oldR\\R \\renewcommand\\R{\\oldR^n}` is the old `\\R` with `^n`), else `\\b` itself, which
    is that meaning only if the paper does not define `\\b` later (`\\let\\oldtab\\tabular` then
    `\\renewcommand\\tabular{..\\oldtab}` would loop): such a `\\let` is removed, not expanded."""
    last = {macro.name: k for k, macro in enumerate(definitions)}
    table: dict[str, Macro] = {}
    seen: set[str] = set()
    for k, macro in enumerate(definitions):
        if macro.kind == "providecommand" and macro.name in seen:
            continue
        seen.add(macro.name)
        target = macro.body[1:] if macro.kind == "let" else ""
        if target in table and macro.expandable:
            copied = table[target]
            macro = Macro(macro.name, copied.nargs, copied.body, copied.default, "let", macro.start, macro.end)
        elif target and last.get(target, -1) > k:
            macro = Macro(macro.name, 0, macro.body, None, "let", macro.start, macro.end, expandable=False)
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
_USE = re.compile(r"\\\\|\\([A-Za-z]+)")  # `\\` (an escaped backslash) is skipped
_VERBATIM_BEGIN = re.compile(
    r"\\begin\s*\{(" + "|".join(re.escape(e) for e in sorted(VERBATIM_ENVS)) + r")\}"
)


@dataclass
class ExpansionStats:
    """What `expand_macros` did to one text (the arXiv step counts it into the ledger)."""

    expanded: int = 0  # macro uses replaced, over all passes
    passes: int = 0
    depth_exceeded: bool = False  # still changing after max_depth passes (recursive macro)
    steps: int = 0  # macro uses looked at, expanded or not, over all passes
    budget_exceeded: str = ""  # "growth" or "steps": expansion stopped half-way (a macro bomb)
    names: set[str] = field(default_factory=set)


def _ends_in_word(body: str) -> bool:
    """The body ends in a control word (`..\\alpha`): a following letter would fuse with it."""
    k = len(body)
    while k > 0 and body[k - 1].isascii() and body[k - 1].isalpha():
        k -= 1
    return k < len(body) and k > 0 and body[k - 1] == "\\" and not _escaped(body, k - 1)


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


def _read_arg(text: str, i: int, braces: Braces) -> Optional[tuple[str, int]]:
    j = _skip_arg_space(text, i)
    if j >= len(text):
        return None
    c = text[j]
    if c == "{":
        close = braces.close(j, MAX_ARGUMENT_CHARS)
        return None if close is None else (text[j + 1:close], close + 1)
    if c == "\\":
        m = _TOKEN.match(text, j)
        return (m.group(0), m.end()) if m else None
    if c in "}#%&\n":
        return None
    return c, j + 1


def _read_use(text: str, i: int, macro: Macro, braces: Braces) -> Optional[tuple[list[str], int]]:
    """The arguments of one use whose name ends at `i`, and the index after them."""
    args: list[str] = []
    remaining = macro.nargs
    if macro.default is not None and remaining > 0:
        j = _skip_arg_space(text, i)
        if j < len(text) and text[j] == "[":
            close = braces.bracket(j)
            if close is None:
                return None
            args.append(text[j + 1:close])
            i = close + 1
        else:
            args.append(macro.default)
        remaining -= 1
    for _ in range(remaining):
        got = _read_arg(text, i, braces)
        if got is None:
            return None
        args.append(got[0])
        i = got[1]
    return args, i


def _substitute(text: str, i: int, macro: Macro, args: list[str]) -> tuple[str, int]:
    """The body with `args` in place, adjusted to the text around the use ending at `i`."""
    body = _PARAM.sub(lambda p: _param(p, args), macro.body)
    if body.endswith("\\xspace"):
        body = body[: -len("\\xspace")]  # the space after the use is kept as written
    ends_in_word = _ends_in_word(body)
    if macro.nargs == 0 and text.startswith("{}", i) and not ends_in_word:
        i += 2  # `\name{}` only ended the control word
    if i < len(text) and text[i].isalpha() and ends_in_word:
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


def _expand_pass(text: str, table: dict[str, Macro], stats: ExpansionStats, room: int, max_steps: int) -> str:
    """One left-to-right pass over `text`; the text may grow by at most `room` characters and
    `stats.steps` (uses looked at) reach at most `max_steps`."""
    out: list[str] = []
    pos = 0
    grown = 0
    braces: Optional[Braces] = None
    for m in _USE.finditer(text):
        if m.start() < pos or m.group(1) is None:
            continue
        macro = table.get(m.group(1))
        if macro is None:
            continue
        stats.steps += 1
        if stats.steps > max_steps:
            stats.budget_exceeded = "steps"
            break
        if braces is None:
            braces = Braces(text)
        got = _read_use(text, m.end(), macro, braces)
        if got is None:
            continue
        args, end = got
        predicted = len(macro.body) + sum(len(args[k - 1]) - 2 for k in _param_refs(macro.body)) + 4
        if grown + predicted - (end - m.start()) > room:
            stats.budget_exceeded = "growth"
            break
        replacement, end = _substitute(text, end, macro, args)
        if m.start() > 0 and text[m.start() - 1] in "_^" and not _single_token(replacement):
            replacement = "{" + replacement + "}"  # `x_\ab` sub-scripts the whole expansion
        out.append(text[pos:m.start()])
        out.append(replacement)
        grown += len(replacement) - (end - m.start())
        pos = end
        stats.expanded += 1
        stats.names.add(m.group(1))
    if pos == 0:
        return text
    out.append(text[pos:])
    return "".join(out)


def expand_macros(text: str, table: dict[str, Macro], max_depth: int = MAX_MACRO_DEPTH,
                  max_growth: int = MAX_MACRO_GROWTH, stats: Optional[ExpansionStats] = None,
                  max_steps: int = MAX_MACRO_STEPS) -> str:
    """Expand `table`'s macros pass after pass until a fixpoint or `max_depth` passes.

    Verbatim environments are left as written. The text may grow to `max_growth` times its size
    (plus 64 KiB) and at most `max_steps` uses are looked at (a use whose arguments are not there
    costs as much as one expanded, and is looked at again each pass); past either the expansion stops
    where it is and `stats.budget_exceeded` names the bound.
    """
    stats = stats if stats is not None else ExpansionStats()
    if not table:
        return text
    limit = max_growth * len(text) + _GROWTH_SLACK
    pieces = _split_verbatim(text)
    size = len(text)
    for _ in range(max_depth):
        before = stats.expanded
        for k, (verb, chunk) in enumerate(pieces):
            if verb:
                continue
            new = _expand_pass(chunk, table, stats, limit - size, max_steps)
            size += len(new) - len(chunk)
            pieces[k] = (verb, new)
            if stats.budget_exceeded:
                break
        stats.passes += 1
        if stats.expanded == before or stats.budget_exceeded:
            break
    else:
        probe = ExpansionStats()  # would one more pass still change the text?
        for verb, chunk in pieces:
            if not verb and not probe.expanded and not probe.budget_exceeded:
                _expand_pass(chunk, table, probe, limit - size, max_steps)
        stats.depth_exceeded = probe.expanded > 0 or probe.budget_exceeded == "growth"
    return "".join(chunk for _, chunk in pieces)


def _split_verbatim(text: str) -> list[tuple[bool, str]]:
    """The text as (verbatim?, chunk) pieces; a `\\begin{verbatim}` without its `\\end` is not one
    (and once an environment's end is not found, later openings of it are not searched again)."""
    pieces: list[tuple[bool, str]] = []
    pos = search = 0
    unclosed: set[str] = set()
    while True:
        m = _VERBATIM_BEGIN.search(text, search)
        if m is None:
            break
        name = m.group(1)
        end = None if name in unclosed else _end_env(name).search(text, m.end())
        if end is None:
            unclosed.add(name)
            search = m.end()
            continue
        pieces.append((False, text[pos:m.start()]))
        pieces.append((True, text[m.start():end.end()]))
        pos = search = end.end()
    pieces.append((False, text[pos:]))
    return pieces


@lru_cache(maxsize=None)
def _end_env(name: str) -> re.Pattern:
    return re.compile(r"\\end\s*\{" + re.escape(name) + r"\}")
