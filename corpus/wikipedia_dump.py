"""Reading Wikipedia `pages-articles` XML dumps: one `Page` per `<page>`, streamed.

`read_pages(stream, path)` feeds one decompressed dump to expat in 64 KiB chunks and keeps only the
fields of the page being read, at most `max_page_chars` of them (so neither a 20 GB dump nor a
20 GB page ever sits in memory), takes the language from the `<siteinfo><dbname>` (`ukwiki` ->
`uk`), and yields a `Page` per `<page>`. A dump that ends mid-page (truncated download) yields the
complete pages and then one `ReadError`; UTF-16 dumps (BOM or declared encoding) are decoded by
the XML parser itself; broken XML is a `ReadError`; entity declarations are refused.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, BinaryIO, Iterator, Optional, Union

from corpus.fileio import ReadError


@dataclass(frozen=True)
class SiteInfo:
    dbname: str = ""
    language: Optional[str] = None
    base: str = ""
    # Names (lower-cased) of the File (6), Media (-2) and Category (14) namespaces in this dump.
    hidden_prefixes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Page:
    """One `<page>` of a dump, as read: the wikitext is not cleaned yet."""

    title: str
    namespace: int
    page_id: str
    redirect: Optional[str]
    revision_id: str
    timestamp: str
    wikitext: str
    dbname: str
    language: Optional[str]
    dump_date: str = ""
    dump_file: str = ""
    # The dump's own names of the File/Media/Category namespaces (siteinfo), lower-cased.
    namespace_prefixes: tuple[str, ...] = ()
    too_large: bool = False  # its text passed the reader's size limit and was not kept


def language_of_dbname(dbname: str) -> Optional[str]:
    """The Wikipedia language code of a database name: `enwiki` -> `en`, `be_x_oldwiki` -> `be-x-old`.

    Other wikis of the same dumps (`enwiktionary`, `commonswiki` is a wiki too but not a language
    edition: it returns `commons`, which is in no language list) are not Wikipedia editions.
    """
    name = dbname.strip().lower()
    if not name.endswith("wiki") or len(name) <= 4:
        return None
    return name[: -len("wiki")].replace("_", "-")


_DUMP_NAME = re.compile(r"(?P<db>[a-z_]+wiki)-(?P<date>\d{8}|latest)-")


def dump_of(path: str) -> tuple[str, str]:
    """(dump date `YYYYMMDD` or `latest` or "", file name) from a dump's file name."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    m = _DUMP_NAME.search(name)
    return (m.group("date") if m else ""), name


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


MAX_PAGE_CHARS = 4 << 20  # twice MediaWiki's $wgMaxArticleSize (2 MiB), which every Wikimedia wiki enforces
_NAMESPACE = re.compile(r"-?[0-9]{1,6}")  # MediaWiki namespace numbers are small ints (-2 .. ~3000)


class _Refused(ValueError):
    """An entity declaration or external reference: refused, like defusedxml does."""


