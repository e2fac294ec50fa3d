"""The sentiment model, with the real weights shipped in scoring/model/ (no mocks)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from safetensors import safe_open

from goodwill.errors import ScoringError
from goodwill.models import SentimentLabel
from scoring.evaluate import (
    HeldOutReport,
    LexiconBaseline,
    metrics_from_predictions,
    update_model_card,
)
from scoring.examples import Example
from scoring.sentiment import BUNDLED_MODEL_DIR, SentimentModel
from scoring.train import (
    CARD_FILE,
    HELD_OUT_END,
    HELD_OUT_START,
    KINDS,
    LABELS,
    MODEL_GENERATION,
    train,
)

NEG, NEU, POS = SentimentLabel.NEGATIVE, SentimentLabel.NEUTRAL, SentimentLabel.POSITIVE

COMPLAINTS = [
    "@united you lost my bag AGAIN and nobody at the desk will help. Worst airline ever.",
    "@AmericanAir flight cancelled, 3 hours on hold, still no rebooking. Unacceptable.",
    "@USAirways delayed four times today and the gate agent was rude to everyone",
]
PRAISE = [
    "@JetBlue thank you so much, the crew was wonderful and we landed early!",
    "@SouthwestAir love you guys, best customer service I have ever had",
    "@VirginAmerica great flight, comfy seats and friendly staff. Thanks!",
]


@pytest.fixture(scope="module")
def model() -> SentimentModel:
    """The bundled model, loaded once for the module."""
    return SentimentModel.load()


def test_clear_complaints_are_negative(model: SentimentModel) -> None:
    """Plain airline complaints get the negative label."""
    assert [s.label for s in model.predict(COMPLAINTS)] == [NEG] * len(COMPLAINTS)


def test_clear_praise_is_positive(model: SentimentModel) -> None:
    """Plain airline praise gets the positive label."""
    assert [s.label for s in model.predict(PRAISE)] == [POS] * len(PRAISE)


def test_results_come_back_in_input_order(model: SentimentModel) -> None:
    """Sorting by length inside predict() never reorders the results."""
    texts = [PRAISE[0] + " " + PRAISE[0], COMPLAINTS[0], "@JetBlue thanks!", COMPLAINTS[1] * 3]
    labels = [s.label for s in model.predict(texts, batch_size=2)]
    assert labels == [POS, NEG, POS, NEG]
    assert [s.label for s in model.predict(texts[::-1], batch_size=2)] == labels[::-1]


def test_batched_and_one_at_a_time_agree(model: SentimentModel) -> None:
    """Padding a text into a batch changes neither its label nor (beyond rounding) its scores."""
    texts = [*COMPLAINTS, *PRAISE, "@united what time does boarding start for UA 123?"]
    batched = model.predict(texts, batch_size=32)
    single = [model.predict([text])[0] for text in texts]
    assert [s.label for s in batched] == [s.label for s in single]
    for b, s in zip(batched, single, strict=True):
        for label in SentimentLabel:
            assert b.probabilities[label] == pytest.approx(s.probabilities[label], abs=1e-4)


def test_empty_list_gives_empty_list(model: SentimentModel) -> None:
    """No texts, no results (and no model call)."""
    assert model.predict([]) == []


def test_very_long_text_is_truncated_not_fatal(model: SentimentModel) -> None:
    """A text far past 512 tokens is truncated and scored like any other."""
    [result] = model.predict(["@united my flight was delayed " * 800])
    assert result.label in SentimentLabel


def test_empty_text_is_scored(model: SentimentModel) -> None:
    """An empty string still gets a valid verdict."""
    [result] = model.predict([""])
    assert result.label in SentimentLabel


def test_probabilities_are_a_distribution(model: SentimentModel) -> None:
    """Each result's probabilities cover the three labels, sum to 1, and score is the label's."""
    for result in model.predict([*COMPLAINTS, *PRAISE]):
        assert set(result.probabilities) == set(SentimentLabel)
        assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert result.score == max(result.probabilities.values())
        assert result.score == result.probabilities[result.label]


def test_version_names_the_exact_weights(model: SentimentModel) -> None:
    """The version is goodwill-sentiment-<generation>+ the first 12 hex of the weights' sha256."""
    digest = hashlib.sha256((BUNDLED_MODEL_DIR / "model.safetensors").read_bytes()).hexdigest()
    assert model.version == f"goodwill-sentiment-{MODEL_GENERATION}+{digest[:12]}"
    assert all(s.model_version == model.version for s in model.predict(PRAISE))


def test_bundled_weights_are_fp16_and_config_names_the_labels() -> None:
    """The shipped model is fp16 on disk: the three sentiments, then the four kinds of post."""
    with safe_open(str(BUNDLED_MODEL_DIR / "model.safetensors"), "pt") as weights:
        dtypes = {weights.get_slice(name).get_dtype() for name in weights.keys()}  # noqa: SIM118  (safe_open has no __iter__)
    assert dtypes == {"F16"}
    config = json.loads((BUNDLED_MODEL_DIR / "config.json").read_text())
    names = ["negative", "neutral", "positive"] + [f"kind:{k}" for k in KINDS]
    assert config["id2label"] == {str(i): name for i, name in enumerate(names)}
    assert config["goodwill_generation"] == MODEL_GENERATION
    assert (BUNDLED_MODEL_DIR / "model.safetensors").stat().st_size < 50 * 2**20


def test_training_labels_match_the_domain_labels() -> None:
    """scoring.train's plain-string labels are SentimentLabel's values, in class-id order."""
    assert list(LABELS) == [label.value for label in SentimentLabel]


