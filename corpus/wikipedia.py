"""Wikipedia `pages-articles` XML dumps -> plain-text article documents (LLaMA §2.1).

LLaMA: "We add Wikipedia dumps from the June-August 2022 period, covering 20 languages, which use
either the Latin or Cyrillic scripts [...]. We process the data to remove hyperlinks, comments and
other formatting boilerplate." This module is the pure part of that job:

- `read_pages(stream, path)` streams one decompressed dump with `iterparse` (elements cleared as
  soon as a page is read, so a 20 GB dump never sits in memory), takes the language from the
  `<siteinfo><dbname>` (`ukwiki` -> `uk`), and yields a `Page` per `<page>`. A dump that ends
  mid-page (truncated download) yields the complete pages and then one `ReadError`; UTF-16 dumps
  (BOM or declared encoding) are decoded by the XML parser itself; broken XML is a `ReadError`.
- `page_document(page, added)` turns a page into a `Document` (text = raw wikitext for now).
- rules, in recipe order: `keep_articles` (namespace 0, no redirect), `keep_languages(...)`,
  `clean_article` (wikitext -> text + `ref_urls`), optionally `language_check(...)`, `min_chars(...)`.
- `wikitext_to_text(wikitext)` and `ref_urls(wikitext)` are the markup logic, on
  mwparserfromhell's syntax tree.
"""
from __future__ import annotations

import dataclasses
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Optional, Sequence, Union
from xml.etree.ElementTree import ParseError

from corpus.document import Document, make_id
from corpus.fileio import ReadError
from corpus.rules import Drop, Outcome, Rule

SOURCE = "wikipedia"

# LLaMA §2.1: the 20 Wikipedia languages that use the Latin or Cyrillic script.
LANGUAGES: tuple[str, ...] = (
    "bg", "ca", "cs", "da", "de", "en", "es", "fr", "hr", "hu",
    "it", "nl", "pl", "pt", "ro", "ru", "sl", "sr", "sv", "uk",
)

# Metadata keys that only steer the rules and are not written out.
_TRANSIENT = ("namespace", "redirect", "namespace_prefixes")


# =============================================================================================
# Reading the XML dump
# =============================================================================================
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