class _Pages:
    """expat callbacks that turn a dump into `Page`s, holding at most one page of text.

    Only the fields a `Page` needs are captured, and at most `max_page_chars` characters of them
    per page: beyond that the page's text is no longer kept (it comes out `too_large`), so a
    20 GB `<text>` costs no more memory than a normal page.
    """

    def __init__(self, max_page_chars: int, dump_date: str, dump_file: str, named: Optional[re.Match]):
        self.max_page_chars = max_page_chars
        self.dump_date, self.dump_file, self.named = dump_date, dump_file, named
        self.ready: list[Union[Page, ReadError]] = []
        self.site = SiteInfo()
        self.root_lang = ""
        self.pages = 0
        self.depth = 0
        self._in: Optional[str] = None  # "site" | "page"
        self._base_depth = 0  # depth of the <siteinfo> or <page> element
        self._fields: dict[str, Any] = {}
        self._namespaces: list[tuple[Optional[str], str]] = []
        self._capture: Optional[tuple[str, int]] = None  # (field, depth of its element)
        self._buf: list[str] = []
        self._chars = 0
        self._too_large = False
        self._ns_key: Optional[str] = None
        self._parent = ""  # the current child of <page>/<siteinfo>

    def start(self, tag: str, attrs: dict) -> None:
        self.depth += 1
        name = _local(tag)
        rel = self.depth - self._base_depth
        if self.depth == 1:
            self.root_lang = attrs.get("xml:lang", "") or ""
        if self._in is None:
            if name in ("siteinfo", "page"):
                self._in, self._base_depth = ("site" if name == "siteinfo" else "page"), self.depth
                self._fields, self._namespaces, self._chars, self._too_large = {}, [], 0, False
            return
        if self._in == "page":
            if rel == 1 and name == "redirect":
                self._fields["redirect"] = attrs.get("title", "") or ""
            elif rel == 1 and name in ("title", "ns", "id"):
                self._start_capture(name)
            elif rel == 2 and self._parent == "revision" and name in ("id", "timestamp", "text"):
                self._start_capture("revision_" + name)
        elif rel == 1 and name in ("dbname", "base"):
            self._start_capture(name)
        elif rel == 2 and name == "namespace":
            self._ns_key = attrs.get("key")
            self._start_capture("namespace")
        if rel == 1:
            self._parent = name

    def _start_capture(self, field: str) -> None:
        self._capture = (field, self.depth)
        self._buf = []

    def data(self, text: str) -> None:
        if self._capture is None or self._too_large:
            return
        self._chars += len(text)
        if self._chars > self.max_page_chars:
            self._too_large, self._buf = True, []
            return
        self._buf.append(text)

    def end(self, tag: str) -> None:
        if self._capture is not None and self._capture[1] == self.depth:
            field = self._capture[0]
            value = "".join(self._buf)
            self._capture, self._buf = None, []
            if field == "namespace":
                self._namespaces.append((self._ns_key, value))
            else:
                self._fields[field] = value
        if self._in is not None and self.depth == self._base_depth:
            if self._in == "site":
                self.site = self._siteinfo()
            else:
                self.ready.append(self._page())
            self._in, self._base_depth, self._fields, self._namespaces = None, 0, {}, []
        self.depth -= 1

    def _siteinfo(self) -> SiteInfo:
        dbname = self._fields.get("dbname", "").strip()
        prefixes = tuple(text.strip().lower() for key, text in self._namespaces
                         if key in ("-2", "6", "14") and text.strip())
        return SiteInfo(dbname=dbname, language=language_of_dbname(dbname),
                        base=self._fields.get("base", "").strip(), hidden_prefixes=prefixes)

    def _page(self) -> Union[Page, ReadError]:
        if not self.site.dbname:
            self.site = _fallback_site(self.site, self.named, self.root_lang)
        f = self._fields
        ns_text = f.get("ns", "").strip()
        if ns_text and not _NAMESPACE.fullmatch(ns_text):
            return ReadError("bad_namespace", self.dump_file, f"page {f.get('id', '')[:40]!r}: <ns> "
                                                              f"{ns_text[:40]!r}... ({len(ns_text)} chars)")
        self.pages += 1
        return Page(
            title=f.get("title", ""),
            namespace=int(ns_text) if ns_text else 0,
            page_id=f.get("id", "").strip(),
            redirect=f.get("redirect"),
            revision_id=f.get("revision_id", "").strip(),
            timestamp=f.get("revision_timestamp", "").strip(),
            wikitext="" if self._too_large else f.get("revision_text", ""),
            dbname=self.site.dbname,
            language=self.site.language,
            dump_date=self.dump_date,
            dump_file=self.dump_file,
            namespace_prefixes=self.site.hidden_prefixes,
            too_large=self._too_large,
        )


def _refuse(*_: Any) -> None:
    raise _Refused("entity declarations and external references are refused")


def _parser(pages: _Pages) -> Any:
    from xml.parsers import expat

    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.buffer_text = True
    parser.StartElementHandler = pages.start
    parser.EndElementHandler = pages.end
    parser.CharacterDataHandler = pages.data
    return parser


def read_pages(stream: BinaryIO, path: str = "", max_page_chars: int = MAX_PAGE_CHARS,
               chunk: int = 1 << 16) -> Iterator[Union[Page, ReadError]]:
    """Stream the `<page>`s of one decompressed dump; input faults become ReadErrors.

    expat (entity declarations and external references refused, as defusedxml does) detects the
    encoding from the BOM or the XML declaration, so UTF-16 dumps read like UTF-8 ones. A page
    whose captured text passes `max_page_chars` comes out with `too_large` and no text; a page
    whose `<ns>` is not a namespace number is one `bad_namespace` error; a dump cut mid-way keeps
    its complete pages and ends with `truncated_input`, broken XML with `malformed_xml`.
    """
    from xml.parsers import expat

    dump_date, dump_file = dump_of(path)
    pages = _Pages(max_page_chars, dump_date, dump_file, _DUMP_NAME.search(dump_file))
    parser = _parser(pages)
    at_end = False
    try:
        while True:
            data = stream.read(chunk)
            at_end = not data
            parser.Parse(data, at_end)
            yield from _take(pages)
            if at_end:
                break
    except expat.ExpatError as exc:
        yield from _take(pages)
        message = expat.ErrorString(exc.code) if exc.code else str(exc)
        truncated = at_end and message in ("no element found", "unclosed token", "partial character")
        yield ReadError("truncated_input" if truncated else "malformed_xml", path,
                        f"after {pages.pages} pages: {exc}")
    except _Refused as exc:
        yield from _take(pages)
        yield ReadError("malformed_xml", path, f"after {pages.pages} pages: {exc}")


def _take(pages: _Pages) -> Iterator[Union[Page, ReadError]]:
    ready, pages.ready = pages.ready, []
    yield from ready


_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _fallback_site(site: SiteInfo, named: Optional[re.Match], root_lang: str) -> SiteInfo:
    """No <siteinfo> dbname (hand-cut dumps): the file name's `<db>wiki-<date>-`, else the root's xml:lang."""
    dbname = named.group("db") if named else ""
    if not dbname and root_lang.strip():
        dbname = root_lang.strip().lower().replace("-", "_") + "wiki"
    return dataclasses.replace(site, dbname=dbname, language=language_of_dbname(dbname) if dbname else None)


def is_dump(path: str) -> bool:
    """Files the reader takes: an `.xml` in the name (any compression suffix), not checksums or notes."""
    name = path.rsplit("/", 1)[-1].lower()
    return ".xml" in name and not name.endswith((".md5", ".sha1", ".txt", ".json"))
