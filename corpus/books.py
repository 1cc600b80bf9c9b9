"""Books (Project Gutenberg + Books3): reading, decoding, licence stripping, metadata. Pure logic.

Inputs (`read_books`, chosen by file name; any compression `open_decompressed` knows):
- `*.txt` - one Project Gutenberg plain-text book. Bytes are decoded as UTF-8 (a BOM is dropped);
  UTF-16/32 by their BOM, and UTF-16 without a BOM when its NULs sit at every other byte; else
  with the codec the header declares (`Character set encoding: ISO-8859-1`), else Windows-1252,
  else Latin-1 (which decodes every byte). CRLF/CR become LF.
- `*.jsonl` / `*.json` - one JSON object per line: PG-19 style (`short_book_title`,
  `publication_date`, `url`, `text`) or Books3 style (`title`, `text`; Pile's `meta` kept),
  each line bounded, decoded and parsed on its own (`corpus.fileio.json_lines`).

Decoding is honest: a text whose characters are more than `--max_control_fraction` control
characters (random bytes, NUL padding, UTF-16 that is not UTF-16) is marked `decode_problem:
binary_text`, a BOM whose encoding does not decode `bad_encoding`; the `Check decoding` step
drops them with that reason (a 64 KiB excerpt kept as the rejected sample). A book over
`--max_book_mb` (a file or a JSON line) is `error:book_too_large` / `error:line_too_long`,
never read whole. A few stray NULs in a real book are removed (`nul_removed` in the metadata).

`strip_gutenberg` (a rule) parses the header fields (Title, Author, Language, Release/Posting date,
`[EBook #N]`) into metadata and keeps only the text between the licence header and footer. All
header generations seen on Gutenberg are recognised:
- current:  `*** START OF THE PROJECT GUTENBERG EBOOK <TITLE> ***` ... `*** END OF THE PROJECT ...`
- older:    `*** START OF THIS PROJECT GUTENBERG EBOOK ...` ... `End of Project Gutenberg's ...`
- oldest:   `*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*...*END*` ... `End of the Project
  Gutenberg Etext of ...`
A text with no start marker is kept whole (`gutenberg_header: "absent"`): PG-19 and Books3 come
already stripped.
"""
from __future__ import annotations

import codecs
import re
from typing import Any, BinaryIO, Iterator, Optional, Union

from corpus import paths, schema
from corpus.document import Document, make_id
from corpus.fileio import ReadError, json_lines, mib
from corpus.ledger import INFO, Tally
from corpus.rules import Drop, Outcome
from corpus.validate import garbage_share

SOURCE = "books"
MAX_BOOK_MB = 64.0  # Project Gutenberg's largest plain-text books are ~20 MB; Books3's ~40 MB
MAX_CONTROL_FRACTION = 0.01
SAMPLE_CHARS = 64 * 1024  # what a refused book keeps as its rejected sample

_COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zstd")
TEXT_SUFFIXES = (".txt",)
JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")


def _plain_name(path: str) -> str:
    name = paths.basename(path)
    for suffix in _COMPRESSED:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def is_book_file(path: str) -> bool:
    """Files the books pipeline reads (others are counted as `info:files_ignored`)."""
    name = _plain_name(path).lower()
    return name.endswith(TEXT_SUFFIXES + JSON_SUFFIXES)


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------
_DECLARED = re.compile(rb"^\s*Character set encoding:\s*([A-Za-z0-9_\- ]+?)\s*$", re.M | re.I)


def _codec(name: str) -> Optional[str]:
    cleaned = name.strip().lower().replace(" ", "-")
    cleaned = {"iso-latin-1": "latin-1", "latin1": "latin-1", "ascii": "utf-8"}.get(cleaned, cleaned)
    try:
        return codecs.lookup(cleaned).name
    except LookupError:
        return None


