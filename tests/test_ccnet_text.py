"""CCNet normalisation and line hash against the hand-checked values of RECIPE §2.3–2.4."""
from __future__ import annotations

import hashlib
import struct

import pytest

from corpus.ccnet_text import EMPTY_LINE_HASH, line_hash, normalize, normalize_for_dedup, strip_accents


def test_normalize_for_dedup_recipe_value():
    assert normalize_for_dedup("  Hello, World 2019! café  ") == "hello, world 0000! café"


@pytest.mark.parametrize(
    "line, expected",
    [
        ("", ""),
        ("   \t ", ""),
        ("ABC", "abc"),
        ("Ünïcödé stays accented", "ünïcödé stays accented"),
        ("phone 555-1234", "phone 000-0000"),
        ("fullwidth １２３ digits", "fullwidth 000 digits"),  # \d is Unicode-aware
        ("“quoted” «guillemets» – dash — em…", "quoted guillemets  dash  em"),
        ("中文，标点。符号！", "中文标点符号"),
        ("tab\there\x7fdel\x85nel", "tabheredelnel"),
        ("ASCII punct: (kept) [yes] {ok} ; . ! ?", "ascii punct: (kept) [yes] {ok} ; . ! ?"),
    ],
)
def test_normalize_for_dedup_cases(line, expected):
    assert normalize_for_dedup(line) == expected


def test_normalize_recipe_value_glues_lines():
    # RECIPE: "…2019!\nSecond…" -> "…0000!second…" (\n is a control char, removed, no separator)
    assert normalize("Hello, World 2019!\nSecond line") == "hello, world 0000!second line"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("  Café Crème  ", "cafe creme"),
        ("«Bonjour» „Hallo“ ‘x’", '"bonjour" "hallo" ‘x\''),
        ("a—b", "a - b"),
        ("wait…", "wait..."),
        ("１００％", "000%"),
        ("【tag】〈x〉", "[tag]<x>"),
        ("中文，标点。", "中文,标点."),
        ("x．y", "x. y"),
        ("Ωmega Ñ", "ωmega n"),
    ],
)
def test_normalize_cases(text, expected):
    assert normalize(text) == expected


def test_strip_accents_is_not_recomposed():
    assert strip_accents("é") == "e"
    assert strip_accents("ñandú") == "nandu"
    # Hangul decomposes into jamo under NFD and is not recomposed (as in CCNet)
    assert strip_accents("한") == "\u1112\u1161\u11ab"


def test_line_hash_is_sha1_prefix_little_endian():
    expected_hex = hashlib.sha1("hello, world 0000! café".encode("utf-8")).hexdigest()
    assert expected_hex.startswith("374aee69889762da")
    value = line_hash("  Hello, World 2019! café  ")
    assert value == 0xDA62978869EE4A37 == 15736306660134505015
    assert value == struct.unpack("<Q", bytes.fromhex(expected_hex[:16]))[0]
    assert 0 <= value < 2**64


def test_line_hash_folds_what_dedup_folds():
    assert line_hash("Hello 2019") == line_hash("  hello 1984 ")
    assert line_hash("Hello，world") == line_hash("helloworld")
    assert line_hash("café") != line_hash("cafe")  # accents are kept for dedup


def test_blank_lines_share_one_hash():
    assert line_hash("") == line_hash("   ") == line_hash("\t") == EMPTY_LINE_HASH
    assert EMPTY_LINE_HASH == int.from_bytes(hashlib.sha1(b"").digest()[:8], "little")


def _naive(text: str, dedup: bool) -> str:
    """The recipe's definitions written plainly, character by character (slow reference)."""
    import re
    import unicodedata

    from corpus.ccnet_text import CONTROL_CHARS, PUNCT_REPLACEMENTS

    text = text.strip()
    if not text:
        return text
    text = text.lower()
    if not dedup:
        text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    text = re.sub(r"\d", "0", text)
    if dedup:
        return "".join(c for c in text if c not in PUNCT_REPLACEMENTS and c not in CONTROL_CHARS)
    text = "".join(PUNCT_REPLACEMENTS.get(c, c) for c in text)
    return "".join(c for c in text if c not in CONTROL_CHARS)


def test_fast_paths_agree_with_the_plain_definition():
    import random

    rng = random.Random(7)
    alphabet = [chr(rng.randrange(0, 0x3100)) for _ in range(3000)] + list("abc XYZ 019 ,.!?\t\n") \
        + ["\U0001d167", "\U0001f600", "\u0301", "\u0327", "é", "１", "—", "…", "“"]
    samples = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40))) for _ in range(3000)]
    samples += ["Plain ASCII line 42", "Café “déjà vu” — 2019…", "\x00\x1f\x7f\x9f", "한국어", "e\u0301\U0001d167x"]
    for text in samples:
        assert normalize_for_dedup(text) == _naive(text, dedup=True), repr(text)
        assert normalize(text) == _naive(text, dedup=False), repr(text)


def _tricky_texts() -> list[str]:
    import random

    rng = random.Random(11)
    alphabet = [chr(rng.randrange(0, 0x3100)) for _ in range(2000)] + list("abc XYZ 019 ,.'!?\t\n\r\x0b\x0c") \
        + ["\x1c", "\x1f", "\x85", "\xa0", "\u2028", "\u3000", "\x00", "\x7f", "\x9f", "\U0001d167", "\U0001f600",
           "\u0301", "é", "１", "—", "…", "“", "Σ", "Α", "İ", "ß", "\u212a"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 80))) for _ in range(3000)]
    # final sigma looks at neighbours, never across a newline; \x1c-\x1f are whitespace for strip
    texts += ["ΑΣ\nΑΣ. \nΣΑ", "ΑΣ\u0301\nΒ", "x\x01 a\n \x01", "Α.Σ\n.Σ", "\x1c ΑΣ \x1d\nΑ", "\u212a\nK 12\n",
              "Plain ASCII 42\n\n  second\t\nthird", "", "\n", "café\nplain\n\U0001f600 émoji 9\nmore"]
    return texts


def test_document_at_a_time_forms_agree_with_the_line_functions():
    from corpus.ccnet_text import normalize_lines, text_line_hashes

    def reference_hash(line: str) -> int:
        return int.from_bytes(hashlib.sha1(normalize_for_dedup(line).encode("utf-8")).digest()[:8], "little")

    for text in _tricky_texts():
        lines = text.split("\n")
        assert normalize_lines(text) == [normalize(line) for line in lines], repr(text)
        assert text_line_hashes(text) == [reference_hash(line) for line in lines], repr(text)
        assert [line_hash(line) for line in lines] == [reference_hash(line) for line in lines], repr(text)


def test_combining_mark_planes_match_a_scan_of_every_code_point():
    from corpus.ccnet_text import _mn_ranges

    assert _mn_ranges() == _mn_ranges(None)
