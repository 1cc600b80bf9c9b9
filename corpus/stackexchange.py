"""StackExchange: read `Posts.xml` dumps (plain or inside `<site>.7z`), turn threads into documents.

Recipe (LLaMA §2.1; RedPajama `data_prep/stack_exchange`, see RECIPE §3.7):
- the 28 largest sites by number of posts (all rows of `Posts.xml`, like RedPajama's line count);
- one document per question: `Q: <title> <body>` then `A: <answer>` per answer, answers sorted by
  score, highest first. RedPajama sorts the XML *strings* ("9" > "10"); we sort the integers;
- HTML removed: `<li>` become `* ` items, `<pre>` code kept verbatim, link text kept, entities
  unescaped;
- questions without answers are kept (RedPajama keeps them); answers whose question is missing
  (orphans) are dropped with the reason `orphan_answers`.

Everything here is pure Python (no Beam): the pipeline only wires these functions.
"""
from __future__ import annotations

import io
import queue
import re
import threading
from dataclasses import dataclass, field
from typing import BinaryIO, Iterable, Iterator, Optional, Sequence, Union

from corpus.document import Document, make_id
from corpus.fileio import ReadError, guarded
from corpus.lines import BoundedLines
from corpus.rules import Drop, Outcome

SOURCE = "stackexchange"
TOP_SITES = 28  # LLaMA §2.1: "the 28 largest websites"

QUESTION = 1
ANSWER = 2


# --------------------------------------------------------------------------------------------
# Posts
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Post:
    """One `<row>` of Posts.xml, reduced to what a thread document needs."""

    site: str
    id: int
    post_type: int
    parent_id: Optional[int] = None
    score: int = 0
    title: str = ""
    body: str = ""
    tags: tuple[str, ...] = ()
    creation_date: str = ""
    accepted_answer_id: Optional[int] = None

    @property
    def thread_key(self) -> str:
        """The shuffle key that brings a question and its answers together: site + question id."""
        qid = self.id if self.post_type == QUESTION else self.parent_id
        return f"{self.site}\x1f{qid}"


def site_name(path: str) -> str:
    """The site a dump belongs to, from its folder or archive name.

    `.../coffee.stackexchange.com/Posts.xml[.xz]` -> `coffee.stackexchange.com`;
    `.../coffee.stackexchange.com.7z` -> `coffee.stackexchange.com`;
    `.../stackoverflow.com-Posts.7z` -> `stackoverflow.com` (the big sites are split per table).
    """
    parts = [p for p in re.split(r"[/\\]", path) if p]
    name = parts[-1] if parts else path
    if name.lower().endswith(".7z"):
        stem = name[:-3]
        return re.sub(r"-Posts$", "", stem, flags=re.IGNORECASE)
    if re.fullmatch(r"posts\.xml(\.(gz|bz2|xz|zst))?", name.lower()) and len(parts) >= 2:
        parent = parts[-2]
        if parent.lower().endswith(".7z"):  # archive unpacked into a folder of the same name
            parent = parent[:-3]
        return re.sub(r"-Posts$", "", parent, flags=re.IGNORECASE)
    return name


_OTHER_TABLES = re.compile(r"-(badges|comments|posthistory|postlinks|tags|users|votes)\.7z$", re.IGNORECASE)


def is_input(path: str) -> bool:
    """Files the reader accepts: `Posts.xml` (optionally compressed) and `.7z` archives, except
    the big sites' other tables (`stackoverflow.com-Users.7z`, `-Comments.7z`, ...)."""
    name = re.split(r"[/\\]", path)[-1].lower()
    if name.endswith(".7z"):
        return _OTHER_TABLES.search(name) is None
    return re.fullmatch(r"posts\.xml(\.(gz|bz2|xz|zst))?", name) is not None


def parse_tags(raw: str) -> tuple[str, ...]:
    """`<a><b>` (old dumps) or `|a|b|` (2024+ dumps) -> ("a", "b")."""
    if not raw:
        return ()
    if raw.startswith("<"):
        return tuple(t for t in re.findall(r"<([^<>]+)>", raw))
    return tuple(t for t in raw.split("|") if t)


# A dump's integers: ASCII digits that fit in 64 bits (`int()` would also take "1_000", Arabic
# digits and 5,000-digit numbers, the last with a ValueError).
_INTEGER = re.compile(r"-?[0-9]{1,18}")


