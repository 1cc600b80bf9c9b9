"""Mix per-source token shards into one stream of Megatron shards, by the LLaMA Table 1 proportions.

    python -m mixture.sample --tokens 1.4T --input out/tokens --output out/mixture
    python -m mixture.sample --tokens 1.4T --dry_run --available commoncrawl=853B,c4=198B,...

Reads `INPUT/<source>/manifest.json` (written by `python -m tokenizer.encode`), prints the plan
(source, share, available, drawn, epochs, documents, output bytes) and writes `OUTPUT/mixture_NNNNN
.bin/.idx` (Megatron indexed dataset, `corpus/shards.py`), one JSON sidecar per shard and
`OUTPUT/manifest.json` (the series manifest plus the plan, the seed, and for every output shard the
draw ranges and source shards it took documents from). See docs/mixture.md.

Each output shard is computed from the plan alone (workers write shards independently, memory is
bounded by one shard), documents are never split, and documents of all sources are interleaved by
a seeded shuffle within each shard. Rerunning skips shards whose sidecar matches the plan and whose
files match their sha256; same inputs + seed give byte-identical files. Input and output are local
(or mounted) directories: shards are read with positioned reads and written in place.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from corpus import paths
from corpus import shards as shardlib
from corpus.permute import Permutation, key_of
from mixture.plan import (
    DEFAULT_BLOCK_DOCS,
    DEFAULT_SEED,
    DEFAULT_SHARD_TOKENS,
    DEFAULT_SHARES,
    Available,
    Plan,
    PlanError,
    format_bytes,
    format_count,
    load_mixture_file,
    make_plan,
    parse_assignments,
    parse_tokens,
)

PREFIX = "mixture"
CHUNK_BYTES = 8 << 20  # bytes gathered per write: bounds the writer's buffer


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------
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


def find_inputs(root: str) -> dict[str, SourceSeries]:
    """Every `root/<dir>/manifest.json`, keyed by the manifest's source name."""
    found: dict[str, SourceSeries] = {}
    for path in paths.list_files(paths.join(root, "*", shardlib.MANIFEST_NAME)):
        manifest = shardlib.read_manifest(path)
        directory = paths.parent(path)
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


