"""Wikipedia's steps (LLaMA §2.1, docs/wikipedia.md) over the rules of `corpus.wikipedia`.

Language verification is the shared `corpus.steps.lid.LanguageId` in `verify` mode with
`corpus.wikipedia.same_language` as its comparison (see `pipelines/wikipedia.py`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from corpus import lid, wikipedia, wikipedia_dump
from corpus.document import Document
from corpus.rules import Outcome
from corpus.step import Step, param
from corpus.steps.lid import LidModelParams


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
    max_page_chars: int = param(wikipedia_dump.MAX_PAGE_CHARS,
                                "pages whose wikitext is longer are not held by the reader and are dropped "
                                "(page_too_large): twice MediaWiki's $wgMaxArticleSize of 2 MiB, which every "
                                "Wikimedia wiki enforces, so no real revision is lost")
    relabel_language: bool = param(True, "move articles that fastText LID puts in another of --languages with a "
                                         "score >= --relabel_threshold to that language (metadata language, url; "
                                         "dump_language keeps the dump's); counted as "
                                         "info:relabelled_language:<from>_to_<to>")
    relabel_threshold: float = param(0.9, "LID score an article needs to be relabelled: above --lang_threshold "
                                          "because it overrides the dump's own label")
    min_chars: int = param(0, "drop articles shorter than this many characters after cleaning (too_short); "
                              "LLaMA and RedPajama set no threshold, so 0 keeps every non-empty article")


class Articles(Step):
    """Pages within `--max_page_chars` (`page_too_large`), namespace 0 only (`not_article_namespace`),
    no redirects (`redirect`)."""

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


class RelabelLanguage(Step):
    """An article LID is sure is in another kept language goes under that language
    (`info:relabelled_language:<from>_to_<to>`); see `corpus.wikipedia.relabel`."""

    name = "Relabel language"
    Params = WikipediaParams

    def __init__(self, params: WikipediaParams, lid_params: LidModelParams) -> None:
        super().__init__(params)
        self.lid_params = lid_params
        self._languages = frozenset(params.languages)
        self._identifier: Optional[lid.LanguageIdentifier] = None

    def setup(self) -> None:
        self._identifier = lid.LanguageIdentifier.load(self.lid_params.lid_model)

    def __call__(self, doc: Document) -> Outcome:
        prediction = self._identifier.predict(doc.text)  # type: ignore[union-attr]  # set by setup()
        out = wikipedia.relabel(doc, prediction.language, prediction.score, self.params.relabel_threshold,
                                self._languages)
        if out is not doc:
            self.count(f"relabelled_language:{doc.metadata.get('language')}_to_{out.metadata['language']}")
        return out


class MinChars(Step):
    """Cleaned articles shorter than `--min_chars` (`too_short`)."""

    name = "Minimum length"
    Params = WikipediaParams

    def __call__(self, doc: Document) -> Outcome:
        return wikipedia.min_chars(doc, self.params.min_chars)
