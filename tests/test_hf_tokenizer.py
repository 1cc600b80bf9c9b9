"""The tokenizer directory as Hugging Face loads it, the SentencePiece proto in this venv, the CLIs.

In-venv tests use transformers 5.23 (requirements-dev). The `slow` test builds throwaway venvs
with transformers 4.45, 4.57 and the newest 5.x from the registry, as a user would, and compares
their ids with SentencePiece's (skipped with the reason when the registry is unreachable).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

import pytest

from tests.test_tokenizer import VOCAB, _sample_documents, corpus_dir, model  # noqa: F401 (fixtures)
from tokenizer import hf
from tokenizer import train as tt
from tokenizer.model import Encoder, to_transformers
from tokenizer.modelfile import canonical_model, parse_model

ROOT = Path(__file__).resolve().parents[1]
EDGE_CASES = [" leading space", "  two", "\ttab and 12345", "😀 中文 ❤", "a\n\n b", "<s> html </s> tags <unk>",
              "\u2581x", " ", "", "\n", "x" * 3000, "trailing space "]


def _texts() -> list[str]:
    docs = _sample_documents()
    return [d.text for d in docs["c4"][:150]] + [docs["books"][0].text[:50_000]] + EDGE_CASES


def test_train_writes_a_hugging_face_directory(model):
    out = model.parent
    assert {p.name for p in out.iterdir()} >= {"tokenizer.model", *hf.HF_FILES, tt.CARD_FILE}
    card = json.loads((out / tt.CARD_FILE).read_text())
    assert card["kind"] == "tokenizer" and card["documents"] == {"bos": True, "eos": True}
    config = json.loads((out / hf.TOKENIZER_CONFIG).read_text())
    assert (config["bos_token"], config["eos_token"], config["unk_token"], config["pad_token"]) == (
        "<s>", "</s>", "<unk>", "<unk>")
    assert config["model_max_length"] == hf.DEFAULT_MODEL_MAX_LENGTH
    assert (config["add_bos_token"], config["add_eos_token"]) == (hf.DOCUMENT_BOS, hf.DOCUMENT_EOS)
    tokens_map = json.loads((out / hf.SPECIAL_TOKENS_MAP).read_text())
    assert tokens_map["pad_token"]["content"] == "<unk>"
    spec = json.loads((out / hf.TOKENIZER_JSON).read_text())
    assert spec["model"]["type"] == "BPE" and spec["model"]["byte_fallback"]
    assert len(spec["model"]["vocab"]) == VOCAB and len(spec["added_tokens"]) == 3


def test_auto_tokenizer_gives_sentencepiece_ids_and_the_shard_convention(model):
    pytest.importorskip("transformers")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model.parent))
    enc = Encoder.load(str(model))  # the shards' convention: [BOS] ids [EOS]
    mismatched = []
    for text in _texts():
        ids = enc.sp.encode(text)
        if tok.encode(text, add_special_tokens=False) != ids:
            mismatched.append(text[:40])
        assert tok(text)["input_ids"] == enc.encode(text).tolist()
    assert mismatched == []
    text = _texts()[0]
    assert tok.decode(enc.sp.encode(text)) == text
    assert tok.decode(tok(text)["input_ids"], skip_special_tokens=True) == text
    assert (tok.pad_token, tok.pad_token_id, tok.model_max_length) == ("<unk>", 0, hf.DEFAULT_MODEL_MAX_LENGTH)
    batch = tok(["a b", "a much longer text"], padding=True)
    assert batch["input_ids"][0][-1] == 0 and batch["attention_mask"][0][-1] == 0


def test_tokenizers_library_and_to_transformers_agree(model):
    pytest.importorskip("transformers")
    from tokenizers import Tokenizer

    backend = Tokenizer.from_file(str(model.parent / hf.TOKENIZER_JSON))
    assert backend.encode("<s>", add_special_tokens=False).ids == [1]  # the library's default ...
    backend.encode_special_tokens = True  # ... and what transformers does with split_special_tokens
    wrapped = to_transformers(str(model))
    enc = Encoder.load(str(model))
    for text in _texts()[:40] + EDGE_CASES:
        assert backend.encode(text, add_special_tokens=False).ids == enc.sp.encode(text)
        assert wrapped(text)["input_ids"] == enc.encode(text).tolist()


def test_tokenizer_model_cli_writes_the_same_directory(model, tmp_path):
    help_text = subprocess.run([sys.executable, "-m", "tokenizer.model", "--help"], cwd=ROOT,
                               capture_output=True, text=True)
    assert help_text.returncode == 0 and "(default: 2048)" in " ".join(help_text.stdout.split())
    from tokenizer.model import main

    assert main(["--input", str(model), "--output", str(tmp_path / "hf")]) == 0
    for name in ("tokenizer.model", *hf.HF_FILES):
        assert (tmp_path / "hf" / name).read_bytes() == (model.parent / name).read_bytes(), name
    missing = subprocess.run([sys.executable, "-m", "tokenizer.model", "--input", str(tmp_path / "nope.model"),
                              "--output", str(tmp_path / "x")], cwd=ROOT, capture_output=True, text=True)
    assert missing.returncode != 0 and missing.stderr.strip().count("\n") == 0 and "not found" in missing.stderr
    import io

    import sentencepiece as spm

    writer = io.BytesIO()  # a unigram model: its pieces are not BPE merges, so it is refused
    spm.SentencePieceTrainer.train(sentence_iterator=iter(_texts()[:100]), model_writer=writer, vocab_size=300,
                                   model_type="unigram", minloglevel=2)
    (tmp_path / "unigram.model").write_bytes(writer.getvalue())
    with pytest.raises(SystemExit, match="a UNIGRAM model: only BPE models are exported"):
        main(["--input", str(tmp_path / "unigram.model"), "--output", str(tmp_path / "unigram")])
    assert not (tmp_path / "unigram").exists()


def test_model_proto_read_and_edited_in_this_venv(model):
    import sentencepiece as spm

    raw = model.read_bytes()
    proto = parse_model(raw)
    sp = spm.SentencePieceProcessor(model_proto=raw)
    assert [p.piece for p in proto.pieces] == [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    assert [p.score for p in proto.pieces][:300] == [sp.get_score(i) for i in range(300)]
    assert proto.trainer_spec.model_type == proto.trainer_spec.BPE and proto.trainer_spec.byte_fallback
    assert proto.trainer_spec.split_digits and proto.trainer_spec.vocab_size == sp.get_piece_size()
    assert proto.normalizer_spec.name == "identity" and proto.normalizer_spec.add_dummy_prefix
    assert proto.SerializeToString() == raw == canonical_model(raw)
    # Edit: drop the dummy prefix and rename a piece; SentencePiece loads the edited model.
    proto.normalizer_spec.add_dummy_prefix = False
    index = next(i for i, p in enumerate(proto.pieces) if p.piece == "\u2581the")
    proto.pieces[index].piece = "\u2581THE"
    edited = spm.SentencePieceProcessor(model_proto=proto.SerializeToString())
    assert sp.encode("the end", out_type=str)[0] == "\u2581the"
    assert edited.encode("the", out_type=str)[0] != "\u2581the" and edited.id_to_piece(index) == "\u2581THE"


def test_tokenizer_entry_points_show_defaults_and_fail_fast(tmp_path):
    from tokenizer import encode

    assert "(default: 32000)" in " ".join(tt.make_parser().format_help().split())
    assert "(default: 1073741824)" in " ".join(encode.make_parser().format_help().split())
    with pytest.raises(SystemExit, match=r"--tokenizer \S+ not found"):
        encode.main(["--tokenizer", str(tmp_path / "none.model"), "--output", str(tmp_path / "tokens")])
    with pytest.raises(SystemExit, match="--text file\\(s\\) not found"):
        tt.main(["--text", str(tmp_path / "none.txt"), "--output", str(tmp_path / "tok")])
    assert not (tmp_path / "tokens").exists() and not (tmp_path / "tok").exists()


# --------------------------------------------------------------------------------------------
# transformers 4.x and 5.x as a user installs them, each in a throwaway venv
# --------------------------------------------------------------------------------------------
CHECK = r"""
import json, sys
import transformers
from transformers import AutoTokenizer
directory, texts_file = sys.argv[1], sys.argv[2]
texts = json.load(open(texts_file, encoding="utf-8"))
tok = AutoTokenizer.from_pretrained(directory)
print(json.dumps({"version": transformers.__version__, "class": type(tok).__name__,
                  "plain": [tok.encode(t, add_special_tokens=False) for t in texts],
                  "full": [tok(t)["input_ids"] for t in texts],
                  "pad": tok.pad_token_id, "max": tok.model_max_length}))
