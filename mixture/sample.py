"""Mix per-source token shards into one stream of Megatron shards, by the LLaMA Table 1 proportions.

    python -m mixture.sample --tokens 1.4T --input out/tokens --output out/mixture
    python -m mixture.sample --tokens 1.4T --dry-run --available commoncrawl=853B,c4=198B,...

Reads `INPUT/<source>/manifest.json` (written by `python -m tokenizer.encode`), prints the plan
(source, share, available, drawn, epochs, documents, output bytes) and writes `OUTPUT/mixture_NNNNN
.bin/.idx` (Megatron indexed dataset, `corpus/shards.py`), one JSON sidecar per shard and
`OUTPUT/manifest.json` (the series manifest plus the plan, the seed, and for every output shard the
draw ranges and source shards it took documents from). See docs/mixture.md.

Each output shard is computed from the plan alone (workers write shards independently, memory is
bounded by one shard), documents are never split, and documents of all sources are interleaved by
a seeded shuffle within each shard. Rerunning skips shards whose sidecar matches the plan and whose
files match their sha256; same inputs + seed give byte-identical files.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from corpus import shards as shardlib
from corpus.permute import Permutation, key_of
from mixture.plan import (
    DEFAULT_SHARES,
    Available,
    Plan,
    PlanError,
    format_bytes,
    load_mixture_file,
    make_plan,
    parse_assignments,
    parse_tokens,
)

PREFIX = "mixture"
CHUNK_TOKENS = 1 << 22  # tokens gathered per write (bounds the writer's buffer, 8 MiB for uint16)


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------
@dataclass
class SourceSeries:
    """One source's token series: its manifest and per-shard document counts."""

    name: str
    directory: Path
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


def find_inputs(root: Path) -> dict[str, SourceSeries]:
    """Every `root/<dir>/manifest.json`, keyed by the manifest's source name."""
    found: dict[str, SourceSeries] = {}
    if not root.is_dir():
        return found
    for path in sorted(root.glob(f"*/{shardlib.MANIFEST_NAME}")):
        manifest = shardlib.read_manifest(path)
        name = manifest.source or path.parent.name
        if name in found:
            raise PlanError(f"two inputs for {name}: {found[name].directory} and {path.parent}")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        found[name] = SourceSeries(name, path.parent, manifest, digest)
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


