"""The advocacy score: how much one person loves (or hates) one brand, from -100 to 100.

Pure arithmetic, no database: the scorer (incrementally, after each batch), the full
recompute (``goodwill profiles recompute``), the benchmark's naive baseline and the
score history all call these functions, so they all give the same numbers.

The formula, for one profile and one brand, over the person's *scored* mentions of
the brand (mentions skipped as another language count in the profile's mention
count, never here):

1. **Signal of a mention** ``s = P(positive) - P(negative)`` from the model's
   probabilities, minus ``0.5`` when the mention is a complaint, clamped to [-1, 1].
2. **Recency weight** ``w = 0.5 ** (age_days / half_life_days)``: a mention counts
   half as much every ``half_life_days`` (default 90). Age is measured to ``as_of``,
   the *end of the current UTC day* (next midnight), never negative; so every
   computation made on the same day agrees to the last digit.
3. **Love** ``love = sum(w * s) / (sum(w) + prior)``: a weighted mean, smoothed
   towards neutral by ``prior`` (default 2) pseudo-mentions of signal 0, so one
   enthusiastic post does not make an advocate.
4. **Reach factor** ``reach_factor = min(1, log10(1 + reach) / 6)`` where ``reach``
   is the most followers known over the person's accounts (a million followers
   gives 1).
5. **Score** ``score = 100 * love * (0.5 + 0.5 * reach_factor)``, rounded to two
   decimals: reach amplifies love (up to double), it never changes its sign.
6. **Tier** ``advocate`` when ``score >= advocate_threshold`` (default 20),
   ``detractor`` when ``score <= detractor_threshold`` (default -20), else ``neutral``.

Worked example (defaults; ``as_of`` = 2026-11-25 00:00 UTC), a person with 9,999
followers who wrote three posts about a brand:

=========================  =====  =====  =======================  ======  ======
post                        P(+)   P(-)   signal s                 age d   w
=========================  =====  =====  =======================  ======  ======
"love the new app"          0.90   0.05   0.85                       0     1
"great crew today"          0.80   0.10   0.70                      90     0.5
"lost my bag" (complaint)   0.10   0.80   -0.70 - 0.5 -> -1.00     180     0.25
=========================  =====  =====  =======================  ======  ======

* ``sum(w * s) = 0.85 + 0.35 - 0.25 = 0.95``; ``sum(w) = 1.75``
* ``love = 0.95 / (1.75 + 2) = 0.2533``
* ``reach_factor = log10(10,000) / 6 = 0.6667``
* ``score = 100 * 0.2533 * (0.5 + 0.5 * 0.6667) = 21.11`` -> **advocate** (>= 20)

Sums use ``math.fsum`` semantics (exactly rounded, whatever the order the mentions
come in), so a streamed recompute and a per-person query give identical scores.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from config.settings import Settings

__all__ = [
    "Advocacy",
    "AdvocacyParams",
    "AdvocacyTally",
    "ExactSum",
    "add_exact",
    "as_of_for",
    "compute",
    "mention_signal",
    "reach_factor",
    "recency_weight",
    "result_of",
    "signal_of",
    "tier_for",
]

_SECONDS_PER_DAY = 86_400.0
COMPLAINT_PENALTY = 0.5


@dataclass(frozen=True)
class AdvocacyParams:
    """The formula's knobs (see the module docstring); defaults match ``Settings``."""

    advocate_threshold: float = 20.0
    detractor_threshold: float = -20.0
    half_life_days: float = 90.0
    prior: float = 2.0

    def __post_init__(self) -> None:
        if self.half_life_days <= 0:
            raise ValueError(f"half_life_days must be positive; got {self.half_life_days}.")
        if self.prior < 0:
            raise ValueError(f"prior must be 0 or more; got {self.prior}.")
        if self.detractor_threshold >= self.advocate_threshold:
            raise ValueError(
                "detractor_threshold must be below advocate_threshold; got "
                f"{self.detractor_threshold} and {self.advocate_threshold}."
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> AdvocacyParams:
        """The parameters a deployment configured (GOODWILL_ADVOCATE_THRESHOLD, ...)."""
        return cls(
            advocate_threshold=settings.advocate_threshold,
            detractor_threshold=settings.detractor_threshold,
            half_life_days=settings.advocacy_half_life_days,
            prior=settings.advocacy_prior,
        )


@dataclass(frozen=True)
class Advocacy:
    """One profile's standing with one brand."""

    score: float
    tier: str
    love: float
    reach_factor: float


def as_of_for(moment: datetime) -> datetime:
    """The end of ``moment``'s UTC day (the next midnight): the instant scores are aged to."""
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(days=1)


def mention_signal(probabilities: Mapping[str, float], is_complaint: bool) -> float:
    """``P(positive) - P(negative)``, minus 0.5 for a complaint, clamped to [-1, 1]."""
    signal = float(probabilities.get("positive", 0.0)) - float(probabilities.get("negative", 0.0))
    if is_complaint:
        signal -= COMPLAINT_PENALTY
    return max(-1.0, min(1.0, signal))


def recency_weight(created_at: datetime, as_of: datetime, half_life_days: float) -> float:
    """``0.5 ** (age_days / half_life_days)``, age to ``as_of`` and never negative."""
    age_days = max(0.0, (as_of - created_at).total_seconds() / _SECONDS_PER_DAY)
    return float(0.5 ** (age_days / half_life_days))


def reach_factor(reach: int | None) -> float:
    """``min(1, log10(1 + reach) / 6)``: 0 for nobody, 1 from a million followers."""
    return min(1.0, math.log10(1 + max(0, reach or 0)) / 6)


def tier_for(score: float, params: AdvocacyParams) -> str:
    """``advocate``, ``detractor`` or ``neutral`` by the thresholds (inclusive)."""
    if score >= params.advocate_threshold:
        return "advocate"
    if score <= params.detractor_threshold:
        return "detractor"
    return "neutral"


def result_of(
    weighted: float, weights: float, reach: int | None, params: AdvocacyParams
) -> Advocacy:
    """The advocacy from ``sum(w * s)`` and ``sum(w)`` (steps 3 to 6 of the formula)."""
    denominator = weights + params.prior
    love = weighted / denominator if denominator > 0 else 0.0
    factor = reach_factor(reach)
    score = round(100 * love * (0.5 + 0.5 * factor), 2) + 0.0  # + 0.0: no "-0.0"
    return Advocacy(score=score, tier=tier_for(score, params), love=love, reach_factor=factor)


def compute(
    mentions: Iterable[tuple[datetime, float]],
    reach: int | None,
    as_of: datetime,
    params: AdvocacyParams,
) -> Advocacy:
    """The advocacy of ``(created_at, signal)`` pairs for a person with ``reach`` followers."""
    tally = AdvocacyTally(as_of, params)
    for created_at, signal in mentions:
        tally.add(created_at, signal)
    return tally.result(reach)


def add_exact(partials: list[float], x: float) -> None:
    """Add ``x`` to the exact sum held in ``partials`` (see ``ExactSum``); ``math.fsum`` reads it."""
    kept = 0
    for y in partials:
        if abs(x) < abs(y):
            x, y = y, x
        high = x + y
        low = y - (high - x)
        if low:
            partials[kept] = low
            kept += 1
        x = high
    del partials[kept:]
    partials.append(x)


class ExactSum:
    """A running sum with no rounding error: ``value()`` equals ``math.fsum`` of every term.

    Keeps the exact sum as a few non-overlapping floats (Shewchuk's partials, the
    algorithm behind ``math.fsum``), so a full recompute streaming a million mentions
    needs a few floats per profile instead of every term, and the order the terms
    arrive in never changes the result.
    """

    __slots__ = ("_partials",)

    def __init__(self) -> None:
        self._partials: list[float] = []

    def add(self, x: float) -> None:
        """Add one term."""
        add_exact(self._partials, x)

    def value(self) -> float:
        """The exact sum, rounded once to the nearest float."""
        return math.fsum(self._partials)


class AdvocacyTally:
    """Accumulates one profile x brand's mentions, in any order, for one ``as_of``."""

    __slots__ = ("_weighted", "_weights", "as_of", "params")

    def __init__(self, as_of: datetime, params: AdvocacyParams) -> None:
        self.as_of = as_of
        self.params = params
        self._weighted = ExactSum()
        self._weights = ExactSum()

    def add(self, created_at: datetime, signal: float) -> None:
        """Count one scored mention."""
        weight = recency_weight(created_at, self.as_of, self.params.half_life_days)
        self._weighted.add(weight * signal)
        self._weights.add(weight)

    def result(self, reach: int | None) -> Advocacy:
        """The advocacy so far, for a person with ``reach`` followers."""
        return result_of(self._weighted.value(), self._weights.value(), reach, self.params)


def signal_of(mention: Mapping[str, Any]) -> float | None:
    """The signal of a mention document, or ``None`` when it has no sentiment (not scored).

    What the mention counts as (``counted``: a person's correction where there is one)
    decides: a sentiment a person gave is certain (probability 1), and so is their
    complaint verdict.
    """
    sentiment = mention.get("sentiment") or {}
    probabilities = sentiment.get("probabilities")
    counted = mention.get("counted") or {}
    label = counted.get("label")
    if label in ("negative", "neutral", "positive") and label != sentiment.get("label"):
        probabilities = {name: float(name == label) for name in ("negative", "neutral", "positive")}
    if not probabilities or label == "unscored":
        return None
    complaint = mention.get("complaint") or {}
    flag = counted.get("complaint") if "complaint" in counted else complaint.get("is_complaint")
    return mention_signal(probabilities, bool(flag))
