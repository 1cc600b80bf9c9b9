"""The LaTeX text steps of the arXiv source: macros (definitions, expansion), comments, cutting."""
from __future__ import annotations

import time

import pytest

from corpus.latex import clean_latex
from corpus.latex_comments import remove_iffalse, strip_comments
from corpus.latex_macros import ExpansionStats, collect_definitions, expand_macros, macro_table


def expand(preamble: str, body: str, **kw) -> str:
    table = macro_table(collect_definitions(preamble))
    return expand_macros(body, table, **kw)


# --------------------------------------------------------------------------------------------
# Macros
# --------------------------------------------------------------------------------------------
def test_macro_without_arguments():
    pre = r"\newcommand{\lw}{LEGWORK}"
    assert expand(pre, r"We present \lw{} here, \lw. and \lw\ too") == r"We present LEGWORK here, LEGWORK. and LEGWORK\ too"


def test_macro_name_must_end_at_a_non_letter():
    pre = r"\newcommand{\R}{\mathbb{R}}"
    assert expand(pre, r"\R^n \Re \Rn") == r"\mathbb{R}^n \Re \Rn"


def test_macro_with_arguments():
    pre = r"\newcommand{\avg}[1]{\left\langle #1\right\rangle}" + "\n" + r"\newcommand{\pair}[2]{(#1, #2)}"
    assert expand(pre, r"$\avg{x^2}$") == r"$\left\langle x^2\right\rangle$"
    assert expand(pre, r"\pair{a}{b} \pair ab \pair{\alpha} {c}") == r"(a, b) (a, b) (\alpha, c)"


def test_macro_argument_with_braces_and_hash():
    pre = r"\newcommand{\url}[1]{\href{https://x.org/\##1}{#1}}"
    assert expand(pre, r"\url{{a}b}") == r"\href{https://x.org/\#{a}b}{{a}b}"


def test_optional_first_argument_default():
    pre = r"\newcommand{\norm}[2][2]{\|#2\|_{#1}}"
    assert expand(pre, r"\norm{x} \norm[\infty]{y}") == r"\|x\|_{2} \|y\|_{\infty}"


def test_nested_macros_until_fixpoint():
    pre = "\n".join([
        r"\newcommand{\R}{\mathbb{R}}",
        r"\newcommand{\Rn}[1]{\R^{#1}}",
        r"\newcommand{\vx}{\vec{x}}",
        r"\newcommand{\vec}[1]{\mathbf{#1}}",  # defined after use in another body: still expands
        r"\newcommand{\dom}{\vx \in \Rn{d}}",
    ])
    stats = ExpansionStats()
    out = expand(pre, r"$\dom$", stats=stats)
    assert out == r"$\mathbf{x} \in \mathbb{R}^{d}$"
    assert stats.passes >= 3 and not stats.depth_exceeded


def test_macro_that_passes_a_name_to_a_macro_with_arguments():
    pre = r"\newcommand{\op}[1]{\operatorname{#1}}" + "\n" + r"\newcommand{\trace}{\op}"
    assert expand(pre, r"\trace{tr}") == r"\operatorname{tr}"


def test_def_with_and_without_parameters():
    pre = "\n".join([r"\def\eps{\varepsilon}", r"\def\pair#1#2{\langle #1,#2\rangle}", r"\def\d#1.{delimited}"])
    assert expand(pre, r"$\eps \pair{u}{v}$") == r"$\varepsilon \langle u,v\rangle$"
    # A delimited \def is not expanded (its use is left as written).
    assert expand(pre, r"\d x.") == r"\d x."


def test_newcommand_forms_renew_provide_star_and_unbraced_name():
    pre = "\n".join([
        r"\newcommand*{\a}{one}",
        r"\newcommand\b{two}",
        r"\renewcommand{\a}{uno}",
        r"\providecommand{\a}{ignored}",
        r"\providecommand{\c}{three}",
        r"\DeclareRobustCommand{\e}[1]{<#1>}",
    ])
    assert expand(pre, r"\a \b \c \e{x}") == r"uno two three <x>"


