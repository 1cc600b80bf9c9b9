"""GitHub: Apache/BSD/MIT source files, licence headers removed, RedPajama heuristics, exact dedup.

Recipe (LLaMA §2.1, RedPajama data_prep/github): keep projects under Apache, BSD or MIT; drop
`.crt` files and LICENSE files; keep RedPajama's extension whitelist; remove the leading
licence/copyright comment with regular expressions; drop files with a line > 1000 characters,
an average line length > 100, an alphanumeric fraction < 0.25 or < 1.5 alphabetic characters
per token; exact file-level dedup on the content hash across the whole run (Beam shuffle).

Inputs: BigQuery `github_repos` exports as JSON lines (files, directories or globs, local or
gs://), and/or local folders: a site-packages (each installed distribution is a repository, its
dist-info gives the licence; the default input), one checkout, or a folder of checkouts.
See docs/github.md.
"""
from __future__ import annotations

import logging
from functools import partial
from typing import Any, Iterator, Optional, Sequence

import apache_beam as beam

from corpus import github as gh
from corpus import github_repos, licenses, paths, progress
from corpus.github_repos import Repo
from corpus.ledger import Ledger
from corpus.step import RuleStep
from corpus.steps.github import Quality, QualityParams, RepoParams
from pipelines.builder import Config, Shuffle, Source, Stage
from pipelines.transforms import KeepOnePerKey, ReadFiles, info

log = logging.getLogger("llama_corpus")


def read(pipeline: beam.Pipeline, config: Config) -> beam.PCollection:
    """Local repositories (found here, on the launcher) and BigQuery JSON lines, as documents."""
    folders, patterns = split_inputs(config.input)
    options = config[RepoParams]
    streams = []
    if folders or options.repo_list:
        repos = github_repos.discover_repos(folders)
        if options.repo_list:
            repos += github_repos.listed_repos(paths.read_text(options.repo_list))
        chosen = github_repos.select_repos(repos, options.repos, options.max_repos)
        streams.append(pipeline | "Local repositories" >> ReadRepositories(chosen, config.added,
                                                                           options.max_file_bytes))
    if patterns:
        reader = partial(gh.read_bigquery_jsonl, added=config.added)
        streams.append(pipeline | "Read BigQuery JSONL" >> ReadFiles(patterns, reader))
    return streams[0] if len(streams) == 1 else tuple(streams) | "Both inputs" >> beam.Flatten()


def stages(config: Config) -> Sequence[Stage]:
    return [
        RuleStep("Apache/BSD/MIT only", gh.license_rule),
        RuleStep("No .crt / LICENSE, whitelisted extensions", gh.path_rule),
        RuleStep("Readable text", gh.content_rule),
        RuleStep("Remove licence header", gh.header_rule),
        Quality(config[QualityParams]),
        Shuffle("Exact dedup on content hash", KeepOnePerKey(gh.dedup_key, "duplicate_content")),
    ]


def prepare(config: Config) -> None:
    """Fail on the launcher, not on every worker, when the tokenizer is missing."""
    tokenizer = config[QualityParams].tokenizer
    if tokenizer and not paths.exists(tokenizer):
        raise SystemExit(f"--tokenizer {tokenizer}: no such file")


SOURCE = Source("github", __doc__, read, stages, params=(RepoParams, QualityParams), prepare=prepare)


def split_inputs(inputs: Sequence[str]) -> tuple[list[str], list[str]]:
    """(local folders: repositories to discover, everything else: BigQuery JSON lines patterns)."""
    folders: list[str] = []
    patterns: list[str] = []
    for path in inputs:
        if not paths.is_remote(path) and paths.is_dir(path):
            folders.append(paths.local_path(path))
        else:
            patterns.append(path)
    return folders, patterns


# ---------------------------------------------------------------------------------------------
# Reading local repositories: one element per repository, its files read on the workers
# ---------------------------------------------------------------------------------------------
class _ReadRepoFn(beam.DoFn):
    def __init__(self, added: str, max_file_bytes: int):
        self._added = added
        self._max_file_bytes = max_file_bytes

    def process(self, repo: Repo) -> Iterator[Any]:
        yield info("repos_read")
        yield info(f"repos_license_{repo.license_status}")
        yield info(f"repo_license:{repo.license}")
        if repo.license_status != licenses.ALLOWED_STATUS:
            log.info("repository %s excluded: licence %s (%s)", repo.name, repo.license, repo.license_status)
        for doc in github_repos.read_repo(repo, self._added, self._max_file_bytes):
            progress.tick("read")
            yield doc


class ReadRepositories(beam.PTransform):
    """Every file of each repository as a document (see `corpus.github_repos.read_repo`), with
    `info:repos_read`, `info:repos_license_<status>` and `info:repo_license:<spdx>` per repository."""

    def __init__(self, repos: Sequence[Repo], added: str, max_file_bytes: int):
        super().__init__()
        self._repos = list(repos)
        self._added = added
        self._max_file_bytes = max_file_bytes

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return (
            pbegin
            | "Repositories" >> beam.Create(self._repos)
            | "Spread repositories" >> beam.Reshuffle()
            | "Read repository files" >> beam.ParDo(_ReadRepoFn(self._added, self._max_file_bytes))
        )


def main(argv: Optional[Sequence[str]] = None) -> Ledger:
    return SOURCE.main(argv)


if __name__ == "__main__":
    main()
