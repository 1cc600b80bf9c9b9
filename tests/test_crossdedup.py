"""Cross-source near-dedup: priority between sources, per-source outputs and ledgers."""
from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

from corpus import minhash
from corpus.docfiles import encode_jsonl_gz, find_document_files, iter_directory
from corpus.document import Document, make_id
from pipelines import crossdedup


def _page(rng: random.Random, words: int = 400) -> str:
    return " ".join(rng.choices([f"w{i}" for i in range(4000)], k=words))


def _near_copy(text: str, rng: random.Random, edits: int = 4) -> str:
    words = text.split(" ")
    for i in rng.sample(range(len(words)), edits):
        words[i] = "edited"
    return " ".join(words)


def _write_source(root: Path, source: str, texts: list[str]) -> list[Document]:
    docs = [Document(make_id(source, str(i)), text, source, "2026-01-01", {"n": i}) for i, text in enumerate(texts)]
    (root / source / "documents").mkdir(parents=True)
    (root / source / "documents" / "documents-00000-of-00001.jsonl.gz").write_bytes(encode_jsonl_gz(docs))
    (root / source / "stats.json").write_text("{}")  # beside the documents, as a pipeline writes it
    return docs


def _inputs(root: Path) -> dict[str, list[Document]]:
    rng = random.Random(7)
    shared, mirrored, repeated = _page(rng), _page(rng), _page(rng)
    return {
        # c4's copy of a CommonCrawl page, and a Wikipedia article that C4 also has
        "c4": _write_source(root, "c4", [_near_copy(shared, rng), _page(rng), _near_copy(mirrored, rng)]),
        # the CommonCrawl original of the shared page, a page of its own twice (near copies)
        "commoncrawl": _write_source(root, "commoncrawl", [shared, repeated, _near_copy(repeated, rng), _page(rng)]),
        "wikipedia": _write_source(root, "wikipedia", [mirrored, _page(rng)]),
    }


def _rejected(out: Path, source: str, reason: str) -> list[str]:
    raw = gzip.decompress((out / source / "rejected" / f"{reason}.jsonl.gz").read_bytes()).decode()
    return [Document.from_json(line).id for line in raw.splitlines()]


def test_priority_order_and_reasons():
    rank = crossdedup.Priority(["wikipedia", "c4", "commoncrawl"])
    ids = ["commoncrawl/0a", "c4/ff", "wikipedia/zz", "github/00"]
    assert sorted(ids, key=minhash.order_key(rank)) == ["wikipedia/zz", "c4/ff", "commoncrawl/0a", "github/00"]
    assert crossdedup.reason_of("c4/ff") == "near_duplicate_of_c4"


def test_cross_source_removal_keeps_the_priority_copy(tmp_path):
    docs = _inputs(tmp_path / "in")
    c4, cc, wiki = docs["c4"], docs["commoncrawl"], docs["wikipedia"]
    assert minhash.jaccard(minhash.shingles(c4[0].text), minhash.shingles(cc[0].text)) >= 0.9
    out = tmp_path / "dedup"
    ledgers = crossdedup.main(["--input", *(str(tmp_path / "in" / s) for s in ("commoncrawl", "c4", "wikipedia")),
                               "--output", str(out), "--num_shards", "1"])

    assert list(ledgers) == ["wikipedia", "c4", "commoncrawl"]  # priority order, not input order
    assert all(ledger.balanced for ledger in ledgers.values())
    # c4 comes before commoncrawl: the CommonCrawl copy of the shared page goes, the C4 one stays.
    assert ledgers["commoncrawl"].dropped == {"near_duplicate_of_c4": 1, "near_duplicate_of_commoncrawl": 1}
    assert ledgers["c4"].dropped == {"near_duplicate_of_wikipedia": 1}
    assert ledgers["wikipedia"].dropped == {}
    assert [ledger.documents_in for ledger in ledgers.values()] == [2, 3, 4]
    assert ledgers["wikipedia"].info["near_dedup_verified_pairs"] == 3  # job-wide, in the first ledger
    assert _rejected(out, "commoncrawl", "near_duplicate_of_c4") == [cc[0].id]
    assert _rejected(out, "commoncrawl", "near_duplicate_of_commoncrawl") == [max(cc[1].id, cc[2].id)]
    assert _rejected(out, "c4", "near_duplicate_of_wikipedia") == [c4[2].id]

    kept = {s: {d.id for d in iter_directory(str(out / s / "documents"))} for s in ledgers}
    assert kept["c4"] == {c4[0].id, c4[1].id} and kept["wikipedia"] == {d.id for d in wiki}
    assert kept["commoncrawl"] == {cc[3].id, min(cc[1].id, cc[2].id)}
    # The same layout as a source's output: the tokenizer and the mixture find it per source.
    found = find_document_files([str(out / s) for s in ledgers])
    assert sorted(hint for hint, _ in found) == ["c4", "commoncrawl", "wikipedia"]
    assert json.loads((out / "c4" / "stats.json").read_text())["source"] == "c4"
    # Documents pass through unchanged (added, metadata).
    (kept_c4,) = [d for d in iter_directory(str(out / "c4" / "documents")) if d.id == c4[1].id]
    assert kept_c4.to_json() == c4[1].to_json()  # the same record on disk (corpus.schema)
