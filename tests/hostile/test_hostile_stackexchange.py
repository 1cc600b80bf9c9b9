"""StackExchange on hostile input: one capped run over many broken Posts.xml files beside a good
site, plus in-process bounds on one huge attribute and on scores."""
from __future__ import annotations

import io
import lzma
import time
from xml.sax.saxutils import quoteattr

import pytest

from corpus import stackexchange as se
from tests.hostile.harness import assert_completed, run_capped


def _row(**attrs) -> str:
    return "  <row " + " ".join(f"{k}={quoteattr(str(v))}" for k, v in attrs.items()) + " />\n"


def _q(pid: int, body: str = "<p>How do I brew it?</p>", score: object = 3) -> str:
    return _row(Id=pid, PostTypeId=1, Score=score, Title=f"Question {pid}?", Body=body,
                CreationDate="2020-01-01T00:00:00.000", Tags="<a>")


def _a(pid: int, parent: int, score: object, body: str = "<p>Use fresh beans.</p>") -> str:
    return _row(Id=pid, PostTypeId=2, ParentId=parent, Score=score, Body=body, CreationDate="2020-01-02T00:00:00.000")


def _posts(rows: list[str], head: str = "") -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + head + "<posts>\n" + "".join(rows) + "</posts>\n").encode()


def _site(root, name: str, data: bytes, file: str = "Posts.xml") -> None:
    folder = root / name
    folder.mkdir()
    (folder / file).write_bytes(data)


def _inputs(root) -> None:
    _site(root, "good.stackexchange.com", _posts([_q(1), _a(2, 1, 5), _a(3, 1, 10, "<p>Grind them.</p>")]))
    # one 64 MiB attribute in a small xz file, then a good question: skipped unread, the rest read
    huge = _posts(['  <row Id="1" PostTypeId="1" Score="1" Title="T" Body="' + "a" * (64 << 20) + '" />\n', _q(2)])
    _site(root, "huge.stackexchange.com", lzma.compress(huge, preset=0), "Posts.xml.xz")
    # scores that are not integers: counted, never a silent 0
    _site(root, "scores.stackexchange.com", _posts([_q(1), _a(2, 1, "abc"), _a(3, 1, "9" * 5000), _a(4, 1, "1_0"),
                                                    _a(5, 1, 7), _q(6, score="\u0661\u0662")]))
    # ids that are not integers
    _site(root, "ids.stackexchange.com", _posts([_row(Id="x", PostTypeId=1, Body="b"), _q(1)]))
    # entities (a billion-laughs seed) and an external entity: refused
    _site(root, "xxe.stackexchange.com", _posts([_q(1)], '<!DOCTYPE posts [<!ENTITY a "aaaaaaaaaa">'
                                                '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n').replace(
        b"How do I brew it?", b"&b;"))
    _site(root, "ext.stackexchange.com", _posts([_q(1)], '<!DOCTYPE posts [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
                                                ).replace(b"How do I brew it?", b"&x;"))
    # deeply nested HTML in a body: no recursion error
    _site(root, "deep.stackexchange.com", _posts([_q(1, body="<div>" * 100_000 + "deep text" + "</div>" * 100_000)]))
    # cut mid-row: the complete question before it is kept
    _site(root, "cut.stackexchange.com", _posts([_q(1), _q(2)])[:-60])


@pytest.mark.timeout(200)
def test_stackexchange_hostile_dumps_are_counted_and_good_threads_written(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    _inputs(root)
    outcome = run_capped("pipelines.stackexchange", ["--input", str(root), "--added", "2026-01-01", "--no_lid"],
                         output=tmp_path / "out", timeout_s=150, case="stackexchange: 8 hostile sites")
    assert_completed(outcome)
    errors = dict(outcome.errors)
    assert errors.pop("row_too_large") == 1
    assert errors.pop("bad_score") == 4           # "abc", 5,000 digits, "1_0", Arabic-Indic digits
    assert errors.pop("bad_row") == 1
    assert errors.pop("forbidden_xml") == 2
    assert sum(errors.values()) == 1 and set(errors) <= {"malformed_xml", "truncated_input"}, outcome.errors
    docs = outcome.documents()
    urls = sorted(d["metadata"]["url"] for d in docs)
    assert urls == sorted(["https://good.stackexchange.com/questions/1", "https://huge.stackexchange.com/questions/2",
                           "https://scores.stackexchange.com/questions/1", "https://ids.stackexchange.com/questions/1",
                           "https://deep.stackexchange.com/questions/1", "https://cut.stackexchange.com/questions/1"])
    good = next(d for d in docs if "good." in d["metadata"]["url"])
    assert good["text"].index("Grind them.") < good["text"].index("Use fresh beans.")  # 10 above 5
    scores = next(d for d in docs if "scores." in d["metadata"]["url"])
    assert "Use fresh beans." in scores["text"] and scores["text"].count("A: ") == 1  # only the answer scored 7
    assert outcome.peak_rss_mb < 1500, outcome.peak_rss_mb


@pytest.mark.timeout(30)
def test_one_huge_attribute_is_skipped_in_linear_time():
    data = _posts(['  <row Id="1" PostTypeId="1" Score="1" Body="' + "a" * (32 << 20) + '" />\n', _q(2)])
    start = time.monotonic()
    items = list(se.read_posts(io.BufferedReader(io.BytesIO(data)), "x.stackexchange.com/Posts.xml", 1 << 20))
    assert time.monotonic() - start < 5  # a 16 MB attribute alone took 24 s before
    assert [getattr(i, "reason", None) or i.id for i in items] == ["row_too_large", 2]
