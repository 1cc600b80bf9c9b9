"""The mixture plan: how many tokens (and documents) to draw from each source, and where they go.

Pure arithmetic over counts, no data: planning 1.4T tokens takes microseconds.

Semantics (LLaMA Table 1; MosaicML streaming's relative `proportion`, RECIPE §5.3):

* shares are normalised to sum to 1 (relative proportions, like streaming's p_i / sum p);
* per source, tokens to draw = share x total; epochs = drawn / available tokens;
* sampling is by whole documents: documents to draw D = round(epochs x available documents).
  The sequence of draws of a source is pass 0, pass 1, ... where pass q lists all its documents
  in a seeded order: blocks of `block_docs` consecutive documents in a seeded permutation
  (`corpus.permute`, evaluated lazily), documents in source order inside a block; the first D
  elements are taken. So epochs >= 1 gives floor(epochs) full
  passes plus a seeded subset for the fraction (streaming's `choose // samples` copies plus a random
  `choose % samples` subset), and epochs < 1 gives a seeded subsample without repeats;
* the output has N = ceil(expected tokens / shard tokens) shards; shard k takes draws
  [floor(k D / N), floor((k+1) D / N)) of every source, so each shard is computed from the plan
  alone, holds every source in proportion, and its size is about `shard_tokens`.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np

from corpus import paths
from corpus.permute import Permutation, key_of

# LLaMA (arXiv 2302.13971) Table 1: sampling proportion, epochs over the 1.4T-token run, disk size.
TABLE1: dict[str, tuple[float, float, str]] = {
    "commoncrawl": (0.670, 1.10, "3.3 TB"),
    "c4": (0.150, 1.06, "783 GB"),
    "github": (0.045, 0.64, "328 GB"),
    "wikipedia": (0.045, 2.45, "83 GB"),
    "books": (0.045, 2.23, "85 GB"),
    "arxiv": (0.025, 1.06, "92 GB"),
    "stackexchange": (0.020, 1.03, "78 GB"),
}
PAPER_TOKENS = 1_400_000_000_000
DEFAULT_SEED = 0
DEFAULT_SHARD_TOKENS = 128_000_000  # tokens per output shard
DEFAULT_BLOCK_DOCS = 512  # documents per block of the per-pass block permutation
DEFAULT_SHARES: dict[str, float] = {name: share for name, (share, _, _) in TABLE1.items()}

_SUFFIX = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "G": 10**9, "T": 10**12}
_NUMBER = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([KMBGT]?)\s*$", re.IGNORECASE)

# Megatron .idx bytes: 34-byte header + int32 length + int64 pointer + int64 document index per doc.
IDX_HEADER_BYTES = 34
IDX_BYTES_PER_DOC = 20


def parse_tokens(text: str | int) -> int:
    """'1.4T' -> 1_400_000_000_000; K, M, B (or G), T are powers of 1000; plain numbers allowed."""
    if isinstance(text, int):
        value = text
    else:
        match = _NUMBER.match(str(text))
        if not match:
            raise ValueError(f"not a token count: {text!r} (use e.g. 1000000, 250M, 1.4T)")
        value = round(float(match.group(1)) * _SUFFIX[match.group(2).upper()])
    if value <= 0:
        raise ValueError(f"token count must be positive: {text!r}")
    return int(value)


def format_count(value: float) -> str:
    """1_400_000_000_000 -> '1.40T'."""
    for suffix, scale in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{suffix}"
    return f"{value:.0f}"


def format_bytes(value: float) -> str:
    for suffix, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if abs(value) >= scale:
            return f"{value / scale:.1f} {suffix}"
    return f"{value:.0f} B"


def parse_assignments(items: Sequence[str], parse_value=float) -> dict[str, float]:
    """['commoncrawl=0.67,c4=0.15', 'github=4.5%'] -> {'commoncrawl': 0.67, 'c4': 0.15, 'github': 0.045}."""
    out: dict[str, float] = {}
    for item in items:
        for part in filter(None, (p.strip() for p in item.split(","))):
            if "=" not in part:
                raise ValueError(f"expected SOURCE=VALUE, got {part!r}")
            name, value = (s.strip() for s in part.split("=", 1))
            if parse_value is float and value.endswith("%"):
                out[name] = float(value[:-1]) / 100
            else:
                out[name] = parse_value(value)
    return out


def load_mixture_file(path: str | Path) -> dict[str, float]:
    """A YAML or JSON mixture: `{source: share}` or `{sources: {source: share | {share: x}}}`.

    Shares may be fractions, percentages written as '4.5%', or any relative weights.
    """
    text = paths.read_text(str(path))  # local or remote
    if str(path).endswith(".json"):
        data = json.loads(text)
    else:
        import yaml

        data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a mixture file is a mapping of source -> share")
    data = data.get("sources", data)
    shares: dict[str, float] = {}
    for name, value in data.items():
        if isinstance(value, dict):
            value = value.get("share", value.get("proportion"))
        if isinstance(value, str):
            value = float(value.rstrip("%")) / 100 if value.endswith("%") else float(value)
        if value is None:
            raise ValueError(f"{path}: no share for {name!r}")
        shares[str(name)] = float(value)
    return shares


@dataclass(frozen=True)
class Available:
    """What one source offers: tokens, and documents when known (None when planning from sizes)."""

    tokens: int
    documents: Optional[int] = None


@dataclass
class SourcePlan:
    source: str
    share: float
    available_tokens: int
    available_documents: Optional[int]
    target_tokens: int  # share x total
    epochs: float  # target / available
    documents: Optional[int]  # documents to draw (None when planning from sizes only)
    expected_tokens: int  # tokens those documents hold on average
    output_bytes: int

    @property
    def full_passes(self) -> int:
        return 0 if self.documents is None or not self.available_documents else self.documents // self.available_documents

    @property
    def remainder(self) -> int:
        return 0 if self.documents is None or not self.available_documents else self.documents % self.available_documents


@dataclass
class Plan:
    total_tokens: int
    seed: int
    shard_tokens: int
    itemsize: int
    block_docs: int = DEFAULT_BLOCK_DOCS
    sources: list[SourcePlan] = field(default_factory=list)
    dropped_sources: list[str] = field(default_factory=list)  # renormalised away (absent inputs)
    num_shards: int = 0

    @property
    def output_bytes(self) -> int:
        return sum(s.output_bytes for s in self.sources) + self.num_shards * IDX_HEADER_BYTES

    @property
    def expected_tokens(self) -> int:
        return sum(s.expected_tokens for s in self.sources)

    def draw_range(self, source_index: int, shard: int) -> tuple[int, int]:
        """Draws [a, b) of source `source_index` that go into output shard `shard`."""
        d = self.sources[source_index].documents or 0
        n = self.num_shards
        return (shard * d) // n, ((shard + 1) * d) // n

    def to_dict(self) -> dict:
        data = asdict(self)
        data["output_bytes"] = self.output_bytes
        data["expected_tokens"] = self.expected_tokens
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> "Plan":
        data = dict(data)
        data.pop("output_bytes", None)
        data.pop("expected_tokens", None)
        sources = [SourcePlan(**s) for s in data.pop("sources")]
        return cls(sources=sources, **data)

    def table(self) -> str:
        """The plan as a text table: source, share, available, drawn, epochs, output bytes."""
        head = ("source", "share", "available", "drawn", "epochs", "documents", "output")
        rows = [head]
        for s in self.sources:
            rows.append(
                (
                    s.source,
                    f"{100 * s.share:.2f}%",
                    format_count(s.available_tokens),
                    format_count(s.target_tokens),
                    f"{s.epochs:.2f}",
                    "-" if s.documents is None else f"{s.documents:,}",
                    format_bytes(s.output_bytes),
                )
            )
        rows.append(
            (
                "total",
                f"{100 * sum(s.share for s in self.sources):.2f}%",
                format_count(sum(s.available_tokens for s in self.sources)),
                format_count(sum(s.target_tokens for s in self.sources)),
                "",
                "-" if any(s.documents is None for s in self.sources) else f"{sum(s.documents for s in self.sources):,}",
                format_bytes(self.output_bytes),
            )
        )
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = []
        for i, row in enumerate(rows):
            cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
            lines.append("  ".join(cells))
            if i == 0 or i == len(rows) - 2:
                lines.append("  ".join("-" * w for w in widths))
        lines.append(f"{self.num_shards} output shards of ~{format_count(self.shard_tokens)} tokens, seed {self.seed}")
        if self.dropped_sources:
            lines.append(f"renormalised without: {', '.join(self.dropped_sources)}")
        return "\n".join(lines)


class PlanError(ValueError):
    """The mixture cannot be planned from these inputs (message says why and what to do)."""


def make_plan(
    shares: Mapping[str, float],
    total_tokens: int,
    available: Mapping[str, Available],
    *,
    seed: int = DEFAULT_SEED,
    shard_tokens: int = DEFAULT_SHARD_TOKENS,
    itemsize: int = 2,
    renormalise: bool = False,
    block_docs: int = DEFAULT_BLOCK_DOCS,
) -> Plan:
    """Plan `total_tokens` over `shares` given what each source has available.

    A source with a positive share but nothing available is refused (PlanError) unless
    `renormalise`, which drops it and rescales the others' shares to sum to 1.
    """
    if total_tokens <= 0:
        raise PlanError("total tokens must be positive")
    if shard_tokens <= 0:
        raise PlanError("shard tokens must be positive")
    wanted = {name: float(share) for name, share in shares.items() if share > 0}
    negative = [name for name, share in shares.items() if share < 0]
    if negative:
        raise PlanError(f"negative share for {', '.join(negative)}")
    if not wanted:
        raise PlanError("the mixture has no source with a positive share")
    missing = [n for n in wanted if n not in available or available[n].tokens <= 0]
    if missing and not renormalise:
        have = ", ".join(sorted(n for n in available if available[n].tokens > 0)) or "none"
        raise PlanError(
            f"no input for {', '.join(missing)} (inputs found: {have}); build their token shards, give "
            f"--available {missing[0]}=<tokens> for a dry run, set their share to 0, or pass --renormalise "
            f"to drop them and rescale the other shares"
        )
    present = {n: s for n, s in wanted.items() if n not in missing}
    if not present:
        raise PlanError("none of the mixture's sources has input")
    scale = sum(present.values())
    if block_docs <= 0:
        raise PlanError("block size must be positive")
    plan = Plan(total_tokens=int(total_tokens), seed=int(seed), shard_tokens=int(shard_tokens), itemsize=itemsize,
                block_docs=int(block_docs), dropped_sources=list(missing))
    for name, raw in present.items():
        share = raw / scale
        have = available[name]
        target = round(share * total_tokens)
        epochs = target / have.tokens
        if have.documents:
            documents = max(1, round(epochs * have.documents))
            expected = round(documents * have.tokens / have.documents)
            out_bytes = expected * itemsize + documents * IDX_BYTES_PER_DOC
        else:
            documents, expected = None, target
            out_bytes = target * itemsize
        plan.sources.append(
            SourcePlan(name, share, int(have.tokens), have.documents, target, epochs, documents, expected, out_bytes)
        )
    plan.num_shards = max(1, math.ceil(plan.expected_tokens / shard_tokens))
    if all(s.documents is not None for s in plan.sources):
        # No more shards than documents, so that no shard is empty.
        plan.num_shards = max(1, min(plan.num_shards, sum(s.documents for s in plan.sources)))
    return plan


# --------------------------------------------------------------------------------------------
# Drawing: which documents a shard takes
# --------------------------------------------------------------------------------------------
def draw_ranges(seed: int, source: str, documents: int, block: int, start: int, stop: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draws [start, stop) of a source as document ranges [begin, end) in draw order, with the pass
    each range belongs to.

    Pass q orders the source's n documents as blocks of `block` consecutive documents (the last one
    shorter) permuted by `Permutation(blocks, key_of(seed, source, q))`. Draw p is element p % n of
    pass p // n. Everything is computed from counts: O(ranges), never O(documents of the source).
    """
    n = documents
    empty = np.zeros(0, dtype=np.int64)
    if stop <= start or n <= 0:
        return empty, empty, empty
    nb = -(-n // block)
    last = n - (nb - 1) * block  # size of the short block (index nb - 1)
    begins, ends, passes = [], [], []
    for q in range(start // n, (stop - 1) // n + 1):
        lo, hi = max(start, q * n) - q * n, min(stop, (q + 1) * n) - q * n
        perm = Permutation(nb, key_of(seed, source, q))
        short = perm.inverse(nb - 1)  # position of the short block in this pass

        def position(offset: int) -> int:
            if offset < short * block:
                return offset // block
            rest = offset - short * block
            return short if rest < last else short + 1 + (rest - last) // block

        js = np.arange(position(lo), position(hi - 1) + 1, dtype=np.int64)
        blocks = perm[js]
        first = js * block - (block - last) * (js > short)  # pass offset of each block's first document
        size = np.where(blocks == nb - 1, last, block)
        cut_lo = np.maximum(lo - first, 0)
        cut_hi = np.minimum(hi - first, size)
        begins.append(blocks * block + cut_lo)
        ends.append(blocks * block + cut_hi)
        passes.append(np.full(js.size, q, dtype=np.int64))
    return np.concatenate(begins), np.concatenate(ends), np.concatenate(passes)


def shard_order(seed: int, shard: int, size: int) -> np.ndarray:
    """The seeded interleaving of a shard's documents across sources."""
    return np.random.default_rng(key_of(seed, "interleave", shard)).permutation(size)
