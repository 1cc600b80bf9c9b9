"""Encode the corpus into token shards: one Megatron indexed-dataset series per source.

Reads the pipelines' document shards (JSONL.gz/Parquet under each --input directory), encodes
every document with the trained SentencePiece model (EOS appended; BOS prepended with --bos),
and writes OUTPUT/<source>/<source>-BBBBB_KKKKK.{bin,idx} plus OUTPUT/<source>/manifest.json
(documents, tokens, bytes, shards with sha256, tokenizer sha256, dtype, vocab size) and
OUTPUT/stats.json.

Determinism: a document goes to bucket md5(id) % --num_buckets; inside a bucket documents are
written sorted by id, rolling over to a new shard at --max_tokens_per_shard. The same documents
and model give byte-identical shards whatever the runner's bundle order. One bucket is held in
a worker's memory while it is sorted and written, so raise --num_buckets with the corpus size
(e.g. one bucket per ~1B tokens); buckets are written in parallel.
"""
from __future__ import annotations

import argparse
from dataclasses import asdict
import os
import shutil
import sys
import tempfile
from typing import Any, BinaryIO, Iterable, Iterator, Optional, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems

from corpus.document import Document
from corpus.ledger import DOCUMENTS_WRITTEN, Ledger
from corpus.shards import Manifest, ShardInfo, ShardWriter, write_manifest
from pipelines.runner import BEAM_OPTIONS_HELP, execute, expand_inputs
from pipelines.transforms import CountIn, ReadFiles, count, count_info, shard_of
from corpus.docfiles import default_inputs, is_document_file, read_documents
from tokenizer.model import Encoder, read_bytes

DEFAULT_MAX_TOKENS = 1 << 30  # 2 GiB of uint16 per .bin


def read_documents_with_source(stream: BinaryIO, path: str) -> Iterator[Any]:
    """`read_documents`, with the parent directory's name as source when a document has none."""
    hint = os.path.basename(os.path.dirname(path.rstrip("/")))
    for item in read_documents(stream, path):
        if isinstance(item, Document) and not item.source:
            item = Document(item.id, item.text, hint, item.added, item.metadata)
        yield item


def series_prefix(source: str, bucket: int) -> str:
    return f"{source}-{bucket:05d}"


class EncodeFn(beam.DoFn):
    """Document -> ((source, bucket), (id, token bytes)); the model is loaded once per worker."""

    def __init__(self, tokenizer: str, bos: bool, eos: bool, num_buckets: int):
        self._tokenizer = tokenizer
        self._bos, self._eos = bos, eos
        self._num_buckets = num_buckets
        self._encoder: Optional[Encoder] = None

    def setup(self) -> None:
        self._encoder = Encoder(read_bytes(self._tokenizer), bos=self._bos, eos=self._eos)

    def process(self, doc: Document) -> Iterator[tuple[tuple[str, int], tuple[str, bytes]]]:
        tokens = self._encoder.encode(doc.text)  # type: ignore[union-attr]
        count_info("tokens", int(tokens.size))
        bucket = shard_of(doc.id, self._num_buckets) if self._num_buckets > 1 else 0
        yield (doc.source, bucket), (doc.id, tokens.tobytes())


class WriteBucketFn(beam.DoFn):
    """One (source, bucket) group -> its shard series, documents sorted by id."""

    def __init__(self, output: str, vocab_size: int, dtype: str, max_tokens: int):
        self._output = output
        self._vocab_size = vocab_size
        self._dtype = dtype
        self._max_tokens = max_tokens

    def process(self, keyed: tuple[tuple[str, int], Iterable[tuple[str, bytes]]]) -> Iterator[Any]:
        (source, bucket), items = keyed
        ordered = sorted(items)
        directory = FileSystems.join(self._output, source)
        remote = "://" in self._output
        local_dir = tempfile.mkdtemp(prefix="tokens-") if remote else directory
        prefix = series_prefix(source, bucket)
        if not remote:
            _remove_stale(local_dir, prefix)
        try:
            with ShardWriter(local_dir, prefix, self._vocab_size, self._max_tokens, dtype=self._dtype) as writer:
                for _doc_id, payload in ordered:
                    writer.add(np.frombuffer(payload, dtype=self._dtype))
            if remote:
                for shard in writer.shards:
                    for name in (shard.bin_name, shard.idx_name):
                        _upload(os.path.join(local_dir, name), FileSystems.join(directory, name))
        finally:
            if remote:
                shutil.rmtree(local_dir, ignore_errors=True)
        count(DOCUMENTS_WRITTEN, writer.documents)
        yield source, (bucket, writer.documents, [asdict(s) for s in writer.shards])