def test_control_word_after_expansion_does_not_fuse_with_letters():
    pre = r"\newcommand{\ga}{\alpha}"
    assert expand(pre, r"$\ga{}x$") == r"$\alpha{}x$"


def test_expansion_after_sub_or_superscript_is_grouped():
    pre = r"\newcommand{\ab}{ab}" + "\n" + r"\newcommand{\e}{e}" + "\n" + r"\newcommand{\R}{\mathbb{R}}"
    assert expand(pre, r"$x_\ab y^\e z_\R$") == r"$x_{ab} y^e z_{\mathbb{R}}$"


def test_xspace_at_the_end_of_a_body_is_dropped():
    pre = r"\newcommand{\lw}{LEGWORK\xspace}"
    assert expand(pre, r"\lw is, \lw. \lw{} too") == r"LEGWORK is, LEGWORK. LEGWORK too"


def test_internal_and_protected_macros_are_not_expanded():
    pre = "\n".join([
        r"\newcommand{\check}{\@ifnextchar\bgroup{x}{}}",
        r"\renewcommand{\section}{\oldsection}",
        r"\newcommand{\wrap}{\newcommand{\inner}{x}}",
    ])
    table = macro_table(collect_definitions(pre))
    assert set(table) == set()


def test_recursive_macro_is_bounded():
    pre = r"\newcommand{\loop}{a\loop}"
    stats = ExpansionStats()
    out = expand(pre, r"\loop", max_depth=5, stats=stats)
    assert out == "aaaaa" + r"\loop"
    assert stats.depth_exceeded


def test_macro_bomb_is_bounded_by_growth():
    pre = "\n".join([r"\newcommand{\a}{xxxxxxxxxxxxxxxx}"] + [
        rf"\newcommand{{\{chr(98 + i)}}}{{\{chr(97 + i)}\{chr(97 + i)}\{chr(97 + i)}\{chr(97 + i)}}}" for i in range(12)
    ])
    stats = ExpansionStats()
    start = time.perf_counter()
    out = expand(pre, "\\" + chr(97 + 12), stats=stats, max_depth=20)
    assert time.perf_counter() - start < 5
    assert stats.growth_limited and len(out) < 10 * (1 << 16)


def test_wide_macro_bomb_is_bounded_within_one_pass():
    pre = r"\newcommand{\big}{" + "x" * 20_000 + "}"
    stats = ExpansionStats()
    out = expand(pre, r"\big " * 20_000, stats=stats)  # would be 400 MB expanded
    assert stats.growth_limited and len(out) < 4 * 20_000 * 5 + (1 << 16) + 20_001


def test_no_expansion_inside_verbatim():
    pre = r"\newcommand{\x}{X}"
    body = "\\x\n\\begin{verbatim}\n\\x\n\\end{verbatim}\n\\x"
    assert expand(pre, body) == "X\n\\begin{verbatim}\n\\x\n\\end{verbatim}\nX"


def test_escaped_backslash_before_a_name_is_a_line_break_not_a_macro():
    pre = r"\newcommand{\x}{X}"
    assert expand(pre, r"a\\x \x") == r"a\\x X"


# --------------------------------------------------------------------------------------------
# Comments
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("source, expected", [
    ("50\\% of cases", "50\\% of cases"),
    ("text % a remark\nnext", "text next"),
    ("word%\nnext", "wordnext"),
    ("line\\\\% comment\nnext", "line\\\\next"),
    ("a\n% whole line\n  % indented whole line\nb", "a\nb"),
    ("end of line %\n\nnew paragraph", "end of line \n\nnew paragraph"),
    ("%only\n", ""),
    ("\\verb|50%|, more % cut", "\\verb|50%|, more "),
    ("see \\url{http://x.org/a%20b} % cut", "see \\url{http://x.org/a%20b} "),
    ("\\begin{verbatim}\n50% kept\n\\end{verbatim}\nx % cut", "\\begin{verbatim}\n50% kept\n\\end{verbatim}\nx "),
    ("a\n\\begin{comment}\ndropped\n\\end{comment}\nb", "a\nb"),
    ("\\newcommand{\\unit}[1]{%\n    \\,\\mathrm{#1}}", "\\newcommand{\\unit}[1]{\\,\\mathrm{#1}}"),
])
def test_strip_comments(source, expected):
    assert strip_comments(source) == expected


