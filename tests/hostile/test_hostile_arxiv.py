"""arXiv on hostile input: one capped `python -m pipelines.arxiv` run over a folder of generated
archives, each a trap (an mtime in the year 36812, 66,000 and 100,001 members, a member over the
size limit, unsafe and link members, a gzip bomb inside a bulk tar, macros that multiply, inputs
that multiply, pathological LaTeX), beside a good paper that must come through, exactly.

Every trap ends as a counted reason, the ledger balances, and the run stays within the harness's
4 GiB address space and time bound (measured: ~20 s and 235 MB peak RSS, most of it tarfile reading
166,000 member headers; before, the job died on the first trap, `year 36812 is out of range`, and
alone the 66,000-member paper died of `MemoryError`, the pathological paper and the multiplying
inputs each ran past 120 s). The pathological strings alone, in process: tests/test_latex.py.
"""
from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import Iterable

import pytest

from tests.hostile.harness import assert_completed, run_capped

HEAD = "\\documentclass{article}\n\\begin{document}\n"
GOOD = (
    "\\documentclass{article}\n\\newcommand{\\R}{\\mathbb{R}}\n\\DeclareMathOperator*{\\argmax}{arg\\,max}\n"
    "\\begin{document}\n\\section{Intro}\n\\newcommand\\name\\value\n\\def\\pair#1#2{(#1,#2)}\n"
    "Good paper on $\\R$, \\name, $\\argmax_x$ and \\pair{a}{b}.\n\\end{document}\n"
)
GOOD_TEXT = "\\section{Intro}\n\nGood paper on $\\mathbb{R}$, \\value, $\\operatorname*{arg\\,max}_x$ and (a,b)."
SMALL = HEAD + "\\section{S}\nSmall paper {}.\n\\end{document}\n"


