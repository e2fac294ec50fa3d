"""How well complaint detection does on hand-labelled real tweets, next to a naive baseline.

``python -m scoring.complaint_eval [--split dev|test]`` joins the labels in
``scoring/data/complaints_labelled.jsonl`` (corpus key, kind, category; labelled
following ``scoring/data/COMPLAINT_GUIDELINES.md``) with the tweets' text read from
the installed corpus, scores them with the bundled sentiment model, and prints, for
one half of the labelled set: precision, recall and F1 of ``is_complaint`` for the
detector and for the naive baseline "every post the model calls negative is a
complaint", the confusion of kinds, the categories of the complaints found, and how
well the score is calibrated.

The halves are fixed by a hash of each key: DEV (rules and weights were written
looking at it) and TEST (never looked at while writing them; report it as it is).
``--fit`` refits the detector's weights on DEV and prints them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from goodwill.corpus import load_airline_tweets
from goodwill.models import Sentiment, SentimentLabel
from scoring.complaints import (
    COMPLAINT_THRESHOLD,
    WEIGHTS,
    ComplaintKind,
    ComplaintVerdict,
    detect,
    signals,
)
from scoring.sentiment import SentimentModel

__all__ = [
    "LABELS_FILE",
    "BinaryMetrics",
    "ComplaintReport",
    "LabelledPost",
    "Split",
    "binary_metrics",
    "evaluate_complaints",
    "fit_weights",
    "format_report",
    "load_labelled",
    "main",
    "split_of_key",
]

#: The hand labels: one JSON object a line, ``{"key", "kind", "category", "note"?}``.
LABELS_FILE = Path(__file__).resolve().parent / "data" / "complaints_labelled.jsonl"

Split = Literal["dev", "test"]
_KINDS: tuple[ComplaintKind, ...] = get_args(ComplaintKind)


def split_of_key(key: str) -> Split:
    """Which half a labelled tweet is in: TEST when a salted hash of its key is odd."""
    digest = hashlib.sha256(("complaints:" + key).encode("utf-8")).hexdigest()
    return "test" if int(digest[:8], 16) % 2 == 1 else "dev"


@dataclass(frozen=True)
class LabelledPost:
    """One hand-labelled tweet, its text joined from the corpus by key."""

    key: str
    text: str
    kind: ComplaintKind
    category: str | None
    note: str | None

    @property
    def is_complaint(self) -> bool:
        """Whether the label says complaint."""
        return self.kind == "complaint"


def load_labelled(split: Split | None = None, path: Path = LABELS_FILE) -> list[LabelledPost]:
    """The labelled tweets of one half (or all), with their text from the installed corpus.

    Raises:
        ValueError: A line of the labels file is malformed, or names a key that is
            not in the corpus's held-out side.
    """
    texts = {t.key: t.text for t in load_airline_tweets("held_out")}
    posts: list[LabelledPost] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        key, kind = row.get("key"), row.get("kind")
        if key not in texts:
            raise ValueError(f"{path}:{number}: key {key!r} is not a held-out corpus tweet")
        if kind not in _KINDS:
            raise ValueError(f"{path}:{number}: kind {kind!r} is not one of {_KINDS}")
        if (kind == "complaint") != (row.get("category") is not None):
            raise ValueError(f"{path}:{number}: a category is given for complaints only")
        if split is None or split_of_key(key) == split:
            posts.append(LabelledPost(key, texts[key], kind, row.get("category"), row.get("note")))
    return posts


@dataclass(frozen=True)
class BinaryMetrics:
    """Precision, recall and F1 of "is a complaint"."""

    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int
    n: int


def binary_metrics(gold: Sequence[bool], predicted: Sequence[bool]) -> BinaryMetrics:
    """Precision, recall and F1 of the positive class."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    pairs = list(zip(gold, predicted, strict=True))
    tp = sum(g and p for g, p in pairs)
    fp = sum(p and not g for g, p in pairs)
    fn = sum(g and not p for g, p in pairs)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return BinaryMetrics(precision, recall, f1, tp, fp, fn, len(pairs))