# --------------------------------------------------------------------------------------------
# Writing one shard (runs in a worker)
# --------------------------------------------------------------------------------------------
class ShardJob:
    """Everything a worker needs to write any shard: the plan and the input series."""

    def __init__(self, plan: Plan, series: dict[str, SourceSeries], output: Path, dtype: str, digest: str):
        self.plan, self.series, self.output = plan, series, output
        self.dtype = np.dtype(dtype)
        self.plan_digest = digest
        self._readers: dict[str, list[tuple[int, np.ndarray, np.ndarray]]] = {}

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_readers"] = {}
        return state

    def readers(self, name: str) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """Per source shard: (fd of the .bin, byte pointers, lengths). Ranges are read with
        preadv into the shard's buffer, not through a memory map, so resident memory is the
        shard being written however many input pages it touches."""
        if name not in self._readers:
            s = self.series[name]
            opened = []
            for prefix in s.manifest.prefixes(s.directory):
                ds = shardlib.IndexedDataset(prefix)
                opened.append((os.open(prefix + ".bin", os.O_RDONLY), ds.pointers, ds.document_lengths))
            self._readers[name] = opened
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
        """Write shard k (or find it already written): its sidecar's content, plus `skipped`."""
        done = self.finished(k)
        if done is not None:
            done["skipped"] = True
            return done
        segments, sources = self.segments(k)
        view, offsets, nbytes, owner = self.gather(segments)
        # Interleave the sources' documents by the shard's seeded shuffle.
        order = shard_order(self.plan.seed, k, owner.size)
        offsets, nbytes, owner = offsets[order], nbytes[order], owner[order]
        sha256, index_bytes = self.write_files(k, view, offsets, nbytes)
        lengths = nbytes // self.dtype.itemsize
        by_source = np.bincount(owner, weights=lengths, minlength=len(self.plan.sources)) if owner.size else None
        for i, sp in enumerate(self.plan.sources):
            sources[sp.source]["tokens"] = int(by_source[i]) if by_source is not None else 0
        total = int(lengths.sum())
        info = {
            "prefix": shardlib.shard_prefix(PREFIX, k),
            "documents": int(owner.size),
            "tokens": total,
            "bytes": total * self.dtype.itemsize,
            "sha256": sha256,
            "idx_sha256": hashlib.sha256(index_bytes).hexdigest(),
            "continues_document": False,
            "sources": sources,
            "plan_digest": self.plan_digest,
        }
        base = str(self.prefix(k))
        tmp = Path(base + ".json.tmp")
        tmp.write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, base + ".json")
        info["skipped"] = False
        return info

    def segments(self, k: int) -> tuple[list[tuple[int, int, int, int]], dict[str, dict]]:
        """What shard k reads: (source index, source shard, first document, end document) ranges,
        each within one source shard, and per source what it draws (the sidecar's `sources`)."""
        plan = self.plan
        segments: list[tuple[int, int, int, int]] = []
        sources: dict[str, dict] = {}
        for i, sp in enumerate(plan.sources):
            a, b = plan.draw_range(i, k)
            series = self.series[sp.source]
            begins, ends, passes = draw_ranges(plan.seed, sp.source, sp.available_documents or 0,
                                               plan.block_docs, a, b)
            bounds = np.cumsum([0] + series.shard_documents)
            names = [s["prefix"] for s in series.manifest.shards]
            ranges, per_shard = [], {}
            for g0, g1 in zip(begins.tolist(), ends.tolist()):
                while g0 < g1:
                    f = int(np.searchsorted(bounds, g0, side="right")) - 1
                    stop = min(g1, int(bounds[f + 1]))
                    local0, local1 = g0 - int(bounds[f]), stop - int(bounds[f])
                    segments.append((i, f, local0, local1))
                    ranges.append([names[f], local0, local1])
                    per_shard[names[f]] = per_shard.get(names[f], 0) + local1 - local0
                    g0 = stop
            sources[sp.source] = {
                "draws": [int(a), int(b)],
                "passes": [int(passes.min()), int(passes.max())] if passes.size else [],
                "documents": int(b - a),
                "tokens": 0,
                "source_shards": per_shard,
                "ranges": ranges,
            }
        return segments, sources

    def gather(self, segments: Sequence[tuple[int, int, int, int]]
               ) -> tuple[memoryview, np.ndarray, np.ndarray, np.ndarray]:
        """Read every range with one positioned read into one buffer (memory: one shard).
        Returns the buffer and, per document, its byte offset in it, its bytes and its source."""
        tables = [self.readers(sp.source) for sp in self.plan.sources]
        itemsize = self.dtype.itemsize
        spans = []
        for i, f, d0, d1 in segments:
            _, pointers, sizes = tables[i][f]
            spans.append((int(pointers[d0]), int(pointers[d1 - 1]) + int(sizes[d1 - 1]) * itemsize))
        view = memoryview(bytearray(sum(e - s for s, e in spans)))
        offsets, nbytes, owner = [], [], []
        pos = 0
        for (i, f, d0, d1), (s, e) in zip(segments, spans):
            fd, pointers, sizes = tables[i][f]
            _read_into(fd, view[pos : pos + e - s], s)
            offsets.append(np.asarray(pointers[d0:d1], dtype=np.int64) - s + pos)
            nbytes.append(np.asarray(sizes[d0:d1], dtype=np.int64) * itemsize)
            owner.append(np.full(d1 - d0, i, dtype=np.int64))
            pos += e - s
        return view, _concat(offsets), _concat(nbytes), _concat(owner)

    def write_files(self, k: int, view: memoryview, offsets: np.ndarray, nbytes: np.ndarray) -> tuple[str, bytes]:
        """Shard k's .bin (the documents in this order) and .idx, each renamed into place when
        complete; returns the .bin's sha256 and the .idx bytes."""
        base = str(self.prefix(k))
        digest = hashlib.sha256()
        # Double buffering: a helper thread writes and hashes chunk c (both release the GIL) while
        # this thread gathers chunk c + 1.
        with open(base + ".bin.tmp", "wb") as handle, ThreadPoolExecutor(max_workers=1) as io:
            cumulative = np.cumsum(nbytes)
            start, pending = 0, None
            while start < nbytes.size:
                # Documents up to ~CHUNK_BYTES per write.
                stop = max(start + 1, int(np.searchsorted(cumulative, (cumulative[start] - nbytes[start]) + CHUNK_BYTES)))
                payload = b"".join([view[o : o + n] for o, n in
                                    zip(offsets[start:stop].tolist(), nbytes[start:stop].tolist())])
                if pending is not None:
                    pending.result()
                pending = io.submit(self._flush, handle, digest, payload)
                start = stop
            if pending is not None:
                pending.result()
        index_bytes = shardlib.encode_index(self.dtype, nbytes // self.dtype.itemsize)
        Path(base + ".idx.tmp").write_bytes(index_bytes)
        os.replace(base + ".bin.tmp", base + ".bin")
        os.replace(base + ".idx.tmp", base + ".idx")
        return digest.hexdigest(), index_bytes

    @staticmethod
    def _flush(handle, digest, payload: bytes) -> None:
        handle.write(payload)
        digest.update(payload)


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _read_into(fd: int, view: memoryview, offset: int) -> None:
    """Fill `view` from `fd` at `offset` (preadv may return short counts for large reads)."""
    done = 0
    while done < len(view):
        got = os.preadv(fd, [view[done:]], offset + done)
        if got <= 0:
            raise OSError(f"short read at byte {offset + done} of a source shard")
        done += got


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
                             "planning only, nothing is written")
    parser.add_argument("--renormalise", "--renormalize", action="store_true",
                        help="drop mixture sources that have no input and rescale the others (default: refuse)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the document draws and the interleaving")
    parser.add_argument("--shard_tokens", default=format_count(DEFAULT_SHARD_TOKENS),
                        help="target tokens per output shard (default %(default)s)")
    parser.add_argument("--block_docs", type=int, default=DEFAULT_BLOCK_DOCS,
                        help="documents per block of the seeded per-pass block permutation (reads are per block)")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                        help="processes writing shards in parallel")
    # The one flag with two spellings: the spec names `python -m mixture.sample --tokens 1.4T --dry-run`
    # as a user command, so the hyphen form is kept next to the house underscore style.
    parser.add_argument("--dry_run", "--dry-run", action="store_true",
                        help="print the plan and stop (--dry-run is accepted too, as the spec writes it)")
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
    for flag, value in (("--input", args.input), ("--output", args.output)):
        if paths.is_remote(value):
            raise PlanError(f"{flag} {value}: token series are read and written with positioned reads and "
                            "writes; give a local (or mounted) directory")
    series = find_inputs(args.input)
    itemsize = 2
    available: dict[str, Available] = {}
    if series:
        dtype, _, _ = check_compatible(list(series.values()))
        itemsize = np.dtype(dtype).itemsize
        available = {n: Available(s.tokens, s.documents) for n, s in series.items()}
    elif not overrides:
        raise PlanError(f"no token shards under {args.input} (expected <source>/manifest.json from "
                        f"`python -m tokenizer.encode`); use --available SRC=TOKENS,... to plan without data")
    # --available replaces (or adds) sizes for planning; documents are then unknown.
    available.update({n: Available(t) for n, t in overrides.items()})
    total_share = sum(v for v in shares.values() if v > 0)
    plan = make_plan(shares, total, available, seed=args.seed, shard_tokens=shard_tokens, itemsize=itemsize,
                     renormalise=args.renormalise, block_docs=args.block_docs)
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
    _remove_stale_shards(output, plan.num_shards)
    results, skipped = write_shards(job, workers)
    manifest = mixture_manifest(plan, used, results, digest, dtype, vocab, tokenizer)
    shardlib.write_manifest(output, manifest)
    print(f"wrote {plan.num_shards - skipped} shards ({skipped} already done), {manifest.tokens:,} tokens, "
          f"{manifest.documents:,} documents -> {output / shardlib.MANIFEST_NAME}", file=sys.stderr)
    return 0


