"""ArXiv: LaTeX cleaning (comments, sections, bibliography, macros), archive reading and safety."""
from __future__ import annotations

import gzip
import io
import json
import tarfile
import time
from pathlib import Path

import pytest

from corpus import arxiv, latex
from corpus.arxiv import Limits, Paper, paper_to_document, parse_arxiv_id, read_arxiv
from corpus.fileio import ReadError, open_decompressed
from corpus.latex import clean_latex, collect_definitions, expand_macros, macro_table, strip_comments
from corpus.rules import Drop
from corpus.docfiles import iter_directory


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
    stats = latex.ExpansionStats()
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
    stats = latex.ExpansionStats()
    out = expand(pre, r"\loop", max_depth=5, stats=stats)
    assert out == "aaaaa" + r"\loop"
    assert stats.depth_exceeded


def test_macro_bomb_is_bounded_by_growth():
    pre = "\n".join([r"\newcommand{\a}{xxxxxxxxxxxxxxxx}"] + [
        rf"\newcommand{{\{chr(98 + i)}}}{{\{chr(97 + i)}\{chr(97 + i)}\{chr(97 + i)}\{chr(97 + i)}}}" for i in range(12)
    ])
    stats = latex.ExpansionStats()
    start = time.perf_counter()
    out = expand(pre, "\\" + chr(97 + 12), stats=stats, max_depth=20)
    assert time.perf_counter() - start < 5
    assert stats.growth_limited and len(out) < 10 * (1 << 16)


def test_wide_macro_bomb_is_bounded_within_one_pass():
    pre = r"\newcommand{\big}{" + "x" * 20_000 + "}"
    stats = latex.ExpansionStats()
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
    assert latex.remove_iffalse(source) == expected


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


# --------------------------------------------------------------------------------------------
# Assembly: main file, \input / \include
# --------------------------------------------------------------------------------------------
def paper(files: dict[str, str], arxiv_id: str = "2209.08940") -> Paper:
    ident = parse_arxiv_id(arxiv_id)
    return Paper(ident.id, ident.yymm, ident.version, "test", tuple((k, v.encode()) for k, v in files.items()))


def test_inline_input_and_include_with_and_without_extension():
    files = {
        "main.tex": "\\documentclass{article}\n\\input{macros}\n\\begin{document}\n\\input{sections/intro.tex}\n\\include{sections/method}\n\\input conclusion\n%\\input{old}\n\\iffalse\\input{old}\\fi\n\\end{document}",
        "macros.tex": "\\newcommand{\\ours}{OurMethod}",
        "sections/intro.tex": "\\section{Intro}\nWe propose \\ours.\n\\input{sections/detail}",
        "sections/detail.tex": "Detail.",
        "sections/method.tex": "\\section{Method}\n\\ours{} works.",
        "conclusion.tex": "\\section{Conclusion}\nDone.",
        "old.tex": "\\section{Old} must not appear",
    }
    doc = paper_to_document(paper(files))
    assert doc.metadata["main_file"] == "main.tex"
    assert doc.metadata["source_files"] == ["main.tex", "macros.tex", "sections/intro.tex", "sections/detail.tex",
                                            "sections/method.tex", "conclusion.tex"]
    out = arxiv.clean_rule()(doc)
    assert out.text == ("\\section{Intro}\nWe propose OurMethod.\nDetail.\n\\section{Method}\nOurMethod works.\n"
                        "\\section{Conclusion}\nDone.")
    assert out.metadata["macros_expanded"] == 2


def test_input_cycle_and_depth_are_bounded():
    files = {"main.tex": "\\documentclass{a}\\begin{document}\\section{S}\\input{a}", "a.tex": "A\\input{b}",
             "b.tex": "B\\input{a}"}
    doc = paper_to_document(paper(files))
    assert doc.text.count("A") == 1 and doc.text.count("B") == 1 and "\\input{a}" in doc.text