@dataclass(frozen=True)
class ComplaintReport:
    """The detector and the baseline on one half of the labelled tweets, in one run."""

    split: Split
    posts: list[LabelledPost]
    verdicts: list[ComplaintVerdict]
    baseline: list[bool]
    detector_metrics: BinaryMetrics
    baseline_metrics: BinaryMetrics
    kinds: Counter[tuple[str, str]]  # (gold kind, predicted kind) -> count
    texts_per_second: float
    model_version: str


def evaluate_complaints(model: SentimentModel, split: Split) -> ComplaintReport:
    """Score the detector and the naive baseline on one half, with the real model's sentiments."""
    posts = load_labelled(split)
    sentiments = model.predict([p.text for p in posts])
    pairs = list(zip([p.text for p in posts], sentiments, strict=True))
    verdicts = [detect(text, s) for text, s in pairs]
    # Throughput of detect() alone, in steady state: passes over the same posts for at
    # least half a second (the first pass above also warmed the caches).
    passes, started = 0, time.perf_counter()
    while (seconds := time.perf_counter() - started) < 0.5:
        for text, s in pairs:
            detect(text, s)
        passes += 1
    gold = [p.is_complaint for p in posts]
    baseline = [s.label is SentimentLabel.NEGATIVE for s in sentiments]
    return ComplaintReport(
        split=split,
        posts=posts,
        verdicts=verdicts,
        baseline=baseline,
        detector_metrics=binary_metrics(gold, [v.is_complaint for v in verdicts]),
        baseline_metrics=binary_metrics(gold, baseline),
        kinds=Counter((p.kind, v.kind) for p, v in zip(posts, verdicts, strict=True)),
        texts_per_second=passes * len(posts) / seconds,
        model_version=model.version,
    )


