"""Measure a model per domain: sentiment on every source's held-out fifth, complaints on the labelled set.

Run it as::

    python -m scoring.evaluate_domains [--model DIR] [--split dev|test] [--baseline-model DIR]

* **Sentiment** (``scoring.training_data.held_out_sentiment``): per domain, 3-class
  macro-F1, and positive-vs-negative accuracy from the model's probabilities on the
  texts whose label is positive or negative (the model's P(positive) against its
  P(negative)).
* **Complaints** (``scoring.complaint_data``, DEV for every choice, TEST once): per
  industry and over all, precision, recall and F1 of "complaint", and macro-F1 of
  complaint / not; for the model's kind head, for "negative = complaint" from the same
  model, and for a baseline model with the word rules (the model Goodwill shipped before).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goodwill.models import Sentiment
from scoring.complaint_data import Labelled, load_labelled
from scoring.complaints import detect
from scoring.sentiment import BUNDLED_MODEL, SentimentModel
from scoring.training_data import held_out_sentiment

__all__ = ["BinaryScores", "binary_scores", "complaint_table", "main", "sentiment_table"]

_LABELS = ("negative", "neutral", "positive")


@dataclass(frozen=True)
class BinaryScores:
    """Precision, recall and F1 of the positive class, and macro-F1 of both classes."""

    n: int
    positives: int
    precision: float
    recall: float
    f1: float
    macro_f1: float


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def binary_scores(gold: Sequence[bool], predicted: Sequence[bool]) -> BinaryScores:
    """Scores of ``predicted`` against ``gold`` (True: the positive class)."""
    pairs = list(zip(gold, predicted, strict=True))
    tp = sum(g and p for g, p in pairs)
    fp = sum(p and not g for g, p in pairs)
    fn = sum(g and not p for g, p in pairs)
    tn = len(pairs) - tp - fp - fn
    positive, negative = _f1(tp, fp, fn), _f1(tn, fn, fp)
    return BinaryScores(
        n=len(pairs),
        positives=tp + fn,
        precision=tp / (tp + fp) if tp + fp else 0.0,
        recall=tp / (tp + fn) if tp + fn else 0.0,
        f1=positive,
        macro_f1=(positive + negative) / 2,
    )


def _macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    scores = []
    for label in _LABELS:
        tp = sum(g == label and p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted, strict=True))
        scores.append(_f1(tp, fp, fn))
    return sum(scores) / len(scores)


def sentiment_table(model: SentimentModel) -> list[dict[str, Any]]:
    """Per domain: texts, 3-class macro-F1, positive-vs-negative accuracy."""
    rows = []
    for held in held_out_sentiment():
        predicted = model.predict(held.texts)
        labels = [p.label.value for p in predicted]
        polar = [
            (gold, p.probabilities) for gold, p in zip(held.labels, predicted, strict=True)
            if gold != "neutral"
        ]  # fmt: skip
        right = sum(
            (probs[_key("positive", probs)] > probs[_key("negative", probs)])
            == (gold == "positive")
            for gold, probs in polar
        )
        rows.append(
            {
                "domain": held.domain,
                "texts": len(held.texts),
                "labels": held.counts(),
                "macro_f1": _macro_f1(held.labels, labels),
                "pos_vs_neg_accuracy": right / len(polar) if polar else None,
                "pos_vs_neg_texts": len(polar),
            }
        )
    return rows


def _key(name: str, probabilities: dict[Any, float]) -> Any:
    return next(key for key in probabilities if getattr(key, "value", key) == name)


def _verdicts(model: SentimentModel, items: list[Labelled]) -> list[tuple[Sentiment, bool]]:
    sentiments = model.predict([item.text for item in items])
    return [
        (sentiment, detect(item.text, sentiment).is_complaint)
        for item, sentiment in zip(items, sentiments, strict=True)
    ]


def complaint_table(
    model: SentimentModel, split: str, baseline: SentimentModel | None = None
) -> list[dict[str, Any]]:
    """Per industry and in all: complaint scores of each way of deciding."""
    items = list(load_labelled([split]))  # type: ignore[list-item]  # a checked literal
    ours = _verdicts(model, items)
    theirs = _verdicts(baseline, items) if baseline is not None else None
    groups: dict[str, list[int]] = {"all": list(range(len(items)))}
    for index, item in enumerate(items):
        groups.setdefault(item.industry, []).append(index)
    rows = []
    for name, indexes in sorted(groups.items(), key=lambda kv: (kv[0] != "all", kv[0])):
        gold = [items[i].is_complaint for i in indexes]
        row: dict[str, Any] = {
            "industry": name,
            "model": binary_scores(gold, [ours[i][1] for i in indexes]).__dict__,
            "negative_is_complaint": binary_scores(
                gold, [ours[i][0].label.value == "negative" for i in indexes]
            ).__dict__,
        }
        if theirs is not None:
            row["baseline_rules"] = binary_scores(gold, [theirs[i][1] for i in indexes]).__dict__
        rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    """The command line: prints the tables as JSON."""
    parser = argparse.ArgumentParser(prog="python -m scoring.evaluate_domains")
    parser.add_argument("--model", default=BUNDLED_MODEL)
    parser.add_argument("--baseline-model", type=Path, help="e.g. the previous bundled model")
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--no-sentiment", action="store_true", help="complaints only")
    args = parser.parse_args(argv)
    model = SentimentModel.load(args.model)
    baseline = SentimentModel.load(args.baseline_model) if args.baseline_model else None
    report: dict[str, Any] = {"model": model.version, "split": args.split}
    if baseline is not None:
        report["baseline"] = baseline.version
    report["complaints"] = complaint_table(model, args.split, baseline)
    if not args.no_sentiment:
        report["sentiment"] = sentiment_table(model)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
