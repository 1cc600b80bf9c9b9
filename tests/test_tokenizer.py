"""Tokenizer training, encoding and token shards (tiny models on real sample text; the Hugging Face
files are tested in tests/test_hf_tokenizer.py)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from corpus import docfiles, paths
from corpus.docfiles import encode_jsonl_gz, encode_parquet
from corpus.document import Document, make_id
from corpus.samples import local_samples
from corpus.shards import IndexedDataset, read_manifest, verify_series
from tokenizer import sampling
from tokenizer import train as tt
from tokenizer.model import Encoder
from tokenizer.modelfile import canonical_model

VOCAB = 800


# --------------------------------------------------------------------------------------------
# Pure parts
# --------------------------------------------------------------------------------------------
def test_training_lines_cut_long_lines_at_whitespace_and_char_boundaries():
    assert list(sampling.training_lines("a\n\nb\r\n  c", 100)) == ["a", "b", "  c"]
    assert list(sampling.training_lines("😀😀a", 2)) == ["😀", "😀", "a"]  # limit below one character
    long = " ".join(["word"] * 100)
    pieces = list(sampling.training_lines(long, 50))
    assert all(len(p.encode()) <= 50 for p in pieces)
    assert "".join(pieces) == long
    assert all(not p.startswith("wor ") for p in pieces)
    cjk = "中" * 40  # 3 bytes each, no whitespace
    pieces = list(sampling.training_lines(cjk, 10))
    assert "".join(pieces) == cjk and all(len(p.encode()) <= 10 for p in pieces)


def test_fast_line_split_agrees_with_training_lines():
    import random

    rng = random.Random(1)
    alphabet = ["a", " ", "\n", "é", "😀", "\r", "x" * 50]
    for _ in range(1500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        for limit in (4, 8, 64, 5000):
            lines = list(sampling.training_lines(text, limit))
            assert sampling.split_lines(text, limit) == lines
            assert sampling.text_bytes(text, limit) == sum(len(line.encode()) + 1 for line in lines)


def test_shares_renormalised_and_rates():
    shares = sampling.normalise_shares(sampling.TABLE1_SHARES, ["c4", "wikipedia"])
    assert shares == pytest.approx({"c4": 15 / 19.5, "wikipedia": 4.5 / 19.5})
    rates, budget = sampling.sampling_rates({"c4": 1000, "wikipedia": 1000}, shares, max_bytes=10**9, max_repeat=1.0)
    assert rates["c4"] == pytest.approx(1.0)  # the scarcest source (relative to its share) sets the size
    assert rates["wikipedia"] == pytest.approx(4.5 / 15)
    assert budget == int(1000 / shares["c4"])
    rates, _ = sampling.sampling_rates({"c4": 1000, "wikipedia": 1000}, shares, max_bytes=10**9, max_repeat=2.0)
    assert rates["c4"] == pytest.approx(2.0)
    rates, budget = sampling.sampling_rates({"c4": 1000, "wikipedia": 1000}, shares, max_bytes=100, max_repeat=1.0)
    assert budget == 100
    assert sampling.parse_shares("c4=1, books=3") == {"c4": 1.0, "books": 3.0}


def test_min_bytes_floor_for_small_inputs():
    shares = {"commoncrawl": 0.67, "c4": 0.33}
    available = {"commoncrawl": 100, "c4": 10_000}
    rates, budget = sampling.sampling_rates(available, shares, max_bytes=10**9, max_repeat=1.0)
    assert budget == int(100 / 0.67)  # exact shares: the scarce source shrinks everything
    rates, budget = sampling.sampling_rates(available, shares, max_bytes=10**9, max_repeat=1.0, min_bytes=3000)
    assert budget == 3000
    assert rates["commoncrawl"] == 1.0  # gives all it has
    assert rates["c4"] == pytest.approx(0.33 * 3000 / 10_000)  # keeps its share of the budget
    # Large inputs: the floor changes nothing.
    big = {"commoncrawl": 10**8, "c4": 10**8}
    assert sampling.sampling_rates(big, shares, 10**7, 1.0, min_bytes=3000) == sampling.sampling_rates(big, shares, 10**7, 1.0)


def test_copies_seeded_and_unbiased():
    assert sampling.copies(2.0, 0, "x") == 2
    draws = [sampling.copies(0.3, 7, f"doc{i}") for i in range(5000)]
    assert draws == [sampling.copies(0.3, 7, f"doc{i}") for i in range(5000)]
    assert 0.27 < sum(draws) / 5000 < 0.33
    assert draws != [sampling.copies(0.3, 8, f"doc{i}") for i in range(5000)]


# --------------------------------------------------------------------------------------------
# A tiny tokenizer trained on real sample text
# --------------------------------------------------------------------------------------------
def _sample_documents() -> dict[str, list[Document]]:
    root = local_samples()
    if root is None or not (root / "c4" / "c4_sample.jsonl").exists():
        pytest.skip("no C4 sample: set $LLAMA_CORPUS_SAMPLES or provide ../shared/data")
    c4 = []
    with open(root / "c4" / "c4_sample.jsonl", encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if number >= 250:
                break
            c4.append(Document(make_id("c4", str(number)), json.loads(line)["text"], "c4"))
    books = []
    for path in sorted((root / "gutenberg").glob("*.txt"))[:1]:
        text = path.read_text(encoding="utf-8", errors="replace")[:300_000]
        books.append(Document(make_id("books", path.name), text, "books"))
    return {"c4": c4, "books": books}


def _rejected(source: str) -> list[Document]:
    """Dropped documents a pipeline keeps as samples: reading them as documents would change
    every count and the model."""
    return [Document(make_id(source, f"r{i}"), f"rejected text {i} " * 50, source) for i in range(40)]


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    """c4 in the pipelines' layout (documents/, rejected/, stats.json); books in the layout before
    documents/ existed (shards in the folder itself), to read both."""
    root = tmp_path_factory.mktemp("documents")
    docs = _sample_documents()
    (root / "c4" / "documents").mkdir(parents=True)
    (root / "c4" / "documents" / "documents-00000-of-00001.jsonl.gz").write_bytes(encode_jsonl_gz(docs["c4"]))
    (root / "c4" / "rejected").mkdir()
    (root / "c4" / "rejected" / "too_short.jsonl.gz").write_bytes(encode_jsonl_gz(_rejected("c4")))
    (root / "c4" / "stats.json").write_text("{}")
    (root / "books").mkdir()
    (root / "books" / "documents-00000-of-00001.parquet").write_bytes(encode_parquet(docs["books"]))
    (root / "books" / "stats.json").write_text("{}")  # not a document file: ignored
    return root


PARAMS = tt.TrainParams(vocab_size=VOCAB, seed=1, min_bytes=0)


@pytest.fixture(scope="module")
def model(corpus_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tok")
    tt.train([str(corpus_dir / "c4"), str(corpus_dir / "books")], str(out), PARAMS)
    return out / "tokenizer.model"


def _to_memory(local: Path, url: str) -> str:
    """A copy of a local folder under a memory:// URL (fsspec's in-process file system, standing in
    for gs:// or s3://)."""
    for f in local.rglob("*"):
        if f.is_file():
            paths.copy(str(f), f"{url}/{f.relative_to(local).as_posix()}")
    return url


