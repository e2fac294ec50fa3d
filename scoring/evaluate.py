"""How well a sentiment model does: accuracy, macro-F1, per-class scores, confusion.

``python -m scoring.evaluate`` scores the bundled model on the held-out side of the
corpus split (never used for training or for any choice) next to two baselines
measured in the same run: always answering the TRAIN side's majority class, and a
small word-list lexicon written by hand (not tuned on any split). With
``--update-card`` it writes the figures into the model's MODEL_CARD.md.
"""

from __future__ import annotations

import argparse
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from goodwill.corpus import load_airline_tweets
from goodwill.models import SentimentLabel
from scoring.sentiment import BUNDLED_MODEL, SentimentModel
from scoring.train import CARD_FILE, HELD_OUT_END, HELD_OUT_START

__all__ = [
    "ClassMetrics",
    "HeldOutReport",
    "LexiconBaseline",
    "Metrics",
    "evaluate",
    "evaluate_held_out",
    "format_report",
    "main",
    "metrics_from_predictions",
    "update_model_card",
]

_LABELS = list(SentimentLabel)


@dataclass(frozen=True)
class ClassMetrics:
    """Precision, recall and F1 of one class, over ``support`` texts that truly have it."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Metrics:
    """Scores of predictions against gold labels.

    ``confusion[i][j]`` counts texts of gold class ``labels[i]`` predicted as
    ``labels[j]`` (rows: truth, columns: prediction).
    """

    accuracy: float
    macro_f1: float
    per_class: dict[SentimentLabel, ClassMetrics]
    confusion: list[list[int]]
    labels: list[SentimentLabel]
    n: int


def metrics_from_predictions(
    gold: Sequence[SentimentLabel], predicted: Sequence[SentimentLabel]
) -> Metrics:
    """Accuracy, macro-F1 (unweighted mean over the three classes), per class, confusion."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    if not gold:
        raise ValueError("no examples to evaluate on")
    index = {label: i for i, label in enumerate(_LABELS)}
    confusion = [[0] * len(_LABELS) for _ in _LABELS]
    for g, p in zip(gold, predicted, strict=True):
        confusion[index[g]][index[p]] += 1
    per_class: dict[SentimentLabel, ClassMetrics] = {}
    for k, label in enumerate(_LABELS):
        tp = confusion[k][k]
        predicted_k = sum(row[k] for row in confusion)
        support = sum(confusion[k])
        precision = tp / predicted_k if predicted_k else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = ClassMetrics(precision, recall, f1, support)
    correct = sum(confusion[k][k] for k in range(len(_LABELS)))
    return Metrics(
        accuracy=correct / len(gold),
        macro_f1=sum(m.f1 for m in per_class.values()) / len(per_class),
        per_class=per_class,
        confusion=confusion,
        labels=list(_LABELS),
        n=len(gold),
    )


def evaluate(
    model: SentimentModel,
    texts: Sequence[str],
    labels: Sequence[SentimentLabel],
    batch_size: int = 32,
) -> Metrics:
    """Score ``model`` on ``texts`` against their gold ``labels``."""
    predictions = model.predict(texts, batch_size=batch_size)
    return metrics_from_predictions(labels, [p.label for p in predictions])


class LexiconBaseline:
    """A hand-written word-list classifier: (positive words - negative words) decides.

    The lists were written from general knowledge of customer-service talk, not
    tuned on any split; it is here to show what the model adds over counting words.
    """

    # A word list reads best as one string, hence str.split() (ruff's SIM905).
    POSITIVE = frozenset(
        "thanks thank thx ty love loved loving great awesome amazing excellent best "  # noqa: SIM905
        "wonderful fantastic good nice happy glad appreciate appreciated kudos perfect "
        "helpful friendly smooth enjoy enjoyed pleasant impressed beautiful cool yay "
        "favorite favourite brilliant superb".split()
    )
    NEGATIVE = frozenset(
        "delayed delay delays cancelled canceled cancel cancellation lost worst bad "  # noqa: SIM905
        "terrible horrible awful rude never hate hated disappointed disappointing "
        "angry upset stuck late missed miss broken refund waiting waited wait hold "
        "ridiculous unacceptable poor fail failed fails sucks suck useless nothing "
        "problem issue issues complaint frustrated frustrating annoyed nightmare "
        "joke disgusted mess why no not".split()
    )
    _WORD = re.compile(r"[a-z']+")

    def predict_one(self, text: str) -> SentimentLabel:
        """The label of one text."""
        words = self._WORD.findall(text.lower())
        score = sum(w in self.POSITIVE for w in words) - sum(w in self.NEGATIVE for w in words)
        if score > 0:
            return SentimentLabel.POSITIVE
        if score < 0:
            return SentimentLabel.NEGATIVE
        return SentimentLabel.NEUTRAL

    def predict(self, texts: Sequence[str]) -> list[SentimentLabel]:
        """The label of each text, in order."""
        return [self.predict_one(text) for text in texts]


