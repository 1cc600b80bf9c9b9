"""Train the LLaMA tokenizer: SentencePiece BPE on the documents of the corpus, sampled by mixture share.

LLaMA (arXiv 2302.13971, §2.1 "Tokenizer"): BPE in SentencePiece, all numbers split into single
digits, byte fallback for unknown UTF-8 characters; the released model has 32,000 pieces. The
trainer options below are those of the released `tokenizer.model` (its TrainerSpec): identity
normalisation, no removal of extra whitespace, a dummy prefix, whitespace-only pieces allowed,
unk/bos/eos = 0/1/2, character coverage 0.99995, pieces of at most 16 characters.

The text is sampled from every source by its mixture share (LLaMA Table 1, renormalised over the
sources present), so the vocabulary fits the mixture the model is trained on rather than the raw
sizes of the inputs. Documents are split into lines (long lines cut at whitespace to
`--max_sentence_length` bytes); a source's lines are taken floor(rate) times each plus once more
on a coin drawn from a generator seeded by (seed, document id). So reruns agree, the choice does
not depend on file order, and a source of a few long books is sampled as finely as one of many
short pages. Files are read in sorted order and the lines streamed to SentencePiece's
`sentence_iterator`, which samples from them (`input_sentence_size`, `shuffle_input_sentence`,
seeded): the text is never materialised, in memory or on disk (`--keep_text` writes it out).
`--text FILE` trains on prepared text files instead (one sentence per line, no sampling).

Writes OUTPUT/tokenizer.model and OUTPUT/tokenizer.json (the model card: options, training data
per source, sizes, date, sha256).
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
import math
import os
import random
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence, TextIO

from corpus.fileio import ReadError
from mixture.plan import DEFAULT_SHARES
from corpus.docfiles import default_inputs, find_document_files, iter_file, source_of

log = logging.getLogger("llama_corpus.tokenizer")

# LLaMA Table 1 sampling proportions (%), from the one table in `mixture.plan`.
TABLE1_SHARES: dict[str, float] = {name: round(100 * share, 6) for name, share in DEFAULT_SHARES.items()}

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


# --------------------------------------------------------------------------------------------
# Pure parts: shares, selection, line splitting
# --------------------------------------------------------------------------------------------
def parse_shares(text: Optional[str]) -> dict[str, float]:
    """`"c4=15,wikipedia=4.5"` -> {"c4": 15.0, "wikipedia": 4.5}; None -> LLaMA Table 1."""
    if not text:
        return dict(TABLE1_SHARES)
    shares: dict[str, float] = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        if not name.strip() or not value.strip():
            raise ValueError(f"bad share {part!r}: use name=weight,name=weight")
        shares[name.strip()] = float(value)
        if shares[name.strip()] < 0:
            raise ValueError(f"share of {name} must be >= 0")
    return shares


def normalise_shares(shares: Mapping[str, float], present: Iterable[str]) -> dict[str, float]:
    """Shares renormalised over the sources present (a source without a share gets none)."""
    present = sorted(set(present))
    weights = {s: float(shares.get(s, 0.0)) for s in present}
    missing = [s for s in present if s not in shares]
    if missing:
        log.warning("sources without a mixture share are left out of the tokenizer text: %s", missing)
    total = sum(weights.values())
    if total <= 0:
        raise SystemExit(f"none of the sources present ({present}) has a positive share")
    return {s: w / total for s, w in weights.items()}


DEFAULT_MIN_BYTES = 20_000_000


def sampling_rates(
    available: Mapping[str, int],
    shares: Mapping[str, float],
    max_bytes: int,
    max_repeat: float,
    min_bytes: int = 0,
) -> tuple[dict[str, float], int]:
    """Per-source rate (expected copies of each line) so that the sample follows `shares`.

    The budget is the largest total at which every source gives exactly its share with each
    line used at most `max_repeat` times, capped by `max_bytes`. When that is below `min_bytes`
    (small inputs: one scarce source would shrink the whole sample), the budget is raised to
    `min_bytes` and a source that cannot fill its share at that size gives all it has (times
    `max_repeat`): the others keep their shares of the budget, none is inflated. Returns
    (rates, budget).
    """
    limits = [max_repeat * available[s] / p for s, p in shares.items() if p > 0 and available.get(s, 0) > 0]
    if not limits:
        return {s: 0.0 for s in shares}, 0
    budget = min([float(max_bytes)] + limits)
    budget = max(budget, float(min(min_bytes, max_bytes)))
    rates = {
        s: (min(max_repeat, p * budget / available[s]) if available.get(s) else 0.0) for s, p in shares.items()
    }
    # A source that sets the budget gets exactly max_repeat (no float dust that would make
    # every one of its lines a coin flip).
    rates = {s: (round(r) if abs(r - round(r)) < 1e-9 else r) for s, r in rates.items()}
    return rates, int(budget)


def unit_hash(seed: int, key: str) -> float:
    """A uniform number in [0, 1) from the seed and a key (stable across runs and machines)."""
    digest = hashlib.blake2b(f"{seed}\x1f{key}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64


def copies(rate: float, seed: int, doc_id: str) -> int:
    """How many times a document enters the sample at `rate` (floor + seeded Bernoulli)."""
    whole = math.floor(rate)
    return whole + (1 if unit_hash(seed, doc_id) < rate - whole else 0)


class LineDraws:
    """Copies of each line of one document at `rate`: floor(rate) + a seeded coin for the rest.

    The coins come from a generator seeded by (seed, document id), so the choice of a line
    depends only on the seed, the document and the line's number.
    """

    def __init__(self, rate: float, seed: int, doc_id: str):
        self.whole = math.floor(rate)
        self.fraction = rate - self.whole
        self._random = random.Random(f"{seed}\x1f{doc_id}").random if self.fraction > 0 else None

    def __call__(self) -> int:
        if self._random is None:
            return self.whole
        return self.whole + (1 if self._random() < self.fraction else 0)


def split_lines(text: str, max_bytes: int) -> list[str]:
    """`list(training_lines(text, max_bytes))`, with a fast path for the common case."""
    if "\r" not in text:
        lines = text.split("\n")
        if _all_fit(text, lines, max_bytes):
            return [line for line in lines if line]
    return list(training_lines(text, max_bytes))


def _all_fit(text: str, lines: list[str], max_bytes: int) -> bool:
    """No line is longer than `max_bytes` in UTF-8 (checked without encoding when possible)."""
    longest = max(map(len, lines))
    return longest * 4 <= max_bytes or (longest <= max_bytes and text.isascii())


def text_bytes(text: str, max_bytes: int) -> int:
    """UTF-8 bytes of `text` as SentencePiece sees it: its training lines plus one newline each."""
    if "\r" not in text:
        lines = text.split("\n")
        if _all_fit(text, lines, max_bytes):
            return len(text.encode("utf-8")) + 1 - lines.count("")
    return sum(len(line.encode("utf-8")) + 1 for line in training_lines(text, max_bytes))


def training_lines(text: str, max_bytes: int) -> Iterator[str]:
    """The lines SentencePiece trains on: non-empty lines, each at most `max_bytes` UTF-8 bytes.

    SentencePiece skips sentences longer than `max_sentence_length` bytes, so long lines (minified
    code, LaTeX paragraphs, tables) are cut at the last whitespace before the limit, or at the
    last character boundary when there is none. Nothing else is changed (identity normalisation).
    """
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if not line:
            continue
        encoded = line.encode("utf-8")
        if len(encoded) <= max_bytes:
            yield line
            continue
        while len(encoded) > max_bytes:
            cut = max_bytes
            while cut > 0 and (encoded[cut] & 0xC0) == 0x80:  # not inside a UTF-8 sequence
                cut -= 1
            if cut == 0:  # max_bytes shorter than one character: cut after that character
                cut = 1
                while cut < len(encoded) and (encoded[cut] & 0xC0) == 0x80:
                    cut += 1
            space = encoded.rfind(b" ", max_bytes // 2, cut)
            if space > 0:
                cut = space
            head, encoded = encoded[:cut], encoded[cut:]
            if head:
                yield head.decode("utf-8")
        if encoded:
            yield encoded.decode("utf-8")


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------
@dataclass
class SourceData:
    documents: int = 0
    bytes: int = 0
    sampled_documents: int = 0
    sampled_bytes: int = 0
    lines: int = 0
    share: float = 0.0
    rate: float = 0.0


@dataclass
class TrainResult:
    model: str
    card: str
    sha256: str
    vocab_size: int
    seconds: float
    text_bytes: int
    sources: dict[str, SourceData] = field(default_factory=dict)


def scan(
    files: Sequence[tuple[str, str]], max_line_bytes: int
) -> tuple[dict[str, SourceData], dict[str, int]]:
    """First pass: documents and training-text bytes (lines + newlines, UTF-8) per source."""
    data: dict[str, SourceData] = {}
    errors: dict[str, int] = {}
    for hint, path in files:
        for item in iter_file(path, hint):
            if isinstance(item, ReadError):
                errors[item.reason] = errors.get(item.reason, 0) + 1
                log.warning("input fault %s in %s: %s", item.reason, item.path, item.detail)
                continue
            entry = data.setdefault(source_of(item, hint), SourceData())
            entry.documents += 1
            entry.bytes += text_bytes(item.text, max_line_bytes)
    return data, errors


def sample_lines(
    files: Sequence[tuple[str, str]],
    data: dict[str, SourceData],
    seed: int,
    max_line_bytes: int,
    tee: Optional[TextIO] = None,
) -> Iterator[str]:
    """Second pass: the sampled training lines, streamed (SentencePiece's `sentence_iterator`).

    Updates `data`'s sampled counts as it goes; bytes are counted as SentencePiece sees them:
    line + newline, UTF-8. `tee` receives every line too (for `--keep_text`).
    """
    for hint, path in files:
        for item in iter_file(path, hint):
            if isinstance(item, ReadError):
                continue
            entry = data.get(source_of(item, hint))
            if entry is None or entry.rate <= 0:
                continue
            lines = split_lines(item.text, max_line_bytes)
            draws = LineDraws(entry.rate, seed, item.id)
            if draws.fraction == 0:  # every line, `whole` times
                chosen = draws.whole * len(lines)
                entry.sampled_bytes += draws.whole * text_bytes(item.text, max_line_bytes)
                for _ in range(draws.whole):
                    if tee is not None:
                        tee.writelines(line + "\n" for line in lines)
                    yield from lines
            else:
                chosen = 0
                for line in lines:
                    n = draws()
                    if not n:
                        continue
                    entry.sampled_bytes += n * (len(line.encode("utf-8")) + 1)
                    chosen += n
                    for _ in range(n):
                        if tee is not None:
                            tee.write(line + "\n")
                        yield line
            entry.lines += chosen
            entry.sampled_documents += 1 if chosen else 0


def trainer_options(vocab_size: int, seed: int, num_threads: int, **overrides: Any) -> dict[str, Any]:
    options = dict(LLAMA_OPTIONS)
    options.update(vocab_size=vocab_size, num_threads=num_threads)
    options.update({k: v for k, v in overrides.items() if v is not None})
    return options


def train_sentencepiece(
    sentences: Iterable[str], options: Mapping[str, Any], seed: int, minloglevel: int = 1
) -> bytes:
    """Raw SentencePiece training on an iterable of sentences with `options`; the model's bytes.

    Training from an iterator into a `model_writer` keeps temporary paths out of the model's
    TrainerSpec (`input`, `model_prefix`), so equal inputs give byte-identical model files.
    """
    import io

    import sentencepiece as spm

    spm.set_random_generator_seed(seed)
    writer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=writer, minloglevel=minloglevel, **options
    )
    return writer.getvalue()


def train(
    inputs: Sequence[str],
    output: str,
    vocab_size: int = 32000,
    seed: int = 0,
    shares: Optional[Mapping[str, float]] = None,
    max_bytes: int = 10**10,
    max_repeat: float = 1.0,
    min_bytes: int = DEFAULT_MIN_BYTES,
    num_threads: int = 1,
    input_sentence_size: Optional[int] = None,
    max_sentence_length: Optional[int] = None,
    keep_text: bool = False,
    **overrides: Any,
) -> TrainResult:
    """Train a tokenizer on the documents under `inputs`; write the model and card to `output`."""
    started = time.perf_counter()
    files = find_document_files(inputs)
    if not files:
        raise SystemExit(f"no document files under {list(inputs)}")
    options = trainer_options(
        vocab_size, seed, num_threads,
        input_sentence_size=input_sentence_size, max_sentence_length=max_sentence_length, **overrides,
    )
    data, errors = scan(files, int(options["max_sentence_length"]))
    normalised = normalise_shares(TABLE1_SHARES if shares is None else shares, data)
    rates, budget = sampling_rates({s: d.bytes for s, d in data.items()}, normalised, max_bytes, max_repeat, min_bytes)
    for name, entry in data.items():
        entry.share, entry.rate = normalised.get(name, 0.0), rates.get(name, 0.0)

    out_dir = Path(output)
    out_dir.mkdir(parents=True, exist_ok=True)
    tee = open(out_dir / "train.txt", "w", encoding="utf-8", newline="\n") if keep_text else None
    try:
        lines = sample_lines(files, data, seed, int(options["max_sentence_length"]), tee)
        model = _fit(lines, options, seed, data)
    finally:
        if tee is not None:
            tee.close()
    training_data = {
        "inputs": list(inputs),
        "budget_bytes": budget,
        "max_repeat": max_repeat,
        "min_bytes": min_bytes,
        "exact_shares": all(
            abs(d.rate * d.bytes - d.share * budget) <= 1e-6 * max(1.0, budget) for d in data.values()
        ),
        "sampling": "each line floor(rate) times + a coin from random.Random(seed, document id); "
                    "rate = share x budget / source bytes",
        "input_errors": dict(errors),
    }
    return _write(model, out_dir, options, seed, data, training_data, started)


def train_text(
    text_files: Sequence[str],
    output: str,
    vocab_size: int = 32000,
    seed: int = 0,
    num_threads: int = 1,
    input_sentence_size: Optional[int] = None,
    max_sentence_length: Optional[int] = None,
    **overrides: Any,
) -> TrainResult:
    """Train on prepared text files (one sentence per line, used as they are, no sampling).

    SentencePiece reads the files itself; the paths it stores in the model are removed again,
    so the model equals the one trained from the same lines through `train`.
    """
    import sentencepiece as spm

    started = time.perf_counter()
    options = trainer_options(
        vocab_size, seed, num_threads,
        input_sentence_size=input_sentence_size, max_sentence_length=max_sentence_length, **overrides,
    )
    entry = SourceData(share=1.0, rate=1.0, documents=len(text_files), sampled_documents=len(text_files))
    for path in text_files:
        size, lines = _count_lines(path)
        entry.bytes += size
        entry.lines += lines
    entry.sampled_bytes = entry.bytes
    data = {"text": entry}
    out_dir = Path(output)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tokenizer-", dir=out_dir) as tmp:
        prefix = os.path.join(tmp, "tokenizer")
        spm.set_random_generator_seed(seed)
        try:
            spm.SentencePieceTrainer.train(input=list(text_files), model_prefix=prefix, minloglevel=1, **options)
        except RuntimeError as exc:
            _too_small(exc, options, data)
        with open(prefix + ".model", "rb") as handle:
            model = canonical_model(handle.read(), list(text_files), prefix)
    return _write(model, out_dir, options, seed, data, {"text_files": list(text_files)}, started)


def _count_lines(path: str) -> tuple[int, int]:
    size = lines = 0
    last = b"\n"
    with open(path, "rb") as handle:
        while block := handle.read(1 << 22):
            size += len(block)
            lines += block.count(b"\n")
            last = block[-1:]
    if last != b"\n":  # a last line without a newline is still a line
        size, lines = size + 1, lines + 1
    return size, lines


# --------------------------------------------------------------------------------------------
# The model file: SentencePiece's ModelProto, edited at the wire level
# --------------------------------------------------------------------------------------------
_TRAINER_SPEC = 2  # ModelProto.trainer_spec
_RUN_PATHS = (1, 2)  # TrainerSpec.input, TrainerSpec.model_prefix


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _fields(buf: bytes) -> Iterator[tuple[int, int, bytes, bytes]]:
    """(field number, wire type, whole field bytes, payload of a length-delimited field)."""
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = _varint(buf, pos)
        wire = key & 7
        payload = b""
        if wire == 0:
            _, pos = _varint(buf, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _varint(buf, pos)
            payload = buf[pos : pos + length]
            pos += length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield key >> 3, wire, buf[start:pos], payload


def canonical_model(model: bytes, inputs: Sequence[str] = (), prefix: Optional[str] = None) -> bytes:
    """The model without the run's file paths (TrainerSpec `input`, `model_prefix`).

    Done on the protobuf wire format: sentencepiece's generated `_pb2` module refuses the
    protobuf runtime Apache Beam pins, and these two fields are all that needs to change. When
    the paths are known, their serialised bytes are found directly (TrainerSpec writes them
    first); otherwise every field is walked.
    """
    if inputs and prefix is not None:
        fast = _strip_known_paths(model, inputs, prefix)
        if fast is not None:
            return fast
    out = bytearray()
    for number, wire, raw, payload in _fields(model):
        if number == _TRAINER_SPEC and wire == 2:
            kept = b"".join(r for n, _, r, _ in _fields(payload) if n not in _RUN_PATHS)
            out += _encode_varint((_TRAINER_SPEC << 3) | 2) + _encode_varint(len(kept)) + kept
        else:
            out += raw
    return bytes(out)


def _strip_known_paths(model: bytes, inputs: Sequence[str], prefix: str) -> Optional[bytes]:
    def string_field(number: int, value: str) -> bytes:
        data = value.encode("utf-8")
        return _encode_varint((number << 3) | 2) + _encode_varint(len(data)) + data

    needle = b"".join(string_field(1, i) for i in inputs) + string_field(2, prefix)
    pos = model.find(needle)
    if pos < 0 or model.find(needle, pos + 1) >= 0:
        return None
    for width in range(1, 6):  # the TrainerSpec header (tag 2, varint length) ends at `pos`
        start = pos - width - 1
        if start < 0 or model[start] != (_TRAINER_SPEC << 3) | 2:
            continue
        try:
            length, end = _varint(model, start + 1)
        except IndexError:
            continue
        if end == pos and pos + length <= len(model) and length >= len(needle):
            header = _encode_varint((_TRAINER_SPEC << 3) | 2) + _encode_varint(length - len(needle))
            return model[:start] + header + model[pos + len(needle):]
    return None


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
    model: bytes, out_dir: Path, options: Mapping[str, Any], seed: int, data: Mapping[str, SourceData],
    training_data: dict[str, Any], started: float,
) -> TrainResult:
    """Write tokenizer.model and its card atomically (tmp + rename)."""
    size = sum(d.sampled_bytes for d in data.values())
    model_path = out_dir / "tokenizer.model"
    tmp_model = out_dir / "tokenizer.model.tmp"
    tmp_model.write_bytes(model)
    os.replace(tmp_model, model_path)
    seconds = time.perf_counter() - started
    digest = hashlib.sha256(model).hexdigest()
    card = build_card(model_path, digest, options, seed, data, training_data, size, seconds)
    card_path = out_dir / "tokenizer.json"
    tmp_card = card_path.with_suffix(".json.tmp")
    tmp_card.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp_card, card_path)
    return TrainResult(str(model_path), str(card_path), digest, int(options["vocab_size"]), seconds, size, dict(data))


def build_card(
    model_path: Path, digest: str, options: Mapping[str, Any], seed: int, data: Mapping[str, SourceData],
    training_data: Mapping[str, Any], text_bytes: int, seconds: float,
) -> dict[str, Any]:
    import sentencepiece as spm

    sampled_total = sum(d.sampled_bytes for d in data.values()) or 1
    return {
        "kind": "tokenizer",
        "file": model_path.name,
        "sha256": digest,
        "size_bytes": model_path.stat().st_size,
        "vocab_size": int(options["vocab_size"]),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "recipe": "LLaMA (arXiv 2302.13971) §2.1: SentencePiece BPE, digits split, byte fallback",
        "library": {"sentencepiece": spm.__version__},
        "options": dict(options),
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
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--input", nargs="+", default=None,
                        help="documents directories/files/globs (pipeline outputs); default: every out/<source>/ that exists")
    parser.add_argument("--text", nargs="+", default=None,
                        help="train on prepared text files instead (one sentence per line, no sampling)")
    parser.add_argument("--output", default="out/tokenizer", help="directory for tokenizer.model + tokenizer.json")
    parser.add_argument("--vocab_size", type=int, default=32000, help="pieces incl. <unk>,<s>,</s> and 256 byte pieces (LLaMA: 32000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the document sample and of SentencePiece's sentence shuffle")
    parser.add_argument("--shares", default=None,
                        help="mixture weights, e.g. 'commoncrawl=67,c4=15'; default LLaMA Table 1, renormalised over the sources present")
    parser.add_argument("--max_bytes", type=float, default=1e10, help="cap on the sampled text (UTF-8 bytes)")
    parser.add_argument("--max_repeat", type=float, default=1.0,
                        help="how often each line of a small source may be used to reach its share (1 = once); "
                             "the sample follows the shares exactly, so the scarcest source sets its size")
    parser.add_argument("--min_bytes", type=float, default=DEFAULT_MIN_BYTES,
                        help="floor on the sample size: when exact shares would give less (small inputs), sources "
                             "that cannot fill their share give all they have; 0 = always exact shares")
    parser.add_argument("--input_sentence_size", type=int, default=None,
                        help=f"lines SentencePiece samples (shuffled, seeded); default {LLAMA_OPTIONS['input_sentence_size']:,}")
    parser.add_argument("--max_sentence_length", type=int, default=None,
                        help=f"longest line in bytes; longer lines are cut at whitespace; default {LLAMA_OPTIONS['max_sentence_length']}")
    parser.add_argument("--num_threads", type=int, default=1,
                        help="SentencePiece training threads (BPE results do not depend on it; see docs/tokenizer.md)")
    parser.add_argument("--character_coverage", type=float, default=None, help="default 0.99995 (LLaMA)")
    parser.add_argument("--keep_text", action="store_true", help="also write the sampled training text as OUTPUT/train.txt")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> TrainResult:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = make_parser().parse_args(argv)
    common = dict(
        vocab_size=args.vocab_size,
        seed=args.seed,
        num_threads=args.num_threads,
        input_sentence_size=args.input_sentence_size,
        max_sentence_length=args.max_sentence_length,
        character_coverage=args.character_coverage,
    )
    if args.text:
        if args.input:
            raise SystemExit("give --input (documents) or --text (prepared text files), not both")
        result = train_text(args.text, args.output, **common)
    else:
        result = train(
            args.input or default_inputs(),
            args.output,
            shares=parse_shares(args.shares),
            max_bytes=int(args.max_bytes),
            max_repeat=args.max_repeat,
            min_bytes=int(args.min_bytes),
            keep_text=args.keep_text,
            **common,
        )
    print(f"[tokenizer] {result.vocab_size} pieces, sha256 {result.sha256[:16]}..., trained on "
          f"{result.text_bytes:,} bytes in {result.seconds:.1f}s -> {result.model}", file=sys.stderr)
    total = sum(d.sampled_bytes for d in result.sources.values()) or 1
    for name, d in sorted(result.sources.items()):
        print(f"    {name}: {d.sampled_documents}/{d.documents} docs, {d.sampled_bytes:,}/{d.bytes:,} bytes, "
              f"share {d.sampled_bytes / total:.3f} (target {d.share:.3f})", file=sys.stderr)
    card = json.loads(Path(result.card).read_text())
    if not card["training_data"].get("exact_shares", True):
        print("    note: the inputs are too small for exact shares at --min_bytes; sources short of their "
              "share gave all they have (--min_bytes 0 for exact shares on a smaller sample)", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