def test_document_files_follow_both_layouts_and_skip_rejected(corpus_dir):
    found = docfiles.scan_inputs([str(corpus_dir / "c4"), str(corpus_dir / "books")])
    assert found.documents == [
        ("books", str(corpus_dir / "books" / "documents-00000-of-00001.parquet")),
        ("c4", str(corpus_dir / "c4" / "documents" / "documents-00000-of-00001.jsonl.gz")),
    ]
    assert found.ignored == [str(corpus_dir / "books" / "stats.json"), str(corpus_dir / "c4" / "stats.json")]
    # A glob or a file in documents/ is named after the output folder; rejected samples never count.
    assert docfiles.find_document_files([str(corpus_dir / "c4" / "**")]) == found.documents[1:]
    assert docfiles.find_document_files([found.documents[1][1]]) == found.documents[1:]
    with pytest.raises(SystemExit, match="rejected samples"):
        docfiles.find_document_files([str(corpus_dir / "c4" / "rejected" / "too_short.jsonl.gz")])
    with pytest.raises(SystemExit, match="input not found"):
        docfiles.find_document_files([str(corpus_dir / "nope")])
    assert [d.id for d in docfiles.iter_directory(str(corpus_dir / "c4"))] == [
        d.id for d in _sample_documents()["c4"]]


