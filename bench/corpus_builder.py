"""Build benchmark inputs from the sample texts: a large WET file (from the WET, C4 and Wikipedia
samples) and books with planted near duplicates (from the Gutenberg samples).

The samples are small (a few MB of text), so WET pages are re-assembled from their lines: each
synthetic page takes the lines of one real document and inserts one word, drawn from the
samples' vocabulary, into every line of three or more words, so long lines stay unique (line
dedup keeps them) while short lines (menus, buttons) repeat across pages as in real CommonCrawl
and are removed. A share of pages also gets boilerplate lines. Books are rebuilt the same way
(paragraphs shuffled, words inserted) into distinct books, each followed by lightly edited near
copies. Seeded: same inputs, same files.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import random
from pathlib import Path
from typing import Iterator, Optional

BOILERPLATE = [
    "Home", "Contact us", "Privacy policy", "Terms of use", "Skip to main content", "Log in", "Sign up",
    "Search this site", "All rights reserved.", "Share on Facebook", "Share on Twitter", "Read more",
    "Subscribe to our newsletter", "Follow us on Instagram", "Cookie settings", "Back to top",
]


def sample_texts(samples: Path, max_wikipedia_pages: int = 150) -> dict[str, list[str]]:
    """Document texts of the WET, C4 and Wikipedia samples (whichever are present)."""
    from corpus.fileio import guarded, open_path
    from corpus.wet import read_wet

    texts: dict[str, list[str]] = {"wet": [], "c4": [], "wikipedia": []}
    for path in sorted((samples / "commoncrawl" / "wet").glob("*.wet*")):
        with open_path(str(path)) as stream:
            texts["wet"] += [d.text for d in guarded(read_wet(stream, str(path)), str(path)) if hasattr(d, "text")]
    c4 = samples / "c4" / "c4_sample.jsonl"
    if c4.exists():
        with open(c4, encoding="utf-8") as handle:
            texts["c4"] = [json.loads(line)["text"] for line in handle if line.strip()]
    wiki = sorted((samples / "wikipedia").glob("enwiki-*.bz2"))
    if wiki:
        try:
            from corpus import wikipedia as wp

            with open_path(str(wiki[0])) as stream:
                for item in guarded(wp.read_pages(stream, str(wiki[0])), str(wiki[0])):
                    if not hasattr(item, "wikitext"):
                        continue
                    doc = wp.keep_articles(wp.page_document(item))
                    if hasattr(doc, "text"):
                        doc = wp.clean_article(doc)
                    if hasattr(doc, "text") and len(doc.text) > 500:
                        texts["wikipedia"].append(doc.text)
                    if len(texts["wikipedia"]) >= max_wikipedia_pages:
                        break
        except Exception:  # noqa: BLE001 - the Wikipedia reader is optional here
            pass
    return texts


def _record(url: str, body: str, index: int) -> bytes:
    data = body.encode("utf-8")
    record_id = hashlib.md5(url.encode()).hexdigest()
    headers = [
        "WARC/1.0", "WARC-Type: conversion", f"WARC-Target-URI: {url}", "WARC-Date: 2019-02-15T19:15:59Z",
        f"WARC-Record-ID: <urn:uuid:{record_id[:8]}-{record_id[8:12]}-{record_id[12:16]}-{record_id[16:20]}-{record_id[20:]}>",
        f"WARC-Block-Digest: sha1:{hashlib.sha1(data).hexdigest().upper()[:32]}",
        "Content-Type: text/plain", f"Content-Length: {len(data)}",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + data + b"\r\n\r\n"


def synthetic_pages(texts: dict[str, list[str]], seed: int = 0) -> Iterator[tuple[str, str]]:
    rng = random.Random(seed)
    pool = [(source, t) for source, items in sorted(texts.items()) for t in items if t.strip()]
    if not pool:
        raise ValueError("no sample texts found")
    vocabulary = sorted({w for _, t in pool[:2000] for w in t.split() if w.isalpha() and 3 <= len(w) <= 12})
    index = 0
    while True:
        source, text = pool[rng.randrange(len(pool))]
        lines = []
        for line in text.split("\n"):
            words = line.split()
            if len(words) >= 3:
                words.insert(rng.randrange(1, len(words)), rng.choice(vocabulary))
                line = " ".join(words)
            lines.append(line)
        if rng.random() < 0.5:
            lines = rng.sample(BOILERPLATE, 3) + lines + rng.sample(BOILERPLATE, 2)
        title = f"{source} page {index}"
        yield f"https://{source}.bench.example/page/{index}", title + "\n" + "\n".join(lines)
        index += 1


def build_wet(output: Path, samples: Path, target_bytes: int = 20 * 1024 * 1024, seed: int = 0,
              texts: Optional[dict[str, list[str]]] = None) -> dict:
    """Write `output` (multi-member gzip WET) with at least `target_bytes` of uncompressed WET."""
    texts = texts if texts is not None else sample_texts(samples)
    info = _write_wet([output], synthetic_pages(texts, seed), target_bytes, target_bytes)
    return {"path": str(output), **info, "sources": {k: len(v) for k, v in texts.items()}}


def build_wet_files(output: Path, texts: dict[str, list[str]], target_bytes: int, file_bytes: int,
                    seed: int = 0) -> dict:
    """Write `output`/bench-NNNNN.wet.gz, each of about `file_bytes` of uncompressed WET, until
    `target_bytes` in all: one crawl's shape (many files), so that reading spreads over workers.
    The pages are those `build_wet` writes with the same seed, in the same order."""
    count = max(1, -(-target_bytes // file_bytes))
    files = [output / f"bench-{i:05d}.wet.gz" for i in range(count)]
    info = _write_wet(files, synthetic_pages(texts, seed), target_bytes, file_bytes)
    return {"path": str(output), "files": count, **info, "sources": {k: len(v) for k, v in texts.items()}}


def _write_wet(files: list[Path], pages: Iterator[tuple[str, str]], target_bytes: int, file_bytes: int) -> dict:
    """Pages into `files` in turn, moving on after `file_bytes` each, stopping at `target_bytes`."""
    written = documents = compressed = 0
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        in_file = 0
        with open(tmp, "wb") as handle:
            for url, body in pages:
                record = _record(url, body, documents)
                handle.write(gzip.compress(record, compresslevel=1, mtime=0))
                written += len(record)
                in_file += len(record)
                documents += 1
                if in_file >= file_bytes or written >= target_bytes:
                    break
        tmp.replace(path)
        compressed += path.stat().st_size
        if written >= target_bytes:
            break
    return {"documents": documents, "uncompressed_bytes": written, "compressed_bytes": compressed}


# --------------------------------------------------------------------------------------------
# Books with near duplicates, for the near-dedup scale probe
# --------------------------------------------------------------------------------------------
def gutenberg_texts(samples: Path) -> list[str]:
    """The Gutenberg samples' texts, licence header and footer stripped."""
    from corpus import books

    texts = []
    for path in sorted((samples / "gutenberg").glob("*.txt")):
        out = books.strip_gutenberg(books.read_gutenberg_text(path.read_bytes(), path.name))
        if not isinstance(out, books.Drop):
            texts.append(out.text)
    return texts


