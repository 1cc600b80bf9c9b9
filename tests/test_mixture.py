"""Mixture plan math, Table 1 reproduction, the sharded sampler's determinism, resume and refusals."""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pytest

from corpus import paths
from corpus import shards as shardlib
from corpus.permute import Permutation, key_of
from mixture import plan as planlib
from mixture import sample as sampler
from mixture.plan import TABLE1, Available, PlanError, make_plan, parse_tokens
from tests.s3_server import s3_bucket, s3_server  # noqa: F401 - pytest fixtures
from trainer.data import TokenStream

VOCAB = 1000
SIZES = {"commoncrawl": 240, "c4": 80, "github": 40, "wikipedia": 8, "books": 6, "arxiv": 20, "stackexchange": 16}


def make_series(root: Path, source: str, documents: int, seed: int, shard_tokens: int = 3000) -> shardlib.Manifest:
    """A source series whose every document starts with a marker (source index, document index)."""
    rng = np.random.default_rng(seed)
    src = list(SIZES).index(source) if source in SIZES else 9
    docs = []
    for i in range(documents):
        body = rng.integers(20, VOCAB, size=int(rng.integers(3, 120)))
        docs.append(np.concatenate([[src, i // 20, i % 20], body]))
    shards = shardlib.write_documents(root / source, source, docs, vocab_size=VOCAB, max_tokens_per_shard=shard_tokens)
    manifest = shardlib.Manifest.build(source, shards, VOCAB, "f" * 64)
    shardlib.write_manifest(root / source, manifest)
    return manifest


@pytest.fixture(scope="module")
def tokens(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tokens")
    for seed, (source, n) in enumerate(SIZES.items()):
        make_series(root, source, n, seed)
    return root


def digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir()) if p.is_file()}


def run(tokens: Path, out: Path, *extra: str) -> int:
    return sampler.main(["--tokens", "20K", "--input", str(tokens), "--output", str(out), "--shard_tokens", "4K",
                         "--workers", "1", *extra])


# ---- plan math ------------------------------------------------------------------------------
@pytest.mark.parametrize("text,value", [("1.4T", 1_400_000_000_000), ("250M", 250_000_000), ("10k", 10_000),
                                        ("2B", 2_000_000_000), ("2G", 2_000_000_000), ("12345", 12345),
                                        ("1e6", 1_000_000), ("0.5K", 500)])
def test_parse_tokens(text, value):
    assert parse_tokens(text) == value


@pytest.mark.parametrize("bad", ["", "T", "1.4X", "-5", "0", "1.2.3M"])
def test_parse_tokens_rejects(bad):
    with pytest.raises(ValueError):
        parse_tokens(bad)


def test_table1_epochs_reproduced():
    """available = share x 1.4T / epochs -> the plan's epochs are Table 1's to 0.01."""
    available = {n: Available(round(share * planlib.PAPER_TOKENS / epochs)) for n, (share, epochs, _) in TABLE1.items()}
    plan = make_plan(planlib.DEFAULT_SHARES, parse_tokens("1.4T"), available)
    assert [s.source for s in plan.sources] == list(TABLE1)
    for s in plan.sources:
        assert s.epochs == pytest.approx(TABLE1[s.source][1], abs=0.005), s.source
        assert round(s.epochs, 2) == TABLE1[s.source][1]
        assert s.target_tokens == round(TABLE1[s.source][0] * planlib.PAPER_TOKENS)
    assert sum(s.target_tokens for s in plan.sources) == planlib.PAPER_TOKENS


def test_table1_cli_dry_run(capsys):
    available = ",".join(f"{n}={share * 1.4e12 / epochs / 1e9:.3f}B" for n, (share, epochs, _) in TABLE1.items())
    assert sampler.main(["--tokens", "1.4T", "--dry_run", "--available", available]) == 0
    table = capsys.readouterr().out
    for name, (_, epochs, _) in TABLE1.items():
        line = next(l for l in table.splitlines() if l.startswith(name))
        assert f"{epochs:.2f}" in line.split()


def test_plan_documents_passes_and_shards():
    available = {"a": Available(1000, 10), "b": Available(4000, 40)}
    plan = make_plan({"a": 3, "b": 1}, 2000, available, shard_tokens=500)
    a, b = plan.sources
    assert a.share == 0.75 and a.target_tokens == 1500 and a.epochs == 1.5
    assert a.documents == 15 and a.full_passes == 1 and a.remainder == 5
    assert b.epochs == 0.125 and b.documents == 5 and b.full_passes == 0
    assert plan.num_shards == 4
    # Draw ranges tile [0, D) exactly, shard by shard.
    for i, s in enumerate(plan.sources):
        ranges = [plan.draw_range(i, k) for k in range(plan.num_shards)]
        assert ranges[0][0] == 0 and ranges[-1][1] == s.documents
        assert all(r[1] == n[0] for r, n in zip(ranges, ranges[1:]))


def test_missing_source_refused_or_renormalised():
    available = {"a": Available(100, 10)}
    with pytest.raises(PlanError, match="no input for b"):
        make_plan({"a": 1, "b": 1}, 100, available)
    plan = make_plan({"a": 1, "b": 1}, 100, available, renormalise=True)
    assert [s.source for s in plan.sources] == ["a"] and plan.sources[0].share == 1.0
    assert plan.dropped_sources == ["b"]


def upload(local: Path, url: str) -> None:
    for f in sorted(local.rglob("*")):
        if f.is_file():
            paths.copy(str(f), f"{url}/{f.relative_to(local).as_posix()}")


def test_remote_input_and_output_on_s3(tokens, tmp_path, s3_bucket, capsys):
    """`--input s3://...` is staged and verified, `--output s3://...` gets each shard uploaded with
    its sidecar last and the manifest at the end: the same bytes as a local run; a rerun skips
    every shard; the trainer's stream reads the remote mixture; a bucket without series says so."""
    assert run(tokens, tmp_path / "local") == 0
    upload(tokens, f"{s3_bucket}/tokens")
    out = f"{s3_bucket}/mixture"
    assert sampler.main(["--tokens", "20K", "--input", f"{s3_bucket}/tokens", "--output", out, "--shard_tokens", "4K",
                         "--workers", "2", "--stage_dir", str(tmp_path)]) == 0
    remote = {paths.basename(p): hashlib.sha256(paths.read_bytes(p)).hexdigest() for p in paths.list_files(out)}
    local = digests(tmp_path / "local")
    assert remote.pop("manifest.json") != local.pop("manifest.json") and remote == local
    # The manifests differ only in where the inputs were read from.
    manifests = [json.loads(paths.read_text(paths.join(d, "manifest.json"))) for d in (out, str(tmp_path / "local"))]
    for m in manifests:
        for name, entry in m["extra"]["inputs"].items():
            assert paths.basename(entry.pop("directory")) == name
    assert manifests[0] == manifests[1]
    assert list(tmp_path.glob("mixture-stage-*")) == []  # the staging folder is removed
    capsys.readouterr()
    assert run(tokens, tmp_path / "unused") == 0 and sampler.main(
        ["--tokens", "20K", "--input", str(tokens), "--output", out, "--shard_tokens", "4K", "--workers", "1"]) == 0
    assert "(%d already done)" % len(shardlib.read_manifest(out).shards) in capsys.readouterr().err
    stream = TokenStream(out)
    assert stream.total_tokens == shardlib.read_manifest(out).tokens == TokenStream(tmp_path / "local").total_tokens
    assert sampler.main(["--tokens", "1K", "--input", f"{s3_bucket}/nothing"]) == 2
    assert f"no token shards under {s3_bucket}/nothing" in capsys.readouterr().err


def test_mixture_file_and_share_flags(tmp_path):
    path = tmp_path / "mix.yaml"
    path.write_text("sources:\n  a: 60%\n  b: {share: 0.4}\n")
    assert planlib.load_mixture_file(path) == {"a": 0.6, "b": 0.4}
    (tmp_path / "mix.json").write_text(json.dumps({"a": 1, "b": 3}))
    assert planlib.load_mixture_file(tmp_path / "mix.json") == {"a": 1.0, "b": 3.0}
    assert planlib.parse_assignments(["a=0.5,b=4.5%", "c=1"]) == {"a": 0.5, "b": 0.045, "c": 1.0}


def test_permutation_is_a_bijection_and_lazy():
    for n in (1, 2, 3, 7, 64, 1000, 4097):
        assert sorted(Permutation(n, [5, n]).range(0, n).tolist()) == list(range(n))
    big = Permutation(10**12, [1])
    part = big.range(10**12 - 1000, 10**12)
    assert len(set(part.tolist())) == 1000 and part.max() < 10**12
    assert Permutation(100, [1]).range(0, 100).tolist() != Permutation(100, [2]).range(0, 100).tolist()
    p = Permutation(4097, [3])
    assert np.array_equal(p.inverse(p.range(0, 4097)), np.arange(4097))


def test_1_4T_plans_instantly_and_refuses_small_disk(tokens, tmp_path, capsys):
    start = time.perf_counter()
    assert sampler.main(["--tokens", "1.4T", "--input", str(tokens), "--dry_run"]) == 0
    assert time.perf_counter() - start < 10  # a per-document plan of 1.4T tokens would take minutes
    assert sampler.main(["--tokens", "1.4T", "--input", str(tokens), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "not enough disk" in err and "TB" in err
    assert not list((tmp_path / "o").glob("*.bin"))


def test_refuses_when_disk_too_small(tokens, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sampler, "disk_free", lambda path: 10_000)
    assert run(tokens, tmp_path / "o") == 2
    err = capsys.readouterr().err
    assert "not enough disk" in err and "10.0 KB free" in err
    monkeypatch.setattr(sampler, "disk_free", lambda path: 10**12)
    assert run(tokens, tmp_path / "o") == 0


def test_refuses_missing_source_and_mixed_tokenizers(tokens, tmp_path, capsys):
    partial = tmp_path / "partial"
    make_series(partial, "c4", 10, 1)
    assert run(partial, tmp_path / "o") == 2
    assert "no input for commoncrawl" in capsys.readouterr().err
    assert run(partial, tmp_path / "o", "--renormalise") == 0
    manifest = shardlib.read_manifest(tmp_path / "o")
    assert list(manifest.extra["tokens_by_source"]) == ["c4"]
    other = shardlib.read_manifest(partial / "c4")
    other.tokenizer_sha256 = "0" * 64
    shardlib.write_manifest(partial / "c4", other)
    make_series(partial, "books", 5, 2)
    assert run(partial, tmp_path / "o2", "--renormalise") == 2
    assert "tokenized differently" in capsys.readouterr().err


def test_refuses_a_series_whose_job_did_not_finish(tmp_path, capsys):
    """A tokens output still marked _INCOMPLETE (running, killed, or an unbalanced ledger)."""
    root = tmp_path / "tokens"
    make_series(root, "c4", 10, 1)
    (root / "c4" / "_INCOMPLETE").write_text("{}")
    assert run(root, tmp_path / "o", "--renormalise") == 2
    assert "c4 is not a complete run (_INCOMPLETE is there" in capsys.readouterr().err


def brute_force_draws(seed, source, n, block, start, stop):
    """The draw sequence materialised: pass after pass of permuted blocks."""
    out, q = [], 0
    while len(out) < stop:
        blocks = -(-n // block)
        perm = Permutation(blocks, key_of(seed, source, q))
        for j in range(blocks):
            out.extend(range(perm[j] * block, min((perm[j] + 1) * block, n)))
        q += 1
    return out[start:stop]


@pytest.mark.parametrize("n,block", [(1, 4), (7, 3), (12, 4), (100, 7), (5, 512), (33, 1)])
def test_draw_ranges_match_the_materialised_sequence(n, block):
    for start, stop in ((0, n), (0, 3 * n + 2), (2, max(3, n - 1)), (n - 1, 2 * n + 1), (3, 4)):
        begins, ends, passes = sampler.draw_ranges(7, "src", n, block, start, stop)
        got = [d for b, e in zip(begins.tolist(), ends.tolist()) for d in range(b, e)]
        assert got == brute_force_draws(7, "src", n, block, start, stop)
        assert passes.min() == start // n and passes.max() == (stop - 1) // n


def test_draw_ranges_are_lazy_at_scale():
    start = time.perf_counter()
    begins, ends, _ = sampler.draw_ranges(0, "commoncrawl", 10**9, 512, 2 * 10**9 + 5, 2 * 10**9 + 200_005)
    assert int((ends - begins).sum()) == 200_000 and time.perf_counter() - start < 5  # materialising 1e9 draws would not


# ---- writing --------------------------------------------------------------------------------
@pytest.mark.parametrize("block", ["3", "512"])
def test_output_manifest_and_content(tokens, tmp_path, block):
    out = tmp_path / "mix"
    assert run(tokens, out, "--block_docs", block) == 0
    manifest = shardlib.verify_series(out)
    plan = planlib.Plan.from_dict(manifest.extra["plan"])
    assert manifest.source == "mixture" and manifest.extra["seed"] == 0
    assert len(manifest.shards) == plan.num_shards > 1
    assert manifest.documents == sum(s.documents for s in plan.sources)
    # Each output shard holds whole documents, drawn as the plan says, from every source.
    inputs = {n: shardlib.open_series(tokens / n) for n in SIZES}
    seen = {n: [] for n in SIZES}
    for shard in manifest.shards:
        ds = shardlib.IndexedDataset(out / shard["prefix"])
        assert len(ds) == shard["documents"]
        for doc in ds:
            source = list(SIZES)[doc[0]]
            index = doc[1] * 20 + doc[2]
            seen[source].append(int(index))
            # The document is byte-identical to its source document.
            flat = [d for series in inputs[source] for d in series]
            assert np.array_equal(flat[index], doc)
        detail = json.loads((out / shard["detail"]).read_text())
        for name, info in shard["sources"].items():
            assert info["documents"] == info["draws"][1] - info["draws"][0]
            assert sum(info["source_shards"].values()) == info["documents"]
            ranges = detail["sources"][name]["ranges"]
            assert sum(end - begin for _, begin, end in ranges) == info["documents"]
    for s in plan.sources:
        counts = np.bincount(seen[s.source], minlength=SIZES[s.source])
        assert counts.sum() == s.documents
        # Full passes plus a subset: every document appears floor(epochs) or ceil(epochs) times.
        assert counts.min() >= s.full_passes and counts.max() <= s.full_passes + (1 if s.remainder else 0)
        assert (counts == s.full_passes + 1).sum() == s.remainder
    # Sources are interleaved, not in blocks.
    first = shardlib.IndexedDataset(out / manifest.shards[0]["prefix"])
    order = [int(d[0]) for d in first]
    assert order != sorted(order)


def test_byte_identical_and_seeded(tokens, tmp_path):
    assert run(tokens, tmp_path / "a") == 0
    assert run(tokens, tmp_path / "b", "--workers", "2") == 0
    assert digests(tmp_path / "a") == digests(tmp_path / "b")
    assert run(tokens, tmp_path / "c", "--seed", "1") == 0
    assert digests(tmp_path / "a")["mixture_00000.bin"] != digests(tmp_path / "c")["mixture_00000.bin"]


def test_resume_after_interruption(tokens, tmp_path, monkeypatch):
    ref = tmp_path / "ref"
    assert run(tokens, ref) == 0
    out = tmp_path / "out"
    real_write = sampler.ShardJob.write
    calls = []

    def crash_on_third(self, k):
        calls.append(k)
        if len(calls) == 3:
            # Die mid-shard: a partial .tmp file is left behind.
            Path(str(self.prefix(k)) + ".bin.tmp").write_bytes(b"partial")
            raise KeyboardInterrupt
        return real_write(self, k)

    monkeypatch.setattr(sampler.ShardJob, "write", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        run(tokens, out)
    monkeypatch.setattr(sampler.ShardJob, "write", real_write)
    assert not (out / "manifest.json").exists()
    # Corrupt a finished shard: the checksum catches it and it is rewritten.
    (out / "mixture_00001.bin").write_bytes(b"\0\0" + (out / "mixture_00001.bin").read_bytes()[2:])
    status = {}

    def record(self, k):
        info = real_write(self, k)
        status[k] = info["skipped"]
        return info

    monkeypatch.setattr(sampler.ShardJob, "write", record)
    assert run(tokens, out) == 0
    assert status[0] is True  # finished and intact: skipped
    assert status[1] is False  # checksum mismatch: rewritten
    assert status[2] is False  # interrupted: written
    assert not list(out.glob("*.tmp"))
    assert digests(out) == digests(ref)
