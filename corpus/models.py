"""The pure parts of the model build (`make models` = `python -m pipelines.models build`).

The build reads terabytes at dump scale, so its big-data parts are Beam jobs in
`pipelines/models_*.py`; what they hand to the final fits on one machine are *bounded samples*
written here as sorted shard files, and the fits (`corpus.lm`, `corpus.quality`) read them back
in order. This module holds what both sides share, without Beam:

- `sample_key(id)`: the deterministic sampling key (first 8 bytes of sha1 of the document id).
  A capped sample of a group is its `cap` documents with the smallest keys, the same on every
  runner and rerun, and a uniform random sample because sha1 is.
- the sample layout: `<dir>/<group>/part-XXXXX.jsonl.gz`, one JSON string (a text) per line,
  shard `k` holding keys in `[k * 2^64 / shards, (k+1) * 2^64 / shards)`, sorted inside it, so
  the concatenation of the shards in name order is sorted by key; gzip without timestamps.
- the build report `models.json` and the CLI alias: `python -m corpus.models build ...` still
  works and runs `pipelines.models` (looked up by name at run time: corpus has no import of it).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import math
import sys
from typing import Iterator, Optional, Sequence

from corpus import paths

PARTS = ("lid", "lm", "quality")
REPORT = "models.json"
SAMPLES_REPORT = "samples.json"
# A sample shard is sorted in memory by the worker that writes it: this many documents at most
# (Wikipedia articles average a few KB: ~20 MB of text per shard).
DOCS_PER_SHARD = 5_000
# cc_net trained its LMs on a few hundred MB of Wikipedia text per language: 100,000 articles is
# ~300-400 MB for English (and all of most smaller Wikipedias).
LM_MAX_DOCUMENTS = 100_000
CUTOFF_MAX_PAGES = 50_000  # CommonCrawl pages per language whose perplexities set p30/p60
QUALITY_MAX_PER_CLASS = 100_000  # cited pages and random pages each (RedPajama: ~300K per class)
QUALITY_MIN_POSITIVES = 100
PART_PREFIX = "part-"
PART_SUFFIX = ".jsonl.gz"


def sample_key(doc_id: str) -> int:
    """The sampling key of a document: uniform over [0, 2^64), stable across runs and runners."""
    return int.from_bytes(hashlib.sha1(doc_id.encode("utf-8")).digest()[:8], "big")


def shards_for(cap: int) -> int:
    """Shards of a capped sample: each sorted in memory holds about `DOCS_PER_SHARD` documents."""
    return max(1, math.ceil(cap / DOCS_PER_SHARD))


def shard_of_key(key: int, shards: int) -> int:
    """The key range a key falls in: shards in order are the keys in order."""
    return (key * shards) >> 64


def part_name(shard: int) -> str:
    return f"{PART_PREFIX}{shard:05d}{PART_SUFFIX}"


def encode_part(records: Sequence[tuple[int, str]]) -> bytes:
    """One sample shard: texts sorted by (key, text), one JSON string per line, gzip mtime 0."""
    lines = "".join(json.dumps(text, ensure_ascii=False) + "\n" for _, text in sorted(records))
    return gzip.compress(lines.encode("utf-8"), mtime=0)


def read_sample(directory: str, limit: Optional[int] = None) -> Iterator[str]:
    """The texts of one group's sample in key order (its shards by name, each line in order)."""
    n = 0
    for path in sorted(f for f in paths.list_files(directory) if paths.basename(f).startswith(PART_PREFIX)):
        with paths.open(path, "rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
            for line in lines:
                if limit is not None and n >= limit:
                    return
                n += 1
                yield json.loads(line)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The old entry point: `python -m pipelines.models` with the same arguments, looked up by
    name when it runs (the Beam jobs live above corpus/, which imports neither Beam nor them)."""
    import importlib

    return int(importlib.import_module("pipelines.models").main(argv))


if __name__ == "__main__":
    sys.exit(main())
