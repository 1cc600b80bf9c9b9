"""GitHub: Apache/BSD/MIT source files, licence headers removed, RedPajama heuristics, exact dedup.

Recipe (LLaMA §2.1, RedPajama data_prep/github): keep projects under Apache, BSD or MIT; drop
`.crt` files and LICENSE files; keep RedPajama's extension whitelist; remove the leading
licence/copyright comment with regular expressions; drop files with a line > 1000 characters,
an average line length > 100, an alphanumeric fraction < 0.25 or < 1.5 alphabetic characters
per token; exact file-level dedup on the content hash across the whole run (Beam shuffle).

Inputs: BigQuery `github_repos` exports as JSON lines (files or globs, local or gs://), and/or
local folders: a site-packages (each installed distribution is a repository, its dist-info
gives the licence; the default input), one checkout, or a folder of checkouts.
"""
from __future__ import annotations

import argparse
import functools
import logging
import os
import re
from typing import Iterator, Sequence

import apache_beam as beam

from corpus import github as gh
from corpus import licenses
from pipelines import runner
from pipelines.transforms import (ApplyRule, CountIn, KeepOnePerKey, ReadFiles, WriteDocuments,
                                  count_info)

log = logging.getLogger("llama_corpus")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("github")
    g.add_argument("--repos", nargs="+", default=None,
                   help="local inputs only: keep these repositories (distribution or folder names, "
                        "case/-/_ insensitive)")
    g.add_argument("--max_repos", type=int, default=0,
                   help="local inputs only: keep the first N repositories by name (0 = all)")
    g.add_argument("--repo_list", default=None,
                   help="a text file with one local repository path per line (added to --input)")
    g.add_argument("--tokenizer", default=None,
                   help="SentencePiece model for the alphabetic-characters-per-token rule; default: "
                        "regex tokens (\\w+ or one punctuation character)")
    g.add_argument("--max_line_length", type=int, default=gh.MAX_LINE_LENGTH, help="RedPajama: 1000")
    g.add_argument("--max_avg_line_length", type=float, default=gh.MAX_AVG_LINE_LENGTH, help="RedPajama: 100")
    g.add_argument("--min_alnum_fraction", type=float, default=gh.MIN_ALNUM_FRACTION, help="RedPajama: 0.25")
    g.add_argument("--min_alpha_per_token", type=float, default=gh.MIN_ALPHA_PER_TOKEN, help="RedPajama: 1.5")
    g.add_argument("--max_file_bytes", type=int, default=gh.MAX_FILE_BYTES,
                   help="local files larger than this are dropped (file_too_large), like BigQuery's "
                        "1 MiB content limit")


def split_inputs(patterns: Sequence[str]) -> tuple[list[str], list[str]]:
    """(local folders, file patterns): the runner turned folders into `folder/**` globs."""
    folders, files = [], []
    for pattern in patterns:
        base = pattern[:-3] if pattern.endswith("/**") else pattern
        if "://" not in base and os.path.isdir(base):
            folders.append(base)
        else:
            files.append(pattern)
    return folders, files


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def select_repos(repos: list[gh.Repo], names: Sequence[str] | None, max_repos: int) -> list[gh.Repo]:
    repos = sorted(repos, key=lambda r: (_norm(r.name), r.root))
    if names:
        wanted = {_norm(n) for n in names}
        repos = [r for r in repos if _norm(r.name) in wanted or _norm(os.path.basename(r.root)) in wanted]
    if max_repos > 0:
        repos = repos[:max_repos]
    return repos


class _ReadRepo(beam.DoFn):
    def __init__(self, added: str, max_file_bytes: int):
        self._added = added
        self._max = max_file_bytes

    def process(self, repo: gh.Repo) -> Iterator:
        count_info("repos_read")
        count_info(f"repos_license_{repo.license_status}")
        count_info(f"repo_license:{repo.license}")
        if repo.license_status != licenses.ALLOWED_STATUS:
            log.info("repository %s excluded: licence %s (%s)", repo.name, repo.license, repo.license_status)
        yield from gh.read_repo(repo, self._added, self._max)


def build(pipeline: beam.Pipeline, args: argparse.Namespace) -> None:
    folders, patterns = split_inputs(args.input)
    sources = []
    if folders or args.repo_list:
        repos = gh.discover_repos(folders)
        if args.repo_list:
            with open(args.repo_list, encoding="utf-8") as fh:
                listed = [line.strip() for line in fh if line.strip() and not line.startswith("#")]
            for path in listed:
                repos.extend(gh.site_packages_repos(path) if gh.is_site_packages(path) else [gh.checkout_repo(path)])
        repos = select_repos(repos, args.repos, args.max_repos)
        sources.append(
            pipeline
            | "Repositories" >> beam.Create(repos)
            | "Spread repositories" >> beam.Reshuffle()
            | "Read repository files" >> beam.ParDo(_ReadRepo(args.added, args.max_file_bytes))
        )
    if patterns:
        reader = functools.partial(gh.read_bigquery_jsonl, added=args.added)
        sources.append(pipeline | "Read BigQuery JSONL" >> ReadFiles(patterns, reader))
    docs = sources[0] if len(sources) == 1 else tuple(sources) | "Both inputs" >> beam.Flatten()

    thresholds = gh.Thresholds(args.max_line_length, args.max_avg_line_length,
                               args.min_alnum_fraction, args.min_alpha_per_token)
    kept = (
        docs
        | "Count in" >> CountIn()
        | "Apache/BSD/MIT only" >> ApplyRule(gh.license_rule)
        | "No .crt / LICENSE, whitelisted extensions" >> ApplyRule(gh.path_rule)
        | "Readable text" >> ApplyRule(gh.content_rule)
        | "Remove licence header" >> ApplyRule(gh.header_rule)
        | "Line length, alnum, alpha/token" >> ApplyRule(
            make_rule=functools.partial(gh.make_quality_rule, args.tokenizer, thresholds))
        | "Exact dedup on content hash" >> KeepOnePerKey(gh.dedup_key, "duplicate_content")
    )
    kept | "Write" >> WriteDocuments(args.output, args.num_shards, args.format)


def main(argv=None):
    return runner.run("github", __doc__, build, argv, add_arguments)


if __name__ == "__main__":
    main()