def test_main_file_tie_break_is_deterministic():
    files = {"z.tex": "\\documentclass{a}\n\\section{Z}", "supp/s.tex": "\\documentclass{a}\\begin{document}\\section{S}",
             "b.tex": "\\documentclass{a}\\begin{document}\\section{B}", "a.tex": "\\documentclass{a}\\begin{document}\\section{A}"}
    assert arxiv.choose_main({k: v for k, v in files.items()}) == "a.tex"
    reordered = dict(reversed(list(files.items())))
    assert arxiv.choose_main(reordered) == "a.tex"


def test_local_package_macros_are_used():
    files = {"main.tex": "\\documentclass{a}\\usepackage{amsmath,mymacros}\\begin{document}\\section{S}$\\RR$",
             "mymacros.sty": "\\newcommand{\\RR}{\\mathbb{R}}"}
    out = arxiv.clean_rule()(paper_to_document(paper(files)))
    assert out.text == "\\section{S}$\\mathbb{R}$"


def test_drops_no_tex_and_no_section():
    rule = arxiv.clean_rule()
    assert rule(paper_to_document(paper({"fig.eps": "x"}))) == Drop("no_tex")
    assert rule(paper_to_document(paper({"a.tex": "\\documentclass{a}\\begin{document}hi"}))) == Drop("no_section")


def test_windows_and_old_mac_line_ends():
    files = {"main.tex": "\\documentclass{a}\r\n\\begin{document}\r\n\\section{S}\r\nx % c\r\ny\r\n",
             "mac.tex": "\\section{M}\rline\r"}
    p = paper(files)
    assert paper_to_document(p).text.count("\r") == 0
    assert arxiv.clean_rule()(paper_to_document(p)).text == "\\section{S}\nx y"


def test_non_utf8_member_names_are_kept_serialisable():
    name = "caf\udce9.tex"  # how tarfile reports a Latin-1 byte in a name
    assert arxiv.safe_member_name(name) == "caf\ufffd.tex"
    json.dumps(arxiv.safe_member_name(name), ensure_ascii=False).encode("utf-8")


def test_latin1_source_is_decoded():
    ident = parse_arxiv_id("math0601001")
    p = Paper(ident.id, ident.yymm, 0, "t", (("a.tex", "\\section{Caf\xe9}".encode("latin-1")),))
    doc = paper_to_document(p)
    assert "Café" in doc.text and doc.metadata["encoding"] == "latin-1"
    assert doc.metadata["timestamp"] == "2006-01-01T00:00:00+00:00"


# --------------------------------------------------------------------------------------------
# Identifiers
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, ident, yymm, version", [
    ("2209.08940.tar.gz", "2209.08940", "2209", 0),
    ("/x/arxiv/0704.0001v2.gz", "0704.0001", "0704", 2),
    ("src/2209/2209.08940.gz", "2209.08940", "2209", 0),
    ("math0601001.gz", "math/0601001", "0601", 0),
    ("hep-th9901001v3.tar.gz", "hep-th/9901001", "9901", 3),
    ("math.GT0309136", "math.GT/0309136", "0309", 0),
    ("arXiv-2209.08940v1.tar.gz", "2209.08940", "2209", 1),
])
def test_parse_arxiv_id(name, ident, yymm, version):
    got = parse_arxiv_id(name)
    assert (got.id, got.yymm, got.version) == (ident, yymm, version)
    assert got.url == "https://arxiv.org/abs/" + ident


def test_parse_arxiv_id_rejects_other_names():
    assert parse_arxiv_id("arXiv_src_2209_001.tar") is None
    assert parse_arxiv_id("ms.tex") is None


# --------------------------------------------------------------------------------------------
# Archives and safety
# --------------------------------------------------------------------------------------------
TEX = "\\documentclass{article}\\begin{document}\\section{Intro}Hello.\\end{document}"


