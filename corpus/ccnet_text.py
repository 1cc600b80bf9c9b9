"""CCNet's two text normalisations and its line hash (RECIPE §2.3–2.4), written from the facts.

- `normalize_for_dedup(line)`: what is hashed for line dedup. Strip, lowercase, every Unicode
  digit -> "0", delete the typographic/CJK punctuation marks listed below and the control
  characters U+0000–U+001F and U+007F–U+009F. ASCII punctuation and accents are kept.
- `normalize(text)`: what SentencePiece/KenLM see (and LM training text). Strip, lowercase, strip
  accents (NFD, drop combining marks of category Mn), digits -> "0", replace the same punctuation
  marks by ASCII look-alikes, then delete control characters. `\\n` is a control character, so
  the lines of a document are glued together without a separator (cc_net's behaviour).
- `line_hash(line)`: first 8 bytes of SHA-1(UTF-8(normalize_for_dedup(line))) read as a
  little-endian unsigned 64-bit integer.
- `text_line_hashes(text)` and `normalize_lines(text)`: the same, for every line of a document in
  one call (what the pipeline uses; ASCII lines folded as bytes, the rest in one batch).
"""
from __future__ import annotations

import hashlib
import re
import struct
import unicodedata
from typing import Iterable

# The typographic / fullwidth / CJK marks CCNet handles, with the ASCII look-alike that
# `normalize` puts in their place (`normalize_for_dedup` deletes them instead).
PUNCT_REPLACEMENTS: dict[str, str] = {
    "，": ",",
    "。": ".",
    "、": ",",
    "„": '"',
    "”": '"',
    "“": '"',
    "«": '"',
    "»": '"',
    "１": '"',
    "」": '"',
    "「": '"',
    "《": '"',
    "》": '"',
    "´": "'",
    "∶": ":",
    "：": ":",
    "？": "?",
    "！": "!",
    "（": "(",
    "）": ")",
    "；": ";",
    "–": "-",
    "—": " - ",
    "．": ". ",
    "～": "~",
    "’": "'",
    "…": "...",
    "━": "-",
    "〈": "<",
    "〉": ">",
    "【": "[",
    "】": "]",
    "％": "%",
    "►": "-",
}

CONTROL_CHARS: frozenset[str] = frozenset(chr(i) for i in (*range(0x00, 0x20), *range(0x7F, 0xA0)))

_DIGITS = re.compile(r"\d")  # Unicode-aware: fullwidth and other scripts' digits too
_CONTROL = re.compile("[" + re.escape("".join(sorted(CONTROL_CHARS))) + "]")
_PUNCT = re.compile("[" + re.escape("".join(PUNCT_REPLACEMENTS)) + "]")
_PUNCT_OR_CONTROL = re.compile(
    "[" + re.escape("".join(PUNCT_REPLACEMENTS) + "".join(sorted(CONTROL_CHARS))) + "]"
)
_PUNCT_TABLE = str.maketrans(PUNCT_REPLACEMENTS)


# ASCII fast paths (most web text): digits -> "0", control characters deleted, in one translate.
_ASCII_TABLE = {**{ord(d): "0" for d in "0123456789"}, **{cp: None for cp in (*range(0x00, 0x20), 0x7F)}}
_MN_CHARS: "tuple[re.Pattern[str], re.Pattern[str]] | None" = None
# The same folds on ASCII bytes (bytes.translate is a plain table lookup). str.strip() on ASCII
# strips exactly these characters (bytes.strip() would keep \x1c-\x1f).
_ASCII_SPACE = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
_ASCII_DIGITS_TO_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_ASCII_CONTROLS = bytes((*range(0x00, 0x20), 0x7F))
_ASCII_CONTROLS_BUT_NEWLINE = _ASCII_CONTROLS.replace(b"\n", b"")
_CONTROL_BUT_NEWLINE = re.compile("[" + re.escape("".join(sorted(CONTROL_CHARS - {"\n"}))) + "]")


# Planes that hold code points of category Mn (Unicode 14/15: the BMP, the SMP and plane 14's
# variation selectors). The other planes are CJK ideographs (Lo), private use (Co) or unassigned
# (Cn); tests/test_ccnet_text.py checks the restricted scan against every code point.
MN_PLANES: tuple[int, ...] = (0, 1, 14)


def _mn_ranges(planes: "Iterable[int] | None" = MN_PLANES) -> list[list[int]]:
    """Inclusive [first, last] runs of code points of category Mn, in `planes` (None: all)."""
    import sys

    if planes is None:
        spans = [range(sys.maxunicode + 1)]
    else:
        spans = [range(plane << 16, min((plane + 1) << 16, sys.maxunicode + 1)) for plane in planes]
    category = unicodedata.category
    ranges: list[list[int]] = []
    for span in spans:
        for cp in [cp for cp in span if category(chr(cp)) == "Mn"]:
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1][1] = cp
            else:
                ranges.append([cp, cp])
    return ranges


