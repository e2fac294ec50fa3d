"""People's corrections as training data for the next model and a test set for this one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from goodwill.corpus import load_airline_tweets
from goodwill.models import SentimentLabel, text_fingerprint
from scoring.corrections import (
    ComplaintMetrics,
    evaluate_on_corrections,
    export_training_data,
    format_evaluation,
)
from scoring.evaluate import metrics_from_predictions
from scoring.sentiment import SentimentModel
from scoring.train import load_train_data
from store import Database
from tests.factories import mention, seed


async def _ids(store: Database, *items: tuple[str, str, str]) -> list[str]:
    """Seed (text, source, model label) mentions; their ids, in order."""
    made = [(mention(text, source=source), label) for text, source, label in items]
    await seed(store, made)
    ids = []
    for item, _ in made:
        doc = await store.collection("mentions").find_one({"external_id": item.external_id})
        assert doc is not None
        ids.append(str(doc["_id"]))
    return ids


def _names(directory: Path) -> list[str]:
    return sorted(entry.name for entry in directory.iterdir())


def _lines(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def corpus_texts() -> tuple[str, str]:
    """One text from the TRAIN side of the corpus and one from the held-out side."""
    return (
        next(iter(load_airline_tweets("train"))).text,
        next(iter(load_airline_tweets("held_out"))).text,
    )


async def _seed_export_set(store: Database, train_text: str, held_out_text: str) -> None:
    a, b, c, d, e, f, g = await _ids(
        store,
        ("Great crew today", "reddit", "positive"),
        ("Is the lounge open?", "reddit", "neutral"),
        ("Same text twice", "reddit", "neutral"),
        ("Same  TEXT twice", "reddit", "neutral"),
        ("A replayed demo tweet", "replay", "neutral"),
        (held_out_text, "reddit", "negative"),
        (train_text, "reddit", "negative"),
    )

    async def correct(mention_id: str, sentiment: str | None, kind: str | None = None) -> None:
        await store.complaints.correct(
            mention_id, sentiment=sentiment, complaint=None, kind=kind, by="Ana", note=None
        )

    await correct(a, "positive")
    await correct(b, None, "question")  # no sentiment: nothing to train on
    await correct(c, "neutral")
    await correct(d, "positive")  # the same text, later: its label wins
    await correct(e, "negative")  # replayed = held-out corpus text
    await correct(f, "positive")  # a held-out corpus text from elsewhere
    await correct(g, "positive")
    await correct(a, "negative")  # re-corrected: the latest label counts


async def test_export_writes_the_latest_sentiment_correction_of_each_text(
    store: Database, tmp_path: Path, corpus_texts: tuple[str, str]
) -> None:
    """One {"text", "label"} line per distinct corrected text, latest label, held-out texts left out."""
    train_text, held_out_text = corpus_texts
    await _seed_export_set(store, train_text, held_out_text)
    path = tmp_path / "out" / "corrections.jsonl"
    assert await export_training_data(store, path) == 3
    assert _lines(path) == [
        {"text": "Great crew today", "label": "negative"},
        {"text": train_text, "label": "positive"},
        {"text": "Same  TEXT twice", "label": "positive"},
    ]
    examples = load_train_data(path)  # what `python -m scoring.train --train-data` reads
    assert [example.label for example in examples] == ["negative", "positive", "positive"]
    assert _names(path.parent) == ["corrections.jsonl"], "no partial file is left behind"


async def test_export_can_keep_held_out_texts_when_asked(
    store: Database, tmp_path: Path, corpus_texts: tuple[str, str]
) -> None:
    """With ``exclude_held_out=False`` replayed and held-out corpus texts are written too."""
    train_text, held_out_text = corpus_texts
    await _seed_export_set(store, train_text, held_out_text)
    path = tmp_path / "all.jsonl"
    assert await export_training_data(store, path, exclude_held_out=False) == 5
    texts = {line["text"] for line in _lines(path)}
    assert {"A replayed demo tweet", held_out_text} <= texts


async def test_export_with_the_corpus_lets_corrections_override_corpus_labels(
    store: Database, tmp_path: Path, corpus_texts: tuple[str, str]
) -> None:
    """``include_corpus`` adds the TRAIN tweets; a corrected corpus text appears once, as corrected."""
    train_text, held_out_text = corpus_texts
    await _seed_export_set(store, train_text, held_out_text)
    path = tmp_path / "with-corpus.jsonl"
    written = await export_training_data(store, path, include_corpus=True)
    corpus = load_train_data()
    fingerprints = {text_fingerprint(example.text) for example in corpus}
    assert written == len(fingerprints) + 2  # the two corrected texts not in the corpus
    lines = _lines(path)
    assert len(lines) == written
    assert [line["label"] for line in lines if line["text"] == train_text] == ["positive"]
    assert held_out_text not in {line["text"] for line in lines}


async def test_export_with_no_corrections_writes_an_empty_file(
    store: Database, tmp_path: Path
) -> None:
    """Nothing corrected yet: an empty file and a count of 0, not an error."""
    path = tmp_path / "empty.jsonl"
    assert await export_training_data(store, path) == 0
    assert path.read_text(encoding="utf-8") == ""


# Texts whose model labels and complaint verdicts were checked against the bundled model
# and scoring.complaints.detect (the comments give both).
_CORRECTED = [
    # text, the model's label / the detector's verdict, people's sentiment, people's kind
    (
        "I love this airline, the crew were wonderful and the flight was perfect!",
        "positive",  # positive / not a complaint
        "positive",
        None,
    ),
    (
        "Flight cancelled, bag lost, and nobody answers the phone. Worst airline ever.",
        "negative",  # negative / complaint
        "negative",
        "complaint",  # true positive
    ),
    (
        "What time does the gate open for the morning flight to Denver?",
        "neutral",  # neutral / question
        "neutral",
        "question",  # true negative
    ),
    (
        "Thanks for the quick reply, all sorted now!",
        "positive",  # positive / not a complaint
        "neutral",  # people disagree with the model
        None,
    ),
    (
        "Is it true you are dropping the Denver route? That would be sad",
        "negative",  # negative / negative opinion
        "neutral",  # people disagree with the model
        "question",  # true negative
    ),
    (
        "I hate flying in general, airports are awful",
        "negative",  # negative / negative opinion
        "negative",
        "complaint",  # false negative: people call it a complaint
    ),
    (
        "Been on hold for 2 hours and still no refund for my cancelled flight",
        "negative",  # negative / complaint
        None,  # only the kind is corrected
        "negative_opinion",  # false positive
    ),
]


async def test_evaluation_scores_the_model_and_detector_on_the_latest_corrections(
    store: Database, sentiment_model: SentimentModel
) -> None:
    """Accuracy and confusion against corrected sentiments; complaint precision/recall on verdicts."""
    ids = await _ids(store, *[(text, "reddit", "neutral") for text, *_ in _CORRECTED])
    await store.complaints.correct(
        ids[0], sentiment="negative", complaint=None, kind=None, by="a", note=None
    )
    for mention_id, (_, _, sentiment, kind) in zip(ids, _CORRECTED, strict=True):
        await store.complaints.correct(
            mention_id, sentiment=sentiment, complaint=None, kind=kind, by="b", note=None
        )
    await _ids(store, ("An uncorrected mention", "reddit", "negative"))

    report = await evaluate_on_corrections(sentiment_model, store)

    assert report.model_version == sentiment_model.version
    assert report.corrections == 7
    labelled = [(model, gold) for _, model, gold, _ in _CORRECTED if gold is not None]
    expected = metrics_from_predictions(
        [SentimentLabel(gold) for _, gold in labelled],
        [SentimentLabel(model) for model, _ in labelled],
    )
    assert report.sentiment == expected
    assert report.sentiment.n == 6
    assert report.sentiment.accuracy == pytest.approx(4 / 6)
    assert report.sentiment.confusion == [[2, 0, 0], [1, 1, 1], [0, 0, 1]]
    assert report.complaints == ComplaintMetrics(
        true_positives=1, false_positives=1, false_negatives=1, true_negatives=2
    )
    assert (report.complaints.precision, report.complaints.recall) == (0.5, 0.5)
    text = format_evaluation(report)
    assert "accuracy 0.667" in text
    assert "precision 0.500, recall 0.500" in text


async def test_evaluation_with_no_corrections_says_so(
    store: Database, sentiment_model: SentimentModel
) -> None:
    """No corrections: no metrics (not a division by zero), and a message saying where to correct."""
    report = await evaluate_on_corrections(sentiment_model, store)
    assert (report.corrections, report.sentiment, report.complaints) == (0, None, None)
    assert "Mentions page" in format_evaluation(report)
