"""People's corrections as data: a test set for the model, training data for the next one.

Community managers correct a mention's labels on the dashboard (``store.complaints.correct``);
the latest correction of each mention is a label a person gave it. Two uses:

- :func:`export_training_data` writes the sentiment corrections as JSON lines of
  ``{"text", "label"}``, the file ``python -m scoring.train --train-data FILE`` takes
  (with ``include_corpus=True`` the corpus's TRAIN side comes too, so the next model
  learns from both). Texts of the held-out side of the corpus are left out: the
  replay source shows exactly those as demo data, and a model trained on them would
  be evaluated on its own training data.
- :func:`evaluate_on_corrections` scores a model on what people labelled: its
  sentiment accuracy and macro-F1, and the complaint detector's precision and recall
  on the corrections that say whether the post is a complaint. These are the labels
  people chose to look at (often where the model looked wrong), so the figures read
  lower than on a random sample; they show whether a new model fixes what people
  corrected.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from goodwill.corpus import load_airline_tweets
from goodwill.errors import ConfigError
from goodwill.models import SentimentLabel, text_fingerprint
from scoring.complaints import detect
from scoring.evaluate import Metrics, metrics_from_predictions
from scoring.train import load_train_data
from scoring.worker import Predictor
from store import Database

__all__ = [
    "ComplaintMetrics",
    "CorrectionsEvaluation",
    "evaluate_on_corrections",
    "export_training_data",
    "format_evaluation",
]

log = logging.getLogger(__name__)

#: The source that replays the corpus's held-out tweets as demo mentions.
_REPLAY_SOURCE = "replay"


@dataclass(frozen=True)
class ComplaintMetrics:
    """The complaint detector against people's complaint verdicts (positive class: complaint)."""

    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int

    @property
    def n(self) -> int:
        """How many corrections carried a complaint verdict."""
        return (
            self.true_positives + self.false_positives + self.false_negatives + self.true_negatives
        )

    @property
    def precision(self) -> float:
        """Of the posts the detector called complaints, the share people agree are (0 if none)."""
        called = self.true_positives + self.false_positives
        return self.true_positives / called if called else 0.0

    @property
    def recall(self) -> float:
        """Of the posts people call complaints, the share the detector found (0 if none)."""
        actual = self.true_positives + self.false_negatives
        return self.true_positives / actual if actual else 0.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


@dataclass(frozen=True)
class CorrectionsEvaluation:
    """A model (and the complaint detector on its sentiments) scored on people's corrections.

    ``sentiment`` is ``None`` when no correction gives a sentiment, ``complaints`` when
    none says whether the post is a complaint.
    """

    model_version: str
    corrections: int
    sentiment: Metrics | None
    complaints: ComplaintMetrics | None


def _held_out_fingerprints() -> set[str]:
    """Fingerprints of the corpus's held-out texts (empty when the corpus is not installed)."""
    try:
        return {tweet.key for tweet in load_airline_tweets("held_out")}
    except ConfigError:
        # No corpus here, so no replay source either: only corrections made elsewhere
        # on replayed mentions could hold held-out texts, and their source says so.
        return set()


def _corpus_train() -> list[tuple[str, str]]:
    return [
        (example.text, example.label) for example in load_train_data() if example.label is not None
    ]


