"""The paper's Wikipedia-reference quality classifier (LLaMA §2.1; RedPajama `cc/classifier`).

A fastText linear model: `__label__wiki` = CommonCrawl pages whose URL is cited by a Wikipedia
article (the Wikipedia pipeline's `metadata.ref_urls`), `__label__cc` = random CommonCrawl pages,
balanced, text = the page's lines joined by spaces (RedPajama). Pages are scored with
`wiki_prob = p if label == wiki else 1 - p` and kept when `wiki_prob >= 0.25` (RedPajama).

The training set is built by the model build's Beam job (`pipelines.models_data`: a join of the
articles' `<ref>` URLs, normalised by `url_key`, with the pages' URLs; each class capped) and
trained here on one machine (`train_classifier`). Fallback, only with `--allow_fallback`: with
too few cited pages Wikipedia article text is the positive class (the classifier then learns
"looks like Wikipedia" rather than "looks like a page Wikipedia cites"); the card says so
(`fallback_used`) and the CommonCrawl pipeline warns when it uses such a model.

CLI:
    python -m pipelines.models build --skip lid,lm ...          (train; see docs/commoncrawl.md)
    python -m corpus.quality score --model models/quality < page.txt
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from corpus import paths
from corpus.step import param

WIKI_LABEL = "__label__wiki"
CC_LABEL = "__label__cc"
THRESHOLD = 0.25  # RedPajama: keep wiki_prob >= 0.25
MODEL_FILE = "quality.bin"
CARD_FILE = "quality.json"

# Small enough for tests and the repo's demo (ENVIRONMENT: the default bucket=2,000,000 with
# wordNgrams=2 makes an ~800 MB model). RedPajama trained with fastText's defaults.
DEFAULT_TRAIN_OPTIONS: dict[str, Any] = {
    "dim": 16,
    "bucket": 100_000,
    "wordNgrams": 2,
    "minCount": 1,
    "thread": 1,  # one thread: the same inputs give the same model
    "seed": 0,
}
# Epochs and learning rate by training-set size: a few dozen long pages (the samples) need many
# passes at a high rate to move off p = 0.5; a real set (RedPajama: 2 x 300K pages) trains with
# fastText's defaults (5 epochs, lr 0.1). Either can be set explicitly.
SMALL_SET = 10_000
SMALL_SET_OPTIONS = {"epoch": 50, "lr": 1.0}
LARGE_SET_OPTIONS = {"epoch": 5, "lr": 0.1}


# ---------------------------------------------------------------------------------------------
# Text and URLs
# ---------------------------------------------------------------------------------------------
def classifier_text(text: str) -> str:
    """One line for fastText: the document's lines joined by spaces (RedPajama), whitespace folded.

    `str.split()` splits on exactly the characters `re`'s `\\s` matches (str.isspace), so this is
    `re.sub(r"\\s+", " ", text).strip()` at a quarter of the cost."""
    return " ".join(text.split())


def url_key(url: str) -> str:
    """A URL as a match key: scheme, `www.`, fragment and trailing slash ignored, host lower-cased."""
    from urllib.parse import urlsplit

    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    host = (parts.hostname or "").lower()
    if host.startswith("www."):
        host = host[4:]
    port = f":{parts.port}" if parts.port and parts.port not in (80, 443) else ""
    path = parts.path.rstrip("/") or ""
    query = f"?{parts.query}" if parts.query else ""
    return f"{host}{port}{path}{query}"


# ---------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------
class QualityModel:
    """A loaded quality classifier (load once per worker)."""

    def __init__(self, model: Any):
        self._model = model

    @classmethod
    def load(cls, path: str) -> "QualityModel":
        """From the model file or its directory (local, gs://, s3://)."""
        from corpus.lid import load_fasttext

        if paths.is_dir(path):
            path = paths.join(path, MODEL_FILE)
        return cls(load_fasttext(path))

    def wiki_prob(self, text: str) -> float:
        labels, probs = self._model.predict(classifier_text(text), k=1)
        if not labels:
            return 0.0
        p = min(1.0, max(0.0, float(probs[0])))
        return round(p if labels[0] == WIKI_LABEL else 1.0 - p, 4)


# ---------------------------------------------------------------------------------------------
# Training data
# ---------------------------------------------------------------------------------------------
@dataclass
class TrainingSet:
    """The balanced classes (texts as `classifier_text` made them) and how they were chosen."""

    positives: list[str]
    negatives: list[str]
    fallback_used: bool
    stats: dict[str, Any]


@dataclass(frozen=True)
class QualityTrainParams:
    """quality classifier training (fastText supervised)"""

    quality_dim: int = param(DEFAULT_TRAIN_OPTIONS["dim"], "fastText dim")
    quality_bucket: int = param(DEFAULT_TRAIN_OPTIONS["bucket"], "fastText bucket (fastText's 2,000,000 with "
                                                                 "wordNgrams 2 makes ~800 MB models)")
    quality_word_ngrams: int = param(DEFAULT_TRAIN_OPTIONS["wordNgrams"], "fastText wordNgrams")
    quality_epoch: Optional[int] = param(None, f"default: {SMALL_SET_OPTIONS['epoch']} below {SMALL_SET} training "
                                               f"pages, else {LARGE_SET_OPTIONS['epoch']} (fastText's)")
    quality_lr: Optional[float] = param(None, f"default: {SMALL_SET_OPTIONS['lr']} below {SMALL_SET} training "
                                              f"pages, else {LARGE_SET_OPTIONS['lr']} (fastText's)")

    def options(self) -> dict[str, Any]:
        """fastText's options; the unset epoch/lr are sized by `train_classifier`."""
        return {"dim": self.quality_dim, "bucket": self.quality_bucket, "wordNgrams": self.quality_word_ngrams,
                "epoch": self.quality_epoch, "lr": self.quality_lr}


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------
def train_classifier(training: TrainingSet, output_dir: str, options: Optional[dict[str, Any]] = None,
                     sources: Optional[dict[str, Any]] = None, seed: int = 0) -> str:
    """Train the fastText model, write `quality.bin` and its card `quality.json` under `output_dir`
    (local or remote: trained in a local temporary folder, then copied); return the model path."""
    if not training.positives or not training.negatives:
        raise ValueError(f"cannot train the quality classifier: {training.stats}")
    n_rows = len(training.positives) + len(training.negatives)
    sized = SMALL_SET_OPTIONS if n_rows < SMALL_SET else LARGE_SET_OPTIONS
    opts = {**DEFAULT_TRAIN_OPTIONS, **sized, **{k: v for k, v in (options or {}).items() if v is not None}}
    rows = [f"{WIKI_LABEL} {t}" for t in training.positives] + [f"{CC_LABEL} {t}" for t in training.negatives]
    random.Random(seed).shuffle(rows)
    with tempfile.TemporaryDirectory(prefix="quality-") as tmp:
        train_path, local_model = os.path.join(tmp, "train.txt"), Path(tmp) / MODEL_FILE
        with open(train_path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(rows) + "\n")
        # fastText 0.9.2 (fasttext-numpy2-wheel) raises a spurious "Encountered NaN" at random on
        # tiny training sets, and once it does in a process it keeps doing so there. Train in a
        # fresh interpreter and retry; with one thread the model is the same whichever try wins.
        _train_isolated(train_path, str(local_model), opts)
        model_path = paths.join(output_dir, MODEL_FILE)
        card = {
            "model": "fastText supervised linear classifier (Wikipedia references vs random CommonCrawl)",
            "file": MODEL_FILE,
            "bytes": local_model.stat().st_size,
            "digest": "sha256:" + hashlib.sha256(local_model.read_bytes()).hexdigest(),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "labels": {WIKI_LABEL: training.stats.get("positives_source"), CC_LABEL: "random CommonCrawl pages"},
            "training_data": {**training.stats, **(sources or {})},
            "fallback_used": training.fallback_used,
            "options": opts,
            "text": "document lines joined by spaces, whitespace folded (RedPajama)",
            "score": "wiki_prob = p if label == __label__wiki else 1 - p",
            "threshold": THRESHOLD,
            "reference": "LLaMA §2.1; RedPajama-Data rp_v1 data_prep/cc/classifier",
        }
        paths.copy(str(local_model), model_path)
    paths.write_text_atomically(paths.join(output_dir, CARD_FILE), json.dumps(card, indent=2, sort_keys=True) + "\n")
    return model_path


_TRAIN_SCRIPT = """
import json, sys
import fasttext
model = fasttext.train_supervised(input=sys.argv[1], verbose=0, **json.loads(sys.argv[3]))
model.save_model(sys.argv[2])
"""


def _train_isolated(train_path: str, model_path: str, opts: dict[str, Any], attempts: int = 10) -> None:
    import subprocess

    error = ""
    for _ in range(attempts):
        done = subprocess.run([sys.executable, "-c", _TRAIN_SCRIPT, train_path, model_path, json.dumps(opts)],
                              capture_output=True, text=True)
        if done.returncode == 0:
            return
        error = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        if "NaN" not in error:
            break
    raise RuntimeError(f"fastText training failed: {error}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m corpus.quality", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("score", help="wiki_prob of the text on stdin (one document)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default="models/quality", help="quality.bin or its directory (local, gs://, s3://)")
    p.add_argument("--threshold", type=float, default=THRESHOLD, help="kept at or above (RedPajama 0.25)")
    args = parser.parse_args(argv)
    prob = QualityModel.load(args.model).wiki_prob(sys.stdin.read())
    print(json.dumps({"wiki_prob": prob, "kept": prob >= args.threshold}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
