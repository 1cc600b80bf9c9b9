"""C4's steps (TFDS c4/en v3.0.1 order, RECIPE §4) over the rules of `corpus.c4`."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable, Optional

from corpus import c4
from corpus.document import Document
from corpus.rules import Drop, Outcome
from corpus.step import Step, param


@dataclass(frozen=True)
class C4Options:
    """C4 (defaults: TFDS c4/en, RECIPE §4)"""

    input_format: str = param("auto", "wet (Common Crawl WET), c4json (C4 JSON lines) or auto (sniff each file)",
                              choices=c4.INPUT_FORMATS)
    variant: str = param("tfds", "tfds: >= 5 words per line, >= 3 sentences (released C4); "
                                 "paper: >= 3 words per line, >= 5 sentences (T5 paper's text)",
                         choices=sorted(c4.VARIANTS))
    min_words_per_line: Optional[int] = param(None, "override the variant's value")
    min_num_sentences: Optional[int] = param(None, "override the variant's value")
    max_page_length: int = param(c4.MAX_PAGE_LENGTH, "drop pages longer than this many characters (TFDS 1.9e5)")
    min_english_probability: float = param(c4.MIN_ENGLISH_PROBABILITY,
                                           "langdetect probability of `en` a page needs (TFDS 0.99)")
    badwords_file: Optional[str] = param(None, "word list, one per line (default: the bundled LDNOOBW en list, "
                                               "corpus/data/ldnoobw_en.txt)")
    max_line_mb: float = param(c4.MAX_LINE_MB, "skip (error:line_too_long) a C4 JSON line longer than this (MiB); "
                                               "released C4 lines are under 1.2 MB")

    def thresholds(self) -> c4.C4Params:
        """The variant's thresholds with the flags that override them."""
        overrides = {name: getattr(self, name) for name in
                     ("min_words_per_line", "min_num_sentences", "max_page_length", "min_english_probability")}
        return dataclasses.replace(c4.VARIANTS[self.variant], **{k: v for k, v in overrides.items() if v is not None})


def count_lines(step: Step, lines: dict) -> None:
    """Per-line outcomes as `info:c4_line_<outcome>`."""
    for name, n in lines.items():
        step.count(f"c4_line_{name}", n)


class PageLength(Step):
    Params = c4.C4Params
    name = "Page length"

    def __call__(self, doc: Document) -> Outcome:
        return c4.check_length(doc, self.params.max_page_length)


class CleanLines(Step):
    """TFDS `clean_page`: long words, citations, end marks, words per line, javascript, policy."""

    Params = c4.C4Params
    name = "Clean lines"

    def setup(self) -> None:
        c4.sentence_tokenizer()

    def __call__(self, doc: Document) -> Outcome:
        result = c4.clean_text(doc.text, self.params)
        count_lines(self, result.lines)
        return result.outcome(doc)


class RemoveDuplicateLines(Step):
    """The second half of TFDS `remove_duplicate_text`: a page keeps only the lines it won."""

    Params = c4.C4Params
    name = "Remove lines"

    def setup(self) -> None:
        c4.sentence_tokenizer()

    def keep(self, doc: Document, won: Iterable[str]) -> Outcome:
        result = c4.remove_lost_lines(doc.text, set(won), self.params.min_num_sentences)
        count_lines(self, result.lines)
        return result.outcome(doc)


class English(Step):
    """langdetect (seed 0): top language `en` with probability >= min_english_probability."""

    Params = c4.C4Params
    name = "English"

    def setup(self) -> None:
        c4.english_rule()  # loads langdetect's profiles once per worker

    def __call__(self, doc: Document) -> Outcome:
        return c4.detect_english(doc, self.params.min_english_probability)


class BadWords(Step):
    """LDNOOBW: drop pages containing a listed word. The list is read on the launcher and travels
    inside the step, so workers need no file."""

    name = "Bad words"
    Params = C4Options

    def __init__(self, params: C4Options) -> None:
        super().__init__(params)
        self.words = c4.load_badwords(params.badwords_file)
        self._pattern = None

    def setup(self) -> None:
        self._pattern = c4.badwords_regex(self.words)

    def __call__(self, doc: Document) -> Outcome:
        return Drop("badwords") if c4.has_badword(doc.text, self._pattern) else doc


class Split(Step):
    """md5(normalised url) % 1000 == 0 -> validation, else train."""

    name = "Split"

    def __call__(self, doc: Document) -> Outcome:
        return c4.add_split(doc)