def _write_lines(path: Path, examples: list[tuple[str, str]]) -> None:
    """Write the examples to a file beside ``path``, then move it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("w", encoding="utf-8") as out:
        for text, label in examples:
            out.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
    os.replace(partial, path)


async def export_training_data(
    store: Database, path: Path, *, include_corpus: bool = False, exclude_held_out: bool = True
) -> int:
    """Write the latest sentiment corrections as JSON lines ``{"text", "label"}``; returns the count.

    One line per distinct text (identical reposts once, with the latest correction's
    label); corrections that give no sentiment, and blank texts, are left out. With
    ``include_corpus`` the corpus's TRAIN side follows, except texts people corrected
    (their label wins). Held-out texts (see the module docstring) are left out unless
    ``exclude_held_out`` is False. The file is replaced whole, never left half written.
    """
    corrections = await store.complaints.latest_corrections()
    held_out = (
        await asyncio.to_thread(_held_out_fingerprints)
        if exclude_held_out and corrections
        else set()
    )
    examples: dict[str, tuple[str, str]] = {}
    skipped_held_out = 0
    for doc in corrections:  # newest first: the first of identical texts wins
        text, label = str(doc.get("text") or ""), doc.get("sentiment")
        if label is None or not text.strip():
            continue
        key = text_fingerprint(text)
        if exclude_held_out and (doc.get("source") == _REPLAY_SOURCE or key in held_out):
            skipped_held_out += 1
            continue
        examples.setdefault(key, (text, SentimentLabel(label).value))
    corrected = len(examples)
    if include_corpus:
        for text, label in await asyncio.to_thread(_corpus_train):
            examples.setdefault(text_fingerprint(text), (text, label))
    await asyncio.to_thread(_write_lines, path, list(examples.values()))
    log.info(
        "wrote %d examples to %s: %d from corrections, %d from the corpus; "
        "%d held-out corrections left out",
        len(examples),
        path,
        corrected,
        len(examples) - corrected,
        skipped_held_out,
    )
    return len(examples)


async def evaluate_on_corrections(
    model: Predictor, store: Database, *, batch_size: int = 32
) -> CorrectionsEvaluation:
    """Score ``model`` on the latest correction of each mention.

    Sentiment: the model's label against the corrected one (accuracy, macro-F1, per
    class, confusion). Complaints: :func:`scoring.complaints.detect` on the text and
    the model's sentiment, against the corrected complaint verdict.
    """
    corrections = [
        doc
        for doc in await store.complaints.latest_corrections()
        if str(doc.get("text") or "").strip()
        and (doc.get("sentiment") is not None or doc.get("complaint") is not None)
    ]
    texts = [str(doc["text"]) for doc in corrections]
    # The model is CPU-bound: run it in a thread so the caller's event loop stays free.
    predictions = await asyncio.to_thread(model.predict, texts, batch_size) if texts else []
    gold: list[SentimentLabel] = []
    predicted: list[SentimentLabel] = []
    counts = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    for doc, prediction in zip(corrections, predictions, strict=True):
        if doc.get("sentiment") is not None:
            gold.append(SentimentLabel(doc["sentiment"]))
            predicted.append(prediction.label)
        if doc.get("complaint") is not None:
            found = detect(doc["text"], prediction).is_complaint
            actual = bool(doc["complaint"])
            counts[("t" if found == actual else "f") + ("p" if found else "n")] += 1
    complaints = (
        ComplaintMetrics(counts["tp"], counts["fp"], counts["fn"], counts["tn"])
        if any(counts.values())
        else None
    )
    return CorrectionsEvaluation(
        model_version=model.version,
        corrections=len(corrections),
        sentiment=metrics_from_predictions(gold, predicted) if gold else None,
        complaints=complaints,
    )


def format_evaluation(report: CorrectionsEvaluation) -> str:
    """The evaluation as a few lines of text (for the command line)."""
    if report.sentiment is None and report.complaints is None:
        return "No corrections yet: correct labels on the dashboard's Mentions page first."
    lines = [f"{report.model_version} on {report.corrections} corrected mentions"]
    if report.sentiment is not None:
        m = report.sentiment
        lines.append(
            f"sentiment ({m.n} corrections): accuracy {m.accuracy:.3f}, macro-F1 {m.macro_f1:.3f}"
        )
        lines += _per_class(m)
    if report.complaints is not None:
        c = report.complaints
        lines.append(
            f"complaints ({c.n} verdicts): precision {c.precision:.3f}, recall {c.recall:.3f}, "
            f"F1 {c.f1:.3f} (tp {c.true_positives}, fp {c.false_positives}, "
            f"fn {c.false_negatives}, tn {c.true_negatives})"
        )
    return "\n".join(lines)


def _per_class(m: Metrics) -> list[str]:
    return [
        f"  {label.value:8} precision {c.precision:.3f} recall {c.recall:.3f} "
        f"F1 {c.f1:.3f} (support {c.support})"
        for label, c in m.per_class.items()
    ]
