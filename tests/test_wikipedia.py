"""Wikipedia: dump reading (streaming, truncation, UTF-16, broken XML), markup removal, ref URLs,
steps (language verification included), and the pipeline's accounting on hand-written dumps and
on the real samples."""
from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
from pathlib import Path

import pytest

from corpus import lid, wikitext
from corpus import wikipedia as wp
from corpus import wikipedia_dump as dump
from corpus.docfiles import iter_directory
from corpus.document import make_id
from corpus.fileio import ReadError, guarded, open_decompressed
from corpus.rules import Drop
from corpus.samples import require_samples
from corpus.step import run_steps
from corpus.steps.lid import LanguageId, LidParams
from corpus.steps.wikipedia import Articles, KeepLanguages, MinChars, RemoveMarkup, WikipediaParams

NS = "http://www.mediawiki.org/xml/export-0.10/"


def page_xml(title: str, pid: int, text: str, ns: int = 0, redirect: str | None = None,
             timestamp: str = "2022-07-01T00:00:00Z") -> str:
    esc = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    red = f'<redirect title="{redirect}" />' if redirect is not None else ""
    return (f"<page><title>{title}</title><ns>{ns}</ns><id>{pid}</id>{red}<revision><id>{pid * 10}</id>"
            f"<timestamp>{timestamp}</timestamp><model>wikitext</model><format>text/x-wiki</format>"
            f'<text bytes="{len(text)}" xml:space="preserve">{esc}</text></revision></page>\n')


def dump_xml(pages: list[str], dbname: str = "enwiki", declaration: str = "",
             file_ns: str = "File", category_ns: str = "Category") -> str:
    return (f'{declaration}<mediawiki xmlns="{NS}" version="0.10" xml:lang="en">\n'
            f"<siteinfo><sitename>Wikipedia</sitename><dbname>{dbname}</dbname>"
            f"<base>https://x.wikipedia.org/wiki/Main</base><namespaces>"
            f'<namespace key="0" case="first-letter" /><namespace key="6" case="first-letter">{file_ns}</namespace>'
            f'<namespace key="14" case="first-letter">{category_ns}</namespace></namespaces></siteinfo>\n'
            + "".join(pages) + "</mediawiki>\n")


ARTICLE = ("'''Alpha''' is a [[Greek alphabet|letter]] of the [[alphabet]].<ref>{{cite web|url=https://example.org/a|"
           "title=A}}</ref> It comes first.\n\n== History ==\nIt is old.<!-- hidden -->\n")
PAGES = [
    page_xml("Alpha", 1, ARTICLE),
    page_xml("Beta", 2, "Beta is the second letter of the Greek alphabet, after alpha."),
    page_xml("Alpha letter", 3, "#REDIRECT [[Alpha]]", redirect="Alpha"),
    page_xml("Talk:Alpha", 4, "Discussion about alpha.", ns=1),
    page_xml("Empty", 5, "{{Infobox thing|name=x}}\n[[Category:Things]]\n"),
]


def read(data: bytes, path: str = "enwiki-20220701-pages-articles.xml") -> list:
    return list(guarded(dump.read_pages(open_decompressed(io.BytesIO(data)), path), path))


def run_rules(doc, languages=wp.LANGUAGES, min_chars=0):
    """The pipeline's steps, in its order, without LID."""
    params = WikipediaParams(languages=tuple(languages), min_chars=min_chars)
    outcome, _, _ = run_steps([Articles(), KeepLanguages(params), RemoveMarkup(), MinChars(params)], doc)
    return outcome


def to_text(wikitext_: str) -> str:
    return wikitext.clean(wikitext_)[0]


# ---------------------------------------------------------------------------------------------
# Markup removal
# ---------------------------------------------------------------------------------------------
def test_links_become_their_text():
    assert to_text("A [[Paris|capital]] and [[London]] and [[Rome#History]].") == \
        "A capital and London and Rome."


