"""Which text the tokenizer trains on: every source sampled by its mixture share, line by line.

The text is sampled from every source by its mixture share (LLaMA Table 1, renormalised over the
sources present), so the vocabulary fits the mixture the model is trained on rather than the raw
sizes of the inputs. Documents are split into lines (long lines cut at whitespace to
`max_sentence_length` bytes); a source's lines are taken floor(rate) times each plus once more
on a coin drawn from a generator seeded by (seed, document id). So reruns agree, the choice does
not depend on file order, and a source of a few long books is sampled as finely as one of many
short pages. Two streaming passes over the files: `scan` measures each source, `sample_lines`
yields the chosen lines (to SentencePiece's `sentence_iterator`); the text is never materialised.
"""
from __future__ import annotations

import hashlib
import logging
import math
import random
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Optional, Sequence, TextIO, Union

from corpus.docfiles import iter_file, source_of
from corpus.document import Document
from corpus.fileio import ReadError
from corpus.progress import Progress
from mixture.plan import DEFAULT_SHARES

log = logging.getLogger("llama_corpus.tokenizer")

# LLaMA Table 1 sampling proportions (%), from the one table in `mixture.plan`.
TABLE1_SHARES: dict[str, float] = {name: round(100 * share, 6) for name, share in DEFAULT_SHARES.items()}


def parse_shares(text: Optional[str]) -> dict[str, float]:
    """`"c4=15,wikipedia=4.5"` -> {"c4": 15.0, "wikipedia": 4.5}; None -> LLaMA Table 1."""
    if not text:
        return dict(TABLE1_SHARES)
    shares: dict[str, float] = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        if not name.strip() or not value.strip():
            raise ValueError(f"bad share {part!r}: use name=weight,name=weight")
        shares[name.strip()] = float(value)
        if shares[name.strip()] < 0:
            raise ValueError(f"share of {name} must be >= 0")
    return shares


def normalise_shares(shares: Mapping[str, float], present: Iterable[str]) -> dict[str, float]:
    """Shares renormalised over the sources present (a source without a share gets none)."""
    present = sorted(set(present))
    weights = {s: float(shares.get(s, 0.0)) for s in present}
    missing = [s for s in present if s not in shares]
    if missing:
        log.warning("sources without a mixture share are left out of the tokenizer text: %s", missing)
    total = sum(weights.values())
    if total <= 0:
        raise SystemExit(f"none of the sources present ({present}) has a positive share")
    return {s: w / total for s, w in weights.items()}


def sampling_rates(
    available: Mapping[str, int],
    shares: Mapping[str, float],
    max_bytes: int,
    max_repeat: float,
    min_bytes: int = 0,
) -> tuple[dict[str, float], int]:
    """Per-source rate (expected copies of each line) so that the sample follows `shares`.

    The budget is the largest total at which every source gives exactly its share with each
    line used at most `max_repeat` times, capped by `max_bytes`. When that is below `min_bytes`
    (small inputs: one scarce source would shrink the whole sample), the budget is raised to
    `min_bytes` and a source that cannot fill its share at that size gives all it has (times
    `max_repeat`): the others keep their shares of the budget, none is inflated. Returns
    (rates, budget).
    """
    limits = [max_repeat * available[s] / p for s, p in shares.items() if p > 0 and available.get(s, 0) > 0]
    if not limits:
        return {s: 0.0 for s in shares}, 0
    budget = min([float(max_bytes)] + limits)
    budget = max(budget, float(min(min_bytes, max_bytes)))
    rates = {
        s: (min(max_repeat, p * budget / available[s]) if available.get(s) else 0.0) for s, p in shares.items()
    }
    # A source that sets the budget gets exactly max_repeat (no float dust that would make
    # every one of its lines a coin flip).
    rates = {s: (round(r) if abs(r - round(r)) < 1e-9 else r) for s, r in rates.items()}
    return rates, int(budget)


