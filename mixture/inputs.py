"""The sampler's inputs: per-source token series found under `--input`, checked before use.

A series is `INPUT/<source>/manifest.json` plus its `.bin/.idx` shards (`python -m tokenizer.encode`).
Shards are read with positioned reads, so a remote `--input` (`s3://`, `gs://`, ...) is first
staged to local disk; every series, local or staged, is verified against its manifest (sha256 of
each `.bin` and `.idx`, structure, token ids below the vocabulary) unless `--no_verify`: a flipped
byte names its file instead of silently changing the mixture.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from corpus import paths
from corpus import shards as shardlib
from corpus.docfiles import INCOMPLETE_MARKER
from mixture.plan import PlanError


@dataclass
class SourceSeries:
    """One source's token series: its manifest and per-shard document counts."""

    name: str
    directory: str
    manifest: shardlib.Manifest
    manifest_sha256: str

    @property
    def shard_documents(self) -> list[int]:
        return [int(s["documents"]) for s in self.manifest.shards]

    @property
    def documents(self) -> int:
        # Sequences, not manifest.documents: an oversized document cut across shards is several.
        return sum(self.shard_documents)

    @property
    def tokens(self) -> int:
        return int(self.manifest.tokens)

    @property
    def bytes(self) -> int:
        return int(self.manifest.bytes)


def find_inputs(root: str) -> dict[str, SourceSeries]:
    """Every `root/<dir>/manifest.json` (local or remote), keyed by the manifest's source name; a
    root or series still marked `_INCOMPLETE` (its job running, killed, or unbalanced) is refused."""
    found: dict[str, SourceSeries] = {}
    for path in paths.list_files(paths.join(root, "*", shardlib.MANIFEST_NAME)):
        directory = paths.parent(path)
        for folder in (root, directory):
            if paths.exists(paths.join(folder, INCOMPLETE_MARKER)):
                raise PlanError(f"{folder} is not a complete run ({INCOMPLETE_MARKER} is there: the job writing it "
                                "is running, was killed, or its ledger did not balance); rerun it")
        manifest = shardlib.read_manifest(path)
        name = manifest.source or paths.basename(directory)
        if name in found:
            raise PlanError(f"two inputs for {name}: {found[name].directory} and {directory}")
        found[name] = SourceSeries(name, directory, manifest, shardlib.sha256_file(path))
    return found


def check_compatible(series: Sequence[SourceSeries]) -> tuple[str, int, str]:
    """(dtype, vocab size, tokenizer sha256) shared by all inputs, or PlanError."""
    kinds = {(s.manifest.dtype, int(s.manifest.vocab_size), s.manifest.tokenizer_sha256) for s in series}
    if len(kinds) != 1:
        detail = "; ".join(
            f"{s.name}: {s.manifest.dtype}, vocab {s.manifest.vocab_size}, tokenizer {s.manifest.tokenizer_sha256[:12]}"
            for s in series
        )
        raise PlanError(f"inputs were tokenized differently, refusing to mix token ids: {detail}")
    return kinds.pop()


def prepare(series: dict[str, SourceSeries], stage_dir: Optional[Path], verify: bool,
            workers: int) -> dict[str, SourceSeries]:
    """The series ready for positioned reads: remote ones staged under `stage_dir`, all verified
    against their manifests when `verify` (`corpus.shards.verify_series`). PlanError on a mismatch,
    naming the file; the staged copy keeps the original manifest's digest (the plan's identity)."""
    ready: dict[str, SourceSeries] = {}
    for name, s in series.items():
        try:
            if paths.is_remote(s.directory):
                if stage_dir is None:
                    raise PlanError(f"{s.directory}: remote input needs a local staging directory")
                local = shardlib.stage_series(s.directory, stage_dir / name, verify, workers)
                ready[name] = SourceSeries(name, str(local), shardlib.read_manifest(local), s.manifest_sha256)
                continue
            shardlib.verify_series(s.directory, verify, workers)
        except shardlib.ShardError as exc:
            raise PlanError(f"input {name}: {exc}; rerun `python -m tokenizer.encode` for it "
                            f"(or pass --no_verify to mix it as it is)") from None
        ready[name] = s
    return ready
