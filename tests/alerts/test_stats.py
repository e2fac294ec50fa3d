"""Count tails for spikes: right at small and large counts, without scipy."""

from __future__ import annotations

import math

import pytest

from alerts.stats import baseline_of, negbin_sf, poisson_sf


def test_poisson_tail_matches_the_exact_sum() -> None:
    """P(X >= k) equals the summed upper pmf terms, for small and large means."""
    for mu in (0.5, 3.0, 40.0, 200.0):
        for k in (1, 2, 5, int(mu) + 1, int(mu * 1.5) + 3):
            exact = math.fsum(
                math.exp(-mu + i * math.log(mu) - math.lgamma(i + 1)) for i in range(k, k + 3000)
            )
            assert poisson_sf(k, mu) == pytest.approx(exact, rel=1e-9)


def test_tails_agree_with_scipy_where_it_is_installed() -> None:
    """Poisson and negative binomial tails agree with scipy to 1e-9."""
    stats = pytest.importorskip("scipy.stats")
    for k, mu, var in ((5, 0.5, 2.0), (300, 200.0, 900.0), (13, 4.0, 10.0), (2, 0.1, 0.5)):
        r = mu * mu / (var - mu)
        assert negbin_sf(k, mu, var) == pytest.approx(
            stats.nbinom.sf(k - 1, r, r / (r + mu)), rel=1e-9
        )
        assert poisson_sf(k, mu) == pytest.approx(stats.poisson.sf(k - 1, mu), rel=1e-9)


def test_overdispersed_history_makes_the_same_count_less_surprising() -> None:
    """A bursty past (variance >> mean) uses the negative binomial: wider tail than Poisson."""
    steady = baseline_of([10, 11, 9, 10, 10, 9, 11])
    bursty = baseline_of([0, 30, 2, 25, 1, 0, 12])
    assert not steady.overdispersed and bursty.overdispersed
    assert bursty.tail(25) > steady.tail(25) * 1000
