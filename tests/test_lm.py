"""cc_net perplexity models: training (SentencePiece + KenLM), perplexity, cutoffs, buckets, CLI."""
from __future__ import annotations

import hashlib
import json
import math
import random
from pathlib import Path
from typing import Sequence

import pytest

from corpus import lm
from corpus.docfiles import encode_jsonl_gz
from corpus.document import Document


def _tools_or_skip() -> None:
    try:
        lm.kenlm_tool("lmplz")
        lm.kenlm_tool("build_binary")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


def _words(rng: random.Random, n: int) -> list[str]:
    letters = "abcdefghijklmnoprstuvw"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(n)]


_LEXICON = random.Random(42)
NOUN, ADJ, NAME = _words(_LEXICON, 300), _words(_LEXICON, 120), _words(_LEXICON, 200)
VERB = ["lies near", "was built beside", "is known for", "overlooks", "was named after", "borders",
        "replaced", "is twinned with", "faces", "supplies"]
TAIL = ["in the north of the country", "since the middle ages", "according to local records",
        "during the summer months", "on the eastern bank", "before the war", "after the great fire"]


def synthetic_corpus(n_docs: int, seed: int) -> list[str]:
    """Encyclopaedia-like documents from a small grammar over a few hundred made-up words (Zipfian
    choice): word order is what a 5-gram learns, the open vocabulary keeps perplexities spread."""
    rng = random.Random(seed)

    def pick(words: list[str]) -> str:
        return words[min(int(rng.paretovariate(1.0)) - 1, len(words) - 1)] if rng.random() < 0.7 else rng.choice(words)

    docs = []
    for i in range(n_docs):
        paragraphs = []
        for _ in range(rng.randint(2, 4)):
            sentences = [
                f"The {pick(ADJ)} {pick(NOUN)} of {pick(NAME).title()} {rng.choice(VERB)} the {pick(ADJ)} "
                f"{pick(NOUN)} {rng.choice(TAIL)}, and it had {rng.randint(2, 900)} {pick(NOUN)}s in {rng.randint(1800, 2020)}."
                for _ in range(rng.randint(2, 5))
            ]
            paragraphs.append(" ".join(sentences))
        docs.append(f"{pick(NAME).title()} {i}\n" + "\n".join(paragraphs))
    return docs


def shuffled_words(text: str, seed: int = 0) -> str:
    rng = random.Random(seed)
    lines = []
    for line in text.split("\n"):
        words = line.split()
        rng.shuffle(words)
        lines.append(" ".join(words))
    return "\n".join(lines)


PARAMS = lm.LMParams(vocab_size=1000, created="2026-01-01")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    _tools_or_skip()
    directory = tmp_path_factory.mktemp("lm")
    card = lm.train_language_model(synthetic_corpus(300, seed=1), "xx", str(directory), PARAMS)
    return directory, card


def test_files_and_card(trained):
    directory, card_path = trained
    assert card_path == str(directory / "xx.json")
    for name in ("xx.sp.model", "xx.arpa.bin", "xx.json", "languages.json"):
        assert (directory / name).is_file(), name
    card = json.loads(Path(card_path).read_text())
    assert card["language"] == "xx" and card["created"] == "2026-01-01"
    assert card["kenlm"]["order"] == 5 and card["sentencepiece"]["model_type"] == "unigram"
    assert card["kenlm"]["build_binary"] == "trie" and card["kenlm"]["quantization_bits"] == 8
    assert card["kenlm"]["sha256"] == hashlib.sha256((directory / "xx.arpa.bin").read_bytes()).hexdigest()
    assert card["sentencepiece"]["sha256"] == hashlib.sha256((directory / "xx.sp.model").read_bytes()).hexdigest()
    assert card["training"]["documents"] + card["training"]["held_out_documents"] == 300
    assert card["training"]["held_out_documents"] > 10
    assert lm.available_languages(str(directory)) == ["xx"]
    assert json.loads((directory / "languages.json").read_text()) == {"languages": ["xx"]}


def test_in_domain_beats_shuffled(trained):
    directory, _ = trained
    model = lm.PerplexityModel.load(str(directory), "xx")
    held_out = synthetic_corpus(20, seed=99)
    in_domain = [model.perplexity(t) for t in held_out]
    shuffled = [model.perplexity(shuffled_words(t, i)) for i, t in enumerate(held_out)]
    assert all(a < b for a, b in zip(in_domain, shuffled))
    assert sum(shuffled) / len(shuffled) > 2 * sum(in_domain) / len(in_domain)


def test_cutoffs_and_buckets(trained):
    directory, _ = trained
    model = lm.PerplexityModel.load(str(directory), "xx")
    p30, p60 = model.cutoffs
    assert 0 < p30 <= p60
    assert model.bucket(p30 - 0.1) == "head"
    assert model.bucket(p30) == "middle"
    assert model.bucket(p60) == "tail"
    assert model.bucket(math.inf) == "tail"
    assert model.bucket(model.perplexity(shuffled_words(synthetic_corpus(1, 5)[0]))) == "tail"
    assert model.perplexity("") == math.inf
    assert model.perplexity("\n \n") == math.inf


def test_perplexity_formula(trained):
    directory, _ = trained
    model = lm.PerplexityModel.load(str(directory), "xx")
    text = "The old river lies near the green town.\nThe quiet castle borders the market."
    total, length = 0.0, 0
    for line in text.split("\n"):
        pieces = model.sp.encode(lm.normalize(line), out_type=str)
        total += model.lm.score(" ".join(pieces), bos=True, eos=True)
        length += len(pieces) + 1
    assert model.perplexity(text) == pytest.approx(10 ** (-total / length))


