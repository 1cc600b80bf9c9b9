"""Wikipedia's steps (LLaMA §2.1, docs/wikipedia.md) over the rules of `corpus.wikipedia`.

Language verification is the shared `corpus.steps.lid.LanguageId` in `verify` mode with
`corpus.wikipedia.same_language` as its comparison (see `pipelines/wikipedia.py`).
"""
from __future__ import annotations

from dataclasses import dataclass

from corpus import wikipedia
from corpus.document import Document
from corpus.rules import Outcome
from corpus.step import Step, param


@dataclass(frozen=True)
class WikipediaParams:
    """Wikipedia (LLaMA §2.1)"""

    languages: tuple[str, ...] = param(wikipedia.LANGUAGES,
                                       "Wikipedia language codes to keep (LLaMA §2.1: the 20 Latin/Cyrillic-script "
                                       "editions); pages of other dumps are dropped as language_not_kept",
                                       metavar="LANG")
    verify_language: bool = param(False, "drop articles that fastText LID (lid.176) confidently (>= "
                                         "--lang_threshold) puts in another language than their dump "
                                         "(language_mismatch); off by default: LLaMA trusts the dump, and a "
                                         "mislabelled dump is rare")
    min_chars: int = param(0, "drop articles shorter than this many characters after cleaning (too_short); "
                              "LLaMA and RedPajama set no threshold, so 0 keeps every non-empty article")


class Articles(Step):
    """Namespace 0 only (`not_article_namespace`), no redirects (`redirect`)."""

    name = "Articles, no redirects"

    def __call__(self, doc: Document) -> Outcome:
        return wikipedia.keep_articles(doc)


class KeepLanguages(Step):
    """The editions of `--languages` (`language_not_kept`; no language: `unknown_language`)."""

    name = "Keep languages"
    Params = WikipediaParams

    def __init__(self, params: WikipediaParams) -> None:
        super().__init__(params)
        self._languages = frozenset(params.languages)

    def __call__(self, doc: Document) -> Outcome:
        return wikipedia.keep_languages(doc, self._languages)


class RemoveMarkup(Step):
    """Wikitext -> text and `ref_urls` (`empty_after_cleaning`, `markup_too_deep`)."""

    name = "Remove markup"

    def __call__(self, doc: Document) -> Outcome:
        return wikipedia.clean_article(doc)


class MinChars(Step):
    """Cleaned articles shorter than `--min_chars` (`too_short`)."""

    name = "Minimum length"
    Params = WikipediaParams

    def __call__(self, doc: Document) -> Outcome:
        return wikipedia.min_chars(doc, self.params.min_chars)
