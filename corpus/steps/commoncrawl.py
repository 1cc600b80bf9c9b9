"""CommonCrawl's steps (cc_net `mine.py` order + the paper's classifier, RECIPE §2) and the models
they use. Language ID is the shared `corpus.steps.lid.LanguageId` in `filter` mode; the line dedup
needs the shuffle and is `pipelines/commoncrawl.py`'s `CcnetLineDedup` over `corpus.ccnet`.

Models come from `--models` (`make models`): `lm/` (per-language SentencePiece + KenLM +
cutoffs), `quality/` (the fastText classifier), `lid.json` (which LID model). `resolve_models`
checks them on the launcher, so a missing one fails before the job starts, and hands the steps
references only (URLs under --models, `lid.PACKAGED`), resolved on the workers. On the workers, LID and
the classifier load in `setup()`, each LM at its language's first page; every file is read through
`corpus.paths` (local, gs://, s3://).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from corpus import ccnet, lid, lm, paths, quality, wet
from corpus.document import Document
from corpus.rules import Drop, Outcome
from corpus.step import Step, param


def _checked(parse: Callable[[str], Any]) -> Callable[[str], str]:
    """An argparse `type` that rejects what `parse` rejects and keeps the flag's text."""

    def check(value: str) -> str:
        try:
            parse(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc
        return value

    return check


def _positive_mb(value: str) -> float:
    """An argparse `type` for a size in MB: a number above zero."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value}") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return number


@dataclass(frozen=True)
class CommonCrawlParams:
    """commoncrawl (cc_net defaults unless noted)"""

    models: str = param("models", "directory with lm/, quality/ and lid.json (make models); local, gs:// or s3://")
    min_len: int = param(wet.MIN_LEN, "drop pages whose text (title excluded) is shorter (cc_net min_len)")
    dedup_scope: str = param("global", "line-dedup scope: global (whole run, through the shuffle), shard (per "
                                       "input file, RedPajama --hash_in_mem 1), group:N (files sorted and grouped "
                                       "N at a time, cc_net hash_in_mem=N, default 50)",
                             type=_checked(ccnet.parse_scope))
    dedup_partitions: Optional[int] = param(None, "hash partitions and document buckets of the dedup shuffle "
                                                  "(default: one per --dedup_partition_mb of WET input, at "
                                                  f"least {ccnet.MIN_PARTITIONS})")
    dedup_partition_mb: float = param(ccnet.DEFAULT_PARTITION_MB,
                                      "MB of WET input (as stored) per hash partition and document bucket when "
                                      "--dedup_partitions is not given: bounds what one dedup reducer holds",
                                      type=_positive_mb)
    dedup_group_mb: float = param(ccnet.DEFAULT_GROUP_MB,
                                  "MB of (line hash, page) pairs, 16 bytes each, one line-dedup join receives: a "
                                  "hash partition with more (lines shared by many pages) is split by page into as many "
                                  "groups as it needs, each sent the partition's duplicated hashes",
                                  type=_positive_mb)
    languages: str = param(",".join(lid.DEFAULT_LANGUAGES), "comma-separated languages to keep ('' keeps all; "
                                                            "LLaMA: en)")
    keep_buckets: str = param(",".join(ccnet.DEFAULT_KEEP_BUCKETS),
                              "perplexity buckets to keep (head,middle,tail; add 'all' to keep pages whose "
                              "language has no LM, otherwise they are dropped as no_language_model)",
                              type=_checked(ccnet.parse_buckets))
    quality_threshold: float = param(quality.THRESHOLD, "keep pages with wiki_prob >= this (RedPajama 0.25)")
    no_perplexity: bool = param(False, "skip the perplexity and bucket stages (no LM needed)")
    no_quality: bool = param(False, "skip the Wikipedia-reference classifier (no quality model needed)")

    def scope(self) -> ccnet.DedupScope:
        return ccnet.parse_scope(self.dedup_scope)

    def kept_languages(self) -> Optional[tuple[str, ...]]:
        """The languages LID keeps; None keeps every language."""
        return tuple(x for x in self.languages.split(",") if x) or None


# ---------------------------------------------------------------------------------------------
# The models of a run, found on the launcher
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Models:
    """Where the run's models are: the LID model, the LM directory and its languages (when the
    perplexity stage runs) and the quality classifier (when that stage runs)."""

    lid: str
    lm_dir: Optional[str] = None
    lm_languages: tuple[str, ...] = ()
    quality: Optional[str] = None


@dataclass(frozen=True)
class DedupSize:
    """How the line-dedup shuffle is cut for this run (found on the launcher from the input's size)."""

    input_bytes: int
    partitions: int
    group_pairs: int  # (hash, page) pairs per salted join group


def resolve_dedup_size(params: CommonCrawlParams, inputs: Sequence[str]) -> DedupSize:
    """`--dedup_partitions` when given, else one partition per `--dedup_partition_mb` of the WET
    files listed (their stored sizes: a listing the reader makes anyway, no file is opened)."""
    total = sum(paths.size(f) for f in paths.expand(inputs) if wet.is_wet_file(f))
    partitions = params.dedup_partitions or ccnet.dedup_partitions(total, params.dedup_partition_mb)
    return DedupSize(total, partitions, max(1, int(params.dedup_group_mb * (1 << 20)) // ccnet.PAIR_BYTES))


def resolve_models(params: CommonCrawlParams, lid_model: Optional[str] = None) -> Models:
    """Where each model of the run comes from, as references the workers resolve (never a path of
    this machine's installation); exits early with the command that builds a missing one. An error
    reaching `--models` (endpoint, credentials, bucket) stops the run with that error, not as a
    missing model."""
    models = params.models.rstrip("/")
    lm_dir, languages, quality_path = None, (), None
    if not params.no_perplexity:
        lm_dir = paths.join(models, "lm")
        languages = tuple(sorted(_reach(lambda: lm.available_languages(lm_dir), lm_dir)))
        if not languages:
            raise SystemExit(f"no language model under {lm_dir}{_why(paths.join(lm_dir, lm.INDEX))}: run `make "
                             "models` (python -m pipelines.models build --output models) or pass --no_perplexity")
    if not params.no_quality:
        quality_path = paths.join(models, "quality", quality.MODEL_FILE)
        if not _reach(lambda: paths.exists(quality_path), quality_path):
            raise SystemExit(f"no quality classifier at {quality_path}{_why(quality_path)}: run `make models` or "
                             "pass --no_quality")
    lid_ref = lid_model or _reach(lambda: lid.model_from_card(models), paths.join(models, lid.CARD_FILE))
    return Models(lid_ref or lid.PACKAGED, lm_dir, languages, quality_path)


def _why(path: str) -> str:
    """What opening `path` says (" (FileNotFoundError: no such bucket ...)"), for the stop message."""
    try:
        with paths.open(path, "rb"):
            return ""
    except Exception as exc:  # the reason is the message: a missing bucket reads differently from a missing key
        return f" ({type(exc).__name__}: {exc})"


def _reach(ask: Callable[[], Any], where: str) -> Any:
    """`ask()`, or a stop that names what failed on the way to `where` (not "no model")."""
    try:
        return ask()
    except Exception as exc:  # botocore's own errors (no credentials, endpoint) are not OSErrors
        raise SystemExit(f"cannot read {where}: {type(exc).__name__}: {exc}") from exc


def _card(path: str) -> dict[str, Any]:
    """A model's JSON card; a missing or unreadable card is recorded as empty."""
    try:
        return json.loads(paths.read_text(path))
    except (OSError, ValueError):
        return {}


def model_cards(models: Models) -> dict[str, Any]:
    """What the run's stats.json records about each model (digest, and the classifier's fallback)."""
    cards: dict[str, Any] = {"lid": {"path": models.lid}}
    if models.quality is not None:
        card = _card(paths.join(paths.parent(models.quality), quality.CARD_FILE))
        data = card.get("training_data", {})
        cards["quality"] = {"path": models.quality, "digest": card.get("digest"),
                            "fallback_used": card.get("fallback_used"),
                            "positives_source": data.get("positives_source"),
                            "fallback_reason": data.get("fallback_reason"),
                            "positives": data.get("positives"), "negatives": data.get("negatives")}
    if models.lm_dir is not None:
        cards["lm"] = {}
        for language in models.lm_languages:
            card = _card(paths.join(models.lm_dir, f"{language}.json"))
            cards["lm"][language] = {"cutoffs": card.get("cutoffs"),
                                     "kenlm_sha256": (card.get("kenlm") or {}).get("sha256"),
                                     "sentencepiece_sha256": (card.get("sentencepiece") or {}).get("sha256")}
    return cards


def model_warnings(cards: dict[str, Any]) -> list[str]:
    """What a run must say about its models: a quality classifier trained on the fallback."""
    used = cards.get("quality") or {}
    if not used.get("fallback_used"):
        return []
    return [f"the quality classifier {used.get('path')} was trained with the fallback (Wikipedia article text as "
            f"positives: it scores 'looks like Wikipedia', not 'cited by Wikipedia'): {used.get('fallback_reason')}"]


# ---------------------------------------------------------------------------------------------
# The steps
# ---------------------------------------------------------------------------------------------
class MinLength(Step):
    """cc_net's `min_len`: drop pages whose text (title excluded) has fewer characters."""

    name = "min_len"
    Params = CommonCrawlParams

    def __call__(self, doc: Document) -> Outcome:
        return Drop("too_short") if len(doc.text) < self.params.min_len else doc


class Perplexity(Step):
    """Annotate cc_net's `perplexity` (rounded to 1 decimal) and its `bucket`. A page whose language
    has no LM gets `bucket = "all"`, `perplexity = None` (cc_net); the bucket step decides.

    Each LM loads on the worker at its language's first page (as cc_net's DocLM), not in `setup()`:
    a run that keeps every language must not hold every LM on every worker."""

    name = "Perplexity"

    def __init__(self, directory: str, languages: Sequence[str]) -> None:
        super().__init__()
        self.directory = directory
        self.languages = frozenset(languages)
        self._models: dict[str, lm.PerplexityModel] = {}

    def __call__(self, doc: Document) -> Outcome:
        language = doc.metadata.get("language", "")
        if language not in self.languages:
            return doc.with_metadata(perplexity=None, bucket=ccnet.NO_LM_BUCKET)
        model = self._models.get(language)
        if model is None:
            model = self._models[language] = lm.PerplexityModel.load(self.directory, language)
        perplexity, bucket = ccnet.perplexity_and_bucket(model, doc.text)
        return doc.with_metadata(perplexity=perplexity, bucket=bucket)


class KeepBuckets(Step):
    """Keep the `--keep_buckets`; drop `bucket_<name>`, or `no_language_model` for bucket `all`."""

    name = "Bucket"
    Params = CommonCrawlParams

    def __init__(self, params: CommonCrawlParams) -> None:
        super().__init__(params)
        self.keep = frozenset(ccnet.parse_buckets(params.keep_buckets))

    def __call__(self, doc: Document) -> Outcome:
        return ccnet.bucket_outcome(doc, self.keep)


class WikiReference(Step):
    """The paper's Wikipedia-reference classifier: annotate `wiki_prob`, drop pages below
    `--quality_threshold` (`low_wiki_prob`)."""

    name = "Wikipedia-reference classifier"
    Params = CommonCrawlParams

    def __init__(self, params: CommonCrawlParams, model_path: str) -> None:
        super().__init__(params)
        self.model_path = model_path
        self._model: Optional[quality.QualityModel] = None

    def setup(self) -> None:
        self._model = quality.QualityModel.load(self.model_path)

    def __call__(self, doc: Document) -> Outcome:
        prob = self._model.wiki_prob(doc.text)  # type: ignore[union-attr]
        return Drop("low_wiki_prob") if prob < self.params.quality_threshold else doc.with_metadata(wiki_prob=prob)