def tar_of(members: Iterable[tuple], fmt: int = tarfile.GNU_FORMAT, mtime: int = 1_600_000_000) -> bytes:
    """members: (name, bytes) regular files, or ready TarInfo objects (links, odd headers)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member, io.BytesIO(b"\0" * member.size) if member.isreg() else None)
                continue
            name, data = member
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), mtime
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def many_member_tar(first: tuple[str, bytes], names: Iterable[str], data: bytes) -> bytes:
    """A plain tar of `first` and then one `data` member per name, built header by header (tarfile
    takes ~60 µs a member; this ~10)."""
    info = tarfile.TarInfo(first[0])
    info.size, info.mtime = len(first[1]), 1_600_000_000
    out = [info.tobuf(tarfile.USTAR_FORMAT), first[1] + b"\0" * (-len(first[1]) % 512)]
    info.size = len(data)
    template = bytearray(info.tobuf(tarfile.USTAR_FORMAT))
    body = data + b"\0" * (-len(data) % 512)
    for name in names:
        header = bytearray(template)
        header[0:100] = name.encode().ljust(100, b"\0")
        header[148:156] = b" " * 8
        header[148:156] = b"%06o\0 " % sum(header)
        out += [bytes(header), body]
    out.append(b"\0" * 1024)
    return b"".join(out)


def gzip_bomb_tar(member: str, size: int) -> bytes:
    """A gzipped tar whose one member is `size` zero bytes, from ~1/1000 of that (gzip members of
    1 MiB of zeros, concatenated)."""
    header = tarfile.TarInfo(member)
    header.size = size
    return gzip.compress(header.tobuf(tarfile.USTAR_FORMAT)) + gzip.compress(b"\0" * (1 << 20), 1) * (size >> 20)


def pathological_latex() -> str:
    """~400 KB that used to hang the cleaner: unclosed definitions, brace-less \\def, runs of
    trailing spaces, deep braces, unclosed \\iffalse and verbatim, unclosed arguments."""
    n = 50_000
    return ("\\newcommand\\f[2][d]{#1#2}\n" + HEAD + "\\section{Patho}\nText before the traps.\n"
            + "\\newcommand{\\x}{" * (n // 16) + "\n" + "\\def\\y " * (n // 7) + "\n" + "a" + " " * n + "b\n"
            + "{" * n + "deep" + "}" * n + "\n" + "\\iffalse " * (n // 9) + "\n" + "\\begin{verbatim}" * (n // 16)
            + "\n" + "\\f{" * (n // 3) + "\n" + "\\f[" * (n // 3) + "\n")


def macro_bomb() -> str:
    """Arguments that multiply: \\c{..} is 8^3 copies of its argument, nested three deep."""
    return ("\\newcommand\\a[1]{#1#1#1#1#1#1#1#1}\\newcommand\\b[1]{\\a{\\a{#1}}}\\newcommand\\c[1]{\\b{\\a{#1}}}\n"
            + HEAD + "\\section{Bomb}\n" + "\\c{\\c{\\c{\\c{xxxxxxxx}}}}\n" * 20)


def write_inputs(folder: Path) -> None:
    folder.mkdir()
    (folder / "2301.00001.tar.gz").write_bytes(gzip.compress(tar_of([("ms.tex", GOOD.encode())])))
    # A member mtime in the year 36812 (GNU base-256 header field): counted, the paper still read.
    (folder / "2301.00002.tar").write_bytes(tar_of([("ms.tex", SMALL.encode())], mtime=1_099_511_627_775))
    # 66,000 small text members (each read: one buffer and, before, one memory map per member).
    (folder / "2301.00003.tar").write_bytes(
        many_member_tar(("ms.tex", SMALL.encode()), (f"s/{i}.tex" for i in range(66_000)), b"x" * 100))
    # 100,001 tiny members: over --max_members (100,000 by default).
    (folder / "2301.00004.tar").write_bytes(
        many_member_tar(("ms.tex", SMALL.encode()), (f"f/{i}.png" for i in range(100_001)), b"p"))
    # A .tex member over --max_member_bytes (16 MiB), refused from its header; the paper is kept.
    big = tarfile.TarInfo("big.tex")
    big.size = (16 << 20) + 1
    (folder / "2301.00005.tar").write_bytes(tar_of([big, ("ms.tex", SMALL.encode())]))
    # Unsafe and link members are refused; the paper is kept.
    link = tarfile.TarInfo("link.tex")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    (folder / "2301.00006.tar").write_bytes(tar_of([("../evil.tex", b"x"), ("/abs.tex", b"x"), link,
                                                    ("ms.tex", SMALL.encode())]))
    # A bulk tar: a gzip bomb paper (2 GiB of zeros behind a tar header), a gzipped single .tex of
    # 32 MiB of zeros, and a good paper after them.
    (folder / "arXiv_src_2301_001.tar").write_bytes(tar_of([
        ("2301/2301.00010.gz", gzip_bomb_tar("fig.png", 2 << 30)),
        ("2301/2301.00011.gz", gzip.compress(b"\0" * (32 << 20), 1)),
        ("2301/2301.00012.gz", gzip.compress(tar_of([("ms.tex", SMALL.encode())]))),
    ]))
    # Pathological LaTeX (written, quickly), a macro bomb (dropped), \inputs that multiply (refused).
    (folder / "2301.00020.tar").write_bytes(tar_of([("ms.tex", pathological_latex().encode())]))
    (folder / "2301.00021.tar").write_bytes(tar_of([("ms.tex", macro_bomb().encode())]))
    inputs = [("ms.tex", (HEAD + "\\section{S}" + "\\input{a}" * 10).encode())]
    inputs += [(f"{c}.tex", f"\\input{{{n}}}".encode() * 10) for c, n in zip("abcdefg", "bcdefgh")]
    (folder / "2301.00022.tar").write_bytes(tar_of(inputs + [("h.tex", b"x")]))


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile_arxiv")
    write_inputs(tmp / "in")
    return run_capped("pipelines.arxiv", ["--input", str(tmp / "in"), "--added", "2026-01-01", "--no_lid",
                                          "--rejected_samples", "all"],
                      output=tmp / "out", case="arxiv: every trap in one input folder")


def test_every_trap_is_counted_and_the_ledger_balances(outcome):
    assert_completed(outcome)
    assert outcome.errors == {
        "bad_mtime": 1, "too_many_members": 1, "member_too_large": 2, "unsafe_member_path": 2,
        "link_or_device_member": 1, "paper_stream_too_large": 1, "input_budget": 1,
    }
    assert outcome.dropped == {"macro_budget": 1}
    assert outcome.stats["documents_in"] == 8 and outcome.stats["documents_written"] == 7


def metadata(doc: dict) -> dict:
    """A written document's metadata, the source's own fields (`extra`) merged in."""
    meta = dict(doc["metadata"])
    extra = meta.pop("extra", None)
    return {**meta, **(json.loads(extra) if isinstance(extra, str) and extra else extra or {})}


def test_the_good_papers_are_written_exactly(outcome):
    docs = {metadata(d)["arxiv_id"]: dict(d, metadata=metadata(d)) for d in outcome.documents()}
    assert sorted(docs) == ["2301.00001", "2301.00002", "2301.00003", "2301.00005", "2301.00006", "2301.00012",
                            "2301.00020"]
    assert docs["2301.00001"]["text"] == GOOD_TEXT
    for ident in ("2301.00002", "2301.00003", "2301.00005", "2301.00006", "2301.00012"):
        assert docs[ident]["text"] == "\\section{S}\nSmall paper {}.", ident
    assert docs["2301.00002"]["metadata"]["timestamp"].startswith("2023-01-01T00:00:00")  # the bad mtime ignored
    assert docs["2301.00003"]["metadata"]["tex_files"] == 66_001
    patho = docs["2301.00020"]["text"]
    assert patho.startswith("\\section{Patho}\nText before the traps.\n\\newcommand{\\x}{") and "deep" in patho
