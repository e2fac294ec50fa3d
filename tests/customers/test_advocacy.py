"""The advocacy formula: the documented worked example, tiers, smoothing and exact sums."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from config.settings import load_settings
from customers.advocacy import (
    AdvocacyParams,
    ExactSum,
    as_of_for,
    compute,
    mention_signal,
    reach_factor,
    recency_weight,
    signal_of,
    tier_for,
)

AS_OF = datetime(2026, 11, 25, tzinfo=UTC)
DEFAULTS = AdvocacyParams()


def test_the_worked_example_of_the_docstring_gives_21_11_and_an_advocate() -> None:
    """Three posts (0, 90, 180 days old; one a complaint) by someone with 9,999 followers score 21.11."""
    mentions = [
        (AS_OF, mention_signal({"positive": 0.9, "negative": 0.05}, False)),
        (AS_OF - timedelta(days=90), mention_signal({"positive": 0.8, "negative": 0.1}, False)),
        (AS_OF - timedelta(days=180), mention_signal({"positive": 0.1, "negative": 0.8}, True)),
    ]
    result = compute(mentions, 9_999, AS_OF, DEFAULTS)
    assert result.love == pytest.approx(0.95 / 3.75)
    assert result.reach_factor == pytest.approx(4 / 6)
    assert (result.score, result.tier) == (21.11, "advocate")


def test_a_complaint_costs_half_a_point_and_signals_are_clamped() -> None:
    """A complaint subtracts 0.5 from P(positive) - P(negative); the signal stays in [-1, 1]."""
    assert mention_signal({"positive": 0.6, "negative": 0.1}, True) == pytest.approx(0.0)
    assert mention_signal({"positive": 0.0, "negative": 0.9}, True) == -1.0
    assert mention_signal({"positive": 1.0, "negative": 0.0}, False) == 1.0


def test_weights_halve_every_half_life_and_future_posts_weigh_one() -> None:
    """A 90-day-old post weighs 0.5, a 180-day-old one 0.25; age is never negative."""
    assert recency_weight(AS_OF - timedelta(days=90), AS_OF, 90) == pytest.approx(0.5)
    assert recency_weight(AS_OF - timedelta(days=180), AS_OF, 90) == pytest.approx(0.25)
    assert recency_weight(AS_OF + timedelta(days=3), AS_OF, 90) == 1.0


def test_reach_factor_grows_with_log_followers_up_to_a_million() -> None:
    """Nobody known gives 0; 999 followers 0.5; a million or more gives 1."""
    assert reach_factor(None) == 0.0
    assert reach_factor(999) == pytest.approx(0.5)
    assert reach_factor(999_999) == pytest.approx(1.0)
    assert reach_factor(50_000_000) == 1.0


def test_one_enthusiastic_post_does_not_make_an_advocate() -> None:
    """The prior smooths a single perfect post to 33 love, 16.7 with no reach: still neutral."""
    result = compute([(AS_OF, 1.0)], 0, AS_OF, DEFAULTS)
    assert result.score == pytest.approx(16.67)
    assert result.tier == "neutral"
    several = compute([(AS_OF, 1.0)] * 4, 0, AS_OF, DEFAULTS)
    assert several.tier == "advocate"


def test_tiers_follow_the_thresholds_inclusively() -> None:
    """20 is an advocate, -20 a detractor, anything between neutral."""
    assert tier_for(20.0, DEFAULTS) == "advocate"
    assert tier_for(19.99, DEFAULTS) == "neutral"
    assert tier_for(-20.0, DEFAULTS) == "detractor"
    assert tier_for(-19.99, DEFAULTS) == "neutral"


def test_complaints_make_a_detractor() -> None:
    """Three recent complaints by a person with 10k followers make a detractor."""
    signal = mention_signal({"positive": 0.05, "negative": 0.9}, True)
    result = compute([(AS_OF - timedelta(days=1), signal)] * 3, 10_000, AS_OF, DEFAULTS)
    assert result.score < -20 and result.tier == "detractor"


def test_no_scored_mention_and_no_prior_is_neutral_zero() -> None:
    """With a prior of 0 and nothing scored the score is 0, not a division by zero."""
    result = compute([], 100, AS_OF, AdvocacyParams(prior=0))
    assert (result.score, result.tier) == (0.0, "neutral")


def test_the_end_of_the_utc_day_is_the_as_of() -> None:
    """Any moment of a day ages scores to the next midnight, so a day's computations agree."""
    assert as_of_for(datetime(2026, 11, 24, 0, 0, tzinfo=UTC)) == AS_OF
    assert as_of_for(datetime(2026, 11, 24, 23, 59, 59, tzinfo=UTC)) == AS_OF


def test_exact_sum_equals_fsum_in_any_order() -> None:
    """The running sum is exact: its value equals math.fsum whatever order the terms come in."""
    rng = random.Random(7)
    terms = [rng.uniform(-1, 1) * 10 ** rng.randint(-8, 3) for _ in range(2_000)]
    forward, backward = ExactSum(), ExactSum()
    for term in terms:
        forward.add(term)
    for term in reversed(terms):
        backward.add(term)
    assert forward.value() == backward.value() == math.fsum(terms)


def test_a_mention_without_sentiment_has_no_signal() -> None:
    """Unscored and skipped mentions carry no signal; a scored complaint does."""
    assert signal_of({"text": "x"}) is None
    scored = {
        "sentiment": {"probabilities": {"positive": 0.2, "neutral": 0.2, "negative": 0.6}},
        "complaint": {"is_complaint": True},
    }
    assert signal_of(scored) == pytest.approx(-0.9)


def test_params_come_from_settings_and_reject_nonsense() -> None:
    """AdvocacyParams.from_settings reads the four settings; inverted thresholds are refused."""
    params = AdvocacyParams.from_settings(
        load_settings(advocate_threshold=30, advocacy_prior=1, advocacy_half_life_days=30)
    )
    assert (params.advocate_threshold, params.prior, params.half_life_days) == (30, 1, 30)
    with pytest.raises(ValueError, match="below advocate_threshold"):
        AdvocacyParams(advocate_threshold=-30)
