"""Measure a model per domain: sentiment on every source's held-out fifth, complaints on the labelled set.

Run it as::

    python -m scoring.evaluate_domains [--model DIR] [--split dev|test] [--baseline-model DIR]

* **Sentiment** (``scoring.training_data.held_out_sentiment``): per domain of each
  tweet source (its DEV tenth with ``--split dev``, its held-out fifth with ``--split
  test``) and per industry of the labelled set's split, 3-class macro-F1, and
  positive-vs-negative accuracy from the model's probabilities on the texts whose
  label is positive or negative (the model's P(positive) against its P(negative)).
* **Complaints** (``scoring.complaint_data``, DEV for every choice, TEST once): per
  industry and over all, precision, recall and F1 of "complaint", and macro-F1 of
  complaint / not; for the model's kind head, for "negative = complaint" from the same
  model, and for a baseline model with the word rules (the model Goodwill shipped before).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goodwill.models import Sentiment
from scoring.complaint_data import Labelled, load_labelled
from scoring.complaints import detect
from scoring.sentiment import BUNDLED_MODEL, SentimentModel
from scoring.train import CARD_FILE, DOMAINS_END, DOMAINS_START
from scoring.training_data import held_out_sentiment

__all__ = [
    "BinaryScores",
    "binary_scores",
    "complaint_table",
    "labelled_sentiment_table",
    "main",
    "markdown",
    "sentiment_table",
    "threshold_sweep",
    "update_model_card",
]

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


def _by_industry(items: Sequence[Labelled]) -> list[tuple[str, list[int]]]:
    """The items' positions, in all ("all", first) and per industry (by name)."""
    groups: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault(item.industry, []).append(index)
    return [("all", list(range(len(items)))), *sorted(groups.items())]


def _sentiment_row(
    domain: str, gold: list[str], predicted: list[Sentiment], baseline: list[Sentiment] | None
) -> dict[str, Any]:
    polar = [i for i, label in enumerate(gold) if label != "neutral"]

    def pos_vs_neg(found: list[Sentiment]) -> float | None:
        if not polar:
            return None
        right = 0
        for i in polar:
            probs = found[i].probabilities
            right += (probs[_key("positive", probs)] > probs[_key("negative", probs)]) == (
                gold[i] == "positive"
            )
        return right / len(polar)

    row: dict[str, Any] = {
        "domain": domain,
        "texts": len(gold),
        "labels": dict(Counter(gold)),
        "macro_f1": _macro_f1(gold, [p.label.value for p in predicted]),
        "pos_vs_neg_accuracy": pos_vs_neg(predicted),
        "pos_vs_neg_texts": len(polar),
    }
    if baseline is not None:
        row["baseline_macro_f1"] = _macro_f1(gold, [p.label.value for p in baseline])
        row["baseline_pos_vs_neg_accuracy"] = pos_vs_neg(baseline)
    return row


def sentiment_table(
    model: SentimentModel, baseline: SentimentModel | None = None, split: str = "test"
) -> list[dict[str, Any]]:
    """Per domain of each tweet source: texts, 3-class macro-F1, pos-vs-neg accuracy.

    ``test``: each source's held-out fifth; ``dev``: the tenth of the rest set aside
    for choices (``scoring.training_data.sentiment_split``).
    """
    rows = []
    for held in held_out_sentiment(split="dev" if split == "dev" else "held_out"):
        theirs = baseline.predict(held.texts) if baseline is not None else None
        rows.append(_sentiment_row(held.domain, held.labels, model.predict(held.texts), theirs))
    return rows


