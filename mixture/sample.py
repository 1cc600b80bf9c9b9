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
files match their sha256; same inputs + seed give byte-identical files.

Honest output: input shards are verified against their manifests' sha256 first (`--no_verify`
skips it); every write, fsync and close is checked, and a failure (ENOSPC included) exits 1 with
no manifest and no shard under a final name that is not complete. Temporary names are unique per
writer, so two runs into one OUTPUT both finish; workers die with the sampler (PR_SET_PDEATHSIG).
Input and output may be remote (`s3://`, `gs://`, ...): remote inputs are staged to `--stage_dir`
(shards are read with positioned reads), and each finished shard is uploaded, its sidecar last.
"""
from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import ExitStack
from multiprocessing import get_context
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from corpus import paths
from corpus import shards as shardlib
from corpus.clihelp import DefaultsHelpFormatter
from mixture.inputs import SourceSeries, check_compatible, find_inputs, prepare
from mixture.plan import (
    DEFAULT_BLOCK_DOCS,
    DEFAULT_SEED,
    DEFAULT_SHARD_TOKENS,
    DEFAULT_SHARES,
    Available,
    Plan,
    PlanError,
    draw_ranges,
    format_bytes,
    format_count,
    load_mixture_file,
    make_plan,
    parse_assignments,
    parse_tokens,
    shard_order,
)

PREFIX = "mixture"
CHUNK_BYTES = 8 << 20  # bytes gathered per write: bounds the writer's buffer


# --------------------------------------------------------------------------------------------
# Writing one shard (runs in a worker)
# --------------------------------------------------------------------------------------------
class ShardJob:
    """Everything a worker needs to write any shard: the plan and the input series."""

    def __init__(self, plan: Plan, series: dict[str, SourceSeries], output: Path, dtype: str, digest: str,
                 remote: Optional[str] = None):
        """`output` is where shards are written; with `remote` (an object-store folder) it is a
        local staging folder and each finished shard is uploaded there, its sidecar last."""
        self.plan, self.series, self.output, self.remote = plan, series, output, remote
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

    def final(self, k: int, suffix: str) -> str:
        """Where shard k's file with `suffix` ends up (local, or the remote folder)."""
        name = shardlib.shard_prefix(PREFIX, k) + suffix
        return paths.join(self.remote, name) if self.remote else str(self.output / name)

    def finished(self, k: int) -> Optional[dict]:
        """The sidecar of shard k when the shard is complete, from this plan, and intact."""
        sidecar = self.final(k, ".json")
        try:
            info = json.loads(paths.read_text(sidecar))
        except (OSError, ValueError):
            return None
        if not isinstance(info, dict) or info.get("plan_digest") != self.plan_digest:
            return None
        for suffix, key in ((".bin", "sha256"), (".idx", "idx_sha256")):
            path = self.final(k, suffix)
            if not paths.exists(path) or shardlib.sha256_file(path) != info.get(key):
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
        sidecar = json.dumps(info, indent=1, sort_keys=True) + "\n"
        try:
            if self.remote:
                # Upload the shard's files, the sidecar (its mark of completion) last.
                for suffix in (".bin", ".idx"):
                    paths.copy(str(self.prefix(k)) + suffix, self.final(k, suffix))
            paths.write_text_atomically(self.final(k, ".json"), sidecar)
        except BaseException:
            # No sidecar: the shard's files must not stay behind looking finished.
            for suffix in (".bin", ".idx"):
                paths.delete(self.final(k, suffix))
            raise
        finally:
            if self.remote:
                for suffix in (".bin", ".idx"):
                    Path(str(self.prefix(k)) + suffix).unlink(missing_ok=True)
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
        """Shard k's .bin (the documents in this order) and .idx, each under this writer's own
        temporary name, every write, fsync and close checked, renamed into place only when both
        are complete (a failure removes them); returns the .bin's sha256 and the .idx bytes."""
        base = str(self.prefix(k))
        digest = hashlib.sha256()
        index_bytes = shardlib.encode_index(self.dtype, nbytes // self.dtype.itemsize)
        tmp = {suffix: paths.temp_name(base + suffix) for suffix in (".bin", ".idx")}
        try:
            # Double buffering: a helper thread writes and hashes chunk c (both release the GIL)
            # while this thread gathers chunk c + 1.
            with open(tmp[".bin"], "wb") as handle, ThreadPoolExecutor(max_workers=1) as io:
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
                handle.flush()
                os.fsync(handle.fileno())
            with open(tmp[".idx"], "wb") as handle:
                handle.write(index_bytes)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp[".bin"], base + ".bin")
            placed = [base + ".bin"]
            os.replace(tmp[".idx"], base + ".idx")
        except BaseException:
            for path in (*tmp.values(), *locals().get("placed", [])):
                Path(path).unlink(missing_ok=True)
            raise
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


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this worker when the sampler dies (even by kill -9), so no orphan keeps
    writing into OUTPUT; elsewhere than Linux, or if the parent is already gone, exit now."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)