def decode_text(raw: bytes) -> tuple[str, str]:
    """(text with LF newlines, encoding used). A BOM (UTF-8, UTF-32, UTF-16) decides; UTF-16
    without a BOM is recognised by its NULs; then UTF-8; the declared codec; Windows-1252; and
    Latin-1, which cannot fail. A BOM whose encoding does not decode raises UnicodeDecodeError."""
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            name = "utf-8-sig" if codec == "utf-8" else codec
            return _lf(raw[len(bom):].decode(codec, errors="strict")), name
    utf16 = _utf16_without_bom(raw)
    if utf16:
        try:
            return _lf(raw.decode(utf16)), utf16
        except UnicodeDecodeError:
            pass  # NULs at every other byte but not UTF-16: left to the control-character test
    candidates = ["utf-8"]
    declared = _DECLARED.search(raw[:20000])
    if declared:
        codec = _codec(declared.group(1).decode("ascii", "replace"))
        # A declaration readable as ASCII bytes cannot be true of UTF-16/32 (BOM and NULs decide those).
        if codec and codec not in candidates and not codec.startswith(("utf-16", "utf-32")):
            candidates.append(codec)
    candidates += [c for c in ("cp1252",) if c not in candidates]
    for codec in candidates:
        try:
            return _lf(raw.decode(codec)), codec
        except UnicodeDecodeError:
            continue
    return _lf(raw.decode("latin-1")), "latin-1"  # reached only when a declared codec came before it


_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _utf16_without_bom(raw: bytes, sample: int = 1 << 16) -> Optional[str]:
    """`utf-16-le`/`utf-16-be` when the NULs of the first 64 KiB are (nearly) all on odd/even
    bytes and fill a third of them: what Latin-script UTF-16 looks like, and no 8-bit text."""
    head = raw[:sample] if len(raw[:sample]) % 2 == 0 else raw[: sample - 1]
    half = len(head) // 2
    if half < 8:
        return None
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if odd > half / 3 and even < odd / 20:
        return "utf-16-le"
    if even > half / 3 and odd < even / 20:
        return "utf-16-be"
    return None


def text_problem(text: str, max_control_fraction: float = MAX_CONTROL_FRACTION) -> Optional[str]:
    """`binary_text` when more than `max_control_fraction` of the characters are controls or
    U+FFFD: the pre-write check's measure (`corpus.validate`), stricter for books, which are long
    prose where even 1% of such characters means a mis-decoded or binary file."""
    return "binary_text" if garbage_share(text) > max_control_fraction else None


def decode_book(raw: bytes, max_control_fraction: float = MAX_CONTROL_FRACTION) -> tuple[str, str, Optional[str], int]:
    """(text, encoding, problem or None, NULs removed): `decode_text` that never raises and says
    when the result is not text (`bad_encoding`, `binary_text`)."""
    try:
        text, encoding = decode_text(raw)
    except UnicodeDecodeError:
        return raw[:SAMPLE_CHARS].decode("latin-1"), "", "bad_encoding", 0
    problem = text_problem(text, max_control_fraction)
    if problem:
        return text[:SAMPLE_CHARS], encoding, problem, 0
    nuls = text.count("\x00")
    return (text.replace("\x00", "") if nuls else text), encoding, None, nuls


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------
_GUTENBERG_FILE_ID = re.compile(r"^(?:pg)?(\d+)(?:-\d+)?(?:\.txt)?$", re.I)


def gutenberg_id_from_name(path: str) -> Optional[str]:
    match = _GUTENBERG_FILE_ID.match(_plain_name(path))
    return match.group(1) if match else None


def read_books(stream: BinaryIO, path: str, added: str = "", max_book_bytes: int = mib(MAX_BOOK_MB),
               max_control_fraction: float = MAX_CONTROL_FRACTION) -> Iterator[Union[Document, ReadError, Tally]]:
    """All books in one decompressed input file (see the module docstring for the formats), each
    with `added` as its `added` field; a book file is read up to `max_book_bytes` only."""
    name = _plain_name(path)
    if name.lower().endswith(JSON_SUFFIXES):
        yield from read_json_lines(stream, path, added, max_book_bytes, max_control_fraction)
        return
    raw = stream.read(max_book_bytes + 1)
    if not raw:
        yield ReadError("empty_file", path, "no byte after decompression")
    elif len(raw) > max_book_bytes:
        yield ReadError("book_too_large", path, f"over {max_book_bytes} bytes")
    else:
        yield read_gutenberg_text(raw, path, added, max_control_fraction)


