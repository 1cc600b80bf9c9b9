"""Wikipedia-reference quality classifier: training set (cited URLs / fallback), card, scoring."""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from corpus import paths
from corpus.docfiles import encode_jsonl_gz
from corpus.document import Document
from corpus.quality import (
    CARD_FILE,
    MODEL_FILE,
    QualityModel,
    build_training_set,
    classifier_text,
    main,
    url_key,
    wet_files,
)
from corpus.rules import Drop
from corpus.steps.commoncrawl import CommonCrawlParams, WikiReference
from tests.wet_fixtures import english_page, wet_record, write_wet

WIKI_TOPICS = ["river", "castle", "mountain", "composer", "volcano", "novelist", "bridge", "cathedral"]
CC_TOPICS = ["discount", "casino", "coupon", "ringtone", "mortgage", "diet", "horoscope", "lottery"]


def wiki_text(topic: str) -> str:
    return "\n".join(
        f"The {topic} is described in historical sources from the {century}th century and later studies." for century in
        range(11, 20)
    ) + f"\nScholars of the {topic} have published many peer reviewed articles and monographs."


def cc_lines(topic: str) -> list[str]:
    return [f"Click here for the best {topic} deals today and save big on every order number {w}!" for w in
            ("one", "two", "three", "four", "five", "six")]


def write_wiki(directory: Path, cited_urls: list[str]) -> Path:
    docs = [
        Document(f"wikipedia/{t}", wiki_text(t), "wikipedia",
                 metadata={"language": "en", "title": t, "ref_urls": cited_urls if i == 0 else []})
        for i, t in enumerate(WIKI_TOPICS)
    ]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "documents-00000-of-00001.jsonl.gz").write_bytes(encode_jsonl_gz(docs))
    return directory


@pytest.fixture(scope="module")
def cc_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ccq")
    records = [wet_record(f"http://shop.example/{t}", t.title(), cc_lines(t)) for t in CC_TOPICS]
    records += [wet_record(f"https://www.cited.example/{t}/", t.title(), english_page(t)) for t in WIKI_TOPICS[:3]]
    write_wet(root / "cc.wet.gz", records)
    return root


def test_normalize_url_and_text():
    assert url_key("https://www.Example.com/a/") == url_key("http://example.com/a#frag")
    assert url_key("http://example.com/a?b=1") != url_key("http://example.com/a?b=2")
    assert classifier_text("a\nb\t c  ") == "a b c"


def test_wet_files_expands_directories_and_globs_and_refuses_a_missing_file(cc_dir):
    assert wet_files([str(cc_dir)]) == [str(cc_dir / "cc.wet.gz")]
    assert wet_files([str(cc_dir / "*.gz"), str(cc_dir / "cc.wet.gz")]) == [str(cc_dir / "cc.wet.gz")]
    assert wet_files([str(cc_dir / "*.none")]) == []
    with pytest.raises(FileNotFoundError):
        wet_files([str(cc_dir / "missing.wet.gz")])


def test_training_set_uses_cited_pages_when_enough():
    cc = [Document(f"c{i}", f"text {i}", "commoncrawl", metadata={"url": f"http://x.example/{i}"}) for i in range(10)]
    wiki = [Document("w", "wiki " * 300, "wikipedia", metadata={"language": "en", "ref_urls": [
        "https://www.x.example/1/", "http://x.example/2", "http://elsewhere.example/"]})]
    ts = build_training_set(wiki, cc, min_positives=2)
    assert not ts.fallback_used
    assert sorted(ts.positives) == ["text 1", "text 2"]
    assert len(ts.negatives) == 2 and not set(ts.negatives) & {"text 1", "text 2"}
    fb = build_training_set(wiki, cc, min_positives=3)
    assert fb.fallback_used and fb.stats["positives_source"] == "wikipedia_article_text"
    assert "only 2" in fb.stats["fallback_reason"]


def test_train_with_fallback_writes_card_and_scores(tmp_path, cc_dir):
    wiki = write_wiki(tmp_path / "wiki", [])
    out = tmp_path / "quality"
    assert main(["train", "--wikipedia", str(wiki), "--commoncrawl", str(cc_dir), "--output", str(out),
                 "--min_positives", "5", "--bucket", "10000", "--dim", "16"]) == 0
    card = json.loads((out / CARD_FILE).read_text())
    assert card["fallback_used"] is True
    assert card["training_data"]["positives_source"] == "wikipedia_article_text"
    assert card["training_data"]["positives"] == card["training_data"]["negatives"] > 0
    assert card["digest"].startswith("sha256:") and card["options"]["bucket"] == 10000
    assert (out / MODEL_FILE).stat().st_size < 5_000_000
    model = QualityModel.load(str(out))
    wiki_like = model.wiki_prob(wiki_text("palace"))
    spam_like = model.wiki_prob("\n".join(cc_lines("casino")))
    assert 0.0 <= spam_like < wiki_like <= 1.0
    step = WikiReference(CommonCrawlParams(quality_threshold=0.5), str(out / MODEL_FILE))
    step.setup()
    assert step(Document("s", "\n".join(cc_lines("casino")), "commoncrawl")) == Drop("low_wiki_prob")
    assert step(Document("w", wiki_text("palace"), "commoncrawl")).metadata["wiki_prob"] >= 0.5
    remote = f"memory://quality-{uuid.uuid4().hex}"  # a models directory on another file system
    paths.copy(str(out / MODEL_FILE), paths.join(remote, MODEL_FILE))
    assert QualityModel.load(remote).wiki_prob(wiki_text("palace")) == wiki_like


def test_train_with_cited_pages(tmp_path, cc_dir):
    cited = [f"http://cited.example/{t}" for t in WIKI_TOPICS[:3]]
    wiki = write_wiki(tmp_path / "wiki", cited)
    out = tmp_path / "quality"
    main(["train", "--wikipedia", str(wiki), "--commoncrawl", str(cc_dir), "--output", str(out),
          "--min_positives", "3", "--bucket", "10000", "--dim", "16"])
    card = json.loads((out / CARD_FILE).read_text())
    assert card["fallback_used"] is False
    assert card["training_data"]["commoncrawl_pages_cited"] == 3
    assert card["training_data"]["positives"] == 3


def test_models_build_writes_lid_card_and_classifier(tmp_path, cc_dir):
    from corpus import models

    wiki = write_wiki(tmp_path / "wiki", [])
    out = tmp_path / "models"
    assert models.main(["build", "--output", str(out), "--wikipedia", str(wiki), "--commoncrawl", str(cc_dir),
                        "--skip", "lm", "--quality_min_positives", "5"]) == 0
    report = json.loads((out / "models.json").read_text())
    assert set(report["parts"]) == {"lid", "quality"}
    assert report["parts"]["quality"]["fallback_used"] is True
    assert json.loads((out / "lid.json").read_text())["file"] == "lid.176.ftz"
    assert (out / "quality" / MODEL_FILE).exists()
    with pytest.raises(SystemExit):
        models.main(["build", "--output", str(out), "--wikipedia", str(tmp_path / "missing"),
                     "--commoncrawl", str(cc_dir)])


def test_classifier_text_folds_whitespace_like_the_regex():
    import random
    import re

    from corpus.quality import classifier_text

    rng = random.Random(5)
    spaces = [chr(c) for c in range(0x3100) if chr(c).isspace()] + ["\u200b", "\ufeff", "a", "b", "é", " "]
    for _ in range(2000):
        text = "".join(rng.choice(spaces) for _ in range(rng.randrange(0, 30)))
        assert classifier_text(text) == re.sub(r"\s+", " ", text).strip(), repr(text)
