"""GitHub's params and its one step with state (LLaMA §2.1, RedPajama `data_prep/github`, RECIPE §3.3).

The other rules are plain `corpus.github` functions, wrapped in `RuleStep`s by the pipeline; the
quality heuristics are a `Step` because the optional SentencePiece model loads once per worker.
`RepoParams` are read by the pipeline's reader (local repositories), not by a step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from corpus import github as gh
from corpus.document import Document
from corpus.rules import Outcome, Rule
from corpus.step import Step, param


@dataclass(frozen=True)
class RepoParams:
    """GitHub inputs: local repositories (site-packages, checkouts) and BigQuery rows"""

    repos: Optional[tuple[str, ...]] = param(None, "local inputs only: keep these repositories (distribution "
                                                   "or folder names, case/-/_ insensitive)", nargs="+")
    max_repos: int = param(0, "local inputs only: keep the first N repositories by name (0 = all)")
    repo_list: Optional[str] = param(None, "a text file with one local repository path per line "
                                           "(added to --input)")
    max_file_bytes: int = param(1 << 20, "local files larger than this are dropped (file_too_large), like "
                                         "BigQuery's `contents` table, which holds no text for files of 1 MiB "
                                         "or more")
    max_record_bytes: int = param(gh.MAX_RECORD_BYTES, "BigQuery inputs: a JSON line longer than this is skipped "
                                                       "unread (error:record_too_large); a row holds < 1 MiB of "
                                                       "content, which JSON escaping grows at most 6x")


@dataclass(frozen=True)
class QualityParams(gh.Thresholds):
    """GitHub file quality (defaults: RedPajama's thresholds, github_run_filter.py)"""

    tokenizer: Optional[str] = param(None, "SentencePiece model for the alphabetic-characters-per-token rule "
                                           "(local, gs://, s3://); default: regex tokens (\\w+ or one "
                                           "punctuation character)")


class Quality(Step):
    """Longest line, average line length, alphanumeric fraction, alphabetic characters per token;
    annotates the statistics and the content hash the dedup uses. The SentencePiece model, if
    any, is loaded once per worker."""

    name = "Line length, alnum, alpha/token"
    Params = QualityParams

    def __init__(self, params: Optional[QualityParams] = None) -> None:
        super().__init__(params)
        self._rule: Optional[Rule] = None

    def setup(self) -> None:
        self._rule = gh.make_quality_rule(self.params.tokenizer, self.params)

    def __call__(self, doc: Document) -> Outcome:
        return self._rule(doc)  # type: ignore[misc]  # set by setup()
