"""Wikipedia-reference quality classifier: URL keys, training, card, scoring (the training set's Beam
join is tested in tests/test_models_build.py; these fixtures are shared with it)."""
from __future__ import annotations

import io
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
    QualityTrainParams,
    TrainingSet,
    classifier_text,
    main,
    train_classifier,
    url_key,
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


def test_trained_classifier_card_scores_and_cli(tmp_path, capsys, monkeypatch):
    training = TrainingSet([classifier_text(wiki_text(t)) for t in WIKI_TOPICS],
                           [classifier_text("\n".join(cc_lines(t))) for t in CC_TOPICS], True,
                           {"positives_source": "wikipedia_article_text", "fallback_reason": "test"})
    out = tmp_path / "quality"
    params = QualityTrainParams(quality_bucket=10_000)
    assert train_classifier(training, str(out), params.options()) == str(out / MODEL_FILE)
    card = json.loads((out / CARD_FILE).read_text())
    assert card["fallback_used"] is True and card["labels"]["__label__wiki"] == "wikipedia_article_text"
    assert card["digest"].startswith("sha256:") and card["options"]["bucket"] == 10000
    assert card["options"]["epoch"] == 50  # a small set: sized by train_classifier
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
    monkeypatch.setattr("sys.stdin", io.StringIO(wiki_text("palace")))
    assert main(["score", "--model", str(out)]) == 0
    assert json.loads(capsys.readouterr().out) == {"wiki_prob": wiki_like, "kept": wiki_like >= 0.25}


def test_classifier_text_folds_whitespace_like_the_regex():
    import random
    import re

    from corpus.quality import classifier_text

    rng = random.Random(5)
    spaces = [chr(c) for c in range(0x3100) if chr(c).isspace()] + ["\u200b", "\ufeff", "a", "b", "é", " "]
    for _ in range(2000):
        text = "".join(rng.choice(spaces) for _ in range(rng.randrange(0, 30)))
        assert classifier_text(text) == re.sub(r"\s+", " ", text).strip(), repr(text)
