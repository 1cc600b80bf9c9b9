"""arXiv sources: reading submission archives safely and turning a paper into a document.

Inputs, all read as streams in memory (nothing is extracted to disk):
- a paper's source tarball (`2209.08940.tar.gz`, `.tar`, `.tgz`),
- a bare gzipped `.tex` (arXiv serves one when the submission is a single file: `<id>.gz`),
- the bulk layout `src/arXiv_src_YYMM_NNN.tar`: an outer tar of per-paper `.gz` members, each
  one of the two above.

Safety: member paths that are absolute or contain `..`, links and devices are refused; members
larger than `max_member_bytes` are refused from their header, without reading their data (a
seekable input seeks past them); a paper keeps at most `max_paper_bytes` of text from at most
`max_members` members, a bulk tar's `.gz` paper is decompressed for at most `max_paper_stream_bytes`
and a stream is read for at most `max_archive_bytes`. Members are streamed one at a time (tarfile's
own iteration would keep every header: a tar of 100,000 members), each read into a buffer of its
own size. Each refusal is a `ReadError` with its reason; the rest of the archive is still read.
A member mtime out of range (`year 36812`) is counted (`bad_mtime`) and ignored.
"""
from __future__ import annotations

import bz2
import datetime as dt
import gzip
import io
import lzma
import posixpath
import re
import tarfile
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator, Optional, Union

from corpus import latex
from corpus.document import Document, make_id
from corpus.fileio import ReadError
from corpus.latex_comments import remove_iffalse, strip_comments
from corpus.latex_macros import MacroBudget
from corpus.rules import Drop, Outcome
from corpus.step import param

SOURCE = "arxiv"
ABS_URL = "https://arxiv.org/abs/"

# Members read into memory: the LaTeX itself, bibliographies that may be \input, and local
# style files (their \newcommand definitions are user macros too). Figures etc. are never read.
TEX_EXTENSIONS = (".tex", ".ltx", ".latex")
TEXT_EXTENSIONS = TEX_EXTENSIONS + (".bbl", ".sty", ".def", ".cfg", "")


@dataclass(frozen=True)
class Limits:
    """arxiv reading limits (each refusal is an error:<reason>; the rest of the archive is still read)"""

    max_member_bytes: int = param(16 << 20, "largest archive member read, text or bulk .gz (refused from its "
                                            "header as member_too_large)")
    max_paper_bytes: int = param(64 << 20, "most text bytes kept for one paper (else paper_too_large)")
    max_archive_bytes: int = param(2 << 30, "most bytes read from one decompressed input stream, a bulk tar's "
                                            "papers each counted apart (else archive_too_large)")
    max_paper_stream_bytes: int = param(1 << 30, "most bytes decompressed from one bulk tar's .gz paper (a gzip "
                                                 "bomb; else paper_stream_too_large)")
    max_members: int = param(100_000, "most members (files, figures, directories) of one paper's tar; the "
                                      "paper is refused past them (too_many_members)")
    max_input_growth: int = param(4, "the paper with its \\input files inlined may be this many times its "
                                     "text files (+64 KiB), else input_budget (inputs that multiply)")


MAX_INPUT_DEPTH = 8  # \input nesting followed by `assemble`
MAX_MTIME = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second `datetime` can name
_INCLUDE_COST = 64  # characters charged per \input inlined, so empty files cannot multiply for free


# --------------------------------------------------------------------------------------------
# arXiv identifiers
# --------------------------------------------------------------------------------------------
_NEW_ID = re.compile(r"^(\d{4})\.(\d{4,5})(v\d+)?$")
_OLD_ID = re.compile(r"^([a-z][a-z\-]*(?:\.[A-Z]{2})?)[_/]?(\d{2})(\d{2})(\d{3})(v\d+)?$")
_ARCHIVE_SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tar", ".gz", ".tex", ".pdf", ".zip")
INPUT_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".gz", ".tex")  # what `is_input_file` accepts


@dataclass(frozen=True)
class ArxivId:
    id: str  # canonical: `2209.08940`, `math/0601001`
    yymm: str
    version: int = 0  # 0 when the name carries none

    @property
    def url(self) -> str:
        return ABS_URL + self.id