def language_of(dbname: str) -> Optional[str]:
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
    return SiteInfo(dbname=dbname, language=language_of(dbname), base=_child_text(elem, "base").strip(),
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
    return dataclasses.replace(site, dbname=dbname, language=language_of(dbname) if dbname else None)


def _is_truncation(exc: ParseError) -> bool:
    message = str(exc)
    return any(s in message for s in ("no element found", "unclosed token", "partial character"))


def page_document(page: Page, added: str = "") -> Document:
    """A Page as a Document whose text is still the raw wikitext (rules clean it)."""
    language = page.language or ""
    metadata: dict[str, Any] = {
        "title": page.title,
        "page_id": page.page_id,
        "revision_id": page.revision_id,
        "timestamp": page.timestamp,
        "language": language,
        "dbname": page.dbname,
        "dump_date": page.dump_date,
        "dump_file": page.dump_file,
        "url": article_url(language, page.title) if language else "",
        "namespace": page.namespace,
        "redirect": page.redirect,
    }
    extra = [p for p in page.namespace_prefixes if p not in _ALL_HIDDEN]
    if extra:  # a wiki outside the 20 languages: its own "File:"/"Category:" words
        metadata["namespace_prefixes"] = extra
    return Document(
        id=make_id(SOURCE, page.dbname, page.page_id),
        text=page.wikitext,
        source=SOURCE,
        added=added,
        metadata=metadata,
    )


def article_url(language: str, title: str) -> str:
    """`https://<lang>.wikipedia.org/wiki/<Title>`, encoded like MediaWiki's wfUrlencode."""
    return f"https://{language}.wikipedia.org/wiki/" + urllib.parse.quote(
        title.replace(" ", "_"), safe=";@$!*(),/~:"
    )


# =============================================================================================
# Rules, in the order the pipeline applies them
# =============================================================================================
def keep_articles(doc: Document) -> Outcome:
    """Namespace 0 (articles) only, and no redirects."""
    if doc.metadata.get("namespace", 0) != 0:
        return Drop("not_article_namespace")
    if doc.metadata.get("redirect") is not None or _REDIRECT_TEXT.match(doc.text):
        return Drop("redirect")
    return doc


# A redirect page whose <redirect/> element is missing (old dumps) still starts with #REDIRECT
# (or a localised form such as #WEITERLEITUNG, #ПЕРЕНАПРАВЛЕНИЕ): "#word [[".
_REDIRECT_TEXT = re.compile(r"\s*#[^\W\d_]+\s*:?\s*\[\[", re.UNICODE)


def keep_languages(languages: Iterable[str] = LANGUAGES) -> Rule:
    """Keep pages of the given languages (from the dump's dbname)."""
    wanted = frozenset(languages)

    def rule(doc: Document) -> Outcome:
        language = doc.metadata.get("language") or ""
        if not language:
            return Drop("unknown_language")
        if language not in wanted:
            return Drop("language_not_kept")
        return doc

    return rule


def clean_article(doc: Document) -> Outcome:
    """Wikitext -> plain text, with the cited URLs in `ref_urls`; transient metadata removed."""
    import mwparserfromhell

    try:
        body, refs = split_refs(doc.text)
        code = mwparserfromhell.parse(body)
        urls = _ref_urls(code, refs)
        text = _clean_lines(_render(code, _hidden_prefixes(doc.metadata.get("namespace_prefixes", ()))))
    except RecursionError:
        # Pathologically nested markup: one page, not the job, is lost (and counted).
        return Drop("markup_too_deep")
    metadata = {k: v for k, v in doc.metadata.items() if k not in _TRANSIENT}
    metadata["ref_urls"] = urls
    if not text:
        return Drop("empty_after_cleaning")
    return dataclasses.replace(doc, text=text, metadata=metadata)


# lid.176 does not reliably tell Serbo-Croatian's standard varieties apart: one group.
_LID_GROUPS = {"sr": "sh", "hr": "sh", "bs": "sh", "sh": "sh", "cnr": "sh"}


def language_check(predict: Callable[[str], tuple[str, float]], threshold: float = 0.5) -> Rule:
    """Optional: drop `language_mismatch` when language ID is sure (score >= threshold) that a
    cleaned article is in another language than its dump says (e.g. the dbpedia "de" minidump,
    whose siteinfo claims enwiki). `predict(text) -> (language, score)`."""

    def rule(doc: Document) -> Outcome:
        expected = doc.metadata.get("language") or ""
        predicted, score = predict(doc.text)
        if score >= threshold and _LID_GROUPS.get(predicted, predicted) != _LID_GROUPS.get(expected, expected):
            return Drop("language_mismatch")
        return doc

    return rule


def min_chars(n: int) -> Rule:
    """Drop articles shorter than `n` characters after cleaning (0 keeps every non-empty one)."""

    def rule(doc: Document) -> Outcome:
        return Drop("too_short") if len(doc.text) < n else doc

    return rule


# =============================================================================================
# Wikitext -> text
# =============================================================================================
# File / Media / Category namespace names and aliases of the 20 languages (MediaWiki's
# Messages*.php), lower-cased; links with these prefixes are images and categories, not text.
_HIDDEN_BY_LANGUAGE: dict[str, tuple[str, ...]] = {
    "bg": ("файл", "картинка", "изображение", "медия", "категория"),
    "ca": ("fitxer", "imatge", "arxiu", "multimèdia", "categoria"),
    "cs": ("soubor", "obrázek", "média", "kategorie"),
    "da": ("fil", "billede", "medie", "kategori"),
    "de": ("datei", "bild", "medium", "kategorie"),
    "en": ("file", "image", "media", "category"),
    "es": ("archivo", "imagen", "medio", "categoría", "categoria"),
    "fr": ("fichier", "image", "média", "catégorie"),
    "hr": ("datoteka", "slika", "mediji", "kategorija"),
    "hu": ("fájl", "kép", "média", "kategória"),
    "it": ("file", "immagine", "media", "categoria"),
    "nl": ("bestand", "afbeelding", "media", "categorie"),
    "pl": ("plik", "grafika", "media", "kategoria"),
    "pt": ("ficheiro", "arquivo", "imagem", "multimédia", "mídia", "categoria"),
    "ro": ("fișier", "fişier", "imagine", "media", "categorie"),
    "ru": ("файл", "изображение", "медиа", "категория"),
    "sl": ("slika", "datoteka", "media", "kategorija"),
    "sr": ("датотека", "слика", "медиј", "категорија", "datoteka", "slika", "medij", "kategorija"),
    "sv": ("fil", "bild", "media", "kategori"),
    "uk": ("файл", "зображення", "медіа", "категорія"),
}
_CANONICAL_HIDDEN = ("file", "image", "media", "category")


def _hidden_prefixes(extra: Iterable[str] = ()) -> frozenset[str]:
    # The canonical English names and the local names of all 20 languages, whatever the dump's
    # language: a mislabelled dump (the dbpedia "de" minidump says enwiki) still loses its
    # `[[Datei:...]]`, and no article title starts with another edition's "File:" word. Other
    # wikis add their own names from their siteinfo (`extra`).
    extra = tuple(extra)
    return _ALL_HIDDEN.union(extra) if extra else _ALL_HIDDEN


_ALL_HIDDEN = frozenset(_CANONICAL_HIDDEN + tuple(p for ps in _HIDDEN_BY_LANGUAGE.values() for p in ps))


# Interlanguage links `[[de:Foo]]` (no leading colon) are sidebar links, not text.
_INTERLANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})*$")

