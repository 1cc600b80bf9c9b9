"""Books (Project Gutenberg + Books3): reading, decoding, licence stripping, metadata. Pure logic.

Inputs (`read_books`, chosen by file name; any compression `open_decompressed` knows):
- `*.txt` - one Project Gutenberg plain-text book. Bytes are decoded as UTF-8 (a BOM is dropped);
  when that fails, with the codec the header declares (`Character set encoding: ISO-8859-1`),
  else Windows-1252, else Latin-1 (which decodes every byte). CRLF/CR become LF.
- `*.jsonl` / `*.json` - one JSON object per line: PG-19 style (`short_book_title`,
  `publication_date`, `url`, `text`) or Books3 style (`title`, `text`; Pile's `meta` kept).

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
import json
import re
from typing import BinaryIO, Iterator, Optional, Union

from corpus import paths
from corpus.document import Document, make_id
from corpus.fileio import ReadError
from corpus.rules import Drop, Outcome

SOURCE = "books"

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
    """(text with LF newlines, encoding used). UTF-8 first; then the declared codec; then
    Windows-1252; then Latin-1, which cannot fail."""
    if raw.startswith(codecs.BOM_UTF8):
        text, encoding = raw[len(codecs.BOM_UTF8):].decode("utf-8", errors="strict"), "utf-8-sig"
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text, encoding = raw.decode("utf-16"), "utf-16"
    else:
        text, encoding = "", ""
        candidates = ["utf-8"]
        declared = _DECLARED.search(raw[:20000])
        if declared:
            codec = _codec(declared.group(1).decode("ascii", "replace"))
            if codec and codec not in candidates:
                candidates.append(codec)
        candidates += [c for c in ("cp1252", "latin-1") if c not in candidates]
        for codec in candidates:
            try:
                text, encoding = raw.decode(codec), codec
                break
            except UnicodeDecodeError:
                continue
    return text.replace("\r\n", "\n").replace("\r", "\n"), encoding


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------
_GUTENBERG_FILE_ID = re.compile(r"^(?:pg)?(\d+)(?:-\d+)?(?:\.txt)?$", re.I)


def gutenberg_id_from_name(path: str) -> Optional[str]:
    match = _GUTENBERG_FILE_ID.match(_plain_name(path))
    return match.group(1) if match else None


def read_books(stream: BinaryIO, path: str, added: str = "") -> Iterator[Union[Document, ReadError]]:
    """All books in one decompressed input file (see the module docstring for the formats), each
    with `added` as its `added` field."""
    name = _plain_name(path)
    if name.lower().endswith(JSON_SUFFIXES):
        yield from read_json_lines(stream, path, added)
    else:
        yield read_gutenberg_text(stream.read(), path, added)


def read_gutenberg_text(raw: bytes, path: str, added: str = "") -> Document:
    text, encoding = decode_text(raw)
    name = _plain_name(path)
    metadata = {"format": "gutenberg_txt", "file": name, "encoding": encoding}
    gid = gutenberg_id_from_name(path)
    if gid:
        metadata["gutenberg_id"] = gid
    return Document(id=make_id(SOURCE, "gutenberg", name), text=text, source=SOURCE, added=added, metadata=metadata)


_PG_URL_ID = re.compile(r"gutenberg\.org/(?:ebooks|files)/(\d+)")


def read_json_lines(stream: BinaryIO, path: str, added: str = "") -> Iterator[Union[Document, ReadError]]:
    """PG-19 / Books3 JSON lines; a malformed line is a ReadError, the rest of the file goes on."""
    name = _plain_name(path)
    for number, line in enumerate(stream, start=1):
        line = line.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
            text = record["text"]
            if not isinstance(text, str):
                raise TypeError("text is not a string")
        except (ValueError, KeyError, TypeError) as exc:
            yield ReadError("malformed_json", path, f"line {number}: {type(exc).__name__}: {exc}")
            continue
        metadata: dict = {"file": name, "line": number}
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
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        yield Document(id=make_id(SOURCE, metadata["format"], name, str(number)), text=text,
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