def _combining_marks() -> "tuple[re.Pattern[str], re.Pattern[str]]":
    """Character classes of every code point of category Mn: (BMP, astral planes). Built once, on
    the first non-ASCII text (~0.05 s). Kept apart so the BMP class compiles to a bitmap."""
    global _MN_CHARS
    if _MN_CHARS is None:
        ranges = _mn_ranges()

        def charclass(parts: list[list[int]]) -> "re.Pattern[str]":
            return re.compile("[" + "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in parts) + "]")

        _MN_CHARS = (charclass([r for r in ranges if r[1] <= 0xFFFF]), charclass([r for r in ranges if r[0] > 0xFFFF]))
    return _MN_CHARS


def _replace_punct(text: str) -> str:
    return _PUNCT.sub(lambda m: PUNCT_REPLACEMENTS[m.group()], text)


def normalize_for_dedup(line: str) -> str:
    """The form of a line that is hashed for dedup (case, digits and unicode punct folded)."""
    line = line.strip()
    if not line:
        return line
    line = line.lower()
    if line.isascii():
        return line.translate(_ASCII_TABLE)
    line = _DIGITS.sub("0", line)
    return _PUNCT_OR_CONTROL.sub("", line)


def strip_accents(text: str) -> str:
    """Decompose (NFD) and drop combining marks (category Mn). Not recomposed, as in CCNet."""
    if text.isascii():
        return text
    bmp, astral = _combining_marks()
    text = bmp.sub("", unicodedata.normalize("NFD", text))
    if _has_astral(text):
        text = astral.sub("", text)
    return text


def _has_astral(text: str) -> bool:
    """Whether `text` holds a code point above U+FFFF (each takes two UTF-16 units; much cheaper
    than max(text), and the astral class is costly to run on every text)."""
    return len(text.encode("utf-16-le", "surrogatepass")) != 2 * len(text)


def normalize(text: str) -> str:
    """The form of a text fed to SentencePiece + KenLM (lines glued: newlines are removed)."""
    text = text.strip()
    if not text:
        return text
    text = text.lower()
    if text.isascii():
        return text.translate(_ASCII_TABLE)
    text = strip_accents(text)
    text = _DIGITS.sub("0", text)
    text = _replace_punct(text)
    return _CONTROL.sub("", text)


def normalize_lines(text: str) -> list[str]:
    """`[normalize(line) for line in text.split("\n")]`, a document at a time.

    Every step of `normalize` acts on single characters (lowercasing looks at neighbours but not
    across a newline), so lines are stripped and then folded in two batches glued with `\n`: the
    ASCII lines as bytes, the others through the Unicode steps with every control character but
    `\n` deleted.
    """
    text = "\n".join([line.strip() for line in text.split("\n")]).lower()
    if text.isascii():
        return _fold_ascii(text).split("\n")
    lines = text.split("\n")
    narrow = [line.isascii() for line in lines]
    ascii_lines = iter(_fold_ascii("\n".join([l for l, a in zip(lines, narrow) if a])).split("\n"))
    other_lines = iter(_fold_unicode("\n".join([l for l, a in zip(lines, narrow) if not a])).split("\n"))
    return [next(ascii_lines) if a else next(other_lines) for a in narrow]


def _fold_ascii(text: str) -> str:
    return text.encode("ascii").translate(_ASCII_DIGITS_TO_ZERO, _ASCII_CONTROLS_BUT_NEWLINE).decode("ascii")


def _fold_unicode(text: str) -> str:
    text = strip_accents(text)
    text = _DIGITS.sub("0", text)
    text = _replace_punct(text)
    return _CONTROL_BUT_NEWLINE.sub("", text)


def line_hash(line: str) -> int:
    """CCNet's line hash: SHA-1 of the dedup-normalised line, first 8 bytes as little-endian uint64."""
    if line.isascii():
        data = line.encode("ascii").strip(_ASCII_SPACE).lower().translate(_ASCII_DIGITS_TO_ZERO, _ASCII_CONTROLS)
    else:
        data = normalize_for_dedup(line).encode("utf-8")
    return int.from_bytes(hashlib.sha1(data).digest()[:8], "little")


def text_line_hashes(text: str) -> list[int]:
    """`[line_hash(line) for line in text.split("\n")]`: the text is encoded once and ASCII lines
    are folded as bytes (strip, lowercase, digits -> "0", controls deleted, as `normalize_for_dedup`)."""
    sha1 = hashlib.sha1
    space, zero, controls = _ASCII_SPACE, _ASCII_DIGITS_TO_ZERO, _ASCII_CONTROLS
    if text.isascii():
        lines = text.encode("ascii").lower().split(b"\n")
        digests = b"".join([sha1(line.strip(space).translate(zero, controls)).digest()[:8] for line in lines])
    else:
        parts = []
        for line in text.encode("utf-8").split(b"\n"):
            if line.isascii():
                data = line.strip(space).lower().translate(zero, controls)
            else:
                data = normalize_for_dedup(line.decode("utf-8")).encode("utf-8")
            parts.append(sha1(data).digest()[:8])
        digests = b"".join(parts)
    return list(struct.unpack(f"<{len(digests) // 8}Q", digests))


# SHA-1 of the empty string: what every blank line hashes to (blank lines are ubiquitous, hence
# always removed by dedup, as in CCNet).
EMPTY_LINE_HASH: int = int.from_bytes(hashlib.sha1(b"").digest()[:8], "little")
