"""LaTeX text cleaning for the arXiv source, after Lewkowycz et al. 2022 (Minerva) as LLaMA used it.

Pure functions over strings; `corpus/arxiv.py` reads the archives and calls them. The steps, in
the order `clean_latex` applies them (1 in `corpus.latex_comments`, 2 and 5 in `corpus.latex_macros`,
3 and 4 here):

1. `strip_comments`  - `%` to end of line, TeX-style (`\\%` is a percent sign, `\\\\%` starts a
   comment, `%` eats the line end so `foo%<newline>bar` is `foobar`; a line that is only a comment
   disappears). Verbatim-like environments, `\\verb|..|`, `\\lstinline` and `\\url{..}` are left
   alone; `\\begin{comment}..\\end{comment}` is removed, and so is `\\iffalse..\\fi`.
2. `collect_definitions` + `remove_definitions` - every `\\newcommand`, `\\renewcommand`,
   `\\providecommand` (and `*` forms), `\\DeclareRobustCommand`, `\\DeclareMathOperator`,
   `\\def`/`\\gdef`, `\\let` of the whole paper (preamble and body), braced or brace-less, is
   parsed, then deleted from the text.
3. `cut_front` - everything before the first sectioning command (`\\part`..`\\subparagraph`, `*` and
   `[..]` allowed) after `\\begin{document}` goes; no section -> the paper is dropped.
4. `cut_back` - the bibliography (`\\begin{thebibliography}`, `\\bibliography{..}`,
   `\\printbibliography`, `\\begin{references}`) and everything after it, `\\appendix` onwards
   (optional), and anything after `\\end{document}`.
5. `expand_macros` - user macros, with arguments (`#1`..`#9`, an optional first argument with its
   default) and nested (pass after pass until nothing changes), within a `MacroBudget` of passes,
   growth and steps (`CleanedPaper.expansion.budget_exceeded` says it ran out: the step drops it).

Every step is linear in the text (or bounded): no regex here or in the two modules can backtrack
over a long run of the same character, and nothing recurses.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from corpus.latex_comments import remove_iffalse, strip_comments
from corpus.latex_macros import (ExpansionStats, MacroBudget, collect_definitions, expand_macros, macro_table,
                                 remove_definitions)


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
# The whole cleaning
# --------------------------------------------------------------------------------------------
@dataclass
class CleanedPaper:
    """One paper's cleaned text and what the cleaning found (macros, expansion)."""

    text: Optional[str]  # None: no sectioning command (drop `no_section`)
    macros_defined: int = 0  # expandable user macros in force
    definitions_removed: int = 0
    expansion: ExpansionStats = field(default_factory=ExpansionStats)


_BLANKS = re.compile(r"\n{3,}[ \t]*")  # on lines without trailing blanks: one regex step per line end


def tidy_lines(text: str) -> str:
    """Trailing spaces and tabs removed from every line, runs of blank lines collapsed to one (and
    the indent after them dropped), in linear time: a regex like `[ \\t]+\\n` backtracks
    quadratically over a long run of spaces that no line end follows."""
    text = "\n".join(line.rstrip(" \t") for line in text.split("\n"))
    return _BLANKS.sub("\n\n", text)


def clean_latex(text: str, keep_appendix: bool = False, budget: MacroBudget = MacroBudget()) -> CleanedPaper:
    """Apply the five steps to one paper's source (its \\input files already inlined)."""
    text = remove_iffalse(strip_comments(text))
    definitions = collect_definitions(text)
    table = macro_table(definitions)
    text = remove_definitions(text, definitions)
    result = CleanedPaper(None, len(table), len(definitions))
    body = cut_front(text)
    if body is None:
        return result
    body = cut_back(body, keep_appendix)
    body = expand_macros(body, table, max_depth=budget.max_depth, max_growth=budget.max_growth,
                         stats=result.expansion, max_steps=budget.max_steps)
    result.text = tidy_lines(body).strip()
    return result