def test_templates_tables_refs_comments_removed():
    text = to_text(
        "{{Infobox country|name=X|capital=[[Y]]}}\n"
        "X is a country.<ref name=a>Some book, p. 3.</ref><ref name=a/> It is small.<!-- TODO: check -->\n"
        "{| class=\"wikitable\"\n|-\n! Year !! Value\n|-\n| 2000 || 5\n|}\n"
        "<math>x^2</math>Done {{citation needed|date=2020}}.\n"
    )
    assert text == "X is a country. It is small.\nDone."


def test_file_category_interlanguage_links_removed():
    text = to_text(
        "[[File:Map.png|thumb|A map of [[Europe]]]]Text here.\n[[Image:Old.jpg]]\n"
        "[[Category:Countries]]\n[[de:Land]] [[fr:Pays]]\nSee [[:Category:Lists|the lists]]."
    )
    assert text == "Text here.\nSee the lists."


def test_localised_namespaces_removed():
    text = to_text("[[Datei:Berlin.jpg|mini|Berlin]]Berlin ist eine Stadt.[[Kategorie:Stadt]]")
    assert text == "Berlin ist eine Stadt."
    uk = to_text("[[Файл:Київ.jpg|міні|Київ]]Київ — столиця.[[Категорія:Міста]]")
    assert uk == "Київ — столиця."


def test_hyperlinks_and_formatting_removed():
    text = to_text(
        "'''Bold''' and ''italic'' [http://example.com label] and bare https://example.com/x here.\n"
        "* first item\n# second item\n__NOTOC__\nA&nbsp;B &amp; C"
    )
    assert text == "Bold and italic label and bare here.\nfirst item\nsecond item\nA B & C"


def test_headings_kept_only_above_content():
    text = to_text(
        "Intro.\n== History ==\n=== Early ===\nOld times.\n== See also ==\n== References ==\n{{reflist}}\n"
        "== External links ==\n* [http://x.org Site]\n"
    )
    # "See also"/"References" end up empty; "External links" keeps the bracketed label.
    assert text == "Intro.\nHistory\nEarly\nOld times.\nExternal links\nSite"


