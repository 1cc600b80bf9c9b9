"""C4 (TFDS rules): each rule on hand-written cases, the readers, the real samples, the pipeline."""
from __future__ import annotations

import collections
import gzip
import io
import itertools
import json
import random
from pathlib import Path

import pytest

from corpus import c4
from corpus.document import Document
from corpus.fileio import ReadError, open_path
from corpus.ledger import Tally
from corpus.rules import Drop

P = c4.VARIANTS["tfds"]

# Hand-written English lines, each one sentence ending in a full stop, five or more words.
GOOD = [
    "The river runs slowly past the old mill every spring.",
    "Farmers in the valley grow apples, pears and a little barley.",
    "Most visitors arrive by train and walk up from the station.",
    "The library opens at nine and closes late on Thursdays.",
    "Our club meets in the church hall on the first Monday.",
    "Children from the village school planted trees along the path.",
]


def doc(text: str, url: str = "https://example.com/a", timestamp: str = "2019-04-20T10:00:00Z", **meta) -> Document:
    return c4.c4_document(text, url, timestamp, "2026-01-01", meta)


# --------------------------------------------------------------------------------------------
# 1. WET text, 2. length
# --------------------------------------------------------------------------------------------
def test_tfds_wet_text_strips_skips_blanks_and_drops_header_like_lines():
    body = "  Title line  \n\n\tWARC is a format.\nContent-Type in text.\nCONTENT-X\nreal line.  \n"
    assert c4.tfds_wet_text(body) == "Title line\nreal line."


def test_check_length_keeps_190000_and_drops_190001():
    assert isinstance(c4.check_length(doc("a" * 190_000)), Document)
    assert c4.check_length(doc("a" * 190_001)) == Drop("too_long_page")


# --------------------------------------------------------------------------------------------
# 3. URLs and the newest page
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url, expected", [
    ("https://www.example.com/a/", "example.com/a"),
    ("http://example.com/a?utm_source=x&y=1", "example.com/a"),
    ("https://example.com/a?ref=home", "example.com/a"),
    ("https://example.com/a?feed=rss", "example.com/a"),
    ("https://example.com/a?id=3", "example.com/a?id=3"),
    ("https://example.com/a///", "example.com/a"),
    ("https://web.archive.org/x/http://www.example.com/", "web.archive.org/x/example.com"),
])
def test_normalize_url(url, expected):
    assert c4.normalize_url(url) == expected


def test_pick_newest_is_order_independent_with_deterministic_ties():
    old = doc("old text.", timestamp="2019-04-18T00:00:00Z")
    new_a = doc("new text a.", url="http://example.com/a/", timestamp="2019-04-25T00:00:00Z")
    new_b = doc("new text b.", url="https://www.example.com/a", timestamp="2019-04-25T00:00:00Z")
    picks = {c4.pick_newest(list(p)).id for p in itertools.permutations([old, new_a, new_b])}
    assert len(picks) == 1
    assert picks.pop() in (new_a.id, new_b.id)
    assert c4.pick_newest([old, new_a]).text == "new text a."


@pytest.mark.parametrize("raw, expected", [
    ("2019-04-25T12:57:54Z", "2019-04-25T12:57:54Z"),
    ("2019-04-25 12:57:54", "2019-04-25T12:57:54Z"),
    ("2019-04-25T14:57:54+02:00", "2019-04-25T12:57:54Z"),
    ("2019-04-25T12:57:54.123Z", "2019-04-25T12:57:54Z"),
    ("April 2019", "April 2019"),
    (None, ""),
])
def test_normalize_timestamp(raw, expected):
    assert c4.normalize_timestamp(raw) == expected


# --------------------------------------------------------------------------------------------
# 4. clean_page, rule by rule
# --------------------------------------------------------------------------------------------
def test_line_predicates():
    assert c4.has_too_long_word("a " + "x" * 1001)
    assert not c4.has_too_long_word("a " + "x" * 1000)
    assert c4.remove_citations("Paris is big.[1][12][][edit][citation needed]") == "Paris is big."
    assert c4.remove_citations("keep [a] and [1a]") == "keep [a] and [1a]"
    assert all(c4.has_end_mark(s) for s in ("a.", "a?", "a!", 'he said "a"'))
    assert not any(c4.has_end_mark(s) for s in ("a", "a...", "a:", "a'", ""))
    assert c4.has_policy_phrase("read our privacy policy.")
    assert c4.has_policy_phrase("this site uses cookies.")


