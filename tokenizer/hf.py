"""The tokenizer as a Hugging Face tokenizer directory, written from the SentencePiece model alone.

`write_hf_files(model, output)` writes, beside `tokenizer.model`:

* `tokenizer.json` — the `tokenizers` serialisation: a BPE over the model's pieces with byte
  fallback, merges ranked by piece id (transformers' `generate_merges`), and the normaliser of
  transformers' legacy Llama conversion (and of Meta's Llama-2 `tokenizer.json`): prepend `▁`,
  spaces -> `▁`, no pre-tokenizer. That reproduces SentencePiece's dummy prefix exactly, also
  before text that starts with a space (`" x"` -> `▁▁x`), which the `Metaspace` pre-tokenizer
  does not. Written as JSON directly (merges as `"a b"` strings, the form every `tokenizers`
  release reads: pieces never contain U+0020, SentencePiece turns it into `▁`), so training a
  tokenizer needs neither `tokenizers` nor `transformers`.
* `tokenizer_config.json` and `special_tokens_map.json` — `<unk>`/`<s>`/`</s>`, pad = `<unk>`
  (byte fallback means `<unk>` never occurs in encoded text, so padding is never a real token),
  `model_max_length`, and the document convention of the token shards (`DOCUMENT_BOS`,
  `DOCUMENT_EOS`: `tokenizer(text)["input_ids"]` is exactly a document of the shards).
  `split_special_tokens` is on: SentencePiece encodes the text `"<s>"` (an HTML tag) as pieces,
  never as the control id, and so does this tokenizer.

The class is the generic `PreTrainedTokenizerFast`, which loads `tokenizer.json` as it is on
transformers 4.x and 5.x. `LlamaTokenizerFast` would not be exact on 5.x: its constructor rebuilds
the backend with a `Metaspace` pre-tokenizer and no normaliser (measured: `" x"` gives `▁x`, not
SentencePiece's `▁▁x`). See docs/tokenizer.md.
"""
from __future__ import annotations

import json
from typing import Any

from corpus import paths
from tokenizer.modelfile import parse_model

TOKENIZER_JSON = "tokenizer.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
SPECIAL_TOKENS_MAP = "special_tokens_map.json"
HF_FILES = (TOKENIZER_JSON, TOKENIZER_CONFIG, SPECIAL_TOKENS_MAP)
SPACE = "\u2581"  # SentencePiece's whitespace symbol

# The document convention shared by the token shards (tokenizer.encode) and the HF files: LLaMA's
# BOS at each document's start, and EOS at its end, so a model trained on the shards learns where a
# document ends and `generate` stops there.
DOCUMENT_BOS = True
DOCUMENT_EOS = True
# LLaMA-1's context length (the trainer's `max_seq_len` for the paper shapes).
DEFAULT_MODEL_MAX_LENGTH = 2048


def _special(content: str) -> dict[str, Any]:
    return {"content": content, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False}


def _merges(vocab: dict[str, int], skip: set[str]) -> list[str]:
    """transformers' `generate_merges(vocab)`: every split of a piece into two pieces, ranked by the
    merged piece's id, then by the halves' lengths; special and byte pieces are never merged."""
    found = []
    for piece, rank in vocab.items():
        if piece in skip:
            continue
        local = [(piece[:i], piece[i:]) for i in range(1, len(piece))
                 if piece[:i] in vocab and piece[i:] in vocab and piece[:i] not in skip and piece[i:] not in skip]
        local.sort(key=lambda lr: (vocab[lr[0]], vocab[lr[1]]))
        found.extend((rank, len(left), len(right), left, right) for left, right in local)
    found.sort(key=lambda m: m[:3])  # stable: ties keep the per-piece order, as transformers' does
    return [f"{left} {right}" for _, _, _, left, right in found]