def parse_arxiv_id(path: str) -> Optional[ArxivId]:
    """The arXiv id in a file or member name (`.../2209.08940v2.tar.gz`, `math0601001.gz`)."""
    name = posixpath.basename(path.rstrip("/"))
    for suffix in _ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    name = re.sub(r"(?i)^arxiv[-_:.]", "", name)  # e-print downloads: `arXiv-2209.08940v1.tar.gz`
    m = _NEW_ID.match(name)
    if m:
        return ArxivId(f"{m.group(1)}.{m.group(2)}", m.group(1), int(m.group(3)[1:]) if m.group(3) else 0)
    m = _OLD_ID.match(name)
    if m:
        archive, yy, mm, num, ver = m.groups()
        if not 1 <= int(mm) <= 12:
            return None
        return ArxivId(f"{archive}/{yy}{mm}{num}", yy + mm, int(ver[1:]) if ver else 0)
    return None


def yymm_timestamp(yymm: str) -> str:
    """First day of the id's month (ids from 1991 to 2090), ISO format."""
    yy, mm = int(yymm[:2]), int(yymm[2:])
    year = 1900 + yy if yy >= 91 else 2000 + yy
    return dt.datetime(year, mm, 1, tzinfo=dt.timezone.utc).isoformat()


# --------------------------------------------------------------------------------------------
# Reading archives
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Paper:
    """One submission's text members, in archive order, before any LaTeX processing."""

    arxiv_id: str
    yymm: str
    version: int
    origin: str  # input path (and bulk member)
    files: tuple[tuple[str, bytes], ...] = ()
    mtime: Optional[int] = None  # newest mtime of the members read (or the gzip header's)
    skipped: int = 0  # members not read (figures, refused members)


class _Budget(io.RawIOBase):
    """A read-only view of a stream that stops after `limit` bytes with `_OverBudget`."""

    def __init__(self, stream: BinaryIO, limit: int, head: bytes = b""):
        self._stream = stream
        self._head = head
        self._limit = limit
        self.consumed = 0
        self._seekable = not head and _random_access(stream)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._seekable

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        return self._stream.tell()

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(buffer))
        self.consumed += len(data)
        if self.consumed > self._limit:
            raise _OverBudget(self.consumed)
        buffer[: len(data)] = data
        return len(data)


class _OverBudget(Exception):
    pass


def _random_access(stream: BinaryIO) -> bool:
    """Seeking really skips bytes (a plain file), rather than decompressing through them."""
    if isinstance(stream, (gzip.GzipFile, bz2.BZ2File, lzma.LZMAFile)) or "zstd" in type(stream).__module__:
        return False
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _looks_like_tar(head: bytes) -> bool:
    if len(head) < 512:
        return False
    if head[257:262] == b"ustar":
        return True
    try:
        tarfile.TarInfo.frombuf(head[:512], "utf-8", "surrogateescape")
        return True
    except tarfile.HeaderError:
        return False


def _read_head(stream: BinaryIO, n: int = 512) -> bytes:
    chunks, got = [], 0
    while got < n:
        data = stream.read(n - got)
        if not data:
            break
        chunks.append(data)
        got += len(data)
    return b"".join(chunks)


def safe_member_name(name: str) -> Optional[str]:
    """The normalised member path, or None if it is absolute or climbs out with `..`."""
    if not name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return None
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    # Names that were not UTF-8 (tarfile keeps them as surrogates) must still serialise as JSON.
    return "/".join(parts).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _ext(name: str) -> str:
    base = posixpath.basename(name)
    return posixpath.splitext(base)[1].lower() if "." in base else ""


def is_input_file(path: str) -> bool:
    """Files the arXiv pipeline reads (others are counted as `info:files_ignored`)."""
    return path.lower().endswith(INPUT_SUFFIXES)


def read_arxiv(stream: BinaryIO, path: str, limits: Limits = Limits()) -> Iterator[Union[Paper, ReadError]]:
    """The papers of one input file (paper tarball, gzipped .tex, or bulk tar)."""
    ident = parse_arxiv_id(path)
    yield from _read_container(stream, path, ident, limits, allow_nested=True)