"""
NETWORK_ERRORS = ("NewConnectionError", "Network is unreachable", "Temporary failure in name resolution",
                  "Max retries exceeded", "Connection refused", "No route to host")


def _throwaway_venv(path: Path, requirement: str) -> Path:
    venv.EnvBuilder(with_pip=True).create(path)
    python = path / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                              requirement, "tokenizers", "sentencepiece", "protobuf"],
                             capture_output=True, text=True, timeout=900)
    if install.returncode != 0:
        if any(marker in install.stderr for marker in NETWORK_ERRORS):
            pytest.skip(f"package registry unreachable: {install.stderr.strip().splitlines()[-1]}")
        raise AssertionError(f"pip install {requirement} failed:\n{install.stderr[-2000:]}")
    return python


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("requirement", ["transformers==4.45.*", "transformers==4.57.*", "transformers>=5,<6"])
def test_transformers_lines_in_their_own_venvs(model, tmp_path, requirement):
    started = time.perf_counter()
    python = _throwaway_venv(tmp_path / "venv", requirement)
    texts = _texts()[:60] + EDGE_CASES
    texts_file = tmp_path / "texts.json"
    texts_file.write_text(json.dumps(texts), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([str(python), "-c", CHECK, str(model.parent), str(texts_file)], capture_output=True,
                            text=True, timeout=600, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    enc = Encoder.load(str(model))
    assert got["plain"] == [enc.sp.encode(t) for t in texts], got["version"]
    assert got["full"] == [enc.encode(t).tolist() for t in texts], got["version"]
    assert (got["pad"], got["max"]) == (0, hf.DEFAULT_MODEL_MAX_LENGTH)
    print(f"transformers {got['version']} ({got['class']}): {len(texts)} texts identical, "
          f"{time.perf_counter() - started:.0f}s incl. venv")
