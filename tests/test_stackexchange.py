"""StackExchange: reader (XML, 7z), HTML removal, answer order, site selection, pipeline ledger."""
from __future__ import annotations

import gzip
import io
from pathlib import Path
from xml.sax.saxutils import quoteattr


from corpus import stackexchange as se
from corpus.document import Document, make_id
from corpus.fileio import ReadError
from corpus.rules import Drop
from corpus.samples import require_samples
from corpus.docfiles import iter_directory


# --------------------------------------------------------------------------------------------
# fixtures written by the tests
# --------------------------------------------------------------------------------------------
def row(**attrs) -> str:
    return "  <row " + " ".join(f"{k}={quoteattr(str(v))}" for k, v in attrs.items()) + " />\n"


def posts_xml(rows: list[str], close: bool = True) -> bytes:
    text = '\ufeff<?xml version="1.0" encoding="utf-8"?>\n<posts>\n' + "".join(rows)
    if close:
        text += "</posts>\n"
    return text.encode("utf-8")


def question(pid: int, title: str = "Title?", body: str = "<p>Body</p>", score: int = 1, **extra) -> str:
    return row(Id=pid, PostTypeId=1, Score=score, Title=title, Body=body,
               CreationDate="2020-01-01T00:00:00.000", Tags="<a><b>", **extra)


def answer(pid: int, parent: int, body: str, score: int) -> str:
    return row(Id=pid, PostTypeId=2, ParentId=parent, Score=score, Body=body,
               CreationDate="2020-01-02T00:00:00.000")


def read(data: bytes, path: str = "x.stackexchange.com/Posts.xml") -> list:
    return list(se.read_posts(io.BufferedReader(io.BytesIO(data)), path))


# --------------------------------------------------------------------------------------------
# answer order
# --------------------------------------------------------------------------------------------
def test_answers_sorted_by_numeric_score_10_above_9():
    rows = [question(1), answer(2, 1, "<p>nine</p>", 9), answer(3, 1, "<p>ten</p>", 10),
            answer(4, 1, "<p>minus</p>", -1), answer(5, 1, "<p>two</p>", 2), answer(6, 1, "<p>nine again</p>", 9)]
    posts = [p for p in read(posts_xml(rows)) if isinstance(p, se.Post)]
    doc = se.thread_to_document(se.build_thread("k", posts))
    assert isinstance(doc, Document)
    assert doc.text.split("\n") == ["Q: Title? Body", "A: ten", "A: nine", "A: nine again", "A: two", "A: minus"]
    assert doc.metadata["answer_scores"] == [10, 9, 9, 2, -1]
    assert doc.metadata["answer_ids"] == [3, 2, 6, 5, 4]  # ties: older (smaller id) first
    assert doc.metadata["url"] == "https://x.stackexchange.com/questions/1"
    assert doc.metadata["tags"] == ["a", "b"]
    # RedPajama's string sort would have put "9" above "10":
    assert sorted(["9", "10"], reverse=True) == ["9", "10"]


def test_question_without_answers_kept_and_orphans_dropped():
    lonely = se.thread_to_document(se.build_thread("k", [se.Post("s.com", 1, 1, title="T", body="<p>b</p>")]))
    assert lonely.text == "Q: T b" and lonely.metadata["answer_count"] == 0
    assert se.complete_thread(lonely) is lonely and se.INCOMPLETE not in lonely.metadata
    orphan = se.thread_to_document(se.build_thread("k", [se.Post("s.com", 2, 2, parent_id=99, body="<p>a</p>", score=4),
                                                          se.Post("s.com", 3, 2, parent_id=99, body="<p>b</p>", score=7)]))
    # The rejected sample of an orphan thread: its answers, under the missing question's id and URL.
    assert orphan.text == "A: b\nA: a" and orphan.id == make_id("stackexchange", "s.com", "99")
    assert orphan.metadata["url"] == "https://s.com/questions/99" and orphan.metadata["answer_ids"] == [3, 2]
    assert se.complete_thread(orphan) == Drop("orphan_answers")
    empty = se.thread_to_document(se.build_thread("k", [se.Post("s.com", 3, 1)]))
    assert se.complete_thread(empty) == Drop("empty_question")


