"""The command line every `python -m pipelines.<source>` shares, and the run that writes stats.

Our own flags (`--input`, `--output`, `--format`, `--num_shards`, source thresholds) are parsed
here; every other flag is handed to Beam's `PipelineOptions`, so `--runner=DataflowRunner
--project=... --region=... --temp_location=...`, `--runner=FlinkRunner --flink_master=...`,
`--setup_file`, `--direct_num_workers` etc. work unchanged.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from typing import Callable, Optional, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from corpus.ledger import Ledger
from corpus.samples import default_input
from pipelines.transforms import FORMATS, NAMESPACE

# The plain DirectRunner of Beam 2.77 first tries to download the Prism runner binary; the
# FnApiRunner is the same local engine without that network attempt.
LOCAL_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"

Build = Callable[[beam.Pipeline, argparse.Namespace], None]

BEAM_OPTIONS_HELP = (
    "Any other flag is a standard Apache Beam pipeline option and is passed through, "
    "e.g. --runner=DataflowRunner --project=P --region=R --temp_location=gs://B/tmp "
    "--setup_file=./setup.py, or --direct_num_workers=2 "
    "--direct_running_mode=multi_processing locally. Without --runner the local "
    "FnApiRunner is used (no network access)."
)


def make_parser(source: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m pipelines.{source}",
        description=description,
        epilog=BEAM_OPTIONS_HELP,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--input", nargs="+", default=None,
                        help="files, directories or globs (local, gs://, s3://); default: the "
                             f"{source} samples (see README, 'Samples')")
    parser.add_argument("--output", default=f"out/{source}", help="output directory")
    parser.add_argument("--format", choices=FORMATS, default="jsonl.gz", help="document file format")
    parser.add_argument("--num_shards", type=int, default=1, help="number of output shards")
    parser.add_argument("--added", default=None,
                        help="value of each document's `added` field (ISO date); default: today (UTC). "
                             "Fix it to make reruns byte-identical across days.")
    return parser


def expand_inputs(paths: Sequence[str]) -> list[str]:
    """Turn directories into recursive globs; leave files and globs as they are."""
    patterns = []
    for path in paths:
        if not any(ch in path for ch in "*?[") and FileSystems.exists(path) and _is_dir(path):
            patterns.append(FileSystems.join(path, "**"))
        else:
            patterns.append(path)
    return patterns


def _is_dir(path: str) -> bool:
    if "://" in path:
        return path.endswith("/")
    return os.path.isdir(path)


def run(
    source: str,
    description: str,
    build: Build,
    argv: Optional[Sequence[str]] = None,
    add_arguments: Optional[Callable[[argparse.ArgumentParser], None]] = None,
) -> Ledger:
    """Parse flags, build the source's graph with `build(pipeline, args)`, run it, write stats."""
    parser = make_parser(source, description)
    if add_arguments is not None:
        add_arguments(parser)
    args, beam_argv = parser.parse_known_args(argv)
    if args.input is None:
        args.input = [default_input(source)]
    args.input = expand_inputs(args.input)
    args.added = args.added or dt.datetime.now(dt.timezone.utc).date().isoformat()

    return execute(source, build, args, beam_argv)


def execute(source: str, build: Build, args: argparse.Namespace, beam_argv: Sequence[str]) -> Ledger:
    """Run `build(pipeline, args)` with Beam options `beam_argv`; write and return the stats ledger.

    `args.output` is where `stats.json` goes. Shared by every job that runs as a Beam pipeline
    (the source pipelines and `tokenizer.encode`).
    """
    options = PipelineOptions(list(beam_argv))
    if options.view_as(StandardOptions).runner is None:
        options.view_as(StandardOptions).runner = LOCAL_RUNNER

    started = _now()
    pipeline = beam.Pipeline(options=options)
    build(pipeline, args)
    result = pipeline.run()
    result.wait_until_finish()

    ledger = Ledger.from_counters(
        source,
        collect_counters(result),
        options={k: v for k, v in sorted(vars(args).items())},
        started=started,
        finished=_now(),
    )
    write_stats(args.output, ledger)
    print(summary(ledger, args.output), file=sys.stderr)
    return ledger


def collect_counters(result: beam.runners.runner.PipelineResult) -> dict[str, int]:
    """Sum the shared-namespace counters over all steps (committed where the runner has them)."""
    totals: dict[str, int] = {}
    query = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    for counter in query["counters"]:
        try:
            value = counter.committed
        except Exception:  # noqa: BLE001 - some runners only report attempted values
            value = None
        if value is None:
            value = counter.attempted
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + int(value or 0)
    return totals


def write_stats(output: str, ledger: Ledger) -> None:
    path = FileSystems.join(output, "stats.json")
    with FileSystems.create(path) as handle:
        handle.write(ledger.to_json().encode("utf-8"))


def read_stats(output: str) -> Ledger:
    with FileSystems.open(FileSystems.join(output, "stats.json")) as handle:
        return Ledger.from_json(handle.read().decode("utf-8"))


def summary(ledger: Ledger, output: str) -> str:
    lines = [f"[{ledger.source}] {ledger.documents_in} in, {ledger.documents_written} written -> {output}"]
    for reason, n in sorted(ledger.dropped.items(), key=lambda kv: -kv[1]):
        lines.append(f"    dropped {reason}: {n}")
    for reason, n in sorted(ledger.errors.items()):
        lines.append(f"    input error {reason}: {n}")
    if not ledger.balanced:
        lines.append("    WARNING: documents_in != written + dropped")
    return "\n".join(lines)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