def test_clean_keeps_good_lines_joined_by_newline():
    result = c4.clean_text("\n".join(GOOD[:3]))
    assert result.drop is None and result.text == "\n".join(GOOD[:3])
    assert result.lines == {"kept": 3}


def test_clean_drops_lines_in_tfds_order_and_counts_each_reason():
    text = "\n".join([
        "  " + GOOD[0] + "  ",  # kept, stripped
        "word " * 4 + "x" * 1001 + ".",  # too long word
        "No end mark on this line at all",  # no end mark
        "This line ends in an ellipsis...",  # ellipsis
        "Too few words here.",  # 4 words
        "Please enable JavaScript to view this page properly.",  # javascript
        "By using this site you accept our Terms of Use.",  # policy
        GOOD[1] + "[3]",  # citation removed, then it ends in "."
        GOOD[2] + "[edit]",
        "Menu { not a sentence",  # `{` but no end mark: removed as a line, page survives
    ])
    result = c4.clean_text(text)
    assert result.drop is None
    assert result.text == "\n".join([GOOD[0], GOOD[1], GOOD[2]])
    assert result.lines == {"kept": 3, "too_long_word": 1, "no_end_mark": 3, "too_few_words": 1,
                            "javascript": 1, "policy": 1}


def test_words_are_counted_after_citation_removal():
    # "One two three [1] [2] four." has 6 tokens only before the citations go.
    assert c4.clean_text("\n".join(GOOD[:3] + ["One two three [1] [2] four."])).lines["too_few_words"] == 1
    # TFDS strips before removing citations, not after: a space left before the marker stays.
    assert c4.clean_text("\n".join(GOOD[:3] + [GOOD[3] + " [1]"])).lines["no_end_mark"] == 1


def test_lorem_ipsum_and_curly_bracket_drop_the_page():
    assert c4.clean_text("\n".join(GOOD + ["Lorem ipsum dolor sit amet, consectetur."])).drop == "lorem_ipsum"
    assert c4.clean_text("\n".join(GOOD + ["var x = { a: 1 } is some code here."])).drop == "curly_bracket"
    # Both are only tested on lines that passed the line filters.
    assert c4.clean_text("\n".join(GOOD + ["lorem ipsum"])).drop is None


def test_sentence_threshold_counts_per_line():
    assert c4.clean_text("\n".join(GOOD[:2])).drop == "too_few_sentences"
    two_in_one = "The mill was built in 1820 by the town. It still grinds flour today for bakers."
    assert c4.clean_text("\n".join([two_in_one, GOOD[0]])).drop is None
    # Punkt knows English abbreviations: "Dr. Smith" does not end a sentence.
    assert c4.count_sentences("Dr. Smith visited the farm on Monday. He left on Tuesday.") == 2
    assert c4.count_sentences("One. Two. Three. Four. Five.", at_most=3) == 3


def test_paper_variant_has_three_words_per_line_and_five_sentences():
    paper = c4.VARIANTS["paper"]
    assert (paper.min_words_per_line, paper.min_num_sentences) == (3, 5)
    short = "\n".join(["Cats sleep a lot."] * 5)
    assert c4.clean_text(short, P).drop == "too_few_sentences"  # every line < 5 words
    assert c4.clean_text(short, paper).drop is None
    assert c4.clean_text("\n".join(GOOD[:4]), paper).drop == "too_few_sentences"
    assert c4.clean_text("\n".join(GOOD[:4]), P).drop is None


# --------------------------------------------------------------------------------------------
# 5. Global line dedup
# --------------------------------------------------------------------------------------------
def test_remove_duplicate_lines_global_and_local():
    text = "\n".join([GOOD[0], GOOD[1], GOOD[1].upper(), GOOD[2], GOOD[3]])
    keep = {c4.line_key(line) for line in (GOOD[0], GOOD[1], GOOD[2])}
    result = c4.remove_lost_lines(text, keep)
    assert result.text == "\n".join([GOOD[0], GOOD[1], GOOD[2]])
    assert result.lines == {"local_duplicate": 1, "global_duplicate": 1}
    assert c4.remove_lost_lines(text, set()).drop == "empty_after_dedup"
    assert c4.remove_lost_lines(text, {c4.line_key(GOOD[0])}).drop == "too_few_sentences_after_dedup"


