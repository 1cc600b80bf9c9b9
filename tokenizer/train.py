"""Train the LLaMA tokenizer: SentencePiece BPE on the documents of the corpus, sampled by mixture share.

LLaMA (arXiv 2302.13971, §2.1 "Tokenizer"): BPE in SentencePiece, all numbers split into single
digits, byte fallback for unknown UTF-8 characters; the released model has 32,000 pieces. The
trainer options below are those of the released `tokenizer.model` (its TrainerSpec): identity
normalisation, no removal of extra whitespace, a dummy prefix, whitespace-only pieces allowed,
unk/bos/eos = 0/1/2, character coverage 0.99995, pieces of at most 16 characters.

The text is every source's lines sampled by its mixture share (`tokenizer.sampling`). Files are
read in sorted order and the lines streamed to SentencePiece's `sentence_iterator`, which samples
from them (`input_sentence_size`, `shuffle_input_sentence`, seeded): the text is never
materialised, in memory or on disk (`--keep_text` writes it out). `--text FILE` trains on
prepared text files instead (one sentence per line, no sampling). Progress goes to stderr: the
documents read by each pass every 10 s, then SentencePiece's own log (every 100 merges).

OUTPUT is a Hugging Face tokenizer directory (`AutoTokenizer.from_pretrained(OUTPUT)` loads it,
ids identical to SentencePiece's): tokenizer.model (SentencePiece), tokenizer.json,
tokenizer_config.json, special_tokens_map.json (tokenizer.hf), plus card.json (the model card:
options, training data per source, sizes, date, sha256). Inputs and output may be local or remote
(`corpus.paths`).
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import logging
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence

from corpus import paths
from corpus.clihelp import DefaultsHelpFormatter
from corpus.docfiles import default_inputs, find_document_files
from corpus.lm import SENTENCEPIECE_LOG_LEVEL
from corpus.step import add_params, param, params_from
from tokenizer.hf import DEFAULT_MODEL_MAX_LENGTH, DOCUMENT_BOS, DOCUMENT_EOS, write_hf_files
from tokenizer import model as model_file
from tokenizer.modelfile import canonical_model
from tokenizer.sampling import SourceData, normalise_shares, parse_shares, sample_lines, sampling_rates, scan

DEFAULT_OUTPUT = "out/tokenizer"
MODEL_FILE = model_file.MODEL_FILE
CARD_FILE = "card.json"
TEXT_FILE = "train.txt"

# The released LLaMA tokenizer.model's TrainerSpec / NormalizerSpec, minus what is per run.
LLAMA_OPTIONS: dict[str, Any] = {
    "model_type": "bpe",
    "vocab_size": 32000,
    "character_coverage": 0.99995,
    "split_digits": True,
    "byte_fallback": True,
    "allow_whitespace_only_pieces": True,
    "max_sentencepiece_length": 16,
    "max_sentence_length": 4192,
    "split_by_unicode_script": True,
    "split_by_whitespace": True,
    "split_by_number": True,
    "treat_whitespace_as_suffix": False,
    "normalization_rule_name": "identity",
    "remove_extra_whitespaces": False,
    "add_dummy_prefix": True,
    "unk_id": 0,
    "bos_id": 1,
    "eos_id": 2,
    "pad_id": -1,
    "unk_piece": "<unk>",
    "bos_piece": "<s>",
    "eos_piece": "</s>",
    "hard_vocab_limit": True,
    "vocabulary_output_piece_score": True,
    "shuffle_input_sentence": True,
    "input_sentence_size": 200_000_000,
    "seed_sentencepiece_size": 1_000_000,
    "num_sub_iterations": 2,
}


@dataclass(frozen=True)
class TrainParams:
    """Tokenizer training (LLaMA §2.1; the sampling options apply to documents, not --text)"""

    vocab_size: int = param(LLAMA_OPTIONS["vocab_size"],
                            "pieces incl. <unk>,<s>,</s> and 256 byte pieces (LLaMA: "
                            f"{LLAMA_OPTIONS['vocab_size']})")
    seed: int = param(0, "seed of the document sample and of SentencePiece's sentence shuffle")
    shares: Optional[str] = param(None, "mixture weights, e.g. 'commoncrawl=67,c4=15'; default LLaMA "
                                        "Table 1, renormalised over the sources present")
    max_bytes: float = param(1e10, "cap on the sampled text (UTF-8 bytes)")
    max_repeat: float = param(1.0, "how often each line of a small source may be used to reach its share "
                                   "(1 = once); the sample follows the shares exactly, so the scarcest "
                                   "source sets its size")
    min_bytes: float = param(20_000_000, "floor on the sample size: when exact shares would give less (small "
                                         "inputs), sources that cannot fill their share give all they have; "
                                         "0 = always exact shares")
    input_sentence_size: Optional[int] = param(
        None, f"lines SentencePiece samples (shuffled, seeded); default {LLAMA_OPTIONS['input_sentence_size']:,}")
    max_sentence_length: Optional[int] = param(
        None, "longest line in bytes; longer lines are cut at whitespace; default "
              f"{LLAMA_OPTIONS['max_sentence_length']}")
    num_threads: int = param(1, "SentencePiece training threads (BPE results do not depend on it; "
                                "see docs/tokenizer.md)")
    character_coverage: Optional[float] = param(None, f"default {LLAMA_OPTIONS['character_coverage']} (LLaMA)")
    model_max_length: int = param(DEFAULT_MODEL_MAX_LENGTH, "model_max_length in tokenizer_config.json (LLaMA's "
                                                            "context length)")


@dataclass
class TrainResult:
    model: str
    card: str
    sha256: str
    vocab_size: int
    seconds: float
    text_bytes: int
    sources: dict[str, SourceData] = field(default_factory=dict)


def trainer_options(params: TrainParams) -> dict[str, Any]:
    """LLaMA's TrainerSpec with this run's vocabulary, threads and overrides."""
    options = dict(LLAMA_OPTIONS)
    options.update(vocab_size=params.vocab_size, num_threads=params.num_threads)
    overrides = {"input_sentence_size": params.input_sentence_size,
                 "max_sentence_length": params.max_sentence_length,
                 "character_coverage": params.character_coverage}
    options.update({k: v for k, v in overrides.items() if v is not None})
    return options


def train_sentencepiece(sentences: Iterable[str], options: Mapping[str, Any], seed: int) -> bytes:
    """Raw SentencePiece training on an iterable of sentences with `options`; the model's bytes.

    Training from an iterator into a `model_writer` keeps temporary paths out of the model's
    TrainerSpec (`input`, `model_prefix`), so equal inputs give byte-identical model files.
    SentencePiece logs its progress on stderr (INFO).
    """
    import sentencepiece as spm

    spm.set_random_generator_seed(seed)
    writer = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(sentences), model_writer=writer,
                                   minloglevel=SENTENCEPIECE_LOG_LEVEL, **options)
    return writer.getvalue()


def train(inputs: Sequence[str], output: str, params: TrainParams = TrainParams(),
          keep_text: bool = False) -> TrainResult:
    """Train a tokenizer on the documents under `inputs`; write the model and card to `output`."""
    started = time.perf_counter()
    files = find_document_files(inputs)
    if not files:
        raise SystemExit(f"no document files under {list(inputs)}")
    options = trainer_options(params)
    data, errors = scan(files, int(options["max_sentence_length"]))
    min_bytes = int(params.min_bytes)
    normalised = normalise_shares(parse_shares(params.shares), data)
    rates, budget = sampling_rates({s: d.bytes for s, d in data.items()}, normalised, int(params.max_bytes),
                                   params.max_repeat, min_bytes)
    for name, entry in data.items():
        entry.share, entry.rate = normalised.get(name, 0.0), rates.get(name, 0.0)

    tee = paths.open(paths.join(output, TEXT_FILE), "w", encoding="utf-8", newline="\n") if keep_text else None
    try:
        lines = sample_lines(files, data, params.seed, int(options["max_sentence_length"]), tee)
        model = _fit(lines, options, params.seed, data)
    finally:
        if tee is not None:
            tee.close()
    training_data = {
        "inputs": list(inputs),
        "budget_bytes": budget,
        "max_repeat": params.max_repeat,
        "min_bytes": min_bytes,
        "exact_shares": all(
            abs(d.rate * d.bytes - d.share * budget) <= 1e-6 * max(1.0, budget) for d in data.values()
        ),
        "sampling": "each line floor(rate) times + a coin from random.Random(seed, document id); "
                    "rate = share x budget / source bytes",
        "input_errors": dict(errors),
    }
    return _write(model, output, options, params, data, training_data, started)


def train_text(text_files: Sequence[str], output: str, params: TrainParams = TrainParams()) -> TrainResult:
    """Train on prepared text files (one sentence per line, used as they are, no sampling).

    SentencePiece reads the files itself (remote ones through a local copy); the paths it stores
    in the model are removed again, so the model equals the one trained from the same lines
    through `train`.
    """
    import sentencepiece as spm

    started = time.perf_counter()
    options = trainer_options(params)
    entry = SourceData(share=1.0, rate=1.0, documents=len(text_files), sampled_documents=len(text_files))
    for path in text_files:
        size, lines = _count_lines(path)
        entry.bytes += size
        entry.lines += lines
    entry.sampled_bytes = entry.bytes
    data = {"text": entry}
    local_files = [paths.local_copy(path) for path in text_files]
    with tempfile.TemporaryDirectory(prefix="tokenizer-") as tmp:
        prefix = os.path.join(tmp, "tokenizer")
        spm.set_random_generator_seed(params.seed)
        try:
            spm.SentencePieceTrainer.train(input=local_files, model_prefix=prefix,
                                           minloglevel=SENTENCEPIECE_LOG_LEVEL, **options)
        except RuntimeError as exc:
            _too_small(exc, options, data)
        model = canonical_model(paths.read_bytes(prefix + ".model"))
    return _write(model, output, options, params, data, {"text_files": list(text_files)}, started)


def _count_lines(path: str) -> tuple[int, int]:
    size = lines = 0
    last = b"\n"
    with paths.open(path, "rb") as handle:
        while block := handle.read(1 << 22):
            size += len(block)
            lines += block.count(b"\n")
            last = block[-1:]
    if last != b"\n":  # a last line without a newline is still a line
        size, lines = size + 1, lines + 1
    return size, lines


def _fit(lines: Iterable[str], options: Mapping[str, Any], seed: int, data: Mapping[str, SourceData]) -> bytes:
    try:
        return train_sentencepiece(lines, options, seed)
    except RuntimeError as exc:
        _too_small(exc, options, data)
        raise  # unreachable


def _too_small(exc: Exception, options: Mapping[str, Any], data: Mapping[str, SourceData]) -> None:
    size = sum(d.sampled_bytes for d in data.values())
    raise SystemExit(
        f"SentencePiece could not train a {options['vocab_size']}-piece vocabulary on {size:,} bytes of "
        f"text ({sum(d.lines for d in data.values()):,} lines): {exc}\n"
        "Give more text (more inputs, or --max_repeat > 1 to let a small source repeat to its share) "
        "or a smaller --vocab_size."
    ) from None


def _write(
    model: bytes, output: str, options: Mapping[str, Any], params: TrainParams, data: Mapping[str, SourceData],
    training_data: dict[str, Any], started: float,
) -> TrainResult:
    """Write tokenizer.model, the Hugging Face files and the card, each atomically (tmp + rename)."""
    size = sum(d.sampled_bytes for d in data.values())
    model_path = paths.join(output, MODEL_FILE)
    paths.write_atomically(model_path, model)
    write_hf_files(model, output, params.model_max_length)
    seconds = time.perf_counter() - started
    digest = hashlib.sha256(model).hexdigest()
    card = build_card(model, digest, options, params.seed, data, training_data, size, seconds)
    card_path = paths.join(output, CARD_FILE)
    paths.write_text_atomically(card_path, json.dumps(card, indent=2, sort_keys=True) + "\n")
    return TrainResult(model_path, card_path, digest, int(options["vocab_size"]), seconds, size, dict(data))


def build_card(
    model: bytes, digest: str, options: Mapping[str, Any], seed: int, data: Mapping[str, SourceData],
    training_data: Mapping[str, Any], text_bytes: int, seconds: float,
) -> dict[str, Any]:
    import sentencepiece as spm

    sampled_total = sum(d.sampled_bytes for d in data.values()) or 1
    return {
        "kind": "tokenizer",
        "file": MODEL_FILE,
        "sha256": digest,
        "size_bytes": len(model),
        "vocab_size": int(options["vocab_size"]),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "recipe": "LLaMA (arXiv 2302.13971) §2.1: SentencePiece BPE, digits split, byte fallback",
        "library": {"sentencepiece": spm.__version__},
        "options": dict(options),
        "documents": {"bos": DOCUMENT_BOS, "eos": DOCUMENT_EOS},
        "seed": seed,
        "training_data": {
            **training_data,
            "text_bytes": text_bytes,
            "sources": {
                name: {**asdict(d), "actual_share": round(d.sampled_bytes / sampled_total, 6)}
                for name, d in sorted(data.items())
            },
        },
        "train_seconds": round(seconds, 3),
    }


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tokenizer.train",
        description=__doc__,
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument("--input", nargs="+", default=None,
                        help="documents directories/files/globs (pipeline outputs); default: every out/<source>/ that exists")
    parser.add_argument("--text", nargs="+", default=None,
                        help="train on prepared text files instead (one sentence per line, no sampling)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="directory for tokenizer.model, the Hugging Face files and card.json")
    parser.add_argument("--keep_text", action="store_true", help="also write the sampled training text as OUTPUT/train.txt")
    add_params(parser, TrainParams)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> TrainResult:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = make_parser().parse_args(argv)
    params = params_from(args, TrainParams)
    if args.text:
        if args.input:
            raise SystemExit("give --input (documents) or --text (prepared text files), not both")
        missing = [path for path in args.text if not paths.exists(path)]
        if missing:
            raise SystemExit(f"tokenizer.train: --text file(s) not found: {', '.join(missing)}")
        result = train_text(args.text, args.output, params)
    else:
        result = train(args.input or default_inputs(), args.output, params, keep_text=args.keep_text)
    _print_summary(result)
    return result


def _print_summary(result: TrainResult) -> None:
    print(f"[tokenizer] {result.vocab_size} pieces, sha256 {result.sha256[:16]}..., trained on "
          f"{result.text_bytes:,} bytes in {result.seconds:.1f}s -> {result.model}", file=sys.stderr)
    total = sum(d.sampled_bytes for d in result.sources.values()) or 1
    for name, d in sorted(result.sources.items()):
        print(f"    {name}: {d.sampled_documents}/{d.documents} docs, {d.sampled_bytes:,}/{d.bytes:,} bytes, "
              f"share {d.sampled_bytes / total:.3f} (target {d.share:.3f})", file=sys.stderr)
    card = json.loads(paths.read_text(result.card))
    if not card["training_data"].get("exact_shares", True):
        print("    note: the inputs are too small for exact shares at --min_bytes; sources short of their "
              "share gave all they have (--min_bytes 0 for exact shares on a smaller sample)", file=sys.stderr)


if __name__ == "__main__":
    main()