def write_shards(job: ShardJob, workers: int) -> tuple[list[dict], int]:
    """Every shard's sidecar content in order (written by `workers` processes), and how many
    were already done; a progress bar of the tokens on stderr."""
    from tqdm import tqdm

    num_shards = job.plan.num_shards
    results: list[dict] = []
    bar = tqdm(total=job.plan.expected_tokens, unit="tok", unit_scale=True, desc="mixture", disable=None,
               file=sys.stderr)
    if workers <= 1 or num_shards == 1:
        iterator = map(job.write, range(num_shards))
        pool = None
    else:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                                   initializer=_init_worker, initargs=(job,))
        iterator = pool.map(_write_in_worker, range(num_shards), chunksize=1)
    skipped = 0
    try:
        for info in iterator:
            skipped += bool(info.pop("skipped", False))
            results.append(info)
            bar.update(info["tokens"])
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown()
    return results, skipped


def mixture_manifest(plan: Plan, used: dict[str, SourceSeries], results: Sequence[dict], digest: str,
                     dtype: str, vocab: int, tokenizer: str) -> shardlib.Manifest:
    """OUTPUT/manifest.json: the series manifest plus the plan, the seed and the inputs."""
    shard_infos = []
    for info in results:
        info = dict(info)
        info.pop("plan_digest", None)
        # The document ranges stay in the shard's sidecar (hundreds per shard); the manifest
        # keeps the draw ranges and per-source-shard counts, and names the sidecar.
        info["sources"] = {name: {k: v for k, v in src.items() if k != "ranges"} for name, src in info["sources"].items()}
        info["detail"] = info["prefix"] + ".json"
        shard_infos.append(info)
    return shardlib.Manifest(
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


def _remove_stale_shards(output: Path, num_shards: int) -> None:
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