def test_pathological_nesting_is_a_drop_not_a_crash(monkeypatch):
    doc = wp.page_document(read(dump_xml(PAGES[:1]).encode())[0])

    def explode(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(wikitext, "_render", explode)
    assert wp.clean_article(doc) == Drop("markup_too_deep")
    deep = "[[a|" * 300 + "x" + "]]" * 300  # really nested: parses and renders without crashing
    monkeypatch.undo()
    assert isinstance(to_text(deep), str)


def test_template_leftovers_tidied():
    assert to_text("Asphalt ({{IPAc-en|x}}, also {{IPAc-en|y}}) is black {{cn}}.") == \
        "Asphalt (also) is black."
    assert to_text("Ayn Rand (born Alisa Rosenbaum, {{OldStyleDate|x}}; – March 6, 1982)") == \
        "Ayn Rand (born Alisa Rosenbaum; – March 6, 1982)"


# ---------------------------------------------------------------------------------------------
# Cited URLs
# ---------------------------------------------------------------------------------------------
def test_ref_urls_from_refs_and_cite_templates():
    urls = wikitext.clean(
        "A.<ref>{{cite web |url=https://news.example/1 |archive-url=https://web.archive.org/x |title=T}}</ref>"
        "B.<ref>[http://plain.example/2 Plain] and http://bare.example/3</ref>"
        "C.<ref name=dup>{{Cite news|url=https://news.example/1}}</ref>"
        "D [http://not-a-ref.example/ outside].\n"
        "== Further reading ==\n* {{cite book|title=B|url=//books.example/4}}\n"
        "E.<ref>{{Internetquelle |url=https://de.example/5 <!-- c --> |titel=X}}</ref>"
    )[1]
    # <ref>s first (in page order), then citation templates outside them.
    assert urls == ["https://news.example/1", "http://plain.example/2", "http://bare.example/3",
                    "https://de.example/5", "https://books.example/4"]


def test_split_refs():
    body, refs = wikitext.split_refs('A<ref name="a/b">one</ref> B<ref name=x /> C<REF>two\nlines</REF><!-- <ref>no</ref> -->.')
    assert body == "A B C." and refs == ["one", "two\nlines"]


def test_markup_left_as_text_is_removed():
    # Constructs the parser cannot close come back as text: tags, flat templates, image lines.
    text = to_text(
        "Intro.\n[[File:X.svg|thumb|A caption that\nruns over lines]]\n<blockquote>Quoted {{lang|fr|text}}</blockquote>\n"
        "| align=center | cell\n! header\nEnd."
    )
    assert "File:" not in text and "<" not in text and "{{" not in text
    assert text.startswith("Intro.") and text.endswith("End.")


def test_other_editions_namespaces_removed_even_when_mislabelled():
    # The dbpedia "de" minidump claims enwiki: its German [[Datei:...]] must still go.
    assert to_text("[[Datei:B.jpg|mini|Bild]]Text.") == "Text."


# ---------------------------------------------------------------------------------------------
# Reading dumps
# ---------------------------------------------------------------------------------------------
def test_language_of_dbname():
    assert dump.language_of_dbname("ukwiki") == "uk"
    assert dump.language_of_dbname("enwiki") == "en"
    assert dump.language_of_dbname("be_x_oldwiki") == "be-x-old"
    assert dump.language_of_dbname("enwiktionary") is None
    assert dump.language_of_dbname("wiki") is None


def test_read_pages_metadata_and_rules():
    items = read(bz2.compress(dump_xml(PAGES).encode("utf-8")))
    assert [type(i).__name__ for i in items] == ["Page"] * 5
    docs = [wp.page_document(p, "2026-01-01") for p in items]
    alpha = docs[0]
    assert alpha.id == make_id("wikipedia", "enwiki", "1")
    assert alpha.metadata["url"] == "https://en.wikipedia.org/wiki/Alpha"
    assert alpha.metadata["language"] == "en" and alpha.metadata["dbname"] == "enwiki"
    assert alpha.metadata["timestamp"] == "2022-07-01T00:00:00Z"
    assert alpha.metadata["dump_date"] == "20220701"
    outcomes = [run_rules(d) for d in docs]
    assert outcomes[0].text == "Alpha is a letter of the alphabet. It comes first.\nHistory\nIt is old."
    assert outcomes[0].metadata["ref_urls"] == ["https://example.org/a"]
    assert "redirect" not in outcomes[0].metadata and "namespace" not in outcomes[0].metadata
    assert outcomes[2] == Drop("redirect")
    assert outcomes[3] == Drop("not_article_namespace")
    assert outcomes[4] == Drop("empty_after_cleaning")
    assert run_rules(docs[1], min_chars=100) == Drop("too_short")


def test_language_filter_from_dbname():
    items = read(dump_xml(PAGES[:1], dbname="jawiki").encode("utf-8"))
    doc = wp.page_document(items[0])
    assert doc.metadata["language"] == "ja"
    assert run_rules(doc) == Drop("language_not_kept")
    assert not isinstance(run_rules(doc, languages=["ja"]), Drop)
    uk = wp.page_document(read(dump_xml([page_xml("Київ", 7, "Київ — столиця України.")], "ukwiki").encode())[0])
    assert uk.metadata["url"] == "https://uk.wikipedia.org/wiki/%D0%9A%D0%B8%D1%97%D0%B2"
    assert run_rules(uk, languages=["uk"]).text == "Київ — столиця України."


def test_other_wiki_uses_its_siteinfo_namespace_names():
    text = "[[ファイル:X.jpg|thumb|説明]]東京は日本の首都である。[[カテゴリ:都市]]"
    items = read(dump_xml([page_xml("東京", 8, text)], "jawiki", file_ns="ファイル", category_ns="カテゴリ").encode())
    assert run_rules(wp.page_document(items[0]), languages=["ja"]).text == "東京は日本の首都である。"


def test_redirect_by_text_only():
    doc = wp.page_document(read(dump_xml([page_xml("Haus", 3, "#WEITERLEITUNG [[Gebäude]]")], "dewiki").encode())[0])
    assert run_rules(doc) == Drop("redirect")
    listed = wp.page_document(read(dump_xml([page_xml("Top", 4, "#1 [[Song]] of the year.")]).encode())[0])
    assert not isinstance(run_rules(listed), Drop)


class FakeIdentifier:
    """Stands in for lid.176: every text is `language` with `score`."""

    def __init__(self, language: str, score: float):
        self.prediction = lid.Prediction(language, score)

    def predict(self, text: str) -> lid.Prediction:
        return self.prediction


def verify_step(monkeypatch, language: str, score: float, threshold: float = 0.5) -> LanguageId:
    monkeypatch.setattr(lid.LanguageIdentifier, "load", classmethod(lambda cls, path=None: FakeIdentifier(language, score)))
    step = LanguageId(LidParams(lang_threshold=threshold), mode="verify", same=wp.same_language)
    step.setup()
    return step


def test_verify_language(monkeypatch):
    doc = wp.page_document(read(dump_xml(PAGES[1:2]).encode())[0])
    assert verify_step(monkeypatch, "de", 0.9)(doc) == Drop("language_mismatch")
    assert verify_step(monkeypatch, "de", 0.5)(doc) == Drop("language_mismatch")  # >= threshold
    assert verify_step(monkeypatch, "de", 0.49)(doc) is doc  # not sure enough
    assert verify_step(monkeypatch, "de", 0.9, threshold=0.95)(doc) is doc  # --lang_threshold
    assert verify_step(monkeypatch, "en", 0.9)(doc) is doc
    sr = doc.with_metadata(language="sr")
    assert verify_step(monkeypatch, "hr", 0.95)(sr) is sr  # one Serbo-Croatian group
    assert verify_step(monkeypatch, "ru", 0.95)(sr) == Drop("language_mismatch")


def test_same_language_groups_serbo_croatian():
    assert wp.same_language("hr", "sr") and wp.same_language("bs", "sh") and wp.same_language("en", "en")
    assert not wp.same_language("de", "en") and not wp.same_language("sr", "ru")


def test_truncated_dump_keeps_complete_pages():
    data = dump_xml(PAGES).encode("utf-8")
    cut = data[: data.index(b"<page><title>Talk:Alpha") + 40]  # ends inside the 4th page
    for blob in (cut, lzma.compress(cut), gzip.compress(cut, mtime=0)):
        items = read(blob)
        assert [p.title for p in items[:-1]] == ["Alpha", "Beta", "Alpha letter"]
        assert isinstance(items[-1], ReadError) and items[-1].reason == "truncated_input"


def test_truncated_compression_is_an_error_not_a_crash():
    data = bz2.compress(dump_xml(PAGES * 20).encode("utf-8"))
    items = read(data[: len(data) // 2])
    assert isinstance(items[-1], ReadError) and items[-1].reason == "truncated_input"


@pytest.mark.parametrize("encoding,declaration", [
    ("utf-16", '<?xml version="1.0" encoding="UTF-16"?>'),  # with BOM
    ("utf-16-le", '<?xml version="1.0" encoding="UTF-16"?>'),  # no BOM: declaration + byte pattern
    ("utf-16-be", '<?xml version="1.0" encoding="UTF-16"?>'),
    ("utf-16", ""),  # BOM only
])
def test_utf16_dump(encoding, declaration):
    xml = dump_xml([page_xml("Юникод", 9, "Юникод е стандарт за кодиране на символи.")], "bgwiki", declaration)
    items = read(bz2.compress(xml.encode(encoding)))
    assert len(items) == 1 and items[0].title == "Юникод" and items[0].language == "bg"
    assert run_rules(wp.page_document(items[0])).text == "Юникод е стандарт за кодиране на символи."


def test_malformed_xml_is_an_error():
    good = dump_xml(PAGES[:2]).encode("utf-8")
    broken = good.replace(b"<ns>0</ns><id>2</id>", b"<ns>0</nsx><id>2</id>")
    items = read(broken)
    assert [p.title for p in items[:-1]] == ["Alpha"]
    assert items[-1].reason == "malformed_xml"
    assert read(b"this is not xml at all")[-1].reason == "malformed_xml"
    assert read(b"")[-1].reason in ("malformed_xml", "truncated_input")


def test_entity_expansion_refused():
    bomb = (b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            b'<mediawiki><page><title>&b;</title><ns>0</ns><id>1</id></page></mediawiki>')
    items = read(bomb)
    assert isinstance(items[-1], ReadError) and items[-1].reason == "malformed_xml"


def test_no_siteinfo_falls_back_to_file_name_then_xml_lang():
    xml = f'<mediawiki xmlns="{NS}" xml:lang="de">' + page_xml("Haus", 3, "Ein Haus.") + "</mediawiki>"
    assert read(xml.encode(), "dewiki-20220801-pages-articles.xml")[0].dbname == "dewiki"
    assert read(xml.encode(), "some-dump.xml")[0].language == "de"
    no_dbname = dump_xml([page_xml("Casa", 4, "Una casa.")], dbname="").replace('xml:lang="en"', 'xml:lang="es"')
    assert read(no_dbname.encode(), "some-dump.xml")[0].language == "es"


def test_reads_as_a_stream():
    """The first page comes out after reading a small prefix of the dump, not the whole file."""
    xml = dump_xml([page_xml(f"P{i}", i, f"Text number {i}. " * 20) for i in range(1, 2001)]).encode()
    raw = io.BytesIO(xml)
    gen = dump.read_pages(raw, "x.xml")
    first = next(gen)
    assert first.title == "P1" and raw.tell() < len(xml) // 10
    assert len(list(gen)) == 1999


# ---------------------------------------------------------------------------------------------
# The Beam pipeline
# ---------------------------------------------------------------------------------------------
def _run_pipeline(inputs: list[str], output: Path, *extra: str):
    from pipelines import wikipedia as pipeline

    return pipeline.main(["--input", *inputs, "--output", str(output), "--added", "2026-01-01", *extra])


def _read_output(output: Path) -> list[dict]:
    return [doc.to_record() for doc in iter_directory(str(output))]


def test_pipeline_accounting_on_fixtures(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "enwiki-20220701-pages-articles.xml.bz2").write_bytes(bz2.compress(dump_xml(PAGES).encode()))
    cut = dump_xml(PAGES, "ukwiki").encode()
    (inputs / "ukwiki-20220701-pages-articles.xml.xz").write_bytes(lzma.compress(cut[: cut.index(b"Talk:Alpha")]))
    (inputs / "jawiki-20220701-pages-articles.xml").write_bytes(dump_xml(PAGES[:2], "jawiki").encode("utf-16"))
    (inputs / "README.txt").write_text("not a dump")
    ledger = _run_pipeline([str(inputs)], tmp_path / "out", "--min_chars", "10")
    assert ledger.balanced
    assert ledger.documents_in == 5 + 3 + 2
    assert ledger.dropped == {"redirect": 2, "not_article_namespace": 1, "empty_after_cleaning": 1,
                              "language_not_kept": 2}
    assert ledger.errors == {"truncated_input": 1}
    docs = _read_output(tmp_path / "out")
    assert len(docs) == ledger.documents_written == 4
    # The "ukwiki" fixture holds English text: LID moves its two articles to English.
    assert {d["metadata"]["language"] for d in docs} == {"en"}
    moved = [d for d in docs if d["metadata"].get("dump_language") == "uk"]
    assert len(moved) == 2 and all(d["metadata"]["url"].startswith("https://en.wikipedia.org/") for d in moved)
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["balanced"] is True and stats["info"] == {"files_read": 3, "files_ignored": 1,
                                                           "relabelled_language:uk_to_en": 2}
    # A sample of each drop, as the dropping step saw it: the redirect still has its wikitext.
    rejected = tmp_path / "out" / "rejected"
    assert sorted(p.name for p in rejected.iterdir()) == sorted(f"{r}.jsonl.gz" for r in ledger.dropped)
    redirects = [json.loads(line) for line in gzip.open(rejected / "redirect.jsonl.gz")]
    assert len(redirects) == 2 and all(r["text"] == "#REDIRECT [[Alpha]]" for r in redirects)
    # Determinism: a rerun writes the same bytes.
    shard = Path("documents") / "documents-00000-of-00001.jsonl.gz"
    _run_pipeline([str(inputs)], tmp_path / "out2", "--min_chars", "10")
    assert (tmp_path / "out2" / shard).read_bytes() == (tmp_path / "out" / shard).read_bytes()


def test_read_documents_and_dump_names():
    data = dump_xml(PAGES[:2]).encode()
    cut = data[: data.index(b"<page><title>Beta") + 30]
    items = list(wp.read_documents(io.BytesIO(cut), "enwiki-20220701-pages-articles.xml", added="2026-01-01"))
    assert [type(i).__name__ for i in items] == ["Document", "ReadError"]
    assert items[0].added == "2026-01-01" and items[0].metadata["namespace"] == 0
    assert items[1].reason == "truncated_input"
    assert dump.is_dump("x/enwiki-latest-pages-articles1.xml-p10p30302.bz2") and dump.is_dump("wiki.xml.bz2")
    assert not dump.is_dump("enwiki-pages-articles.xml.bz2.md5") and not dump.is_dump("README.txt")


def test_pipeline_help(capsys):
    from pipelines import wikipedia as pipeline

    with pytest.raises(SystemExit) as exc:
        pipeline.main(["--help"])
    assert exc.value.code == 0
    shown = capsys.readouterr().out
    for flag in ("--languages", "--verify_language", "--min_chars", "--lid_model", "--lang_threshold"):
        assert flag in shown
    assert "--lid_threshold" not in shown


# ---------------------------------------------------------------------------------------------
# Real samples (skipped when absent)
# ---------------------------------------------------------------------------------------------
def test_sample_ukwiki_truncated_reader():
    folder = require_samples("wikipedia")
    path = next(folder.glob("ukwiki*"), None)
    if path is None:
        pytest.skip("no ukwiki sample")
    with open(path, "rb") as raw:
        items = list(guarded(dump.read_pages(open_decompressed(raw), str(path)), str(path)))
    pages, errors = items[:-1], items[-1]
    assert isinstance(errors, ReadError) and errors.reason == "truncated_input"
    assert len(pages) > 500 and all(p.language == "uk" for p in pages)


def test_sample_dbpedia_minidump_pipeline(tmp_path):
    folder = require_samples("wikipedia")
    path = folder / "dbpedia-minidumps" / "de" / "wiki.xml.bz2"
    if not path.exists():
        pytest.skip("no dbpedia minidump")
    ledger = _run_pipeline([str(path)], tmp_path / "out")
    assert ledger.balanced and ledger.documents_written >= 1
    docs = _read_output(tmp_path / "out")
    # Its siteinfo says enwiki although the articles are German: we follow the dump's dbname.
    assert {d["metadata"]["dbname"] for d in docs} == {"enwiki"}
    assert all("[[" not in d["text"] and "{{" not in d["text"] for d in docs)
    assert sum(len(d["metadata"]["ref_urls"]) for d in docs) > 10


def test_sample_dbpedia_minidump_verify_language(tmp_path):
    folder = require_samples("wikipedia")
    path = folder / "dbpedia-minidumps" / "de" / "wiki.xml.bz2"
    try:
        from corpus.lid import default_model_path

        if not Path(default_model_path()).exists():
            raise FileNotFoundError
    except (ImportError, FileNotFoundError):
        pytest.skip("no LID model")
    if not path.exists():
        pytest.skip("no dbpedia minidump")
    # German text in a dump labelled enwiki: without relabelling, verification drops it ...
    ledger = _run_pipeline([str(path)], tmp_path / "out", "--verify_language", "--no-relabel_language")
    assert ledger.balanced
    assert ledger.dropped == {"language_mismatch": 2}
    # ... with it (the default) the articles are kept as German, under de.wikipedia.org.
    ledger = _run_pipeline([str(path)], tmp_path / "out2", "--verify_language")
    assert ledger.balanced and not ledger.dropped and ledger.info.get("relabelled_language:en_to_de") == 2
    docs = _read_output(tmp_path / "out2")
    assert {d["metadata"]["language"] for d in docs} == {"de"}
    assert all(d["metadata"]["url"].startswith("https://de.wikipedia.org/wiki/") for d in docs)


@pytest.mark.slow
def test_sample_all_dumps_pipeline(tmp_path):
    folder = require_samples("wikipedia")
    ledger = _run_pipeline([str(folder)], tmp_path / "out")
    assert ledger.balanced
    assert ledger.errors.get("truncated_input") == 1
    assert ledger.dropped.get("redirect", 0) > 50
    docs = _read_output(tmp_path / "out")
    assert len(docs) == ledger.documents_written > 500
    assert {d["metadata"]["language"] for d in docs} >= {"en", "uk"}
    leftovers = sum(d["text"].count("{{") + d["text"].count("[[") for d in docs)
    assert leftovers < len(docs)  # at most stray braces from broken markup


def test_relabel_moves_confident_predictions_to_another_kept_language():
    doc = wp.page_document(dump.Page("Rivière", 0, "7", None, "70", "", "texte", "enwiki", "en"))
    langs = frozenset(wp.LANGUAGES)
    moved = wp.relabel(doc, "fr", 0.97, 0.9, langs)
    assert moved.metadata["language"] == "fr" and moved.metadata["dump_language"] == "en"
    assert moved.metadata["url"] == "https://fr.wikipedia.org/wiki/Rivi%C3%A8re" and moved.id == doc.id
    assert wp.relabel(doc, "fr", 0.89, 0.9, langs) is doc          # not sure enough
    assert wp.relabel(doc, "ja", 0.99, 0.9, langs) is doc          # not one of the kept languages
    sr = wp.page_document(dump.Page("X", 0, "8", None, "80", "", "t", "srwiki", "sr"))
    assert wp.relabel(sr, "hr", 0.99, 0.9, langs) is sr            # Serbo-Croatian varieties are one


def test_defuse_leaves_ordinary_markup_alone_and_removes_floods():
    normal = "A [[b|c]] {{d|e}} [http://x y] <div>z</div> and one stray [ and {{ and <span>."
    assert wikitext.defuse_unbalanced(normal) == (normal, 0)
    flood, removed = wikitext.defuse_unbalanced("text " + "{{a|" * 50 + "[[b|" * 50 + "<div>" * 50)
    assert removed == 50 + 50 + 50 and "{" not in flood and "[" not in flood and "<div>" not in flood
    body, refs = wikitext.split_refs("a<ref>one</ref>b<ref name=x/>c<ref>never closed d<references/>")
    assert body == "abcnever closed d<references/>" and refs == ["one"]