def read_gutenberg_text(raw: bytes, path: str, added: str = "",
                        max_control_fraction: float = MAX_CONTROL_FRACTION) -> Document:
    text, encoding, problem, nuls = decode_book(raw, max_control_fraction)
    name = _plain_name(path)
    metadata: dict[str, Any] = {"format": "gutenberg_txt", "file": name, "encoding": encoding}
    _mark(metadata, problem, nuls, len(raw))
    gid = gutenberg_id_from_name(path)
    if gid:
        metadata["gutenberg_id"] = gid
    return Document(id=make_id(SOURCE, "gutenberg", name), text=text, source=SOURCE, added=added, metadata=metadata)


def _mark(metadata: dict[str, Any], problem: Optional[str], nuls: int, size: int) -> None:
    if problem:
        metadata["decode_problem"] = problem
        metadata["bytes"] = size
    if nuls:
        metadata["nul_removed"] = nuls


_PG_URL_ID = re.compile(r"gutenberg\.org/(?:ebooks|files)/(\d+)")


def read_json_lines(stream: BinaryIO, path: str, added: str = "", max_line_bytes: int = mib(MAX_BOOK_MB),
                    max_control_fraction: float = MAX_CONTROL_FRACTION) -> Iterator[Union[Document, ReadError, Tally]]:
    """PG-19 / Books3 JSON lines; a faulty line (too long, not UTF-8, not JSON, no string text)
    is a ReadError and the rest of the file goes on."""
    name = _plain_name(path)
    for item in json_lines(stream, max_line_bytes, path):
        if isinstance(item, ReadError):
            yield item
            continue
        number, record, removed = item
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            yield ReadError("malformed_json", path, f"line {number}: not an object with a string text")
            continue
        if removed:
            yield Tally({INFO + "nonfinite_values_removed": removed})
        yield _json_book(record, name, number, added, max_control_fraction)


def _json_book(record: dict, name: str, number: int, added: str, max_control_fraction: float) -> Document:
    metadata: dict[str, Any] = {"file": name, "line": number}
    if "short_book_title" in record or "publication_date" in record:
        metadata["format"] = "pg19"
        _put(metadata, "title", record.get("short_book_title"))
        _put(metadata, "release_date", record.get("publication_date"))
        _put(metadata, "url", record.get("url"))
        match = _PG_URL_ID.search(str(record.get("url") or ""))
        if match:
            metadata["gutenberg_id"] = match.group(1)
    else:
        metadata["format"] = "books3"
        _put(metadata, "title", record.get("title"))
        if isinstance(record.get("meta"), dict):
            metadata["meta"] = record["meta"]
    text = _lf(record["text"])
    problem = text_problem(text, max_control_fraction)
    nuls = 0 if problem else text.count("\x00")
    text = text[:SAMPLE_CHARS] if problem else text.replace("\x00", "")
    _mark(metadata, problem, nuls, len(record["text"]))
    return Document(id=make_id(SOURCE, metadata["format"], name, str(number)), text=text,
                    source=SOURCE, added=added, metadata=metadata)


def _put(metadata: dict, key: str, value: object) -> None:
    if value not in (None, ""):
        metadata[key] = value if isinstance(value, (int, float)) else str(value).strip()


# --------------------------------------------------------------------------------------------
# Licence header and footer
# --------------------------------------------------------------------------------------------
_START = re.compile(
    r"^[ \t]*(?:\*{3}[ \t]*START OF (?:THE|THIS) PROJECT GUTENBERG E-?(?:BOOK|TEXT)\b.*"
    r"|\*END\*THE SMALL PRINT!.*"
    r"|\*{3}[ \t]*START\*\*THE SMALL PRINT!.*)$",
    re.M | re.I,
)
_END = re.compile(
    r"^[ \t]*(?:\*{3}[ \t]*END OF (?:THE|THIS) PROJECT GUTENBERG E-?(?:BOOK|TEXT)\b.*"
    r"|End of (?:the |this )?Project Gutenberg(?:'s|’s)?\b.*"
    r"|\*{3}[ \t]*START: FULL LICENSE[ \t]*\*{3})$",
    re.M | re.I,
)
_FIELD = re.compile(r"^[ \t]*(Title|Author|Language|Release Date|Posting Date|Original publication)[ \t]*:[ \t]*(.*)$", re.I | re.M)
_EBOOK_NO = re.compile(r"\[(?:E-?Book|E-?Text)[ \t]*#[ \t]*(\d+)\]", re.I)
_PREAMBLE_TITLE = re.compile(r"^\W*The Project Gutenberg E-?(?:Book|Text) of (.+?)(?:, by (.+?))?\s*$", re.I | re.M)
_PRODUCED = re.compile(r"^\s*(?:Produced by|E-?text prepared by|Transcribed (?:from|by)|This (?:e-?)?(?:book|text) was produced by)\b", re.I)


