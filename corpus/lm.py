"""cc_net's per-language perplexity models: SentencePiece unigram + KenLM 5-gram, with cutoffs.

RECIPE §2.6–2.7. Per language, trained on our Wikipedia pipeline's output:

    <dir>/<lang>.sp.model   SentencePiece unigram model (cc_net: vocab 65,536; scaled down here
                            for small corpora), trained on `normalize()`d paragraphs
    <dir>/<lang>.arpa.bin   KenLM 5-gram (`lmplz -o 5 --discount_fallback`, then `build_binary`)
                            over the SentencePiece pieces of the same paragraphs
    <dir>/<lang>.json       card: training data, sizes, options, date, sha256 digests, cutoffs
    <dir>/languages.json    index of the languages in the directory (for remote listings)

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
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence

from corpus import docfiles
from corpus.ccnet_text import normalize, normalize_lines

SP_SUFFIX = ".sp.model"
LM_SUFFIX = ".arpa.bin"
CARD_SUFFIX = ".json"
INDEX = "languages.json"

CCNET_VOCAB = 65_536  # cc_net's SentencePiece vocabulary (hard limit; 40,000 retry)
MIN_VOCAB = 1_000
CHARS_PER_PIECE = 1_000  # small corpora: one vocabulary entry per 1,000 training characters
HOLDOUT_EVERY = 10  # one document in ten (by content hash) is held out for the cutoffs
PERCENTILES = (10, 20, 30, 40, 50, 60, 70, 80, 90)


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


def _join(directory: str, name: str) -> str:
    return directory.rstrip("/") + "/" + name if "://" in directory else str(Path(directory) / name)


def _is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _local_path(path: str) -> str:
    return path[len("file://"):] if path.startswith("file://") else path


def _read_bytes(path: str) -> bytes:
    if not _is_remote(path):
        return Path(_local_path(path)).read_bytes()
    import smart_open

    with smart_open.open(path, "rb", compression="disable") as handle:
        return handle.read()


def available_languages(directory: str) -> list[str]:
    """Languages with a complete model (card + SentencePiece + KenLM) in `directory`."""
    if not _is_remote(directory):
        root = Path(_local_path(directory))
        if not root.is_dir():
            return []
        return sorted(
            p.name[: -len(CARD_SUFFIX)]
            for p in root.glob("*" + CARD_SUFFIX)
            if p.name != INDEX
            and (root / (p.name[: -len(CARD_SUFFIX)] + SP_SUFFIX)).is_file()
            and (root / (p.name[: -len(CARD_SUFFIX)] + LM_SUFFIX)).is_file()
        )
    try:
        index = json.loads(_read_bytes(_join(directory, INDEX)))
    except Exception:  # noqa: BLE001 - no index: no models
        return []
    return sorted(index.get("languages", []))


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

        Remote KenLM files are copied to a local temporary file first (KenLM maps a local file).
        """
        import kenlm
        import sentencepiece as spm

        card = json.loads(_read_bytes(_join(directory, language + CARD_SUFFIX)))
        sp = spm.SentencePieceProcessor(model_proto=_read_bytes(_join(directory, language + SP_SUFFIX)))
        lm_path = _join(directory, language + LM_SUFFIX)
        if _is_remote(lm_path):
            local = Path(tempfile.mkdtemp(prefix="llama-corpus-lm-")) / (language + LM_SUFFIX)
            local.write_bytes(_read_bytes(lm_path))
            lm_path = str(local)
        lm = kenlm.Model(_local_path(lm_path))
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


def training_lines(text: str) -> Iterator[str]:
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


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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


