"""cc_net's per-language perplexity models: SentencePiece unigram + KenLM 5-gram, with cutoffs.

RECIPE §2.6–2.7. Per language, trained on our Wikipedia pipeline's output:

    <dir>/<lang>.sp.model   SentencePiece unigram model (cc_net: vocab 65,536; scaled down here
                            for small corpora), trained on `normalize()`d paragraphs
    <dir>/<lang>.arpa.bin   KenLM 5-gram (`lmplz -o 5 --discount_fallback`, then `build_binary`)
                            over the SentencePiece pieces of the same paragraphs
    <dir>/<lang>.json       card: training data, sizes, options, date, sha256 digests, cutoffs
    <dir>/languages.json    index of the languages in the directory (for mirrors that cannot list)

Model directories may be local or remote (gs://, s3://, ...): every file goes through
`corpus.paths`; KenLM maps a local copy of its file.

Perplexity of a document, as cc_net's `DocLM`: for each line (paragraph) of the document,
`normalize()` it, cut it into pieces, score the space-joined pieces with KenLM (log10, with
<s> and </s>), and sum; `perplexity = 10 ** (-Σ log10 score / Σ (n_pieces + 1))`. cc_net
normalises the whole document first, which glues its lines into one; we score line by line, as
its `DocLM` was written to (and as the model was trained).

Cutoffs: percentiles 30 and 60 of the perplexities of a reference sample (by default the
held-out 10% of the Wikipedia documents, or `--reference` documents such as the language's
CommonCrawl pages, which is how cc_net computed `cutoff.csv`). `bucket(pp)` is `head` below p30,
`middle` below p60, else `tail`.

    python -m corpus.lm train --wikipedia out/wikipedia --output models/lm [--languages en uk]
    python -m corpus.lm calibrate --models models/lm --language en --reference out/commoncrawl
    python -m corpus.lm score --models models/lm --language en < text.txt
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence

from corpus import docfiles, paths
from corpus.ccnet_text import normalize, normalize_lines
from corpus.progress import Progress
from corpus.shards import sha256_file
from corpus.step import add_params, param, params_from

SP_SUFFIX = ".sp.model"
LM_SUFFIX = ".arpa.bin"
CARD_SUFFIX = ".json"
INDEX = "languages.json"

CCNET_VOCAB = 65_536  # cc_net's SentencePiece vocabulary (hard limit; 40,000 retry)
MIN_VOCAB = 1_000
CHARS_PER_PIECE = 1_000  # small corpora: one vocabulary entry per 1,000 training characters
HOLDOUT_EVERY = 10  # one document in ten (by content hash) is held out for the cutoffs
REFERENCE_DOCUMENTS = 100_000  # reference documents read per language for the cutoffs
FALLBACK_REFERENCE = 1_000  # training documents kept as the reference when none is held out
PERCENTILES = (10, 20, 30, 40, 50, 60, 70, 80, 90)
BINARIES = ("trie", "probing")
# SentencePiece's `minloglevel` for training: 0 = INFO, its progress on stderr. A process-wide
# setting that sticks from one training to the next, so every training passes it.
SENTENCEPIECE_LOG_LEVEL = 0


@dataclass(frozen=True)
class LMParams:
    """Per-language model training (cc_net's settings unless said otherwise)"""

    order: int = param(5, "n-gram order (cc_net: 5)")
    vocab_size: int = param(CCNET_VOCAB, f"SentencePiece vocabulary (cc_net: {CCNET_VOCAB}); scaled down to 1 "
                                         f"per {CHARS_PER_PIECE} training characters, at least {MIN_VOCAB}")
    seed: int = param(0, "SentencePiece's random seed")
    memory: str = param("1G", "lmplz/build_binary -S")
    threads: int = param(1, "SentencePiece training threads")
    binary: str = param("trie", "KenLM binary: trie with 8-bit quantisation (~4x smaller; sample models stay "
                                "~10 MB) or probing (cc_net's default, fastest)", choices=BINARIES)
    prune: tuple[int, ...] = param((), "lmplz --prune thresholds per order, e.g. 0 0 1 (cc_net: no pruning)",
                                   nargs="*")
    created: Optional[str] = param(None, "date written in the cards (default: today, UTC)")


# =============================================================================================
# Finding the tools and files
# =============================================================================================
def kenlm_tool(name: str) -> str:
    """Path of `lmplz` / `build_binary`: $KENLM_BIN, the venv's bin (scripts/build_kenlm.sh), PATH."""
    candidates = []
    if os.environ.get("KENLM_BIN"):
        candidates.append(Path(os.environ["KENLM_BIN"]) / name)
    candidates.append(Path(sys.executable).parent / name)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(
        f"KenLM's {name} not found: run scripts/build_kenlm.sh .venv (or `make setup`), or set $KENLM_BIN"
    )


def available_languages(directory: str) -> list[str]:
    """Languages with a complete model (card + SentencePiece + KenLM) in `directory`."""
    cards = [paths.basename(f) for f in paths.list_files(paths.join(directory, "*" + CARD_SUFFIX))]
    languages = [name[: -len(CARD_SUFFIX)] for name in cards if name != INDEX]
    return sorted(language for language in languages
                  if all(paths.is_file(paths.join(directory, language + suffix)) for suffix in (SP_SUFFIX, LM_SUFFIX)))


# =============================================================================================
# The model
# =============================================================================================
class PerplexityModel:
    """A language's SentencePiece + KenLM pair and its perplexity cutoffs (p30, p60)."""

    def __init__(self, language: str, sp: Any, lm: Any, cutoffs: tuple[float, float], card: dict[str, Any]):
        self.language = language
        self.sp = sp
        self.lm = lm
        self.cutoffs: tuple[float, float] = (float(cutoffs[0]), float(cutoffs[1]))
        self.card = card

    @classmethod
    def load(cls, directory: str, language: str) -> "PerplexityModel":
        """Load `<directory>/<language>.{sp.model,arpa.bin,json}` from a local or remote path.

        A remote KenLM file is copied to a local cached file first (KenLM maps a local file).
        """
        import kenlm
        import sentencepiece as spm

        card = json.loads(paths.read_text(paths.join(directory, language + CARD_SUFFIX)))
        sp = spm.SentencePieceProcessor(model_proto=paths.read_bytes(paths.join(directory, language + SP_SUFFIX)))
        lm = kenlm.Model(paths.local_copy(paths.join(directory, language + LM_SUFFIX)))
        cutoffs = card["cutoffs"]
        return cls(language, sp, lm, (cutoffs["p30"], cutoffs["p60"]), card)

    def pieces(self, line: str) -> list[str]:
        """SentencePiece pieces of one normalised line."""
        return self.sp.encode(line, out_type=str)

    def score(self, text: str) -> tuple[float, int]:
        """(Σ log10 probability, Σ (pieces + 1)) over the lines of `text` (cc_net's DocLM sums)."""
        log_score = 0.0
        length = 0
        for normalized in normalize_lines(text):
            if not normalized:
                continue
            pieces = self.pieces(normalized)
            if not pieces:
                continue
            log_score += self.lm.score(" ".join(pieces), bos=True, eos=True)
            length += len(pieces) + 1
        return log_score, length

    def perplexity(self, text: str) -> float:
        """cc_net's perplexity `10 ** (-Σ log10 score / Σ (n_pieces + 1))`; +inf for a text with no words."""
        log_score, length = self.score(text)
        if length == 0:
            return math.inf
        return 10.0 ** (-log_score / length)

    def bucket(self, perplexity: float) -> str:
        """`head` (< p30), `middle` (< p60) or `tail`, as cc_net's PerplexityBucket."""
        p30, p60 = self.cutoffs
        if perplexity < p30:
            return "head"
        if perplexity < p60:
            return "middle"
        return "tail"


# =============================================================================================
# Training
# =============================================================================================
def _held_out(text: str) -> bool:
    digest = hashlib.sha1(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "little") % HOLDOUT_EVERY == 0


def lm_lines(text: str) -> Iterator[str]:
    """The normalised, non-empty paragraphs of a document: one training line each."""
    for line in text.split("\n"):
        normalized = normalize(line)
        if normalized.strip():
            yield normalized


def scaled_vocab_size(requested: int, characters: int) -> int:
    """cc_net's 65,536 for Wikipedia-sized corpora, fewer for small ones (1 per 1,000 chars)."""
    return max(MIN_VOCAB, min(requested, characters // CHARS_PER_PIECE))


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), without numpy."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def cutoffs_of(perplexities: Sequence[float]) -> dict[str, Any]:
    finite = [p for p in perplexities if math.isfinite(p)]
    if not finite:
        raise ValueError("no finite perplexity in the reference sample")
    table = {f"p{q}": round(percentile(finite, q), 3) for q in PERCENTILES}
    return {**table, "n": len(finite)}


def _run(command: list[str], stdin_path: Optional[Path] = None) -> None:
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    try:
        result = subprocess.run(command, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    finally:
        if stdin_path:
            stdin.close()  # type: ignore[union-attr]
    if result.returncode != 0:
        tail = result.stderr.decode("utf-8", "replace")[-2000:]
        raise RuntimeError(f"{Path(command[0]).name} failed ({result.returncode}): {tail}")


class Laps:
    """Seconds spent in each named stage, printed (not written: they vary run to run)."""

    def __init__(self) -> None:
        self.started = self._clock = time.monotonic()
        self.seconds: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.seconds[name] = now - self._clock
        self._clock = now

    def __str__(self) -> str:
        return ", ".join(f"{k} {v:.1f}s" for k, v in self.seconds.items())


@dataclass
class TrainingText:
    """The normalised paragraphs written for training, and the documents kept aside."""

    path: Path
    documents: int = 0
    lines: int = 0
    characters: int = 0
    held_out: list[str] = field(default_factory=list)
    first_trained: list[str] = field(default_factory=list)  # fallback reference when nothing is held out


def write_training_text(documents: Iterable[str], path: Path, hold_out: bool, label: str) -> TrainingText:
    """Stream the normalised paragraphs to `path` (never the corpus in memory); with `hold_out`,
    one document in ten (by sha1 of its text) is kept aside for the cutoffs instead."""
    text = TrainingText(path)
    reporter = Progress(label, main="documents").start()
    try:
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            for doc in documents:
                reporter.add("documents")
                if hold_out and _held_out(doc):
                    text.held_out.append(doc)
                    continue
                text.documents += 1
                if len(text.first_trained) < FALLBACK_REFERENCE:
                    text.first_trained.append(doc)
                for line in lm_lines(doc):
                    handle.write(line + "\n")
                    text.lines += 1
                    text.characters += len(line)
    finally:
        reporter.stop()
    return text


def sentencepiece_options(params: LMParams, characters: int) -> dict[str, Any]:
    """cc_net's unigram options, the vocabulary scaled to the text; seeded, fixed thread count."""
    return dict(
        model_type="unigram",
        vocab_size=scaled_vocab_size(params.vocab_size, characters),
        hard_vocab_limit=False,
        character_coverage=0.9995,
        input_sentence_size=2_000_000,
        shuffle_input_sentence=True,
        max_sentence_length=16_384,
        num_threads=params.threads,
    )


def train_lm_sentencepiece(text_path: Path, options: dict[str, Any], seed: int) -> bytes:
    """The unigram model's bytes; SentencePiece logs its progress on stderr (INFO).

    Fed through an iterator into memory: a file input would record its temporary path in the
    model's TrainerSpec and make two identical trainings differ."""
    import sentencepiece as spm

    spm.set_random_generator_seed(seed)
    model = io.BytesIO()
    with open(text_path, encoding="utf-8") as lines_in:
        spm.SentencePieceTrainer.train(sentence_iterator=(line.rstrip("\n") for line in lines_in),
                                       model_writer=model, minloglevel=SENTENCEPIECE_LOG_LEVEL, **options)
    return model.getvalue()


def write_pieces(sp: Any, text_path: Path, pieces_path: Path) -> int:
    """The same paragraphs as space-joined pieces (KenLM's training text); returns the piece count."""
    n_pieces = 0
    with open(text_path, encoding="utf-8") as src, open(pieces_path, "w", encoding="utf-8", newline="\n") as dst:
        for line in src:
            pieces = sp.encode(line.rstrip("\n"), out_type=str)
            n_pieces += len(pieces)
            dst.write(" ".join(pieces) + "\n")
    return n_pieces


def build_kenlm(pieces_path: Path, tmp: Path, params: LMParams, laps: Laps) -> tuple[Path, int, dict[str, Any]]:
    """lmplz (cc_net always passes --discount_fallback; small corpora need it) + build_binary.
    Returns (binary file, ARPA bytes, the options for the card)."""
    arpa = tmp / "lm.arpa"
    options: dict[str, Any] = {"order": params.order, "discount_fallback": True, "memory": params.memory,
                               "prune": list(params.prune), "build_binary": params.binary}
    prune_args = ["--prune", *map(str, params.prune)] if params.prune else []
    _run([kenlm_tool("lmplz"), "-o", str(params.order), "-S", params.memory, "-T", str(tmp), "--discount_fallback",
          *prune_args, "--arpa", str(arpa)], stdin_path=pieces_path)
    pieces_path.unlink()
    laps.lap("lmplz")
    binary_path = tmp / "lm.arpa.bin"
    quantize = ["-q", "8", "-b", "8"] if params.binary == "trie" else []
    if quantize:
        options["quantization_bits"] = 8
    _run([kenlm_tool("build_binary"), "-S", params.memory, "-T", str(tmp), *quantize, params.binary, str(arpa),
          str(binary_path)])
    arpa_bytes = arpa.stat().st_size
    arpa.unlink()
    laps.lap("build_binary")
    return binary_path, arpa_bytes, options


def reference_cutoffs(model: PerplexityModel, reference: Optional[Iterable[str]],
                      text: TrainingText) -> tuple[dict[str, Any], str]:
    """Cutoffs on the reference sample (held-out Wikipedia documents by default), and its name."""
    if reference is not None:
        return cutoffs_of([model.perplexity(t) for t in reference]), "reference documents"
    if text.held_out:
        return (cutoffs_of([model.perplexity(t) for t in text.held_out]),
                f"held-out training documents (1 in {HOLDOUT_EVERY} by sha1 of the text)")
    # Too few documents for any to be held out: the training documents (optimistic cutoffs).
    return (cutoffs_of([model.perplexity(t) for t in text.first_trained]),
            "training documents (none held out: corpus too small)")


def cutoffs_card(cutoffs: dict[str, Any], source: str) -> dict[str, Any]:
    return {"p30": cutoffs["p30"], "p60": cutoffs["p60"], "from": source, "n": cutoffs["n"],
            "percentiles": {k: v for k, v in cutoffs.items() if k.startswith("p")}}


def train_language_model(
    documents: Iterable[str],
    language: str,
    directory: str,
    params: LMParams = LMParams(),
    reference: Optional[Iterable[str]] = None,
    training_source: str = "",
) -> str:
    """Train `<language>`'s SentencePiece + KenLM models on `documents` (texts) into `directory`.

    One document in ten (by a hash of its text) is held out; the cutoffs are the 30th/60th
    percentiles of the held-out documents' perplexities, or of `reference` texts when given.
    Same documents, params and `created` give byte-identical files. The models are built in a
    local temporary folder and copied into `directory` (local or remote). Returns the card's path.
    """
    import kenlm
    import sentencepiece as spm

    if params.binary not in BINARIES:
        raise ValueError(f"binary must be one of {BINARIES}, got {params.binary!r}")
    laps = Laps()
    with tempfile.TemporaryDirectory(prefix=f"lm-{language}-") as tmp_name:
        tmp = Path(tmp_name)
        text = write_training_text(documents, tmp / "train.txt", reference is None, f"lm {language}")
        if text.lines == 0:
            raise ValueError(f"{language}: no training text")
        laps.lap("normalize")
        sp_options = sentencepiece_options(params, text.characters)
        sp_model = train_lm_sentencepiece(text.path, sp_options, params.seed)
        sp = spm.SentencePieceProcessor(model_proto=sp_model)
        laps.lap("sentencepiece")
        n_pieces = write_pieces(sp, text.path, tmp / "pieces.txt")
        text.path.unlink()
        laps.lap("encode")
        binary_path, arpa_bytes, lm_options = build_kenlm(tmp / "pieces.txt", tmp, params, laps)
        model = PerplexityModel(language, sp, kenlm.Model(str(binary_path)), (0.0, 0.0), {})
        cutoffs, cutoff_source = reference_cutoffs(model, reference, text)
        laps.lap("cutoffs")
        sp_path = tmp / (language + SP_SUFFIX)
        sp_path.write_bytes(sp_model)
        card = {
            "language": language,
            "kind": "cc_net perplexity model: SentencePiece unigram + KenLM n-gram",
            "created": params.created or dt.datetime.now(dt.timezone.utc).date().isoformat(),
            "training": {
                "source": training_source,
                "documents": text.documents,
                "held_out_documents": len(text.held_out) if reference is None else 0,
                "lines": text.lines,
                "characters": text.characters,
                "pieces": n_pieces,
                "normalization": "corpus.ccnet_text.normalize, per line (paragraph)",
            },
            "sentencepiece": {
                **_file_entry(sp_path, language + SP_SUFFIX),
                "vocab_size_requested": params.vocab_size,
                "vocab_size": int(sp.get_piece_size()),
                "seed": params.seed,
                **{k: v for k, v in sp_options.items() if k != "vocab_size"},
            },
            "kenlm": {**_file_entry(binary_path, language + LM_SUFFIX), "arpa_bytes": arpa_bytes, **lm_options},
            "cutoffs": cutoffs_card(cutoffs, cutoff_source),
            "perplexity": "10 ** (-sum(log10 score) / sum(n_pieces + 1)) over the document's normalised lines",
            "buckets": "head: pp < p30; middle: p30 <= pp < p60; tail: pp >= p60",
        }
        paths.copy(str(sp_path), paths.join(directory, language + SP_SUFFIX))
        paths.copy(str(binary_path), paths.join(directory, language + LM_SUFFIX))
    card_path = paths.join(directory, language + CARD_SUFFIX)
    _write_json(card_path, card)
    _update_index(directory)
    print(f"[lm] {language}: {text.documents} docs, {text.characters:,} chars, vocab {card['sentencepiece']['vocab_size']}, "
          f"cutoffs p30={cutoffs['p30']} p60={cutoffs['p60']} (n={cutoffs['n']}), "
          f"{time.monotonic() - laps.started:.1f}s ({laps})", file=sys.stderr)
    return card_path


def _file_entry(path: Path, name: str) -> dict[str, Any]:
    return {"file": name, "sha256": sha256_file(path), "bytes": path.stat().st_size}


def calibrate(directory: str, language: str, reference: Iterable[str], source: str = "reference documents") -> tuple[float, float]:
    """Recompute a model's cutoffs on `reference` texts (e.g. that language's CommonCrawl pages,
    as cc_net's cutoff.csv) and rewrite its card. Returns (p30, p60)."""
    model = PerplexityModel.load(directory, language)
    cutoffs = cutoffs_of([model.perplexity(t) for t in reference])
    card = {**model.card, "cutoffs": cutoffs_card(cutoffs, source)}
    _write_json(paths.join(directory, language + CARD_SUFFIX), card)
    return cutoffs["p30"], cutoffs["p60"]


def set_cutoffs(directory: str, language: str, table: dict[str, Any], source: dict[str, Any]) -> None:
    """Write cutoffs computed elsewhere (the model build's quantiles job: `table` has the
    `PERCENTILES` as `p<q>` and `n`) into a model's card, with where they came from."""
    path = paths.join(directory, language + CARD_SUFFIX)
    card = json.loads(paths.read_text(path))
    _write_json(path, {**card, "cutoffs": {**cutoffs_card(table, source.get("from", "")), "sample": source}})


def _write_json(path: str, data: dict[str, Any]) -> None:
    paths.write_text_atomically(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def _update_index(directory: str) -> None:
    _write_json(paths.join(directory, INDEX), {"languages": available_languages(directory)})


# =============================================================================================
# Reading the Wikipedia pipeline's output
# =============================================================================================
def read_texts(directory: str, language: Optional[str] = None, limit: Optional[int] = None) -> Iterator[str]:
    """Texts of the documents of a pipeline output (its `documents/` shards, `corpus.docfiles`),
    optionally only those whose `metadata.language` is `language`, in shard and line order."""
    n = 0
    for doc in docfiles.iter_directory(directory):
        if language is not None and doc.metadata.get("language") != language:
            continue
        yield doc.text
        n += 1
        if limit is not None and n >= limit:
            return


def languages_in(directory: str) -> list[str]:
    return sorted({lang for doc in docfiles.iter_directory(directory) if (lang := doc.metadata.get("language"))})


# =============================================================================================
# CLI
# =============================================================================================
DEFAULT_MODELS = "models/lm"


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m corpus.lm", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train per-language models on the Wikipedia pipeline's output",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    train.add_argument("--wikipedia", default="out/wikipedia", help="Wikipedia pipeline output directory")
    train.add_argument("--output", default=DEFAULT_MODELS, help="model directory")
    train.add_argument("--languages", nargs="+", default=None,
                       help="languages to train (default: every language present in the input)")
    train.add_argument("--max_documents", type=int, default=1_000_000,
                       help="documents per language (cc_net: the first 1,000,000)")
    train.add_argument("--min_documents", type=int, default=20,
                       help="skip languages with fewer documents (too few to hold any out)")
    train.add_argument("--reference", default=None,
                       help="documents (pipeline output) whose perplexities set the cutoffs instead of "
                            "held-out Wikipedia, e.g. out/commoncrawl (by metadata.language)")
    add_params(train, LMParams)

    cal = sub.add_parser("calibrate", help="recompute a model's cutoffs on reference documents")
    cal.add_argument("--models", default=DEFAULT_MODELS)
    cal.add_argument("--language", required=True)
    cal.add_argument("--reference", required=True, help="pipeline output directory (documents/ shards)")
    cal.add_argument("--max_documents", type=int, default=REFERENCE_DOCUMENTS)

    score = sub.add_parser("score", help="perplexity and bucket of the text on stdin (one document)")
    score.add_argument("--models", default=DEFAULT_MODELS)
    score.add_argument("--language", required=True)
    return parser


def train_command(args: argparse.Namespace) -> list[str]:
    """`train`: every language with at least --min_documents documents; returns those trained."""
    params = params_from(args, LMParams)
    trained = []
    for language in args.languages or languages_in(args.wikipedia):
        # Only whether there are --min_documents matters: stop counting there.
        count = sum(1 for _ in read_texts(args.wikipedia, language, min(args.max_documents, args.min_documents)))
        if count < args.min_documents:
            print(f"[lm] {language}: {count} documents < --min_documents {args.min_documents}, skipped",
                  file=sys.stderr)
            continue
        reference = (list(read_texts(args.reference, language, REFERENCE_DOCUMENTS)) or None) if args.reference else None
        train_language_model(
            read_texts(args.wikipedia, language, args.max_documents), language, args.output, params,
            reference=reference,
            training_source=f"{args.wikipedia} (Wikipedia pipeline output, language={language})",
        )
        trained.append(language)
    print(f"[lm] trained {trained} into {args.output}", file=sys.stderr)
    return trained


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.command == "train":
        if not paths.exists(args.wikipedia):
            parser.error(f"{args.wikipedia} does not exist: run `python -m pipelines.wikipedia` first")
        train_command(args)
    elif args.command == "calibrate":
        p30, p60 = calibrate(args.models, args.language, read_texts(args.reference, args.language, args.max_documents),
                             source=f"{args.reference} (language={args.language})")
        print(json.dumps({"language": args.language, "p30": p30, "p60": p60}))
    else:
        model = PerplexityModel.load(args.models, args.language)
        ppl = model.perplexity(sys.stdin.read())
        print(json.dumps({"language": args.language, "perplexity": round(ppl, 1), "bucket": model.bucket(ppl)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
