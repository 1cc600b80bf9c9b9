"""Books: decoding, Gutenberg licence stripping (every header generation), JSON lines, pipeline."""
from __future__ import annotations

import codecs
import gzip
import io
import json
import random
from pathlib import Path

import pytest

from corpus import books
from corpus.docfiles import iter_directory
from corpus.document import Document, make_id
from corpus.fileio import ReadError
from corpus.ledger import Tally
from corpus.rules import Drop
from corpus.samples import require_samples
from corpus.steps.books import CheckDecoding, StripLicence

BODY = (
    "CHAPTER I.\n\nIt was a bright cold day in April, and the clocks were striking.\n\n"
    "The hallway smelt of boiled cabbage and old rag mats.\n\nTHE END\n"
)

CURRENT = (
    "\ufeffThe Project Gutenberg eBook of A Test Book\n    \n"
    "This ebook is for the use of anyone anywhere in the United States and\n"
    "most other parts of the world at no cost and with almost no restrictions\n\n"
    "Title: A Test Book\n\nAuthor: Jane Example\n\n"
    "Release date: March 3, 2001 [eBook #4242]\n                Most recently updated: June 1, 2024\n\n"
    "Language: English\n\nCredits: Somebody\n\n\n"
    "*** START OF THE PROJECT GUTENBERG EBOOK A TEST BOOK ***\n\n\n"
    + BODY +
    "\n\n*** END OF THE PROJECT GUTENBERG EBOOK A TEST BOOK ***\n\n"
    "Updated editions will replace the previous one--the old editions will\nbe renamed.\n"
    "START: FULL LICENSE\n\nTHE FULL PROJECT GUTENBERG LICENSE\n"
)

OLDER = (
    "The Project Gutenberg EBook of Old Times, by Sam Older\r\n\r\n"
    "This eBook is for the use of anyone anywhere at no cost and with\r\n"
    "almost no restrictions whatsoever.\r\n\r\n\r\n"
    "Title: Old Times\r\n\r\nAuthor: Sam Older\r\n\r\n"
    "Posting Date: July 26, 2008 [EBook #777]\r\nRelease Date: January, 1997\r\n\r\n"
    "Language: English\r\n\r\nCharacter set encoding: ASCII\r\n\r\n"
    "*** START OF THIS PROJECT GUTENBERG EBOOK OLD TIMES ***\r\n\r\n\r\n\r\n"
    "Produced by A Volunteer and the Online Distributed\r\nProofreading Team\r\n\r\n\r\n\r\n"
    + BODY.replace("\n", "\r\n") +
    "\r\n\r\nEnd of Project Gutenberg's Old Times, by Sam Older\r\n\r\n"
    "*** END OF THIS PROJECT GUTENBERG EBOOK OLD TIMES ***\r\n\r\n"
    "***** This file should be named 777.txt or 777.zip *****\r\n"
)

OLDEST = (
    "The Project Gutenberg Etext of Ancient Days, by Ann Cient\n"
    "#1 in our series by Ann Cient\n\n"
    "Copyright laws are changing all over the world, be sure to check\n\n"
    "**Welcome To The World of Free Plain Vanilla Electronic Texts**\n\n"
    "Title: Ancient Days\n\nAuthor: Ann Cient\n\n"
    "Release Date: May, 1993  [Etext #55]\n\n"
    "*****These eBooks Were Prepared By Thousands of Volunteers!*****\n\n"
    "**The Legal Small Print**\n\n(Three Pages)\n\n"
    "***START**THE SMALL PRINT!**FOR PUBLIC DOMAIN ETEXTS**START***\n"
    "Why is this \"Small Print!\" statement here? You know: lawyers.\n\n"
    "*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*\n\n\n"
    + BODY +
    "\n\nEnd of The Project Gutenberg Etext of Ancient Days\n"
)


def _doc(raw: bytes, name: str = "book.txt") -> Document:
    return books.read_gutenberg_text(raw, name)


@pytest.mark.parametrize(
    "raw,name,meta",
    [
        (CURRENT.encode("utf-8"), "pg4242.txt",
         {"title": "A Test Book", "author": "Jane Example", "language": "en", "language_name": "English",
          "release_date": "March 3, 2001", "gutenberg_id": "4242"}),
        (OLDER.encode("ascii"), "777.txt",
         {"title": "Old Times", "author": "Sam Older", "language": "en", "language_name": "English",
          "release_date": "July 26, 2008", "gutenberg_id": "777"}),
        (OLDEST.encode("ascii"), "anc10.txt",
         {"title": "Ancient Days", "author": "Ann Cient", "release_date": "May, 1993", "gutenberg_id": "55"}),
    ],
    ids=["current", "older", "oldest_small_print"],
)
def test_each_header_generation_is_stripped(raw, name, meta):
    out = books.strip_gutenberg(_doc(raw, name))
    assert isinstance(out, Document)
    assert out.text == BODY.strip("\n")
    assert out.metadata["gutenberg_header"] == "stripped"
    assert out.metadata["gutenberg_footer"] == "stripped"
    for key, value in meta.items():
        assert out.metadata[key] == value, key
    assert "\r" not in out.text and "\ufeff" not in out.text
    assert "Gutenberg" not in out.text and "Produced by" not in out.text