def test_missing_model_directory_raises_scoring_error_naming_it(tmp_path: Path) -> None:
    """Loading from a directory with no model says which directory and what to do."""
    missing = tmp_path / "no-such-model"
    with pytest.raises(ScoringError, match="no-such-model") as caught:
        SentimentModel.load(missing)
    assert "python -m scoring.train" in str(caught.value)


def test_corrupt_weights_raise_scoring_error(tmp_path: Path) -> None:
    """Unreadable weights give a ScoringError naming the directory, not a library error."""
    shutil.copy(BUNDLED_MODEL_DIR / "config.json", tmp_path / "config.json")
    (tmp_path / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ScoringError, match=str(tmp_path)):
        SentimentModel.load(tmp_path)


def test_metrics_on_a_hand_counted_case() -> None:
    """Accuracy, per-class P/R/F1, macro-F1 and the confusion matrix match a hand count."""
    gold = [NEG, NEG, NEG, NEU, POS, POS]
    predicted = [NEG, NEG, NEU, NEU, POS, NEG]
    m = metrics_from_predictions(gold, predicted)
    assert m.accuracy == pytest.approx(4 / 6)
    assert m.confusion == [[2, 1, 0], [0, 1, 0], [1, 0, 1]]
    assert m.per_class[NEG].precision == pytest.approx(2 / 3)
    assert m.per_class[NEG].recall == pytest.approx(2 / 3)
    assert m.per_class[NEU].f1 == pytest.approx(2 / 3)  # P 1/2, R 1
    assert m.per_class[POS].f1 == pytest.approx(2 / 3)  # P 1, R 1/2
    assert m.macro_f1 == pytest.approx(2 / 3)


def test_lexicon_baseline_counts_words() -> None:
    """The word-list baseline says positive, negative or (no cue) neutral."""
    assert LexiconBaseline().predict(["thanks, great crew", "flight delayed, bag lost", "ok"]) == [
        POS,
        NEG,
        NEU,
    ]


def _tiny_training_set() -> list[Example]:
    labelled = [Example(t, "negative") for t in COMPLAINTS] + [
        Example(t, "positive") for t in PRAISE
    ]
    return (labelled * 11)[:64]


def test_train_smoke_writes_a_loadable_fp16_model(tmp_path: Path) -> None:
    """One training step writes fp16 weights, config and card that SentimentModel loads."""
    steps: list[int] = []
    report = train(
        tmp_path / "model",
        examples=_tiny_training_set(),
        epochs=1,
        max_steps=1,
        max_length=16,
        device="cpu",
        progress=lambda step, total, loss: steps.append(step),
    )
    assert report.steps == 1
    assert steps == [1]
    with safe_open(str(tmp_path / "model" / "model.safetensors"), "pt") as weights:
        assert {weights.get_slice(n).get_dtype() for n in weights.keys()} == {"F16"}  # noqa: SIM118
    card = (tmp_path / "model" / CARD_FILE).read_text()
    assert "CC BY-NC-SA 4.0" in card
    assert "derived work" in card
    assert report.weights_sha256 in card
    loaded = SentimentModel.load(tmp_path / "model")
    assert loaded.version == f"goodwill-sentiment-{MODEL_GENERATION}+{report.weights_sha256[:12]}"
    assert len(loaded.predict(COMPLAINTS)) == len(COMPLAINTS)


def test_a_two_headed_model_trains_loads_and_says_the_kind(tmp_path: Path) -> None:
    """Examples labelled with kinds (some with no sentiment) give a model whose one pass gives both."""
    examples = [Example(t, "negative", "complaint") for t in COMPLAINTS] + [
        Example(t, None, "other") for t in PRAISE
    ]
    report = train(
        tmp_path / "model",
        examples=(examples * 8)[:48],
        epochs=1,
        max_steps=2,
        max_length=16,
        device="cpu",
        val_fraction=0.25,
        progress=lambda step, total, loss: None,
    )
    assert report.label_counts["kind:complaint"] > 0
    assert report.history[0].val_complaint_f1 is not None
    loaded = SentimentModel.load(tmp_path / "model")
    assert loaded.has_kind_head
    [verdict] = loaded.predict(COMPLAINTS[:1])
    assert verdict.kinds is not None
    assert set(verdict.kinds) == {"complaint", "negative_opinion", "question", "other"}
    assert abs(sum(verdict.kinds.values()) - 1.0) < 1e-5
    assert abs(sum(verdict.probabilities.values()) - 1.0) < 1e-5


def test_training_is_reproducible_with_a_seed(tmp_path: Path) -> None:
    """Two runs with the same seed and data write byte-identical weights."""
    digests = [
        train(
            tmp_path / name,
            examples=_tiny_training_set(),
            epochs=1,
            max_steps=2,
            max_length=16,
            device="cpu",
            progress=lambda step, total, loss: None,
        ).weights_sha256
        for name in ("a", "b")
    ]
    assert digests[0] == digests[1]


def test_update_model_card_fills_only_the_held_out_section(tmp_path: Path) -> None:
    """The evaluation writes its tables between the markers and leaves the rest alone."""
    card = tmp_path / CARD_FILE
    card.write_text(f"# card\nbefore\n{HELD_OUT_START}\nnot measured\n{HELD_OUT_END}\nafter\n")
    m = metrics_from_predictions([NEG, POS], [NEG, POS])
    report = HeldOutReport("v+1", m, NEG, m, m, seconds=1.0, threads=2)
    update_model_card(card, report)
    text = card.read_text()
    assert "not measured" not in text
    assert text.startswith("# card\nbefore\n")
    assert text.endswith(f"{HELD_OUT_END}\nafter\n")
    assert "| `v+1` | 1.000 | " in text
