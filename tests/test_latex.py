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
    assert stats.budget_exceeded == "growth" and len(out) < 10 * (1 << 16)


def test_wide_macro_bomb_is_bounded_within_one_pass():
    pre = r"\newcommand{\big}{" + "x" * 20_000 + "}"
    stats = ExpansionStats()
    out = expand(pre, r"\big " * 20_000, stats=stats)  # would be 400 MB expanded
    assert stats.budget_exceeded == "growth" and len(out) < 4 * 20_000 * 5 + (1 << 16) + 20_001


def test_no_expansion_inside_verbatim():
    pre = r"\newcommand{\x}{X}"
    body = "\\x\n\\begin{verbatim}\n\\x\n\\end{verbatim}\n\\x"
    assert expand(pre, body) == "X\n\\begin{verbatim}\n\\x\n\\end{verbatim}\nX"


def test_escaped_backslash_before_a_name_is_a_line_break_not_a_macro():
    pre = r"\newcommand{\x}{X}"
    assert expand(pre, r"a\\x \x") == r"a\\x X"


# Every form of definition LaTeX accepts, in the body (after \begin{document}) as in the preamble:
# the definition is gone and its uses are expanded, exactly.
BODY = "\\documentclass{a}\n\\begin{document}\n\\section{S}\n"


@pytest.mark.parametrize("definition, use, expected", [
    (r"\newcommand\x{X}", r"a \x{} b", "a X b"),
    (r"\newcommand{\x}{X}", r"a \x b", "a X b"),
    (r"\newcommand{\x}[2]{<#1|#2>}", r"\x{a}{b}", "<a|b>"),
    (r"\newcommand{\x}[2][D]{<#1|#2>}", r"\x{b} \x[o]{p}", "<D|b> <o|p>"),
    (r"\newcommand\x[1][]{(#1)}", r"\x \x[y]", "() (y)"),
    (r"\newcommand*{\x}[1]{<#1>}", r"\x{a}", "<a>"),
    (r"\newcommand*\x{X}", r"\x.", "X."),
    (r"\renewcommand{\x}{X}", r"\x.", "X."),
    (r"\renewcommand*\x[1]{#1#1}", r"\x{ab}", "abab"),
    (r"\providecommand{\x}{X}", r"\x.", "X."),
    (r"\providecommand*{\x}[1]{<#1>}", r"\x z", "<z>"),
    (r"\DeclareRobustCommand{\x}{X}", r"\x.", "X."),
    (r"\def\x{X}", r"\x.", "X."),
    (r"\def\x#1#2{<#1|#2>}", r"\x{a}{b} \x cd", "<a|b> <c|d>"),
    (r"\gdef\x{X}", r"\x.", "X."),
    (r"\long\def\x#1{<#1>}", r"\x{a}", "<a>"),
    (r"\global\long\def\x{X}", r"\x.", "X."),
    (r"\protected\def\x{X}", r"\x.", "X."),
    (r"\DeclareMathOperator{\Tr}{Tr}", r"$\Tr A$", r"$\operatorname{Tr} A$"),
    (r"\DeclareMathOperator*{\argmax}{arg\,max}", r"$\argmax_x f$", r"$\operatorname*{arg\,max}_x f$"),
    (r"\DeclareMathOperator\sgn{sgn}", r"$\sgn x$", r"$\operatorname{sgn} x$"),
    (r"\newcommand\name\value", r"We \name.", r"We \value."),
    (r"\newcommand\eps\varepsilon", r"$\eps_0$", r"$\varepsilon_0$"),
    (r"\renewcommand\x y", r"a\x.", "ay."),
    (r"\newcommand{\x}" + "\n" + r"  {X}", r"\x.", "X."),
    (r"\let\eps\varepsilon", r"$\eps$", r"$\varepsilon$"),
    (r"\let\eps=\varepsilon", r"$\eps$", r"$\varepsilon$"),
    (r"\let\eps = \varepsilon", r"$\eps$", r"$\varepsilon$"),
    (r"\global\let\x= y", r"a\x.", "ay."),
])
def test_every_definition_form_is_expanded_and_removed(definition, use, expected):
    assert clean_latex(BODY + definition + "\n" + use + "\n").text == "\\section{S}\n\n" + expected
    assert clean_latex("\\documentclass{a}\n" + definition + "\n" + BODY[len("\\documentclass{a}\n"):] + use).text == (
        "\\section{S}\n" + expected)


