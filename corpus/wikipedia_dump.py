"""Reading Wikipedia `pages-articles` XML dumps: one `Page` per `<page>`, streamed.

`read_pages(stream, path)` streams one decompressed dump with `iterparse` (elements cleared as soon
as a page is read, so a 20 GB dump never sits in memory), takes the language from the
`<siteinfo><dbname>` (`ukwiki` -> `uk`), and yields a `Page` per `<page>`. A dump that ends
mid-page (truncated download) yields the complete pages and then one `ReadError`; UTF-16 dumps
(BOM or declared encoding) are decoded by the XML parser itself; broken XML is a `ReadError`.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, BinaryIO, Iterator, Optional, Union
from xml.etree.ElementTree import ParseError

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
    return tag.rsplit("}", 1)[-1]


def _child_text(elem: Any, name: str) -> str:
    for child in elem:
        if _local(child.tag) == name:
            return child.text or ""
    return ""


def _child(elem: Any, name: str) -> Any:
    for child in elem:
        if _local(child.tag) == name:
            return child
    return None


def _siteinfo(elem: Any) -> SiteInfo:
    dbname = _child_text(elem, "dbname").strip()
    prefixes = []
    namespaces = _child(elem, "namespaces")
    if namespaces is not None:
        for ns in namespaces:
            if ns.get("key") in ("-2", "6", "14") and ns.text:
                prefixes.append(ns.text.strip().lower())
    return SiteInfo(dbname=dbname, language=language_of_dbname(dbname), base=_child_text(elem, "base").strip(),
                    hidden_prefixes=tuple(prefixes))


def _page(elem: Any, site: SiteInfo, dump_date: str, dump_file: str) -> Page:
    redirect = _child(elem, "redirect")
    revision = _child(elem, "revision")
    ns_text = _child_text(elem, "ns").strip()
    return Page(
        title=_child_text(elem, "title"),
        namespace=int(ns_text) if ns_text.lstrip("-").isdigit() else 0,
        page_id=_child_text(elem, "id").strip(),
        redirect=(redirect.get("title") or "") if redirect is not None else None,
        revision_id=_child_text(revision, "id").strip() if revision is not None else "",
        timestamp=_child_text(revision, "timestamp").strip() if revision is not None else "",
        wikitext=_child_text(revision, "text") if revision is not None else "",
        dbname=site.dbname,
        language=site.language,
        dump_date=dump_date,
        dump_file=dump_file,
        namespace_prefixes=site.hidden_prefixes,
    )


class _TrackingStream:
    """Wraps the input to know whether the parser had read it to the end when it failed."""

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self.eof = False

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if not data:
            self.eof = True
        return data


def read_pages(stream: BinaryIO, path: str = "") -> Iterator[Union[Page, ReadError]]:
    """Stream the `<page>`s of one decompressed dump; input faults become one trailing ReadError.

    The XML parser (expat via defusedxml: no entity expansion, no external DTDs) detects the
    encoding from the BOM or the XML declaration, so UTF-16 dumps read like UTF-8 ones.
    """
    from defusedxml.ElementTree import iterparse

    dump_date, dump_file = dump_of(path)
    named = _DUMP_NAME.search(dump_file)
    tracked = _TrackingStream(stream)
    site = SiteInfo()
    root = None
    root_lang = ""
    pages = 0
    try:
        for event, elem in iterparse(tracked, events=("start", "end")):
            if event == "start":
                if root is None:
                    root = elem
                    root_lang = elem.get(_XML_LANG) or ""  # before any clear() wipes attributes
                continue
            name = _local(elem.tag)
            if name == "siteinfo":
                site = _siteinfo(elem)
                root.clear()  # type: ignore[union-attr]
            elif name == "page":
                if not site.dbname:
                    site = _fallback_site(site, named, root_lang)
                page = _page(elem, site, dump_date, dump_file)
                root.clear()  # type: ignore[union-attr]  # drop the page's subtree: constant memory
                pages += 1
                yield page
    except ParseError as exc:
        # Expat reports a dump cut mid-way as "no element found" / "unclosed token" once the
        # whole input was consumed; anything else is broken XML.
        reason = "truncated_input" if tracked.eof and _is_truncation(exc) else "malformed_xml"
        yield ReadError(reason, path, f"after {pages} pages: {exc}")
    except UnicodeError as exc:
        yield ReadError("bad_encoding", path, f"after {pages} pages: {exc}")
    except Exception as exc:  # noqa: BLE001 - defusedxml's refusals (entities, DTDs)
        if type(exc).__module__.startswith("defusedxml"):
            yield ReadError("malformed_xml", path, f"after {pages} pages: {type(exc).__name__}: {exc}")
        else:
            raise
    else:
        if root is None:
            yield ReadError("malformed_xml", path, "no XML root element")


_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _fallback_site(site: SiteInfo, named: Optional[re.Match], root_lang: str) -> SiteInfo:
    """No <siteinfo> dbname (hand-cut dumps): the file name's `<db>wiki-<date>-`, else the root's xml:lang."""
    dbname = named.group("db") if named else ""
    if not dbname and root_lang.strip():
        dbname = root_lang.strip().lower().replace("-", "_") + "wiki"
    return dataclasses.replace(site, dbname=dbname, language=language_of_dbname(dbname) if dbname else None)


def _is_truncation(exc: ParseError) -> bool:
    message = str(exc)
    return any(s in message for s in ("no element found", "unclosed token", "partial character"))


def is_dump(path: str) -> bool:
    """Files the reader takes: an `.xml` in the name (any compression suffix), not checksums or notes."""
    name = path.rsplit("/", 1)[-1].lower()
    return ".xml" in name and not name.endswith((".md5", ".sha1", ".txt", ".json"))
