"""Cross-source near-dedup: one Beam job over the sources' outputs, removing near-duplicate
documents across and within them and keeping, of each cluster, the copy from the source earliest in
`--priority` (C4 and CommonCrawl both come from Common Crawl; Wikipedia pages are mirrored on the
web; RedPajama's users ask for it). See docs/crossdedup.md.

    python -m pipelines.crossdedup --input out/wikipedia out/books out/c4 out/commoncrawl --output out/dedup

Each input is a pipeline output directory (`<dir>/documents/*`); the directory's name is its
source. Output, per source, the same layout as a source pipeline (the tokenizer and the mixture
read it as they read `out/<source>/`):

    OUTPUT/<source>/documents/documents-XXXXX-of-NNNNN.{jsonl.gz,parquet}
    OUTPUT/<source>/rejected/near_duplicate_of_<kept source>.jsonl.gz
    OUTPUT/<source>/stats.json       documents_in = documents_written + dropped, per source
"""
from __future__ import annotations

import argparse
from typing import Any, BinaryIO, Iterator, Optional, Sequence

import apache_beam as beam

from corpus import paths
from corpus.docfiles import DOCUMENTS_DIR, default_inputs, read_documents, scan_inputs
from corpus.document import Document
from corpus.fileio import ReadError
from corpus.ledger import DOCUMENTS_IN, INFO, Ledger, Rejected, Tally
from corpus.minhash import MinHashParams
from corpus.step import add_params, params_from
from pipelines import builder, runner
from pipelines.builder import LedgerSink
from pipelines.neardedup import NearDedup
from pipelines.transforms import ReadFiles, WriteDocuments, split

NAME = "crossdedup"
DEFAULT_OUTPUT = "out/dedup"
DEFAULT_PRIORITY = ("wikipedia", "books", "arxiv", "stackexchange", "github", "c4", "commoncrawl")
REASON_PREFIX = "near_duplicate_of_"


def source_of(doc_id: str) -> str:
    """The source part of an id made by `corpus.document.make_id` (`source/digest`)."""
    return doc_id.split("/", 1)[0]


class Priority:
    """The keep-order across sources: a document's rank is its source's place in the priority
    list (sources not listed come after all listed ones), then its id. Picklable, no lambdas."""

    def __init__(self, order: Sequence[str]):
        self._place = {name: i for i, name in enumerate(order)}

    def place(self, source: str) -> int:
        return self._place.get(source, len(self._place))

    def __call__(self, doc_id: str) -> int:
        return self.place(source_of(doc_id))


def reason_of(kept_id: str) -> str:
    return REASON_PREFIX + source_of(kept_id)


class SourceReader:
    """`read_documents` for one input directory: a document without a `source` gets the
    directory's name; one that names another source is an input fault (`error:source_mismatch`),
    since its output directory would be ambiguous."""

    def __init__(self, source: str):
        self.source = source

    def __call__(self, stream: BinaryIO, path: str) -> Iterator[Any]:
        for item in read_documents(stream, path, self.source):
            if isinstance(item, Document) and item.source != self.source:
                item = ReadError("source_mismatch", path, f"{item.id}: source {item.source!r}")
            yield item


def sources_of(inputs: Sequence[str], priority: Sequence[str]) -> tuple[dict[str, list[str]], dict[str, int]]:
    """({source: its document files}, {source: files ignored}), sources in priority order."""
    found = scan_inputs(inputs)
    files: dict[str, list[str]] = {}
    for hint, path in found.documents:
        files.setdefault(hint, []).append(path)
    ignored: dict[str, int] = {}
    for path in found.ignored:
        hint = paths.basename(paths.parent(path))
        if hint in files:
            ignored[hint] = ignored.get(hint, 0) + 1
    place = Priority(priority).place
    return {name: files[name] for name in sorted(files, key=lambda s: (place(s), s))}, ignored


class _Ledger(beam.PTransform):
    """One source's ledger from its parts (streams of `Tally`/`Rejected`), under its own label:
    each `LedgerSink` names its stages alike, so each needs a composite of its own."""

    def __init__(self, source: str, output: str, options: dict[str, Any], rejected_samples: Any):
        super().__init__()
        self._sink = LedgerSink(source, output, options)
        self._samples = rejected_samples

    def expand(self, parts: tuple[beam.PCollection, ...]) -> Any:
        for part in parts:
            self._sink.add(part)
        return self._sink.finish(parts[0].pipeline, self._samples)


def _belongs(item: Any, source: str, first: bool) -> bool:
    """Which ledger an item of the near-dedup stream goes to: a `Rejected` to its document's
    source; the job-wide `info:near_dedup_*` tallies to the first (highest-priority) source."""
    return item.doc.source == source if isinstance(item, Rejected) else first