def test_let_copies_the_meaning_at_that_point():
    pre = "\n".join([r"\newcommand\R{\mathbb{R}}", r"\let\oldR\R", r"\renewcommand\R{\oldR^n}",
                     r"\let\oldtab\tabular", r"\renewcommand{\tabular}{\small\oldtab}", r"\let\bgroup{"])
    text = clean_latex(pre + "\n" + BODY + r"$\R$, \oldR, \tabular")
    # \oldtab names \tabular, which the paper redefines after the \let: removed, not expanded (it
    # would loop); a \let to a brace is not notation and stays.
    assert text.text == "\\section{S}\n$\\mathbb{R}^n$, \\mathbb{R}, \\small\\oldtab"
    assert text.definitions_removed == 5 and text.macros_defined == 3


def test_a_def_without_braces_is_not_a_definition_and_swallows_nothing():
    text = clean_latex(BODY + "\\def\\x " + "word " * 100 + "{tail}").text
    assert text == "\\section{S}\n\\def\\x " + "word " * 99 + "word {tail}"


def test_unclosed_definitions_stay_as_written():
    assert clean_latex(BODY + "\\newcommand{\\x}{never closed\nmore").text == "\\section{S}\n\\newcommand{\\x}{never closed\nmore"
    assert clean_latex(BODY + "\\newcommand{\\x}[2\nmore").text == "\\section{S}\n\\newcommand{\\x}[2\nmore"


def test_optional_argument_ends_at_the_first_bracket_outside_braces():
    pre = r"\newcommand{\x}[2][d]{<#1|#2>}"
    assert expand(pre, r"\x[a{]}b]{c}") == r"<a{]}b|c>"
    assert expand(pre, r"\x[a[b]c]{e}") == r"<a[b|c>]{e}"  # LaTeX's reading: the first `]`
    assert expand(pre, r"{\x[a}b]") == r"{\x[a}b]"  # a `}` closes the group first: no use


def test_expansion_budget_of_uses():
    pre = r"\newcommand{\x}{y}"
    stats = ExpansionStats()
    out = expand(pre, r"\x " * 100, max_steps=40, stats=stats)
    assert stats.budget_exceeded == "steps" and stats.expanded == 40 and out.count("y") == 40
    stats = ExpansionStats()
    expand(r"\newcommand{\f}[1]{<#1>}", r"{\f}" * 100, max_steps=40, stats=stats)  # no argument: not expanded
    assert stats.budget_exceeded == "steps" and stats.expanded == 0 and stats.steps == 41


def test_arguments_that_multiply_are_bounded_before_they_are_built():
    pre = r"\newcommand\a[1]{#1#1#1#1#1#1#1#1}\newcommand\b[1]{\a{\a{\a{#1}}}}"
    stats = ExpansionStats()
    start = time.process_time()
    out = expand(pre, r"\b{\b{\b{\b{" + "x" * 1000 + "}}}}", stats=stats, max_depth=50)
    assert time.process_time() - start < 1
    assert stats.budget_exceeded == "growth" and len(out) <= 4 * 1020 + (1 << 16)


# Pathological text: each case is 100 KB or more and must be done in well under a second (the
# regexes and scans were quadratic or backtracked on these).
def _patho_cases() -> dict[str, str]:
    n = 100_000
    return {
        "unclosed_newcommand": BODY + "\\newcommand{\\x}{" * (n // 16),
        "def_without_braces": BODY + "\\def\\x " * (n // 7),
        "trailing_spaces": BODY + "a" + " " * n + "b\n" + ("x" + " " * 1000) * 100,
        "deep_braces": BODY + "{" * n + "x" + "}" * n,
        "unclosed_braces_deep": "\\newcommand\\f[1]{#1}" + BODY + "\\f{" * (n // 3),
        "unclosed_optional_args": "\\newcommand\\f[2][d]{#1#2}" + BODY + "\\f[" * (n // 3),
        "unclosed_verbatim": "\\newcommand\\f{x}" + BODY + "\\begin{verbatim}" * (n // 16),
        "many_verbatim_blocks": "\\newcommand\\f{x}" + BODY + "\\f\\begin{verbatim}v\\end{verbatim}" * (n // 30),
        "unclosed_iffalse": BODY + "\\iffalse " * (n // 9),
        "unclosed_url_with_comment": BODY + "\\url{" * (n // 5) + "%",
        "long_prefixes": BODY + "\\long" * (n // 5) + "\\def\\x{X}\\x",
        "many_macros_many_uses": "".join(f"\\newcommand\\m{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}{{x}}" for i in range(600))
                                 + BODY + "\\maa " * (n // 5),
        "blank_lines": BODY + "a" + "\n" * n + "b" + "\n \n" * (n // 3),
    }


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", sorted(_patho_cases()))
def test_pathological_latex_is_linear(name):
    text = _patho_cases()[name]
    assert len(text) >= 100_000
    start = time.process_time()
    cleaned = clean_latex(text)
    assert time.process_time() - start < 1.0, name  # CPU time (the suite shares cores); measured 7-190 ms
    assert cleaned.text is not None


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
