"""GitHub: Apache/BSD/MIT source files, licence headers removed, RedPajama heuristics, exact dedup.

Recipe (LLaMA §2.1, RedPajama data_prep/github): keep projects under Apache, BSD or MIT; drop
`.crt` files and LICENSE files; keep RedPajama's extension whitelist; remove the leading
licence/copyright comment with regular expressions; drop files with a line > 1000 characters,
an average line length > 100, an alphanumeric fraction < 0.25 or < 1.5 alphabetic characters
per token; exact file-level dedup on the content hash across the whole run (Beam shuffle).

Inputs: BigQuery `github_repos` exports as JSON lines (files, directories or globs, local or
gs://), and/or local folders: a site-packages (each installed distribution is a repository, its
dist-info gives the licence; the default input), one checkout, or a folder of checkouts; the
launcher lists their folders, the workers find, choose and read the repositories. See docs/github.md.
"""
from __future__ import annotations

import heapq
import logging
from functools import partial
from typing import Any, Iterable, Iterator, Optional, Sequence

import apache_beam as beam

from corpus import github as gh
from corpus import github_repos, licenses, paths, progress
from corpus.fileio import ReadError
from corpus.ledger import Ledger
from corpus.step import RuleStep
from corpus.steps.github import Quality, QualityParams, RepoParams
from pipelines.builder import Config, Shuffle, Source, Stage
from pipelines.transforms import KeepOnePerKey, ReadFiles, error, info

log = logging.getLogger("llama_corpus")


def read(pipeline: beam.Pipeline, config: Config) -> beam.PCollection:
    """Local repositories (listed here, discovered and read on the workers) and BigQuery JSON lines."""
    folders, patterns = split_inputs(config.input)
    options = config[RepoParams]
    streams = []
    if folders or options.repo_list:
        candidates = github_repos.list_candidates(folders)
        if options.repo_list:
            candidates += github_repos.listed_candidates(paths.read_text(options.repo_list))
        streams.append(pipeline | "Local repositories" >> ReadRepositories(candidates, options, config.added))
    if patterns:
        reader = partial(gh.read_bigquery_jsonl, added=config.added, max_record_bytes=options.max_record_bytes)
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
# Reading local repositories: candidates listed on the launcher, everything else on the workers
# ---------------------------------------------------------------------------------------------
class _ReadRepoFn(beam.DoFn):
    """One chosen candidate: find its licence and files (`discover`), then read them."""

    def __init__(self, added: str, max_file_bytes: int):
        self._added = added
        self._max_file_bytes = max_file_bytes

    def process(self, named: github_repos.Named) -> Iterator[Any]:
        repo = github_repos.discover(named)
        yield info("repos_read")
        yield info(f"repos_license_{repo.license_status}")
        yield info(f"repo_license:{repo.license}")
        if repo.license_status != licenses.ALLOWED_STATUS:
            log.info("repository %s excluded: licence %s (%s)", repo.name, repo.license, repo.license_status)
        if repo.symlinks_inside:
            yield info("symlinks_skipped", repo.symlinks_inside)
        for item in github_repos.read_repo(repo, self._added, self._max_file_bytes):
            if isinstance(item, ReadError):
                log.warning("input fault %s in %s", item.reason, item.path)
                yield error(item.reason)
                continue
            progress.tick("read")
            yield item


class _FirstN(beam.CombineFn):
    """The `n` smallest named candidates by `selection_key`, a total order, so every runner keeps
    the same `n` however it splits the combine; an accumulator never holds more than `n`. (Beam's
    `Top.Smallest` gives an empty list on the DaskRunner of Beam 2.77.)"""

    def __init__(self, n: int):
        self._n = n

    def create_accumulator(self) -> list[github_repos.Named]:
        return []

    def add_input(self, acc: list[github_repos.Named], named: github_repos.Named) -> list[github_repos.Named]:
        return self.merge_accumulators([acc, [named]])

    def merge_accumulators(self, accs: Iterable[list[github_repos.Named]]) -> list[github_repos.Named]:
        return heapq.nsmallest(self._n, (named for acc in accs for named in acc), key=github_repos.selection_key)

    def extract_output(self, acc: list[github_repos.Named]) -> list[github_repos.Named]:
        return acc


def _first(named: beam.PCollection, max_repos: int) -> beam.PCollection:
    """The first `max_repos` by `selection_key` (a combine), flattened back to elements."""
    return (named
            | "First N by name" >> beam.CombineGlobally(_FirstN(max_repos))
            | "Chosen" >> beam.FlatMap(lambda chosen: chosen))


class ReadRepositories(beam.PTransform):
    """Every file of each chosen repository as a document (see `corpus.github_repos.read_repo`),
    with `info:repos_read`, `info:repos_license_<status>` and `info:repo_license:<spdx>` per
    repository.

    The launcher hands over only the candidate folders (one directory listing per input). The
    workers name each one (a distribution's METADATA), keep those `--repos` names, keep the first
    `--max_repos` by name with a combine (so the choice is the same as sorting them all), and only
    then walk and read the chosen ones, spread again so each worker reads whole repositories.
    """

    def __init__(self, candidates: Sequence[github_repos.Candidate], options: RepoParams, added: str):
        super().__init__()
        self._candidates = list(candidates)
        self._options = options
        self._added = added

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        names, max_repos = self._options.repos, self._options.max_repos
        named = (
            pbegin
            | "Candidates" >> beam.Create(self._candidates)
            | "Spread candidates" >> beam.Reshuffle()
            | "Name" >> beam.Map(github_repos.name_candidate)
        )
        if names:
            named = named | "Named ones" >> beam.Filter(github_repos.is_wanted, names)
        if max_repos > 0:
            named = _first(named, max_repos)
        return (
            named
            | "Spread repositories" >> beam.Reshuffle()
            | "Read repository files" >> beam.ParDo(_ReadRepoFn(self._added, self._options.max_file_bytes))
        )


def main(argv: Optional[Sequence[str]] = None) -> Ledger:
    return SOURCE.main(argv)


if __name__ == "__main__":
    main()