def test_load_from_file_url(trained):
    directory, _ = trained
    model = lm.PerplexityModel.load("file://" + str(directory), "xx")
    assert model.cutoffs == lm.PerplexityModel.load(str(directory), "xx").cutoffs


def test_deterministic(trained, tmp_path):
    directory, _ = trained
    lm.train_language_model(synthetic_corpus(300, seed=1), "xx", str(tmp_path), PARAMS)
    for name in ("xx.sp.model", "xx.arpa.bin", "xx.json"):
        assert (tmp_path / name).read_bytes() == (directory / name).read_bytes(), name


def test_percentile_and_vocab_scaling():
    assert lm.percentile([1, 2, 3, 4, 5], 50) == 3
    assert lm.percentile([10, 20], 30) == pytest.approx(13)
    assert lm.scaled_vocab_size(65_536, 3_000_000) == 3_000
    assert lm.scaled_vocab_size(65_536, 10) == lm.MIN_VOCAB
    assert lm.scaled_vocab_size(65_536, 10**11) == 65_536


def test_bucket_without_files():
    model = lm.PerplexityModel("en", None, None, (100.0, 200.0), {})
    assert [model.bucket(p) for p in (50, 100, 150, 200, 1e9)] == ["head", "middle", "middle", "tail", "tail"]


def test_available_languages_missing_dir(tmp_path):
    assert lm.available_languages(str(tmp_path / "nope")) == []


def _write_pipeline_output(directory: Path, docs: list[Document], rejected: Sequence[Document] = (),
                           layout: str = "documents/") -> None:
    """A pipeline output: documents under `documents/` (or, `layout=""`, the folder itself, the
    layout before `documents/`), stats.json, and rejected samples that must never be read."""
    folder = directory / layout
    folder.mkdir(parents=True)
    (folder / "documents-00000-of-00001.jsonl.gz").write_bytes(encode_jsonl_gz(docs))
    (directory / "stats.json").write_text(json.dumps({"documents_written": len(docs)}))
    if rejected:
        (directory / "rejected").mkdir()
        (directory / "rejected" / "too_short.jsonl.gz").write_bytes(encode_jsonl_gz(list(rejected)))


def test_cli_train_and_score(tmp_path, capsys, monkeypatch):
    _tools_or_skip()
    wiki = tmp_path / "wikipedia"
    docs = [Document(f"wikipedia/{i}", t, "wikipedia", metadata={"language": "xx"})
            for i, t in enumerate(synthetic_corpus(120, seed=3))]
    docs += [Document(f"wikipedia/y{i}", t, "wikipedia", metadata={"language": "yy"})
             for i, t in enumerate(synthetic_corpus(5, seed=4))]
    # 40 more `yy` documents, but dropped ones: read, they would put yy over --min_documents.
    rejected = [Document(f"wikipedia/r{i}", t, "wikipedia", metadata={"language": "yy"})
                for i, t in enumerate(synthetic_corpus(40, seed=5))]
    _write_pipeline_output(wiki, docs, rejected)
    out = tmp_path / "models"
    assert lm.main(["train", "--wikipedia", str(wiki), "--output", str(out), "--created", "2026-01-01",
                    "--binary", "probing"]) == 0
    assert lm.available_languages(str(out)) == ["xx"]  # yy: 5 documents < --min_documents, rejected unread
    card = json.loads((out / "xx.json").read_text())
    assert card["kenlm"]["build_binary"] == "probing"
    assert str(wiki) in card["training"]["source"]
    capsys.readouterr()
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("The old river lies near the green town since the middle ages."))
    assert lm.main(["score", "--models", str(out), "--language", "xx"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["bucket"] in ("head", "middle", "tail") and result["perplexity"] > 1
    # calibrate on other documents rewrites the cutoffs
    ref = tmp_path / "reference"
    _write_pipeline_output(ref, [Document(f"cc/{i}", shuffled_words(t, i), "commoncrawl", metadata={"language": "xx"})
                                 for i, t in enumerate(synthetic_corpus(30, seed=8))], layout="")
    assert lm.main(["calibrate", "--models", str(out), "--language", "xx", "--reference", str(ref)]) == 0
    recalibrated = lm.PerplexityModel.load(str(out), "xx")
    assert recalibrated.cutoffs[0] > card["cutoffs"]["p60"]  # shuffled text sits far above wiki's p60


def test_cli_help():
    with pytest.raises(SystemExit) as exc:
        lm.main(["train", "--help"])
    assert exc.value.code == 0


def test_train_into_and_load_from_memory_url(trained):
    """A remote directory (fsspec's in-process memory:// file system, as gs:// or s3://): the
    models are copied up, listed, and loaded back (KenLM through a local copy)."""
    directory, _ = trained
    url = "memory://lm-test/models"
    card = lm.train_language_model(synthetic_corpus(300, seed=1), "xx", url, PARAMS)
    assert card == url + "/xx.json"
    from corpus import paths

    for name in ("xx.sp.model", "xx.arpa.bin", "xx.json", "languages.json"):
        assert paths.read_bytes(f"{url}/{name}") == (directory / name).read_bytes(), name
    assert lm.available_languages(url) == ["xx"]
    assert lm.available_languages("memory://lm-test/nothing") == []
    remote = lm.PerplexityModel.load(url, "xx")
    local = lm.PerplexityModel.load(str(directory), "xx")
    text = synthetic_corpus(1, seed=7)[0]
    assert remote.perplexity(text) == local.perplexity(text)
    assert remote.cutoffs == local.cutoffs


def test_sentencepiece_progress_is_shown(trained, tmp_path, capfd):
    lm.train_language_model(synthetic_corpus(60, seed=2), "zz", str(tmp_path), PARAMS)
    err = capfd.readouterr().err
    assert "EM sub_iter=" in err  # SentencePiece's own log of its EM rounds
    assert "[lm] zz:" in err