def _init_worker(job: ShardJob, parent: int) -> None:
    global _JOB
    _die_with_parent(parent)
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
    parser = argparse.ArgumentParser(prog="python -m mixture.sample", description=__doc__,
                                     formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--tokens", required=True, help="total tokens to draw, with K/M/B/T suffixes (e.g. 1.4T)")
    parser.add_argument("--input", default="out/tokens",
                        help="directory of per-source series (<source>/manifest.json), local or remote (staged)")
    parser.add_argument("--output", default="out/mixture",
                        help="directory for the mixed shards and manifest.json, local or remote")
    parser.add_argument("--no_verify", action="store_true",
                        help="skip checking the input shards' sha256 and token ids against their manifests")
    parser.add_argument("--stage_dir", default=None,
                        help="local folder for remote inputs and outputs in transit (default: the system "
                             "temporary folder); needs the inputs' size plus one shard per worker")
    parser.add_argument("--mixture", help="YAML/JSON file {source: share} replacing LLaMA Table 1's proportions")
    parser.add_argument("--share", action="append", default=None, metavar="SRC=X",
                        help="override one share (fraction, weight or '4.5%%'); repeatable or comma-separated")
    parser.add_argument("--available", action="append", default=None, metavar="SRC=TOKENS",
                        help="plan with these source sizes instead of the manifests' (e.g. commoncrawl=853B); "
                             "planning only, nothing is written")
    parser.add_argument("--renormalise", "--renormalize", action="store_true",
                        help="drop mixture sources that have no input and rescale the others (default: refuse)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the document draws and the interleaving")
    parser.add_argument("--shard_tokens", default=format_count(DEFAULT_SHARD_TOKENS),
                        help="target tokens per output shard")
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
    shares.update(parse_assignments(args.share or []))
    return shares


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _main(args)
    except PlanError as exc:
        print(f"mixture.sample: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a failed read, write or upload (ENOSPC included): no manifest was written
        print(f"mixture.sample: failed, no manifest written: {exc}", file=sys.stderr)
        return 1


def _main(args: argparse.Namespace) -> int:
    try:
        total = parse_tokens(args.tokens)
        shard_tokens = parse_tokens(args.shard_tokens)
        shares = resolve_shares(args)
        overrides = parse_assignments(args.available or [], parse_value=parse_tokens)
    except ValueError as exc:
        raise PlanError(str(exc)) from exc
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
    return write(plan, series, args.output, workers=args.workers, verify=not args.no_verify,
                 stage_dir=args.stage_dir)


def write(plan: Plan, series: dict[str, SourceSeries], output: str | Path, workers: int = 1, verify: bool = True,
          stage_dir: Optional[str] = None) -> int:
    """Verify (and stage) the inputs, write every shard not yet done, then the manifest, last."""
    output = str(output)
    remote = paths.is_remote(output)
    used = {s.source: series[s.source] for s in plan.sources}
    dtype, vocab, tokenizer = check_compatible(list(used.values()))
    digest = plan_digest(plan, used)
    staging = remote or any(paths.is_remote(s.directory) for s in used.values())
    with ExitStack() as stack:
        stage = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mixture-stage-", dir=stage_dir))) \
            if staging else None
        local_out = stage / "output" if stage is not None and remote else Path(paths.local_path(output))
        job = ShardJob(plan, used, local_out, dtype, digest, remote=output if remote else None)
        todo = [k for k in range(plan.num_shards) if not paths.exists(job.final(k, ".json"))]
        _check_disk(plan, used, todo, local_out, stage, workers, remote)
        job.series = prepare(used, stage / "inputs" if stage is not None else None, verify, workers)
        local_out.mkdir(parents=True, exist_ok=True)
        # A run that fails from here on leaves no manifest: the folder never looks finished.
        paths.delete(paths.join(output, shardlib.MANIFEST_NAME))
        _remove_stale(output, plan.num_shards)
        results, skipped = write_shards(job, workers)
        manifest = mixture_manifest(plan, used, results, digest, dtype, vocab, tokenizer)
        shardlib.write_manifest(output, manifest)
    print(f"wrote {plan.num_shards - skipped} shards ({skipped} already done), {manifest.tokens:,} tokens, "
          f"{manifest.documents:,} documents -> {paths.join(output, shardlib.MANIFEST_NAME)}", file=sys.stderr)
    return 0


def _check_disk(plan: Plan, used: dict[str, SourceSeries], todo: list[int], local_out: Path,
                stage: Optional[Path], workers: int, remote: bool) -> None:
    """Refuse before writing when the local disk cannot hold what the run puts there: the shards
    not yet written (local output) or one shard per worker in transit (remote output), plus the
    staged remote inputs."""
    per_shard = plan.output_bytes / plan.num_shards
    needed = int(per_shard * (min(workers, len(todo)) if remote else len(todo)))
    needed += sum(s.bytes for s in used.values() if paths.is_remote(s.directory))
    where = stage if stage is not None else local_out
    free = disk_free(where)
    if needed > free:
        raise PlanError(
            f"not enough disk for the output: {len(todo)} shards need about {format_bytes(needed)} "
            f"({needed:,} bytes) at {where}, {format_bytes(free)} free; lower --tokens, free space or "
            f"give --stage_dir on a larger disk"
        )


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
                                   initializer=_init_worker, initargs=(job, os.getpid()))
        iterator = pool.map(_write_in_worker, range(num_shards), chunksize=1)
    skipped, failed = 0, True
    try:
        for info in iterator:
            skipped += bool(info.pop("skipped", False))
            results.append(info)
            bar.update(info["tokens"])
        failed = False
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(cancel_futures=failed)  # on a failure, no new shard starts
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


def _remove_stale(output: str, num_shards: int) -> None:
    """Shards of an earlier, larger plan would be mistaken for part of this one; temporary files
    of writers that are gone (their pid is in the name) are debris. Live writers' files stay."""
    for path in paths.list_files(output):
        name = paths.basename(path)
        if not name.startswith(PREFIX + "_"):
            continue
        if name.endswith(".tmp"):
            if not paths.is_remote(path) and not _writer_alive(name):
                paths.delete(path)
            continue
        try:
            k = int(name[len(PREFIX) + 1:].split(".", 1)[0])
        except ValueError:
            continue
        if k >= num_shards:
            paths.delete(path)


def _writer_alive(name: str) -> bool:
    """Whether the process named in a `paths.temp_name` (`...{pid}-{random}.tmp`) still runs."""
    try:
        pid = int(name.rsplit(".", 2)[-2].split("-", 1)[0])
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


if __name__ == "__main__":
    sys.exit(main())
