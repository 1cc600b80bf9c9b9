"""trainer.export_hf: a checkpoint of either kind -> a directory `LlamaForCausalLM` loads (transformers 5.23)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.test_tokenizer import VOCAB, corpus_dir, model  # noqa: F401 (fixtures: a tokenizer.train output)
from tests.test_trainer import data, train_args  # noqa: F401 (fixture: a small mixture)
from trainer import export_hf
from trainer import train as trainer
from trainer.model import LLaMA

transformers = pytest.importorskip("transformers")
LOGITS_ATOL = 1e-4


def _ours(ckpt_dir: Path) -> LLaMA:
    found = export_hf.locate(str(ckpt_dir))
    cfg, state = export_hf.load_weights(found)
    net = LLaMA(cfg)
    net.load_state_dict(state)
    return net.eval()


def _greedy(net: LLaMA, prompt: torch.Tensor, steps: int) -> torch.Tensor:
    ids = prompt
    for _ in range(steps):
        logits, _ = net(ids)
        ids = torch.cat([ids, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    return ids


def _check_against_hf(ours: LLaMA, directory: Path, vocab: int) -> None:
    from transformers import LlamaForCausalLM

    theirs = LlamaForCausalLM.from_pretrained(str(directory)).eval()
    batch = torch.randint(0, vocab, (4, 32), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        diff = (ours(batch)[0] - theirs(batch).logits).abs().max().item()
        assert diff < LOGITS_ATOL, diff
        prompt = batch[:2, :6]
        generated = theirs.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=8,
                                    do_sample=False, pad_token_id=0)
        assert torch.equal(generated, _greedy(ours, prompt, 8))


def test_export_file_checkpoint_with_tokenizer(data, model, tmp_path):
    run = tmp_path / "run"
    untied = ("--tie_embeddings", "no", "--vocab_size", str(VOCAB))  # the tokenizer's vocabulary
    assert trainer.main(train_args(data, run, "--steps", "3", *untied)) == 0
    out = tmp_path / "hf"
    assert export_hf.main(["--checkpoint", str(run), "--output", str(out), "--tokenizer", str(model.parent)]) == 0
    config = json.loads((out / export_hf.CONFIG).read_text())
    assert (config["model_type"], config["vocab_size"], config["tie_word_embeddings"]) == ("llama", VOCAB, False)
    from safetensors import safe_open

    with safe_open(str(out / export_hf.WEIGHTS), "pt") as weights:
        assert "lm_head.weight" in weights.keys() and weights.metadata()["step"] == "3"
    for name in export_hf.TOKENIZER_FILES:
        assert (out / name).read_bytes() == (model.parent / name).read_bytes()
    _check_against_hf(_ours(run), out, VOCAB)
    from transformers import AutoTokenizer, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(str(out))
    prompt = tok("The quick brown fox", add_special_tokens=False, return_tensors="pt")
    text = LlamaForCausalLM.from_pretrained(str(out)).generate(**prompt, max_new_tokens=4, do_sample=False)
    assert text.shape == (1, prompt["input_ids"].shape[1] + 4)


@pytest.mark.filterwarnings("ignore:torch.distributed is disabled")
def test_export_sharded_checkpoint_tied(data, tmp_path):
    run = tmp_path / "run"
    assert trainer.main(train_args(data, run, "--steps", "2", "--ckpt_format", "sharded")) == 0
    step_dir = next((run / "checkpoint").glob("step_*"))
    out = tmp_path / "hf"
    assert export_hf.main(["--checkpoint", str(step_dir), "--output", str(out), "--dtype", "float32"]) == 0
    config = json.loads((out / export_hf.CONFIG).read_text())
    assert config["tie_word_embeddings"] is True and config["intermediate_size"] == _ours(run).cfg.hidden_dim
    from safetensors import safe_open

    with safe_open(str(out / export_hf.WEIGHTS), "pt") as weights:
        assert "lm_head.weight" not in weights.keys()
    _check_against_hf(_ours(step_dir), out, 64)


def test_export_fails_fast_with_one_line(tmp_path, capsys):
    assert export_hf.main(["--checkpoint", str(tmp_path / "none"), "--output", str(tmp_path / "hf")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("export_hf: no checkpoint at") and not (tmp_path / "hf").exists()
    (tmp_path / "tok").mkdir()
    assert export_hf.main(["--checkpoint", str(tmp_path), "--output", str(tmp_path / "hf"),
                           "--tokenizer", str(tmp_path / "tok")]) == 2
    assert "lacks tokenizer.model" in capsys.readouterr().err
    assert "(default: float32)" in " ".join(export_hf.make_parser().format_help().split())