def test_text_without_markers_is_kept_whole():
    out = books.strip_gutenberg(_doc(BODY.encode()))
    assert out.text == BODY.strip("\n") and out.metadata["gutenberg_header"] == "absent"


def test_missing_footer_keeps_the_rest_and_says_so():
    raw = CURRENT.split("*** END OF")[0].encode()
    out = books.strip_gutenberg(_doc(raw))
    assert out.text == BODY.strip("\n") and out.metadata["gutenberg_footer"] == "absent"


def test_empty_book_is_dropped():
    raw = "*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\n\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\n"
    assert books.strip_gutenberg(_doc(raw.encode())) == Drop("empty")


def test_strip_step_counts_what_it_stripped_and_how_books_were_decoded():
    step = StripLicence()
    latin = OLDER.replace("ASCII", "ISO-8859-1").replace("bright cold", "bright café cold").encode("latin-1")
    no_footer = CURRENT.split("*** END OF")[0].encode()
    for raw in (CURRENT.encode(), latin, no_footer, BODY.encode()):
        assert isinstance(step(_doc(raw)), Document)
    assert step(_doc(b"*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\n")) == Drop("empty")
    assert dict(step.counts) == {"gutenberg_header_stripped": 3, "gutenberg_footer_stripped": 2,
                                 "gutenberg_footer_absent": 1, "gutenberg_header_absent": 1,
                                 "decoded_iso8859_1": 1}


# ---- decoding ---------------------------------------------------------------------------------
def test_latin1_declared_is_decoded():
    text = OLDER.replace("ASCII", "ISO-8859-1").replace("bright cold", "bright café cold")
    doc = _doc(text.encode("latin-1"), "777-8.txt")
    assert doc.metadata["encoding"] == "iso8859-1"
    out = books.strip_gutenberg(doc)
    assert "bright café cold" in out.text and out.metadata["gutenberg_id"] == "777"


def test_undeclared_8bit_falls_back_to_cp1252_then_latin1():
    text, enc = books.decode_text("\u201cNa\u00efve\u201d r\u00e9sum\u00e9\r\n".encode("cp1252"))
    assert (text, enc) == ("\u201cNa\u00efve\u201d r\u00e9sum\u00e9\n", "cp1252")
    text, enc = books.decode_text(b"caf\xe9 \x81\r")  # 0x81 is undefined in cp1252
    assert (text, enc) == ("caf\u00e9 \x81\n", "latin-1")


def test_utf8_with_and_without_bom():
    assert books.decode_text("\ufeffé\r\n".encode("utf-8")) == ("é\n", "utf-8-sig")
    assert books.decode_text("é\r\n".encode("utf-8")) == ("é\n", "utf-8")


# ---- reading files ----------------------------------------------------------------------------
def test_file_names():
    assert books.is_book_file("gs://b/pg11.txt") and books.is_book_file("x/books3.jsonl.zst")
    assert books.is_book_file("pg19/train.json.gz") and not books.is_book_file("11.zip")
    assert books.gutenberg_id_from_name("pg1513.txt") == "1513"
    assert books.gutenberg_id_from_name("972-0.txt.gz") == "972"
    assert books.gutenberg_id_from_name("alice.txt") is None


def test_readers_stamp_added():
    (doc,) = books.read_books(io.BytesIO(BODY.encode()), "x/pg5.txt.gz", added="2026-01-01")
    assert doc.added == "2026-01-01" and doc.metadata["gutenberg_id"] == "5"
    (line,) = books.read_books(io.BytesIO(b'{"text": "t"}'), "b.jsonl", added="2026-01-01")
    assert line.added == "2026-01-01"


def test_json_lines_pg19_books3_and_faults():
    lines = [
        json.dumps({"short_book_title": "Moby Dick", "publication_date": 1851,
                    "url": "http://www.gutenberg.org/ebooks/2701", "text": "Call me Ishmael.\r\n"}),
        "",
        json.dumps({"title": "A Novel.epub.txt", "text": "Some modern prose.", "meta": {"pile_set_name": "Books3"}}),
        "{broken",
        json.dumps({"title": "no text"}),
    ]
    raw = "\n".join(lines).encode()
    items = list(books.read_books(io.BytesIO(raw), "data/part.jsonl"))
    docs = [i for i in items if isinstance(i, Document)]
    errors = [i for i in items if isinstance(i, ReadError)]
    assert [d.metadata["format"] for d in docs] == ["pg19", "books3"]
    assert docs[0].metadata["gutenberg_id"] == "2701" and docs[0].metadata["release_date"] == 1851
    assert docs[0].text == "Call me Ishmael.\n"
    assert docs[1].metadata["title"] == "A Novel.epub.txt" and docs[1].metadata["meta"]["pile_set_name"] == "Books3"
    assert [e.reason for e in errors] == ["malformed_json", "malformed_json"]
    assert len({d.id for d in docs}) == 2