def _int(value: Optional[str], default: Optional[int] = None) -> Optional[int]:
    if value is None or value == "":
        return default
    return int(value) if _INTEGER.fullmatch(value.strip()) else default


def post_from_attributes(site: str, attrs: dict) -> Union[Post, ReadError]:
    """A Post from a row's attributes, or the ReadError why not: `bad_row` (no integer Id or
    PostTypeId), `bad_score` (a Score that is not an integer: never silently 0, since answers
    are ordered by it)."""
    pid = _int(attrs.get("Id"))
    ptype = _int(attrs.get("PostTypeId"))
    if pid is None or ptype is None:
        return ReadError("bad_row", site, "row without integer Id/PostTypeId")
    raw_score = attrs.get("Score")
    score = _int(raw_score, 0)  # a missing Score is 0, as in the dumps' schema
    if raw_score not in (None, "") and _int(raw_score) is None:
        return ReadError("bad_score", site, f"post {pid}: Score {str(attrs.get('Score'))[:40]!r}")
    return Post(
        site=site,
        id=pid,
        post_type=ptype,
        parent_id=_int(attrs.get("ParentId")),
        score=int(score or 0),
        title=attrs.get("Title", "") or "",
        body=attrs.get("Body", "") or "",
        tags=parse_tags(attrs.get("Tags", "") or ""),
        creation_date=attrs.get("CreationDate", "") or "",
        accepted_answer_id=_int(attrs.get("AcceptedAnswerId")),
    )


MAX_ROW_BYTES = 8 << 20  # a post body holds at most 30,000 characters; escaped, a real row stays < 1 MiB


def iter_rows(stream: BinaryIO, site: str, max_row_bytes: int = MAX_ROW_BYTES) -> Iterator[Union[Post, ReadError]]:
    """Stream the `<row>`s of one Posts.xml with bounded memory and time: a line longer than
    `max_row_bytes` is skipped unread (`error:row_too_large`) and the rows after it still count.

    defusedxml's expat iterparse: DTDs with entity declarations and external references are
    refused (`EntitiesForbidden` etc., turned into `error:forbidden_xml` by `read_posts`), so
    no entity expansion happens at all (lxml's `resolve_entities=False` still expands internal
    entities inside attributes, where a dump's text lives). Each finished row is removed from
    the root, so memory does not grow with the file. Malformed or truncated XML raises
    `ParseError` after the rows read so far (`error:malformed_xml`).
    """
    from defusedxml.ElementTree import iterparse

    lines = BoundedLines(stream, max_row_bytes)
    reported = 0
    root = None
    for event, elem in iterparse(lines, events=("start", "end"), forbid_dtd=False,
                                 forbid_entities=True, forbid_external=True):
        while reported < lines.skipped:
            reported += 1
            yield ReadError("row_too_large", site, f"a line over {max_row_bytes} bytes skipped")
        if event == "start":
            if root is None:
                root = elem
            continue
        if elem.tag != "row":
            continue
        post = post_from_attributes(site, dict(elem.attrib))
        elem.clear()
        if root is not None:
            root.clear()
        yield post
    while reported < lines.skipped:
        reported += 1
        yield ReadError("row_too_large", site, f"a line over {max_row_bytes} bytes skipped")


# --------------------------------------------------------------------------------------------
# 7z archives, streamed: py7zr decompresses in a thread into a bounded queue
# --------------------------------------------------------------------------------------------
class _Cancelled(Exception):
    pass


class _QueueWriter:
    """A py7zr writer (Py7zIO) that hands chunks to a bounded queue instead of memory."""

    def __init__(self, chunks: "queue.Queue", cancelled: threading.Event):
        self._chunks = chunks
        self._cancelled = cancelled
        self._size = 0

    def write(self, s: bytes) -> int:
        data = bytes(s)
        while True:
            if self._cancelled.is_set():
                raise _Cancelled()
            try:
                self._chunks.put(data, timeout=0.1)
                break
            except queue.Full:
                continue
        self._size += len(data)
        return len(data)

    def read(self, size: Optional[int] = None) -> bytes:  # pragma: no cover - never read back
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def seekable(self) -> bool:
        return False

    def flush(self) -> None:
        pass

    def size(self) -> int:
        return self._size

    def close(self) -> None:
        pass


