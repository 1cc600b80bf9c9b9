"""The command line every `python -m pipelines.<source>` shares, and running a Beam job.

Our own flags (`--input`, `--output`, `--format`, `--num_shards`, `--added`, each source's params)
are parsed here; every other flag is handed to Beam's `PipelineOptions`, so `--runner=DataflowRunner
--project=... --region=... --temp_location=...`, `--runner=FlinkRunner --flink_master=...`,
`--setup_file`, `--direct_num_workers` etc. work unchanged. The job writes its own stats.json
(the ledger is data, see `pipelines.builder`); the runner clears stale outputs first and reads the
ledger back after.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from typing import Callable, Optional, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from corpus import paths, progress
from corpus.docfiles import DOCUMENTS_DIR, FORMATS, REJECTED_DIR, STATS_FILE
from corpus.ledger import Ledger
from corpus.samples import default_input
from pipelines.transforms import DEFAULT_SHARD_MB

# The plain DirectRunner of Beam 2.77 first tries to download the Prism runner binary; the
# FnApiRunner is the same local engine without that network attempt.
LOCAL_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"
LOCAL_RUNNERS = (LOCAL_RUNNER, "DirectRunner", "FnApiRunner", "BundleBasedDirectRunner")
# What a run owns under OUTPUT/ and removes before it starts, so a failed run never leaves an
# old stats.json (or old shards) that look like its own complete output.
OWNED = (STATS_FILE, DOCUMENTS_DIR, REJECTED_DIR)

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
    add_shard_flags(parser)
    parser.add_argument("--added", default=None,
                        help="value of each document's `added` field (ISO date); default: today (UTC). "
                             "Fix it to make reruns byte-identical across days.")
    return parser


def add_shard_flags(parser: argparse.ArgumentParser) -> None:
    """--format, --num_shards, --shard_mb: how documents are written (every document writer)."""
    parser.add_argument("--format", choices=FORMATS, default="jsonl.gz", help="document file format")
    parser.add_argument("--num_shards", type=int, default=None,
                        help="number of output shards (default: as many as --shard_mb needs)")
    parser.add_argument("--shard_mb", type=float, default=DEFAULT_SHARD_MB,
                        help="target size of one compressed output shard in MB, when --num_shards is not given")


def parse(parser: argparse.ArgumentParser, source: str,
          argv: Optional[Sequence[str]]) -> tuple[argparse.Namespace, list[str]]:
    """(our flags, Beam's flags); fills the input default and the `added` date."""
    args, beam_argv = parser.parse_known_args(argv)
    if args.input is None:
        args.input = [default_input(source)]
    args.added = args.added or dt.datetime.now(dt.timezone.utc).date().isoformat()
    return args, beam_argv


def execute(name: str, build: Callable[[beam.Pipeline], None], output: str, beam_argv: Sequence[str]) -> Ledger:
    """Run the graph `build(pipeline)` adds, which writes `output/stats.json`; return that ledger.

    Shared by every job that runs as a Beam pipeline (the source pipelines, `tokenizer.encode`).
    """
    options = PipelineOptions(list(beam_argv))
    standard = options.view_as(StandardOptions)
    if standard.runner is None:
        standard.runner = LOCAL_RUNNER
    for owned in OWNED:
        paths.delete(paths.join(output, owned))
    local = str(standard.runner) in LOCAL_RUNNERS
    if local:  # workers (threads or processes of this machine) report progress on stderr
        os.environ[progress.ENV] = name
    try:
        pipeline = beam.Pipeline(options=options)
        build(pipeline)
        pipeline.run().wait_until_finish()
    finally:
        if local:
            os.environ.pop(progress.ENV, None)
            progress.stop()
    ledger = read_stats(output)
    print(summary(ledger, output), file=sys.stderr)
    return ledger


def write_stats(output: str, ledger: Ledger) -> None:
    paths.write_text_atomically(paths.join(output, STATS_FILE), ledger.to_json())


def read_stats(output: str) -> Ledger:
    return Ledger.from_json(paths.read_text(paths.join(output, STATS_FILE)))


def summary(ledger: Ledger, output: str) -> str:
    lines = [f"[{ledger.source}] {ledger.documents_in} in, {ledger.documents_written} written -> {output}"]
    for reason, n in sorted(ledger.dropped.items(), key=lambda kv: -kv[1]):
        lines.append(f"    dropped {reason}: {n}")
    for reason, n in sorted(ledger.errors.items()):
        lines.append(f"    input error {reason}: {n}")
    if not ledger.balanced:
        lines.append("    WARNING: documents_in != written + dropped")
    return "\n".join(lines)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