def unit_hash(seed: int, key: str) -> float:
    """A uniform number in [0, 1) from the seed and a key (stable across runs and machines)."""
    digest = hashlib.blake2b(f"{seed}\x1f{key}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64


def copies(rate: float, seed: int, doc_id: str) -> int:
    """How many times a document enters the sample at `rate` (floor + seeded Bernoulli)."""
    whole = math.floor(rate)
    return whole + (1 if unit_hash(seed, doc_id) < rate - whole else 0)


class LineDraws:
    """Copies of each line of one document at `rate`: floor(rate) + a seeded coin for the rest.

    The coins come from a generator seeded by (seed, document id), so the choice of a line
    depends only on the seed, the document and the line's number.
    """

    def __init__(self, rate: float, seed: int, doc_id: str):
        self.whole = math.floor(rate)
        self.fraction = rate - self.whole
        self._random = random.Random(f"{seed}\x1f{doc_id}").random if self.fraction > 0 else None

    def __call__(self) -> int:
        if self._random is None:
            return self.whole
        return self.whole + (1 if self._random() < self.fraction else 0)


def split_lines(text: str, max_bytes: int) -> list[str]:
    """`list(training_lines(text, max_bytes))`, with a fast path for the common case."""
    if "\r" not in text:
        lines = text.split("\n")
        if _all_fit(text, lines, max_bytes):
            return [line for line in lines if line]
    return list(training_lines(text, max_bytes))


def _all_fit(text: str, lines: list[str], max_bytes: int) -> bool:
    """No line is longer than `max_bytes` in UTF-8 (checked without encoding when possible)."""
    longest = max(map(len, lines))
    return longest * 4 <= max_bytes or (longest <= max_bytes and text.isascii())


def text_bytes(text: str, max_bytes: int) -> int:
    """UTF-8 bytes of `text` as SentencePiece sees it: its training lines plus one newline each."""
    if "\r" not in text:
        lines = text.split("\n")
        if _all_fit(text, lines, max_bytes):
            return len(text.encode("utf-8")) + 1 - lines.count("")
    return sum(len(line.encode("utf-8")) + 1 for line in training_lines(text, max_bytes))


def training_lines(text: str, max_bytes: int) -> Iterator[str]:
    """The lines SentencePiece trains on: non-empty lines, each at most `max_bytes` UTF-8 bytes.

    SentencePiece skips sentences longer than `max_sentence_length` bytes, so long lines (minified
    code, LaTeX paragraphs, tables) are cut at the last whitespace before the limit, or at the
    last character boundary when there is none. Nothing else is changed (identity normalisation).
    """
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if not line:
            continue
        encoded = line.encode("utf-8")
        if len(encoded) <= max_bytes:
            yield line
            continue
        while len(encoded) > max_bytes:
            cut = max_bytes
            while cut > 0 and (encoded[cut] & 0xC0) == 0x80:  # not inside a UTF-8 sequence
                cut -= 1
            if cut == 0:  # max_bytes shorter than one character: cut after that character
                cut = 1
                while cut < len(encoded) and (encoded[cut] & 0xC0) == 0x80:
                    cut += 1
            space = encoded.rfind(b" ", max_bytes // 2, cut)
            if space > 0:
                cut = space
            head, encoded = encoded[:cut], encoded[cut:]
            if head:
                yield head.decode("utf-8")
        if encoded:
            yield encoded.decode("utf-8")



# --------------------------------------------------------------------------------------------
# The two passes over the documents
# --------------------------------------------------------------------------------------------
@dataclass
class SourceData:
    """One source's share of the training text: what it has, and what was drawn from it."""

    documents: int = 0
    bytes: int = 0
    sampled_documents: int = 0
    sampled_bytes: int = 0
    lines: int = 0
    share: float = 0.0
    rate: float = 0.0


def _documents(files: Sequence[tuple[str, str]], label: str) -> Iterator[tuple[str, Union[Document, ReadError]]]:
    """(hint, document or input fault) of every file in order; the count shown on stderr every 10 s."""
    reporter = Progress(f"tokenizer {label}", main="documents").start()
    try:
        for hint, path in files:
            for item in iter_file(path, hint):
                reporter.add("documents")
                yield hint, item
    finally:
        reporter.stop()


def scan(
    files: Sequence[tuple[str, str]], max_line_bytes: int
) -> tuple[dict[str, SourceData], dict[str, int]]:
    """First pass: documents and training-text bytes (lines + newlines, UTF-8) per source."""
    data: dict[str, SourceData] = {}
    errors: dict[str, int] = {}
    for hint, item in _documents(files, "scan"):
        if isinstance(item, ReadError):
            errors[item.reason] = errors.get(item.reason, 0) + 1
            log.warning("input fault %s in %s: %s", item.reason, item.path, item.detail)
            continue
        entry = data.setdefault(source_of(item, hint), SourceData())
        entry.documents += 1
        entry.bytes += text_bytes(item.text, max_line_bytes)
    return data, errors


def sample_lines(
    files: Sequence[tuple[str, str]],
    data: dict[str, SourceData],
    seed: int,
    max_line_bytes: int,
    tee: Optional[TextIO] = None,
) -> Iterator[str]:
    """Second pass: the sampled training lines, streamed (SentencePiece's `sentence_iterator`).

    Updates `data`'s sampled counts as it goes; bytes are counted as SentencePiece sees them:
    line + newline, UTF-8. `tee` receives every line too (for `--keep_text`).
    """
    for hint, item in _documents(files, "sample"):
        if isinstance(item, ReadError):
            continue
        entry = data.get(source_of(item, hint))
        if entry is None or entry.rate <= 0:
            continue
        lines = split_lines(item.text, max_line_bytes)
        draws = LineDraws(entry.rate, seed, item.id)
        if draws.fraction == 0:  # every line, `whole` times
            chosen = draws.whole * len(lines)
            entry.sampled_bytes += draws.whole * text_bytes(item.text, max_line_bytes)
            for _ in range(draws.whole):
                if tee is not None:
                    tee.writelines(line + "\n" for line in lines)
                yield from lines
        else:
            chosen = 0
            for line in lines:
                n = draws()
                if not n:
                    continue
                entry.sampled_bytes += n * (len(line.encode("utf-8")) + 1)
                chosen += n
                for _ in range(n):
                    if tee is not None:
                        tee.write(line + "\n")
                    yield line
        entry.lines += chosen
        entry.sampled_documents += 1 if chosen else 0