def test_document_files_found_and_read_on_a_remote_path(corpus_dir):
    url = _to_memory(corpus_dir, "memory://docfiles-test/out")
    remote = docfiles.scan_inputs([f"{url}/c4", f"{url}/books"])
    assert [(h, paths.basename(p)) for h, p in remote.documents] == [
        ("books", "documents-00000-of-00001.parquet"), ("c4", "documents-00000-of-00001.jsonl.gz")]
    assert len(remote.ignored) == 2
    assert docfiles.find_document_files([f"{url}/*/documents/*.jsonl.gz"]) == remote.documents[1:]
    local_docs = list(docfiles.iter_directory(str(corpus_dir / "books")))
    assert list(docfiles.iter_directory(f"{url}/books")) == local_docs
    data, errors = sampling.scan(remote.documents, 4192)
    assert (data["c4"].documents, data["books"].documents, errors) == (250, 1, {})


def test_train_from_and_into_a_remote_path_gives_the_same_model(corpus_dir, model, capfd):
    url = _to_memory(corpus_dir, "memory://tokenizer-test/out")
    capfd.readouterr()
    result = tt.train([f"{url}/c4", f"{url}/books"], "memory://tokenizer-test/tokenizer", PARAMS)
    assert paths.read_bytes(result.model) == model.read_bytes()
    assert json.loads(paths.read_text(result.card))["sha256"] == result.sha256
    # Progress: SentencePiece's own log (every 100 merges) reaches stderr.
    assert "bpe_model_trainer" in capfd.readouterr().err


def test_card_describes_the_model(model):
    card = json.loads((model.parent / tt.CARD_FILE).read_text())
    assert card["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert card["options"]["model_type"] == "bpe" and card["options"]["vocab_size"] == VOCAB
    assert card["options"]["split_digits"] and card["options"]["byte_fallback"]
    sources = card["training_data"]["sources"]
    assert set(sources) == {"c4", "books"}
    assert sources["c4"]["documents"] == 250 and sources["books"]["documents"] == 1  # no rejected ones
    assert card["training_data"]["exact_shares"]
    # Mixture shares (Table 1 renormalised: c4 15 vs books 4.5), not raw sizes.
    assert sources["c4"]["actual_share"] == pytest.approx(15 / 19.5, abs=0.03)
    assert sources["books"]["actual_share"] == pytest.approx(4.5 / 19.5, abs=0.03)


def test_llama_trainer_spec(model):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(model))
    assert sp.get_piece_size() == VOCAB
    assert (sp.unk_id(), sp.bos_id(), sp.eos_id(), sp.pad_id()) == (0, 1, 2, -1)
    assert [sp.id_to_piece(i) for i in range(3)] == ["<unk>", "<s>", "</s>"]
    assert sum(sp.is_byte(i) for i in range(VOCAB)) == 256
    assert all(len(sp.id_to_piece(i)) <= 16 for i in range(VOCAB))


def test_numbers_split_into_single_digits(model):
    enc = Encoder.load(str(model), eos=False)
    for text in ("1234567890", "in 2023 we paid $1,250.75", "x=31415926535", "v2.10.3"):
        for piece in enc.sp.encode(text, out_type=str):
            digits = [c for c in piece if c.isdigit()]
            assert len(digits) <= 1, (text, piece)
            if digits:
                assert piece.lstrip("\u2581") in "0123456789", (text, piece)


@pytest.mark.parametrize(
    "text",
    [
        "emoji 😀🎉👩‍👩‍👧 and flags 🇺🇦",
        "中文字符，日本語のテキスト、한국어",
        "control \x00\x01\x07\x1b[0m \x7f and tab\tnew\nline\r\n",
        "  leading and   inner   spaces  ",
        "\n\nstarts with newlines",
        "Ünïcödé ﬁ ligature and combining é",
        "",
    ],
)
def test_round_trip_exact_without_unk(model, text):
    enc = Encoder.load(str(model), eos=False)
    ids = enc.ids(text)
    assert enc.sp.unk_id() not in ids
    assert enc.sp.decode(ids) == text