class _QueueReader(io.RawIOBase):
    """The consumer side: a readable binary stream over the queue of decompressed chunks."""

    def __init__(self, chunks: "queue.Queue"):
        self._chunks = chunks
        self._buffer = b""
        self._done = False
        self.error: Optional[BaseException] = None

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:  # type: ignore[override]
        while not self._buffer and not self._done:
            item = self._chunks.get()
            if item is None:
                self._done = True
            elif isinstance(item, BaseException):
                self._done = True
                self.error = item
                raise item
            else:
                self._buffer = item
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


class ArchiveError(Exception):
    """A 7z archive that cannot be read (bad header, corrupt data, missing Posts.xml)."""


def stream_7z_member(stream: BinaryIO, member_pattern: str = r"(^|/)Posts\.xml$",
                     max_queued_chunks: int = 8) -> Iterator[BinaryIO]:
    """Yield a streaming reader over the first member of a 7z archive matching `member_pattern`.

    7z keeps its index at the end, so the archive must be seekable (local files and Beam's
    GCS/S3 readers are); memory holds at most `max_queued_chunks` decompressed chunks.
    """
    import py7zr

    try:
        archive = py7zr.SevenZipFile(stream, mode="r")
        names = [n for n in archive.getnames() if re.search(member_pattern, n, re.IGNORECASE)]
    except Exception as exc:  # noqa: BLE001 - any failure to open the index is an input fault
        raise ArchiveError(f"{type(exc).__name__}: {exc}") from exc
    if not names:
        archive.close()
        raise ArchiveError("no Posts.xml in archive")
    member = sorted(names, key=lambda n: (n.count("/"), n))[0]
    chunks: "queue.Queue" = queue.Queue(maxsize=max_queued_chunks)
    cancelled = threading.Event()

    class _Factory(py7zr.WriterFactory):
        def create(self, filename: str):  # type: ignore[override]
            return _QueueWriter(chunks, cancelled)

    def produce() -> None:
        try:
            archive.extract(targets=[member], factory=_Factory())
            _put(chunks, None, cancelled)
        except _Cancelled:
            pass
        except Exception as exc:  # noqa: BLE001 - forwarded to the consumer
            _put(chunks, ArchiveError(f"{type(exc).__name__}: {exc}"), cancelled)

    worker = threading.Thread(target=produce, name="py7zr-extract", daemon=True)
    worker.start()
    reader = _QueueReader(chunks)
    try:
        yield io.BufferedReader(reader, buffer_size=1 << 16)  # type: ignore[arg-type]
    finally:
        cancelled.set()
        while worker.is_alive():
            try:
                chunks.get_nowait()
            except queue.Empty:
                pass
            worker.join(timeout=0.05)
        archive.close()


def _put(chunks: "queue.Queue", item, cancelled: threading.Event) -> None:
    while not cancelled.is_set():
        try:
            chunks.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def read_posts(stream: BinaryIO, path: str, max_row_bytes: int = MAX_ROW_BYTES) -> Iterator[Union[Post, ReadError]]:
    """The `ReadFiles` reader: one Posts.xml or one `.7z` archive -> Posts (+ ReadErrors)."""
    site = site_name(path)
    head = stream.peek(6)[:6] if hasattr(stream, "peek") else b""
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        yield from _read_7z(stream, path, site, max_row_bytes)
        return
    yield from _guard_rows(iter_rows(stream, site, max_row_bytes), path)


def _read_7z(stream: BinaryIO, path: str, site: str,
             max_row_bytes: int = MAX_ROW_BYTES) -> Iterator[Union[Post, ReadError]]:
    seekable = stream
    if not (hasattr(stream, "seekable") and stream.seekable()):
        import tempfile

        spool = tempfile.SpooledTemporaryFile(max_size=64 << 20)  # bounded memory, then disk
        while chunk := stream.read(1 << 20):
            spool.write(chunk)
        spool.seek(0)
        seekable = spool  # type: ignore[assignment]
    members = stream_7z_member(seekable)
    try:
        try:
            inner = next(members)
        except ArchiveError as exc:
            yield ReadError("corrupt_archive", path, str(exc))
            return
        yield from _guard_rows(iter_rows(inner, site, max_row_bytes), path)
    finally:
        members.close()