# Tags whose content is not running text: references, tables, images, maths, code, charts.
_DROPPED_TAGS = frozenset({
    "ref", "references", "table", "gallery", "math", "chem", "ce", "hiero", "score", "timeline",
    "imagemap", "graph", "mapframe", "maplink", "templatedata", "templatestyles", "syntaxhighlight",
    "source", "pre", "code", "categorytree", "inputbox", "section", "indicator", "charinsert",
    "style", "script", "noinclude", "includeonly", "onlyinclude",
})
_LINE_BREAK_TAGS = frozenset({"br", "p", "div", "li", "dt", "dd"})

_HEADING = "\x00H"  # heading lines are marked while rendering, resolved in _clean_lines


def _render(code: Any, hidden: frozenset[str]) -> str:
    return "".join(_render_node(node, hidden) for node in code.nodes)


def _render_node(node: Any, hidden: frozenset[str]) -> str:
    from mwparserfromhell import nodes

    if isinstance(node, nodes.Text):
        return node.value
    if isinstance(node, nodes.Wikilink):
        return _render_wikilink(node, hidden)
    if isinstance(node, nodes.Tag):
        tag = str(node.tag).strip().lower()
        if tag in _DROPPED_TAGS or node.self_closing:
            return "\n" if tag == "br" else ""
        inner = _render(node.contents, hidden) if node.contents is not None else ""
        if tag in _LINE_BREAK_TAGS and not node.wiki_markup:
            return "\n" + inner + "\n"
        return inner
    if isinstance(node, nodes.ExternalLink):
        # Hyperlinks go; a bracketed link's label is text ("[http://x label]" -> "label").
        return _render(node.title, hidden) if node.brackets and node.title is not None else ""
    if isinstance(node, nodes.Heading):
        title = " ".join(_render(node.title, hidden).split())
        return f"{_HEADING}{node.level}\x00{title}\n"
    if isinstance(node, nodes.HTMLEntity):
        try:
            return node.normalize()
        except (ValueError, OverflowError):
            return ""
    # Templates (infoboxes, navboxes, citations, ...), comments and template arguments.
    return ""


