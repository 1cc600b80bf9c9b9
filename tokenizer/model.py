"""Loading a trained tokenizer and encoding documents with it (pure: no Beam).

`Encoder` wraps SentencePiece. Long multi-line documents encode 2-3x slower as one string than
line by line, so `encode` cuts a document at newlines and encodes the pieces in one batched call.
This is exact, not an approximation, when no vocabulary piece contains a newline (true for models
trained by `tokenizer.train`, which trains on lines, and for LLaMA's own model, where `\\n` is the
byte piece `<0x0A>`): BPE never merges across a newline, so what follows one does not depend on
what precedes it. Each piece after the first is encoded as `"\\n" + line`; SentencePiece's dummy
prefix then becomes a lone `▁` before the newline, which is dropped. `Encoder.exact_split` says
whether the fast path is on; tests check it against whole-string encoding on real text.

The token convention of a document is `tokenizer.hf`'s (BOS and EOS by default), the same one
the Hugging Face files declare. `python -m tokenizer.model --input MODEL --output DIR` writes a
Hugging Face tokenizer directory for any SentencePiece BPE model (`tokenizer.hf`).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from corpus import paths
from corpus.clihelp import DefaultsHelpFormatter
from corpus.docfiles import valid_text
from corpus.shards import optimal_dtype
from tokenizer import hf

MODEL_FILE = "tokenizer.model"

NEWLINE = "\n"
SPACE = hf.SPACE


class Encoder:
    """Text -> token ids with the corpus conventions ([BOS] ids [EOS], each on by default)."""

    def __init__(self, model: bytes, bos: bool = hf.DOCUMENT_BOS, eos: bool = hf.DOCUMENT_EOS,
                 split_lines: bool = True):
        import sentencepiece as spm

        self.model_bytes = model
        self.sha256 = hashlib.sha256(model).hexdigest()
        self.sp = spm.SentencePieceProcessor(model_proto=model)
        self.vocab_size = self.sp.get_piece_size()
        self.dtype = optimal_dtype(self.vocab_size)
        self.bos_id, self.eos_id = self.sp.bos_id(), self.sp.eos_id()
        if bos and self.bos_id < 0:
            raise ValueError("the model has no BOS piece")
        if eos and self.eos_id < 0:
            raise ValueError("the model has no EOS piece")
        self.bos, self.eos = bos, eos
        self.space_id = self.sp.piece_to_id(SPACE)
        self.exact_split = split_lines and self._split_is_exact()

    @classmethod
    def load(cls, path: str, **kwargs: Any) -> "Encoder":
        """The model at a local or remote path (read through `corpus.paths`)."""
        return cls(paths.read_bytes(path), **kwargs)

    def _split_is_exact(self) -> bool:
        sp = self.sp
        if self.space_id == sp.unk_id() or sp.id_to_piece(self.space_id) != SPACE:
            return False
        if any(NEWLINE in sp.id_to_piece(i) for i in range(self.vocab_size) if not sp.is_byte(i)):
            return False
        # The dummy prefix must surface as a lone `▁` before a newline.
        return sp.encode(NEWLINE + "x")[:1] == [self.space_id]

    def ids(self, text: str) -> list[int]:
        """The ids of `text` alone (no BOS/EOS), identical to `sp.encode(text)`."""
        try:
            return self._ids(text)
        except (UnicodeEncodeError, RuntimeError):
            fixed = valid_text(text)  # lone surrogates (JSON allows them) -> U+FFFD
            if fixed is text:
                raise
            return self._ids(fixed)

    def _ids(self, text: str) -> list[int]:
        if not self.exact_split or NEWLINE not in text:
            return self.sp.encode(text)
        first, *rest = text.split(NEWLINE)
        batch = self.sp.encode([first] + [NEWLINE + line for line in rest], num_threads=1)
        if first:
            out = batch[0]
            start = 1
        else:  # the text starts with a newline: its dummy prefix `▁` is real
            out = batch[1]
            start = 2
        for ids in batch[start:]:
            out.extend(ids[1:])  # drop the dummy prefix `▁`
        return out

    def encode(self, text: str) -> np.ndarray:
        """A document's token array, in the shard dtype: [BOS] ids [EOS]."""
        ids = self.ids(text)
        if self.bos:
            ids.insert(0, self.bos_id)
        if self.eos:
            ids.append(self.eos_id)
        return np.asarray(ids, dtype=self.dtype)

    def decode(self, ids: Iterable[int]) -> str:
        return self.sp.decode([int(i) for i in ids if i not in (self.bos_id, self.eos_id)])


def to_transformers(model_path: str) -> Any:
    """The model as a transformers fast tokenizer (`tokenizer.hf`'s `tokenizer.json` underneath),
    the same tokenizer `AutoTokenizer` loads from a `tokenizer.train` output directory."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    model = paths.read_bytes(model_path)
    backend = Tokenizer.from_str(json.dumps(hf.tokenizer_json(model)))
    config, _ = hf.tokenizer_config(model)
    kwargs = {k: config[k] for k in ("bos_token", "eos_token", "unk_token", "pad_token", "model_max_length",
                                     "split_special_tokens")}
    return PreTrainedTokenizerFast(tokenizer_object=backend, **kwargs)


def save_hf_directory(model_path: str, output: str, model_max_length: int = hf.DEFAULT_MODEL_MAX_LENGTH) -> list[str]:
    """A Hugging Face tokenizer directory for any SentencePiece BPE model: `tokenizer.model` copied
    beside the files of `tokenizer.hf` (what `tokenizer.train` writes for its own models)."""
    model = paths.read_bytes(model_path)
    written = hf.write_hf_files(model, output, model_max_length)  # checks the model before writing
    target = paths.join(output, MODEL_FILE)
    paths.write_atomically(target, model)
    return [target] + written


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tokenizer.model", formatter_class=DefaultsHelpFormatter,
                                     description="Write a Hugging Face tokenizer directory (tokenizer.model, "
                                                 "tokenizer.json, tokenizer_config.json, special_tokens_map.json) "
                                                 "for a SentencePiece model; AutoTokenizer.from_pretrained(OUTPUT) "
                                                 "loads it with SentencePiece's ids. tokenizer.train writes these "
                                                 "files itself; this is for models trained elsewhere or before.")
    parser.add_argument("--input", required=True, help="SentencePiece model (tokenizer.model), local or remote")
    parser.add_argument("--output", required=True, help="directory to write")
    parser.add_argument("--model_max_length", type=int, default=hf.DEFAULT_MODEL_MAX_LENGTH,
                        help="model_max_length in tokenizer_config.json")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = make_parser().parse_args(argv)
    if not paths.exists(args.input):
        raise SystemExit(f"tokenizer.model: --input {args.input} not found")
    try:
        written = save_hf_directory(args.input, args.output, args.model_max_length)
    except ValueError as exc:  # not a BPE model, or no <unk>/BOS/EOS
        raise SystemExit(f"tokenizer.model: {args.input}: {exc}") from None
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