def rebuilt_book(text: str, rng: random.Random, vocabulary: list[str]) -> str:
    """A distinct book made from a real one: its paragraphs shuffled and one vocabulary word
    inserted per five words, so two rebuilds of the same text share few 5-word shingles
    (Jaccard ~0.1, never an LSH candidate) and the corpus can grow without growing any cluster."""
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    rng.shuffle(paragraphs)
    rebuilt = []
    for paragraph in paragraphs:
        lines = []
        for line in paragraph.split("\n"):
            words = line.split()
            for _ in range(len(words) // 5):
                words.insert(rng.randrange(len(words) + 1), rng.choice(vocabulary))
            lines.append(" ".join(words))
        rebuilt.append("\n".join(lines))
    return "\n\n".join(rebuilt)


def near_copy(text: str, rng: random.Random, edit_share: float = 0.005) -> str:
    """`text` with `edit_share` of its words replaced (bench_books' edit, lighter): Jaccard of the
    5-word shingles ~0.95, a near duplicate at the 0.9 threshold."""
    words = text.split(" ")
    for i in rng.sample(range(len(words)), int(len(words) * edit_share)):
        words[i] = "edited"
    return " ".join(words)


def build_books(output: Path, texts: list[str], target_bytes: int, copies: int = 2, seed: int = 0) -> dict:
    """Write books as JSON lines under `output` (one file per distinct book: the book, then
    `copies` near copies of it) until `target_bytes` of text: a larger target adds distinct books,
    so cluster sizes (and LSH bucket sizes) stay the same at every scale."""
    if not texts:
        raise ValueError("no Gutenberg texts found")
    rng = random.Random(seed)
    vocabulary = sorted({w for t in texts for w in t.split() if w.isalpha() and 3 <= len(w) <= 12})
    output.mkdir(parents=True, exist_ok=True)
    written = documents = books = 0
    while written < target_bytes:
        book = rebuilt_book(texts[books % len(texts)], rng, vocabulary)
        versions = [book] + [near_copy(book, rng) for _ in range(copies)]
        lines = [json.dumps({"title": f"bench book {books} copy {i}", "text": v}) for i, v in enumerate(versions)]
        (output / f"books-{books:05d}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        written += sum(len(v.encode("utf-8")) for v in versions)
        documents += len(versions)
        books += 1
    return {"path": str(output), "documents": documents, "distinct_books": books,
            "near_copies_per_book": copies, "text_bytes": written}