# --------------------------------------------------------------------------------------------
# Drawing: which documents a shard takes
# --------------------------------------------------------------------------------------------
def draws(seed: int, source: str, documents: int, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Document indices of draws [start, stop) of a source, and the pass each draw belongs to.

    Draw p is element p % n of pass p // n, pass q being the seeded permutation
    `Permutation(n, key_of(seed, source, q))` of the source's n documents.
    """
    parts, passes = [], []
    n = documents
    if stop <= start or n <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    for q in range(start // n, (stop - 1) // n + 1):
        lo, hi = max(start, q * n) - q * n, min(stop, (q + 1) * n) - q * n
        parts.append(Permutation(n, key_of(seed, source, q)).range(lo, hi))
        passes.append(np.full(hi - lo, q, dtype=np.int64))
    return np.concatenate(parts), np.concatenate(passes)


def shard_order(seed: int, shard: int, size: int) -> np.ndarray:
    """The seeded interleaving of a shard's documents across sources."""
    return np.random.default_rng(key_of(seed, "interleave", shard)).permutation(size)


# --------------------------------------------------------------------------------------------
# Writing one shard (runs in a worker)
# --------------------------------------------------------------------------------------------
class ShardJob:
    """Everything a worker needs to write any shard: the plan and the input series."""

    def __init__(self, plan: Plan, series: dict[str, SourceSeries], output: Path, dtype: str, digest: str):
        self.plan, self.series, self.output = plan, series, output
        self.dtype = np.dtype(dtype)
        self.plan_digest = digest
        self._readers: dict[str, list[shardlib.IndexedDataset]] = {}

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_readers"] = {}
        return state

    def readers(self, name: str) -> list[shardlib.IndexedDataset]:
        if name not in self._readers:
            s = self.series[name]
            self._readers[name] = [shardlib.IndexedDataset(p) for p in s.manifest.prefixes(s.directory)]
        return self._readers[name]

    def prefix(self, k: int) -> Path:
        return self.output / shardlib.shard_prefix(PREFIX, k)

    def finished(self, k: int) -> Optional[dict]:
        """The sidecar of shard k when the shard is complete, from this plan, and intact."""
        sidecar = Path(str(self.prefix(k)) + ".json")
        if not sidecar.exists():
            return None
        try:
            info = json.loads(sidecar.read_text())
        except ValueError:
            return None
        base = str(self.prefix(k))
        if info.get("plan_digest") != self.plan_digest:
            return None
        for suffix, key in ((".bin", "sha256"), (".idx", "idx_sha256")):
            if not os.path.exists(base + suffix) or shardlib.sha256_file(base + suffix) != info.get(key):
                return None
        return info

    def write(self, k: int) -> dict:
        done = self.finished(k)
        if done is not None:
            done["skipped"] = True
            return done
        plan = self.plan
        src_ids, doc_ids, sources = [], [], {}
        for i, sp in enumerate(plan.sources):
            a, b = plan.draw_range(i, k)
            docs, passes = draws(plan.seed, sp.source, sp.available_documents or 0, a, b)
            src_ids.append(np.full(docs.size, i, dtype=np.int64))
            doc_ids.append(docs)
            bounds = np.cumsum([0] + self.series[sp.source].shard_documents)
            which = np.searchsorted(bounds, docs, side="right") - 1
            names = [s["prefix"] for s in self.series[sp.source].manifest.shards]
            counts = np.bincount(which, minlength=len(names)) if docs.size else np.zeros(len(names), int)
            sources[sp.source] = {
                "draws": [int(a), int(b)],
                "passes": [int(passes.min()), int(passes.max())] if passes.size else [],
                "documents": int(docs.size),
                "tokens": 0,
                "source_shards": {names[j]: int(c) for j, c in enumerate(counts) if c},
            }
        src = np.concatenate(src_ids)
        doc = np.concatenate(doc_ids)
        order = shard_order(plan.seed, k, src.size)
        src, doc = src[order], doc[order]

        # Resolve (source, document) -> (reader, local index) once per source.
        shard_of = np.zeros(src.size, dtype=np.int64)
        local = np.zeros(src.size, dtype=np.int64)
        for i, sp in enumerate(plan.sources):
            mask = src == i
            bounds = np.cumsum([0] + self.series[sp.source].shard_documents)
            which = np.searchsorted(bounds, doc[mask], side="right") - 1
            shard_of[mask] = which
            local[mask] = doc[mask] - bounds[which]

        base = str(self.prefix(k))
        lengths = np.zeros(src.size, dtype=np.int64)
        digest = hashlib.sha256()
        tokens_by_source = np.zeros(len(plan.sources), dtype=np.int64)
        with open(base + ".bin.tmp", "wb") as handle:
            pending, pending_tokens = [], 0
            for j in range(src.size):
                reader = self.readers(plan.sources[src[j]].source)[shard_of[j]]
                piece = reader[int(local[j])]
                lengths[j] = piece.size
                tokens_by_source[src[j]] += piece.size
                pending.append(piece)
                pending_tokens += piece.size
                if pending_tokens >= CHUNK_TOKENS:
                    self._flush(handle, digest, pending)
                    pending, pending_tokens = [], 0
            self._flush(handle, digest, pending)
        index_bytes = shardlib.encode_index(self.dtype, lengths)
        Path(base + ".idx.tmp").write_bytes(index_bytes)
        os.replace(base + ".bin.tmp", base + ".bin")
        os.replace(base + ".idx.tmp", base + ".idx")
        for i, sp in enumerate(plan.sources):
            sources[sp.source]["tokens"] = int(tokens_by_source[i])
        total = int(lengths.sum())
        info = {
            "prefix": shardlib.shard_prefix(PREFIX, k),
            "documents": int(src.size),
            "tokens": total,
            "bytes": total * self.dtype.itemsize,
            "sha256": digest.hexdigest(),
            "idx_sha256": hashlib.sha256(index_bytes).hexdigest(),
            "continues_document": False,
            "sources": sources,
            "plan_digest": self.plan_digest,
        }
        tmp = Path(base + ".json.tmp")
        tmp.write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, base + ".json")
        info["skipped"] = False
        return info

    def _flush(self, handle, digest, pending: list) -> None:
        if not pending:
            return
        payload = np.concatenate(pending).astype(self.dtype.newbyteorder("<"), copy=False).tobytes()
        handle.write(payload)
        digest.update(payload)


