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
"""
from __future__ import annotations

import hashlib
import re
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


def _combining_marks() -> "tuple[re.Pattern[str], re.Pattern[str]]":
    """Character classes of every code point of category Mn: (BMP, astral planes). Built once, on
    the first non-ASCII text (~0.5 s). Kept apart so the BMP class compiles to a bitmap."""
    global _MN_CHARS
    if _MN_CHARS is None:
        import sys

        ranges: list[list[int]] = []
        for cp in range(sys.maxunicode + 1):
            if unicodedata.category(chr(cp)) == "Mn":
                if ranges and ranges[-1][1] == cp - 1:
                    ranges[-1][1] = cp
                else:
                    ranges.append([cp, cp])

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
    if max(text, default="\0") > "\uffff":
        text = astral.sub("", text)
    return text


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


def line_hash(line: str) -> int:
    """CCNet's line hash: SHA-1 of the dedup-normalised line, first 8 bytes as little-endian uint64."""
    digest = hashlib.sha1(normalize_for_dedup(line).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little")


def line_hashes(lines: Iterable[str]) -> list[int]:
    return [line_hash(line) for line in lines]


# SHA-1 of the empty string: what every blank line hashes to (blank lines are ubiquitous, hence
# always removed by dedup, as in CCNet).
EMPTY_LINE_HASH: int = int.from_bytes(hashlib.sha1(b"").digest()[:8], "little")