# --------------------------------------------------------------------------------------------
# HTML removal
# --------------------------------------------------------------------------------------------
def test_html_lists_code_links_entities():
    html = (
        "<p>Caf&eacute; &amp; tea &lt;b&gt; &#x263A; <a href='http://x'>the link</a> <em>now</em></p>\n\n"
        "<ol><li>first</li><li>second<ul><li>inner</li></ul></li></ol>\n"
        "<pre><code>for i in range(3):\n    print(i &lt; 2)   # spaces kept\n</code></pre>\n"
        "<p>Inline <code>a &amp;&amp; b</code> and<br>a break <img src='y.png' alt='enter image'>.</p>"
        "<script>alert(1)</script><!-- comment -->"
    )
    text = se.html_to_text(html)
    assert text == (
        "Café & tea <b> \u263a the link now\n\n"
        "* first\n* second\n  * inner\n\n"
        "for i in range(3):\n    print(i < 2)   # spaces kept\n\n"
        "Inline a && b and\na break ."
    )
    assert "<" not in se.html_to_text("<p>x</p><div><span>y</span></div>")
    assert se.html_to_text("") == "" and se.html_to_text("plain &amp; simple") == "plain & simple"


def test_html_from_xml_attribute_is_unescaped_once():
    # Posts.xml escapes the HTML once more (quoteattr here): XML unescapes it, HTML parsing
    # unescapes the HTML entities; an author's literal "&lt;" (HTML "&amp;lt;") stays "&lt;".
    data = posts_xml([question(1, body="<p>x &lt; y &amp; z, literally &amp;lt;</p>")])
    assert b"&amp;lt;" in data
    (post,) = read(data)
    assert se.html_to_text(post.body) == "x < y & z, literally &lt;"


# --------------------------------------------------------------------------------------------
# XML faults
# --------------------------------------------------------------------------------------------
def test_malformed_xml_keeps_earlier_posts_and_counts_one_error():
    data = posts_xml([question(1), answer(2, 1, "<p>a</p>", 1)], close=False) + b"  <row Id=\"3\" <<broken\n</posts>"
    out = read(data)
    assert [p.id for p in out if isinstance(p, se.Post)] == [1, 2]
    errors = [e for e in out if isinstance(e, ReadError)]
    assert len(errors) == 1 and errors[0].reason == "malformed_xml"


def test_truncated_xml_keeps_complete_rows():
    data = posts_xml([question(1), answer(2, 1, "<p>a</p>", 1), question(3)])
    cut = data[: data.index(b'Id="3"') + 12]
    out = read(cut)
    assert [p.id for p in out if isinstance(p, se.Post)] == [1, 2]
    assert [e.reason for e in out if isinstance(e, ReadError)] == ["malformed_xml"]


def test_entities_are_not_expanded():
    bomb = (b'<?xml version="1.0"?>\n<!DOCTYPE posts [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>\n'
            b'<posts><row Id="1" PostTypeId="1" Title="&b;" Body="x" /></posts>')
    out = read(bomb)
    assert not [p for p in out if isinstance(p, se.Post)]
    assert [e.reason for e in out] == ["forbidden_xml"]


def test_bad_row_counted_rest_kept():
    out = read(posts_xml([row(Id="x", PostTypeId=1), question(2)]))
    assert [type(o).__name__ for o in out] == ["ReadError", "Post"] and out[0].reason == "bad_row"


# --------------------------------------------------------------------------------------------
# 7z archives
# --------------------------------------------------------------------------------------------
def write_7z(path: Path, members: dict[str, bytes]) -> Path:
    import py7zr

    with py7zr.SevenZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writef(io.BytesIO(data), name)
    return path


