"""Megatron indexed-dataset shards: layout, read-back, rollover, dtype choice, manifest."""
from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest

from corpus.shards import (
    MAGIC,
    IndexedDataset,
    Manifest,
    ShardWriter,
    encode_index,
    open_series,
    optimal_dtype,
    read_manifest,
    sha256_file,
    verify_series,
    write_documents,
    write_manifest,
)


def _docs(n: int, seed: int = 0, vocab: int = 32000, max_len: int = 50) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, vocab, size=int(rng.integers(1, max_len))) for _ in range(n)]


def test_dtype_choice_follows_megatron():
    assert optimal_dtype(32000) == np.uint16
    assert optimal_dtype(65499) == np.uint16
    assert optimal_dtype(65500) == np.int32
    assert optimal_dtype(128256) == np.int32
    with pytest.raises(ValueError):
        optimal_dtype(0)


def test_idx_layout_byte_for_byte(tmp_path):
    with ShardWriter(tmp_path, "x", vocab_size=1000) as writer:
        writer.add([1, 2, 3])
        writer.add(np.array([4, 5], dtype=np.int64))
    idx = (tmp_path / "x_00000.idx").read_bytes()
    expected = (
        MAGIC
        + struct.pack("<Q", 1)
        + struct.pack("<B", 8)  # uint16
        + struct.pack("<QQ", 2, 3)
        + np.array([3, 2], "<i4").tobytes()
        + np.array([0, 6], "<i8").tobytes()
        + np.array([0, 1, 2], "<i8").tobytes()
    )
    assert idx == expected
    assert (tmp_path / "x_00000.bin").read_bytes() == np.array([1, 2, 3, 4, 5], "<u2").tobytes()


def test_read_back(tmp_path):
    docs = _docs(200)
    shards = write_documents(tmp_path, "c4", docs, vocab_size=32000)
    assert len(shards) == 1
    ds = IndexedDataset(tmp_path / "c4_00000")
    assert len(ds) == 200
    assert ds.dtype == np.uint16
    assert ds.total_tokens == sum(len(d) for d in docs)
    assert ds.document_lengths.tolist() == [len(d) for d in docs]
    for i in (0, 17, 199, -1):
        np.testing.assert_array_equal(ds[i], docs[i])
    np.testing.assert_array_equal(ds.get(5, 1, 2), docs[5][1:3])
    assert ds.document_indices.tolist() == list(range(201))
    with pytest.raises(IndexError):
        ds[200]


def test_int32_for_large_vocab(tmp_path):
    docs = [np.array([0, 70000, 128255]), np.array([5])]
    write_documents(tmp_path, "big", docs, vocab_size=128256)
    ds = IndexedDataset(tmp_path / "big_00000")
    assert ds.dtype == np.int32
    np.testing.assert_array_equal(ds[0], docs[0])
    assert (tmp_path / "big_00000.idx").read_bytes()[17] == 4


def test_rollover_never_splits_documents(tmp_path):
    docs = _docs(300, seed=1)
    limit = 500
    shards = write_documents(tmp_path, "s", docs, vocab_size=32000, max_tokens_per_shard=limit)
    assert len(shards) > 5
    assert all(s.tokens <= limit for s in shards)
    assert sum(s.documents for s in shards) == 300
    back = [d for ds in (IndexedDataset(tmp_path / s.prefix) for s in shards) for d in ds]
    assert len(back) == 300
    for a, b in zip(back, docs):
        np.testing.assert_array_equal(a, b)
    # Each shard was closed only because the next document did not fit.
    for shard, nxt in zip(shards, shards[1:]):
        first_next = IndexedDataset(tmp_path / nxt.prefix).document_lengths[0]
        assert shard.tokens + first_next > limit


def test_oversized_document_is_cut_into_shard_sized_pieces(tmp_path):
    big = np.arange(25) % 100
    with ShardWriter(tmp_path, "o", vocab_size=100, max_tokens_per_shard=10) as writer:
        writer.add([1, 2, 3])
        writer.add(big)
        writer.add([4])
    shards = writer.shards
    assert [s.tokens for s in shards] == [3, 10, 10, 6]
    assert [s.continues_document for s in shards] == [False, False, True, True]
    assert writer.documents == 3 and writer.tokens == 29
    joined = np.concatenate([IndexedDataset(tmp_path / s.prefix).tokens for s in shards])
    np.testing.assert_array_equal(joined, np.concatenate([[1, 2, 3], big, [4]]))