def _render_wikilink(node: Any, hidden: frozenset[str]) -> str:
    title = str(node.title).strip()
    visible_colon = title.startswith(":")
    prefix, sep, _ = title.lstrip(":").partition(":")
    if sep and not visible_colon:
        p = prefix.strip().lower()
        if p in hidden or _INTERLANGUAGE.match(prefix.strip()):
            return ""  # an image with its caption, a category, or an interlanguage link
    if node.text is not None:
        return _render(node.text, hidden)
    shown = title.lstrip(":")
    return shown.split("#", 1)[0] if not shown.startswith("#") else shown[1:]


_MAGIC_WORD = re.compile(r"__[A-ZÄÖÜА-ЯЁІЇЄ_]+__")
_SPACES = re.compile(r"[ \t\u00a0]+")
_EMPTY_PARENS = re.compile(r"\([\s,;:]*\)|\[\s*\]")
_PAREN_OPEN_PUNCT = re.compile(r"\(\s*[,;:]+\s*")
_PAREN_CLOSE_PUNCT = re.compile(r"\s*[,;:]+\s*\)")
_PUNCT_RUN = re.compile(r"([,;])(?:\s*[,;])+")  # "Rosenbaum,; – 1982" once a date template is gone
_PAREN_INNER_SPACE = re.compile(r"(?<=\()\s+|\s+(?=\))")
_SPACE_BEFORE_PUNCT = re.compile(r" +([,.;:!?])")
_TABLE_LEFTOVER = re.compile(r"^(\{\||\|\}|\|-|\|\+|\||!)")  # table rows the parser left as text
_LIST_MARK = re.compile(r"^[*#:;]+\s*")
_HTML_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>")
_FLAT_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_TEMPLATE_OPEN = re.compile(r"\{\{[^{}|]*\|?")


_LINK_OPEN = re.compile(r"\[\[\s*([^\[\]|:]+):")


def _leftovers(line: str) -> str:
    m = _LINK_OPEN.search(line)
    if m and m.group(1).strip().lower() in _ALL_HIDDEN:
        line = line[: m.start()]  # an image whose caption runs over lines: drop it to the line end
    line = _HTML_TAG.sub("", line)
    for _ in range(3):
        line, n = _FLAT_TEMPLATE.subn("", line)
        if not n:
            break
    line = _TEMPLATE_OPEN.sub("", line).replace("}}", "")
    return line.strip()


def _clean_lines(rendered: str) -> str:
    """Tidy the rendered text: one paragraph per line, headings only above kept content."""
    out: list[tuple[int, str]] = []  # (heading level or 0, line)
    for raw in rendered.split("\n"):
        if raw.startswith(_HEADING):
            level_s, _, title = raw[len(_HEADING):].partition("\x00")
            title = _MAGIC_WORD.sub("", title).strip(" =")
            if title:
                out.append((int(level_s or 2), title))
            continue
        line = _MAGIC_WORD.sub("", raw.replace("\x00", ""))
        line = _SPACES.sub(" ", line).strip()
        if _TABLE_LEFTOVER.match(line):
            continue
        # Markup the parser left as text (constructs it could not close).
        line = _leftovers(line)
        line = _LIST_MARK.sub("", line)
        # What removed templates leave behind: "Asphalt ({{IPA}}, also {{IPA}})" -> "(, also )".
        line = _EMPTY_PARENS.sub("", line)
        line = _PAREN_OPEN_PUNCT.sub("(", line)
        line = _PAREN_CLOSE_PUNCT.sub(")", line)
        line = _PAREN_INNER_SPACE.sub("", line)
        line = _PUNCT_RUN.sub(lambda m: ";" if ";" in m.group(0) else ",", line)
        line = _SPACE_BEFORE_PUNCT.sub(r"\1", line)
        line = _SPACES.sub(" ", line).strip()
        if line and any(ch.isalnum() for ch in line):
            out.append((0, line))
    # A heading stays only if text follows it before the next heading of the same or higher rank
    # ("References", "External links", ... become empty once refs and links are gone).
    kept: list[str] = []
    for i, (level, line) in enumerate(out):
        if level:
            has_body = False
            for next_level, _ in out[i + 1:]:
                if next_level == 0:
                    has_body = True
                    break
                if next_level <= level:
                    break
            if not has_body:
                continue
        kept.append(line)
    return "\n".join(kept).strip()