def _remove_stale(directory: str, prefix: str) -> None:
    """Shards of this series left by an earlier run (a rerun may write fewer)."""
    if not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        if name.startswith(prefix + "_") and name.endswith((".bin", ".idx", ".tmp")):
            os.unlink(os.path.join(directory, name))


def _upload(local: str, remote: str) -> None:
    with open(local, "rb") as src, FileSystems.create(remote) as dst:
        shutil.copyfileobj(src, dst, 1 << 22)


class WriteManifestFn(beam.DoFn):
    """All buckets of one source -> OUTPUT/<source>/manifest.json."""

    def __init__(self, output: str, vocab_size: int, dtype: str, tokenizer: str, tokenizer_sha256: str,
                 bos: bool, eos: bool, max_tokens: int, num_buckets: int):
        self._output = output
        self._vocab_size = vocab_size
        self._dtype = dtype
        self._extra = {
            "tokenizer": tokenizer,
            "bos": bos,
            "eos": eos,
            "max_tokens_per_shard": max_tokens,
            "num_buckets": num_buckets,
            "order": "bucket md5(id) % num_buckets, then id",
        }
        self._tokenizer_sha256 = tokenizer_sha256

    def process(self, keyed: tuple[str, Iterable[tuple[int, int, list[dict]]]]) -> Iterator[str]:
        source, parts = keyed
        parts = sorted(parts, key=lambda p: p[0])
        shards = [ShardInfo(**s) for _, _, infos in parts for s in infos]
        manifest = Manifest.build(
            source, shards, self._vocab_size, self._tokenizer_sha256,
            documents=sum(p[1] for p in parts), dtype=self._dtype, **self._extra,
        )
        directory = FileSystems.join(self._output, source)
        if "://" in self._output:
            with FileSystems.create(FileSystems.join(directory, "manifest.json")) as handle:
                handle.write(manifest.to_json().encode("utf-8"))
        else:
            write_manifest(directory, manifest)
        count_info(f"tokens_{source}", manifest.tokens)
        yield source


def build(pipeline: beam.Pipeline, args: argparse.Namespace) -> None:
    """Read documents -> count in -> encode -> group by (source, bucket) -> write shards -> manifests."""
    encoder = Encoder(read_bytes(args.tokenizer), bos=args.bos, eos=not args.no_eos)
    dtype = encoder.dtype.name
    _ = (
        pipeline
        | "Read documents" >> ReadFiles(args.input, read_documents_with_source, accept=is_document_file)
        | "Count in" >> CountIn()
        | "Encode" >> beam.ParDo(EncodeFn(args.tokenizer, args.bos, not args.no_eos, args.num_buckets))
        | "Group buckets" >> beam.GroupByKey()
        | "Write shards" >> beam.ParDo(WriteBucketFn(args.output, encoder.vocab_size, dtype, args.max_tokens_per_shard))
        | "Group sources" >> beam.GroupByKey()
        | "Write manifests" >> beam.ParDo(
            WriteManifestFn(args.output, encoder.vocab_size, dtype, args.tokenizer, encoder.sha256,
                            args.bos, not args.no_eos, args.max_tokens_per_shard, args.num_buckets)
        )
    )


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tokenizer.encode",
        description=__doc__,
        epilog=BEAM_OPTIONS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--input", nargs="+", default=None,
                        help="documents directories/files/globs; default: every out/<source>/ that exists")
    parser.add_argument("--tokenizer", default="out/tokenizer/tokenizer.model", help="SentencePiece model")
    parser.add_argument("--output", default="out/tokens", help="output directory (one sub-directory per source)")
    parser.add_argument("--bos", action="store_true", help="prepend BOS (<s>) to every document (LLaMA-style training adds it)")
    parser.add_argument("--no_eos", action="store_true", help="do not append EOS (</s>) to every document")
    parser.add_argument("--max_tokens_per_shard", type=int, default=DEFAULT_MAX_TOKENS,
                        help="roll over to a new .bin/.idx pair beyond this many tokens (documents are not split)")
    parser.add_argument("--num_buckets", type=int, default=1,
                        help="documents per source are spread over this many independently written series")
    return parser


def run(argv: Optional[Sequence[str]] = None) -> Ledger:
    parser = make_parser()
    args, beam_argv = parser.parse_known_args(argv)
    if args.num_buckets < 1 or args.max_tokens_per_shard < 1:
        parser.error("--num_buckets and --max_tokens_per_shard must be positive")
    args.input = expand_inputs(args.input or default_inputs())
    ledger = execute("tokens", build, args, beam_argv)
    for name, value in sorted(ledger.info.items()):
        if name.startswith("tokens"):
            print(f"    {name}: {value:,}", file=sys.stderr)
    return ledger


def main(argv: Optional[Sequence[str]] = None) -> Ledger:
    return run(argv)


if __name__ == "__main__":
    main()