@pytest.mark.parametrize("source, expected", [
    ("a \\iffalse hidden \\fi b", "a  b"),
    ("a\\iffalse x \\ifx\\a\\b y\\fi z \\ifmmode w\\else v\\fi \\fi b", "a b"),
    ("a \\iffalse $p \\iff q$ \\fi b", "a  b"),
    ("\\newif\\ifdraft a \\iffalse \\newif\\iffoo x \\fi b", "\\newif\\ifdraft a  b"),
    ("a \\iffalse never closed", "a \\iffalse never closed"),
    ("\\iffalsey \\fi", "\\iffalsey \\fi"),
])
def test_remove_iffalse(source, expected):
    assert remove_iffalse(source) == expected


def test_iffalse_block_hides_sections_and_definitions():
    source = "\\iffalse\n\\section{Draft}\n\\newcommand{\\x}{X}\n\\fi\n\\section{Real}\n\\x"
    assert clean_latex(source).text == "\\section{Real}\n\\x"


def test_strip_comments_is_idempotent():
    text = "a % x\nb\\% c %\n\\verb|%|\n"
    once = strip_comments(text)
    assert strip_comments(once) == once


# --------------------------------------------------------------------------------------------
# Cutting: first section, bibliography, appendix
# --------------------------------------------------------------------------------------------
PAPER = r"""\documentclass{article}
\newcommand{\mysec}[1]{\section{#1}}
\newcommand{\R}{\mathbb{R}}
\begin{document}
\title{T}\maketitle
\begin{abstract} Abstract text. \end{abstract}
\section*{Introduction}
We work in $\R^n$. % a comment
\newcommand{\late}{defined late}
\late.
\appendix
\section{Proofs}
Appendix text.
\bibliographystyle{plain}
\bibliography{refs}
\section*{After}
\end{document}
trailing junk
"""


def test_clean_cuts_front_and_back_and_removes_definitions():
    cleaned = clean_latex(PAPER)
    # The inline comment eats its line end (TeX), so the next line joins; the definition goes.
    assert cleaned.text == "\\section*{Introduction}\nWe work in $\\mathbb{R}^n$.\ndefined late."
    assert cleaned.macros_defined == 3 and cleaned.expansion.expanded == 2


def test_bibliographystyle_is_removed_wherever_it_is():
    source = "\\section{A}\n\\bibliographystyle{plain}\nbody\n\\bibliographystyle{abbrv}\n\\bibliography{refs}"
    assert clean_latex(source).text == "\\section{A}\nbody"


def test_keep_appendix_keeps_it_up_to_the_bibliography():
    text = clean_latex(PAPER, keep_appendix=True).text
    assert "\\section{Proofs}\nAppendix text." in text and "After" not in text and "junk" not in text


def test_keep_appendix_after_the_bibliography():
    source = "\\section{A}\nbody\n\\begin{thebibliography}{9}\\bibitem{x} X\\end{thebibliography}\n\\appendix\n\\section{B}\nmore\n\\end{document}"
    assert clean_latex(source).text == "\\section{A}\nbody"
    kept = clean_latex(source, keep_appendix=True).text
    assert kept.startswith("\\section{A}\nbody") and kept.endswith("\\appendix\n\\section{B}\nmore")
    assert "bibitem" not in kept


def test_section_command_in_preamble_definition_is_not_the_start():
    source = "\\documentclass{x}\n\\def\\sectionautorefname{Section}\n\\newcommand{\\s}{\\section{X}}\n\\begin{document}\nfront\n\\chapter[short]{Long}\ntext"
    assert clean_latex(source).text == "\\chapter[short]{Long}\ntext"


def test_no_section_is_none():
    assert clean_latex("\\documentclass{x}\\begin{document}Just text.\\end{document}").text is None


def test_commented_out_section_and_bibliography_do_not_count():
    source = "%\\section{Old}\nfront\n\\section{New}\nbody\n% \\bibliography{x}\nmore"
    assert clean_latex(source).text == "\\section{New}\nbody\nmore"