def build(pipeline: beam.Pipeline, args: argparse.Namespace, params: MinHashParams) -> None:
    """Per source: read -> count in; all sources: near-dedup; per source: write + ledger."""
    files, ignored = sources_of(args.input, args.priority)
    ledgers: dict[str, list[beam.PCollection]] = {name: [] for name in files}
    read = []
    for name, parts in ledgers.items():
        docs, items = split(pipeline | f"Read {name}" >> ReadFiles(files[name], SourceReader(name)), f"Read {name}")
        parts.append(items)
        parts.append(docs | f"Count in {name}" >> beam.combiners.Count.Globally()
                     | f"documents_in {name}" >> beam.Map(lambda n: Tally({DOCUMENTS_IN: n})))
        if ignored.get(name):
            parts.append(pipeline | f"Files ignored {name}" >> beam.Create([Tally({INFO + "files_ignored": ignored[name]})]))
        read.append(docs)
    stream = (tuple(read) | "All sources" >> beam.Flatten()
              | "Near dedup" >> NearDedup(params, rank=Priority(args.priority), reason_of=reason_of))
    kept, items = split(stream, "Near dedup")
    options = {k: v for k, v in sorted(vars(args).items())}
    written = []
    for i, (name, parts) in enumerate(ledgers.items()):
        parts.append(items | f"Ledger items of {name}" >> beam.Filter(_belongs, name, i == 0))
        parts.append(kept
                     | f"Kept {name}" >> beam.Filter(lambda d, s: d.source == s, name)
                     | f"Write {name}" >> WriteDocuments(paths.join(args.output, name, DOCUMENTS_DIR),
                                                        args.num_shards, args.format, args.shard_mb))
        written.append(tuple(parts) | f"Ledger {name}" >> _Ledger(name, paths.join(args.output, name), options,
                                                                   args.rejected_samples))
    # One last transform that depends on every stats.json: Beam's DaskRunner computes only the
    # graph behind the last transform applied.
    tuple(written) | "Every ledger written" >> beam.Flatten()


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The module docstring as written, and every flag's default."""


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m pipelines.{NAME}", description=__doc__,
                                     epilog=runner.BEAM_OPTIONS_HELP, formatter_class=_HelpFormatter)
    parser.add_argument("--input", nargs="+", default=None,
                        help="source output directories; default: every out/<source>/ that exists")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="output directory (one sub-directory per source)")
    parser.add_argument("--priority", type=lambda v: tuple(s for s in v.split(",") if s),
                        default=",".join(DEFAULT_PRIORITY),
                        help="comma-separated sources, best first: a cluster keeps its copy from the earliest "
                             "(unlisted sources come last)")
    runner.add_shard_flags(parser)
    runner.add_overwrite_flag(parser)
    builder.add_rejected_samples_flag(parser)
    add_params(parser, MinHashParams)
    return parser


def previous_sources(output: str) -> list[str]:
    """The source directories a previous run left under OUTPUT (stats.json, the marker, documents/
    or rejected/ in them), so that a rerun replaces all of them, those it does not write included."""
    found = set()
    for path in paths.list_files(output) if paths.exists(output) else ():
        folder = paths.parent(path)
        if paths.basename(path) in (runner.MARKER, *runner.OWNED):
            found.add(paths.basename(folder))
        elif paths.basename(folder) in runner.OWNED:
            found.add(paths.basename(paths.parent(folder)))
    return sorted(found)


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Ledger]:
    """Run the job; return each source's ledger."""
    parser = make_parser()
    args, beam_argv = parser.parse_known_args(argv)
    runner.beam_options(parser.prog, beam_argv)
    args.input = args.input or default_inputs()
    params = params_from(args, MinHashParams)
    names = list(sources_of(args.input, args.priority)[0])
    if not names:
        runner.fail(parser.prog, f"no document files under {' '.join(args.input) or 'out/<source>/'}")
    previous = previous_sources(args.output)
    if previous and not args.overwrite:  # refuse before touching any of them
        runner.fail(parser.prog, f"--output {args.output} holds a previous run ({', '.join(previous)}); "
                                 "pass --overwrite to replace it")
    for name in sorted(set(previous) - set(names)):  # a source of the previous run only: its files go
        for owned in (runner.MARKER, *runner.OWNED):
            paths.delete(paths.join(args.output, name, owned))
    for name in names[1:]:  # runner.execute claims the first source's output, these are ours
        runner.claim_output(parser.prog, paths.join(args.output, name), args.overwrite)
    first = runner.execute(NAME, lambda p: build(p, args, params), paths.join(args.output, names[0]), beam_argv,
                           overwrite=args.overwrite, prog=parser.prog)
    ledgers = {names[0]: first}
    for name in names[1:]:
        ledgers[name] = runner.finished(parser.prog, paths.join(args.output, name))
    return ledgers


if __name__ == "__main__":
    main()