def read_documents(stream: BinaryIO, path: str, limits: Limits = Limits(),
                   added: str = "") -> Iterator[Union[Document, ReadError]]:
    """Reader for `ReadFiles`: each paper of one input file as its assembled document."""
    for item in read_arxiv(stream, path, limits):
        if not isinstance(item, Paper):
            yield item
            continue
        try:
            yield paper_to_document(item, added, limits.max_input_growth)
        except InputBudgetExceeded as exc:
            yield ReadError("input_budget", item.origin, str(exc))


def _read_container(stream: BinaryIO, origin: str, ident: Optional[ArxivId], limits: Limits,
                    allow_nested: bool, max_bytes: Optional[int] = None) -> Iterator[Union[Paper, ReadError]]:
    seekable = _random_access(stream)
    start = stream.tell() if seekable else 0
    head = _read_head(stream)
    if not _looks_like_tar(head):
        yield from _single_file(head, stream, origin, ident, limits)
        return
    over_budget = "archive_too_large" if max_bytes is None else "paper_stream_too_large"
    max_bytes = limits.max_archive_bytes if max_bytes is None else max_bytes
    if seekable:
        stream.seek(start)
        budget = _Budget(stream, max_bytes)
        tar = tarfile.open(fileobj=budget, mode="r:")  # type: ignore[arg-type]
    else:
        budget = _Budget(stream, max_bytes, head)
        tar = tarfile.open(fileobj=io.BufferedReader(budget, 1 << 16), mode="r|")  # type: ignore[arg-type]
    files: list[tuple[str, bytes]] = []
    kept = skipped = nested = members = bad_mtimes = 0
    mtime: Optional[int] = None
    try:
        for member in _members(tar):
            name = safe_member_name(member.name)
            inner = parse_arxiv_id(name) if allow_nested and name and name.lower().endswith(".gz") else None
            if inner is None:
                members += 1
                if members > limits.max_members:
                    yield ReadError("too_many_members", origin, f"over {limits.max_members} members")
                    return
            if member.isdir():
                continue
            if name is None:
                skipped += 1
                yield ReadError("unsafe_member_path", origin, member.name)
                continue
            if not member.isreg():
                skipped += 1
                yield ReadError("link_or_device_member", origin, member.name)
                continue
            if inner is None and _ext(name) not in TEXT_EXTENSIONS:
                skipped += 1  # a figure or other binary: never read
                continue
            if member.size > limits.max_member_bytes:
                skipped += 1
                yield ReadError("member_too_large", origin, f"{member.name}: {member.size} bytes")
                continue
            handle = tar.extractfile(member)
            data = handle.read(member.size) if handle is not None else b""  # a buffer of the member's size
            member_mtime = valid_mtime(member.mtime)
            if inner is not None:
                nested += 1
                budget.consumed -= len(data)  # a bulk tar's papers are budgeted one by one
                yield from _read_nested(data, f"{origin}!{name}", inner, member_mtime, limits)
                continue
            if kept + len(data) > limits.max_paper_bytes:
                yield ReadError("paper_too_large", origin, f"over {limits.max_paper_bytes} bytes of text")
                return
            kept += len(data)
            files.append((name, data))
            if member_mtime is None:
                bad_mtimes += 1
            else:
                mtime = member_mtime if mtime is None else max(mtime, member_mtime)
    except _OverBudget:
        yield ReadError(over_budget, origin, f"read over {max_bytes} bytes")
        return
    except tarfile.TarError as exc:
        yield ReadError("corrupt_archive", origin, str(exc))
        return  # a paper with members missing is not emitted
    if nested and not files:
        return  # a bulk tar: its papers were yielded one by one
    if ident is None:
        yield ReadError("no_arxiv_id", origin, "the file name holds no arXiv id")
        return
    if bad_mtimes:
        yield ReadError("bad_mtime", origin, f"{bad_mtimes} members with an mtime out of range")
    yield Paper(ident.id, ident.yymm, ident.version, origin, tuple(files), mtime, skipped)


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """The members one at a time; tarfile's own iteration keeps every `TarInfo` it has read."""
    while True:
        member = tar.next()
        if member is None:
            return
        tar.members.clear()
        yield member


