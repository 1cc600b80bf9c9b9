"""Encode the corpus into token shards: one Megatron indexed-dataset series per source.

Reads the pipelines' documents (each --input directory's `documents/` shards, JSONL.gz/Parquet;
`rejected/` samples are never read), encodes every document with the trained SentencePiece model
([BOS] text [EOS], the convention the tokenizer's Hugging Face files declare; --no_bos, --no_eos),
and writes OUTPUT/<source>/<source>-BBBBB_KKKKK.{bin,idx} plus OUTPUT/<source>/manifest.json
(documents, tokens, bytes, shards with sha256, tokenizer sha256, dtype, vocab size) and
OUTPUT/stats.json (the ledger: documents in and written, tokens per source, files read and ignored).
Inputs, model and output may be local or remote (gs://, s3://, ...): every file goes through
`corpus.paths`.

Determinism: a document goes to bucket md5(id) % --num_buckets; inside a bucket documents are
written sorted by id, rolling over to a new shard at --max_tokens_per_shard. The same documents
and model give byte-identical shards whatever the runner's bundle order. One bucket is held in
a worker's memory while it is sorted and written, so raise --num_buckets with the corpus size
(e.g. one bucket per ~1B tokens); buckets are written in parallel.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import asdict
from typing import Any, BinaryIO, Iterable, Iterator, Optional, Sequence

import apache_beam as beam
import numpy as np

from corpus import paths, progress
from corpus.clihelp import DefaultsHelpFormatter
from corpus.document import Document
from corpus.docfiles import default_inputs, read_documents, scan_inputs, shard_of
from corpus.ledger import DOCUMENTS_IN, DOCUMENTS_WRITTEN, INFO, Ledger, Tally
from corpus.shards import DEFAULT_MAX_TOKENS_PER_SHARD, Manifest, ShardInfo, ShardWriter, write_manifest
from pipelines import runner
from pipelines.builder import LedgerSink
from pipelines.transforms import ReadFiles, info, tally
from tokenizer import train
from tokenizer.hf import DOCUMENT_BOS, DOCUMENT_EOS
from tokenizer.model import Encoder

NAME = "tokens"
DEFAULT_TOKENIZER = f"{train.DEFAULT_OUTPUT}/{train.MODEL_FILE}"
DEFAULT_OUTPUT = "out/tokens"
DEFAULT_NUM_BUCKETS = 1
SHARD_SUFFIXES = (".bin", ".idx", ".tmp")


class SourcedReader:
    """`read_documents` with the file's output directory as the source hint.

    The hints come from `docfiles.scan_inputs` on the launcher, so the encoder and the tokenizer
    trainer name sources alike."""

    def __init__(self, files: Sequence[tuple[str, str]]):
        self.hints = {path: hint for hint, path in files}

    def __call__(self, stream: BinaryIO, path: str) -> Iterator[Any]:
        return read_documents(stream, path, self.hints[path])


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
        self._encoder = Encoder.load(self._tokenizer, bos=self._bos, eos=self._eos)

    def process(self, doc: Document) -> Iterator[tuple[tuple[str, int], tuple[str, bytes]]]:
        tokens = self._encoder.encode(doc.text)  # type: ignore[union-attr]
        bucket = shard_of(doc.id, self._num_buckets) if self._num_buckets > 1 else 0
        yield (doc.source, bucket), (doc.id, tokens.tobytes())


class WriteBucketFn(beam.DoFn):
    """One (source, bucket) group -> its shard series, documents sorted by id.

    Output: (source, (bucket, documents, shards)) for the manifest, and the bucket's tallies
    (documents written, tokens). A remote series is written to a local temporary folder first
    and copied up through `corpus.paths`."""

    def __init__(self, output: str, vocab_size: int, dtype: str, max_tokens: int):
        self._output = output
        self._vocab_size = vocab_size
        self._dtype = dtype
        self._max_tokens = max_tokens

    def process(self, keyed: tuple[tuple[str, int], Iterable[tuple[str, bytes]]]) -> Iterator[Any]:
        (source, bucket), items = keyed
        directory = paths.join(self._output, source)
        prefix = series_prefix(source, bucket)
        _remove_stale_series(directory, prefix)
        remote = paths.is_remote(directory)
        local_dir = tempfile.mkdtemp(prefix="tokens-") if remote else paths.local_path(directory)
        try:
            with ShardWriter(local_dir, prefix, self._vocab_size, self._max_tokens, dtype=self._dtype) as writer:
                for _doc_id, payload in sorted(items):
                    writer.add(np.frombuffer(payload, dtype=self._dtype))
            if remote:
                for shard in writer.shards:
                    for name in (shard.bin_name, shard.idx_name):
                        paths.copy(paths.join(local_dir, name), paths.join(directory, name))
        finally:
            if remote:
                shutil.rmtree(local_dir, ignore_errors=True)
        progress.tick("written", writer.documents)
        yield tally(DOCUMENTS_WRITTEN, writer.documents)
        yield info("tokens", writer.tokens)
        yield source, (bucket, writer.documents, [asdict(s) for s in writer.shards])


def _remove_stale_series(directory: str, prefix: str) -> None:
    """Shards of this series left by an earlier run (a rerun may write fewer)."""
    for path in paths.list_files(directory):
        name = paths.basename(path)
        if name.startswith(prefix + "_") and name.endswith(SHARD_SUFFIXES):
            paths.delete(path)


class WriteManifestFn(beam.DoFn):
    """All buckets of one source -> OUTPUT/<source>/manifest.json; output: its tokens tally."""

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

    def process(self, keyed: tuple[str, Iterable[tuple[int, int, list[dict]]]]) -> Iterator[Tally]:
        source, parts = keyed
        parts = sorted(parts, key=lambda p: p[0])
        shards = [ShardInfo(**s) for _, _, infos in parts for s in infos]
        manifest = Manifest.build(
            source, shards, self._vocab_size, self._tokenizer_sha256,
            documents=sum(p[1] for p in parts), dtype=self._dtype, **self._extra,
        )
        write_manifest(paths.join(self._output, source), manifest)
        yield info(f"tokens_{source}", manifest.tokens)


def build(pipeline: beam.Pipeline, args: argparse.Namespace) -> None:
    """Read documents -> count in -> encode -> group by (source, bucket) -> write shards -> manifests,
    the ledger gathered beside them (`pipelines.builder.LedgerSink`) into OUTPUT/stats.json."""
    encoder = Encoder.load(args.tokenizer, bos=args.bos, eos=not args.no_eos)
    dtype = encoder.dtype.name
    inputs = scan_inputs(args.input)
    ledger = LedgerSink(NAME, args.output, {k: v for k, v in sorted(vars(args).items())})
    if inputs.ignored:  # stats.json and other files beside the documents
        ledger.add(pipeline | "Files ignored" >> beam.Create([Tally({INFO + "files_ignored": len(inputs.ignored)})]))
    reader = ReadFiles([path for _, path in inputs.documents], SourcedReader(inputs.documents))
    docs = ledger.take(pipeline | "Read documents" >> reader, "Read documents")
    ledger.add(docs | "Count in" >> beam.combiners.Count.Globally()
               | "documents_in" >> beam.Map(lambda n: Tally({DOCUMENTS_IN: n})))
    series = ledger.take(
        docs
        | "Encode" >> beam.ParDo(EncodeFn(args.tokenizer, args.bos, not args.no_eos, args.num_buckets))
        | "Group buckets" >> beam.GroupByKey()
        | "Write shards" >> beam.ParDo(WriteBucketFn(args.output, encoder.vocab_size, dtype,
                                                     args.max_tokens_per_shard)),
        "Write shards",
    )
    ledger.add(
        series
        | "Group sources" >> beam.GroupByKey()
        | "Write manifests" >> beam.ParDo(
            WriteManifestFn(args.output, encoder.vocab_size, dtype, args.tokenizer, encoder.sha256,
                            args.bos, not args.no_eos, args.max_tokens_per_shard, args.num_buckets))
    )
    ledger.finish(pipeline)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tokenizer.encode",
        description=__doc__,
        epilog=runner.BEAM_OPTIONS_HELP,
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument("--input", nargs="+", default=None,
                        help="documents directories/files/globs; default: every out/<source>/ that exists")
    parser.add_argument("--tokenizer", default=DEFAULT_TOKENIZER, help="SentencePiece model")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="output directory (one sub-directory per source)")
    runner.add_overwrite_flag(parser)
    parser.add_argument("--bos", action="store_true", default=DOCUMENT_BOS,
                        help="prepend BOS (<s>) to every document, as LLaMA did and the tokenizer's Hugging Face "
                             "files declare (on unless --no_bos)")
    parser.add_argument("--no_bos", dest="bos", action="store_false", help="do not prepend BOS")
    parser.add_argument("--no_eos", action="store_true", default=not DOCUMENT_EOS,
                        help="do not append EOS (</s>) to every document")
    parser.add_argument("--max_tokens_per_shard", type=int, default=DEFAULT_MAX_TOKENS_PER_SHARD,
                        help="roll over to a new .bin/.idx pair beyond this many tokens (documents are not split)")
    parser.add_argument("--num_buckets", type=int, default=DEFAULT_NUM_BUCKETS,
                        help="documents per source are spread over this many independently written series")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> Ledger:
    parser = make_parser()
    args, beam_argv = parser.parse_known_args(argv)
    if args.num_buckets < 1 or args.max_tokens_per_shard < 1:
        parser.error("--num_buckets and --max_tokens_per_shard must be positive")
    if not paths.exists(args.tokenizer):
        raise SystemExit(f"tokenizer.encode: --tokenizer {args.tokenizer} not found (python -m tokenizer.train)")
    args.input = args.input or default_inputs()
    ledger = runner.execute(NAME, lambda pipeline: build(pipeline, args), args.output, beam_argv,
                            overwrite=args.overwrite, prog=parser.prog)
    for name, value in sorted(ledger.info.items()):
        if name.startswith("tokens"):
            print(f"    {name}: {value:,}", file=sys.stderr)
    return ledger


if __name__ == "__main__":
    main()