def train_language_model(
    documents: Iterable[str],
    language: str,
    directory: str,
    *,
    order: int = 5,
    vocab_size: int = CCNET_VOCAB,
    seed: int = 0,
    reference: Optional[Iterable[str]] = None,
    memory: str = "1G",
    threads: int = 1,
    binary: str = "trie",
    prune: Sequence[int] = (),
    created: Optional[str] = None,
    training_source: str = "",
) -> Path:
    """Train `<language>`'s SentencePiece + KenLM models on `documents` (texts) into `directory`.

    One document in ten (by a hash of its text) is held out; the cutoffs are the 30th/60th
    percentiles of the held-out documents' perplexities, or of `reference` texts when given.
    Same documents, options and `created` give byte-identical files. Returns the card's path.

    `binary`: "trie" (8-bit quantised probabilities and backoffs, ~4x smaller; the default, so
    sample models stay ~10 MB) or "probing" (cc_net's `build_binary` default, fastest queries).
    `prune`: lmplz `--prune` count thresholds per order (cc_net: none).
    """
    if binary not in ("trie", "probing"):
        raise ValueError(f"binary must be trie or probing, got {binary!r}")
    timings: dict[str, float] = {}
    clock = time.monotonic()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.monotonic()
        timings[name] = now - clock
        clock = now

    import sentencepiece as spm

    started = time.monotonic()
    created = created or dt.datetime.now(dt.timezone.utc).date().isoformat()
    out_dir = Path(_local_path(directory))
    if _is_remote(directory):
        raise ValueError("train into a local directory and copy it (gsutil/aws s3 cp); loading works remotely")
    out_dir.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix=f"lm-{language}-") as tmp_name:
        tmp = Path(tmp_name)
        text_path = tmp / "train.txt"
        held_out: list[str] = []
        first_trained: list[str] = []  # fallback reference when nothing was held out
        docs = lines = chars = 0
        # 1. Stream the normalised paragraphs to a file (never the corpus in memory).
        with open(text_path, "w", encoding="utf-8", newline="\n") as handle:
            for text in documents:
                if reference is None and _held_out(text):
                    held_out.append(text)
                    continue
                docs += 1
                if len(first_trained) < 1000:
                    first_trained.append(text)
                for line in training_lines(text):
                    handle.write(line + "\n")
                    lines += 1
                    chars += len(line)
        if lines == 0:
            raise ValueError(f"{language}: no training text")
        lap("normalize")

        # 2. SentencePiece unigram (cc_net), deterministic: seeded, fixed thread count.
        effective_vocab = scaled_vocab_size(vocab_size, chars)
        sp_prefix = tmp / "sp"
        spm.set_random_generator_seed(seed)
        sp_options = dict(
            model_type="unigram",
            vocab_size=effective_vocab,
            hard_vocab_limit=False,
            character_coverage=0.9995,
            input_sentence_size=2_000_000,
            shuffle_input_sentence=True,
            max_sentence_length=16_384,
            num_threads=threads,
        )
        # Fed through an iterator into memory: a file input would record its temporary path in the
        # model's TrainerSpec and make two identical trainings differ.
        model_buffer = io.BytesIO()
        with open(text_path, encoding="utf-8") as lines_in:
            spm.SentencePieceTrainer.train(sentence_iterator=(line.rstrip("\n") for line in lines_in),
                                           model_writer=model_buffer, minloglevel=2, **sp_options)
        Path(str(sp_prefix) + ".model").write_bytes(model_buffer.getvalue())
        sp = spm.SentencePieceProcessor(model_proto=model_buffer.getvalue())
        lap("sentencepiece")

        # 3. The same paragraphs as space-joined pieces: KenLM's training text.
        pieces_path = tmp / "pieces.txt"
        n_pieces = 0
        with open(text_path, encoding="utf-8") as src, open(pieces_path, "w", encoding="utf-8", newline="\n") as dst:
            for line in src:
                pieces = sp.encode(line.rstrip("\n"), out_type=str)
                n_pieces += len(pieces)
                dst.write(" ".join(pieces) + "\n")
        text_path.unlink()
        lap("encode")

        # 4. KenLM: lmplz (cc_net always passes --discount_fallback; small corpora need it) + build_binary.
        arpa = tmp / "lm.arpa"
        lm_options: dict[str, Any] = {"order": order, "discount_fallback": True, "memory": memory,
                                      "prune": list(prune), "build_binary": binary}
        prune_args = ["--prune", *map(str, prune)] if prune else []
        _run([kenlm_tool("lmplz"), "-o", str(order), "-S", memory, "-T", str(tmp), "--discount_fallback",
              *prune_args, "--arpa", str(arpa)], stdin_path=pieces_path)
        pieces_path.unlink()
        lap("lmplz")
        binary_path = tmp / "lm.arpa.bin"
        quantize = ["-q", "8", "-b", "8"] if binary == "trie" else []
        if quantize:
            lm_options["quantization_bits"] = 8
        _run([kenlm_tool("build_binary"), "-S", memory, "-T", str(tmp), *quantize, binary, str(arpa), str(binary_path)])
        arpa_bytes = arpa.stat().st_size
        arpa.unlink()
        lap("build_binary")

        # 5. Cutoffs on the reference sample (held-out Wikipedia documents by default).
        import kenlm

        model = PerplexityModel(language, sp, kenlm.Model(str(binary_path)), (0.0, 0.0), {})
        if reference is not None:
            reference_texts = list(reference)
            cutoff_source = "reference documents"
        elif held_out:
            reference_texts = held_out
            cutoff_source = f"held-out training documents (1 in {HOLDOUT_EVERY} by sha1 of the text)"
        else:
            # Too few documents for any to be held out: the training documents (optimistic cutoffs).
            reference_texts = first_trained
            cutoff_source = "training documents (none held out: corpus too small)"
        perplexities = [model.perplexity(t) for t in reference_texts]
        cutoffs = cutoffs_of(perplexities)
        lap("cutoffs")

        # 6. Move into place (atomic renames) and write the card.
        sp_file = out_dir / (language + SP_SUFFIX)
        lm_file = out_dir / (language + LM_SUFFIX)
        card_file = out_dir / (language + CARD_SUFFIX)
        shutil.copyfile(str(sp_prefix) + ".model", str(sp_file) + ".tmp")
        os.replace(str(sp_file) + ".tmp", sp_file)
        shutil.copyfile(binary_path, str(lm_file) + ".tmp")
        os.replace(str(lm_file) + ".tmp", lm_file)

    card = {
        "language": language,
        "kind": "cc_net perplexity model: SentencePiece unigram + KenLM n-gram",
        "created": created,
        "training": {
            "source": training_source,
            "documents": docs,
            "held_out_documents": len(held_out) if reference is None else 0,
            "lines": lines,
            "characters": chars,
            "pieces": n_pieces,
            "normalization": "corpus.ccnet_text.normalize, per line (paragraph)",
        },
        "sentencepiece": {
            "file": sp_file.name,
            "sha256": _sha256(sp_file),
            "bytes": sp_file.stat().st_size,
            "vocab_size_requested": vocab_size,
            "vocab_size": int(sp.get_piece_size()),
            "seed": seed,
            **{k: v for k, v in sp_options.items() if k != "vocab_size"},
        },
        "kenlm": {
            "file": lm_file.name,
            "sha256": _sha256(lm_file),
            "bytes": lm_file.stat().st_size,
            "arpa_bytes": arpa_bytes,
            **lm_options,
        },
        "cutoffs": {"p30": cutoffs["p30"], "p60": cutoffs["p60"], "from": cutoff_source,
                    "n": cutoffs["n"], "percentiles": {k: v for k, v in cutoffs.items() if k.startswith("p")}},
        "perplexity": "10 ** (-sum(log10 score) / sum(n_pieces + 1)) over the document's normalised lines",
        "buckets": "head: pp < p30; middle: p30 <= pp < p60; tail: pp >= p60",
    }
    # Training time varies run to run: printed, not written, so reruns give byte-identical cards.
    seconds = time.monotonic() - started
    _write_json(card_file, card)
    _update_index(out_dir)
    print(f"[lm] {language}: {docs} docs, {chars:,} chars, vocab {card['sentencepiece']['vocab_size']}, "
          f"cutoffs p30={cutoffs['p30']} p60={cutoffs['p60']} (n={cutoffs['n']}), {seconds:.1f}s "
          f"({', '.join(f'{k} {v:.1f}s' for k, v in timings.items())})", file=sys.stderr)
    return card_file