_JOB: Optional[ShardJob] = None


def _init_worker(job: ShardJob) -> None:
    global _JOB
    _JOB = job


def _write_in_worker(k: int) -> dict:
    assert _JOB is not None
    return _JOB.write(k)


# --------------------------------------------------------------------------------------------
# Disk
# --------------------------------------------------------------------------------------------
def disk_free(path: Path) -> int:
    """Free bytes on the file system that holds `path` (or its nearest existing parent)."""
    path = Path(path).resolve()
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free


def plan_digest(plan: Plan, series: dict[str, SourceSeries]) -> str:
    key = {"plan": plan.to_dict(), "inputs": {s.name: s.manifest_sha256 for s in series.values()}, "prefix": PREFIX}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mixture.sample", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", required=True, help="total tokens to draw, with K/M/B/T suffixes (e.g. 1.4T)")
    parser.add_argument("--input", default="out/tokens", help="directory of per-source series (<source>/manifest.json)")
    parser.add_argument("--output", default="out/mixture", help="directory for the mixed shards and manifest.json")
    parser.add_argument("--mixture", help="YAML/JSON file {source: share} replacing LLaMA Table 1's proportions")
    parser.add_argument("--share", action="append", default=[], metavar="SRC=X",
                        help="override one share (fraction, weight or '4.5%%'); repeatable or comma-separated")
    parser.add_argument("--available", action="append", default=[], metavar="SRC=TOKENS",
                        help="plan with these source sizes instead of the manifests' (e.g. commoncrawl=853B); "
                             "planning only, implies --dry-run")
    parser.add_argument("--renormalise", "--renormalize", action="store_true",
                        help="drop mixture sources that have no input and rescale the others (default: refuse)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the document draws and the interleaving")
    parser.add_argument("--shard-tokens", default="128M", help="target tokens per output shard (default 128M)")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                        help="processes writing shards in parallel")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    return parser


def resolve_shares(args: argparse.Namespace) -> dict[str, float]:
    shares = dict(DEFAULT_SHARES)
    if args.mixture:
        shares = load_mixture_file(args.mixture)
    shares.update(parse_assignments(args.share))
    return shares


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _main(args)
    except PlanError as exc:
        print(f"mixture.sample: {exc}", file=sys.stderr)
        return 2


def _main(args: argparse.Namespace) -> int:
    try:
        total = parse_tokens(args.tokens)
        shard_tokens = parse_tokens(args.shard_tokens)
        shares = resolve_shares(args)
        overrides = parse_assignments(args.available, parse_value=parse_tokens)
    except ValueError as exc:
        raise PlanError(str(exc)) from exc
    series = find_inputs(Path(args.input))
    if overrides:
        available = {n: Available(t) for n, t in overrides.items()}
        itemsize = 2
    else:
        if not series:
            raise PlanError(f"no token shards under {args.input} (expected <source>/manifest.json from "
                            f"`python -m tokenizer.encode`); use --available SRC=TOKENS,... to plan without data")
        dtype, _, _ = check_compatible(list(series.values()))
        itemsize = np.dtype(dtype).itemsize
        available = {n: Available(s.tokens, s.documents) for n, s in series.items()}
    total_share = sum(v for v in shares.values() if v > 0)
    plan = make_plan(shares, total, available, seed=args.seed, shard_tokens=shard_tokens, itemsize=itemsize,
                     renormalise=args.renormalise)
    print(plan.table())
    if abs(total_share - 1) > 1e-6:
        print(f"note: shares summed to {total_share:g}; normalised to 1", file=sys.stderr)
    unused = sorted(set(series) - {s.source for s in plan.sources})
    if unused:
        print(f"note: inputs not in the mixture, ignored: {', '.join(unused)}", file=sys.stderr)
    if args.dry_run or overrides:
        if overrides and not args.dry_run:
            print("note: --available plans only (sizes are not the data's); nothing written", file=sys.stderr)
        return 0
    return write(plan, series, Path(args.output), workers=args.workers)


