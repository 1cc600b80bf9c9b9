"""Export a trainer checkpoint as a Hugging Face `LlamaForCausalLM` directory.

    python -m trainer.export_hf --checkpoint out/train --output out/hf [--tokenizer out/tokenizer]

`--checkpoint` is a training output directory (its latest checkpoint of either kind), a
`checkpoint.pt` file or a sharded `checkpoint/step_N` directory. Written: `config.json`
(`LlamaConfig`), `generation_config.json` (BOS 1, EOS 2) and `model.safetensors` (the weights in
`--dtype`), each atomically (temporary name, fsync, rename); with `--tokenizer DIR` the Hugging Face
tokenizer files of a `tokenizer.train` output are copied beside them, so
`AutoTokenizer.from_pretrained(OUTPUT)` and `LlamaForCausalLM.from_pretrained(OUTPUT)` both load.

The architectures are the same (trainer/model.py follows Meta's LLaMA; HF's Llama is the same
network), so the export is a renaming plus one permutation: our RoPE rotates interleaved channel
pairs (2i, 2i+1) as Meta's code does, HF's rotates the two halves of each head, so the rows of
`wq` and `wk` are reordered per head as transformers' own `convert_llama_weights_to_hf` does. Logits
agree to float32 rounding (tested: within 1e-4 on a batch). Needs torch and safetensors, not
transformers. The whole state is held in memory once (about 4 bytes per parameter in float32).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

import torch

from corpus import paths
from corpus.clihelp import DefaultsHelpFormatter
from trainer import checkpoint
from trainer.checkpoint import CheckpointError, Found
from trainer.model import LLaMA, ModelConfig

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
GENERATION_CONFIG = "generation_config.json"
# What `tokenizer.train` writes that Hugging Face reads (tokenizer.hf.HF_FILES + the SentencePiece model).
TOKENIZER_FILES = ("tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
BOS_ID, EOS_ID = 1, 2  # the SentencePiece ids tokenizer.train fixes (LLaMA's)


def locate(path: str) -> Found:
    """The checkpoint at `path`: a training output directory, a checkpoint file or a DCP step directory."""
    target = Path(path)
    if target.is_file():
        return Found("file", str(target), int(checkpoint.load_file(str(target))["step"]))
    if (target / checkpoint.STATE).is_file():
        state = json.loads((target / checkpoint.STATE).read_text())
        return Found("sharded", str(target), int(state["step"]))
    if target.is_dir():
        found = checkpoint.find(target)
        if found is not None:
            return found
    raise FileNotFoundError(f"no checkpoint at {path} (a training --output, a {checkpoint.FILE} or a "
                            f"{checkpoint.SHARDED}/step_N directory)")


def load_weights(found: Found) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """(config, our model's state dict) of a checkpoint of either kind, on the CPU."""
    if found.kind == "file":
        ckpt = checkpoint.load_file(found.path)
        return ModelConfig(**ckpt["config"]), ckpt["model"]
    import warnings

    import torch.distributed.checkpoint as dcp

    cfg = ModelConfig(**checkpoint.read_meta(found)["config"])
    model = LLaMA(cfg)
    state = {"model": model.state_dict()}
    with warnings.catch_warnings():  # one process without a process group: DCP says it assumes so
        warnings.filterwarnings("ignore", message=".*assuming the intent is to load in a single process")
        dcp.load(state, checkpoint_id=found.path)
    return cfg, state["model"]


def hf_config(cfg: ModelConfig, dtype: str) -> dict:
    """`LlamaConfig` fields of our config (transformers 4.x reads `rope_theta`, 5.x `rope_parameters`)."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.dim,
        "intermediate_size": cfg.hidden_dim,
        "num_hidden_layers": cfg.n_layers,
        "num_attention_heads": cfg.n_heads,
        "num_key_value_heads": cfg.n_heads,
        "head_dim": cfg.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": cfg.max_seq_len,
        "rms_norm_eps": cfg.norm_eps,
        "rope_theta": cfg.rope_theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "tie_word_embeddings": cfg.tie_embeddings,
        "bos_token_id": BOS_ID,
        "eos_token_id": EOS_ID,
        "initializer_range": 0.02,
        "use_cache": True,
        "torch_dtype": dtype,
        "dtype": dtype,
    }


def _rope_rows(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Rows of a query/key projection from interleaved RoPE pairs to HF's rotate-half order."""
    out_dim, in_dim = weight.shape
    return weight.view(n_heads, out_dim // n_heads // 2, 2, in_dim).transpose(1, 2).reshape(out_dim, in_dim)


def to_hf_state(cfg: ModelConfig, state: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Our parameter names and layout -> `LlamaForCausalLM`'s (tied head left out, as HF saves it)."""
    def get(name: str) -> torch.Tensor:
        return state[name].detach().to("cpu", torch.float32)

    out = {"model.embed_tokens.weight": get("tok_embeddings.weight"), "model.norm.weight": get("norm.weight")}
    if not cfg.tie_embeddings:
        out["lm_head.weight"] = get("output.weight")
    names = {"attention.wv.weight": "self_attn.v_proj.weight", "attention.wo.weight": "self_attn.o_proj.weight",
             "feed_forward.w1.weight": "mlp.gate_proj.weight", "feed_forward.w3.weight": "mlp.up_proj.weight",
             "feed_forward.w2.weight": "mlp.down_proj.weight", "attention_norm.weight": "input_layernorm.weight",
             "ffn_norm.weight": "post_attention_layernorm.weight"}
    for i in range(cfg.n_layers):
        ours, theirs = f"layers.{i}.", f"model.layers.{i}."
        out[theirs + "self_attn.q_proj.weight"] = _rope_rows(get(ours + "attention.wq.weight"), cfg.n_heads)
        out[theirs + "self_attn.k_proj.weight"] = _rope_rows(get(ours + "attention.wk.weight"), cfg.n_heads)
        for a, b in names.items():
            out[theirs + b] = get(ours + a)
    return {k: v.to(dtype).contiguous() for k, v in out.items()}


def _write_json(path: Path, content: dict) -> None:
    data = (json.dumps(content, indent=2, sort_keys=True) + "\n").encode()
    checkpoint.write_file(path, lambda handle: handle.write(data))


def export(checkpoint_path: str, output: str, tokenizer: Optional[str] = None, dtype: str = "float32") -> list[Path]:
    """Write the Hugging Face directory; the files written."""
    from safetensors.torch import save_file

    found = locate(checkpoint_path)
    cfg, state = load_weights(found)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    tensors = to_hf_state(cfg, state, DTYPES[dtype])
    with checkpoint.atomic_path(out / WEIGHTS) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt", "step": str(found.step)})
    _write_json(out / CONFIG, hf_config(cfg, dtype))
    _write_json(out / GENERATION_CONFIG, {"bos_token_id": BOS_ID, "eos_token_id": EOS_ID, "pad_token_id": 0})
    written = [out / WEIGHTS, out / CONFIG, out / GENERATION_CONFIG]
    if tokenizer is not None:
        for name in TOKENIZER_FILES:  # small files; local or remote (corpus.paths)
            data = paths.read_bytes(paths.join(tokenizer, name))
            checkpoint.write_file(out / name, lambda handle: handle.write(data))
            written.append(out / name)
    return written


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trainer.export_hf", description=__doc__,
                                     formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--checkpoint", required=True,
                        help="training output directory, checkpoint.pt, or checkpoint/step_N directory")
    parser.add_argument("--output", required=True, help="directory for config.json and model.safetensors")
    parser.add_argument("--tokenizer", help="a tokenizer.train output directory to copy beside the model")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32", help="dtype of the saved weights")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = make_parser().parse_args(argv)
    if args.tokenizer is not None:
        missing = [n for n in TOKENIZER_FILES if not paths.exists(paths.join(args.tokenizer, n))]
        if missing:
            print(f"export_hf: --tokenizer {args.tokenizer} lacks {', '.join(missing)} "
                  f"(a tokenizer.train output, or python -m tokenizer.model)", file=sys.stderr)
            return 2
    try:
        written = export(args.checkpoint, args.output, args.tokenizer, args.dtype)
    except FileNotFoundError as exc:
        print(f"export_hf: {exc}", file=sys.stderr)
        return 2
    except CheckpointError as exc:
        print(f"export_hf: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