def valid_mtime(value: object) -> Optional[int]:
    """An mtime `datetime` can represent (0 to year 9999), else None: a tar header may hold any
    number (GNU base-256, pax floats, inf, nan)."""
    try:
        seconds = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return None
    return seconds if 0 <= seconds <= MAX_MTIME else None


def _single_file(head: bytes, stream: BinaryIO, origin: str, ident: Optional[ArxivId],
                 limits: Limits) -> Iterator[Union[Paper, ReadError]]:
    """A bare (already decompressed) single-file submission: a .tex, or a PDF-only entry."""
    if ident is None:
        yield ReadError("no_arxiv_id", origin, "the file name holds no arXiv id")
        return
    rest = stream.read(limits.max_member_bytes + 1 - len(head))
    data = head + rest
    if len(data) > limits.max_member_bytes:
        yield ReadError("member_too_large", origin, f"over {limits.max_member_bytes} bytes")
        return
    # The gzip header's, for a gzipped .tex (on the GzipFile, or the raw side of a buffered one).
    mtime = valid_mtime(getattr(stream, "mtime", None) or getattr(getattr(stream, "raw", None), "mtime", None))
    files: tuple[tuple[str, bytes], ...] = ()
    if not data.startswith(b"%PDF"):
        files = ((posixpath.basename(ident.id) + ".tex", data),)
    yield Paper(ident.id, ident.yymm, ident.version, origin, files, mtime or None, 0 if files else 1)