def test_line_dedup_is_deterministic_and_smallest_md5_url_wins():
    urls = [f"https://site{i}.example.org/page" for i in range(6)]
    shared = GOOD[5]
    docs = [doc("\n".join([GOOD[i % 5], GOOD[(i + 1) % 5], GOOD[(i + 2) % 5], shared]), url=u)
            for i, u in enumerate(urls)]
    winner = min(urls, key=lambda u: c4.md5_hex(c4.normalize_url(u)))
    results = []
    rng = random.Random(0)
    for _ in range(5):
        order = list(range(len(docs)))
        rng.shuffle(order)
        outs = c4.dedup_lines_in_memory([docs[i] for i in order])
        results.append({docs[i].id: out for i, out in zip(order, outs)})
    assert all(r == results[0] for r in results)
    keepers = [d for d in docs if isinstance(results[0][d.id], Document) and shared in results[0][d.id].text]
    assert [d.metadata["url"] for d in keepers] == [winner]


# --------------------------------------------------------------------------------------------
# 6. English, 7. bad words, 8. split
# --------------------------------------------------------------------------------------------
def test_detect_english():
    kept = c4.detect_english(doc(" ".join(GOOD)))
    assert isinstance(kept, Document)
    assert kept.metadata["language"] == "en" and kept.metadata["language_score"] >= 0.99
    french = "Le village est situé au bord de la rivière. Les enfants vont à l'école à pied chaque matin."
    assert c4.detect_english(doc(french)) == Drop("not_english")
    assert c4.detect_english(doc("12345 67890 !!!")) == Drop("langdetect_error")
    # Deterministic (seed 0): the same score every time.
    assert c4.detect_language(" ".join(GOOD)) == c4.detect_language(" ".join(GOOD))


def test_badwords_match_whole_words_only():
    words = c4.load_badwords()
    assert len(words) == 400 and "2g1c" in words and "\U0001F595" in words
    assert (c4.DATA_DIR / "ldnoobw_en.LICENSE.md").read_text().count("CC-BY-4.0") >= 1
    rule = c4.badwords_rule()
    assert isinstance(rule(doc("A class on classic grass and assets.")), Document)
    assert rule(doc("What an ass.")) == Drop("badwords")
    assert rule(doc("Porn")) == Drop("badwords")  # start and end of text, case folded
    assert rule(doc("see the two girls one cup thing")) == Drop("badwords")


def test_badwords_file_option(tmp_path):
    path = tmp_path / "words"
    path.write_text("barley\n\n  apples  \n")
    assert c4.load_badwords(path) == ["apples", "barley"]
    assert c4.badwords_rule(path)(doc(GOOD[1])) == Drop("badwords")


def test_split_is_md5_of_normalised_url_mod_1000():
    validation = next(u for u in (f"example.com/{i}" for i in range(100_000))
                      if int(c4.md5_hex(u), 16) % 1000 == 0)
    assert c4.split_of("https://www." + validation + "/") == "validation"
    assert c4.split_of("https://example.com/not-this-one-0") == "train"
    assert c4.add_split(doc("x", url="http://" + validation)).metadata["split"] == "validation"


# --------------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------------
WET = (
    "WARC/1.0\r\nWARC-Type: warcinfo\r\nContent-Length: 9\r\n\r\nisPartOf:\r\n\r\n"
    "WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: http://www.example.com/x?utm_a=1\r\n"
    "WARC-Date: 2019-04-20T10:00:00Z\r\nContent-Type: text/plain\r\nContent-Length: {n}\r\n\r\n{body}\r\n\r\n"
)


def wet_bytes(body: str) -> bytes:
    return WET.format(n=len(body.encode("utf-8")), body=body).encode("utf-8")


def test_read_wet_builds_tfds_page_text_and_metadata():
    body = "Title Here\n" + "\n".join(GOOD[:3]) + "\nContent-Disposition: gone.\n"
    info, page = list(c4.read_c4_input(open_gz(wet_bytes(body)), "x.wet.gz", added="2026-01-01"))
    assert info == Tally({"info:wet_record_warcinfo": 1})
    assert page.text == "Title Here\n" + "\n".join(GOOD[:3])
    assert page.metadata == {"url": "http://www.example.com/x?utm_a=1", "timestamp": "2019-04-20T10:00:00Z",
                             "content-type": "text/plain", "content-length": str(len(body.encode()))}
    assert page.source == "c4" and page.added == "2026-01-01"