def labelled_sentiment_table(
    model: SentimentModel, split: str, baseline: SentimentModel | None = None
) -> list[dict[str, Any]]:
    """The same on the labelled set's split, per industry (texts whose readings agreed)."""
    items = [
        item
        for item in load_labelled([split])  # type: ignore[list-item]  # a checked literal
        if item.sentiment_agreed
    ]
    ours = model.predict([item.text for item in items])
    theirs = baseline.predict([item.text for item in items]) if baseline is not None else None
    rows = []
    for name, indexes in _by_industry(items):
        rows.append(
            _sentiment_row(
                name,
                [items[i].sentiment for i in indexes],
                [ours[i] for i in indexes],
                [theirs[i] for i in indexes] if theirs is not None else None,
            )
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
    rows = []
    for name, indexes in _by_industry(items):
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


def threshold_sweep(model: SentimentModel, split: str = "dev") -> list[dict[str, Any]]:
    """Complaint scores on ``split`` at each threshold of the kind head's P(complaint).

    For choosing ``scoring.complaints.MODEL_COMPLAINT_THRESHOLD`` on DEV.
    """
    if not model.has_kind_head:
        raise ValueError(f"{model.version} has no kind head: there is no threshold to choose")
    items = list(load_labelled([split]))  # type: ignore[list-item]  # a checked literal
    gold = [item.is_complaint for item in items]
    found = model.predict([item.text for item in items])
    p = [(s.kinds or {}).get("complaint", 0.0) for s in found]
    rows = []
    for step in range(1, 20):
        threshold = step / 20
        scores = binary_scores(gold, [value >= threshold for value in p])
        rows.append({"threshold": threshold, **scores.__dict__})
    return rows


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def markdown(report: dict[str, Any]) -> str:
    """The report's tables in Markdown (for the model card and the README)."""
    split = report["split"].upper()
    has_base = "baseline" in report
    base = f" (baseline `{report['baseline']}`)" if has_base else ""
    out = [
        f"Measured with `python -m scoring.evaluate_domains --split {report['split']}`: "
        f"`{report['model']}`{base}.",
        "",
        f'**Complaints**, labelled set {split}: precision / recall / F1 of "complaint", '
        "and macro-F1 of complaint / not.",
        "",
        "| industry | texts | complaints | model P / R / F1 | model macro-F1 | "
        "negative = complaint, macro-F1"
        + (" | previous model + rules, macro-F1 |" if has_base else " |"),
        "|---|---:|---:|---|---:|---:|" + ("---:|" if has_base else ""),
    ]
    for row in report["complaints"]:
        m, n = row["model"], row["negative_is_complaint"]
        line = (
            f"| {row['industry']} | {m['n']} | {m['positives']} | {_pct(m['precision'])} / "
            f"{_pct(m['recall'])} / {_pct(m['f1'])} | **{_pct(m['macro_f1'])}** | "
            f"{_pct(n['macro_f1'])} |"
        )
        if has_base:
            line += f" {_pct(row['baseline_rules']['macro_f1'])} |"
        out.append(line)
    for key, title in (
        ("labelled_sentiment", f"**Sentiment**, labelled set {split}, per industry"),
        (
            "sentiment",
            "**Sentiment**, "
            + ("the DEV tenth" if report["split"] == "dev" else "the held-out fifth")
            + " of each tweet source, per domain",
        ),
    ):
        if key not in report:
            continue
        out += [
            "",
            f"{title}: 3-class macro-F1, and positive-vs-negative accuracy from the model's "
            "probabilities on the texts labelled positive or negative.",
            "",
            "| domain | texts | macro-F1 | pos vs neg |"
            + (" previous macro-F1 | previous pos vs neg |" if has_base else ""),
            "|---|---:|---:|---:|" + ("---:|---:|" if has_base else ""),
        ]
        for row in report[key]:
            line = (
                f"| {row['domain']} | {row['texts']} | **{_pct(row['macro_f1'])}** | "
                f"{_pct(row['pos_vs_neg_accuracy'])} |"
            )
            if has_base:
                line += (
                    f" {_pct(row.get('baseline_macro_f1'))} | "
                    f"{_pct(row.get('baseline_pos_vs_neg_accuracy'))} |"
                )
            out.append(line)
    return "\n".join(out)


def update_model_card(card: Path, report: dict[str, Any]) -> None:
    """Write the report's tables between the card's per-domain markers."""
    text = card.read_text(encoding="utf-8")
    start, end = text.find(DOMAINS_START), text.find(DOMAINS_END)
    if start < 0 or end < start:
        raise ValueError(f"{card}: no {DOMAINS_START} ... {DOMAINS_END} section to fill")
    filled = f"{DOMAINS_START}\n{markdown(report)}\n"
    card.write_text(text[:start] + filled + text[end:], encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    """The command line: prints the tables as JSON (or Markdown)."""
    parser = argparse.ArgumentParser(prog="python -m scoring.evaluate_domains")
    parser.add_argument("--model", default=BUNDLED_MODEL)
    parser.add_argument("--baseline-model", type=Path, help="e.g. the previous bundled model")
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--no-sentiment", action="store_true", help="complaints only")
    parser.add_argument(
        "--sweep", action="store_true", help="complaint scores per threshold of P(complaint)"
    )
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument(
        "--update-card", action="store_true", help="write the tables into the model's card"
    )
    args = parser.parse_args(argv)
    model = SentimentModel.load(args.model)
    if args.sweep:
        print(json.dumps(threshold_sweep(model, args.split), indent=2))
        return
    baseline = SentimentModel.load(args.baseline_model) if args.baseline_model else None
    report: dict[str, Any] = {"model": model.version, "split": args.split}
    if baseline is not None:
        report["baseline"] = baseline.version
    report["complaints"] = complaint_table(model, args.split, baseline)
    if not args.no_sentiment:
        report["labelled_sentiment"] = labelled_sentiment_table(model, args.split, baseline)
        report["sentiment"] = sentiment_table(model, baseline, args.split)
    if args.update_card:
        update_model_card(model.directory / CARD_FILE, report)
    print(markdown(report) if args.markdown else json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