def make_tar(members: list[tuple], gz: bool = False) -> bytes:
    """members: (name, bytes) regular files, or ready TarInfo objects (links etc.)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gz else "w") as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mtime = 1_600_000_000
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def read(data: bytes, name: str, limits: Limits = Limits()) -> list:
    return list(read_arxiv(open_decompressed(io.BytesIO(data)), name, limits))


def test_tarball_is_read_in_memory():
    items = read(make_tar([("ms.tex", TEX.encode()), ("fig.png", b"\x89PNG" * 10)], gz=True), "2209.08940.tar.gz")
    assert len(items) == 1 and isinstance(items[0], Paper)
    assert [n for n, _ in items[0].files] == ["ms.tex"] and items[0].skipped == 1
    assert items[0].mtime == 1_600_000_000


def test_unsafe_members_are_refused_and_the_rest_is_read():
    link = tarfile.TarInfo("evil.tex")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    hard = tarfile.TarInfo("hard.tex")
    hard.type, hard.linkname = tarfile.LNKTYPE, "ms.tex"
    dev = tarfile.TarInfo("dev.tex")
    dev.type = tarfile.CHRTYPE
    data = make_tar([("../x.tex", b"up"), ("/abs.tex", b"abs"), ("a/../../y.tex", b"up2"), link, hard, dev,
                     ("ms.tex", TEX.encode())])
    items = read(data, "2209.08940.tar")
    errors = sorted(e.reason for e in items if isinstance(e, ReadError))
    assert errors == ["link_or_device_member"] * 3 + ["unsafe_member_path"] * 3
    papers = [p for p in items if isinstance(p, Paper)]
    assert len(papers) == 1 and [n for n, _ in papers[0].files] == ["ms.tex"]


class LazyTar(io.RawIOBase):
    """A seekable tar stream: a 1 GiB member whose data is never materialised, then a small one.

    Counts the bytes handed out from the big member's data region, so a test can check the reader
    refused it without reading it.
    """

    GIB = 1 << 30

    def __init__(self):
        big = tarfile.TarInfo("huge.tex")
        big.size = self.GIB
        small = tarfile.TarInfo("ms.tex")
        small.size = len(TEX)
        self.head = big.tobuf(tarfile.GNU_FORMAT)
        self.big_start = len(self.head)
        self.big_end = self.big_start + self.GIB
        tail = small.tobuf(tarfile.GNU_FORMAT) + TEX.encode()
        tail += b"\0" * (-len(tail) % 512) + b"\0" * 1024
        self.tail = tail
        self.size = self.big_end + len(tail)
        self.pos = 0
        self.big_bytes_read = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self.pos

    def seek(self, offset, whence=io.SEEK_SET):
        self.pos = {io.SEEK_SET: offset, io.SEEK_CUR: self.pos + offset, io.SEEK_END: self.size + offset}[whence]
        return self.pos

    def readinto(self, buffer):
        n = min(len(buffer), self.size - self.pos)
        if n <= 0:
            return 0
        out = bytearray(n)
        for k in range(n):  # only headers are ever read, so this loop stays short
            p = self.pos + k
            if p < self.big_start:
                out[k] = self.head[p]
            elif p < self.big_end:
                self.big_bytes_read += 1
            else:
                out[k] = self.tail[p - self.big_end]
            if k > 1 << 20:
                raise AssertionError("read more than 1 MiB")
        buffer[:n] = out
        self.pos += n
        return n


def test_huge_member_is_refused_from_its_header_without_reading_it():
    lazy = LazyTar()
    items = list(read_arxiv(open_decompressed(lazy), "2209.08940.tar", Limits(max_member_bytes=1 << 20)))
    errors = [e for e in items if isinstance(e, ReadError)]
    assert [e.reason for e in errors] == ["member_too_large"]
    assert str(LazyTar.GIB) in errors[0].detail
    papers = [p for p in items if isinstance(p, Paper)]
    assert [n for n, _ in papers[0].files] == ["ms.tex"]
    assert lazy.big_bytes_read < 64 * 1024  # buffering may touch its first block at most


class ZeroStream(io.RawIOBase):
    """A non-seekable stream: one tar header for a 1 GiB member, then zeros produced on demand."""

    def __init__(self):
        info = tarfile.TarInfo("huge.tex")
        info.size = LazyTar.GIB
        self.head = info.tobuf(tarfile.GNU_FORMAT)
        self.served = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        n = len(buffer)
        if self.served < len(self.head):
            chunk = self.head[self.served:self.served + n]
            buffer[:len(chunk)] = chunk
            self.served += len(chunk)
            return len(chunk)
        if self.served >= len(self.head) + LazyTar.GIB:
            return 0
        buffer[:n] = bytes(n)
        self.served += n
        return n


def test_stream_budget_stops_a_huge_non_seekable_archive():
    stream = ZeroStream()
    items = list(read_arxiv(io.BufferedReader(stream), "2209.08940.tar.gz",
                            Limits(max_member_bytes=1 << 20, max_archive_bytes=4 << 20)))
    assert [e.reason for e in items if isinstance(e, ReadError)] == ["member_too_large", "archive_too_large"]
    assert stream.served < 8 << 20


def test_text_budget_per_paper():
    data = make_tar([(f"part{i}.tex", b"x" * 1000) for i in range(10)])
    items = read(data, "2209.08940.tar", Limits(max_paper_bytes=5000))
    assert [e.reason for e in items if isinstance(e, ReadError)] == ["paper_too_large"]
    assert not any(isinstance(p, Paper) for p in items)


def test_gzipped_single_tex():
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=1_500_000_000) as gz:
        gz.write(TEX.encode())
    items = read(buffer.getvalue(), "math0601001.gz")
    assert len(items) == 1
    p = items[0]
    assert p.arxiv_id == "math/0601001" and p.files == (("0601001.tex", TEX.encode()),)
    doc = paper_to_document(p, added="2026-01-01")
    assert doc.metadata["timestamp"] == "2017-07-14T02:40:00+00:00"
    assert arxiv.clean_rule()(doc).text == "\\section{Intro}Hello."


def test_bulk_src_tar_of_per_paper_gz():
    single = gzip.compress(TEX.encode(), mtime=0)
    tarball = make_tar([("main.tex", TEX.replace("Hello", "Tarball").encode())], gz=True)
    bulk = make_tar([("2209/2209.00001.gz", single), ("2209/2209.00002.gz", tarball),
                     ("2209/2209.00003.pdf", b"%PDF-1.4"), ("2209/2209.00004.gz", b"\x1f\x8bnot gzip")])
    items = read(bulk, "arXiv_src_2209_001.tar")
    papers = {p.arxiv_id: p for p in items if isinstance(p, Paper)}
    assert sorted(papers) == ["2209.00001", "2209.00002"]
    assert [e.reason for e in items if isinstance(e, ReadError)] == ["corrupt_compression"]
    assert papers["2209.00001"].mtime == 1_600_000_000  # the bulk member's, gzip header had none
    assert papers["2209.00002"].files[0][0] == "main.tex"


def test_broken_papers_in_a_bulk_tar_do_not_stop_it():
    good = gzip.compress(TEX.encode() * 50, mtime=0)
    flipped = good[:20] + bytes(b ^ 0x55 for b in good[20:60]) + good[60:]
    tarball = make_tar([("main.tex", TEX.encode() * 200)], gz=True)
    bulk = make_tar([("2209/2209.00001.gz", flipped), ("2209/2209.00002.gz", good[: len(good) // 2]),
                     ("2209/2209.00003.gz", tarball[: len(tarball) // 2]), ("2209/2209.00004.gz", good)])
    items = read(bulk, "arXiv_src_2209_001.tar")
    assert [e.reason for e in items if isinstance(e, ReadError)] == ["corrupt_compression", "truncated_input",
                                                                     "truncated_input"]
    assert [p.arxiv_id for p in items if isinstance(p, Paper)] == ["2209.00004"]


def test_truncated_tar_is_an_error_not_a_partial_paper():
    data = make_tar([("a.tex", TEX.encode() * 100), ("b.tex", TEX.encode() * 100)])
    assert [type(i).__name__ + ":" + getattr(i, "reason", "") for i in read(data[: len(data) // 2], "2209.00009.tar")] == [
        "ReadError:corrupt_archive"]


def test_archive_without_id_is_an_error():
    items = read(make_tar([("ms.tex", TEX.encode())]), "paper.tar")
    assert [e.reason for e in items] == ["no_arxiv_id"]


# --------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------
def run_pipeline(inputs: list[str], output: Path, *extra: str):
    from pipelines import arxiv as pipeline

    ledger = pipeline.main(["--input", *inputs, "--output", str(output), "--added", "2026-01-01", "--no_lid", *extra])
    return ledger, [doc.to_record() for doc in iter_directory(str(output))]


def test_pipeline_on_fixtures_accounts_for_every_paper(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "2301.00001.tar.gz").write_bytes(make_tar([("ms.tex", TEX.encode())], gz=True))
    (inputs / "2301.00001v2.tar.gz").write_bytes(make_tar([("ms.tex", TEX.replace("Hello", "V2").encode())], gz=True))
    (inputs / "2301.00002.tar.gz").write_bytes(make_tar([("fig.png", b"png")], gz=True))
    (inputs / "2301.00003.gz").write_bytes(gzip.compress(b"\\documentclass{a}\\begin{document}no sections"))
    (inputs / "2301.00004.tar").write_bytes(make_tar([("../evil.tex", b"x"), ("ms.tex", TEX.encode())]))
    (inputs / "notes.txt").write_text("ignored")
    ledger, docs = run_pipeline([str(inputs)], tmp_path / "out")
    assert ledger.documents_in == 5 and ledger.balanced
    assert ledger.dropped == {"duplicate_paper": 1, "no_tex": 1, "no_section": 1}
    assert ledger.errors == {"unsafe_member_path": 1}
    by_id = {d["metadata"]["arxiv_id"]: d for d in docs}
    assert sorted(by_id) == ["2301.00001", "2301.00004"]
    assert by_id["2301.00001"]["text"] == "\\section{Intro}V2."  # the newest version wins


@pytest.mark.samples
def test_pipeline_on_real_samples(tmp_path):
    from corpus.samples import require_samples

    folder = require_samples("arxiv")
    ledger, docs = run_pipeline([str(folder)], tmp_path / "out")
    assert ledger.documents_in == ledger.documents_written + sum(ledger.dropped.values())
    assert ledger.documents_in == len(list(folder.glob("*")))
    assert docs, "no paper survived"
    for doc in docs:
        text = doc["text"]
        assert latex.SECTION.match(text), text[:80]
        assert "\\newcommand" not in text and "\\renewcommand" not in text and "\\def\\" not in text
        assert "\\begin{thebibliography}" not in text and "\\bibliography{" not in text
        assert doc["metadata"]["url"] == "https://arxiv.org/abs/" + doc["metadata"]["arxiv_id"]
        assert doc["metadata"]["chars_clean"] == len(text) <= doc["metadata"]["chars_source"]
    assert ledger.info["macros_expanded"] > 0


@pytest.mark.samples
def test_samples_in_bulk_layout_give_the_same_documents(tmp_path):
    from corpus.samples import require_samples

    folder = require_samples("arxiv")
    papers = sorted(folder.glob("*.tar.gz"))
    bulk = make_tar([(f"{p.name[:4]}/{p.name[: -len('.tar.gz')]}.gz", p.read_bytes()) for p in papers])
    direct = {}
    for p in papers:
        with open(p, "rb") as handle:
            (item,) = list(read_arxiv(open_decompressed(handle), str(p)))
        direct[item.arxiv_id] = arxiv.clean_rule()(paper_to_document(item)).text
    from_bulk = {item.arxiv_id: arxiv.clean_rule()(paper_to_document(item)).text
                 for item in read(bulk, "arXiv_src_2209_001.tar")}
    assert from_bulk == direct and len(direct) == len(papers)


def test_language_metadata_when_lid_is_available():
    from pipelines.arxiv import language_factory

    factory = language_factory(None)
    if factory is None:
        pytest.skip("no corpus.lid or no lid.176 model installed")
    rule = factory()
    doc = paper_to_document(paper({"a.tex": "\\section{Intro}\nWe study the evolution of binary stars and "
                                            "their gravitational wave signals in detail."}))
    out = rule(arxiv.clean_rule()(doc))
    assert out.metadata["language"] == "en" and 0.5 <= out.metadata["language_score"] <= 1
