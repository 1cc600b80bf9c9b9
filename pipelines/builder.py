"""One builder for every source: read -> count in -> steps and shuffle stages -> write.

A source module declares a `Source`: its reader, its ordered stages (`corpus.step.Step`s, and
`Shuffle`s for the stages that need Beam's shuffle: dedup, near-dedup, grouping) and the params
dataclasses its flags come from. The builder wires them, fuses consecutive steps into one DoFn,
and gathers the ledger as data, so every source writes, under `OUTPUT/`:

    documents/documents-XXXXX-of-NNNNN.{jsonl.gz,parquet}   the kept documents (Dolma's layout)
    rejected/<reason>.jsonl.gz                               up to --rejected_samples per drop reason
    stats.json                                               the ledger, written last

Adding a source is one file: see docs/CONTRIBUTING.md.
"""
from __future__ import annotations

import argparse
import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import apache_beam as beam

from corpus import paths
from corpus.docfiles import DOCUMENTS_DIR, REJECTED_DIR, encode_jsonl_gz, shard_of
from corpus.document import Document
from corpus.ledger import DOCUMENTS_IN, DROPPED, Ledger, Rejected, Tally, merge_tallies
from corpus.step import Step, add_params, flag_names, params_from, title
from corpus.validate import Validate, ValidateParams, writable
from pipelines import runner
from pipelines.transforms import (DEFAULT_SHARD_MB, ApplySteps, WriteDocuments, observe_group, shards_for, split,
                                  text_bytes)

DEFAULT_REJECTED_SAMPLES = 20


@dataclass(frozen=True)
class Shuffle:
    """A stage that needs Beam's shuffle: a PTransform from documents to a stream."""

    label: str
    transform: beam.PTransform


Stage = Union[Step, Shuffle]


@dataclass
class Config:
    """What a run was asked for: the shared flags, each params dataclass, and extras to record."""

    args: argparse.Namespace
    params: dict[type, Any] = field(default_factory=dict)
    recorded: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, cls: type) -> Any:
        return self.params[cls]

    def __getattr__(self, name: str) -> Any:  # the shared flags: input, output, added, ...
        if "args" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.__dict__["args"], name)

    def record(self, key: str, value: Any) -> None:
        """Add `value` to the `options` of stats.json (e.g. which models the run used)."""
        self.recorded[key] = value

    def options(self) -> dict[str, Any]:
        return {**{k: v for k, v in sorted(vars(self.args).items())}, **self.recorded}


@dataclass(frozen=True)
class Source:
    """A source pipeline: how to read it and, in the recipe's order, what to do to it."""

    name: str
    description: str
    read: Callable[[beam.Pipeline, Config], beam.PCollection]
    stages: Callable[[Config], Sequence[Stage]]
    params: Sequence[type] = ()
    prepare: Optional[Callable[[Config], None]] = None  # launcher-side checks: fail fast

    def main(self, argv: Optional[Sequence[str]] = None) -> Ledger:
        return run(self, argv)


def run(source: Source, argv: Optional[Sequence[str]] = None) -> Ledger:
    """Parse flags, build the source's graph, run it; return the ledger it wrote."""
    config, beam_argv = configure(source, argv)
    return runner.execute(source.name, lambda pipeline: build(pipeline, source, config), config.output, beam_argv,
                          overwrite=config.overwrite, prog=f"python -m pipelines.{source.name}")


def configure(source: Source, argv: Optional[Sequence[str]] = None) -> tuple[Config, list[str]]:
    """(the run's Config, the flags left for Beam): parsed, checked, and prepared on the launcher."""
    parser = runner.make_parser(source.name, source.description)
    add_rejected_samples_flag(parser)
    parser.add_argument("--fail_on_step_error", action="store_true",
                        help="let an exception of a step fail the job (default: that document is dropped as "
                             "step_failed:<step>, the exception class counted under errors)")
    classes = (*source.params, ValidateParams)
    names = flag_names(classes)
    if len(names) != len(set(names)):
        raise ValueError(f"{source.name}: a flag is defined twice in {names}")
    for cls in classes:
        add_params(parser, cls)
    args, beam_argv = runner.parse(parser, source.name, argv)
    config = Config(args, {cls: params_from(args, cls) for cls in classes})
    if source.prepare is not None:
        source.prepare(config)
    return config, beam_argv


def add_rejected_samples_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rejected_samples", type=rejected_samples, default=DEFAULT_REJECTED_SAMPLES,
                        help="dropped documents kept per drop reason under rejected/ (chosen by md5 of "
                             "the id); 'all' keeps every one, 0 none")


def rejected_samples(value: str) -> Union[int, str]:
    """The --rejected_samples value: a count >= 0 or 'all'."""
    if value == "all":
        return value
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be >= 0 or 'all'")
    return number


def build(pipeline: beam.Pipeline, source: Source, config: Config) -> None:
    """read -> count in -> stages -> pre-write check -> write, with the ledger gathered beside the
    documents. The check (`corpus.validate`) is the last step of every source, fused with the
    source's last steps when it ends in steps."""
    ledger = LedgerSink(source.name, config.output, config.options())
    docs = ledger.take(source.read(pipeline, config), "Read")
    ledger.add(docs | "Count in" >> beam.combiners.Count.Globally()
               | "documents_in" >> beam.Map(lambda n: Tally({DOCUMENTS_IN: n})))
    stages = [*source.stages(config), Validate(config[ValidateParams])]
    for label, stage in _group(stages):
        stream = docs | label >> (ApplySteps(stage, config.fail_on_step_error) if isinstance(stage, list) else stage)
        docs = ledger.take(stream, label)
    ledger.add(docs | "Write" >> WriteDocuments(paths.join(config.output, DOCUMENTS_DIR), config.num_shards,
                                                config.format, config.shard_mb))
    ledger.finish(pipeline, config.rejected_samples, config.shard_mb)


