"""Loading a trained tokenizer and encoding documents with it (pure: no Beam).

`Encoder` wraps SentencePiece. Long multi-line documents encode 2-3x slower as one string than
line by line, so `encode` cuts a document at newlines and encodes the pieces in one batched call.
This is exact, not an approximation, when no vocabulary piece contains a newline (true for models
trained by `tokenizer.train`, which trains on lines, and for LLaMA's own model, where `\\n` is the
byte piece `<0x0A>`): BPE never merges across a newline, so what follows one does not depend on
what precedes it. Each piece after the first is encoded as `"\\n" + line`; SentencePiece's dummy
prefix then becomes a lone `▁` before the newline, which is dropped. `Encoder.exact_split` says
whether the fast path is on; tests check it against whole-string encoding on real text.

`to_transformers` builds the equivalent Hugging Face fast tokenizer (transformers'
`LlamaTokenizer` over a `tokenizers` BPE with byte fallback) from the model's pieces.
"""
from __future__ import annotations

import hashlib
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from corpus import paths
from corpus.docfiles import valid_text
from corpus.shards import optimal_dtype

NEWLINE = "\n"
SPACE = "\u2581"  # SentencePiece's whitespace symbol


class Encoder:
    """Text -> token ids with the corpus conventions (optional BOS, EOS appended)."""

    def __init__(self, model: bytes, bos: bool = False, eos: bool = True, split_lines: bool = True):
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
    """The model as a transformers `LlamaTokenizer` (a `tokenizers` fast tokenizer underneath).

    Built from the pieces through SentencePiece's own API: transformers' loader reads the
    `.model` protobuf with sentencepiece's generated module, which refuses the protobuf runtime
    Apache Beam pins (see docs/tokenizer.md). Merges follow transformers' `generate_merges` (by
    piece rank). SentencePiece always adds the dummy `▁`, also before text that starts with a
    space; the `Metaspace` pre-tokenizer does not, so the normaliser is set to what transformers'
    legacy Llama conversion (and Meta's Llama-2 `tokenizer.json`) uses: prepend `▁`, spaces -> `▁`.
    """
    import sentencepiece as spm
    from tokenizers import normalizers
    from transformers import LlamaTokenizer

    try:
        from transformers.tokenization_utils_base import generate_merges
    except ImportError:  # older transformers
        from transformers.convert_slow_tokenizer import generate_merges  # type: ignore[no-redef]

    sp = spm.SentencePieceProcessor(model_proto=paths.read_bytes(model_path))
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    merges = generate_merges(vocab)
    tok = LlamaTokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=sp.id_to_piece(sp.unk_id()),
        bos_token=sp.id_to_piece(sp.bos_id()),
        eos_token=sp.id_to_piece(sp.eos_id()),
        legacy=True,
        add_prefix_space=True,
    )
    backend = tok.backend_tokenizer
    backend.normalizer = normalizers.Sequence([normalizers.Prepend(SPACE), normalizers.Replace(" ", SPACE)])
    backend.pre_tokenizer = None
    return tok


def save_transformers(model_path: str, output: str) -> None:
    """Save a Hugging Face tokenizer directory (`tokenizer.json` + config) equivalent to the model.

    Saved as the generic `PreTrainedTokenizerFast`, which loads `tokenizer.json` as it is:
    `LlamaTokenizer` would rebuild its own pre-tokenizer on load and lose the exact normaliser.
    Like Llama's, `encode(..., add_special_tokens=True)` prepends BOS.
    """
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    llama = to_transformers(model_path)
    backend = llama.backend_tokenizer
    bos, eos, unk = llama.bos_token, llama.eos_token, llama.unk_token
    backend.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, llama.bos_token_id)]
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=bos, eos_token=eos, unk_token=unk)
    fast.save_pretrained(output)


def _main(argv: Optional[Sequence[str]] = None) -> None:
    """`python -m tokenizer.model MODEL OUTDIR`: save a Hugging Face tokenizer (tokenizer.json etc.)."""
    import sys

    args = list(argv if argv is not None else sys.argv[1:])
    if len(args) != 2:
        raise SystemExit("usage: python -m tokenizer.model path/to/tokenizer.model OUTPUT_DIR")
    save_transformers(args[0], args[1])
    print(f"Hugging Face tokenizer written to {args[1]}", file=sys.stderr)


if __name__ == "__main__":
    _main()
