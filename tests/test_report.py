"""The data card renders from whatever exists, and a headless browser displays it."""
from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from corpus.docfiles import encode_jsonl_gz
from corpus.document import Document
from corpus.ledger import Ledger
from mixture import report
from mixture import sample as sampler
from mixture.card_charts import top_with_other
from mixture.card_data import caveats, mixture_rows
from tests.s3_server import s3_bucket, s3_server  # noqa: F401 - pytest fixtures
from tests.test_mixture import SIZES, make_series


WARNING = "quality classifier models/quality was trained with the Wikipedia-text fallback"


def _doc(source: str, i: int, meta: dict) -> Document:
    return Document(f"{source}/{i:03d}", f"{source} text {i} " * (1 + i % 7), source, "2026-01-01", meta)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("out")
    models = tmp_path_factory.mktemp("models")
    rng = np.random.default_rng(0)
    for source, dropped in (("commoncrawl", {"language": 30, "bucket_tail": 12, "duplicate_lines": 5}),
                            ("c4", {"too_few_sentences": 7, "duplicate_url": 2}),
                            ("github", {"license_not_allowed": 3})):
        options = {"quality_threshold": 0.25, "min_len": 300}
        if source == "commoncrawl":
            options["warnings"] = [WARNING]
        ledger = Ledger(source, documents_in=100 + sum(dropped.values()), documents_written=100, dropped=dropped,
                        errors={"truncated": 1}, options=options, versions={"python": "3.11.7", "pyarrow": "25.0.1"},
                        info={"lines_in": 1000, "lines_kept": 700, "distinct_line_hashes": 800,
                              "duplicated_line_hashes": 120} if source == "commoncrawl" else {})
        (root / source).mkdir()
        (root / source / "stats.json").write_text(ledger.to_json())
        if source == "c4":  # the layout (and flat metadata) of files written before documents/ and the schema
            with gzip.open(root / source / "documents-00000-of-00001.jsonl.gz", "wt") as handle:
                for i in range(100):
                    handle.write(json.dumps({"id": f"c4/{i}", "text": "x", "source": source,
                                             "metadata": {"language": ["en", "de", "fr"][i % 3]}}) + "\n")
            continue
        docs = []
        for i in range(100):
            if source == "commoncrawl":
                meta = {"language": ["en", "de", "fr"][i % 3], "perplexity": float(rng.lognormal(6, 0.5)),
                        "wiki_prob": float(rng.uniform(0.25, 1)), "bucket": ["head", "middle"][i % 2],
                        "url": f"https://example.org/{i}"}
            else:
                meta = {"programming_language": "Python", "license": ["MIT", "Apache-2.0", "BSD-3-Clause"][i % 3],
                        "path": f"pkg/m{i}.py"}
            docs.append(_doc(source, i, meta))
        (root / source / "documents").mkdir()
        (root / source / "documents" / "documents-00000-of-00001.jsonl.gz").write_bytes(encode_jsonl_gz(docs))
    (root / "commoncrawl" / "rejected").mkdir()
    rejected = [_doc("commoncrawl", 500 + i, {"language": "xx", "perplexity": 1.0}) for i in range(30)]
    (root / "commoncrawl" / "rejected" / "language.jsonl.gz").write_bytes(encode_jsonl_gz(rejected))
    (root / "commoncrawl" / "rejected" / "bucket_tail.jsonl.gz").write_bytes(
        encode_jsonl_gz([_doc("commoncrawl", 900, {"bucket": "tail"})]))
    (models / "lm").mkdir()
    (models / "lm" / "en.json").write_text(json.dumps({"language": "en", "cutoffs": {"n": 20, "p30": 340.0, "p60": 520.0,
                                                       "from": "CommonCrawl pages"}}))
    (models / "quality").mkdir()
    (models / "quality" / "quality.json").write_text(json.dumps({"fallback_used": True, "training_data": {
        "fallback_reason": "only 0 CommonCrawl pages cited by Wikipedia (< 100)"}}))
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
    assert report.main(["--output", str(out), "--root", str(root), "--models", str(models)]) == 0
    return out


CHARTS = ("documents", "drops", "languages", "lengths", "token_lengths", "perplexity", "wiki_prob", "licenses",
          "mixture", "loss")


def test_report_renders_every_chart(rendered):
    out = rendered
    page = (out / "index.html").read_text()
    for chart in CHARTS:
        assert (out / f"{chart}.png").stat().st_size > 5000, chart
        assert f'src="{chart}.png"' in page
    assert "p30 340" in page and "67.00%" in page and "67.0%" in page
    assert 'class="missing"' not in page


def test_caveats_name_the_fallback_the_warnings_and_the_epochs(outputs):
    root, models = outputs
    data = report.gather(str(root), str(root / "tokens"), str(root / "mixture"), str(root / "train"), str(models))
    notes = caveats(data)
    assert f"commoncrawl: {WARNING}" in notes  # the job's own warning names the fallback ...
    assert not any("only 0 CommonCrawl pages" in n for n in notes)  # ... so the model card's is not repeated
    data["stats"]["commoncrawl"]["options"]["warnings"] = []
    assert any("Wikipedia-text fallback" in n and "only 0 CommonCrawl pages" in n for n in caveats(data))
    rows = {r["source"]: r for r in mixture_rows(data)}
    off = {s for s, r in rows.items() if r["paper_epochs"] and abs(r["epochs"] / r["paper_epochs"] - 1) > 0.1}
    assert off and all(any(n.startswith(f"{s}: ") and "Table 1" in n for n in notes) for s in off)
    assert not any(n.startswith(f"{s}: ") and "Table 1" in n for s in set(rows) - off for n in notes)
    assert any("No pipeline output for: wikipedia, books, arxiv, stackexchange" == n for n in notes)