@dataclass(frozen=True)
class HeldOutReport:
    """The model and the baselines, scored on the held-out split in one run."""

    model_version: str
    model: Metrics
    majority_label: SentimentLabel
    majority: Metrics
    lexicon: Metrics
    seconds: float
    threads: int


def evaluate_held_out(model: SentimentModel, batch_size: int = 32) -> HeldOutReport:
    """Score ``model`` and the baselines on the held-out side of the corpus split.

    The majority class is taken from the TRAIN side, so nothing about the held-out
    side informs any prediction.
    """
    held_out = list(load_airline_tweets("held_out"))
    texts = [t.text for t in held_out]
    gold = [t.label for t in held_out]
    majority_label = Counter(t.label for t in load_airline_tweets("train")).most_common(1)[0][0]
    started = time.perf_counter()
    model_metrics = evaluate(model, texts, gold, batch_size=batch_size)
    seconds = time.perf_counter() - started
    return HeldOutReport(
        model_version=model.version,
        model=model_metrics,
        majority_label=majority_label,
        majority=metrics_from_predictions(gold, [majority_label] * len(gold)),
        lexicon=metrics_from_predictions(gold, LexiconBaseline().predict(texts)),
        seconds=seconds,
        threads=torch.get_num_threads(),
    )


def format_report(report: HeldOutReport) -> str:
    """The report as Markdown tables (printed by the CLI, written into the model card)."""
    rows = [
        (f"`{report.model_version}`", report.model),
        (f"baseline: always `{report.majority_label.value}` (TRAIN's majority)", report.majority),
        ("baseline: hand-written word lists", report.lexicon),
    ]
    lines = [
        f"Held-out split: {report.model.n} tweets ("
        + ", ".join(f"{m.support} {label.value}" for label, m in report.model.per_class.items())
        + "). The model scored them in fp32 on the CPU, sorted and batched by 32.",
        "",
        "| model | accuracy | macro-F1 | F1 negative | F1 neutral | F1 positive |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in rows:
        f1s = " | ".join(f"{m.per_class[label].f1:.3f}" for label in m.labels)
        lines.append(f"| {name} | {m.accuracy:.3f} | {m.macro_f1:.3f} | {f1s} |")
    m = report.model
    lines += [
        "",
        "Per class, for the model:",
        "",
        "| class | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for label, c in m.per_class.items():
        lines.append(
            f"| {label.value} | {c.precision:.3f} | {c.recall:.3f} | {c.f1:.3f} | {c.support} |"
        )
    lines += [
        "",
        "Confusion (rows: truth, columns: the model's label):",
        "",
        "| | " + " | ".join(label.value for label in m.labels) + " |",
        "|---" * (len(m.labels) + 1) + "|",
    ]
    for label, row in zip(m.labels, m.confusion, strict=True):
        lines.append(f"| **{label.value}** | " + " | ".join(str(n) for n in row) + " |")
    return "\n".join(lines)


def update_model_card(card: Path, report: HeldOutReport) -> None:
    """Replace the held-out section of a MODEL_CARD.md with ``report``'s figures."""
    text = card.read_text(encoding="utf-8")
    start, end = text.find(HELD_OUT_START), text.find(HELD_OUT_END)
    if start < 0 or end < start:
        raise ValueError(f"{card}: no {HELD_OUT_START} ... {HELD_OUT_END} section to fill")
    body = (
        f"{HELD_OUT_START}\nMeasured with `python -m scoring.evaluate --update-card`.\n\n"
        f"{format_report(report)}\n"
    )
    card.write_text(text[:start] + body + text[end:], encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """The ``python -m scoring.evaluate`` command line."""
    parser = argparse.ArgumentParser(
        prog="python -m scoring.evaluate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--model", default=BUNDLED_MODEL, help=f"model directory (default: {BUNDLED_MODEL})"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--update-card", action="store_true", help="write the figures into the model's card"
    )
    args = parser.parse_args(argv)
    model = SentimentModel.load(args.model)
    report = evaluate_held_out(model, batch_size=args.batch_size)
    print(format_report(report))
    print(
        f"\nThe model took {report.seconds:.1f} s on {report.threads} torch threads "
        f"({report.model.n / report.seconds:.0f} texts/s)."
    )
    if args.update_card:
        update_model_card(model.directory / CARD_FILE, report)
        print(f"\nwrote the figures into {model.directory / CARD_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