# ---- the real samples --------------------------------------------------------------------------
@pytest.mark.samples
@pytest.mark.parametrize(
    "name,encoding,starts,ends,gid",
    [
        ("pg11.txt", "utf-8-sig", "[Illustration]", "THE END", "11"),
        ("pg1513.txt", "utf-8-sig", "THE TRAGEDY OF ROMEO AND JULIET", "[_Exeunt._]", "1513"),
        ("972.txt", "utf-8", "THE DEVIL'S DICTIONARY", "cow sheds its horn every two years.", "972"),
    ],
)
def test_real_samples_are_stripped(name, encoding, starts, ends, gid):
    path = require_samples("books") / name
    if not path.exists():
        pytest.skip(f"{name} not in the samples")
    (doc,) = list(books.read_books(io.BytesIO(path.read_bytes()), str(path)))
    out = books.strip_gutenberg(doc)
    assert out.metadata["encoding"] == encoding
    assert out.metadata["gutenberg_header"] == out.metadata["gutenberg_footer"] == "stripped"
    assert out.metadata["gutenberg_id"] == gid and out.metadata["language"] == "en"  # ISO code (corpus.schema)
    assert out.text.startswith(starts) and out.text.endswith(ends)
    assert "PROJECT GUTENBERG" not in out.text.upper() and "Produced by" not in out.text
    assert len(out.text) > 0.8 * len(doc.text)


# ---- the pipeline ------------------------------------------------------------------------------
def _plant_near_duplicate(text: str, seed: int = 1, share: float = 0.05) -> str:
    """The book with ~5% of its paragraphs changed (a word swapped and a sentence appended)."""
    paragraphs = text.split("\n\n")
    rng = random.Random(seed)
    for i in rng.sample(range(len(paragraphs)), max(1, int(len(paragraphs) * share))):
        words = paragraphs[i].split(" ")
        words[rng.randrange(len(words))] = "altered"
        paragraphs[i] = " ".join(words) + " A sentence added by the editor."
    return "\n\n".join(paragraphs)


def _read_output(out: Path) -> list[Document]:
    return list(iter_directory(str(out / "documents")))


@pytest.mark.samples
def test_pipeline_removes_planted_near_duplicate_and_balances(tmp_path):
    from corpus import minhash
    from pipelines import books as books_pipeline

    samples = require_samples("books")
    alice = (samples / "pg11.txt").read_bytes().decode("utf-8-sig")
    planted = tmp_path / "extra"
    planted.mkdir()
    (planted / "alice-edited.txt").write_text(_plant_near_duplicate(alice), encoding="utf-8")
    latin = OLDER.replace("ASCII", "ISO-8859-1").replace("bright cold", "bright café cold")
    (planted / "777-8.txt").write_bytes(latin.encode("latin-1"))
    (planted / "notes.md").write_text("ignored")

    # The planted copy is a near duplicate on the exact shingle sets, and the two others are not.
    original = books.strip_gutenberg(_doc(alice.encode(), "pg11.txt")).text
    edited = books.strip_gutenberg(_doc(_plant_near_duplicate(alice).encode(), "alice-edited.txt")).text
    j = minhash.jaccard(minhash.shingles(original), minhash.shingles(edited))
    assert 0.9 <= j < 0.99

    out = tmp_path / "out"
    ledger = books_pipeline.main(["--input", str(samples), str(planted), "--output", str(out),
                                  "--added", "2026-01-01", "--num_shards", "2"])
    assert ledger.documents_in == 5
    assert ledger.balanced and ledger.documents_in == ledger.documents_written + sum(ledger.dropped.values())
    assert ledger.dropped == {"near_duplicate": 1}
    assert ledger.info["gutenberg_header_stripped"] == 5 and ledger.info["gutenberg_footer_stripped"] == 5
    assert ledger.info["decoded_iso8859_1"] == 1 and ledger.info["files_ignored"] == 1
    assert ledger.info["near_dedup_verified_pairs"] == 1
    assert ledger.info["near_dedup_candidate_pairs"] == 1 + ledger.info.get("near_dedup_rejected_pairs", 0)

    docs = _read_output(out)
    files = sorted(d.metadata["file"] for d in docs)
    assert len(docs) == 4 and "pg1513.txt" in files and "972.txt" in files and "777-8.txt" in files
    assert ("pg11.txt" in files) != ("alice-edited.txt" in files)  # exactly one of the pair kept
    pair = sorted(make_id("books", "gutenberg", n) for n in ("pg11.txt", "alice-edited.txt"))
    assert pair[0] in {d.id for d in docs}
    rejected = gzip.decompress((out / "rejected" / "near_duplicate.jsonl.gz").read_bytes()).decode().splitlines()
    assert [Document.from_json(line).id for line in rejected] == [pair[1]]
    assert all(d.added == "2026-01-01T00:00:00Z" and d.source == "books" for d in docs)  # canonical on disk
    assert json.loads((out / "stats.json").read_text())["balanced"] is True