def test_read_c4_json_accepts_timestamp_or_date_and_reports_bad_lines():
    lines = [
        json.dumps({"text": "a.", "url": "https://a.example", "timestamp": "2019-04-25 12:57:54"}),
        json.dumps({"text": "b.", "url": "https://b.example", "date": "2019-04-21T10:19:50Z"}),
        "{not json",
        json.dumps({"text": "no url"}),
        "",
        json.dumps({"text": "c.\u2028still c.", "url": "https://c.example", "timestamp": "2019-04-22T00:00:00Z"}),
    ]
    raw = ("\n".join(lines)).encode("utf-8")  # no final newline
    for stream in (io.BytesIO(raw), open_gz(raw)):
        out = list(c4.read_c4_input(stream, "f"))
        docs = [o for o in out if isinstance(o, Document)]
        errors = [o.reason for o in out if isinstance(o, ReadError)]
        assert [d.metadata["timestamp"] for d in docs] == ["2019-04-25T12:57:54Z", "2019-04-21T10:19:50Z",
                                                           "2019-04-22T00:00:00Z"]
        assert docs[2].text == "c.\u2028still c."
        assert errors == ["malformed_json", "c4_missing_field"]


def _c4_line(name: str, **fields) -> bytes:
    record = {"text": f"{name} text.", "url": f"https://{name}.example", "timestamp": "2019-04-22T00:00:00Z"}
    return (json.dumps({**record, **fields}) + "\n").encode("utf-8")


@pytest.mark.timeout(30)
def test_read_c4_json_costs_one_line_per_hostile_line():
    """Each bad line is one counted error; the good lines around it, before and after, are kept."""
    hostile = [
        (b'{"text": "caf\xe9 latin-1", "url": "https://latin.example"}\n', "bad_encoding"),
        (b'{"text": "n", "url": "https://n.example", "n": ' + b"9" * 5000 + b"}\n", "malformed_json"),
        (b"[" * 100_000 + b"]" * 100_000 + b"\n", "malformed_json"),
        (_c4_line("dict", text={"a": 1}), "bad_record"),
        (_c4_line("number", text=12), "bad_record"),
        (_c4_line("url", url=["https://x"]), "bad_record"),
        (_c4_line("ts", timestamp={"y": 2019}), "bad_record"),
        (b'["an", "array"]\n', "bad_record"),
        (b'{"text": "' + b"x" * 300_000 + b'", "url": "https://long.example"}\n', "line_too_long"),
    ]
    raw = _c4_line("first") + b"".join(line + _c4_line(f"good{i}") for i, (line, _) in enumerate(hostile))
    out = list(c4.read_c4_input(bz2_stream(raw), "f", max_line_bytes=250_000))
    docs = [o.metadata["url"] for o in out if isinstance(o, Document)]
    assert docs == ["https://first.example"] + [f"https://good{i}.example" for i in range(len(hostile))]
    assert [o.reason for o in out if isinstance(o, ReadError)] == [reason for _, reason in hostile]


def test_nonfinite_numbers_never_reach_a_document():
    raw = (b'{"text": "t.", "url": "https://nan.example", "content-length": NaN, "x": [Infinity, 1e999]}\n'
           b'\xef\xbb\xbf' + _c4_line("after"))
    out = list(c4.read_c4_input(io.BytesIO(b"\xef\xbb\xbf" + raw), "f"))
    docs = [o for o in out if isinstance(o, Document)]
    assert [o for o in out if isinstance(o, Tally)] == [Tally({"info:nonfinite_values_removed": 3})]
    assert "content-length" not in docs[0].metadata
    json.dumps(docs[0].metadata, allow_nan=False)  # strict JSON
    assert [o.reason for o in out if isinstance(o, ReadError)] == ["malformed_json"]  # a BOM mid-file


def test_empty_input_is_flagged():
    from corpus.fileio import open_decompressed

    for raw in (b"", gzip.compress(b"")):
        assert [o.reason for o in c4.read_c4_input(open_decompressed(io.BytesIO(raw)), "f")] == ["empty_file"]


def bz2_stream(raw: bytes):
    import bz2

    from corpus.fileio import open_decompressed

    return open_decompressed(io.BytesIO(bz2.compress(raw)))


def open_gz(raw: bytes):
    from corpus.fileio import open_decompressed

    return open_decompressed(io.BytesIO(gzip.compress(raw)))


