"""The command line every `python -m pipelines.<source>` shares, and running a Beam job.

Our own flags (`--input`, `--output`, `--format`, `--num_shards`, `--added`, each source's params)
are parsed here; every other flag is handed to Beam's `PipelineOptions`, so `--runner=DataflowRunner
--project=... --region=... --temp_location=...`, `--runner=FlinkRunner --flink_master=...`,
`--setup_file`, `--direct_num_workers` etc. work unchanged; a flag neither we nor Beam know is an
error. Before any work the runner checks the output (writable; a previous run there is replaced
only with `--overwrite`), claims it with a `_INCOMPLETE` marker, clears the previous run's files
(stats.json first), then runs the job, which writes its own stats.json last and removes the marker
(the ledger is data, see `pipelines.builder`); the runner reads the ledger back after.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import sys
import uuid
from typing import Callable, NoReturn, Optional, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, _BeamArgumentParser
from apache_beam.runners.runner import create_runner

from corpus import paths, progress
from corpus.docfiles import DOCUMENTS_DIR, FORMATS, INCOMPLETE_MARKER, REJECTED_DIR, STATS_FILE
from corpus.ledger import Ledger
from corpus.samples import default_input
from pipelines.transforms import DEFAULT_SHARD_MB

# The plain DirectRunner of Beam 2.77 first tries to download the Prism runner binary; the
# FnApiRunner is the same local engine without that network attempt.
LOCAL_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"
LOCAL_RUNNERS = (LOCAL_RUNNER, "DirectRunner", "FnApiRunner", "BundleBasedDirectRunner")
# What a run owns under OUTPUT/ and removes before it starts (stats.json first), so a failed run
# never leaves an old stats.json (or old shards) that look like its own complete output.
OWNED = (STATS_FILE, DOCUMENTS_DIR, REJECTED_DIR)
MARKER = INCOMPLETE_MARKER  # written first, removed after a balanced stats.json (corpus.docfiles)

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
    add_overwrite_flag(parser)
    return parser


def add_overwrite_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a previous run in --output (every file it wrote); without it a "
                             "rerun into a used output refuses")


def fail(prog: str, message: str) -> NoReturn:
    """Stop before any work: one line on stderr, exit status 2 (argparse's), no traceback."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


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
    beam_options(parser.prog, beam_argv)
    if args.input is None:
        args.input = [default_input(source)]
    else:
        check_inputs(parser.prog, args.input)
    args.added = args.added or dt.datetime.now(dt.timezone.utc).date().isoformat()
    return args, beam_argv


def check_inputs(prog: str, patterns: Sequence[str]) -> None:
    """The --input patterns must match at least one file between them (a typo is not an empty
    corpus); one optional pattern that matches nothing, beside others that do, is fine."""
    for pattern in patterns:
        try:
            if paths.list_files(pattern):
                return
        except Exception as exc:  # noqa: BLE001 - any file system's error, reported in one line
            fail(prog, f"cannot list --input {pattern}: {type(exc).__name__}: {exc}")
    fail(prog, f"--input {' '.join(patterns)} matches no file")


class _BeamFlags(_BeamArgumentParser):
    """Beam's own option parser, raising instead of printing its usage."""

    def error(self, message: str) -> NoReturn:
        raise ValueError(message)


def beam_options(prog: str, beam_argv: Sequence[str]) -> PipelineOptions:
    """Beam's PipelineOptions from the flags we did not parse; a flag Beam does not know either
    (a typo such as `--fromat`) is an error, not a warning. The runner's own options class (e.g.
    DaskOptions) is registered by importing the runner first. AWS_ENDPOINT_URL, when set, is
    Beam's `--s3_endpoint_url` unless that is given."""
    argv = list(beam_argv)
    if os.environ.get("AWS_ENDPOINT_URL") and not any(a.startswith("--s3_endpoint_url") for a in argv):
        argv.append(f"--s3_endpoint_url={os.environ['AWS_ENDPOINT_URL']}")
    options = PipelineOptions(argv)
    runner_name = options.view_as(StandardOptions).runner
    if runner_name is not None and not isinstance(runner_name, str):
        runner_name = None
    if runner_name:
        try:
            create_runner(runner_name)
        except Exception as exc:  # noqa: BLE001 - an unknown or unavailable runner, in one line
            fail(prog, f"--runner={runner_name}: {type(exc).__name__}: {exc}")
    checker = _BeamFlags(allow_abbrev=False)
    for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        cls._add_argparse_args(checker)  # pylint: disable=protected-access
    try:
        _, unknown = checker.parse_known_args(argv)
    except ValueError as exc:
        fail(prog, f"bad Beam option: {exc}")
    if unknown:
        flags = [a for a in unknown if a.startswith("-")] or unknown
        fail(prog, f"unknown flag {' '.join(flags)} (see --help)")
    return options


def execute(name: str, build: Callable[[beam.Pipeline], None], output: str, beam_argv: Sequence[str],
            overwrite: bool = False, prog: str = "") -> Ledger:
    """Run the graph `build(pipeline)` adds, which writes `output/stats.json`; return that ledger.

    Shared by every job that runs as a Beam pipeline (the source pipelines, `tokenizer.encode`,
    `pipelines.crossdedup`). The output is checked and claimed first (`claim_output`).
    """
    prog = prog or name
    options = beam_options(prog, beam_argv)
    standard = options.view_as(StandardOptions)
    if standard.runner is None:
        standard.runner = LOCAL_RUNNER
    claim_output(prog, output, overwrite)
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
    return finished(prog, output)


def finished(prog: str, output: str) -> Ledger:
    """The ledger a job wrote into `output`, summarised on stderr; one that does not balance (a
    document neither written nor dropped, or counted twice) fails the job: the output keeps its
    marker, so nothing downstream reads it as complete."""
    ledger = read_stats(output)
    print(summary(ledger, output), file=sys.stderr)
    if not ledger.balanced:
        dropped = sum(ledger.dropped.values())
        lost = ledger.documents_in - ledger.documents_written - dropped
        raise SystemExit(f"{prog}: error: the ledger of {output} does not balance ({lost:+d} documents unaccounted "
                         f"for: in {ledger.documents_in}, written {ledger.documents_written}, dropped {dropped}); "
                         f"it stays marked {MARKER}: rerun with --overwrite")
    return ledger


def previous_run(output: str) -> list[str]:
    """What a previous run left in `output` (its marker, stats.json, documents/, rejected/)."""
    return [name for name in (MARKER, *OWNED) if paths.exists(paths.join(output, name))]


def claim_output(prog: str, output: str, overwrite: bool) -> None:
    """Before any work: `output` must be writable (a probe file is created and removed through
    `corpus.paths`); a previous run there refuses unless `overwrite`; then the marker is written
    (exclusively on local disk, so of two runs started together one refuses) and the previous
    run's files are removed, stats.json first."""
    probe = paths.join(output, f".probe-{uuid.uuid4().hex}")
    try:
        paths.write_atomically(probe, b"")
        paths.delete(probe)
    except Exception as exc:  # noqa: BLE001 - PermissionError, ENOSPC, an object store's refusal...
        fail(prog, f"--output {output} is not writable: {type(exc).__name__}: {exc}")
    found = previous_run(output)
    if found and not overwrite:
        fail(prog, f"--output {output} holds a previous run ({', '.join(found)}); pass --overwrite to replace it")
    marker = paths.join(output, MARKER)
    claim = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": now()}).encode()
    if overwrite or paths.is_remote(output):
        paths.write_atomically(marker, claim)
    else:
        try:
            with paths.open(marker, "xb") as handle:
                handle.write(claim)
        except FileExistsError:
            fail(prog, f"--output {output} is being written by another run (or a killed one left {MARKER}); "
                       "pass --overwrite to replace it")
    for owned in OWNED:
        paths.delete(paths.join(output, owned))


def write_stats(output: str, ledger: Ledger) -> None:
    """stats.json, atomically (temp name, checked write, rename), then the run's marker goes, unless
    the ledger does not balance: then the output stays marked incomplete (and `execute` fails)."""
    paths.write_text_atomically(paths.join(output, STATS_FILE), ledger.to_json())
    if ledger.balanced:
        paths.delete(paths.join(output, MARKER))


def read_stats(output: str) -> Ledger:
    return Ledger.from_json(paths.read_text(paths.join(output, STATS_FILE)))


def summary(ledger: Ledger, output: str) -> str:
    lines = [f"[{ledger.source}] {ledger.documents_in} in, {ledger.documents_written} written -> {output}"]
    for reason, n in sorted(ledger.dropped.items(), key=lambda kv: -kv[1]):
        lines.append(f"    dropped {reason}: {n}")
    for reason, n in sorted(ledger.errors.items()):
        kind = "step failed (a bug? examples in rejected/)" if reason.startswith("step_failed:") else "input error"
        lines.append(f"    {kind} {reason}: {n}")
    return "\n".join(lines)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