def _guard_rows(rows: Iterable[Union[Post, ReadError]], path: str) -> Iterator[Union[Post, ReadError]]:
    """Rows until the input breaks; then one ReadError (malformed XML or a broken archive)."""
    from defusedxml import DefusedXmlException

    try:
        for item in guarded(rows, path):  # re-raises what `classify_error` does not know
            if isinstance(item, ReadError):  # bad rows name the site: name the file instead
                item = ReadError(item.reason, path, item.detail)
            yield item
    except ArchiveError as exc:
        yield ReadError("corrupt_archive", path, str(exc))
    except DefusedXmlException as exc:
        yield ReadError("forbidden_xml", path, f"{type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------------------------
# Site selection
# --------------------------------------------------------------------------------------------
def top_sites(counts: Iterable[tuple[str, int]], n: int = TOP_SITES) -> list[str]:
    """The `n` sites with the most posts; ties broken by name so the choice is deterministic.

    `n <= 0` keeps every site.
    """
    ranked = sorted(counts, key=lambda kv: (-kv[1], kv[0]))
    return [site for site, _ in (ranked if n <= 0 else ranked[:n])]


# --------------------------------------------------------------------------------------------
# HTML -> text
# --------------------------------------------------------------------------------------------
_BLOCKS = {
    "p", "div", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "table", "dl", "section",
    "article", "header", "footer", "figure", "details", "summary",
}
_LINE_BLOCKS = {"tr", "dt", "dd", "figcaption"}
_LISTS = {"ul", "ol"}
_SKIP = {"script", "style", "head", "title", "template", "noscript"}
_WS = re.compile(r"[ \t\r\n\f\v]+")


class _TextOut:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def _tail(self, n: int = 2) -> str:
        return "".join(self.parts[-n:]) if self.parts else ""

    def at_line_start(self) -> bool:
        return not self.parts or self.parts[-1].endswith("\n")

    def newline(self, n: int = 1) -> None:
        """Make the output end with at least `n` newlines (nothing at the very start)."""
        if not self.parts:
            return
        while self.parts and self.parts[-1].endswith(" "):
            self.parts[-1] = self.parts[-1].rstrip(" ")
            if not self.parts[-1]:
                self.parts.pop()
        if not self.parts:
            return
        have = len(self._tail(4)) - len(self._tail(4).rstrip("\n"))
        if have < n:
            self.parts.append("\n" * (n - have))

    def text(self, s: str) -> None:
        s = _WS.sub(" ", s)
        if self.at_line_start() or self.parts[-1].endswith(" "):
            s = s.lstrip(" ")
        if s:
            self.parts.append(s)

    def raw(self, s: str) -> None:
        if s:
            self.parts.append(s)

    def result(self) -> str:
        return "".join(self.parts).strip("\n").rstrip()


def html_to_text(html: str) -> str:
    """Post HTML -> plain text: block elements on their own lines, `<li>` as `* ` items (nested
    lists indented two spaces per level), `<pre>` verbatim, inline `<code>` kept, link text kept,
    images/scripts dropped, entities unescaped (by the parser)."""
    if not html or not html.strip():
        return ""
    import lxml.html
    from lxml import etree

    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (etree.ParserError, ValueError):
        import html as html_lib

        return html_lib.unescape(re.sub(r"<[^>]*>", " ", html)).strip()
    out = _TextOut()
    _walk(root, out, depth=0)
    return out.result()


def _walk(elem, out: _TextOut, depth: int) -> None:
    tag = elem.tag if isinstance(elem.tag, str) else None
    if tag is None or tag in _SKIP:  # comments, processing instructions, scripts
        return
    tag = tag.lower()
    if tag == "pre":
        out.newline(2)
        out.raw(elem.text_content().strip("\n"))
        out.newline(2)
        return
    if tag == "br":
        out.newline(1)
        return
    if tag == "hr":
        out.newline(2)
        return
    if tag == "img":
        return
    if tag == "code":
        out.raw(elem.text_content())
        return
    if tag == "li":
        out.newline(1)
        out.raw("  " * max(depth - 1, 0) + "* ")
    elif tag in _LISTS:
        out.newline(2 if depth == 0 else 1)
    elif tag in _BLOCKS:
        out.newline(2)
    elif tag in _LINE_BLOCKS:
        out.newline(1)
    elif tag in ("td", "th") and not out.at_line_start():
        out.raw(" ")
    if elem.text:
        out.text(elem.text)
    child_depth = depth + 1 if tag in _LISTS else depth
    for child in elem:
        _walk(child, out, child_depth)
        if child.tail:
            out.text(child.tail)
    if tag == "li" or tag in _LINE_BLOCKS:
        out.newline(1)
    elif tag in _LISTS:
        out.newline(2 if depth == 0 else 1)
    elif tag in _BLOCKS:
        out.newline(2)


# --------------------------------------------------------------------------------------------
# Threads -> documents
# --------------------------------------------------------------------------------------------
_LANG_BY_PREFIX = {"es": "es", "ru": "ru", "pt": "pt", "ja": "ja"}  # es.stackoverflow.com etc.


def site_language(site: str) -> str:
    """A simple language flag: the localised Stack Overflows by host prefix, else English."""
    prefix = site.split(".", 1)[0]
    return _LANG_BY_PREFIX.get(prefix, "en") if site.count(".") >= 2 else "en"


def sort_answers(answers: Sequence[Post]) -> list[Post]:
    """Highest score first by the *integer* score; ties: the older (smaller id) answer first."""
    return sorted(answers, key=lambda a: (-int(a.score), a.id))


@dataclass(frozen=True)
class Thread:
    """What the shuffle brought together under one site + question id key."""

    key: str
    questions: tuple[Post, ...] = ()
    answers: tuple[Post, ...] = field(default_factory=tuple)


def build_thread(key: str, posts: Iterable[Post]) -> Thread:
    questions, answers = [], []
    for post in posts:
        (questions if post.post_type == QUESTION else answers).append(post)
    return Thread(key, tuple(sorted(questions, key=lambda p: p.id)), tuple(answers))


INCOMPLETE = "incomplete"  # metadata key of a thread that makes no document (the drop reason)


def thread_to_document(thread: Thread, added: str = "") -> Document:
    """One thread -> `Q: <title> <body>\\nA: <answer 1>\\nA: <answer 2>...`.

    A thread that makes no document still becomes one, marked `metadata["incomplete"]` with the
    drop reason, so that the pipeline counts every thread in and drops these by name with a
    sample (`complete_thread`): answers whose question is missing (`orphan_answers`: the answers'
    text, `A: ...` lines, under the missing question's id and URL) and a question whose title and
    body are empty (`empty_question`).
    """
    answers = sort_answers(_unique_by_id(thread.answers))
    if not thread.questions:
        return _orphan_document(answers, added)
    q = thread.questions[0]
    question_text = " ".join(p for p in (q.title.strip(), html_to_text(q.body)) if p)
    parts = [f"Q: {question_text}"]
    for answer in answers:
        parts.append(f"A: {html_to_text(answer.body)}")
    metadata = {
        "site": q.site,
        "question_id": q.id,
        "url": question_url(q.site, q.id),
        "question_score": q.score,
        "answer_scores": [a.score for a in answers],
        "answer_ids": [a.id for a in answers],
        "answer_count": len(answers),
        "accepted_answer_id": q.accepted_answer_id,
        "timestamp": q.creation_date,  # the question's CreationDate (UTC)
        "answers_created": [a.creation_date for a in answers],
        "tags": list(q.tags),
        "title": q.title,
        "language": site_language(q.site),
        "language_source": "site",
    }
    if not question_text:
        metadata[INCOMPLETE] = "empty_question"
    return Document(id=make_id(SOURCE, q.site, str(q.id)), text="\n".join(parts), source=SOURCE, added=added,
                    metadata=metadata)


def _orphan_document(answers: Sequence[Post], added: str) -> Document:
    site, qid = answers[0].site, answers[0].parent_id
    metadata = {
        "site": site,
        "question_id": qid,
        "url": question_url(site, qid),
        "answer_scores": [a.score for a in answers],
        "answer_ids": [a.id for a in answers],
        "answer_count": len(answers),
        INCOMPLETE: "orphan_answers",
    }
    return Document(id=make_id(SOURCE, site, str(qid)), text="\n".join(f"A: {html_to_text(a.body)}" for a in answers),
                    source=SOURCE, added=added, metadata=metadata)


def question_url(site: str, question_id: Optional[int]) -> str:
    return f"https://{site}/questions/{question_id}"


def complete_thread(doc: Document) -> Outcome:
    """Drop a thread `thread_to_document` marked incomplete, by its reason."""
    reason = doc.metadata.get(INCOMPLETE)
    return Drop(reason) if reason else doc


def _unique_by_id(posts: Iterable[Post]) -> list[Post]:
    seen: dict[int, Post] = {}
    for post in posts:
        seen.setdefault(post.id, post)
    return list(seen.values())