def test_sniffing_and_forced_format():
    assert c4.sniff_format(b"\n WARC/1.0\r\n") == "wet"
    assert c4.sniff_format(b'{"text"') == "c4json"
    assert c4.sniff_format(b"<html>") is None
    (err,) = list(c4.read_c4_input(io.BytesIO(b"<html></html>"), "p"))
    assert err.reason == "unknown_input_format"
    wet = wet_bytes("\n".join(GOOD[:3]))
    assert [type(o) for o in c4.read_c4_input(io.BytesIO(wet), "p", input_format="wet")] == [Tally, Document]


# --------------------------------------------------------------------------------------------
# Real samples (pure functions; the Beam path is tested below on a small input)
# --------------------------------------------------------------------------------------------
def read_all(folder: Path) -> list[Document]:
    out = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        out.extend(o for o in c4.read_c4_input(open_path(str(path)), str(path)) if isinstance(o, Document))
    return out


def run_rules(docs: list[Document], params: c4.C4Params = P, english_limit: int | None = None):
    """Steps 2-7 in memory; returns (kept documents, Counter of drop reasons, Counter of lines)."""
    drops: collections.Counter = collections.Counter()
    lines: collections.Counter = collections.Counter()
    by_key: dict[str, list[Document]] = collections.defaultdict(list)
    for d in docs:
        out = c4.check_length(d, params.max_page_length)
        if isinstance(out, Drop):
            drops[out.reason] += 1
        else:
            by_key[c4.page_key(d)].append(d)
    unique = []
    for group in by_key.values():
        unique.append(c4.pick_newest(group))
        drops["duplicate_url"] += len(group) - 1
    cleaned = []
    for d in unique:
        result = c4.clean_text(d.text, params)
        lines.update(result.lines)
        if result.drop:
            drops[result.drop] += 1
        else:
            cleaned.append(d.with_text(result.text))
    deduped = []
    for out in c4.dedup_lines_in_memory(cleaned, params.min_num_sentences):
        if isinstance(out, Drop):
            drops[out.reason] += 1
        else:
            deduped.append(out)
    badwords = c4.badwords_rule()
    kept = []
    for i, d in enumerate(deduped):
        out = c4.detect_english(d, params.min_english_probability) if english_limit is None or i < english_limit else d
        out = badwords(out) if isinstance(out, Document) else out
        if isinstance(out, Drop):
            drops[out.reason] += 1
        else:
            kept.append(out)
    return kept, drops, lines


def test_released_c4_documents_mostly_pass(samples):
    docs = read_all(samples / "c4")
    assert len(docs) == 1015
    kept, drops, _ = run_rules(docs, english_limit=150)  # langdetect on all 1010 pages: see slow test
    unique = len(docs) - drops["duplicate_url"]
    assert drops["duplicate_url"] == 5  # the 5-line file repeats the first 5 pages of the 1000
    assert len(kept) / unique >= 0.98, drops


@pytest.mark.slow
def test_released_c4_documents_pass_langdetect(samples):
    kept, drops, _ = run_rules(read_all(samples / "c4"))
    assert len(kept) / 1010 >= 0.98, drops


def test_raw_wet_lines_mostly_fail(samples):
    docs = read_all(samples / "commoncrawl" / "wet")
    kept, drops, lines = run_rules(docs)
    assert len(docs) == 26
    assert len(kept) + sum(drops.values()) == len(docs)
    assert drops["too_few_sentences"] >= 5
    # Topic-selected article pages: about half the pages survive, but ~90% of their lines go.
    assert lines["kept"] / sum(lines.values()) < 0.2


