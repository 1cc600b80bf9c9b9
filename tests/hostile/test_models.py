"""The model build (`pipelines.models`) on hostile inputs: one capped run whose Wikipedia output
and CommonCrawl folders each hold broken files beside good ones. The sampling job counts every
fault (samples.json's ledger, a warning line on stderr) and the fits still run on the good data."""
from __future__ import annotations

import gzip
import json
import os

from tests.hostile.harness import run_capped
from tests.test_quality import WIKI_TOPICS, cc_lines, write_wiki
from tests.wet_fixtures import english_page, wet_record, write_wet


def test_broken_files_among_good_ones_are_counted_and_the_models_still_build(tmp_path):
    wiki = write_wiki(tmp_path / "wiki", [f"http://cited.example/{t}" for t in WIKI_TOPICS[:3]])
    good = (wiki / "documents-00000-of-00001.jsonl.gz").read_bytes()
    (wiki / "documents-truncated.jsonl.gz").write_bytes(good[: len(good) // 2])
    (wiki / "documents-garbage.jsonl.gz").write_bytes(os.urandom(4096))
    (wiki / "documents-malformed.jsonl.gz").write_bytes(gzip.compress(b'{"id": "x", "text": \n{"id": "y"\n'))
    (wiki / "documents-huge-line.jsonl.gz").write_bytes(gzip.compress(b'{"id": "big", "text": "' + b"a" * (80 << 20)))
    cc = tmp_path / "wet"
    records = [wet_record(f"https://www.cited.example/{t}/", t, english_page(t)) for t in WIKI_TOPICS[:3]]
    records += [wet_record(f"http://shop.example/{t}", t, cc_lines(t)) for t in ("casino", "coupon", "diet", "loan")]
    write_wet(cc / "good.warc.wet.gz", records)
    other = write_wet(tmp_path / "other.warc.wet.gz", [wet_record(f"http://other.example/{t}", t, english_page(t * 2))
                                                       for t in ("tide", "harbour", "lantern")]).read_bytes()
    (cc / "truncated.warc.wet.gz").write_bytes(other[: len(other) // 2])  # distinct pages: no shared lines
    (cc / "garbage.warc.wet.gz").write_bytes(os.urandom(4096))
    (cc / "bad-length.warc.wet").write_bytes(b"WARC/1.0\r\nWARC-Type: conversion\r\nContent-Length: 99999999999\r\n\r\nx")
    out = tmp_path / "models"
    outcome = run_capped("pipelines.models", ["build", "--wikipedia", str(wiki), "--commoncrawl", str(cc),
                                              "--work", str(tmp_path / "work"), "--skip", "lm",
                                              "--quality_min_positives", "3"],
                         output=out, timeout_s=240, case="models: broken Wikipedia shards and WET files")
    assert outcome.returncode == 0, outcome.stderr[-3000:]
    ledger = json.loads((tmp_path / "work" / "samples.json").read_text())["ledger"]
    print(ledger, f"peak {outcome.peak_rss_mb:.0f} MB, {outcome.wall_s:.1f} s")
    faults = {k: v for k, v in ledger.items() if k.startswith("error:")}
    assert sum(faults.values()) >= 6, ledger  # 4 broken shards + 2 broken WET files at least
    for name in faults:
        assert f"input fault {name[len('error:'):]}" in outcome.stderr
    card = json.loads((out / "quality" / "quality.json").read_text())
    assert card["fallback_used"] is False and card["training_data"]["commoncrawl_pages_cited"] >= 3
    assert (out / "quality" / "quality.bin").stat().st_size > 0
