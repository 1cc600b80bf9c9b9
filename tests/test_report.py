"""The data card renders from whatever exists, and a headless browser displays it."""
from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from corpus.ledger import Ledger
from mixture import report
from mixture import sample as sampler
from tests.test_mixture import SIZES, make_series


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("out")
    models = tmp_path_factory.mktemp("models")
    rng = np.random.default_rng(0)
    for source, dropped in (("commoncrawl", {"language": 30, "bucket_tail": 12, "duplicate_lines": 5}),
                            ("c4", {"too_few_sentences": 7, "bad_words": 2})):
        ledger = Ledger(source, documents_in=100 + sum(dropped.values()), documents_written=100, dropped=dropped,
                        errors={"truncated": 1})
        # commoncrawl in today's layout (documents/, rejected/), c4 in the one before documents/.
        folder = root / source / ("documents" if source == "commoncrawl" else "")
        folder.mkdir(parents=True)
        (root / source / "stats.json").write_text(ledger.to_json())
        with gzip.open(folder / "documents-00000-of-00001.jsonl.gz", "wt") as handle:
            for i in range(100):
                meta = {"language": ["en", "de", "fr"][i % 3]}
                if source == "commoncrawl":
                    meta["perplexity"] = float(rng.lognormal(6, 0.5))
                handle.write(json.dumps({"id": f"{source}/{i}", "text": "x", "source": source, "metadata": meta}) + "\n")
    (root / "commoncrawl" / "rejected").mkdir()
    with gzip.open(root / "commoncrawl" / "rejected" / "language.jsonl.gz", "wt") as handle:
        for i in range(30):  # dropped documents: never counted as the corpus's languages
            handle.write(json.dumps({"id": f"r/{i}", "text": "x", "source": "commoncrawl",
                                     "metadata": {"language": "xx", "perplexity": 1.0}}) + "\n")
    (models / "lm").mkdir()
    (models / "lm" / "en.json").write_text(json.dumps({"language": "en", "cutoffs": {"n": 20, "p30": 340.0, "p60": 520.0}}))
    for seed, (source, n) in enumerate(SIZES.items()):
        make_series(root / "tokens", source, n, seed)
    assert sampler.main(["--tokens", "10K", "--input", str(root / "tokens"), "--output", str(root / "mixture"),
                         "--shard_tokens", "4K", "--workers", "1"]) == 0
    (root / "train").mkdir()
    with (root / "train" / "log.jsonl").open("w") as log:
        for step in range(1, 51):
            log.write(json.dumps({"step": step, "loss": 5 / step ** 0.3, "lr": 1e-3, "tokens": step * 256,
                                  "tokens_per_s": 1000.0, "mfu": None}) + "\n")
    return root, models


@pytest.fixture(scope="module")
def rendered(outputs, tmp_path_factory) -> Path:
    root, models = outputs
    out = tmp_path_factory.mktemp("report")
    assert report.main(["--out", str(out), "--root", str(root), "--models", str(models)]) == 0
    return out


def test_report_renders_every_chart(rendered):
    out = rendered
    page = (out / "index.html").read_text()
    for chart in ("documents", "drops", "languages", "perplexity", "mixture", "loss"):
        assert (out / f"{chart}.png").stat().st_size > 5000, chart
        assert f'src="{chart}.png"' in page
    assert "p30 340" in page and "67.00%" in page and "67.0%" in page
    assert 'class="missing"' not in page


def test_report_with_nothing(tmp_path):
    out = tmp_path / "report"
    assert report.main(["--out", str(out), "--root", str(tmp_path / "none"), "--models", str(tmp_path)]) == 0
    page = (out / "index.html").read_text()
    assert "make mixture" in page and "make train" in page
    assert not list(out.glob("*.png"))


def test_cutoffs_found_in_various_cards():
    card = {"cutoffs": {"n": 20, "p30": 150.8, "p60": 171, "percentiles": {"p10": 1.0}}}
    assert report.find_cutoffs(card) == {"p30": 150.8, "p60": 171.0}
    assert report.find_cutoffs({"languages": ["en"]}) == {}


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_report_in_headless_browser(rendered, tmp_path):
    browser = chromium()
    if browser is None:
        pytest.skip("no headless browser: apt-get install -y chromium")
    out = rendered
    shot = Path(os.environ.get("REPORT_SCREENSHOT", tmp_path / "shot.png"))
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
         "--virtual-time-budget=3000", "--dump-dom", (out / "index.html").as_uri()],
        capture_output=True, text=True, timeout=90,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "llama-corpus data card" in dom.stdout and 'src="loss.png"' in dom.stdout
    run = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
         f"--screenshot={shot}", "--window-size=1280,4000", (out / "index.html").as_uri()],
        capture_output=True, text=True, timeout=90,
    )
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    from PIL import Image

    image = Image.open(shot).convert("L")
    assert image.size == (1280, 4000)
    # The charts were drawn: the page is far from a blank white screenshot.
    histogram = image.histogram()
    assert histogram[255] < 0.97 * sum(histogram)


def test_metadata_of_documents_only_in_both_layouts(outputs):
    root, models = outputs
    data = report.gather(str(root), str(root / "tokens"), str(root / "mixture"), str(root / "train"), str(models))
    assert data["languages"]["commoncrawl"] == {"en": 34, "de": 33, "fr": 33}  # no `xx`: rejected unread
    assert data["languages"]["c4"] == {"en": 34, "de": 33, "fr": 33}
    assert len(data["perplexity"]) == 100
    assert data["stats"]["c4"]["documents_written"] == 100


def test_report_reads_and_writes_remote_paths(outputs):
    """The whole card from a memory:// copy of the outputs (as gs:// or s3://) into memory://."""
    from corpus import paths

    root, models = outputs
    for base, url in ((root, "memory://report-test/out"), (models, "memory://report-test/models")):
        for f in base.rglob("*"):
            if f.is_file():
                paths.copy(str(f), f"{url}/{f.relative_to(base)}")
    assert report.main(["--out", "memory://report-test/card", "--root", "memory://report-test/out",
                        "--models", "memory://report-test/models"]) == 0
    page = paths.read_text("memory://report-test/card/index.html")
    assert "p30 340" in page and 'class="missing"' not in page
    assert paths.is_file("memory://report-test/card/loss.png")


def test_summary_lists_every_source_with_its_counts(outputs, tmp_path):
    root, models = outputs
    data = report.gather(str(root), str(root / "tokens"), str(root / "mixture"), str(root / "train"), str(models))
    text = report.summary(data, tmp_path)
    for source, stats in data["stats"].items():
        line = next(l for l in text.splitlines() if l.startswith(source))
        assert f"{stats['documents_in']:,}" in line and f"{stats['documents_written']:,}" in line
    assert text.endswith(f"data card: {tmp_path / 'index.html'}")