def wikitext_to_text(wikitext: str, language: str = "") -> str:
    """Plain text of a page's wikitext: markup, templates, tables, references, comments,
    file/category/interlanguage links and hyperlinks removed; `[[target|label]]` -> `label`."""
    import mwparserfromhell

    body, _ = split_refs(wikitext)
    return _clean_lines(_render(mwparserfromhell.parse(body), _hidden_prefixes()))


# Comments and <ref>s are cut out before parsing: mwparserfromhell gives up on some long pages
# (its tokenizer backs off to plain text on constructs it cannot close), and then `<ref>...</ref>`
# would survive as text. Cutting them first is robust and makes the parse smaller.
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_REF = re.compile(r"<ref\b(?:[^>/]|/(?!>))*(?:/>|>(.*?)</ref\s*>)", re.DOTALL | re.IGNORECASE)


def split_refs(wikitext: str) -> tuple[str, list[str]]:
    """(wikitext without comments and <ref>s, the contents of the <ref>s in page order)."""
    refs: list[str] = []

    def cut(m: re.Match) -> str:
        if m.group(1):
            refs.append(m.group(1))
        return ""

    return _REF.sub(cut, _COMMENT.sub("", wikitext)), refs


# =============================================================================================
# Cited URLs (positives of the Wikipedia-reference quality classifier, RECIPE §3.1)
# =============================================================================================
_URL = re.compile(r"^(?:(?:https?|ftp):)?//[^\s<>\[\]{}|\"]+$", re.IGNORECASE)
_URL_PARAMS = frozenset({"url", "chapter-url", "chapterurl", "contribution-url", "section-url"})
_CITE_PREFIXES = ("cite", "citation")


def _clean_url(value: str) -> Optional[str]:
    value = value.strip()
    if not _URL.match(value):
        return None
    return "https:" + value if value.startswith("//") else value


def _template_urls(template: Any) -> Iterator[str]:
    for param in template.params:
        if str(param.name).strip().lower() in _URL_PARAMS:
            from mwparserfromhell import nodes

            value = "".join(str(n) for n in param.value.nodes if not isinstance(n, nodes.Comment))
            url = _clean_url(value)
            if url:
                yield url


def _ref_urls(code: Any, refs: Sequence[str] = ()) -> list[str]:
    import mwparserfromhell

    found: list[str] = []
    for ref in refs:
        _collect_urls(mwparserfromhell.parse(ref), True, found)
    _collect_urls(code, False, found)
    return list(dict.fromkeys(found))


def _collect_urls(code: Any, in_ref: bool, found: list[str]) -> None:
    """Walk the tree in page order: links inside <ref>, url params of templates inside <ref> and of
    citation templates anywhere (bibliographies cite sources too). Archive copies are not taken."""
    from mwparserfromhell import nodes

    for node in code.nodes:
        if isinstance(node, nodes.Tag):
            if node.contents is not None:
                _collect_urls(node.contents, in_ref or str(node.tag).strip().lower() == "ref", found)
        elif isinstance(node, nodes.ExternalLink):
            if in_ref:
                url = _clean_url(str(node.url))
                if url:
                    found.append(url)
        elif isinstance(node, nodes.Template):
            if in_ref or str(node.name).strip().lower().startswith(_CITE_PREFIXES):
                found.extend(_template_urls(node))
            for param in node.params:
                name = str(param.name).strip().lower()
                if name not in _URL_PARAMS and "archive" not in name:
                    _collect_urls(param.value, in_ref, found)
        elif isinstance(node, nodes.Wikilink):
            if node.text is not None:
                _collect_urls(node.text, in_ref, found)
        elif isinstance(node, nodes.Heading):
            _collect_urls(node.title, in_ref, found)


def ref_urls(wikitext: str) -> list[str]:
    """External URLs cited in `<ref>` tags and in `{{cite ...|url=}}` templates; refs first, first occurrence kept."""
    import mwparserfromhell

    body, refs = split_refs(wikitext)
    return _ref_urls(mwparserfromhell.parse(body), refs)