# ---- honest decoding and bounds (hostile inputs, in-process) -----------------------------------
def _problem(raw: bytes) -> tuple[str, object]:
    doc = books.read_gutenberg_text(raw, "x.txt")
    return doc.metadata["encoding"], doc.metadata.get("decode_problem")


def test_utf16_and_utf32_are_decoded_with_or_without_a_bom():
    text = BODY.replace("bright cold", "bright café cold")
    for codec, name in (("utf-16-le", "utf-16-le"), ("utf-16-be", "utf-16-be"), ("utf-16", "utf-16"),
                        ("utf-32", "utf-32")):
        doc = books.read_gutenberg_text(text.encode(codec), "x.txt")
        assert (doc.text, doc.metadata["encoding"]) == (text, name), codec
        assert "decode_problem" not in doc.metadata
    lying = b"Character set encoding: UTF-16\n\nOne caf\xe9 sentence in plain 8-bit text.\n"
    assert books.decode_text(lying) == (lying.decode("cp1252"), "cp1252")  # not read as UTF-16 mojibake


def test_what_is_not_text_is_marked_and_the_step_drops_it():
    rng = random.Random(3)
    noise = rng.randbytes(200_000)
    nul_laden = b"".join(line.encode() + b"\x00" * 8 for line in BODY.split("\n"))
    interleaved = bytes(b for pair in zip(noise[:50_000], b"\x00" * 50_000) for b in pair)
    cases = {"random": noise, "nul_laden": nul_laden, "utf16_noise": interleaved,
             "utf16_bom_odd_length": codecs.BOM_UTF16_LE + "abc".encode("utf-16-le") + b"x"}
    step = CheckDecoding()
    for name, raw in cases.items():
        doc = books.read_gutenberg_text(raw, f"{name}.txt")
        expected = "bad_encoding" if name.startswith("utf16_bom") else "binary_text"
        assert doc.metadata.get("decode_problem") == expected, name
        assert step(doc) == Drop(expected) and len(doc.text) <= books.SAMPLE_CHARS
    good = books.read_gutenberg_text(BODY.encode() * 10 + b"\x00\x00", "ok.txt")
    assert step(good) is good and "\x00" not in good.text and good.metadata["nul_removed"] == 2


def test_book_file_bounds_and_empty_files():
    import bz2

    from corpus.fileio import open_decompressed

    bomb = open_decompressed(io.BytesIO(bz2.compress(b"a" * (3 << 20))))
    assert [e.reason for e in books.read_books(bomb, "bomb.txt.bz2", max_book_bytes=1 << 20)] == ["book_too_large"]
    assert [e.reason for e in books.read_books(io.BytesIO(b""), "empty.txt")] == ["empty_file"]


@pytest.mark.timeout(30)
def test_json_lines_cost_one_line_each():
    lines = [
        b'{"title": "first", "text": "One."}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"title": "big", "text": "' + b"x" * 300_000 + b'"}',
        b'{"title": "latin", "text": "caf\xe9"}',
        b'{"title": "nan", "text": "Two.", "meta": {"score": NaN, "ok": 1}}',
        b'{"title": "binary", "text": "' + b"\\u0000" * 1000 + b'"}',
        b'{"title": "n", "text": 1' + b"0" * 5000 + b"}",
    ]
    items = list(books.read_json_lines(io.BytesIO(b"\n".join(lines)), "p.jsonl", max_line_bytes=250_000))
    docs = [i for i in items if isinstance(i, Document)]
    assert [d.metadata["title"] for d in docs] == ["first", "nan", "binary"]
    assert docs[1].metadata["meta"] == {"ok": 1}
    assert docs[2].metadata["decode_problem"] == "binary_text"
    assert [i.reason for i in items if isinstance(i, ReadError)] == ["malformed_json", "line_too_long",
                                                                   "bad_encoding", "malformed_json"]
    assert [i for i in items if isinstance(i, Tally)] == [Tally({"info:nonfinite_values_removed": 1})]