# --------------------------------------------------------------------------------------------
# The Beam pipeline: accounting and determinism
# --------------------------------------------------------------------------------------------
def write_fixture(folder: Path) -> list[str]:
    """Pages that exercise every stage; returns the input paths."""
    folder.mkdir(parents=True, exist_ok=True)
    body = "\n".join(GOOD)
    rows = [
        {"text": body, "url": "https://www.example.org/dup/", "timestamp": "2019-04-18T00:00:00Z"},  # older copy
        {"text": body + "\nThe newest copy of this page has one more line here.",
         "url": "http://example.org/dup", "timestamp": "2019-04-25T00:00:00Z"},
        {"text": "\n".join(GOOD[:2]), "url": "https://short.example.org/", "timestamp": "2019-04-20T00:00:00Z"},
        {"text": body + "\nfunction f() { return 1; } is code that we cannot keep.", "url": "https://js.example.org/",
         "timestamp": "2019-04-20T00:00:00Z"},
        {"text": "x" * 190_001, "url": "https://long.example.org/", "timestamp": "2019-04-20T00:00:00Z"},
        {"text": "Le village est situé au bord de la rivière, loin de la ville.\n"
                 "Les enfants vont à l'école à pied chaque matin avec leurs amis.\n"
                 "Le marché a lieu le samedi sur la grande place du village.",
         "url": "https://fr.example.org/", "timestamp": "2019-04-20T00:00:00Z"},
        # Loses GOOD[0:3] to the crawl page (smaller md5 of its normalised URL): one line left.
        {"text": "\n".join(GOOD[:3] + ["Copied pages keep only the lines that nobody else has."]),
         "url": "https://copy4.example.org/", "timestamp": "2019-04-20T00:00:00Z"},
        {"text": "The shop on the corner sells porn magazines and newspapers.\n"
                 "It opens early in the morning for people going to work.\n"
                 "The owner has lived above the shop for twenty years.",
         "url": "https://bad.example.org/", "timestamp": "2019-04-20T00:00:00Z"},
    ]
    (folder / "pages.json").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    wet = wet_bytes("\n".join(GOOD[:4]) + "\nA page from the crawl that repeats lines of the other pages.")
    (folder / "crawl.warc.wet.gz").write_bytes(gzip.compress(wet))
    (folder / "broken.json.gz").write_bytes(gzip.compress(b'{"text": "a."')[:-6])
    return [str(folder / "pages.json"), str(folder / "crawl.warc.wet.gz"), str(folder / "broken.json.gz")]


def test_pipeline_accounting_and_byte_identical_reruns(tmp_path):
    from pipelines import c4 as pipeline

    inputs = write_fixture(tmp_path / "in")
    ledgers, outputs = [], []
    for run, order in enumerate((inputs, list(reversed(inputs)))):
        out = tmp_path / f"out{run}"
        ledgers.append(pipeline.main(["--input", *order, "--output", str(out), "--added", "2026-01-01"]))
        outputs.append((out / "documents" / "documents-00000-of-00001.jsonl.gz").read_bytes())
    ledger = ledgers[0]
    assert ledger.balanced and ledger.documents_in == 9
    assert ledger.dropped == {"too_long_page": 1, "duplicate_url": 1, "too_few_sentences": 1, "curly_bracket": 1,
                              "too_few_sentences_after_dedup": 1, "not_english": 1, "badwords": 1}
    assert ledger.documents_written == 2
    assert set(ledger.errors) == {"truncated_input"}
    assert ledgers[1].dropped == ledger.dropped and outputs[0] == outputs[1]
    # One rejected sample file per drop reason, holding the page as the dropping step saw it.
    rejected = tmp_path / "out0" / "rejected"
    assert sorted(p.name for p in rejected.iterdir()) == sorted(f"{r}.jsonl.gz" for r in ledger.dropped)
    bad = [Document.from_json(line).to_record() for line in gzip.open(rejected / "badwords.jsonl.gz")]
    assert [r["metadata"]["url"] for r in bad] == ["https://bad.example.org/"]
    written = {Document.from_json(line).metadata["url"]: Document.from_json(line).to_record()
               for line in gzip.decompress(outputs[0]).decode().splitlines()}
    assert sorted(written) == ["http://example.org/dup", "http://www.example.com/x?utm_a=1"]
    # The crawl page (md5("example.com/x") < md5("example.org/dup")) keeps the shared lines.
    assert written["http://www.example.com/x?utm_a=1"]["text"].startswith("\n".join(GOOD[:4]))
    written = written["http://example.org/dup"]
    assert written["text"] == "\n".join(GOOD[4:] + ["The newest copy of this page has one more line here."])
    assert written["metadata"]["timestamp"] == "2019-04-25T00:00:00Z"
    assert written["metadata"]["language"] == "en" and written["metadata"]["split"] in ("train", "validation")


def test_variant_and_overrides_come_from_one_params_dataclass():
    from corpus.steps.c4 import C4Options

    assert C4Options().thresholds() == c4.VARIANTS["tfds"]
    paper = C4Options(variant="paper", min_num_sentences=7).thresholds()
    assert (paper.min_words_per_line, paper.min_num_sentences) == (3, 7)