def write(plan: Plan, series: dict[str, SourceSeries], output: Path, workers: int = 1) -> int:
    used = {s.source: series[s.source] for s in plan.sources}
    dtype, vocab, tokenizer = check_compatible(list(used.values()))
    digest = plan_digest(plan, used)
    job = ShardJob(plan, used, output, dtype, digest)
    output.mkdir(parents=True, exist_ok=True)

    # Disk: what the shards not yet written need, against what is free.
    todo = [k for k in range(plan.num_shards) if not Path(str(job.prefix(k)) + ".json").exists()]
    needed = int(plan.output_bytes * len(todo) / plan.num_shards)
    free = disk_free(output)
    if needed > free:
        raise PlanError(
            f"not enough disk for the output: {len(todo)} shards need about {format_bytes(needed)} "
            f"({needed:,} bytes) at {output}, {format_bytes(free)} free; lower --tokens or free space"
        )
    _remove_stale(output, plan.num_shards)

    from tqdm import tqdm

    results: list[Optional[dict]] = [None] * plan.num_shards
    bar = tqdm(total=plan.expected_tokens, unit="tok", unit_scale=True, desc="mixture", disable=None, file=sys.stderr)
    if workers <= 1 or plan.num_shards == 1:
        iterator = map(job.write, range(plan.num_shards))
        pool = None
    else:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                                   initializer=_init_worker, initargs=(job,))
        iterator = pool.map(_write_in_worker, range(plan.num_shards), chunksize=1)
    skipped = 0
    try:
        for k, info in enumerate(iterator):
            skipped += bool(info.pop("skipped", False))
            results[k] = info
            bar.update(info["tokens"])
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown()

    shard_infos = []
    for info in results:
        assert info is not None
        info = dict(info)
        info.pop("plan_digest", None)
        shard_infos.append(info)
    manifest = shardlib.Manifest(
        source="mixture",
        documents=sum(s["documents"] for s in shard_infos),
        tokens=sum(s["tokens"] for s in shard_infos),
        bytes=sum(s["bytes"] for s in shard_infos),
        dtype=dtype,
        vocab_size=vocab,
        tokenizer_sha256=tokenizer,
        shards=shard_infos,
        extra={
            "seed": plan.seed,
            "plan": plan.to_dict(),
            "plan_digest": digest,
            "inputs": {
                s.name: {"directory": str(s.directory), "manifest_sha256": s.manifest_sha256,
                         "documents": s.documents, "tokens": s.tokens}
                for s in used.values()
            },
            "tokens_by_source": {
                sp.source: sum(s["sources"][sp.source]["tokens"] for s in shard_infos) for sp in plan.sources
            },
        },
    )
    shardlib.write_manifest(output, manifest)
    print(f"wrote {plan.num_shards - skipped} shards ({skipped} already done), {manifest.tokens:,} tokens, "
          f"{manifest.documents:,} documents -> {output / shardlib.MANIFEST_NAME}", file=sys.stderr)
    return 0


def _remove_stale(output: Path, num_shards: int) -> None:
    """Shards of an earlier, larger plan would be mistaken for part of this one."""
    for sidecar in output.glob(f"{PREFIX}_*.json"):
        try:
            k = int(sidecar.stem.rsplit("_", 1)[1])
        except ValueError:
            continue
        if k >= num_shards:
            for suffix in (".bin", ".idx", ".json"):
                Path(str(output / sidecar.stem) + suffix).unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