def test_training_is_deterministic(corpus_dir, model, tmp_path):
    inputs = [str(corpus_dir / "books"), str(corpus_dir / "c4")]  # order given differently
    tt.train(inputs, str(tmp_path / "again"), PARAMS)
    assert (tmp_path / "again" / "tokenizer.model").read_bytes() == model.read_bytes()
    tt.train(inputs, str(tmp_path / "threads"), dataclasses.replace(PARAMS, num_threads=2))
    import sentencepiece as spm

    a = spm.SentencePieceProcessor(model_file=str(model))
    b = spm.SentencePieceProcessor(model_file=str(tmp_path / "threads" / "tokenizer.model"))
    assert [a.id_to_piece(i) for i in range(VOCAB)] == [b.id_to_piece(i) for i in range(VOCAB)]


def test_text_file_mode_gives_the_same_model(corpus_dir, model, tmp_path):
    tt.train([str(corpus_dir / "c4"), str(corpus_dir / "books")], str(tmp_path / "kept"), PARAMS, keep_text=True)
    text = tmp_path / "kept" / "train.txt"
    assert (tmp_path / "kept" / "tokenizer.model").read_bytes() == model.read_bytes()
    result = tt.train_text([str(text)], str(tmp_path / "from_text"), PARAMS)
    assert Path(result.model).read_bytes() == model.read_bytes()
    card = json.loads(Path(result.card).read_text())
    assert card["training_data"]["text_bytes"] == text.stat().st_size
    # Stripping the run's paths from a model SentencePiece trained from files gives the same bytes.
    import sentencepiece as spm

    options = json.loads(Path(result.card).read_text())["options"]
    spm.set_random_generator_seed(1)
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(tmp_path / "raw"), minloglevel=1, **options)
    raw = (tmp_path / "raw.model").read_bytes()
    assert raw != model.read_bytes()  # carries the paths
    assert canonical_model(raw) == model.read_bytes()


def test_too_little_text_fails_clearly(tmp_path):
    (tmp_path / "c4").mkdir()
    doc = Document("c4/x", "just a few words 42", "c4")
    (tmp_path / "c4" / "documents-00000-of-00001.jsonl.gz").write_bytes(encode_jsonl_gz([doc]))
    with pytest.raises(SystemExit, match="smaller --vocab_size"):
        tt.train([str(tmp_path / "c4")], str(tmp_path / "out"), tt.TrainParams(vocab_size=5000))


def test_lone_surrogates_do_not_break_training_or_encoding(model, tmp_path):
    from corpus.docfiles import iter_file

    text = json.loads('"pair \\ud83d\\ude00 lone \\ud800 end"')
    (tmp_path / "c4").mkdir()
    path = tmp_path / "c4" / "documents-00000-of-00001.jsonl"
    path.write_text(json.dumps({"id": "c4/s", "text": text, "source": "c4"}) + "\n")
    [doc] = list(iter_file(str(path)))
    assert doc.text == "pair 😀 lone \ufffd end"
    enc = Encoder.load(str(model), eos=False)
    assert enc.decode(enc.ids(text)) == doc.text


def test_line_split_encoding_equals_whole_string(model, corpus_dir):
    enc = Encoder.load(str(model), eos=False)
    assert enc.exact_split
    docs = _sample_documents()
    for doc in docs["c4"][:100] + docs["books"]:
        assert enc.ids(doc.text) == enc.sp.encode(doc.text)


def test_line_split_encoding_exhaustive_small_strings(model):
    import itertools

    enc = Encoder.load(str(model), eos=False)
    alphabet = ["\n", "a", " ", "1", "😀"]
    for n in range(1, 6):
        for chars in itertools.product(alphabet, repeat=n):
            text = "".join(chars)
            assert enc.ids(text) == enc.sp.encode(text), repr(text)


