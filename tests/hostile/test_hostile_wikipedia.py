"""Wikipedia on hostile input: one capped run over many broken or pathological dumps beside a good
one, plus in-process time bounds on the wikitext pathologies."""
from __future__ import annotations

import gzip
import io
import time

import pytest

from corpus import wikipedia_dump as dump
from corpus import wikitext
from tests.hostile.harness import assert_completed, run_capped

NS = "http://www.mediawiki.org/xml/export-0.10/"

EN = ("The river flows through the old town and past the cathedral, where merchants once sold wool, "
      "salt and wine. Today the market square is a quiet place with cafes, a small museum and a "
      "library that holds maps of the region from the eighteenth century.")
FR = ("La rivière traverse la vieille ville et passe devant la cathédrale, où les marchands vendaient "
      "autrefois de la laine, du sel et du vin. Aujourd'hui, la place du marché est un endroit calme "
      "avec des cafés, un petit musée et une bibliothèque qui conserve des cartes de la région.")
RU = ("Река протекает через старый город и мимо собора, где купцы когда-то продавали шерсть, соль и "
      "вино. Сегодня рыночная площадь стала тихим местом с кафе, небольшим музеем и библиотекой, в "
      "которой хранятся карты региона восемнадцатого века.")
ES = ("El río atraviesa el casco antiguo y pasa junto a la catedral, donde los comerciantes vendían "
      "lana, sal y vino. Hoy la plaza del mercado es un lugar tranquilo con cafés, un pequeño museo y "
      "una biblioteca que guarda mapas de la región del siglo dieciocho.")


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _page(title: str, pid: int, text: str, ns: str = "0") -> str:
    return (f"<page><title>{title}</title><ns>{ns}</ns><id>{pid}</id><revision><id>{pid * 10}</id>"
            f"<timestamp>2022-07-01T00:00:00Z</timestamp><text>{_esc(text)}</text></revision></page>\n")


def _dump(pages: list[str], dbname: str = "enwiki") -> str:
    return (f'<mediawiki xmlns="{NS}" version="0.10" xml:lang="en"><siteinfo><dbname>{dbname}</dbname>'
            f"<namespaces><namespace key=\"6\">File</namespace></namespaces></siteinfo>\n" + "".join(pages)
            + "</mediawiki>\n")


