"""A LLaMA-architecture decoder in one file (nanoGPT style).

LLaMA (arXiv 2302.13971) §2.2 on top of the GPT/Transformer decoder:
* pre-normalisation with RMSNorm (eps 1e-6, learned scale, no bias) at the input of each sub-layer
  and before the output head;
* SwiGLU feed-forward, w2(silu(w1 x) * w3 x), hidden = 2/3 * 4d rounded up to `multiple_of`
  (256 in Meta's release: 11008 for d = 4096);
* rotary position embeddings (RoPE, theta 10000) on queries and keys at every layer; no absolute
  position embeddings;
* no biases anywhere; causal attention through `F.scaled_dot_product_attention(is_causal=True)`,
  which picks FlashAttention / memory-efficient kernels on GPU (the paper used xformers);
* input embedding and output head untied (LLaMA); `tie_embeddings=True` shares them (small models).

Named configs go from `tiny` (CPU tests) to the paper's 7B/13B/33B/65B shapes (Table 2).
`activation_checkpointing` recomputes each block's activations in the backward pass (LLaMA §2.4
saves memory the same way); off by default.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint


@dataclass(frozen=True)
class ModelConfig:
    dim: int = 4096
    n_layers: int = 32
    n_heads: int = 32
    vocab_size: int = 32000
    multiple_of: int = 256
    norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    max_seq_len: int = 2048
    tie_embeddings: bool = False
    lr: float = 3e-4  # peak learning rate the config is meant for (Table 2 for paper shapes)

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def hidden_dim(self) -> int:
        """SwiGLU hidden size: 2/3 * 4d, rounded up to a multiple of `multiple_of`."""
        hidden = int(2 * (4 * self.dim) / 3)
        return self.multiple_of * ((hidden + self.multiple_of - 1) // self.multiple_of)

    def to_dict(self) -> dict:
        return asdict(self)


# Paper shapes (Table 2) and small ones for CPU tests and GPU checks. `lr` is the peak LR.
CONFIGS: dict[str, ModelConfig] = {
    "tiny": ModelConfig(dim=64, n_layers=2, n_heads=4, multiple_of=32, max_seq_len=256, tie_embeddings=True, lr=3e-3),
    "mini": ModelConfig(dim=256, n_layers=4, n_heads=8, multiple_of=64, max_seq_len=512, tie_embeddings=True, lr=1.5e-3),
    "small": ModelConfig(dim=768, n_layers=12, n_heads=12, multiple_of=256, max_seq_len=2048, lr=6e-4),  # ~135M
    "1b": ModelConfig(dim=2048, n_layers=18, n_heads=16, multiple_of=256, max_seq_len=2048, lr=4e-4),  # ~1.07B
    "7b": ModelConfig(dim=4096, n_layers=32, n_heads=32, lr=3e-4),
    "13b": ModelConfig(dim=5120, n_layers=40, n_heads=40, lr=3e-4),
    "33b": ModelConfig(dim=6656, n_layers=60, n_heads=52, lr=1.5e-4),
    "65b": ModelConfig(dim=8192, n_layers=80, n_heads=64, lr=1.5e-4),
}


def get_config(name: str, **overrides) -> ModelConfig:
    if name not in CONFIGS:
        raise KeyError(f"unknown model config {name!r}; known: {', '.join(CONFIGS)}")
    return replace(CONFIGS[name], **{k: v for k, v in overrides.items() if v is not None})


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in float32 (as Meta's reference does), return in the input dtype.
        normed = x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


def rope_frequencies(head_dim: int, seq_len: int, theta: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables, (seq_len, head_dim / 2), for rotating pairs of query/key channels."""
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate (batch, heads, seq, head_dim) by position; channel pairs are (2i, 2i+1) as in Meta's code."""
    xf = x.float().unflatten(-1, (-1, 2))
    a, b = xf[..., 0], xf[..., 1]
    cos, sin = cos[: x.size(-2)], sin[: x.size(-2)]
    out = torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1)
    return out.flatten(-2).type_as(x)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads, self.head_dim = cfg.n_heads, cfg.head_dim
        self.wq = nn.Linear(cfg.dim, cfg.dim, bias=False)
        self.wk = nn.Linear(cfg.dim, cfg.dim, bias=False)
        self.wv = nn.Linear(cfg.dim, cfg.dim, bias=False)
        self.wo = nn.Linear(cfg.dim, cfg.dim, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.wq(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.wk(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
        v = self.wv(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.wo(y.transpose(1, 2).reshape(b, t, -1))


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        hidden = cfg.hidden_dim
        self.w1 = nn.Linear(cfg.dim, hidden, bias=False)
        self.w3 = nn.Linear(cfg.dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, cfg.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attention_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attention = Attention(cfg)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.feed_forward = FeedForward(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x), cos, sin)
        return x + self.feed_forward(self.ffn_norm(x))


class LLaMA(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.activation_checkpointing = False
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.output = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.output.weight = self.tok_embeddings.weight
        cos, sin = rope_frequencies(cfg.head_dim, cfg.max_seq_len, cfg.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        if self.tok_embeddings.weight.device.type != "meta":
            self.apply(self._init_weights)
            # GPT-2 / nanoGPT: scale the residual projections by 1/sqrt(2 * layers).
            for name, p in self.named_parameters():
                if name.endswith("wo.weight") or name.endswith("w2.weight"):
                    nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layers))

    def init_buffers(self) -> None:
        """Recompute the RoPE tables in place (after `to_empty` of a model built on the meta device)."""
        cos, sin = rope_frequencies(self.cfg.head_dim, self.cfg.max_seq_len, self.cfg.rope_theta)
        with torch.no_grad():
            self.rope_cos.copy_(cos)
            self.rope_sin.copy_(sin)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: torch.Tensor, targets: Optional[torch.Tensor] = None):
        """Logits (batch, seq, vocab); with `targets`, also the mean next-token cross-entropy."""
        if idx.size(1) > self.cfg.max_seq_len:
            raise ValueError(f"sequence of {idx.size(1)} tokens exceeds max_seq_len {self.cfg.max_seq_len}")
        x = self.tok_embeddings(idx)
        for layer in self.layers:
            if self.activation_checkpointing and torch.is_grad_enabled():
                x = checkpoint(layer, x, self.rope_cos, self.rope_sin, use_reentrant=False)
            else:
                x = layer(x, self.rope_cos, self.rope_sin)
        logits = self.output(self.norm(x))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        """Parameters (shared tensors counted once); `exclude_embeddings` leaves out the input table
        unless it is tied to the output head (a lookup has no FLOPs; the head's matmul does)."""
        seen, total = set(), 0
        for name, p in self.named_parameters():
            if id(p) in seen:
                continue
            seen.add(id(p))
            if exclude_embeddings and name == "tok_embeddings.weight" and not self.cfg.tie_embeddings:
                continue
            total += p.numel()
        return total

    def flops_per_token(self) -> int:
        """Training FLOPs per token, 6 N (N without the input embedding lookup), as in the MFU
        definition of Chinchilla/PaLM; the attention score term (12 L d T) is left out."""
        return 6 * self.num_parameters(exclude_embeddings=True)


def named_param_groups(model: nn.Module) -> tuple[list[str], list[str]]:
    """Parameter names (shared tensors once) with and without weight decay, in `param_groups` order.

    Common practice (nanoGPT, Megatron, HF): no weight decay on RMSNorm scales and biases; we also
    leave the token embedding undecayed (Megatron and OLMo do; Meta does not say what LLaMA did).
    """
    decay, no_decay, seen = [], [], set()
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        tied_embedding = name == "tok_embeddings.weight"
        (decay if p.dim() >= 2 and not tied_embedding else no_decay).append(name)
    return decay, no_decay


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: decay 2-D weights (linear layers, embeddings excluded), not norms/embeddings."""
    params = dict(model.named_parameters())
    decay, no_decay = named_param_groups(model)
    return [{"params": [params[n] for n in decay], "weight_decay": weight_decay},
            {"params": [params[n] for n in no_decay], "weight_decay": 0.0}]