def parse_header(header: str) -> dict[str, str]:
    """Metadata fields of a Gutenberg licence header (title, author, language, release_date,
    gutenberg_id); missing ones are absent."""
    out: dict[str, str] = {}
    for match in _FIELD.finditer(header):
        key = match.group(1).lower()
        value = match.group(2).strip()
        if key in ("release date", "posting date"):
            ebook = _EBOOK_NO.search(value)
            if ebook:
                out.setdefault("gutenberg_id", ebook.group(1))
            value = _EBOOK_NO.sub("", value).strip()
            key = "release_date"
        elif key == "original publication":
            key = "original_publication"
        elif key == "language" and schema.language_code(value):
            out.setdefault("language_name", value)  # the header's name; `language` is the ISO code
            value = schema.language_code(value) or value
        if value:
            out.setdefault(key, value)
    if "gutenberg_id" not in out:
        ebook = _EBOOK_NO.search(header)
        if ebook:
            out["gutenberg_id"] = ebook.group(1)
    preamble = _PREAMBLE_TITLE.search(header[:2000])
    if preamble:
        out.setdefault("title", preamble.group(1).strip())
        if preamble.group(2):
            out.setdefault("author", preamble.group(2).strip())
    return out


def split_gutenberg(text: str) -> tuple[Optional[str], str, Optional[str]]:
    """(header, body, footer); header is None when no start marker is found, footer None when no
    end marker follows the body."""
    first = _START.search(text)
    if first is None:
        return None, text, None
    end = _END.search(text, first.end())
    limit = end.start() if end is not None else len(text)
    # Some files carry two start-side markers (a START line, then the old SMALL PRINT block):
    # the body begins after the last one before the footer.
    start = first
    for later in _START.finditer(text, first.end(), limit):
        start = later
    header = text[: start.end()]
    if end is None:
        return header, text[start.end():], None
    return header, text[start.end(): end.start()], text[end.start():]


def _drop_producer_credit(body: str) -> str:
    """Remove a leading 'Produced by ...' credit paragraph (volunteer credits, not the book)."""
    stripped = body.lstrip("\n")
    paragraph_end = stripped.find("\n\n")
    first = stripped if paragraph_end < 0 else stripped[:paragraph_end]
    if _PRODUCED.match(first):
        return stripped[len(first):]
    return body


def _tidy(body: str) -> str:
    lines = [line.rstrip() for line in body.split("\n")]
    text = "\n".join(lines).strip("\n")
    return re.sub(r"\n{4,}", "\n\n\n", text)


def strip_gutenberg(doc: Document) -> Outcome:
    """Rule: remove the Gutenberg licence header/footer and put the header fields in metadata.

    Metadata set: `gutenberg_header` = "stripped" | "absent", `gutenberg_footer` = "stripped" |
    "absent", plus title/author/language/release_date/gutenberg_id found in the header (the id
    from the file name, when present, is kept if the header has none). Empty result: Drop("empty").
    """
    header, body, footer = split_gutenberg(doc.text)
    updates: dict[str, str] = {}
    if header is None:
        updates["gutenberg_header"] = "absent"
        text = _tidy(body)
    else:
        updates["gutenberg_header"] = "stripped"
        updates["gutenberg_footer"] = "stripped" if footer is not None else "absent"
        for key, value in parse_header(header).items():
            if key == "gutenberg_id" or key not in doc.metadata:
                updates[key] = value
        text = _tidy(_drop_producer_credit(body))
    if not text.strip():
        return Drop("empty")
    return doc.with_text(text).with_metadata(**updates)