def test_out_of_range_ids_rejected(tmp_path):
    with ShardWriter(tmp_path, "r", vocab_size=10) as writer:
        with pytest.raises(ValueError):
            writer.add([3, 10])
        with pytest.raises(ValueError):
            writer.add([-1])
        with pytest.raises(ValueError):
            writer.add([1.5])


def test_atomic_no_tmp_left_and_abort(tmp_path):
    write_documents(tmp_path / "ok", "a", _docs(10), vocab_size=32000)
    assert not list((tmp_path / "ok").glob("*.tmp"))
    with pytest.raises(RuntimeError):
        with ShardWriter(tmp_path / "bad", "a", vocab_size=32000) as writer:
            writer.add([1, 2])
            raise RuntimeError("boom")
    assert not list((tmp_path / "bad").iterdir())


def test_manifest_and_digest_on_a_remote_path(tmp_path):
    """Manifests and digests go through corpus.paths: memory:// stands in for gs:// or s3://."""
    from corpus import paths

    shards = write_documents(tmp_path, "c4", _docs(5), vocab_size=32000)
    manifest = Manifest.build("c4", shards, vocab_size=32000, tokenizer_sha256="cd" * 32)
    url = "memory://shards-test/tokens/c4"
    assert write_manifest(url, manifest) == url + "/manifest.json"
    assert read_manifest(url) == read_manifest(url + "/manifest.json") == manifest
    paths.copy(str(tmp_path / shards[0].bin_name), f"{url}/{shards[0].bin_name}")
    assert sha256_file(f"{url}/{shards[0].bin_name}") == shards[0].sha256
    assert manifest.prefixes(url) == [f"{url}/{shards[0].prefix}"]


def test_manifest_round_trip_and_verify(tmp_path):
    docs = _docs(100, seed=2)
    shards = write_documents(tmp_path, "wikipedia", docs, vocab_size=32000, max_tokens_per_shard=800)
    manifest = Manifest.build("wikipedia", shards, vocab_size=32000, tokenizer_sha256="ab" * 32)
    write_manifest(tmp_path, manifest)
    back = read_manifest(tmp_path)
    assert back == manifest
    assert back.documents == 100
    assert back.tokens == sum(len(d) for d in docs)
    assert back.bytes == back.tokens * 2
    assert back.dtype == "uint16"
    for shard in back.shards:
        assert shard["sha256"] == hashlib.sha256((tmp_path / (shard["prefix"] + ".bin")).read_bytes()).hexdigest()
    verify_series(tmp_path)
    assert sum(len(ds) for ds in open_series(tmp_path)) == 100
    (tmp_path / (back.shards[0]["prefix"] + ".bin")).write_bytes(b"\x00\x00" * back.shards[0]["tokens"])
    with pytest.raises(ValueError):
        verify_series(tmp_path)


def test_truncated_bin_is_detected(tmp_path):
    write_documents(tmp_path, "t", _docs(5), vocab_size=32000)
    path = tmp_path / "t_00000.bin"
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(ValueError):
        IndexedDataset(tmp_path / "t_00000")


def test_encode_index_empty():
    data = encode_index(np.uint16, [])
    assert data[:9] == MAGIC and struct.unpack("<QQ", data[18:34]) == (0, 1)


@pytest.mark.filterwarnings("ignore:Transformer Engine and Apex")
def test_megatron_core_reads_our_shards(tmp_path):
    """megatron-core's own IndexedDataset reads what we wrote (skips when not installable)."""
    pytest.importorskip("torch")
    try:
        from megatron.core.datasets.indexed_dataset import IndexedDataset as MegatronIndexedDataset
    except Exception as exc:  # noqa: BLE001 - any import failure means: not usable here
        pytest.skip(f"megatron-core not importable on this machine: {type(exc).__name__}: {exc}")
    docs = _docs(50, seed=3)
    write_documents(tmp_path, "m", docs, vocab_size=32000)
    ds = MegatronIndexedDataset(str(tmp_path / "m_00000"), multimodal=False, mmap=True)
    assert len(ds) == 50
    for i in (0, 10, 49):
        np.testing.assert_array_equal(ds[i], docs[i])
    assert ds.sequence_lengths.tolist() == [len(d) for d in docs]
    assert ds.document_indices.tolist() == list(range(51))