def _template(bos: tuple[str, int], eos: tuple[str, int], add_bos: bool, add_eos: bool) -> dict[str, Any]:
    """The post-processor transformers' Llama tokenizers build from add_bos_token/add_eos_token."""
    def seq(name: str, type_id: int) -> list[dict]:
        items: list[dict] = []
        if add_bos:
            items.append({"SpecialToken": {"id": bos[0], "type_id": type_id}})
        items.append({"Sequence": {"id": name, "type_id": type_id}})
        if add_eos:
            items.append({"SpecialToken": {"id": eos[0], "type_id": type_id}})
        return items

    used = [t for t, on in ((bos, add_bos), (eos, add_eos)) if on]
    return {"type": "TemplateProcessing", "single": seq("A", 0), "pair": seq("A", 0) + seq("B", 1),
            "special_tokens": {t: {"id": t, "ids": [i], "tokens": [t]} for t, i in used}}


def tokenizer_json(model: bytes) -> dict[str, Any]:
    """The `tokenizers` serialisation of a SentencePiece BPE model with byte fallback."""
    import sentencepiece as spm

    spec = parse_model(model).trainer_spec
    if spec.model_type != spec.BPE:
        raise ValueError(f"a {spec.ModelType.Name(spec.model_type)} model: only BPE models are exported")
    sp = spm.SentencePieceProcessor(model_proto=model)
    if sp.unk_id() < 0 or sp.bos_id() < 0 or sp.eos_id() < 0:
        raise ValueError("the model needs <unk>, BOS and EOS pieces")
    n = sp.get_piece_size()
    vocab = {sp.id_to_piece(i): i for i in range(n)}
    special = [i for i in range(n) if sp.is_control(i) or sp.is_unknown(i)]
    skip = {sp.id_to_piece(i) for i in range(n) if sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i)}
    unk, bos, eos = (sp.id_to_piece(i) for i in (sp.unk_id(), sp.bos_id(), sp.eos_id()))
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": i, **_special(sp.id_to_piece(i)), "special": True} for i in special],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": SPACE},
            {"type": "Replace", "pattern": {"String": " "}, "content": SPACE},
        ]},
        "pre_tokenizer": None,
        "post_processor": _template((bos, sp.bos_id()), (eos, sp.eos_id()), DOCUMENT_BOS, DOCUMENT_EOS),
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": SPACE}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0},
        ]},
        "model": {"type": "BPE", "dropout": None, "unk_token": unk, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True,
                  "vocab": vocab, "merges": _merges(vocab, skip)},
    }


def tokenizer_config(model: bytes, model_max_length: int = DEFAULT_MODEL_MAX_LENGTH) -> tuple[dict, dict]:
    """(tokenizer_config.json, special_tokens_map.json) for the model."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=model)
    unk, bos, eos = (sp.id_to_piece(i) for i in (sp.unk_id(), sp.bos_id(), sp.eos_id()))
    special = [i for i in range(sp.get_piece_size()) if sp.is_control(i) or sp.is_unknown(i)]
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": bos,
        "eos_token": eos,
        "unk_token": unk,
        "pad_token": unk,
        "add_bos_token": DOCUMENT_BOS,
        "add_eos_token": DOCUMENT_EOS,
        "model_max_length": model_max_length,
        "split_special_tokens": True,
        "clean_up_tokenization_spaces": False,
        "legacy": True,
        "added_tokens_decoder": {str(i): {**_special(sp.id_to_piece(i)), "special": True} for i in special},
    }
    tokens_map = {"bos_token": _special(bos), "eos_token": _special(eos), "unk_token": _special(unk),
                  "pad_token": _special(unk)}
    return config, tokens_map


def write_hf_files(model: bytes, output: str, model_max_length: int = DEFAULT_MODEL_MAX_LENGTH) -> list[str]:
    """Write tokenizer.json, tokenizer_config.json and special_tokens_map.json into `output`
    (local or remote, each atomically); the paths written."""
    config, tokens_map = tokenizer_config(model, model_max_length)
    written = []
    for name, content in ((TOKENIZER_JSON, tokenizer_json(model)), (TOKENIZER_CONFIG, config),
                          (SPECIAL_TOKENS_MAP, tokens_map)):
        path = paths.join(output, name)
        paths.write_text_atomically(path, json.dumps(content, indent=2, ensure_ascii=False) + "\n")
        written.append(path)
    return written