def test_7z_archive_streamed(tmp_path):
    rows = [question(i) for i in range(1, 400)] + [answer(1000 + i, i, "<p>ans</p>", i % 7) for i in range(1, 400)]
    arc = write_7z(tmp_path / "bees.stackexchange.com.7z",
                   {"Posts.xml": posts_xml(rows), "Users.xml": b"<users/>"})
    with open(arc, "rb") as fh:
        out = list(se.read_posts(io.BufferedReader(fh), str(arc)))
    posts = [p for p in out if isinstance(p, se.Post)]
    assert len(posts) == 798 and not [e for e in out if isinstance(e, ReadError)]
    assert {p.site for p in posts} == {"bees.stackexchange.com"}


def test_7z_stopped_early_does_not_hang(tmp_path):
    rows = [question(i, body="<p>" + "word " * 200 + "</p>") for i in range(1, 3000)]
    arc = write_7z(tmp_path / "big.stackexchange.com.7z", {"Posts.xml": posts_xml(rows)})
    with open(arc, "rb") as fh:
        gen = se.read_posts(io.BufferedReader(fh), str(arc))
        first = next(gen)
        gen.close()
    assert first.id == 1


def test_corrupt_and_empty_7z_are_errors(tmp_path):
    arc = write_7z(tmp_path / "a.stackexchange.com.7z", {"Posts.xml": posts_xml([question(1)] * 50)})
    data = arc.read_bytes()
    broken = data[:40] + bytes(len(data) - 40)  # header kept, payload zeroed
    out = read(broken, "a.stackexchange.com.7z")
    assert [e.reason for e in out if isinstance(e, ReadError)] in (["corrupt_archive"], ["malformed_xml"])
    no_posts = write_7z(tmp_path / "b.stackexchange.com.7z", {"Users.xml": b"<users/>"})
    out = read(no_posts.read_bytes(), str(no_posts))
    assert [e.reason for e in out] == ["corrupt_archive"]


def test_site_names():
    assert se.site_name("/d/coffee.stackexchange.com/Posts.xml") == "coffee.stackexchange.com"
    assert se.site_name("gs://b/dump/coffee.stackexchange.com.7z") == "coffee.stackexchange.com"
    assert se.site_name("/d/stackoverflow.com-Posts.7z") == "stackoverflow.com"
    assert se.is_input("/d/x/Posts.xml") and se.is_input("/d/x.7z") and not se.is_input("/d/x/Users.xml")
    assert se.is_input("/d/stackoverflow.com-Posts.7z") and not se.is_input("/d/stackoverflow.com-Users.7z")
    assert not se.is_input("/d/stackoverflow.com-PostHistory.7z") and se.is_input("/d/x/Posts.xml.gz")
    assert se.site_language("es.stackoverflow.com") == "es" and se.site_language("stackoverflow.com") == "en"


# --------------------------------------------------------------------------------------------
# site selection
# --------------------------------------------------------------------------------------------
def test_top_sites_by_post_count_ties_by_name():
    counts = [("b.com", 5), ("a.com", 5), ("c.com", 9), ("d.com", 1)]
    assert se.top_sites(counts, 2) == ["c.com", "a.com"]
    assert se.top_sites(counts, 0) == ["c.com", "a.com", "b.com", "d.com"]


def _run(tmp_path: Path, inputs: list[str], *extra: str, out: str = "out"):
    from pipelines import stackexchange

    output = tmp_path / out
    ledger = stackexchange.main(["--input", *inputs, "--output", str(output), "--added", "2026-01-01", *extra])
    return ledger, [doc.to_record() for doc in iter_directory(str(output))]