def calibrate(directory: str, language: str, reference: Iterable[str], source: str = "reference documents") -> tuple[float, float]:
    """Recompute a model's cutoffs on `reference` texts (e.g. that language's CommonCrawl pages,
    as cc_net's cutoff.csv) and rewrite its card. Returns (p30, p60)."""
    model = PerplexityModel.load(directory, language)
    cutoffs = cutoffs_of([model.perplexity(t) for t in reference])
    card = dict(model.card)
    card["cutoffs"] = {"p30": cutoffs["p30"], "p60": cutoffs["p60"], "from": source, "n": cutoffs["n"],
                       "percentiles": {k: v for k, v in cutoffs.items() if k.startswith("p")}}
    _write_json(Path(_local_path(directory)) / (language + CARD_SUFFIX), card)
    return cutoffs["p30"], cutoffs["p60"]


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _update_index(directory: Path) -> None:
    _write_json(directory / INDEX, {"languages": available_languages(str(directory))})


# =============================================================================================
# Reading the Wikipedia pipeline's output
# =============================================================================================
def read_texts(directory: str, language: Optional[str] = None, limit: Optional[int] = None) -> Iterator[str]:
    """Texts of the documents (`documents-*.jsonl.gz` / `.parquet` shards) under `directory`,
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
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m corpus.lm", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train per-language models on the Wikipedia pipeline's output",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    train.add_argument("--wikipedia", default="out/wikipedia", help="Wikipedia pipeline output directory")
    train.add_argument("--output", default="models/lm", help="model directory")
    train.add_argument("--languages", nargs="+", default=None,
                       help="languages to train (default: every language present in the input)")
    train.add_argument("--order", type=int, default=5, help="n-gram order (cc_net: 5)")
    train.add_argument("--vocab_size", type=int, default=CCNET_VOCAB,
                       help="SentencePiece vocabulary (cc_net: 65536); scaled down to 1 per "
                            f"{CHARS_PER_PIECE} training characters, at least {MIN_VOCAB}")
    train.add_argument("--max_documents", type=int, default=1_000_000,
                       help="documents per language (cc_net: the first 1,000,000)")
    train.add_argument("--min_documents", type=int, default=20,
                       help="skip languages with fewer documents (too few to hold any out)")
    train.add_argument("--reference", default=None,
                       help="documents (pipeline output) whose perplexities set the cutoffs instead of "
                            "held-out Wikipedia, e.g. out/commoncrawl (by metadata.language)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--memory", default="1G", help="lmplz/build_binary -S")
    train.add_argument("--threads", type=int, default=1, help="SentencePiece training threads")
    train.add_argument("--created", default=None, help="date written in the cards (default: today, UTC)")
    train.add_argument("--binary", choices=("trie", "probing"), default="trie",
                       help="KenLM binary: trie with 8-bit quantisation (~4x smaller) or probing "
                            "(cc_net's default, fastest)")
    train.add_argument("--prune", type=int, nargs="*", default=[],
                       help="lmplz --prune thresholds per order, e.g. 0 0 1 (cc_net: no pruning)")

    cal = sub.add_parser("calibrate", help="recompute a model's cutoffs on reference documents")
    cal.add_argument("--models", default="models/lm")
    cal.add_argument("--language", required=True)
    cal.add_argument("--reference", required=True, help="pipeline output directory (documents-* shards)")
    cal.add_argument("--max_documents", type=int, default=100_000)

    score = sub.add_parser("score", help="perplexity and bucket of the text on stdin (one document)")
    score.add_argument("--models", default="models/lm")
    score.add_argument("--language", required=True)

    args = parser.parse_args(argv)
    if args.command == "train":
        if not Path(args.wikipedia).exists():
            parser.error(f"{args.wikipedia} does not exist: run `python -m pipelines.wikipedia` first")
        languages = args.languages or languages_in(args.wikipedia)
        trained = []
        for language in languages:
            # Only whether there are --min_documents matters: stop counting there.
            count = sum(1 for _ in read_texts(args.wikipedia, language, min(args.max_documents, args.min_documents)))
            if count < args.min_documents:
                print(f"[lm] {language}: {count} documents < --min_documents {args.min_documents}, skipped",
                      file=sys.stderr)
                continue
            reference = None
            if args.reference:
                reference = list(read_texts(args.reference, language, 100_000)) or None
            train_language_model(
                read_texts(args.wikipedia, language, args.max_documents), language, args.output,
                order=args.order, vocab_size=args.vocab_size, seed=args.seed, reference=reference,
                memory=args.memory, threads=args.threads, created=args.created, binary=args.binary,
                prune=args.prune,
                training_source=f"{args.wikipedia} (Wikipedia pipeline output, language={language})",
            )
            trained.append(language)
        print(f"[lm] trained {trained} into {args.output}", file=sys.stderr)
        return 0
    if args.command == "calibrate":
        p30, p60 = calibrate(args.models, args.language, read_texts(args.reference, args.language, args.max_documents),
                             source=f"{args.reference} (language={args.language})")
        print(json.dumps({"language": args.language, "p30": p30, "p60": p60}))
        return 0
    model = PerplexityModel.load(args.models, args.language)
    ppl = model.perplexity(sys.stdin.read())
    print(json.dumps({"language": args.language, "perplexity": round(ppl, 1), "bucket": model.bucket(ppl)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
