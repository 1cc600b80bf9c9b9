"""Licence detection for the GitHub source: which licence a repository is under.

LLaMA keeps GitHub projects under the Apache, BSD and MIT licences (BigQuery's `licenses` table,
itself GitHub's licence detection of the repository's LICENSE file). For local repositories and
installed packages we do the same: compare the LICENSE/COPYING text with the canonical texts in
`corpus/data/licenses/` (MIT, BSD-2-Clause, BSD-3-Clause, Apache-2.0, plus the short Apache
notice) by Dice similarity of word bigrams after normalisation (lowercase, alphanumeric tokens,
copyright / "all rights reserved" lines removed), so a changed copyright line or reflowed text
still matches while other licences do not. Package metadata (SPDX `License-Expression`, the
`License:` field, trove classifiers, `license` in pyproject.toml / package.json) is the fallback
when no licence file is found or none matches.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

DATA = Path(__file__).resolve().parent / "data" / "licenses"

ALLOWED: tuple[str, ...] = ("MIT", "BSD-2-Clause", "BSD-3-Clause", "Apache-2.0")
# "BSD" is what metadata says when it does not name the variant (e.g. the trove classifier).
ALLOWED_FAMILIES: tuple[str, ...] = ALLOWED + ("BSD",)

# A reference file -> the SPDX id it stands for.
REFERENCES = {
    "MIT.txt": "MIT",
    "BSD-2-Clause.txt": "BSD-2-Clause",
    "BSD-3-Clause.txt": "BSD-3-Clause",
    "Apache-2.0.txt": "Apache-2.0",
    "Apache-2.0-notice.txt": "Apache-2.0",
}

THRESHOLD = 0.8  # minimum Dice similarity of word-bigram sets to call a text a match

# The clause that makes each licence what it is: a text must contain it (normalised, contiguous)
# to match, so permissive look-alikes such as MIT-0 (no attribution clause) or BSD-2 vs BSD-3
# are told apart even when their overall similarity is high.
KEY_PHRASES = {
    "MIT": ("above copyright notice and this permission notice shall be included",),
    "BSD-2-Clause": ("redistributions of source code must retain the above copyright notice",
                     "redistributions in binary form must reproduce the above copyright notice"),
    "BSD-3-Clause": ("redistributions of source code must retain the above copyright notice",
                     "redistributions in binary form must reproduce the above copyright notice",
                     "may be used to endorse or promote products derived from"),
    "Apache-2.0": ("apache license version 2 0",),
}

ALLOWED_STATUS = "allowed"
NOT_ALLOWED = "not_allowed"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class LicenseMatch:
    """What was found: an SPDX id (or a family name such as "GPL"), how sure, and from where."""

    spdx: Optional[str]
    score: float = 0.0
    source: str = ""

    @property
    def status(self) -> str:
        if self.spdx is None:
            return UNKNOWN
        return ALLOWED_STATUS if is_allowed(self.spdx) else NOT_ALLOWED


def is_allowed(spdx: Optional[str]) -> bool:
    return spdx in ALLOWED_FAMILIES


# --------------------------------------------------------------------------------------------
# Text comparison
# --------------------------------------------------------------------------------------------
# A copyright statement line ("Copyright (c) 2020 Foo", "(c) Bar", "© Baz", "All rights reserved"),
# but not a wrapped licence line that happens to start with "copyright notice, this list...".
_COPYRIGHT_LINE = re.compile(
    r"^[ \t]*(?:[#*/;\-]+[ \t]*)?(?:(?:portions[ \t]+)?copyright\b(?![ \t]*(?:notice|notices|holder|holders|owner|owners"
    r"|and|statement|statements|claim|claims|law|laws|license|licence|to|,|\.))|\(c\)|©|all rights reserved).*$",
    re.IGNORECASE | re.MULTILINE,
)
_TOKEN = re.compile(r"[a-z0-9]+")
_SPELLING = {"licence": "license", "licences": "licenses", "licenced": "licensed", "licensor": "licensor"}


def normalise(text: str) -> list[str]:
    """Tokens for comparison: copyright lines removed, lowercased, alphanumeric runs, UK->US spelling."""
    text = _COPYRIGHT_LINE.sub(" ", text)
    return [_SPELLING.get(t, t) for t in _TOKEN.findall(text.lower())]


def bigrams(tokens: Sequence[str]) -> frozenset:
    return frozenset(zip(tokens, tokens[1:]))


def dice(a: frozenset, b: frozenset) -> float:
    if not a or not b:
        return 0.0
    return 2.0 * len(a & b) / (len(a) + len(b))


@functools.lru_cache(maxsize=1)
def references() -> tuple[tuple[str, list[str], frozenset], ...]:
    out = []
    for name, spdx in sorted(REFERENCES.items()):
        tokens = normalise((DATA / name).read_text(encoding="utf-8"))
        out.append((spdx, tokens, bigrams(tokens)))
    return tuple(out)


# Licences we recognise by name only to count them as "not allowed" (rather than "unknown").
_OTHER_FAMILIES = (
    ("AGPL", re.compile(r"gnu affero general public licen[cs]e", re.I)),
    ("LGPL", re.compile(r"gnu (lesser|library) general public licen[cs]e", re.I)),
    ("GPL", re.compile(r"gnu general public licen[cs]e", re.I)),
    ("MPL", re.compile(r"mozilla public licen[cs]e", re.I)),
    ("PSF", re.compile(r"python software foundation licen[cs]e|psf licen[cs]e agreement", re.I)),
    ("EPL", re.compile(r"eclipse public licen[cs]e", re.I)),
    ("CC", re.compile(r"creative commons", re.I)),
    ("Unlicense", re.compile(r"this is free and unencumbered software released into the public domain", re.I)),
)


def match_text(text: str, threshold: float = THRESHOLD) -> LicenseMatch:
    """Which allowed licence `text` is, by word-bigram Dice similarity with the references.

    Each reference is compared with the whole text and with its leading window (about the
    reference's length): licence files often append the notices of bundled third-party code
    after the project's own licence, and the project's licence is the one that comes first.
    Below `threshold`, a few other licences are recognised by name (then `not_allowed`),
    anything else is unknown.
    """
    tokens = normalise(text)
    best: tuple[float, Optional[str]] = (0.0, None)
    whole = bigrams(tokens)
    joined = " " + " ".join(tokens) + " "
    for spdx, ref_tokens, ref_bigrams in references():
        if not all(f" {phrase} " in joined for phrase in KEY_PHRASES[spdx]):
            continue
        score = dice(whole, ref_bigrams)
        window = int(len(ref_tokens) * 1.15) + 10
        if len(tokens) > window:
            for start in (0, _first_overlap(tokens, ref_tokens)):
                score = max(score, dice(bigrams(tokens[start:start + window]), ref_bigrams))
        if score > best[0] + 1e-9:
            best = (score, spdx)
    if best[1] is not None and best[0] >= threshold:
        return LicenseMatch(best[1], round(best[0], 4), "text")
    head = text[:4000]
    for family, pattern in _OTHER_FAMILIES:
        if pattern.search(head):
            return LicenseMatch(family, round(best[0], 4), "text:name")
    return LicenseMatch(None, round(best[0], 4), "text")


MAX_PREAMBLE = 40  # tokens allowed before the licence text starts ("From PyTorch:", a title, ...)


def _first_overlap(tokens: Sequence[str], ref_tokens: Sequence[str], probe: int = 6) -> int:
    """Where the reference's opening words appear in the text (a preamble may come before it).

    The probe starts at each of the reference's first few words, since a title line such as
    "BSD 3-Clause License" is often absent from real files.
    """
    limit = min(len(tokens) - probe, MAX_PREAMBLE)
    if limit <= 0:
        return 0
    probes = {tuple(ref_tokens[k:k + probe]): k for k in range(min(6, max(len(ref_tokens) - probe, 0)))}
    for i in range(limit):
        k = probes.get(tuple(tokens[i:i + probe]))
        if k is not None:
            return max(i - k, 0)
    return 0


# --------------------------------------------------------------------------------------------
# Metadata
# --------------------------------------------------------------------------------------------
_SPDX_CANONICAL = {s.lower(): s for s in ALLOWED}
_NAME_TO_SPDX = {
    "mit": "MIT", "mit license": "MIT", "the mit license": "MIT", "mit licence": "MIT", "expat": "MIT",
    "bsd": "BSD", "bsd license": "BSD", "bsd licence": "BSD", "new bsd": "BSD-3-Clause",
    "new bsd license": "BSD-3-Clause", "modified bsd": "BSD-3-Clause", "modified bsd license": "BSD-3-Clause",
    "bsd 3 clause": "BSD-3-Clause", "bsd 3 clause license": "BSD-3-Clause", "3 clause bsd": "BSD-3-Clause",
    "3 clause bsd license": "BSD-3-Clause", "bsd 2 clause": "BSD-2-Clause", "bsd 2 clause license": "BSD-2-Clause",
    "simplified bsd": "BSD-2-Clause", "simplified bsd license": "BSD-2-Clause", "2 clause bsd": "BSD-2-Clause",
    "2 clause bsd license": "BSD-2-Clause", "freebsd": "BSD-2-Clause",
    "apache": "Apache-2.0", "apache 2": "Apache-2.0", "apache 2 0": "Apache-2.0", "apache2": "Apache-2.0",
    "apache license 2 0": "Apache-2.0", "apache license version 2 0": "Apache-2.0",
    "apache software license": "Apache-2.0", "apache software license 2 0": "Apache-2.0",
    "apache license": "Apache-2.0", "apache 2 0 license": "Apache-2.0", "asl 2 0": "Apache-2.0",
}
_CLASSIFIER_TO_SPDX = {
    "mit license": "MIT",
    "bsd license": "BSD",
    "apache software license": "Apache-2.0",
}
_OTHER_NAMES = (
    ("AGPL", re.compile(r"\bagpl|affero", re.I)),
    ("LGPL", re.compile(r"\blgpl|lesser general|library general", re.I)),
    ("GPL", re.compile(r"\bgpl|general public license", re.I)),
    ("MPL", re.compile(r"\bmpl\b|mozilla", re.I)),
    ("PSF", re.compile(r"\bpsf|python software foundation|cnri", re.I)),
    ("ISC", re.compile(r"\bisc\b", re.I)),
    ("Zlib", re.compile(r"\bzlib\b", re.I)),
    ("Unlicense", re.compile(r"unlicense", re.I)),
    ("Proprietary", re.compile(r"proprietary|all rights reserved", re.I)),
)


def _plain(name: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", name.lower()))


def name_to_spdx(name: str) -> Optional[str]:
    """A licence *name* (SPDX id, metadata `License:` value, classifier tail) -> SPDX id or family."""
    name = name.strip()
    if not name:
        return None
    if name.lower() in _SPDX_CANONICAL:
        return _SPDX_CANONICAL[name.lower()]
    plain = _plain(name)
    if plain in _NAME_TO_SPDX:
        return _NAME_TO_SPDX[plain]
    if plain in ("mit 0", "mit no attribution"):
        return "MIT-0"
    for family, pattern in _OTHER_NAMES:
        if pattern.search(name):
            return family
    return None


def match_expression(expression: str) -> LicenseMatch:
    """An SPDX licence expression: `A OR B` is allowed if one side is; `A AND B` only if both are."""
    expr = expression.strip().strip("()")
    if not expr:
        return LicenseMatch(None, 0.0, "expression")
    alternatives = [a.strip().strip("()") for a in re.split(r"\s+OR\s+", expr, flags=re.IGNORECASE)]
    found: list[str] = []
    for alt in alternatives:
        parts = [p.strip().strip("()") for p in re.split(r"\s+AND\s+", alt, flags=re.IGNORECASE)]
        ids = [name_to_spdx(re.sub(r"\s+WITH\s+.*$", "", p, flags=re.IGNORECASE)) for p in parts]
        if ids and all(is_allowed(i) for i in ids):
            return LicenseMatch(ids[0], 1.0, "expression")
        found.extend(i for i in ids if i is not None and not is_allowed(i))
    if found:
        return LicenseMatch(found[0], 1.0, "expression")
    return LicenseMatch(None, 0.0, "expression")


def parse_metadata(text: str) -> dict[str, list[str]]:
    """The header of a core-metadata file (METADATA / PKG-INFO): field -> values."""
    fields: dict[str, list[str]] = {}
    last = None
    for line in text.splitlines():
        if not line.strip():
            break  # the body (long description) starts after the first blank line
        if line[:1] in (" ", "\t") and last is not None:
            fields[last][-1] += "\n" + line.strip()
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        last = key.strip()
        fields.setdefault(last, []).append(value.strip())
    return fields


def match_metadata(metadata_text: str) -> LicenseMatch:
    """Licence from a METADATA/PKG-INFO: License-Expression, then License:, then classifiers."""
    fields = parse_metadata(metadata_text)
    for expression in fields.get("License-Expression", []):
        found = match_expression(expression)
        if found.spdx is not None:
            return LicenseMatch(found.spdx, found.score, "metadata:License-Expression")
    for value in fields.get("License", []):
        if len(value) > 200 or "\n" in value:  # a whole licence text pasted into the field
            found = match_text(value)
            if found.spdx is not None:
                return LicenseMatch(found.spdx, found.score, "metadata:License(text)")
            continue
        found = match_expression(value) if re.search(r"\s(OR|AND)\s", value) else LicenseMatch(name_to_spdx(value))
        if found.spdx is not None:
            return LicenseMatch(found.spdx, 1.0, "metadata:License")
    ids = []
    for classifier in fields.get("Classifier", []):
        if classifier.startswith("License ::"):
            tail = classifier.split("::")[-1].strip()
            ids.append(_CLASSIFIER_TO_SPDX.get(tail.lower()) or name_to_spdx(tail) or tail)
    if ids:
        allowed = [i for i in ids if is_allowed(i)]
        # Classifiers do not say OR or AND: all of them must be allowed.
        spdx = allowed[0] if len(allowed) == len(ids) else next(i for i in ids if not is_allowed(i))
        return LicenseMatch(spdx, 1.0, "metadata:Classifier")
    return LicenseMatch(None, 0.0, "metadata")


def match_files(texts: Iterable[tuple[str, str]]) -> LicenseMatch:
    """The repository's licence from its licence files ((name, text) pairs).

    The main files (LICENSE, LICENCE, COPYING with or without an extension) decide when they
    are recognised; otherwise (absent, or a pointer text such as "see LICENSE.APACHE and
    LICENSE.BSD") the suffixed files decide, and one allowed match among them is enough
    (dual-licensed projects). Files for bundled code (LICENSE_zstd.txt, licenses/numpy/...) are
    thus only consulted when the main file says nothing.
    """
    texts = list(texts)
    main = [(n, t) for n, t in texts if is_main_license_file(n.rsplit("/", 1)[-1])]
    rest = [(n, t) for n, t in texts if not is_main_license_file(n.rsplit("/", 1)[-1])]
    first = _best_of(main)
    if first.spdx is not None:
        return first
    second = _best_of(rest)
    if second.spdx is not None:
        return second
    return first if first.score >= second.score else second


def _best_of(texts: Iterable[tuple[str, str]]) -> LicenseMatch:
    best_allowed: Optional[LicenseMatch] = None
    other: Optional[LicenseMatch] = None
    best_unknown = LicenseMatch(None, 0.0, "file")
    for name, text in sorted(texts):
        found = match_text(text)
        found = LicenseMatch(found.spdx, found.score, f"file:{name}")
        if found.status == ALLOWED_STATUS:
            if best_allowed is None or found.score > best_allowed.score:
                best_allowed = found
        elif found.status == NOT_ALLOWED:
            other = other or found
        elif found.score > best_unknown.score:
            best_unknown = found
    return best_allowed or other or best_unknown


LICENSE_FILE = re.compile(r"^(licen[cs]e|copying|unlicense)([-._][\w.-]*)?$", re.IGNORECASE)


_MAIN_LICENSE_FILE = re.compile(r"^(licen[cs]e|copying)(\.(txt|md|rst|markdown))?$", re.IGNORECASE)


def is_main_license_file(name: str) -> bool:
    return _MAIN_LICENSE_FILE.match(name) is not None


def is_license_file(name: str) -> bool:
    """LICENSE, LICENSE.txt, LICENCE.md, COPYING, LICENSE-MIT, LICENSE.APACHE, ... (not NOTICE)."""
    return LICENSE_FILE.match(name) is not None