def _read_nested(data: bytes, origin: str, ident: ArxivId, mtime: Optional[int],
                 limits: Limits) -> Iterator[Union[Paper, ReadError]]:
    """One `.gz` member of a bulk tar: gzip of a tarball or of a single .tex."""
    if len(data) > limits.max_member_bytes:
        yield ReadError("member_too_large", origin, f"over {limits.max_member_bytes} bytes")
        return
    raw = io.BytesIO(data)
    stream: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if data[:2] == b"\x1f\x8b" else raw  # type: ignore[assignment]
    try:
        for item in _read_container(stream, origin, ident, limits, allow_nested=False,
                                    max_bytes=min(limits.max_paper_stream_bytes, limits.max_archive_bytes)):
            if isinstance(item, Paper) and item.mtime is None and mtime:
                item = Paper(item.arxiv_id, item.yymm, item.version, item.origin, item.files, mtime, item.skipped)
            yield item
    except (EOFError, OSError, zlib.error) as exc:  # one broken paper must not end the bulk tar
        reason = "truncated_input" if isinstance(exc, EOFError) else "corrupt_compression"
        yield ReadError(reason, origin, f"{type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------------------------
# Assembling a paper's LaTeX: main file, \input / \include inlined, local packages
# --------------------------------------------------------------------------------------------
_DOCCLASS = re.compile(r"\\document(?:class|style)(?![A-Za-z])")
# Package options are looked for within 2,000 characters: an unbounded `[^\]]*` rescans the rest
# of the text for each of many `\usepackage[` without their `]`.
_INPUT = re.compile(
    r"\\(?P<cmd>input|include|subfile)(?![A-Za-z@])\s*\{(?P<file>[^{}]*)\}"
    r"|\\(?P<icmd>import|subimport|inputfrom|subinputfrom)\*?\s*\{(?P<dir>[^{}]*)\}\s*\{(?P<ifile>[^{}]*)\}"
    r"|\\(?P<pcmd>usepackage|RequirePackage)\s*(?:\[[^\]]{0,2000}\]\s*)?\{(?P<pkgs>[^{}]*)\}"
    r"|\\input[ \t]+(?P<bare>[^\s{}\\%]+)"
)


@dataclass
class Assembled:
    text: str
    main: Optional[str]
    used: list[str] = field(default_factory=list)  # files whose text is in `text`, in order
    missing_inputs: int = 0
    source_chars: int = 0  # characters of the used files as written
    encoding_fallback: bool = False
    budget: int = 0  # characters (and _INCLUDE_COST per inclusion) inlining may still add
    _used: set[str] = field(default_factory=set)

    def use(self, name: str) -> None:
        if name not in self._used:
            self._used.add(name)
            self.used.append(name)


class InputBudgetExceeded(Exception):
    """The `\\input`s of a paper multiply past its budget (the reader counts `input_budget`)."""


def decode_tex(data: bytes) -> tuple[str, bool]:
    """UTF-8, else Latin-1 (older arXiv sources); the flag says the fallback was used.

    Line ends become `\\n` (Windows `\\r\\n` and old Mac `\\r` sources are common on arXiv)."""
    try:
        text, fallback = data.decode("utf-8"), False
    except UnicodeDecodeError:
        text, fallback = data.decode("latin-1"), True
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text, fallback


def choose_main(sources: dict[str, str]) -> Optional[str]:
    """The file with `\\documentclass` (or `\\documentstyle`); ties: with `\\begin{document}`, then
    shallowest path, then the larger file, then name order. None if no file has one."""
    candidates = [n for n, t in sources.items() if _ext(n) in TEX_EXTENSIONS and _DOCCLASS.search(t)]
    if not candidates:
        return None
    return min(candidates, key=lambda n: (latex.BEGIN_DOCUMENT.search(sources[n]) is None, n.count("/"),
                                          -len(sources[n]), n))


def assemble(paper: Paper, max_depth: int = MAX_INPUT_DEPTH, max_growth: int = 4) -> Assembled:
    """The paper's LaTeX as one text: comments (and `\\iffalse` blocks) stripped per file, inputs
    and local packages inlined; commented-out `\\input`s are not followed.

    Raises `InputBudgetExceeded` when the inlined text would pass `max_growth` times the text
    files (+64 KiB): `\\input`s that multiply (ten inputs of a file with ten inputs ...)."""
    sources: dict[str, str] = {}
    raw_chars: dict[str, int] = {}
    fallback = False
    for name, data in paper.files:
        text, used_fallback = decode_tex(data)
        fallback |= used_fallback
        raw_chars[name] = len(text)
        sources[name] = remove_iffalse(strip_comments(text))
    tex_files = [n for n in sources if _ext(n) in TEX_EXTENSIONS]
    if not tex_files:
        return Assembled("", None, encoding_fallback=fallback)
    main = choose_main(sources)
    budget = max_growth * sum(len(t) for t in sources.values()) + (1 << 16)
    state = Assembled("", main, encoding_fallback=fallback, budget=budget)
    if main is not None:
        roots = [main]
    else:
        # No \documentclass anywhere: every .tex that no other file inputs, in name order.
        inputted = {r for n in tex_files for r in _referenced(sources[n], n, sources)}
        roots = sorted(n for n in tex_files if n not in inputted) or sorted(tex_files)
    parts = []
    for root in roots:
        state.use(root)
        parts.append(_inline(sources[root], root, sources, state, (root,), max_depth))
    state.text = "\n".join(parts)
    state.source_chars = sum(raw_chars[n] for n in state.used)
    return state


def _candidates(ref: str, here: str, package: bool) -> list[str]:
    ref = ref.strip().strip('"')
    exts = (".sty",) if package else ("", ".tex", ".ltx")
    bases = [ref]
    folder = posixpath.dirname(here)
    if folder:
        bases.append(posixpath.join(folder, ref))
    out = []
    for base in bases:
        norm = safe_member_name(posixpath.normpath(base)) if base else None
        if norm:
            out.extend(norm + e for e in exts)
    return out


def _resolve(ref: str, here: str, sources: dict[str, str], package: bool) -> Optional[str]:
    for cand in _candidates(ref, here, package):
        if cand in sources:
            return cand
    return None


def _referenced(text: str, here: str, sources: dict[str, str]) -> set[str]:
    found = set()
    for m in _INPUT.finditer(text):
        package = m.group("pkgs") is not None
        for ref in _refs(m):
            hit = _resolve(ref, here, sources, package)
            if hit:
                found.add(hit)
    return found


def _refs(m: re.Match) -> list[str]:
    if m.group("pkgs") is not None:
        return [p.strip() for p in m.group("pkgs").split(",") if p.strip()]
    if m.group("ifile") is not None:  # \import{dir}{file}
        return [posixpath.join(m.group("dir").strip(), m.group("ifile").strip())]
    return [m.group("file") if m.group("file") is not None else m.group("bare")]


def _inline(text: str, here: str, sources: dict[str, str], state: Assembled, stack: tuple[str, ...],
            depth: int) -> str:
    def replace(m: re.Match) -> str:
        package = m.group("pkgs") is not None
        pieces, unresolved = [], []
        for ref in _refs(m):
            hit = _resolve(ref, here, sources, package)
            if hit is None or hit in stack or depth <= 0:
                unresolved.append(ref)
                if not package and hit is None:
                    state.missing_inputs += 1
                continue
            state.use(hit)
            state.budget -= len(sources[hit]) + _INCLUDE_COST
            if state.budget < 0:
                raise InputBudgetExceeded(f"inlining {hit} once more passes the paper's input budget")
            pieces.append(_inline(sources[hit], hit, sources, state, stack + (hit,), depth - 1))
        if not pieces:
            return m.group(0)
        if package and unresolved:  # keep the standard packages of a mixed \usepackage{a,local}
            pieces.insert(0, "\\usepackage{" + ",".join(unresolved) + "}")
        return "\n".join(pieces)

    return _INPUT.sub(replace, text)


# --------------------------------------------------------------------------------------------
# Paper -> document -> cleaned document
# --------------------------------------------------------------------------------------------
def paper_to_document(paper: Paper, added: str = "", max_input_growth: int = 4) -> Document:
    """The assembled source as the document text; the cleaning rule rewrites it."""
    assembled = assemble(paper, max_growth=max_input_growth)
    mtime = valid_mtime(paper.mtime)
    timestamp = (
        dt.datetime.fromtimestamp(mtime, dt.timezone.utc).isoformat() if mtime else yymm_timestamp(paper.yymm)
    )
    metadata = {
        "arxiv_id": paper.arxiv_id,
        "url": ABS_URL + paper.arxiv_id,
        "yymm": paper.yymm,
        "timestamp": timestamp,
        "source_files": assembled.used,
        "main_file": assembled.main,
        "tex_files": sum(1 for n, _ in paper.files if _ext(n) in TEX_EXTENSIONS),
        "chars_source": assembled.source_chars,
    }
    if paper.version:
        metadata["version"] = paper.version
    if assembled.missing_inputs:
        metadata["missing_inputs"] = assembled.missing_inputs
    if assembled.encoding_fallback:
        metadata["encoding"] = "latin-1"
    return Document(make_id(SOURCE, paper.arxiv_id), assembled.text, SOURCE, added, metadata)


def clean_document(doc: Document, keep_appendix: bool = False, budget: MacroBudget = MacroBudget()) -> Outcome:
    """The Lewkowycz et al. cleaning of one paper: drops `no_tex`, `no_section`, `macro_budget` (a
    macro bomb, or a paper too pathological to expand within the budget), `empty_text`."""
    if not doc.metadata.get("tex_files"):
        return Drop("no_tex")
    cleaned = latex.clean_latex(doc.text, keep_appendix=keep_appendix, budget=budget)
    if cleaned.text is None:
        return Drop("no_section")
    if cleaned.expansion.budget_exceeded:
        return Drop("macro_budget")
    if not cleaned.text.strip():
        return Drop("empty_text")
    stats = {
        "macros_defined": cleaned.macros_defined,
        "macros_expanded": cleaned.expansion.expanded,
        "chars_clean": len(cleaned.text),
    }
    if cleaned.expansion.depth_exceeded:
        stats["macro_depth_exceeded"] = True
    return doc.with_text(cleaned.text).with_metadata(**stats)


def pick_latest(docs: list[Document]) -> Document:
    """Among documents of one paper, the newest version (then the longest text, then the text)."""
    return max(docs, key=lambda d: (d.metadata.get("version", 0), d.metadata.get("timestamp", ""),
                                    len(d.text), d.text))