def test_pipeline_site_selection_orphans_and_7z(tmp_path):
    big = tmp_path / "in" / "big.stackexchange.com"
    big.mkdir(parents=True)
    (big / "Posts.xml").write_bytes(posts_xml(
        [question(1), answer(2, 1, "<p>low</p>", 9), answer(3, 1, "<p>high</p>", 10),
         question(4), answer(5, 77, "<p>orphan</p>", 3), row(Id=6, PostTypeId=5, Body="tag wiki")]))
    (big / "Users.xml").write_bytes(b"<users/>")
    write_7z(tmp_path / "in" / "small.stackexchange.com.7z", {"Posts.xml": posts_xml([question(1), answer(2, 1, "x", 1)])})
    ledger, docs = _run(tmp_path, [str(tmp_path / "in")], "--top_sites", "1", "--no_lid")
    assert ledger.info == {"files_read": 2, "files_ignored": 1, "posts_read": 8, "posts_other_type": 1,
                           "sites_selected": 1, "sites_not_selected": 1, "posts_site_not_selected": 2,
                           "orphan_answer_posts": 1}
    assert ledger.documents_in == 3 and ledger.documents_written == 2
    assert ledger.dropped == {"orphan_answers": 1} and ledger.balanced
    by_q = {d["metadata"]["question_id"]: d for d in docs}
    assert by_q[1]["text"] == "Q: Title? Body\nA: high\nA: low"
    assert by_q[4]["metadata"]["answer_count"] == 0
    assert {d["metadata"]["language_source"] for d in docs} == {"site"}  # --no_lid
    (orphan,) = [Document.from_json(line).to_record()
                 for line in gzip.open(tmp_path / "out" / "rejected" / "orphan_answers.jsonl.gz")]
    assert orphan["text"] == "A: orphan" and orphan["metadata"]["question_id"] == 77

    ledger, docs = _run(tmp_path, [str(tmp_path / "in")], "--sites", "small.stackexchange.com", out="out2")
    assert ledger.documents_written == 1 and docs[0]["metadata"]["site"] == "small.stackexchange.com"
    assert ledger.info["sites_selected"] == 1 and ledger.info["posts_site_not_selected"] == 6


def test_no_lid_model_keeps_the_site_flag(tmp_path):
    site = tmp_path / "in" / "es.stackoverflow.com"
    site.mkdir(parents=True)
    (site / "Posts.xml").write_bytes(posts_xml([question(1, title="¿Cómo?", body="<p>Una pregunta</p>")]))
    ledger, docs = _run(tmp_path, [str(tmp_path / "in")], "--lid_model", str(tmp_path / "missing.ftz"))
    assert ledger.documents_written == 1
    assert docs[0]["metadata"]["language"] == "es" and docs[0]["metadata"]["language_source"] == "site"
    assert "language_score" not in docs[0]["metadata"]
    assert "no LID model" in ledger.options["language_source"]


def test_real_samples_accounting(tmp_path):
    root = require_samples("stackexchange")
    ledger, docs = _run(tmp_path, [str(root)])
    assert ledger.balanced
    assert ledger.documents_in == ledger.documents_written == len(docs) == 279  # one per thread
    assert ledger.info["posts_read"] == 769 and ledger.info["sites_selected"] == 2
    assert not ledger.errors and not ledger.dropped
    sites = {d["metadata"]["site"] for d in docs}
    assert sites <= {"coffee.stackexchange.com", "conlang.stackexchange.com"}
    lid_source = "site" if "language_source" in ledger.options else "fasttext:lid.176"  # no model: site flag
    for d in docs:
        assert d["text"].startswith("Q: ") and "<p>" not in d["text"]
        scores = d["metadata"]["answer_scores"]
        assert scores == sorted(scores, reverse=True)
        assert d["metadata"]["language_source"] == lid_source


def test_scores_that_are_not_integers_are_counted_not_zero():
    items = read(posts_xml([question(1), answer(2, 1, "<p>x</p>", "abc"), answer(3, 1, "<p>y</p>", "9" * 5000),
                            answer(4, 1, "<p>z</p>", -4), row(Id=5, PostTypeId=2, ParentId=1, Body="<p>w</p>")]))
    assert [getattr(i, "reason", None) or (i.id, i.score) for i in items] == [(1, 1), "bad_score", "bad_score",
                                                                                (4, -4), (5, 0)]


def test_site_of_a_compressed_posts_file_is_its_folder():
    assert se.site_name("/d/coffee.stackexchange.com/Posts.xml.xz") == "coffee.stackexchange.com"