def format_report(report: ComplaintReport, errors: bool = False) -> str:
    """The report as Markdown tables; with ``errors``, the misjudged tweets too."""
    gold_counts = Counter(p.kind for p in report.posts)
    lines = [
        f"{report.split.upper()} half: {len(report.posts)} hand-labelled tweets ("
        + ", ".join(f"{gold_counts[k]} {k}" for k in _KINDS)
        + f"); sentiments from `{report.model_version}`; threshold {COMPLAINT_THRESHOLD}.",
        "",
        "| is_complaint | precision | recall | F1 | TP | FP | FN |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in (
        ("detector (`scoring.complaints.detect`)", report.detector_metrics),
        ("baseline: sentiment == negative", report.baseline_metrics),
    ):
        lines.append(
            f"| {name} | {m.precision:.3f} | {m.recall:.3f} | {m.f1:.3f} | {m.tp} | {m.fp} | {m.fn} |"
        )
    lines += [
        "",
        "Kinds (rows: label, columns: detector):",
        "",
        "| | " + " | ".join(_KINDS) + " |",
        "|---" * (len(_KINDS) + 1) + "|",
    ]
    for gold in _KINDS:
        row = " | ".join(str(report.kinds[(gold, predicted)]) for predicted in _KINDS)
        lines.append(f"| **{gold}** | {row} |")
    found = [
        (p, v)
        for p, v in zip(report.posts, report.verdicts, strict=True)
        if p.is_complaint and v.is_complaint
    ]
    same = sum(p.category == v.category for p, v in found)
    lines += [
        "",
        f"Category of the complaints found: {same} of {len(found)} as labelled"
        + (f" ({same / len(found):.0%})." if found else "."),
        "",
        "Calibration (score bin: tweets, share labelled complaint):",
        "",
        "| score | tweets | complaints |",
        "|---|---|---|",
    ]
    for low in (0.0, 0.2, 0.4, 0.6, 0.8):
        members = [
            p
            for p, v in zip(report.posts, report.verdicts, strict=True)
            if low <= v.score < low + 0.2 or (low == 0.8 and v.score >= 1.0)
        ]
        share = f"{sum(p.is_complaint for p in members) / len(members):.2f}" if members else "-"
        lines.append(f"| {low:.1f}-{low + 0.2:.1f} | {len(members)} | {share} |")
    lines += ["", f"detect() alone: {report.texts_per_second:,.0f} texts/s (one thread)."]
    if errors:
        lines += ["", "Misjudged (label -> detector):", ""]
        for p, v in zip(report.posts, report.verdicts, strict=True):
            if p.is_complaint != v.is_complaint:
                lines.append(
                    f"- {p.kind}/{p.category or '-'} -> {v.kind}/{v.category or '-'} "
                    f"({v.score:.2f}): {p.text}"
                )
    return "\n".join(lines)


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Solve ``matrix @ x = vector`` by Gaussian elimination with partial pivoting."""
    n = len(vector)
    a = [[*row, vector[i]] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        a[col], a[pivot] = a[pivot], a[col]
        for r in range(col + 1, n):
            factor = a[r][col] / a[col][col]
            for c in range(col, n + 1):
                a[r][c] -= factor * a[col][c]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (a[r][n] - sum(a[r][c] * x[c] for c in range(r + 1, n))) / a[r][r]
    return x


def fit_weights(
    posts: Sequence[LabelledPost], sentiments: Sequence[Sentiment | None], l2: float = 1.0
) -> dict[str, float]:
    """Logistic-regression weights for the detector's signals (L2 on all but the bias).

    Newton's method on ``is_complaint`` against :func:`scoring.complaints.signals`.
    """
    rows = [signals(p.text, s) for p, s in zip(posts, sentiments, strict=True)]
    names = ["bias", *rows[0]]
    xs = [[1.0, *row.values()] for row in rows]
    ys = [1.0 if p.is_complaint else 0.0 for p in posts]
    w = [0.0] * len(names)
    for _ in range(50):
        gradient = [(l2 * w[j] if j else 0.0) for j in range(len(w))]
        hessian = [[(l2 if i == j and i else 0.0) for j in range(len(w))] for i in range(len(w))]
        for x, y in zip(xs, ys, strict=True):
            p = 1.0 / (1.0 + math.exp(-sum(a * b for a, b in zip(w, x, strict=True))))
            for i in range(len(w)):
                gradient[i] += (p - y) * x[i]
                for j in range(len(w)):
                    hessian[i][j] += p * (1 - p) * x[i] * x[j]
        for i in range(len(w)):
            hessian[i][i] += 1e-9
        step = _solve(hessian, gradient)
        w = [a - b for a, b in zip(w, step, strict=True)]
        if max(abs(s) for s in step) < 1e-8:
            break
    return dict(zip(names, w, strict=True))


def main(argv: Sequence[str] | None = None) -> int:
    """The ``python -m scoring.complaint_eval`` command line."""
    parser = argparse.ArgumentParser(
        prog="python -m scoring.complaint_eval", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--split", choices=get_args(Split), default="dev")
    parser.add_argument(
        "--errors", action="store_true", help="list the misjudged tweets (their text is printed)"
    )
    parser.add_argument(
        "--fit", action="store_true", help="refit the weights on DEV and print them next to WEIGHTS"
    )
    args = parser.parse_args(argv)
    model = SentimentModel.load()
    if args.fit:
        dev = load_labelled("dev")
        fitted = fit_weights(dev, model.predict([p.text for p in dev]))
        print("| signal | fitted on DEV | in WEIGHTS |\n|---|---|---|")
        for name, value in fitted.items():
            print(f"| {name} | {value:+.2f} | {WEIGHTS.get(name, float('nan')):+.2f} |")
        return 0
    print(format_report(evaluate_complaints(model, args.split), errors=args.errors))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