def _inputs(folder):
    files = {
        # a good dump: both articles written
        "enwiki-20220701-pages-articles1.xml": _dump([_page("Good one", 1, EN), _page("Good two", 2, EN + " Twice.")]),
        # pathological markup: each page must finish quickly and keep its text
        "enwiki-20220701-pages-articles2.xml": _dump([
            _page("Unclosed refs", 11, "Refs. " + EN + " <ref>citation text " * 20000),
            _page("Open refs", 12, EN + " " + "<ref" * 50000),
            _page("Open templates", 13, EN + " " + "{{a|" * 5000),
            _page("Open tags", 14, EN + " " + "<div>" * 5000 + "</div>"),
            _page("Open links", 15, EN + " " + "[http://x " * 5000 + "[[a|" * 5000),
            _page("Open args", 16, EN + " " + "{{{a|" * 5000),
        ]),
        # a 5,000-digit namespace, then a good page of the same dump
        "enwiki-20220701-pages-articles3.xml": _dump([_page("Big ns", 21, EN, ns="9" * 5000),
                                                      _page("After big ns", 22, EN + " After.")]),
        # cut mid-page: the complete page is kept
        "enwiki-20220701-pages-articles4.xml": _dump([_page("Before cut", 31, EN + " Cut."),
                                                      _page("Cut", 32, EN)])[:-200],
        # French, Russian and Spanish pages under an enwiki siteinfo: relabelled, kept
        "enwiki-20220701-pages-articles5.xml": _dump([_page("Rivière", 41, FR), _page("Река", 42, RU),
                                                      _page("Río", 43, ES)]),
        # an entity bomb: refused
        "enwiki-20220701-pages-articles6.xml": ('<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa">'
                                                '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
                                                f'<mediawiki xmlns="{NS}"><page><title>&b;</title></page></mediawiki>'),
        # 100,000 nested elements inside a page: no recursion anywhere
        "enwiki-20220701-pages-articles7.xml": _dump([_page("Nested", 51, EN + " Nested.").replace(
            "</revision>", "</revision>" + "<x>" * 100_000 + "</x>" * 100_000)]),
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    # 24 MB of wikitext in a small gzip: past --max_page_chars, dropped without being held
    with gzip.open(folder / "enwiki-20220701-pages-articles8.xml.gz", "wt", encoding="utf-8", compresslevel=1) as fh:
        fh.write(_dump([_page("Huge", 61, EN * 100_000), _page("After huge", 62, EN + " Huge after.")]))


@pytest.mark.timeout(280)
def test_wikipedia_hostile_dumps_are_counted_and_good_pages_written(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _inputs(folder)
    outcome = run_capped("pipelines.wikipedia", ["--input", str(folder), "--added", "2026-01-01"],
                         output=tmp_path / "out", timeout_s=240, case="wikipedia: 8 hostile dumps")
    assert_completed(outcome)
    assert outcome.errors == {"bad_namespace": 1, "truncated_input": 1, "malformed_xml": 1}, outcome.errors
    assert outcome.dropped == {"page_too_large": 1}, outcome.dropped
    assert outcome.info.get("relabelled_language:en_to_fr") == 1, outcome.info
    assert outcome.info.get("relabelled_language:en_to_ru") == 1, outcome.info
    assert outcome.info.get("relabelled_language:en_to_es") == 1, outcome.info
    docs = {d["metadata"]["title"]: d for d in outcome.documents()}
    assert set(docs) == {"Good one", "Good two", "Unclosed refs", "Open refs", "Open templates", "Open tags",
                         "Open links", "Open args", "After big ns", "Before cut", "Rivière", "Река", "Río",
                         "Nested", "After huge"}
    for title in ("Unclosed refs", "Open refs", "Open templates", "Open tags", "Open links", "Open args"):
        assert EN[:40] in docs[title]["text"], title
    assert docs["Rivière"]["metadata"]["language"] == "fr" and docs["Rivière"]["metadata"]["dump_language"] == "en"
    assert docs["Река"]["metadata"]["url"].startswith("https://ru.wikipedia.org/wiki/")
    assert docs["Good one"]["metadata"]["language"] == "en" and "dump_language" not in docs["Good one"]["metadata"]



_PATHOLOGIES = {
    "unclosed refs": "<ref>citation text " * 20000,
    "ref openers": "<ref" * 100_000,
    "ref openers, one > at the end": "<ref " * 100_000 + ">",
    "template openers": "{{a|" * 20000,
    "argument openers": "{{{a|" * 20000,
    "tag openers and one closer": "<div>" * 20000 + "</div>",
    "attribute tags": "<span class=a>" * 20000,
    "external links": "[http://x " * 20000,
    "wikilinks": "[[a|" * 20000,
    "nowiki openers": "<nowiki>" * 20000,
    "mixed": "{{a|[[b|<div>[http://x " * 5000 + "}}]]</div>]" * 3,
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(_PATHOLOGIES))
def test_wikitext_pathologies_are_linear(name):
    text = _PATHOLOGIES[name]
    start = time.monotonic()
    wikitext.clean(text)
    assert time.monotonic() - start < 5.0, name  # each took 20 s to minutes before (5,000 openers: 27 s)


@pytest.mark.timeout(20)
def test_reader_bounds_page_size_and_namespace():
    xml = _dump([_page("Huge", 1, "x" * 20000), _page("Bad ns", 2, "y", ns="1" * 5000),
                 _page("Unicode ns", 3, "z", ns="²"), _page("Fine", 4, "w", ns="-2")]).encode()
    items = list(dump.read_pages(io.BytesIO(xml), "enwiki-x.xml", max_page_chars=10000))
    assert [getattr(i, "reason", None) or i.title for i in items] == ["Huge", "bad_namespace", "bad_namespace", "Fine"]
    assert items[0].too_large and items[0].wikitext == "" and items[3].namespace == -2