def _group(stages: Sequence[Stage]) -> Iterable[tuple[str, Union[list[Step], beam.PTransform]]]:
    """Consecutive steps become one fused stage labelled by their titles; shuffles stay alone."""
    run_of: list[Step] = []
    for stage in stages:
        if isinstance(stage, Step):
            run_of.append(stage)
            continue
        if run_of:
            yield " -> ".join(title(s) for s in run_of), run_of
            run_of = []
        yield stage.label, stage.transform
    if run_of:
        yield " -> ".join(title(s) for s in run_of), run_of


class LedgerSink:
    """Collects the ledger items of a graph; writes rejected samples, then stats.json, last."""

    def __init__(self, source: str, output: str, options: dict[str, Any]):
        self.source = source
        self.output = output
        self.header = {"source": source, "options": options, "started": runner.now()}
        self._parts: list[beam.PCollection] = []

    def take(self, stream: beam.PCollection, label: str) -> beam.PCollection:
        """The documents of `stream`; its ledger items are kept for the end."""
        docs, items = split(stream, label)
        self._parts.append(items)
        return docs

    def add(self, tallies: beam.PCollection) -> None:
        self._parts.append(tallies)

    def finish(self, pipeline: beam.Pipeline, rejected_samples: Union[int, str] = 0,
               shard_mb: float = DEFAULT_SHARD_MB) -> beam.PCollection:
        """The graph's end: Beam's DaskRunner computes only what the last transform depends on."""
        items = tuple(self._parts) | "Ledger items" >> beam.Flatten()
        parts = [items | "As tallies" >> beam.Map(_as_tally)]
        if rejected_samples:
            parts.append(_write_rejected(items, paths.join(self.output, REJECTED_DIR), rejected_samples, shard_mb))
        return (
            tuple(parts)
            | "All tallies" >> beam.Flatten()
            | "Sum ledger" >> beam.CombineGlobally(merge_tallies)
            | "Write stats.json" >> beam.Map(_write_stats, self.output, self.header)
        )


def _as_tally(item: Union[Tally, Rejected]) -> Tally:
    return Tally({DROPPED + item.reason: 1}) if isinstance(item, Rejected) else item


def _write_stats(total: Tally, output: str, header: dict[str, Any]) -> None:
    ledger = Ledger.from_counters(header["source"], total, options=header["options"],
                                  started=header["started"], finished=runner.now())
    runner.write_stats(output, ledger)


def _sample_key(doc: Document) -> tuple[str, str, str]:
    return hashlib.md5(doc.id.encode("utf-8")).hexdigest(), doc.id, doc.text


def _write_rejected(items: beam.PCollection, directory: str, samples: Union[int, str],
                    shard_mb: float = DEFAULT_SHARD_MB) -> beam.PCollection:
    keyed = (
        items
        | "Rejected" >> beam.Filter(lambda item: isinstance(item, Rejected))
        | "By reason" >> beam.Map(lambda r: (r.reason, r.doc))
    )
    if samples == "all":
        return keyed | "Every rejected" >> _WriteEveryRejected(directory, shard_mb)
    chosen = keyed | "Samples per reason" >> beam.combiners.Top.PerKey(int(samples), key=_sample_key, reverse=True)
    return chosen | "Write rejected" >> beam.Map(_write_reason, directory)


def rejected_name(reason: str, index: int = 0, num_shards: int = 1) -> str:
    """`<reason>.jsonl.gz`, or `<reason>-XXXXX-of-NNNNN.jsonl.gz` when a reason needs several shards."""
    return f"{reason}.jsonl.gz" if num_shards == 1 else f"{reason}-{index:05d}-of-{num_shards:05d}.jsonl.gz"


def _write_reason(keyed: tuple[Any, Iterable[Document]], directory: str, num_shards: Any = None) -> Tally:
    key, docs = keyed
    reason, index = key if isinstance(key, tuple) else (key, 0)
    n = num_shards[reason] if num_shards is not None else 1
    ordered = sorted((writable(doc)[0] for doc in docs if doc is not None), key=_sample_key)  # a dropped text may not encode
    observe_group("rejected_shard", len(ordered), sum(len(d.text) for d in ordered))
    paths.write_atomically(paths.join(directory, rejected_name(reason, index, n)), encode_jsonl_gz(ordered))
    return Tally()


class _WriteEveryRejected(beam.PTransform):
    """`--rejected_samples all`: every dropped document, each reason in shards of about
    `--shard_mb` (as the documents are), so no writer holds more than one bounded shard."""

    def __init__(self, directory: str, shard_mb: float):
        super().__init__()
        self._directory = directory
        self._shard_mb = shard_mb

    def expand(self, keyed: beam.PCollection) -> beam.PCollection:
        shard_mb = self._shard_mb
        counts = (keyed
                  | "Rejected bytes" >> beam.Map(lambda kv: (kv[0], text_bytes(kv[1])))
                  | "Sum per reason" >> beam.CombinePerKey(sum)
                  | "Shards per reason" >> beam.Map(lambda kv: (kv[0], shards_for(kv[1], shard_mb))))
        n = beam.pvalue.AsDict(counts)
        sharded = keyed | "Rejected shard" >> beam.Map(lambda kv, n: ((kv[0], shard_of(kv[1].id, n[kv[0]])), kv[1]), n)
        slots = counts | "Rejected slots" >> beam.FlatMap(lambda kv: [((kv[0], i), None) for i in range(kv[1])])
        return ((sharded, slots)
                | "Rejected and slots" >> beam.Flatten()
                | "Group rejected shards" >> beam.GroupByKey()
                | "Write rejected" >> beam.Map(_write_reason, self._directory, n))