# --------------------------------------------------------------------------------------------
# Encoding to shards
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def token_runs(corpus_dir, model, tmp_path_factory):
    from tokenizer.encode import main

    outs = []
    for name in ("run1", "run2"):
        out = tmp_path_factory.mktemp(name)
        main(["--input", str(corpus_dir / "c4"), str(corpus_dir / "books"), "--tokenizer", str(model),
             "--output", str(out), "--max_tokens_per_shard", "20000"])  # BOS and EOS by default
        outs.append(out)
    return outs


def test_encode_writes_per_source_series(token_runs, corpus_dir, model):
    out = token_runs[0]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["balanced"] and stats["documents_in"] == stats["documents_written"] == 251  # no rejected ones
    assert stats["info"]["files_read"] == 2 and stats["info"]["files_ignored"] == 2  # the two stats.json
    assert stats["info"]["tokens"] == stats["info"]["tokens_c4"] + stats["info"]["tokens_books"]
    enc = Encoder.load(str(model), bos=True)
    docs = _sample_documents()
    for source in ("c4", "books"):
        manifest = verify_series(out / source)
        assert manifest.source == source and manifest.dtype == "uint16" and manifest.vocab_size == VOCAB
        assert (manifest.extra["bos"], manifest.extra["eos"]) == (True, True)  # the HF files' convention
        assert manifest.tokenizer_sha256 == hashlib.sha256(model.read_bytes()).hexdigest()
        expected = sorted(docs[source], key=lambda d: d.id)
        assert manifest.documents == len(expected)
        back = [d for p in manifest.prefixes(out / source) for d in IndexedDataset(p)]
        if source == "c4":
            assert len(manifest.shards) > 1  # rolled over at 20,000 tokens
            assert len(back) == len(expected)
            for arr, doc in zip(back, expected):
                np.testing.assert_array_equal(arr, enc.encode(doc.text))
                assert arr[0] == 1 and arr[-1] == 2
        else:  # one 300 kB book is longer than a shard: cut into shard-sized pieces
            joined = np.concatenate(back)
            np.testing.assert_array_equal(joined, enc.encode(expected[0].text))


def test_two_encode_runs_byte_identical(token_runs):
    a, b = token_runs

    def files(root: Path) -> dict[str, bytes]:
        return {
            str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "stats.json"
        }

    fa, fb = files(a), files(b)
    assert fa.keys() == fb.keys() and any(k.endswith(".bin") for k in fa)
    assert fa == fb


def test_encode_from_and_into_a_remote_path(token_runs, corpus_dir, model):
    """Documents and model on memory:// (in-process: the local runner shares it), shards written
    through a local folder and copied up: the same bytes as a local run."""
    from tokenizer.encode import main

    url = _to_memory(corpus_dir, "memory://encode-test/in")
    paths.copy(str(model), "memory://encode-test/tokenizer.model")
    ledger = main(["--input", f"{url}/c4", f"{url}/books", "--tokenizer", "memory://encode-test/tokenizer.model",
                   "--output", "memory://encode-test/tokens", "--max_tokens_per_shard", "20000", "--bos"])
    assert ledger.documents_written == 251
    local = token_runs[0]
    for source in ("c4", "books"):
        for f in sorted((local / source).iterdir()):
            remote = paths.read_bytes(f"memory://encode-test/tokens/{source}/{f.name}")
            if f.name == "manifest.json":  # names the tokenizer it used
                remote = remote.replace(b"memory://encode-test/tokenizer.model", str(model).encode())
            assert remote == f.read_bytes(), f.name


@pytest.mark.filterwarnings("ignore:Transformer Engine and Apex")
def test_megatron_core_reads_encoded_shards(token_runs, model):
    pytest.importorskip("torch")
    try:
        from megatron.core.datasets.indexed_dataset import IndexedDataset as MegatronIndexedDataset
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"megatron-core not importable here: {type(exc).__name__}: {exc}")
    out = token_runs[0]
    manifest = read_manifest(out / "c4")
    total = 0
    for prefix in manifest.prefixes(out / "c4"):
        theirs = MegatronIndexedDataset(prefix, multimodal=False, mmap=True)
        ours = IndexedDataset(prefix)
        assert len(theirs) == len(ours)
        for i in range(len(ours)):
            np.testing.assert_array_equal(theirs[i], ours[i])
        total += int(theirs.sequence_lengths.sum())
    assert total == manifest.tokens
