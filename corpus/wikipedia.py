"""Wikipedia `pages-articles` dumps -> plain-text article documents (LLaMA §2.1).

LLaMA: "We add Wikipedia dumps from the June-August 2022 period, covering 20 languages, which use
either the Latin or Cyrillic scripts [...]. We process the data to remove hyperlinks, comments and
other formatting boilerplate." This module is the pure part of that job, over two others:
`corpus.wikipedia_dump` (streaming the XML into `Page`s) and `corpus.wikitext` (markup removal).

- `read_documents(stream, path, added)`: the reader, one `Document` per page (text = the raw
  wikitext; the rules clean it) and the dump's input faults as `ReadError`s;
- rules, in recipe order: `keep_articles` (namespace 0, no redirect), `keep_languages`,
  `clean_article` (wikitext -> text + `ref_urls`), optionally language verification with
  `same_language` as the comparison, `min_chars`.
"""
from __future__ import annotations

import dataclasses
import re
import urllib.parse
from typing import Any, BinaryIO, Iterator, Union

from corpus import wikitext
from corpus.document import Document, make_id
from corpus.fileio import ReadError
from corpus.rules import Drop, Outcome
from corpus.wikipedia_dump import MAX_PAGE_CHARS, Page, read_pages

SOURCE = "wikipedia"

# LLaMA §2.1: the 20 Wikipedia languages that use the Latin or Cyrillic script.
LANGUAGES: tuple[str, ...] = (
    "bg", "ca", "cs", "da", "de", "en", "es", "fr", "hr", "hu",
    "it", "nl", "pl", "pt", "ro", "ru", "sl", "sr", "sv", "uk",
)

# Metadata keys that only steer the rules and are not written out.
_TRANSIENT = ("namespace", "redirect", "namespace_prefixes", "page_too_large")


def read_documents(stream: BinaryIO, path: str = "", added: str = "",
                   max_page_chars: int = MAX_PAGE_CHARS) -> Iterator[Union[Document, ReadError]]:
    """The `ReadFiles` reader: every page of one decompressed dump as a Document, then its faults
    (a page over `max_page_chars` comes without its text, and `keep_articles` drops it)."""
    for item in read_pages(stream, path, max_page_chars):
        yield item if isinstance(item, ReadError) else page_document(item, added)


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
    if page.too_large:
        metadata["page_too_large"] = True
    extra = [p for p in page.namespace_prefixes if p not in wikitext.HIDDEN_PREFIXES]
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
    """Pages the reader could hold (`page_too_large`), namespace 0 (articles) only, no redirects."""
    if doc.metadata.get("page_too_large"):
        return Drop("page_too_large")
    if doc.metadata.get("namespace", 0) != 0:
        return Drop("not_article_namespace")
    if doc.metadata.get("redirect") is not None or _REDIRECT_TEXT.match(doc.text):
        return Drop("redirect")
    return doc


# A redirect page whose <redirect/> element is missing (old dumps) still starts with #REDIRECT
# (or a localised form such as #WEITERLEITUNG, #ПЕРЕНАПРАВЛЕНИЕ): "#word [[".
_REDIRECT_TEXT = re.compile(r"\s*#[^\W\d_]+\s*:?\s*\[\[", re.UNICODE)


def keep_languages(doc: Document, languages: frozenset[str]) -> Outcome:
    """Keep pages of the given languages (from the dump's dbname)."""
    language = doc.metadata.get("language") or ""
    if not language:
        return Drop("unknown_language")
    if language not in languages:
        return Drop("language_not_kept")
    return doc


def clean_article(doc: Document) -> Outcome:
    """Wikitext -> plain text, with the cited URLs in `ref_urls`; transient metadata removed."""
    try:
        text, urls = wikitext.clean(doc.text, doc.metadata.get("namespace_prefixes", ()))
    except RecursionError:
        # Pathologically nested markup: one page, not the job, is lost (and counted).
        return Drop("markup_too_deep")
    if not text:
        return Drop("empty_after_cleaning")
    metadata = {k: v for k, v in doc.metadata.items() if k not in _TRANSIENT}
    metadata["ref_urls"] = urls
    return dataclasses.replace(doc, text=text, metadata=metadata)


# lid.176 does not reliably tell Serbo-Croatian's standard varieties apart: one group.
_LID_GROUPS = {"sr": "sh", "hr": "sh", "bs": "sh", "sh": "sh", "cnr": "sh"}


def same_language(predicted: str, expected: str) -> bool:
    """Whether fastText's language is the dump's, Serbo-Croatian's varieties counting as one
    (the comparison of `--verify_language`: a mismatch LID is sure of drops `language_mismatch`,
    e.g. the dbpedia "de" minidump, whose siteinfo claims enwiki)."""
    return _LID_GROUPS.get(predicted, predicted) == _LID_GROUPS.get(expected, expected)


def relabel(doc: Document, predicted: str, score: float, threshold: float,
            languages: frozenset[str]) -> Document:
    """The article moved to the language LID is sure of (>= `threshold`) when that is another of
    `languages` than its dump's: `language` and `url` follow, `dump_language` keeps the dump's
    claim. A mislabelled dump (the dbpedia minidumps: French, Russian, Spanish pages under an
    enwiki siteinfo) is thus written under its real language instead of as English."""
    current = doc.metadata.get("language") or ""
    if score < threshold or predicted not in languages or same_language(predicted, current):
        return doc
    title = str(doc.metadata.get("title", ""))
    return doc.with_metadata(language=predicted, url=article_url(predicted, title), dump_language=current)


def min_chars(doc: Document, n: int) -> Outcome:
    """Drop articles shorter than `n` characters after cleaning (0 keeps every non-empty one)."""
    return Drop("too_short") if len(doc.text) < n else doc