def test_an_unbalanced_incomplete_source_is_shown_with_its_caveat(tmp_path):
    """A failed job's folder (stats.json with balanced false, _INCOMPLETE kept) is on the card, its
    documents sampled, and the caveat says why; readers of documents refuse it, the card does not."""
    root = tmp_path / "out"
    (root / "books" / "documents").mkdir(parents=True)
    ledger = Ledger("books", documents_in=5, documents_written=3, dropped={"too_short": 1})
    (root / "books" / "stats.json").write_text(ledger.to_json())
    (root / "books" / "_INCOMPLETE").write_text("{}")
    with gzip.open(root / "books" / "documents" / "documents-00000-of-00001.jsonl.gz", "wt") as handle:
        for i in range(3):
            handle.write(_doc("books", i, {}).to_json() + "\n")
    data = report.gather(str(root), str(root / "tokens"), str(root / "mixture"), str(root / "train"),
                         str(tmp_path / "models"))
    assert data["samples"]["books"].documents == 3
    assert any(n.startswith("books: the ledger does not balance") and "_INCOMPLETE" in n for n in caveats(data))


def test_sections_show_examples_dedup_licences_and_versions(rendered):
    page = (rendered / "index.html").read_text()
    for section in ("caveats", "lengths", "dedup", "commoncrawl-quality", "github-licences", "examples",
                    "versions-and-options"):
        assert f'<section id="{section}">' in page
    assert "kept · commoncrawl/000" in page and "kept · commoncrawl/001" in page
    assert "dropped: language · commoncrawl/500" in page and "dropped: bucket_tail · commoncrawl/900" in page
    assert "documents: duplicate_url" in page and "2.0%" in page  # 2 of 102 c4 documents
    assert "line hashes seen more than once" in page and "15.0%" in page  # 120 of 800
    assert "25.0.1" in page and "quality_threshold" in page
    assert page.count('class="example"') == 2 + 2 + 2 + 2  # commoncrawl kept+dropped, c4 kept, github kept


def test_language_bars_are_top_n_and_other():
    counts = Counter({f"l{i:02d}": 100 - i for i in range(12)})
    top = top_with_other(counts, 8)
    assert [k for k, _ in top] == [f"l{i:02d}" for i in range(8)] + ["other"]
    assert top[-1][1] == sum(100 - i for i in range(8, 12))


def test_report_refuses_an_empty_or_missing_root(tmp_path, capsys):
    out = tmp_path / "report"
    assert report.main(["--output", str(out), "--root", str(tmp_path / "none"), "--models", str(tmp_path)]) == 2
    (tmp_path / "empty").mkdir()
    assert report.main(["--output", str(out), "--root", str(tmp_path / "empty"), "--models", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "does not exist" in err[0] and "nothing to report" in err[1]
    assert not out.exists()


def test_help_shows_defaults_and_the_out_alias(capsys):
    with pytest.raises(SystemExit):
        report.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--output OUTPUT, --out OUTPUT" in text and "(default: out/report" in text
    assert "(default: 50000)" in text


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
    for chart in CHARTS:  # every chart and the new sections are in the rendered DOM
        assert f'src="{chart}.png"' in dom.stdout, chart
    for section in ("caveats", "dedup", "examples", "versions-and-options"):
        assert f'<section id="{section}">' in dom.stdout
    assert WARNING in dom.stdout and dom.stdout.count('class="example"') == 8
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
    samples = data["samples"]
    assert samples["commoncrawl"].languages == {"en": 34, "de": 33, "fr": 33}  # no `xx`: rejected unread
    assert samples["c4"].languages == {"en": 34, "de": 33, "fr": 33}  # flat metadata, no documents/
    assert len(samples["commoncrawl"].perplexity) == len(samples["commoncrawl"].wiki_prob) == 100
    assert samples["github"].licenses == {"MIT": 34, "Apache-2.0": 33, "BSD-3-Clause": 33}
    assert samples["github"].languages == {}  # programming languages are not natural languages
    assert len(samples["c4"].tokens) == SIZES["c4"] and min(samples["c4"].tokens) >= 6
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


def test_report_on_s3_reads_through_the_paths_layer_and_refuses_an_empty_root(outputs, s3_bucket, capsys):
    """Issue 11: `--root s3://...` wrote an empty card and exited 0."""
    from corpus import paths

    root, models = outputs
    assert report.main(["--output", f"{s3_bucket}/card", "--root", f"{s3_bucket}/out", "--models",
                        f"{s3_bucket}/models"]) == 2
    assert "does not exist" in capsys.readouterr().err
    for f in (root / "commoncrawl").rglob("*"):
        if f.is_file():
            paths.copy(str(f), f"{s3_bucket}/out/commoncrawl/{f.relative_to(root / 'commoncrawl')}")
    assert report.main(["--output", f"{s3_bucket}/card", "--root", f"{s3_bucket}/out", "--models",
                        f"{s3_bucket}/models"]) == 0
    page = paths.read_text(f"{s3_bucket}/card/index.html")
    assert "kept · commoncrawl/000" in page and 'src="perplexity.png"' in page and 'src="wiki_prob.png"' in page
